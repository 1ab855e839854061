//! Who belongs to this unit's part of the federation, as its store keeps it: the children a hub
//! enrolled (and revoked), where a unit is registered in the tree, the refusals counted, and the
//! few figures an operator's tools read (connected peers, traffic, the store's integrity).

use std::str::FromStr;

use super::{Store, StoreError};
use crate::domain::unit::{Role, UnitCode};

/// A child this hub enrolled, as `status` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    pub unit: String,
    pub role: Role,
    /// When it was revoked (RFC 3339), if it was.
    pub revoked_at: Option<String>,
}

/// The exact certificate of a child being (re-)registered: every earlier one stays refused.
#[derive(Debug, Clone)]
pub struct ChildCertificate<'a> {
    pub unit: &'a str,
    pub role: Role,
    pub scope: Option<&'a str>,
    pub serial: &'a str,
    /// SHA-256 of the certificate, hex.
    pub fingerprint: &'a str,
    pub not_after: &'a str,
}

/// What revoking a unit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    Revoked,
    AlreadyRevoked,
    NotAChild,
}

pub(super) fn role_of(text: &str) -> Result<Role, StoreError> {
    Role::from_str(text).map_err(|e| StoreError::Refused(format!("children: {e}")))
}

impl Store {
    /// The hubs among this hub's children that are not revoked.
    pub async fn child_hubs(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT unit FROM children WHERE role = ? AND revoked_at IS NULL")
                .bind(Role::Hub.as_str())
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Registers (or re-registers, replacing an older certificate and lifting a revocation) a
    /// child this hub enrolled.
    pub async fn register_child(&self, c: &ChildCertificate<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO children (unit, role, scope, serial, fingerprint, not_after, enrolled_at, revoked_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
             ON CONFLICT (unit) DO UPDATE SET role = excluded.role, scope = excluded.scope,
               serial = excluded.serial, fingerprint = excluded.fingerprint,
               not_after = excluded.not_after, enrolled_at = excluded.enrolled_at, revoked_at = NULL,
               catalogue = 0",
        )
        .bind(c.unit)
        .bind(c.role.as_str())
        .bind(c.scope)
        .bind(c.serial)
        .bind(c.fingerprint)
        .bind(c.not_after)
        .bind(chrono::Utc::now().to_rfc3339())
        .execute(self.pool())
        .await?;
        self.forget_children();
        Ok(())
    }

    /// Marks a child revoked (its new connections are refused, its open sessions end).
    pub async fn revoke_child(&self, unit: &UnitCode) -> Result<Revocation, StoreError> {
        let done =
            sqlx::query("UPDATE children SET revoked_at = ? WHERE unit = ? AND revoked_at IS NULL")
                .bind(chrono::Utc::now().to_rfc3339())
                .bind(unit.as_str())
                .execute(self.pool())
                .await?;
        if done.rows_affected() > 0 {
            Ok(Revocation::Revoked)
        } else if self.is_child(unit.as_str()).await? {
            Ok(Revocation::AlreadyRevoked)
        } else {
            Ok(Revocation::NotAChild)
        }
    }

    /// Every child enrolled here, by unit code.
    pub async fn children(&self) -> Result<Vec<Child>, StoreError> {
        let rows: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT unit, role, revoked_at FROM children ORDER BY unit")
                .fetch_all(self.pool())
                .await?;
        rows.into_iter()
            .map(|(unit, role, revoked_at)| {
                Ok(Child {
                    unit,
                    role: role_of(&role)?,
                    revoked_at,
                })
            })
            .collect()
    }

    /// How many peers (parent and children) have a session open now.
    pub async fn connected_peer_count(&self) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM peers WHERE connected = 1")
            .fetch_one(self.pool())
            .await?;
        Ok(n as usize)
    }

    /// Bytes sent to and received from every child, in total: (sent, received).
    pub async fn children_traffic(&self) -> Result<(u64, u64), StoreError> {
        let (sent, received): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(bytes_sent), 0), COALESCE(SUM(bytes_received), 0) FROM peers WHERE relation = 'child'",
        )
        .fetch_one(self.pool())
        .await?;
        Ok((sent as u64, received as u64))
    }

    /// How many documents a unit shares with its parent (ledgers, profiles, campaigns) are held.
    pub async fn shared_document_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM documents WHERE doc_id LIKE 'ledger/%' OR doc_id LIKE 'profile/%' OR doc_id LIKE 'campaign/%'",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(n as u64)
    }

    /// SQLite's `PRAGMA integrity_check`: `["ok"]` for a sound store, else what is damaged.
    pub async fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(self.pool())
            .await?)
    }
}

