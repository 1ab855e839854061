//! The unit's web pages (axum, HTML from maud, Chinese first), one file per subject: sign-in with
//! local accounts (`session`), the figures and the chart, the camera ledger (list, add, edit with
//! its conflicts), contacts, the directory, import, the sync status, the downloads and 报送
//! (`reports`); and `/healthz`. This module holds the router, what every handler shares and the servers.
//! No page but sign-in, its style sheet and the health check is open: without a session a page
//! redirects to sign-in. Every form carries a CSRF token (the session's; before sign-in a
//! cookie-bound one), and a read-only account cannot change anything. Failed sign-ins slow down
//! their source and account (`crate::http::signin`). Every response carries the security headers
//! (`security_headers`): the pages have no inline script or style, so the
//! Content-Security-Policy allows only this origin's. Over TLS (`crate::http::https`) the cookies
//! are `Secure`. A feed subscriber (the police) has its own router of one read-only page
//! (`police`), with the same sign-in, sessions and headers.

mod camera_edit;
mod camera_fields;
mod cameras;
mod chart;
mod contacts;
mod directory;
mod downloads;
mod figures;
mod history;
pub mod https;
mod import;
mod layout;
mod league;
pub mod metrics;
mod operations;
mod police;
mod quality;
mod reports;
mod session;
pub mod signin;
mod status;
mod supervise;
#[cfg(test)]
mod testing;
mod worklists;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::connect_info::Connected;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use maud::html;

use crate::http::signin::Throttle;
use crate::store::Store;

pub use police::Watching;
pub use session::{Signed, session_cookie, signin_cookie};

/// What every handler shares.
#[derive(Clone)]
pub struct Web {
    pub store: Arc<Store>,
    /// Turns true when the server stops: open event streams end then, so that a dashboard left
    /// open never holds up a shutdown.
    pub shutdown: Option<tokio::sync::watch::Receiver<bool>>,
    /// The sign-in backoff of this server.
    pub throttle: Arc<Throttle>,
    /// The pages are served over TLS: cookies are `Secure`.
    pub tls: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`[serve] trusted_proxies`);
    /// from any other peer the header is ignored.
    pub trusted_proxies: Arc<Vec<IpAddr>>,
    /// A feed subscriber's pages: the scope it follows and its follower's state.
    pub feed: Option<Watching>,
}

impl Web {
    fn new(store: Arc<Store>) -> Web {
        Web {
            store,
            shutdown: None,
            throttle: Arc::default(),
            tls: false,
            trusted_proxies: Arc::default(),
            feed: None,
        }
    }
}

/// The pages of a unit.
pub fn router(store: Arc<Store>) -> Router {
    pages(Web::new(store))
}

/// The pages of a feed subscriber (the police): its one read-only page over what `feed` follows.
pub fn police_router(store: Arc<Store>, feed: Watching) -> Router {
    police_pages(Web {
        feed: Some(feed),
        ..Web::new(store)
    })
}

/// The Content-Security-Policy of every response: scripts, styles, images and connections
/// (the live figures' event stream and fetch) only from this origin; no frames, no plugins.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to a response (of every route, the fallback and redirects).
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    r
}

/// The routes of every page, over `web`.
fn pages(web: Web) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(layout::routes())
        .merge(session::routes())
        .merge(figures::routes())
        .merge(chart::routes())
        .merge(status::routes())
        .merge(cameras::routes())
        .merge(camera_edit::routes())
        .merge(worklists::routes())
        .merge(quality::routes())
        .merge(operations::routes())
        .merge(history::routes())
        .merge(supervise::routes())
        .merge(contacts::routes())
        .merge(directory::routes())
        .merge(import::routes())
        .merge(downloads::routes())
        .merge(league::routes())
        .merge(reports::routes())
        .fallback(fallback)
        .with_state(web)
        .layer(axum::middleware::map_response(security_headers))
}

/// The routes of a feed subscriber's pages, over `web`: sign-in, the style sheet and script, the
/// police page; the same sessions and security headers as every unit's pages.
fn police_pages(web: Web) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(layout::routes())
        .merge(session::routes())
        .merge(police::routes())
        .fallback(fallback)
        .with_state(web)
        .layer(axum::middleware::map_response(security_headers))
}

/// The address of the client of a connection, plain or TLS (axum's `ConnectInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for ClientAddr {
    fn connect_info(s: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        ClientAddr(*s.remote_addr())
    }
}

impl Connected<axum::serve::IncomingStream<'_, crate::http::https::TlsListener>> for ClientAddr {
    fn connect_info(s: axum::serve::IncomingStream<'_, crate::http::https::TlsListener>) -> Self {
        ClientAddr(*s.remote_addr())
    }
}

async fn fallback(
    axum::extract::State(web): axum::extract::State<Web>,
    Signed(s): Signed,
) -> Response {
    layout::not_found(&web, &s, html! { "未找到此页" }, "/", "返回首页")
}

