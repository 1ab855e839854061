//! The operations part of a hub's rollup (`rollup/<hub>`, the map `operations`): the last 30
//! days' operations figures (安全运维: camera-time, fault time, faults, repairs and their time,
//! faulty now) per direct child — that child's whole subtree — and of the hub's whole subtree
//! (`totals`), with the end of the window they cover (`as_of`) and its length (`window_days`).
//! A row refused as implausible is kept with `refused` and no figures. Written by the hub's
//! operations task only, touching only what differs (a row whose figures did not change keeps
//! its `as_of`); the rollup's figures and data-quality part never touch these keys.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};
use serde::Serialize;

use crate::docs::document::{Put, Scalars, maps_of, obj_at, put_map, text_at, uint_at, uints};
use crate::domain::operations::Operations;

/// One row: a subtree's figures over the window ending `as_of` (RFC 3339, UTC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Row {
    pub operations: Operations,
    pub as_of: String,
    /// The figures a hub child wrote were not believed (and are not counted).
    pub refused: bool,
}

impl Row {
    fn same_figures(&self, other: &Row) -> bool {
        self.operations == other.operations && self.refused == other.refused
    }
}

/// The operations part of a hub's rollup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Part {
    /// When the figures last changed: the end of the window of the totals.
    pub as_of: String,
    pub window_days: u64,
    pub children: BTreeMap<String, Row>,
    pub totals: Operations,
}

impl Part {
    /// Whether the part holds the same figures as `other`, whatever their as-of times.
    pub fn same_figures(&self, other: &Part) -> bool {
        self.window_days == other.window_days
            && self.totals == other.totals
            && self.children.len() == other.children.len()
            && self
                .children
                .iter()
                .all(|(u, r)| other.children.get(u).is_some_and(|o| o.same_figures(r)))
    }
}

fn ops_at(was: &Scalars) -> Operations {
    Operations::from_array(Operations::FIELDS.map(|k| was.uint(k)))
}

/// `o`'s figures as the fields of a map.
fn ops_fields(o: &Operations) -> Vec<(&'static str, Put<'static>)> {
    uints(Operations::FIELDS.iter().copied().zip(o.to_array()))
}

/// Reads the operations part of a rollup; `None` before the hub wrote one.
pub fn read_part(doc: &AutoCommit) -> Option<Part> {
    let m = obj_at(doc, &ROOT, "operations", ObjType::Map)?;
    let mut p = Part {
        as_of: text_at(doc, &m, "as_of").unwrap_or_default(),
        window_days: uint_at(doc, &m, "window_days"),
        ..Part::default()
    };
    if let Some(children) = obj_at(doc, &m, "children", ObjType::Map) {
        for (unit, o) in maps_of(doc, &children) {
            let was = Scalars::of(doc, &o);
            let row = Row {
                operations: ops_at(&was),
                as_of: was.text("as_of").unwrap_or_default().to_string(),
                refused: was.is_true("refused"),
            };
            p.children.insert(unit, row);
        }
    }
    if let Some(t) = obj_at(doc, &m, "totals", ObjType::Map) {
        p.totals = ops_at(&Scalars::of(doc, &t));
    }
    Some(p)
}

