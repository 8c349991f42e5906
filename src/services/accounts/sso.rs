//! OpenID Connect logins (users made and re-synced from the claims) and the local-login switch.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::*;
use crate::auth::{AuthVia, sessions};
use crate::config::Settings;
use crate::domain::Role;
use crate::services::{ServiceError, ServiceResult, audit};
use crate::store::entities::{group, membership, user};

const LOCAL_LOGIN: &str = "local_login";

/// Whether password logins are allowed (an admin can turn them off when OpenID Connect is used).
pub async fn local_login_enabled(db: &impl ConnectionTrait) -> Result<bool, sea_orm::DbErr> {
    use crate::store::entities::setting;
    Ok(setting::Entity::find_by_id(LOCAL_LOGIN).one(db).await?.is_none_or(|s| s.value != "off"))
}

/// Turns password logins on or off. Off is refused unless an active admin can log in through
/// OpenID Connect, so that nobody locks the last admin out.
pub async fn set_local_login(db: &DatabaseConnection, actor: &str, enabled: bool) -> ServiceResult<()> {
    use crate::store::entities::setting;
    if !enabled {
        let sso_admins = user::Entity::find()
            .filter(user::Column::IsAdmin.eq(true))
            .filter(user::Column::IsActive.eq(true))
            .filter(user::Column::OidcSubject.is_not_null())
            .one(db)
            .await?;
        if sso_admins.is_none() {
            return Err(ServiceError::Conflict(
                "no admin can log in through OpenID Connect yet: turning local login off would lock every admin out".into(),
            ));
        }
    }
    let txn = crate::store::begin(db).await?;
    let row = setting::ActiveModel { key: Set(LOCAL_LOGIN.into()), value: Set(if enabled { "on" } else { "off" }.into()) };
    setting::Entity::insert(row)
        .on_conflict(sea_orm::sea_query::OnConflict::column(setting::Column::Key).update_column(setting::Column::Value).to_owned())
        .exec(&txn)
        .await?;
    audit::record(&txn, actor, "settings.local_login", "settings", json!({"enabled": enabled})).await?;
    txn.commit().await?;
    Ok(())
}

/// A user name for a new OpenID Connect account: the provider's, made valid and unique.
async fn free_username(db: &impl ConnectionTrait, wanted: &str) -> Result<String, ServiceError> {
    let mut base: String = wanted
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
        .collect();
    base = base.trim_matches(|c: char| !c.is_ascii_alphanumeric()).chars().take(56).collect();
    if base.is_empty() {
        base = "user".into();
    }
    for n in 1..1000 {
        let candidate = if n == 1 { base.clone() } else { format!("{base}-{n}") };
        if !Username::is_reserved(&candidate) && find_user(db, &candidate).await?.is_none() {
            return Ok(candidate);
        }
    }
    Err(ServiceError::Conflict(format!("no free user name like `{base}`")))
}

