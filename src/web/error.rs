//! One error type at the HTTP edge. It renders the JSON shape of API.md; `shape_errors` turns
//! any error response into that shape under `/api/` and into the HTML error page elsewhere.
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use askama::Template;
use serde_json::json;

use super::views::Layout;
use crate::auth::AuthContext;
use crate::services::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Csrf(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    Invalid { message: String, details: serde_json::Value },
    #[error("{message}")]
    TooManyAttempts { message: String, retry_after_secs: i64 },
    #[error("the server could not finish this request; it has been logged")]
    Internal(String),
    #[error("{0}")]
    Unavailable(String),
}

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::Csrf(_) => "csrf_failed",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::Invalid { .. } => "invalid_input",
            AppError::TooManyAttempts { .. } => "too_many_attempts",
            AppError::Internal(_) => "internal",
            AppError::Unavailable(_) => "unavailable",
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        AppError::Internal(e.to_string())
    }

    /// The error as one item of a list (a bulk action's refusals): its status, code, message and
    /// details.
    pub fn body(&self) -> Refusal {
        let details = match self {
            AppError::Invalid { details, .. } => Some(details.clone()),
            _ => None,
        };
        Refusal { status: self.status_code().as_u16(), code: self.code(), message: self.to_string(), details }
    }
}

/// An error as data, in API.md's shape (with the status it would have had on its own).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// For invalid_input: a list of `{field, message}`; otherwise null.
    pub details: Option<serde_json::Value>,
}

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound(m) => AppError::NotFound(m),
            ServiceError::Conflict(m) => AppError::Conflict(m),
            ServiceError::Forbidden(m) => AppError::Forbidden(m),
            ServiceError::Unauthorized(m) => AppError::Unauthorized(m),
            ServiceError::Invalid(details) => {
                let message = match details.as_slice() {
                    [one] => format!("{}: {}", one.field, one.message),
                    _ => format!("{} fields are invalid", details.len()),
                };
                AppError::Invalid { message, details: json!(details) }
            }
            ServiceError::Blueprint(errors) => {
                let message = match errors.as_slice() {
                    [one] => format!("the blueprint is invalid at line {}, column {}: {}", one.line, one.column, one.message),
                    _ => format!("the blueprint has {} errors", errors.len()),
                };
                AppError::Invalid { message, details: json!(errors) }
            }
            ServiceError::Condition(c) => AppError::Invalid {
                message: format!("the condition does not parse at line {}, column {}: {}", c.line, c.column, c.message),
                details: json!([{"field": "condition", "line": c.line, "column": c.column, "message": c.message}]),
            },
            e @ ServiceError::OverQuota(_) => AppError::Conflict(e.to_string()),
            ServiceError::Throttled { retry_after_secs } => AppError::TooManyAttempts {
                message: format!(
                    "too many failed logins for this user name or address; try again in {}",
                    if retry_after_secs < 120 {
                        format!("{retry_after_secs} second(s)")
                    } else {
                        format!("{} minute(s)", (retry_after_secs + 59) / 60)
                    }
                ),
                retry_after_secs,
            },
            ServiceError::Busy(message) => AppError::TooManyAttempts { message, retry_after_secs: 1 },
            ServiceError::Unavailable(message) => AppError::Unavailable(message),
            ServiceError::Db(e) => e.into(),
            e @ ServiceError::Password(_) => AppError::Internal(e.to_string()),
        }
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        if crate::store::unreachable(&e) {
            tracing::warn!(error = %e, "the database did not answer");
            AppError::Unavailable("the database is not reachable at the moment; try again shortly".into())
        } else {
            AppError::Internal(format!("database: {e}"))
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) | AppError::Csrf(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let AppError::Internal(cause) = self {
            tracing::error!(cause = %cause, "request failed");
        }
        let details = match self {
            AppError::Invalid { details, .. } => details.clone(),
            _ => serde_json::Value::Null,
        };
        let mut res = HttpResponse::build(self.status_code());
        if let AppError::TooManyAttempts { retry_after_secs, .. } = self {
            res.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        if matches!(self, AppError::Unavailable(_)) {
            res.insert_header((header::RETRY_AFTER, "1"));
        }
        if matches!(self, AppError::Unauthorized(_)) {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"wharf\""));
        }
        res.json(json!({"error": {"code": self.code(), "message": self.to_string(), "details": details}}))
    }
}

#[derive(Template)]
#[template(path = "errors/error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    reason: String,
    message: String,
}

fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "invalid_input",
        429 => "too_many_attempts",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "error",
    }
}

/// Middleware: every error leaves in the shape its caller expects.
pub async fn shape_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // `/metrics` answers machines as the API does: errors as JSON, never a login page.
    let is_api = req.path().starts_with("/api/") || req.path() == "/metrics";
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(res);
    }
    let content_type = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let app_error = res.response().error().and_then(|e| e.as_error::<AppError>());
    let message = match (app_error, res.response().error()) {
        (Some(e), _) => e.to_string(),
        (None, Some(e)) if !status.is_server_error() => e.to_string(),
        _ => status.canonical_reason().unwrap_or("error").to_string(),
    };
    if is_api {
        if content_type.starts_with("application/json") {
            return Ok(res);
        }
        let body = json!({"error": {"code": code_for(status), "message": message, "details": null}});
        let new = HttpResponse::build(status).json(body);
        return Ok(res.into_response(new));
    }
    if content_type.starts_with("text/html") {
        return Ok(res);
    }
    let (req, _) = res.into_parts();
    if status == StatusCode::UNAUTHORIZED {
        let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let location = format!("/login?next={}", url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>());
        let res = HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish();
        return Ok(ServiceResponse::new(req, res));
    }
    let ctx = req.extensions().get::<AuthContext>().cloned();
    let page = ErrorPage {
        layout: Layout::new(ctx.as_ref(), "", status.canonical_reason().unwrap_or("Error")),
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Error").to_string(),
        message,
    };
    let res = match page.render() {
        Ok(html) => HttpResponse::build(status).content_type("text/html; charset=utf-8").body(html),
        Err(e) => {
            tracing::error!(error = %e, "cannot render the error page");
            HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(page.message)
        }
    };
    Ok(ServiceResponse::new(req, res))
}

/// Malformed bodies, paths and queries become a 400 that says what was wrong.
pub fn json_config() -> actix_web::web::JsonConfig {
    actix_web::web::JsonConfig::default()
        .limit(1024 * 1024)
        .error_handler(|err, _| AppError::BadRequest(format!("malformed JSON body: {err}")).into())
}

pub fn form_config() -> actix_web::web::FormConfig {
    actix_web::web::FormConfig::default()
        .limit(256 * 1024)
        .error_handler(|err, _| AppError::BadRequest(format!("malformed form: {err}")).into())
}

pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default().error_handler(|err, _| AppError::BadRequest(format!("malformed query string: {err}")).into())
}

pub fn path_config() -> actix_web::web::PathConfig {
    actix_web::web::PathConfig::default().error_handler(|err, _| AppError::BadRequest(format!("malformed path: {err}")).into())
}
