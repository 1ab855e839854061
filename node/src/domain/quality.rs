//! Data quality (数据质量核查): the rules the city publishes with the campaign — as data, each with
//! a Chinese name, a severity, an explanation and its parameters — the district-level units'
//! areas (divisions and bounding boxes, `node/data/district-areas.csv`), and the pure checks that
//! find the cameras breaking a rule. No I/O: the callers bring the records.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::camera::{Camera, PointClass, State};
use crate::domain::campaign::{Campaign, Figure};
use crate::domain::unit::UnitCode;

/// What a rule checks. A new rule of an existing check (another threshold, another deadline)
/// needs no code: it is a row of the published rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The same device code at two units (within a district, or across districts).
    DuplicateCode,
    /// The code's administrative division (digits 1–6) outside the unit's district.
    DivisionOutside,
    /// Coordinates outside the unit's district's box.
    OutsideArea,
    /// Coordinates more than `km` from the middle of the unit's other cameras.
    FarFromOthers,
    /// Networked but not archived.
    NetworkedNotArchived,
    /// Networked but without coordinates.
    NetworkedNotGeoTagged,
    /// Class 1 or 2, not networked, after the date `after` (by default the deadline of the
    /// campaign's milestone of networking every camera).
    KeyClassNotNetworked,
    /// Removed but still marked networked.
    RemovedButNetworked,
    /// Faulty for more than `days` days.
    FaultyTooLong,
}

impl Check {
    pub const ALL: [Check; 9] = [
        Check::DuplicateCode,
        Check::DivisionOutside,
        Check::OutsideArea,
        Check::FarFromOthers,
        Check::NetworkedNotArchived,
        Check::NetworkedNotGeoTagged,
        Check::KeyClassNotNetworked,
        Check::RemovedButNetworked,
        Check::FaultyTooLong,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Check::DuplicateCode => "duplicate-code",
            Check::DivisionOutside => "division-outside",
            Check::OutsideArea => "outside-area",
            Check::FarFromOthers => "far-from-others",
            Check::NetworkedNotArchived => "networked-not-archived",
            Check::NetworkedNotGeoTagged => "networked-not-geo-tagged",
            Check::KeyClassNotNetworked => "key-class-not-networked",
            Check::RemovedButNetworked => "removed-but-networked",
            Check::FaultyTooLong => "faulty-too-long",
        }
    }

    pub fn parse(key: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|c| c.key() == key)
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// 错误: the record is wrong and must be fixed.
    Error,
    /// 提示: worth a look; may be right.
    Warning,
}

impl Severity {
    pub fn key(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }

    pub fn parse(key: &str) -> Option<Severity> {
        [Severity::Error, Severity::Warning]
            .into_iter()
            .find(|s| s.key() == key)
    }

    pub fn chinese(self) -> &'static str {
        match self {
            Severity::Error => "错误",
            Severity::Warning => "提示",
        }
    }
}

/// One published rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Stable identifier (`dup-code`, `faulty-30d` …), unique in the set.
    pub id: String,
    pub check: Check,
    /// 规则名称, as the clerk reads it.
    pub name: String,
    pub severity: Severity,
    /// 说明: why it matters and how to fix it.
    pub explanation: String,
    /// Distance, for [`Check::FarFromOthers`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub km: Option<f64>,
    /// Days, for [`Check::FaultyTooLong`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    /// Date after which the rule applies, for [`Check::KeyClassNotNetworked`]; absent, the
    /// campaign's deadline for networking every camera ([`RuleSet::resolved`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<NaiveDate>,
}

/// Why a published rule cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("rule {0}: the id appears twice")]
    Duplicate(String),
    #[error("rule {id}: {check} needs the parameter {param}")]
    Missing {
        id: String,
        check: &'static str,
        param: &'static str,
    },
    #[error("rule {0}: a name and an explanation are required")]
    Text(String),
}

/// The rules a unit checks its records against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
}

