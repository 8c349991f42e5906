//! `/notifications`: the caller's notifications, newest first; mark them read.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{layout, render, see_other};
use crate::services::notify::{self, NotificationView};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Signed;
use crate::web::views::Layout;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/notifications", web::get().to(notifications_page)).route("/notifications/read", web::post().to(mark_read));
}

#[derive(Template)]
#[template(path = "pages/notifications.html")]
struct NotificationsPage {
    layout: Layout,
    items: Vec<NotificationView>,
    unread: usize,
}

async fn notifications_page(user: Signed, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let items = notify::list(&state.ctx, user.principal.user_id, false).await?;
    let unread = items.iter().filter(|n| !n.read).count();
    render(StatusCode::OK, &NotificationsPage { layout: layout(&user.ctx, "notifications", "Notifications"), items, unread })
}

/// Marks every notification of the caller read.
async fn mark_read(user: Signed, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    notify::mark_read(&state.ctx, user.principal.user_id, None).await?;
    Ok(see_other("/notifications"))
}
