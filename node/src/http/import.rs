//! Importing a sheet from the pages: the camera sheet to download (with each row's 最后修改时间),
//! the upload, a preview that classifies every row against the ledger (new, changed old → new,
//! unchanged, error), names what each column was read as and asks before overwriting a field that
//! changed in the ledger after the sheet was exported; then the import on confirmation, all rows or
//! none, ending with its summary (新增 N 台、修改 M 台、未变 K 台).

use std::collections::{BTreeSet, HashSet};

use axum::Router;
use axum::extract::{Form, Multipart, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};

use super::Web;
use super::layout::{enc, read_only, shell};
use super::session::{Signed, new_token, refused};
use crate::app::accounts;
use crate::app::import::{self, ColumnUse, ImportError, ImportLimits, MAX_LISTED_ERRORS};
use crate::app::import_plan::{
    self, FieldChange, OnNewer, Plan, RowKind, RowPlan, confirmation_key, format_time, shown,
};
use crate::app::zh::Zh;
use crate::store::Store;

/// Rows of each kind listed in a preview (the rest are counted).
const LISTED_ROWS: usize = 200;

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/import", get(import_page).post(import_preview))
        .route("/import/confirm", post(import_confirm))
        .route("/import/sheet", get(sheet_download))
}

/// The upload form.
fn import_form(csrf: &str) -> Markup {
    html! {
        p { a href="/cameras" { "返回台账" } }
        h1 { "导入台账表格" }
        p {
            "CSV（UTF-8 或 GB18030）或 XLSX，中文或英文表头。先预览：有任何错误行，一行也不会导入。"
        }
        p {
            "修改已有摄像机时，请先 " a href="/import/sheet?format=xlsx" { "下载本单位台账表格" }
            "（Excel 格式，设备编码按文本保存；也可下载 " a href="/import/sheet" { "CSV 格式" } "，"
            "但用 Excel 打开 CSV 会把 20 位设备编码变成科学计数法），在其中修改后再上传：表格的“最后修改时间”一列记着每行导出时的版本，台账中在此之后改过的字段不会被悄悄覆盖。"
        }
        form method="post" action="/import" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(csrf);
            input type="file" name="file" accept=".csv,.xlsx";
            button type="submit" { "预览" }
        }
    }
}

async fn import_page(State(web): State<Web>, Signed(s): Signed) -> Response {
    if s.role != accounts::Role::Editor {
        return read_only(&web, &s);
    }
    shell(&web, &s, "导入表格", import_form(&s.csrf)).into_response()
}

/// `?format=xlsx` for the Excel sheet; CSV otherwise.
#[derive(serde::Deserialize, Default)]
struct SheetQuery {
    format: Option<String>,
}

