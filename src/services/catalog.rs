//! What admins publish and govern: catalog items, entitlements, approval policies, quotas;
//! and what each user may request.
use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Context, FieldError, ServiceError, ServiceResult, accounts, audit, blueprints};
use crate::auth::Principal;
use crate::domain::blueprint::{Blueprint, InputType};
use crate::domain::policy::{self, Level, Policy, Scope};
use crate::domain::quota::Limits;
use crate::store::entities::{approval_policy, catalog_item, entitlement, group, quota, user};
use crate::store::{Levels, StringList, StringMap};

/// The day-2 actions an entitlement can grant.
pub const ACTIONS: [&str; 8] = ["start", "stop", "restart", "logs", "console", "extend_lease", "destroy", "scale"];

// ----- catalog items ------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct ItemInput {
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub icon: String,
    pub blueprint: String,
    pub blueprint_version: Option<i32>,
    pub host_selector: BTreeMap<String, String>,
    pub default_days: i32,
    pub max_days: i32,
    pub grace_days: i32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Lease {
    pub default_days: i32,
    pub max_days: i32,
    pub grace_days: i32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub icon: String,
    pub blueprint: String,
    pub blueprint_version: Option<i32>,
    pub host_selector: BTreeMap<String, String>,
    pub lease: Lease,
}

pub fn item_view(i: catalog_item::Model) -> ItemView {
    ItemView {
        host_selector: i.host_selector.0,
        lease: Lease { default_days: i.lease_default_days, max_days: i.lease_max_days, grace_days: i.lease_grace_days },
        id: i.id,
        name: i.name,
        description: i.description,
        category: i.category,
        icon: i.icon,
        blueprint: i.blueprint_id,
        blueprint_version: i.blueprint_version,
    }
}

