//! This unit's own contacts (attachment 1): the leader and the liaison, checked field by field,
//! written to the unit's profile document.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};

use super::Web;
use super::layout::shell;
use super::session::{Signed, refused};
use crate::app::zh::Zh;
use crate::domain::contacts::{Contact, ContactError, ContactRole};

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new().route("/contacts", get(contacts_page).post(save_contacts))
}

/// The form: each role's name, position and phone, a message beside each bad field.
fn contacts_form(
    csrf: &str,
    values: &HashMap<String, String>,
    errors: &HashMap<String, String>,
    saved: bool,
) -> Markup {
    let v = |k: String| values.get(&k).cloned().unwrap_or_default();
    html! {
        p { a href="/" { "首页" } }
        h1 { "本单位联络人（附件1）" }
        @if saved { p { "已保存。" } }
        form method="post" action="/contacts" {
            input type="hidden" name="csrf" value=(csrf);
            @for role in [ContactRole::Leader, ContactRole::Liaison] {
                h2 { (role.chinese()) }
                @for (k, label) in [("name", "姓名"), ("position", "职务"), ("phone", "电话")] {
                    @let key = format!("{}_{k}", role.as_str());
                    label { (label) " " input name=(key) value=(v(key.clone()));
                        @if let Some(m) = errors.get(&key) { " " span.err { (m) } } }
                }
            }
            button type="submit" { "保存" }
        }
    }
}

async fn contacts_page(State(web): State<Web>, Signed(s): Signed) -> Response {
    let mut values = HashMap::new();
    if let Ok(Some(p)) = web.store.profile(web.store.unit().as_str()).await {
        for role in [ContactRole::Leader, ContactRole::Liaison] {
            if let Some(c) = p.contact(role) {
                values.insert(format!("{}_name", role.as_str()), c.name.clone());
                values.insert(format!("{}_position", role.as_str()), c.position.clone());
                values.insert(format!("{}_phone", role.as_str()), c.phone.clone());
            }
        }
    }
    shell(
        &web,
        &s,
        "本单位联络人",
        contacts_form(&s.csrf, &values, &Default::default(), false),
    )
    .into_response()
}

