//! 报送 and its review, per milestone: this unit's own report to its parent (its state, 已退回
//! with the reason, the frozen figures, and the form to submit or resubmit), and for a hub its
//! children's (each one's state, time, figures checked against the replica held here, accept or
//! return with a reason), who has not reported with the liaison to call, and the completeness and
//! timeliness of the level and of its whole tree.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;

use super::Web;
use super::layout::{enc, shell};
use super::session::{Signed, refused};
use crate::app::accounts::{Role, Session};
use crate::app::submission::{self, ChildReport, LevelStatus, PaperError};
use crate::app::zh::{Zh, beijing_date, beijing_time, check, judgement};
use crate::domain::figures::{Counts, rate, show_rate};
use crate::domain::submission::{State as Standing, SubmissionError, Tally, Verdict};

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/reports", get(reports_page))
        .route("/reports/submit", post(submit))
        .route("/reports/accept", post(accept))
        .route("/reports/return", post(give_back))
}

#[derive(Debug, Deserialize)]
struct Pick {
    milestone: Option<String>,
}

/// What the page says after a form: done, or refused (which form, the message, what was typed).
#[derive(Default)]
struct Notice {
    done: Option<String>,
    /// `submit`, or the unit whose return form was refused.
    form: String,
    field: Option<&'static str>,
    error: Option<String>,
    values: HashMap<String, String>,
}

impl Notice {
    fn refused(form: &str, e: &PaperError, values: HashMap<String, String>) -> Notice {
        let field = match e {
            PaperError::Refused(SubmissionError::Missing(f) | SubmissionError::TooLong(f)) => {
                Some(*f)
            }
            _ => None,
        };
        Notice {
            form: form.to_string(),
            field,
            error: Some(e.zh()),
            values,
            ..Notice::default()
        }
    }

    /// The message beside `field` of form `form`.
    fn beside(&self, form: &str, field: &str) -> Option<&str> {
        (self.form == form && self.field == Some(field))
            .then_some(self.error.as_deref())
            .flatten()
    }

    fn value(&self, key: &str) -> String {
        self.values.get(key).cloned().unwrap_or_default()
    }
}

fn figures_cells(c: &Counts) -> Markup {
    html! {
        td { (c.built) } td { (c.must_network) } td { (c.networked) }
        td { (show_rate(rate(c.networked, c.must_network))) }
    }
}

fn rates_cards(label: &str, t: &Tally) -> Markup {
    let class = |r: Option<f64>| match r {
        Some(x) if x >= 100.0 => "card",
        Some(x) if x >= 60.0 => "card warn",
        _ => "card bad",
    };
    html! {
        div class=(class(t.completeness())) {
            (label) "报送率" b { (show_rate(t.completeness())) "%" }
            span.muted { "已报 " (t.reported) " / 应报 " (t.expected) }
        }
        div class=(class(t.timeliness())) {
            (label) "及时率" b { (show_rate(t.timeliness())) "%" }
            span.muted { "按时 " (t.on_time) " · 逾期 " (t.late()) " · 退回 " (t.returned) " · 未报 " (t.missing()) }
        }
    }
}

fn own_section(st: &LevelStatus, s: &Session, n: &Notice) -> Markup {
    let Some(j) = &st.own else {
        return html! {};
    };
    let deadline = st.milestone.deadline.to_string();
    html! {
        h2 { "本单位报送（向上级）" }
        p { "状态：" span class=(if j.state == Standing::Returned || j.state == Standing::Missing { "bad" } else { "good" }) { (judgement(j)) } }
        @if let Some(sub) = &j.submission {
            table {
                tr { th { "报送时间" } th.l { "审核人" } th.l { "填表人" } th { "已建" } th { "应联网" } th { "已联网" } th { "联网率%" } }
                tr { td { (beijing_time(sub.at)) } td.l { (sub.reviewer) } td.l { (sub.filler) } (figures_cells(&sub.counts)) }
            }
            p.muted { "共报送 " (j.submissions) " 次；数据为报送时冻结的本单位（含下级）统计。" }
        }
        @if s.role == Role::Editor {
            form method="post" action="/reports/submit" {
                input type="hidden" name="csrf" value=(s.csrf);
                input type="hidden" name="milestone" value=(deadline);
                label { "审核人 " input name="reviewer" value=(n.value("reviewer"));
                    @if let Some(m) = n.beside("submit", "reviewer") { " " span.err { (m) } } }
                label { "填表人 " input name="filler" value=(n.value("filler"));
                    @if let Some(m) = n.beside("submit", "filler") { " " span.err { (m) } } }
                button type="submit" { @if j.submission.is_some() { "重新报送" } @else { "报送" } }
            }
        }
    }
}

