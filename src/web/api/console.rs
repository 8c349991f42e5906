//! The web console: `GET /api/v1/deployments/{id}/console` upgrades to a WebSocket bridged to a
//! shell in the container (a Docker exec with a TTY), and the record admins read
//! (`/api/v1/console-sessions/{id}`, `/api/v1/deployments/{id}/console-sessions`).
//!
//! Frames: binary from the client is the shell's input; text from the client is a control
//! (`{"resize":[cols,rows]}`), or input when it is not one. Binary to the client is the shell's
//! output; text to the client is JSON: `{"status":"open",…}`, `{"error":…}`, `{"closed":…}`.
//!
//! Before the upgrade: the `Origin` must be Wharf's own (`base_url`, or the request's `Host`), a
//! browser session must offer its CSRF token as the sub-protocol `wharf.csrf.<token>` (no token
//! travels in the URL), the caller needs the `console` permission, and may hold at most
//! `console.max_sessions_per_user` sessions. A session closes when either side leaves, the
//! shell exits, nobody types or prints for `console.idle_timeout_secs`, or the browser stops
//! reading.
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::doc;
use crate::auth::{AuthVia, constant_time_eq};
use crate::services::Context;
use crate::services::observe::Pick;
use crate::services::observe::console::{self, Closing, Opened};
use crate::services::seats::Seat;
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::extract::{Admin, Signed, client_address};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/deployments/{id}/console", web::get().to(open_console))
        .route("/deployments/{id}/console-sessions", web::get().to(list_sessions))
        .route("/console-sessions/{id}", web::get().to(get_session));
}

/// The sub-protocol Wharf answers with.
pub const PROTOCOL: &str = "wharf.console";
/// The sub-protocol that carries a browser session's CSRF token.
pub const CSRF_PROTOCOL_PREFIX: &str = "wharf.csrf.";
/// A browser that takes no output for this long is dropped.
const SLOW_BROWSER: Duration = Duration::from_secs(30);
/// The largest frame a client may send.
const MAX_FRAME: usize = 64 * 1024;

#[derive(Deserialize)]
struct ConsoleParams {
    component: Option<String>,
    replica: Option<i32>,
}

/// The request comes from a page of Wharf's own: its `Origin` is `base_url`'s origin, or, when
/// `base_url` is unset, names the host the request was sent to. A caller with an API token and
/// no `Origin` (a script, not a browser) passes.
fn check_origin(req: &HttpRequest, base_url: Option<&url::Url>, bearer: bool) -> Result<(), AppError> {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return if bearer { Ok(()) } else { Err(AppError::Forbidden("a console opened from a browser must send its Origin".into())) };
    };
    let origin = origin.to_str().unwrap_or_default().trim().to_ascii_lowercase();
    let ok = match base_url {
        Some(base) => origin == base.origin().ascii_serialization().to_ascii_lowercase(),
        None => {
            let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
            let rest = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
            !host.is_empty() && rest == Some(host.as_str())
        }
    };
    if ok { Ok(()) } else { Err(AppError::Forbidden(format!("a console may not be opened from `{origin}`: only from Wharf's own pages"))) }
}

/// A browser session offers its CSRF token as a sub-protocol.
fn check_csrf(req: &HttpRequest, expected: &str) -> Result<(), AppError> {
    let offered = req.headers().get_all(header::SEC_WEBSOCKET_PROTOCOL).filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    let token = offered.map(str::trim).find_map(|p| p.strip_prefix(CSRF_PROTOCOL_PREFIX));
    match token {
        Some(t) if !expected.is_empty() && constant_time_eq(t, expected) => Ok(()),
        _ => Err(AppError::Csrf(format!(
            "missing or invalid CSRF token: a browser offers it as the WebSocket sub-protocol `{CSRF_PROTOCOL_PREFIX}<token>`"
        ))),
    }
}

fn is_websocket(req: &HttpRequest) -> bool {
    req.headers().get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}/console", tag = "deployments",
    description = "A WebSocket bridged to a shell in one container (the blueprint's `console` command, or /bin/sh), with a TTY. Binary frames are input and output; a text frame `{\"resize\":[cols,rows]}` resizes. Needs the `console` permission; a browser session offers its CSRF token as the sub-protocol `wharf.csrf.<token>` and must come from Wharf's origin. Every session is audited (console.open, console.close).",
    params(("id" = String, Path), ("component" = Option<String>, Query), ("replica" = Option<i32>, Query)),
    responses((status = 101, description = "Switching to the WebSocket"), doc::Errors))]