async fn save_contacts(
    State(web): State<Web>,
    Signed(s): Signed,
    Form(values): Form<HashMap<String, String>>,
) -> Response {
    if let Some(r) = refused(&web, &s, values.get("csrf").map(String::as_str)) {
        return r;
    }
    let mut errors = HashMap::new();
    let mut good = Vec::new();
    // What the profile holds now: the page does not show remarks (kept as they are), and a
    // contact the person did not change is not written again.
    let held = web
        .store
        .profile(web.store.unit().as_str())
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    for role in [ContactRole::Leader, ContactRole::Liaison] {
        let now = held.contact(role).cloned();
        let get = |k: &str| {
            values
                .get(&format!("{}_{k}", role.as_str()))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let c = Contact {
            name: get("name"),
            position: get("position"),
            phone: get("phone"),
            remarks: now.as_ref().map(|c| c.remarks.clone()).unwrap_or_default(),
        };
        if c.is_empty() && c.position.is_empty() {
            continue; // not reported yet: allowed, and listed as missing
        }
        if now.as_ref() == Some(&c) {
            continue; // unchanged: nothing to write
        }
        match c.validate() {
            Ok(()) => good.push((role, c)),
            Err(e) => {
                let field = match &e {
                    ContactError::Missing(f) | ContactError::TooLong(f) => (*f).to_string(),
                    ContactError::Phone(_) => "phone".to_string(),
                    ContactError::Role(_) => "name".to_string(),
                };
                errors.insert(format!("{}_{field}", role.as_str()), e.zh());
            }
        }
    }
    if errors.is_empty() {
        let who = format!("web:{}", s.user);
        if let Err(e) = crate::app::contacts::set(&web.store, &who, &good).await {
            tracing::error!(error = %e, "saving contacts");
            return (StatusCode::INTERNAL_SERVER_ERROR, "保存失败，请稍后再试").into_response();
        }
        return shell(
            &web,
            &s,
            "本单位联络人",
            contacts_form(&s.csrf, &values, &errors, true),
        )
        .into_response();
    }
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        shell(
            &web,
            &s,
            "本单位联络人",
            contacts_form(&s.csrf, &values, &errors, false),
        ),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use crate::http::router;
    use crate::http::testing::*;

    #[tokio::test]
    async fn a_bad_phone_is_said_beside_it_and_a_good_form_is_saved() {
        let (_dir, s) = store().await;
        let (c, csrf) = editor(&s).await;
        let app = router(s.clone());
        let (st, _, body) = send(&app, get("/contacts", &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains("分管领导") || body.contains("联络员"),
            "{body}"
        );
        let (st, _, body) = send(
            &app,
            form(
                "/contacts",
                &c,
                format!(
                    "csrf={csrf}&liaison_name=%E5%BC%A0%E6%95%8F&liaison_position=x&liaison_phone=abc"
                ),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            body.contains("“abc”不是电话号码"),
            "the refusal is Chinese: {body}"
        );
        assert!(!body.contains("is not a phone number"), "{body}");
        assert!(s.profile(UNIT).await.unwrap().unwrap().liaison.is_none());
        let (st, _, body) = send(&app, form("/contacts", &c, format!("csrf={csrf}&liaison_name=%E5%BC%A0%E6%95%8F&liaison_position=x&liaison_phone=023-63811234"))).await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("已保存"), "{body}");
        assert_eq!(
            s.profile(UNIT)
                .await
                .unwrap()
                .unwrap()
                .liaison
                .unwrap()
                .phone,
            "023-63811234"
        );
        // The form shows what is saved.
        let (_, _, body) = send(&app, get("/contacts", &c)).await;
        assert!(body.contains("value=\"023-63811234\""), "{body}");
    }

    #[tokio::test]
    async fn saving_the_page_keeps_remarks_and_writes_only_what_changed() {
        use crate::domain::contacts::{Contact, ContactRole};
        let (_dir, s) = store().await;
        let (c, csrf) = editor(&s).await;
        let app = router(s.clone());
        // Remarks set from the command line, which the page does not show.
        let liaison = Contact {
            name: "张敏".into(),
            position: "信息科".into(),
            phone: "023-63811234".into(),
            remarks: "周一至周五".into(),
        };
        crate::app::contacts::set(&s, "cli", &[(ContactRole::Liaison, liaison.clone())])
            .await
            .unwrap();
        let heads = s
            .heads(&crate::docs::document::DocId::profile(s.unit()))
            .await
            .unwrap();
        // The form sent back as shown: nothing changes, not even the document's heads.
        let same = format!(
            "csrf={csrf}&liaison_name=%E5%BC%A0%E6%95%8F&liaison_position=%E4%BF%A1%E6%81%AF%E7%A7%91&liaison_phone=023-63811234"
        );
        let (st, _, _) = send(&app, form("/contacts", &c, same)).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(
            s.heads(&crate::docs::document::DocId::profile(s.unit()))
                .await
                .unwrap(),
            heads
        );
        // A new phone: written, and the remarks stay.
        let changed = format!(
            "csrf={csrf}&liaison_name=%E5%BC%A0%E6%95%8F&liaison_position=%E4%BF%A1%E6%81%AF%E7%A7%91&liaison_phone=023-63819999"
        );
        let (st, _, _) = send(&app, form("/contacts", &c, changed)).await;
        assert_eq!(st, StatusCode::OK);
        let now = s.profile(UNIT).await.unwrap().unwrap().liaison.unwrap();
        assert_eq!(
            (now.phone.as_str(), now.remarks.as_str()),
            ("023-63819999", "周一至周五")
        );
    }
}
