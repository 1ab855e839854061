//! The camera record (一机一档): its fields, their Chinese and English names, the rules every value
//! must pass, point-class rules, and what each record counts towards in the figures.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::domain::device_code::DeviceCode;

/// Why a value cannot be stored in a field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: Bad },
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("longitude and latitude must be given together (only {0} was given)")]
    OneCoordinate(&'static str),
    #[error("unknown field \"{0}\"")]
    Unknown(String),
    #[error("{0} is a supervision field: only a supervising level may write it")]
    Supervision(&'static str),
}

/// Why a value does not fit its field: typed, so that the pages can say it in Chinese
/// (`app::zh`) while the command line keeps these English texts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Bad {
    #[error("longer than 500 characters")]
    TooLong,
    /// Not one of a closed set (camera type, area, state).
    #[error("{}", choice_en(*.kind, .value))]
    Choice { kind: FieldKind, value: String },
    #[error("\"{0}\" is not a point class; use 1, 2 or 3 (一类, 二类, 三类)")]
    PointClass(String),
    #[error("\"{0}\" is not yes or no; use 是 or 否")]
    Bool(String),
    #[error("\"{0}\" is not a date; write it as 2021-03-09")]
    Date(String),
    #[error("\"{0}\" is not a plausible installation date")]
    DateRange(String),
    #[error("\"{0}\" is not a number in decimal degrees")]
    Number(String),
    #[error(
        "{value} is outside China (a {what} must lie between {lo} and {hi}, WGS-84 decimal degrees)"
    )]
    OutsideChina {
        value: f64,
        lo: f64,
        hi: f64,
        what: &'static str,
    },
    #[error("\"{0}\" is not a number of days from 0 to 3650")]
    Days(String),
}

impl Eq for Bad {}

fn choice_en(kind: FieldKind, value: &str) -> String {
    let e = match kind {
        FieldKind::CameraType => value.parse::<CameraType>().err(),
        FieldKind::Area => value.parse::<Area>().err(),
        _ => value.parse::<State>().err(),
    };
    e.unwrap_or_default()
}

/// How a field's value is typed and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    CameraType,
    PointClass,
    Area,
    Date,
    Longitude,
    Latitude,
    Bool,
    State,
    Days,
}

/// Every stored field of a camera record (the device code is the record's key, not a field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Name,
    Address,
    CameraType,
    PointClass,
    Area,
    InstallDate,
    Longitude,
    Latitude,
    MustNetwork,
    Networked,
    State,
    Network,
    Platform,
    Labels,
    Direction,
    FillLight,
    RecordDays,
    NetworkedConfirmed,
    PointClassRuled,
    SupervisionNote,
    FilingAcknowledged,
    RemovalAcknowledged,
}

impl Field {
    pub const ALL: [Field; 22] = [
        Field::Name,
        Field::Address,
        Field::CameraType,
        Field::PointClass,
        Field::Area,
        Field::InstallDate,
        Field::Longitude,
        Field::Latitude,
        Field::MustNetwork,
        Field::Networked,
        Field::State,
        Field::Network,
        Field::Platform,
        Field::Labels,
        Field::Direction,
        Field::FillLight,
        Field::RecordDays,
        Field::NetworkedConfirmed,
        Field::PointClassRuled,
        Field::SupervisionNote,
        Field::FilingAcknowledged,
        Field::RemovalAcknowledged,
    ];

    /// Fields that an archive (建档) needs present and valid.
    pub const ARCHIVE: [Field; 5] = [
        Field::Address,
        Field::CameraType,
        Field::PointClass,
        Field::Area,
        Field::InstallDate,
    ];

