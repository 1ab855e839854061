//! Data quality across the tree: each level checks the records it can see against the rules the
//! city publishes, and a finding disappears as soon as the record is fixed.

use yinglian_hub::local::wait_until;
use yinglian_node::app::{cameras, quality};
use yinglian_node::docs::document::DocId;
use yinglian_node::domain::camera::{Field, Value};
use yinglian_node::domain::device_code::DeviceCode;
use yinglian_tests::{PATIENCE, converge, federation};

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
    // Each hospital is told by its district, naming its sibling (it sees no other ledger).
    for (inst, sibling) in [(a, b), (b, a)] {
        wait_until(PATIENCE, "the district tells its hospital", || async {
            let own = quality::check(&inst.store, None).await.unwrap();
            own.findings.iter().any(|f| {
                f.rule == "dup-code"
                    && f.device_code == SHARED
                    && f.detail.contains(sibling.code.as_str())
            })
        })
        .await
        .unwrap();
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
    let b_name = district.store.unit_name(b.code.as_str()).await.unwrap();
    assert!(!b_name.is_empty());
    assert_eq!(
        found.detail,
        format!("同一编码也登记在：{b_name}（{}）", b.code)
    );
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
    for inst in [a, b] {
        wait_until(PATIENCE, "the hospital's finding goes", || async {
            let own = quality::check(&inst.store, None).await.unwrap();
            of(&own, "dup-code").is_empty()
        })
        .await
        .unwrap();
    }
    // A camera moved: A reports it removed, B registers it. A removed record's code is free.
    cameras::remove(
        &a.store,
        "clerk",
        &DeviceCode::parse(SHARED).unwrap(),
        "迁至急诊楼",
        false,
    )
    .await
    .unwrap();
    cameras::add(
        &b.store,
        "clerk",
        DeviceCode::parse(SHARED).unwrap(),
        vec![name("急诊楼门口")],
    )
    .await
    .unwrap();
    for inst in [a, b] {
        converge(inst, &[district], &DocId::ledger(&inst.code))
            .await
            .unwrap();
    }
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

/// The findings of `unit`'s row as `hub`'s rollup carries them (the figures' `findings_*`).
async fn row_findings(hub: &yinglian_hub::local::LocalUnit, unit: &str) -> Option<quality::Tally> {
    let s = yinglian_node::app::figures::subtree_stats(&hub.store, None)
        .await
        .ok()?;
    if s.unit == unit {
        return s.findings();
    }
    s.children.iter().find(|c| c.unit == unit)?.findings()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_are_counted_in_the_figures_at_every_level_and_vanish_when_fixed() {
    use yinglian_hub::local::wait_until;
    use yinglian_tests::PATIENCE;
    let mut fed = federation(1, 1).await.unwrap();
    fed.start_all().await.unwrap();
    let (city, district, inst) = (&fed.city, &fed.districts[0], &fed.institutions[0][0]);
    let code = DeviceCode::parse("50010312091320000101").unwrap();
    // Networked, but neither archived nor geo-tagged: two errors.
    cameras::add(
        &inst.store,
        "clerk",
        code.clone(),
        vec![
            (Field::Name, Value::Text("门诊大厅".into())),
            (Field::Networked, Value::Bool(true)),
        ],
    )
    .await
    .unwrap();
    let two = quality::Tally {
        errors: 2,
        warnings: 0,
    };
    let (i, d) = (inst.code.as_str(), district.code.as_str());
    wait_until(PATIENCE, "the findings counted up to the city", || async {
        row_findings(district, i).await == Some(two)
            && row_findings(district, d).await == Some(two)
            && row_findings(city, d).await == Some(two)
            && row_findings(city, city.code.as_str()).await == Some(two)
    })
    .await
    .unwrap();
    // The police's feed carries them in the district's row.
    let feed = city.store.feed_latest().await.unwrap();
    let row = feed
        .iter()
        .find(|e| e.row.unit == d && e.hub == city.code.as_str())
        .unwrap();
    assert_eq!(row.row.findings, two);
    let wire = yinglian_proto::v1::FigureRow::from(row);
    assert_eq!((wire.findings_errors, wire.findings_warnings), (2, 0));
    // The clerk fills the record: gone at every level, live.
    cameras::edit(
        &inst.store,
        "clerk",
        &code,
        &[
            (Field::Address, Some(Value::Text("门诊楼1楼".into()))),
            (Field::CameraType, Some(Value::Text("fixed-bullet".into()))),
            (Field::PointClass, Some(Value::Int(3))),
            (Field::Area, Some(Value::Text("key-public".into()))),
            (Field::InstallDate, Some(Value::Text("2020-05-01".into()))),
            (Field::Longitude, Some(Value::Float(106.57))),
            (Field::Latitude, Some(Value::Float(29.55))),
        ],
    )
    .await
    .unwrap();
    let none = quality::Tally::default();
    wait_until(PATIENCE, "the findings gone at every level", || async {
        row_findings(district, i).await == Some(none)
            && row_findings(city, d).await == Some(none)
            && row_findings(city, city.code.as_str()).await == Some(none)
    })
    .await
    .unwrap();
    let feed = city.store.feed_latest().await.unwrap();
    let row = feed
        .iter()
        .find(|e| e.row.unit == d && e.hub == city.code.as_str())
        .unwrap();
    assert_eq!(row.row.findings, none);
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_city_finds_a_code_at_two_districts_without_their_records_and_tells_both() {
    use yinglian_hub::local::wait_until;
    use yinglian_tests::PATIENCE;
    let mut fed = federation(2, 1).await.unwrap();
    fed.start_all().await.unwrap();
    let city = &fed.city;
    let (d0, d1) = (&fed.districts[0], &fed.districts[1]);
    let (a, b) = (&fed.institutions[0][0], &fed.institutions[1][0]);
    for (inst, n) in [(a, "门诊大厅"), (b, "住院部走廊")] {
        cameras::add(
            &inst.store,
            "clerk",
            DeviceCode::parse(SHARED).unwrap(),
            vec![(Field::Name, Value::Text(n.into()))],
        )
        .await
        .unwrap();
    }
    let dup = |r: &quality::Report, unit: &str| {
        r.findings
            .iter()
            .find(|f| f.rule == "dup-code" && f.unit == unit && f.device_code == SHARED)
            .map(|f| f.detail.clone())
    };
    wait_until(
        PATIENCE,
        "the city and both districts see the duplicate",
        || async {
            let c = quality::check(&city.store, None).await.unwrap();
            let r0 = quality::check(&d0.store, None).await.unwrap();
            let r1 = quality::check(&d1.store, None).await.unwrap();
            c.shared.len() == 1
                && dup(&r0, a.code.as_str()).is_some()
                && dup(&r1, b.code.as_str()).is_some()
        },
    )
    .await
    .unwrap();
    // The city names the two districts, from keyed codes only: it holds no record of either.
    let c = quality::check(&city.store, None).await.unwrap();
    let holders: Vec<&str> = c.shared[0]
        .holders
        .iter()
        .map(|(u, _)| u.as_str())
        .collect();
    assert_eq!(holders, [d0.code.as_str(), d1.code.as_str()]);
    assert!(c.findings.is_empty(), "{:?}", c.findings);
    assert!(city.store.cameras_under(None).await.unwrap().is_empty());
    for inst in [a, b] {
        assert!(city.heads(&DocId::ledger(&inst.code)).await.is_empty());
    }
    let json = serde_json::to_string(&c).unwrap();
    assert!(!json.contains(SHARED) && !json.contains("门诊大厅") && !json.contains("住院部走廊"));
    // Each district: the finding on its own camera, naming the other district, not its camera.
    let r0 = quality::check(&d0.store, None).await.unwrap();
    let detail = dup(&r0, a.code.as_str()).unwrap();
    assert!(detail.contains(d1.code.as_str()), "{detail}");
    assert!(
        !detail.contains(b.code.as_str()) && !detail.contains("住院部走廊"),
        "{detail}"
    );
    let r1 = quality::check(&d1.store, None).await.unwrap();
    assert!(
        dup(&r1, b.code.as_str())
            .unwrap()
            .contains(d0.code.as_str())
    );
    // Counted in the figures: each district's row at the city has the error.
    wait_until(PATIENCE, "the city's rows count the duplicate", || async {
        let mut ok = true;
        for d in [d0, d1] {
            ok &= row_findings(city, d.code.as_str())
                .await
                .is_some_and(|t| t.errors >= 1);
        }
        ok
    })
    .await
    .unwrap();
    // The hospitals are told too, through their district.
    wait_until(
        PATIENCE,
        "the hospital sees it in its own check",
        || async {
            let own = quality::check(&a.store, None).await.unwrap();
            dup(&own, a.code.as_str()).is_some_and(|d| d.contains(d1.code.as_str()))
        },
    )
    .await
    .unwrap();
    // B's clerk corrects the code: gone at the city, both districts and the hospital.
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
        DeviceCode::parse("50010412091320000002").unwrap(),
        vec![(Field::Name, Value::Text("住院部走廊".into()))],
    )
    .await
    .unwrap();
    wait_until(PATIENCE, "the duplicate gone everywhere", || async {
        let c = quality::check(&city.store, None).await.unwrap();
        let r0 = quality::check(&d0.store, None).await.unwrap();
        let r1 = quality::check(&d1.store, None).await.unwrap();
        let own = quality::check(&a.store, None).await.unwrap();
        c.shared.is_empty()
            && dup(&r0, a.code.as_str()).is_none()
            && dup(&r1, b.code.as_str()).is_none()
            && dup(&own, a.code.as_str()).is_none()
            && row_findings(city, d0.code.as_str()).await == Some(quality::Tally::default())
    })
    .await
    .unwrap();
    fed.stop_all().await;
}

/// A complete record at (lon, lat): address, type, class 3, area, install date, coordinates.
fn complete(name: &str, lon: f64, lat: f64) -> Vec<(Field, Value)> {
    vec![
        (Field::Name, Value::Text(name.into())),
        (Field::Address, Value::Text(format!("{name}旁"))),
        (Field::CameraType, Value::Text("fixed-bullet".into())),
        (Field::PointClass, Value::Int(3)),
        (Field::Area, Value::Text("key-public".into())),
        (Field::InstallDate, Value::Text("2020-05-01".into())),
        (Field::Longitude, Value::Float(lon)),
        (Field::Latitude, Value::Float(lat)),
    ]
}

async fn add(u: &yinglian_hub::local::LocalUnit, code: &str, f: Vec<(Field, Value)>) {
    let code = DeviceCode::parse(code).unwrap();
    cameras::add(&u.store, "clerk", code, f).await.unwrap();
}

fn with(mut fields: Vec<(Field, Value)>, more: &[(Field, Value)]) -> Vec<(Field, Value)> {
    for (f, v) in more {
        fields.retain(|(g, _)| g != f);
        fields.push((*f, v.clone()));
    }
    fields
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_is_found_where_it_should_be_and_nothing_in_a_clean_inventory() {
    use yinglian_node::domain::campaign::Campaign;
    let mut fed = federation(2, 2).await.unwrap();
    fed.start_all().await.unwrap();
    yinglian_node::app::campaign::publish(&fed.city.store, &Campaign::seed())
        .await
        .unwrap();
    let (city, yz, ddk) = (&fed.city, &fed.districts[0], &fed.districts[1]);
    let (a, b) = (&fed.institutions[0][0], &fed.institutions[0][1]);
    let clean = &fed.institutions[1][0];
    assert_eq!((yz.code.as_str(), ddk.code.as_str()), ("500103", "500104"));
    let campaign: DocId = format!("campaign/{}", city.code).parse().unwrap();
    converge(city, &[yz, ddk, a, b, clean], &campaign)
        .await
        .unwrap();
    // 渝中区 (box 106.462–106.611, 29.508–29.591): three good cameras at A, then one per rule.
    for (n, (lon, lat)) in [(106.570, 29.550), (106.571, 29.551), (106.572, 29.552)]
        .into_iter()
        .enumerate()
    {
        add(
            a,
            &format!("5001031209132000010{n}"),
            complete("门诊", lon, lat),
        )
        .await;
    }
    let base = || complete("点位", 106.571, 29.551);
    let seeded = [
        ("dup-code", "50010312091320000201", base()),
        ("division", "50010512091320000202", base()),
        (
            "outside-area",
            "50010312091320000203",
            complete("院外", 106.90, 29.30),
        ),
        (
            "far",
            "50010312091320000204",
            complete("分院", 106.47, 29.51),
        ),
        (
            "networked-archive",
            "50010312091320000205",
            vec![
                (Field::Name, Value::Text("新接入".into())),
                (Field::Networked, Value::Bool(true)),
            ],
        ),
        (
            "key-class",
            "50010312091320000206",
            with(
                base(),
                &[
                    (Field::PointClass, Value::Int(1)),
                    (Field::Networked, Value::Bool(false)),
                ],
            ),
        ),
        (
            "removed-networked",
            "50010312091320000207",
            with(
                base(),
                &[
                    (Field::State, Value::Text("removed".into())),
                    (Field::Networked, Value::Bool(true)),
                ],
            ),
        ),
        (
            "faulty-30d",
            "50010312091320000208",
            with(base(), &[(Field::State, Value::Text("faulty".into()))]),
        ),
    ];
    for (_, code, fields) in &seeded {
        add(a, code, fields.clone()).await;
    }
    // The duplicate's other holder, B, in the same district (a complete, otherwise good record).
    add(b, "50010312091320000201", base()).await;
    // 大渡口区 (box 106.374–106.555, 29.321–29.519): a clean inventory.
    for n in 0..3 {
        add(
            clean,
            &format!("5001041209132000030{n}"),
            complete("入口", 106.50 + 0.001 * n as f64, 29.45),
        )
        .await;
    }
    for u in [a, b, clean] {
        let d = if u.code.as_str().starts_with("500103") {
            yz
        } else {
            ddk
        };
        converge(u, &[d], &DocId::ledger(&u.code)).await.unwrap();
    }
    // A month and more on: the faulty camera has been faulty over 30 days.
    let later = yinglian_node::domain::figures::beijing_today() + chrono::Days::new(40);
    let expect = |r: &quality::Report, at: &str| {
        for (rule, code, _) in &seeded {
            assert!(
                r.findings.iter().any(|f| &f.rule == rule
                    && f.device_code == *code
                    && f.unit == a.code.as_str()),
                "{rule} not found for {code} at {at}: {:?}",
                r.findings
            );
        }
        // And no rule fires on the good records.
        for f in &r.findings {
            assert!(
                seeded.iter().any(|(_, c, _)| *c == f.device_code)
                    || f.device_code == "50010312091320000201",
                "{at}: a finding on a good record: {f:?}"
            );
        }
    };
    // The district sees every rule (the duplicate at both hospitals) …
    let at_district = quality::check_at(&yz.store, None, later).await.unwrap();
    expect(&at_district, "the district");
    assert!(
        at_district
            .findings
            .iter()
            .any(|f| f.rule == "dup-code" && f.unit == b.code.as_str())
    );
    // … and the hospital its own, the duplicate once the district has told it.
    wait_until(
        PATIENCE,
        "the hospital is told of the duplicate",
        || async {
            let r = quality::check_at(&a.store, None, later).await.unwrap();
            r.findings.iter().any(|f| f.rule == "dup-code")
        },
    )
    .await
    .unwrap();
    expect(
        &quality::check_at(&a.store, None, later).await.unwrap(),
        "the hospital",
    );
    // The networked record without archive nor coordinates is the networked-geo rule's too.
    assert!(
        at_district
            .findings
            .iter()
            .any(|f| f.rule == "networked-geo" && f.device_code == "50010312091320000205")
    );
    // A clean inventory: nothing at its hospital nor its district, and nothing shared at the city.
    for (u, at) in [(clean, "the clean hospital"), (ddk, "the clean district")] {
        let r = quality::check_at(&u.store, None, later).await.unwrap();
        assert!(r.findings.is_empty(), "{at}: {:?}", r.findings);
    }
    // At the city (no camera record): the districts' counts as their own checks give them, today.
    let today = quality::check(&yz.store, None).await.unwrap();
    let want = today
        .units
        .values()
        .fold(quality::Tally::default(), |mut t, u| {
            t.errors += u.errors;
            t.warnings += u.warnings;
            t
        });
    assert!(want.errors > 0);
    wait_until(
        PATIENCE,
        "the city counts each district's findings",
        || async {
            row_findings(city, "500103").await == Some(want)
                && row_findings(city, "500104").await == Some(quality::Tally::default())
        },
    )
    .await
    .unwrap();
    let at_city = quality::check(&city.store, None).await.unwrap();
    assert!(at_city.shared.is_empty(), "{:?}", at_city.shared);
    fed.stop_all().await;
}

/// A district that publishes more keyed codes than the cameras its own figures count (to probe
/// which codes others hold, or to blame them) is not believed: the city finds no duplicate
/// through it until what it publishes fits its figures again, and records a refusal once the
/// doubt outlives its grace. No daemon runs:
/// each document is handed up by the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_publishing_more_codes_than_cameras_is_not_believed() {
    use std::collections::BTreeSet;
    use yinglian_hub::local::LocalUnit;
    use yinglian_node::app::{campaign, quality_tree, rollup};
    use yinglian_node::docs::quality::{read_codes, write_codes};
    use yinglian_node::domain::quality::CodeKey;
    use yinglian_tests::hostile::refusals;
    async fn hand(from: &LocalUnit, to: &LocalUnit, doc: &DocId) {
        let bytes = from.store.save_document(doc).await.unwrap().unwrap();
        to.store
            .merge_bytes(doc, from.code.as_str(), &bytes)
            .await
            .unwrap();
    }
    let fed = federation(2, 1).await.unwrap();
    let city = &fed.city;
    campaign::publish(
        &city.store,
        &yinglian_node::domain::campaign::Campaign::seed(),
    )
    .await
    .unwrap();
    let held_campaign = DocId {
        kind: yinglian_node::docs::document::DocKind::Campaign,
        unit: city.code.clone(),
        generation: 0,
    };
    for (i, d) in fed.districts.iter().enumerate() {
        let inst = &fed.institutions[i][0];
        hand(city, d, &held_campaign).await;
        add(
            inst,
            SHARED,
            vec![(Field::Name, Value::Text("门诊大厅".into()))],
        )
        .await;
        hand(inst, d, &DocId::ledger(&inst.code)).await;
        rollup::recompute(&d.store).await.unwrap();
        quality_tree::refresh(&d.store).await.unwrap();
        let own = d.store.rollup_doc(&d.code).await.unwrap();
        hand(d, city, &own).await;
        hand(d, city, &DocId::codes(&d.code)).await;
    }
    let c = quality::check(&city.store, None).await.unwrap();
    assert_eq!(c.shared.len(), 1, "the one code at both districts");
    assert!(refusals(city, "not believed").await.is_empty());

    // The second district publishes five more keys for its one camera.
    let d1 = &fed.districts[1];
    let codes = DocId::codes(&d1.code);
    let honest = d1
        .store
        .read_document(&codes, |d| read_codes(d).keys)
        .await
        .unwrap();
    let mut more: BTreeSet<CodeKey> = honest.clone();
    more.extend((1..=5).map(|n| CodeKey([n; 16])));
    d1.store
        .edit(&codes, "quality", "probe", |d| {
            Ok(write_codes(d, &more).map_err(yinglian_node::docs::ledger::LedgerError::from)?)
        })
        .await
        .unwrap();
    hand(d1, city, &codes).await;
    // Not believed at once; recorded only once the doubt outlives its grace (a page's check
    // records nothing; the data-quality task, keeping its cache, does after 30 s).
    let c = quality::check(&city.store, None).await.unwrap();
    assert!(c.shared.is_empty(), "{:?}", c.shared);
    assert!(refusals(city, "not believed").await.is_empty());
    let today = yinglian_node::domain::figures::beijing_today();
    let mut judging = quality::Cache::with_grace(std::time::Duration::ZERO);
    let c = quality::check_with(&city.store, None, today, &mut judging)
        .await
        .unwrap();
    assert!(c.shared.is_empty(), "{:?}", c.shared);
    let refused = refusals(city, "not believed").await;
    assert!(
        refused
            .iter()
            .any(|(_, r)| r.contains(d1.code.as_str()) && r.contains("6 of them for 1 cameras")),
        "{refused:?}"
    );

    // Back to what it holds: believed again.
    d1.store
        .edit(&codes, "quality", "honest again", |d| {
            Ok(write_codes(d, &honest).map_err(yinglian_node::docs::ledger::LedgerError::from)?)
        })
        .await
        .unwrap();
    hand(d1, city, &codes).await;
    let c = quality::check(&city.store, None).await.unwrap();
    assert_eq!(c.shared.len(), 1);
}
