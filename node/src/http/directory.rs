//! The liaison directory: the contacts of the subtree's units and of the unit above, searchable,
//! with the ones not reported yet marked.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;
use serde::Deserialize;

use super::Web;
use super::cameras::{PAGE, pager};
use super::layout::shell;
use super::session::Signed;

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new().route("/directory", get(directory))
}

#[derive(Deserialize, Default)]
struct DirQuery {
    q: Option<String>,
    /// Only the units that have not reported both contacts.
    missing: Option<String>,
    page: Option<i64>,
}

/// The liaison directory of the subtree and of the unit above.
async fn directory(
    State(web): State<Web>,
    Signed(s): Signed,
    Query(dq): Query<DirQuery>,
) -> Response {
    let mut list = crate::app::directory::visible(&web.store, dq.q.as_deref())
        .await
        .unwrap_or_default();
    let only_missing = dq.missing.is_some();
    if only_missing {
        list.retain(|e| !e.missing.is_empty());
    }
    let total = list.len() as i64;
    let page_no = dq.page.unwrap_or(1).max(1);
    let shown = list
        .iter()
        .skip(((page_no - 1) * PAGE) as usize)
        .take(PAGE as usize);
    let q = dq.q.clone().unwrap_or_default();
    let href = |missing: bool, page: i64| {
        let mut parts = vec![format!("page={page}")];
        if !q.is_empty() {
            parts.push(format!("q={}", super::layout::enc(&q)));
        }
        if missing {
            parts.push("missing=1".into());
        }
        format!("/directory?{}", parts.join("&"))
    };
    let show = |c: &Option<crate::domain::contacts::Contact>| match c {
        Some(c) => format!("{} {} {}", c.name, c.position, c.phone),
        None => "未报送".to_string(),
    };
    // One class attribute per cell: a second one (`td.l class=…`) is dropped by the browser.
    let missing = |c: &Option<crate::domain::contacts::Contact>| {
        if c.is_none() { "l err unreported" } else { "l" }
    };
    let body = html! {
        p { a href="/" { "首页" } }
        h1 { "联络人名录" }
        form method="get" action="/directory" {
            input name="q" value=(q) placeholder="单位、姓名或电话";
            @if only_missing { input type="hidden" name="missing" value="1"; }
            button type="submit" { "查询" }
        }
        p {
            @if only_missing {
                "只看未报送联络人的单位：共 " (total) " 个。" a href=(href(false, 1)) { "查看全部单位" }
            } @else {
                "共 " (total) " 个单位。" a href=(href(true, 1)) { "只看未报送联络人的单位" }
            }
        }
        @if list.is_empty() {
            p { "没有符合条件的单位。" }
        } @else {
        table {
            tr { th.l { "单位" } th.l { "名称" } th.l { "分管领导" } th.l { "联络员" } }
            @for e in shown {
                tr {
                    td.l { (e.unit) } td.l { (e.name) }
                    td class=(missing(&e.leader)) { (show(&e.leader)) }
                    td class=(missing(&e.liaison)) { (show(&e.liaison)) }
                }
            }
        }
        }
        (pager(total, page_no, |n| href(only_missing, n)))
    };
    shell(&web, &s, "联络人名录", body).into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use crate::http::router;
    use crate::http::testing::*;

    #[tokio::test]
    async fn the_directory_lists_the_unit_and_marks_what_is_not_reported() {
        let (_dir, s) = store().await;
        let (c, _) = signed_in(&s, "li", crate::app::accounts::Role::ReadOnly).await;
        let (st, _, body) = send(&router(s.clone()), get("/directory", &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains("联络人名录")
                && body.contains(UNIT)
                && body.contains("未报送")
                && body.contains("首页"),
            "{body}"
        );
        // The marker is styled: one class attribute, holding err (a second one would be dropped).
        assert!(
            body.contains("<td class=\"l err unreported\">未报送</td>"),
            "{body}"
        );
        assert!(!body.contains("class=\"l\" class="), "{body}");
        // Only the units that have not reported, and a search that finds nothing, say so.
        let app = router(s.clone());
        let (_, _, body) = send(&app, get("/directory?missing=1", &c)).await;
        assert!(body.contains("只看未报送联络人的单位：共 1 个"), "{body}");
        let (_, _, body) = send(
            &app,
            get("/directory?q=%E6%97%A0%E6%AD%A4%E5%8D%95%E4%BD%8D", &c),
        )
        .await;
        assert!(body.contains("没有符合条件的单位"), "{body}");
    }
}