    /// The English identifier, used in the documents, JSON and CSV headers.
    pub fn key(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Address => "address",
            Field::CameraType => "camera_type",
            Field::PointClass => "point_class",
            Field::Area => "area",
            Field::InstallDate => "install_date",
            Field::Longitude => "longitude",
            Field::Latitude => "latitude",
            Field::MustNetwork => "must_network",
            Field::Networked => "networked",
            Field::State => "state",
            Field::Network => "network",
            Field::Platform => "platform",
            Field::Labels => "labels",
            Field::Direction => "direction",
            Field::FillLight => "fill_light",
            Field::RecordDays => "record_days",
            Field::NetworkedConfirmed => "networked_confirmed",
            Field::PointClassRuled => "point_class_ruled",
            Field::SupervisionNote => "supervision_note",
            Field::FilingAcknowledged => "filing_acknowledged",
            Field::RemovalAcknowledged => "removal_acknowledged",
        }
    }

    /// The Chinese column header of the import sheet and the exports.
    pub fn chinese(self) -> &'static str {
        match self {
            Field::Name => "点位名称",
            Field::Address => "安装地址",
            Field::CameraType => "摄像机类型",
            Field::PointClass => "点位类别",
            Field::Area => "区域类别",
            Field::InstallDate => "安装时间",
            Field::Longitude => "经度",
            Field::Latitude => "纬度",
            Field::MustNetwork => "是否应联网",
            Field::Networked => "是否已联网",
            Field::State => "设备状态",
            Field::Network => "传输网络",
            Field::Platform => "接入平台",
            Field::Labels => "标签",
            Field::Direction => "监视方位",
            Field::FillLight => "补光属性",
            Field::RecordDays => "录像保存天数",
            Field::NetworkedConfirmed => "联网确认",
            Field::PointClassRuled => "核定点位类别",
            Field::SupervisionNote => "督导意见",
            Field::FilingAcknowledged => "备案确认",
            Field::RemovalAcknowledged => "撤除确认",
        }
    }

    pub fn kind(self) -> FieldKind {
        match self {
            Field::CameraType => FieldKind::CameraType,
            Field::PointClass | Field::PointClassRuled => FieldKind::PointClass,
            Field::Area => FieldKind::Area,
            Field::InstallDate => FieldKind::Date,
            Field::Longitude => FieldKind::Longitude,
            Field::Latitude => FieldKind::Latitude,
            Field::MustNetwork
            | Field::Networked
            | Field::NetworkedConfirmed
            | Field::FilingAcknowledged
            | Field::RemovalAcknowledged => FieldKind::Bool,
            Field::State => FieldKind::State,
            Field::RecordDays => FieldKind::Days,
            _ => FieldKind::Text,
        }
    }

    /// Supervision fields are written by the supervising levels (ancestors), not by the owner.
    pub fn is_supervision(self) -> bool {
        matches!(
            self,
            Field::NetworkedConfirmed
                | Field::PointClassRuled
                | Field::SupervisionNote
                | Field::FilingAcknowledged
                | Field::RemovalAcknowledged
        )
    }

    /// Finds a field by its English key or its Chinese header (as found in real sheets).
    pub fn lookup(name: &str) -> Option<Field> {
        let n = name.trim().trim_start_matches('\u{feff}').trim();
        let lower = n.to_ascii_lowercase().replace([' ', '-'], "_");
        Field::ALL.into_iter().find(|f| {
            f.key() == lower
                || f.chinese() == n
                || f.aliases().iter().any(|a| *a == n || *a == lower)
        })
    }

    fn aliases(self) -> &'static [&'static str] {
        match self {
            Field::Name => &["点位", "监控点位名称", "摄像机名称", "point_name"],
            Field::Address => &["地址", "安装位置", "位置", "location"],
            Field::CameraType => &["摄像机类型", "设备类型", "type"],
            Field::PointClass => &["点位分类", "监控点类别", "class"],
            Field::Area => &["区域", "区域类型", "区域分类"],
            Field::InstallDate => &["安装日期", "建设时间"],
            Field::Longitude => &["lon", "lng"],
            Field::Latitude => &["lat"],
            Field::MustNetwork => &["应联网", "是否应联网整合"],
            Field::Networked => &["已联网", "是否联网", "是否已联网整合"],
            Field::State => &["状态", "工作状态"],
            Field::Network => &["网络"],
            Field::Platform => &["平台", "所属平台"],
            Field::Labels => &["标签信息"],
            Field::Direction => &["方位", "监视方向"],
            Field::FillLight => &["补光"],
            Field::RecordDays => &["存储天数", "录像天数"],
            _ => &[],
        }
    }

    /// Checks and normalises a typed-in or imported value. An empty text means "no value".
    pub fn parse_value(self, text: &str) -> Result<Option<Value>, FieldError> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(None);
        }
        let bad = |reason: Bad| FieldError::Invalid {
            field: self.key(),
            reason,
        };
        let choice = |kind| {
            bad(Bad::Choice {
                kind,
                value: t.to_string(),
            })
        };
        let v = match self.kind() {
            FieldKind::Text => {
                if t.chars().count() > 500 {
                    return Err(bad(Bad::TooLong));
                }
                Value::Text(t.to_string())
            }
            FieldKind::CameraType => Value::Text(
                t.parse::<CameraType>()
                    .map_err(|_| choice(FieldKind::CameraType))?
                    .as_str()
                    .into(),
            ),
            FieldKind::PointClass => Value::Int(
                t.parse::<PointClass>()
                    .map_err(|_| bad(Bad::PointClass(t.into())))? as i64,
            ),
            FieldKind::Area => Value::Text(
                t.parse::<Area>()
                    .map_err(|_| choice(FieldKind::Area))?
                    .as_str()
                    .into(),
            ),
            FieldKind::State => Value::Text(
                t.parse::<State>()
                    .map_err(|_| choice(FieldKind::State))?
                    .as_str()
                    .into(),
            ),
            FieldKind::Date => Value::Text(date(t).map_err(bad)?.to_string()),
            FieldKind::Longitude => {
                Value::Float(parse_coordinate(t, 73.4, 135.1, "longitude").map_err(bad)?)
            }
            FieldKind::Latitude => {
                Value::Float(parse_coordinate(t, 3.8, 53.6, "latitude").map_err(bad)?)
            }
            FieldKind::Bool => Value::Bool(parse_bool(t).ok_or_else(|| bad(Bad::Bool(t.into())))?),
            FieldKind::Days => {
                let n = parse_whole(t)
                    .filter(|n| (0..=3650).contains(n))
                    .ok_or_else(|| bad(Bad::Days(t.into())))?;
                Value::Int(n)
            }
        };
        Ok(Some(v))
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A stored field value, as it lives in the Automerge document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

