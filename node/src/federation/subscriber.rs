//! The feed subscriber's side, written once for `yl-hub subscribe`, its page and the demo's
//! police: follow the Feed of a scope at the parent hub over mutual TLS, from the cursor stored;
//! keep what arrives in the subscriber's own store (a snapshot's rows, or a change, written in one
//! transaction with the cursor, so that a restart resumes exactly); reconnect with jittered
//! backoff when the stream breaks; stop for good when the hub refuses the subscription
//! (PermissionDenied, Unauthenticated, a bad scope), saying why in Chinese. What the follower
//! knows now (connected, since when, refused) is published on a `watch` channel.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::{info, warn};
use yinglian_proto::v1::feed_client::FeedClient;
use yinglian_proto::v1::{FeedEvent, FigureRow, SubscribeRequest, feed_event};

use crate::domain::figures::Stats;
use crate::domain::unit::UnitCode;
use crate::federation::pki::TlsMaterial;
use crate::store::Store;

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`] while connecting fails.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What to follow.
#[derive(Debug, Clone, Default)]
pub struct Follow {
    /// The unit whose subtree to watch; empty: the scope the subscriber was enrolled with.
    pub scope: String,
    /// Start again with a snapshot instead of resuming from the stored cursor.
    pub from_start: bool,
}

/// What the follower knows now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedState {
    /// The stream is open now.
    pub connected: bool,
    /// Since when the open stream is open.
    pub since: Option<DateTime<Utc>>,
    /// When a stream was last open (the moment it broke), while reconnecting.
    pub last_connected: Option<DateTime<Utc>>,
    /// The hub refused the subscription for good: why, in Chinese. The follower has stopped.
    pub refused: Option<String>,
    /// Rows of snapshots stored by this process.
    pub snapshot_rows: u64,
    /// Changes stored by this process.
    pub changes: u64,
    /// The cursor stored: the feed resumes after it.
    pub cursor: u64,
}

/// A subscription the hub refused for good.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{zh} (the hub said: {message})")]
pub struct Refused {
    /// Why, as a person reads it.
    pub zh: String,
    /// The hub's own words, for the log.
    pub message: String,
}

/// How following ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// `shutdown` turned true.
    Stopped,
    Refused(Refused),
}

/// The figures of a wire row (the stats contract; the key areas' built counts do not travel).
pub fn stats_of(row: &FigureRow) -> Stats {
    Stats {
        unit: row.unit.clone(),
        name: row.name.clone(),
        built: row.built,
        must_network: row.must_network,
        networked: row.networked,
        networking_rate: row.networking_rate,
        archived: row.archived,
        archive_rate: row.archive_rate,
        geo_tagged: row.geo_tagged,
        geo_rate: row.geo_rate,
        in_service: row.in_service,
        intact_rate: row.intact_rate,
        intact_rate_key_public: row.intact_rate_key_public,
        intact_rate_key_industry: row.intact_rate_key_industry,
        key_public_built: 0,
        key_industry_built: 0,
        as_of: row.as_of.clone(),
        milestone: None,
        findings_errors: Some(row.findings_errors),
        findings_warnings: Some(row.findings_warnings),
        service_rate_30d: None,
        mean_repair_hours_30d: None,
        children: Vec::new(),
    }
}

/// The refusal a status says, if the hub refused the subscription for good.
fn refusal(status: &tonic::Status) -> Option<Refused> {
    use tonic::Code::*;
    matches!(
        status.code(),
        PermissionDenied | Unauthenticated | InvalidArgument
    )
    .then(|| Refused {
        zh: crate::app::zh::feed_refusal(status.message()),
        message: status.message().to_string(),
    })
}

/// Follows the feed `f` of the hub this subscriber joined, storing what arrives in `store`
/// (whose folder holds the subscriber's keys), until `shutdown` turns true or the hub refuses
/// the subscription. `on_event` sees every event as it arrives, before it is stored (the
/// command line prints it); `state` is kept current.
pub async fn follow(
    store: Arc<Store>,
    f: Follow,
    state: watch::Sender<FeedState>,
    mut on_event: impl FnMut(&FeedEvent) + Send,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Ended> {
    let parent = store.meta("parent_unit").await?.ok_or_else(|| {
        anyhow::anyhow!("本单位还没有加入上级：请先运行 join --bundle 登记包文件")
    })?;
    let parent = UnitCode::parse(&parent)?;
    let url = store.meta("parent_url").await?.unwrap_or_default();
    let tls = TlsMaterial::load(store.dir())?;
    let scope = f.scope;
    let mut cursor = if f.from_start {
        0
    } else {
        store.subscribed_cursor(&scope).await?
    };
    state.send_modify(|s| s.cursor = cursor);
    let mut delay = FIRST_BACKOFF;
    loop {
        let once = stream_once(
            &store,
            &tls,
            &url,
            &parent,
            &scope,
            &mut cursor,
            &mut delay,
            &state,
            &mut on_event,
        );
        let outcome = tokio::select! {
            r = once => r,
            _ = shutdown.wait_for(|s| *s) => {
                disconnected(&state);
                return Ok(Ended::Stopped);
            }
        };
        disconnected(&state);
        match outcome {
            Ok(()) => info!(cursor, "the hub ended the feed; resuming"),
            Err(e) => {
                let status = e.downcast_ref::<tonic::Status>();
                if let Some(r) = status.and_then(refusal) {
                    warn!(reason = %r.message, "the hub refused the subscription: following stops");
                    state.send_modify(|s| s.refused = Some(r.zh.clone()));
                    return Ok(Ended::Refused(r));
                }
                if status.is_some_and(|s| s.code() == tonic::Code::OutOfRange) {
                    // The hub's feed is behind the cursor (it was restored from a backup): start
                    // again from a snapshot, which replaces the rows held.
                    warn!(cursor, error = %e, "the hub's feed is behind the stored cursor; taking a new snapshot");
                    cursor = 0;
                } else {
                    warn!(error = %e, cursor, "feed interrupted; resuming");
                }
            }
        }
        let wait = delay.mul_f64(0.5 + rand::random::<f64>());
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|s| *s) => return Ok(Ended::Stopped),
        }
        delay = (delay * 2).min(MAX_BACKOFF);
    }
}

/// The stream broke (or the follower stops): not connected, last connected now.
fn disconnected(state: &watch::Sender<FeedState>) {
    state.send_if_modified(|s| {
        if !s.connected {
            return false;
        }
        s.connected = false;
        s.last_connected = Some(Utc::now());
        true
    });
}

/// One stream: connect, subscribe after `cursor`, store every event, until the stream ends.
#[allow(clippy::too_many_arguments)]
async fn stream_once(
    store: &Store,
    tls: &TlsMaterial,
    url: &str,
    parent: &UnitCode,
    scope: &str,
    cursor: &mut u64,
    delay: &mut Duration,
    state: &watch::Sender<FeedState>,
    on_event: &mut (impl FnMut(&FeedEvent) + Send),
) -> Result<()> {
    let channel = crate::federation::net::connect(tls, url, parent).await?;
    let mut stream = FeedClient::new(channel)
        .subscribe(SubscribeRequest {
            scope: scope.to_string(),
            cursor: *cursor,
        })
        .await?
        .into_inner();
    info!(%parent, scope, cursor = *cursor, "following the feed");
    *delay = FIRST_BACKOFF;
    state.send_modify(|s| {
        s.connected = true;
        s.since = Some(Utc::now());
    });
    let mut snapshot: Vec<(String, Stats)> = Vec::new();
    while let Some(e) = stream.message().await? {
        on_event(&e);
        match feed_event::Kind::try_from(e.kind) {
            Ok(feed_event::Kind::Snapshot) => {
                if let Some(row) = &e.row {
                    snapshot.push((row.hub.clone(), stats_of(row)));
                }
            }
            Ok(feed_event::Kind::SnapshotEnd) => {
                store.take_snapshot(scope, &snapshot, e.cursor).await?;
                *cursor = e.cursor;
                let rows = std::mem::take(&mut snapshot).len() as u64;
                state.send_modify(|s| {
                    s.snapshot_rows += rows;
                    s.cursor = e.cursor;
                });
            }
            _ => {
                if let Some(row) = &e.row {
                    store
                        .take_change(scope, e.cursor, &row.hub, &stats_of(row))
                        .await?;
                }
                *cursor = e.cursor;
                state.send_modify(|s| {
                    s.changes += 1;
                    s.cursor = e.cursor;
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wire_row_reads_as_the_stats_contract() {
        let row = FigureRow {
            unit: "500103".into(),
            name: "渝中区卫生健康委员会".into(),
            hub: "500000".into(),
            built: 10,
            must_network: 8,
            networked: 6,
            networking_rate: Some(75.0),
            intact_rate_key_public: Some(50.0),
            as_of: "2026-11-26T02:01:23.468Z".into(),
            ..Default::default()
        };
        let s = stats_of(&row);
        assert_eq!((s.built, s.must_network, s.networked), (10, 8, 6));
        assert_eq!(s.networking_rate, Some(75.0));
        assert_eq!(s.intact_rate_key_public, Some(50.0));
        assert_eq!(s.intact_rate_key_industry, None);
        assert_eq!(s.as_of, row.as_of);
    }

    #[test]
    fn only_a_refusal_stops_following() {
        let r = refusal(&tonic::Status::permission_denied(
            "open feed ended: unit GA-500000 was revoked at 2026-11-26T02:01:23Z",
        ))
        .expect("a refusal");
        assert_eq!(r.zh, "本单位的订阅证书已被上级吊销");
        assert!(refusal(&tonic::Status::unauthenticated("no client certificate")).is_some());
        for s in [
            tonic::Status::unavailable("the hub is restarting"),
            tonic::Status::resource_exhausted("cut off"),
            tonic::Status::out_of_range("cursor ahead"),
        ] {
            assert!(refusal(&s).is_none(), "{s:?}");
        }
    }
}
