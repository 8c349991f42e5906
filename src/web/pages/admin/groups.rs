//! `/admin/groups`: the groups and the form that creates one; `/admin/groups/{name}`: one
//! group, its members (added, changed, removed there) and its quota.
use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::number;
use crate::domain::Role;
use crate::domain::quota::Limits;
use crate::services::accounts::{self, GroupDetail, GroupSummary, NewGroupInput};
use crate::services::{FieldError, Page, PageRequest, ServiceError, catalog};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;
use crate::web::pages::{PageQuery, form_errors, layout, render, see_other, urlencode};
use crate::web::views::{FormErrors, Layout, Pager};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/groups", web::get().to(groups))
        .route("/admin/groups", web::post().to(create_group))
        .route("/admin/groups/{name}", web::get().to(group))
        .route("/admin/groups/{name}/members", web::post().to(set_member))
        .route("/admin/groups/{name}/members/{username}/remove", web::post().to(remove_member))
        .route("/admin/groups/{name}/quota", web::post().to(set_quota));
}

// ----- /admin/groups -------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct GroupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Template)]
#[template(path = "pages/admin/groups/index.html")]
struct GroupsPage {
    layout: Layout,
    pager: Pager,
    groups: Page<GroupSummary>,
    form: GroupForm,
    errors: FormErrors,
}

impl GroupsPage {
    async fn build(admin: &Admin, state: &AppState, page: Option<u64>, form: GroupForm, errors: FormErrors) -> Result<Self, AppError> {
        let groups = accounts::list_groups(&state.ctx.db, PageRequest::new(page, None)).await?;
        Ok(Self { layout: layout(&admin.ctx, "groups", "Groups"), pager: Pager::of(&groups, ""), groups, form, errors })
    }
}

async fn groups(admin: Admin, state: web::Data<AppState>, q: web::Query<PageQuery>) -> Result<HttpResponse, AppError> {
    render(StatusCode::OK, &GroupsPage::build(&admin, &state, q.page, GroupForm::default(), FormErrors::default()).await?)
}

async fn create_group(admin: Admin, state: web::Data<AppState>, form: web::Form<GroupForm>) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let input = NewGroupInput { name: form.name.clone(), description: Some(form.description.clone()) };
    match accounts::create_group(&state.ctx.db, &admin.principal.username, input).await {
        Ok(g) => Ok(see_other(&format!("/admin/groups/{}", urlencode(&g.name)))),
        Err(e) => {
            let errors = form_errors(e)?;
            render(StatusCode::UNPROCESSABLE_ENTITY, &GroupsPage::build(&admin, &state, None, form, errors).await?)
        }
    }
}

// ----- /admin/groups/{name} ------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct MemberForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
}

#[derive(Template)]
#[template(path = "pages/admin/groups/show.html")]
struct GroupPage {
    layout: Layout,
    group: GroupDetail,
    quota: Limits,
    form: MemberForm,
    errors: FormErrors,
}

impl GroupPage {
    async fn build(admin: &Admin, state: &AppState, name: &str, form: MemberForm, errors: FormErrors) -> Result<Self, AppError> {
        let group = accounts::group_detail(&state.ctx.db, name).await?;
        let quota = quota_of(state, name).await?;
        Ok(Self { layout: layout(&admin.ctx, "groups", &group.name), group, quota, form, errors })
    }
}

async fn quota_of(state: &AppState, group: &str) -> Result<Limits, AppError> {
    let g = accounts::find_group(&state.ctx.db, group).await?.ok_or_else(|| AppError::NotFound(format!("no group `{group}`")))?;
    Ok(catalog::limits_of(&state.ctx.db, g.id, state.ctx.default_quota).await?)
}

async fn group(admin: Admin, state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, AppError> {
    let form = MemberForm { username: String::new(), role: Role::Member.as_str().into() };
    render(StatusCode::OK, &GroupPage::build(&admin, &state, &name, form, FormErrors::default()).await?)
}

async fn set_member(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
    form: web::Form<MemberForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let result = match form.role.parse::<Role>() {
        Ok(role) => accounts::set_membership(&state.ctx.db, &admin.principal.username, &name, &form.username, role).await.map(|_| ()),
        Err(e) => Err(ServiceError::Invalid(vec![FieldError::new("role", e.0)])),
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/admin/groups/{}", urlencode(&name)))),
        Err(e) => {
            let errors = form_errors(e)?;
            render(StatusCode::UNPROCESSABLE_ENTITY, &GroupPage::build(&admin, &state, &name, form, errors).await?)
        }
    }
}

async fn remove_member(admin: Admin, state: web::Data<AppState>, path: web::Path<(String, String)>) -> Result<HttpResponse, AppError> {
    let (name, username) = path.into_inner();
    accounts::remove_membership(&state.ctx.db, &admin.principal.username, &name, &username).await?;
    Ok(see_other(&format!("/admin/groups/{}", urlencode(&name))))
}

#[derive(Deserialize)]
struct QuotaForm {
    #[serde(default)]
    max_containers: String,
    #[serde(default)]
    max_memory_mb: String,
    #[serde(default)]
    max_cpus: String,
}

/// The quota form of the group page; a value that is not a number answers 422 (the error page).
async fn set_quota(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
    form: web::Form<QuotaForm>,
) -> Result<HttpResponse, AppError> {
    let f = form.into_inner();
    let values: BTreeMap<String, String> =
        [("max_containers", &f.max_containers), ("max_memory_mb", &f.max_memory_mb), ("max_cpus", &f.max_cpus)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
    let mut errors = Vec::new();
    let limits = Limits {
        max_containers: number(&values, "max_containers", &mut errors),
        max_memory_mb: number(&values, "max_memory_mb", &mut errors),
        max_cpus: number(&values, "max_cpus", &mut errors),
    };
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors).into());
    }
    catalog::set_quota(&state.ctx.db, &admin.principal.username, &name, limits).await?;
    Ok(see_other(&format!("/admin/groups/{name}")))
}
