//! The unit's figures: the home page (the subtree's table, the next milestone, the children
//! offline, the chart), the table alone (`/figures`, fetched again when the server-sent events
//! say it changed) and the drill-down into a unit of the subtree.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};

use super::Web;
use super::layout::{not_found, shell};
use super::session::Signed;
use crate::app::figures::{Dashboard, Mark, SortBy, Target, Targets, sort_children};
use crate::domain::campaign::Status;
use crate::domain::figures::{Stats, show_rate};

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/", get(home))
        .route("/figures", get(figures))
        .route("/events", get(events))
        .route("/unit/{code}", get(unit_page))
}

/// How the person asked the children to be sorted (`?sort=networking_rate&desc=1`); by default
/// the lowest networking rate first: who lags most is on top.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub(super) struct Sorting {
    sort: Option<String>,
    desc: Option<String>,
}

impl Sorting {
    pub(super) fn by(&self) -> SortBy {
        self.sort
            .as_deref()
            .and_then(SortBy::parse)
            .unwrap_or(SortBy::NetworkingRate)
    }
    pub(super) fn descending(&self) -> bool {
        self.desc.as_deref() == Some("1")
    }
}

/// The CSS class of a milestone status.
pub(super) fn status_class(s: Status) -> &'static str {
    match s {
        Status::Met | Status::OnTrack => "good",
        Status::Behind => "warn",
        Status::Overdue => "bad",
    }
}

/// A header that sorts a table by its figure (`?sort=…` on `base`); a second click turns the
/// order round.
pub(super) fn sort_head(label: &str, key: SortBy, sorting: &Sorting, base: &str) -> Markup {
    let (by, desc) = (sorting.by(), sorting.descending());
    let on = key == by;
    let next_desc = if on { !desc } else { key == SortBy::Built };
    let href = format!(
        "{base}?sort={}{}",
        key.key(),
        if next_desc { "&desc=1" } else { "" }
    );
    let arrow = if !on {
        ""
    } else if desc {
        " ↓"
    } else {
        " ↑"
    };
    html! { a class=(if on { "on" } else { "" }) href=(href) { (label) (arrow) } }
}

/// The headers of the figure columns, 已建 to 完好率%·重点行业 (every table of figures has
/// them, in this order); with `sort` (the sorting asked and the page's path), each sorts by its
/// figure where it can.
pub(super) fn figure_heads(sort: Option<(&Sorting, &str)>) -> Markup {
    let head = |label: &str, key: SortBy| match sort {
        Some((sorting, base)) => sort_head(label, key, sorting, base),
        None => html! { (label) },
    };
    html! {
        th { (head("已建", SortBy::Built)) } th { "应联网" } th { "已联网" }
        th { (head("联网率%", SortBy::NetworkingRate)) }
        th { (head("建档率%", SortBy::ArchiveRate)) }
        th { (head("标注率%", SortBy::GeoRate)) }
        th { (head("完好率%·重点公共", SortBy::IntactPublic)) }
        th { (head("完好率%·重点行业", SortBy::IntactIndustry)) }
    }
}

/// The figure cells of one unit, in the order of [`figure_heads`], each rate coloured against
/// its target of `t`.
pub(super) fn figure_cells(t: &Targets, st: &Stats) -> Markup {
    let rate = |r: Option<f64>, target: Option<&Target>| {
        let m: Mark = t.mark(r, target);
        html! { td class=(m.class()) { (show_rate(r)) } }
    };
    html! {
        td { (st.built) } td { (st.must_network) } td.networked { (st.networked) }
        (rate(st.networking_rate, t.networking.as_ref()))
        (rate(st.archive_rate, t.archive.as_ref()))
        (rate(st.geo_rate, t.archive.as_ref()))
        (rate(st.intact_rate_key_public, t.intact_public.as_ref()))
        (rate(st.intact_rate_key_industry, t.intact_industry.as_ref()))
    }
}

