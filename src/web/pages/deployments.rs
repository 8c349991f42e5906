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
use crate::services::observe::Pick;
use crate::services::observe::console::{self, SessionView};
use crate::services::requests::{self, day2::Allowed};
use crate::services::{Page, PageRequest, ServiceError};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Signed;
use crate::web::views::{Layout, Pager};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/deployments", web::get().to(deployment_list))
        .route("/deployments/actions", web::post().to(bulk_action))
        .route("/deployments/{id}", web::get().to(deployment_page))
        .route("/deployments/{id}/events", web::get().to(deployment_events))
        .route("/deployments/{id}/console", web::get().to(console_page))
        .route("/deployments/{id}/actions", web::post().to(deployment_action));
}

#[derive(Template)]
#[template(path = "pages/deployments/index.html")]
struct DeploymentsPage {
    layout: Layout,
    pager: Pager,
    deployments: Page<DeploymentSummary>,
    /// After a bulk action: what became of each deployment.
    outcomes: Vec<BulkOutcome>,
    error: Option<String>,
}

/// One deployment's outcome in a bulk action from the list page.
struct BulkOutcome {
    name: String,
    /// The request made, or the refusal.
    request_id: Option<String>,
    refusal: Option<String>,
}

async fn list_page(
    user: &Signed,
    state: &AppState,
    page: Option<u64>,
    status: StatusCode,
    outcomes: Vec<BulkOutcome>,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let deployments = deployments::list(&state.ctx.db, &user.principal, &DeploymentFilter::default(), PageRequest::new(page, None)).await?;
    render(
        status,
        &DeploymentsPage {
            layout: layout(&user.ctx, "deployments", "My deployments"),
            pager: Pager::of(&deployments, ""),
            deployments,
            outcomes,
            error,
        },
    )
}

async fn deployment_list(user: Signed, state: web::Data<AppState>, q: web::Query<PageQuery>) -> Result<HttpResponse, AppError> {
    list_page(&user, &state, q.page, StatusCode::OK, Vec::new(), None).await
}

/// The list page's bulk form: the ticked deployments (`ids`, repeated), one action, its days
/// (extend), and for destroy a confirmation box. Each deployment gets its own day-2 request.
async fn bulk_action(user: Signed, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, AppError> {
    let mut ids = Vec::new();
    let (mut action, mut days, mut confirmed) = (String::new(), String::new(), false);
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "ids" if ids.len() < 500 => ids.push(v.into_owned()),
            "action" => action = v.into_owned(),
            "days" => days = v.into_owned(),
            "confirmed" => confirmed = v == "yes",
            _ => {}
        }
    }
    let refuse = |m: &str| Some(m.to_string());
    let error = if ids.is_empty() {
        refuse("tick the deployments to act on")
    } else if action.is_empty() {
        refuse("choose an action")
    } else if action == "destroy" && !confirmed {
        refuse("destroying removes the containers, networks and volumes with their data: tick the confirmation box")
    } else {
        None
    };
    if error.is_some() {
        return list_page(&user, &state, None, StatusCode::UNPROCESSABLE_ENTITY, Vec::new(), error).await;
    }
    let days = match days.trim() {
        "" => None,
        t => match t.parse() {
            Ok(n) => Some(n),
            Err(_) => {
                return list_page(&user, &state, None, StatusCode::UNPROCESSABLE_ENTITY, Vec::new(), refuse("days: a whole number")).await;
            }
        },
    };
    let mut outcomes = Vec::new();
    for id in ids {
        let name = deployments::get_for(&state.ctx, &user.principal, &id).await.map(|d| d.name).unwrap_or_else(|_| id.clone());
        let input = requests::ActionInput { action: action.clone(), days: days.filter(|_| action == "extend_lease"), ..Default::default() };
        match requests::submit_action(&state.ctx, &user.principal, &id, input).await {
            Ok(r) => outcomes.push(BulkOutcome { name, request_id: Some(r.id), refusal: None }),
            Err(e) => outcomes.push(BulkOutcome { name, request_id: None, refusal: Some(AppError::from(e).to_string()) }),
        }
    }
    list_page(&user, &state, None, StatusCode::OK, outcomes, None).await
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
    /// Its inputs, as table rows (secrets masked).
    inputs: Vec<(String, String)>,
    busy: bool,
    /// What the caller may do now (entitlement and state both checked).
    allowed: Allowed,
    history: Vec<HistoryEntry>,
    /// Its latest console sessions (admins).
    sessions: Vec<SessionView>,
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
            inputs: super::input_rows(&d.inputs),
            busy,
            failed: d.status == DeploymentStatus::Failed,
            expired: d.status == DeploymentStatus::Expired,
            lease_left: d.lease_expires_at.and_then(time_left),
            confirm_destroy: false,
            d,
            allowed,
            history,
            sessions: Vec::new(),
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
    let sessions = if principal.is_admin { console::of_deployment(&state.ctx, &d.id, 20).await? } else { Vec::new() };
    let mut page = DeploymentPage::new(ctx, d, allowed, history, error, area);
    page.sessions = sessions;
    Ok(page)
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

