//! A hub's gRPC server: the one admission gate, the TLS accept loop in front of it (handshake
//! slots, per-source bounds, refused handshakes recorded), and the services it serves: `Sync` to
//! its children, `Feed`, `Reports`, `Catalogue`, `Directory`, `grpc.health.v1` and server reflection.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, warn};
use yinglian_proto::v1::SyncFrame;
use yinglian_proto::v1::feed_server::FeedServer;
use yinglian_proto::v1::sync_server::{Sync, SyncServer};

use crate::federation::admission::{Caller, Gate, Gated, Service};
use crate::federation::authz::{Peer, Relation};
use crate::federation::net::{ConnInfo, KEEPALIVE, KEEPALIVE_TIMEOUT, NetError, TlsConn};
use crate::federation::pki::{self, TlsMaterial, identity_uri};
use crate::federation::sync::{Engine, MAX_FRAME_BYTES, SessionEnd};

/// TLS handshakes in progress at once, and from one source address: slow or silent clients
/// cannot take every slot.
const MAX_HANDSHAKES: usize = 256;
const HANDSHAKES_PER_SOURCE: usize = 32;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// HTTP/2 streams one connection may have open at once (the gate bounds each identity further).
const MAX_STREAMS_PER_CONNECTION: u32 = 64;

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
                        identity_uri(crate::domain::unit::Role::Subscriber.as_str(), unit)
                    )),
                    Caller::Parent { unit } => Err(format!(
                        "{unit} is the parent of {me}: a parent does not sync to its child's server"
                    )),
                    Caller::Delegate { unit, .. } => Err(format!(
                        "subscriber {unit} was granted the catalogue here, nothing else: subscribers may not sync"
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
    if engine.store.identity().is_hub()
        && let Err(e) = crate::federation::membership::publish_grants(&engine.store).await
    {
        // The parent's catalogue grants relayed for the hubs below (a store of an earlier
        // version has none yet). Not published now, they are at the gate's next refresh.
        warn!(error = %e, "could not publish the catalogue grants; to be tried again");
    }
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
                        let _ = conn_tx.send(Ok(TlsConn::accepted(tls, remote))).await;
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
        .add_service(yinglian_proto::v1::catalogue_server::CatalogueServer::new(
            crate::federation::catalogue::CatalogueService {
                gate: gate.clone(),
                store: engine.store.clone(),
                data: engine.data.clone(),
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
