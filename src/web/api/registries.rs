//! `/api/v1/registries`: the private registries hosts pull from with their credentials
//! (admins). A password is taken, sealed and never returned.
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::doc;
use crate::domain::Secret;
use crate::services::registries::{self, RegistryInput, RegistryUpdate};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/registries", web::get().to(list_registries))
        .route("/registries", web::post().to(create_registry))
        .route("/registries/{id}", web::get().to(get_registry))
        .route("/registries/{id}", web::put().to(update_registry))
        .route("/registries/{id}", web::delete().to(delete_registry))
        .route("/registries/{id}/check", web::post().to(check_registry));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RegistryBody {
    /// `host[:port]` as image names write it (`registry.local:5000`); `https://` may precede it.
    address: String,
    username: Option<String>,
    /// The password or access token; never returned.
    #[schema(value_type = Option<String>)]
    password: Option<Secret>,
    /// The CA certificate (PEM) that signs the registry's certificate, when it is not a public one.
    ca_pem: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/registries", tag = "registries", description = "Register a registry (admins). Pulls of images from it use its credentials; the password is never returned. Each host must trust the registry's certificate itself (`/etc/docker/certs.d/<address>/ca.crt`).", request_body = RegistryBody, responses((status = 201, body = crate::services::registries::RegistryView), doc::Errors))]
async fn create_registry(admin: Admin, state: web::Data<AppState>, body: web::Json<RegistryBody>) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = RegistryInput { address: b.address, username: b.username, password: b.password, ca_pem: b.ca_pem };
    Ok(HttpResponse::Created().json(registries::create(&state.ctx, &admin.principal.username, input).await?))
}

#[utoipa::path(get, path = "/api/v1/registries", tag = "registries", description = "Registered registries, without their passwords (admins).", responses((status = 200, body = Vec<crate::services::registries::RegistryView>), doc::Errors))]
async fn list_registries(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(registries::list(&state.ctx).await?))
}

#[utoipa::path(get, path = "/api/v1/registries/{id}", tag = "registries", description = "One registry, without its password (admins).", params(("id" = i64, Path)), responses((status = 200, body = crate::services::registries::RegistryView), doc::Errors))]
async fn get_registry(_: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(registries::get(&state.ctx, id.into_inner()).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RegistryUpdateBody {
    /// A new username (its password with it); `""` takes the credentials away.
    username: Option<String>,
    /// A new password or token; absent keeps the one held (for the same username).
    #[schema(value_type = Option<String>)]
    password: Option<Secret>,
    /// A new CA certificate (PEM); absent keeps the one held.
    ca_pem: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/registries/{id}", tag = "registries", description = "Replace a registry's credentials or CA certificate (admins); what is absent is kept.", params(("id" = i64, Path)), request_body = RegistryUpdateBody, responses((status = 200, body = crate::services::registries::RegistryView), doc::Errors))]
async fn update_registry(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<RegistryUpdateBody>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = RegistryUpdate { username: b.username, password: b.password, ca_pem: b.ca_pem };
    Ok(HttpResponse::Ok().json(registries::update(&state.ctx, &admin.principal.username, id.into_inner(), input).await?))
}

#[utoipa::path(delete, path = "/api/v1/registries/{id}", tag = "registries", description = "Forget a registry and its credentials (admins).", params(("id" = i64, Path)), responses((status = 204), doc::Errors))]
async fn delete_registry(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    registries::remove(&state.ctx, &admin.principal.username, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/api/v1/registries/{id}/check", tag = "registries", description = "Ask the registry, from Wharf's network, whether it answers over HTTPS, is trusted (its CA certificate, when one is held) and takes the credentials (admins). 200 either way: `ok` and, when not, the `problem` (`authentication`, `untrusted`, `unreachable`, `other`) and a message.", params(("id" = i64, Path)), responses((status = 200, body = crate::services::registries::CheckView), doc::Errors))]
async fn check_registry(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(registries::check(&state.ctx, &admin.principal.username, id.into_inner()).await?))
}
