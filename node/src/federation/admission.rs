//! The one admission gate of every gRPC service (Sync, Feed, Directory, Reports, and any added
//! later). The chain TLS verified gives the claimed identity; the gate then proves where it stands:
//! a unit this hub enrolled (its leaf verifies under this hub's own CA, and its exact certificate
//! is the one registered, not revoked, not superseded), or the parent this unit joined (its key
//! pinned from the bundle), or a subscriber the parent granted the catalogue (its exact
//! certificate named in the grants of the parent's profile). Nothing the presenter wrote into its certificate beyond that proof is
//! believed. The caller's place in the tree then gives its rights, each service saying which
//! places it serves. Every refusal is recorded with the caller's identity. The gate also bounds
//! what one identity costs (concurrent streams), watches revocations so that open streams end
//! within a second, and counts failed TLS handshakes per source and minute instead of writing a
//! row per attempt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tonic::Status;
use tracing::{debug, info, warn};

use crate::domain::unit::UnitCode;
use crate::federation::net::ConnInfo;
use crate::federation::pki::{self, PeerCert, Role};
use crate::store::{Enrollment, Store, StoreError};

/// What one authenticated peer may cost this hub. Each has a default sound for a city of a few
/// thousand units; an operator sets them in the `[limits]` table of the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Documents one sync session may open, announced in its hello or not (a district with a
    /// thousand institutions shares about two thousand with the city).
    pub docs_per_session: usize,
    /// Streams (Sync, Feed, Directory, Reports calls) one identity may have open at once.
    pub streams_per_peer: usize,
    /// Bytes one peer may send in a minute, over all its streams.
    pub bytes_per_minute: u64,
    /// Calls (a stream opened, a lookup, a report) one identity may make in a minute.
    pub calls_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            docs_per_session: 20_000,
            streams_per_peer: 8,
            bytes_per_minute: 512 << 20,
            calls_per_minute: 600,
        }
    }
}

impl Limits {
    pub fn validate(&self) -> Result<(), String> {
        if self.docs_per_session == 0
            || self.streams_per_peer == 0
            || self.bytes_per_minute == 0
            || self.calls_per_minute == 0
        {
            return Err("每项上限至少为 1".into());
        }
        Ok(())
    }
}

/// Who a caller is to this unit, as proved by the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A node or hub this unit enrolled.
    Child { unit: UnitCode, role: Role },
    /// A subscriber this unit enrolled, the subtree it may watch, and whether it was granted the
    /// catalogue of that subtree.
    Subscriber {
        unit: UnitCode,
        scope: UnitCode,
        catalogue: bool,
    },
    /// The parent this unit joined.
    Parent { unit: UnitCode },
    /// A subscriber the parent enrolled and granted the catalogue of `scope`, known here from the
    /// grants the parent publishes in its profile (its exact certificate): the city's police
    /// reading a district's catalogue at the district hub. It may read the catalogue and nothing
    /// else.
    Delegate {
        unit: UnitCode,
        scope: UnitCode,
        granted_by: UnitCode,
    },
}

/// The services behind the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Sync,
    Feed,
    Directory,
    Reports,
    Catalogue,
    /// `grpc.health.v1` and server reflection.
    Plumbing,
}

impl Service {
    fn as_str(self) -> &'static str {
        match self {
            Service::Sync => "Sync",
            Service::Feed => "Feed",
            Service::Directory => "Directory",
            Service::Reports => "Reports",
            Service::Catalogue => "Catalogue",
            Service::Plumbing => "health/reflection",
        }
    }
}

/// An enrollment as registered in `children`.
type Record = Enrollment;

/// Why `cert` is not (or no longer) the enrolled identity, if it is not.
trait Mismatch {
    fn mismatch(&self, cert: &PeerCert) -> Option<String>;
}

