//! The federation against a compromised unit: an attacker holding a district's machine (its CA
//! key, its certificate), an institution's, or nothing but the network, with the documented
//! commands, forged certificates and an ordinary gRPC client. Each case is refused, recorded with
//! the identity the caller claimed, and nothing of it is answered or applied.

use std::path::Path;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tonic::Status;
use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::cli::federation::revoke_unit;
use yinglian_node::docs::document::DocId;
use yinglian_node::domain::unit::UnitCode;
use yinglian_node::federation::admission::Limits;
use yinglian_node::federation::pki::{self, Enrollment, Role, TlsMaterial, Validity, unit_dns};
use yinglian_proto::v1::directory_client::DirectoryClient;
use yinglian_proto::v1::feed_client::FeedClient;
use yinglian_proto::v1::reports_client::ReportsClient;
use yinglian_proto::v1::sync_client::SyncClient;
use yinglian_proto::v1::{
    CamerasRequest, DocHeads, FeedEvent, Hello, LookupRequest, SubscribeRequest, SyncFrame,
    sync_frame,
};
use yinglian_tests::hostile::{doc_frame, hello, issued_by, raw, refusals, started, wait_refusal};
use yinglian_tests::{PATIENCE, converge, federation};

// ---- what an attacker can sign with a CA key it holds ------------------------------------

/// A CA key and certificate as they lie on a hub's disk (`tls/ca.key`, `tls/ca.crt`).
struct Ca {
    key_pem: String,
    /// The CA certificate, then those above it (not the root).
    chain: Vec<CertificateDer<'static>>,
}

fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The CA of the hub whose data folder is `dir`: what its machine's thief holds.
fn stolen_ca(dir: &Path) -> Ca {
    let paths = pki::Paths::new(dir);
    let mut chain = certs(&std::fs::read_to_string(paths.ca_chain()).unwrap());
    let root = certs(&std::fs::read_to_string(paths.root()).unwrap());
    chain.retain(|c| c != &root[0]);
    if chain.is_empty() {
        // The root's own CA: its certificate is the root.
        chain = root;
    }
    Ca {
        key_pem: std::fs::read_to_string(paths.ca_key()).unwrap(),
        chain,
    }
}

/// A certificate's parameters as the attacker chooses them.
struct Forged {
    role: &'static str,
    unit: String,
    dns: String,
    serial: Option<String>,
    /// An authority key identifier written by hand (what the old gate believed).
    aki: Option<Vec<u8>>,
    ca: bool,
}

impl Forged {
    /// A certificate naming `unit` throughout, as a real one would.
    fn of(role: &'static str, unit: &str) -> Forged {
        Forged {
            role,
            unit: unit.into(),
            dns: unit_dns(&UnitCode::parse(unit).unwrap()),
            serial: None,
            aki: None,
            ca: false,
        }
    }

    fn params(&self) -> CertificateParams {
        let mut p = CertificateParams::default();
        p.distinguished_name
            .push(DnType::OrganizationName, "yinglian");
        p.distinguished_name.push(
            DnType::CommonName,
            if self.ca {
                format!("yinglian CA {}", self.unit)
            } else {
                self.unit.clone()
            },
        );
        let uri = format!(
            "urn:yinglian:{}:{}",
            if self.ca { "ca" } else { self.role },
            self.unit
        );
        p.subject_alt_names = vec![SanType::URI(uri.try_into().unwrap())];
        if !self.ca {
            p.subject_alt_names
                .push(SanType::DnsName(self.dns.clone().try_into().unwrap()));
            p.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        } else {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::DigitalSignature,
            ];
        }
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now - time::Duration::hours(1);
        p.not_after = now + time::Duration::days(30);
        if let Some(hex) = &self.serial {
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            p.serial_number = Some(SerialNumber::from_slice(&bytes));
        }
        match &self.aki {
            Some(id) => {
                // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING }
                let mut der = vec![0x30, id.len() as u8 + 2, 0x80, id.len() as u8];
                der.extend_from_slice(id);
                p.custom_extensions
                    .push(CustomExtension::from_oid_content(&[2, 5, 29, 35], der));
            }
            None => p.use_authority_key_identifier_extension = true,
        }
        p
    }

    /// Signs with `ca`; returns the new certificate, its key, and the CA chain above it.
    fn sign(&self, ca: &Ca) -> (CertificateDer<'static>, KeyPair) {
        let issuer =
            Issuer::from_ca_cert_der(&ca.chain[0], KeyPair::from_pem(&ca.key_pem).unwrap())
                .unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = self.params().signed_by(&key, &issuer).unwrap();
        (cert.der().clone(), key)
    }
}

