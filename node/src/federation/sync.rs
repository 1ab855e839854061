//! The sync engine: one session per peer over one bidirectional stream, running the Automerge
//! sync protocol for every document the two units share. Each side first sends a hello with the
//! heads of its documents; a document whose heads already match costs nothing more. The
//! `sync::State` of every (peer, document) is persisted, so a reconnect starts from the shared
//! heads; Automerge sends a whole compressed document by itself when most of it is missing.
//! Every frame is authorized (see `authz`) before anything of it is kept; a refusal ends the
//! session with PERMISSION_DENIED and is recorded with the peer's identity.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use automerge::ChangeHash;
use automerge::sync::{Capability, Have, Message, State};
use prost::Message as _;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::{Stream, StreamExt};
use tonic::Status;
use tracing::{debug, info, warn};
use yinglian_proto::v1::{DocHeads, DocSync, Hello, SyncError, SyncFrame, sync_error, sync_frame};

use crate::docs::document::DocId;
use crate::domain::unit::UnitCode;
use crate::federation::admission::{Cut, Limits};
use crate::federation::authz::{self, Access, Known, Peer, Relation, Write};
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

/// Splits a sync message into messages of at most `FRAME_BUDGET` bytes of changes each (the
/// same heads, needs and haves, a share of the changes); `Err(size)` for a change too large to
/// travel in any frame.
fn split(m: Message) -> Vec<Result<Vec<u8>, usize>> {
    let total: usize = m.changes.iter().map(<[u8]>::len).sum();
    if total <= FRAME_BUDGET {
        return vec![Ok(m.encode())];
    }
    let mut out = Vec::new();
    let mut group: Vec<Vec<u8>> = Vec::new();
    let mut size = 0;
    let chunks: Vec<Vec<u8>> = m.changes.iter().map(<[u8]>::to_vec).collect();
    let piece = |changes: Vec<Vec<u8>>| Message {
        heads: m.heads.clone(),
        need: m.need.clone(),
        have: m.have.clone(),
        changes: changes.into(),
        flags: m.flags,
        version: m.version.clone(),
    };
    for c in chunks {
        if c.len() + 1024 > MAX_FRAME_BYTES {
            out.push(Err(c.len()));
            continue;
        }
        if size + c.len() > FRAME_BUDGET && !group.is_empty() {
            out.push(Ok(piece(std::mem::take(&mut group)).encode()));
            size = 0;
        }
        size += c.len();
        group.push(c);
    }
    if !group.is_empty() {
        out.push(Ok(piece(group).encode()));
    }
    out
}

/// Documents refused in one session before the session ends.
const MAX_REFUSED_DOCS: usize = 16;

/// A peer's text (a document name, an error message) cut to what a log line or a record needs.
fn clip(text: &str) -> String {
    let mut out: String = text.chars().take(200).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

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
    /// What one peer may cost (documents per hello, bytes per minute).
    pub limits: Limits,
}

fn heads_bytes(hex: &[String]) -> Vec<Vec<u8>> {
    hex.iter()
        .filter_map(|h| h.parse::<ChangeHash>().ok())
        .map(|h| h.0.to_vec())
        .collect()
}

fn heads_of(bytes: &[Vec<u8>]) -> Option<Vec<ChangeHash>> {
    bytes
        .iter()
        .map(|b| ChangeHash::try_from(b.as_slice()).ok())
        .collect()
}

