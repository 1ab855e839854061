//! Driving Debian's headless Chromium through chromedriver for the browser journeys: start the
//! driver and a 1366×768 browser, fill and submit forms, read what the page shows, save numbered
//! screenshots per journey under `target/tmp/screenshots/<journey>/`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};
use yinglian_hub::local::wait_until;

use crate::{PATIENCE, Process};

/// Whether the browser journeys are skipped on purpose (`YL_SKIP_BROWSER=1`); says so.
pub fn skipped() -> bool {
    let skip = std::env::var("YL_SKIP_BROWSER").as_deref() == Ok("1");
    if skip {
        eprintln!("YL_SKIP_BROWSER=1: the browser test is skipped on purpose");
    }
    skip
}

pub async fn start_driver() -> (Process, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child =
        Command::new(std::env::var("YL_CHROMEDRIVER").unwrap_or("/usr/bin/chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver: install Debian's chromium-driver (scripts/test.sh does)");
    let driver = Process(child);
    wait_until(PATIENCE, "chromedriver listens", || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await
    .unwrap();
    (driver, port)
}

pub async fn browser(port: u16) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": std::env::var("YL_CHROMIUM").unwrap_or("/usr/bin/chromium".into()),
            // An ordinary office screen.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1366,768", "--lang=zh-CN"],
        }),
    );
    let mut b = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    b.capabilities(caps);
    b.connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session")
}

/// Screenshots of one journey, numbered in the order taken.
pub struct Shots {
    pub dir: PathBuf,
    pub n: usize,
}

impl Shots {
    /// A fresh folder `<tmp>/screenshots/<journey>/`; `tmp` is the test's
    /// `env!("CARGO_TARGET_TMPDIR")` (`target/tmp`).
    pub fn new(tmp: &str, journey: &str) -> Shots {
        let dir = PathBuf::from(tmp).join("screenshots").join(journey);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Shots { dir, n: 0 }
    }

    /// Saves the current page; checks it is a PNG of the window's size.
    pub async fn take(&mut self, c: &Client, name: &str) {
        self.n += 1;
        let png = c.screenshot().await.unwrap();
        assert_eq!(&png[1..4], b"PNG", "{name}: a PNG");
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        assert!(width >= 1000, "{name}: {width} px wide");
        let path = self.dir.join(format!("{:02}-{name}.png", self.n));
        std::fs::write(&path, png).unwrap();
    }
}

pub async fn fill(c: &Client, field: &str, value: &str) {
    let e = c
        .find(Locator::Css(&format!("[name=\"{field}\"]")))
        .await
        .unwrap_or_else(|_| panic!("a field named {field}"));
    // A closed set is a choice: pick the option whose value is `value`.
    if e.tag_name().await.unwrap().eq_ignore_ascii_case("select") {
        e.select_by_value(value).await.unwrap();
        return;
    }
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

/// Clicks the page's form button and waits until the browser shows the page that answered.
pub async fn submit(c: &Client) {
    click_and_wait(c, "form:not(.inline) button[type=submit]").await
}

pub async fn click_and_wait(c: &Client, css: &str) {
    c.execute("window.ylOldPage = true;", vec![]).await.unwrap();
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("a button {css}"))
        .click()
        .await
        .unwrap();
    wait_until(PATIENCE, "the next page has loaded", || async {
        c.execute(
            "return !window.ylOldPage && document.readyState === 'complete';",
            vec![],
        )
        .await
        .map(|v| v == serde_json::json!(true))
        .unwrap_or(false)
    })
    .await
    .unwrap();
}

pub async fn sign_in(c: &Client, base: &str, user: &str, password: &str) {
    c.goto(&format!("{base}/signin")).await.unwrap();
    fill(c, "user", user).await;
    fill(c, "password", password).await;
    submit(c).await;
}

pub fn path(url: url::Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// The message shown beside the form field `field` (the `span.err` in its label), if any.
pub async fn message_beside(c: &Client, field: &str) -> Option<String> {
    let v = c
        .execute(
            "const i = document.querySelector('[name=\"' + arguments[0] + '\"]');
             const e = i && i.closest('label') && i.closest('label').querySelector('.err');
             return e ? e.textContent : null;",
            vec![serde_json::json!(field)],
        )
        .await
        .unwrap();
    v.as_str().map(str::to_string)
}

/// The number shown in the element `css`, if any.
pub async fn number(c: &Client, css: &str) -> Option<u64> {
    c.execute(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
        vec![serde_json::json!(css)],
    )
    .await
    .unwrap()
    .as_str()
    .and_then(|s| s.trim().parse::<u64>().ok())
}

pub async fn text(c: &Client) -> String {
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
