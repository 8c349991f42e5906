//! The lease loop: warns before a lease ends, stops a deployment whose lease ended (`expired`:
//! its containers stopped, not removed), and destroys it when its grace is over (at once when the
//! grace is 0), with the system as the actor. Every replica runs it: each move is a conditional
//! update of the deployment's state made in the same transaction as the job it queues, and each
//! warning a timeline entry with a key unique per deployment, so every event happens once. A
//! lease that ended while Wharf was down is handled at the first look after start.
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};
use serde_json::json;

use super::{Context, ServiceResult, audit, notify};
use crate::config::LeaseSettings;
use crate::domain::events::EventType;
use crate::domain::lifecycle;
use crate::domain::states::{DeploymentEvent, DeploymentEventKind, DeploymentStatus, JobKind};
use crate::engine::queue;
use crate::store::deployments::{Moved, advance, record_event};
use crate::store::entities::deployment;

/// What one look did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Looked {
    pub warned: usize,
    pub expired: usize,
    pub destroyed: usize,
}

/// The loop; `managers`: lease events notify the group's managers besides the owner.
pub async fn run(ctx: Context, settings: LeaseSettings, managers: bool) {
    loop {
        match tick(&ctx, &settings, managers).await {
            Ok(l) if l != Looked::default() => tracing::info!(warned = l.warned, expired = l.expired, destroyed = l.destroyed, "leases"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "lease loop"),
        }
        tokio::time::sleep(Duration::from_secs(u64::from(settings.check_interval_secs))).await;
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// What the end of `d`'s lease calls for at `now`: expire it (a stop job), or destroy it (its
/// grace is over); `None` while its lease runs or when nothing applies to its state.
fn decide(d: &deployment::Model, now: DateTime<Utc>) -> Option<(DeploymentEvent, JobKind, String, &'static str)> {
    let end = d.lease_expires_at.filter(|e| *e <= now)?;
    let grace_ends = lifecycle::grace_ends(end, d.lease_grace_days);
    let grace_over = grace_ends <= now;
    Some(match d.status {
        s if s.is_settled() && grace_over => (
            DeploymentEvent::Destroy,
            JobKind::Destroy,
            format!("the lease ended on {}, with no grace left: destroyed", when(end)),
            "deployment.destroy",
        ),
        s if s.is_settled() => (
            DeploymentEvent::Expire,
            JobKind::Stop,
            format!("the lease ended on {}: containers stopped; destroyed on {} unless the lease is extended", when(end), when(grace_ends)),
            "deployment.expire",
        ),
        DeploymentStatus::Expired | DeploymentStatus::Failed if grace_over => (
            DeploymentEvent::Destroy,
            JobKind::Destroy,
            format!("the grace after the lease ended ({}) is over: destroyed", when(end)),
            "deployment.destroy",
        ),
        _ => return None,
    })
}

pub async fn tick(ctx: &Context, settings: &LeaseSettings, managers: bool) -> ServiceResult<Looked> {
    let warn_days = settings.warn_days.as_slice();
    let db = &ctx.db;
    let now = queue::db_now(db).await?;
    let mut looked = Looked::default();
    let with_lease = deployment::Entity::find()
        .filter(deployment::Column::LeaseExpiresAt.is_not_null())
        .filter(deployment::Column::Status.is_in([
            DeploymentStatus::Provisioning,
            DeploymentStatus::Running,
            DeploymentStatus::Stopped,
            DeploymentStatus::Drifted,
            DeploymentStatus::Expired,
            DeploymentStatus::Failed,
        ]))
        .all(db)
        .await?;
    for d in with_lease {
        let Some(end) = d.lease_expires_at else { continue };
        // Warnings, each once for this end (an extended lease warns again).
        if end > now {
            for (days, key) in lifecycle::warnings_due(end, warn_days, now) {
                let text = format!("the lease ends on {} (warned {days} day{} before)", when(end), if days == 1 { "" } else { "s" });
                // The warning and its notifications are one transaction: once, and never lost.
                let txn = crate::store::begin(db).await?;
                if record_event(&txn, &d.id, DeploymentEventKind::LeaseWarning, &text, Some(&key)).await? {
                    notify::lease_event(&txn, &d, EventType::LeaseWarning, &text, managers).await?;
                    looked.warned += 1;
                }
                txn.commit().await?;
            }
            continue;
        }
        if decide(&d, now).is_none() {
            if d.status == DeploymentStatus::Expired {
                looked.expired += stop_again(ctx, &d, now, settings.stop_again_secs).await?;
            }
            continue;
        }
        // Decided again on the row as it is now, locked (PostgreSQL; SQLite's write lock is held):
        // an extension or an action committed since the first read wins.
        let txn = crate::store::begin(db).await?;
        let q = deployment::Entity::find_by_id(d.id.clone());
        let fresh =
            if txn.get_database_backend() == DbBackend::Postgres { q.lock_exclusive().one(&txn).await? } else { q.one(&txn).await? };
        // A job at work on it (provisioning, an action) finishes first.
        let Some((fresh, (event, job, text, action))) = fresh.and_then(|f| decide(&f, now).map(|x| (f, x))) else {
            txn.rollback().await.ok();
            continue;
        };
        if queue::has_open_job(&txn, &fresh.id).await? {
            txn.rollback().await.ok();
            continue;
        }
        let end = fresh.lease_expires_at.unwrap_or(now);
        match advance(&txn, &d.id, event, None, None).await? {
            Moved::To(_) => {}
            Moved::Refused(_) | Moved::Raced => {
                txn.rollback().await.ok();
                continue;
            }
        }
        queue::enqueue(&txn, job, &d.id).await?;
        let kind = if event == DeploymentEvent::Expire { DeploymentEventKind::Expired } else { DeploymentEventKind::Destroyed };
        record_event(&txn, &d.id, kind, &text, None).await?;
        // The end of the grace is told when the destruction has finished (engine/destroy.rs).
        if event == DeploymentEvent::Expire {
            notify::lease_event(&txn, &fresh, EventType::LeaseExpired, &text, managers).await?;
        }
        audit::record(&txn, audit::SYSTEM, action, &format!("deployment:{}", d.id), json!({"reason": text, "lease_expires_at": end}))
            .await?;
        txn.commit().await?;
        if event == DeploymentEvent::Expire {
            looked.expired += 1;
        } else {
            looked.destroyed += 1;
        }
        ctx.signals.job_queued();
    }
    Ok(looked)
}

/// An expired deployment with a container recorded running (its stop failed, or a container
/// came back) gets another stop, at most every `every` seconds after its last job; 1 when one
/// was queued.
async fn stop_again(ctx: &Context, d: &deployment::Model, now: DateTime<Utc>, every: u32) -> ServiceResult<usize> {
    use crate::domain::states::{ResourceKind, ResourceStatus};
    use crate::store::entities::{job, resource};
    let db = &ctx.db;
    let running = resource::Entity::find()
        .filter(resource::Column::DeploymentId.eq(&d.id))
        .filter(resource::Column::Kind.is_in([ResourceKind::Container, ResourceKind::Service]))
        .filter(resource::Column::Status.is_in([ResourceStatus::Running, ResourceStatus::Restarting]))
        .count(db)
        .await?;
    if running == 0 {
        return Ok(0);
    }
    let recent = job::Entity::find()
        .filter(job::Column::DeploymentId.eq(&d.id))
        .filter(job::Column::UpdatedAt.gt(now - chrono::Duration::seconds(i64::from(every))))
        .count(db)
        .await?;
    if recent > 0 {
        return Ok(0);
    }
    let txn = crate::store::begin(db).await?;
    let q = deployment::Entity::find_by_id(d.id.clone());
    let fresh = if txn.get_database_backend() == DbBackend::Postgres { q.lock_exclusive().one(&txn).await? } else { q.one(&txn).await? };
    if fresh.is_none_or(|f| f.status != DeploymentStatus::Expired) || queue::has_open_job(&txn, &d.id).await? {
        txn.rollback().await.ok();
        return Ok(0);
    }
    queue::enqueue(&txn, JobKind::Stop, &d.id).await?;
    record_event(
        &txn,
        &d.id,
        DeploymentEventKind::Expired,
        &format!("{running} container(s) of an expired deployment run: stopped again"),
        None,
    )
    .await?;
    txn.commit().await?;
    ctx.signals.job_queued();
    Ok(1)
}
