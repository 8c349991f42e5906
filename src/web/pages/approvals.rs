//! `/approvals`: the requests waiting on the caller's decision.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{PageQuery, layout, render};
use crate::services::PageRequest;
use crate::services::requests::{self, RequestView};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Signed;
use crate::web::views::{Layout, Pager};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/approvals", web::get().to(approvals_page));
}

#[derive(Template)]
#[template(path = "pages/approvals.html")]
struct ApprovalsPage {
    layout: Layout,
    pager: Pager,
    inbox: Vec<RequestView>,
}

async fn approvals_page(user: Signed, state: web::Data<AppState>, q: web::Query<PageQuery>) -> Result<HttpResponse, AppError> {
    let page = requests::inbox(&state.ctx, &user.principal, PageRequest::new(q.page, None)).await?;
    let pager = Pager::of(&page, "");
    render(StatusCode::OK, &ApprovalsPage { layout: layout(&user.ctx, "approvals", "Approvals"), pager, inbox: page.items })
}
