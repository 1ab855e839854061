//! The `yl-node` command line: argument parsing and one submodule per command group.

mod camera;
mod catalogue;
mod check;
mod contacts;
pub mod export;
pub mod federation;
mod ledger;
mod operations;
mod report;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

use crate::domain::unit::{Role, UnitCode, UnitKind};
use crate::store::Store;

/// 每个命令都可用的选项。
#[derive(Debug, clap::Args, Clone)]
pub struct Common {
    /// 本单位的数据文件夹
    #[arg(long, env = "YL_DATA", global = true, default_value = DEFAULT_DATA)]
    pub data: PathBuf,
    /// 操作人，记入修改记录（audit）
    #[arg(long = "user", env = "YL_USER", global = true)]
    pub user: Option<String>,
}

impl Common {
    pub fn who(&self) -> String {
        self.user
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "clerk".into())
    }

    /// Opens the unit's store for this command; [`run`] closes it when the command ends.
    pub async fn open(&self) -> Result<Arc<Store>> {
        let store = Arc::new(Store::open(&self.data).await?);
        OPENED
            .lock()
            .expect("stores opened")
            .push(Arc::clone(&store));
        Ok(store)
    }
}

/// The stores the command opened, closed when it ends ([`close_opened`]).
static OPENED: std::sync::Mutex<Vec<Arc<Store>>> = std::sync::Mutex::new(Vec::new());

/// Closes every store the command opened, waiting until each connection is closed. The last
/// connection to a store that closes moves SQLite's write-ahead log into the store and removes
/// it; a process that exits with connections open leaves the log (70 MB after a 50,000-row
/// import) until the next command opens the store.
async fn close_opened() {
    let opened = std::mem::take(&mut *OPENED.lock().expect("stores opened"));
    for store in opened {
        match Arc::try_unwrap(store) {
            Ok(store) => store.close().await,
            // Still held (a task the command started and left running): left to the process's exit.
            Err(store) => {
                tracing::debug!(unit = %store.unit(), "a store still in use is not closed")
            }
        }
    }
}

/// yl-node：一个单位的摄像机台账（一机一档），在本机离线保存，并与上级单位同步
#[derive(Debug, Parser)]
#[command(name = "yl-node", version)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

