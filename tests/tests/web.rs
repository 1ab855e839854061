//! The hub's pages in a running federation: the district's dashboard shows its institutions'
//! figures, moves when an institution networks a camera (server-sent events, no reload), and
//! lists the children that are offline. A hub started with its config file's `https_cert` and
//! `https_key` serves its pages over HTTPS, with `Secure` cookies.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;
use yinglian_hub::local::wait_until;
use yinglian_node::app::accounts::{self, Role};
use yinglian_node::docs::document::DocId;
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
    let (token, _) = accounts::sign_in(&district.store, "bureau", "district pw")
        .await
        .unwrap();
    let cookie = format!(
        "{}={token}",
        yinglian_node::http::session_cookie(&district.code)
    );
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
