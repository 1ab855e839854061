//! A rollup given up for its next generation loses nothing that was read from it: the
//! data-quality findings travel into the new generation (the keyed codes stay in their own
//! document, which does not roll), and a report (报送) made
//! before any number of generations still shows its figures and its check at the parent, online
//! or back from offline. The generations here are short (a roll every few changes) so that a
//! handful of edits rolls them several times.

use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::app::figures::subtree_stats;
use yinglian_node::app::submission::{Check, LevelStatus, status, submit};
use yinglian_node::app::{cameras, quality_tree, rollup};
use yinglian_node::docs::document::DocId;
use yinglian_node::domain::camera::{Field, Value};
use yinglian_node::domain::campaign::{Campaign, Figure, Milestone};
use yinglian_node::domain::device_code::DeviceCode;
use yinglian_node::domain::figures::{CameraFlags, beijing_today};
use yinglian_node::domain::quality::Tally;
use yinglian_node::domain::submission::State;
use yinglian_tests::{PATIENCE, federation};

/// Changes a generation holds here before the next begins (both tests: the setting is the
/// process's).
const ROLL_AFTER: usize = 3;

/// A networked camera record with every field the rules ask for (no finding).
fn complete(name: &str) -> Vec<(Field, Value)> {
    vec![
        (Field::Name, Value::Text(name.into())),
        (Field::Networked, Value::Bool(true)),
        (Field::Address, Value::Text("门诊楼1楼".into())),
        (Field::CameraType, Value::Text("fixed-bullet".into())),
        (Field::PointClass, Value::Int(3)),
        (Field::Area, Value::Text("key-public".into())),
        (Field::InstallDate, Value::Text("2020-05-01".into())),
        (Field::Longitude, Value::Float(106.57)),
        (Field::Latitude, Value::Float(29.55)),
    ]
}

/// Hands `doc` from `from` to `to` (no daemon runs: every step is taken by the test).
async fn hand(from: &LocalUnit, to: &LocalUnit, doc: &DocId) {
    let bytes = from.store.save_document(doc).await.unwrap().unwrap();
    to.store
        .merge_bytes(doc, from.code.as_str(), &bytes)
        .await
        .unwrap();
}