impl RuleSet {
    /// The rules the seed's campaign implies (its 100% archive and geo demands for networked
    /// cameras, class 1 and 2 networked by 2022-06-30) and the inventory's purpose, a clean
    /// catalogue for the police platform.
    pub fn seed() -> RuleSet {
        let rule = |id: &str, check, severity, name: &str, explanation: &str| Rule {
            id: id.into(),
            check,
            name: name.into(),
            severity,
            explanation: explanation.into(),
            km: None,
            days: None,
            after: None,
        };
        RuleSet {
            rules: vec![
                rule(
                    "dup-code",
                    Check::DuplicateCode,
                    Severity::Error,
                    "设备编码重复",
                    "同一设备编码登记在两个单位。公安视频平台以设备编码识别摄像机，重复的编码会被拒收或混淆。请核对设备铭牌上的编码，由登记错误的一方改正。",
                ),
                rule(
                    "division",
                    Check::DivisionOutside,
                    Severity::Warning,
                    "编码行政区划与所在区县不符",
                    "设备编码前六位是行政区划代码，应与本单位所在区县一致。请核对编码是否抄错，或设备是否登记到了错误的单位。",
                ),
                rule(
                    "outside-area",
                    Check::OutsideArea,
                    Severity::Error,
                    "坐标超出所在区县",
                    "经纬度落在本单位所在区县的范围之外。常见原因：经度和纬度填反、少填了小数位、使用了度分秒而不是十进制度。",
                ),
                Rule {
                    km: Some(5.0),
                    ..rule(
                        "far",
                        Check::FarFromOthers,
                        Severity::Warning,
                        "坐标远离本单位其他点位",
                        "这台摄像机离本单位其他摄像机的中心很远。若设备确实装在院外（分院、宿舍），可不处理；否则请核对经纬度。",
                    )
                },
                rule(
                    "networked-archive",
                    Check::NetworkedNotArchived,
                    Severity::Error,
                    "已联网未建档",
                    "已联网的摄像机须100%建档（一机一档）：安装位置、设备类型、点位类别、区域、安装日期都要填写。",
                ),
                rule(
                    "networked-geo",
                    Check::NetworkedNotGeoTagged,
                    Severity::Error,
                    "已联网未标注坐标",
                    "已联网的摄像机须100%标注经纬度，公安视频平台按坐标在地图上显示点位。",
                ),
                rule(
                    "key-class",
                    Check::KeyClassNotNetworked,
                    Severity::Error,
                    "一、二类点位逾期未联网",
                    "一类、二类点位应在工作方案规定的全部联网截止日期前接入公安视频平台。",
                ),
                rule(
                    "removed-networked",
                    Check::RemovedButNetworked,
                    Severity::Error,
                    "已撤除仍标为联网",
                    "设备已撤除，却仍标为已联网。请改为未联网，或核对设备是否确已撤除。",
                ),
                Rule {
                    days: Some(30),
                    ..rule(
                        "faulty-30d",
                        Check::FaultyTooLong,
                        Severity::Warning,
                        "故障超期未恢复",
                        "设备报故障已超过规定天数仍未恢复，影响完好率。请安排维修，修复后把设备状态改回在用。",
                    )
                },
            ],
        }
    }

    /// Checks that every rule can be used: unique ids, its parameters present, texts given.
    pub fn validate(&self) -> Result<(), RuleError> {
        let mut seen = std::collections::HashSet::new();
        for r in &self.rules {
            if !seen.insert(r.id.as_str()) {
                return Err(RuleError::Duplicate(r.id.clone()));
            }
            if r.name.trim().is_empty() || r.explanation.trim().is_empty() {
                return Err(RuleError::Text(r.id.clone()));
            }
            let missing = |param| RuleError::Missing {
                id: r.id.clone(),
                check: r.check.key(),
                param,
            };
            match r.check {
                Check::FarFromOthers if r.km.is_none() => return Err(missing("km")),
                Check::FaultyTooLong if r.days.is_none() => return Err(missing("days")),
                _ => {}
            }
        }
        Ok(())
    }

