//! `/api/v1/entitlements`: which groups may request which items, with which day-2 actions
//! (admins).
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::doc;
use crate::services::ServiceError;
use crate::services::catalog::{self, EntitlementInput};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/entitlements", web::get().to(list_entitlements))
        .route("/entitlements", web::post().to(create_entitlement))
        .route("/entitlements/{id}", web::get().to(get_entitlement))
        .route("/entitlements/{id}", web::put().to(update_entitlement))
        .route("/entitlements/{id}", web::delete().to(delete_entitlement));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EntitlementBody {
    /// Given by Wharf; a change may carry the entitlement's own (the body `GET` gives).
    #[serde(default)]
    id: Option<i64>,
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
    let input = body.into_inner().into_input(None)?;
    Ok(HttpResponse::Created().json(catalog::create_entitlement(&state.ctx.db, &admin.principal.username, input).await?))
}

impl EntitlementBody {
    /// The input, once the id (if any) is the one of the entitlement changed (`expected`).
    fn into_input(self, expected: Option<i64>) -> Result<EntitlementInput, ServiceError> {
        super::check_id(self.id, expected, "this entitlement")?;
        Ok(EntitlementInput { group: self.group, catalog_items: self.catalog_items, categories: self.categories, actions: self.actions })
    }
}

#[utoipa::path(get, path = "/api/v1/entitlements/{id}", tag = "catalog", description = "One entitlement (admins): the body `PUT` takes back.", params(("id" = i64, Path)), responses((status = 200, body = crate::services::catalog::EntitlementView), doc::Errors))]
async fn get_entitlement(_: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(catalog::get_entitlement(&state.ctx.db, id.into_inner()).await?))
}

#[utoipa::path(put, path = "/api/v1/entitlements/{id}", tag = "catalog", description = "Replace what an entitlement grants (admins), at once: the catalog, new requests and day-2 actions follow it; requests already submitted go on as they were.", params(("id" = i64, Path)), request_body = EntitlementBody, responses((status = 200, body = crate::services::catalog::EntitlementView), doc::Errors))]
async fn update_entitlement(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<EntitlementBody>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    catalog::get_entitlement(&state.ctx.db, id).await?;
    let input = body.into_inner().into_input(Some(id))?;
    Ok(HttpResponse::Ok().json(catalog::update_entitlement(&state.ctx.db, &admin.principal.username, id, input).await?))
}

#[utoipa::path(delete, path = "/api/v1/entitlements/{id}", tag = "catalog", description = "Take an entitlement away (admins), at once: its group no longer sees nor requests what it granted (unless another entitlement grants it) and loses the day-2 actions it granted; requests already submitted go on, deployments stay.", params(("id" = i64, Path)), responses((status = 204), doc::Errors))]
async fn delete_entitlement(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    catalog::delete_entitlement(&state.ctx.db, &admin.principal.username, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/entitlements", tag = "catalog", description = "Entitlements (admins).", responses((status = 200, body = Vec<crate::services::catalog::EntitlementView>), doc::Errors))]
async fn list_entitlements(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(catalog::list_entitlements(&state.ctx.db).await?))
}
