//! The police catalogue (公安目录, issue 16 part 5): the camera-level fields a police platform
//! needs to connect a camera (GB/T 28181 device code, name, place, coordinates, point class,
//! networked, and the unit that holds it), the column layout of its export, and the cursor a
//! reader resumes from. No I/O.

use serde::{Deserialize, Serialize};

use crate::domain::camera::{Camera, Field};

/// One camera as the catalogue gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The unit whose ledger holds the camera.
    pub unit: String,
    pub unit_name: String,
    /// 20 digits (GB/T 28181).
    pub device_code: String,
    pub name: String,
    /// 安装地址: the place.
    pub address: String,
    /// WGS-84 decimal degrees.
    pub longitude: Option<f64>,
    pub latitude: Option<f64>,
    /// 1, 2 or 3: as ruled by a supervising level, else as declared.
    pub point_class: Option<i64>,
    pub networked: bool,
}

impl Entry {
    pub fn of(unit: &str, unit_name: &str, camera: &Camera) -> Entry {
        let coords = camera.coordinates();
        Entry {
            unit: unit.to_string(),
            unit_name: unit_name.to_string(),
            device_code: camera.device_code.to_string(),
            name: camera.name().to_string(),
            address: camera.text(Field::Address).unwrap_or("").to_string(),
            longitude: coords.map(|c| c.0),
            latitude: coords.map(|c| c.1),
            point_class: camera.point_class().map(|p| p as i64),
            networked: camera.is_networked(),
        }
    }

    /// The row of the export, in the order of `COLUMNS`.
    pub fn cells(&self) -> Vec<String> {
        let degrees = |x: Option<f64>| x.map(|v| format!("{v:.6}")).unwrap_or_default();
        vec![
            self.device_code.clone(),
            self.name.clone(),
            self.address.clone(),
            degrees(self.longitude),
            degrees(self.latitude),
            self.point_class.map(|p| p.to_string()).unwrap_or_default(),
            if self.networked { "是" } else { "否" }.to_string(),
            self.unit.clone(),
            self.unit_name.clone(),
        ]
    }
}

/// The export's columns, as the police platform's import template names them (设备编码 first:
/// the platform keys a camera by it).
pub const COLUMNS: [&str; 9] = [
    "设备编码",
    "设备名称",
    "安装地址",
    "经度",
    "纬度",
    "点位类别",
    "是否联网",
    "管理单位编码",
    "管理单位名称",
];

/// Where a reader stands in one hub's catalogue: `<hub>:<sequence>` (a cursor of another hub, or
/// one the hub no longer covers, gets a fresh full catalogue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub hub: String,
    pub seq: i64,
}

impl Cursor {
    pub fn parse(text: &str) -> Option<Cursor> {
        let (hub, seq) = text.trim().rsplit_once(':')?;
        let seq: i64 = seq.parse().ok()?;
        (!hub.is_empty() && seq >= 0).then(|| Cursor {
            hub: hub.to_string(),
            seq,
        })
    }
}

/// The parts of a reader's cursor: one per hub that answered the read (`500103:42`, or, where a
/// hub child answered for the units only it holds, `500103:42,500103-0099:17`); the parts that do
/// not parse are left out (their hubs answer in full).
pub fn cursor_parts(text: &str) -> Vec<Cursor> {
    text.split(',').filter_map(Cursor::parse).collect()
}

/// A cursor of several parts, as `cursor_parts` reads it back.
pub fn join_cursors(parts: &[Cursor]) -> String {
    parts
        .iter()
        .map(Cursor::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.hub, self.seq)
    }
}

/// A catalogue grant as a hub publishes it in its profile for the hubs below it: the subscriber,
/// its exact certificate, and the subtree whose catalogue it may read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub unit: String,
    /// SHA-256 of the certificate's DER, hex.
    pub fingerprint: String,
    pub scope: String,
}

/// One catalogue read as the unit whose cameras were read sees it (谁查看了本单位的点位).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Read {
    /// RFC 3339, UTC.
    pub at: String,
    /// The reader's identity as its certificate proved it (`urn:yinglian:subscriber:GA-500000`).
    pub reader: String,
    /// The call: `Catalogue.Read` or `Reports.Cameras`.
    pub call: String,
    /// The hub that answered.
    pub hub: String,
    /// How many of the unit's camera records were sent.
    pub cameras: u64,
    /// A full catalogue, or the changes after a cursor.
    pub full: bool,
    /// The hub the reader asked, when it is not the one that answered: the read came down from
    /// it (a district asking the hospital hub that holds its sub-units' cameras). Empty: asked
    /// directly.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub via: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_a_malformed_one_is_none() {
        let c = Cursor::parse("500103:42").unwrap();
        assert_eq!((c.hub.as_str(), c.seq), ("500103", 42));
        assert_eq!(c.to_string(), "500103:42");
        for bad in ["", "42", ":4", "500103:", "500103:-1", "500103:x"] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
        // A cursor across a district and the hospital hub that holds its sub-units.
        let parts = cursor_parts("500103:42,500103-0099:17,x");
        assert_eq!(join_cursors(&parts), "500103:42,500103-0099:17");
        assert_eq!(parts[1].hub, "500103-0099");
        assert_eq!(cursor_parts("500103:42"), vec![c]);
    }
}
