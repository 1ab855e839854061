//! yinglian hub: a node that also accepts children. It keeps its own ledger with the commands of
//! `yl-node`, enrolls and revokes children, and serves them the `Sync` service.

pub mod bench;
pub mod chaos;
pub mod demo;
pub mod local;

pub use yinglian_node::cli::{Command, Common};

/// The commands of `yl-hub`: every command of a node, and the hub's own.
#[derive(Debug, clap::Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum HubCommand {
    #[command(flatten)]
    Unit(Command),
    /// The benchmark: figures of a federation on this machine, as a table or JSON.
    Bench(bench::BenchArgs),
    /// The whole federation on this machine (city, its districts, institutions), with a simulated
    /// campaign and the dashboards live; Ctrl-C stops, running again resumes.
    Demo(demo::DemoArgs),
    /// A federation of real processes on this machine through random SIGKILLs, link faults and
    /// edits, then healed and checked: kills, faults, edits checked, lost, convergence times.
    Chaos(chaos::ChaosArgs),
    /// Runs a slice of the bench's institutions for `yl-hub bench` (requests on stdin, answers
    /// on stdout, one JSON line each).
    #[command(hide = true)]
    BenchWorker,
}

/// `yl-hub`: the commands of a hub unit.
#[derive(Debug, clap::Parser)]
#[command(
    name = "yl-hub",
    version,
    about = "yl-hub: a unit with children (city, district); keeps its own ledger too"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: HubCommand,
}

/// Warnings, without sqlx's notices of slow statements (`RUST_LOG` still overrides).
fn quiet_sqlx() -> yinglian_node::daemon::config::LogConfig {
    yinglian_node::daemon::config::LogConfig {
        format: None,
        level: Some("warn,sqlx=error".into()),
    }
}

/// Entry point of `yl-hub`.
pub async fn main_hub() -> anyhow::Result<()> {
    yinglian_node::federation::pki::install_crypto();
    yinglian_node::store::private_umask();
    let mut cli: Cli = yinglian_node::cli::parse_args("yl-hub");
    match cli.command {
        HubCommand::Unit(mut c) => {
            if !c.is_long_running() {
                yinglian_node::cli::restore_sigpipe();
            }
            let log = yinglian_node::cli::prepare(&mut cli.common, &mut c)?;
            yinglian_node::cli::init_tracing_with(matches!(c, Command::Serve(_)), log.as_ref());
            yinglian_node::cli::run(&cli.common, c, yinglian_node::domain::unit::Role::Hub).await
        }
        HubCommand::Demo(a) => {
            // A hundred and sixty units share two cores: SQLite's slow-statement notices say
            // nothing to someone watching the demo.
            yinglian_node::cli::init_tracing_with(false, Some(&quiet_sqlx()));
            demo::run(a).await
        }
        HubCommand::Chaos(a) => {
            yinglian_node::cli::init_tracing_with(false, Some(&quiet_sqlx()));
            chaos::main(a).await
        }
        HubCommand::Bench(a) => {
            yinglian_node::cli::init_tracing_with(false, Some(&quiet_sqlx()));
            bench::run(a).await
        }
        HubCommand::BenchWorker => {
            yinglian_node::cli::init_tracing_with(false, Some(&quiet_sqlx()));
            bench::worker::main().await
        }
    }
}