/// `yl-node` 与 `yl-hub` 共有的命令（上级节点也保存自己的台账）。
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// 在数据文件夹中建立一个新单位
    Init(InitArgs),
    /// 摄像机档案：新增、修改、撤除、列出、查看、导入
    #[command(subcommand)]
    Camera(camera::CameraCmd),
    /// 两名联系人：分管领导和联络员（附件1）
    #[command(subcommand)]
    Contacts(contacts::ContactsCmd),
    /// 本单位的统计数字（已建、联网率、建档率等）
    Stats(StatsArgs),
    /// 保存或合并整份台账（用于另一副本、U 盘拷贝、备份）
    #[command(subcommand)]
    Ledger(ledger::LedgerCmd),
    /// 导出附件1或附件2（官方格式的 XLSX，或 CSV）
    Export(export::ExportArgs),
    /// 报送：提交、审核报送，查看本级报送情况
    ///
    /// 按节点提交本单位的报送；接受或退回下级单位的报送；查看本级的报送情况（报送率和及时率）。
    #[command(subcommand)]
    Report(report::ReportCmd),
    /// 修改记录：谁改了什么，最新的在前
    Audit(AuditArgs),
    /// 数据质量核查：按核查规则检查本级持有的摄像机档案
    Check(check::CheckArgs),
    /// 安全运维：近30天的运维情况和待确认的备案、撤除报告
    ///
    /// 近30天摄像机的在役时间、故障和修复时长，以及等待上级确认的建设备案和撤除报告。
    Operations(operations::OperationsArgs),
    /// 考核排名：按工作方案的公式给下级单位排名
    League {
        /// 以 JSON 格式输出
        #[arg(long)]
        json: bool,
        /// 根单位用：发布此 JSON 文件中的考核权重
        ///
        /// 文件格式即 `league --json` 输出的 `weights` 对象，各项权重之和须为 100；权重随工作方案逐级下发。
        #[arg(long)]
        publish_weights: Option<PathBuf>,
    },
    /// 联盟的证书体系（PKI，仅根单位使用）
    #[command(subcommand)]
    Pki(federation::PkiCmd),
    /// 签发下级单位的证书申请并登记该单位（仅上级节点）
    Enroll(federation::EnrollArgs),
    /// 安装上级单位登记时写出的登记包（证书、信任根、上级地址）
    Join {
        /// 上级单位交来的登记包文件
        #[arg(long)]
        bundle: PathBuf,
    },
    /// 吊销下级单位：从此拒绝它的连接（仅上级节点）
    Revoke {
        /// 要吊销的下级单位编码
        #[arg(long)]
        unit: String,
    },
    /// 运行后台服务：与上级单位同步；上级节点还接受下级单位的连接
    Serve(federation::ServeArgs),
    /// 订阅方用：接收订阅范围的实时数据，每行一个 JSON
    ///
    /// 在已加入联盟的订阅方上运行；从上次收到的位置（cursor）接着接收。加 `--web` 时同时提供公安视图网页。
    Subscribe(federation::SubscribeArgs),
    /// 订阅方用：读取一个区县的点位目录（公安目录）
    ///
    /// 在已加入联盟、获授权读取点位目录的订阅方上运行；到持有该区县台账的上级节点读取。读取全部，或用 --since 只读其后的变化；--out x.csv / x.xlsx 写出公安平台的导入文件。
    Catalogue(catalogue::CatalogueArgs),
    /// 谁查看了本单位的点位（公安读取点位目录、上级调阅摄像机清单），最新的在前
    Reads {
        /// 以 JSON 格式输出
        #[arg(long)]
        json: bool,
    },
    /// 联系人名录：本单位可查看的联系人（下辖各单位及上级单位）
    Directory {
        /// 按单位编码、单位名称、联系人姓名或电话查找
        #[arg(long)]
        query: Option<String>,
        /// 只列出两名联系人未报齐的单位
        #[arg(long)]
        missing: bool,
        /// 以 JSON 格式输出
        #[arg(long)]
        json: bool,
    },
    /// 本单位网页的登录账户（也可写作 `account`）
    #[command(subcommand, alias = "account")]
    User(UserCmd),
    /// 把本单位（数据库、密钥、证书）完整备份到新文件夹，后台服务运行时也可备份
    Backup {
        /// 要新建的备份文件夹（不能已经存在）
        #[arg(long)]
        out: PathBuf,
    },
    /// 把备份恢复到（空的）数据文件夹；须先停止后台服务
    ///
    /// 备份之后的修改会在第一次同步时从上级单位取回。
    Restore {
        /// `backup` 写出的备份文件夹
        #[arg(long)]
        from: PathBuf,
    },
    /// 同步状态：上级和各连接方、各自最近一次同步的时间、拒绝记录
    Status {
        /// 以 JSON 格式输出
        #[arg(long)]
        json: bool,
    },
    /// 生成一份模拟的摄像机表（用于培训、演示和性能测试）
    SampleSheet {
        /// 要写出的文件：.xlsx 写成 XLSX，其他文件名写成 CSV
        #[arg(long)]
        out: PathBuf,
        /// 生成多少行
        #[arg(long, default_value_t = 100)]
        rows: usize,
        /// 设备编码开头的6位区县代码
        #[arg(long, default_value = "500103")]
        district: String,
        /// 随机数种子（种子相同，生成的表也相同）
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// 新建账户（或重设已有账户的密码和角色）
    Add {
        /// 账户名
        #[arg(long)]
        name: String,
        /// editor（可编辑）或 read-only（只读）
        #[arg(long, default_value = "read-only")]
        role: String,
        /// 密码，至少8个字符；也可用环境变量 YL_PASSWORD 给出
        #[arg(long, env = "YL_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// 列出账户及其角色
    List,
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// 单位编码（行政区划代码，如 500103，或 500103-0001）
    #[arg(long)]
    pub unit: String,
    /// 单位全称
    #[arg(long)]
    pub name: String,
    /// 单位类型：city（市级）、district（区）、county（县）、zone（开发区）、affiliated（委属）、institution（医疗卫生机构）或 sub-unit（下级部门）
    #[arg(long, default_value = "institution")]
    pub kind: String,
    /// 同时把证书申请写到此文件（交上级单位办理 `enroll`）
    #[arg(long)]
    pub csr_out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// 以 JSON 格式输出
    #[arg(long)]
    pub json: bool,
    /// 改为查看下辖的某个单位（限本级持有其台账的单位，如上级节点的下级单位）
    #[arg(long)]
    pub unit: Option<String>,
    /// 查看截至该日结束时的数字（YYYY-MM-DD，北京时间）
    #[arg(long)]
    pub as_of: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// 只看这一条记录（设备编码；或单位编码，看单位信息的修改）
    #[arg(long)]
    pub record: Option<String>,
    /// 最多显示多少条
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// 以 JSON 格式输出
    #[arg(long)]
    pub json: bool,
}

/// Runs one command for a unit whose role is `role` (`Node` for `yl-node`, `Hub` for `yl-hub`),
/// then closes the stores it opened, whatever its outcome.
pub async fn run(common: &Common, command: Command, role: Role) -> Result<()> {
    let outcome = run_command(common, command, role).await;
    close_opened().await;
    outcome
}

async fn run_command(common: &Common, command: Command, role: Role) -> Result<()> {
    match command {
        Command::Init(a) => {
            let unit = UnitCode::parse(&a.unit)?;
            let kind: UnitKind = a.kind.parse()?;
            if let Some(out) = &a.csr_out {
                // Checked before anything is made: a unit made whose request could not be written
                // out could not be initialised again.
                let folder = match out.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => std::path::Path::new("."),
                };
                if out.is_dir() || !folder.is_dir() {
                    bail!(
                        "无法把证书申请写到 {}：{}；本单位没有建立",
                        out.display(),
                        if out.is_dir() {
                            "这是一个文件夹，请给出文件名"
                        } else {
                            "所在的文件夹不存在"
                        }
                    );
                }
            }
            let store = Store::init(&common.data, &unit, &a.name, kind, role).await?;
            let dir = store.dir().to_path_buf();
            store.close().await;
            // A hub asks for a CA too; a subscriber (run with yl-hub) never issues anything.
            let issues = role == Role::Hub && kind != UnitKind::Subscriber;
            let request = crate::federation::pki::make_request(&common.data, &unit, issues)?;
            println!(
                "已在 {2} 建立单位 {0}（{1}）",
                unit,
                a.name.trim(),
                dir.display()
            );
            if let Some(out) = &a.csr_out {
                std::fs::write(out, request).map_err(|e| {
                    anyhow::anyhow!("无法写入 {}：{}", out.display(), crate::app::zh::Zh::zh(&e))
                })?;
                println!(
                    "证书申请已写入 {}：请交给上级单位办理 enroll（私钥留在本机）",
                    out.display()
                );
            }
            Ok(())
        }
        Command::Camera(c) => camera::run(common, c).await,
        Command::Contacts(c) => contacts::run(common, c).await,
        Command::Ledger(c) => ledger::run(common, c).await,
        Command::Export(a) => export::run(common, a).await,
        Command::Report(c) => report::run(common, c).await,
        Command::Stats(a) => {
            let store = common.open().await?;
            crate::app::figures::refresh_rollup(&store).await?;
            let s = match &a.as_of {
                Some(d) => {
                    let date =
                        chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                            anyhow::anyhow!(
                                "--as-of “{d}”不是日期：请写成 年-月-日，例如 2021-12-31"
                            )
                        })?;
                    crate::app::figures::stats_as_of(&store, a.unit.as_deref(), date).await?
                }
                None => crate::app::figures::subtree_stats(&store, a.unit.as_deref()).await?,
            };
            if a.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                use crate::domain::figures::show_rate;
                println!("{} {}", s.unit, s.name);
                println!("  已建     {}", s.built);
                println!("  应联网   {}", s.must_network);
                println!("  已联网   {}", s.networked);
                println!("  联网率   {}", show_rate(s.networking_rate));
                println!("  建档率   {}", show_rate(s.archive_rate));
                println!("  标注率   {}", show_rate(s.geo_rate));
                println!("  完好率   {}", show_rate(s.intact_rate));
                println!("    重点公共区域 {}", show_rate(s.intact_rate_key_public));
                println!("    重点行业领域 {}", show_rate(s.intact_rate_key_industry));
                println!("  数据截至 {}", crate::app::zh::when(&s.as_of));
                if let Some(m) = &s.milestone {
                    println!(
                        "  下一节点 {}（{} 前达到 {}%）：现为 {:.2}% — {}",
                        m.title,
                        crate::app::zh::when(&m.deadline.to_string()),
                        m.target,
                        m.current,
                        crate::app::zh::Zh::zh(&m.status)
                    );
                }
                if !s.children.is_empty() {
                    let mut t = comfy_table::Table::new();
                    t.set_header(vec![
                        "单位",
                        "名称",
                        "已建",
                        "应联网",
                        "已联网",
                        "联网率",
                        "建档率",
                        "标注率",
                        "完好率",
                        "节点",
                    ]);
                    for c in &s.children {
                        t.add_row(vec![
                            c.unit.clone(),
                            c.name.clone(),
                            c.built.to_string(),
                            c.must_network.to_string(),
                            c.networked.to_string(),
                            show_rate(c.networking_rate),
                            show_rate(c.archive_rate),
                            show_rate(c.geo_rate),
                            show_rate(c.intact_rate),
                            c.milestone
                                .as_ref()
                                .map(|m| m.status.to_string())
                                .unwrap_or_default(),
                        ]);
                    }
                    println!("{t}");
                }
            }
            Ok(())
        }
        Command::SampleSheet {
            out,
            rows,
            district,
            seed,
        } => {
            crate::app::sample::write_sheet(&out, &district, rows, seed)?;
            println!("已生成 {rows} 行摄像机示例数据，写入 {}", out.display());
            Ok(())
        }
        Command::Pki(c) => federation::init_root(common, c, role).await,
        Command::Enroll(a) => federation::enroll(common, a, role).await,
        Command::Join { bundle } => federation::join(common, bundle).await,
        Command::Revoke { unit } => federation::revoke(common, unit, role).await,
        Command::Serve(a) => federation::serve(common, a, role).await,
        Command::Status { json } => federation::status(common, json).await,
        Command::Backup { out } => {
            let store = common.open().await?;
            let b = crate::app::backup::backup(&store, &out).await?;
            println!(
                "单位 {} 已备份到 {}：数据库 {} 字节，共 {} 个文件（含本单位私钥，请妥善保管）",
                store.unit(),
                b.dir.display(),
                b.store_bytes,
                b.files
            );
            Ok(())
        }
        Command::Restore { from } => {
            let unit = crate::app::backup::restore(&from, &common.data).await?;
            println!(
                "单位 {unit} 已恢复到 {}；请启动服务：备份之后的变化会从上级单位同步回来",
                common.data.display()
            );
            Ok(())
        }
        Command::User(UserCmd::Add {
            name,
            role,
            password,
        }) => {
            let store = common.open().await?;
            let role = crate::app::accounts::Role::parse(&role)?;
            let existed = crate::app::accounts::users(&store)
                .await?
                .iter()
                .any(|(n, _)| n == name.trim());
            crate::app::accounts::add_user(&store, &name, role, &password).await?;
            println!(
                "账户 {}（{}）{}",
                name.trim(),
                crate::app::zh::Zh::zh(&role),
                if existed {
                    "已更新：密码和角色已改为这次给出的"
                } else {
                    "已可使用"
                }
            );
            Ok(())
        }
        Command::User(UserCmd::List) => {
            let store = common.open().await?;
            for (name, role) in crate::app::accounts::users(&store).await? {
                let role = crate::app::accounts::Role::parse(&role)
                    .map(|r| crate::app::zh::Zh::zh(&r))
                    .unwrap_or(role);
                println!("{name}  {role}");
            }
            Ok(())
        }
        Command::Directory {
            query,
            missing,
            json,
        } => {
            let store = common.open().await?;
            let mut list = crate::app::directory::visible(&store, query.as_deref()).await?;
            if missing {
                list.retain(|e| !e.missing.is_empty());
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                let mut t = comfy_table::Table::new();
                t.set_header(vec!["单位", "名称", "上级", "分管领导", "联络员"]);
                let show = |c: &Option<crate::domain::contacts::Contact>| match c {
                    Some(c) => format!("{} {} {}", c.name, c.position, c.phone),
                    None => "（未报送）".to_string(),
                };
                for e in &list {
                    t.add_row(vec![
                        e.unit.clone(),
                        e.name.clone(),
                        e.parent.clone().unwrap_or_default(),
                        show(&e.leader),
                        show(&e.liaison),
                    ]);
                }
                println!("{t}");
                println!("共 {} 个单位", list.len());
            }
            Ok(())
        }
        Command::Subscribe(a) => federation::subscribe(common, a).await,
        Command::Catalogue(a) => catalogue::run(common, a).await,
        Command::Reads { json } => catalogue::reads(common, json).await,
        Command::Check(a) => check::run(common, a).await,
        Command::Operations(a) => operations::run(common, a).await,
        Command::League {
            json,
            publish_weights,
        } => {
            let store = common.open().await?;
            if let Some(path) = publish_weights {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    anyhow::anyhow!(
                        "无法读取 {}：{}",
                        path.display(),
                        crate::app::zh::Zh::zh(&e)
                    )
                })?;
                let w: crate::domain::assessment::Weights = serde_json::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("{} 不是一组权重：{e}", path.display()))?;
                crate::app::campaign::publish_weights(&store, &w).await?;
                println!("权重已发布：{}", w.formula());
                return Ok(());
            }
            let l = crate::app::assessment::league(&store).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&l)?);
                return Ok(());
            }
            let pct = |r: Option<f64>| crate::domain::figures::show_rate(r);
            let mut t = comfy_table::Table::new();
            t.set_header(vec![
                "名次",
                "单位",
                "名称",
                "得分",
                "联网率%",
                "建档率%",
                "标注率%",
                "报送及时率%",
            ]);
            for r in &l.rows {
                t.add_row(vec![
                    r.rank.to_string(),
                    r.stats.unit.clone(),
                    r.stats.name.clone(),
                    format!("{:.2}", r.score.total),
                    pct(r.stats.networking_rate),
                    pct(r.stats.archive_rate),
                    pct(r.stats.geo_rate),
                    pct(r.timeliness.map(|x| x * 100.0)),
                ]);
            }
            println!("{t}");
            println!("{}", l.formula);
            Ok(())
        }
        Command::Audit(a) => {
            let store = common.open().await?;
            let rows = store.audit(a.record.as_deref(), a.limit).await?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in rows {
                    println!(
                        "{} {} {} {} [{}] {} -> {}",
                        crate::app::zh::beijing_clock(r["at"].as_str().unwrap_or("")),
                        r["who"].as_str().unwrap_or(""),
                        match r["action"].as_str().unwrap_or("") {
                            "add" => "新增",
                            "edit" => "修改",
                            "remove" => "删除",
                            other => other,
                        },
                        r["record"].as_str().unwrap_or(""),
                        r["fields"].as_str().unwrap_or(""),
                        r["old"],
                        r["new"]
                    );
                }
            }
            Ok(())
        }
    }
}

