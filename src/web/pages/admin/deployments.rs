//! `/admin/deployments`: every deployment, filtered by status; `/admin/deployments/{id}`: one
//! deployment (the page `/deployments/{id}` shows, seen from the admin's side) and its actions.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::states::DeploymentStatus;
use crate::services::deployments::{self, DeploymentFilter, DeploymentSummary};
use crate::services::{Page, PageRequest, ServiceError};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;
use crate::web::pages::deployments::{Acted, ActionForm, Area, act_from_form, page_for};
use crate::web::pages::{PageQuery, layout, render, see_other, urlencode};
use crate::web::views::{Layout, Pager};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/deployments", web::get().to(deployment_list))
        .route("/admin/deployments/{id}", web::get().to(deployment_page))
        .route("/admin/deployments/{id}/actions", web::post().to(deployment_action))
        .route("/admin/deployments/{id}/owner", web::post().to(deployment_owner))
        .route("/admin/console-sessions/{id}", web::get().to(console_session_page));
}

#[derive(Template)]
#[template(path = "pages/admin/console_session.html")]
struct ConsoleSessionPage {
    layout: Layout,
    s: crate::services::observe::console::SessionView,
    /// The deployment's page.
    back: String,
    /// The transcript with terminal control sequences taken out.
    text: Option<String>,
}

/// A console session: who, where, when, bytes each way, and what the shell printed when recorded.
async fn console_session_page(admin: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let s = crate::services::observe::console::get(&state.ctx, &id).await?;
    let text = s.transcript.as_deref().map(crate::domain::strip_terminal_codes);
    render(
        StatusCode::OK,
        &ConsoleSessionPage {
            layout: layout(&admin.ctx, "all-deployments", "Console session"),
            back: format!("/admin/deployments/{}", s.deployment_id),
            s,
            text,
        },
    )
}

#[derive(Deserialize)]
struct OwnerForm {
    #[serde(default)]
    owner: String,
}

/// Gives the deployment to another owner (the deployments of someone who left).
async fn deployment_owner(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<OwnerForm>,
) -> Result<HttpResponse, AppError> {
    match deployments::give_to(&state.ctx, &admin.principal, &id, form.owner.trim()).await {
        Ok(_) => Ok(see_other(&format!("/admin/deployments/{id}"))),
        Err(e @ ServiceError::Invalid(_)) => {
            let message = AppError::from(e).to_string();
            show_deployment(&admin, &state, &id, StatusCode::UNPROCESSABLE_ENTITY, Some(message)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct StatusQuery {
    status: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/admin/deployments.html")]
struct DeploymentsPage {
    layout: Layout,
    pager: Pager,
    deployments: Page<DeploymentSummary>,
    /// The status filter, as typed (empty: any).
    status: String,
    statuses: &'static [DeploymentStatus],
}

async fn deployment_list(
    admin: Admin,
    state: web::Data<AppState>,
    page: web::Query<PageQuery>,
    q: web::Query<StatusQuery>,
) -> Result<HttpResponse, AppError> {
    let status = q.into_inner().status.unwrap_or_default();
    let filter = DeploymentFilter { status: DeploymentFilter::parse_status(Some(&status))?, ..Default::default() };
    let deployments = deployments::list(&state.ctx.db, &admin.principal, &filter, PageRequest::new(page.page, None)).await?;
    let query = format!("status={}", urlencode(&status));
    render(
        StatusCode::OK,
        &DeploymentsPage {
            layout: layout(&admin.ctx, "all-deployments", "Deployments"),
            pager: Pager::of(&deployments, &query),
            deployments,
            status,
            statuses: DeploymentStatus::ALL,
        },
    )
}

async fn show_deployment(
    admin: &Admin,
    state: &AppState,
    id: &str,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let d = deployments::get(&state.ctx, id).await?;
    render(status, &page_for(state, &admin.ctx, &admin.principal, d, error, Area::Admin).await?)
}

async fn deployment_page(admin: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    show_deployment(&admin, &state, &id, StatusCode::OK, None).await
}

async fn deployment_action(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, AppError> {
    match act_from_form(&state, &admin.principal, &id, form.into_inner()).await? {
        Acted::Requested => Ok(see_other(&format!("/admin/deployments/{id}"))),
        Acted::Confirm => {
            let d = deployments::get(&state.ctx, &id).await?;
            let mut page = page_for(&state, &admin.ctx, &admin.principal, d, None, Area::Admin).await?;
            page.confirm_destroy = true;
            render(StatusCode::OK, &page)
        }
        Acted::Refused(status, message) => show_deployment(&admin, &state, &id, status, Some(message)).await,
    }
}
