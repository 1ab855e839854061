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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_city_ranks_its_districts_by_the_published_score() {
    use yinglian_node::app::assessment::league;
    use yinglian_node::domain::assessment::{Weights, score};
    let mut fed = federation(2, 1).await.unwrap();
    // District 0's hospital networks all it must, district 1's nothing.
    for (d, list) in fed.institutions.iter().enumerate() {
        list[0]
            .generate_cameras(fed.districts[d].code.as_str(), 20, d as u64 + 3)
            .await
            .unwrap();
    }
    yinglian_tests::journey::network_all(&fed.institutions[0][0]).await;
    fed.start_all().await.unwrap();
    let mut want = 0;
    for list in &fed.institutions {
        want += list[0]
            .store
            .counts(list[0].code.as_str())
            .await
            .unwrap()
            .0
            .built;
    }
    let city = &fed.city;
    yinglian_hub::local::wait_until(yinglian_tests::PATIENCE, "the city's totals", || async {
        let s = yinglian_node::app::figures::subtree_stats(&city.store, None)
            .await
            .unwrap();
        s.built == want && s.children.iter().all(|c| c.built > 0)
    })
    .await
    .unwrap();
    let l = league(&city.store).await.unwrap();
    assert_eq!(l.rows.len(), 2);
    assert_eq!(l.rows[0].stats.unit, fed.districts[0].code.as_str());
    assert_eq!((l.rows[0].rank, l.rows[1].rank), (1, 2));
    assert!(
        l.formula.starts_with("考核得分 = 40×联网率"),
        "{}",
        l.formula
    );
    for r in &l.rows {
        // The seed's milestones are all due and nobody submitted: timeliness 0 (the district and
        // its hospital expected, none on time).
        assert_eq!(r.timeliness, Some(0.0));
        assert_eq!(
            r.score,
            score(&Weights::seed(), &r.stats, 99.0, 95.0, Some(0.0))
        );
    }
    assert!(l.rows[0].score.total > l.rows[1].score.total);
    fed.stop_all().await;
}
