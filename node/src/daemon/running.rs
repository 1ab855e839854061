//! One running unit, started once the same way by `serve`, the demo, the bench and the tests: the
//! gRPC server for a hub's children, the web pages, /metrics, the session with the parent, the
//! watch for other writers of the store (the command line beside the daemon), a hub's rollup
//! maintenance; stopped by one call that ends every task and checkpoints the store.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::domain::unit::{Role, UnitCode};
use crate::federation::admission::Limits;
use crate::federation::sync::Engine;
use crate::store::Store;

/// Where a server listens: an address to bind, or a listener bound already (a test's
/// 127.0.0.1:0; a hub that told its children its address before it started).
#[derive(Debug)]
pub enum Bind {
    Addr(String),
    Listener(TcpListener),
}

impl Bind {
    /// A free port on the loopback interface.
    pub fn loopback() -> Bind {
        Bind::Addr("127.0.0.1:0".into())
    }

    pub(super) async fn listener(self, what: &str) -> Result<TcpListener> {
        match self {
            Bind::Listener(l) => Ok(l),
            Bind::Addr(a) => TcpListener::bind(&a)
                .await
                .with_context(|| format!("无法在 {a} 上监听{what}")),
        }
    }
}

impl From<SocketAddr> for Bind {
    fn from(a: SocketAddr) -> Bind {
        Bind::Addr(a.to_string())
    }
}

impl From<TcpListener> for Bind {
    fn from(l: TcpListener) -> Bind {
        Bind::Listener(l)
    }
}

/// The web pages: where, over HTTPS with a certificate and key (PEM files) or plain HTTP, and the
/// reverse proxies whose `X-Forwarded-For` names the client.
#[derive(Debug)]
pub struct WebConfig {
    pub at: Bind,
    pub https: Option<(PathBuf, PathBuf)>,
    pub trusted_proxies: Vec<IpAddr>,
}

impl WebConfig {
    /// Plain HTTP on `at`, no proxies trusted.
    pub fn http(at: impl Into<Bind>) -> WebConfig {
        WebConfig {
            at: at.into(),
            https: None,
            trusted_proxies: Vec::new(),
        }
    }
}

/// What a daemon runs (the command line merges the configuration file and its flags into this).
#[derive(Debug)]
pub struct DaemonConfig {
    /// The program's role: a hub serves its children and keeps its rollup; a node only syncs.
    pub role: Role,
    /// A hub: where it accepts its children (gRPC over mutual TLS).
    pub listen: Option<Bind>,
    /// A hub: its address as its children and its parent dial it (default `https://` + the
    /// bound address).
    pub advertise: Option<String>,
    /// The web pages.
    pub web: Option<WebConfig>,
    /// `/metrics` and `/healthz` for the operator.
    pub metrics: Option<Bind>,
    /// What one peer may cost this unit.
    pub limits: Limits,
    /// A hub: whether its children's ledgers travel on to its parent (remembered in the store).
    pub forward_ledgers: Option<bool>,
    /// A hub: how often its feed's history is compacted (behind its subscribers' cursors).
    pub feed_compact_every: std::time::Duration,
}

impl DaemonConfig {
    /// Nothing served but what the role needs: a hub must still be given `listen`.
    pub fn new(role: Role) -> DaemonConfig {
        DaemonConfig {
            role,
            listen: None,
            advertise: None,
            web: None,
            metrics: None,
            limits: Limits::default(),
            forward_ledgers: None,
            feed_compact_every: crate::federation::feed::COMPACT_EVERY,
        }
    }
}

/// Where the running web pages are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebAddr {
    pub addr: SocketAddr,
    pub https: bool,
}

/// The one way to run a unit.
pub struct Daemon;

