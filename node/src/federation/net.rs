//! The wire: mutually authenticated TLS (rustls, ring) under tonic. The server accepts on a bound
//! listener, verifies each client's chain against the federation root, refuses (and records) any
//! handshake that fails, and serves `Sync`, `grpc.health.v1` and server reflection; the `Sync`
//! handler admits only this hub's enrolled, unrevoked children. The client dials its parent,
//! checks the parent's certificate names the parent unit, and keeps the session alive with
//! exponential backoff and jitter.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, warn};
use yinglian_proto::v1::SyncFrame;
use yinglian_proto::v1::feed_server::FeedServer;
use yinglian_proto::v1::sync_client::SyncClient;
use yinglian_proto::v1::sync_server::{Sync, SyncServer};

use crate::domain::unit::UnitCode;
use crate::federation::admission::{Caller, Gate, Gated, Service};
use crate::federation::authz::{Peer, Relation};
use crate::federation::pki::{self, PeerCert, Role, TlsMaterial, identity_uri};
use crate::federation::sync::{Engine, MAX_FRAME_BYTES, SessionEnd};

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{0}")]
    Pki(#[from] pki::PkiError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("{0}")]
    Status(#[from] Status),
    #[error("{0}")]
    Config(String),
}

/// How often either side pings an idle connection, and how long it waits for the answer: a dead
/// or black-holed link is noticed within about five seconds.
const KEEPALIVE: Duration = Duration::from_secs(2);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(3);

/// TLS handshakes in progress at once, and from one source address: slow or silent clients
/// cannot take every slot.
const MAX_HANDSHAKES: usize = 256;
const HANDSHAKES_PER_SOURCE: usize = 32;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// HTTP/2 streams one connection may have open at once (the gate bounds each identity further).
const MAX_STREAMS_PER_CONNECTION: u32 = 64;

/// What the server knows of a connection once TLS is done.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub remote: Option<SocketAddr>,
    pub peer: Option<PeerCert>,
    /// Why the certificate does not name a yinglian unit (when `peer` is `None`).
    pub problem: Option<String>,
}

/// A TLS connection that tonic serves, carrying who is at the other end.
pub struct TlsConn {
    inner: tokio_rustls::server::TlsStream<TcpStream>,
    info: ConnInfo,
}

impl Connected for TlsConn {
    type ConnectInfo = ConnInfo;
    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The `Sync` service of a hub: its direct children (nodes and hubs) only.
pub struct SyncService {
    engine: Arc<Engine>,
    gate: Arc<Gate>,
    shutdown: watch::Receiver<bool>,
}

#[tonic::async_trait]
impl Sync for SyncService {
    type SyncStream = ReceiverStream<Result<SyncFrame, Status>>;

