//! The steps of provisioning and destroying a deployment. Every step looks before it acts
//! (inspect, find by label), so running a job again after a crash neither duplicates nor
//! orphans anything.
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set};

use super::Engine;
use super::queue;
use crate::docker::{ContainerHost, ContainerSpec, DockerError, HealthCheck, MountSpec, PortBinding, labels};
use crate::domain::blueprint::resolve::{self, DeploymentRef, OutputContext, ResolvedComponent, ResolvedVolume};
use crate::domain::blueprint::{self, Blueprint, inputs};
use crate::domain::deployment::{PublishedPort, names};
use crate::domain::placement::{self, Candidate};
use crate::domain::states::{DeploymentEvent, DeploymentStatus, HostStatus, JobKind, ResourceKind, ResourceStatus};
use crate::signals::Signals;
use crate::store::deployments::Moved;
use crate::store::entities::{blueprint_version, deployment, host, job, resource};
use crate::store::{self, PublishedPorts, StringMap};

/// Jobs are tried this many times (a crash in the middle counts as a try) before they fail.
const MAX_ATTEMPTS: i32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    /// Another worker holds the job now; this one must stop without touching anything.
    #[error("the job's lease was lost")]
    LeaseLost,
}

impl From<DockerError> for StepError {
    fn from(e: DockerError) -> Self {
        StepError::Failed(e.to_string())
    }
}

fn fail(msg: impl Into<String>) -> StepError {
    StepError::Failed(msg.into())
}

/// What a running job needs at hand.
struct Ctx<'a> {
    engine: &'a Engine,
    job: &'a job::Model,
    lost: Arc<AtomicBool>,
}

impl Ctx<'_> {
    fn db(&self) -> &DatabaseConnection {
        &self.engine.inner.db
    }
    fn still_ours(&self) -> Result<(), StepError> {
        if self.lost.load(Ordering::SeqCst) { Err(StepError::LeaseLost) } else { Ok(()) }
    }
    async fn progress(&self, text: &str) {
        let _ = queue::progress(self.db(), self.job.id, &self.engine.inner.owner, text).await;
    }
}

/// Moves the deployment by `event`; a move its state refuses (the deployment moved on, a host
/// was removed under it) is logged and leaves it as it is.
async fn advance(
    db: &DatabaseConnection,
    id: &str,
    event: DeploymentEvent,
    error: Option<String>,
    outputs: Option<StringMap>,
) -> Result<(), sea_orm::DbErr> {
    match store::deployments::advance(db, id, event, error, outputs).await? {
        Moved::To(_) => {}
        Moved::Refused(why) => tracing::warn!(deployment = %id, %why, "deployment left as it is"),
        Moved::Raced => tracing::warn!(deployment = %id, ?event, "deployment changed meanwhile; left as it is"),
    }
    Ok(())
}

/// The blueprint and validated inputs a deployment was made from.
pub async fn load_spec(db: &DatabaseConnection, d: &deployment::Model) -> Result<(Blueprint, inputs::InputValues), StepError> {
    let v = blueprint_version::Entity::find_by_id((d.blueprint_id.clone(), d.blueprint_version))
        .one(db)
        .await?
        .ok_or_else(|| fail(format!("blueprint {} version {} is gone", d.blueprint_id, d.blueprint_version)))?;
    let bp = blueprint::parse(&v.source).map_err(|e| fail(format!("the stored blueprint no longer parses: {}", e[0])))?;
    let values = inputs::validate(&bp, &d.inputs.to_json_map())
        .map_err(|e| fail(format!("the stored inputs no longer fit the blueprint: {}: {}", e[0].0, e[0].1)))?;
    Ok((bp, values))
}

