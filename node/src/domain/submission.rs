//! 报送: a unit's report for one milestone (its subtree's figures frozen at that moment, with
//! 审核人, 填表人 and the time), its parent's decisions on it (接受, or 退回 with a reason), and the
//! rules that say where a unit stands for a milestone — 按时报送, 逾期报送, 已退回 or 未报送, and
//! whether the parent accepted it — and a level's completeness and timeliness (the share of its
//! units that reported, and that reported on time, like DHIS2's reporting rates). No I/O.
//!
//! The rules: the submission that stands is the unit's latest. It is on time when it was made by
//! the end of the deadline day in Beijing time (a resubmission after a return is judged by its
//! own time). The parent's decision that counts is its latest on the standing submission: a
//! return sends the unit back to 已退回 until it resubmits; a decision on an earlier submission
//! says nothing about a later one.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::figures::{Counts, rate};

/// The longest name of a reviewer or filler, in characters.
pub const MAX_NAME: usize = 50;
/// The longest reason of a return, in characters.
pub const MAX_REASON: usize = 500;

/// One row of a frozen Attachment 2: a direct child's subtree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrozenRow {
    pub unit: String,
    pub name: String,
    pub counts: Counts,
}

/// A unit's report for a milestone, frozen when it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// When it was made (milliseconds).
    pub at: DateTime<Utc>,
    /// 审核人.
    pub reviewer: String,
    /// 填表人.
    pub filler: String,
    /// The account or user that submitted it (for the audit).
    pub by: String,
    /// The unit's subtree figures at `at` (its own ledger and every child's subtree).
    pub counts: Counts,
    /// A hub's rows, one per direct child, as its rollup held them at `at` (empty for a leaf).
    pub rows: Vec<FrozenRow>,
    /// The heads (hex) of the document the figures were read from (the unit's rollup, or a
    /// leaf's ledger): the parent reads its replica at the same point to check them.
    #[serde(default)]
    pub source: Vec<String>,
}

/// What the parent decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// 接受.
    Accepted,
    /// 退回, to be corrected and submitted again.
    Returned,
}

impl Verdict {
    pub fn key(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Returned => "returned",
        }
    }
    pub fn parse(s: &str) -> Option<Verdict> {
        [Verdict::Accepted, Verdict::Returned]
            .into_iter()
            .find(|v| v.key() == s)
    }
    pub fn chinese(self) -> &'static str {
        match self {
            Verdict::Accepted => "已接受",
            Verdict::Returned => "已退回",
        }
    }
}

/// The parent's decision on one submission of a child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub at: DateTime<Utc>,
    pub verdict: Verdict,
    /// Why it was returned (empty for an acceptance).
    pub reason: String,
    pub by: String,
    /// The `at` of the submission decided on.
    pub submitted_at: DateTime<Utc>,
}

/// Where a unit stands for a milestone (JSON: `on-time`, `late`, `returned`, `missing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// 按时报送: submitted by the deadline.
    OnTime,
    /// 逾期报送: submitted after the deadline.
    Late,
    /// 已退回: the parent returned the standing submission.
    Returned,
    /// 未报送: nothing submitted.
    Missing,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::OnTime => "on-time",
            State::Late => "late",
            State::Returned => "returned",
            State::Missing => "missing",
        }
    }
    pub fn chinese(self) -> &'static str {
        match self {
            State::OnTime => "按时报送",
            State::Late => "逾期报送",
            State::Returned => "已退回",
            State::Missing => "未报送",
        }
    }
}

/// A unit's standing for one milestone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judgement {
    pub state: State,
    /// The parent accepted the standing submission.
    pub accepted: bool,
    /// The standing submission (the latest).
    pub submission: Option<Submission>,
    /// The parent's latest decision on it.
    pub decision: Option<Decision>,
    /// Every submission, oldest first (resubmissions kept as history).
    pub submissions: usize,
}

