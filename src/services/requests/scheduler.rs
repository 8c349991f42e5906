//! The request scheduler: times levels out, turns approved requests into deployments (once,
//! whatever the number of replicas), and follows each request's deployment.
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use serde_json::json;

use super::decide::record_decision;
use super::timeline;
use crate::domain::policy::Outcome;
use crate::domain::states::{DeploymentStatus, RequestEvent, RequestKind, RequestStatus, TimelineKind};
use crate::services::deployments::{self, Origin};
use crate::services::{Context, ServiceError, ServiceResult, audit, catalog};
use crate::store::entities::{deployment, request};

/// Runs until the process ends; woken by decisions and finished jobs, else once a second.
pub async fn run(ctx: Context) {
    loop {
        if let Err(e) = tick(&ctx).await {
            tracing::error!(error = %e, "request scheduler");
        }
        ctx.signals.request_waited(Duration::from_secs(1)).await;
    }
}

pub async fn tick(ctx: &Context) -> ServiceResult<()> {
    time_out_levels(ctx).await?;
    // Approved: becomes a deployment, once (the status changes in the same transaction).
    for r in readable(&ctx.db, Condition::all().add(request::Column::Status.eq(RequestStatus::Approved))).await? {
        // One request that cannot be started is logged and skipped; the others go on.
        let id = r.id.clone();
        let started = match r.kind {
            RequestKind::Catalog => start(ctx, r).await,
            RequestKind::Day2 => super::day2::start(ctx, r).await,
        };
        if let Err(e) = started {
            tracing::error!(request = %id, error = %e, "cannot start an approved request; trying again at the next tick");
        }
    }
    super::day2::follow(ctx).await?;
    follow_deployments(ctx).await
}

/// An approved request handed straight to provisioning (its deployment made and its job
/// queued) without waiting for the scheduler's next look, in the background. Should that
/// fail, the scheduler starts it at its next look; a request already started (by the
/// scheduler, another replica) is left as it is.
pub fn hand_off(ctx: &Context, id: String) {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let found = request::Entity::find_by_id(id.clone()).one(&ctx.db).await;
        let started = match found {
            Ok(Some(r)) if r.status == RequestStatus::Approved && r.kind == RequestKind::Catalog => start(&ctx, r).await,
            Ok(_) => Ok(()),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = started {
            tracing::warn!(request = %id, error = %e, "approved request not started at once; the scheduler tries again");
            ctx.signals.request_moved();
        }
    });
}

