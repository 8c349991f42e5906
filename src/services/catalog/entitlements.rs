//! Entitlements: which groups may request which items (or categories), with which day-2 actions.
use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::Serialize;
use serde_json::json;

use super::*;
use crate::services::{FieldError, ServiceError, ServiceResult, accounts, audit};
use crate::store::StringList;
use crate::store::entities::{catalog_item, entitlement, group};

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
pub(super) fn covers(e: &entitlement::Model, item: &catalog_item::Model) -> bool {
    e.catalog_items.0.contains(&item.id) || e.categories.0.contains(&item.category)
}

/// The group an entitlement names, once what it grants is known to make sense; every field's
/// error at once.
async fn check(db: &impl sea_orm::ConnectionTrait, input: &mut EntitlementInput) -> ServiceResult<group::Model> {
    // Stored as they are matched: ` Web` would never match the category `Web`.
    for list in [&mut input.catalog_items, &mut input.categories, &mut input.actions] {
        for s in list.iter_mut() {
            *s = s.trim().to_string();
        }
    }
    input.group = input.group.trim().to_string();
    let g = accounts::find_group(db, &input.group).await?;
    let mut errors = Vec::new();
    if g.is_none() {
        errors.push(FieldError::new("group", format!("no group `{}`", input.group)));
    }
    if input.catalog_items.is_empty() && input.categories.is_empty() {
        errors.push(FieldError::new("catalog_items", "name catalog items or categories the group may request"));
    }
    for id in &input.catalog_items {
        if catalog_item::Entity::find_by_id(id.clone()).one(db).await?.is_none() {
            errors.push(FieldError::new("catalog_items", format!("no catalog item `{id}`")));
        }
    }
    for c in &input.categories {
        if c.trim().is_empty() || c.chars().count() > 100 {
            errors.push(FieldError::new("categories", "a category is 1 to 100 characters"));
        }
    }
    for a in &input.actions {
        if !ACTIONS.contains(&a.as_str()) {
            errors.push(FieldError::new("actions", format!("`{a}` is not a day-2 action; use {}", ACTIONS.join(", "))));
        }
    }
    match g {
        Some(g) if errors.is_empty() => Ok(g),
        _ => Err(ServiceError::Invalid(errors)),
    }
}

/// What an entitlement grants, as its audit entries tell it.
fn grants(e: &EntitlementView) -> serde_json::Value {
    json!({"group": e.group, "catalog_items": e.catalog_items, "categories": e.categories, "actions": e.actions})
}

fn view(e: entitlement::Model, group: String) -> EntitlementView {
    EntitlementView { id: e.id, group, catalog_items: e.catalog_items.0, categories: e.categories.0, actions: e.actions.0 }
}

pub async fn create_entitlement(db: &DatabaseConnection, actor: &str, mut input: EntitlementInput) -> ServiceResult<EntitlementView> {
    // A missing group is the 404 it always was (the group is the path of what is entitled).
    if accounts::find_group(db, &input.group).await?.is_none() {
        return Err(ServiceError::NotFound(format!("no group `{}`", input.group)));
    }
    let g = check(db, &mut input).await?;
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
    let made = view(row, g.name.clone());
    audit::record(&txn, actor, "entitlement.create", &format!("group:{}", g.name), grants(&made)).await?;
    crate::store::epochs::bump(&txn, crate::store::epochs::CATALOG).await?;
    txn.commit().await?;
    Ok(made)
}

pub async fn get_entitlement(db: &DatabaseConnection, id: i64) -> ServiceResult<EntitlementView> {
    let e = entitlement::Entity::find_by_id(id).one(db).await?.ok_or_else(|| no_entitlement(id))?;
    let group = group::Entity::find_by_id(e.group_id).one(db).await?.map(|g| g.name).unwrap_or_default();
    Ok(view(e, group))
}

fn no_entitlement(id: i64) -> ServiceError {
    ServiceError::NotFound(format!("no entitlement {id}"))
}

/// Replaces what an entitlement grants (its id stays). It takes effect at once: the catalog,
/// new requests and day-2 actions follow it; requests already submitted go on as they were.
pub async fn update_entitlement(
    db: &DatabaseConnection,
    actor: &str,
    id: i64,
    mut input: EntitlementInput,
) -> ServiceResult<EntitlementView> {
    get_entitlement(db, id).await?;
    let g = check(db, &mut input).await?;
    let txn = crate::store::begin(db).await?;
    let row = entitlement::Entity::find_by_id(id).lock_exclusive().one(&txn).await?.ok_or_else(|| no_entitlement(id))?;
    let was = group::Entity::find_by_id(row.group_id).one(&txn).await?.map(|g| g.name).unwrap_or_default();
    let before = view(row.clone(), was);
    let mut row: entitlement::ActiveModel = row.into();
    row.group_id = Set(g.id);
    row.catalog_items = Set(StringList(input.catalog_items.clone()));
    row.categories = Set(StringList(input.categories.clone()));
    row.actions = Set(StringList(input.actions.clone()));
    let after = view(row.update(&txn).await?, g.name.clone());
    audit::record(
        &txn,
        actor,
        "entitlement.update",
        &format!("group:{}", g.name),
        json!({"id": id, "from": grants(&before), "to": grants(&after)}),
    )
    .await?;
    crate::store::epochs::bump(&txn, crate::store::epochs::CATALOG).await?;
    txn.commit().await?;
    Ok(after)
}

