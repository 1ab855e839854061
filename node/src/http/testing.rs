//! What the pages' unit tests share: a unit's store, requests in-process, a signed-in editor.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use tower::ServiceExt;

use crate::app::accounts;
use crate::store::Store;

pub const UNIT: &str = "500103-0001";
pub const SESSION_COOKIE: &str = "yl_session_500103-0001";
pub const SIGNIN_COOKIE: &str = "yl_signin_500103-0001";
/// A camera of the unit's ledger.
pub const CAM1: &str = "50010312091320000001";

/// A hospital's store, empty.
pub async fn store() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let unit = crate::domain::unit::UnitCode::parse(UNIT).unwrap();
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

/// The answer to `req`: status, headers, body.
pub async fn send(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let r = app.clone().oneshot(req).await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let body = axum::body::to_bytes(r.into_body(), 1 << 24).await.unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// A GET of `uri` with `cookie`.
pub fn get(uri: &str, cookie: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

/// A form posted to `uri` with `cookie`.
pub fn form(uri: &str, cookie: &str, body: String) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(body))
        .unwrap()
}

/// The value a response sets cookie `name` to.
pub fn set_cookie_value(h: &HeaderMap, name: &str) -> Option<String> {
    h.get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{name}="))
                .map(|r| r.split(';').next().unwrap_or("").to_string())
        })
}

/// A signed-in account of `role` named `user`: its session cookie and its forms' CSRF token.
pub async fn signed_in(s: &Store, user: &str, role: accounts::Role) -> (String, String) {
    accounts::add_user(s, user, role, "correct horse")
        .await
        .unwrap();
    let (token, session) = accounts::sign_in(s, user, "correct horse").await.unwrap();
    (format!("{SESSION_COOKIE}={token}"), session.csrf)
}

/// An editor's session cookie and CSRF token.
pub async fn editor(s: &Store) -> (String, String) {
    signed_in(s, "zhang", accounts::Role::Editor).await
}

/// How many cameras the unit's ledger holds.
pub async fn cameras(s: &Store) -> i64 {
    s.cameras(UNIT, &Default::default()).await.unwrap().1
}

/// Adds camera `code` named `name` (networked) to the ledger.
pub async fn add_camera(s: &Store, code: &str, name: &str) {
    use crate::domain::camera::{Field, Value};
    let code = crate::domain::device_code::DeviceCode::parse(code).unwrap();
    let fields = vec![
        (Field::Name, Value::Text(name.into())),
        (Field::Networked, Value::Bool(true)),
    ];
    crate::app::cameras::add(s, "test", code, fields)
        .await
        .unwrap();
}
