//! The node's store: Automerge documents saved incrementally in SQLite (WAL) and compacted, with
//! the SQL projections (cameras, units, contacts, stats) and the audit log written in the same
//! transaction as the document change they follow, so that a crash never leaves them apart.
//!
//! Every write runs in a `BEGIN IMMEDIATE` transaction that first catches the in-memory document up
//! with any chunk another process (the CLI beside the daemon) saved, so writers never lose changes.
//!
//! This file opens and creates the store (identity, `meta`, file modes, maintenance); the rest is
//! by job: `write` (the edit path, saving, compaction), `project` (projections and audit rows),
//! `query` (reading the projections), `audit`, `peers` (sync states, enrollments), `refusals`,
//! `accounts` (the web pages' users and sessions), `feed` (the feed's events), `counts` (the ten
//! counts as SQL columns), `subscription` (what a feed subscriber received), `catalogue` (the police catalogue's rows and
//! grants).

mod accounts;
mod audit;
mod catalogue;
mod counts;
mod feed;
mod import_times;
pub mod membership;
mod offline;
mod peers;
mod project;
mod quality;
mod query;
pub mod refusal_log;
mod refusals;
mod reports;
mod rollup_days;
pub mod stages;
mod subscription;
mod worklists;
mod write;

pub use accounts::*;
pub use catalogue::*;
pub use feed::*;
pub use import_times::*;
pub use peers::*;
pub use query::*;
pub use subscription::*;
pub use worklists::*;
pub use write::*;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use automerge::ActorId;
use sqlx::Row;
use sqlx::sqlite::SqliteConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlitePool};
use tokio::sync::{Mutex, broadcast};

use crate::docs::document::DocId;
use crate::docs::ledger::LedgerError;
use crate::docs::profile::{self, ProfileError};
use crate::domain::camera::FieldError;
use crate::domain::contacts::ContactError;
use crate::domain::unit::{Role, UnitCode, UnitKind};
use crate::store::refusal_log::RefusalLog;
use crate::store::write::Slot;

/// The file that holds a node's store inside its data folder.
pub const STORE_FILE: &str = "store.sqlite";
/// The folder inside a unit's data folder that holds its keys and certificates.
pub const TLS_DIR: &str = "tls";

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

/// One node's store.
pub struct Store {
    pool: SqlitePool,
    dir: PathBuf,
    actor: ActorId,
    identity: Identity,
    cache: std::sync::Mutex<HashMap<String, std::sync::Arc<Slot>>>,
    cache_clock: std::sync::atomic::AtomicU64,
    refusal_log: RefusalLog,
    changes: broadcast::Sender<DocId>,
    live: Live,
    /// The connection every write of this process on the hot path (a change, a sync state, a
    /// peer's figures) runs on, taken in turn: the writes queue here in order instead of meeting
    /// SQLite's lock and sleeping in its busy handler, and none pays the pool's check-out (a
    /// round trip to the connection's thread when taken, another when given back).
    writer: Mutex<SqliteConnection>,
    /// Whether another task reports the other processes' writes (see
    /// [`Store::watching_other_writers`]): only then is a cached copy trusted without a query.
    others_watched: std::sync::atomic::AtomicBool,
    /// The origin of each replica asked about (it never changes once saved), and `None` for this
    /// unit's own documents held (but its rollups', whose generations are given up).
    origins: std::sync::Mutex<HashMap<DocId, Option<String>>>,
    /// The units enrolled here, read once (see [`Store::is_child_known`]).
    children_known: std::sync::Mutex<Option<std::sync::Arc<std::collections::HashSet<String>>>>,
    /// The newest generation of each hub's rollup held here, once asked (see
    /// [`Store::rollup_doc_known`]).
    generations: std::sync::Mutex<HashMap<UnitCode, u32>>,
    /// The publishing of the catalogue grants (see [`Store::publishing_grants`]).
    grants: catalogue::GrantsPublishing,
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
    /// Times a sync session fell behind the change stream and caught up from the documents held.
    pub sessions_lagged: std::sync::atomic::AtomicU64,
}

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

/// What the write-ahead log keeps of its file once a checkpoint lets it start again.
pub const WAL_KEPT_BYTES: u64 = 4 << 20;

