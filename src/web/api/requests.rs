//! `/api/v1` for the self-service loop: catalog items, entitlements, policies, quotas (admins);
//! the catalog, requests and approvals (everyone, each seeing their own).
use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::page_response;
use crate::domain::policy::{Level, Scope};
use crate::domain::quota::Limits;
use crate::services::PageRequest;
use crate::services::catalog::{self, EntitlementInput, ItemInput, PolicyInput};
use crate::services::requests::{self, NewRequest};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::{Admin, Signed};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/catalog-items", web::get().to(list_items))
        .route("/catalog-items", web::post().to(create_item))
        .route("/entitlements", web::get().to(list_entitlements))
        .route("/entitlements", web::post().to(create_entitlement))
        .route("/approval-policies", web::get().to(list_policies))
        .route("/approval-policies", web::post().to(create_policy))
        .route("/groups/{group}/quota", web::put().to(set_quota))
        .route("/catalog", web::get().to(catalog))
        .route("/requests", web::get().to(list_requests))
        .route("/requests", web::post().to(submit))
        .route("/requests/{id}", web::get().to(get_request))
        .route("/requests/{id}/approve", web::post().to(approve))
        .route("/requests/{id}/reject", web::post().to(reject))
        .route("/requests/{id}/cancel", web::post().to(cancel))
        .route("/approvals", web::get().to(approvals));
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
}

#[utoipa::path(post, path = "/api/v1/catalog-items", tag = "catalog", description = "Publish a catalog item (admins).", request_body = ItemBody, responses((status = 201, body = crate::services::catalog::ItemView), super::doc::Errors))]
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
    };
    Ok(HttpResponse::Created().json(catalog::create_item(&state.ctx, &admin.principal.username, input).await?))
}

#[utoipa::path(get, path = "/api/v1/catalog-items", tag = "catalog", description = "Catalog items (admins).", responses((status = 200, body = Vec<crate::services::catalog::ItemView>), super::doc::Errors))]
async fn list_items(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(catalog::list_items(&state.db).await?))
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

#[utoipa::path(post, path = "/api/v1/entitlements", tag = "catalog", description = "Entitle a group (admins).", request_body = EntitlementBody, responses((status = 201, body = crate::services::catalog::EntitlementView), super::doc::Errors))]
async fn create_entitlement(admin: Admin, state: web::Data<AppState>, body: web::Json<EntitlementBody>) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = EntitlementInput { group: b.group, catalog_items: b.catalog_items, categories: b.categories, actions: b.actions };
    Ok(HttpResponse::Created().json(catalog::create_entitlement(&state.db, &admin.principal.username, input).await?))
}

#[utoipa::path(get, path = "/api/v1/entitlements", tag = "catalog", description = "Entitlements (admins).", responses((status = 200, body = Vec<crate::services::catalog::EntitlementView>), super::doc::Errors))]
async fn list_entitlements(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(catalog::list_entitlements(&state.db).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    name: String,
    #[serde(default)]
    scope: Scope,
    condition: Option<String>,
    #[serde(default)]
    actions: Vec<String>,
    levels: Vec<Level>,
}

#[utoipa::path(post, path = "/api/v1/approval-policies", tag = "catalog", description = "Add an approval policy (admins).", request_body = PolicyBody, responses((status = 201, body = crate::services::catalog::PolicyView), super::doc::Errors))]
async fn create_policy(admin: Admin, state: web::Data<AppState>, body: web::Json<PolicyBody>) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = PolicyInput { name: b.name, scope: b.scope, condition: b.condition, actions: b.actions, levels: b.levels };
    Ok(HttpResponse::Created().json(catalog::create_policy(&state.db, &admin.principal.username, input).await?))
}

