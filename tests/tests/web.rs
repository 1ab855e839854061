//! The pages as a person meets them, each behaviour its own test (the pages' own unit tests are
//! beside them in `node/src/http/`): the district's dashboard in a running federation shows its
//! institutions' figures, moves when an institution networks a camera (server-sent events, no
//! reload), and lists the children that are offline; a hub started with its config file's
//! `https_cert` and `https_key` serves its pages over HTTPS, with `Secure` cookies; the store
//! keeps only the hash of a session token; the edit page shows a conflict between two replicas
//! and saving resolves it only when the person picks a value.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;
use yinglian_hub::local::wait_until;
use yinglian_node::app::accounts::{self, Role};
use yinglian_node::app::cameras;
use yinglian_node::docs::document::DocId;
use yinglian_node::docs::ledger;
use yinglian_node::domain::camera::{Field, Value};
use yinglian_node::domain::device_code::DeviceCode;
use yinglian_node::domain::unit::{UnitCode, UnitKind};
use yinglian_node::store::Store;
use yinglian_tests::{PATIENCE, federation, network_one};

async fn get(app: &axum::Router, path: &str, cookie: &str) -> (StatusCode, String) {
    let req = Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    let r = app.clone().oneshot(req).await.unwrap();
    let st = r.status();
    let b = axum::body::to_bytes(r.into_body(), 1 << 22).await.unwrap();
    (st, String::from_utf8_lossy(&b).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_district_dashboard_moves_by_itself() {
    let mut fed = federation(1, 2).await.unwrap();
    fed.institutions[0][0]
        .generate_cameras("500103", 30, 3)
        .await
        .unwrap();
    // The city and the district run; the second institution stays offline.
    fed.city.start().await.unwrap();
    fed.districts[0].start().await.unwrap();
    fed.institutions[0][0].start().await.unwrap();
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    yinglian_tests::converge(inst, &[district], &DocId::ledger(&inst.code))
        .await
        .unwrap();

    accounts::add_user(&district.store, "bureau", Role::ReadOnly, "district pw")
        .await
        .unwrap();
    let cookie = yinglian_tests::police::session(&district.store, "bureau", "district pw").await;
    let app = yinglian_node::http::router(district.store.clone());

    let (st, page) = get(&app, "/", &cookie).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        page.contains("500103-0001")
            && page.contains("未在线的下级")
            && page.contains("500103-0002"),
        "{page}"
    );
    let before = district
        .store
        .counts(inst.code.as_str())
        .await
        .unwrap()
        .0
        .networked;

    // The page's event stream, open before the change.
    let req = Request::get("/events")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let mut events = app
        .clone()
        .oneshot(req)
        .await
        .unwrap()
        .into_body()
        .into_data_stream();

    network_one(inst).await;
    let chunk = tokio::time::timeout(PATIENCE, tokio_stream::StreamExt::next(&mut events))
        .await
        .expect("the page is told")
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&chunk).contains("event: figures"));
    // What the page fetches then: the institution's row with one more networked camera.
    let want = format!("<tr data-unit=\"{}\">", inst.code);
    wait_until(PATIENCE, "the fragment shows the new figure", || async {
        let (_, html) = get(&app, "/figures", &cookie).await;
        html.split(&want)
            .nth(1)
            .and_then(|row| row.split("<td class=\"networked\">").nth(1))
            .and_then(|c| c.split('<').next())
            .and_then(|n| n.parse::<u64>().ok())
            == Some(before + 1)
    })
    .await
    .unwrap();
    fed.stop_all().await;
}

/// One HTTP/1.1 exchange over TLS with a client that trusts only `ca`; the answer, lower-cased
/// headers and all.
async fn https(
    addr: std::net::SocketAddr,
    ca: &rustls::pki_types::CertificateDer<'static>,
    request: String,
) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client))
        .connect(name, tcp)
        .await?;
    tls.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).to_lowercase())
}

