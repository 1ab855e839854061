//! The police catalogue (issue 16 part 5) in a real federation: the city's police, enrolled and
//! granted the catalogue at the city, read district 500103's catalogue at the district hub (the
//! camera records never reach the city), resume from their cursor after an edit and see only the
//! change, export it in the police platform's columns; the institution whose cameras were read
//! sees who read them, offline, in `reads/<unit>` and on its page 谁查看了本单位的点位.

use std::collections::BTreeSet;

use yinglian_hub::local::wait_until;
use yinglian_node::app::catalogue::table;
use yinglian_node::docs::document::DocId;
use yinglian_node::domain::camera::{Field, Value};
use yinglian_node::domain::catalogue::{COLUMNS, Entry};
use yinglian_node::domain::unit::UnitCode;
use yinglian_node::federation::catalogue::fetch;
use yinglian_node::federation::membership::grant_catalogue;
use yinglian_tests::{PATIENCE, converge, federation, police};

/// The city's police (`GA-500000`, the whole city in scope, account "jingguan"), enrolled at the
/// city and granted the catalogue: its folder and its store.
async fn city_police_with_the_catalogue(
    fed: &yinglian_tests::Fed,
) -> (
    tempfile::TempDir,
    std::sync::Arc<yinglian_node::store::Store>,
) {
    let police = police::subscriber(
        fed,
        &fed.city,
        "GA-500000",
        &fed.city.code,
        ("jingguan", "change me now"),
    )
    .await;
    grant_catalogue(&fed.city.store, &UnitCode::parse("GA-500000").unwrap())
        .await
        .unwrap();
    police
}

/// Waits until the police can read `district`'s catalogue (its address has reached the city).
async fn readable(ga: &yinglian_node::store::Store, dir: &std::path::Path, district: &UnitCode) {
    wait_until(
        PATIENCE,
        "the district's address reaches the city",
        || async { fetch(ga, dir, district, Some("500103:0")).await.is_ok() },
    )
    .await
    .unwrap();
}