impl Mismatch for Record {
    fn mismatch(&self, cert: &PeerCert) -> Option<String> {
        if let Some(at) = &self.revoked_at {
            return Some(format!("unit {} was revoked at {at}", cert.unit));
        }
        if self.role != cert.role {
            return Some(format!(
                "unit {} was enrolled as {}, not {}",
                cert.unit, self.role, cert.role
            ));
        }
        let norm = |s: &str| s.trim_start_matches('0').to_ascii_lowercase();
        let same = match &self.fingerprint {
            Some(f) => *f == cert.fingerprint,
            None => norm(&self.serial) == norm(&cert.serial),
        };
        (!same).then(|| {
            format!(
                "the certificate of unit {} (serial {}) has been replaced by a newer enrollment",
                cert.unit, cert.serial
            )
        })
    }
}

type Registry = Arc<HashMap<String, Record>>;

/// The gate of one hub.
pub struct Gate {
    store: Arc<Store>,
    me: UnitCode,
    own_ca: Option<CertificateDer<'static>>,
    parent: Option<(UnitCode, String)>,
    pub limits: Limits,
    streams: Mutex<HashMap<String, usize>>,
    /// Calls per identity in the current minute.
    calls: Mutex<(i64, HashMap<String, u32>)>,
    registry: watch::Sender<Registry>,
    /// The enrollments' version (`Store::enrollments_version`) the registry was read at.
    read_at: Mutex<Option<i64>>,
}

impl Gate {
    /// The gate of the unit whose store and data folder these are.
    pub async fn new(
        store: Arc<Store>,
        data: &std::path::Path,
        limits: Limits,
    ) -> Result<Arc<Gate>, StoreError> {
        let own_ca = pki::own_ca(data).ok();
        let parent = match (
            store.meta("parent_unit").await?,
            pki::parent_key(data).ok().flatten(),
        ) {
            (Some(p), Some(key)) => UnitCode::parse(&p).ok().map(|p| (p, key)),
            _ => None,
        };
        let gate = Arc::new(Gate {
            me: store.unit().clone(),
            store,
            own_ca,
            parent,
            limits,
            streams: Mutex::new(HashMap::new()),
            calls: Mutex::new((0, HashMap::new())),
            registry: watch::channel(Arc::new(HashMap::new())).0,
            read_at: Mutex::new(None),
        });
        // The enrollments must be read; the grants' publication, if it fails, is retried by
        // the refreshes and does not keep the hub from serving.
        gate.current().await?;
        Ok(gate)
    }

    async fn records(&self) -> Result<HashMap<String, Record>, StoreError> {
        Ok(self
            .store
            .enrollments()
            .await?
            .into_iter()
            .map(|e| (e.unit.clone(), e))
            .collect())
    }

