//! Secrets at rest: what Wharf must keep and use again (secret inputs, Docker TLS client keys,
//! the cookie signing key) is stored sealed with AES-256-GCM under a key kept outside the
//! database (`secret_key_file`, created 0600 at the first start). Every replica holds the same
//! key; a key that does not open what the database holds stops start-up with a clear message.
//!
//! A sealed value is text: `wharf-sealed:v1:` and the base64 of a random 96-bit nonce followed
//! by the ciphertext and its tag. What it is (an input, a TLS key, ...) is bound in as
//! associated data, so a sealed value cannot be moved to another kind of field.
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

use crate::domain::blueprint::Blueprint;
use crate::domain::blueprint::inputs::{InputValues, StoredInputs};
use crate::domain::blueprint::types::InputValue;

pub const PREFIX: &str = "wharf-sealed:v1:";
const _: () = assert!(PREFIX.len() > crate::domain::blueprint::inputs::SEALED_PREFIX.len());

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot read the secret key file {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("cannot create the secret key file {path}: {message}")]
    Create { path: PathBuf, message: String },
    #[error("the secret key file {0} does not hold a key (32 bytes, base64)")]
    BadKey(PathBuf),
    #[error("a sealed value does not open with this key (another replica's key, or a damaged value)")]
    WrongKey,
    #[error("a sealed value is damaged")]
    Damaged,
}

/// What a sealed value is; bound into it (an input, with its name: a sealed value cannot be
/// moved to another input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    Input(&'a str),
    TlsKey,
    CookieKey,
    Check,
    /// What a recorded console session printed.
    Transcript,
    /// A webhook's signing secret.
    WebhookSecret,
    /// An approve or reject link of an approval mail.
    ApproveLink,
    /// A registry's password or token.
    RegistryPassword,
}

impl Kind<'_> {
    fn aad(self) -> Vec<u8> {
        match self {
            Kind::Input(name) => format!("wharf input {name}").into_bytes(),
            Kind::TlsKey => b"wharf tls key".to_vec(),
            Kind::CookieKey => b"wharf cookie key".to_vec(),
            Kind::Check => b"wharf key check".to_vec(),
            Kind::Transcript => b"wharf console transcript".to_vec(),
            Kind::WebhookSecret => b"wharf webhook secret".to_vec(),
            Kind::ApproveLink => b"wharf approve link".to_vec(),
            Kind::RegistryPassword => b"wharf registry password".to_vec(),
        }
    }
}

/// The key. Cheap to clone; never printed.
#[derive(Clone)]
pub struct Sealer {
    cipher: Arc<Aes256Gcm>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(********)")
    }
}

impl Sealer {
    pub fn from_bytes(key: &[u8; 32]) -> Self {
        Self { cipher: Arc::new(Aes256Gcm::new(key.into())) }
    }

    /// A new random key, and its text for the key file.
    pub fn generate() -> (Self, String) {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        (Self::from_bytes(&key), STANDARD.encode(key))
    }

