//! Every refusal of the federation, each its own test: refused, recorded with the peer's
//! identity, and nothing of it applied.

use automerge::sync::{State, SyncDoc};
use automerge::transaction::Transactable;
use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::docs::document::DocId;
use yinglian_node::docs::ledger;
use yinglian_node::domain::camera::Field;
use yinglian_node::domain::unit::UnitKind;
use yinglian_node::federation::pki::{self, Role, TlsMaterial, Validity};
use yinglian_proto::v1::{SyncFrame, sync_error, sync_frame};
use yinglian_tests::hostile::{doc_frame, hello, issued_by, raw, refusals, started, wait_refusal};
use yinglian_tests::{PATIENCE, converge};

fn errors(frames: &[SyncFrame]) -> Vec<(i32, String, String)> {
    frames
        .iter()
        .filter_map(|f| match &f.kind {
            Some(sync_frame::Kind::Error(e)) => Some((e.code, e.doc_id.clone(), e.message.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_without_a_client_certificate_is_refused() {
    let mut fed = started(1, 1).await;
    let district = &fed.districts[0];
    let tls = TlsMaterial::load(&fed.institutions[0][0].dir).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(tls.root.clone()).unwrap();
    let mut cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(district.addr.unwrap())
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from(pki::unit_dns(&district.code)).unwrap();
    if let Ok(mut s) = connector.connect(name, tcp).await {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let _ = s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.unwrap_or(0);
        assert_eq!(
            n, 0,
            "the hub must not talk to a client without a certificate"
        );
    }
    let (peer, reason) = wait_refusal(district, "TLS handshake refused").await;
    assert_eq!(peer, "127.0.0.1");
    assert!(reason.contains("certificate"), "{reason}");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_is_refused() {
    let mut fed = started(1, 1).await;
    // Another federation's root signs a certificate for the same unit code.
    let other = LocalUnit::create(
        &fed.tmp.path().join("other-root"),
        "500000",
        "假冒",
        UnitKind::City,
        Role::Hub,
    )
    .await
    .unwrap();
    other.init_root().await.unwrap();
    let inst = &fed.institutions[0][0];
    let forged = issued_by(
        &fed,
        &other,
        inst.code.as_str(),
        Role::Node,
        Validity::days(30),
    )
    .await;
    let mut tls = TlsMaterial::load(forged.path()).unwrap();
    tls.root = TlsMaterial::load(&inst.dir).unwrap().root; // it knows the real root
    let district = &fed.districts[0];
    converge(inst, &[district], &DocId::ledger(&inst.code))
        .await
        .unwrap();
    let before = district.heads(&DocId::ledger(&inst.code)).await;
    assert!(
        raw(&tls, district, vec![hello(inst.code.as_str())])
            .await
            .is_err()
    );
    let (_, reason) = wait_refusal(district, "TLS handshake refused").await;
    assert!(reason.contains("invalid peer certificate"), "{reason}");
    assert_eq!(district.heads(&DocId::ledger(&inst.code)).await, before);
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_is_refused() {
    let mut fed = started(1, 0).await;
    let district = &fed.districts[0];
    let now = time::OffsetDateTime::now_utc();
    let expired = Validity {
        not_before: now - time::Duration::days(30),
        not_after: now - time::Duration::days(1),
    };
    let dir = issued_by(&fed, district, "500103-0009", Role::Node, expired).await;
    let tls = TlsMaterial::load(dir.path()).unwrap();
    assert!(
        raw(&tls, district, vec![hello("500103-0009")])
            .await
            .is_err()
    );
    let (_, reason) = wait_refusal(district, "TLS handshake refused").await;
    assert!(reason.to_lowercase().contains("expired"), "{reason}");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_unit_is_cut_off_and_refused() {
    let mut fed = started(1, 1).await;
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let ledger = DocId::ledger(&inst.code);
    converge(inst, &[district], &ledger).await.unwrap();
    let stats = inst
        .engine
        .as_ref()
        .unwrap()
        .peer_stats(district.code.as_str());
    assert!(stats.connected.load(std::sync::atomic::Ordering::Relaxed));

    yinglian_node::federation::membership::revoke_unit(&district.store, &inst.code)
        .await
        .unwrap();
    // The open session ends ...
    let (peer, _) = wait_refusal(district, "has been revoked").await;
    assert_eq!(peer, format!("urn:yinglian:node:{}", inst.code));
    // ... and every new connection is refused, so a later edit never arrives.
    let code = {
        let (rows, _) = inst
            .store
            .cameras(inst.code.as_str(), &Default::default())
            .await
            .unwrap();
        rows[0].camera.device_code.to_string()
    };
    inst.store
        .edit(&ledger, "test", "edit", |d| {
            Ok(ledger::set_fields(
                d,
                &code,
                &[(Field::Name, Field::Name.parse_value("撤销后的修改")?)],
            )?)
        })
        .await
        .unwrap();
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    let err = raw(&tls, district, vec![hello(inst.code.as_str())])
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert!(err.message().contains("revoked"), "{}", err.message());
    // Its own daemon keeps trying: each attempt is refused (and counted; the log records the
    // first of the minute one by one).
    let seen = &district.store.live().refusals_seen;
    let now = seen.load(std::sync::atomic::Ordering::Relaxed);
    wait_until(
        PATIENCE,
        "the revoked unit's reconnections are refused too",
        || async { seen.load(std::sync::atomic::Ordering::Relaxed) >= now + 2 },
    )
    .await
    .unwrap();
    assert!(!refusals(district, "was revoked").await.is_empty());
    assert_ne!(district.heads(&ledger).await, inst.heads(&ledger).await);
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn institution_a_cannot_write_institution_b_ledger() {
    let mut fed = started(1, 2).await;
    let district = &fed.districts[0];
    let (a, b) = (&fed.institutions[0][0], &fed.institutions[0][1]);
    let theirs = DocId::ledger(&b.code);
    converge(b, &[district], &theirs).await.unwrap();
    let before = district.heads(&theirs).await;
    // A builds a change to B's ledger and sends it with all of B's history.
    let mut doc =
        automerge::AutoCommit::load(&b.store.save_document(&theirs).await.unwrap().unwrap())
            .unwrap();
    let cams = ledger::cameras_obj(&doc).unwrap();
    let code = automerge::ReadDoc::keys(&doc, &cams).next().unwrap();
    let cam = match automerge::ReadDoc::get(&doc, &cams, &code).unwrap() {
        Some((_, id)) => id,
        None => panic!("camera"),
    };
    doc.put(&cam, "name", "被篡改").unwrap();
    doc.commit();
    let mut state = State::new();
    state.their_heads = Some(vec![]);
    state.their_need = Some(vec![]);
    state.their_have = Some(vec![Default::default()]);
    let msg = doc.sync().generate_sync_message(&mut state).unwrap();
    let tls = TlsMaterial::load(&a.dir).unwrap();
    let (frames, _) = raw(
        &tls,
        district,
        vec![hello(a.code.as_str()), doc_frame(&theirs, msg.encode())],
    )
    .await
    .unwrap();
    let errs = errors(&frames);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, sync_error::Code::PermissionDenied as i32);
    assert_eq!(errs[0].1, theirs.to_string());
    let (peer, _) = wait_refusal(district, "may not read or write ledger/500103-0002").await;
    assert_eq!(peer, format!("urn:yinglian:node:{}", a.code));
    assert_eq!(district.heads(&theirs).await, before);
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_cannot_write_a_field_that_is_not_a_supervision_field() {
    let mut fed = started(1, 1).await;
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let ledger = DocId::ledger(&inst.code);
    converge(inst, &[district], &ledger).await.unwrap();
    let (rows, _) = inst
        .store
        .cameras(inst.code.as_str(), &Default::default())
        .await
        .unwrap();
    let code = rows[0].camera.device_code.to_string();
    let name = rows[0].camera.get(Field::Name).cloned();
    // The district's replica is changed behind the CLI's back; the institution refuses it.
    district
        .store
        .edit(&ledger, "rogue", "edit", |d| {
            Ok(ledger::set_fields(
                d,
                &code,
                &[(Field::Name, Field::Name.parse_value("区里改的名字")?)],
            )?)
        })
        .await
        .unwrap();
    let (peer, reason) = wait_refusal(inst, "supervision").await;
    assert_eq!(peer, format!("urn:yinglian:hub:{}", district.code));
    assert!(reason.contains("name"), "{reason}");
    let row = inst
        .store
        .camera(inst.code.as_str(), &code)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.camera.get(Field::Name).cloned(), name);
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_cannot_open_a_sync_stream() {
    let mut fed = started(1, 1).await;
    let district = &fed.districts[0];
    let dir = issued_by(
        &fed,
        district,
        "500103-GA",
        Role::Subscriber,
        Validity::days(30),
    )
    .await;
    let tls = TlsMaterial::load(dir.path()).unwrap();
    let err = raw(&tls, district, vec![hello("500103-GA")])
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert!(err.message().contains("subscriber"), "{}", err.message());
    let (peer, _) = wait_refusal(district, "subscriber").await;
    assert_eq!(peer, "urn:yinglian:subscriber:500103-GA");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_of_district_x_cannot_connect_to_district_y() {
    let mut fed = started(2, 1).await;
    let inst = &fed.institutions[0][0];
    let y = &fed.districts[1];
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    let err = raw(&tls, y, vec![hello(inst.code.as_str())])
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert!(
        err.message().contains("not enrolled by 500104"),
        "{}",
        err.message()
    );
    wait_refusal(y, "not enrolled by").await;
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_frame_is_refused() {
    let mut fed = started(1, 1).await;
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let ledger = DocId::ledger(&inst.code);
    converge(inst, &[district], &ledger).await.unwrap();
    let before = district.heads(&ledger).await;
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    let (frames, end) = raw(
        &tls,
        district,
        vec![
            hello(inst.code.as_str()),
            doc_frame(&ledger, b"not an automerge message".to_vec()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(errors(&frames)[0].0, sync_error::Code::Malformed as i32);
    assert_eq!(end.unwrap().code(), tonic::Code::InvalidArgument);
    wait_refusal(district, "malformed").await;
    // A frame with nothing in it.
    let (_, end) = raw(
        &tls,
        district,
        vec![hello(inst.code.as_str()), SyncFrame { kind: None }],
    )
    .await
    .unwrap();
    assert_eq!(end.unwrap().code(), tonic::Code::InvalidArgument);
    assert_eq!(district.heads(&ledger).await, before);
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_is_refused() {
    let mut fed = started(1, 1).await;
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let ledger = DocId::ledger(&inst.code);
    converge(inst, &[district], &ledger).await.unwrap();
    let before = district.heads(&ledger).await;
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    let huge = vec![7u8; yinglian_node::federation::sync::MAX_FRAME_BYTES + 1024];
    let outcome = raw(
        &tls,
        district,
        vec![hello(inst.code.as_str()), doc_frame(&ledger, huge)],
    )
    .await;
    let status = match outcome {
        Ok((_, end)) => end.expect("the stream ends with a status"),
        Err(s) => s,
    };
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    wait_refusal(district, "byte limit").await;
    assert_eq!(district.heads(&ledger).await, before);
    fed.stop_all().await;
}
