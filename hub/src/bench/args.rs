//! The options of `yl-hub bench`, which every scenario reads.

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// federation: the whole federation at the given size (cold start, latency, reconnects,
    /// memory, floor); sync: one ledger between an institution and its district hub; feed:
    /// edit-to-city-feed latency only.
    #[arg(long, default_value = "federation")]
    pub scenario: String,
    /// Cameras in the institution's ledger (sync), or in each institution's (feed).
    #[arg(long, default_value_t = 5000)]
    pub cameras: usize,
    /// Districts (feed).
    #[arg(long, default_value_t = 10)]
    pub districts: usize,
    /// Institutions under each district (feed).
    #[arg(long, default_value_t = 10)]
    pub institutions: usize,
    /// Offline edits (one change each) before the second reconnect.
    #[arg(long, default_value_t = 1000)]
    pub edits: usize,
    /// Edits made by an institution while offline before it reconnects (federation).
    #[arg(long, default_value_t = 100)]
    pub offline_edits: usize,
    /// Where to build the federation (a temporary folder inside it; default: the system's).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Print JSON only.
    #[arg(long)]
    pub json: bool,
    /// Measure as if acknowledgements did not wait for stable storage (SQLite synchronous =
    /// NORMAL), to see what durability costs; never the setting of a real unit.
    #[arg(long)]
    pub without_fsync: bool,
}
