//! The official tables: Attachment 1 (联系人信息) and Attachment 2 (联网整合统计表), as XLSX in the
//! layout of the campaign document (title, header fields, columns, total row, A4) or as CSV.
//! Every CSV the project writes goes through `csv_bytes`, which keeps a spreadsheet from running
//! a cell as a formula (`csv_cell`); XLSX cells are written as strings or numbers, never formulas.

use std::path::Path;

use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook};

use crate::docs::profile::Profile;
use crate::domain::contacts::ContactRole;
use crate::domain::figures::{Counts, rate};

/// One row of Attachment 2: a direct subordinate unit (or, for a leaf, the unit itself).
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment2Row {
    pub name: String,
    pub address: String,
    pub counts: Counts,
    /// "name phone" of the liaison.
    pub contact: String,
}

/// The header fields of Attachment 2.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attachment2Header {
    pub unit_name: String,
    pub reviewer: String,
    pub filler: String,
    pub filler_position: String,
    pub phone: String,
    pub date: String,
    /// 数据截至: when the figures were read (now, or the end of the as-of day), as a person reads
    /// it in Beijing time; the figures move while the campaign runs, so a printed copy and a
    /// downloaded file say which moment they show.
    pub as_at: String,
}

pub const A2_COLUMNS: [&str; 8] = [
    "序号",
    "下级部门/单位名称",
    "地址",
    "已建监控（路）",
    "应联网整合监控（路）",
    "已联网整合监控（路）",
    "联网率（%）",
    "联系人及电话",
];

/// A CSV cell as a spreadsheet must show it: a cell that Excel, WPS or LibreOffice would run as a
/// formula (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, so
/// that it is shown as the text it is (OWASP's advice against CSV injection): a contact called
/// `=HYPERLINK("http://x","y")` stays that text. A plain number, such as a figure `-3` or
/// `-1.25`, is left alone: it is a value, not a formula, and a spreadsheet reads it as a number.
pub fn csv_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    // A text that already begins with the mark (`'=x`) gets one more, which `csv_text` takes off.
    let marked = cell
        .strip_prefix('\'')
        .is_some_and(|rest| rest.starts_with(['=', '+', '-', '@', '\t', '\r']));
    if (risky && !is_plain_number(cell)) || marked {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// The text of a CSV cell [`csv_cell`] wrote: the `'` it put before a cell a spreadsheet would
/// run as a formula is taken off again (a spreadsheet shows a leading `'` as no part of the
/// text either), so that a sheet exported and imported unchanged changes nothing.
pub fn csv_text(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if csv_cell(rest) == cell => rest,
        _ => cell,
    }
}

/// `-12`, `-0.5`: an optional minus, digits, at most one decimal point between digits.
fn is_plain_number(cell: &str) -> bool {
    let digits = cell.strip_prefix('-').unwrap_or(cell);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole) && parts.next().is_none_or(all_digits)
}

/// A CSV table as the project writes every CSV: UTF-8 with a byte-order mark (Excel then reads
/// Chinese right), every cell through `csv_cell`.
pub fn csv_bytes<R, C>(records: R) -> anyhow::Result<Vec<u8>>
where
    R: IntoIterator,
    R::Item: IntoIterator<Item = C>,
    C: AsRef<str>,
{
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        for record in records {
            w.write_record(
                record
                    .into_iter()
                    .map(|c| csv_cell(c.as_ref()).into_owned()),
            )?;
        }
        w.flush()?;
    }
    Ok(out)
}

/// A table as an XLSX workbook whose every cell is text, as a clerk edits it in Excel or WPS: a
/// 20-digit device code stays 20 digits (a CSV opened in Excel becomes 5.00103E+19 and is saved
/// so), dates stay as written. The first row is the header, bold and frozen.
pub fn xlsx_text_bytes(sheet_name: &str, rows: &[Vec<String>]) -> anyhow::Result<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(sheet_name)?;
    let text = Format::new().set_num_format("@");
    let head = Format::new().set_bold().set_num_format("@");
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            let f = if r == 0 { &head } else { &text };
            ws.write_string_with_format(r as u32, c as u16, v, f)?;
        }
    }
    if let Some(first) = rows.first() {
        for (c, h) in first.iter().enumerate() {
            let width = if h.contains("编码") { 24.0 } else { 16.0 };
            ws.set_column_width(c as u16, width)?;
            ws.set_column_format(c as u16, &text)?;
        }
        ws.set_freeze_panes(1, 0)?;
    }
    Ok(wb.save_to_buffer()?)
}

