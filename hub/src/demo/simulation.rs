//! The simulated campaign, for as long as the demo runs: clerks register new cameras (often with
//! their archive or coordinates still to fill in), complete records, network cameras; cameras
//! fail and are repaired; institutions drop off the network for a while and come back; reports
//! are submitted and reviewed (`paperwork`). Clerks differ: some institutions work hard, some
//! barely, so the dashboards always show units on track and units behind, and the figures never
//! stop moving.

use std::time::{Duration, Instant};

use anyhow::Result;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use yinglian_node::app::cameras;
use yinglian_node::domain::camera::{Camera, Field, State, Value};
use yinglian_node::domain::device_code::DeviceCode;

use crate::local::{Federation, LocalUnit, area_code};

/// Who the simulated clerks sign their changes as.
const WHO: &str = "demo";

/// How hard the clerks of institution `i` of district `d` work (the weight of their share of
/// the work): whole districts of diligent clerks, of ordinary ones, of slack ones, and mixed.
pub fn diligence(d: usize, i: usize) -> f64 {
    const DILIGENT: f64 = 2.0;
    const ORDINARY: f64 = 1.0;
    const SLACK: f64 = 0.05;
    match d % 4 {
        0 => DILIGENT,
        1 => ORDINARY,
        2 => SLACK,
        _ => [DILIGENT, SLACK, ORDINARY][i % 3],
    }
}

/// What happened since the last summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub added: u64,
    pub completed: u64,
    pub networked: u64,
    pub faults: u64,
    pub repairs: u64,
}

pub struct Simulation {
    rng: StdRng,
    /// (district index, institution index) → when it comes back.
    offline: Vec<((usize, usize), Instant)>,
    /// When the last outage began (outages are spaced in time, whatever the pace).
    last_outage: Option<Instant>,
    pub events: u64,
    pub tally: Tally,
    started: Instant,
}

impl Default for Simulation {
    fn default() -> Self {
        Simulation::new()
    }
}

impl Simulation {
    pub fn new() -> Simulation {
        Simulation {
            rng: StdRng::from_os_rng(),
            offline: Vec::new(),
            last_outage: None,
            events: 0,
            tally: Tally::default(),
            started: Instant::now(),
        }
    }

