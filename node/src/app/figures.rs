//! The figures a person asks for: a unit's (or a unit of its subtree's) figures now, from the
//! rollups the daemon keeps current, and as they stood at the end of a past day, from the
//! documents' own history; and how a dashboard reads them: each rate against its target and the
//! current milestone, the children sorted by a chosen figure, who lags, and the league order the
//! annual assessment would use.

use anyhow::Result;

use crate::domain::unit::UnitCode;
use crate::store::Store;

/// Adds the last 30 days' time in service and time to repair of this hub's tree and of each
/// direct child's subtree, as its rollup's operations part holds them (a refused child's none).
async fn with_operations(store: &Store, s: &mut crate::domain::figures::Stats) -> Result<()> {
    let Some(tree) = crate::app::operations_tree::part(store).await? else {
        return Ok(());
    };
    s.service_rate_30d = tree.totals.service_rate();
    s.mean_repair_hours_30d = tree.totals.mean_repair_hours();
    for c in &mut s.children {
        if let Some(r) = tree.children.get(&c.unit).filter(|r| !r.refused) {
            c.service_rate_30d = r.operations.service_rate();
            c.mean_repair_hours_30d = r.operations.mean_repair_hours();
        }
    }
    Ok(())
}

/// The figures of this unit, or of a unit of its subtree: a hub's object covers its whole
/// subtree with one row per direct child (from its rollup, which the daemon keeps current; a
/// command run beside no daemon calls `refresh_rollup` first); a unit whose ledger is held here
/// (a leaf child) answers from that replica.
pub async fn subtree_stats(
    store: &Store,
    unit: Option<&str>,
) -> Result<crate::domain::figures::Stats> {
    let me = store.unit().clone();
    let unit = match unit {
        Some(u) => UnitCode::parse(u)?,
        None => me.clone(),
    };
    // The unit's subtree row, from whichever rollup holds it (its own totals, or its parent's row).
    let own_rows = store.rollup_rows(unit.as_str()).await?;
    let mut found = own_rows.iter().find(|r| r.unit == unit.as_str()).cloned();
    if found.is_none()
        && unit != me
        && let Some(hub) = store.rollup_holding(unit.as_str(), true).await?
    {
        found = store
            .rollup_rows(&hub)
            .await?
            .into_iter()
            .find(|r| r.unit == unit.as_str());
    }
    let mut s = match found {
        Some(row) => {
            let mut s = row.stats();
            s.children = own_rows
                .iter()
                .filter(|r| r.unit != unit.as_str())
                .map(|r| r.stats())
                .collect();
            s
        }
        None => {
            if unit != me
                && store
                    .heads(&crate::docs::document::DocId::ledger(&unit))
                    .await?
                    .is_empty()
            {
                anyhow::bail!("单位 {unit} 不在 {me} 的下级范围内，或尚未同步到本级");
            }
            store.stats(unit.as_str()).await?
        }
    };
    if unit == me {
        with_operations(store, &mut s).await?;
    }
    if let Some(c) = crate::app::campaign::held(store).await? {
        let today = crate::domain::figures::beijing_today();
        let complete = |p: Option<crate::docs::profile::Profile>| {
            p.is_some_and(|p| {
                p.contact(crate::domain::contacts::ContactRole::Leader)
                    .is_some()
                    && p.contact(crate::domain::contacts::ContactRole::Liaison)
                        .is_some()
            })
        };
        let mine = complete(store.profile(&s.unit).await?);
        s.milestone = crate::domain::campaign::standing(&c, &s, mine, today);
        for child in &mut s.children {
            let theirs = complete(store.profile(&child.unit).await?);
            child.milestone = crate::domain::campaign::standing(&c, child, theirs, today);
        }
    }
    Ok(s)
}

/// Brings a hub's own rollup up to date with what its store holds (for a command that may run
/// while no daemon keeps it current), its data-quality findings too; a leaf has none.
pub async fn refresh_rollup(store: &Store) -> Result<()> {
    if store.identity().is_hub() {
        crate::app::rollup::recompute(store).await?;
        crate::app::quality_tree::refresh(store).await?;
    }
    Ok(())
}

