//! `yl-hub bench`: the project's own benchmark. Scenario `sync` measures, on a district hub and
//! one institution with real TLS and real storage on loopback, the bytes on the wire and the time
//! of: the first sync of a large ledger, a reconnect after N offline edits, and a reconnect with
//! nothing changed.

mod args;
pub mod measure;
pub mod scale;
pub mod stages;
pub mod worker;

pub use args::BenchArgs;
pub use measure::Step;

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use yinglian_node::docs::document::DocId;
use yinglian_node::docs::ledger;
use yinglian_node::domain::camera::Field;
use yinglian_node::domain::unit::UnitKind;
use yinglian_node::federation::pki::Role;
use yinglian_node::store::CameraQuery;

use crate::local::LocalUnit;

use measure::{PATIENCE, city_subscriber, feed_latencies, machine, measure};

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
    let mut fed = crate::local::Federation::build(
        tmp.path(),
        &crate::local::first_districts(a.districts),
        a.institutions,
    )
    .await?;
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
    let targets = measure::local_targets(&fed).await?;
    let mut latencies = feed_latencies(city.code.as_str(), targets, &mut stream, a.edits).await?;
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
