//! Durable jobs in the database. A job is claimed with a lease that its worker renews; a job
//! whose lease ran out (its process died, or lost the database) is claimed again by any worker
//! of any replica.
//!
//! Every claim takes a new epoch (the job's `attempts`), and every write a job makes is fenced
//! by its claim: `fence` checks, in the writer's own transaction, that the job is still this
//! worker's, with this epoch and a lease that has not run out. Leases are measured on the
//! database's clock, so replicas whose clocks disagree do not steal each other's jobs.
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

pub use crate::domain::states::JobKind;
use crate::domain::states::JobStatus;
use crate::store::entities::job;

/// A worker's hold on a job: the job, the worker, and the claim's epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub job: i64,
    pub owner: String,
    pub epoch: i32,
}

impl Claim {
    fn condition(&self) -> Condition {
        Condition::all()
            .add(job::Column::Id.eq(self.job))
            .add(job::Column::LeaseOwner.eq(self.owner.as_str()))
            .add(job::Column::Attempts.eq(self.epoch))
            .add(job::Column::Status.eq(JobStatus::Running))
    }
}

pub use crate::store::db_now;

pub async fn enqueue(db: &impl ConnectionTrait, kind: JobKind, deployment_id: &str) -> Result<i64, DbErr> {
    enqueue_for(db, kind, deployment_id, None).await
}

/// A job that carries out a day-2 request.
pub async fn enqueue_for(db: &impl ConnectionTrait, kind: JobKind, deployment_id: &str, request_id: Option<&str>) -> Result<i64, DbErr> {
    let now = Utc::now();
    let row = job::ActiveModel {
        kind: Set(kind),
        deployment_id: Set(deployment_id.into()),
        status: Set(JobStatus::Queued),
        attempts: Set(0),
        lease_owner: Set(None),
        lease_until: Set(None),
        last_error: Set(None),
        progress: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        request_id: Set(request_id.map(str::to_string)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(row.id)
}

fn claimable(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(job::Column::Status.eq(JobStatus::Queued))
        .add(Condition::all().add(job::Column::Status.eq(JobStatus::Running)).add(job::Column::LeaseUntil.lt(now)))
}

/// Takes the oldest claimable job, if any, with a new epoch. The claim is one conditional
/// UPDATE, so two workers (or two replicas) never both get the same job.
pub async fn claim(db: &impl ConnectionTrait, owner: &str, lease_secs: u32) -> Result<Option<(job::Model, Claim)>, DbErr> {
    let now = db_now(db).await?;
    let candidates = job::Entity::find().filter(claimable(now)).order_by_asc(job::Column::Id).limit(8).all(db).await?;
    for c in candidates {
        let res = job::Entity::update_many()
            .col_expr(job::Column::Status, Expr::value(JobStatus::Running))
            .col_expr(job::Column::LeaseOwner, Expr::value(owner))
            .col_expr(job::Column::LeaseUntil, Expr::value(now + Duration::seconds(i64::from(lease_secs))))
            .col_expr(job::Column::Attempts, Expr::col(job::Column::Attempts).add(1))
            .col_expr(job::Column::UpdatedAt, Expr::value(now))
            .filter(job::Column::Id.eq(c.id))
            .filter(job::Column::Attempts.eq(c.attempts))
            .filter(claimable(now))
            .exec(db)
            .await?;
        if res.rows_affected == 1 {
            let claim = Claim { job: c.id, owner: owner.to_string(), epoch: c.attempts + 1 };
            return Ok(job::Entity::find_by_id(c.id).one(db).await?.map(|j| (j, claim)));
        }
    }
    Ok(None)
}

/// Extends the lease; `false` when the job is no longer this claim's.
pub async fn heartbeat(db: &impl ConnectionTrait, claim: &Claim, lease_secs: u32) -> Result<bool, DbErr> {
    let now = db_now(db).await?;
    let res = job::Entity::update_many()
        .col_expr(job::Column::LeaseUntil, Expr::value(now + Duration::seconds(i64::from(lease_secs))))
        .filter(claim.condition())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// In the caller's transaction: `true` while the claim holds (same worker, same epoch, lease
/// not run out). On PostgreSQL the job's row stays locked until the transaction ends, so no
/// claim can slip in between this check and the caller's writes; SQLite's write lock, taken at
/// `BEGIN IMMEDIATE`, does the same.
pub async fn fence(txn: &impl ConnectionTrait, claim: &Claim) -> Result<bool, DbErr> {
    let now = db_now(txn).await?;
    let res = job::Entity::update_many()
        .col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(claim.condition())
        .filter(job::Column::LeaseUntil.gt(now))
        .exec(txn)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn progress(db: &impl ConnectionTrait, claim: &Claim, text: &str) -> Result<(), DbErr> {
    job::Entity::update_many()
        .col_expr(job::Column::Progress, Expr::value(text))
        .col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(claim.condition())
        .exec(db)
        .await?;
    Ok(())
}

/// Ends a job we hold: `done`, or `failed` with the error. `false` when it is not ours.
pub async fn finish(db: &impl ConnectionTrait, claim: &Claim, error: Option<&str>) -> Result<bool, DbErr> {
    let res = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(if error.is_some() { JobStatus::Failed } else { JobStatus::Done }))
        .col_expr(job::Column::LastError, Expr::value(error.map(str::to_string)))
        .col_expr(job::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(claim.condition())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Gives a job back to the queue (a shutting-down worker): any worker may claim it at once.
pub async fn release(db: &impl ConnectionTrait, claim: &Claim) -> Result<bool, DbErr> {
    let res = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobStatus::Queued))
        .col_expr(job::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(job::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(claim.condition())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Whether a deployment has a job queued or running (the reconciler looks for ones without).
pub async fn has_open_job(db: &impl ConnectionTrait, deployment_id: &str) -> Result<bool, DbErr> {
    Ok(job::Entity::find()
        .filter(job::Column::DeploymentId.eq(deployment_id))
        .filter(job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
        .one(db)
        .await?
        .is_some())
}
