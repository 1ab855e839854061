//! The camera use cases, written once for the command line and the web pages: add a record,
//! edit fields of one, report one removed (or delete one entered by mistake), write the
//! supervision fields of a child's camera. Each is checked against the ledger document inside
//! the write transaction, and a refusal is a typed [`CameraError`] (English for the command line,
//! [`CameraError::chinese`] for the pages).

use crate::docs::document::DocId;
use crate::docs::ledger::{self, LedgerError};
use crate::domain::camera::{Camera, Field, FieldError, Value};
use crate::domain::device_code::{DeviceCode, DeviceCodeError};
use crate::domain::unit::UnitCode;
use crate::store::{Store, StoreError};

/// Why a camera use case refused, or failed.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("{0}")]
    DeviceCode(#[from] DeviceCodeError),
    #[error("{0}")]
    Field(#[from] FieldError),
    #[error("camera {0} is already in the ledger; use `camera edit` to change it")]
    Exists(DeviceCode),
    #[error("camera {code} is not in the ledger of {unit}")]
    NotFound { code: DeviceCode, unit: UnitCode },
    #[error("nothing to change: give at least one field, e.g. --networked 是")]
    NothingToChange,
    #[error("name is required and cannot be cleared")]
    NameCleared,
    #[error("supervision fields are written by a supervising level, not by {0} itself")]
    OwnUnit(UnitCode),
    #[error("nothing to write: give --networked-confirmed, --point-class-ruled or --note")]
    NoSupervision,
    #[error("camera {code} of {unit} has no {} waiting for acknowledgement", what.id())]
    NothingToAcknowledge {
        what: crate::domain::operations::Acknowledge,
        code: DeviceCode,
        unit: UnitCode,
    },
    #[error("{0}")]
    Store(StoreError),
}

impl CameraError {
    /// The form field the refusal is about (its key; `device_code` for the record's key), when
    /// there is one: the pages show the message beside it.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            CameraError::DeviceCode(_) | CameraError::Exists(_) => Some("device_code"),
            CameraError::Field(
                FieldError::Invalid { field, .. }
                | FieldError::Missing(field)
                | FieldError::OneCoordinate(field)
                | FieldError::Supervision(field),
            ) => Some(field),
            CameraError::NameCleared => Some(Field::Name.key()),
            _ => None,
        }
    }

    /// The refusal in Chinese, for the pages (from the catalogue, `app::zh`).
    pub fn chinese(&self) -> String {
        crate::app::zh::Zh::zh(self)
    }

    /// A store error of a write on `code` in `unit`'s ledger, typed where it is the camera's.
    pub(crate) fn of(e: StoreError, code: &DeviceCode, unit: &UnitCode) -> CameraError {
        match e {
            StoreError::Ledger(LedgerError::Exists(_)) => CameraError::Exists(code.clone()),
            StoreError::Ledger(LedgerError::NotFound(_)) => CameraError::NotFound {
                code: code.clone(),
                unit: unit.clone(),
            },
            StoreError::Field(e) => CameraError::Field(e),
            e => CameraError::Store(e),
        }
    }
}

/// What an edit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edited {
    /// Fields written (a field in conflict is written even with the value it shows).
    pub fields: usize,
    /// False when the document did not change at all.
    pub changed: bool,
}

/// Adds a camera record to this unit's ledger, with a filing event. Refused when a field is a
/// supervision field, the record breaks a rule spanning fields, or the code is already there.
pub async fn add(
    store: &Store,
    who: &str,
    code: DeviceCode,
    fields: Vec<(Field, Value)>,
) -> Result<Camera, CameraError> {
    if let Some((f, _)) = fields.iter().find(|(f, _)| f.is_supervision()) {
        return Err(FieldError::Supervision(f.key()).into());
    }
    let mut cam = Camera::new(code.clone());
    cam.fields.extend(fields);
    cam.validate()?;
    let unit = store.unit().clone();
    store
        .edit(
            &DocId::ledger(&unit),
            who,
            &format!("add camera {code}"),
            |d| {
                ledger::add_camera(d, &cam)?;
                ledger::append_event(d, "filing", code.as_str(), "", who)?;
                if let Some(kind) = ledger::state_event(None, cam.state()) {
                    ledger::append_event(d, kind, code.as_str(), "", who)?;
                }
                Ok(())
            },
        )
        .await
        .map_err(|e| CameraError::of(e, &code, &unit))?;
    Ok(cam)
}

/// Sets (`Some`) or clears (`None`) fields of a camera of this unit's ledger. The record as the
/// document holds it when the transaction starts, with the changes, must keep the rules that span
/// fields. A field in conflict is resolved by writing it; any other is written only when its
/// value changes.
pub async fn edit(
    store: &Store,
    who: &str,
    code: &DeviceCode,
    changes: &[(Field, Option<Value>)],
) -> Result<Edited, CameraError> {
    if changes.is_empty() {
        return Err(CameraError::NothingToChange);
    }
    if changes
        .iter()
        .any(|(f, v)| *f == Field::Name && v.is_none())
    {
        return Err(CameraError::NameCleared);
    }
    if let Some((f, _)) = changes.iter().find(|(f, _)| f.is_supervision()) {
        return Err(FieldError::Supervision(f.key()).into());
    }
    let unit = store.unit().clone();
    let (fields, w) = store
        .edit(
            &DocId::ledger(&unit),
            who,
            &format!("edit camera {code}"),
            |d| {
                let Some(now) = ledger::read_camera(d, code.as_str())? else {
                    return Err(LedgerError::NotFound(code.to_string()).into());
                };
                let before = now.camera.state();
                let mut next = now.camera;
                for (f, v) in changes {
                    match v {
                        Some(v) => next.fields.insert(*f, v.clone()),
                        None => next.fields.remove(f),
                    };
                }
                next.validate()?;
                let written = ledger::set_fields(d, code.as_str(), changes)?;
                if let Some(kind) = ledger::state_event(Some(before), next.state()) {
                    ledger::append_event(d, kind, code.as_str(), "", who)?;
                }
                Ok(written)
            },
        )
        .await
        .map_err(|e| CameraError::of(e, code, &unit))?;
    Ok(Edited {
        fields,
        changed: w.changed,
    })
}

