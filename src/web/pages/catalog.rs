//! The developer's and the manager's pages: the catalog, request forms, requests with their
//! live timeline, the approvals inbox, and their deployments.
use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::infra::DeploymentPage;
use super::{FormErrors, form_errors, render, see_other};
use crate::services::catalog::{self, CatalogEntry};
use crate::services::deployments::{self, DeploymentFilter, DeploymentSummary};
use crate::domain::states::RequestStatus;
use crate::services::requests::{self, NewRequest, RequestSummary, RequestView};
use crate::services::{Page, PageRequest, ServiceError, blueprints};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Signed;
use crate::web::views::{InputField, Layout, Pager};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/catalog", web::get().to(catalog_page))
        .route("/catalog/{item}", web::get().to(request_form))
        .route("/catalog/{item}", web::post().to(request_submit))
        .route("/requests", web::get().to(request_list))
        .route("/requests/{id}", web::get().to(request_page))
        .route("/requests/{id}/events", web::get().to(request_events))
        .route("/requests/{id}/decide", web::post().to(request_decide))
        .route("/requests/{id}/cancel", web::post().to(request_cancel))
        .route("/approvals", web::get().to(approvals_page))
        .route("/deployments", web::get().to(deployment_list))
        .route("/deployments/{id}", web::get().to(deployment_page))
        .route("/deployments/{id}/actions", web::post().to(deployment_action));
}

fn layout(user: &Signed, section: &'static str, title: &str) -> Layout {
    Layout::for_user(&user.principal, &user.ctx.csrf_token, section, title)
}

// ----- catalog ------------------------------------------------------------------------------

