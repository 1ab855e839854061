//! A camera's history (修改记录): who changed which fields, from what to what, and when (Beijing
//! time), from the audit rows the projections write; for this unit's cameras and for a child's
//! camera whose ledger is held here. A page at a time.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;
use serde::Deserialize;

use super::Web;
use super::camera_fields::shown;
use super::cameras::{PAGE, pager};
use super::layout::{not_found, shell};
use super::session::Signed;
use crate::app::accounts::Session;
use crate::domain::camera::Field;
use crate::store::AuditRow;

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/cameras/{code}/history", get(own_history))
        .route("/unit/{unit}/cameras/{code}/history", get(child_history))
}

#[derive(Deserialize, Default)]
struct PageQuery {
    page: Option<i64>,
}

/// What a person reads for an audit action.
fn action(a: &str) -> &str {
    match a {
        "add" => "新增",
        "edit" => "修改",
        "remove" => "删除",
        other => other,
    }
}

/// The unit a change came from by sync, if it did (`sync:500103`, `urn:yinglian:node:500103-0001`).
fn synced_from(w: &str) -> Option<&str> {
    match w.split_once(':') {
        Some(("sync", peer)) | Some(("peer", peer)) => Some(peer),
        Some(("urn", rest)) => rest.rsplit_once(':').map(|(_, unit)| unit),
        _ => None,
    }
}

/// Who made a change, as a person reads it (`web:zhang` → zhang（网页）; a synced change by the
/// name of the unit it came from, its code beside).
fn who(w: &str, names: &BTreeMap<String, String>) -> String {
    if let Some(unit) = synced_from(w) {
        return match names.get(unit) {
            Some(name) if !name.is_empty() && name != unit => format!("同步自 {name}（{unit}）"),
            _ => format!("同步自 {unit}"),
        };
    }
    match w.split_once(':') {
        Some(("web", user)) => format!("{user}（网页）"),
        Some(("import", user)) => format!("{user}（导入）"),
        _ if w == "generator" => "批量生成（演示数据）".to_string(),
        _ => w.to_string(),
    }
}

/// A field's value in an audit object, as a person reads it.
fn value(f: Field, v: &serde_json::Value) -> String {
    let text = match v.get(f.key()) {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::Bool(b)) => if *b { "是" } else { "否" }.into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    shown(f, &text)
}

#[allow(clippy::too_many_arguments)]
fn history_page(
    web: &Web,
    s: &Session,
    unit: &str,
    code: &str,
    back: &str,
    page_no: i64,
    rows: &[AuditRow],
    total: i64,
    names: &BTreeMap<String, String>,
    events: &[crate::domain::operations::Event],
) -> Response {
    let body = html! {
        p { a href=(back) { "返回摄像机档案" } }
        h1 { "摄像机 " (code) " 的修改记录" }
        @if page_no == 1 && !events.is_empty() {
            h2 { "运维记录（建设备案、故障、恢复、撤除报告）" }
            table {
                tr { th.l { "时间（北京时间）" } th.l { "事件" } th.l { "报告人" } th.l { "说明" } }
                @for e in events {
                    tr {
                        td.l { (crate::app::zh::beijing_time(e.at)) }
                        td.l { (e.kind.chinese()) }
                        td.l { (who(&e.by, names)) }
                        td.l { (e.note) }
                    }
                }
            }
            h2 { "档案修改" }
        }
        @if rows.is_empty() { p { "没有修改记录。" } } @else {
            table {
                tr { th.l { "时间（北京时间）" } th.l { "操作人" } th.l { "操作" } th.l { "修改内容" } }
                @for r in rows {
                    tr {
                        td.l { (crate::app::zh::beijing_stamp(&r.at)) }
                        td.l { (who(&r.who, names)) }
                        td.l { (action(&r.action)) }
                        td.l {
                            @for key in &r.fields {
                                @if let Some(f) = Field::lookup(key) {
                                    div { (f.chinese()) "："
                                        @if r.action == "edit" { (value(f, &r.old)) " → " }
                                        (value(f, if r.action == "remove" { &r.old } else { &r.new })) }
                                }
                            }
                        }
                    }
                }
            }
        }
        (pager(total, page_no, |n| format!("{}?page={n}", history_href(unit, code))))
    };
    shell(web, s, &format!("{code} 修改记录"), body).into_response()
}

fn history_href(unit: &str, code: &str) -> String {
    format!("/unit/{unit}/cameras/{code}/history")
}

