//! `/api/v1/deployments`: deployments (owners see theirs, managers their groups', admins all)
//! and their day-2 actions.
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{PageQuery, doc, page_response};
use crate::services::deployments::{self, DeploymentFilter};
use crate::services::{PageRequest, requests};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Signed;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/deployments", web::get().to(list_deployments))
        .route("/deployments/{id}", web::get().to(get_deployment))
        .route("/deployments/actions", web::post().to(act_on_many))
        .route("/deployments/{id}/actions", web::post().to(act))
        .route("/deployments/{id}/lease", web::put().to(set_lease))
        .route("/deployments/{id}/history", web::get().to(history))
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
    /// start, stop, restart, destroy, extend_lease, scale or retry.
    action: String,
    /// For start, stop, restart (one component) and scale.
    component: Option<String>,
    /// For extend_lease: days to add.
    days: Option<i64>,
    /// For scale: the replicas wanted.
    replicas: Option<i64>,
    reason: Option<String>,
}

impl ActionBody {
    fn input(self) -> requests::ActionInput {
        requests::ActionInput {
            action: self.action,
            component: self.component,
            days: self.days,
            replicas: self.replicas,
            reason: self.reason,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/deployments/{id}/actions", tag = "deployments", description = "Ask for a day-2 action: a request of kind day2, approved and followed like any request.", params(("id" = String, Path)), request_body = ActionBody, responses((status = 202, body = crate::services::requests::RequestView), doc::Errors))]
async fn act(
    user: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<ActionBody>,
) -> Result<HttpResponse, AppError> {
    let r = requests::submit_action(&state.ctx, &user.principal, &id, body.into_inner().input()).await?;
    Ok(HttpResponse::Accepted().json(r))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct BulkBody {
    /// At most 500 deployments.
    ids: Vec<String>,
    action: String,
    component: Option<String>,
    days: Option<i64>,
    replicas: Option<i64>,
    reason: Option<String>,
}

/// One deployment's outcome in a bulk action.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct BulkResult {
    id: String,
    /// The day-2 request made for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<crate::web::error::Refusal>,
}

#[utoipa::path(post, path = "/api/v1/deployments/actions", tag = "deployments", description = "The same action on several deployments: one day-2 request each, or the refusal with why.", request_body = BulkBody, responses((status = 200, body = Vec<BulkResult>), doc::Errors))]
async fn act_on_many(user: Signed, state: web::Data<AppState>, body: web::Json<BulkBody>) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    if b.ids.is_empty() || b.ids.len() > 500 {
        return Err(crate::services::ServiceError::invalid("ids", "1 to 500 deployment ids").into());
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(b.ids.len());
    for id in b.ids {
        if !seen.insert(id.clone()) {
            continue;
        }
        let input = requests::ActionInput {
            action: b.action.clone(),
            component: b.component.clone(),
            days: b.days,
            replicas: b.replicas,
            reason: b.reason.clone(),
        };
        match requests::submit_action(&state.ctx, &user.principal, &id, input).await {
            Ok(r) => out.push(BulkResult { id, request_id: Some(r.id), error: None }),
            Err(e) => out.push(BulkResult { id, request_id: None, error: Some(AppError::from(e).body()) }),
        }
    }
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LeaseBody {
    /// The new end of the lease (RFC 3339).
    expires_at: chrono::DateTime<chrono::Utc>,
}

#[utoipa::path(put, path = "/api/v1/deployments/{id}/lease", tag = "deployments", description = "Set a deployment's lease end (admins; may pass the item's cap).", params(("id" = String, Path)), request_body = LeaseBody, responses((status = 200, body = crate::services::deployments::DeploymentView), doc::Errors))]
async fn set_lease(
    user: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<LeaseBody>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(deployments::set_lease(&state.ctx, &user.principal, &id, body.expires_at).await?))
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}/history", tag = "deployments", description = "A deployment's history, oldest first: its requests' timelines, actions, lease events, drift.", params(("id" = String, Path)), responses((status = 200, body = Vec<crate::services::deployments::HistoryEntry>), doc::Errors))]
async fn history(user: Signed, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    deployments::get_for(&state.ctx, &user.principal, &id).await?;
    Ok(HttpResponse::Ok().json(deployments::history(&state.ctx.db, &user.principal, &id).await?))
}
