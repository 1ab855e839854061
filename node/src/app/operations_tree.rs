//! Operations figures travelling in the tree: a hub keeps the operations part of its rollup
//! current (per direct child its subtree's last 30 days — a leaf child's from its ledger held
//! here, a hub child's from that child's own rollup, believed only when plausible — and the
//! hub's whole subtree, its own ledger included), so that time in service (时间完好率), faults,
//! repairs and time to repair are figures at every level up to the city. Each ledger is parsed
//! once per change of its heads and kept; time passing alone only recomputes from what is kept.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::app::doubt::Doubts;
use crate::docs::document::{DocId, DocKind, heads_hex};
use crate::docs::ledger;
use crate::docs::operations::{Part, Row, built_total, read_part, write_part};
use crate::domain::camera::{Camera, Field, Value};
use crate::domain::device_code::DeviceCode;
use crate::domain::operations::{self, Event, Operations, WINDOW_DAYS};
use crate::domain::unit::UnitCode;
use crate::store::{Store, StoreError};

/// A ledger as last parsed: its heads then, its cameras (their state) and its events.
struct Ledger {
    heads: Vec<String>,
    cameras: Vec<Camera>,
    events: Vec<Event>,
}

/// A hub child's rollup as last read: which generation, its heads then, and the row it gave
/// (`None`: it has no operations part yet).
struct HubChild {
    doc: DocId,
    heads: Vec<String>,
    row: Option<Row>,
    /// Why its operations part is not believed, if it is not.
    doubted: Option<String>,
}

/// What the task keeps between refreshes, so that a refresh re-reads only what changed.
#[derive(Default)]
pub struct Cache {
    ledgers: HashMap<String, Ledger>,
    hubs: HashMap<String, HubChild>,
    /// The part as last written or found (nothing to write while the figures stay).
    written: Option<Part>,
    /// How long each hub child's operations part has been in doubt (see [`crate::app::doubt`]).
    pub(crate) doubts: Doubts,
    /// How many ledgers were parsed (for tests and the log).
    pub parsed: u64,
}

impl Cache {
    /// The operations of `unit`'s ledger held here as of `now` (`None` when not held), its heads
    /// checked when `check` (or never read) and the ledger parsed again only if they changed.
    async fn ledger_ops(
        &mut self,
        store: &Store,
        unit: &str,
        check: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<Operations>, StoreError> {
        if check || !self.ledgers.contains_key(unit) {
            let Ok(code) = UnitCode::parse(unit) else {
                return Ok(None);
            };
            let doc = DocId::ledger(&code);
            let heads = store.heads(&doc).await?;
            if heads.is_empty() {
                self.ledgers.remove(unit);
                return Ok(None);
            }
            if self.ledgers.get(unit).is_none_or(|l| l.heads != heads) {
                // Kept at the heads of the copy read: `heads` may be the database's, ahead of
                // a copy that another process's write (not yet reported) left behind.
                let (heads, (cameras, events)) = store
                    .read_document(&doc, |d| (heads_hex(&d.get_heads()), service_record(d)))
                    .await?;
                self.parsed += 1;
                self.ledgers.insert(
                    unit.to_string(),
                    Ledger {
                        heads,
                        cameras,
                        events,
                    },
                );
            }
        }
        Ok(self
            .ledgers
            .get(unit)
            .map(|l| operations::operations(&l.cameras, &l.events, now)))
    }

    /// The row of hub child `unit` from its rollup `doc` (at `heads`), read again only when
    /// they changed; a part that cannot be true is refused at once, and the refusal recorded once
    /// the doubt has lasted its grace ([`crate::app::doubt`]).
    async fn hub_row(
        &mut self,
        store: &Store,
        unit: &str,
        doc: DocId,
        heads: Vec<String>,
    ) -> Result<Option<Row>, StoreError> {
        if let Some(h) = self.hubs.get(unit)
            && h.doc == doc
            && h.heads == heads
        {
            let (row, doubted) = (h.row.clone(), h.doubted.clone());
            self.doubts
                .judge(store, unit, &doc, doubted.as_deref())
                .await;
            return Ok(row);
        }
        // At the heads of the copy read (see `ledger_ops`).
        let (heads, part, built) = store
            .read_document(&doc, |d| {
                (heads_hex(&d.get_heads()), read_part(d), built_total(d))
            })
            .await?;
        let mut doubted = None;
        let row = match part {
            None => None,
            Some(p) => {
                let why = p
                    .totals
                    .implausible(built, p.window_days as i64)
                    .or_else(|| {
                        let at = DateTime::parse_from_rfc3339(&p.as_of).ok()?;
                        let ahead = at.with_timezone(&Utc) - crate::domain::clock::now();
                        (ahead > chrono::Duration::minutes(10))
                            .then(|| format!("figures as of {}, in the future", p.as_of))
                    });
                // Not believed at once; the refusal recorded once the doubt has lasted its grace
                // (the part can arrive before the figures that count its cameras).
                doubted = why.map(|why| {
                    format!("the operations figures of {unit}'s rollup are not believed: {why}")
                });
                Some(Row {
                    operations: if doubted.is_some() {
                        Operations::default()
                    } else {
                        p.totals
                    },
                    as_of: p.as_of,
                    refused: doubted.is_some(),
                })
            }
        };
        self.doubts
            .judge(store, unit, &doc, doubted.as_deref())
            .await;
        self.hubs.insert(
            unit.to_string(),
            HubChild {
                doc,
                heads,
                row: row.clone(),
                doubted,
            },
        );
        Ok(row)
    }
}

/// A ledger's cameras (each with its state only) and its maintenance events: what the
/// operations figures are computed from.
fn service_record(d: &automerge::AutoCommit) -> (Vec<Camera>, Vec<Event>) {
    let cameras = ledger::camera_states(d)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(c, state)| {
            let mut cam = Camera::new(DeviceCode::parse(&c).ok()?);
            cam.fields
                .insert(Field::State, Value::Text(state.as_str().into()));
            Some(cam)
        })
        .collect();
    (cameras, ledger::events(d))
}

