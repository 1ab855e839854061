//! The paperwork documents: `submission/<unit>` (the unit's reports, one list per milestone keyed
//! by its deadline, every resubmission kept) and `review/<unit>` (the decisions of the unit's
//! parent on them, one list per milestone). A submission document is written only by its unit
//! and travels to the parent; a review document is written only by the parent of the unit it is
//! named after and travels down to that unit alone. Pure functions over `AutoCommit`.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc};
use chrono::{DateTime, NaiveDate, Utc};

use crate::docs::document::{obj_at, text_at, uint_at};
use crate::domain::figures::Counts;
use crate::domain::submission::{Decision, FrozenRow, Submission, Verdict};

/// The key under the root that holds one list per milestone.
const MILESTONES: &str = "milestones";

fn time(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&text_at(doc, obj, key).unwrap_or_default())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The list of milestone `deadline`, made when it is not there yet.
fn list_for(doc: &mut AutoCommit, deadline: NaiveDate) -> Result<ObjId, automerge::AutomergeError> {
    let root = match obj_at(doc, &ROOT, MILESTONES, ObjType::Map) {
        Some(m) => m,
        None => doc.put_object(ROOT, MILESTONES, ObjType::Map)?,
    };
    let key = deadline.to_string();
    match obj_at(doc, &root, &key, ObjType::List) {
        Some(l) => Ok(l),
        None => doc.put_object(&root, key.as_str(), ObjType::List),
    }
}

fn put_counts(
    doc: &mut AutoCommit,
    obj: &ObjId,
    counts: &Counts,
) -> Result<(), automerge::AutomergeError> {
    let c = doc.put_object(obj, "counts", ObjType::Map)?;
    for (k, v) in counts.iter() {
        doc.put(&c, k, v)?;
    }
    Ok(())
}

fn read_counts(doc: &AutoCommit, obj: &ObjId) -> Counts {
    match obj_at(doc, obj, "counts", ObjType::Map) {
        Some(c) => Counts::from_array(Counts::FIELDS.map(|k| uint_at(doc, &c, k))),
        None => Counts::default(),
    }
}

/// Every entry (a map) of every milestone's list, by deadline.
fn entries(doc: &AutoCommit) -> Vec<(NaiveDate, ObjId)> {
    let mut out = Vec::new();
    let Some(root) = obj_at(doc, &ROOT, MILESTONES, ObjType::Map) else {
        return out;
    };
    for key in doc.keys(&root).collect::<Vec<_>>() {
        let (Ok(deadline), Some(list)) = (
            key.parse::<NaiveDate>(),
            obj_at(doc, &root, &key, ObjType::List),
        ) else {
            continue;
        };
        for i in 0..doc.length(&list) {
            if let Some((automerge::Value::Object(ObjType::Map), o)) =
                doc.get(&list, i).ok().flatten()
            {
                out.push((deadline, o));
            }
        }
    }
    out
}

/// Appends a submission to the milestone's list (earlier ones stay, as history).
pub fn append_submission(
    doc: &mut AutoCommit,
    deadline: NaiveDate,
    s: &Submission,
) -> Result<(), automerge::AutomergeError> {
    let list = list_for(doc, deadline)?;
    let o = doc.insert_object(&list, doc.length(&list), ObjType::Map)?;
    doc.put(&o, "at", stamp(s.at))?;
    doc.put(&o, "reviewer", s.reviewer.as_str())?;
    doc.put(&o, "filler", s.filler.as_str())?;
    doc.put(&o, "by", s.by.as_str())?;
    put_counts(doc, &o, &s.counts)?;
    let heads = doc.put_object(&o, "source_heads", ObjType::List)?;
    for (i, h) in s.source.iter().enumerate() {
        doc.insert(&heads, i, h.as_str())?;
    }
    let rows = doc.put_object(&o, "rows", ObjType::List)?;
    for (i, r) in s.rows.iter().enumerate() {
        let row = doc.insert_object(&rows, i, ObjType::Map)?;
        doc.put(&row, "unit", r.unit.as_str())?;
        doc.put(&row, "name", r.name.as_str())?;
        put_counts(doc, &row, &r.counts)?;
    }
    Ok(())
}

