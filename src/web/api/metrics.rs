//! `GET /metrics`: Prometheus' scrape (OpenMetrics text). This process's HTTP and job counts
//! (`crate::metrics`) and what the database holds now (`services::readings`). For an admin's
//! API token, or the scrape token of the configuration (`metrics.token`); a browser session is
//! not enough (a scrape is a machine's).
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use crate::auth::AuthVia;
use crate::services::readings;
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Anyone;
use crate::web::middleware::Scraper;

pub async fn scrape(req: HttpRequest, who: Anyone, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let scraper = req.extensions().get::<Scraper>().is_some();
    if !scraper {
        match &who.0.principal {
            None => {
                return Err(AppError::Unauthorized(
                    "send an admin's API token, or the scrape token (`metrics.token`), as a Bearer token".into(),
                ));
            }
            Some(p) if !matches!(p.via, AuthVia::Token { .. }) => {
                return Err(AppError::Unauthorized("the metrics are read with an API token, not a browser session".into()));
            }
            Some(p) if !p.is_admin => return Err(AppError::Forbidden("the metrics are for admins".into())),
            Some(_) => {}
        }
    }
    let readings = readings::read(&state.ctx.db).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(state.metrics.render(readings)))
}
