//! Day-2 jobs on a deployment that stays where it is: start, stop and restart (the whole
//! deployment, or one component: in `depends_on` order, stopping in reverse), and scale
//! (the containers brought to what the deployment's inputs now say: new replicas made and
//! started, the highest-numbered removed first). Like provisioning, every step looks before it
//! acts, and every write goes through the job's fence.
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::Engine;
use super::job::{Ctx, StepError, fail, load_spec};
use super::provision::{ensure_container, record};
use super::spec::Replica;
use crate::docker::{ContainerHost, ContainerSpec};
use crate::domain::blueprint::resolve::{self, DeploymentRef, ResolvedComponent};
use crate::domain::deployment::{PublishedPort, names};
use crate::domain::states::{self, DeploymentEvent, DeploymentStatus, JobKind, ResourceKind, ResourceStatus};
use crate::store::entities::{deployment, host, request, resource};

/// Seconds a container gets to stop before it is killed.
const STOP_TIMEOUT_S: i32 = 10;

/// What a job works with: the deployment, its host and a connection to it, its resolved spec
/// (in `depends_on` order) and its containers as recorded.
struct Scene {
    d: deployment::Model,
    h: host::Model,
    conn: std::sync::Arc<dyn ContainerHost>,
    spec: Vec<ResolvedComponent>,
    containers: Vec<resource::Model>,
}

impl Engine {
    async fn scene(&self, ctx: &Ctx) -> Result<Scene, StepError> {
        let db = ctx.db();
        let d =
            deployment::Entity::find_by_id(ctx.job.deployment_id.clone()).one(db).await?.ok_or_else(|| fail("the deployment is gone"))?;
        let host_id = d.host_id.ok_or_else(|| fail("the deployment has no host"))?;
        let h = host::Entity::find_by_id(host_id).one(db).await?.ok_or_else(|| fail("the deployment's host was removed"))?;
        let conn = self.pool().get(&h).await.map_err(|e| fail(format!("host `{}`: {e}", h.name)))?;
        let (bp, values) = load_spec(db, &self.inner.sealer, &d).await?;
        let dep = DeploymentRef { id: d.id.clone(), name: d.name.clone() };
        let mut spec = resolve::resolve(&bp, &values, &dep).map_err(|e| fail(format!("the blueprint does not resolve: {}", e[0])))?;
        resolve::apply_defaults(&mut spec, &self.inner.defaults);
        let mut containers = resource::Entity::find()
            .filter(resource::Column::DeploymentId.eq(&d.id))
            .filter(resource::Column::Kind.eq(ResourceKind::Container))
            .all(db)
            .await?;
        containers.sort_by_key(|r| r.replica);
        Ok(Scene { d, h, conn, spec, containers })
    }

    /// The component a day-2 request names (`inputs.component`), if any.
    async fn target_component(&self, ctx: &Ctx) -> Result<Option<String>, StepError> {
        let Some(rid) = &ctx.job.request_id else { return Ok(None) };
        let r = request::Entity::find_by_id(rid.clone()).one(ctx.db()).await?.ok_or_else(|| fail("the job's request is gone"))?;
        Ok(match r.inputs.0.get("component") {
            Some(crate::domain::blueprint::InputValue::String(c)) => Some(c.clone()),
            _ => None,
        })
    }

    /// Start, stop or restart.
    pub(super) async fn power(&self, ctx: &Ctx) -> Result<(), StepError> {
        let s = self.scene(ctx).await?;
        let only = self.target_component(ctx).await?;
        let chosen: Vec<&ResolvedComponent> = s.spec.iter().filter(|c| only.as_ref().is_none_or(|o| *o == c.name)).collect();
        if chosen.is_empty() {
            return Err(fail(format!("the deployment has no component `{}`", only.unwrap_or_default())));
        }
        let of = |c: &ResolvedComponent| s.containers.iter().filter(|r| r.component == c.name).collect::<Vec<_>>();
        let kind = ctx.job.kind;
        if matches!(kind, JobKind::Stop | JobKind::Restart) {
            for c in chosen.iter().rev() {
                ctx.progress(&format!("stopping {}", c.name)).await;
                for r in of(c) {
                    let id = r.docker_id.clone().unwrap_or_else(|| r.name.clone());
                    match ctx.docker_answer("stop container", s.conn.stop_container(&id, STOP_TIMEOUT_S)).await? {
                        Ok(()) => {}
                        Err(crate::docker::DockerError::NotFound { .. }) => {
                            return Err(fail(format!("container {} of `{}` is missing from the host", r.name, c.name)));
                        }
                        Err(e) => return Err(e.into()),
                    }
                    record(
                        ctx,
                        ResourceKind::Container,
                        &c.name,
                        r.replica,
                        &r.name,
                        r.docker_id.clone(),
                        s.h.id,
                        ResourceStatus::Stopped,
                        r.ports.0.clone(),
                    )
                    .await?;
                }
            }
        }
        if matches!(kind, JobKind::Start | JobKind::Restart) {
            for c in &chosen {
                ctx.progress(&format!("starting {}", c.name)).await;
                for r in of(c) {
                    let id = r.docker_id.clone().unwrap_or_else(|| r.name.clone());
                    ctx.docker("start container", s.conn.start_container(&id)).await?;
                    let info = self.wait_ready(ctx, s.conn.as_ref(), &id, c).await?;
                    record(
                        ctx,
                        ResourceKind::Container,
                        &c.name,
                        r.replica,
                        &r.name,
                        Some(info.id.clone()),
                        s.h.id,
                        ResourceStatus::Running,
                        ports(&info, &s.h),
                    )
                    .await?;
                }
            }
        }
        self.settle(ctx, &s.d).await
    }