/// Every submission of the document, by milestone, oldest first.
pub fn read_submissions(doc: &AutoCommit) -> BTreeMap<NaiveDate, Vec<Submission>> {
    let mut out: BTreeMap<NaiveDate, Vec<Submission>> = BTreeMap::new();
    for (deadline, o) in entries(doc) {
        let Some(at) = time(doc, &o, "at") else {
            continue;
        };
        let mut rows = Vec::new();
        if let Some(list) = obj_at(doc, &o, "rows", ObjType::List) {
            for i in 0..doc.length(&list) {
                if let Some((automerge::Value::Object(ObjType::Map), r)) =
                    doc.get(&list, i).ok().flatten()
                {
                    rows.push(FrozenRow {
                        unit: text_at(doc, &r, "unit").unwrap_or_default(),
                        name: text_at(doc, &r, "name").unwrap_or_default(),
                        counts: read_counts(doc, &r),
                    });
                }
            }
        }
        let mut source = Vec::new();
        if let Some(list) = obj_at(doc, &o, "source_heads", ObjType::List) {
            for i in 0..doc.length(&list) {
                if let Some((automerge::Value::Scalar(v), _)) = doc.get(&list, i).ok().flatten()
                    && let automerge::ScalarValue::Str(t) = v.as_ref()
                {
                    source.push(t.to_string());
                }
            }
        }
        out.entry(deadline).or_default().push(Submission {
            source,
            at,
            reviewer: text_at(doc, &o, "reviewer").unwrap_or_default(),
            filler: text_at(doc, &o, "filler").unwrap_or_default(),
            by: text_at(doc, &o, "by").unwrap_or_default(),
            counts: read_counts(doc, &o),
            rows,
        });
    }
    for list in out.values_mut() {
        list.sort_by_key(|s| s.at);
    }
    out
}

/// Appends a decision to the milestone's list of a review document.
pub fn append_decision(
    doc: &mut AutoCommit,
    deadline: NaiveDate,
    d: &Decision,
) -> Result<(), automerge::AutomergeError> {
    let list = list_for(doc, deadline)?;
    let o = doc.insert_object(&list, doc.length(&list), ObjType::Map)?;
    doc.put(&o, "at", stamp(d.at))?;
    doc.put(&o, "verdict", d.verdict.key())?;
    doc.put(&o, "reason", d.reason.as_str())?;
    doc.put(&o, "by", d.by.as_str())?;
    doc.put(&o, "submitted_at", stamp(d.submitted_at))?;
    Ok(())
}

/// Every decision of a review document, by milestone, oldest first.
pub fn read_decisions(doc: &AutoCommit) -> BTreeMap<NaiveDate, Vec<Decision>> {
    let mut out: BTreeMap<NaiveDate, Vec<Decision>> = BTreeMap::new();
    for (deadline, o) in entries(doc) {
        let (Some(at), Some(submitted_at), Some(verdict)) = (
            time(doc, &o, "at"),
            time(doc, &o, "submitted_at"),
            Verdict::parse(&text_at(doc, &o, "verdict").unwrap_or_default()),
        ) else {
            continue;
        };
        out.entry(deadline).or_default().push(Decision {
            at,
            verdict,
            reason: text_at(doc, &o, "reason").unwrap_or_default(),
            by: text_at(doc, &o, "by").unwrap_or_default(),
            submitted_at,
        });
    }
    for list in out.values_mut() {
        list.sort_by_key(|d| d.at);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs::document::{DocId, DocKind};
    use crate::domain::submission::to_millis;
    use crate::domain::unit::UnitCode;

    #[test]
    fn submissions_and_decisions_round_trip_and_keep_their_history() {
        let unit = UnitCode::parse("500103").unwrap();
        let mut doc = DocId {
            kind: DocKind::Submission,
            unit: unit.clone(),
            generation: 0,
        }
        .genesis();
        let due = NaiveDate::from_ymd_opt(2021, 8, 25).unwrap();
        let first = Submission {
            at: to_millis(Utc::now()),
            reviewer: "王审核".into(),
            filler: "李填表".into(),
            by: "cli:clerk".into(),
            counts: Counts {
                built: 12,
                must_network: 10,
                networked: 7,
                ..Default::default()
            },
            rows: vec![FrozenRow {
                unit: "500103-0001".into(),
                name: "渝中区第1医院".into(),
                counts: Counts {
                    built: 12,
                    ..Default::default()
                },
            }],
            source: vec!["ab".repeat(32)],
        };
        append_submission(&mut doc, due, &first).unwrap();
        let mut second = first.clone();
        second.at = first.at + chrono::Duration::hours(1);
        second.rows.clear();
        append_submission(&mut doc, due, &second).unwrap();
        doc.commit();
        let back = read_submissions(&doc);
        assert_eq!(back[&due], vec![first.clone(), second.clone()]);

        let mut review = DocId {
            kind: DocKind::Review,
            unit,
            generation: 0,
        }
        .genesis();
        let d = Decision {
            at: to_millis(Utc::now()),
            verdict: Verdict::Returned,
            reason: "已联网数有误".into(),
            by: "web:admin".into(),
            submitted_at: second.at,
        };
        append_decision(&mut review, due, &d).unwrap();
        review.commit();
        assert_eq!(read_decisions(&review)[&due], vec![d]);
        assert!(read_decisions(&doc).is_empty());
    }
}