    /// The rules with their defaults filled from the campaign: a deadline rule without its own
    /// date takes the deadline of the campaign's milestone of networking every camera (none
    /// before a campaign has one: the rule then finds nothing).
    pub fn resolved(mut self, campaign: Option<&Campaign>) -> RuleSet {
        let all_networked = campaign.and_then(|c| {
            c.milestones
                .iter()
                .filter(|m| m.figure == Figure::NetworkingRate && m.target >= 100.0)
                .map(|m| m.deadline)
                .max()
        });
        for r in &mut self.rules {
            if r.check == Check::KeyClassNotNetworked && r.after.is_none() {
                r.after = all_networked;
            }
        }
        self
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

/// A district-level unit's area: the divisions its device codes may carry and its box.
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    pub code: String,
    pub name: String,
    pub divisions: Vec<String>,
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

impl Area {
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        (self.min_lon..=self.max_lon).contains(&lon) && (self.min_lat..=self.max_lat).contains(&lat)
    }
}

/// The project's areas of the city's 41 district-level units.
pub fn areas() -> &'static [Area] {
    static AREAS: OnceLock<Vec<Area>> = OnceLock::new();
    AREAS.get_or_init(|| {
        let text = include_str!("../../data/district-areas.csv");
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let mut rd = csv::Reader::from_reader(body.as_bytes());
        rd.records()
            .map(|r| {
                let r = r.expect("district-areas.csv: a well-formed row");
                let num = |i: usize| -> f64 { r[i].parse().expect("district-areas.csv: a number") };
                Area {
                    code: r[0].to_string(),
                    name: r[1].to_string(),
                    divisions: r[2].split_whitespace().map(str::to_string).collect(),
                    min_lon: num(3),
                    min_lat: num(4),
                    max_lon: num(5),
                    max_lat: num(6),
                }
            })
            .collect()
    })
}

/// The area of the district-level unit `unit` belongs to (its code's first part), if known.
pub fn area_of(unit: &UnitCode) -> Option<&'static Area> {
    let district = unit.as_str().split('-').next()?;
    areas().iter().find(|a| a.code == district)
}

/// One camera as the checks see it.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub unit: &'a UnitCode,
    pub camera: &'a Camera,
    /// Since when it has been faulty, when it is (the last 故障 event).
    pub faulty_since: Option<NaiveDate>,
}

/// A camera breaking a rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule: String,
    pub check: Check,
    pub severity: Severity,
    pub unit: String,
    pub device_code: String,
    pub camera_name: String,
    /// What exactly is wrong with this record, in Chinese.
    pub detail: String,
}

/// How many findings, by severity: one unit's, or a subtree's (they add up, like the counts of
/// the figures, and travel in the rollups and the feed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub errors: u64,
    pub warnings: u64,
}

impl Tally {
    pub fn total(&self) -> u64 {
        self.errors + self.warnings
    }

    pub fn add(&mut self, o: &Tally) {
        self.errors += o.errors;
        self.warnings += o.warnings;
    }

    /// Counts one finding of this severity.
    pub fn count(&mut self, s: Severity) {
        match s {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
        }
    }
}

