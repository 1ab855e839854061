//! The police catalogue on the police page (点位目录): a form naming the district, and the download
//! of its catalogue in the police platform's columns (CSV with Chinese headers or XLSX), read at
//! the hub that holds the cameras with this subscriber's grant.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;
use serde::Deserialize;

use super::Web;
use super::layout::{enc, shell};
use super::session::Signed;
use crate::app::accounts::Session;
use crate::domain::catalogue::COLUMNS;
use crate::domain::unit::UnitCode;

/// The routes of this subject (the police's pages).
pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/catalogue", get(form))
        .route("/catalogue/download", get(download))
}

#[derive(Deserialize, Default)]
struct Ask {
    unit: Option<String>,
    format: Option<String>,
}

fn page(web: &Web, s: &Session, unit: &str, problem: Option<String>) -> Response {
    let body = html! {
        h1 { "点位目录" }
        p.muted {
            "按区县下载本订阅方获授权范围内的摄像机点位目录（一机一档中公安平台接入所需的字段），"
            "由保存台账的区县枢纽直接答复，摄像机明细不经过市级。每次读取都会记录并告知被查看的单位。"
        }
        @if let Some(p) = &problem { p.bad #problem { (p) } }
        form method="get" action="/catalogue/download" {
            label { "单位编码 " input type="text" name="unit" value=(unit) placeholder="例如 500103" required; }
            " "
            label { "格式 "
                select name="format" {
                    option value="xlsx" { "Excel工作簿（.xlsx）" }
                    option value="csv" { "CSV（.csv）" }
                }
            }
            " "
            button type="submit" { "下载" }
        }
        h2 { "列的顺序" }
        table.figures #columns {
            tr { @for c in COLUMNS { th.l { (c) } } }
        }
        p.muted {
            "经纬度为WGS-84十进制度（保留6位小数）；点位类别为1、2或3（以上级核定为准）；是否联网为“是”或“否”。"
        }
    };
    shell(web, s, "点位目录", body).into_response()
}

async fn form(State(web): State<Web>, Signed(s): Signed, Query(q): Query<Ask>) -> Response {
    let unit = q
        .unit
        .or_else(|| web.feed.as_ref().map(|w| w.scope.clone()))
        .unwrap_or_default();
    // The districts are read one by one at their hubs; the city itself holds no camera.
    page(&web, &s, &unit, None)
}

async fn download(State(web): State<Web>, Signed(s): Signed, Query(q): Query<Ask>) -> Response {
    let text = q.unit.clone().unwrap_or_default();
    let Ok(unit) = UnitCode::parse(text.trim()) else {
        return page(
            &web,
            &s,
            &text,
            Some(format!(
                "“{}”不是单位编码：请填写区县或单位的编码，例如 500103",
                text.trim()
            )),
        );
    };
    let xlsx = q.format.as_deref() != Some("csv");
    let fetched =
        crate::federation::catalogue::fetch(&web.store, web.store.dir(), &unit, None).await;
    let (_, answer) = match fetched {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(unit = %unit, error = %format!("{e:#}"), "catalogue read failed");
            let why = match e.downcast_ref::<tonic::Status>().map(|s| s.code()) {
                Some(tonic::Code::PermissionDenied) => format!(
                    "保存 {unit} 点位的枢纽拒绝了读取：本订阅方没有获授权读取该单位的点位目录（登记时须授予点位目录），或该单位不在订阅范围内"
                ),
                Some(_) | None if e.to_string().starts_with("单位") => e.to_string(),
                _ => format!("暂时无法从保存 {unit} 点位的枢纽读取目录，请稍后再试"),
            };
            return page(&web, &s, &text, Some(why));
        }
    };
    let entries: Vec<_> = answer.rows.into_iter().filter_map(|r| r.2).collect();
    match crate::app::catalogue::export(&entries, xlsx) {
        Ok(bytes) => {
            let (ext, mime) = if xlsx {
                (
                    "xlsx",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                )
            } else {
                ("csv", "text/csv; charset=utf-8")
            };
            let name = format!("点位目录-{unit}.{ext}");
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
        Err(e) => {
            tracing::error!(error = %e, "could not write the catalogue");
            page(&web, &s, &text, Some("生成文件失败，请稍后再试".into()))
        }
    }
}
