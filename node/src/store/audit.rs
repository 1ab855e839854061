//! The audit log: who changed what, one row per record and change (written by the projections).

use serde_json::json;
use sqlx::Row;

use crate::store::{Store, StoreError};

impl Store {
    /// The audit rows of one record (newest first), or of everything when `record` is `None`.
    pub async fn audit(
        &self,
        record: Option<&str>,
        limit: i64,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, who, doc_id, record, action, fields, old_value, new_value FROM audit
             WHERE (?1 IS NULL OR record = ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(record)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let parse = |s: Option<String>| {
                    s.and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
                        .unwrap_or(serde_json::Value::Null)
                };
                json!({
                    "at": r.get::<String, _>(0),
                    "who": r.get::<String, _>(1),
                    "doc": r.get::<String, _>(2),
                    "record": r.get::<String, _>(3),
                    "action": r.get::<String, _>(4),
                    "fields": r.get::<String, _>(5),
                    "old": parse(r.get(6)),
                    "new": parse(r.get(7)),
                })
            })
            .collect())
    }
}
