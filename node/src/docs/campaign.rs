//! The campaign document (`campaign/<root>`): the milestones and targets as Automerge values.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc};

use crate::domain::campaign::{Campaign, Figure, Milestone};

fn text(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key).ok().flatten() {
        Some((automerge::Value::Scalar(s), _)) => match s.as_ref() {
            automerge::ScalarValue::Str(t) => Some(t.to_string()),
            _ => None,
        },
        _ => None,
    }
}

fn num(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<f64> {
    match doc.get(obj, key).ok().flatten() {
        Some((automerge::Value::Scalar(s), _)) => match s.as_ref() {
            automerge::ScalarValue::F64(f) => Some(*f),
            automerge::ScalarValue::Int(i) => Some(*i as f64),
            automerge::ScalarValue::Uint(i) => Some(*i as f64),
            _ => None,
        },
        _ => None,
    }
}

/// Writes the whole campaign (the root publishes it; a new campaign replaces the milestones).
pub fn write(doc: &mut AutoCommit, c: &Campaign) -> Result<(), automerge::AutomergeError> {
    doc.put(ROOT, "name", c.name.as_str())?;
    doc.put(ROOT, "start", c.start.to_string())?;
    doc.put(ROOT, "intact_target_key_public", c.intact_target_key_public)?;
    doc.put(
        ROOT,
        "intact_target_key_industry",
        c.intact_target_key_industry,
    )?;
    let list = doc.put_object(ROOT, "milestones", ObjType::List)?;
    for (i, m) in c.milestones.iter().enumerate() {
        let o = doc.insert_object(&list, i, ObjType::Map)?;
        doc.put(&o, "title", m.title.as_str())?;
        doc.put(&o, "deadline", m.deadline.to_string())?;
        doc.put(&o, "figure", m.figure.key())?;
        doc.put(&o, "target", m.target)?;
    }
    Ok(())
}

/// Reads a campaign document (`None` before the root wrote one).
pub fn read(doc: &AutoCommit) -> Option<Campaign> {
    let start = text(doc, &ROOT, "start")?.parse().ok()?;
    let list = match doc.get(ROOT, "milestones").ok().flatten() {
        Some((automerge::Value::Object(ObjType::List), id)) => id,
        _ => return None,
    };
    let mut milestones = Vec::new();
    for i in 0..doc.length(&list) {
        let Some((automerge::Value::Object(ObjType::Map), o)) = doc.get(&list, i).ok().flatten()
        else {
            continue;
        };
        let (Some(title), Some(deadline), Some(figure), Some(target)) = (
            text(doc, &o, "title"),
            text(doc, &o, "deadline").and_then(|t| t.parse().ok()),
            text(doc, &o, "figure").and_then(|f| Figure::parse(&f)),
            num(doc, &o, "target"),
        ) else {
            continue;
        };
        milestones.push(Milestone {
            title,
            deadline,
            figure,
            target,
        });
    }
    milestones.sort_by_key(|m| m.deadline);
    Some(Campaign {
        name: text(doc, &ROOT, "name").unwrap_or_default(),
        start,
        milestones,
        intact_target_key_public: num(doc, &ROOT, "intact_target_key_public").unwrap_or(99.0),
        intact_target_key_industry: num(doc, &ROOT, "intact_target_key_industry").unwrap_or(95.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_campaign_round_trips() {
        let mut doc = AutoCommit::new();
        write(&mut doc, &Campaign::seed()).unwrap();
        assert_eq!(read(&doc).unwrap(), Campaign::seed());
    }
}
