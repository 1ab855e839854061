//! The police officer's page (公安视图) of a feed subscriber: the figures of the scope it follows,
//! one row per unit as last received (the dashboards' columns and formatting), the scope's
//! totals, when each row last changed, whether the stream is connected now and the latest
//! changes; it moves live (server-sent events whenever the follower stored something or its
//! connection changed). A drill-down shows a unit's own children. Read-only: nothing on these
//! pages changes anything. A refused subscription says so, in Chinese.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use tokio::sync::watch;

use super::Web;
use super::figures::{Sorting, figure_cells, figure_heads, sort_head};
use super::layout::{not_found, shell};
use super::session::Signed;
use crate::app::figures::{SortBy, Targets, sort_children};
use crate::app::zh::{beijing_clock, beijing_stamp, beijing_time};
use crate::domain::figures::{Stats, show_rate};
use crate::federation::subscriber::FeedState;
use crate::store::{Received, ReceivedChange};

/// How many of the latest changes the page lists.
pub const RECENT: i64 = 20;

/// What the page watches: the scope followed (as the follower keys it: empty for the scope
/// enrolled) and the follower's state.
#[derive(Clone)]
pub struct Watching {
    pub scope: String,
    pub state: watch::Receiver<FeedState>,
}

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/", get(home))
        .route("/figures", get(fragment))
        .route("/events", get(events))
        .route("/unit/{code}", get(unit_page))
}

/// The row of the scope's own totals: the one row a hub holds of itself.
fn root(rows: &[Received]) -> Option<&Received> {
    rows.iter().find(|r| r.hub == r.stats.unit)
}

/// The rows whose rollup is `hub`'s (its children), but `hub`'s own.
fn children_of(rows: &[Received], hub: &str) -> Vec<Stats> {
    rows.iter()
        .filter(|r| r.hub == hub && r.stats.unit != hub)
        .map(|r| r.stats.clone())
        .collect()
}

/// Whether the stream is connected now; a refusal first.
fn connection(st: &FeedState) -> Markup {
    html! {
        p #feed-state {
            "订阅状态："
            @if let Some(why) = &st.refused {
                span.bad { "订阅已被拒绝：" (why) "。" }
                " 以下是此前收到的数据，不再更新。"
            } @else if st.connected {
                span.good { "已连接" }
                @if let Some(t) = st.since { "（自 " (beijing_time(t)) " 起）" }
            } @else if let Some(t) = st.last_connected {
                span.warn { "正在重连，上次连接于 " (beijing_time(t)) }
            } @else {
                span.warn { "正在连接上级…" }
            }
        }
    }
}

/// The table of `hub`'s children as received, sorted as asked, then `total` (the 合计 row, or
/// the unit's own row when it has no children); each row with when it last changed.
fn table(total: &Stats, mut children: Vec<Stats>, sorting: &Sorting, base: &str) -> Markup {
    let none = Targets::default();
    sort_children(&mut children, sorting.by(), sorting.descending());
    let leaf = children.is_empty();
    html! {
        table.figures {
            tr {
                th.l { (sort_head("单位名称", SortBy::Name, sorting, base)) }
                (figure_heads(Some((sorting, base))))
                th.l { "最近变更" }
            }
            @for c in &children {
                tr data-unit=(c.unit) {
                    td.l { a href=(format!("/unit/{}", c.unit)) { (c.name) } }
                    (figure_cells(&none, c))
                    td.l.changed { (beijing_stamp(&c.as_of)) }
                }
            }
            tr.total data-unit=(total.unit) {
                td.l { @if leaf { (total.name) } @else { "合计" } }
                (figure_cells(&none, total))
                td.l.changed { (beijing_stamp(&total.as_of)) }
            }
        }
    }
}

/// The scope's totals at a glance.
fn totals(t: &Stats) -> Markup {
    html! {
        div.cards #totals {
            div.card { "已建" b { (t.built) } }
            div.card { "应联网" b { (t.must_network) } }
            div.card { "已联网" b { (t.networked) } }
            div.card { "联网率%" b { (show_rate(t.networking_rate)) } }
            div.card { "完好率%" b { (show_rate(t.intact_rate)) } }
        }
    }
}

