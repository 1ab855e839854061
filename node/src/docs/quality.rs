//! The data-quality parts of three documents. In `rollup/<hub>`, the map `quality`: the findings
//! per direct child (`children/<unit>/errors|warnings`) and of the whole subtree (`totals`). In
//! `codes/<hub>` (its own document, going up to the parent alone, never rolled into generations),
//! the keyed hashes of every device code in the subtree, for the parent's duplicate check across
//! its children: 16 bytes each, sorted, in 256 buckets by their first byte (`buckets/<2 hex>`,
//! one byte string each), so that a changed code rewrites one small bucket. In `review/<unit>`
//! (written by the parent, going down to that unit alone), the map `quality_notices`: per keyed
//! code, the units elsewhere holding it (unit → name). Written by the hub's data-quality task
//! only, touching only what differs; the rollup's figures are written by the rollup task and
//! never touch these keys.

use std::collections::{BTreeMap, BTreeSet};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};

use crate::docs::document::{Scalars, maps_of, obj_at, put_map, uints};
use crate::domain::crosscheck::Notices;
use crate::domain::quality::{CodeKey, Tally};

/// The data-quality part of a hub's rollup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Part {
    pub children: BTreeMap<String, Tally>,
    pub totals: Tally,
}

fn tally_at(doc: &AutoCommit, obj: &ObjId) -> Tally {
    let was = Scalars::of(doc, obj);
    Tally {
        errors: was.uint("errors"),
        warnings: was.uint("warnings"),
    }
}

fn put_tally(
    doc: &mut AutoCommit,
    parent: &ObjId,
    key: &str,
    t: &Tally,
) -> Result<(), automerge::AutomergeError> {
    put_map(
        doc,
        parent,
        key,
        &uints([("errors", t.errors), ("warnings", t.warnings)]),
    )
}

/// Reads the data-quality part of a rollup (empty before the hub wrote one).
pub fn read_part(doc: &AutoCommit) -> Part {
    read_findings(doc)
}

/// Reads the findings of a rollup's data-quality part (the keyed codes are in `codes/<hub>`).
pub fn read_findings(doc: &AutoCommit) -> Part {
    let mut p = Part::default();
    let Some(q) = obj_at(doc, &ROOT, "quality", ObjType::Map) else {
        return p;
    };
    if let Some(children) = obj_at(doc, &q, "children", ObjType::Map) {
        for (unit, o) in maps_of(doc, &children) {
            p.children.insert(unit, tally_at(doc, &o));
        }
    }
    if let Some(t) = obj_at(doc, &q, "totals", ObjType::Map) {
        p.totals = tally_at(doc, &t);
    }
    p
}

/// Writes `next` over the rollup's data-quality part, touching only what differs; returns
/// whether anything changed.
pub fn write_part(doc: &mut AutoCommit, next: &Part) -> Result<bool, automerge::AutomergeError> {
    let current = read_part(doc);
    let q = obj_at(doc, &ROOT, "quality", ObjType::Map);
    // The keyed codes a rollup carried before they had a document of their own.
    let stale = q
        .as_ref()
        .is_some_and(|q| doc.get(q, "codes").ok().flatten().is_some());
    if &current == next && q.is_some() && !stale {
        return Ok(false);
    }
    let q = match q {
        Some(q) => q,
        None => doc.put_object(ROOT, "quality", ObjType::Map)?,
    };
    if stale {
        doc.delete(&q, "codes")?;
    }
    let children = match obj_at(doc, &q, "children", ObjType::Map) {
        Some(c) => c,
        None => doc.put_object(&q, "children", ObjType::Map)?,
    };
    for (unit, t) in &next.children {
        if current.children.get(unit) != Some(t) {
            put_tally(doc, &children, unit, t)?;
        }
    }
    for unit in current.children.keys() {
        if !next.children.contains_key(unit) {
            doc.delete(&children, unit.as_str())?;
        }
    }
    if current.totals != next.totals || obj_at(doc, &q, "totals", ObjType::Map).is_none() {
        put_tally(doc, &q, "totals", &next.totals)?;
    }
    Ok(true)
}

/// The keyed codes a hub publishes, as read from its `codes/<hub>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Codes {
    /// Each keyed code in its usual form (32 hex characters).
    pub keys: BTreeSet<CodeKey>,
    /// Something in the document is not a keyed code where it stands: a bucket not named by one
    /// byte, not a byte string, not a whole number of codes, or holding a code of another bucket.
    pub malformed: bool,
}

