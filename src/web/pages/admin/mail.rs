//! `/admin/mail`: whether and how Wharf sends mail, the latest messages with their tries, and
//! sending a dead-lettered (or skipped) one again.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::services::ServiceError;
use crate::services::notify::{self, DeliveryView};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;
use crate::web::pages::{layout, render, see_other};
use crate::web::views::Layout;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/mail", web::get().to(mail_page)).route("/admin/mail/{delivery}/retry", web::post().to(mail_retry));
}

#[derive(Template)]
#[template(path = "pages/admin/mail/index.html")]
struct MailPage {
    layout: Layout,
    /// `host:port (tls)`, when e-mail is on.
    server: Option<String>,
    from: String,
    base: String,
    deliveries: Vec<DeliveryView>,
    error: Option<String>,
}

async fn show(admin: &Admin, state: &AppState, status: StatusCode, error: Option<String>) -> Result<HttpResponse, AppError> {
    let smtp = state.settings.smtp.as_ref();
    let base =
        state.settings.base_url.as_ref().map(|u| u.to_string()).unwrap_or_else(|| "the address Wharf listens on (no base_url)".into());
    render(
        status,
        &MailPage {
            layout: layout(&admin.ctx, "mail", "E-mail"),
            server: smtp.map(|s| format!("{}:{} ({:?})", s.host, s.port, s.tls)),
            from: smtp.map(|s| s.from.clone()).unwrap_or_default(),
            base,
            deliveries: notify::mail_deliveries(&state.ctx, 100).await?,
            error,
        },
    )
}

async fn mail_page(admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    show(&admin, &state, StatusCode::OK, None).await
}

async fn mail_retry(admin: Admin, state: web::Data<AppState>, delivery: web::Path<String>) -> Result<HttpResponse, AppError> {
    match notify::retry_mail(&state.ctx, &admin.principal.username, &delivery).await {
        Ok(()) => Ok(see_other("/admin/mail")),
        Err(ServiceError::Conflict(m)) => show(&admin, &state, StatusCode::CONFLICT, Some(m)).await,
        Err(e) => Err(e.into()),
    }
}
