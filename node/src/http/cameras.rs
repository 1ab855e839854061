//! The camera ledger's pages: the list (search, pages, the records in conflict), the form that
//! adds a camera (through `crate::app::cameras`), and the read-only list of a unit of the subtree.
//! The edit page is `crate::http::camera_edit`.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;

use super::Web;
use super::layout::{enc, page, read_only};
use super::session::{Signed, refused};
use crate::app::accounts;
use crate::app::cameras::{self, CameraError};
use crate::domain::camera::Field;
use crate::domain::device_code::DeviceCode;
use crate::store::CameraQuery;

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/cameras", get(cameras))
        .route("/cameras/new", get(new_camera_page).post(new_camera))
        .route("/unit/{code}/cameras", get(unit_cameras))
}

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    q: Option<String>,
    page: Option<i64>,
    /// Any value: only records with unresolved conflicts.
    conflicts: Option<String>,
}

/// Records on one page of a list.
const PAGE: i64 = 50;

async fn cameras(
    State(web): State<Web>,
    Signed(s): Signed,
    Query(lq): Query<ListQuery>,
) -> Response {
    let page_no = lq.page.unwrap_or(1).max(1);
    let q = CameraQuery {
        search: lq.q.clone().filter(|q| !q.trim().is_empty()),
        conflicts_only: lq.conflicts.is_some(),
        limit: Some(PAGE),
        offset: (page_no - 1) * PAGE,
        ..Default::default()
    };
    let unit = web.store.unit().to_string();
    let (rows, total) = match web.store.cameras(&unit, &q).await {
        Ok(r) => r,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let pages = (total + PAGE - 1) / PAGE;
    let search = lq.q.unwrap_or_default();
    let body = html! {
        p { a href="/" { "首页" } " · " (s.user)
            @if s.role == accounts::Role::Editor { " · " a href="/cameras/new" { "新增摄像机" } }
            " · " a href="/cameras?conflicts=1" { "待处理的冲突" }
            @if s.role == accounts::Role::Editor { " · " a href="/import" { "导入表格" } } }
        h1 { (if lq.conflicts.is_some() { "待处理的冲突（两处同时修改同一字段）" } else { "摄像机台账（一机一档）" }) }
        form method="get" action="/cameras" {
            input name="q" value=(search) placeholder="设备编码、点位名称或地址";
            button type="submit" { "查询" }
        }
        p { "共 " (total) " 条，第 " (page_no) " / " (pages.max(1)) " 页" }
        table {
            tr { th.l { "设备编码" } th.l { "点位名称" } th.l { "类别" } th.l { "状态" } th.l { "已联网" } th.l { "冲突" } }
            @for r in &rows {
                @let f = crate::domain::figures::CameraFlags::of(&r.camera);
                tr {
                    td.l { a href=(format!("/cameras/{}", r.camera.device_code)) { (r.camera.device_code.to_string()) } }
                    td.l { (r.camera.name()) }
                    td.l { (r.camera.point_class().map(|p| p.chinese()).unwrap_or("—")) }
                    td.l { (r.camera.state().chinese()) }
                    td.l { (if f.networked { "是" } else { "否" }) }
                    td.l { (if r.conflicts.is_empty() { "" } else { "有冲突" }) }
                }
            }
        }
        p {
            @if page_no > 1 { a href=(format!("/cameras?q={}&page={}", enc(&search), page_no - 1)) { "上一页" } " " }
            @if page_no < pages { a href=(format!("/cameras?q={}&page={}", enc(&search), page_no + 1)) { "下一页" } }
        }
    };
    page("摄像机台账", body).into_response()
}

/// The fields of the camera form, in order.
pub(super) const FORM_FIELDS: [Field; 6] = [
    Field::Name,
    Field::Address,
    Field::PointClass,
    Field::Area,
    Field::CameraType,
    Field::Networked,
];

/// The form that adds a camera: its device code and the form's fields, a message beside each
/// bad one (`""`: about the whole record).
fn camera_form(
    csrf: &str,
    values: &HashMap<String, String>,
    errors: &HashMap<String, String>,
) -> Markup {
    let v = |k: &str| values.get(k).cloned().unwrap_or_default();
    let e = |k: &str| errors.get(k).cloned();
    html! {
        p { a href="/cameras" { "返回台账" } }
        h1 { "新增摄像机" }
        form method="post" action="/cameras/new" {
            input type="hidden" name="csrf" value=(csrf);
            label { "设备编码 " input name="device_code" value=(v("device_code")) size="24";
                @if let Some(m) = e("device_code") { " " span.err { (m) } } }
            @for f in FORM_FIELDS {
                label { (f.chinese()) " " input name=(f.key()) value=(v(f.key()));
                    @if let Some(m) = e(f.key()) { " " span.err { (m) } } }
            }
            @if let Some(m) = e("") { p.err { (m) } }
            button type="submit" { "保存" }
        }
    }
}

/// Where a form shows a refusal: beside its field when the form has one, else under the form
/// (`""`).
pub(super) fn beside(e: &CameraError) -> &'static str {
    match e.field() {
        Some(k) if k == "device_code" || FORM_FIELDS.iter().any(|f| f.key() == k) => k,
        _ => "",
    }
}

