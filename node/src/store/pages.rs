//! What the web pages ask of the store beyond the ledger and the figures: the children that are
//! not connected now, and how many refusals are kept.

use crate::store::{Store, StoreError};

impl Store {
    /// The children that report here (not subscribers, not revoked) and are not connected now,
    /// each with when it disconnected (`None`: never connected), by unit code.
    pub async fn offline_children(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT c.unit, p.disconnected_at FROM children c LEFT JOIN peers p ON p.peer = c.unit
             WHERE c.role != 'subscriber' AND c.revoked_at IS NULL AND COALESCE(p.connected, 0) = 0
             ORDER BY c.unit",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// How many refused connections or data are on record.
    pub async fn refusals_on_record(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM refusals")
            .fetch_one(self.pool())
            .await?)
    }
}