/// Read as the untagged form is written (a whole number that fits an `i64` an `Int`, any other
/// number a `Float`), but by the value's own type: serde's untagged enums try each variant in
/// turn and format an error for each that fails — most of the time of reading a record.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field value: a boolean, a number or a text")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
                Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Text(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Value, E> {
                Ok(Value::Text(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(true) => f.write_str("是"),
            Value::Bool(false) => f.write_str("否"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => f.write_str(s),
        }
    }
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident, $what:literal, $( $variant:ident = $id:literal, $zh:literal $(| $alias:literal)* ;)+ ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $( #[serde(rename = $id)] $variant, )+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $id,)+ } }
            pub fn chinese(self) -> &'static str { match self { $($name::$variant => $zh,)+ } }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let t = s.trim();
                $( if t == $id || t == $zh $(|| t == $alias)* { return Ok($name::$variant); } )+
                // Said in Chinese: a command-line option's value is parsed here (`$what` names
                // the kind in the code).
                let _ = $what;
                Err(format!(
                    "“{}”不是可选的值，请从以下选择：{}",
                    t,
                    [$(concat!($zh, "（", $id, "）")),+].join("、")
                ))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.chinese()) }
        }
    };
}

text_enum!(
    /// 摄像机类型.
    CameraType, "camera type",
    Dome = "dome", "球机" | "球型" | "球形摄像机";
    HalfDome = "half-dome", "半球" | "半球机";
    FixedBullet = "fixed-bullet", "固定枪机" | "枪机";
    PtzBullet = "ptz-bullet", "遥控枪机";
    PtzHalfDome = "ptz-half-dome", "遥控半球";
    Other = "other", "其他" | "其它";
);

text_enum!(
    /// 区域类别: the availability targets differ by area.
    Area, "area",
    KeyPublic = "key-public", "重点公共区域";
    KeyIndustry = "key-industry", "重点行业领域公共区域" | "重点行业领域";
    Other = "other", "其他" | "其它";
);

