//! The police officer's page, over a real federation with real TLS: a subscriber enrolled at the
//! city follows its feed (as `yl-hub subscribe --web` does) and its page shows each district's
//! figures as the city has them; an institution's edit reaches the page; the subscriber restarted
//! resumes from its cursor without a second snapshot (an edit made while it was down arrives as a
//! change); revoked, or asking for a scope beyond its enrollment, its page says in Chinese that
//! it is refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use yinglian_hub::local::wait_until;
use yinglian_node::app::figures::subtree_stats;
use yinglian_node::domain::unit::UnitCode;
use yinglian_node::federation::subscriber::Ended;
use yinglian_proto::v1::{FeedEvent, feed_event};
use yinglian_tests::police::{
    cell, first_hospitals_built, get, seed_first_hospitals, session, start, subscriber,
};
use yinglian_tests::{PATIENCE, federation, network_one};

/// Counts the snapshot rows a follower receives.
fn counting(n: Arc<AtomicU64>) -> impl FnMut(&FeedEvent) + Send + 'static {
    move |e| {
        if e.kind == feed_event::Kind::Snapshot as i32 {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What the crawl of the units' pages objects to: an English slug, a JSON literal, an ISO stamp.
fn assert_reads_as_chinese(html: &str) {
    let found = yinglian_tests::chinese::objections_on(html);
    assert!(found.is_empty(), "{found:?} on the page: {html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_police_page_follows_the_city_resumes_from_its_cursor_and_says_a_refusal() {
    let mut fed = federation(2, 1).await.unwrap();
    seed_first_hospitals(&fed, 30, 1).await;
    fed.start_all().await.unwrap();
    let want = first_hospitals_built(&fed).await;
    let city = fed.city.code.clone();
    wait_until(PATIENCE, "the city's totals are caught up", || async {
        subtree_stats(&fed.city.store, None).await.unwrap().built == want
    })
    .await
    .unwrap();

    let login = ("jingguan", "police pw 2026");
    let (_dir, store) = subscriber(&fed, &fed.city, "GA-500000", &city, login).await;
    let snapshots = Arc::new(AtomicU64::new(0));
    let sub = start(store.clone(), "", counting(snapshots.clone())).await;
    let web = sub.web.unwrap().addr;
    let cookie = session(&store, login.0, login.1).await;

    // Without a session the page sends the browser to sign in, as every unit's pages do.
    let (status, _) = get(web, "/", "").await;
    assert!(status.contains(" 303 "), "{status}");

    // Each district's figures as the city's dashboard has them.
    let page_matches_the_city = || {
        let (store, cookie, city) = (fed.city.store.clone(), cookie.clone(), city.clone());
        async move {
            let stats = subtree_stats(&store, None).await.unwrap();
            let (_, html) = get(web, "/", &cookie).await;
            let all = stats.children.iter().all(|d| {
                cell(&html, &d.unit, 1) == Some(d.built)
                    && cell(&html, &d.unit, 2) == Some(d.must_network)
                    && cell(&html, &d.unit, 3) == Some(d.networked)
            });
            all && stats.children.len() == 2
                && cell(&html, &city.to_string(), 3) == Some(stats.networked)
        }
    };
    wait_until(
        PATIENCE,
        "the police page shows the city's figures",
        page_matches_the_city,
    )
    .await
    .unwrap();
    let (status, html) = get(web, "/", &cookie).await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(html.contains("公安视图 · 重庆市卫生健康委员会"), "{html}");
    assert!(html.contains("已连接"), "{html}");
    assert_reads_as_chinese(&html);
    let first_snapshot = snapshots.load(Ordering::Relaxed);
    // The city's totals and its two districts' rows, and the two hospitals' rows.
    assert_eq!(first_snapshot, 5);

    // An institution's edit reaches the page, among the latest changes too.
    let (d0, inst0) = (fed.districts[0].code.to_string(), &fed.institutions[0][0]);
    let before = cell(&get(web, "/", &cookie).await.1, &d0, 3).unwrap();
    network_one(inst0).await;
    wait_until(PATIENCE, "the edit reaches the police page", || async {
        cell(&get(web, "/figures", &cookie).await.1, &d0, 3) == Some(before + 1)
    })
    .await
    .unwrap();
    wait_until(
        PATIENCE,
        "the page agrees with the city again",
        page_matches_the_city,
    )
    .await
    .unwrap();
    let (_, html) = get(web, "/", &cookie).await;
    let recent = html.split("最近变更（最新").nth(1).unwrap();
    assert!(recent.contains(&format!("data-unit=\"{d0}\"")), "{recent}");
    assert!(sub.state.borrow().changes >= 1);
    let cursor = sub.state.borrow().cursor;
    assert!(cursor > 0);

    // Stopped, an edit meanwhile; restarted, it resumes from the cursor: no second snapshot,
    // the edit arrives as a change.
    sub.stop().await.unwrap();
    assert_eq!(store.subscribed_cursor("").await.unwrap(), cursor);
    let (d1, inst1) = (fed.districts[1].code.to_string(), &fed.institutions[1][0]);
    let held = store.subscribed_rows("").await.unwrap();
    let before = held
        .iter()
        .find(|r| r.stats.unit == d1)
        .unwrap()
        .stats
        .networked;
    network_one(inst1).await;
    let again = Arc::new(AtomicU64::new(0));
    let mut sub = start(store.clone(), "", counting(again.clone())).await;
    let web = sub.web.unwrap().addr;
    wait_until(
        PATIENCE,
        "the edit made while stopped reaches the page",
        || async { cell(&get(web, "/", &cookie).await.1, &d1, 3) == Some(before + 1) },
    )
    .await
    .unwrap();
    assert_eq!(again.load(Ordering::Relaxed), 0, "no second snapshot");
    assert_eq!(sub.state.borrow().snapshot_rows, 0);
    assert!(sub.state.borrow().changes >= 1);

    // Revoked: the open stream ends, following stops, and the page says why in Chinese.
    yinglian_node::federation::membership::revoke_unit(
        &fed.city.store,
        &UnitCode::parse("GA-500000").unwrap(),
    )
    .await
    .unwrap();
    let ended = tokio::time::timeout(PATIENCE, sub.ended())
        .await
        .unwrap()
        .unwrap();
    let Ended::Refused(r) = ended else {
        panic!("refused, not {ended:?}")
    };
    assert_eq!(r.zh, "本单位的订阅证书已被上级吊销");
    let (status, html) = get(web, "/", &cookie).await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        html.contains("订阅已被拒绝：本单位的订阅证书已被上级吊销"),
        "{html}"
    );
    // What it received before stays on the page.
    assert_eq!(cell(&html, &d1, 3), Some(before + 1));
    assert_reads_as_chinese(&html);
    sub.stop().await.unwrap();

    // Enrolled to watch one district, asking for the other: refused at once, said on the page.
    let (_dir2, store2) =
        subscriber(&fed, &fed.city, "GA-500103", &fed.districts[0].code, login).await;
    let mut sub2 = start(store2.clone(), &d1, |_| {}).await;
    let ended = tokio::time::timeout(PATIENCE, sub2.ended())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(ended, Ended::Refused(_)), "{ended:?}");
    let cookie2 = session(&store2, login.0, login.1).await;
    let (_, html) = get(sub2.web.unwrap().addr, "/", &cookie2).await;
    assert!(
        html.contains("订阅已被拒绝：") && html.contains("所请求的范围超出了本单位登记的查看范围"),
        "{html}"
    );
    assert!(html.contains("尚未收到数据"), "{html}");
    assert_reads_as_chinese(&html);
    sub2.stop().await.unwrap();
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_following_before_the_districts_joined_sees_them_arrive() {
    let mut fed = federation(2, 1).await.unwrap();
    for (d, list) in fed.institutions.iter().enumerate() {
        list[0]
            .generate_cameras(fed.districts[d].code.as_str(), 12, d as u64 + 3)
            .await
            .unwrap();
    }
    // Only the city runs when the police starts following: its snapshot is the city alone.
    fed.city.start().await.unwrap();
    let city = fed.city.code.clone();
    let login = ("jingguan", "police pw 2026");
    let (_dir, store) = subscriber(&fed, &fed.city, "GA-500000", &city, login).await;
    let sub = start(store.clone(), "", |_| {}).await;
    let web = sub.web.unwrap().addr;
    let cookie = session(&store, login.0, login.1).await;
    wait_until(PATIENCE, "the snapshot is stored", || async {
        sub.state.borrow().cursor > 0 || sub.state.borrow().snapshot_rows > 0
    })
    .await
    .unwrap();
    // Then the districts and hospitals join: every district's row reaches the page, with the
    // figures the city has.
    fed.start_all().await.unwrap();
    let want = first_hospitals_built(&fed).await;
    wait_until(
        PATIENCE,
        "the page shows every district as the city has it",
        || {
            let (store, cookie) = (fed.city.store.clone(), cookie.clone());
            async move {
                let stats = subtree_stats(&store, None).await.unwrap();
                let (_, html) = get(web, "/", &cookie).await;
                stats.built == want
                    && stats.children.len() == 2
                    && stats.children.iter().all(|d| {
                        cell(&html, &d.unit, 1) == Some(d.built)
                            && cell(&html, &d.unit, 3) == Some(d.networked)
                    })
            }
        },
    )
    .await
    .unwrap();
    sub.stop().await.unwrap();
    fed.stop_all().await;
}
