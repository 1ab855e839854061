//! The unit's figures: the home page (the subtree's table, the next milestone, the children
//! offline, the chart), the table alone (`/figures`, fetched again when the server-sent events
//! say it changed) and the drill-down into a unit of the subtree.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};

use super::Web;
use super::layout::{not_found, page};
use super::session::Signed;
use crate::app::accounts;
use crate::app::zh::{beijing_date, when};
use crate::domain::figures::{Stats, show_rate};

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/", get(home))
        .route("/figures", get(figures))
        .route("/events", get(events))
        .route("/unit/{code}", get(unit_page))
}

/// The figures table of a subtree: a row for its unit, one per direct child.
fn figures_table(stats: &Stats) -> Markup {
    let row = |st: &Stats| {
        html! {
            tr data-unit=(st.unit) {
                td.l { a href=(format!("/unit/{}", st.unit)) { (st.unit) } } td.l { (st.name) }
                td { (st.built) } td { (st.must_network) } td.networked { (st.networked) }
                td { (show_rate(st.networking_rate)) } td { (show_rate(st.archive_rate)) }
                td { (show_rate(st.geo_rate)) } td { (show_rate(st.intact_rate)) }
                td.l { (st.milestone.as_ref().map(|m| m.status.chinese()).unwrap_or("")) }
            }
        }
    };
    html! {
        table {
            tr { th.l { "单位" } th.l { "名称" } th { "已建" } th { "应联网" } th { "已联网" } th { "联网率" } th { "建档率" } th { "标注率" } th { "完好率" } th.l { "节点" } }
            (row(stats))
            @for c in &stats.children { (row(c)) }
        }
        p { "数据截至 " (when(&stats.as_of)) }
    }
}

async fn home(State(web): State<Web>, Signed(s): Signed) -> Response {
    let stats = match crate::app::figures::subtree_stats(&web.store, None).await {
        Ok(st) => st,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    // Children that are not connected now, and since when.
    let offline = web.store.offline_children().await.unwrap_or_default();
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
            p { "下一节点：" (m.title) "（" (beijing_date(m.deadline)) "，目标 " (m.target) "%）当前 " (format!("{:.2}", m.current)) "% — " (m.status.chinese()) }
        }
        div #figures { (figures_table(&stats)) }
        @if !offline.is_empty() {
            h2 { "未在线的下级" }
            ul { @for (unit, since) in &offline { li.err { (unit) " — " (since.clone().map(|s| format!("离线自 {}", when(&s))).unwrap_or_else(|| "从未连接".into())) } } }
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
        Err(e) => not_found(html! { (e.to_string()) }, "/", "返回首页"),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use tower::ServiceExt;

    use crate::http::router;
    use crate::http::testing::*;

    #[tokio::test]
    async fn the_home_page_shows_the_figures_and_links_every_page() {
        let (_dir, s) = store().await;
        add_camera(&s, CAM1, "门诊").await;
        let (c, _) = editor(&s).await;
        let app = router(s.clone());
        let (st, _, body) = send(&app, get("/", &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains("重庆市渝中区人民医院 · 视频监控联网整合")
                && body.contains("<td class=\"networked\">1</td>")
                && body.contains("zhang (编辑)"),
            "{body}"
        );
        for link in [
            "/cameras",
            "/directory",
            "/status",
            "/contacts",
            "/download/attachment1",
            "/chart.svg",
        ] {
            assert!(body.contains(&format!("\"{link}\"")), "{link}: {body}");
        }
        // A hospital has no children, so none is offline.
        assert!(!body.contains("未在线的下级"), "{body}");
    }

    #[tokio::test]
    async fn the_figures_move_live_when_the_ledger_changes() {
        let (_dir, s) = store().await;
        add_camera(&s, CAM1, "门诊").await;
        let (c, _) = editor(&s).await;
        let app = router(s.clone());
        // An event when the ledger changes, and the fragment shows the new count.
        let r = app.clone().oneshot(get("/events", &c)).await.unwrap();
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
                    CAM1,
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
        let (st, _, body) = send(&app, get("/figures", &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("<td class=\"networked\">0</td>"), "{body}");
    }

    #[tokio::test]
    async fn the_drill_down_shows_a_unit_of_the_subtree_and_refuses_others() {
        let (_dir, s) = store().await;
        let (c, _) = editor(&s).await;
        let app = router(s.clone());
        let (st, _, body) = send(&app, get(&format!("/unit/{UNIT}"), &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains(&format!("/unit/{UNIT}/cameras")) && body.contains("已建"),
            "{body}"
        );
        // Outside the subtree: a clear 404.
        let (st, _, body) = send(&app, get("/unit/500104", &c)).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert!(body.contains("返回首页"), "{body}");
    }
}
