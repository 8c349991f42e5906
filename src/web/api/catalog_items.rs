//! `/api/v1/catalog-items`: the catalog items that publish blueprints (admins).
use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::doc;
use crate::services::catalog::{self, ItemInput};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/catalog-items", web::get().to(list_items)).route("/catalog-items", web::post().to(create_item));
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
    id: String,
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

#[utoipa::path(post, path = "/api/v1/catalog-items", tag = "catalog", description = "Publish a catalog item (admins).", request_body = ItemBody, responses((status = 201, body = crate::services::catalog::ItemView), doc::Errors))]
async fn create_item(admin: Admin, state: web::Data<AppState>, body: web::Json<ItemBody>) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = ItemInput {
        id: b.id,
        name: b.name,
        description: b.description,
        category: b.category,
        icon: b.icon,
        blueprint: b.blueprint,
        blueprint_version: b.blueprint_version,
        host_selector: b.host_selector,
        default_days: b.lease.default_days,
        max_days: b.lease.max_days,
        grace_days: b.lease.grace_days,
        console_record: b.console_record,
        allowed_images: b.allowed_images,
    };
    Ok(HttpResponse::Created().json(catalog::create_item(&state.ctx, &admin.principal.username, input).await?))
}

#[utoipa::path(get, path = "/api/v1/catalog-items", tag = "catalog", description = "Catalog items (admins).", responses((status = 200, body = Vec<crate::services::catalog::ItemView>), doc::Errors))]
async fn list_items(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(catalog::list_items(&state.ctx.db).await?))
}
