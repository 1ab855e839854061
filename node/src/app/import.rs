//! Spreadsheet import of camera records: CSV as Chinese Excel and WPS write it (UTF-8 with or
//! without BOM, GB18030/GBK) and XLSX, Chinese or English headers. All rows or none: every bad row
//! is reported with its row number, column and reason, and nothing is saved.

use std::collections::HashMap;
use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::docs::document::DocId;
use crate::docs::ledger;
use crate::domain::camera::{Camera, Field, FieldError};
use crate::domain::device_code::{DeviceCode, DeviceCodeError};
use crate::store::{Store, StoreError};

pub use super::import_read::decode_text;
use super::import_read::{read_sheet, too_many_rows};

/// One refusal: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The row number as the spreadsheet program shows it (1-based, the header row included).
    pub row: usize,
    /// The column header as written in the file.
    pub column: String,
    pub reason: Reason,
}

/// Why a row is refused (English here, for the command line; Chinese in `app::zh`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error(
        "the cell holds {chars} characters, over the limit of {limit} (it begins \"{begins}\")"
    )]
    CellTooLong {
        chars: usize,
        limit: usize,
        begins: String,
    },
    #[error("duplicate device code {code}: already on row {first}")]
    Duplicate { code: DeviceCode, first: usize },
    #[error("{}", shorten(.0.to_string()))]
    Code(DeviceCodeError),
    #[error("{}", shorten(.0.to_string()))]
    Field(FieldError),
    #[error(
        "\"{0}\" is not a last-change time as the system exports it (like 2026年11月26日 10:01:23.468); when unsure, empty the cell"
    )]
    Stamp(String),
}

/// Why a whole file is refused (English here, for the command line; Chinese in `app::zh`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileProblem {
    #[error("cannot read: {0}")]
    Read(String),
    #[error(
        "the file is {size} bytes, over the limit of {limit} bytes (--max-file-bytes); split it into several files"
    )]
    TooBig { size: u64, limit: u64 },
    #[error(
        "unknown file type: give a .csv or .xlsx file (in WPS or Excel: Save As → CSV or Excel Workbook)"
    )]
    UnknownType,
    #[error("{0}")]
    Encoding(Encoding),
    #[error("row {row}: {error}")]
    Csv { row: usize, error: String },
    #[error("row {row}: a quote (\") opens a cell that no quote closes")]
    UnclosedQuote { row: usize },
    #[error("not an Excel workbook (.xlsx): {0}")]
    NotWorkbook(String),
    #[error("the workbook is damaged: {0}")]
    Damaged(String),
    #[error(
        "the workbook unpacks to {size} bytes, over the limit of {limit} (--max-unpacked-bytes)"
    )]
    Unpacks { size: u64, limit: u64 },
    #[error(
        "the workbook declares {count} shared texts, over the limit of {limit} (--max-shared-strings)"
    )]
    SharedStrings { count: u64, limit: u64 },
    #[error("cannot open the workbook: {0}")]
    Open(String),
    #[error("the workbook has no sheet")]
    NoSheet,
    #[error("cannot read sheet {sheet}: {error}")]
    Sheet { sheet: String, error: String },
    #[error(
        "the sheet has more than {0} rows, the limit of one import (--max-rows); split it into several files"
    )]
    TooManyRows(usize),
    #[error(
        "no header row with a device code column (设备编码 or device_code) in the first 20 rows"
    )]
    NoHeader,
    #[error(
        "column \"{0}\" is a supervision field, written by the supervising level, not imported"
    )]
    SupervisionColumn(String),
    #[error("columns {first} and {second} both hold {key}")]
    SameColumn {
        first: String,
        second: String,
        key: String,
    },
    #[error("no point name column (点位名称 or name)")]
    NoNameColumn,
    #[error("no camera rows below the header row")]
    NoRows,
}

pub(super) const TRIED: &str =
    "tried UTF-8 and GB18030/GBK; save it in WPS or Excel as CSV (UTF-8) or as an Excel workbook";

