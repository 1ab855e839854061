//! Scratch proofs of weaknesses found in review (not part of the suite; untracked).

use std::time::Duration;

use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use yinglian_node::cli::federation::revoke_unit;
use yinglian_node::document::{DocId, DocKind};
use yinglian_node::pki::{TlsMaterial, unit_dns};
use yinglian_node::unit::UnitCode;
use yinglian_proto::v1::directory_client::DirectoryClient;
use yinglian_proto::v1::{DocHeads, Hello, LookupRequest, SyncFrame, sync_frame};
use yinglian_tests::hostile::{doc_frame, raw, started};

async fn count(unit: &yinglian_hub::local::LocalUnit) -> (i64, i64) {
    sqlx::query_as("SELECT COUNT(*), COALESCE(SUM(LENGTH(peer) + LENGTH(reason)), 0) FROM refusals")
        .fetch_one(unit.store.pool())
        .await
        .unwrap()
}

/// 1. A revoked (or any federation) certificate passes TLS; every call it then makes is
///    refused by the gate with one row and one log line each: no aggregation, no bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_certificate_writes_one_row_per_call() {
    let mut fed = started(1, 1).await;
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    revoke_unit(&district.store, &inst.code).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (before, _) = count(district).await;
    let channel = yinglian_node::net::connect(&tls, &district.url(), &district.code)
        .await
        .unwrap();
    let started_at = std::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..3000 {
        let mut c = DirectoryClient::new(channel.clone());
        set.spawn(async move {
            c.lookup(LookupRequest {
                query: String::new(),
            })
            .await
            .unwrap_err()
            .code()
        });
        if set.len() >= 60 {
            assert_eq!(
                set.join_next().await.unwrap().unwrap(),
                tonic::Code::PermissionDenied
            );
        }
    }
    while set.join_next().await.is_some() {}
    let took = started_at.elapsed();
    let (after, bytes) = count(district).await;
    eprintln!(
        "revoked cert: {} refusal rows ({} bytes in refusals) for 3000 calls in {took:?}",
        after - before,
        bytes
    );
    assert!(after - before >= 2900, "{}", after - before);
    fed.stop_all().await;
}

/// 2. Failed handshakes are aggregated per (source, claimed identity); the claim is read from
///    the unverified certificate, so one source varying it writes one row per handshake, each
///    as large as the claim it chose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_rows_are_keyed_on_an_attacker_chosen_claim() {
    let mut fed = started(1, 0).await;
    let district = &fed.districts[0];
    let addr = district.addr.unwrap();
    let root = TlsMaterial::load(&district.dir).unwrap().root;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let name = rustls::pki_types::ServerName::try_from(unit_dns(&district.code)).unwrap();
    let key = KeyPair::generate().unwrap();
    let (before, bytes_before) = count(district).await;
    let n = 200;
    let pad = "A".repeat(30_000);
    for i in 0..n {
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, "x");
        let uri = format!("urn:yinglian:node:{i}-{pad}");
        p.subject_alt_names = vec![SanType::URI(uri.try_into().unwrap())];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = p.self_signed(&key).unwrap();
        let cfg = rustls::ClientConfig::builder()
            .with_root_certificates(roots.clone())
            .with_client_auth_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        if let Ok(mut tls) = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
            .connect(name.clone(), tcp)
            .await
        {
            use tokio::io::AsyncReadExt;
            let mut b = [0u8; 1];
            let _ = tls.read(&mut b).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (after, bytes) = count(district).await;
    eprintln!(
        "{} rows, {} bytes for {n} anonymous handshakes from one address",
        after - before,
        bytes - bytes_before
    );
    assert!(after - before >= n as i64 - 5);
    assert!(bytes - bytes_before > 10_000_000);
    fed.stop_all().await;
}

