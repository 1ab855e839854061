//! `yl-hub chaos`: a federation of real processes on this machine, through random SIGKILLs, link
//! faults and edits, then healed and checked (the same code as the test `tests/tests/chaos.rs`).

pub mod proxy;
pub mod run;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

pub use proxy::{Fault, FaultProxy};
pub use run::{ChaosConfig, ChaosReport};

#[derive(Debug, clap::Args)]
pub struct ChaosArgs {
    /// How long the chaos goes on, in minutes (fractions allowed).
    #[arg(long, default_value_t = 5.0)]
    pub minutes: f64,
    /// The seed of every random choice (kills, faults, edits, their timing).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The run's folder (must be new or empty; kept). Default: a temporary folder, kept only when
    /// the run finds something.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// District hubs under the city.
    #[arg(long, default_value_t = 2)]
    pub districts: usize,
    /// Institutions under each district.
    #[arg(long, default_value_t = 3)]
    pub institutions: usize,
    /// Heal → converged must happen within this many seconds.
    #[arg(long, default_value_t = 60)]
    pub bound_secs: u64,
    /// The `yl-node` executable for the institutions (default: the one beside this `yl-hub`).
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// The report as JSON on stdout (progress stays on stderr).
    #[arg(long)]
    pub json: bool,
    /// No progress lines.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `yl-hub chaos`; fails (exit status 1) when anything was lost or damaged.
pub async fn main(a: ChaosArgs) -> Result<()> {
    crate::local::raise_fd_limit();
    let hub_bin = std::env::current_exe().context("where is this yl-hub?")?;
    let node_bin = match a.node_bin {
        Some(p) => p,
        None => hub_bin.with_file_name(format!("yl-node{}", std::env::consts::EXE_SUFFIX)),
    };
    if !node_bin.is_file() {
        bail!(
            "no yl-node at {}: build it (cargo build -p yinglian-node) or give --node-bin",
            node_bin.display()
        );
    }
    if !(a.minutes > 0.0 && a.minutes <= 24.0 * 60.0) {
        bail!("--minutes must be more than 0 and at most a day");
    }
    let tmp = match &a.dir {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("yl-chaos-").tempdir()?),
    };
    let dir = match (&a.dir, &tmp) {
        (Some(d), _) => d.clone(),
        (None, Some(t)) => t.path().join("run"),
        (None, None) => unreachable!("a temporary folder when none is given"),
    };
    let mut cfg = ChaosConfig::new(hub_bin, node_bin, dir.clone(), a.seed);
    cfg.duration = Duration::from_secs_f64(a.minutes * 60.0);
    cfg.districts = a.districts;
    cfg.institutions = a.institutions;
    cfg.bound = Duration::from_secs(a.bound_secs.max(1));
    cfg.verbose = !a.quiet;
    let report = tokio::select! {
        r = run::run(cfg) => r?,
        _ = tokio::signal::ctrl_c() => bail!("interrupted: every process of the run was stopped"),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.summary());
    }
    if !report.ok() {
        if let Some(t) = tmp {
            // Keep the evidence: the stores and the logs.
            let _ = t.keep();
        }
        eprintln!("the run's folder: {}", dir.display());
        bail!("the chaos run found problems (seed {})", a.seed);
    }
    Ok(())
}
