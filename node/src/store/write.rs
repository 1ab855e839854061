//! The write path: a document change, its saved chunk and its projections in one `BEGIN
//! IMMEDIATE` transaction (compacting the chunks into a snapshot when they grow many), and the
//! in-memory copies of the documents, caught up with what other processes saved.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use automerge::{AutoCommit, ChangeHash};
use sqlx::{Row, SqliteConnection};

use crate::docs::document::{DocId, DocKind, commit_now, forget_last_change, heads_hex};
use crate::store::stages::{self, Stage};
use crate::store::{Store, StoreError, now};

/// After this many incremental chunks a document is rewritten as one compact snapshot.
const COMPACT_AFTER_CHUNKS: i64 = 32;

/// The statements that save a change (bound: ?1 document, ?2 seq, ?3 chunk, ?4 heads, ?5 chunks,
/// ?6 bytes, ?7 now, ?8 origin, ?9 peer, ?10 sync state), run as one batch.
const SAVE_CHUNK: &str =
    "INSERT INTO doc_chunks (doc_id, seq, kind, data) VALUES (?1, ?2, 'incremental', ?3);\n";
const SAVE_SNAPSHOT: &str =
    "INSERT INTO doc_chunks (doc_id, seq, kind, data) VALUES (?1, ?2, 'snapshot', ?3);\n";
const SAVE_DOCUMENT: &str =
    "INSERT INTO documents (doc_id, heads, chunks, bytes, updated_at, origin, version)
     VALUES (?1, ?4, ?5, ?6, ?7, ?8, (SELECT COALESCE(MAX(version), 0) + 1 FROM documents))
     ON CONFLICT (doc_id) DO UPDATE SET heads = excluded.heads, chunks = excluded.chunks,
     bytes = excluded.bytes, updated_at = excluded.updated_at, version = excluded.version,
     origin = COALESCE(documents.origin, excluded.origin)
     RETURNING version, origin;\n";
const SAVE_STATE: &str = "INSERT INTO sync_states (peer, doc_id, state, updated_at) VALUES (?9, ?1, ?10, ?7)
     ON CONFLICT (peer, doc_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at;\n";

/// What a write did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Written {
    /// False when the change turned out to be no change at all.
    pub changed: bool,
    pub heads: Vec<String>,
    /// Records whose projection was rewritten.
    pub records: usize,
}

pub(super) struct Cached {
    doc: AutoCommit,
    seq: i64,
    /// The chunks saved of the document and their bytes (kept here, not counted at each write).
    chunks: i64,
    bytes: i64,
}

impl Cached {
    fn fresh(actor: &automerge::ActorId) -> Cached {
        Cached {
            doc: AutoCommit::new().with_actor(actor.clone()),
            seq: -1,
            chunks: 0,
            bytes: 0,
        }
    }
}

/// One document's place in the cache, locked on its own: a write holds its document through the
/// commit while the readers of every other document go on.
pub(super) struct Slot {
    /// A document this process seldom reads again once written (another unit's profile, a
    /// child's keyed codes, which the data-quality task keeps read as long as their heads stay):
    /// the first to go when the cache is full.
    seldom: bool,
    /// When it was last used (a counter): the least recently used copy goes first.
    used: AtomicU64,
    /// Whether the copy holds everything saved of the document: set when it was caught up or
    /// written here, cleared when another process is seen to have written the document
    /// ([`Store::changed_elsewhere`]). Trusted only while that watch runs
    /// ([`Store::watching_other_writers`]); a reader of a current copy asks the database nothing.
    current: AtomicBool,
    /// Set while a write or a catch-up changes the copy, cleared when it ends: still set, the
    /// future doing it was dropped half-way (a peer's session ended mid-write, say), and the copy
    /// may hold what was never saved, or be marked current without being so. Whoever locks the
    /// copy next starts it afresh ([`Store::mend`]).
    torn: AtomicBool,
    /// The document's version (`documents.version`) this process last wrote.
    version: AtomicI64,
    cached: tokio::sync::Mutex<Cached>,
}

/// Documents kept in memory at most; beyond, the least recently used copy not in use is dropped
/// (it is read back from the database when next needed). A city holds some 2,500 at 41 × 50
/// institutions, most of them profiles written once: kept all, they took 50 of its 200 MiB; the
/// ones a hub reads again and again (its children's rollups and codes, its own documents, the
/// ledgers syncing now) are a few hundred (BENCHMARKS.md, "The sync path from memory").
const MAX_CACHED: usize = 256;

