//! The peers this unit syncs with: their connection figures, whether they are stuck, the
//! Automerge sync state of each shared document, and the identities this hub enrolled.

use automerge::sync::State;

use crate::docs::document::DocId;
use crate::domain::unit::Role;
use crate::store::membership::role_of;
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

/// One identity this hub enrolled, as the `children` table keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    pub unit: String,
    pub role: Role,
    /// The subtree a subscriber may watch.
    pub scope: Option<String>,
    pub serial: String,
    /// SHA-256 of the certificate's DER (enrollments before the admission gate have none).
    pub fingerprint: Option<String>,
    pub revoked_at: Option<String>,
    /// A subscriber granted the catalogue of its scope.
    pub catalogue: bool,
}

impl Store {
    /// A number that moves with every change to the enrollments (an enrollment, a revocation, a
    /// grant), by this process or another: kept by the store's triggers. `None` if its row is
    /// missing (then nothing can be told from it).
    pub async fn enrollments_version(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'children_version'",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Every enrollment of this hub, revoked ones included.
    pub async fn enrollments(&self) -> Result<Vec<Enrollment>, StoreError> {
        type Row = (
            String,
            String,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            bool,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT unit, role, scope, serial, fingerprint, revoked_at, catalogue FROM children",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(
                |(unit, role, scope, serial, fingerprint, revoked_at, catalogue)| {
                    Ok(Enrollment {
                        unit,
                        role: role_of(&role)?,
                        scope,
                        serial,
                        fingerprint,
                        revoked_at,
                        catalogue,
                    })
                },
            )
            .collect()
    }

    /// Whether this hub enrolled `unit`, from the set of children read once and kept until
    /// [`Store::forget_children`] (a session opening, an enrollment in this process): the sync
    /// engine asks it for every document of every peer. A unit enrolled by another process is
    /// seen from the next session on — before it, the unit could not have connected.
    pub async fn is_child_known(&self, unit: &str) -> Result<bool, StoreError> {
        let known = self.children_known.lock().expect("children known").clone();
        let set = match known {
            Some(set) => set,
            None => {
                let units: Vec<String> = sqlx::query_scalar("SELECT unit FROM children")
                    .fetch_all(&self.pool)
                    .await?;
                let set = std::sync::Arc::new(
                    units
                        .into_iter()
                        .collect::<std::collections::HashSet<String>>(),
                );
                *self.children_known.lock().expect("children known") = Some(set.clone());
                set
            }
        };
        Ok(set.contains(unit))
    }

    /// The children are read again at the next [`Store::is_child_known`].
    pub fn forget_children(&self) {
        *self.children_known.lock().expect("children known") = None;
    }

    /// Whether this hub enrolled `unit` (as a node, a hub or a subscriber).
    pub async fn is_child(&self, unit: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) > 0 FROM children WHERE unit = ?")
                .bind(unit)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The children that sync with this hub (nodes and hubs, not subscribers), in order.
    pub async fn syncing_children(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT unit FROM children WHERE role != ? ORDER BY unit")
                .bind(Role::Subscriber.as_str())
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The Automerge sync state last saved with `peer` for `doc` (a fresh one when none is, or
    /// when it cannot be read back).
    pub async fn sync_state(&self, peer: &str, doc: &DocId) -> Result<State, StoreError> {
        let bytes: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT state FROM sync_states WHERE peer = ? AND doc_id = ?")
                .bind(peer)
                .bind(doc.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(bytes
            .and_then(|b| State::decode(&b).ok())
            .unwrap_or_default())
    }

    /// Every sync state saved with `peer`, by document (a session's start reads them at once;
    /// one that does not decode starts afresh, as in [`Store::sync_state`]).
    pub async fn sync_states_of(
        &self,
        peer: &str,
    ) -> Result<std::collections::HashMap<DocId, State>, StoreError> {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT doc_id, state FROM sync_states WHERE peer = ?")
                .bind(peer)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(doc, bytes)| {
                let doc = doc.parse::<DocId>().ok()?;
                Some((doc, State::decode(&bytes).unwrap_or_default()))
            })
            .collect())
    }

    /// Saves the sync state with `peer` for `doc`, so that a reconnect starts from it.
    pub async fn save_sync_state(
        &self,
        peer: &str,
        doc: &DocId,
        state: &State,
    ) -> Result<(), StoreError> {
        let mut writer = self.writer.lock().await;
        sqlx::query(
            "INSERT INTO sync_states (peer, doc_id, state, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (peer, doc_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        )
        .bind(peer)
        .bind(doc.to_string())
        .bind(state.encode())
        .bind(now())
        .execute(&mut *writer)
        .await?;
        Ok(())
    }

    /// Saves the sync states of several documents with `peer` in one transaction (the states a
    /// session kept back: acknowledgements saved lazily, and all of them at the session's end).
    pub async fn save_sync_states(
        &self,
        peer: &str,
        states: &[(DocId, Vec<u8>)],
    ) -> Result<(), StoreError> {
        if states.is_empty() {
            return Ok(());
        }
        let mut writer = self.writer.lock().await;
        let mut tx = sqlx::Connection::begin(&mut *writer).await?;
        let at = now();
        for batch in states.chunks(200) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO sync_states (peer, doc_id, state, updated_at) ",
            );
            q.push_values(batch, |mut b, (doc, state)| {
                b.push_bind(peer)
                    .push_bind(doc.to_string())
                    .push_bind(state.as_slice())
                    .push_bind(at.as_str());
            });
            q.push(
                " ON CONFLICT (peer, doc_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            );
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a session with `peer` starting (`connected`) or ending, with the bytes exchanged
    /// so far and, at the end, why it ended.
    pub async fn record_peer(&self, peer: &PeerSeen<'_>) -> Result<(), StoreError> {
        let mut writer = self.writer.lock().await;
        sqlx::query(
            "INSERT INTO peers (peer, relation, connected, connected_at, disconnected_at, bytes_sent, bytes_received, last_error)
             VALUES (?1, ?2, ?3, CASE WHEN ?3 THEN ?4 END, CASE WHEN ?3 THEN NULL ELSE ?4 END, ?5, ?6, ?7)
             ON CONFLICT (peer) DO UPDATE SET relation = excluded.relation, connected = excluded.connected,
               connected_at = COALESCE(excluded.connected_at, peers.connected_at),
               disconnected_at = excluded.disconnected_at,
               bytes_sent = excluded.bytes_sent, bytes_received = excluded.bytes_received,
               last_error = COALESCE(excluded.last_error, peers.last_error)",
        )
        .bind(peer.peer)
        .bind(peer.relation)
        .bind(peer.connected)
        .bind(now())
        .bind(peer.bytes_sent as i64)
        .bind(peer.bytes_received as i64)
        .bind(peer.error)
        .execute(&mut *writer)
        .await?;
        Ok(())
    }

    /// Records that every shared document was in sync with `peer` now: it is making progress,
    /// no longer stuck. One statement, one transaction.
    pub async fn record_synced(
        &self,
        peer: &str,
        bytes_sent: u64,
        bytes_received: u64,
    ) -> Result<(), StoreError> {
        let mut writer = self.writer.lock().await;
        sqlx::query(
            "UPDATE peers SET last_sync_at = ?, bytes_sent = ?, bytes_received = ?,
                    stuck_since = NULL, stuck_reason = NULL
             WHERE peer = ?",
        )
        .bind(now())
        .bind(bytes_sent as i64)
        .bind(bytes_received as i64)
        .bind(peer)
        .execute(&mut *writer)
        .await?;
        Ok(())
    }
}

/// A session with a peer starting or ending (see [`Store::record_peer`]).
#[derive(Debug, Clone, Copy)]
pub struct PeerSeen<'a> {
    pub peer: &'a str,
    /// `parent` or `child`.
    pub relation: &'a str,
    pub connected: bool,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub error: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::PeerSeen;
    use crate::store::testing::hospital;

    /// A peer a document could not be sent to is stuck until the next time every shared
    /// document is in sync with it, which one write records.
    #[tokio::test]
    async fn a_stuck_peer_in_sync_again_is_no_longer_stuck() {
        let (_dir, s) = hospital().await;
        let seen = PeerSeen {
            peer: "500103",
            relation: "parent",
            connected: true,
            bytes_sent: 0,
            bytes_received: 0,
            error: None,
        };
        s.record_peer(&seen).await.unwrap();
        s.set_stuck(
            "500103",
            "ledger/500103-0001 holds a change over the frame limit",
        )
        .await
        .unwrap();
        let p = &s.peers().await.unwrap()[0];
        assert!(p.stuck_since.is_some() && p.last_sync_at.is_none(), "{p:?}");
        s.record_synced("500103", 1_234, 567).await.unwrap();
        let p = &s.peers().await.unwrap()[0];
        assert_eq!(p.stuck_since, None, "in sync again: not stuck");
        assert_eq!(p.stuck_reason, None);
        assert!(p.last_sync_at.is_some());
        assert_eq!((p.bytes_sent, p.bytes_received), (1_234, 567));
    }
}
