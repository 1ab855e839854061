//! Rollups: `rollup/<hub>` holds one row per direct child (that child's whole subtree: the
//! Attachment 2 row and the further rates' counts), the hub's totals (its own ledger plus every
//! row) and the as-of time. Only the hub writes it, computed from the replicas it holds (a leaf
//! child's ledger, a hub child's own rollup); it syncs up, so each level reads the level below
//! from rollups and never copies camera ledgers city-wide. Its `reporting` map carries, per
//! milestone, the completeness counts of the hub's whole subtree below it (every descendant's
//! submission judged by its parent), so that a level above sees its tree's reporting rates
//! without holding the submissions of the units below its children.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc};

use crate::docs::document::{Put, Scalars, maps_of, obj_at, put_map, text_at, uints};
use crate::domain::figures::{Counts, Stats};
use crate::domain::quality::Tally as Findings;
use crate::domain::submission::{Tallies, Tally};

/// One row of a rollup: whose figures, and the counts they are computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub unit: String,
    pub name: String,
    pub counts: Counts,
    /// The data-quality findings of that unit's subtree (from the rollup's `quality` part,
    /// [`crate::docs::quality`]; written by the hub's data-quality task, not with the counts).
    pub findings: Findings,
    /// When these figures last changed.
    pub as_of: String,
}

impl Row {
    pub fn stats(&self) -> Stats {
        Stats::from_counts(&self.unit, &self.name, &self.counts, self.as_of.clone())
            .with_findings(self.findings)
    }
}

/// A hub's rollup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollup {
    pub children: BTreeMap<String, Row>,
    pub totals: Option<Row>,
    /// Per milestone (its deadline), the reporting counts of every unit below this hub.
    pub reporting: Tallies,
}

/// One row, read in one pass over its map (a lookup per field costs a search of the document's
/// operations each: most of the time of projecting a rollup at the city).
fn read_row(doc: &AutoCommit, obj: &ObjId, unit: &str) -> Row {
    use automerge::{ScalarValueRef, ValueRef};
    let (mut name, mut as_of) = (String::new(), String::new());
    let mut counts = [0u64; 10];
    for item in doc.map_range(obj, ..) {
        let text = || match &item.value {
            ValueRef::Scalar(ScalarValueRef::Str(t)) => t.to_string(),
            _ => String::new(),
        };
        match item.key.as_ref() {
            "name" => name = text(),
            "as_of" => as_of = text(),
            k => {
                if let Some(i) = Counts::FIELDS.iter().position(|f| *f == k) {
                    counts[i] = match &item.value {
                        ValueRef::Scalar(ScalarValueRef::Uint(n)) => *n,
                        ValueRef::Scalar(ScalarValueRef::Int(n)) => (*n).max(0) as u64,
                        _ => 0,
                    };
                }
            }
        }
    }
    Row {
        unit: unit.to_string(),
        name,
        counts: Counts::from_array(counts),
        findings: Findings::default(),
        as_of,
    }
}

/// Reads a rollup document: its rows with their data-quality findings, and the reporting counts.
pub fn read(doc: &AutoCommit) -> Rollup {
    read_reusing(doc, |_, _| None)
}

/// [`read`], taking a row's name and counts from `known(unit, as_of)` when it has them for that
/// as-of time instead of reading them from the document (a row's as-of time changes with every
/// change of its name or counts: [`write`] sets it).
pub fn read_reusing(
    doc: &AutoCommit,
    known: impl Fn(&str, &str) -> Option<(String, Counts)>,
) -> Rollup {
    let mut r = read_figures_reusing(doc, known);
    let quality = crate::docs::quality::read_findings(doc);
    for (unit, row) in &mut r.children {
        row.findings = quality.children.get(unit).copied().unwrap_or_default();
    }
    if let Some(t) = &mut r.totals {
        t.findings = quality.totals;
    }
    r
}

/// Reads a rollup's rows and reporting counts, without the data-quality part (findings left
/// empty): what a recompute compares against and writes.
pub fn read_figures(doc: &AutoCommit) -> Rollup {
    read_figures_reusing(doc, |_, _| None)
}

fn read_figures_reusing(
    doc: &AutoCommit,
    known: impl Fn(&str, &str) -> Option<(String, Counts)>,
) -> Rollup {
    // One pass over the row's map either way (its as-of time alone would cost a search).
    let row = |obj: &ObjId, unit: &str| {
        let mut row = read_row(doc, obj, unit);
        if let Some((name, counts)) = known(unit, &row.as_of) {
            (row.name, row.counts) = (name, counts);
        }
        row
    };
    let mut r = Rollup::default();
    if let Some(children) = obj_at(doc, &ROOT, "children", ObjType::Map) {
        for (unit, obj) in maps_of(doc, &children) {
            let row = row(&obj, &unit);
            r.children.insert(unit, row);
        }
    }
    if let Some(t) = obj_at(doc, &ROOT, "totals", ObjType::Map) {
        let unit = text_at(doc, &ROOT, "unit").unwrap_or_default();
        r.totals = Some(row(&t, &unit));
    }
    r.reporting = read_reporting(doc);
    r
}

