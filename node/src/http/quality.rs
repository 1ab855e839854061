//! The data-quality page (数据质量): the findings of the camera records held here against the
//! rules the campaign publishes — per rule with its count, severity and explanation, per unit at
//! a district — a page at a time, each row linking to the form that fixes it; at a hub, each
//! child's findings as its rollup counts them, and the device codes found (by their keyed hashes)
//! at two units whose records this level does not hold.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;
use serde::Deserialize;

use super::Web;
use super::cameras::{PAGE, pager};
use super::layout::shell;
use super::session::Signed;
use crate::domain::quality::Severity;

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new().route("/quality", get(quality))
}

#[derive(Deserialize, Default)]
struct QualityQuery {
    rule: Option<String>,
    unit: Option<String>,
    page: Option<i64>,
}

fn href(rule: Option<&str>, unit: Option<&str>, page: Option<i64>) -> String {
    let mut q = Vec::new();
    if let Some(r) = rule {
        q.push(format!("rule={r}"));
    }
    if let Some(u) = unit {
        q.push(format!("unit={u}"));
    }
    if let Some(p) = page {
        q.push(format!("page={p}"));
    }
    if q.is_empty() {
        "/quality".into()
    } else {
        format!("/quality?{}", q.join("&"))
    }
}

async fn quality(
    State(web): State<Web>,
    Signed(s): Signed,
    Query(q): Query<QualityQuery>,
) -> Response {
    let me = web.store.unit().to_string();
    let report = match crate::app::quality::check(&web.store, None).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "could not check the data quality");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "数据质量核查失败，请稍后再试",
            )
                .into_response();
        }
    };
    let rule = q.rule.as_deref().filter(|r| report.rules.get(r).is_some());
    let unit = q.unit.as_deref().filter(|u| report.units.contains_key(*u));
    let mut names = std::collections::BTreeMap::new();
    for u in report.units.keys() {
        let n = web.store.unit_name(u).await.unwrap_or_default();
        names.insert(u.clone(), if n.is_empty() { u.clone() } else { n });
    }
    let name_of = |u: &str| names.get(u).cloned().unwrap_or_else(|| u.to_string());
    let chosen: Vec<_> = report
        .findings
        .iter()
        .filter(|f| rule.is_none_or(|r| f.rule == r) && unit.is_none_or(|u| f.unit == u))
        .collect();
    let total = chosen.len() as i64;
    let page_no = q.page.unwrap_or(1).max(1);
    let shown = chosen
        .iter()
        .skip(((page_no - 1) * PAGE) as usize)
        .take(PAGE as usize);
    let count = |id: &str| {
        report
            .findings
            .iter()
            .filter(|f| f.rule == id && unit.is_none_or(|u| f.unit == u))
            .count()
    };
    let several_units = report.units.len() > 1 || report.units.keys().any(|u| *u != me);
    // A hub's rows: each direct child's subtree, as its rollup counts them (a district's row at the
    // city included, whose records stay at the district).
    let rows = if web.store.identity().is_hub() {
        crate::app::figures::subtree_stats(&web.store, None)
            .await
            .map(|s| s.children)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let rows: Vec<_> = rows
        .iter()
        .filter_map(|c| Some((c, c.findings()?)))
        .filter(|(c, _)| !report.units.contains_key(&c.unit))
        .collect();
    let body = html! {
        h1 { "数据质量核查" }
        p {
            "按市卫生健康委随工作方案发布的核查规则，检查本级持有的摄像机档案（"
            @if several_units { "下级单位上报的台账" } @else { "本单位台账" }
            "）。改正档案后，问题即从清单中消失。核查日期："
            (crate::app::zh::beijing_date(report.date))
        }
        @if several_units {
            h2 { "各单位问题数" }
            table {
                tr { th.l { "单位" } th { "错误" } th { "提示" } th.l { "" } }
                @for (u, t) in &report.units {
                    tr {
                        td.l { (name_of(u)) " " span.hint { (u) } }
                        td { (t.errors) } td { (t.warnings) }
                        td.l {
                            @if unit == Some(u.as_str()) { strong { "正在查看" } }
                            @else { a href=(href(rule, Some(u), None)) { "查看" } }
                        }
                    }
                }
            }
            @if unit.is_some() { p { a href=(href(rule, None, None)) { "查看全部单位" } } }
        }
        @if !rows.is_empty() {
            h2 { "下级汇总的问题数" }
            p.hint { "下列单位的档案保存在其本级（或其区县），这里是其上报汇总中的问题数；明细请在该单位的“数据质量”页查看。" }
            table {
                tr { th.l { "单位" } th { "错误" } th { "提示" } }
                @for (c, t) in &rows {
                    tr { td.l { (c.name) " " span.hint { (c.unit) } } td { (t.errors) } td { (t.warnings) } }
                }
            }
        }
        @if !report.shared.is_empty() {
            h2 { "跨单位重复的设备编码（共 " (report.shared.len()) " 个）" }
            p.hint {
                "下级只上报设备编码的密钥散列（不含名称、位置、坐标），本级据此比对出同一编码登记在两个以上单位，"
                "并通知有关单位各自核对；本级看不到对方的摄像机档案。"
            }
            table {
                tr { th.l { "编码散列" } th.l { "登记单位" } }
                @for sh in &report.shared {
                    tr {
                        td.l { code { (sh.key.get(..12).unwrap_or(&sh.key)) "…" } }
                        td.l { (crate::app::zh::quality_elsewhere(&sh.holders.iter().cloned().collect())) }
                    }
                }
            }
        }
        h2 { "核查规则" }
        table {
            tr { th.l { "规则" } th.l { "级别" } th { "问题数" } th.l { "说明" } }
            @for r in &report.rules.rules {
                tr {
                    td.l {
                        @if rule == Some(r.id.as_str()) { strong { (r.name) } }
                        @else { a href=(href(Some(&r.id), unit, None)) { (r.name) } }
                    }
                    td.l { span class=(match r.severity { Severity::Error => "bad", Severity::Warning => "warn" }) { (r.severity.chinese()) } }
                    td { (count(&r.id)) }
                    td.l.hint { (r.explanation) }
                }
            }
        }
        h2 {
            @match rule.and_then(|r| report.rules.get(r)) {
                Some(r) => { (r.name) },
                None => { "全部问题" },
            }
            "（共 " (total) " 条）"
        }
        @if rule.is_some() { p { a href=(href(None, unit, None)) { "查看全部规则的问题" } } }
        @if report.units.is_empty() && (!rows.is_empty() || !report.shared.is_empty()) {
            p { "本级不持有摄像机档案，问题明细在各下级单位；上面是下级汇总的问题数和跨单位重复的编码。" }
        } @else if report.units.is_empty() {
            p.missing {
                "本级不持有摄像机档案（档案保存在填报单位及其区县卫生健康部门，不上传到更高层级），"
                "因此这里没有可核查的记录。各单位的问题请在其区县的“数据质量”页查看。"
            }
        } @else if chosen.is_empty() {
            p { "没有发现问题。" }
        } @else {
            table {
                tr {
                    @if several_units { th.l { "单位" } }
                    th.l { "设备编码" } th.l { "点位名称" } th.l { "问题" } th.l { "详情" } th.l { "操作" }
                }
                @for f in shown {
                    @let link = if f.unit == me {
                        format!("/cameras/{}", f.device_code)
                    } else {
                        format!("/unit/{}/cameras/{}", f.unit, f.device_code)
                    };
                    tr {
                        @if several_units { td.l { (name_of(&f.unit)) } }
                        td.l { a href=(link) { (f.device_code) } }
                        td.l { (f.camera_name) }
                        td.l {
                            span class=(match f.severity { Severity::Error => "bad", Severity::Warning => "warn" }) {
                                (report.rules.get(&f.rule).map(|r| r.name.as_str()).unwrap_or(""))
                            }
                        }
                        td.l { (f.detail) }
                        td.l { a href=(link) { @if f.unit == me { "去修改" } @else { "查看档案" } } }
                    }
                }
            }
        }
        (pager(total, page_no, |n| href(rule, unit, Some(n))))
    };
    shell(&web, &s, "数据质量核查", body).into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use crate::app::cameras;
    use crate::domain::camera::{Field, Value};
    use crate::domain::device_code::DeviceCode;
    use crate::http::router;
    use crate::http::testing::*;

    #[tokio::test]
    async fn the_clerk_sees_each_finding_with_its_rule_and_a_link_to_fix_it() {
        let (_dir, s) = store().await;
        let code = DeviceCode::parse(CAM1).unwrap();
        cameras::add(
            &s,
            "t",
            code.clone(),
            vec![
                (Field::Name, Value::Text("门诊大厅".into())),
                (Field::Networked, Value::Bool(true)),
                (Field::Longitude, Value::Float(108.4)),
                (Field::Latitude, Value::Float(30.7)),
            ],
        )
        .await
        .unwrap();
        let (c, _) = editor(&s).await;
        let app = router(s.clone());
        let (st, _, body) = send(&app, get("/quality", &c)).await;
        assert_eq!(st, StatusCode::OK);
        for want in [
            "数据质量核查",
            "坐标超出所在区县",
            "不在渝中区范围内",
            "已联网未建档",
            "全部问题（共 2 条）",
            &format!("href=\"/cameras/{CAM1}\""),
        ] {
            assert!(body.contains(want), "{want}: {body}");
        }
        let (_, _, body) = send(&app, get("/quality?rule=outside-area", &c)).await;
        assert!(body.contains("（共 1 条）"), "{body}");
        // Fixed: nothing left.
        cameras::edit(
            &s,
            "t",
            &code,
            &[
                (Field::Longitude, Some(Value::Float(106.57))),
                (Field::Latitude, Some(Value::Float(29.55))),
                (Field::Networked, Some(Value::Bool(false))),
            ],
        )
        .await
        .unwrap();
        let (_, _, body) = send(&app, get("/quality", &c)).await;
        assert!(body.contains("没有发现问题"), "{body}");
    }

    #[tokio::test]
    async fn a_level_without_records_says_so_instead_of_all_clear() {
        let (_dir, s) = store().await;
        let (c, _) = editor(&s).await;
        let (_, _, body) = send(&router(s.clone()), get("/quality", &c)).await;
        assert!(body.contains("本级不持有摄像机档案"), "{body}");
        assert!(!body.contains("没有发现问题"), "{body}");
    }
}
