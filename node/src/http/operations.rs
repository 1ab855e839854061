//! The operations page (安全运维): for every ledger held here, the last 30 days' time in service,
//! faults, repairs and mean time to repair, the cameras faulty now and since when; at a
//! supervising level the filings (建设备案) and removal reports (撤除报告) of its units waiting for
//! acknowledgement, each with a button that acknowledges it (`app::operations::acknowledge`);
//! at a unit, its own that still wait for its district. At a hub, first the figures of its whole
//! tree per direct child, from its rollup (the only ones at the city).

use axum::Router;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;

use super::Web;
use super::layout::shell;
use super::session::{Signed, refused};
use crate::app::accounts::{Role, Session};
use crate::app::cameras::CameraError;
use crate::app::operations::{self, View};
use crate::app::operations_tree::Tree;
use crate::app::zh::beijing_time;
use crate::domain::device_code::DeviceCode;
use crate::domain::operations::{Acknowledge, Operations};
use crate::domain::unit::UnitCode;

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/operations", get(page))
        .route("/operations/acknowledge", post(acknowledge))
}

fn rate(o: &Operations) -> String {
    o.service_rate()
        .map(|r| format!("{r:.2}%"))
        .unwrap_or_else(|| "—".into())
}

fn hours(o: &Operations) -> String {
    o.mean_repair_hours()
        .map(|h| format!("{h:.1}"))
        .unwrap_or_else(|| "—".into())
}

fn lasted(since: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> String {
    let h = (now - since).num_hours().max(0);
    if h >= 48 {
        format!("{} 天", h / 24)
    } else {
        format!("{h} 小时")
    }
}

async fn page(State(web): State<Web>, Signed(s): Signed) -> Response {
    render(&web, &s, None, StatusCode::OK).await
}

async fn render(web: &Web, s: &Session, error: Option<String>, status: StatusCode) -> Response {
    let view = match operations::view(&web.store, None).await {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "could not read the operations");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "运维数据读取失败，请稍后再试",
            )
                .into_response();
        }
    };
    (
        status,
        shell(web, s, "安全运维", body(web, s, &view, error)),
    )
        .into_response()
}