/// Why a command failed, as the person who ran it reads it: the Chinese of the error nearest the
/// top of the chain that the message catalogue knows ([`crate::app::zh::error`]), after the
/// context the command added; the chain's own words when it knows none.
pub fn reason(e: &anyhow::Error) -> String {
    let mut said = Vec::new();
    for cause in e.chain() {
        let zh = match cause.downcast_ref::<crate::federation::pki::PkiError>() {
            Some(e) => Some(pki_zh(e)),
            None => crate::app::zh::error(cause),
        };
        if let Some(zh) = zh {
            said.push(zh);
            return said.join("：");
        }
        said.push(cause.to_string());
    }
    format!("{e:#}")
}

/// Parses the command line of `program` (`yl-node`, `yl-hub`); a mistake in it is said in Chinese
/// (clap's own words are English) with exit status 2, as clap does; help and version are shown
/// as clap shows them.
pub fn parse_args<C: clap::Parser>(program: &str) -> C {
    let command = chinese_help(C::command());
    // `yl-node help camera add` and `yl-node camera help add` are `yl-node camera add --help`:
    // a `help` where a command's subcommand is expected.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut at = &command;
    for (i, word) in args.iter().enumerate().skip(1) {
        if word == "help" && at.has_subcommands() {
            args.remove(i);
            args.push("--help".into());
            break;
        }
        match word.to_str().and_then(|w| at.find_subcommand(w)) {
            Some(sub) => at = sub,
            None => break,
        }
    }
    let parsed = command
        .try_get_matches_from(args)
        .and_then(|mut m| C::from_arg_matches_mut(&mut m));
    match parsed {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind as K;
            if matches!(
                e.kind(),
                K::DisplayHelp | K::DisplayVersion | K::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit()
            }
            eprintln!("{program}: {}", usage_mistake(&e));
            std::process::exit(2)
        }
    }
}

