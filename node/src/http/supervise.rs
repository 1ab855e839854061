//! Drill-down and supervision (督导): the cameras of a unit of the subtree, a page at a time with
//! counts — a hub's children first (so that a district at the city leads to its institutions, not
//! to the bureau's own empty ledger), then the unit's own cameras, in Chinese — and, for a
//! child whose ledger is held here, a camera's page with the whole record read-only and the
//! supervision fields (联网确认, 核定点位类别, 督导意见) editable through
//! `crate::app::cameras::supervise`, the same rules as `yl-node camera supervise`.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;

use super::Web;
use super::camera_fields::{choices, shown};
use super::camera_fields::{shown_key, values_of};
use super::cameras::{PAGE, pager};
use super::layout::{enc, not_found, shell};
use super::session::{Signed, refused};
use crate::app::accounts::{Role, Session};
use crate::app::cameras::{self, CameraError};
use crate::docs::document::DocId;
use crate::domain::camera::{Camera, Field, Value};
use crate::domain::device_code::DeviceCode;
use crate::domain::unit::UnitCode;
use crate::store::{CameraQuery, CameraRow};

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/unit/{code}/cameras", get(unit_cameras))
        .route(
            "/unit/{unit}/cameras/{code}",
            get(supervise_page).post(supervise),
        )
}

/// The supervision fields, in the order of the form.
fn supervision() -> impl Iterator<Item = Field> {
    Field::ALL.into_iter().filter(|f| f.is_supervision())
}

#[derive(Deserialize, Default)]
struct ListQuery {
    q: Option<String>,
    page: Option<i64>,
}

/// What a person reads for field `f` of `c`.
fn read(c: &Camera, f: Field) -> String {
    shown(f, &c.get(f).map(Value::to_string).unwrap_or_default())
}

/// Whether this unit holds `unit`'s ledger and supervises it (a child's, not its own).
async fn supervises(web: &Web, unit: &UnitCode) -> bool {
    unit != web.store.unit()
        && !web
            .store
            .heads(&DocId::ledger(unit))
            .await
            .unwrap_or_default()
            .is_empty()
}

/// The cameras of a unit of the subtree: from the replica held here, or asked of the hub below
/// that holds it (the city keeps no camera copies); a hub's children first.
async fn unit_cameras(
    State(web): State<Web>,
    Signed(s): Signed,
    Path(code): Path<String>,
    Query(lq): Query<ListQuery>,
) -> Response {
    let Ok(unit) = UnitCode::parse(&code) else {
        return not_found(
            &web,
            &s,
            html! { "没有单位代码为 " (code) " 的单位" },
            "/",
            "返回首页",
        );
    };
    let page_no = lq.page.unwrap_or(1).max(1);
    let search = lq.q.clone().unwrap_or_default();
    let q = CameraQuery {
        search: lq.q.clone().filter(|q| !q.trim().is_empty()),
        limit: Some(PAGE),
        offset: (page_no - 1) * PAGE,
        ..Default::default()
    };
    let stats = crate::app::figures::subtree_stats(&web.store, Some(unit.as_str()))
        .await
        .ok();
    let name = match &stats {
        Some(s) if !s.name.is_empty() => s.name.clone(),
        _ => web.store.unit_name(unit.as_str()).await.unwrap_or_default(),
    };
    let children = stats.map(|s| s.children).unwrap_or_default();
    let held = unit == *web.store.unit() || supervises(&web, &unit).await;
    let result = if held {
        crate::federation::reports::held_cameras(&web.store, unit.as_str(), &q)
            .await
            .map_err(|e| e.to_string())
    } else {
        crate::federation::reports::forward_cameras(&web.store, web.store.dir(), &unit, &q)
            .await
            .map_err(|e| format!("{e:#}"))
    };
    let editable = held && unit != *web.store.unit();
    let title = if name.is_empty() {
        unit.to_string()
    } else {
        format!("{name}（{unit}）")
    };
    let body = html! {
        p { a href="/" { "首页" } " · " a href=(format!("/unit/{unit}")) { "指标" } }
        h1 { (title) " 摄像机明细" }
        @if !children.is_empty() {
            h2 { "下级单位（" (children.len()) " 个）" }
            table {
                tr { th.l { "单位" } th { "已建" } th { "应联网" } th { "已联网" } th { "已建档" } th { "已标注" } th.l { "明细" } }
                @for c in &children {
                    tr {
                        td.l { (c.name) }
                        td { (c.built) } td { (c.must_network) } td { (c.networked) }
                        td { (c.archived) } td { (c.geo_tagged) }
                        td.l { a href=(format!("/unit/{}/cameras", c.unit)) { "摄像机明细" } }
                    }
                }
            }
        }
        @match &result {
            Err(e) => {
                @if children.is_empty() {
                    p.err { "暂时无法取得本单位的摄像机明细：下级枢纽未连接或未响应。" }
                    p.hint { (e) }
                }
            }
            Ok((total, list)) => {
                @if !children.is_empty() && *total == 0 && search.is_empty() {
                    p { "本级台账没有摄像机；各下级单位的摄像机请从上表进入。" }
                } @else {
                    h2 { (if children.is_empty() { "摄像机" } else { "本级摄像机" })
                        "（" (total) " 条" @if !held { "，由下级枢纽提供" } "）" }
                    form method="get" action=(format!("/unit/{unit}/cameras")) {
                        input name="q" value=(search) placeholder="设备编码、点位名称或地址";
                        button type="submit" { "查询" }
                    }
                    (camera_table(&unit, list.iter().map(|c| &c.camera), editable))
                    (pager(*total as i64, page_no, |n| format!("/unit/{unit}/cameras?q={}&page={n}", enc(&search))))
                }
            }
        }
    };
    let status = match (&result, children.is_empty()) {
        (Err(_), true) => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    };
    (
        status,
        shell(&web, &s, &format!("{title} 摄像机明细"), body),
    )
        .into_response()
}

