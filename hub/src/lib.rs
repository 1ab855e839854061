//! yinglian hub: a node that also accepts children. It keeps its own ledger with the commands of
//! `yl-node`, enrolls and revokes children, and serves them the `Sync` service.

pub mod bench;
pub mod chaos;
pub mod demo;
pub mod local;

pub use yinglian_node::cli::{Command, Common};

/// `yl-hub` 的命令：节点的全部命令，加上上级节点自己的命令。
#[derive(Debug, clap::Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum HubCommand {
    #[command(flatten)]
    Unit(Command),
    /// 性能测试：在本机运行一个联盟并测量各项数字，以表格或 JSON 输出
    Bench(bench::BenchArgs),
    /// 演示：在本机运行整个联盟（市、各区县、机构），模拟工作进展，看板实时变化
    ///
    /// 按 Ctrl-C 停止，再次运行时接着上次继续。
    Demo(demo::DemoArgs),
    /// 故障演练：在本机用真实进程组成联盟，经受随机故障后检查数据是否一致
    ///
    /// 随机 SIGKILL、线路故障和修改，恢复后核对：终止次数、故障次数、核对的修改、丢失的修改、收敛时间。
    Chaos(chaos::ChaosArgs),
    /// 为 `yl-hub bench` 运行一部分测试机构（从 stdin 读请求，向 stdout 写答复，每条一行 JSON）
    #[command(hide = true)]
    BenchWorker,
}

/// `yl-hub`：上级节点单位的命令
#[derive(Debug, clap::Parser)]
#[command(
    name = "yl-hub",
    version,
    about = "yl-hub：供有下级单位的单位（市、区县）使用，同时保存本单位自己的台账"
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
