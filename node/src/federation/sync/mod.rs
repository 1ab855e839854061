//! The sync engine: one session per peer over one bidirectional stream, running the Automerge
//! sync protocol for every document the two units share. Each side first sends a hello with the
//! heads of its documents; a document whose heads already match costs nothing more. The
//! `sync::State` of every (peer, document) is persisted, so a reconnect starts from the shared
//! heads; Automerge sends a whole compressed document by itself when most of it is missing.
//! Every frame is authorized (see `authz`) before anything of it is kept; a refusal ends the
//! session with PERMISSION_DENIED and is recorded with the peer's identity.
//!
//! This file holds the engine (one per unit: its peers, the documents' access, the sync states);
//! `session` runs one session's frames, `hello` opens it (the hellos and the start of every shared
//! document), `frames` cuts a large message into frames.

mod frames;
mod hello;
mod session;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use automerge::sync::State;
use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tonic::Status;
use tracing::{info, warn};
use yinglian_proto::v1::SyncFrame;

use crate::docs::document::DocId;
use crate::domain::unit::UnitCode;
use crate::federation::admission::{Cut, Limits};
use crate::federation::authz::{self, Access, Known, Peer, Relation};
use crate::federation::pki::identity_uri;
use crate::store::{PeerSeen, Store, StoreError};

/// The largest frame a peer may send (a whole compressed ledger of a large unit fits).
pub const MAX_FRAME_BYTES: usize = 32 * 1024 * 1024;
/// The protocol version in the hello.
pub const PROTOCOL: u32 = 1;
/// What one sync frame carries at most: a backlog larger than this goes as several frames, each
/// a sync message with some of the changes (the receiver applies each as it comes, so a cut
/// loses nothing received; the next session sends only what is still missing).
pub const FRAME_BUDGET: usize = 4 * 1024 * 1024;

/// How long a peer has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// Figures of one peer, live.
#[derive(Debug, Default)]
pub struct PeerStats {
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    pub frames_sent: AtomicU64,
    pub frames_received: AtomicU64,
    pub sessions: AtomicU64,
    pub connected: AtomicBool,
    /// How many times every shared document was seen in sync with this peer.
    pub synced: AtomicU64,
    /// Woken whenever `synced` grows.
    pub synced_notify: tokio::sync::Notify,
    /// The current minute (Unix minutes) and the bytes received in it.
    minute: std::sync::Mutex<(i64, u64)>,
    /// When being in sync was last written to the store (at most once a second).
    recorded: std::sync::Mutex<Option<std::time::Instant>>,
}

impl PeerStats {
    pub fn sent(&self) -> u64 {
        self.bytes_sent.load(Ordering::Relaxed)
    }
    pub fn received(&self) -> u64 {
        self.bytes_received.load(Ordering::Relaxed)
    }
}

/// How a session ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionEnd {
    #[error("the peer closed the stream")]
    Closed,
    #[error("this unit is stopping")]
    Shutdown,
    #[error("refused: {0}")]
    Refused(String),
    #[error("the peer refused: {0}")]
    PeerRefused(String),

    #[error("stream error: {0}")]
    Stream(Status),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// One unit's sync engine, shared by all its sessions.
pub struct Engine {
    pub store: Arc<Store>,
    pub data: PathBuf,
    pub me: UnitCode,
    /// The unit this unit syncs up to, once it joined.
    pub parent: Option<UnitCode>,
    /// Whether children's camera ledgers travel on to the parent (meta `forward_ledgers`).
    pub forward_ledgers: bool,
    /// The actors this unit wrote under before a restore (meta `past_actors`), accepted from the
    /// parent until the first session with it gets in sync: the window in which the unit takes
    /// back its own pre-restore changes. After it, a change under those actors is judged as any
    /// other (a parent could otherwise write as the unit's past self).
    pub past_actors: std::sync::RwLock<Vec<automerge::ActorId>>,
    /// The root of the federation (from the trust root): the only campaign this unit takes.
    pub root: Option<UnitCode>,
    peers: std::sync::Mutex<HashMap<String, Arc<PeerStats>>>,
    /// A number for every document a session noted, so that the sessions' sets of documents they
    /// do not send hold numbers, not names (a city's 41 sessions each note most of its
    /// thousands of profiles).
    numbers: std::sync::Mutex<HashMap<DocId, u32>>,
    /// What one peer may cost (documents per hello, bytes per minute).
    pub limits: Limits,
}

