//! `/requests`: the caller's requests; `/requests/{id}`: one request with its live timeline
//! (`/requests/{id}/events`, server-sent events), its explanation, and the decide and cancel
//! forms.
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{PageQuery, layout, render, see_other};
use crate::domain::states::RequestStatus;
use crate::services::requests::{self, RequestSummary, RequestView, feed};
use crate::services::{Page, PageRequest, ServiceError};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Signed;
use crate::web::views::{Layout, Pager};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/requests", web::get().to(request_list))
        .route("/requests/{id}", web::get().to(request_page))
        .route("/requests/{id}/events", web::get().to(request_events))
        .route("/requests/{id}/decide", web::post().to(request_decide))
        .route("/requests/{id}/cancel", web::post().to(request_cancel));
}

#[derive(Template)]
#[template(path = "pages/requests/index.html")]
struct RequestsPage {
    layout: Layout,
    pager: Pager,
    requests: Page<RequestSummary>,
}

async fn request_list(user: Signed, state: web::Data<AppState>, q: web::Query<PageQuery>) -> Result<HttpResponse, AppError> {
    let requests = requests::list(&state.ctx.db, &user.principal, PageRequest::new(q.page, None)).await?;
    render(StatusCode::OK, &RequestsPage { layout: layout(&user.ctx, "requests", "Requests"), pager: Pager::of(&requests, ""), requests })
}

#[derive(Template)]
#[template(path = "pages/requests/show.html")]
struct RequestPage {
    layout: Layout,
    r: RequestView,
    /// Its inputs, as table rows (secrets masked).
    inputs: Vec<(String, String)>,
    explain: ExplainView,
    levels: Vec<LevelView>,
    /// What the caller may do now.
    can_decide: bool,
    can_cancel: bool,
    last_event: i64,
    live: bool,
    error: Option<String>,
}

/// The request's `explain`, read for the page.
pub(super) struct ExplainView {
    pub(super) via: String,
    pub(super) auto_approved: bool,
    pub(super) policy: String,
    pub(super) condition: Option<String>,
    pub(super) why: String,
    pub(super) skipped: Vec<(String, String)>,
}

