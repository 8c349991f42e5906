//! The collector: on every host, the containers, networks and volumes labelled by this
//! installation (`io.wharf.instance`; other installations sharing the host are left alone) that no
//! live deployment owns (their deployment is gone, destroyed, or failed with nothing running
//! for it — a cleanup that failed) are removed once they have been seen so for a grace period,
//! and each removal is audited. Objects that belong to a pool (`io.wharf.pool`) follow the
//! pool's own rule and are never collected here.
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use sea_orm::EntityTrait;
use serde_json::json;
use tokio::time::Instant;

use super::Engine;
use super::queue;
use crate::docker::{ContainerHost, labels};
use crate::domain::states::{DeploymentStatus, HostKind, HostStatus};
use crate::store::audit;
use crate::store::entities::{deployment, host};

#[derive(Debug, Default)]
struct Found {
    /// Swarm services (removed first: Swarm would start their tasks again).
    services: Vec<String>,
    containers: Vec<String>,
    networks: Vec<String>,
    volumes: Vec<String>,
}

pub async fn run(engine: Engine) {
    // When each (host, deployment) was first seen without an owner.
    let mut first_seen: HashMap<(i64, String), Instant> = HashMap::new();
    loop {
        tokio::time::sleep(Duration::from_secs(u64::from(engine.inner.settings.collect_interval_secs))).await;
        if let Err(e) = pass(&engine, &mut first_seen).await {
            tracing::warn!(error = %e, "collector pass failed");
        }
    }
}

async fn pass(engine: &Engine, first_seen: &mut HashMap<(i64, String), Instant>) -> Result<(), sea_orm::DbErr> {
    let db = &engine.inner.db;
    let grace = Duration::from_secs(u64::from(engine.inner.settings.orphan_grace_secs));
    let mut still_orphaned = Vec::new();
    for h in host::Entity::find().all(db).await? {
        if h.status != HostStatus::Up {
            continue;
        }
        let Ok(conn) = engine.pool().get(&h).await else { continue };
        let Ok(found) = managed(conn.as_ref(), &engine.inner.instance, h.kind == HostKind::Swarm).await else { continue };
        for (dep, objects) in found {
            let owned = match deployment::Entity::find_by_id(dep.clone()).one(db).await? {
                None => false,
                Some(d) => match d.status {
                    DeploymentStatus::Destroyed => false,
                    DeploymentStatus::Failed => queue::has_open_job(db, &d.id).await?,
                    _ => true,
                },
            };
            if owned {
                continue;
            }
            let key = (h.id, dep.clone());
            still_orphaned.push(key.clone());
            let seen = *first_seen.entry(key).or_insert_with(Instant::now);
            if seen.elapsed() < grace {
                continue;
            }
            let removed = remove(conn.as_ref(), &objects).await;
            tracing::warn!(host = %h.name, deployment = %dep, ?objects, removed, "orphaned objects collected");
            audit::record(
                db,
                audit::SYSTEM,
                "orphans.collect",
                &format!("host:{}", h.name),
                json!({"deployment": dep, "services": objects.services, "containers": objects.containers, "networks": objects.networks, "volumes": objects.volumes, "complete": removed}),
            )
            .await?;
        }
    }
    first_seen.retain(|k, _| still_orphaned.contains(k));
    Ok(())
}

/// Wharf's objects on a host by deployment, pools left out.
async fn managed(conn: &dyn ContainerHost, instance: &str, swarm: bool) -> Result<BTreeMap<String, Found>, crate::docker::DockerError> {
    let selector = vec![format!("{}=true", labels::MANAGED), format!("{}={instance}", labels::INSTANCE)];
    let mut out: BTreeMap<String, Found> = BTreeMap::new();
    let owner = |l: &std::collections::HashMap<String, String>| {
        if l.contains_key(labels::POOL) { None } else { l.get(labels::DEPLOYMENT).cloned() }
    };
    if swarm {
        for s in conn.list_services(&selector).await? {
            if let Some(dep) = owner(&s.labels) {
                out.entry(dep).or_default().services.push(s.id);
            }
        }
    }
    for c in conn.list_containers(&selector).await? {
        if let Some(dep) = owner(&c.labels) {
            out.entry(dep).or_default().containers.push(c.id);
        }
    }
    for n in conn.list_networks(&selector).await? {
        if let Some(dep) = owner(&n.labels) {
            out.entry(dep).or_default().networks.push(n.id);
        }
    }
    for v in conn.list_volumes(&selector).await? {
        if let Some(dep) = owner(&v.labels) {
            out.entry(dep).or_default().volumes.push(v.id);
        }
    }
    Ok(out)
}

/// Removes what was found; `true` when all of it went.
async fn remove(conn: &dyn ContainerHost, found: &Found) -> bool {
    let mut ok = true;
    for s in &found.services {
        ok &= conn.remove_service(s).await.is_ok();
    }
    for c in &found.containers {
        ok &= conn.remove_container(c).await.is_ok();
    }
    for n in &found.networks {
        ok &= conn.remove_network(n).await.is_ok();
    }
    for v in &found.volumes {
        ok &= conn.remove_volume(v).await.is_ok();
    }
    ok
}
