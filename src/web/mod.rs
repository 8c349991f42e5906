//! HTTP: pages, the `/api/v1` JSON API, middleware, errors and views.
pub mod api;
pub mod charts;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod pages;
pub mod views;

use std::sync::Arc;

use actix_web::cookie::Key;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::config::Settings;
use crate::engine::Engine;
use error::AppError;

/// What every handler can reach.
pub struct AppState {
    /// What the services share: the database, signals, quota lock, caches.
    pub ctx: crate::services::Context,
    pub settings: Arc<Settings>,
    pub cookie_key: Key,
    pub engine: Engine,
    /// Present when OpenID Connect is configured (and its provider was discovered).
    pub oidc: Option<Arc<crate::auth::oidc::Oidc>>,
    /// What `/metrics` shows of this process.
    pub metrics: crate::metrics::Metrics,
    /// Set when the process is asked to stop: `/readyz` answers 503 so that load balancers
    /// send elsewhere while it finishes.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    /// How hosts are registered through the API and the pages: connected to first, plain TCP
    /// as the configuration allows.
    pub fn host_registration(&self) -> crate::services::hosts::Registration<'_> {
        crate::services::hosts::Registration {
            check_connection: true,
            allow_insecure_tcp: self.settings.hosts.allow_insecure_tcp,
            sealer: &self.ctx.sealer,
        }
    }
}

/// Every route of the app. `startup` mounts this and nothing else.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(error::json_config())
        .app_data(error::form_config())
        .app_data(error::query_config())
        .app_data(error::path_config())
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(api::metrics::scrape))
        .route("/static/{file:.*}", web::get().to(static_file))
        // The OpenAPI document and its docs page, before the /api/v1 scope that would shadow them.
        .service(
            utoipa_swagger_ui::SwaggerUi::new("/api/docs/{_:.*}")
                .url("/api/v1/openapi.json", <api::doc::ApiDoc as utoipa::OpenApi>::openapi()),
        )
        .route(
            "/api/docs",
            web::get().to(|| async { HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/api/docs/")).finish() }),
        )
        .service(web::scope("/api/v1").configure(api::routes).default_service(web::to(api_not_found)))
        .configure(pages::routes)
        .default_service(web::to(page_not_found));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready when the database answers.
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(AppError::Unavailable("draining: this replica is stopping".into()));
    }
    state.ctx.db.ping().await.map_err(|e| AppError::Unavailable(format!("the database does not answer: {e}")))?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready", "database": "ok"})))
}

async fn api_not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound("no such API endpoint".into()))
}

async fn page_not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound("there is no page at this address".into()))
}

/// The stylesheet and scripts are compiled into the binary: one file to deploy.
const STATIC_FILES: &[(&str, &str, &str)] = &[
    ("css/wharf.css", "text/css; charset=utf-8", include_str!("../../static/css/wharf.css")),
    ("css/observe.css", "text/css; charset=utf-8", include_str!("../../static/css/observe.css")),
    ("js/timeline.js", "text/javascript; charset=utf-8", include_str!("../../static/js/timeline.js")),
    ("js/history.js", "text/javascript; charset=utf-8", include_str!("../../static/js/history.js")),
    ("js/unread.js", "text/javascript; charset=utf-8", include_str!("../../static/js/unread.js")),
    ("js/logs.js", "text/javascript; charset=utf-8", include_str!("../../static/js/logs.js")),
    ("js/stats.js", "text/javascript; charset=utf-8", include_str!("../../static/js/stats.js")),
    ("js/console.js", "text/javascript; charset=utf-8", include_str!("../../static/js/console.js")),
    ("js/compose-import.js", "text/javascript; charset=utf-8", include_str!("../../static/js/compose-import.js")),
    // xterm.js and its fit addon, from npm (static/vendor/README.md), with their licences.
    ("vendor/xterm/xterm.js", "text/javascript; charset=utf-8", include_str!("../../static/vendor/xterm/xterm.js")),
    ("vendor/xterm/xterm.css", "text/css; charset=utf-8", include_str!("../../static/vendor/xterm/xterm.css")),
    ("vendor/xterm/addon-fit.js", "text/javascript; charset=utf-8", include_str!("../../static/vendor/xterm/addon-fit.js")),
    ("vendor/xterm/LICENSE-xterm", "text/plain; charset=utf-8", include_str!("../../static/vendor/xterm/LICENSE-xterm")),
    ("vendor/xterm/LICENSE-addon-fit", "text/plain; charset=utf-8", include_str!("../../static/vendor/xterm/LICENSE-addon-fit")),
];

async fn static_file(path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let name = path.into_inner();
    let (_, mime, body) =
        STATIC_FILES.iter().find(|(n, _, _)| *n == name).ok_or_else(|| AppError::NotFound(format!("no static file `{name}`")))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, *mime))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(*body))
}
