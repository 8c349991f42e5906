//! The installation's identity: one id per database, made at the first start and shared by
//! every replica. Every object Wharf makes on a Docker host carries it (`io.wharf.instance`),
//! so that two installations sharing a host never take each other's objects for orphans.
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, Set};

use super::entities::setting;

const INSTANCE_SETTING: &str = "instance_id";

pub async fn instance_id(db: &impl ConnectionTrait) -> Result<String, DbErr> {
    if let Some(row) = setting::Entity::find_by_id(INSTANCE_SETTING).one(db).await? {
        return Ok(row.value);
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let row = setting::ActiveModel { key: Set(INSTANCE_SETTING.into()), value: Set(id.clone()) };
    if let Err(insert_err) = row.insert(db).await {
        // Another replica made it first: use theirs.
        return setting::Entity::find_by_id(INSTANCE_SETTING).one(db).await?.map(|r| r.value).ok_or(insert_err);
    }
    Ok(id)
}
