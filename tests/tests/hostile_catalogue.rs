//! The police catalogue against callers it must refuse, each at the one admission gate and
//! recorded with the caller's identity: a subscriber without the grant, a grant for district A
//! reading district B (at B's hub, and asking A's hub for B), a node and a parent hub calling the
//! catalogue, and a grant the city withdrew by revoking the subscriber.

use tonic::Status;
use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::docs::document::DocId;
use yinglian_node::domain::unit::UnitCode;
use yinglian_node::federation::membership::{grant_catalogue, revoke_unit};
use yinglian_node::federation::pki::TlsMaterial;
use yinglian_proto::v1::catalogue_client::CatalogueClient;
use yinglian_proto::v1::{CatalogueEvent, CatalogueRequest};
use yinglian_tests::attacker::wait_refused_for;
use yinglian_tests::{PATIENCE, converge, federation, police};

/// Reads the catalogue of `unit` at `hub` with `tls`: the events, or the refusal.
async fn read_at(
    tls: &TlsMaterial,
    hub: &LocalUnit,
    unit: &str,
) -> Result<Vec<CatalogueEvent>, Status> {
    let channel = yinglian_node::federation::net::connect(tls, &hub.url(), &hub.code)
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut s = CatalogueClient::new(channel)
        .read(CatalogueRequest {
            unit: unit.into(),
            cursor: String::new(),
            reader: None,
        })
        .await?
        .into_inner();
    let mut all = Vec::new();
    while let Some(ev) = s.message().await? {
        all.push(ev);
    }
    Ok(all)
}

fn denied(r: Result<Vec<CatalogueEvent>, Status>, why: &str) {
    match r {
        Err(s) => {
            assert_eq!(s.code(), tonic::Code::PermissionDenied, "{s:?}");
            assert!(s.message().contains(why), "{why:?} not in {s:?}");
        }
        Ok(events) => panic!(
            "answered {} events, expected a refusal: {why}",
            events.len()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_is_refused_to_whoever_was_not_granted_it_and_each_refusal_recorded() {
    let mut fed = federation(2, 1).await.unwrap();
    for (d, inst) in fed.institutions.iter().enumerate() {
        inst[0]
            .generate_cameras(yinglian_tests::DISTRICTS[d], 6, 11 + d as u64)
            .await
            .unwrap();
    }
    let (a_code, b_code) = (fed.districts[0].code.clone(), fed.districts[1].code.clone());
    // District A's police, enrolled at A without the grant.
    let (a_dir, _a_police) = police::subscriber(
        &fed,
        &fed.districts[0],
        "500103-GA",
        &a_code,
        ("a", "change me now"),
    )
    .await;
    // A police enrolled at the city for district A only, granted its catalogue.
    let (ca_dir, _) = police::subscriber(
        &fed,
        &fed.city,
        "GA-500103",
        &a_code,
        ("ca", "change me now"),
    )
    .await;
    grant_catalogue(&fed.city.store, &UnitCode::parse("GA-500103").unwrap())
        .await
        .unwrap();
    // The city's police, the whole city, granted.
    let city_code = fed.city.code.clone();
    let (ga_dir, _) = police::subscriber(
        &fed,
        &fed.city,
        "GA-500000",
        &city_code,
        ("ga", "change me now"),
    )
    .await;
    grant_catalogue(&fed.city.store, &UnitCode::parse("GA-500000").unwrap())
        .await
        .unwrap();
    fed.start_all().await.unwrap();
    let (city, a, b) = (&fed.city, &fed.districts[0], &fed.districts[1]);
    for d in [a, b] {
        converge(city, &[d], &DocId::profile(&city.code))
            .await
            .unwrap();
    }
    let tls = |dir: &std::path::Path| TlsMaterial::load(dir).unwrap();

    // A subscriber without the grant.
    let a_police = tls(a_dir.path());
    denied(
        read_at(&a_police, a, a_code.as_str()).await,
        "was not granted the catalogue",
    );
    wait_refused_for(
        a,
        "urn:yinglian:subscriber:500103-GA",
        "was not granted the catalogue",
    )
    .await;
    // Granted, it reads A; asked of A, district B's catalogue is refused; at B's hub, it is
    // nobody.
    grant_catalogue(&a.store, &UnitCode::parse("500103-GA").unwrap())
        .await
        .unwrap();
    let events = read_at(&a_police, a, a_code.as_str()).await.unwrap();
    assert_eq!(events.len(), 6 + 1, "six cameras, then the end");
    denied(
        read_at(&a_police, a, b_code.as_str()).await,
        "does not hold",
    );
    wait_refused_for(a, "urn:yinglian:subscriber:500103-GA", "does not hold").await;
    denied(
        read_at(&a_police, b, b_code.as_str()).await,
        "was not enrolled by 500104",
    );
    wait_refused_for(b, "urn:yinglian:subscriber:500103-GA", "was not enrolled").await;

    // The city's grant for district A, at district B's hub.
    let ca_police = tls(ca_dir.path());
    let ok = read_at(&ca_police, a, a_code.as_str()).await.unwrap();
    assert_eq!(ok.len(), 6 + 1);
    denied(
        read_at(&ca_police, b, b_code.as_str()).await,
        "was granted the catalogue of 500103, not of 500104",
    );
    wait_refused_for(
        b,
        "urn:yinglian:subscriber:GA-500103",
        "was granted the catalogue of 500103",
    )
    .await;
    // Nor anything else at the district: the grant is the catalogue only.
    let channel = yinglian_node::federation::net::connect(&ca_police, &b.url(), &b.code)
        .await
        .unwrap();
    let s = yinglian_proto::v1::reports_client::ReportsClient::new(channel)
        .cameras(yinglian_proto::v1::CamerasRequest {
            unit: fed.institutions[1][0].code.to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), tonic::Code::PermissionDenied, "{s:?}");

    // A node (an institution of A) and the parent hub (the city) calling the catalogue.
    let inst = tls(&fed.institutions[0][0].dir);
    denied(
        read_at(&inst, a, a_code.as_str()).await,
        "is not a subscriber",
    );
    wait_refused_for(a, "urn:yinglian:node:500103-0001", "is not a subscriber").await;
    let city_tls = tls(&city.dir);
    denied(
        read_at(&city_tls, a, a_code.as_str()).await,
        "camera records do not travel above",
    );
    wait_refused_for(
        a,
        "urn:yinglian:hub:500000",
        "camera records do not travel above",
    )
    .await;

    // The city's police read B; the city revokes them: the withdrawn grant reaches B and B
    // refuses them.
    let ga = tls(ga_dir.path());
    // B's institution's cameras not reported removed (撤除), then the end.
    let (held, _) = fed.institutions[1][0]
        .store
        .cameras(fed.institutions[1][0].code.as_str(), &Default::default())
        .await
        .unwrap();
    let present = held.iter().filter(|r| r.camera.is_built()).count();
    assert_eq!(
        read_at(&ga, b, b_code.as_str()).await.unwrap().len(),
        present + 1
    );
    revoke_unit(&city.store, &UnitCode::parse("GA-500000").unwrap())
        .await
        .unwrap();
    wait_until(
        PATIENCE,
        "500104 refuses the revoked city police",
        || async { read_at(&ga, b, b_code.as_str()).await.is_err() },
    )
    .await
    .unwrap();
    wait_refused_for(
        b,
        "urn:yinglian:subscriber:GA-500000",
        "not enrolled by 500104",
    )
    .await;
    fed.stop_all().await;
}
