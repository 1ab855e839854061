//! The police catalogue this hub serves, as rows stamped with the sequence number of their last
//! change (`catalogue_rows`), so that a reader resumes after its cursor; and the catalogue grant of
//! a subscriber enrolled here (`children.catalogue`).

use std::collections::HashMap;

use sqlx::Row;

use super::{Store, StoreError};

/// One row of the catalogue as kept here.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogueRow {
    pub unit: String,
    pub device_code: String,
    /// The entry as JSON (`domain::catalogue::Entry`).
    pub row: String,
    pub seq: i64,
    /// The camera left the ledger.
    pub removed: bool,
}

/// The meta keys: the last sequence number given, and the document version the rows follow.
const SEQ: &str = "catalogue_seq";
const VERSION: &str = "catalogue_version";
/// The newest sequence number of a tombstone dropped: a cursor before it is too old.
const FLOOR: &str = "catalogue_floor";

/// The catalogue grants a hub publishes in its profile are published one at a time in a process
/// (each reads the enrollments as they are then; across processes, each checks after writing
/// that nothing it read moved meanwhile), and the publications asked for are counted, so that
/// one that failed, or whose caller went away before it ended, is due again until one that
/// began after it succeeds.
#[derive(Default)]
pub(crate) struct GrantsPublishing {
    one: tokio::sync::Mutex<()>,
    /// Publications asked for so far.
    asked: std::sync::atomic::AtomicU64,
    /// The most asked for that a publication which succeeded had been asked for when it began.
    done: std::sync::atomic::AtomicU64,
}

impl Store {
    /// Runs `publish` (the catalogue grants written into this hub's profile) alone; until one
    /// begun after this call succeeds, [`Store::grants_due`].
    pub async fn publishing_grants<T>(
        &self,
        publish: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        // Counted before waiting: a caller dropped while it waits (an admission whose client
        // hung up) leaves it due.
        self.grants.asked.fetch_add(1, SeqCst);
        let _one = self.grants.one.lock().await;
        // Every publication asked for until now is covered by this one, which reads from here.
        let covers = self.grants.asked.load(SeqCst);
        let done = publish.await;
        if done.is_ok() {
            self.grants.done.fetch_max(covers, SeqCst);
        }
        done
    }

    /// How many publications of the catalogue grants were asked for so far.
    #[cfg(test)]
    pub(crate) fn grants_asked(&self) -> u64 {
        self.grants.asked.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether a publication of the catalogue grants was asked for and none begun since has
    /// succeeded (to be tried again).
    pub fn grants_due(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.grants.done.load(SeqCst) < self.grants.asked.load(SeqCst)
    }

    /// Grants (or withdraws) the catalogue of its scope to a subscriber enrolled here.
    pub async fn set_catalogue_grant(&self, unit: &str, granted: bool) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE children SET catalogue = ? WHERE unit = ? AND role = ?")
            .bind(granted)
            .bind(unit)
            .bind(crate::domain::unit::Role::Subscriber.as_str())
            .execute(&mut *self.writer.lock().await)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The document version the catalogue rows were last brought up to.
    pub async fn catalogue_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .meta(VERSION)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    pub async fn set_catalogue_version(&self, version: i64) -> Result<(), StoreError> {
        // Never backwards: two refreshes may finish in either order.
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
        )
        .bind(VERSION)
        .bind(version.to_string())
        .execute(&mut *self.writer.lock().await)
        .await?;
        Ok(())
    }

