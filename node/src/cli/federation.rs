//! `pki init-root`, `enroll`, `join`, `revoke`, `serve` and `status`: joining the federation and
//! running the daemon.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use super::Common;
use crate::daemon::{Bind, Daemon, DaemonConfig, WebConfig};
use crate::domain::unit::{Role, UnitCode};
use crate::federation::membership;
use crate::federation::pki::{self, Bundle, Enrollment, Validity};

#[derive(Debug, Subcommand)]
pub enum PkiCmd {
    /// 仅根单位用：建立联盟的根证书（根 CA）和本单位自己的证书
    InitRoot {
        /// 根证书的有效期（天）
        #[arg(long, default_value_t = 3650)]
        days: i64,
    },
}

#[derive(Debug, clap::Args)]
pub struct EnrollArgs {
    /// 下级单位的证书申请（在下级单位的电脑上由 `init --csr-out` 写出）
    #[arg(long)]
    pub csr: PathBuf,
    /// 下级单位的单位编码
    #[arg(long)]
    pub unit: String,
    /// 下级单位的角色：node（上报单位）、hub（汇总单位）或 subscriber（订阅方）
    #[arg(long)]
    pub role: Role,
    /// 订阅方可查看的范围（一个单位编码，含其下辖单位）
    #[arg(long)]
    pub scope: Option<String>,
    /// 授权订阅方读取其范围内的点位目录
    ///
    /// 点位目录逐台列出摄像机（设备编码、点位名称、位置、经纬度、点位类别、是否联网），在持有这些摄像机台账的上级节点上读取。
    #[arg(long)]
    pub catalogue: bool,
    /// 下级单位连接本节点用的地址，例如 https://hub.example:7443
    #[arg(long)]
    pub advertise: String,
    /// 给下级单位的登记包写到哪个文件
    #[arg(long)]
    pub out: PathBuf,
    /// 下级单位证书的有效期（天）
    #[arg(long, default_value_t = 730)]
    pub days: i64,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// 上级节点接受下级单位连接的地址（gRPC，TLS 加密），例如 0.0.0.0:7443
    #[arg(long)]
    pub listen: Option<String>,
    /// 上级单位调阅摄像机明细时连接的地址（默认 https://LISTEN）
    #[arg(long)]
    pub advertise: Option<String>,
    /// 提供网页（用 `user add` 建立的账户登录）和 /healthz 的地址
    #[arg(long)]
    pub http: Option<String>,
    /// 用此证书链以 HTTPS 提供网页（PEM，服务器证书在前）
    #[arg(long, requires = "https_key")]
    pub https_cert: Option<PathBuf>,
    /// --https-cert 的私钥（PEM）
    #[arg(long, requires = "https_cert")]
    pub https_key: Option<PathBuf>,
    /// 网页前的反向代理，信任其 X-Forwarded-For 给出的客户端地址（可多次使用）
    ///
    /// 登录失败的减速按该客户端计算。不给出时忽略此请求头。
    #[arg(long = "trusted-proxy")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// 是否把下级单位的摄像机台账转给本节点的上级（会记住此设置）
    ///
    /// 默认台账到本级为止，上级只看到汇总数字。
    #[arg(long)]
    pub forward_ledgers: Option<bool>,
    /// 供运维人员使用的 /metrics（Prometheus）和 /healthz 的地址，无需登录
    #[arg(long)]
    pub metrics: Option<String>,
    /// 写有这些选项的 TOML 配置文件（见 deploy/config/）；命令行给出的选项优先
    #[arg(long, env = "YL_CONFIG")]
    pub config: Option<PathBuf>,
    /// 每个连接方可占用的资源上限（配置文件的 `[limits]` 表）
    #[arg(skip)]
    pub limits: crate::federation::admission::Limits,
}

impl ServeArgs {
    /// What the daemon of a unit whose program has `role` runs.
    pub fn into_config(self, role: Role) -> DaemonConfig {
        DaemonConfig {
            role,
            listen: self.listen.map(Bind::Addr),
            advertise: self.advertise,
            web: self.http.map(|at| WebConfig {
                at: Bind::Addr(at),
                https: self.https_cert.zip(self.https_key),
                trusted_proxies: self.trusted_proxies,
            }),
            metrics: self.metrics.map(Bind::Addr),
            limits: self.limits,
            forward_ledgers: self.forward_ledgers,
            feed_compact_every: crate::federation::feed::COMPACT_EVERY,
        }
    }

