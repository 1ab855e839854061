//! `yl-hub subscribe --web` as a process, beside a running federation: the feed's JSON lines on
//! stdout as ever (a snapshot, its end, then changes, each row with the stats contract's keys),
//! the police page's address on stderr, the page showing what the lines said; SIGTERM stops it
//! cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use yinglian_hub::local::wait_until;
use yinglian_node::app::figures::subtree_stats;
use yinglian_tests::police::{cell, get, session, subscriber};
use yinglian_tests::{PATIENCE, Process, federation, network_one};

const HUB: &str = env!("CARGO_BIN_EXE_yl-test-hub");

/// Every line a child's pipe gives, as it comes.
fn lines(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// The first line of `rx` for which `pick` says something.
fn first<T>(rx: &mpsc::Receiver<String>, what: &str, pick: impl Fn(&str) -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let l = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no {what}"));
        if let Some(v) = pick(&l) {
            return v;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_prints_the_feed_and_serves_the_police_page() {
    let mut fed = federation(1, 1).await.unwrap();
    fed.institutions[0][0]
        .generate_cameras("500103", 10, 9)
        .await
        .unwrap();
    fed.start_all().await.unwrap();
    let want = fed.institutions[0][0]
        .store
        .counts(fed.institutions[0][0].code.as_str())
        .await
        .unwrap()
        .0
        .built;
    wait_until(PATIENCE, "the city's totals are caught up", || async {
        subtree_stats(&fed.city.store, None).await.unwrap().built == want
    })
    .await
    .unwrap();
    let login = ("jingguan", "police pw 2026");
    let city = fed.city.code.clone();
    let (dir, store) = subscriber(&fed, &fed.city, "GA-500000", &city, login).await;

    let mut child = Command::new(HUB)
        .arg("--data")
        .arg(dir.path())
        .args(["subscribe", "--json", "--web", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, err) = (
        lines(child.stdout.take().unwrap()),
        lines(child.stderr.take().unwrap()),
    );
    let mut child = Process(child);
    let addr: std::net::SocketAddr = first(&err, "page address", |l| {
        l.split("公安视图：http://")
            .nth(1)
            .and_then(|a| a.trim().parse().ok())
    });

    // The snapshot: the city's totals, the district, the hospital; each line the cursor, the
    // kind and the row's fields by the stats contract's names.
    let json = |l: &str| serde_json::from_str::<serde_json::Value>(l).unwrap();
    let mut snapshot = Vec::new();
    loop {
        let l = json(&first(&out, "a feed line", |l| Some(l.to_string())));
        if l["kind"] == "snapshot_end" {
            break;
        }
        assert_eq!(l["kind"], "snapshot", "{l}");
        snapshot.push(l);
    }
    assert_eq!(snapshot.len(), 3, "{snapshot:?}");
    let keys: Vec<&str> = snapshot[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "archive_rate",
            "archived",
            "as_of",
            "built",
            "cursor",
            "findings_errors",
            "findings_warnings",
            "geo_rate",
            "geo_tagged",
            "hub",
            "in_service",
            "intact_rate",
            "intact_rate_key_industry",
            "intact_rate_key_public",
            "kind",
            "must_network",
            "name",
            "networked",
            "networking_rate",
            "unit"
        ]
    );
    let district = snapshot.iter().find(|l| l["unit"] == "500103").unwrap();
    let networked = district["networked"].as_u64().unwrap();

    // A change at the hospital: a line for the district, and the page shows it.
    network_one(&fed.institutions[0][0]).await;
    first(&out, "the district's change", |l| {
        let l = json(l);
        (l["kind"] == "change" && l["unit"] == "500103" && l["networked"] == networked + 1)
            .then_some(())
    });
    let cookie = session(&store, login.0, login.1).await;
    wait_until(PATIENCE, "the page shows the change", || async {
        cell(&get(addr, "/", &cookie).await.1, "500103", 3) == Some(networked + 1)
    })
    .await
    .unwrap();

    // SIGTERM: a clean stop.
    let sent = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    fed.stop_all().await;
}