fn body(web: &Web, s: &Session, v: &View, error: Option<String>) -> maud::Markup {
    let me = web.store.unit().as_str();
    let own = v.units.iter().find(|u| u.unit == me);
    let children: Vec<_> = v.units.iter().filter(|u| u.unit != me).collect();
    let waiting: Vec<_> = children
        .iter()
        .flat_map(|u| u.pending.iter().map(move |p| (*u, p)))
        .collect();
    let faulty: Vec<_> = v
        .units
        .iter()
        .flat_map(|u| u.faulty.iter().map(move |f| (u, f)))
        .collect();
    html! {
        h1 { "安全运维" }
        p {
            "近 " (v.window_days) " 天的运维情况（截至 " (beijing_time(v.at)) "）："
            "时间完好率 = 摄像机在役时间中正常工作时间的占比；平均修复时长 = 故障从发生到恢复的平均小时数。"
            "数据来自各单位台账中的故障、恢复、建设备案和撤除报告记录。"
        }
        @if let Some(e) = &error { p.error role="alert" { (e) } }
        @if let Some(t) = &v.tree { (tree(t)) }
        @if v.units.is_empty() && v.tree.is_none() {
            p.missing {
                "本级不持有摄像机台账（台账保存在填报单位及其区县卫生健康部门），这里没有运维数据。"
            }
        } @else {
            table {
                tr {
                    th.l { "单位" } th { "摄像机" } th { "时间完好率" } th { "故障次数" }
                    th { "已修复" } th { "平均修复时长（小时）" } th { "当前故障" }
                    th { "待确认备案" } th { "待确认撤除" }
                }
                @for u in &v.units {
                    @let o = &u.operations;
                    tr {
                        td.l { (u.name) " " span.hint { (u.unit) } }
                        td { (o.cameras) } td { (rate(o)) } td { (o.faults) } td { (o.repairs) }
                        td { (hours(o)) } td { (o.open_faults) }
                        td { (u.pending.iter().filter(|p| p.what == Acknowledge::Filing).count()) }
                        td { (u.pending.iter().filter(|p| p.what == Acknowledge::Removal).count()) }
                    }
                }
                @if v.units.len() > 1 {
                    tr.total {
                        td.l { "合计" }
                        td { (v.total.cameras) } td { (rate(&v.total)) } td { (v.total.faults) }
                        td { (v.total.repairs) } td { (hours(&v.total)) } td { (v.total.open_faults) }
                        td { (waiting.iter().filter(|(_, p)| p.what == Acknowledge::Filing).count() + own.map_or(0, |u| u.pending.iter().filter(|p| p.what == Acknowledge::Filing).count())) }
                        td { (waiting.iter().filter(|(_, p)| p.what == Acknowledge::Removal).count() + own.map_or(0, |u| u.pending.iter().filter(|p| p.what == Acknowledge::Removal).count())) }
                    }
                }
            }
        }
        @if !children.is_empty() {
            h2 { "待确认的建设备案和撤除报告（共 " (waiting.len()) " 条）" }
            @if waiting.is_empty() {
                p { "下级单位上报的建设备案和撤除报告均已确认。" }
            } @else {
                table {
                    tr {
                        th.l { "单位" } th.l { "类别" } th.l { "设备编码" } th.l { "点位名称" }
                        th.l { "上报时间" } th.l { "上报人" } th.l { "说明" } th.l { "操作" }
                    }
                    @for (u, p) in &waiting {
                        tr {
                            td.l { (u.name) }
                            td.l { (p.what.chinese()) }
                            td.l { a href=(format!("/unit/{}/cameras/{}", u.unit, p.device_code)) { (p.device_code) } }
                            td.l { (p.camera_name) }
                            td.l { (beijing_time(p.at)) }
                            td.l { (p.by) }
                            td.l { (p.note) }
                            td.l {
                                @if s.role == Role::Editor {
                                    form method="post" action="/operations/acknowledge" {
                                        input type="hidden" name="csrf" value=(s.csrf);
                                        input type="hidden" name="unit" value=(u.unit);
                                        input type="hidden" name="code" value=(p.device_code);
                                        input type="hidden" name="what" value=(p.what.id());
                                        button type="submit" { "确认" }
                                    }
                                } @else { span.hint { "只读账户不能确认" } }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(u) = own.filter(|u| !u.pending.is_empty()) {
            h2 { "本单位等待上级确认（共 " (u.pending.len()) " 条）" }
            table {
                tr { th.l { "类别" } th.l { "设备编码" } th.l { "点位名称" } th.l { "上报时间" } }
                @for p in &u.pending {
                    tr {
                        td.l { (p.what.chinese()) }
                        td.l { a href=(format!("/cameras/{}", p.device_code)) { (p.device_code) } }
                        td.l { (p.camera_name) }
                        td.l { (beijing_time(p.at)) }
                    }
                }
            }
        }
        h2 { "当前故障（共 " (faulty.len()) " 台）" }
        @if faulty.is_empty() {
            p { "没有故障中的摄像机。" }
        } @else {
            table {
                tr { th.l { "单位" } th.l { "设备编码" } th.l { "点位名称" } th.l { "故障开始" } th.l { "已持续" } }
                @for (u, (code, name, since)) in &faulty {
                    tr {
                        td.l { (u.name) }
                        td.l {
                            @if u.unit == me { a href=(format!("/cameras/{code}")) { (code) } }
                            @else { a href=(format!("/unit/{}/cameras/{code}", u.unit)) { (code) } }
                        }
                        td.l { (name) }
                        td.l { (since.map(beijing_time).unwrap_or_else(|| "未记录".into())) }
                        td.l { (since.map(|t| lasted(t, v.at)).unwrap_or_else(|| "—".into())) }
                    }
                }
            }
        }
    }
}

/// The figures of this hub's whole tree, per direct child (its subtree), from its rollup.
fn tree(t: &Tree) -> maud::Markup {
    let end = chrono::DateTime::parse_from_rfc3339(&t.as_of)
        .map(|d| beijing_time(d.with_timezone(&chrono::Utc)))
        .unwrap_or_else(|_| "—".into());
    html! {
        h2 { "各下级单位（含其下级）" }
        p.hint {
            "近 " (t.window_days) " 天（截至 " (end) "），由各级汇总逐级上报："
            "区县的数字含其所属医疗机构及其下级部门；本级不持有的台账不在下方“台账”表中。"
        }
        table {
            tr {
                th.l { "单位" } th { "摄像机" } th { "时间完好率" } th { "故障次数" }
                th { "已修复" } th { "平均修复时长（小时）" } th { "当前故障" }
            }
            @for r in &t.children {
                @let o = &r.row.operations;
                tr {
                    td.l { (r.name) " " span.hint { (r.unit) } }
                    @if r.row.refused {
                        td.l colspan="6" { span.error { "数据不可信，未计入（已记录拒收）" } }
                    } @else {
                        td { (o.cameras) } td { (rate(o)) } td { (o.faults) } td { (o.repairs) }
                        td { (hours(o)) } td { (o.open_faults) }
                    }
                }
            }
            tr.total {
                td.l { "合计" }
                td { (t.totals.cameras) } td { (rate(&t.totals)) } td { (t.totals.faults) }
                td { (t.totals.repairs) } td { (hours(&t.totals)) } td { (t.totals.open_faults) }
            }
        }
        h2 { "本级持有的台账" }
    }
}

#[derive(Deserialize)]
struct AckForm {
    csrf: Option<String>,
    unit: String,
    code: String,
    what: String,
}

async fn acknowledge(
    State(web): State<Web>,
    Signed(s): Signed,
    Form(f): Form<AckForm>,
) -> Response {
    if let Some(r) = refused(&web, &s, f.csrf.as_deref()) {
        return r;
    }
    let bad = |m: String| render(&web, &s, Some(m), StatusCode::UNPROCESSABLE_ENTITY);
    let (Ok(unit), Ok(code), Some(what)) = (
        UnitCode::parse(&f.unit),
        DeviceCode::parse(&f.code),
        Acknowledge::parse(&f.what),
    ) else {
        return bad("确认的内容有误，请从本页重新操作".into()).await;
    };
    let who = format!("web:{}", s.user);
    match operations::acknowledge(&web.store, &who, &unit, &code, what).await {
        Ok(()) => Redirect::to("/operations").into_response(),
        Err(e @ CameraError::Store(_)) => {
            tracing::error!(error = %e, "could not save an acknowledgement");
            (StatusCode::INTERNAL_SERVER_ERROR, e.chinese()).into_response()
        }
        Err(e) => bad(e.chinese()).await,
    }
}
