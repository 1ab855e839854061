//! `yl-hub bench --scenario federation`: the federation at a chosen size (districts ×
//! institutions × cameras) with real TLS and storage. The city and every district hub run as
//! their own `yl-hub serve` processes (so that each one's peak memory is its own); the
//! institutions run in this process. Measures (a) cold start, (b) edit-to-city-feed latency,
//! (c) a reconnect after offline edits, (d) a reconnect of a hub whose children are all in sync,
//! (e) peak memory of the hubs, and (f) the in-memory Automerge floor of the cold start.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use automerge::AutoCommit;
use automerge::sync::{State as SyncState, SyncDoc};
use serde_json::json;
use yinglian_node::docs::document::DocId;
use yinglian_node::docs::ledger;
use yinglian_node::domain::camera::Field;
use yinglian_node::domain::figures::Counts;
use yinglian_node::federation::pki::TlsMaterial;
use yinglian_node::store::Store;

use super::args::BenchArgs;
use super::measure::{city_subscriber, feed_latencies, machine, measure};
use crate::local::{Federation, LocalUnit, area_code, first_districts, raise_fd_limit, wait_until};

const PATIENCE: Duration = Duration::from_secs(1800);

/// A hub running as its own process; killed if the bench stops early.
struct HubProcess {
    code: String,
    child: Child,
    /// Where its `/metrics` answers (the stage counters).
    metrics: std::net::SocketAddr,
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl HubProcess {
    /// Starts `unit`'s hub, its `/metrics` on the port `metrics` holds until then (taken while
    /// the hubs' own ports were still held, so that none is given twice).
    fn spawn(unit: &LocalUnit, metrics: std::net::TcpListener) -> Result<HubProcess> {
        let exe = std::env::current_exe()?;
        let metrics = {
            let addr = metrics.local_addr()?;
            drop(metrics);
            addr
        };
        let child = Command::new(exe)
            .arg("--data")
            .arg(&unit.dir)
            .args(["serve", "--listen", &unit.addr.expect("a hub").to_string()])
            .args(["--metrics", &metrics.to_string()])
            .env("RUST_LOG", "warn")
            .env_remove("YL_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting a hub process")?;
        Ok(HubProcess {
            code: unit.code.to_string(),
            child,
            metrics,
        })
    }

    /// Peak resident memory so far (VmHWM), in bytes.
    fn peak_memory(&self) -> u64 {
        peak_memory_of(&format!("/proc/{}/status", self.child.id()))
    }

    /// SIGTERM, then waits for a clean exit.
    async fn stop(&mut self) -> Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let child = &mut self.child;
        let mut code = None;
        wait_until(Duration::from_secs(60), "the hub exits", || {
            code = child.try_wait().ok().flatten();
            std::future::ready(code.is_some())
        })
        .await?;
        if !code.is_some_and(|c| c.success()) {
            bail!("hub {} exited with {code:?}", self.code);
        }
        Ok(())
    }
}

/// The stage counters of the city and of all the district hubs together.
async fn hub_stages(
    city: &HubProcess,
    districts: &[HubProcess],
) -> Result<(super::stages::Totals, super::stages::Totals)> {
    let c = super::stages::scrape(city.metrics).await?;
    let mut d = super::stages::Totals::new();
    for h in districts {
        super::stages::add(&mut d, &super::stages::scrape(h.metrics).await?);
    }
    Ok((c, d))
}

/// CPU seconds (user + system) a process has used, from /proc/PID/stat.
fn cpu_seconds(pid: &str) -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / ticks)
        })
        .unwrap_or(0.0)
}

