//! Keeping a hub's rollup current: recomputed from the replicas it holds whenever an input changes,
//! incrementally (a changed child's row adjusts, and the totals with it) and at once when idle;
//! the reporting counts (报送) only when the campaign, a child's submission, a decision on one or a
//! hub child's rollup changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use crate::docs::document::{DocId, DocKind};
use crate::docs::quality::{read_part, write_part};
use crate::docs::rollup::{Rollup, Row, read, write, write_submitted, write_whole};
use crate::domain::campaign::Campaign;
use crate::domain::figures::Counts;
use crate::domain::submission::Tallies;
use crate::domain::unit::UnitCode;
use crate::store::stages::{self, Stage};
use crate::store::{Store, StoreError};

/// The rows a hub's rollup is computed from, as last read: its own ledger's counts and one row
/// per syncing child; the campaign held here and each child's part of the reporting counts.
#[derive(Debug, Default)]
struct Inputs {
    own: Counts,
    next: Rollup,
    campaign: Option<Campaign>,
    paper: BTreeMap<String, Tallies>,
}

/// What changed of the reporting counts' inputs since the last recompute.
#[derive(Debug, Default)]
struct Paper {
    /// The campaign (its milestones): every child's part is read again.
    campaign: bool,
    /// Units whose submissions, reviews or rollup changed.
    units: BTreeSet<String>,
}

impl Paper {
    fn any(&self) -> bool {
        self.campaign || !self.units.is_empty()
    }
}

impl Inputs {
    /// Reads every input from the store.
    async fn read(store: &Store) -> Result<Inputs, StoreError> {
        let mut i = Inputs {
            own: store.counts(store.unit().as_str()).await?.0,
            next: Rollup::default(),
            campaign: crate::app::campaign::held(store).await?,
            paper: BTreeMap::new(),
        };
        for c in store.syncing_children().await? {
            let row = child_row(store, &c).await?;
            i.next.children.insert(c.clone(), row);
            i.read_paper(store, &c).await?;
        }
        i.sum_paper();
        Ok(i)
    }

    /// Reads again one child's part of the reporting counts.
    async fn read_paper(&mut self, store: &Store, child: &str) -> Result<(), StoreError> {
        let (Some(c), Ok(unit)) = (&self.campaign, UnitCode::parse(child)) else {
            self.paper.remove(child);
            return Ok(());
        };
        let t = crate::app::submission::child_tree_tallies(store, c, &unit).await?;
        self.paper.insert(child.to_string(), t);
        Ok(())
    }

    /// The reporting counts: the sum of the children's parts.
    fn sum_paper(&mut self) {
        let mut out = Tallies::new();
        for t in self.paper.values() {
            crate::app::submission::add_tallies(&mut out, t);
        }
        self.next.reporting = out;
    }

    /// Reads again only what `touched` (units whose documents changed) and `paper` feed; false
    /// when a touched unit is not a known child (a new child, say): then everything must be read.
    async fn update(
        &mut self,
        store: &Store,
        touched: &BTreeSet<String>,
        paper: &Paper,
    ) -> Result<bool, StoreError> {
        let me = store.unit().as_str();
        let known = |u: &str| u == me || self.next.children.contains_key(u);
        // A unit below a child (a district's hospital, at the city) feeds that child's rollup,
        // whose own change comes as its own.
        let below_a_child = |u: &str| {
            self.next.children.keys().any(|c| {
                u.strip_prefix(c.as_str())
                    .is_some_and(|r| r.starts_with('-'))
            })
        };
        if touched
            .iter()
            .chain(&paper.units)
            .any(|u| !known(u) && !below_a_child(u))
        {
            return Ok(false);
        }
        let read: Vec<&String> = touched.iter().filter(|u| known(u)).collect();
        for u in read {
            if u == me {
                self.own = store.counts(me).await?.0;
            } else {
                let row = child_row(store, u).await?;
                self.next.children.insert(u.clone(), row);
            }
        }
        if paper.campaign {
            self.campaign = crate::app::campaign::held(store).await?;
            let children: Vec<String> = self.next.children.keys().cloned().collect();
            for c in children {
                self.read_paper(store, &c).await?;
            }
        } else {
            for u in &paper.units {
                if self.next.children.contains_key(u) {
                    self.read_paper(store, u).await?;
                }
            }
        }
        if paper.any() {
            self.sum_paper();
        }
        Ok(true)
    }

