//! The steps of provisioning a deployment. Every step looks before it acts (inspect, find by
//! label), so running a job again after a crash neither duplicates nor orphans anything.
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set};

use super::Engine;
use super::queue;
use crate::docker::{ContainerHost, ContainerSpec, DockerError, labels};
use crate::domain::blueprint::resolve::{self, DeploymentRef, OutputContext, ResolvedComponent, ResolvedVolume};
use crate::domain::deployment::{PublishedPort, names};
use crate::domain::placement::{self, Candidate};
use crate::domain::states::{DeploymentEvent, DeploymentStatus, HostStatus, ResourceKind, ResourceStatus};
use crate::store::entities::{deployment, host, resource};
use crate::store::{PublishedPorts, StringMap};

use super::job::{Ctx, StepError, advance, fail, load_spec};
use super::spec::Replica;

impl Engine {
    /// Chooses a host, once: the choice is stored, so a retry or a crash recovery stays there.
    async fn place(&self, d: &deployment::Model, needed: i64) -> Result<host::Model, StepError> {
        let db = &self.inner.db;
        if let Some(id) = d.host_id {
            return host::Entity::find_by_id(id).one(db).await?.ok_or_else(|| fail("the deployment's host was removed"));
        }
        let _guard = self.inner.placement.lock().await;
        let hosts = host::Entity::find().all(db).await?;
        let mut candidates = Vec::new();
        for h in &hosts {
            let deployments = deployment::Entity::find()
                .filter(deployment::Column::HostId.eq(h.id))
                .filter(deployment::Column::Status.is_in(DeploymentStatus::LIVE.iter().copied()))
                .count(db)
                .await?;
            let containers = resource::Entity::find()
                .filter(resource::Column::HostId.eq(h.id))
                .filter(resource::Column::Kind.eq(ResourceKind::Container))
                .count(db)
                .await?;
            candidates.push(Candidate {
                id: h.id,
                name: h.name.clone(),
                up: h.status == HostStatus::Up,
                labels: h.labels.0.clone(),
                max_containers: h.max_containers.map(i64::from),
                containers: containers as i64,
                deployments: deployments as i64,
            });
        }
        let chosen = placement::choose(&candidates, &d.host_selector.0, needed).map_err(fail)?;
        let mut a: deployment::ActiveModel = d.clone().into();
        a.host_id = Set(Some(chosen));
        a.updated_at = Set(Utc::now());
        a.update(db).await?;
        hosts.into_iter().find(|h| h.id == chosen).ok_or_else(|| fail("the chosen host vanished"))
    }

    pub(super) async fn provision(&self, ctx: &Ctx<'_>) -> Result<(), StepError> {
        let db = ctx.db();
        let d =
            deployment::Entity::find_by_id(ctx.job.deployment_id.clone()).one(db).await?.ok_or_else(|| fail("the deployment is gone"))?;
        if d.status != DeploymentStatus::Provisioning {
            return Err(fail(format!("the deployment is {}, not provisioning", d.status)));
        }
        let (bp, values) = load_spec(db, &d).await?;
        let dep = DeploymentRef { id: d.id.clone(), name: d.name.clone() };
        let spec = resolve::resolve(&bp, &values, &dep).map_err(|e| fail(format!("the blueprint does not resolve: {}", e[0])))?;
        let needed: i64 = spec.iter().map(|c| i64::from(c.replicas)).sum();

        ctx.progress("choosing a host").await;
        let h = self.place(&d, needed).await?;
        ctx.still_ours()?;
        let conn = self.pool().get(&h).await.map_err(|e| fail(format!("host `{}`: {e}", h.name)))?;

        // Images: present, or pulled.
        let mut images: Vec<String> = spec.iter().map(|c| c.image.with_default_tag()).collect();
        images.dedup();
        for image in images.iter().collect::<HashSet<_>>() {
            match conn.inspect_image(image).await {
                Ok(_) => {}
                Err(DockerError::NotFound { .. }) => {
                    ctx.progress(&format!("pulling {image}")).await;
                    let job_id = ctx.job.id;
                    let owner = self.inner.owner.clone();
                    let db2 = db.clone();
                    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                    let writer = tokio::spawn(async move {
                        while let Some(line) = rx.recv().await {
                            let _ = queue::progress(&db2, job_id, &owner, &line).await;
                        }
                    });
                    let pulled = conn
                        .pull_image(image, &move |line| {
                            let _ = tx.send(line);
                        })
                        .await;
                    let _ = writer.await;
                    pulled.map_err(|e| fail(format!("image `{image}` is not on host `{}` and could not be pulled: {e}", h.name)))?;
                }
                Err(e) => return Err(e.into()),
            }
            ctx.still_ours()?;
        }

        let base_labels = vec![(labels::MANAGED.to_string(), "true".to_string()), (labels::DEPLOYMENT.to_string(), d.id.clone())];
        // The private network, unless every component uses the host's.
        let network = names::network(&d.id);
        let needs_network = spec.iter().any(|c| !c.host_network);
        if needs_network {
            ctx.progress("creating the network").await;
            let net_id = conn.ensure_network(&network, &base_labels).await?;
            record(db, &d.id, ResourceKind::Network, "", 0, &network, Some(net_id), h.id, ResourceStatus::Ready, vec![]).await?;
        }
        for c in &spec {
            for v in &c.volumes {
                if let ResolvedVolume::Named { name, .. } = v {
                    let vol = names::volume(&d.id, name);
                    conn.ensure_volume(&vol, &base_labels).await?;
                    record(db, &d.id, ResourceKind::Volume, &c.name, 0, &vol, None, h.id, ResourceStatus::Ready, vec![]).await?;
                }
            }
        }
        ctx.still_ours()?;

        // Containers, in depends_on order; a component waits until those it depends on are healthy.
        let mut published: BTreeMap<(String, u16), u16> = BTreeMap::new();
        for c in &spec {
            ctx.progress(&format!("starting {}", c.name)).await;
            let mut ids = Vec::new();
            for r in 0..c.replicas {
                let replica = Replica { deployment: &d.id, component: c, replica: r, network: needs_network.then_some(network.as_str()) };
                let name = replica.name();
                let id = ensure_container(conn.as_ref(), &ContainerSpec::from(replica)).await?;
                record(
                    db,
                    &d.id,
                    ResourceKind::Container,
                    &c.name,
                    r as i32,
                    &name,
                    Some(id.clone()),
                    h.id,
                    ResourceStatus::Created,
                    vec![],
                )
                .await?;
                conn.start_container(&id).await?;
                ids.push((r, name, id));
                ctx.still_ours()?;
            }
            for (r, name, id) in ids {
                let info = self.wait_ready(conn.as_ref(), &id, c).await?;
                for p in &info.ports {
                    if r == 0 {
                        published.entry((c.name.clone(), p.container_port)).or_insert(p.host_port);
                    }
                }
                let ports = info
                    .ports
                    .iter()
                    .map(|p| PublishedPort {
                        container_port: p.container_port,
                        protocol: p.protocol.clone(),
                        host_port: p.host_port,
                        address: h.publish_address.clone(),
                    })
                    .collect();
                record(db, &d.id, ResourceKind::Container, &c.name, r as i32, &name, Some(id), h.id, ResourceStatus::Running, ports)
                    .await?;
            }
            ctx.still_ours()?;
        }

        let outputs =
            resolve::render_outputs(&bp, &values, &OutputContext { host_address: &h.publish_address, deployment: &dep, ports: &published });
        ctx.still_ours()?;
        advance(db, &d.id, DeploymentEvent::Provisioned, None, Some(StringMap(outputs))).await?;
        Ok(())
    }

