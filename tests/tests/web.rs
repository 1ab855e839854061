//! The hub's pages in a running federation: the district's dashboard shows its institutions'
//! figures, moves when an institution networks a camera (server-sent events, no reload), and
//! lists the children that are offline.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;
use yinglian_hub::local::wait_until;
use yinglian_node::accounts::{self, Role};
use yinglian_node::document::DocId;
use yinglian_tests::{PATIENCE, federation, network_one};

async fn get(app: &axum::Router, path: &str, cookie: &str) -> (StatusCode, String) {
    let req = Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    let r = app.clone().oneshot(req).await.unwrap();
    let st = r.status();
    let b = axum::body::to_bytes(r.into_body(), 1 << 22).await.unwrap();
    (st, String::from_utf8_lossy(&b).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_district_dashboard_moves_by_itself() {
    let mut fed = federation(1, 2).await.unwrap();
    fed.institutions[0][0]
        .generate_cameras("500103", 30, 3)
        .await
        .unwrap();
    // The city and the district run; the second institution stays offline.
    fed.city.start().await.unwrap();
    fed.districts[0].start().await.unwrap();
    fed.institutions[0][0].start().await.unwrap();
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    yinglian_tests::converge(inst, &[district], &DocId::ledger(&inst.code))
        .await
        .unwrap();

    accounts::add_user(&district.store, "bureau", Role::ReadOnly, "district pw")
        .await
        .unwrap();
    let (token, _) = accounts::sign_in(&district.store, "bureau", "district pw")
        .await
        .unwrap();
    let cookie = format!(
        "{}={token}",
        yinglian_node::web::session_cookie(&district.code)
    );
    let app = yinglian_node::web::router(district.store.clone());

    let (st, page) = get(&app, "/", &cookie).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        page.contains("500103-0001")
            && page.contains("未在线的下级")
            && page.contains("500103-0002"),
        "{page}"
    );
    let before = district
        .store
        .counts(inst.code.as_str())
        .await
        .unwrap()
        .0
        .networked;

    // The page's event stream, open before the change.
    let req = Request::get("/events")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let mut events = app
        .clone()
        .oneshot(req)
        .await
        .unwrap()
        .into_body()
        .into_data_stream();

    network_one(inst).await;
    let chunk = tokio::time::timeout(PATIENCE, tokio_stream::StreamExt::next(&mut events))
        .await
        .expect("the page is told")
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&chunk).contains("event: figures"));
    // What the page fetches then: the institution's row with one more networked camera.
    let want = format!("<tr data-unit=\"{}\">", inst.code);
    wait_until(PATIENCE, "the fragment shows the new figure", || async {
        let (_, html) = get(&app, "/figures", &cookie).await;
        html.split(&want)
            .nth(1)
            .and_then(|row| row.split("<td class=\"networked\">").nth(1))
            .and_then(|c| c.split('<').next())
            .and_then(|n| n.parse::<u64>().ok())
            == Some(before + 1)
    })
    .await
    .unwrap();
    fed.stop_all().await;
}