fn camera_table<'a>(
    unit: &UnitCode,
    cams: impl Iterator<Item = &'a Camera>,
    editable: bool,
) -> Markup {
    html! {
        table {
            tr { th.l { "设备编码" } th.l { "点位名称" } th.l { "点位类别" } th.l { "区域类别" }
                th.l { "设备状态" } th.l { "已联网" } th.l { "联网确认" } th.l { "督导意见" } }
            @for c in cams {
                @let code = c.device_code.as_str();
                tr {
                    td.l { @if editable { a href=(format!("/unit/{unit}/cameras/{code}")) { (code) } } @else { (code) } }
                    td.l { (c.name()) }
                    td.l { (c.point_class().map(|p| p.chinese()).unwrap_or("未填")) }
                    td.l { (c.area().map(|a| a.chinese()).unwrap_or("未填")) }
                    td.l { (c.state().chinese()) }
                    td.l { (if c.is_networked() { "是" } else { "否" }) }
                    td.l { (read(c, Field::NetworkedConfirmed)) }
                    td.l { (c.text(Field::SupervisionNote).unwrap_or("未填")) }
                }
            }
        }
    }
}

fn supervise_form(
    unit: &UnitCode,
    name: &str,
    row: &CameraRow,
    s: &Session,
    values: &HashMap<String, String>,
    errors: &HashMap<String, String>,
) -> Markup {
    let code = row.camera.device_code.as_str();
    let v = |k: &str| values.get(k).cloned().unwrap_or_default();
    html! {
        p { a href=(format!("/unit/{unit}/cameras")) { "返回 " (name) " 摄像机明细" }
            " · " a href=(format!("/unit/{unit}/cameras/{code}/history")) { "修改记录" } }
        h1 { (name) " · 摄像机 " (code) " " (row.camera.name()) }
        (super::layout::refusal_summary(errors.len()))
        h2 { "一机一档（由本单位填报，此处只读）" }
        table {
            @for f in Field::ALL.into_iter().filter(|f| !f.is_supervision()) {
                tr { th.l { (f.chinese()) } td.l { (read(&row.camera, f)) } }
            }
        }
        h2 { "督导（由上级填写）" }
        @if s.role == Role::Editor {
            form.record method="post" action=(format!("/unit/{unit}/cameras/{code}")) {
                input type="hidden" name="csrf" value=(s.csrf);
                @for f in supervision() {
                    @let value = v(f.key());
                    label.field {
                        span.name { (f.chinese()) }
                        @if let Some(options) = choices(f) {
                            select name=(f.key()) {
                                option value="" selected[value.is_empty()] { "未填" }
                                @for (o, zh) in &options { option value=(o) selected[*o == value] { (zh) } }
                            }
                        } @else {
                            input name=(f.key()) value=(value) size="60";
                        }
                        @if let Some(m) = errors.get(f.key()) { " " span.err { (m) } }
                    }
                    input type="hidden" name=(shown_key(f)) value=(v(&shown_key(f)));
                }
                @if let Some(m) = errors.get("") { p.err { (m) } }
                button type="submit" { "保存督导意见" }
            }
        } @else {
            table { @for f in supervision() { tr { th.l { (f.chinese()) } td.l { (read(&row.camera, f)) } } } }
        }
    }
}

