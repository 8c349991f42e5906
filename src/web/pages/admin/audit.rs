//! `/admin/audit`: the audit log, filtered by actor and action.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};

use crate::services::audit::{self, AuditEntry, AuditFilter};
use crate::services::{Page, PageRequest};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;
use crate::web::pages::{PageQuery, layout, render, urlencode};
use crate::web::views::{Layout, Pager};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/audit", web::get().to(audit_log));
}

use crate::web::views::AuditQuery;

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

async fn audit_log(
    admin: Admin,
    state: web::Data<AppState>,
    page: web::Query<PageQuery>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let filter = AuditFilter { actor: q.actor.clone(), action: q.action.clone(), since: q.since };
    let entries = audit::list(&state.ctx.db, &filter, PageRequest::new(page.page, None)).await?;
    let actor = q.actor.unwrap_or_default();
    let action = q.action.unwrap_or_default();
    let query = format!("actor={}&action={}", urlencode(&actor), urlencode(&action));
    render(
        StatusCode::OK,
        &AuditPage { layout: layout(&admin.ctx, "audit", "Audit log"), pager: Pager::of(&entries, &query), entries, actor, action },
    )
}