const BUCKETS: &str = "buckets";

/// Reads the keyed codes of a `codes/<hub>` document (none before the hub wrote any).
pub fn read_codes(doc: &AutoCommit) -> Codes {
    let mut c = Codes::default();
    let Some(buckets) = obj_at(doc, &ROOT, BUCKETS, ObjType::Map) else {
        return c;
    };
    // One pass over the buckets (a `get` a bucket costs a search of the document each).
    for item in doc.map_range(&buckets, ..) {
        let name = item.key.as_ref();
        let first = (name.len() == 2)
            .then(|| u8::from_str_radix(name, 16).ok())
            .flatten()
            .filter(|b| format!("{b:02x}") == name);
        let bytes = match &item.value {
            automerge::ValueRef::Scalar(automerge::ScalarValueRef::Bytes(b)) => Some(b.as_ref()),
            _ => None,
        };
        match (first, bytes) {
            (Some(first), Some(b)) if b.len() % 16 == 0 => {
                for k in b.chunks_exact(16) {
                    if k[0] != first {
                        c.malformed = true;
                    }
                    let mut key = [0u8; 16];
                    key.copy_from_slice(k);
                    c.keys.insert(CodeKey(key));
                }
            }
            _ => c.malformed = true,
        }
    }
    c
}

/// Writes `keys` over a `codes/<hub>` document, rewriting only the buckets whose codes differ;
/// returns whether anything changed.
pub fn write_codes(
    doc: &mut AutoCommit,
    keys: &BTreeSet<CodeKey>,
) -> Result<bool, automerge::AutomergeError> {
    let mut next: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    // In the order of their bytes.
    for k in keys {
        next.entry(format!("{:02x}", k.0[0]))
            .or_default()
            .extend_from_slice(&k.0);
    }
    let buckets = match obj_at(doc, &ROOT, BUCKETS, ObjType::Map) {
        Some(b) => b,
        None => doc.put_object(ROOT, BUCKETS, ObjType::Map)?,
    };
    let mut changed = false;
    // What each bucket holds now, read in one pass.
    let was: BTreeMap<String, Option<Vec<u8>>> = doc
        .map_range(&buckets, ..)
        .map(|item| {
            let bytes = match item.value {
                automerge::ValueRef::Scalar(automerge::ScalarValueRef::Bytes(b)) => {
                    Some(b.into_owned())
                }
                _ => None,
            };
            (item.key.into_owned(), bytes)
        })
        .collect();
    for name in was.keys() {
        if !next.contains_key(name) {
            doc.delete(&buckets, name.as_str())?;
            changed = true;
        }
    }
    for (name, bytes) in next {
        let same = was
            .get(&name)
            .is_some_and(|b| b.as_deref() == Some(bytes.as_slice()));
        if !same {
            doc.put(&buckets, name.as_str(), ScalarValue::Bytes(bytes))?;
            changed = true;
        }
    }
    Ok(changed)
}

/// What the parent told this unit: per keyed code, the units elsewhere holding it.
pub fn read_notices(doc: &AutoCommit) -> Notices {
    let mut n = Notices::new();
    let Some(m) = obj_at(doc, &ROOT, "quality_notices", ObjType::Map) else {
        return n;
    };
    for (key, o) in maps_of(doc, &m) {
        let others: BTreeMap<String, String> = doc
            .map_range(&o, ..)
            .map(|item| {
                let name = match &item.value {
                    automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(t)) => t.to_string(),
                    _ => String::new(),
                };
                (item.key.into_owned(), name)
            })
            .collect();
        if !others.is_empty() {
            n.insert(key, others);
        }
    }
    n
}

