//! Bounded history: a rollup's document stays small however many edits its subtree makes (it
//! begins a new generation, its figures kept per day), while the figures as of a past day still
//! answer, the city still sees the district's live figures and an offline city still converges.
//! One test in this binary: it moves the process's clock a day forward.

use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::app::figures::{stats_as_of, subtree_stats};
use yinglian_node::docs::document::DocId;
use yinglian_node::domain::camera::Field;
use yinglian_node::domain::figures::CameraFlags;
use yinglian_node::domain::{clock, unit::UnitCode};
use yinglian_tests::{PATIENCE, converge, federation};

/// Sets whether camera `code` of `inst` is networked.
async fn set_networked(inst: &LocalUnit, code: &str, yes: bool) {
    inst.store
        .edit(&DocId::ledger(&inst.code), "test", "networked", |d| {
            let v = Field::Networked.parse_value(if yes { "是" } else { "否" })?;
            Ok(yinglian_node::docs::ledger::set_fields(
                d,
                code,
                &[(Field::Networked, v)],
            )?)
        })
        .await
        .unwrap();
}

/// `edits` edits at `inst` that each change its networked count (one camera on and off), ending
/// with it networked when `end_on`; each one recomputed into `district`'s rollup before the next.
async fn edit_many(inst: &LocalUnit, district: &LocalUnit, code: &str, edits: usize, end_on: bool) {
    let mut changes = district.store.subscribe();
    for i in 0..edits {
        let on = (i % 2 == 0) == ((edits % 2 == 1) == end_on);
        set_networked(inst, code, on).await;
        let want = inst
            .store
            .counts(inst.code.as_str())
            .await
            .unwrap()
            .0
            .networked;
        tokio::time::timeout(PATIENCE, async {
            while subtree_stats(&district.store, None)
                .await
                .unwrap()
                .networked
                != want
            {
                // Woken by the next change of any document there (a lag is a change too).
                let _ = changes.recv().await;
            }
        })
        .await
        .expect("the district's rollup follows every edit");
    }
}

/// The saved size (compressed, whole) of `hub`'s current rollup at `at`, and its generation.
async fn rollup_size(at: &LocalUnit, hub: &UnitCode) -> (usize, u32) {
    let doc = at.store.rollup_doc(hub).await.unwrap();
    let bytes = at
        .store
        .save_document(&doc)
        .await
        .unwrap()
        .unwrap_or_default();
    (bytes.len(), doc.generation)
}