/// The figures of this unit (or of a unit of its subtree) as of the end of `date` (Beijing time),
/// from the documents' history: a hub's rollup as it stood then, or a ledger as it stood then.
pub async fn stats_as_of(
    store: &Store,
    unit: Option<&str>,
    date: chrono::NaiveDate,
) -> Result<crate::domain::figures::Stats> {
    use crate::docs::document::DocId;
    use crate::domain::figures::Stats;
    let unit = match unit {
        Some(u) => UnitCode::parse(u)?,
        None => store.unit().clone(),
    };
    let t = crate::app::history::end_of_day(date);
    let label = date.to_string();
    let rollup_doc = store.rollup_doc(&unit).await?;
    if !store.heads(&rollup_doc).await?.is_empty() {
        let r = crate::app::history::rollup_at(store, &unit, t).await?;
        let name = store.unit_name(unit.as_str()).await?;
        let counts = r.totals.as_ref().map(|t| t.counts).unwrap_or_default();
        let mut s = Stats::from_counts(unit.as_str(), &name, &counts, label.clone());
        s.children = r
            .children
            .values()
            .map(|row| Stats::from_counts(&row.unit, &row.name, &row.counts, label.clone()))
            .collect();
        return Ok(s);
    }
    if let Some(hub) = store.rollup_holding(unit.as_str(), false).await? {
        let r = crate::app::history::rollup_at(store, &UnitCode::parse(&hub)?, t).await?;
        let name = store.unit_name(unit.as_str()).await?;
        let counts = r
            .children
            .get(unit.as_str())
            .map(|row| row.counts)
            .unwrap_or_default();
        return Ok(Stats::from_counts(unit.as_str(), &name, &counts, label));
    }
    if store.heads(&DocId::ledger(&unit)).await?.is_empty() {
        anyhow::bail!(
            "单位 {unit} 不在 {} 的下级范围内，或尚未同步到本级",
            store.unit()
        );
    }
    let counts = crate::app::history::ledger_counts_at(store, &unit, t).await?;
    let name = store.unit_name(unit.as_str()).await?;
    Ok(Stats::from_counts(unit.as_str(), &name, &counts, label))
}

use crate::domain::campaign::{Campaign, Figure, Status};
use crate::domain::figures::Stats;

/// How a rate compares with its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// At or above the target.
    Met,
    /// Below the target, its deadline not yet passed.
    Short,
    /// Below the target after its deadline (or below a target that has no deadline).
    Failed,
    /// Nothing to compare (no cameras, or no target).
    Unknown,
}

impl Mark {
    /// The CSS class of a cell so marked.
    pub fn class(self) -> &'static str {
        match self {
            Mark::Met => "good",
            Mark::Short => "warn",
            Mark::Failed => "bad",
            Mark::Unknown => "none",
        }
    }
}

/// A target: the percent to reach, and by when (no date: always).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub percent: f64,
    pub deadline: Option<chrono::NaiveDate>,
    /// What a person reads: 第二阶段：联网率80%（2021年12月31日）.
    pub label: String,
}

/// The targets every rate of a dashboard is coloured against, from the campaign and today.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Targets {
    /// The current networking milestone: the first whose deadline has not passed, else the last.
    pub networking: Option<Target>,
    /// The archive milestone (建档率; the plan asks the same 100% of the geo-annotation rate).
    pub archive: Option<Target>,
    /// Intact rate of key public areas (99%).
    pub intact_public: Option<Target>,
    /// Intact rate of key-industry public areas (95%).
    pub intact_industry: Option<Target>,
    pub today: Option<chrono::NaiveDate>,
}

/// A date as a person reads it: 2026年11月26日.
pub fn date_zh(d: chrono::NaiveDate) -> String {
    crate::app::zh::beijing_date(d)
}

