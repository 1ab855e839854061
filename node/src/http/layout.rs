//! The frame every page shares: the HTML page with its title, the one style sheet, the
//! navigation bar naming the unit and the person signed in (`shell`), the home page's live script
//! and the print button's, the read-only refusal and the "not found" page; and URL encoding.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};

use super::Web;
use crate::app::accounts::{Role, Session};

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/assets/yl.css", get(style))
        .route("/assets/live.js", get(live_script))
        .route("/assets/print.js", get(print_script))
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
/// again (no reload), sorted as the page is.
pub(super) const LIVE_JS: &str = "new EventSource('/events').addEventListener('figures',function(){fetch('/figures'+location.search).then(function(r){return r.text()}).then(function(h){document.getElementById('figures').innerHTML=h})});\n";

/// The script of a printable page: its button opens the browser's print dialog.
const PRINT_JS: &str =
    "document.getElementById('print').addEventListener('click',function(){window.print()});\n";

fn script(js: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        js,
    )
        .into_response()
}

async fn live_script() -> Response {
    script(LIVE_JS)
}

async fn print_script() -> Response {
    script(PRINT_JS)
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

/// A signed-in page: the navigation bar (the unit's name, the pages — import only for an editor —,
/// who is signed in and the sign-out button), then `body`. A feed subscriber's bar leads to its
/// one page.
pub(super) fn shell(web: &Web, s: &Session, title: &str, body: Markup) -> Html<String> {
    let me = web.store.identity();
    let role = if s.role == Role::Editor {
        "编辑"
    } else {
        "只读"
    };
    let nav = html! {
        header.top {
            div.unit { a href="/" { (me.name) } span.sub { "公共安全视频监控联网整合" } }
            @if me.kind == crate::domain::unit::UnitKind::Subscriber {
                // A feed subscriber (the police) has one read-only page.
                nav { a href="/" { "公安视图" } }
            } @else {
            nav {
                a href="/" { "进度概况" }
                @if me.is_hub() { a href="/league" { "下级排名" } }
                a href="/cameras" { "摄像机台账" }
                a href="/worklists" { "待办清单" }
                a href="/quality" { "数据质量" }
                a href="/operations" { "安全运维" }
                @if s.role == Role::Editor { a href="/import" { "导入" } }
                a href="/directory" { "联络人目录" }
                a href="/contacts" { "本单位联络人" }
                a href="/attachment2" { "附件2" }
                a href="/reports" { "报送" }
                a href="/status" { "同步状态" }
            }
            }
            div.who {
                (s.user) "（" (role) "）"
                form.inline method="post" action="/signout" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    button type="submit" { "退出" }
                }
            }
        }
    };
    page(title, html! { (nav) main { (body) } })
}