/// Whether a file named `path` is the official XLSX layout (otherwise a plain CSV table).
pub fn is_xlsx(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"))
}

fn rate_text(n: u64, d: u64) -> String {
    rate(n, d).map(|r| format!("{r:.2}")).unwrap_or_default()
}

/// What a table shows where a unit has not reported a contact.
pub const NOT_REPORTED: &str = "未报送";

/// The liaison as Attachment 2 shows it, or 未报送.
pub fn contact_line(p: &Profile) -> String {
    p.contact(ContactRole::Liaison)
        .map(|c| format!("{} {}", c.name, c.phone))
        .unwrap_or_else(|| NOT_REPORTED.to_string())
}

/// Attachment 2 as the official XLSX (`xlsx`) or a CSV table.
pub fn attachment2_bytes(
    xlsx: bool,
    h: &Attachment2Header,
    rows: &[Attachment2Row],
) -> anyhow::Result<Vec<u8>> {
    let mut total = Counts::default();
    for r in rows {
        total.add(&r.counts);
    }
    let line = |i: String, r: &Attachment2Row| -> Vec<String> {
        vec![
            i,
            r.name.clone(),
            r.address.clone(),
            r.counts.built.to_string(),
            r.counts.must_network.to_string(),
            r.counts.networked.to_string(),
            rate_text(r.counts.networked, r.counts.must_network),
            r.contact.clone(),
        ]
    };
    let total_line = vec![
        "合计".to_string(),
        String::new(),
        String::new(),
        total.built.to_string(),
        total.must_network.to_string(),
        total.networked.to_string(),
        rate_text(total.networked, total.must_network),
        String::new(),
    ];
    if !xlsx {
        let header = A2_COLUMNS.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let out = csv_bytes(
            std::iter::once(header)
                .chain(
                    rows.iter()
                        .enumerate()
                        .map(|(i, r)| line((i + 1).to_string(), r)),
                )
                .chain(std::iter::once(total_line)),
        )?;
        return Ok(out);
    }
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("统计表")?;
    ws.set_paper_size(9); // A4
    ws.set_landscape();
    ws.set_print_fit_to_pages(1, 0);
    let title = Format::new()
        .set_bold()
        .set_font_size(18)
        .set_align(FormatAlign::Center);
    let plain = Format::new().set_font_size(11);
    let head = Format::new()
        .set_bold()
        .set_text_wrap()
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
        .set_border(FormatBorder::Thin);
    let cell = Format::new().set_border(FormatBorder::Thin).set_text_wrap();
    let num = Format::new()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Right);
    // A rate as the pages show it: two decimals (82.50, not 82.5).
    let pct = num.clone().set_num_format("0.00");
    ws.write_string_with_format(0, 0, "附件2", &plain)?;
    ws.merge_range(1, 0, 1, 7, "公共安全视频监控联网整合统计表", &title)?;
    ws.write_string_with_format(2, 0, format!("单位（盖章）：{}", h.unit_name), &plain)?;
    ws.write_string_with_format(2, 5, format!("审核人：{}", h.reviewer), &plain)?;
    ws.write_string_with_format(3, 0, format!("填表人：{}", h.filler), &plain)?;
    ws.write_string_with_format(3, 2, format!("单位及职务：{}", h.filler_position), &plain)?;
    ws.write_string_with_format(3, 5, format!("联系电话：{}", h.phone), &plain)?;
    // As a person writes it (2021年8月25日); a date given in another form is kept as given.
    let date = chrono::NaiveDate::parse_from_str(&h.date, "%Y-%m-%d")
        .map(crate::app::zh::beijing_date)
        .unwrap_or_else(|_| h.date.clone());
    ws.write_string_with_format(3, 7, format!("填表日期：{date}"), &plain)?;
    ws.write_string_with_format(4, 0, format!("数据截至：{}", h.as_at), &plain)?;
    for (c, name) in A2_COLUMNS.iter().enumerate() {
        ws.write_string_with_format(5, c as u16, *name, &head)?;
    }
    ws.set_row_height(5, 36)?;
    let widths = [6.0, 28.0, 26.0, 11.0, 13.0, 13.0, 10.0, 20.0];
    for (c, w) in widths.iter().enumerate() {
        ws.set_column_width(c as u16, *w)?;
    }
    let write_row =
        |ws: &mut rust_xlsxwriter::Worksheet, r: u32, vals: &[String]| -> anyhow::Result<()> {
            for (c, v) in vals.iter().enumerate() {
                let is_num =
                    ((3..=6).contains(&c) && !v.is_empty()) || (c == 0 && v.parse::<u32>().is_ok());
                if is_num {
                    let f = if c == 6 { &pct } else { &num };
                    ws.write_number_with_format(r, c as u16, v.parse::<f64>()?, f)?;
                } else {
                    ws.write_string_with_format(r, c as u16, v, &cell)?;
                }
            }
            Ok(())
        };
    for (i, r) in rows.iter().enumerate() {
        write_row(ws, 6 + i as u32, &line((i + 1).to_string(), r))?;
    }
    write_row(ws, 6 + rows.len() as u32, &total_line)?;
    let buf = wb.save_to_buffer()?;
    Ok(buf)
}