    /// Reads the key file, or creates it (0600) with a new key when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Written aside under a name of its own, then linked into place: two processes
                // starting at once both end up with the one key that got there first.
                let fail = |e: std::io::Error| SealError::Create { path: path.into(), message: e.to_string() };
                let (_, text) = Self::generate();
                let tmp = path.with_extension(format!("new-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
                let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(fail)?;
                f.write_all(format!("{text}\n").as_bytes()).and_then(|()| f.sync_all()).map_err(fail)?;
                let linked = std::fs::hard_link(&tmp, path);
                let _ = std::fs::remove_file(&tmp);
                match linked {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), "created the secret key file: back it up, and give every replica the same")
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(fail(e)),
                }
                Self::load(path)
            }
            Err(e) => Err(SealError::Read { path: path.into(), message: e.to_string() }),
        }
    }

    /// Reads an existing key file.
    pub fn load(path: &Path) -> Result<Self, SealError> {
        let text = std::fs::read_to_string(path).map_err(|e| SealError::Read { path: path.into(), message: e.to_string() })?;
        Self::parse(path, &text)
    }

    fn parse(path: &Path, text: &str) -> Result<Self, SealError> {
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "the secret key file can be read by others than its owner: chmod 600 it");
        }
        let bytes = STANDARD.decode(text.trim()).map_err(|_| SealError::BadKey(path.into()))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKey(path.into()))?;
        Ok(Self::from_bytes(&key))
    }

    pub fn seal(&self, kind: Kind, plain: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain.as_bytes(), aad: &kind.aad() })
            .expect("AES-GCM encrypts any message of this size");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}{}", STANDARD.encode(bytes))
    }

    /// Opens a sealed value; text without the prefix is returned as it is (stored before
    /// sealing existed: start-up seals it).
    pub fn open(&self, kind: Kind, stored: &str) -> Result<String, SealError> {
        let Some(body) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let bytes = STANDARD.decode(body).map_err(|_| SealError::Damaged)?;
        if bytes.len() < 12 + 16 {
            return Err(SealError::Damaged);
        }
        let (nonce, sealed) = bytes.split_at(12);
        let plain =
            self.cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: &kind.aad() }).map_err(|_| SealError::WrongKey)?;
        String::from_utf8(plain).map_err(|_| SealError::Damaged)
    }

    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    /// `values` (validated, in clear) as stored: the value of every secret string input sealed.
    pub fn seal_inputs(&self, bp: &Blueprint, values: &InputValues) -> StoredInputs {
        StoredInputs(
            values
                .iter()
                .map(|(k, v)| match v {
                    InputValue::String(s) if bp.input(k).is_some_and(|i| i.secret) => {
                        (k.clone(), InputValue::String(self.seal(Kind::Input(k), s)))
                    }
                    other => (k.clone(), other.clone()),
                })
                .collect(),
        )
    }

    /// Stored inputs with the secret ones opened, to be used (never shown: see
    /// `inputs::masked`). Only inputs `bp` declares secret are opened.
    pub fn open_inputs(&self, bp: &Blueprint, stored: &StoredInputs) -> Result<StoredInputs, SealError> {
        stored
            .0
            .iter()
            .map(|(k, v)| match v {
                InputValue::String(s) if bp.input(k).is_some_and(|i| i.secret) => {
                    Ok((k.clone(), InputValue::String(self.open(Kind::Input(k), s)?)))
                }
                other => Ok((k.clone(), other.clone())),
            })
            .collect::<Result<_, _>>()
            .map(StoredInputs)
    }
}

/// Writes a key file: 0600 from its creation, then renamed into place.
pub fn write_key_file(path: &Path, text: &str) -> Result<(), SealError> {
    let fail = |e: std::io::Error| SealError::Create { path: path.into(), message: e.to_string() };
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(fail)?;
    f.write_all(format!("{text}\n").as_bytes()).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_kind() {
        let (a, _) = Sealer::generate();
        let (b, _) = Sealer::generate();
        let s = a.seal(Kind::Input("pw"), "hunter2-secret");
        assert!(Sealer::is_sealed(&s) && !s.contains("hunter2"));
        assert_ne!(s, a.seal(Kind::Input("pw"), "hunter2-secret"), "a fresh nonce each time");
        assert_eq!(a.open(Kind::Input("pw"), &s).unwrap(), "hunter2-secret");
        assert!(matches!(b.open(Kind::Input("pw"), &s), Err(SealError::WrongKey)));
        assert!(matches!(a.open(Kind::TlsKey, &s), Err(SealError::WrongKey)), "bound to its kind");
        assert!(matches!(a.open(Kind::Input("other"), &s), Err(SealError::WrongKey)), "bound to its input");
        assert!(matches!(a.open(Kind::Input("pw"), &format!("{PREFIX}AAAA")), Err(SealError::Damaged)));
        assert_eq!(a.open(Kind::Input("pw"), "plain").unwrap(), "plain");
        assert_eq!(format!("{a:?}"), "Sealer(********)");
    }

    #[test]
    fn key_files_are_created_private_and_read_back() {
        let dir = std::env::temp_dir().join(format!("wharf-key-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("wharf.key");
        let a = Sealer::load_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let b = Sealer::load(&path).unwrap();
        assert_eq!(b.open(Kind::Check, &a.seal(Kind::Check, "x")).unwrap(), "x");
        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(Sealer::load(&path), Err(SealError::BadKey(_))));
        std::fs::remove_dir_all(dir).ok();
    }
}