    /// The rollup: the rows, and the totals (the hub's own ledger plus every row).
    fn rollup(&mut self, store: &Store) -> &Rollup {
        let mut totals = self.own;
        for r in self.next.children.values() {
            totals.add(&r.counts);
        }
        self.next.totals = Some(Row {
            unit: store.unit().to_string(),
            name: store.identity().name.clone(),
            counts: totals,
            findings: Default::default(),
            as_of: String::new(),
        });
        &self.next
    }
}

/// A child's row: a hub child's own rollup totals, a leaf child's ledger figures.
async fn child_row(store: &Store, c: &str) -> Result<Row, StoreError> {
    let (name, counts) = store.child_figures(c).await?;
    Ok(Row {
        unit: c.to_string(),
        name,
        counts,
        findings: Default::default(),
        as_of: String::new(),
    })
}

/// Writes `next` as the hub's rollup document; returns the units whose rows changed. A
/// generation grown past [`roll_after`] changes, or begun on an earlier day (Beijing time), then
/// gives way to the next.
async fn save(store: &Store, next: &Rollup) -> Result<Vec<String>, StoreError> {
    let now = crate::domain::clock::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let _writing = writing(store).await;
    let doc = store.rollup_doc(store.unit()).await?;
    let (changed, _) = store
        .edit(&doc, "rollup", "recompute the rollup", |d| {
            Ok(write(d, next, &now).map_err(crate::docs::ledger::LedgerError::from)?)
        })
        .await?;
    if !changed.is_empty() && roll_after() != usize::MAX {
        let (changes, first) = store
            .read_document(&doc, |d| {
                // The changes' metadata only: not every change's operations encoded again.
                let real: Vec<i64> = d
                    .get_changes_meta(&[])
                    .iter()
                    .map(|c| c.timestamp)
                    .filter(|t| *t > 0)
                    .collect();
                (real.len(), real.iter().min().copied())
            })
            .await?;
        let begun_earlier =
            first.is_some_and(|t| crate::app::history::date_of(t) < crate::domain::clock::today());
        if changes > roll_after() || begun_earlier {
            roll(store, &doc).await?;
        }
    }
    Ok(changed)
}

/// The lock each unit's own rollup is written under (by the figures' task, with its rolls, and by
/// the data-quality task) and its reports read it under: a write never lands in a generation
/// being given up, and a report never names heads of one without a roll seeing the report.
pub(crate) async fn writing(store: &Store) -> tokio::sync::OwnedMutexGuard<()> {
    static LOCKS: LazyLock<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
        LazyLock::new(Default::default);
    let lock = LOCKS
        .lock()
        .expect("rollup locks")
        .entry(store.unit().to_string())
        .or_default()
        .clone();
    lock.lock_owned().await
}

/// Edits this hub's own rollup in its current generation, under the lock its rolls take (for
/// the parts other tasks write: the data-quality findings).
pub async fn edit_own<T>(
    store: &Store,
    who: &str,
    message: &str,
    f: impl FnOnce(&mut automerge::AutoCommit) -> Result<T, StoreError>,
) -> Result<(T, crate::store::Written), StoreError> {
    let _writing = writing(store).await;
    let doc = store.rollup_doc(store.unit()).await?;
    store.edit(&doc, who, message, f).await
}

/// Changes a rollup generation holds at most before the next begins (set lower by a test, or
/// to `usize::MAX` to keep one generation whatever the day, as before generations: to measure).
static ROLL_AFTER: AtomicUsize = AtomicUsize::new(100);

/// How many changes a rollup generation holds before the next begins.
pub fn roll_after() -> usize {
    ROLL_AFTER.load(Ordering::Relaxed)
}

