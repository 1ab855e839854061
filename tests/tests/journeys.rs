//! The users' journeys of issue 14 in a real browser (Debian's headless Chromium through
//! chromedriver), each on a federation of its own with its real web pages, each page saved as a
//! screenshot under `target/tmp/screenshots/<journey>/` and checked to read as Chinese:
//!
//! - a hospital clerk with an Excel sheet imports it, exports the ledger's sheet, edits it and
//!   imports it back (the preview classifies the rows, holds a field changed after the export until
//!   confirmed), works through the worklists on the forms, sees 建档率 and 标注率 rise, pages through
//!   the ledger and reads a camera's history;
//! - a district officer sorts the institutions by a figure, reads the colours against the targets
//!   and the counts of who lags, supervises a camera of the most lagging one and sees the
//!   district's figures move;
//! - the commission reads the city's 合计 row and markers, the league and the printable Attachment
//!   2, and downloads both attachments as workbooks named after the unit.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`scripts/test.sh` installs them); without
//! them the tests fail and say so, unless `YL_SKIP_BROWSER=1` is set on purpose.

use fantoccini::Locator;
use yinglian_hub::local::wait_until;
use yinglian_node::app::accounts::{self, Role};
use yinglian_node::domain::camera::{Field, Value};
use yinglian_node::domain::contacts::ContactRole;
use yinglian_tests::browser::*;
use yinglian_tests::journey::*;
use yinglian_tests::{PATIENCE, federation};

