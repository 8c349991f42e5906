//! Admin pages: users, groups and memberships, and the audit log.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{FormErrors, form_errors, render, see_other};
use crate::domain::{Role, Secret};
use crate::services::accounts::{self, GroupDetail, GroupSummary, NewGroupInput, NewUserInput, UserView};
use crate::services::audit::{self, AuditEntry, AuditFilter};
use crate::services::{FieldError, Page, PageRequest};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;
use crate::web::views::{Layout, Pager};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/users", web::get().to(users))
        .route("/admin/users", web::post().to(create_user))
        .route("/admin/settings/local-login", web::post().to(local_login))
        .route("/admin/groups", web::get().to(groups))
        .route("/admin/groups", web::post().to(create_group))
        .route("/admin/groups/{name}", web::get().to(group))
        .route("/admin/groups/{name}/members", web::post().to(set_member))
        .route("/admin/groups/{name}/members/{username}/remove", web::post().to(remove_member))
        .route("/admin/audit", web::get().to(audit_log));
}

#[derive(Deserialize)]
struct ListQuery {
    page: Option<u64>,
    created: Option<String>,
}

// ----- users --------------------------------------------------------------------------------

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

async fn users(admin: Admin, state: web::Data<AppState>, q: web::Query<ListQuery>) -> Result<HttpResponse, AppError> {
    let users = accounts::list_users(&state.db, PageRequest::new(q.page, None)).await?;
    render(
        StatusCode::OK,
        &UsersPage {
            local_login: accounts::local_login_enabled(&state.db).await?,
            layout: Layout::for_user(&admin.principal, &admin.ctx.csrf_token, "users", "Users"),
            pager: Pager::of(&users, ""),
            users,
            form: UserForm::default(),
            errors: FormErrors::default(),
            created: q.created.clone(),
        },
    )
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
    match accounts::create_user(&state.db, &admin.principal.username, input).await {
        Ok(u) => Ok(see_other(&format!("/admin/users?created={}", urlencode(&u.username)))),
        Err(e) => {
            let errors = form_errors(e)?;
            let users = accounts::list_users(&state.db, PageRequest::new(None, None)).await?;
            // The password is never sent back to the browser.
            let form = UserForm { password: String::new(), ..form };
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &UsersPage {
                    local_login: accounts::local_login_enabled(&state.db).await?,
                    layout: Layout::for_user(&admin.principal, &admin.ctx.csrf_token, "users", "Users"),
                    pager: Pager::of(&users, ""),
                    users,
                    form,
                    errors,
                    created: None,
                },
            )
        }
    }
}

#[derive(Deserialize)]
struct LocalLoginForm {
    enabled: String,
}

async fn local_login(admin: Admin, state: web::Data<AppState>, form: web::Form<LocalLoginForm>) -> Result<HttpResponse, AppError> {
    accounts::set_local_login(&state.db, &admin.principal.username, form.enabled == "true").await?;
    Ok(see_other("/admin/users"))
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ----- groups -------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct GroupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Template)]
#[template(path = "pages/admin/groups.html")]
struct GroupsPage {
    layout: Layout,
    pager: Pager,
    groups: Page<GroupSummary>,
    form: GroupForm,
    errors: FormErrors,
}

async fn groups(admin: Admin, state: web::Data<AppState>, q: web::Query<ListQuery>) -> Result<HttpResponse, AppError> {
    let groups = accounts::list_groups(&state.db, PageRequest::new(q.page, None)).await?;
    render(
        StatusCode::OK,
        &GroupsPage {
            layout: Layout::for_user(&admin.principal, &admin.ctx.csrf_token, "groups", "Groups"),
            pager: Pager::of(&groups, ""),
            groups,
            form: GroupForm::default(),
            errors: FormErrors::default(),
        },
    )
}