/// The figures table of a dashboard: one row per direct child, sorted as asked, each rate
/// coloured against its target; a 本级 row for the unit's own cameras; the 合计 row.
fn figures_table(d: &Dashboard, sorting: &Sorting, base: &str) -> Markup {
    let t = &d.targets;
    let cells = |st: &Stats| {
        html! {
            (figure_cells(t, st))
            td.ops { (show_rate(st.service_rate_30d)) }
            @match &st.milestone {
                Some(m) => td class=(format!("l {}", status_class(m.status))) title=(m.title) { (m.status.chinese()) },
                None => td.l { "—" },
            }
            (quality_cell(st))
        }
    };
    let mut children = d.stats.children.clone();
    sort_children(&mut children, sorting.by(), sorting.descending());
    let leaf = children.is_empty() && d.own.is_none();
    html! {
        table.figures {
            tr {
                th.l { (sort_head("单位名称", SortBy::Name, sorting, base)) }
                (figure_heads(Some((sorting, base))))
                th title="近30天摄像机在役时间中正常工作时间的占比（安全运维，由各级汇总逐级上报）" { "时间完好率%（近30天）" }
                th.l { (sort_head("节点进展", SortBy::Standing, sorting, base)) }
                th.l title="数据质量核查发现的问题：错误 / 提示（下级汇总，改正后自动消失）" { "数据质量" }
            }
            @for c in &children {
                tr data-unit=(c.unit) {
                    td.l { a href=(format!("/unit/{}", c.unit)) { (c.name) } }
                    (cells(c))
                }
            }
            @if let Some(own) = &d.own {
                tr.own data-unit=(own.unit) {
                    td.l { "本级（" (own.name) "）" }
                    (cells(own))
                }
            }
            tr.total {
                td.l { @if leaf { (d.stats.name) } @else { "合计" } }
                (cells(&d.stats))
            }
        }
        p.muted { "数据截至 " (crate::app::zh::beijing_stamp(&d.stats.as_of)) }
    }
}

/// The data-quality cell of a row: its subtree's findings as the rollup counts them (错误 / 提示),
/// linking to the worklist; "—" where no rollup counts them (本级's own ledger).
fn quality_cell(st: &Stats) -> Markup {
    match st.findings() {
        Some(t) if t.total() == 0 => html! { td.l.quality { "无问题" } },
        Some(t) => html! {
            td.l.quality class=(if t.errors > 0 { "bad" } else { "warn" }) {
                a href="/quality" title="查看数据质量核查" {
                    "错误 " (t.errors) " · 提示 " (t.warnings)
                }
            }
        },
        None => html! { td.l.quality { "—" } },
    }
}

/// Above the table: how many children lag, and the targets the colours compare with.
fn summary(d: &Dashboard) -> Markup {
    let l = &d.lagging;
    let t = &d.targets;
    html! {
        @if l.children > 0 {
            div.cards {
                div.card { "下级单位" b { (l.children) } }
                div.card.warn { "进度落后" b { (l.behind) } }
                div.card.bad { "已逾期" b { (l.overdue) } }
                div.card.bad { "尚无台账数据" b { (l.not_reported) } }
            }
        }
        @let targets: Vec<_> = [&t.networking, &t.archive, &t.intact_public, &t.intact_industry].into_iter().flatten().collect();
        p.legend.muted {
            "对照目标："
            @for target in &targets { span { (target.label) } }
            @if targets.is_empty() { "尚未收到上级下发的阶段目标，暂不标色" }
        }
        p.legend.muted {
            span.good { "■ 已达目标" } span.warn { "■ 未达目标（未到期）" } span.bad { "■ 未达目标（已到期）" }
        }
    }
}

