//! `yl-hub demo`: the whole federation on this machine. A city hub, the city's real district-level
//! units (project data) and institutions with generated but plausible ledgers, each with its own
//! folder, keys and SQLite store, talking mTLS gRPC on loopback. The campaign is simulated
//! for as long as it runs (`simulation`): cameras registered, completed, networked, failing and
//! repaired, institutions going offline and coming back, while the dashboards move. The campaign's
//! milestones sit around today and most units have reported their contacts (`seed`), so the
//! dashboards show units on track, behind and overdue; a police subscriber reads the city's feed,
//! serves its page (公安视图) and the demo prints what it sees (`police`). Ctrl-C stops everything cleanly; running it again
//! resumes from the folder.

mod paperwork;
mod police;
mod seed;
mod simulation;
mod tree;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use yinglian_node::app::accounts::{self, Role as AccountRole};
use yinglian_node::federation::pki::Role;

pub use seed::live_campaign;
pub use simulation::diligence;

use crate::local::{Federation, LocalUnit, area_code, districts, first_districts, raise_fd_limit};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The demo's folder: one sub-folder per unit. Run again with the same folder to resume.
    #[arg(long, default_value = "./yl-demo")]
    pub dir: PathBuf,
    /// Institutions under each district (first run only).
    #[arg(long, default_value_t = 3)]
    pub institutions: usize,
    /// About how many cameras each institution starts with (first run only).
    #[arg(long, default_value_t = 40)]
    pub cameras: usize,
    /// How many of the city's district-level units take part (first run only; all 41 by default).
    #[arg(long)]
    pub districts: Option<usize>,
    /// The city dashboard's address; the first district's pages are on the next port, its
    /// first institution's on the one after, and the police page on the one after that.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Milliseconds between two simulated events.
    #[arg(long, default_value_t = 300)]
    pub pace_ms: u64,
    /// Stop by itself after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub seconds: Option<u64>,
}

/// What the folder remembers between runs.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    /// Hub unit code → the loopback address its children dial (fixed at enrollment).
    hubs: Vec<(String, SocketAddr)>,
    /// District code → its institutions' codes.
    institutions: Vec<(String, Vec<String>)>,
    /// The demo accounts' password (a demo folder only: real units make their own).
    password: String,
    /// The next generated device code's serial.
    next_serial: u64,
    /// The units beside the districts' institutions (the affiliated hospital, a hospital with
    /// sub-units and its sub-units), in start order; a demo folder of an earlier release has none.
    #[serde(default)]
    others: Vec<String>,
}

const STATE: &str = "demo.json";

