//! `/api/v1/deployments/{id}/logs` and `/stats`: a deployment's logs (text, a download, or
//! followed live) and its containers' use (one sample each, or live as server-sent events when
//! the client accepts `text/event-stream`). Live streams count against the caller's places
//! (`feed::MAX_STREAMS_PER_USER`, shared with the pages' live views).
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::doc;
use crate::services::observe::logs::{self, LogItem, LogQuery};
use crate::services::observe::stats::{self, StatsItem};
use crate::services::observe::{self, Look, Pick};
use crate::services::requests::feed::MAX_STREAMS_PER_USER;
use crate::services::seats::Seat;
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::Signed;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/deployments/{id}/logs", web::get().to(get_logs)).route("/deployments/{id}/stats", web::get().to(get_stats));
}

/// Quiet streams get a comment this often, so that proxies keep them open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Deserialize)]
struct LogsParams {
    component: Option<String>,
    replica: Option<i32>,
    tail: Option<i64>,
    since: Option<String>,
    timestamps: Option<bool>,
    follow: Option<bool>,
    download: Option<bool>,
}

/// Whether the client asked for server-sent events.
pub fn wants_events(req: &HttpRequest) -> bool {
    req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/event-stream"))
}

fn seat(state: &AppState, user: &Signed) -> Result<Seat, AppError> {
    state.ctx.feed.seats.take(user.principal.user_id, MAX_STREAMS_PER_USER).ok_or_else(|| AppError::TooManyAttempts {
        message: format!("at most {MAX_STREAMS_PER_USER} live views (logs, stats, timelines) may be open at once: close some"),
        retry_after_secs: 5,
    })
}

/// One server-sent event.
fn event(name: &str, data: &serde_json::Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// A response that streams `render(item)` for each item of `rx` (several at a time when they
/// wait), with keep-alive comments on quiet event streams; ends after an item that says so.
fn streamed<T: Send + 'static>(
    mut res: actix_web::HttpResponseBuilder,
    rx: mpsc::Receiver<T>,
    seat: Option<Seat>,
    events: bool,
    render: impl Fn(&T) -> (String, bool) + Send + Sync + 'static,
) -> HttpResponse {
    let render = std::sync::Arc::new(render);
    let body = futures_util::stream::unfold((rx, seat, false, render), move |(mut rx, seat, ended, render)| async move {
        if ended {
            return None;
        }
        let first = if events {
            match tokio::time::timeout(KEEP_ALIVE, rx.recv()).await {
                Ok(item) => item?,
                Err(_) => return Some((Ok(web::Bytes::from_static(b": keep-alive\n\n")), (rx, seat, false, render))),
            }
        } else {
            rx.recv().await?
        };
        let (mut text, mut last) = render(&first);
        while !last && text.len() < 64 * 1024 {
            let Ok(item) = rx.try_recv() else { break };
            let (more, end) = render(&item);
            text.push_str(&more);
            last = end;
        }
        Some((Ok::<_, actix_web::Error>(web::Bytes::from(text)), (rx, seat, last, render)))
    });
    res.insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        // Streamed as it comes: not held back by compression.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .streaming(body)
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}/logs", tag = "deployments",
    description = "A deployment's logs as text, one line per line: `component-N | ` first when several containers are merged, `[stderr] ` before what went to stderr. `tail` is lines per container (default 500, at most 10000); `since` an RFC 3339 time or a duration back (`10m`); `follow=true` streams new lines until the client leaves (server-sent events `line`, `problem`, `end` when the client accepts text/event-stream); `download=true` answers a file. Needs the `logs` permission (owner, group managers, admins, per the entitlement).",
    params(("id" = String, Path), ("component" = Option<String>, Query), ("replica" = Option<i32>, Query), ("tail" = Option<i64>, Query),
        ("since" = Option<String>, Query), ("timestamps" = Option<bool>, Query), ("follow" = Option<bool>, Query), ("download" = Option<bool>, Query)),
    responses((status = 200, description = "The lines", content_type = "text/plain", body = String), doc::Errors))]
async fn get_logs(
    req: HttpRequest,
    user: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<LogsParams>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let download = q.download.unwrap_or(false);
    let query = LogQuery {
        pick: Pick { component: q.component, replica: q.replica },
        tail: q.tail,
        since: q.since,
        timestamps: q.timestamps.unwrap_or(false),
        follow: q.follow.unwrap_or(false) && !download,
    };
    let targets = observe::targets(&state.ctx, state.engine.pool(), &user.principal, &id, Look::Logs, &query.pick).await?;
    let window = logs::check(&query, chrono::Utc::now())?;
    let seat = if query.follow { Some(seat(&state, &user)?) } else { None };
    let read = logs::read(targets, &query, window, user.principal.is_admin);
    let events = wants_events(&req) && !download;
    let (merged, follow) = (read.merged, query.follow);
    let mut res = HttpResponse::Ok();
    if events {
        res.content_type("text/event-stream");
    } else {
        res.content_type("text/plain; charset=utf-8");
    }
    if download {
        res.insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", read.filename)));
    }
    Ok(streamed(res, read.items, seat, events, move |item| match (item, events) {
        (LogItem::Line(l), true) => {
            let mut data = json!(l);
            // `c` names the container only when several are merged, as the text's prefix does.
            if let (false, Some(o)) = (merged, data.as_object_mut()) {
                o.remove("c");
            }
            (event("line", &data), false)
        }
        (LogItem::Line(l), false) => (l.plain(merged), false),
        (LogItem::Problem(m), true) => (event("problem", &json!({"message": m})), false),
        (LogItem::Problem(m), false) => (format!("[wharf] {m}\n"), false),
        (LogItem::End(reason), true) => (event("end", &json!({"reason": reason})), true),
        (LogItem::End(reason), false) if follow => (format!("[wharf] {reason}\n"), true),
        (LogItem::End(_), false) => (String::new(), true),
    }))
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}/stats", tag = "deployments",
    description = "One sample of each container's use: CPU (percent of one CPU), memory against its limit, network and block I/O, processes. A client that accepts text/event-stream gets a `sample` event (`{at, samples}`) every 2 seconds, `problem` and `end` events. Whoever sees the deployment may read it.",
    params(("id" = String, Path)),
    responses((status = 200, body = Vec<crate::services::observe::stats::ContainerStats>), doc::Errors))]
async fn get_stats(req: HttpRequest, user: Signed, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let targets = observe::targets(&state.ctx, state.engine.pool(), &user.principal, &id, Look::Stats, &Pick::default()).await?;
    let admin = user.principal.is_admin;
    if !wants_events(&req) {
        return Ok(HttpResponse::Ok().json(stats::now(&targets, admin).await?));
    }
    let seat = seat(&state, &user)?;
    let rx = stats::live(state.ctx.db.clone(), targets, admin);
    let mut res = HttpResponse::Ok();
    res.content_type("text/event-stream");
    Ok(streamed(res, rx, Some(seat), true, |item| match item {
        StatsItem::Sample { at, samples } => (event("sample", &json!({"at": at, "samples": samples})), false),
        StatsItem::Problem(m) => (event("problem", &json!({"message": m})), false),
        StatsItem::End(reason) => (event("end", &json!({"reason": reason})), true),
    }))
}
