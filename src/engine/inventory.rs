//! Wharf's view of each host follows the host: every Wharf container's events update its
//! deployment at once (stopped, drifted), and every (re)connection starts with a full sync.
//! The events are also passed on (`HostEvents`) to steps that wait for a container.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;
use tokio::task::JoinHandle;

use super::Engine;
use crate::docker::{ContainerEvent, ContainerHost};
use crate::domain::states::{self, DeploymentEvent, DeploymentEventKind, DeploymentStatus, ResourceKind, ResourceStatus};
use crate::store;
use crate::store::audit;
use crate::store::deployments::Moved;
use crate::store::entities::{deployment, host, resource};
const FULL_SYNC_EVERY: Duration = Duration::from_secs(30);
/// On a swarm, tasks on other nodes send the manager no container events: its services are
/// looked at this often instead.
const SWARM_SYNC_EVERY: Duration = Duration::from_secs(3);

/// Each host's container events, passed on as the inventory receives them, so that a step
/// waiting for a container (to run, to be healthy) wakes when the engine says it changed
/// rather than asking it again and again.
#[derive(Clone, Default)]
pub struct HostEvents(Arc<Mutex<HashMap<i64, tokio::sync::broadcast::Sender<ContainerEvent>>>>);

impl HostEvents {
    fn sender(&self, host_id: i64) -> tokio::sync::broadcast::Sender<ContainerEvent> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(host_id).or_insert_with(|| tokio::sync::broadcast::channel(256).0).clone()
    }

    /// Events of the host's Wharf containers from now on (subscribe before the change waited for).
    pub fn subscribe(&self, host_id: i64) -> tokio::sync::broadcast::Receiver<ContainerEvent> {
        self.sender(host_id).subscribe()
    }

    fn publish(&self, host_id: i64, ev: &ContainerEvent) {
        // Nobody listening is not an error.
        let _ = self.sender(host_id).send(ev.clone());
    }
}

