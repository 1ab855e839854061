//! The Feed service: a subscriber's live view of a subtree's figures. The events are the rollup
//! rows' changes, written to `feed_events` in the same transaction as the rollup they come from,
//! so the cursor (their sequence number) is durable: a subscriber that reconnects with its cursor
//! resumes with no gap and no duplicate, even across a hub restart. A row passed over because its
//! unit's place in the tree was not known here yet (its profile had not arrived) is sent once the
//! profile arrives. Each subscriber has a bounded queue; one too slow to keep up is cut off with
//! RESOURCE_EXHAUSTED instead of growing the hub.
//!
//! The history is bounded ([`keep_bounded`]): the hub notes the cursor each subscriber resumes
//! from (what it stored durably) and, while it streams, what it was sent a while before, and
//! compacts the events behind
//! the slowest of them (of the subscribers seen in the last [`CURSOR_KEPT`]) to the newest of each
//! row; with no subscriber, to the newest of each row outright. A subscriber resuming from behind
//! the compaction point is sent a snapshot first, as one starting afresh.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tracing::{info, warn};
use yinglian_proto::v1::feed_server::Feed;
use yinglian_proto::v1::{FeedEvent, FigureRow, SubscribeRequest, feed_event};

use crate::docs::document::DocKind;
use crate::domain::unit::UnitCode;
use crate::federation::admission::{Admission, Caller, Gate, Service};
use crate::federation::net::ConnInfo;
use crate::store::stages::{self, Stage};
use crate::store::{FeedRow, Store, StoreError};

/// Events a subscriber may have waiting before it is cut off.
pub const DEFAULT_QUEUE: usize = 256;

/// How long a subscriber not seen since still holds the compaction back.
pub const CURSOR_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);

/// How many events behind the newest a subscriber's cursor may hold the compaction back at most.
pub const MAX_BEHIND: u64 = 100_000;

/// How often a hub compacts its feed.
pub const COMPACT_EVERY: Duration = Duration::from_secs(60);

/// How often a streaming subscriber's cursor sent is noted (and when its stream ends).
const NOTE_EVERY: Duration = Duration::from_secs(10);

/// Where the compaction goes: behind the slowest cursor of the subscribers (`None`: none seen
/// lately), but never more than [`MAX_BEHIND`] events behind the newest.
pub fn compaction_point(newest: u64, slowest: Option<u64>) -> u64 {
    match slowest {
        None => newest,
        Some(c) => c.min(newest).max(newest.saturating_sub(MAX_BEHIND)),
    }
}

/// What one compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// The compaction point now.
    pub point: u64,
    /// Events removed.
    pub removed: u64,
}

/// Compacts the feed behind the slowest cursor of the subscribers seen lately (see
/// [`compaction_point`]).
pub async fn compact(store: &Store) -> Result<Compacted, StoreError> {
    let newest = store.feed_cursor().await?;
    let since = chrono::Utc::now() - chrono::Duration::from_std(CURSOR_KEPT).expect("a week");
    let since = since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let slowest = store.slowest_feed_cursor(&since).await?;
    let point = compaction_point(newest, slowest);
    let removed = store.compact_feed(point).await?;
    let point = store.feed_compacted().await?;
    if removed > 0 {
        info!(point, removed, ?slowest, "feed compacted");
    }
    Ok(Compacted { point, removed })
}

/// A hub's feed kept bounded: compacted every `every` until shutdown.
pub async fn keep_bounded(store: Arc<Store>, every: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = compact(&store).await {
            warn!(error = %e, "feed compaction failed; tried again later");
        }
    }
}

/// A subscriber whose cursors the hub notes: its unit and the scope it follows. Noted: the
/// cursor it resumes from (what it stored), then, while it streams, every [`NOTE_EVERY`] the
/// cursor it had been sent one interval before (stored by then by a subscriber that keeps up; one
/// that did not is sent a snapshot if the compaction passed its cursor). Not what was sent last:
/// a subscriber gone away may not have stored that.
struct Noted {
    subscriber: String,
    scope: String,
    cursor: u64,
    /// The cursor sent at the last note, and when.
    sent: (u64, std::time::Instant),
}