impl Engine {
    pub async fn new(store: Arc<Store>, data: &Path) -> Result<Arc<Engine>, StoreError> {
        Engine::with_limits(store, data, Limits::default()).await
    }

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
            limits,
        });
        Ok(engine)
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
        let is_my_child = self.store.is_child(doc.unit.as_str()).await?;
        let (held, origin) = match replica {
            Some(origin) => (true, origin),
            None => (false, None),
        };
        Ok(authz::access(
            &self.me,
            self.parent.as_ref(),
            peer,
            doc,
            Known {
                held,
                origin: origin.as_deref(),
                is_my_child,
                forward_ledgers: self.forward_ledgers,
                root: self.root.as_ref(),
            },
        ))
    }

    async fn load_state(&self, peer: &UnitCode, doc: &DocId) -> Result<State, StoreError> {
        self.store.sync_state(peer.as_str(), doc).await
    }

    async fn save_state(
        &self,
        peer: &UnitCode,
        doc: &DocId,
        state: &State,
    ) -> Result<(), StoreError> {
        self.store.save_sync_state(peer.as_str(), doc, state).await
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
        let _ = self.store.clear_stuck(peer.unit.as_str()).await;
        stats.synced.fetch_add(1, Ordering::Relaxed);
        stats.synced_notify.notify_waiters();
        let _ = self
            .store
            .record_synced(peer.unit.as_str(), stats.sent(), stats.received())
            .await;
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
        };
        let result = s.run(inbound, shutdown, cut).await;
        stats.connected.store(false, Ordering::Relaxed);
        let err = match &result {
            Ok(()) => None,
            Err(e) => Some(e.to_string()),
        };
        for (doc, d) in &s.docs {
            let _ = self.save_state(&s.peer.unit, doc, &d.state).await;
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
}

impl Session {
    /// Refuses one document's frame: recorded, answered with a PERMISSION_DENIED error frame,
    /// nothing of it kept, and the document left out of the rest of the session. The session
    /// goes on for the other documents.
    async fn refuse_doc(&mut self, doc: &DocId, reason: String) -> Result<(), SessionEnd> {
        self.engine.refuse(&self.who, Some(doc), &reason).await;
        self.docs.remove(doc);
        self.refused.insert(doc.clone());
        self.send(SyncFrame {
            kind: Some(sync_frame::Kind::Error(SyncError {
                code: sync_error::Code::PermissionDenied as i32,
                doc_id: doc.to_string(),
                message: reason,
            })),
        })
        .await
    }

