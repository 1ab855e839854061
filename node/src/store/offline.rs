//! Which children are offline now (the home page's list).

use crate::domain::unit::Role;
use crate::store::{Store, StoreError};

impl Store {
    /// The children that report here (not subscribers, not revoked) and are not connected now,
    /// each with when it disconnected (`None`: never connected), by unit code.
    pub async fn offline_children(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT c.unit, p.disconnected_at FROM children c LEFT JOIN peers p ON p.peer = c.unit
             WHERE c.role != ? AND c.revoked_at IS NULL AND COALESCE(p.connected, 0) = 0
             ORDER BY c.unit",
        )
        .bind(Role::Subscriber.as_str())
        .fetch_all(self.pool())
        .await?)
    }
}
