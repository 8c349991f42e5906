//! Durable jobs in the database. A job is claimed with a lease that its worker renews; a job
//! whose lease ran out (its process died) is claimed again by any worker of any replica.
use chrono::{Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

pub use crate::domain::states::JobKind;
use crate::domain::states::JobStatus;
use crate::store::entities::job;

pub async fn enqueue(db: &impl ConnectionTrait, kind: JobKind, deployment_id: &str) -> Result<i64, DbErr> {
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
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(row.id)
}

fn claimable(now: chrono::DateTime<Utc>) -> Condition {
    Condition::any()
        .add(job::Column::Status.eq(JobStatus::Queued))
        .add(Condition::all().add(job::Column::Status.eq(JobStatus::Running)).add(job::Column::LeaseUntil.lt(now)))
}

/// Takes the oldest claimable job, if any. The claim is one conditional UPDATE, so two
/// workers (or two replicas) never both get the same job.
pub async fn claim(db: &impl ConnectionTrait, owner: &str, lease_secs: u32) -> Result<Option<job::Model>, DbErr> {
    let now = Utc::now();
    let candidates = job::Entity::find().filter(claimable(now)).order_by_asc(job::Column::Id).limit(8).all(db).await?;
    for c in candidates {
        let res = job::Entity::update_many()
            .col_expr(job::Column::Status, Expr::value(JobStatus::Running))
            .col_expr(job::Column::LeaseOwner, Expr::value(owner))
            .col_expr(job::Column::LeaseUntil, Expr::value(now + Duration::seconds(i64::from(lease_secs))))
            .col_expr(job::Column::Attempts, Expr::col(job::Column::Attempts).add(1))
            .col_expr(job::Column::UpdatedAt, Expr::value(now))
            .filter(job::Column::Id.eq(c.id))
            .filter(claimable(now))
            .exec(db)
            .await?;
        if res.rows_affected == 1 {
            return job::Entity::find_by_id(c.id).one(db).await;
        }
    }
    Ok(None)
}

/// Extends the lease; `false` when the job is no longer ours.
pub async fn heartbeat(db: &impl ConnectionTrait, id: i64, owner: &str, lease_secs: u32) -> Result<bool, DbErr> {
    let res = job::Entity::update_many()
        .col_expr(job::Column::LeaseUntil, Expr::value(Utc::now() + Duration::seconds(i64::from(lease_secs))))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::LeaseOwner.eq(owner))
        .filter(job::Column::Status.eq(JobStatus::Running))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn progress(db: &impl ConnectionTrait, id: i64, owner: &str, text: &str) -> Result<(), DbErr> {
    job::Entity::update_many()
        .col_expr(job::Column::Progress, Expr::value(text))
        .col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::LeaseOwner.eq(owner))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends a job we hold: `done`, or `failed` with the error.
pub async fn finish(db: &impl ConnectionTrait, id: i64, owner: &str, error: Option<&str>) -> Result<bool, DbErr> {
    let res = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(if error.is_some() { JobStatus::Failed } else { JobStatus::Done }))
        .col_expr(job::Column::LastError, Expr::value(error.map(str::to_string)))
        .col_expr(job::Column::LeaseUntil, Expr::value(Option::<chrono::DateTime<Utc>>::None))
        .col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::LeaseOwner.eq(owner))
        .filter(job::Column::Status.eq(JobStatus::Running))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
