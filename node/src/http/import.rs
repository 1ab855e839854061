//! Importing a sheet from the pages: upload, a preview that lists every bad row or what would be
//! imported (nothing is saved), then the import on confirmation, all rows or none.

use axum::Router;
use axum::extract::{Form, Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;

use super::Web;
use super::layout::{page, read_only};
use super::session::{Signed, new_token, refused};
use crate::app::accounts;
use crate::app::import::{self, ImportError, MAX_LISTED_ERRORS};
use crate::app::zh::Zh;
use crate::store::Store;

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/import", get(import_page).post(import_preview))
        .route("/import/confirm", post(import_confirm))
}

/// The upload form.
fn import_form(csrf: &str) -> Markup {
    html! {
        p { a href="/cameras" { "返回台账" } }
        h1 { "导入台账表格" }
        p { "CSV（UTF-8 或 GB18030）或 XLSX，中文或英文表头。先预览：有任何错误行，一行也不会导入。" }
        form method="post" action="/import" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(csrf);
            input type="file" name="file" accept=".csv,.xlsx";
            button type="submit" { "预览" }
        }
    }
}

async fn import_page(Signed(s): Signed) -> Response {
    if s.role != accounts::Role::Editor {
        return read_only();
    }
    page("导入表格", import_form(&s.csrf)).into_response()
}

/// Where uploaded sheets wait for their confirmation.
fn imports_dir(store: &Store) -> std::path::PathBuf {
    store.dir().join("imports")
}

/// Reads the uploaded sheet and shows every error, or what would be imported; saves nothing.
async fn import_preview(State(web): State<Web>, Signed(s): Signed, mut mp: Multipart) -> Response {
    if s.role != accounts::Role::Editor {
        return read_only();
    }
    let mut csrf = None;
    let mut upload: Option<(String, Vec<u8>)> = None;
    while let Ok(Some(field)) = mp.next_field().await {
        match field.name() {
            Some("csrf") => csrf = field.text().await.ok(),
            Some("file") => {
                let name = field.file_name().unwrap_or("").to_string();
                if let Ok(b) = field.bytes().await {
                    upload = Some((name, b.to_vec()));
                }
            }
            _ => {}
        }
    }
    if csrf.as_deref() != Some(s.csrf.as_str()) {
        return (StatusCode::FORBIDDEN, "表单已过期，请刷新页面后重试").into_response();
    }
    let Some((name, bytes)) = upload.filter(|(_, b)| !b.is_empty()) else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            page(
                "导入表格",
                html! { (import_form(&s.csrf)) p.err { "请选择一个文件" } },
            ),
        )
            .into_response();
    };
    let ext = if name.to_lowercase().ends_with(".xlsx") {
        "xlsx"
    } else {
        "csv"
    };
    let token = new_token();
    let dir = imports_dir(&web.store);
    let path = dir.join(format!("{token}.{ext}"));
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, &bytes)) {
        tracing::error!(error = %e, "saving an uploaded sheet");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "无法保存上传的文件，请稍后再试",
        )
            .into_response();
    }
    match import::read_cameras(&path) {
        Ok(cams) => {
            let body = html! {
                p { a href="/cameras" { "返回台账" } }
                h1 { "预览：" (name) }
                p { "共 " (cams.len()) " 行，全部有效。确认后一次导入。" }
                table {
                    tr { th.l { "设备编码" } th.l { "点位名称" } th.l { "类别" } }
                    @for c in cams.iter().take(20) {
                        tr { td.l { (c.device_code.to_string()) } td.l { (c.name()) } td.l { (c.point_class().map(|p| p.chinese()).unwrap_or("—")) } }
                    }
                }
                form method="post" action="/import/confirm" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    input type="hidden" name="token" value=(format!("{token}.{ext}"));
                    button type="submit" { "确认导入" }
                }
            };
            page("导入预览", body).into_response()
        }
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            let body = match e {
                ImportError::Rows { errors, .. } => html! {
                    (import_form(&s.csrf))
                    p.err { (name) "：" (errors.iter().map(|r| r.row).collect::<std::collections::BTreeSet<_>>().len()) " 行有错误（共 " (errors.len()) " 处），一行也没有导入。" }
                    table {
                        tr { th { "行" } th.l { "列" } th.l { "原因" } }
                        @for r in errors.iter().take(MAX_LISTED_ERRORS) { tr { td { (r.row) } td.l { (r.column) } td.l.err { (r.reason.zh()) } } }
                    }
                    @if errors.len() > MAX_LISTED_ERRORS {
                        p.err { "只列出前 " (MAX_LISTED_ERRORS) " 处错误，共 " (errors.len()) " 处。" }
                    }
                },
                other => html! { (import_form(&s.csrf)) p.err { (name) "：" (other.zh()) } },
            };
            (StatusCode::UNPROCESSABLE_ENTITY, page("导入表格", body)).into_response()
        }
    }
}

