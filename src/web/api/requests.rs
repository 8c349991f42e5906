//! `/api/v1/requests`: requesting catalog items, following and deciding requests; and
//! `/api/v1/approvals`: the requests waiting on the caller.
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;

use super::{PageQuery, doc, page_response};
use crate::services::PageRequest;
use crate::services::requests::{self, NewRequest};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Signed;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/requests", web::get().to(list_requests))
        .route("/requests", web::post().to(submit))
        .route("/requests/{id}", web::get().to(get_request))
        .route("/requests/{id}/approve", web::post().to(approve))
        .route("/requests/{id}/reject", web::post().to(reject))
        .route("/requests/{id}/cancel", web::post().to(cancel))
        .route("/approvals", web::get().to(approvals));
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

#[utoipa::path(post, path = "/api/v1/requests", tag = "requests", description = "Request a catalog item.", request_body = RequestBody, responses((status = 201, body = crate::services::requests::RequestView), doc::Errors))]
async fn submit(user: Signed, state: web::Data<AppState>, body: web::Json<RequestBody>) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = NewRequest { catalog_item: b.catalog_item, group: b.group, inputs: b.inputs, lease_days: b.lease_days, reason: b.reason };
    Ok(HttpResponse::Created().json(requests::submit(&state.ctx, &user.principal, input).await?))
}

#[utoipa::path(get, path = "/api/v1/requests", tag = "requests", description = "Requests: own, managed groups', or all for admins.", params(("page" = Option<u64>, Query, description = "page, from 1"), ("per_page" = Option<u64>, Query, description = "1 to 200, default 50")), responses((status = 200, body = Vec<crate::services::requests::RequestSummary>), doc::Errors))]
async fn list_requests(
    req: HttpRequest,
    user: Signed,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let page = requests::list(&state.ctx.db, &user.principal, PageRequest::new(q.page, q.per_page)).await?;
    Ok(page_response(&req, page))
}

#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "requests", description = "A request with its approvals, explanation and timeline.", params(("id" = String, Path)), responses((status = 200, body = crate::services::requests::RequestView), doc::Errors))]
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

#[utoipa::path(post, path = "/api/v1/requests/{id}/approve", tag = "requests", description = "Approve the current level (its approvers).", params(("id" = String, Path)), request_body = Option<DecisionBody>, responses((status = 200, body = crate::services::requests::RequestView), doc::Errors))]
async fn approve(user: Signed, state: web::Data<AppState>, id: web::Path<String>, body: web::Bytes) -> Result<HttpResponse, AppError> {
    let comment = comment_of(&body)?;
    Ok(HttpResponse::Ok().json(requests::decide(&state.ctx, &user.principal, &id, true, &comment).await?))
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/reject", tag = "requests", description = "Reject (the current level's approvers).", params(("id" = String, Path)), request_body = Option<DecisionBody>, responses((status = 200, body = crate::services::requests::RequestView), doc::Errors))]
async fn reject(user: Signed, state: web::Data<AppState>, id: web::Path<String>, body: web::Bytes) -> Result<HttpResponse, AppError> {
    let comment = comment_of(&body)?;
    Ok(HttpResponse::Ok().json(requests::decide(&state.ctx, &user.principal, &id, false, &comment).await?))
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/cancel", tag = "requests", description = "Cancel, until provisioning starts (the requester).", params(("id" = String, Path)), responses((status = 200, body = crate::services::requests::RequestView), doc::Errors))]
async fn cancel(user: Signed, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(requests::cancel(&state.ctx, &user.principal, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/approvals", tag = "requests", description = "Requests waiting on the caller, oldest first; total in X-Total-Count.", params(("page" = Option<u64>, Query, description = "page, from 1"), ("per_page" = Option<u64>, Query, description = "1 to 200, default 50")), responses((status = 200, body = Vec<crate::services::requests::RequestView>), doc::Errors))]
async fn approvals(req: HttpRequest, user: Signed, state: web::Data<AppState>, q: web::Query<PageQuery>) -> Result<HttpResponse, AppError> {
    let page = requests::inbox(&state.ctx, &user.principal, PageRequest::new(q.page, q.per_page)).await?;
    Ok(page_response(&req, page))
}