async fn create_group(admin: Admin, state: web::Data<AppState>, form: web::Form<GroupForm>) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let input = NewGroupInput { name: form.name.clone(), description: Some(form.description.clone()) };
    match accounts::create_group(&state.db, &admin.principal.username, input).await {
        Ok(g) => Ok(see_other(&format!("/admin/groups/{}", urlencode(&g.name)))),
        Err(e) => {
            let errors = form_errors(e)?;
            let groups = accounts::list_groups(&state.db, PageRequest::new(None, None)).await?;
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &GroupsPage {
                    layout: Layout::for_user(&admin.principal, &admin.ctx.csrf_token, "groups", "Groups"),
                    pager: Pager::of(&groups, ""),
                    groups,
                    form,
                    errors,
                },
            )
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct MemberForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
}

#[derive(Template)]
#[template(path = "pages/admin/group.html")]
struct GroupPage {
    layout: Layout,
    group: GroupDetail,
    quota: crate::domain::quota::Limits,
    form: MemberForm,
    errors: FormErrors,
}

async fn group(admin: Admin, state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, AppError> {
    let group = accounts::group_detail(&state.db, &name).await?;
    let quota = quota_of(&state, &name).await?;
    render(
        StatusCode::OK,
        &GroupPage {
            layout: Layout::for_user(&admin.principal, &admin.ctx.csrf_token, "groups", &group.name),
            group,
            quota,
            form: MemberForm { username: String::new(), role: crate::domain::Role::Member.as_str().into() },
            errors: FormErrors::default(),
        },
    )
}

async fn set_member(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
    form: web::Form<MemberForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let result = match form.role.parse::<Role>() {
        Ok(role) => accounts::set_membership(&state.db, &admin.principal.username, &name, &form.username, role).await.map(|_| ()),
        Err(e) => Err(crate::services::ServiceError::Invalid(vec![FieldError::new("role", e.0)])),
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/admin/groups/{}", urlencode(&name)))),
        Err(e) => {
            let errors = form_errors(e)?;
            let group = accounts::group_detail(&state.db, &name).await?;
            let quota = quota_of(&state, &name).await?;
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &GroupPage {
                    layout: Layout::for_user(&admin.principal, &admin.ctx.csrf_token, "groups", &group.name),
                    group,
                    quota,
                    form,
                    errors,
                },
            )
        }
    }
}

async fn quota_of(state: &AppState, group: &str) -> Result<crate::domain::quota::Limits, AppError> {
    let g = accounts::find_group(&state.db, group).await?.ok_or_else(|| AppError::NotFound(format!("no group `{group}`")))?;
    Ok(crate::services::catalog::limits_of(&state.db, g.id).await?)
}

async fn remove_member(admin: Admin, state: web::Data<AppState>, path: web::Path<(String, String)>) -> Result<HttpResponse, AppError> {
    let (name, username) = path.into_inner();
    accounts::remove_membership(&state.db, &admin.principal.username, &name, &username).await?;
    Ok(see_other(&format!("/admin/groups/{}", urlencode(&name))))
}

// ----- audit --------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    page: Option<u64>,
    actor: Option<String>,
    action: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/admin/audit.html")]
struct AuditPage {
    layout: Layout,
    pager: Pager,
    entries: Page<AuditEntry>,
    actor: String,
    action: String,
}

impl AuditPage {
    fn when(&self, at: &DateTime<Utc>) -> String {
        at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }
}

async fn audit_log(admin: Admin, state: web::Data<AppState>, q: web::Query<AuditQuery>) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let filter = AuditFilter { actor: q.actor.clone(), action: q.action.clone(), since: None };
    let entries = audit::list(&state.db, &filter, PageRequest::new(q.page, None)).await?;
    let actor = q.actor.unwrap_or_default();
    let action = q.action.unwrap_or_default();
    let query = format!("actor={}&action={}", urlencode(&actor), urlencode(&action));
    render(
        StatusCode::OK,
        &AuditPage {
            layout: Layout::for_user(&admin.principal, &admin.ctx.csrf_token, "audit", "Audit log"),
            pager: Pager::of(&entries, &query),
            entries,
            actor,
            action,
        },
    )
}