/// Levels whose timeout passed are decided by their policy's outcome.
async fn time_out_levels(ctx: &Context) -> ServiceResult<()> {
    let db = &ctx.db;
    let now = Utc::now();
    for r in readable(db, Condition::all().add(request::Column::Status.eq(RequestStatus::PendingApproval))).await? {
        // The level as the request was submitted under it (its policy may have changed since).
        let Some(level) = r.explain.levels.get(r.level as usize).map(|l| l.rule()) else { continue };
        let (Some(hours), Some(outcome), Some(started)) = (level.timeout_hours, level.on_timeout, r.level_started_at) else { continue };
        // A timeout too far away to be a date is never reached.
        let due = chrono::Duration::try_milliseconds((hours * 3_600_000.0) as i64).and_then(|d| started.checked_add_signed(d));
        if due.is_some_and(|due| now >= due) {
            let comment = format!("no decision within {hours} h: {} by the policy", outcome.word());
            match record_decision(db, &r, None, audit::SYSTEM, outcome == Outcome::Approve, &comment).await {
                Ok(()) => ctx.signals.timeline_written(),
                Err(ServiceError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Requests that made a deployment follow it (`RequestStatus::follow`), whatever states it went
/// through since the last look: those still provisioning, those holding quota (succeeded, or
/// failed and retried), and failed ones whose deployment is live again (retried). Only the
/// requests whose deployment no longer matches them are read, so a look costs the same with
/// ten thousand deployments as with ten.
async fn follow_deployments(ctx: &Context) -> ServiceResult<()> {
    let db = &ctx.db;
    let deployments_in = |statuses: &[DeploymentStatus]| {
        Query::select()
            .column(deployment::Column::Id)
            .from(deployment::Entity)
            .and_where(deployment::Column::Status.is_in(statuses.iter().copied()))
            .to_owned()
    };
    let live: Vec<DeploymentStatus> = DeploymentStatus::LIVE.to_vec();
    let live_settled: Vec<DeploymentStatus> = live.iter().copied().filter(|s| *s != DeploymentStatus::Provisioning).collect();
    let following = Condition::any()
        // Provisioning, and its deployment is not (or is gone), or it does not hold quota yet.
        .add(
            Condition::all().add(request::Column::Status.eq(RequestStatus::Provisioning)).add(
                Condition::any()
                    .add(request::Column::DeploymentId.not_in_subquery(deployments_in(&[DeploymentStatus::Provisioning])))
                    .add(request::Column::HoldsQuota.eq(false)),
            ),
        )
        // Holding quota for a deployment that is no longer live (or is gone).
        .add(
            Condition::all()
                .add(request::Column::Status.is_in([RequestStatus::Provisioning, RequestStatus::Succeeded, RequestStatus::Failed]))
                .add(request::Column::HoldsQuota.eq(true))
                .add(request::Column::DeploymentId.not_in_subquery(deployments_in(&live))),
        )
        // Failed, and its deployment was retried: live again, or provisioning without quota held.
        .add(
            Condition::all().add(request::Column::Status.eq(RequestStatus::Failed)).add(
                Condition::any().add(request::Column::DeploymentId.in_subquery(deployments_in(&live_settled))).add(
                    Condition::all()
                        .add(request::Column::HoldsQuota.eq(false))
                        .add(request::Column::DeploymentId.in_subquery(deployments_in(&live))),
                ),
            ),
        );
    for r in readable(db, Condition::all().add(request::Column::Kind.eq(RequestKind::Catalog)).add(following)).await? {
        let Some(did) = &r.deployment_id else { continue };
        let (status, error, name) = match deployment::Entity::find_by_id(did.clone()).one(db).await? {
            Some(d) => (d.status, d.error, d.name),
            // Gone without a trace: as good as destroyed.
            None => (DeploymentStatus::Destroyed, None, did.clone()),
        };
        let Some(f) = r.status.follow(r.holds_quota, status) else { continue };
        let message = match f.kind {
            TimelineKind::Succeeded => format!("deployment {name} is {status}"),
            TimelineKind::Failed => format!("provisioning failed: {}", error.clone().unwrap_or_default()),
            TimelineKind::Released if status == DeploymentStatus::Orphaned => {
                format!("deployment {name} was orphaned (its host was removed); its quota is released")
            }
            TimelineKind::Released => format!("the deployment is {status}; its quota is released"),
            _ => format!("deployment {name} is {status} again"),
        };
        let error = if f.to == RequestStatus::Failed { error } else { None };
        let txn = crate::store::begin(db).await?;
        let res = request::Entity::update_many()
            .col_expr(request::Column::Status, Expr::value(f.to))
            .col_expr(request::Column::HoldsQuota, Expr::value(f.holds_quota))
            .col_expr(request::Column::Error, Expr::value(error))
            .col_expr(request::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(request::Column::Id.eq(&r.id))
            .filter(request::Column::Status.eq(r.status))
            .filter(request::Column::HoldsQuota.eq(r.holds_quota))
            .exec(&txn)
            .await?;
        if res.rows_affected == 1 {
            timeline(&txn, &r.id, f.kind, message).await?;
        }
        txn.commit().await?;
        ctx.signals.timeline_written();
    }
    Ok(())
}

/// The requests that match, read one at a time when reading them all at once fails: a row that
/// does not read is logged and skipped, so that one bad row never stops the scheduler.
async fn readable(db: &DatabaseConnection, condition: Condition) -> Result<Vec<request::Model>, sea_orm::DbErr> {
    match request::Entity::find().filter(condition.clone()).all(db).await {
        Ok(rows) => Ok(rows),
        Err(e) => {
            tracing::error!(error = %e, "some requests do not read; reading them one by one");
            let ids: Vec<String> =
                request::Entity::find().select_only().column(request::Column::Id).filter(condition).into_tuple().all(db).await?;
            let mut rows = Vec::with_capacity(ids.len());
            for id in ids {
                match request::Entity::find_by_id(id.clone()).one(db).await {
                    Ok(Some(r)) => rows.push(r),
                    Ok(None) => {}
                    Err(e) => tracing::error!(request = %id, error = %e, "a request does not read; the scheduler skips it"),
                }
            }
            Ok(rows)
        }
    }
}

/// Makes the deployment of an approved request and queues its provisioning.
async fn start(ctx: &Context, r: request::Model) -> ServiceResult<()> {
    let db = &ctx.db;
    let item = catalog::find_item(db, &r.catalog_item_id).await?;
    // The version the request was checked and approved with (older requests: the item's).
    let version = r.blueprint_version.or(item.blueprint_version);
    let given = match crate::services::blueprints::load(ctx, &item.blueprint_id, version).await {
        Ok((bp, _)) => ctx.sealer.open_inputs(&bp, &r.inputs).map_err(|e| ServiceError::Conflict(format!("the request's inputs: {e}")))?,
        Err(_) => r.inputs.clone(),
    };
    let p = match deployments::prepare(ctx, &item.blueprint_id, version, &given.to_json_map(), None).await {
        Ok(p) => p,
        Err(e) => {
            // Cannot happen for inputs checked at submission, unless the blueprint went away.
            let to = r.status.next(RequestEvent::Fail).map_err(|e| ServiceError::Conflict(e.to_string()))?;
            let txn = crate::store::begin(db).await?;
            request::Entity::update_many()
                .col_expr(request::Column::Status, Expr::value(to))
                .col_expr(request::Column::HoldsQuota, Expr::value(false))
                .col_expr(request::Column::Error, Expr::value(Some(e.to_string())))
                .filter(request::Column::Id.eq(&r.id))
                .filter(request::Column::Status.eq(r.status))
                .exec(&txn)
                .await?;
            timeline(&txn, &r.id, TimelineKind::Failed, format!("cannot start provisioning: {e}")).await?;
            txn.commit().await?;
            ctx.signals.timeline_written();
            return Ok(());
        }
    };
    let origin = Origin {
        host_selector: item.host_selector.0.clone(),
        owner_id: Some(r.requester_id),
        group_id: Some(r.group_id),
        catalog_item: Some(item.id.clone()),
        request_id: Some(r.id.clone()),
        // Within the item's longest lease as it is now (an admin may have shortened it since).
        lease_days: Some(r.lease_days.min(item.lease_max_days)),
        grace_days: Some(item.lease_grace_days),
        max_days: Some(item.lease_max_days),
    };
    let to = r.status.next(RequestEvent::StartProvisioning).map_err(|e| ServiceError::Conflict(e.to_string()))?;
    let txn = crate::store::begin(db).await?;
    let res = request::Entity::update_many()
        .col_expr(request::Column::Status, Expr::value(to))
        .col_expr(request::Column::DeploymentId, Expr::value(Some(p.id.clone())))
        .col_expr(request::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(request::Column::Id.eq(&r.id))
        .filter(request::Column::Status.eq(r.status))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Ok(()); // another replica started it, or it was cancelled
    }
    deployments::insert(&txn, &ctx.sealer, &p, &origin).await?;
    timeline(&txn, &r.id, TimelineKind::Provisioning, format!("provisioning deployment {}", p.name)).await?;
    audit::record(
        &txn,
        audit::SYSTEM,
        "deployment.create",
        &format!("deployment:{}", p.id),
        json!({"request": r.id, "catalog_item": item.id}),
    )
    .await?;
    txn.commit().await?;
    ctx.signals.job_queued();
    ctx.signals.timeline_written();
    Ok(())
}
