//! The import's preview and its guarded write: every row of a sheet classified against the ledger
//! (new, changed with old → new per field, unchanged, error), and no field overwritten that changed
//! in the ledger after the sheet's rows were exported unless the clerk confirms it.
//!
//! The camera sheet the system exports ([`sheet_rows`]) carries each row's 最后修改时间: when that
//! camera last changed as the sheet was written. On import a field is *held* (not written unless
//! confirmed) when the ledger holds a value for it and the field changed after the row's stamp; a
//! row without a stamp (a sheet made by hand) holds every field whose value it would replace.
//! Filling a blank field is never held.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

use super::import::{
    ImportError, ImportLimits, ImportReport, ParsedSheet, Reason, RowError, SheetColumn,
};
use crate::docs::document::DocId;
use crate::docs::ledger;
use crate::domain::camera::{Camera, Field, Value};
use crate::store::{CameraQuery, Store};

fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8")
}

/// A last-change stamp as the exported sheet writes it: Beijing time to the millisecond, e.g.
/// `2026年11月26日 10:01:23.468`.
pub fn format_stamp(t: DateTime<Utc>) -> String {
    t.with_timezone(&beijing())
        .format("%Y年%m月%d日 %H:%M:%S%.3f")
        .to_string()
}

/// A last-change time as a person reads it: `2026年11月26日 10:01` (the catalogue's).
pub fn format_time(t: DateTime<Utc>) -> String {
    super::zh::beijing_time(t)
}

/// Reads a 最后修改时间 cell: Beijing time as the sheet writes it (or as a spreadsheet program
/// rewrites it: 2026-11-26 10:01:23, 2026/11/26 10:01), or an RFC 3339 time. Empty: no stamp.
pub fn parse_stamp(text: &str) -> Result<Option<DateTime<Utc>>, Reason> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if let Ok(x) = DateTime::parse_from_rfc3339(t) {
        return Ok(Some(x.with_timezone(&Utc)));
    }
    let norm = t
        .replace(['年', '月', '/'], "-")
        .replace('日', "")
        .replace('T', " ");
    let norm = norm.split_whitespace().collect::<Vec<_>>().join(" ");
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(local) = NaiveDateTime::parse_from_str(&norm, fmt)
            && let Some(x) = beijing().from_local_datetime(&local).single()
        {
            return Ok(Some(x.with_timezone(&Utc)));
        }
    }
    Err(Reason::Stamp(super::import::quote(t)))
}

/// A field's value as a person reads it (the catalogue's: 是/否, the Chinese of a closed set,
/// 一类/二类/三类, 2021年03月09日), which is also how the exported sheet writes it and what the
/// import reads back.
pub fn shown(field: Field, v: &Value) -> String {
    super::zh::field_value(field, Some(v))
}

/// One field a row would change.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub field: Field,
    /// The ledger's value (`None`: blank).
    pub old: Option<Value>,
    pub new: Value,
    /// When the field last changed in the ledger (`None`: not known).
    pub ledger_at: Option<DateTime<Utc>>,
    /// Written only when the clerk confirms: the ledger's value may be newer than the sheet's.
    pub held: bool,
}

/// What the clerk confirms to overwrite one held field: the camera, the field and the ledger
/// change the clerk saw (a field changed again since the preview is not overwritten).
pub fn confirmation_key(code: &str, c: &FieldChange) -> String {
    format!(
        "{code}:{}:{}",
        c.field.key(),
        c.ledger_at.map(|t| t.timestamp_millis()).unwrap_or(0)
    )
}

/// What a row of the sheet is.
#[derive(Debug, Clone, PartialEq)]
pub enum RowKind {
    /// A camera the ledger does not have.
    New,
    /// A camera the ledger has, with the fields the row would change.
    Changed(Vec<FieldChange>),
    /// A camera the ledger has with every value the row gives.
    Unchanged,
    /// A row that cannot be imported, with every reason.
    Error(Vec<RowError>),
}

/// One row of the sheet, classified.
#[derive(Debug, Clone, PartialEq)]
pub struct RowPlan {
    /// The row number as the spreadsheet program shows it.
    pub row: usize,
    /// The device code (empty for an error row without a readable one).
    pub code: String,
    pub name: String,
    pub stamp: Option<DateTime<Utc>>,
    pub kind: RowKind,
}

/// The preview of an import: every row classified, and what each column was read as.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub rows: Vec<RowPlan>,
    pub columns: Vec<SheetColumn>,
    /// Every error of the sheet (the rows marked `Error` hold them too).
    pub errors: Vec<RowError>,
}

