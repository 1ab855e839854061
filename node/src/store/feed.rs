//! The feed's events: one per change of a rollup row, appended by the projection of rollups in
//! the transaction of the change, so that the cursor (`seq`) is durable. The row travels typed:
//! its unit, name, ten counts, as-of time and data-quality findings, in columns. The history is
//! bounded: behind a compaction point only the newest event of each row is kept, and the cursor
//! each subscriber last resumed from (or was sent up to) is kept here to choose that point.

use std::sync::LazyLock;

use sqlx::{Row as _, SqliteConnection};

use crate::docs::rollup::Row;
use crate::store::counts::{COLUMNS, PLACEHOLDERS, bind_counts, counts_at, findings_at};
use crate::store::{Store, StoreError, now};

/// The `meta` key of the compaction point: behind it, only the newest event of each row is kept.
const COMPACTED: &str = "feed_compacted";

/// The feed's size, for `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedSize {
    /// Events held.
    pub events: u64,
    /// Rows (hub, unit) they are of.
    pub rows: u64,
    /// The cursor of the newest event.
    pub newest: u64,
    /// Behind (and at) this cursor only the newest event of each row is kept.
    pub compacted: u64,
}

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

/// Rows written in one statement at most (16 parameters each, within SQLite's limit).
pub(super) const ROWS_PER_STATEMENT: usize = 500;