fn cookie_of(answer: &str, name: &str) -> String {
    answer
        .lines()
        .find_map(|l| l.strip_prefix(&format!("set-cookie: {name}=")))
        .unwrap_or_else(|| panic!("a cookie {name}: {answer}"))
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_serves_its_pages_over_https_as_its_config_file_says() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut fed = federation(1, 0).await.unwrap();
    let (dir, listen) = (fed.city.dir.clone(), fed.city.addr.unwrap());
    fed.city.release_port();
    accounts::add_user(&fed.city.store, "wjw", Role::ReadOnly, "city password")
        .await
        .unwrap();
    // The commission's own CA (not the federation's) and the pages' certificate from it.
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let tmp = fed.tmp.path().to_path_buf();
    std::fs::write(tmp.join("web.crt"), leaf.pem()).unwrap();
    std::fs::write(tmp.join("web.key"), key.serialize_pem()).unwrap();
    let web = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = tmp.join("city.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\nlisten = \"{listen}\"\nhttp = \"{web}\"\nhttps_cert = \"{}\"\nhttps_key = \"{}\"\n",
            tmp.join("web.crt").display(),
            tmp.join("web.key").display()
        ),
    )
    .unwrap();
    let _hub = yinglian_tests::Process(
        std::process::Command::new(env!("CARGO_BIN_EXE_yl-test-hub"))
            .arg("--data")
            .arg(&dir)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let get = |path: &str, cookie: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        )
    };
    // The sign-in page, over HTTPS, once the daemon is up.
    let ca_der = ca.der().clone();
    wait_until(PATIENCE, "the pages answer over HTTPS", || {
        let ca = ca_der.clone();
        async move { https(web, &ca, get("/healthz", "")).await.is_ok() }
    })
    .await
    .unwrap();
    let page = https(web, ca.der(), get("/signin", "")).await.unwrap();
    assert!(
        page.starts_with("http/1.1 200") && page.contains("登录"),
        "{page}"
    );
    let signin = yinglian_node::http::signin_cookie(&fed.city.code).to_lowercase();
    let csrf_cookie = cookie_of(&page, &signin);
    assert!(csrf_cookie.ends_with("; secure"), "{csrf_cookie}");
    // Sign in: the session cookie is Secure too, and opens the dashboard.
    let csrf = csrf_cookie.split(';').next().unwrap().to_string();
    let body = format!("csrf={csrf}&user=wjw&password=city+password");
    let answer = https(
        web,
        ca.der(),
        format!(
            "POST /signin HTTP/1.1\r\nHost: localhost\r\nCookie: {signin}={csrf}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
    .unwrap();
    assert!(answer.starts_with("http/1.1 303"), "{answer}");
    let session_name = yinglian_node::http::session_cookie(&fed.city.code).to_lowercase();
    let session = cookie_of(&answer, &session_name);
    assert!(session.ends_with("; secure"), "{session}");
    let token = session.split(';').next().unwrap();
    let home = https(web, ca.der(), get("/", &format!("{session_name}={token}")))
        .await
        .unwrap();
    assert!(
        home.starts_with("http/1.1 200") && home.contains("已建"),
        "{home}"
    );
}

const CAM1: &str = "50010312091320000001";

/// A hospital's store, alone.
async fn hospital() -> (tempfile::TempDir, std::sync::Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let unit = UnitCode::parse("500103-0001").unwrap();
    let s = Store::init(
        dir.path(),
        &unit,
        "重庆市渝中区人民医院",
        UnitKind::Institution,
        yinglian_node::domain::unit::Role::Node,
    )
    .await
    .unwrap();
    (dir, std::sync::Arc::new(s))
}

/// A form posted to `path` with `cookie`: its status, `Location` and body.
async fn post(
    app: &axum::Router,
    path: &str,
    cookie: &str,
    body: String,
) -> (StatusCode, Option<String>, String) {
    let req = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(body))
        .unwrap();
    let r = app.clone().oneshot(req).await.unwrap();
    let st = r.status();
    let location = r
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string());
    let set_cookie = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let b = axum::body::to_bytes(r.into_body(), 1 << 22).await.unwrap();
    let body = String::from_utf8_lossy(&b).into_owned();
    (st, location, format!("{set_cookie}\n{body}"))
}

