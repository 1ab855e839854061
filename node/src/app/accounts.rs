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
                "角色“{s}”不存在：请用 editor（可编辑）或 read-only（只读）"
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
        return Err(AccountError::Invalid("用户名须为1到40个字".into()));
    }
    if password.chars().count() < 8 {
        return Err(AccountError::Invalid("密码至少8个字符".into()));
    }
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt())
        .map_err(|e| AccountError::Invalid(format!("无法处理密码：{e}")))?
        .to_string();
    store.put_user(name, role.as_str(), &hash).await?;
    Ok(())
}

/// The accounts: name and role.
pub async fn users(store: &Store) -> Result<Vec<(String, String)>, AccountError> {
    Ok(store.users().await?)
}

/// Checks a password and, when it is right, opens a session: returns the session's token (for
/// the cookie; the store keeps only its hash) and the session.
pub async fn sign_in(
    store: &Store,
    name: &str,
    password: &str,
) -> Result<(String, Session), AccountError> {
    let Some((role, hash)) = store.user_credentials(name.trim()).await? else {
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
    let token = random_token();
    let csrf = random_token();
    store
        .open_session(
            &token_hash(&token),
            name.trim(),
            &csrf,
            &(now + Duration::hours(SESSION_HOURS)).to_rfc3339(),
            &now.to_rfc3339(),
        )
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
    let Some(row) = store.session_row(&token_hash(token)).await? else {
        return Ok(None);
    };
    let live = DateTime::parse_from_rfc3339(&row.expires_at).is_ok_and(|e| e > Utc::now());
    if !live {
        end_session(store, token).await?;
        return Ok(None);
    }
    Ok(Some(Session {
        user: row.user,
        role: Role::parse(&row.role)?,
        csrf: row.csrf,
    }))
}

/// Ends the session of a token.
pub async fn end_session(store: &Store, token: &str) -> Result<(), AccountError> {
    store.end_session(&token_hash(token)).await?;
    Ok(())
}
