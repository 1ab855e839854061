//! `yl-hub bench --scenario federation`: the federation at a chosen size (districts ×
//! institutions × cameras) with real TLS and storage. The city and every district hub run as
//! their own `yl-hub serve` processes (so that each one's peak memory is its own); district 0's
//! institutions run in this process (the offline and restart steps use them), every other
//! district's in `yl-hub bench-worker` processes of at most 2,000 stores each (`worker`).
//! Measures (a) cold start, (b) edit-to-city-feed latency,
//! (c) a reconnect after offline edits, (d) a reconnect of a hub whose children are all in sync,
//! (e) peak memory of the hubs, and (f) the in-memory Automerge floor of the cold start.

use std::path::{Path, PathBuf};
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
use yinglian_node::domain::unit::UnitKind;
use yinglian_node::federation::pki::{Role, TlsMaterial};

use super::args::BenchArgs;
use super::measure::{Runs, Target, city_subscriber, feed_latencies, machine, measure};
use super::worker::{Reply, Request as WorkerRequest, STORES_PER_WORKER, Worker, traffic};
use crate::local::{
    Federation, LocalUnit, area_code, first_districts, place_of, raise_fd_limit, wait_until,
};

const PATIENCE: Duration = Duration::from_secs(1800);

/// A hub running as its own process; killed if the bench stops early.
struct HubProcess {
    code: String,
    child: Child,
    /// Started under `YL_BENCH_CITY_WRAPPER`: the hub is a descendant of `child`.
    wrapped: bool,
    /// Where its `/metrics` answers (the stage counters).
    metrics: std::net::SocketAddr,
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let pid = self.pid();
        if pid != self.child.id() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl HubProcess {
    /// Starts `unit`'s hub, its `/metrics` on the port `metrics` holds until then (taken while
    /// the hubs' own ports were still held, so that none is given twice).
    fn spawn(unit: &LocalUnit, metrics: std::net::TcpListener, city: bool) -> Result<HubProcess> {
        let exe = std::env::current_exe()?;
        let metrics = {
            let addr = metrics.local_addr()?;
            drop(metrics);
            addr
        };
        // `YL_BENCH_HUB_LOG` (a `RUST_LOG` filter) sends each hub's log to `hub.log` in its
        // folder at that level, to see what a hub did (e.g. `sqlx::query=debug` counts its
        // statements); otherwise warnings go to the bench's standard error.
        let (log, stderr) = match std::env::var("YL_BENCH_HUB_LOG") {
            Ok(filter) => (
                filter,
                Stdio::from(std::fs::File::create(unit.dir.join("hub.log"))?),
            ),
            Err(_) => ("warn".to_string(), Stdio::inherit()),
        };
        // `YL_BENCH_CITY_WRAPPER` (a command and its arguments, split at spaces) starts the city
        // under it, to see where its memory or time goes (`heaptrack -o city`, `perf record`).
        // Its figures are then the hub's own (the descendant running this program: its peak,
        // CPU and SIGTERM), slowed by the profiler.
        let wrapper: Vec<String> = std::env::var("YL_BENCH_CITY_WRAPPER")
            .ok()
            .filter(|_| city)
            .map(|w| w.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        let child = command
            .arg("--data")
            .arg(&unit.dir)
            .args(["serve", "--listen", &unit.addr.expect("a hub").to_string()])
            .args(["--metrics", &metrics.to_string()])
            .env("RUST_LOG", log)
            .env_remove("YL_CONFIG")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .context("starting a hub process")?;
        Ok(HubProcess {
            code: unit.code.to_string(),
            child,
            wrapped: !wrapper.is_empty(),
            metrics,
        })
    }

    /// The hub's process: the child, or under a wrapper the child's descendant that runs this
    /// program (the child itself while there is none yet).
    fn pid(&self) -> u32 {
        let root = self.child.id();
        if !self.wrapped {
            return root;
        }
        let exe = std::env::current_exe().ok();
        let mut next = vec![root];
        while let Some(p) = next.pop() {
            if p != root && std::fs::read_link(format!("/proc/{p}/exe")).ok() == exe {
                return p;
            }
            let tasks = std::fs::read_dir(format!("/proc/{p}/task"))
                .into_iter()
                .flatten();
            for t in tasks.flatten() {
                let children =
                    std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
                next.extend(
                    children
                        .split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
        }
        root
    }

    /// Peak resident memory so far (VmHWM), in bytes.
    fn peak_memory(&self) -> u64 {
        peak_memory_of(&format!("/proc/{}/status", self.pid()))
    }

    /// SIGTERM, then waits for a clean exit (of the wrapper too, if there is one).
    async fn stop(&mut self) -> Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
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

/// Every institution as a latency target, in the order of the districts and of their
/// institutions: district 0's in this process, the others' in the workers.
async fn targets<'a>(
    fed: &'a Federation,
    remote: &[Vec<(PathBuf, String)>],
    workers: &'a [Worker],
) -> Result<Vec<Target<'a>>> {
    let mut held = std::collections::HashMap::new();
    for (k, w) in workers.iter().enumerate() {
        if let Reply::Targets { units } = w.ask(&WorkerRequest::Targets)? {
            for (unit, cameras) in units {
                held.insert(unit, (k, cameras));
            }
        }
    }
    let mut out = Vec::new();
    for (d, list) in fed.institutions.iter().enumerate() {
        for inst in list {
            out.push(Target {
                runs: Runs::Here(inst),
                unit: inst.code.to_string(),
                cameras: super::worker::built_cameras(inst).await?,
            });
        }
        for (dir, _) in &remote[d] {
            let unit = dir
                .file_name()
                .and_then(|n| n.to_str())
                .context("an institution's folder")?
                .to_string();
            let (k, cameras) = held
                .remove(&unit)
                .with_context(|| format!("no worker runs {unit}"))?;
            out.push(Target {
                runs: Runs::Worker(&workers[k]),
                unit,
                cameras,
            });
        }
    }
    Ok(out)
}

/// The stage counters of the institutions: this process's and every worker's.
fn institution_stages(workers: &[Worker]) -> Result<super::stages::Totals> {
    let mut t = super::stages::own();
    for w in workers {
        if let Reply::Stages { totals } = w.ask(&WorkerRequest::Stages)? {
            let theirs = totals
                .into_iter()
                .map(|(s, runs, secs)| (s, (runs, secs)))
                .collect();
            super::stages::add(&mut t, &theirs);
        }
    }
    Ok(t)
}

/// CPU seconds (user + system) a process (`self` or a pid) has used: its CPU-time clock, to the
/// nanosecond, or else /proc/PID/stat's count of clock ticks (10 ms each: a small run's worker
/// could count none).
fn cpu_seconds(pid: &str) -> f64 {
    let id: Option<libc::pid_t> = if pid == "self" {
        Some(0)
    } else {
        pid.parse().ok()
    };
    if let Some(id) = id {
        let mut clock: libc::clockid_t = 0;
        let mut at = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: each call only writes into the local it is given.
        let read = unsafe {
            libc::clock_getcpuclockid(id, &mut clock) == 0
                && libc::clock_gettime(clock, &mut at) == 0
        };
        if read {
            return at.tv_sec as f64 + at.tv_nsec as f64 / 1e9;
        }
    }
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

/// Waits until `hub` serves: its `/metrics` port accepts a connection, which the daemon binds
/// after the port its children call. (A connection to that port, closed at once, would be
/// recorded by the hub as a refused TLS handshake.)
async fn listening(hub: &HubProcess) -> Result<()> {
    let addr = hub.metrics;
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

/// The federation as the bench runs it: the city, the districts and district 0's institutions in
/// this process (`fed`; the latency, offline and restart steps use district 0's); every other
/// district's institutions built, counted and closed, their folders and parents' codes left for
/// the workers (`remote`, by district).
struct Built {
    fed: Federation,
    remote: Vec<Vec<(PathBuf, String)>>,
    want: Counts,
    documents: usize,
    /// Every institution's saved ledger, for the floor.
    ledgers: Vec<Vec<u8>>,
}

/// What building one institution left: its district's index, folder and code, its figures, its
/// saved ledger, and the unit itself when it stays open in this process.
type BuiltInstitution = (usize, PathBuf, String, Counts, Vec<u8>, Option<LocalUnit>);

/// Builds the city, `a.districts` districts and `a.institutions` institutions under each (keys,
/// certificates, stores, generated cameras), two institutions' cameras at a time; only district
/// 0's institutions stay open here, so that this process never holds thousands of stores.
async fn build(root: &Path, a: &BenchArgs, t0: Instant) -> Result<Built> {
    let city = LocalUnit::create(
        &root.join("500000"),
        "500000",
        "重庆市卫生健康委员会",
        UnitKind::City,
        Role::Hub,
    )
    .await?;
    city.init_root().await?;
    let list = first_districts(a.districts);
    let mut districts = Vec::new();
    let mut local: Vec<LocalUnit> = Vec::new();
    let mut remote: Vec<Vec<(PathBuf, String)>> = vec![Vec::new(); list.len()];
    let mut want = Counts::default();
    let mut ledgers = Vec::new();
    let mut jobs: tokio::task::JoinSet<Result<BuiltInstitution>> = tokio::task::JoinSet::new();
    let mut done = 0usize;
    let mut collect = |r: BuiltInstitution| {
        let (d, dir, parent, counts, bytes, unit) = r;
        want.add(&counts);
        ledgers.push(bytes);
        match unit {
            Some(u) => local.push(u),
            None => remote[d].push((dir, parent)),
        }
        done += 1;
        if done.is_multiple_of(500) {
            phase(t0, &format!("  {done} institutions ready"));
        }
    };
    for (d, (code, name, kind)) in list.into_iter().enumerate() {
        let unit = LocalUnit::create(&root.join(&code), &code, &name, kind, Role::Hub).await?;
        city.enroll(&unit).await?;
        let area = area_code(&unit.code);
        for n in 1..=a.institutions {
            let c = format!("{code}-{n:04}");
            let inst = LocalUnit::create(
                &root.join(&c),
                &c,
                &format!("{}第{n}医院", place_of(&name)),
                UnitKind::Institution,
                Role::Node,
            )
            .await?;
            unit.enroll(&inst).await?;
            if jobs.len() >= 2 {
                collect(jobs.join_next().await.expect("a job")??);
            }
            // Seeds numbered through the federation: the three development zones share the
            // area 500000, and their institutions' codes must not collide by accident (sample
            // codes differ for seeds distinct modulo 5,000; checked at the start).
            let seed = (d * a.institutions + n) as u64;
            let (cameras, seed, area, parent) = (a.cameras, seed, area.clone(), code.clone());
            jobs.spawn(async move {
                let sheet = inst.dir.join("generated.csv");
                yinglian_node::app::sample::write_sheet(&sheet, &area, cameras, seed)?;
                yinglian_node::app::import::import_file(&inst.store, &sheet, "bench").await?;
                std::fs::remove_file(&sheet).ok();
                let counts = inst.store.counts(inst.code.as_str()).await?.0;
                let bytes = inst
                    .store
                    .save_document(&DocId::ledger(&inst.code))
                    .await?
                    .context("a ledger")?;
                let dir = inst.dir.clone();
                let kept = if d == 0 {
                    Some(inst)
                } else {
                    let store = inst.store.clone();
                    drop(inst);
                    if let Ok(s) = Arc::try_unwrap(store) {
                        s.close().await;
                    }
                    None
                };
                Ok((d, dir, parent, counts, bytes, kept))
            });
        }
        districts.push(unit);
    }
    while let Some(r) = jobs.join_next().await {
        collect(r??);
    }
    local.sort_by(|x, y| x.code.as_str().cmp(y.code.as_str()));
    for r in &mut remote {
        r.sort();
    }
    let mut institutions: Vec<Vec<LocalUnit>> = districts.iter().map(|_| Vec::new()).collect();
    if let Some(first) = institutions.first_mut() {
        *first = local;
    }
    Ok(Built {
        documents: ledgers.len(),
        fed: Federation {
            city,
            districts,
            institutions,
            others: Vec::new(),
        },
        remote,
        want,
        ledgers,
    })
}

pub async fn run(a: &BenchArgs) -> Result<()> {
    use yinglian_node::app::sample::{MAX_ROWS, seeds_apart};
    if a.cameras > MAX_ROWS {
        bail!(
            "at most {MAX_ROWS} cameras an institution (asked for {}): a device code's serial has six digits",
            a.cameras
        );
    }
    // The three zones' institutions share an area: their seeds (numbered through the federation,
    // below) must stay apart as the generator needs.
    let apart = seeds_apart(a.cameras) as usize;
    if 3 * a.institutions > apart {
        bail!(
            "at most {} institutions a district at {} cameras each (asked for {}): beyond, the development zones' generated device codes collide",
            apart / 3,
            a.cameras,
            a.institutions
        );
    }
    yinglian_node::federation::pki::install_crypto();
    raise_fd_limit();
    // Two connections a store (a thread and three file descriptors apiece), here and in the
    // workers: the fewest that let a write and a read of one store go on at once.
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
    let Built {
        mut fed,
        remote,
        want,
        documents,
        ledgers,
    } = build(base.path(), a, t0).await?;
    let sub_dir = city_subscriber(&fed, base.path()).await?;
    let built_in = t0.elapsed();

    // The floor: every ledger synced in memory into an empty document.
    phase(t0, "measuring the in-memory Automerge floor");
    let mut floor = Duration::ZERO;
    let mut ledger_bytes = 0u64;
    for bytes in &ledgers {
        ledger_bytes += bytes.len() as u64;
        floor += floor_sync(bytes)?;
    }
    drop(ledgers);

    // The institutions of the other districts, in worker processes.
    let all_remote: Vec<(PathBuf, String)> = remote.iter().flatten().cloned().collect();
    let n_workers = all_remote.len().div_ceil(STORES_PER_WORKER);
    phase(
        t0,
        &format!(
            "opening {} institutions in {n_workers} worker processes ({} in this one)",
            all_remote.len(),
            fed.institutions.iter().flatten().count()
        ),
    );
    let mut workers = Vec::new();
    if n_workers > 0 {
        let per = all_remote.len().div_ceil(n_workers);
        for chunk in all_remote.chunks(per) {
            workers.push(Worker::spawn(chunk.to_vec())?);
        }
        Worker::receive_all(&workers)?;
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
    let mut city_proc = HubProcess::spawn(&fed.city, metrics_ports.pop().expect("a port"), true)?;
    listening(&city_proc).await?;
    let mut districts = Vec::new();
    for d in &fed.districts {
        districts.push(HubProcess::spawn(
            d,
            metrics_ports.pop().expect("a port"),
            false,
        )?);
    }
    for d in &districts {
        listening(d).await?;
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
        .map(|h| h.pid().to_string())
        .collect();
    let hubs_cpu = || hub_pids.iter().map(|p| cpu_seconds(p)).sum::<f64>();
    let worker_pids: Vec<String> = workers.iter().map(|w| w.pid().to_string()).collect();
    let workers_cpu = || worker_pids.iter().map(|p| cpu_seconds(p)).sum::<f64>();
    let (hubs_cpu0, self_cpu0, workers_cpu0) = (hubs_cpu(), cpu_seconds("self"), workers_cpu());
    let (cold_city0, cold_districts0) = hub_stages(&city_proc, &districts).await?;
    let cold_t = Instant::now();
    for w in &workers {
        w.send(&WorkerRequest::Start)?;
    }
    for inst in fed.institutions.iter_mut().flatten() {
        inst.start().await?;
    }
    Worker::receive_all(&workers)?;
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
    let (cold_city1, cold_districts1) = hub_stages(&city_proc, &districts).await?;
    let mut cold_stages =
        super::stages::during("district", &cold_districts0, &cold_districts1, documents);
    cold_stages.extend(super::stages::during(
        "city",
        &cold_city0,
        &cold_city1,
        documents,
    ));
    let cold_self_cpu = cpu_seconds("self") - self_cpu0;
    let cold_workers_cpu = workers_cpu() - workers_cpu0;
    let mut cold_bytes = 0u64;
    for (d, list) in fed.institutions.iter().enumerate() {
        for inst in list {
            cold_bytes += traffic(inst, fed.districts[d].code.as_str());
        }
    }
    for w in &workers {
        if let Reply::Traffic { bytes } = w.ask(&WorkerRequest::Traffic)? {
            cold_bytes += bytes;
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
    let targets = targets(&fed, &remote, &workers).await?;
    let (city0, districts0) = hub_stages(&city_proc, &districts).await?;
    let own0 = institution_stages(&workers)?;
    let mut lat = feed_latencies(fed.city.code.as_str(), targets, &mut stream, a.edits).await?;
    let (city1, districts1) = hub_stages(&city_proc, &districts).await?;
    let own1 = institution_stages(&workers)?;
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
        false,
    )?;
    listening(&districts[0]).await?;
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
    let worker_peaks: Vec<u64> = worker_pids
        .iter()
        .map(|p| peak_memory_of(&format!("/proc/{p}/status")))
        .collect();

    phase(t0, "stopping");
    for w in &workers {
        w.send(&WorkerRequest::Stop)?;
    }
    fed.stop_all().await;
    Worker::receive_all(&workers)?;
    drop(workers);
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
            "cpu_seconds_institutions_in_bench_process": cold_self_cpu + cold_workers_cpu,
            "cpu_seconds_bench_process": cold_self_cpu,
            "cpu_seconds_bench_workers": cold_workers_cpu,
            "hub_cpu_ms_per_ledger": cold_hubs_cpu * 1000.0 / documents.max(1) as f64,
        },
        "cold_start_stages": cold_stages,
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
            "bench_process_with_all_institutions": mib(bench_peak + worker_peaks.iter().sum::<u64>()),
            "bench_process": mib(bench_peak),
            "bench_workers": worker_peaks.len(),
            "bench_worker_max": mib(worker_peaks.iter().copied().max().unwrap_or(0)),
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
            "| (a) CPU: the {} hub processes / the institutions (the bench process and {} workers) | {:.1} s / {:.1} s |",
            a.districts + 1,
            worker_pids.len(),
            cold_hubs_cpu,
            cold_self_cpu + cold_workers_cpu
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
        println!(
            "| (e) peak memory: the bench process / its largest of {} workers | {:.0} MiB / {:.0} MiB |",
            worker_peaks.len(),
            mib(bench_peak),
            mib(worker_peaks.iter().copied().max().unwrap_or(0))
        );
        println!();
        println!(
            "(a) where the hubs' time went in the cold start (wall time of each stage, summed; district: the {} hubs together)",
            a.districts
        );
        println!("| level | stage | runs | ms | ms per arriving ledger |");
        println!("| --- | --- | ---: | ---: | ---: |");
        for r in &cold_stages {
            println!(
                "| {} | {} | {} | {:.0} | {:.2} |",
                r["level"].as_str().unwrap_or_default(),
                r["stage"].as_str().unwrap_or_default(),
                r["runs"].as_u64().unwrap_or_default(),
                r["ms"].as_f64().unwrap_or_default(),
                r["ms_per_ledger"].as_f64().unwrap_or_default()
            );
        }
        println!();
        println!(
            "(b) where one edit's time goes (mean per edit over the {} edits; district: the {} hubs together)",
            lat.len(),
            a.districts
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
