//! A camera's edit page. The form carries, beside each field, the value it showed (`shown_<key>`),
//! and saving writes only the fields whose submitted value differs from it, through
//! `crate::app::cameras::edit`: a change made elsewhere meanwhile to a field the person did not
//! touch is kept. A field that two replicas wrote concurrently (Automerge keeps both values) is
//! shown with both, each with a choice "采用：…" (`pick_<key>`); saving resolves it only when the
//! person picks one (or types a new value).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};

use super::Web;
use super::camera_fields;
use super::camera_fields::{shown_key, values_of};
use super::cameras::{beside, form_fields};
use super::layout::{not_found, shell};
use super::session::{Signed, refused};
use crate::app::accounts::Session;
use crate::app::cameras::{self, CameraError};
use crate::domain::camera::{Field, Value};
use crate::domain::device_code::DeviceCode;
use crate::store::CameraRow;

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new().route("/cameras/{code}", get(edit_camera_page).post(edit_camera))
}

/// The name of the choice between the values of `f` in conflict.
fn pick_key(f: Field) -> String {
    format!("pick_{}", f.key())
}

fn edit_form(
    row: &CameraRow,
    csrf: &str,
    values: &HashMap<String, String>,
    errors: &HashMap<String, String>,
) -> Markup {
    let code = row.camera.device_code.as_str();
    let v = |k: &str| values.get(k).cloned().unwrap_or_default();
    html! {
        p { a href="/cameras" { "返回台账" } " · " a href=(format!("/cameras/{code}/history")) { "修改记录" } }
        h1 { "摄像机 " (code) " " (row.camera.name()) }
        (super::layout::refusal_summary(errors.len()))
        @if !row.conflicts.is_empty() {
            p.err { "有字段被两处同时修改，各自的值都保留着：请选择采用哪一个再保存；不选则保留冲突。" }
        }
        form.record method="post" novalidate action=(format!("/cameras/{code}")) {
            input type="hidden" name="csrf" value=(csrf);
            @for (heading, fields) in camera_fields::GROUPS {
                fieldset { legend { (heading) }
                    @for f in fields.iter().copied() {
                        (camera_fields::input(f, &v(f.key()), errors.get(f.key()).map(String::as_str)))
                        input type="hidden" name=(shown_key(f)) value=(v(&shown_key(f)));
                        @if let Some(both) = row.conflicts.get(&f) {
                            p.conflict data-field=(f.key()) {
                                span.err { "冲突：" (f.chinese()) "被同时改为 "
                                    (both.iter().map(|x| camera_fields::shown(f, &x.to_string())).collect::<Vec<_>>().join(" / ")) }
                                @for value in both {
                                    @let value = value.to_string();
                                    " "
                                    label.inline {
                                        input type="radio" name=(pick_key(f)) value=(value)
                                            checked[values.get(&pick_key(f)) == Some(&value)];
                                        " 采用：" (camera_fields::shown(f, &value))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if !supervision(row).is_empty() {
                fieldset { legend { "上级督导意见（由上级填写，此处只读）" }
                    @for (f, value) in supervision(row) { p { (f.chinese()) "：" (value) } }
                }
            }
            @if let Some(m) = errors.get("") { p.err { (m) } }
            button type="submit" { "保存" }
        }
    }
}

/// The supervision fields a supervising level wrote on `row`, as a person reads them.
fn supervision(row: &CameraRow) -> Vec<(Field, String)> {
    Field::ALL
        .into_iter()
        .filter(|f| f.is_supervision())
        .filter_map(|f| {
            let v = row.camera.get(f)?.to_string();
            Some((f, camera_fields::shown(f, &v)))
        })
        .collect()
}

fn no_such_camera(web: &Web, s: &Session, code: &str) -> Response {
    not_found(
        web,
        s,
        html! { "台账中没有摄像机 " (code) },
        "/cameras",
        "返回台账",
    )
}

/// The record of `code` in this unit's ledger, if there is one.
async fn row(web: &Web, code: &str) -> Option<CameraRow> {
    let unit = web.store.unit().to_string();
    web.store.camera(&unit, code).await.ok().flatten()
}

async fn edit_camera_page(
    State(web): State<Web>,
    Signed(s): Signed,
    Path(code): Path<String>,
) -> Response {
    let Some(row) = row(&web, &code).await else {
        return no_such_camera(&web, &s, &code);
    };
    shell(
        &web,
        &s,
        &code,
        edit_form(
            &row,
            &s.csrf,
            &values_of(&row, form_fields()),
            &HashMap::new(),
        ),
    )
    .into_response()
}

/// What the person changed on the form: the fields whose value differs from what the form
/// showed, and the values picked for fields in conflict; or the errors of the values typed in.
fn changes(
    values: &HashMap<String, String>,
) -> Result<Vec<(Field, Option<Value>)>, Vec<CameraError>> {
    let mut changes = Vec::new();
    let mut errors = Vec::new();
    for f in form_fields() {
        let typed = values.get(f.key()).map(|t| t.trim());
        let shown = values.get(&shown_key(f)).map(|t| t.trim());
        let chosen = match (typed, values.get(&pick_key(f))) {
            (Some(t), _) if Some(t) != shown => t,
            (_, Some(picked)) => picked.as_str(),
            _ => continue,
        };
        match f.parse_value(chosen) {
            Ok(v) => changes.push((f, v)),
            Err(e) => errors.push(e.into()),
        }
    }
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(errors)
    }
}

async fn edit_camera(
    State(web): State<Web>,
    Signed(s): Signed,
    Path(code): Path<String>,
    Form(values): Form<HashMap<String, String>>,
) -> Response {
    if let Some(r) = refused(&web, &s, values.get("csrf").map(String::as_str)) {
        return r;
    }
    let Ok(device_code) = DeviceCode::parse(&code) else {
        return no_such_camera(&web, &s, &code);
    };
    let errors = match changes(&values) {
        Ok(changes) => {
            let who = format!("web:{}", s.user);
            match cameras::edit(&web.store, &who, &device_code, &changes).await {
                Ok(_) | Err(CameraError::NothingToChange) => {
                    return Redirect::to("/cameras").into_response();
                }
                Err(CameraError::NotFound { .. }) => return no_such_camera(&web, &s, &code),
                Err(e @ CameraError::Store(_)) => {
                    tracing::error!(error = %e, "could not save a camera's edit");
                    return (StatusCode::INTERNAL_SERVER_ERROR, e.chinese()).into_response();
                }
                Err(e) => vec![e],
            }
        }
        Err(errors) => errors,
    };
    let Some(row) = row(&web, &code).await else {
        return no_such_camera(&web, &s, &code);
    };
    let errors = errors
        .iter()
        .map(|e| (beside(e).to_string(), e.chinese()))
        .collect();
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        shell(&web, &s, &code, edit_form(&row, &s.csrf, &values, &errors)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::{StatusCode, header};

    use crate::app::cameras;
    use crate::docs::document::DocId;
    use crate::domain::camera::{Field, Value};
    use crate::domain::device_code::DeviceCode;
    use crate::http::layout::enc;
    use crate::http::router;
    use crate::http::testing::*;

    /// The edit form as a browser posts it: each field typed and what the page showed for it.
    fn posted(csrf: &str, fields: &[(&str, &str, &str)]) -> String {
        let mut body = format!("csrf={csrf}");
        for (key, typed, shown) in fields {
            body += &format!("&{key}={}&shown_{key}={}", enc(typed), enc(shown));
        }
        body
    }

    #[tokio::test]
    async fn saving_writes_only_what_the_person_changed() {
        let (_dir, s) = store().await;
        add_camera(&s, CAM1, "门诊").await;
        let (c, csrf) = editor(&s).await;
        let app = router(s.clone());
        let (st, _, page) = send(&app, get(&format!("/cameras/{CAM1}"), &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            page.contains("name=\"name\" value=\"门诊\"")
                && page.contains("name=\"shown_name\" value=\"门诊\"")
                && page.contains("name=\"shown_address\" value=\"\""),
            "{page}"
        );
        // Meanwhile someone else gives it an address.
        let code = DeviceCode::parse(CAM1).unwrap();
        let address = [(Field::Address, Some(Value::Text("一楼".into())))];
        cameras::edit(&s, "other", &code, &address).await.unwrap();
        // The page, saved with a new name, leaves the address it showed empty alone.
        let form_of = |name: &str| {
            posted(
                &csrf,
                &[
                    ("name", name, "门诊"),
                    ("address", "", ""),
                    ("point_class", "", ""),
                    ("area", "", ""),
                    ("camera_type", "", ""),
                    ("networked", "是", "是"),
                ],
            )
        };
        let uri = format!("/cameras/{CAM1}");
        let (st, h, _) = send(&app, form(&uri, &c, form_of("门诊大厅"))).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        assert_eq!(h[header::LOCATION], "/cameras");
        let row = s.camera(UNIT, CAM1).await.unwrap().unwrap();
        assert_eq!(row.camera.name(), "门诊大厅");
        assert_eq!(row.camera.text(Field::Address), Some("一楼"));
        assert!(row.camera.is_networked());
        // Saved unchanged, the form writes nothing at all.
        let heads = s.heads(&DocId::ledger(s.unit())).await.unwrap();
        let unchanged = posted(&csrf, &[("name", "门诊", "门诊")]);
        let (st, _, _) = send(&app, form(&uri, &c, unchanged)).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        assert_eq!(s.heads(&DocId::ledger(s.unit())).await.unwrap(), heads);
    }

    #[tokio::test]
    async fn a_bad_value_is_said_beside_its_field_and_nothing_is_saved() {
        let (_dir, s) = store().await;
        add_camera(&s, CAM1, "门诊").await;
        let (c, csrf) = editor(&s).await;
        let app = router(s.clone());
        let uri = format!("/cameras/{CAM1}");
        let bad = posted(
            &csrf,
            &[("name", "门诊大厅", "门诊"), ("point_class", "9", "")],
        );
        let (st, _, body) = send(&app, form(&uri, &c, bad)).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("点位类别填写有误"), "{body}");
        // The form keeps what was typed, and what it first showed.
        assert!(
            body.contains("name=\"name\" value=\"门诊大厅\"")
                && body.contains("name=\"shown_name\" value=\"门诊\""),
            "{body}"
        );
        // A name cleared: refused beside the name.
        let cleared = posted(&csrf, &[("name", "", "门诊")]);
        let (st, _, body) = send(&app, form(&uri, &c, cleared)).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("点位名称不能清空"), "{body}");
        assert_eq!(
            s.camera(UNIT, CAM1).await.unwrap().unwrap().camera.name(),
            "门诊"
        );
        // A camera the ledger does not hold.
        let (st, _, body) = send(&app, get("/cameras/50010312091320000009", &c)).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert!(body.contains("台账中没有摄像机"), "{body}");
        let (st, _, _) = send(
            &app,
            form(
                "/cameras/50010312091320000009",
                &c,
                posted(&csrf, &[("name", "x", "")]),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn a_clerk_files_the_archive_and_the_coordinates_from_the_form() {
        let (_dir, s) = store().await;
        add_camera(&s, CAM1, "门诊").await;
        let (c, csrf) = editor(&s).await;
        let app = router(s.clone());
        let uri = format!("/cameras/{CAM1}");
        let (_, _, page) = send(&app, get(&uri, &c)).await;
        for want in [
            "<select name=\"camera_type\">",
            "<select name=\"area\">",
            "type=\"date\" name=\"install_date\"",
            "name=\"longitude\"",
            "<select name=\"state\">",
            "录像保存天数",
        ] {
            assert!(page.contains(want), "{want}: {page}");
        }
        let (before, _) = s.counts(UNIT).await.unwrap();
        assert_eq!((before.archived, before.geo_tagged), (0, 0));
        // A longitude outside China: said beside it, nothing saved.
        let bad = posted(
            &csrf,
            &[("longitude", "206.5", ""), ("latitude", "29.56", "")],
        );
        let (st, _, body) = send(&app, form(&uri, &c, bad)).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("经度填写有误"), "{body}");
        // One coordinate only: refused.
        let one = posted(&csrf, &[("longitude", "106.55", "")]);
        let (st, _, body) = send(&app, form(&uri, &c, one)).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("经度和纬度须同时填写"), "{body}");
        let good = posted(
            &csrf,
            &[
                ("address", "一楼大厅", ""),
                ("camera_type", "dome", ""),
                ("point_class", "1", ""),
                ("area", "key-public", ""),
                ("install_date", "2021-03-09", ""),
                ("longitude", "106.5516", ""),
                ("latitude", "29.5630", ""),
                ("state", "faulty", ""),
            ],
        );
        let (st, _, _) = send(&app, form(&uri, &c, good)).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        let (after, _) = s.counts(UNIT).await.unwrap();
        assert_eq!(
            (after.archived, after.geo_tagged, after.in_service),
            (1, 1, 0)
        );
        // The page shows the choices made, in Chinese.
        let (_, _, page) = send(&app, get(&uri, &c)).await;
        assert!(
            page.contains("<option value=\"key-public\" selected>重点公共区域</option>")
                && page.contains("<option value=\"faulty\" selected>故障</option>"),
            "{page}"
        );
    }
}
