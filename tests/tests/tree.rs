//! The whole tree of the seed: a directly affiliated unit (委属/代管) reporting straight to the
//! city beside the districts, and a hospital with its own sub-units (下级部门) as a hub of its
//! own under its district; the figures checked at every level.

use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::app::figures::subtree_stats;
use yinglian_node::domain::unit::{Role, UnitKind};
use yinglian_tests::PATIENCE;
use yinglian_tests::unit_in as unit;

/// The city (the root) and the district 500103 it enrolled.
async fn city_and_district(tmp: &tempfile::TempDir) -> (LocalUnit, LocalUnit) {
    let city = unit(
        tmp,
        "500000",
        "重庆市卫生健康委员会",
        UnitKind::City,
        Role::Hub,
    )
    .await;
    city.init_root().await.unwrap();
    let district = unit(
        tmp,
        "500103",
        "渝中区卫生健康委员会",
        UnitKind::District,
        Role::Hub,
    )
    .await;
    city.enroll(&district).await.unwrap();
    (city, district)
}

/// Waits until `hub`'s figures count `built` cameras.
async fn counts(hub: &LocalUnit, built: u64, what: &str) {
    wait_until(PATIENCE, what, || async {
        subtree_stats(&hub.store, None)
            .await
            .is_ok_and(|s| s.built == built)
    })
    .await
    .unwrap();
}

/// `hub`'s rows: each child with the cameras it counts, by unit code.
async fn rows_of(hub: &LocalUnit) -> Vec<(String, u64)> {
    let s = subtree_stats(&hub.store, None).await.unwrap();
    let mut rows: Vec<(String, u64)> = s
        .children
        .iter()
        .map(|c| (c.unit.clone(), c.built))
        .collect();
    rows.sort();
    rows
}

async fn built(u: &LocalUnit) -> u64 {
    u.store.counts(u.code.as_str()).await.unwrap().0.built
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_affiliated_hospital_reports_straight_to_the_city_beside_the_districts() {
    let tmp = tempfile::tempdir().unwrap();
    let unit =
        |code: &'static str, name: &'static str, kind, role| unit(&tmp, code, name, kind, role);
    let (mut city, mut district) = city_and_district(&tmp).await;
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
        counts(u, want, what).await;
    }
    // The city's rows: the affiliated hospital by itself, the district with its tree.
    let rows = rows_of(&city).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hospital_with_sub_units_is_a_hub_under_its_district_and_counted_at_every_level() {
    let tmp = tempfile::tempdir().unwrap();
    let unit =
        |code: &'static str, name: &'static str, kind, role| unit(&tmp, code, name, kind, role);
    let (mut city, mut district) = city_and_district(&tmp).await;
    // The hospital runs a hub of its own (its CA may sign leaves only, in its namespace).
    let mut hospital = unit(
        "500103-0001",
        "重庆市渝中区人民医院",
        UnitKind::Institution,
        Role::Hub,
    )
    .await;
    district.enroll(&hospital).await.unwrap();
    let mut sub_units = Vec::new();
    for (code, name) in [
        ("500103-0001-01", "重庆市渝中区人民医院大坪院区"),
        ("500103-0001-02", "重庆市渝中区人民医院社区卫生服务站"),
    ] {
        let s = unit(code, name, UnitKind::SubUnit, Role::Node).await;
        hospital.enroll(&s).await.unwrap();
        sub_units.push(s);
    }
    // A sub-unit cannot in turn run a hub: a fifth level is refused at enrollment.
    let deeper = unit("500103-0001-01-01", "第五级", UnitKind::SubUnit, Role::Hub).await;
    let err = hospital.enroll(&deeper).await.unwrap_err();
    assert!(format!("{err:#}").contains("只能签发终端证书"), "{err:#}");
    hospital.generate_cameras("500103", 5, 3).await.unwrap();
    sub_units[0].generate_cameras("500103", 7, 4).await.unwrap();
    sub_units[1].generate_cameras("500103", 3, 5).await.unwrap();
    let own = built(&hospital).await;
    let subs = [built(&sub_units[0]).await, built(&sub_units[1]).await];
    assert!(own > 0 && subs.iter().all(|&n| n > 0));
    let total = own + subs[0] + subs[1];
    for u in [&mut city, &mut district, &mut hospital]
        .into_iter()
        .chain(sub_units.iter_mut())
    {
        u.start().await.unwrap();
    }
    for (u, what) in [
        (&hospital, "the hospital counts itself and its sub-units"),
        (&district, "the district counts the hospital's whole tree"),
        (&city, "the city counts the district's whole tree"),
    ] {
        counts(u, total, what).await;
    }
    // The hospital's rows: each sub-unit by itself.
    let rows = rows_of(&hospital).await;
    assert_eq!(
        rows,
        vec![
            ("500103-0001-01".to_string(), subs[0]),
            ("500103-0001-02".to_string(), subs[1]),
        ]
    );
    // The district's row for the hospital is the hospital's whole tree.
    let rows = rows_of(&district).await;
    assert_eq!(rows, vec![("500103-0001".to_string(), total)]);
    // The sub-units' camera records stay at the hospital: the district holds none of them.
    for s in &sub_units {
        let ledger = yinglian_node::docs::document::DocId::ledger(&s.code);
        assert!(
            district
                .store
                .save_document(&ledger)
                .await
                .unwrap()
                .is_none(),
            "{} reached the district",
            s.code
        );
    }
    for u in sub_units
        .iter_mut()
        .chain([&mut hospital, &mut district, &mut city])
    {
        u.stop().await;
    }
}
