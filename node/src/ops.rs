//! Operations: `/metrics` (Prometheus text format) and `/healthz` on the operator's address,
//! and consistent backups of a running unit (`backup`, `restore`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sqlx::Row;

use crate::store::{STORE_FILE, Store};

type Labels = Vec<(String, String)>;

/// The unit's metrics now, in Prometheus' text exposition format. Everything is read from the
/// store (what the sync engine records per peer) and the daemon's live counters, so a scrape
/// never disturbs syncing.
pub async fn render(store: &Store) -> Result<String> {
    let mut reg = Registry::with_prefix("yl");
    let id = store.identity();
    let info = Family::<Labels, Gauge>::default();
    info.get_or_create(&vec![
        ("unit".into(), id.unit.to_string()),
        ("role".into(), id.role.clone()),
        ("kind".into(), id.kind.to_string()),
        ("version".into(), env!("CARGO_PKG_VERSION").into()),
    ])
    .set(1);
    reg.register("unit_info", "This unit (the labels say which)", info);

    let peers = store.peers().await?;
    let connected = Gauge::<i64>::default();
    connected.set(peers.iter().filter(|p| p.connected).count() as i64);
    reg.register(
        "peers_connected",
        "Peers (parent and children) connected now",
        connected,
    );
    let up = Family::<Labels, Gauge>::default();
    let lag = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    let sent = Family::<Labels, Counter>::default();
    let received = Family::<Labels, Counter>::default();
    let stuck = Family::<Labels, Gauge>::default();
    let now = chrono::Utc::now();
    for p in &peers {
        let l = vec![
            ("peer".to_string(), p.peer.clone()),
            ("relation".to_string(), p.relation.clone()),
        ];
        up.get_or_create(&l).set(p.connected as i64);
        stuck.get_or_create(&l).set(p.stuck_since.is_some() as i64);
        if let Some(at) = p
            .last_sync_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        {
            let secs = (now - at.with_timezone(&chrono::Utc)).num_milliseconds() as f64 / 1000.0;
            lag.get_or_create(&l).set(secs.max(0.0));
        }
        sent.get_or_create(&l).inc_by(p.bytes_sent.max(0) as u64);
        received
            .get_or_create(&l)
            .inc_by(p.bytes_received.max(0) as u64);
    }
    reg.register("peer_connected", "1 while the peer is connected", up);
    reg.register(
        "peer_stuck",
        "1 while a document cannot make progress with the peer (`status` says since when and why)",
        stuck,
    );
    reg.register(
        "sync_lag_seconds",
        "Seconds since the last sync exchange with the peer",
        lag,
    );
    reg.register("sync_sent_bytes", "Sync bytes sent to the peer", sent);
    reg.register(
        "sync_received_bytes",
        "Sync bytes received from the peer",
        received,
    );

    let docs = Family::<Labels, Gauge>::default();
    let doc_bytes = Family::<Labels, Gauge>::default();
    for r in sqlx::query(
        "SELECT substr(doc_id, 1, instr(doc_id, '/') - 1) AS kind, COUNT(*), COALESCE(SUM(bytes), 0)
         FROM documents GROUP BY kind ORDER BY kind",
    )
    .fetch_all(store.pool())
    .await?
    {
        let l = vec![("kind".to_string(), r.get::<String, _>(0))];
        docs.get_or_create(&l).set(r.get::<i64, _>(1));
        doc_bytes.get_or_create(&l).set(r.get::<i64, _>(2));
    }
    reg.register(
        "documents",
        "Documents held here (own and replicas), by kind",
        docs,
    );
    reg.register(
        "document_bytes",
        "Saved Automerge bytes of the documents, by kind",
        doc_bytes,
    );

    let store_bytes = Gauge::<i64>::default();
    store_bytes.set(
        ["", "-wal"]
            .iter()
            .filter_map(|s| std::fs::metadata(store.dir().join(format!("{STORE_FILE}{s}"))).ok())
            .map(|m| m.len() as i64)
            .sum(),
    );
    reg.register(
        "store_bytes",
        "Size of the SQLite store and its WAL on disk",
        store_bytes,
    );

    let refusals: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refusals")
        .fetch_one(store.pool())
        .await?;
    let refused = Counter::<u64>::default();
    refused.inc_by(refusals as u64);
    reg.register(
        "refusals",
        "Connections and changes refused (recorded with the peer and the reason)",
        refused,
    );
    let handshakes = Counter::<u64>::default();
    handshakes.inc_by(store.live().handshakes_refused.load(Ordering::Relaxed));
    reg.register(
        "handshakes_refused",
        "TLS handshakes refused since the daemon started (recorded per source and minute)",
        handshakes,
    );
    let subscribers = Gauge::<i64>::default();
    subscribers.set(store.live().feed_subscribers.load(Ordering::Relaxed));
    reg.register(
        "feed_subscribers",
        "Feed subscribers streaming now",
        subscribers,
    );

    let mut out = String::new();
    encode(&mut out, &reg)?;
    Ok(out)
}

