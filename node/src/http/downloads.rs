//! The downloads: attachment 1 or 2 of this unit (a hub's: of its subtree) as the official XLSX.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::Web;
use super::layout::enc;
use super::session::Signed;
use crate::app::report::{Table, TableRequest, official_table};

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new().route("/download/{table}", get(download))
}

/// Attachment 1 or 2 of this unit (a hub's: its subtree), as the official XLSX.
async fn download(State(web): State<Web>, _signed: Signed, Path(table): Path<String>) -> Response {
    let Some(table) = Table::parse(&table) else {
        return (StatusCode::NOT_FOUND, "没有这张表").into_response();
    };
    let req = TableRequest::new(table, true);
    match official_table(&web.store, &req).await {
        Ok(bytes) => {
            let name = format!("{}-{}.xlsx", web.store.unit(), table.chinese());
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
            assert!(
                disposition.starts_with("attachment; filename*=UTF-8''500103-0001-"),
                "{disposition}"
            );
            let bytes = axum::body::to_bytes(r.into_body(), 1 << 24).await.unwrap();
            assert!(bytes.starts_with(b"PK"), "an XLSX is a zip");
        }
        let (st, _, body) = send(&app, get("/download/attachment9", &c)).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert!(body.contains("没有这张表"), "{body}");
    }
}