#[derive(Deserialize)]
struct CatalogQuery {
    q: Option<String>,
    category: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/catalog/index.html")]
struct CatalogPage {
    layout: Layout,
    entries: Vec<CatalogEntry>,
    categories: Vec<String>,
    q: String,
    category: String,
}

async fn catalog_page(user: Signed, state: web::Data<AppState>, q: web::Query<CatalogQuery>) -> Result<HttpResponse, AppError> {
    let all = catalog::catalog_for(&state.ctx, &user.principal).await?;
    let mut categories: Vec<String> = all.iter().map(|e| e.item.category.clone()).collect();
    categories.sort();
    categories.dedup();
    let search = q.q.clone().unwrap_or_default().trim().to_lowercase();
    let category = q.category.clone().unwrap_or_default();
    let entries = all
        .into_iter()
        .filter(|e| category.is_empty() || e.item.category == category)
        .filter(|e| search.is_empty() || format!("{} {} {}", e.item.name, e.item.description, e.item.id).to_lowercase().contains(&search))
        .collect();
    render(StatusCode::OK, &CatalogPage { layout: layout(&user, "catalog", "Catalog"), entries, categories, q: search, category })
}

#[derive(Template)]
#[template(path = "pages/catalog/request.html")]
struct RequestForm {
    layout: Layout,
    entry: CatalogEntry,
    fields: Vec<InputField>,
    group: String,
    lease_days: String,
    reason: String,
    errors: FormErrors,
}

async fn entry_for(state: &AppState, user: &Signed, item: &str) -> Result<CatalogEntry, AppError> {
    catalog::catalog_for(&state.ctx, &user.principal)
        .await?
        .into_iter()
        .find(|e| e.item.id == item)
        .ok_or_else(|| AppError::NotFound(format!("no catalog item `{item}` that your groups may request")))
}

async fn fields_for(
    state: &AppState,
    entry: &CatalogEntry,
    given: &BTreeMap<String, String>,
    errors: &FormErrors,
) -> Result<Vec<InputField>, AppError> {
    let (bp, _) = blueprints::load(&state.ctx, &entry.item.blueprint, entry.item.blueprint_version).await?;
    Ok(bp
        .inputs
        .iter()
        .map(|i| {
            InputField::for_spec(i, given.get(&i.name).map(String::as_str), errors.get(&format!("inputs.{}", i.name)).map(str::to_string))
        })
        .collect())
}

async fn request_form(user: Signed, state: web::Data<AppState>, item: web::Path<String>) -> Result<HttpResponse, AppError> {
    let entry = entry_for(&state, &user, &item).await?;
    let fields = fields_for(&state, &entry, &BTreeMap::new(), &FormErrors::default()).await?;
    let group = entry.groups.first().cloned().unwrap_or_default();
    let lease_days = entry.item.lease.default_days.to_string();
    render(
        StatusCode::OK,
        &RequestForm {
            layout: layout(&user, "catalog", &entry.item.name),
            entry,
            fields,
            group,
            lease_days,
            reason: String::new(),
            errors: FormErrors::default(),
        },
    )
}

async fn request_submit(
    user: Signed,
    state: web::Data<AppState>,
    item: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let entry = entry_for(&state, &user, &item).await?;
    let mut given = BTreeMap::new();
    let (mut group, mut lease_days, mut reason) = (String::new(), String::new(), String::new());
    for (k, v) in form.into_inner() {
        match k.as_str() {
            "group" => group = v,
            "lease_days" => lease_days = v,
            "reason" => reason = v,
            _ => {
                if let Some(name) = k.strip_prefix("input.") {
                    given.insert(name.to_string(), v);
                }
            }
        }
    }
    let lease = match lease_days.trim() {
        "" => Ok(None),
        s => s.parse::<i32>().map(Some).map_err(|_| ServiceError::invalid("lease_days", format!("`{s}` is not a number of days"))),
    };
    let result = match lease {
        Ok(lease) => {
            let inputs = given.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            let input = NewRequest {
                catalog_item: entry.item.id.clone(),
                group: group.clone(),
                inputs,
                lease_days: lease,
                reason: Some(reason.clone()),
            };
            requests::submit(&state.ctx, &user.principal, input).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => Ok(see_other(&format!("/requests/{}", r.id))),
        Err(e) => {
            let status = match &e {
                ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
                ServiceError::OverQuota(_) => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let errors = form_errors(e)?;
            let fields = fields_for(&state, &entry, &given, &errors).await?;
            render(
                status,
                &RequestForm { layout: layout(&user, "catalog", &entry.item.name), entry, fields, group, lease_days, reason, errors },
            )
        }
    }
}

// ----- requests -----------------------------------------------------------------------------

#[derive(Deserialize)]
struct PageQuery {
    page: Option<u64>,
}

#[derive(Template)]
#[template(path = "pages/requests/index.html")]
struct RequestsPage {
    layout: Layout,
    pager: Pager,
    requests: Page<RequestSummary>,
}

async fn request_list(user: Signed, state: web::Data<AppState>, q: web::Query<PageQuery>) -> Result<HttpResponse, AppError> {
    let requests = requests::list(&state.db, &user.principal, PageRequest::new(q.page, None)).await?;
    render(StatusCode::OK, &RequestsPage { layout: layout(&user, "requests", "Requests"), pager: Pager::of(&requests, ""), requests })
}

#[derive(Template)]
#[template(path = "pages/requests/show.html")]
struct RequestPage {
    layout: Layout,
    r: RequestView,
    explain: ExplainView,
    levels: Vec<LevelView>,
    can_decide: bool,
    can_cancel: bool,
    last_event: i64,
    live: bool,
    error: Option<String>,
}

/// The request's `explain`, read for the page.
struct ExplainView {
    via: String,
    auto_approved: bool,
    policy: String,
    condition: Option<String>,
    why: String,
    skipped: Vec<(String, String)>,
}

fn explain_of(r: &RequestView) -> ExplainView {
    let e = &r.explain;
    ExplainView {
        via: e.entitlement.via.clone(),
        auto_approved: e.auto_approved,
        policy: e.policy.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
        condition: e.policy.as_ref().and_then(|p| p.matched.condition.clone()),
        why: e.policy.as_ref().map(|p| p.matched.why.clone()).unwrap_or_default(),
        skipped: e.skipped_policies.iter().map(|s| (s.policy.clone(), s.reason.clone())).collect(),
    }
}

struct LevelView {
    number: usize,
    mode: String,
    approvers: String,
    timeout: String,
    current: bool,
}

fn levels_of(r: &RequestView) -> Vec<LevelView> {
    r.explain
        .levels
        .iter()
        .map(|l| LevelView {
            number: l.level,
            mode: match l.mode {
                crate::domain::policy::Mode::Any => "any".into(),
                crate::domain::policy::Mode::All => "all".into(),
            },
            approvers: l.who(),
            timeout: l.on_timeout_text.clone().unwrap_or_else(|| "no timeout".into()),
            current: r.status == RequestStatus::PendingApproval && r.level as usize == l.level,
        })
        .collect()
}

async fn show_request(
    user: &Signed,
    state: &AppState,
    id: &str,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let r = requests::get(&state.ctx, &user.principal, id).await?;
    let can_decide = r.waiting_on.contains(&user.principal.username);
    let can_cancel = r.requester == user.principal.username && r.status.can_cancel();
    let live = r.status.is_open();
    let last_event = r.events.last().map(|e| e.id).unwrap_or(0);
    render(
        status,
        &RequestPage {
            layout: layout(user, "requests", &format!("Request {}", r.id)),
            levels: levels_of(&r),
            explain: explain_of(&r),
            r,
            can_decide,
            can_cancel,
            last_event,
            live,
            error,
        },
    )
}

async fn request_page(user: Signed, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    show_request(&user, &state, &id, StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct EventsQuery {
    after: Option<i64>,
}

/// Server-sent events: each new timeline entry as `event: timeline`, and `event: status`
/// when the request's status changes. Ends when the request settles.
async fn request_events(
    user: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<EventsQuery>,
) -> Result<HttpResponse, AppError> {
    // Visibility is checked once, up front.
    let first = requests::get(&state.ctx, &user.principal, &id).await?;
    let id = id.into_inner();
    let after = q.after.unwrap_or(0);
    let db = state.db.clone();
    let stream =
        futures_util::stream::unfold((db, id, after, first.status, 0u32), |(db, id, mut after, mut status, mut idle)| async move {
            loop {
                if idle > 0 {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                }
                let mut out = String::new();
                match requests::events_after(&db, &id, after).await {
                    Ok(events) => {
                        for e in events {
                            after = e.id;
                            let data = serde_json::json!({"id": e.id, "at": e.at, "kind": e.kind, "label": e.kind.label(), "tone": e.kind.tone().as_str(), "message": e.message});
                            out.push_str(&format!("id: {}\nevent: timeline\ndata: {data}\n\n", e.id));
                        }
                    }
                    Err(_) => return None,
                }
                let current = requests::status_of(&db, &id).await;
                if let Some(s) = current.filter(|s| *s != status) {
                    status = s;
                    // The badge's label and tone come with the word: the page's script maps nothing.
                    let data = serde_json::json!({"status": status, "label": status.label(), "tone": status.tone().as_str(), "open": status.is_open()});
                    out.push_str(&format!("event: status\ndata: {data}\n\n"));
                }
                let settled = !status.is_open();
                idle += 1;
                if !out.is_empty() {
                    return Some((Ok::<_, actix_web::Error>(web::Bytes::from(out)), (db, id, after, status, idle)));
                }
                if settled || idle > 1500 {
                    return None;
                }
                if idle % 25 == 0 {
                    // A comment keeps proxies from closing a quiet stream.
                    return Some((Ok(web::Bytes::from_static(b": keep-alive\n\n")), (db, id, after, status, idle)));
                }
            }
        });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

#[derive(Deserialize)]
struct DecideForm {
    decision: String,
    #[serde(default)]
    comment: String,
}

async fn request_decide(
    user: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<DecideForm>,
) -> Result<HttpResponse, AppError> {
    let approve = match form.decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => return Err(AppError::BadRequest(format!("`{other}` is not a decision: approve or reject"))),
    };
    match requests::decide(&state.ctx, &user.principal, &id, approve, form.comment.trim()).await {
        Ok(_) => Ok(see_other(&format!("/requests/{id}"))),
        Err(e @ (ServiceError::Conflict(_) | ServiceError::Invalid(_))) => {
            let msg = AppError::from(e).to_string();
            show_request(&user, &state, &id, StatusCode::CONFLICT, Some(msg)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn request_cancel(user: Signed, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    match requests::cancel(&state.ctx, &user.principal, &id).await {
        Ok(_) => Ok(see_other(&format!("/requests/{id}"))),
        Err(e @ ServiceError::Conflict(_)) => {
            let msg = AppError::from(e).to_string();
            show_request(&user, &state, &id, StatusCode::CONFLICT, Some(msg)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "pages/approvals.html")]
struct ApprovalsPage {
    layout: Layout,
    inbox: Vec<RequestView>,
}

async fn approvals_page(user: Signed, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let inbox = requests::inbox(&state.ctx, &user.principal).await?;
    render(StatusCode::OK, &ApprovalsPage { layout: layout(&user, "approvals", "Approvals"), inbox })
}

// ----- deployments --------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "pages/deployments/index.html")]
struct DeploymentsPage {
    layout: Layout,
    pager: Pager,
    deployments: Page<DeploymentSummary>,
}

async fn deployment_list(user: Signed, state: web::Data<AppState>, q: web::Query<PageQuery>) -> Result<HttpResponse, AppError> {
    let deployments = deployments::list(&state.db, &user.principal, &DeploymentFilter::default(), PageRequest::new(q.page, None)).await?;
    render(
        StatusCode::OK,
        &DeploymentsPage { layout: layout(&user, "deployments", "My deployments"), pager: Pager::of(&deployments, ""), deployments },
    )
}

async fn deployment_page(user: Signed, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let d = deployments::get_for(&state.ctx, &user.principal, &id).await?;
    let allowed = deployments::allowed(&state.ctx, &user.principal, &d).await?;
    render(StatusCode::OK, &DeploymentPage::new(layout(&user, "deployments", &d.name), d, allowed, None, "/deployments"))
}

#[derive(Deserialize)]
struct ActionForm {
    action: String,
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
            let d = deployments::get_for(&state.ctx, &user.principal, &id).await?;
            let allowed = deployments::allowed(&state.ctx, &user.principal, &d).await?;
            render(StatusCode::CONFLICT, &DeploymentPage::new(layout(&user, "deployments", &d.name), d, allowed, Some(msg), "/deployments"))
        }
        Err(e) => Err(e.into()),
    }
}
