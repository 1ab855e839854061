//! The data-quality check (数据质量核查) where the records can be seen: an institution over its own
//! ledger, a district over its units' replicas, against the rules the campaign publishes; the
//! duplicates no level sees both records of, through keyed codes (what hub children publish, what
//! the parent tells); the findings, and their counts per unit.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;

use crate::app::zh;
use crate::docs::document::{DocId, DocKind};
use crate::docs::ledger;
use crate::docs::quality::{read_codes, read_notices};
use crate::domain::camera::State;
use crate::domain::crosscheck::{Notices, Shared, Source, duplicates};
use crate::domain::figures::beijing;
use crate::domain::quality::{self, Check, Finding, RuleSet, Subject, code_key};
use crate::domain::unit::UnitCode;
use crate::store::{Store, StoreError};

/// How many findings a unit has.
pub use crate::domain::quality::Tally;

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The day the check was made for (Beijing time).
    pub date: NaiveDate,
    pub rules: RuleSet,
    /// Units checked (those holding at least one camera record here), with their findings' tally.
    pub units: BTreeMap<String, Tally>,
    pub findings: Vec<Finding>,
    /// Device codes (as keyed hashes) registered at two units or more below this unit whose
    /// records it does not all hold — a duplicate across districts, at the city — with the units
    /// holding them; never the cameras.
    pub shared: Vec<Shared>,
    /// What each child must be told (per keyed code, the other units holding it): a hub child
    /// for the duplicates it cannot see, a leaf child for every duplicate of its codes.
    #[serde(skip)]
    pub told: BTreeMap<String, Notices>,
    /// The keyed hashes of every device code in this unit's subtree (what it publishes up).
    #[serde(skip)]
    pub codes: BTreeSet<String>,
}

impl Report {
    /// The findings of one unit.
    pub fn of_unit<'a>(&'a self, unit: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.unit == unit)
    }
}

/// The hub children (those whose rollup or keyed codes are held here) with their published keyed
/// codes, and the notices this unit's parent sent it.
async fn from_below_and_above(
    store: &Store,
) -> Result<(Vec<(String, BTreeSet<String>)>, Notices), StoreError> {
    let mut hubs = Vec::new();
    for c in store.syncing_children().await? {
        let Ok(code) = UnitCode::parse(&c) else {
            continue;
        };
        let id = DocId::codes(&code);
        if store.heads(&id).await?.is_empty() {
            // Not published yet (or a child hub of a build before `codes/<hub>`): no codes.
            if store
                .heads(&store.rollup_doc(&code).await?)
                .await?
                .is_empty()
            {
                continue;
            }
            hubs.push((c, BTreeSet::new()));
            continue;
        }
        let mut codes = store.read_document(&id, |d| read_codes(d)).await?;
        // What a hub child publishes is bounded by what it is: keyed codes of the form
        // `code_key` makes, no more of them than the cameras its own figures count. A child that
        // publishes more (to probe which codes others hold, or to blame them) is not believed.
        let cameras = store
            .rollup_rows(&c)
            .await?
            .iter()
            .find(|r| r.unit == c)
            .map_or(0, |r| r.counts.built);
        let well_formed = !codes.malformed;
        if !well_formed || codes.keys.len() as u64 > cameras {
            store
                .record_refusal(
                    &format!("urn:yinglian:hub:{c}"),
                    Some(&id),
                    &format!(
                        "the keyed device codes of {c} are not believed: {} of them for {cameras} cameras{}",
                        codes.keys.len(),
                        if well_formed { "" } else { ", some not keyed codes" }
                    ),
                )
                .await;
            codes.keys.clear();
        }
        hubs.push((c, codes.keys));
    }
    let mine = DocId {
        kind: DocKind::Review,
        unit: store.unit().clone(),
        generation: 0,
    };
    let inherited = if store.heads(&mine).await?.is_empty() {
        Notices::new()
    } else {
        store.read_document(&mine, |d| read_notices(d)).await?
    };
    Ok((hubs, inherited))
}

