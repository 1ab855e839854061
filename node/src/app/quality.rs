//! The data-quality check (数据质量核查) where the records can be seen: an institution over its own
//! ledger, a district over its units' replicas, against the rules the campaign publishes; the
//! findings, and their counts per unit.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use crate::docs::document::DocId;
use crate::docs::ledger;
use crate::domain::camera::State;
use crate::domain::figures::beijing;
use crate::domain::quality::{self, Finding, RuleSet, Severity, Subject};
use crate::domain::unit::UnitCode;
use crate::store::{Store, StoreError};

/// How many findings a unit has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub errors: u64,
    pub warnings: u64,
}

impl Tally {
    pub fn total(&self) -> u64 {
        self.errors + self.warnings
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The day the check was made for (Beijing time).
    pub date: NaiveDate,
    pub rules: RuleSet,
    /// Units checked (those holding at least one camera record here), with their findings' tally.
    pub units: BTreeMap<String, Tally>,
    pub findings: Vec<Finding>,
}

impl Report {
    /// The findings of one unit.
    pub fn of_unit<'a>(&'a self, unit: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.unit == unit)
    }
}

/// Checks the camera records held here — every ledger, or those of `unit`'s subtree — against
/// the rules in force, as of `today`.
pub async fn check_at(
    store: &Store,
    unit: Option<&UnitCode>,
    today: NaiveDate,
) -> Result<Report, StoreError> {
    let campaign = crate::app::campaign::held(store).await?;
    let rules = crate::app::campaign::rules(store)
        .await?
        .resolved(campaign.as_ref());
    let rows = store.cameras_under(unit.map(UnitCode::as_str)).await?;
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
    let findings = quality::check(&rules, &subjects, today);
    for f in &findings {
        let t = units.entry(f.unit.clone()).or_default();
        match f.severity {
            Severity::Error => t.errors += 1,
            Severity::Warning => t.warnings += 1,
        }
    }
    Ok(Report {
        date: today,
        rules,
        units,
        findings,
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
}
