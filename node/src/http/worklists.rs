//! The clerk's worklists (待办清单): the cameras of this unit's ledger that keep a figure down —
//! 缺少建档信息 (建档率), 缺少坐标 (标注率), 应联未联 (联网率), 故障 (完好率) — each with its count,
//! a page at a time, each row saying what is missing and linking to the form that fixes it.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;
use serde::Deserialize;

use super::Web;
use super::cameras::{PAGE, pager};
use super::layout::shell;
use super::session::Signed;
use crate::domain::camera::{Camera, Field, parse_date};
use crate::store::Worklist;

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new().route("/worklists", get(worklists))
}

/// What a person reads for a worklist: its name and the figure it keeps down.
fn zh(w: Worklist) -> (&'static str, &'static str) {
    match w {
        Worklist::Archive => ("缺少建档信息", "建档率"),
        Worklist::Coordinates => ("缺少坐标", "标注率"),
        Worklist::Unnetworked => ("应联未联", "联网率"),
        Worklist::Faulty => ("故障", "完好率"),
    }
}

/// The archive fields (建档) of `c` that are missing or not valid.
pub(super) fn missing_archive(c: &Camera) -> Vec<Field> {
    Field::ARCHIVE
        .into_iter()
        .filter(|f| match f {
            Field::Address => c.text(Field::Address).is_none_or(|a| a.trim().is_empty()),
            Field::CameraType => c.camera_type().is_none(),
            Field::PointClass => c.point_class().is_none(),
            Field::Area => c.area().is_none(),
            Field::InstallDate => c
                .text(Field::InstallDate)
                .is_none_or(|d| parse_date(d).is_err()),
            _ => false,
        })
        .collect()
}

/// Why camera `c` is on worklist `w`, as a person reads it.
fn reason(w: Worklist, c: &Camera) -> String {
    match w {
        Worklist::Archive => {
            let names: Vec<&str> = missing_archive(c).into_iter().map(Field::chinese).collect();
            format!("未填：{}", names.join("、"))
        }
        Worklist::Coordinates => "未填经度、纬度".into(),
        Worklist::Unnetworked => match c.point_class() {
            Some(p) => format!("{}点位，应联网而未联网", p.chinese()),
            None => "登记为应联网，尚未联网".into(),
        },
        Worklist::Faulty => "设备状态为故障，修复后请改为在用".into(),
    }
}

#[derive(Deserialize, Default)]
struct ListQuery {
    list: Option<String>,
    page: Option<i64>,
}