/// This unit's camera sheet, each row with its last-change stamp: the sheet to edit and import
/// back. Named `<unit name>-台账-<date>.xlsx` (every cell text) or `.csv`.
async fn sheet_download(
    State(web): State<Web>,
    _signed: Signed,
    axum::extract::Query(q): axum::extract::Query<SheetQuery>,
) -> Response {
    let rows = match import_plan::sheet_rows(&web.store).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "could not read the ledger for the camera sheet");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "读取台账失败，请稍后再试",
            )
                .into_response();
        }
    };
    let xlsx = q.format.as_deref() == Some("xlsx");
    let made = if xlsx {
        crate::app::report::xlsx_text_bytes("台账", &rows)
    } else {
        crate::app::report::csv_bytes(rows)
    };
    let Ok(bytes) = made else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "生成表格失败，请稍后再试",
        )
            .into_response();
    };
    let today = crate::app::zh::today().format("%Y-%m-%d");
    let (ext, mime) = if xlsx {
        (
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    } else {
        ("csv", "text/csv; charset=utf-8")
    };
    let name = format!("{}-台账-{today}.{ext}", web.store.identity().name);
    (
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename*=UTF-8''{}", enc(&name)),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// Where uploaded sheets wait for their confirmation.
fn imports_dir(store: &Store) -> std::path::PathBuf {
    store.dir().join("imports")
}

/// What each column of the sheet was read as.
fn columns_table(plan: &Plan) -> Markup {
    html! {
        h2 { "识别的列" }
        table {
            tr { th.l { "表头" } th.l { "识别为" } }
            @for c in &plan.columns {
                tr {
                    td.l { (c.header) }
                    @match c.used_as {
                        ColumnUse::DeviceCode => td.l { "设备编码" },
                        ColumnUse::Field(f) => td.l { (f.chinese()) },
                        ColumnUse::Stamp => td.l { "最后修改时间（导出时的版本）" },
                        ColumnUse::Ignored => td.l.err { "未识别，不导入" },
                    }
                }
            }
        }
    }
}

fn value_or_blank(c: &FieldChange) -> String {
    c.old
        .as_ref()
        .map(|v| shown(c.field, v))
        .unwrap_or_else(|| "未填".into())
}

fn when(c: &FieldChange) -> String {
    c.ledger_at
        .map(|t| format!("{} 修改", format_time(t)))
        .unwrap_or_else(|| "修改时间不详".into())
}

/// One changed row's fields, old → new.
fn changes_cell(code: &str, changes: &[FieldChange]) -> Markup {
    html! {
        @for c in changes {
            div {
                (c.field.chinese()) "："
                del { (value_or_blank(c)) } " → " ins { (shown(c.field, &c.new)) }
                @if c.held {
                    " "
                    label.inline {
                        input type="checkbox" name="ow" value=(confirmation_key(code, c));
                        " 以表格为准覆盖（台账值于 " (when(c)) "）"
                    }
                }
            }
        }
    }
}

/// The preview of a sheet with no error: the counts, the columns, the changed rows (held fields
/// with a box to confirm each), the new rows; the confirm button.
fn preview_body(name: &str, plan: &Plan, csrf: &str, token: &str) -> Markup {
    let n = plan.counts();
    let rows_of = |pick: fn(&RowPlan) -> bool| -> Vec<&RowPlan> {
        plan.rows.iter().filter(|r| pick(r)).collect()
    };
    let changed = rows_of(|r| matches!(r.kind, RowKind::Changed(_)));
    let new = rows_of(|r| matches!(r.kind, RowKind::New));
    html! {
        p { a href="/import" { "重新上传" } " · " a href="/cameras" { "返回台账" } }
        h1 { "导入预览：" (name) }
        p.summary {
            "共 " (plan.rows.len()) " 行，全部有效：新增 " (n.new) " 台、修改 " (n.changed)
            " 台、未变 " (n.unchanged) " 台。确认后一次导入。"
        }
        @if n.held > 0 {
            p.err {
                (n.held) " 处字段在台账中的修改晚于表格导出（或表格没有“最后修改时间”一列），"
                "默认保留台账中的值；逐项勾选“以表格为准覆盖”的才会被覆盖。"
            }
        }
        (columns_line(plan))
        form method="post" action="/import/confirm" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="token" value=(token);
            @if !changed.is_empty() {
                h2 { "修改 " (changed.len()) " 台" }
                table {
                    tr { th { "行" } th.l { "设备编码" } th.l { "点位名称" } th.l { "修改（台账 → 表格）" } }
                    @for r in changed.iter().take(LISTED_ROWS) {
                        tr {
                            td { (r.row) } td.l { (r.code) } td.l { (r.name) }
                            td.l {
                                @if let RowKind::Changed(ch) = &r.kind { (changes_cell(&r.code, ch)) }
                            }
                        }
                    }
                }
                @if changed.len() > LISTED_ROWS {
                    p { "只列出前 " (LISTED_ROWS) " 台，共 " (changed.len()) " 台。" }
                    @for r in changed.iter().skip(LISTED_ROWS) {
                        @if let RowKind::Changed(ch) = &r.kind {
                            @for c in ch.iter().filter(|c| c.held) {
                                p { (r.code) " " (c.field.chinese()) "：未列出，保留台账中的值" }
                            }
                        }
                    }
                }
            }
            @if !new.is_empty() {
                h2 { "新增 " (new.len()) " 台" }
                table {
                    tr { th { "行" } th.l { "设备编码" } th.l { "点位名称" } }
                    @for r in new.iter().take(LISTED_ROWS) {
                        tr { td { (r.row) } td.l { (r.code) } td.l { (r.name) } }
                    }
                }
                @if new.len() > LISTED_ROWS {
                    p { "只列出前 " (LISTED_ROWS) " 台，共 " (new.len()) " 台。" }
                }
            }
            @if n.unchanged > 0 {
                p { "未变 " (n.unchanged) " 台：表格中的值与台账相同。" }
            }
            button type="submit" { "确认导入" }
        }
        (columns_table(plan))
    }
}

/// One line on the columns above the changes (the table of every column comes last): how many
/// were read, and which are not imported.
fn columns_line(plan: &Plan) -> Markup {
    let ignored: Vec<&str> = plan
        .columns
        .iter()
        .filter(|c| matches!(c.used_as, ColumnUse::Ignored))
        .map(|c| c.header.as_str())
        .collect();
    html! {
        p {
            "识别了 " (plan.columns.len() - ignored.len()) " 列"
            @if ignored.is_empty() { "，全部导入（各列见页末）。" }
            @else {
                "；" span.err { (ignored.len()) " 列未识别，不会导入：" (ignored.join("、")) } "（各列见页末）。"
            }
        }
    }
}

/// The preview of a sheet with bad rows: every error, the counts and the columns; no import.
fn refused_body(
    csrf: &str,
    name: &str,
    plan: Option<&Plan>,
    errors: &[import::RowError],
) -> Markup {
    let bad_rows = errors.iter().map(|r| r.row).collect::<BTreeSet<_>>().len();
    html! {
        (import_form(csrf))
        p.err {
            (name) "：" (bad_rows) " 行有错误（共 " (errors.len()) " 处），一行也没有导入。请改正后重新上传。"
        }
        @if let Some(plan) = plan {
            @let n = plan.counts();
            p { "其余各行：新增 " (n.new) " 台、修改 " (n.changed) " 台、未变 " (n.unchanged) " 台。" }
        }
        table {
            tr { th { "行" } th.l { "列" } th.l { "原因" } }
            @for r in errors.iter().take(MAX_LISTED_ERRORS) { tr { td { (r.row) } td.l { (r.column) } td.l.err { (r.reason.zh()) } } }
        }
        @if errors.len() > MAX_LISTED_ERRORS {
            p.err { "只列出前 " (MAX_LISTED_ERRORS) " 处错误，共 " (errors.len()) " 处。" }
        }
        @if let Some(plan) = plan { (columns_table(plan)) }
    }
}

/// Reads the uploaded sheet and shows every error, or how each row would change the ledger;
/// saves nothing.
async fn import_preview(State(web): State<Web>, Signed(s): Signed, mut mp: Multipart) -> Response {
    if s.role != accounts::Role::Editor {
        return read_only(&web, &s);
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
        return super::layout::expired_form(&web, &s);
    }
    let Some((name, bytes)) = upload.filter(|(_, b)| !b.is_empty()) else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            shell(
                &web,
                &s,
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
    let planned = match import::read_sheet_rows(&path, &ImportLimits::default()) {
        Ok(sheet) => import_plan::plan(&web.store, sheet).await,
        Err(e) => Err(e),
    };
    match planned {
        Ok(plan) if plan.errors.is_empty() => {
            let body = preview_body(&name, &plan, &s.csrf, &format!("{token}.{ext}"));
            shell(&web, &s, "导入预览", body).into_response()
        }
        Ok(plan) => {
            let _ = std::fs::remove_file(&path);
            let body = refused_body(&s.csrf, &name, Some(&plan), &plan.errors);
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                shell(&web, &s, "导入表格", body),
            )
                .into_response()
        }
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            let body = match e {
                ImportError::Rows { errors, .. } => refused_body(&s.csrf, &name, None, &errors),
                other => html! { (import_form(&s.csrf)) p.err { (name) "：" (other.zh()) } },
            };
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                shell(&web, &s, "导入表格", body),
            )
                .into_response()
        }
    }
}