/// Why a CSV file's bytes are not text this import reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Encoding {
    #[error(
        "the file is UTF-16 text (\"Unicode text\"); save it as CSV (UTF-8) or as an Excel workbook"
    )]
    Utf16,
    #[error("the file's text encoding is not known ({TRIED})")]
    Unknown,
    #[error(
        "the file is not UTF-8, and read as GB18030/GBK it is not Chinese text (it would read \"{0}\"): it may be Latin-1 or Windows-1252 ({TRIED})"
    )]
    NotChinese(String),
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "row {}, column {}: {}",
            self.row, self.column, self.reason
        )
    }
}

/// 一次导入可占用的上限
///
/// 读文件之前和读的过程中都会检查，损坏或恶意的文件会被拒绝，不会耗尽本机内存。每一项都可在命令行上调高（`camera import --max-rows …`）。
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportLimits {
    /// 可接受的最大文件，单位为字节（默认 64 MiB）
    #[arg(long = "max-file-bytes", default_value_t = ImportLimits::DEFAULT.max_file_bytes)]
    pub max_file_bytes: u64,
    /// 一次导入最多的行数（默认 250,000）
    #[arg(long = "max-rows", default_value_t = ImportLimits::DEFAULT.max_rows)]
    pub max_rows: usize,
    /// 一个单元格最多的字符数（默认 2,000）
    #[arg(long = "max-cell-chars", default_value_t = ImportLimits::DEFAULT.max_cell_chars)]
    pub max_cell_chars: usize,
    /// XLSX 工作簿共享字符串表中最多的不同文本数（默认 2,000,000）
    #[arg(long = "max-shared-strings", default_value_t = ImportLimits::DEFAULT.max_shared_strings)]
    pub max_shared_strings: u64,
    /// XLSX 工作簿解压后的最大大小，单位为字节（默认 512 MiB）
    #[arg(long = "max-unpacked-bytes", default_value_t = ImportLimits::DEFAULT.max_unpacked_bytes)]
    pub max_unpacked_bytes: u64,
}

impl ImportLimits {
    pub const DEFAULT: ImportLimits = ImportLimits {
        max_file_bytes: 64 << 20,
        max_rows: 250_000,
        max_cell_chars: 2_000,
        max_shared_strings: 2_000_000,
        max_unpacked_bytes: 512 << 20,
    };
}

impl Default for ImportLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A reason that quotes a long cell: its head and its tail, not the whole cell.
fn shorten(reason: String) -> String {
    let n = reason.chars().count();
    if n <= 200 {
        return reason;
    }
    let head: String = reason.chars().take(120).collect();
    let tail: String = reason.chars().skip(n - 60).collect();
    format!("{head}…{tail}")
}

/// Bad rows listed one by one in a refusal; the rest are counted.
pub const MAX_LISTED_ERRORS: usize = 100;

/// The first characters of a cell, as a refusal quotes it.
pub fn quote(cell: &str) -> String {
    let mut q: String = cell.chars().take(40).collect();
    if q.len() < cell.len() {
        q.push('…');
    }
    q
}

/// A device code that stands in for a refused one while the rest of its row is checked.
const STAND_IN_CODE: &str = "50010312091320000001";

/// The first [`MAX_LISTED_ERRORS`] of `items`, indented, a line each, and then what `more` says of
/// the rest (how many more, of how many), if there are more.
pub fn first_listed<T>(
    items: &[T],
    line: impl Fn(&T) -> String,
    more: impl Fn(usize, usize) -> String,
) -> String {
    let mut lines: Vec<String> = items
        .iter()
        .take(MAX_LISTED_ERRORS)
        .map(|i| format!("  {}", line(i)))
        .collect();
    if items.len() > MAX_LISTED_ERRORS {
        lines.push(format!(
            "  {}",
            more(items.len() - MAX_LISTED_ERRORS, items.len())
        ));
    }
    lines.join("\n")
}