/// Sets how many changes a rollup generation holds before the next begins, for this process.
pub fn set_roll_after(n: usize) {
    ROLL_AFTER.store(n, Ordering::Relaxed);
}

/// Begins the next generation of this hub's rollup `doc`: the same figures, data-quality
/// findings and operations part in a fresh document (the keyed codes are in `codes/<hub>`, which
/// does not roll), written once, with the figures at the heads its reports named (so that they
/// are still checked once `doc` is gone); then `doc` is given up, its figures kept per day.
async fn roll(store: &Store, doc: &DocId) -> Result<(), StoreError> {
    let sources = crate::app::submission::own_sources(store).await?;
    let (whole, quality, submitted, operations) = store
        .read_document(doc, |d| {
            (
                read(d),
                read_part(d),
                crate::app::submission::figures_to_keep(d, &sources),
                crate::docs::operations::read_part(d),
            )
        })
        .await?;
    let next = doc.next_generation();
    store
        .edit(&next, "rollup", "begin the next generation", |d| {
            write_whole(d, &whole).map_err(crate::docs::ledger::LedgerError::from)?;
            write_part(d, &quality).map_err(crate::docs::ledger::LedgerError::from)?;
            write_submitted(d, &submitted).map_err(crate::docs::ledger::LedgerError::from)?;
            crate::docs::operations::write_whole(d, &operations)
                .map_err(crate::docs::ledger::LedgerError::from)?;
            Ok(())
        })
        .await?;
    retire_older(store, &next).await?;
    tracing::debug!(from = %doc, to = %next, "rollup generation begun");
    Ok(())
}

/// Gives up the generations of `current`'s rollup older than it held here (this hub's own after
/// a roll, or a child hub's replicas once its next generation arrived), keeping their figures
/// per day. Returns how many were given up.
pub async fn retire_older(store: &Store, current: &DocId) -> Result<usize, StoreError> {
    let older: Vec<DocId> = store
        .rollup_generations(&current.unit)
        .await?
        .into_iter()
        .filter(|d| d.generation < current.generation)
        .collect();
    if older.is_empty() {
        return Ok(0);
    }
    let mut days: Vec<(chrono::NaiveDate, Rollup)> = Vec::new();
    for d in &older {
        // The older first: a day both cover is the newer's.
        for (day, r) in store
            .read_document(d, crate::app::history::rollup_days)
            .await??
        {
            days.retain(|(k, _)| *k != day);
            days.push((day, r));
        }
    }
    store.retire_rollups(current, &days).await
}

/// Recomputes this hub's rollup from what its store holds: a hub child's row is that child's
/// own rollup totals, a leaf child's row its ledger's figures. Returns the units whose rows changed.
pub async fn recompute(store: &Store) -> Result<Vec<String>, StoreError> {
    let mut inputs = Inputs::read(store).await?;
    save(store, inputs.rollup(store)).await
}

/// The unit whose row a change of `doc` can change in this hub's rollup, if any.
fn feeds_rollup(me: &crate::domain::unit::UnitCode, doc: &DocId) -> Option<String> {
    match doc.kind {
        DocKind::Ledger | DocKind::Profile => Some(doc.unit.to_string()),
        DocKind::Rollup if doc.unit != *me => Some(doc.unit.to_string()),
        DocKind::Rollup
        | DocKind::Campaign
        | DocKind::Submission
        | DocKind::Review
        | DocKind::Reads
        | DocKind::Codes => None,
    }
}

/// Notes what a change of `doc` changes of the reporting counts' inputs: the milestones, a
/// child's submissions, this unit's decisions on them, a hub child's rollup (its subtree's
/// counts). False when it feeds none.
fn feeds_reporting(me: &crate::domain::unit::UnitCode, doc: &DocId, paper: &mut Paper) -> bool {
    match doc.kind {
        DocKind::Ledger | DocKind::Profile | DocKind::Reads | DocKind::Codes => false,
        DocKind::Campaign => {
            paper.campaign = true;
            true
        }
        DocKind::Rollup | DocKind::Submission | DocKind::Review if doc.unit != *me => {
            paper.units.insert(doc.unit.to_string());
            true
        }
        DocKind::Rollup | DocKind::Submission | DocKind::Review => false,
    }
}

