//! `yl-hub bench`: the project's own benchmark. Scenario `sync` measures, on a district hub and
//! one institution with real TLS and real storage on loopback, the bytes on the wire and the time
//! of: the first sync of a large ledger, a reconnect after N offline edits, and a reconnect with
//! nothing changed.

pub mod scale;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Serialize;
use yinglian_node::docs::document::DocId;
use yinglian_node::docs::ledger;
use yinglian_node::domain::camera::Field;
use yinglian_node::domain::unit::UnitKind;
use yinglian_node::federation::pki::Role;
use yinglian_node::store::CameraQuery;

use crate::local::LocalUnit;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// federation: the whole federation at the given size (cold start, latency, reconnects,
    /// memory, floor); sync: one ledger between an institution and its district hub; feed:
    /// edit-to-city-feed latency only.
    #[arg(long, default_value = "federation")]
    pub scenario: String,
    /// Cameras in the institution's ledger (sync), or in each institution's (feed).
    #[arg(long, default_value_t = 5000)]
    pub cameras: usize,
    /// Districts (feed).
    #[arg(long, default_value_t = 10)]
    pub districts: usize,
    /// Institutions under each district (feed).
    #[arg(long, default_value_t = 10)]
    pub institutions: usize,
    /// Offline edits (one change each) before the second reconnect.
    #[arg(long, default_value_t = 1000)]
    pub edits: usize,
    /// Edits made by an institution while offline before it reconnects (federation).
    #[arg(long, default_value_t = 100)]
    pub offline_edits: usize,
    /// Where to build the federation (a temporary folder inside it; default: the system's).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Print JSON only.
    #[arg(long)]
    pub json: bool,
    /// Measure as if acknowledgements did not wait for stable storage (SQLite synchronous =
    /// NORMAL), to see what durability costs; never the setting of a real unit.
    #[arg(long)]
    pub without_fsync: bool,
}

/// One measured step.
#[derive(Debug, Serialize)]
pub struct Step {
    pub step: String,
    pub millis: f64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub frames: u64,
}

const PATIENCE: Duration = Duration::from_secs(600);

pub async fn run(a: BenchArgs) -> Result<()> {
    if a.without_fsync {
        yinglian_node::store::set_synchronous_full(false);
    }
    match a.scenario.as_str() {
        "sync" => {}
        "feed" => return feed_scenario(&a).await,
        "federation" => return scale::run(&a).await,
        other => bail!("unknown scenario \"{other}\": use federation, sync or feed"),
    }
    let steps = sync_scenario(a.cameras, a.edits).await?;
    let out = serde_json::json!({
        "scenario": "sync",
        "cameras": a.cameras,
        "edits": a.edits,
        "machine": machine(),
        "steps": steps,
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "scenario sync: an institution with {} cameras and its district hub, mTLS on loopback",
            a.cameras
        );
        println!("| step | time (ms) | bytes sent | bytes received | frames |");
        println!("| --- | ---: | ---: | ---: | ---: |");
        for s in &steps {
            println!(
                "| {} | {:.1} | {} | {} | {} |",
                s.step, s.millis, s.bytes_sent, s.bytes_received, s.frames
            );
        }
    }
    Ok(())
}

pub(crate) fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{} CPUs, {}", cpus, std::env::consts::OS)
}

