//! Who is calling: passwords, browser sessions, API tokens, CSRF, login throttling, and the
//! extractors that handlers use to demand a role.
pub mod cache;
pub mod oidc;
pub mod password;
pub mod sessions;
pub mod throttle;
pub mod tokens;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::domain::Role;

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub is_admin: bool,
    pub groups: Vec<GroupRole>,
    pub via: AuthVia,
}

#[derive(Debug, Clone)]
pub struct GroupRole {
    pub group_id: i64,
    pub name: String,
    pub role: Role,
}

/// How the caller proved who they are. Session callers need a CSRF token on state changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthVia {
    Session,
    /// An API token, which ends at `expires_at` (a token it makes may not outlive it).
    Token {
        expires_at: chrono::DateTime<chrono::Utc>,
    },
}

impl Principal {
    pub fn is_manager(&self) -> bool {
        self.groups.iter().any(|g| g.role == Role::Manager)
    }
    pub fn manages(&self, group_id: i64) -> bool {
        self.groups.iter().any(|g| g.group_id == group_id && g.role == Role::Manager)
    }
}

/// What the authentication middleware leaves in each request's extensions.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub principal: Option<Principal>,
    /// The token a form of this request's page must send back.
    pub csrf_token: String,
    /// The browser session's token, when the caller came with one (logout ends it).
    pub session_token: Option<String>,
}

/// 32 random bytes, URL-safe base64.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets without leaking where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert!(constant_time_eq(&a, &a.clone()));
        assert!(!constant_time_eq(&a, &b));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
