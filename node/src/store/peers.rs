//! The peers this unit syncs with: their connection figures and whether they are stuck.

use crate::store::refusal_log::clip;
use crate::store::{Store, StoreError, now};

/// One peer this unit syncs with, as the `peers` table keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct PeerStatus {
    pub peer: String,
    /// `parent` or `child`.
    pub relation: String,
    pub connected: bool,
    pub last_sync_at: Option<String>,
    pub disconnected_at: Option<String>,
    pub bytes_sent: i64,
    pub bytes_received: i64,
    pub last_error: Option<String>,
    /// Since when a document cannot be sent to or taken from this peer (`None`: making progress).
    pub stuck_since: Option<String>,
    pub stuck_reason: Option<String>,
}

impl Store {
    /// Records that a document cannot make progress with `peer` (kept since the first time, until
    /// the peer is next in sync).
    pub async fn set_stuck(&self, peer: &str, reason: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE peers SET stuck_since = COALESCE(stuck_since, ?), stuck_reason = ? WHERE peer = ?",
        )
        .bind(now())
        .bind(clip(reason, 500))
        .bind(peer)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The peer is making progress again.
    pub async fn clear_stuck(&self, peer: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE peers SET stuck_since = NULL, stuck_reason = NULL WHERE peer = ? AND stuck_since IS NOT NULL",
        )
        .bind(peer)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The peers this unit syncs with, the parent first.
    pub async fn peers(&self) -> Result<Vec<PeerStatus>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT peer, relation, connected, last_sync_at, disconnected_at, bytes_sent, bytes_received, last_error,
                    stuck_since, stuck_reason
             FROM peers ORDER BY relation DESC, peer",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