fn listed(errors: &[RowError]) -> String {
    first_listed(
        errors,
        |e| e.to_string(),
        |more, all| {
            format!("… and {more} more (the first {MAX_LISTED_ERRORS} of {all} are listed)")
        },
    )
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}: {1}")]
    File(PathBuf, FileProblem),
    #[error("{file}: {} bad row(s), nothing was imported:\n{}", errors.len(), listed(errors))]
    Rows {
        file: PathBuf,
        errors: Vec<RowError>,
    },
    #[error("{file}：{} 处字段在台账中的修改晚于表格导出，未导入任何一行（确认以表格为准请加 --overwrite，保留台账的值请加 --keep-newer）：\n{}", fields.len(), listed_held(fields))]
    Held {
        file: PathBuf,
        fields: Vec<HeldField>,
    },
    #[error("{0}")]
    Store(Box<StoreError>),
}

/// A field an import would overwrite though the ledger's value may be newer than the sheet's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldField {
    pub row: usize,
    pub code: String,
    pub field: Field,
    /// The ledger's value, as a person reads it.
    pub old: Option<String>,
    /// The sheet's value, as a person reads it.
    pub new: String,
    /// When the ledger's value was written (Beijing time), when known.
    pub ledger_at: Option<String>,
}

impl fmt::Display for HeldField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "第 {} 行 {} {}：台账为“{}”（{}），表格为“{}”",
            self.row,
            self.code,
            self.field.chinese(),
            self.old.as_deref().unwrap_or("未填"),
            self.ledger_at
                .as_ref()
                .map(|t| format!("{t} 修改"))
                .unwrap_or_else(|| "修改时间不详".into()),
            self.new
        )
    }
}

fn listed_held(fields: &[HeldField]) -> String {
    first_listed(
        fields,
        |h| h.to_string(),
        |more, _| format!("……另有 {more} 处（只列出前 {MAX_LISTED_ERRORS} 处）"),
    )
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> Self {
        ImportError::Store(Box::new(e))
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    pub rows: usize,
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Fields left as the ledger has them: changed there after the sheet was exported, and not
    /// confirmed to be overwritten.
    pub kept_newer: usize,
    /// The headers of the sheet's columns that name no field, and were not imported.
    pub ignored_columns: Vec<String>,
}

/// What a column of the sheet was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnUse {
    /// 设备编码: the record's key.
    DeviceCode,
    /// A field of the record.
    Field(Field),
    /// 最后修改时间: when the row's camera last changed, as the system exported it.
    Stamp,
    /// Not a column the ledger knows: left out.
    Ignored,
}

/// One column of the header row and what it was read as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetColumn {
    /// The header as written in the file.
    pub header: String,
    pub used_as: ColumnUse,
}

/// One good row of a sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetRow {
    /// The row number as the spreadsheet program shows it.
    pub row: usize,
    pub camera: Camera,
    /// When the camera last changed as the sheet was exported (`None`: the sheet does not say).
    pub stamp: Option<chrono::DateTime<chrono::Utc>>,
}

/// A sheet read and checked: its good rows, every error, and what each column was read as.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSheet {
    pub rows: Vec<SheetRow>,
    pub errors: Vec<RowError>,
    pub columns: Vec<SheetColumn>,
}

/// The headers of the column that carries each row's last-change stamp.
pub const STAMP_HEADERS: &[&str] = &["最后修改时间", "last_changed"];

/// A sheet read into text cells, with the spreadsheet row number of each row.
pub(super) struct Sheet {
    /// Each row's cells in one buffer (a `StringRecord`): a sheet of 200,000 rows costs its text
    /// and little more.
    pub(super) rows: Vec<(usize, csv::StringRecord)>,
}

/// Reads and checks every row of `path`; returns the cameras or every error found.
pub fn read_cameras(path: &Path) -> Result<Vec<Camera>, ImportError> {
    read_cameras_with(path, &ImportLimits::default())
}

