//! The assessment league (考核排名) of this unit's direct children: each child's score by the
//! weights the campaign publishes, from its figures (the rollups) and the timeliness of its
//! submissions (and its subtree's) for the milestones already due; the order the annual
//! assessment uses.

use serde::Serialize;

use crate::app::figures::dashboard;
use crate::app::submission::status;
use crate::domain::assessment::{Score, Weights, score};
use crate::domain::figures::{Stats, beijing_today};
use crate::domain::submission::State;

/// One child in the league.
#[derive(Debug, Clone, Serialize)]
pub struct Ranked {
    pub rank: usize,
    #[serde(flatten)]
    pub stats: Stats,
    pub score: Score,
    /// Submissions made on time ÷ expected, over the milestones due (the child's and its
    /// subtree's); `None` before any is due.
    pub timeliness: Option<f64>,
}

/// The league of this unit's children.
#[derive(Debug, Clone, Serialize)]
pub struct League {
    pub unit: String,
    pub name: String,
    pub weights: Weights,
    pub formula: String,
    pub rows: Vec<Ranked>,
}

/// The league of this unit's direct children, best score first (then more cameras, then code).
pub async fn league(store: &crate::store::Store) -> anyhow::Result<League> {
    let d = dashboard(store, None).await?;
    let weights = crate::app::campaign::weights(store).await?;
    let campaign = crate::app::campaign::held(store).await?;
    let (public, industry) = campaign
        .as_ref()
        .map(|c| (c.intact_target_key_public, c.intact_target_key_industry))
        .unwrap_or((99.0, 95.0));
    // On time and expected, per child, over the milestones already due.
    let mut timely: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    if let Some(c) = &campaign {
        let today = beijing_today();
        let due: Vec<_> = c.milestones.iter().filter(|m| m.deadline < today).collect();
        for m in due {
            let st = status(store, &m.deadline.to_string()).await?;
            for ch in st.children {
                let t = timely.entry(ch.unit.clone()).or_default();
                t.0 += u64::from(ch.judgement.state == State::OnTime);
                t.1 += 1;
                if let Some(b) = ch.below {
                    t.0 += b.on_time;
                    t.1 += b.expected;
                }
            }
        }
    }
    let mut rows: Vec<Ranked> = d
        .stats
        .children
        .into_iter()
        .map(|s| {
            let timeliness = timely
                .get(&s.unit)
                .filter(|(_, expected)| *expected > 0)
                .map(|(on, expected)| *on as f64 / *expected as f64);
            Ranked {
                rank: 0,
                score: score(&weights, &s, public, industry, timeliness),
                stats: s,
                timeliness,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.score
            .total
            .total_cmp(&a.score.total)
            .then(b.stats.built.cmp(&a.stats.built))
            .then(a.stats.unit.cmp(&b.stats.unit))
    });
    for (i, r) in rows.iter_mut().enumerate() {
        r.rank = i + 1;
    }
    Ok(League {
        unit: d.stats.unit,
        name: d.stats.name,
        formula: weights.formula(),
        weights,
        rows,
    })
}
