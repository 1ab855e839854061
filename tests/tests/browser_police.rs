//! The police officer's journey in a real browser (Debian's headless Chromium through
//! chromedriver): a subscriber enrolled at the city follows its feed and serves its page, as
//! `yl-hub subscribe --web` does. The officer signs in, sees the city's figures per district,
//! and — the page left open — sees a district's figure change without a reload after a hospital
//! clerk marks a camera networked on the hospital's own page. Screenshots of every step are saved
//! under `target/tmp/screenshots/police/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`scripts/test.sh` installs them); without
//! them the test fails and says so, unless `YL_SKIP_BROWSER=1` is set on purpose.

use fantoccini::Locator;
use yinglian_hub::local::wait_until;
use yinglian_node::app::accounts::{self, Role};
use yinglian_node::app::figures::subtree_stats;
use yinglian_node::domain::figures::CameraFlags;
use yinglian_tests::browser::*;
use yinglian_tests::police::{first_hospitals_built, seed_first_hospitals, start, subscriber};
use yinglian_tests::{PATIENCE, federation};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_police_officer_sees_the_city_per_district_and_a_clerks_edit_live() {
    if skipped() {
        return;
    }
    let mut fed = federation(2, 1).await.unwrap();
    seed_first_hospitals(&fed, 16, 5).await;
    fed.start_all().await.unwrap();
    let want = first_hospitals_built(&fed).await;
    wait_until(PATIENCE, "the city's totals are caught up", || async {
        subtree_stats(&fed.city.store, None).await.unwrap().built == want
    })
    .await
    .unwrap();
    let city = fed.city.code.clone();
    let (_dir, police) = subscriber(
        &fed,
        &fed.city,
        "GA-500000",
        &city,
        ("jingguan", "police pw 2026"),
    )
    .await;
    let sub = start(police.clone(), "", |_| {}).await;
    let police_web = format!("http://{}", sub.web.unwrap().addr);
    accounts::add_user(
        &fed.institutions[0][0].store,
        "clerk",
        Role::Editor,
        "clerk pw 2026",
    )
    .await
    .unwrap();
    let inst_web = format!(
        "http://{}",
        fed.institutions[0][0].serve_web(None).await.unwrap()
    );

    let (_driver, port) = start_driver().await;
    let c = browser(port).await;
    let mut shots = Shots::new(env!("CARGO_TARGET_TMPDIR"), "police");

    // No session: the page sends the officer to sign in.
    c.goto(&format!("{police_web}/")).await.unwrap();
    assert_eq!(path(c.current_url().await.unwrap()), "/signin");
    shots.take(&c, "police-signin").await;
    sign_in(&c, &police_web, "jingguan", "police pw 2026").await;
    assert_eq!(
        path(c.current_url().await.unwrap()),
        "/",
        "{}",
        text(&c).await
    );

    // The city's figures per district, as the city's dashboard has them.
    let stats = subtree_stats(&fed.city.store, None).await.unwrap();
    assert_eq!(stats.children.len(), 2);
    for d in &stats.children {
        let row = format!("tr[data-unit=\"{}\"]", d.unit);
        wait_until(PATIENCE, "the page shows the district", || {
            let (c, css) = (c.clone(), format!("{row} td.networked"));
            async move { number(&c, &css).await == Some(d.networked) }
        })
        .await
        .unwrap();
        let cells = c
            .find(Locator::Css(&row))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            cells.starts_with(&format!("{} {} {}", d.name, d.built, d.must_network)),
            "{cells}"
        );
    }
    let page = text(&c).await;
    assert!(page.contains("公安视图 · 重庆市卫生健康委员会"), "{page}");
    assert!(page.contains("订阅状态：已连接"), "{page}");
    assert!(page.contains("合计") && page.contains("最近变更"), "{page}");
    // Nothing to change on it: the only form is the sign-out.
    assert_eq!(
        c.find_all(Locator::Css("form")).await.unwrap().len(),
        1,
        "{page}"
    );
    // Marks this very page: a reload would lose it.
    c.execute("window.ylKept = 'same page';", vec![])
        .await
        .unwrap();
    shots.take(&c, "police-view").await;
    let police_window = c.window().await.unwrap();

    // A clerk of the first district's hospital marks a camera networked on the hospital's page.
    let d0 = fed.districts[0].code.to_string();
    let cell = format!("tr[data-unit=\"{d0}\"] td.networked");
    let before = number(&c, &cell).await.unwrap();
    let inst = &fed.institutions[0][0];
    let (rows, _) = inst
        .store
        .cameras(inst.code.as_str(), &Default::default())
        .await
        .unwrap();
    let code = rows
        .iter()
        .find(|r| {
            let f = CameraFlags::of(&r.camera);
            f.built && f.must_network && !f.networked
        })
        .expect("a camera to network")
        .camera
        .device_code
        .to_string();
    let clerk_window = c.new_window(false).await.unwrap().handle;
    c.switch_to_window(clerk_window).await.unwrap();
    sign_in(&c, &inst_web, "clerk", "clerk pw 2026").await;
    c.goto(&format!("{inst_web}/cameras/{code}")).await.unwrap();
    fill(&c, "networked", "是").await;
    shots.take(&c, "clerk-marks-networked").await;
    submit(&c).await;
    assert_eq!(
        path(c.current_url().await.unwrap()),
        "/cameras",
        "{}",
        text(&c).await
    );

    // The police page, still open, shows it without a reload, among the latest changes too.
    c.switch_to_window(police_window).await.unwrap();
    wait_until(
        PATIENCE,
        "the police page shows one more networked camera in the district",
        || {
            let (c, cell) = (c.clone(), cell.clone());
            async move { number(&c, &cell).await == Some(before + 1) }
        },
    )
    .await
    .unwrap();
    let kept = c
        .execute("return window.ylKept || null;", vec![])
        .await
        .unwrap();
    assert_eq!(
        kept,
        serde_json::json!("same page"),
        "the page was not reloaded"
    );
    assert!(
        c.find(Locator::Css(&format!(
            "table.changes tr[data-unit=\"{d0}\"]"
        )))
        .await
        .is_ok(),
        "{}",
        text(&c).await
    );
    shots.take(&c, "police-view-moved").await;

    // The district's hospitals, one click down.
    c.find(Locator::Css(&format!("a[href=\"/unit/{d0}\"]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(PATIENCE, "the district's page", || async {
        c.current_url()
            .await
            .is_ok_and(|u| u.path() == format!("/unit/{d0}"))
    })
    .await
    .unwrap();
    let hospital = format!("tr[data-unit=\"{}\"] td.networked", inst.code);
    assert_eq!(
        number(&c, &hospital).await,
        Some(
            inst.store
                .counts(inst.code.as_str())
                .await
                .unwrap()
                .0
                .networked
        )
    );
    shots.take(&c, "police-district").await;

    c.close().await.unwrap();
    sub.stop().await.unwrap();
    fed.stop_all().await;
}
