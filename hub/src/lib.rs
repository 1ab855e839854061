//! yinglian hub: a node that also accepts children. Today it keeps its own ledger with the same
//! commands as `yl-node`; child registry, sync, rollups and feeds follow.

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
    let cli = Cli::parse();
    yinglian_node::cli::run(&cli.common, cli.command, "hub").await
}