/// Appends the events of `rows` of `hub`'s rollup changing, in order (inside the projection's
/// transaction), in one statement per [`ROWS_PER_STATEMENT`].
pub(super) async fn append_feed(
    conn: &mut SqliteConnection,
    hub: &str,
    rows: &[&Row],
    at: &str,
) -> Result<(), StoreError> {
    static ONE: LazyLock<String> =
        LazyLock::new(|| format!("(?, ?, ?, {}, ?, ?, ?, ?)", *PLACEHOLDERS));
    for batch in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO feed_events (hub, unit, name, {}, as_of, at, findings_errors, findings_warnings)
             VALUES {}",
            *COLUMNS,
            vec![ONE.as_str(); batch.len()].join(", ")
        );
        // Built from constant column lists and placeholders only: every value is bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in batch {
            q = bind_counts(q.bind(hub).bind(&row.unit).bind(&row.name), &row.counts)
                .bind(&row.as_of)
                .bind(at)
                .bind(row.findings.errors as i64)
                .bind(row.findings.warnings as i64);
        }
        q.execute(&mut *conn).await?;
    }
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

    /// The compaction point: at and behind it only the newest event of each row is kept, so a
    /// subscriber resuming from an older cursor must start from a snapshot (0: never compacted).
    pub async fn feed_compacted(&self) -> Result<u64, StoreError> {
        Ok(self
            .meta(COMPACTED)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Compacts the events at and behind `upto`: of each (hub, unit) only the newest of them is
    /// kept (a subscriber resuming from any older cursor still gets every row's figures as they
    /// stood at `upto`), and the compaction point moves there, in one transaction. Returns the
    /// events removed. Never moves the point back.
    pub async fn compact_feed(&self, upto: u64) -> Result<u64, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, "BEGIN IMMEDIATE").await?;
        let was: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(COMPACTED)
            .fetch_optional(&mut *tx)
            .await?;
        let was: u64 = was.and_then(|v| v.parse().ok()).unwrap_or(0);
        if upto <= was {
            return Ok(0);
        }
        let removed = sqlx::query(
            "DELETE FROM feed_events WHERE seq <= ?1 AND seq NOT IN
                (SELECT MAX(seq) FROM feed_events WHERE seq <= ?1 GROUP BY hub, unit)",
        )
        .bind(upto as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(COMPACTED)
        .bind(upto.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// Notes the cursor `subscriber` resumed from, or was sent up to, in its feed of `scope`.
    pub async fn note_feed_cursor(
        &self,
        subscriber: &str,
        scope: &str,
        cursor: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO feed_cursors (subscriber, scope, cursor, seen_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (subscriber, scope) DO UPDATE SET cursor = excluded.cursor, seen_at = excluded.seen_at",
        )
        .bind(subscriber)
        .bind(scope)
        .bind(cursor as i64)
        .bind(now())
        .execute(&mut *self.writer.lock().await)
        .await?;
        Ok(())
    }

    /// The oldest cursor of the subscribers seen at or after `since` (RFC 3339, UTC); none when
    /// none was.
    pub async fn slowest_feed_cursor(&self, since: &str) -> Result<Option<u64>, StoreError> {
        let n: Option<i64> =
            sqlx::query_scalar("SELECT MIN(cursor) FROM feed_cursors WHERE seen_at >= ?")
                .bind(since)
                .fetch_one(&self.pool)
                .await?;
        Ok(n.map(|n| n.max(0) as u64))
    }

    /// How many events the feed holds, of how many rows, and where it stands.
    pub async fn feed_size(&self) -> Result<FeedSize, StoreError> {
        let (events, rows, newest): (i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), (SELECT COUNT(*) FROM (SELECT 1 FROM feed_events GROUP BY hub, unit)),
                    COALESCE(MAX(seq), 0) FROM feed_events",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(FeedSize {
            events: events.max(0) as u64,
            rows: rows.max(0) as u64,
            newest: newest.max(0) as u64,
            compacted: self.feed_compacted().await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::figures::{Counts, Stats};
    use crate::store::{MIGRATOR, STORE_FILE, connect};
    use std::collections::HashMap;

    /// Appends an event of `unit` in `hub`'s rollup with `networked` networked cameras.
    async fn event(s: &Store, hub: &str, unit: &str, networked: u64) {
        let row = Row {
            unit: unit.into(),
            name: "单位".into(),
            counts: Counts {
                built: 100,
                networked,
                ..Default::default()
            },
            findings: Default::default(),
            as_of: "2026-11-26T10:01:00.000Z".into(),
        };
        let mut conn = s.pool.acquire().await.unwrap();
        append_feed(&mut conn, hub, &[&row], "now").await.unwrap();
    }

    /// (seq, hub, unit, networked) of every event held, in order.
    async fn held(s: &Store) -> Vec<(u64, String, String, u64)> {
        s.feed_after(0, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.seq, e.hub, e.row.unit, e.row.counts.networked))
            .collect()
    }

    #[tokio::test]
    async fn compaction_keeps_the_newest_event_of_each_row_at_or_behind_the_point() {
        let (_dir, s) = crate::store::testing::hospital().await;
        // seq:  1: A=1  2: B=1  3: A=2  4: C=1  5: A=3  6: B=2  7: A=4
        for (unit, n) in [
            ("A", 1),
            ("B", 1),
            ("A", 2),
            ("C", 1),
            ("A", 3),
            ("B", 2),
            ("A", 4),
        ] {
            event(&s, "500103", unit, n).await;
        }
        let latest_before: Vec<_> = s.feed_latest().await.unwrap();
        assert_eq!(s.compact_feed(5).await.unwrap(), 2, "A=1 and A=2");
        assert_eq!(
            held(&s).await,
            [
                (2, "500103".into(), "B".into(), 1),
                (4, "500103".into(), "C".into(), 1),
                (5, "500103".into(), "A".into(), 3),
                (6, "500103".into(), "B".into(), 2),
                (7, "500103".into(), "A".into(), 4),
            ],
            "behind 5 the newest of each row; after it every event"
        );
        assert_eq!(s.feed_compacted().await.unwrap(), 5);
        assert_eq!(
            s.feed_latest().await.unwrap(),
            latest_before,
            "the rows stand as they did"
        );
        // A subscriber resuming from cursor 1 (behind the point) still gets every row as it is.
        let mut from_1: HashMap<String, u64> = HashMap::new();
        for e in s.feed_after(1, 100).await.unwrap() {
            from_1.insert(e.row.unit, e.row.counts.networked);
        }
        assert_eq!(
            from_1,
            HashMap::from([("A".into(), 4), ("B".into(), 2), ("C".into(), 1)])
        );
        // The point never moves back, and the newest event and the cursor stay.
        assert_eq!(s.compact_feed(3).await.unwrap(), 0);
        assert_eq!(s.feed_compacted().await.unwrap(), 5);
        assert_eq!(s.compact_feed(7).await.unwrap(), 2, "A=3 and B=1");
        assert_eq!(s.feed_cursor().await.unwrap(), 7);
        let size = s.feed_size().await.unwrap();
        assert_eq!(
            (size.events, size.rows, size.newest, size.compacted),
            (3, 3, 7, 7)
        );
        // The same unit in another hub's rollup is another row.
        event(&s, "500000", "A", 9).await;
        s.compact_feed(8).await.unwrap();
        assert_eq!(s.feed_size().await.unwrap().rows, 4);
        assert_eq!(
            s.feed_after(7, 10).await.unwrap()[0].seq,
            8,
            "cursors are not reused"
        );
    }

    #[tokio::test]
    async fn the_slowest_cursor_is_of_the_subscribers_seen_recently() {
        let (_dir, s) = crate::store::testing::hospital().await;
        assert_eq!(s.slowest_feed_cursor("").await.unwrap(), None);
        s.note_feed_cursor("500000-P001", "500000", 40)
            .await
            .unwrap();
        s.note_feed_cursor("500000-P002", "500103", 12)
            .await
            .unwrap();
        s.note_feed_cursor("500000-P001", "500000", 55)
            .await
            .unwrap();
        assert_eq!(s.slowest_feed_cursor("").await.unwrap(), Some(12));
        assert_eq!(
            s.slowest_feed_cursor("9999-01-01T00:00:00Z").await.unwrap(),
            None,
            "none seen since"
        );
    }

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