    /// Waits until the container runs and, when it has a health check, is healthy.
    async fn wait_ready(
        &self,
        conn: &dyn ContainerHost,
        id: &str,
        c: &ResolvedComponent,
    ) -> Result<crate::docker::ContainerInfo, StepError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(self.inner.settings.health_timeout_secs));
        loop {
            let info =
                conn.inspect_container(id).await?.ok_or_else(|| fail(format!("container of `{}` vanished while starting", c.name)))?;
            if !info.running && !ResourceStatus::of_engine_state(&info.state, info.running).is_starting() {
                let code = info.exit_code.map(|c| format!(" with code {c}")).unwrap_or_default();
                let why = info.error.clone().map(|e| format!(": {e}")).unwrap_or_default();
                return Err(fail(format!("component `{}` exited{code} right after it started{why}", c.name)));
            }
            match (c.health.is_some(), info.health.as_deref()) {
                (false, _) if info.running => return Ok(info),
                (true, Some("healthy")) => return Ok(info),
                (true, Some("unhealthy")) => return Err(fail(format!("component `{}` is unhealthy: its health check failed", c.name))),
                _ => {}
            }
            if tokio::time::Instant::now() > deadline {
                return Err(fail(format!("component `{}` was not healthy within {} s", c.name, self.inner.settings.health_timeout_secs)));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Finds the container by its name, or creates it. A container of that name that belongs to
/// something else is an error, never adopted.
async fn ensure_container(conn: &dyn ContainerHost, spec: &ContainerSpec) -> Result<String, StepError> {
    let expected = spec.labels.iter().find(|(k, _)| k == labels::DEPLOYMENT).map(|(_, v)| v.clone());
    let check = |info: crate::docker::ContainerInfo| -> Result<String, StepError> {
        if info.labels.get(labels::DEPLOYMENT) == expected.as_ref() {
            Ok(info.id)
        } else {
            Err(fail(format!("a container named `{}` exists on the host and is not this deployment's", spec.name)))
        }
    };
    if let Some(info) = conn.inspect_container(&spec.name).await? {
        return check(info);
    }
    match conn.create_container(spec).await {
        Ok(id) => Ok(id),
        // Made by a racing attempt in the meantime: use it.
        Err(DockerError::Conflict { .. }) => match conn.inspect_container(&spec.name).await? {
            Some(info) => check(info),
            None => Err(fail(format!("container `{}` could not be created", spec.name))),
        },
        Err(e) => Err(e.into()),
    }
}

/// Remembers a resource (insert or update by deployment, kind and name).
#[allow(clippy::too_many_arguments)]
async fn record(
    db: &DatabaseConnection,
    deployment: &str,
    kind: ResourceKind,
    component: &str,
    replica: i32,
    name: &str,
    docker_id: Option<String>,
    host_id: i64,
    status: ResourceStatus,
    ports: Vec<PublishedPort>,
) -> Result<(), sea_orm::DbErr> {
    let row = resource::ActiveModel {
        deployment_id: Set(deployment.into()),
        kind: Set(kind),
        component: Set(component.into()),
        replica: Set(replica),
        name: Set(name.into()),
        docker_id: Set(docker_id),
        host_id: Set(host_id),
        status: Set(status),
        ports: Set(PublishedPorts(ports)),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    resource::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([resource::Column::DeploymentId, resource::Column::Kind, resource::Column::Name])
                .update_columns([
                    resource::Column::DockerId,
                    resource::Column::Status,
                    resource::Column::Ports,
                    resource::Column::UpdatedAt,
                    resource::Column::HostId,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}