impl Store {
    /// The cache's place of `doc_id` (made when missing, the least recently used one dropped
    /// when the cache is full).
    fn slot(&self, doc_id: &DocId) -> Arc<Slot> {
        let key = doc_id.to_string();
        let mut cache = self.cache.lock().expect("document cache");
        if !cache.contains_key(&key) && cache.len() >= MAX_CACHED {
            // Other units' profiles and keyed codes first: written as they arrive (a city
            // receives every unit's profile), read again seldom; kept in the order of use, they
            // pushed out the children's rollups its tasks read at every recompute, and the codes
            // are the largest documents a city holds.
            let oldest = cache
                .iter()
                .filter(|(_, s)| Arc::strong_count(s) == 1)
                .min_by_key(|(_, s)| (!s.seldom, s.used.load(Ordering::Relaxed)))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                cache.remove(&k);
            }
        }
        let slot = cache
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Slot {
                    seldom: matches!(doc_id.kind, DocKind::Profile | DocKind::Codes)
                        && doc_id.unit != self.identity.unit,
                    used: AtomicU64::new(0),
                    torn: AtomicBool::new(false),
                    current: AtomicBool::new(false),
                    version: AtomicI64::new(0),
                    cached: tokio::sync::Mutex::new(Cached::fresh(&self.actor)),
                })
            })
            .clone();
        slot.used.store(
            self.cache_clock.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        slot
    }

    /// Brings the cached copy `entry` of `doc_id` up to date with what is saved (inside the
    /// caller's transaction). A document with nothing saved starts from its genesis.
    async fn catch_up(
        &self,
        conn: &mut SqliteConnection,
        entry: &mut Cached,
        doc_id: &DocId,
    ) -> Result<(), StoreError> {
        let key = doc_id.to_string();
        let rows = sqlx::query(
            "SELECT seq, kind = 'snapshot', data FROM doc_chunks WHERE doc_id = ? AND seq > ? ORDER BY seq",
        )
        .bind(&key)
        .bind(entry.seq)
        .fetch_all(&mut *conn)
        .await?;
        let loaded = !rows.is_empty();
        for r in rows {
            let seq: i64 = r.get(0);
            let snapshot: bool = r.get(1);
            let data: Vec<u8> = r.get(2);
            // A snapshot replaced every chunk before it.
            if snapshot {
                entry.chunks = 0;
                entry.bytes = 0;
            }
            entry.chunks += 1;
            entry.bytes += data.len() as i64;
            if let Err(e) = entry.doc.load_incremental(&data) {
                *entry = Cached::fresh(&self.actor);
                return Err(StoreError::Damaged(key, Box::new(e)));
            }
            entry.seq = seq;
        }
        if loaded {
            // Automerge records the patch events of changes loaded into a document even with its
            // index off, and keeps them in it: a copy read often and written seldom here (another
            // process writes it) would hold them for as long as it stays cached.
            entry.doc.reset_diff_cursor();
        }
        Ok(())
    }

    /// Applies `f` to the document as one change by this replica, saves it and rewrites its
    /// projections, all in one transaction. An error from `f` changes nothing.
    pub async fn edit<T>(
        &self,
        doc_id: &DocId,
        who: &str,
        message: &str,
        f: impl FnOnce(&mut AutoCommit) -> Result<T, StoreError>,
    ) -> Result<(T, Written), StoreError> {
        self.write_hinted(
            doc_id,
            who,
            None,
            None,
            None,
            one_change(doc_id, message, f),
        )
        .await
    }

    /// Merges changes made elsewhere (a saved document, a sync message's changes) into the local
    /// replica of `doc_id`, and projects what they changed.
    pub async fn merge_bytes(
        &self,
        doc_id: &DocId,
        who: &str,
        bytes: &[u8],
    ) -> Result<Written, StoreError> {
        let (_, w) = self
            .write(doc_id, who, None, |doc| {
                doc.load_incremental(bytes)
                    .map_err(|e| StoreError::Damaged(doc_id.to_string(), Box::new(e)))?;
                Ok(())
            })
            .await?;
        Ok(w)
    }

    /// `edit` of a ledger whose touched cameras the caller knows (an import): their records are
    /// projected without indexing every operation of the change, which for a large import would
    /// hold millions of patches in memory.
    /// `f` may commit intermediate changes with [`Saved::commit`]: each is encoded as it is
    /// made, so that a large import is never encoded at once (all are still saved in the one
    /// transaction).
    pub async fn edit_cameras<T>(
        &self,
        doc_id: &DocId,
        who: &str,
        message: &str,
        codes: &[String],
        f: impl FnOnce(&mut AutoCommit, &mut Saved) -> Result<T, StoreError>,
    ) -> Result<(T, Written), StoreError> {
        let saved = std::sync::Mutex::new(Saved::default());
        let run = |doc: &mut AutoCommit| {
            saved.lock().expect("saved changes").heads = doc.get_heads();
            one_change(doc_id, message, |d| {
                f(d, &mut saved.lock().expect("saved changes"))
            })(doc)
        };
        self.write_hinted(doc_id, who, None, Some(codes), Some(&saved), run)
            .await
    }

    async fn write<T>(
        &self,
        doc_id: &DocId,
        who: &str,
        origin: Option<&str>,
        f: impl FnOnce(&mut AutoCommit) -> Result<T, StoreError>,
    ) -> Result<(T, Written), StoreError> {
        self.write_hinted(doc_id, who, origin, None, None, f).await
    }

    async fn write_hinted<T>(
        &self,
        doc_id: &DocId,
        who: &str,
        origin: Option<&str>,
        touched: Option<&[String]>,
        saved: Option<&std::sync::Mutex<Saved>>,
        f: impl FnOnce(&mut AutoCommit) -> Result<T, StoreError>,
    ) -> Result<(T, Written), StoreError> {
        let key = doc_id.to_string();
        let started = std::time::Instant::now();
        let mut writer = self.writer.lock().await;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, "BEGIN IMMEDIATE").await?;
        let slot = self.slot(doc_id);
        let mut cached = slot.cached.lock().await;
        let entry = &mut *cached;
        self.mend(&slot, entry);
        slot.torn.store(true, Ordering::Release);
        if let Err(e) = self.catch_up(&mut tx, entry, doc_id).await {
            // A chunk that does not load left the copy empty: to be read again, not trusted.
            slot.current.store(false, Ordering::Release);
            slot.torn.store(false, Ordering::Release);
            return Err(e);
        }
        // Index what `f` changes, so that projecting and authorizing it costs the size of the
        // change rather than a scan of the whole document.
        match touched {
            None => entry.doc.update_diff_cursor(),
            Some(_) => entry.doc.reset_diff_cursor(),
        }
        let before = entry.doc.get_heads();
        let value = match f(&mut entry.doc) {
            Ok(v) => v,
            Err(e) => {
                // Whatever `f` did to the cached copy is not saved: drop the copy, to be read
                // again.
                *entry = Cached::fresh(&self.actor);
                slot.current.store(false, Ordering::Release);
                slot.torn.store(false, Ordering::Release);
                return Err(e);
            }
        };
        let after = entry.doc.get_heads();
        if before == after {
            // Nothing changed in the copy: it is whole whatever the rollback does.
            forget_last_change(&mut entry.doc);
            slot.torn.store(false, Ordering::Release);
            tx.rollback().await?;
            return Ok((
                value,
                Written {
                    changed: false,
                    heads: heads_hex(&after),
                    records: 0,
                },
            ));
        }
        // From here on the cached document is ahead of the database until the commit succeeds.
        let result = async {
            let data = match saved {
                // What `f` saved (or received) as it went, and the rest.
                Some(saved) => {
                    let mut saved = saved.lock().expect("saved changes");
                    let mut data = std::mem::take(&mut saved.bytes);
                    data.extend(entry.doc.save_after(&saved.heads));
                    data
                }
                None => entry.doc.save_after(&before),
            };
            let state = saved.and_then(|s| s.lock().expect("saved changes").state.take());
            let projecting = std::time::Instant::now();
            let records = self
                .project(&mut tx, doc_id, &mut entry.doc, &before, who, touched)
                .await?;
            stages::since(Stage::Project, projecting);
            // The chunk, the document's row and the peer's sync state: one statement batch, one
            // round trip to the connection's thread.
            let seq = entry.seq + 1;
            let compact = entry.chunks + 1 > COMPACT_AFTER_CHUNKS;
            let (chunks, bytes, chunk) = if compact {
                // The snapshot replaces every chunk, this change's included.
                let snapshot = entry.doc.save();
                (1, snapshot.len() as i64, snapshot)
            } else {
                (entry.chunks + 1, entry.bytes + data.len() as i64, data)
            };
            let heads = heads_hex(&after);
            let mut sql = String::new();
            if compact {
                sql.push_str("DELETE FROM doc_chunks WHERE doc_id = ?1;\n");
            }
            sql.push_str(if compact { SAVE_SNAPSHOT } else { SAVE_CHUNK });
            sql.push_str(SAVE_DOCUMENT);
            if state.is_some() {
                sql.push_str(SAVE_STATE);
            }
            let (peer, state) = state.unzip();
            let state_saved = peer.is_some();
            let (version, kept_origin): (i64, Option<String>) =
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(&key)
                    .bind(seq)
                    .bind(&chunk)
                    .bind(serde_json::to_string(&heads).unwrap_or_default())
                    .bind(chunks)
                    .bind(bytes)
                    .bind(now())
                    .bind(origin.filter(|_| doc_id.unit != self.identity.unit))
                    .bind(peer)
                    .bind(state)
                    .fetch_one(&mut *tx)
                    .await?;
            Ok::<_, StoreError>((
                seq,
                chunks,
                bytes,
                heads,
                records,
                state_saved,
                (version, kept_origin),
            ))
        }
        .await;
        let outcome = match result {
            Ok(ok) => {
                let committing = std::time::Instant::now();
                let done = tx.commit().await.map(|_| ok).map_err(StoreError::from);
                stages::since(Stage::Commit, committing);
                done
            }
            Err(e) => Err(e),
        };
        // From here on the copy is made whole on either arm, with no await before.
        slot.torn.store(false, Ordering::Release);
        match outcome {
            Ok((seq, chunks, bytes, heads, records, state_saved, (version, kept_origin))) => {
                // Projected and authorized: the change's index is not needed any more, and the
                // copy may stay cached long.
                forget_last_change(&mut entry.doc);
                entry.seq = seq;
                entry.chunks = chunks;
                entry.bytes = bytes;
                slot.version.store(version, Ordering::Relaxed);
                slot.current.store(true, Ordering::Release);
                self.note_generation(doc_id);
                if let Some(origin) = kept_origin {
                    // Known before the sessions hear of the change (all at once).
                    self.note_origin(doc_id, origin);
                }
                if let Some(saved) = saved {
                    saved.lock().expect("saved changes").state_saved = state_saved;
                }
                stages::since(Stage::Write, started);
                // Nobody listening is fine: the sync loop subscribes only while it runs.
                let _ = self.changes.send(doc_id.clone());
                Ok((
                    value,
                    Written {
                        changed: true,
                        heads,
                        records,
                    },
                ))
            }
            Err(e) => {
                *entry = Cached::fresh(&self.actor);
                slot.current.store(false, Ordering::Release);
                Err(e)
            }
        }
    }

    /// Receives one Automerge sync message from a peer into the local replica of `doc_id`. The
    /// change is applied to the cached copy, `authorize` judges its effect (the document before,
    /// as heads, and after), and only then is it saved and projected; a refusal keeps nothing.
    /// When the message changed the document, the sync state with the peer (whose shared heads
    /// moved) is saved in the same transaction; the second value says whether it was.
    pub async fn receive_sync(
        &self,
        doc_id: &DocId,
        who: &str,
        peer: &str,
        state: &mut automerge::sync::State,
        message: automerge::sync::Message,
        authorize: impl FnOnce(&mut AutoCommit, &[ChangeHash]) -> Result<(), StoreError>,
    ) -> Result<(Written, bool), StoreError> {
        use automerge::sync::SyncDoc;
        let saved = std::sync::Mutex::new(Saved::default());
        let receive = |doc: &mut AutoCommit| {
            let applying = std::time::Instant::now();
            let before = doc.get_heads();
            let shared_before = state.shared_heads.clone();
            // A replica arriving whole keeps the bytes it came in (a compressed document, most
            // often) as its first chunk, instead of encoding them again.
            let whole: Option<Vec<u8>> = before
                .is_empty()
                .then(|| message.changes.iter().flatten().copied().collect());
            doc.sync()
                .receive_sync_message(state, message)
                .map_err(|e| StoreError::Damaged(doc_id.to_string(), Box::new(e)))?;
            let after = doc.get_heads();
            if after != before {
                authorize(doc, &before)?;
            }
            let mut s = saved.lock().expect("saved changes");
            if state.shared_heads != shared_before {
                s.state = Some((peer.to_string(), state.encode()));
            }
            match whole {
                Some(bytes) if !bytes.is_empty() => {
                    s.bytes = bytes;
                    s.heads = after;
                }
                _ => s.heads = before,
            }
            stages::since(Stage::SyncApply, applying);
            Ok(())
        };
        let (_, w) = self
            .write_hinted(doc_id, who, Some(peer), None, Some(&saved), receive)
            .await?;
        let state_saved = w.changed && saved.lock().expect("saved changes").state_saved;
        Ok((w, state_saved))
    }

    /// Receives a sync message that carries no changes (an acknowledgement, or the peer's heads
    /// and needs): it moves only the sync state with the peer, so it is no write and takes no
    /// write lock.
    pub async fn receive_heads(
        &self,
        doc_id: &DocId,
        state: &mut automerge::sync::State,
        message: automerge::sync::Message,
    ) -> Result<(), StoreError> {
        use automerge::sync::SyncDoc;
        debug_assert!(message.changes.is_empty());
        self.read_document(doc_id, |doc| {
            doc.sync().receive_sync_message(state, message)
        })
        .await?
        .map_err(|e| StoreError::Damaged(doc_id.to_string(), Box::new(e)))
    }

    /// The next sync message for a peer whose state is `state`, if there is anything to say.
    pub async fn generate_sync(
        &self,
        doc_id: &DocId,
        state: &mut automerge::sync::State,
    ) -> Result<Option<automerge::sync::Message>, StoreError> {
        use automerge::sync::SyncDoc;
        self.read_document(doc_id, |doc| doc.sync().generate_sync_message(state))
            .await
    }

    /// The document as saved here, whole (for a copy on a USB stick, or a replica's first sync).
    pub async fn save_document(&self, doc_id: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        let slot = self.slot(doc_id);
        let mut entry = slot.cached.lock().await;
        self.catch_up_unless_current(&slot, &mut entry, doc_id)
            .await?;
        if entry.doc.get_heads().is_empty() {
            return Ok(None);
        }
        Ok(Some(entry.doc.save()))
    }

    /// Runs `f` on an up-to-date copy of the document, read-only.
    pub async fn read_document<T>(
        &self,
        doc_id: &DocId,
        f: impl FnOnce(&mut AutoCommit) -> T,
    ) -> Result<T, StoreError> {
        let slot = self.slot(doc_id);
        let mut entry = slot.cached.lock().await;
        self.catch_up_unless_current(&slot, &mut entry, doc_id)
            .await?;
        Ok(f(&mut entry.doc))
    }

    /// Brings `entry` (the copy in `slot`, locked by the caller) up to date, unless it is known
    /// to hold everything saved: then the database is not asked (a hub pushes a document to
    /// every peer after each change, and each push reads it).
    async fn catch_up_unless_current(
        &self,
        slot: &Slot,
        entry: &mut Cached,
        doc_id: &DocId,
    ) -> Result<(), StoreError> {
        self.mend(slot, entry);
        // A document not held here is current too once asked (`seq` is then -1): the watch of
        // other writers reports it when another process saves it, and this process's writes
        // catch up in their transaction. Tasks ask after documents of every unit (a child's
        // submissions, the notices to it) long before any exists.
        if slot.current.load(Ordering::Acquire) && self.others_watched.load(Ordering::Acquire) {
            return Ok(());
        }
        // Marked before reading: another writer seen meanwhile clears it again. Torn until the
        // read ends: dropped half-way, the mark would claim what was not read.
        slot.current.store(true, Ordering::Release);
        slot.torn.store(true, Ordering::Release);
        let caught = async {
            let mut conn = self.pool.acquire().await?;
            self.catch_up(&mut conn, entry, doc_id).await
        }
        .await;
        if caught.is_err() {
            slot.current.store(false, Ordering::Release);
        }
        slot.torn.store(false, Ordering::Release);
        caught
    }

    /// The heads of `doc_id`'s cached copy when it is known to hold everything saved (as
    /// [`Store::read_document`] would trust it) and no write or read holds it now; `None`
    /// otherwise (then the database says). The tasks ask a document's heads before reading it,
    /// for each child at each recompute.
    pub(super) fn heads_cached(&self, doc_id: &DocId) -> Option<Vec<String>> {
        if !self.others_watched.load(Ordering::Acquire) {
            return None;
        }
        let slot = self
            .cache
            .lock()
            .expect("document cache")
            .get(&doc_id.to_string())?
            .clone();
        let mut entry = slot.cached.try_lock().ok()?;
        (slot.current.load(Ordering::Acquire) && !slot.torn.load(Ordering::Acquire))
            .then(|| heads_hex(&entry.doc.get_heads()))
    }

    /// Starts the copy in `slot` (locked by the caller) afresh if a write or a catch-up of it
    /// was dropped half-way.
    fn mend(&self, slot: &Slot, entry: &mut Cached) {
        if slot.torn.swap(false, Ordering::AcqRel) {
            *entry = Cached::fresh(&self.actor);
            slot.current.store(false, Ordering::Release);
        }
    }

    /// `doc_id` is saved at `version`, as the watch of other writers saw it: unless this process
    /// wrote that version itself, the cached copy is read again when next used, and the answer
    /// is true (another process wrote it; this one's sessions have not heard of it).
    pub fn changed_elsewhere(&self, doc_id: &DocId, version: i64) -> bool {
        self.note_generation(doc_id);
        let cache = self.cache.lock().expect("document cache");
        match cache.get(&doc_id.to_string()) {
            Some(slot) if slot.version.load(Ordering::Relaxed) >= version => false,
            Some(slot) => {
                slot.current.store(false, Ordering::Release);
                true
            }
            None => true,
        }
    }

    /// From now on a cached copy marked current is read without asking the database: the
    /// caller watches the other writers and reports them ([`Store::changed_elsewhere`]).
    /// Copies read before the watch began (its starting point read just before this call) may
    /// miss what another process saved before it: each is read again when next used.
    pub fn watching_other_writers(&self) {
        for slot in self.cache.lock().expect("document cache").values() {
            slot.current.store(false, Ordering::Release);
        }
        self.others_watched.store(true, Ordering::Release);
    }

    /// The watch of other writers has ended: every read asks the database again.
    pub fn not_watching_other_writers(&self) {
        self.others_watched.store(false, Ordering::Release);
    }
}

