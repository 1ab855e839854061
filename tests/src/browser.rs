//! Driving Debian's headless Chromium through chromedriver for the browser journeys: start the
//! driver and a 1366×768 browser (Chinese locale, downloads saved to a folder), fill and submit
//! forms, follow links, read what the page shows (a cell of a table by its column's header, a
//! count after its label), save numbered screenshots per journey under
//! `target/tmp/screenshots/<journey>/` — each page checked to read as Chinese
//! (`crate::chinese`) when it is taken.

use std::path::{Path, PathBuf};
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
            // Chromium on Linux takes its locale (date inputs, the file dialog) from the
            // environment, not from --lang.
            .env("LANGUAGE", "zh_CN")
            .env("LANG", "C.UTF-8")
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
    browser_saving_to(port, None).await
}

/// A browser that saves what it downloads into `downloads` without asking.
pub async fn browser_saving_to(port: u16, downloads: Option<&Path>) -> Client {
    let mut caps = serde_json::Map::new();
    let mut options = serde_json::json!({
        "binary": std::env::var("YL_CHROMIUM").unwrap_or("/usr/bin/chromium".into()),
        // An ordinary office screen.
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1366,768", "--lang=zh-CN"],
        "prefs": { "intl.accept_languages": "zh-CN,zh" },
    });
    if let Some(dir) = downloads {
        options["prefs"]["download.default_directory"] = dir.to_str().unwrap().into();
        options["prefs"]["download.prompt_for_download"] = false.into();
    }
    caps.insert("goog:chromeOptions".into(), options);
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

    /// Saves the current page; checks it is a PNG of the window's size and that the page reads
    /// as Chinese.
    pub async fn take(&mut self, c: &Client, name: &str) {
        assert_chinese(c, name).await;
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
    // A date is picked in the browser's own widget, whose keys depend on the locale: set it as
    // the picker would.
    if e.attr("type").await.unwrap().as_deref() == Some("date") {
        c.execute(
            "arguments[0].value = arguments[1];",
            vec![serde_json::to_value(&e).unwrap(), serde_json::json!(value)],
        )
        .await
        .unwrap();
        return;
    }
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

/// Clicks the page's form button and waits until the browser shows the page that answered.
pub async fn submit(c: &Client) {
    click_and_wait(c, "form:not(.inline) button[type=submit]").await
}

/// Clicks `css` and waits until the browser shows the page that answered (checked to read as
/// Chinese).
pub async fn click_and_wait(c: &Client, css: &str) {
    click_on_and_wait(c, Locator::Css(css)).await
}

/// Follows the link that reads `text` and waits until the browser shows its page.
pub async fn follow(c: &Client, text: &str) {
    click_on_and_wait(c, Locator::LinkText(text)).await
}

pub async fn click_on_and_wait(c: &Client, what: Locator<'_>) {
    c.execute("window.ylOldPage = true;", vec![]).await.unwrap();
    let Ok(e) = c.find(what).await else {
        panic!("{what:?} on {}", c.current_url().await.unwrap());
    };
    e.click().await.unwrap();
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
    // Every page a journey reaches reads as Chinese, screenshot or not.
    assert_chinese(c, &format!("after {what:?}")).await;
}

/// Opens `url` and checks that the page reads as Chinese.
pub async fn visit(c: &Client, url: &str) {
    c.goto(url).await.unwrap();
    assert_chinese(c, url).await;
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

/// Fails unless the page shown reads as Chinese (`crate::chinese`).
pub async fn assert_chinese(c: &Client, what: &str) {
    let html = c.source().await.unwrap();
    let found = crate::chinese::objections_on(&html);
    assert!(
        found.is_empty(),
        "{what} ({}): what a person would object to: {found:?}",
        c.current_url().await.unwrap()
    );
}

/// The text of the cell in column `header` (the column whose header starts with it) of the first
/// row matching `row` (a CSS selector) of the first table that has such a column.
pub async fn cell(c: &Client, row: &str, header: &str) -> Option<String> {
    cell_and_class(c, row, header).await.map(|(text, _)| text)
}

/// The text of that cell and its CSS classes.
pub async fn cell_and_class(c: &Client, row: &str, header: &str) -> Option<(String, String)> {
    c.execute(
        "for (const t of document.querySelectorAll('table')) {
           const heads = Array.from(t.querySelectorAll('tr:first-child th'));
           const i = heads.findIndex(h => h.textContent.trim().startsWith(arguments[1]));
           if (i < 0) continue;
           const r = t.querySelector(arguments[0]);
           return r && r.cells[i] ? r.cells[i].textContent.trim() + '|' + r.cells[i].className : null;
         }
         return null;",
        vec![serde_json::json!(row), serde_json::json!(header)],
    )
    .await
    .unwrap()
    .as_str()
    .and_then(|s| s.split_once('|'))
    .map(|(text, class)| (text.to_string(), class.to_string()))
}

/// Each row of the first table with a column `header`: the text of its first cell, the text of
/// that column's cell and the cell's CSS classes; header and 合计/本级 rows left out.
pub async fn column(c: &Client, header: &str) -> Vec<(String, String, String)> {
    let v = c
        .execute(
            "for (const t of document.querySelectorAll('table')) {
               const heads = Array.from(t.querySelectorAll('tr:first-child th'));
               const i = heads.findIndex(h => h.textContent.trim().startsWith(arguments[0]));
               if (i < 0) continue;
               return Array.from(t.querySelectorAll('tr'))
                 .filter(r => r.cells[0].tagName === 'TD' && !r.classList.contains('total') && !r.classList.contains('own'))
                 .map(r => [r.cells[0].textContent.trim(), r.cells[i].textContent.trim(), r.cells[i].className]);
             }
             return [];",
            vec![serde_json::json!(header)],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

/// The number written after `label` in `text` (spaces skipped): `number_after("共 61 条", "共")`
/// is 61.
pub fn number_after(text: &str, label: &str) -> Option<u64> {
    let at = text.find(label)? + label.len();
    let digits: String = text[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// A rate as the pages show it (`83.33`), or none (`—`).
pub fn rate(shown: &str) -> Option<f64> {
    shown.trim().parse().ok()
}

/// Waits until the browser has saved a file whose name ends with `suffix` in `dir` (and has
/// finished writing it); returns its path.
pub async fn saved_file(dir: &Path, suffix: &str) -> PathBuf {
    // A browser may show the file under its name before it has written it (Firefox creates it
    // empty and writes a `.part` beside it, moved over it at the end): the file is there when
    // it is not empty and nothing is still being written in the folder.
    let found = || {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        let writing = files.iter().any(|p| {
            let name = p.to_string_lossy();
            name.ends_with(".part") || name.ends_with(".crdownload")
        });
        files
            .into_iter()
            .find(|p| p.to_string_lossy().ends_with(suffix))
            .filter(|p| !writing && std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
    };
    wait_until(
        PATIENCE,
        &format!("the browser saved *{suffix}"),
        || async { found().is_some() },
    )
    .await
    .unwrap();
    found().unwrap()
}

/// Empties the browser's download folder.
pub fn clear_downloads(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
}