/// TLS material presenting `leaf` (with `above` as its chain) and trusting the federation root.
fn material(
    root_of: &LocalUnit,
    leaf: CertificateDer<'static>,
    key: &KeyPair,
    above: &[CertificateDer<'static>],
) -> TlsMaterial {
    let real = TlsMaterial::load(&root_of.dir).unwrap();
    let mut chain = vec![leaf];
    chain.extend(above.iter().cloned());
    TlsMaterial {
        chain,
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        root: real.root,
        parent_unit: None,
        parent_key: None,
    }
}

/// A leaf forged with `ca`, presented with `ca`'s chain.
fn forge(ca: &Ca, f: &Forged, any_unit: &LocalUnit) -> TlsMaterial {
    let (leaf, key) = f.sign(ca);
    material(any_unit, leaf, &key, &ca.chain)
}

/// An intermediate CA signed with the root's key and constrained by nothing: what a CA issued
/// before this release looks like, or one signed by mistake. With it the leaf's chain verifies
/// up to the root, so only the gate stands between its holder and the hubs.
fn unconstrained_intermediate(city: &LocalUnit, code: &str) -> Ca {
    let root = stolen_ca(&city.dir);
    let f = Forged {
        ca: true,
        ..Forged::of("ca", code)
    };
    let (cert, key) = f.sign(&root);
    Ca {
        key_pem: key.serialize_pem(),
        chain: vec![cert],
    }
}

// ---- the calls an attacker makes ------------------------------------------------------------

/// Every service of `hub`, asked with `tls`: which answered (by name). Camera detail is asked
/// for `about`.
async fn answered(tls: &TlsMaterial, hub: &LocalUnit, about: &str) -> Vec<&'static str> {
    let mut yes = Vec::new();
    let Ok(channel) = yinglian_node::federation::net::connect(tls, &hub.url(), &hub.code).await
    else {
        return yes;
    };
    if DirectoryClient::new(channel.clone())
        .lookup(LookupRequest {
            query: String::new(),
        })
        .await
        .is_ok()
    {
        yes.push("Directory");
    }
    if ReportsClient::new(channel.clone())
        .cameras(CamerasRequest {
            unit: about.into(),
            search: String::new(),
            limit: 10,
            offset: 0,
        })
        .await
        .is_ok()
    {
        yes.push("Reports");
    }
    if let Ok(mut s) = FeedClient::new(channel.clone())
        .subscribe(SubscribeRequest {
            scope: String::new(),
            cursor: 0,
        })
        .await
        .map(|r| r.into_inner())
        && matches!(
            tokio::time::timeout(Duration::from_secs(5), s.message()).await,
            Ok(Ok(Some(_)))
        )
    {
        yes.push("Feed");
    }
    if let Ok((frames, end)) = raw(tls, hub, vec![hello(tls_unit(tls).as_str())]).await
        && end.is_none()
        && frames
            .iter()
            .any(|f| matches!(f.kind, Some(sync_frame::Kind::Hello(_))))
    {
        yes.push("Sync");
    }
    yes
}

fn tls_unit(tls: &TlsMaterial) -> UnitCode {
    pki::peer_cert(&tls.chain[..1])
        .map(|p| p.unit)
        .unwrap_or_else(|_| UnitCode::parse("unknown").unwrap())
}

/// Refusal rows at `unit` whose peer is `peer`.
async fn refused_as(unit: &LocalUnit, peer: &str) -> Vec<String> {
    refusals(unit, "")
        .await
        .into_iter()
        .filter(|(p, _)| p == peer)
        .map(|(_, r)| r)
        .collect()
}

async fn wait_refused_as(unit: &LocalUnit, peer: &str) -> Vec<String> {
    wait_until(
        PATIENCE,
        &format!("{peer} is recorded as refused at {}", unit.code),
        || async { !refused_as(unit, peer).await.is_empty() },
    )
    .await
    .unwrap();
    refused_as(unit, peer).await
}

/// A sync message that hands `doc` whole to a peer that holds none of it.
fn whole(doc: &mut automerge::AutoCommit) -> Vec<u8> {
    use automerge::sync::SyncDoc;
    let mut state = automerge::sync::State::new();
    state.their_heads = Some(vec![]);
    state.their_need = Some(vec![]);
    state.their_have = Some(vec![Default::default()]);
    doc.sync()
        .generate_sync_message(&mut state)
        .unwrap()
        .encode()
}

/// A hello from `unit` that announces `doc` as `id`.
fn hello_offering(unit: &str, id: &DocId, doc: &mut automerge::AutoCommit) -> SyncFrame {
    SyncFrame {
        kind: Some(sync_frame::Kind::Hello(Hello {
            unit: unit.to_string(),
            protocol: 1,
            docs: vec![DocHeads {
                doc_id: id.to_string(),
                heads: doc.get_heads().iter().map(|h| h.0.to_vec()).collect(),
            }],
        })),
    }
}

/// The city's police subscriber (`GA-500000`, the whole city in scope), enrolled for real.
async fn police(fed: &yinglian_tests::Fed) -> tempfile::TempDir {
    issued_by(
        fed,
        &fed.city,
        "GA-500000",
        Role::Subscriber,
        Validity::days(30),
    )
    .await
}