pub async fn create_item(ctx: &Context, actor: &str, input: ItemInput) -> ServiceResult<ItemView> {
    let db = &ctx.db;
    let mut errors = Vec::new();
    if let Err(e) = crate::domain::Slug::parse(&input.id) {
        errors.push(FieldError::new("id", e.0));
    }
    if input.name.trim().is_empty() || input.name.chars().count() > 100 {
        errors.push(FieldError::new("name", "a name is 1 to 100 characters"));
    }
    if input.category.trim().is_empty() || input.category.chars().count() > 60 {
        errors.push(FieldError::new("category", "a category is 1 to 60 characters"));
    }
    if !(1..=3650).contains(&input.max_days) {
        errors.push(FieldError::new("lease.max_days", "must be 1 to 3650"));
    }
    if input.default_days < 1 || input.default_days > input.max_days {
        errors.push(FieldError::new("lease.default_days", format!("must be 1 to max_days ({})", input.max_days)));
    }
    if !(0..=365).contains(&input.grace_days) {
        errors.push(FieldError::new("lease.grace_days", "must be 0 to 365"));
    }
    if let Err(e) = blueprints::load(ctx, &input.blueprint, input.blueprint_version).await {
        match e {
            ServiceError::NotFound(m) => errors.push(FieldError::new("blueprint", m)),
            other => return Err(other),
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let txn = crate::store::begin(db).await?;
    if catalog_item::Entity::find_by_id(input.id.clone()).one(&txn).await?.is_some() {
        return Err(ServiceError::Conflict(format!("the catalog item `{}` exists", input.id)));
    }
    let now = Utc::now();
    let row = catalog_item::ActiveModel {
        id: Set(input.id.clone()),
        name: Set(input.name.trim().to_string()),
        description: Set(input.description.trim().to_string()),
        category: Set(input.category.trim().to_string()),
        icon: Set(input.icon.trim().to_string()),
        blueprint_id: Set(input.blueprint.clone()),
        blueprint_version: Set(input.blueprint_version),
        host_selector: Set(StringMap(input.host_selector.clone())),
        lease_default_days: Set(input.default_days),
        lease_max_days: Set(input.max_days),
        lease_grace_days: Set(input.grace_days),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor,
        "catalog_item.create",
        &format!("catalog_item:{}", row.id),
        json!({"blueprint": row.blueprint_id, "version": row.blueprint_version}),
    )
    .await?;
    txn.commit().await?;
    Ok(item_view(row))
}

pub async fn list_items(db: &DatabaseConnection) -> ServiceResult<Vec<ItemView>> {
    Ok(catalog_item::Entity::find()
        .order_by_asc(catalog_item::Column::Category)
        .order_by_asc(catalog_item::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(item_view)
        .collect())
}

pub async fn find_item(db: &DatabaseConnection, id: &str) -> ServiceResult<catalog_item::Model> {
    catalog_item::Entity::find_by_id(id.to_string()).one(db).await?.ok_or_else(|| ServiceError::NotFound(format!("no catalog item `{id}`")))
}

// ----- entitlements -------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct EntitlementInput {
    pub group: String,
    pub catalog_items: Vec<String>,
    pub categories: Vec<String>,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EntitlementView {
    pub id: i64,
    pub group: String,
    pub catalog_items: Vec<String>,
    pub categories: Vec<String>,
    pub actions: Vec<String>,
}

/// Whether an entitlement names the item, or the item's category.
fn covers(e: &entitlement::Model, item: &catalog_item::Model) -> bool {
    e.catalog_items.0.contains(&item.id) || e.categories.0.contains(&item.category)
}

pub async fn create_entitlement(db: &DatabaseConnection, actor: &str, input: EntitlementInput) -> ServiceResult<EntitlementView> {
    let g = accounts::find_group(db, &input.group).await?.ok_or_else(|| ServiceError::NotFound(format!("no group `{}`", input.group)))?;
    let mut errors = Vec::new();
    if input.catalog_items.is_empty() && input.categories.is_empty() {
        errors.push(FieldError::new("catalog_items", "name catalog items or categories the group may request"));
    }
    for id in &input.catalog_items {
        if catalog_item::Entity::find_by_id(id.clone()).one(db).await?.is_none() {
            errors.push(FieldError::new("catalog_items", format!("no catalog item `{id}`")));
        }
    }
    for a in &input.actions {
        if !ACTIONS.contains(&a.as_str()) {
            errors.push(FieldError::new("actions", format!("`{a}` is not a day-2 action; use {}", ACTIONS.join(", "))));
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let txn = crate::store::begin(db).await?;
    let row = entitlement::ActiveModel {
        group_id: Set(g.id),
        catalog_items: Set(StringList(input.catalog_items.clone())),
        categories: Set(StringList(input.categories.clone())),
        actions: Set(StringList(input.actions.clone())),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor,
        "entitlement.create",
        &format!("group:{}", g.name),
        json!({"catalog_items": input.catalog_items, "categories": input.categories, "actions": input.actions}),
    )
    .await?;
    txn.commit().await?;
    Ok(EntitlementView {
        id: row.id,
        group: g.name,
        catalog_items: input.catalog_items,
        categories: input.categories,
        actions: input.actions,
    })
}

pub async fn list_entitlements(db: &DatabaseConnection) -> ServiceResult<Vec<EntitlementView>> {
    let groups: BTreeMap<i64, String> = group::Entity::find().all(db).await?.into_iter().map(|g| (g.id, g.name)).collect();
    Ok(entitlement::Entity::find()
        .order_by_asc(entitlement::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|e| EntitlementView {
            id: e.id,
            group: groups.get(&e.group_id).cloned().unwrap_or_default(),
            catalog_items: e.catalog_items.0,
            categories: e.categories.0,
            actions: e.actions.0,
        })
        .collect())
}

/// The entitlement that lets `group_id` request `item`, and how ("catalog item x" / "category Y").
pub async fn entitlement_for(
    db: &impl sea_orm::ConnectionTrait,
    group_id: i64,
    item: &catalog_item::Model,
) -> Result<Option<(entitlement::Model, String)>, sea_orm::DbErr> {
    for e in
        entitlement::Entity::find().filter(entitlement::Column::GroupId.eq(group_id)).order_by_asc(entitlement::Column::Id).all(db).await?
    {
        if e.catalog_items.0.contains(&item.id) {
            return Ok(Some((e, format!("catalog item {}", item.id))));
        }
        if e.categories.0.contains(&item.category) {
            return Ok(Some((e, format!("category {}", item.category))));
        }
    }
    Ok(None)
}

/// Whether `group_id` is entitled to `action` on deployments of `item`.
pub async fn action_allowed(
    db: &DatabaseConnection,
    group_id: i64,
    item: &catalog_item::Model,
    action: &str,
) -> Result<bool, sea_orm::DbErr> {
    for e in entitlement::Entity::find().filter(entitlement::Column::GroupId.eq(group_id)).all(db).await? {
        if covers(&e, item) && e.actions.0.iter().any(|a| a == action) {
            return Ok(true);
        }
    }
    Ok(false)
}

// ----- approval policies --------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct PolicyInput {
    pub name: String,
    pub scope: Scope,
    pub condition: Option<String>,
    pub actions: Vec<String>,
    pub levels: Vec<Level>,
}

/// A policy as the API shows it: the domain's `Policy`.
pub type PolicyView = Policy;

pub fn policy_view(p: approval_policy::Model) -> Policy {
    Policy { id: p.id, name: p.name, scope: p.scope, condition: p.condition, actions: p.actions.0, levels: p.levels.0 }
}

/// Every policy, in the order they are matched (oldest first).
pub async fn policies(db: &impl sea_orm::ConnectionTrait) -> Result<Vec<Policy>, sea_orm::DbErr> {
    Ok(approval_policy::Entity::find().order_by_asc(approval_policy::Column::Id).all(db).await?.into_iter().map(policy_view).collect())
}

pub async fn find_policy(db: &impl sea_orm::ConnectionTrait, id: i64) -> Result<Option<Policy>, sea_orm::DbErr> {
    Ok(approval_policy::Entity::find_by_id(id).one(db).await?.map(policy_view))
}

pub async fn create_policy(db: &DatabaseConnection, actor: &str, input: PolicyInput) -> ServiceResult<PolicyView> {
    let mut errors = Vec::new();
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new("name", "a name is 1 to 100 characters"));
    }
    let condition = input.condition.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(str::to_string);
    if let Some(c) = &condition
        && let Err(e) = policy::check_condition(c)
    {
        return Err(ServiceError::Condition(e));
    }
    let actions = if input.actions.is_empty() { vec!["request".to_string()] } else { input.actions.clone() };
    for a in &actions {
        if a != "request" && !ACTIONS.contains(&a.as_str()) {
            errors.push(FieldError::new("actions", format!("`{a}` is not an action a policy can govern")));
        }
    }
    if input.levels.is_empty() {
        errors.push(FieldError::new("levels", "a policy needs at least one level"));
    }
    for (i, l) in input.levels.iter().enumerate() {
        if let Err(m) = l.check(i + 1) {
            errors.push(FieldError::new("levels", m));
        }
        for u in &l.approvers.users {
            if accounts::find_user(db, u).await?.is_none() {
                errors.push(FieldError::new("levels", format!("level {}: no user `{u}`", i + 1)));
            }
        }
    }
    for g in &input.scope.groups {
        if accounts::find_group(db, g).await?.is_none() {
            errors.push(FieldError::new("scope.groups", format!("no group `{g}`")));
        }
    }
    for item in &input.scope.catalog_items {
        if catalog_item::Entity::find_by_id(item.clone()).one(db).await?.is_none() {
            errors.push(FieldError::new("scope.catalog_items", format!("no catalog item `{item}`")));
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let txn = crate::store::begin(db).await?;
    if approval_policy::Entity::find().filter(approval_policy::Column::Name.eq(&name)).one(&txn).await?.is_some() {
        return Err(ServiceError::Conflict(format!("a policy named `{name}` exists")));
    }
    let row = approval_policy::ActiveModel {
        name: Set(name),
        scope: Set(input.scope.clone()),
        condition: Set(condition),
        actions: Set(StringList(actions)),
        levels: Set(Levels(input.levels.clone())),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor,
        "policy.create",
        &format!("policy:{}", row.name),
        json!({"scope": row.scope, "condition": row.condition, "levels": row.levels}),
    )
    .await?;
    txn.commit().await?;
    Ok(policy_view(row))
}

pub async fn list_policies(db: &DatabaseConnection) -> ServiceResult<Vec<PolicyView>> {
    Ok(policies(db).await?)
}

// ----- quotas -------------------------------------------------------------------------------

pub async fn set_quota(db: &DatabaseConnection, actor: &str, group_name: &str, limits: Limits) -> ServiceResult<Limits> {
    let g = accounts::find_group(db, group_name).await?.ok_or_else(|| ServiceError::NotFound(format!("no group `{group_name}`")))?;
    let mut errors = Vec::new();
    if limits.max_containers.is_some_and(|n| n < 0) {
        errors.push(FieldError::new("max_containers", "must be 0 or more"));
    }
    if limits.max_memory_mb.is_some_and(|n| n < 0) {
        errors.push(FieldError::new("max_memory_mb", "must be 0 or more"));
    }
    if limits.max_cpus.is_some_and(|n| !(n.is_finite() && n >= 0.0)) {
        errors.push(FieldError::new("max_cpus", "must be 0 or more"));
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let txn = crate::store::begin(db).await?;
    let row = quota::ActiveModel {
        group_id: Set(g.id),
        max_containers: Set(limits.max_containers.map(|n| i32::try_from(n).unwrap_or(i32::MAX))),
        max_memory_mb: Set(limits.max_memory_mb),
        max_cpus: Set(limits.max_cpus),
        updated_at: Set(Utc::now()),
    };
    quota::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(quota::Column::GroupId)
                .update_columns([
                    quota::Column::MaxContainers,
                    quota::Column::MaxMemoryMb,
                    quota::Column::MaxCpus,
                    quota::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(&txn)
        .await?;
    audit::record(&txn, actor, "quota.set", &format!("group:{}", g.name), json!(limits)).await?;
    txn.commit().await?;
    Ok(limits)
}

pub async fn limits_of(db: &impl sea_orm::ConnectionTrait, group_id: i64) -> Result<Limits, sea_orm::DbErr> {
    Ok(match quota::Entity::find_by_id(group_id).one(db).await? {
        Some(q) => Limits { max_containers: q.max_containers.map(i64::from), max_memory_mb: q.max_memory_mb, max_cpus: q.max_cpus },
        None => Limits::default(),
    })
}

// ----- what a user may request ---------------------------------------------------------------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FormField {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub description: String,
    pub default: Option<Value>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub pattern: Option<String>,
    #[serde(rename = "enum")]
    pub choices: Option<Vec<Value>>,
    pub secret: bool,
    pub generated: bool,
    pub required: bool,
}

pub fn form_of(bp: &Blueprint) -> Vec<FormField> {
    let to_json = |v: &crate::domain::blueprint::InputValue| match v {
        crate::domain::blueprint::InputValue::String(s) => Value::String(s.clone()),
        crate::domain::blueprint::InputValue::Integer(i) => Value::from(*i),
        crate::domain::blueprint::InputValue::Boolean(b) => Value::Bool(*b),
    };
    bp.inputs
        .iter()
        .map(|i| FormField {
            name: i.name.clone(),
            kind: i.kind.as_str(),
            title: i.title.clone(),
            description: i.description.clone(),
            default: i.default.as_ref().map(to_json),
            min: i.min,
            max: i.max,
            min_length: i.min_length,
            max_length: i.max_length,
            pattern: i.pattern.as_ref().map(|p| p.as_str().to_string()),
            choices: i.choices.as_ref().map(|c| c.iter().map(to_json).collect()),
            secret: i.secret,
            generated: i.generate,
            required: i.default.is_none() && !i.generate && i.kind != InputType::Boolean,
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CatalogEntry {
    #[serde(flatten)]
    pub item: ItemView,
    /// The caller's groups that may request it.
    pub groups: Vec<String>,
    pub form: Vec<FormField>,
}

/// The items one of the caller's groups is entitled to (admins see every item, with the
/// groups they belong to). Three queries, whatever the number of items.
pub async fn catalog_for(ctx: &Context, who: &Principal) -> ServiceResult<Vec<CatalogEntry>> {
    let db = &ctx.db;
    let items =
        catalog_item::Entity::find().order_by_asc(catalog_item::Column::Category).order_by_asc(catalog_item::Column::Name).all(db).await?;
    let group_ids: Vec<i64> = who.groups.iter().map(|g| g.group_id).collect();
    let entitlements = entitlement::Entity::find().filter(entitlement::Column::GroupId.is_in(group_ids)).all(db).await?;
    let latest = blueprints::latest_versions(db).await?;
    let mut out = Vec::new();
    for item in items {
        let mut groups = BTreeSet::new();
        for e in entitlements.iter().filter(|e| covers(e, &item)) {
            if let Some(g) = who.groups.iter().find(|g| g.group_id == e.group_id) {
                groups.insert(g.name.clone());
            }
        }
        if groups.is_empty() && !who.is_admin {
            continue;
        }
        let Some(version) = item.blueprint_version.or_else(|| latest.get(&item.blueprint_id).copied()) else { continue };
        let form = match blueprints::load(ctx, &item.blueprint_id, Some(version)).await {
            Ok((bp, _)) => form_of(&bp),
            Err(_) => continue,
        };
        out.push(CatalogEntry { item: item_view(item), groups: groups.into_iter().collect(), form });
    }
    Ok(out)
}

/// Names of the active admins, and of a group's managers.
pub async fn admins(db: &impl sea_orm::ConnectionTrait) -> Result<Vec<String>, sea_orm::DbErr> {
    Ok(user::Entity::find()
        .filter(user::Column::IsAdmin.eq(true))
        .filter(user::Column::IsActive.eq(true))
        .order_by_asc(user::Column::Username)
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.username)
        .collect())
}
