//! Local accounts: create, list, passwords.
use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::json;

use super::*;
use crate::auth::{password, sessions, tokens};
use crate::domain::Secret;
use crate::services::{FieldError, Page, PageRequest, ServiceError, ServiceResult, audit};
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

/// A change to an account (`PATCH /api/v1/users/{username}`); absent fields stay as they are.
#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub is_active: Option<bool>,
    pub is_admin: Option<bool>,
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<Secret>,
    /// Required with `password` when the account is one's own (checked like a login, throttled).
    #[schema(value_type = Option<String>, format = Password)]
    pub current_password: Option<Secret>,
    pub email: Option<String>,
    pub display_name: Option<String>,
}

/// Changes an account. Admins change any account; anyone changes their own password (with
/// the current one), display name and e-mail. Disabling an account or an admin's password
/// reset ends all its sessions and API tokens at once; changing one's own password ends one's
/// other sessions and all one's tokens. The last active admin cannot be disabled or demoted,
/// and nobody disables themselves.
pub async fn update_user(
    db: &DatabaseConnection,
    who: &crate::auth::Principal,
    session_token: Option<&str>,
    username: &str,
    patch: UserPatch,
    current_verified: bool,
) -> ServiceResult<UserView> {
    let target = find_user(db, username).await?;
    let own = target.as_ref().is_some_and(|t| t.id == who.user_id);
    if !who.is_admin && !own {
        return Err(ServiceError::Forbidden("only an admin may change another account".into()));
    }
    let target = target.ok_or_else(|| ServiceError::NotFound(format!("no user `{username}`")))?;
    if !who.is_admin && (patch.is_active.is_some() || patch.is_admin.is_some()) {
        return Err(ServiceError::Forbidden("only an admin may enable, disable, promote or demote accounts".into()));
    }
    let mut errors = Vec::new();
    if let Some(d) = &patch.display_name
        && (d.trim().is_empty() || d.chars().count() > 100)
    {
        errors.push(FieldError::new("display_name", "1 to 100 characters"));
    }
    if let Some(e) = &patch.email
        && !e.is_empty()
        && (e.chars().count() > 254 || !e.contains('@') || e.chars().any(char::is_whitespace))
    {
        errors.push(FieldError::new("email", "an e-mail address (at most 254 characters), or empty"));
    }
    if let Some(pw) = &patch.password
        && let Err(e) = password::check_policy(pw)
    {
        errors.push(FieldError::new("password", e));
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    if own && patch.is_active == Some(false) {
        return Err(ServiceError::Conflict("you cannot disable your own account".into()));
    }
    if patch.password.is_some() && own {
        if target.password_hash.is_none() {
            return Err(ServiceError::Forbidden(
                "this account logs in with single sign-on: only an admin can give it a local password".into(),
            ));
        }
        // The caller checked it through the login throttle (`check_password`): guessing it
        // here costs what guessing a login does.
        if !current_verified {
            return Err(ServiceError::invalid("current_password", "required to change your own password"));
        }
    }
    let hash = match patch.password.clone() {
        Some(pw) => Some(password::hash(pw).await?),
        None => None,
    };
    let txn = crate::store::begin(db).await?;
    let losing_admin = target.is_admin && target.is_active && (patch.is_admin == Some(false) || patch.is_active == Some(false));
    if losing_admin {
        // The admins' rows are locked (PostgreSQL; SQLite's write lock serialises already), so
        // that two demotions at once cannot leave nobody.
        let q = user::Entity::find().filter(user::Column::IsAdmin.eq(true)).filter(user::Column::IsActive.eq(true));
        let q = if txn.get_database_backend() == sea_orm::DbBackend::Postgres { q.lock_exclusive() } else { q };
        let admins = q.all(&txn).await?.into_iter().filter(|u| u.id != target.id).count();
        if admins == 0 {
            return Err(ServiceError::Conflict(format!("`{}` is the last active admin: make another admin first", target.username)));
        }
    }
    let mut changes: Vec<&str> = Vec::new();
    let mut row: user::ActiveModel = target.clone().into();
    if let Some(a) = patch.is_active.filter(|a| *a != target.is_active) {
        row.is_active = Set(a);
        changes.push(if a { "enabled" } else { "disabled" });
    }
    if let Some(a) = patch.is_admin.filter(|a| *a != target.is_admin) {
        row.is_admin = Set(a);
        changes.push(if a { "promoted to admin" } else { "demoted from admin" });
    }
    if let Some(d) = &patch.display_name {
        row.display_name = Set(d.trim().to_string());
        changes.push("display name");
    }
    if let Some(e) = &patch.email {
        row.email = Set((!e.is_empty()).then(|| e.clone()));
        changes.push("e-mail");
    }
    if let Some(h) = hash {
        row.password_hash = Set(Some(h));
        changes.push("new credentials");
    }
    row.updated_at = Set(Utc::now());
    let row = row.update(&txn).await?;
    let disabled = patch.is_active == Some(false) && target.is_active;
    let mut ended = false;
    if disabled || (patch.password.is_some() && !own) {
        sessions::delete_for_user(&txn, target.id).await?;
        tokens::revoke_all(&txn, target.id).await?;
        ended = true;
    } else if patch.password.is_some() {
        match session_token {
            Some(keep) => sessions::delete_others(&txn, target.id, keep).await?,
            None => sessions::delete_for_user(&txn, target.id).await?,
        }
        tokens::revoke_all(&txn, target.id).await?;
        ended = true;
    }
    audit::record(
        &txn,
        &who.username,
        "user.update",
        &format!("user:{}", row.username),
        json!({"changes": changes, "sessions_ended": ended}),
    )
    .await?;
    // Who this user is changed (name, admin, active, sessions, tokens): cached principals go.
    // Last before the commit, so the epoch's row is locked for the shortest time.
    crate::store::epochs::bump(&txn, crate::store::epochs::AUTH).await?;
    txn.commit().await?;
    let groups = membership::Entity::find()
        .filter(membership::Column::UserId.eq(row.id))
        .find_also_related(group::Entity)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(m, g)| g.map(|g| GroupMembershipView { name: g.name, role: m.role }))
        .collect();
    Ok(user_view(row, groups))
}

/// Ends every session of the caller, this one included ("sign out everywhere").
pub async fn sign_out_everywhere(db: &DatabaseConnection, who: &crate::auth::Principal) -> ServiceResult<()> {
    let txn = crate::store::begin(db).await?;
    sessions::delete_for_user(&txn, who.user_id).await?;
    audit::record(&txn, &who.username, "user.sign_out_everywhere", &format!("user:{}", who.username), json!({})).await?;
    crate::store::epochs::bump(&txn, crate::store::epochs::AUTH).await?;
    txn.commit().await?;
    Ok(())
}

/// Sets a new password for an existing account and ends its sessions and tokens.
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
    tokens::revoke_all(&txn, user_id).await?;
    audit::record(&txn, actor, "user.password", &format!("user:{username}"), json!({})).await?;
    crate::store::epochs::bump(&txn, crate::store::epochs::AUTH).await?;
    txn.commit().await?;
    Ok(())
}
