//! Who is calling: password logins (throttled), sessions, API tokens from a password.

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::json;

use super::*;
use crate::auth::{AuthVia, GroupRole, Principal, password, sessions, throttle, tokens};
use crate::config::Settings;
use crate::domain::Secret;
use crate::services::{Context, ServiceError, ServiceResult, audit};
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

/// Checks a user name and password, with throttling (see `auth::throttle`): the attempt is
/// reserved against the user name and address before the password is checked, so concurrent
/// guesses cannot pass the limit. Failures are audited.
pub async fn check_password(ctx: &Context, settings: &Settings, attempt: &Attempt) -> ServiceResult<user::Model> {
    let db = &ctx.db;
    if !local_login_enabled(db).await? {
        return Err(ServiceError::Forbidden("local login is turned off: log in with single sign-on".into()));
    }
    // A name no account can have is refused without a trace: nothing to count, nothing to
    // write (an unbounded name would otherwise fill the audit log).
    let Ok(username) = Username::parse(&attempt.username) else {
        return Err(ServiceError::Unauthorized(BAD_CREDENTIALS.into()));
    };
    let username = username.to_string();
    let cfg = &settings.login;
    // Each check holds argon2's 19 MiB: past `login.max_concurrent_checks` at once, attempts
    // are refused at once (429) rather than queued.
    let Ok(_permit) = ctx.password_checks(cfg.max_concurrent_checks).try_acquire() else {
        return Err(ServiceError::Busy("too many logins at once; try again in a second".into()));
    };
    let window = chrono::Duration::minutes(i64::from(cfg.lockout_minutes));
    let address = throttle::address_of(&attempt.address);
    let (ukey, akey, pkey) = (throttle::user_key(&username), throttle::addr_key(&address), throttle::pair_key(&username, &address));
    let known = throttle::known_key(&username, &address);
    let mut reserved: Vec<&String> = Vec::new();
    let mut refused = None;
    for (key, limit) in [(&akey, cfg.max_failures_per_address), (&pkey, cfg.max_failures)] {
        match throttle::reserve(db, key, limit, window).await? {
            None => reserved.push(key),
            Some(until) => {
                refused = Some((until, "locked"));
                break;
            }
        }
    }
    // The user-wide pause does not hold back a place this user logged in from before.
    if refused.is_none() && !throttle::is_known(db, &known).await? {
        match throttle::reserve_user(db, &ukey, cfg.max_failures, window).await? {
            None => reserved.push(&ukey),
            Some(until) => refused = Some((until, "slowed down")),
        }
    }
    if let Some((until, why)) = refused {
        for key in reserved {
            throttle::hand_back(db, key).await?;
        }
        // Logged, not audited: a refusal checks no password, and anyone can send them without
        // end (the wrong passwords that led to the lock were audited, a bounded number).
        tracing::info!(user = %username, address = %attempt.address, reason = why, "login refused");
        return Err(ServiceError::Throttled { retry_after_secs: (until - Utc::now()).num_seconds().max(1) });
    }
    let found = find_user(db, &username).await?;
    let stored = found.as_ref().filter(|u| u.is_active).and_then(|u| u.password_hash.clone());
    if password::verify(attempt.password.clone(), stored).await?
        && let Some(u) = found.clone().filter(|u| u.is_active)
    {
        // Right: the user's counts go, and the address gets its reservation back.
        throttle::clear(db, &[ukey, pkey]).await?;
        throttle::hand_back(db, &akey).await?;
        throttle::remember(db, &known).await?;
        return Ok(u);
    }
    throttle::failed(db, &ukey, cfg.max_failures).await?;
    let reason = match &found {
        None => "unknown user",
        Some(u) if !u.is_active => "disabled",
        Some(u) if u.password_hash.is_none() => "no local password",
        Some(_) => "wrong password",
    };
    audit::record(db, &username, "login.failed", &format!("user:{username}"), json!({"address": attempt.address, "reason": reason}))
        .await?;
    Err(ServiceError::Unauthorized(BAD_CREDENTIALS.into()))
}

pub struct LoggedIn {
    pub session_token: String,
    pub principal: Principal,
}

pub async fn login(ctx: &Context, settings: &Settings, attempt: &Attempt) -> ServiceResult<LoggedIn> {
    let db = &ctx.db;
    let u = check_password(ctx, settings, attempt).await?;
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
    crate::store::epochs::bump(&txn, crate::store::epochs::AUTH).await?;
    txn.commit().await?;
    Ok(())
}

pub async fn issue_token(ctx: &Context, settings: &Settings, attempt: &Attempt) -> ServiceResult<tokens::IssuedToken> {
    let db = &ctx.db;
    let u = check_password(ctx, settings, attempt).await?;
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