    /// Re-reads the enrollments (another process, `yl-hub revoke` or `enroll`, may have changed
    /// them); open streams of an identity no longer valid end. A publication of the catalogue
    /// grants that failed is tried again here.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        // Once a refresh, and its failure said to the caller: an enrollment, a grant or a
        // revocation another process made moves the grants this hub publishes for the hubs
        // below; one that failed before is due.
        if self.reread().await? || self.store.grants_due() {
            crate::federation::membership::publish_grants(&self.store).await?;
        }
        Ok(())
    }

    /// The enrollments as they are now: those installed, while their version has not moved
    /// since they were read (a district of 200 children read 200 rows twice a second, and at
    /// every admission, for nothing), else read again and installed.
    async fn current(&self) -> Result<Registry, StoreError> {
        if self.reread().await?
            && let Err(e) = crate::federation::membership::publish_grants(&self.store).await
        {
            // The catalogue grants follow the enrollments. Not published now, they are at a
            // next refresh; the caller being admitted is not refused for it.
            warn!(error = %e, "could not publish the catalogue grants; to be tried again");
        }
        Ok(self.registry.borrow().clone())
    }

    /// Reads the enrollments again if their version moved since they were read, and installs
    /// them; whether they changed. The version is read before the rows: a change made after it
    /// moves it for the next reader.
    async fn reread(&self) -> Result<bool, StoreError> {
        let version = self.store.enrollments_version().await?;
        if version.is_none() || *self.read_at.lock().expect("read_at") != version {
            let rows = self.records().await?;
            return Ok(self.install(version, rows));
        }
        Ok(false)
    }

    /// Makes `rows`, read at enrollments' `version` (read before them), the enrollments open
    /// streams are checked against, unless those installed were read at a newer version (an
    /// admission's read overtaken by a refresh that saw a revocation must not bring the revoked
    /// identity back); whether they changed. `None`: the version is not known, read again next.
    fn install(&self, version: Option<i64>, rows: HashMap<String, Record>) -> bool {
        let mut at = self.read_at.lock().expect("read_at");
        if let (Some(have), Some(v)) = (*at, version)
            && have > v
        {
            return false;
        }
        *at = version;
        self.publish(rows)
    }

    /// Makes `now` the enrollments open streams are checked against; whether they changed.
    fn publish(&self, now: HashMap<String, Record>) -> bool {
        self.registry.send_if_modified(|r| {
            if **r != now {
                *r = Arc::new(now);
                true
            } else {
                false
            }
        })
    }

    /// Keeps the enrollments current (every 500 ms) and writes the refusal summaries when a
    /// minute ends, until `shutdown`.
    pub async fn maintain(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        // Said once when refreshes start failing and once when they work again, not twice a
        // second in between.
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    match self.refresh().await {
                        Err(e) if !failing => {
                            failing = true;
                            warn!(error = %e, "could not re-read the enrollments or publish the catalogue grants; trying again every 500 ms");
                        }
                        Err(e) => debug!(error = %e, "still failing to refresh the enrollments"),
                        Ok(()) if failing => {
                            failing = false;
                            info!("enrollments and catalogue grants current again");
                        }
                        Ok(()) => {}
                    }
                    self.store.flush_refusals(false).await;
                }
                _ = shutdown.changed() => {
                    self.store.flush_refusals(true).await;
                    return;
                }
            }
        }
    }

    /// Records a refusal with the caller's identity.
    pub async fn refuse(&self, who: &str, reason: &str) {
        self.store.record_refusal(who, None, reason).await;
    }

    /// Records a refusal of a caller not identified, counted under its source address.
    async fn refuse_source(&self, source: Option<std::net::SocketAddr>, who: &str, reason: &str) {
        let bucket = source.map(|a| a.ip().to_string());
        self.store
            .record_refusal_from(bucket.as_deref().unwrap_or(who), who, None, reason)
            .await;
    }

    /// Admits a caller of `service` whose place is one `allow` accepts (it says why not
    /// otherwise). The returned admission holds one of the identity's stream slots until dropped.
    pub async fn admit(
        self: &Arc<Self>,
        info: Option<&ConnInfo>,
        service: Service,
        allow: impl FnOnce(&Caller) -> Result<(), String>,
    ) -> Result<Admission, Status> {
        let addr = info
            .and_then(|i| i.remote)
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| "unknown address".into());
        let Some(cert) = info.and_then(|i| i.peer.clone()) else {
            let why = info
                .and_then(|i| i.problem.clone())
                .unwrap_or_else(|| "no client certificate".into());
            self.refuse_source(
                info.and_then(|i| i.remote),
                &addr,
                &format!("{}: {why}", service.as_str()),
            )
            .await;
            return Err(Status::unauthenticated(why));
        };
        let who = cert.to_string();
        let caller = match self.identify(&cert).await {
            Ok(c) => c,
            Err(Denied::Store(e)) => return Err(Status::unavailable(e.to_string())),
            Err(Denied::Reason(reason)) => {
                self.refuse(&who, &reason).await;
                return Err(Status::permission_denied(reason));
            }
        };
        if let Err(reason) = allow(&caller) {
            self.refuse(&who, &reason).await;
            return Err(Status::permission_denied(reason));
        }
        let key = format!("{who}#{}", cert.fingerprint);
        let calls = {
            let minute = chrono::Utc::now().timestamp() / 60;
            let mut c = self.calls.lock().expect("call table");
            if c.0 != minute {
                *c = (minute, HashMap::new());
            }
            let n = c.1.entry(key.clone()).or_default();
            *n += 1;
            *n
        };
        if calls > self.limits.calls_per_minute {
            let reason = format!(
                "{who} made more than {} calls this minute, the limit per peer ({} refused)",
                self.limits.calls_per_minute,
                service.as_str()
            );
            self.refuse(&who, &reason).await;
            return Err(Status::resource_exhausted(reason));
        }
        let full = {
            let mut open = self.streams.lock().expect("stream table");
            let n = open.entry(key.clone()).or_default();
            let full = *n >= self.limits.streams_per_peer;
            if !full {
                *n += 1;
            }
            full
        };
        if full {
            let reason = format!(
                "{who} already has {} streams open, the limit per peer ({} refused)",
                self.limits.streams_per_peer,
                service.as_str()
            );
            self.refuse(&who, &reason).await;
            return Err(Status::resource_exhausted(reason));
        }
        Ok(Admission {
            caller,
            cert,
            key,
            gate: self.clone(),
        })
    }

    async fn identify(&self, cert: &PeerCert) -> Result<Caller, Denied> {
        let issued_here = self
            .own_ca
            .as_ref()
            .is_some_and(|ca| pki::verify_issued_by(ca, &cert.leaf).is_ok());
        if issued_here {
            // What the stream admitted now will be checked against is at least this fresh.
            let registry = self.current().await.map_err(Denied::Store)?;
            let record = registry.get(cert.unit.as_str()).cloned();
            let Some(r) = record else {
                return Err(Denied::Reason(format!(
                    "unit {} is not a child of {} (no enrollment is registered for it)",
                    cert.unit, self.me
                )));
            };
            if let Some(why) = r.mismatch(cert) {
                return Err(Denied::Reason(why));
            }
            return Ok(match cert.role {
                Role::Subscriber => Caller::Subscriber {
                    unit: cert.unit.clone(),
                    catalogue: r.catalogue,
                    scope: r
                        .scope
                        .as_deref()
                        .and_then(|s| UnitCode::parse(s).ok())
                        .ok_or_else(|| {
                            Denied::Reason(format!(
                                "subscriber {} was enrolled without a scope: enroll it again with --scope",
                                cert.unit
                            ))
                        })?,
                },
                role => Caller::Child {
                    unit: cert.unit.clone(),
                    role,
                },
            });
        }
        if let Some((parent, key)) = &self.parent
            && cert.unit == *parent
            && cert.role == Role::Hub
            && cert.key == *key
        {
            return Ok(Caller::Parent {
                unit: parent.clone(),
            });
        }
        if let Some((parent, _)) = &self.parent
            && cert.role == Role::Subscriber
        {
            let grants = self
                .store
                .read_document(&crate::docs::document::DocId::profile(parent), |d| {
                    crate::docs::grants::read(d)
                })
                .await
                .map_err(Denied::Store)?;
            if let Some(g) = grants.iter().find(|g| g.unit == cert.unit.as_str()) {
                if g.fingerprint != cert.fingerprint {
                    return Err(Denied::Reason(format!(
                        "{cert} is not the certificate {parent} granted the catalogue to (replaced or revoked)"
                    )));
                }
                if let Ok(scope) = UnitCode::parse(&g.scope) {
                    return Ok(Caller::Delegate {
                        unit: cert.unit.clone(),
                        scope,
                        granted_by: parent.clone(),
                    });
                }
            }
        }
        Err(Denied::Reason(format!(
            "{cert} was not enrolled by {} (its certificate is not issued by this unit's CA) and is not the parent it joined",
            self.me
        )))
    }

    /// Counts a failed TLS handshake from `source`, whose certificate claimed `claim` (an
    /// identity nothing verified: only a well-formed unit code is kept, for the record). The
    /// refusal log bounds what a flood writes, under the source address.
    pub async fn handshake_failed(
        &self,
        source: std::net::SocketAddr,
        claim: Option<String>,
        reason: &str,
    ) {
        self.store
            .live()
            .handshakes_refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let claim = claim.filter(|c| {
            c.strip_prefix("urn:yinglian:")
                .and_then(|r| r.split_once(':'))
                .is_some_and(|(role, unit)| role.len() <= 10 && UnitCode::parse(unit).is_ok())
        });
        let who = claim.unwrap_or_else(|| source.ip().to_string());
        self.refuse_source(
            Some(source),
            &who,
            &format!("TLS handshake refused from {source}: {reason}"),
        )
        .await;
    }
}

