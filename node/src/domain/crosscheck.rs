//! The duplicate check across the tree without the records (跨区县重复编码核查), pure: below a
//! hub, each source — a unit whose camera records the hub holds, or a hub child, which publishes
//! only the keyed hashes of its subtree's device codes ([`crate::domain::quality::code_key`]) —
//! with its keys; a key at two sources is the same device code at two units. The hub tells a hub
//! child which of its keys are held elsewhere and by whom (a [`Notices`], flowing down), and a
//! notice it receives from its own parent reaches the source below that holds the key.
//!
//! What travels up is a set of 128-bit keyed hashes, nothing else: no name, address, coordinates,
//! unit or count per unit. Without the campaign's key nobody can relate a hash to a code; a
//! member of the federation (every unit holds the campaign, and with it the key) can test whether
//! a device code *it already knows* is in a district's set — it learns at most that the district
//! registered that code, which the police platform is given anyway, never where the camera is nor
//! which of the district's units holds it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::Arc;

use crate::domain::quality::CodeKey;

/// Per keyed code (in hex, as a review document holds it), the other units holding it: unit →
/// name.
pub type Notices = BTreeMap<String, BTreeMap<String, String>>;

/// One source of keyed codes below a hub.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub unit: String,
    pub name: String,
    /// Whether the hub holds this source's records (the plain check then sees its duplicates
    /// with another held source itself).
    pub held: bool,
    /// Sorted, each once; shared with the cache that read them (a city's hub children publish
    /// some 200,000: a slice holds them in half the memory of a tree).
    pub keys: Arc<[CodeKey]>,
}

/// A keyed code held at two units or more, not all seen here: the key (in hex) and its holders.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Shared {
    pub key: String,
    /// (unit, name) of each holder, below this hub or (told by the parent) outside it.
    pub holders: Vec<(String, String)>,
}

/// Calls `f` with each key held by a source, in the keys' order, and the sources holding it (by
/// their place in `sources`, ascending): a merge of the sorted sets, without a map of every key
/// (a city's check walks 200,000 of them at each run).
fn each_key(sources: &[Source], mut f: impl FnMut(&CodeKey, &[usize])) {
    // Unsorted keys would hide duplicates, a key twice would name a source beside itself.
    debug_assert!(
        sources
            .iter()
            .all(|s| s.keys.windows(2).all(|w| w[0] < w[1])),
        "a source's keys not sorted, or one of them twice"
    );
    let mut iters: Vec<_> = sources.iter().map(|s| s.keys.iter()).collect();
    let mut next: BinaryHeap<Reverse<(CodeKey, usize)>> = BinaryHeap::with_capacity(iters.len());
    for (i, it) in iters.iter_mut().enumerate() {
        if let Some(k) = it.next() {
            next.push(Reverse((*k, i)));
        }
    }
    let mut at = Vec::new();
    while let Some(Reverse((key, i))) = next.pop() {
        at.clear();
        at.push(i);
        if let Some(k) = iters[i].next() {
            next.push(Reverse((*k, i)));
        }
        while let Some(&Reverse((k, j))) = next.peek() {
            if k != key {
                break;
            }
            next.pop();
            at.push(j);
            if let Some(k) = iters[j].next() {
                next.push(Reverse((*k, j)));
            }
        }
        f(&key, &at);
    }
}

/// What the parent told, by key (a key not written as [`CodeKey::hex`] writes it matches none).
fn by_key(inherited: &Notices) -> BTreeMap<CodeKey, &BTreeMap<String, String>> {
    inherited
        .iter()
        .filter_map(|(k, o)| Some((CodeKey::from_hex(k)?, o)))
        .collect()
}

/// The sources (by their place in `sources`) holding a key another source holds too, or one the
/// parent told of: those a duplicate will name.
pub fn sharing(sources: &[Source], inherited: &Notices) -> BTreeSet<usize> {
    let outside = by_key(inherited);
    let mut out = BTreeSet::new();
    each_key(sources, |key, here| {
        if here.len() > 1 || outside.contains_key(key) {
            out.extend(here.iter().copied());
        }
    });
    out
}