/// The held child's camera `code` of `unit`, or the page that says why there is none.
async fn child_camera(
    web: &Web,
    s: &Session,
    unit: &str,
    code: &str,
) -> Result<(UnitCode, CameraRow), Response> {
    let back = "/";
    let Ok(u) = UnitCode::parse(unit) else {
        return Err(not_found(
            web,
            s,
            html! { "没有单位代码为 " (unit) " 的单位" },
            back,
            "返回首页",
        ));
    };
    if !supervises(web, &u).await {
        return Err(not_found(
            web,
            s,
            html! { "本单位不持有 " (unit) " 的台账，不能督导其摄像机（只有其上级可以）" },
            back,
            "返回首页",
        ));
    }
    match web.store.camera(unit, code).await {
        Ok(Some(row)) => Ok((u, row)),
        _ => Err(not_found(
            web,
            s,
            html! { (unit) " 的台账中没有摄像机 " (code) },
            &format!("/unit/{unit}/cameras"),
            "返回摄像机明细",
        )),
    }
}

/// `?saved=1`: the page after a supervision was saved.
#[derive(Deserialize, Default)]
struct SavedQuery {
    saved: Option<String>,
}

async fn supervise_page(
    State(web): State<Web>,
    Signed(s): Signed,
    Path((unit, code)): Path<(String, String)>,
    Query(q): Query<SavedQuery>,
) -> Response {
    let (u, row) = match child_camera(&web, &s, &unit, &code).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let name = web.store.unit_name(&unit).await.unwrap_or_default();
    let body = supervise_form(
        &u,
        &name,
        &row,
        &s,
        &values_of(&row, supervision()),
        &HashMap::new(),
    );
    let body = html! {
        @if q.saved.is_some() {
            p.saved { "已保存督导意见，将同步给 " (name) "。" }
        }
        (body)
    };
    shell(&web, &s, &format!("督导 {code}"), body).into_response()
}