fn child_row(c: &ChildReport, deadline: &str, s: &Session, n: &Notice) -> Markup {
    let sub = c.judgement.submission.as_ref();
    let bad = matches!(c.judgement.state, Standing::Missing | Standing::Returned);
    html! {
        tr data-unit=(c.unit) {
            td.l { a href=(format!("/unit/{}", c.unit)) { (c.name) } br; span.muted { (c.unit) } }
            td.l class=(if bad { "bad" } else { "" }) { (judgement(&c.judgement)) }
            @match sub {
                Some(sub) => {
                    td { (beijing_time(sub.at)) } td.l { (sub.reviewer) } td.l { (sub.filler) }
                    (figures_cells(&sub.counts))
                }
                None => { td { "—" } td.l { "—" } td.l { "—" } td { "—" } td { "—" } td { "—" } td { "—" } }
            }
            td.l class=(if matches!(c.verified, submission::Check::Differs { .. }) { "bad" } else { "" }) { (check(&c.verified)) }
            td.l {
                @if sub.is_some() && s.role == Role::Editor {
                    @if !c.judgement.accepted {
                        form.inline method="post" action="/reports/accept" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            input type="hidden" name="milestone" value=(deadline);
                            input type="hidden" name="unit" value=(c.unit);
                            button type="submit" { "接受" }
                        }
                    }
                    @if c.judgement.state != Standing::Returned {
                        form.inline method="post" action="/reports/return" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            input type="hidden" name="milestone" value=(deadline);
                            input type="hidden" name="unit" value=(c.unit);
                            input name="reason" placeholder="退回原因" value=(if n.form == c.unit { n.value("reason") } else { String::new() });
                            button type="submit" { "退回" }
                            @if let Some(m) = n.beside(&c.unit, "reason") { " " span.err { (m) } }
                        }
                    }
                }
            }
        }
    }
}

fn children_section(st: &LevelStatus, s: &Session, n: &Notice) -> Markup {
    if st.children.is_empty() {
        return html! {};
    }
    let deadline = st.milestone.deadline.to_string();
    let missing: Vec<&ChildReport> = st.not_reported().collect();
    html! {
        h2 { "下级报送情况" }
        div.cards { (rates_cards("本级", &st.level)) (rates_cards("全辖", &st.tree)) }
        p.muted { "本级：直接下级单位；全辖：本单位以下的全部单位（下级的下级由其上级的汇总报来）。报送率＝已报送（未被退回）÷应报送；及时率＝截止日当天24时（北京时间）前报送÷应报送。" }
        table.reports {
            tr {
                th.l { "单位" } th.l { "状态" } th { "报送时间" } th.l { "审核人" } th.l { "填表人" }
                th { "已建" } th { "应联网" } th { "已联网" } th { "联网率%" } th.l { "核对" } th.l { "审核" }
            }
            @for c in &st.children { (child_row(c, &deadline, s, n)) }
        }
        h2 { "未报送（含被退回）" }
        @if missing.is_empty() {
            p { "下级单位均已报送。" }
        } @else {
            ul {
                @for c in &missing {
                    li {
                        (c.name) "（" (c.unit) "）" (judgement(&c.judgement)) " — 联络员："
                        @match &c.liaison {
                            Some(l) => { (l.name) " " (l.phone) }
                            None => span.missing { "未报送联络人" },
                        }
                    }
                }
            }
        }
    }
}

async fn render(web: &Web, s: &Session, milestone: Option<String>, n: Notice) -> Response {
    let campaign = match crate::app::campaign::held(&web.store).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "reading the campaign");
            return (StatusCode::INTERNAL_SERVER_ERROR, "读取工作方案时出错").into_response();
        }
    };
    let Some(campaign) = campaign else {
        let body = html! { h1 { "报送" } p { "本单位尚未收到工作方案（节点与目标），请待与上级同步后再来。" } };
        return shell(web, s, "报送", body).into_response();
    };
    let chosen = milestone.or_else(|| {
        submission::current_milestone(&campaign, crate::app::zh::today())
            .map(|m| m.deadline.to_string())
    });
    let st = match submission::status(&web.store, chosen.as_deref().unwrap_or("")).await {
        Ok(st) => st,
        Err(e @ PaperError::Refused(_)) => {
            let body =
                html! { h1 { "报送" } p.err { (e.zh()) } p { a href="/reports" { "返回报送" } } };
            return (StatusCode::NOT_FOUND, shell(web, s, "报送", body)).into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, "reading the submissions");
            return (StatusCode::INTERNAL_SERVER_ERROR, "读取报送情况时出错").into_response();
        }
    };
    let status = if n.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = html! {
        h1 { (st.name) " · 报送" }
        p.no-print {
            "节点："
            @for m in &campaign.milestones {
                @let here = m.deadline == st.milestone.deadline;
                a class=(if here { "on" } else { "" }) href=(format!("/reports?milestone={}", enc(&m.deadline.to_string()))) {
                    @if here { b { (m.title) "（" (beijing_date(m.deadline)) "）" } } @else { (m.title) "（" (beijing_date(m.deadline)) "）" }
                }
                " "
            }
        }
        p { "当前节点：" (st.milestone.title) "，截止 " (beijing_date(st.milestone.deadline)) "（北京时间当日24时前为按时）。" }
        @if let Some(d) = &n.done { p.good { (d) } }
        @if let (Some(e), None) = (&n.error, n.field) { p.err { (e) } }
        (own_section(&st, s, &n))
        (children_section(&st, s, &n))
        @if st.own.is_none() && st.children.is_empty() { p { "本单位没有上级，也没有下级单位。" } }
    };
    (status, shell(web, s, "报送", body)).into_response()
}

