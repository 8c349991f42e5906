//! State changes of a deployment, each checked against its state machine and written only if
//! the row is still in the state that was read: a racing writer wins, this one changes nothing.
use chrono::Utc;
use sea_orm::sea_query::Expr;
use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::StringMap;
use super::entities::{deployment, deployment_event, resource};
use crate::domain::states::{DeploymentEvent, DeploymentEventKind, DeploymentStatus, ResourceKind, TransitionError};

/// What came of an attempted move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved {
    /// The deployment is now in this state.
    To(DeploymentStatus),
    /// Its state does not allow the move (the reason says why).
    Refused(TransitionError),
    /// It is gone, or it changed under us.
    Raced,
}

/// Moves deployment `id` by `event`, setting its error (or clearing it) and, when given, its
/// outputs.
pub async fn advance(
    db: &impl ConnectionTrait,
    id: &str,
    event: DeploymentEvent,
    error: Option<String>,
    outputs: Option<StringMap>,
) -> Result<Moved, DbErr> {
    let Some(d) = deployment::Entity::find_by_id(id.to_string()).one(db).await? else { return Ok(Moved::Raced) };
    let to = match d.status.next(event) {
        Ok(to) => to,
        Err(e) => return Ok(Moved::Refused(e)),
    };
    let mut update = deployment::Entity::update_many()
        .col_expr(deployment::Column::Status, Expr::value(to))
        .col_expr(deployment::Column::Error, Expr::value(error))
        .col_expr(deployment::Column::UpdatedAt, Expr::value(Utc::now()));
    if let Some(o) = outputs {
        update = update.col_expr(deployment::Column::Outputs, Expr::value(o));
    }
    let res = update.filter(deployment::Column::Id.eq(id)).filter(deployment::Column::Status.eq(d.status)).exec(db).await?;
    Ok(if res.rows_affected == 1 { Moved::To(to) } else { Moved::Raced })
}

/// Adds an entry to a deployment's own timeline. With `once_key`, only the first of several
/// writers (replicas, restarts) adds it: `false` when it was there already.
pub async fn record_event(
    db: &impl ConnectionTrait,
    id: &str,
    kind: DeploymentEventKind,
    message: &str,
    once_key: Option<&str>,
) -> Result<bool, DbErr> {
    let row = deployment_event::ActiveModel {
        deployment_id: sea_orm::Set(id.to_string()),
        at: sea_orm::Set(Utc::now()),
        kind: sea_orm::Set(kind),
        message: sea_orm::Set(message.to_string()),
        once_key: sea_orm::Set(once_key.map(str::to_string)),
        ..Default::default()
    };
    let res = deployment_event::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns([deployment_event::Column::DeploymentId, deployment_event::Column::OnceKey])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(res == 1)
}

/// How many deployments are in each status (statuses with none are absent).
pub async fn count_by_status(db: &impl ConnectionTrait) -> Result<Vec<(DeploymentStatus, i64)>, DbErr> {
    deployment::Entity::find()
        .select_only()
        .column(deployment::Column::Status)
        .column_as(deployment::Column::Id.count(), "n")
        .group_by(deployment::Column::Status)
        .into_tuple()
        .all(db)
        .await
}

/// Containers made, per live deployment placed on a host (counted by the database, not read
/// row by row): what placement and the admin's board count beside each deployment's plan.
pub async fn containers_made(db: &impl ConnectionTrait) -> Result<HashMap<String, i64>, DbErr> {
    let live_ids = sea_orm::sea_query::Query::select()
        .column(deployment::Column::Id)
        .from(deployment::Entity)
        .and_where(deployment::Column::HostId.is_not_null())
        .and_where(deployment::Column::Status.is_in(DeploymentStatus::LIVE.iter().copied()))
        .to_owned();
    Ok(resource::Entity::find()
        .select_only()
        .column(resource::Column::DeploymentId)
        .column_as(resource::Column::Id.count(), "n")
        .filter(resource::Column::Kind.eq(ResourceKind::Container))
        .filter(resource::Column::DeploymentId.in_subquery(live_ids))
        .group_by(resource::Column::DeploymentId)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// The containers a live deployment holds on its host: those planned, or those that exist where
/// it planned fewer (a deployment made before plans were recorded).
pub fn containers_held(planned: i32, made: &HashMap<String, i64>, id: &str) -> i64 {
    i64::from(planned.max(0)).max(made.get(id).copied().unwrap_or(0))
}
