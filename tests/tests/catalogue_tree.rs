//! The police catalogue across a hospital hub's sub-units (issue 16 parts 5 and 6): district
//! 500103 holds the ledgers of its hospital 500103-0001 and of the hospital hub 500103-0099, but
//! not those of the hub's sub-units 500103-0099-01 and -02, which only the hospital hub holds. The
//! district's police and the city's police, reading the district's catalogue at the district hub,
//! get the sub-units' cameras too (the district asks the hospital hub for them on the reader's
//! behalf), under one cursor that resumes across both hubs, and in the export; the district's
//! store never holds a sub-unit's camera record. Each read of a sub-unit's cameras is recorded by
//! the hospital hub in `reads/<sub-unit>`, which reaches the sub-unit: its page
//! 谁查看了本单位的点位 and `yl-node reads` show who read, through which hub, when and how many.
//! And a compromised district cannot delete a read it recorded from its hospital's list.

use std::collections::BTreeMap;

use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::app::catalogue::{Answer, reads_seen, table};
use yinglian_node::docs::document::DocId;
use yinglian_node::domain::camera::{Field, Value};
use yinglian_node::domain::catalogue::{COLUMNS, Entry, cursor_parts};
use yinglian_node::domain::unit::{Role, UnitCode, UnitKind};
use yinglian_node::federation::catalogue::fetch;
use yinglian_node::federation::membership::grant_catalogue;
use yinglian_node::store::Store;
use yinglian_tests::hostile::wait_refusal;
use yinglian_tests::{Fed, PATIENCE, converge, federation, police};

const NODE: &str = env!("CARGO_BIN_EXE_yl-test-node");

/// A police subscriber `code` of `scope`, enrolled at `hub` and granted the catalogue there.
async fn granted_police(
    fed: &Fed,
    hub: &LocalUnit,
    code: &str,
    scope: &UnitCode,
) -> (tempfile::TempDir, std::sync::Arc<Store>) {
    let p = police::subscriber(fed, hub, code, scope, ("jingguan", "change me now")).await;
    grant_catalogue(&hub.store, &UnitCode::parse(code).unwrap())
        .await
        .unwrap();
    p
}

/// Federation 500000 → 500103 → {500103-0001 (a hospital), 500103-0099 (a hospital hub) →
/// {500103-0099-01, 500103-0099-02}}, with 4, 5, 7 and 3 cameras (hospital, hub, sub-units);
/// not started. `fed.others` = [hub, sub-unit 01, sub-unit 02].
async fn tree() -> Fed {
    let mut fed = federation(1, 1).await.unwrap();
    let dir = fed.tmp.path().to_path_buf();
    let hub = LocalUnit::create(
        &dir.join("500103-0099"),
        "500103-0099",
        "渝中区妇幼保健院",
        UnitKind::Institution,
        Role::Hub,
    )
    .await
    .unwrap();
    fed.districts[0].enroll(&hub).await.unwrap();
    let mut subs = Vec::new();
    for (code, name) in [
        ("500103-0099-01", "渝中区妇幼保健院城南分院"),
        ("500103-0099-02", "渝中区妇幼保健院社区服务站"),
    ] {
        let s = LocalUnit::create(&dir.join(code), code, name, UnitKind::SubUnit, Role::Node)
            .await
            .unwrap();
        hub.enroll(&s).await.unwrap();
        subs.push(s);
    }
    fed.institutions[0][0]
        .generate_cameras("500103", 4, 21)
        .await
        .unwrap();
    hub.generate_cameras("500103", 5, 22).await.unwrap();
    subs[0].generate_cameras("500103", 7, 23).await.unwrap();
    subs[1].generate_cameras("500103", 3, 24).await.unwrap();
    fed.others.push(hub);
    fed.others.extend(subs);
    fed
}

/// The cameras per unit of an answer.
fn per_unit(a: &Answer) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (u, _, e) in &a.rows {
        if e.is_some() {
            *m.entry(u.clone()).or_default() += 1;
        }
    }
    m
}