async fn sync_scenario(cameras: usize, edits: usize) -> Result<Vec<Step>> {
    yinglian_node::federation::pki::install_crypto();
    let tmp = tempfile::tempdir()?;
    let mut district = LocalUnit::create(
        &tmp.path().join("500103"),
        "500103",
        "渝中区卫生健康委员会",
        UnitKind::District,
        Role::Hub,
    )
    .await?;
    district.init_root().await?;
    let mut inst = LocalUnit::create(
        &tmp.path().join("500103-0001"),
        "500103-0001",
        "重庆医科大学附属第一医院",
        UnitKind::Institution,
        Role::Node,
    )
    .await?;
    district.enroll(&inst).await?;
    eprintln!("generating {cameras} cameras ...");
    inst.generate_cameras("500103", cameras, 1).await?;
    district.start().await?;
    let ledger = DocId::ledger(&inst.code);
    let mut steps = Vec::new();

    // (1) First sync of the whole ledger.
    let s = measure(&mut inst, &district, "first sync", |inst, district| {
        let ledger = ledger.clone();
        async move { inst.heads(&ledger).await == district.heads(&ledger).await }
    })
    .await?;
    steps.push(s);

    // (2) Reconnect after N offline edits, one change each.
    inst.stop().await;
    let (rows, _) = inst
        .store
        .cameras(
            inst.code.as_str(),
            &CameraQuery {
                limit: Some(edits as i64),
                ..Default::default()
            },
        )
        .await?;
    eprintln!("making {} offline edits ...", rows.len().min(edits));
    let edits_started = Instant::now();
    for (i, r) in rows.iter().enumerate() {
        let code = r.camera.device_code.to_string();
        inst.store
            .edit(&ledger, "bench", "edit", |d| {
                let name = Field::Name.parse_value(&format!("离线修改{i}"))?;
                Ok(ledger::set_fields(d, &code, &[(Field::Name, name)])?)
            })
            .await?;
    }
    // Each edit is acknowledged only once on stable storage: what that costs.
    steps.push(Step {
        step: format!(
            "{} edits, each acknowledged (synchronous={})",
            rows.len(),
            if yinglian_node::store::synchronous_full() {
                "FULL"
            } else {
                "NORMAL"
            }
        ),
        millis: edits_started.elapsed().as_secs_f64() * 1000.0,
        bytes_sent: 0,
        bytes_received: 0,
        frames: 0,
    });
    let s = measure(
        &mut inst,
        &district,
        &format!("reconnect after {} offline edits", rows.len()),
        |inst, district| {
            let ledger = ledger.clone();
            async move { inst.heads(&ledger).await == district.heads(&ledger).await }
        },
    )
    .await?;
    steps.push(s);

    // (3) Reconnect with nothing changed.
    inst.stop().await;
    let s = measure(
        &mut inst,
        &district,
        "reconnect, nothing changed",
        |_, _| async { true },
    )
    .await?;
    steps.push(s);
    inst.stop().await;
    district.stop().await;
    Ok(steps)
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

/// Edit-to-city-feed latency: a subscriber at the city watches the feed; one institution after
/// another marks a camera networked (or not); the time from the edit's commit at the institution
/// to the city's changed totals arriving on the subscriber's stream, for every edit.
async fn feed_scenario(a: &BenchArgs) -> Result<()> {
    use yinglian_node::federation::pki::TlsMaterial;
    use yinglian_proto::v1::SubscribeRequest;
    use yinglian_proto::v1::feed_client::FeedClient;

    yinglian_node::federation::pki::install_crypto();
    let tmp = tempfile::tempdir()?;
    eprintln!(
        "building a federation of 1 city, {} districts, {} institutions each ...",
        a.districts, a.institutions
    );
    let mut fed = crate::local::Federation::build(tmp.path(), a.districts, a.institutions).await?;
    let mut want = 0;
    for (d, list) in fed.institutions.iter().enumerate() {
        for (i, inst) in list.iter().enumerate() {
            let district = crate::local::area_code(&fed.districts[d].code);
            inst.generate_cameras(&district, a.cameras, (d * 100 + i + 1) as u64)
                .await?;
            want += inst.store.counts(inst.code.as_str()).await?.0.built;
        }
    }
    let sub_dir = city_subscriber(&fed, tmp.path()).await?;
    fed.start_all().await?;
    let started = Instant::now();
    let city = &fed.city;
    loop {
        let s = yinglian_node::app::figures::subtree_stats(&city.store, None).await?;
        if s.built == want {
            break;
        }
        if started.elapsed() > PATIENCE {
            bail!("the city did not catch up with {want} cameras");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cold = started.elapsed();
    eprintln!(
        "city caught up with {want} cameras in {:.1} s; measuring {} edits ...",
        cold.as_secs_f64(),
        a.edits
    );
    let tls = TlsMaterial::load(&sub_dir)?;
    let channel = yinglian_node::federation::net::connect(&tls, &city.url(), &city.code).await?;
    let mut stream = FeedClient::new(channel)
        .subscribe(SubscribeRequest {
            scope: String::new(),
            cursor: 0,
        })
        .await?
        .into_inner();
    let mut latencies = feed_latencies(&fed, &mut stream, a.edits).await?;
    latencies.sort_by(|x, y| x.total_cmp(y));
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    let out = serde_json::json!({
        "scenario": "feed",
        "districts": a.districts,
        "institutions": a.institutions,
        "cameras_per_institution": a.cameras,
        "cameras": want,
        "edits": latencies.len(),
        "machine": machine(),
        "cold_start_ms": cold.as_secs_f64() * 1000.0,
        "latency_ms": { "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1.0) },
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "scenario feed: city ← {} districts ← {} institutions each, {} cameras, mTLS on loopback",
            a.districts, a.institutions, want
        );
        println!("| edits | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |");
        println!("| ---: | ---: | ---: | ---: | ---: |");
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            latencies.len(),
            pct(0.5),
            pct(0.9),
            pct(0.99),
            pct(1.0)
        );
    }
    fed.stop_all().await;
    Ok(())
}

/// The city's feed stream as a subscriber receives it.
pub(crate) type FeedStream = tonic::Streaming<yinglian_proto::v1::FeedEvent>;

/// Reads the snapshot of a fresh city feed, then makes `edits` edits (one institution after
/// another marks a camera networked or not) and returns, for each, the milliseconds from its
/// commit at the institution to the city's changed totals on the stream.
pub(crate) async fn feed_latencies(
    fed: &crate::local::Federation,
    stream: &mut FeedStream,
    edits: usize,
) -> Result<Vec<f64>> {
    use yinglian_node::domain::figures::CameraFlags;
    use yinglian_proto::v1::feed_event;
    let city = &fed.city;
    let mut networked = 0;
    loop {
        let e = stream
            .message()
            .await?
            .ok_or_else(|| anyhow::anyhow!("the feed ended"))?;
        if let Some(r) = &e.row
            && r.unit == city.code.as_str()
        {
            networked = r.networked;
        }
        if e.kind == feed_event::Kind::SnapshotEnd as i32 {
            break;
        }
    }
    // Every institution's built cameras, round robin.
    let mut targets = Vec::new();
    for list in &fed.institutions {
        for inst in list {
            let (rows, _) = inst
                .store
                .cameras(inst.code.as_str(), &Default::default())
                .await?;
            let cams: Vec<(String, bool)> = rows
                .iter()
                .filter(|r| CameraFlags::of(&r.camera).built)
                .map(|r| {
                    (
                        r.camera.device_code.to_string(),
                        CameraFlags::of(&r.camera).networked,
                    )
                })
                .collect();
            targets.push((inst, cams));
        }
    }
    let mut latencies = Vec::with_capacity(edits);
    for k in 0..edits {
        let n = targets.len();
        let (inst, cams) = &mut targets[k % n];
        let idx = (k / n) % cams.len().max(1);
        let Some((code, on)) = cams.get_mut(idx) else {
            continue;
        };
        *on = !*on;
        let expected = if *on { networked + 1 } else { networked - 1 };
        let value = if *on { "是" } else { "否" };
        let code = code.clone();
        inst.store
            .edit(&DocId::ledger(&inst.code), "bench", "network", |d| {
                let v = Field::Networked.parse_value(value)?;
                Ok(ledger::set_fields(d, &code, &[(Field::Networked, v)])?)
            })
            .await?;
        let t0 = Instant::now();
        loop {
            let e = tokio::time::timeout(Duration::from_secs(60), stream.message())
                .await
                .map_err(|_| {
                    anyhow::anyhow!("edit {k}: the city's feed did not change within 60 s")
                })??
                .ok_or_else(|| anyhow::anyhow!("the feed ended"))?;
            if let Some(r) = &e.row
                && r.unit == city.code.as_str()
                && r.hub == city.code.as_str()
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
