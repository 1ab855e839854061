//! The frame every page shares: the HTML page with its title, the style sheet, the home page's
//! live script, the read-only refusal and the "not found" page; and URL encoding.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};

use super::Web;

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/assets/yl.css", get(style))
        .route("/assets/live.js", get(live_script))
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
pub(super) const LIVE_JS: &str = "new EventSource('/events').addEventListener('figures',function(){fetch('/figures').then(function(r){return r.text()}).then(function(h){document.getElementById('figures').innerHTML=h})});\n";

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

pub(super) fn page(title: &str, body: Markup) -> Html<String> {
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
td.l,th.l{text-align:left}.err{color:#b00020}form.inline{display:inline}label{display:block;margin:8px 0}
label.inline{display:inline;margin:0 8px}p.conflict{margin:0 0 8px 2em}";

/// The refusal of a change by a read-only account.
pub(super) fn read_only() -> Response {
    (
        StatusCode::FORBIDDEN,
        page(
            "只读账户",
            html! { h1 { "只读账户不能修改台账" } p { a href="/" { "返回首页" } } },
        ),
    )
        .into_response()
}

/// A 404 page saying `what`, with a link back to `back` (`back_label`).
pub(super) fn not_found(what: Markup, back: &str, back_label: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        page(
            "未找到",
            html! { h1 { (what) } p { a href=(back) { (back_label) } } },
        ),
    )
        .into_response()
}

/// Percent-encodes `s` for a URL's query or a header's `filename*`.
pub(super) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
