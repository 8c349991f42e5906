//! The reconciler: a deployment that is provisioning or destroying with no job queued or
//! running for it (its job's outcome was never written, say) gets a new job; so nothing is
//! left half-way for good. The requests follow their deployments in the request scheduler.
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

use super::Engine;
use super::queue::{self, JobKind};
use crate::domain::states::DeploymentStatus;
use crate::store::audit;
use crate::store::entities::{deployment, job};

/// A deployment is left alone this long after its last change (its job may be on its way).
const SETTLE: Duration = Duration::from_secs(10);

pub async fn run(engine: Engine) {
    loop {
        if let Err(e) = pass(&engine).await {
            tracing::warn!(error = %e, "reconciler pass failed");
        }
        tokio::time::sleep(Duration::from_secs(u64::from(engine.inner.settings.reconcile_interval_secs))).await;
    }
}

/// One pass; returns how many deployments got a new job.
pub async fn pass(engine: &Engine) -> Result<usize, sea_orm::DbErr> {
    let db = &engine.inner.db;
    let before = Utc::now() - chrono::Duration::from_std(SETTLE).unwrap_or_default();
    let stuck = deployment::Entity::find()
        .filter(deployment::Column::Status.is_in([DeploymentStatus::Provisioning, DeploymentStatus::Destroying]))
        .filter(deployment::Column::UpdatedAt.lt(before))
        .all(db)
        .await?;
    let mut requeued = 0;
    for d in stuck {
        if queue::has_open_job(db, &d.id).await? {
            continue;
        }
        let kind = if d.status == DeploymentStatus::Destroying { JobKind::Destroy } else { JobKind::Provision };
        let txn = crate::store::begin(db).await?;
        // Only one replica wins: the deployment must be exactly as read.
        let res = deployment::Entity::update_many()
            .col_expr(deployment::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(deployment::Column::Id.eq(&d.id))
            .filter(deployment::Column::Status.eq(d.status))
            .filter(deployment::Column::UpdatedAt.eq(d.updated_at))
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 || queue::has_open_job(&txn, &d.id).await? {
            continue;
        }
        // The day-2 request the last job carried out (a retry, a destroy) follows the new one.
        let request_id = job::Entity::find()
            .filter(job::Column::DeploymentId.eq(&d.id))
            .filter(job::Column::Kind.eq(kind))
            .order_by_desc(job::Column::Id)
            .one(&txn)
            .await?
            .and_then(|j| j.request_id);
        queue::enqueue_for(&txn, kind, &d.id, request_id.as_deref()).await?;
        audit::record(
            &txn,
            audit::SYSTEM,
            "deployment.reconcile",
            &format!("deployment:{}", d.id),
            json!({"status": d.status, "job": kind}),
        )
        .await?;
        txn.commit().await?;
        tracing::warn!(deployment = %d.id, status = %d.status, "deployment had no job; a new one is queued");
        requeued += 1;
    }
    if requeued > 0 {
        engine.inner.signals.job_queued();
    }
    Ok(requeued)
}