/// Checks the camera records held here — every ledger, or those of `unit`'s subtree — against
/// the rules in force, as of `today`; with the duplicates found through keyed codes: those a hub
/// child published (a duplicate between two districts, at the city) and those this unit's
/// parent told it about.
pub async fn check_at(
    store: &Store,
    unit: Option<&UnitCode>,
    today: NaiveDate,
) -> Result<Report, StoreError> {
    let campaign = crate::app::campaign::held(store).await?;
    let rules = crate::app::campaign::rules(store)
        .await?
        .resolved(campaign.as_ref());
    let rows = store.cameras_under(None).await?;
    let mut units: BTreeMap<String, Tally> = BTreeMap::new();
    let mut codes: BTreeMap<String, UnitCode> = BTreeMap::new();
    for r in &rows {
        units.entry(r.unit.clone()).or_default();
        if !codes.contains_key(&r.unit)
            && let Ok(c) = UnitCode::parse(&r.unit)
        {
            codes.insert(r.unit.clone(), c);
        }
    }
    // Since when each faulty camera has been faulty: from the events of the ledgers that have one.
    let mut since: BTreeMap<(String, String), NaiveDate> = BTreeMap::new();
    for (u, code) in &codes {
        if !rows
            .iter()
            .any(|r| &r.unit == u && r.camera.state() == State::Faulty)
        {
            continue;
        }
        let starts = store
            .read_document(&DocId::ledger(code), |d| ledger::faulty_since(d))
            .await?;
        for (cam, at) in starts {
            since.insert((u.clone(), cam), at.with_timezone(&beijing()).date_naive());
        }
    }
    let subjects: Vec<Subject> = rows
        .iter()
        .filter_map(|r| {
            Some(Subject {
                unit: codes.get(&r.unit)?,
                camera: &r.camera,
                faulty_since: since
                    .get(&(r.unit.clone(), r.camera.device_code.to_string()))
                    .copied(),
            })
        })
        .collect();
    let mut findings = quality::check(&rules, &subjects, today);
    // A duplicate among the records held here names each other unit as a person reads it.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.check == Check::DuplicateCode) {
        for r in rows.iter().filter(|r| {
            r.camera.device_code.as_str() == f.device_code
                && r.unit != f.unit
                && r.camera.state() != State::Removed
        }) {
            if !names.contains_key(&r.unit) {
                names.insert(r.unit.clone(), store.unit_name(&r.unit).await?);
            }
        }
    }
    for f in findings
        .iter_mut()
        .filter(|f| f.check == Check::DuplicateCode)
    {
        let others: BTreeMap<String, String> = rows
            .iter()
            .filter(|r| {
                r.camera.device_code.as_str() == f.device_code
                    && r.unit != f.unit
                    && r.camera.state() != State::Removed
            })
            .map(|r| {
                (
                    r.unit.clone(),
                    names.get(&r.unit).cloned().unwrap_or_default(),
                )
            })
            .collect();
        if !others.is_empty() {
            f.detail = format!("同一编码也登记在：{}", zh::quality_elsewhere(&others));
        }
    }
    let (mut shared, mut told, mut published) = (Vec::new(), BTreeMap::new(), BTreeSet::new());
    if let Some(key) = crate::app::campaign::code_key(store).await? {
        let (hubs, inherited) = from_below_and_above(store).await?;
        // Every source below (and at) this unit, with its keyed codes.
        let mut keyed: BTreeMap<String, Vec<(&str, &crate::domain::camera::Camera)>> =
            BTreeMap::new();
        let mut sources: BTreeMap<String, Source> = BTreeMap::new();
        // A removed camera's code is free again; a record forwarded from a hub child's subtree is
        // that child's to publish (counted here too, it would be a duplicate of itself).
        let forwarded = |u: &str| {
            hubs.iter().any(|(c, _)| {
                u.strip_prefix(c.as_str())
                    .is_some_and(|r| r.starts_with('-'))
            })
        };
        for r in rows
            .iter()
            .filter(|r| r.camera.state() != State::Removed && !forwarded(&r.unit))
        {
            let k = code_key(&key, r.camera.device_code.as_str());
            keyed
                .entry(k.clone())
                .or_default()
                .push((&r.unit, &r.camera));
            let s = sources.entry(r.unit.clone()).or_insert_with(|| Source {
                unit: r.unit.clone(),
                name: String::new(),
                held: true,
                keys: BTreeSet::new(),
            });
            s.keys.insert(k);
        }
        for (c, keys) in &hubs {
            // A hub child's subtree is its own: records of it held here (forwarded) are left to it.
            sources.insert(
                c.clone(),
                Source {
                    unit: c.clone(),
                    name: String::new(),
                    held: false,
                    keys: keys.clone(),
                },
            );
        }
        for s in sources.values_mut() {
            s.name = store.unit_name(&s.unit).await?;
        }
        let list: Vec<Source> = sources.into_values().collect();
        published = list.iter().flat_map(|s| s.keys.iter().cloned()).collect();
        let (found, mut to_tell) = duplicates(&list, &inherited);
        shared = found;
        // Held units: the finding on their cameras, beside (or merged into) the plain check's.
        let dup_rule = rules.rules.iter().find(|r| r.check == Check::DuplicateCode);
        for (u, notices) in &to_tell {
            let (Some(rule), true) = (dup_rule, list.iter().any(|s| &s.unit == u && s.held)) else {
                continue;
            };
            for (k, others) in notices {
                let elsewhere = zh::quality_elsewhere(others);
                for (_, cam) in keyed.get(k).into_iter().flatten().filter(|(h, _)| h == u) {
                    let code = cam.device_code.as_str();
                    match findings
                        .iter_mut()
                        .find(|f| f.rule == rule.id && &f.unit == u && f.device_code == code)
                    {
                        Some(f) => f.detail = format!("{}、{elsewhere}", f.detail),
                        None => findings.push(Finding {
                            rule: rule.id.clone(),
                            check: rule.check,
                            severity: rule.severity,
                            unit: u.clone(),
                            device_code: code.to_string(),
                            camera_name: cam.name().to_string(),
                            detail: format!("同一编码也登记在：{elsewhere}"),
                        }),
                    }
                }
            }
        }
        // A leaf child is told every duplicate of its codes (it sees no other records): the
        // held units' among themselves too.
        let me = store.unit().as_str();
        for (k, holders) in &keyed {
            let units: BTreeSet<&str> = holders.iter().map(|(u, _)| *u).collect();
            if units.len() < 2 {
                continue;
            }
            for u in &units {
                if *u == me || hubs.iter().any(|(c, _)| c == u) {
                    continue;
                }
                let entry = to_tell
                    .entry(u.to_string())
                    .or_default()
                    .entry(k.clone())
                    .or_default();
                for o in units.iter().filter(|o| *o != u) {
                    entry.insert(o.to_string(), store.unit_name(o).await?);
                }
            }
        }
        told = to_tell;
    }
    findings.sort_by(|a, b| {
        let at = |f: &Finding| rules.rules.iter().position(|r| r.id == f.rule);
        (at(a), &a.unit, &a.device_code).cmp(&(at(b), &b.unit, &b.device_code))
    });
    for f in &findings {
        units.entry(f.unit.clone()).or_default().count(f.severity);
    }
    if let Some(u) = unit {
        let inside = |x: &str| x == u.as_str() || UnitCode::parse(x).is_ok_and(|x| x.is_under(u));
        units.retain(|x, _| inside(x));
        findings.retain(|f| inside(&f.unit));
        shared.retain(|s| s.holders.iter().any(|(x, _)| inside(x)));
        told.retain(|x, _| inside(x));
    }
    Ok(Report {
        date: today,
        rules,
        units,
        findings,
        shared,
        told,
        codes: published,
    })
}

