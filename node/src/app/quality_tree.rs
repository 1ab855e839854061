//! Data quality travelling in the tree: a hub keeps the data-quality part of its rollup current
//! (the findings of each direct child's subtree and of its own), its `codes/<hub>` (the keyed
//! hashes of its subtree's device codes, for its parent's duplicate check), and the notices to its children (in
//! `review/<child>`: per keyed code, who else holds it), whenever a record, a child's rollup, its
//! parent's notice or the campaign changes — so that a finding appears and disappears at every
//! level, live. The figures' own rollup task never waits for it.

use std::time::Duration;

use crate::app::quality::{Cache, Report, check_with};
use crate::docs::document::{DocId, DocKind, heads_hex};
use crate::docs::quality::{
    Part, read_codes, read_notices, read_part, write_codes, write_notices, write_part,
};
use crate::domain::crosscheck::Notices;
use crate::domain::quality::Tally;
use crate::domain::unit::UnitCode;
use crate::store::{Store, StoreError};

/// The data-quality part of this hub's rollup from a check: a hub child's row is its own
/// rollup's totals, a leaf child's the findings on its records held here.
async fn part_of(store: &Store, report: &Report, cache: &Cache) -> Result<Part, StoreError> {
    let me = store.unit().as_str();
    let mut part = Part::default();
    let mut totals = report.units.get(me).copied().unwrap_or_default();
    for c in store.syncing_children().await? {
        let Ok(code) = UnitCode::parse(&c) else {
            continue;
        };
        let t = if let Some((rollup, _)) = cache.rollup_of(&code) {
            store
                .read_document(&rollup, |d| read_part(d).totals)
                .await?
        } else {
            let mut t = Tally::default();
            for (u, x) in &report.units {
                if *u == c || UnitCode::parse(u).is_ok_and(|u| u.is_under(&code)) {
                    t.add(x);
                }
            }
            t
        };
        totals.add(&t);
        part.children.insert(c, t);
    }
    part.totals = totals;
    Ok(part)
}

/// Checks again and writes what changed: the quality part of this hub's rollup, its keyed codes
/// (below the root), and each direct child's notices. Returns whether anything was written.
pub async fn refresh(store: &Store) -> Result<bool, StoreError> {
    refresh_with(store, &mut Cache::default()).await
}

