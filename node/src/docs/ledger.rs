//! The camera ledger document (`ledger/<unit>`): camera records keyed by device code, one map of
//! scalar fields each, so that replicas edited apart merge field by field; concurrent writes of one
//! field are kept and reported as conflicts; maintenance events (filing, removal) are appended.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc};

use crate::docs::document::{scalar_of, value_of};
use crate::domain::camera::{Camera, Field, State, Value};
use crate::domain::device_code::DeviceCode;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("the document is not a camera ledger (no cameras map)")]
    NotALedger,
    #[error("camera {0} is already in the ledger; use `camera edit` to change it")]
    Exists(String),
    #[error("camera {0} is not in the ledger")]
    NotFound(String),
    #[error("document error: {0}")]
    Automerge(Box<automerge::AutomergeError>),
}

impl From<automerge::AutomergeError> for LedgerError {
    fn from(e: automerge::AutomergeError) -> Self {
        LedgerError::Automerge(Box::new(e))
    }
}

/// A camera as the document holds it: the winning value of every field, plus every field that two
/// replicas wrote concurrently with different values.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraState {
    pub camera: Camera,
    pub conflicts: BTreeMap<Field, Vec<Value>>,
}

impl CameraState {
    /// The record as `camera list --json` prints it: the camera's JSON (English keys, typed
    /// values) with `conflicts`, each field in conflict with every value written.
    pub fn to_json(&self) -> serde_json::Value {
        let mut j = self.camera.to_json();
        j["conflicts"] = serde_json::to_value(&self.conflicts).unwrap_or_default();
        j
    }
}

/// The map that holds the cameras.
pub fn cameras_obj(doc: &AutoCommit) -> Result<ObjId, LedgerError> {
    match doc.get(ROOT, "cameras")? {
        Some((automerge::Value::Object(ObjType::Map), id)) => Ok(id),
        _ => Err(LedgerError::NotALedger),
    }
}

fn camera_obj(doc: &AutoCommit, cams: &ObjId, code: &str) -> Result<Option<ObjId>, LedgerError> {
    Ok(match doc.get(cams, code)? {
        Some((automerge::Value::Object(ObjType::Map), id)) => Some(id),
        _ => None,
    })
}

/// Every device code in the ledger.
pub fn camera_codes(doc: &AutoCommit) -> Result<Vec<String>, LedgerError> {
    let cams = cameras_obj(doc)?;
    Ok(doc.keys(&cams).collect())
}

/// Reads one camera; `None` when the ledger has no such record.
pub fn read_camera(doc: &AutoCommit, code: &str) -> Result<Option<CameraState>, LedgerError> {
    let cams = cameras_obj(doc)?;
    let Some(obj) = camera_obj(doc, &cams, code)? else {
        return Ok(None);
    };
    read_camera_obj(doc, &obj, code)
}

/// Reads the cameras `codes` (`None` for one the ledger no longer has). Many at once (a whole
/// ledger arriving at its district) are found in one pass over the cameras map instead of one
/// lookup each.
pub fn read_cameras(
    doc: &AutoCommit,
    codes: &[String],
) -> Result<Vec<(String, Option<CameraState>)>, LedgerError> {
    let cams = cameras_obj(doc)?;
    if codes.len() <= 16 {
        return codes
            .iter()
            .map(|c| {
                Ok((
                    c.clone(),
                    match camera_obj(doc, &cams, c)? {
                        Some(obj) => read_camera_obj(doc, &obj, c)?,
                        None => None,
                    },
                ))
            })
            .collect();
    }
    let objs: std::collections::HashMap<String, ObjId> = doc
        .map_range(&cams, ..)
        .filter(|i| matches!(i.value, automerge::ValueRef::Object(ObjType::Map)))
        .map(|i| (i.key.to_string(), i.id()))
        .collect();
    codes
        .iter()
        .map(|c| {
            Ok((
                c.clone(),
                match objs.get(c) {
                    Some(obj) => read_camera_obj(doc, obj, c)?,
                    None => None,
                },
            ))
        })
        .collect()
}

/// One camera's record from its map: every field's winning value in one pass; the values of a
/// field in conflict are read only for that field.
fn read_camera_obj(
    doc: &AutoCommit,
    obj: &ObjId,
    code: &str,
) -> Result<Option<CameraState>, LedgerError> {
    let Ok(device_code) = DeviceCode::parse(code) else {
        return Ok(None);
    };
    let mut camera = Camera::new(device_code);
    let mut conflicts = BTreeMap::new();
    for item in doc.map_range(obj, ..) {
        let Some(field) = Field::ALL.into_iter().find(|f| f.key() == item.key) else {
            continue; // a field from a newer schema: kept in the document, not shown
        };
        if let Some(v) = value_of(&automerge::Value::from(item.value)) {
            camera.fields.insert(field, v);
        }
        if item.conflict {
            let all = doc.get_all(obj, field.key())?;
            let mut values: Vec<Value> = all.iter().filter_map(|(v, _)| value_of(v)).collect();
            values.dedup();
            if values.len() > 1 {
                conflicts.insert(field, values);
            }
        }
    }
    Ok(Some(CameraState { camera, conflicts }))
}