enum Denied {
    Reason(String),
    Store(StoreError),
}

/// An admitted caller: who it is, and a stream slot held until this is dropped.
pub struct Admission {
    pub caller: Caller,
    pub cert: PeerCert,
    key: String,
    gate: Arc<Gate>,
}

impl Admission {
    /// Resolves, with the reason, once the caller's enrollment no longer holds (revoked,
    /// superseded, removed); never for the parent. Noticed within a second.
    pub fn cut(&self) -> Cut {
        Cut {
            registry: self.gate.registry.subscribe(),
            cert: self.cert.clone(),
            // A delegate's grant is not in this unit's registry: its reads are short, and each
            // call is checked against the parent's grants again.
            watched: !matches!(self.caller, Caller::Parent { .. } | Caller::Delegate { .. }),
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.gate.streams.lock().expect("stream table");
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Watches one admitted identity's enrollment.
pub struct Cut {
    registry: watch::Receiver<Registry>,
    cert: PeerCert,
    watched: bool,
}

impl Cut {
    /// Waits until the enrollment no longer holds; returns why.
    pub async fn fired(&mut self) -> String {
        if !self.watched {
            return std::future::pending().await;
        }
        loop {
            let why = {
                let r = self.registry.borrow_and_update();
                match r.get(self.cert.unit.as_str()) {
                    None => Some(format!("unit {} is no longer enrolled", self.cert.unit)),
                    Some(rec) => rec.mismatch(&self.cert),
                }
            };
            if let Some(why) = why {
                return why;
            }
            if self.registry.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}

/// A service of the plumbing (health, reflection) behind the gate: any admitted place may call
/// it, within the calls and streams of its identity; anyone else is refused and recorded.
#[derive(Clone)]
pub struct Gated<S> {
    pub inner: S,
    pub gate: Arc<Gate>,
}

impl<S: tonic::server::NamedService> tonic::server::NamedService for Gated<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower::Service<http::Request<B>> for Gated<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        // The ready clone serves this call; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let gate = self.gate.clone();
        Box::pin(async move {
            let info = req.extensions().get::<ConnInfo>().cloned();
            match gate
                .admit(info.as_ref(), Service::Plumbing, |_| Ok(()))
                .await
            {
                Ok(_admitted) => inner.call(req).await,
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs::document::DocId;
    use crate::store::membership::{ChildCertificate, district_store, register_node};
    use crate::store::testing;

    /// A refresh that saw a revocation is not undone by an admission that read the enrollments
    /// before it (and installs them after it); and a refresh with nothing changed reads nothing.
    #[tokio::test]
    async fn a_revocation_seen_is_not_undone_by_an_older_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(district_store(dir.path()).await);
        let child = UnitCode::parse("500103-0001").unwrap();
        register_node(&store, &child).await;
        let gate = Gate::new(store.clone(), dir.path(), Limits::default())
            .await
            .unwrap();
        let revoked = |g: &Gate| g.registry.borrow()[child.as_str()].revoked_at.is_some();
        assert!(!revoked(&gate));
        // An admission reads the enrollments (version, then rows) ...
        let old_version = store.enrollments_version().await.unwrap();
        let old = gate.records().await.unwrap();
        // ... the child is revoked by another process and a refresh sees it ...
        store.revoke_child(&child).await.unwrap();
        gate.refresh().await.unwrap();
        assert!(revoked(&gate));
        // ... then the admission installs what it read: refused, older.
        assert!(!gate.install(old_version, old));
        assert!(revoked(&gate), "an older read brought a revoked child back");
        gate.refresh().await.unwrap();
        assert!(revoked(&gate));
        let now = store.enrollments_version().await.unwrap();
        assert_eq!(*gate.read_at.lock().unwrap(), now);
    }

    /// A publication of the catalogue grants that failed (the parent's profile, whose grants a
    /// hub relays, unreadable for a while) still writes this hub's own grants, a revocation's
    /// withdrawal above all, and is tried again at the gate's refreshes though the enrollments
    /// do not move again; the admission that met the failure is not refused for it; and a
    /// publication whose caller went away before it ended is due again too.
    #[tokio::test]
    async fn a_grant_not_published_at_once_is_published_at_a_next_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(district_store(dir.path()).await);
        let own = DocId::profile(store.unit());
        store
            .edit(&own, "t", "record the parent unit", |d| {
                Ok(crate::docs::profile::set_text(d, "parent", Some("500000"))?)
            })
            .await
            .unwrap();
        let gate = Gate::new(store.clone(), dir.path(), Limits::default())
            .await
            .unwrap();
        let parent = DocId::profile(&UnitCode::parse("500000").unwrap());
        testing::damage(&store, &parent).await;

        let police = UnitCode::parse("GA-500103").unwrap();
        let enroll = || ChildCertificate {
            unit: police.as_str(),
            role: crate::domain::unit::Role::Subscriber,
            scope: Some("500103"),
            serial: "02",
            fingerprint: "cd",
            not_after: "2030-01-01T00:00:00Z",
        };
        let enroll_granted = || async {
            store.register_child(&enroll()).await.unwrap();
            assert!(
                store
                    .set_catalogue_grant(police.as_str(), true)
                    .await
                    .unwrap()
            );
        };
        enroll_granted().await;
        let published = |s: Arc<Store>| async move {
            s.read_document(&DocId::profile(s.unit()), |d| {
                crate::docs::grants::read(d)
                    .iter()
                    .any(|g| g.unit == "GA-500103" && g.fingerprint == "cd")
            })
            .await
            .unwrap()
        };
        // An admission reads the new enrollments: the caller is still answered, this hub's own
        // grant is written, the relayed ones cannot be and the publication stays due.
        assert!(gate.current().await.is_ok());
        assert!(published(store.clone()).await);
        assert!(store.grants_due());
        assert!(
            gate.refresh().await.is_err(),
            "the parent's profile unreadable"
        );
        assert!(store.grants_due());
        // Revoked meanwhile: the grant is withdrawn at once all the same, in one publication
        // (the enrollments moved and one was due: not one for each).
        store.revoke_child(&police).await.unwrap();
        let asked = store.grants_asked();
        assert!(gate.refresh().await.is_err());
        assert_eq!(store.grants_asked(), asked + 1, "one publication a refresh");
        assert!(
            !published(store.clone()).await,
            "a revoked subscriber kept its grant"
        );

        testing::mend(&store, &parent).await;
        gate.refresh().await.unwrap();
        assert!(!store.grants_due());
        enroll_granted().await;
        gate.refresh().await.unwrap();
        assert!(published(store.clone()).await);

        // A publication dropped before it ended (its caller went away) is due, and done at the
        // next refresh.
        let ended = tokio::select! {
            biased;
            _ = crate::federation::membership::publish_grants(&store) => true,
            _ = std::future::ready(()) => false,
        };
        assert!(!ended, "it ended within its first poll");
        assert!(store.grants_due());
        gate.refresh().await.unwrap();
        assert!(!store.grants_due());
    }
}
