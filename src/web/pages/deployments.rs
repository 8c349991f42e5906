//! `/deployments`: the caller's deployments (and their groups' for managers);
//! `/deployments/{id}`: one deployment and its day-2 actions. The deployment page itself is
//! shared with `/admin/deployments/{id}`.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{PageQuery, layout, render, see_other};
use crate::auth::AuthContext;
use crate::domain::states::DeploymentStatus;
use crate::services::deployments::{self, Allowed, DeploymentFilter, DeploymentSummary, DeploymentView};
use crate::services::{Page, PageRequest, ServiceError};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Signed;
use crate::web::views::{Layout, Pager};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/deployments", web::get().to(deployment_list))
        .route("/deployments/{id}", web::get().to(deployment_page))
        .route("/deployments/{id}/actions", web::post().to(deployment_action));
}

#[derive(Template)]
#[template(path = "pages/deployments/index.html")]
struct DeploymentsPage {
    layout: Layout,
    pager: Pager,
    deployments: Page<DeploymentSummary>,
}

async fn deployment_list(user: Signed, state: web::Data<AppState>, q: web::Query<PageQuery>) -> Result<HttpResponse, AppError> {
    let deployments =
        deployments::list(&state.ctx.db, &user.principal, &DeploymentFilter::default(), PageRequest::new(q.page, None)).await?;
    render(
        StatusCode::OK,
        &DeploymentsPage { layout: layout(&user.ctx, "deployments", "My deployments"), pager: Pager::of(&deployments, ""), deployments },
    )
}

/// Where a deployment is seen from: its owner's pages or the admin's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Area {
    /// `/deployments`
    Own,
    /// `/admin/deployments`
    Admin,
}

impl Area {
    /// Where the list and the actions are.
    fn base(self) -> &'static str {
        match self {
            Area::Own => "/deployments",
            Area::Admin => "/admin/deployments",
        }
    }
    fn section(self) -> &'static str {
        match self {
            Area::Own => "deployments",
            Area::Admin => "all-deployments",
        }
    }
}

#[derive(Template)]
#[template(path = "pages/deployments/show.html")]
pub(super) struct DeploymentPage {
    layout: Layout,
    d: DeploymentView,
    outputs: Vec<(String, String)>,
    busy: bool,
    /// What the caller may do now (entitlement and state both checked).
    can_destroy: bool,
    can_retry: bool,
    /// The blueprint links to its admin page (admins' view).
    link_blueprint: bool,
    failed: bool,
    error: Option<String>,
    /// Where the list and the actions are: `/admin/deployments` or `/deployments`.
    base: &'static str,
}

impl DeploymentPage {
    pub(super) fn new(ctx: &AuthContext, d: DeploymentView, allowed: Allowed, error: Option<String>, area: Area) -> Self {
        let outputs = d.outputs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let busy = d.status.has_job();
        let failed = d.status == DeploymentStatus::Failed;
        Self {
            layout: layout(ctx, area.section(), &d.name),
            d,
            outputs,
            busy,
            can_destroy: allowed.destroy,
            can_retry: allowed.retry,
            link_blueprint: area == Area::Admin,
            failed,
            error,
            base: area.base(),
        }
    }
}

async fn show_deployment(
    user: &Signed,
    state: &AppState,
    id: &str,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let d = deployments::get_for(&state.ctx, &user.principal, id).await?;
    let allowed = deployments::allowed(&state.ctx, &user.principal, &d).await?;
    render(status, &DeploymentPage::new(&user.ctx, d, allowed, error, Area::Own))
}

async fn deployment_page(user: Signed, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    show_deployment(&user, &state, &id, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub(super) struct ActionForm {
    pub(super) action: String,
}

async fn deployment_action(
    user: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, AppError> {
    match deployments::act_for(&state.ctx, &user.principal, &id, &form.action).await {
        Ok(_) => Ok(see_other(&format!("/deployments/{id}"))),
        Err(e @ (ServiceError::Conflict(_) | ServiceError::Invalid(_))) => {
            let msg = AppError::from(e).to_string();
            show_deployment(&user, &state, &id, StatusCode::CONFLICT, Some(msg)).await
        }
        Err(e) => Err(e.into()),
    }
}
