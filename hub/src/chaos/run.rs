//! The chaos run: a small federation of real `yl-hub`/`yl-node` processes, each child dialling its
//! parent through a [`FaultProxy`], driven by a seeded RNG through SIGKILLs, restarts, link faults
//! and CLI edits, then healed and checked: nothing acknowledged lost, figures equal to ledgers,
//! stores intact, convergence within a bound.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::Value as Json;
use yinglian_node::docs::document::DocId;
use yinglian_node::domain::figures::Counts;
use yinglian_node::domain::unit::{Role, UnitCode};
use yinglian_node::store::{CameraQuery, Store};

use super::proxy::{Fault, FaultProxy};

mod check;
mod edits;

/// What a chaos run is made of.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    /// The `yl-hub` executable (the city and the districts).
    pub hub_bin: PathBuf,
    /// The `yl-node` executable (the institutions).
    pub node_bin: PathBuf,
    /// The run's folder (created; must not hold a previous run): one folder per unit, the logs.
    pub dir: PathBuf,
    pub seed: u64,
    /// How long the chaos goes on (rounds start until this much time has passed).
    pub duration: Duration,
    pub districts: usize,
    /// Institutions under each district.
    pub institutions: usize,
    /// A round's chaos lasts between these (then everything is healed).
    pub phase: (Duration, Duration),
    /// Heal → converged must happen within this.
    pub bound: Duration,
    /// Progress lines on stderr.
    pub verbose: bool,
}

impl ChaosConfig {
    /// The defaults of `yl-hub chaos` and the test: 2 districts of 3 institutions, rounds of 4-9 s,
    /// convergence within 60 s.
    pub fn new(hub_bin: PathBuf, node_bin: PathBuf, dir: PathBuf, seed: u64) -> ChaosConfig {
        ChaosConfig {
            hub_bin,
            node_bin,
            dir,
            seed,
            duration: Duration::from_secs(60),
            districts: 2,
            institutions: 3,
            phase: (Duration::from_secs(4), Duration::from_secs(9)),
            bound: Duration::from_secs(60),
            verbose: false,
        }
    }
}

/// What a run did and found.
#[derive(Debug, Default, Serialize)]
pub struct ChaosReport {
    pub seed: u64,
    pub units: usize,
    pub rounds: usize,
    pub seconds: f64,
    /// SIGKILLs of hubs and nodes (each followed by a restart).
    pub kills: u64,
    pub faults: u64,
    pub faults_by_kind: BTreeMap<String, u64>,
    /// Connections the proxies accepted (and refused while cut): the links really went through them.
    pub proxied_connections: u64,
    pub refused_connections: u64,
    /// Edits whose CLI command exited 0; every one of them is checked.
    pub edits_checked: u64,
    pub edits_by_kind: BTreeMap<String, u64>,
    /// Edits whose command failed (not acknowledged, so not required to survive).
    pub edits_not_acknowledged: u64,
    /// Imports whose command was killed (SIGKILL) before it ended.
    pub killed_imports: u64,
    /// Acknowledged edits missing (or overwritten by an older value) at their institution or district.
    pub lost: u64,
    pub lost_edits: Vec<String>,
    /// Heal → converged, one per round, in milliseconds.
    pub convergence_ms: Vec<u64>,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub max_ms: u64,
    /// Rounds that did not converge within the bound.
    pub not_converged: u64,
    /// Everything else that is wrong: damaged stores, figures unequal to ledgers, processes that
    /// exited by themselves, the first refusals of the CLI.
    pub problems: Vec<String>,
    pub notes: Vec<String>,
}

