//! The whole tree of the seed: a directly affiliated unit (委属/代管) reporting straight to the
//! city beside the districts; the figures checked at every level.

use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::app::figures::subtree_stats;
use yinglian_node::domain::unit::{Role, UnitKind};
use yinglian_tests::PATIENCE;

async fn built(u: &LocalUnit) -> u64 {
    u.store.counts(u.code.as_str()).await.unwrap().0.built
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_affiliated_hospital_reports_straight_to_the_city_beside_the_districts() {
    let tmp = tempfile::tempdir().unwrap();
    let at = |c: &str| tmp.path().join(c);
    let unit = |code: &'static str, name: &'static str, kind, role| {
        let dir = at(code);
        async move {
            LocalUnit::create(&dir, code, name, kind, role)
                .await
                .unwrap()
        }
    };
    let mut city = unit("500000", "重庆市卫生健康委员会", UnitKind::City, Role::Hub).await;
    city.init_root().await.unwrap();
    let mut district = unit(
        "500103",
        "渝中区卫生健康委员会",
        UnitKind::District,
        Role::Hub,
    )
    .await;
    city.enroll(&district).await.unwrap();
    let mut hospital = unit(
        "500103-0001",
        "重庆市渝中区人民医院",
        UnitKind::Institution,
        Role::Node,
    )
    .await;
    district.enroll(&hospital).await.unwrap();
    // A directly affiliated hospital, enrolled by the city itself.
    let mut affiliated = unit(
        "500000-0001",
        "重庆医科大学附属第一医院",
        UnitKind::Affiliated,
        Role::Node,
    )
    .await;
    city.enroll(&affiliated).await.unwrap();
    affiliated.generate_cameras("500103", 7, 1).await.unwrap();
    hospital.generate_cameras("500103", 11, 2).await.unwrap();
    let (a, h) = (built(&affiliated).await, built(&hospital).await);
    assert!(a > 0 && h > 0);
    for u in [&mut city, &mut district, &mut hospital, &mut affiliated] {
        u.start().await.unwrap();
    }
    for (u, want, what) in [
        (&district, h, "the district counts its hospital"),
        (
            &city,
            h + a,
            "the city counts the district and the affiliated hospital",
        ),
    ] {
        wait_until(PATIENCE, what, || async {
            subtree_stats(&u.store, None)
                .await
                .is_ok_and(|s| s.built == want)
        })
        .await
        .unwrap();
    }
    // The city's rows: the affiliated hospital by itself, the district with its tree.
    let s = subtree_stats(&city.store, None).await.unwrap();
    let mut rows: Vec<(String, u64)> = s
        .children
        .iter()
        .map(|c| (c.unit.clone(), c.built))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![("500000-0001".to_string(), a), ("500103".to_string(), h)]
    );
    // The affiliated hospital's figures at the city are its ledger's.
    let own = subtree_stats(&affiliated.store, None).await.unwrap();
    assert_eq!(own.built, a);
    for u in [&mut hospital, &mut affiliated, &mut district, &mut city] {
        u.stop().await;
    }
}
