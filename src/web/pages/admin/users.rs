//! `/admin/users`: the accounts and the form that creates one; the page also turns password
//! logins on and off (`/admin/settings/local-login`).
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::{Role, Secret};
use crate::services::accounts::{self, NewUserInput, UserView};
use crate::services::{Page, PageRequest};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;
use crate::web::pages::{PageQuery, form_errors, layout, render, see_other, urlencode};
use crate::web::views::{FormErrors, Layout, Pager};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/users", web::get().to(users))
        .route("/admin/users", web::post().to(create_user))
        .route("/admin/users/{username}", web::post().to(update_user))
        .route("/admin/settings/local-login", web::post().to(local_login));
}

/// `?created=<username>` after a user was created.
#[derive(Deserialize)]
struct CreatedQuery {
    created: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct UserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    is_admin: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/admin/users.html")]
struct UsersPage {
    layout: Layout,
    local_login: bool,
    pager: Pager,
    users: Page<UserView>,
    form: UserForm,
    errors: FormErrors,
    created: Option<String>,
}

impl UsersPage {
    async fn build(
        admin: &Admin,
        state: &AppState,
        page: Option<u64>,
        form: UserForm,
        errors: FormErrors,
        created: Option<String>,
    ) -> Result<Self, AppError> {
        let users = accounts::list_users(&state.ctx.db, PageRequest::new(page, None)).await?;
        Ok(Self {
            local_login: accounts::local_login_enabled(&state.ctx.db).await?,
            layout: layout(&admin.ctx, "users", "Users"),
            pager: Pager::of(&users, ""),
            users,
            form,
            errors,
            created,
        })
    }
}

async fn users(
    admin: Admin,
    state: web::Data<AppState>,
    page: web::Query<PageQuery>,
    q: web::Query<CreatedQuery>,
) -> Result<HttpResponse, AppError> {
    let page = UsersPage::build(&admin, &state, page.page, UserForm::default(), FormErrors::default(), q.into_inner().created).await?;
    render(StatusCode::OK, &page)
}

async fn create_user(admin: Admin, state: web::Data<AppState>, form: web::Form<UserForm>) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let input = NewUserInput {
        username: form.username.clone(),
        password: Some(Secret::new(form.password.clone())),
        display_name: Some(form.display_name.clone()),
        email: Some(form.email.clone()),
        is_admin: form.is_admin.is_some(),
    };
    match accounts::create_user(&state.ctx.db, &admin.principal.username, input).await {
        Ok(u) => Ok(see_other(&format!("/admin/users?created={}", urlencode(&u.username)))),
        Err(e) => {
            let errors = form_errors(e)?;
            // The password is never sent back to the browser.
            let form = UserForm { password: String::new(), ..form };
            render(StatusCode::UNPROCESSABLE_ENTITY, &UsersPage::build(&admin, &state, None, form, errors, None).await?)
        }
    }
}

/// One of the actions of an account's row: enable, disable, promote, demote, or reset (with
/// `password`).
#[derive(Deserialize)]
struct ActionForm {
    action: String,
    #[serde(default)]
    password: String,
}

async fn update_user(
    admin: Admin,
    state: web::Data<AppState>,
    username: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, AppError> {
    let f = form.into_inner();
    let mut patch = accounts::UserPatch::default();
    match f.action.as_str() {
        "enable" => patch.is_active = Some(true),
        "disable" => patch.is_active = Some(false),
        "promote" => patch.is_admin = Some(true),
        "demote" => patch.is_admin = Some(false),
        "reset" => patch.password = Some(Secret::new(f.password)),
        other => return Err(AppError::BadRequest(format!("`{other}` is not an action on an account"))),
    }
    match accounts::update_user(&state.ctx.db, &admin.principal, admin.ctx.session_token.as_deref(), &username, patch, false).await {
        Ok(_) => Ok(see_other("/admin/users")),
        Err(e) => {
            let mut errors = form_errors(e)?;
            // Shown above the table: name the account the error is about.
            for err in &mut errors.0 {
                err.message = format!("{username}: {}", err.message);
                err.field.clear();
            }
            render(StatusCode::UNPROCESSABLE_ENTITY, &UsersPage::build(&admin, &state, None, UserForm::default(), errors, None).await?)
        }
    }
}

#[derive(Deserialize)]
struct LocalLoginForm {
    enabled: String,
}

async fn local_login(admin: Admin, state: web::Data<AppState>, form: web::Form<LocalLoginForm>) -> Result<HttpResponse, AppError> {
    accounts::set_local_login(&state.ctx.db, &admin.principal.username, form.enabled == "true").await?;
    Ok(see_other("/admin/users"))
}
