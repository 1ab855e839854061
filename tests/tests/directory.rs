//! The liaison directory at every level, locally and over the `Directory` service.

use yinglian_node::app::directory::entries;
use yinglian_node::docs::document::DocId;
use yinglian_node::docs::profile;
use yinglian_node::domain::contacts::{Contact, ContactRole};
use yinglian_node::federation::pki::TlsMaterial;
use yinglian_proto::v1::LookupRequest;
use yinglian_proto::v1::directory_client::DirectoryClient;
use yinglian_tests::{converge, federation};

fn units(list: &[yinglian_node::app::directory::Entry]) -> Vec<String> {
    list.iter().map(|e| e.unit.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_level_finds_whom_to_call() {
    let mut fed = federation(2, 2).await.unwrap();
    let liaison = Contact {
        name: "刘洋".into(),
        position: "保卫科科长".into(),
        phone: "023-63810001".into(),
        remarks: String::new(),
    };
    let inst = &fed.institutions[0][1];
    inst.store
        .edit(&DocId::profile(&inst.code), "test", "liaison", |d| {
            Ok(profile::set_contact(d, ContactRole::Liaison, &liaison)?)
        })
        .await
        .unwrap();
    fed.start_all().await.unwrap();
    for (d, list) in fed.institutions.iter().enumerate() {
        for i in list {
            converge(i, &[&fed.districts[d], &fed.city], &DocId::profile(&i.code))
                .await
                .unwrap();
        }
        let children: Vec<&_> = list.iter().collect();
        converge(
            &fed.districts[d],
            &children,
            &DocId::profile(&fed.districts[d].code),
        )
        .await
        .unwrap();
    }

    // The city sees everybody; one contact is reported, the rest are listed as missing.
    let all = entries(&fed.city.store, "500000", &[], None).await.unwrap();
    assert_eq!(all.len(), 7, "{:?}", units(&all));
    let found = entries(&fed.city.store, "500000", &[], Some("63810001"))
        .await
        .unwrap();
    assert_eq!(units(&found), vec!["500103-0002".to_string()]);
    assert_eq!(found[0].liaison.as_ref().unwrap().name, "刘洋");
    assert_eq!(found[0].missing, vec!["leader".to_string()]);
    let by_name = entries(&fed.city.store, "500000", &[], Some("500104第2医院"))
        .await
        .unwrap();
    assert_eq!(units(&by_name), vec!["500104-0002".to_string()]);

    // A district: its subtree and the city, nothing of the other district.
    let d = &fed.districts[0];
    let list = entries(&d.store, d.code.as_str(), &["500000".into()], None)
        .await
        .unwrap();
    assert_eq!(
        units(&list),
        vec!["500000", "500103", "500103-0001", "500103-0002"]
    );

    // Over gRPC: an institution asks its district: itself and the district.
    let inst = &fed.institutions[0][0];
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    let ch = yinglian_node::federation::net::connect(&tls, &d.url(), &d.code)
        .await
        .unwrap();
    let reply = DirectoryClient::new(ch)
        .lookup(LookupRequest {
            query: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let got: Vec<String> = reply.entries.iter().map(|e| e.unit.clone()).collect();
    assert_eq!(got, vec!["500103", "500103-0001"]);
    // ... and is refused by a district it does not belong to.
    let y = &fed.districts[1];
    let ch = yinglian_node::federation::net::connect(&tls, &y.url(), &y.code)
        .await
        .unwrap();
    let err = DirectoryClient::new(ch)
        .lookup(LookupRequest {
            query: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    fed.stop_all().await;
}
