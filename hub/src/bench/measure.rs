//! What the bench's scenarios share: one measured step (time, bytes and frames of a session until
//! it is in sync), the edit-to-city-feed latencies, the city's subscriber, the machine's
//! description.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Serialize;
use yinglian_node::federation::pki::Role;

use crate::local::LocalUnit;

/// One measured step.
#[derive(Debug, Serialize)]
pub struct Step {
    pub step: String,
    pub millis: f64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub frames: u64,
}

/// How long one measured step may take.
pub(crate) const PATIENCE: Duration = Duration::from_secs(600);

pub(crate) fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{} CPUs, {}", cpus, std::env::consts::OS)
}

/// Starts `inst`, waits until its session reports every document in sync with the district and
/// `done` holds, and returns the time and the bytes of that session.
pub(crate) async fn measure<'a, F, Fut>(
    inst: &'a mut LocalUnit,
    district: &'a LocalUnit,
    step: &str,
    done: F,
) -> Result<Step>
where
    F: Fn(&'a LocalUnit, &'a LocalUnit) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    inst.start().await?;
    let inst: &'a LocalUnit = inst;
    let stats = inst
        .engine
        .as_ref()
        .expect("started")
        .peer_stats(district.code.as_str());
    let (sent0, recv0) = (stats.sent(), stats.received());
    let frames0 =
        stats.frames_sent.load(Ordering::Relaxed) + stats.frames_received.load(Ordering::Relaxed);
    let synced0 = stats.synced.load(Ordering::Relaxed);
    let deadline = started + PATIENCE;
    loop {
        let woken = stats.synced_notify.notified();
        if stats.synced.load(Ordering::Relaxed) > synced0 && done(inst, district).await {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("{step}: not in sync after {PATIENCE:?}");
        }
        // Woken by the session, or checked again every 50 ms (`done` may lag the session).
        let _ = tokio::time::timeout(left.min(Duration::from_millis(50)), woken).await;
    }
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    Ok(Step {
        step: step.to_string(),
        millis,
        bytes_sent: stats.sent() - sent0,
        bytes_received: stats.received() - recv0,
        frames: stats.frames_sent.load(Ordering::Relaxed)
            + stats.frames_received.load(Ordering::Relaxed)
            - frames0,
    })
}

/// The city's feed stream as a subscriber receives it.
pub(crate) type FeedStream = tonic::Streaming<yinglian_proto::v1::FeedEvent>;

/// Where an institution that makes latency edits runs: in this process or in a bench worker.
pub(crate) enum Runs<'a> {
    Here(&'a LocalUnit),
    Worker(&'a super::worker::Worker),
}

/// An institution that makes latency edits, with its built cameras (device code, networked).
pub(crate) struct Target<'a> {
    pub runs: Runs<'a>,
    pub unit: String,
    pub cameras: Vec<(String, bool)>,
}

/// Every institution of `fed`, in this process, as latency targets.
pub(crate) async fn local_targets(fed: &crate::local::Federation) -> Result<Vec<Target<'_>>> {
    let mut targets = Vec::new();
    for inst in fed.institutions.iter().flatten() {
        targets.push(Target {
            runs: Runs::Here(inst),
            unit: inst.code.to_string(),
            cameras: super::worker::built_cameras(inst).await?,
        });
    }
    Ok(targets)
}

/// Reads the snapshot of a fresh city feed, then makes `edits` edits (one institution of
/// `targets` after another, round robin, marks a camera networked or not) and returns, for each,
/// the milliseconds from its commit at the institution to the city's changed totals on the
/// stream. An edit in a worker is timed from its answer (the commit, a pipe away).
pub(crate) async fn feed_latencies(
    city: &str,
    mut targets: Vec<Target<'_>>,
    stream: &mut FeedStream,
    edits: usize,
) -> Result<Vec<f64>> {
    use yinglian_proto::v1::feed_event;
    let mut networked = 0;
    loop {
        let e = stream
            .message()
            .await?
            .ok_or_else(|| anyhow::anyhow!("the feed ended"))?;
        if let Some(r) = &e.row
            && r.unit == city
        {
            networked = r.networked;
        }
        if e.kind == feed_event::Kind::SnapshotEnd as i32 {
            break;
        }
    }
    let mut latencies = Vec::with_capacity(edits);
    for k in 0..edits {
        let n = targets.len();
        let t = &mut targets[k % n];
        let idx = (k / n) % t.cameras.len().max(1);
        let Some((code, on)) = t.cameras.get_mut(idx) else {
            continue;
        };
        *on = !*on;
        let expected = if *on { networked + 1 } else { networked - 1 };
        match t.runs {
            Runs::Here(inst) => super::worker::set_networked(inst, code, *on).await?,
            Runs::Worker(w) => {
                w.ask(&super::worker::Request::SetNetworked {
                    unit: t.unit.clone(),
                    code: code.clone(),
                    networked: *on,
                })?;
            }
        }
        let t0 = Instant::now();
        loop {
            let e = tokio::time::timeout(Duration::from_secs(60), stream.message())
                .await
                .map_err(|_| {
                    anyhow::anyhow!("edit {k}: the city's feed did not change within 60 s")
                })??
                .ok_or_else(|| anyhow::anyhow!("the feed ended"))?;
            if let Some(r) = &e.row
                && r.unit == city
                && r.hub == city
                && r.networked == expected
            {
                break;
            }
        }
        latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
        networked = expected;
    }
    Ok(latencies)
}

/// Enrolls the public security's subscriber (`GA-500000`, scope: the city) at the city, in a
/// folder under `root`; returns the folder.
pub(crate) async fn city_subscriber(
    fed: &crate::local::Federation,
    root: &std::path::Path,
) -> Result<std::path::PathBuf> {
    use yinglian_node::domain::unit::UnitCode;
    use yinglian_node::federation::pki::Validity;
    let dir = root.join("GA-500000");
    let sub = UnitCode::parse("GA-500000")?;
    let request = yinglian_node::federation::pki::make_request(&dir, &sub, false)?;
    let bundle = fed
        .city
        .issue(
            &request,
            &sub,
            Role::Subscriber,
            Some(fed.city.code.clone()),
            Validity::days(30),
        )
        .await?;
    yinglian_node::federation::pki::join(&dir, &sub, &bundle)?;
    Ok(dir)
}
