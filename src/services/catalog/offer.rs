//! What a user may request: the catalog as one of their groups is entitled to it, with each item's form.
use std::collections::BTreeSet;
use std::sync::Arc;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use serde_json::Value;

use super::*;
use crate::auth::Principal;
use crate::domain::blueprint::{Blueprint, InputType};
use crate::services::{Context, ServiceResult, blueprints};
use crate::store::entities::{catalog_item, entitlement, user};
use crate::store::epochs::{self, Watched};

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
    let to_json = crate::domain::blueprint::InputValue::to_json;
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
            pattern: i.pattern.as_ref().map(|p| crate::domain::blueprint::inputs::shown_pattern(p).to_string()),
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

/// What each set of groups may request (`catalog_for`), kept until the catalog changes (a
/// publish, an item, an entitlement: the `catalog` epoch) on any replica.
pub type Offers = Watched<Arc<Vec<CatalogEntry>>>;

pub fn offers() -> Offers {
    Watched::new(epochs::CATALOG, 1_000)
}

/// The items one of the caller's groups is entitled to (admins see every item, with the
/// groups they belong to), retired ones left out: the same for everyone with the same groups
/// and admin flag, so it is cached by them (`Offers`).
pub async fn catalog_for(ctx: &Context, who: &Principal) -> ServiceResult<Arc<Vec<CatalogEntry>>> {
    let mark = ctx.offers.refresh(&ctx.db).await?;
    let mut key = String::from(if who.is_admin { "admin" } else { "user" });
    for g in &who.groups {
        key.push_str(&format!("|{}:{}", g.group_id, g.name));
    }
    if let Some(found) = ctx.offers.get(&key) {
        return Ok(found);
    }
    let built = Arc::new(build_catalog(ctx, who).await?);
    ctx.offers.put(key, built.clone(), mark);
    Ok(built)
}

/// `catalog_for` from the database: three queries, whatever the number of items.
async fn build_catalog(ctx: &Context, who: &Principal) -> ServiceResult<Vec<CatalogEntry>> {
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
        if (groups.is_empty() && !who.is_admin) || item.retired_at.is_some() {
            continue;
        }
        let Some(version) = item.blueprint_version.or_else(|| latest.get(&item.blueprint_id).copied()) else { continue };
        let form = match blueprints::load(ctx, &item.blueprint_id, Some(version)).await {
            // A version that takes no new request (published before a rule it breaks) is
            // not offered; admins still see it, and its blueprint's page says why.
            Ok((bp, _)) if who.is_admin || blueprints::outdated(&bp, version).is_none() => form_of(&bp),
            _ => continue,
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
