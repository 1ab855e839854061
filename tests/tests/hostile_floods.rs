//! The federation against a compromised unit, or nothing but the network, flooding it: many
//! streams, many bytes, thousands of handshakes, a revoked certificate calling in a loop, ever new
//! claimed identities, huge texts. Each is bounded, counted, and recorded in a bounded number of
//! rows.

use rcgen::{CertificateParams, KeyPair, SanType};
use yinglian_hub::local::wait_until;
use yinglian_node::docs::document::DocId;
use yinglian_node::federation::admission::Limits;
use yinglian_node::federation::membership::revoke_unit;
use yinglian_node::federation::pki::{TlsMaterial, unit_dns};
use yinglian_proto::v1::LookupRequest;
use yinglian_proto::v1::directory_client::DirectoryClient;
use yinglian_proto::v1::sync_client::SyncClient;
use yinglian_tests::attacker::{material, refused_as, wait_refused_as};
use yinglian_tests::hostile::{doc_frame, hello, raw, refusals, started};
use yinglian_tests::{PATIENCE, federation};

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
    let all = refusals(district, "").await;
    let rows = all.len() - before;
    // Per kind of refusal, one row as the first arrives and one summary per minute the flood
    // spanned. Under load the flood meets up to three kinds (no certificate, the per-source cap
    // on handshakes at once, the handshake deadline) over at most two minutes: a handful of
    // rows, never one per handshake.
    assert!(
        (1..=12).contains(&rows),
        "{rows} rows for 2000 handshakes:\n{}",
        all[before..]
            .iter()
            .map(|(p, r)| format!("{p}: {r}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    fed.stop_all().await;
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
