//! The figures every level reports (Attachment 2 and the further rates): counts over camera
//! records, sums over subtrees, and rates as percentages with two decimals (null over zero cameras).

use serde::{Deserialize, Serialize};

use crate::domain::camera::{Area, Camera, State};

/// The counts from which every figure and rate follows. Counts add up across units, rates do not,
/// so rollups carry counts and compute rates at the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub built: u64,
    pub must_network: u64,
    pub networked: u64,
    pub archived: u64,
    pub geo_tagged: u64,
    pub in_service: u64,
    pub key_public_built: u64,
    pub key_public_in_service: u64,
    pub key_industry_built: u64,
    pub key_industry_in_service: u64,
}

impl Counts {
    /// The keys of the ten counts, in order: the rollup document's keys, the columns of the
    /// `stats`, `rollup_rows` and `feed_events` tables, and the JSON fields of the stats contract.
    pub const FIELDS: [&'static str; 10] = [
        "built",
        "must_network",
        "networked",
        "archived",
        "geo_tagged",
        "in_service",
        "key_public_built",
        "key_public_in_service",
        "key_industry_built",
        "key_industry_in_service",
    ];

    /// The ten counts in the order of [`Counts::FIELDS`].
    pub fn to_array(&self) -> [u64; 10] {
        [
            self.built,
            self.must_network,
            self.networked,
            self.archived,
            self.geo_tagged,
            self.in_service,
            self.key_public_built,
            self.key_public_in_service,
            self.key_industry_built,
            self.key_industry_in_service,
        ]
    }

    /// The counts from ten numbers in the order of [`Counts::FIELDS`].
    pub fn from_array(a: [u64; 10]) -> Counts {
        let [
            built,
            must_network,
            networked,
            archived,
            geo_tagged,
            in_service,
            key_public_built,
            key_public_in_service,
            key_industry_built,
            key_industry_in_service,
        ] = a;
        Counts {
            built,
            must_network,
            networked,
            archived,
            geo_tagged,
            in_service,
            key_public_built,
            key_public_in_service,
            key_industry_built,
            key_industry_in_service,
        }
    }

    /// Each count with its key, in the order of [`Counts::FIELDS`].
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        Counts::FIELDS.into_iter().zip(self.to_array())
    }

    /// Counts one record.
    pub fn add_camera(&mut self, c: &Camera) {
        let f = CameraFlags::of(c);
        self.add_flags(&f);
    }

    pub fn add_flags(&mut self, f: &CameraFlags) {
        if !f.built {
            return;
        }
        self.built += 1;
        self.must_network += f.must_network as u64;
        self.networked += f.networked as u64;
        self.archived += f.archived as u64;
        self.geo_tagged += f.geo_tagged as u64;
        self.in_service += f.in_service as u64;
        match f.area {
            Some(Area::KeyPublic) => {
                self.key_public_built += 1;
                self.key_public_in_service += f.in_service as u64;
            }
            Some(Area::KeyIndustry) => {
                self.key_industry_built += 1;
                self.key_industry_in_service += f.in_service as u64;
            }
            _ => {}
        }
    }

    pub fn add(&mut self, o: &Counts) {
        let (a, b) = (self.to_array(), o.to_array());
        *self = Counts::from_array(std::array::from_fn(|i| a[i] + b[i]));
    }

    pub fn of<'a>(cameras: impl IntoIterator<Item = &'a Camera>) -> Counts {
        let mut c = Counts::default();
        for cam in cameras {
            c.add_camera(cam);
        }
        c
    }
}

/// What one record counts towards; stored beside the record in the SQL projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CameraFlags {
    pub built: bool,
    pub must_network: bool,
    pub networked: bool,
    pub archived: bool,
    pub geo_tagged: bool,
    pub in_service: bool,
    pub area: Option<Area>,
}

