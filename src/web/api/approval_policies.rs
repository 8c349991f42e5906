//! `/api/v1/approval-policies`: who must approve which requests (admins).
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::doc;
use crate::domain::policy::{Level, Scope};
use crate::services::ServiceError;
use crate::services::catalog::{self, PolicyInput};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/approval-policies", web::get().to(list_policies))
        .route("/approval-policies", web::post().to(create_policy))
        .route("/approval-policies/{id}", web::get().to(get_policy))
        .route("/approval-policies/{id}", web::put().to(update_policy))
        .route("/approval-policies/{id}", web::delete().to(delete_policy));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    /// Given by Wharf; a change may carry the policy's own (the body `GET` gives).
    #[serde(default)]
    id: Option<i64>,
    name: String,
    #[serde(default)]
    scope: Scope,
    condition: Option<String>,
    #[serde(default)]
    actions: Vec<String>,
    levels: Vec<Level>,
}

#[utoipa::path(post, path = "/api/v1/approval-policies", tag = "catalog", description = "Add an approval policy (admins).", request_body = PolicyBody, responses((status = 201, body = crate::services::catalog::PolicyView), doc::Errors))]
async fn create_policy(admin: Admin, state: web::Data<AppState>, body: web::Json<PolicyBody>) -> Result<HttpResponse, AppError> {
    let input = body.into_inner().into_input(None)?;
    Ok(HttpResponse::Created().json(catalog::create_policy(&state.ctx.db, &admin.principal.username, input).await?))
}

impl PolicyBody {
    /// The input, once the id (if any) is the one of the policy changed (`expected`).
    fn into_input(self, expected: Option<i64>) -> Result<PolicyInput, ServiceError> {
        super::check_id(self.id, expected, "this policy")?;
        Ok(PolicyInput { name: self.name, scope: self.scope, condition: self.condition, actions: self.actions, levels: self.levels })
    }
}

#[utoipa::path(get, path = "/api/v1/approval-policies/{id}", tag = "catalog", description = "One approval policy (admins): the body `PUT` takes back.", params(("id" = i64, Path)), responses((status = 200, body = crate::services::catalog::PolicyView), doc::Errors))]
async fn get_policy(_: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(catalog::get_policy(&state.ctx.db, id.into_inner()).await?))
}

#[utoipa::path(put, path = "/api/v1/approval-policies/{id}", tag = "catalog", description = "Replace an approval policy (admins); its id and its place in the order of matching stay. New requests and day-2 actions are matched against it as it is now; a request already waiting on approval keeps the levels it was submitted under.", params(("id" = i64, Path)), request_body = PolicyBody, responses((status = 200, body = crate::services::catalog::PolicyView), doc::Errors))]
async fn update_policy(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<PolicyBody>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    catalog::get_policy(&state.ctx.db, id).await?;
    let input = body.into_inner().into_input(Some(id))?;
    Ok(HttpResponse::Ok().json(catalog::update_policy(&state.ctx.db, &admin.principal.username, id, input).await?))
}

#[utoipa::path(delete, path = "/api/v1/approval-policies/{id}", tag = "catalog", description = "Remove an approval policy (admins): requests from now on are matched against the others (none matching: approved at once); requests already waiting on it are decided under the levels they were submitted under.", params(("id" = i64, Path)), responses((status = 204), doc::Errors))]
async fn delete_policy(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    catalog::delete_policy(&state.ctx.db, &admin.principal.username, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/approval-policies", tag = "catalog", description = "Approval policies (admins).", responses((status = 200, body = Vec<crate::services::catalog::PolicyView>), doc::Errors))]
async fn list_policies(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(catalog::list_policies(&state.ctx.db).await?))
}