/// Serves the pages on `listener` until `shutdown` turns true: over TLS with `tls` (see
/// `crate::http::https::server_config`), with `Secure` cookies; otherwise plain HTTP.
pub async fn serve_with(
    store: Arc<Store>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    trusted_proxies: Vec<IpAddr>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = pages(Web {
        shutdown: Some(shutdown.clone()),
        tls: tls.is_some(),
        trusted_proxies: Arc::new(trusted_proxies),
        ..Web::new(store)
    });
    serve_app(app, listener, tls, shutdown).await
}

/// Serves a feed subscriber's pages (the police page over `feed`) as `serve_with` serves a
/// unit's.
pub async fn serve_police(
    store: Arc<Store>,
    feed: Watching,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    trusted_proxies: Vec<IpAddr>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = police_pages(Web {
        shutdown: Some(shutdown.clone()),
        tls: tls.is_some(),
        trusted_proxies: Arc::new(trusted_proxies),
        feed: Some(feed),
        ..Web::new(store)
    });
    serve_app(app, listener, tls, shutdown).await
}

/// Serves `app` on `listener`, over TLS with `tls`, until `shutdown` turns true.
async fn serve_app(
    app: Router,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let Some(tls) = tls else {
        return serve_router(app, listener, shutdown).await;
    };
    let listener = crate::http::https::TlsListener::new(listener, tls);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<ClientAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = shutdown.wait_for(|s| *s).await;
    })
    .await
}

/// Serves `app` on `listener` (plain HTTP); stops taking requests when `shutdown` turns true and
/// ends once those in flight are answered.
pub async fn serve_router(
    app: Router,
    listener: tokio::net::TcpListener,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<ClientAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = shutdown.wait_for(|s| *s).await;
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::http::{HeaderMap, StatusCode, header};

    use super::{CSP, router, serve_with};
    use crate::http::testing::*;

    fn assert_security_headers(what: &str, h: &HeaderMap) {
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP, "{what}");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY", "{what}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{what}");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer", "{what}");
    }

    #[tokio::test]
    async fn every_response_carries_the_security_headers() {
        let (_dir, s) = store().await;
        let (c, _) = editor(&s).await;
        let app = router(s.clone());
        // The health check, a redirect to sign-in, the sign-in page, a page, the style sheet, a
        // download, a page that is not there.
        for (path, cookie, status) in [
            ("/healthz", "", StatusCode::OK),
            ("/", "", StatusCode::SEE_OTHER),
            ("/signin", "", StatusCode::OK),
            ("/", c.as_str(), StatusCode::OK),
            ("/cameras", c.as_str(), StatusCode::OK),
            ("/assets/yl.css", "", StatusCode::OK),
            ("/download/attachment1", c.as_str(), StatusCode::OK),
            ("/nothing-here", c.as_str(), StatusCode::NOT_FOUND),
        ] {
            let (st, h, _) = send(&app, get(path, cookie)).await;
            assert_eq!(st, status, "{path}");
            assert_security_headers(path, &h);
        }
        // The pages hold no inline script or style, which the policy would block: the home
        // page's live figures come from this origin's script.
        let (_, _, home) = send(&app, get("/", &c)).await;
        assert!(
            home.contains("<script src=\"/assets/live.js\" defer>"),
            "{home}"
        );
        assert!(
            !home.contains("<style") && !home.contains("<script>"),
            "{home}"
        );
        let (_, h, js) = send(&app, get("/assets/live.js", "")).await;
        assert!(
            h[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
        assert!(js.contains("new EventSource('/events')"), "{js}");
    }

    #[tokio::test]
    async fn the_pages_over_tls_with_secure_cookies_and_a_silent_client_holds_up_no_one() {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (dir, s) = store().await;
        // A CA of the test's own, and the server's certificate for localhost from it.
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let (cert_file, key_file) = (dir.path().join("web.crt"), dir.path().join("web.key"));
        std::fs::write(&cert_file, leaf.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        let tls = crate::http::https::server_config(&cert_file, &key_file).unwrap();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(serve_with(s.clone(), listener, Some(tls), Vec::new(), stop));

        // A client that connects and says nothing.
        let _silent = tokio::net::TcpStream::connect(addr).await.unwrap();

        // A browser that trusts the test's CA.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            connector.connect(name, tcp),
        )
        .await
        .expect("the handshake is not held up by the silent client")
        .unwrap();
        tls.write_all(b"GET /signin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        tls.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer).to_lowercase();
        assert!(answer.starts_with("http/1.1 200"), "{answer}");
        assert!(answer.contains("登录"), "{answer}");
        let cookie = answer
            .lines()
            .find(|l| l.starts_with("set-cookie: yl_signin_"))
            .unwrap_or_else(|| panic!("a sign-in cookie: {answer}"));
        assert!(cookie.contains("; secure"), "{cookie}");
        assert!(answer.contains("x-frame-options: deny"), "{answer}");

        // Plain HTTP on that port gets no page.
        let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
        plain
            .write_all(b"GET /signin HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = plain.read_to_end(&mut buf).await;
        assert!(!String::from_utf8_lossy(&buf).contains("登录"));

        stop_tx.send(true).unwrap();
        server.await.unwrap().unwrap();
    }
}
