//! Operations (安全运维) across a real federation: an institution files a new camera (建设备案),
//! reports a fault and its repair (故障 → 恢复) and a removal (撤除报告); its district sees the
//! time in service, the repair and what waits for it, acknowledges on its page, and the
//! acknowledgement reaches the institution, in the camera's record and its audit. The refusals.
//! The figures up the tree: a fault and its repair at a hospital give the same time in service
//! (时间完好率), faults, repairs and time to repair at the hospital, its district and the city,
//! live; a hospital hub's sub-units counted at every level above; a district's figures that
//! cannot be true refused by the city and recorded.

use chrono::{DateTime, Duration, Utc};
use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::app::cameras::{self, CameraError};
use yinglian_node::app::operations::{acknowledge, view};
use yinglian_node::app::operations_tree::{Tree, tree};
use yinglian_node::docs::document::DocId;
use yinglian_node::docs::ledger;
use yinglian_node::domain::camera::Camera;
use yinglian_node::domain::camera::{Field, State, Value};
use yinglian_node::domain::device_code::DeviceCode;
use yinglian_node::domain::operations::Acknowledge;
use yinglian_node::domain::operations::{Operations, WINDOW_DAYS};
use yinglian_node::domain::unit::{Role, UnitKind};
use yinglian_tests::pages::Pages;
use yinglian_tests::unit_in as unit;
use yinglian_tests::{PATIENCE, converge, federation};

