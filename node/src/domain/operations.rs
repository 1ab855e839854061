//! Operations (安全运维): a camera's service record from the ledger's maintenance events — its
//! filing (建设备案), faults and recoveries (故障 → 恢复) and removal (撤除报告) — and what they give
//! a unit over a window: the share of camera-time in service, faults, repairs and the mean time
//! to repair; and which filings and removals still wait for the district's acknowledgement.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::domain::camera::{Camera, Field, State, Value};

/// The window the operations figures cover, in days (a month, as maintenance is reviewed).
pub const WINDOW_DAYS: i64 = 30;

/// A maintenance event of the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Filing,
    Fault,
    Repair,
    Removal,
}

impl EventKind {
    pub fn parse(id: &str) -> Option<EventKind> {
        Some(match id {
            "filing" => EventKind::Filing,
            "fault" => EventKind::Fault,
            "repair" => EventKind::Repair,
            "removal" => EventKind::Removal,
            _ => return None,
        })
    }

    pub fn chinese(self) -> &'static str {
        match self {
            EventKind::Filing => "建设备案",
            EventKind::Fault => "故障",
            EventKind::Repair => "恢复",
            EventKind::Removal => "撤除报告",
        }
    }
}

/// One event as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub kind: EventKind,
    pub device_code: String,
    pub at: DateTime<Utc>,
    pub note: String,
    pub by: String,
}

/// A unit's operations over the window ending now. Every figure adds up over units, so a
/// district's is the sum of its institutions'.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Operations {
    /// Cameras present at some time in the window.
    pub cameras: u64,
    /// Seconds the cameras were present (from their filing or the window's start, to their
    /// removal or now).
    pub camera_seconds: u64,
    /// Seconds of that time they were faulty.
    pub fault_seconds: u64,
    /// Faults that began in the window.
    pub faults: u64,
    /// Faults repaired in the window, and how long they lasted in all.
    pub repairs: u64,
    pub repair_seconds: u64,
    /// Cameras faulty now.
    pub open_faults: u64,
    /// Of `cameras`, those removed (撤除) within the window: the others are still there now.
    #[serde(default)]
    pub removed: u64,
}

impl Operations {
    /// The share of camera-time in service, as a percentage (时间完好率).
    pub fn service_rate(&self) -> Option<f64> {
        (self.camera_seconds > 0).then(|| {
            100.0 * (self.camera_seconds - self.fault_seconds.min(self.camera_seconds)) as f64
                / self.camera_seconds as f64
        })
    }

    /// The mean time to repair, in hours (平均修复时长).
    pub fn mean_repair_hours(&self) -> Option<f64> {
        (self.repairs > 0).then(|| self.repair_seconds as f64 / self.repairs as f64 / 3600.0)
    }

    pub fn add(&mut self, o: &Operations) {
        self.cameras += o.cameras;
        self.camera_seconds += o.camera_seconds;
        self.fault_seconds += o.fault_seconds;
        self.faults += o.faults;
        self.repairs += o.repairs;
        self.repair_seconds += o.repair_seconds;
        self.open_faults += o.open_faults;
        self.removed += o.removed;
    }

    /// The keys of the figures, in order: the rollup's `operations` part writes them so.
    pub const FIELDS: [&'static str; 8] = [
        "cameras",
        "camera_seconds",
        "fault_seconds",
        "faults",
        "repairs",
        "repair_seconds",
        "open_faults",
        "removed",
    ];

    /// The figures in the order of [`Operations::FIELDS`].
    pub fn to_array(&self) -> [u64; 8] {
        [
            self.cameras,
            self.camera_seconds,
            self.fault_seconds,
            self.faults,
            self.repairs,
            self.repair_seconds,
            self.open_faults,
            self.removed,
        ]
    }

    /// The figures from [`Operations::to_array`]'s order.
    pub fn from_array(a: [u64; 8]) -> Operations {
        Operations {
            cameras: a[0],
            camera_seconds: a[1],
            fault_seconds: a[2],
            faults: a[3],
            repairs: a[4],
            repair_seconds: a[5],
            open_faults: a[6],
            removed: a[7],
        }
    }

