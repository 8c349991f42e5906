//! `/api/v1/notifications`: the caller's notifications; `/api/v1/webhooks`: the URLs admins
//! register for events, with their delivery log.
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::doc;
use crate::services::notify::{self, WebhookInput};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::{Admin, Signed};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/notifications", web::get().to(list_notifications))
        .route("/notifications/read", web::post().to(read_notifications))
        .route("/notifications/preferences", web::get().to(get_preferences))
        .route("/notifications/preferences", web::put().to(put_preferences))
        .route("/mail/deliveries", web::get().to(mail_deliveries))
        .route("/mail/deliveries/{delivery}/retry", web::post().to(retry_mail))
        .route("/webhooks", web::get().to(list_webhooks))
        .route("/webhooks", web::post().to(create_webhook))
        .route("/webhooks/{id}", web::delete().to(delete_webhook))
        .route("/webhooks/{id}/deliveries", web::get().to(deliveries))
        .route("/webhooks/{id}/deliveries/{delivery}/retry", web::post().to(retry_delivery));
}

#[derive(Deserialize)]
struct ListQuery {
    unread: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", description = "The caller's notifications, newest first (at most 200); `unread=true` for the unread ones.", params(("unread" = Option<bool>, Query)), responses((status = 200, body = Vec<crate::services::notify::NotificationView>), doc::Errors))]
async fn list_notifications(user: Signed, state: web::Data<AppState>, q: web::Query<ListQuery>) -> Result<HttpResponse, AppError> {
    let unread = notify::unread(&state.ctx.db, user.principal.user_id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("X-Unread-Count", unread.to_string()))
        .json(notify::list(&state.ctx, user.principal.user_id, q.unread.unwrap_or(false)).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReadBody {
    /// The notifications to mark read; all of the caller's when absent.
    ids: Option<Vec<i64>>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct ReadAnswer {
    /// How many were unread and are read now.
    marked: u64,
}

#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "notifications", description = "Marks the caller's notifications read: `ids`, or all.", request_body = ReadBody, responses((status = 200, body = ReadAnswer), doc::Errors))]
async fn read_notifications(user: Signed, state: web::Data<AppState>, body: web::Json<ReadBody>) -> Result<HttpResponse, AppError> {
    let marked = notify::mark_read(&state.ctx, user.principal.user_id, body.ids.as_deref()).await?;
    Ok(HttpResponse::Ok().json(json!({"marked": marked})))
}

#[utoipa::path(get, path = "/api/v1/notifications/preferences", tag = "notifications", description = "The caller's e-mail address and which kinds of notification come by mail (`approvals`, `requests`, `leases`, and `hosts` for admins).", responses((status = 200, body = crate::services::notify::MailPreferences), doc::Errors))]
async fn get_preferences(user: Signed, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(notify::mail_preferences(&state.ctx, &user.principal).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PreferencesBody {
    /// Kind → by mail; kinds left out keep their setting.
    #[schema(value_type = Object)]
    mail: std::collections::BTreeMap<String, bool>,
}

#[utoipa::path(put, path = "/api/v1/notifications/preferences", tag = "notifications", description = "Choose which kinds of notification come by mail.", request_body = PreferencesBody, responses((status = 200, body = crate::services::notify::MailPreferences), doc::Errors))]
async fn put_preferences(user: Signed, state: web::Data<AppState>, body: web::Json<PreferencesBody>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(notify::set_mail_preferences(&state.ctx, &user.principal, &body.mail).await?))
}

#[utoipa::path(get, path = "/api/v1/mail/deliveries", tag = "notifications", description = "The latest 100 e-mails, newest first, each with its recipient (`to`) and tries (SMTP codes, errors) (admins).", responses((status = 200, body = Vec<crate::services::notify::DeliveryView>), doc::Errors))]
async fn mail_deliveries(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(notify::mail_deliveries(&state.ctx, 100).await?))
}

#[utoipa::path(post, path = "/api/v1/mail/deliveries/{delivery}/retry", tag = "notifications", description = "Send a dead-lettered or skipped e-mail again (admins).", params(("delivery" = String, Path)), responses((status = 202), doc::Errors))]
async fn retry_mail(admin: Admin, state: web::Data<AppState>, delivery: web::Path<String>) -> Result<HttpResponse, AppError> {
    notify::retry_mail(&state.ctx, &admin.principal.username, &delivery).await?;
    Ok(HttpResponse::Accepted().finish())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    /// Where deliveries are POSTed (http or https).
    url: String,
    /// Event types (`request.approved`, …), or `"*"` for all.
    events: Vec<String>,
    /// 16 to 200 characters; deliveries are signed with it (never shown again).
    secret: String,
}

#[utoipa::path(post, path = "/api/v1/webhooks", tag = "notifications", description = "Register a webhook (admins). Each delivery is a POST of `{\"id\",\"type\",\"at\",\"data\"}` with `X-Wharf-Timestamp` and `X-Wharf-Signature: sha256=<hex HMAC-SHA256 of \"timestamp.body\">`.", request_body = WebhookBody, responses((status = 201, body = crate::services::notify::WebhookView), doc::Errors))]
async fn create_webhook(admin: Admin, state: web::Data<AppState>, body: web::Json<WebhookBody>) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = WebhookInput { url: b.url, events: b.events, secret: b.secret };
    Ok(HttpResponse::Created().json(notify::create_webhook(&state.ctx, &admin.principal.username, input).await?))
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "notifications", description = "Webhooks, with their deliveries counted (admins).", responses((status = 200, body = Vec<crate::services::notify::WebhookView>), doc::Errors))]
async fn list_webhooks(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(notify::list_webhooks(&state.ctx).await?))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "notifications", description = "Remove a webhook and its undelivered messages (admins).", params(("id" = i64, Path)), responses((status = 204), doc::Errors))]
async fn delete_webhook(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    notify::delete_webhook(&state.ctx, &admin.principal.username, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "notifications", description = "A webhook's latest 100 deliveries, newest first, each with its tries (status codes, errors) (admins).", params(("id" = i64, Path)), responses((status = 200, body = Vec<crate::services::notify::DeliveryView>), doc::Errors))]
async fn deliveries(_: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(notify::deliveries(&state.ctx, id.into_inner(), 100).await?))
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery}/retry", tag = "notifications", description = "Send a dead-lettered delivery again (admins).", params(("id" = i64, Path), ("delivery" = String, Path)), responses((status = 202), doc::Errors))]
async fn retry_delivery(admin: Admin, state: web::Data<AppState>, path: web::Path<(i64, String)>) -> Result<HttpResponse, AppError> {
    let (id, delivery) = path.into_inner();
    notify::retry_delivery(&state.ctx, &admin.principal.username, id, &delivery).await?;
    Ok(HttpResponse::Accepted().finish())
}
