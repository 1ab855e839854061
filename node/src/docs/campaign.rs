//! The campaign document (`campaign/<root>`): the milestones and targets, the data-quality rules
//! and the key of the cross-district duplicate check, as Automerge values.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};

use crate::docs::document::{num_at as num, text_at as text};
use crate::domain::assessment::Weights;
use crate::domain::campaign::{Campaign, Figure, Milestone};
use crate::domain::quality::{Check, Rule, RuleSet, Severity};

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

/// Publishes the data-quality rules (replacing the earlier set).
pub fn write_rules(doc: &mut AutoCommit, rules: &RuleSet) -> Result<(), automerge::AutomergeError> {
    let list = doc.put_object(ROOT, "quality_rules", ObjType::List)?;
    for (i, r) in rules.rules.iter().enumerate() {
        let o = doc.insert_object(&list, i, ObjType::Map)?;
        doc.put(&o, "id", r.id.as_str())?;
        doc.put(&o, "check", r.check.key())?;
        doc.put(&o, "name", r.name.as_str())?;
        doc.put(&o, "severity", r.severity.key())?;
        doc.put(&o, "explanation", r.explanation.as_str())?;
        if let Some(km) = r.km {
            doc.put(&o, "km", km)?;
        }
        if let Some(days) = r.days {
            doc.put(&o, "days", days)?;
        }
        if let Some(after) = r.after {
            doc.put(&o, "after", after.to_string())?;
        }
    }
    Ok(())
}

/// The published rules (`None` before the root published any). A rule of a check this build does
/// not know (published by a newer root) is skipped.
pub fn read_rules(doc: &AutoCommit) -> Option<RuleSet> {
    let list = match doc.get(ROOT, "quality_rules").ok().flatten() {
        Some((automerge::Value::Object(ObjType::List), id)) => id,
        _ => return None,
    };
    let mut rules = Vec::new();
    for i in 0..doc.length(&list) {
        let Some((automerge::Value::Object(ObjType::Map), o)) = doc.get(&list, i).ok().flatten()
        else {
            continue;
        };
        let (Some(id), Some(check), Some(name), Some(severity), Some(explanation)) = (
            text(doc, &o, "id"),
            text(doc, &o, "check").and_then(|c| Check::parse(&c)),
            text(doc, &o, "name"),
            text(doc, &o, "severity").and_then(|s| Severity::parse(&s)),
            text(doc, &o, "explanation"),
        ) else {
            continue;
        };
        rules.push(Rule {
            id,
            check,
            name,
            severity,
            explanation,
            km: num(doc, &o, "km"),
            days: num(doc, &o, "days").map(|d| d as i64),
            after: text(doc, &o, "after").and_then(|t| t.parse().ok()),
        });
    }
    Some(RuleSet { rules })
}

/// Publishes the assessment's weights (replacing the earlier ones).
pub fn write_weights(doc: &mut AutoCommit, w: &Weights) -> Result<(), automerge::AutomergeError> {
    let o = doc.put_object(ROOT, "assessment", ObjType::Map)?;
    for (k, v) in WEIGHT_KEYS.iter().zip(w.to_array()) {
        doc.put(&o, *k, v)?;
    }
    Ok(())
}

/// The published weights (`None` before the root published any).
pub fn read_weights(doc: &AutoCommit) -> Option<Weights> {
    let o = crate::docs::document::obj_at(doc, &ROOT, "assessment", ObjType::Map)?;
    let v: Vec<f64> = WEIGHT_KEYS
        .iter()
        .map(|k| num(doc, &o, k))
        .collect::<Option<_>>()?;
    Some(Weights {
        networking: v[0],
        archive: v[1],
        geo: v[2],
        intact: v[3],
        timeliness: v[4],
    })
}

/// The weights' keys in the document, in the order of [`Weights::to_array`].
const WEIGHT_KEYS: [&str; 5] = ["networking", "archive", "geo", "intact", "timeliness"];

/// Sets the key of the keyed device codes (hex), once: a new key would make every district's
/// published codes stale at once.
pub fn write_key(doc: &mut AutoCommit, key_hex: &str) -> Result<(), automerge::AutomergeError> {
    if text(doc, &ROOT, "code_key").is_none() {
        doc.put(ROOT, "code_key", key_hex)?;
    }
    Ok(())
}

/// The key of the keyed device codes, if the root set one.
pub fn read_key(doc: &AutoCommit) -> Option<Vec<u8>> {
    let hex = text(doc, &ROOT, "code_key")?;
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
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

    #[test]
    fn the_rules_and_the_key_round_trip() {
        let mut doc = AutoCommit::new();
        assert_eq!(read_rules(&doc), None);
        write_rules(&mut doc, &RuleSet::seed()).unwrap();
        assert_eq!(read_rules(&doc).unwrap(), RuleSet::seed());
        assert_eq!(read_weights(&doc), None);
        write_weights(&mut doc, &Weights::seed()).unwrap();
        assert_eq!(read_weights(&doc), Some(Weights::seed()));
        write_key(&mut doc, "00ff10").unwrap();
        write_key(&mut doc, "abcdef").unwrap();
        assert_eq!(read_key(&doc).unwrap(), vec![0, 255, 16]);
    }
}