#[utoipa::path(get, path = "/api/v1/approval-policies", tag = "catalog", description = "Approval policies (admins).", responses((status = 200, body = Vec<crate::services::catalog::PolicyView>), super::doc::Errors))]
async fn list_policies(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(catalog::list_policies(&state.db).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct QuotaBody {
    max_containers: Option<i64>,
    max_memory_mb: Option<i64>,
    max_cpus: Option<f64>,
}

#[utoipa::path(put, path = "/api/v1/groups/{group}/quota", tag = "catalog", description = "Set a group's quota (admins).", params(("group" = String, Path)), request_body = QuotaBody, responses((status = 200, body = super::doc::QuotaView), super::doc::Errors))]
async fn set_quota(
    admin: Admin,
    state: web::Data<AppState>,
    group: web::Path<String>,
    body: web::Json<QuotaBody>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let limits = Limits { max_containers: b.max_containers, max_memory_mb: b.max_memory_mb, max_cpus: b.max_cpus };
    let set = catalog::set_quota(&state.db, &admin.principal.username, &group, limits).await?;
    Ok(HttpResponse::Ok().json(json!({"group": group.into_inner(), "max_containers": set.max_containers, "max_memory_mb": set.max_memory_mb, "max_cpus": set.max_cpus})))
}

#[utoipa::path(get, path = "/api/v1/catalog", tag = "requests", description = "What the caller's groups may request, with the input forms.", responses((status = 200, body = Vec<crate::services::catalog::CatalogEntry>), super::doc::Errors))]
async fn catalog(user: Signed, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(catalog::catalog_for(&state.ctx, &user.principal).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    catalog_item: String,
    group: String,
    #[serde(default)]
    inputs: serde_json::Map<String, Value>,
    lease_days: Option<i32>,
    reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/requests", tag = "requests", description = "Request a catalog item.", request_body = RequestBody, responses((status = 201, body = crate::services::requests::RequestView), super::doc::Errors))]
async fn submit(user: Signed, state: web::Data<AppState>, body: web::Json<RequestBody>) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = NewRequest { catalog_item: b.catalog_item, group: b.group, inputs: b.inputs, lease_days: b.lease_days, reason: b.reason };
    Ok(HttpResponse::Created().json(requests::submit(&state.ctx, &user.principal, input).await?))
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<u64>,
    per_page: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/requests", tag = "requests", description = "Requests: own, managed groups', or all for admins.", params(("page" = Option<u64>, Query, description = "page, from 1"), ("per_page" = Option<u64>, Query, description = "1 to 200, default 50")), responses((status = 200, body = Vec<crate::services::requests::RequestSummary>), super::doc::Errors))]
async fn list_requests(
    req: HttpRequest,
    user: Signed,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let page = requests::list(&state.db, &user.principal, PageRequest::new(q.page, q.per_page)).await?;
    Ok(page_response(&req, page))
}

#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "requests", description = "A request with its approvals, explanation and timeline.", params(("id" = String, Path)), responses((status = 200, body = crate::services::requests::RequestView), super::doc::Errors))]
async fn get_request(user: Signed, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(requests::get(&state.ctx, &user.principal, &id).await?))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    #[serde(default)]
    comment: String,
}

/// A decision body is optional: no body means no comment.
fn comment_of(body: &web::Bytes) -> Result<String, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(String::new());
    }
    serde_json::from_slice::<DecisionBody>(body).map(|b| b.comment).map_err(|e| AppError::BadRequest(format!("malformed JSON body: {e}")))
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/approve", tag = "requests", description = "Approve the current level (its approvers).", params(("id" = String, Path)), request_body = Option<DecisionBody>, responses((status = 200, body = crate::services::requests::RequestView), super::doc::Errors))]
async fn approve(user: Signed, state: web::Data<AppState>, id: web::Path<String>, body: web::Bytes) -> Result<HttpResponse, AppError> {
    let comment = comment_of(&body)?;
    Ok(HttpResponse::Ok().json(requests::decide(&state.ctx, &user.principal, &id, true, &comment).await?))
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/reject", tag = "requests", description = "Reject (the current level's approvers).", params(("id" = String, Path)), request_body = Option<DecisionBody>, responses((status = 200, body = crate::services::requests::RequestView), super::doc::Errors))]
async fn reject(user: Signed, state: web::Data<AppState>, id: web::Path<String>, body: web::Bytes) -> Result<HttpResponse, AppError> {
    let comment = comment_of(&body)?;
    Ok(HttpResponse::Ok().json(requests::decide(&state.ctx, &user.principal, &id, false, &comment).await?))
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/cancel", tag = "requests", description = "Cancel, until provisioning starts (the requester).", params(("id" = String, Path)), responses((status = 200, body = crate::services::requests::RequestView), super::doc::Errors))]
async fn cancel(user: Signed, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(requests::cancel(&state.ctx, &user.principal, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/approvals", tag = "requests", description = "Requests waiting on the caller.", responses((status = 200, body = Vec<crate::services::requests::RequestView>), super::doc::Errors))]
async fn approvals(user: Signed, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(requests::inbox(&state.ctx, &user.principal).await?))
}