/// How many rows of each kind, and how many fields are held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanCounts {
    pub new: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub errors: usize,
    pub held: usize,
}

impl Plan {
    pub fn counts(&self) -> PlanCounts {
        let mut c = PlanCounts::default();
        for r in &self.rows {
            match &r.kind {
                RowKind::New => c.new += 1,
                RowKind::Changed(ch) => {
                    c.changed += 1;
                    c.held += ch.iter().filter(|f| f.held).count();
                }
                RowKind::Unchanged => c.unchanged += 1,
                RowKind::Error(_) => c.errors += 1,
            }
        }
        c
    }

    /// Every held field: its row and the change.
    pub fn held(&self) -> impl Iterator<Item = (&RowPlan, &FieldChange)> {
        self.rows.iter().flat_map(|r| match &r.kind {
            RowKind::Changed(ch) => ch.iter().filter(|f| f.held).map(|f| (r, f)).collect(),
            _ => Vec::new(),
        })
    }
}

/// Whether a field changed at `at` changed after a row stamped `stamp` was exported. A stamp a
/// spreadsheet program cut to the second is compared to the second.
fn changed_after(at: DateTime<Utc>, stamp: DateTime<Utc>) -> bool {
    if stamp.timestamp_subsec_millis() == 0 {
        at.timestamp() > stamp.timestamp()
    } else {
        at > stamp
    }
}

fn parse_at(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Classifies every row of `sheet` against this unit's own ledger. Saves nothing.
pub async fn plan(store: &Store, sheet: ParsedSheet) -> Result<Plan, ImportError> {
    let mut p = plan_of(store, &sheet).await?;
    p.columns = sheet.columns;
    Ok(p)
}

/// The plan of `sheet`, borrowed (its columns left empty): the import keeps the sheet's records
/// to write them, without a copy of each.
async fn plan_of(store: &Store, sheet: &ParsedSheet) -> Result<Plan, ImportError> {
    let doc = DocId::ledger(store.unit());
    let codes: Vec<String> = sheet
        .rows
        .iter()
        .map(|r| r.camera.device_code.to_string())
        .collect();
    let current = store
        .read_document(&doc, |d| ledger::read_cameras(d, &codes))
        .await?
        .map_err(crate::store::StoreError::from)?;
    let current: HashMap<String, ledger::CameraState> = current
        .into_iter()
        .filter_map(|(c, s)| s.map(|s| (c, s)))
        .collect();
    let existing: HashSet<String> = current.keys().cloned().collect();
    let times = store.field_times(&doc, &existing).await?;
    let mut rows: Vec<RowPlan> = Vec::with_capacity(sheet.rows.len());
    for r in &sheet.rows {
        let code = r.camera.device_code.to_string();
        let kind = match current.get(&code) {
            None => RowKind::New,
            Some(state) => {
                let mut changes = Vec::new();
                for (f, new) in &r.camera.fields {
                    let old = state.camera.get(*f);
                    if old == Some(new) && !state.conflicts.contains_key(f) {
                        continue;
                    }
                    let ledger_at = times
                        .get(&code)
                        .and_then(|t| t.get(f.key()))
                        .and_then(|t| parse_at(t));
                    let held = old.is_some()
                        && match (r.stamp, ledger_at) {
                            (Some(stamp), Some(at)) => changed_after(at, stamp),
                            _ => true,
                        };
                    changes.push(FieldChange {
                        field: *f,
                        old: old.cloned(),
                        new: new.clone(),
                        ledger_at,
                        held,
                    });
                }
                if changes.is_empty() {
                    RowKind::Unchanged
                } else {
                    RowKind::Changed(changes)
                }
            }
        };
        rows.push(RowPlan {
            row: r.row,
            name: r.camera.name().to_string(),
            code,
            stamp: r.stamp,
            kind,
        });
    }
    let mut bad: BTreeMap<usize, Vec<RowError>> = BTreeMap::new();
    for e in &sheet.errors {
        bad.entry(e.row).or_default().push(e.clone());
    }
    for (row, errors) in bad {
        rows.push(RowPlan {
            row,
            code: String::new(),
            name: String::new(),
            stamp: None,
            kind: RowKind::Error(errors),
        });
    }
    rows.sort_by_key(|r| r.row);
    Ok(Plan {
        rows,
        columns: Vec::new(),
        errors: sheet.errors.clone(),
    })
}

/// What to do with held fields (the ledger's value may be newer than the sheet's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnNewer {
    /// Import nothing while any field is held (the command line without `--overwrite` or
    /// `--keep-newer`): [`ImportError::Held`].
    Refuse,
    /// Keep the ledger's value of every held field; write the rest.
    Keep,
    /// Write the sheet's value everywhere.
    Overwrite,
    /// Write the held fields whose [`confirmation_key`] is listed; keep the others.
    Confirmed(HashSet<String>),
}