impl Targets {
    /// The targets of campaign `c` as they stand on `today`.
    pub fn of(c: Option<&Campaign>, today: chrono::NaiveDate) -> Targets {
        let Some(c) = c else {
            return Targets::default();
        };
        let milestone = |f: Figure| {
            let all: Vec<_> = c.milestones.iter().filter(|m| m.figure == f).collect();
            all.iter()
                .find(|m| m.deadline >= today)
                .or(all.last())
                .map(|m| Target {
                    percent: m.target,
                    deadline: Some(m.deadline),
                    label: format!("{}（{}）", m.title, date_zh(m.deadline)),
                })
        };
        let fixed = |percent: f64, what: &str| Target {
            percent,
            deadline: None,
            label: format!("{what}{percent:.0}%"),
        };
        Targets {
            networking: milestone(Figure::NetworkingRate),
            archive: milestone(Figure::ArchiveRate),
            intact_public: Some(fixed(c.intact_target_key_public, "重点公共区域完好率")),
            intact_industry: Some(fixed(
                c.intact_target_key_industry,
                "重点行业领域公共区域完好率",
            )),
            today: Some(today),
        }
    }

    /// How `rate` compares with `target`.
    pub fn mark(&self, rate: Option<f64>, target: Option<&Target>) -> Mark {
        let (Some(r), Some(t)) = (rate, target) else {
            return Mark::Unknown;
        };
        if r >= t.percent {
            Mark::Met
        } else if t
            .deadline
            .zip(self.today)
            .is_some_and(|(deadline, today)| today <= deadline)
        {
            Mark::Short
        } else {
            Mark::Failed
        }
    }
}

/// A figure the children of a dashboard can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Name,
    Built,
    NetworkingRate,
    ArchiveRate,
    GeoRate,
    IntactPublic,
    IntactIndustry,
    Standing,
}

impl SortBy {
    pub const ALL: [SortBy; 8] = [
        SortBy::Name,
        SortBy::Built,
        SortBy::NetworkingRate,
        SortBy::ArchiveRate,
        SortBy::GeoRate,
        SortBy::IntactPublic,
        SortBy::IntactIndustry,
        SortBy::Standing,
    ];

    /// The key in a page's address (`?sort=networking_rate`).
    pub fn key(self) -> &'static str {
        match self {
            SortBy::Name => "name",
            SortBy::Built => "built",
            SortBy::NetworkingRate => "networking_rate",
            SortBy::ArchiveRate => "archive_rate",
            SortBy::GeoRate => "geo_rate",
            SortBy::IntactPublic => "intact_public",
            SortBy::IntactIndustry => "intact_industry",
            SortBy::Standing => "standing",
        }
    }

    pub fn parse(s: &str) -> Option<SortBy> {
        SortBy::ALL.into_iter().find(|b| b.key() == s)
    }

    /// The value a child is sorted by (`None`: nothing to compare, always last).
    fn value(self, s: &Stats) -> Option<f64> {
        match self {
            SortBy::Name => Some(0.0),
            SortBy::Built => Some(s.built as f64),
            SortBy::NetworkingRate => s.networking_rate,
            SortBy::ArchiveRate => s.archive_rate,
            SortBy::GeoRate => s.geo_rate,
            SortBy::IntactPublic => s.intact_rate_key_public,
            SortBy::IntactIndustry => s.intact_rate_key_industry,
            SortBy::Standing => s.milestone.as_ref().map(|m| match m.status {
                Status::Overdue => 0.0,
                Status::Behind => 1.0,
                Status::OnTrack => 2.0,
                Status::Met => 3.0,
            }),
        }
    }
}