    /// Why a subtree's figures that another unit wrote (a hub child's rollup) cannot be true,
    /// if they cannot: `built` is the cameras the same unit's own figures count now, `window_days`
    /// the window it says they cover. Each bound holds for any honest ledger: no more cameras
    /// still there than its figures count, no more camera-time than the cameras can have in the
    /// window, no more fault time than camera-time, no more faulty now than cameras there, no
    /// more repairs than faults begun in the window plus one fault open at its start per camera,
    /// no more faults than their endings (a repair, a removal, still open), no repair time
    /// without a repair.
    pub fn implausible(&self, built: u64, window_days: i64) -> Option<String> {
        let window = (WINDOW_DAYS * 24 * 3600) as u64;
        let there = self.cameras.saturating_sub(self.removed);
        let why = if window_days != WINDOW_DAYS {
            format!("a window of {window_days} days, not {WINDOW_DAYS}")
        } else if self.removed > self.cameras {
            format!("{} removed of {} cameras", self.removed, self.cameras)
        } else if there > built {
            format!("{there} cameras in service or faulty, its figures count {built}")
        } else if self.camera_seconds > self.cameras.saturating_mul(window) {
            format!(
                "{} camera-seconds for {} cameras in {WINDOW_DAYS} days",
                self.camera_seconds, self.cameras
            )
        } else if self.fault_seconds > self.camera_seconds {
            format!(
                "{} seconds faulty of {} camera-seconds",
                self.fault_seconds, self.camera_seconds
            )
        } else if self.open_faults > there {
            format!("{} faulty now of {there} cameras", self.open_faults)
        } else if self.repairs > self.faults.saturating_add(self.cameras) {
            format!(
                "{} repairs for {} faults and {} cameras",
                self.repairs, self.faults, self.cameras
            )
        } else if self.faults
            > self
                .repairs
                .saturating_add(self.open_faults)
                .saturating_add(self.cameras)
        {
            format!(
                "{} faults for {} repairs, {} faulty now and {} cameras",
                self.faults, self.repairs, self.open_faults, self.cameras
            )
        } else if self.repairs == 0 && self.repair_seconds > 0 {
            format!("{} seconds of repair without a repair", self.repair_seconds)
        } else {
            return None;
        };
        Some(why)
    }
}

fn overlap(a: DateTime<Utc>, b: DateTime<Utc>, from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    let (s, e) = (a.max(from), b.min(to));
    if e > s {
        (e - s).num_seconds() as u64
    } else {
        0
    }
}

/// The operations of a ledger's cameras over the [`WINDOW_DAYS`] ending at `now`.
pub fn operations(cameras: &[Camera], events: &[Event], now: DateTime<Utc>) -> Operations {
    let from = now - Duration::days(WINDOW_DAYS);
    let mut by_code: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in events {
        by_code.entry(e.device_code.as_str()).or_default().push(e);
    }
    let mut ops = Operations::default();
    for cam in cameras {
        let code = cam.device_code.as_str();
        let mut evs = by_code.remove(code).unwrap_or_default();
        evs.sort_by_key(|e| e.at);
        let start = evs
            .iter()
            .find(|e| e.kind == EventKind::Filing)
            .map_or(from, |e| e.at.max(from));
        let end = match cam.state() {
            State::Removed => evs
                .iter()
                .rev()
                .find(|e| e.kind == EventKind::Removal)
                .map_or(from, |e| e.at.min(now)),
            _ => now,
        };
        if end <= start {
            continue;
        }
        ops.cameras += 1;
        if cam.state() == State::Removed {
            ops.removed += 1;
        }
        ops.camera_seconds += (end - start).num_seconds() as u64;
        let mut open: Option<DateTime<Utc>> = None;
        for e in &evs {
            match e.kind {
                EventKind::Fault if open.is_none() => {
                    open = Some(e.at);
                    if e.at >= from {
                        ops.faults += 1;
                    }
                }
                EventKind::Repair | EventKind::Removal => {
                    if let Some(began) = open.take() {
                        ops.fault_seconds += overlap(began, e.at, start, end);
                        if e.kind == EventKind::Repair && e.at >= from {
                            ops.repairs += 1;
                            ops.repair_seconds += (e.at - began).num_seconds().max(0) as u64;
                        }
                    }
                }
                _ => {}
            }
        }
        // Faulty now: since its last fault, or — recorded before events were kept — all the window.
        if cam.state() == State::Faulty {
            ops.open_faults += 1;
            ops.fault_seconds += overlap(open.unwrap_or(start), now, start, end);
        }
    }
    ops
}