/// The store's connections: a pool for the readers (and the rarer writes) and the one connection
/// of the hot path's writes (see `Store::writer`), together `set_connections_per_store` of them.
async fn connect(path: &Path, create: bool) -> Result<(SqlitePool, SqliteConnection), StoreError> {
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
        // The write-ahead log is reused, not shrunk: after one large transaction (an import of
        // 50,000 rows writes some 70 MB) it would keep that size for good. Cut back to this
        // when a checkpoint lets it start again.
        .pragma("journal_size_limit", WAL_KEPT_BYTES.to_string())
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(
            CONNECTIONS
                .load(std::sync::atomic::Ordering::Relaxed)
                .saturating_sub(1)
                .max(1),
        )
        // A local file does not hang up: checking a connection before every query would cost
        // a round trip to its thread each time.
        .test_before_acquire(false)
        .connect_with(opts.clone())
        .await?;
    let writer = opts.connect().await?;
    if let Some(dir) = path.parent() {
        restrict(dir)?;
    }
    Ok((pool, writer))
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
            let unit = existing.identity.unit.to_string();
            existing.close().await;
            return Err(StoreError::AlreadyInitialised(dir.to_path_buf(), unit));
        }
        if name.trim().is_empty() {
            return Err(StoreError::Refused("单位名称必须填写".into()));
        }
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(dir.to_path_buf(), e))?;
        let (pool, writer) = connect(&path, true).await?;
        let actor = ActorId::random();
        let identity = Identity {
            unit: unit.clone(),
            name: name.trim().to_string(),
            kind,
            role,
        };
        let store = Store::of_parts(pool, writer, dir, actor, identity);
        // Whatever fails, the store is closed before the error (a process about to exit would
        // leave SQLite's log behind).
        let made = async {
            MIGRATOR.run(&store.pool).await?;
            let mut tx = store.pool.begin().await?;
            for (k, v) in [
                ("unit", unit.to_string()),
                ("name", store.identity.name.clone()),
                ("kind", kind.to_string()),
                ("role", role.to_string()),
                ("actor", store.actor.to_hex_string()),
                ("created_at", now()),
            ] {
                sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?)")
                    .bind(k)
                    .bind(v)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            let name = store.identity.name.clone();
            store
                .edit(
                    &DocId::profile(unit),
                    "init",
                    "create unit profile",
                    |doc| {
                        profile::set_text(doc, "name", Some(&name))?;
                        profile::set_text(doc, "unit_kind", Some(kind.as_str()))?;
                        Ok(())
                    },
                )
                .await?;
            store
                .edit(&DocId::ledger(unit), "init", "create camera ledger", |_| {
                    Ok(())
                })
                .await
        }
        .await;
        match made {
            Ok(_) => Ok(store),
            Err(e) => {
                store.close().await;
                Err(e)
            }
        }
    }

    pub async fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(STORE_FILE);
        if !path.exists() {
            return Err(StoreError::NotInitialised(dir.to_path_buf()));
        }
        let (pool, writer) = connect(&path, false).await?;
        match Self::identity_in(&pool, dir).await {
            Ok((actor, identity)) => Ok(Store::of_parts(pool, writer, dir, actor, identity)),
            Err(e) => {
                // Closed, not dropped: a process about to exit would leave SQLite's log behind.
                let _ = sqlx::Connection::close(writer).await;
                pool.close().await;
                Err(e)
            }
        }
    }

    /// The actor and the identity a store's metadata holds (its schema migrated first).
    async fn identity_in(pool: &SqlitePool, dir: &Path) -> Result<(ActorId, Identity), StoreError> {
        MIGRATOR.run(pool).await?;
        let meta: HashMap<String, String> = sqlx::query("SELECT key, value FROM meta")
            .fetch_all(pool)
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
        let identity = Identity {
            unit,
            name: get("name")?,
            kind,
            role: Role::from_str(&get("role")?)
                .map_err(|e| StoreError::Refused(format!("store metadata: {e}")))?,
        };
        Ok((actor, identity))
    }

    fn of_parts(
        pool: SqlitePool,
        writer: SqliteConnection,
        dir: &Path,
        actor: ActorId,
        identity: Identity,
    ) -> Store {
        Store {
            pool,
            dir: dir.to_path_buf(),
            actor,
            identity,
            cache: Default::default(),
            cache_clock: Default::default(),
            refusal_log: Default::default(),
            changes: broadcast::channel(1024).0,
            live: Live::default(),
            writer: Mutex::new(writer),
            others_watched: Default::default(),
            origins: Default::default(),
            children_known: Default::default(),
            generations: Default::default(),
            grants: Default::default(),
        }
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

    /// A stamp of the store's files (sizes and modification times of the database and its WAL):
    /// when it is unchanged, no process has written since it was taken. A `stat`, not a query.
    pub fn files_stamp(&self) -> Vec<(u64, Option<std::time::SystemTime>)> {
        ["", "-wal"]
            .iter()
            .map(|s| {
                std::fs::metadata(self.dir.join(format!("{STORE_FILE}{s}")))
                    .map(|m| (m.len(), m.modified().ok()))
                    .unwrap_or((0, None))
            })
            .collect()
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

    /// Writes a consistent copy of the whole database to `file` (SQLite's `VACUUM INTO`: one read
    /// transaction, so every write is either wholly in or wholly out), while the store is in use.
    pub async fn vacuum_into(&self, file: &Path) -> Result<(), StoreError> {
        sqlx::query("VACUUM INTO ?")
            .bind(file.to_string_lossy().to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether the database answers (for `/healthz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.pool)
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
        let _ = sqlx::Connection::close(self.writer.into_inner()).await;
        self.pool.close().await;
    }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

/// What the unit tests of the layers above share: a fresh store of a hospital.
#[cfg(test)]
pub(crate) mod testing {
    /// A new store of 重庆市渝中区人民医院 (500103-0001) in a temporary folder.
    pub async fn hospital() -> (tempfile::TempDir, super::Store) {
        let dir = tempfile::tempdir().unwrap();
        let unit = crate::domain::unit::UnitCode::parse("500103-0001").unwrap();
        let s = super::Store::init(
            dir.path(),
            &unit,
            "重庆市渝中区人民医院",
            crate::domain::unit::UnitKind::Institution,
            crate::domain::unit::Role::Node,
        )
        .await
        .unwrap();
        (dir, s)
    }

    /// The device code of this hospital's camera `n` (`500103120913200` and five digits).
    pub fn code(n: u32) -> String {
        format!("500103120913200{n:05}")
    }

    /// Adds cameras `n` (named 点位`n`) to the ledger of `store` in one change.
    pub async fn add_cameras(store: &super::Store, n: impl IntoIterator<Item = u32>) {
        use crate::domain::camera::{Camera, Field, Value};
        let doc = crate::docs::document::DocId::ledger(store.unit());
        store
            .edit(&doc, "t", "add", |d| {
                for n in n {
                    let code = crate::domain::device_code::DeviceCode::parse(&code(n)).unwrap();
                    let mut c = Camera::new(code);
                    c.fields
                        .insert(Field::Name, Value::Text(format!("点位{n}")));
                    crate::docs::ledger::add_camera(d, &c)?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }

    /// Saves, for a document with nothing saved yet, a chunk that does not load: reading it
    /// fails from now on (as a disk's damage would make it), until [`mend`] takes it away.
    pub async fn damage(store: &super::Store, doc: &crate::docs::document::DocId) {
        sqlx::query(
            "INSERT INTO doc_chunks (doc_id, seq, kind, data) VALUES (?, 0, 'incremental', x'00ff')",
        )
        .bind(doc.to_string())
        .execute(&store.pool)
        .await
        .unwrap();
    }

    /// Takes away the chunk [`damage`] saved.
    pub async fn mend(store: &super::Store, doc: &crate::docs::document::DocId) {
        sqlx::query("DELETE FROM doc_chunks WHERE doc_id = ? AND data = x'00ff'")
            .bind(doc.to_string())
            .execute(&store.pool)
            .await
            .unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::testing;

    /// The write-ahead log grown by a large write is cut back to what it keeps once a
    /// checkpoint lets it start again (it kept its largest size for good).
    #[tokio::test]
    async fn the_log_of_a_large_write_is_cut_back() {
        let (dir, store) = testing::hospital().await;
        let wal = dir.path().join(format!("{}-wal", super::STORE_FILE));
        testing::add_cameras(&store, 0..12_000).await;
        let size = || std::fs::metadata(&wal).unwrap().len();
        let grown = size();
        assert!(grown > super::WAL_KEPT_BYTES, "{grown} bytes");
        testing::add_cameras(&store, [50_000]).await;
        assert!(
            size() <= super::WAL_KEPT_BYTES,
            "the log kept {} bytes of {grown}",
            size()
        );
    }
}
