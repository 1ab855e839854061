//! The annual assessment (考核): the score the city publishes with the campaign — weights of the
//! networking, archive and geo rates, the intact rates against their targets and the timeliness
//! of submissions — and how one unit's figures make its score. No I/O.

use serde::{Deserialize, Serialize};

use crate::domain::figures::Stats;

/// The weights of the score's parts, in points (they add up to 100).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// 联网率.
    pub networking: f64,
    /// 建档率.
    pub archive: f64,
    /// 标注率.
    pub geo: f64,
    /// 完好率 against the targets (重点公共 99%, 重点行业 95% in the seed).
    pub intact: f64,
    /// 报送及时率: the share of submissions made on time, of the milestones already due.
    pub timeliness: f64,
}

/// Why published weights cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the assessment's weights must be 0 or more and add up to 100 (they add up to {0})")]
pub struct WeightsError(pub f64);

impl Weights {
    /// The weights the seed's campaign implies: networking first, as its phases do.
    pub fn seed() -> Weights {
        Weights {
            networking: 40.0,
            archive: 20.0,
            geo: 15.0,
            intact: 15.0,
            timeliness: 10.0,
        }
    }

    pub fn to_array(&self) -> [f64; 5] {
        [
            self.networking,
            self.archive,
            self.geo,
            self.intact,
            self.timeliness,
        ]
    }

    pub fn validate(&self) -> Result<(), WeightsError> {
        let a = self.to_array();
        let sum: f64 = a.iter().sum();
        if a.iter().any(|w| *w < 0.0 || !w.is_finite()) || (sum - 100.0).abs() > 1e-6 {
            return Err(WeightsError(sum));
        }
        Ok(())
    }

    /// The formula as a person reads it beside the table.
    pub fn formula(&self) -> String {
        format!(
            "考核得分 = {}×联网率 + {}×建档率 + {}×标注率 + {}×完好率达标程度 + {}×报送及时率",
            self.networking, self.archive, self.geo, self.intact, self.timeliness
        )
    }
}

/// The names of the score's parts, in the order of [`Weights::to_array`].
pub const PARTS: [&str; 5] = ["联网率", "建档率", "标注率", "完好率达标程度", "报送及时率"];

/// A unit's score and its parts (points each).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    pub total: f64,
    pub parts: [f64; 5],
}

/// How far the intact rates reach their targets, 0 to 1: the mean over the key classes the unit
/// has of rate ÷ target (at most 1); the overall intact rate where it has neither.
pub fn intact_reach(s: &Stats, target_public: f64, target_industry: f64) -> f64 {
    let reach = |rate: Option<f64>, target: f64| (rate.unwrap_or(0.0) / target.max(1.0)).min(1.0);
    let mut parts = Vec::new();
    if s.key_public_built > 0 {
        parts.push(reach(s.intact_rate_key_public, target_public));
    }
    if s.key_industry_built > 0 {
        parts.push(reach(s.intact_rate_key_industry, target_industry));
    }
    if parts.is_empty() {
        return s.intact_rate.unwrap_or(0.0) / 100.0;
    }
    parts.iter().sum::<f64>() / parts.len() as f64
}

/// The score of a unit with figures `s`: each part is its weight times a share from 0 to 1 (a
/// rate over no cameras counts 0; a unit with no milestone due yet is on time). `timeliness` is
/// the share of its submissions (its subtree's, for a hub) made on time.
pub fn score(
    w: &Weights,
    s: &Stats,
    target_public: f64,
    target_industry: f64,
    timeliness: Option<f64>,
) -> Score {
    let share = |r: Option<f64>| r.unwrap_or(0.0) / 100.0;
    let shares = if s.built == 0 {
        [0.0; 5]
    } else {
        [
            share(s.networking_rate),
            share(s.archive_rate),
            share(s.geo_rate),
            intact_reach(s, target_public, target_industry),
            timeliness.unwrap_or(1.0),
        ]
    };
    let weights = w.to_array();
    let parts: [f64; 5] = std::array::from_fn(|i| weights[i] * shares[i]);
    Score {
        total: parts.iter().sum(),
        parts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::figures::Counts;

    fn stats(built: u64, networked: u64, archived: u64, geo: u64) -> Stats {
        let c = Counts {
            built,
            must_network: built,
            networked,
            archived,
            geo_tagged: geo,
            in_service: built,
            key_public_built: built,
            key_public_in_service: built,
            ..Default::default()
        };
        Stats::from_counts("u", "n", &c, String::new())
    }

    #[test]
    fn the_score_weighs_each_rate_and_a_full_unit_scores_100() {
        let w = Weights::seed();
        w.validate().unwrap();
        let full = score(&w, &stats(10, 10, 10, 10), 99.0, 95.0, Some(1.0));
        assert!((full.total - 100.0).abs() < 1e-9, "{full:?}");
        // Half networked, nothing archived or tagged, late once out of two.
        let s = score(&w, &stats(10, 5, 0, 0), 99.0, 95.0, Some(0.5));
        assert_eq!(s.parts, [20.0, 0.0, 0.0, 15.0, 5.0]);
        assert!((s.total - 40.0).abs() < 1e-9);
        // Nothing built: nothing scored.
        assert_eq!(score(&w, &stats(0, 0, 0, 0), 99.0, 95.0, None).total, 0.0);
        // Weights that do not add up to 100 are refused.
        let bad = Weights {
            networking: 50.0,
            ..Weights::seed()
        };
        assert_eq!(bad.validate(), Err(WeightsError(110.0)));
        assert!(w.formula().starts_with("考核得分 = 40×联网率"));
    }

    #[test]
    fn the_intact_rates_count_against_their_targets() {
        let mut s = stats(100, 100, 100, 100);
        // 98 of 100 key public cameras in service: 98/99 of the target.
        s.intact_rate_key_public = Some(98.0);
        assert!((intact_reach(&s, 99.0, 95.0) - 98.0 / 99.0).abs() < 1e-9);
        s.intact_rate_key_public = Some(100.0);
        assert_eq!(intact_reach(&s, 99.0, 95.0), 1.0);
    }
}
