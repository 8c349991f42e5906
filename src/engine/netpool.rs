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
//! The filler (`run`) keeps each host's pool at its size, woken when a provisioning job ends
//! (not at its claim: a network made then would slow the start of that job's containers): a row is
//! written first (a fresh name), then the network is made, then its id is written; a row
//! without an id is never claimed. It also applies the pool's rule, which the orphan collector
//! leaves to it: a pool network without a row (rows lost, a host registered again) is removed
//! once seen so for the orphan grace and asked about once more; a claimed network whose
//! deployment is gone or destroyed is removed with its row; an unclaimed row whose network
//! vanished (or was never made) is dropped; extra unclaimed networks (two replicas filled at
//! once, a smaller pool configured) are removed.
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
use crate::domain::states::{DeploymentStatus, HostKind, HostStatus};
use crate::store::audit;
use crate::store::entities::{deployment, host, pool_network};

/// Wakes the filler (at the end of each provisioning job).
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
        .filter(pool_network::Column::DockerId.ne(""))
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
    // When each pool network without a row (host, name) was first seen.
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
    // Rows of hosts removed from Wharf (asked of the database now, not of the list below, so
    // that a host another replica just added keeps its rows).
    let hosts_now = sea_orm::sea_query::Query::select().column(host::Column::Id).from(host::Entity).to_owned();
    pool_network::Entity::delete_many().filter(pool_network::Column::HostId.not_in_subquery(hosts_now)).exec(db).await?;
    let mut seen_now = Vec::new();
    // A swarm's networks are overlay networks, made with the deployment: no pool there.
    for h in host::Entity::find().all(db).await?.iter().filter(|h| h.status == HostStatus::Up && h.kind == HostKind::Engine) {
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

/// Whether a claimed network's deployment still owns it (as the collector judges objects: a
/// failed deployment owns its objects while a job may retry it).
async fn owned(db: &impl ConnectionTrait, deployment_id: &str) -> Result<bool, DbErr> {
    Ok(match deployment::Entity::find_by_id(deployment_id.to_string()).one(db).await? {
        None => false,
        Some(d) => match d.status {
            DeploymentStatus::Destroyed => false,
            DeploymentStatus::Failed => super::queue::has_open_job(db, &d.id).await?,
            _ => true,
        },
    })
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
    // The rows first, then the host: a row is written before its network is made, so a
    // network listed without a row is either being written down right now (seen again below,
    // and given the grace) or truly no one's.
    let rows = pool_network::Entity::find().filter(pool_network::Column::HostId.eq(h.id)).all(db).await?;
    let on_host = conn.list_networks(&selector).await?;
    let grace = Duration::from_secs(u64::from(engine.inner.settings.orphan_grace_secs));

    for n in on_host.iter().filter(|n| !rows.iter().any(|r| r.name == n.name)) {
        let key = (h.id, n.name.clone());
        seen_now.push(key.clone());
        if first_seen.entry(key).or_insert_with(Instant::now).elapsed() < grace {
            continue;
        }
        // Asked again just before: a row written since the list is never removed under it.
        if pool_network::Entity::find().filter(pool_network::Column::Name.eq(&n.name)).one(db).await?.is_some() {
            continue;
        }
        match conn.remove_network(&n.id).await {
            Ok(()) => {
                tracing::warn!(host = %h.name, network = %n.name, "pool network without a record removed");
                let target = format!("host:{}", h.name);
                audit::record(db, audit::SYSTEM, "orphans.collect", &target, json!({"pool_network": n.name, "complete": true})).await?;
            }
            // In use (containers of a deployment no longer managed, say): left where it is.
            Err(e) => tracing::debug!(host = %h.name, network = %n.name, error = %e, "pool network without a record not removed"),
        }
    }
    let mut free = Vec::new();
    for r in &rows {
        let present = on_host.iter().find(|n| n.name == r.name);
        match (&r.deployment_id, present) {
            // Made, but its maker stopped before writing the network's id: written now.
            (_, Some(n)) if r.docker_id.is_empty() => {
                pool_network::Entity::update_many()
                    .col_expr(pool_network::Column::DockerId, Expr::value(n.id.clone()))
                    .filter(pool_network::Column::Id.eq(r.id))
                    .exec(db)
                    .await?;
                if r.deployment_id.is_none() {
                    free.push(r.clone());
                }
            }
            // Not made (its maker stopped first), or gone behind Wharf's back: no longer offered.
            (None, None) => {
                if !r.docker_id.is_empty() || (Utc::now() - r.created_at).to_std().unwrap_or_default() > grace {
                    unclaimed_row_gone(db, r.id).await?;
                }
            }
            (None, Some(_)) => free.push(r.clone()),
            (Some(dep), present) => {
                if owned(db, dep).await? {
                    continue;
                }
                // A destruction or cleanup that stopped before its last step: the network is no
                // one's. One that containers still use is left for a later pass (the collector
                // removes those containers first).
                if let Some(n) = present {
                    if let Err(e) = conn.remove_network(&n.id).await {
                        tracing::debug!(host = %h.name, network = %r.name, error = %e, "claimed pool network not removed yet");
                        continue;
                    }
                    let target = format!("host:{}", h.name);
                    audit::record(
                        db,
                        audit::SYSTEM,
                        "orphans.collect",
                        &target,
                        json!({"deployment": dep, "networks": [r.name], "complete": true}),
                    )
                    .await?;
                }
                pool_network::Entity::delete_by_id(r.id).exec(db).await?;
            }
        }
    }
    let want = engine.inner.settings.network_pool as usize;
    // Too many (two replicas filled at once, or the pool was made smaller): the newest go.
    free.sort_by_key(|r| r.id);
    while free.len() > want {
        let Some(r) = free.pop() else { break };
        if unclaimed_row_gone(db, r.id).await? {
            let _ = conn.remove_network(&r.docker_id).await;
        }
    }
    // Fill up: the row first (a name nobody else uses), then the network, then its id.
    for _ in free.len()..want {
        let name = format!("wharf-pool-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        let row = pool_network::ActiveModel {
            host_id: Set(h.id),
            name: Set(name.clone()),
            docker_id: Set(String::new()),
            deployment_id: Set(None),
            created_at: Set(Utc::now()),
            claimed_at: Set(None),
            ..Default::default()
        }
        .insert(db)
        .await?;
        let id = match conn.create_network(&name, &pool_labels(instance)).await {
            Ok(id) => id,
            Err(e) => {
                unclaimed_row_gone(db, row.id).await?;
                return Err(e.into());
            }
        };
        pool_network::Entity::update_many()
            .col_expr(pool_network::Column::DockerId, Expr::value(id))
            .filter(pool_network::Column::Id.eq(row.id))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Deletes an unclaimed row; `false` when it was claimed meanwhile (the claim wins).
async fn unclaimed_row_gone(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    let res = pool_network::Entity::delete_many()
        .filter(pool_network::Column::Id.eq(id))
        .filter(pool_network::Column::DeploymentId.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// In the caller's (fenced) transaction: a claimed network that turned out to be gone is
/// forgotten, with the deployment's record of it.
pub async fn forget_gone(txn: &impl ConnectionTrait, name: &str) -> Result<(), DbErr> {
    pool_network::Entity::delete_many().filter(pool_network::Column::Name.eq(name)).exec(txn).await?;
    Ok(())
}

/// A host's unclaimed pool networks (their engine ids), read in the transaction that removes
/// the host: once it is gone, the pool's own pass forgets their rows, and nothing would say
/// which networks on the host were the pool's.
pub async fn unclaimed(db: &impl ConnectionTrait, host_id: i64) -> Result<Vec<String>, DbErr> {
    Ok(pool_network::Entity::find()
        .filter(pool_network::Column::HostId.eq(host_id))
        .filter(pool_network::Column::DeploymentId.is_null())
        .select_only()
        .column(pool_network::Column::DockerId)
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .filter(|id| !id.is_empty())
        .collect())
}

/// After a host was removed from Wharf: the pool networks it had go from it (best effort; the
/// host may not answer), and their rows with them.
pub async fn drain(db: &impl ConnectionTrait, conn: Option<&dyn ContainerHost>, host_id: i64, networks: &[String]) -> Result<(), DbErr> {
    if let Some(conn) = conn {
        for id in networks {
            let _ = conn.remove_network(id).await;
        }
    }
    pool_network::Entity::delete_many().filter(pool_network::Column::HostId.eq(host_id)).exec(db).await?;
    Ok(())
}
