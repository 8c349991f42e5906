//! Authentication and CSRF for every request, and the request id on every response.
use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::Cookie;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use tracing_actix_web::RequestId;

use super::AppState;
use super::error::AppError;
use crate::auth::cache::Cached;
use crate::auth::sessions::{self, CSRF_COOKIE, SESSION_COOKIE};
use crate::auth::{AuthContext, AuthVia, constant_time_eq, random_token, tokens};
use crate::services::accounts;

pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "csrf_token";

/// Finds who is calling (API token, else session cookie), and checks the CSRF token of every
/// state-changing request that a browser could send on its own: forms (field `csrf_token`) and
/// session-authenticated API calls (header `X-CSRF-Token`). Bearer calls need none.
pub async fn authenticate(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.error_response(AppError::Internal("application state missing".into())).map_into_boxed_body());
    };
    match resolve(&mut req, &state).await {
        Ok((ctx, new_cookie)) => {
            req.extensions_mut().insert(ctx);
            let mut res = next.call(req).await?.map_into_boxed_body();
            if let Some(cookie) = new_cookie {
                res.response_mut().add_cookie(&cookie)?;
            }
            Ok(res)
        }
        Err(e) => Ok(req.error_response(e).map_into_boxed_body()),
    }
}

/// A request to `/metrics` that carries the configured scrape token (`metrics.token`): it has
/// no principal, and may read the metrics only.
#[derive(Debug, Clone, Copy)]
pub struct Scraper;

async fn resolve(req: &mut ServiceRequest, state: &AppState) -> Result<(AuthContext, Option<Cookie<'static>>), AppError> {
    let is_api = req.path().starts_with("/api/");
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);

    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| AppError::Unauthorized("the Authorization header is not readable text".into()))?;
        let token = value
            .strip_prefix("Bearer ")
            .map(str::trim)
            .ok_or_else(|| AppError::Unauthorized("expected `Authorization: Bearer <token>`".into()))?;
        if req.path() == "/metrics"
            && let Some(scrape) = &state.settings.metrics.token
            // Digests of equal length: the comparison tells nothing of the token's length either.
            && constant_time_eq(&crate::auth::token_hash(token), &crate::auth::token_hash(scrape.expose().trim()))
        {
            req.extensions_mut().insert(Scraper);
            return Ok((AuthContext { principal: None, csrf_token: String::new(), session_token: None }, None));
        }
        let cache = &state.ctx.principals;
        let mark = cache.refresh(&state.ctx.db).await?;
        let key = format!("t:{}", crate::auth::token_hash(token));
        let principal = match cache.get(&key) {
            Some(c) => c.principal,
            None => {
                let (user_id, expires_at) = tokens::authenticate(&state.ctx.db, token)
                    .await?
                    .ok_or_else(|| AppError::Unauthorized("the API token is invalid, expired or revoked".into()))?;
                let principal = accounts::load_principal(&state.ctx.db, user_id, AuthVia::Token { expires_at })
                    .await?
                    .ok_or_else(|| AppError::Unauthorized("the API token's account is disabled".into()))?;
                cache.put(key, Cached { principal: principal.clone(), csrf: None }, expires_at, mark);
                principal
            }
        };
        return Ok((AuthContext { principal: Some(principal), csrf_token: String::new(), session_token: None }, None));
    }

    let mut principal = None;
    let mut csrf = None;
    let mut session_token = None;
    if let Some(token) = req
        .cookie(&sessions::cookie_name(SESSION_COOKIE, state.settings.secure_cookies()))
        .and_then(|c| sessions::read_signed(&state.cookie_key, c))
    {
        let cache = &state.ctx.principals;
        let mark = cache.refresh(&state.ctx.db).await?;
        let key = format!("s:{}", crate::auth::token_hash(&token));
        let found = match cache.get(&key) {
            Some(c) => Some(c),
            None => match sessions::find(&state.ctx.db, &token).await? {
                Some(session) => accounts::load_principal(&state.ctx.db, session.user_id, AuthVia::Session).await?.map(|p| {
                    let c = Cached { principal: p, csrf: Some(session.csrf_token) };
                    cache.put(key, c.clone(), session.expires_at, mark);
                    c
                }),
                None => None,
            },
        };
        if let Some(c) = found {
            principal = Some(c.principal);
            csrf = c.csrf;
            session_token = Some(token);
        }
    }

    let mut new_cookie = None;
    let csrf = match csrf.or_else(|| {
        req.cookie(&sessions::cookie_name(CSRF_COOKIE, state.settings.secure_cookies()))
            .and_then(|c| sessions::read_signed(&state.cookie_key, c))
    }) {
        Some(token) => token,
        None => {
            let token = random_token();
            new_cookie =
                Some(sessions::signed_cookie(&state.cookie_key, CSRF_COOKIE, token.clone(), state.settings.secure_cookies(), None));
            token
        }
    };

    // An anonymous API call carries no ambient credentials, so it cannot be forged cross-site.
    if changes_state && !(is_api && principal.is_none()) {
        let sent = sent_csrf_token(req, is_api).await?;
        if !sent.as_deref().is_some_and(|s| constant_time_eq(s, &csrf)) {
            return Err(AppError::Csrf("missing or invalid CSRF token: reload the page and submit the form again".into()));
        }
    }
    Ok((AuthContext { principal, csrf_token: csrf, session_token }, new_cookie))
}

