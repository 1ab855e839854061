//! The camera ledger's pages: the list (search, pages with counts, the records in conflict) and
//! the form that adds a camera (through `crate::app::cameras`); the pager every long list uses.
//! The edit page is `crate::http::camera_edit`; a child's cameras are `crate::http::supervise`.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;

use super::Web;
use super::camera_fields;
use super::layout::{enc, read_only, shell};
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
}

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    q: Option<String>,
    page: Option<i64>,
    /// Any value: only records with unresolved conflicts.
    conflicts: Option<String>,
}

/// Records on one page of a list.
pub(super) const PAGE: i64 = 50;

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
        Err(e) => {
            tracing::error!(error = %e, "could not read the ledger");
            return (StatusCode::INTERNAL_SERVER_ERROR, "读取失败，请稍后再试").into_response();
        }
    };
    let search = lq.q.unwrap_or_default();
    let body = html! {
        p { a href="/" { "首页" } " · " (s.user)
            @if s.role == accounts::Role::Editor { " · " a href="/cameras/new" { "新增摄像机" } }
            " · " a href="/worklists" { "待办清单" }
            " · " a href="/cameras?conflicts=1" { "待处理的冲突" }
            @if s.role == accounts::Role::Editor { " · " a href="/import" { "导入表格" } } }
        h1 { (if lq.conflicts.is_some() { "待处理的冲突（两处同时修改同一字段）" } else { "摄像机台账（一机一档）" }) }
        form method="get" action="/cameras" {
            input name="q" value=(search) placeholder="设备编码、点位名称或地址";
            button type="submit" { "查询" }
        }
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
                    td.l { (if r.conflicts.is_empty() { "无" } else { "有冲突" }) }
                }
            }
        }
        (pager(total, page_no, |n| format!("/cameras?q={}{}&page={n}", enc(&search), if lq.conflicts.is_some() { "&conflicts=1" } else { "" })))
    };
    shell(&web, &s, "摄像机台账", body).into_response()
}

/// The fields of the camera forms: every field the owner writes (the supervision fields are the
/// supervising level's, `crate::http::supervise`).
pub(super) fn form_fields() -> impl Iterator<Item = Field> {
    Field::ALL.into_iter().filter(|f| !f.is_supervision())
}

/// The form that adds a camera: its device code and every field, grouped, a message beside each
/// bad one (`""`: about the whole record).
fn camera_form(
    csrf: &str,
    values: &HashMap<String, String>,
    errors: &HashMap<String, String>,
) -> Markup {
    let v = |k: &str| values.get(k).cloned().unwrap_or_default();
    let e = |k: &str| errors.get(k).map(String::as_str);
    html! {
        p { a href="/cameras" { "返回台账" } }
        h1 { "新增摄像机" }
        (super::layout::refusal_summary(errors.len()))
        form.record method="post" novalidate action="/cameras/new" {
            input type="hidden" name="csrf" value=(csrf);
            label.field { span.name { "设备编码" span.req { "*" } }
                input name="device_code" value=(v("device_code")) size="24" maxlength="20" placeholder="20 位数字";
                @if let Some(m) = e("device_code") { " " span.err { (m) } } }
            @for (heading, fields) in camera_fields::GROUPS {
                fieldset { legend { (heading) }
                    @for f in fields { (camera_fields::input(*f, &v(f.key()), e(f.key()))) }
                }
            }
            p.hint { "标 * 者为建档必填；经纬度填写后计入标注率。" }
            @if let Some(m) = e("") { p.err { (m) } }
            button type="submit" { "保存" }
        }
    }
}

/// The pager under a long list: how many in all, which page of how many, and links to the first,
/// previous, next and last pages (`href(n)`: the address of page `n`).
pub(super) fn pager(total: i64, page_no: i64, href: impl Fn(i64) -> String) -> Markup {
    let pages = ((total + PAGE - 1) / PAGE).max(1);
    html! {
        p.pager {
            "共 " (total) " 条，每页 " (PAGE) " 条，"
            @if page_no > pages {
                "第 " (page_no) " 页超出范围（共 " (pages) " 页）"
            } @else {
                "第 " (page_no) " / " (pages) " 页"
            }
            // 第一页, not 首页: the pages' 首页 is the home page.
            @if page_no > pages {
                " · " a href=(href(1)) { "第一页" } " · " a href=(href(pages)) { "末页" }
            } @else {
                @if page_no > 1 {
                    " · " a href=(href(1)) { "第一页" } " · " a href=(href(page_no - 1)) { "上一页" }
                }
                @if page_no < pages {
                    " · " a href=(href(page_no + 1)) { "下一页" } " · " a href=(href(pages)) { "末页" }
                }
            }
        }
    }
}

/// Where a form shows a refusal: beside its field when the form has one, else under the form
/// (`""`).
pub(super) fn beside(e: &CameraError) -> &'static str {
    match e.field() {
        Some(k) if k == "device_code" || form_fields().any(|f| f.key() == k) => k,
        _ => "",
    }
}

async fn new_camera_page(State(web): State<Web>, Signed(s): Signed) -> Response {
    if s.role != accounts::Role::Editor {
        return read_only(&web, &s);
    }
    shell(
        &web,
        &s,
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
    if let Some(r) = refused(&web, &s, values.get("csrf").map(String::as_str)) {
        return r;
    }
    // Every field's own error at once, beside it; then the use case's rules.
    let mut errors: Vec<CameraError> = Vec::new();
    let text = |k: &str| values.get(k).map(String::as_str).unwrap_or("");
    let code = DeviceCode::parse(text("device_code"))
        .map_err(|e| errors.push(e.into()))
        .ok();
    let mut fields = Vec::new();
    for f in form_fields() {
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
        shell(
            &web,
            &s,
            "新增摄像机",
            camera_form(&s.csrf, &values, &errors),
        ),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::{StatusCode, header};

    use crate::app::accounts::Role;
    use crate::http::router;
    use crate::http::testing::*;

    #[test]
    fn a_page_past_the_last_says_so_and_leads_back() {
        let m = super::pager(60, 99, |n| format!("/cameras?page={n}")).into_string();
        assert!(m.contains("第 99 页超出范围（共 2 页）"), "{m}");
        assert!(m.contains("/cameras?page=2"), "{m}");
        assert!(!m.contains("下一页") && !m.contains("上一页"), "{m}");
        assert!(m.contains(">末页<") && !m.contains(">首页<"), "{m}");
        let m = super::pager(160, 2, |n| format!("/cameras?page={n}")).into_string();
        for link in [
            "page=1\">第一页<",
            "page=1\">上一页<",
            "page=3\">下一页<",
            "page=4\">末页<",
        ] {
            assert!(m.contains(link), "{link}: {m}");
        }
        let m = super::pager(60, 1, |n| format!("/cameras?page={n}")).into_string();
        assert!(m.contains("第 1 / 2 页") && m.contains("下一页"), "{m}");
    }

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
