//! Server-rendered pages. Each handler names the role it needs through its extractor.
mod admin;
mod governance;
mod infra;
mod profile;
mod selfservice;
mod session;
mod sso;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;

use super::error::AppError;
use super::extract::Signed;
use super::views::Layout;
use crate::auth::GroupRole;
use crate::services::{FieldError, accounts};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/teams", web::get().to(teams))
        .configure(session::routes)
        .configure(sso::routes)
        .configure(admin::routes)
        .configure(infra::routes)
        .configure(selfservice::routes)
        .configure(governance::routes)
        .configure(profile::routes);
}

pub(super) fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, AppError> {
    let html = page.render().map_err(AppError::internal)?;
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(html))
}

pub(super) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// Field errors of a form, looked up by field name in templates.
#[derive(Debug, Default)]
pub struct FormErrors(pub Vec<FieldError>);

impl FormErrors {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }
    /// Errors that belong to no field of the form (a conflict, say).
    pub fn general(&self) -> Option<&str> {
        self.get("")
    }
}

/// Turns a service failure into form errors where it is about the input; other errors pass.
pub(super) fn form_errors(e: crate::services::ServiceError) -> Result<FormErrors, AppError> {
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

#[derive(Template, WebTemplate)]
#[template(path = "pages/home.html")]
struct HomePage {
    layout: Layout,
    groups: Vec<GroupRole>,
    is_admin: bool,
    is_manager: bool,
}

async fn home(user: Signed) -> HomePage {
    let p = &user.principal;
    HomePage {
        layout: Layout::for_user(p, &user.ctx.csrf_token, "home", "Home"),
        groups: p.groups.clone(),
        is_admin: p.is_admin,
        is_manager: p.is_manager(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/teams.html")]
struct TeamsPage {
    layout: Layout,
    teams: Vec<accounts::GroupDetail>,
}

/// The groups the caller manages, with their members.
async fn teams(user: Signed, state: web::Data<super::AppState>) -> Result<TeamsPage, AppError> {
    let p = &user.principal;
    if !p.is_manager() {
        return Err(AppError::Forbidden("this page is for group managers: you manage no group".into()));
    }
    let mut teams = Vec::new();
    for g in p.groups.iter().filter(|g| g.role == crate::domain::Role::Manager) {
        teams.push(accounts::group_detail(&state.db, &g.name).await?);
    }
    Ok(TeamsPage { layout: Layout::for_user(p, &user.ctx.csrf_token, "teams", "My teams"), teams })
}
