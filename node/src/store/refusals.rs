//! Refused connections and frames: the `refusals` table, written within the bounds of
//! [`RefusalLog`](super::refusal_log::RefusalLog) so that a flood writes a bounded number of rows.

use crate::docs::document::DocId;
use crate::store::refusal_log::{EndedMinute, clip};
use crate::store::{Store, StoreError, now};

/// Rows the `refusals` table keeps (the oldest go first).
const MAX_REFUSAL_ROWS: i64 = 100_000;

impl Store {
    /// Records a refusal with the peer's identity, and logs it (within the bounds of
    /// [`RefusalLog`](super::refusal_log::RefusalLog): a flood of refusals writes a bounded number of rows and log lines).
    pub async fn record_refusal(&self, peer: &str, doc: Option<&DocId>, reason: &str) {
        self.record_refusal_from(peer, peer, doc, reason).await
    }

    /// `record_refusal`, counted under `bucket` (the source address for a caller not yet
    /// identified, the identity otherwise).
    pub async fn record_refusal_from(
        &self,
        bucket: &str,
        peer: &str,
        doc: Option<&DocId>,
        reason: &str,
    ) {
        self.live
            .refusals_seen
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let peer = clip(peer, 128);
        let reason = clip(reason, 500);
        let doc = doc.map(|d| clip(&d.to_string(), 128));
        let (write, ended) = self
            .refusal_log
            .admit(bucket, &peer, doc.as_deref(), &reason);
        if let Some(ended) = ended {
            self.write_summaries(ended).await;
        }
        if write {
            self.write_refusal(&peer, doc.as_deref(), &reason).await;
        }
    }

    /// Writes the summaries of a minute that ended, if it has (or whatever minute it is, with
    /// `now`: at shutdown).
    pub async fn flush_refusals(&self, now: bool) {
        if let Some(ended) = self.refusal_log.take_ended(now) {
            self.write_summaries(ended).await;
        }
    }

    async fn write_summaries(&self, ended: EndedMinute) {
        let at = chrono::DateTime::from_timestamp(ended.minute * 60, 0)
            .map(|t| t.format("%H:%M UTC").to_string())
            .unwrap_or_default();
        for (bucket, n, first) in ended.suppressed {
            let reason = clip(
                &format!(
                    "{n} more refusals in the minute from {at}, counted but not recorded one by one (the first: {first})"
                ),
                600,
            );
            self.write_refusal(&bucket, None, &reason).await;
        }
        if ended.overflow > 0 {
            let reason = format!(
                "{} more refusals in the minute from {at} from sources beyond the log's bounds",
                ended.overflow
            );
            self.write_refusal("many sources", None, &reason).await;
        }
        // The table keeps the most recent rows only.
        let _ = sqlx::query("DELETE FROM refusals WHERE id <= (SELECT MAX(id) FROM refusals) - ?")
            .bind(MAX_REFUSAL_ROWS)
            .execute(self.pool())
            .await;
    }

    async fn write_refusal(&self, peer: &str, doc: Option<&str>, reason: &str) {
        tracing::warn!(peer, doc, reason, "refused");
        let r = sqlx::query("INSERT INTO refusals (at, peer, doc_id, reason) VALUES (?, ?, ?, ?)")
            .bind(now())
            .bind(peer)
            .bind(doc)
            .bind(reason)
            .execute(self.pool())
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "could not record a refusal");
        }
    }

    /// The refusals the `refusals` table holds now.
    pub async fn refusal_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM refusals")
            .fetch_one(&self.pool)
            .await?)
    }
}
