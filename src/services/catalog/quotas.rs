//! Quotas per group: limits set by admins.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set};
use serde_json::json;

use crate::domain::quota::{Amount, Limits};
use crate::domain::states::{Day2Action, DeploymentStatus, RequestKind, RequestStatus};
use crate::services::{FieldError, ServiceError, ServiceResult, accounts, audit};
use crate::store::entities::{deployment, quota, request};

pub async fn set_quota(db: &DatabaseConnection, actor: &str, group_name: &str, limits: Limits) -> ServiceResult<Limits> {
    let g = accounts::find_group(db, group_name).await?.ok_or_else(|| ServiceError::NotFound(format!("no group `{group_name}`")))?;
    let mut errors = Vec::new();
    if limits.max_containers.is_some_and(|n| n < 0) {
        errors.push(FieldError::new("max_containers", "must be 0 or more"));
    }
    if limits.max_memory_mb.is_some_and(|n| n < 0) {
        errors.push(FieldError::new("max_memory_mb", "must be 0 or more"));
    }
    if limits.max_cpus.is_some_and(|n| !(n.is_finite() && n >= 0.0)) {
        errors.push(FieldError::new("max_cpus", "must be 0 or more"));
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let txn = crate::store::begin(db).await?;
    let row = quota::ActiveModel {
        group_id: Set(g.id),
        max_containers: Set(limits.max_containers.map(|n| i32::try_from(n).unwrap_or(i32::MAX))),
        max_memory_mb: Set(limits.max_memory_mb),
        max_cpus: Set(limits.max_cpus),
        updated_at: Set(Utc::now()),
    };
    quota::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(quota::Column::GroupId)
                .update_columns([
                    quota::Column::MaxContainers,
                    quota::Column::MaxMemoryMb,
                    quota::Column::MaxCpus,
                    quota::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(&txn)
        .await?;
    audit::record(&txn, actor, "quota.set", &format!("group:{}", g.name), json!(limits)).await?;
    txn.commit().await?;
    Ok(limits)
}

/// A group's limits: its own quota, or `default` (`default_quota` in the configuration) when
/// it has none.
pub async fn limits_of(db: &impl sea_orm::ConnectionTrait, group_id: i64, default: Limits) -> Result<Limits, sea_orm::DbErr> {
    Ok(match quota::Entity::find_by_id(group_id).one(db).await? {
        Some(q) => Limits { max_containers: q.max_containers.map(i64::from), max_memory_mb: q.max_memory_mb, max_cpus: q.max_cpus },
        None => default,
    })
}

/// Every group's own limits, in one query (a group absent has `default_quota`'s).
pub async fn limits_by_group(db: &impl ConnectionTrait) -> Result<HashMap<i64, Limits>, sea_orm::DbErr> {
    Ok(quota::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|q| {
            (q.group_id, Limits { max_containers: q.max_containers.map(i64::from), max_memory_mb: q.max_memory_mb, max_cpus: q.max_cpus })
        })
        .collect())
}

/// What a group uses now, read from what exists (no counter to drift): its live deployments
/// (stopped and expired ones included, until they are destroyed), its catalog requests not yet
/// deployed, and what its open day-2 requests add (a scale's growth until its job has recorded
/// the new size, a retry's whole deployment until it starts) while their deployment is live.
/// The requests are read first: a request that becomes a deployment between the two reads is
/// counted twice for a moment, never missed.
pub async fn usage(db: &impl ConnectionTrait, group_id: i64) -> Result<Amount, sea_orm::DbErr> {
    let waiting = request::Entity::find()
        .filter(request::Column::GroupId.eq(group_id))
        .filter(request::Column::Status.is_in(RequestStatus::OPEN.iter().copied()))
        .all(db)
        .await?;
    let live = deployment::Entity::find()
        .filter(deployment::Column::GroupId.eq(group_id))
        .filter(deployment::Column::Status.is_in(DeploymentStatus::LIVE.iter().copied()))
        .all(db)
        .await?;
    let mut used = Amount::default();
    for r in &waiting {
        if holds(r, |d| live.iter().any(|l| l.id == d)) {
            add(&mut used, r.containers, r.memory_mb, r.cpus);
        }
    }
    for d in live {
        add(&mut used, d.containers, d.memory_mb, d.cpus);
    }
    Ok(used)
}

/// What every group uses now (groups that use nothing are absent), by the rule of `usage`,
/// in three queries: the open requests, the live deployments' sizes, and which deployments of
/// open scale requests are live.
pub async fn usage_by_group(db: &impl ConnectionTrait) -> Result<HashMap<i64, Amount>, sea_orm::DbErr> {
    let waiting = request::Entity::find().filter(request::Column::Status.is_in(RequestStatus::OPEN.iter().copied())).all(db).await?;
    let sizes: Vec<(Option<i64>, i32, i64, f64)> = deployment::Entity::find()
        .select_only()
        .column(deployment::Column::GroupId)
        .column(deployment::Column::Containers)
        .column(deployment::Column::MemoryMb)
        .column(deployment::Column::Cpus)
        .filter(deployment::Column::Status.is_in(DeploymentStatus::LIVE.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    let scaled: Vec<String> = waiting
        .iter()
        .filter(|r| r.kind == RequestKind::Day2 && r.action == Some(Day2Action::Scale))
        .filter_map(|r| r.deployment_id.clone())
        .collect();
    let live: HashSet<String> = if scaled.is_empty() {
        HashSet::new()
    } else {
        deployment::Entity::find()
            .select_only()
            .column(deployment::Column::Id)
            .filter(deployment::Column::Id.is_in(scaled))
            .filter(deployment::Column::Status.is_in(DeploymentStatus::LIVE.iter().copied()))
            .into_tuple::<String>()
            .all(db)
            .await?
            .into_iter()
            .collect()
    };
    let mut used: HashMap<i64, Amount> = HashMap::new();
    for r in &waiting {
        if holds(r, |d| live.contains(d)) {
            add(used.entry(r.group_id).or_default(), r.containers, r.memory_mb, r.cpus);
        }
    }
    for (group, containers, memory_mb, cpus) in sizes {
        if let Some(g) = group {
            add(used.entry(g).or_default(), containers, memory_mb, cpus);
        }
    }
    Ok(used)
}

/// Whether an open request counts against its group's quota beside the live deployments
/// (`is_live` says whether a deployment is live).
fn holds(r: &request::Model, is_live: impl Fn(&str) -> bool) -> bool {
    match (r.kind, r.action, r.status) {
        (RequestKind::Catalog, _, s) => s != RequestStatus::Provisioning,
        (RequestKind::Day2, Some(Day2Action::Scale), _) => r.deployment_id.as_deref().is_some_and(is_live),
        (RequestKind::Day2, Some(Day2Action::Retry), s) => s != RequestStatus::Provisioning,
        _ => false,
    }
}

fn add(used: &mut Amount, containers: i32, memory_mb: i64, cpus: f64) {
    used.containers += i64::from(containers.max(0));
    used.memory_mb += memory_mb.max(0);
    used.cpus += cpus.max(0.0);
}