/// Computes the operations part of this hub's rollup as of `now`, re-reading only the ledgers
/// and child rollups in `touched` (every one when `None`), and writes it if a figure changed.
/// Returns whether it wrote.
pub async fn refresh(
    store: &Store,
    cache: &mut Cache,
    touched: Option<&BTreeSet<String>>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if !store.identity().is_hub() {
        return Ok(false);
    }
    let check = |u: &str| touched.is_none_or(|t| t.contains(u));
    let as_of = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let me = store.unit().to_string();
    let mut part = Part {
        as_of: as_of.clone(),
        window_days: WINDOW_DAYS as u64,
        ..Part::default()
    };
    let mut totals = cache
        .ledger_ops(store, &me, check(&me), now)
        .await?
        .unwrap_or_default();
    let mut judged = BTreeSet::new();
    for c in store.syncing_children().await? {
        let Ok(code) = UnitCode::parse(&c) else {
            continue;
        };
        let known_leaf = cache.ledgers.contains_key(&c) && !cache.hubs.contains_key(&c);
        let hub = if known_leaf && !check(&c) {
            None
        } else if let Some(h) = cache.hubs.get(&c).filter(|_| !check(&c)) {
            Some((h.doc.clone(), h.heads.clone()))
        } else {
            // Read, not written: the generation this process knows (its watch of other
            // writers tells it of newer ones), not asked of the database at every recompute.
            let doc = store.rollup_doc_known(&code).await?;
            let heads = store.heads(&doc).await?;
            (!heads.is_empty()).then_some((doc, heads))
        };
        let row = match hub {
            Some((doc, heads)) => {
                judged.insert(c.clone());
                cache.hub_row(store, &c, doc, heads).await?
            }
            None => {
                cache.hubs.remove(&c);
                None
            }
        };
        // A leaf child, or a hub child that wrote no operations yet: its ledger held here.
        let row = match row {
            Some(r) => r,
            None => Row {
                operations: cache
                    .ledger_ops(store, &c, check(&c), now)
                    .await?
                    .unwrap_or_default(),
                as_of: as_of.clone(),
                refused: false,
            },
        };
        if !row.refused {
            totals.add(&row.operations);
        }
        part.children.insert(c, row);
    }
    // A child whose rollup is not read any more starts again from no doubt.
    cache.doubts.keep(&judged);
    part.totals = totals;
    if cache
        .written
        .as_ref()
        .is_some_and(|w| w.same_figures(&part))
    {
        return Ok(false);
    }
    let (wrote, _) = crate::app::rollup::edit_own(
        store,
        "operations",
        "recompute the operations figures",
        |d| Ok(write_part(d, &part).map_err(crate::docs::ledger::LedgerError::from)?),
    )
    .await?;
    cache.written = Some(part);
    Ok(wrote)
}

