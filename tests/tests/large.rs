//! Large changes travel in bounded pieces: an import of many thousand rows is written as several
//! changes of bounded size and reaches the district (the ledger) and the city (the figures).

use yinglian_hub::local::wait_until;
use yinglian_node::app::figures::subtree_stats;
use yinglian_node::docs::document::DocId;
use yinglian_tests::{PATIENCE, converge, federation};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_import_reaches_the_district_and_the_city() {
    let mut fed = federation(1, 1).await.unwrap();
    fed.start_all().await.unwrap();
    let (city, district, inst) = (&fed.city, &fed.districts[0], &fed.institutions[0][0]);
    let rows = 3 * yinglian_node::app::import::ROWS_PER_CHANGE + 10;
    let mut csv = String::from("设备编码,点位名称,点位类别,是否已联网,安装地址\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "50010312091320{i:06},门诊楼{i}号点位,{},{},重庆市渝中区某某路{i}号\n",
            1 + i % 3,
            if i % 2 == 0 { "是" } else { "否" }
        ));
    }
    let file = fed.tmp.path().join("large.csv");
    std::fs::write(&file, csv).unwrap();
    let report = yinglian_node::app::import::import_file(&inst.store, &file, "clerk")
        .await
        .unwrap();
    assert_eq!(report.added, rows);
    // Several changes, each of a bounded size.
    let ledger = DocId::ledger(&inst.code);
    let changes = inst
        .store
        .read_document(&ledger, |d| {
            d.get_changes(&[])
                .iter()
                .map(|c| c.raw_bytes().len())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    let big: Vec<_> = changes.iter().filter(|n| **n > 100_000).collect();
    assert!(big.len() >= 3, "{big:?}");
    assert!(
        changes
            .iter()
            .all(|n| *n < yinglian_node::federation::sync::FRAME_BUDGET),
        "{changes:?}"
    );
    converge(inst, &[district], &ledger).await.unwrap();
    wait_until(
        PATIENCE,
        "the city's figures count every imported camera",
        || async { subtree_stats(&city.store, None).await.unwrap().built == rows as u64 },
    )
    .await
    .unwrap();
    fed.stop_all().await;
}