async fn new_camera_page(Signed(s): Signed) -> Response {
    if s.role != accounts::Role::Editor {
        return read_only();
    }
    page(
        "新增摄像机",
        camera_form(&s.csrf, &Default::default(), &Default::default()),
    )
    .into_response()
}

async fn new_camera(
    State(web): State<Web>,
    Signed(s): Signed,
    Form(values): Form<HashMap<String, String>>,
) -> Response {
    if let Some(r) = refused(&s, values.get("csrf").map(String::as_str)) {
        return r;
    }
    // Every field's own error at once, beside it; then the use case's rules.
    let mut errors: Vec<CameraError> = Vec::new();
    let text = |k: &str| values.get(k).map(String::as_str).unwrap_or("");
    let code = DeviceCode::parse(text("device_code"))
        .map_err(|e| errors.push(e.into()))
        .ok();
    let mut fields = Vec::new();
    for f in FORM_FIELDS {
        match f.parse_value(text(f.key())) {
            Ok(Some(v)) => fields.push((f, v)),
            Ok(None) => {}
            Err(e) => errors.push(e.into()),
        }
    }
    if let (Some(code), true) = (code, errors.is_empty()) {
        let who = format!("web:{}", s.user);
        match cameras::add(&web.store, &who, code, fields).await {
            Ok(_) => return Redirect::to("/cameras").into_response(),
            Err(e) => errors.push(e),
        }
    }
    let errors = errors
        .iter()
        .map(|e| (beside(e).to_string(), e.chinese()))
        .collect();
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        page("新增摄像机", camera_form(&s.csrf, &values, &errors)),
    )
        .into_response()
}