async fn home(
    State(web): State<Web>,
    Signed(s): Signed,
    Query(sorting): Query<Sorting>,
) -> Response {
    let d = match crate::app::figures::dashboard(&web.store, None).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "could not read the figures");
            return (StatusCode::INTERNAL_SERVER_ERROR, "读取失败，请稍后再试").into_response();
        }
    };
    // Children that are not connected now, and since when.
    let offline = web.store.offline_children().await.unwrap_or_default();
    let stats = &d.stats;
    let body = html! {
        h1 { (stats.name) " · 视频监控联网整合进度" }
        @if let Some(m) = &stats.milestone {
            p {
                "下一节点：" (m.title) "（" (crate::app::figures::date_zh(m.deadline)) "，目标 " (m.target) "%）当前 "
                (format!("{:.2}", m.current)) "% — " span class=(status_class(m.status)) { (m.status.chinese()) }
            }
        }
        (summary(&d))
        div #figures { (figures_table(&d, &sorting, "/")) }
        p.no-print {
            "报表："
            a href="/download/attachment1" { "下载附件1（联系人）" } " · "
            a href="/download/attachment2" { "下载附件2（统计表）" } " · "
            a href="/attachment2" { "打印附件2" } " · "
            a href="/reports" { "报送与审核（报送率、及时率）" }
        }
        @if !offline.is_empty() {
            h2 { "未在线的下级" }
            ul { @for (unit, since) in &offline { li.err { (unit) " — " (since.clone().map(|s| format!("离线自 {}", crate::app::zh::beijing_stamp(&s))).unwrap_or_else(|| "从未连接".into())) } } }
        }
        h2 { "联网率走势与阶段目标" }
        img src="/chart.svg" width="720" height="260" alt="联网率走势";
        // Live: the server says when the figures changed; the table is fetched again.
        script src="/assets/live.js" defer {}
    };
    shell(&web, &s, &stats.name, body).into_response()
}

async fn figures(
    State(web): State<Web>,
    _signed: Signed,
    Query(sorting): Query<Sorting>,
) -> Response {
    match crate::app::figures::dashboard(&web.store, None).await {
        Ok(d) => Html(figures_table(&d, &sorting, "/").into_string()).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not read the figures");
            (StatusCode::INTERNAL_SERVER_ERROR, "读取失败，请稍后再试").into_response()
        }
    }
}

