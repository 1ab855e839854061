//! Operations (安全运维) across a real federation: an institution files a new camera (建设备案),
//! reports a fault and its repair (故障 → 恢复) and a removal (撤除报告); its district sees the
//! time in service, the repair and what waits for it, acknowledges on its page, and the
//! acknowledgement reaches the institution, in the camera's record and its audit. The refusals.

use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::app::cameras::{self, CameraError};
use yinglian_node::app::operations::{acknowledge, view};
use yinglian_node::docs::document::DocId;
use yinglian_node::domain::camera::{Field, State, Value};
use yinglian_node::domain::device_code::DeviceCode;
use yinglian_node::domain::operations::Acknowledge;
use yinglian_tests::pages::Pages;
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
    let (st, _) = page
        .post(
            "/operations/acknowledge",
            &[
                ("unit", inst.code.as_str()),
                ("code", new.as_str()),
                ("what", "filing"),
            ],
        )
        .await;
    assert_eq!(st, 303);
    let (st, body) = page
        .post(
            "/operations/acknowledge",
            &[
                ("unit", inst.code.as_str()),
                ("code", new.as_str()),
                ("what", "filing"),
            ],
        )
        .await;
    assert_eq!(st, 422, "twice is refused");
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
