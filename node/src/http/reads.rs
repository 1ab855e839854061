//! 谁查看了本单位的点位: who read this unit's camera records, and at a hub its units' (the police
//! catalogue, a higher level's camera list), from `reads/<unit>`, which the hub holding the ledger
//! writes and syncs down: an institution reads it offline.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;

use super::Web;
use super::layout::shell;
use super::session::Signed;
use crate::app::zh::{beijing_stamp, read_call, read_via, reader};

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new().route("/reads", get(reads))
}

pub const TITLE: &str = "谁查看了本单位的点位";

async fn reads(State(web): State<Web>, Signed(s): Signed) -> Response {
    let list = match crate::app::catalogue::reads_seen(&web.store).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "could not read the reads documents");
            return (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "读取查看记录失败，请稍后再试",
            )
                .into_response();
        }
    };
    let mut names = std::collections::HashMap::new();
    for (unit, _) in &list {
        if !names.contains_key(unit) {
            let name = web.store.unit_name(unit).await.unwrap_or_default();
            names.insert(unit.clone(), name);
        }
    }
    let me = web.store.identity();
    let body = html! {
        h1 { (TITLE) }
        p.muted {
            "本页列出读取" (me.name) @if me.is_hub() { "及下级单位" } "摄像机明细的每一次记录："
            "公安订阅方读取点位目录，上级单位调阅摄像机清单。记录由保存台账并作出答复的枢纽写入（经上级转来的读取注明经由哪一级），同步到被查看的单位，离线也可查看；上级不能删改其他枢纽写入的记录。"
        }
        @if list.is_empty() {
            p #no-reads { "尚无查看记录。" }
        } @else {
            table.figures #reads {
                tr {
                    th.l { "时间" }
                    th.l { "被查看单位" }
                    th.l { "查看方" }
                    th.l { "方式" }
                    th { "点位数" }
                    th.l { "答复枢纽" }
                }
                @for (unit, r) in &list {
                    tr data-unit=(unit) {
                        td.l { (beijing_stamp(&r.at)) }
                        td.l { (names.get(unit).cloned().unwrap_or_default()) "（" (unit) "）" }
                        td.l.reader { (reader(&r.reader)) }
                        td.l {
                            (read_call(&r.call))
                            @if r.call == crate::federation::catalogue::CALL {
                                @if r.full { "（全量）" } @else { "（增量）" }
                            }
                        }
                        td.cameras { (r.cameras) }
                        td.l.hub { (r.hub) (read_via(&r.via)) }
                    }
                }
            }
        }
    };
    shell(&web, &s, TITLE, body).into_response()
}
