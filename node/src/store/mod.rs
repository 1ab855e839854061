//! The node's store: Automerge documents saved incrementally in SQLite (WAL) and compacted, with
//! the SQL projections (cameras, units, contacts, stats) and the audit log written in the same
//! transaction as the document change they follow, so that a crash never leaves them apart.
//!
//! Every write runs in a `BEGIN IMMEDIATE` transaction that first catches the in-memory document up
//! with any chunk another process (the CLI beside the daemon) saved, so writers never lose changes.

pub mod membership;
pub mod refusal_log;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use automerge::patches::PatchAction;
use automerge::{ActorId, AutoCommit, ChangeHash, Prop};
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, broadcast};

use crate::docs::document::{DocId, DocKind, commit_now, heads_hex};
use crate::docs::ledger::{self, CameraState, LedgerError};
use crate::docs::profile::{self, Profile, ProfileError};
use crate::domain::camera::{Camera, Field, FieldError, Value};
use crate::domain::contacts::{ContactError, ContactRole};
use crate::domain::figures::{CameraFlags, Counts, Stats};
use crate::domain::unit::{Role, UnitCode, UnitKind};
use crate::store::refusal_log::{EndedMinute, RefusalLog, clip};

/// The file that holds a node's store inside its data folder.
pub const STORE_FILE: &str = "store.sqlite";
/// The folder inside a unit's data folder that holds its keys and certificates.
pub const TLS_DIR: &str = "tls";

/// After this many incremental chunks a document is rewritten as one compact snapshot.
const COMPACT_AFTER_CHUNKS: i64 = 32;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} holds no yinglian store; run `init` first (or pass --data)")]
    NotInitialised(PathBuf),
    #[error("{0} already holds the store of unit {1}; use another --data folder")]
    AlreadyInitialised(PathBuf, String),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("document {0} is damaged: {1}")]
    Damaged(String, Box<automerge::AutomergeError>),
    #[error("{0}")]
    Ledger(#[from] LedgerError),
    #[error("{0}")]
    Profile(#[from] ProfileError),
    #[error("{0}")]
    Field(#[from] FieldError),
    #[error("{0}")]
    Contact(#[from] ContactError),
    #[error("{0}")]
    Refused(String),
    #[error("i/o error on {0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// Who this store belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub unit: UnitCode,
    pub name: String,
    pub kind: UnitKind,
    /// `Node` or `Hub` (kept as its text, `node` or `hub`).
    pub role: Role,
}

impl Identity {
    /// Whether this unit accepts children (a hub) rather than only reporting (a node).
    pub fn is_hub(&self) -> bool {
        self.role == Role::Hub
    }
}

/// A camera as the projection holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraRow {
    pub unit: String,
    pub camera: Camera,
    pub conflicts: BTreeMap<Field, Vec<Value>>,
    pub updated_at: String,
}

/// What a write did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Written {
    /// False when the change turned out to be no change at all.
    pub changed: bool,
    pub heads: Vec<String>,
    /// Records whose projection was rewritten.
    pub records: usize,
}

/// One peer this unit syncs with, as the `peers` table keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct PeerStatus {
    pub peer: String,
    /// `parent` or `child`.
    pub relation: String,
    pub connected: bool,
    pub last_sync_at: Option<String>,
    pub disconnected_at: Option<String>,
    pub bytes_sent: i64,
    pub bytes_received: i64,
    pub last_error: Option<String>,
    /// Since when a document cannot be sent to or taken from this peer (`None`: making progress).
    pub stuck_since: Option<String>,
    pub stuck_reason: Option<String>,
}

/// A document held by this store.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentRow {
    pub doc_id: DocId,
    pub heads: Vec<String>,
    /// The peer the replica first came from; `None` for this unit's own documents.
    pub origin: Option<String>,
    /// Grows with every write, across all documents.
    pub version: i64,
}

/// How to list cameras.
#[derive(Debug, Clone, Default)]
pub struct CameraQuery {
    /// Matches the device code, name or address.
    pub search: Option<String>,
    pub state: Option<String>,
    pub networked: Option<bool>,
    pub point_class: Option<i64>,
    pub conflicts_only: bool,
    /// `code` (default), `name`, `updated`.
    pub sort: Option<String>,
    pub limit: Option<i64>,
    pub offset: i64,
}

struct Cached {
    doc: AutoCommit,
    seq: i64,
    /// When it was last used (a counter): the least recently used copy goes first.
    used: u64,
}

/// Documents kept in memory at most; beyond, the least recently used copy is dropped (it is
/// read back from the database when next needed). A city holds about two thousand.
const MAX_CACHED: usize = 4096;

/// One node's store.
pub struct Store {
    pool: SqlitePool,
    dir: PathBuf,
    actor: ActorId,
    identity: Identity,
    cache: Mutex<HashMap<String, Cached>>,
    cache_clock: std::sync::atomic::AtomicU64,
    refusal_log: RefusalLog,
    changes: broadcast::Sender<DocId>,
    live: Live,
}

/// Live counters of the running daemon, for `/metrics`.
#[derive(Debug, Default)]
pub struct Live {
    /// Feed subscribers streaming now.
    pub feed_subscribers: std::sync::atomic::AtomicI64,
    /// TLS handshakes refused since the process started (recorded per source and minute).
    pub handshakes_refused: std::sync::atomic::AtomicU64,
    /// Refusals of any kind since the process started, recorded one by one or not.
    pub refusals_seen: std::sync::atomic::AtomicU64,
}

/// Rows the `refusals` table keeps (the oldest go first).
const MAX_REFUSAL_ROWS: i64 = 100_000;

/// SQLite connections per store (each is a thread and three file descriptors).
static CONNECTIONS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(4);

/// Sets the connections of the stores opened from now on in this process (default 4). A process
/// that holds thousands of stores (the benchmark's institutions) lowers it to stay within its
/// file descriptors.
pub fn set_connections_per_store(n: u32) {
    CONNECTIONS.store(n.max(2), std::sync::atomic::Ordering::Relaxed);
}