/// Reads a rollup's reporting counts only.
pub fn read_reporting(doc: &AutoCommit) -> Tallies {
    let mut out = Tallies::new();
    if let Some(rep) = obj_at(doc, &ROOT, "reporting", ObjType::Map) {
        for (deadline, obj) in maps_of(doc, &rep) {
            let was = Scalars::of(doc, &obj);
            out.insert(
                deadline,
                Tally::from_array(Tally::FIELDS.map(|k| was.uint(k))),
            );
        }
    }
    out
}

/// Writes the reporting counts where they differ; returns whether anything changed.
fn write_reporting(
    doc: &mut AutoCommit,
    current: &Tallies,
    next: &Tallies,
) -> Result<bool, automerge::AutomergeError> {
    if current == next {
        return Ok(false);
    }
    let rep = match obj_at(doc, &ROOT, "reporting", ObjType::Map) {
        Some(r) => r,
        None => doc.put_object(ROOT, "reporting", ObjType::Map)?,
    };
    for (deadline, t) in next {
        if current.get(deadline) == Some(t) {
            continue;
        }
        put_map(
            doc,
            &rep,
            deadline,
            &uints(Tally::FIELDS.iter().copied().zip(t.to_array())),
        )?;
    }
    for deadline in current.keys() {
        if !next.contains_key(deadline) {
            doc.delete(&rep, deadline.as_str())?;
        }
    }
    Ok(true)
}

fn write_row(
    doc: &mut AutoCommit,
    parent: &ObjId,
    key: &str,
    row: &Row,
) -> Result<(), automerge::AutomergeError> {
    let mut fields = vec![
        ("name", Put::Text(&row.name)),
        ("as_of", Put::Text(&row.as_of)),
    ];
    fields.extend(uints(row.counts.iter()));
    put_map(doc, parent, key, &fields)
}

/// Writes `next` over the document, touching only what differs; a row whose counts and name are
/// unchanged keeps its as-of time. Returns the units whose rows changed.
pub fn write(
    doc: &mut AutoCommit,
    next: &Rollup,
    now: &str,
) -> Result<Vec<String>, automerge::AutomergeError> {
    let current = read_figures(doc);
    let mut changed = Vec::new();
    let children = match obj_at(doc, &ROOT, "children", ObjType::Map) {
        Some(c) => c,
        None => doc.put_object(ROOT, "children", ObjType::Map)?,
    };
    for (unit, row) in &next.children {
        let same = current
            .children
            .get(unit)
            .is_some_and(|c| c.counts == row.counts && c.name == row.name);
        if !same {
            let mut r = row.clone();
            r.as_of = now.to_string();
            write_row(doc, &children, unit, &r)?;
            changed.push(unit.clone());
        }
    }
    for unit in current.children.keys() {
        if !next.children.contains_key(unit) {
            doc.delete(&children, unit.as_str())?;
            changed.push(unit.clone());
        }
    }
    if let Some(t) = &next.totals {
        let same = current
            .totals
            .as_ref()
            .is_some_and(|c| c.counts == t.counts && c.name == t.name);
        if !same {
            let mut r = t.clone();
            r.as_of = now.to_string();
            write_row(doc, &ROOT, "totals", &r)?;
            doc.put(ROOT, "as_of", now)?;
            changed.push(t.unit.clone());
        }
    }
    write_reporting(doc, &current.reporting, &next.reporting)?;
    Ok(changed)
}

/// Writes `r` whole into a fresh document (a rollup's next generation): every row as it is, its
/// as-of time kept.
pub fn write_whole(doc: &mut AutoCommit, r: &Rollup) -> Result<(), automerge::AutomergeError> {
    let children = match obj_at(doc, &ROOT, "children", ObjType::Map) {
        Some(c) => c,
        None => doc.put_object(ROOT, "children", ObjType::Map)?,
    };
    for (unit, row) in &r.children {
        write_row(doc, &children, unit, row)?;
    }
    if let Some(t) = &r.totals {
        write_row(doc, &ROOT, "totals", t)?;
        doc.put(ROOT, "as_of", t.as_of.as_str())?;
    }
    write_reporting(doc, &Tallies::default(), &r.reporting)?;
    Ok(())
}

/// The key of the figures a rollup stood at at `heads` (hex): the heads sorted, comma-separated.
pub fn heads_key(heads: &[String]) -> String {
    let mut h: Vec<&str> = heads.iter().map(String::as_str).collect();
    h.sort_unstable();
    h.join(",")
}