    /// How many institutions are offline now.
    pub fn offline(&self) -> usize {
        self.offline.len()
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// One simulated event; `next_serial` numbers the device codes of new cameras.
    pub async fn step(&mut self, fed: &mut Federation, next_serial: &mut u64) -> Result<()> {
        self.bring_back(fed).await?;
        self.events += 1;
        let roll = self.rng.random_range(0..100);
        let d = self.rng.random_range(0..fed.institutions.len());
        let i = self.rng.random_range(0..fed.institutions[d].len());
        match roll {
            0..2 => self.outage(fed, d, i).await,
            2..16 => {
                let district = area_code(&fed.districts[d].code);
                self.add(&fed.institutions[d][i], &district, next_serial)
                    .await
            }
            16..26 => self.fault(&fed.institutions[d][i]).await,
            26..36 if self.repair(&fed.institutions[d][i]).await? => Ok(()),
            36..40 => super::paperwork::step(&mut self.rng, fed, d).await,
            _ => {
                let (d, i) = self.diligent_institution(fed);
                self.work(&fed.institutions[d][i]).await
            }
        }
    }

    /// Institutions whose outage is over come back.
    async fn bring_back(&mut self, fed: &mut Federation) -> Result<()> {
        let now = Instant::now();
        let mut back = Vec::new();
        self.offline.retain(|(at, until)| {
            if *until <= now {
                back.push(*at);
                false
            } else {
                true
            }
        });
        for (d, i) in back {
            fed.institutions[d][i].start().await?;
            println!(
                "  {} 恢复联网，离线期间的修改已同步",
                name(&fed.institutions[d][i]).await
            );
        }
        Ok(())
    }

    /// An outage of 15 to 60 s (never the institution whose pages the demo serves, and at most
    /// one beginning every 10 s); its clerks keep working offline.
    async fn outage(&mut self, fed: &mut Federation, d: usize, i: usize) -> Result<()> {
        if (d, i) == (0, 0)
            || self.offline.iter().any(|(at, _)| *at == (d, i))
            || self
                .last_outage
                .is_some_and(|t| t.elapsed() < Duration::from_secs(10))
        {
            return Ok(());
        }
        self.last_outage = Some(Instant::now());
        let secs = self.rng.random_range(15..60);
        fed.institutions[d][i].stop().await;
        self.offline
            .push(((d, i), Instant::now() + Duration::from_secs(secs)));
        println!(
            "  {} 断网 {secs} 秒（继续离线工作，恢复后同步）",
            name(&fed.institutions[d][i]).await
        );
        Ok(())
    }

    /// A clerk files a new camera: not yet networked, and often without its install date or
    /// coordinates yet.
    async fn add(&mut self, inst: &LocalUnit, district: &str, next_serial: &mut u64) -> Result<()> {
        let code = DeviceCode::parse(&format!("{district}9909132{:07}", *next_serial))?;
        *next_serial += 1;
        let r = &mut self.rng;
        let mut fields = vec![
            (Field::Name, format!("新增点位{}", *next_serial - 1)),
            (Field::Address, "门诊楼".to_string()),
            (
                Field::CameraType,
                ["球机", "半球", "固定枪机"].choose(r).unwrap().to_string(),
            ),
            (
                Field::PointClass,
                ["一类", "二类", "二类", "三类"]
                    .choose(r)
                    .unwrap()
                    .to_string(),
            ),
            (
                Field::Area,
                ["重点公共区域", "重点行业领域公共区域", "其他"]
                    .choose(r)
                    .unwrap()
                    .to_string(),
            ),
            (Field::Networked, "否".to_string()),
            (Field::State, "在用".to_string()),
        ];
        if r.random_bool(0.5) {
            fields.push((Field::InstallDate, install_date(r)));
        }
        if r.random_bool(0.5) {
            let (lon, lat) = coordinates(r);
            fields.push((Field::Longitude, lon));
            fields.push((Field::Latitude, lat));
        }
        let mut values = Vec::new();
        for (f, v) in fields {
            if let Some(v) = f.parse_value(&v)? {
                values.push((f, v));
            }
        }
        cameras::add(&inst.store, WHO, code, values).await?;
        self.tally.added += 1;
        Ok(())
    }

    /// A camera in service fails.
    async fn fault(&mut self, inst: &LocalUnit) -> Result<()> {
        let list = own_cameras(inst).await?;
        let working: Vec<&Camera> = list
            .iter()
            .filter(|c| c.state() == State::InService)
            .collect();
        let Some(c) = working.choose(&mut self.rng) else {
            return Ok(());
        };
        let v = Field::State.parse_value("故障")?;
        cameras::edit(&inst.store, WHO, &c.device_code, &[(Field::State, v)]).await?;
        self.tally.faults += 1;
        Ok(())
    }

    /// A faulty camera is repaired; false when the institution has none.
    async fn repair(&mut self, inst: &LocalUnit) -> Result<bool> {
        let list = own_cameras(inst).await?;
        let faulty: Vec<&Camera> = list.iter().filter(|c| c.state() == State::Faulty).collect();
        let Some(c) = faulty.choose(&mut self.rng) else {
            return Ok(false);
        };
        let v = Field::State.parse_value("在用")?;
        cameras::edit(&inst.store, WHO, &c.device_code, &[(Field::State, v)]).await?;
        self.tally.repairs += 1;
        Ok(true)
    }

    /// An institution, chosen by how hard its clerks work.
    fn diligent_institution(&mut self, fed: &Federation) -> (usize, usize) {
        let all: Vec<(usize, usize)> = fed
            .institutions
            .iter()
            .enumerate()
            .flat_map(|(d, l)| (0..l.len()).map(move |i| (d, i)))
            .collect();
        *all.choose_weighted(&mut self.rng, |(d, i)| diligence(*d, *i))
            .expect("a federation has institutions")
    }

    /// A clerk takes one camera that still needs something and does it: its archive fields, its
    /// coordinates, or (once the record is complete and it works) networking it.
    async fn work(&mut self, inst: &LocalUnit) -> Result<()> {
        let list = own_cameras(inst).await?;
        let todo: Vec<&Camera> = list
            .iter()
            .filter(|c| {
                c.is_built()
                    && (!c.is_archived()
                        || !c.is_geo_tagged()
                        || (c.must_network() && !c.is_networked()))
            })
            .collect();
        let Some(c) = todo.choose(&mut self.rng) else {
            return Ok(());
        };
        let r = &mut self.rng;
        let mut changes: Vec<(Field, String)> = Vec::new();
        if !c.is_archived() {
            if c.text(Field::Address).is_none_or(str::is_empty) {
                changes.push((Field::Address, "门诊楼一层".into()));
            }
            if c.camera_type().is_none() {
                changes.push((Field::CameraType, "半球".into()));
            }
            if c.point_class().is_none() {
                changes.push((Field::PointClass, "二类".into()));
            }
            if c.area().is_none() {
                changes.push((Field::Area, "重点公共区域".into()));
            }
            if !matches!(c.get(Field::InstallDate), Some(Value::Text(_))) || changes.is_empty() {
                changes.push((Field::InstallDate, install_date(r)));
            }
        } else if !c.is_geo_tagged() {
            let (lon, lat) = coordinates(r);
            changes.push((Field::Longitude, lon));
            changes.push((Field::Latitude, lat));
        } else if c.state() == State::InService {
            changes.push((Field::Networked, "是".into()));
            self.tally.networked += 1;
        } else {
            return Ok(());
        }
        let mut values = Vec::new();
        for (f, v) in changes {
            values.push((f, f.parse_value(&v)?));
        }
        if !values.iter().any(|(f, _)| *f == Field::Networked) {
            self.tally.completed += 1;
        }
        cameras::edit(&inst.store, WHO, &c.device_code, &values).await?;
        Ok(())
    }
}

/// The unit's name as its store has it (its code when unknown).
pub async fn name(u: &LocalUnit) -> String {
    u.store
        .unit_name(u.code.as_str())
        .await
        .unwrap_or_else(|_| u.code.to_string())
}

async fn own_cameras(inst: &LocalUnit) -> Result<Vec<Camera>> {
    let (rows, _) = inst
        .store
        .cameras(inst.code.as_str(), &Default::default())
        .await?;
    Ok(rows.into_iter().map(|r| r.camera).collect())
}

fn install_date(r: &mut StdRng) -> String {
    format!(
        "20{:02}-{:02}-{:02}",
        r.random_range(15..26),
        r.random_range(1..13),
        r.random_range(1..29)
    )
}

fn coordinates(r: &mut StdRng) -> (String, String) {
    (
        format!("{:.6}", 106.3 + r.random_range(0.0..0.8)),
        format!("{:.6}", 29.3 + r.random_range(0.0..0.6)),
    )
}
