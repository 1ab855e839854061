//! `yl-hub bench`: the project's own benchmark. Scenario `sync` measures, on a district hub and
//! one institution with real TLS and real storage on loopback, the bytes on the wire and the time
//! of: the first sync of a large ledger, a reconnect after N offline edits, and a reconnect with
//! nothing changed.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Serialize;
use yinglian_node::camera::Field;
use yinglian_node::document::DocId;
use yinglian_node::ledger;
use yinglian_node::pki::Role;
use yinglian_node::store::CameraQuery;
use yinglian_node::unit::UnitKind;

use crate::local::LocalUnit;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// sync: one ledger between an institution and its district hub.
    #[arg(long, default_value = "sync")]
    pub scenario: String,
    /// Cameras in the institution's ledger.
    #[arg(long, default_value_t = 5000)]
    pub cameras: usize,
    /// Offline edits (one change each) before the second reconnect.
    #[arg(long, default_value_t = 1000)]
    pub edits: usize,
    /// Print JSON only.
    #[arg(long)]
    pub json: bool,
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
    if a.scenario != "sync" {
        bail!(
            "unknown scenario \"{}\": this version measures `sync`",
            a.scenario
        );
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

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{} CPUs, {}", cpus, std::env::consts::OS)
}

async fn sync_scenario(cameras: usize, edits: usize) -> Result<Vec<Step>> {
    yinglian_node::pki::install_crypto();
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
    for (i, r) in rows.iter().enumerate() {
        let code = r.camera.device_code.to_string();
        inst.store
            .edit(&ledger, "bench", "edit", |d| {
                let name = Field::Name.parse_value(&format!("离线修改{i}"))?;
                Ok(ledger::set_fields(d, &code, &[(Field::Name, name)])?)
            })
            .await?;
    }
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
async fn measure<'a, F, Fut>(
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