/// Distance in kilometres between two WGS-84 points (haversine).
pub fn km_between(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lon1, lat1) = (a.0.to_radians(), a.1.to_radians());
    let (lon2, lat2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Checks the records seen here against the rules: every finding, in the order of the rules,
/// then unit and device code. Duplicates are those among `subjects` (a district sees its
/// units'; a cross-district duplicate is found through [`code_key`]).
pub fn check(rules: &RuleSet, subjects: &[Subject], today: NaiveDate) -> Vec<Finding> {
    let mut out = Vec::new();
    // Device code → the units holding it.
    // A removed camera's code is free again: it may be registered at another unit (moved).
    let mut holders: HashMap<&str, Vec<&str>> = HashMap::new();
    for s in subjects
        .iter()
        .filter(|s| s.camera.state() != State::Removed)
    {
        holders
            .entry(s.camera.device_code.as_str())
            .or_default()
            .push(s.unit.as_str());
    }
    // Each unit's middle point (the median of its geo-tagged cameras), for `far-from-others`.
    let mut points: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for s in subjects {
        if let Some(p) = s.camera.coordinates() {
            points.entry(s.unit.as_str()).or_default().push(p);
        }
    }
    let middles: BTreeMap<&str, (f64, f64)> = points
        .iter()
        .filter(|(_, p)| p.len() >= 3)
        .map(|(u, p)| {
            (
                *u,
                (
                    median(p.iter().map(|x| x.0).collect()),
                    median(p.iter().map(|x| x.1).collect()),
                ),
            )
        })
        .collect();
    for rule in &rules.rules {
        for s in subjects {
            let c = s.camera;
            let detail = match rule.check {
                Check::DuplicateCode => {
                    let others: Vec<&str> = holders
                        .get(c.device_code.as_str())
                        .filter(|_| c.state() != State::Removed)
                        .into_iter()
                        .flatten()
                        .copied()
                        .filter(|u| *u != s.unit.as_str())
                        .collect();
                    (!others.is_empty()).then(|| format!("同一编码也登记在：{}", others.join("、")))
                }
                Check::DivisionOutside => area_of(s.unit).and_then(|a| {
                    let division = &c.device_code.as_str()[..6];
                    (!a.divisions.iter().any(|d| d == division)).then(|| {
                        format!(
                            "编码的行政区划为 {division}，{}应为 {}",
                            a.name,
                            a.divisions.join(" 或 ")
                        )
                    })
                }),
                Check::OutsideArea => match (area_of(s.unit), c.coordinates()) {
                    (Some(a), Some((lon, lat))) if !a.contains(lon, lat) => Some(format!(
                        "经度 {lon:.6}、纬度 {lat:.6} 不在{}范围内（经度 {:.2}–{:.2}，纬度 {:.2}–{:.2}）",
                        a.name, a.min_lon, a.max_lon, a.min_lat, a.max_lat
                    )),
                    _ => None,
                },
                Check::FarFromOthers => {
                    match (c.coordinates(), middles.get(s.unit.as_str()), rule.km) {
                        (Some(p), Some(m), Some(km)) => {
                            let d = km_between(p, *m);
                            (d > km).then(|| {
                                format!("距本单位其他点位的中心 {d:.1} 公里（超过 {km} 公里）")
                            })
                        }
                        _ => None,
                    }
                }
                Check::NetworkedNotArchived => {
                    (c.is_networked() && c.is_built() && !c.is_archived())
                        .then(|| "已联网，但建档信息不全".to_string())
                }
                Check::NetworkedNotGeoTagged => {
                    (c.is_networked() && c.is_built() && !c.is_geo_tagged())
                        .then(|| "已联网，但没有经纬度".to_string())
                }
                Check::KeyClassNotNetworked => match (rule.after, c.point_class()) {
                    (Some(after), Some(class @ (PointClass::One | PointClass::Two)))
                        if today > after && c.is_built() && !c.is_networked() =>
                    {
                        Some(format!(
                            "{}点位，{}年{}月{}日后仍未联网",
                            class.chinese(),
                            chrono::Datelike::year(&after),
                            chrono::Datelike::month(&after),
                            chrono::Datelike::day(&after)
                        ))
                    }
                    _ => None,
                },
                Check::RemovedButNetworked => (c.state() == State::Removed && c.is_networked())
                    .then(|| "设备状态为已撤除，联网情况仍为已联网".to_string()),
                Check::FaultyTooLong => match (c.state(), s.faulty_since, rule.days) {
                    (State::Faulty, Some(since), Some(days))
                        if (today - since).num_days() > days =>
                    {
                        Some(format!(
                            "自{}年{}月{}日起故障，已 {} 天（规定 {days} 天内恢复）",
                            chrono::Datelike::year(&since),
                            chrono::Datelike::month(&since),
                            chrono::Datelike::day(&since),
                            (today - since).num_days()
                        ))
                    }
                    _ => None,
                },
            };
            if let Some(detail) = detail {
                out.push(Finding {
                    rule: rule.id.clone(),
                    check: rule.check,
                    severity: rule.severity,
                    unit: s.unit.to_string(),
                    device_code: c.device_code.to_string(),
                    camera_name: c.name().to_string(),
                    detail,
                });
            }
        }
    }
    out
}

/// A device code as it travels to the city for the cross-district duplicate check: HMAC-SHA-256
/// under the campaign's key, cut to 16 bytes. It carries no name, place or coordinates; the city
/// (which holds the key) learns at most a code, which the police platform is given anyway, never
/// where the camera is.
pub fn code_key(key: &[u8], code: &str) -> CodeKey {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&k, code.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&tag.as_ref()[..16]);
    CodeKey(out)
}

