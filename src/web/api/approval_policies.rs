//! `/api/v1/approval-policies`: who must approve which requests (admins).
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::doc;
use crate::domain::policy::{Level, Scope};
use crate::services::catalog::{self, PolicyInput};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/approval-policies", web::get().to(list_policies)).route("/approval-policies", web::post().to(create_policy));
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

#[utoipa::path(post, path = "/api/v1/approval-policies", tag = "catalog", description = "Add an approval policy (admins).", request_body = PolicyBody, responses((status = 201, body = crate::services::catalog::PolicyView), doc::Errors))]
async fn create_policy(admin: Admin, state: web::Data<AppState>, body: web::Json<PolicyBody>) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = PolicyInput { name: b.name, scope: b.scope, condition: b.condition, actions: b.actions, levels: b.levels };
    Ok(HttpResponse::Created().json(catalog::create_policy(&state.ctx.db, &admin.principal.username, input).await?))
}

#[utoipa::path(get, path = "/api/v1/approval-policies", tag = "catalog", description = "Approval policies (admins).", responses((status = 200, body = Vec<crate::services::catalog::PolicyView>), doc::Errors))]
async fn list_policies(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(catalog::list_policies(&state.ctx.db).await?))
}
