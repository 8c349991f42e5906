//! `/api/v1/deployments`: deployments (owners see theirs, managers their groups', admins all)
//! and their day-2 actions.
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{PageQuery, doc, page_response};
use crate::services::PageRequest;
use crate::services::deployments::{self, DeploymentFilter};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Signed;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/deployments", web::get().to(list_deployments))
        .route("/deployments/{id}", web::get().to(get_deployment))
        .route("/deployments/{id}/actions", web::post().to(act))
        .route("/deployments/{id}", web::patch().to(update_deployment));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DeploymentPatch {
    /// The new owner: an active account, a member of the deployment's group.
    owner: String,
}

#[utoipa::path(patch, path = "/api/v1/deployments/{id}", tag = "deployments", description = "Give a deployment to another owner (admins).", params(("id" = String, Path)), request_body = DeploymentPatch, responses((status = 200, body = crate::services::deployments::DeploymentView), doc::Errors))]
async fn update_deployment(
    user: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<DeploymentPatch>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(deployments::give_to(&state.ctx, &user.principal, &id, body.owner.trim()).await?))
}

/// The list's filters.
#[derive(Deserialize)]
struct DeploymentQuery {
    status: Option<String>,
    blueprint: Option<String>,
    group: Option<String>,
    owner: Option<String>,
}

/// Owners see theirs, managers their groups', admins all.
#[utoipa::path(get, path = "/api/v1/deployments", tag = "deployments", description = "Deployments: own, managed groups', or all for admins.", params(("page" = Option<u64>, Query, description = "page, from 1"), ("per_page" = Option<u64>, Query, description = "1 to 200, default 50"), ("status" = Option<crate::domain::states::DeploymentStatus>, Query), ("blueprint" = Option<String>, Query), ("group" = Option<String>, Query), ("owner" = Option<String>, Query)), responses((status = 200, body = Vec<crate::services::deployments::DeploymentSummary>), doc::Errors))]
async fn list_deployments(
    req: HttpRequest,
    user: Signed,
    state: web::Data<AppState>,
    page: web::Query<PageQuery>,
    q: web::Query<DeploymentQuery>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let status = DeploymentFilter::parse_status(q.status.as_deref())?;
    let filter = DeploymentFilter { status, blueprint: q.blueprint, group: q.group, owner: q.owner };
    let page = deployments::list(&state.ctx.db, &user.principal, &filter, PageRequest::new(page.page, page.per_page)).await?;
    Ok(page_response(&req, page))
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}", tag = "deployments", description = "A deployment with its containers, ports and outputs.", params(("id" = String, Path)), responses((status = 200, body = crate::services::deployments::DeploymentView), doc::Errors))]
async fn get_deployment(user: Signed, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(deployments::get_for(&state.ctx, &user.principal, &id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    action: String,
}

#[utoipa::path(post, path = "/api/v1/deployments/{id}/actions", tag = "deployments", description = "A day-2 action (destroy, retry), as the entitlement allows.", params(("id" = String, Path)), request_body = ActionBody, responses((status = 202, body = crate::services::deployments::DeploymentView), doc::Errors))]
async fn act(
    user: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<ActionBody>,
) -> Result<HttpResponse, AppError> {
    let d = deployments::act_for(&state.ctx, &user.principal, &id, &body.action).await?;
    Ok(HttpResponse::Accepted().json(d))
}
