//! End to end in a real browser: Debian's headless Chromium, driven through chromedriver, against a
//! running city ← district ← institution federation with its web pages. A clerk signs in at the
//! institution, adds a camera and marks it networked; the commission's city dashboard, open in
//! another window, shows the new figure without a reload. Bad input, a missing session and a
//! read-only account are refused on the page. Every page visited is saved as a screenshot under
//! `target/tmp/screenshots/clerk-and-city/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`scripts/test.sh` installs them); without
//! them the test fails and says so, unless `YL_SKIP_BROWSER=1` is set on purpose.

use fantoccini::Locator;
use yinglian_hub::local::wait_until;
use yinglian_node::app::accounts::{self, Role};
use yinglian_node::docs::document::DocId;
use yinglian_tests::browser::*;
use yinglian_tests::{PATIENCE, federation};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_networks_a_camera_and_the_city_dashboard_moves() {
    if skipped() {
        return;
    }
    let mut fed = federation(1, 1).await.unwrap();
    let inst_code = fed.institutions[0][0].code.clone();
    fed.institutions[0][0]
        .generate_cameras("500103", 12, 3)
        .await
        .unwrap();
    fed.start_all().await.unwrap();
    let ledger = DocId::ledger(&inst_code);
    {
        let (inst, district) = (&fed.institutions[0][0], &fed.districts[0]);
        yinglian_tests::converge(inst, &[district], &ledger)
            .await
            .unwrap();
        accounts::add_user(&inst.store, "clerk", Role::Editor, "clerk pw 2026")
            .await
            .unwrap();
        accounts::add_user(&inst.store, "viewer", Role::ReadOnly, "viewer pw 2026")
            .await
            .unwrap();
        accounts::add_user(&district.store, "bureau", Role::ReadOnly, "bureau pw 2026")
            .await
            .unwrap();
        accounts::add_user(
            &fed.city.store,
            "commission",
            Role::ReadOnly,
            "city pw 2026",
        )
        .await
        .unwrap();
    }
    let inst_web = fed.institutions[0][0].serve_web(None).await.unwrap();
    let district_web = fed.districts[0].serve_web(None).await.unwrap();
    let city_web = fed.city.serve_web(None).await.unwrap();
    // Sessions are cookies per host name: the city is opened as localhost, the others by address.
    let inst = format!("http://{inst_web}");
    let district = format!("http://{district_web}");
    let city = format!("http://localhost:{}", city_web.port());
    // The city's figures count the institution's cameras (through the district's rollup).
    let networked_at_inst = || async {
        fed.institutions[0][0]
            .store
            .counts(inst_code.as_str())
            .await
            .unwrap()
            .0
            .networked
    };
    let start = networked_at_inst().await;
    wait_until(
        PATIENCE,
        "the city's figures include the institution",
        || {
            let store = fed.city.store.clone();
            async move {
                yinglian_node::app::figures::subtree_stats(&store, None)
                    .await
                    .map(|s| s.networked == start && s.built > 0)
                    .unwrap_or(false)
            }
        },
    )
    .await
    .unwrap();

    let (_driver, port) = start_driver().await;
    let c = browser(port).await;
    let mut shots = Shots::new(env!("CARGO_TARGET_TMPDIR"), "clerk-and-city");

    // No session: every page sends the browser to sign in.
    c.goto(&format!("{inst}/cameras")).await.unwrap();
    assert_eq!(path(c.current_url().await.unwrap()), "/signin");
    shots.take(&c, "institution-signin").await;
    sign_in(&c, &inst, "clerk", "not the password").await;
    assert!(
        message_beside(&c, "password").await.is_some(),
        "the refusal is beside the password"
    );
    shots.take(&c, "institution-signin-refused").await;
    sign_in(&c, &inst, "clerk", "clerk pw 2026").await;
    assert_eq!(path(c.current_url().await.unwrap()), "/");
    shots.take(&c, "institution-home").await;
    let inst_window = c.window().await.unwrap();

    // The commission's dashboard, in another window, stays open from now on.
    let city_window = c.new_window(false).await.unwrap().handle;
    c.switch_to_window(city_window.clone()).await.unwrap();
    sign_in(&c, &city, "commission", "city pw 2026").await;
    assert_eq!(
        path(c.current_url().await.unwrap()),
        "/",
        "{}",
        text(&c).await
    );
    let cell = "tr[data-unit=\"500103\"] td.networked";
    assert_eq!(
        number(&c, cell).await,
        Some(start),
        "the district's networked count"
    );
    // Marks this very page: a reload would lose it.
    c.execute("window.ylKept = 'same page';", vec![])
        .await
        .unwrap();
    shots.take(&c, "city-dashboard").await;

    // The clerk adds a camera: first with bad fields, refused beside each field, nothing saved.
    c.switch_to_window(inst_window.clone()).await.unwrap();
    c.goto(&format!("{inst}/cameras/new")).await.unwrap();
    shots.take(&c, "camera-new").await;
    let cameras_before = fed.institutions[0][0]
        .store
        .counts(inst_code.as_str())
        .await
        .unwrap()
        .0
        .built;
    fill(&c, "device_code", "1234").await;
    fill(&c, "name", "门诊楼大厅").await;
    // A class is a choice now; a longitude outside China is the other bad field.
    fill(&c, "longitude", "206.5").await;
    fill(&c, "latitude", "29.56").await;
    submit(&c).await;
    assert!(
        message_beside(&c, "device_code").await.is_some(),
        "{}",
        text(&c).await
    );
    assert!(
        message_beside(&c, "longitude").await.is_some(),
        "{}",
        text(&c).await
    );
    assert!(message_beside(&c, "name").await.is_none());
    shots.take(&c, "camera-new-refused").await;
    assert_eq!(
        fed.institutions[0][0]
            .store
            .counts(inst_code.as_str())
            .await
            .unwrap()
            .0
            .built,
        cameras_before,
        "a refused form saves nothing"
    );
    let code = "50010312091320000777";
    fill(&c, "device_code", code).await;
    fill(&c, "point_class", "1").await;
    fill(&c, "longitude", "106.5516").await;
    fill(&c, "address", "门诊楼一层").await;
    fill(&c, "networked", "否").await;
    submit(&c).await;
    assert_eq!(path(c.current_url().await.unwrap()), "/cameras");
    c.goto(&format!("{inst}/cameras?q={code}")).await.unwrap();
    assert!(text(&c).await.contains("门诊楼大厅"));
    shots.take(&c, "cameras-search").await;

    // … then marks it networked on its own form.
    c.goto(&format!("{inst}/cameras/{code}")).await.unwrap();
    shots.take(&c, "camera-edit").await;
    fill(&c, "networked", "是").await;
    submit(&c).await;
    assert_eq!(
        path(c.current_url().await.unwrap()),
        "/cameras",
        "{}",
        text(&c).await
    );
    assert_eq!(networked_at_inst().await, start + 1);

    // The city's dashboard shows it, on the same page.
    c.switch_to_window(city_window.clone()).await.unwrap();
    wait_until(
        PATIENCE,
        "the city dashboard shows one more networked camera",
        || {
            let c = c.clone();
            async move { number(&c, cell).await == Some(start + 1) }
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
        "the dashboard was not reloaded"
    );
    shots.take(&c, "city-dashboard-moved").await;

    // Every other page of the city: drill-down to the camera, directory, status, chart.
    for (p, name) in [
        ("/unit/500103".to_string(), "city-district"),
        (format!("/unit/{inst_code}"), "city-institution"),
        (
            format!("/unit/{inst_code}/cameras"),
            "city-institution-cameras",
        ),
        ("/directory".to_string(), "city-directory"),
        ("/status".to_string(), "city-status"),
        ("/chart.svg".to_string(), "city-chart"),
    ] {
        c.goto(&format!("{city}{p}")).await.unwrap();
        assert_eq!(path(c.current_url().await.unwrap()), p);
        shots.take(&c, name).await;
    }
    c.goto(&format!("{city}/unit/{inst_code}/cameras"))
        .await
        .unwrap();
    assert!(
        text(&c).await.contains(code),
        "the city drills down to the new camera"
    );

    // The district's dashboard.
    sign_in(&c, &district, "bureau", "bureau pw 2026").await;
    // A row per institution, by its name.
    let inst_name = fed.institutions[0][0].store.identity().name.clone();
    assert!(text(&c).await.contains(inst_name.as_str()), "{inst_name}");
    shots.take(&c, "district-dashboard").await;

    // The institution's other pages.
    c.switch_to_window(inst_window.clone()).await.unwrap();
    for (p, name) in [
        ("/cameras", "cameras"),
        ("/cameras?conflicts=1", "conflicts"),
        ("/status", "status"),
        ("/directory", "directory"),
        ("/import", "import"),
        ("/contacts", "contacts"),
    ] {
        c.goto(&format!("{inst}{p}")).await.unwrap();
        assert_eq!(path(c.current_url().await.unwrap()), p);
        shots.take(&c, name).await;
    }

    // The contacts form: a bad phone is refused beside the field.
    fill(&c, "liaison_name", "张敏").await;
    fill(&c, "liaison_position", "保卫科科长").await;
    fill(&c, "liaison_phone", "call me").await;
    submit(&c).await;
    assert!(
        message_beside(&c, "liaison_phone").await.is_some(),
        "{}",
        text(&c).await
    );
    shots.take(&c, "contacts-refused").await;

    // An import with a bad row: every error in the preview, nothing saved.
    let sheet = fed.tmp.path().join("上报表.csv");
    std::fs::write(
        &sheet,
        "设备编码,点位名称,点位类别\n50010312091320000901,住院部,一类\n123,急诊,五类\n",
    )
    .unwrap();
    c.goto(&format!("{inst}/import")).await.unwrap();
    c.find(Locator::Css("input[type=file]"))
        .await
        .unwrap()
        .send_keys(sheet.to_str().unwrap())
        .await
        .unwrap();
    submit(&c).await;
    let preview = text(&c).await;
    assert!(
        preview.contains("1 行有错误（共 2 处），一行也没有导入"),
        "{preview}"
    );
    shots.take(&c, "import-preview-refused").await;
    let built = fed.institutions[0][0]
        .store
        .counts(inst_code.as_str())
        .await
        .unwrap()
        .0
        .built;
    assert_eq!(
        built,
        cameras_before + 1,
        "the refused import saved nothing"
    );

    // A read-only account sees but cannot change.
    c.goto(&format!("{inst}/")).await.unwrap();
    click_and_wait(&c, "form.inline button[type=submit]").await;
    assert_eq!(path(c.current_url().await.unwrap()), "/signin");
    sign_in(&c, &inst, "viewer", "viewer pw 2026").await;
    c.goto(&format!("{inst}/cameras/{code}")).await.unwrap();
    fill(&c, "networked", "否").await;
    submit(&c).await;
    assert!(text(&c).await.contains("只读"), "{}", text(&c).await);
    shots.take(&c, "read-only-refused").await;
    assert_eq!(
        networked_at_inst().await,
        start + 1,
        "the read-only account changed nothing"
    );

    assert!(shots.n >= 20, "{} screenshots", shots.n);
    eprintln!("{} screenshots in {}", shots.n, shots.dir.display());
    // The city's dashboard is still open in its window, its event stream too: the servers stop
    // all the same.
    tokio::time::timeout(PATIENCE, fed.stop_all())
        .await
        .expect("an open dashboard does not hold up a shutdown");
    c.close().await.unwrap();
}