text_enum!(
    /// 设备状态: the maintenance state kept in the ledger (not per-probe telemetry).
    State, "device state",
    InService = "in-service", "在用" | "正常";
    Faulty = "faulty", "故障";
    Removed = "removed", "已撤除" | "撤除";
);

/// 点位类别: class 1 and 2 must be networked; class 3 on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PointClass {
    One = 1,
    Two = 2,
    Three = 3,
}

impl PointClass {
    pub fn from_int(n: i64) -> Option<PointClass> {
        match n {
            1 => Some(PointClass::One),
            2 => Some(PointClass::Two),
            3 => Some(PointClass::Three),
            _ => None,
        }
    }

    /// Whether a point of this class must be networked when the record does not say.
    pub fn must_network_by_default(self) -> bool {
        matches!(self, PointClass::One | PointClass::Two)
    }

    pub fn chinese(self) -> &'static str {
        match self {
            PointClass::One => "一类",
            PointClass::Two => "二类",
            PointClass::Three => "三类",
        }
    }
}

impl FromStr for PointClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s
            .trim()
            .trim_end_matches("视频监控点")
            .trim_end_matches("点位");
        let n = match t {
            "1" | "一" | "一类" | "1类" | "I" => 1,
            "2" | "二" | "二类" | "2类" | "II" => 2,
            "3" | "三" | "三类" | "3类" | "III" => 3,
            _ => parse_whole(t).unwrap_or(0),
        };
        PointClass::from_int(n).ok_or_else(|| {
            format!(
                "\"{}\" is not a point class; use 1, 2 or 3 (一类, 二类, 三类)",
                s.trim()
            )
        })
    }
}

fn parse_whole(t: &str) -> Option<i64> {
    if let Ok(n) = t.parse::<i64>() {
        return Some(n);
    }
    // Spreadsheets often hand whole numbers over as "3.0".
    let x: f64 = t.parse().ok()?;
    (x.fract() == 0.0 && x.abs() < 1e15).then_some(x as i64)
}

fn parse_bool(t: &str) -> Option<bool> {
    match t.to_lowercase().as_str() {
        "是" | "y" | "yes" | "true" | "1" | "√" | "✓" | "已联网" | "应联网" => {
            Some(true)
        }
        "否" | "n" | "no" | "false" | "0" | "×" | "✗" | "未联网" | "不应联网" => {
            Some(false)
        }
        _ => None,
    }
}

/// Parses the date forms Chinese offices type: 2021-03-09, 2021/3/9, 2021.3.9, 2021年3月9日, 20210309.
pub fn parse_date(t: &str) -> Result<NaiveDate, String> {
    date(t).map_err(|e| e.to_string())
}

fn date(t: &str) -> Result<NaiveDate, Bad> {
    let norm: String = t
        .trim()
        .replace(['年', '月', '/', '.'], "-")
        .replace('日', "");
    let d = NaiveDate::parse_from_str(&norm, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(t.trim(), "%Y%m%d"))
        .map_err(|_| Bad::Date(t.to_string()))?;
    if !(1990..=2100).contains(&d.year()) {
        return Err(Bad::DateRange(t.to_string()));
    }
    Ok(d)
}

fn parse_coordinate(t: &str, lo: f64, hi: f64, what: &'static str) -> Result<f64, Bad> {
    let x: f64 = t.parse().map_err(|_| Bad::Number(t.to_string()))?;
    if !x.is_finite() || x < lo || x > hi {
        return Err(Bad::OutsideChina {
            value: x,
            lo,
            hi,
            what,
        });
    }
    Ok(x)
}

/// One camera record: its device code and the fields present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Camera {
    pub device_code: DeviceCode,
    #[serde(flatten)]
    pub fields: BTreeMap<Field, Value>,
}

impl Camera {
    pub fn new(device_code: DeviceCode) -> Self {
        Camera {
            device_code,
            fields: BTreeMap::new(),
        }
    }

    pub fn get(&self, f: Field) -> Option<&Value> {
        self.fields.get(&f)
    }

