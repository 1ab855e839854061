//! `yl-hub demo` as a newcomer runs it: it prints the dashboard's address and the sign-in, the
//! city's figures appear and move, the police subscriber's view of the city's feed is printed and
//! its page answers, the dashboard answers, Ctrl-C stops everything cleanly, and a
//! second run resumes from the same folder with the same figures.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use yinglian_tests::PATIENCE;

const HUB: &str = env!("CARGO_BIN_EXE_yl-test-hub");

struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    fn start(dir: &std::path::Path, http: u16) -> Demo {
        let mut child = Command::new(HUB)
            .arg("demo")
            .arg("--dir")
            .arg(dir)
            .args(["--districts", "2", "--institutions", "2", "--cameras", "12"])
            .args(["--pace-ms", "40", "--http", &format!("127.0.0.1:{http}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Demo {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line (from now) for which `pick` says something, within the patience.
    fn wait_for<T>(&mut self, what: &str, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(l) => {
                    let found = pick(&l);
                    self.seen.push(l);
                    if let Some(v) = found {
                        return v;
                    }
                }
                Err(_) => panic!("no {what} in the demo's output:\n{}", self.seen.join("\n")),
            }
        }
    }

    fn interrupt(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        // The demo has stopped when its output closes (every line it printed while stopping
        // arrives first); then its exit status is there to collect.
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("the demo did not stop on Ctrl-C"),
            }
        }
        self.child.wait().unwrap()
    }
}

/// (built, networked) from a summary line such as "city: 已建 10 · 应联网 8 · 已联网 5 · …".
fn figures(line: &str) -> Option<(u64, u64)> {
    let after = |label: &str| -> Option<u64> {
        line.split(label)
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    if !line.contains("city:") {
        return None;
    }
    Some((after("已建 ")?, after("已联网 ")?))
}

fn free_ports() -> u16 {
    // Four ports in a row: the city's pages, a district's, an institution's and the police's.
    loop {
        let p = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if p < 65000 && (1..4).all(|n| std::net::TcpListener::bind(("127.0.0.1", p + n)).is_ok()) {
            return p;
        }
    }
}

fn http_status(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .ok()?;
    let mut b = String::new();
    s.read_to_string(&mut b).ok()?;
    Some(b.lines().next()?.to_string() + "\n" + &b)
}

#[test]
fn the_demo_runs_stops_on_ctrl_c_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("yl-demo");
    let port = free_ports();
    let mut demo = Demo::start(&dir, port);
    let url = demo.wait_for("dashboard address", |l| {
        l.contains("city dashboard").then(|| l.to_string())
    });
    assert!(url.contains(&format!("http://127.0.0.1:{port}/")), "{url}");
    let password = demo.wait_for("sign-in", |l| {
        l.split("password \"")
            .nth(1)
            .map(|r| r.split('"').next().unwrap().to_string())
    });
    assert!(password.len() >= 8);
    // The city's totals fill in, and then move as the simulated clerks network cameras.
    let (built, networked) = demo.wait_for("city figures", |l| figures(l).filter(|f| f.0 > 0));
    let later = demo.wait_for("moving figures", |l| figures(l).filter(|f| f.1 > networked));
    assert!(later.0 >= built);
    // The police subscriber reads the city's feed and the demo prints what it received.
    let police = demo.wait_for("the police subscriber's view", |l| {
        (l.contains("公安订阅 GA-500000：在线") && l.contains("全市 已联网")).then(|| l.to_string())
    });
    assert!(police.contains("此后收到变更"), "{police}");
    // Its page is printed beside the units' and answers, behind sign-in.
    let page = demo
        .seen
        .iter()
        .find(|l| l.contains("(公安视图) page"))
        .cloned()
        .unwrap_or_else(|| panic!("no police page line:\n{}", demo.seen.join("\n")));
    assert!(
        page.contains(&format!("http://127.0.0.1:{}/", port + 3)),
        "{page}"
    );
    let answer = http_status(port + 3, "/").unwrap();
    assert!(answer.contains(" 303 "), "{answer}");
    assert!(answer.contains("location: /signin"), "{answer}");
    // The dashboard answers, behind sign-in.
    let answer = http_status(port, "/").unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 303") || answer.starts_with("HTTP/1.1 303"),
        "{answer}"
    );
    assert!(answer.contains("location: /signin"), "{answer}");
    let status = demo.interrupt();
    assert!(status.success(), "{status:?}\n{}", demo.seen.join("\n"));
    assert!(
        demo.seen.iter().any(|l| l.starts_with("stopped.")),
        "{}",
        demo.seen.join("\n")
    );
    let last = demo.seen.iter().rev().find_map(|l| figures(l)).unwrap();
    drop(demo);

    // Again, on the same folder: it resumes with the same sign-in, and the figures go on.
    let mut again = Demo::start(&dir, port);
    again.wait_for("resuming", |l| l.contains("resuming").then_some(()));
    let same = again.wait_for("sign-in", |l| {
        l.split("password \"")
            .nth(1)
            .map(|r| r.split('"').next().unwrap().to_string())
    });
    assert_eq!(same, password);
    let resumed = again.wait_for("city figures", figures);
    assert!(
        resumed.0 >= last.0 && resumed.1 >= last.1,
        "{resumed:?} < {last:?}"
    );
    assert!(
        again.seen.iter().any(|l| l.contains("the whole tree:")),
        "{}",
        again.seen.join("\n")
    );
    assert!(again.interrupt().success());
    drop(again);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(the_whole_tree_is_counted(&dir));
}

/// The demo's affiliated hospital is a row of the city's figures, and its hospital with
/// sub-units is one row of its district's, counting the sub-units' cameras, which stay with it.
async fn the_whole_tree_is_counted(dir: &std::path::Path) {
    use yinglian_node::app::figures::subtree_stats;
    use yinglian_node::store::Store;
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("demo.json")).unwrap()).unwrap();
    let others: Vec<String> = state["others"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let [affiliated, hospital, subs @ ..] = others.as_slice() else {
        panic!("the demo made no tree: {others:?}")
    };
    assert_eq!(subs.len(), 2, "{others:?}");
    let open = |code: &str| {
        let at = dir.join(code);
        async move { Store::open(&at).await }
    };
    let built = |s: Store, unit: String| async move {
        let n = s.counts(&unit).await.unwrap().0.built;
        s.close().await;
        n
    };
    let own = built(open(affiliated).await.unwrap(), affiliated.clone()).await;
    let mut tree = built(open(hospital).await.unwrap(), hospital.clone()).await;
    for s in subs {
        tree += built(open(s).await.unwrap(), s.clone()).await;
    }
    let row = |stats: &yinglian_node::domain::figures::Stats, unit: &str| {
        stats
            .children
            .iter()
            .find(|c| c.unit == unit)
            .map(|c| c.built)
    };
    let city = open("500000").await.unwrap();
    let at_city = subtree_stats(&city, None).await.unwrap();
    assert_eq!(row(&at_city, affiliated), Some(own));
    city.close().await;
    let district = hospital.split('-').next().unwrap();
    let d = open(district).await.unwrap();
    let at_district = subtree_stats(&d, None).await.unwrap();
    assert_eq!(row(&at_district, hospital), Some(tree));
    assert!(
        d.save_document(&yinglian_node::docs::document::DocId::ledger(
            &yinglian_node::domain::unit::UnitCode::parse(&subs[0]).unwrap()
        ))
        .await
        .unwrap()
        .is_none(),
        "a sub-unit's ledger reached the district"
    );
    d.close().await;
}