impl Engine {
    /// An engine whose peers are bounded by `limits`.
    pub async fn with_limits(
        store: Arc<Store>,
        data: &Path,
        limits: Limits,
    ) -> Result<Arc<Engine>, StoreError> {
        let parent = store
            .meta("parent_unit")
            .await?
            .and_then(|p| UnitCode::parse(&p).ok());
        let forward_ledgers = store.meta("forward_ledgers").await?.as_deref() == Some("true");
        let past_actors = store.past_actors().await?;
        let engine = Arc::new(Engine {
            forward_ledgers,
            past_actors: std::sync::RwLock::new(past_actors),
            root: crate::federation::pki::root_unit(data),
            me: store.unit().clone(),
            store,
            data: data.to_path_buf(),
            parent,
            peers: Default::default(),
            numbers: Default::default(),
            limits,
        });
        Ok(engine)
    }

    /// The number of `doc` in this engine (see `numbers`).
    fn number(&self, doc: &DocId) -> u32 {
        let mut numbers = self.numbers.lock().expect("document numbers");
        if let Some(n) = numbers.get(doc) {
            return *n;
        }
        let n = numbers.len() as u32;
        numbers.insert(doc.clone(), n);
        n
    }

    /// The live figures of one peer.
    pub fn peer_stats(&self, unit: &str) -> Arc<PeerStats> {
        self.peers
            .lock()
            .expect("peer table")
            .entry(unit.to_string())
            .or_default()
            .clone()
    }

    /// Records a refusal with the peer's identity, and logs it.
    pub async fn refuse(&self, peer: &str, doc: Option<&DocId>, reason: &str) {
        self.store.record_refusal(peer, doc, reason).await;
    }

    async fn access(&self, peer: &Peer, doc: &DocId) -> Result<Access, StoreError> {
        let replica = self.store.replica_origin(doc).await?;
        let (held, origin) = match replica {
            Some(origin) => (true, origin),
            None => (false, None),
        };
        self.access_of(peer, doc, held, origin.as_deref()).await
    }

    /// [`Engine::access`] of a document whose holding and origin the caller has just read (a
    /// row of [`Store::documents`]).
    async fn access_of(
        &self,
        peer: &Peer,
        doc: &DocId,
        held: bool,
        origin: Option<&str>,
    ) -> Result<Access, StoreError> {
        let is_my_child = self.store.is_child_known(doc.unit.as_str()).await?;
        Ok(authz::access(
            &self.me,
            self.parent.as_ref(),
            peer,
            doc,
            Known {
                held,
                origin,
                is_my_child,
                forward_ledgers: self.forward_ledgers,
                root: self.root.as_ref(),
            },
        ))
    }

    async fn load_state(&self, peer: &UnitCode, doc: &DocId) -> Result<State, StoreError> {
        self.store.sync_state(peer.as_str(), doc).await
    }

    async fn record_peer(
        &self,
        peer: &Peer,
        connected: bool,
        stats: &PeerStats,
        error: Option<&str>,
    ) {
        let r = self
            .store
            .record_peer(&PeerSeen {
                peer: peer.unit.as_str(),
                relation: peer.relation.as_str(),
                connected,
                bytes_sent: stats.sent(),
                bytes_received: stats.received(),
                error,
            })
            .await;
        if let Err(e) = r {
            warn!(error = %e, "could not record the peer's state");
        }
    }