/// Writes the notices over the review document, touching only what differs; returns whether
/// anything changed.
pub fn write_notices(
    doc: &mut AutoCommit,
    next: &Notices,
) -> Result<bool, automerge::AutomergeError> {
    let current = read_notices(doc);
    if &current == next {
        return Ok(false);
    }
    let m = match obj_at(doc, &ROOT, "quality_notices", ObjType::Map) {
        Some(m) => m,
        None => doc.put_object(ROOT, "quality_notices", ObjType::Map)?,
    };
    for (key, others) in next {
        if current.get(key) == Some(others) {
            continue;
        }
        let o = doc.put_object(&m, key.as_str(), ObjType::Map)?;
        for (u, name) in others {
            doc.put(&o, u.as_str(), name.as_str())?;
        }
    }
    for key in current.keys() {
        if !next.contains_key(key) {
            doc.delete(&m, key.as_str())?;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quality_part_round_trips_and_writes_nothing_when_unchanged() {
        let mut doc = AutoCommit::new();
        assert_eq!(read_part(&doc), Part::default());
        let mut p = Part::default();
        p.children.insert(
            "500103".into(),
            Tally {
                errors: 2,
                warnings: 1,
            },
        );
        p.totals = Tally {
            errors: 2,
            warnings: 1,
        };
        assert!(write_part(&mut doc, &p).unwrap());
        doc.commit();
        assert_eq!(read_part(&doc), p);
        let heads = doc.get_heads();
        assert!(!write_part(&mut doc, &p).unwrap());
        assert_eq!(doc.commit(), None);
        assert_eq!(doc.get_heads(), heads);
        p.children.clear();
        p.totals = Tally::default();
        write_part(&mut doc, &p).unwrap();
        assert_eq!(read_part(&doc), p);
    }

    fn key(first: u8, n: u8) -> CodeKey {
        let mut k = [7u8; 16];
        (k[0], k[1]) = (first, n);
        CodeKey(k)
    }

    #[test]
    fn keyed_codes_take_sixteen_bytes_and_a_change_rewrites_one_bucket() {
        let mut doc = AutoCommit::new();
        assert_eq!(read_codes(&doc), Codes::default());
        let mut keys: BTreeSet<CodeKey> = (0..=255u8).map(|b| key(b, 1)).collect();
        keys.insert(key(0xab, 2));
        assert!(write_codes(&mut doc, &keys).unwrap());
        doc.commit();
        let read = read_codes(&doc);
        assert_eq!((read.keys.len(), read.malformed), (257, false));
        assert_eq!(read.keys, keys);
        // Nothing differs: nothing written.
        let heads = doc.get_heads();
        assert!(!write_codes(&mut doc, &keys).unwrap());
        assert_eq!(doc.commit(), None);
        assert_eq!(doc.get_heads(), heads);
        // One code gone and one new in another bucket: two buckets rewritten, of 16 and 32 bytes.
        keys.remove(&key(0xab, 2));
        keys.insert(key(0x10, 3));
        let before = doc.save().len();
        assert!(write_codes(&mut doc, &keys).unwrap());
        doc.commit();
        let ops: usize = doc.get_changes(&heads).iter().map(|c| c.len()).sum();
        assert_eq!(ops, 2);
        assert!(
            doc.save().len() < before + 200,
            "{} → {}",
            before,
            doc.save().len()
        );
        assert_eq!(read_codes(&doc).keys, keys);
        // Everything gone.
        write_codes(&mut doc, &BTreeSet::new()).unwrap();
        assert_eq!(read_codes(&doc), Codes::default());
    }

    #[test]
    fn a_bucket_that_is_not_whole_codes_of_its_byte_is_malformed() {
        for (name, bytes) in [
            ("ab", vec![0xab; 15]),
            ("ab", [vec![0xac], vec![0; 15]].concat()),
            ("zz", vec![0; 16]),
            ("AB", vec![0xab; 16]),
        ] {
            let mut doc = AutoCommit::new();
            let b = doc.put_object(ROOT, BUCKETS, ObjType::Map).unwrap();
            doc.put(&b, name, ScalarValue::Bytes(bytes.clone()))
                .unwrap();
            assert!(read_codes(&doc).malformed, "{name} {bytes:?}");
        }
        let mut doc = AutoCommit::new();
        let b = doc.put_object(ROOT, BUCKETS, ObjType::Map).unwrap();
        doc.put(&b, "ab", "not bytes").unwrap();
        assert!(read_codes(&doc).malformed);
    }

    #[test]
    fn notices_round_trip_and_vanish_when_withdrawn() {
        let mut doc = AutoCommit::new();
        let mut n = Notices::new();
        n.insert(
            "k1".into(),
            [("500104".to_string(), "渝北区卫生健康委员会".to_string())].into(),
        );
        assert!(write_notices(&mut doc, &n).unwrap());
        assert_eq!(read_notices(&doc), n);
        assert!(!write_notices(&mut doc, &n).unwrap());
        assert!(write_notices(&mut doc, &Notices::new()).unwrap());
        assert!(read_notices(&doc).is_empty());
    }
}
