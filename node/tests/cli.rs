//! `yl-node` driven as a clerk drives it: commands, their output, their refusals, and the store
//! left unchanged after every refusal.

use std::path::PathBuf;
use std::process::{Command, Output};

struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    fn init(unit: &str) -> Node {
        let n = Node {
            dir: tempfile::tempdir().unwrap(),
        };
        n.ok(&["init", "--unit", unit, "--name", "重庆市渝中区人民医院"]);
        n
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_yl-node"))
            .args(args)
            .env("YL_DATA", self.data())
            .env("YL_USER", "tester")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn refused(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(!o.status.success(), "{args:?} should have been refused");
        String::from_utf8(o.stderr).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    fn stats(&self) -> serde_json::Value {
        self.json(&["stats", "--json"])
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

const CAM1: &str = "50010312091320000001";
const CAM2: &str = "50010312091310000002";

#[test]
fn a_clerk_keeps_the_ledger_and_sees_the_figures() {
    let n = Node::init("500103-0001");
    let s = n.stats();
    assert_eq!(s["built"], 0);
    assert!(
        s["networking_rate"].is_null(),
        "a rate over zero cameras is null"
    );

    n.ok(&[
        "camera",
        "add",
        "--code",
        CAM1,
        "--name",
        "门诊大厅",
        "--point-class",
        "一类",
        "--area",
        "重点公共区域",
        "--address",
        "门诊楼一楼",
        "--camera-type",
        "球机",
        "--install-date",
        "2020-05-01",
        "--longitude",
        "106.57",
        "--latitude",
        "29.55",
    ]);
    n.ok(&[
        "camera",
        "add",
        "--code",
        CAM2,
        "--name",
        "停车场",
        "--point-class",
        "3",
    ]);
    let s = n.stats();
    assert_eq!(s["built"], 2);
    assert_eq!(s["must_network"], 1, "class 3 is networked on demand");
    assert_eq!(s["networked"], 0);
    assert_eq!(s["networking_rate"], 0.0);
    assert_eq!(s["archived"], 1);
    assert_eq!(s["archive_rate"], 50.0);
    assert_eq!(s["geo_rate"], 50.0);
    assert_eq!(s["intact_rate_key_public"], 100.0);
    assert!(s["intact_rate_key_industry"].is_null());

    n.ok(&["camera", "edit", CAM1, "--networked", "是"]);
    n.ok(&["camera", "edit", CAM2, "--networked", "是"]);
    let s = n.stats();
    assert_eq!(
        s["must_network"], 2,
        "a networked class 3 point counts as required"
    );
    assert_eq!(s["networking_rate"], 100.0);

    n.ok(&["camera", "edit", CAM1, "--state", "故障"]);
    assert_eq!(n.stats()["intact_rate"], 50.0);
    n.ok(&["camera", "remove", CAM2, "--reason", "重复点位"]);
    let s = n.stats();
    assert_eq!(s["built"], 1, "a removed camera is no longer built");
    let shown = n.json(&["camera", "show", CAM2, "--json"]);
    assert_eq!(shown["state"], "removed");
    assert_eq!(shown["decoded"]["type_code"], 131);

    let list = n.json(&["camera", "list", "--json", "--search", "门诊"]);
    assert_eq!(list["total"], 1);
    assert_eq!(list["cameras"][0]["device_code"], CAM1);

    // The audit log says who changed what, with old and new values.
    let audit = n.json(&["audit", "--record", CAM1, "--json"]);
    let last = &audit[0];
    assert_eq!(last["who"], "tester");
    assert_eq!(last["fields"], "state");
    assert_eq!(last["new"]["state"], "faulty");
    assert!(last["old"]["state"].is_null());
}

#[test]
fn bad_input_is_refused_with_a_reason_and_changes_nothing() {
    let n = Node::init("500103-0001");
    n.ok(&["camera", "add", "--code", CAM1, "--name", "门诊大厅"]);
    let before = n.ok(&["camera", "list", "--json"]);
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "camera",
                "add",
                "--code",
                "50010312091180000003",
                "--name",
                "录像机",
            ],
            "不是摄像机",
        ),
        (
            &["camera", "add", "--code", "123", "--name", "x"],
            "应为20位数字",
        ),
        (
            &["camera", "add", "--code", CAM1, "--name", "again"],
            "台账中已有摄像机",
        ),
        (&["camera", "add", "--code", CAM2], "点位名称必须填写"),
        (
            &[
                "camera",
                "add",
                "--code",
                CAM2,
                "--name",
                "x",
                "--longitude",
                "106.5",
            ],
            "须同时填写",
        ),
        (
            &[
                "camera",
                "add",
                "--code",
                CAM2,
                "--name",
                "x",
                "--longitude",
                "2.1",
                "--latitude",
                "29",
            ],
            "不在我国境内",
        ),
        (
            &[
                "camera",
                "add",
                "--code",
                CAM2,
                "--name",
                "x",
                "--point-class",
                "4",
            ],
            "不是点位类别",
        ),
        (
            &[
                "camera",
                "add",
                "--code",
                CAM2,
                "--name",
                "x",
                "--camera-type",
                "鱼眼",
            ],
            "不是可选的摄像机类型",
        ),
        (
            &["camera", "edit", CAM1, "--networked", "也许"],
            "不是“是”或“否”",
        ),
        (&["camera", "edit", CAM1], "没有要修改的内容"),
        (
            &["camera", "edit", CAM2, "--networked", "是"],
            "台账中没有摄像机",
        ),
        (&["camera", "edit", CAM1, "--clear", "name"], "不能清空"),
        (
            &["camera", "edit", CAM1, "--address", " "],
            "安装地址的值是空的：要清空这个字段请用 --clear address",
        ),
        (
            &[
                "contacts", "set", "--role", "boss", "--name", "x", "--phone", "12345678",
            ],
            "请选分管领导或联络员",
        ),
        (
            &[
                "contacts", "set", "--role", "liaison", "--name", "x", "--phone", "abc",
            ],
            "不是电话号码",
        ),
        (
            &[
                "contacts", "set", "--role", "liaison", "--name", " ", "--phone", "12345678",
            ],
            "姓名必须填写",
        ),
        (&["camera", "list", "--state", "gone"], "“gone”不是可选的值"),
        (&["camera", "lst"], "没有“lst”这个命令，是不是要用 list？"),
        (
            &["camera", "list", "--sort", "bogus"],
            "“bogus”不是 --sort <SORT> 的可选值，可选：code、name、updated",
        ),
        (&["camera", "list", "--json", "--json"], "--json 只能给一次"),
        (&["camera", "edit", CAM1, "--name", ""], "点位名称不能为空"),
        (
            &["camera", "list", "--limit", "many"],
            "--limit <LIMIT> 的值“many”有误：须是整数",
        ),
    ];
    for (args, why) in cases {
        let err = n.refused(args);
        assert!(err.contains(why), "{args:?}: expected '{why}' in: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one-line reason: {err}");
    }
    assert_eq!(n.ok(&["camera", "list", "--json"]), before);
    // Nothing read yet, said so; a contact without a position shows no empty part.
    assert!(n.ok(&["reads"]).contains("还没有人查看过本单位的点位"));
    n.ok(&[
        "contacts",
        "set",
        "--role",
        "leader",
        "--name",
        "王院长",
        "--phone",
        "023-63811234",
    ]);
    let shown = n.ok(&["contacts", "show"]);
    assert!(shown.contains("分管领导  王院长 · 023-63811234"), "{shown}");
    let p = n.json(&["contacts", "show", "--json"]);
    assert!(p["liaison"].is_null());
    // No store: a clear refusal.
    let fresh = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_yl-node"))
        .args(["stats"])
        .env("YL_DATA", fresh.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("请先运行 init"));
    // A request that cannot be written makes no unit (it could not be made again).
    let o = Command::new(env!("CARGO_BIN_EXE_yl-node"))
        .args(["init", "--unit", "500103-0009", "--name", "医院"])
        .args(["--csr-out", "/nonexistent/req.pem"])
        .env("YL_DATA", fresh.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("本单位没有建立"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!fresh.path().join("store.sqlite").exists());
    let o = Command::new(env!("CARGO_BIN_EXE_yl-node"))
        .args([
            "init",
            "--unit",
            "500103-0009",
            "--name",
            "医院",
            "--kind",
            "hospital",
        ])
        .env("YL_DATA", fresh.path())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("单位类型“hospital”未知：请用 city（市级）"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!fresh.path().join("store.sqlite").exists());
}

fn gb18030(text: &str) -> Vec<u8> {
    encoding_rs::GB18030.encode(text).0.into_owned()
}

#[test]
fn import_takes_every_encoding_and_header_language() {
    let n = Node::init("500103-0001");
    let zh = "设备编码,点位名称,点位类别,是否已联网,经度,纬度\n\
              50010312091320000001,门诊大厅,一类,是,106.5,29.5\n\
              50010312091320000002,急诊,二类,否,,\n";
    let gbk = n.file("gbk.csv", &gb18030(zh));
    let out = n.ok(&["camera", "import", gbk.to_str().unwrap()]);
    assert!(out.contains("新增 2 台"), "{out}");
    assert_eq!(
        n.json(&["camera", "show", "50010312091320000001", "--json"])["name"],
        "门诊大厅"
    );

    // UTF-8 with BOM, English headers, a title row above the header; re-import updates.
    let en = "\u{feff}Camera inventory\ndevice_code,name,point_class,networked\n\
              50010312091320000002,急诊入口,2,yes\n50010312091320000003,药房,3,no\n";
    let bom = n.file("bom.csv", en.as_bytes());
    // A sheet made by hand (no 最后修改时间 column) would replace values the ledger holds: refused,
    // each held field named, nothing imported, until the clerk says which side wins.
    let err = n.refused(&["camera", "import", bom.to_str().unwrap()]);
    assert!(
        err.contains("点位名称") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(n.stats()["built"], 2);
    let out = n.ok(&["camera", "import", bom.to_str().unwrap(), "--overwrite"]);
    assert!(out.contains("新增 1 台、修改 1 台"), "{out}");
    let s = n.stats();
    assert_eq!(s["built"], 3);
    assert_eq!(s["networked"], 2);
}

#[test]
fn an_import_with_bad_rows_reports_every_one_and_imports_nothing() {
    let n = Node::init("500103-0001");
    let text = "设备编码,点位名称,经度,纬度,点位类别,摄像机类型,安装时间,设备状态\n\
                50010312091320000001,大门,106.5,29.5,1,球机,2020-01-01,在用\n\
                5.00103E+19,科学计数,,,2,,,\n\
                50010312091320000001,重复,,,,,,\n\
                50010312091320000003,,,,,,,\n\
                50010312091320000004,半个坐标,106.5,,,,,\n\
                50010312091320000005,境外,2.5,10,,,,\n\
                50010312091320000006,类别,,,4,,,\n\
                50010312091320000007,类型,,,,鱼眼,,\n\
                50010312091180000008,录像机,,,,,,\n\
                50010312091320000009,日期,,,,,昨天,\n\
                50010312091320000010,状态,,,,,,失踪\n";
    let f = n.file("bad.csv", &gb18030(text));
    let err = n.refused(&["camera", "import", f.to_str().unwrap()]);
    for expected in [
        "第3行“设备编码”列：设备编码“5.00103E+19”像是被表格软件缩短的数字",
        "第4行“设备编码”列：设备编码50010312091320000001重复：第2行已有",
        "第5行“点位名称”列：点位名称必须填写",
        "第6行“纬度”列：经度和纬度须同时填写",
        "第7行“经度”列：经度填写有误：2.5不在我国境内",
        "第8行“点位类别”列",
        "第9行“摄像机类型”列",
        "第10行“设备编码”列：设备编码“50010312091180000008”的第11–13位类型码118",
        "第11行“安装时间”列",
        "第12行“设备状态”列",
        "10行有错误（共10处），一行也没有导入",
    ] {
        assert!(err.contains(expected), "missing '{expected}' in:\n{err}");
    }
    assert_eq!(n.stats()["built"], 0, "all rows or none");

    let nohead = n.file("nohead.csv", "a,b\n1,2\n".as_bytes());
    assert!(
        n.refused(&["camera", "import", nohead.to_str().unwrap()])
            .contains("没有含“设备编码”（或device_code）列的表头行")
    );
    let utf16 = n.file("utf16.csv", &[0xff, 0xfe, b'a', 0]);
    assert!(
        n.refused(&["camera", "import", utf16.to_str().unwrap()])
            .contains("文件是UTF-16文本")
    );
    let binary = n.file("junk.csv", &[0x81, 0x30, 0xff, 0x00, 0x81]);
    assert!(
        n.refused(&["camera", "import", binary.to_str().unwrap()])
            .contains("已尝试UTF-8和GB18030/GBK")
    );
    // Latin-1 decodes as GB18030 without error ("Médicale" → "M閐icale"): refused, not taken as
    // Chinese, with the encodings that were tried.
    let latin1: Vec<u8> = "设备编码,点位名称\n50010312091320000001,Clinique Médicale\n"
        .replace("设备编码", "device_code")
        .replace("点位名称", "name")
        .chars()
        .map(|c| c as u32 as u8)
        .collect();
    let f = n.file("latin1.csv", &latin1);
    let err = n.refused(&["camera", "import", f.to_str().unwrap()]);
    assert!(
        err.contains("按GB18030/GBK读也不是中文") && err.contains("M閐icale"),
        "{err}"
    );
    assert!(err.contains("可能是Latin-1或Windows-1252编码"), "{err}");
    assert_eq!(n.stats()["built"], 0);
    let pdf = n.file("sheet.pdf", b"%PDF");
    assert!(
        n.refused(&["camera", "import", pdf.to_str().unwrap()])
            .contains("无法识别的文件类型")
    );
}

#[test]
fn xlsx_import_catches_codes_stored_as_numbers() {
    let n = Node::init("500103-0001");
    let path = n.dir.path().join("numbers.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "设备编码").unwrap();
    ws.write_string(0, 1, "点位名称").unwrap();
    ws.write_string(0, 2, "安装时间").unwrap();
    ws.write_string(1, 0, "50010312091320000001").unwrap();
    ws.write_string(1, 1, "文本编码").unwrap();
    let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2021, 3, 9).unwrap();
    let fmt = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    ws.write_datetime_with_format(1, 2, &date, &fmt).unwrap();
    ws.write_number(2, 0, 50010312091320000002.0).unwrap();
    ws.write_string(2, 1, "数字编码").unwrap();
    wb.save(&path).unwrap();
    let err = n.refused(&["camera", "import", path.to_str().unwrap()]);
    assert!(err.contains("第3行“设备编码”列"), "{err}");
    assert!(err.contains("像是被表格软件缩短的数字"), "{err}");
    assert_eq!(n.stats()["built"], 0);
}

#[test]
fn two_replicas_edited_apart_merge_and_show_conflicts() {
    let a = Node::init("500103-0001");
    a.ok(&[
        "camera",
        "add",
        "--code",
        CAM1,
        "--name",
        "门诊大厅",
        "--point-class",
        "1",
    ]);
    let copy = a.dir.path().join("a.ledger");
    a.ok(&["ledger", "save", "--out", copy.to_str().unwrap()]);
    let b = Node::init("500103-0001");
    b.ok(&["ledger", "merge", copy.to_str().unwrap()]);

    // Different fields of one camera.
    a.ok(&["camera", "edit", CAM1, "--address", "门诊楼一楼"]);
    b.ok(&["camera", "edit", CAM1, "--networked", "是"]);
    exchange(&a, &b);
    let ja = a.json(&["camera", "show", CAM1, "--json"]);
    let jb = b.json(&["camera", "show", CAM1, "--json"]);
    assert_eq!(ja, jb_with_time(&jb, &ja));
    assert_eq!(ja["address"], "门诊楼一楼");
    assert_eq!(ja["networked"], true);
    assert_eq!(ja["conflicts"], serde_json::json!({}));
    assert_eq!(a.stats()["networked"], 1);
    assert_eq!(b.stats()["networked"], 1);

    // The same field: kept as a visible conflict on both replicas.
    a.ok(&["camera", "edit", CAM1, "--name", "东门"]);
    b.ok(&["camera", "edit", CAM1, "--name", "西门"]);
    exchange(&a, &b);
    for n in [&a, &b] {
        let shown = n.ok(&["camera", "show", CAM1]);
        assert!(shown.contains("冲突：点位名称（name）"), "{shown}");
        assert!(shown.contains("东门") && shown.contains("西门"), "{shown}");
        let j = n.json(&["camera", "list", "--conflicts", "--json"]);
        assert_eq!(j["total"], 1);
    }
    let ja = a.json(&["camera", "show", CAM1, "--json"]);
    let jb = b.json(&["camera", "show", CAM1, "--json"]);
    assert_eq!(ja["name"], jb["name"], "both replicas pick the same winner");
    assert_eq!(heads(&a), heads(&b), "both replicas end identical");

    // Writing the field again resolves it.
    a.ok(&["camera", "edit", CAM1, "--name", "东门"]);
    assert!(!a.ok(&["camera", "show", CAM1]).contains("冲突"));

    // A file of another unit is refused.
    let other = Node::init("500103-0002");
    let f = other.dir.path().join("o.ledger");
    other.ok(&["ledger", "save", "--out", f.to_str().unwrap()]);
    assert!(
        a.refused(&["ledger", "merge", f.to_str().unwrap()])
            .contains("不是本单位（500103-0001）的文档")
    );
}

fn jb_with_time(jb: &serde_json::Value, ja: &serde_json::Value) -> serde_json::Value {
    let mut j = jb.clone();
    j["updated_at"] = ja["updated_at"].clone();
    j
}

fn heads(n: &Node) -> serde_json::Value {
    n.json(&["ledger", "heads", "--json"])
}

fn exchange(a: &Node, b: &Node) {
    let fa = a.dir.path().join("x.ledger");
    let fb = b.dir.path().join("x.ledger");
    a.ok(&["ledger", "save", "--out", fa.to_str().unwrap()]);
    b.ok(&["ledger", "save", "--out", fb.to_str().unwrap()]);
    a.ok(&["ledger", "merge", fb.to_str().unwrap()]);
    b.ok(&["ledger", "merge", fa.to_str().unwrap()]);
}

#[test]
fn an_import_is_bounded_before_it_costs_memory() {
    let n = Node::init("500103-0001");
    // More rows than allowed.
    let mut csv = String::from("设备编码,点位名称\n");
    for i in 0..150 {
        csv.push_str(&format!("50010312091320{i:06},点位{i}\n"));
    }
    let f = n.file("many.csv", csv.as_bytes());
    let err = n.refused(&["camera", "import", f.to_str().unwrap(), "--max-rows", "100"]);
    assert!(
        err.contains("表格超过100行") && err.contains("--max-rows"),
        "{err}"
    );
    assert_eq!(n.stats()["built"], 0);
    // The same file within a raised limit.
    let out = n.ok(&["camera", "import", f.to_str().unwrap(), "--max-rows", "200"]);
    assert!(out.contains("新增 150 台"), "{out}");

    // A 10 MB cell is refused, quoted by its first characters only.
    let n = Node::init("500103-0002");
    let huge = "长".repeat(10_000_000 / 3);
    let f = n.file(
        "cell.csv",
        format!("设备编码,点位名称\n50010312091320000001,{huge}\n").as_bytes(),
    );
    let err = n.refused(&["camera", "import", f.to_str().unwrap()]);
    assert!(
        err.contains("超过上限2000"),
        "{}",
        &err[..err.len().min(500)]
    );
    assert!(err.len() < 2_000, "the refusal is {} bytes long", err.len());

    // Fifty thousand bad rows: the first hundred are listed, the rest counted.
    let mut csv = String::from("设备编码,点位名称\n");
    for i in 0..50_000 {
        csv.push_str(&format!("bad{i},点位\n"));
    }
    let f = n.file("bad.csv", csv.as_bytes());
    let err = n.refused(&["camera", "import", f.to_str().unwrap()]);
    assert!(err.contains("50000行有错误"), "{}", &err[..300]);
    assert!(err.contains("另有 49900 处"), "{}", &err[err.len() - 300..]);
    assert!(err.lines().count() < 110, "{} lines", err.lines().count());

    // A workbook whose shared-strings table declares thirty million texts, and one that
    // unpacks to more than allowed: refused before it is parsed.
    let bomb = {
        use std::io::Write;
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        z.start_file("xl/sharedStrings.xml", opts).unwrap();
        z.write_all(
            b"<?xml version=\"1.0\"?><sst xmlns=\"x\" count=\"30000000\" uniqueCount=\"30000000\">",
        )
        .unwrap();
        z.write_all(&b"<si><t/></si>".repeat(100_000)).unwrap();
        z.write_all(b"</sst>").unwrap();
        z.finish().unwrap();
        buf.into_inner()
    };
    let f = n.file("bomb.xlsx", &bomb);
    let err = n.refused(&["camera", "import", f.to_str().unwrap()]);
    assert!(err.contains("声明了30000000个共享文本"), "{err}");
    let err = n.refused(&[
        "camera",
        "import",
        f.to_str().unwrap(),
        "--max-unpacked-bytes",
        "100000",
    ]);
    assert!(
        err.contains("解压后") && err.contains("--max-unpacked-bytes"),
        "{err}"
    );
    assert_eq!(n.stats()["built"], 0);
}

#[test]
fn a_clerk_checks_the_ledger_and_a_fix_clears_the_finding() {
    let n = Node::init("500103-0001");
    n.ok(&[
        "camera",
        "add",
        "--code",
        CAM1,
        "--name",
        "门诊大厅",
        "--networked",
        "是",
    ]);
    let rules_of = |code: &str| -> Vec<String> {
        let r = n.json(&["check", "--json"]);
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["device_code"] == code)
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(rules_of(CAM1), ["networked-archive", "networked-geo"]);
    // Coordinates of 万州区, 200 km away from 渝中区.
    n.ok(&[
        "camera",
        "edit",
        CAM1,
        "--longitude",
        "108.40",
        "--latitude",
        "30.70",
    ]);
    assert_eq!(rules_of(CAM1), ["outside-area", "networked-archive"]);
    let text = n.ok(&["check"]);
    assert!(text.contains("坐标超出所在区县"), "{text}");
    assert!(text.contains("不在渝中区范围内"), "{text}");
    n.ok(&[
        "camera",
        "edit",
        CAM1,
        "--longitude",
        "106.57",
        "--latitude",
        "29.55",
        "--address",
        "门诊楼1楼",
        "--camera-type",
        "球机",
        "--point-class",
        "一类",
        "--area",
        "重点公共区域",
        "--install-date",
        "2021-05-01",
    ]);
    assert_eq!(rules_of(CAM1), Vec::<String>::new());
    assert!(n.ok(&["check"]).contains("核查 1 个单位，0 个有问题"));
    // The rules are data; only the root publishes them.
    let rules = n.ok(&["check", "--rules", "--json"]);
    let file = n.file("rules.json", rules.as_bytes());
    let err = n.refused(&["check", "--publish-rules", file.to_str().unwrap()]);
    assert!(err.contains("只有联盟的根单位"), "{err}");
}

#[test]
fn only_the_root_publishes_the_assessments_weights() {
    let n = Node::init("500103-0001");
    let league = n.json(&["league", "--json"]);
    assert_eq!(league["weights"]["networking"], 40.0);
    let file = n.file(
        "w.json",
        br#"{"networking":30,"archive":30,"geo":15,"intact":15,"timeliness":10}"#,
    );
    let err = n.refused(&["league", "--publish-weights", file.to_str().unwrap()]);
    assert!(err.contains("只有联盟的根单位"), "{err}");
    let not_weights = n.file("x.json", b"{\"networking\": 1}");
    let err = n.refused(&["league", "--publish-weights", not_weights.to_str().unwrap()]);
    assert!(err.contains("不是一组权重"), "{err}");
}

/// Every command closes the store before the process exits, so that SQLite moves its
/// write-ahead log into the store and removes it: a command that exited with its connections
/// open left the log beside the store (7.5 MB after a 5,000-row import, in 3 tries of 4).
#[test]
fn a_command_leaves_no_write_ahead_log_behind() {
    let n = Node::init("500103-0001");
    let left = |after: &str| {
        for file in ["store.sqlite-wal", "store.sqlite-shm"] {
            let path = n.data().join(file);
            let size = std::fs::metadata(&path).map(|m| m.len()).ok();
            assert!(
                size.is_none_or(|s| s == 0),
                "after {after}, {} holds {size:?} bytes",
                path.display()
            );
        }
    };
    left("init");
    // Refused: a store is there already; its name was read from it.
    let refused = n.refused(&["init", "--unit", "500103-0002", "--name", "另一家医院"]);
    assert!(refused.contains("500103-0001"), "{refused}");
    left("a refused init");
    let sheet = n.dir.path().join("sheet.csv");
    n.ok(&[
        "sample-sheet",
        "--out",
        sheet.to_str().unwrap(),
        "--rows",
        "2000",
        "--seed",
        "3",
    ]);
    n.ok(&["camera", "import", sheet.to_str().unwrap()]);
    left("an import");
    let imported = n.stats()["built"].as_i64().unwrap();
    assert!(imported > 1000, "{imported} cameras built of 2,000 rows");
    n.ok(&["camera", "add", "--code", CAM1, "--name", "门诊大厅"]);
    left("an addition");
    for round in 0..3 {
        n.ok(&[
            "camera",
            "edit",
            CAM1,
            "--name",
            &format!("门诊大厅{round}"),
        ]);
        left("an edit");
    }
    assert_eq!(n.stats()["built"], imported + 1);
    left("a read");

    // A folder whose store file is empty: refused, and nothing left beside it.
    let empty = Node {
        dir: tempfile::tempdir().unwrap(),
    };
    std::fs::create_dir_all(empty.data()).unwrap();
    std::fs::write(empty.data().join("store.sqlite"), b"").unwrap();
    empty.refused(&["stats"]);
    for file in ["store.sqlite-wal", "store.sqlite-shm"] {
        let size = std::fs::metadata(empty.data().join(file))
            .map(|m| m.len())
            .ok();
        assert!(size.is_none_or(|s| s == 0), "{file}: {size:?} bytes");
    }
}

/// A refused row is named by the row a spreadsheet shows it on: blank lines are rows too, a cell
/// holding line breaks is one row; and `--max-rows` counts the rows below the header exactly.
#[test]
fn a_bad_row_is_named_as_the_spreadsheet_shows_it_and_the_row_limit_is_exact() {
    let n = Node::init("500103-0001");
    let text = "设备编码,点位名称,地址\n\
                \n\
                50010312091320000001,大门,\"一楼\n东侧\"\n\
                \n\
                123,坏编码,\n";
    let f = n.file("blank.csv", text.as_bytes());
    let err = n.refused(&["camera", "import", f.to_str().unwrap()]);
    // The header is row 1, a blank row 2, the camera row 3 (its address on two lines), a blank
    // row 4: the bad code is on row 5.
    assert!(err.contains("第5行“设备编码”列"), "{err}");
    assert_eq!(n.stats()["built"], 0);

    // Every mistake of a row at once: a bad date and no name; a bad code and no name; a
    // longitude outside China is not also reported as a coordinate given alone.
    let text = "设备编码,点位名称,安装时间,经度,纬度\n\
                50010312091320000001,,2021-13-01,,\n\
                123,,,,\n\
                50010312091320000003,西门,,2.5,29.5\n";
    let f = n.file("all.csv", text.as_bytes());
    let err = n.refused(&["camera", "import", f.to_str().unwrap()]);
    for expected in [
        "第2行“安装时间”列",
        "第2行“点位名称”列：点位名称必须填写",
        "第3行“设备编码”列",
        "第3行“点位名称”列：点位名称必须填写",
        "第4行“经度”列",
    ] {
        assert!(err.contains(expected), "missing '{expected}' in:\n{err}");
    }
    assert!(!err.contains("第4行“纬度”列"), "{err}");
    assert!(err.contains("3行有错误（共5处）"), "{err}");

    let mut csv = String::from("设备编码,点位名称\n");
    for i in 0..5 {
        csv.push_str(&format!("5001031209132000000{i},点位{i}\n"));
    }
    let f = n.file("five.csv", csv.as_bytes());
    let err = n.refused(&["camera", "import", f.to_str().unwrap(), "--max-rows", "4"]);
    assert!(err.contains("表格超过4行"), "{err}");
    assert_eq!(n.stats()["built"], 0);
    let out = n.ok(&["camera", "import", f.to_str().unwrap(), "--max-rows", "5"]);
    assert!(out.contains("新增 5 台"), "{out}");
}

/// A quote that opens a cell and never closes would take the rest of the file into one cell: the
/// import is refused at that row. A quote inside a cell (`19"机柜`) is text; a name a spreadsheet
/// would run as a formula comes back from the exported sheet as it was.
#[test]
fn an_unclosed_quote_is_refused_and_a_sheet_round_trip_changes_nothing() {
    let n = Node::init("500103-0001");
    let text = "设备编码,点位名称,地址\n\
                50010312091320000001,\"未闭合,地址\n\
                50010312091320000002,东门,\n";
    let f = n.file("quote.csv", text.as_bytes());
    let err = n.refused(&["camera", "import", f.to_str().unwrap()]);
    assert!(err.contains("第2行有一个引号"), "{err}");
    assert_eq!(n.stats()["built"], 0);

    let text = "设备编码,点位名称,备注\n50010312091320000001,19\"机柜旁,旧\n";
    let f = n.file("inch.csv", text.as_bytes());
    let out = n.ok(&["camera", "import", f.to_str().unwrap()]);
    // A column that names no field is said, not dropped without a word.
    assert!(out.contains("未识别、未导入的列：备注"), "{out}");
    assert_eq!(
        n.json(&["camera", "show", CAM1, "--json"])["name"],
        "19\"机柜旁"
    );

    n.ok(&["camera", "edit", CAM1, "--name", "=SUM(A1)"]);
    // A name that already begins with the mark comes back as it was too.
    n.ok(&["camera", "add", "--code", CAM2, "--name", "'=已有引号"]);
    let sheet = n.dir.path().join("sheet.csv");
    n.ok(&["camera", "sheet", "--out", sheet.to_str().unwrap()]);
    let written = std::fs::read_to_string(&sheet).unwrap();
    assert!(written.contains("'=SUM(A1)"), "{written}");
    let out = n.ok(&["camera", "import", sheet.to_str().unwrap()]);
    assert!(!out.contains("修改 1 台"), "{out}");
    assert_eq!(
        n.json(&["camera", "show", CAM1, "--json"])["name"],
        "=SUM(A1)"
    );
    assert_eq!(
        n.json(&["camera", "show", CAM2, "--json"])["name"],
        "'=已有引号"
    );
}

/// The help a clerk reads is Chinese: the commands, the options, clap's own headings.
#[test]
fn the_help_is_in_chinese() {
    let help = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_yl-node"))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    let top = help(&["--help"]);
    assert!(top.contains("用法：yl-node"), "{top}");
    assert!(top.contains("摄像机档案：新增、修改、撤除"), "{top}");
    assert!(top.contains("显示帮助"), "{top}");
    let add = help(&["help", "camera", "add"]);
    assert!(
        add.contains("点位名称") && add.contains("20位设备编码"),
        "{add}"
    );
    assert_eq!(help(&["camera", "help", "add"]), add);
    // A camera named `help` is a name, not a request for help.
    let d = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_yl-node"))
            .args(args)
            .env("YL_DATA", d.path())
            .output()
            .unwrap()
    };
    assert!(
        run(&["init", "--unit", "500103-0001", "--name", "医院"])
            .status
            .success()
    );
    let o = run(&["camera", "add", "--code", CAM1, "--name", "help"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("已新增摄像机"));
    // A date reads as a date in Chinese, as a moment does.
    let o = run(&["stats", "--as-of", "2021-12-31"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("数据截至 2021年12月31日"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    for english in ["Usage:", "Options:", "Commands:", "Print help"] {
        assert!(
            !top.contains(english) && !add.contains(english),
            "{english}"
        );
    }
}
