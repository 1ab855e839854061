//! Operations on a running federation: a hub process started from a TOML configuration serves
//! `/metrics` and `/healthz`, logs JSON lines, and on SIGTERM stops without losing a write; a
//! backup taken while a unit runs restores, and the restored unit gets back from its parent what
//! it wrote after the backup, then goes on writing.

use std::process::Command;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::docs::document::DocId;
use yinglian_node::federation::pki::Role;
use yinglian_tests::{PATIENCE, Process, converge, federation, network_one};

const HUB: &str = env!("CARGO_BIN_EXE_yl-test-hub");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path` over plain HTTP/1.0: (status code, body).
async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_hub_reports_metrics_and_stops_cleanly_on_sigterm() {
    let mut fed = federation(1, 2).await.unwrap();
    for (n, inst) in fed.institutions[0].iter().enumerate() {
        inst.generate_cameras("500103", 40, n as u64 + 5)
            .await
            .unwrap();
    }
    let district_dir = fed.districts[0].dir.clone();
    let addr = fed.districts[0].addr.unwrap();
    fed.districts[0].release_port();
    let metrics = free_port();
    let config = fed.tmp.path().join("district-hub.toml");
    std::fs::write(
        &config,
        format!(
            "data = \"{}\"\n[serve]\nlisten = \"{addr}\"\nmetrics = \"127.0.0.1:{metrics}\"\n[log]\nformat = \"json\"\nlevel = \"info\"\n",
            district_dir.display()
        ),
    )
    .unwrap();
    let log = fed.tmp.path().join("hub.log");
    let out = fed.tmp.path().join("hub.out");
    let mut hub = Process(
        Command::new(HUB)
            .args(["serve", "--config"])
            .arg(&config)
            .env_remove("YL_DATA")
            .env_remove("RUST_LOG")
            .env_remove("YL_LOG_FORMAT")
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    for inst in &mut fed.institutions[0] {
        inst.start().await.unwrap();
    }
    let (district, a, b) = (
        &fed.districts[0],
        &fed.institutions[0][0],
        &fed.institutions[0][1],
    );
    converge(a, &[district], &DocId::ledger(&a.code))
        .await
        .unwrap();
    converge(b, &[district], &DocId::ledger(&b.code))
        .await
        .unwrap();
    fed.institutions[0][1].stop().await;

    // One child connected, one not; three ledgers held; nothing refused.
    let peer_a = format!(
        "yl_peer_connected{{peer=\"{}\",relation=\"child\"}} 1",
        a_code(&fed)
    );
    let peer_b = format!(
        "yl_peer_connected{{peer=\"{}\",relation=\"child\"}} 0",
        fed.institutions[0][1].code
    );
    let last = std::sync::Mutex::new(String::new());
    wait_until(
        PATIENCE,
        "/metrics shows one child up, one down",
        || async {
            match get(metrics, "/metrics").await {
                Some((200, body)) => {
                    let ok = body.contains("yl_peers_connected 1")
                        && body.contains(&peer_a)
                        && body.contains(&peer_b);
                    *last.lock().unwrap() = body;
                    ok
                }
                _ => false,
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", last.lock().unwrap()));
    let text = last.lock().unwrap().clone();
    for want in [
        "yl_documents{kind=\"ledger\"} 3",
        "yl_refusals_total 0",
        "yl_feed_subscribers 0",
        "# TYPE yl_sync_received_bytes counter",
        "# TYPE yl_sync_sessions_lagged counter",
        "yl_sync_lag_seconds{peer=\"500103-0001\",relation=\"child\"}",
        "# EOF",
    ] {
        assert!(text.contains(want), "/metrics lacks {want}:\n{text}");
    }
    // Where the hub's time went: it applied, projected and committed its children's changes and
    // recomputed its rollup, each counted with its seconds.
    for stage in [
        "sync_apply",
        "project",
        "commit",
        "write",
        "rollup_recompute",
    ] {
        let runs = text.lines().find_map(|l| {
            l.strip_prefix(&format!("yl_stage_runs_total{{stage=\"{stage}\"}} "))
                .and_then(|v| v.trim().parse::<u64>().ok())
        });
        assert!(
            runs.is_some_and(|n| n > 0),
            "/metrics counts no run of {stage}:\n{text}"
        );
        let seconds = format!("yl_stage_seconds_total{{stage=\"{stage}\"}} ");
        assert!(text.contains(&seconds), "/metrics lacks {seconds}:\n{text}");
    }
    assert_eq!(get(metrics, "/healthz").await, Some((200, "ok\n".into())));

    // A second daemon on the same data folder is refused at once; the first goes on.
    let second = Command::new(HUB)
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("YL_DATA")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{said}");
    assert!(said.contains("后台服务已在运行"), "{said}");
    assert!(said.contains(&hub.0.id().to_string()), "{said}");
    assert_eq!(get(metrics, "/healthz").await, Some((200, "ok\n".into())));

    // A last write reaches the hub; then SIGTERM.
    network_one(&fed.institutions[0][0]).await;
    let (district, a) = (&fed.districts[0], &fed.institutions[0][0]);
    converge(a, &[district], &DocId::ledger(&a.code))
        .await
        .unwrap();
    let acknowledged = a.heads(&DocId::ledger(&a.code)).await;
    fed.institutions[0][0].stop().await;
    let status = Command::new("kill")
        .args(["-TERM", &hub.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut exit = None;
    wait_until(PATIENCE, "the hub exits", || {
        let e = hub.0.try_wait().unwrap();
        exit = e;
        std::future::ready(e.is_some())
    })
    .await
    .unwrap();
    assert!(exit.unwrap().success(), "exit {exit:?}");
    let said = std::fs::read_to_string(&out).unwrap();
    assert!(said.contains("已停止"), "{said}");
    assert!(
        said.contains(&format!("运行指标：http://127.0.0.1:{metrics}/metrics")),
        "{said}"
    );
    // Nothing acknowledged was lost: the store, opened afresh, holds it.
    let reopened = LocalUnit::open(&district_dir, Role::Hub, None)
        .await
        .unwrap();
    assert_eq!(
        reopened
            .heads(&DocId::ledger(&fed.institutions[0][0].code))
            .await,
        acknowledged
    );
    // The logs were JSON lines, as configured.
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.lines().count() > 0, "the daemon logged nothing");
    for l in logs.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v.get("level").is_some(), "{l}");
    }
    fed.stop_all().await;
}

fn a_code(fed: &yinglian_tests::Fed) -> String {
    fed.institutions[0][0].code.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_and_gets_back_later_edits_from_the_parent() {
    let mut fed = federation(1, 1).await.unwrap();
    fed.institutions[0][0]
        .generate_cameras("500103", 40, 5)
        .await
        .unwrap();
    fed.start_all().await.unwrap();
    let code = fed.institutions[0][0].code.clone();
    let ledger = DocId::ledger(&code);
    converge(&fed.institutions[0][0], &[&fed.districts[0]], &ledger)
        .await
        .unwrap();
    let networked = |u: &LocalUnit| {
        let (store, code) = (u.store.clone(), code.clone());
        async move { store.counts(code.as_str()).await.unwrap().0.networked }
    };
    let at_backup = networked(&fed.institutions[0][0]).await;

    // The backup is taken while the unit runs; the target must be new.
    let backup = fed.tmp.path().join("backups/500103-0001");
    let b = yinglian_node::app::backup::backup(&fed.institutions[0][0].store, &backup)
        .await
        .unwrap();
    assert!(b.store_bytes > 0 && b.files >= 4, "{b:?}");
    let again = yinglian_node::app::backup::backup(&fed.institutions[0][0].store, &backup)
        .await
        .unwrap_err();
    assert!(again.to_string().contains("已经存在"), "{again}");

    // Two cameras networked after the backup reach the district; then the machine is lost.
    network_one(&fed.institutions[0][0]).await;
    network_one(&fed.institutions[0][0]).await;
    converge(&fed.institutions[0][0], &[&fed.districts[0]], &ledger)
        .await
        .unwrap();
    let latest = fed.institutions[0][0].heads(&ledger).await;
    let old_actor = fed.institutions[0][0].store.actor();
    fed.institutions[0][0].stop().await;

    // A restore refuses a folder that holds a unit, and a folder that is not a backup.
    let old_dir = fed.institutions[0][0].dir.clone();
    let e = yinglian_node::app::backup::restore(&backup, &old_dir)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("中已有单位的数据"), "{e}");
    let e = yinglian_node::app::backup::restore(fed.tmp.path(), &fed.tmp.path().join("x"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("不是备份"), "{e}");

    let new_dir = fed.tmp.path().join("restored");
    let unit = yinglian_node::app::backup::restore(&backup, &new_dir)
        .await
        .unwrap();
    assert_eq!(unit, code);
    let mut restored = LocalUnit::open(&new_dir, Role::Node, None).await.unwrap();
    assert_eq!(
        networked(&restored).await,
        at_backup,
        "the backup's own state"
    );
    assert_ne!(
        restored.store.actor(),
        old_actor,
        "a new actor after a restore"
    );

    // Started, it gets back what it wrote after the backup, from the district.
    restored.start().await.unwrap();
    wait_until(PATIENCE, "the restored ledger catches up", || {
        let (r, want, doc) = (&restored, latest.clone(), &ledger);
        async move { r.heads(doc).await == want }
    })
    .await
    .unwrap();
    assert_eq!(networked(&restored).await, at_backup + 2);
    // … and goes on: a new edit reaches the district.
    network_one(&restored).await;
    converge(&restored, &[&fed.districts[0]], &ledger)
        .await
        .unwrap();
    assert_eq!(networked(&fed.districts[0]).await, at_backup + 3);
    restored.stop().await;
    fed.stop_all().await;
}
