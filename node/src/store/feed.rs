//! The feed's events: one per change of a rollup row, appended by the projection of rollups in
//! the transaction of the change, so that the cursor (`seq`) is durable. The row travels typed:
//! its unit, name, ten counts, as-of time and data-quality findings, in columns.

use std::sync::LazyLock;

use sqlx::{Row as _, SqliteConnection};

use crate::docs::rollup::Row;
use crate::store::counts::{COLUMNS, PLACEHOLDERS, bind_counts, counts_at, findings_at};
use crate::store::{Store, StoreError};

/// One event of the feed: a rollup row as it became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRow {
    /// The cursor: events are numbered in the order they were written.
    pub seq: u64,
    /// The hub whose rollup holds the row (a hub's own totals are in its own rollup).
    pub hub: String,
    pub row: Row,
}

/// The columns of an event, in the order [`feed_row`] reads them.
static SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT seq, hub, unit, name, {}, as_of, findings_errors, findings_warnings FROM feed_events",
        *COLUMNS
    )
});

fn feed_row(r: &sqlx::sqlite::SqliteRow) -> FeedRow {
    FeedRow {
        seq: r.get::<i64, _>(0).max(0) as u64,
        hub: r.get(1),
        row: Row {
            unit: r.get(2),
            name: r.get(3),
            counts: counts_at(r, 4),
            findings: findings_at(r, 15),
            as_of: r.get(14),
        },
    }
}

/// Appends the event of `row` of `hub`'s rollup changing (inside the projection's transaction).
pub(super) async fn append_feed(
    conn: &mut SqliteConnection,
    hub: &str,
    row: &Row,
    at: &str,
) -> Result<(), StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO feed_events (hub, unit, name, {}, as_of, at, findings_errors, findings_warnings)
             VALUES (?, ?, ?, {}, ?, ?, ?, ?)",
            *COLUMNS, *PLACEHOLDERS
        )
    });
    let q = sqlx::query(SQL.as_str())
        .bind(hub)
        .bind(&row.unit)
        .bind(&row.name);
    bind_counts(q, &row.counts)
        .bind(&row.as_of)
        .bind(at)
        .bind(row.findings.errors as i64)
        .bind(row.findings.warnings as i64)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Store {
    /// The cursor of the newest event (0 before any).
    pub async fn feed_cursor(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM feed_events")
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    /// The newest event of every (hub, unit), by hub and unit: the rows as they stand.
    pub async fn feed_latest(&self) -> Result<Vec<FeedRow>, StoreError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "{} WHERE seq IN (SELECT MAX(seq) FROM feed_events GROUP BY hub, unit) ORDER BY hub, unit",
                *SELECT
            )
        });
        let rows = sqlx::query(SQL.as_str()).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(feed_row).collect())
    }

    /// At most `limit` events after the cursor `after`, in order.
    pub async fn feed_after(&self, after: u64, limit: u32) -> Result<Vec<FeedRow>, StoreError> {
        static SQL: LazyLock<String> =
            LazyLock::new(|| format!("{} WHERE seq > ? ORDER BY seq LIMIT ?", *SELECT));
        let rows = sqlx::query(SQL.as_str())
            .bind(after as i64)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(feed_row).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::figures::{Counts, Stats};
    use crate::store::{MIGRATOR, STORE_FILE, connect};

    /// The last migration before the feed's rows were typed.
    const JSON_FEED: i64 = 20261126100001;

    #[tokio::test]
    async fn events_kept_as_json_are_converted_and_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let (pool, _writer) = connect(&dir.path().join(STORE_FILE), true).await.unwrap();
        MIGRATOR.run_to(JSON_FEED, &pool).await.unwrap();
        let counts = [
            Counts::default(),
            Counts::from_array(std::array::from_fn(|i| 10 - i as u64)),
            Counts {
                built: 9,
                key_public_built: 3,
                key_public_in_service: 2,
                key_industry_built: 7,
                key_industry_in_service: 1,
                ..Default::default()
            },
            // So many cameras that the rate (two decimals) cannot tell every count apart.
            Counts {
                built: 250_000,
                in_service: 240_001,
                key_public_built: 123_457,
                key_public_in_service: 98_765,
                key_industry_built: 54_321,
                key_industry_in_service: 54_320,
                ..Default::default()
            },
        ];
        let mut before = Vec::new();
        for (i, c) in counts.iter().enumerate() {
            let stats = Stats::from_counts(&format!("50010{i}"), "单位", c, format!("t{i}"));
            let mut json = serde_json::to_value(&stats).unwrap();
            json["hub"] = "500000".into();
            sqlx::query("INSERT INTO feed_events (hub, unit, row, at) VALUES (?, ?, ?, ?)")
                .bind("500000")
                .bind(&stats.unit)
                .bind(json.to_string())
                .bind("now")
                .execute(&pool)
                .await
                .unwrap();
            before.push(json);
        }
        MIGRATOR.run(&pool).await.unwrap();
        let rows = sqlx::query(SELECT.as_str()).fetch_all(&pool).await.unwrap();
        let after: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                let e = feed_row(r);
                let mut json = serde_json::to_value(e.row.stats()).unwrap();
                json["hub"] = e.hub.into();
                // The findings came after the JSON events (none then: 0).
                assert_eq!(
                    (&json["findings_errors"], &json["findings_warnings"]),
                    (&0.into(), &0.into())
                );
                json.as_object_mut().unwrap().remove("findings_errors");
                json.as_object_mut().unwrap().remove("findings_warnings");
                json
            })
            .collect();
        assert_eq!(after, before, "every figure reads as it did");
        let cursors: Vec<u64> = rows.iter().map(|r| feed_row(r).seq).collect();
        assert_eq!(cursors, [1, 2, 3, 4], "the cursors stay");
        let small = feed_row(&rows[2]).row.counts;
        assert_eq!(
            small, counts[2],
            "a count the rate tells apart comes back exactly"
        );
    }
}