pub(super) fn explain_of(r: &RequestView) -> ExplainView {
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

pub(super) struct LevelView {
    pub(super) number: usize,
    pub(super) mode: String,
    pub(super) approvers: String,
    pub(super) timeout: String,
    pub(super) current: bool,
}

pub(super) fn levels_of(r: &RequestView) -> Vec<LevelView> {
    r.explain
        .levels
        .iter()
        .map(|l| LevelView {
            number: l.level,
            mode: l.mode.as_str().to_string(),
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
            layout: layout(&user.ctx, "requests", &format!("Request {}", r.id)),
            levels: levels_of(&r),
            explain: explain_of(&r),
            inputs: super::input_rows(&r.inputs),
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

/// How often a live view looks at the database itself, whatever the feed brings.
const QUIET: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct EventsQuery {
    after: Option<i64>,
}

/// Server-sent events: each new timeline entry as `event: timeline`, and `event: status`
/// when the request's status changes. Ends when the request settles, or after ten minutes (the
/// page reconnects). Fed by the process's one change feed (`requests::feed`); every `QUIET` a
/// stream also looks at the database itself (two small reads), so that a change
/// the feed did not bring still shows within seconds. A user holds at most
/// `feed::MAX_STREAMS_PER_USER` streams at once.
async fn request_events(
    user: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<EventsQuery>,
) -> Result<HttpResponse, AppError> {
    // Visibility is checked once, up front.
    requests::get(&state.ctx, &user.principal, &id).await?;
    let Some(ticket) = state.ctx.feed.open(user.principal.user_id) else {
        return Err(AppError::TooManyAttempts {
            message: format!("at most {} live views may be open at once: close some", feed::MAX_STREAMS_PER_USER),
            retry_after_secs: 5,
        });
    };
    // Listening before the backlog is read: nothing falls between the two.
    let rx = state.ctx.feed.subscribe();
    let live = Live {
        db: state.ctx.db.clone(),
        id: id.into_inner(),
        after: q.after.unwrap_or(0),
        seen: std::collections::HashSet::new(),
        newest: 0,
        next_look: tokio::time::Instant::now(),
        status: None,
        told_deployment: false,
        deployment: None,
        admin: user.principal.is_admin,
        _ticket: ticket,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    let stream = futures_util::stream::unfold((live, rx, true), move |(mut live, mut rx, mut catch_up)| async move {
        loop {
            // Closed, and the client was told: the view ends, and its place goes back at once
            // (the page's script closes it too).
            // After ten minutes, too: the page reconnects.
            if (!catch_up && live.closed()) || tokio::time::Instant::now() > deadline {
                return None;
            }
            let mut out = String::new();
            if catch_up {
                // The backlog (and after a lagging receiver, what it missed), from the database.
                // A read that fails ends the stream: the page reconnects and reads again.
                catch_up = false;
                live.look(&mut out).await.ok()?;
            } else {
                match tokio::time::timeout_at(live.next_look, rx.recv()).await {
                    Ok(Ok(change)) => {
                        if change.request_id != live.id {
                            continue;
                        }
                        // A late entry carries the status of its time: only a newer one moves the badge.
                        let newer = change.event.id > live.newest;
                        if newer && (!change.status.is_open() || (live.deployment.is_none() && change.status.has_deployment())) {
                            // The status closes the view, or brings a deployment: what the
                            // database says, its entries in order (this one among them, and
                            // the one that closed the request if the feed has not brought it
                            // yet), then the status.
                            live.look(&mut out).await.ok()?;
                        } else {
                            live.timeline(&mut out, &change.event);
                            if newer {
                                live.newest = change.event.id;
                                live.status_to(&mut out, change.status);
                            }
                        }
                    }
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                        catch_up = true;
                        continue;
                    }
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return None,
                    // Time to look at the database (whatever the feed did not bring shows within
                    // `QUIET`, however busy the feed is with other requests); a comment keeps
                    // proxies from closing a quiet stream.
                    Err(_) => {
                        live.look(&mut out).await.ok()?;
                        if out.is_empty() {
                            out.push_str(": keep-alive\n\n");
                        }
                    }
                }
            }
            if out.is_empty() {
                if live.closed() || tokio::time::Instant::now() > deadline {
                    return None;
                }
                continue;
            }
            return Some((Ok::<_, actix_web::Error>(web::Bytes::from(out)), (live, rx, catch_up)));
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

/// One live view: what the client had (`after`), what it was sent since (entries may arrive
/// out of id order), and the status it last sent.
struct Live {
    db: sea_orm::DatabaseConnection,
    id: String,
    after: i64,
    seen: std::collections::HashSet<i64>,
    /// The newest entry whose status was applied.
    newest: i64,
    /// When the view looks at the database next, whatever the feed brought.
    next_look: tokio::time::Instant,
    /// The status the client was sent last (the first catch-up sends the current one, so that
    /// a view opened on a request that closed meanwhile is told, and ends).
    status: Option<RequestStatus>,
    /// The request's deployment, once it has one (the page offers a link to it).
    deployment: Option<String>,
    /// Whether the client was told the deployment.
    told_deployment: bool,
    /// Admins see the engine's messages whole; others without network addresses.
    admin: bool,
    _ticket: feed::Ticket,
}

impl Live {
    fn timeline(&mut self, out: &mut String, e: &requests::EventView) {
        if e.id <= self.after || !self.seen.insert(e.id) {
            return;
        }
        let message = if self.admin { e.message.clone() } else { crate::domain::redact_addresses(&e.message) };
        let data = serde_json::json!({"id": e.id, "at": e.at, "kind": e.kind, "label": e.kind.label(), "tone": e.kind.tone().as_str(), "message": message});
        out.push_str(&format!("id: {}\nevent: timeline\ndata: {data}\n\n", e.id));
    }

    /// What the database says now: the entries since the page was drawn that were not sent,
    /// then the status. The status is read after the entries, so that it is never older than
    /// one of them; an entry committed in between comes with the feed (or the next look),
    /// except after a status that ends the view: then its entry, committed with it, is read
    /// again, so that the view never ends without it.
    async fn look(&mut self, out: &mut String) -> Result<(), ServiceError> {
        self.next_look = tokio::time::Instant::now() + QUIET;
        let mut events = requests::events_after(&self.db, &self.id, self.after).await?;
        let Some((status, deployment)) = requests::status_of(&self.db, &self.id).await? else {
            return Err(ServiceError::NotFound(format!("request {} is gone", self.id)));
        };
        if !status.is_open() {
            let since = events.iter().map(|e| e.id).max().unwrap_or(self.after);
            events.extend(requests::events_after(&self.db, &self.id, since).await?);
        }
        for e in &events {
            // A change the feed queued meanwhile carries an older status: it must not move
            // the badge back.
            self.newest = self.newest.max(e.id);
            self.timeline(out, e);
        }
        self.deployment = deployment;
        self.status_to(out, status);
        Ok(())
    }

    fn closed(&self) -> bool {
        self.status.is_some_and(|s| !s.is_open())
    }

    fn status_to(&mut self, out: &mut String, s: RequestStatus) {
        // Told again when the deployment became known since (the page's link to it).
        if Some(s) == self.status && self.told_deployment == self.deployment.is_some() {
            return;
        }
        self.status = Some(s);
        self.told_deployment = self.deployment.is_some();
        // The badge's label and tone come with the word: the page's script maps nothing. The
        // deployment, once there is one, for the page's link to it.
        // What the page may still offer: a cancel button while the status allows it, a decision
        // form while it waits for approval (the script only removes what the server drew).
        let data = serde_json::json!({
            "status": s, "label": s.label(), "tone": s.tone().as_str(), "open": s.is_open(), "deployment": self.deployment,
            "cancellable": s.can_cancel(), "deciding": s == RequestStatus::PendingApproval,
        });
        out.push_str(&format!("event: status\ndata: {data}\n\n"));
    }
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
