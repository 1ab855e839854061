//! A rollup's generations and the days they leave behind: which generation of `rollup/<hub>` is
//! held, the figures per day of the generations given up (`rollup_days`), and giving a
//! generation up (its rows per day kept, its document, chunks and sync states deleted).

use std::sync::LazyLock;

use sqlx::Row as _;

use crate::docs::document::DocId;
use crate::docs::rollup::{Rollup, Row};
use crate::domain::unit::UnitCode;
use crate::store::counts::{COLUMNS, PLACEHOLDERS, bind_counts, counts_at, findings_at};
use crate::store::{Store, StoreError};

impl Store {
    /// Every generation of `hub`'s rollup held here, the oldest first.
    pub async fn rollup_generations(&self, hub: &UnitCode) -> Result<Vec<DocId>, StoreError> {
        let first = DocId::rollup(hub, 0).to_string();
        // `rollup/<hub>/…`: '0' is the character after '/'.
        let (from, to) = (format!("{first}/"), format!("{first}0"));
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT doc_id FROM documents WHERE doc_id = ? OR (doc_id > ? AND doc_id < ?)",
        )
        .bind(&first)
        .bind(&from)
        .bind(&to)
        .fetch_all(&self.pool)
        .await?;
        let mut docs: Vec<DocId> = ids.iter().filter_map(|s| s.parse().ok()).collect();
        docs.retain(|d: &DocId| d.unit == *hub);
        docs.sort_by_key(|d| d.generation);
        Ok(docs)
    }

    /// The newest generation of `hub`'s rollup held here (the first when none is), asked of the
    /// database: what a write of a rollup goes by (a command beside the daemon may have begun a
    /// generation the watch of other writers has not reported yet).
    pub async fn rollup_doc(&self, hub: &UnitCode) -> Result<DocId, StoreError> {
        Ok(self
            .rollup_generations(hub)
            .await?
            .pop()
            .unwrap_or_else(|| DocId::rollup(hub, 0)))
    }

    /// The newest generation of `hub`'s rollup held here, as [`Store::rollup_doc`], known in
    /// memory after the first query: every generation held is saved through this process's
    /// writes or seen by its watch of other writers ([`Store::note_generation`]). The sync
    /// sessions ask it for every rollup message they send or receive.
    pub async fn rollup_doc_known(&self, hub: &UnitCode) -> Result<DocId, StoreError> {
        if let Some(g) = self.generations.lock().expect("generations").get(hub) {
            return Ok(DocId::rollup(hub, *g));
        }
        let doc = self.rollup_doc(hub).await?;
        self.note_generation(&doc);
        Ok(doc)
    }

    /// `doc` (a rollup's generation) is held here: the newest known of its hub is at least it.
    pub(crate) fn note_generation(&self, doc: &DocId) {
        if doc.kind != crate::docs::document::DocKind::Rollup {
            return;
        }
        let mut known = self.generations.lock().expect("generations");
        let g = known.entry(doc.unit.clone()).or_insert(doc.generation);
        *g = (*g).max(doc.generation);
    }

    /// Gives up every generation of `keep.unit`'s rollup older than `keep`, keeping `days` (the
    /// rollup as it stood at the end of each day those generations covered), in one transaction.
    pub async fn retire_rollups(
        &self,
        keep: &DocId,
        days: &[(chrono::NaiveDate, Rollup)],
    ) -> Result<usize, StoreError> {
        static PUT: LazyLock<String> = LazyLock::new(|| {
            format!(
                "INSERT OR REPLACE INTO rollup_days
                   (hub, day, unit, name, {COLUMNS}, as_of, findings_errors, findings_warnings)
                 VALUES (?, ?, ?, ?, {PLACEHOLDERS}, ?, ?, ?)",
                COLUMNS = *COLUMNS,
                PLACEHOLDERS = *PLACEHOLDERS,
            )
        });
        let old: Vec<DocId> = self
            .rollup_generations(&keep.unit)
            .await?
            .into_iter()
            .filter(|d| d.generation < keep.generation)
            .collect();
        let hub = keep.unit.as_str();
        let mut writer = self.writer.lock().await;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, "BEGIN IMMEDIATE").await?;
        for (day, r) in days {
            let day = day.to_string();
            sqlx::query("DELETE FROM rollup_days WHERE hub = ? AND day = ?")
                .bind(hub)
                .bind(&day)
                .execute(&mut *tx)
                .await?;
            let totals = r.totals.iter().map(|t| (hub, t));
            for (unit, row) in r
                .children
                .iter()
                .map(|(u, row)| (u.as_str(), row))
                .chain(totals)
            {
                let q = sqlx::query(PUT.as_str())
                    .bind(hub)
                    .bind(&day)
                    .bind(unit)
                    .bind(&row.name);
                bind_counts(q, &row.counts)
                    .bind(&row.as_of)
                    .bind(row.findings.errors as i64)
                    .bind(row.findings.warnings as i64)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for d in &old {
            let key = d.to_string();
            for sql in [
                "DELETE FROM doc_chunks WHERE doc_id = ?",
                "DELETE FROM sync_states WHERE doc_id = ?",
                "DELETE FROM documents WHERE doc_id = ?",
            ] {
                sqlx::query(sql).bind(&key).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        let mut cache = self.cache.lock().expect("document cache");
        let mut origins = self.origins.lock().expect("origins");
        for d in &old {
            cache.remove(&d.to_string());
            origins.remove(d);
        }
        Ok(old.len())
    }

    /// `hub`'s rollup as it stood at the end of `day`, from the days kept: the last day kept on
    /// or before it (nothing changed after it until `day`); `None` when no day that early is kept.
    pub async fn rollup_on_day(
        &self,
        hub: &UnitCode,
        day: chrono::NaiveDate,
    ) -> Result<Option<Rollup>, StoreError> {
        static GET: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT unit, name, {}, as_of, findings_errors, findings_warnings FROM rollup_days WHERE hub = ?1 AND day =
                   (SELECT MAX(day) FROM rollup_days WHERE hub = ?1 AND day <= ?2)",
                *COLUMNS
            )
        });
        let rows = sqlx::query(GET.as_str())
            .bind(hub.as_str())
            .bind(day.to_string())
            .fetch_all(&self.pool)
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut r = Rollup::default();
        for row in &rows {
            let row = Row {
                unit: row.get(0),
                name: row.get(1),
                counts: counts_at(row, 2),
                as_of: row.get(12),
                findings: findings_at(row, 13),
            };
            if row.unit == hub.as_str() {
                r.totals = Some(row);
            } else {
                r.children.insert(row.unit.clone(), row);
            }
        }
        Ok(Some(r))
    }
}
