//! The police catalogue as a use case: keeping the catalogue rows of the ledgers this hub holds in
//! step with them (each change numbered, so that a reader resumes after its cursor), answering a
//! read of a subtree, recording every camera-level read in `reads/<unit>` of the unit whose
//! cameras were read, and the export in the police platform's column layout (CSV with Chinese
//! headers, or XLSX with every cell text).

use std::collections::BTreeMap;

use anyhow::Result;

use crate::docs::document::{DocId, DocKind};
use crate::docs::reads;
use crate::domain::catalogue::{COLUMNS, Cursor, Entry, Read, cursor_parts};
use crate::domain::unit::UnitCode;
use crate::store::{CameraQuery, CatalogueRow, Store, StoreError};

/// How long a removed camera stays in the catalogue as a tombstone: a reader whose cursor is
/// older gets a fresh full catalogue.
pub const TOMBSTONE_DAYS: i64 = 90;

/// One refresh at a time in this process (another one finds nothing left to do).
static REFRESH: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Brings the catalogue rows up to the ledgers (and unit names) changed since the last refresh.
pub async fn refresh(store: &Store) -> Result<(), StoreError> {
    let _one = REFRESH.lock().await;
    let since = store.catalogue_version().await?;
    let (docs, newest) = store.changed_since(since).await?;
    let mut units: Vec<UnitCode> = docs
        .into_iter()
        .filter(|d| matches!(d.kind, DocKind::Ledger | DocKind::Profile))
        .map(|d| d.unit)
        .collect();
    units.sort();
    units.dedup();
    for unit in units {
        if store.heads(&DocId::ledger(&unit)).await?.is_empty() {
            continue;
        }
        let name = store.unit_name(unit.as_str()).await?;
        let (rows, _) = store
            .cameras(unit.as_str(), &CameraQuery::default())
            .await?;
        // A camera reported removed (撤除) leaves the catalogue: readers resuming are told so.
        let entries: Vec<(String, String)> = rows
            .iter()
            .filter(|r| r.camera.is_built())
            .map(|r| {
                let e = Entry::of(unit.as_str(), &name, &r.camera);
                (
                    e.device_code.clone(),
                    serde_json::to_string(&e).expect("an entry serializes"),
                )
            })
            .collect();
        store.sync_catalogue(unit.as_str(), &entries).await?;
    }
    store.set_catalogue_version(newest).await?;
    let before = chrono::Utc::now() - chrono::Duration::days(TOMBSTONE_DAYS);
    store
        .drop_catalogue_tombstones(&before.to_rfc3339())
        .await?;
    Ok(())
}

/// What one read answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Present cameras, and (`None` entry) the cameras removed since the cursor: (unit, code).
    pub rows: Vec<(String, String, Option<Entry>)>,
    /// The whole catalogue (no usable cursor was given).
    pub full: bool,
    /// Where the next read resumes.
    pub cursor: String,
}