/// Adds a new camera record. Refused when the device code is already there.
pub fn add_camera(doc: &mut AutoCommit, cam: &Camera) -> Result<(), LedgerError> {
    let cams = cameras_obj(doc)?;
    if camera_obj(doc, &cams, cam.device_code.as_str())?.is_some() {
        return Err(LedgerError::Exists(cam.device_code.to_string()));
    }
    // The record and its fields in one batch: two splices of the document's operations instead
    // of one per field (an import of 50,000 rows spent most of its time in those splices).
    let fields: std::collections::HashMap<&str, automerge::hydrate::Value> = cam
        .fields
        .iter()
        .map(|(f, v)| (f.key(), automerge::hydrate::Value::Scalar(scalar_of(v))))
        .collect();
    doc.batch_create_object(
        &cams,
        cam.device_code.as_str(),
        &automerge::hydrate::Value::Map(fields.into()),
        false,
    )?;
    Ok(())
}

/// Sets (`Some`) or clears (`None`) fields of an existing camera. A field is written only when its
/// value changes or when it is in conflict (writing it resolves the conflict). Returns how many
/// fields were written.
pub fn set_fields(
    doc: &mut AutoCommit,
    code: &str,
    changes: &[(Field, Option<Value>)],
) -> Result<usize, LedgerError> {
    let cams = cameras_obj(doc)?;
    let obj = camera_obj(doc, &cams, code)?.ok_or_else(|| LedgerError::NotFound(code.into()))?;
    let mut written = 0;
    for (f, new) in changes {
        let key = f.key();
        let all = doc.get_all(&obj, key)?;
        let current = doc.get(&obj, key)?.and_then(|(v, _)| value_of(&v));
        if all.len() <= 1 && current.as_ref() == new.as_ref() {
            continue;
        }
        match new {
            Some(v) => doc.put(&obj, key, scalar_of(v))?,
            None => doc.delete(&obj, key)?,
        }
        written += 1;
    }
    Ok(written)
}

/// Adds the camera or, when present, writes the given fields into it (an import of an updated
/// sheet). Returns whether the record was new and how many fields were written.
pub fn upsert_camera(doc: &mut AutoCommit, cam: &Camera) -> Result<(bool, usize), LedgerError> {
    let cams = cameras_obj(doc)?;
    if camera_obj(doc, &cams, cam.device_code.as_str())?.is_none() {
        add_camera(doc, cam)?;
        return Ok((true, cam.fields.len()));
    }
    let changes: Vec<(Field, Option<Value>)> = cam
        .fields
        .iter()
        .map(|(f, v)| (*f, Some(v.clone())))
        .collect();
    Ok((false, set_fields(doc, cam.device_code.as_str(), &changes)?))
}

/// Deletes a record entered by mistake (a removed camera keeps its record with state removed).
pub fn purge_camera(doc: &mut AutoCommit, code: &str) -> Result<(), LedgerError> {
    let cams = cameras_obj(doc)?;
    if camera_obj(doc, &cams, code)?.is_none() {
        return Err(LedgerError::NotFound(code.into()));
    }
    doc.delete(&cams, code)?;
    Ok(())
}

/// A maintenance event (建设备案, 撤除报告, 故障恢复 …) appended to the ledger.
pub fn append_event(
    doc: &mut AutoCommit,
    kind: &str,
    code: &str,
    note: &str,
    by: &str,
) -> Result<(), LedgerError> {
    append_event_at(doc, kind, code, note, by, chrono::Utc::now())
}

/// [`append_event`] with the time it happened (an event reported afterwards, a test's history).
pub fn append_event_at(
    doc: &mut AutoCommit,
    kind: &str,
    code: &str,
    note: &str,
    by: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), LedgerError> {
    let events = match doc.get(ROOT, "events")? {
        Some((automerge::Value::Object(ObjType::List), id)) => id,
        _ => return Err(LedgerError::NotALedger),
    };
    let last = doc.length(&events);
    let ev = doc.insert_object(&events, last, ObjType::Map)?;
    doc.put(&ev, "at", at.to_rfc3339())?;
    doc.put(&ev, "kind", kind)?;
    doc.put(&ev, "device_code", code)?;
    doc.put(&ev, "note", note)?;
    doc.put(&ev, "by", by)?;
    Ok(())
}

