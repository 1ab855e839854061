//! yinglian hub: a node that also accepts children. It keeps its own ledger with the commands of
//! `yl-node`, enrolls and revokes children, and serves them the `Sync` service.

pub mod local;

pub use yinglian_node::cli::{Command, Common};

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
    pub command: Command,
}

/// Entry point of `yl-hub`.
pub async fn main_hub() -> anyhow::Result<()> {
    use clap::Parser;
    yinglian_node::pki::install_crypto();
    let cli = Cli::parse();
    yinglian_node::cli::init_tracing(matches!(cli.command, Command::Serve(_)));
    yinglian_node::cli::run(&cli.common, cli.command, "hub").await
}
