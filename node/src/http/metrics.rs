//! Operations: `/metrics` (Prometheus text format) and `/healthz` on the operator's address,
//! and consistent backups of a running unit (`backup`, `restore`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;
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

use crate::store::{Store, StoreError};

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
        ("role".into(), id.role.to_string()),
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
    for k in store.document_kinds().await? {
        let l = vec![("kind".to_string(), k.kind)];
        docs.get_or_create(&l).set(k.documents);
        doc_bytes.get_or_create(&l).set(k.bytes);
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
    store_bytes.set(store.size_on_disk() as i64);
    reg.register(
        "store_bytes",
        "Size of the SQLite store, its WAL and shared memory on disk",
        store_bytes,
    );

    let refusals = store.refusal_count().await?;
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
    let lagged = Counter::<u64>::default();
    lagged.inc_by(store.live().sessions_lagged.load(Ordering::Relaxed));
    reg.register(
        "sync_sessions_lagged",
        "Times a sync session fell behind this unit's changes and caught up from the documents held",
        lagged,
    );
    let subscribers = Gauge::<i64>::default();
    subscribers.set(store.live().feed_subscribers.load(Ordering::Relaxed));
    reg.register(
        "feed_subscribers",
        "Feed subscribers streaming now",
        subscribers,
    );

    let stage_runs = Family::<Labels, Counter>::default();
    let stage_seconds = Family::<Labels, Counter<f64, AtomicU64>>::default();
    for (stage, runs, seconds) in crate::store::stages::totals() {
        let l = vec![("stage".to_string(), stage.name().to_string())];
        stage_runs.get_or_create(&l).inc_by(runs);
        stage_seconds.get_or_create(&l).inc_by(seconds);
    }
    reg.register(
        "stage_runs",
        "Runs of each stage of a change's journey in this process (sync_apply, project, commit, write, sync_state, push, rollup_wait, rollup_recompute, feed_send)",
        stage_runs,
    );
    reg.register(
        "stage_seconds",
        "Seconds spent in each stage of a change's journey in this process",
        stage_seconds,
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
    match store.ping().await {
        Ok(()) => "ok\n".into_response(),
        // The database's own words, as before the store answered for it.
        Err(StoreError::Sql(e)) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}\n")).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}\n")).into_response(),
    }
}

/// Serves `router` on `listener` until `shutdown` turns true.
pub async fn serve(
    store: Arc<Store>,
    listener: tokio::net::TcpListener,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    crate::http::serve_router(router(store), listener, shutdown).await
}