/// Whose figures a change of `doc` can change here: a ledger's unit, a child's rollup's unit.
fn feeds_operations(me: &UnitCode, doc: &DocId) -> Option<String> {
    match doc.kind {
        DocKind::Ledger => Some(doc.unit.to_string()),
        DocKind::Rollup if doc.unit != *me => Some(doc.unit.to_string()),
        _ => None,
    }
}

/// Recomputed at least this often: time passing changes the window and an open fault's time.
const EVERY: Duration = Duration::from_secs(300);

/// Keeps this hub's operations figures current until `shutdown`: once its inputs have been quiet
/// for [`crate::app::settle::SETTLE`] (the figures of a month need not move within
/// milliseconds), at the latest [`crate::app::settle::DEADLINE`] after a change, never more than
/// a third of the time (see [`crate::app::settle`]); every [`EVERY`] for time passing, every
/// heads checked again.
pub async fn maintain(
    store: std::sync::Arc<Store>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    use crate::app::settle::{Change, DEADLINE, Debounce, SETTLE};
    if !store.identity().is_hub() {
        return;
    }
    let me = store.unit().clone();
    let mut changes = store.subscribe();
    let mut cache = Cache::default();
    let mut touched: BTreeSet<String> = BTreeSet::new();
    // Everything checked again (at the start, for time passing, after missed changes).
    let mut full = true;
    let mut debounce = Debounce::new(SETTLE, DEADLINE, EVERY);
    while debounce
        .wait(&mut changes, &mut shutdown, |c| match c {
            Change::Doc(doc) => match feeds_operations(&me, &doc) {
                Some(u) => {
                    touched.insert(u);
                    true
                }
                None => false,
            },
            Change::Missed | Change::Time => {
                full = true;
                true
            }
            // A doubt's grace has ended: every hub child is judged at each refresh.
            Change::Again => true,
        })
        .await
    {
        let started = tokio::time::Instant::now();
        let now = crate::domain::clock::now();
        let scope = (!full).then_some(&touched);
        if let Err(e) = refresh(&store, &mut cache, scope, now).await {
            tracing::warn!(error = %e, "could not recompute the operations figures");
            cache = Cache::default();
        }
        debounce.ran(started);
        if let Some(after) = cache.doubts.pending() {
            debounce.again_in(after);
        }
        crate::store::stages::record(crate::store::stages::Stage::Operations, debounce.took());
        touched.clear();
        full = false;
    }
}

/// One row of the tree's operations: a direct child's whole subtree.
#[derive(Debug, Clone, Serialize)]
pub struct TreeRow {
    pub unit: String,
    pub name: String,
    #[serde(flatten)]
    pub row: Row,
}

/// The operations of this hub's whole subtree, per direct child, as its rollup holds them.
#[derive(Debug, Clone, Serialize)]
pub struct Tree {
    /// The end of the window of the totals.
    pub as_of: String,
    pub window_days: u64,
    pub children: Vec<TreeRow>,
    pub totals: Operations,
}

/// The operations part of this hub's rollup as written (`None` at a unit that keeps none).
pub async fn part(store: &Store) -> Result<Option<Part>, StoreError> {
    if !store.identity().is_hub() {
        return Ok(None);
    }
    let own = store.rollup_doc(store.unit()).await?;
    if store.heads(&own).await?.is_empty() {
        return Ok(None);
    }
    store.read_document(&own, |d| read_part(d)).await
}

/// The operations part of this hub's rollup with the children's names (`None` at a unit that
/// keeps none: not a hub, or before its first computation).
pub async fn tree(store: &Store) -> Result<Option<Tree>, StoreError> {
    let Some(part) = part(store).await? else {
        return Ok(None);
    };
    let mut children = Vec::new();
    for (unit, row) in part.children {
        children.push(TreeRow {
            name: store.unit_name(&unit).await?,
            unit,
            row,
        });
    }
    Ok(Some(Tree {
        as_of: part.as_of,
        window_days: part.window_days,
        children,
        totals: part.totals,
    }))
}