async fn history(
    web: &Web,
    s: &Session,
    unit: &str,
    code: &str,
    back: &str,
    page_no: i64,
) -> Response {
    match web.store.camera(unit, code).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            // Back to the list the camera would be in (its own page is not there either).
            let list = if unit == web.store.unit().as_str() {
                "/cameras".to_string()
            } else {
                format!("/unit/{unit}/cameras")
            };
            return not_found(
                web,
                s,
                html! { "台账中没有摄像机 " (code) },
                &list,
                "返回摄像机列表",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "could not read a camera");
            return (StatusCode::INTERNAL_SERVER_ERROR, "读取失败，请稍后再试").into_response();
        }
    }
    match web
        .store
        .camera_history(unit, code, PAGE, (page_no - 1) * PAGE)
        .await
    {
        Ok((rows, total)) => {
            let mut names = BTreeMap::new();
            for u in rows.iter().filter_map(|r| synced_from(&r.who)) {
                if !names.contains_key(u) {
                    names.insert(
                        u.to_string(),
                        web.store.unit_name(u).await.unwrap_or_default(),
                    );
                }
            }
            let events = match crate::domain::unit::UnitCode::parse(unit) {
                Ok(u) => crate::app::operations::camera_events(&web.store, &u, code)
                    .await
                    .unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            history_page(
                web, s, unit, code, back, page_no, &rows, total, &names, &events,
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "could not read a camera's history");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "读取修改记录失败，请稍后再试",
            )
                .into_response()
        }
    }
}

async fn own_history(
    State(web): State<Web>,
    Signed(s): Signed,
    Path(code): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let unit = web.store.unit().to_string();
    let back = format!("/cameras/{code}");
    history(&web, &s, &unit, &code, &back, q.page.unwrap_or(1).max(1)).await
}

async fn child_history(
    State(web): State<Web>,
    Signed(s): Signed,
    Path((unit, code)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Response {
    let back = format!("/unit/{unit}/cameras/{code}");
    history(&web, &s, &unit, &code, &back, q.page.unwrap_or(1).max(1)).await
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_synced_change_names_the_unit_it_came_from() {
        let names = std::collections::BTreeMap::from([(
            "500103-0001".to_string(),
            "重庆市渝中区人民医院".to_string(),
        )]);
        assert_eq!(
            super::who("urn:yinglian:node:500103-0001", &names),
            "同步自 重庆市渝中区人民医院（500103-0001）"
        );
        assert_eq!(super::who("sync:500104", &names), "同步自 500104");
        assert_eq!(super::who("web:zhang", &names), "zhang（网页）");
    }
    use axum::http::StatusCode;

    use crate::app::cameras;
    use crate::domain::camera::{Field, Value};
    use crate::domain::device_code::DeviceCode;
    use crate::http::router;
    use crate::http::testing::*;

    #[test]
    fn times_are_beijing_time() {
        assert_eq!(
            crate::app::zh::beijing_stamp("2026-11-26T02:01:23.468Z"),
            "2026年11月26日 10:01"
        );
    }

    #[tokio::test]
    async fn the_history_says_who_changed_what_from_what_to_what() {
        let (_dir, s) = store().await;
        add_camera(&s, CAM1, "门诊").await;
        let code = DeviceCode::parse(CAM1).unwrap();
        let changes = [
            (Field::Area, Some(Value::Text("key-public".into()))),
            (Field::Networked, Some(Value::Bool(false))),
        ];
        cameras::edit(&s, "web:zhang", &code, &changes)
            .await
            .unwrap();
        let (c, _) = editor(&s).await;
        let app = router(s.clone());
        let (st, _, body) = send(&app, get(&format!("/cameras/{CAM1}/history"), &c)).await;
        assert_eq!(st, StatusCode::OK);
        for want in [
            "zhang（网页）",
            "修改",
            "区域类别：未填 → 重点公共区域",
            "是否已联网：是 → 否",
            "新增",
            "共 2 条",
        ] {
            assert!(body.contains(want), "{want}: {body}");
        }
        assert!(
            !body.contains("key-public<") && !body.contains("T0"),
            "{body}"
        );
        let (st, _, _) = send(&app, get("/cameras/50010312091320000009/history", &c)).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn the_history_lists_the_cameras_faults_repairs_and_removal_report() {
        let (_dir, s) = store().await;
        add_camera(&s, CAM1, "门诊").await;
        let code = DeviceCode::parse(CAM1).unwrap();
        for state in ["faulty", "in_service"] {
            let change = [(Field::State, Some(Value::Text(state.into())))];
            cameras::edit(&s, "web:zhang", &code, &change)
                .await
                .unwrap();
        }
        cameras::remove(&s, "web:li", &code, "院区改造拆除", false)
            .await
            .unwrap();
        let (c, _) = editor(&s).await;
        let app = router(s.clone());
        let (st, _, body) = send(&app, get(&format!("/cameras/{CAM1}/history"), &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("运维记录"), "{body}");
        // The table of events: after its heading, before the audit's.
        let events = body
            .split("档案修改")
            .next()
            .unwrap()
            .split("运维记录")
            .nth(1)
            .unwrap()
            .split("</h2>")
            .nth(1)
            .unwrap();
        for want in [
            "故障",
            "恢复",
            "撤除报告",
            "院区改造拆除",
            "zhang（网页）",
            "li（网页）",
        ] {
            assert!(events.contains(want), "{want}: {events}");
        }
        // Newest first: the removal report before the repair, the repair before the fault.
        let at = |w: &str| events.find(w).unwrap();
        assert!(
            at("撤除报告") < at("恢复") && at("恢复") < at("故障"),
            "{events}"
        );
    }
}