    async fn mark_synced(&self, peer: &Peer) {
        if peer.relation == Relation::Parent {
            let had = std::mem::take(&mut *self.past_actors.write().expect("past actors"));
            if !had.is_empty() {
                let _ = self.store.forget_past_actors().await;
            }
        }
        let stats = self.peer_stats(peer.unit.as_str());
        stats.synced.fetch_add(1, Ordering::Relaxed);
        stats.synced_notify.notify_waiters();
        // Written at most once a second: a busy peer is in sync after every change, and this
        // write would otherwise queue before the rollup's (the session's end writes the final
        // figures).
        let due = {
            let mut at = stats.recorded.lock().expect("peer recorded");
            let due = at.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
            if due {
                *at = Some(std::time::Instant::now());
            }
            due
        };
        if due {
            let _ = self
                .store
                .record_synced(peer.unit.as_str(), stats.sent(), stats.received())
                .await;
        }
    }

    /// Runs one session with `peer` until either side ends it. `inbound` is the peer's frames,
    /// `out` carries this unit's frames (and, last, the status a refusal ends the stream with);
    /// `cut` (the admission of a child) ends it when the child's enrollment no longer holds.
    pub async fn run_session(
        self: &Arc<Self>,
        peer: Peer,
        inbound: impl Stream<Item = Result<SyncFrame, Status>> + Unpin,
        out: mpsc::Sender<Result<SyncFrame, Status>>,
        shutdown: watch::Receiver<bool>,
        cut: Option<Cut>,
    ) -> Result<(), SessionEnd> {
        let stats = self.peer_stats(peer.unit.as_str());
        stats.sessions.fetch_add(1, Ordering::Relaxed);
        stats.connected.store(true, Ordering::Relaxed);
        self.record_peer(&peer, true, &stats, None).await;
        let mut s = Session {
            engine: self.clone(),
            who: identity_uri(peer.role.as_str(), &peer.unit),
            peer,
            out,
            stats: stats.clone(),
            docs: HashMap::new(),
            refused: BTreeSet::new(),
            unsent: BTreeSet::new(),
            unsaved: BTreeSet::new(),
            flush_at: None,
            seen: 0,
        };
        let result = s.run(inbound, shutdown, cut).await;
        stats.connected.store(false, Ordering::Relaxed);
        let err = match &result {
            Ok(()) => None,
            Err(e) => Some(e.to_string()),
        };
        // Every document's state, in one transaction.
        let states: Vec<(DocId, Vec<u8>)> = s
            .docs
            .iter()
            .map(|(doc, d)| (doc.clone(), d.state.encode()))
            .collect();
        if let Err(e) = self
            .store
            .save_sync_states(s.peer.unit.as_str(), &states)
            .await
        {
            warn!(peer = %s.who, error = %e, "could not save the sync states at the session's end");
        }
        self.record_peer(&s.peer, false, &stats, err.as_deref())
            .await;
        info!(peer = %s.who, sent = stats.sent(), received = stats.received(), end = ?err, "session ended");
        result
    }
}

struct DocState {
    state: State,
    access: Access,
}

struct Session {
    engine: Arc<Engine>,
    peer: Peer,
    who: String,
    out: mpsc::Sender<Result<SyncFrame, Status>>,
    stats: Arc<PeerStats>,
    docs: HashMap<DocId, DocState>,
    /// Documents refused in this session, by either side: no more frames about them.
    refused: BTreeSet<DocId>,
    /// Changed documents this unit does not send to the peer (asked once a session), by their
    /// numbers in the engine.
    unsent: BTreeSet<u32>,
    /// Documents whose sync state moved (an acknowledgement) and is not saved yet.
    unsaved: BTreeSet<DocId>,
    /// When `unsaved` is saved next.
    flush_at: Option<tokio::time::Instant>,
    /// The newest version of the documents held that this session has looked at (its hello's,
    /// then each catch-up's after it fell behind the change stream).
    seen: i64,
}