    /// The last sequence number of the catalogue (0 before any row).
    pub async fn catalogue_seq(&self) -> Result<i64, StoreError> {
        Ok(self
            .meta(SEQ)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Makes the rows of `unit` the `entries` given (device code, JSON): a new or changed row
    /// gets the next sequence number, a camera no longer there becomes a tombstone. Returns how
    /// many rows changed.
    pub async fn sync_catalogue(
        &self,
        unit: &str,
        entries: &[(String, String)],
    ) -> Result<usize, StoreError> {
        // On the store's writer, the write lock taken first: a deferred transaction that read
        // and then writes meets the other writes with SQLITE_BUSY instead of waiting its turn.
        let mut writer = self.writer.lock().await;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, "BEGIN IMMEDIATE").await?;
        let held: HashMap<String, (String, bool)> =
            sqlx::query("SELECT device_code, row, removed FROM catalogue_rows WHERE unit = ?")
                .bind(unit)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|r| (r.get(0), (r.get(1), r.get::<bool, _>(2))))
                .collect();
        let mut seq: i64 = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(SEQ)
            .fetch_optional(&mut *tx)
            .await?
            .and_then(|v: String| v.parse().ok())
            .unwrap_or(0);
        let start = seq;
        let now = chrono::Utc::now().to_rfc3339();
        let mut present = std::collections::HashSet::new();
        for (code, row) in entries {
            present.insert(code.as_str());
            if held
                .get(code)
                .is_some_and(|(r, removed)| r == row && !removed)
            {
                continue;
            }
            seq += 1;
            sqlx::query(
                "INSERT INTO catalogue_rows (unit, device_code, row, seq, removed, changed_at)
                 VALUES (?, ?, ?, ?, 0, ?)
                 ON CONFLICT (unit, device_code) DO UPDATE SET row = excluded.row,
                   seq = excluded.seq, removed = 0, changed_at = excluded.changed_at",
            )
            .bind(unit)
            .bind(code)
            .bind(row)
            .bind(seq)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        for (code, (_, removed)) in &held {
            if *removed || present.contains(code.as_str()) {
                continue;
            }
            seq += 1;
            sqlx::query(
                "UPDATE catalogue_rows SET removed = 1, seq = ?, changed_at = ?
                 WHERE unit = ? AND device_code = ?",
            )
            .bind(seq)
            .bind(&now)
            .bind(unit)
            .bind(code)
            .execute(&mut *tx)
            .await?;
        }
        if seq != start {
            sqlx::query(
                "INSERT INTO meta (key, value) VALUES (?, ?)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(SEQ)
            .bind(seq.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok((seq - start) as usize)
    }

    /// The oldest cursor still answered with changes: tombstones up to it were dropped.
    pub async fn catalogue_floor(&self) -> Result<i64, StoreError> {
        Ok(self
            .meta(FLOOR)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Drops the tombstones changed before `before` (RFC 3339); a cursor older than the newest
    /// of them then gets a full catalogue. Returns how many were dropped.
    pub async fn drop_catalogue_tombstones(&self, before: &str) -> Result<u64, StoreError> {
        // On the store's writer, the write lock taken first: a deferred transaction that read
        // and then writes meets the other writes with SQLITE_BUSY instead of waiting its turn.
        let mut writer = self.writer.lock().await;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, "BEGIN IMMEDIATE").await?;
        let newest: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(seq) FROM catalogue_rows WHERE removed = 1 AND changed_at < ?",
        )
        .bind(before)
        .fetch_one(&mut *tx)
        .await?;
        let Some(newest) = newest else {
            return Ok(0);
        };
        let done = sqlx::query("DELETE FROM catalogue_rows WHERE removed = 1 AND seq <= ?")
            .bind(newest)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?, ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(FLOOR)
        .bind(newest.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// The rows of `unit`'s subtree (the unit and `unit-…`) changed after `after` (tombstones
    /// included), or, with `after` `None`, every row present; in sequence order.
    pub async fn catalogue_rows(
        &self,
        unit: &str,
        after: Option<i64>,
    ) -> Result<Vec<CatalogueRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT unit, device_code, row, seq, removed FROM catalogue_rows
             WHERE (unit = ?1 OR substr(unit, 1, length(?1) + 1) = ?1 || '-')
               AND (?2 IS NULL AND removed = 0 OR seq > ?2)
             ORDER BY seq",
        )
        .bind(unit)
        .bind(after)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| CatalogueRow {
                unit: r.get(0),
                device_code: r.get(1),
                row: r.get(2),
                seq: r.get(3),
                removed: r.get(4),
            })
            .collect())
    }
}