/// `/metrics` and `/healthz`, without sign-in: serve them on loopback or the monitoring network.
pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(store)
}

async fn metrics(State(store): State<Arc<Store>>) -> Response {
    match render(&store).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// Healthy when the store answers.
async fn healthz(State(store): State<Arc<Store>>) -> Response {
    match sqlx::query_scalar::<_, i64>("SELECT 1")
        .fetch_one(store.pool())
        .await
    {
        Ok(_) => "ok\n".into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}\n")).into_response(),
    }
}

/// Serves `router` on `listener` until `shutdown` turns true.
pub async fn serve(
    store: Arc<Store>,
    listener: tokio::net::TcpListener,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    crate::web::serve_router(router(store), listener, shutdown).await
}

/// What a backup holds.
#[derive(Debug)]
pub struct Backup {
    pub dir: PathBuf,
    pub store_bytes: u64,
    pub files: usize,
}

/// Writes a consistent snapshot of the unit to `out` while it runs: the store (SQLite's
/// `VACUUM INTO`, one read transaction, so every write is either wholly in or wholly out) and the
/// unit's keys and certificates. `out` must not exist; it appears only when complete.
pub async fn backup(store: &Store, out: &Path) -> Result<Backup> {
    if out.exists() {
        bail!(
            "{} already exists: give a new folder for the backup",
            out.display()
        );
    }
    let tmp = staging(out, ".yl-backup-")?;
    let snapshot = tmp.path().join(STORE_FILE);
    sqlx::query("VACUUM INTO ?")
        .bind(snapshot.to_string_lossy().to_string())
        .execute(store.pool())
        .await
        .context("snapshot of the store")?;
    let files = 1 + copy_files(
        &store.dir().join(crate::pki::TLS_DIR),
        &tmp.path().join(crate::pki::TLS_DIR),
    )?;
    let store_bytes = std::fs::metadata(&snapshot)?.len();
    private_tree(tmp.path())?;
    let kept = tmp.keep();
    std::fs::rename(&kept, out)
        .with_context(|| format!("cannot move the backup into {}", out.display()))?;
    Ok(Backup {
        dir: out.to_path_buf(),
        store_bytes,
        files,
    })
}

/// A temporary folder beside `target` (same file system), to fill and then rename into place.
fn staging(target: &Path, prefix: &str) -> Result<tempfile::TempDir> {
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(parent)
        .with_context(|| format!("cannot write in {}", parent.display()))
}

/// Makes a folder and everything in it its owner's alone (folders 0700, files 0600): a backup
/// holds the store (accounts, sessions) and the unit's private keys.
fn private_tree(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            if p.is_dir() {
                private_tree(&p)?;
            } else {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    Ok(())
}

/// Copies the files of the folder `from` (if it exists) into `to`; returns how many.
fn copy_files(from: &Path, to: &Path) -> Result<usize> {
    if !from.is_dir() {
        return Ok(0);
    }
    std::fs::create_dir_all(to)?;
    let mut n = 0;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))
                .with_context(|| format!("copying {}", e.path().display()))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Restores a backup into the empty data folder `data`. The restored unit writes under a new
/// Automerge actor from now on, and forgets what it knew of its peers' sync state, so that edits
/// made after the backup (which its parent still holds) come back on the first sync and never
/// collide with new ones.
pub async fn restore(from: &Path, data: &Path) -> Result<crate::unit::UnitCode> {
    if !from.join(STORE_FILE).is_file() {
        bail!("{} is not a backup: it has no {STORE_FILE}", from.display());
    }
    if data.join(STORE_FILE).exists() {
        bail!(
            "{} already holds a unit: move it aside first, then restore into the empty folder",
            data.display()
        );
    }
    let tmp = staging(data, ".yl-restore-")?;
    std::fs::copy(from.join(STORE_FILE), tmp.path().join(STORE_FILE))?;
    copy_files(
        &from.join(crate::pki::TLS_DIR),
        &tmp.path().join(crate::pki::TLS_DIR),
    )?;
    let unit = {
        let store = Store::open(tmp.path())
            .await
            .with_context(|| format!("{} does not open as a store", from.display()))?;
        store.rotate_actor().await?;
        let unit = store.unit().clone();
        store.close().await;
        unit
    };
    // Into place: the folder itself when it is absent or empty.
    if data.exists() {
        if std::fs::read_dir(data)?.next().is_some() {
            bail!(
                "{} is not empty: restore into an empty folder",
                data.display()
            );
        }
        std::fs::remove_dir(data)?;
    }
    private_tree(tmp.path())?;
    let kept = tmp.keep();
    std::fs::rename(&kept, data)
        .with_context(|| format!("cannot move the restored unit into {}", data.display()))?;
    Ok(unit)
}
