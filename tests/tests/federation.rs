//! Federation: every replica converges after offline work, and concurrent edits at two levels
//! merge with nothing lost.

use yinglian_node::docs::document::DocId;
use yinglian_node::docs::ledger;
use yinglian_node::docs::profile;
use yinglian_node::domain::camera::{Field, Value};
use yinglian_node::domain::contacts::{Contact, ContactRole};
use yinglian_node::store::{Store, StoreError};
use yinglian_tests::{converge, federation};

async fn set_liaison(store: &Store, name: &str, phone: &str) {
    let doc = DocId::profile(store.unit());
    let c = Contact {
        name: name.into(),
        position: "信息科科长".into(),
        phone: phone.into(),
        remarks: String::new(),
    };
    store
        .edit(&doc, "test", "set liaison", |d| {
            Ok(profile::set_contact(d, ContactRole::Liaison, &c)?)
        })
        .await
        .unwrap();
}

async fn set_field(
    store: &Store,
    owner: &DocId,
    code: &str,
    f: Field,
    v: &str,
) -> Result<(), StoreError> {
    store
        .edit(owner, "test", "edit", |d| {
            let value = f.parse_value(v)?;
            Ok(ledger::set_fields(d, code, &[(f, value)])?)
        })
        .await
        .map(|_| ())
}