static SYNCHRONOUS_FULL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether stores opened from now on wait for stable storage before a commit returns (always,
/// except in the benchmark's comparison: `yl-hub bench --without-fsync`).
pub fn synchronous_full() -> bool {
    SYNCHRONOUS_FULL.load(std::sync::atomic::Ordering::Relaxed)
}

/// Sets `synchronous_full` for the stores opened from now on (the benchmark only).
pub fn set_synchronous_full(full: bool) {
    SYNCHRONOUS_FULL.store(full, std::sync::atomic::Ordering::Relaxed);
}

/// Files this process creates are its owner's alone (mode 0600, folders 0700), whatever the
/// umask it was started with: a unit's store holds its ledger, accounts and sessions.
pub fn private_umask() {
    #[cfg(unix)]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: umask only sets the process's file mode mask; it cannot fail.
        ONCE.call_once(|| unsafe {
            libc::umask(0o077);
        });
    }
}

/// Restricts a data folder to its owner (0700) and the store's files in it to 0600, for a
/// folder made before the umask was set, or by hand.
pub fn restrict(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let set = |p: &Path, mode: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
                .map_err(|e| StoreError::Io(p.to_path_buf(), e))
        };
        if dir.is_dir() {
            set(dir, 0o700)?;
        }
        for s in ["", "-wal", "-shm"] {
            let f = dir.join(format!("{STORE_FILE}{s}"));
            if f.exists() {
                set(&f, 0o600)?;
            }
        }
    }
    Ok(())
}

