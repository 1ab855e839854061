//! The wire: mutually authenticated TLS (rustls, ring) under tonic. A connection the server
//! accepted carries who is at the other end (`ConnInfo`); the client dials its parent, checks the
//! parent's certificate names the parent unit (and holds the key pinned at join), and keeps the
//! session alive with exponential backoff and jitter. Which services a hub serves, and the gate in
//! front of them, are `federation::server`'s.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsConnector;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tonic::transport::server::Connected;
use tracing::{info, warn};
use yinglian_proto::v1::SyncFrame;
use yinglian_proto::v1::sync_client::SyncClient;

use crate::domain::unit::UnitCode;
use crate::federation::authz::{Peer, Relation};
use crate::federation::pki::{self, PeerCert, Role, TlsMaterial};
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
pub(crate) const KEEPALIVE: Duration = Duration::from_secs(2);
pub(crate) const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(3);

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

impl TlsConn {
    /// A connection whose TLS handshake `remote` finished: who its certificate names, or why it
    /// names no yinglian unit.
    pub fn accepted(
        inner: tokio_rustls::server::TlsStream<TcpStream>,
        remote: SocketAddr,
    ) -> TlsConn {
        let chain = inner
            .get_ref()
            .1
            .peer_certificates()
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let (peer, problem) = match pki::peer_cert(&chain) {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e.to_string())),
        };
        TlsConn {
            inner,
            info: ConnInfo {
                remote: Some(remote),
                peer,
                problem,
            },
        }
    }
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
/// daemon): every 250 ms, a look at the store files' stamp (no query while nothing was written);
/// when it moved, or every 5 s in any case, the documents' version counter is read.
pub async fn watch_other_writers(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    /// Ends the trust in current copies when the watch ends, however it ends.
    struct Watching<'a>(&'a crate::store::Store);
    impl Drop for Watching<'_> {
        fn drop(&mut self) {
            self.0.not_watching_other_writers();
        }
    }
    let mut last = engine.store.newest_version().await.unwrap_or(0);
    engine.store.watching_other_writers();
    let _watching = Watching(&engine.store);
    let mut stamp = engine.store.files_stamp();
    let mut asked = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let now = engine.store.files_stamp();
        if now == stamp && asked.elapsed() < Duration::from_secs(5) {
            continue;
        }
        stamp = now;
        asked = tokio::time::Instant::now();
        let (docs, newest) = match engine.store.versions_since(last).await {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "could not poll for changes");
                continue;
            }
        };
        last = newest;
        // This process's own writes were told as they were made.
        for (doc, version) in docs {
            if engine.store.changed_elsewhere(&doc, version) {
                engine.store.notify(doc);
            }
        }
    }
}