/// Writes `next` over the rollup's operations part, touching only what differs: a row whose
/// figures are unchanged keeps its as-of time, and nothing is written (not even the part's as-of
/// time) when no figure changed. Returns whether anything changed.
pub fn write_part(doc: &mut AutoCommit, next: &Part) -> Result<bool, automerge::AutomergeError> {
    let current = read_part(doc);
    if current.as_ref().is_some_and(|c| c.same_figures(next)) {
        return Ok(false);
    }
    let current = current.unwrap_or_default();
    let m = match obj_at(doc, &ROOT, "operations", ObjType::Map) {
        Some(m) => m,
        None => doc.put_object(ROOT, "operations", ObjType::Map)?,
    };
    if current.as_of != next.as_of {
        doc.put(&m, "as_of", next.as_of.as_str())?;
    }
    if current.window_days != next.window_days || doc.get(&m, "window_days")?.is_none() {
        doc.put(&m, "window_days", next.window_days)?;
    }
    let children = match obj_at(doc, &m, "children", ObjType::Map) {
        Some(c) => c,
        None => doc.put_object(&m, "children", ObjType::Map)?,
    };
    for (unit, row) in &next.children {
        if current
            .children
            .get(unit)
            .is_some_and(|c| c.same_figures(row))
        {
            continue;
        }
        let mut fields = ops_fields(&row.operations);
        fields.push(("as_of", Put::Text(&row.as_of)));
        fields.push(("refused", Put::Bool(row.refused)));
        put_map(doc, &children, unit, &fields)?;
    }
    for unit in current.children.keys() {
        if !next.children.contains_key(unit) {
            doc.delete(&children, unit.as_str())?;
        }
    }
    put_map(doc, &m, "totals", &ops_fields(&next.totals))?;
    Ok(true)
}

/// The cameras the same rollup's own figures count (its totals' `built`): what its operations
/// figures are checked against.
pub fn built_total(doc: &AutoCommit) -> u64 {
    obj_at(doc, &ROOT, "totals", ObjType::Map).map_or(0, |t| uint_at(doc, &t, "built"))
}

/// Writes `p` as it is into a fresh document (a rollup's next generation), as-of times kept.
pub fn write_whole(
    doc: &mut AutoCommit,
    p: &Option<Part>,
) -> Result<(), automerge::AutomergeError> {
    if let Some(p) = p {
        write_part(doc, p)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(faults: u64) -> Operations {
        Operations {
            cameras: 3,
            camera_seconds: 3 * 30 * 86400,
            fault_seconds: faults * 3600,
            faults,
            repairs: faults,
            repair_seconds: faults * 3600,
            open_faults: 0,
            removed: 0,
        }
    }

    #[test]
    fn the_operations_part_round_trips_and_keeps_as_of_while_the_figures_stay() {
        let mut doc = AutoCommit::new();
        assert_eq!(read_part(&doc), None);
        let mut p = Part {
            as_of: "2026-11-26T02:00:00Z".into(),
            window_days: 30,
            ..Part::default()
        };
        for (u, f) in [("500103", 1), ("500104", 2)] {
            p.children.insert(
                u.into(),
                Row {
                    operations: ops(f),
                    as_of: p.as_of.clone(),
                    refused: false,
                },
            );
            p.totals.add(&ops(f));
        }
        p.children.insert(
            "500105".into(),
            Row {
                refused: true,
                as_of: p.as_of.clone(),
                ..Row::default()
            },
        );
        assert!(write_part(&mut doc, &p).unwrap());
        doc.commit();
        assert_eq!(read_part(&doc).as_ref(), Some(&p));
        // Five minutes on, the same figures: nothing written, the as-of time kept.
        let mut later = p.clone();
        later.as_of = "2026-11-26T02:05:00Z".into();
        for r in later.children.values_mut() {
            r.as_of = later.as_of.clone();
        }
        let heads = doc.get_heads();
        assert!(!write_part(&mut doc, &later).unwrap());
        assert_eq!(doc.commit(), None);
        assert_eq!(doc.get_heads(), heads);
        // One row changed: it and the part take the new as-of time, the others keep theirs.
        later.children.get_mut("500104").unwrap().operations = ops(3);
        later.children.remove("500105");
        later.totals = ops(1);
        later.totals.add(&ops(3));
        assert!(write_part(&mut doc, &later).unwrap());
        let read = read_part(&doc).unwrap();
        assert_eq!(read.as_of, later.as_of);
        assert_eq!(read.children["500103"].as_of, p.as_of);
        assert_eq!(read.children["500104"].as_of, later.as_of);
        assert_eq!(read.children["500104"].operations, ops(3));
        assert!(!read.children.contains_key("500105"));
        assert_eq!(read.totals, later.totals);
        // A fresh generation carries it whole.
        let mut next = AutoCommit::new();
        write_whole(&mut next, &Some(read.clone())).unwrap();
        assert_eq!(read_part(&next), Some(read));
    }
}