/// Changes committed and encoded while an edit runs ([`Store::edit_cameras`]).
#[derive(Default)]
pub struct Saved {
    bytes: Vec<u8>,
    heads: Vec<ChangeHash>,
    /// A peer's sync state to save in the same transaction (a received sync message).
    state: Option<(String, Vec<u8>)>,
    /// Whether `state` was saved.
    state_saved: bool,
}

impl Saved {
    /// Commits what was done so far as one change and encodes it now.
    pub fn commit(&mut self, doc: &mut AutoCommit, message: &str) {
        doc.commit_with(commit_now(message));
        self.bytes.extend(doc.save_after(&self.heads));
        self.heads = doc.get_heads();
    }
}

/// `f` as one change of this replica (from the document's genesis if it is new); an error from
/// `f` rolls it back.
fn one_change<'a, T>(
    doc_id: &'a DocId,
    message: &'a str,
    f: impl FnOnce(&mut AutoCommit) -> Result<T, StoreError> + 'a,
) -> impl FnOnce(&mut AutoCommit) -> Result<T, StoreError> + 'a {
    move |doc| {
        if doc.get_heads().is_empty() {
            doc.merge(&mut doc_id.genesis())
                .map_err(|e| StoreError::Damaged(doc_id.to_string(), Box::new(e)))?;
        }
        match f(doc) {
            Ok(v) => {
                doc.commit_with(commit_now(message));
                Ok(v)
            }
            Err(e) => {
                doc.rollback();
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs::ledger;
    use crate::domain::camera::{Camera, Field, Value};
    use crate::domain::device_code::DeviceCode;
    use crate::domain::unit::Role;
    use crate::domain::unit::{UnitCode, UnitKind};

    /// A write whose future is dropped after it changed the copy and before it ended (a peer's
    /// session ending mid-write) leaves the copy as saved: its reads and heads show what the
    /// database holds (the dropped change, if its commit had already been sent to the
    /// connection, or not), and the next write goes through and is saved whole.
    #[tokio::test]
    async fn a_write_dropped_half_way_leaves_the_copy_as_saved() {
        use std::sync::atomic::AtomicBool;
        use std::task::{Context, Waker};
        let (dir, store) = crate::store::testing::hospital().await;
        store.watching_other_writers();
        let doc = DocId::ledger(store.unit());
        async fn cameras(s: &Store) -> Vec<String> {
            s.read_document(&DocId::ledger(s.unit()), |d| {
                ledger::camera_codes(d).unwrap()
            })
            .await
            .unwrap()
        }
        assert!(cameras(&store).await.is_empty());
        let cam =
            |n: u32| Camera::new(DeviceCode::parse(&format!("500103120913200{n:05}")).unwrap());
        let (first, second) = (cam(1), cam(2));
        let ran = AtomicBool::new(false);
        {
            // Many records: their projection takes many round trips to the connection, so the
            // future is dropped before its commit is sent (nearly always; either way is checked).
            let mut write = std::pin::pin!(store.edit(&doc, "t", "add", |d| {
                ran.store(true, Ordering::SeqCst);
                ledger::add_camera(d, &first)?;
                for n in 3..300 {
                    ledger::add_camera(d, &cam(n))?;
                }
                Ok(())
            }));
            let mut cx = Context::from_waker(Waker::noop());
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !ran.load(Ordering::SeqCst) {
                assert!(std::time::Instant::now() < deadline, "the write never ran");
                assert!(
                    write.as_mut().poll(&mut cx).is_pending(),
                    "finished before it could be dropped"
                );
                tokio::task::yield_now().await;
            }
            // Dropped here: changed in memory, its end not reached.
        }
        // The next write waits for the connection, so the dropped one is rolled back or
        // committed by then.
        store
            .edit(&doc, "t", "add", |d| Ok(ledger::add_camera(d, &second)?))
            .await
            .unwrap();
        let mine = cameras(&store).await;
        assert!(mine.contains(&second.device_code.to_string()));
        // What another process reads from the database is what this one holds.
        let other = Store::open(dir.path()).await.unwrap();
        assert_eq!(cameras(&other).await, mine, "nothing unsaved is read");
        assert_eq!(
            store.heads(&doc).await.unwrap(),
            other.heads(&doc).await.unwrap()
        );
    }

    /// A full cache gives up other units' profiles (written once, read seldom) before the
    /// documents read again and again, however long ago those were last used.
    #[tokio::test]
    async fn a_full_cache_gives_up_other_units_profiles_and_codes_first() {
        let (_dir, store) = crate::store::testing::hospital().await;
        let rollup = DocId::rollup(&UnitCode::parse("500103").unwrap(), 0);
        let own = DocId::profile(store.unit());
        let codes = DocId::codes(&UnitCode::parse("500103-0002").unwrap());
        drop(store.slot(&codes));
        drop(store.slot(&rollup));
        drop(store.slot(&own));
        for i in 0..MAX_CACHED + 50 {
            let unit = UnitCode::parse(&format!("500104-{:04}", i + 1)).unwrap();
            drop(store.slot(&DocId::profile(&unit)));
        }
        let cache = store.cache.lock().unwrap();
        assert_eq!(cache.len(), MAX_CACHED);
        assert!(cache.contains_key(&rollup.to_string()));
        assert!(cache.contains_key(&own.to_string()));
        assert!(
            !cache.contains_key(&codes.to_string()),
            "a child's codes go first"
        );
        // The most recent profiles are kept, the oldest gone.
        assert!(cache.contains_key("profile/500104-0306"));
        assert!(!cache.contains_key("profile/500104-0001"));
    }

    /// A copy kept current is read without a query only while another writer's changes are
    /// reported: once told, the next read has them; this process's own writes are not news.
    #[tokio::test]
    async fn a_current_copy_is_read_again_once_another_writer_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let unit = UnitCode::parse("500103-0001").unwrap();
        let store = Store::init(dir.path(), &unit, "医院", UnitKind::Institution, Role::Node)
            .await
            .unwrap();
        store.watching_other_writers();
        let doc = DocId::ledger(&unit);
        let add = |n: u32| {
            let mut cam =
                Camera::new(DeviceCode::parse(&format!("500103120913200{n:05}")).unwrap());
            cam.fields
                .insert(Field::Name, Value::Text(format!("门诊{n}")));
            cam
        };
        async fn cached_heads(s: &Store, doc: &DocId) -> Vec<String> {
            s.read_document(doc, |d| heads_hex(&d.get_heads()))
                .await
                .unwrap()
        }
        let a = add(1);
        store
            .edit(&doc, "t", "add", |d| Ok(ledger::add_camera(d, &a)?))
            .await
            .unwrap();
        let (seen, newest) = store.versions_since(0).await.unwrap();
        for (d, v) in &seen {
            assert!(
                !store.changed_elsewhere(d, *v),
                "{d}: this process's own write"
            );
        }
        let mine = store.heads(&doc).await.unwrap();
        assert_eq!(cached_heads(&store, &doc).await, mine);

        // Another writer of the same store (the command line beside the daemon).
        let other = Store::open(dir.path()).await.unwrap();
        let b = add(2);
        other
            .edit(&doc, "cli", "add", |d| Ok(ledger::add_camera(d, &b)?))
            .await
            .unwrap();
        let theirs = other.heads(&doc).await.unwrap();
        assert_ne!(theirs, mine);
        assert_eq!(
            cached_heads(&store, &doc).await,
            mine,
            "not asked again before it is told"
        );
        assert_eq!(
            store.heads(&doc).await.unwrap(),
            mine,
            "its heads are the current copy's, as a read of it would see"
        );
        let (seen, _) = store.versions_since(newest).await.unwrap();
        assert_eq!(seen.len(), 1);
        assert!(store.changed_elsewhere(&seen[0].0, seen[0].1));
        assert_eq!(
            store.heads(&doc).await.unwrap(),
            theirs,
            "asked again once told"
        );
        assert_eq!(
            cached_heads(&store, &doc).await,
            theirs,
            "read again once told"
        );
    }

    #[tokio::test]
    async fn edits_are_compacted_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let unit = UnitCode::parse("500103-0001").unwrap();
        let store = Store::init(dir.path(), &unit, "医院", UnitKind::Institution, Role::Node)
            .await
            .unwrap();
        let doc = DocId::ledger(&unit);
        let code = DeviceCode::parse("50010312091320000001").unwrap();
        let mut cam = Camera::new(code.clone());
        cam.fields.insert(Field::Name, Value::Text("门诊".into()));
        store
            .edit(&doc, "t", "add", |d| Ok(ledger::add_camera(d, &cam)?))
            .await
            .unwrap();
        for i in 0..40 {
            store
                .edit(&doc, "t", "edit", |d| {
                    Ok(ledger::set_fields(
                        d,
                        code.as_str(),
                        &[(Field::RecordDays, Some(Value::Int(i)))],
                    )?)
                })
                .await
                .unwrap();
        }
        let chunks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM doc_chunks WHERE doc_id = ?")
            .bind(doc.to_string())
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(chunks <= COMPACT_AFTER_CHUNKS, "compacted: {chunks} chunks");
        let heads = store.heads(&doc).await.unwrap();
        store.close().await;

        let store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.heads(&doc).await.unwrap(), heads);
        let from_doc = store
            .read_document(&doc, |d| {
                ledger::read_camera(d, code.as_str()).unwrap().unwrap()
            })
            .await
            .unwrap();
        assert_eq!(
            from_doc.camera.get(Field::RecordDays),
            Some(&Value::Int(39))
        );
        let row = store
            .camera(unit.as_str(), code.as_str())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.camera, from_doc.camera, "projection and document agree");
        let audit = store.audit(Some(code.as_str()), 100).await.unwrap();
        assert_eq!(audit.len(), 41);
    }

    /// A document not held is answered from memory once asked, until another writer saves it
    /// (the watch reports it) or this process writes it; a write refused half-way leaves the
    /// copy to be read again, not an empty document taken for the saved one.
    #[tokio::test]
    async fn a_document_not_held_is_asked_once_and_a_refused_write_is_read_again() {
        let (dir, store) = crate::store::testing::hospital().await;
        let unit = store.unit().clone();
        let other = Store::open(dir.path()).await.unwrap();
        async fn held(s: &Store, doc: &DocId) -> usize {
            s.read_document(doc, |d| d.get_heads().len()).await.unwrap()
        }
        let cam = Camera::new(DeviceCode::parse("50010312091320000001").unwrap());
        // Asked before the watch began, saved elsewhere before it began: read again once it has.
        let early = DocId::ledger(&UnitCode::parse("500103-0003").unwrap());
        assert_eq!(held(&store, &early).await, 0);
        other
            .edit(&early, "t", "add", |d| Ok(ledger::add_camera(d, &cam)?))
            .await
            .unwrap();
        store.watching_other_writers();
        assert!(held(&store, &early).await > 0, "saved before the watch");

        let doc = DocId::ledger(&UnitCode::parse("500103-0002").unwrap());
        assert_eq!(held(&store, &doc).await, 0, "not held");
        other
            .edit(&doc, "t", "add", |d| Ok(ledger::add_camera(d, &cam)?))
            .await
            .unwrap();
        assert_eq!(
            held(&store, &doc).await,
            0,
            "the watch has not reported it yet"
        );
        let (seen, _) = store.versions_since(0).await.unwrap();
        for (d, v) in &seen {
            store.changed_elsewhere(d, *v);
        }
        assert!(held(&store, &doc).await > 0, "read again once reported");

        let own = DocId::ledger(&unit);
        store
            .edit(&own, "t", "add", |d| Ok(ledger::add_camera(d, &cam)?))
            .await
            .unwrap();
        let saved = store.heads(&own).await.unwrap();
        let r = store
            .edit(&own, "t", "half", |d| {
                ledger::set_fields(
                    d,
                    cam.device_code.as_str(),
                    &[(Field::RecordDays, Some(Value::Int(9)))],
                )?;
                Err::<(), _>(StoreError::Refused("stop half-way".into()))
            })
            .await;
        assert!(r.is_err());
        let read = store
            .read_document(&own, |d| heads_hex(&d.get_heads()))
            .await
            .unwrap();
        assert_eq!(read, saved, "the saved document, not an empty copy");

        // A chunk that does not load, saved by another process: the write that meets it fails,
        // and so does every read after it, rather than showing an empty document.
        let broken = DocId::ledger(&UnitCode::parse("500103-0004").unwrap());
        assert_eq!(held(&store, &broken).await, 0);
        sqlx::query("INSERT INTO doc_chunks (doc_id, seq, kind, data) VALUES (?, 0, 'incremental', x'00ff')")
            .bind(broken.to_string())
            .execute(other.pool())
            .await
            .unwrap();
        let w = store
            .edit(&broken, "t", "add", |d| Ok(ledger::add_camera(d, &cam)?))
            .await;
        assert!(matches!(w, Err(StoreError::Damaged(..))), "{w:?}");
        let r = store.read_document(&broken, |d| d.get_heads().len()).await;
        assert!(matches!(r, Err(StoreError::Damaged(..))), "{r:?}");
    }

    #[tokio::test]
    async fn a_refused_edit_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let unit = UnitCode::parse("500103-0001").unwrap();
        let store = Store::init(dir.path(), &unit, "医院", UnitKind::Institution, Role::Node)
            .await
            .unwrap();
        let doc = DocId::ledger(&unit);
        let heads = store.heads(&doc).await.unwrap();
        let code = DeviceCode::parse("50010312091320000001").unwrap();
        let mut cam = Camera::new(code.clone());
        cam.fields.insert(Field::Name, Value::Text("门诊".into()));
        let r = store
            .edit(&doc, "t", "half", |d| {
                ledger::add_camera(d, &cam)?;
                Err::<(), _>(StoreError::Refused("stop half-way".into()))
            })
            .await;
        assert!(r.is_err());
        assert_eq!(store.heads(&doc).await.unwrap(), heads);
        assert!(
            store
                .camera(unit.as_str(), code.as_str())
                .await
                .unwrap()
                .is_none()
        );
        // The next edit starts from what is saved, not from the abandoned half.
        store
            .edit(&doc, "t", "add", |d| Ok(ledger::add_camera(d, &cam)?))
            .await
            .unwrap();
        assert!(
            store
                .camera(unit.as_str(), code.as_str())
                .await
                .unwrap()
                .is_some()
        );
        let err = Store::init(
            dir.path(),
            &unit,
            "again",
            UnitKind::Institution,
            Role::Node,
        )
        .await;
        assert!(matches!(err, Err(StoreError::AlreadyInitialised(..))));
    }
}
