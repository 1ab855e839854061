//! When each field of a camera last changed in a ledger, read from the audit log: what an import
//! compares with the time a sheet's rows were exported, so that a sheet never silently overwrites
//! a newer edit.

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use crate::docs::document::DocId;
use crate::store::{Store, StoreError};

/// Device code → field key → when the field last changed (the audit's RFC 3339 UTC time).
pub type FieldTimes = HashMap<String, HashMap<String, String>>;

/// Above this many cameras the audit of the whole ledger is read in one pass rather than camera
/// by camera.
const ONE_BY_ONE: usize = 500;

impl Store {
    /// When each field of the cameras `codes` last changed in `doc` (a field never audited is
    /// absent).
    pub async fn field_times(
        &self,
        doc: &DocId,
        codes: &HashSet<String>,
    ) -> Result<FieldTimes, StoreError> {
        let mut times = FieldTimes::new();
        if codes.is_empty() {
            return Ok(times);
        }
        let doc_id = doc.to_string();
        let mut note = |record: String, fields: String, at: String| {
            if !codes.contains(&record) {
                return;
            }
            let of = times.entry(record).or_default();
            for f in fields.split(',').filter(|f| !f.is_empty()) {
                let t = of.entry(f.to_string()).or_default();
                if at > *t {
                    *t = at.clone();
                }
            }
        };
        if codes.len() <= ONE_BY_ONE {
            for code in codes {
                let rows = sqlx::query(
                    "SELECT record, fields, at FROM audit WHERE doc_id = ? AND record = ?",
                )
                .bind(&doc_id)
                .bind(code)
                .fetch_all(&self.pool)
                .await?;
                for r in rows {
                    note(r.get(0), r.get(1), r.get(2));
                }
            }
        } else {
            let rows = sqlx::query("SELECT record, fields, at FROM audit WHERE doc_id = ?")
                .bind(&doc_id)
                .fetch_all(&self.pool)
                .await?;
            for r in rows {
                note(r.get(0), r.get(1), r.get(2));
            }
        }
        Ok(times)
    }
}
