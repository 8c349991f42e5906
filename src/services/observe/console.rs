//! The web console's bookkeeping: opening a shell (the `console` permission, a running
//! container, the blueprint's `console` command or `/bin/sh`), the session's row and its
//! `console.open` / `console.close` audit entries (who, where, when, bytes each way), and its
//! transcript (sealed, capped) when the catalog item or the configuration asks for one. The
//! bytes themselves travel in `web/api/console.rs`.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::Serialize;
use serde_json::json;

use super::{Look, Pick, Target, Targets, targets};
use crate::auth::Principal;
use crate::config::ConsoleSettings;
use crate::docker::{ContainerHost, Exec};
use crate::engine::pool::HostPool;
use crate::sealing::Kind;
use crate::services::{Context, ServiceError, ServiceResult, audit, blueprints, catalog};
use crate::store::entities::console_session;

/// The shell run when the blueprint's component names none.
pub const DEFAULT_SHELL: &str = "/bin/sh";

/// A shell that runs, and the session it belongs to.
pub struct Opened {
    pub session_id: String,
    pub exec: Exec,
    pub conn: Arc<dyn ContainerHost>,
    /// The container's name on its host, and its engine id.
    pub container: String,
    pub docker_id: String,
    /// Keep a transcript.
    pub record: bool,
}

/// The shell's first output is its process id, in a terminal sequence that terminals ignore
/// (`ESC ] 777 ; wharf-pid=N BEL`): the bridge takes it out, and ends the shell with it when the
/// session ends (a TTY's input closing does not end the program behind it).
pub const PID_MARK: &str = "\x1b]777;wharf-pid=";

/// The command as run: `cmd` behind a `/bin/sh` that first says its process id (then becomes
/// `cmd`, keeping that id).
fn wrapped(cmd: &[String]) -> Vec<String> {
    let mut out = vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        "printf '\\033]777;wharf-pid=%s\\007' \"$$\"; exec \"$@\"".to_string(),
        "wharf-console".to_string(),
    ];
    out.extend(cmd.iter().cloned());
    out
}

/// The one running container a console may open a shell in; 409 when it is not running or
/// gone, 503 when its host does not answer.
pub async fn shell_target(ctx: &Context, pool: &HostPool, who: &Principal, id: &str, pick: &Pick) -> ServiceResult<(Targets, Target)> {
    let t = targets(ctx, pool, who, id, Look::Console, pick).await?;
    let target = t.containers.first().cloned().ok_or_else(|| ServiceError::Conflict("no container to open a shell in".into()))?;
    let shown = |e: &dyn std::fmt::Display| if who.is_admin { e.to_string() } else { crate::domain::redact_addresses(&e.to_string()) };
    match t.conn.inspect_container(&target.docker_id).await {
        Ok(Some(info)) if info.running => Ok((t, target)),
        Ok(Some(info)) => Err(ServiceError::Conflict(format!(
            "{} (component `{}`, replica {}) is {}: start it before opening a shell",
            target.name, target.component, target.replica, info.state
        ))),
        Ok(None) => Err(ServiceError::Conflict(format!("{} is gone from host `{}`", target.name, t.host.name))),
        Err(e) => Err(ServiceError::Unavailable(format!("host `{}` does not answer: {}", t.host.name, shown(&e)))),
    }
}

/// Opens a shell in the container `pick` names, and records the session's start (first: an
/// attempt whose shell does not start is on record too, closed with the reason).
pub async fn open(
    ctx: &Context,
    pool: &HostPool,
    settings: &ConsoleSettings,
    who: &Principal,
    client_address: &str,
    id: &str,
    pick: &Pick,
) -> ServiceResult<Opened> {
    let (t, target) = shell_target(ctx, pool, who, id, pick).await?;
    let (bp, _) = blueprints::load(ctx, &t.deployment.blueprint_id, Some(t.deployment.blueprint_version)).await?;
    let cmd = bp.component(&target.component).and_then(|c| c.console.clone()).unwrap_or_else(|| vec![DEFAULT_SHELL.to_string()]);
    let item_records = match &t.deployment.catalog_item_id {
        Some(item) => catalog::find_item(&ctx.db, item).await.map(|i| i.console_record).unwrap_or(false),
        None => false,
    };
    let record = settings.record_all || item_records;
    let session_id = uuid::Uuid::new_v4().to_string();
    let txn = crate::store::begin(&ctx.db).await?;
    console_session::ActiveModel {
        id: Set(session_id.clone()),
        deployment_id: Set(t.deployment.id.clone()),
        component: Set(target.component.clone()),
        replica: Set(target.replica),
        container: Set(target.name.clone()),
        user_id: Set(who.user_id),
        username: Set(who.username.clone()),
        client_address: Set(client_address.to_string()),
        started_at: Set(Utc::now()),
        ended_at: Set(None),
        bytes_in: Set(0),
        bytes_out: Set(0),
        recorded: Set(record),
        transcript: Set(None),
        transcript_truncated: Set(false),
        close_reason: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        &who.username,
        "console.open",
        &format!("deployment:{}", t.deployment.id),
        json!({"session": session_id, "container": target.name, "component": target.component, "replica": target.replica,
               "command": cmd, "recorded": record, "client": client_address}),
    )
    .await?;
    txn.commit().await?;
    match t.conn.exec_tty(&target.docker_id, &wrapped(&cmd), &["TERM=xterm-256color".to_string()]).await {
        Ok(exec) => Ok(Opened { session_id, exec, conn: t.conn, container: target.name, docker_id: target.docker_id, record }),
        Err(e) => {
            let shown = if who.is_admin { e.to_string() } else { crate::domain::redact_addresses(&e.to_string()) };
            let reason = format!("the shell `{}` could not start in {}: {shown}", cmd.join(" "), target.name);
            close(ctx, &who.username, &session_id, Closing { reason: reason.clone(), ..Default::default() }).await?;
            Err(ServiceError::Unavailable(reason))
        }
    }
}