/// How many cameras of `inst` are in the catalogue: those not reported removed (撤除).
async fn present(inst: &yinglian_hub::local::LocalUnit) -> u64 {
    let (rows, _) = inst
        .store
        .cameras(inst.code.as_str(), &Default::default())
        .await
        .unwrap();
    rows.iter().filter(|r| r.camera.is_built()).count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_city_police_read_a_district_catalogue_at_its_hub_and_resume_after_an_edit() {
    let mut fed = federation(2, 2).await.unwrap();
    for (d, inst) in fed.institutions.iter().enumerate() {
        inst[0]
            .generate_cameras(yinglian_tests::DISTRICTS[d], 12, 7 + d as u64)
            .await
            .unwrap();
    }
    fed.institutions[0][1]
        .generate_cameras("500103", 5, 3)
        .await
        .unwrap();
    let (ga_dir, ga) = city_police_with_the_catalogue(&fed).await;
    fed.start_all().await.unwrap();
    let (city, district) = (&fed.city, &fed.districts[0]);
    let (a, b) = (&fed.institutions[0][0], &fed.institutions[0][1]);
    // The grant reaches the district in the city's profile; the district's address the city.
    converge(city, &[district], &DocId::profile(&city.code))
        .await
        .unwrap();
    for inst in [a, b] {
        converge(inst, &[district], &DocId::ledger(&inst.code))
            .await
            .unwrap();
    }
    let want: BTreeSet<String> = {
        let mut all = BTreeSet::new();
        for inst in [a, b] {
            let (rows, _) = inst
                .store
                .cameras(inst.code.as_str(), &Default::default())
                .await
                .unwrap();
            all.extend(rows.into_iter().map(|r| r.camera.device_code.to_string()));
        }
        all
    };

    let district_code = district.code.clone();
    // Once the district's address has reached the city (the police find the hub there).
    wait_until(PATIENCE, "the police read 500103's catalogue", || async {
        fetch(&ga, ga_dir.path(), &district_code, None)
            .await
            .is_ok()
    })
    .await
    .unwrap();
    let (hub, full) = fetch(&ga, ga_dir.path(), &district_code, None)
        .await
        .unwrap();
    // Read at the district hub, the whole catalogue of its institutions, and no other's.
    assert_eq!(hub, district.code);
    assert!(full.full);
    let got: BTreeSet<String> = full.rows.iter().map(|r| r.1.clone()).collect();
    assert_eq!(got, want);
    let entries: Vec<Entry> = full.rows.iter().filter_map(|r| r.2.clone()).collect();
    assert!(
        entries
            .iter()
            .all(|e| e.unit == a.code.as_str() || e.unit == b.code.as_str())
    );
    // Each entry is the institution's camera, field for field.
    let some = &entries[0];
    let held = fed
        .institutions
        .iter()
        .flatten()
        .find(|i| i.code.as_str() == some.unit)
        .unwrap()
        .store
        .camera(&some.unit, &some.device_code)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(some.name, held.camera.name());
    assert_eq!(
        Some(some.address.as_str()),
        held.camera.text(Field::Address).or(Some(""))
    );
    assert_eq!(some.longitude.zip(some.latitude), held.camera.coordinates());
    assert_eq!(some.networked, held.camera.is_networked());
    // The city holds no camera record of the district's institutions.
    for inst in [a, b] {
        assert!(
            city.heads(&DocId::ledger(&inst.code)).await.is_empty(),
            "the city holds ledger/{}",
            inst.code
        );
    }

    // The export: the police platform's columns, a row per camera in device code order.
    let rows = table(&entries);
    assert_eq!(rows[0], COLUMNS.map(String::from).to_vec());
    assert_eq!(rows.len(), 1 + entries.len());
    let codes: Vec<&String> = rows[1..].iter().map(|r| &r[0]).collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(codes, sorted);
    let row = rows.iter().find(|r| r[0] == some.device_code).unwrap();
    assert_eq!(row[1], some.name);
    assert_eq!(row[6], if some.networked { "是" } else { "否" });
    assert_eq!(row[7], some.unit);
    let csv = yinglian_node::app::catalogue::export(&entries, false).unwrap();
    let text = String::from_utf8(csv).unwrap();
    assert!(
        text.trim_start_matches('\u{feff}').starts_with(
            "设备编码,设备名称,安装地址,经度,纬度,点位类别,是否联网,管理单位编码,管理单位名称"
        ),
        "{text}"
    );
    let xlsx = yinglian_node::app::catalogue::export(&entries, true).unwrap();
    assert!(xlsx.starts_with(b"PK"));

    // An edit at the institution: the police resume from their cursor and see only that change.
    let code = yinglian_node::domain::device_code::DeviceCode::parse(&some.device_code).unwrap();
    let owner_at = if some.unit == a.code.as_str() { 0 } else { 1 };
    let owner = [a, b][owner_at];
    yinglian_node::app::cameras::edit(
        &owner.store,
        "test",
        &code,
        &[(Field::Name, Some(Value::Text("东门岗亭（改）".into())))],
    )
    .await
    .unwrap();
    converge(owner, &[district], &DocId::ledger(&owner.code))
        .await
        .unwrap();
    let (_, next) = fetch(&ga, ga_dir.path(), &district_code, Some(&full.cursor))
        .await
        .unwrap();
    assert!(!next.full);
    assert_eq!(next.rows.len(), 1, "{:?}", next.rows);
    let changed = next.rows[0].2.clone().unwrap();
    assert_eq!(changed.device_code, some.device_code);
    assert_eq!(changed.name, "东门岗亭（改）");
    // Nothing since: nothing sent. A cursor this hub did not give: the full catalogue again.
    let (_, none) = fetch(&ga, ga_dir.path(), &district_code, Some(&next.cursor))
        .await
        .unwrap();
    assert!(none.rows.is_empty() && !none.full);
    let (_, again) = fetch(&ga, ga_dir.path(), &district_code, Some("500104:1"))
        .await
        .unwrap();
    assert!(again.full);
    assert_eq!(again.rows.len(), entries.len());

    // The institution reports another camera removed (撤除): the police resuming are told it
    // is gone, and a full read and the export no longer list it.
    let gone_one = entries
        .iter()
        .find(|e| e.unit == owner.code.as_str() && e.device_code != some.device_code)
        .expect("a second camera at the institution");
    let gone_code =
        yinglian_node::domain::device_code::DeviceCode::parse(&gone_one.device_code).unwrap();
    yinglian_node::app::cameras::remove(&owner.store, "test", &gone_code, "拆除", false)
        .await
        .unwrap();
    converge(owner, &[district], &DocId::ledger(&owner.code))
        .await
        .unwrap();
    let (_, gone) = fetch(&ga, ga_dir.path(), &district_code, Some(&next.cursor))
        .await
        .unwrap();
    assert!(!gone.full);
    assert_eq!(gone.rows.len(), 1, "{:?}", gone.rows);
    assert_eq!(gone.rows[0].1, gone_one.device_code, "{:?}", gone.rows);
    assert!(gone.rows[0].2.is_none(), "told removed: {:?}", gone.rows);
    let (_, now_full) = fetch(&ga, ga_dir.path(), &district_code, None)
        .await
        .unwrap();
    assert_eq!(now_full.rows.len(), entries.len() - 1);
    assert!(now_full.rows.iter().all(|r| {
        r.2.as_ref()
            .is_some_and(|e| e.device_code != gone_one.device_code)
    }));

    // The institution sees who read its cameras, offline, from the document the district wrote.
    let reads = DocId::reads(&owner.code);
    converge(district, &[owner], &reads).await.unwrap();
    let seen = yinglian_node::app::catalogue::reads_seen(&owner.store)
        .await
        .unwrap();
    let n = entries
        .iter()
        .filter(|e| e.unit == owner.code.as_str())
        .count() as u64;
    assert!(
        seen.iter().any(|(u, r)| u == owner.code.as_str()
            && r.reader == "urn:yinglian:subscriber:GA-500000"
            && r.call == "Catalogue.Read"
            && r.hub == "500103"
            && r.full
            && r.cameras == n),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(_, r)| !r.full && r.cameras == 1 && r.reader.ends_with("GA-500000")),
        "{seen:?}"
    );
    // Not to the sibling district, nor up to the city.
    assert!(fed.institutions[1][0].heads(&reads).await.is_empty());
    assert!(city.heads(&reads).await.is_empty());

    // A camera list the city asks of the district is recorded too.
    let q = yinglian_node::store::CameraQuery {
        limit: Some(3),
        ..Default::default()
    };
    wait_until(
        PATIENCE,
        "the city's camera list through 500103",
        || async {
            yinglian_node::federation::reports::forward_cameras(&city.store, &city.dir, &a.code, &q)
                .await
                .is_ok()
        },
    )
    .await
    .unwrap();
    converge(district, &[a], &DocId::reads(&a.code))
        .await
        .unwrap();
    let seen = yinglian_node::app::catalogue::reads_seen(&a.store)
        .await
        .unwrap();
    assert!(
        seen.iter()
            .any(|(_, r)| r.reader == "urn:yinglian:hub:500000"
                && r.call == "Reports.Cameras"
                && r.cameras == 3),
        "{seen:?}"
    );

    // The pages. The institution's 谁查看了本单位的点位 lists the police's read, in Chinese.
    let owner_code = owner.code.to_string();
    let inst = &mut fed.institutions[0][owner_at];
    yinglian_node::app::accounts::add_user(
        &inst.store,
        "baowei",
        yinglian_node::app::accounts::Role::ReadOnly,
        "change me now",
    )
    .await
    .unwrap();
    let at = inst.serve_web(None).await.unwrap();
    let cookie = police::session(&inst.store, "baowei", "change me now").await;
    let (status, html) = police::get(at, "/reads", &cookie).await;
    assert!(status.contains("200"), "{status}");
    assert!(html.contains("谁查看了本单位的点位"), "{html}");
    assert_eq!(
        yinglian_tests::chinese::objections_on(&html),
        Vec::<String>::new()
    );
    // The full read is one of the unit's rows (a later changes-only read may be listed above it).
    let cameras = format!("<td class=\"cameras\">{n}</td>");
    assert!(
        html.split(&format!("data-unit=\"{owner_code}\""))
            .skip(1)
            .map(|row| row.split("</tr>").next().unwrap_or_default())
            .any(|row| row.contains("订阅方（公安）GA-500000")
                && row.contains("点位目录（全量）")
                && row.contains(&cameras)),
        "{html}"
    );
    // The police page downloads the district's catalogue in the platform's columns.
    let sub = police::start(ga.clone(), "", |_| {}).await;
    let web = sub.web.as_ref().unwrap().addr;
    let cookie = police::session(&ga, "jingguan", "change me now").await;
    let (status, csv) =
        police::get(web, "/catalogue/download?unit=500103&format=csv", &cookie).await;
    assert!(status.contains("200"), "{status}: {csv}");
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines[0], COLUMNS.join(","));
    assert_eq!(lines.len(), 1 + now_full.rows.len());
    assert!(!csv.contains(&gone_one.device_code), "{csv}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{},东门岗亭（改）,", some.device_code))),
        "{csv}"
    );
    // A unit code that is not one: a specific Chinese reason, and no file.
    let (_, refused) = police::get(web, "/catalogue/download?unit=不是编码", &cookie).await;
    assert!(refused.contains("不是单位编码"), "{refused}");
    let (_, form) = police::get(web, "/catalogue", &cookie).await;
    assert!(
        form.contains("管理单位名称") && form.contains("例如 500103"),
        "{form}"
    );
    assert_eq!(
        yinglian_tests::chinese::objections_on(&form),
        Vec::<String>::new()
    );
    sub.stop().await.unwrap();
    fed.stop_all().await;
}