/// Waits until the city's rollup and its replica of the district's, as written today, show
/// `networked` and `built`.
async fn wait_city(city: &LocalUnit, district: &UnitCode, networked: u64, built: u64) {
    wait_until(PATIENCE, "the city's rollups catch up", || async {
        let today = clock::today();
        let s = stats_as_of(&city.store, None, today).await.unwrap();
        let d = stats_as_of(&city.store, Some(district.as_str()), today)
            .await
            .unwrap();
        (s.networked, s.built, d.networked) == (networked, built, networked)
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_stay_small_over_thousands_of_edits_and_a_day_while_past_days_answer() {
    // `ROLLUP_ROLL_AFTER=never` measures the same run with one generation (the size before).
    let bounded = std::env::var("ROLLUP_ROLL_AFTER").as_deref() != Ok("never");
    if !bounded {
        yinglian_node::app::rollup::set_roll_after(usize::MAX);
    }
    let edits: usize = std::env::var("HISTORY_EDITS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    let started = std::time::Instant::now();
    let mut fed = federation(1, 1).await.unwrap();
    let inst = &fed.institutions[0][0];
    inst.generate_cameras("500103", 12, 5).await.unwrap();
    let (rows, _) = inst
        .store
        .cameras(inst.code.as_str(), &Default::default())
        .await
        .unwrap();
    let code = rows
        .iter()
        .find(|r| {
            let f = CameraFlags::of(&r.camera);
            f.built && f.must_network && !f.networked
        })
        .expect("a camera to network")
        .camera
        .device_code
        .to_string();
    fed.start_all().await.unwrap();
    let (city, district) = (&fed.city, &fed.districts[0]);
    let (city_code, district_code) = (city.code.clone(), district.code.clone());
    let inst = &fed.institutions[0][0];
    let counts = || async { inst.store.counts(inst.code.as_str()).await.unwrap().0 };

    // Day one: the camera networked at the end of the day.
    let day_one = clock::today();
    edit_many(inst, district, &code, edits, true).await;
    let one = counts().await;
    wait_city(city, &district_code, one.networked, one.built).await;

    // The next day (the whole federation's clock): the camera off again at the end of it.
    clock::advance(chrono::Duration::days(1));
    let day_two = clock::today();
    assert_eq!(day_two, day_one.succ_opt().unwrap());
    edit_many(inst, district, &code, edits, false).await;
    let two = counts().await;
    assert_eq!(two.networked + 1, one.networked, "the day's edits show");
    wait_city(city, &district_code, two.networked, two.built).await;

    // The district's rollup at the city converges with the district's, generation and all.
    let current = district.store.rollup_doc(&district_code).await.unwrap();
    converge(district, &[city], &current).await.unwrap();
    wait_until(
        PATIENCE,
        "the city gives up the district's older generations",
        || async {
            city.store
                .rollup_generations(&district_code)
                .await
                .unwrap()
                .len()
                == 1
        },
    )
    .await
    .unwrap();

    let (city_bytes, city_gen) = rollup_size(city, &city_code).await;
    let (district_bytes, district_gen) = rollup_size(district, &district_code).await;
    println!(
        "{:.1} s; after {} edits over two days ({}): city rollup {city_bytes} B (generation {city_gen}), district rollup {district_bytes} B (generation {district_gen})",
        started.elapsed().as_secs_f64(),
        2 * edits,
        if bounded {
            "generations"
        } else {
            "one generation"
        },
    );
    if bounded {
        // A fresh generation at least every day and every `roll_after` changes.
        assert!(
            city_gen >= 1 && district_gen >= 1,
            "{city_gen} {district_gen}"
        );
        for (who, b) in [("city", city_bytes), ("district", district_bytes)] {
            assert!(b < 12 * 1024, "the {who}'s rollup holds {b} bytes");
        }
        for u in [city, district] {
            assert_eq!(u.store.rollup_generations(&u.code).await.unwrap().len(), 1);
        }
    }

    // As of each day: the totals and the district's row at the city, the district's own rollup
    // (held at the city as a replica) and at the district itself.
    for (day, want) in [(day_one, one), (day_two, two)] {
        let s = stats_as_of(&city.store, None, day).await.unwrap();
        assert_eq!(
            (s.built, s.networked),
            (want.built, want.networked),
            "{day}"
        );
        assert_eq!(s.children.len(), 1);
        assert_eq!(s.children[0].networked, want.networked, "{day}");
        for (at, what) in [(city, "at the city"), (district, "at the district")] {
            let d = stats_as_of(&at.store, Some(district_code.as_str()), day)
                .await
                .unwrap();
            assert_eq!(d.networked, want.networked, "the district {what} on {day}");
        }
    }
    let before = stats_as_of(&city.store, None, day_one.pred_opt().unwrap())
        .await
        .unwrap();
    assert_eq!(before.built, 0, "nothing before the first day");

    // The city offline while the district moves on (another day, more generations): on its
    // return it takes the newest generation, gives up its old one, and nothing is refused.
    fed.city.stop().await;
    clock::advance(chrono::Duration::days(1));
    let (inst, district) = (&fed.institutions[0][0], &fed.districts[0]);
    edit_many(inst, district, &code, edits / 4 + 1, true).await;
    let three = inst.store.counts(inst.code.as_str()).await.unwrap().0;
    wait_until(PATIENCE, "the district's totals catch up", || async {
        subtree_stats(&district.store, None)
            .await
            .unwrap()
            .networked
            == three.networked
    })
    .await
    .unwrap();
    fed.city.start().await.unwrap();
    let (city, district) = (&fed.city, &fed.districts[0]);
    wait_city(city, &district_code, three.networked, three.built).await;
    let current = district.store.rollup_doc(&district_code).await.unwrap();
    converge(district, &[city], &current).await.unwrap();
    wait_until(
        PATIENCE,
        "the city gives up the district's older generations",
        || async {
            city.store
                .rollup_generations(&district_code)
                .await
                .unwrap()
                .len()
                == 1
        },
    )
    .await
    .unwrap();
    let s = stats_as_of(&city.store, None, day_one).await.unwrap();
    assert_eq!(s.networked, one.networked, "day one still answers");
    for u in [city, district] {
        let refused = yinglian_tests::hostile::refusals(u, "").await;
        assert!(refused.is_empty(), "{}: {refused:?}", u.code);
    }
    clock::advance(chrono::Duration::days(-2));
    fed.stop_all().await;
}
