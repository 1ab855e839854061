//! The sync status page: the parent and the children, connected or not, since when, the bytes
//! exchanged, what is stuck, and how many refusals are on record.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;

use super::Web;
use super::layout::shell;
use super::session::Signed;
use crate::app::zh::beijing_stamp;

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new().route("/status", get(status))
}

/// Sync status: the parent and the children, connected or not, since when, bytes, refusals.
async fn status(State(web): State<Web>, Signed(s): Signed) -> Response {
    let peers = web.store.peers().await.unwrap_or_default();
    let waiting = web.store.refusal_count().await.unwrap_or(0);
    let mut names = std::collections::HashMap::new();
    for p in &peers {
        let name = web.store.unit_name(&p.peer).await.unwrap_or_default();
        names.insert(p.peer.clone(), name);
    }
    let body = html! {
        p { a href="/" { "首页" } }
        h1 { "同步状态" }
        @if peers.is_empty() { p { "尚未与上级或下级同步（未加入联网，或守护进程未运行）。" } }
        table {
            tr { th.l { "单位" } th.l { "关系" } th.l { "状态" } th.l { "最近同步" } th.l { "断开于" } th { "发送字节" } th { "接收字节" } th.l { "最近错误" } }
            @for p in &peers {
                tr {
                    td.l {
                        @match names.get(&p.peer).filter(|n| !n.is_empty() && **n != p.peer) {
                            Some(n) => { (n) " " span.muted { (p.peer) } }
                            None => { (p.peer) }
                        }
                    }
                    td.l { (if p.relation == "parent" { "上级" } else { "下级" }) }
                    td.l { (if p.connected { "在线" } else { "离线" }) }
                    td.l { (p.last_sync_at.as_deref().map(beijing_stamp).unwrap_or_else(|| "从未".into())) }
                    td.l { (p.disconnected_at.as_deref().map(beijing_stamp).unwrap_or_else(|| "—".into())) }
                    td { (p.bytes_sent) } td { (p.bytes_received) }
                    td.l {
                        @if let Some(since) = &p.stuck_since {
                            strong { "停滞（自 " (beijing_stamp(since)) " 起）：" (p.stuck_reason.clone().unwrap_or_default()) }
                            br;
                        }
                        (p.last_error.as_deref().map(crate::app::zh::sync_error).unwrap_or_else(|| "无".into()))
                    }
                }
            }
        }
        p { "已拒绝的连接或数据：" (waiting) }
    };
    shell(&web, &s, "同步状态", body).into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use crate::http::router;
    use crate::http::testing::*;

    #[tokio::test]
    async fn the_status_page_says_when_nothing_syncs_yet() {
        let (_dir, s) = store().await;
        let (c, _) = signed_in(&s, "li", crate::app::accounts::Role::ReadOnly).await;
        let (st, _, body) = send(&router(s.clone()), get("/status", &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains("同步状态")
                && body.contains("尚未与上级或下级同步")
                && body.contains("已拒绝的连接或数据：0")
                && body.contains("首页"),
            "{body}"
        );
    }
}
