//! `/api/v1/tokens`: personal API tokens.
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::doc;
use crate::services::tokens;
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Signed;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/tokens", web::get().to(list)).route("/tokens", web::post().to(create)).route("/tokens/{id}", web::delete().to(revoke));
}

#[derive(Deserialize)]
struct ListQuery {
    /// Admins: everyone's tokens.
    #[serde(default)]
    all: bool,
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", description = "Personal API tokens.", params(("all" = Option<bool>, Query, description = "admins: everyone's")), responses((status = 200, body = Vec<crate::auth::tokens::TokenView>), doc::Errors))]
async fn list(user: Signed, state: web::Data<AppState>, q: web::Query<ListQuery>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(tokens::list(&state.ctx.db, &user.principal, q.all).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    #[serde(default = "default_days")]
    expires_in_days: u32,
}

fn default_days() -> u32 {
    30
}

/// The token is in this answer only; Wharf keeps its hash.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", description = "Create a personal token; it is in this answer only.", request_body = CreateBody, responses((status = 201, body = doc::NewTokenView), doc::Errors))]
async fn create(user: Signed, state: web::Data<AppState>, body: web::Json<CreateBody>) -> Result<HttpResponse, AppError> {
    let (view, issued) = tokens::create(&state.ctx.db, &user.principal, &body.name, body.expires_in_days).await?;
    let mut out = json!(view);
    out["token"] = json!(issued.token);
    Ok(HttpResponse::Created().json(out))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", description = "Revoke a token (its owner, or admins).", params(("id" = i64, Path)), responses((status = 200, body = crate::auth::tokens::TokenView), doc::Errors))]
async fn revoke(user: Signed, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(tokens::revoke(&state.ctx.db, &user.principal, id.into_inner()).await?))
}
