//! The hub as a real process: an edit made with the CLI while the daemon runs is synced, and a
//! hub killed with SIGKILL in the middle of a sync resumes without re-sending whole histories
//! and without losing an acknowledged edit. The units the tests start in-process run the same
//! daemon as `serve` (`Daemon::start`).

use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use yinglian_hub::local::wait_until;
use yinglian_node::docs::document::DocId;
use yinglian_node::docs::ledger;
use yinglian_node::domain::camera::{Field, Value};
use yinglian_tests::{PATIENCE, Process, federation};

const HUB: &str = env!("CARGO_BIN_EXE_yl-test-hub");

fn spawn_hub(dir: &std::path::Path, addr: std::net::SocketAddr) -> Process {
    Process(
        Command::new(HUB)
            .arg("--data")
            .arg(dir)
            .args(["serve", "--listen", &addr.to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start yl-hub"),
    )
}

fn cli(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(HUB)
        .arg("--data")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_killed_mid_sync_resumes_without_resending_history() {
    let t0 = std::time::Instant::now();
    let phase = |what: &str| eprintln!("{:>7.2?} {what}", t0.elapsed());
    let mut fed = federation(1, 1).await.unwrap();
    let district_dir = fed.districts[0].dir.clone();
    let addr = fed.districts[0].addr.unwrap();
    fed.districts[0].release_port();
    let ledger = DocId::ledger(&fed.institutions[0][0].code);
    fed.institutions[0][0]
        .generate_cameras(fed.districts[0].code.as_str(), 5000, 11)
        .await
        .unwrap();
    let whole = fed.institutions[0][0]
        .store
        .save_document(&ledger)
        .await
        .unwrap()
        .unwrap()
        .len() as u64;

    phase("5,000 cameras imported");
    // First sync with the hub running as its own process.
    let mut hub = spawn_hub(&district_dir, addr);
    fed.institutions[0][0].start().await.unwrap();
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    yinglian_tests::converge(inst, &[district], &ledger)
        .await
        .unwrap();

    phase("first sync");
    // The hub process keeps its rollup current by itself.
    let built = inst.store.counts(inst.code.as_str()).await.unwrap().0.built;
    wait_until(
        PATIENCE,
        "the hub's rollup counts the institution",
        || async {
            district
                .store
                .rollup_rows(district.code.as_str())
                .await
                .unwrap()
                .iter()
                .any(|r| r.unit == inst.code.as_str() && r.counts.built == built)
        },
    )
    .await
    .unwrap();
    // A supervision edit made with the CLI beside the running daemon reaches the institution.
    let code = {
        let (rows, _) = inst
            .store
            .cameras(inst.code.as_str(), &Default::default())
            .await
            .unwrap();
        rows[0].camera.device_code.to_string()
    };
    let out = cli(
        &district_dir,
        &[
            "camera",
            "supervise",
            "--unit",
            inst.code.as_str(),
            &code,
            "--networked-confirmed",
            "是",
        ],
    );
    assert!(out.contains("写入了 1 个督导字段"), "{out}");
    wait_until(
        Duration::from_secs(5),
        "the CLI's edit reaches the institution",
        || async {
            let row = inst
                .store
                .camera(inst.code.as_str(), &code)
                .await
                .unwrap()
                .unwrap();
            row.camera.get(Field::NetworkedConfirmed) == Some(&Value::Bool(true))
        },
    )
    .await
    .unwrap();

    // 1,000 edits made offline, one change each.
    fed.institutions[0][0].stop().await;
    let inst = &fed.institutions[0][0];
    let before_edits = inst.store.heads(&ledger).await.unwrap();
    let (rows, _) = inst
        .store
        .cameras(
            inst.code.as_str(),
            &yinglian_node::store::CameraQuery {
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for (i, r) in rows.iter().enumerate() {
        let code = r.camera.device_code.to_string();
        inst.store
            .edit(&ledger, "test", "edit", |d| {
                let v = Field::Name.parse_value(&format!("离线修改{i}"))?;
                Ok(ledger::set_fields(d, &code, &[(Field::Name, v)])?)
            })
            .await
            .unwrap();
    }
    phase("1,000 offline edits");
    // Reconnect, and kill the hub as soon as the institution has started sending.
    fed.institutions[0][0].start().await.unwrap();
    let inst = &fed.institutions[0][0];
    let stats = inst
        .engine
        .as_ref()
        .unwrap()
        .peer_stats(fed.districts[0].code.as_str());
    let frames = stats.frames_sent.load(Ordering::Relaxed);
    wait_until(PATIENCE, "the institution sends its changes", || async {
        stats.frames_sent.load(Ordering::Relaxed) >= frames + 2
    })
    .await
    .unwrap();
    hub.0.kill().unwrap(); // SIGKILL
    hub.0.wait().unwrap();
    let sent_at_kill = stats.sent();

    // Restarted, the hub resumes from the shared heads it persisted.
    let hub = spawn_hub(&district_dir, addr);
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    yinglian_tests::converge(inst, &[district], &ledger)
        .await
        .unwrap();
    phase("resumed after SIGKILL");
    let resent = stats.sent() - sent_at_kill;
    // What the hub lacked: the 1,000 changes, as raw change bytes.
    let before: Vec<automerge::ChangeHash> =
        before_edits.iter().map(|h| h.parse().unwrap()).collect();
    let missing: u64 = inst
        .store
        .read_document(&ledger, |d| {
            d.get_changes(&before)
                .iter()
                .map(|c| c.raw_bytes().len() as u64)
                .sum()
        })
        .await
        .unwrap();
    assert!(
        resent < whole && resent < missing + missing / 10 + 16 * 1024,
        "after the restart the institution sent {resent} bytes: the changes the hub lacked are \
         {missing} bytes, the ledger's history before them {whole} bytes"
    );
    // Nothing acknowledged is lost: the supervision edit is still there, every offline edit arrived.
    let row = district
        .store
        .camera(inst.code.as_str(), &code)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.camera.get(Field::NetworkedConfirmed),
        Some(&Value::Bool(true))
    );
    for (i, r) in rows.iter().enumerate() {
        let row = district
            .store
            .camera(inst.code.as_str(), r.camera.device_code.as_str())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.camera.get(Field::Name),
            Some(&Value::Text(format!("离线修改{i}")))
        );
    }
    fed.institutions[0][0].stop().await;
    drop(hub);
}

/// The daemon of an in-process unit is the daemon of `serve`: a write by another writer of its
/// store (the command line beside the daemon) reaches the parent, and /metrics answers when asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_process_unit_runs_the_daemon_of_serve() {
    let mut fed = federation(1, 1).await.unwrap();
    fed.institutions[0][0].metrics = true;
    fed.start_all().await.unwrap();
    let (inst, district) = (&fed.institutions[0][0], &fed.districts[0]);
    let ledger = DocId::ledger(&inst.code);
    yinglian_tests::converge(inst, &[district], &ledger)
        .await
        .unwrap();
    // Another writer of the institution's store, as `yl-node camera import` beside the daemon.
    let other = yinglian_node::store::Store::open(&inst.dir).await.unwrap();
    let sheet = fed.tmp.path().join("other-writer.csv");
    yinglian_node::app::sample::write_sheet(&sheet, "500103", 3, 21).unwrap();
    yinglian_node::app::import::import_file(&other, &sheet, "cli")
        .await
        .unwrap();
    let written = other.heads(&ledger).await.unwrap();
    wait_until(
        PATIENCE,
        "the other writer's cameras reach the district",
        || async { district.heads(&ledger).await == written },
    )
    .await
    .unwrap();
    let metrics = inst
        .daemon()
        .and_then(|d| d.metrics)
        .expect("metrics were asked for");
    let body = http_get(metrics, "/metrics").await;
    assert!(
        body.contains(&format!("unit=\"{}\"", inst.code)),
        "the metrics name the unit: {body}"
    );
    fed.stop_all().await;
}

/// The body of a plain HTTP/1.0 GET.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}