/// The confirmation: `csrf`, `token` and one `ow` per held field the clerk chose to overwrite.
async fn import_confirm(
    State(web): State<Web>,
    Signed(s): Signed,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    if let Some(r) = refused(&web, &s, get("csrf")) {
        return r;
    }
    let token = get("token").unwrap_or("");
    let ok_name = token.len() < 80
        && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
        && (token.ends_with(".csv") || token.ends_with(".xlsx"));
    let path = imports_dir(&web.store).join(token);
    if !ok_name || !path.exists() {
        return (
            StatusCode::NOT_FOUND,
            shell(
                &web,
                &s,
                "导入表格",
                html! { (import_form(&s.csrf)) p.err { "这次预览已失效，请重新上传。" } },
            ),
        )
            .into_response();
    }
    let confirmed: HashSet<String> = pairs
        .iter()
        .filter(|(k, _)| k == "ow")
        .map(|(_, v)| v.clone())
        .collect();
    let who = format!("web:{}", s.user);
    let r = import_plan::import_guarded(
        &web.store,
        &path,
        &who,
        &ImportLimits::default(),
        &OnNewer::Confirmed(confirmed),
    )
    .await;
    let _ = std::fs::remove_file(&path);
    match r {
        Ok(report) => shell(
            &web,
            &s,
            "导入完成",
            html! {
                h1 { "导入完成" }
                p.summary { (import_plan::summary(&report)) "。" }
                p { a href="/cameras" { "查看台账" } " · " a href="/import" { "再导入一个表格" } }
            },
        )
        .into_response(),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            shell(
                &web,
                &s,
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

    fn upload(cookie: &str, csrf: &str, csv: &str) -> Request<Body> {
        let b = "XyZbOuNdArY";
        let body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--{b}--\r\n",
        );
        Request::post("/import")
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={b}"),
            )
            .header(header::COOKIE, cookie)
            .body(Body::from(body))
            .unwrap()
    }

    fn attr<'a>(body: &'a str, name: &str) -> &'a str {
        body.split(&format!("name=\"{name}\" value=\""))
            .nth(1)
            .unwrap_or_else(|| panic!("no {name} in {body}"))
            .split('"')
            .next()
            .unwrap()
    }

    async fn networked(s: &crate::store::Store, code: &str) -> bool {
        s.camera(UNIT, code)
            .await
            .unwrap()
            .unwrap()
            .camera
            .is_networked()
    }

    const A: &str = "50010312091320000001";
    const B: &str = "50010312091320000002";

    #[tokio::test]
    async fn the_excel_sheet_keeps_device_codes_as_text_and_reads_back_unchanged() {
        let (_dir, s) = store().await;
        add_camera(&s, A, "东门").await;
        add_camera(&s, B, "西门").await;
        let (c, _) = editor(&s).await;
        let app = router(s.clone());
        let r = tower::ServiceExt::oneshot(app.clone(), get("/import/sheet?format=xlsx", &c))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let disposition = r.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .to_string();
        assert!(disposition.ends_with(".xlsx"), "{disposition}");
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 24).await.unwrap();
        use calamine::Reader;
        let mut wb: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let range = wb.worksheet_range("台账").unwrap();
        let codes: Vec<_> = range.rows().skip(1).map(|r| r[0].clone()).collect();
        assert_eq!(
            codes,
            [
                calamine::Data::String(A.into()),
                calamine::Data::String(B.into())
            ]
        );
        // The file imported back as downloaded: every row read, nothing changes.
        let path = _dir.path().join("台账.xlsx");
        std::fs::write(&path, &bytes).unwrap();
        let sheet = crate::app::import::read_sheet_rows(&path, &Default::default()).unwrap();
        let plan = crate::app::import_plan::plan(&s, sheet).await.unwrap();
        assert_eq!(plan.counts().unchanged, 2, "{:?}", plan.counts());
        assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    }

    #[tokio::test]
    async fn the_downloaded_sheet_edited_and_uploaded_shows_old_to_new_and_the_columns_read() {
        let (_dir, s) = store().await;
        add_camera(&s, A, "东门").await;
        add_camera(&s, B, "西门").await;
        let (c, csrf) = editor(&s).await;
        let app = router(s.clone());
        let (st, h, sheet) = send(&app, get("/import/sheet", &c)).await;
        assert_eq!(st, StatusCode::OK);
        let disposition = h[header::CONTENT_DISPOSITION].to_str().unwrap();
        assert!(
            disposition.contains(&crate::http::layout::enc("重庆市渝中区人民医院-台账-")),
            "named by the unit: {disposition}"
        );
        let header_row = sheet.lines().next().unwrap();
        assert!(header_row.contains("设备编码,点位名称"), "{header_row}");
        assert!(header_row.ends_with("最后修改时间"), "{header_row}");
        assert!(sheet.contains(",是,"), "values in Chinese: {sheet}");
        // The clerk renames B and uploads the sheet.
        let edited = sheet.replace(",西门,", ",西门口,");
        let (st, _, body) = send(&app, upload(&c, &csrf, &edited)).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        assert!(
            body.contains("共 2 行，全部有效：新增 0 台、修改 1 台、未变 1 台"),
            "{body}"
        );
        assert!(
            body.contains("点位名称：<del>西门</del> → <ins>西门口</ins>"),
            "{body}"
        );
        assert!(body.contains("最后修改时间（导出时的版本）"), "{body}");
        assert!(!body.contains("以表格为准覆盖（"), "nothing held: {body}");
        let token = attr(&body, "token").to_string();
        let (st, _, body) = send(
            &app,
            form("/import/confirm", &c, format!("csrf={csrf}&token={token}")),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains("共导入 2 行：新增 0 台、修改 1 台、未变 1 台"),
            "{body}"
        );
        let name = s.camera(UNIT, B).await.unwrap().unwrap().camera;
        assert_eq!(name.name(), "西门口");
    }

    #[tokio::test]
    async fn an_old_sheet_does_not_revert_a_newer_edit_unless_the_clerk_ticks_the_field() {
        let (_dir, s) = store().await;
        add_camera(&s, A, "东门").await;
        let (c, csrf) = editor(&s).await;
        let app = router(s.clone());
        // A sheet made before the camera was networked, without stamps, and an unknown column.
        let old = format!("设备编码,点位名称,是否已联网,备注\n{A},东门,否,旧表\n");
        let (st, _, body) = send(&app, upload(&c, &csrf, &old)).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        assert!(
            body.contains("1 处字段在台账中的修改晚于表格导出"),
            "{body}"
        );
        assert!(
            body.contains("是否已联网：<del>是</del> → <ins>否</ins>"),
            "{body}"
        );
        assert!(body.contains("以表格为准覆盖（台账值于 "), "{body}");
        assert!(body.contains("未识别，不导入"), "the 备注 column: {body}");
        // Said above the changes, not only in the columns' table at the end.
        let line = body
            .find("1 列未识别，不会导入：备注")
            .expect("the columns' line");
        assert!(line < body.find("确认导入").unwrap(), "{body}");
        // Confirmed without ticking: the newer value stays, and the summary says so.
        let token = attr(&body, "token").to_string();
        let (st, _, body) = send(
            &app,
            form("/import/confirm", &c, format!("csrf={csrf}&token={token}")),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains("新增 0 台、修改 0 台、未变 1 台；1 处字段保留台账中较新的值"),
            "{body}"
        );
        assert!(networked(&s, A).await);
        // Ticked: overwritten.
        let (_, _, body) = send(&app, upload(&c, &csrf, &old)).await;
        let (token, ow) = (
            attr(&body, "token").to_string(),
            attr(&body, "ow").to_string(),
        );
        let (st, _, body) = send(
            &app,
            form(
                "/import/confirm",
                &c,
                format!(
                    "csrf={csrf}&token={token}&ow={}",
                    crate::http::layout::enc(&ow)
                ),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("修改 1 台"), "{body}");
        assert!(!networked(&s, A).await);
    }

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
            body.contains("其余各行：新增 1 台、修改 0 台、未变 0 台"),
            "the good rows are classified too: {body}"
        );
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
        assert!(
            body.contains("共 2 行，全部有效：新增 2 台、修改 0 台、未变 0 台"),
            "{body}"
        );
        assert_eq!(cameras(&s).await, 0, "a preview saves nothing");
        let preview = body
            .split("name=\"token\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let (st, _, body) = send(
            &app,
            form(
                "/import/confirm",
                &c,
                format!("csrf={csrf}&token={preview}"),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains("共导入 2 行：新增 2 台、修改 0 台、未变 0 台"),
            "{body}"
        );
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
