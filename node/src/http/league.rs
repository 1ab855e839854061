//! The league of the direct children (for the commission: the districts) in the order of the
//! annual assessment: each with its rank and score (the formula the campaign publishes shown
//! beside), its figures coloured against the targets, its gap to the current networking target,
//! its timeliness of submissions and its standing coloured as on the dashboard.

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
use crate::app::figures::dashboard;
use crate::domain::assessment::{PARTS, Score};
use crate::domain::figures::show_rate;

/// A score's parts as a person reads them (the cell's tooltip).
fn score_parts(s: &Score) -> String {
    PARTS
        .iter()
        .zip(s.parts)
        .map(|(name, p)| format!("{name} {p:.2} 分"))
        .collect::<Vec<_>>()
        .join("，")
}

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
    let l = match crate::app::assessment::league(&web.store).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "could not rank the children");
            return (StatusCode::INTERNAL_SERVER_ERROR, "读取失败，请稍后再试").into_response();
        }
    };
    let goal = t.networking.as_ref().map(|n| n.percent);
    let body = html! {
        h1 { (d.stats.name) " · 下级单位排名" }
        p.muted {
            "排名规则（年度考核）：按考核得分从高到低，得分相同按已建数量从多到少。" (l.formula) "。"
            "各项按 0–100% 计分：完好率达标程度为重点公共区域、重点行业完好率与其目标（"
            (format!("{}%、{}%", d.targets.intact_public.as_ref().map(|x| x.percent).unwrap_or(99.0), d.targets.intact_industry.as_ref().map(|x| x.percent).unwrap_or(95.0)))
            "）之比；报送及时率为已到期节点中按时报送的比例（含其下级），尚无到期节点计满分；未报送台账的单位得 0 分。"
            @if let Some(n) = &t.networking { " 当前联网目标：" (n.label) "。" }
        }
        @if l.rows.is_empty() {
            p { "本单位没有下级单位。" }
        } @else {
            table.league {
                tr {
                    th { "名次" } th.l { "单位名称" } th { "考核得分" } th { "已建" } th { "联网率%" } th { "距目标" }
                    th { "建档率%" } th { "标注率%" } th { "完好率%·重点公共" } th { "完好率%·重点行业" } th { "报送及时率%" } th.l { "节点进展" }
                }
                @for r in &l.rows {
                    @let c = &r.stats;
                    tr data-unit=(c.unit) {
                        td { (r.rank) }
                        td.l { a href=(format!("/unit/{}", c.unit)) { (c.name) } }
                        td title=(score_parts(&r.score)) { (format!("{:.2}", r.score.total)) }
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
                        td { (show_rate(r.timeliness.map(|x| x * 100.0))) }
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
            body.contains("排名规则")
                && body.contains("考核得分 = 40×联网率")
                && body.contains("本单位没有下级单位"),
            "{body}"
        );
    }
}