impl Noted {
    async fn write(&mut self, store: &Store, cursor: u64) {
        match store
            .note_feed_cursor(&self.subscriber, &self.scope, cursor)
            .await
        {
            Ok(()) => self.cursor = cursor,
            Err(e) => warn!(error = %e, "cannot note a subscriber's feed cursor"),
        }
    }

    /// After events up to `last` were sent: once an interval, the cursor sent an interval ago.
    async fn sent(&mut self, store: &Store, last: u64) {
        if self.sent.1.elapsed() < NOTE_EVERY {
            return;
        }
        let before = self.sent.0;
        self.sent = (last, std::time::Instant::now());
        if before > self.cursor {
            self.write(store, before).await;
        }
    }
}

impl From<&FeedRow> for FigureRow {
    /// The wire row of a feed event: the stats contract of its counts, with the rollup's hub.
    fn from(e: &FeedRow) -> FigureRow {
        let s = e.row.stats();
        FigureRow {
            unit: s.unit,
            name: s.name,
            hub: e.hub.clone(),
            built: s.built,
            must_network: s.must_network,
            networked: s.networked,
            networking_rate: s.networking_rate,
            archived: s.archived,
            archive_rate: s.archive_rate,
            geo_tagged: s.geo_tagged,
            geo_rate: s.geo_rate,
            in_service: s.in_service,
            intact_rate: s.intact_rate,
            intact_rate_key_public: s.intact_rate_key_public,
            intact_rate_key_industry: s.intact_rate_key_industry,
            as_of: s.as_of,
            findings_errors: e.row.findings.errors,
            findings_warnings: e.row.findings.warnings,
        }
    }
}

/// Which units lie in a scope: the scope itself and every unit whose parent chain reaches it
/// (from the profiles this hub holds), remembered per subscription.
struct Scope {
    root: String,
    known: HashMap<String, bool>,
}

impl Scope {
    /// Whether a row belongs to the scope: its unit and its rollup's hub both inside, and a
    /// hub's own totals only for the scope's root (elsewhere its parent's row says the same).
    async fn shows(&mut self, store: &Store, row: &FigureRow) -> bool {
        (row.hub != row.unit || row.unit == self.root)
            && self.contains(store, &row.unit).await
            && self.contains(store, &row.hub).await
    }

    /// Forgets the units found outside (a profile arrived: one of them may be inside now, its
    /// parent chain complete); returns them.
    fn forget_outside(&mut self) -> Vec<String> {
        let outside = self
            .known
            .iter()
            .filter(|(_, inside)| !**inside)
            .map(|(u, _)| u.clone())
            .collect();
        self.known.retain(|_, inside| *inside);
        outside
    }

    async fn contains(&mut self, store: &Store, unit: &str) -> bool {
        if unit == self.root {
            return true;
        }
        if let Some(v) = self.known.get(unit) {
            return *v;
        }
        let mut cur = unit.to_string();
        let mut inside = false;
        for _ in 0..16 {
            match store.parent_of(&cur).await.ok().flatten() {
                Some(p) if p == self.root => {
                    inside = true;
                    break;
                }
                Some(p) => cur = p,
                None => break,
            }
        }
        self.known.insert(unit.to_string(), inside);
        inside
    }
}

/// The stream a subscriber reads: queued events, then the status it was cut off with.
pub struct FeedStream {
    pub rx: mpsc::Receiver<FeedEvent>,
    pub cut: Arc<Mutex<Option<Status>>>,
}