/// Attachment 1 (the two contacts of each unit given) as the official XLSX (`xlsx`) or CSV.
pub fn attachment1_bytes(xlsx: bool, units: &[Profile]) -> anyhow::Result<Vec<u8>> {
    let mut lines = Vec::new();
    for p in units {
        for role in ContactRole::ALL {
            let c = p
                .contact(role)
                .cloned()
                .unwrap_or_else(|| crate::domain::contacts::Contact {
                    name: NOT_REPORTED.to_string(),
                    ..Default::default()
                });
            lines.push(vec![
                role.chinese().to_string(),
                p.name.clone(),
                c.name,
                c.position,
                c.phone,
                c.remarks,
            ]);
        }
    }
    let columns = ["", "单位名称", "姓名", "职务", "联系电话", "备注"];
    if !xlsx {
        let header = columns.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let out = csv_bytes(std::iter::once(header).chain(lines))?;
        return Ok(out);
    }
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("联系人信息")?;
    ws.set_paper_size(9);
    ws.set_print_fit_to_pages(1, 0);
    let title = Format::new()
        .set_bold()
        .set_font_size(18)
        .set_align(FormatAlign::Center);
    let head = Format::new()
        .set_bold()
        .set_align(FormatAlign::Center)
        .set_border(FormatBorder::Thin);
    let cell = Format::new().set_border(FormatBorder::Thin).set_text_wrap();
    ws.write_string(0, 0, "附件1")?;
    ws.merge_range(1, 0, 1, 5, "公共安全视频监控联网整合联系人信息", &title)?;
    for (c, name) in columns.iter().enumerate() {
        ws.write_string_with_format(3, c as u16, *name, &head)?;
    }
    for (c, w) in [10.0, 28.0, 10.0, 16.0, 16.0, 16.0].iter().enumerate() {
        ws.set_column_width(c as u16, *w)?;
    }
    for (r, l) in lines.iter().enumerate() {
        for (c, v) in l.iter().enumerate() {
            ws.write_string_with_format(4 + r as u32, c as u16, v, &cell)?;
        }
    }
    let buf = wb.save_to_buffer()?;
    Ok(buf)
}

/// Writes through a temporary file and a rename, so that no half-written table is ever left.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use crate::app::zh::Zh;
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes)
        .map_err(|e| anyhow::anyhow!("无法写入 {}：{}", path.display(), e.zh()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("无法写入 {}：{}", path.display(), e.zh())
    })?;
    Ok(())
}

/// One of the two official tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// 附件1: the liaison contacts.
    Attachment1,
    /// 附件2: the networking statistics.
    Attachment2,
}

impl Table {
    /// `attachment1` / `附件1`, `attachment2` / `附件2`.
    pub fn parse(s: &str) -> Option<Table> {
        match s {
            "attachment1" | "附件1" => Some(Table::Attachment1),
            "attachment2" | "附件2" => Some(Table::Attachment2),
            _ => None,
        }
    }

    /// The table's Chinese name (附件1, 附件2).
    pub fn chinese(self) -> &'static str {
        match self {
            Table::Attachment1 => "附件1",
            Table::Attachment2 => "附件2",
        }
    }
}

/// What a person asks of an official table: which, in which format, the header's fields (each
/// defaulting to the unit's liaison and today), and for Attachment 2 the day it stood at.
#[derive(Debug, Clone)]
pub struct TableRequest {
    pub table: Table,
    pub xlsx: bool,
    /// 审核人.
    pub reviewer: String,
    /// 填表人 (default: the liaison).
    pub filler: Option<String>,
    /// 单位及职务 (default: the liaison's position).
    pub position: Option<String>,
    /// 联系电话 (default: the liaison's phone).
    pub phone: Option<String>,
    /// 填表日期 (default: today, Beijing time).
    pub date: Option<String>,
    /// Attachment 2 as it stood at the end of this day.
    pub as_of: Option<chrono::NaiveDate>,
}

