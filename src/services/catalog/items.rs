//! Catalog items: what admins publish, each backed by a blueprint version.
use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::sea_query::LockType;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::Serialize;
use serde_json::json;

use crate::domain::registry::AllowedImages;
use crate::services::{Context, FieldError, ServiceError, ServiceResult, audit, blueprints};
use crate::store::entities::{catalog_item, request};
use crate::store::{StringList, StringMap};

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
    /// Console sessions on its deployments keep a transcript (admins read it).
    pub console_record: bool,
    /// Repository patterns its images must match (`registry.local:5000/team-a/*`); empty: any.
    pub allowed_images: Vec<String>,
}

impl ItemInput {
    /// An item publishing a blueprint as it is: the blueprint's id, name, description and
    /// category, a 7-day lease (30 at most, 3 of grace), no host selector, any image.
    pub fn for_blueprint(id: &str, name: &str, description: &str, category: &str, version: Option<i32>) -> Self {
        Self {
            id: id.to_string(),
            name: name.to_string(),
            description: description.to_string(),
            category: category.to_string(),
            icon: String::new(),
            blueprint: id.to_string(),
            blueprint_version: version,
            host_selector: BTreeMap::new(),
            default_days: 7,
            max_days: 30,
            grace_days: 3,
            console_record: false,
            allowed_images: Vec::new(),
        }
    }
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
    pub console_record: bool,
    /// Repository patterns its images must match; empty: any image.
    pub allowed_images: Vec<String>,
    /// A retired item is offered no more and takes no new request; what was requested and
    /// deployed from it goes on.
    pub retired: bool,
    /// When it was retired (set by Wharf).
    pub retired_at: Option<chrono::DateTime<Utc>>,
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
        console_record: i.console_record,
        allowed_images: i.allowed_images.0,
        retired: i.retired_at.is_some(),
        retired_at: i.retired_at,
    }
}

/// The item's allow-list. Its patterns were checked when it was saved.
pub fn allowed_images(item: &catalog_item::Model) -> ServiceResult<AllowedImages> {
    AllowedImages::parse(&item.allowed_images.0)
        .map_err(|e| ServiceError::Invalid(e.into_iter().map(|(f, m)| FieldError::new(format!("catalog_item.{f}"), m)).collect()))
}

/// What is wrong with `input`, field by field; its allow-list when nothing is. A change
/// (`before`: the item as it is) is not refused for a field it leaves as it was.
async fn validate(ctx: &Context, input: &ItemInput, before: Option<&catalog_item::Model>) -> ServiceResult<AllowedImages> {
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
    let changed = |then: &dyn Fn(&catalog_item::Model) -> bool| before.is_none_or(|b| !then(b));
    if input.description.chars().count() > 2000 && changed(&|b| b.description == input.description.trim()) {
        errors.push(FieldError::new("description", "a description is at most 2,000 characters"));
    }
    if input.icon.chars().count() > 16 && changed(&|b| b.icon == input.icon.trim()) {
        errors.push(FieldError::new("icon", "an icon is at most 16 characters (an emoji, say)"));
    }
    if changed(&|b| b.host_selector.0 == input.host_selector) {
        if input.host_selector.len() > 20 {
            errors.push(FieldError::new("host_selector", "at most 20 labels"));
        }
        for (k, v) in &input.host_selector {
            if !crate::services::hosts::is_label_key(k) {
                errors.push(FieldError::new("host_selector", format!("`{k}` is not a label key (a-z, 0-9, '.', '_', '-', '/')")));
            }
            if v.is_empty() || v.chars().count() > 63 || v.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | '=')) {
                errors.push(FieldError::new(
                    "host_selector",
                    format!("the value of `{k}` must be 1 to 63 characters without spaces, `,` or `=`"),
                ));
            }
        }
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
    let allowed = match AllowedImages::parse(&input.allowed_images) {
        Ok(a) => Some(a),
        Err(e) => {
            errors.extend(e.into_iter().map(|(f, m)| FieldError::new(f, m)));
            None
        }
    };
    match blueprints::load(ctx, &input.blueprint, input.blueprint_version).await {
        Ok((bp, version)) => {
            // A version published before today's rules on inputs serves no new item.
            if changed(&|b| b.blueprint_id == input.blueprint && b.blueprint_version == input.blueprint_version)
                && let Some(why) = blueprints::outdated(&bp, version)
            {
                errors.push(FieldError::new(if input.blueprint_version.is_some() { "blueprint_version" } else { "blueprint" }, why));
            }
            // The images the blueprint names itself must be allowed; those its inputs give are
            // checked at each request.
            for c in bp.components.iter() {
                let Some(image) = c.image.as_literal() else { continue };
                if let Some(allowed) = &allowed
                    && !allowed.allows(&image)
                {
                    errors.push(FieldError::new(
                        "allowed_images",
                        format!(
                            "blueprint `{}` version {version}, component `{}`: {}",
                            input.blueprint,
                            c.name,
                            allowed.refusal(&image, "this catalog item")
                        ),
                    ));
                }
            }
        }
        Err(ServiceError::NotFound(m)) => {
            // The blueprint is there but not that version: the version's field says so.
            let field = if input.blueprint_version.is_some() && m.contains("has no version") { "blueprint_version" } else { "blueprint" };
            errors.push(FieldError::new(field, m));
        }
        Err(other) => return Err(other),
    }
    match allowed {
        Some(allowed) if errors.is_empty() => Ok(allowed),
        _ => Err(ServiceError::Invalid(errors)),
    }
}