const CSS: &str = "*{box-sizing:border-box}
body{font-family:'Microsoft YaHei','PingFang SC','Noto Sans CJK SC',sans-serif;font-size:14px;margin:0;color:#1f2933;background:#f3f5f8}
main{max-width:1320px;margin:0 auto;padding:12px 16px 32px}
body>h1,body>p,body>form,body>table,body>ul,body>h2,body>div{margin-left:16px;margin-right:16px}
header.top{display:flex;flex-wrap:wrap;align-items:center;gap:4px 20px;background:#0b4f8a;color:#fff;padding:8px 16px;border-bottom:3px solid #c8102e}
header.top a{color:#fff;text-decoration:none}header.top .unit a{font-size:18px;font-weight:bold}
header.top .sub{font-size:12px;opacity:.8;margin-left:10px}header.top nav{display:flex;flex-wrap:wrap;gap:2px;flex:1}
header.top nav a{padding:4px 10px;border-radius:3px}header.top nav a:hover{background:#1565c0}
header.top .who{font-size:13px}header.top button{margin-left:8px}
h1{font-size:20px;margin:12px 0}h2{font-size:16px;margin:20px 0 8px;border-left:4px solid #0b4f8a;padding-left:8px}
a{color:#0b4f8a}
table{border-collapse:collapse;background:#fff;margin:6px 0}td,th{border:1px solid #c5ccd6;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#e6edf5;font-weight:600}th a{color:#1f2933;text-decoration:none}th a.on{text-decoration:underline}
td.l,th.l{text-align:left;white-space:normal}tr.total td{font-weight:bold;background:#eef2f7}tr.own td{background:#fbfbf4}
td.good{color:#1b5e20;background:#e8f5e9}td.warn{color:#8a5300;background:#fff4e0}td.bad{color:#b00020;background:#fdecee}
span.good{color:#1b5e20}span.warn{color:#8a5300}span.bad{color:#b00020}.missing{color:#b00020}
.err{color:#b00020}p.refused{background:#fdecee;border:1px solid #f3b6bf;padding:6px 10px}p.saved{color:#1b5e20;background:#e8f5e9;border:1px solid #a5d6a7;padding:6px 10px}.muted{color:#66717d;font-size:12px}form.inline{display:inline}label{display:block;margin:8px 0}
label.inline{display:inline;margin:0 8px}p.conflict{margin:0 0 8px 2em}
label.field span.name{display:inline-block;min-width:7.5em}.hint{color:#66717d;font-size:12px}
fieldset{background:#fff;border:1px solid #c5ccd6;margin:10px 0}legend{font-weight:600;padding:0 4px}
ul.tabs{display:flex;flex-wrap:wrap;gap:6px;list-style:none;padding:0;margin:8px 0}ul.tabs li{background:#fff;border:1px solid #c5ccd6;padding:5px 12px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}.card{background:#fff;border:1px solid #c5ccd6;border-left:4px solid #0b4f8a;padding:6px 14px;min-width:120px}
.card b{display:block;font-size:20px}.card.bad{border-left-color:#b00020}.card.warn{border-left-color:#e69500}
.legend span{margin-right:12px}
.a2{background:#fff;padding:12px 20px}.a2 h1{text-align:center;font-size:22px}table.a2{width:100%}table.a2 td,table.a2 th{white-space:normal}table.a2 th{text-align:center}
button{font-family:inherit;padding:3px 12px;cursor:pointer}
.print-only{display:none}
@media print{header.top,.no-print{display:none}body{background:#fff}main{max-width:none;padding:0}.print-only{display:block}
table{width:100%}td,th{border-color:#000}}
@media (max-width:1400px){td,th{padding:3px 6px}}";

/// The refusal of a change by a read-only account, inside the frame.
pub(super) fn read_only(web: &Web, s: &Session) -> Response {
    (
        StatusCode::FORBIDDEN,
        shell(
            web,
            s,
            "只读账户",
            html! {
                h1 { "只读账户不能修改台账" }
                p { "本账户可以查看各页；填报和修改请使用编辑账户登录。" }
                p { a href="/" { "返回首页" } }
            },
        ),
    )
        .into_response()
}

/// The refusal of a form whose CSRF token is not the session's (an old page, or another
/// site's form), inside the frame.
pub(super) fn expired_form(web: &Web, s: &Session) -> Response {
    (
        StatusCode::FORBIDDEN,
        shell(
            web,
            s,
            "表单已过期",
            html! {
                h1 { "表单已过期，请刷新页面后重试" }
                p { "这张表单不是本次登录打开的（页面太旧，或来自别处），没有保存任何内容。" }
                p { a href="/" { "返回首页" } }
            },
        ),
    )
        .into_response()
}

/// A 404 page inside the frame (the navigation bar naming the unit): `what`, in Chinese, and a
/// link back to `back` (`back_label`).
pub(super) fn not_found(
    web: &Web,
    s: &Session,
    what: Markup,
    back: &str,
    back_label: &str,
) -> Response {
    (
        StatusCode::NOT_FOUND,
        shell(
            web,
            s,
            "未找到",
            html! { h1 { (what) } p { a href=(back) { (back_label) } } },
        ),
    )
        .into_response()
}

/// Above a refused form, where the page opens: that nothing was saved and how many messages
/// beside the fields say why (a field far down the page is out of sight otherwise).
pub(super) fn refusal_summary(errors: usize) -> Markup {
    html! {
        @if errors > 0 {
            p.err.refused { "未保存：有 " (errors) " 处需要修改，请按下方标红的提示改正后再保存。" }
        }
    }
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

/// Resolves when the server stops (`shutdown` turns true); never without a shutdown signal.
pub(super) async fn stopped(shutdown: Option<tokio::sync::watch::Receiver<bool>>) {
    match shutdown {
        Some(mut s) => {
            let _ = s.wait_for(|stop| *stop).await;
        }
        None => std::future::pending().await,
    }
}

/// A live page's server-sent events: what `rx` receives, kept alive while the page is open.
pub(super) fn event_stream(
    rx: tokio::sync::mpsc::Receiver<axum::response::sse::Event>,
) -> Response {
    use axum::response::sse::{KeepAlive, Sse};
    let stream = tokio_stream::StreamExt::map(
        tokio_stream::wrappers::ReceiverStream::new(rx),
        Ok::<_, std::convert::Infallible>,
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use crate::app::accounts::Role;
    use crate::http::router;
    use crate::http::testing::*;

    #[tokio::test]
    async fn a_page_not_found_is_shown_in_the_frame_in_chinese_with_a_way_back() {
        let (_dir, s) = store().await;
        add_camera(&s, CAM1, "门诊").await;
        let (c, _) = editor(&s).await;
        let app = router(s.clone());
        let unknown_camera = "50010312091320009999";
        for (path, says, back) in [
            ("/nothing-here", "未找到此页", "/"),
            (
                &format!("/cameras/{unknown_camera}") as &str,
                "台账中没有摄像机 50010312091320009999",
                "/cameras",
            ),
            (
                &format!("/cameras/{unknown_camera}/history"),
                "台账中没有摄像机 50010312091320009999",
                "/cameras",
            ),
            (
                "/unit/500199",
                "没有单位代码为 500199 的单位，或其数据尚未同步到本级",
                "/",
            ),
            ("/unit/no%20such!", "没有单位代码为 no such! 的单位", "/"),
            (
                "/unit/not!a!code/cameras",
                "没有单位代码为 not!a!code 的单位",
                "/",
            ),
            (
                "/download/attachment9",
                "没有这张表：只有附件1和附件2可以下载",
                "/",
            ),
        ] {
            let (st, _, body) = send(&app, get(path, &c)).await;
            assert_eq!(st, StatusCode::NOT_FOUND, "{path}");
            // The frame: the navigation bar naming the unit, the person signed in, the sign-out.
            assert!(
                body.contains("<header class=\"top\">")
                    && body.contains("重庆市渝中区人民医院")
                    && body.contains("zhang（编辑）")
                    && body.contains("action=\"/signout\""),
                "{path}: {body}"
            );
            assert!(body.contains(says), "{path}: {body}");
            assert!(
                body.contains(&format!("<a href=\"{back}\">返回")),
                "{path}: {body}"
            );
            assert!(
                !body.to_lowercase().contains("not found") && !body.contains("unit code"),
                "{path}: {body}"
            );
        }
        // A page past the last, in the frame too, says so and leads to the last.
        let (st, _, body) = send(&app, get("/cameras?page=9", &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains("<header class=\"top\">")
                && body.contains("第 9 页超出范围（共 1 页）")
                && body.contains("/cameras?q=&amp;page=1"),
            "{body}"
        );
        // Without a session there is no page, found or not: sign in first.
        let (st, h, _) = send(&app, get("/nothing-here", "")).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        assert_eq!(h[axum::http::header::LOCATION], "/signin");
    }

    #[tokio::test]
    async fn a_refused_change_is_said_inside_the_frame() {
        let (_dir, s) = store().await;
        add_camera(&s, CAM1, "门诊").await;
        let (editor_cookie, _) = editor(&s).await;
        let (viewer, viewer_csrf) = signed_in(&s, "li", Role::ReadOnly).await;
        let app = router(s.clone());
        let framed = |body: &str| {
            body.contains("<header class=\"top\">") && body.contains("重庆市渝中区人民医院")
        };
        // A read-only account: no import in its navigation; a change refused in the frame.
        let (_, _, home) = send(&app, get("/", &viewer)).await;
        assert!(
            framed(&home) && !home.contains("href=\"/import\""),
            "{home}"
        );
        // (No campaign here: the legend says so rather than listing nothing.)
        assert!(
            home.contains("对照目标：尚未收到上级下发的阶段目标"),
            "{home}"
        );
        let (_, _, home) = send(&app, get("/", &editor_cookie)).await;
        assert!(home.contains("href=\"/import\""), "{home}");
        for (st, body) in [
            send(&app, get("/import", &viewer)).await,
            send(
                &app,
                form(
                    &format!("/cameras/{CAM1}"),
                    &viewer,
                    format!("csrf={viewer_csrf}&name=x&shown_name=门诊"),
                ),
            )
            .await,
        ]
        .map(|(st, _, body)| (st, body))
        {
            assert_eq!(st, StatusCode::FORBIDDEN);
            assert!(
                framed(&body) && body.contains("只读账户不能修改台账"),
                "{body}"
            );
        }
        // An editor's form with another token: expired, in the frame, nothing saved.
        let (st, _, body) = send(
            &app,
            form(
                &format!("/cameras/{CAM1}"),
                &editor_cookie,
                "csrf=forged&name=x&shown_name=%E9%97%A8%E8%AF%8A".into(),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert!(framed(&body) && body.contains("表单已过期"), "{body}");
        assert_eq!(
            s.camera(UNIT, CAM1).await.unwrap().unwrap().camera.name(),
            "门诊"
        );
    }

    #[tokio::test]
    async fn without_a_session_nothing_is_found() {
        let (_dir, s) = store().await;
        let app = router(s.clone());
        let (st, h, _) = send(&app, get("/nothing-here", "")).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        assert_eq!(h[axum::http::header::LOCATION], "/signin");
    }
}
