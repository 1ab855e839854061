//! The ten counts of [`Counts`] as SQL columns (of `stats`, `rollup_rows` and `feed_events`):
//! their names, placeholders and assignments follow from `Counts::FIELDS`, written once; and the
//! two columns of the data-quality findings beside them (`rollup_rows`, `feed_events`).

use std::sync::LazyLock;

use sqlx::Row;
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteRow};

use crate::domain::camera::Area;
use crate::domain::figures::Counts;
pub(super) use crate::domain::quality::Tally as Findings;

/// `built, must_network, …`: the ten columns in the order of `Counts::FIELDS`.
pub(super) static COLUMNS: LazyLock<String> = LazyLock::new(|| Counts::FIELDS.join(", "));

/// `?, ?, …`: one placeholder per count.
pub(super) static PLACEHOLDERS: LazyLock<String> =
    LazyLock::new(|| Counts::FIELDS.map(|_| "?").join(", "));

/// `built = excluded.built, …`: an upsert's assignments of the ten columns.
pub(super) static ASSIGN_EXCLUDED: LazyLock<String> = LazyLock::new(|| {
    Counts::FIELDS
        .map(|k| format!("{k} = excluded.{k}"))
        .join(", ")
});

/// How each count sums over the `cameras` projection of one unit, in the order of
/// `Counts::FIELDS` (the flags a camera counts towards are its columns; the key areas by `area`).
pub(super) static SUMS: LazyLock<String> = LazyLock::new(|| {
    Counts::FIELDS
        .map(|k| {
            let (public, industry) = (Area::KeyPublic.as_str(), Area::KeyIndustry.as_str());
            let e = match k {
                "key_public_built" => format!("built AND area = '{public}'"),
                "key_public_in_service" => format!("in_service AND area = '{public}'"),
                "key_industry_built" => format!("built AND area = '{industry}'"),
                "key_industry_in_service" => format!("in_service AND area = '{industry}'"),
                flag => flag.to_string(),
            };
            format!("COALESCE(SUM({e}), 0)")
        })
        .join(", ")
});

/// The ten count columns of `r` starting at column `from`.
pub(super) fn counts_at(r: &SqliteRow, from: usize) -> Counts {
    Counts::from_array(std::array::from_fn(|i| {
        r.get::<i64, _>(from + i).max(0) as u64
    }))
}

/// The two finding columns (`findings_errors`, `findings_warnings`) of `r` starting at `from`.
pub(super) fn findings_at(r: &SqliteRow, from: usize) -> Findings {
    Findings {
        errors: r.get::<i64, _>(from).max(0) as u64,
        warnings: r.get::<i64, _>(from + 1).max(0) as u64,
    }
}

/// Binds the ten counts, in the order of [`COLUMNS`].
pub(super) fn bind_counts<'q>(
    q: Query<'q, Sqlite, SqliteArguments>,
    c: &Counts,
) -> Query<'q, Sqlite, SqliteArguments> {
    c.to_array().into_iter().fold(q, |q, n| q.bind(n as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_columns_follow_the_fields() {
        assert!(COLUMNS.starts_with("built, must_network, networked,"));
        assert_eq!(PLACEHOLDERS.matches('?').count(), 10);
        assert!(
            ASSIGN_EXCLUDED.contains("key_industry_in_service = excluded.key_industry_in_service")
        );
        assert!(SUMS.starts_with("COALESCE(SUM(built), 0), COALESCE(SUM(must_network), 0)"));
        assert!(SUMS.ends_with("COALESCE(SUM(in_service AND area = 'key-industry'), 0)"));
    }
}
