//! `/login` and `/logout`.
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{layout, render, see_other};
use crate::auth::sessions::{self, SESSION_COOKIE};
use crate::domain::Secret;
use crate::services::ServiceError;
use crate::services::accounts::{self, Attempt};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::{Anyone, Signed, client_address};
use crate::web::views::Layout;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_page)).route("/login", web::post().to(login)).route("/logout", web::post().to(logout));
}

#[derive(Template)]
#[template(path = "pages/login.html")]
struct LoginPage {
    layout: Layout,
    username: String,
    next: String,
    error: Option<String>,
    /// The single sign-on button's label, when OpenID Connect is configured.
    sso: Option<String>,
    local: bool,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Where to go after logging in: a path on this site, or `/`. Browsers drop tabs and newlines
/// from URLs and read `\` as `/`, so `/\t/evil.example` would leave the site: any control
/// character or white space is refused, then the path is resolved as a browser would and must
/// stay on the same origin.
pub(super) fn safe_next(next: Option<&str>) -> String {
    let Some(n) = next.filter(|n| n.starts_with('/') && !n.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\')) else {
        return "/".to_string();
    };
    let origin = url::Url::parse("http://wharf.invalid/").expect("a valid URL");
    match origin.join(n) {
        // `/.//evil.example` resolves to the path `//evil.example`, which a browser reads as
        // another site: refused too.
        Ok(u) if u.origin() == origin.origin() && !u.path().starts_with("//") => {
            let mut path = u.path().to_string();
            if let Some(q) = u.query() {
                path.push('?');
                path.push_str(q);
            }
            if let Some(f) = u.fragment() {
                path.push('#');
                path.push_str(f);
            }
            path
        }
        _ => "/".to_string(),
    }
}

async fn login_page(who: Anyone, state: web::Data<AppState>, q: web::Query<NextQuery>) -> Result<HttpResponse, AppError> {
    let next = safe_next(q.next.as_deref());
    if who.0.principal.is_some() {
        return Ok(see_other(&next));
    }
    let local = accounts::local_login_enabled(&state.ctx.db).await?;
    let sso = state.oidc.as_ref().map(|o| o.button_label().to_string());
    render(StatusCode::OK, &LoginPage { layout: layout(&who.0, "login", "Log in"), username: String::new(), next, error: None, sso, local })
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

async fn login(req: HttpRequest, who: Anyone, state: web::Data<AppState>, form: web::Form<LoginForm>) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let attempt = Attempt { username: form.username.clone(), password: Secret::new(form.password), address: client_address(&req) };
    let sso = state.oidc.as_ref().map(|o| o.button_label().to_string());
    let failed = |status, message: String| {
        render(
            status,
            &LoginPage {
                layout: layout(&who.0, "login", "Log in"),
                username: form.username.clone(),
                next: next.clone(),
                error: Some(message),
                sso: sso.clone(),
                local: true,
            },
        )
    };
    match accounts::login(&state.ctx, &state.settings, &attempt).await {
        Ok(done) => {
            let cookie = sessions::signed_cookie(
                &state.cookie_key,
                SESSION_COOKIE,
                done.session_token,
                state.settings.secure_cookies(),
                Some(state.settings.session.hours),
            );
            let mut res = see_other(&next);
            res.add_cookie(&cookie).map_err(AppError::internal)?;
            Ok(res)
        }
        Err(ServiceError::Unauthorized(m)) => failed(StatusCode::UNAUTHORIZED, m),
        Err(ServiceError::Forbidden(m)) => failed(StatusCode::FORBIDDEN, m),
        Err(e @ ServiceError::Throttled { .. }) => failed(StatusCode::TOO_MANY_REQUESTS, AppError::from(e).to_string()),
        Err(e) => Err(e.into()),
    }
}

async fn logout(user: Signed, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    if let Some(token) = &user.ctx.session_token {
        accounts::logout(&state.ctx.db, &user.principal, token).await?;
    }
    let mut res = see_other("/login");
    res.add_cookie(&sessions::removal(SESSION_COOKIE, state.settings.secure_cookies())).map_err(AppError::internal)?;
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_site() {
        assert_eq!(safe_next(Some("/admin/users?page=2")), "/admin/users?page=2");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "evil",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "/\u{7f}/evil.example",
            "///evil.example",
            "/.//evil.example",
            "/a/..//evil.example",
            "/%2e//evil.example",
        ] {
            assert_eq!(safe_next(Some(bad)), "/");
        }
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some("/a/../deployments#x")), "/deployments#x");
    }
}