/// A keyed device code ([`code_key`]): 16 bytes, kept as such (a city holds some 200,000 of them)
/// and written as 32 lowercase hex characters where a document or a person reads it; the order of
/// the bytes is the order of the hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CodeKey(pub [u8; 16]);

impl CodeKey {
    /// The key written as 32 hex characters, if `hex` is one (lowercase, as [`CodeKey::hex`]
    /// writes it).
    pub fn from_hex(hex: &str) -> Option<CodeKey> {
        let b = hex.as_bytes();
        if b.len() != 32 {
            return None;
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut out = [0u8; 16];
        for (i, o) in out.iter_mut().enumerate() {
            *o = digit(b[2 * i])? << 4 | digit(b[2 * i + 1])?;
        }
        Some(CodeKey(out))
    }

    /// The 32 lowercase hex characters of the key.
    pub fn hex(&self) -> String {
        use std::fmt::Write;
        let mut s = String::with_capacity(32);
        for b in self.0 {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

impl std::fmt::Display for CodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

impl std::fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CodeKey({})", self.hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::camera::{Field, Value};
    use crate::domain::device_code::DeviceCode;

    fn cam(code: &str, f: &[(Field, Value)]) -> Camera {
        let mut c = Camera::new(DeviceCode::parse(code).unwrap());
        c.fields.insert(Field::Name, Value::Text("门诊大厅".into()));
        for (k, v) in f {
            c.fields.insert(*k, v.clone());
        }
        c
    }

    fn archived(code: &str, lon: f64, lat: f64, more: &[(Field, Value)]) -> Camera {
        let mut f = vec![
            (Field::Address, Value::Text("1栋1楼".into())),
            (Field::CameraType, Value::Text("fixed-bullet".into())),
            (Field::PointClass, Value::Int(2)),
            (Field::Area, Value::Text("key-public".into())),
            (Field::InstallDate, Value::Text("2020-05-01".into())),
            (Field::Longitude, Value::Float(lon)),
            (Field::Latitude, Value::Float(lat)),
        ];
        f.extend_from_slice(more);
        cam(code, &f)
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
    }

    fn found(fs: &[Finding]) -> Vec<(&str, &str, &str)> {
        fs.iter()
            .map(|f| (f.rule.as_str(), f.unit.as_str(), f.device_code.as_str()))
            .collect()
    }

    #[test]
    fn the_seed_rules_are_usable_and_every_area_is_known() {
        RuleSet::seed().validate().unwrap();
        assert_eq!(areas().len(), 41);
        let yz = area_of(&UnitCode::parse("500103-0001").unwrap()).unwrap();
        assert_eq!(yz.name, "渝中区");
        assert!(yz.contains(106.55, 29.55));
        assert!(!yz.contains(29.55, 106.55), "coordinates swapped");
        let lj = area_of(&UnitCode::parse("LJXQ-0002").unwrap()).unwrap();
        assert_eq!(lj.divisions, ["500105", "500112", "500109"]);
        for a in areas() {
            assert!(a.min_lon < a.max_lon && a.min_lat < a.max_lat, "{}", a.code);
            assert!((105.0..111.0).contains(&a.min_lon), "{}", a.code);
        }
    }

    #[test]
    fn a_clean_inventory_has_no_finding() {
        let u = UnitCode::parse("500103-0001").unwrap();
        let cams: Vec<Camera> = (1..=5)
            .map(|i| {
                archived(
                    &format!("500103120913200000{i:02}"),
                    106.55 + i as f64 * 0.001,
                    29.55,
                    &[(Field::Networked, Value::Bool(true))],
                )
            })
            .collect();
        let subjects: Vec<Subject> = cams
            .iter()
            .map(|c| Subject {
                unit: &u,
                camera: c,
                faulty_since: None,
            })
            .collect();
        let rules = RuleSet::seed().resolved(Some(&Campaign::seed()));
        assert_eq!(check(&rules, &subjects, today()), vec![]);
    }

    #[test]
    fn every_rule_finds_what_it_should() {
        let (a, b) = (
            UnitCode::parse("500103-0001").unwrap(),
            UnitCode::parse("500103-0002").unwrap(),
        );
        let net = (Field::Networked, Value::Bool(true));
        let cams = [
            // The same code at two hospitals.
            (&a, archived("50010312091320000001", 106.55, 29.55, &[])),
            (&b, archived("50010312091320000001", 106.551, 29.55, &[])),
            // Another district's division.
            (&a, archived("50010412091320000002", 106.552, 29.55, &[])),
            // Longitude and latitude swapped.
            (&a, archived("50010312091320000003", 29.55, 106.55, &[])),
            // Inside the district, far from the others.
            (&a, archived("50010312091320000004", 106.47, 29.52, &[])),
            // Networked, no address, no coordinates.
            (&a, cam("50010312091320000005", std::slice::from_ref(&net))),
            // Class 1, not networked after the deadline.
            (
                &a,
                archived(
                    "50010312091320000006",
                    106.553,
                    29.55,
                    &[(Field::PointClass, Value::Int(1))],
                ),
            ),
            // Removed, still networked.
            (
                &a,
                archived(
                    "50010312091320000007",
                    106.554,
                    29.55,
                    &[
                        net.clone(),
                        (Field::State, Value::Text("removed".into())),
                        (Field::PointClass, Value::Int(3)),
                    ],
                ),
            ),
            // Faulty for 40 days, and one faulty for 3.
            (
                &a,
                archived(
                    "50010312091320000008",
                    106.555,
                    29.55,
                    &[
                        (Field::State, Value::Text("faulty".into())),
                        (Field::PointClass, Value::Int(3)),
                    ],
                ),
            ),
            (
                &a,
                archived(
                    "50010312091320000009",
                    106.556,
                    29.55,
                    &[
                        (Field::State, Value::Text("faulty".into())),
                        (Field::PointClass, Value::Int(3)),
                    ],
                ),
            ),
        ];
        let since = |code: &str| match &code[16..] {
            "0008" => Some(today() - chrono::Days::new(40)),
            "0009" => Some(today() - chrono::Days::new(3)),
            _ => None,
        };
        let subjects: Vec<Subject> = cams
            .iter()
            .map(|(u, c)| Subject {
                unit: u,
                camera: c,
                faulty_since: since(c.device_code.as_str()),
            })
            .collect();
        let rules = RuleSet::seed().resolved(Some(&Campaign::seed()));
        let fs = check(&rules, &subjects, today());
        let mut got = found(&fs);
        got.retain(|(r, ..)| *r != "key-class");
        assert_eq!(
            got,
            vec![
                ("dup-code", "500103-0001", "50010312091320000001"),
                ("dup-code", "500103-0002", "50010312091320000001"),
                ("division", "500103-0001", "50010412091320000002"),
                ("outside-area", "500103-0001", "50010312091320000003"),
                ("far", "500103-0001", "50010312091320000003"),
                ("far", "500103-0001", "50010312091320000004"),
                ("networked-archive", "500103-0001", "50010312091320000005"),
                ("networked-geo", "500103-0001", "50010312091320000005"),
                ("removed-networked", "500103-0001", "50010312091320000007"),
                ("faulty-30d", "500103-0001", "50010312091320000008"),
            ]
        );
        // Class 2 and class 1 cameras not networked: all those archived without `networked`.
        let key: Vec<_> = found(&fs)
            .into_iter()
            .filter(|(r, ..)| *r == "key-class")
            .map(|(_, _, c)| &c[16..])
            .collect();
        assert_eq!(key, ["0001", "0001", "0002", "0003", "0004", "0006"]);
        let dup = fs.iter().find(|f| f.rule == "dup-code").unwrap();
        assert_eq!(dup.detail, "同一编码也登记在：500103-0002");
        let swapped = fs.iter().find(|f| f.rule == "outside-area").unwrap();
        assert!(
            swapped.detail.contains("不在渝中区范围内"),
            "{}",
            swapped.detail
        );
        // Before the deadline, class 1 and 2 not networked is no finding.
        let early = NaiveDate::from_ymd_opt(2022, 1, 1).unwrap();
        assert!(
            check(&rules, &subjects, early)
                .iter()
                .all(|f| f.rule != "key-class")
        );
        // The deadline is the campaign's: moved to a later date, nothing is overdue today; with
        // no campaign, nothing either.
        let mut later = Campaign::seed();
        for m in &mut later.milestones {
            m.deadline = NaiveDate::from_ymd_opt(2027, 4, 25).unwrap();
        }
        let moved = RuleSet::seed().resolved(Some(&later));
        assert_eq!(
            moved.get("key-class").unwrap().after,
            NaiveDate::from_ymd_opt(2027, 4, 25)
        );
        for rules in [moved, RuleSet::seed().resolved(None)] {
            assert!(
                check(&rules, &subjects, today())
                    .iter()
                    .all(|f| f.rule != "key-class")
            );
        }
    }

    #[test]
    fn a_rule_is_data_its_parameters_change_the_findings() {
        let u = UnitCode::parse("500103-0001").unwrap();
        let c = archived(
            "50010312091320000008",
            106.55,
            29.55,
            &[
                (Field::State, Value::Text("faulty".into())),
                (Field::PointClass, Value::Int(3)),
            ],
        );
        let s = [Subject {
            unit: &u,
            camera: &c,
            faulty_since: Some(today() - chrono::Days::new(10)),
        }];
        let mut rules = RuleSet::seed();
        assert!(check(&rules, &s, today()).is_empty());
        rules.rules.iter_mut().for_each(|r| {
            if r.check == Check::FaultyTooLong {
                r.days = Some(7);
            }
        });
        assert_eq!(check(&rules, &s, today()).len(), 1);
        rules.rules[0].id = rules.rules[1].id.clone();
        assert_eq!(
            rules.validate(),
            Err(RuleError::Duplicate("division".into()))
        );
    }

    #[test]
    fn a_keyed_code_is_stable_and_reveals_nothing_without_the_key() {
        let k = code_key(b"campaign key", "50010312091320000001");
        assert_eq!(CodeKey::from_hex(&k.hex()), Some(k));
        assert_eq!(k.hex().len(), 32);
        assert_eq!(CodeKey::from_hex(&"AB".repeat(16)), None);
        assert_eq!(
            CodeKey::from_hex(&"ab".repeat(16)),
            Some(CodeKey([0xab; 16]))
        );
        assert_eq!(CodeKey::from_hex("not a key"), None);
        assert_eq!(k, code_key(b"campaign key", "50010312091320000001"));
        assert_ne!(k, code_key(b"another key", "50010312091320000001"));
        assert_ne!(k, code_key(b"campaign key", "50010312091320000002"));
    }
}
