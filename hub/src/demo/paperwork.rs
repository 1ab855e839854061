//! The demo's paperwork (报送): as the campaign goes on, clerks submit their unit's report for the
//! statistics table (long due: late) and for the next milestone (on time), diligent institutions
//! often and slack ones rarely; districts accept most reports, return some with a reason (the
//! institution then submits again), and submit their own once most of their institutions have.

use anyhow::Result;
use chrono::{NaiveDate, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use yinglian_node::app::submission::{decide, status, submit};
use yinglian_node::domain::campaign::Figure;
use yinglian_node::domain::contacts::ContactRole;
use yinglian_node::domain::submission::{State, Verdict};

use super::seed::contact;
use super::simulation::diligence;
use crate::local::{Federation, LocalUnit};

/// Who the simulated clerks sign as.
const WHO: &str = "demo";

const REASONS: [&str; 3] = [
    "已联网数与台账不符，请核实后重报",
    "附件2未盖章，请补盖后重报",
    "填表人联系电话缺失",
];

/// The milestones with paperwork in the demo: the statistics table, and the next one due.
async fn milestones(unit: &LocalUnit) -> Result<Vec<NaiveDate>> {
    let Some(c) = yinglian_node::app::campaign::held(&unit.store).await? else {
        return Ok(Vec::new());
    };
    let today = yinglian_node::domain::figures::beijing_today();
    let mut out: Vec<NaiveDate> = c
        .milestones
        .iter()
        .filter(|m| m.figure == Figure::Reported)
        .map(|m| m.deadline)
        .collect();
    if let Some(next) = c.milestones.iter().find(|m| m.deadline >= today) {
        out.push(next.deadline);
    }
    Ok(out)
}

/// One unit submits, if it has nothing standing for the milestone.
async fn submit_if_due(unit: &LocalUnit, k: usize, due: &str) -> Result<()> {
    let own = status(&unit.store, due).await?.own;
    if own.is_some_and(|j| matches!(j.state, State::Missing | State::Returned)) {
        let hub = unit.role == yinglian_node::federation::pki::Role::Hub;
        let reviewer = contact(k, ContactRole::Leader, hub).name;
        let filler = contact(k, ContactRole::Liaison, hub).name;
        submit(&unit.store, WHO, due, &reviewer, &filler, Utc::now()).await?;
    }
    Ok(())
}

/// One piece of paperwork somewhere in district `d`.
pub async fn step(rng: &mut StdRng, fed: &Federation, d: usize) -> Result<()> {
    let district = &fed.districts[d];
    let list = milestones(district).await?;
    if list.is_empty() {
        return Ok(());
    }
    let due = list[rng.random_range(0..list.len())].to_string();
    let i = rng.random_range(0..fed.institutions[d].len());
    match rng.random_range(0..3) {
        // A clerk submits (a slack one rarely).
        0 if rng.random_bool((diligence(d, i) / 2.0).min(1.0)) => {
            submit_if_due(&fed.institutions[d][i], d * 100 + i + 1, &due).await
        }
        // The district reviews one report waiting for it.
        1 => {
            let s = status(&district.store, &due).await?;
            let waiting = s.children.iter().find(|c| {
                c.judgement.submission.is_some()
                    && c.judgement.decision.is_none()
                    && c.judgement.state != State::Returned
            });
            if let Some(c) = waiting {
                let (verdict, reason) = if rng.random_bool(0.15) {
                    (
                        Verdict::Returned,
                        REASONS[rng.random_range(0..REASONS.len())],
                    )
                } else {
                    (Verdict::Accepted, "")
                };
                decide(
                    &district.store,
                    WHO,
                    &c.unit,
                    &due,
                    verdict,
                    reason,
                    Utc::now(),
                )
                .await?;
            }
            Ok(())
        }
        // The district submits its own once most of its institutions have.
        2 => {
            let s = status(&district.store, &due).await?;
            if s.level.reported * 2 >= s.level.expected {
                submit_if_due(district, d + 1, &due).await?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