/// One journey at a time: each starts a federation and a browser, and the machine has two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hospital_clerk_imports_a_sheet_completes_the_records_and_sees_the_figures_rise() {
    if skipped() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let mut fed = federation(1, 1).await.unwrap();
    fed.start_all().await.unwrap();
    let (inst_code, inst_name) = {
        let inst = &fed.institutions[0][0];
        accounts::add_user(&inst.store, "clerk", Role::Editor, "clerk pw 2026")
            .await
            .unwrap();
        (inst.code.to_string(), inst.store.identity().name.clone())
    };
    let web = fed.institutions[0][0].serve_web(None).await.unwrap();
    let base = format!("http://{web}");
    let store = fed.institutions[0][0].store.clone();
    let counts = || {
        let (store, unit) = (store.clone(), inst_code.clone());
        async move { store.counts(&unit).await.unwrap().0 }
    };
    let downloads = fed.tmp.path().join("downloads");
    clear_downloads(&downloads);
    let (_driver, port) = start_driver().await;
    let c = browser_saving_to(port, Some(&downloads)).await;
    let mut shots = Shots::new(env!("CARGO_TARGET_TMPDIR"), "clerk");

    sign_in(&c, &base, "clerk", "clerk pw 2026").await;
    assert_eq!(here(&c).await, "/");
    shots.take(&c, "home-before-import").await;

    // The hospital's Excel sheet of 60 cameras, as its clerks keep it.
    let xlsx = fed.tmp.path().join("本院摄像机登记表.xlsx");
    yinglian_node::app::sample::write_sheet(&xlsx, "500103", 60, 5).unwrap();
    follow(&c, "导入").await;
    shots.take(&c, "import").await;
    upload(&c, &xlsx).await;
    let preview = text(&c).await;
    assert!(
        preview.contains("导入预览：本院摄像机登记表.xlsx")
            && preview.contains("共 60 行，全部有效：新增 60 台、修改 0 台、未变 0 台"),
        "{preview}"
    );
    // Every column of the sheet recognised, each named as the ledger names it.
    let columns = column(&c, "识别为").await;
    assert_eq!(columns.len(), 13, "{columns:?}");
    for (header, used_as, _) in &columns {
        assert_eq!(header, used_as, "{columns:?}");
    }
    shots.take(&c, "import-preview-new").await;
    assert_eq!(counts().await.built, 0, "a preview saves nothing");
    submit(&c).await;
    assert!(
        text(&c)
            .await
            .contains("共导入 60 行：新增 60 台、修改 0 台、未变 0 台"),
        "{}",
        text(&c).await
    );
    shots.take(&c, "import-done").await;
    let imported = counts().await;
    assert!(imported.built > 50, "{imported:?}");

    // The ledger's own sheet, downloaded from the import page, carries each row's version.
    follow(&c, "再导入一个表格").await;
    c.find(Locator::LinkText("CSV 格式"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let today = yinglian_node::domain::figures::beijing_today().format("%Y-%m-%d");
    let exported = saved_file(&downloads, ".csv").await;
    assert_eq!(
        exported.file_name().unwrap().to_str().unwrap(),
        format!("{inst_name}-台账-{today}.csv")
    );
    let mut sheet = read_csv(&exported);
    assert_eq!(sheet.len(), 61, "a header and 60 rows");
    let col = |name: &str| {
        sheet[0]
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("a column {name}: {:?}", sheet[0]))
    };
    let (code_col, name_col, address_col) = (col("设备编码"), col("点位名称"), col("安装地址"));
    assert!(sheet[0].last().unwrap().contains("最后修改时间"));
    // A: renamed in the sheet. B: a new address in the sheet, and another one typed on its form
    // after the export. C: renamed in the sheet, and renamed on its form after the export.
    let with_address: Vec<usize> = (1..sheet.len())
        .filter(|&r| !sheet[r][address_col].is_empty())
        .collect();
    let (a, b, cc) = (with_address[0], with_address[1], with_address[2]);
    let code_of = |r: usize| sheet[r][code_col].clone();
    let (code_a, code_b, code_c) = (code_of(a), code_of(b), code_of(cc));
    let (old_name_a, old_address_b) = (sheet[a][name_col].clone(), sheet[b][address_col].clone());
    sheet[a][name_col] = "门诊楼大厅东侧".into();
    sheet[b][address_col] = "住院部3楼护士站".into();
    sheet[cc][name_col] = "表格里的新名称".into();
    let mut new_row = vec![String::new(); sheet[0].len()];
    new_row[code_col] = "50010305091320000999".into();
    new_row[name_col] = "新建停车场入口".into();
    sheet.push(new_row.clone());
    let mut bad_row = new_row;
    bad_row[code_col] = "123".into();
    bad_row[name_col] = "编码写错的一行".into();
    let mut with_error = sheet.clone();
    with_error.push(bad_row);
    let edited = fed.tmp.path().join("台账-修改后.csv");
    let with_error_file = fed.tmp.path().join("台账-有错误.csv");
    std::fs::write(
        &edited,
        yinglian_node::app::report::csv_bytes(sheet.clone()).unwrap(),
    )
    .unwrap();
    std::fs::write(
        &with_error_file,
        yinglian_node::app::report::csv_bytes(with_error).unwrap(),
    )
    .unwrap();

    // Meanwhile B and C are changed on their forms.
    for (code, field, value) in [
        (&code_b, "address", "网页上改的地址"),
        (&code_c, "name", "网页上改的名称"),
    ] {
        visit(&c, &format!("{base}/cameras/{code}")).await;
        fill(&c, field, value).await;
        submit(&c).await;
        assert_eq!(here(&c).await, "/cameras", "{}", text(&c).await);
    }

    // The sheet with a bad row: every error, what the other rows would do, nothing imported.
    follow(&c, "导入").await;
    upload(&c, &with_error_file).await;
    let refused = text(&c).await;
    assert!(
        refused.contains("台账-有错误.csv：1 行有错误")
            && refused.contains("一行也没有导入")
            && refused.contains("其余各行：新增 1 台、修改 3 台、未变 57 台"),
        "{refused}"
    );
    let errors = column(&c, "原因").await;
    assert!(
        errors
            .iter()
            .any(|(row, why, _)| row == "63" && why.contains("设备编码")),
        "{errors:?}"
    );
    shots.take(&c, "import-preview-refused").await;
    assert_eq!(counts().await, imported, "a refused sheet saves nothing");

    // The corrected sheet: the changed rows old → new, the held fields each with a box.
    upload(&c, &edited).await;
    let preview = text(&c).await;
    assert!(
        preview.contains("共 61 行，全部有效：新增 1 台、修改 3 台、未变 57 台")
            && preview.contains("2 处字段在台账中的修改晚于表格导出"),
        "{preview}"
    );
    let changed = column(&c, "修改（台账 → 表格）").await;
    let change_of = |code: &str| {
        changed
            .iter()
            .find(|(row, _, _)| sheet[row.parse::<usize>().unwrap() - 1][code_col] == code)
            .map(|(_, change, _)| change.clone())
            .unwrap_or_else(|| panic!("{code} among the changed rows: {changed:?}"))
    };
    assert_eq!(
        change_of(&code_a),
        format!("点位名称：{old_name_a} → 门诊楼大厅东侧")
    );
    assert!(
        change_of(&code_b).starts_with("安装地址：网页上改的地址 → 住院部3楼护士站")
            && change_of(&code_b).contains("以表格为准覆盖"),
        "{}",
        change_of(&code_b)
    );
    assert!(change_of(&code_c).contains("以表格为准覆盖"));
    assert_ne!(old_address_b, "网页上改的地址");
    assert!(preview.contains("新建停车场入口"), "{preview}");
    shots.take(&c, "import-preview-held").await;
    // B's sheet value is confirmed; C's is not.
    c.find(Locator::XPath(&format!(
        "//tr[td[text()='{code_b}']]//input[@name='ow']"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    submit(&c).await;
    let done = text(&c).await;
    assert!(
        done.contains("共导入 61 行：新增 1 台、修改 2 台、未变 58 台；1 处字段保留台账中较新的值"),
        "{done}"
    );
    shots.take(&c, "import-done-held").await;
    let camera = |code: String| {
        let store = store.clone();
        let unit = inst_code.clone();
        async move { store.camera(&unit, &code).await.unwrap().unwrap().camera }
    };
    assert_eq!(camera(code_a.clone()).await.name(), "门诊楼大厅东侧");
    assert_eq!(
        camera(code_b.clone())
            .await
            .text(yinglian_node::domain::camera::Field::Address),
        Some("住院部3楼护士站"),
        "confirmed: the sheet's value"
    );
    assert_eq!(
        camera(code_c.clone()).await.name(),
        "网页上改的名称",
        "not confirmed: the ledger's newer value is kept"
    );

    // The figures before the worklists.
    follow(&c, "进度概况").await;
    let (archive_before, geo_before) = (
        total_rate(&c, "建档率").await,
        total_rate(&c, "标注率").await,
    );
    shots.take(&c, "home-after-import").await;

    // 缺少建档信息: its count, a row's link to the camera's form, the archive filled with the
    // selects and the date.
    follow(&c, "待办清单").await;
    let now = counts().await;
    let missing = number_after(&text(&c).await, "缺少建档信息（").unwrap();
    assert_eq!(missing, now.built - now.archived, "{}", text(&c).await);
    shots.take(&c, "worklist-archive").await;
    // The camera the sheet added, named only: everything of its archive is missing.
    let row_d = "//tr[td[text()='新建停车场入口']]";
    let missing_d = c
        .find(Locator::XPath(&format!("{row_d}/td[4]")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        missing_d,
        "未填：安装地址、摄像机类型、点位类别、区域类别、安装时间"
    );
    click_on_and_wait(&c, Locator::XPath(&format!("{row_d}//a[text()='去修改']"))).await;
    let fixed = here(&c).await.trim_start_matches("/cameras/").to_string();
    assert_eq!(fixed, "50010305091320000999");
    shots.take(&c, "camera-archive-form").await;
    fill(&c, "address", "门诊楼2楼走廊").await;
    fill(&c, "camera_type", "half-dome").await;
    fill(&c, "point_class", "2").await;
    fill(&c, "area", "key-public").await;
    fill(&c, "install_date", "2021-03-09").await;
    submit(&c).await;
    assert_eq!(here(&c).await, "/cameras", "{}", text(&c).await);
    follow(&c, "待办清单").await;
    assert_eq!(
        number_after(&text(&c).await, "缺少建档信息（"),
        Some(missing - 1)
    );
    assert!(
        !text(&c).await.contains(&fixed),
        "{fixed} left the worklist"
    );

    // 缺少坐标: a longitude outside China is refused beside the field, in Chinese; then filed.
    follow(
        &c,
        &format!(
            "缺少坐标（{} 台）",
            number_after(&text(&c).await, "缺少坐标（").unwrap()
        ),
    )
    .await;
    let untagged = number_after(&text(&c).await, "缺少坐标（").unwrap();
    assert_eq!(untagged, now.built - now.geo_tagged);
    shots.take(&c, "worklist-coordinates").await;
    follow(&c, "去修改").await;
    let tagged_code = here(&c).await.trim_start_matches("/cameras/").to_string();
    let before = counts().await;
    fill(&c, "longitude", "206.5").await;
    fill(&c, "latitude", "29.56").await;
    submit(&c).await;
    let said = message_beside(&c, "longitude").await.unwrap_or_default();
    assert!(
        said.contains("经度") && said.contains("不在我国境内"),
        "{said}"
    );
    assert!(text(&c).await.contains("未保存：有 1 处需要修改"));
    shots.take(&c, "camera-coordinates-refused").await;
    assert_eq!(counts().await, before, "a refused form saves nothing");
    fill(&c, "longitude", "106.5516").await;
    submit(&c).await;
    assert_eq!(here(&c).await, "/cameras", "{}", text(&c).await);
    follow(&c, "待办清单").await;
    follow(&c, &format!("缺少坐标（{} 台）", untagged - 1)).await;
    assert!(!text(&c).await.contains(&tagged_code));

    // The unit's figures rose.
    follow(&c, "进度概况").await;
    let (archive_after, geo_after) = (
        total_rate(&c, "建档率").await,
        total_rate(&c, "标注率").await,
    );
    assert!(
        archive_after > archive_before && geo_after > geo_before,
        "建档率 {archive_before} → {archive_after}, 标注率 {geo_before} → {geo_after}"
    );
    shots.take(&c, "home-figures-rose").await;

    // The ledger, more than one page of it.
    follow(&c, "摄像机台账").await;
    let listed = text(&c).await;
    assert!(
        listed.contains("共 61 条，每页 50 条，第 1 / 2 页"),
        "{listed}"
    );
    shots.take(&c, "cameras-page-1").await;
    follow(&c, "下一页").await;
    assert!(text(&c).await.contains("第 2 / 2 页"));
    let rows = column(&c, "设备编码").await;
    assert_eq!(rows.len(), 11, "the last page: {rows:?}");
    shots.take(&c, "cameras-page-2").await;

    // The history of the camera filed from the worklist: who changed what.
    visit(&c, &format!("{base}/cameras/{fixed}")).await;
    follow(&c, "修改记录").await;
    let history = text(&c).await;
    for want in [
        "clerk（网页）",
        "修改",
        "安装地址：未填 → 门诊楼2楼走廊",
        "摄像机类型：未填 → 半球",
        "点位类别：未填 → 二类",
        "区域类别：未填 → 重点公共区域",
        "安装时间：未填 → 2021年3月9日",
        "新增",
        "点位名称：新建停车场入口",
    ] {
        assert!(history.contains(want), "{want}: {history}");
    }
    shots.take(&c, "camera-history").await;

    // A camera that is not there, and a page past the last: inside the frame, with a way back.
    visit(&c, &format!("{base}/cameras/50010305091320000998")).await;
    let page = text(&c).await;
    assert!(
        page.contains(&inst_name)
            && page.contains("进度概况")
            && page.contains("台账中没有摄像机 50010305091320000998"),
        "{page}"
    );
    shots.take(&c, "camera-not-found").await;
    follow(&c, "返回台账").await;
    assert_eq!(here(&c).await, "/cameras");
    visit(&c, &format!("{base}/cameras?page=7")).await;
    assert!(
        text(&c).await.contains("第 7 页超出范围（共 2 页）"),
        "{}",
        text(&c).await
    );
    shots.take(&c, "cameras-past-the-last").await;
    follow(&c, "末页").await;
    assert!(text(&c).await.contains("第 2 / 2 页"));

    eprintln!("{} screenshots in {}", shots.n, shots.dir.display());
    c.close().await.unwrap();
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_officer_finds_who_lags_and_supervises_a_camera() {
    if skipped() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let mut fed = federation(1, 3).await.unwrap();
    live_campaign(&fed).await;
    // Three hospitals: one has networked what it must and reported its contacts, one is half
    // way, one has not reported a camera.
    fed.institutions[0][0]
        .generate_cameras("500103", 30, 21)
        .await
        .unwrap();
    fed.institutions[0][1]
        .generate_cameras("500103", 30, 22)
        .await
        .unwrap();
    network_all(&fed.institutions[0][1]).await;
    report_contacts(&fed.institutions[0][1], "周建国", "吴敏").await;
    fed.start_all().await.unwrap();
    let district = &fed.districts[0];
    accounts::add_user(&district.store, "officer", Role::Editor, "officer pw 2026")
        .await
        .unwrap();
    figures_cover(district, built(&fed).await).await;
    let web = fed.districts[0].serve_web(None).await.unwrap();
    let base = format!("http://{web}");
    let (_driver, port) = start_driver().await;
    let c = browser(port).await;
    let mut shots = Shots::new(env!("CARGO_TARGET_TMPDIR"), "district");

    sign_in(&c, &base, "officer", "officer pw 2026").await;
    assert_eq!(here(&c).await, "/");
    // A row per institution, the most lagging in networking first; coloured against the targets.
    let networking = column(&c, "联网率").await;
    assert_eq!(networking.len(), 3, "{networking:?}");
    // (A hospital with no figure yet, shown —, comes after those with one.)
    let rates: Vec<Option<f64>> = networking.iter().map(|(_, r, _)| rate(r)).collect();
    assert!(
        rates.windows(2).all(|w| match (w[0], w[1]) {
            (Some(a), Some(b)) => a <= b,
            (a, b) => a.is_some() || b.is_none(),
        }),
        "{networking:?}"
    );
    assert_coloured(&c).await;
    let page = text(&c).await;
    for target in [
        "第二阶段：联网率80%",
        "重点公共区域完好率99%",
        "重点行业领域公共区域完好率95%",
    ] {
        assert!(page.contains(target), "{target}: {page}");
    }
    // The counts of who lags agree with the rows.
    let standing = column(&c, "节点进展").await;
    let count = |s: &str| standing.iter().filter(|(_, v, _)| v == s).count() as u64;
    let built_col = column(&c, "已建").await;
    assert_eq!(card(&c, "进度落后").await, Some(count("进度落后")));
    assert_eq!(card(&c, "已逾期").await, Some(count("已逾期")));
    assert_eq!(
        card(&c, "尚无台账数据").await,
        Some(built_col.iter().filter(|(_, b, _)| b == "0").count() as u64),
        "{built_col:?}"
    );
    assert!(count("已逾期") >= 1, "{standing:?}");
    shots.take(&c, "dashboard").await;

    // Sorted by a chosen figure: 建档率, lowest first, then highest first.
    follow(&c, "建档率%").await;
    assert!(here(&c).await.contains("sort=archive_rate"));
    let archive = |rows: Vec<(String, String, String)>| -> Vec<f64> {
        rows.iter().filter_map(|(_, r, _)| rate(r)).collect()
    };
    let up = archive(column(&c, "建档率").await);
    assert!(up.windows(2).all(|w| w[0] <= w[1]), "{up:?}");
    shots.take(&c, "dashboard-by-archive").await;
    follow(&c, "建档率% ↑").await;
    let down = archive(column(&c, "建档率").await);
    assert!(down.windows(2).all(|w| w[0] >= w[1]), "{down:?}");
    assert_eq!(
        down.iter().rev().collect::<Vec<_>>(),
        up.iter().collect::<Vec<_>>()
    );

    // The most lagging hospital that reported cameras: its figures, then its cameras.
    follow(&c, "进度概况").await;
    let (lagging, _, _) = column(&c, "联网率")
        .await
        .into_iter()
        .find(|(_, r, _)| rate(r).is_some())
        .unwrap();
    let lagging_unit = fed.institutions[0]
        .iter()
        .find(|i| i.store.identity().name == lagging)
        .unwrap()
        .code
        .to_string();
    let row = format!("tr[data-unit=\"{lagging_unit}\"]");
    let must_before: u64 = cell(&c, &row, "应联网").await.unwrap().parse().unwrap();
    let total_before: u64 = cell(&c, "tr.total", "应联网")
        .await
        .unwrap()
        .parse()
        .unwrap();
    follow(&c, &lagging).await;
    assert_eq!(here(&c).await, format!("/unit/{lagging_unit}"));
    shots.take(&c, "institution").await;
    follow(&c, "摄像机明细").await;
    shots.take(&c, "institution-cameras").await;
    // A class-3 camera in service, not networked: the district rules it class 1.
    let classes = column(&c, "点位类别").await;
    let states = column(&c, "设备状态").await;
    let networked = column(&c, "已联网").await;
    let code = (0..classes.len())
        .find(|&i| classes[i].1 == "三类" && states[i].1 == "在用" && networked[i].1 == "否")
        .map(|i| classes[i].0.clone())
        .expect("a class-3 camera in service, not networked");
    follow(&c, &code).await;
    assert_eq!(
        here(&c).await,
        format!("/unit/{lagging_unit}/cameras/{code}")
    );
    let page = text(&c).await;
    assert!(
        page.contains("一机一档（由本单位填报，此处只读）"),
        "{page}"
    );
    // The owner's fields are not on the form: shown, not editable.
    for owner in ["name", "address", "point_class", "networked", "state"] {
        assert!(
            c.find_all(Locator::Css(&format!("[name={owner}]")))
                .await
                .unwrap()
                .is_empty(),
            "{owner} is the hospital's to write"
        );
    }
    shots.take(&c, "supervise").await;
    let name_before = fed.districts[0]
        .store
        .camera(&lagging_unit, &code)
        .await
        .unwrap()
        .unwrap()
        .camera
        .name()
        .to_string();
    // Even a field slipped into the form by hand is not written: only supervision is.
    c.execute(
        "const i = document.createElement('input'); i.type = 'hidden'; i.name = 'name';
         i.value = '区里改的名称'; document.querySelector('form.record').appendChild(i);",
        vec![],
    )
    .await
    .unwrap();
    // The rules are the command line's: a note longer than 500 characters is refused beside it,
    // in Chinese, and nothing is saved.
    fill(&c, "point_class_ruled", "1").await;
    c.execute(
        "document.querySelector('[name=supervision_note]').value = '请'.repeat(501);",
        vec![],
    )
    .await
    .unwrap();
    submit(&c).await;
    let said = message_beside(&c, "supervision_note")
        .await
        .unwrap_or_default();
    assert!(said.contains("督导意见"), "{said}");
    // … and said where the page opens, the field being out of sight below the record.
    assert!(
        text(&c)
            .await
            .contains("未保存：有 1 处需要修改，请按下方标红的提示改正后再保存。"),
        "{}",
        text(&c).await
    );
    shots.take(&c, "supervise-refused").await;
    let unsaved = fed.districts[0]
        .store
        .camera(&lagging_unit, &code)
        .await
        .unwrap()
        .unwrap()
        .camera;
    assert_eq!(unsaved.get(Field::PointClassRuled), None, "nothing saved");
    fill(&c, "point_class_ruled", "1").await;
    fill(&c, "networked_confirmed", "否").await;
    fill(&c, "supervision_note", "一类点位，请于月底前接入区平台").await;
    submit(&c).await;
    assert_eq!(
        here(&c).await,
        format!("/unit/{lagging_unit}/cameras/{code}?saved=1"),
        "{}",
        text(&c).await
    );
    assert!(
        text(&c)
            .await
            .contains(&format!("已保存督导意见，将同步给 {lagging}。")),
        "{}",
        text(&c).await
    );
    let record = fed.districts[0]
        .store
        .camera(&lagging_unit, &code)
        .await
        .unwrap()
        .unwrap()
        .camera;
    assert_eq!(record.name(), name_before, "the owner's field is untouched");
    assert_eq!(record.get(Field::PointClassRuled), Some(&Value::Int(1)));
    shots.take(&c, "supervised").await;

    // The change in the camera's history, by whom.
    follow(&c, "修改记录").await;
    let history = text(&c).await;
    for want in [
        "officer（网页）",
        "核定点位类别：未填 → 一类",
        "督导意见：未填 → 一类点位，请于月底前接入区平台",
    ] {
        assert!(history.contains(want), "{want}: {history}");
    }
    shots.take(&c, "history").await;

    // The district's figures move: one more camera must be networked, there and in the total.
    follow(&c, "进度概况").await;
    wait_until(
        PATIENCE,
        "the dashboard counts the ruled camera",
        || async {
            let _ = c.refresh().await;
            cell(&c, &row, "应联网").await == Some((must_before + 1).to_string())
                && cell(&c, "tr.total", "应联网").await == Some((total_before + 1).to_string())
        },
    )
    .await
    .unwrap();
    assert_coloured(&c).await;
    shots.take(&c, "dashboard-moved").await;

    eprintln!("{} screenshots in {}", shots.n, shots.dir.display());
    c.close().await.unwrap();
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commission_reads_who_lags_the_league_and_downloads_both_attachments() {
    if skipped() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let mut fed = federation(2, 1).await.unwrap();
    live_campaign(&fed).await;
    fed.institutions[0][0]
        .generate_cameras("500103", 30, 31)
        .await
        .unwrap();
    fed.institutions[1][0]
        .generate_cameras("500104", 30, 32)
        .await
        .unwrap();
    network_all(&fed.institutions[1][0]).await;
    report_contacts(&fed.districts[0], "陈晓东", "李丽").await;
    fed.start_all().await.unwrap();
    let city = &fed.city;
    accounts::add_user(&city.store, "commission", Role::ReadOnly, "city pw 2026")
        .await
        .unwrap();
    figures_cover(city, built(&fed).await).await;
    wait_until(
        PATIENCE,
        "the city holds the district's contacts",
        || async {
            city.store
                .profile("500103")
                .await
                .ok()
                .flatten()
                .is_some_and(|p| p.contact(ContactRole::Liaison).is_some())
        },
    )
    .await
    .unwrap();
    let web = fed.city.serve_web(None).await.unwrap();
    let base = format!("http://{web}");
    let downloads = fed.tmp.path().join("downloads");
    clear_downloads(&downloads);
    let (_driver, port) = start_driver().await;
    let c = browser_saving_to(port, Some(&downloads)).await;
    let mut shots = Shots::new(env!("CARGO_TARGET_TMPDIR"), "city");

    sign_in(&c, &base, "commission", "city pw 2026").await;
    assert_eq!(here(&c).await, "/");
    // A row per district and the 合计 row adding them up; every rate marked against its target.
    let built_col = column(&c, "已建").await;
    assert_eq!(built_col.len(), 2, "{built_col:?}");
    let sum = |rows: &[(String, String, String)]| -> u64 {
        rows.iter().map(|(_, v, _)| v.parse::<u64>().unwrap()).sum()
    };
    assert_eq!(
        cell(&c, "tr.total", "单位名称").await.as_deref(),
        Some("合计")
    );
    for header in ["已建", "应联网", "已联网"] {
        let rows = column(&c, header).await;
        assert_eq!(
            cell(&c, "tr.total", header).await,
            Some(sum(&rows).to_string()),
            "{header}: {rows:?}"
        );
    }
    assert_eq!(
        cell(&c, "tr.total", "已建").await,
        Some(built(&fed).await.to_string())
    );
    assert_coloured(&c).await;
    let page = text(&c).await;
    for target in [
        "第二阶段：联网率80%",
        "摸底建档完成",
        "重点公共区域完好率99%",
        "重点行业领域公共区域完好率95%",
    ] {
        assert!(page.contains(target), "{target}: {page}");
    }
    assert_eq!(card(&c, "下级单位").await, Some(2));
    let networking = column(&c, "联网率").await;
    let mut standing = column(&c, "节点进展").await;
    shots.take(&c, "dashboard").await;

    // The league, in the assessment's order: the highest score first, the formula beside.
    follow(&c, "下级排名").await;
    assert!(text(&c).await.contains("考核得分 = 40×联网率"));
    let league: Vec<(String, String, String)> = column(&c, "单位名称").await;
    let scores: Vec<f64> = column(&c, "考核得分")
        .await
        .iter()
        .map(|(_, s, _)| s.parse().unwrap())
        .collect();
    assert_eq!(
        league
            .iter()
            .map(|(rank, _, _)| rank.as_str())
            .collect::<Vec<_>>(),
        ["1", "2"]
    );
    assert!(scores[0] >= scores[1], "{scores:?}");
    // Both districts are there, each with the networking rate of the dashboard.
    let mut names: Vec<&str> = league.iter().map(|(_, n, _)| n.as_str()).collect();
    names.sort();
    let mut want: Vec<&str> = networking.iter().map(|(n, _, _)| n.as_str()).collect();
    want.sort();
    assert_eq!(names, want, "{networking:?}");
    let gap = column(&c, "距目标").await;
    for ((_, r, _), (_, g, _)) in column(&c, "联网率").await.iter().zip(&gap) {
        let r = rate(r).unwrap();
        if r >= 80.0 {
            assert_eq!(g, "已达标");
        } else {
            assert_eq!(g, &format!("差 {:.2}", 80.0 - r));
        }
    }
    // Each standing as on the dashboard, coloured alike.
    let mut league_standing: Vec<(String, String, String)> = column(&c, "节点进展")
        .await
        .into_iter()
        .zip(&league)
        .map(|((_, v, class), (_, name, _))| (name.clone(), v, class))
        .collect();
    standing.sort();
    league_standing.sort();
    assert_eq!(league_standing, standing);
    shots.take(&c, "league").await;

    // Attachment 2 to print: the header fields, a row per district, the total.
    follow(&c, "附件2").await;
    let a2 = text(&c).await;
    assert!(
        a2.contains("公共安全视频监控联网整合统计表")
            && a2.contains("单位（盖章）：重庆市卫生健康委员会"),
        "{a2}"
    );
    let a2_built = column(&c, "已建监控").await;
    assert_eq!(a2_built.len(), 2, "{a2_built:?}");
    assert_eq!(
        cell(&c, "tr.total", "已建监控").await,
        Some(built(&fed).await.to_string())
    );
    assert!(
        !c.find_all(Locator::Css("button#print"))
            .await
            .unwrap()
            .is_empty()
    );
    shots.take(&c, "attachment2-print").await;

    // Both attachments downloaded: named after the unit and the day, each opens as a workbook.
    let today = yinglian_node::domain::figures::beijing_today().format("%Y-%m-%d");
    follow(&c, "进度概况").await;
    for (link, n, expect) in [
        ("下载附件2（统计表）", 2, "500103"),
        ("下载附件1（联系人）", 1, "陈晓东"),
    ] {
        c.find(Locator::LinkText(link))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let name = format!("重庆市卫生健康委员会-附件{n}-{today}.xlsx");
        let file = saved_file(&downloads, &format!("附件{n}-{today}.xlsx")).await;
        assert_eq!(file.file_name().unwrap().to_str().unwrap(), name);
        let rows = workbook_rows(&file);
        assert!(
            rows.iter().flatten().any(|v| v == expect),
            "{expect} in {name}: {rows:?}"
        );
        if n == 2 {
            // The district's row carries the figures the dashboard shows.
            let row = rows
                .iter()
                .find(|r| r.iter().any(|v| v == "500103"))
                .unwrap();
            let (_, dashboard_built, _) = built_col.iter().find(|(u, _, _)| u == "500103").unwrap();
            assert!(row.contains(dashboard_built), "{row:?} {built_col:?}");
        }
    }
    assert_eq!(here(&c).await, "/", "a download leaves the page as it was");

    eprintln!("{} screenshots in {}", shots.n, shots.dir.display());
    c.close().await.unwrap();
    fed.stop_all().await;
}