    pub fn text(&self, f: Field) -> Option<&str> {
        match self.fields.get(&f) {
            Some(Value::Text(s)) => Some(s),
            _ => None,
        }
    }

    fn flag(&self, f: Field) -> Option<bool> {
        match self.fields.get(&f) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    fn float(&self, f: Field) -> Option<f64> {
        match self.fields.get(&f) {
            Some(Value::Float(x)) => Some(*x),
            Some(Value::Int(n)) => Some(*n as f64),
            _ => None,
        }
    }

    pub fn name(&self) -> &str {
        self.text(Field::Name).unwrap_or("")
    }

    pub fn point_class_declared(&self) -> Option<PointClass> {
        match self.fields.get(&Field::PointClass) {
            Some(Value::Int(n)) => PointClass::from_int(*n),
            _ => None,
        }
    }

    /// The point class that counts: as ruled by a supervising level, else as declared.
    pub fn point_class(&self) -> Option<PointClass> {
        match self.fields.get(&Field::PointClassRuled) {
            Some(Value::Int(n)) => PointClass::from_int(*n),
            _ => None,
        }
        .or_else(|| self.point_class_declared())
    }

    pub fn area(&self) -> Option<Area> {
        self.text(Field::Area).and_then(|s| s.parse().ok())
    }

    pub fn camera_type(&self) -> Option<CameraType> {
        self.text(Field::CameraType).and_then(|s| s.parse().ok())
    }

    /// Absent means in service.
    pub fn state(&self) -> State {
        self.text(Field::State)
            .and_then(|s| s.parse().ok())
            .unwrap_or(State::InService)
    }

    pub fn coordinates(&self) -> Option<(f64, f64)> {
        Some((self.float(Field::Longitude)?, self.float(Field::Latitude)?))
    }

    /// Absent means not networked.
    pub fn is_networked(&self) -> bool {
        self.flag(Field::Networked).unwrap_or(false)
    }

    /// Built: not removed.
    pub fn is_built(&self) -> bool {
        self.state() != State::Removed
    }

    /// Must be networked: as recorded; when absent, class 1 and 2 yes, otherwise no. A camera that
    /// is networked counts as required too (networking on demand makes it required).
    pub fn must_network(&self) -> bool {
        let declared = self.flag(Field::MustNetwork).unwrap_or_else(|| {
            self.point_class()
                .is_some_and(|c| c.must_network_by_default())
        });
        declared || self.is_networked()
    }

    /// Archived (建档): every archive field present and valid.
    pub fn is_archived(&self) -> bool {
        self.text(Field::Address).is_some_and(|s| !s.is_empty())
            && self.camera_type().is_some()
            && self.point_class().is_some()
            && self.area().is_some()
            && self
                .text(Field::InstallDate)
                .is_some_and(|d| parse_date(d).is_ok())
    }

    pub fn is_geo_tagged(&self) -> bool {
        self.coordinates().is_some()
    }

    /// Checks the rules that span fields: a name, and both coordinates or neither.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.name().trim().is_empty() {
            return Err(FieldError::Missing("name"));
        }
        match (
            self.fields.contains_key(&Field::Longitude),
            self.fields.contains_key(&Field::Latitude),
        ) {
            (true, false) => Err(FieldError::OneCoordinate("longitude")),
            (false, true) => Err(FieldError::OneCoordinate("latitude")),
            _ => Ok(()),
        }
    }

    /// The record as JSON with English keys, typed values and the derived figures flags.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("device_code".into(), self.device_code.as_str().into());
        for (f, v) in &self.fields {
            m.insert(f.key().into(), serde_json::to_value(v).unwrap_or_default());
        }
        serde_json::Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam(pairs: &[(Field, &str)]) -> Camera {
        let mut c = Camera::new(DeviceCode::parse("50010312091320000001").unwrap());
        for (f, v) in pairs {
            if let Some(v) = f.parse_value(v).unwrap() {
                c.fields.insert(*f, v);
            }
        }
        c
    }

    #[test]
    fn values_read_back_as_written_and_nothing_else_is_a_value() {
        let values = [
            Value::Bool(true),
            Value::Int(-3),
            Value::Int(i64::MAX),
            Value::Float(106.55),
            Value::Float(2.0),
            Value::Text("门诊大厅".into()),
            Value::Text("12".into()),
        ];
        for v in values {
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), v, "{json}");
        }
        // Past an i64: a number still, as the untagged form read it.
        assert_eq!(
            serde_json::from_str::<Value>("18446744073709551615").unwrap(),
            Value::Float(u64::MAX as f64)
        );
        for bad in ["null", "[1]", "{\"a\":1}"] {
            assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad}");
        }
        let c = cam(&[(Field::Name, "门诊大厅"), (Field::PointClass, "一类")]);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Camera>(&json).unwrap(), c);
    }

    #[test]
    fn point_class_rules() {
        let c1 = cam(&[(Field::Name, "门诊大厅"), (Field::PointClass, "一类")]);
        assert!(c1.must_network());
        let c2 = cam(&[(Field::Name, "x"), (Field::PointClass, "2")]);
        assert!(c2.must_network());
        let c3 = cam(&[(Field::Name, "x"), (Field::PointClass, "三类")]);
        assert!(!c3.must_network(), "class 3 is networked on demand");
        let c3n = cam(&[
            (Field::Name, "x"),
            (Field::PointClass, "3"),
            (Field::Networked, "是"),
        ]);
        assert!(
            c3n.must_network(),
            "a networked class 3 point counts as required"
        );
        let c1no = cam(&[
            (Field::Name, "x"),
            (Field::PointClass, "1"),
            (Field::MustNetwork, "否"),
        ]);
        assert!(
            !c1no.must_network(),
            "an explicit answer wins over the class default"
        );
        let ruled = cam(&[
            (Field::Name, "x"),
            (Field::PointClass, "3"),
            (Field::PointClassRuled, "1"),
        ]);
        assert_eq!(ruled.point_class(), Some(PointClass::One));
        assert!(
            ruled.must_network(),
            "the class ruled by the district counts"
        );
    }

    #[test]
    fn values_are_checked() {
        assert!(Field::Longitude.parse_value("200").is_err());
        assert!(Field::Latitude.parse_value("-10").is_err());
        assert_eq!(
            Field::Longitude.parse_value("106.55").unwrap(),
            Some(Value::Float(106.55))
        );
        assert!(Field::PointClass.parse_value("4").is_err());
        assert_eq!(
            Field::PointClass.parse_value("3.0").unwrap(),
            Some(Value::Int(3))
        );
        assert!(Field::CameraType.parse_value("鱼眼").is_err());
        assert_eq!(
            Field::CameraType.parse_value("球机").unwrap(),
            Some(Value::Text("dome".into()))
        );
        assert_eq!(
            Field::InstallDate.parse_value("2021年3月9日").unwrap(),
            Some(Value::Text("2021-03-09".into()))
        );
        assert!(Field::InstallDate.parse_value("昨天").is_err());
        assert!(Field::Networked.parse_value("也许").is_err());
        assert_eq!(Field::Name.parse_value("  ").unwrap(), None);
        assert_eq!(Field::lookup("设备状态"), Some(Field::State));
        assert_eq!(Field::lookup("Point Class"), Some(Field::PointClass));
        assert_eq!(Field::lookup("\u{feff}点位名称"), Some(Field::Name));
    }

    #[test]
    fn record_rules() {
        let c = cam(&[(Field::Name, "x"), (Field::Longitude, "106.5")]);
        assert_eq!(c.validate(), Err(FieldError::OneCoordinate("longitude")));
        let c = cam(&[(Field::Address, "x")]);
        assert_eq!(c.validate(), Err(FieldError::Missing("name")));
        let full = cam(&[
            (Field::Name, "x"),
            (Field::Address, "渝中区"),
            (Field::CameraType, "半球"),
            (Field::PointClass, "2"),
            (Field::Area, "重点公共区域"),
            (Field::InstallDate, "2020-01-02"),
        ]);
        assert!(full.is_archived());
        let removed = cam(&[(Field::Name, "x"), (Field::State, "已撤除")]);
        assert!(!removed.is_built());
    }
}
