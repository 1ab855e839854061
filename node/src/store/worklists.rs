//! The clerk's worklists (the cameras that keep a figure down: 缺少建档信息, 缺少坐标, 应联未联,
//! 故障) with their counts, and a camera's history from the audit rows, a page at a time.

use sqlx::Row;

use crate::store::query::camera_row;
use crate::store::{CameraRow, Store, StoreError};

/// A worklist: the built cameras of a ledger that keep one figure down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worklist {
    /// Not archived (建档率).
    Archive,
    /// No coordinates (标注率).
    Coordinates,
    /// Must be networked and is not (联网率).
    Unnetworked,
    /// Reported faulty (完好率).
    Faulty,
}

impl Worklist {
    pub const ALL: [Worklist; 4] = [
        Worklist::Archive,
        Worklist::Coordinates,
        Worklist::Unnetworked,
        Worklist::Faulty,
    ];

    /// The identifier in a page's address.
    pub fn key(self) -> &'static str {
        match self {
            Worklist::Archive => "archive",
            Worklist::Coordinates => "coordinates",
            Worklist::Unnetworked => "unnetworked",
            Worklist::Faulty => "faulty",
        }
    }

    pub fn from_key(key: &str) -> Option<Worklist> {
        Worklist::ALL.into_iter().find(|w| w.key() == key)
    }

    /// The condition on the `cameras` projection.
    fn sql(self) -> &'static str {
        match self {
            Worklist::Archive => "built = 1 AND archived = 0",
            Worklist::Coordinates => "built = 1 AND geo_tagged = 0",
            Worklist::Unnetworked => "built = 1 AND must_network = 1 AND networked = 0",
            Worklist::Faulty => "built = 1 AND state = 'faulty'",
        }
    }
}

/// One change of a camera record, from the audit.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    /// UTC, RFC 3339.
    pub at: String,
    pub who: String,
    /// `add`, `edit`, `remove`.
    pub action: String,
    /// The fields changed, by key.
    pub fields: Vec<String>,
    /// The fields before and after, as JSON objects by key (`Null` when there was none).
    pub old: serde_json::Value,
    pub new: serde_json::Value,
}

impl Store {
    /// How many cameras of `unit`'s ledger are on each worklist, in the order of
    /// [`Worklist::ALL`].
    pub async fn worklist_counts(&self, unit: &str) -> Result<[i64; 4], StoreError> {
        let sql = format!(
            "SELECT {} FROM cameras WHERE unit = ?",
            Worklist::ALL
                .map(|w| format!("COALESCE(SUM({}), 0)", w.sql()))
                .join(", ")
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(unit)
            .fetch_one(&self.pool)
            .await?;
        Ok(std::array::from_fn(|i| r.get::<i64, _>(i)))
    }

    /// A page of the cameras of `unit`'s ledger on worklist `w` (by device code), and how many
    /// are on it in all.
    pub async fn worklist(
        &self,
        unit: &str,
        w: Worklist,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<CameraRow>, i64), StoreError> {
        let cond = w.sql();
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM cameras WHERE unit = ? AND {cond}"
        )))
        .bind(unit)
        .fetch_one(&self.pool)
        .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT unit, record, conflicts, updated_at FROM cameras WHERE unit = ? AND {cond}
             ORDER BY device_code LIMIT ? OFFSET ?"
        )))
        .bind(unit)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let list = rows.iter().map(camera_row).collect::<Result<Vec<_>, _>>()?;
        Ok((list, total))
    }

    /// A page of the changes of camera `code` in `unit`'s ledger (newest first), and how many
    /// there are in all.
    pub async fn camera_history(
        &self,
        unit: &str,
        code: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AuditRow>, i64), StoreError> {
        let doc = format!("ledger/{unit}");
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit WHERE doc_id = ? AND record = ?")
                .bind(&doc)
                .bind(code)
                .fetch_one(&self.pool)
                .await?;
        let rows = sqlx::query(
            "SELECT at, who, action, fields, old_value, new_value FROM audit
             WHERE doc_id = ? AND record = ? ORDER BY id DESC LIMIT ? OFFSET ?",
        )
        .bind(&doc)
        .bind(code)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let json = |s: Option<String>| {
            s.and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or(serde_json::Value::Null)
        };
        let list = rows
            .iter()
            .map(|r| AuditRow {
                at: r.get(0),
                who: r.get(1),
                action: r.get(2),
                fields: r
                    .get::<String, _>(3)
                    .split(',')
                    .filter(|f| !f.is_empty())
                    .map(str::to_string)
                    .collect(),
                old: json(r.get(4)),
                new: json(r.get(5)),
            })
            .collect();
        Ok((list, total))
    }
}
