//! Every page as its people read it: signed in as a hospital's clerk, a district's officer and the
//! city's commission, every page reachable by a link from the home page is fetched, and its
//! visible text must be Chinese to a person: no English slug of a closed set, no `true`/`false`/
//! `null`, no ISO time stamp; and every page answers.

use std::collections::{BTreeSet, VecDeque};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;
use yinglian_hub::local::LocalUnit;
use yinglian_node::app::accounts::{self, Role};
use yinglian_node::docs::document::DocId;
use yinglian_tests::chinese::{objections, visible};
use yinglian_tests::{PATIENCE, federation, network_one};

/// The links of a page that stay on the site and show a page (not the sign-out, the live
/// stream, a download or the chart's picture).
fn links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(|h| h.replace("&amp;", "&"))
        .filter(|h| h.starts_with('/') && !h.starts_with("//"))
        .filter(|h| {
            ![
                "/signout",
                "/events",
                "/download/",
                "/import/sheet",
                "/assets/",
                "/chart.svg",
            ]
            .iter()
            .any(|p| h.starts_with(p))
        })
        // One sort order of a table is enough.
        .filter(|h| !h.contains("sort="))
        .collect()
}

async fn get(app: &axum::Router, path: &str, cookie: &str) -> (StatusCode, String) {
    let req = Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    let r = app.clone().oneshot(req).await.unwrap();
    let st = r.status();
    let b = axum::body::to_bytes(r.into_body(), 1 << 24).await.unwrap();
    (st, String::from_utf8_lossy(&b).into_owned())
}

/// Signs in at `unit` as a new editor and crawls its pages breadth-first (at most `most`);
/// returns every objection with its page, and how many pages were read.
async fn crawl(unit: &LocalUnit, most: usize) -> (Vec<String>, usize) {
    accounts::add_user(&unit.store, "kezhang", Role::Editor, "crawl pw 2026")
        .await
        .unwrap();
    let cookie = yinglian_tests::police::session(&unit.store, "kezhang", "crawl pw 2026").await;
    let app = yinglian_node::http::router(unit.store.clone());
    let mut seen = BTreeSet::from(["/".to_string()]);
    let mut todo = VecDeque::from(["/".to_string()]);
    let mut found = Vec::new();
    let mut read = 0;
    while let Some(path) = todo.pop_front() {
        if read == most {
            break;
        }
        read += 1;
        let (st, html) = get(&app, &path, &cookie).await;
        if st != StatusCode::OK {
            found.push(format!("{} {path}: status {st}", unit.code));
            continue;
        }
        for o in objections(&visible(&html)) {
            found.push(format!("{} {path}: {o}", unit.code));
        }
        for l in links(&html) {
            if seen.insert(l.clone()) {
                todo.push_back(l);
            }
        }
    }
    (found, read)
}

#[test]
fn the_checks_see_what_a_person_would_object_to() {
    let page = "<html><head><style>.x{color:red}</style><script>let a = true;</script></head>\
                <body><p>状态：in-service</p><p>2026-11-26T02:01:23.468Z</p>\
                <a href=\"/signout\">退出</a><a href=\"/cameras?page=2\">下一页</a></body></html>";
    let text = visible(page);
    assert!(!text.contains("color") && !text.contains("let a"), "{text}");
    let o = objections(&text);
    assert!(o.iter().any(|o| o.contains("in-service")), "{o:?}");
    assert!(o.iter().any(|o| o.contains("ISO")), "{o:?}");
    assert!(
        !o.iter().any(|o| o.contains("true")),
        "a script is not read: {o:?}"
    );
    assert!(objections("在用 · 一类 · 2026年11月26日 10:01 · 500103-0001").is_empty());
    assert_eq!(links(page), ["/cameras?page=2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_reads_as_chinese_to_a_clerk_a_district_and_the_city() {
    let mut fed = federation(1, 2).await.unwrap();
    for (i, inst) in fed.institutions[0].iter().enumerate() {
        inst.generate_cameras("500103", 60, 7 + i as u64)
            .await
            .unwrap();
    }
    fed.start_all().await.unwrap();
    // A camera networked, and one edited twice, so that history, worklists and figures have
    // something to say.
    let inst = &fed.institutions[0][0];
    network_one(inst).await;
    let (district, city) = (&fed.districts[0], &fed.city);
    yinglian_tests::converge(inst, &[district], &DocId::ledger(&inst.code))
        .await
        .unwrap();
    let mut want = 0;
    for i in &fed.institutions[0] {
        want += i.store.counts(i.code.as_str()).await.unwrap().0.built;
    }
    assert!(want > 0);
    yinglian_hub::local::wait_until(PATIENCE, "the city's figures cover the cameras", || async {
        yinglian_node::app::figures::subtree_stats(&city.store, None)
            .await
            .is_ok_and(|s| s.built == want)
    })
    .await
    .unwrap();

    let mut all = Vec::new();
    for (unit, most) in [(inst, 60), (district, 60), (city, 40)] {
        let (found, read) = crawl(unit, most).await;
        assert!(read >= 8, "{}: only {read} pages reachable", unit.code);
        eprintln!("{}: {read} pages read", unit.code);
        all.extend(found);
    }
    assert!(
        all.is_empty(),
        "what a person would object to:\n{}",
        all.join("\n")
    );
    fed.stop_all().await;
}
