//! One sync session with a peer: its frames in and out, each authorized before anything of it is
//! kept, the changes of this unit pushed as they happen, refusals recorded and answered.

use std::sync::atomic::Ordering;

use automerge::sync::Message;
use prost::Message as _;
use tokio::sync::{broadcast, watch};
use tokio_stream::{Stream, StreamExt};
use tonic::Status;
use tracing::warn;
use yinglian_proto::v1::{DocSync, SyncError, SyncFrame, sync_error, sync_frame};

use super::frames::{clip, split};
use super::{DocState, MAX_FRAME_BYTES, Session, SessionEnd};
use crate::docs::document::{DocId, DocKind};
use crate::federation::admission::Cut;
use crate::federation::authz;
use crate::store::StoreError;
use crate::store::stages::{self, Stage};

/// How long an acknowledgement's sync state may wait before it is saved.
const STATES_SAVED_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Documents refused in one session before the session ends.
const MAX_REFUSED_DOCS: usize = 16;

impl Session {
    /// Refuses one document's frame: recorded, answered with a PERMISSION_DENIED error frame,
    /// nothing of it kept, and the document left out of the rest of the session. The session
    /// goes on for the other documents.
    pub(super) async fn refuse_doc(
        &mut self,
        doc: &DocId,
        reason: String,
    ) -> Result<(), SessionEnd> {
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

    pub(super) async fn send(&self, frame: SyncFrame) -> Result<(), SessionEnd> {
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
    pub(super) async fn refuse(
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

    pub(super) async fn run(
        &mut self,
        mut inbound: impl Stream<Item = Result<SyncFrame, Status>> + Unpin,
        mut shutdown: watch::Receiver<bool>,
        mut cut: Option<Cut>,
    ) -> Result<(), SessionEnd> {
        let mut changes = self.engine.store.subscribe();
        tracing::debug!(me = %self.engine.me, peer = %self.who, "session starting");
        self.open(&mut inbound).await?;
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
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        self.caught_up_after(missed).await?
                    }
                    Err(broadcast::error::RecvError::Closed) => return Err(SessionEnd::Shutdown),
                },
                why = async { match cut.as_mut() { Some(c) => c.fired().await, None => std::future::pending().await } } => {
                    return Err(self
                        .refuse(None, sync_error::Code::PermissionDenied, format!("unit {} has been revoked or enrolled anew, the session ends: {why}", self.peer.unit))
                        .await);
                }
                _ = async { match self.flush_at { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                    self.save_unsaved().await?;
                }
                _ = shutdown.changed() => return Err(SessionEnd::Shutdown),
            }
        }
    }

    /// Saves the sync states kept back (acknowledgements), in one transaction.
    pub(super) async fn save_unsaved(&mut self) -> Result<(), StoreError> {
        self.flush_at = None;
        if self.unsaved.is_empty() {
            return Ok(());
        }
        let saving = std::time::Instant::now();
        let states: Vec<(DocId, Vec<u8>)> = std::mem::take(&mut self.unsaved)
            .into_iter()
            .filter_map(|doc| {
                let state = self.docs.get(&doc)?.state.encode();
                Some((doc, state))
            })
            .collect();
        self.engine
            .store
            .save_sync_states(self.peer.unit.as_str(), &states)
            .await?;
        stages::since(Stage::SyncState, saving);
        Ok(())
    }

