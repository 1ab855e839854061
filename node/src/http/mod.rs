//! The unit's web pages (axum, HTML from maud, Chinese first): sign-in with local accounts, the
//! unit's figures, and `/healthz`. No page but sign-in, its style sheet and the health check is
//! open: without a session a page redirects to sign-in. Every form carries a CSRF token (the
//! session's; before sign-in a cookie-bound one), and a read-only account cannot change anything.
//! Failed sign-ins slow down their source and account (`crate::http::signin`). Every response carries
//! the security headers (`security_headers`): the pages have no inline script or style, so the
//! Content-Security-Policy allows only this origin's. Over TLS (`crate::http::https`) the cookies are
//! `Secure`.

pub mod https;
pub mod metrics;
pub mod signin;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use crate::app::accounts::{self, AccountError, Session};
use crate::domain::figures::show_rate;
use crate::http::signin::Throttle;
use crate::store::Store;

/// The session cookie of `unit`'s pages. Named per unit, so that several units' pages on one
/// host (a demo, a bureau's server) keep their sessions apart: cookies ignore the port.
pub fn session_cookie(unit: &crate::domain::unit::UnitCode) -> String {
    format!("yl_session_{unit}")
}

/// The sign-in form's CSRF cookie of `unit`'s pages.
pub fn signin_cookie(unit: &crate::domain::unit::UnitCode) -> String {
    format!("yl_signin_{unit}")
}

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
}

impl Web {
    fn new(store: Arc<Store>) -> Web {
        Web {
            store,
            shutdown: None,
            throttle: Arc::default(),
            tls: false,
            trusted_proxies: Arc::default(),
        }
    }
}

/// The pages of a unit.
pub fn router(store: Arc<Store>) -> Router {
    pages(Web::new(store))
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

/// The style sheet of every page.
async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        CSS,
    )
        .into_response()
}

/// The script of the home page: when the server says the figures changed, the table is fetched
/// again (no reload).
const LIVE_JS: &str = "new EventSource('/events').addEventListener('figures',function(){fetch('/figures').then(function(r){return r.text()}).then(function(h){document.getElementById('figures').innerHTML=h})});\n";

async fn live_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        LIVE_JS,
    )
        .into_response()
}

fn pages(web: Web) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/assets/yl.css", get(style))
        .route("/assets/live.js", get(live_script))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/", get(home))
        .route("/figures", get(figures))
        .route("/events", get(events))
        .route("/status", get(status))
        .route("/chart.svg", get(chart))
        .route("/import", get(import_page).post(import_preview))
        .route("/import/confirm", post(import_confirm))
        .route("/contacts", get(contacts_page).post(save_contacts))
        .route("/download/{table}", get(download))
        .route("/unit/{code}", get(unit_page))
        .route("/unit/{code}/cameras", get(unit_cameras))
        .route("/directory", get(directory))
        .route("/cameras", get(cameras))
        .route("/cameras/new", get(new_camera_page).post(new_camera))
        .route("/cameras/{code}", get(edit_camera_page).post(edit_camera))
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

/// The source of a request, as the sign-in backoff counts it: the connection's peer; behind a
/// reverse proxy the operator named as trusted, the address the proxy appended last to
/// `X-Forwarded-For`. Unknown (a request made in-process) is `0.0.0.0`.
fn source(parts_ext: &axum::http::Extensions, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let peer = parts_ext
        .get::<ConnectInfo<ClientAddr>>()
        .map(|c| c.0.0.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    if trusted.contains(&peer)
        && let Some(fwd) = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|a| a.trim().parse::<IpAddr>().ok())
    {
        return fwd;
    }
    peer
}

/// The source of a sign-in request.
struct Source(IpAddr);

impl axum::extract::FromRequestParts<Web> for Source {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        web: &Web,
    ) -> Result<Self, Self::Rejection> {
        Ok(Source(source(
            &parts.extensions,
            &parts.headers,
            &web.trusted_proxies,
        )))
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A signed-in user; without a session the browser is sent to sign in.
pub struct Signed(pub Session);

impl axum::extract::FromRequestParts<Web> for Signed {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        web: &Web,
    ) -> Result<Self, Response> {
        match current(web, &parts.headers).await {
            Some(s) => Ok(Signed(s)),
            None => Err(Redirect::to("/signin").into_response()),
        }
    }
}

/// The refusal, when `s` may not change anything with this form: only an editor may, and only
/// with the session's CSRF token.
fn refused(s: &Session, csrf: Option<&str>) -> Option<Response> {
    if s.role != accounts::Role::Editor {
        return Some(read_only());
    }
    if csrf != Some(s.csrf.as_str()) {
        return Some((StatusCode::FORBIDDEN, "表单已过期 (the form expired)").into_response());
    }
    None
}

async fn current(web: &Web, headers: &HeaderMap) -> Option<Session> {
    let token = cookie(headers, &session_cookie(web.store.unit()))?;
    accounts::session(&web.store, &token).await.ok().flatten()
}

fn page(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="zh-CN" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · 应联" }
                    link rel="stylesheet" href="/assets/yl.css";
                }
                body { (body) }
            }
        }
        .into_string(),
    )
}

const CSS: &str = "body{font-family:'Microsoft YaHei','PingFang SC',sans-serif;margin:0 auto;max-width:1280px;padding:16px;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px 10px;text-align:right}th{background:#eef}
td.l,th.l{text-align:left}.err{color:#b00020}form.inline{display:inline}label{display:block;margin:8px 0}";

fn signin_form(csrf: &str, user: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { "应联 · 登录" }
        form method="post" action="/signin" {
            input type="hidden" name="csrf" value=(csrf);
            label { "用户名 " input name="user" value=(user) autofocus; }
            label { "密码 " input name="password" type="password";
                @if let Some(e) = error { " " span.err { (e) } }
            }
            button type="submit" { "登录" }
        }
    }
}

async fn signin_page(State(web): State<Web>, headers: HeaderMap) -> Response {
    if current(&web, &headers).await.is_some() {
        return Redirect::to("/").into_response();
    }
    let csrf = cookie(&headers, &signin_cookie(web.store.unit())).unwrap_or_else(new_token);
    let mut r = page("登录", signin_form(&csrf, "", None)).into_response();
    set_cookie(&mut r, &signin_cookie(web.store.unit()), &csrf, web.tls);
    r
}

