//! Data quality across the tree: each level checks the records it can see against the rules the
//! city publishes, and a finding disappears as soon as the record is fixed.

use yinglian_node::app::{cameras, quality};
use yinglian_node::docs::document::DocId;
use yinglian_node::domain::camera::{Field, Value};
use yinglian_node::domain::device_code::DeviceCode;
use yinglian_tests::{converge, federation};

const SHARED: &str = "50010312091320000001";

fn of<'a>(r: &'a quality::Report, rule: &str) -> Vec<(&'a str, &'a str)> {
    r.findings
        .iter()
        .filter(|f| f.rule == rule)
        .map(|f| (f.unit.as_str(), f.device_code.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_finds_the_same_code_at_two_hospitals_until_one_fixes_it() {
    let mut fed = federation(1, 2).await.unwrap();
    fed.start_all().await.unwrap();
    let district = &fed.districts[0];
    let (a, b) = (&fed.institutions[0][0], &fed.institutions[0][1]);
    let name = |n: &str| (Field::Name, Value::Text(n.into()));
    for (inst, n) in [(a, "门诊大厅"), (b, "急诊入口")] {
        cameras::add(
            &inst.store,
            "clerk",
            DeviceCode::parse(SHARED).unwrap(),
            vec![name(n)],
        )
        .await
        .unwrap();
    }
    for inst in [a, b] {
        converge(inst, &[district], &DocId::ledger(&inst.code))
            .await
            .unwrap();
    }
    // Each hospital alone sees nothing wrong with its own ledger.
    for inst in [a, b] {
        let own = quality::check(&inst.store, None).await.unwrap();
        assert_eq!(of(&own, "dup-code"), vec![]);
    }
    // The district sees both.
    let r = quality::check(&district.store, None).await.unwrap();
    assert_eq!(
        of(&r, "dup-code"),
        vec![(a.code.as_str(), SHARED), (b.code.as_str(), SHARED)]
    );
    let found = r
        .findings
        .iter()
        .find(|f| f.unit == a.code.as_str())
        .unwrap();
    assert_eq!(found.detail, format!("同一编码也登记在：{}", b.code));
    assert!(r.units[a.code.as_str()].errors >= 1);
    // Only one unit's subtree.
    let only_b = quality::check(&district.store, Some(&b.code))
        .await
        .unwrap();
    assert_eq!(
        only_b.units.keys().collect::<Vec<_>>(),
        vec![b.code.as_str()]
    );
    // B's clerk deletes the record entered with the wrong code and enters the right one.
    cameras::remove(
        &b.store,
        "clerk",
        &DeviceCode::parse(SHARED).unwrap(),
        "",
        true,
    )
    .await
    .unwrap();
    cameras::add(
        &b.store,
        "clerk",
        DeviceCode::parse("50010312091320000002").unwrap(),
        vec![name("急诊入口")],
    )
    .await
    .unwrap();
    converge(b, &[district], &DocId::ledger(&b.code))
        .await
        .unwrap();
    let r = quality::check(&district.store, None).await.unwrap();
    assert_eq!(of(&r, "dup-code"), vec![]);
    fed.stop_all().await;
}