    /// Takes from `c` every option not given on the command line.
    pub fn merge(&mut self, c: &crate::daemon::config::ServeConfig) {
        let take = |mine: &mut Option<String>, theirs: &Option<String>| {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        };
        take(&mut self.listen, &c.listen);
        take(&mut self.advertise, &c.advertise);
        take(&mut self.http, &c.http);
        take(&mut self.metrics, &c.metrics);
        if self.trusted_proxies.is_empty() {
            self.trusted_proxies = c.trusted_proxies.clone().unwrap_or_default();
        }
        if self.https_cert.is_none() && self.https_key.is_none() {
            self.https_cert.clone_from(&c.https_cert);
            self.https_key.clone_from(&c.https_key);
        }
        if self.forward_ledgers.is_none() {
            self.forward_ledgers = c.forward_ledgers;
        }
    }
}

use crate::daemon::hub_only;

pub async fn init_root(common: &Common, cmd: PkiCmd, role: Role) -> Result<()> {
    hub_only(role, "pki init-root")?;
    let store = common.open().await?;
    match cmd {
        PkiCmd::InitRoot { days } => {
            membership::make_root(&store, &common.data, days).await?;
            let paths = pki::Paths::new(&common.data);
            println!(
                "已为 {} 建立根证书：信任根 {}，本单位证书 {}",
                store.unit(),
                paths.root().display(),
                paths.unit_chain().display()
            );
        }
    }
    Ok(())
}

pub async fn enroll(common: &Common, a: EnrollArgs, role: Role) -> Result<()> {
    hub_only(role, "enroll")?;
    let store = common.open().await?;
    let unit = UnitCode::parse(&a.unit)?;
    let child_role = a.role;
    let scope = a.scope.as_deref().map(UnitCode::parse).transpose()?;
    if !a.advertise.starts_with("https://") {
        bail!(
            "--advertise 须是本节点的地址，写成 https://主机:端口，而不是“{}”",
            a.advertise
        );
    }
    if a.catalogue && child_role != Role::Subscriber {
        bail!("--catalogue 只能授予订阅方（--role subscriber）：点位目录只供公安等订阅方读取");
    }
    let request = std::fs::read_to_string(&a.csr)
        .with_context(|| format!("无法读取证书申请 {}", a.csr.display()))?;
    let bundle = membership::enroll_child(
        &store,
        &common.data,
        &request,
        &Enrollment {
            unit: unit.clone(),
            role: child_role,
            scope,
            advertise: a.advertise.clone(),
            validity: Validity::days(a.days),
        },
    )
    .await
    .with_context(|| format!("{}", a.csr.display()))?;
    if a.catalogue {
        membership::grant_catalogue(&store, &unit).await?;
    }
    let text = serde_json::to_string_pretty(&bundle)?;
    std::fs::write(&a.out, text).with_context(|| format!("无法写入 {}", a.out.display()))?;
    println!(
        "已登记{} {}（证书序列号 {}，有效期至 {}）；请把 {} 交给该单位",
        crate::app::zh::Zh::zh(&bundle.role),
        bundle.unit,
        bundle.serial,
        crate::app::zh::beijing_stamp(&bundle.not_after),
        a.out.display()
    );
    if a.catalogue {
        println!(
            "已授权读取 {} 的点位目录（在持有其摄像机台账的节点上读取）",
            bundle.scope.as_deref().unwrap_or_default()
        );
    }
    Ok(())
}

pub async fn join(common: &Common, bundle: PathBuf) -> Result<()> {
    let store = common.open().await?;
    let text = std::fs::read_to_string(&bundle)
        .with_context(|| format!("无法读取登记包 {}", bundle.display()))?;
    let b: Bundle = serde_json::from_str(&text)
        .with_context(|| format!("{} 不是应联的登记包", bundle.display()))?;
    membership::join_bundle(&store, &common.data, &b)
        .await
        .with_context(|| format!("{}", bundle.display()))?;
    println!(
        "已加入：{} 现为 {}（{}）下的{}",
        b.unit,
        b.parent_unit,
        b.parent_url,
        crate::app::zh::Zh::zh(&b.role)
    );
    Ok(())
}

pub async fn revoke(common: &Common, unit: String, role: Role) -> Result<()> {
    hub_only(role, "revoke")?;
    let store = common.open().await?;
    let unit = UnitCode::parse(&unit)?;
    membership::revoke_unit(&store, &unit).await?;
    println!("已吊销 {unit}：此后拒绝其连接，已打开的会话在一秒内结束");
    Ok(())
}