async fn pending(unit: &LocalUnit, of: &LocalUnit) -> Vec<(Acknowledge, String)> {
    let v = view(&unit.store, Some(&of.code)).await.unwrap();
    v.units
        .iter()
        .flat_map(|u| u.pending.iter().map(|p| (p.what, p.device_code.clone())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_district_acknowledges_filings_and_removals_and_sees_the_repairs() {
    let mut fed = federation(1, 1).await.unwrap();
    fed.institutions[0][0]
        .generate_cameras("500103", 4, 3)
        .await
        .unwrap();
    fed.start_all().await.unwrap();
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let text = |t: &str| Value::Text(t.into());

    // The clerk files a new camera, reports one faulty then repaired, and removes another.
    let new = DeviceCode::parse("50010312091320009001").unwrap();
    cameras::add(
        &inst.store,
        "clerk",
        new.clone(),
        vec![(Field::Name, text("新建门诊楼入口"))],
    )
    .await
    .unwrap();
    let (rows, _) = inst
        .store
        .cameras(inst.code.as_str(), &Default::default())
        .await
        .unwrap();
    let old: Vec<DeviceCode> = rows
        .iter()
        .filter(|r| r.camera.state() == State::InService && r.camera.device_code != new)
        .map(|r| r.camera.device_code.clone())
        .take(2)
        .collect();
    assert_eq!(old.len(), 2, "two cameras in service to work with");
    for state in ["faulty", "in_service"] {
        cameras::edit(
            &inst.store,
            "clerk",
            &old[0],
            &[(Field::State, Some(text(state)))],
        )
        .await
        .unwrap();
    }
    cameras::remove(&inst.store, "clerk", &old[1], "院区改造拆除", false)
        .await
        .unwrap();
    let ledger = DocId::ledger(&inst.code);
    converge(inst, &[district], &ledger).await.unwrap();

    // The district sees what waits, and the repair in the figures.
    let want = vec![
        (Acknowledge::Filing, new.to_string()),
        (Acknowledge::Removal, old[1].to_string()),
    ];
    assert_eq!(pending(district, inst).await, want);
    let v = view(&district.store, Some(&inst.code)).await.unwrap();
    let o = v.units[0].operations;
    assert_eq!((o.faults, o.repairs, o.open_faults), (1, 1, 0));
    assert!(o.service_rate().unwrap() <= 100.0 && o.service_rate().unwrap() > 99.0);
    assert!(o.mean_repair_hours().is_some());
    // The institution sees the same two waiting for its district.
    assert_eq!(pending(inst, inst).await, want);

    // Refusals: the institution cannot acknowledge its own; a camera with nothing waiting.
    let err = acknowledge(&inst.store, "clerk", &inst.code, &new, Acknowledge::Filing)
        .await
        .unwrap_err();
    assert!(matches!(err, CameraError::OwnUnit(_)), "{err}");
    let err = acknowledge(
        &district.store,
        "officer",
        &inst.code,
        &old[0],
        Acknowledge::Removal,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, CameraError::NothingToAcknowledge { .. }),
        "{err}"
    );
    assert!(
        err.chinese().contains("没有待确认的撤除报告"),
        "{}",
        err.chinese()
    );

    // On the district's page: both listed, one acknowledged with its button, one from the CLI's
    // use case; nothing is left, at the district and, after sync, at the institution.
    let page = Pages::editor(district).await;
    let (st, body) = page.get("/operations").await;
    assert_eq!(st, 200);
    assert!(
        body.contains("待确认的建设备案和撤除报告（共 2 条）"),
        "{body}"
    );
    assert!(
        body.contains("新建门诊楼入口") && body.contains("院区改造拆除"),
        "{body}"
    );
    // Acknowledged with its button; pressed again (another tab), refused with why.
    let mut answers = Vec::new();
    for _ in 0..2 {
        let form = [
            ("unit", inst.code.as_str()),
            ("code", new.as_str()),
            ("what", "filing"),
        ];
        answers.push(page.post("/operations/acknowledge", &form).await);
    }
    let statuses: Vec<u16> = answers.iter().map(|(st, _)| *st).collect();
    assert_eq!(statuses, vec![303, 422]);
    let body = &answers[1].1;
    assert!(body.contains("没有待确认的建设备案"), "{body}");
    acknowledge(
        &district.store,
        "officer",
        &inst.code,
        &old[1],
        Acknowledge::Removal,
    )
    .await
    .unwrap();
    assert!(pending(district, inst).await.is_empty());
    let (_, body) = page.get("/operations").await;
    assert!(body.contains("均已确认"), "{body}");
    wait_until(
        PATIENCE,
        "the acknowledgements reach the institution",
        || async { pending(inst, inst).await.is_empty() },
    )
    .await
    .unwrap();
    let row = inst
        .store
        .camera(inst.code.as_str(), new.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.camera.get(Field::FilingAcknowledged),
        Some(&Value::Bool(true))
    );
    // The district's audit names who acknowledged.
    let audit = district.store.audit(Some(new.as_str()), 10).await.unwrap();
    assert!(
        audit.iter().any(|r| r["who"] == "web:clerk"
            && r["fields"]
                .as_str()
                .unwrap_or("")
                .contains("filing_acknowledged")),
        "{audit:?}"
    );
    fed.stop_all().await;
}

/// The seconds of the window.
const WINDOW: u64 = (WINDOW_DAYS * 24 * 3600) as u64;
const HOUR: u64 = 3600;

/// Writes into `unit`'s own ledger `n` cameras in service (device codes from `first`, no filing
/// event: there the whole window) and, for the first, a fault from `fault_h` hours before `t0`
/// repaired `repair_h` hours before it: a history whose figures are known.
async fn ledger_with_a_repair(
    unit: &LocalUnit,
    first: u32,
    n: u32,
    t0: DateTime<Utc>,
    fault_h: i64,
    repair_h: i64,
) {
    let doc = DocId::ledger(&unit.code);
    let area = &unit.code.as_str()[..6];
    let code = |i: u32| format!("{area}12091320{i:06}");
    unit.store
        .edit(&doc, "clerk", "cameras and their service history", |d| {
            for i in first..first + n {
                let mut cam = Camera::new(DeviceCode::parse(&code(i)).unwrap());
                cam.fields
                    .insert(Field::Name, Value::Text(format!("测试点位{i}")));
                cam.fields
                    .insert(Field::State, Value::Text("in-service".into()));
                ledger::add_camera(d, &cam)?;
            }
            let at = |h: i64| t0 - Duration::hours(h);
            ledger::append_event_at(d, "fault", &code(first), "", "clerk", at(fault_h))?;
            ledger::append_event_at(d, "repair", &code(first), "", "clerk", at(repair_h))?;
            Ok(())
        })
        .await
        .unwrap();
}

/// The figures of `n` cameras present the whole window, one fault of `hours` repaired.
fn known(n: u64, hours: u64) -> Operations {
    Operations {
        cameras: n,
        camera_seconds: n * WINDOW,
        fault_seconds: hours * HOUR,
        faults: 1,
        repairs: 1,
        repair_seconds: hours * HOUR,
        open_faults: 0,
        removed: 0,
    }
}

async fn tree_of(hub: &LocalUnit) -> Option<Tree> {
    tree(&hub.store).await.unwrap()
}

/// Waits until `hub`'s tree says `check`.
async fn wait_tree(hub: &LocalUnit, what: &str, check: impl Fn(&Tree) -> bool) -> Tree {
    wait_until(PATIENCE, what, || async {
        tree_of(hub).await.is_some_and(|t| check(&t))
    })
    .await
    .unwrap();
    tree_of(hub).await.unwrap()
}

/// The figures of `child`'s row in `t` (refused or not).
fn row(t: &Tree, child: &LocalUnit) -> (Operations, bool) {
    let r = t
        .children
        .iter()
        .find(|r| r.unit == child.code.as_str())
        .unwrap_or_else(|| panic!("no row for {}: {t:?}", child.code));
    (r.row.operations, r.row.refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_and_its_repair_give_the_same_figures_at_the_hospital_its_district_and_the_city() {
    let mut fed = federation(1, 1).await.unwrap();
    let t0 = Utc::now();
    // Four cameras; the first faulty from 10 hours ago, repaired 4 hours ago.
    ledger_with_a_repair(&fed.institutions[0][0], 1, 4, t0, 10, 4).await;
    fed.start_all().await.unwrap();
    let (city, district, inst) = (&fed.city, &fed.districts[0], &fed.institutions[0][0]);
    let want = known(4, 6);
    // Time in service: 6 hours faulty of 4 × 30 days; the repair took 6 hours.
    let rate = 100.0 * (1.0 - 6.0 / (4.0 * 30.0 * 24.0));
    assert!((want.service_rate().unwrap() - rate).abs() < 1e-9);
    assert_eq!(want.mean_repair_hours(), Some(6.0));

    // The hospital, from its own ledger.
    let v = view(&inst.store, None).await.unwrap();
    assert_eq!(v.units[0].operations, want);
    assert!(v.tree.is_none(), "a hospital keeps no tree");
    // The district: its hospital's row and its totals.
    let t = wait_tree(
        district,
        "the district's operations count the hospital's repair",
        |t| t.totals == want,
    )
    .await;
    assert_eq!(row(&t, inst), (want, false));
    assert_eq!(t.window_days, WINDOW_DAYS as u64);
    // The city, which holds no camera ledger: the district's row is its whole tree.
    let t = wait_tree(
        city,
        "the city's operations count the district's tree",
        |t| t.totals == want,
    )
    .await;
    assert_eq!(row(&t, district), (want, false));
    let end = DateTime::parse_from_rfc3339(&t.as_of).unwrap();
    // (to the second, as written)
    assert!(
        end >= t0 - Duration::seconds(1) && end <= Utc::now(),
        "the window ends when computed: {}",
        t.as_of
    );
    // On the city's page: a row per district with the same figures.
    let page = Pages::editor(city).await;
    let (st, body) = page.get("/operations").await;
    assert_eq!(st, 200);
    let shown = format!("{rate:.2}%");
    assert!(
        body.contains("各下级单位（含其下级）") && body.contains(&shown),
        "{body}"
    );
    assert!(
        body.contains(district.code.as_str()) && body.contains("6.0"),
        "{body}"
    );
    // In `stats --json` (additions to the contract) and the dashboard's figures table.
    let st = yinglian_node::app::figures::subtree_stats(&city.store, None)
        .await
        .unwrap();
    assert_eq!(st.service_rate_30d, want.service_rate());
    assert_eq!(st.mean_repair_hours_30d, Some(6.0));
    assert_eq!(st.children[0].service_rate_30d, want.service_rate());
    let json = serde_json::to_value(&st).unwrap();
    assert_eq!(json["mean_repair_hours_30d"], 6.0);
    let (_, home) = page.get("/").await;
    assert!(
        home.contains("时间完好率%（近30天）") && home.contains(&format!("{rate:.2}")),
        "{home}"
    );

    // Live: a new fault at the hospital reaches the city.
    let second = DeviceCode::parse("50010312091320000002").unwrap();
    cameras::edit(
        &inst.store,
        "clerk",
        &second,
        &[(Field::State, Some(Value::Text("faulty".into())))],
    )
    .await
    .unwrap();
    for (hub, what) in [
        (district, "the district sees the new fault"),
        (city, "the city sees the new fault"),
    ] {
        let t = wait_tree(hub, what, |t| {
            t.totals.faults == 2 && t.totals.open_faults == 1
        })
        .await;
        assert_eq!((t.totals.repairs, t.totals.repair_seconds), (1, 6 * HOUR));
        assert!(t.totals.service_rate().unwrap() <= rate, "{:?}", t.totals);
    }

    // A compromised district writes figures no ledger can give (more cameras than its own
    // figures count): the city does not believe them, counts nothing of them, and records why
    // once the doubt has lasted its grace (30 s: the task checks again then by itself).
    let mut lie = yinglian_node::docs::operations::Part {
        as_of: Utc::now().to_rfc3339(),
        window_days: WINDOW_DAYS as u64,
        ..Default::default()
    };
    lie.totals = Operations {
        cameras: 10_000,
        camera_seconds: 10_000 * WINDOW,
        ..Default::default()
    };
    yinglian_node::app::rollup::edit_own(&district.store, "attacker", "lie", |d| {
        Ok(yinglian_node::docs::operations::write_part(d, &lie)
            .map_err(ledger::LedgerError::from)?)
    })
    .await
    .unwrap();
    let (peer, reason) = yinglian_tests::hostile::wait_refusal(city, "10000 cameras").await;
    assert_eq!(peer, "urn:yinglian:hub:500103");
    assert!(reason.contains("operations figures of 500103"), "{reason}");
    let t = wait_tree(city, "the city refuses the district's row", |t| {
        t.children.iter().any(|r| r.row.refused)
    })
    .await;
    assert_eq!(row(&t, district), (Operations::default(), true));
    assert_eq!(t.totals, Operations::default());
    let (_, body) = page.get("/operations").await;
    assert!(body.contains("数据不可信，未计入"), "{body}");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hospital_hubs_sub_units_are_counted_at_the_hospital_the_district_and_the_city() {
    yinglian_node::federation::pki::install_crypto();
    let tmp = tempfile::tempdir().unwrap();
    let mut city = unit(
        &tmp,
        "500000",
        "重庆市卫生健康委员会",
        UnitKind::City,
        Role::Hub,
    )
    .await;
    city.init_root().await.unwrap();
    let mut district = unit(
        &tmp,
        "500103",
        "渝中区卫生健康委员会",
        UnitKind::District,
        Role::Hub,
    )
    .await;
    city.enroll(&district).await.unwrap();
    let mut hospital = unit(
        &tmp,
        "500103-0001",
        "重庆市渝中区人民医院",
        UnitKind::Institution,
        Role::Hub,
    )
    .await;
    district.enroll(&hospital).await.unwrap();
    let mut sub = unit(
        &tmp,
        "500103-0001-01",
        "重庆市渝中区人民医院大坪院区",
        UnitKind::SubUnit,
        Role::Node,
    )
    .await;
    hospital.enroll(&sub).await.unwrap();
    let t0 = Utc::now();
    // The sub-unit: 3 cameras, a fault of 5 hours repaired; the hospital's own: 2 cameras, a
    // fault of 2 hours repaired.
    ledger_with_a_repair(&sub, 1, 3, t0, 30, 25).await;
    ledger_with_a_repair(&hospital, 101, 2, t0, 8, 6).await;
    for u in [&mut city, &mut district, &mut hospital, &mut sub] {
        u.start().await.unwrap();
    }
    let of_sub = known(3, 5);
    let mut whole = known(2, 2);
    whole.add(&of_sub);
    assert_eq!(whole.mean_repair_hours(), Some(3.5));
    // The hospital hub: the sub-unit's row from its ledger, the totals with its own.
    let t = wait_tree(&hospital, "the hospital counts its sub-unit", |t| {
        t.totals == whole
    })
    .await;
    assert_eq!(row(&t, &sub), (of_sub, false));
    // The district: the hospital's row is its whole tree, the sub-unit's records never there.
    let t = wait_tree(&district, "the district counts the hospital's tree", |t| {
        t.totals == whole
    })
    .await;
    assert_eq!(row(&t, &hospital), (whole, false));
    assert!(district.heads(&DocId::ledger(&sub.code)).await.is_empty());
    // The city: the district's row.
    let t = wait_tree(&city, "the city counts the district's tree", |t| {
        t.totals == whole
    })
    .await;
    assert_eq!(row(&t, &district), (whole, false));
    for u in [&mut sub, &mut hospital, &mut district, &mut city] {
        u.stop().await;
    }
}