/// Sorts `children` by `by`, lowest first unless `descending`; a child with nothing to compare
/// comes last either way, and ties keep the order of their unit codes.
pub fn sort_children(children: &mut [Stats], by: SortBy, descending: bool) {
    children.sort_by(|a, b| {
        let key = match (by.value(a), by.value(b)) {
            (Some(x), Some(y)) => {
                let o = x.total_cmp(&y);
                if descending { o.reverse() } else { o }
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        key.then_with(|| a.unit.cmp(&b.unit))
    });
}

/// How many children lag, and how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lagging {
    pub children: usize,
    /// Below the straight line to their next milestone.
    pub behind: usize,
    /// Past the deadline of a milestone they have not met.
    pub overdue: usize,
    /// No camera reported yet.
    pub not_reported: usize,
}

impl Lagging {
    pub fn of(children: &[Stats]) -> Lagging {
        let status = |s: &Stats| s.milestone.as_ref().map(|m| m.status);
        Lagging {
            children: children.len(),
            behind: children
                .iter()
                .filter(|c| status(c) == Some(Status::Behind))
                .count(),
            overdue: children
                .iter()
                .filter(|c| status(c) == Some(Status::Overdue))
                .count(),
            not_reported: children.iter().filter(|c| c.built == 0).count(),
        }
    }
}

/// What a dashboard shows: the subtree's figures (its children unsorted), the unit's own ledger
/// when it is a hub with cameras of its own (the 本级 row), and the targets of today.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub stats: Stats,
    pub own: Option<Stats>,
    pub targets: Targets,
    pub lagging: Lagging,
}

/// The dashboard of this unit, or of a unit of its subtree.
pub async fn dashboard(store: &Store, unit: Option<&str>) -> Result<Dashboard> {
    let stats = subtree_stats(store, unit).await?;
    let hub = !stats.children.is_empty() || (unit.is_none() && store.identity().is_hub());
    let own = if hub {
        let s = store.stats(&stats.unit).await?;
        (s.built > 0).then_some(s)
    } else {
        None
    };
    let campaign = crate::app::campaign::held(store).await?;
    let targets = Targets::of(campaign.as_ref(), crate::domain::figures::beijing_today());
    let lagging = Lagging::of(&stats.children);
    Ok(Dashboard {
        stats,
        own,
        targets,
        lagging,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::figures::Counts;

    fn child(unit: &str, built: u64, must: u64, networked: u64) -> Stats {
        let c = Counts {
            built,
            must_network: must,
            networked,
            archived: built,
            ..Default::default()
        };
        Stats::from_counts(unit, unit, &c, String::new())
    }

    #[test]
    fn a_rate_is_marked_against_the_current_milestone() {
        let c = Campaign::seed();
        let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        // Before phase 2's deadline the current target is 80%: 70% is short, 85% met.
        let t = Targets::of(Some(&c), day(2021, 10, 1));
        assert_eq!(t.networking.as_ref().unwrap().percent, 80.0);
        assert_eq!(t.mark(Some(70.0), t.networking.as_ref()), Mark::Short);
        assert_eq!(t.mark(Some(85.0), t.networking.as_ref()), Mark::Met);
        // After phase 3's deadline: 100%, and 85% has failed it.
        let t = Targets::of(Some(&c), day(2026, 11, 26));
        assert_eq!(t.networking.as_ref().unwrap().percent, 100.0);
        assert!(
            t.networking
                .as_ref()
                .unwrap()
                .label
                .contains("2022年6月30日")
        );
        assert_eq!(t.mark(Some(85.0), t.networking.as_ref()), Mark::Failed);
        // Intact rates: 99% and 95%, no deadline.
        assert_eq!(t.mark(Some(98.0), t.intact_public.as_ref()), Mark::Failed);
        assert_eq!(t.mark(Some(96.0), t.intact_industry.as_ref()), Mark::Met);
        assert_eq!(t.mark(None, t.intact_industry.as_ref()), Mark::Unknown);
    }

    #[test]
    fn children_sort_by_a_figure_with_nothing_to_compare_last() {
        let mut cs = vec![
            child("a", 10, 10, 9),
            child("b", 0, 0, 0),
            child("c", 10, 10, 2),
            child("d", 10, 10, 5),
        ];
        sort_children(&mut cs, SortBy::NetworkingRate, false);
        let order: Vec<_> = cs.iter().map(|c| c.unit.as_str()).collect();
        assert_eq!(order, ["c", "d", "a", "b"]);
        sort_children(&mut cs, SortBy::NetworkingRate, true);
        let order: Vec<_> = cs.iter().map(|c| c.unit.as_str()).collect();
        assert_eq!(order, ["a", "d", "c", "b"]);
        assert_eq!(Lagging::of(&cs).not_reported, 1);
    }
}
