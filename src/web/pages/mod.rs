//! Server-rendered pages, one module per resource and route (`catalog.rs` serves `/catalog…`,
//! `admin/hosts.rs` serves `/admin/hosts…`). Each handler names the role it needs through its
//! extractor. What they share is here: rendering, the layout, the page query, form errors.
mod admin;
mod approvals;
mod catalog;
mod deployments;
mod home;
mod notifications;
mod profile;
mod requests;
mod session;
mod sso;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;

use super::error::AppError;
use super::views::{FormErrors, Layout};
use crate::auth::AuthContext;
use crate::services::FieldError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(home::routes)
        .configure(session::routes)
        .configure(sso::routes)
        .configure(admin::routes)
        .configure(catalog::routes)
        .configure(requests::routes)
        .configure(approvals::routes)
        .configure(deployments::routes)
        .configure(notifications::routes)
        .configure(profile::routes);
}

/// The layout of a page for the caller: `section` is the navigation entry marked current.
/// Works for every extractor (`Anyone`, `Signed`, `Admin`): each carries its `AuthContext`.
fn layout(ctx: &AuthContext, section: &'static str, title: &str) -> Layout {
    Layout::new(Some(ctx), section, title)
}

use super::views::PageQuery;

fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, AppError> {
    let html = page.render().map_err(AppError::internal)?;
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(html))
}

/// A request's or a deployment's inputs as the rows of a table (name, value), secrets as the
/// service masked them: text as it is, numbers and yes/no as words, anything else as JSON.
fn input_rows(inputs: &serde_json::Value) -> Vec<(String, String)> {
    let Some(map) = inputs.as_object() else { return Vec::new() };
    map.iter()
        .map(|(k, v)| {
            let shown = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Bool(true) => "yes".to_string(),
                serde_json::Value::Bool(false) => "no".to_string(),
                serde_json::Value::Null => "—".to_string(),
                other => other.to_string(),
            };
            (k.clone(), shown)
        })
        .collect()
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// A value for a query string or a path segment.
fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Turns a service failure into form errors where it is about the input; other errors pass.
fn form_errors(e: crate::services::ServiceError) -> Result<FormErrors, AppError> {
    use crate::services::ServiceError as E;
    match e {
        E::Invalid(v) => Ok(FormErrors(v)),
        E::Blueprint(v) => Ok(FormErrors(v.into_iter().map(|e| FieldError::new("source", e.to_string())).collect())),
        E::Conflict(m) | E::NotFound(m) | E::Forbidden(m) => Ok(FormErrors(vec![FieldError::new("", m)])),
        E::Condition(c) => Ok(FormErrors(vec![FieldError::new(
            "condition",
            format!("does not parse at line {}, column {}: {}", c.line, c.column, c.message),
        )])),
        e @ E::OverQuota(_) => Ok(FormErrors(vec![FieldError::new("", e.to_string())])),
        other => Err(other.into()),
    }
}
