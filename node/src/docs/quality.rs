//! The data-quality parts of two documents. In `rollup/<hub>`, the map `quality`: the findings
//! per direct child (`children/<unit>/errors|warnings`) and of the whole subtree (`totals`), and
//! `codes`, the keyed hashes of every device code in the subtree, for the parent's duplicate check
//! across its children. In `review/<unit>` (written by the parent, going down to that unit
//! alone), the map `quality_notices`: per keyed code, the units elsewhere holding it (unit →
//! name). Written by the hub's data-quality task only, touching only what differs; the rollup's
//! figures are written by the rollup task and never touch these keys.

use std::collections::{BTreeMap, BTreeSet};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc};

use crate::docs::document::{obj_at, text_at, uint_at};
use crate::domain::crosscheck::Notices;
use crate::domain::quality::Tally;

/// The data-quality part of a hub's rollup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Part {
    pub children: BTreeMap<String, Tally>,
    pub totals: Tally,
    pub codes: BTreeSet<String>,
}

fn tally_at(doc: &AutoCommit, obj: &ObjId) -> Tally {
    Tally {
        errors: uint_at(doc, obj, "errors"),
        warnings: uint_at(doc, obj, "warnings"),
    }
}

fn put_tally(
    doc: &mut AutoCommit,
    parent: &ObjId,
    key: &str,
    t: &Tally,
) -> Result<(), automerge::AutomergeError> {
    let obj = match obj_at(doc, parent, key, ObjType::Map) {
        Some(o) => o,
        None => doc.put_object(parent, key, ObjType::Map)?,
    };
    for (k, v) in [("errors", t.errors), ("warnings", t.warnings)] {
        if doc.get(&obj, k)?.is_none() || uint_at(doc, &obj, k) != v {
            doc.put(&obj, k, v)?;
        }
    }
    Ok(())
}

/// Reads the data-quality part of a rollup (empty before the hub wrote one).
pub fn read_part(doc: &AutoCommit) -> Part {
    let mut p = read_findings(doc);
    if let Some(codes) = obj_at(doc, &ROOT, "quality", ObjType::Map)
        .and_then(|q| obj_at(doc, &q, "codes", ObjType::Map))
    {
        p.codes = doc.keys(&codes).collect();
    }
    p
}

/// Reads the findings of a rollup's data-quality part only, not its keyed codes (which a
/// rollup's figures and the feed do not need; a city's may hold tens of thousands).
pub fn read_findings(doc: &AutoCommit) -> Part {
    let mut p = Part::default();
    let Some(q) = obj_at(doc, &ROOT, "quality", ObjType::Map) else {
        return p;
    };
    if let Some(children) = obj_at(doc, &q, "children", ObjType::Map) {
        for unit in doc.keys(&children).collect::<Vec<_>>() {
            if let Some(o) = obj_at(doc, &children, &unit, ObjType::Map) {
                p.children.insert(unit, tally_at(doc, &o));
            }
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
    if &current == next && obj_at(doc, &ROOT, "quality", ObjType::Map).is_some() {
        return Ok(false);
    }
    let q = match obj_at(doc, &ROOT, "quality", ObjType::Map) {
        Some(q) => q,
        None => doc.put_object(ROOT, "quality", ObjType::Map)?,
    };
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
    let codes = match obj_at(doc, &q, "codes", ObjType::Map) {
        Some(c) => c,
        None => doc.put_object(&q, "codes", ObjType::Map)?,
    };
    for k in next.codes.difference(&current.codes) {
        doc.put(&codes, k.as_str(), true)?;
    }
    for k in current.codes.difference(&next.codes) {
        doc.delete(&codes, k.as_str())?;
    }
    Ok(true)
}

/// What the parent told this unit: per keyed code, the units elsewhere holding it.
pub fn read_notices(doc: &AutoCommit) -> Notices {
    let mut n = Notices::new();
    let Some(m) = obj_at(doc, &ROOT, "quality_notices", ObjType::Map) else {
        return n;
    };
    for key in doc.keys(&m).collect::<Vec<_>>() {
        let Some(o) = obj_at(doc, &m, &key, ObjType::Map) else {
            continue;
        };
        let others: BTreeMap<String, String> = doc
            .keys(&o)
            .collect::<Vec<_>>()
            .into_iter()
            .map(|u| {
                let name = text_at(doc, &o, &u).unwrap_or_default();
                (u, name)
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
        p.codes = ["aa", "bb"].map(String::from).into();
        assert!(write_part(&mut doc, &p).unwrap());
        doc.commit();
        assert_eq!(read_part(&doc), p);
        let heads = doc.get_heads();
        assert!(!write_part(&mut doc, &p).unwrap());
        assert_eq!(doc.commit(), None);
        assert_eq!(doc.get_heads(), heads);
        p.children.clear();
        p.totals = Tally::default();
        p.codes = ["bb", "cc"].map(String::from).into();
        write_part(&mut doc, &p).unwrap();
        assert_eq!(read_part(&doc), p);
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