/// Logs in (creating at the first login) the user of a verified OpenID Connect identity,
/// and re-syncs their admin flag and the memberships of mapped groups from the groups claim.
pub async fn oidc_login(
    db: &DatabaseConnection,
    settings: &Settings,
    identity: &crate::auth::oidc::Identity,
    address: &str,
) -> ServiceResult<LoggedIn> {
    let cfg = &settings.oidc;
    let is_admin = identity.groups.iter().any(|g| cfg.admin_values.contains(g));
    let txn = crate::store::begin(db).await?;
    let now = Utc::now();
    let existing = user::Entity::find().filter(user::Column::OidcSubject.eq(&identity.subject)).one(&txn).await?;
    let display = identity.name.clone().unwrap_or_else(|| identity.username.clone());
    let u = match existing {
        Some(u) if !u.is_active => return Err(ServiceError::Forbidden("this account is disabled".into())),
        Some(u) => {
            let mut a: user::ActiveModel = u.into();
            a.display_name = Set(display);
            a.email = Set(identity.email.clone());
            a.is_admin = Set(is_admin);
            a.updated_at = Set(now);
            a.update(&txn).await?
        }
        None => {
            let username = free_username(&txn, &identity.username).await?;
            let u = user::ActiveModel {
                username: Set(username),
                display_name: Set(display),
                email: Set(identity.email.clone()),
                password_hash: Set(None),
                is_admin: Set(is_admin),
                is_active: Set(true),
                created_at: Set(now),
                updated_at: Set(now),
                oidc_subject: Set(Some(identity.subject.clone())),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            audit::record(
                &txn,
                "oidc",
                "user.create",
                &format!("user:{}", u.username),
                json!({"subject": identity.subject, "is_admin": is_admin}),
            )
            .await?;
            u
        }
    };
    // The memberships of every group the mapping names follow the claim; others are left alone.
    let mut wanted: std::collections::BTreeMap<&str, Role> = std::collections::BTreeMap::new();
    for rule in &cfg.group_map {
        if identity.groups.contains(&rule.claim_value) {
            let e = wanted.entry(rule.group.as_str()).or_insert(rule.role);
            if rule.role == Role::Manager {
                *e = Role::Manager;
            }
        }
    }
    let mapped: std::collections::BTreeSet<&str> = cfg.group_map.iter().map(|r| r.group.as_str()).collect();
    for name in mapped {
        let g = match find_group(&txn, name).await? {
            Some(g) => g,
            None if wanted.contains_key(name) => {
                let g = group::ActiveModel {
                    name: Set(name.to_string()),
                    description: Set("made from the OpenID Connect group mapping".into()),
                    created_at: Set(now),
                    ..Default::default()
                }
                .insert(&txn)
                .await?;
                audit::record(&txn, "oidc", "group.create", &format!("group:{name}"), json!({})).await?;
                g
            }
            None => continue,
        };
        let current = membership::Entity::find_by_id((g.id, u.id)).one(&txn).await?;
        match (wanted.get(name), current) {
            (Some(role), None) => {
                membership::ActiveModel { group_id: Set(g.id), user_id: Set(u.id), role: Set(*role), created_at: Set(now) }
                    .insert(&txn)
                    .await?;
                audit::record(
                    &txn,
                    "oidc",
                    "membership.set",
                    &format!("group:{name}"),
                    json!({"user": u.username, "role": role.as_str(), "new": true}),
                )
                .await?;
            }
            (Some(role), Some(m)) if m.role != *role => {
                let mut a: membership::ActiveModel = m.into();
                a.role = Set(*role);
                a.update(&txn).await?;
                audit::record(
                    &txn,
                    "oidc",
                    "membership.set",
                    &format!("group:{name}"),
                    json!({"user": u.username, "role": role.as_str(), "new": false}),
                )
                .await?;
            }
            (None, Some(_)) => {
                membership::Entity::delete_by_id((g.id, u.id)).exec(&txn).await?;
                audit::record(
                    &txn,
                    "oidc",
                    "membership.remove",
                    &format!("group:{name}"),
                    json!({"user": u.username, "reason": "no longer in the groups claim"}),
                )
                .await?;
            }
            _ => {}
        }
    }
    let session = sessions::create(&txn, u.id, settings.session.hours).await?;
    audit::record(
        &txn,
        &u.username,
        "login",
        &format!("user:{}", u.username),
        json!({"address": address, "via": "oidc", "groups": identity.groups}),
    )
    .await?;
    // The provider's claims may have changed the user and their groups.
    crate::store::epochs::bump(&txn, crate::store::epochs::AUTH).await?;
    txn.commit().await?;
    let principal =
        load_principal(db, u.id, AuthVia::Session).await?.ok_or_else(|| ServiceError::Unauthorized("the account is disabled".into()))?;
    Ok(LoggedIn { session_token: session.token, principal })
}