/// A district's new store in `dir` (for tests).
#[cfg(test)]
pub(crate) async fn district_store(dir: &std::path::Path) -> Store {
    let me = UnitCode::parse("500103").unwrap();
    Store::init(
        dir,
        &me,
        "区卫健委",
        crate::domain::unit::UnitKind::District,
        Role::Hub,
    )
    .await
    .unwrap()
}

/// Registers `child` as an institution enrolled at `store` (for tests).
#[cfg(test)]
pub(crate) async fn register_node(store: &Store, child: &UnitCode) {
    store
        .register_child(&ChildCertificate {
            unit: child.as_str(),
            role: Role::Node,
            scope: None,
            serial: "01",
            fingerprint: "ab",
            not_after: "2030-01-01T00:00:00Z",
        })
        .await
        .unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_child_is_registered_listed_and_revoked_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = district_store(dir.path()).await;
        let child = UnitCode::parse("500103-0001").unwrap();
        assert!(!store.is_child(child.as_str()).await.unwrap());
        register_node(&store, &child).await;
        assert!(store.is_child(child.as_str()).await.unwrap());
        assert!(store.child_hubs().await.unwrap().is_empty());
        let listed = store.children().await.unwrap();
        assert_eq!(
            (listed[0].unit.as_str(), listed[0].role),
            ("500103-0001", Role::Node)
        );
        assert_eq!(
            store.revoke_child(&child).await.unwrap(),
            Revocation::Revoked
        );
        assert_eq!(
            store.revoke_child(&child).await.unwrap(),
            Revocation::AlreadyRevoked
        );
        let stranger = UnitCode::parse("500104").unwrap();
        assert_eq!(
            store.revoke_child(&stranger).await.unwrap(),
            Revocation::NotAChild
        );
        assert!(store.children().await.unwrap()[0].revoked_at.is_some());
        assert_eq!(store.integrity_check().await.unwrap(), ["ok"]);
        assert_eq!(store.refusal_count().await.unwrap(), 0);
    }

    /// The admission gate re-reads the enrollments only when their version moved: it moves with
    /// an enrollment and a revocation, by this process or another, and with nothing else.
    #[tokio::test]
    async fn the_enrollments_version_moves_with_every_change_by_any_process() {
        let dir = tempfile::tempdir().unwrap();
        let store = district_store(dir.path()).await;
        let child = UnitCode::parse("500103-0001").unwrap();
        let v0 = store.enrollments_version().await.unwrap();
        register_node(&store, &child).await;
        let v1 = store.enrollments_version().await.unwrap();
        assert!(v1 > v0, "an enrollment moves it");
        store.set_meta("note", "x").await.unwrap();
        assert_eq!(store.enrollments_version().await.unwrap(), v1);
        // Another process (the command line beside the daemon) revokes the child.
        let other = Store::open(dir.path()).await.unwrap();
        assert_eq!(
            other.revoke_child(&child).await.unwrap(),
            Revocation::Revoked
        );
        let v2 = store.enrollments_version().await.unwrap();
        assert!(v2 > v1, "another process's revocation moves it");
        assert_eq!(
            other.revoke_child(&child).await.unwrap(),
            Revocation::AlreadyRevoked
        );
        assert_eq!(store.enrollments_version().await.unwrap(), v2);
    }

    /// The children the sync engine asks about are read once; an enrollment here is seen at
    /// once, one by another process (the command line) once they are forgotten (a session's
    /// opening).
    #[tokio::test]
    async fn the_known_children_follow_enrollments() {
        let dir = tempfile::tempdir().unwrap();
        let store = district_store(dir.path()).await;
        let cert = |unit| ChildCertificate {
            unit,
            role: Role::Node,
            scope: None,
            serial: "01",
            fingerprint: "ab",
            not_after: "2030-01-01T00:00:00Z",
        };
        assert!(!store.is_child_known("500103-0001").await.unwrap());
        store.register_child(&cert("500103-0001")).await.unwrap();
        assert!(store.is_child_known("500103-0001").await.unwrap());

        let cli = Store::open(dir.path()).await.unwrap();
        cli.register_child(&cert("500103-0002")).await.unwrap();
        assert!(!store.is_child_known("500103-0002").await.unwrap());
        store.forget_children();
        assert!(store.is_child_known("500103-0002").await.unwrap());
        assert!(!store.is_child_known("500104").await.unwrap());
    }
}