async fn open_console(
    req: HttpRequest,
    body: web::Payload,
    user: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<ConsoleParams>,
) -> Result<HttpResponse, AppError> {
    let bearer = matches!(user.principal.via, AuthVia::Token { .. });
    check_origin(&req, state.settings.base_url.as_ref(), bearer)?;
    if !bearer {
        check_csrf(&req, &user.ctx.csrf_token)?;
    }
    if !is_websocket(&req) {
        return Err(AppError::BadRequest("this address opens a WebSocket: connect with `Upgrade: websocket`".into()));
    }
    let settings = &state.settings.console;
    let cap = settings.max_sessions_per_user as usize;
    let seat = state.ctx.consoles.take(user.principal.user_id, cap).ok_or_else(|| AppError::TooManyAttempts {
        message: format!("at most {cap} console sessions may be open at once: close one"),
        retry_after_secs: 5,
    })?;
    let q = q.into_inner();
    let pick = Pick { component: q.component, replica: q.replica };
    let address = client_address(&req);
    // The handshake is checked before anything starts; the answer is sent once the shell runs.
    let (res, session, stream) = actix_ws::handle_with_protocols(&req, body, &[PROTOCOL])
        .map_err(|e| AppError::BadRequest(format!("the WebSocket handshake failed: {e}")))?;
    let opened = console::open(&state.ctx, state.engine.pool(), settings, &user.principal, &address, &id, &pick).await?;
    let bridge = Bridge {
        ctx: state.ctx.clone(),
        actor: user.principal.username.clone(),
        idle: Duration::from_secs(u64::from(settings.idle_timeout_secs)),
        record_max: settings.record_max_bytes as usize,
        _seat: seat,
    };
    actix_web::rt::spawn(bridge.run(opened, session, stream));
    Ok(res)
}

#[derive(Deserialize)]
struct Control {
    resize: Option<(u16, u16)>,
}

/// One session's bytes between the browser and the shell.
struct Bridge {
    ctx: Context,
    actor: String,
    idle: Duration,
    record_max: usize,
    _seat: Seat,
}

impl Bridge {
    async fn run(self, opened: Opened, mut ws: actix_ws::Session, stream: actix_ws::MessageStream) {
        let Opened { session_id, exec, conn, container, docker_id, record } = opened;
        let exec_id = exec.id;
        let mut output = exec.output;
        // The shell's input is written by a task of its own: a shell that reads slowly (a big
        // paste) holds back the browser's input, never the output or the idle timer.
        let (input_tx, mut input_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
        let mut input = exec.input;
        let writer = tokio::spawn(async move {
            while let Some(bytes) = input_rx.recv().await {
                if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                    break;
                }
            }
        });
        let mut stream = stream.max_frame_size(MAX_FRAME);
        let (mut bytes_in, mut bytes_out) = (0u64, 0u64);
        let mut transcript: Option<Vec<u8>> = record.then(Vec::new);
        let mut truncated = false;
        let mut pid = PidMark::default();
        let _ = ws.text(json!({"status": "open", "container": container, "session": session_id, "recorded": record}).to_string()).await;
        let idle = tokio::time::sleep(self.idle);
        tokio::pin!(idle);
        // Input read from the browser that the shell has not taken yet.
        let mut waiting: Option<Vec<u8>> = None;
        let mut shell_exited = false;
        let reason = loop {
            tokio::select! {
                permit = input_tx.reserve(), if waiting.is_some() => match permit {
                    Ok(permit) => permit.send(waiting.take().unwrap_or_default()),
                    Err(_) => break "the shell stopped reading its input".to_string(),
                },
                msg = stream.recv(), if waiting.is_none() => {
                    let bytes = match msg {
                        Some(Ok(Message::Binary(b))) => b.to_vec(),
                        Some(Ok(Message::Text(t))) => match serde_json::from_str::<Control>(&t) {
                            Ok(Control { resize: Some((cols, rows)) }) => {
                                if (1..=1000).contains(&cols) && (1..=1000).contains(&rows)
                                    && let Err(e) = conn.resize_exec(&exec_id, cols, rows).await
                                {
                                    tracing::debug!(session = %session_id, error = %e, "console resize refused");
                                }
                                continue;
                            }
                            _ => t.as_bytes().to_vec(),
                        },
                        Some(Ok(Message::Ping(p))) => {
                            let _ = ws.pong(&p).await;
                            continue;
                        }
                        Some(Ok(Message::Close(_))) | None => break "the browser closed the console".to_string(),
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => break format!("the WebSocket failed: {e}"),
                    };
                    bytes_in += bytes.len() as u64;
                    idle.as_mut().reset(tokio::time::Instant::now() + self.idle);
                    waiting = Some(bytes);
                }
                out = output.next() => match out {
                    Some(Ok(chunk)) => {
                        let Some(bytes) = pid.take(&chunk.bytes) else { continue };
                        bytes_out += bytes.len() as u64;
                        idle.as_mut().reset(tokio::time::Instant::now() + self.idle);
                        if let Some(t) = transcript.as_mut() {
                            let room = self.record_max.saturating_sub(t.len());
                            truncated |= bytes.len() > room;
                            t.extend_from_slice(&bytes[..bytes.len().min(room)]);
                        }
                        match tokio::time::timeout(SLOW_BROWSER, ws.binary(bytes)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(_)) => break "the browser left".to_string(),
                            Err(_) => break format!("the browser read nothing for {} s", SLOW_BROWSER.as_secs()),
                        }
                    }
                    Some(Err(e)) => break format!("the shell's output failed: {e}"),
                    None => {
                        shell_exited = true;
                        break "the shell exited".to_string();
                    }
                },
                _ = &mut idle => break format!("nothing was typed or printed for {} s", self.idle.as_secs()),
            }
        };
        drop(input_tx);
        writer.abort();
        // A session closed at once may end before the shell said its process id: wait for it.
        if !shell_exited && !pid.done {
            let _ = tokio::time::timeout(Duration::from_secs(3), async {
                while let Some(Ok(chunk)) = output.next().await {
                    pid.take(&chunk.bytes);
                    if pid.done {
                        break;
                    }
                }
            })
            .await;
        }
        drop(output);
        // A TTY's input closing does not end the program behind it: hang up.
        if !shell_exited && !console::hang_up(conn.as_ref(), &docker_id, &exec_id, pid.pid).await {
            tracing::warn!(session = %session_id, container = %container, "the console's shell did not end when the session closed");
        }
        let reason = match (shell_exited, conn.exec_exit_code(&exec_id).await) {
            (true, Ok(Some(code))) => format!("the shell exited with code {code}"),
            _ => reason,
        };
        let _ = ws.text(json!({"closed": reason}).to_string()).await;
        let _ = ws.close(Some(CloseReason { code: CloseCode::Normal, description: Some(clip(&reason, 120)) })).await;
        let closing = Closing { bytes_in, bytes_out, transcript, truncated, reason };
        if let Err(e) = console::close(&self.ctx, &self.actor, &session_id, closing).await {
            tracing::warn!(session = %session_id, error = %e, "the end of a console session was not recorded");
        }
    }
}