fn figures(list: &[(&str, usize)]) -> BTreeMap<String, usize> {
    list.iter().map(|(u, n)| (u.to_string(), *n)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_district_and_city_police_read_the_sub_units_through_the_hospital_hub() {
    let mut fed = tree().await;
    let district_code = fed.districts[0].code.clone();
    let city_code = fed.city.code.clone();
    let (ga_dir, ga) = granted_police(&fed, &fed.city, "GA-500000", &city_code).await;
    let (qa_dir, qa) = granted_police(&fed, &fed.districts[0], "500103-GA", &district_code).await;
    fed.start_all().await.unwrap();
    let (city, district) = (&fed.city, &fed.districts[0]);
    let (inst, hub) = (&fed.institutions[0][0], &fed.others[0]);
    let (s1, s2) = (&fed.others[1], &fed.others[2]);
    converge(city, &[district], &DocId::profile(&city.code))
        .await
        .unwrap();
    for u in [inst, hub] {
        converge(u, &[district], &DocId::ledger(&u.code))
            .await
            .unwrap();
    }
    for s in [s1, s2] {
        converge(s, &[hub], &DocId::ledger(&s.code)).await.unwrap();
    }
    let want = figures(&[
        ("500103-0001", 4),
        ("500103-0099", 5),
        ("500103-0099-01", 7),
        ("500103-0099-02", 3),
    ]);

    // The district's police at the district hub: every camera of the district, the sub-units'
    // included (once the district's grants have reached the hospital hub in its profile).
    wait_until(
        PATIENCE,
        "the district's police read all 19 cameras",
        || async {
            fetch(&qa, qa_dir.path(), &district_code, None)
                .await
                .is_ok_and(|(_, a)| per_unit(&a) == want)
        },
    )
    .await
    .unwrap();
    let (_, full) = fetch(&qa, qa_dir.path(), &district_code, None)
        .await
        .unwrap();
    assert_eq!(per_unit(&full), want);
    assert!(full.full);
    assert_eq!(full.rows.len(), 19);
    // One cursor, a part per hub that answered.
    let parts = cursor_parts(&full.cursor);
    let hubs: Vec<&str> = parts.iter().map(|c| c.hub.as_str()).collect();
    assert_eq!(hubs, ["500103", "500103-0099"], "{}", full.cursor);
    // Each sub-unit's entry is the sub-unit's camera, field for field.
    let entries: Vec<Entry> = full.rows.iter().filter_map(|r| r.2.clone()).collect();
    let e = entries.iter().find(|e| e.unit == s1.code.as_str()).unwrap();
    let held = s1
        .store
        .camera(s1.code.as_str(), &e.device_code)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.name, held.camera.name());
    assert_eq!(e.unit_name, "渝中区妇幼保健院城南分院");
    assert_eq!(e.longitude.zip(e.latitude), held.camera.coordinates());

    // The city's police, granted at the city, at the same district hub: the same 19.
    wait_until(
        PATIENCE,
        "the city's police read all 19 cameras",
        || async {
            fetch(&ga, ga_dir.path(), &district_code, None)
                .await
                .is_ok_and(|(_, a)| per_unit(&a) == want)
        },
    )
    .await
    .unwrap();
    let (at, city_full) = fetch(&ga, ga_dir.path(), &district_code, None)
        .await
        .unwrap();
    assert_eq!(per_unit(&city_full), want);
    assert_eq!(at, district_code);
    assert_eq!(city_full.rows.len(), 19);
    // Asked for the hospital hub's subtree only: its 5 and its sub-units' 10.
    let (_, sub_tree) = fetch(&ga, ga_dir.path(), &hub.code, None).await.unwrap();
    assert_eq!(
        per_unit(&sub_tree),
        figures(&[
            ("500103-0099", 5),
            ("500103-0099-01", 7),
            ("500103-0099-02", 3)
        ])
    );

    // The export holds them: 1 + 19 rows, the sub-units' under their own codes.
    let rows = table(&entries);
    assert_eq!(rows[0], COLUMNS.map(String::from).to_vec());
    assert_eq!(rows.len(), 1 + 19);
    assert_eq!(rows.iter().filter(|r| r[7] == "500103-0099-01").count(), 7);
    assert_eq!(rows.iter().filter(|r| r[7] == "500103-0099-02").count(), 3);
    let xlsx = yinglian_node::app::catalogue::export(&entries, true).unwrap();
    assert!(xlsx.starts_with(b"PK"));

    // The district stores no camera record of a sub-unit: no ledger, no catalogue row.
    for s in [s1, s2] {
        assert!(district.heads(&DocId::ledger(&s.code)).await.is_empty());
    }
    let at_district = district
        .store
        .catalogue_rows(district_code.as_str(), None)
        .await
        .unwrap();
    assert_eq!(at_district.len(), 4 + 5);
    assert!(
        at_district
            .iter()
            .all(|r| !r.unit.starts_with("500103-0099-")),
        "{at_district:?}"
    );

    // An edit at a sub-unit: the police resume from their cursor and get that row only.
    let code = yinglian_node::domain::device_code::DeviceCode::parse(&e.device_code).unwrap();
    yinglian_node::app::cameras::edit(
        &s1.store,
        "test",
        &code,
        &[(Field::Name, Some(Value::Text("分院东门（改）".into())))],
    )
    .await
    .unwrap();
    converge(s1, &[hub], &DocId::ledger(&s1.code))
        .await
        .unwrap();
    let (_, next) = fetch(&qa, qa_dir.path(), &district_code, Some(&full.cursor))
        .await
        .unwrap();
    assert!(!next.full);
    assert_eq!(next.rows.len(), 1, "{:?}", next.rows);
    let changed = next.rows[0].2.clone().unwrap();
    assert_eq!(
        (changed.unit.as_str(), changed.device_code.as_str()),
        ("500103-0099-01", e.device_code.as_str())
    );
    assert_eq!(changed.name, "分院东门（改）");
    // An edit at the district's own hospital too: both parts resume, one row each.
    let (inst_rows, _) = inst
        .store
        .cameras(inst.code.as_str(), &Default::default())
        .await
        .unwrap();
    let first = &inst_rows[0].camera;
    yinglian_node::app::cameras::edit(
        &inst.store,
        "test",
        &first.device_code,
        &[(Field::Networked, Some(Value::Bool(!first.is_networked())))],
    )
    .await
    .unwrap();
    converge(inst, &[district], &DocId::ledger(&inst.code))
        .await
        .unwrap();
    let (_, both) = fetch(&qa, qa_dir.path(), &district_code, Some(&next.cursor))
        .await
        .unwrap();
    assert!(!both.full);
    assert_eq!(
        per_unit(&both),
        figures(&[("500103-0001", 1)]),
        "{:?}",
        both.rows
    );
    // Nothing since: nothing sent.
    let (_, none) = fetch(&qa, qa_dir.path(), &district_code, Some(&both.cursor))
        .await
        .unwrap();
    assert!(none.rows.is_empty() && !none.full, "{:?}", none.rows);
    // A cursor with the district's part only (the hospital hub's part missing): every part in
    // full, so that the reader may replace what it holds.
    let district_part = cursor_parts(&both.cursor)[0].to_string();
    let (_, again) = fetch(&qa, qa_dir.path(), &district_code, Some(&district_part))
        .await
        .unwrap();
    assert!(again.full);
    assert_eq!(again.rows.len(), 19);

    // Who read the sub-unit's cameras, as the hospital hub recorded it, reaches the sub-unit.
    let reads = DocId::reads(&s1.code);
    wait_until(PATIENCE, "reads/500103-0099-01 reaches it", || async {
        let seen = reads_seen(&s1.store).await.unwrap_or_default();
        seen.iter().any(|(_, r)| r.reader.ends_with("GA-500000"))
            && seen.iter().any(|(_, r)| r.reader.ends_with("500103-GA"))
    })
    .await
    .unwrap();
    let seen = reads_seen(&s1.store).await.unwrap();
    assert!(seen.iter().all(|(u, _)| u == s1.code.as_str()), "{seen:?}");
    assert!(
        seen.iter()
            .any(|(_, r)| r.reader == "urn:yinglian:subscriber:GA-500000"
                && r.call == "Catalogue.Read"
                && r.hub == "500103-0099"
                && r.via == "500103"
                && r.full
                && r.cameras == 7),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(_, r)| r.reader == "urn:yinglian:subscriber:500103-GA"
                && !r.full
                && r.cameras == 1),
        "{seen:?}"
    );
    // The district neither holds nor wrote the sub-unit's reads; the sibling got none of them.
    assert!(district.heads(&reads).await.is_empty());
    assert!(s2.heads(&reads).await.is_empty());

    // The district asks the hospital hub for the sub-unit's camera list (Reports): recorded too.
    let q = yinglian_node::store::CameraQuery {
        limit: Some(3),
        ..Default::default()
    };
    let (total, list) = yinglian_node::federation::reports::forward_cameras(
        &district.store,
        &district.dir,
        &s1.code,
        &q,
    )
    .await
    .unwrap();
    assert_eq!((total, list.len()), (7, 3));
    let district_list = |seen: Vec<(String, yinglian_node::domain::catalogue::Read)>| {
        seen.into_iter()
            .map(|(_, r)| r)
            .find(|r| r.reader == "urn:yinglian:hub:500103" && r.call == "Reports.Cameras")
    };
    wait_until(
        PATIENCE,
        "the district's camera list reaches the sub-unit",
        || async { district_list(reads_seen(&s1.store).await.unwrap_or_default()).is_some() },
    )
    .await
    .unwrap();
    let listed = district_list(reads_seen(&s1.store).await.unwrap()).unwrap();
    assert_eq!((listed.cameras, listed.hub.as_str()), (3, "500103-0099"));

    // `yl-node reads` at the sub-unit, beside its running daemon.
    let out = std::process::Command::new(NODE)
        .arg("--data")
        .arg(&s1.dir)
        .args(["reads", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.iter().any(|v| v["unit"] == "500103-0099-01"
            && v["read"]["reader"] == "urn:yinglian:hub:500103"
            && v["read"]["cameras"] == 3),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(
            |v| v["read"]["reader"] == "urn:yinglian:subscriber:GA-500000"
                && v["read"]["via"] == "500103"
                && v["read"]["cameras"] == 7
        ),
        "{lines:?}"
    );

    // The sub-unit's page 谁查看了本单位的点位: the district's list and the city police's read
    // through the district, in Beijing time.
    let s1_code = s1.code.to_string();
    let sub = &mut fed.others[1];
    yinglian_node::app::accounts::add_user(
        &sub.store,
        "baowei",
        yinglian_node::app::accounts::Role::ReadOnly,
        "change me now",
    )
    .await
    .unwrap();
    let web = sub.serve_web(None).await.unwrap();
    let cookie = police::session(&sub.store, "baowei", "change me now").await;
    let (status, html) = police::get(web, "/reads", &cookie).await;
    assert!(status.contains("200"), "{status}");
    assert_eq!(
        yinglian_tests::chinese::objections_on(&html),
        Vec::<String>::new()
    );
    let rows: Vec<&str> = html
        .split(&format!("data-unit=\"{s1_code}\""))
        .skip(1)
        .map(|row| row.split("</tr>").next().unwrap_or_default())
        .collect();
    let stamp = yinglian_node::app::zh::beijing_stamp(&listed.at);
    assert!(
        rows.iter().any(|row| row.contains("上级枢纽 500103")
            && row.contains("上级调阅摄像机清单")
            && row.contains("<td class=\"cameras\">3</td>")
            && row.contains(&stamp)),
        "{stamp}: {html}"
    );
    assert!(
        rows.iter()
            .any(|row| row.contains("订阅方（公安）GA-500000")
                && row.contains("点位目录（全量）")
                && row.contains("<td class=\"cameras\">7</td>")
                && row.contains("500103-0099，经 500103 转来")),
        "{html}"
    );
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_child_refuses_a_reader_its_parent_did_not_publish_and_records_it() {
    let mut fed = tree().await;
    let district_code = fed.districts[0].code.clone();
    // A police enrolled at the district without the catalogue.
    let (_dir, _p) = police::subscriber(
        &fed,
        &fed.districts[0],
        "500103-GB",
        &district_code,
        ("b", "change me now"),
    )
    .await;
    fed.start_all().await.unwrap();
    let (district, hub) = (&fed.districts[0], &fed.others[0]);
    converge(district, &[hub], &DocId::profile(&district.code))
        .await
        .unwrap();
    // The district (compromised, or mistaken) asks the hospital hub on behalf of a reader it
    // never published as granted: refused at the hub, recorded with the district's identity.
    let reader = yinglian_proto::v1::CatalogueReader {
        unit: "500103-GB".into(),
        fingerprint: "00".repeat(32),
        scope: district_code.to_string(),
        granted_by: district_code.to_string(),
    };
    let err = wait_for_address(district, hub, reader).await;
    assert!(err.contains("has not published as granted"), "{err}");
    let (peer, reason) = wait_refusal(hub, "has not published as granted").await;
    assert_eq!(peer, "urn:yinglian:hub:500103");
    assert!(
        reason.contains("urn:yinglian:subscriber:500103-GB"),
        "{reason}"
    );
    // Nothing was read, so nothing recorded for the sub-units.
    for s in &fed.others[1..] {
        assert!(hub.heads(&DocId::reads(&s.code)).await.is_empty());
    }
    fed.stop_all().await;
}

/// Asks `hub` through `district`'s `Reports.Catalogue` for `reader`, once `hub` has published
/// its address: the refusal's text.
async fn wait_for_address(
    district: &LocalUnit,
    hub: &LocalUnit,
    reader: yinglian_proto::v1::CatalogueReader,
) -> String {
    let ask = || {
        yinglian_node::federation::reports::forward_catalogue(
            &district.store,
            &district.dir,
            &hub.code,
            &hub.code,
            None,
            reader.clone(),
        )
    };
    wait_until(
        PATIENCE,
        "the hospital hub answers its district",
        || async {
            ask()
                .await
                .err()
                .is_some_and(|e| !format!("{e:#}").contains("has not published its address"))
        },
    )
    .await
    .unwrap();
    match ask().await {
        Ok(a) => panic!("answered {} rows", a.rows.len()),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_cannot_delete_a_read_it_recorded_from_its_childs_list() {
    let mut fed = federation(1, 1).await.unwrap();
    fed.institutions[0][0]
        .generate_cameras("500103", 6, 31)
        .await
        .unwrap();
    let district_code = fed.districts[0].code.clone();
    let (qa_dir, qa) = granted_police(&fed, &fed.districts[0], "500103-GA", &district_code).await;
    fed.start_all().await.unwrap();
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    converge(inst, &[district], &DocId::ledger(&inst.code))
        .await
        .unwrap();
    let (_, full) = fetch(&qa, qa_dir.path(), &district_code, None)
        .await
        .unwrap();
    assert_eq!(full.rows.len(), 6);
    let reads = DocId::reads(&inst.code);
    converge(district, &[inst], &reads).await.unwrap();
    let before = reads_seen(&inst.store).await.unwrap();
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(
        (before[0].1.reader.as_str(), before[0].1.cameras),
        ("urn:yinglian:subscriber:500103-GA", 6)
    );

    // The district, compromised, deletes that read from its copy to hide it; the change syncs
    // down and the hospital refuses it, records why, and still shows the read.
    district
        .store
        .edit(&reads, "attacker", "hide a read", |doc| {
            use automerge::ReadDoc;
            use automerge::transaction::Transactable;
            let list = yinglian_node::docs::document::obj_at(
                doc,
                &automerge::ROOT,
                "by:500103",
                automerge::ObjType::List,
            )
            .expect("the district's list");
            assert_eq!(doc.length(&list), 1);
            doc.delete(&list, 0)
                .map_err(yinglian_node::docs::ledger::LedgerError::from)?;
            Ok(())
        })
        .await
        .unwrap();
    let (peer, reason) = wait_refusal(inst, "may not delete the reads it recorded").await;
    assert_eq!(peer, "urn:yinglian:hub:500103");
    assert!(reason.contains("reads/500103-0001"), "{reason}");
    let after = reads_seen(&inst.store).await.unwrap();
    assert_eq!(after, before);
    assert!(district.heads(&reads).await != inst.heads(&reads).await);
    fed.stop_all().await;
}

/// A compromised hospital hub's `Reports`: its catalogue answer names a camera of a unit outside
/// its subtree (of another district).
struct Overreaching;

#[tonic::async_trait]
impl yinglian_proto::v1::reports_server::Reports for Overreaching {
    type CatalogueStream = tokio_stream::wrappers::ReceiverStream<
        Result<yinglian_proto::v1::CatalogueEvent, tonic::Status>,
    >;

    async fn catalogue(
        &self,
        _: tonic::Request<yinglian_proto::v1::CatalogueRequest>,
    ) -> Result<tonic::Response<Self::CatalogueStream>, tonic::Status> {
        use yinglian_proto::v1::{CatalogueEntry, CatalogueEvent, catalogue_event::Kind};
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let entry = CatalogueEntry {
            unit: "500104-0001".into(),
            unit_name: "别区医院".into(),
            device_code: "50010412091320000101".into(),
            ..Default::default()
        };
        for ev in [
            CatalogueEvent {
                kind: Kind::Entry as i32,
                entry: Some(entry),
                ..Default::default()
            },
            CatalogueEvent {
                kind: Kind::End as i32,
                full: true,
                ..Default::default()
            },
        ] {
            tx.send(Ok(ev)).await.unwrap();
        }
        Ok(tonic::Response::new(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
    }

    async fn cameras(
        &self,
        _: tonic::Request<yinglian_proto::v1::CamerasRequest>,
    ) -> Result<tonic::Response<yinglian_proto::v1::CamerasReply>, tonic::Status> {
        Err(tonic::Status::unimplemented("not this"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_a_hub_child_answers_outside_its_subtree_are_not_believed() {
    let mut fed = tree().await;
    fed.start_all().await.unwrap();
    let hub_code = fed.others[0].code.clone();
    let hub_dir = fed.others[0].dir.clone();
    let addr: std::net::SocketAddr = fed.others[0].url()["https://".len()..].parse().unwrap();
    // The district knows where the hospital hub answers.
    let district = &fed.districts[0];
    wait_until(
        PATIENCE,
        "the hospital hub's address at its district",
        || async {
            district
                .store
                .read_document(&DocId::profile(&hub_code), |d| {
                    yinglian_node::docs::document::root_text(d, "endpoint")
                })
                .await
                .unwrap()
                .is_some()
        },
    )
    .await
    .unwrap();
    // The hospital hub's machine is taken: its daemon is replaced, on its address and with its
    // certificate, by one that answers with another district's camera.
    fed.others[0].stop().await;
    let district = &fed.districts[0];
    let tls = yinglian_node::federation::pki::TlsMaterial::load(&hub_dir).unwrap();
    let acceptor =
        tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls.server_config().unwrap()));
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let (conns, incoming) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        while let Ok((tcp, remote)) = listener.accept().await {
            if let Ok(tls) = acceptor.accept(tcp).await {
                let conn = yinglian_node::federation::net::TlsConn::accepted(tls, remote);
                if conns.send(Ok::<_, std::io::Error>(conn)).await.is_err() {
                    break;
                }
            }
        }
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(yinglian_proto::v1::reports_server::ReportsServer::new(
                Overreaching,
            ))
            .serve_with_incoming(tokio_stream::wrappers::ReceiverStream::new(incoming)),
    );
    let reader = yinglian_proto::v1::CatalogueReader {
        unit: "500103-GB".into(),
        fingerprint: "00".repeat(32),
        scope: district.code.to_string(),
        granted_by: district.code.to_string(),
    };
    let answer = yinglian_node::federation::reports::forward_catalogue(
        &district.store,
        &district.dir,
        &hub_code,
        &hub_code,
        None,
        reader,
    )
    .await;
    match answer {
        Ok(a) => panic!("believed {} rows: {:?}", a.rows.len(), a.rows),
        Err(e) => {
            let e = format!("{e:#}");
            assert!(e.contains("不在其下级范围内"), "{e}");
            assert!(e.contains("500104-0001"), "{e}");
        }
    }
    fed.stop_all().await;
}