/// `read_cameras` within `limits`.
pub fn read_cameras_with(path: &Path, limits: &ImportLimits) -> Result<Vec<Camera>, ImportError> {
    let sheet = read_sheet_rows(path, limits)?;
    if !sheet.errors.is_empty() {
        return Err(ImportError::Rows {
            file: path.to_path_buf(),
            errors: sheet.errors,
        });
    }
    Ok(sheet.rows.into_iter().map(|r| r.camera).collect())
}

/// Reads and checks every row of `path` within `limits`: the good rows and every bad one (a file
/// that cannot be read as a sheet at all is an error).
pub fn read_sheet_rows(path: &Path, limits: &ImportLimits) -> Result<ParsedSheet, ImportError> {
    let size = std::fs::metadata(path)
        .map_err(|e| file_err(path, FileProblem::Read(e.to_string())))?
        .len();
    if size > limits.max_file_bytes {
        return Err(file_err(
            path,
            FileProblem::TooBig {
                size,
                limit: limits.max_file_bytes,
            },
        ));
    }
    let sheet = read_sheet(path, limits)?;
    parse_rows(path, &sheet, limits)
}

pub(super) fn file_err(path: &Path, why: FileProblem) -> ImportError {
    ImportError::File(path.to_path_buf(), why)
}

/// The device code column accepts these headers besides `device_code` and 设备编码.
const CODE_HEADERS: &[&str] = &[
    "device_code",
    "设备编码",
    "设备目录编码",
    "国标编码",
    "编码",
    "code",
];

enum Column {
    Code,
    Field(Field),
    Stamp,
    Ignored,
}