    /// Brings each component to its replica count (the deployment's inputs say it): missing
    /// replicas are made and started, extra ones removed, highest-numbered first.
    pub(super) async fn scale(&self, ctx: &Ctx) -> Result<(), StepError> {
        let s = self.scene(ctx).await?;
        let network = names::network(&s.d.id);
        let has_network = s.spec.iter().any(|c| !c.host_network);
        let bind_ip = s.h.bind_ip().map(|ip| ip.to_string());
        for c in &s.spec {
            let want = c.replicas;
            ctx.progress(&format!("scaling {} to {want}", c.name)).await;
            for r in 0..want {
                if s.containers.iter().any(|x| x.component == c.name && x.replica == r as i32) {
                    continue;
                }
                let replica = Replica {
                    instance: &self.inner.instance,
                    deployment: &s.d.id,
                    component: c,
                    replica: r,
                    network: has_network.then_some(network.as_str()),
                    bind_ip: bind_ip.as_deref(),
                };
                let name = replica.name();
                let id = ensure_container(ctx, s.conn.as_ref(), &ContainerSpec::from(replica)).await?;
                record(ctx, ResourceKind::Container, &c.name, r as i32, &name, Some(id.clone()), s.h.id, ResourceStatus::Created, vec![])
                    .await?;
                ctx.docker("start container", s.conn.start_container(&id)).await?;
                let info = self.wait_ready(ctx, s.conn.as_ref(), &id, c).await?;
                record(
                    ctx,
                    ResourceKind::Container,
                    &c.name,
                    r as i32,
                    &name,
                    Some(id),
                    s.h.id,
                    ResourceStatus::Running,
                    ports(&info, &s.h),
                )
                .await?;
            }
            let mut extra: Vec<&resource::Model> =
                s.containers.iter().filter(|x| x.component == c.name && x.replica >= want as i32).collect();
            extra.sort_by_key(|x| std::cmp::Reverse(x.replica));
            for x in extra {
                let id = x.docker_id.clone().unwrap_or_else(|| x.name.clone());
                match ctx.docker_answer("remove container", s.conn.remove_container(&id)).await? {
                    Ok(()) | Err(crate::docker::DockerError::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                let txn = ctx.fenced().await?;
                resource::Entity::delete_by_id(x.id).exec(&txn).await?;
                txn.commit().await?;
            }
        }
        self.settle(ctx, &s.d).await
    }

    /// After an action: the deployment's state from its containers as recorded (running, stopped,
    /// or drifted when only some run). An expired deployment stays expired.
    async fn settle(&self, ctx: &Ctx, d: &deployment::Model) -> Result<(), StepError> {
        let now = deployment::Entity::find_by_id(d.id.clone()).one(ctx.db()).await?.ok_or_else(|| fail("the deployment is gone"))?;
        if now.status == DeploymentStatus::Expired {
            return Ok(());
        }
        let statuses: Vec<ResourceStatus> = resource::Entity::find()
            .filter(resource::Column::DeploymentId.eq(&d.id))
            .filter(resource::Column::Kind.eq(ResourceKind::Container))
            .all(ctx.db())
            .await?
            .into_iter()
            .map(|r| r.status)
            .collect();
        let (status, reason) = states::observed(&statuses);
        ctx.advance(DeploymentEvent::Observed(status), reason, None).await?;
        Ok(())
    }
}

fn ports(info: &crate::docker::ContainerInfo, h: &host::Model) -> Vec<PublishedPort> {
    info.ports
        .iter()
        .map(|p| PublishedPort {
            container_port: p.container_port,
            protocol: p.protocol.clone(),
            host_port: p.host_port,
            address: h.publish_address.clone(),
        })
        .collect()
}
