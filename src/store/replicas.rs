//! The Wharf processes serving this database: each one writes a row at start, refreshes it
//! every [`HEARTBEAT`], and removes it when it stops cleanly. A row not refreshed for
//! [`GONE_AFTER`] belongs to a process that died; it is ignored, and pruned.
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entities::replica::{self, Column, Entity};

pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// Three missed heartbeats.
pub const GONE_AFTER: Duration = Duration::from_secs(30);

/// This process, as it will be recorded.
#[derive(Clone, Debug)]
pub struct Me {
    pub id: String,
    pub hostname: String,
    pub pid: i32,
    pub started_at: chrono::DateTime<Utc>,
}

impl Me {
    pub fn new() -> Self {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".into());
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            hostname,
            pid: std::process::id().try_into().unwrap_or(i32::MAX),
            started_at: Utc::now(),
        }
    }
}

impl Default for Me {
    fn default() -> Self {
        Self::new()
    }
}

/// Records (or refreshes) this process.
pub async fn beat(db: &impl ConnectionTrait, me: &Me) -> Result<(), DbErr> {
    let row = replica::ActiveModel {
        id: Set(me.id.clone()),
        hostname: Set(me.hostname.clone()),
        pid: Set(me.pid),
        version: Set(env!("CARGO_PKG_VERSION").into()),
        started_at: Set(me.started_at),
        seen_at: Set(Utc::now()),
    };
    Entity::insert(row).on_conflict(OnConflict::column(Column::Id).update_column(Column::SeenAt).to_owned()).exec(db).await?;
    Ok(())
}

/// Removes this process's row (a clean stop).
pub async fn leave(db: &impl ConnectionTrait, me: &Me) -> Result<(), DbErr> {
    Entity::delete_by_id(me.id.clone()).exec(db).await?;
    Ok(())
}

/// The processes seen within [`GONE_AFTER`], oldest first; the others are pruned.
pub async fn live(db: &impl ConnectionTrait) -> Result<Vec<replica::Model>, DbErr> {
    let since = Utc::now() - chrono::Duration::from_std(GONE_AFTER).unwrap_or_default();
    Entity::delete_many().filter(Column::SeenAt.lt(since)).exec(db).await?;
    Entity::find().filter(Column::SeenAt.gte(since)).order_by_asc(Column::StartedAt).all(db).await
}