/// The latest changes received, newest first.
fn changes(list: &[ReceivedChange]) -> Markup {
    let none = Targets::default();
    html! {
        h2 { "最近变更（最新 " (RECENT) " 条）" }
        @if list.is_empty() {
            p.muted { "订阅以来尚无变更。" }
        } @else {
            table.changes {
                tr { th.l { "变更时间" } th.l { "单位名称" } (figure_heads(None)) }
                @for c in list {
                    tr data-unit=(c.row.stats.unit) {
                        td.l { (beijing_clock(&c.row.stats.as_of)) }
                        td.l { (c.row.stats.name) }
                        (figure_cells(&none, &c.row.stats))
                    }
                }
            }
        }
    }
}

/// The rows of the scope and its latest changes, as stored.
type Held = (Vec<Received>, Vec<ReceivedChange>);

async fn held(web: &Web, w: &Watching) -> Result<Held, crate::store::StoreError> {
    let rows = web.store.subscribed_rows(&w.scope).await?;
    let recent = web.store.subscribed_changes(&w.scope, RECENT).await?;
    Ok((rows, recent))
}

/// What moves on the page: the connection, the totals, the table and the changes.
fn live_part(state: &FeedState, (rows, recent): &Held, sorting: &Sorting) -> Markup {
    html! {
        (connection(state))
        @match root(rows) {
            None => p { "尚未收到数据：正在等待上级推送本范围的数据。" },
            Some(r) => {
                (totals(&r.stats))
                (table(&r.stats, children_of(rows, &r.stats.unit), sorting, "/"))
                p.muted { "共 " (rows.len()) " 个单位的数据，由上级推送；各行的最近变更为北京时间。" }
                (changes(recent))
            }
        }
    }
}

/// The answer of a page served without a follower.
fn unwatched() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "本单位没有订阅数据").into_response()
}

/// The answer when the store cannot be read.
fn failed(e: crate::store::StoreError) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("读取数据失败：{e}"),
    )
        .into_response()
}

async fn home(
    State(web): State<Web>,
    Signed(s): Signed,
    Query(sorting): Query<Sorting>,
) -> Response {
    let Some(w) = web.feed.as_ref() else {
        return unwatched();
    };
    let state = w.state.borrow().clone();
    let held = match held(&web, w).await {
        Ok(h) => h,
        Err(e) => return failed(e),
    };
    let scope = root(&held.0).map(|r| r.stats.name.clone());
    let me = web.store.identity();
    let body = html! {
        h1 { "公安视图" @if let Some(n) = &scope { " · " (n) } }
        p.muted {
            "订阅单位：" (me.name) "（" (me.unit) "）。本页只读，数据由订阅的卫生健康部门（联网整合工作的牵头单位）实时推送，不含摄像机明细。"
        }
        div #figures { (live_part(&state, &held, &sorting)) }
        // Live: the server says when something arrived; the part above is fetched again.
        script src="/assets/live.js" defer {}
    };
    shell(&web, &s, "公安视图", body).into_response()
}

async fn fragment(
    State(web): State<Web>,
    _signed: Signed,
    Query(sorting): Query<Sorting>,
) -> Response {
    let Some(w) = web.feed.as_ref() else {
        return unwatched();
    };
    let state = w.state.borrow().clone();
    match held(&web, w).await {
        Ok(h) => Html(live_part(&state, &h, &sorting).into_string()).into_response(),
        Err(e) => failed(e),
    }
}

/// Server-sent events: `figures` whenever the follower's state changed (a row stored, the
/// connection opened or broken, a refusal).
async fn events(State(web): State<Web>, _signed: Signed) -> Response {
    use axum::response::sse::Event;
    let Some(mut state) = web.feed.as_ref().map(|w| w.state.clone()) else {
        return unwatched();
    };
    state.mark_unchanged();
    let shutdown = web.shutdown.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(16);
    tokio::spawn(async move {
        let stopping = super::layout::stopped(shutdown);
        tokio::pin!(stopping);
        loop {
            let cursor = tokio::select! {
                _ = &mut stopping => return,
                _ = tx.closed() => return,
                c = state.changed() => match c {
                    Ok(()) => state.borrow_and_update().cursor,
                    Err(_) => return,
                },
            };
            let e = Event::default().event("figures").data(cursor.to_string());
            if tx.send(e).await.is_err() {
                return;
            }
        }
    });
    super::layout::event_stream(rx)
}