    async fn send(&self, frame: SyncFrame) -> Result<(), SessionEnd> {
        let n = frame.encoded_len() as u64;
        self.out
            .send(Ok(frame))
            .await
            .map_err(|_| SessionEnd::Closed)?;
        self.stats.bytes_sent.fetch_add(n, Ordering::Relaxed);
        self.stats.frames_sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Refuses: records it, tells the peer with an error frame and a PERMISSION_DENIED status.
    async fn refuse(
        &self,
        doc: Option<&DocId>,
        code: sync_error::Code,
        reason: String,
    ) -> SessionEnd {
        self.engine.refuse(&self.who, doc, &reason).await;
        let frame = SyncFrame {
            kind: Some(sync_frame::Kind::Error(SyncError {
                code: code as i32,
                doc_id: doc.map(|d| d.to_string()).unwrap_or_default(),
                message: reason.clone(),
            })),
        };
        let _ = self.out.send(Ok(frame)).await;
        let status = match code {
            sync_error::Code::Malformed => Status::invalid_argument(reason.clone()),
            sync_error::Code::TooLarge => Status::resource_exhausted(reason.clone()),
            _ => Status::permission_denied(reason.clone()),
        };
        let _ = self.out.send(Err(status)).await;
        SessionEnd::Refused(reason)
    }

    async fn hello(&self) -> Result<SyncFrame, SessionEnd> {
        let mut docs = Vec::new();
        for row in self.engine.store.documents().await? {
            if self.engine.access(&self.peer, &row.doc_id).await?.shared() {
                docs.push(DocHeads {
                    doc_id: row.doc_id.to_string(),
                    heads: heads_bytes(&row.heads),
                });
            }
        }
        Ok(SyncFrame {
            kind: Some(sync_frame::Kind::Hello(Hello {
                unit: self.engine.me.to_string(),
                protocol: PROTOCOL,
                docs,
            })),
        })
    }

    async fn run(
        &mut self,
        mut inbound: impl Stream<Item = Result<SyncFrame, Status>> + Unpin,
        mut shutdown: watch::Receiver<bool>,
        mut cut: Option<Cut>,
    ) -> Result<(), SessionEnd> {
        let mut changes = self.engine.store.subscribe();
        tracing::debug!(me = %self.engine.me, peer = %self.who, "session starting");
        let hello = self.hello().await?;
        tracing::debug!(me = %self.engine.me, peer = %self.who, "hello built");
        let mine: HashMap<String, Vec<Vec<u8>>> = match &hello.kind {
            Some(sync_frame::Kind::Hello(h)) => h
                .docs
                .iter()
                .map(|d| (d.doc_id.clone(), d.heads.clone()))
                .collect(),
            _ => HashMap::new(),
        };
        self.send(hello).await?;
        let theirs = match tokio::time::timeout(HELLO_TIMEOUT, inbound.next()).await {
            Err(_) => {
                return Err(self
                    .refuse(
                        None,
                        sync_error::Code::Malformed,
                        "no hello within 30 s".into(),
                    )
                    .await);
            }
            Ok(None) => return Err(SessionEnd::Closed),
            Ok(Some(Err(status))) => return Err(self.stream_error(status).await),
            Ok(Some(Ok(frame))) => {
                self.count_in(&frame).await?;
                match frame.kind {
                    Some(sync_frame::Kind::Hello(h)) => h,
                    Some(sync_frame::Kind::Error(e)) => {
                        return Err(SessionEnd::PeerRefused(clip(&e.message)));
                    }
                    _ => {
                        return Err(self
                            .refuse(
                                None,
                                sync_error::Code::Malformed,
                                "the first frame must be a hello".into(),
                            )
                            .await);
                    }
                }
            }
        };
        if theirs.docs.len() > self.engine.limits.docs_per_session {
            return Err(self
                .refuse(
                    None,
                    sync_error::Code::TooLarge,
                    format!(
                        "the hello announces {} documents, over the limit of {} per session",
                        theirs.docs.len(),
                        self.engine.limits.docs_per_session
                    ),
                )
                .await);
        }
        if theirs.unit != self.peer.unit.as_str() {
            return Err(self
                .refuse(
                    None,
                    sync_error::Code::PermissionDenied,
                    format!(
                        "the hello names unit {} but the certificate is of {}",
                        clip(&theirs.unit),
                        self.peer.unit
                    ),
                )
                .await);
        }
        // Start every shared document: mine, and those the peer offers that I take.
        let mut order: Vec<(DocId, Option<Vec<Vec<u8>>>)> = Vec::new();
        for id in mine.keys() {
            if let Ok(doc) = id.parse::<DocId>() {
                let their = theirs
                    .docs
                    .iter()
                    .find(|d| &d.doc_id == id)
                    .map(|d| d.heads.clone());
                order.push((doc, their));
            }
        }
        for d in &theirs.docs {
            if mine.contains_key(&d.doc_id) {
                continue;
            }
            let Ok(doc) = d.doc_id.parse::<DocId>() else {
                continue;
            };
            if self.engine.access(&self.peer, &doc).await?.write != Write::None {
                order.push((doc, Some(d.heads.clone())));
            }
        }
        let mut in_sync = 0usize;
        for (doc, their) in order {
            let access = self.engine.access(&self.peer, &doc).await?;
            let mut state = self.engine.load_state(&self.peer.unit, &doc).await?;
            let my_heads = mine.get(&doc.to_string()).cloned().unwrap_or_default();
            // A peer that did not announce the document holds none of it.
            let their_h = their.as_ref().and_then(|t| heads_of(t)).unwrap_or_default();
            match their_h {
                h if !h.is_empty() && their.as_ref() == Some(&my_heads) => {
                    // Already equal: nothing to say until one side changes.
                    state.shared_heads = h.clone();
                    state.last_sent_heads = h.clone();
                    state.their_heads = Some(h.clone());
                    state.their_need = Some(Vec::new());
                    state.their_have = Some(vec![Have {
                        last_sync: h,
                        bloom: Default::default(),
                    }]);
                    state.have_responded = true;
                    in_sync += 1;
                    self.docs.insert(doc, DocState { state, access });
                }
                // I hold none of it: the peer sends it whole; nothing to say first.
                _ if my_heads.is_empty() => {
                    self.docs.insert(doc, DocState { state, access });
                }
                // The peer holds none of it: send it whole, compressed, at once.
                h if h.is_empty() => {
                    state.their_heads = Some(Vec::new());
                    state.their_need = Some(Vec::new());
                    state.their_have = Some(vec![Have::default()]);
                    // Whole and compressed when it fits a frame; as its changes, in frames of
                    // a bounded size, when it does not.
                    let bytes = self.engine.store.document_bytes(&doc).await?;
                    state.their_capabilities =
                        (bytes < FRAME_BUDGET as i64).then(|| vec![Capability::MessageV2]);
                    self.docs.insert(doc.clone(), DocState { state, access });
                    self.push(&doc).await?;
                }
                _ => {
                    self.docs.insert(doc.clone(), DocState { state, access });
                    self.push(&doc).await?;
                }
            }
        }
        debug!(peer = %self.who, docs = self.docs.len(), in_sync, "hello exchanged");
        if in_sync == self.docs.len() {
            self.engine.mark_synced(&self.peer).await;
        }
        loop {
            tokio::select! {
                frame = inbound.next() => match frame {
                    None => return Err(SessionEnd::Closed),
                    Some(Err(status)) => return Err(self.stream_error(status).await),
                    Some(Ok(frame)) => {
                        self.count_in(&frame).await?;
                        self.handle(frame).await?;
                    }
                },
                changed = changes.recv() => match changed {
                    Ok(doc) => self.changed(&doc).await?,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let all: Vec<DocId> = self.docs.keys().cloned().collect();
                        for doc in all {
                            self.push(&doc).await?;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return Err(SessionEnd::Shutdown),
                },
                why = async { match cut.as_mut() { Some(c) => c.fired().await, None => std::future::pending().await } } => {
                    return Err(self
                        .refuse(None, sync_error::Code::PermissionDenied, format!("unit {} has been revoked or enrolled anew, the session ends: {why}", self.peer.unit))
                        .await);
                }
                _ = shutdown.changed() => return Err(SessionEnd::Shutdown),
            }
        }
    }

    /// Counts a frame received; a peer over its bytes per minute is refused.
    async fn count_in(&self, frame: &SyncFrame) -> Result<(), SessionEnd> {
        let n = frame.encoded_len() as u64;
        self.stats.bytes_received.fetch_add(n, Ordering::Relaxed);
        self.stats.frames_received.fetch_add(1, Ordering::Relaxed);
        let minute = chrono::Utc::now().timestamp() / 60;
        let in_minute = {
            let mut w = self.stats.minute.lock().expect("peer minute");
            if w.0 != minute {
                *w = (minute, 0);
            }
            w.1 += n;
            w.1
        };
        if in_minute > self.engine.limits.bytes_per_minute {
            return Err(self
                .refuse(
                    None,
                    sync_error::Code::TooLarge,
                    format!(
                        "{} sent {in_minute} bytes this minute, over the limit of {} bytes per minute",
                        self.who, self.engine.limits.bytes_per_minute
                    ),
                )
                .await);
        }
        Ok(())
    }

    async fn stream_error(&self, status: Status) -> SessionEnd {
        let msg = status.message().to_string();
        if status.code() == tonic::Code::ResourceExhausted
            || status.code() == tonic::Code::OutOfRange
            || msg.contains("message length too large")
        {
            let reason = format!("frame over the {MAX_FRAME_BYTES}-byte limit: {msg}");
            self.engine.refuse(&self.who, None, &reason).await;
            let _ = self.out.send(Err(Status::resource_exhausted(reason))).await;
        }
        SessionEnd::Stream(status)
    }

    /// Sends the next sync message of `doc`, if there is one.
    async fn push(&mut self, doc: &DocId) -> Result<(), SessionEnd> {
        let Some(d) = self.docs.get_mut(doc) else {
            return Ok(());
        };
        // A whole compressed document only for a peer that has none of it. Automerge would also
        // send the whole document whenever over a third of the changes are missing, counting
        // changes, not bytes: after a thousand small edits to one large import it would resend
        // everything, so otherwise the peer gets just the changes it lacks.
        if d.state.their_heads.as_deref() != Some(&[]) || !d.state.sent_hashes.is_empty() {
            d.state.their_capabilities = None;
        }
        let msg = self.engine.store.generate_sync(doc, &mut d.state).await?;
        if let Some(m) = msg {
            tracing::trace!(peer = %self.who, %doc, heads = m.heads.len(), changes = m.changes.len(), "sync message");
            for message in split(m) {
                let message = match message {
                    Ok(m) => m,
                    Err(size) => {
                        // This document cannot go to this peer; the others still do.
                        let reason = format!(
                            "{doc} holds a change of {size} bytes, over the {MAX_FRAME_BYTES}-byte frame limit: it cannot be sent"
                        );
                        warn!(peer = %self.who, %doc, reason, "stuck");
                        self.engine
                            .store
                            .set_stuck(self.peer.unit.as_str(), &reason)
                            .await?;
                        self.docs.remove(doc);
                        self.refused.insert(doc.clone());
                        return Ok(());
                    }
                };
                self.send(SyncFrame {
                    kind: Some(sync_frame::Kind::Doc(DocSync {
                        doc_id: doc.to_string(),
                        message,
                    })),
                })
                .await?;
            }
        }
        Ok(())
    }

    async fn changed(&mut self, doc: &DocId) -> Result<(), SessionEnd> {
        if self.refused.contains(doc) {
            return Ok(());
        }
        if !self.docs.contains_key(doc) {
            let access = self.engine.access(&self.peer, doc).await?;
            if !access.send {
                return Ok(());
            }
            let state = self.engine.load_state(&self.peer.unit, doc).await?;
            self.docs.insert(doc.clone(), DocState { state, access });
        }
        self.push(doc).await
    }

    async fn handle(&mut self, frame: SyncFrame) -> Result<(), SessionEnd> {
        match frame.kind {
            Some(sync_frame::Kind::Doc(d)) => {
                let Ok(doc) = d.doc_id.parse::<DocId>() else {
                    return Err(self
                        .refuse(
                            None,
                            sync_error::Code::Malformed,
                            format!("\"{}\" is not a document name", clip(&d.doc_id)),
                        )
                        .await);
                };
                if self.refused.contains(&doc) {
                    return Ok(());
                }
                if !self.docs.contains_key(&doc) {
                    // One session opens a bounded number of documents, announced or not.
                    let limit = self.engine.limits.docs_per_session;
                    if self.docs.len() + self.refused.len() >= limit {
                        return Err(self
                            .refuse(
                                Some(&doc),
                                sync_error::Code::TooLarge,
                                format!("the session opens more than {limit} documents, the limit per session"),
                            )
                            .await);
                    }
                    let access = self.engine.access(&self.peer, &doc).await?;
                    if !access.shared() {
                        let reason = format!("{} may not read or write {doc}", self.who);
                        if self.refused.len() >= MAX_REFUSED_DOCS {
                            return Err(self
                                .refuse(
                                    Some(&doc),
                                    sync_error::Code::PermissionDenied,
                                    format!("{reason}; the session ends after {MAX_REFUSED_DOCS} refused documents"),
                                )
                                .await);
                        }
                        return self.refuse_doc(&doc, reason).await;
                    }
                    let state = self.engine.load_state(&self.peer.unit, &doc).await?;
                    self.docs.insert(doc.clone(), DocState { state, access });
                }
                let message = match Message::decode(&d.message) {
                    Ok(m) => m,
                    Err(e) => {
                        return Err(self
                            .refuse(
                                Some(&doc),
                                sync_error::Code::Malformed,
                                format!("the sync message for {doc} is malformed: {e}"),
                            )
                            .await);
                    }
                };
                let entry = self.docs.get_mut(&doc).expect("inserted above");
                let write = entry.access.write;
                let before_shared = entry.state.shared_heads.clone();
                let own_past: Vec<automerge::ActorId> = if doc == DocId::ledger(&self.engine.me) {
                    self.engine.past_actors.read().expect("past actors").clone()
                } else {
                    Vec::new()
                };
                let own_past = own_past.as_slice();
                let result = self
                    .engine
                    .store
                    .receive_sync(
                        &doc,
                        &self.who,
                        self.peer.unit.as_str(),
                        &mut entry.state,
                        message,
                        |am, before| {
                            authz::check_effect(am, before, write, &doc, own_past)
                                .map_err(|r| StoreError::Refused(r.0))
                        },
                    )
                    .await;
                match result {
                    // The replica's origin was written with the change, in its transaction.
                    Ok(_) => {
                        let shared = entry.state.shared_heads.clone();
                        if shared != before_shared {
                            self.engine
                                .save_state(&self.peer.unit, &doc, &entry.state)
                                .await?;
                        }
                    }
                    Err(StoreError::Refused(reason)) => {
                        return self.refuse_doc(&doc, reason).await;
                    }
                    Err(StoreError::Damaged(_, e)) => {
                        return Err(self
                            .refuse(
                                Some(&doc),
                                sync_error::Code::Malformed,
                                format!("the changes for {doc} cannot be applied: {e}"),
                            )
                            .await);
                    }
                    Err(e) => return Err(e.into()),
                }
                self.push(&doc).await?;
                if self
                    .docs
                    .values()
                    .all(|d| d.state.their_heads.as_ref() == Some(&d.state.shared_heads))
                {
                    self.engine.mark_synced(&self.peer).await;
                }
                Ok(())
            }
            Some(sync_frame::Kind::Error(e)) => {
                warn!(peer = %self.who, doc = clip(&e.doc_id), reason = clip(&e.message), "the peer refused");
                match e.doc_id.parse::<DocId>() {
                    Ok(doc) if e.code == sync_error::Code::PermissionDenied as i32 => {
                        self.docs.remove(&doc);
                        self.refused.insert(doc);
                        Ok(())
                    }
                    _ => Err(SessionEnd::PeerRefused(clip(&e.message))),
                }
            }
            Some(sync_frame::Kind::Hello(_)) | None => Err(self
                .refuse(
                    None,
                    sync_error::Code::Malformed,
                    "unexpected frame: a second hello or an empty frame".into(),
                )
                .await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(chunks: Vec<Vec<u8>>) -> Message {
        Message {
            heads: vec![],
            need: vec![],
            have: vec![Have::default()],
            changes: chunks.into(),
            flags: None,
            version: automerge::sync::MessageVersion::V1,
        }
    }

    #[test]
    fn a_backlog_travels_in_frames_of_a_bounded_size() {
        // Small: one frame, as generated.
        let small = split(message(vec![vec![1; 1000], vec![2; 1000]]));
        assert_eq!(small.len(), 1);
        // Six changes of 1.5 MB: three frames of two, each under the budget, each a whole
        // message carrying its share of the changes in order.
        let big: Vec<Vec<u8>> = (0..6).map(|i| vec![i as u8; 1_500_000]).collect();
        let frames = split(message(big.clone()));
        assert_eq!(frames.len(), 3);
        let mut back = Vec::new();
        for f in frames {
            let f = f.unwrap();
            assert!(f.len() <= FRAME_BUDGET + 1024, "{}", f.len());
            let m = Message::decode(&f).unwrap();
            back.extend(m.changes.iter().map(<[u8]>::to_vec));
        }
        assert_eq!(back, big);
        // A change larger than any frame is reported, not sent; the others still are.
        let frames = split(message(vec![vec![0; MAX_FRAME_BYTES], vec![1; 10]]));
        assert!(matches!(frames[0], Err(n) if n == MAX_FRAME_BYTES));
        assert!(frames[1].is_ok());
    }
}
