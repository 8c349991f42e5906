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
use crate::services::deployments::{self, DeploymentFilter, DeploymentSummary, DeploymentView, HistoryEntry};
use crate::services::requests::{self, day2::Allowed};
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
    allowed: Allowed,
    history: Vec<HistoryEntry>,
    /// The blueprint links to its admin page (admins' view).
    link_blueprint: bool,
    failed: bool,
    expired: bool,
    /// Time left on the lease, in words (`3 days 4 hours`), when it has not ended.
    lease_left: Option<String>,
    /// Destroy was asked for: the page asks to confirm.
    pub(super) confirm_destroy: bool,
    error: Option<String>,
    /// Where the list and the actions are: `/admin/deployments` or `/deployments`.
    base: &'static str,
}

fn time_left(until: chrono::DateTime<chrono::Utc>) -> Option<String> {
    let left = until - chrono::Utc::now();
    if left <= chrono::Duration::zero() {
        return None;
    }
    let (d, h, m) = (left.num_days(), left.num_hours() % 24, left.num_minutes() % 60);
    Some(match (d, h) {
        (0, 0) => format!("{m} minute(s)"),
        (0, h) => format!("{h} hour(s) {m} minute(s)"),
        (d, h) => format!("{d} day(s) {h} hour(s)"),
    })
}

impl DeploymentPage {
    pub(super) fn new(
        ctx: &AuthContext,
        d: DeploymentView,
        allowed: Allowed,
        history: Vec<HistoryEntry>,
        error: Option<String>,
        area: Area,
    ) -> Self {
        let outputs = d.outputs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let busy = d.status.has_job() || d.progress.is_some();
        Self {
            layout: layout(ctx, area.section(), &d.name),
            outputs,
            busy,
            failed: d.status == DeploymentStatus::Failed,
            expired: d.status == DeploymentStatus::Expired,
            lease_left: d.lease_expires_at.and_then(time_left),
            confirm_destroy: false,
            d,
            allowed,
            history,
            link_blueprint: area == Area::Admin,
            error,
            base: area.base(),
        }
    }
}

/// The deployment page for `principal`, with what it may do and its history.
pub(super) async fn page_for(
    state: &AppState,
    ctx: &AuthContext,
    principal: &crate::auth::Principal,
    d: DeploymentView,
    error: Option<String>,
    area: Area,
) -> Result<DeploymentPage, AppError> {
    let allowed = requests::day2::allowed(&state.ctx, principal, &d.id).await?;
    let history = deployments::history(&state.ctx.db, principal, &d.id).await?;
    Ok(DeploymentPage::new(ctx, d, allowed, history, error, area))
}

async fn show_deployment(
    user: &Signed,
    state: &AppState,
    id: &str,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let d = deployments::get_for(&state.ctx, &user.principal, id).await?;
    render(status, &page_for(state, &user.ctx, &user.principal, d, error, Area::Own).await?)
}

async fn deployment_page(user: Signed, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    show_deployment(&user, &state, &id, StatusCode::OK, None).await
}

/// An action asked for from the page. Numbers come as text (empty: not given).
#[derive(Deserialize)]
pub(super) struct ActionForm {
    pub(super) action: String,
    #[serde(default)]
    pub(super) component: String,
    #[serde(default)]
    pub(super) days: String,
    #[serde(default)]
    pub(super) replicas: String,
    /// `yes` once a destroy was confirmed.
    #[serde(default)]
    pub(super) confirmed: String,
}

/// What came of a form: a request made, a destroy to confirm, or a refusal to show.
pub(super) enum Acted {
    Requested,
    Confirm,
    Refused(StatusCode, String),
}

pub(super) async fn act_from_form(
    state: &AppState,
    principal: &crate::auth::Principal,
    id: &str,
    form: ActionForm,
) -> Result<Acted, AppError> {
    if form.action == "destroy" && form.confirmed != "yes" {
        return Ok(Acted::Confirm);
    }
    let number = |field: &str, raw: &str| -> Result<Option<i64>, AppError> {
        match raw.trim() {
            "" => Ok(None),
            t => t.parse().map(Some).map_err(|_| ServiceError::invalid(field, format!("`{t}` is not a whole number")).into()),
        }
    };
    let input = (|| -> Result<requests::ActionInput, AppError> {
        Ok(requests::ActionInput {
            action: form.action.clone(),
            component: Some(form.component.trim().to_string()).filter(|c| !c.is_empty()),
            days: number("days", &form.days)?,
            replicas: number("replicas", &form.replicas)?,
            reason: None,
        })
    })();
    let result = match input {
        Ok(input) => requests::submit_action(&state.ctx, principal, id, input).await.map_err(AppError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Acted::Requested),
        Err(e @ (AppError::Conflict(_) | AppError::Invalid { .. } | AppError::Forbidden(_))) => {
            use actix_web::ResponseError;
            Ok(Acted::Refused(e.status_code(), e.to_string()))
        }
        Err(e) => Err(e),
    }
}

async fn deployment_action(
    user: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, AppError> {
    match act_from_form(&state, &user.principal, &id, form.into_inner()).await? {
        Acted::Requested => Ok(see_other(&format!("/deployments/{id}"))),
        Acted::Confirm => {
            let d = deployments::get_for(&state.ctx, &user.principal, &id).await?;
            let mut page = page_for(&state, &user.ctx, &user.principal, d, None, Area::Own).await?;
            page.confirm_destroy = true;
            render(StatusCode::OK, &page)
        }
        Acted::Refused(status, message) => show_deployment(&user, &state, &id, status, Some(message)).await,
    }
}
