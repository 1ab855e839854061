//! A police subscriber for the tests, made as `yl-hub init --kind subscriber`, `enroll --role
//! subscriber --scope …` at a hub and `join` make one: its own folder, store, key and certificate;
//! then run as `yl-hub subscribe --web` runs it (`Subscriber::start`), its page on a free
//! loopback port; and the pages read over plain HTTP with a session cookie.

use std::sync::Arc;

use yinglian_hub::local::LocalUnit;
use yinglian_node::daemon::{Bind, Subscriber, SubscriberConfig, WebConfig};
use yinglian_node::domain::unit::{UnitCode, UnitKind};
use yinglian_node::federation::membership::join_bundle;
use yinglian_node::federation::pki::{self, Role, Validity};
use yinglian_node::store::Store;
use yinglian_proto::v1::FeedEvent;

use crate::Fed;

/// A subscriber `code` enrolled at `hub` to watch `scope`, in a new folder under the
/// federation's, with a read-only account `user` (password `password`).
pub async fn subscriber(
    fed: &Fed,
    hub: &LocalUnit,
    code: &str,
    scope: &UnitCode,
    (user, password): (&str, &str),
) -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir_in(fed.tmp.path()).unwrap();
    let unit = UnitCode::parse(code).unwrap();
    let store = Store::init(
        dir.path(),
        &unit,
        "重庆市公安局",
        UnitKind::Subscriber,
        Role::Hub,
    )
    .await
    .unwrap();
    let request = pki::make_request(dir.path(), &unit, false).unwrap();
    let bundle = hub
        .issue(
            &request,
            &unit,
            Role::Subscriber,
            Some(scope.clone()),
            Validity::days(30),
        )
        .await
        .unwrap();
    join_bundle(&store, dir.path(), &bundle).await.unwrap();
    yinglian_node::app::accounts::add_user(
        &store,
        user,
        yinglian_node::app::accounts::Role::ReadOnly,
        password,
    )
    .await
    .unwrap();
    (dir, Arc::new(store))
}

/// Follows `scope` (empty: the one enrolled) from the stored cursor, with the page on a free
/// loopback port.
pub async fn start(
    store: Arc<Store>,
    scope: &str,
    on_event: impl FnMut(&FeedEvent) + Send + 'static,
) -> Subscriber {
    let config = SubscriberConfig {
        follow: yinglian_node::federation::subscriber::Follow {
            scope: scope.to_string(),
            from_start: false,
        },
        web: Some(WebConfig::http(Bind::loopback())),
    };
    Subscriber::start(store, config, on_event).await.unwrap()
}

/// The session cookie of a signed-in `user` of `store`'s pages.
pub async fn session(store: &Store, user: &str, password: &str) -> String {
    let (token, _) = yinglian_node::app::accounts::sign_in(store, user, password)
        .await
        .unwrap();
    format!(
        "{}={token}",
        yinglian_node::http::session_cookie(store.unit())
    )
}

/// GET `path` of the pages at `addr` with `cookie`: the status line and the body.
pub async fn get(addr: std::net::SocketAddr, path: &str, cookie: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// The number in the `nth` figure cell of the first row of `unit` on a page (1: 已建, 2: 应联网,
/// 3: 已联网; 0 is the name).
pub fn cell(html: &str, unit: &str, nth: usize) -> Option<u64> {
    let row = html.split(&format!("data-unit=\"{unit}\"")).nth(1)?;
    let row = &row[..row.find("</tr>")?];
    row.split("<td")
        .skip(1)
        .nth(nth)
        .and_then(|td| td.split('>').nth(1))
        .and_then(|v| v.split('<').next())
        .and_then(|v| v.trim().parse().ok())
}

/// Gives the first hospital of each district `n` generated cameras (seeds from `seed`).
pub async fn seed_first_hospitals(fed: &crate::Fed, n: usize, seed: u64) {
    for (d, list) in fed.institutions.iter().enumerate() {
        list[0]
            .generate_cameras(fed.districts[d].code.as_str(), n, d as u64 + seed)
            .await
            .unwrap();
    }
}

/// The cameras built at the first hospital of each district, summed: what the city's totals
/// reach once caught up.
pub async fn first_hospitals_built(fed: &crate::Fed) -> u64 {
    let mut want = 0;
    for list in &fed.institutions {
        want += list[0]
            .store
            .counts(list[0].code.as_str())
            .await
            .unwrap()
            .0
            .built;
    }
    want
}