/// What waits for the supervising level's acknowledgement (确认).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Acknowledge {
    Filing,
    Removal,
}

impl Acknowledge {
    pub fn parse(id: &str) -> Option<Acknowledge> {
        match id {
            "filing" => Some(Acknowledge::Filing),
            "removal" => Some(Acknowledge::Removal),
            _ => None,
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Acknowledge::Filing => "filing",
            Acknowledge::Removal => "removal",
        }
    }

    /// The supervision field that records it.
    pub fn field(self) -> Field {
        match self {
            Acknowledge::Filing => Field::FilingAcknowledged,
            Acknowledge::Removal => Field::RemovalAcknowledged,
        }
    }

    pub fn chinese(self) -> &'static str {
        match self {
            Acknowledge::Filing => "建设备案",
            Acknowledge::Removal => "撤除报告",
        }
    }
}

/// A filing or a removal its unit reported and its supervising level has not acknowledged yet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pending {
    pub what: Acknowledge,
    pub device_code: String,
    pub camera_name: String,
    pub at: DateTime<Utc>,
    pub by: String,
    pub note: String,
}

/// The filings and removals of a ledger that wait for acknowledgement, oldest first.
pub fn pending(cameras: &[Camera], events: &[Event]) -> Vec<Pending> {
    let mut out = Vec::new();
    for cam in cameras {
        let acked = |f: Field| matches!(cam.get(f), Some(Value::Bool(true)));
        let last = |k: EventKind| {
            events
                .iter()
                .filter(|e| e.kind == k && e.device_code == cam.device_code.as_str())
                .max_by_key(|e| e.at)
        };
        let mut push = |what: Acknowledge, e: &Event| {
            out.push(Pending {
                what,
                device_code: e.device_code.clone(),
                camera_name: cam.text(Field::Name).unwrap_or("").to_string(),
                at: e.at,
                by: e.by.clone(),
                note: e.note.clone(),
            })
        };
        if !acked(Field::FilingAcknowledged)
            && let Some(e) = last(EventKind::Filing)
        {
            push(Acknowledge::Filing, e);
        }
        if cam.state() == State::Removed
            && !acked(Field::RemovalAcknowledged)
            && let Some(e) = last(EventKind::Removal)
        {
            push(Acknowledge::Removal, e);
        }
    }
    out.sort_by_key(|p| p.at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::device_code::DeviceCode;

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::hours(h)
    }

    fn cam(n: u32, state: &str) -> Camera {
        let mut c = Camera::new(DeviceCode::parse(&format!("500103120913200{n:05}")).unwrap());
        c.fields
            .insert(Field::Name, Value::Text(format!("点位{n}")));
        c.fields.insert(Field::State, Value::Text(state.into()));
        c
    }

    fn ev(kind: EventKind, n: u32, h: i64) -> Event {
        Event {
            kind,
            device_code: format!("500103120913200{n:05}"),
            at: t(h),
            note: String::new(),
            by: "clerk".into(),
        }
    }

    #[test]
    fn time_in_service_and_time_to_repair_follow_the_fault_episodes() {
        let now = t(0);
        let window = (WINDOW_DAYS * 24 * 3600) as u64;
        // Camera 1 in service the whole window, faulty 10 h and repaired; camera 2 faulty for the
        // last 5 h; camera 3 filed 24 h ago; camera 4 removed 48 h before now.
        let cams = [
            cam(1, "in_service"),
            cam(2, "faulty"),
            cam(3, "in_service"),
            cam(4, "removed"),
        ];
        let events = [
            ev(EventKind::Fault, 1, -30),
            ev(EventKind::Repair, 1, -20),
            ev(EventKind::Fault, 2, -5),
            ev(EventKind::Filing, 3, -24),
            ev(EventKind::Removal, 4, -48),
        ];
        let o = operations(&cams, &events, now);
        assert_eq!(o.cameras, 4);
        assert_eq!(
            o.camera_seconds,
            2 * window + 24 * 3600 + (window - 48 * 3600)
        );
        assert_eq!(o.fault_seconds, 15 * 3600);
        assert_eq!((o.faults, o.repairs, o.open_faults), (2, 1, 1));
        assert_eq!(o.removed, 1);
        assert_eq!(o.mean_repair_hours(), Some(10.0));
        let rate = o.service_rate().unwrap();
        let want = 100.0 * (1.0 - 15.0 * 3600.0 / o.camera_seconds as f64);
        assert!((rate - want).abs() < 1e-9, "{rate} {want}");
        // A fault begun before the window counts only its part inside; a camera removed before
        // the window is not there at all.
        let old = [
            ev(EventKind::Fault, 1, -40 * 24),
            ev(EventKind::Repair, 1, -29 * 24),
        ];
        let o = operations(&cams[..1], &old, now);
        assert_eq!(o.fault_seconds, 24 * 3600);
        assert_eq!((o.faults, o.repairs), (0, 1));
        assert_eq!(o.repair_seconds, 11 * 24 * 3600);
        let gone = [ev(EventKind::Removal, 4, -31 * 24)];
        assert_eq!(operations(&cams[3..], &gone, now), Operations::default());
        // Nothing happened: all in service, no repair time to show.
        let o = operations(&cams[..1], &[], now);
        assert_eq!(o.service_rate(), Some(100.0));
        assert_eq!(o.mean_repair_hours(), None);
    }

    #[test]
    fn subtrees_add_up_and_honest_figures_are_believed() {
        let now = t(0);
        let cams = [
            cam(1, "in_service"),
            cam(2, "faulty"),
            cam(3, "in_service"),
            cam(4, "removed"),
        ];
        let events = [
            ev(EventKind::Fault, 1, -30),
            ev(EventKind::Repair, 1, -20),
            ev(EventKind::Fault, 2, -5),
            ev(EventKind::Filing, 3, -24),
            ev(EventKind::Removal, 4, -48),
        ];
        // Two units' figures summed are the figures of their ledgers together.
        let a = operations(&cams[..2], &events, now);
        let b = operations(&cams[2..], &events, now);
        let mut sum = a;
        sum.add(&b);
        assert_eq!(sum, operations(&cams, &events, now));
        assert_eq!(Operations::from_array(sum.to_array()), sum);
        // Honest figures pass, with the cameras the unit's figures count (3: one removed).
        assert_eq!(sum.implausible(3, WINDOW_DAYS), None);
        assert_eq!(Operations::default().implausible(0, WINDOW_DAYS), None);
        // What no ledger can give is not believed.
        let lie = |f: &dyn Fn(&mut Operations)| {
            let mut o = sum;
            f(&mut o);
            o.implausible(3, WINDOW_DAYS)
        };
        let window = (WINDOW_DAYS * 24 * 3600) as u64;
        for (what, why) in [
            (lie(&|o| o.cameras = 10), "cameras in service or faulty"),
            (
                lie(&|o| o.camera_seconds = 4 * window + 1),
                "camera-seconds",
            ),
            (
                lie(&|o| o.fault_seconds = o.camera_seconds + 1),
                "seconds faulty",
            ),
            (lie(&|o| o.open_faults = 4), "faulty now"),
            (lie(&|o| o.repairs = 7), "repairs for"),
            (lie(&|o| o.faults = 9), "faults for"),
            (lie(&|o| o.removed = 5), "removed of"),
            (
                lie(&|o| {
                    o.repairs = 0;
                    o.repair_seconds = 60
                }),
                "without a repair",
            ),
        ] {
            let what = what.unwrap_or_else(|| panic!("believed: {why}"));
            assert!(what.contains(why), "{what}");
        }
        assert!(sum.implausible(3, 7).unwrap().contains("window of 7 days"));
    }

    #[test]
    fn filings_and_removals_wait_until_acknowledged() {
        let mut filed = cam(3, "in_service");
        let mut removed = cam(4, "removed");
        let events = [ev(EventKind::Filing, 3, -24), ev(EventKind::Removal, 4, -2)];
        let p = pending(
            &[filed.clone(), removed.clone(), cam(1, "in_service")],
            &events,
        );
        assert_eq!(
            p.iter()
                .map(|p| (p.what, p.device_code.as_str()))
                .collect::<Vec<_>>(),
            vec![
                (Acknowledge::Filing, "50010312091320000003"),
                (Acknowledge::Removal, "50010312091320000004"),
            ]
        );
        filed
            .fields
            .insert(Field::FilingAcknowledged, Value::Bool(true));
        removed
            .fields
            .insert(Field::RemovalAcknowledged, Value::Bool(true));
        assert!(pending(&[filed, removed], &events).is_empty());
    }
}
