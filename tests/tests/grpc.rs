//! A hub speaks plain gRPC to any client that holds a certificate of the federation: health and
//! server reflection, in both reflection versions (`grpcurl` uses v1; Python's grpcio and older
//! tools know only v1alpha).

use yinglian_node::federation::pki::TlsMaterial;
use yinglian_tests::federation;

macro_rules! list_services {
    ($version:ident, $channel:expr) => {{
        use tonic_reflection::pb::$version::ServerReflectionRequest;
        use tonic_reflection::pb::$version::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut answers = ServerReflectionClient::new($channel)
            .server_reflection_info(tokio_stream::iter(vec![request]))
            .await
            .unwrap()
            .into_inner();
        let answer = answers.message().await.unwrap().expect("an answer");
        match answer.message_response {
            Some(MessageResponse::ListServicesResponse(l)) => {
                l.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_serves_reflection_v1_and_v1alpha_and_health() {
    let mut fed = federation(1, 0).await.unwrap();
    fed.start_all().await.unwrap();
    let (city, district) = (&fed.city, &fed.districts[0]);
    let tls = TlsMaterial::load(&district.dir).unwrap();
    let channel = yinglian_node::federation::net::connect(&tls, &city.url(), &city.code)
        .await
        .unwrap();
    let want = [
        "yinglian.v1.Sync",
        "yinglian.v1.Feed",
        "yinglian.v1.Directory",
        "yinglian.v1.Reports",
        "yinglian.v1.Catalogue",
    ];
    let v1 = list_services!(v1, channel.clone());
    let v1alpha = list_services!(v1alpha, channel.clone());
    for name in want {
        assert!(v1.iter().any(|s| s == name), "v1 lacks {name}: {v1:?}");
        assert!(
            v1alpha.iter().any(|s| s == name),
            "v1alpha lacks {name}: {v1alpha:?}"
        );
    }
    let health = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: "yinglian.v1.Sync".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    // Health and reflection sit behind the same gate: a revoked unit is refused there too.
    yinglian_node::federation::membership::revoke_unit(&city.store, &district.code)
        .await
        .unwrap();
    let channel = yinglian_node::federation::net::connect(&tls, &city.url(), &city.code)
        .await
        .unwrap();
    let err = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    fed.stop_all().await;
}