// ---- the cases ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_at_a_district_refuses_codes_outside_its_namespace() {
    let mut fed = federation(2, 1).await.unwrap();
    let (city, x) = (&fed.city, &fed.districts[0]);
    let dir = tempfile::tempdir_in(fed.tmp.path()).unwrap();
    let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM children")
        .fetch_one(x.store.pool())
        .await
        .unwrap();
    for (code, role, why) in [
        ("500000", Role::Hub, "不在本单位 500103 的编码空间内"),
        ("500104", Role::Hub, "不在本单位 500103 的编码空间内"),
        ("500104-0001", Role::Node, "不在本单位 500103 的编码空间内"),
        (
            "GA-500000",
            Role::Subscriber,
            "不在本单位 500103 的编码空间内",
        ),
        ("5001030", Role::Node, "不在本单位 500103 的编码空间内"),
        ("500103-0009", Role::Hub, "只能签发终端证书"),
    ] {
        let unit = UnitCode::parse(code).unwrap();
        let request = pki::make_request(&dir.path().join(code), &unit, role == Role::Hub).unwrap();
        let scope = (role == Role::Subscriber).then(|| UnitCode::parse("500000").unwrap());
        let err = x
            .issue(&request, &unit, role, scope, Validity::days(30))
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains(why), "{code}: {err:#}");
    }
    // A subscriber of the district watches inside the district only.
    let unit = UnitCode::parse("500103-GA").unwrap();
    let request = pki::make_request(&dir.path().join("ga"), &unit, false).unwrap();
    let err = x
        .issue(
            &request,
            &unit,
            Role::Subscriber,
            Some(UnitCode::parse("500104").unwrap()),
            Validity::days(30),
        )
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("订阅范围 500104"), "{err:#}");
    let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM children")
        .fetch_one(x.store.pool())
        .await
        .unwrap();
    assert_eq!(after, before, "nothing was registered");

    // The city will not enroll a unit of a district's namespace itself, nor one it knows to be
    // enrolled elsewhere.
    let stolen = fed.institutions[0][0].code.clone();
    let request = pki::make_request(&dir.path().join("again"), &stolen, false).unwrap();
    let err = city
        .issue(&request, &stolen, Role::Node, None, Validity::days(30))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("500103"), "{err:#}");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_ca_cannot_speak_for_the_city_a_sibling_a_hospital_or_the_police() {
    let mut fed = started(2, 1).await;
    // The police subscriber the city really enrolled.
    let police = police(&fed).await;
    let police_tls = TlsMaterial::load(police.path()).unwrap();
    assert!(answered(&police_tls, &fed.city, "").await.contains(&"Feed"));

    let (city, x, y) = (&fed.city, &fed.districts[0], &fed.districts[1]);
    let hospital = fed.institutions[1][0].code.to_string();
    let ca = stolen_ca(&x.dir);
    for (role, victim, at) in [
        ("hub", "500000", city),
        ("hub", "500104", city),
        ("hub", "500104", y),
        ("node", hospital.as_str(), y),
        ("subscriber", "GA-500000", city),
        ("hub", "500000", y),
    ] {
        let who = format!("urn:yinglian:{role}:{victim}");
        // The victim's names throughout: the chain verification refuses it (the district's CA
        // may sign only names under 500103.unit.yinglian).
        let tls = forge(&ca, &Forged::of(role, victim), x);
        assert_eq!(
            answered(&tls, at, &hospital).await,
            Vec::<&str>::new(),
            "{who}"
        );
        let rows = wait_refused_as(at, &who).await;
        assert!(
            rows.iter().any(|r| r.contains("TLS handshake refused")),
            "{rows:?}"
        );
        // The victim's identity with a DNS name the CA may sign: the gate refuses it.
        let inside = Forged {
            dns: "9999.500103.unit.yinglian".into(),
            ..Forged::of(role, victim)
        };
        let tls = forge(&ca, &inside, x);
        assert_eq!(
            answered(&tls, at, &hospital).await,
            Vec::<&str>::new(),
            "{who}"
        );
    }
    // The second form was refused by name at the gate too.
    let all = refusals(y, "does not name its unit as the DNS name").await;
    assert!(!all.is_empty(), "{all:?}");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_issuer_with_a_real_serial_gets_no_session() {
    let mut fed = started(2, 0).await;
    let (city, y) = (&fed.city, &fed.districts[1]);
    let serial: String = sqlx::query_scalar("SELECT serial FROM children WHERE unit = ?")
        .bind(y.code.as_str())
        .fetch_one(city.store.pool())
        .await
        .unwrap();
    // The city's CA key identifier, written into a certificate signed by another CA.
    let city_ca = pki::own_ca(&city.dir).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(&city_ca).unwrap();
    let ski = parsed
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .unwrap();
    let rogue = unconstrained_intermediate(city, "500199");
    let forged = Forged {
        serial: Some(serial.clone()),
        aki: Some(ski),
        ..Forged::of("hub", y.code.as_str())
    };
    let tls = forge(&rogue, &forged, city);
    assert_eq!(pki::peer_cert(&tls.chain).unwrap().serial, serial);
    let err = raw(&tls, city, vec![hello(y.code.as_str())])
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert!(
        err.message().contains("not enrolled by 500000"),
        "{}",
        err.message()
    );
    let rows = wait_refused_as(city, "urn:yinglian:hub:500104").await;
    assert!(
        rows.iter().any(|r| r.contains("not enrolled by 500000")),
        "{rows:?}"
    );
    // The real district's session goes on.
    let stats = y.engine.as_ref().unwrap().peer_stats("500000");
    wait_until(PATIENCE, "district Y is connected to the city", || async {
        stats.connected.load(std::sync::atomic::Ordering::Relaxed)
    })
    .await
    .unwrap();
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intermediate_cannot_sign_another_ca() {
    let mut fed = started(1, 0).await;
    let x = &fed.districts[0];
    let ca = stolen_ca(&x.dir);
    let sub = Forged {
        ca: true,
        ..Forged::of("ca", "500103-0090")
    };
    let (sub_cert, sub_key) = sub.sign(&ca);
    let sub_ca = Ca {
        key_pem: sub_key.serialize_pem(),
        chain: std::iter::once(sub_cert)
            .chain(ca.chain.iter().cloned())
            .collect(),
    };
    let tls = forge(&sub_ca, &Forged::of("node", "500103-0091"), x);
    assert_eq!(answered(&tls, x, "500103-0091").await, Vec::<&str>::new());
    let rows = wait_refused_as(x, "urn:yinglian:node:500103-0091").await;
    assert!(rows[0].contains("TLS handshake refused"), "{rows:?}");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intermediate_is_bounded_to_its_namespace() {
    let mut fed = started(2, 1).await;
    let (x, y) = (&fed.districts[0], &fed.districts[1]);
    let victim = fed.institutions[1][0].code.to_string();
    let ledger = DocId::ledger(&fed.institutions[1][0].code);
    let before = y.heads(&ledger).await;
    let tls = forge(&stolen_ca(&x.dir), &Forged::of("node", &victim), x);
    assert!(raw(&tls, y, vec![hello(&victim)]).await.is_err());
    let rows = wait_refused_as(y, &format!("urn:yinglian:node:{victim}")).await;
    assert!(rows[0].contains("TLS handshake refused"), "{rows:?}");
    assert_eq!(y.heads(&ledger).await, before);
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_certificate_is_dead_after_revocation_and_re_enrollment() {
    let mut fed = started(1, 1).await;
    let city = &fed.city;
    let police = police(&fed).await;
    let old = TlsMaterial::load(police.path()).unwrap();
    assert!(answered(&old, city, "").await.contains(&"Directory"));
    revoke_unit(&city.store, &UnitCode::parse("GA-500000").unwrap())
        .await
        .unwrap();
    // Enrolled again (same key, new certificate).
    let request = std::fs::read_to_string(pki::Paths::new(police.path()).request()).unwrap();
    let unit = UnitCode::parse("GA-500000").unwrap();
    let bundle = city
        .issue(
            &request,
            &unit,
            Role::Subscriber,
            Some(city.code.clone()),
            Validity::days(30),
        )
        .await
        .unwrap();
    pki::join(police.path(), &unit, &bundle).unwrap();
    let new = TlsMaterial::load(police.path()).unwrap();
    assert_eq!(answered(&new, city, "").await, vec!["Directory", "Feed"]);
    // The old certificate stays dead in every service.
    assert_eq!(answered(&old, city, "").await, Vec::<&str>::new());
    let rows = refused_as(city, "urn:yinglian:subscriber:GA-500000").await;
    assert!(
        rows.iter()
            .any(|r| r.contains("replaced by a newer enrollment")),
        "{rows:?}"
    );

    // The same for an institution's Sync.
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let old = TlsMaterial::load(&inst.dir).unwrap();
    let request = std::fs::read_to_string(pki::Paths::new(&inst.dir).request()).unwrap();
    district
        .issue(&request, &inst.code, Role::Node, None, Validity::days(30))
        .await
        .unwrap();
    let err = raw(&old, district, vec![hello(inst.code.as_str())])
        .await
        .unwrap_err();
    assert!(
        err.message().contains("replaced by a newer enrollment"),
        "{}",
        err.message()
    );
    fed.stop_all().await;
}

async fn next(stream: &mut tonic::Streaming<FeedEvent>) -> Result<Option<FeedEvent>, Status> {
    tokio::time::timeout(PATIENCE, stream.message())
        .await
        .expect("the feed answers in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_feed_ends_within_a_second_of_revocation() {
    let mut fed = started(1, 1).await;
    let city = &fed.city;
    let police = police(&fed).await;
    let tls = TlsMaterial::load(police.path()).unwrap();
    let channel = yinglian_node::federation::net::connect(&tls, &city.url(), &city.code)
        .await
        .unwrap();
    let mut stream = FeedClient::new(channel)
        .subscribe(SubscribeRequest {
            scope: String::new(),
            cursor: 0,
        })
        .await
        .unwrap()
        .into_inner();
    // The snapshot arrives; the stream stays open.
    while let Some(e) = next(&mut stream).await.unwrap() {
        if e.kind == yinglian_proto::v1::feed_event::Kind::SnapshotEnd as i32 {
            break;
        }
    }
    let revoked = Instant::now();
    revoke_unit(&city.store, &UnitCode::parse("GA-500000").unwrap())
        .await
        .unwrap();
    let end = loop {
        match next(&mut stream).await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the feed ended without saying why"),
            Err(s) => break s,
        }
    };
    let took = revoked.elapsed();
    assert_eq!(end.code(), tonic::Code::PermissionDenied, "{end:?}");
    assert!(
        took < Duration::from_millis(1500),
        "the open feed ran on for {took:?}"
    );
    let rows = wait_refused_as(city, "urn:yinglian:subscriber:GA-500000").await;
    assert!(
        rows.iter().any(|r| r.contains("open feed ended")),
        "{rows:?}"
    );
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_child_cannot_squat_a_unit_outside_its_subtree() {
    let mut fed = started(2, 1).await;
    let (city, x) = (&fed.city, &fed.districts[0]);
    // District X brings the profile of a unit of district Y's namespace, saying it is its own.
    let squatted = UnitCode::parse("500104-0077").unwrap();
    let mut doc = automerge::AutoCommit::new();
    yinglian_node::docs::profile::set_text(&mut doc, "name", Some("冒名医院")).unwrap();
    yinglian_node::docs::profile::set_text(&mut doc, "parent", Some("500103")).unwrap();
    doc.commit();
    let msg = whole(&mut doc);
    let id = DocId::profile(&squatted);
    let tls = TlsMaterial::load(&x.dir).unwrap();
    let hello = hello_offering(x.code.as_str(), &id, &mut doc);
    let _ = raw(&tls, city, vec![hello, doc_frame(&id, msg)]).await;
    let (peer, reason) = wait_refusal(city, &id.to_string()).await;
    assert_eq!(peer, "urn:yinglian:hub:500103");
    assert!(!reason.is_empty());
    assert!(city.heads(&id).await.is_empty(), "nothing of it is kept");
    let known: Option<String> = sqlx::query_scalar("SELECT name FROM units WHERE unit = ?")
        .bind(squatted.as_str())
        .fetch_optional(city.store.pool())
        .await
        .unwrap();
    assert_eq!(known, None);
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_of_100000_documents_is_refused() {
    let mut fed = started(1, 1).await;
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    let docs = (0..100_000)
        .map(|i| DocHeads {
            doc_id: format!("ledger/{}-{i}", inst.code),
            heads: vec![],
        })
        .collect();
    let hello = SyncFrame {
        kind: Some(sync_frame::Kind::Hello(Hello {
            unit: inst.code.to_string(),
            protocol: 1,
            docs,
        })),
    };
    let (_, end) = raw(&tls, district, vec![hello]).await.unwrap();
    let end = end.expect("the stream ends with a status");
    assert_eq!(end.code(), tonic::Code::ResourceExhausted, "{end:?}");
    let rows = wait_refused_as(district, &format!("urn:yinglian:node:{}", inst.code)).await;
    assert!(
        rows.iter()
            .any(|r| r.contains("100000 documents, over the limit of 20000 per session")),
        "{rows:?}"
    );
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents")
        .fetch_one(district.store.pool())
        .await
        .unwrap();
    assert!(held < 20, "nothing of it was kept: {held} documents");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_streams_from_one_peer_are_bounded() {
    let mut fed = started(1, 1).await;
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    let channel = yinglian_node::federation::net::connect(&tls, &district.url(), &district.code)
        .await
        .unwrap();
    let code = inst.code.to_string();
    let mut calls = Vec::new();
    for _ in 0..1000 {
        let mut client = SyncClient::new(channel.clone());
        let first = hello(&code);
        calls.push(tokio::spawn(async move {
            // A hello, then silence: the stream stays open as long as the hub lets it.
            let frames = tokio_stream::StreamExt::chain(
                tokio_stream::iter(vec![first]),
                tokio_stream::pending(),
            );
            client
                .sync(frames)
                .await
                .map(|r| r.into_inner())
                .map_err(|e| e.code())
        }));
    }
    let mut open = Vec::new();
    let (mut exhausted, mut capped) = (0, 0);
    for c in calls {
        match c.await.unwrap() {
            // Kept open until every call is answered.
            Ok(stream) => open.push(stream),
            // Refused by the gate.
            Err(tonic::Code::ResourceExhausted) => exhausted += 1,
            // Refused by the connection's cap of concurrent HTTP/2 streams, before the gate.
            Err(tonic::Code::Unavailable) => capped += 1,
            Err(other) => panic!("unexpected refusal {other:?}"),
        }
    }
    let open = open.len();
    let limit = Limits::default().streams_per_peer;
    // The institution's own daemon holds one stream too.
    assert!(
        (1..=limit).contains(&open),
        "{open} streams were admitted; the limit is {limit}"
    );
    assert_eq!(open + exhausted + capped, 1000);
    assert!(exhausted > 0, "the gate refused none");
    // Every refusal is counted; the log records the first of each kind one by one and the
    // rest in a summary when the minute ends.
    let seen = district
        .store
        .live()
        .refusals_seen
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        seen >= exhausted as u64,
        "{seen} refusals counted, {exhausted} refused"
    );
    let rows = refused_as(district, &format!("urn:yinglian:node:{code}")).await;
    assert!(
        rows.iter().any(|r| r.contains("the limit per peer")),
        "{rows:?}"
    );
    assert!(
        rows.len() <= 4,
        "{} rows for {exhausted} refusals",
        rows.len()
    );
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_over_its_bytes_per_minute_is_refused() {
    let mut fed = federation(1, 1).await.unwrap();
    fed.districts[0].limits = Limits {
        bytes_per_minute: 64 * 1024,
        ..Limits::default()
    };
    fed.districts[0].start().await.unwrap();
    fed.city.start().await.unwrap();
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    let big = doc_frame(&DocId::ledger(&inst.code), vec![0u8; 100 * 1024]);
    let (_, end) = raw(&tls, district, vec![hello(inst.code.as_str()), big])
        .await
        .unwrap();
    assert_eq!(end.unwrap().code(), tonic::Code::ResourceExhausted);
    let rows = wait_refused_as(district, &format!("urn:yinglian:node:{}", inst.code)).await;
    assert!(
        rows.iter().any(|r| r.contains("bytes per minute")),
        "{rows:?}"
    );
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_anonymous_handshakes_write_a_bounded_number_of_rows() {
    let mut fed = started(1, 0).await;
    let district = &fed.districts[0];
    let addr = district.addr.unwrap();
    let root = TlsMaterial::load(&district.dir).unwrap().root;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let cfg = std::sync::Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let name = rustls::pki_types::ServerName::try_from(unit_dns(&district.code)).unwrap();
    let before = refusals(district, "").await.len();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2000 {
        let (cfg, name) = (cfg.clone(), name.clone());
        tasks.spawn(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut tls = tokio_rustls::TlsConnector::from(cfg)
                .connect(name, tcp)
                .await
                .ok()?;
            // TLS 1.3: the refusal arrives on the first read.
            use tokio::io::AsyncReadExt;
            let mut b = [0u8; 1];
            tls.read(&mut b).await.ok().filter(|n| *n > 0)
        });
        if tasks.len() >= 64 {
            assert!(tasks.join_next().await.unwrap().unwrap().is_none());
        }
    }
    while let Some(r) = tasks.join_next().await {
        assert!(
            r.unwrap().is_none(),
            "the hub served a client without a certificate"
        );
    }
    let live = &district.store.live().handshakes_refused;
    wait_until(PATIENCE, "every handshake is counted", || async {
        live.load(std::sync::atomic::Ordering::Relaxed) >= 2000
    })
    .await
    .unwrap();
    let rows = refusals(district, "").await.len() - before;
    // One row as the first arrives, and one summary per minute the flood spanned.
    assert!((1..=3).contains(&rows), "{rows} rows for 2000 handshakes");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_detail_is_answered_only_to_the_parent_it_joined() {
    let mut fed = started(2, 1).await;
    let (city, x, y) = (&fed.city, &fed.districts[0], &fed.districts[1]);
    let inst = fed.institutions[0][0].code.to_string();
    converge(
        &fed.institutions[0][0],
        &[x],
        &DocId::ledger(&fed.institutions[0][0].code),
    )
    .await
    .unwrap();
    // The real parent is answered.
    let city_tls = TlsMaterial::load(&city.dir).unwrap();
    assert_eq!(answered(&city_tls, x, &inst).await, vec!["Reports"]);
    // A sibling district, with its own real certificate, is not.
    let y_tls = TlsMaterial::load(&y.dir).unwrap();
    assert_eq!(answered(&y_tls, x, &inst).await, Vec::<&str>::new());
    let rows = wait_refused_as(x, "urn:yinglian:hub:500104").await;
    assert!(
        rows.iter().any(|r| r.contains("not enrolled by 500103")),
        "{rows:?}"
    );
    // Nor a certificate with the city's name that chains to the root but holds another key.
    let rogue = unconstrained_intermediate(city, "500198");
    let tls = forge(&rogue, &Forged::of("hub", "500000"), city);
    assert_eq!(answered(&tls, x, &inst).await, Vec::<&str>::new());
    let rows = wait_refused_as(x, "urn:yinglian:hub:500000").await;
    assert!(
        rows.iter()
            .any(|r| r.contains("is not the parent it joined")),
        "{rows:?}"
    );
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_knows_its_parent_by_the_key_pinned_at_join() {
    let mut fed = federation(1, 0).await.unwrap();
    let x = &fed.districts[0];
    let tls = TlsMaterial::load(&x.dir).unwrap();
    assert_eq!(tls.parent_unit.as_ref(), Some(&fed.city.code));
    let pinned = tls.parent_key.clone().unwrap();
    let city_cert = TlsMaterial::load(&fed.city.dir).unwrap().chain[0].clone();
    assert_eq!(pki::key_hash(&city_cert).unwrap(), pinned);
    // A bundle that names another key for the parent is refused at join.
    let dir = tempfile::tempdir_in(fed.tmp.path()).unwrap();
    let unit = UnitCode::parse("500103-0001").unwrap();
    let request = pki::make_request(dir.path(), &unit, false).unwrap();
    let mut bundle = pki::enroll(
        &x.dir,
        &x.code,
        &request,
        &Enrollment {
            unit: unit.clone(),
            role: Role::Node,
            scope: None,
            advertise: "https://127.0.0.1:1".into(),
            validity: Validity::days(30),
        },
    )
    .unwrap();
    bundle.parent_cert_pem =
        Some(std::fs::read_to_string(pki::Paths::new(&fed.city.dir).unit_chain()).unwrap());
    let err = pki::join(dir.path(), &unit, &bundle).unwrap_err();
    assert!(err.to_string().contains("not of hub 500103"), "{err}");
    fed.stop_all().await;
}

/// Every file under `dir` and its mode, relative path first.
fn modes(dir: &Path) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        out.push((
            d.strip_prefix(dir).unwrap().display().to_string() + "/",
            std::fs::metadata(&d).unwrap().permissions().mode() & 0o777,
        ));
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let m = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                out.push((p.strip_prefix(dir).unwrap().display().to_string(), m));
            }
        }
    }
    out
}

#[test]
fn data_folders_and_backups_are_private_whatever_the_umask() {
    const HUB: &str = env!("CARGO_BIN_EXE_yl-test-hub");
    let tmp = tempfile::tempdir().unwrap();
    let (data, backup) = (tmp.path().join("city"), tmp.path().join("backup"));
    let run = |args: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask 022; exec {HUB} --data {} {args}",
                data.display()
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run("init --unit 500000 --name 重庆市卫生健康委员会 --kind city");
    run("pki init-root");
    run("user add --name admin --role editor --password 'a long password'");
    run(&format!("backup --out {}", backup.display()));
    for root in [&data, &backup] {
        let all = modes(root);
        assert!(all.iter().any(|(p, _)| p == "store.sqlite"), "{all:?}");
        assert!(all.iter().any(|(p, _)| p.ends_with("ca.key")), "{all:?}");
        for (path, mode) in all {
            let want = if path.ends_with('/') { 0o700 } else { 0o600 };
            assert_eq!(mode, want, "{} {path}: {mode:o}", root.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_certificate_calling_in_a_loop_writes_a_bounded_number_of_rows() {
    let mut fed = started(1, 1).await;
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    revoke_unit(&district.store, &inst.code).await.unwrap();
    let before = refusals(district, "").await.len();
    let channel = yinglian_node::federation::net::connect(&tls, &district.url(), &district.code)
        .await
        .unwrap();
    for _ in 0..3000 {
        let r = DirectoryClient::new(channel.clone())
            .lookup(LookupRequest {
                query: String::new(),
            })
            .await;
        assert_eq!(r.unwrap_err().code(), tonic::Code::PermissionDenied);
    }
    let rows = refusals(district, "").await.len() - before;
    assert!(rows <= 40, "{rows} rows for 3000 refused calls");
    assert!(
        district
            .store
            .live()
            .refusals_seen
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 3000
    );
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_claiming_ever_new_identities_write_bounded_rows() {
    let mut fed = started(1, 0).await;
    let district = &fed.districts[0];
    let before = refusals(district, "").await.len();
    // Self-signed certificates, each claiming another long identity.
    for i in 0..200 {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        let claim = format!("urn:yinglian:hub:{}{i}", "X".repeat(20_000));
        p.subject_alt_names = vec![SanType::URI(claim.try_into().unwrap())];
        let cert = p.self_signed(&key).unwrap();
        let tls = material(district, cert.der().clone(), &key, &[]);
        assert!(
            raw(&tls, district, vec![hello("500103-0001")])
                .await
                .is_err()
        );
    }
    let rows = refusals(district, "").await;
    let new = &rows[before..];
    assert!(new.len() <= 33, "{} rows for 200 handshakes", new.len());
    for (peer, reason) in new {
        assert!(
            peer.len() <= 200 && reason.len() <= 2000,
            "{} / {}",
            peer.len(),
            reason.len()
        );
    }
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_peer_writes_into_a_refusal_is_cut_short() {
    let mut fed = started(1, 1).await;
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    let huge = "Y".repeat(30 << 20);
    let err = raw(&tls, district, vec![hello(&huge)]).await;
    let rows = wait_refused_as(district, &format!("urn:yinglian:node:{}", inst.code)).await;
    assert!(!rows.is_empty(), "{err:?}");
    for r in &rows {
        assert!(r.len() < 2000, "a refusal row of {} bytes", r.len());
    }
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_opened_after_the_hello_count_against_the_session() {
    let mut fed = federation(1, 0).await.unwrap();
    fed.city.limits = Limits {
        docs_per_session: 20,
        ..Limits::default()
    };
    fed.start_all().await.unwrap();
    let (city, x) = (&fed.city, &fed.districts[0]);
    let held = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM documents")
            .fetch_one(city.store.pool())
            .await
            .unwrap()
    };
    let tls = TlsMaterial::load(&x.dir).unwrap();
    let mut frames = vec![hello(x.code.as_str())];
    for i in 0..100 {
        let unit = UnitCode::parse(&format!("500103-{i:05}")).unwrap();
        let mut doc = DocId::profile(&unit).genesis();
        yinglian_node::docs::profile::set_text(&mut doc, "name", Some("批量")).unwrap();
        doc.commit();
        let msg = whole(&mut doc);
        frames.push(doc_frame(&DocId::profile(&unit), msg));
    }
    let before = held().await;
    let (got, end) = raw(&tls, city, frames).await.unwrap();
    assert_eq!(
        end.as_ref().map(|e| e.code()),
        Some(tonic::Code::ResourceExhausted),
        "{} frames back, {} documents held, refusals {:?}",
        got.len(),
        held().await,
        refusals(city, "").await
    );
    assert!(
        held().await - before <= 20,
        "{} documents kept",
        held().await - before
    );
    let rows = wait_refused_as(city, "urn:yinglian:hub:500103").await;
    assert!(
        rows.iter().any(|r| r.contains("the limit per session")),
        "{rows:?}"
    );
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_institution_cannot_forge_figures_through_a_rollup() {
    let mut fed = started(1, 2).await;
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let rollup: DocId = format!("rollup/{}", inst.code).parse().unwrap();
    let mut doc = automerge::AutoCommit::new();
    use automerge::transaction::Transactable;
    let totals = doc
        .put_object(automerge::ROOT, "totals", automerge::ObjType::Map)
        .unwrap();
    doc.put(&totals, "built", 999_u64).unwrap();
    doc.commit();
    let msg = whole(&mut doc);
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    let _ = raw(
        &tls,
        district,
        vec![hello(inst.code.as_str()), doc_frame(&rollup, msg)],
    )
    .await;
    let (peer, _) = wait_refusal(district, &rollup.to_string()).await;
    assert_eq!(peer, format!("urn:yinglian:node:{}", inst.code));
    assert!(district.heads(&rollup).await.is_empty());
    let forged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rollup_rows WHERE hub = ?")
        .bind(inst.code.as_str())
        .fetch_one(district.store.pool())
        .await
        .unwrap();
    assert_eq!(forged, 0);
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_cannot_place_a_unit_in_another_subtree() {
    let mut fed = started(2, 0).await;
    let (city, x) = (&fed.city, &fed.districts[0]);
    // District X brings a unit of its own namespace that says it belongs to district Y.
    let unit = UnitCode::parse("500103-7777").unwrap();
    let mut doc = DocId::profile(&unit).genesis();
    yinglian_node::docs::profile::set_text(&mut doc, "name", Some("假冒联系人")).unwrap();
    yinglian_node::docs::profile::set_text(&mut doc, "parent", Some("500104")).unwrap();
    doc.commit();
    let msg = whole(&mut doc);
    let id = DocId::profile(&unit);
    let tls = TlsMaterial::load(&x.dir).unwrap();
    let hello = hello_offering(x.code.as_str(), &id, &mut doc);
    let _ = raw(&tls, city, vec![hello, doc_frame(&id, msg)]).await;
    wait_until(PATIENCE, "the city holds the profile", || async {
        !city.heads(&id).await.is_empty()
    })
    .await
    .unwrap();
    let parent: Option<Option<String>> =
        sqlx::query_scalar("SELECT parent FROM units WHERE unit = ?")
            .bind(unit.as_str())
            .fetch_optional(city.store.pool())
            .await
            .unwrap();
    assert_eq!(
        parent,
        Some(None),
        "the claimed parent 500104 is not believed"
    );
    let y_subtree = yinglian_node::app::directory::subtree(&city.store, "500104")
        .await
        .unwrap();
    assert!(!y_subtree.contains(unit.as_str()), "{y_subtree:?}");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_needs_a_scope() {
    let mut fed = federation(1, 0).await.unwrap();
    let city = &fed.city;
    let dir = tempfile::tempdir_in(fed.tmp.path()).unwrap();
    let unit = UnitCode::parse("GA-500000").unwrap();
    let request = pki::make_request(dir.path(), &unit, false).unwrap();
    let err = city
        .issue(&request, &unit, Role::Subscriber, None, Validity::days(30))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("needs a scope"), "{err:#}");
    fed.stop_all().await;
}
