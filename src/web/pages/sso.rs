//! `/auth/oidc/login` and `/auth/oidc/callback`: OpenID Connect, the redirect to the
//! provider and the way back.
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{layout, render, see_other};
use crate::auth::oidc::Pending;
use crate::auth::sessions::{self, SESSION_COOKIE};
use crate::services::{ServiceError, accounts, audit};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::{Anyone, client_address};
use crate::web::views::Layout;

const PENDING_COOKIE: &str = "wharf_oidc";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/oidc/login", web::get().to(login)).route("/auth/oidc/callback", web::get().to(callback));
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login(state: web::Data<AppState>, q: web::Query<NextQuery>) -> Result<HttpResponse, AppError> {
    let oidc = state.oidc.as_ref().ok_or_else(|| AppError::NotFound("single sign-on is not configured".into()))?;
    let next = super::session::safe_next(q.next.as_deref());
    let (url, pending) = oidc.start(&next);
    let value = serde_json::to_string(&pending).map_err(AppError::internal)?;
    // Ten minutes to come back from the provider.
    let mut cookie = sessions::signed_cookie(&state.cookie_key, PENDING_COOKIE, value, state.settings.secure_cookies(), None);
    cookie.set_max_age(actix_web::cookie::time::Duration::minutes(10));
    let mut res = see_other(&url);
    res.add_cookie(&cookie).map_err(AppError::internal)?;
    Ok(res)
}

#[derive(Template)]
#[template(path = "errors/error.html")]
struct FailedPage {
    layout: Layout,
    status: u16,
    reason: String,
    message: String,
}

/// How many failed single sign-on logins one client address writes to the audit log in a
/// lock-out window (`login.lockout_minutes`).
const AUDITED_FAILURES: u32 = 20;

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    req: HttpRequest,
    who: Anyone,
    state: web::Data<AppState>,
    q: web::Query<CallbackQuery>,
) -> Result<HttpResponse, AppError> {
    let oidc = state.oidc.as_ref().ok_or_else(|| AppError::NotFound("single sign-on is not configured".into()))?;
    let address = client_address(&req);
    let failed = |status: StatusCode, message: String| -> Result<HttpResponse, AppError> {
        let mut res = render(
            status,
            &FailedPage {
                layout: layout(&who.0, "login", "Login failed"),
                status: status.as_u16(),
                reason: "Single sign-on failed".into(),
                message,
            },
        )?;
        res.add_removal_cookie(&sessions::removal(PENDING_COOKIE, state.settings.secure_cookies())).map_err(AppError::internal)?;
        Ok(res)
    };
    let window = chrono::Duration::minutes(i64::from(state.settings.login.lockout_minutes));
    let audit_failure = |reason: String| {
        let db = state.ctx.db.clone();
        let address = address.clone();
        async move {
            // A pending-login cookie can be replayed: at most [`AUDITED_FAILURES`] rows a client
            // address in a window, and the rest only logged.
            let key = format!("oidcfail:{}", crate::auth::throttle::address_of(&address));
            match crate::auth::throttle::reserve(&db, &key, AUDITED_FAILURES, window).await {
                Ok(None) => {
                    let _ =
                        audit::record(&db, "oidc", "login.failed", "oidc", serde_json::json!({"address": address, "reason": reason})).await;
                }
                _ => tracing::info!(%address, "single sign-on failure not audited (too many from this address)"),
            }
        }
    };
    let pending: Option<Pending> = req
        .cookie(&sessions::cookie_name(PENDING_COOKIE, state.settings.secure_cookies()))
        .and_then(|c| sessions::read_signed(&state.cookie_key, c))
        .and_then(|v| serde_json::from_str(&v).ok());
    if let Some(err) = &q.error {
        // Anyone can call this URL with any text: shown bounded, and audited only when this
        // browser did start a login (otherwise it is nobody's failure, and no row is written).
        let clip = |s: &str| s.chars().take(200).collect::<String>();
        let message = format!(
            "the provider refused the login: {}{}",
            clip(err),
            q.error_description.as_deref().map(|d| format!(" ({})", clip(d))).unwrap_or_default()
        );
        if pending.is_some() {
            audit_failure(message.clone()).await;
        }
        return failed(StatusCode::BAD_REQUEST, message);
    }
    let Some(pending) = pending else {
        return failed(
            StatusCode::BAD_REQUEST,
            "no single sign-on login is in progress in this browser (it expired, or started elsewhere): start again".into(),
        );
    };
    if q.state.as_deref().is_none_or(|s| !crate::auth::constant_time_eq(s, &pending.state)) {
        audit_failure("state mismatch".into()).await;
        return failed(StatusCode::BAD_REQUEST, "the login state does not match the one this browser started: start again".into());
    }
    let Some(code) = q.code.as_deref() else {
        return failed(StatusCode::BAD_REQUEST, "the provider sent no login code".into());
    };
    let identity = match oidc.finish(code, &pending).await {
        Ok(i) => i,
        Err(e) => {
            audit_failure(e.to_string()).await;
            return failed(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    match accounts::oidc_login(&state.ctx.db, &state.settings, &identity, &address).await {
        Ok(done) => {
            let cookie = sessions::signed_cookie(
                &state.cookie_key,
                SESSION_COOKIE,
                done.session_token,
                state.settings.secure_cookies(),
                Some(state.settings.session.hours),
            );
            let mut res = see_other(&pending.next);
            res.add_cookie(&cookie).map_err(AppError::internal)?;
            res.add_removal_cookie(&sessions::removal(PENDING_COOKIE, state.settings.secure_cookies())).map_err(AppError::internal)?;
            Ok(res)
        }
        Err(e @ (ServiceError::Forbidden(_) | ServiceError::Conflict(_) | ServiceError::Unauthorized(_))) => {
            failed(StatusCode::FORBIDDEN, e.to_string())
        }
        Err(e) => Err(e.into()),
    }
}
