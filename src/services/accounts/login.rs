//! Who is calling: password logins (throttled), sessions, API tokens from a password.

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::json;

use super::*;
use crate::auth::{AuthVia, GroupRole, Principal, password, sessions, throttle, tokens};
use crate::config::Settings;
use crate::domain::Secret;
use crate::services::{ServiceError, ServiceResult, audit};
use crate::store::entities::{group, membership, user};

/// The principal of an active user, with their groups.
pub async fn load_principal(db: &impl ConnectionTrait, user_id: i64, via: AuthVia) -> Result<Option<Principal>, sea_orm::DbErr> {
    let Some(u) = user::Entity::find_by_id(user_id).one(db).await? else {
        return Ok(None);
    };
    if !u.is_active {
        return Ok(None);
    }
    let mut groups: Vec<GroupRole> = membership::Entity::find()
        .filter(membership::Column::UserId.eq(u.id))
        .find_also_related(group::Entity)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(m, g)| g.map(|g| GroupRole { group_id: g.id, name: g.name, role: m.role }))
        .collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Some(Principal { user_id: u.id, username: u.username, display_name: u.display_name, is_admin: u.is_admin, groups, via }))
}

/// Where a login attempt comes from, for throttling and the audit log.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub username: String,
    pub password: Secret,
    pub address: String,
}

const BAD_CREDENTIALS: &str = "wrong user name or password";

/// Checks a user name and password, with throttling. Failures are audited and counted.
pub async fn check_password(db: &DatabaseConnection, settings: &Settings, attempt: &Attempt) -> ServiceResult<user::Model> {
    if !local_login_enabled(db).await? {
        return Err(ServiceError::Forbidden("local login is turned off: log in with single sign-on".into()));
    }
    let username = attempt.username.trim().to_ascii_lowercase();
    let ukey = throttle::user_key(&username);
    let akey = throttle::addr_key(&attempt.address);
    if let Some(until) = throttle::locked_until(db, &[ukey.clone(), akey.clone()]).await? {
        audit::record(db, &username, "login.failed", &format!("user:{username}"), json!({"address": attempt.address, "reason": "locked"}))
            .await?;
        return Err(ServiceError::Throttled { retry_after_secs: (until - Utc::now()).num_seconds().max(1) });
    }
    let found = find_user(db, &username).await?;
    let stored = found.as_ref().filter(|u| u.is_active).and_then(|u| u.password_hash.clone());
    if password::verify(attempt.password.clone(), stored).await?
        && let Some(u) = found.clone().filter(|u| u.is_active)
    {
        throttle::clear(db, &ukey).await?;
        return Ok(u);
    }
    let reason = match &found {
        None => "unknown user",
        Some(u) if !u.is_active => "disabled",
        Some(u) if u.password_hash.is_none() => "no local password",
        Some(_) => "wrong password",
    };
    let cfg = &settings.login;
    let user_locked = throttle::record_failure(db, &ukey, cfg.max_failures, cfg).await?;
    let addr_locked = throttle::record_failure(db, &akey, cfg.max_failures_per_address, cfg).await?;
    audit::record(
        db,
        &username,
        "login.failed",
        &format!("user:{username}"),
        json!({"address": attempt.address, "reason": reason, "locked": user_locked || addr_locked}),
    )
    .await?;
    Err(ServiceError::Unauthorized(BAD_CREDENTIALS.into()))
}

pub struct LoggedIn {
    pub session_token: String,
    pub principal: Principal,
}

pub async fn login(db: &DatabaseConnection, settings: &Settings, attempt: &Attempt) -> ServiceResult<LoggedIn> {
    let u = check_password(db, settings, attempt).await?;
    let txn = crate::store::begin(db).await?;
    let session = sessions::create(&txn, u.id, settings.session.hours).await?;
    audit::record(&txn, &u.username, "login", &format!("user:{}", u.username), json!({"address": attempt.address, "via": "password"}))
        .await?;
    txn.commit().await?;
    let principal = load_principal(db, u.id, AuthVia::Session).await?.ok_or_else(|| ServiceError::Unauthorized(BAD_CREDENTIALS.into()))?;
    Ok(LoggedIn { session_token: session.token, principal })
}

pub async fn logout(db: &DatabaseConnection, principal: &Principal, session_token: &str) -> ServiceResult<()> {
    let txn = crate::store::begin(db).await?;
    sessions::delete(&txn, session_token).await?;
    audit::record(&txn, &principal.username, "logout", &format!("user:{}", principal.username), json!({})).await?;
    txn.commit().await?;
    Ok(())
}

pub async fn issue_token(db: &DatabaseConnection, settings: &Settings, attempt: &Attempt) -> ServiceResult<tokens::IssuedToken> {
    let u = check_password(db, settings, attempt).await?;
    let txn = crate::store::begin(db).await?;
    let issued = tokens::issue(&txn, u.id, "api login", settings.api_token_days).await?;
    audit::record(
        &txn,
        &u.username,
        "token.create",
        &format!("user:{}", u.username),
        json!({"address": attempt.address, "expires_at": issued.expires_at}),
    )
    .await?;
    txn.commit().await?;
    Ok(issued)
}