impl ChaosReport {
    /// Nothing lost, nothing damaged, every round converged.
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.not_converged == 0 && self.problems.is_empty()
    }

    /// The human summary `yl-hub chaos` prints.
    pub fn summary(&self) -> String {
        let kinds: Vec<String> = self
            .faults_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let edits: Vec<String> = self
            .edits_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let mut s = format!(
            "chaos seed {}: {} units, {} rounds in {:.0} s\n  kills {} (and {} imports killed mid-way)\n  faults {} ({}); {} connections through the proxies, {} refused\n  edits checked {} ({}); {} not acknowledged\n  lost {}\n  heal → converged p50 {:.2} s, p95 {:.2} s, max {:.2} s ({} rounds, {} over the bound)\n",
            self.seed,
            self.units,
            self.rounds,
            self.seconds,
            self.kills,
            self.killed_imports,
            self.faults,
            kinds.join(", "),
            self.proxied_connections,
            self.refused_connections,
            self.edits_checked,
            edits.join(", "),
            self.edits_not_acknowledged,
            self.lost,
            self.p50_ms as f64 / 1000.0,
            self.p95_ms as f64 / 1000.0,
            self.max_ms as f64 / 1000.0,
            self.convergence_ms.len(),
            self.not_converged,
        );
        for l in &self.lost_edits {
            s.push_str(&format!("  LOST {l}\n"));
        }
        for p in &self.problems {
            s.push_str(&format!("  PROBLEM {p}\n"));
        }
        for n in &self.notes {
            s.push_str(&format!("  note: {n}\n"));
        }
        s.push_str(if self.ok() { "  OK\n" } else { "  FAILED\n" });
        s
    }
}

/// A daemon of the run, killed (SIGKILL) and reaped when dropped, however the run ends.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Unit {
    code: String,
    dir: PathBuf,
    hub: bool,
    /// A hub's gRPC port (fixed for the run: restarts listen there again).
    listen: Option<SocketAddr>,
    parent: Option<usize>,
    /// The link to the parent.
    proxy: Option<FaultProxy>,
    daemon: Option<Daemon>,
    /// Down (killed) until then.
    restart_at: Option<Instant>,
    /// The link's fault ends then.
    heal_at: Option<Instant>,
    /// Read-only use from here: heads, projections, integrity.
    store: Option<Store>,
    /// The next serial of generated device codes (institutions).
    serial: u32,
}

/// The value an acknowledged edit wrote, and values written after it by commands that failed
/// (which may or may not have been committed).
#[derive(Default)]
struct FieldExpect {
    last: Option<(usize, Json)>,
    maybe: Vec<Json>,
}

#[derive(Default)]
struct CameraExpect {
    /// The acknowledged edit that created the record.
    added: Option<usize>,
    fields: BTreeMap<&'static str, FieldExpect>,
}

struct EditRecord {
    kind: &'static str,
    at: String,
    what: String,
}

/// One assignment of an edit: the camera `code` of institution `inst`, `field` = `value`.
struct Assign {
    inst: usize,
    code: String,
    field: &'static str,
    value: Json,
}

struct Run {
    cfg: ChaosConfig,
    units: Vec<Unit>,
    rng: StdRng,
    expect: BTreeMap<(usize, String), CameraExpect>,
    edits: Vec<EditRecord>,
    report: ChaosReport,
    started: Instant,
    logs: PathBuf,
}

const CITY: &str = "500000";
const DISTRICTS: [&str; 4] = ["500103", "500104", "500105", "500106"];
const COUNT_KEYS: [&str; 8] = [
    "built",
    "must_network",
    "networked",
    "archived",
    "geo_tagged",
    "in_service",
    "key_public_built",
    "key_industry_built",
];

/// Runs the chaos and reports; fails only when the federation cannot be built at all. Every
/// process it started is killed when it returns (or when its future is dropped).
pub async fn run(cfg: ChaosConfig) -> Result<ChaosReport> {
    if !(1..=DISTRICTS.len()).contains(&cfg.districts) || !(1..=9).contains(&cfg.institutions) {
        bail!("1-4 districts of 1-9 institutions");
    }
    if cfg.dir.exists() && std::fs::read_dir(&cfg.dir)?.next().is_some() {
        bail!("{} is not empty: give a new folder", cfg.dir.display());
    }
    std::fs::create_dir_all(cfg.dir.join("logs"))
        .with_context(|| format!("cannot create {}", cfg.dir.display()))?;
    let mut r = Run {
        rng: StdRng::seed_from_u64(cfg.seed),
        logs: cfg.dir.join("logs"),
        cfg,
        units: Vec::new(),
        expect: BTreeMap::new(),
        edits: Vec::new(),
        report: ChaosReport::default(),
        started: Instant::now(),
    };
    r.report.seed = r.cfg.seed;
    r.build().await?;
    r.main_loop().await?;
    r.finish().await?;
    Ok(r.report)
}

