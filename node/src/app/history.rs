//! History: figures as of a past date, read from the documents' own history (every change
//! carries the time it was made). A ledger as of a date gives a unit's own figures; a rollup as of
//! a date gives a hub's rows and totals as the hub knew them then: from its current generation's
//! history, or, before that generation began, from the figures kept per day of the generations
//! given up (`rollup_days`: each generation is distilled into them as it gives way).

use std::collections::HashSet;

use automerge::{AutoCommit, ChangeHash};
use chrono::{NaiveDate, TimeZone};

use crate::docs::document::DocId;
use crate::docs::ledger;
use crate::docs::rollup::{self, Rollup};
use crate::domain::figures::Counts;
use crate::store::{Store, StoreError};

/// The last millisecond of `date` in China Standard Time (UTC+8), as Unix milliseconds.
pub fn end_of_day(date: NaiveDate) -> i64 {
    let cst = crate::domain::figures::beijing();
    let next = date.succ_opt().unwrap_or(date);
    cst.from_local_datetime(&next.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .map(|t| t.timestamp_millis() - 1)
        .unwrap_or(i64::MAX)
}

/// The heads of the document as it stood at `t` (Unix ms): every change made by then whose
/// dependencies were also made by then.
pub fn heads_at(doc: &mut AutoCommit, t: i64) -> Vec<ChangeHash> {
    let changes = doc.get_changes(&[]);
    let mut kept: HashSet<ChangeHash> = HashSet::new();
    let mut depended: HashSet<ChangeHash> = HashSet::new();
    for c in &changes {
        if c.timestamp() <= t && c.deps().iter().all(|d| kept.contains(d)) {
            kept.insert(c.hash());
            depended.extend(c.deps().iter().copied());
        }
    }
    let mut heads: Vec<ChangeHash> = kept.difference(&depended).copied().collect();
    heads.sort();
    heads
}

/// A unit's own figures as of `t`, from its ledger (held here as its own or as a replica).
pub async fn ledger_counts_at(
    store: &Store,
    unit: &crate::domain::unit::UnitCode,
    t: i64,
) -> Result<Counts, StoreError> {
    let id = DocId::ledger(unit);
    store
        .read_document(&id, |doc| {
            let heads = heads_at(doc, t);
            if heads.is_empty() {
                return Ok(Counts::default());
            }
            let past = doc
                .fork_at(&heads)
                .map_err(|e| StoreError::Damaged(id.to_string(), Box::new(e)))?;
            let mut c = Counts::default();
            for code in ledger::camera_codes(&past).unwrap_or_default() {
                if let Some(state) = ledger::read_camera(&past, &code)? {
                    c.add_camera(&state.camera);
                }
            }
            Ok(c)
        })
        .await?
}

/// The Beijing date of `t` (Unix ms).
pub fn date_of(t: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(t)
        .unwrap_or_default()
        .with_timezone(&crate::domain::figures::beijing())
        .date_naive()
}

/// The rollup `doc` held as of `t`; `None` when nothing was written to it by then (its genesis
/// alone: a generation begun after `t`, whose earlier days are kept per day).
fn rollup_in(doc: &mut AutoCommit, t: i64) -> Result<Option<Rollup>, automerge::AutomergeError> {
    let written = doc
        .get_changes(&[])
        .iter()
        .any(|c| c.timestamp() > 0 && c.timestamp() <= t);
    if !written {
        return Ok(None);
    }
    let heads = heads_at(doc, t);
    Ok(Some(rollup::read(&doc.fork_at(&heads)?)))
}

/// A rollup document's figures at the end of every day it holds a change of (Beijing time): what
/// is kept of a generation given up.
pub fn rollup_days(doc: &mut AutoCommit) -> Result<Vec<(NaiveDate, Rollup)>, StoreError> {
    let mut days: Vec<NaiveDate> = doc
        .get_changes(&[])
        .iter()
        .filter(|c| c.timestamp() > 0)
        .map(|c| date_of(c.timestamp()))
        .collect();
    days.sort();
    days.dedup();
    let mut out = Vec::with_capacity(days.len());
    for day in days {
        let r = rollup_in(doc, end_of_day(day))
            .map_err(|e| StoreError::Damaged("rollup".into(), Box::new(e)))?;
        out.extend(r.map(|r| (day, r)));
    }
    Ok(out)
}

/// A hub's rollup as of `t`: from the generation held now, or (before it began) from the days
/// kept of the generations before.
pub async fn rollup_at(
    store: &Store,
    hub: &crate::domain::unit::UnitCode,
    t: i64,
) -> Result<Rollup, StoreError> {
    let doc = store.rollup_doc(hub).await?;
    let now = store
        .read_document(&doc, |d| rollup_in(d, t))
        .await?
        .map_err(|e| StoreError::Damaged(doc.to_string(), Box::new(e)))?;
    match now {
        Some(r) => Ok(r),
        None => Ok(store
            .rollup_on_day(hub, date_of(t))
            .await?
            .unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_at_a_time_keep_only_what_was_made_by_then() {
        use automerge::transaction::{CommitOptions, Transactable};
        use automerge::{ROOT, ReadDoc};
        let mut doc = AutoCommit::new();
        for (t, v) in [(1_000, "一"), (2_000, "二"), (3_000, "三")] {
            doc.put(ROOT, "v", v).unwrap();
            doc.commit_with(CommitOptions::default().with_time(t));
        }
        let text = |d: &AutoCommit| d.get(ROOT, "v").unwrap().unwrap().0.to_string();
        let at = heads_at(&mut doc, 2_500);
        assert_eq!(text(&doc.fork_at(&at).unwrap()), "\"二\"");
        assert!(heads_at(&mut doc, 500).is_empty());
        assert_eq!(heads_at(&mut doc, 9_000), doc.get_heads());
    }

    #[test]
    fn the_end_of_a_day_is_midnight_in_beijing() {
        let t = end_of_day(NaiveDate::from_ymd_opt(2021, 12, 31).unwrap());
        // 2022-01-01T00:00:00+08:00 is 2021-12-31T16:00:00Z.
        assert_eq!(t, 1_640_966_400_000 - 1);
    }
}