impl TableRequest {
    /// The table with every header field at its default.
    pub fn new(table: Table, xlsx: bool) -> TableRequest {
        TableRequest {
            table,
            xlsx,
            reviewer: String::new(),
            filler: None,
            position: None,
            phone: None,
            date: None,
            as_of: None,
        }
    }
}

/// Attachment 2 of this unit: its header (each field defaulting to the liaison and today) and its
/// rows: a hub's direct children (by their own names, 未报送 where a liaison is missing), then a
/// labelled 本级 row when the unit has cameras of its own; a leaf's single row is itself.
pub async fn attachment2(
    store: &crate::store::Store,
    a: &TableRequest,
) -> anyhow::Result<(Attachment2Header, Vec<Attachment2Row>)> {
    let a = a.clone();
    let unit = store.unit().clone();
    let profile = store.profile(unit.as_str()).await?.unwrap_or_default();
    let name = if profile.name.is_empty() {
        store.identity().name.clone()
    } else {
        profile.name.clone()
    };
    let hub = store.identity().is_hub();
    let own = match a.as_of {
        Some(d) => {
            let t = crate::app::history::end_of_day(d);
            let c = crate::app::history::ledger_counts_at(store, &unit, t).await?;
            Counts {
                built: c.built,
                must_network: c.must_network,
                networked: c.networked,
                ..Default::default()
            }
        }
        None => counts_of(&store.stats(unit.as_str()).await?),
    };
    let children = if hub {
        match a.as_of {
            Some(d) => {
                crate::app::figures::stats_as_of(store, None, d)
                    .await?
                    .children
            }
            None => {
                crate::app::figures::subtree_stats(store, None)
                    .await?
                    .children
            }
        }
    } else {
        Vec::new()
    };
    let liaison = profile.liaison.clone().unwrap_or_default();
    let h = Attachment2Header {
        unit_name: name.clone(),
        reviewer: a.reviewer,
        filler: a.filler.unwrap_or(liaison.name.clone()),
        filler_position: a.position.unwrap_or(liaison.position.clone()),
        phone: a.phone.unwrap_or(liaison.phone.clone()),
        date: a
            .date
            .unwrap_or_else(|| crate::domain::figures::beijing_today().to_string()),
        as_at: match a.as_of {
            Some(day) => format!("{} 24:00", crate::app::zh::beijing_date(day)),
            None => crate::app::zh::beijing_time(chrono::Utc::now()),
        },
    };
    let mut rows = Vec::new();
    for c in &children {
        let p = store.profile(&c.unit).await?.unwrap_or_default();
        rows.push(Attachment2Row {
            name: c.name.clone(),
            address: p.address.clone().unwrap_or_default(),
            counts: counts_of(c),
            contact: contact_line(&p),
        });
    }
    if !hub || own.built > 0 {
        rows.push(Attachment2Row {
            name: if hub {
                format!("本级（{name}）")
            } else {
                name.clone()
            },
            address: profile.address.clone().unwrap_or_default(),
            counts: own,
            contact: contact_line(&profile),
        });
    }
    Ok((h, rows))
}

fn counts_of(s: &crate::domain::figures::Stats) -> Counts {
    Counts {
        built: s.built,
        must_network: s.must_network,
        networked: s.networked,
        ..Default::default()
    }
}

