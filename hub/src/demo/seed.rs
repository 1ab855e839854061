//! What the demo seeds beside the ledgers: a campaign whose milestones sit around today (so that
//! some units are on track, some behind, some overdue), and the liaison contacts of most units
//! (some left missing, as in a real campaign).

use anyhow::Result;
use chrono::{Days, NaiveDate};
use yinglian_node::domain::campaign::Campaign;
use yinglian_node::domain::contacts::{Contact, ContactRole};

use crate::local::LocalUnit;

/// The seed's campaign (the same milestones, titles and targets), its dates moved around `today`:
/// the contacts and the statistics table were due weeks ago (a unit still missing them is
/// overdue), the archive is due in two weeks (most of the way there: units below the line are
/// behind), then phase 2 (80% networked) in two months and phase 3 (all networked) in five.
pub fn live_campaign(today: NaiveDate) -> Campaign {
    let mut c = Campaign::seed();
    c.start = today - Days::new(120);
    // Days from today, in the seed's order: contacts, table, archive, phase 2, phase 3.
    let offsets: [i64; 5] = [-90, -60, 15, 60, 150];
    for (m, days) in c.milestones.iter_mut().zip(offsets) {
        m.deadline = if days < 0 {
            today - Days::new(days.unsigned_abs())
        } else {
            today + Days::new(days as u64)
        };
    }
    c
}

const SURNAMES: [&str; 16] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴", "徐", "孙", "马", "朱", "胡", "谭",
];
const GIVEN: [&str; 16] = [
    "建国", "晓东", "丽", "伟", "敏", "静", "强", "军", "娟", "涛", "明", "霞", "勇", "燕", "磊",
    "红梅",
];

/// Whether the `k`-th unit of the demo reported `role` (most did; every seventh reported
/// nothing, every eleventh no liaison).
pub fn reported(k: usize, role: ContactRole) -> bool {
    match role {
        ContactRole::Leader => k % 7 != 3,
        ContactRole::Liaison => k % 7 != 3 && k % 11 != 5,
    }
}

/// The plausible contact the `k`-th unit names for `role`; `hub` says whether it is a bureau (or
/// the commission) rather than an institution.
pub fn contact(k: usize, role: ContactRole, hub: bool) -> Contact {
    let n = k * 2 + (role == ContactRole::Liaison) as usize;
    let name = format!(
        "{}{}",
        SURNAMES[(n * 7 + 3) % SURNAMES.len()],
        GIVEN[(n * 5 + 1) % GIVEN.len()]
    );
    let position = match (role, hub) {
        (ContactRole::Leader, true) => "副主任",
        (ContactRole::Leader, false) => "副院长",
        (ContactRole::Liaison, true) => "办公室科员",
        (ContactRole::Liaison, false) => "保卫科科长",
    };
    let phone = match role {
        ContactRole::Leader => format!("023-6{:07}", (n * 7919 + 1234) % 10_000_000),
        ContactRole::Liaison => format!("13{:09}", (n * 104_729 + 567) % 1_000_000_000),
    };
    Contact {
        name,
        position: position.to_string(),
        phone,
        remarks: String::new(),
    }
}

/// Writes the contacts the `k`-th unit reported; returns how many.
pub async fn contacts(unit: &LocalUnit, k: usize, hub: bool) -> Result<usize> {
    let list: Vec<(ContactRole, Contact)> = ContactRole::ALL
        .into_iter()
        .filter(|r| reported(k, *r))
        .map(|r| (r, contact(k, r, hub)))
        .collect();
    if !list.is_empty() {
        yinglian_node::app::contacts::set(&unit.store, "demo", &list).await?;
    }
    Ok(list.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use yinglian_node::domain::campaign::{Status, standing};
    use yinglian_node::domain::figures::{Counts, Stats};

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
    fn the_live_campaign_shows_units_on_track_behind_and_overdue() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let c = live_campaign(today);
        assert_eq!(c.milestones.len(), Campaign::seed().milestones.len());
        assert!(
            c.milestones
                .windows(2)
                .all(|w| w[0].deadline <= w[1].deadline)
        );
        assert!(c.start < c.milestones[0].deadline);
        // Archive nearly done: on track towards the archive milestone.
        let s = standing(&c, &stats(40, 30, 20, 38), true, today).unwrap();
        assert_eq!(
            (s.title.as_str(), s.status),
            ("摸底建档完成", Status::OnTrack)
        );
        // Archive far behind the line.
        let s = standing(&c, &stats(40, 30, 20, 25), true, today).unwrap();
        assert_eq!(s.status, Status::Behind);
        // Contacts never reported: overdue.
        let s = standing(&c, &stats(40, 30, 20, 40), false, today).unwrap();
        assert_eq!(
            (s.title.as_str(), s.status),
            ("报送联络人（附件1）", Status::Overdue)
        );
        // Archived, two thirds networked: on track towards phase 2.
        let s = standing(&c, &stats(40, 30, 20, 40), true, today).unwrap();
        assert_eq!(
            (s.title.as_str(), s.status),
            ("第二阶段：联网率80%", Status::OnTrack)
        );
    }

    #[test]
    fn most_units_report_contacts_and_every_contact_is_valid() {
        let missing = (0..165)
            .filter(|k| !reported(*k, ContactRole::Liaison))
            .count();
        assert!((15..50).contains(&missing), "{missing}");
        for k in 0..165 {
            for r in ContactRole::ALL {
                contact(k, r, k % 4 == 0).validate().unwrap();
            }
        }
        assert_ne!(
            contact(1, ContactRole::Leader, true).name,
            contact(2, ContactRole::Leader, true).name
        );
    }
}