pub async fn create_item(ctx: &Context, actor: &str, input: ItemInput) -> ServiceResult<ItemView> {
    let db = &ctx.db;
    let allowed = validate(ctx, &input, None).await?;
    let txn = crate::store::begin(db).await?;
    if let Some(there) = catalog_item::Entity::find_by_id(input.id.clone()).one(&txn).await? {
        let retired = if there.retired_at.is_some() { " (retired: bring it back, or choose another id)" } else { "" };
        return Err(ServiceError::Conflict(format!("the catalog item `{}` exists{retired}", input.id)));
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
        console_record: Set(input.console_record),
        allowed_images: Set(StringList(allowed.patterns())),
        created_at: Set(now),
        updated_at: Set(now),
        retired_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor,
        "catalog_item.create",
        &format!("catalog_item:{}", row.id),
        json!({"blueprint": row.blueprint_id, "version": row.blueprint_version, "console_record": row.console_record, "allowed_images": row.allowed_images.0}),
    )
    .await?;
    crate::store::epochs::bump(&txn, crate::store::epochs::CATALOG).await?;
    txn.commit().await?;
    Ok(item_view(row))
}

/// Changes an item in place (its id stays): `change` makes the item wanted from the item as it
/// is. What was requested before keeps the blueprint
/// version it was checked and approved with; new requests, and the images any provisioning
/// still to come pulls, follow the item as it is now.
///
/// `retirement` says what the change does to whether the item is retired; fields and
/// retirement are written in one transaction (all or nothing).
pub async fn update_item<F: FnOnce(ItemView) -> ItemInput>(
    ctx: &Context,
    actor: &str,
    id: &str,
    change: Option<F>,
    retirement: Retirement,
) -> ServiceResult<ItemView> {
    // The item as it is, read in the transaction that writes it: a change that gives some
    // fields keeps the others as they are now, not as they were before another admin's change.
    let txn = crate::store::begin(&ctx.db).await?;
    let mut item = locked_item(&txn, id, LockType::Update).await?;
    if let Retirement::AsRead(read) = retirement
        && item.retired_at.is_some() != read
    {
        let since = if read { "brought back" } else { "retired" };
        return Err(ServiceError::Conflict(format!(
            "catalog item `{id}` was {since} since it was read: read it again (or say `retired` alone to change that)"
        )));
    }
    let mut wrote = false;
    if let Some(change) = change {
        item = write_fields(ctx, &txn, actor, id, item, change).await?;
        wrote = true;
    }
    if let Retirement::Set(retired) = retirement
        && item.retired_at.is_some() != retired
    {
        let now = Utc::now();
        let mut row: catalog_item::ActiveModel = item.into();
        row.retired_at = Set(retired.then_some(now));
        row.updated_at = Set(now);
        item = row.update(&txn).await?;
        let action = if retired { "catalog_item.retire" } else { "catalog_item.restore" };
        audit::record(&txn, actor, action, &format!("catalog_item:{id}"), json!({})).await?;
        wrote = true;
    }
    if wrote {
        crate::store::epochs::bump(&txn, crate::store::epochs::CATALOG).await?;
        txn.commit().await?;
    }
    Ok(item_view(item))
}

/// What a change does to whether an item is retired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retirement {
    /// Nothing.
    Keep,
    /// Retires the item (`true`) or brings it back.
    Set(bool),
    /// Nothing, but the caller read it so (a body `GET` gave, sent back): a 409 when another
    /// admin has retired it or brought it back since, rather than undoing that.
    AsRead(bool),
}

