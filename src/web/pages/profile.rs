//! `/profile`: who you are, and your personal API tokens (`/profile/tokens…`). Admins also
//! see everyone's.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{form_errors, layout, render, see_other};
use crate::auth::tokens::TokenView;
use crate::services::tokens;
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Signed;
use crate::web::views::{FormErrors, Layout};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/profile", web::get().to(page))
        .route("/profile/tokens", web::post().to(create))
        .route("/profile/tokens/{id}/revoke", web::post().to(revoke));
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
    Ok(ProfilePage {
        layout: layout(&user.ctx, "profile", "Profile"),
        groups: p.groups.iter().map(|g| (g.name.clone(), g.role.to_string())).collect(),
        mine,
        everyone,
        new_token,
        name,
        errors,
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