#[derive(Deserialize)]
struct Confirm {
    csrf: String,
    token: String,
}

async fn import_confirm(
    State(web): State<Web>,
    Signed(s): Signed,
    Form(f): Form<Confirm>,
) -> Response {
    if let Some(r) = refused(&s, Some(&f.csrf)) {
        return r;
    }
    let ok_name = f.token.len() < 80
        && f.token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.')
        && (f.token.ends_with(".csv") || f.token.ends_with(".xlsx"));
    let path = imports_dir(&web.store).join(&f.token);
    if !ok_name || !path.exists() {
        return (StatusCode::NOT_FOUND, "这次预览已失效，请重新上传").into_response();
    }
    let who = format!("web:{}", s.user);
    let r = import::import_file(&web.store, &path, &who).await;
    let _ = std::fs::remove_file(&path);
    match r {
        Ok(_) => Redirect::to("/cameras").into_response(),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            page(
                "导入表格",
                html! { (import_form(&s.csrf)) p.err { (e.zh()) } },
            ),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};

    use crate::http::router;
    use crate::http::testing::*;

    #[tokio::test]
    async fn a_sheet_is_previewed_with_its_errors_then_imported_on_confirmation() {
        let (_dir, s) = store().await;
        let (c, csrf) = editor(&s).await;
        let app = router(s.clone());
        let (st, _, body) = send(&app, get("/import", &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("导入台账表格"), "{body}");
        let multipart = |csv: &str| {
            let b = "XyZbOuNdArY";
            let body = format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--{b}--\r\n",
            );
            Request::post("/import")
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={b}"),
                )
                .header(header::COOKIE, &c)
                .body(Body::from(body))
                .unwrap()
        };
        // A sheet with a bad row: previewed with its error, nothing saved.
        let (st, _, body) = send(
            &app,
            multipart("设备编码,点位名称\n50010312091320000002,东门\n123,西门\n"),
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("<td>3</td>"), "the bad row is named: {body}");
        assert!(
            body.contains("设备编码“123”应为20位数字，现有3位"),
            "the reason is Chinese: {body}"
        );
        assert!(!body.contains("must be exactly"), "no English: {body}");
        assert_eq!(cameras(&s).await, 0);
        // A good one: previewed, nothing saved yet; then imported on confirmation.
        let (st, _, body) = send(
            &app,
            multipart("设备编码,点位名称\n50010312091320000002,东门\n50010312091320000003,西门\n"),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("共 2 行，全部有效"), "{body}");
        assert_eq!(cameras(&s).await, 0, "a preview saves nothing");
        let preview = body
            .split("name=\"token\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let (st, _, _) = send(
            &app,
            form(
                "/import/confirm",
                &c,
                format!("csrf={csrf}&token={preview}"),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        assert_eq!(cameras(&s).await, 2);
        // The preview is used up.
        let (st, _, body) = send(
            &app,
            form(
                "/import/confirm",
                &c,
                format!("csrf={csrf}&token={preview}"),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert!(body.contains("预览已失效"), "{body}");
    }
}