impl CameraFlags {
    pub fn of(c: &Camera) -> Self {
        let built = c.is_built();
        CameraFlags {
            built,
            must_network: built && c.must_network(),
            networked: built && c.is_networked(),
            archived: built && c.is_archived(),
            geo_tagged: built && c.is_geo_tagged(),
            in_service: built && c.state() == State::InService,
            area: c.area(),
        }
    }
}

/// A rate as a percentage with two decimals; `None` (JSON null) over zero.
pub fn rate(numerator: u64, denominator: u64) -> Option<f64> {
    if denominator == 0 {
        return None;
    }
    let basis_points = (numerator as f64 * 10_000.0 / denominator as f64).round();
    Some(basis_points / 100.0)
}

/// The stats contract: one object per unit, as `stats --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub unit: String,
    pub name: String,
    pub built: u64,
    pub must_network: u64,
    pub networked: u64,
    pub networking_rate: Option<f64>,
    pub archived: u64,
    pub archive_rate: Option<f64>,
    pub geo_tagged: u64,
    pub geo_rate: Option<f64>,
    pub in_service: u64,
    pub intact_rate: Option<f64>,
    pub intact_rate_key_public: Option<f64>,
    pub intact_rate_key_industry: Option<f64>,
    pub key_public_built: u64,
    pub key_industry_built: u64,
    pub as_of: String,
    /// Where the unit stands against the campaign's next milestone (once the campaign arrived).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milestone: Option<crate::domain::campaign::Standing>,
    /// The data-quality findings of the unit's subtree (数据质量问题): errors (错误) and warnings
    /// (提示), where a rollup carries them (a hub's rows; absent for a ledger read directly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings_errors: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings_warnings: Option<u64>,
    /// The share of camera-time in service over the last 30 days (时间完好率, %) and the mean
    /// time to repair (平均修复时长, hours), where a hub's rollup carries its operations part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_rate_30d: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_repair_hours_30d: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Stats>,
}

impl Stats {
    pub fn from_counts(unit: &str, name: &str, c: &Counts, as_of: String) -> Stats {
        Stats {
            unit: unit.to_string(),
            name: name.to_string(),
            built: c.built,
            must_network: c.must_network,
            networked: c.networked,
            networking_rate: rate(c.networked, c.must_network),
            archived: c.archived,
            archive_rate: rate(c.archived, c.built),
            geo_tagged: c.geo_tagged,
            geo_rate: rate(c.geo_tagged, c.built),
            in_service: c.in_service,
            intact_rate: rate(c.in_service, c.built),
            intact_rate_key_public: rate(c.key_public_in_service, c.key_public_built),
            intact_rate_key_industry: rate(c.key_industry_in_service, c.key_industry_built),
            key_public_built: c.key_public_built,
            key_industry_built: c.key_industry_built,
            as_of,
            milestone: None,
            findings_errors: None,
            findings_warnings: None,
            service_rate_30d: None,
            mean_repair_hours_30d: None,
            children: Vec::new(),
        }
    }

    /// The data-quality findings, where known.
    pub fn findings(&self) -> Option<crate::domain::quality::Tally> {
        Some(crate::domain::quality::Tally {
            errors: self.findings_errors?,
            warnings: self.findings_warnings?,
        })
    }

    /// Sets the data-quality findings.
    pub fn with_findings(mut self, t: crate::domain::quality::Tally) -> Stats {
        self.findings_errors = Some(t.errors);
        self.findings_warnings = Some(t.warnings);
        self
    }
}

/// Formats a rate for a table: "83.33" or "—" when there is nothing to divide by.
pub fn show_rate(r: Option<f64>) -> String {
    r.map(|x| format!("{x:.2}")).unwrap_or_else(|| "—".into())
}

/// Today's date in Beijing (UTC+8), whatever the machine's time zone: the campaign's dates and
/// deadlines are Beijing dates.
pub fn beijing_today() -> chrono::NaiveDate {
    chrono::Utc::now().with_timezone(&beijing()).date_naive()
}

