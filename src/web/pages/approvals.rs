//! `/approvals`: the requests waiting on the caller's decision; `/approvals/link/{token}`: the
//! confirmation page an approval mail's approve or reject link opens (login first; the POST of
//! its form decides, never the GET). The token stays out of the access log
//! (`middleware::AccessLog`) and out of the `Referer` of the page's links.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::requests::{ExplainView, LevelView, explain_of, levels_of};
use super::{PageQuery, layout, render, see_other};
use crate::domain::states::RequestStatus;
use crate::services::notify::links::ApproveLink;
use crate::services::requests::{self, RequestView};
use crate::services::{PageRequest, ServiceError};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Signed;
use crate::web::views::{Layout, Pager};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/approvals", web::get().to(approvals_page))
        .route("/approvals/link/{token}", web::get().to(link_page))
        .route("/approvals/link/{token}", web::post().to(link_decide));
}

#[derive(Template)]
#[template(path = "pages/approvals.html")]
struct ApprovalsPage {
    layout: Layout,
    pager: Pager,
    /// Each request waiting, with its inputs as table rows.
    inbox: Vec<(RequestView, Vec<(String, String)>)>,
}

async fn approvals_page(user: Signed, state: web::Data<AppState>, q: web::Query<PageQuery>) -> Result<HttpResponse, AppError> {
    let page = requests::inbox(&state.ctx, &user.principal, PageRequest::new(q.page, None)).await?;
    let pager = Pager::of(&page, "");
    let inbox = page
        .items
        .into_iter()
        .map(|r| {
            let inputs = super::input_rows(&r.inputs);
            (r, inputs)
        })
        .collect();
    render(StatusCode::OK, &ApprovalsPage { layout: layout(&user.ctx, "approvals", "Approvals"), pager, inbox })
}

#[derive(Template)]
#[template(path = "pages/approval_link.html")]
struct LinkPage {
    layout: Layout,
    r: Option<RequestView>,
    /// The request's inputs, as table rows.
    inputs: Vec<(String, String)>,
    explain: Option<ExplainView>,
    levels: Vec<LevelView>,
    approve: bool,
    action: String,
    /// Why the link cannot decide (anymore).
    refused: Option<String>,
    error: Option<String>,
}

/// The link, checked for the caller: `Err((status, why))` when it is not theirs or not readable.
fn link_for(state: &AppState, user: &Signed, token: &str) -> Result<ApproveLink, (StatusCode, String)> {
    let link = ApproveLink::read(&state.ctx.sealer, token).map_err(|why| (StatusCode::BAD_REQUEST, why.to_string()))?;
    if link.user_id != user.principal.user_id {
        return Err((
            StatusCode::FORBIDDEN,
            format!("This link was sent to another account; you are logged in as {}. Log out and open it again.", user.principal.username),
        ));
    }
    Ok(link)
}

/// Why `r` cannot be decided by `link` for `user` now, if it cannot.
fn refusal(r: &RequestView, link: &ApproveLink, user: &Signed) -> Option<String> {
    let decided = r.approvals.iter().find(|a| a.level == link.level + 1 && a.approver == user.principal.username);
    if let Some(a) = decided {
        return Some(format!(
            "You already decided level {} ({}): the link was used, or you decided another way.",
            a.level,
            a.decision.label()
        ));
    }
    if r.status != RequestStatus::PendingApproval || r.level != link.level + 1 {
        return Some(format!("Level {} is over: the request is {} now.", link.level + 1, r.status.label()));
    }
    if !r.waiting_on.contains(&user.principal.username) {
        return Some(format!("Level {} no longer waits on you.", link.level + 1));
    }
    None
}

async fn show_link(
    state: &AppState,
    user: &Signed,
    token: &str,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let page = |r: Option<RequestView>, approve: bool, refused: Option<String>, error: Option<String>| LinkPage {
        layout: layout(&user.ctx, "approvals", "Approval link"),
        explain: r.as_ref().map(explain_of),
        inputs: r.as_ref().map(|r| super::input_rows(&r.inputs)).unwrap_or_default(),
        levels: r.as_ref().map(levels_of).unwrap_or_default(),
        r,
        approve,
        action: format!("/approvals/link/{token}"),
        refused,
        error,
    };
    let link = match link_for(state, user, token) {
        Ok(l) => l,
        Err((code, why)) => return render(code, &page(None, false, Some(why), None)),
    };
    let r = match requests::get(&state.ctx, &user.principal, &link.request_id).await {
        Ok(r) => r,
        Err(ServiceError::NotFound(_)) => {
            return render(StatusCode::NOT_FOUND, &page(None, link.approve, Some("The request of this link is gone.".into()), None));
        }
        Err(e) => return Err(e.into()),
    };
    let refused = refusal(&r, &link, user);
    let status = if refused.is_some() && status == StatusCode::OK { StatusCode::CONFLICT } else { status };
    render(status, &page(Some(r), link.approve, refused, error))
}

async fn link_page(user: Signed, state: web::Data<AppState>, token: web::Path<String>) -> Result<HttpResponse, AppError> {
    show_link(&state, &user, &token, StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct LinkForm {
    #[serde(default)]
    comment: String,
}

async fn link_decide(
    user: Signed,
    state: web::Data<AppState>,
    token: web::Path<String>,
    form: web::Form<LinkForm>,
) -> Result<HttpResponse, AppError> {
    let link = match link_for(&state, &user, &token) {
        Ok(l) => l,
        Err(_) => return show_link(&state, &user, &token, StatusCode::OK, None).await,
    };
    let decided =
        requests::decide_level(&state.ctx, &user.principal, &link.request_id, Some(link.level), link.approve, form.comment.trim()).await;
    match decided {
        Ok(_) => Ok(see_other(&format!("/requests/{}", link.request_id))),
        Err(e @ (ServiceError::Conflict(_) | ServiceError::Invalid(_) | ServiceError::Forbidden(_))) => {
            let msg = AppError::from(e).to_string();
            show_link(&state, &user, &token, StatusCode::CONFLICT, Some(msg)).await
        }
        Err(e) => Err(e.into()),
    }
}
