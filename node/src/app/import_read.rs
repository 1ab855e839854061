//! Reading a sheet file into rows of text cells, within the import's limits: CSV in UTF-8 or
//! GB18030 (rows numbered as a spreadsheet shows them, an unclosed quote refused), and XLSX
//! workbooks checked before they are unpacked.

use std::path::Path;

use calamine::{Data, Reader};

use super::import::{Encoding, FileProblem, ImportError, ImportLimits, Sheet, file_err};

pub(super) fn read_sheet(path: &Path, limits: &ImportLimits) -> Result<Sheet, ImportError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" | "txt" => read_csv(path, limits),
        "xlsx" | "xlsm" | "ods" => {
            check_archive(path, limits)?;
            read_workbook(path, limits)
        }
        "xls" => read_workbook(path, limits),
        _ => Err(file_err(path, FileProblem::UnknownType)),
    }
}

/// Decodes CSV bytes: UTF-8 (a BOM is dropped) or, failing that, GB18030 (which covers GBK) —
/// but only when the bytes read as Chinese text. Any Latin-1 or Windows-1252 text also decodes
/// as GB18030 without error ("Médicale" becomes "M閐icale"), so the bytes must look like what
/// Chinese Excel and WPS write: nearly every two-byte character in the GB2312 range (both bytes
/// 0xA1–0xFE), where an accented Latin letter followed by an ASCII one is not.
pub fn decode_text(bytes: &[u8]) -> Result<String, Encoding> {
    let b = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(b) {
        return Ok(s.to_string());
    }
    if b.starts_with(b"\xFF\xFE") || b.starts_with(b"\xFE\xFF") {
        return Err(Encoding::Utf16);
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(b);
    if had_errors {
        return Err(Encoding::Unknown);
    }
    if !looks_chinese(b) {
        return Err(Encoding::NotChinese(first_non_ascii_word(&text)));
    }
    Ok(text.into_owned())
}

/// Whether GB18030 bytes look like Chinese text: at least 95 % of the multi-byte characters are
/// GB2312 characters (lead 0xA1–0xF7, trail 0xA1–0xFE), where common Chinese lies.
fn looks_chinese(b: &[u8]) -> bool {
    let (mut common, mut other) = (0usize, 0usize);
    let mut i = 0;
    while i < b.len() {
        let lead = b[i];
        if lead < 0x80 {
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(t) if (0x30..=0x39).contains(t) => {
                other += 1;
                i += 4;
            }
            Some(&t) => {
                if (0xA1..=0xF7).contains(&lead) && (0xA1..=0xFE).contains(&t) {
                    common += 1;
                } else {
                    other += 1;
                }
                i += 2;
            }
            None => {
                other += 1;
                i += 1;
            }
        }
    }
    common > 0 && other * 20 <= common
}

/// The first word with a character outside ASCII, cut to 20 characters: what a person would see.
fn first_non_ascii_word(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == '"')
        .find(|w| !w.is_ascii())
        .unwrap_or("")
        .chars()
        .take(20)
        .collect()
}

pub(super) fn too_many_rows(path: &Path, limits: &ImportLimits) -> ImportError {
    file_err(path, FileProblem::TooManyRows(limits.max_rows))
}

fn read_csv(path: &Path, limits: &ImportLimits) -> Result<Sheet, ImportError> {
    let bytes =
        std::fs::read(path).map_err(|e| file_err(path, FileProblem::Read(e.to_string())))?;
    let text = decode_text(&bytes).map_err(|e| file_err(path, FileProblem::Encoding(e)))?;
    drop(bytes);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut rec = csv::StringRecord::new();
    // A row is numbered as a spreadsheet shows the file: blank lines are rows too (the reader
    // skips them), a cell holding line breaks is one row however many lines it spans. A record's
    // last line is where the reader stands after it; its first, that less the line breaks
    // inside its cells; its row, that less the line breaks inside the cells of the rows above.
    let (mut folded, mut folded_above_last) = (0u64, 0u64);
    let bytes = text.as_bytes();
    let last_line = |r: &csv::Reader<&[u8]>| {
        let at = r.position();
        let ended = at.byte() > 0 && bytes.get(at.byte() as usize - 1) == Some(&b'\n');
        at.line().saturating_sub(u64::from(ended)).max(1)
    };
    loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(1, |p| p.line().max(1));
                return Err(file_err(
                    path,
                    FileProblem::Csv {
                        row: line.saturating_sub(folded).max(1) as usize,
                        error: e.to_string(),
                    },
                ));
            }
        }
        if rec
            .iter()
            .any(|c| crate::app::report::csv_text(c).len() != c.len())
        {
            // A cell the sheet's export marked as text (see `csv_cell`), read as that text.
            rec = rec.iter().map(crate::app::report::csv_text).collect();
        }
        let inside: u64 = rec.iter().map(|c| c.matches('\n').count() as u64).sum();
        let first = last_line(&rdr).saturating_sub(inside).max(1);
        let i = first.saturating_sub(folded).max(1) as usize;
        folded_above_last = folded;
        folded += inside;
        // The header and title rows above it count too: a little slack.
        if rows.len() > limits.max_rows + 20 {
            return Err(too_many_rows(path, limits));
        }
        rows.push((i, rec.clone()));
    }
    // A quote that opens a cell and is never closed makes the reader take the rest of the file
    // as that one cell: the quotes of a well-formed file pair up.
    if let Some(at) = unclosed_quote(bytes) {
        // That cell's record is the last read: its row is its line less the line breaks inside
        // the cells of the rows above it.
        let line = bytes[..at].iter().filter(|b| **b == b'\n').count() as u64 + 1;
        let row = line.saturating_sub(folded_above_last).max(1) as usize;
        return Err(file_err(path, FileProblem::UnclosedQuote { row }));
    }
    Ok(Sheet { rows })
}