/// [`refresh`], checking again only what changed since the refresh that left `cache`, and
/// reading back its own codes and notices only where their heads moved.
pub async fn refresh_with(store: &Store, cache: &mut Cache) -> Result<bool, StoreError> {
    if !store.identity().is_hub() {
        return Ok(false);
    }
    let today = crate::domain::figures::beijing_today();
    let mut report = check_with(store, None, today, cache).await?;
    let root = store.meta("root").await?.as_deref() == Some(store.unit().as_str());
    let part = part_of(store, &report, cache).await?;
    // Read here; the write below goes by the generation the database holds.
    let own = store.rollup_doc_known(store.unit()).await?;
    let mut wrote = false;
    let held = if store.heads(&own).await?.is_empty() {
        None
    } else {
        Some(store.read_document(&own, |d| read_part(d)).await?)
    };
    if held.as_ref() != Some(&part) {
        // In the generation current when written (a roll may have begun one since `own`).
        crate::app::rollup::edit_own(
            store,
            "quality",
            "recompute the data-quality findings",
            |d| Ok(write_part(d, &part).map_err(crate::docs::ledger::LedgerError::from)?),
        )
        .await?;
        wrote = true;
    }
    // The root has nobody to publish its codes to.
    if !root {
        let id = DocId::codes(store.unit());
        let heads = cache.heads.get(&id).cloned().unwrap_or_default();
        if !matches!(&cache.published, Some((at, _)) if *at == heads) {
            // At the heads of the copy read, which may be behind the database's (another
            // process's write not yet reported): then read again at the next refresh.
            cache.published = if heads.is_empty() {
                None
            } else {
                Some(
                    store
                        .read_document(&id, |d| (heads_hex(&d.get_heads()), read_codes(d).keys))
                        .await?,
                )
            };
        }
        if cache.published.as_ref().map(|(_, k)| k) != Some(&report.codes) {
            // The heads this write left (asked afterwards, the database's could already hold
            // another process's write over it).
            let (_, written) = store
                .edit(&id, "quality", "publish the keyed device codes", |d| {
                    Ok(write_codes(d, &report.codes)
                        .map_err(crate::docs::ledger::LedgerError::from)?)
                })
                .await?;
            cache.published = Some((written.heads, std::mem::take(&mut report.codes)));
            wrote = true;
        }
    }
    for c in store.syncing_children().await? {
        let Ok(code) = UnitCode::parse(&c) else {
            continue;
        };
        let review = DocId {
            kind: DocKind::Review,
            unit: code,
            generation: 0,
        };
        // Taken, not copied: with many duplicates the notices are the largest thing a check
        // makes (a city telling three zones of some 3,950 codes each: their copies were 7.8 of
        // the 73 MiB of its heap's peak).
        let next = report.told.remove(&c).unwrap_or_default();
        let heads = cache.heads.get(&review).cloned().unwrap_or_default();
        if !matches!(cache.notices.get(&c), Some((at, _)) if *at == heads) {
            // At the heads of the copy read (see the keyed codes above).
            let read = if heads.is_empty() {
                (heads, Notices::new())
            } else {
                store
                    .read_document(&review, |d| (heads_hex(&d.get_heads()), read_notices(d)))
                    .await?
            };
            cache.notices.insert(c.clone(), read);
        }
        if cache.notices.get(&c).map(|(_, n)| n) != Some(&next) {
            let (_, written) = store
                .edit(&review, "quality", "tell the duplicate device codes", |d| {
                    Ok(write_notices(d, &next).map_err(crate::docs::ledger::LedgerError::from)?)
                })
                .await?;
            cache.notices.insert(c.clone(), (written.heads, next));
            wrote = true;
        }
    }
    Ok(wrote)
}

/// Whether a change of `doc` can change this hub's findings, counts or notices: a record, a
/// profile (a name in a notice), the campaign (rules, key), a child's rollup (its findings) or
/// keyed codes, the parent's notices to this unit.
fn feeds_quality(me: &UnitCode, doc: &DocId) -> bool {
    match doc.kind {
        DocKind::Ledger | DocKind::Profile | DocKind::Campaign => true,
        DocKind::Rollup | DocKind::Codes => doc.unit != *me,
        DocKind::Review => doc.unit == *me,
        DocKind::Submission | DocKind::Reads => false,
    }
}

/// Checked again at least this often: rules with a date (overdue, faulty for N days) change their
/// findings as days pass.
const EVERY: Duration = Duration::from_secs(300);

/// Keeps this hub's data quality current until `shutdown`: once its inputs have been quiet for
/// [`crate::app::settle::SETTLE`], at the latest [`crate::app::settle::DEADLINE`] after a
/// change, never more than a third of the time (see [`crate::app::settle`]), and every
/// [`EVERY`] for days passing.
pub async fn maintain(
    store: std::sync::Arc<Store>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    use crate::app::settle::{Change, DEADLINE, Debounce, SETTLE};
    let me = store.unit().clone();
    let mut changes = store.subscribe();
    let mut cache = Cache::default();
    let mut debounce = Debounce::new(SETTLE, DEADLINE, EVERY);
    while debounce
        .wait(&mut changes, &mut shutdown, |c| match c {
            Change::Doc(doc) => feeds_quality(&me, &doc),
            Change::Missed | Change::Time | Change::Again => true,
        })
        .await
    {
        let started = tokio::time::Instant::now();
        if let Err(e) = refresh_with(&store, &mut cache).await {
            tracing::warn!(error = %e, "could not check the data quality");
            cache = Cache::default();
        }
        debounce.ran(started);
        // A doubt about a child's codes is recorded once it has lasted its grace, so check then.
        if let Some(after) = cache.doubts.pending() {
            debounce.again_in(after);
        }
        crate::store::stages::record(crate::store::stages::Stage::Quality, debounce.took());
    }
}