/// Everything is read again at least this often while changes come (a child enrolled or
/// revoked changes no document).
const FULL_EVERY: Duration = Duration::from_secs(60);

/// Keeps this hub's rollup current until `shutdown`. A change of an input (a child's ledger,
/// rollup or profile, or the hub's own ledger) is recomputed at once when the hub is idle, and
/// only the rows it feeds are read again. Under a burst (inputs changed while a recompute ran)
/// the recomputes take at most half the time: what arrives while one runs, or within as long
/// again after it, is taken by the next.
pub async fn maintain(
    store: std::sync::Arc<crate::store::Store>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    let me = store.unit().clone();
    let mut changes = store.subscribe();
    let mut inputs: Option<Inputs> = None;
    let mut full_at = Instant::now();
    let mut touched = BTreeSet::new();
    // What of the reporting counts' inputs changed since the last recompute.
    let mut paper = Paper::default();
    // When the first change not yet recomputed arrived.
    let mut dirty: Option<Instant> = Some(Instant::now());
    // When the last recompute ended, and how long it took.
    let mut last = (Instant::now(), Duration::ZERO);
    // Whether inputs changed while the last recompute ran (a burst).
    let mut burst = false;
    loop {
        if let Some(since) = dirty {
            // Under a burst (inputs changed while the last recompute ran), wait as long as it
            // took before the next one; a change that found the hub idle is recomputed at once.
            let pause = if burst {
                last.1.saturating_sub(last.0.elapsed())
            } else {
                Duration::ZERO
            };
            if !pause.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => return,
                }
            }
            // Take what arrived meanwhile into this recompute.
            loop {
                match changes.try_recv() {
                    Ok(doc) => {
                        touched.extend(feeds_rollup(&me, &doc));
                        feeds_reporting(&me, &doc, &mut paper);
                    }
                    Err(TryRecvError::Lagged(_)) => inputs = None,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => return,
                }
            }
            stages::since(Stage::RollupWait, since);
            let started = Instant::now();
            if full_at.elapsed() > FULL_EVERY {
                inputs = None;
            }
            let result = async {
                let updated = match inputs.as_mut() {
                    Some(i) => i.update(&store, &touched, &paper).await?,
                    None => false,
                };
                let current = match inputs.as_mut() {
                    Some(i) if updated => i,
                    _ => {
                        full_at = Instant::now();
                        inputs.insert(Inputs::read(&store).await?)
                    }
                };
                save(&store, current.rollup(&store)).await
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "could not recompute the rollup");
                inputs = None;
            }
            touched.clear();
            paper = Paper::default();
            dirty = None;
            stages::since(Stage::RollupRecompute, started);
            last = (Instant::now(), started.elapsed());
            // What arrived meanwhile (not this hub's own rollup: that was this recompute).
            burst = false;
            loop {
                match changes.try_recv() {
                    Ok(doc) => {
                        if let Some(u) = feeds_rollup(&me, &doc) {
                            touched.insert(u);
                            burst = true;
                        }
                        burst |= feeds_reporting(&me, &doc, &mut paper);
                    }
                    Err(TryRecvError::Lagged(_)) => {
                        inputs = None;
                        burst = true;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => return,
                }
            }
            if burst {
                dirty = Some(Instant::now());
            }
            continue;
        }
        tokio::select! {
            c = changes.recv() => match c {
                Ok(doc) => {
                    if let Some(u) = feeds_rollup(&me, &doc) {
                        touched.insert(u);
                        dirty = Some(Instant::now());
                    }
                    if feeds_reporting(&me, &doc, &mut paper) {
                        dirty = dirty.or(Some(Instant::now()));
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    inputs = None;
                    dirty = Some(Instant::now());
                }
                Err(RecvError::Closed) => return,
            },
            _ = shutdown.changed() => return,
        }
    }
}