/// `cmd` and every command under it with clap's own words of the help in Chinese: the headings,
/// the help and version options (the texts of the commands and options are their docs).
fn chinese_help(cmd: clap::Command) -> clap::Command {
    use clap::{Arg, ArgAction};
    let mut cmd = cmd
        .help_template("{about-with-newline}\n用法：{usage}\n\n{all-args}{after-help}")
        .subcommand_help_heading("命令")
        .disable_help_subcommand(true)
        .disable_help_flag(true)
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .help("显示帮助"),
        )
        .mut_args(|a| match a.get_help_heading() {
            Some(_) => a,
            None if a.is_positional() => a.help_heading("参数"),
            None => a.help_heading("选项"),
        });
    if cmd.get_version().is_some() {
        cmd = cmd.disable_version_flag(true).arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::Version)
                .help("显示版本")
                .help_heading("选项"),
        );
    }
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, chinese_help);
    }
    cmd
}

/// A mistake on the command line as a person reads it.
fn usage_mistake(e: &clap::Error) -> String {
    use clap::error::{ContextKind as C, ContextValue as V, ErrorKind as K};
    let text = |k: C| match e.get(k) {
        Some(V::String(s)) => s.clone(),
        Some(V::Strings(v)) => v.join("、"),
        Some(V::StyledStr(s)) => s.to_string(),
        Some(V::StyledStrs(v)) => v
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("、"),
        Some(V::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let suggested = |k: C| {
        let s = text(k);
        if s.is_empty() {
            String::new()
        } else {
            format!("，是不是要用 {s}？")
        }
    };
    let said = match e.kind() {
        K::InvalidSubcommand => format!(
            "没有“{}”这个命令{}",
            text(C::InvalidSubcommand),
            suggested(C::SuggestedSubcommand)
        ),
        K::UnknownArgument => format!(
            "没有“{}”这个选项{}",
            text(C::InvalidArg),
            suggested(C::SuggestedArg)
        ),
        K::MissingRequiredArgument => format!("缺少必须给出的参数：{}", text(C::InvalidArg)),
        K::MissingSubcommand => format!("缺少要执行的命令，可用：{}", text(C::ValidSubcommand)),
        K::InvalidValue if text(C::InvalidValue).is_empty() => {
            format!("{} 需要一个值", text(C::InvalidArg))
        }
        K::InvalidValue => format!(
            "“{}”不是 {} 的可选值，可选：{}",
            text(C::InvalidValue),
            text(C::InvalidArg),
            text(C::ValidValue)
        ),
        K::ValueValidation => {
            let why = std::error::Error::source(e)
                .map(|s| match s.downcast_ref::<std::num::ParseIntError>() {
                    Some(p) => match p.kind() {
                        std::num::IntErrorKind::PosOverflow
                        | std::num::IntErrorKind::NegOverflow => "数值太大".to_string(),
                        std::num::IntErrorKind::Empty => "没有填写数值".to_string(),
                        _ => "须是整数".to_string(),
                    },
                    None => match s.downcast_ref::<std::num::ParseFloatError>() {
                        Some(_) => "须是数字".to_string(),
                        None => crate::app::zh::error(s).unwrap_or_else(|| s.to_string()),
                    },
                })
                .unwrap_or_default();
            format!(
                "{} 的值“{}”有误：{why}",
                text(C::InvalidArg),
                text(C::InvalidValue)
            )
        }
        K::ArgumentConflict if text(C::InvalidArg) == text(C::PriorArg) => {
            format!("{} 只能给一次", text(C::InvalidArg))
        }
        K::ArgumentConflict => format!(
            "{} 不能和 {} 同时使用",
            text(C::InvalidArg),
            text(C::PriorArg)
        ),
        K::TooManyValues => format!(
            "{} 多给了值“{}”",
            text(C::InvalidArg),
            text(C::InvalidValue)
        ),
        K::TooFewValues | K::WrongNumberOfValues => format!(
            "{} 的值的个数不对（给了 {} 个，需要 {} 个）",
            text(C::InvalidArg),
            text(C::ActualNumValues),
            text(C::ExpectedNumValues)
        ),
        K::NoEquals => format!("{} 须写成 {}=值", text(C::InvalidArg), text(C::InvalidArg)),
        _ => format!("命令行有误：{}", e.kind()),
    };
    format!("{said}（用 --help 查看用法）")
}

/// The Chinese of a PKI error (the message catalogue of `app` sits below the PKI).
fn pki_zh(e: &crate::federation::pki::PkiError) -> String {
    use crate::federation::pki::PkiError as E;
    match e {
        E::Io(path, e) => format!(
            "读写 {} 出错：{}",
            path.display(),
            crate::app::zh::Zh::zh(e)
        ),
        E::Rcgen(e) => format!("证书出错：{e}"),
        E::Invalid(why) => format!("证书或证书申请有误：{why}"),
        E::NotACa(path) => format!(
            "本单位没有签发证书的密钥（{}）：只有根单位（运行过 pki init-root）或以中间证书加入的上级节点才能登记下级单位",
            path.display()
        ),
        E::NotJoined(path) => format!(
            "本单位还没有加入联盟：缺少 {}（请先运行 join --bundle 登记包文件）",
            path.display()
        ),
    }
}

/// Entry point of `yl-node`.
pub async fn main_node() -> Result<()> {
    crate::federation::pki::install_crypto();
    crate::store::private_umask();
    let mut cli: Cli = parse_args("yl-node");
    if !cli.command.is_long_running() {
        restore_sigpipe();
    }
    let log = prepare(&mut cli.common, &mut cli.command)?;
    init_tracing_with(matches!(cli.command, Command::Serve(_)), log.as_ref());
    run(&cli.common, cli.command, Role::Node).await
}

impl Command {
    /// The daemon and the feed: they talk on sockets, where a peer that goes away must be an
    /// error to handle, never a signal that kills the process.
    pub fn is_long_running(&self) -> bool {
        matches!(self, Command::Serve(_) | Command::Subscribe(_))
    }
}

/// Reads `serve --config FILE` (or `subscribe --config FILE`): its options fill what the command
/// line left out (the data folder only when neither `--data` nor `YL_DATA` gave one). Returns the
/// log settings.
pub fn prepare(
    common: &mut Common,
    command: &mut Command,
) -> Result<Option<crate::daemon::config::LogConfig>> {
    let c = match command {
        Command::Serve(a) => {
            let Some(path) = a.config.clone() else {
                return Ok(None);
            };
            let c = crate::daemon::config::Config::load(&path)?;
            a.merge(&c.serve);
            a.limits = c.limits;
            c
        }
        Command::Subscribe(a) => {
            let Some(path) = a.config.clone() else {
                return Ok(None);
            };
            let c = crate::daemon::config::Config::load(&path)?;
            a.merge(&c.serve);
            c
        }
        _ => return Ok(None),
    };
    if let Some(d) = &c.data
        && std::env::var_os("YL_DATA").is_none()
        && common.data == std::path::Path::new(DEFAULT_DATA)
    {
        common.data = d.clone();
    }
    Ok(Some(c.log))
}

/// The data folder when none is given.
pub const DEFAULT_DATA: &str = "./yl-data";

/// Runs `main` on the runtime of a `yl-node` or `yl-hub` process, with the allocator set first:
/// glibc's malloc keeps an arena for each thread that allocates at once (the runtime's workers,
/// each database connection's thread, the blocking pool), and a hub's resident memory grew by a
/// quarter in freed pieces no arena gave back (BENCHMARKS.md, "The sync path from memory, and
/// the city's memory"). One arena (each thread still keeps its small cache) unless
/// `MALLOC_ARENA_MAX` says otherwise.
pub fn run_process<F: std::future::Future<Output = ()>>(main: F) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called before any other thread
        // exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts")
        .block_on(main)
}

/// Logs to stderr: `info` for the daemon, `warn` otherwise; `RUST_LOG` overrides; JSON lines when
/// `YL_LOG_FORMAT=json`.
pub fn init_tracing(daemon: bool) {
    init_tracing_with(daemon, None)
}

/// `init_tracing` with the `[log]` settings of a configuration file (the environment wins).
pub fn init_tracing_with(daemon: bool, log: Option<&crate::daemon::config::LogConfig>) {
    use tracing_subscriber::EnvFilter;
    let default = log
        .and_then(|l| l.level.clone())
        .unwrap_or_else(|| if daemon { "info" } else { "warn" }.to_string());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let json = match std::env::var("YL_LOG_FORMAT") {
        Ok(f) => f == "json",
        Err(_) => log.and_then(|l| l.format.as_deref()) == Some("json"),
    };
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Lets a command whose output goes to a closed pipe (`yl-node camera list | head`) end quietly,
/// as command-line tools do, instead of failing on the write. Never for a process with network
/// connections: a socket written after its peer left would kill it.
pub fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called once at the start of `main`, before any thread writes to a pipe.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use super::reason;
    use anyhow::Context;

    /// A refusal reads in Chinese after the context the command added; an error the catalogue
    /// does not know keeps its own words.
    #[test]
    fn a_refusal_is_said_in_chinese_after_its_context() {
        let bad = crate::domain::device_code::DeviceCode::parse("123").unwrap_err();
        let e = Err::<(), _>(bad).context("第2张表").unwrap_err();
        assert_eq!(reason(&e), "第2张表：设备编码“123”应为20位数字，现有3位");
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let e = Err::<(), _>(missing).context("无法读取 a.csv").unwrap_err();
        assert_eq!(reason(&e), "无法读取 a.csv：文件或文件夹不存在");
        let store = crate::store::StoreError::NotInitialised("/srv/yl".into());
        assert!(reason(&anyhow::Error::from(store)).starts_with("/srv/yl 中没有应联的数据"));
        let pki = crate::federation::pki::PkiError::NotJoined("/srv/yl/tls/parent.pem".into());
        assert!(reason(&anyhow::Error::from(pki)).starts_with("本单位还没有加入联盟"));
        assert_eq!(reason(&anyhow::anyhow!("别的原因")), "别的原因");
    }
}