/// A running daemon: what callers need of it, and `stop`.
pub struct Handle {
    pub store: Arc<Store>,
    pub engine: Arc<Engine>,
    /// A hub: where it accepts its children.
    pub listen: Option<SocketAddr>,
    /// A hub: the address it published for its children and parent.
    pub advertise: Option<String>,
    pub web: Option<WebAddr>,
    pub metrics: Option<SocketAddr>,
    /// The parent this unit keeps a session with.
    pub parent: Option<UnitCode>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Refuses `what` (a command or option of a unit with children) unless `role` is a hub.
pub fn hub_only(role: Role, what: &str) -> Result<()> {
    if role != Role::Hub {
        bail!("`{what}` 是上级节点的命令：请在有下级单位的节点上用 yl-hub 运行");
    }
    Ok(())
}

impl Daemon {
    /// Starts every part of the unit that `config` asks for; on an error, whatever had started
    /// is stopped again.
    pub async fn start(store: Arc<Store>, config: DaemonConfig) -> Result<Handle> {
        let role = config.role;
        if let Some(f) = config.forward_ledgers {
            hub_only(role, "serve --forward-ledgers")?;
            store
                .set_meta("forward_ledgers", if f { "true" } else { "false" })
                .await?;
        }
        if config.listen.is_some() {
            hub_only(role, "serve --listen")?;
        } else if role == Role::Hub {
            bail!("上级节点要接受下级单位的连接：请给出 --listen 地址（例如 0.0.0.0:7443）");
        }
        let engine = Engine::with_limits(store.clone(), store.dir(), config.limits).await?;
        if engine.parent.is_none() && config.listen.is_none() {
            bail!("本单位还没有加入上级：请先运行 join --bundle 登记包文件");
        }
        let (stop, _) = watch::channel(false);
        let mut handle = Handle {
            store,
            parent: engine.parent.clone(),
            engine,
            listen: None,
            advertise: None,
            web: None,
            metrics: None,
            stop,
            tasks: Vec::new(),
        };
        match handle.launch(config).await {
            Ok(()) => Ok(handle),
            Err(e) => {
                handle.halt().await;
                Err(e)
            }
        }
    }
}

impl Handle {
    async fn launch(&mut self, config: DaemonConfig) -> Result<()> {
        if let Some(listen) = config.listen {
            let listener = listen.listener("").await?;
            let bound = listener.local_addr()?;
            let url = config
                .advertise
                .unwrap_or_else(|| format!("https://{bound}"));
            crate::federation::reports::publish_endpoint(&self.store, &url).await?;
            let (e, s) = (self.engine.clone(), self.stop.subscribe());
            self.tasks.push(tokio::spawn(async move {
                if let Err(err) = crate::federation::server::serve(e, listener, s).await {
                    tracing::error!(error = %err, "the server stopped");
                }
            }));
            self.listen = Some(bound);
            self.advertise = Some(url);
        }
        if let Some(web) = config.web {
            self.serve_web(web).await?;
        }
        if let Some(m) = config.metrics {
            let listener = m.listener("（运行指标）").await?;
            self.metrics = Some(listener.local_addr()?);
            let (st, s) = (self.store.clone(), self.stop.subscribe());
            self.tasks.push(tokio::spawn(async move {
                if let Err(err) = crate::http::metrics::serve(st, listener, s).await {
                    tracing::error!(error = %err, "the metrics server stopped");
                }
            }));
        }
        if self.engine.parent.is_some() {
            self.tasks
                .push(tokio::spawn(crate::federation::net::run_upstream(
                    self.engine.clone(),
                    self.stop.subscribe(),
                )));
        }
        self.tasks
            .push(tokio::spawn(crate::federation::net::watch_other_writers(
                self.engine.clone(),
                self.stop.subscribe(),
            )));
        if config.role == Role::Hub {
            self.tasks.push(tokio::spawn(crate::app::rollup::maintain(
                self.store.clone(),
                self.stop.subscribe(),
            )));
            self.tasks
                .push(tokio::spawn(crate::app::quality_tree::maintain(
                    self.store.clone(),
                    self.stop.subscribe(),
                )));
            self.tasks
                .push(tokio::spawn(crate::app::operations_tree::maintain(
                    self.store.clone(),
                    self.stop.subscribe(),
                )));
            self.tasks
                .push(tokio::spawn(crate::federation::feed::keep_bounded(
                    self.store.clone(),
                    config.feed_compact_every,
                    self.stop.subscribe(),
                )));
        }
        Ok(())
    }

    /// Serves the web pages as well, until the daemon stops (the demo and the tests open them
    /// once their federation is up); returns where.
    pub async fn serve_web(&mut self, web: WebConfig) -> Result<SocketAddr> {
        let tls = match &web.https {
            Some((cert, key)) => Some(crate::http::https::server_config(cert, key)?),
            None => None,
        };
        let listener = web.at.listener("（网页）").await?;
        let addr = listener.local_addr()?;
        self.web = Some(WebAddr {
            addr,
            https: tls.is_some(),
        });
        let (st, s, proxies) = (
            self.store.clone(),
            self.stop.subscribe(),
            web.trusted_proxies,
        );
        self.tasks.push(tokio::spawn(async move {
            if let Err(err) = crate::http::serve_with(st, listener, tls, proxies, s).await {
                tracing::error!(error = %err, "the web server stopped");
            }
        }));
        Ok(addr)
    }

    /// Stops every task, waits for them, and checkpoints the store.
    pub async fn stop(mut self) -> Result<()> {
        self.halt().await;
        self.store.checkpoint().await?;
        Ok(())
    }

    async fn halt(&mut self) {
        self.stop.send_replace(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}
