//! The liaison directory: the contacts of the subtree's units and of the unit above, searchable,
//! with the ones not reported yet marked.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;
use serde::Deserialize;

use super::Web;
use super::layout::shell;
use super::session::Signed;

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new().route("/directory", get(directory))
}

#[derive(Deserialize, Default)]
struct DirQuery {
    q: Option<String>,
}

/// The liaison directory of the subtree and of the unit above.
async fn directory(
    State(web): State<Web>,
    Signed(s): Signed,
    Query(dq): Query<DirQuery>,
) -> Response {
    let list = crate::app::directory::visible(&web.store, dq.q.as_deref())
        .await
        .unwrap_or_default();
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
            input name="q" value=(dq.q.clone().unwrap_or_default()) placeholder="单位、姓名或电话";
            button type="submit" { "查询" }
        }
        table {
            tr { th.l { "单位" } th.l { "名称" } th.l { "分管领导" } th.l { "联络员" } }
            @for e in &list {
                tr {
                    td.l { (e.unit) } td.l { (e.name) }
                    td class=(missing(&e.leader)) { (show(&e.leader)) }
                    td class=(missing(&e.liaison)) { (show(&e.liaison)) }
                }
            }
        }
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
    }
}
