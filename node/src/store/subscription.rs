//! What a feed subscriber (the police) received from its hub: the latest row of every unit of the
//! scope it follows and the recent changes, each written in one transaction with the scope's
//! cursor, so that a subscriber restarted resumes exactly where its rows stand (no gap, no second
//! snapshot).

use sqlx::{Row as _, SqliteConnection};

use crate::domain::figures::Stats;
use crate::store::{Store, StoreError, now};

/// How many of the latest changes a scope keeps.
pub const KEPT_CHANGES: i64 = 500;

/// One row as the subscriber received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The hub whose rollup holds the row (a unit's own totals: the unit itself).
    pub hub: String,
    /// The figures, the stats contract as the wire row carries it: the key areas' built counts
    /// do not travel (0 here); their intact rates do.
    pub stats: Stats,
    /// When this subscriber received it (RFC 3339, UTC).
    pub received_at: String,
}

/// One change of a row, in the order received.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedChange {
    /// The feed's cursor of the change.
    pub cursor: u64,
    pub row: Received,
}

/// The columns of a received row, in the order [`received`] reads them (from column 0).
macro_rules! columns {
    () => {
        "unit, hub, name, built, must_network, networked, networking_rate, archived, \
         archive_rate, geo_tagged, geo_rate, in_service, intact_rate, intact_rate_key_public, \
         intact_rate_key_industry, as_of, received_at"
    };
}

/// One placeholder per column of [`columns`].
macro_rules! placeholders {
    () => {
        "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
    };
}

fn received(r: &sqlx::sqlite::SqliteRow, from: usize) -> Received {
    let n = |i: usize| r.get::<i64, _>(from + i).max(0) as u64;
    let f = |i: usize| r.get::<Option<f64>, _>(from + i);
    Received {
        hub: r.get(from + 1),
        stats: Stats {
            unit: r.get(from),
            name: r.get(from + 2),
            built: n(3),
            must_network: n(4),
            networked: n(5),
            networking_rate: f(6),
            archived: n(7),
            archive_rate: f(8),
            geo_tagged: n(9),
            geo_rate: f(10),
            in_service: n(11),
            intact_rate: f(12),
            intact_rate_key_public: f(13),
            intact_rate_key_industry: f(14),
            key_public_built: 0,
            key_industry_built: 0,
            as_of: r.get(from + 15),
            milestone: None,
            findings_errors: None,
            findings_warnings: None,
            service_rate_30d: None,
            mean_repair_hours_30d: None,
            children: Vec::new(),
        },
        received_at: r.get(from + 16),
    }
}

/// Binds `s` of `hub`, received at `at`, in the order of [`COLUMNS`].
fn bind<'q>(
    q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    hub: &'q str,
    s: &'q Stats,
    at: &'q str,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    q.bind(&s.unit)
        .bind(hub)
        .bind(&s.name)
        .bind(s.built as i64)
        .bind(s.must_network as i64)
        .bind(s.networked as i64)
        .bind(s.networking_rate)
        .bind(s.archived as i64)
        .bind(s.archive_rate)
        .bind(s.geo_tagged as i64)
        .bind(s.geo_rate)
        .bind(s.in_service as i64)
        .bind(s.intact_rate)
        .bind(s.intact_rate_key_public)
        .bind(s.intact_rate_key_industry)
        .bind(&s.as_of)
        .bind(at)
}

/// The `meta` key of the cursor of `scope` (the empty scope: the one enrolled).
fn cursor_key(scope: &str) -> String {
    format!("feed_cursor:{scope}")
}

