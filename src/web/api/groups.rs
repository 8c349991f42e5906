//! `/api/v1/groups`: groups, their members (`/groups/{group}/members/{username}`) and their
//! quota (`/groups/{group}/quota`).
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{PageQuery, doc, page_response};
use crate::domain::Role;
use crate::domain::quota::Limits;
use crate::services::accounts::{self, NewGroupInput};
use crate::services::{FieldError, PageRequest, ServiceError, catalog};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::{Admin, Signed};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/groups", web::get().to(list_groups))
        .route("/groups", web::post().to(create_group))
        .route("/groups/{group}", web::get().to(get_group))
        .route("/groups/{group}/members/{username}", web::put().to(set_member))
        .route("/groups/{group}/members/{username}", web::delete().to(remove_member))
        .route("/groups/{group}/quota", web::put().to(set_quota));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateGroupBody {
    name: String,
    description: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/groups", tag = "people", description = "Create a group (admins).", request_body = CreateGroupBody, responses((status = 201, body = crate::services::accounts::GroupSummary), doc::Errors))]
async fn create_group(admin: Admin, state: web::Data<AppState>, body: web::Json<CreateGroupBody>) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let group =
        accounts::create_group(&state.ctx.db, &admin.principal.username, NewGroupInput { name: b.name, description: b.description })
            .await?;
    Ok(HttpResponse::Created().json(group))
}

#[utoipa::path(get, path = "/api/v1/groups", tag = "people", description = "Groups (admins).", params(("page" = Option<u64>, Query, description = "page, from 1"), ("per_page" = Option<u64>, Query, description = "1 to 200, default 50")), responses((status = 200, body = Vec<crate::services::accounts::GroupSummary>), doc::Errors))]
async fn list_groups(req: HttpRequest, _: Admin, state: web::Data<AppState>, q: web::Query<PageQuery>) -> Result<HttpResponse, AppError> {
    let page = accounts::list_groups(&state.ctx.db, PageRequest::new(q.page, q.per_page)).await?;
    Ok(page_response(&req, page))
}

/// Admins see every group; a member or manager sees their own. Others get 404, as for a
/// group that does not exist.
#[utoipa::path(get, path = "/api/v1/groups/{group}", tag = "people", description = "A group and its members (admins and members).", params(("group" = String, Path)), responses((status = 200, body = crate::services::accounts::GroupDetail), doc::Errors))]
async fn get_group(user: Signed, state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, AppError> {
    let visible = user.principal.is_admin || user.principal.groups.iter().any(|g| g.name == *name);
    if !visible {
        return Err(AppError::NotFound(format!("no group `{name}`")));
    }
    Ok(HttpResponse::Ok().json(accounts::group_detail(&state.ctx.db, &name).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MemberBody {
    role: String,
}

#[utoipa::path(put, path = "/api/v1/groups/{group}/members/{username}", tag = "people", description = "Add a member or change their role (admins).", params(("group" = String, Path), ("username" = String, Path)), request_body = MemberBody, responses((status = 200, body = doc::MembershipView), doc::Errors))]
async fn set_member(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<MemberBody>,
) -> Result<HttpResponse, AppError> {
    let (group, username) = path.into_inner();
    let role: Role = body.role.parse().map_err(|e: crate::domain::NameError| ServiceError::Invalid(vec![FieldError::new("role", e.0)]))?;
    accounts::set_membership(&state.ctx.db, &admin.principal.username, &group, &username, role).await?;
    Ok(HttpResponse::build(StatusCode::OK).json(json!({"group": group, "username": username.to_ascii_lowercase(), "role": role})))
}

#[utoipa::path(delete, path = "/api/v1/groups/{group}/members/{username}", tag = "people", description = "Remove a member (admins).", params(("group" = String, Path), ("username" = String, Path)), responses((status = 204, description = "removed"), doc::Errors))]
async fn remove_member(admin: Admin, state: web::Data<AppState>, path: web::Path<(String, String)>) -> Result<HttpResponse, AppError> {
    let (group, username) = path.into_inner();
    accounts::remove_membership(&state.ctx.db, &admin.principal.username, &group, &username).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct QuotaBody {
    max_containers: Option<i64>,
    max_memory_mb: Option<i64>,
    max_cpus: Option<f64>,
}

#[utoipa::path(put, path = "/api/v1/groups/{group}/quota", tag = "catalog", description = "Set a group's quota (admins).", params(("group" = String, Path)), request_body = QuotaBody, responses((status = 200, body = doc::QuotaView), doc::Errors))]
async fn set_quota(
    admin: Admin,
    state: web::Data<AppState>,
    group: web::Path<String>,
    body: web::Json<QuotaBody>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let limits = Limits { max_containers: b.max_containers, max_memory_mb: b.max_memory_mb, max_cpus: b.max_cpus };
    let set = catalog::set_quota(&state.ctx.db, &admin.principal.username, &group, limits).await?;
    Ok(HttpResponse::Ok().json(json!({"group": group.into_inner(), "max_containers": set.max_containers, "max_memory_mb": set.max_memory_mb, "max_cpus": set.max_cpus})))
}