async fn connect(path: &Path, create: bool) -> Result<SqlitePool, StoreError> {
    private_umask();
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit returns only after the WAL is flushed to stable storage, so whatever is
        // acknowledged (to a clerk, a page, a peer) survives a power cut, not only a crash.
        .synchronous(if synchronous_full() {
            SqliteSynchronous::Full
        } else {
            SqliteSynchronous::Normal
        })
        .busy_timeout(Duration::from_secs(30))
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(CONNECTIONS.load(std::sync::atomic::Ordering::Relaxed))
        .connect_with(opts)
        .await?;
    if let Some(dir) = path.parent() {
        restrict(dir)?;
    }
    Ok(pool)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Store {
    /// Creates the store of a new unit in `dir`, with its ledger and profile documents.
    pub async fn init(
        dir: &Path,
        unit: &UnitCode,
        name: &str,
        kind: UnitKind,
        role: Role,
    ) -> Result<Store, StoreError> {
        let path = dir.join(STORE_FILE);
        if path.exists() {
            let existing = Store::open(dir).await?;
            return Err(StoreError::AlreadyInitialised(
                dir.to_path_buf(),
                existing.identity.unit.to_string(),
            ));
        }
        if name.trim().is_empty() {
            return Err(StoreError::Refused("the unit's name is required".into()));
        }
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(dir.to_path_buf(), e))?;
        let pool = connect(&path, true).await?;
        MIGRATOR.run(&pool).await?;
        let actor = ActorId::random();
        let mut tx = pool.begin().await?;
        for (k, v) in [
            ("unit", unit.to_string()),
            ("name", name.trim().to_string()),
            ("kind", kind.to_string()),
            ("role", role.to_string()),
            ("actor", actor.to_hex_string()),
            ("created_at", now()),
        ] {
            sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?)")
                .bind(k)
                .bind(v)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let store = Store {
            pool,
            dir: dir.to_path_buf(),
            actor,
            identity: Identity {
                unit: unit.clone(),
                name: name.trim().to_string(),
                kind,
                role,
            },
            cache: Mutex::new(HashMap::new()),
            cache_clock: Default::default(),
            refusal_log: Default::default(),
            changes: broadcast::channel(1024).0,
            live: Live::default(),
        };
        let who = "init";
        let name = name.trim().to_string();
        store
            .edit(&DocId::profile(unit), who, "create unit profile", |doc| {
                profile::set_text(doc, "name", Some(&name))?;
                profile::set_text(doc, "unit_kind", Some(kind.as_str()))?;
                Ok(())
            })
            .await?;
        store
            .edit(
                &DocId::ledger(unit),
                who,
                "create camera ledger",
                |_| Ok(()),
            )
            .await?;
        Ok(store)
    }

    /// Records a refusal with the peer's identity, and logs it (within the bounds of
    /// [`RefusalLog`]: a flood of refusals writes a bounded number of rows and log lines).
    pub async fn record_refusal(&self, peer: &str, doc: Option<&DocId>, reason: &str) {
        self.record_refusal_from(peer, peer, doc, reason).await
    }

    /// `record_refusal`, counted under `bucket` (the source address for a caller not yet
    /// identified, the identity otherwise).
    pub async fn record_refusal_from(
        &self,
        bucket: &str,
        peer: &str,
        doc: Option<&DocId>,
        reason: &str,
    ) {
        self.live
            .refusals_seen
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let peer = clip(peer, 128);
        let reason = clip(reason, 500);
        let doc = doc.map(|d| clip(&d.to_string(), 128));
        let (write, ended) = self
            .refusal_log
            .admit(bucket, &peer, doc.as_deref(), &reason);
        if let Some(ended) = ended {
            self.write_summaries(ended).await;
        }
        if write {
            self.write_refusal(&peer, doc.as_deref(), &reason).await;
        }
    }

    /// Writes the summaries of a minute that ended, if it has (or whatever minute it is, with
    /// `now`: at shutdown).
    pub async fn flush_refusals(&self, now: bool) {
        if let Some(ended) = self.refusal_log.take_ended(now) {
            self.write_summaries(ended).await;
        }
    }

    async fn write_summaries(&self, ended: EndedMinute) {
        let at = chrono::DateTime::from_timestamp(ended.minute * 60, 0)
            .map(|t| t.format("%H:%M UTC").to_string())
            .unwrap_or_default();
        for (bucket, n, first) in ended.suppressed {
            let reason = clip(
                &format!(
                    "{n} more refusals in the minute from {at}, counted but not recorded one by one (the first: {first})"
                ),
                600,
            );
            self.write_refusal(&bucket, None, &reason).await;
        }
        if ended.overflow > 0 {
            let reason = format!(
                "{} more refusals in the minute from {at} from sources beyond the log's bounds",
                ended.overflow
            );
            self.write_refusal("many sources", None, &reason).await;
        }
        // The table keeps the most recent rows only.
        let _ = sqlx::query("DELETE FROM refusals WHERE id <= (SELECT MAX(id) FROM refusals) - ?")
            .bind(MAX_REFUSAL_ROWS)
            .execute(self.pool())
            .await;
    }

    async fn write_refusal(&self, peer: &str, doc: Option<&str>, reason: &str) {
        tracing::warn!(peer, doc, reason, "refused");
        let r = sqlx::query("INSERT INTO refusals (at, peer, doc_id, reason) VALUES (?, ?, ?, ?)")
            .bind(now())
            .bind(peer)
            .bind(doc)
            .bind(reason)
            .execute(self.pool())
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "could not record a refusal");
        }
    }

    /// Opens the store in `dir`.
    pub async fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(STORE_FILE);
        if !path.exists() {
            return Err(StoreError::NotInitialised(dir.to_path_buf()));
        }
        let pool = connect(&path, false).await?;
        MIGRATOR.run(&pool).await?;
        let meta: HashMap<String, String> = sqlx::query("SELECT key, value FROM meta")
            .fetch_all(&pool)
            .await?
            .into_iter()
            .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
            .collect();
        let get = |k: &str| {
            meta.get(k)
                .cloned()
                .ok_or_else(|| StoreError::NotInitialised(dir.to_path_buf()))
        };
        let unit = UnitCode::parse(&get("unit")?)
            .map_err(|e| StoreError::Refused(format!("store metadata: {e}")))?;
        let kind = UnitKind::from_str(&get("kind")?)
            .map_err(|e| StoreError::Refused(format!("store metadata: {e}")))?;
        let actor = ActorId::from(
            hex_decode(&get("actor")?)
                .ok_or_else(|| StoreError::Refused("store metadata: bad actor id".into()))?,
        );
        Ok(Store {
            pool,
            dir: dir.to_path_buf(),
            actor,
            identity: Identity {
                unit,
                name: get("name")?,
                kind,
                role: Role::from_str(&get("role")?)
                    .map_err(|e| StoreError::Refused(format!("store metadata: {e}")))?,
            },
            cache: Mutex::new(HashMap::new()),
            cache_clock: Default::default(),
            refusal_log: Default::default(),
            changes: broadcast::channel(1024).0,
            live: Live::default(),
        })
    }

    /// Live counters of the running daemon.
    pub fn live(&self) -> &Live {
        &self.live
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn unit(&self) -> &UnitCode {
        &self.identity.unit
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Every document this process changes from now on (a lagging receiver should rescan).
    pub fn subscribe(&self) -> broadcast::Receiver<DocId> {
        self.changes.subscribe()
    }

    /// Tells this process's listeners that a document changed (used by the poller that notices
    /// writes made by another process, such as the CLI beside the daemon).
    pub fn notify(&self, doc_id: DocId) {
        let _ = self.changes.send(doc_id);
    }

    /// A value of the `meta` table.
    pub async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Sets a value of the `meta` table.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records that a document cannot make progress with `peer` (kept since the first time, until
    /// the peer is next in sync).
    pub async fn set_stuck(&self, peer: &str, reason: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE peers SET stuck_since = COALESCE(stuck_since, ?), stuck_reason = ? WHERE peer = ?",
        )
        .bind(now())
        .bind(clip(reason, 500))
        .bind(peer)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The peer is making progress again.
    pub async fn clear_stuck(&self, peer: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE peers SET stuck_since = NULL, stuck_reason = NULL WHERE peer = ? AND stuck_since IS NOT NULL",
        )
        .bind(peer)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The peers this unit syncs with, the parent first.
    pub async fn peers(&self) -> Result<Vec<PeerStatus>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT peer, relation, connected, last_sync_at, disconnected_at, bytes_sent, bytes_received, last_error,
                    stuck_since, stuck_reason
             FROM peers ORDER BY relation DESC, peer",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every document held here: id, heads, the peer it came from (`None` for own) and version.
    pub async fn documents(&self) -> Result<Vec<DocumentRow>, StoreError> {
        let rows =
            sqlx::query("SELECT doc_id, heads, origin, version FROM documents ORDER BY doc_id")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let id: String = r.get(0);
                let heads: String = r.get(1);
                Some(DocumentRow {
                    doc_id: id.parse().ok()?,
                    heads: serde_json::from_str(&heads).unwrap_or_default(),
                    origin: r.get(2),
                    version: r.get(3),
                })
            })
            .collect())
    }

    /// Brings the cached copy of `doc_id` up to date with what is saved (inside the caller's
    /// transaction). A document with nothing saved starts from its genesis.
    async fn catch_up<'c>(
        &self,
        conn: &mut SqliteConnection,
        cache: &'c mut HashMap<String, Cached>,
        doc_id: &DocId,
    ) -> Result<&'c mut Cached, StoreError> {
        let key = doc_id.to_string();
        if !cache.contains_key(&key) && cache.len() >= MAX_CACHED {
            let oldest = cache
                .iter()
                .min_by_key(|(_, c)| c.used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                cache.remove(&k);
            }
        }
        let from = cache.get(&key).map(|c| c.seq).unwrap_or(-1);
        let rows = sqlx::query(
            "SELECT seq, data FROM doc_chunks WHERE doc_id = ? AND seq > ? ORDER BY seq",
        )
        .bind(&key)
        .bind(from)
        .fetch_all(&mut *conn)
        .await?;
        let entry = cache.entry(key.clone()).or_insert_with(|| Cached {
            doc: AutoCommit::new().with_actor(self.actor.clone()),
            seq: -1,
            used: 0,
        });
        entry.used = self
            .cache_clock
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for r in rows {
            let seq: i64 = r.get(0);
            let data: Vec<u8> = r.get(1);
            entry
                .doc
                .load_incremental(&data)
                .map_err(|e| StoreError::Damaged(key.clone(), Box::new(e)))?;
            entry.seq = seq;
        }
        Ok(entry)
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
        self.write_hinted(doc_id, who, None, None, one_change(doc_id, message, f))
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
        self.write_hinted(doc_id, who, None, Some((codes, &saved)), run)
            .await
    }

    async fn write<T>(
        &self,
        doc_id: &DocId,
        who: &str,
        origin: Option<&str>,
        f: impl FnOnce(&mut AutoCommit) -> Result<T, StoreError>,
    ) -> Result<(T, Written), StoreError> {
        self.write_hinted(doc_id, who, origin, None, f).await
    }

    async fn write_hinted<T>(
        &self,
        doc_id: &DocId,
        who: &str,
        origin: Option<&str>,
        hint: Option<(&[String], &std::sync::Mutex<Saved>)>,
        f: impl FnOnce(&mut AutoCommit) -> Result<T, StoreError>,
    ) -> Result<(T, Written), StoreError> {
        let key = doc_id.to_string();
        let touched = hint.map(|h| h.0);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut cache = self.cache.lock().await;
        let entry = self.catch_up(&mut tx, &mut cache, doc_id).await?;
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
                // Whatever `f` did to the cached copy is not saved: drop the copy.
                cache.remove(&key);
                return Err(e);
            }
        };
        let after = entry.doc.get_heads();
        if before == after {
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
            let data = match hint {
                // What `f` saved as it went, and the rest.
                Some((_, saved)) => {
                    let mut saved = saved.lock().expect("saved changes");
                    let mut data = std::mem::take(&mut saved.bytes);
                    data.extend(entry.doc.save_after(&saved.heads));
                    data
                }
                None => entry.doc.save_after(&before),
            };
            let seq = entry.seq + 1;
            let records = self
                .project(&mut tx, doc_id, &mut entry.doc, &before, who, touched)
                .await?;
            sqlx::query("INSERT INTO doc_chunks (doc_id, seq, kind, data) VALUES (?, ?, 'incremental', ?)")
                .bind(&key)
                .bind(seq)
                .bind(&data)
                .execute(&mut *tx)
                .await?;
            let (chunks, mut bytes): (i64, i64) = {
                let r = sqlx::query(
                    "SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM doc_chunks WHERE doc_id = ?",
                )
                .bind(&key)
                .fetch_one(&mut *tx)
                .await?;
                (r.get(0), r.get(1))
            };
            let mut final_seq = seq;
            let mut final_chunks = chunks;
            if chunks > COMPACT_AFTER_CHUNKS {
                let snapshot = entry.doc.save();
                final_seq = seq + 1;
                sqlx::query("DELETE FROM doc_chunks WHERE doc_id = ?")
                    .bind(&key)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO doc_chunks (doc_id, seq, kind, data) VALUES (?, ?, 'snapshot', ?)")
                    .bind(&key)
                    .bind(final_seq)
                    .bind(&snapshot)
                    .execute(&mut *tx)
                    .await?;
                bytes = snapshot.len() as i64;
                final_chunks = 1;
            }
            let heads = heads_hex(&after);
            sqlx::query(
                "INSERT INTO documents (doc_id, heads, chunks, bytes, updated_at, origin, version)
                 VALUES (?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(version), 0) + 1 FROM documents))
                 ON CONFLICT (doc_id) DO UPDATE SET heads = excluded.heads, chunks = excluded.chunks,
                 bytes = excluded.bytes, updated_at = excluded.updated_at, version = excluded.version,
                 origin = COALESCE(documents.origin, excluded.origin)",
            )
            .bind(&key)
            .bind(serde_json::to_string(&heads).unwrap_or_default())
            .bind(final_chunks)
            .bind(bytes)
            .bind(now())
            .bind(origin.filter(|_| doc_id.unit != self.identity.unit))
            .execute(&mut *tx)
            .await?;
            Ok::<_, StoreError>((final_seq, heads, records))
        }
        .await;
        let outcome = match result {
            Ok(ok) => tx.commit().await.map(|_| ok).map_err(StoreError::from),
            Err(e) => Err(e),
        };
        match outcome {
            Ok((seq, heads, records)) => {
                entry.seq = seq;
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
                cache.remove(&key);
                Err(e)
            }
        }
    }

    /// Rewrites the projections of what changed in `doc` since `before`, with audit rows.
    async fn project(
        &self,
        conn: &mut SqliteConnection,
        doc_id: &DocId,
        doc: &mut AutoCommit,
        before: &[ChangeHash],
        who: &str,
        touched: Option<&[String]>,
    ) -> Result<usize, StoreError> {
        match doc_id.kind {
            DocKind::Ledger => {
                let after = doc.get_heads();
                let codes: Vec<String> = match touched {
                    Some(t) => t.to_vec(),
                    None => touched_cameras(doc, before, &after).into_iter().collect(),
                };
                let n = codes.len();
                // In batches: a large import's records are not all held at once.
                for batch in codes.chunks(2_000) {
                    for (code, state) in ledger::read_cameras(doc, batch)? {
                        project_camera(conn, doc_id, &code, state, who, before.is_empty()).await?;
                    }
                }
                refresh_stats(conn, doc_id.unit.as_str()).await?;
                Ok(n)
            }
            DocKind::Profile => {
                let mut p = profile::read_profile(doc)?;
                p.parent = believed_parent(conn, self.unit(), doc_id, p.parent.take()).await?;
                project_profile(conn, doc_id, &p, who).await?;
                Ok(1)
            }
            DocKind::Rollup => {
                let mut r = crate::docs::rollup::read(doc);
                if doc_id.unit != *self.unit() {
                    // A child hub's rollup speaks for its own namespace only, and its totals for
                    // itself, whatever it wrote.
                    r.children.retain(|unit, _| {
                        UnitCode::parse(unit).is_ok_and(|u| u.is_under(&doc_id.unit))
                    });
                    if let Some(t) = r.totals.as_mut() {
                        t.unit = doc_id.unit.to_string();
                    }
                }
                project_rollup(conn, doc_id.unit.as_str(), &r).await
            }
            DocKind::Campaign => Ok(0),
        }
    }

    /// Receives one Automerge sync message from a peer into the local replica of `doc_id`. The
    /// change is applied to the cached copy, `authorize` judges its effect (the document before,
    /// as heads, and after), and only then is it saved and projected; a refusal keeps nothing.
    pub async fn receive_sync(
        &self,
        doc_id: &DocId,
        who: &str,
        peer: &str,
        state: &mut automerge::sync::State,
        message: automerge::sync::Message,
        authorize: impl FnOnce(&mut AutoCommit, &[ChangeHash]) -> Result<(), StoreError>,
    ) -> Result<Written, StoreError> {
        use automerge::sync::SyncDoc;
        let (_, w) = self
            .write(doc_id, who, Some(peer), |doc| {
                let before = doc.get_heads();
                doc.sync()
                    .receive_sync_message(state, message)
                    .map_err(|e| StoreError::Damaged(doc_id.to_string(), Box::new(e)))?;
                if doc.get_heads() != before {
                    authorize(doc, &before)?;
                }
                Ok(())
            })
            .await?;
        Ok(w)
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
        let mut conn = self.pool.acquire().await?;
        let mut cache = self.cache.lock().await;
        let entry = self.catch_up(&mut conn, &mut cache, doc_id).await?;
        if entry.doc.get_heads().is_empty() {
            return Ok(None);
        }
        Ok(Some(entry.doc.save()))
    }

    /// The bytes a document takes here (its saved chunks; 0 when not held).
    pub async fn document_bytes(&self, doc_id: &DocId) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT bytes FROM documents WHERE doc_id = ?")
                .bind(doc_id.to_string())
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }

    /// The heads of a document as saved here (empty when this store does not hold it).
    pub async fn heads(&self, doc_id: &DocId) -> Result<Vec<String>, StoreError> {
        let h: Option<String> = sqlx::query_scalar("SELECT heads FROM documents WHERE doc_id = ?")
            .bind(doc_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(h.and_then(|h| serde_json::from_str(&h).ok())
            .unwrap_or_default())
    }

    /// Runs `f` on an up-to-date copy of the document, read-only.
    pub async fn read_document<T>(
        &self,
        doc_id: &DocId,
        f: impl FnOnce(&mut AutoCommit) -> T,
    ) -> Result<T, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut cache = self.cache.lock().await;
        let entry = self.catch_up(&mut conn, &mut cache, doc_id).await?;
        Ok(f(&mut entry.doc))
    }

    /// One camera from the projection.
    pub async fn camera(&self, unit: &str, code: &str) -> Result<Option<CameraRow>, StoreError> {
        let row = sqlx::query(
            "SELECT unit, record, conflicts, updated_at FROM cameras WHERE unit = ? AND device_code = ?",
        )
        .bind(unit)
        .bind(code)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| camera_row(&r)).transpose()
    }

    /// Cameras of a unit matching the query, and how many match in all.
    pub async fn cameras(
        &self,
        unit: &str,
        q: &CameraQuery,
    ) -> Result<(Vec<CameraRow>, i64), StoreError> {
        let like = q.search.as_ref().map(|s| format!("%{}%", s.trim()));
        let order = match q.sort.as_deref() {
            Some("name") => "ORDER BY name, device_code",
            Some("updated") => "ORDER BY updated_at DESC, device_code",
            _ => "ORDER BY device_code",
        };
        const WHERE: &str = " FROM cameras WHERE unit = ?1
            AND (?2 IS NULL OR device_code LIKE ?2 OR name LIKE ?2 OR address LIKE ?2)
            AND (?3 IS NULL OR state = ?3)
            AND (?4 IS NULL OR networked = ?4)
            AND (?5 IS NULL OR point_class = ?5)
            AND (?6 = 0 OR conflicts IS NOT NULL) ";
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*){WHERE}")))
            .bind(unit)
            .bind(&like)
            .bind(&q.state)
            .bind(q.networked)
            .bind(q.point_class)
            .bind(q.conflicts_only)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT unit, record, conflicts, updated_at{WHERE}{order} LIMIT ?7 OFFSET ?8"
        )))
        .bind(unit)
        .bind(&like)
        .bind(&q.state)
        .bind(q.networked)
        .bind(q.point_class)
        .bind(q.conflicts_only)
        .bind(q.limit.unwrap_or(-1))
        .bind(q.offset)
        .fetch_all(&self.pool)
        .await?;
        let list = rows.iter().map(camera_row).collect::<Result<Vec<_>, _>>()?;
        Ok((list, total))
    }

    /// The counts of one unit's own ledger, and when they last changed.
    pub async fn counts(&self, unit: &str) -> Result<(Counts, String), StoreError> {
        let row = sqlx::query(
            "SELECT built, must_network, networked, archived, geo_tagged, in_service,
                    key_public_built, key_public_in_service, key_industry_built,
                    key_industry_in_service, as_of FROM stats WHERE unit = ?",
        )
        .bind(unit)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => (
                Counts {
                    built: r.get::<i64, _>(0) as u64,
                    must_network: r.get::<i64, _>(1) as u64,
                    networked: r.get::<i64, _>(2) as u64,
                    archived: r.get::<i64, _>(3) as u64,
                    geo_tagged: r.get::<i64, _>(4) as u64,
                    in_service: r.get::<i64, _>(5) as u64,
                    key_public_built: r.get::<i64, _>(6) as u64,
                    key_public_in_service: r.get::<i64, _>(7) as u64,
                    key_industry_built: r.get::<i64, _>(8) as u64,
                    key_industry_in_service: r.get::<i64, _>(9) as u64,
                },
                r.get::<String, _>(10),
            ),
            None => (Counts::default(), now()),
        })
    }

    /// The name of a unit, as its profile gives it.
    pub async fn unit_name(&self, unit: &str) -> Result<String, StoreError> {
        let name: Option<String> = sqlx::query_scalar("SELECT name FROM units WHERE unit = ?")
            .bind(unit)
            .fetch_optional(&self.pool)
            .await?;
        Ok(name.unwrap_or_default())
    }

    /// The figures of one unit's own ledger.
    pub async fn stats(&self, unit: &str) -> Result<Stats, StoreError> {
        let name = self.unit_name(unit).await?;
        let (counts, as_of) = self.counts(unit).await?;
        Ok(Stats::from_counts(unit, &name, &counts, as_of))
    }

    /// Every unit this store holds a profile of, with the parent it reports.
    pub async fn unit_parents(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        Ok(sqlx::query_as("SELECT unit, parent FROM units")
            .fetch_all(&self.pool)
            .await?)
    }

    /// The hub whose rollup has a row for `unit`: any (`with_own`, its own totals included) or
    /// another hub's row (its parent's).
    pub async fn rollup_holding(
        &self,
        unit: &str,
        with_own: bool,
    ) -> Result<Option<String>, StoreError> {
        let sql = if with_own {
            "SELECT hub FROM rollup_rows WHERE unit = ? LIMIT 1"
        } else {
            "SELECT hub FROM rollup_rows WHERE unit = ? AND hub != unit LIMIT 1"
        };
        Ok(sqlx::query_scalar(sql)
            .bind(unit)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The rows of a rollup held here (`hub`'s children, then `hub` itself for its totals).
    pub async fn rollup_rows(
        &self,
        hub: &str,
    ) -> Result<Vec<crate::docs::rollup::Row>, StoreError> {
        let rows = sqlx::query(
            "SELECT unit, name, built, must_network, networked, archived, geo_tagged, in_service,
                key_public_built, key_public_in_service, key_industry_built, key_industry_in_service, as_of
             FROM rollup_rows WHERE hub = ? ORDER BY unit = ?, unit",
        )
        .bind(hub)
        .bind(hub)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| crate::docs::rollup::Row {
                unit: r.get(0),
                name: r.get(1),
                counts: counts_at(r, 2),
                as_of: r.get(12),
            })
            .collect())
    }

    /// The profile of a unit from the projection.
    pub async fn profile(&self, unit: &str) -> Result<Option<Profile>, StoreError> {
        let row = sqlx::query("SELECT name, kind, address, parent FROM units WHERE unit = ?")
            .bind(unit)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = row else { return Ok(None) };
        let mut p = Profile {
            unit: unit.to_string(),
            name: r.get(0),
            kind: r.get(1),
            address: r.get(2),
            parent: r.get(3),
            leader: None,
            liaison: None,
        };
        let rows =
            sqlx::query("SELECT role, name, position, phone, remarks FROM contacts WHERE unit = ?")
                .bind(unit)
                .fetch_all(&self.pool)
                .await?;
        for r in rows {
            let c = crate::domain::contacts::Contact {
                name: r.get(1),
                position: r.get(2),
                phone: r.get(3),
                remarks: r.get(4),
            };
            match r.get::<String, _>(0).as_str() {
                "leader" => p.leader = Some(c),
                _ => p.liaison = Some(c),
            }
        }
        Ok(Some(p))
    }

    /// The audit rows of one record (newest first), or of everything when `record` is `None`.
    pub async fn audit(
        &self,
        record: Option<&str>,
        limit: i64,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, who, doc_id, record, action, fields, old_value, new_value FROM audit
             WHERE (?1 IS NULL OR record = ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(record)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let parse = |s: Option<String>| {
                    s.and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
                        .unwrap_or(serde_json::Value::Null)
                };
                json!({
                    "at": r.get::<String, _>(0),
                    "who": r.get::<String, _>(1),
                    "doc": r.get::<String, _>(2),
                    "record": r.get::<String, _>(3),
                    "action": r.get::<String, _>(4),
                    "fields": r.get::<String, _>(5),
                    "old": parse(r.get(6)),
                    "new": parse(r.get(7)),
                })
            })
            .collect())
    }

    /// Bytes the store takes on disk (database, WAL and shared memory files).
    pub fn size_on_disk(&self) -> u64 {
        ["", "-wal", "-shm"]
            .iter()
            .filter_map(|s| {
                std::fs::metadata(self.dir.join(format!("{STORE_FILE}{s}")))
                    .ok()
                    .map(|m| m.len())
            })
            .sum()
    }

    /// Writes the WAL back into the database file and gives free pages back.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// After a restore: new changes are written under a new Automerge actor (the old one may
    /// have written changes after the backup that peers still hold), and every peer's sync
    /// state is forgotten so that the first sync compares everything. Takes effect when the
    /// store is opened again.
    pub async fn rotate_actor(&self) -> Result<(), StoreError> {
        let mut past = self.past_actors().await?;
        past.push(self.actor.clone());
        let past: Vec<String> = past.iter().map(|a| a.to_hex_string()).collect();
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE meta SET value = ? WHERE key = 'actor'")
            .bind(ActorId::random().to_hex_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO meta (key, value) VALUES ('past_actors', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(serde_json::to_string(&past).expect("strings"))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sync_states")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The actors this store wrote under before it was restored from backups.
    /// Ends the window in which the unit takes back its pre-restore changes (see `sync`).
    pub async fn forget_past_actors(&self) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM meta WHERE key = 'past_actors'")
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn past_actors(&self) -> Result<Vec<ActorId>, StoreError> {
        let v = self.meta("past_actors").await?.unwrap_or_default();
        let list: Vec<String> = serde_json::from_str(&v).unwrap_or_default();
        Ok(list
            .iter()
            .filter_map(|h| hex_decode(h).map(ActorId::from))
            .collect())
    }

    /// This store's Automerge actor (who its changes are by).
    pub fn actor(&self) -> String {
        self.actor.to_hex_string()
    }

    pub async fn close(self) {
        self.pool.close().await;
    }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

fn camera_row(r: &sqlx::sqlite::SqliteRow) -> Result<CameraRow, StoreError> {
    let record: String = r.get(1);
    let camera: Camera = serde_json::from_str(&record)
        .map_err(|e| StoreError::Refused(format!("damaged camera projection: {e}")))?;
    let conflicts: Option<String> = r.get(2);
    let conflicts = conflicts
        .and_then(|c| serde_json::from_str(&c).ok())
        .unwrap_or_default();
    Ok(CameraRow {
        unit: r.get(0),
        camera,
        conflicts,
        updated_at: r.get(3),
    })
}

/// Device codes whose records changed between `before` and `after`.
/// Changes committed and encoded while an edit runs ([`Store::edit_cameras`]).
#[derive(Default)]
pub struct Saved {
    bytes: Vec<u8>,
    heads: Vec<ChangeHash>,
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

fn touched_cameras(
    doc: &mut AutoCommit,
    before: &[ChangeHash],
    after: &[ChangeHash],
) -> BTreeSet<String> {
    let mut codes = BTreeSet::new();
    debug_assert_eq!(doc.get_heads(), after);
    for p in crate::docs::document::diff_since(doc, before) {
        let in_cameras = matches!(p.path.first(), Some((_, Prop::Map(k))) if k == "cameras");
        if !in_cameras {
            continue;
        }
        if let Some((_, Prop::Map(code))) = p.path.get(1) {
            codes.insert(code.clone());
        } else if p.path.len() == 1 {
            match &p.action {
                PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => {
                    codes.insert(key.clone());
                }
                PatchAction::Conflict {
                    prop: Prop::Map(key),
                } => {
                    codes.insert(key.clone());
                }
                _ => {}
            }
        }
    }
    codes
}

fn fields_json(c: &Camera, fields: &[Field]) -> String {
    let m: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .filter_map(|f| {
            c.get(*f).map(|v| {
                (
                    f.key().to_string(),
                    serde_json::to_value(v).unwrap_or_default(),
                )
            })
        })
        .collect();
    serde_json::Value::Object(m).to_string()
}

/// Projects one camera and audits the change. `first` says the document held nothing before this
/// change (a replica arriving whole): there is no earlier record to read.
async fn project_camera(
    conn: &mut SqliteConnection,
    doc_id: &DocId,
    code: &str,
    state: Option<CameraState>,
    who: &str,
    first: bool,
) -> Result<(), StoreError> {
    let unit = doc_id.unit.as_str();
    let old: Option<String> = if first {
        None
    } else {
        sqlx::query_scalar("SELECT record FROM cameras WHERE unit = ? AND device_code = ?")
            .bind(unit)
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?
    };
    let old: Option<Camera> = old.and_then(|s| serde_json::from_str(&s).ok());
    let at = now();
    let (action, changed, old_json, new_json) = match (&old, &state) {
        (None, None) => return Ok(()),
        (None, Some(s)) => {
            let fields: Vec<Field> = s.camera.fields.keys().copied().collect();
            (
                "add",
                fields.clone(),
                None,
                Some(fields_json(&s.camera, &fields)),
            )
        }
        (Some(o), None) => {
            let fields: Vec<Field> = o.fields.keys().copied().collect();
            (
                "remove",
                fields.clone(),
                Some(fields_json(o, &fields)),
                None,
            )
        }
        (Some(o), Some(s)) => {
            let fields: Vec<Field> = Field::ALL
                .into_iter()
                .filter(|f| o.get(*f) != s.camera.get(*f))
                .collect();
            (
                "edit",
                fields.clone(),
                Some(fields_json(o, &fields)),
                Some(fields_json(&s.camera, &fields)),
            )
        }
    };
    if !changed.is_empty() || action != "edit" {
        let names: Vec<&str> = changed.iter().map(|f| f.key()).collect();
        sqlx::query(
            "INSERT INTO audit (at, who, doc_id, record, action, fields, old_value, new_value)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&at)
        .bind(who)
        .bind(doc_id.to_string())
        .bind(code)
        .bind(action)
        .bind(names.join(","))
        .bind(old_json)
        .bind(new_json)
        .execute(&mut *conn)
        .await?;
    }
    match state {
        None => {
            sqlx::query("DELETE FROM cameras WHERE unit = ? AND device_code = ?")
                .bind(unit)
                .bind(code)
                .execute(&mut *conn)
                .await?;
        }
        Some(s) => {
            let c = &s.camera;
            let f = CameraFlags::of(c);
            let conflicts = (!s.conflicts.is_empty())
                .then(|| serde_json::to_string(&s.conflicts).unwrap_or_default());
            sqlx::query(
                "INSERT INTO cameras (unit, device_code, name, address, point_class, area, state, built,
                    must_network, networked, archived, geo_tagged, in_service, record, conflicts, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (unit, device_code) DO UPDATE SET name = excluded.name,
                    address = excluded.address, point_class = excluded.point_class, area = excluded.area,
                    state = excluded.state, built = excluded.built, must_network = excluded.must_network,
                    networked = excluded.networked, archived = excluded.archived,
                    geo_tagged = excluded.geo_tagged, in_service = excluded.in_service,
                    record = excluded.record, conflicts = excluded.conflicts, updated_at = excluded.updated_at",
            )
            .bind(unit)
            .bind(code)
            .bind(c.name())
            .bind(c.text(Field::Address))
            .bind(c.point_class().map(|p| p as i64))
            .bind(c.area().map(|a| a.as_str()))
            .bind(c.state().as_str())
            .bind(f.built)
            .bind(f.must_network)
            .bind(f.networked)
            .bind(f.archived)
            .bind(f.geo_tagged)
            .bind(f.in_service)
            .bind(serde_json::to_string(c).unwrap_or_default())
            .bind(conflicts)
            .bind(&at)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

async fn refresh_stats(conn: &mut SqliteConnection, unit: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO stats (unit, built, must_network, networked, archived, geo_tagged, in_service,
            key_public_built, key_public_in_service, key_industry_built, key_industry_in_service, as_of)
         SELECT ?1, COALESCE(SUM(built), 0), COALESCE(SUM(must_network), 0), COALESCE(SUM(networked), 0),
            COALESCE(SUM(archived), 0), COALESCE(SUM(geo_tagged), 0), COALESCE(SUM(in_service), 0),
            COALESCE(SUM(built AND area = 'key-public'), 0),
            COALESCE(SUM(in_service AND area = 'key-public'), 0),
            COALESCE(SUM(built AND area = 'key-industry'), 0),
            COALESCE(SUM(in_service AND area = 'key-industry'), 0),
            ?2
         FROM cameras WHERE unit = ?1
         ON CONFLICT (unit) DO UPDATE SET built = excluded.built, must_network = excluded.must_network,
            networked = excluded.networked, archived = excluded.archived, geo_tagged = excluded.geo_tagged,
            in_service = excluded.in_service, key_public_built = excluded.key_public_built,
            key_public_in_service = excluded.key_public_in_service,
            key_industry_built = excluded.key_industry_built,
            key_industry_in_service = excluded.key_industry_in_service, as_of = excluded.as_of",
    )
    .bind(unit)
    .bind(now())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Ten count columns starting at `from`, in the order of `Counts`.
fn counts_at(r: &sqlx::sqlite::SqliteRow, from: usize) -> Counts {
    let g = |i: usize| r.get::<i64, _>(from + i).max(0) as u64;
    Counts {
        built: g(0),
        must_network: g(1),
        networked: g(2),
        archived: g(3),
        geo_tagged: g(4),
        in_service: g(5),
        key_public_built: g(6),
        key_public_in_service: g(7),
        key_industry_built: g(8),
        key_industry_in_service: g(9),
    }
}

/// Rewrites the rows of one rollup that differ, with a feed event for each.
async fn project_rollup(
    conn: &mut SqliteConnection,
    hub: &str,
    r: &crate::docs::rollup::Rollup,
) -> Result<usize, StoreError> {
    let old = sqlx::query(
        "SELECT unit, name, built, must_network, networked, archived, geo_tagged, in_service,
                key_public_built, key_public_in_service, key_industry_built, key_industry_in_service
         FROM rollup_rows WHERE hub = ?",
    )
    .bind(hub)
    .fetch_all(&mut *conn)
    .await?;
    let old: HashMap<String, (String, Counts)> = old
        .iter()
        .map(|r| (r.get(0), (r.get(1), counts_at(r, 2))))
        .collect();
    let mut rows: Vec<&crate::docs::rollup::Row> = r.children.values().collect();
    if let Some(t) = &r.totals {
        rows.push(t);
    }
    let mut n = 0;
    let at = now();
    for row in &rows {
        if old
            .get(&row.unit)
            .is_some_and(|(name, c)| *name == row.name && *c == row.counts)
        {
            continue;
        }
        let c = &row.counts;
        sqlx::query(
            "INSERT INTO rollup_rows (hub, unit, name, built, must_network, networked, archived, geo_tagged,
                in_service, key_public_built, key_public_in_service, key_industry_built,
                key_industry_in_service, as_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (hub, unit) DO UPDATE SET name = excluded.name, built = excluded.built,
                must_network = excluded.must_network, networked = excluded.networked,
                archived = excluded.archived, geo_tagged = excluded.geo_tagged,
                in_service = excluded.in_service, key_public_built = excluded.key_public_built,
                key_public_in_service = excluded.key_public_in_service,
                key_industry_built = excluded.key_industry_built,
                key_industry_in_service = excluded.key_industry_in_service, as_of = excluded.as_of",
        )
        .bind(hub)
        .bind(&row.unit)
        .bind(&row.name)
        .bind(c.built as i64)
        .bind(c.must_network as i64)
        .bind(c.networked as i64)
        .bind(c.archived as i64)
        .bind(c.geo_tagged as i64)
        .bind(c.in_service as i64)
        .bind(c.key_public_built as i64)
        .bind(c.key_public_in_service as i64)
        .bind(c.key_industry_built as i64)
        .bind(c.key_industry_in_service as i64)
        .bind(&row.as_of)
        .execute(&mut *conn)
        .await?;
        let mut event = serde_json::to_value(row.stats()).unwrap_or_default();
        event["hub"] = hub.into();
        sqlx::query("INSERT INTO feed_events (hub, unit, row, at) VALUES (?, ?, ?, ?)")
            .bind(hub)
            .bind(&row.unit)
            .bind(event.to_string())
            .bind(&at)
            .execute(&mut *conn)
            .await?;
        n += 1;
    }
    for unit in old.keys() {
        let kept = rows.iter().any(|r| &r.unit == unit);
        if !kept {
            sqlx::query("DELETE FROM rollup_rows WHERE hub = ? AND unit = ?")
                .bind(hub)
                .bind(unit)
                .execute(&mut *conn)
                .await?;
            n += 1;
        }
    }
    Ok(n)
}

/// The parent a profile names, as far as this unit believes it: its own profile's parent; a
/// unit of the parent's namespace (`500103-0001` under `500103`); or this unit, for a unit it
/// enrolled. Otherwise none: a profile a child brought cannot place a unit in another subtree.
async fn believed_parent(
    conn: &mut SqliteConnection,
    me: &UnitCode,
    doc_id: &DocId,
    parent: Option<String>,
) -> Result<Option<String>, StoreError> {
    let Some(p) = parent else { return Ok(None) };
    let unit = &doc_id.unit;
    if unit == me || UnitCode::parse(&p).is_ok_and(|p| unit.is_under(&p)) {
        return Ok(Some(p));
    }
    if p == me.as_str() {
        let enrolled: bool = sqlx::query_scalar("SELECT COUNT(*) > 0 FROM children WHERE unit = ?")
            .bind(unit.as_str())
            .fetch_one(&mut *conn)
            .await?;
        if enrolled {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

async fn project_profile(
    conn: &mut SqliteConnection,
    doc_id: &DocId,
    p: &Profile,
    who: &str,
) -> Result<(), StoreError> {
    let unit = doc_id.unit.as_str();
    let old = sqlx::query("SELECT name, kind, address, parent FROM units WHERE unit = ?")
        .bind(unit)
        .fetch_optional(&mut *conn)
        .await?;
    let mut old_map = serde_json::Map::new();
    let mut new_map = serde_json::Map::new();
    let olds: [Option<String>; 4] = match &old {
        Some(r) => [Some(r.get(0)), r.get(1), r.get(2), r.get(3)],
        None => [None, None, None, None],
    };
    let news = [
        Some(p.name.clone()),
        p.kind.clone(),
        p.address.clone(),
        p.parent.clone(),
    ];
    for (i, k) in ["name", "kind", "address", "parent"].iter().enumerate() {
        if olds[i] != news[i] {
            old_map.insert(k.to_string(), json!(olds[i]));
            new_map.insert(k.to_string(), json!(news[i]));
        }
    }
    sqlx::query(
        "INSERT INTO units (unit, name, kind, address, parent, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (unit) DO UPDATE SET name = excluded.name, kind = excluded.kind,
            address = excluded.address, parent = excluded.parent, updated_at = excluded.updated_at",
    )
    .bind(unit)
    .bind(&p.name)
    .bind(&p.kind)
    .bind(&p.address)
    .bind(&p.parent)
    .bind(now())
    .execute(&mut *conn)
    .await?;
    for role in ContactRole::ALL {
        let old = sqlx::query(
            "SELECT name, position, phone, remarks FROM contacts WHERE unit = ? AND role = ?",
        )
        .bind(unit)
        .bind(role.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| crate::domain::contacts::Contact {
            name: r.get(0),
            position: r.get(1),
            phone: r.get(2),
            remarks: r.get(3),
        });
        let new = p.contact(role).cloned();
        if old == new {
            continue;
        }
        old_map.insert(role.as_str().into(), json!(old));
        new_map.insert(role.as_str().into(), json!(new));
        match new {
            Some(c) => {
                sqlx::query(
                    "INSERT INTO contacts (unit, role, name, position, phone, remarks) VALUES (?, ?, ?, ?, ?, ?)
                     ON CONFLICT (unit, role) DO UPDATE SET name = excluded.name,
                        position = excluded.position, phone = excluded.phone, remarks = excluded.remarks",
                )
                .bind(unit)
                .bind(role.as_str())
                .bind(&c.name)
                .bind(&c.position)
                .bind(&c.phone)
                .bind(&c.remarks)
                .execute(&mut *conn)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM contacts WHERE unit = ? AND role = ?")
                    .bind(unit)
                    .bind(role.as_str())
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    if !new_map.is_empty() {
        let fields: Vec<String> = new_map.keys().cloned().collect();
        sqlx::query(
            "INSERT INTO audit (at, who, doc_id, record, action, fields, old_value, new_value)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(now())
        .bind(who)
        .bind(doc_id.to_string())
        .bind(unit)
        .bind(if old.is_some() { "edit" } else { "add" })
        .bind(fields.join(","))
        .bind(serde_json::Value::Object(old_map).to_string())
        .bind(serde_json::Value::Object(new_map).to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::device_code::DeviceCode;

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