async fn set_cursor(
    conn: &mut SqliteConnection,
    scope: &str,
    cursor: u64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(cursor_key(scope))
    .bind(cursor.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn upsert(
    conn: &mut SqliteConnection,
    scope: &str,
    hub: &str,
    s: &Stats,
    at: &str,
) -> Result<(), StoreError> {
    const SQL: &str = concat!(
        "INSERT OR REPLACE INTO subscribed_rows (scope, ",
        columns!(),
        ") VALUES (?, ",
        placeholders!(),
        ")"
    );
    bind(sqlx::query(SQL).bind(scope), hub, s, at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Store {
    /// The cursor the feed of `scope` resumes from (0: none yet, a snapshot comes first).
    pub async fn subscribed_cursor(&self, scope: &str) -> Result<u64, StoreError> {
        Ok(self
            .meta(&cursor_key(scope))
            .await?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0))
    }

    /// A snapshot of `scope` as it stands at `cursor`: its rows replace those held, and the
    /// cursor is set, in one transaction.
    pub async fn take_snapshot(
        &self,
        scope: &str,
        rows: &[(String, Stats)],
        cursor: u64,
    ) -> Result<(), StoreError> {
        let at = now();
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM subscribed_rows WHERE scope = ?")
            .bind(scope)
            .execute(&mut *tx)
            .await?;
        for (hub, s) in rows {
            upsert(&mut tx, scope, hub, s, &at).await?;
        }
        set_cursor(&mut tx, scope, cursor).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A change of one row of `scope` at `cursor`: the row, the change (the oldest beyond
    /// [`KEPT_CHANGES`] dropped) and the cursor, in one transaction.
    pub async fn take_change(
        &self,
        scope: &str,
        cursor: u64,
        hub: &str,
        s: &Stats,
    ) -> Result<(), StoreError> {
        let at = now();
        let mut tx = self.pool.begin().await?;
        upsert(&mut tx, scope, hub, s, &at).await?;
        const SQL: &str = concat!(
            "INSERT INTO subscribed_changes (scope, cursor, ",
            columns!(),
            ") VALUES (?, ?, ",
            placeholders!(),
            ")"
        );
        bind(
            sqlx::query(SQL).bind(scope).bind(cursor as i64),
            hub,
            s,
            &at,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM subscribed_changes WHERE scope = ?1 AND id <= \
             (SELECT id FROM subscribed_changes WHERE scope = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        )
        .bind(scope)
        .bind(KEPT_CHANGES)
        .execute(&mut *tx)
        .await?;
        set_cursor(&mut tx, scope, cursor).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The rows of `scope` as last received, by hub and unit.
    pub async fn subscribed_rows(&self, scope: &str) -> Result<Vec<Received>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM subscribed_rows WHERE scope = ? ORDER BY hub, unit"
        );
        let rows = sqlx::query(SQL).bind(scope).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| received(r, 0)).collect())
    }

    /// The latest `limit` changes of `scope`, newest first.
    pub async fn subscribed_changes(
        &self,
        scope: &str,
        limit: i64,
    ) -> Result<Vec<ReceivedChange>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            ", cursor FROM subscribed_changes WHERE scope = ? ORDER BY id DESC LIMIT ?"
        );
        let rows = sqlx::query(SQL)
            .bind(scope)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| ReceivedChange {
                cursor: r.get::<i64, _>(17).max(0) as u64,
                row: received(r, 0),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::figures::{Counts, Stats};

    fn row(unit: &str, networked: u64) -> Stats {
        let c = Counts {
            built: 10,
            must_network: 8,
            networked,
            in_service: 9,
            key_public_built: 4,
            key_public_in_service: 3,
            ..Default::default()
        };
        let mut s = Stats::from_counts(
            unit,
            "渝中区卫生健康委员会",
            &c,
            "2026-11-26T02:01:23.468Z".into(),
        );
        // What the wire carries: no built counts of the key areas.
        s.key_public_built = 0;
        s
    }

    #[tokio::test]
    async fn a_snapshot_then_changes_keep_the_latest_row_the_changes_and_the_cursor() {
        let (_dir, s) = crate::store::testing::hospital().await;
        assert_eq!(s.subscribed_cursor("500000").await.unwrap(), 0);
        let snapshot = vec![
            ("500000".to_string(), row("500103", 1)),
            ("500000".to_string(), row("500104", 2)),
        ];
        s.take_snapshot("500000", &snapshot, 7).await.unwrap();
        assert_eq!(s.subscribed_cursor("500000").await.unwrap(), 7);
        let rows = s.subscribed_rows("500000").await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].stats, snapshot[0].1, "every figure reads back");
        assert_eq!(rows[0].stats.intact_rate_key_public, Some(75.0));
        assert!(rows[0].stats.archive_rate == Some(0.0));
        assert!(s.subscribed_changes("500000", 10).await.unwrap().is_empty());

        s.take_change("500000", 9, "500000", &row("500103", 5))
            .await
            .unwrap();
        assert_eq!(s.subscribed_cursor("500000").await.unwrap(), 9);
        let rows = s.subscribed_rows("500000").await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].stats.networked, 5);
        let changes = s.subscribed_changes("500000", 10).await.unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!((changes[0].cursor, changes[0].row.stats.networked), (9, 5));

        // Another scope is kept apart; a new snapshot replaces the scope's rows.
        s.take_change("500103", 3, "500103", &row("500103-0001", 1))
            .await
            .unwrap();
        s.take_snapshot("500000", &snapshot[1..], 12).await.unwrap();
        let rows = s.subscribed_rows("500000").await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].stats.unit, "500104");
        assert_eq!(s.subscribed_rows("500103").await.unwrap().len(), 1);
        assert_eq!(s.subscribed_cursor("500103").await.unwrap(), 3);
    }

    #[tokio::test]
    async fn only_the_latest_changes_are_kept_newest_first() {
        let (_dir, s) = crate::store::testing::hospital().await;
        let n = super::KEPT_CHANGES as u64 + 5;
        for i in 1..=n {
            s.take_change("500000", i, "500000", &row("500103", i))
                .await
                .unwrap();
        }
        let all = s.subscribed_changes("500000", 10_000).await.unwrap();
        assert_eq!(all.len() as i64, super::KEPT_CHANGES);
        assert_eq!(all[0].cursor, n);
        assert_eq!(all.last().unwrap().cursor, 6);
        assert_eq!(
            s.subscribed_rows("500000").await.unwrap()[0]
                .stats
                .networked,
            n
        );
    }
}
