//! `/api/v1/audit`: the audit log (admins).
use actix_web::{HttpRequest, HttpResponse, web};

use super::{PageQuery, doc, page_response};
use crate::services::PageRequest;
use crate::services::audit::{self, AuditFilter};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Admin;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(list_audit));
}

use crate::web::views::AuditQuery;

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", description = "The audit log, newest first (admins).", params(("page" = Option<u64>, Query, description = "page, from 1"), ("per_page" = Option<u64>, Query, description = "1 to 200, default 50"), ("actor" = Option<String>, Query), ("action" = Option<String>, Query, description = "an action or its prefix"), ("since" = Option<chrono::DateTime<chrono::Utc>>, Query)), responses((status = 200, body = Vec<crate::services::audit::AuditEntry>), doc::Errors))]
async fn list_audit(
    req: HttpRequest,
    _: Admin,
    state: web::Data<AppState>,
    page: web::Query<PageQuery>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let filter = AuditFilter { actor: q.actor, action: q.action, since: q.since };
    let page = audit::list(&state.ctx.db, &filter, PageRequest::new(page.page, page.per_page)).await?;
    Ok(page_response(&req, page))
}
