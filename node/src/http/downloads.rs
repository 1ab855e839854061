//! The downloads: attachment 1 or 2 of this unit (a hub's: of its subtree) as the official XLSX,
//! named `<unit name>-附件2-<YYYY-MM-DD>.xlsx`; and Attachment 2 as a printable page.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use maud::html;

use super::Web;
use super::layout::{enc, shell};
use super::session::Signed;
use crate::app::report::{A2_COLUMNS, Table, TableRequest, attachment2, official_table};
use crate::domain::figures::{Counts, rate};

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/download/{table}", get(download))
        .route("/attachment2", get(printable))
}

/// The name a download is saved under: `<unit name>-附件2-<YYYY-MM-DD>.xlsx` (today in Beijing).
fn file_name(unit_name: &str, table: Table) -> String {
    // A name never carries a path separator into the browser's save dialog.
    let unit_name: String = unit_name
        .chars()
        .map(|c| if matches!(c, '/' | '\\') { '-' } else { c })
        .collect();
    format!(
        "{unit_name}-{}-{}.xlsx",
        table.chinese(),
        crate::domain::figures::beijing_today().format("%Y-%m-%d")
    )
}

/// Attachment 2 as a page that prints on A4 landscape: the title, the header fields, a row per
/// direct child (and 本级 when the unit has cameras), the 合计 row.
async fn printable(State(web): State<Web>, Signed(s): Signed) -> Response {
    let req = TableRequest::new(Table::Attachment2, true);
    let (h, rows) = match attachment2(&web.store, &req).await {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "could not build attachment 2");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "生成报表失败，请稍后再试",
            )
                .into_response();
        }
    };
    let mut total = Counts::default();
    for r in &rows {
        total.add(&r.counts);
    }
    let pct = |n: u64, d: u64| rate(n, d).map(|r| format!("{r:.2}")).unwrap_or_default();
    let date = chrono::NaiveDate::parse_from_str(&h.date, "%Y-%m-%d")
        .map(crate::app::figures::date_zh)
        .unwrap_or_else(|_| h.date.clone());
    let body = html! {
        p.no-print {
            button #print type="button" { "打印" } " "
            a href="/download/attachment2" { "下载 Excel 文件" }
            span.muted { "（打印时请选择 A4 横向）" }
        }
        div.a2 {
            p { "附件2" }
            h1 { "公共安全视频监控联网整合统计表" }
            p {
                "单位（盖章）：" (h.unit_name) " 　　审核人：" (h.reviewer)
            }
            p {
                "填表人：" (h.filler) " 　　单位及职务：" (h.filler_position)
                " 　　联系电话：" (h.phone) " 　　填表日期：" (date)
            }
            p { "数据截至：" (h.as_at) }
            table.a2 {
                tr { @for c in A2_COLUMNS { th { (c) } } }
                @for (i, r) in rows.iter().enumerate() {
                    tr {
                        td { (i + 1) } td.l { (r.name) } td.l { (if r.address.is_empty() { "未填" } else { r.address.as_str() }) }
                        td { (r.counts.built) } td { (r.counts.must_network) } td { (r.counts.networked) }
                        td { (pct(r.counts.networked, r.counts.must_network)) }
                        td class=(if r.contact == crate::app::report::NOT_REPORTED { "l missing" } else { "l" }) { (r.contact) }
                    }
                }
                tr.total {
                    td { "合计" } td {} td {}
                    td { (total.built) } td { (total.must_network) } td { (total.networked) }
                    td { (pct(total.networked, total.must_network)) } td {}
                }
            }
        }
        script src="/assets/print.js" defer {}
    };
    shell(&web, &s, "附件2 统计表", body).into_response()
}

/// Attachment 1 or 2 of this unit (a hub's: its subtree), as the official XLSX.
async fn download(
    State(web): State<Web>,
    Signed(s): Signed,
    Path(table): Path<String>,
) -> Response {
    let Some(table) = Table::parse(&table) else {
        return super::layout::not_found(
            &web,
            &s,
            html! { "没有这张表：只有附件1和附件2可以下载" },
            "/",
            "返回首页",
        );
    };
    let req = TableRequest::new(table, true);
    match official_table(&web.store, &req).await {
        Ok(bytes) => {
            let unit_name = match web.store.profile(web.store.unit().as_str()).await {
                Ok(Some(p)) if !p.name.is_empty() => p.name,
                _ => web.store.identity().name.clone(),
            };
            let name = file_name(&unit_name, table);
            let disposition = format!("attachment; filename*=UTF-8''{}", enc(&name));
            (
                [
                    (
                        header::CONTENT_TYPE,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                            .to_string(),
                    ),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "could not build the official table");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "生成报表失败，请稍后再试",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{StatusCode, header};
    use tower::ServiceExt;

    use crate::http::router;
    use crate::http::testing::*;

    #[tokio::test]
    async fn the_official_tables_download_as_xlsx() {
        let (_dir, s) = store().await;
        add_camera(&s, CAM1, "门诊").await;
        let (c, _) = editor(&s).await;
        let app = router(s.clone());
        for table in ["attachment1", "attachment2"] {
            let uri = format!("/download/{table}");
            let r = app.clone().oneshot(get(&uri, &c)).await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{table}");
            let disposition = r.headers()[header::CONTENT_DISPOSITION].to_str().unwrap();
            let want = super::file_name(
                "重庆市渝中区人民医院",
                crate::app::report::Table::parse(table).unwrap(),
            );
            assert_eq!(
                disposition,
                format!(
                    "attachment; filename*=UTF-8''{}",
                    crate::http::layout::enc(&want)
                )
            );
            assert!(
                want.starts_with("重庆市渝中区人民医院-附件") && want.ends_with(".xlsx"),
                "{want}"
            );
            let bytes = axum::body::to_bytes(r.into_body(), 1 << 24).await.unwrap();
            assert!(bytes.starts_with(b"PK"), "an XLSX is a zip");
        }
        // A date in the name: 2026-11-26.
        let name = super::file_name("两江新区社发局", crate::app::report::Table::Attachment2);
        let date = name
            .strip_prefix("两江新区社发局-附件2-")
            .and_then(|d| d.strip_suffix(".xlsx"))
            .unwrap();
        assert!(
            chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(),
            "{name}"
        );
        let (st, _, body) = send(&app, get("/download/attachment9", &c)).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert!(body.contains("没有这张表"), "{body}");
    }

    #[tokio::test]
    async fn attachment2_prints_as_a_page_with_the_unit_and_its_total() {
        let (_dir, s) = store().await;
        add_camera(&s, CAM1, "门诊").await;
        let (c, _) = editor(&s).await;
        let (st, _, body) = send(&router(s.clone()), get("/attachment2", &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("公共安全视频监控联网整合统计表"), "{body}");
        assert!(
            body.contains("单位（盖章）：重庆市渝中区人民医院"),
            "{body}"
        );
        // A hospital's single row is itself; its liaison is missing: 未报送.
        assert!(
            body.contains("<td class=\"l\">重庆市渝中区人民医院</td>"),
            "{body}"
        );
        assert!(
            body.contains("<td class=\"l missing\">未报送</td>"),
            "{body}"
        );
        assert!(body.contains("<td>合计</td>"), "{body}");
        // The moment the figures show, in Beijing time.
        let year = crate::domain::figures::beijing_today()
            .format("数据截至：%Y年")
            .to_string();
        assert!(body.contains(&year), "{body}");
        assert!(
            body.contains("<script src=\"/assets/print.js\" defer>"),
            "{body}"
        );
    }
}
