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

use std::collections::{BTreeMap, BTreeSet};

/// Per keyed code, the other units holding it: unit → name.
pub type Notices = BTreeMap<String, BTreeMap<String, String>>;

/// One source of keyed codes below a hub.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub unit: String,
    pub name: String,
    /// Whether the hub holds this source's records (the plain check then sees its duplicates
    /// with another held source itself).
    pub held: bool,
    pub keys: BTreeSet<String>,
}

/// A keyed code held at two units or more, not all seen here: the key and its holders.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Shared {
    pub key: String,
    /// (unit, name) of each holder, below this hub or (told by the parent) outside it.
    pub holders: Vec<(String, String)>,
}

/// The keys shared between sources, and for each source what it must be told: per key, the other
/// holders it cannot see (for a held source, those whose records the hub does not hold; for a hub
/// child, every other holder). `inherited` (what the parent told this hub) adds the holders
/// outside this hub's subtree.
pub fn duplicates(
    sources: &[Source],
    inherited: &Notices,
) -> (Vec<Shared>, BTreeMap<String, Notices>) {
    let mut holders: BTreeMap<&str, Vec<&Source>> = BTreeMap::new();
    for s in sources {
        for k in &s.keys {
            holders.entry(k.as_str()).or_default().push(s);
        }
    }
    let mut shared = Vec::new();
    let mut told: BTreeMap<String, Notices> = BTreeMap::new();
    for (key, here) in holders {
        let outside = inherited.get(key);
        let mut all: Vec<(String, String, bool)> = here
            .iter()
            .map(|s| (s.unit.clone(), s.name.clone(), s.held))
            .collect();
        if let Some(o) = outside {
            for (u, n) in o {
                if !all.iter().any(|(x, ..)| x == u) {
                    all.push((u.clone(), n.clone(), false));
                }
            }
        }
        if all.len() < 2 || all.iter().all(|(.., held)| *held) {
            continue;
        }
        shared.push(Shared {
            key: key.to_string(),
            holders: all.iter().map(|(u, n, _)| (u.clone(), n.clone())).collect(),
        });
        for s in &here {
            let others: BTreeMap<String, String> = all
                .iter()
                .filter(|(u, _, held)| *u != s.unit && !(s.held && *held))
                .map(|(u, n, _)| (u.clone(), n.clone()))
                .collect();
            if !others.is_empty() {
                told.entry(s.unit.clone())
                    .or_default()
                    .insert(key.to_string(), others);
            }
        }
    }
    (shared, told)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(unit: &str, held: bool, keys: &[&str]) -> Source {
        Source {
            unit: unit.into(),
            name: format!("{unit}名"),
            held,
            keys: keys.iter().map(|k| k.to_string()).collect(),
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
            src("500103", false, &["k1", "k2"]),
            src("500104", false, &["k1", "k3"]),
            src("500000-0001", true, &["k4"]),
        ];
        let (shared, told) = duplicates(&sources, &Notices::new());
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].key, "k1");
        assert_eq!(told["500103"]["k1"], names(&["500104"]));
        assert_eq!(told["500104"]["k1"], names(&["500103"]));
        assert!(!told.contains_key("500000-0001"));
    }

    #[test]
    fn held_sources_are_left_to_the_plain_check_but_told_about_the_rest() {
        let sources = [
            src("500103-0001", true, &["k1", "k2"]),
            src("500103-0002", true, &["k1"]),
            src("500103-0100", false, &["k2"]),
        ];
        let (shared, told) = duplicates(&sources, &Notices::new());
        // k1 is between two held sources: the plain check finds it.
        assert_eq!(
            shared.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(),
            ["k2"]
        );
        assert_eq!(told["500103-0001"]["k2"], names(&["500103-0100"]));
        assert_eq!(told["500103-0100"]["k2"], names(&["500103-0001"]));
        assert!(!told.contains_key("500103-0002"));
    }

    #[test]
    fn what_the_parent_told_reaches_the_holder_below() {
        let sources = [
            src("500103-0001", true, &["k1"]),
            src("500103-0100", false, &["k9"]),
        ];
        let mut inherited = Notices::new();
        inherited.insert("k1".into(), names(&["500104"]));
        inherited.insert("k9".into(), names(&["500104"]));
        inherited.insert("k0".into(), names(&["500105"]));
        let (shared, told) = duplicates(&sources, &inherited);
        assert_eq!(shared.len(), 2);
        assert_eq!(told["500103-0001"]["k1"], names(&["500104"]));
        assert_eq!(told["500103-0100"]["k9"], names(&["500104"]));
        // A key nobody here holds any more is told to nobody.
        assert!(told.values().all(|n| !n.contains_key("k0")));
        // Nothing shared: nothing told.
        let (shared, told) = duplicates(&sources, &Notices::new());
        assert!(shared.is_empty() && told.is_empty());
    }
}