impl Engine {
    pub(super) async fn run_job(&self, job: job::Model) {
        let db = &self.inner.db;
        let owner = self.inner.owner.clone();
        let lost = Arc::new(AtomicBool::new(false));
        // Heartbeat: renew the lease while the job runs.
        let beat = {
            let db = db.clone();
            let lost = lost.clone();
            let owner = owner.clone();
            let lease = self.inner.settings.lease_secs;
            let id = job.id;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(u64::from(lease / 3).max(1))).await;
                    match queue::heartbeat(&db, id, &owner, lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            lost.store(true, Ordering::SeqCst);
                            break;
                        }
                        Err(e) => tracing::warn!(job = id, error = %e, "heartbeat failed"),
                    }
                }
            })
        };
        let ctx = Ctx { engine: self, job: &job, lost };
        let result = if job.attempts > MAX_ATTEMPTS {
            Err(fail(format!("gave up after {} attempts", job.attempts - 1)))
        } else {
            match job.kind {
                JobKind::Provision => self.provision(&ctx).await,
                JobKind::Destroy => self.destroy(&ctx).await,
            }
        };
        beat.abort();
        // A request may be waiting on this deployment: let the request scheduler look now.
        let _wake_requests = WakeOnDrop(&self.inner.signals);
        let dep = &job.deployment_id;
        match result {
            Ok(()) => {
                let _ = queue::finish(db, job.id, &owner, None).await;
                tracing::info!(job = job.id, deployment = %dep, "job done");
            }
            Err(StepError::LeaseLost) => tracing::warn!(job = job.id, deployment = %dep, "lease lost; another worker goes on"),
            Err(e) => {
                let message = e.to_string();
                tracing::warn!(job = job.id, deployment = %dep, error = %message, "job failed");
                let still_provisioning = deployment::Entity::find_by_id(dep.clone())
                    .one(db)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|d| d.status == DeploymentStatus::Provisioning);
                match job.kind {
                    // A stale job for a deployment that moved on: leave the deployment alone.
                    JobKind::Provision if !still_provisioning => {}
                    JobKind::Provision => {
                        // Remove what the attempt made, then say why it failed.
                        if let Err(cleanup) = self.remove_everything(&ctx).await {
                            tracing::warn!(deployment = %dep, error = %cleanup, "cleanup after a failed provisioning was incomplete");
                        }
                        let _ = advance(db, dep, DeploymentEvent::JobFailed, Some(message.clone()), None).await;
                    }
                    JobKind::Destroy => {
                        let _ = advance(db, dep, DeploymentEvent::JobFailed, Some(format!("destroy failed: {message}")), None).await;
                    }
                }
                let _ = queue::finish(db, job.id, &owner, Some(&message)).await;
            }
        }
    }

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

    async fn provision(&self, ctx: &Ctx<'_>) -> Result<(), StepError> {
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
                let name = names::container(&d.id, &c.name, r);
                let id = ensure_container(conn.as_ref(), &container_spec(&d.id, c, r, &name, needs_network.then_some(&network))).await?;
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

    async fn destroy(&self, ctx: &Ctx<'_>) -> Result<(), StepError> {
        ctx.progress("removing containers, network and volumes").await;
        self.remove_everything(ctx).await?;
        advance(ctx.db(), &ctx.job.deployment_id, DeploymentEvent::Destroyed, None, None).await?;
        Ok(())
    }

    /// Removes every container, network and volume labelled with the deployment, and forgets
    /// them. Found by label on the host, not by what the database remembers.
    async fn remove_everything(&self, ctx: &Ctx<'_>) -> Result<(), StepError> {
        let db = ctx.db();
        let dep_id = &ctx.job.deployment_id;
        let Some(d) = deployment::Entity::find_by_id(dep_id.clone()).one(db).await? else { return Ok(()) };
        let Some(host_id) = d.host_id else {
            resource::Entity::delete_many().filter(resource::Column::DeploymentId.eq(dep_id)).exec(db).await?;
            return Ok(());
        };
        let h = host::Entity::find_by_id(host_id).one(db).await?.ok_or_else(|| fail("the deployment's host was removed"))?;
        let conn = self.pool().get(&h).await.map_err(|e| fail(format!("host `{}`: {e}", h.name)))?;
        let selector = vec![format!("{}={dep_id}", labels::DEPLOYMENT)];
        for c in conn.list_containers(&selector).await? {
            conn.remove_container(&c.id).await?;
        }
        for n in conn.list_networks(&selector).await? {
            conn.remove_network(&n).await?;
        }
        for v in conn.list_volumes(&selector).await? {
            conn.remove_volume(&v).await?;
        }
        resource::Entity::delete_many().filter(resource::Column::DeploymentId.eq(dep_id)).exec(db).await?;
        Ok(())
    }
}

/// Wakes the request scheduler when the job's outcome is recorded (at the end of `run_job`).
struct WakeOnDrop<'a>(&'a Signals);

impl Drop for WakeOnDrop<'_> {
    fn drop(&mut self) {
        self.0.request_moved();
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

fn container_spec(deployment: &str, c: &ResolvedComponent, replica: u32, name: &str, network: Option<&String>) -> ContainerSpec {
    let mounts = c
        .volumes
        .iter()
        .map(|v| match v {
            ResolvedVolume::Named { name, target, read_only } => {
                MountSpec::Volume { name: names::volume(deployment, name), target: target.clone(), read_only: *read_only }
            }
            ResolvedVolume::Bind { source, target, read_only } => {
                MountSpec::Bind { source: source.clone(), target: target.clone(), read_only: *read_only }
            }
        })
        .collect();
    ContainerSpec {
        name: name.to_string(),
        image: c.image.with_default_tag(),
        cmd: c.command.clone(),
        entrypoint: c.entrypoint.clone(),
        env: c.env.clone(),
        labels: vec![
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::DEPLOYMENT.to_string(), deployment.to_string()),
            (labels::COMPONENT.to_string(), c.name.clone()),
            (labels::REPLICA.to_string(), replica.to_string()),
        ],
        ports: c
            .ports
            .iter()
            .map(|p| PortBinding {
                container_port: p.container,
                protocol: p.protocol.as_str().to_string(),
                // A fixed host port can only be taken once: further replicas get a free one.
                host_port: p.host.filter(|_| replica == 0),
            })
            .collect(),
        network: if c.host_network { None } else { network.map(|n| (n.clone(), vec![c.name.clone()])) },
        host_network: c.host_network,
        mounts,
        memory_mb: c.memory_mb,
        cpus: c.cpus,
        tty: c.tty,
        stdin_open: c.stdin_open,
        restart: c.restart.as_str().to_string(),
        health: c.health.as_ref().map(|h| HealthCheck {
            cmd: h.cmd.clone(),
            interval_s: h.interval_s,
            timeout_s: h.timeout_s,
            retries: h.retries,
            start_period_s: h.start_period_s,
        }),
        working_dir: c.working_dir.clone(),
        user: c.user.clone(),
        privileged: c.privileged,
        cap_add: c.cap_add.clone(),
        devices: c.devices.clone(),
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
