//! `/api/v1/auth/token`: a token for a local account; `/api/v1/me`: who is calling.
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::doc;
use crate::domain::Secret;
use crate::services::accounts::{self, Attempt};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::{Signed, client_address};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/token", web::post().to(create_token)).route("/me", web::get().to(me));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    username: String,
    #[schema(value_type = String, format = Password)]
    password: Secret,
}

#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", description = "Log in with a local account; returns a token for Bearer authentication.", request_body = TokenBody, responses((status = 201, body = doc::TokenIssued), doc::Errors), security(()))]
async fn create_token(req: HttpRequest, state: web::Data<AppState>, body: web::Json<TokenBody>) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let attempt = Attempt { username: body.username, password: body.password, address: client_address(&req) };
    let issued = accounts::issue_token(&state.ctx, &state.settings, &attempt).await?;
    Ok(HttpResponse::Created().json(json!({"token": issued.token, "expires_at": issued.expires_at})))
}

#[utoipa::path(get, path = "/api/v1/me", tag = "auth", description = "Who is calling, and their groups.", responses((status = 200, body = doc::MeView), doc::Errors))]
async fn me(user: Signed) -> HttpResponse {
    let p = user.principal;
    let groups: Vec<_> = p.groups.iter().map(|g| json!({"name": g.name, "role": g.role})).collect();
    HttpResponse::Ok().json(json!({
        "username": p.username,
        "display_name": p.display_name,
        "is_admin": p.is_admin,
        "groups": groups,
    }))
}
