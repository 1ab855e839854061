//! Who is asking: sign-in and sign-out with local accounts, the session and sign-in cookies, the
//! CSRF tokens of forms, the `Signed` extractor that sends a browser without a session to sign
//! in, and the source of a request as the sign-in backoff (`crate::http::signin`) counts it.

use std::net::IpAddr;

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{expired_form, page, read_only};
use super::{ClientAddr, Web};
use crate::app::accounts::{self, AccountError, Session};
use crate::app::zh::Zh;
use crate::domain::unit::UnitCode;

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
}

/// The session cookie of `unit`'s pages. Named per unit, so that several units' pages on one
/// host (a demo, a bureau's server) keep their sessions apart: cookies ignore the port.
pub fn session_cookie(unit: &UnitCode) -> String {
    format!("yl_session_{unit}")
}

/// The sign-in form's CSRF cookie of `unit`'s pages.
pub fn signin_cookie(unit: &UnitCode) -> String {
    format!("yl_signin_{unit}")
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

/// The value of cookie `name` of a request.
pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
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
pub(super) fn refused(web: &Web, s: &Session, csrf: Option<&str>) -> Option<Response> {
    if s.role != accounts::Role::Editor {
        return Some(read_only(web, s));
    }
    if csrf != Some(s.csrf.as_str()) {
        return Some(expired_form(web, s));
    }
    None
}

/// The session of a request's cookie, if it is a live one.
async fn current(web: &Web, headers: &HeaderMap) -> Option<Session> {
    let token = cookie(headers, &session_cookie(web.store.unit()))?;
    accounts::session(&web.store, &token).await.ok().flatten()
}

/// The name of the unit these pages belong to (its code until a name is set).
async fn unit_name(web: &Web) -> String {
    let unit = web.store.unit().as_str();
    match web.store.profile(unit).await {
        Ok(Some(p)) if !p.name.trim().is_empty() => p.name,
        _ => unit.to_string(),
    }
}

fn signin_form(unit: &str, csrf: &str, user: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { "应联 · 登录" }
        p.unit { "本页面属于：" strong { (unit) } }
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
    let unit = unit_name(&web).await;
    let mut r = page("登录", signin_form(&unit, &csrf, "", None)).into_response();
    set_cookie(&mut r, &signin_cookie(web.store.unit()), &csrf, web.tls);
    r
}

/// A fresh random token (a CSRF token, an upload's name).
pub(super) fn new_token() -> String {
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
    let unit = unit_name(&web).await;
    if expected.as_deref() != Some(f.csrf.as_str()) {
        return (
            StatusCode::FORBIDDEN,
            page(
                "登录",
                signin_form(&unit, &f.csrf, &f.user, Some("表单已过期，请重新登录")),
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
                signin_form(&unit, &f.csrf, &f.user, Some(&wait.to_string())),
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
                page("登录", signin_form(&unit, &f.csrf, &f.user, Some(&e.zh()))),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in");
            (StatusCode::INTERNAL_SERVER_ERROR, "登录失败，请稍后再试").into_response()
        }
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
        return expired_form(&web, &s);
    }
    if let Some(token) = cookie(&headers, &session_cookie(web.store.unit())) {
        let _ = accounts::end_session(&web.store, &token).await;
    }
    Redirect::to("/signin").into_response()
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::extract::connect_info::ConnectInfo;
    use axum::http::{HeaderValue, Request, StatusCode, header};
    use std::sync::Arc;

    use crate::app::accounts;
    use crate::http::signin::Throttle;
    use crate::http::testing::*;
    use crate::http::{ClientAddr, Web, pages, router};

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
    async fn without_a_session_only_the_health_check_answers() {
        let (_dir, s) = store().await;
        let app = router(s.clone());
        let (st, _, body) = send(&app, get("/healthz", "")).await;
        assert_eq!((st, body.as_str()), (StatusCode::OK, "ok"));
        for path in ["/", "/cameras", "/cameras/new", "/contacts", "/anything"] {
            let (st, h, _) = send(&app, get(path, "")).await;
            assert_eq!(st, StatusCode::SEE_OTHER, "{path}");
            assert_eq!(h[header::LOCATION], "/signin");
        }
        // A cookie that opens no session is no better.
        let (st, _, _) = send(&app, get("/", &format!("{SESSION_COOKIE}=forged"))).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
    }

    #[tokio::test]
    async fn signing_in_checks_the_form_token_and_the_password() {
        let (_dir, s) = store().await;
        accounts::add_user(&s, "zhang", accounts::Role::Editor, "correct horse")
            .await
            .unwrap();
        let app = router(s.clone());
        // The sign-in form hands out its CSRF token in a cookie and the form.
        let (st, _, body) = send(&app, get("/signin", "")).await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("登录"));
        assert!(
            body.contains("本页面属于：<strong>重庆市渝中区人民医院</strong>"),
            "the sign-in page names its unit: {body}"
        );
        let (token, cookie) = signin_form_token(&app).await;
        // A forged form (wrong token) is refused.
        let (st, _, body) = send(
            &app,
            form(
                "/signin",
                &cookie,
                "csrf=forged&user=zhang&password=correct+horse".into(),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert!(body.contains("表单已过期"), "{body}");
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
        assert_eq!(h[header::LOCATION], "/");
        let session = set_cookie_value(&h, SESSION_COOKIE).unwrap();
        let c = format!("{SESSION_COOKIE}={session}");
        let (st, _, body) = send(&app, get("/", &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains("重庆市渝中区人民医院") && body.contains("已建"),
            "{body}"
        );
        // Signed in, the sign-in page sends the browser home.
        let (st, h, _) = send(&app, get("/signin", &c)).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        assert_eq!(h[header::LOCATION], "/");
        // Signing out needs the session's CSRF token; with it, the session ends.
        let (st, _, _) = send(&app, form("/signout", &c, "csrf=forged".into())).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert_eq!(send(&app, get("/", &c)).await.0, StatusCode::OK);
        let csrf = accounts::session(&s, &session).await.unwrap().unwrap().csrf;
        let (st, h, _) = send(&app, form("/signout", &c, format!("csrf={csrf}"))).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        assert_eq!(h[header::LOCATION], "/signin");
        assert_eq!(send(&app, get("/", &c)).await.0, StatusCode::SEE_OTHER);
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
}