/// A district of ten institutions with 200 cameras each: the full catalogue and the resume after
/// one edit, timed (printed: `cargo test --test catalogue -- --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_of_two_thousand_cameras_resumes_with_one_row() {
    let mut fed = federation(1, 10).await.unwrap();
    for (i, inst) in fed.institutions[0].iter().enumerate() {
        inst.generate_cameras("500103", 200, 100 + i as u64)
            .await
            .unwrap();
    }
    let (ga_dir, ga) = city_police_with_the_catalogue(&fed).await;
    fed.start_all().await.unwrap();
    let (city, district) = (&fed.city, &fed.districts[0]);
    converge(city, &[district], &DocId::profile(&city.code))
        .await
        .unwrap();
    for inst in &fed.institutions[0] {
        converge(inst, &[district], &DocId::ledger(&inst.code))
            .await
            .unwrap();
    }
    let d = district.code.clone();
    readable(&ga, ga_dir.path(), &d).await;
    let t = std::time::Instant::now();
    let (_, full) = fetch(&ga, ga_dir.path(), &d, None).await.unwrap();
    let full_ms = t.elapsed().as_millis();
    let mut n = 0;
    for inst in &fed.institutions[0] {
        n += present(inst).await;
    }
    assert!(n > 1800, "the generated ledgers: {n} of 2000 not removed");
    assert_eq!(full.rows.len() as u64, n);
    let inst = &fed.institutions[0][4];
    let (rows, _) = inst
        .store
        .cameras(inst.code.as_str(), &Default::default())
        .await
        .unwrap();
    yinglian_node::app::cameras::edit(
        &inst.store,
        "test",
        &rows[7].camera.device_code,
        &[(
            Field::Networked,
            Some(Value::Bool(!rows[7].camera.is_networked())),
        )],
    )
    .await
    .unwrap();
    converge(inst, &[district], &DocId::ledger(&inst.code))
        .await
        .unwrap();
    let t = std::time::Instant::now();
    let (_, next) = fetch(&ga, ga_dir.path(), &d, Some(&full.cursor))
        .await
        .unwrap();
    let next_ms = t.elapsed().as_millis();
    assert_eq!(next.rows.len(), 1);
    assert_eq!(
        next.rows[0].2.as_ref().unwrap().networked,
        !rows[7].camera.is_networked()
    );
    let t = std::time::Instant::now();
    let bytes = yinglian_node::app::catalogue::export(
        &full
            .rows
            .iter()
            .filter_map(|r| r.2.clone())
            .collect::<Vec<_>>(),
        true,
    )
    .unwrap();
    let xlsx_ms = t.elapsed().as_millis();
    eprintln!(
        "catalogue of 2000 cameras in 10 institutions: full read {full_ms} ms, resume after one edit {next_ms} ms (1 row), xlsx {xlsx_ms} ms ({} bytes)",
        bytes.len()
    );
    fed.stop_all().await;
}

