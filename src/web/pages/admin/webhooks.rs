//! `/admin/webhooks`: the URLs that receive Wharf's events, registering and removing one, and
//! each one's deliveries (with their tries) and the retry of a dead-lettered one.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::events::EventType;
use crate::services::ServiceError;
use crate::services::notify::{self, DeliveryView, WebhookInput, WebhookView};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;
use crate::web::pages::{form_errors, layout, render, see_other};
use crate::web::views::{FormErrors, Layout};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/webhooks", web::get().to(webhook_list))
        .route("/admin/webhooks", web::post().to(webhook_create))
        .route("/admin/webhooks/{id}", web::get().to(webhook_page))
        .route("/admin/webhooks/{id}/remove", web::post().to(webhook_remove))
        .route("/admin/webhooks/{id}/deliveries/{delivery}/retry", web::post().to(delivery_retry));
}

#[derive(Template)]
#[template(path = "pages/admin/webhooks/index.html")]
struct WebhooksPage {
    layout: Layout,
    hooks: Vec<WebhookView>,
    /// Every event type with what it means, for the form.
    types: Vec<(&'static str, &'static str)>,
    url: String,
    chosen: Vec<String>,
    errors: FormErrors,
}

impl WebhooksPage {
    async fn build(admin: &Admin, state: &AppState, url: String, chosen: Vec<String>, errors: FormErrors) -> Result<Self, AppError> {
        Ok(Self {
            layout: layout(&admin.ctx, "webhooks", "Webhooks"),
            hooks: notify::list_webhooks(&state.ctx).await?,
            types: EventType::ALL.iter().map(|t| (t.as_str(), t.meaning())).collect(),
            url,
            chosen,
            errors,
        })
    }
    fn chosen(&self, t: &str) -> bool {
        self.chosen.iter().any(|c| c == t)
    }
}

async fn webhook_list(admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    render(StatusCode::OK, &WebhooksPage::build(&admin, &state, String::new(), Vec::new(), FormErrors::default()).await?)
}

/// The form: `url`, `secret`, and `events` (repeated checkboxes, or `*`).
async fn webhook_create(admin: Admin, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, AppError> {
    let (mut url, mut secret, mut events) = (String::new(), String::new(), Vec::new());
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "url" => url = v.into_owned(),
            "secret" => secret = v.into_owned(),
            "events" if events.len() < 64 => events.push(v.into_owned()),
            _ => {}
        }
    }
    let input = WebhookInput { url: url.clone(), events: events.clone(), secret };
    match notify::create_webhook(&state.ctx, &admin.principal.username, input).await {
        Ok(_) => Ok(see_other("/admin/webhooks")),
        Err(e) => {
            // The secret is never sent back to the browser.
            let errors = form_errors(e)?;
            render(StatusCode::UNPROCESSABLE_ENTITY, &WebhooksPage::build(&admin, &state, url, events, errors).await?)
        }
    }
}

#[derive(Template)]
#[template(path = "pages/admin/webhooks/show.html")]
struct WebhookPage {
    layout: Layout,
    hook: WebhookView,
    deliveries: Vec<DeliveryView>,
    error: Option<String>,
}

async fn show(admin: &Admin, state: &AppState, id: i64, status: StatusCode, error: Option<String>) -> Result<HttpResponse, AppError> {
    let hook = notify::list_webhooks(&state.ctx)
        .await?
        .into_iter()
        .find(|h| h.id == id)
        .ok_or_else(|| AppError::NotFound(format!("no webhook {id}")))?;
    let deliveries = notify::deliveries(&state.ctx, id, 100).await?;
    render(status, &WebhookPage { layout: layout(&admin.ctx, "webhooks", &format!("Webhook {}", hook.url)), hook, deliveries, error })
}

async fn webhook_page(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    show(&admin, &state, id.into_inner(), StatusCode::OK, None).await
}

async fn webhook_remove(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    notify::delete_webhook(&state.ctx, &admin.principal.username, id.into_inner()).await?;
    Ok(see_other("/admin/webhooks"))
}

#[derive(Deserialize)]
struct RetryPath {
    id: i64,
    delivery: String,
}

async fn delivery_retry(admin: Admin, state: web::Data<AppState>, path: web::Path<RetryPath>) -> Result<HttpResponse, AppError> {
    let RetryPath { id, delivery } = path.into_inner();
    match notify::retry_delivery(&state.ctx, &admin.principal.username, id, &delivery).await {
        Ok(()) => Ok(see_other(&format!("/admin/webhooks/{id}"))),
        Err(ServiceError::Conflict(m)) => show(&admin, &state, id, StatusCode::CONFLICT, Some(m)).await,
        Err(e) => Err(e.into()),
    }
}
