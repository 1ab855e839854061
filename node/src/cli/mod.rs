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

/// Options every command takes.
#[derive(Debug, clap::Args, Clone)]
pub struct Common {
    /// The unit's data folder.
    #[arg(long, env = "YL_DATA", global = true, default_value = DEFAULT_DATA)]
    pub data: PathBuf,
    /// Who is making the change, for the audit log.
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

/// yl-node: the camera ledger (一机一档) of one unit, kept offline and synced to its parent.
#[derive(Debug, Parser)]
#[command(name = "yl-node", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands shared by `yl-node` and `yl-hub` (a hub keeps its own ledger too).
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Create the store of a new unit in the data folder.
    Init(InitArgs),
    /// One camera record: add, edit, remove, list, show, import.
    #[command(subcommand)]
    Camera(camera::CameraCmd),
    /// The two liaison contacts (Attachment 1).
    #[command(subcommand)]
    Contacts(contacts::ContactsCmd),
    /// This unit's figures.
    Stats(StatsArgs),
    /// Save or merge a whole copy of the ledger (for a replica, a USB stick, a backup).
    #[command(subcommand)]
    Ledger(ledger::LedgerCmd),
    /// Write Attachment 1 or Attachment 2 (XLSX in the official layout, or CSV).
    Export(export::ExportArgs),
    /// 报送: submit this unit's report for a milestone; accept or return a child's; where the
    /// level stands (completeness and timeliness).
    #[command(subcommand)]
    Report(report::ReportCmd),
    /// Who changed what, newest first.
    Audit(AuditArgs),
    /// Check the camera records held here against the campaign's data-quality rules.
    Check(check::CheckArgs),
    /// 安全运维: the last 30 days' time in service, faults, time to repair, and the filings and
    /// removal reports waiting for acknowledgement.
    Operations(operations::OperationsArgs),
    /// The assessment league (考核排名) of this unit's children, by the campaign's formula.
    League {
        #[arg(long)]
        json: bool,
        /// At the root: publish the weights of this JSON file (the `weights` object `league
        /// --json` prints; they must add up to 100); they flow down with the campaign.
        #[arg(long)]
        publish_weights: Option<PathBuf>,
    },
    /// The federation's PKI (root hub only).
    #[command(subcommand)]
    Pki(federation::PkiCmd),
    /// Sign a child's certificate request and register the child (hub only).
    Enroll(federation::EnrollArgs),
    /// Install the bundle the parent wrote at enrollment: certificate, trust root, parent address.
    Join {
        #[arg(long)]
        bundle: PathBuf,
    },
    /// Refuse a child from now on (hub only).
    Revoke {
        #[arg(long)]
        unit: String,
    },
    /// Run the daemon: sync with the parent; a hub also accepts its children.
    Serve(federation::ServeArgs),
    /// Where a subscriber has joined: the live feed of a scope, one JSON object a line; resumes
    /// from the last cursor received. With `--web`, the police page (公安视图) too.
    Subscribe(federation::SubscribeArgs),
    /// Where a subscriber granted the catalogue has joined: the police catalogue (公安目录) of a
    /// district, read at its hub; all of it, or the changes after --since; --out x.csv / x.xlsx
    /// writes the police platform's import file.
    Catalogue(catalogue::CatalogueArgs),
    /// Who read this unit's camera records (谁查看了本单位的点位): the police catalogue, a higher
    /// level's camera list; newest first.
    Reads {
        #[arg(long)]
        json: bool,
    },
    /// The liaison contacts this unit may see: its subtree and the unit it reports to.
    Directory {
        /// Matches the unit code, the unit's name, a contact's name or phone.
        #[arg(long)]
        query: Option<String>,
        /// Only units that have not reported both contacts.
        #[arg(long)]
        missing: bool,
        #[arg(long)]
        json: bool,
    },
    /// Accounts of this unit's web pages (`account` is the same command).
    #[command(subcommand, alias = "account")]
    User(UserCmd),
    /// A consistent snapshot of this unit (store, keys, certificates) into a new folder, while
    /// the daemon runs.
    Backup {
        /// The folder to create (must not exist yet).
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into the (empty) data folder; the daemon must be stopped. Edits made after
    /// the backup come back from the parent on the first sync.
    Restore {
        /// The folder `backup` wrote.
        #[arg(long)]
        from: PathBuf,
    },
    /// Sync status: the parent, the peers, when each last synced, refusals.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Write a generated but plausible camera sheet (for training, demos and benchmarks).
    SampleSheet {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 100)]
        rows: usize,
        /// The 6-digit district code that starts the device codes.
        #[arg(long, default_value = "500103")]
        district: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create an account (or set its password and role).
    Add {
        #[arg(long)]
        name: String,
        /// editor or read-only.
        #[arg(long, default_value = "read-only")]
        role: String,
        /// At least 8 characters; or set YL_PASSWORD.
        #[arg(long, env = "YL_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// The accounts and their roles.
    List,
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The unit code (an administrative division code such as 500103, or 500103-0001).
    #[arg(long)]
    pub unit: String,
    /// The unit's full name.
    #[arg(long)]
    pub name: String,
    /// city, district, county, zone, affiliated, institution or sub-unit.
    #[arg(long, default_value = "institution")]
    pub kind: String,
    /// Also write the certificate request (for the parent's `enroll`) to this file.
    #[arg(long)]
    pub csr_out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    #[arg(long)]
    pub json: bool,
    /// A unit of this unit's subtree whose ledger is held here (a hub's children), instead of this unit.
    #[arg(long)]
    pub unit: Option<String>,
    /// The figures as they stood at the end of this day (YYYY-MM-DD, Beijing time).
    #[arg(long)]
    pub as_of: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Only this record (a device code, or a unit code for its profile).
    #[arg(long)]
    pub record: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
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
                println!("  已建 built               {}", s.built);
                println!("  应联网 must network      {}", s.must_network);
                println!("  已联网 networked         {}", s.networked);
                println!(
                    "  联网率 networking rate   {}",
                    show_rate(s.networking_rate)
                );
                println!("  建档率 archive rate      {}", show_rate(s.archive_rate));
                println!("  标注率 geo rate          {}", show_rate(s.geo_rate));
                println!("  完好率 intact rate       {}", show_rate(s.intact_rate));
                println!(
                    "    重点公共区域           {}",
                    show_rate(s.intact_rate_key_public)
                );
                println!(
                    "    重点行业领域           {}",
                    show_rate(s.intact_rate_key_industry)
                );
                println!("  数据截至 {}", crate::app::zh::beijing_stamp(&s.as_of));
                if let Some(m) = &s.milestone {
                    println!(
                        "  下一节点 next milestone  {}（{} 前达到 {}%）：现为 {:.2}% — {}",
                        m.title,
                        m.deadline,
                        m.target,
                        m.current,
                        crate::app::zh::Zh::zh(&m.status)
                    );
                }
                if !s.children.is_empty() {
                    let mut t = comfy_table::Table::new();
                    t.set_header(vec![
                        "单位 unit",
                        "名称 name",
                        "已建",
                        "应联网",
                        "已联网",
                        "联网率",
                        "建档率",
                        "标注率",
                        "完好率",
                        "节点 milestone",
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
            crate::app::accounts::add_user(&store, &name, role, &password).await?;
            println!(
                "账户 {}（{}）已可使用",
                name.trim(),
                crate::app::zh::Zh::zh(&role)
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
                t.set_header(vec![
                    "单位 unit",
                    "名称 name",
                    "上级 parent",
                    "分管领导 leader",
                    "联络员 liaison",
                ]);
                let show = |c: &Option<crate::domain::contacts::Contact>| match c {
                    Some(c) => format!("{} {} {}", c.name, c.position, c.phone),
                    None => "（未报送 missing）".to_string(),
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
                "单位 unit",
                "名称 name",
                "得分 score",
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
    match C::try_parse() {
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
                        None => s.to_string(),
                    },
                })
                .unwrap_or_default();
            format!(
                "{} 的值“{}”有误：{why}",
                text(C::InvalidArg),
                text(C::InvalidValue)
            )
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
