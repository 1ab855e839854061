//! The figures a person asks for: a unit's (or a unit of its subtree's) figures now, from the
//! rollups the daemon keeps current, and as they stood at the end of a past day, from the
//! documents' own history.

use anyhow::Result;

use crate::domain::unit::UnitCode;
use crate::store::Store;

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
                anyhow::bail!(
                    "unit {unit} is not in the subtree of {me}, or it has not synced yet"
                );
            }
            store.stats(unit.as_str()).await?
        }
    };
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
/// while no daemon keeps it current); a leaf has none.
pub async fn refresh_rollup(store: &Store) -> Result<()> {
    if store.identity().is_hub() {
        crate::app::rollup::recompute(store).await?;
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
    use crate::docs::document::{DocId, DocKind};
    use crate::domain::figures::Stats;
    let unit = match unit {
        Some(u) => UnitCode::parse(u)?,
        None => store.unit().clone(),
    };
    let t = crate::app::history::end_of_day(date);
    let label = date.to_string();
    let rollup_doc = DocId {
        kind: DocKind::Rollup,
        unit: unit.clone(),
    };
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
            "unit {unit} is not in the subtree of {}, or it has not synced yet",
            store.unit()
        );
    }
    let counts = crate::app::history::ledger_counts_at(store, &unit, t).await?;
    let name = store.unit_name(unit.as_str()).await?;
    Ok(Stats::from_counts(unit.as_str(), &name, &counts, label))
}
