//! A camera record on the wire (`CameraRecord` of the `Reports` service): each field typed, the
//! values of fields in conflict, and any value that does not fit its field's type carried as it is,
//! so that a record read back is the record sent.

use std::collections::BTreeMap;

use yinglian_proto::v1 as pb;
use yinglian_proto::v1::field_value::Value as Scalar;

use crate::docs::ledger::CameraState;
use crate::domain::camera::{Area, Camera, CameraType, Field, State, Value};
use crate::domain::device_code::{DeviceCode, DeviceCodeError};

/// Where a field lives in the wire record, with its type.
enum Slot<'a> {
    Text(&'a mut Option<String>),
    Int(&'a mut Option<i64>),
    Float(&'a mut Option<f64>),
    Bool(&'a mut Option<bool>),
    CameraType(&'a mut Option<i32>),
    Area(&'a mut Option<i32>),
    State(&'a mut Option<i32>),
}

fn slot(r: &mut pb::CameraRecord, f: Field) -> Slot<'_> {
    match f {
        Field::Name => Slot::Text(&mut r.name),
        Field::Address => Slot::Text(&mut r.address),
        Field::CameraType => Slot::CameraType(&mut r.camera_type),
        Field::PointClass => Slot::Int(&mut r.point_class),
        Field::Area => Slot::Area(&mut r.area),
        Field::InstallDate => Slot::Text(&mut r.install_date),
        Field::Longitude => Slot::Float(&mut r.longitude),
        Field::Latitude => Slot::Float(&mut r.latitude),
        Field::MustNetwork => Slot::Bool(&mut r.must_network),
        Field::Networked => Slot::Bool(&mut r.networked),
        Field::State => Slot::State(&mut r.state),
        Field::Network => Slot::Text(&mut r.network),
        Field::Platform => Slot::Text(&mut r.platform),
        Field::Labels => Slot::Text(&mut r.labels),
        Field::Direction => Slot::Text(&mut r.direction),
        Field::FillLight => Slot::Text(&mut r.fill_light),
        Field::RecordDays => Slot::Int(&mut r.record_days),
        Field::NetworkedConfirmed => Slot::Bool(&mut r.networked_confirmed),
        Field::PointClassRuled => Slot::Int(&mut r.point_class_ruled),
        Field::SupervisionNote => Slot::Text(&mut r.supervision_note),
        Field::FilingAcknowledged => Slot::Bool(&mut r.filing_acknowledged),
        Field::RemovalAcknowledged => Slot::Bool(&mut r.removal_acknowledged),
    }
}

/// A text enum of the domain (stored as its identifier) and its wire enum.
trait Wire: Copy + 'static {
    const EVERY: &'static [Self];
    fn id(self) -> &'static str;
    fn wire(self) -> i32;

    /// The wire number of the identifier `t` exactly (`None`: any other text).
    fn number(t: &str) -> Option<i32> {
        Self::EVERY.iter().find(|e| e.id() == t).map(|e| e.wire())
    }

    /// The stored value of a wire number (`None`: unspecified, or unknown here).
    fn stored(n: i32) -> Option<Value> {
        Self::EVERY
            .iter()
            .find(|e| e.wire() == n)
            .map(|e| Value::Text(e.id().to_string()))
    }
}

impl Wire for CameraType {
    const EVERY: &'static [Self] = CameraType::ALL;
    fn id(self) -> &'static str {
        self.as_str()
    }
    fn wire(self) -> i32 {
        (match self {
            CameraType::Dome => pb::CameraType::Dome,
            CameraType::HalfDome => pb::CameraType::HalfDome,
            CameraType::FixedBullet => pb::CameraType::FixedBullet,
            CameraType::PtzBullet => pb::CameraType::PtzBullet,
            CameraType::PtzHalfDome => pb::CameraType::PtzHalfDome,
            CameraType::Other => pb::CameraType::Other,
        }) as i32
    }
}

impl Wire for Area {
    const EVERY: &'static [Self] = Area::ALL;
    fn id(self) -> &'static str {
        self.as_str()
    }
    fn wire(self) -> i32 {
        (match self {
            Area::KeyPublic => pb::Area::KeyPublic,
            Area::KeyIndustry => pb::Area::KeyIndustry,
            Area::Other => pb::Area::Other,
        }) as i32
    }
}

impl Wire for State {
    const EVERY: &'static [Self] = State::ALL;
    fn id(self) -> &'static str {
        self.as_str()
    }
    fn wire(self) -> i32 {
        (match self {
            State::InService => pb::State::InService,
            State::Faulty => pb::State::Faulty,
            State::Removed => pb::State::Removed,
        }) as i32
    }
}

/// Puts `v` in its typed place; false when it does not fit there.
fn put(slot: Slot<'_>, v: &Value) -> bool {
    match (slot, v) {
        (Slot::Text(s), Value::Text(t)) => *s = Some(t.clone()),
        (Slot::Int(s), Value::Int(n)) => *s = Some(*n),
        (Slot::Float(s), Value::Float(x)) => *s = Some(*x),
        (Slot::Bool(s), Value::Bool(b)) => *s = Some(*b),
        (Slot::CameraType(s), Value::Text(t)) if CameraType::number(t).is_some() => {
            *s = CameraType::number(t)
        }
        (Slot::Area(s), Value::Text(t)) if Area::number(t).is_some() => *s = Area::number(t),
        (Slot::State(s), Value::Text(t)) if State::number(t).is_some() => *s = State::number(t),
        _ => return false,
    }
    true
}

/// Takes the value out of its typed place.
fn take(slot: Slot<'_>) -> Option<Value> {
    match slot {
        Slot::Text(s) => s.take().map(Value::Text),
        Slot::Int(s) => s.take().map(Value::Int),
        Slot::Float(s) => s.take().map(Value::Float),
        Slot::Bool(s) => s.take().map(Value::Bool),
        Slot::CameraType(s) => s.take().and_then(CameraType::stored),
        Slot::Area(s) => s.take().and_then(Area::stored),
        Slot::State(s) => s.take().and_then(State::stored),
    }
}

fn scalar(v: &Value) -> pb::FieldValue {
    pb::FieldValue {
        value: Some(match v {
            Value::Bool(b) => Scalar::Flag(*b),
            Value::Int(n) => Scalar::Integer(*n),
            Value::Float(x) => Scalar::Decimal(*x),
            Value::Text(t) => Scalar::Text(t.clone()),
        }),
    }
}

fn value(v: pb::FieldValue) -> Option<Value> {
    Some(match v.value? {
        Scalar::Flag(b) => Value::Bool(b),
        Scalar::Integer(n) => Value::Int(n),
        Scalar::Decimal(x) => Value::Float(x),
        Scalar::Text(t) => Value::Text(t),
    })
}

fn field_values(f: Field, values: &[Value]) -> pb::FieldValues {
    pb::FieldValues {
        field: f.key().to_string(),
        values: values.iter().map(scalar).collect(),
    }
}

/// The field named exactly by `key` (`None`: a field of a newer schema, left out as the ledger's
/// readers leave it out).
fn field(key: &str) -> Option<Field> {
    Field::ALL.into_iter().find(|f| f.key() == key)
}

impl From<&CameraState> for pb::CameraRecord {
    fn from(c: &CameraState) -> Self {
        let mut r = pb::CameraRecord {
            device_code: c.camera.device_code.to_string(),
            ..Default::default()
        };
        for (f, v) in &c.camera.fields {
            if !put(slot(&mut r, *f), v) {
                r.mistyped.push(field_values(*f, std::slice::from_ref(v)));
            }
        }
        r.conflicts = c
            .conflicts
            .iter()
            .map(|(f, values)| field_values(*f, values))
            .collect();
        r
    }
}

impl TryFrom<pb::CameraRecord> for CameraState {
    type Error = DeviceCodeError;

    fn try_from(mut r: pb::CameraRecord) -> Result<Self, DeviceCodeError> {
        let mut camera = Camera::new(DeviceCode::parse(&r.device_code)?);
        for f in Field::ALL {
            if let Some(v) = take(slot(&mut r, f)) {
                camera.fields.insert(f, v);
            }
        }
        for m in std::mem::take(&mut r.mistyped) {
            if let Some(f) = field(&m.field)
                && let Some(v) = m.values.into_iter().next().and_then(value)
            {
                camera.fields.insert(f, v);
            }
        }
        let conflicts: BTreeMap<Field, Vec<Value>> = r
            .conflicts
            .into_iter()
            .filter_map(|c| {
                let values: Vec<Value> = c.values.into_iter().filter_map(value).collect();
                Some((field(&c.field)?, values))
            })
            .collect();
        Ok(CameraState { camera, conflicts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pairs: &[(Field, Value)]) -> CameraState {
        let mut camera = Camera::new(DeviceCode::parse("50010312091320000001").unwrap());
        camera.fields.extend(pairs.iter().cloned());
        CameraState {
            camera,
            conflicts: BTreeMap::new(),
        }
    }

    fn text(t: &str) -> Value {
        Value::Text(t.into())
    }

    #[test]
    fn every_field_travels_typed_and_comes_back_the_same() {
        let mut c = record(&[
            (Field::Name, text("门诊大厅")),
            (Field::Address, text("渝中区一号")),
            (Field::CameraType, text("half-dome")),
            (Field::PointClass, Value::Int(2)),
            (Field::Area, text("key-public")),
            (Field::InstallDate, text("2021-03-09")),
            (Field::Longitude, Value::Float(106.55)),
            (Field::Latitude, Value::Float(29.56)),
            (Field::MustNetwork, Value::Bool(true)),
            (Field::Networked, Value::Bool(false)),
            (Field::State, text("faulty")),
            (Field::Network, text("视频专网")),
            (Field::Platform, text("市级平台")),
            (Field::Labels, text("出入口")),
            (Field::Direction, text("东")),
            (Field::FillLight, text("红外")),
            (Field::RecordDays, Value::Int(90)),
            (Field::NetworkedConfirmed, Value::Bool(true)),
            (Field::PointClassRuled, Value::Int(1)),
            (Field::SupervisionNote, text("请补录经纬度")),
            (Field::FilingAcknowledged, Value::Bool(true)),
            (Field::RemovalAcknowledged, Value::Bool(false)),
        ]);
        assert_eq!(c.camera.fields.len(), Field::ALL.len(), "every field");
        c.conflicts
            .insert(Field::Name, vec![text("东门"), text("西门")]);
        let r = pb::CameraRecord::from(&c);
        assert_eq!(r.device_code, "50010312091320000001");
        assert_eq!(r.name.as_deref(), Some("门诊大厅"));
        assert_eq!(r.camera_type(), pb::CameraType::HalfDome);
        assert_eq!(r.area(), pb::Area::KeyPublic);
        assert_eq!(r.state(), pb::State::Faulty);
        assert_eq!((r.longitude, r.latitude), (Some(106.55), Some(29.56)));
        assert_eq!((r.point_class, r.point_class_ruled), (Some(2), Some(1)));
        assert_eq!(r.record_days, Some(90));
        assert_eq!(r.networked, Some(false));
        assert!(r.mistyped.is_empty(), "{:?}", r.mistyped);
        assert_eq!(r.conflicts.len(), 1);
        assert_eq!(r.conflicts[0].field, "name");
        let back = CameraState::try_from(r).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.to_json(), c.to_json());
    }

    #[test]
    fn a_value_that_does_not_fit_its_field_is_carried_as_it_is() {
        let c = record(&[
            (Field::Name, Value::Int(7)),
            (Field::Longitude, text("东经106度")),
            (Field::CameraType, text("fisheye")),
            (Field::State, text("在用")),
            (Field::Networked, text("是")),
        ]);
        let r = pb::CameraRecord::from(&c);
        assert_eq!(r.name, None);
        assert_eq!(r.camera_type, None);
        let mistyped: Vec<&str> = r.mistyped.iter().map(|m| m.field.as_str()).collect();
        assert_eq!(
            mistyped,
            ["name", "camera_type", "longitude", "networked", "state"]
        );
        let back = CameraState::try_from(r).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.to_json(), c.to_json());
    }

    #[test]
    fn a_record_without_a_device_code_is_refused() {
        let r = pb::CameraRecord {
            device_code: "not a code".into(),
            ..Default::default()
        };
        assert!(CameraState::try_from(r).is_err());
    }
}