async fn first_camera(store: &Store, unit: &str) -> String {
    let (rows, _) = store.cameras(unit, &Default::default()).await.unwrap();
    rows[0].camera.device_code.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_level_federation_converges_after_offline_work() {
    let mut fed = federation(2, 3).await.unwrap();
    // Offline: every institution keeps cameras and contacts; every district its own cameras.
    for (d, list) in fed.institutions.iter().enumerate() {
        for (i, inst) in list.iter().enumerate() {
            let seed = (d * 10 + i + 1) as u64;
            inst.generate_cameras(fed.districts[d].code.as_str(), 20 + i, seed)
                .await
                .unwrap();
            set_liaison(
                &inst.store,
                &format!("联络员{d}{i}"),
                &format!("1380000{d}{i}00"),
            )
            .await;
        }
        fed.districts[d]
            .generate_cameras(fed.districts[d].code.as_str(), 5, 90 + d as u64)
            .await
            .unwrap();
    }
    fed.start_all().await.unwrap();

    for (d, list) in fed.institutions.iter().enumerate() {
        let district = &fed.districts[d];
        for inst in list {
            converge(inst, &[district], &DocId::ledger(&inst.code))
                .await
                .unwrap();
            converge(inst, &[district, &fed.city], &DocId::profile(&inst.code))
                .await
                .unwrap();
        }
        let children: Vec<&_> = list.iter().collect();
        let mut holders = vec![&fed.city];
        holders.extend(children);
        converge(district, &holders, &DocId::profile(&district.code))
            .await
            .unwrap();
        converge(district, &[&fed.city], &DocId::ledger(&district.code))
            .await
            .unwrap();
    }
    let districts: Vec<&_> = fed.districts.iter().collect();
    converge(&fed.city, &districts, &DocId::profile(&fed.city.code))
        .await
        .unwrap();

    // What users see: the district's figures for each institution equal the institution's own;
    // the city's directory holds every institution's liaison.
    for (d, list) in fed.institutions.iter().enumerate() {
        for (i, inst) in list.iter().enumerate() {
            let own = inst.store.stats(inst.code.as_str()).await.unwrap();
            let seen = fed.districts[d]
                .store
                .stats(inst.code.as_str())
                .await
                .unwrap();
            assert!(own.built >= 15, "{own:?}");
            assert_eq!(
                (
                    seen.built,
                    seen.must_network,
                    seen.networked,
                    seen.networking_rate
                ),
                (
                    own.built,
                    own.must_network,
                    own.networked,
                    own.networking_rate
                )
            );
            let p = fed
                .city
                .store
                .profile(inst.code.as_str())
                .await
                .unwrap()
                .unwrap();
            let liaison = p.contact(ContactRole::Liaison).unwrap();
            assert_eq!(liaison.name, format!("联络员{d}{i}"));
            assert_eq!(p.parent.as_deref(), Some(fed.districts[d].code.as_str()));
            // Camera ledgers stop at the parent.
            assert!(fed.city.heads(&DocId::ledger(&inst.code)).await.is_empty());
        }
    }

    // Live: an edit while connected reaches the district.
    let inst = &fed.institutions[1][2];
    let code = first_camera(&inst.store, inst.code.as_str()).await;
    set_field(
        &inst.store,
        &DocId::ledger(&inst.code),
        &code,
        Field::Name,
        "急诊入口",
    )
    .await
    .unwrap();
    converge(inst, &[&fed.districts[1]], &DocId::ledger(&inst.code))
        .await
        .unwrap();
    let row = fed.districts[1]
        .store
        .camera(inst.code.as_str(), &code)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.camera.get(Field::Name),
        Some(&Value::Text("急诊入口".into()))
    );
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_institution_and_its_district_edit_one_camera_at_once() {
    let mut fed = federation(1, 1).await.unwrap();
    let district = &fed.districts[0];
    let inst = &fed.institutions[0][0];
    inst.generate_cameras(district.code.as_str(), 3, 7)
        .await
        .unwrap();
    let ledger = DocId::ledger(&inst.code);
    fed.start_all().await.unwrap();
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    converge(inst, &[district], &ledger).await.unwrap();
    let code = first_camera(&inst.store, inst.code.as_str()).await;

    // Both offline, then different fields of one camera at the same time.
    let mut fed = fed;
    fed.institutions[0][0].stop().await;
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    set_field(&inst.store, &ledger, &code, Field::Name, "住院部东门")
        .await
        .unwrap();
    set_field(
        &district.store,
        &ledger,
        &code,
        Field::NetworkedConfirmed,
        "是",
    )
    .await
    .unwrap();
    fed.institutions[0][0].start().await.unwrap();
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    converge(inst, &[district], &ledger).await.unwrap();
    for s in [&inst.store, &district.store] {
        let row = s.camera(inst.code.as_str(), &code).await.unwrap().unwrap();
        assert_eq!(
            row.camera.get(Field::Name),
            Some(&Value::Text("住院部东门".into()))
        );
        assert_eq!(
            row.camera.get(Field::NetworkedConfirmed),
            Some(&Value::Bool(true))
        );
        assert!(row.conflicts.is_empty());
    }
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_supervision_field_from_two_levels_is_kept_as_a_conflict() {
    yinglian_tests::logs();
    let mut fed = federation(1, 1).await.unwrap();
    // The district forwards its institutions' ledgers, so the city supervises them too.
    fed.districts[0]
        .store
        .set_meta("forward_ledgers", "true")
        .await
        .unwrap();
    let code_of = fed.districts[0].code.clone();
    fed.institutions[0][0]
        .generate_cameras(code_of.as_str(), 3, 8)
        .await
        .unwrap();
    let ledger = DocId::ledger(&fed.institutions[0][0].code);
    fed.start_all().await.unwrap();
    {
        let (city, district, inst) = (&fed.city, &fed.districts[0], &fed.institutions[0][0]);
        converge(inst, &[district, city], &ledger).await.unwrap();
    }
    let code = first_camera(
        &fed.institutions[0][0].store,
        fed.institutions[0][0].code.as_str(),
    )
    .await;

    // The district is cut off; meanwhile it and the city write the same supervision field.
    fed.districts[0].stop().await;
    set_field(
        &fed.city.store,
        &ledger,
        &code,
        Field::SupervisionNote,
        "市级抽查：画面正常",
    )
    .await
    .unwrap();
    set_field(
        &fed.districts[0].store,
        &ledger,
        &code,
        Field::SupervisionNote,
        "区级复核：待整改",
    )
    .await
    .unwrap();
    fed.districts[0].start().await.unwrap();
    let (city, district, inst) = (&fed.city, &fed.districts[0], &fed.institutions[0][0]);
    converge(inst, &[district, city], &ledger).await.unwrap();
    for s in [&inst.store, &district.store, &city.store] {
        let row = s.camera(inst.code.as_str(), &code).await.unwrap().unwrap();
        let values = row
            .conflicts
            .get(&Field::SupervisionNote)
            .expect("a visible conflict");
        let mut texts: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        texts.sort();
        assert_eq!(
            texts,
            vec![
                "区级复核：待整改".to_string(),
                "市级抽查：画面正常".to_string()
            ]
        );
    }
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_roll_up_to_the_city_and_drill_down() {
    use yinglian_node::app::figures::subtree_stats;
    let mut fed = federation(2, 3).await.unwrap();
    for (d, list) in fed.institutions.iter().enumerate() {
        for (i, inst) in list.iter().enumerate() {
            inst.generate_cameras(
                fed.districts[d].code.as_str(),
                10 + 3 * i,
                (d * 10 + i + 1) as u64,
            )
            .await
            .unwrap();
        }
        fed.districts[d]
            .generate_cameras(fed.districts[d].code.as_str(), 4, 90 + d as u64)
            .await
            .unwrap();
    }
    fed.city.generate_cameras("500000", 2, 99).await.unwrap();
    // What the figures must be, straight from every ledger.
    let mut want_city = yinglian_node::domain::figures::Counts::default();
    let mut want_district = Vec::new();
    for (d, list) in fed.institutions.iter().enumerate() {
        let mut c = fed.districts[d]
            .store
            .counts(fed.districts[d].code.as_str())
            .await
            .unwrap()
            .0;
        for inst in list {
            c.add(&inst.store.counts(inst.code.as_str()).await.unwrap().0);
        }
        want_city.add(&c);
        want_district.push(c);
    }
    want_city.add(&fed.city.store.counts("500000").await.unwrap().0);
    fed.start_all().await.unwrap();

    let city = &fed.city;
    yinglian_hub::local::wait_until(
        yinglian_tests::PATIENCE,
        "the city's totals equal the sum of all ledgers",
        || async {
            let s = subtree_stats(&city.store, None).await.unwrap();
            s.built == want_city.built
                && s.networked == want_city.networked
                && s.must_network == want_city.must_network
        },
    )
    .await
    .unwrap();
    let s = subtree_stats(&city.store, None).await.unwrap();
    assert_eq!(s.children.len(), 2);
    for (d, row) in s.children.iter().enumerate() {
        assert_eq!(row.unit, fed.districts[d].code.as_str());
        assert_eq!(
            (row.built, row.networked, row.archived),
            (
                want_district[d].built,
                want_district[d].networked,
                want_district[d].archived
            )
        );
    }
    // Drill down: the city answers for a district's institutions from the district's rollup.
    let d = subtree_stats(&city.store, Some(fed.districts[1].code.as_str()))
        .await
        .unwrap();
    assert_eq!(d.children.len(), 3);
    let inst = &fed.institutions[1][2];
    let own = inst.store.stats(inst.code.as_str()).await.unwrap();
    let seen = subtree_stats(&city.store, Some(inst.code.as_str()))
        .await
        .unwrap();
    assert_eq!(
        (seen.built, seen.networking_rate),
        (own.built, own.networking_rate)
    );
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_campaign_flows_down_and_every_unit_knows_where_it_stands() {
    let mut fed = federation(1, 1).await.unwrap();
    let campaign = DocId {
        kind: yinglian_node::docs::document::DocKind::Campaign,
        unit: fed.city.code.clone(),
        generation: 0,
    };
    fed.institutions[0][0]
        .generate_cameras("500103", 5, 3)
        .await
        .unwrap();
    fed.start_all().await.unwrap();
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    converge(&fed.city, &[district, inst], &campaign)
        .await
        .unwrap();
    let s = yinglian_node::app::figures::subtree_stats(&inst.store, None)
        .await
        .unwrap();
    let m = s.milestone.expect("a standing");
    // No contacts reported: the first milestone, long past.
    assert_eq!(
        (m.title.as_str(), m.status.as_str()),
        ("报送联络人（附件1）", "overdue")
    );
    set_liaison(&inst.store, "李明", "13800000000").await;
    let leader = Contact {
        name: "王院长".into(),
        position: "院长".into(),
        phone: "13900000000".into(),
        remarks: String::new(),
    };
    inst.store
        .edit(&DocId::profile(&inst.code), "test", "leader", |d| {
            Ok(profile::set_contact(d, ContactRole::Leader, &leader)?)
        })
        .await
        .unwrap();
    let s = yinglian_node::app::figures::subtree_stats(&inst.store, None)
        .await
        .unwrap();
    assert_ne!(s.milestone.unwrap().title, "报送联络人（附件1）");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_as_of_a_past_date_come_from_history() {
    use yinglian_node::app::figures::{stats_as_of, subtree_stats};
    let mut fed = federation(1, 1).await.unwrap();
    fed.institutions[0][0]
        .generate_cameras("500103", 8, 4)
        .await
        .unwrap();
    let want = fed.institutions[0][0]
        .store
        .counts("500103-0001")
        .await
        .unwrap()
        .0;
    fed.start_all().await.unwrap();
    let city = &fed.city;
    yinglian_hub::local::wait_until(
        yinglian_tests::PATIENCE,
        "the city's totals catch up",
        || async { subtree_stats(&city.store, None).await.unwrap().built == want.built },
    )
    .await
    .unwrap();
    let today = chrono::Utc::now().date_naive() + chrono::Days::new(1); // any time zone
    let yesterday = chrono::Utc::now().date_naive() - chrono::Days::new(2);
    let now = stats_as_of(&city.store, None, today).await.unwrap();
    assert_eq!((now.built, now.networked), (want.built, want.networked));
    assert_eq!(now.children.len(), 1);
    assert_eq!(now.children[0].built, want.built);
    let before = stats_as_of(&city.store, None, yesterday).await.unwrap();
    assert_eq!(before.built, 0);
    assert_eq!(
        before.networking_rate, None,
        "a rate over zero cameras is null"
    );
    // A leaf's own ledger, at its district, as of both dates.
    let d = &fed.districts[0];
    let inst_now = stats_as_of(&d.store, Some("500103-0001"), today)
        .await
        .unwrap();
    assert_eq!(inst_now.built, want.built);
    assert_eq!(
        stats_as_of(&d.store, Some("500103-0001"), yesterday)
            .await
            .unwrap()
            .built,
        0
    );
    fed.stop_all().await;
}

/// A hub's session that falls behind the hub's stream of changes (a busy hub: more changes than
/// the stream holds before the session reads them) still sends the change it was not told of,
/// found from the documents held; the fall is counted for `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_falls_behind_still_sends_what_it_missed() {
    use std::sync::atomic::Ordering;
    let mut fed = federation(1, 1).await.unwrap();
    fed.start_all().await.unwrap();
    let d = &fed.districts[0];
    let inst = &fed.institutions[0][0];
    let ledger = DocId::ledger(&inst.code);
    let district_profile = DocId::profile(&d.code);
    converge(inst, &[d], &ledger).await.unwrap();
    converge(d, &[inst], &district_profile).await.unwrap();
    let lagged = || d.store.live().sessions_lagged.load(Ordering::Relaxed);
    let before = lagged();
    // Each of these makes the institution's session push its ledger again, one by one: the
    // session falls behind, the district's own change among the changes it is not told of.
    for _ in 0..20_000 {
        d.store.notify(ledger.clone());
    }
    set_liaison(&d.store, "周敏", "023-61234567").await;
    for _ in 0..20_000 {
        d.store.notify(ledger.clone());
    }
    converge(d, &[inst], &district_profile).await.unwrap();
    assert!(lagged() > before, "the session fell behind the changes");
    let got = inst.store.profile(d.code.as_str()).await.unwrap().unwrap();
    assert_eq!(
        got.contact(ContactRole::Liaison).unwrap().name,
        "周敏",
        "the institution holds the district's new liaison"
    );
    fed.stop_all().await;
}