/// The last moment of a deadline day in Beijing time (23:59:59.999 +08:00).
pub fn deadline_end(deadline: NaiveDate) -> DateTime<Utc> {
    let next = deadline.succ_opt().unwrap_or(deadline);
    let midnight = crate::domain::figures::beijing()
        .from_local_datetime(&next.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("UTC+8 has no gaps");
    midnight.with_timezone(&Utc) - chrono::Duration::milliseconds(1)
}

/// Whether a submission made at `at` is on time for `deadline`.
pub fn on_time(at: DateTime<Utc>, deadline: NaiveDate) -> bool {
    at <= deadline_end(deadline)
}

/// A moment to the millisecond (what the documents keep), so that a decision names its
/// submission exactly.
pub fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(t.timestamp_millis())
        .single()
        .unwrap_or(t)
}

/// Where a unit stands for the milestone due `deadline`, from its submissions and its parent's
/// decisions (in any order).
pub fn judge(submissions: &[Submission], decisions: &[Decision], deadline: NaiveDate) -> Judgement {
    let Some(latest) = submissions.iter().max_by_key(|s| s.at) else {
        return Judgement {
            state: State::Missing,
            accepted: false,
            submission: None,
            decision: None,
            submissions: 0,
        };
    };
    let decision = decisions
        .iter()
        .filter(|d| d.submitted_at == latest.at)
        .max_by_key(|d| d.at)
        .cloned();
    let state = match decision.as_ref().map(|d| d.verdict) {
        Some(Verdict::Returned) => State::Returned,
        _ if on_time(latest.at, deadline) => State::OnTime,
        _ => State::Late,
    };
    Judgement {
        state,
        accepted: decision.as_ref().map(|d| d.verdict) == Some(Verdict::Accepted),
        submission: Some(latest.clone()),
        decision,
        submissions: submissions.len(),
    }
}

/// The counts of a level for one milestone, which add up the tree: how many units were to
/// report, how many did (a standing submission not returned), how many of those on time, how
/// many were returned, how many accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub expected: u64,
    pub reported: u64,
    pub on_time: u64,
    pub returned: u64,
    pub accepted: u64,
}

impl Tally {
    /// The keys of the counts, as the rollup document keeps them.
    pub const FIELDS: [&'static str; 5] =
        ["expected", "reported", "on_time", "returned", "accepted"];

    pub fn to_array(&self) -> [u64; 5] {
        [
            self.expected,
            self.reported,
            self.on_time,
            self.returned,
            self.accepted,
        ]
    }

    /// From counts a peer wrote: made consistent (no more reported than expected, no more on
    /// time or accepted than reported, no more returned than were not reported).
    pub fn from_array(a: [u64; 5]) -> Tally {
        let [expected, reported, on_time, returned, accepted] = a;
        let reported = reported.min(expected);
        Tally {
            expected,
            reported,
            on_time: on_time.min(reported),
            returned: returned.min(expected - reported),
            accepted: accepted.min(reported),
        }
    }

    /// Counts one unit.
    pub fn count(&mut self, j: &Judgement) {
        self.expected += 1;
        match j.state {
            State::OnTime => {
                self.reported += 1;
                self.on_time += 1;
            }
            State::Late => self.reported += 1,
            State::Returned => self.returned += 1,
            State::Missing => {}
        }
        if j.accepted && j.state != State::Returned {
            self.accepted += 1;
        }
    }

    pub fn add(&mut self, o: &Tally) {
        let (a, b) = (self.to_array(), o.to_array());
        *self = Tally::from_array(std::array::from_fn(|i| a[i] + b[i]));
    }

    /// Units that have not reported at all.
    pub fn missing(&self) -> u64 {
        self.expected - self.reported - self.returned
    }

    /// Units that reported after the deadline.
    pub fn late(&self) -> u64 {
        self.reported - self.on_time
    }

    /// 报送率: the share that reported, percent (null when no unit was to report).
    pub fn completeness(&self) -> Option<f64> {
        rate(self.reported, self.expected)
    }

    /// 及时率: the share that reported on time, percent.
    pub fn timeliness(&self) -> Option<f64> {
        rate(self.on_time, self.expected)
    }
}

/// Tallies per milestone (keyed by the deadline, `2021-08-25`).
pub type Tallies = BTreeMap<String, Tally>;

/// Why a submission or a decision is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmissionError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{0} is longer than allowed")]
    TooLong(&'static str),
    #[error("\"{0}\" is not a date (YYYY-MM-DD)")]
    Date(String),
    #[error("no milestone of the campaign is due {0}")]
    NotAMilestone(NaiveDate),
    #[error("the campaign has not reached this unit yet")]
    NoCampaign,
    #[error("this unit has no parent to report to")]
    NoParent,
    #[error("a subscriber reads; it does not report")]
    Subscriber,
    #[error("{0} is not a child of this unit")]
    NotAChild(String),
    #[error("{0} has submitted nothing for the milestone due {1}")]
    NothingSubmitted(String, NaiveDate),
}

/// Checks a text a person typed: required, and at most `max` characters.
pub fn check_text(what: &'static str, text: &str, max: usize) -> Result<String, SubmissionError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(SubmissionError::Missing(what));
    }
    if t.chars().count() > max {
        return Err(SubmissionError::TooLong(what));
    }
    Ok(t.to_string())
}