/// The token the request sent: the header, or for a form the `csrf_token` field. Reading the
/// form puts its body back, so the handler still gets it.
async fn sent_csrf_token(req: &mut ServiceRequest, is_api: bool) -> Result<Option<String>, AppError> {
    if let Some(v) = req.headers().get(CSRF_HEADER) {
        return Ok(v.to_str().ok().map(str::to_string));
    }
    if is_api || req.content_type() != "application/x-www-form-urlencoded" {
        return Ok(None);
    }
    let body = req.extract::<web::Bytes>().await.map_err(|e| AppError::BadRequest(format!("cannot read the form: {e}")))?;
    let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v));
    req.set_payload(Payload::from(body));
    Ok(token)
}

/// Copies tracing-actix-web's request id into an `X-Request-Id` response header.
pub async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let mut res = next.call(req).await?;
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        res.headers_mut().insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

/// The content security policy of Wharf's own pages: scripts and styles from Wharf only (no
/// inline script or style, no CDN), no framing, forms post only to Wharf.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
/// The web console's page: xterm.js draws the terminal with inline styles; still no inline script.
const CSP_CONSOLE: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
                           object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
/// The API docs page (swagger-ui) sets styles inline; still no inline script.
const CSP_DOCS: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'";

/// Security headers on every response (`Strict-Transport-Security` when Wharf is served over
/// https, as `base_url` says).
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let docs = req.path().starts_with("/api/docs");
    let console = req.path().starts_with("/deployments/") && req.path().ends_with("/console");
    let approve_link = req.path().starts_with("/approvals/");
    let https = req.app_data::<web::Data<AppState>>().is_some_and(|s| s.settings.secure_cookies());
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    let csp = if docs {
        CSP_DOCS
    } else if console {
        CSP_CONSOLE
    } else {
        CSP
    };
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // An approve link's page sends no Referer at all: its address holds the link's token.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static(if approve_link { "no-referrer" } else { "same-origin" }));
    // Pages and API answers are made for one caller (a new API token is shown once): never
    // kept by a browser or a proxy. Static files set their own caching.
    let dynamic = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html") || t.starts_with("application/json"));
    if dynamic && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if https {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    Ok(res)
}

/// `HEAD` is answered wherever `GET` is: the request is served as a `GET` and the body dropped
/// (headers kept).
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let head = req.method() == Method::HEAD;
    if head {
        req.head_mut().method = Method::GET;
    }
    let res = next.call(req).await?.map_into_boxed_body();
    Ok(if head { res.map_body(|_, _| BoxBody::new(())) } else { res })
}