fn parse_rows(
    path: &Path,
    sheet: &Sheet,
    limits: &ImportLimits,
) -> Result<ParsedSheet, ImportError> {
    // The header row is the first row naming the device code column (titles may stand above it).
    let header_at = sheet
        .rows
        .iter()
        .take(20)
        .position(|(_, cells)| {
            cells.iter().any(|c| {
                CODE_HEADERS.contains(
                    &c.trim()
                        .trim_start_matches('\u{feff}')
                        .to_lowercase()
                        .as_str(),
                )
            })
        })
        .ok_or_else(|| file_err(path, FileProblem::NoHeader))?;
    let headers = &sheet.rows[header_at].1;
    let mut columns = Vec::new();
    let mut recognised = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim().trim_start_matches('\u{feff}');
        let col = if CODE_HEADERS.contains(&h.to_lowercase().as_str()) {
            Column::Code
        } else if STAMP_HEADERS.contains(&h.to_lowercase().as_str()) {
            Column::Stamp
        } else if let Some(f) = Field::lookup(h) {
            if f.is_supervision() {
                return Err(file_err(
                    path,
                    FileProblem::SupervisionColumn(h.to_string()),
                ));
            }
            Column::Field(f)
        } else {
            Column::Ignored
        };
        if !h.is_empty() {
            recognised.push(SheetColumn {
                header: h.to_string(),
                used_as: match &col {
                    Column::Code => ColumnUse::DeviceCode,
                    Column::Field(f) => ColumnUse::Field(*f),
                    Column::Stamp => ColumnUse::Stamp,
                    Column::Ignored => ColumnUse::Ignored,
                },
            });
        }
        let key = match &col {
            Column::Code => "device_code".to_string(),
            Column::Field(f) => f.key().to_string(),
            Column::Stamp => "last_changed".to_string(),
            Column::Ignored => continue,
        };
        if let Some(other) = seen.insert(key.clone(), i) {
            return Err(file_err(
                path,
                FileProblem::SameColumn {
                    first: headers[other].trim().to_string(),
                    second: h.to_string(),
                    key,
                },
            ));
        }
        columns.push((i, h.to_string(), col));
    }
    if !seen.contains_key("name") {
        return Err(file_err(path, FileProblem::NoNameColumn));
    }

    // The rows below the header, exactly: reading allowed a little slack for titles above it.
    let data_rows = sheet.rows[header_at + 1..]
        .iter()
        .filter(|(_, cells)| !cells.iter().all(|c| c.trim().is_empty()))
        .count();
    if data_rows > limits.max_rows {
        return Err(too_many_rows(path, limits));
    }
    let mut errors = Vec::new();
    let mut cameras = Vec::new();
    let mut first_row_of: HashMap<String, usize> = HashMap::new();
    for (row, cells) in &sheet.rows[header_at + 1..] {
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cell = |i: usize| cells.get(i).unwrap_or("");
        let mut cam: Option<Camera> = None;
        let mut stamp = None;
        let mut fields = Vec::new();
        let mut row_ok = true;
        // Fields whose cell was refused: the record's own checks say nothing more of them.
        let mut refused: Vec<Field> = Vec::new();
        if let Some((i, long)) = cells
            .iter()
            .enumerate()
            .find(|(_, c)| c.chars().count() > limits.max_cell_chars)
        {
            errors.push(RowError {
                row: *row,
                column: headers
                    .get(i)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("#{}", i + 1)),
                reason: Reason::CellTooLong {
                    chars: long.chars().count(),
                    limit: limits.max_cell_chars,
                    begins: quote(long),
                },
            });
            continue;
        }
        for (i, header, col) in &columns {
            match col {
                Column::Code => match DeviceCode::parse(cell(*i)) {
                    Ok(code) => {
                        if let Some(first) = first_row_of.get(code.as_str()) {
                            errors.push(RowError {
                                row: *row,
                                column: header.clone(),
                                reason: Reason::Duplicate {
                                    code: code.clone(),
                                    first: *first,
                                },
                            });
                            row_ok = false;
                        } else {
                            first_row_of.insert(code.to_string(), *row);
                            cam = Some(Camera::new(code));
                        }
                    }
                    Err(e) => {
                        errors.push(RowError {
                            row: *row,
                            column: header.clone(),
                            reason: Reason::Code(e),
                        });
                        row_ok = false;
                    }
                },
                Column::Field(f) => match f.parse_value(cell(*i)) {
                    Ok(Some(v)) => fields.push((*f, v)),
                    Ok(None) => {}
                    Err(e) => {
                        errors.push(RowError {
                            row: *row,
                            column: header.clone(),
                            reason: Reason::Field(e),
                        });
                        refused.push(*f);
                        row_ok = false;
                    }
                },
                Column::Stamp => match super::import_plan::parse_stamp(cell(*i)) {
                    Ok(t) => stamp = t,
                    Err(reason) => {
                        errors.push(RowError {
                            row: *row,
                            column: header.clone(),
                            reason,
                        });
                        row_ok = false;
                    }
                },
                Column::Ignored => {}
            }
        }
        // A row whose code was refused is still checked as a record, so that the clerk sees
        // every mistake of the row at once (a stand-in code, never kept).
        let keep = cam.is_some();
        let mut cam = cam.unwrap_or_else(|| {
            Camera::new(DeviceCode::parse(STAND_IN_CODE).expect("a valid device code"))
        });
        cam.fields.extend(fields);
        let checked = cam.validate().err().filter(|e| match e {
            FieldError::Missing(_) => !refused.contains(&Field::Name),
            FieldError::OneCoordinate(_) => {
                !refused.contains(&Field::Longitude) && !refused.contains(&Field::Latitude)
            }
            _ => true,
        });
        if let Some(e) = checked {
            let column = match &e {
                FieldError::OneCoordinate(which) => {
                    let f = if *which == "longitude" {
                        Field::Latitude
                    } else {
                        Field::Longitude
                    };
                    header_of(&columns, f).unwrap_or_else(|| f.chinese().to_string())
                }
                _ => header_of(&columns, Field::Name).unwrap_or_else(|| "点位名称".into()),
            };
            errors.push(RowError {
                row: *row,
                column,
                reason: Reason::Field(e),
            });
            row_ok = false;
        }
        if row_ok && keep {
            cameras.push(SheetRow {
                row: *row,
                camera: cam,
                stamp,
            });
        }
    }
    if cameras.is_empty() && errors.is_empty() {
        return Err(file_err(path, FileProblem::NoRows));
    }
    Ok(ParsedSheet {
        rows: cameras,
        errors,
        columns: recognised,
    })
}