/// Percent-encodes a form value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn the_store_keeps_only_the_hash_of_a_session_token() {
    assert_eq!(
        accounts::token_hash("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let (dir, s) = hospital().await;
    accounts::add_user(&s, "zhang", Role::Editor, "correct horse")
        .await
        .unwrap();
    let app = yinglian_node::http::router(s.clone());
    let signin_name = yinglian_node::http::signin_cookie(s.unit());
    let session_name = yinglian_node::http::session_cookie(s.unit());
    // The sign-in form's token, from its cookie.
    let r = app
        .clone()
        .oneshot(Request::get("/signin").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let token = r.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .strip_prefix(&format!("{signin_name}="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (st, _, answer) = post(
        &app,
        "/signin",
        &format!("{signin_name}={token}"),
        format!("csrf={token}&user=zhang&password=correct+horse"),
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let session = answer
        .split(&format!("{session_name}="))
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM sessions")
        .fetch_all(s.pool())
        .await
        .unwrap();
    assert_eq!(stored, [accounts::token_hash(&session)]);
    assert_ne!(stored[0], session);
    // Nowhere in the store's files (database and write-ahead log).
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let path = f.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes
                    .windows(session.len())
                    .any(|w| w == session.as_bytes()),
                "{} holds the token",
                path.display()
            );
        }
    }
    // The cookie still opens the session, and signing out ends it.
    let c = format!("{session_name}={session}");
    assert_eq!(get(&app, "/", &c).await.0, StatusCode::OK);
    let csrf = accounts::session(&s, &session).await.unwrap().unwrap().csrf;
    post(&app, "/signout", &c, format!("csrf={csrf}")).await;
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(get(&app, "/", &c).await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_edit_page_shows_a_conflict_and_saving_resolves_it_only_when_one_is_picked() {
    let (_dir, s) = hospital().await;
    let code = DeviceCode::parse(CAM1).unwrap();
    let name = |n: &str| vec![(Field::Name, Value::Text(n.into()))];
    cameras::add(&s, "clerk", code.clone(), name("门诊"))
        .await
        .unwrap();
    // A second replica of the ledger renames the camera 西门 while this one renames it 东门;
    // then the two are merged: Automerge keeps both values.
    let doc = DocId::ledger(s.unit());
    let saved = s.save_document(&doc).await.unwrap().unwrap();
    let mut other = automerge::AutoCommit::load(&saved)
        .unwrap()
        .with_actor(automerge::ActorId::random());
    ledger::set_fields(
        &mut other,
        CAM1,
        &[(Field::Name, Some(Value::Text("西门".into())))],
    )
    .unwrap();
    other.commit();
    let here = [(Field::Name, Some(Value::Text("东门".into())))];
    cameras::edit(&s, "clerk", &code, &here).await.unwrap();
    s.merge_bytes(&doc, "sync", &other.save()).await.unwrap();
    let row = s.camera("500103-0001", CAM1).await.unwrap().unwrap();
    assert_eq!(row.conflicts[&Field::Name].len(), 2);
    let shown = row.camera.name().to_string();
    let other_value = if shown == "东门" {
        "西门"
    } else {
        "东门"
    };

    accounts::add_user(&s, "zhang", Role::Editor, "correct horse")
        .await
        .unwrap();
    let (token, session) = accounts::sign_in(&s, "zhang", "correct horse")
        .await
        .unwrap();
    let c = format!("{}={token}", yinglian_node::http::session_cookie(s.unit()));
    let app = yinglian_node::http::router(s.clone());
    let path = format!("/cameras/{CAM1}");

    // The page shows both values, each to pick.
    let (st, page) = get(&app, &path, &c).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        page.contains("冲突：点位名称")
            && page.contains("name=\"pick_name\" value=\"东门\"")
            && page.contains("name=\"pick_name\" value=\"西门\"")
            && page.contains("采用：东门")
            && page.contains("采用：西门"),
        "{page}"
    );
    let (_, list) = get(&app, "/cameras?conflicts=1", &c).await;
    assert!(list.contains(CAM1) && list.contains("有冲突"), "{list}");

    // Saving another field leaves the conflict as it is.
    let form = |extra: &str| {
        format!(
            "csrf={}&name={}&shown_name={}&address=%E4%B8%80%E6%A5%BC&shown_address={extra}",
            session.csrf,
            enc(&shown),
            enc(&shown)
        )
    };
    let (st, to, body) = post(&app, &path, &c, form("")).await;
    assert_eq!(
        (st, to.as_deref()),
        (StatusCode::SEE_OTHER, Some("/cameras")),
        "{body}"
    );
    let row = s.camera("500103-0001", CAM1).await.unwrap().unwrap();
    assert_eq!(row.camera.text(Field::Address), Some("一楼"));
    assert_eq!(row.conflicts[&Field::Name].len(), 2, "the conflict stays");
    let (_, page) = get(&app, &path, &c).await;
    assert!(
        page.contains("采用：东门") && page.contains("采用：西门"),
        "{page}"
    );

    // Picking one resolves it, with the value picked.
    let picked = format!("{}&pick_name={}", form(&enc("一楼")), enc(other_value));
    let (st, to, body) = post(&app, &path, &c, picked).await;
    assert_eq!(
        (st, to.as_deref()),
        (StatusCode::SEE_OTHER, Some("/cameras")),
        "{body}"
    );
    let row = s.camera("500103-0001", CAM1).await.unwrap().unwrap();
    assert!(row.conflicts.is_empty(), "{:?}", row.conflicts);
    assert_eq!(row.camera.name(), other_value);
    let (_, page) = get(&app, &path, &c).await;
    assert!(!page.contains("采用："), "{page}");
    let (_, list) = get(&app, "/cameras?conflicts=1", &c).await;
    assert!(!list.contains(CAM1), "{list}");
}
