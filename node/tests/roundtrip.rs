//! The round trip a clerk makes: import a realistic 5,000-camera sheet, export Attachment 2, and
//! read the XLSX back with an independent reader (Python's openpyxl) to find the same figures.

use std::process::Command;

use yinglian_node::app::sample;

fn yl(data: &std::path::Path, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_yl-node"))
        .args(args)
        .env("YL_DATA", data)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn five_thousand_cameras_round_trip_through_attachment_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sheet = dir.path().join("cameras.xlsx");
    let out = dir.path().join("附件2.xlsx");
    const N: usize = 5000;
    sample::write_sheet(&sheet, "500103", N, 7).unwrap();

    // The expected figures, straight from the generated rows and the campaign's definitions.
    let rows = sample::rows("500103", N, 7);
    let (mut built, mut must, mut networked) = (0u64, 0u64, 0u64);
    for r in &rows {
        // columns: code, name, address, type, class, area, date, lon, lat, networked, state, …
        if r[10] == "已撤除" {
            continue;
        }
        built += 1;
        let net = r[9] == "是";
        networked += net as u64;
        must += (r[4] == "一类" || r[4] == "二类" || net) as u64;
    }
    assert!(built > 4000 && networked > 0 && must > networked);

    yl(
        &data,
        &[
            "init",
            "--unit",
            "500103-0001",
            "--name",
            "重庆市渝中区人民医院",
        ],
    );
    yl(
        &data,
        &[
            "contacts",
            "set",
            "--role",
            "liaison",
            "--name",
            "张敏",
            "--position",
            "保卫科科长",
            "--phone",
            "023-63811234",
        ],
    );
    let imported = yl(&data, &["camera", "import", sheet.to_str().unwrap()]);
    assert!(imported.contains(&format!("新增 {N} 台")), "{imported}");
    yl(
        &data,
        &[
            "export",
            "attachment2",
            "--out",
            out.to_str().unwrap(),
            "--reviewer",
            "李华",
            "--date",
            "2021-08-25",
        ],
    );

    let script = r#"
import json, sys, openpyxl
ws = openpyxl.load_workbook(sys.argv[1]).active
rows = [list(r) for r in ws.iter_rows(values_only=True)]
print(json.dumps({"rows": rows, "rate_format": ws.cell(row=7, column=7).number_format}, ensure_ascii=False))
"#;
    let o = Command::new("python3")
        .args(["-c", script, out.to_str().unwrap()])
        .output()
        .expect("python3 is needed for this test (scripts/test.sh installs openpyxl)");
    assert!(
        o.status.success(),
        "openpyxl could not read the export (run scripts/test.sh, which installs it): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // A rate shows two decimals, as on the pages.
    assert_eq!(read["rate_format"], "0.00");
    let table: Vec<Vec<serde_json::Value>> = serde_json::from_value(read["rows"].clone()).unwrap();
    let text = |r: usize, c: usize| table[r][c].as_str().unwrap_or("").to_string();
    assert_eq!(text(0, 0), "附件2");
    assert_eq!(text(1, 0), "公共安全视频监控联网整合统计表");
    assert_eq!(text(2, 0), "单位（盖章）：重庆市渝中区人民医院");
    assert_eq!(text(2, 5), "审核人：李华");
    assert_eq!(text(3, 0), "填表人：张敏");
    assert_eq!(text(3, 7), "填表日期：2021年8月25日");
    // The moment of the figures (read now, Beijing time).
    assert!(text(4, 0).starts_with("数据截至："), "{}", text(4, 0));
    assert!(text(4, 0).contains('年'), "{}", text(4, 0));
    assert_eq!(text(5, 1), "下级部门/单位名称");
    assert_eq!(text(5, 6), "联网率（%）");
    let row = &table[6];
    assert_eq!(row[0], 1);
    assert_eq!(row[1], "重庆市渝中区人民医院");
    assert_eq!(row[3], built);
    assert_eq!(row[4], must);
    assert_eq!(row[5], networked);
    let rate = (networked as f64 * 10000.0 / must as f64).round() / 100.0;
    assert_eq!(row[6].as_f64().unwrap(), rate);
    assert_eq!(row[7], "张敏 023-63811234");
    let total = &table[7];
    assert_eq!(total[0], "合计");
    assert_eq!(total[3], built);
    assert_eq!(total[5], networked);

    // And `stats --json` says the same.
    let s: serde_json::Value = serde_json::from_str(&yl(&data, &["stats", "--json"])).unwrap();
    assert_eq!(s["built"], built);
    assert_eq!(s["must_network"], must);
    assert_eq!(s["networked"], networked);
    assert_eq!(s["networking_rate"].as_f64().unwrap(), rate);
}