/// The cameras of a unit of the subtree: from the replica held here, or asked of the hub below
/// that holds it (the city keeps no camera copies). Read-only.
async fn unit_cameras(
    State(web): State<Web>,
    _signed: Signed,
    Path(code): Path<String>,
    Query(lq): Query<ListQuery>,
) -> Response {
    let Ok(unit) = crate::domain::unit::UnitCode::parse(&code) else {
        return (StatusCode::NOT_FOUND, "not a unit code").into_response();
    };
    let q = CameraQuery {
        search: lq.q.clone().filter(|q| !q.trim().is_empty()),
        limit: Some(PAGE),
        offset: (lq.page.unwrap_or(1).max(1) - 1) * PAGE,
        ..Default::default()
    };
    let held = !web
        .store
        .heads(&crate::docs::document::DocId::ledger(&unit))
        .await
        .unwrap_or_default()
        .is_empty();
    let result = if held {
        crate::federation::reports::held_cameras(&web.store, unit.as_str(), &q)
            .await
            .map_err(|e| e.to_string())
    } else {
        crate::federation::reports::forward_cameras(&web.store, web.store.dir(), &unit, &q)
            .await
            .map_err(|e| format!("{e:#}"))
    };
    let (total, list) = match result {
        Ok((total, list)) => (
            total,
            list.iter()
                .map(crate::docs::ledger::CameraState::to_json)
                .collect::<Vec<_>>(),
        ),
        Err(e) => {
            return (StatusCode::NOT_FOUND, page("未找到", html! { h1 { "无法取得 " (unit) " 的摄像机明细" } p.err { (e) } p { a href="/" { "返回首页" } } })).into_response();
        }
    };
    let t = |c: &serde_json::Value, k: &str| crate::app::zh::json_field(k, &c[k]);
    let body = html! {
        p { a href="/" { "首页" } " · " a href=(format!("/unit/{unit}")) { (unit) } }
        h1 { (unit) " 摄像机明细（" (total) " 条" (if held { "" } else { "，由下级枢纽提供" }) "）" }
        table {
            tr { th.l { "设备编码" } th.l { "点位名称" } th.l { "类别" } th.l { "状态" } th.l { "已联网" } }
            @for c in &list {
                tr { td.l { (t(c, "device_code")) } td.l { (t(c, "name")) } td.l { (t(c, "point_class")) } td.l { (t(c, "state")) } td.l { (t(c, "networked")) } }
            }
        }
    };
    page(&format!("{unit} 摄像机明细"), body).into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::{StatusCode, header};

    use crate::app::accounts::Role;
    use crate::http::router;
    use crate::http::testing::*;

    #[tokio::test]
    async fn the_add_form_says_what_is_wrong_beside_each_field_and_saves_a_good_one() {
        let (_dir, s) = store().await;
        let (c, csrf) = editor(&s).await;
        let app = router(s.clone());
        let (st, _, body) = send(&app, get("/cameras/new", &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("新增摄像机"), "{body}");
        // A bad code and a bad class: a message beside each, nothing saved.
        let (st, _, body) = send(
            &app,
            form(
                "/cameras/new",
                &c,
                format!("csrf={csrf}&device_code=1234&name=&point_class=9"),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.matches("class=\"err\"").count() >= 2, "{body}");
        assert!(
            body.contains("设备编码有误") && body.contains("点位类别填写有误"),
            "{body}"
        );
        assert_eq!(cameras(&s).await, 0);
        // No name: the use case's rule, beside the name.
        let (st, _, body) = send(
            &app,
            form(
                "/cameras/new",
                &c,
                format!("csrf={csrf}&device_code={CAM1}&name="),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("点位名称必须填写"), "{body}");
        // A good one.
        let (st, h, _) = send(&app, form("/cameras/new", &c, format!("csrf={csrf}&device_code={CAM1}&name=%E9%97%A8%E8%AF%8A&point_class=1&networked=%E6%98%AF"))).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        assert_eq!(h[header::LOCATION], "/cameras");
        assert_eq!(cameras(&s).await, 1);
        // Twice: refused beside the code.
        let (st, _, body) = send(
            &app,
            form(
                "/cameras/new",
                &c,
                format!("csrf={csrf}&device_code={CAM1}&name=x"),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("台账中已有摄像机"), "{body}");
        assert_eq!(cameras(&s).await, 1);
        // A stale form token changes nothing.
        let (st, _, _) = send(
            &app,
            form(
                "/cameras/new",
                &c,
                "csrf=forged&device_code=50010312091320000002&name=x".into(),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert_eq!(cameras(&s).await, 1);
    }

    #[tokio::test]
    async fn the_list_searches_and_the_conflicts_page_lists_only_conflicts() {
        let (_dir, s) = store().await;
        add_camera(&s, CAM1, "门诊").await;
        add_camera(&s, "50010312091320000002", "西门").await;
        let (c, _) = editor(&s).await;
        let app = router(s.clone());
        let (st, _, body) = send(&app, get("/cameras?q=%E9%97%A8%E8%AF%8A", &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains(CAM1) && body.contains("门诊") && !body.contains("西门"),
            "{body}"
        );
        assert!(body.contains("共 1 条"), "{body}");
        let (_, _, body) = send(&app, get("/cameras?conflicts=1", &c)).await;
        assert!(
            body.contains("待处理的冲突") && !body.contains(CAM1),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_read_only_account_sees_but_cannot_change() {
        let (_dir, s) = store().await;
        add_camera(&s, CAM1, "门诊").await;
        let (c, csrf) = signed_in(&s, "li", Role::ReadOnly).await;
        let app = router(s.clone());
        let (st, _, body) = send(&app, get("/cameras", &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains(CAM1) && !body.contains("新增摄像机"),
            "{body}"
        );
        for (path, body) in [
            (
                "/cameras/new",
                format!("csrf={csrf}&device_code=50010312091320000002&name=x"),
            ),
            (
                &format!("/cameras/{CAM1}")[..],
                format!("csrf={csrf}&name=x"),
            ),
        ] {
            let (st, _, page) = send(&app, form(path, &c, body)).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{path}");
            assert!(page.contains("只读"), "{page}");
        }
        let (st, _, _) = send(&app, get("/cameras/new", &c)).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert_eq!(cameras(&s).await, 1);
        let row = s.camera(UNIT, CAM1).await.unwrap().unwrap();
        assert_eq!(row.camera.name(), "门诊");
    }
}