fn free_port() -> Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[i - 1]
}

impl Run {
    fn say(&self, what: &str) {
        if self.cfg.verbose {
            eprintln!(
                "[chaos {:>6.1}s] {what}",
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    fn bin(&self, u: usize) -> &Path {
        if self.units[u].hub {
            &self.cfg.hub_bin
        } else {
            &self.cfg.node_bin
        }
    }

    fn districts(&self) -> std::ops::Range<usize> {
        1..1 + self.cfg.districts
    }

    fn institutions(&self) -> std::ops::Range<usize> {
        1 + self.cfg.districts..self.units.len()
    }

    /// Runs one command of unit `u`'s executable on its folder: stdout on exit 0, else the reason.
    async fn cli(&self, u: usize, args: &[&str]) -> Result<String, String> {
        self.cli_within(u, args, Duration::from_secs(60)).await
    }

    /// [`Self::cli`], with the command killed (SIGKILL) if it has not ended within `limit`.
    async fn cli_within(&self, u: usize, args: &[&str], limit: Duration) -> Result<String, String> {
        let mut c = std::process::Command::new(self.bin(u));
        c.arg("--data")
            .arg(&self.units[u].dir)
            .args(args)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .env_remove("YL_DATA")
            .env_remove("YL_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = c.spawn().map_err(|e| format!("cannot run: {e}"))?;
        let pid = child.id();
        let waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
        let out = match tokio::time::timeout(limit, waiting).await {
            Err(_) => {
                // SAFETY: kill(2) of our own child, not yet reaped (its waiter still waits).
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                return Err(format!("killed after {} ms", limit.as_millis()));
            }
            Ok(Err(e)) => return Err(format!("cannot wait: {e}")),
            Ok(Ok(Err(e))) => return Err(format!("cannot wait: {e}")),
            Ok(Ok(Ok(o))) => o,
        };
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            Err(format!(
                "{}: {}",
                out.status,
                err.lines().last().unwrap_or("").trim()
            ))
        }
    }

    async fn must(&self, u: usize, args: &[&str]) -> Result<String> {
        self.cli(u, args)
            .await
            .map_err(|e| anyhow::anyhow!("{} {}: {e}", self.units[u].code, args.join(" ")))
    }

    /// The federation, through the real commands: init, pki init-root, enroll, join.
    async fn build(&mut self) -> Result<()> {
        let pki = self.cfg.dir.join("pki");
        std::fs::create_dir_all(&pki)?;
        let unit = |code: String, hub: bool, parent: Option<usize>| -> Result<Unit> {
            Ok(Unit {
                dir: self.cfg.dir.join(&code),
                code,
                hub,
                listen: if hub { Some(free_port()?) } else { None },
                parent,
                proxy: None,
                daemon: None,
                restart_at: None,
                heal_at: None,
                store: None,
                serial: 1,
            })
        };
        let mut units = vec![unit(CITY.into(), true, None)?];
        for d in DISTRICTS.iter().take(self.cfg.districts) {
            units.push(unit(d.to_string(), true, Some(0))?);
        }
        for (d, code) in DISTRICTS.iter().enumerate().take(self.cfg.districts) {
            for i in 0..self.cfg.institutions {
                units.push(unit(format!("{code}-{:04}", i + 1), false, Some(1 + d))?);
            }
        }
        // One proxy per link, in front of the parent's port.
        for i in 1..units.len() {
            let p = units[i].parent.expect("a child");
            let target = units[p].listen.expect("a hub listens");
            units[i].proxy = Some(FaultProxy::start(target).await?);
        }
        self.report.units = units.len();
        self.units = units;
        self.say(&format!(
            "building the federation: the city, {} districts, {} institutions, in {}",
            self.cfg.districts,
            self.cfg.districts * self.cfg.institutions,
            self.cfg.dir.display()
        ));

        self.must(
            0,
            &[
                "init",
                "--unit",
                CITY,
                "--name",
                "重庆市卫生健康委员会",
                "--kind",
                "city",
            ],
        )
        .await?;
        self.must(0, &["pki", "init-root"]).await?;
        for u in 1..self.units.len() {
            let code = self.units[u].code.clone();
            let hub = self.units[u].hub;
            let csr = pki.join(format!("{code}.csr"));
            let bundle = pki.join(format!("{code}.bundle"));
            let (name, kind) = if hub {
                (format!("区卫生健康委员会 {code}"), "district")
            } else {
                (format!("医院 {code}"), "institution")
            };
            self.must(
                u,
                &[
                    "init",
                    "--unit",
                    &code,
                    "--name",
                    &name,
                    "--kind",
                    kind,
                    "--csr-out",
                    &csr.to_string_lossy(),
                ],
            )
            .await?;
            let parent = self.units[u].parent.expect("a child");
            let advertise = format!("https://{}", self.units[u].proxy.as_ref().unwrap().addr());
            self.must(
                parent,
                &[
                    "enroll",
                    "--csr",
                    &csr.to_string_lossy(),
                    "--unit",
                    &code,
                    "--role",
                    if hub { Role::Hub } else { Role::Node }.as_str(),
                    "--advertise",
                    &advertise,
                    "--out",
                    &bundle.to_string_lossy(),
                ],
            )
            .await?;
            self.must(u, &["join", "--bundle", &bundle.to_string_lossy()])
                .await?;
        }
        for u in 0..self.units.len() {
            self.units[u].store = Some(
                Store::open(&self.units[u].dir)
                    .await
                    .with_context(|| format!("open the store of {}", self.units[u].code))?,
            );
        }
        // Every institution starts with a small sheet of its own.
        for i in self.institutions() {
            let n = self.rng.random_range(4..=8);
            self.import(i, n).await;
        }
        for u in 0..self.units.len() {
            self.start(u)?;
        }
        self.say("built and started; waiting for the first convergence");
        let t = Instant::now();
        if let Err(why) = self.converge().await {
            self.report.problems.push(format!(
                "the federation did not converge after it started: {why}"
            ));
        } else {
            self.say(&format!(
                "converged after start in {:.2} s",
                t.elapsed().as_secs_f64()
            ));
        }
        Ok(())
    }

    /// Starts unit `u`'s daemon (stderr appended to logs/CODE.log).
    fn start(&mut self, u: usize) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{}.log", self.units[u].code)))?;
        let mut c = std::process::Command::new(self.bin(u));
        c.arg("--data").arg(&self.units[u].dir).arg("serve");
        if let Some(l) = self.units[u].listen {
            c.args(["--listen", &l.to_string()]);
        }
        c.env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .env_remove("YL_DATA")
            .env_remove("YL_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        die_with_parent(&mut c);
        let child = c
            .spawn()
            .with_context(|| format!("start {}", self.bin(u).display()))?;
        self.units[u].daemon = Some(Daemon(child));
        self.units[u].restart_at = None;
        Ok(())
    }

    fn kill(&mut self, u: usize, down: Duration) {
        if let Some(d) = self.units[u].daemon.take() {
            drop(d); // SIGKILL, reaped
            self.units[u].restart_at = Some(Instant::now() + down);
            self.report.kills += 1;
        }
    }

    fn fault(&mut self, u: usize, f: Fault, length: Duration) {
        if let Some(p) = &self.units[u].proxy {
            p.set(f);
            self.units[u].heal_at = Some(Instant::now() + length);
            self.report.faults += 1;
            *self
                .report
                .faults_by_kind
                .entry(f.kind().to_string())
                .or_default() += 1;
        }
    }

    /// Restarts what is due, heals what is due, and notices daemons that exited by themselves.
    fn tend(&mut self, everything: bool) -> Result<()> {
        let now = Instant::now();
        for u in 0..self.units.len() {
            if let Some(d) = &mut self.units[u].daemon
                && let Ok(Some(status)) = d.0.try_wait()
            {
                let msg = format!(
                    "{} exited by itself ({status}); see logs/{}.log",
                    self.units[u].code, self.units[u].code
                );
                self.say(&msg);
                self.report.problems.push(msg);
                self.units[u].daemon = None;
                self.units[u].restart_at = Some(now);
            }
            if self.units[u].daemon.is_none()
                && (everything || self.units[u].restart_at.is_some_and(|t| t <= now))
            {
                self.start(u)?;
            }
            if let Some(p) = &self.units[u].proxy
                && (everything || self.units[u].heal_at.is_some_and(|t| t <= now))
            {
                p.set(Fault::Pass);
                self.units[u].heal_at = None;
            }
        }
        Ok(())
    }

    async fn main_loop(&mut self) -> Result<()> {
        let max_rounds = self.cfg.duration.as_secs() as usize / 2 + 2;
        let chaos_started = Instant::now();
        for round in 1..=max_rounds {
            if chaos_started.elapsed() >= self.cfg.duration {
                break;
            }
            self.report.rounds = round;
            let (lo, hi) = self.cfg.phase;
            let phase = self.rng.random_range(lo..=hi.max(lo));
            let end = Instant::now() + phase;
            self.say(&format!(
                "round {round}: {:.1} s of chaos",
                phase.as_secs_f64()
            ));
            // Bounded: at most one action per 50 ms of the phase.
            let steps = (phase.as_millis() / 50) as usize + 1;
            for _ in 0..steps {
                if Instant::now() >= end {
                    break;
                }
                self.tend(false)?;
                self.step().await;
                let pause = self.rng.random_range(50..300);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            // Heal everything, restart anything down, and time the convergence.
            self.tend(true)?;
            let healed = Instant::now();
            match self.converge().await {
                Ok(()) => {
                    let ms = healed.elapsed().as_millis() as u64;
                    self.report.convergence_ms.push(ms);
                    self.say(&format!(
                        "round {round}: healed → converged in {:.2} s",
                        ms as f64 / 1000.0
                    ));
                }
                Err(why) => {
                    self.report.not_converged += 1;
                    let msg = format!(
                        "round {round} (seed {}): not converged {:.0} s after the heal: {why}",
                        self.cfg.seed,
                        self.cfg.bound.as_secs_f64()
                    );
                    self.say(&msg);
                    self.report.problems.push(msg);
                }
            }
            for p in self.integrity().await {
                self.report.problems.push(format!("round {round}: {p}"));
            }
        }
        Ok(())
    }

    /// One random action: a kill, a link fault, or an edit.
    async fn step(&mut self) {
        let roll = self.rng.random_range(0..100);
        if roll < 12 {
            let down = self.units.iter().filter(|u| u.daemon.is_none()).count();
            if down < 2 {
                let u = self.rng.random_range(0..self.units.len());
                if self.units[u].daemon.is_some() {
                    let ms = self.rng.random_range(300..3000);
                    self.say(&format!("kill {} for {ms} ms", self.units[u].code));
                    self.kill(u, Duration::from_millis(ms));
                }
            }
        } else if roll < 27 {
            let u = self.rng.random_range(1..self.units.len());
            if self.units[u].heal_at.is_none() {
                let f = match self.rng.random_range(0..5) {
                    0 => Fault::Cut,
                    1 => Fault::Freeze,
                    2 => Fault::BlackHole,
                    3 => Fault::Delay(Duration::from_millis(self.rng.random_range(20..800))),
                    _ => Fault::Bandwidth(self.rng.random_range(2_000..64_000)),
                };
                let ms = self.rng.random_range(300..5000);
                self.say(&format!(
                    "{f} on the link of {} for {ms} ms",
                    self.units[u].code
                ));
                self.fault(u, f, Duration::from_millis(ms));
            }
        } else {
            let insts = self.institutions();
            let i = self.rng.random_range(insts);
            match self.rng.random_range(0..100) {
                0..25 => self.add(i).await,
                25..65 => self.edit(i).await,
                65..72 => {
                    let n = self.rng.random_range(2..=6);
                    self.import(i, n).await
                }
                72..75 => {
                    // A larger sheet, its command killed part of the way (or not, if it was quick).
                    let n = self.rng.random_range(1000..=3000);
                    let ms = self.rng.random_range(20..300);
                    self.import_killed(i, n, Some(Duration::from_millis(ms)))
                        .await
                }
                _ => self.supervise(i).await,
            }
        }
    }
}

/// On Linux the daemon gets SIGKILL when the thread that started it ends, so that not even a
/// SIGKILL of the run leaves daemons behind (the run starts them from the runtime's threads,
/// which live as long as the run).
fn die_with_parent(c: &mut std::process::Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            c.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = c;
}
