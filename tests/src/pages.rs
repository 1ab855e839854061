//! A unit's web pages driven in-process as a signed-in editor sees them (the router itself, no
//! browser): a page's status and body, and a form posted with the session's CSRF token.

use yinglian_hub::local::LocalUnit;

/// The pages of a unit as its editor ("clerk") sees them, and forms posted to them.
pub struct Pages {
    app: axum::Router,
    cookie: String,
    csrf: String,
}

impl Pages {
    pub async fn editor(unit: &LocalUnit) -> Pages {
        use yinglian_node::app::accounts;
        accounts::add_user(
            &unit.store,
            "clerk",
            accounts::Role::Editor,
            "clerk password",
        )
        .await
        .unwrap();
        let (token, session) = accounts::sign_in(&unit.store, "clerk", "clerk password")
            .await
            .unwrap();
        Pages {
            app: yinglian_node::http::router(unit.store.clone()),
            cookie: format!(
                "{}={token}",
                yinglian_node::http::session_cookie(&unit.code)
            ),
            csrf: session.csrf,
        }
    }

    async fn send(&self, req: axum::http::Request<axum::body::Body>) -> (u16, String) {
        use tower::ServiceExt;
        let r = self.app.clone().oneshot(req).await.unwrap();
        let st = r.status().as_u16();
        let b = axum::body::to_bytes(r.into_body(), 1 << 22).await.unwrap();
        (st, String::from_utf8_lossy(&b).into_owned())
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let req = axum::http::Request::get(path)
            .header(axum::http::header::COOKIE, &self.cookie)
            .body(axum::body::Body::empty())
            .unwrap();
        self.send(req).await
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        body.append_pair("csrf", &self.csrf);
        for (k, v) in fields {
            body.append_pair(k, v);
        }
        let req = axum::http::Request::post(path)
            .header(axum::http::header::COOKIE, &self.cookie)
            .header(
                axum::http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(axum::body::Body::from(body.finish()))
            .unwrap();
        self.send(req).await
    }
}