fn peak_memory_of(status: &str) -> u64 {
    std::fs::read_to_string(status)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

async fn listening(addr: std::net::SocketAddr) -> Result<()> {
    wait_until(Duration::from_secs(60), "a hub listens", || async move {
        tokio::net::TcpStream::connect(addr).await.is_ok()
    })
    .await
}

fn phase(t0: Instant, what: &str) {
    eprintln!("[{:>7.1} s] {what}", t0.elapsed().as_secs_f64());
}

/// In-memory sync of `bytes` (a saved document) into an empty document, both in this process:
/// what Automerge alone needs, without network, TLS, storage or authorization.
fn floor_sync(bytes: &[u8]) -> Result<Duration> {
    let mut from = AutoCommit::load(bytes)?;
    let mut to = AutoCommit::new();
    let (mut sf, mut st) = (SyncState::new(), SyncState::new());
    let t = Instant::now();
    loop {
        let m1 = from.sync().generate_sync_message(&mut sf);
        if let Some(m) = &m1 {
            to.sync().receive_sync_message(&mut st, m.clone())?;
        }
        let m2 = to.sync().generate_sync_message(&mut st);
        if let Some(m) = &m2 {
            from.sync().receive_sync_message(&mut sf, m.clone())?;
        }
        if m1.is_none() && m2.is_none() {
            break;
        }
    }
    let took = t.elapsed();
    if to.get_heads() != from.get_heads() {
        bail!("the in-memory sync did not converge");
    }
    Ok(took)
}

pub async fn run(a: &BenchArgs) -> Result<()> {
    yinglian_node::federation::pki::install_crypto();
    raise_fd_limit();
    // Thousands of stores in this one process: two connections each (a thread and three file
    // descriptors apiece) keep it within the file descriptors a process may have.
    yinglian_node::store::set_connections_per_store(2);
    let t0 = Instant::now();
    let base = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            tempfile::tempdir_in(d)?
        }
        None => tempfile::tempdir()?,
    };
    phase(
        t0,
        &format!(
            "building 1 city, {} districts, {} institutions each (keys, certificates, stores) in {}",
            a.districts,
            a.institutions,
            base.path().display()
        ),
    );
    let mut fed =
        Federation::build(base.path(), &first_districts(a.districts), a.institutions).await?;
    phase(
        t0,
        &format!("generating {} cameras per institution", a.cameras),
    );
    {
        let mut jobs = tokio::task::JoinSet::new();
        let work: Vec<(Arc<Store>, std::path::PathBuf, String, u64)> = fed
            .institutions
            .iter()
            .enumerate()
            .flat_map(|(d, list)| {
                let district = area_code(&fed.districts[d].code);
                list.iter().enumerate().map(move |(i, inst)| {
                    (
                        inst.store.clone(),
                        inst.dir.join("generated.csv"),
                        district.clone(),
                        (d * 100 + i + 1) as u64,
                    )
                })
            })
            .collect();
        let cameras = a.cameras;
        for (n, (store, sheet, district, seed)) in work.into_iter().enumerate() {
            if jobs.len() >= 2 {
                jobs.join_next().await.expect("a job")??;
            }
            jobs.spawn(async move {
                yinglian_node::app::sample::write_sheet(&sheet, &district, cameras, seed)?;
                yinglian_node::app::import::import_file(&store, &sheet, "bench").await?;
                std::fs::remove_file(&sheet).ok();
                anyhow::Ok(())
            });
            if n % 500 == 499 {
                phase(t0, &format!("  {} institutions ready", n + 1));
            }
        }
        while let Some(r) = jobs.join_next().await {
            r??;
        }
    }
    let mut want = Counts::default();
    let mut documents = 0usize;
    for inst in fed.institutions.iter().flatten() {
        want.add(&inst.store.counts(inst.code.as_str()).await?.0);
        documents += 1;
    }
    let sub_dir = city_subscriber(&fed, base.path()).await?;
    let built_in = t0.elapsed();

    // The floor: every ledger synced in memory into an empty document.
    phase(t0, "measuring the in-memory Automerge floor");
    let mut floor = Duration::ZERO;
    let mut ledger_bytes = 0u64;
    for inst in fed.institutions.iter().flatten() {
        let bytes = inst
            .store
            .save_document(&DocId::ledger(&inst.code))
            .await?
            .context("a ledger")?;
        ledger_bytes += bytes.len() as u64;
        floor += floor_sync(&bytes)?;
    }

    // The hubs as their own processes.
    phase(t0, "starting the city and district hubs as processes");
    let mut metrics_ports = (0..=fed.districts.len())
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    fed.city.release_port();
    for d in &mut fed.districts {
        d.release_port();
    }
    let mut city_proc = HubProcess::spawn(&fed.city, metrics_ports.pop().expect("a port"))?;
    listening(fed.city.addr.expect("a hub")).await?;
    let mut districts = Vec::new();
    for d in &fed.districts {
        districts.push(HubProcess::spawn(d, metrics_ports.pop().expect("a port"))?);
    }
    for d in &fed.districts {
        listening(d.addr.expect("a hub")).await?;
    }
    // Wait until the districts have reached the city (their own documents are there).
    wait_until(PATIENCE, "every district reached the city", || async {
        let n = fed.city.store.connected_peer_count().await.unwrap_or(0);
        n >= fed.districts.len()
    })
    .await?;

    // (a) Cold start: every institution starts at once; until the city's totals are the sum.
    phase(t0, "cold start: starting every institution");
    let hub_pids: Vec<String> = std::iter::once(&city_proc)
        .chain(&districts)
        .map(|h| h.child.id().to_string())
        .collect();
    let hubs_cpu = || hub_pids.iter().map(|p| cpu_seconds(p)).sum::<f64>();
    let (hubs_cpu0, self_cpu0) = (hubs_cpu(), cpu_seconds("self"));
    let cold_t = Instant::now();
    for inst in fed.institutions.iter_mut().flatten() {
        inst.start().await?;
    }
    let city_store = fed.city.store.clone();
    let city_code = fed.city.code.to_string();
    wait_until(
        PATIENCE,
        "the city's totals equal the sum of the ledgers",
        || {
            let (s, c) = (city_store.clone(), city_code.clone());
            async move {
                let Ok(rows) = s.rollup_rows(&c).await else {
                    return false;
                };
                rows.iter().any(|r| {
                    r.unit == c
                        && r.counts.built == want.built
                        && r.counts.must_network == want.must_network
                        && r.counts.networked == want.networked
                        && r.counts.archived == want.archived
                })
            }
        },
    )
    .await?;
    let cold = cold_t.elapsed();
    let cold_hubs_cpu = hubs_cpu() - hubs_cpu0;
    let cold_self_cpu = cpu_seconds("self") - self_cpu0;
    let mut cold_bytes = 0u64;
    for (d, list) in fed.institutions.iter().enumerate() {
        for inst in list {
            let s = inst
                .engine
                .as_ref()
                .expect("started")
                .peer_stats(fed.districts[d].code.as_str());
            cold_bytes += s.sent() + s.received();
        }
    }
    let (sent, received) = fed.city.store.children_traffic().await?;
    let cold_bytes_city = sent + received;
    phase(
        t0,
        &format!(
            "cold start: {} cameras at the city in {:.1} s ({:.1}× the floor of {:.1} s)",
            want.built,
            cold.as_secs_f64(),
            cold.as_secs_f64() / floor.as_secs_f64(),
            floor.as_secs_f64()
        ),
    );

    // (b) Edit-to-city-feed latency.
    phase(t0, &format!("latency: {} edits", a.edits));
    let tls = TlsMaterial::load(&sub_dir)?;
    let channel =
        yinglian_node::federation::net::connect(&tls, &fed.city.url(), &fed.city.code).await?;
    let mut stream = yinglian_proto::v1::feed_client::FeedClient::new(channel)
        .subscribe(yinglian_proto::v1::SubscribeRequest {
            scope: String::new(),
            cursor: 0,
        })
        .await?
        .into_inner();
    let (city0, districts0) = hub_stages(&city_proc, &districts).await?;
    let own0 = super::stages::own();
    let mut lat = feed_latencies(&fed, &mut stream, a.edits).await?;
    let (city1, districts1) = hub_stages(&city_proc, &districts).await?;
    let own1 = super::stages::own();
    let mut breakdown = super::stages::per_edit("institution", &own0, &own1, lat.len());
    breakdown.extend(super::stages::per_edit(
        "district",
        &districts0,
        &districts1,
        lat.len(),
    ));
    breakdown.extend(super::stages::per_edit("city", &city0, &city1, lat.len()));
    drop(stream);
    lat.sort_by(|x, y| x.total_cmp(y));
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];

    // (c) One institution offline for N edits, then back.
    phase(
        t0,
        &format!("reconnect after {} offline edits", a.offline_edits),
    );
    let offline = {
        let inst = &mut fed.institutions[0][0];
        inst.stop().await;
        let (rows, _) = inst
            .store
            .cameras(inst.code.as_str(), &Default::default())
            .await?;
        let codes: Vec<String> = rows
            .iter()
            .map(|r| r.camera.device_code.to_string())
            .collect();
        for k in 0..a.offline_edits {
            let code = codes[k % codes.len()].clone();
            let v = Field::Address.parse_value(&format!("离线修改 {k}"))?;
            inst.store
                .edit(&DocId::ledger(&inst.code), "bench", "offline edit", |d| {
                    Ok(ledger::set_fields(d, &code, &[(Field::Address, v)])?)
                })
                .await?;
        }
        let district = &fed.districts[0];
        measure(
            inst,
            district,
            "reconnect after offline edits",
            |i, d| async move {
                let doc = DocId::ledger(&i.code);
                i.heads(&doc).await == d.heads(&doc).await
            },
        )
        .await?
    };

    // (d) A district hub restarts while its children are all in sync.
    phase(t0, "reconnect of a hub whose children are all in sync");
    districts[0].stop().await?;
    for inst in &mut fed.institutions[0] {
        inst.stop().await;
    }
    districts[0] = HubProcess::spawn(
        &fed.districts[0],
        std::net::TcpListener::bind(districts[0].metrics)?,
    )?;
    listening(fed.districts[0].addr.expect("a hub")).await?;
    let children = fed.institutions[0].len();
    let district0 = fed.districts[0].code.to_string();
    // Each start makes a new engine: its counters begin at zero.
    let noop_t = Instant::now();
    for inst in &mut fed.institutions[0] {
        inst.start().await?;
    }
    let stats: Vec<_> = fed.institutions[0]
        .iter()
        .map(|i| i.engine.as_ref().expect("started").peer_stats(&district0))
        .collect();
    wait_until(
        PATIENCE,
        "every child of the restarted hub is in sync",
        || {
            let all = stats.iter().all(|s| s.synced.load(Ordering::Relaxed) > 0);
            std::future::ready(all)
        },
    )
    .await?;
    let noop = noop_t.elapsed();
    let noop_bytes: u64 = stats.iter().map(|s| s.sent() + s.received()).sum();
    let shared_docs = fed.institutions[0][0].store.shared_document_count().await?;
    let per_doc_bytes = noop_bytes as f64 / (children as f64 * shared_docs.max(1) as f64);

    // (e) Peak memory.
    let city_peak = city_proc.peak_memory();
    let district_peak = districts
        .iter()
        .map(HubProcess::peak_memory)
        .max()
        .unwrap_or(0);
    let bench_peak = peak_memory_of("/proc/self/status");

    phase(t0, "stopping");
    fed.stop_all().await;
    for d in &mut districts {
        d.stop().await?;
    }
    city_proc.stop().await?;

    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let out = json!({
        "scenario": "federation",
        "machine": machine(),
        "districts": a.districts,
        "institutions_per_district": a.institutions,
        "cameras_per_institution": a.cameras,
        "cameras": want.built,
        "ledgers": documents,
        "ledger_bytes": ledger_bytes,
        "build_seconds": built_in.as_secs_f64(),
        "cold_start": {
            "seconds": cold.as_secs_f64(),
            "bytes_institutions_districts": cold_bytes,
            "bytes_districts_city": cold_bytes_city,
            "floor_seconds": floor.as_secs_f64(),
            "ratio_to_floor": cold.as_secs_f64() / floor.as_secs_f64(),
            "cpu_seconds_hubs": cold_hubs_cpu,
            "cpu_seconds_institutions_in_bench_process": cold_self_cpu,
            "hub_cpu_ms_per_ledger": cold_hubs_cpu * 1000.0 / documents.max(1) as f64,
        },
        "edit_stages": breakdown,
        "feed_latency_ms": { "edits": lat.len(), "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1.0) },
        "reconnect_after_offline_edits": {
            "edits": a.offline_edits,
            "millis": offline.millis,
            "bytes": offline.bytes_sent + offline.bytes_received,
        },
        "hub_reconnect_all_in_sync": {
            "children": children,
            "documents_per_child": shared_docs,
            "millis": noop.as_secs_f64() * 1000.0,
            "millis_per_child": noop.as_secs_f64() * 1000.0 / children as f64,
            "bytes": noop_bytes,
            "bytes_per_document": per_doc_bytes,
        },
        "peak_memory_mib": {
            "city_hub": mib(city_peak),
            "district_hub_max": mib(district_peak),
            "bench_process_with_all_institutions": mib(bench_peak),
        },
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "scenario federation: city ← {} districts ← {} institutions each × {} cameras = {} cameras; {}",
            a.districts,
            a.institutions,
            a.cameras,
            want.built,
            machine()
        );
        println!("| measure | figure |");
        println!("| --- | ---: |");
        println!(
            "| (a) cold start until the city's totals equal the ledgers | {:.1} s |",
            cold.as_secs_f64()
        );
        println!(
            "| (a) bytes institutions↔districts / districts↔city | {:.1} MiB / {:.2} MiB |",
            mib(cold_bytes),
            mib(cold_bytes_city)
        );
        println!(
            "| (a) CPU: the {} hub processes / the bench process running every institution | {:.1} s / {:.1} s |",
            a.districts + 1,
            cold_hubs_cpu,
            cold_self_cpu
        );
        println!(
            "| (f) in-memory Automerge floor / our cold start ÷ floor | {:.2} s / {:.1}× |",
            floor.as_secs_f64(),
            cold.as_secs_f64() / floor.as_secs_f64()
        );
        println!(
            "| (a) hub CPU per arriving ledger ({} ledgers) | {:.1} ms |",
            documents,
            cold_hubs_cpu * 1000.0 / documents.max(1) as f64
        );
        println!(
            "| (b) edit-to-city-feed latency p50 / p99 ({} edits) | {:.1} ms / {:.1} ms |",
            lat.len(),
            pct(0.5),
            pct(0.99)
        );
        println!(
            "| (c) reconnect after {} offline edits | {:.0} ms, {} bytes |",
            a.offline_edits,
            offline.millis,
            offline.bytes_sent + offline.bytes_received
        );
        println!(
            "| (d) hub restart, {children} children in sync: all back in sync | {:.0} ms ({:.1} ms a child), {:.0} bytes a document |",
            noop.as_secs_f64() * 1000.0,
            noop.as_secs_f64() * 1000.0 / children as f64,
            per_doc_bytes
        );
        println!(
            "| (e) peak memory: city hub / largest district hub | {:.0} MiB / {:.0} MiB |",
            mib(city_peak),
            mib(district_peak)
        );
        println!();
        println!(
            "(b) where one edit's time goes (mean per edit over the {} edits; district: the 41 hubs together)",
            lat.len()
        );
        println!("| level | stage | runs per edit | ms per edit | ms per run |");
        println!("| --- | --- | ---: | ---: | ---: |");
        for r in &breakdown {
            println!(
                "| {} | {} | {:.2} | {:.2} | {:.2} |",
                r["level"].as_str().unwrap_or_default(),
                r["stage"].as_str().unwrap_or_default(),
                r["runs_per_edit"].as_f64().unwrap_or_default(),
                r["ms_per_edit"].as_f64().unwrap_or_default(),
                r["ms_per_run"].as_f64().unwrap_or_default()
            );
        }
    }
    Ok(())
}