/// Counts each request for `/metrics`: its route pattern (never the path: the labels stay few),
/// method, status (after the errors are shaped) and the time to the response's head.
pub async fn count_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let metrics = req.app_data::<web::Data<AppState>>().map(|s| s.metrics.clone());
    let method = match *req.method() {
        Method::GET | Method::HEAD | Method::POST | Method::PUT | Method::PATCH | Method::DELETE | Method::OPTIONS => {
            req.method().as_str().to_string()
        }
        _ => "other".to_string(),
    };
    let res = next.call(req).await;
    if let Some(m) = metrics {
        let (route, status) = match &res {
            Ok(r) => (r.request().match_pattern().unwrap_or_else(|| "unmatched".into()), r.status().as_u16()),
            Err(e) => ("unmatched".to_string(), e.as_response_error().status_code().as_u16()),
        };
        m.http(&route, &method, status, started.elapsed().as_secs_f64());
    }
    res
}

/// The access log (one line per request, from `tracing-actix-web`) with the query strings of
/// the console, log and stats routes left out: whatever a client puts there stays out of logs.
pub struct AccessLog;

impl tracing_actix_web::RootSpanBuilder for AccessLog {
    fn on_request_start(request: &ServiceRequest) -> tracing::Span {
        let target = logged_target(request.path(), request.query_string());
        let request_id = request.extensions().get::<RequestId>().map(|id| id.to_string()).unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.target = %target,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: tracing::Span, outcome: &Result<ServiceResponse<B>, actix_web::Error>) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The path, with its query unless the route is one whose query stays out of logs. An approve
/// link's token is left out: whatever follows `/approvals/` in the path (however it is
/// spelled), and a query that carries such a path (the login page's `next`).
fn logged_target(path: &str, query: &str) -> String {
    let path = if path.starts_with("/approvals/") { "/approvals/[not logged]".to_string() } else { path.to_string() };
    let carries_link = url::form_urlencoded::parse(query.as_bytes()).any(|(_, v)| v.contains("approvals/"));
    let quiet = carries_link || (["/console", "/logs", "/stats"].iter().any(|end| path.ends_with(end)) && path.contains("/deployments/"));
    match (query.is_empty(), quiet) {
        (true, _) => path,
        (false, true) => format!("{path}?[query not logged]"),
        (false, false) => format!("{path}?{query}"),
    }
}

#[cfg(test)]
mod tests {
    use super::logged_target;

    #[test]
    fn approve_link_tokens_stay_out_of_the_access_log() {
        assert_eq!(logged_target("/approvals/link/c2VjcmV0", ""), "/approvals/[not logged]");
        assert_eq!(logged_target("/approvals/%6Cink/c2VjcmV0", ""), "/approvals/[not logged]");
        assert_eq!(logged_target("/approvals", "page=2"), "/approvals?page=2");
        assert_eq!(logged_target("/login", "next=%2F%61pprovals%2Flink%2Fc2VjcmV0"), "/login?[query not logged]");
        assert_eq!(logged_target("/login", "next=%2Fapprovals%2Flink%2Fc2VjcmV0"), "/login?[query not logged]");
        assert_eq!(logged_target("/login", "next=/approvals/link/c2VjcmV0"), "/login?[query not logged]");
        assert_eq!(logged_target("/login", "next=%2Frequests"), "/login?next=%2Frequests");
    }

    #[test]
    fn console_and_log_queries_stay_out_of_the_access_log() {
        assert_eq!(
            logged_target("/api/v1/deployments/x/console", "component=web&token=s3cret"),
            "/api/v1/deployments/x/console?[query not logged]"
        );
        assert_eq!(logged_target("/api/v1/deployments/x/logs", "since=10m"), "/api/v1/deployments/x/logs?[query not logged]");
        assert_eq!(logged_target("/deployments/x/console", ""), "/deployments/x/console");
        assert_eq!(logged_target("/api/v1/deployments", "status=running"), "/api/v1/deployments?status=running");
    }
}
