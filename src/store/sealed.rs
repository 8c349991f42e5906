//! The key check and the sealing of secrets kept in clear by an older Wharf, at start-up.
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

use super::entities::{blueprint_version, console_session, deployment, host, registry, request, setting, webhook};
use crate::domain::blueprint::inputs::StoredInputs;
use crate::domain::blueprint::{Blueprint, InputValue};
use crate::sealing::{Kind, Sealer};

const CHECK_SETTING: &str = "secret_key_check";
const INPUTS_SEALED: &str = "secret_inputs_sealed";

#[derive(Debug, thiserror::Error)]
pub enum KeyCheckError {
    #[error(
        "the secret key does not open what this database holds: every replica must use the same key file \
         (restore the right one; `wharf secrets rotate` changes a key safely)"
    )]
    WrongKey,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The database remembers a value sealed with its key: a replica given another key stops here,
/// before it writes anything the others could not read.
pub async fn check_key(db: &impl ConnectionTrait, sealer: &Sealer) -> Result<(), KeyCheckError> {
    match setting::Entity::find_by_id(CHECK_SETTING).one(db).await? {
        Some(row) => sealer.open(Kind::Check, &row.value).map(|_| ()).map_err(|_| KeyCheckError::WrongKey),
        None => {
            let row = setting::ActiveModel { key: Set(CHECK_SETTING.into()), value: Set(sealer.seal(Kind::Check, "wharf")) };
            if let Err(e) = row.insert(db).await {
                // Another replica wrote it first: it must open with this key too. Anything
                // else (a read-only database) is the error it is.
                let row = setting::Entity::find_by_id(CHECK_SETTING).one(db).await?.ok_or(e)?;
                return sealer.open(Kind::Check, &row.value).map(|_| ()).map_err(|_| KeyCheckError::WrongKey);
            }
            Ok(())
        }
    }
}

/// Seals what an older Wharf kept in clear: hosts' TLS keys, and (once) the secret inputs of
/// every request and deployment. Idempotent.
pub async fn seal_legacy(db: &impl ConnectionTrait, sealer: &Sealer) -> Result<(), DbErr> {
    for h in host::Entity::find().filter(host::Column::TlsKey.is_not_null()).all(db).await? {
        if let Some(key) = h.tls_key.clone().filter(|k| !Sealer::is_sealed(k)) {
            let mut a: host::ActiveModel = h.into();
            a.tls_key = Set(Some(sealer.seal(Kind::TlsKey, &key)));
            a.update(db).await?;
        }
    }
    if setting::Entity::find_by_id(INPUTS_SEALED).one(db).await?.is_some() {
        return Ok(());
    }
    let blueprint = |id: String, version: i32| async move {
        let v = blueprint_version::Entity::find_by_id((id, version)).one(db).await?;
        Ok::<_, DbErr>(v.and_then(|v| crate::domain::blueprint::parse_stored(&v.source).ok()))
    };
    for r in request::Entity::find().all(db).await? {
        let Some(version) = r.blueprint_version else { continue };
        let Some(item) = super::entities::catalog_item::Entity::find_by_id(r.catalog_item_id.clone()).one(db).await? else { continue };
        if let Some(bp) = blueprint(item.blueprint_id, version).await? {
            reseal(db, &bp, sealer, r).await?;
        }
    }
    for d in deployment::Entity::find().all(db).await? {
        if let Some(bp) = blueprint(d.blueprint_id.clone(), d.blueprint_version).await? {
            let sealed = seal_clear(sealer, &bp, &d.inputs);
            if sealed != d.inputs {
                let mut a: deployment::ActiveModel = d.into();
                a.inputs = Set(sealed);
                a.update(db).await?;
            }
        }
    }
    let done = setting::ActiveModel { key: Set(INPUTS_SEALED.into()), value: Set("1".into()) };
    let _ = done.insert(db).await;
    Ok(())
}

/// The secret inputs still in clear, sealed; the others as they are.
fn seal_clear(sealer: &Sealer, bp: &Blueprint, stored: &StoredInputs) -> StoredInputs {
    StoredInputs(
        stored
            .0
            .iter()
            .map(|(k, v)| match v {
                InputValue::String(s) if bp.input(k).is_some_and(|i| i.secret) && !Sealer::is_sealed(s) => {
                    (k.clone(), InputValue::String(sealer.seal(Kind::Input(k), s)))
                }
                other => (k.clone(), other.clone()),
            })
            .collect(),
    )
}

