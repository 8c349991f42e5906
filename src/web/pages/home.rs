//! `/`: the start page; `/teams`: the groups a manager manages, with their members.
use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;

use super::layout;
use crate::auth::GroupRole;
use crate::domain::Role;
use crate::services::accounts;
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Signed;
use crate::web::views::Layout;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home)).route("/teams", web::get().to(teams));
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
    HomePage { layout: layout(&user.ctx, "home", "Home"), groups: p.groups.clone(), is_admin: p.is_admin, is_manager: p.is_manager() }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/teams.html")]
struct TeamsPage {
    layout: Layout,
    teams: Vec<accounts::GroupDetail>,
}

/// The groups the caller manages, with their members.
async fn teams(user: Signed, state: web::Data<AppState>) -> Result<TeamsPage, AppError> {
    let p = &user.principal;
    if !p.is_manager() {
        return Err(AppError::Forbidden("this page is for group managers: you manage no group".into()));
    }
    let mut teams = Vec::new();
    for g in p.groups.iter().filter(|g| g.role == Role::Manager) {
        teams.push(accounts::group_detail(&state.ctx.db, &g.name).await?);
    }
    Ok(TeamsPage { layout: layout(&user.ctx, "teams", "My teams"), teams })
}
