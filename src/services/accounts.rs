//! Users, groups, memberships, and proving who you are (password login, sessions, API tokens).
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use serde_json::json;

use super::{FieldError, Page, PageRequest, ServiceError, ServiceResult, audit};
use crate::auth::{AuthVia, GroupRole, Principal, password, sessions, throttle, tokens};
use crate::config::Settings;
use crate::domain::{GroupName, Role, Secret, Username};
use crate::store::entities::{group, membership, user};

// ----- inputs -------------------------------------------------------------------------------

/// A new account as a form or an API body gives it, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct NewUserInput {
    pub username: String,
    pub password: Option<Secret>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub is_admin: bool,
}

/// A new account that passed every rule.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub password: Option<Secret>,
    pub display_name: String,
    pub email: Option<String>,
    pub is_admin: bool,
}

impl TryFrom<NewUserInput> for NewUser {
    type Error = ServiceError;

    fn try_from(input: NewUserInput) -> Result<Self, Self::Error> {
        let mut errors = Vec::new();
        let username = Username::parse(&input.username).map_err(|e| errors.push(FieldError::new("username", e.0)));
        if let Some(pw) = &input.password
            && let Err(e) = password::check_policy(pw)
        {
            errors.push(FieldError::new("password", e));
        }
        let display_name = input.display_name.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        if display_name.as_ref().is_some_and(|d| d.chars().count() > 100) {
            errors.push(FieldError::new("display_name", "a display name must be at most 100 characters"));
        }
        let email = input.email.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        if let Some(e) = &email
            && (e.len() > 254 || !e.contains('@') || e.starts_with('@') || e.ends_with('@') || e.contains(char::is_whitespace))
        {
            errors.push(FieldError::new("email", format!("`{e}` is not an e-mail address")));
        }
        match username {
            Ok(username) if errors.is_empty() => Ok(NewUser {
                display_name: display_name.unwrap_or_else(|| username.to_string()),
                username,
                password: input.password,
                email,
                is_admin: input.is_admin,
            }),
            _ => Err(ServiceError::Invalid(errors)),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct NewGroupInput {
    pub name: String,
    pub description: Option<String>,
}

// ----- views --------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupMembershipView {
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub is_admin: bool,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub groups: Vec<GroupMembershipView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupSummary {
    pub name: String,
    pub description: String,
    pub members: u64,
    pub managers: u64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupDetail {
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub members: Vec<MemberView>,
}


// ----- users --------------------------------------------------------------------------------

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

// ----- groups -------------------------------------------------------------------------------

pub async fn create_group(db: &DatabaseConnection, actor: &str, input: NewGroupInput) -> ServiceResult<GroupSummary> {
    let name = GroupName::parse(&input.name).map_err(|e| ServiceError::invalid("name", e.0))?;
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
            membership::ActiveModel {
                group_id: Set(g.id),
                user_id: Set(u.id),
                role: Set(role),
                created_at: Set(Utc::now()),
            }
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
    txn.commit().await?;
    Ok(())
}

// ----- who is calling -----------------------------------------------------------------------

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
    if password::verify(attempt.password.clone(), stored).await? {
        if let Some(u) = found.clone().filter(|u| u.is_active) {
            throttle::clear(db, &ukey).await?;
            return Ok(u);
        }
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

// ----- OpenID Connect and the local-login switch --------------------------------------------

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
        if find_user(db, &candidate).await?.is_none() {
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
    txn.commit().await?;
    let principal =
        load_principal(db, u.id, AuthVia::Session).await?.ok_or_else(|| ServiceError::Unauthorized("the account is disabled".into()))?;
    Ok(LoggedIn { session_token: session.token, principal })
}