/// The official table of this unit (a hub's covers its subtree) as the bytes of its file: the
/// command line writes them to a file, the web pages send them as a download.
pub async fn official_table(
    store: &crate::store::Store,
    a: &TableRequest,
) -> anyhow::Result<Vec<u8>> {
    let a = a.clone();
    let unit = store.unit().clone();
    let profile = store.profile(unit.as_str()).await?.unwrap_or_default();
    let hub = store.identity().is_hub();
    match a.table {
        Table::Attachment1 => {
            // A hub reports its whole subtree; a leaf itself.
            let mut list = vec![profile.clone()];
            if hub {
                for e in crate::app::directory::entries(store, unit.as_str(), &[], None).await? {
                    if e.unit != unit.as_str()
                        && let Some(p) = store.profile(&e.unit).await?
                    {
                        list.push(p);
                    }
                }
            }
            attachment1_bytes(a.xlsx, &list)
        }
        Table::Attachment2 => {
            let (h, rows) = attachment2(store, &a).await?;
            attachment2_bytes(a.xlsx, &h, &rows)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contacts::Contact;

    #[test]
    fn a_cell_a_spreadsheet_would_run_is_written_as_text() {
        for (cell, written) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "'=HYPERLINK(\"http://x\",\"y\")",
            ),
            ("+86 138 0000 0000", "'+86 138 0000 0000"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("-", "'-"),
            ("-1e5", "'-1e5"),
            // Numbers are values, not formulas; ordinary text stays as it is.
            ("-3", "-3"),
            ("-12.50", "-12.50"),
            ("87.50", "87.50"),
            ("张敏", "张敏"),
            ("023-63811234", "023-63811234"),
            ("", ""),
            ("'=已有引号", "''=已有引号"),
            ("'普通", "'普通"),
        ] {
            assert_eq!(csv_cell(cell), written, "{cell:?}");
            assert_eq!(csv_text(&csv_cell(cell)), cell, "{cell:?} read back");
        }
    }

    /// The store of a hospital whose liaison is called like a formula.
    async fn hospital_with_a_formula_contact() -> (tempfile::TempDir, crate::store::Store) {
        let dir = tempfile::tempdir().unwrap();
        let unit = crate::domain::unit::UnitCode::parse("500103-0001").unwrap();
        let store = crate::store::Store::init(
            dir.path(),
            &unit,
            "重庆市渝中区人民医院",
            crate::domain::unit::UnitKind::Institution,
            crate::domain::unit::Role::Node,
        )
        .await
        .unwrap();
        let liaison = Contact {
            name: "=HYPERLINK(\"http://x\",\"y\")".into(),
            position: "@科长".into(),
            phone: "+86 023 6381 1234".into(),
            remarks: String::new(),
        };
        liaison.validate().unwrap();
        store
            .edit(
                &crate::docs::document::DocId::profile(&unit),
                "test",
                "contacts",
                |d| {
                    Ok(crate::docs::profile::set_contact(
                        d,
                        ContactRole::Liaison,
                        &liaison,
                    )?)
                },
            )
            .await
            .unwrap();
        (dir, store)
    }

    async fn export(store: &crate::store::Store, out: &std::path::Path, table: Table) {
        let req = TableRequest::new(table, is_xlsx(out));
        write_atomically(out, &official_table(store, &req).await.unwrap()).unwrap();
    }

    #[tokio::test]
    async fn a_contact_called_like_a_formula_is_exported_as_text() {
        let (dir, store) = hospital_with_a_formula_contact().await;
        // CSV: the cell starts with a quote, so a spreadsheet shows it and runs nothing.
        let csv_path = dir.path().join("attachment1.csv");
        export(&store, &csv_path, Table::Attachment1).await;
        let text = std::fs::read_to_string(&csv_path).unwrap();
        let mut rows = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        let liaison = rows
            .records()
            .map(|r| r.unwrap())
            .find(|r| r.get(0) == Some(ContactRole::Liaison.chinese()))
            .unwrap();
        assert_eq!(&liaison[2], "'=HYPERLINK(\"http://x\",\"y\")");
        assert_eq!(&liaison[3], "'@科长");
        assert_eq!(&liaison[4], "'+86 023 6381 1234");
        assert_eq!(&liaison[1], "重庆市渝中区人民医院");

        // Attachment 2's CSV: the liaison's cell is text, the figures stay numbers.
        let a2 = dir.path().join("attachment2.csv");
        export(&store, &a2, Table::Attachment2).await;
        let text = std::fs::read_to_string(&a2).unwrap();
        assert!(
            text.contains("\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\") +86 023 6381 1234\""),
            "{text}"
        );
        assert!(text.contains("合计,,,0,0,0,,"), "{text}");

        // XLSX: the same text in a string cell, and no formula anywhere.
        use calamine::Reader;
        let xlsx = dir.path().join("attachment1.xlsx");
        export(&store, &xlsx, Table::Attachment1).await;
        let mut wb: calamine::Xlsx<_> = calamine::open_workbook(&xlsx).unwrap();
        let sheet = wb.sheet_names()[0].clone();
        let cells = wb.worksheet_range(&sheet).unwrap();
        assert!(
            cells
                .used_cells()
                .any(|(_, _, v)| v
                    == &calamine::Data::String("=HYPERLINK(\"http://x\",\"y\")".into())),
            "{cells:?}"
        );
        let formulas = wb.worksheet_formula(&sheet).unwrap();
        assert!(
            formulas.used_cells().all(|(_, _, f)| f.is_empty()),
            "{formulas:?}"
        );
    }
}