fn header_of(columns: &[(usize, String, Column)], f: Field) -> Option<String> {
    columns.iter().find_map(|(_, h, c)| match c {
        Column::Field(g) if *g == f => Some(h.clone()),
        _ => None,
    })
}

/// Rows written per Automerge change by an import (about 300 bytes each: a change stays near
/// 1.5 MB, far below a sync frame).
pub const ROWS_PER_CHANGE: usize = 5_000;

/// Imports `path` into the store's own ledger in one transaction (all rows or none), as changes
/// of at most `ROWS_PER_CHANGE` rows.
pub async fn import_file(
    store: &Store,
    path: &Path,
    who: &str,
) -> Result<ImportReport, ImportError> {
    import_file_with(store, path, who, &ImportLimits::default()).await
}

/// `import_file` within `limits`. A field whose ledger value may be newer than the sheet's keeps
/// the ledger's value (see [`super::import_plan`]; the pages and the command line ask first).
pub async fn import_file_with(
    store: &Store,
    path: &Path,
    who: &str,
    limits: &ImportLimits,
) -> Result<ImportReport, ImportError> {
    super::import_plan::import_guarded(store, path, who, limits, &super::import_plan::OnNewer::Keep)
        .await
}

/// Writes `cameras` (read from `path`) into the store's own ledger in one transaction, as
/// changes of at most `ROWS_PER_CHANGE` rows.
pub(super) async fn write_cameras(
    store: &Store,
    path: &Path,
    who: &str,
    cameras: Vec<Camera>,
) -> Result<ImportReport, ImportError> {
    let bar = if std::io::stderr().is_terminal() && cameras.len() > 500 {
        let b = indicatif::ProgressBar::new(cameras.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
                .expect("template")
                .progress_chars("=> "),
        );
        b.set_message("importing");
        Some(b)
    } else {
        None
    };
    let doc = DocId::ledger(store.unit());
    let n = cameras.len();
    let msg = format!("import {} rows from {}", n, path.display());
    let codes: Vec<String> = cameras.iter().map(|c| c.device_code.to_string()).collect();
    let (report, _) = store
        .edit_cameras(&doc, who, &msg, &codes, {
            let (msg, bar) = (&msg, &bar);
            move |d, saved| {
                let mut r = ImportReport {
                    rows: n,
                    ..Default::default()
                };
                // Each record is dropped once written: the projection that follows has the memory.
                for (i, cam) in cameras.into_iter().enumerate() {
                    // A sheet that reports a camera faulty (or back in service) dates it.
                    let event = match cam.get(Field::State) {
                        Some(_) => ledger::state_event(
                            ledger::camera_state(d, cam.device_code.as_str())?,
                            cam.state(),
                        ),
                        None => None,
                    };
                    if let Some(kind) = event {
                        ledger::append_event(d, kind, cam.device_code.as_str(), "", who)?;
                    }
                    match ledger::upsert_camera(d, &cam)? {
                        (true, _) => r.added += 1,
                        (false, 0) => r.unchanged += 1,
                        (false, _) => r.updated += 1,
                    }
                    // Several changes of bounded size (a few MB each), all saved in the one
                    // transaction of this edit: all rows or none, and each change travels within a
                    // sync frame.
                    if (i + 1) % ROWS_PER_CHANGE == 0 && i + 1 < n {
                        saved.commit(
                            d,
                            &format!("{msg} (rows {}-{})", i + 2 - ROWS_PER_CHANGE, i + 1),
                        );
                    }
                    if let Some(b) = &bar
                        && i % 256 == 0
                    {
                        b.set_position(i as u64);
                    }
                }
                if let Some(b) = &bar {
                    b.set_message("saving");
                    b.set_position(n as u64);
                }
                Ok(r)
            }
        })
        .await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(report)
}