/// Imports `path` into this unit's own ledger, all rows or none, deciding each held field by
/// `on_newer`.
pub async fn import_guarded(
    store: &Store,
    path: &Path,
    who: &str,
    limits: &ImportLimits,
    on_newer: &OnNewer,
) -> Result<ImportReport, ImportError> {
    let sheet = super::import::read_sheet_rows(path, limits)?;
    let ignored_columns: Vec<String> = sheet
        .columns
        .iter()
        .filter(|c| c.used_as == super::import::ColumnUse::Ignored)
        .map(|c| c.header.clone())
        .collect();
    if !sheet.errors.is_empty() {
        return Err(ImportError::Rows {
            file: path.to_path_buf(),
            errors: sheet.errors,
        });
    }
    let plan = plan_of(store, &sheet).await?;
    if *on_newer == OnNewer::Refuse && plan.held().next().is_some() {
        return Err(ImportError::Held {
            file: path.to_path_buf(),
            fields: plan
                .held()
                .map(|(r, c)| super::import::HeldField {
                    row: r.row,
                    code: r.code.clone(),
                    field: c.field,
                    old: c.old.as_ref().map(|v| shown(c.field, v)),
                    new: shown(c.field, &c.new),
                    ledger_at: c.ledger_at.map(format_time),
                })
                .collect(),
        });
    }
    // The held fields the ledger keeps, by device code (a few, or none).
    let mut keep: HashMap<String, Vec<Field>> = HashMap::new();
    for (r, c) in plan.held() {
        let write = match on_newer {
            OnNewer::Overwrite => true,
            OnNewer::Confirmed(keys) => keys.contains(&confirmation_key(&r.code, c)),
            OnNewer::Keep | OnNewer::Refuse => false,
        };
        if !write {
            keep.entry(r.code.clone()).or_default().push(c.field);
        }
    }
    drop(plan);
    let mut kept = 0;
    let mut list: Vec<Camera> = Vec::with_capacity(sheet.rows.len());
    // In the sheet's order (a device code given twice is an error of the sheet, refused above).
    for r in sheet.rows {
        let mut cam = r.camera;
        if let Some(fields) = keep.get(cam.device_code.as_str()) {
            for f in fields {
                if cam.fields.remove(f).is_some() {
                    kept += 1;
                }
            }
        }
        list.push(cam);
    }
    let mut report = super::import::write_cameras(store, path, who, list).await?;
    report.kept_newer = kept;
    report.ignored_columns = ignored_columns;
    Ok(report)
}

/// What an import did, as a person reads it: 共导入 12 行：新增 3 台、修改 2 台、未变 7 台.
pub fn summary(r: &ImportReport) -> String {
    let mut s = format!(
        "共导入 {} 行：新增 {} 台、修改 {} 台、未变 {} 台",
        r.rows, r.added, r.updated, r.unchanged
    );
    if r.kept_newer > 0 {
        s.push_str(&format!("；{} 处字段保留台账中较新的值", r.kept_newer));
    }
    if !r.ignored_columns.is_empty() {
        s.push_str(&format!(
            "；未识别、未导入的列：{}",
            r.ignored_columns.join("、")
        ));
    }
    s
}

/// The header of the camera sheet the system exports: the device code, every field a unit writes
/// (supervision fields are the supervising level's) and 最后修改时间.
pub fn sheet_header() -> Vec<String> {
    std::iter::once("设备编码".to_string())
        .chain(
            Field::ALL
                .into_iter()
                .filter(|f| !f.is_supervision())
                .map(|f| f.chinese().to_string()),
        )
        .chain(std::iter::once(super::import::STAMP_HEADERS[0].to_string()))
        .collect()
}