/// Hands `inst`'s ledger to `district`.
async fn hand_up(inst: &LocalUnit, district: &LocalUnit) {
    hand(inst, district, &DocId::ledger(&inst.code)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_generation_carries_the_findings_and_the_keyed_codes_stay_apart() {
    rollup::set_roll_after(ROLL_AFTER);
    let fed = federation(1, 1).await.unwrap();
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    // The campaign (its rules, and the key the codes are hashed with) from the city.
    yinglian_node::app::campaign::publish(&fed.city.store, &Campaign::seed())
        .await
        .unwrap();
    hand(&fed.city, district, &campaign_of(&fed.city)).await;
    // Networked, but neither archived nor geo-tagged: two errors.
    cameras::add(
        &inst.store,
        "clerk",
        DeviceCode::parse("50010312091320000101").unwrap(),
        vec![
            (Field::Name, Value::Text("门诊大厅".into())),
            (Field::Networked, Value::Bool(true)),
        ],
    )
    .await
    .unwrap();
    hand_up(inst, district).await;
    rollup::recompute(&district.store).await.unwrap();
    assert!(quality_tree::refresh(&district.store).await.unwrap());
    let two = Tally {
        errors: 2,
        warnings: 0,
    };
    let findings = || async {
        let s = subtree_stats(&district.store, None).await.unwrap();
        let row = s
            .children
            .iter()
            .find(|c| c.unit == inst.code.as_str())
            .and_then(|c| c.findings());
        (s.findings(), row)
    };
    assert_eq!(findings().await, (Some(two), Some(two)));
    let own = district.store.rollup_doc(&district.code).await.unwrap();
    let part = district
        .store
        .read_document(&own, |d| yinglian_node::docs::quality::read_part(d))
        .await
        .unwrap();
    let codes_doc = DocId::codes(&district.code);
    let codes = || async {
        district
            .store
            .read_document(&codes_doc, |d| yinglian_node::docs::quality::read_codes(d))
            .await
            .unwrap()
    };
    let published = codes().await;
    assert_eq!(published.keys.len(), 1, "the subtree's one keyed code");
    assert!(!published.malformed);
    let codes_heads = district.store.heads(&codes_doc).await.unwrap();

    // New records at the hospital, each recomputed at the district (and nothing else: the
    // data-quality task does not run) until its rollup has rolled twice.
    let mut n = 0;
    while district
        .store
        .rollup_doc(&district.code)
        .await
        .unwrap()
        .generation
        < 2
    {
        n += 1;
        assert!(n <= 4 * ROLL_AFTER, "no roll after {n} changes");
        let code = format!("500103120913200002{n:02}");
        cameras::add(
            &inst.store,
            "clerk",
            DeviceCode::parse(&code).unwrap(),
            complete(&format!("走廊{n}")),
        )
        .await
        .unwrap();
        hand_up(inst, district).await;
        assert!(!rollup::recompute(&district.store).await.unwrap().is_empty());
    }
    let built = subtree_stats(&district.store, None).await.unwrap().built;
    assert_eq!(built, n as u64 + 1, "the figures follow");
    // The findings as the district's page and its parent read them, and the codes it publishes.
    assert_eq!(findings().await, (Some(two), Some(two)));
    let current = district.store.rollup_doc(&district.code).await.unwrap();
    assert_eq!(current.generation, 2);
    let carried = district
        .store
        .read_document(&current, |d| yinglian_node::docs::quality::read_part(d))
        .await
        .unwrap();
    assert_eq!(carried, part);
    // The keyed codes did not travel with the rollup: their document is as it was (the
    // data-quality task did not run since), whatever the generation.
    assert_eq!(district.store.heads(&codes_doc).await.unwrap(), codes_heads);
    assert_eq!(codes().await, published);
    assert_eq!(
        district
            .store
            .rollup_generations(&district.code)
            .await
            .unwrap(),
        vec![current],
        "the older generations given up"
    );
}

/// The campaign document `city` publishes.
fn campaign_of(city: &LocalUnit) -> DocId {
    DocId {
        kind: yinglian_node::docs::document::DocKind::Campaign,
        unit: city.code.clone(),
        generation: 0,
    }
}

/// The campaign of the test: the statistics table due today (Beijing).
fn campaign() -> (Campaign, String) {
    let today = beijing_today();
    let mut c = Campaign::seed();
    c.milestones = vec![Milestone {
        title: "报送统计表（附件2）".into(),
        deadline: today,
        figure: Figure::Reported,
        target: 100.0,
    }];
    (c, today.to_string())
}

/// Flips camera `code` of `inst` (networked or not) `edits` times, each one recomputed into
/// `district`'s rollup before the next.
async fn flip(inst: &LocalUnit, district: &LocalUnit, code: &str, edits: usize) {
    for _ in 0..edits {
        let on = !inst
            .store
            .cameras(inst.code.as_str(), &Default::default())
            .await
            .unwrap()
            .0
            .iter()
            .find(|r| r.camera.device_code.to_string() == code)
            .map(|r| CameraFlags::of(&r.camera).networked)
            .unwrap();
        let v = if on { "是" } else { "否" };
        inst.store
            .edit(&DocId::ledger(&inst.code), "test", "networked", |d| {
                let v = Field::Networked.parse_value(v)?;
                Ok(yinglian_node::docs::ledger::set_fields(
                    d,
                    code,
                    &[(Field::Networked, v)],
                )?)
            })
            .await
            .unwrap();
        let want = inst
            .store
            .counts(inst.code.as_str())
            .await
            .unwrap()
            .0
            .networked;
        wait_until(
            PATIENCE,
            "the district's rollup follows the edit",
            || async {
                subtree_stats(&district.store, None)
                    .await
                    .unwrap()
                    .networked
                    == want
            },
        )
        .await
        .unwrap();
    }
}

/// Waits until the city holds the district's current rollup generation alone, as the district
/// holds it, with `networked`.
async fn city_follows(city: &LocalUnit, district: &LocalUnit, networked: u64) {
    wait_until(
        PATIENCE,
        "the city follows the district's generations",
        || async {
            let current = district.store.rollup_doc(&district.code).await.unwrap();
            let held = city.store.rollup_generations(&district.code).await.unwrap();
            let s = subtree_stats(&city.store, Some(district.code.as_str()))
                .await
                .unwrap();
            held == [current.clone()]
                && city.heads(&current).await == district.heads(&current).await
                && s.networked == networked
        },
    )
    .await
    .unwrap();
}

/// The district's line of the city's status.
fn district_line(s: &LevelStatus, district: &LocalUnit) -> (State, Check, Option<u64>) {
    let c = s
        .children
        .iter()
        .find(|c| c.unit == district.code.as_str())
        .unwrap();
    (
        c.judgement.state,
        c.verified.clone(),
        c.judgement.submission.as_ref().map(|s| s.counts.networked),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_made_before_the_rolls_is_still_checked_at_the_parent() {
    rollup::set_roll_after(ROLL_AFTER);
    let mut fed = federation(1, 1).await.unwrap();
    let (c, due) = campaign();
    yinglian_node::app::campaign::publish(&fed.city.store, &c)
        .await
        .unwrap();
    let inst = &fed.institutions[0][0];
    inst.generate_cameras("500103", 12, 5).await.unwrap();
    let code = inst
        .store
        .cameras(inst.code.as_str(), &Default::default())
        .await
        .unwrap()
        .0
        .iter()
        .find(|r| CameraFlags::of(&r.camera).must_network)
        .expect("a camera to network")
        .camera
        .device_code
        .to_string();
    fed.start_all().await.unwrap();
    let (city, district, inst) = (&fed.city, &fed.districts[0], &fed.institutions[0][0]);
    let submitted = inst.store.counts(inst.code.as_str()).await.unwrap().0;
    wait_until(PATIENCE, "the district's figures and campaign", || async {
        subtree_stats(&district.store, None).await.unwrap().built == submitted.built
            && yinglian_node::app::campaign::held(&district.store)
                .await
                .unwrap()
                .is_some()
    })
    .await
    .unwrap();
    city_follows(city, district, submitted.networked).await;

    // The district reports; the city checks it against its replica of the district's rollup.
    let report = submit(
        &district.store,
        "test",
        &due,
        "孙科长",
        "周干事",
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(report.counts.networked, submitted.networked);
    let first = district.store.rollup_doc(&district.code).await.unwrap();
    let line = |s: &LevelStatus| district_line(s, district);
    let want = (State::OnTime, Check::Matches, Some(submitted.networked));
    wait_until(PATIENCE, "the city checks the report", || async {
        status(&city.store, &due)
            .await
            .is_ok_and(|s| line(&s) == want)
    })
    .await
    .unwrap();

    // Edits roll the district's rollup on (the city online): the report's generation is given
    // up at both; the camera ends the other way, so today's figures differ from the report's.
    let mut edits = 0;
    while district
        .store
        .rollup_doc(&district.code)
        .await
        .unwrap()
        .generation
        < first.generation + 3
        || edits % 2 == 0
    {
        edits += 1;
        assert!(edits <= 20 * ROLL_AFTER, "no roll after {edits} edits");
        flip(inst, district, &code, 1).await;
    }
    let now = inst.store.counts(inst.code.as_str()).await.unwrap().0;
    assert_ne!(now.networked, submitted.networked);
    city_follows(city, district, now.networked).await;
    assert!(
        city.store
            .rollup_generations(&district.code)
            .await
            .unwrap()
            .iter()
            .all(|d| d.generation > first.generation)
    );
    let s = status(&city.store, &due).await.unwrap();
    assert_eq!(
        line(&s),
        want,
        "checked against the figures of the report's moment"
    );
    let row = &s.children[0];
    assert_eq!(
        yinglian_node::app::zh::check(&row.verified),
        "与本级副本一致"
    );

    // The city offline while the district rolls on twice more: back, it receives the newest
    // generation only, and the report still shows its figures and its check.
    fed.city.stop().await;
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let before = district.store.rollup_doc(&district.code).await.unwrap();
    let mut more = 0;
    while district
        .store
        .rollup_doc(&district.code)
        .await
        .unwrap()
        .generation
        < before.generation + 2
        || more % 2 == 1
    {
        more += 1;
        assert!(more <= 20 * ROLL_AFTER, "no roll after {more} edits");
        flip(inst, district, &code, 1).await;
    }
    fed.city.start().await.unwrap();
    let (city, district) = (&fed.city, &fed.districts[0]);
    city_follows(city, district, now.networked).await;
    let s = status(&city.store, &due).await.unwrap();
    assert_eq!(district_line(&s, district), want);
    fed.stop_all().await;
}