/// Takes an entitlement away, at once: its group no longer sees nor requests what it granted
/// (unless another entitlement grants it), and the day-2 actions it granted stop. Requests
/// already submitted go on; deployments stay with their owners.
pub async fn delete_entitlement(db: &DatabaseConnection, actor: &str, id: i64) -> ServiceResult<()> {
    let txn = crate::store::begin(db).await?;
    let row = entitlement::Entity::find_by_id(id).lock_exclusive().one(&txn).await?.ok_or_else(|| no_entitlement(id))?;
    let group = group::Entity::find_by_id(row.group_id).one(&txn).await?.map(|g| g.name).unwrap_or_default();
    let before = view(row, group);
    if entitlement::Entity::delete_by_id(id).exec(&txn).await?.rows_affected == 0 {
        return Err(no_entitlement(id));
    }
    audit::record(&txn, actor, "entitlement.delete", &format!("group:{}", before.group), json!({"id": id, "granted": grants(&before)}))
        .await?;
    crate::store::epochs::bump(&txn, crate::store::epochs::CATALOG).await?;
    txn.commit().await?;
    Ok(())
}

pub async fn list_entitlements(db: &DatabaseConnection) -> ServiceResult<Vec<EntitlementView>> {
    let groups: BTreeMap<i64, String> = group::Entity::find().all(db).await?.into_iter().map(|g| (g.id, g.name)).collect();
    Ok(entitlement::Entity::find()
        .order_by_asc(entitlement::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|e| {
            let group = groups.get(&e.group_id).cloned().unwrap_or_default();
            view(e, group)
        })
        .collect())
}

/// The entitlement that lets `group_id` request `item`, and how ("catalog item x" / "category Y").
pub async fn entitlement_for(
    db: &impl sea_orm::ConnectionTrait,
    group_id: i64,
    item: &catalog_item::Model,
) -> Result<Option<(entitlement::Model, String)>, sea_orm::DbErr> {
    let rows =
        entitlement::Entity::find().filter(entitlement::Column::GroupId.eq(group_id)).order_by_asc(entitlement::Column::Id).all(db).await?;
    Ok(first_covering(rows, item))
}

/// `entitlement_for` inside a transaction that stores what it allows: the rows read are
/// share-locked (PostgreSQL), so an entitlement being taken away or changed waits for this
/// transaction, or is seen gone.
pub async fn entitlement_held(
    txn: &sea_orm::DatabaseTransaction,
    group_id: i64,
    item: &catalog_item::Model,
) -> Result<Option<(entitlement::Model, String)>, sea_orm::DbErr> {
    let rows = entitlement::Entity::find()
        .filter(entitlement::Column::GroupId.eq(group_id))
        .order_by_asc(entitlement::Column::Id)
        .lock_shared()
        .all(txn)
        .await?;
    Ok(first_covering(rows, item))
}

/// The first of a group's entitlements that grants `item`, and how (by id or by category).
fn first_covering(rows: Vec<entitlement::Model>, item: &catalog_item::Model) -> Option<(entitlement::Model, String)> {
    for e in rows {
        if e.catalog_items.0.contains(&item.id) {
            return Some((e, format!("catalog item {}", item.id)));
        }
        if e.categories.0.contains(&item.category) {
            return Some((e, format!("category {}", item.category)));
        }
    }
    None
}

/// Whether `group_id` is entitled to `action` on deployments of `item`.
pub async fn action_allowed(
    db: &DatabaseConnection,
    group_id: i64,
    item: &catalog_item::Model,
    action: &str,
) -> Result<bool, sea_orm::DbErr> {
    let rows = entitlement::Entity::find().filter(entitlement::Column::GroupId.eq(group_id)).all(db).await?;
    Ok(allows(&rows, item, action))
}

/// `action_allowed` inside the transaction that stores the action: share-locked, as
/// `entitlement_held`.
pub async fn action_held(
    txn: &sea_orm::DatabaseTransaction,
    group_id: i64,
    item: &catalog_item::Model,
    action: &str,
) -> Result<bool, sea_orm::DbErr> {
    let rows = entitlement::Entity::find().filter(entitlement::Column::GroupId.eq(group_id)).lock_shared().all(txn).await?;
    Ok(allows(&rows, item, action))
}

/// Whether one of a group's entitlements grants `action` on deployments of `item`.
fn allows(rows: &[entitlement::Model], item: &catalog_item::Model, action: &str) -> bool {
    rows.iter().any(|e| covers(e, item) && e.actions.0.iter().any(|a| a == action))
}