/// The event a change of a camera's state makes: `fault` (故障) when it becomes faulty, `repair`
/// (恢复) when a faulty camera is back in service. Removal has its own event.
pub fn state_event(before: Option<State>, after: State) -> Option<&'static str> {
    match (before, after) {
        (Some(State::Faulty), State::Faulty) => None,
        (_, State::Faulty) => Some("fault"),
        (Some(State::Faulty), State::InService) => Some("repair"),
        _ => None,
    }
}

/// The state a camera of the ledger has now, if it is there.
pub fn camera_state(doc: &AutoCommit, code: &str) -> Result<Option<State>, LedgerError> {
    let cams = cameras_obj(doc)?;
    let Some(obj) = camera_obj(doc, &cams, code)? else {
        return Ok(None);
    };
    let state = match doc.get(&obj, Field::State.key())? {
        Some((automerge::Value::Scalar(s), _)) => match s.as_ref() {
            automerge::ScalarValue::Str(t) => t.parse().unwrap_or(State::InService),
            _ => State::InService,
        },
        _ => State::InService,
    };
    Ok(Some(state))
}

/// Every camera of the ledger with its state, in one pass over the cameras map (a record without
/// a readable state is in service, as [`camera_state`] reads it).
pub fn camera_states(doc: &AutoCommit) -> Result<Vec<(String, State)>, LedgerError> {
    let cams = cameras_obj(doc)?;
    let objs: Vec<(String, ObjId)> = doc
        .map_range(&cams, ..)
        .filter(|i| matches!(i.value, automerge::ValueRef::Object(ObjType::Map)))
        .map(|i| (i.key.to_string(), i.id()))
        .collect();
    objs.into_iter()
        .map(|(code, obj)| {
            let state = match doc.get(&obj, Field::State.key())? {
                Some((automerge::Value::Scalar(s), _)) => match s.as_ref() {
                    automerge::ScalarValue::Str(t) => t.parse().unwrap_or(State::InService),
                    _ => State::InService,
                },
                _ => State::InService,
            };
            Ok((code, state))
        })
        .collect()
}

/// Every maintenance event of the ledger, in the order written (an event of a kind this release
/// does not know, or without a readable time, is skipped).
pub fn events(doc: &AutoCommit) -> Vec<crate::domain::operations::Event> {
    use crate::domain::operations::{Event, EventKind};
    let Ok(Some((automerge::Value::Object(ObjType::List), list))) = doc.get(ROOT, "events") else {
        return Vec::new();
    };
    let text = |o: &ObjId, k: &str| crate::docs::document::text_at(doc, o, k);
    (0..doc.length(&list))
        .filter_map(|i| {
            let Ok(Some((automerge::Value::Object(ObjType::Map), ev))) = doc.get(&list, i) else {
                return None;
            };
            Some(Event {
                kind: EventKind::parse(&text(&ev, "kind")?)?,
                device_code: text(&ev, "device_code")?,
                at: chrono::DateTime::parse_from_rfc3339(&text(&ev, "at")?)
                    .ok()?
                    .with_timezone(&chrono::Utc),
                note: text(&ev, "note").unwrap_or_default(),
                by: text(&ev, "by").unwrap_or_default(),
            })
        })
        .collect()
}

