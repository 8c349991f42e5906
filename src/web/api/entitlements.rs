//! `/api/v1/entitlements`: which groups may request which items, with which day-2 actions
//! (admins).
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::doc;
use crate::services::catalog::{self, EntitlementInput};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/entitlements", web::get().to(list_entitlements)).route("/entitlements", web::post().to(create_entitlement));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EntitlementBody {
    group: String,
    #[serde(default)]
    catalog_items: Vec<String>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    actions: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/entitlements", tag = "catalog", description = "Entitle a group (admins).", request_body = EntitlementBody, responses((status = 201, body = crate::services::catalog::EntitlementView), doc::Errors))]
async fn create_entitlement(admin: Admin, state: web::Data<AppState>, body: web::Json<EntitlementBody>) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = EntitlementInput { group: b.group, catalog_items: b.catalog_items, categories: b.categories, actions: b.actions };
    Ok(HttpResponse::Created().json(catalog::create_entitlement(&state.ctx.db, &admin.principal.username, input).await?))
}

#[utoipa::path(get, path = "/api/v1/entitlements", tag = "catalog", description = "Entitlements (admins).", responses((status = 200, body = Vec<crate::services::catalog::EntitlementView>), doc::Errors))]
async fn list_entitlements(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(catalog::list_entitlements(&state.ctx.db).await?))
}
