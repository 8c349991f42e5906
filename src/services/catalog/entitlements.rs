//! Entitlements: which groups may request which items (or categories), with which day-2 actions.
use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
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
    crate::store::epochs::bump(&txn, crate::store::epochs::CATALOG).await?;
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