/// The catalogue of `unit`'s subtree as this hub holds it: everything, or only the changes after
/// this hub's part of `cursor` when this hub gave it (the parts of other hubs are theirs).
pub async fn read(store: &Store, unit: &UnitCode, cursor: Option<&str>) -> Result<Answer> {
    refresh(store).await?;
    let now = store.catalogue_seq().await?;
    let floor = store.catalogue_floor().await?;
    let me = store.unit().as_str();
    // A cursor of another hub, beyond what this hub gave (a store restored from a backup), or
    // older than the tombstones kept: the full catalogue.
    let after = cursor
        .and_then(|c| cursor_parts(c).into_iter().find(|c| c.hub == me))
        .filter(|c| c.seq <= now && c.seq >= floor)
        .map(|c| c.seq);
    let rows = store.catalogue_rows(unit.as_str(), after).await?;
    let rows = rows
        .into_iter()
        .map(|r: CatalogueRow| {
            let entry = if r.removed {
                None
            } else {
                Some(serde_json::from_str::<Entry>(&r.row)?)
            };
            Ok((r.unit, r.device_code, entry))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Answer {
        rows,
        full: after.is_none(),
        cursor: Cursor {
            hub: me.to_string(),
            seq: now,
        }
        .to_string(),
    })
}

/// Records one read in `reads/<unit>` of every unit whose cameras it sent (`counts`, per unit),
/// or, when it sent none, of the unit asked about: who read, when, which call, how many, and the
/// hub the reader asked when that hub asked this one for it (`via`, empty otherwise). The entry
/// goes into this hub's own list of the document (`docs::reads`).
pub async fn record_reads(
    store: &Store,
    reader: &str,
    call: &str,
    asked: &UnitCode,
    counts: &BTreeMap<String, u64>,
    full: bool,
    via: &str,
) -> Result<(), StoreError> {
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut per_unit: Vec<(UnitCode, u64)> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .filter_map(|(u, n)| UnitCode::parse(u).ok().map(|u| (u, *n)))
        .collect();
    if per_unit.is_empty() {
        per_unit.push((asked.clone(), 0));
    }
    for (unit, cameras) in per_unit {
        let r = Read {
            at: at.clone(),
            reader: reader.to_string(),
            call: call.to_string(),
            hub: store.unit().to_string(),
            cameras,
            full,
            via: via.to_string(),
        };
        store
            .edit(
                &DocId::reads(&unit),
                reader,
                &format!("{call}: {cameras} camera records of {unit}"),
                |doc| Ok(reads::append(doc, &r).map_err(crate::docs::ledger::LedgerError::from)?),
            )
            .await?;
    }
    Ok(())
}

/// The reads of this unit's cameras and, at a hub, of the units below it, newest first, with the
/// unit each is about.
pub async fn reads_seen(store: &Store) -> Result<Vec<(String, Read)>, StoreError> {
    let me = store.unit().clone();
    let mut all = Vec::new();
    for d in store.documents().await? {
        let id = d.doc_id;
        if id.kind != DocKind::Reads || !(id.unit == me || id.unit.is_under(&me)) {
            continue;
        }
        let list = store.read_document(&id, |doc| reads::read(doc)).await?;
        all.extend(list.into_iter().map(|r| (id.unit.to_string(), r)));
    }
    all.sort_by(|a, b| b.1.at.cmp(&a.1.at).then(a.0.cmp(&b.0)));
    Ok(all)
}

/// The export's table: the header (`COLUMNS`), then one row per camera, by device code.
pub fn table(entries: &[Entry]) -> Vec<Vec<String>> {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.device_code.cmp(&b.device_code));
    std::iter::once(COLUMNS.iter().map(|c| c.to_string()).collect())
        .chain(sorted.into_iter().map(Entry::cells))
        .collect()
}

/// The export as a file: XLSX when `xlsx`, otherwise CSV (UTF-8 with BOM).
pub fn export(entries: &[Entry], xlsx: bool) -> Result<Vec<u8>> {
    let rows = table(entries);
    if xlsx {
        crate::app::report::xlsx_text_bytes("点位目录", &rows)
    } else {
        crate::app::report::csv_bytes(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_removed_camera_is_sent_once_and_a_cursor_older_than_the_tombstones_reads_everything()
    {
        let dir = tempfile::tempdir().unwrap();
        let me = UnitCode::parse("500103").unwrap();
        let store = Store::init(
            dir.path(),
            &me,
            "渝中区卫生健康委员会",
            crate::domain::unit::UnitKind::District,
            crate::domain::unit::Role::Hub,
        )
        .await
        .unwrap();
        let e = |code: &str, name: &str| {
            let entry = Entry {
                unit: "500103-0001".into(),
                unit_name: "医院".into(),
                device_code: code.into(),
                name: name.into(),
                address: String::new(),
                longitude: None,
                latitude: None,
                point_class: Some(1),
                networked: true,
            };
            (code.to_string(), serde_json::to_string(&entry).unwrap())
        };
        let (a, b) = ("50010312091320000001", "50010312091320000002");
        assert_eq!(
            store
                .sync_catalogue("500103-0001", &[e(a, "东门"), e(b, "西门")])
                .await
                .unwrap(),
            2
        );
        let first = read(&store, &me, None).await.unwrap();
        assert_eq!((first.rows.len(), first.full), (2, true));
        // b leaves the ledger: a tombstone after the cursor, and no longer in a full read.
        assert_eq!(
            store
                .sync_catalogue("500103-0001", &[e(a, "东门")])
                .await
                .unwrap(),
            1
        );
        let next = read(&store, &me, Some(&first.cursor)).await.unwrap();
        assert_eq!(next.rows, vec![("500103-0001".into(), b.into(), None)]);
        assert_eq!(read(&store, &me, None).await.unwrap().rows.len(), 1);
        // The tombstone dropped: the old cursor is too old and gets the full catalogue.
        let later = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
        assert_eq!(store.drop_catalogue_tombstones(&later).await.unwrap(), 1);
        let stale = read(&store, &me, Some(&first.cursor)).await.unwrap();
        assert!(stale.full);
        assert_eq!(stale.rows.len(), 1);
        // A cursor since the drop still reads changes only.
        let fresh = read(&store, &me, Some(&next.cursor)).await.unwrap();
        assert!(!fresh.full && fresh.rows.is_empty());
    }
}