pub async fn run(engine: Engine) {
    let mut followers: HashMap<i64, JoinHandle<()>> = HashMap::new();
    loop {
        match host::Entity::find().all(&engine.inner.db).await {
            Ok(hosts) => {
                followers.retain(|id, task| {
                    let keep = hosts.iter().any(|h| h.id == *id) && !task.is_finished();
                    if !keep {
                        task.abort();
                    }
                    keep
                });
                for h in hosts {
                    followers.entry(h.id).or_insert_with(|| {
                        let engine = engine.clone();
                        tokio::spawn(async move { follow(engine, h.id).await })
                    });
                }
            }
            Err(e) => tracing::error!(error = %e, "inventory cannot list hosts"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn follow(engine: Engine, host_id: i64) {
    loop {
        let h = match host::Entity::find_by_id(host_id).one(&engine.inner.db).await {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(_) => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        let conn = match engine.pool().get(&h).await {
            Ok(c) => c,
            Err(_) => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        // Listen first, then sync, so that no event falls between the two.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut events = conn.container_events();
        let passed_on = engine.inner.events.clone();
        let reader = tokio::spawn(async move {
            while let Some(ev) = events.next().await {
                // Passed on as it comes, not after the inventory has dealt with the ones before.
                if let Ok(ev) = &ev {
                    passed_on.publish(host_id, ev);
                }
                let end = ev.is_err();
                if tx.send(ev).is_err() || end {
                    break;
                }
            }
        });
        sync_host(&engine, host_id, conn.as_ref(), false).await;
        let mut last_sync = tokio::time::Instant::now();
        let every = if h.kind == crate::domain::states::HostKind::Swarm { SWARM_SYNC_EVERY } else { FULL_SYNC_EVERY };
        loop {
            match tokio::time::timeout(every.min(Duration::from_secs(5)), rx.recv()).await {
                Ok(Some(Ok(ev))) => {
                    if let Some(dep) = ev.deployment {
                        refresh(&engine, &dep, conn.as_ref()).await;
                    }
                }
                Ok(Some(Err(_))) | Ok(None) => break,
                Err(_) => {}
            }
            if last_sync.elapsed() > every {
                sync_host(&engine, host_id, conn.as_ref(), every == SWARM_SYNC_EVERY).await;
                last_sync = tokio::time::Instant::now();
            }
        }
        reader.abort();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Brings every settled deployment of the host up to date (logged at info with its duration).
/// `quiet`: logged at debug (a swarm's frequent looks).
async fn sync_host(engine: &Engine, host_id: i64, conn: &dyn ContainerHost, quiet: bool) {
    let started = std::time::Instant::now();
    let deps = deployment::Entity::find()
        .filter(deployment::Column::HostId.eq(host_id))
        .filter(
            deployment::Column::Status.is_in(DeploymentStatus::SETTLED.iter().copied().chain(std::iter::once(DeploymentStatus::Expired))),
        )
        .all(&engine.inner.db)
        .await
        .unwrap_or_default();
    let deployments = deps.len();
    for d in deps {
        refresh(engine, &d.id, conn).await;
    }
    let millis = started.elapsed().as_millis();
    if quiet {
        tracing::debug!(host = host_id, deployments, millis, "inventory: full sync");
    } else {
        tracing::info!(host = host_id, deployments, millis, "inventory: full sync");
    }
}

/// Looks at each container of a deployment and sets its status: running when all run,
/// stopped when none does, drifted when one is missing or only some run. Only settled
/// deployments move: the others belong to running jobs. An expired deployment keeps its state,
/// but its containers' are recorded (a container that came back, its restart policy after a
/// daemon restart, say, is stopped again by the lease loop).
pub async fn refresh(engine: &Engine, deployment_id: &str, conn: &dyn ContainerHost) {
    let db = &engine.inner.db;
    let Ok(Some(d)) = deployment::Entity::find_by_id(deployment_id.to_string()).one(db).await else { return };
    // A day-2 job at work on it (a stop, a scale) owns its state until it ends.
    let expired = d.status == DeploymentStatus::Expired;
    if !(d.status.is_settled() || expired) || super::queue::has_open_job(db, deployment_id).await.unwrap_or(true) {
        return;
    }
    let Ok(rows) = resource::Entity::find()
        .filter(resource::Column::DeploymentId.eq(deployment_id))
        .filter(resource::Column::Kind.is_in([ResourceKind::Container, ResourceKind::Service]))
        .all(db)
        .await
    else {
        return;
    };
    let observed = if rows.iter().any(|r| r.kind == ResourceKind::Service) {
        services_seen(engine, &d, conn, rows).await
    } else {
        containers_seen(engine, conn, rows).await
    };
    // The host is unreachable: health checks say so; keep what we know.
    let Some((status, reason)) = observed else { return };
    if expired || (status == d.status && reason == d.error) {
        return;
    }
    let from = d.status;
    match store::deployments::advance(db, deployment_id, DeploymentEvent::Observed(status), reason.clone(), None).await {
        Ok(Moved::To(_)) if status != from => {
            tracing::info!(deployment = %deployment_id, %from, to = %status, "deployment state changed on its host");
            let (kind, text) = match (status, &reason) {
                (DeploymentStatus::Drifted, Some(why)) => (DeploymentEventKind::Drifted, format!("drifted: {why}")),
                _ => (DeploymentEventKind::Settled, format!("{status} on its host (was {from})")),
            };
            let _ = store::deployments::record_event(db, deployment_id, kind, &text, None).await;
            engine.inner.signals.timeline_written();
            let _ = audit::record(
                db,
                audit::SYSTEM,
                &format!("deployment.{status}"),
                &format!("deployment:{deployment_id}"),
                json!({"from": from.as_str(), "reason": reason}),
            )
            .await;
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(deployment = %deployment_id, error = %e, "cannot record the deployment's state"),
    }
}

/// Each container's state from the engine, recorded; what the deployment is then.
async fn containers_seen(
    engine: &Engine,
    conn: &dyn ContainerHost,
    containers: Vec<resource::Model>,
) -> Option<(DeploymentStatus, Option<String>)> {
    let db = &engine.inner.db;
    let mut seen = Vec::with_capacity(containers.len());
    for r in containers {
        let state = match conn.inspect_container(r.docker_id.as_deref().unwrap_or(&r.name)).await {
            Ok(Some(info)) => ResourceStatus::of_engine_state(&info.state, info.running),
            Ok(None) => ResourceStatus::Missing,
            Err(_) => return None,
        };
        seen.push(state);
        if r.status != state {
            let mut a: resource::ActiveModel = r.into();
            a.status = Set(state);
            a.updated_at = Set(Utc::now());
            let _ = a.update(db).await;
        }
    }
    Some(states::observed(&seen))
}

/// Each Swarm service's running and wanted tasks, recorded (with the ports its first task
/// publishes: a rescheduled task may publish others); what the deployment is then.
async fn services_seen(
    engine: &Engine,
    d: &deployment::Model,
    conn: &dyn ContainerHost,
    rows: Vec<resource::Model>,
) -> Option<(DeploymentStatus, Option<String>)> {
    let db = &engine.inner.db;
    let h = host::Entity::find_by_id(d.host_id?).one(db).await.ok()??;
    let services: Vec<resource::Model> = rows.into_iter().filter(|r| r.kind == ResourceKind::Service).collect();
    let seen = super::swarm::tally(conn, &services).await?;
    // Everything asked of the swarm first (a port's node address too), then, once no job owns
    // the deployment, written.
    let mut rows = Vec::with_capacity(seen.len());
    for (r, tally, tasks) in seen {
        let ports = super::swarm::shown_ports(conn, &tasks, &h).await.ok()?;
        rows.push((r, tally, ports));
    }
    if super::queue::has_open_job(db, &d.id).await.unwrap_or(true) {
        return None;
    }
    let mut tallies = Vec::with_capacity(rows.len());
    for (r, tally, ports) in rows {
        let status = tally.status();
        let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        let (desired, running) = (tally.desired.map(count), Some(count(tally.running)));
        let ports = if ports.is_empty() && status != ResourceStatus::Running { r.ports.0.clone() } else { ports };
        if r.status != status || r.desired != desired || r.running != running || r.ports.0 != ports {
            let mut a: resource::ActiveModel = r.into();
            a.status = Set(status);
            a.desired = Set(desired);
            a.running = Set(running);
            a.ports = Set(store::PublishedPorts(ports));
            a.updated_at = Set(Utc::now());
            let _ = a.update(db).await;
        }
        tallies.push(tally);
    }
    Some(states::observed_services(&tallies))
}