async fn reports_page(
    State(web): State<Web>,
    Signed(s): Signed,
    Query(p): Query<Pick>,
) -> Response {
    render(&web, &s, p.milestone, Notice::default()).await
}

async fn submit(
    State(web): State<Web>,
    Signed(s): Signed,
    Form(v): Form<HashMap<String, String>>,
) -> Response {
    if let Some(r) = refused(&web, &s, v.get("csrf").map(String::as_str)) {
        return r;
    }
    let get = |k: &str| v.get(k).cloned().unwrap_or_default();
    let milestone = get("milestone");
    let who = format!("web:{}", s.user);
    let r = submission::submit(
        &web.store,
        &who,
        &milestone,
        &get("reviewer"),
        &get("filler"),
        chrono::Utc::now(),
    )
    .await;
    let n = match r {
        Ok(sub) => Notice {
            done: Some(format!("已于 {} 报送。", beijing_time(sub.at))),
            ..Notice::default()
        },
        Err(e) => Notice::refused("submit", &e, v.clone()),
    };
    render(&web, &s, Some(milestone), n).await
}

async fn decide(web: &Web, s: &Session, v: &HashMap<String, String>, verdict: Verdict) -> Response {
    if let Some(r) = refused(web, s, v.get("csrf").map(String::as_str)) {
        return r;
    }
    let get = |k: &str| v.get(k).cloned().unwrap_or_default();
    let (milestone, unit) = (get("milestone"), get("unit"));
    let who = format!("web:{}", s.user);
    let r = submission::decide(
        &web.store,
        &who,
        &unit,
        &milestone,
        verdict,
        &get("reason"),
        chrono::Utc::now(),
    )
    .await;
    let n = match r {
        Ok(d) => Notice {
            done: Some(format!(
                "{}：{} 于 {} 的报送。",
                verdict.chinese(),
                unit,
                beijing_time(d.submitted_at)
            )),
            ..Notice::default()
        },
        Err(e) => Notice::refused(&unit, &e, v.clone()),
    };
    render(web, s, Some(milestone), n).await
}

async fn accept(
    State(web): State<Web>,
    Signed(s): Signed,
    Form(v): Form<HashMap<String, String>>,
) -> Response {
    decide(&web, &s, &v, Verdict::Accepted).await
}

async fn give_back(
    State(web): State<Web>,
    Signed(s): Signed,
    Form(v): Form<HashMap<String, String>>,
) -> Response {
    decide(&web, &s, &v, Verdict::Returned).await
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use crate::docs::document::DocId;
    use crate::http::router;
    use crate::http::testing::*;

    #[tokio::test]
    async fn a_unit_submits_on_its_page_and_a_bad_form_changes_nothing() {
        let (_dir, s) = store().await;
        let app = router(s.clone());
        let (c, csrf) = editor(&s).await;
        // Before the campaign arrived: said so.
        let (st, _, body) = send(&app, get("/reports", &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("尚未收到工作方案"), "{body}");
        crate::app::campaign::publish(&s, &crate::domain::campaign::Campaign::seed())
            .await
            .unwrap();
        s.set_meta("parent_unit", "500103").await.unwrap();
        let (_, _, body) = send(&app, get("/reports?milestone=2021-08-25", &c)).await;
        assert!(body.contains("本单位报送（向上级）"), "{body}");
        assert!(body.contains("状态："), "{body}");
        assert!(body.contains("未报送"), "{body}");
        assert!(body.contains("2021年8月25日"), "{body}");
        // No reviewer: refused beside the field, nothing written.
        let (st, _, body) = send(
            &app,
            form(
                "/reports/submit",
                &c,
                format!("csrf={csrf}&milestone=2021-08-25&reviewer=+&filler=%E6%9D%8E"),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("审核人必须填写"), "{body}");
        let doc = DocId::submission(s.unit());
        assert!(s.heads(&doc).await.unwrap().is_empty());
        // A good form: submitted, late (2021's deadline), waiting for the parent.
        let (st, _, body) = send(
            &app,
            form(
                "/reports/submit",
                &c,
                format!(
                    "csrf={csrf}&milestone=2021-08-25&reviewer=%E7%8E%8B%E5%AE%A1%E6%A0%B8&filler=%E6%9D%8E"
                ),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("逾期报送（待审核）"), "{body}");
        assert!(body.contains("王审核"), "{body}");
        assert!(body.contains("重新报送"), "{body}");
        for english in ["late", "on-time", "missing", "T0", "Z<"] {
            assert!(!body.contains(english), "{english} in {body}");
        }
        assert!(!s.heads(&doc).await.unwrap().is_empty());
        // A read-only account cannot submit.
        let (ro, ro_csrf) = signed_in(&s, "li", crate::app::accounts::Role::ReadOnly).await;
        let (st, _, _) = send(
            &app,
            form(
                "/reports/submit",
                &ro,
                format!("csrf={ro_csrf}&milestone=2021-08-25&reviewer=x&filler=y"),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
    }
}