fn new_token() -> String {
    let b: [u8; 16] = rand::random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Sets a session-long cookie, `Secure` when the pages are served over TLS.
fn set_cookie(r: &mut Response, name: &str, value: &str, secure: bool) {
    let secure = if secure { "; Secure" } else { "" };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}"
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[derive(Deserialize)]
struct SignIn {
    csrf: String,
    user: String,
    password: String,
}

async fn signin(
    State(web): State<Web>,
    Source(from): Source,
    headers: HeaderMap,
    Form(f): Form<SignIn>,
) -> Response {
    let expected = cookie(&headers, &signin_cookie(web.store.unit()));
    if expected.as_deref() != Some(f.csrf.as_str()) {
        return (
            StatusCode::FORBIDDEN,
            page(
                "登录",
                signin_form(
                    &f.csrf,
                    &f.user,
                    Some("表单已过期，请重新登录 (the form expired; sign in again)"),
                ),
            ),
        )
            .into_response();
    }
    if let Err(wait) = web.throttle.check(from, &f.user, std::time::Instant::now()) {
        // Debug only: a flood of early attempts costs nothing and must not fill the log.
        tracing::debug!(source = %from, user = ?f.user, wait_s = wait.seconds, "sign-in refused: too early after failures");
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            page(
                "登录",
                signin_form(&f.csrf, &f.user, Some(&wait.to_string())),
            ),
        )
            .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.seconds));
        return r;
    }
    match accounts::sign_in(&web.store, &f.user, &f.password).await {
        Ok((token, _)) => {
            web.throttle.succeeded(from, &f.user);
            let mut r = Redirect::to("/").into_response();
            set_cookie(&mut r, &session_cookie(web.store.unit()), &token, web.tls);
            r
        }
        Err(e @ AccountError::Wrong) => {
            web.throttle
                .failed(from, &f.user, std::time::Instant::now());
            tracing::info!(source = %from, user = ?f.user, "sign-in failed: wrong user name or password");
            (
                StatusCode::UNAUTHORIZED,
                page("登录", signin_form(&f.csrf, &f.user, Some(&e.to_string()))),
            )
                .into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[derive(Deserialize)]
struct Csrf {
    csrf: String,
}

async fn signout(State(web): State<Web>, headers: HeaderMap, Form(f): Form<Csrf>) -> Response {
    let Some(s) = current(&web, &headers).await else {
        return Redirect::to("/signin").into_response();
    };
    if s.csrf != f.csrf {
        return (StatusCode::FORBIDDEN, "表单已过期 (the form expired)").into_response();
    }
    if let Some(token) = cookie(&headers, &session_cookie(web.store.unit())) {
        let _ = accounts::end_session(&web.store, &token).await;
    }
    Redirect::to("/signin").into_response()
}

/// The figures table of this unit's subtree (a row for the unit, one per direct child).
/// A milestone's standing, in Chinese.
fn standing(status: &str) -> &str {
    match status {
        "met" => "已达成",
        "on-track" => "按计划推进",
        "behind" => "进度落后",
        "overdue" => "已逾期",
        other => other,
    }
}

fn figures_table(stats: &crate::domain::figures::Stats) -> Markup {
    let row = |st: &crate::domain::figures::Stats| {
        html! {
            tr data-unit=(st.unit) {
                td.l { a href=(format!("/unit/{}", st.unit)) { (st.unit) } } td.l { (st.name) }
                td { (st.built) } td { (st.must_network) } td.networked { (st.networked) }
                td { (show_rate(st.networking_rate)) } td { (show_rate(st.archive_rate)) }
                td { (show_rate(st.geo_rate)) } td { (show_rate(st.intact_rate)) }
                td.l { (st.milestone.as_ref().map(|m| standing(&m.status)).unwrap_or("")) }
            }
        }
    };
    html! {
        table {
            tr { th.l { "单位" } th.l { "名称" } th { "已建" } th { "应联网" } th { "已联网" } th { "联网率" } th { "建档率" } th { "标注率" } th { "完好率" } th.l { "节点" } }
            (row(stats))
            @for c in &stats.children { (row(c)) }
        }
        p { "数据截至 " (stats.as_of) }
    }
}

async fn home(State(web): State<Web>, Signed(s): Signed) -> Response {
    let stats = match crate::app::figures::subtree_stats(&web.store, None).await {
        Ok(st) => st,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    // Children that are not connected now, and since when.
    let offline: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT c.unit, p.disconnected_at FROM children c LEFT JOIN peers p ON p.peer = c.unit
         WHERE c.role != 'subscriber' AND c.revoked_at IS NULL AND COALESCE(p.connected, 0) = 0 ORDER BY c.unit",
    )
    .fetch_all(web.store.pool())
    .await
    .unwrap_or_default();
    let body = html! {
        p {
            (s.user) " (" (if s.role == accounts::Role::Editor { "编辑" } else { "只读" }) ") · "
            a href="/cameras" { "摄像机台账" } " · " a href="/directory" { "联络人" } " · " a href="/status" { "同步状态" } " · " a href="/contacts" { "本单位联络人" }
            " · " a href="/download/attachment1" { "下载附件1" } " · " a href="/download/attachment2" { "下载附件2" } " "
            form.inline method="post" action="/signout" {
                input type="hidden" name="csrf" value=(s.csrf);
                button type="submit" { "退出" }
            }
        }
        h1 { (stats.name) " · 视频监控联网整合" }
        @if let Some(m) = &stats.milestone {
            p { "下一节点：" (m.title) "（" (m.deadline) "，目标 " (m.target) "%）当前 " (format!("{:.2}", m.current)) "% — " (standing(&m.status)) }
        }
        div #figures { (figures_table(&stats)) }
        @if !offline.is_empty() {
            h2 { "未在线的下级" }
            ul { @for (unit, since) in &offline { li.err { (unit) " — " (since.clone().map(|s| format!("离线自 {s}")).unwrap_or_else(|| "从未连接".into())) } } }
        }
        h2 { "联网率走势（近 12 周）与阶段目标" }
        img src="/chart.svg" width="720" height="260" alt="联网率走势";
        // Live: the server says when the figures changed; the table is fetched again.
        script src="/assets/live.js" defer {}
    };
    page(&stats.name, body).into_response()
}

async fn figures(State(web): State<Web>, _signed: Signed) -> Response {
    match crate::app::figures::subtree_stats(&web.store, None).await {
        Ok(st) => Html(figures_table(&st).into_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Server-sent events: `figures` whenever this unit's figures may have changed (its ledger, or a
/// rollup it holds), from the same change stream as the sync engine and the Feed service.
async fn events(State(web): State<Web>, _signed: Signed) -> Response {
    use crate::docs::document::DocKind;
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    let me = web.store.unit().clone();
    let mut changes = web.store.subscribe();
    let mut shutdown = web.shutdown.clone();
    // A task forwards the store's changes until the page goes away or the server stops; when it
    // ends, the stream ends with it.
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(16);
    tokio::spawn(async move {
        let stopping = async move {
            match shutdown.as_mut() {
                Some(s) => {
                    let _ = s.wait_for(|stop| *stop).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::pin!(stopping);
        loop {
            let data = tokio::select! {
                _ = &mut stopping => return,
                _ = tx.closed() => return,
                c = changes.recv() => match c {
                    Ok(doc) if doc.kind == DocKind::Rollup
                        || (doc.kind == DocKind::Ledger && doc.unit == me) => doc.to_string(),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => "lagged".to_string(),
                    Err(RecvError::Closed) => return,
                },
            };
            if tx
                .send(Event::default().event("figures").data(data))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let stream = tokio_stream::StreamExt::map(
        tokio_stream::wrappers::ReceiverStream::new(rx),
        Ok::<_, std::convert::Infallible>,
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[derive(Deserialize, Default)]
struct ListQuery {
    q: Option<String>,
    page: Option<i64>,
    /// Any value: only records with unresolved conflicts.
    conflicts: Option<String>,
}

const PAGE: i64 = 50;

async fn cameras(
    State(web): State<Web>,
    Signed(s): Signed,
    axum::extract::Query(lq): axum::extract::Query<ListQuery>,
) -> Response {
    let page_no = lq.page.unwrap_or(1).max(1);
    let q = crate::store::CameraQuery {
        search: lq.q.clone().filter(|q| !q.trim().is_empty()),
        conflicts_only: lq.conflicts.is_some(),
        limit: Some(PAGE),
        offset: (page_no - 1) * PAGE,
        ..Default::default()
    };
    let unit = web.store.unit().to_string();
    let (rows, total) = match web.store.cameras(&unit, &q).await {
        Ok(r) => r,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let pages = (total + PAGE - 1) / PAGE;
    let search = lq.q.unwrap_or_default();
    let body = html! {
        p { a href="/" { "首页" } " · " (s.user)
            @if s.role == accounts::Role::Editor { " · " a href="/cameras/new" { "新增摄像机" } }
            " · " a href="/cameras?conflicts=1" { "待处理的冲突" }
            @if s.role == accounts::Role::Editor { " · " a href="/import" { "导入表格" } } }
        h1 { (if lq.conflicts.is_some() { "待处理的冲突（两处同时修改同一字段）" } else { "摄像机台账（一机一档）" }) }
        form method="get" action="/cameras" {
            input name="q" value=(search) placeholder="设备编码、点位名称或地址";
            button type="submit" { "查询" }
        }
        p { "共 " (total) " 条，第 " (page_no) " / " (pages.max(1)) " 页" }
        table {
            tr { th.l { "设备编码" } th.l { "点位名称" } th.l { "类别" } th.l { "状态" } th.l { "已联网" } th.l { "冲突" } }
            @for r in &rows {
                @let f = crate::domain::figures::CameraFlags::of(&r.camera);
                tr {
                    td.l { a href=(format!("/cameras/{}", r.camera.device_code)) { (r.camera.device_code.to_string()) } }
                    td.l { (r.camera.name()) }
                    td.l { (r.camera.point_class().map(|p| p.chinese()).unwrap_or("—")) }
                    td.l { (r.camera.state().chinese()) }
                    td.l { (if f.networked { "是" } else { "否" }) }
                    td.l { (if r.conflicts.is_empty() { "" } else { "有冲突" }) }
                }
            }
        }
        p {
            @if page_no > 1 { a href=(format!("/cameras?q={}&page={}", enc(&search), page_no - 1)) { "上一页" } " " }
            @if page_no < pages { a href=(format!("/cameras?q={}&page={}", enc(&search), page_no + 1)) { "下一页" } }
        }
    };
    page("摄像机台账", body).into_response()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The fields of the camera form, in order.
const FORM_FIELDS: [crate::domain::camera::Field; 6] = [
    crate::domain::camera::Field::Name,
    crate::domain::camera::Field::Address,
    crate::domain::camera::Field::PointClass,
    crate::domain::camera::Field::Area,
    crate::domain::camera::Field::CameraType,
    crate::domain::camera::Field::Networked,
];

fn camera_form(
    csrf: &str,
    values: &std::collections::HashMap<String, String>,
    errors: &std::collections::HashMap<String, String>,
) -> Markup {
    let v = |k: &str| values.get(k).cloned().unwrap_or_default();
    let e = |k: &str| errors.get(k).cloned();
    html! {
        p { a href="/cameras" { "返回台账" } }
        h1 { "新增摄像机" }
        form method="post" action="/cameras/new" {
            input type="hidden" name="csrf" value=(csrf);
            label { "设备编码 " input name="device_code" value=(v("device_code")) size="24";
                @if let Some(m) = e("device_code") { " " span.err { (m) } } }
            @for f in FORM_FIELDS {
                label { (f.chinese()) " " input name=(f.key()) value=(v(f.key()));
                    @if let Some(m) = e(f.key()) { " " span.err { (m) } } }
            }
            @if let Some(m) = e("") { p.err { (m) } }
            button type="submit" { "保存" }
        }
    }
}

async fn new_camera_page(Signed(s): Signed) -> Response {
    if s.role != accounts::Role::Editor {
        return read_only();
    }
    page(
        "新增摄像机",
        camera_form(&s.csrf, &Default::default(), &Default::default()),
    )
    .into_response()
}

fn read_only() -> Response {
    (StatusCode::FORBIDDEN, page("只读账户", html! { h1 { "只读账户不能修改台账 (a read-only account cannot change anything)" } p { a href="/" { "返回首页" } } })).into_response()
}

async fn new_camera(
    State(web): State<Web>,
    Signed(s): Signed,
    Form(values): Form<std::collections::HashMap<String, String>>,
) -> Response {
    use crate::domain::camera::{Camera, FieldError};
    if let Some(r) = refused(&s, values.get("csrf").map(String::as_str)) {
        return r;
    }
    let mut errors = std::collections::HashMap::new();
    let code = match crate::domain::device_code::DeviceCode::parse(
        values.get("device_code").map(String::as_str).unwrap_or(""),
    ) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.insert("device_code".to_string(), e.to_string());
            None
        }
    };
    let mut fields = Vec::new();
    for f in FORM_FIELDS {
        match f.parse_value(values.get(f.key()).map(String::as_str).unwrap_or("")) {
            Ok(Some(v)) => fields.push((f, v)),
            Ok(None) => {}
            Err(e) => {
                errors.insert(f.key().to_string(), e.to_string());
            }
        }
    }
    if let (Some(code), true) = (&code, errors.is_empty()) {
        let mut cam = Camera::new(code.clone());
        cam.fields.extend(fields);
        match cam.validate() {
            Err(FieldError::Missing(k)) | Err(FieldError::Invalid { field: k, .. }) => {
                let msg = cam.validate().unwrap_err().to_string();
                errors.insert(k.to_string(), msg);
            }
            Err(e) => {
                errors.insert(String::new(), e.to_string());
            }
            Ok(()) => {
                let who = format!("web:{}", s.user);
                let doc = crate::docs::document::DocId::ledger(web.store.unit());
                let r = web
                    .store
                    .edit(&doc, &who, &format!("add camera {code}"), |d| {
                        crate::docs::ledger::add_camera(d, &cam)?;
                        crate::docs::ledger::append_event(d, "filing", code.as_str(), "", &who)?;
                        Ok(())
                    })
                    .await;
                match r {
                    Ok(_) => return Redirect::to("/cameras").into_response(),
                    Err(e) => {
                        errors.insert("device_code".to_string(), e.to_string());
                    }
                }
            }
        }
    }
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        page("新增摄像机", camera_form(&s.csrf, &values, &errors)),
    )
        .into_response()
}

/// Sync status: the parent and the children, connected or not, since when, bytes, refusals.
async fn status(State(web): State<Web>, _signed: Signed) -> Response {
    let peers = web.store.peers().await.unwrap_or_default();
    let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refusals")
        .fetch_one(web.store.pool())
        .await
        .unwrap_or(0);
    let body = html! {
        p { a href="/" { "首页" } }
        h1 { "同步状态" }
        @if peers.is_empty() { p { "尚未与上级或下级同步（未加入联网，或守护进程未运行）。" } }
        table {
            tr { th.l { "单位" } th.l { "关系" } th.l { "状态" } th.l { "最近同步" } th.l { "断开于" } th { "发送字节" } th { "接收字节" } th.l { "最近错误" } }
            @for p in &peers {
                tr {
                    td.l { (p.peer) } td.l { (if p.relation == "parent" { "上级" } else { "下级" }) }
                    td.l { (if p.connected { "在线" } else { "离线" }) }
                    td.l { (p.last_sync_at.clone().unwrap_or_else(|| "从未".into())) }
                    td.l { (p.disconnected_at.clone().unwrap_or_default()) }
                    td { (p.bytes_sent) } td { (p.bytes_received) }
                    td.l {
                        @if let Some(since) = &p.stuck_since {
                            strong { "停滞（自 " (since) " 起）：" (p.stuck_reason.clone().unwrap_or_default()) }
                            br;
                        }
                        (p.last_error.clone().unwrap_or_default())
                    }
                }
            }
        }
        p { "已拒绝的连接或数据：" (waiting) }
    };
    page("同步状态", body).into_response()
}

#[derive(Deserialize, Default)]
struct DirQuery {
    q: Option<String>,
}

/// The liaison directory of the subtree and of the unit above.
async fn directory(
    State(web): State<Web>,
    _signed: Signed,
    axum::extract::Query(dq): axum::extract::Query<DirQuery>,
) -> Response {
    let parent: Vec<String> = web
        .store
        .meta("parent_unit")
        .await
        .ok()
        .flatten()
        .into_iter()
        .collect();
    let list = crate::app::directory::entries(
        &web.store,
        web.store.unit().as_str(),
        &parent,
        dq.q.as_deref(),
    )
    .await
    .unwrap_or_default();
    let show = |c: &Option<crate::domain::contacts::Contact>| match c {
        Some(c) => format!("{} {} {}", c.name, c.position, c.phone),
        None => "未报送".to_string(),
    };
    let body = html! {
        p { a href="/" { "首页" } }
        h1 { "联络人名录" }
        form method="get" action="/directory" {
            input name="q" value=(dq.q.clone().unwrap_or_default()) placeholder="单位、姓名或电话";
            button type="submit" { "查询" }
        }
        table {
            tr { th.l { "单位" } th.l { "名称" } th.l { "分管领导" } th.l { "联络员" } }
            @for e in &list {
                tr {
                    td.l { (e.unit) } td.l { (e.name) }
                    td.l class=(if e.leader.is_none() { "err" } else { "" }) { (show(&e.leader)) }
                    td.l class=(if e.liaison.is_none() { "err" } else { "" }) { (show(&e.liaison)) }
                }
            }
        }
    };
    page("联络人名录", body).into_response()
}

/// Attachment 1 or 2 of this unit (a hub's: its subtree), as the official XLSX.
async fn download(
    State(web): State<Web>,
    _signed: Signed,
    axum::extract::Path(table): axum::extract::Path<String>,
) -> Response {
    let Some(table) = crate::app::report::Table::parse(&table) else {
        return (StatusCode::NOT_FOUND, "没有这张表").into_response();
    };
    let req = crate::app::report::TableRequest::new(table, true);
    match crate::app::report::official_table(&web.store, &req).await {
        Ok(bytes) => {
            let name = format!("{}-{}.xlsx", web.store.unit(), table.chinese());
            let disposition = format!("attachment; filename*=UTF-8''{}", enc(&name));
            (
                [
                    (
                        header::CONTENT_TYPE,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                            .to_string(),
                    ),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "could not build the official table");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "生成报表失败，请稍后再试",
            )
                .into_response()
        }
    }
}

/// Drill-down: a unit of the subtree, with one row per child of its own.
async fn unit_page(
    State(web): State<Web>,
    _signed: Signed,
    axum::extract::Path(code): axum::extract::Path<String>,
) -> Response {
    match crate::app::figures::subtree_stats(&web.store, Some(&code)).await {
        Ok(st) => {
            let body = html! {
                p { a href="/" { "首页" } }
                h1 { (st.name) " (" (st.unit) ")" }
                (figures_table(&st))
                p { a href=(format!("/unit/{}/cameras", st.unit)) { "摄像机明细" } }
            };
            page(&st.name, body).into_response()
        }
        Err(e) => (
            StatusCode::NOT_FOUND,
            page(
                "未找到",
                html! { h1 { (e.to_string()) } p { a href="/" { "返回首页" } } },
            ),
        )
            .into_response(),
    }
}

fn contacts_form(
    csrf: &str,
    values: &std::collections::HashMap<String, String>,
    errors: &std::collections::HashMap<String, String>,
    saved: bool,
) -> Markup {
    use crate::domain::contacts::ContactRole;
    let v = |k: String| values.get(&k).cloned().unwrap_or_default();
    html! {
        p { a href="/" { "首页" } }
        h1 { "本单位联络人（附件1）" }
        @if saved { p { "已保存。" } }
        form method="post" action="/contacts" {
            input type="hidden" name="csrf" value=(csrf);
            @for role in [ContactRole::Leader, ContactRole::Liaison] {
                h2 { (role.chinese()) }
                @for (k, label) in [("name", "姓名"), ("position", "职务"), ("phone", "电话")] {
                    @let key = format!("{}_{k}", role.as_str());
                    label { (label) " " input name=(key) value=(v(key.clone()));
                        @if let Some(m) = errors.get(&key) { " " span.err { (m) } } }
                }
            }
            button type="submit" { "保存" }
        }
    }
}

async fn contacts_page(State(web): State<Web>, Signed(s): Signed) -> Response {
    let mut values = std::collections::HashMap::new();
    if let Ok(Some(p)) = web.store.profile(web.store.unit().as_str()).await {
        for role in [
            crate::domain::contacts::ContactRole::Leader,
            crate::domain::contacts::ContactRole::Liaison,
        ] {
            if let Some(c) = p.contact(role) {
                values.insert(format!("{}_name", role.as_str()), c.name.clone());
                values.insert(format!("{}_position", role.as_str()), c.position.clone());
                values.insert(format!("{}_phone", role.as_str()), c.phone.clone());
            }
        }
    }
    page(
        "本单位联络人",
        contacts_form(&s.csrf, &values, &Default::default(), false),
    )
    .into_response()
}

async fn save_contacts(
    State(web): State<Web>,
    Signed(s): Signed,
    Form(values): Form<std::collections::HashMap<String, String>>,
) -> Response {
    use crate::domain::contacts::{Contact, ContactError, ContactRole};
    if let Some(r) = refused(&s, values.get("csrf").map(String::as_str)) {
        return r;
    }
    let mut errors = std::collections::HashMap::new();
    let mut good = Vec::new();
    for role in [ContactRole::Leader, ContactRole::Liaison] {
        let get = |k: &str| {
            values
                .get(&format!("{}_{k}", role.as_str()))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let c = Contact {
            name: get("name"),
            position: get("position"),
            phone: get("phone"),
            remarks: String::new(),
        };
        if c.is_empty() && c.position.is_empty() {
            continue; // not reported yet: allowed, and listed as missing
        }
        match c.validate() {
            Ok(()) => good.push((role, c)),
            Err(e) => {
                let field = match &e {
                    ContactError::Missing(f) | ContactError::TooLong(f) => (*f).to_string(),
                    ContactError::Phone(_) => "phone".to_string(),
                    ContactError::Role(_) => "name".to_string(),
                };
                errors.insert(format!("{}_{field}", role.as_str()), e.to_string());
            }
        }
    }
    if errors.is_empty() {
        let who = format!("web:{}", s.user);
        let doc = crate::docs::document::DocId::profile(web.store.unit());
        let r = web
            .store
            .edit(&doc, &who, "set contacts", |d| {
                for (role, c) in &good {
                    crate::docs::profile::set_contact(d, *role, c)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = r {
            return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
        }
        return page(
            "本单位联络人",
            contacts_form(&s.csrf, &values, &errors, true),
        )
        .into_response();
    }
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        page(
            "本单位联络人",
            contacts_form(&s.csrf, &values, &errors, false),
        ),
    )
        .into_response()
}

fn import_form(csrf: &str) -> Markup {
    html! {
        p { a href="/cameras" { "返回台账" } }
        h1 { "导入台账表格" }
        p { "CSV（UTF-8 或 GB18030）或 XLSX，中文或英文表头。先预览：有任何错误行，一行也不会导入。" }
        form method="post" action="/import" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(csrf);
            input type="file" name="file" accept=".csv,.xlsx";
            button type="submit" { "预览" }
        }
    }
}

async fn import_page(Signed(s): Signed) -> Response {
    if s.role != accounts::Role::Editor {
        return read_only();
    }
    page("导入表格", import_form(&s.csrf)).into_response()
}

fn imports_dir(store: &Store) -> std::path::PathBuf {
    store.dir().join("imports")
}

/// Reads the uploaded sheet and shows every error, or what would be imported; saves nothing.
async fn import_preview(
    State(web): State<Web>,
    Signed(s): Signed,
    mut mp: axum::extract::Multipart,
) -> Response {
    if s.role != accounts::Role::Editor {
        return read_only();
    }
    let mut csrf = None;
    let mut upload: Option<(String, Vec<u8>)> = None;
    while let Ok(Some(field)) = mp.next_field().await {
        match field.name() {
            Some("csrf") => csrf = field.text().await.ok(),
            Some("file") => {
                let name = field.file_name().unwrap_or("").to_string();
                if let Ok(b) = field.bytes().await {
                    upload = Some((name, b.to_vec()));
                }
            }
            _ => {}
        }
    }
    if csrf.as_deref() != Some(s.csrf.as_str()) {
        return (StatusCode::FORBIDDEN, "表单已过期 (the form expired)").into_response();
    }
    let Some((name, bytes)) = upload.filter(|(_, b)| !b.is_empty()) else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            page(
                "导入表格",
                html! { (import_form(&s.csrf)) p.err { "请选择一个文件 (choose a file)" } },
            ),
        )
            .into_response();
    };
    let ext = if name.to_lowercase().ends_with(".xlsx") {
        "xlsx"
    } else {
        "csv"
    };
    let token = new_token();
    let dir = imports_dir(&web.store);
    let path = dir.join(format!("{token}.{ext}"));
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, &bytes)) {
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    match crate::app::import::read_cameras(&path) {
        Ok(cams) => {
            let body = html! {
                p { a href="/cameras" { "返回台账" } }
                h1 { "预览：" (name) }
                p { "共 " (cams.len()) " 行，全部有效。确认后一次导入。" }
                table {
                    tr { th.l { "设备编码" } th.l { "点位名称" } th.l { "类别" } }
                    @for c in cams.iter().take(20) {
                        tr { td.l { (c.device_code.to_string()) } td.l { (c.name()) } td.l { (c.point_class().map(|p| p.chinese()).unwrap_or("—")) } }
                    }
                }
                form method="post" action="/import/confirm" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    input type="hidden" name="token" value=(format!("{token}.{ext}"));
                    button type="submit" { "确认导入" }
                }
            };
            page("导入预览", body).into_response()
        }
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            let body = match e {
                crate::app::import::ImportError::Rows { errors, .. } => html! {
                    (import_form(&s.csrf))
                    p.err { (name) "：" (errors.iter().map(|r| r.row).collect::<std::collections::BTreeSet<_>>().len()) " 行有错误（共 " (errors.len()) " 处），一行也没有导入。" }
                    table {
                        tr { th { "行" } th.l { "列" } th.l { "原因" } }
                        @for r in errors.iter().take(crate::app::import::MAX_LISTED_ERRORS) { tr { td { (r.row) } td.l { (r.column) } td.l.err { (r.reason) } } }
                    }
                    @if errors.len() > crate::app::import::MAX_LISTED_ERRORS {
                        p.err { "只列出前 " (crate::app::import::MAX_LISTED_ERRORS) " 处错误，共 " (errors.len()) " 处。" }
                    }
                },
                other => html! { (import_form(&s.csrf)) p.err { (name) "：" (other.to_string()) } },
            };
            (StatusCode::UNPROCESSABLE_ENTITY, page("导入表格", body)).into_response()
        }
    }
}

#[derive(Deserialize)]
struct Confirm {
    csrf: String,
    token: String,
}

async fn import_confirm(
    State(web): State<Web>,
    Signed(s): Signed,
    Form(f): Form<Confirm>,
) -> Response {
    if let Some(r) = refused(&s, Some(&f.csrf)) {
        return r;
    }
    let ok_name = f.token.len() < 80
        && f.token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.')
        && (f.token.ends_with(".csv") || f.token.ends_with(".xlsx"));
    let path = imports_dir(&web.store).join(&f.token);
    if !ok_name || !path.exists() {
        return (
            StatusCode::NOT_FOUND,
            "这次预览已失效，请重新上传 (the preview has expired; upload again)",
        )
            .into_response();
    }
    let who = format!("web:{}", s.user);
    let r = crate::app::import::import_file(&web.store, &path, &who).await;
    let _ = std::fs::remove_file(&path);
    match r {
        Ok(_) => Redirect::to("/cameras").into_response(),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            page(
                "导入表格",
                html! { (import_form(&s.csrf)) p.err { (e.to_string()) } },
            ),
        )
            .into_response(),
    }
}

/// The networking rate of this unit's subtree, week by week over the last 12 weeks (from the
/// documents' history), against the campaign's networking targets, as SVG.
async fn chart(State(web): State<Web>, _signed: Signed) -> Response {
    let today = chrono::Utc::now().date_naive();
    let mut points = Vec::new();
    for i in 0..=12i64 {
        let d = today - chrono::Duration::days(7 * (12 - i));
        // Weekly end-of-day figures, and the last point is now.
        let stats = if i == 12 {
            crate::app::figures::subtree_stats(&web.store, None).await
        } else {
            crate::app::figures::stats_as_of(&web.store, None, d).await
        };
        let rate = stats.ok().and_then(|s| s.networking_rate).unwrap_or(0.0);
        points.push((d, rate));
    }
    let targets: Vec<(String, f64)> = match crate::app::campaign::held(&web.store).await {
        Ok(Some(c)) => c
            .milestones
            .iter()
            .filter(|m| m.figure == crate::domain::campaign::Figure::NetworkingRate)
            .map(|m| (format!("{}（{}）", m.title, m.deadline), m.target))
            .collect(),
        _ => Vec::new(),
    };
    let (w, h, left, top, bottom) = (720.0, 260.0, 48.0, 16.0, 36.0);
    let plot_w = w - left - 16.0;
    let plot_h = h - top - bottom;
    let x = |i: usize| left + plot_w * i as f64 / 12.0;
    let y = |r: f64| top + plot_h * (1.0 - r.clamp(0.0, 100.0) / 100.0);
    let line: String = points
        .iter()
        .enumerate()
        .map(|(i, (_, r))| format!("{:.1},{:.1}", x(i), y(*r)))
        .collect::<Vec<_>>()
        .join(" ");
    let svg = html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) viewBox=(format!("0 0 {w} {h}")) font-family="sans-serif" font-size="11" {
            rect x=(left) y=(top) width=(plot_w) height=(plot_h) fill="#fafafa" stroke="#ccc" {}
            @for pct in [0.0, 50.0, 100.0] {
                text x=(left - 6.0) y=(y(pct) + 4.0) text-anchor="end" { (format!("{pct:.0}%")) }
            }
            @for (label, t) in &targets {
                line x1=(left) x2=(left + plot_w) y1=(y(*t)) y2=(y(*t)) stroke="#c62828" stroke-dasharray="4 3" {}
                text x=(left + 4.0) y=(y(*t) - 3.0) fill="#c62828" { (label) " " (format!("{t:.0}%")) }
            }
            polyline points=(line) fill="none" stroke="#1565c0" stroke-width="2" {}
            @for (i, (d, r)) in points.iter().enumerate() {
                circle cx=(x(i)) cy=(y(*r)) r="2.5" fill="#1565c0" { title { (d) " " (format!("{r:.2}%")) } }
                @if i % 4 == 0 || i == 12 {
                    text x=(x(i)) y=(h - 14.0) text-anchor="middle" { (d.format("%m-%d").to_string()) }
                }
            }
        }
    };
    (
        [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
        svg.into_string(),
    )
        .into_response()
}

fn edit_form(
    code: &str,
    csrf: &str,
    values: &std::collections::HashMap<String, String>,
    errors: &std::collections::HashMap<String, String>,
) -> Markup {
    html! {
        p { a href="/cameras" { "返回台账" } }
        h1 { "摄像机 " (code) }
        form method="post" action=(format!("/cameras/{code}")) {
            input type="hidden" name="csrf" value=(csrf);
            @for f in FORM_FIELDS {
                label { (f.chinese()) " " input name=(f.key()) value=(values.get(f.key()).cloned().unwrap_or_default());
                    @if let Some(m) = errors.get(f.key()) { " " span.err { (m) } } }
            }
            @if let Some(m) = errors.get("") { p.err { (m) } }
            button type="submit" { "保存" }
        }
    }
}

async fn edit_camera_page(
    State(web): State<Web>,
    Signed(s): Signed,
    axum::extract::Path(code): axum::extract::Path<String>,
) -> Response {
    let unit = web.store.unit().to_string();
    let Ok(Some(row)) = web.store.camera(&unit, &code).await else {
        return (
            StatusCode::NOT_FOUND,
            page(
                "未找到",
                html! { h1 { "台账中没有摄像机 " (code) } p { a href="/cameras" { "返回台账" } } },
            ),
        )
            .into_response();
    };
    let values = FORM_FIELDS
        .iter()
        .filter_map(|f| {
            row.camera
                .get(*f)
                .map(|v| (f.key().to_string(), v.to_string()))
        })
        .collect();
    page(
        &code,
        edit_form(&code, &s.csrf, &values, &Default::default()),
    )
    .into_response()
}

async fn edit_camera(
    State(web): State<Web>,
    Signed(s): Signed,
    axum::extract::Path(code): axum::extract::Path<String>,
    Form(values): Form<std::collections::HashMap<String, String>>,
) -> Response {
    if let Some(r) = refused(&s, values.get("csrf").map(String::as_str)) {
        return r;
    }
    let unit = web.store.unit().to_string();
    let Ok(Some(row)) = web.store.camera(&unit, &code).await else {
        return (StatusCode::NOT_FOUND, "no such camera").into_response();
    };
    let mut errors = std::collections::HashMap::new();
    let mut changes = Vec::new();
    let mut next = row.camera.clone();
    for f in FORM_FIELDS {
        match f.parse_value(values.get(f.key()).map(String::as_str).unwrap_or("")) {
            Ok(v) => {
                match &v {
                    Some(v) => next.fields.insert(f, v.clone()),
                    None => next.fields.remove(&f),
                };
                changes.push((f, v));
            }
            Err(e) => {
                errors.insert(f.key().to_string(), e.to_string());
            }
        }
    }
    if errors.is_empty()
        && let Err(e) = next.validate()
    {
        errors.insert(String::new(), e.to_string());
    }
    if errors.is_empty() {
        let who = format!("web:{}", s.user);
        let doc = crate::docs::document::DocId::ledger(web.store.unit());
        let r = web
            .store
            .edit(&doc, &who, &format!("edit camera {code}"), |d| {
                Ok(crate::docs::ledger::set_fields(d, &code, &changes)?)
            })
            .await;
        return match r {
            Ok(_) => Redirect::to("/cameras").into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        };
    }
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        page(&code, edit_form(&code, &s.csrf, &values, &errors)),
    )
        .into_response()
}

/// The cameras of a unit of the subtree: from the replica held here, or asked of the hub below
/// that holds it (the city keeps no camera copies). Read-only.
async fn unit_cameras(
    State(web): State<Web>,
    _signed: Signed,
    axum::extract::Path(code): axum::extract::Path<String>,
    axum::extract::Query(lq): axum::extract::Query<ListQuery>,
) -> Response {
    let Ok(unit) = crate::domain::unit::UnitCode::parse(&code) else {
        return (StatusCode::NOT_FOUND, "not a unit code").into_response();
    };
    let q = crate::store::CameraQuery {
        search: lq.q.clone().filter(|q| !q.trim().is_empty()),
        limit: Some(PAGE),
        offset: (lq.page.unwrap_or(1).max(1) - 1) * PAGE,
        ..Default::default()
    };
    let held = !web
        .store
        .heads(&crate::docs::document::DocId::ledger(&unit))
        .await
        .unwrap_or_default()
        .is_empty();
    let result = if held {
        crate::federation::reports::cameras_json(&web.store, unit.as_str(), &q)
            .await
            .map_err(|e| e.to_string())
    } else {
        crate::federation::reports::forward_cameras(&web.store, web.store.dir(), &unit, &q)
            .await
            .map_err(|e| format!("{e:#}"))
    };
    let (total, list) = match result {
        Ok(r) => r,
        Err(e) => {
            return (StatusCode::NOT_FOUND, page("未找到", html! { h1 { "无法取得 " (unit) " 的摄像机明细" } p.err { (e) } p { a href="/" { "返回首页" } } })).into_response();
        }
    };
    let t = |c: &serde_json::Value, k: &str| {
        c[k].as_str()
            .map(str::to_string)
            .unwrap_or_else(|| c[k].to_string())
    };
    let body = html! {
        p { a href="/" { "首页" } " · " a href=(format!("/unit/{unit}")) { (unit) } }
        h1 { (unit) " 摄像机明细（" (total) " 条" (if held { "" } else { "，由下级枢纽提供" }) "）" }
        table {
            tr { th.l { "设备编码" } th.l { "点位名称" } th.l { "类别" } th.l { "状态" } th.l { "已联网" } }
            @for c in &list {
                tr { td.l { (t(c, "device_code")) } td.l { (t(c, "name")) } td.l { (t(c, "point_class")) } td.l { (t(c, "state")) } td.l { (t(c, "networked")) } }
            }
        }
    };
    page(&format!("{unit} 摄像机明细"), body).into_response()
}

async fn fallback(_signed: Signed) -> Response {
    (
        StatusCode::NOT_FOUND,
        page(
            "未找到",
            html! { h1 { "未找到此页 (not found)" } p { a href="/" { "返回首页" } } },
        ),
    )
        .into_response()
}

/// Serves the pages over plain HTTP on `listener` until `shutdown` turns true.
pub async fn serve(
    store: Arc<Store>,
    listener: tokio::net::TcpListener,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    serve_with(store, listener, None, Vec::new(), shutdown).await
}

/// Serves the pages on `listener` until `shutdown` turns true: over TLS with `tls` (see
/// `crate::http::https::server_config`), with `Secure` cookies; otherwise plain HTTP.
pub async fn serve_with(
    store: Arc<Store>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    trusted_proxies: Vec<IpAddr>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = pages(Web {
        shutdown: Some(shutdown.clone()),
        tls: tls.is_some(),
        trusted_proxies: Arc::new(trusted_proxies),
        ..Web::new(store)
    });
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
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    const SESSION_COOKIE: &str = "yl_session_500103-0001";
    const SIGNIN_COOKIE: &str = "yl_signin_500103-0001";

    async fn store() -> (tempfile::TempDir, Arc<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let unit = crate::domain::unit::UnitCode::parse("500103-0001").unwrap();
        let s = Store::init(
            dir.path(),
            &unit,
            "重庆市渝中区人民医院",
            crate::domain::unit::UnitKind::Institution,
            crate::domain::unit::Role::Node,
        )
        .await
        .unwrap();
        (dir, Arc::new(s))
    }

    async fn send(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let r = app.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    fn form(uri: &str, cookie: &str, body: String) -> Request<Body> {
        Request::post(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, cookie)
            .body(Body::from(body))
            .unwrap()
    }

    fn set_cookie_value(h: &HeaderMap, name: &str) -> Option<String> {
        h.get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                v.strip_prefix(&format!("{name}="))
                    .map(|r| r.split(';').next().unwrap_or("").to_string())
            })
    }

    #[tokio::test]
    async fn pages_need_a_session_and_forms_check_their_input() {
        let (_dir, s) = store().await;
        accounts::add_user(&s, "zhang", accounts::Role::Editor, "correct horse")
            .await
            .unwrap();
        let app = router(s.clone());
        // Open: the health check. Closed: everything else, which redirects to sign-in.
        let (st, _, body) = send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
        assert_eq!((st, body.as_str()), (StatusCode::OK, "ok"));
        for path in ["/", "/cameras", "/anything"] {
            let (st, h, _) = send(&app, Request::get(path).body(Body::empty()).unwrap()).await;
            assert_eq!(st, StatusCode::SEE_OTHER, "{path}");
            assert_eq!(h[header::LOCATION], "/signin");
        }
        // The sign-in form hands out its CSRF token in a cookie and the form.
        let (st, h, body) = send(&app, Request::get("/signin").body(Body::empty()).unwrap()).await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("登录"));
        let token = set_cookie_value(&h, SIGNIN_COOKIE).unwrap();
        let cookie = format!("{SIGNIN_COOKIE}={token}");
        // A forged form (wrong token) is refused.
        let (st, _, _) = send(
            &app,
            form(
                "/signin",
                &cookie,
                "csrf=forged&user=zhang&password=correct+horse".into(),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        // A wrong password, said beside the field.
        let (st, _, body) = send(
            &app,
            form(
                "/signin",
                &cookie,
                format!("csrf={token}&user=zhang&password=wrong"),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        assert!(body.contains("用户名或密码错误"), "{body}");
        // The right one: a session, and the unit's page.
        let (st, h, _) = send(
            &app,
            form(
                "/signin",
                &cookie,
                format!("csrf={token}&user=zhang&password=correct+horse"),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        let session = set_cookie_value(&h, SESSION_COOKIE).unwrap();
        let req = Request::get("/")
            .header(header::COOKIE, format!("{SESSION_COOKIE}={session}"))
            .body(Body::empty())
            .unwrap();
        let (st, _, body) = send(&app, req).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains("重庆市渝中区人民医院") && body.contains("已建"),
            "{body}"
        );
        // Signing out needs the session's CSRF token.
        let (st, _, _) = send(
            &app,
            form(
                "/signout",
                &format!("{SESSION_COOKIE}={session}"),
                "csrf=forged".into(),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        // The camera form: a message beside each bad field, nothing saved; then a good one.
        let c = format!("{SESSION_COOKIE}={session}");
        let sess = accounts::session(&s, &session).await.unwrap().unwrap();
        let (st, _, body) = send(
            &app,
            form(
                "/cameras/new",
                &c,
                format!("csrf={}&device_code=1234&name=&point_class=9", sess.csrf),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.matches("class=\"err\"").count() >= 2, "{body}");
        assert_eq!(
            s.cameras("500103-0001", &Default::default())
                .await
                .unwrap()
                .1,
            0
        );
        let (st, _, _) = send(&app, form("/cameras/new", &c, format!("csrf={}&device_code=50010312091320000001&name=%E9%97%A8%E8%AF%8A&point_class=1&networked=%E6%98%AF", sess.csrf))).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        assert_eq!(
            s.cameras("500103-0001", &Default::default())
                .await
                .unwrap()
                .1,
            1
        );
        let req = Request::get("/cameras?q=%E9%97%A8")
            .header(header::COOKIE, &c)
            .body(Body::empty())
            .unwrap();
        let (st, _, body) = send(&app, req).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains("50010312091320000001") && body.contains("门诊"),
            "{body}"
        );
        // The camera's edit form: rename it (still networked); a bad class is said beside the field.
        let (st, _, body) = send(
            &app,
            form(
                "/cameras/50010312091320000001",
                &c,
                format!(
                    "csrf={}&name=%E9%97%A8%E8%AF%8A&point_class=9&networked=%E5%90%A6",
                    sess.csrf
                ),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("class=\"err\""), "{body}");
        let (st, _, _) = send(&app, form("/cameras/50010312091320000001", &c, format!("csrf={}&name=%E9%97%A8%E8%AF%8A%E5%A4%A7%E5%8E%85&point_class=1&networked=%E6%98%AF", sess.csrf))).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        let row = s
            .camera("500103-0001", "50010312091320000001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.camera.name(), "门诊大厅");
        assert_eq!(
            row.camera.get(crate::domain::camera::Field::Networked),
            Some(&crate::domain::camera::Value::Bool(true))
        );
        // The conflicts page lists only records with unresolved conflicts (none here).
        let req = Request::get("/cameras?conflicts=1")
            .header(header::COOKIE, &c)
            .body(Body::empty())
            .unwrap();
        let (_, _, body) = send(&app, req).await;
        assert!(
            body.contains("待处理的冲突") && !body.contains("50010312091320000001"),
            "{body}"
        );
        // A read-only account sees but cannot change.
        accounts::add_user(&s, "li", accounts::Role::ReadOnly, "read only pw")
            .await
            .unwrap();
        let (tok, ro) = accounts::sign_in(&s, "li", "read only pw").await.unwrap();
        let rc = format!("{SESSION_COOKIE}={tok}");
        let (st, _, _) = send(
            &app,
            form(
                "/cameras/new",
                &rc,
                format!("csrf={}&device_code=50010312091320000002&name=x", ro.csrf),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert_eq!(
            s.cameras("500103-0001", &Default::default())
                .await
                .unwrap()
                .1,
            1
        );

        // Live figures: an event when the ledger changes, and the fragment shows the new count.
        let req = Request::get("/events")
            .header(header::COOKIE, &c)
            .body(Body::empty())
            .unwrap();
        let r = app.clone().oneshot(req).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let mut body = r.into_body().into_data_stream();
        s.edit(
            &crate::docs::document::DocId::ledger(s.unit()),
            "test",
            "network",
            |d| {
                let v = crate::domain::camera::Field::Networked.parse_value("否")?;
                Ok(crate::docs::ledger::set_fields(
                    d,
                    "50010312091320000001",
                    &[(crate::domain::camera::Field::Networked, v)],
                )?)
            },
        )
        .await
        .unwrap();
        let chunk = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tokio_stream::StreamExt::next(&mut body),
        )
        .await
        .expect("an event in time")
        .unwrap()
        .unwrap();
        assert!(
            String::from_utf8_lossy(&chunk).contains("event: figures"),
            "{chunk:?}"
        );
        let req = Request::get("/figures")
            .header(header::COOKIE, &c)
            .body(Body::empty())
            .unwrap();
        let (st, _, body) = send(&app, req).await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("<td class=\"networked\">0</td>"), "{body}");

        // The status and directory pages answer a signed-in user.
        for path in ["/status", "/directory"] {
            let req = Request::get(path)
                .header(header::COOKIE, &c)
                .body(Body::empty())
                .unwrap();
            let (st, _, body) = send(&app, req).await;
            assert_eq!(st, StatusCode::OK, "{path}");
            assert!(body.contains("首页"), "{body}");
        }
        let req = Request::get("/directory")
            .header(header::COOKIE, &c)
            .body(Body::empty())
            .unwrap();
        assert!(send(&app, req).await.2.contains("未报送"));

        // The contacts form: a bad phone is said beside it and nothing is saved; then saved.
        let (st, _, body) = send(
            &app,
            form(
                "/contacts",
                &c,
                format!(
                    "csrf={}&liaison_name=%E5%BC%A0%E6%95%8F&liaison_position=x&liaison_phone=abc",
                    sess.csrf
                ),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("is not a phone number"), "{body}");
        assert!(
            s.profile("500103-0001")
                .await
                .unwrap()
                .unwrap()
                .liaison
                .is_none()
        );
        let (st, _, _) = send(&app, form("/contacts", &c, format!("csrf={}&liaison_name=%E5%BC%A0%E6%95%8F&liaison_position=x&liaison_phone=023-63811234", sess.csrf))).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(
            s.profile("500103-0001")
                .await
                .unwrap()
                .unwrap()
                .liaison
                .unwrap()
                .phone,
            "023-63811234"
        );

        // Import: a sheet with a bad row is previewed with its error and nothing is saved; a good
        // one is previewed, then imported on confirmation.
        let multipart = |csv: &str| {
            let b = "XyZbOuNdArY";
            let body = format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--{b}--\r\n",
                sess.csrf
            );
            Request::post("/import")
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={b}"),
                )
                .header(header::COOKIE, &c)
                .body(Body::from(body))
                .unwrap()
        };
        let before = s
            .cameras("500103-0001", &Default::default())
            .await
            .unwrap()
            .1;
        let (st, _, body) = send(
            &app,
            multipart("设备编码,点位名称\n50010312091320000002,东门\n123,西门\n"),
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("<td>3</td>"), "the bad row is named: {body}");
        assert_eq!(
            s.cameras("500103-0001", &Default::default())
                .await
                .unwrap()
                .1,
            before
        );
        let (st, _, body) = send(
            &app,
            multipart("设备编码,点位名称\n50010312091320000002,东门\n50010312091320000003,西门\n"),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(
            s.cameras("500103-0001", &Default::default())
                .await
                .unwrap()
                .1,
            before,
            "a preview saves nothing"
        );
        let preview = body
            .split("name=\"token\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let (st, _, _) = send(
            &app,
            form(
                "/import/confirm",
                &c,
                format!("csrf={}&token={preview}", sess.csrf),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        assert_eq!(
            s.cameras("500103-0001", &Default::default())
                .await
                .unwrap()
                .1,
            before + 2
        );

        // The chart: the rate over twelve weeks as an SVG line.
        let req = Request::get("/chart.svg")
            .header(header::COOKIE, &c)
            .body(Body::empty())
            .unwrap();
        let (st, h, body) = send(&app, req).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            h[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("image/svg+xml")
        );
        assert!(
            body.contains("<polyline") && body.matches("<circle").count() == 13,
            "{body}"
        );

        // Downloads: the official tables as XLSX.
        let req = Request::get("/download/attachment2")
            .header(header::COOKIE, &c)
            .body(Body::empty())
            .unwrap();
        let r = app.clone().oneshot(req).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 24).await.unwrap();
        assert!(bytes.starts_with(b"PK"), "an XLSX is a zip");
        // Drill-down to a unit outside the subtree is a clear 404.
        let req = Request::get("/unit/500104")
            .header(header::COOKIE, &c)
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, req).await.0, StatusCode::NOT_FOUND);
    }

    /// The sign-in form's CSRF token and its cookie.
    async fn signin_form_token(app: &Router) -> (String, String) {
        let (_, h, _) = send(app, Request::get("/signin").body(Body::empty()).unwrap()).await;
        let token = set_cookie_value(&h, SIGNIN_COOKIE).unwrap();
        let cookie = format!("{SIGNIN_COOKIE}={token}");
        (token, cookie)
    }

    /// `req` as if it came over a connection from `addr`.
    fn from(addr: &str, mut req: Request<Body>) -> Request<Body> {
        req.extensions_mut()
            .insert(ConnectInfo(ClientAddr(addr.parse().unwrap())));
        req
    }

    #[tokio::test]
    async fn six_wrong_passwords_from_one_source_do_not_keep_the_administrator_out() {
        let (_dir, s) = store().await;
        accounts::add_user(&s, "admin", accounts::Role::Editor, "correct horse")
            .await
            .unwrap();
        // Waits long enough that this test never races the clock.
        let throttle = Throttle::new(crate::http::signin::Backoff {
            base: std::time::Duration::from_secs(600),
            cap: std::time::Duration::from_secs(600),
            ..Default::default()
        });
        let app = pages(Web {
            throttle: Arc::new(throttle),
            ..Web::new(s.clone())
        });
        let (token, cookie) = signin_form_token(&app).await;
        let attempt = |from_addr: &'static str, password: &'static str| {
            from(
                from_addr,
                form(
                    "/signin",
                    &cookie,
                    format!("csrf={token}&user=admin&password={password}"),
                ),
            )
        };
        // The attack of issue 11: six wrong passwords for the administrator from one source.
        let mut seen = Vec::new();
        for _ in 0..6 {
            let (st, h, body) = send(&app, attempt("10.0.0.66:40000", "guess")).await;
            if st == StatusCode::TOO_MANY_REQUESTS {
                assert!(body.contains("秒后再试"), "{body}");
                assert!(h.contains_key(header::RETRY_AFTER));
            } else {
                assert!(body.contains("用户名或密码错误"), "{body}");
            }
            seen.push(st.as_u16());
        }
        // Three free failures, a fourth that costs a wait, then that source is slowed down.
        assert_eq!(seen, [401, 401, 401, 401, 429, 429]);
        // Even the right password does not help that source before its wait is over.
        let (st, _, body) = send(&app, attempt("10.0.0.66:40001", "correct+horse")).await;
        assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
        assert!(body.contains("请 600 秒后再试"), "{body}");
        // The administrator, from their own desk, signs in at once.
        let (st, h, _) = send(&app, attempt("10.0.0.1:50000", "correct+horse")).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        assert_eq!(h[header::LOCATION], "/");
        assert!(set_cookie_value(&h, SESSION_COOKIE).is_some());
        // A forwarded-for header from a peer nobody named as a proxy is ignored: the attacker
        // cannot pose as fresh sources.
        let forged = |peer: &'static str| {
            let mut r = attempt(peer, "guess");
            r.headers_mut()
                .insert("x-forwarded-for", HeaderValue::from_static("10.9.9.9"));
            r
        };
        for _ in 0..4 {
            send(&app, forged("10.0.0.77:1")).await;
        }
        assert_eq!(
            send(&app, forged("10.0.0.77:2")).await.0,
            StatusCode::TOO_MANY_REQUESTS
        );
        // Behind a reverse proxy the operator trusts, the forwarded client is the source.
        let trusting = pages(Web {
            trusted_proxies: Arc::new(vec!["127.0.0.1".parse().unwrap()]),
            throttle: Arc::new(Throttle::new(crate::http::signin::Backoff {
                base: std::time::Duration::from_secs(600),
                cap: std::time::Duration::from_secs(600),
                ..Default::default()
            })),
            ..Web::new(s.clone())
        });
        for _ in 0..4 {
            send(&trusting, attempt("10.0.0.66:40000", "guess")).await;
        }
        let mut proxied = attempt("127.0.0.1:50001", "correct+horse");
        proxied
            .headers_mut()
            .insert("x-forwarded-for", HeaderValue::from_static("10.0.0.66"));
        assert_eq!(
            send(&trusting, proxied).await.0,
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    #[tokio::test]
    async fn the_store_keeps_only_the_hash_of_a_session_token() {
        assert_eq!(
            accounts::token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let (dir, s) = store().await;
        accounts::add_user(&s, "zhang", accounts::Role::Editor, "correct horse")
            .await
            .unwrap();
        let app = router(s.clone());
        let (token, cookie) = signin_form_token(&app).await;
        let (st, h, _) = send(
            &app,
            form(
                "/signin",
                &cookie,
                format!("csrf={token}&user=zhang&password=correct+horse"),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        let session = set_cookie_value(&h, SESSION_COOKIE).unwrap();
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
        let c = format!("{SESSION_COOKIE}={session}");
        let req = Request::get("/")
            .header(header::COOKIE, &c)
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, req).await.0, StatusCode::OK);
        let csrf = accounts::session(&s, &session).await.unwrap().unwrap().csrf;
        send(&app, form("/signout", &c, format!("csrf={csrf}"))).await;
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
            .fetch_one(s.pool())
            .await
            .unwrap();
        assert_eq!(left, 0);
    }

    fn assert_security_headers(what: &str, h: &HeaderMap) {
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP, "{what}");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY", "{what}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{what}");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer", "{what}");
    }

    #[tokio::test]
    async fn every_response_carries_the_security_headers() {
        let (_dir, s) = store().await;
        accounts::add_user(&s, "zhang", accounts::Role::Editor, "correct horse")
            .await
            .unwrap();
        let (session, _) = accounts::sign_in(&s, "zhang", "correct horse")
            .await
            .unwrap();
        let c = format!("{SESSION_COOKIE}={session}");
        let app = router(s.clone());
        let get = |path: &str, cookie: &str| {
            Request::get(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap()
        };
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
