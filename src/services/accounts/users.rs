//! Local accounts: create, list, passwords.
use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

use super::*;
use crate::auth::{password, sessions};
use crate::domain::Secret;
use crate::services::{Page, PageRequest, ServiceError, ServiceResult, audit};
use crate::store::entities::{group, membership, user};

pub async fn create_user(db: &DatabaseConnection, actor: &str, input: NewUserInput) -> ServiceResult<UserView> {
    let new = NewUser::try_from(input)?;
    let hash = match new.password.clone() {
        Some(pw) => Some(password::hash(pw).await?),
        None => None,
    };
    let txn = crate::store::begin(db).await?;
    if find_user(&txn, new.username.as_ref()).await?.is_some() {
        return Err(ServiceError::Conflict(format!("the user name `{}` is taken", new.username)));
    }
    let now = Utc::now();
    let row = user::ActiveModel {
        username: Set(new.username.to_string()),
        display_name: Set(new.display_name.clone()),
        email: Set(new.email.clone()),
        password_hash: Set(hash),
        is_admin: Set(new.is_admin),
        is_active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        oidc_subject: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor,
        "user.create",
        &format!("user:{}", row.username),
        json!({"display_name": row.display_name, "email": row.email, "is_admin": row.is_admin}),
    )
    .await?;
    txn.commit().await?;
    Ok(user_view(row, Vec::new()))
}

fn user_view(row: user::Model, groups: Vec<GroupMembershipView>) -> UserView {
    UserView {
        username: row.username,
        display_name: row.display_name,
        email: row.email,
        is_admin: row.is_admin,
        is_active: row.is_active,
        created_at: row.created_at,
        groups,
    }
}

pub async fn find_user(db: &impl ConnectionTrait, username: &str) -> Result<Option<user::Model>, sea_orm::DbErr> {
    user::Entity::find().filter(user::Column::Username.eq(username.to_ascii_lowercase())).one(db).await
}

pub async fn list_users(db: &DatabaseConnection, page: PageRequest) -> ServiceResult<Page<UserView>> {
    let (rows, total) = page.fetch(db, user::Entity::find().order_by_asc(user::Column::Username)).await?;
    let ids: Vec<i64> = rows.iter().map(|u| u.id).collect();
    let mut groups: HashMap<i64, Vec<GroupMembershipView>> = HashMap::new();
    for (m, g) in membership::Entity::find().filter(membership::Column::UserId.is_in(ids)).find_also_related(group::Entity).all(db).await? {
        if let Some(g) = g {
            groups.entry(m.user_id).or_default().push(GroupMembershipView { name: g.name, role: m.role });
        }
    }
    let items = rows
        .into_iter()
        .map(|u| {
            let mut gs = groups.remove(&u.id).unwrap_or_default();
            gs.sort_by(|a, b| a.name.cmp(&b.name));
            user_view(u, gs)
        })
        .collect();
    Ok(page.page_of(items, total))
}

/// Sets a new password for an existing account and ends its sessions.
pub async fn set_password(db: &DatabaseConnection, actor: &str, username: &str, new: Secret) -> ServiceResult<()> {
    password::check_policy(&new).map_err(|e| ServiceError::invalid("password", e))?;
    let hash = password::hash(new).await?;
    let txn = crate::store::begin(db).await?;
    let row = find_user(&txn, username).await?.ok_or_else(|| ServiceError::NotFound(format!("no user `{username}`")))?;
    let user_id = row.id;
    let mut active: user::ActiveModel = row.into();
    active.password_hash = Set(Some(hash));
    active.updated_at = Set(Utc::now());
    active.update(&txn).await?;
    sessions::delete_for_user(&txn, user_id).await?;
    audit::record(&txn, actor, "user.password", &format!("user:{username}"), json!({})).await?;
    txn.commit().await?;
    Ok(())
}
