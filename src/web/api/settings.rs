//! `/api/v1/settings/local-login`: whether password logins are on (admins).
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::doc;
use crate::services::accounts;
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/local-login", web::get().to(get_local_login)).route("/settings/local-login", web::put().to(set_local_login));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LocalLoginBody {
    enabled: bool,
}

#[utoipa::path(get, path = "/api/v1/settings/local-login", tag = "settings", description = "Whether password logins are on (admins).", responses((status = 200, body = doc::LocalLoginView), doc::Errors))]
async fn get_local_login(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(json!({"enabled": accounts::local_login_enabled(&state.ctx.db).await?})))
}

/// Turning local login off is refused while no admin can log in through OpenID Connect.
#[utoipa::path(put, path = "/api/v1/settings/local-login", tag = "settings", description = "Turn password logins on or off (admins; off needs an admin who can use single sign-on).", request_body = LocalLoginBody, responses((status = 200, body = doc::LocalLoginView), doc::Errors))]
async fn set_local_login(admin: Admin, state: web::Data<AppState>, body: web::Json<LocalLoginBody>) -> Result<HttpResponse, AppError> {
    accounts::set_local_login(&state.ctx.db, &admin.principal.username, body.enabled).await?;
    Ok(HttpResponse::Ok().json(json!({"enabled": body.enabled})))
}
