//! `/api/v1/catalog`: what the caller's groups may request.
use actix_web::{HttpResponse, web};

use super::doc;
use crate::services::catalog;
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Signed;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/catalog", web::get().to(catalog));
}

#[utoipa::path(get, path = "/api/v1/catalog", tag = "requests", description = "What the caller's groups may request, with the input forms.", responses((status = 200, body = Vec<crate::services::catalog::CatalogEntry>), doc::Errors))]
async fn catalog(user: Signed, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(catalog::catalog_for(&state.ctx, &user.principal).await?.as_slice()))
}
