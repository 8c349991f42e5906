//! The network pool: on every host that is up, a few deployment networks made ahead of time
//! (`engine.network_pool` per host), so that provisioning claims one instead of creating it on
//! the request's critical path.
//!
//! Docker can neither rename nor relabel a network, so a pool network carries `io.wharf.pool`
//! (and the installation's labels) but no deployment. Its row in `pool_networks` says whose it
//! is: a claim is one conditional update, made in the same fenced transaction that records the
//! network as the deployment's resource, so a claim is never lost nor made twice; the
//! deployment's containers carry the network's name (`io.wharf.network`). Destroying the
//! deployment removes the network like a network of its own.
//!
//! The filler (`run`) keeps each host's pool full, woken at once by a claim. It also applies
//! the pool's rule, which the orphan collector leaves to it: a pool network without a row (its
//! maker stopped between the create and the insert) is removed once seen so for the orphan
//! grace; a claimed network whose deployment is gone or destroyed is removed with its row; an
//! unclaimed row whose network vanished is dropped.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::json;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Engine;
use crate::docker::{ContainerHost, labels};
use crate::domain::states::{DeploymentStatus, HostStatus};
use crate::store::audit;
use crate::store::entities::{deployment, host, pool_network};

/// Wakes the filler after a claim.
#[derive(Clone, Default)]
pub struct Refill(Arc<Notify>);

impl Refill {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// The labels of every pool network of this installation.
fn pool_labels(instance: &str) -> Vec<(String, String)> {
    vec![
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::INSTANCE.to_string(), instance.to_string()),
        (labels::POOL.to_string(), "true".to_string()),
    ]
}

/// In the caller's (fenced) transaction: takes one unclaimed pool network of `host_id` for
/// `deployment_id`; `None` when the pool is empty. Two claimers never get the same network:
/// the update only changes a row nobody claimed.
pub async fn claim(txn: &impl ConnectionTrait, host_id: i64, deployment_id: &str) -> Result<Option<pool_network::Model>, DbErr> {
    let candidates = pool_network::Entity::find()
        .filter(pool_network::Column::HostId.eq(host_id))
        .filter(pool_network::Column::DeploymentId.is_null())
        .order_by_asc(pool_network::Column::Id)
        .limit(4)
        .all(txn)
        .await?;
    for n in candidates {
        let res = pool_network::Entity::update_many()
            .col_expr(pool_network::Column::DeploymentId, Expr::value(Some(deployment_id.to_string())))
            .col_expr(pool_network::Column::ClaimedAt, Expr::value(Some(Utc::now())))
            .filter(pool_network::Column::Id.eq(n.id))
            .filter(pool_network::Column::DeploymentId.is_null())
            .exec(txn)
            .await?;
        if res.rows_affected == 1 {
            return Ok(Some(pool_network::Model { deployment_id: Some(deployment_id.to_string()), ..n }));
        }
    }
    Ok(None)
}

/// In the caller's transaction: forgets the pool networks a deployment claimed (once they are
/// removed from the host).
pub async fn forget_claimed(txn: &impl ConnectionTrait, deployment_id: &str) -> Result<(), DbErr> {
    pool_network::Entity::delete_many().filter(pool_network::Column::DeploymentId.eq(deployment_id)).exec(txn).await?;
    Ok(())
}

pub async fn run(engine: Engine) {
    // When each unknown pool network (host, docker id) was first seen.
    let mut first_seen: HashMap<(i64, String), Instant> = HashMap::new();
    let every = Duration::from_secs(u64::from(engine.inner.settings.collect_interval_secs).max(1));
    loop {
        if let Err(e) = pass(&engine, &mut first_seen).await {
            tracing::warn!(error = %e, "network pool pass failed");
        }
        let _ = tokio::time::timeout(every, engine.inner.refill.0.notified()).await;
    }
}

async fn pass(engine: &Engine, first_seen: &mut HashMap<(i64, String), Instant>) -> Result<(), DbErr> {
    let db = &engine.inner.db;
    let hosts = host::Entity::find().all(db).await?;
    // Rows of hosts removed from Wharf: their networks stay on a host Wharf no longer manages.
    let known: Vec<i64> = hosts.iter().map(|h| h.id).collect();
    pool_network::Entity::delete_many().filter(pool_network::Column::HostId.is_not_in(known)).exec(db).await?;
    let mut seen_now = Vec::new();
    for h in hosts.iter().filter(|h| h.status == HostStatus::Up) {
        let Ok(conn) = engine.pool().get(h).await else { continue };
        if let Err(e) = tend(engine, h, conn.as_ref(), first_seen, &mut seen_now).await {
            tracing::debug!(host = %h.name, error = %e, "network pool not tended");
        }
    }
    first_seen.retain(|k, _| seen_now.contains(k));
    Ok(())
}

