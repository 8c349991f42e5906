//! Login throttling: after repeated failures, a user name or a client address is locked for a while.
//! Kept in the database so that every replica sees the same counts.
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};

use crate::config::LoginSettings;
use crate::store::entities::login_throttle;

pub fn user_key(username: &str) -> String {
    format!("user:{}", username.to_ascii_lowercase())
}

pub fn addr_key(addr: &str) -> String {
    format!("addr:{addr}")
}

/// When the first of `keys` that is locked unlocks, if any is.
pub async fn locked_until(db: &impl ConnectionTrait, keys: &[String]) -> Result<Option<DateTime<Utc>>, DbErr> {
    let now = Utc::now();
    let mut until = None;
    for key in keys {
        if let Some(row) = login_throttle::Entity::find_by_id(key.clone()).one(db).await?
            && let Some(t) = row.locked_until
            && t > now
        {
            until = until.max(Some(t));
        }
    }
    Ok(until)
}

/// Counts one failure against `key`; locks it when it reaches `limit` within the window.
pub async fn record_failure(db: &impl ConnectionTrait, key: &str, limit: u32, cfg: &LoginSettings) -> Result<bool, DbErr> {
    let now = Utc::now();
    let window = Duration::minutes(i64::from(cfg.lockout_minutes));
    let existing = login_throttle::Entity::find_by_id(key.to_string()).one(db).await?;
    let (failures, started) = match &existing {
        Some(row) if now - row.window_started_at < window => (row.failures + 1, row.window_started_at),
        _ => (1, now),
    };
    let lock = u32::try_from(failures).unwrap_or(u32::MAX) >= limit;
    let model = login_throttle::ActiveModel {
        key: Set(key.to_string()),
        failures: Set(if lock { 0 } else { failures }),
        window_started_at: Set(if lock { now } else { started }),
        locked_until: Set(if lock { Some(now + window) } else { None }),
    };
    // An upsert, so that two failures racing on a new key do not collide.
    login_throttle::Entity::insert(model)
        .on_conflict(
            OnConflict::column(login_throttle::Column::Key)
                .update_columns([
                    login_throttle::Column::Failures,
                    login_throttle::Column::WindowStartedAt,
                    login_throttle::Column::LockedUntil,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(lock)
}

pub async fn clear(db: &impl ConnectionTrait, key: &str) -> Result<(), DbErr> {
    login_throttle::Entity::delete_by_id(key.to_string()).exec(db).await?;
    Ok(())
}
