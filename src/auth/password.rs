//! argon2id password hashes. Hashing is slow on purpose, so it runs off the async threads.
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::Rng;
use rand::distr::Alphanumeric;

use crate::domain::Secret;

pub const MIN_PASSWORD_LEN: usize = 10;
pub const MAX_PASSWORD_LEN: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the password worker stopped: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A password that meets the policy, or the reason it does not.
pub fn check_policy(password: &Secret) -> Result<(), String> {
    let n = password.expose().chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(format!("a password must be at least {MIN_PASSWORD_LEN} characters long"));
    }
    if n > MAX_PASSWORD_LEN {
        return Err(format!("a password must be at most {MAX_PASSWORD_LEN} characters long"));
    }
    Ok(())
}

pub async fn hash(password: Secret) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default().hash_password(password.expose().as_bytes()).map(|h| h.to_string()).map_err(|e| PasswordError::Hash(e.to_string()))
    })
    .await?
}

/// Checks `password` against a stored PHC string. With no stored hash (an unknown user, or an
/// account without a local password) it still does the work of one check, so that timing does
/// not tell which user names exist.
pub async fn verify(password: Secret, stored: Option<String>) -> Result<bool, PasswordError> {
    tokio::task::spawn_blocking(move || {
        let argon = Argon2::default();
        match stored.as_deref().map(PasswordHash::new) {
            Some(Ok(parsed)) => Ok(argon.verify_password(password.expose().as_bytes(), &parsed).is_ok()),
            Some(Err(e)) => Err(PasswordError::Hash(format!("stored hash is unreadable: {e}"))),
            None => {
                let _ = argon.hash_password(password.expose().as_bytes());
                Ok(false)
            }
        }
    })
    .await?
}

/// A random password for generated accounts (20 letters and digits, about 119 bits).
pub fn generate() -> Secret {
    Secret::new(rand::rng().sample_iter(&Alphanumeric).take(20).map(char::from).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let pw = Secret::new("correct horse battery");
        let h = hash(pw.clone()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(pw, Some(h.clone())).await.unwrap());
        assert!(!verify(Secret::new("wrong password"), Some(h)).await.unwrap());
        assert!(!verify(Secret::new("whatever"), None).await.unwrap());
    }

    #[test]
    fn policy() {
        assert!(check_policy(&Secret::new("short")).is_err());
        assert!(check_policy(&Secret::new("long enough!")).is_ok());
        assert_eq!(generate().expose().len(), 20);
    }
}
