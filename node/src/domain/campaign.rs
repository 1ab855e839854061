//! The campaign: `campaign/<root>` holds the milestones (deadline, figure, target) and the
//! intact-rate targets. The root writes it (the seed's five milestones by default, at
//! `pki init-root`); it flows down to every node, and every unit's figures say where the unit
//! stands against the next milestone it has not met: on track, behind or overdue.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::figures::Stats;

/// What a milestone measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    /// 联网率, percent.
    NetworkingRate,
    /// 建档率, percent.
    ArchiveRate,
    /// Both liaison contacts reported (Attachment 1): 100 or 0.
    Contacts,
    /// The statistics table reported (Attachment 2): 100 once the unit has a ledger with cameras.
    Reported,
}

impl Figure {
    pub fn key(self) -> &'static str {
        match self {
            Figure::NetworkingRate => "networking_rate",
            Figure::ArchiveRate => "archive_rate",
            Figure::Contacts => "contacts",
            Figure::Reported => "reported",
        }
    }
    pub fn parse(s: &str) -> Option<Figure> {
        [
            Figure::NetworkingRate,
            Figure::ArchiveRate,
            Figure::Contacts,
            Figure::Reported,
        ]
        .into_iter()
        .find(|f| f.key() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Milestone {
    pub title: String,
    pub deadline: NaiveDate,
    pub figure: Figure,
    /// Percent.
    pub target: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub name: String,
    pub start: NaiveDate,
    pub milestones: Vec<Milestone>,
    pub intact_target_key_public: f64,
    pub intact_target_key_industry: f64,
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("a valid date")
}

impl Campaign {
    /// The seed's campaign: 视频图像信息联网整合, 2021–2022.
    pub fn seed() -> Campaign {
        let m = |title: &str, deadline, figure, target| Milestone {
            title: title.into(),
            deadline,
            figure,
            target,
        };
        Campaign {
            name: "卫生健康系统视频图像信息联网整合".into(),
            start: d(2021, 3, 1),
            milestones: vec![
                m(
                    "报送联络人（附件1）",
                    d(2021, 3, 20),
                    Figure::Contacts,
                    100.0,
                ),
                m(
                    "报送统计表（附件2）",
                    d(2021, 8, 25),
                    Figure::Reported,
                    100.0,
                ),
                m("摸底建档完成", d(2021, 8, 30), Figure::ArchiveRate, 100.0),
                m(
                    "第二阶段：联网率80%",
                    d(2021, 12, 31),
                    Figure::NetworkingRate,
                    80.0,
                ),
                m(
                    "第三阶段：全部联网",
                    d(2022, 6, 30),
                    Figure::NetworkingRate,
                    100.0,
                ),
            ],
            intact_target_key_public: 99.0,
            intact_target_key_industry: 95.0,
        }
    }
}

/// How a unit stands against a milestone (JSON: `met`, `on-track`, `behind`, `overdue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every milestone is met.
    Met,
    /// At or above the straight line from the campaign's start to the deadline.
    OnTrack,
    /// Below that line, before the deadline.
    Behind,
    /// The deadline has passed and the target is not met.
    Overdue,
}

impl Status {
    /// The English word the JSON and the command line use.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::OnTrack => "on-track",
            Status::Behind => "behind",
            Status::Overdue => "overdue",
        }
    }

    /// What a person reads.
    pub fn chinese(self) -> &'static str {
        match self {
            Status::Met => "已达成",
            Status::OnTrack => "按计划推进",
            Status::Behind => "进度落后",
            Status::Overdue => "已逾期",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a unit stands against its next milestone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standing {
    pub title: String,
    pub deadline: NaiveDate,
    pub figure: Figure,
    pub target: f64,
    /// The unit's figure now (percent).
    pub current: f64,
    pub status: Status,
}

/// The next milestone the unit has not met, and where it stands. `contacts_complete` says
/// whether the unit reported both liaison contacts.
pub fn standing(
    c: &Campaign,
    s: &Stats,
    contacts_complete: bool,
    today: NaiveDate,
) -> Option<Standing> {
    let value = |f: Figure| match f {
        Figure::NetworkingRate => {
            s.networking_rate
                .unwrap_or(if s.must_network == 0 { 100.0 } else { 0.0 })
        }
        Figure::ArchiveRate => s.archive_rate.unwrap_or(0.0),
        Figure::Contacts => {
            if contacts_complete {
                100.0
            } else {
                0.0
            }
        }
        Figure::Reported => {
            if s.built > 0 {
                100.0
            } else {
                0.0
            }
        }
    };
    let next = c.milestones.iter().find(|m| value(m.figure) < m.target);
    let Some(m) = next else {
        let last = c.milestones.last()?;
        return Some(Standing {
            title: last.title.clone(),
            deadline: last.deadline,
            figure: last.figure,
            target: last.target,
            current: value(last.figure),
            status: Status::Met,
        });
    };
    let current = value(m.figure);
    let status = if today > m.deadline {
        Status::Overdue
    } else {
        let total = (m.deadline - c.start).num_days().max(1) as f64;
        let elapsed = (today - c.start).num_days().clamp(0, total as i64) as f64;
        if current >= m.target * elapsed / total {
            Status::OnTrack
        } else {
            Status::Behind
        }
    };
    Some(Standing {
        title: m.title.clone(),
        deadline: m.deadline,
        figure: m.figure,
        target: m.target,
        current,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::figures::Counts;

    fn stats(built: u64, must: u64, networked: u64, archived: u64) -> Stats {
        let c = Counts {
            built,
            must_network: must,
            networked,
            archived,
            ..Default::default()
        };
        Stats::from_counts("u", "n", &c, String::new())
    }

    #[test]
    fn the_campaign_says_where_a_unit_stands() {
        let c = Campaign::seed();
        // Everything archived and reported, 60% networked, seven months into the ten before
        // phase 2's deadline (80% × 0.7 = 56% expected by now).
        let s = stats(10, 10, 6, 10);
        let mid = d(2021, 10, 1);
        let st = standing(&c, &s, true, mid).unwrap();
        assert_eq!(
            (st.title.as_str(), st.status),
            ("第二阶段：联网率80%", Status::OnTrack)
        );
        let st = standing(&c, &stats(10, 10, 1, 10), true, mid).unwrap();
        assert_eq!(st.status, Status::Behind);
        // Contacts missing: the first milestone, long overdue.
        let st = standing(&c, &s, false, mid).unwrap();
        assert_eq!((st.figure, st.status), (Figure::Contacts, Status::Overdue));
        // All networked: every milestone met.
        let st = standing(&c, &stats(10, 10, 10, 10), true, d(2026, 11, 24)).unwrap();
        assert_eq!(st.status, Status::Met);
    }
}