impl Stream for FeedStream {
    type Item = Result<FeedEvent, Status>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(e)) => Poll::Ready(Some(Ok(e))),
            // What was queued is delivered; then the reason it ended, if it was cut off.
            Poll::Ready(None) => Poll::Ready(self.cut.lock().expect("feed status").take().map(Err)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The `Feed` service of a hub: the subscribers it enrolled, each within its scope.
pub struct FeedService {
    pub gate: Arc<Gate>,
    pub store: Arc<Store>,
    pub shutdown: watch::Receiver<bool>,
    pub queue: usize,
}

impl FeedService {
    /// Admits a subscriber enrolled here, for a scope inside its own (its own when empty).
    async fn admit(
        &self,
        info: Option<&ConnInfo>,
        asked: &str,
    ) -> Result<(Admission, String), Status> {
        let admission = self
            .gate
            .admit(info, Service::Feed, |c| match c {
                Caller::Subscriber { .. } => Ok(()),
                Caller::Child { unit, role } => Err(format!(
                    "{} is not a subscriber",
                    crate::federation::pki::identity_uri(role.as_str(), unit)
                )),
                Caller::Parent { unit } => Err(format!("hub {unit} is not a subscriber")),
                Caller::Delegate {
                    unit, granted_by, ..
                } => Err(format!(
                    "subscriber {unit} was enrolled by {granted_by}: it watches the feed there"
                )),
            })
            .await?;
        let Caller::Subscriber {
            scope: enrolled, ..
        } = &admission.caller
        else {
            unreachable!("admitted as a subscriber")
        };
        let enrolled = enrolled.to_string();
        let scope = if asked.is_empty() {
            enrolled.clone()
        } else {
            asked.to_string()
        };
        if UnitCode::parse(&scope).is_err() {
            return Err(Status::invalid_argument(format!(
                "\"{scope}\" is not a unit code"
            )));
        }
        let mut inside = Scope {
            root: enrolled.clone(),
            known: HashMap::new(),
        };
        if !inside.contains(&self.store, &scope).await {
            let who = admission.cert.to_string();
            let reason = format!("{who} may watch {enrolled} and its subtree, not {scope}");
            self.gate.refuse(&who, &reason).await;
            return Err(Status::permission_denied(reason));
        }
        Ok((admission, scope))
    }
}

/// Counts a streaming subscriber in the store's live counters while it lives.
struct Subscribed(Arc<Store>);

impl Subscribed {
    fn new(store: Arc<Store>) -> Self {
        store
            .live()
            .feed_subscribers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Subscribed(store)
    }
}

impl Drop for Subscribed {
    fn drop(&mut self) {
        self.0
            .live()
            .feed_subscribers
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Streams events of `scope` after `cursor` (a snapshot first when `cursor` is 0, or behind the
/// compaction point) into `tx`.
pub async fn pump(
    store: Arc<Store>,
    who: String,
    scope: String,
    cursor: u64,
    tx: mpsc::Sender<FeedEvent>,
    cut: Arc<Mutex<Option<Status>>>,
    shutdown: watch::Receiver<bool>,
) {
    pump_noting(store, who, scope, cursor, tx, cut, shutdown, None).await
}

/// [`pump`], noting the subscriber's cursors (where it resumes, then what it was sent) when it is
/// `subscriber`.
#[allow(clippy::too_many_arguments)]
async fn pump_noting(
    store: Arc<Store>,
    who: String,
    scope: String,
    cursor: u64,
    tx: mpsc::Sender<FeedEvent>,
    cut: Arc<Mutex<Option<Status>>>,
    mut shutdown: watch::Receiver<bool>,
    subscriber: Option<String>,
) {
    let mut noted = subscriber.map(|subscriber| Noted {
        subscriber,
        scope: scope.clone(),
        cursor: 0,
        sent: (0, std::time::Instant::now()),
    });
    // Behind the compaction point the changes are no longer all there: a snapshot first.
    let compacted = store.feed_compacted().await.unwrap_or(0);
    if cursor != 0 && cursor < compacted {
        info!(peer = %who, cursor, compacted, "feed cursor behind the compaction point: a snapshot first");
    }
    let mut changes = store.subscribe();
    let _counted = Subscribed::new(store.clone());
    let mut scope = Scope {
        root: scope,
        known: HashMap::new(),
    };
    let give = |e: FeedEvent| match tx.try_send(e) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(_)) => Err(true),
        Err(mpsc::error::TrySendError::Closed(_)) => Err(false),
    };
    let cut_off = |last: u64| {
        warn!(peer = %who, last, "feed subscriber too slow: cut off");
        *cut.lock().expect("feed status") = Some(Status::resource_exhausted(format!(
            "the subscriber did not keep up and was cut off after cursor {last}; resume from the last cursor received"
        )));
    };
    let mut last = cursor;
    let mut noticed: Option<std::time::Instant> = None;
    if cursor == 0 || cursor < compacted {
        let Ok(at) = store.feed_cursor().await else {
            return;
        };
        for event in store.feed_latest().await.unwrap_or_default() {
            let row = FigureRow::from(&event);
            if !scope.shows(&store, &row).await {
                continue;
            }
            let e = FeedEvent {
                kind: feed_event::Kind::Snapshot as i32,
                cursor: at,
                row: Some(row),
            };
            if let Err(full) = give(e) {
                if full {
                    cut_off(0);
                }
                return;
            }
        }
        let end = FeedEvent {
            kind: feed_event::Kind::SnapshotEnd as i32,
            cursor: at,
            row: None,
        };
        if let Err(full) = give(end) {
            if full {
                cut_off(0);
            }
            return;
        }
        last = at;
    }
    if let Some(n) = noted.as_mut() {
        n.write(&store, last).await;
        n.sent.0 = last;
    }
    // A profile arrived since the last look: units once found outside are asked again.
    let mut recheck = false;
    loop {
        // Rows already passed over (their units' place in the tree not yet known here) whose
        // units are inside now: their latest row, at the current cursor (nothing before it is
        // missed, nothing after it is sent twice).
        if std::mem::take(&mut recheck) {
            let outside = scope.forget_outside();
            if !outside.is_empty() {
                for event in store.feed_latest().await.unwrap_or_default() {
                    let was_outside =
                        outside.contains(&event.row.unit) || outside.contains(&event.hub);
                    if event.seq > last || !was_outside {
                        continue;
                    }
                    let row = FigureRow::from(&event);
                    if !scope.shows(&store, &row).await {
                        continue;
                    }
                    let e = FeedEvent {
                        kind: feed_event::Kind::Change as i32,
                        cursor: last,
                        row: Some(row),
                    };
                    if let Err(full) = give(e) {
                        if full {
                            cut_off(last);
                        }
                        return;
                    }
                }
            }
        }
        // Everything after `last`, in order.
        loop {
            let events = store.feed_after(last, 500).await.unwrap_or_default();
            if events.is_empty() {
                break;
            }
            for event in events {
                let seq = event.seq;
                let row = FigureRow::from(&event);
                if scope.shows(&store, &row).await {
                    let e = FeedEvent {
                        kind: feed_event::Kind::Change as i32,
                        cursor: seq,
                        row: Some(row),
                    };
                    if let Err(full) = give(e) {
                        if full {
                            cut_off(last);
                        }
                        return;
                    }
                }
                last = seq;
            }
        }
        if let Some(t) = noticed.take() {
            stages::since(Stage::FeedSend, t);
        }
        if let Some(n) = noted.as_mut() {
            n.sent(&store, last).await;
        }
        // Wait for a rollup to change (this hub's, or a replica of a child's).
        loop {
            tokio::select! {
                c = changes.recv() => match c {
                    Ok(doc) if doc.kind == DocKind::Rollup => {
                        noticed = Some(std::time::Instant::now());
                        break;
                    }
                    Ok(doc) if doc.kind == DocKind::Profile => {
                        recheck = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        recheck = true;
                        break;
                    }
                    Err(_) => return,
                },
                _ = tx.closed() => return,
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[tonic::async_trait]
impl Feed for FeedService {
    type SubscribeStream = FeedStream;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<FeedStream>, Status> {
        let info = request.extensions().get::<ConnInfo>().cloned();
        let req = request.into_inner();
        let (admission, scope) = self.admit(info.as_ref(), &req.scope).await?;
        let newest = self
            .store
            .feed_cursor()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        if req.cursor > newest {
            return Err(Status::out_of_range(format!(
                "cursor {} is ahead of this hub's feed (last event {newest}): subscribe with cursor 0",
                req.cursor
            )));
        }
        info!(peer = ?info.as_ref().and_then(|i| i.peer.as_ref()).map(|p| p.to_string()), scope, cursor = req.cursor, "feed subscribed");
        let (tx, rx) = mpsc::channel(self.queue.max(2));
        let cut = Arc::new(Mutex::new(None));
        let who = info
            .and_then(|i| i.peer)
            .map(|p| p.to_string())
            .unwrap_or_default();
        let (store, cut2) = (self.store.clone(), cut.clone());
        let shutdown = self.shutdown.clone();
        let Caller::Subscriber { unit, .. } = &admission.caller else {
            unreachable!("admitted as a subscriber")
        };
        let subscriber = unit.to_string();
        tokio::spawn(async move {
            let mut revoked = admission.cut();
            // Held until the reason is set, so the subscriber sees the reason, not a plain end.
            let keep = tx.clone();
            tokio::select! {
                _ = pump_noting(store.clone(), who.clone(), scope, req.cursor, tx, cut2.clone(), shutdown, Some(subscriber)) => {
                    if cut2.lock().expect("feed status").is_some() {
                        store.record_refusal(&who, None, "feed subscriber too slow: cut off").await;
                    }
                }
                // The subscriber's enrollment no longer holds: its open stream ends now.
                why = revoked.fired() => {
                    let reason = format!("open feed ended: {why}");
                    *cut2.lock().expect("feed status") = Some(Status::permission_denied(reason.clone()));
                    store.record_refusal(&who, None, &reason).await;
                }
            }
            drop(keep);
            drop(admission);
        });
        Ok(Response::new(FeedStream { rx, cut }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs::rollup::Row;
    use crate::domain::figures::Counts;

    #[test]
    fn the_compaction_stops_at_the_slowest_subscriber_but_not_too_far_behind() {
        assert_eq!(compaction_point(500, None), 500, "no subscriber: all of it");
        assert_eq!(compaction_point(500, Some(120)), 120);
        assert_eq!(
            compaction_point(500, Some(900)),
            500,
            "never past the newest"
        );
        let newest = MAX_BEHIND + 7_000;
        assert_eq!(
            compaction_point(newest, Some(3)),
            7_000,
            "held back MAX_BEHIND at most"
        );
        assert_eq!(compaction_point(0, None), 0);
    }

    #[test]
    fn a_wire_row_says_what_the_stats_contract_says() {
        let event = FeedRow {
            seq: 7,
            hub: "500000".into(),
            row: Row {
                unit: "500103".into(),
                name: "渝中区".into(),
                counts: Counts {
                    built: 3,
                    must_network: 2,
                    networked: 1,
                    in_service: 3,
                    key_public_built: 3,
                    key_public_in_service: 2,
                    ..Default::default()
                },
                findings: crate::domain::quality::Tally {
                    errors: 2,
                    warnings: 1,
                },
                as_of: "2026-12-01T00:00:00.000Z".into(),
            },
        };
        // `subscribe` prints the wire row's fields: each is the stats contract's, by name.
        let wire = serde_json::to_value(FigureRow::from(&event)).unwrap();
        let mut stats = serde_json::to_value(event.row.stats()).unwrap();
        stats["hub"] = "500000".into();
        let wire = wire.as_object().unwrap();
        assert_eq!(wire.len(), 18);
        for (k, v) in wire {
            assert_eq!(&stats[k], v, "{k}");
        }
        assert_eq!(wire["networking_rate"], 50.0);
        assert!(wire["archive_rate"].as_f64() == Some(0.0));
        assert_eq!(wire["intact_rate_key_public"], 66.67);
        assert!(wire["intact_rate_key_industry"].is_null());
        assert_eq!(
            (
                wire["findings_errors"].clone(),
                wire["findings_warnings"].clone()
            ),
            (2.into(), 1.into())
        );
    }
}