/// 3. An authenticated child writes a refusal row as large as a frame: the hello's unit name
///    is copied into the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hello_writes_a_thirty_megabyte_refusal_row() {
    let mut fed = started(1, 1).await;
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    let (_, b0) = count(district).await;
    let big = "x".repeat(30 << 20);
    let _ = raw(&tls, district, vec![yinglian_tests::hostile::hello(&big)]).await;
    let (_, b1) = count(district).await;
    eprintln!("one hello wrote {} bytes of refusals", b1 - b0);
    assert!(b1 - b0 > 30_000_000);
    fed.stop_all().await;
}

/// 4. An institution writes `rollup/<itself>` (Write::Any for its own rollup) naming a sibling
///    unit: the district keeps a figures row for the sibling under the institution, feeds it to
///    subscribers, and takes the institution's self-declared totals instead of its ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_institution_forges_figures_through_its_own_rollup() {
    let mut fed = started(1, 2).await;
    let (district, inst, sib) = (
        &fed.districts[0],
        &fed.institutions[0][0],
        &fed.institutions[0][1],
    );
    let id = DocId {
        kind: DocKind::Rollup,
        unit: inst.code.clone(),
    };
    let mut doc = id.genesis();
    let mut r = yinglian_node::rollup::Rollup::default();
    let counts = yinglian_node::figures::Counts {
        built: 999,
        must_network: 999,
        networked: 999,
        archived: 999,
        geo_tagged: 999,
        in_service: 999,
        ..Default::default()
    };
    r.children.insert(
        sib.code.to_string(),
        yinglian_node::rollup::Row {
            unit: sib.code.to_string(),
            name: "forged sibling".into(),
            counts,
            as_of: String::new(),
        },
    );
    r.totals = Some(yinglian_node::rollup::Row {
        unit: inst.code.to_string(),
        name: "me".into(),
        counts,
        as_of: String::new(),
    });
    yinglian_node::rollup::write(&mut doc, &r, "2026-01-01T00:00:00Z").unwrap();
    doc.commit();
    let mut state = automerge::sync::State::new();
    state.their_heads = Some(vec![]);
    state.their_need = Some(vec![]);
    state.their_have = Some(vec![Default::default()]);
    use automerge::sync::SyncDoc;
    let msg = doc
        .sync()
        .generate_sync_message(&mut state)
        .unwrap()
        .encode();
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    let hello = SyncFrame {
        kind: Some(sync_frame::Kind::Hello(Hello {
            unit: inst.code.to_string(),
            protocol: 1,
            docs: vec![DocHeads {
                doc_id: id.to_string(),
                heads: doc.get_heads().iter().map(|h| h.0.to_vec()).collect(),
            }],
        })),
    };
    let sent = tokio::spawn({
        let tls = TlsMaterial::load(&inst.dir).unwrap();
        let _ = &tls;
        async {}
    });
    sent.await.unwrap();
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        raw(&tls, district, vec![hello, doc_frame(&id, msg)]),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT hub, unit, built FROM rollup_rows ORDER BY hub, unit")
            .fetch_all(district.store.pool())
            .await
            .unwrap();
    eprintln!("district rollup_rows: {rows:?}");
    let feed: Vec<(String, String)> =
        sqlx::query_as("SELECT hub, unit FROM feed_events WHERE hub = ?")
            .bind(inst.code.as_str())
            .fetch_all(district.store.pool())
            .await
            .unwrap();
    eprintln!("feed events from the institution's rollup: {feed:?}");
    let sib_stats = yinglian_node::cli::subtree_stats(&district.store, Some(sib.code.as_str()))
        .await
        .unwrap();
    eprintln!(
        "district's figures for the sibling: built {}",
        sib_stats.built
    );
    assert!(
        rows.iter()
            .any(|(h, u, b)| h == inst.code.as_str() && u == sib.code.as_str() && *b == 999)
    );
    assert!(
        rows.iter()
            .any(|(h, u, b)| h == district.code.as_str() && u == inst.code.as_str() && *b == 999),
        "the district's own rollup takes the institution's self-declared totals"
    );
    let _ = UnitCode::parse("x");
    fed.stop_all().await;
}