/// The keys shared between sources, and for each source what it must be told: per key, the other
/// holders it cannot see (for a held source, those whose records the hub does not hold; for a hub
/// child, every other holder). `inherited` (what the parent told this hub) adds the holders
/// outside this hub's subtree.
pub fn duplicates(
    sources: &[Source],
    inherited: &Notices,
) -> (Vec<Shared>, BTreeMap<String, Notices>) {
    let outside = by_key(inherited);
    let mut shared = Vec::new();
    let mut told: BTreeMap<String, Notices> = BTreeMap::new();
    each_key(sources, |key, here| {
        let outside = outside.get(key).copied();
        if here.len() < 2 && outside.is_none() {
            return;
        }
        let mut all: Vec<(&str, &str, bool)> = here
            .iter()
            .map(|i| &sources[*i])
            .map(|s| (s.unit.as_str(), s.name.as_str(), s.held))
            .collect();
        for (u, n) in outside.into_iter().flatten() {
            if !all.iter().any(|(x, ..)| *x == u) {
                all.push((u, n, false));
            }
        }
        if all.len() < 2 || all.iter().all(|(.., held)| *held) {
            return;
        }
        let hex = key.hex();
        shared.push(Shared {
            key: hex.clone(),
            holders: all
                .iter()
                .map(|(u, n, _)| (u.to_string(), n.to_string()))
                .collect(),
        });
        for s in here.iter().map(|i| &sources[*i]) {
            let others: BTreeMap<String, String> = all
                .iter()
                .filter(|(u, _, held)| *u != s.unit && !(s.held && *held))
                .map(|(u, n, _)| (u.to_string(), n.to_string()))
                .collect();
            if !others.is_empty() {
                told.entry(s.unit.clone())
                    .or_default()
                    .insert(hex.clone(), others);
            }
        }
    });
    (shared, told)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key numbered `n` (tests name them k1, k2, …).
    fn k(n: u8) -> CodeKey {
        CodeKey([n; 16])
    }

    fn src(unit: &str, held: bool, keys: &[u8]) -> Source {
        Source {
            unit: unit.into(),
            name: format!("{unit}名"),
            held,
            keys: keys
                .iter()
                .map(|n| k(*n))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        }
    }

    fn names(pairs: &[&str]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|u| (u.to_string(), format!("{u}名")))
            .collect()
    }

    #[test]
    fn a_key_at_two_districts_is_told_to_both_naming_the_other() {
        let sources = [
            src("500103", false, &[1, 2]),
            src("500104", false, &[1, 3]),
            src("500000-0001", true, &[4]),
        ];
        let (shared, told) = duplicates(&sources, &Notices::new());
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].key, k(1).hex());
        assert_eq!(told["500103"][&k(1).hex()], names(&["500104"]));
        assert_eq!(told["500104"][&k(1).hex()], names(&["500103"]));
        assert!(!told.contains_key("500000-0001"));
    }

    #[test]
    fn held_sources_are_left_to_the_plain_check_but_told_about_the_rest() {
        let sources = [
            src("500103-0001", true, &[1, 2]),
            src("500103-0002", true, &[1]),
            src("500103-0100", false, &[2]),
        ];
        let (shared, told) = duplicates(&sources, &Notices::new());
        // k1 is between two held sources: the plain check finds it.
        assert_eq!(
            shared.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(),
            [k(2).hex().as_str()]
        );
        assert_eq!(told["500103-0001"][&k(2).hex()], names(&["500103-0100"]));
        assert_eq!(told["500103-0100"][&k(2).hex()], names(&["500103-0001"]));
        assert!(!told.contains_key("500103-0002"));
    }

    #[test]
    fn what_the_parent_told_reaches_the_holder_below() {
        let sources = [
            src("500103-0001", true, &[1]),
            src("500103-0100", false, &[9]),
        ];
        let mut inherited = Notices::new();
        inherited.insert(k(1).hex(), names(&["500104"]));
        inherited.insert(k(9).hex(), names(&["500104"]));
        inherited.insert(k(0).hex(), names(&["500105"]));
        let (shared, told) = duplicates(&sources, &inherited);
        assert_eq!(shared.len(), 2);
        assert_eq!(told["500103-0001"][&k(1).hex()], names(&["500104"]));
        assert_eq!(told["500103-0100"][&k(9).hex()], names(&["500104"]));
        // A key nobody here holds any more is told to nobody.
        assert!(told.values().all(|n| !n.contains_key(&k(0).hex())));
        // Nothing shared: nothing told.
        let (shared, told) = duplicates(&sources, &Notices::new());
        assert!(shared.is_empty() && told.is_empty());
    }

    #[test]
    fn a_key_at_three_sources_among_many_is_found_once_naming_the_other_two() {
        // Forty sources of disjoint keys, three of them sharing key 200.
        let mut sources: Vec<Source> = (0..40u8)
            .map(|i| src(&format!("5001{i:02}"), false, &[2 * i, 2 * i + 1]))
            .collect();
        for i in [3, 17, 39] {
            let mut keys: BTreeSet<CodeKey> = sources[i].keys.iter().copied().collect();
            keys.insert(k(200));
            sources[i].keys = keys.into_iter().collect();
        }
        let (shared, told) = duplicates(&sources, &Notices::new());
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].key, k(200).hex());
        assert_eq!(
            shared[0]
                .holders
                .iter()
                .map(|(u, _)| u.as_str())
                .collect::<Vec<_>>(),
            ["500103", "500117", "500139"]
        );
        assert_eq!(told.len(), 3);
        assert_eq!(told["500117"][&k(200).hex()], names(&["500103", "500139"]));
        assert_eq!(sharing(&sources, &Notices::new()), [3, 17, 39].into());
        // What the parent told names a source holding that key too.
        let mut inherited = Notices::new();
        inherited.insert(k(7).hex(), names(&["500200"]));
        inherited.insert("not a key".into(), names(&["500200"]));
        assert_eq!(sharing(&sources, &inherited), [3, 17, 39].into());
        inherited.insert(k(9).hex(), names(&["500200"]));
        assert_eq!(sharing(&sources, &inherited), [3, 4, 17, 39].into());
    }
}