pub async fn run(a: DemoArgs) -> Result<()> {
    raise_fd_limit();
    std::fs::create_dir_all(&a.dir)
        .with_context(|| format!("cannot create the demo folder {}", a.dir.display()))?;
    let state_path = a.dir.join(STATE);
    let (mut fed, mut state) = if state_path.exists() {
        println!("resuming the demo in {}", a.dir.display());
        resume(&a.dir, &state_path).await?
    } else {
        if std::fs::read_dir(&a.dir)?.next().is_some() {
            bail!(
                "{} is not empty and holds no {STATE}: give a new folder with --dir",
                a.dir.display()
            );
        }
        create(&a).await?
    };
    save(&state_path, &state)?;

    // The campaign's milestones, placed around today (again at every start, so a demo resumed
    // weeks later still shows a live campaign); it flows down to every unit.
    let today = yinglian_node::domain::figures::beijing_today();
    yinglian_node::app::campaign::publish(&fed.city.store, &seed::live_campaign(today)).await?;
    let police_store = police::enroll(&a.dir, &fed.city, &state.password).await?;

    fed.start_all().await?;
    let web = [
        a.http,
        next_port(a.http, 1),
        next_port(a.http, 2),
        next_port(a.http, 3),
    ];
    let city_web = fed.city.serve_web(Some(web[0])).await.with_context(|| {
        format!(
            "the city dashboard cannot use {}: choose another with --http",
            web[0]
        )
    })?;
    let district_web = fed.districts[0].serve_web(Some(web[1])).await?;
    let inst_web = fed.institutions[0][0].serve_web(Some(web[2])).await?;
    let police = police::start(police_store, web[3]).await.with_context(|| {
        format!(
            "the police page cannot use {}: choose another --http",
            web[3]
        )
    })?;
    let police_web = police.web.map(|w| w.addr).unwrap_or(web[3]);
    let units = fed.all().count();
    println!();
    println!(
        "应联 demo: {units} units on this machine, each with its own store under {}",
        a.dir.display()
    );
    println!("  city dashboard (重庆市卫生健康委员会):  http://{city_web}/");
    println!(
        "  district {} pages:               http://{district_web}/",
        fed.districts[0].code
    );
    println!(
        "  institution {} (clerk) pages:  http://{inst_web}/",
        fed.institutions[0][0].code
    );
    println!(
        "  police {} (公安视图) page:          http://{police_web}/",
        police::CODE
    );
    println!(
        "  sign in as \"demo\" with password \"{}\" (the same on all four)",
        state.password
    );
    println!(
        "  the police subscriber {} reads the city's feed; its view is also printed every 12 s",
        police::CODE
    );
    if let [affiliated, hospital, ..] = fed.others.as_slice() {
        println!(
            "  the whole tree: {} (委属) reports straight to the city; {} has sub-units (下级部门) and a hub of its own",
            affiliated.code, hospital.code
        );
    }
    println!(
        "  Ctrl-C stops everything; `yl-hub demo --dir {}` resumes.",
        a.dir.display()
    );
    println!();

    let stop = async {
        match a.seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    let mut sim = simulation::Simulation::new();
    let mut tick = tokio::time::interval(Duration::from_millis(a.pace_ms.max(10)));
    let mut summary = tokio::time::interval(Duration::from_secs(3));
    let mut summaries = 0u64;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                if let Err(e) = sim.step(&mut fed, &mut state.next_serial).await {
                    tracing::warn!(error = %e, "simulated event failed");
                }
            }
            _ = summary.tick() => {
                println!("{}", summary_line(&mut sim, &fed).await);
                summaries += 1;
                if summaries % 4 == 1 {
                    println!("{}", police::line(&police).await);
                }
            }
        }
    }
    println!("stopping every unit…");
    if let Err(e) = police.stop().await {
        tracing::warn!(error = %e, "stopping the police subscriber");
    }
    save(&state_path, &state)?;
    fed.stop_all().await;
    for u in fed.all() {
        u.store.checkpoint().await.ok();
    }
    println!(
        "stopped. Run `yl-hub demo --dir {}` to resume.",
        a.dir.display()
    );
    Ok(())
}

fn next_port(a: SocketAddr, n: u16) -> SocketAddr {
    SocketAddr::new(a.ip(), a.port().saturating_add(n))
}

fn save(path: &Path, s: &State) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(s)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn password() -> String {
    const WORDS: [&str; 8] = ["lian", "wang", "shi", "pin", "an", "kang", "jian", "yun"];
    let mut r = rand::rng();
    format!(
        "{}-{}-{}",
        WORDS[r.random_range(0..8)],
        WORDS[r.random_range(0..8)],
        r.random_range(1000..9999)
    )
}

async fn create(a: &DemoArgs) -> Result<(Federation, State)> {
    let all = districts();
    let d = a.districts.unwrap_or(all.len()).clamp(1, all.len());
    println!(
        "building the demo federation in {}: the city, {d} districts, {} institutions (keys, certificates, stores)…",
        a.dir.display(),
        d * a.institutions.max(1)
    );
    let started = Instant::now();
    let mut fed = Federation::build(&a.dir, &first_districts(d), a.institutions.max(1)).await?;
    let mut rng = StdRng::seed_from_u64(2026);
    let mut done = 0;
    for (di, list) in fed.institutions.iter().enumerate() {
        for (ii, inst) in list.iter().enumerate() {
            let n = rng.random_range(a.cameras / 2..=a.cameras * 3 / 2).max(1);
            // Seeds apart for every institution (the zones share one area, and sample codes
            // differ for seeds distinct modulo 5,000); below ten institutions a district, the
            // seeds the demo always used.
            inst.generate_cameras(
                &area_code(&fed.districts[di].code),
                n,
                (di * list.len().max(10) + ii) as u64,
            )
            .await?;
            done += n;
        }
    }
    fed.others = tree::build(&a.dir, &fed, a.cameras).await?;
    for u in &fed.others {
        done += u.store.counts(u.code.as_str()).await?.0.built as usize;
    }
    // Contacts (Attachment 1): most units reported both, some one, some none.
    let mut reported = 0;
    for (k, u) in fed.all().enumerate() {
        let hub = u.role == Role::Hub;
        if seed::contacts(u, k, hub).await? == 2 {
            reported += 1;
        }
    }
    let password = password();
    for u in [&fed.city, &fed.districts[0], &fed.institutions[0][0]] {
        accounts::add_user(&u.store, "demo", AccountRole::Editor, &password).await?;
    }
    println!(
        "  {done} generated cameras, {reported} of {} units with both contacts, ready in {:.1} s",
        fed.all().count(),
        started.elapsed().as_secs_f64()
    );
    let state = State {
        hubs: std::iter::once(&fed.city)
            .chain(&fed.districts)
            .chain(fed.others.iter().filter(|u| u.role == Role::Hub))
            .map(|h| (h.code.to_string(), h.addr.expect("a hub has an address")))
            .collect(),
        institutions: fed
            .districts
            .iter()
            .zip(&fed.institutions)
            .map(|(d, l)| {
                (
                    d.code.to_string(),
                    l.iter().map(|i| i.code.to_string()).collect(),
                )
            })
            .collect(),
        password,
        next_serial: 1,
        others: fed.others.iter().map(|u| u.code.to_string()).collect(),
    };
    Ok((fed, state))
}

