//! The league of the direct children (for the commission: the districts) in the order the annual
//! assessment would rank them, each with its rank, its figures coloured against the targets, its
//! gap to the current networking target and its standing coloured as on the dashboard.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;

use super::Web;
use super::figures::status_class;
use super::layout::shell;
use super::session::Signed;
use crate::app::figures::{dashboard, league};
use crate::domain::figures::show_rate;

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new().route("/league", get(league_page))
}

async fn league_page(State(web): State<Web>, Signed(s): Signed) -> Response {
    let d = match dashboard(&web.store, None).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "could not read the league");
            return (StatusCode::INTERNAL_SERVER_ERROR, "读取失败，请稍后再试").into_response();
        }
    };
    let t = &d.targets;
    let ranked = league(&d.stats.children);
    let goal = t.networking.as_ref().map(|n| n.percent);
    let body = html! {
        h1 { (d.stats.name) " · 下级单位排名" }
        p.muted {
            "排名规则（年度考核顺序）：已报送的单位在前；依次按联网率、建档率、地理信息标注率、完好率从高到低；再按已建数量从多到少。"
            @if let Some(n) = &t.networking { " 当前联网目标：" (n.label) "。" }
        }
        @if ranked.is_empty() {
            p { "本单位没有下级单位。" }
        } @else {
            table.league {
                tr {
                    th { "名次" } th.l { "单位名称" } th { "已建" } th { "联网率%" } th { "距目标" }
                    th { "建档率%" } th { "标注率%" } th { "完好率%·重点公共" } th { "完好率%·重点行业" } th.l { "节点进展" }
                }
                @for (i, c) in ranked.iter().enumerate() {
                    tr data-unit=(c.unit) {
                        td { (i + 1) }
                        td.l { a href=(format!("/unit/{}", c.unit)) { (c.name) } }
                        td { (c.built) }
                        td class=(t.mark(c.networking_rate, t.networking.as_ref()).class()) { (show_rate(c.networking_rate)) }
                        td {
                            @match (c.networking_rate, goal) {
                                (Some(r), Some(g)) if r < g => (format!("差 {:.2}", g - r)),
                                (Some(_), Some(_)) => "已达标",
                                _ => "—",
                            }
                        }
                        td class=(t.mark(c.archive_rate, t.archive.as_ref()).class()) { (show_rate(c.archive_rate)) }
                        td class=(t.mark(c.geo_rate, t.archive.as_ref()).class()) { (show_rate(c.geo_rate)) }
                        td class=(t.mark(c.intact_rate_key_public, t.intact_public.as_ref()).class()) { (show_rate(c.intact_rate_key_public)) }
                        td class=(t.mark(c.intact_rate_key_industry, t.intact_industry.as_ref()).class()) { (show_rate(c.intact_rate_key_industry)) }
                        @if c.built == 0 { td.l.bad { "未报送" } }
                        @else if let Some(m) = &c.milestone {
                            td class=(format!("l {}", status_class(m.status))) title=(m.title) { (m.status.chinese()) }
                        }
                        @else { td.l { "—" } }
                    }
                }
            }
        }
    };
    shell(&web, &s, "下级单位排名", body).into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use crate::http::router;
    use crate::http::testing::*;

    #[tokio::test]
    async fn a_unit_without_children_has_an_empty_league() {
        let (_dir, s) = store().await;
        let (c, _) = editor(&s).await;
        let (st, _, body) = send(&router(s.clone()), get("/league", &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains("排名规则") && body.contains("本单位没有下级单位"),
            "{body}"
        );
    }
}
