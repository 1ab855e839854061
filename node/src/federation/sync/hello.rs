//! Opening a session: each side's hello with the heads of the documents it shares with the other,
//! then every shared document started (nothing more to say for one already equal, the whole
//! document for a peer that holds none of it).

use std::collections::{HashMap, HashSet};

use automerge::sync::{Capability, Have};
use tokio_stream::{Stream, StreamExt};
use tonic::Status;
use tracing::debug;
use yinglian_proto::v1::{DocHeads, Hello, SyncFrame, sync_error, sync_frame};

use super::frames::{clip, heads_bytes, heads_of};
use super::{DocState, FRAME_BUDGET, HELLO_TIMEOUT, PROTOCOL, Session, SessionEnd};
use crate::docs::document::{DocId, DocKind};
use crate::federation::authz::{Access, Write};

/// A document a session starts: its access (decided once), the bytes saved of it here, and the
/// heads each side announced (none: not held there).
#[derive(Clone)]
struct Start {
    doc: DocId,
    access: Access,
    bytes: i64,
    mine: Vec<Vec<u8>>,
    theirs: Option<Vec<Vec<u8>>>,
}

impl Session {
    /// This unit's hello: the heads of every document it shares with the peer, and each one
    /// to start (its access decided once, for the hello and the session); and the newest
    /// version of the documents it read.
    async fn hello(&self) -> Result<(SyncFrame, Vec<Start>, i64), SessionEnd> {
        // A unit enrolled since the children were last read (by another process) is one of them
        // from this session on.
        self.engine.store.forget_children();
        let mut docs = Vec::new();
        let mut starts = Vec::new();
        // Each row says whether the document is held and where its replica came from: its
        // access is decided without asking the database again for every document.
        let mut seen = 0;
        for row in self.engine.store.documents().await? {
            seen = seen.max(row.version);
            let access = self
                .engine
                .access_of(&self.peer, &row.doc_id, true, row.origin.as_deref())
                .await?;
            if access.shared() {
                let heads = heads_bytes(&row.heads);
                docs.push(DocHeads {
                    doc_id: row.doc_id.to_string(),
                    heads: heads.clone(),
                });
                starts.push(Start {
                    doc: row.doc_id,
                    access,
                    bytes: row.bytes,
                    mine: heads,
                    theirs: None,
                });
            }
        }
        let frame = SyncFrame {
            kind: Some(sync_frame::Kind::Hello(Hello {
                unit: self.engine.me.to_string(),
                protocol: PROTOCOL,
                docs,
            })),
        };
        Ok((frame, starts, seen))
    }

    /// Exchanges the hellos and starts every shared document: this unit's, and those the peer
    /// offers that this unit takes.
    pub(super) async fn open(
        &mut self,
        inbound: &mut (impl Stream<Item = Result<SyncFrame, Status>> + Unpin),
    ) -> Result<(), SessionEnd> {
        let (hello, mut order, seen) = self.hello().await?;
        self.seen = seen;
        tracing::debug!(me = %self.engine.me, peer = %self.who, "hello built");
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
        // The peer's documents by name as this unit reads it, each once: a name written another
        // way (with spaces, say) is the same document, not a second one started afresh.
        let mut their_heads: HashMap<DocId, Vec<Vec<u8>>> = HashMap::new();
        let mut their_order: Vec<DocId> = Vec::new();
        for d in &theirs.docs {
            if let Ok(doc) = d.doc_id.parse::<DocId>()
                && !their_heads.contains_key(&doc)
            {
                their_heads.insert(doc.clone(), d.heads.clone());
                their_order.push(doc);
            }
        }
        // Start every shared document: mine, and those the peer offers that I take.
        let mine: HashSet<DocId> = order.iter().map(|s| s.doc.clone()).collect();
        for s in &mut order {
            s.theirs = their_heads.get(&s.doc).cloned();
        }
        // Whether each offered document is held here, and where from, read once the peer's hello
        // is in (not when this unit's was built: a peer may wait before it answers), in one
        // query for all of them.
        their_order.retain(|d| !mine.contains(d));
        let held = self.engine.store.replica_origins(&their_order).await?;
        for doc in their_order {
            let access = match held.get(&doc) {
                Some(origin) => {
                    self.engine
                        .access_of(&self.peer, &doc, true, origin.as_deref())
                        .await?
                }
                None => self.engine.access_of(&self.peer, &doc, false, None).await?,
            };
            if access.write != Write::None {
                let theirs = their_heads.remove(&doc);
                order.push(Start {
                    doc,
                    access,
                    bytes: 0,
                    mine: Vec::new(),
                    theirs,
                });
            }
        }
        // Of a rollup that either side holds in a newer generation, only that generation: the
        // older was (or is about to be) given up.
        let newest = |d: &DocId| {
            order
                .iter()
                .filter(|s| s.doc.kind == d.kind && s.doc.unit == d.unit)
                .map(|s| s.doc.generation)
                .max()
                .unwrap_or(d.generation)
        };
        let order: Vec<Start> = order
            .iter()
            .filter(|s| s.doc.kind != DocKind::Rollup || s.doc.generation >= newest(&s.doc))
            .cloned()
            .collect();
        let mut in_sync = 0usize;
        // Every saved sync state with the peer, in one query.
        let mut states = self
            .engine
            .store
            .sync_states_of(self.peer.unit.as_str())
            .await?;
        for Start {
            doc,
            access,
            bytes,
            mine: my_heads,
            theirs: their,
        } in order
        {
            let mut state = states.remove(&doc).unwrap_or_default();
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
        Ok(())
    }
}