async fn reseal(db: &impl ConnectionTrait, bp: &Blueprint, sealer: &Sealer, r: request::Model) -> Result<(), DbErr> {
    let sealed = seal_clear(sealer, bp, &r.inputs);
    if sealed != r.inputs {
        let mut a: request::ActiveModel = r.into();
        a.inputs = Set(sealed);
        a.update(db).await?;
    }
    Ok(())
}

/// How many values a rotation sealed again.
#[derive(Debug, Default)]
pub struct Rotated {
    pub settings: usize,
    pub hosts: usize,
    pub requests: usize,
    pub deployments: usize,
    pub transcripts: usize,
    pub webhooks: usize,
    pub registries: usize,
}

/// Seals every sealed value again with `new`, in one transaction (the caller commits).
pub async fn rotate(db: &impl ConnectionTrait, old: &Sealer, new: &Sealer) -> Result<Rotated, RotateError> {
    let mut n = Rotated::default();
    for (key, kind) in [(CHECK_SETTING, Kind::Check), ("session_signing_key", Kind::CookieKey)] {
        if let Some(row) = setting::Entity::find_by_id(key).one(db).await? {
            let plain = old.open(kind, &row.value)?;
            let mut a: setting::ActiveModel = row.into();
            a.value = Set(new.seal(kind, &plain));
            a.update(db).await?;
            n.settings += 1;
        }
    }
    for h in host::Entity::find().filter(host::Column::TlsKey.is_not_null()).all(db).await? {
        if let Some(key) = h.tls_key.clone() {
            let plain = old.open(Kind::TlsKey, &key)?;
            let mut a: host::ActiveModel = h.into();
            a.tls_key = Set(Some(new.seal(Kind::TlsKey, &plain)));
            a.update(db).await?;
            n.hosts += 1;
        }
    }
    let again = |inputs: &crate::domain::blueprint::inputs::StoredInputs| -> Result<_, crate::sealing::SealError> {
        let mut out = inputs.clone();
        for (k, v) in out.0.iter_mut() {
            if let InputValue::String(s) = v
                && Sealer::is_sealed(s)
            {
                *s = new.seal(Kind::Input(k), &old.open(Kind::Input(k), s)?);
            }
        }
        Ok(out)
    };
    for r in request::Entity::find().all(db).await? {
        let sealed = again(&r.inputs)?;
        if sealed != r.inputs {
            let mut a: request::ActiveModel = r.into();
            a.inputs = Set(sealed);
            a.update(db).await?;
            n.requests += 1;
        }
    }
    for s in console_session::Entity::find().filter(console_session::Column::Transcript.is_not_null()).all(db).await? {
        if let Some(text) = s.transcript.clone() {
            let plain = old.open(Kind::Transcript, &text)?;
            let mut a: console_session::ActiveModel = s.into();
            a.transcript = Set(Some(new.seal(Kind::Transcript, &plain)));
            a.update(db).await?;
            n.transcripts += 1;
        }
    }
    for w in webhook::Entity::find().all(db).await? {
        let plain = old.open(Kind::WebhookSecret, &w.secret)?;
        let mut a: webhook::ActiveModel = w.into();
        a.secret = Set(new.seal(Kind::WebhookSecret, &plain));
        a.update(db).await?;
        n.webhooks += 1;
    }
    for r in registry::Entity::find().filter(registry::Column::Password.is_not_null()).all(db).await? {
        if let Some(password) = r.password.clone() {
            let plain = old.open(Kind::RegistryPassword, &password)?;
            let mut a: registry::ActiveModel = r.into();
            a.password = Set(Some(new.seal(Kind::RegistryPassword, &plain)));
            a.update(db).await?;
            n.registries += 1;
        }
    }
    for d in deployment::Entity::find().all(db).await? {
        let sealed = again(&d.inputs)?;
        if sealed != d.inputs {
            let mut a: deployment::ActiveModel = d.into();
            a.inputs = Set(sealed);
            a.update(db).await?;
            n.deployments += 1;
        }
    }
    Ok(n)
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Seal(#[from] crate::sealing::SealError),
    #[error(transparent)]
    Db(#[from] DbErr),
}
