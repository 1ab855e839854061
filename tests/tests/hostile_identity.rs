//! The federation against a compromised unit, its certificates: an attacker holding a district's
//! CA key, a forged issuer, an intermediate outside its namespace, a revoked or replaced
//! certificate, a parent that is not the one joined, and the keys on disk. Each case is refused,
//! recorded with the identity the caller claimed, and nothing of it is answered.

use std::path::Path;
use std::time::{Duration, Instant};

use tonic::Status;
use yinglian_hub::local::wait_until;
use yinglian_node::docs::document::DocId;
use yinglian_node::domain::unit::UnitCode;
use yinglian_node::federation::membership::revoke_unit;
use yinglian_node::federation::pki::{self, Enrollment, Role, TlsMaterial, Validity};
use yinglian_proto::v1::feed_client::FeedClient;
use yinglian_proto::v1::{FeedEvent, SubscribeRequest};
use yinglian_tests::attacker::{
    Ca, Forged, answered, forge, police, refused_as, stolen_ca, unconstrained_intermediate,
    wait_refused_as, wait_refused_for,
};
use yinglian_tests::hostile::{hello, raw, refusals, started};
use yinglian_tests::{PATIENCE, converge, federation};

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
        // The genuine police subscriber's refused calls above are rows of the same identity:
        // wait for the handshake's own row.
        let rows = wait_refused_for(at, &who, "TLS handshake refused").await;
        assert!(!rows.is_empty());
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

/// A CA the attacker signs with a stolen CA key: `code`'s CA certificate, its chain above.
fn sub_ca(ca: &Ca, code: &str) -> Ca {
    let (cert, key) = Forged {
        ca: true,
        ..Forged::of("ca", code)
    }
    .sign(ca);
    Ca {
        key_pem: key.serialize_pem(),
        chain: std::iter::once(cert)
            .chain(ca.chain.iter().cloned())
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_ca_signs_no_deeper_than_its_level_nor_wider_than_its_namespace() {
    let mut fed = started(1, 0).await;
    let x = &fed.districts[0];
    // A district's CA may sign one more level of CA (a hospital with sub-units), and only inside
    // its namespace: a CA it signs for another district's code verifies for nothing there.
    let district_ca = stolen_ca(&x.dir);
    let outside = sub_ca(&district_ca, "500104-0090");
    let tls = forge(&outside, &Forged::of("node", "500104-0091"), x);
    assert_eq!(answered(&tls, x, "500104-0091").await, Vec::<&str>::new());
    let rows = wait_refused_as(x, "urn:yinglian:node:500104-0091").await;
    assert!(rows[0].contains("TLS handshake refused"), "{rows:?}");
    // Inside its namespace the chain verifies, and the gate still admits only what this hub
    // enrolled: a unit the stolen key makes up is nobody here.
    let inside = sub_ca(&district_ca, "500103-0090");
    let tls = forge(&inside, &Forged::of("node", "500103-0091"), x);
    assert_eq!(answered(&tls, x, "500103-0091").await, Vec::<&str>::new());
    let rows = wait_refused_as(x, "urn:yinglian:node:500103-0091").await;
    assert!(rows[0].contains("was not enrolled by 500103"), "{rows:?}");
    // A hospital with sub-units really enrolled by the district: its CA is the last level and
    // signs leaves only; a CA it signs is refused by every verifier.
    let hospital = UnitCode::parse("500103-0009").unwrap();
    let dir = tempfile::tempdir_in(fed.tmp.path()).unwrap();
    let request = pki::make_request(dir.path(), &hospital, true).unwrap();
    let bundle = x
        .issue(&request, &hospital, Role::Hub, None, Validity::days(30))
        .await
        .unwrap();
    pki::join(dir.path(), &hospital, &bundle).unwrap();
    let deeper = sub_ca(&stolen_ca(dir.path()), "500103-0009-90");
    let tls = forge(&deeper, &Forged::of("node", "500103-0009-91"), x);
    assert_eq!(
        answered(&tls, x, "500103-0009-91").await,
        Vec::<&str>::new()
    );
    let rows = wait_refused_as(x, "urn:yinglian:node:500103-0009-91").await;
    assert!(rows[0].contains("TLS handshake refused"), "{rows:?}");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intermediate_is_bounded_to_its_namespace() {
    let mut fed = started(2, 1).await;
    let (x, y) = (&fed.districts[0], &fed.districts[1]);
    let victim = fed.institutions[1][0].code.to_string();
    let ledger = DocId::ledger(&fed.institutions[1][0].code);
    // The victim's own sync reaches its district first, so that only a forged write could move it.
    converge(&fed.institutions[1][0], &[y], &ledger)
        .await
        .unwrap();
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
    assert!(err.to_string().contains("而不是上级节点 500103"), "{err}");
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