async fn worklists(
    State(web): State<Web>,
    Signed(s): Signed,
    Query(lq): Query<ListQuery>,
) -> Response {
    let unit = web.store.unit().to_string();
    let chosen = lq
        .list
        .as_deref()
        .and_then(Worklist::from_key)
        .unwrap_or(Worklist::Archive);
    let page_no = lq.page.unwrap_or(1).max(1);
    let counts = web.store.worklist_counts(&unit).await;
    let list = web
        .store
        .worklist(&unit, chosen, PAGE, (page_no - 1) * PAGE)
        .await;
    let (counts, (rows, total)) = match (counts, list) {
        (Ok(c), Ok(l)) => (c, l),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "could not read the worklists");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "读取待办清单失败，请稍后再试",
            )
                .into_response();
        }
    };
    let (name, figure) = zh(chosen);
    let body = html! {
        p { a href="/" { "首页" } " · " a href="/cameras" { "摄像机台账" } }
        h1 { "待办清单" }
        p { "以下摄像机使本单位的考核指标偏低；点击设备编码进入档案页修改。" }
        ul.tabs {
            @for (w, n) in Worklist::ALL.into_iter().zip(counts) {
                @let (label, fig) = zh(w);
                li {
                    @if w == chosen { strong { (label) "（" (n) " 台）" } }
                    @else { a href=(format!("/worklists?list={}", w.key())) { (label) "（" (n) " 台）" } }
                    " " span.hint { "影响" (fig) }
                }
            }
        }
        h2 { (name) "（" (total) " 台，影响" (figure) "）" }
        @if rows.is_empty() && web.store.identity().is_hub() {
            p { "本级台账中没有" (name) "的摄像机。" }
            p.missing {
                "下级单位的摄像机保存在各单位及其上级的台账中，这里不汇总。"
                "请从" a href="/" { "进度概况" } "逐级查看下级单位，或在“数据质量”页查看下级的问题。"
            }
        } @else if rows.is_empty() {
            p { "没有" (name) "的摄像机。" }
        } @else {
            table {
                tr { th.l { "设备编码" } th.l { "点位名称" } th.l { "安装地址" } th.l { "待处理" } th.l { "操作" } }
                @for r in &rows {
                    @let code = r.camera.device_code.as_str();
                    tr {
                        td.l { a href=(format!("/cameras/{code}")) { (code) } }
                        td.l { (r.camera.name()) }
                        td.l { (r.camera.text(Field::Address).unwrap_or("未填")) }
                        td.l { (reason(chosen, &r.camera)) }
                        td.l { a href=(format!("/cameras/{code}")) { "去修改" } }
                    }
                }
            }
        }
        (pager(total, page_no, |n| format!("/worklists?list={}&page={n}", chosen.key())))
    };
    shell(&web, &s, "待办清单", body).into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use crate::app::cameras;
    use crate::domain::camera::{Field, Value};
    use crate::domain::device_code::DeviceCode;
    use crate::http::router;
    use crate::http::testing::*;

    fn code(n: u32) -> String {
        format!("500103120913200{n:05}")
    }

    #[tokio::test]
    async fn each_worklist_counts_its_cameras_and_links_each_to_its_form() {
        let (_dir, s) = store().await;
        // 60 cameras named only: all lack the archive and coordinates; networked.
        for n in 1..=60 {
            add_camera(&s, &code(n), &format!("点位{n}")).await;
        }
        // Camera 1: archived, tagged, class 1 and not networked, faulty.
        let c1 = DeviceCode::parse(&code(1)).unwrap();
        let t = |s: &str| Some(Value::Text(s.into()));
        let changes = [
            (Field::Address, t("一楼")),
            (Field::CameraType, t("dome")),
            (Field::PointClass, Some(Value::Int(1))),
            (Field::Area, t("key-public")),
            (Field::InstallDate, t("2021-03-09")),
            (Field::Longitude, Some(Value::Float(106.55))),
            (Field::Latitude, Some(Value::Float(29.56))),
            (Field::Networked, Some(Value::Bool(false))),
            (Field::State, t("faulty")),
        ];
        cameras::edit(&s, "t", &c1, &changes).await.unwrap();
        // Camera 2: only the address.
        let c2 = DeviceCode::parse(&code(2)).unwrap();
        cameras::edit(&s, "t", &c2, &[(Field::Address, t("二楼"))])
            .await
            .unwrap();
        let (c, _) = editor(&s).await;
        let app = router(s.clone());
        let (st, _, body) = send(&app, get("/worklists", &c)).await;
        assert_eq!(st, StatusCode::OK);
        for want in [
            "缺少建档信息（59 台）",
            "缺少坐标（59 台）",
            "应联未联（1 台）",
            "故障（1 台）",
            "共 59 条",
            "第 1 / 2 页",
            "未填：摄像机类型、点位类别、区域类别、安装时间",
            "未填：安装地址、摄像机类型",
        ] {
            assert!(body.contains(want), "{want}: {body}");
        }
        assert!(body.contains(&format!("href=\"/cameras/{}\"", code(2))));
        assert!(!body.contains(&format!("href=\"/cameras/{}\"", code(1))));
        // The second page.
        let (_, _, body) = send(&app, get("/worklists?list=archive&page=2", &c)).await;
        assert!(
            body.contains("第 2 / 2 页") && body.contains(&code(60)),
            "{body}"
        );
        let (_, _, body) = send(&app, get("/worklists?list=unnetworked", &c)).await;
        assert!(
            body.contains("一类点位，应联网而未联网") && body.contains(&code(1)),
            "{body}"
        );
        let (_, _, body) = send(&app, get("/worklists?list=faulty", &c)).await;
        assert!(body.contains("修复后请改为在用") && !body.contains(&code(2)));
    }
}

#[cfg(test)]
mod hub_tests {
    use crate::http::router;
    use crate::http::testing::*;

    #[tokio::test]
    async fn a_hub_without_cameras_of_its_own_is_told_where_its_childrens_are() {
        let dir = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(
            crate::store::Store::init(
                dir.path(),
                &crate::domain::unit::UnitCode::parse("500103").unwrap(),
                "渝中区卫生健康委员会",
                crate::domain::unit::UnitKind::District,
                crate::domain::unit::Role::Hub,
            )
            .await
            .unwrap(),
        );
        let (c, _) = editor(&s).await;
        let c = c.replace(SESSION_COOKIE, "yl_session_500103");
        let (_, _, body) = send(&router(s.clone()), get("/worklists", &c)).await;
        assert!(body.contains("逐级查看下级单位"), "{body}");
    }
}