/// Ends a shell that is still running: SIGHUP (what a terminal's hang-up sends; the shell's
/// foreground job gets it too), then SIGKILL. `true` when it ended.
pub async fn hang_up(conn: &dyn ContainerHost, docker_id: &str, exec_id: &str, pid: Option<u32>) -> bool {
    let ended = || async { matches!(conn.exec_exit_code(exec_id).await, Ok(Some(_)) | Err(_)) };
    if ended().await {
        return true;
    }
    let Some(pid) = pid else { return false };
    for signal in ["HUP", "KILL"] {
        let kill = vec!["/bin/sh".to_string(), "-c".to_string(), format!("kill -{signal} {pid}")];
        if let Ok(mut run) = conn.exec_tty(docker_id, &kill, &[]).await {
            let drain = async { while run.output.next().await.is_some() {} };
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), drain).await;
        }
        for _ in 0..20 {
            if ended().await {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    false
}

/// How a session ended.
#[derive(Debug, Default)]
pub struct Closing {
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// What the shell printed (capped), when recorded.
    pub transcript: Option<Vec<u8>>,
    pub truncated: bool,
    pub reason: String,
}

/// Records the end of a session (its row and `console.close`).
pub async fn close(ctx: &Context, actor: &str, session_id: &str, closing: Closing) -> ServiceResult<()> {
    let Some(row) = console_session::Entity::find_by_id(session_id.to_string()).one(&ctx.db).await? else {
        return Err(ServiceError::NotFound(format!("no console session `{session_id}`")));
    };
    let now = Utc::now();
    let seconds = (now - row.started_at).num_seconds();
    let transcript = closing.transcript.as_ref().map(|bytes| ctx.sealer.seal(Kind::Transcript, &String::from_utf8_lossy(bytes)));
    let txn = crate::store::begin(&ctx.db).await?;
    let deployment = row.deployment_id.clone();
    let container = row.container.clone();
    let mut a: console_session::ActiveModel = row.into();
    a.ended_at = Set(Some(now));
    a.bytes_in = Set(closing.bytes_in.min(i64::MAX as u64) as i64);
    a.bytes_out = Set(closing.bytes_out.min(i64::MAX as u64) as i64);
    a.transcript = Set(transcript);
    a.transcript_truncated = Set(closing.truncated);
    a.close_reason = Set(Some(closing.reason.clone()));
    a.update(&txn).await?;
    audit::record(
        &txn,
        actor,
        "console.close",
        &format!("deployment:{deployment}"),
        json!({"session": session_id, "container": container, "bytes_in": closing.bytes_in, "bytes_out": closing.bytes_out,
               "seconds": seconds, "reason": closing.reason}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// A console session as admins read it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: String,
    pub deployment_id: String,
    pub component: String,
    pub replica: i32,
    pub container: String,
    pub user: String,
    pub client_address: String,
    pub started_at: DateTime<Utc>,
    /// Unset while the session is open (or when its process stopped without closing it).
    pub ended_at: Option<DateTime<Utc>>,
    pub bytes_in: i64,
    pub bytes_out: i64,
    pub recorded: bool,
    /// The session's output, when recorded (only in the single-session view).
    pub transcript: Option<String>,
    /// The transcript stops at `console.record_max_bytes`.
    pub transcript_truncated: bool,
    pub close_reason: Option<String>,
}

fn view(s: console_session::Model, transcript: Option<String>) -> SessionView {
    SessionView {
        id: s.id,
        deployment_id: s.deployment_id,
        component: s.component,
        replica: s.replica,
        container: s.container,
        user: s.username,
        client_address: s.client_address,
        started_at: s.started_at,
        ended_at: s.ended_at,
        bytes_in: s.bytes_in,
        bytes_out: s.bytes_out,
        recorded: s.recorded,
        transcript,
        transcript_truncated: s.transcript_truncated,
        close_reason: s.close_reason,
    }
}

/// One session with its transcript (admins: the caller checks).
pub async fn get(ctx: &Context, id: &str) -> ServiceResult<SessionView> {
    let s = console_session::Entity::find_by_id(id.to_string())
        .one(&ctx.db)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("no console session `{id}`")))?;
    let transcript = match &s.transcript {
        Some(sealed) => Some(
            ctx.sealer
                .open(Kind::Transcript, sealed)
                .map_err(|e| ServiceError::Conflict(format!("the transcript cannot be opened with this key: {e}")))?,
        ),
        None => None,
    };
    Ok(view(s, transcript))
}

/// A deployment's latest sessions, newest first, without transcripts.
pub async fn of_deployment(ctx: &Context, deployment_id: &str, limit: u64) -> ServiceResult<Vec<SessionView>> {
    Ok(console_session::Entity::find()
        .filter(console_session::Column::DeploymentId.eq(deployment_id))
        .order_by_desc(console_session::Column::StartedAt)
        .limit(limit)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|s| view(s, None))
        .collect())
}
