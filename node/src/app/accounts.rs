//! Local accounts of a unit's web pages: argon2-hashed passwords created with the CLI, editor and
//! read-only roles, and sessions with their CSRF token. The store keeps only the SHA-256 of a
//! session's token, so that a copy of the store or a backup signs nobody in. Repeated failures
//! are slowed down by the web server's sign-in backoff, not by locking the account.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Duration, Utc};

use crate::store::{Store, StoreError};

/// How long a session lasts.
pub const SESSION_HOURS: i64 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Editor,
    ReadOnly,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Editor => "editor",
            Role::ReadOnly => "read-only",
        }
    }
    pub fn parse(s: &str) -> Result<Role, AccountError> {
        match s {
            "editor" => Ok(Role::Editor),
            "read-only" | "readonly" => Ok(Role::ReadOnly),
            _ => Err(AccountError::Invalid(format!(
                "role \"{s}\" is not known: use editor or read-only"
            ))),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("用户名或密码错误 (wrong user name or password)")]
    Wrong,
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> Self {
        AccountError::Store(StoreError::Sql(e))
    }
}

/// Who is signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub csrf: String,
}

fn salt() -> SaltString {
    SaltString::encode_b64(&rand::random::<[u8; 16]>()).expect("16 bytes make a salt")
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the `sessions` table keeps of a session's token: its SHA-256, lowercase hex.
pub fn token_hash(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

/// Creates (or replaces the password and role of) an account.
pub async fn add_user(
    store: &Store,
    name: &str,
    role: Role,
    password: &str,
) -> Result<(), AccountError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 40 {
        return Err(AccountError::Invalid(
            "the user name must have 1 to 40 characters".into(),
        ));
    }
    if password.chars().count() < 8 {
        return Err(AccountError::Invalid(
            "the password must have at least 8 characters".into(),
        ));
    }
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt())
        .map_err(|e| AccountError::Invalid(format!("cannot hash the password: {e}")))?
        .to_string();
    sqlx::query(
        "INSERT INTO users (name, role, hash, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET role = excluded.role, hash = excluded.hash",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(hash)
    .bind(Utc::now().to_rfc3339())
    .execute(store.pool())
    .await?;
    Ok(())
}

/// The accounts: name and role.
pub async fn users(store: &Store) -> Result<Vec<(String, String)>, AccountError> {
    Ok(sqlx::query_as("SELECT name, role FROM users ORDER BY name")
        .fetch_all(store.pool())
        .await?)
}

/// Checks a password and, when it is right, opens a session: returns the session's token (for
/// the cookie; the store keeps only its hash) and the session.
pub async fn sign_in(
    store: &Store,
    name: &str,
    password: &str,
) -> Result<(String, Session), AccountError> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT role, hash FROM users WHERE name = ?")
            .bind(name.trim())
            .fetch_optional(store.pool())
            .await?;
    let Some((role, hash)) = row else {
        // Spend the same effort as for a real account.
        let _ = Argon2::default().hash_password(password.as_bytes(), &salt());
        return Err(AccountError::Wrong);
    };
    let ok = PasswordHash::new(&hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false);
    if !ok {
        return Err(AccountError::Wrong);
    }
    let now = Utc::now();
    sqlx::query("DELETE FROM sessions WHERE expires_at < ?")
        .bind(now.to_rfc3339())
        .execute(store.pool())
        .await?;
    let token = random_token();
    let csrf = random_token();
    sqlx::query("INSERT INTO sessions (token_hash, user, csrf, expires_at) VALUES (?, ?, ?, ?)")
        .bind(token_hash(&token))
        .bind(name.trim())
        .bind(&csrf)
        .bind((now + Duration::hours(SESSION_HOURS)).to_rfc3339())
        .execute(store.pool())
        .await?;
    Ok((
        token,
        Session {
            user: name.trim().to_string(),
            role: Role::parse(&role)?,
            csrf,
        },
    ))
}

/// The session of a token, if it is open.
pub async fn session(store: &Store, token: &str) -> Result<Option<Session>, AccountError> {
    let row: Option<(String, String, String, String)> = sqlx::query_as(
        "SELECT s.user, u.role, s.csrf, s.expires_at FROM sessions s JOIN users u ON u.name = s.user WHERE s.token_hash = ?",
    )
    .bind(token_hash(token))
    .fetch_optional(store.pool())
    .await?;
    let Some((user, role, csrf, expires)) = row else {
        return Ok(None);
    };
    let live = DateTime::parse_from_rfc3339(&expires).is_ok_and(|e| e > Utc::now());
    if !live {
        end_session(store, token).await?;
        return Ok(None);
    }
    Ok(Some(Session {
        user,
        role: Role::parse(&role)?,
        csrf,
    }))
}

/// Ends the session of a token.
pub async fn end_session(store: &Store, token: &str) -> Result<(), AccountError> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
        .bind(token_hash(token))
        .execute(store.pool())
        .await?;
    Ok(())
}