async fn supervise(
    State(web): State<Web>,
    Signed(s): Signed,
    Path((unit, code)): Path<(String, String)>,
    Form(values): Form<HashMap<String, String>>,
) -> Response {
    if let Some(r) = refused(&web, &s, values.get("csrf").map(String::as_str)) {
        return r;
    }
    let (u, _) = match child_camera(&web, &s, &unit, &code).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(device_code) = DeviceCode::parse(&code) else {
        return not_found(&web, &s, html! { "设备编码有误：" (code) }, "/", "返回首页");
    };
    // Only what the person changed on the form, as the CLI's given flags.
    let mut changes = Vec::new();
    let mut errors: Vec<CameraError> = Vec::new();
    for f in supervision() {
        let typed = values.get(f.key()).map(|t| t.trim()).unwrap_or("");
        let was = values.get(&shown_key(f)).map(|t| t.trim()).unwrap_or("");
        if values.contains_key(f.key()) && typed != was {
            match f.parse_value(typed) {
                Ok(v) => changes.push((f, v)),
                Err(e) => errors.push(e.into()),
            }
        }
    }
    let to = format!("/unit/{unit}/cameras/{code}");
    if errors.is_empty() {
        let who = format!("web:{}", s.user);
        match cameras::supervise(&web.store, &who, &u, &device_code, &changes).await {
            Ok(_) => return Redirect::to(&format!("{to}?saved=1")).into_response(),
            Err(CameraError::NoSupervision) => return Redirect::to(&to).into_response(),
            Err(e @ CameraError::Store(_)) => {
                tracing::error!(error = %e, "could not save a supervision");
                return (StatusCode::INTERNAL_SERVER_ERROR, e.chinese()).into_response();
            }
            Err(e) => errors.push(e),
        }
    }
    let Ok((_, row)) = child_camera(&web, &s, &unit, &code).await else {
        return Redirect::to(&to).into_response();
    };
    let errors = errors
        .iter()
        .map(|e| {
            let k = e.field().filter(|k| supervision().any(|f| f.key() == *k));
            (k.unwrap_or("").to_string(), e.chinese())
        })
        .collect();
    let name = web.store.unit_name(&unit).await.unwrap_or_default();
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        shell(
            &web,
            &s,
            &format!("督导 {code}"),
            supervise_form(&u, &name, &row, &s, &values, &errors),
        ),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use crate::app::accounts::Role;
    use crate::docs::document::DocId;
    use crate::docs::ledger;
    use crate::domain::camera::{Camera, Field, Value};
    use crate::domain::device_code::DeviceCode;
    use crate::domain::unit::{UnitCode, UnitKind};
    use crate::http::router;
    use crate::http::testing::*;
    use crate::store::Store;

    const DISTRICT: &str = "500103-0000";

    /// A district's store holding the ledger of its hospital (`UNIT`) with camera `CAM1`.
    async fn district() -> (tempfile::TempDir, std::sync::Arc<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let unit = UnitCode::parse(DISTRICT).unwrap();
        let s = Store::init(
            dir.path(),
            &unit,
            "渝中区卫生健康委员会",
            UnitKind::District,
            crate::domain::unit::Role::Hub,
        )
        .await
        .unwrap();
        let mut cam = Camera::new(DeviceCode::parse(CAM1).unwrap());
        cam.fields.insert(Field::Name, Value::Text("门诊".into()));
        cam.fields
            .insert(Field::Area, Value::Text("key-public".into()));
        let child = UnitCode::parse(UNIT).unwrap();
        s.edit(&DocId::ledger(&child), "sync:500103-0001", "add", |d| {
            ledger::add_camera(d, &cam)?;
            Ok(())
        })
        .await
        .unwrap();
        (dir, std::sync::Arc::new(s))
    }

    /// A signed-in account of the district: its session cookie and CSRF token.
    async fn district_account(s: &Store, user: &str, role: Role) -> (String, String) {
        let (c, csrf) = signed_in(s, user, role).await;
        let token = c.split_once('=').unwrap().1;
        (format!("yl_session_{DISTRICT}={token}"), csrf)
    }

    #[tokio::test]
    async fn a_district_supervises_a_childs_camera_with_the_rules_of_the_command_line() {
        let (_dir, s) = district().await;
        let (c, csrf) = district_account(&s, "zhang", Role::Editor).await;
        let app = router(s.clone());
        let (st, _, body) = send(&app, get(&format!("/unit/{UNIT}/cameras"), &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains("重点公共区域")
                && !body.contains("key-public")
                && body.contains(&format!("href=\"/unit/{UNIT}/cameras/{CAM1}\""))
                && body.contains("共 1 条"),
            "{body}"
        );
        let uri = format!("/unit/{UNIT}/cameras/{CAM1}");
        let (st, _, body) = send(&app, get(&uri, &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains("督导（由上级填写）")
                && body.contains("<select name=\"point_class_ruled\">"),
            "{body}"
        );
        // A bad class: said beside it, nothing written.
        let bad = format!("csrf={csrf}&point_class_ruled=7&shown_point_class_ruled=");
        let (st, _, body) = send(&app, form(&uri, &c, bad)).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("核定点位类别填写有误"), "{body}");
        let good = format!(
            "csrf={csrf}&networked_confirmed=%E5%90%A6&shown_networked_confirmed=\
             &point_class_ruled=1&shown_point_class_ruled=\
             &supervision_note=%E8%AF%B7%E6%95%B4%E6%94%B9&shown_supervision_note="
        );
        let (st, _, _) = send(&app, form(&uri, &c, good)).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        let row = s.camera(UNIT, CAM1).await.unwrap().unwrap();
        assert_eq!(
            row.camera.get(Field::NetworkedConfirmed),
            Some(&Value::Bool(false))
        );
        assert_eq!(row.camera.point_class().map(|p| p as i64), Some(1));
        assert_eq!(row.camera.text(Field::SupervisionNote), Some("请整改"));
        let (_, _, body) = send(&app, get(&format!("/unit/{UNIT}/cameras"), &c)).await;
        assert!(body.contains("请整改") && body.contains("一类"), "{body}");
        // The district's own ledger is not supervised; a read-only account cannot write.
        let own = format!("/unit/{DISTRICT}/cameras/{CAM1}");
        let (st, _, body) = send(&app, get(&own, &c)).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert!(body.contains("不能督导"), "{body}");
        let (ro, ro_csrf) = district_account(&s, "li", Role::ReadOnly).await;
        let (_, _, body) = send(&app, get(&uri, &ro)).await;
        assert!(
            !body.contains("保存督导意见") && body.contains("请整改"),
            "{body}"
        );
        let post = format!("csrf={ro_csrf}&supervision_note=x&shown_supervision_note=");
        let (st, _, _) = send(&app, form(&uri, &ro, post)).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn a_hospital_cannot_supervise_itself() {
        let (_dir, s) = store().await;
        add_camera(&s, CAM1, "门诊").await;
        let (c, _) = editor(&s).await;
        let app = router(s.clone());
        let (st, _, body) = send(&app, get(&format!("/unit/{UNIT}/cameras"), &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains("门诊") && !body.contains(&format!("/unit/{UNIT}/cameras/{CAM1}")),
            "{body}"
        );
        let (st, _, _) = send(&app, get(&format!("/unit/{UNIT}/cameras/{CAM1}"), &c)).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
    }
}