    async fn sync(
        &self,
        request: Request<Streaming<SyncFrame>>,
    ) -> Result<Response<Self::SyncStream>, Status> {
        let me = self.engine.me.clone();
        let admission = self
            .gate
            .admit(
                request.extensions().get::<ConnInfo>(),
                Service::Sync,
                |c| match c {
                    Caller::Child { .. } => Ok(()),
                    Caller::Subscriber { unit, .. } => Err(format!(
                        "{} is a subscriber: subscribers read feeds and may not sync",
                        identity_uri("subscriber", unit)
                    )),
                    Caller::Parent { unit } => Err(format!(
                        "{unit} is the parent of {me}: a parent does not sync to its child's server"
                    )),
                },
            )
            .await?;
        let Caller::Child { unit, role } = admission.caller.clone() else {
            unreachable!("admitted as a child")
        };
        let peer = Peer {
            unit,
            role,
            relation: Relation::Child,
        };
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(1024);
        let engine = self.engine.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let unit = peer.unit.clone();
            let cut = admission.cut();
            let end = engine
                .run_session(peer, inbound, tx, shutdown, Some(cut))
                .await;
            drop(admission);
            if let Err(e) = end
                && !matches!(e, SessionEnd::Closed | SessionEnd::Shutdown)
            {
                warn!(peer = %unit, error = %e, "child session ended");
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Serves `Sync`, health and reflection on `listener` until `shutdown` turns true.
pub async fn serve(
    engine: Arc<Engine>,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
) -> Result<(), NetError> {
    let tls = TlsMaterial::load(&engine.data)?;
    let acceptor = TlsAcceptor::from(Arc::new(tls.server_config()?));
    let gate = Gate::new(engine.store.clone(), &engine.data, engine.limits)
        .await
        .map_err(|e| NetError::Config(e.to_string()))?;
    let (conn_tx, conn_rx) = mpsc::channel::<Result<TlsConn, std::io::Error>>(64);
    let accept_gate = gate.clone();
    let mut accept_stop = shutdown.clone();
    let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    let per_source: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>> =
        Default::default();
    let accept = tokio::spawn(async move {
        loop {
            // A handshake slot first: a flood of connections waits in the kernel's backlog.
            let slot = tokio::select! {
                s = handshakes.clone().acquire_owned() => match s { Ok(s) => s, Err(_) => break },
                _ = accept_stop.changed() => break,
            };
            let (tcp, remote) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors, typically: pause instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = accept_stop.changed() => break,
            };
            // One source may hold a few handshakes at once, not every slot.
            let admitted = {
                let mut m = per_source.lock().expect("handshakes per source");
                let n = m.entry(remote.ip()).or_default();
                *n += 1;
                *n <= HANDSHAKES_PER_SOURCE
            };
            let release = {
                let per_source = per_source.clone();
                move || {
                    let mut m = per_source.lock().expect("handshakes per source");
                    if let Some(n) = m.get_mut(&remote.ip()) {
                        *n -= 1;
                        if *n == 0 {
                            m.remove(&remote.ip());
                        }
                    }
                }
            };
            if !admitted {
                release();
                drop(tcp);
                accept_gate
                    .handshake_failed(
                        remote,
                        None,
                        &format!(
                            "over {HANDSHAKES_PER_SOURCE} handshakes at once from this source"
                        ),
                    )
                    .await;
                continue;
            }
            let acceptor = acceptor.clone();
            let conn_tx = conn_tx.clone();
            let gate = accept_gate.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let _ = tcp.set_nodelay(true);
                let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
                release();
                match handshake {
                    Ok(Ok(tls)) => {
                        let chain = tls
                            .get_ref()
                            .1
                            .peer_certificates()
                            .map(|c| c.to_vec())
                            .unwrap_or_default();
                        let (peer, problem) = match pki::peer_cert(&chain) {
                            Ok(p) => (Some(p), None),
                            Err(e) => (None, Some(e.to_string())),
                        };
                        let info = ConnInfo {
                            remote: Some(remote),
                            peer,
                            problem,
                        };
                        let _ = conn_tx.send(Ok(TlsConn { inner: tls, info })).await;
                    }
                    Ok(Err(e)) => match pki::Claimed::of(&e) {
                        Some(c) => {
                            gate.handshake_failed(remote, Some(c.who.clone()), &c.to_string())
                                .await
                        }
                        None => gate.handshake_failed(remote, None, &e.to_string()).await,
                    },
                    Err(_) => {
                        gate.handshake_failed(remote, None, "not finished within 10 s")
                            .await
                    }
                }
            });
        }
    });
    // Revocations written by `yl-hub revoke` (another process) reach open streams within a second.
    let poller = tokio::spawn(gate.clone().maintain(shutdown.clone()));
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<SyncServer<SyncService>>().await;
    // Server reflection in both versions: grpcurl speaks v1, Python's grpcio and older tools
    // know only v1alpha.
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(yinglian_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| NetError::Config(format!("reflection: {e}")))?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(yinglian_proto::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| NetError::Config(format!("reflection: {e}")))?;
    let service = SyncService {
        engine: engine.clone(),
        gate: gate.clone(),
        shutdown: shutdown.clone(),
    };
    let feed = crate::federation::feed::FeedService {
        gate: gate.clone(),
        store: engine.store.clone(),
        shutdown: shutdown.clone(),
        queue: engine
            .store
            .meta("feed_queue")
            .await
            .ok()
            .flatten()
            .and_then(|q| q.parse().ok())
            .unwrap_or(crate::federation::feed::DEFAULT_QUEUE),
    };
    health
        .set_serving::<FeedServer<crate::federation::feed::FeedService>>()
        .await;
    let mut stop = shutdown.clone();
    info!(unit = %engine.me, "serving Sync, Feed, health and reflection");
    let result = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(KEEPALIVE))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .tcp_keepalive(Some(KEEPALIVE))
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        .add_service(
            SyncServer::new(service)
                .max_decoding_message_size(MAX_FRAME_BYTES)
                .max_encoding_message_size(MAX_FRAME_BYTES),
        )
        .add_service(FeedServer::new(feed))
        .add_service(yinglian_proto::v1::reports_server::ReportsServer::new(
            crate::federation::reports::ReportsService {
                gate: gate.clone(),
                store: engine.store.clone(),
            },
        ))
        .add_service(yinglian_proto::v1::directory_server::DirectoryServer::new(
            crate::federation::directory::DirectoryService {
                gate: gate.clone(),
                store: engine.store.clone(),
            },
        ))
        .add_service(Gated {
            inner: health_service,
            gate: gate.clone(),
        })
        .add_service(Gated {
            inner: reflection,
            gate: gate.clone(),
        })
        .add_service(Gated {
            inner: reflection_alpha,
            gate: gate.clone(),
        })
        .serve_with_incoming_shutdown(ReceiverStream::new(conn_rx), async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
    accept.abort();
    let _ = poller.await;
    result.map_err(NetError::from)
}

/// Dials `url` (`https://host:port`), expecting the server to be unit `server_unit`.
pub async fn connect(
    tls: &TlsMaterial,
    url: &str,
    server_unit: &UnitCode,
) -> Result<tonic::transport::Channel, NetError> {
    connect_with_window(tls, url, server_unit, None).await
}

/// `connect`, with the HTTP/2 receive window of each stream set (a small one makes a reader that
/// does not read push back on the server at once).
pub async fn connect_with_window(
    tls: &TlsMaterial,
    url: &str,
    server_unit: &UnitCode,
    window: Option<u32>,
) -> Result<tonic::transport::Channel, NetError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| NetError::Config(format!("the parent address \"{url}\" is not a URL: {e}")))?;
    let host = uri
        .host()
        .ok_or_else(|| NetError::Config(format!("the parent address \"{url}\" has no host")))?
        .trim_matches(['[', ']'])
        .to_string();
    let port = uri.port_u16().unwrap_or(443);
    let connector = TlsConnector::from(Arc::new(tls.client_config()?));
    let pin = tls
        .parent_key
        .clone()
        .filter(|_| tls.parent_unit.as_ref() == Some(server_unit));
    let name = rustls::pki_types::ServerName::try_from(pki::unit_dns(server_unit))
        .map_err(|e| NetError::Config(format!("server name: {e}")))?;
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{host}:{port}"))
        .map_err(|e| NetError::Config(e.to_string()))?
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(KEEPALIVE)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true)
        .initial_stream_window_size(window);
    let channel = endpoint
        .connect_with_connector(tower::service_fn(move |_: http::Uri| {
            let connector = connector.clone();
            let name = name.clone();
            let addr = format!("{host}:{port}");
            let pin = pin.clone();
            async move {
                let tcp = TcpStream::connect(addr).await?;
                tcp.set_nodelay(true)?;
                let tls = connector.connect(name, tcp).await?;
                // The parent is the holder of the key pinned at `join`, not any holder of a
                // certificate with its name.
                if let Some(pin) = pin {
                    let leaf = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
                    let key = leaf.and_then(|l| pki::key_hash(l).ok());
                    if key.as_deref() != Some(pin.as_str()) {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::PermissionDenied,
                            "the server's key is not the parent's key pinned at join",
                        ));
                    }
                }
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await?;
    Ok(channel)
}

/// Opens one session with the parent and runs it to its end.
pub async fn sync_once(
    engine: &Arc<Engine>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), NetError> {
    let parent = engine.parent.clone().ok_or_else(|| {
        NetError::Config("this unit has not joined a parent (run `join --bundle FILE`)".into())
    })?;
    let url = engine
        .store
        .meta("parent_url")
        .await
        .map_err(|e| NetError::Config(e.to_string()))?
        .ok_or_else(|| NetError::Config("no parent address; run `join --bundle FILE`".into()))?;
    let tls = TlsMaterial::load(&engine.data)?;
    tracing::debug!(unit = %engine.me, %url, "dialling the parent");
    let channel = connect(&tls, &url, &parent).await?;
    tracing::debug!(unit = %engine.me, "connected; opening the sync stream");
    let mut client = SyncClient::new(channel)
        .max_decoding_message_size(MAX_FRAME_BYTES)
        .max_encoding_message_size(MAX_FRAME_BYTES);
    let (tx, rx) = mpsc::channel::<Result<SyncFrame, Status>>(1024);
    let outbound = ReceiverStream::new(rx).map_while(|r| r.ok());
    let inbound = client.sync(outbound).await?.into_inner();
    tracing::debug!(unit = %engine.me, "sync stream open");
    let peer = Peer {
        unit: parent,
        role: Role::Hub,
        relation: Relation::Parent,
    };
    match engine.run_session(peer, inbound, tx, shutdown, None).await {
        Ok(()) | Err(SessionEnd::Shutdown) => Ok(()),
        Err(SessionEnd::Stream(s)) => Err(NetError::Status(s)),
        Err(e) => Err(NetError::Config(e.to_string())),
    }
}

/// The first reconnection delay, and the longest: short, so that a link that comes back is used
/// within seconds (a hub that is down costs its children nothing but a TCP connect).
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(4);

/// Keeps a session with the parent open until `shutdown`: reconnects with exponential backoff
/// (0.25 s doubling to 4 s, each wait drawn between half and all of it); a session that got in
/// sync resets the delay, however short it lived.
pub async fn run_upstream(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    let mut delay = BACKOFF_MIN;
    let parent = engine
        .parent
        .as_ref()
        .map(|p| p.to_string())
        .unwrap_or_default();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let stats = engine.peer_stats(&parent);
        let synced = stats.synced.load(std::sync::atomic::Ordering::Relaxed);
        match sync_once(&engine, shutdown.clone()).await {
            Ok(()) if *shutdown.borrow() => return,
            Ok(()) => info!("the parent closed the session; reconnecting"),
            Err(e) => warn!(error = %e, "sync with the parent failed"),
        }
        if stats.synced.load(std::sync::atomic::Ordering::Relaxed) > synced {
            delay = BACKOFF_MIN;
        }
        let wait = delay.mul_f64(0.5 + 0.5 * rand::random::<f64>());
        delay = (delay * 2).min(BACKOFF_MAX);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Tells this process's sessions about writes made by other processes (the CLI beside the
/// daemon): polls the documents' version counter every 250 ms.
pub async fn watch_other_writers(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    let mut last = engine.store.newest_version().await.unwrap_or(0);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let (docs, newest) = match engine.store.changed_since(last).await {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "could not poll for changes");
                continue;
            }
        };
        last = newest;
        for doc in docs {
            engine.store.notify(doc);
        }
    }
}