/// Where CSV `text` opens a quoted cell that it never closes, if it does: a quote opens a cell
/// only at the cell's start, two quotes inside it stand for one, and a quote anywhere else is
/// text (`19"机柜`).
fn unclosed_quote(text: &[u8]) -> Option<usize> {
    let (mut opened, mut at_start) = (None, true);
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if opened.is_some() {
            if b == b'"' {
                if text.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    opened = None;
                }
            }
        } else if b == b'"' && at_start {
            opened = Some(i);
        }
        at_start = opened.is_none() && matches!(b, b',' | b'\n' | b'\r');
        i += 1;
    }
    opened
}

/// Refuses a workbook that would unpack to more than the limits allow (a "zip bomb"), reading
/// only the archive's directory and the head of its shared-strings table.
fn check_archive(path: &Path, limits: &ImportLimits) -> Result<(), ImportError> {
    use std::io::Read;
    let f =
        std::fs::File::open(path).map_err(|e| file_err(path, FileProblem::Read(e.to_string())))?;
    let mut zip = zip::ZipArchive::new(f)
        .map_err(|e| file_err(path, FileProblem::NotWorkbook(e.to_string())))?;
    let mut unpacked: u64 = 0;
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| file_err(path, FileProblem::Damaged(e.to_string())))?;
        unpacked = unpacked.saturating_add(entry.size());
    }
    if unpacked > limits.max_unpacked_bytes {
        return Err(file_err(
            path,
            FileProblem::Unpacks {
                size: unpacked,
                limit: limits.max_unpacked_bytes,
            },
        ));
    }
    if let Ok(entry) = zip.by_name("xl/sharedStrings.xml") {
        let mut head = Vec::new();
        entry
            .take(4096)
            .read_to_end(&mut head)
            .map_err(|e| file_err(path, FileProblem::Damaged(e.to_string())))?;
        let head = String::from_utf8_lossy(&head);
        for attr in ["uniqueCount=\"", "count=\""] {
            let n = head
                .split(attr)
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(n) = n
                && n > limits.max_shared_strings
            {
                return Err(file_err(
                    path,
                    FileProblem::SharedStrings {
                        count: n,
                        limit: limits.max_shared_strings,
                    },
                ));
            }
        }
    }
    Ok(())
}

fn cell_text(c: &Data) -> String {
    match c {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(n) => n.to_string(),
        Data::Float(x) => {
            if x.fract() == 0.0 && x.abs() < 1e15 {
                format!("{}", *x as i64)
            } else if x.abs() >= 1e15 {
                // A long code stored as a number: its last digits are gone. Keep it recognisable.
                format!("{x:e}")
            } else {
                x.to_string()
            }
        }
        Data::Bool(b) => if *b { "是" } else { "否" }.into(),
        Data::DateTime(d) => {
            let days = d.as_f64().floor() as i64;
            let base = chrono::NaiveDate::from_ymd_opt(1899, 12, 30).expect("valid date");
            (base + chrono::Duration::days(days)).to_string()
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

fn read_workbook(path: &Path, limits: &ImportLimits) -> Result<Sheet, ImportError> {
    let mut wb = calamine::open_workbook_auto(path)
        .map_err(|e| file_err(path, FileProblem::Open(e.to_string())))?;
    let first = wb
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| file_err(path, FileProblem::NoSheet))?;
    let range = wb.worksheet_range(&first).map_err(|e| {
        file_err(
            path,
            FileProblem::Sheet {
                sheet: first.clone(),
                error: e.to_string(),
            },
        )
    })?;
    let (row0, col0) = range.start().unwrap_or((0, 0));
    if range.height() > limits.max_rows + 20 {
        return Err(too_many_rows(path, limits));
    }
    let rows = range
        .rows()
        .enumerate()
        .map(|(i, r)| {
            let mut cells = csv::StringRecord::new();
            for _ in 0..col0 {
                cells.push_field("");
            }
            for c in r {
                cells.push_field(&cell_text(c));
            }
            (row0 as usize + i + 1, cells)
        })
        .collect();
    Ok(Sheet { rows })
}