/// [`check_at`] as of today in Beijing.
pub async fn check(store: &Store, unit: Option<&UnitCode>) -> Result<Report, StoreError> {
    check_at(store, unit, crate::domain::figures::beijing_today()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::cameras;
    use crate::domain::camera::{Field, Value};
    use crate::domain::device_code::DeviceCode;

    #[tokio::test]
    async fn a_clerks_ledger_is_checked_and_a_fix_clears_the_finding() {
        let (_dir, store) = crate::store::testing::hospital().await;
        let code = DeviceCode::parse("50010312091320000101").unwrap();
        cameras::add(
            &store,
            "clerk",
            code.clone(),
            vec![
                (Field::Name, Value::Text("门诊大厅".into())),
                (Field::Networked, Value::Bool(true)),
                (Field::State, Value::Text("faulty".into())),
            ],
        )
        .await
        .unwrap();
        let later = crate::domain::figures::beijing_today() + chrono::Days::new(31);
        let r = check_at(&store, None, later).await.unwrap();
        let rules: Vec<&str> = r
            .of_unit(store.unit().as_str())
            .filter(|f| f.device_code == code.as_str())
            .map(|f| f.rule.as_str())
            .collect();
        assert_eq!(rules, ["networked-archive", "networked-geo", "faulty-30d"]);
        let t = r.units[store.unit().as_str()];
        assert!(t.errors >= 2 && t.warnings >= 1, "{t:?}");
        // Repaired, networking undone: the findings of that camera are gone.
        cameras::edit(
            &store,
            "clerk",
            &code,
            &[
                (Field::State, Some(Value::Text("in-service".into()))),
                (Field::Networked, Some(Value::Bool(false))),
            ],
        )
        .await
        .unwrap();
        let r = check_at(&store, None, later).await.unwrap();
        assert!(
            r.findings.iter().all(|f| f.device_code != code.as_str()),
            "{:?}",
            r.findings
        );
    }

    #[tokio::test]
    async fn the_generated_inventory_is_wrong_only_where_it_is_meant_to_be() {
        // The demo's and the tests' ledgers: incomplete on purpose (some records without an
        // address and install date, or without coordinates), otherwise clean.
        let (dir, store) = crate::store::testing::hospital().await;
        let sheet = dir.path().join("generated.csv");
        crate::app::sample::write_sheet(&sheet, "500103", 300, 7).unwrap();
        crate::app::import::import_file(&store, &sheet, "generator")
            .await
            .unwrap();
        let campaign = crate::domain::campaign::Campaign::seed();
        crate::app::campaign::publish(&store, &campaign)
            .await
            .unwrap();
        // Before the seed's deadline for class 1 and 2 (so that rule has nothing to find).
        let day = chrono::NaiveDate::from_ymd_opt(2022, 6, 1).unwrap();
        let r = check_at(&store, None, day).await.unwrap();
        let rules: std::collections::BTreeSet<&str> =
            r.findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(
            rules,
            ["networked-archive", "networked-geo"].into(),
            "{:?}",
            r.findings
        );
        // Completed, nothing is left.
        let incomplete: std::collections::BTreeSet<String> =
            r.findings.iter().map(|f| f.device_code.clone()).collect();
        for code in &incomplete {
            cameras::edit(
                &store,
                "clerk",
                &DeviceCode::parse(code).unwrap(),
                &[
                    (Field::Address, Some(Value::Text("门诊楼1楼".into()))),
                    (Field::InstallDate, Some(Value::Text("2020-05-01".into()))),
                    (Field::Longitude, Some(Value::Float(106.55))),
                    (Field::Latitude, Some(Value::Float(29.55))),
                ],
            )
            .await
            .unwrap();
        }
        let r = check_at(&store, None, day).await.unwrap();
        assert_eq!(
            r.findings,
            vec![],
            "a complete generated inventory is clean"
        );
        assert!(r.units.values().all(|t| t.total() == 0));
    }
}
