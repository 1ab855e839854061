//! Camera-level detail as a federated query: the city keeps no camera copies and asks the
//! district hub, which answers its parent only.

use yinglian_hub::local::wait_until;
use yinglian_node::docs::document::DocId;
use yinglian_node::docs::ledger::CameraState;
use yinglian_node::federation::pki::TlsMaterial;
use yinglian_node::store::CameraQuery;
use yinglian_proto::v1::CamerasRequest;
use yinglian_proto::v1::reports_client::ReportsClient;
use yinglian_tests::{PATIENCE, converge, federation};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_city_drills_down_to_cameras_through_the_district() {
    let mut fed = federation(1, 2).await.unwrap();
    fed.institutions[0][1]
        .generate_cameras("500103", 30, 5)
        .await
        .unwrap();
    fed.start_all().await.unwrap();
    let (city, district, inst) = (&fed.city, &fed.districts[0], &fed.institutions[0][1]);
    converge(inst, &[district], &DocId::ledger(&inst.code))
        .await
        .unwrap();
    converge(district, &[city], &DocId::profile(&district.code))
        .await
        .unwrap();
    converge(inst, &[city], &DocId::profile(&inst.code))
        .await
        .unwrap();
    let want = inst
        .store
        .cameras(inst.code.as_str(), &Default::default())
        .await
        .unwrap()
        .1 as u64;

    let q = CameraQuery {
        limit: Some(10),
        ..Default::default()
    };
    // Once the district's address has reached the city in its profile.
    wait_until(
        PATIENCE,
        "the city gets the cameras from the district",
        || async {
            yinglian_node::federation::reports::forward_cameras(
                &city.store,
                &city.dir,
                &inst.code,
                &q,
            )
            .await
            .is_ok()
        },
    )
    .await
    .unwrap();
    let (total, list) =
        yinglian_node::federation::reports::forward_cameras(&city.store, &city.dir, &inst.code, &q)
            .await
            .unwrap();
    assert_eq!(total, want);
    assert_eq!(list.len(), 10);
    assert!(
        list[0].camera.device_code.as_str().starts_with("500103"),
        "{:?}",
        list[0]
    );
    // Each record arrives typed, field for field as the institution holds it, and prints as the
    // same JSON (`camera list --json`).
    let (_, held) =
        yinglian_node::federation::reports::held_cameras(&inst.store, inst.code.as_str(), &q)
            .await
            .unwrap();
    assert_eq!(list, held);
    let json = |l: &[CameraState]| l.iter().map(CameraState::to_json).collect::<Vec<_>>();
    assert_eq!(json(&list), json(&held));
    assert!(
        held.iter().any(|c| c.camera.fields.len() > 5),
        "records with their fields: {held:?}"
    );
    // The city keeps no copy of the camera ledger.
    assert!(city.heads(&DocId::ledger(&inst.code)).await.is_empty());

    // The city's pages show the same detail, asked of the district.
    yinglian_node::app::accounts::add_user(
        &city.store,
        "wjw",
        yinglian_node::app::accounts::Role::ReadOnly,
        "city password",
    )
    .await
    .unwrap();
    let (token, _) = yinglian_node::app::accounts::sign_in(&city.store, "wjw", "city password")
        .await
        .unwrap();
    let app = yinglian_node::http::router(city.store.clone());
    let req = axum::http::Request::get(format!("/unit/{}/cameras", inst.code))
        .header(
            axum::http::header::COOKIE,
            format!(
                "{}={token}",
                yinglian_node::http::session_cookie(&city.code)
            ),
        )
        .body(axum::body::Body::empty())
        .unwrap();
    let r = tower::ServiceExt::oneshot(app, req).await.unwrap();
    assert_eq!(r.status(), axum::http::StatusCode::OK);
    let html = String::from_utf8(
        axum::body::to_bytes(r.into_body(), 1 << 22)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        html.contains(&format!("（{want} 条，由下级枢纽提供）")),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "<td class=\"l\">{}</td>",
            list[0].camera.device_code
        )),
        "{html}"
    );

    // The district answers its parent only: an institution is refused.
    let tls = TlsMaterial::load(&fed.institutions[0][0].dir).unwrap();
    let ch = yinglian_node::federation::net::connect(&tls, &district.url(), &district.code)
        .await
        .unwrap();
    let err = ReportsClient::new(ch)
        .cameras(CamerasRequest {
            unit: inst.code.to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    fed.stop_all().await;
}