/// The camera sheet of this unit's own ledger, header first, one row per camera with its
/// last-change stamp: the sheet to edit and import back.
pub async fn sheet_rows(store: &Store) -> Result<Vec<Vec<String>>, ImportError> {
    let (cams, _) = store
        .cameras(store.unit().as_str(), &CameraQuery::default())
        .await?;
    let mut rows = vec![sheet_header()];
    for c in cams {
        let mut row = vec![c.camera.device_code.to_string()];
        for f in Field::ALL.into_iter().filter(|f| !f.is_supervision()) {
            row.push(c.camera.get(f).map(|v| shown(f, v)).unwrap_or_default());
        }
        row.push(
            parse_at(&c.updated_at)
                .map(format_stamp)
                .unwrap_or_default(),
        );
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back_as_written_and_as_spreadsheets_rewrite_it() {
        let t = parse_at("2026-11-26T02:01:23.468Z").unwrap();
        assert_eq!(format_stamp(t), "2026年11月26日 10:01:23.468");
        assert_eq!(parse_stamp(&format_stamp(t)).unwrap(), Some(t));
        assert_eq!(
            parse_stamp("2026-11-26T02:01:23.468Z").unwrap(),
            Some(t),
            "RFC 3339"
        );
        let secs = parse_at("2026-11-26T02:01:23Z").unwrap();
        assert_eq!(parse_stamp("2026/11/26 10:01:23").unwrap(), Some(secs));
        assert_eq!(parse_stamp(" ").unwrap(), None);
        let e = parse_stamp("上周").unwrap_err();
        assert_eq!(e, Reason::Stamp("上周".into()));
        use crate::app::zh::Zh;
        assert!(
            e.zh().contains("“上周”不是系统导出的最后修改时间"),
            "{}",
            e.zh()
        );
    }

    async fn store() -> (tempfile::TempDir, Store) {
        crate::store::testing::hospital().await
    }

    async fn import_text(
        store: &Store,
        dir: &Path,
        text: &str,
        on_newer: &OnNewer,
    ) -> Result<ImportReport, ImportError> {
        let path = dir.join("sheet.csv");
        std::fs::write(&path, text).unwrap();
        import_guarded(store, &path, "clerk", &ImportLimits::default(), on_newer).await
    }

    async fn plan_text(store: &Store, dir: &Path, text: &str) -> Plan {
        let path = dir.join("preview.csv");
        std::fs::write(&path, text).unwrap();
        let sheet = super::super::import::read_sheet_rows(&path, &ImportLimits::default()).unwrap();
        plan(store, sheet).await.unwrap()
    }

    const A: &str = "50010312091320000001";
    const B: &str = "50010312091320000002";

    #[tokio::test]
    async fn an_exported_sheet_edited_and_imported_back_changes_only_what_the_clerk_changed() {
        let (dir, store) = store().await;
        let first = format!("设备编码,点位名称,是否已联网\n{A},东门,是\n{B},西门,否\n");
        let r = import_text(&store, dir.path(), &first, &OnNewer::Refuse)
            .await
            .unwrap();
        assert_eq!(summary(&r), "共导入 2 行：新增 2 台、修改 0 台、未变 0 台");
        // The clerk exports the sheet, marks B networked and imports it back: B changes, A does
        // not, nothing is held (the ledger has not changed since the export).
        let rows = sheet_rows(&store).await.unwrap();
        assert_eq!(rows[0].last().unwrap(), "最后修改时间");
        let networked = rows[0].iter().position(|h| h == "是否已联网").unwrap();
        let mut edited = rows.clone();
        assert_eq!(edited[2][0], B);
        assert_eq!(edited[2][networked], "否");
        edited[2][networked] = "是".into();
        let text = String::from_utf8(crate::app::report::csv_bytes(edited).unwrap()).unwrap();
        let p = plan_text(&store, dir.path(), &text).await;
        let c = p.counts();
        assert_eq!(
            (c.new, c.changed, c.unchanged, c.errors, c.held),
            (0, 1, 1, 0, 0)
        );
        let RowKind::Changed(ch) = &p.rows[1].kind else {
            panic!("{:?}", p.rows[1])
        };
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].field, Field::Networked);
        assert_eq!(ch[0].old, Some(Value::Bool(false)));
        assert_eq!(ch[0].new, Value::Bool(true));
        assert!(
            p.columns.iter().any(|c| c.header == "最后修改时间"
                && c.used_as == super::super::import::ColumnUse::Stamp)
        );
        let r = import_text(&store, dir.path(), &text, &OnNewer::Refuse)
            .await
            .unwrap();
        assert_eq!(summary(&r), "共导入 2 行：新增 0 台、修改 1 台、未变 1 台");
    }

    #[tokio::test]
    async fn a_field_changed_in_the_ledger_after_the_export_is_overwritten_only_when_confirmed() {
        let (dir, store) = store().await;
        let first = format!("设备编码,点位名称,是否已联网\n{A},东门,否\n");
        import_text(&store, dir.path(), &first, &OnNewer::Refuse)
            .await
            .unwrap();
        // A sheet exported long before the ledger's last change (an old copy): it would revert
        // a camera to not networked.
        crate::app::cameras::edit(
            &store,
            "clerk",
            &crate::domain::device_code::DeviceCode::parse(A).unwrap(),
            &[(Field::Networked, Some(Value::Bool(true)))],
        )
        .await
        .unwrap();
        let old = format!(
            "设备编码,点位名称,是否已联网,最后修改时间\n{A},东门,否,2021年03月09日 09:00:00.000\n"
        );
        let p = plan_text(&store, dir.path(), &old).await;
        assert_eq!(p.counts().held, 1);
        let (_, held) = p.held().next().unwrap();
        assert_eq!(held.old, Some(Value::Bool(true)));
        assert!(
            held.ledger_at.is_some(),
            "the time of the ledger's value is shown"
        );
        // Refused by default, with the field named; nothing changes.
        let e = import_text(&store, dir.path(), &old, &OnNewer::Refuse)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("第 2 行"), "{e}");
        assert!(e.contains("是否已联网：台账为“是”"), "{e}");
        assert!(e.contains("表格为“否”"), "{e}");
        let networked = || async {
            let row = store
                .camera(store.unit().as_str(), A)
                .await
                .unwrap()
                .unwrap();
            row.camera.is_networked()
        };
        assert!(networked().await, "a refused import changes nothing");
        // Kept: the newer value stays, and the summary says so.
        let r = import_text(&store, dir.path(), &old, &OnNewer::Keep)
            .await
            .unwrap();
        assert_eq!(r.kept_newer, 1);
        assert!(
            summary(&r).contains("1 处字段保留台账中较新的值"),
            "{}",
            summary(&r)
        );
        assert!(networked().await);
        // A confirmation of another change (a stale key) overwrites nothing.
        let stale = OnNewer::Confirmed([format!("{A}:networked:1")].into_iter().collect());
        import_text(&store, dir.path(), &old, &stale).await.unwrap();
        assert!(networked().await);
        // Confirmed: the sheet's value is written.
        let key = confirmation_key(A, held);
        let ok = OnNewer::Confirmed([key].into_iter().collect());
        let r = import_text(&store, dir.path(), &old, &ok).await.unwrap();
        assert_eq!((r.updated, r.kept_newer), (1, 0));
        assert!(!networked().await);
    }

    #[tokio::test]
    async fn a_sheet_without_stamps_holds_every_value_it_would_replace_but_not_a_blank_it_fills() {
        let (dir, store) = store().await;
        import_text(
            &store,
            dir.path(),
            &format!("设备编码,点位名称\n{A},东门\n"),
            &OnNewer::Refuse,
        )
        .await
        .unwrap();
        let p = plan_text(
            &store,
            dir.path(),
            &format!("设备编码,点位名称,安装地址,备注\n{A},东门口,一楼\n{B},西门,\n123,北门,\n"),
        )
        .await;
        let kinds: Vec<&str> = p
            .rows
            .iter()
            .map(|r| match r.kind {
                RowKind::New => "new",
                RowKind::Changed(_) => "changed",
                RowKind::Unchanged => "unchanged",
                RowKind::Error(_) => "error",
            })
            .collect();
        assert_eq!(kinds, ["changed", "new", "error"]);
        let held: Vec<Field> = p.held().map(|(_, c)| c.field).collect();
        assert_eq!(
            held,
            [Field::Name],
            "the address was blank: filling it is not held"
        );
        let ignored: Vec<&str> = p
            .columns
            .iter()
            .filter(|c| c.used_as == super::super::import::ColumnUse::Ignored)
            .map(|c| c.header.as_str())
            .collect();
        assert_eq!(ignored, ["备注"]);
    }

    #[test]
    fn values_are_shown_in_chinese_and_read_back() {
        for (f, text) in [
            (Field::Networked, "是"),
            (Field::PointClass, "一类"),
            (Field::CameraType, "固定枪机"),
            (Field::Area, "重点公共区域"),
            (Field::State, "故障"),
            (Field::InstallDate, "2021年3月9日"),
            (Field::Longitude, "106.55"),
        ] {
            let v = f.parse_value(text).unwrap().unwrap();
            assert_eq!(shown(f, &v), text, "{f}");
            assert_eq!(
                f.parse_value(&shown(f, &v)).unwrap(),
                Some(v),
                "{f} reads back"
            );
        }
    }
}