    /// Counts a frame received; a peer over its bytes per minute is refused.
    pub(super) async fn count_in(&self, frame: &SyncFrame) -> Result<(), SessionEnd> {
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

    pub(super) async fn stream_error(&self, status: Status) -> SessionEnd {
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
    pub(super) async fn push(&mut self, doc: &DocId) -> Result<(), SessionEnd> {
        let pushing = std::time::Instant::now();
        let pushed = self.push_now(doc).await;
        stages::since(Stage::Push, pushing);
        pushed
    }

    /// Whether `doc` is a generation of a rollup older than the newest held here (given up).
    async fn given_up(&self, doc: &DocId) -> Result<bool, StoreError> {
        Ok(doc.kind == DocKind::Rollup
            && self
                .engine
                .store
                .rollup_doc_known(&doc.unit)
                .await?
                .generation
                > doc.generation)
    }

    async fn push_now(&mut self, doc: &DocId) -> Result<(), SessionEnd> {
        if self.docs.contains_key(doc) && self.given_up(doc).await? {
            // Given up for a newer generation: nothing more to say of it.
            self.docs.remove(doc);
            return Ok(());
        }
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
                        // The next time in sync clears it at once.
                        *self.stats.recorded.lock().expect("peer recorded") = None;
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

    /// This session fell behind the store's change stream by more than the stream holds: the
    /// `missed` changes it was not told of are found from the documents written since it last
    /// looked (its hello, or its last catch-up), read once. An open document is pushed only if
    /// its heads moved since this session last spoke of it; a document not open is looked at as
    /// its change would have been. (Pushing every open document, as before, generated a message
    /// for each and read back those the cache had let go: at a city of 8,000 institutions a busy
    /// session fell behind again doing so, 800,000 pushes in a cold start.)
    async fn caught_up_after(&mut self, missed: u64) -> Result<(), SessionEnd> {
        self.engine
            .store
            .live()
            .sessions_lagged
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(peer = %self.who, missed, "fell behind the change stream");
        let rows = self.engine.store.documents_since(self.seen).await?;
        self.seen = rows.iter().map(|r| r.version).fold(self.seen, i64::max);
        let (moved, not_open) = after_lag(
            |d: &DocId| self.docs.get(d).map(|s| &s.state),
            &self.refused,
            &rows,
        );
        drop(rows);
        for doc in moved {
            self.push(&doc).await?;
        }
        for doc in not_open {
            self.changed(&doc).await?;
        }
        Ok(())
    }

    /// Forgets the generations of `doc`'s rollup older than it (given up on either side).
    fn forget_older(&mut self, doc: &DocId) {
        if doc.kind == DocKind::Rollup {
            self.docs.retain(|d, _| {
                !(d.kind == DocKind::Rollup && d.unit == doc.unit && d.generation < doc.generation)
            });
        }
    }

    pub(super) async fn changed(&mut self, doc: &DocId) -> Result<(), SessionEnd> {
        if self.refused.contains(doc) {
            return Ok(());
        }
        self.forget_older(doc);
        if !self.docs.contains_key(doc) {
            let number = self.engine.number(doc);
            if self.unsent.contains(&number) {
                return Ok(());
            }
            let access = self.engine.access(&self.peer, doc).await?;
            if !access.send {
                // A changed document is held here; what this peer may be sent of a held
                // document changes only with an enrollment, which the next session sees. A busy
                // hub is not asked again for every change of every peer's session.
                self.unsent.insert(number);
                return Ok(());
            }
            let state = self.engine.load_state(&self.peer.unit, doc).await?;
            self.docs.insert(doc.clone(), DocState { state, access });
        }
        self.push(doc).await
    }

    pub(super) async fn handle(&mut self, frame: SyncFrame) -> Result<(), SessionEnd> {
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
                // A generation of a rollup older than the one held here was given up (perhaps
                // while this session still spoke of it): what is still said about it is late,
                // and changes nothing.
                if self.given_up(&doc).await? {
                    self.docs.remove(&doc);
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
                let peer_unit = self.peer.unit.clone();
                let result = if message.changes.is_empty() {
                    // Heads and acknowledgements only: nothing to authorize, nothing written.
                    self.engine
                        .store
                        .receive_heads(&doc, &mut entry.state, message)
                        .await
                        .map(|()| (false, false))
                } else {
                    self.engine
                        .store
                        .receive_sync(
                            &doc,
                            &self.who,
                            self.peer.unit.as_str(),
                            &mut entry.state,
                            message,
                            |am, before| {
                                authz::check_effect(am, before, write, &doc, &peer_unit, own_past)
                                    .map_err(|r| StoreError::Refused(r.0))
                            },
                        )
                        .await
                        .map(|(written, state_saved)| (written.changed, state_saved))
                };
                match result {
                    // A change's sync state (and the replica's origin) was written with the
                    // change, in its transaction.
                    Ok((changed, state_saved)) => {
                        if changed
                            && doc.kind == DocKind::Profile
                            && doc.unit == self.peer.unit
                            && self.peer.relation == crate::federation::authz::Relation::Parent
                            && self.engine.store.identity().is_hub()
                        {
                            // The parent's catalogue grants changed: this hub relays them to
                            // its hub children, which check a delegate's reads against them.
                            // Not published now, they are at the admission gate's next refresh.
                            if let Err(e) =
                                crate::federation::membership::publish_grants(&self.engine.store)
                                    .await
                            {
                                warn!(error = %e, "could not relay the catalogue grants; to be tried again");
                            }
                        }
                        if changed && doc.kind == DocKind::Rollup && doc.generation > 0 {
                            // A child hub's rollup began its next generation: the ones before
                            // are given up here too, their figures kept per day.
                            crate::app::rollup::retire_older(&self.engine.store, &doc).await?;
                        }
                        if entry.state.shared_heads != before_shared && !state_saved {
                            // Only the acknowledgement moved: saved lazily (once a second and at
                            // the session's end). Lost, it only makes the next session resend.
                            self.unsaved.insert(doc.clone());
                            self.flush_at.get_or_insert_with(|| {
                                tokio::time::Instant::now() + STATES_SAVED_EVERY
                            });
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
                self.forget_older(&doc);
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

/// What a session that missed changes looks at again (see `Session::caught_up_after`), of
/// `rows`, the documents written since it last looked: those open (`open` gives their sync
/// state) whose heads moved since the session last generated a message for them (or that it
/// has not spoken of yet), and those neither open nor refused.
fn after_lag<'a>(
    open: impl Fn(&DocId) -> Option<&'a automerge::sync::State>,
    refused: &std::collections::BTreeSet<DocId>,
    rows: &[crate::store::DocumentRow],
) -> (Vec<DocId>, Vec<DocId>) {
    let mut moved = Vec::new();
    let mut not_open = Vec::new();
    for r in rows.iter().filter(|r| !refused.contains(&r.doc_id)) {
        match open(&r.doc_id) {
            Some(state) => {
                if !state.have_responded
                    || r.heads != crate::docs::document::heads_hex(&state.last_sent_heads)
                {
                    moved.push(r.doc_id.clone());
                }
            }
            None => not_open.push(r.doc_id.clone()),
        }
    }
    (moved, not_open)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use automerge::sync::{State, SyncDoc};
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    use super::after_lag;
    use crate::docs::document::{DocId, heads_hex};
    use crate::store::DocumentRow;

    fn row(doc: &DocId, heads: Vec<String>) -> DocumentRow {
        DocumentRow {
            doc_id: doc.clone(),
            heads,
            origin: None,
            version: 1,
            bytes: 1,
        }
    }

    /// A session that missed changes pushes the documents that moved, not every one it has open.
    #[test]
    fn after_a_lag_only_what_moved_is_pushed_and_what_is_new_is_looked_at() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "a", 1).unwrap();
        let spoken = heads_hex(&doc.get_heads());
        // A state that has generated a message at the document's heads.
        let mut state = State::new();
        assert!(doc.sync().generate_sync_message(&mut state).is_some());
        let never = State::new();
        let id = |s: &str| s.parse::<DocId>().unwrap();
        let (still, moved, silent, new, refused) = (
            id("profile/500103"),
            id("profile/500104"),
            id("profile/500105"),
            id("profile/500106"),
            id("profile/500107"),
        );
        doc.put(ROOT, "a", 2).unwrap();
        let now = heads_hex(&doc.get_heads());
        let rows = vec![
            row(&still, spoken.clone()),
            row(&moved, now),
            row(&silent, spoken.clone()),
            row(&new, spoken.clone()),
            row(&refused, spoken),
        ];
        let open: HashMap<DocId, State> = [
            (still.clone(), state.clone()),
            (moved.clone(), state.clone()),
            (silent.clone(), never),
            (refused.clone(), state.clone()),
            // Open, and not written since the session last looked.
            (id("profile/500108"), state),
        ]
        .into_iter()
        .collect();
        let (push, look) = after_lag(
            |d: &DocId| open.get(d),
            &BTreeSet::from([refused.clone()]),
            &rows,
        );
        assert_eq!(
            push,
            vec![moved, silent],
            "neither an unmoved document nor one not written since is pushed again, nor a refused one"
        );
        assert_eq!(look, vec![new], "a document not open is looked at");
    }
}