/// The fields of an item changed (checked as at publication), in `txn`, audited.
async fn write_fields(
    ctx: &Context,
    txn: &sea_orm::DatabaseTransaction,
    actor: &str,
    id: &str,
    before: catalog_item::Model,
    change: impl FnOnce(ItemView) -> ItemInput,
) -> ServiceResult<catalog_item::Model> {
    let input = change(item_view(before.clone()));
    let mut errors = Vec::new();
    if input.id != id {
        errors.push(FieldError::new("id", format!("an item keeps its id: `{id}`")));
    }
    let allowed = match validate(ctx, &input, Some(&before)).await {
        Ok(a) => Some(a),
        Err(ServiceError::Invalid(more)) => {
            errors.extend(more);
            None
        }
        Err(other) => return Err(other),
    };
    let Some(allowed) = allowed.filter(|_| errors.is_empty()) else {
        return Err(ServiceError::Invalid(errors));
    };
    // Requests name their item and the blueprint version they were checked with, not the
    // blueprint: once requested, an item keeps its blueprint (its version may change).
    if input.blueprint != before.blueprint_id {
        let requested = request::Entity::find().filter(request::Column::CatalogItemId.eq(id)).count(txn).await?;
        if requested > 0 {
            return Err(ServiceError::Conflict(format!(
                "catalog item `{id}` was requested {requested} time(s) with blueprint `{}`: it keeps that blueprint (its version may change); publish another item for `{}`",
                before.blueprint_id, input.blueprint
            )));
        }
    }
    let mut row: catalog_item::ActiveModel = before.clone().into();
    row.name = Set(input.name.trim().to_string());
    row.description = Set(input.description.trim().to_string());
    row.category = Set(input.category.trim().to_string());
    row.icon = Set(input.icon.trim().to_string());
    row.blueprint_id = Set(input.blueprint.clone());
    row.blueprint_version = Set(input.blueprint_version);
    row.host_selector = Set(StringMap(input.host_selector.clone()));
    row.lease_default_days = Set(input.default_days);
    row.lease_max_days = Set(input.max_days);
    row.lease_grace_days = Set(input.grace_days);
    row.console_record = Set(input.console_record);
    row.allowed_images = Set(StringList(allowed.patterns()));
    row.updated_at = Set(Utc::now());
    let after = row.update(txn).await?;
    // What changed, field by field (the audit log says who changed what).
    let (old, new) =
        (serde_json::to_value(item_view(before)).unwrap_or_default(), serde_json::to_value(item_view(after.clone())).unwrap_or_default());
    let changed: serde_json::Map<String, serde_json::Value> = new
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| old.get(k.as_str()) != Some(*v))
        .map(|(k, v)| (k.clone(), json!({"from": old[k.as_str()], "to": v})))
        .collect();
    audit::record(txn, actor, "catalog_item.update", &format!("catalog_item:{id}"), json!({"changed": changed})).await?;
    Ok(after)
}

/// Retires an item (`retired`) or brings it back. A retired item leaves the catalog at once
/// and takes no new request (409); requests already made go on, its deployments keep their
/// day-2 actions and leases, and entitlements and policies that name it stay (and apply
/// again once it is back).
pub async fn set_retired(ctx: &Context, actor: &str, id: &str, retired: bool) -> ServiceResult<ItemView> {
    update_item(ctx, actor, id, None::<fn(ItemView) -> ItemInput>, Retirement::Set(retired)).await
}

/// A 409 when the item is retired: it takes no new request.
pub fn not_retired(item: &catalog_item::Model) -> ServiceResult<()> {
    match item.retired_at {
        Some(at) => Err(ServiceError::Conflict(format!(
            "the catalog item `{}` was retired on {}: it takes no new request",
            item.id,
            at.format("%Y-%m-%d")
        ))),
        None => Ok(()),
    }
}

/// The item, locked until `txn` ends (on PostgreSQL; SQLite writes one at a time): for an
/// update by what changes it, shared by what acts on what it says (a request stored for it),
/// so that each waits for the other.
pub async fn locked_item(txn: &sea_orm::DatabaseTransaction, id: &str, lock: LockType) -> ServiceResult<catalog_item::Model> {
    catalog_item::Entity::find_by_id(id.to_string())
        .lock(lock)
        .one(txn)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("no catalog item `{id}`")))
}

pub async fn get_item(db: &DatabaseConnection, id: &str) -> ServiceResult<ItemView> {
    find_item(db, id).await.map(item_view)
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