/// China Standard Time (UTC+8, no daylight saving): the campaign's clock.
pub fn beijing() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::camera::Field;
    use crate::domain::device_code::DeviceCode;

    fn cam(serial: u32, pairs: &[(Field, &str)]) -> Camera {
        let code = format!("500103120913200{serial:05}");
        let mut c = Camera::new(DeviceCode::parse(&code).unwrap());
        c.fields
            .insert(Field::Name, crate::domain::camera::Value::Text("点".into()));
        for (f, v) in pairs {
            c.fields.insert(*f, f.parse_value(v).unwrap().unwrap());
        }
        c
    }

    #[test]
    fn rates_round_to_two_decimals_and_are_null_over_zero() {
        assert_eq!(rate(1, 3), Some(33.33));
        assert_eq!(rate(2, 3), Some(66.67));
        assert_eq!(rate(0, 5), Some(0.0));
        assert_eq!(rate(5, 5), Some(100.0));
        assert_eq!(rate(0, 0), None);
        let s = Stats::from_counts("u", "n", &Counts::default(), "t".into());
        let j = serde_json::to_value(&s).unwrap();
        assert!(j["networking_rate"].is_null());
        assert!(j["intact_rate_key_public"].is_null());
        assert_eq!(j["built"], 0);
    }

    #[test]
    fn the_ten_counts_are_named_once_and_in_order() {
        let c = Counts::from_array(std::array::from_fn(|i| i as u64 + 1));
        let json = serde_json::to_value(c).unwrap();
        for (key, n) in c.iter() {
            assert_eq!(json[key], n, "{key}");
        }
        assert_eq!(json.as_object().unwrap().len(), Counts::FIELDS.len());
        assert_eq!(Counts::from_array(c.to_array()), c);
        let mut twice = c;
        twice.add(&c);
        assert_eq!(twice.to_array(), c.to_array().map(|n| 2 * n));
    }

    #[test]
    fn every_figure_follows_its_definition() {
        let cams = vec![
            // class 1, networked, key public, archived, geo
            cam(
                1,
                &[
                    (Field::PointClass, "1"),
                    (Field::Networked, "是"),
                    (Field::Area, "重点公共区域"),
                    (Field::Address, "门诊楼"),
                    (Field::CameraType, "球机"),
                    (Field::InstallDate, "2020-05-01"),
                    (Field::Longitude, "106.5"),
                    (Field::Latitude, "29.5"),
                ],
            ),
            // class 2, not networked, faulty, key public
            cam(
                2,
                &[
                    (Field::PointClass, "2"),
                    (Field::State, "故障"),
                    (Field::Area, "重点公共区域"),
                ],
            ),
            // class 3, not networked: not required
            cam(
                3,
                &[
                    (Field::PointClass, "3"),
                    (Field::Area, "重点行业领域公共区域"),
                ],
            ),
            // class 3 networked on demand: counts as required
            cam(4, &[(Field::PointClass, "3"), (Field::Networked, "是")]),
            // removed: not built, counts nowhere
            cam(
                5,
                &[
                    (Field::PointClass, "1"),
                    (Field::Networked, "是"),
                    (Field::State, "已撤除"),
                ],
            ),
        ];
        let c = Counts::of(&cams);
        assert_eq!(c.built, 4);
        assert_eq!(c.must_network, 3);
        assert_eq!(c.networked, 2);
        assert_eq!(c.archived, 1);
        assert_eq!(c.geo_tagged, 1);
        assert_eq!(c.in_service, 3);
        let s = Stats::from_counts("500103-0001", "医院", &c, "now".into());
        assert_eq!(s.networking_rate, Some(66.67));
        assert_eq!(s.archive_rate, Some(25.0));
        assert_eq!(s.geo_rate, Some(25.0));
        assert_eq!(s.intact_rate, Some(75.0));
        assert_eq!(s.intact_rate_key_public, Some(50.0));
        assert_eq!(s.intact_rate_key_industry, Some(100.0));
    }
}