/// The figures kept in a generation at the heads that reports (报送) named in the generations
/// before it (`submitted/<heads key>`: the totals and a row per child, as a rollup of its own):
/// carried from generation to generation, so that a report made before any number of
/// generations were given up is still checked against the rollup it was made from.
pub fn read_submitted(doc: &AutoCommit) -> BTreeMap<String, Rollup> {
    let mut out = BTreeMap::new();
    let Some(kept) = obj_at(doc, &ROOT, "submitted", ObjType::Map) else {
        return out;
    };
    for key in doc.keys(&kept).collect::<Vec<_>>() {
        let Some(at) = obj_at(doc, &kept, &key, ObjType::Map) else {
            continue;
        };
        let mut r = Rollup::default();
        if let Some(children) = obj_at(doc, &at, "children", ObjType::Map) {
            for (unit, obj) in maps_of(doc, &children) {
                let row = read_row(doc, &obj, &unit);
                r.children.insert(unit, row);
            }
        }
        if let Some(t) = obj_at(doc, &at, "totals", ObjType::Map) {
            let unit = text_at(doc, &ROOT, "unit").unwrap_or_default();
            r.totals = Some(read_row(doc, &t, &unit));
        }
        out.insert(key, r);
    }
    out
}

/// Writes the figures kept at reports' heads (see [`read_submitted`]) into a fresh generation.
pub fn write_submitted(
    doc: &mut AutoCommit,
    kept: &BTreeMap<String, Rollup>,
) -> Result<(), automerge::AutomergeError> {
    if kept.is_empty() {
        return Ok(());
    }
    let map = match obj_at(doc, &ROOT, "submitted", ObjType::Map) {
        Some(m) => m,
        None => doc.put_object(ROOT, "submitted", ObjType::Map)?,
    };
    for (key, r) in kept {
        let at = doc.put_object(&map, key.as_str(), ObjType::Map)?;
        let children = doc.put_object(&at, "children", ObjType::Map)?;
        for (unit, row) in &r.children {
            write_row(doc, &children, unit, row)?;
        }
        if let Some(t) = &r.totals {
            write_row(doc, &at, "totals", t)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::unit::UnitCode;

    fn row(unit: &str, built: u64, networked: u64) -> Row {
        Row {
            unit: unit.into(),
            name: format!("{unit} name"),
            counts: Counts {
                built,
                must_network: built,
                networked,
                ..Default::default()
            },
            findings: Findings::default(),
            as_of: String::new(),
        }
    }

    #[test]
    fn rows_are_written_only_when_they_change() {
        let hub = UnitCode::parse("500103").unwrap();
        let mut doc = crate::docs::document::DocId {
            kind: crate::docs::document::DocKind::Rollup,
            unit: hub,
            generation: 0,
        }
        .genesis();
        let mut next = Rollup::default();
        next.children.insert("a".into(), row("a", 10, 5));
        next.children.insert("b".into(), row("b", 4, 4));
        next.totals = Some(row("500103", 14, 9));
        let changed = write(&mut doc, &next, "t1").unwrap();
        assert_eq!(changed, vec!["a", "b", "500103"]);
        doc.commit();
        let back = read(&doc);
        assert_eq!(back.children["a"].counts.networked, 5);
        assert_eq!(back.children["a"].as_of, "t1");

        // Only b changes: a keeps its as-of time.
        next.children.insert("b".into(), row("b", 4, 3));
        next.totals = Some(row("500103", 14, 8));
        let changed = write(&mut doc, &next, "t2").unwrap();
        assert_eq!(changed, vec!["b", "500103"]);
        let back = read(&doc);
        assert_eq!(
            (
                back.children["a"].as_of.as_str(),
                back.children["b"].as_of.as_str()
            ),
            ("t1", "t2")
        );
        doc.commit();
        // Rows known at their as-of time are taken as known; the others are read.
        let known = read_reusing(&doc, |unit, as_of| {
            (unit == "a" && as_of == "t1").then(|| ("known".to_string(), Counts::default()))
        });
        assert_eq!(known.children["a"].name, "known", "a's as-of time is t1");
        assert_eq!(known.children["b"], back.children["b"], "b's is t2: read");
        assert_eq!(known.totals, back.totals);
        // Nothing changed: no operation at all.
        let heads = doc.get_heads();
        assert!(write(&mut doc, &next, "t3").unwrap().is_empty());
        assert_eq!(doc.commit(), None);
        assert_eq!(doc.get_heads(), heads);

        // The reporting counts: written, read back, and left alone when unchanged.
        let t = Tally::from_array([3, 2, 1, 1, 0]);
        next.reporting.insert("2021-08-25".into(), t);
        write(&mut doc, &next, "t4").unwrap();
        doc.commit();
        assert_eq!(read(&doc).reporting["2021-08-25"], t);
        let heads = doc.get_heads();
        write(&mut doc, &next, "t5").unwrap();
        assert_eq!(doc.commit(), None);
        assert_eq!(doc.get_heads(), heads);
        next.reporting.clear();
        write(&mut doc, &next, "t6").unwrap();
        doc.commit();
        assert!(read(&doc).reporting.is_empty());
    }
}