async fn resume(dir: &Path, state_path: &Path) -> Result<(Federation, State)> {
    let state: State = serde_json::from_slice(&std::fs::read(state_path)?)
        .with_context(|| format!("{} is damaged", state_path.display()))?;
    let addr = |code: &str| {
        state
            .hubs
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, a)| *a)
            .with_context(|| format!("{STATE} has no address for hub {code}"))
    };
    let (root, _) = state.hubs.first().context("no city in the demo state")?;
    let city = LocalUnit::open(&dir.join(root), Role::Hub, Some(addr(root)?)).await?;
    let mut districts = Vec::new();
    let mut institutions = Vec::new();
    for (d, list) in &state.institutions {
        districts.push(LocalUnit::open(&dir.join(d), Role::Hub, Some(addr(d)?)).await?);
        let mut mine = Vec::new();
        for i in list {
            mine.push(LocalUnit::open(&dir.join(i), Role::Node, None).await?);
        }
        institutions.push(mine);
    }
    let mut others = Vec::new();
    for code in &state.others {
        let hub = state.hubs.iter().any(|(c, _)| c == code);
        let (role, at) = if hub {
            (Role::Hub, Some(addr(code)?))
        } else {
            (Role::Node, None)
        };
        others.push(LocalUnit::open(&dir.join(code), role, at).await?);
    }
    Ok((
        Federation {
            city,
            districts,
            institutions,
            others,
        },
        state,
    ))
}

/// The line printed every few seconds: the city's figures as its dashboard has them, and what the
/// simulated clerks did since the last line.
async fn summary_line(sim: &mut simulation::Simulation, fed: &Federation) -> String {
    let st = match yinglian_node::app::figures::subtree_stats(&fed.city.store, None).await {
        Ok(s) => s,
        Err(e) => return format!("city figures not ready: {e}"),
    };
    let total: usize = fed.institutions.iter().map(Vec::len).sum();
    let t = std::mem::take(&mut sim.tally);
    let rate = |r: Option<f64>| r.map(|r| format!("{r:.2}%")).unwrap_or_else(|| "—".into());
    let mut standing = [0usize; 4];
    for c in &st.children {
        if let Some(m) = &c.milestone {
            use yinglian_node::domain::campaign::Status;
            standing[match m.status {
                Status::Met => 0,
                Status::OnTrack => 1,
                Status::Behind => 2,
                Status::Overdue => 3,
            }] += 1;
        }
    }
    format!(
        "{:>5} s  city: 已建 {} · 应联网 {} · 已联网 {} · 联网率 {} · 建档率 {} · 完好率 {} · \
         区县 达成 {} 按计划 {} 落后 {} 逾期 {} · 机构在线 {}/{} · 新增 {} 补录 {} 联网 {} 故障 {} 修复 {} · events {}",
        sim.elapsed().as_secs(),
        st.built,
        st.must_network,
        st.networked,
        rate(st.networking_rate),
        rate(st.archive_rate),
        rate(st.intact_rate),
        standing[0],
        standing[1],
        standing[2],
        standing[3],
        total - sim.offline(),
        total,
        t.added,
        t.completed,
        t.networked,
        t.faults,
        t.repairs,
        sim.events
    )
}