#[derive(Debug, thiserror::Error)]
enum TendError {
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
}

async fn tend(
    engine: &Engine,
    h: &host::Model,
    conn: &dyn ContainerHost,
    first_seen: &mut HashMap<(i64, String), Instant>,
    seen_now: &mut Vec<(i64, String)>,
) -> Result<(), TendError> {
    let db = &engine.inner.db;
    let instance = &engine.inner.instance;
    let selector: Vec<String> = pool_labels(instance).iter().map(|(k, v)| format!("{k}={v}")).collect();
    // The rows first: a network made after this read is seen without a row, and only removed
    // after the grace; a row read first always finds its network in the list if it exists.
    let rows = pool_network::Entity::find().filter(pool_network::Column::HostId.eq(h.id)).all(db).await?;
    let on_host = conn.list_networks(&selector).await?;
    let grace = Duration::from_secs(u64::from(engine.inner.settings.orphan_grace_secs));

    // On the host, not in the database: made by a filler that stopped before its insert.
    for n in on_host.iter().filter(|n| !rows.iter().any(|r| r.docker_id == n.id)) {
        let key = (h.id, n.id.clone());
        seen_now.push(key.clone());
        if first_seen.entry(key).or_insert_with(Instant::now).elapsed() < grace {
            continue;
        }
        let removed = conn.remove_network(&n.id).await.is_ok();
        tracing::warn!(host = %h.name, network = %n.id, removed, "pool network without a record removed");
        audit::record(
            db,
            audit::SYSTEM,
            "orphans.collect",
            &format!("host:{}", h.name),
            json!({"pool_network": n.id, "complete": removed}),
        )
        .await?;
    }
    let mut free = 0usize;
    for r in &rows {
        let present = on_host.iter().any(|n| n.id == r.docker_id);
        match &r.deployment_id {
            // Gone behind Wharf's back: no longer offered.
            None if !present => {
                pool_network::Entity::delete_by_id(r.id).exec(db).await?;
            }
            None => free += 1,
            Some(dep) => {
                // As the collector judges: a failed deployment owns it while a job may retry it.
                let owned = match deployment::Entity::find_by_id(dep.clone()).one(db).await? {
                    None => false,
                    Some(d) => match d.status {
                        DeploymentStatus::Destroyed => false,
                        DeploymentStatus::Failed => super::queue::has_open_job(db, &d.id).await?,
                        _ => true,
                    },
                };
                if owned {
                    continue;
                }
                // A destruction or cleanup that stopped before its last step: the network is no
                // one's. One that containers still use is left for the next pass (the
                // collector removes those containers first).
                if present {
                    if let Err(e) = conn.remove_network(&r.docker_id).await {
                        tracing::debug!(host = %h.name, network = %r.name, error = %e, "claimed pool network not removed yet");
                        continue;
                    }
                    audit::record(
                        db,
                        audit::SYSTEM,
                        "orphans.collect",
                        &format!("host:{}", h.name),
                        json!({"deployment": dep, "networks": [r.docker_id], "complete": true}),
                    )
                    .await?;
                }
                pool_network::Entity::delete_by_id(r.id).exec(db).await?;
            }
        }
    }
    // Fill up. Two replicas may fill the same host at once; the pool is then briefly larger.
    let want = engine.inner.settings.network_pool as usize;
    for _ in free..want {
        let name = format!("wharf-pool-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        let id = conn.create_network(&name, &pool_labels(instance)).await?;
        pool_network::ActiveModel {
            host_id: Set(h.id),
            name: Set(name),
            docker_id: Set(id),
            deployment_id: Set(None),
            created_at: Set(Utc::now()),
            claimed_at: Set(None),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// Before a host is removed from Wharf: its unclaimed pool networks go (best effort; the host
/// may not answer), and their rows with them.
pub async fn drain(db: &impl ConnectionTrait, conn: Option<&dyn ContainerHost>, host_id: i64) -> Result<(), DbErr> {
    let rows = pool_network::Entity::find()
        .filter(pool_network::Column::HostId.eq(host_id))
        .filter(pool_network::Column::DeploymentId.is_null())
        .select_only()
        .column(pool_network::Column::DockerId)
        .into_tuple::<String>()
        .all(db)
        .await?;
    if let Some(conn) = conn {
        for id in &rows {
            let _ = conn.remove_network(id).await;
        }
    }
    pool_network::Entity::delete_many().filter(pool_network::Column::HostId.eq(host_id)).exec(db).await?;
    Ok(())
}
