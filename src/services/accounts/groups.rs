//! Groups and their memberships.
use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

use super::*;
use crate::domain::{GroupName, Role};
use crate::services::{Page, PageRequest, ServiceError, ServiceResult, audit};
use crate::store::entities::{group, membership, user};

pub async fn create_group(db: &DatabaseConnection, actor: &str, input: NewGroupInput) -> ServiceResult<GroupSummary> {
    let name = GroupName::parse(input.name.trim()).map_err(|e| ServiceError::invalid("name", e.0))?;
    let description = input.description.unwrap_or_default().trim().to_string();
    if description.chars().count() > 500 {
        return Err(ServiceError::invalid("description", "a description must be at most 500 characters"));
    }
    let txn = crate::store::begin(db).await?;
    if find_group(&txn, name.as_ref()).await?.is_some() {
        return Err(ServiceError::Conflict(format!("the group name `{name}` is taken")));
    }
    let row = group::ActiveModel {
        name: Set(name.to_string()),
        description: Set(description),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, actor, "group.create", &format!("group:{}", row.name), json!({"description": row.description})).await?;
    txn.commit().await?;
    Ok(GroupSummary { name: row.name, description: row.description, members: 0, managers: 0, created_at: row.created_at })
}

pub async fn find_group(db: &impl ConnectionTrait, name: &str) -> Result<Option<group::Model>, sea_orm::DbErr> {
    group::Entity::find().filter(group::Column::Name.eq(name)).one(db).await
}

pub async fn list_groups(db: &DatabaseConnection, page: PageRequest) -> ServiceResult<Page<GroupSummary>> {
    let (rows, total) = page.fetch(db, group::Entity::find().order_by_asc(group::Column::Name)).await?;
    let ids: Vec<i64> = rows.iter().map(|g| g.id).collect();
    let mut counts: HashMap<i64, (u64, u64)> = HashMap::new();
    for m in membership::Entity::find().filter(membership::Column::GroupId.is_in(ids)).all(db).await? {
        let c = counts.entry(m.group_id).or_default();
        c.0 += 1;
        if m.role == Role::Manager {
            c.1 += 1;
        }
    }
    let items = rows
        .into_iter()
        .map(|g| {
            let (members, managers) = counts.get(&g.id).copied().unwrap_or_default();
            GroupSummary { name: g.name, description: g.description, members, managers, created_at: g.created_at }
        })
        .collect();
    Ok(page.page_of(items, total))
}

pub async fn group_detail(db: &DatabaseConnection, name: &str) -> ServiceResult<GroupDetail> {
    let g = find_group(db, name).await?.ok_or_else(|| ServiceError::NotFound(format!("no group `{name}`")))?;
    let mut members: Vec<MemberView> = membership::Entity::find()
        .filter(membership::Column::GroupId.eq(g.id))
        .find_also_related(user::Entity)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(m, u)| u.map(|u| MemberView { username: u.username, display_name: u.display_name, role: m.role }))
        .collect();
    members.sort_by(|a, b| (b.role == Role::Manager, &a.username).cmp(&(a.role == Role::Manager, &b.username)));
    Ok(GroupDetail { name: g.name, description: g.description, created_at: g.created_at, members })
}

/// Adds `username` to `group` with `role`, or changes their role. Returns whether it was new.
pub async fn set_membership(db: &DatabaseConnection, actor: &str, group_name: &str, username: &str, role: Role) -> ServiceResult<bool> {
    let txn = crate::store::begin(db).await?;
    let g = find_group(&txn, group_name).await?.ok_or_else(|| ServiceError::NotFound(format!("no group `{group_name}`")))?;
    let u = find_user(&txn, username).await?.ok_or_else(|| ServiceError::NotFound(format!("no user `{username}`")))?;
    let existing = membership::Entity::find_by_id((g.id, u.id)).one(&txn).await?;
    let created = existing.is_none();
    match existing {
        Some(m) if m.role == role => {
            txn.commit().await?;
            return Ok(false);
        }
        Some(m) => {
            let mut active: membership::ActiveModel = m.into();
            active.role = Set(role);
            active.update(&txn).await?;
        }
        None => {
            membership::ActiveModel { group_id: Set(g.id), user_id: Set(u.id), role: Set(role), created_at: Set(Utc::now()) }
                .insert(&txn)
                .await?;
        }
    }
    audit::record(
        &txn,
        actor,
        "membership.set",
        &format!("group:{}", g.name),
        json!({"user": u.username, "role": role.as_str(), "new": created}),
    )
    .await?;
    crate::store::epochs::bump(&txn, crate::store::epochs::AUTH).await?;
    txn.commit().await?;
    Ok(created)
}

pub async fn remove_membership(db: &DatabaseConnection, actor: &str, group_name: &str, username: &str) -> ServiceResult<()> {
    let txn = crate::store::begin(db).await?;
    let g = find_group(&txn, group_name).await?.ok_or_else(|| ServiceError::NotFound(format!("no group `{group_name}`")))?;
    let u = find_user(&txn, username).await?.ok_or_else(|| ServiceError::NotFound(format!("no user `{username}`")))?;
    let res = membership::Entity::delete_by_id((g.id, u.id)).exec(&txn).await?;
    if res.rows_affected == 0 {
        return Err(ServiceError::NotFound(format!("`{username}` is not a member of `{group_name}`")));
    }
    audit::record(&txn, actor, "membership.remove", &format!("group:{}", g.name), json!({"user": u.username})).await?;
    crate::store::epochs::bump(&txn, crate::store::epochs::AUTH).await?;
    txn.commit().await?;
    Ok(())
}