/// Reports a camera of this unit removed (撤除: its state, and a removal event with `reason`),
/// or with `purge` deletes a record entered by mistake.
pub async fn remove(
    store: &Store,
    who: &str,
    code: &DeviceCode,
    reason: &str,
    purge: bool,
) -> Result<(), CameraError> {
    let unit = store.unit().clone();
    store
        .edit(
            &DocId::ledger(&unit),
            who,
            &format!("remove camera {code}"),
            |d| {
                if purge {
                    ledger::purge_camera(d, code.as_str())?;
                } else {
                    ledger::set_fields(
                        d,
                        code.as_str(),
                        &[(Field::State, Some(Value::Text("removed".into())))],
                    )?;
                    ledger::append_event(d, "removal", code.as_str(), reason, who)?;
                }
                Ok(())
            },
        )
        .await
        .map_err(|e| CameraError::of(e, code, &unit))?;
    Ok(())
}

/// Writes supervision fields of camera `code` of `child`'s ledger, held here (a supervising
/// level). Returns how many were written.
pub async fn supervise(
    store: &Store,
    who: &str,
    child: &UnitCode,
    code: &DeviceCode,
    changes: &[(Field, Option<Value>)],
) -> Result<usize, CameraError> {
    if child == store.unit() {
        return Err(CameraError::OwnUnit(child.clone()));
    }
    if changes.is_empty() {
        return Err(CameraError::NoSupervision);
    }
    let (n, _) = store
        .edit(
            &DocId::ledger(child),
            who,
            &format!("supervise camera {code} of {child}"),
            |d| {
                if ledger::read_camera(d, code.as_str())?.is_none() {
                    return Err(LedgerError::NotFound(code.to_string()).into());
                }
                Ok(ledger::set_fields(d, code.as_str(), changes)?)
            },
        )
        .await
        .map_err(|e| CameraError::of(e, code, child))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        crate::store::testing::hospital().await
    }

    fn code(n: u32) -> DeviceCode {
        DeviceCode::parse(&format!("500103120913200{n:05}")).unwrap()
    }

    fn text(s: &str) -> Option<Value> {
        Some(Value::Text(s.into()))
    }

    #[tokio::test]
    async fn each_use_case_refuses_with_a_typed_reason_and_changes_nothing() {
        let (_dir, s) = store().await;
        let name = vec![(Field::Name, Value::Text("门诊大厅".into()))];
        add(&s, "t", code(1), name.clone()).await.unwrap();
        let e = add(&s, "t", code(1), name).await.unwrap_err();
        assert!(matches!(e, CameraError::Exists(_)), "{e}");
        assert_eq!(e.field(), Some("device_code"));
        assert!(e.chinese().contains("已有"), "{}", e.chinese());
        let e = add(&s, "t", code(2), vec![]).await.unwrap_err();
        assert_eq!(e.field(), Some("name"));
        assert!(
            e.chinese().starts_with("点位名称必须填写"),
            "{}",
            e.chinese()
        );

        // An edit is checked against the record as the document holds it.
        let e = edit(
            &s,
            "t",
            &code(1),
            &[(Field::Longitude, Some(Value::Float(106.5)))],
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("together"), "{e}");
        let e = edit(&s, "t", &code(2), &[(Field::Name, text("x"))])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not in the ledger of 500103-0001"));
        assert!(matches!(
            edit(&s, "t", &code(1), &[]).await,
            Err(CameraError::NothingToChange)
        ));
        assert!(matches!(
            edit(&s, "t", &code(1), &[(Field::Name, None)]).await,
            Err(CameraError::NameCleared)
        ));
        let e = edit(&s, "t", &code(1), &[(Field::SupervisionNote, text("x"))])
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("supervision_note"));
        let row = s.camera("500103-0001", code(1).as_str()).await.unwrap();
        assert_eq!(row.unwrap().camera.fields.len(), 1, "nothing was written");

        let done = edit(&s, "t", &code(1), &[(Field::Address, text("一楼"))])
            .await
            .unwrap();
        assert_eq!(
            done,
            Edited {
                fields: 1,
                changed: true
            }
        );
        let again = edit(&s, "t", &code(1), &[(Field::Address, text("一楼"))])
            .await
            .unwrap();
        assert_eq!(
            again,
            Edited {
                fields: 0,
                changed: false
            }
        );

        remove(&s, "t", &code(1), "重复点位", false).await.unwrap();
        let row = s.camera("500103-0001", code(1).as_str()).await.unwrap();
        assert_eq!(row.unwrap().camera.state().as_str(), "removed");
        assert!(matches!(
            remove(&s, "t", &code(2), "", true).await,
            Err(CameraError::NotFound { .. })
        ));
        remove(&s, "t", &code(1), "", true).await.unwrap();
        assert!(
            s.camera("500103-0001", code(1).as_str())
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            supervise(&s, "t", s.unit(), &code(1), &[]).await,
            Err(CameraError::OwnUnit(_))
        ));
    }
}
