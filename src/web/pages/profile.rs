//! `/profile`: who you are, and your personal API tokens (`/profile/tokens…`). Admins also
//! see everyone's.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{form_errors, layout, render, see_other};
use crate::auth::sessions::{self, SESSION_COOKIE};
use crate::auth::tokens::TokenView;
use crate::domain::Secret;
use crate::domain::events::MailKind;
use crate::services::{FieldError, accounts, notify, tokens};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Signed;
use crate::web::views::{FormErrors, Layout};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/profile", web::get().to(page))
        .route("/profile/tokens", web::post().to(create))
        .route("/profile/tokens/{id}/revoke", web::post().to(revoke))
        .route("/profile/password", web::post().to(change_password))
        .route("/profile/sign-out-everywhere", web::post().to(sign_out_everywhere))
        .route("/profile/mail", web::post().to(set_mail));
}

#[derive(Template)]
#[template(path = "pages/profile.html")]
struct ProfilePage {
    layout: Layout,
    groups: Vec<(String, String)>,
    mine: Vec<TokenView>,
    everyone: Vec<TokenView>,
    /// A token just made: shown this once.
    new_token: Option<(String, String)>,
    name: String,
    errors: FormErrors,
    /// The password form's errors, and whether it just succeeded.
    password_errors: FormErrors,
    password_changed: bool,
    /// The kinds of notification that may come by mail: (word, what it is, on).
    mail: Vec<(&'static str, &'static str, bool)>,
    email: Option<String>,
    /// Whether this server sends mail at all (`smtp.url`).
    mail_on: bool,
    mail_saved: bool,
}

async fn build(
    user: &Signed,
    state: &AppState,
    new_token: Option<(String, String)>,
    name: String,
    errors: FormErrors,
) -> Result<ProfilePage, AppError> {
    let p = &user.principal;
    let mine = tokens::list(&state.ctx.db, p, false).await?;
    let everyone = if p.is_admin {
        tokens::list(&state.ctx.db, p, true).await?.into_iter().filter(|t| t.active && t.owner != p.username).collect()
    } else {
        Vec::new()
    };
    let prefs = notify::mail_preferences(&state.ctx, p).await?;
    let mail = MailKind::ALL.iter().filter_map(|k| prefs.mail.get(k.as_str()).map(|on| (k.as_str(), k.meaning(), *on))).collect();
    Ok(ProfilePage {
        mail,
        email: prefs.email,
        mail_on: state.settings.smtp.is_some(),
        mail_saved: false,
        layout: layout(&user.ctx, "profile", "Profile"),
        groups: p.groups.iter().map(|g| (g.name.clone(), g.role.to_string())).collect(),
        mine,
        everyone,
        new_token,
        name,
        errors,
        password_errors: FormErrors::default(),
        password_changed: false,
    })
}

async fn page(user: Signed, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    render(StatusCode::OK, &build(&user, &state, None, String::new(), FormErrors::default()).await?)
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    days: String,
}

async fn create(user: Signed, state: web::Data<AppState>, form: web::Form<CreateForm>) -> Result<HttpResponse, AppError> {
    let f = form.into_inner();
    let days = f.days.trim().parse::<u32>().unwrap_or(0);
    match tokens::create(&state.ctx.db, &user.principal, &f.name, days).await {
        // Rendered, not redirected: the token must not travel in a URL, and is shown only now.
        Ok((view, issued)) => {
            render(StatusCode::CREATED, &build(&user, &state, Some((view.name, issued.token)), String::new(), FormErrors::default()).await?)
        }
        Err(e) => {
            let errors = form_errors(e)?;
            render(StatusCode::UNPROCESSABLE_ENTITY, &build(&user, &state, None, f.name, errors).await?)
        }
    }
}

async fn revoke(user: Signed, state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    tokens::revoke(&state.ctx.db, &user.principal, id.into_inner()).await?;
    Ok(see_other("/profile"))
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
}

/// One's own new password: this browser stays signed in; every other session and every API
/// token of the account ends.
async fn change_password(
    req: actix_web::HttpRequest,
    user: Signed,
    state: web::Data<AppState>,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let f = form.into_inner();
    let patch = accounts::UserPatch { password: Some(Secret::new(f.password)), ..Default::default() };
    let verified = match crate::web::api::verify_current_password(&req, &state, &user, Some(Secret::new(f.current_password))).await {
        Ok(v) => v,
        Err(AppError::Invalid { .. }) => {
            let mut page = build(&user, &state, None, String::new(), FormErrors::default()).await?;
            page.password_errors = FormErrors(vec![FieldError::new("current_password", "is not your current password")]);
            return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
        Err(e) => return Err(e),
    };
    let done =
        accounts::update_user(&state.ctx.db, &user.principal, user.ctx.session_token.as_deref(), &user.principal.username, patch, verified)
            .await;
    let mut page = build(&user, &state, None, String::new(), FormErrors::default()).await?;
    match done {
        Ok(_) => {
            page.password_changed = true;
            page.mine = tokens::list(&state.ctx.db, &user.principal, false).await?;
            render(StatusCode::OK, &page)
        }
        Err(e) => {
            page.password_errors = form_errors(e)?;
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

/// Ends every session of the account, this one included.
async fn sign_out_everywhere(user: Signed, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    accounts::sign_out_everywhere(&state.ctx.db, &user.principal).await?;
    let mut res = see_other("/login");
    res.add_cookie(&sessions::removal(SESSION_COOKIE, state.settings.secure_cookies())).map_err(AppError::internal)?;
    Ok(res)
}

/// The e-mail preferences form: a checkbox per kind (checked: by mail).
async fn set_mail(
    user: Signed,
    state: web::Data<AppState>,
    form: web::Form<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, AppError> {
    let current = notify::mail_preferences(&state.ctx, &user.principal).await?;
    let wanted = current.mail.keys().map(|k| (k.clone(), form.get(k).is_some_and(|v| v == "on"))).collect();
    notify::set_mail_preferences(&state.ctx, &user.principal, &wanted).await?;
    let mut page = build(&user, &state, None, String::new(), FormErrors::default()).await?;
    page.mail_saved = true;
    render(StatusCode::OK, &page)
}