/// `yl-hub catalogue` from the police's folder and `yl-hub reads` at the institution, as
/// processes beside the running federation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_read_export_resume_and_list_the_reads() {
    const HUB: &str = env!("CARGO_BIN_EXE_yl-test-hub");
    let mut fed = federation(1, 1).await.unwrap();
    fed.institutions[0][0]
        .generate_cameras("500103", 8, 21)
        .await
        .unwrap();
    let (ga_dir, ga) = city_police_with_the_catalogue(&fed).await;
    fed.start_all().await.unwrap();
    let (city, district, inst) = (&fed.city, &fed.districts[0], &fed.institutions[0][0]);
    converge(city, &[district], &DocId::profile(&city.code))
        .await
        .unwrap();
    converge(inst, &[district], &DocId::ledger(&inst.code))
        .await
        .unwrap();
    let d = district.code.clone();
    readable(&ga, ga_dir.path(), &d).await;
    let run = |args: &[&str]| {
        let out = std::process::Command::new(HUB)
            .arg("--data")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let ga_path = ga_dir.path().to_str().unwrap().to_string();
    let file = ga_dir.path().join("点位目录.csv");
    let end = run(&[
        &ga_path,
        "catalogue",
        "--unit",
        "500103",
        "--out",
        file.to_str().unwrap(),
    ]);
    let end: serde_json::Value = serde_json::from_str(end.trim()).unwrap();
    let n = present(inst).await;
    assert_eq!(end["cameras"], n);
    assert_eq!(end["full"], true);
    assert_eq!(end["hub"], "500103");
    let rows = yinglian_tests::journey::read_csv(&file);
    assert_eq!(rows[0], COLUMNS.map(String::from).to_vec());
    assert_eq!(rows.len() as u64, 1 + n);
    assert!(rows[1..].iter().all(|r| r[7] == inst.code.as_str()));
    // Resumed from the cursor it printed: nothing changed, nothing sent.
    let cursor = end["cursor"].as_str().unwrap().to_string();
    let again = run(&[
        &ga_path,
        "catalogue",
        "--unit",
        "500103",
        "--since",
        &cursor,
    ]);
    let last: serde_json::Value =
        serde_json::from_str(again.trim().lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["cameras"].clone(), last["full"].clone()),
        (0.into(), false.into())
    );
    // The institution lists the read, offline from what the district sent.
    converge(district, &[inst], &DocId::reads(&inst.code))
        .await
        .unwrap();
    let inst_path = inst.dir.to_str().unwrap().to_string();
    let listed = run(&[&inst_path, "reads", "--json"]);
    assert!(
        listed.lines().any(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["read"]["reader"] == "urn:yinglian:subscriber:GA-500000"
                && v["read"]["cameras"] == n
                && v["read"]["full"] == true
        }),
        "{listed}"
    );
    fed.stop_all().await;
}