/// A milestone named by its deadline (`2021-08-25`).
pub fn parse_milestone(text: &str) -> Result<NaiveDate, SubmissionError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| SubmissionError::Date(text.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// A moment in Beijing time.
    fn bj(y: i32, m: u32, day: u32, h: u32, min: u32) -> DateTime<Utc> {
        crate::domain::figures::beijing()
            .with_ymd_and_hms(y, m, day, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn sub(at: DateTime<Utc>) -> Submission {
        Submission {
            at,
            reviewer: "王审核".into(),
            filler: "李填表".into(),
            by: "clerk".into(),
            counts: Counts::default(),
            rows: vec![],
            source: vec![],
        }
    }

    fn decide(on: &Submission, at: DateTime<Utc>, verdict: Verdict) -> Decision {
        Decision {
            at,
            verdict,
            reason: if verdict == Verdict::Returned {
                "已联网数与台账不符".into()
            } else {
                String::new()
            },
            by: "district".into(),
            submitted_at: on.at,
        }
    }

    const DUE: (i32, u32, u32) = (2021, 8, 25);

    fn due() -> NaiveDate {
        d(DUE.0, DUE.1, DUE.2)
    }

    #[test]
    fn on_time_is_by_the_end_of_the_deadline_day_in_beijing() {
        // 23:59 in Beijing on the day is on time; 00:00 the next day is late, although it is
        // still the 25th in UTC.
        assert!(on_time(bj(2021, 8, 25, 23, 59), due()));
        assert!(!on_time(bj(2021, 8, 26, 0, 0), due()));
        assert_eq!(
            deadline_end(due()).to_rfc3339(),
            "2021-08-25T15:59:59.999+00:00"
        );
        assert_eq!(
            judge(&[sub(bj(2021, 8, 20, 9, 0))], &[], due()).state,
            State::OnTime
        );
        assert_eq!(
            judge(&[sub(bj(2021, 8, 26, 9, 0))], &[], due()).state,
            State::Late
        );
        let none = judge(&[], &[], due());
        assert_eq!((none.state, none.accepted), (State::Missing, false));
    }

    #[test]
    fn a_return_stands_until_the_unit_resubmits_and_the_resubmission_is_judged_by_its_time() {
        let first = sub(bj(2021, 8, 24, 10, 0));
        let returned = decide(&first, bj(2021, 8, 25, 9, 0), Verdict::Returned);
        let j = judge(
            std::slice::from_ref(&first),
            std::slice::from_ref(&returned),
            due(),
        );
        assert_eq!(j.state, State::Returned);
        assert_eq!(j.decision.unwrap().reason, "已联网数与台账不符");
        // Resubmitted on the deadline day: on time again, and the return no longer applies.
        let again = sub(bj(2021, 8, 25, 16, 0));
        let j = judge(
            &[first.clone(), again.clone()],
            std::slice::from_ref(&returned),
            due(),
        );
        assert_eq!(
            (j.state, j.accepted, j.submissions),
            (State::OnTime, false, 2)
        );
        assert_eq!(j.submission.unwrap().at, again.at);
        // Resubmitted after the deadline: late.
        let late = sub(bj(2021, 8, 27, 16, 0));
        let j = judge(
            &[late.clone(), first.clone()],
            std::slice::from_ref(&returned),
            due(),
        );
        assert_eq!(j.state, State::Late);
        // Accepted: the latest decision on the standing submission counts.
        let accepted = decide(&late, bj(2021, 8, 28, 9, 0), Verdict::Accepted);
        let j = judge(
            &[first.clone(), late.clone()],
            &[returned.clone(), accepted.clone()],
            due(),
        );
        assert_eq!((j.state, j.accepted), (State::Late, true));
        // Returned again after an acceptance.
        let back = decide(&late, bj(2021, 8, 29, 9, 0), Verdict::Returned);
        let j = judge(&[first, late], &[accepted, back, returned], due());
        assert_eq!((j.state, j.accepted), (State::Returned, false));
    }

    #[test]
    fn a_level_counts_completeness_and_timeliness_and_they_add_up() {
        let on = judge(&[sub(bj(2021, 8, 20, 9, 0))], &[], due());
        let late = judge(&[sub(bj(2021, 8, 26, 9, 0))], &[], due());
        let s = sub(bj(2021, 8, 21, 9, 0));
        let returned = judge(
            std::slice::from_ref(&s),
            &[decide(&s, bj(2021, 8, 22, 9, 0), Verdict::Returned)],
            due(),
        );
        let accepted = judge(
            std::slice::from_ref(&s),
            &[decide(&s, bj(2021, 8, 22, 9, 0), Verdict::Accepted)],
            due(),
        );
        let missing = judge(&[], &[], due());
        let mut t = Tally::default();
        for j in [&on, &late, &returned, &missing] {
            t.count(j);
        }
        assert_eq!(
            (
                t.expected,
                t.reported,
                t.on_time,
                t.late(),
                t.returned,
                t.missing()
            ),
            (4, 2, 1, 1, 1, 1)
        );
        assert_eq!((t.completeness(), t.timeliness()), (Some(50.0), Some(25.0)));
        let mut level = Tally::default();
        level.count(&accepted);
        level.add(&t);
        assert_eq!(
            (
                level.expected,
                level.reported,
                level.on_time,
                level.accepted
            ),
            (5, 3, 2, 1)
        );
        assert_eq!(level.completeness(), Some(60.0));
        assert_eq!(Tally::default().completeness(), None);
        // What a peer wrote is made consistent before it is added.
        let forged = Tally::from_array([2, 9, 9, 9, 9]);
        assert_eq!(forged.to_array(), [2, 2, 2, 0, 2]);
    }

    #[test]
    fn names_and_reasons_are_checked() {
        assert_eq!(
            check_text("reviewer", "  王审核 ", MAX_NAME).unwrap(),
            "王审核"
        );
        assert_eq!(
            check_text("reviewer", "  ", MAX_NAME),
            Err(SubmissionError::Missing("reviewer"))
        );
        assert_eq!(
            check_text("reason", &"长".repeat(MAX_REASON + 1), MAX_REASON),
            Err(SubmissionError::TooLong("reason"))
        );
        assert_eq!(parse_milestone("2021-08-25").unwrap(), due());
        assert!(parse_milestone("8月25日").is_err());
    }
}