/// Server-sent events: `figures` whenever this unit's figures may have changed (its ledger, or a
/// rollup it holds), from the same change stream as the sync engine and the Feed service.
async fn events(State(web): State<Web>, _signed: Signed) -> Response {
    use crate::docs::document::DocKind;
    use axum::response::sse::Event;
    use tokio::sync::broadcast::error::RecvError;
    let me = web.store.unit().clone();
    let mut changes = web.store.subscribe();
    let shutdown = web.shutdown.clone();
    // A task forwards the store's changes until the page goes away or the server stops; when it
    // ends, the stream ends with it.
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(16);
    tokio::spawn(async move {
        let stopping = super::layout::stopped(shutdown);
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
    super::layout::event_stream(rx)
}

/// Drill-down: a unit of the subtree, with one row per child of its own.
async fn unit_page(
    State(web): State<Web>,
    Signed(s): Signed,
    axum::extract::Path(code): axum::extract::Path<String>,
    Query(sorting): Query<Sorting>,
) -> Response {
    let unknown = |web: &Web| {
        not_found(
            web,
            &s,
            html! { "没有单位代码为 " (code) " 的单位，或其数据尚未同步到本级" },
            "/",
            "返回首页",
        )
    };
    if crate::domain::unit::UnitCode::parse(&code).is_err() {
        return unknown(&web);
    }
    match crate::app::figures::dashboard(&web.store, Some(&code)).await {
        Ok(d) => {
            let st = &d.stats;
            let body = html! {
                p.no-print { a href="/" { "进度概况" } " › " (st.name) }
                h1 { (st.name) }
                (summary(&d))
                (figures_table(&d, &sorting, &format!("/unit/{}", st.unit)))
                p { a href=(format!("/unit/{}/cameras", st.unit)) { "摄像机明细" } }
            };
            shell(&web, &s, &st.name, body).into_response()
        }
        Err(e) => {
            tracing::info!(error = %e, unit = %code, "no figures of a unit");
            unknown(&web)
        }
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
                && body.contains("zhang（编辑）"),
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

    /// A district's dashboard of three children on 2021-10-01 (phase 2: 80% by 2021-12-31).
    fn district() -> crate::app::figures::Dashboard {
        use crate::app::figures::{Dashboard, Lagging, Targets};
        use crate::domain::campaign::{Campaign, standing};
        use crate::domain::figures::{Counts, Stats};
        let today = chrono::NaiveDate::from_ymd_opt(2021, 10, 1).unwrap();
        let c = Campaign::seed();
        let child = |unit: &str, name: &str, networked: u64| {
            let counts = Counts {
                built: 10,
                must_network: 10,
                networked,
                archived: 10,
                geo_tagged: 10,
                in_service: 10,
                key_public_built: 10,
                key_public_in_service: 10,
                ..Default::default()
            };
            let mut s = Stats::from_counts(unit, name, &counts, String::new());
            s.milestone = standing(&c, &s, true, today);
            s
        };
        let mut children = vec![
            child("500103-0001", "甲医院", 9),
            child("500103-0002", "乙医院", 1),
            child("500103-0003", "丙医院", 6),
        ];
        let mut empty =
            Stats::from_counts("500103-0004", "丁卫生院", &Counts::default(), String::new());
        empty.milestone = standing(&c, &empty, false, today);
        children.push(empty);
        let own = Stats::from_counts(
            "500103",
            "渝中区卫生健康委员会",
            &Counts {
                built: 2,
                ..Default::default()
            },
            String::new(),
        );
        let mut stats = Stats::from_counts(
            "500103",
            "渝中区卫生健康委员会",
            &Counts {
                built: 32,
                must_network: 30,
                networked: 16,
                ..Default::default()
            },
            "2021-10-01T02:01:23.468Z".into(),
        );
        stats.children = children;
        Dashboard {
            lagging: Lagging::of(&stats.children),
            targets: Targets::of(Some(&c), today),
            own: Some(own),
            stats,
        }
    }

    #[test]
    fn the_table_sorts_the_children_colours_each_rate_and_ends_with_the_total() {
        let d = district();
        let html = super::figures_table(&d, &Default::default(), "/").into_string();
        // By default the lowest networking rate first; the unit without cameras last.
        let pos = |s: &str| html.find(s).unwrap_or_else(|| panic!("{s}: {html}"));
        assert!(
            pos("乙医院") < pos("丙医院") && pos("丙医院") < pos("甲医院"),
            "{html}"
        );
        assert!(pos("甲医院") < pos("丁卫生院"), "{html}");
        // The own cameras as a labelled 本级 row, then the 合计 row.
        assert!(
            pos("丁卫生院") < pos("本级（渝中区卫生健康委员会）"),
            "{html}"
        );
        assert!(pos("本级（") < pos("合计"), "{html}");
        // 10% before the deadline of 80%: short (amber); 90%: met (green).
        assert!(html.contains("<td class=\"warn\">10.00</td>"), "{html}");
        assert!(html.contains("<td class=\"good\">90.00</td>"), "{html}");
        // Both intact rates against 99% / 95%.
        assert!(
            html.contains("完好率%·重点公共") && html.contains("完好率%·重点行业"),
            "{html}"
        );
        // The milestone standing coloured: 乙 behind, 丁 overdue (one class attribute each).
        assert!(
            html.contains("<td class=\"l warn\" title=\"第二阶段：联网率80%\">进度落后</td>"),
            "{html}"
        );
        assert!(html.contains("<td class=\"l bad\""), "{html}");
        // The time in Beijing time.
        assert!(html.contains("2021年10月1日 10:01"), "{html}");
        // Descending by networking rate on request.
        let sorting = super::Sorting {
            sort: Some("networking_rate".into()),
            desc: Some("1".into()),
        };
        let html = super::figures_table(&d, &sorting, "/").into_string();
        assert!(html.find("甲医院") < html.find("乙医院"), "{html}");
    }

    #[test]
    fn the_summary_counts_who_lags() {
        let d = district();
        let html = super::summary(&d).into_string();
        // 乙 (10%) is behind the straight line to 80%, 丁 has no camera and no contacts (overdue).
        assert!(html.contains("进度落后<b>1</b>"), "{html}");
        assert!(html.contains("已逾期<b>1</b>"), "{html}");
        assert!(html.contains("尚无台账数据<b>1</b>"), "{html}");
        assert!(
            html.contains("第二阶段：联网率80%（2021年12月31日）"),
            "{html}"
        );
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