/// Drill-down: a unit of the scope, with its own children as received.
async fn unit_page(
    State(web): State<Web>,
    Signed(s): Signed,
    axum::extract::Path(code): axum::extract::Path<String>,
    Query(sorting): Query<Sorting>,
) -> Response {
    let Some(w) = web.feed.as_ref() else {
        return unwatched();
    };
    let rows = match web.store.subscribed_rows(&w.scope).await {
        Ok(r) => r,
        Err(e) => return failed(e),
    };
    let Some(unit) = rows.iter().find(|r| r.stats.unit == code) else {
        return not_found(
            &web,
            &s,
            html! { "单位 " (code) " 不在本单位的订阅范围内，或尚未收到它的数据" },
            "/",
            "返回公安视图",
        );
    };
    let st = &unit.stats;
    let body = html! {
        p.no-print { a href="/" { "公安视图" } " › " (st.name) }
        h1 { (st.name) }
        (table(st, children_of(&rows, &st.unit), &sorting, &format!("/unit/{}", st.unit)))
        p.muted { "本页显示打开时收到的数据；返回公安视图可看实时变化。" }
    };
    shell(&web, &s, &st.name, body).into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::http::StatusCode;
    use tokio::sync::watch;
    use tower::ServiceExt;

    use super::Watching;
    use crate::domain::figures::{Counts, Stats};
    use crate::domain::unit::{Role, UnitCode, UnitKind};
    use crate::federation::subscriber::FeedState;
    use crate::http::police_router;
    use crate::http::testing::{get, send};
    use crate::store::Store;

    /// A police subscriber's store holding a snapshot of the city: its totals, two districts and
    /// a hospital of the first.
    async fn police() -> (tempfile::TempDir, Arc<Store>, String) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::init(
            dir.path(),
            &UnitCode::parse("GA-500000").unwrap(),
            "重庆市公安局",
            UnitKind::Subscriber,
            Role::Hub,
        )
        .await
        .unwrap();
        let row = |unit: &str, name: &str, built: u64, networked: u64| {
            let c = Counts {
                built,
                must_network: built,
                networked,
                in_service: built,
                ..Default::default()
            };
            Stats::from_counts(unit, name, &c, "2026-11-26T02:01:23.468Z".into())
        };
        let snapshot = vec![
            (
                "500000".to_string(),
                row("500000", "重庆市卫生健康委员会", 30, 12),
            ),
            (
                "500000".to_string(),
                row("500103", "渝中区卫生健康委员会", 20, 10),
            ),
            (
                "500000".to_string(),
                row("500104", "大渡口区卫生健康委员会", 10, 2),
            ),
            (
                "500103".to_string(),
                row("500103-0001", "渝中区第1医院", 20, 10),
            ),
        ];
        s.take_snapshot("", &snapshot, 4).await.unwrap();
        crate::app::accounts::add_user(
            &s,
            "jingguan",
            crate::app::accounts::Role::ReadOnly,
            "police pw 2026",
        )
        .await
        .unwrap();
        let (token, _) = crate::app::accounts::sign_in(&s, "jingguan", "police pw 2026")
            .await
            .unwrap();
        (dir, Arc::new(s), format!("yl_session_GA-500000={token}"))
    }

    fn watching(state: FeedState) -> (watch::Sender<FeedState>, Watching) {
        let (tx, rx) = watch::channel(state);
        (
            tx,
            Watching {
                scope: String::new(),
                state: rx,
            },
        )
    }

    #[tokio::test]
    async fn the_page_shows_each_district_the_totals_and_the_connection_in_chinese() {
        let (_dir, s, cookie) = police().await;
        let (_tx, w) = watching(FeedState {
            connected: true,
            since: chrono::DateTime::parse_from_rfc3339("2026-11-26T02:01:00Z")
                .ok()
                .map(|t| t.to_utc()),
            ..Default::default()
        });
        let app = police_router(s.clone(), w);
        // No session: to sign-in, as every unit's pages.
        let (st, h, _) = send(&app, get("/", "")).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        assert_eq!(h["location"], "/signin");
        let (st, _, body) = send(&app, get("/", &cookie)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("公安视图 · 重庆市卫生健康委员会"), "{body}");
        assert!(
            body.contains("已连接</span>（自 2026年11月26日 10:01 起）"),
            "{body}"
        );
        // One row per district, the hospital not among them; the 合计 row of the city.
        assert!(
            body.contains("<tr data-unit=\"500103\"><td class=\"l\"><a href=\"/unit/500103\">渝中区卫生健康委员会</a></td><td>20</td><td>20</td><td class=\"networked\">10</td><td class=\"none\">50.00</td>"),
            "{body}"
        );
        assert!(body.contains("<tr data-unit=\"500104\">"), "{body}");
        assert!(!body.contains("data-unit=\"500103-0001\""), "{body}");
        assert!(
            body.contains(
                "<tr class=\"total\" data-unit=\"500000\"><td class=\"l\">合计</td><td>30</td>"
            ),
            "{body}"
        );
        assert!(
            body.contains("<td class=\"l changed\">2026年11月26日 10:01</td>"),
            "{body}"
        );
        // Sorted as the dashboards are: the lowest networking rate first.
        assert!(body.find("大渡口区") < body.find("渝中区卫生"), "{body}");
        // The navigation leads to this page only; the only form is the sign-out.
        assert!(
            body.contains(">公安视图</a>") && !body.contains("/cameras"),
            "{body}"
        );
        assert_eq!(body.matches("<form").count(), 1, "{body}");
        assert!(body.contains("action=\"/signout\""), "{body}");
        assert!(
            body.contains("<script src=\"/assets/live.js\" defer>"),
            "{body}"
        );
        // The drill-down shows a district's hospitals.
        let (st, _, body) = send(&app, get("/unit/500103", &cookie)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("data-unit=\"500103-0001\""), "{body}");
        let (st, _, body) = send(&app, get("/unit/500105", &cookie)).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert!(body.contains("不在本单位的订阅范围内"), "{body}");
    }

    #[tokio::test]
    async fn the_page_moves_with_the_follower_and_says_a_refusal() {
        let (_dir, s, cookie) = police().await;
        let (tx, w) = watching(FeedState::default());
        let app = police_router(s.clone(), w);
        let (_, _, body) = send(&app, get("/figures", &cookie)).await;
        assert!(body.contains("正在连接上级…"), "{body}");
        // An event when the follower stores a change; the fragment shows it.
        let r = app.clone().oneshot(get("/events", &cookie)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let mut events = r.into_body().into_data_stream();
        let c = Counts {
            built: 20,
            must_network: 20,
            networked: 11,
            ..Default::default()
        };
        let changed = Stats::from_counts(
            "500103",
            "渝中区卫生健康委员会",
            &c,
            "2026-11-26T03:00:00Z".into(),
        );
        s.take_change("", 5, "500000", &changed).await.unwrap();
        tx.send_modify(|st| {
            st.changes += 1;
            st.cursor = 5;
        });
        let chunk = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tokio_stream::StreamExt::next(&mut events),
        )
        .await
        .expect("an event in time")
        .unwrap()
        .unwrap();
        assert!(
            String::from_utf8_lossy(&chunk).contains("event: figures"),
            "{chunk:?}"
        );
        let (_, _, body) = send(&app, get("/figures", &cookie)).await;
        assert!(body.contains("<td class=\"networked\">11</td>"), "{body}");
        assert!(
            body.contains("最近变更（最新 20 条）") && body.contains("2026年11月26日 11:00"),
            "{body}"
        );
        // Reconnecting, then refused for good.
        tx.send_modify(|st| {
            st.last_connected = chrono::DateTime::parse_from_rfc3339("2026-11-26T04:05:00Z")
                .ok()
                .map(|t| t.to_utc());
        });
        let (_, _, body) = send(&app, get("/figures", &cookie)).await;
        assert!(
            body.contains("正在重连，上次连接于 2026年11月26日 12:05"),
            "{body}"
        );
        tx.send_modify(|st| st.refused = Some("本单位的订阅证书已被上级吊销".into()));
        let (_, _, body) = send(&app, get("/", &cookie)).await;
        assert!(
            body.contains("订阅已被拒绝：本单位的订阅证书已被上级吊销"),
            "{body}"
        );
    }
}