/// Server-sent events for a deployment's page: each new history entry as `event: history` (its
/// own events, and those of the requests about it that the viewer may see), and `event: changed`
/// when its status moved (from `?status=`, the one the page shows, at once), with the status's label and tone (the page sets its badge and redraws
/// its containers and actions), or `{"lagged":true}` when entries were missed (it loads again). Fed by the
/// process's one change feed; counted in the viewer's live views; ends after ten minutes.
async fn deployment_events(
    user: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<EventsQuery>,
) -> Result<HttpResponse, AppError> {
    use std::time::Duration;
    use tokio::sync::broadcast::error::RecvError;
    let first = deployments::get_for(&state.ctx, &user.principal, &id).await?;
    // The status the page was drawn with: a move since then is told at once.
    let drawn = q.status.as_deref().and_then(|s| s.parse::<DeploymentStatus>().ok()).unwrap_or(first.status);
    let Some(ticket) = state.ctx.feed.open(user.principal.user_id) else {
        return Err(AppError::TooManyAttempts {
            message: format!("at most {} live views may be open at once: close some", requests::feed::MAX_STREAMS_PER_USER),
            retry_after_secs: 5,
        });
    };
    struct Watch {
        db: sea_orm::DatabaseConnection,
        who: crate::auth::Principal,
        id: String,
        status: DeploymentStatus,
        /// Requests already looked at: whether they are about this deployment and visible.
        relevant: std::collections::HashMap<String, bool>,
        rx: tokio::sync::broadcast::Receiver<std::sync::Arc<requests::feed::Change>>,
        drx: tokio::sync::broadcast::Receiver<std::sync::Arc<requests::feed::DeploymentChange>>,
        _ticket: requests::feed::Ticket,
    }
    impl Watch {
        fn entry(&self, at: chrono::DateTime<chrono::Utc>, label: &str, tone: &str, message: &str, request: Option<&str>) -> String {
            let message = if self.who.is_admin { message.to_string() } else { crate::domain::redact_addresses(message) };
            let data = serde_json::json!({"at": at, "label": label, "tone": tone, "message": message, "request_id": request});
            format!("event: history\ndata: {data}\n\n")
        }
        /// `None` when it cannot be told now (a read failed).
        async fn is_relevant(&mut self, request_id: &str) -> Option<bool> {
            if let Some(r) = self.relevant.get(request_id) {
                return Some(*r);
            }
            // A read that fails is not remembered: the next entry of that request asks again.
            match requests::is_about(&self.db, &self.who, request_id, &self.id).await {
                Ok(yes) => {
                    self.relevant.insert(request_id.to_string(), yes);
                    Some(yes)
                }
                Err(e) => {
                    tracing::warn!(request = %request_id, error = %e, "a live history could not tell whether an entry is about its deployment");
                    None
                }
            }
        }
        /// `event: changed` when the deployment's status moved since the last look.
        async fn moved(&mut self) -> String {
            match deployments::status_of(&self.db, &self.id).await {
                Some(status) if status != self.status => {
                    self.status = status;
                    let data = serde_json::json!({"status": status, "label": status.label(), "tone": status.tone().as_str()});
                    format!("event: changed\ndata: {data}\n\n")
                }
                _ => String::new(),
            }
        }
    }
    let watch = Watch {
        db: state.ctx.db.clone(),
        who: user.principal.clone(),
        id: id.into_inner(),
        status: drawn,
        relevant: Default::default(),
        rx: state.ctx.feed.subscribe(),
        drx: state.ctx.feed.subscribe_deployments(),
        _ticket: ticket,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    // When the stream looks at the deployment's status next: every 5 s, however busy the feed
    // is with other deployments.
    let look_every = Duration::from_secs(5);
    let stream = futures_util::stream::unfold(
        (watch, true, tokio::time::Instant::now() + look_every),
        move |(mut w, first, mut next_look)| async move {
            if first {
                let moved = w.moved().await;
                if !moved.is_empty() {
                    return Some((Ok::<_, actix_web::Error>(web::Bytes::from(moved)), (w, false, next_look)));
                }
            }
            loop {
                if tokio::time::Instant::now() > deadline {
                    return None;
                }
                let mut out = String::new();
                tokio::select! {
                    got = w.rx.recv() => match got {
                        Ok(c) => {
                            match w.is_relevant(&c.request_id).await {
                                Some(true) => {
                                    out.push_str(&w.entry(c.event.at, c.event.kind.label(), c.event.kind.tone().as_str(), &c.event.message, Some(&c.request_id)));
                                    out.push_str(&w.moved().await);
                                }
                                Some(false) => {}
                                // Not known now (a read failed): the page reloads to catch up.
                                None => out.push_str("event: changed\ndata: {\"lagged\":true}\n\n"),
                            }
                        }
                        // Missed entries: the page reloads to catch up.
                        Err(RecvError::Lagged(_)) => out.push_str("event: changed\ndata: {\"lagged\":true}\n\n"),
                        Err(RecvError::Closed) => return None,
                    },
                    got = w.drx.recv() => match got {
                        Ok(c) => {
                            if c.deployment_id == w.id {
                                out.push_str(&w.entry(c.at, c.kind.label(), c.kind.tone().as_str(), &c.message, None));
                                out.push_str(&w.moved().await);
                            }
                        }
                        Err(RecvError::Lagged(_)) => out.push_str("event: changed\ndata: {\"lagged\":true}\n\n"),
                        Err(RecvError::Closed) => return None,
                    },
                    // A comment keeps proxies from closing a quiet stream; a status moved without an
                    // entry (a job's end) shows too.
                    _ = tokio::time::sleep_until(next_look) => {
                        next_look = tokio::time::Instant::now() + look_every;
                        out.push_str(&w.moved().await);
                        if out.is_empty() {
                            out.push_str(": keep-alive\n\n");
                        }
                    }
                }
                if !out.is_empty() {
                    return Some((Ok::<_, actix_web::Error>(web::Bytes::from(out)), (w, false, next_look)));
                }
            }
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

#[derive(Deserialize)]
struct EventsQuery {
    /// The status the page shows (a word of `DeploymentStatus`; another is ignored).
    status: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/deployments/console.html")]
struct ConsolePage {
    layout: Layout,
    d: DeploymentView,
    /// The deployment's page.
    back: String,
    container: String,
    /// The WebSocket's path (the API's), with the component and replica.
    ws_path: String,
    csrf_token: String,
}

#[derive(Deserialize)]
struct ConsoleQuery {
    component: Option<String>,
    replica: Option<String>,
}

/// `/deployments/{id}/console`: a terminal bridged to a shell in one container, over the API's
/// WebSocket (the permission, the component and the replica are checked here first, so that a
/// refusal is a page, not a terminal that never connects).
async fn console_page(
    user: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<ConsoleQuery>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let replica = match q.replica.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        None => None,
        Some(r) => Some(r.parse::<i32>().map_err(|_| ServiceError::invalid("replica", format!("`{r}` is not a replica number")))?),
    };
    let pick = Pick { component: q.component.filter(|c| !c.trim().is_empty()), replica };
    let (_, target) = console::shell_target(&state.ctx, state.engine.pool(), &user.principal, &id, &pick).await?;
    let cap = state.settings.console.max_sessions_per_user as usize;
    if state.ctx.consoles.held(user.principal.user_id) >= cap {
        return Err(AppError::TooManyAttempts {
            message: format!("you have {cap} console session(s) open, the most one may hold: close one first"),
            retry_after_secs: 5,
        });
    }
    let d = deployments::get_for(&state.ctx, &user.principal, &id).await?;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("component", &target.component)
        .append_pair("replica", &target.replica.to_string())
        .finish();
    render(
        StatusCode::OK,
        &ConsolePage {
            layout: layout(&user.ctx, "deployments", &format!("Console: {}", target.name)),
            ws_path: format!("/api/v1/deployments/{}/console?{query}", d.id),
            csrf_token: user.ctx.csrf_token.clone(),
            back: format!("/deployments/{}", d.id),
            container: target.name,
            d,
        },
    )
}
