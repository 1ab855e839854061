//! The rows of the web pages' local accounts and sessions (`users`, `sessions`). Hashing the
//! passwords and the sessions' tokens is the accounts use case's (`app::accounts`); the store
//! keeps what it is given.

use crate::store::{Store, StoreError};

/// An open session as the `sessions` table keeps it, with its user's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub user: String,
    /// `editor` or `read-only`.
    pub role: String,
    pub csrf: String,
    /// RFC 3339.
    pub expires_at: String,
}

impl Store {
    /// Creates an account, or replaces the role and password hash of an existing one.
    pub async fn put_user(&self, name: &str, role: &str, hash: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (name, role, hash, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET role = excluded.role, hash = excluded.hash",
        )
        .bind(name)
        .bind(role)
        .bind(hash)
        .bind(chrono::Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The accounts: name and role, by name.
    pub async fn users(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as("SELECT name, role FROM users ORDER BY name")
            .fetch_all(&self.pool)
            .await?)
    }

    /// The role and password hash of an account, if it exists.
    pub async fn user_credentials(
        &self,
        name: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT role, hash FROM users WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Forgets the sessions that expired before `now` (RFC 3339), then opens one.
    pub async fn open_session(
        &self,
        token_hash: &str,
        user: &str,
        csrf: &str,
        expires_at: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE expires_at < ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user, csrf, expires_at) VALUES (?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(user)
        .bind(csrf)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session whose token hashes to `token_hash`, expired or not.
    pub async fn session_row(&self, token_hash: &str) -> Result<Option<SessionRow>, StoreError> {
        let row: Option<(String, String, String, String)> = sqlx::query_as(
            "SELECT s.user, u.role, s.csrf, s.expires_at FROM sessions s JOIN users u ON u.name = s.user WHERE s.token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(user, role, csrf, expires_at)| SessionRow {
            user,
            role,
            csrf,
            expires_at,
        }))
    }

    /// Ends the session whose token hashes to `token_hash`.
    pub async fn end_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
