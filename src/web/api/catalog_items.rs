//! `/api/v1/catalog-items`: the catalog items that publish blueprints (admins).
use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::doc;
use crate::services::catalog::{self, ItemInput, Retirement};
use crate::services::{FieldError, ServiceError};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/catalog-items", web::get().to(list_items))
        .route("/catalog-items", web::post().to(create_item))
        .route("/catalog-items/{id}", web::get().to(get_item))
        .route("/catalog-items/{id}", web::put().to(update_item))
        .route("/catalog-items/{id}", web::delete().to(retire_item));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LeaseBody {
    default_days: i32,
    max_days: i32,
    #[serde(default)]
    grace_days: i32,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ItemBody {
    /// The item's id: needed to publish one; in a change, the item's own (or left out).
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    description: String,
    category: String,
    #[serde(default)]
    icon: String,
    blueprint: String,
    blueprint_version: Option<i32>,
    #[serde(default)]
    host_selector: BTreeMap<String, String>,
    lease: LeaseBody,
    /// Keep a transcript of every console session on its deployments (admins read them).
    #[serde(default)]
    console_record: bool,
    /// Repository patterns its images must match (`registry.local:5000/team-a/*`: `*` within a
    /// part of the path, `**` across parts); empty or absent: any image.
    #[serde(default)]
    allowed_images: Vec<String>,
}

impl ItemBody {
    fn into_input(self, id: String) -> ItemInput {
        ItemInput {
            id,
            name: self.name,
            description: self.description,
            category: self.category,
            icon: self.icon,
            blueprint: self.blueprint,
            blueprint_version: self.blueprint_version,
            host_selector: self.host_selector,
            default_days: self.lease.default_days,
            max_days: self.lease.max_days,
            grace_days: self.lease.grace_days,
            console_record: self.console_record,
            allowed_images: self.allowed_images,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/catalog-items", tag = "catalog", description = "Publish a catalog item (admins).", request_body = ItemBody, responses((status = 201, body = crate::services::catalog::ItemView), doc::Errors))]
async fn create_item(admin: Admin, state: web::Data<AppState>, body: web::Json<ItemBody>) -> Result<HttpResponse, AppError> {
    let mut b = body.into_inner();
    let Some(id) = b.id.take() else {
        return Err(ServiceError::Invalid(vec![FieldError::new("id", "an item needs an id (lowercase letters, digits and `-`)")]).into());
    };
    Ok(HttpResponse::Created().json(catalog::create_item(&state.ctx, &admin.principal.username, b.into_input(id)).await?))
}

#[utoipa::path(get, path = "/api/v1/catalog-items/{id}", tag = "catalog", description = "One catalog item (admins): the body `PUT` takes back.", params(("id" = String, Path)), responses((status = 200, body = crate::services::catalog::ItemView), doc::Errors))]
async fn get_item(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(catalog::get_item(&state.ctx.db, &id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LeaseChange {
    default_days: Option<i32>,
    max_days: Option<i32>,
    grace_days: Option<i32>,
}

/// A change to an item: what is left out stays as it is (`"blueprint_version": null` follows
/// the blueprint's latest version).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ItemChange {
    /// The item's own id, if given (an item keeps its id).
    id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    category: Option<String>,
    icon: Option<String>,
    blueprint: Option<String>,
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<i32>)]
    blueprint_version: Option<Option<i32>>,
    host_selector: Option<BTreeMap<String, String>>,
    lease: Option<LeaseChange>,
    console_record: Option<bool>,
    allowed_images: Option<Vec<String>>,
    /// `true` retires the item (as `DELETE` does), `false` brings it back.
    retired: Option<bool>,
    /// Set by Wharf: accepted (the body `GET` gives) and left as it is.
    #[serde(rename = "retired_at", default, deserialize_with = "given")]
    #[schema(value_type = Option<String>)]
    _retired_at: Option<Option<serde_json::Value>>,
}

impl ItemChange {
    /// Whether it changes more than whether the item is retired.
    fn changes_fields(&self) -> bool {
        self.id.is_some()
            || self.name.is_some()
            || self.description.is_some()
            || self.category.is_some()
            || self.icon.is_some()
            || self.blueprint.is_some()
            || self.blueprint_version.is_some()
            || self.host_selector.is_some()
            || self.lease.is_some()
            || self.console_record.is_some()
            || self.allowed_images.is_some()
    }
}

/// A field that is there, `null` included (`Some(None)`), against one left out (`None`).
fn given<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[utoipa::path(put, path = "/api/v1/catalog-items/{id}", tag = "catalog", description = "Change a catalog item (admins): the fields given, the others kept (the body `GET` gives is accepted whole); `retired` retires it or brings it back (beside the `retired_at` `GET` gave and agreeing with it, it is the item as read: 409 when another admin retired it or brought it back since); fields and retirement change together or not at all; its id stays, and so does its blueprint once the item was requested (its version may change). Requests made before keep the blueprint version they were approved with; new requests and provisioning still to come follow the item as it is now.", params(("id" = String, Path)), request_body = ItemChange, responses((status = 200, body = crate::services::catalog::ItemView), doc::Errors))]
async fn update_item(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<ItemChange>,
) -> Result<HttpResponse, AppError> {
    let mut c = body.into_inner();
    // `retired` beside the `retired_at` GET gave, and agreeing with it, is the item as read;
    // otherwise it asks for a change.
    let retirement = match (c.retired.take(), &c._retired_at) {
        (None, _) => Retirement::Keep,
        (Some(r), Some(read)) if r == read.as_ref().is_some_and(|v| !v.is_null()) => Retirement::AsRead(r),
        (Some(r), _) => Retirement::Set(r),
    };
    let change = c.changes_fields().then(|| fields_change(c));
    Ok(HttpResponse::Ok().json(catalog::update_item(&state.ctx, &admin.principal.username, &id, change, retirement).await?))
}

/// The fields a change gives over the item as it is.
fn fields_change(c: ItemChange) -> impl FnOnce(catalog::ItemView) -> ItemInput {
    let lease = c.lease.unwrap_or(LeaseChange { default_days: None, max_days: None, grace_days: None });
    move |now: catalog::ItemView| ItemInput {
        id: c.id.unwrap_or_else(|| now.id.clone()),
        name: c.name.unwrap_or(now.name),
        description: c.description.unwrap_or(now.description),
        category: c.category.unwrap_or(now.category),
        icon: c.icon.unwrap_or(now.icon),
        blueprint: c.blueprint.unwrap_or(now.blueprint),
        blueprint_version: c.blueprint_version.unwrap_or(now.blueprint_version),
        host_selector: c.host_selector.unwrap_or(now.host_selector),
        default_days: lease.default_days.unwrap_or(now.lease.default_days),
        max_days: lease.max_days.unwrap_or(now.lease.max_days),
        grace_days: lease.grace_days.unwrap_or(now.lease.grace_days),
        console_record: c.console_record.unwrap_or(now.console_record),
        allowed_images: c.allowed_images.unwrap_or(now.allowed_images),
    }
}

#[utoipa::path(delete, path = "/api/v1/catalog-items/{id}", tag = "catalog", description = "Retire a catalog item (admins): it leaves the catalog at once and takes no new request (409); requests already made go on, its deployments keep their day-2 actions and leases. The item is kept (its deployments name it): `PUT` with `\"retired\": false` brings it back.", params(("id" = String, Path)), responses((status = 204), doc::Errors))]
async fn retire_item(admin: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    catalog::set_retired(&state.ctx, &admin.principal.username, &id, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/catalog-items", tag = "catalog", description = "Catalog items (admins).", responses((status = 200, body = Vec<crate::services::catalog::ItemView>), doc::Errors))]
async fn list_items(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(catalog::list_items(&state.ctx.db).await?))
}