pub async fn status(common: &Common, json: bool) -> Result<()> {
    let store = common.open().await?;
    let parent = store.meta("parent_unit").await?;
    let peers = store.peers().await?;
    let children = store.children().await?;
    let refusals = store.refusal_count().await?;
    let feed = store.feed_size().await?;
    if json {
        let v = serde_json::json!({
            "unit": store.unit().as_str(),
            "parent": parent,
            "peers": peers,
            "children": children.iter().map(|c| serde_json::json!({
                "unit": c.unit, "role": c.role, "revoked_at": c.revoked_at,
            })).collect::<Vec<_>>(),
            "refusals": refusals,
            "feed": {
                "events": feed.events, "rows": feed.rows, "newest": feed.newest,
                "compacted": feed.compacted,
            },
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "单位 {}；上级 {}",
        store.unit(),
        parent
            .as_deref()
            .unwrap_or("（无：尚未加入，或本单位是根）")
    );
    for p in &peers {
        println!(
            "  {} {:<12} {}  最近同步 {}  发送 {} 字节  接收 {} 字节{}",
            match p.relation.as_str() {
                "parent" => "上级",
                "child" => "下级",
                other => other,
            },
            p.peer,
            if p.connected { "在线" } else { "离线" },
            p.last_sync_at
                .as_deref()
                .map(crate::app::zh::beijing_clock)
                .unwrap_or_else(|| "从未".into()),
            p.bytes_sent,
            p.bytes_received,
            p.last_error
                .as_deref()
                .map(|e| format!("  最近错误：{e}"))
                .unwrap_or_default()
        );
        if let Some(since) = &p.stuck_since {
            println!(
                "    自 {} 起卡住：{}",
                crate::app::zh::beijing_clock(since),
                p.stuck_reason.as_deref().unwrap_or("")
            );
        }
    }
    for c in &children {
        println!(
            "  下级 {}（{}）{}",
            c.unit,
            crate::app::zh::Zh::zh(&c.role),
            c.revoked_at
                .as_deref()
                .map(|r| format!(" 已于 {} 吊销", crate::app::zh::beijing_clock(r)))
                .unwrap_or_default()
        );
    }
    println!("  已记录的拒绝：{refusals} 次");
    if feed.newest > 0 {
        println!(
            "  变更推送：{} 行共 {} 条事件，最新游标 {}，已压缩到 {}",
            feed.rows, feed.events, feed.newest, feed.compacted
        );
    }
    Ok(())
}

/// The file whose lock says a daemon runs on the data folder `dir`.
const SERVE_LOCK: &str = "serve.lock";

/// Takes the lock of the only daemon `dir` may have: a second `serve` on the same folder would
/// sync, serve and write beside the first (on another port, or refused it), its sessions
/// replacing the first's at the parent. The lock is the kernel's: a daemon killed leaves none.
fn one_daemon(dir: &std::path::Path) -> Result<std::fs::File> {
    let path = dir.join(SERVE_LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("无法打开 {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            use std::io::Write;
            let mut f = &file;
            let _ = f.set_len(0);
            let _ = writeln!(f, "{}", std::process::id());
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            bail!(
                "数据文件夹 {} 的后台服务已在运行（进程 {}）：同一个数据文件夹只能运行一个 serve",
                dir.display(),
                pid.trim()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("无法锁定 {}", path.display()))
        }
    }
}

/// The daemon: the sync loop to the parent and, for a hub, the server for its children.
pub async fn serve(common: &Common, a: ServeArgs, role: Role) -> Result<()> {
    let store = common.open().await?;
    // Held until the daemon ends (and by the kernel no longer once the process is gone).
    let _running = one_daemon(store.dir())?;
    let handle = Daemon::start(store, a.into_config(role)).await?;
    let me = &handle.engine.me;
    if let Some(bound) = handle.listen {
        println!("{me} 在 {bound} 上接受下级连接");
    }
    if let Some(w) = handle.web {
        let scheme = if w.https { "https" } else { "http" };
        println!("{me} 网页：{scheme}://{}", w.addr);
    }
    if let Some(m) = handle.metrics {
        println!("{me} 运行指标：http://{m}/metrics");
    }
    if let Some(p) = &handle.parent {
        println!("{me} 正与上级 {p} 同步");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    shutdown_signal().await;
    handle.stop().await?;
    println!("已停止");
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct SubscribeArgs {
    /// 要查看的单位及其下辖单位（默认为登记时指定的范围）
    #[arg(long)]
    pub scope: Option<String>,
    /// 从完整快照重新开始，而不是接着上次接收
    #[arg(long)]
    pub from_start: bool,
    /// 每行总是 JSON（接受此选项是为了兼容）
    #[arg(long)]
    pub json: bool,
    /// 提供公安视图网页的地址（用 `user add` 建立的账户登录），例如 127.0.0.1:8090
    #[arg(long, alias = "http")]
    pub web: Option<String>,
    /// 用此证书链以 HTTPS 提供网页（PEM，服务器证书在前）
    #[arg(long, requires = "https_key")]
    pub https_cert: Option<PathBuf>,
    /// --https-cert 的私钥（PEM）
    #[arg(long, requires = "https_cert")]
    pub https_key: Option<PathBuf>,
    /// 网页前的反向代理，信任其 X-Forwarded-For 给出的客户端地址
    #[arg(long = "trusted-proxy")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// TOML 配置文件；命令行给出的选项优先
    ///
    /// 其中 `[serve]` 表给出网页的选项（`http`、`https_cert`、`https_key`、`trusted_proxies`），另可给出 `data` 和 `[log]`。
    #[arg(long, env = "YL_CONFIG")]
    pub config: Option<PathBuf>,
}

impl SubscribeArgs {
    /// Takes the page's options from `c` where the command line gave none.
    pub fn merge(&mut self, c: &crate::daemon::config::ServeConfig) {
        if self.web.is_none() {
            self.web.clone_from(&c.http);
        }
        if self.trusted_proxies.is_empty() {
            self.trusted_proxies = c.trusted_proxies.clone().unwrap_or_default();
        }
        if self.https_cert.is_none() && self.https_key.is_none() {
            self.https_cert.clone_from(&c.https_cert);
            self.https_key.clone_from(&c.https_key);
        }
    }
}

/// `subscribe`: the feed of a scope, one JSON object a line, resuming from the last cursor; with
/// `--web`, the police page too. Runs until Ctrl-C or SIGTERM, or until the hub refuses the
/// subscription (then, with a page, the page says so until stopped).
pub async fn subscribe(common: &Common, a: SubscribeArgs) -> Result<()> {
    use crate::daemon::{Subscriber, SubscriberConfig};
    use crate::federation::subscriber::{Ended, Follow};
    /// One line of output: the event's cursor and kind, then the row's fields (the stats
    /// contract, with the rollup's hub), as the wire row names them.
    #[derive(serde::Serialize)]
    struct Line {
        cursor: u64,
        kind: &'static str,
        #[serde(flatten)]
        row: Option<yinglian_proto::v1::FigureRow>,
    }
    let print = |e: &yinglian_proto::v1::FeedEvent| {
        use yinglian_proto::v1::feed_event::Kind;
        let kind = match Kind::try_from(e.kind) {
            Ok(Kind::Snapshot) => "snapshot",
            Ok(Kind::SnapshotEnd) => "snapshot_end",
            _ => "change",
        };
        // Through a JSON value: the keys come out in the same (sorted) order as ever.
        match serde_json::to_value(Line {
            cursor: e.cursor,
            kind,
            row: e.row.clone(),
        }) {
            Ok(line) => println!("{line}"),
            Err(err) => tracing::error!(error = %err, "cannot print a feed event"),
        }
    };
    let store = common.open().await?;
    let me = store.unit().clone();
    let web = a.web.map(|at| WebConfig {
        at: Bind::Addr(at),
        https: a.https_cert.zip(a.https_key),
        trusted_proxies: a.trusted_proxies,
    });
    let config = SubscriberConfig {
        follow: Follow {
            scope: a.scope.unwrap_or_default(),
            from_start: a.from_start,
        },
        web,
    };
    let mut sub = Subscriber::start(store, config, print).await?;
    if let Some(w) = sub.web {
        let scheme = if w.https { "https" } else { "http" };
        // stderr: stdout is the feed's JSON lines.
        eprintln!("{me} 公安视图：{scheme}://{}", w.addr);
    }
    let ended = tokio::select! {
        _ = shutdown_signal() => None,
        e = sub.ended() => Some(e),
    };
    match ended {
        None | Some(Ok(Ended::Stopped)) => sub.stop().await,
        Some(Ok(Ended::Refused(r))) => {
            if sub.web.is_some() {
                eprintln!("订阅已被拒绝：{r}；网页上会一直显示，直到停止（Ctrl-C）");
                shutdown_signal().await;
            }
            sub.stop().await?;
            bail!("订阅已被拒绝：{r}")
        }
        Some(Err(e)) => {
            let _ = sub.stop().await;
            Err(e)
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("signal handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