/// Since when each camera that is faulty now has been (the time of its last `fault` event not
/// followed by a `repair` or `removal`), as UTC times.
pub fn faulty_since(doc: &AutoCommit) -> BTreeMap<String, chrono::DateTime<chrono::Utc>> {
    let mut out = BTreeMap::new();
    let Ok(Some((automerge::Value::Object(ObjType::List), events))) = doc.get(ROOT, "events")
    else {
        return out;
    };
    let text = |o: &ObjId, k: &str| crate::docs::document::text_at(doc, o, k);
    for i in 0..doc.length(&events) {
        let Ok(Some((automerge::Value::Object(ObjType::Map), ev))) = doc.get(&events, i) else {
            continue;
        };
        let (Some(kind), Some(code)) = (text(&ev, "kind"), text(&ev, "device_code")) else {
            continue;
        };
        match kind.as_str() {
            "fault" => {
                if let Some(at) =
                    text(&ev, "at").and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                {
                    out.entry(code).or_insert(at.with_timezone(&chrono::Utc));
                }
            }
            "repair" | "removal" => {
                out.remove(&code);
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs::document::DocId;
    use crate::domain::unit::UnitCode;

    fn code() -> DeviceCode {
        DeviceCode::parse("50010312091320000001").unwrap()
    }

    fn ledger() -> AutoCommit {
        DocId::ledger(&UnitCode::parse("500103-0001").unwrap()).genesis()
    }

    #[test]
    fn a_fault_is_dated_until_the_repair() {
        assert_eq!(state_event(None, State::Faulty), Some("fault"));
        assert_eq!(
            state_event(Some(State::InService), State::Faulty),
            Some("fault")
        );
        assert_eq!(state_event(Some(State::Faulty), State::Faulty), None);
        assert_eq!(
            state_event(Some(State::Faulty), State::InService),
            Some("repair")
        );
        assert_eq!(state_event(Some(State::InService), State::InService), None);
        let mut d = ledger();
        let mut cam = Camera::new(code());
        cam.fields
            .insert(Field::Name, Value::Text("门诊大厅".into()));
        add_camera(&mut d, &cam).unwrap();
        assert_eq!(
            camera_state(&d, code().as_str()).unwrap(),
            Some(State::InService)
        );
        assert_eq!(camera_state(&d, "50010312091320000009").unwrap(), None);
        // In one pass, the same as one by one.
        let mut other = Camera::new(DeviceCode::parse("50010312091320000002").unwrap());
        other
            .fields
            .insert(Field::State, Value::Text("faulty".into()));
        add_camera(&mut d, &other).unwrap();
        let all = camera_states(&d).unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.contains(&("50010312091320000002".to_string(), State::Faulty)));
        for (code, state) in &all {
            assert_eq!(camera_state(&d, code).unwrap(), Some(*state), "{code}");
        }
        assert_eq!(
            all.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>(),
            camera_codes(&d).unwrap()
        );
        append_event(&mut d, "fault", code().as_str(), "", "clerk").unwrap();
        let first = faulty_since(&d)[code().as_str()];
        // A second report while still faulty keeps the first time.
        append_event(&mut d, "fault", code().as_str(), "", "clerk").unwrap();
        assert_eq!(faulty_since(&d)[code().as_str()], first);
        append_event(&mut d, "repair", code().as_str(), "", "clerk").unwrap();
        assert!(faulty_since(&d).is_empty());
    }

    #[test]
    fn replicas_edited_apart_merge_field_by_field() {
        let mut a = ledger().with_actor(automerge::ActorId::random());
        let mut cam = Camera::new(code());
        cam.fields
            .insert(Field::Name, Value::Text("门诊大厅".into()));
        add_camera(&mut a, &cam).unwrap();
        a.commit();
        let mut b = a.fork().with_actor(automerge::ActorId::random());
        set_fields(
            &mut a,
            code().as_str(),
            &[(Field::Address, Some(Value::Text("一楼".into())))],
        )
        .unwrap();
        set_fields(
            &mut b,
            code().as_str(),
            &[(Field::Networked, Some(Value::Bool(true)))],
        )
        .unwrap();
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();
        assert_eq!(a.get_heads(), b.get_heads());
        let ca = read_camera(&a, code().as_str()).unwrap().unwrap();
        assert_eq!(ca.camera.text(Field::Address), Some("一楼"));
        assert!(ca.camera.is_networked());
        assert!(ca.conflicts.is_empty());

        // The same field written on both sides: kept as a conflict, identical on both replicas.
        set_fields(
            &mut a,
            code().as_str(),
            &[(Field::Name, Some(Value::Text("东门".into())))],
        )
        .unwrap();
        set_fields(
            &mut b,
            code().as_str(),
            &[(Field::Name, Some(Value::Text("西门".into())))],
        )
        .unwrap();
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();
        let ca = read_camera(&a, code().as_str()).unwrap().unwrap();
        let cb = read_camera(&b, code().as_str()).unwrap().unwrap();
        assert_eq!(ca, cb);
        assert_eq!(ca.conflicts[&Field::Name].len(), 2);

        // Writing the field again resolves it.
        set_fields(
            &mut a,
            code().as_str(),
            &[(Field::Name, Some(Value::Text("东门".into())))],
        )
        .unwrap();
        assert!(
            read_camera(&a, code().as_str())
                .unwrap()
                .unwrap()
                .conflicts
                .is_empty()
        );
    }

    #[test]
    fn add_twice_is_refused() {
        let mut a = ledger();
        let mut cam = Camera::new(code());
        cam.fields.insert(Field::Name, Value::Text("x".into()));
        add_camera(&mut a, &cam).unwrap();
        assert!(matches!(
            add_camera(&mut a, &cam),
            Err(LedgerError::Exists(_))
        ));
        purge_camera(&mut a, code().as_str()).unwrap();
        assert!(read_camera(&a, code().as_str()).unwrap().is_none());
    }
}