/// At most `max` bytes of `text`, cut at a character boundary (a close frame's reason is at
/// most 123 bytes).
fn clip(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Finds the shell's process id at the start of its output (`console::PID_MARK`), and takes
/// it out of what the browser sees.
#[derive(Default)]
struct PidMark {
    pid: Option<u32>,
    /// Output held while the mark may still be coming.
    head: Vec<u8>,
    done: bool,
}

impl PidMark {
    /// What of `bytes` goes to the browser now (`None`: nothing yet).
    fn take(&mut self, bytes: &[u8]) -> Option<web::Bytes> {
        if self.done {
            return Some(web::Bytes::copy_from_slice(bytes));
        }
        self.head.extend_from_slice(bytes);
        let mark = console::PID_MARK.as_bytes();
        if let Some(start) = self.head.windows(mark.len()).position(|w| w == mark)
            && let Some(len) = self.head[start + mark.len()..].iter().position(|b| *b == 0x07)
        {
            let digits = &self.head[start + mark.len()..start + mark.len() + len];
            self.pid = std::str::from_utf8(digits).ok().and_then(|d| d.parse().ok());
            let mut rest = self.head[..start].to_vec();
            rest.extend_from_slice(&self.head[start + mark.len() + len + 1..]);
            self.done = true;
            self.head.clear();
            return (!rest.is_empty()).then(|| web::Bytes::from(rest));
        }
        if self.head.len() >= 256 {
            // No mark (a shell that printed something else first): give up looking.
            self.done = true;
            return Some(web::Bytes::from(std::mem::take(&mut self.head)));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pid_mark_is_taken_out_of_the_output() {
        let mut m = PidMark::default();
        assert_eq!(m.take(b"\x1b]777;wharf-p"), None);
        assert_eq!(m.take(b"id=4242\x07/ # ").as_deref(), Some(&b"/ # "[..]));
        assert_eq!(m.pid, Some(4242));
        assert_eq!(m.take(b"ls\r\n").as_deref(), Some(&b"ls\r\n"[..]));
        let mut none = PidMark::default();
        let long = vec![b'x'; 300];
        assert_eq!(none.take(&long).map(|b| b.len()), Some(300));
        assert_eq!(none.pid, None);
        assert_eq!(clip("ééé", 3), "é");
    }
}

#[utoipa::path(get, path = "/api/v1/console-sessions/{id}", tag = "deployments", description = "A console session: who, which container, when, bytes each way, and its transcript when recorded (admins).", params(("id" = String, Path)), responses((status = 200, body = crate::services::observe::console::SessionView), doc::Errors))]
async fn get_session(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(console::get(&state.ctx, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}/console-sessions", tag = "deployments", description = "A deployment's latest 100 console sessions, newest first, without transcripts (admins).", params(("id" = String, Path)), responses((status = 200, body = Vec<crate::services::observe::console::SessionView>), doc::Errors))]
async fn list_sessions(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    crate::services::deployments::get(&state.ctx, &id).await?;
    Ok(HttpResponse::Ok().json(console::of_deployment(&state.ctx, &id, 100).await?))
}
