//! Day-2 jobs on a deployment that stays where it is: start, stop and restart (the whole
//! deployment, or one component: in `depends_on` order, stopping in reverse), and scale
//! (the containers brought to what the deployment's inputs now say: new replicas made and
//! started, the highest-numbered removed first). Like provisioning, every step looks before it
//! acts, and every write goes through the job's fence.
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::Engine;
use super::job::{Ctx, StepError, fail, load_spec};
use super::provision::{ensure_container, published_ports, record};
use super::spec::Replica;
use crate::docker::{ContainerHost, ContainerSpec};
use crate::domain::blueprint::InputValue;
use crate::domain::blueprint::inputs::InputValues;
use crate::domain::blueprint::resolve::{self, DeploymentRef, ResolvedComponent};
use crate::domain::deployment::names;
use crate::domain::states::{self, DeploymentEvent, DeploymentStatus, HostKind, JobKind, ResourceKind, ResourceStatus};
use crate::store::entities::{deployment, host, request, resource};

/// What a job works with: the deployment, its host and a connection to it, its resolved spec
/// (in `depends_on` order) and its containers as recorded.
struct Scene {
    bp: crate::domain::blueprint::Blueprint,
    values: InputValues,
    d: deployment::Model,
    h: host::Model,
    conn: std::sync::Arc<dyn ContainerHost>,
    spec: Vec<ResolvedComponent>,
    containers: Vec<resource::Model>,
    /// The private network its containers join (its own, or one it claimed from the pool).
    network: String,
}

impl Engine {
    /// The scene, with one integer input set to another value (a scale's target) if `set`.
    async fn scene(&self, ctx: &Ctx, set: Option<(&str, i64)>) -> Result<Scene, StepError> {
        let db = ctx.db();
        let d =
            deployment::Entity::find_by_id(ctx.job.deployment_id.clone()).one(db).await?.ok_or_else(|| fail("the deployment is gone"))?;
        let host_id = d.host_id.ok_or_else(|| fail("the deployment has no host"))?;
        let h = host::Entity::find_by_id(host_id).one(db).await?.ok_or_else(|| fail("the deployment's host was removed"))?;
        let conn = self.pool().get(&h).await.map_err(|e| fail(format!("host `{}`: {e}", h.name)))?;
        let (bp, mut values) = load_spec(db, &self.inner.sealer, &d).await?;
        if let Some((input, n)) = set {
            values.insert(input.to_string(), InputValue::Integer(n));
        }
        let dep = DeploymentRef { id: d.id.clone(), name: d.name.clone() };
        let mut spec = resolve::resolve(&bp, &values, &dep).map_err(|e| fail(format!("the blueprint does not resolve: {}", e[0])))?;
        resolve::apply_defaults(&mut spec, &self.inner.defaults);
        let mut containers = resource::Entity::find()
            .filter(resource::Column::DeploymentId.eq(&d.id))
            .filter(resource::Column::Kind.eq(ResourceKind::Container))
            .all(db)
            .await?;
        containers.sort_by_key(|r| r.replica);
        let network = resource::Entity::find()
            .filter(resource::Column::DeploymentId.eq(&d.id))
            .filter(resource::Column::Kind.eq(ResourceKind::Network))
            .one(db)
            .await?
            .map_or_else(|| names::network(&d.id), |r| r.name);
        Ok(Scene { bp, values, d, h, conn, spec, containers, network })
    }

    /// The parameters of the day-2 request the job carries out (none for the lease loop's stop).
    async fn params(&self, ctx: &Ctx) -> Result<InputValues, StepError> {
        let Some(rid) = &ctx.job.request_id else { return Ok(InputValues::new()) };
        let r = request::Entity::find_by_id(rid.clone()).one(ctx.db()).await?.ok_or_else(|| fail("the job's request is gone"))?;
        Ok(r.inputs.0)
    }

    /// Whether the deployment is still the job's to work on, checked before each change on the
    /// host (the lease loop may have expired it, a host removal orphaned it meanwhile).
    async fn still_works_on(&self, ctx: &Ctx) -> Result<(), StepError> {
        ctx.still_ours()?;
        let d = deployment::Entity::find_by_id(ctx.job.deployment_id.clone())
            .one(ctx.db())
            .await?
            .ok_or_else(|| fail("the deployment is gone"))?;
        if ctx.job.kind.works_on(d.status) {
            Ok(())
        } else {
            Err(fail(format!("the deployment is {} now; its {} job stops", d.status, ctx.job.kind)))
        }
    }

    /// Start, stop or restart: the whole deployment, or the component the request names.
    pub(super) async fn power(&self, ctx: &Ctx) -> Result<(), StepError> {
        let s = self.scene(ctx, None).await?;
        let only = match self.params(ctx).await?.get("component") {
            Some(InputValue::String(c)) => Some(c.clone()),
            _ => None,
        };
        let chosen: Vec<&ResolvedComponent> = s.spec.iter().filter(|c| only.as_ref().is_none_or(|o| *o == c.name)).collect();
        if chosen.is_empty() {
            return Err(fail(format!("the deployment has no component `{}`", only.unwrap_or_default())));
        }
        let kind = ctx.job.kind;
        if s.h.kind == HostKind::Swarm {
            // A service stops with its replicas at 0, and starts with them back at the count
            // the deployment's inputs say.
            if matches!(kind, JobKind::Stop | JobKind::Restart) {
                for c in chosen.iter().rev() {
                    ctx.progress(&format!("stopping {}", c.name)).await;
                    self.still_works_on(ctx).await?;
                    self.set_tasks(ctx, &s.d, &s.h, s.conn.as_ref(), c, 0).await?;
                }
            }
            if matches!(kind, JobKind::Start | JobKind::Restart) {
                for c in &chosen {
                    ctx.progress(&format!("starting {}", c.name)).await;
                    self.still_works_on(ctx).await?;
                    self.set_tasks(ctx, &s.d, &s.h, s.conn.as_ref(), c, c.replicas).await?;
                }
            }
            return self.settle(ctx, &s.d).await;
        }
        let of = |c: &ResolvedComponent| s.containers.iter().filter(|r| r.component == c.name).collect::<Vec<_>>();
        if matches!(kind, JobKind::Stop | JobKind::Restart) {
            let stop_timeout = i32::try_from(self.inner.settings.stop_timeout_secs).unwrap_or(i32::MAX);
            for c in chosen.iter().rev() {
                ctx.progress(&format!("stopping {}", c.name)).await;
                for r in of(c) {
                    self.still_works_on(ctx).await?;
                    let id = r.docker_id.clone().unwrap_or_else(|| r.name.clone());
                    // A container removed behind Wharf's back is stopped enough: the others are
                    // stopped still, and it shows as missing.
                    let status = match ctx.docker_answer("stop container", s.conn.stop_container(&id, stop_timeout)).await? {
                        Ok(()) => ResourceStatus::Stopped,
                        Err(crate::docker::DockerError::NotFound { .. }) => ResourceStatus::Missing,
                        Err(e) => return Err(e.into()),
                    };
                    let (docker_id, ports) = (r.docker_id.clone(), r.ports.0.clone());
                    record(ctx, ResourceKind::Container, &c.name, r.replica, &r.name, docker_id, s.h.id, status, ports).await?;
                }
            }
        }
        if matches!(kind, JobKind::Start | JobKind::Restart) {
            for c in &chosen {
                ctx.progress(&format!("starting {}", c.name)).await;
                for r in of(c) {
                    self.still_works_on(ctx).await?;
                    let id = r.docker_id.clone().unwrap_or_else(|| r.name.clone());
                    let events = self.listen(s.h.id);
                    ctx.docker("start container", s.conn.start_container(&id)).await?;
                    let info = self.wait_ready(ctx, s.conn.as_ref(), events, &id, c).await?;
                    let ports = published_ports(&info, &s.h);
                    record(
                        ctx,
                        ResourceKind::Container,
                        &c.name,
                        r.replica,
                        &r.name,
                        Some(info.id),
                        s.h.id,
                        ResourceStatus::Running,
                        ports,
                    )
                    .await?;
                }
            }
        }
        self.settle(ctx, &s.d).await
    }

    /// A scale: the component the request names brought to its replica count, through the
    /// integer input its replicas come from.
    pub(super) async fn scale(&self, ctx: &Ctx) -> Result<(), StepError> {
        let params = self.params(ctx).await?;
        let (Some(InputValue::String(component)), Some(InputValue::Integer(n))) = (params.get("component"), params.get("replicas")) else {
            return Err(fail("the scale request names no component or replica count"));
        };
        let d = deployment::Entity::find_by_id(ctx.job.deployment_id.clone())
            .one(ctx.db())
            .await?
            .ok_or_else(|| fail("the deployment is gone"))?;
        let (bp, _) = load_spec(ctx.db(), &self.inner.sealer, &d).await?;
        let input = crate::domain::lifecycle::scaling_input(&bp, component).map_err(fail)?.name.clone();
        self.converge(ctx, Some((&input, *n))).await
    }

    /// After a scale failed: back to the replicas the deployment's (unchanged) inputs say.
    pub(super) async fn scale_back(&self, ctx: &Ctx) -> Result<(), StepError> {
        self.converge(ctx, None).await
    }

    /// Brings every component to its replica count: missing replicas are made and started, extra
    /// ones removed, highest-numbered first. Only a scale that got there records its inputs and
    /// what the deployment now holds against its group's quota.
    async fn converge(&self, ctx: &Ctx, set: Option<(&str, i64)>) -> Result<(), StepError> {
        let s = self.scene(ctx, set).await?;
        let network = s.network.clone();
        let has_network = s.spec.iter().any(|c| !c.host_network);
        let bind_ip = s.h.bind_ip().map(|ip| ip.to_string());
        for c in s.spec.iter().filter(|_| s.h.kind == HostKind::Swarm) {
            // A stopped service stays stopped: its count is what a start brings back.
            let rows = self.service_rows(ctx, &s.d.id).await?;
            let row = rows.iter().find(|r| r.component == c.name);
            let stopped = row.is_some_and(|r| r.status == ResourceStatus::Stopped);
            let want = if stopped { 0 } else { c.replicas };
            // A component a scale does not change is left as it is (one Swarm is replacing a
            // task of does not fail another's scale): its service, asked now, already wants
            // that count. Going back after a failed scale leaves nothing out.
            if set.is_some()
                && let Some(r) = row
                && matches!(r.status, ResourceStatus::Running | ResourceStatus::Stopped | ResourceStatus::Restarting)
            {
                let name = r.docker_id.clone().unwrap_or_else(|| r.name.clone());
                let live = ctx.docker_read("inspect service", || s.conn.inspect_service(&name)).await??;
                if live.is_some_and(|x| x.replicas == want) {
                    continue;
                }
            }
            ctx.progress(&format!("scaling {} to {want}", c.name)).await;
            self.still_works_on(ctx).await?;
            self.set_tasks(ctx, &s.d, &s.h, s.conn.as_ref(), c, want).await?;
        }
        for c in s.spec.iter().filter(|_| s.h.kind == HostKind::Engine) {
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
                self.still_works_on(ctx).await?;
                let id = ensure_container(ctx, s.conn.as_ref(), &ContainerSpec::from(replica)).await?;
                let created = ResourceStatus::Created;
                record(ctx, ResourceKind::Container, &c.name, r as i32, &name, Some(id.clone()), s.h.id, created, vec![]).await?;
                let events = self.listen(s.h.id);
                ctx.docker("start container", s.conn.start_container(&id)).await?;
                let info = self.wait_ready(ctx, s.conn.as_ref(), events, &id, c).await?;
                let ports = published_ports(&info, &s.h);
                record(ctx, ResourceKind::Container, &c.name, r as i32, &name, Some(id), s.h.id, ResourceStatus::Running, ports).await?;
            }
            let mut extra: Vec<&resource::Model> =
                s.containers.iter().filter(|x| x.component == c.name && x.replica >= want as i32).collect();
            extra.sort_by_key(|x| std::cmp::Reverse(x.replica));
            for x in extra {
                self.still_works_on(ctx).await?;
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
        if set.is_some() {
            let (containers, memory_mb, cpus) = s.spec.iter().fold((0i64, 0i64, 0f64), |(n, m, c), x| {
                let r = i64::from(x.replicas);
                (n + r, m + r * x.memory_mb.unwrap_or(0), c + r as f64 * x.cpus.unwrap_or(0.0))
            });
            let txn = ctx.fenced().await?;
            deployment::Entity::update_many()
                .col_expr(deployment::Column::Inputs, Expr::value(self.inner.sealer.seal_inputs(&s.bp, &s.values)))
                .col_expr(deployment::Column::Containers, Expr::value(i32::try_from(containers).unwrap_or(i32::MAX)))
                .col_expr(deployment::Column::MemoryMb, Expr::value(memory_mb))
                .col_expr(deployment::Column::Cpus, Expr::value(cpus))
                .col_expr(deployment::Column::UpdatedAt, Expr::value(chrono::Utc::now()))
                .filter(deployment::Column::Id.eq(&s.d.id))
                .exec(&txn)
                .await?;
            txn.commit().await?;
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
        let rows = resource::Entity::find()
            .filter(resource::Column::DeploymentId.eq(&d.id))
            .filter(resource::Column::Kind.is_in([ResourceKind::Container, ResourceKind::Service]))
            .all(ctx.db())
            .await?;
        let (status, reason) = if rows.iter().any(|r| r.kind == ResourceKind::Service) {
            states::observed_services(&rows.iter().map(super::swarm::recorded).collect::<Vec<_>>())
        } else {
            states::observed(&rows.iter().map(|r| r.status).collect::<Vec<_>>())
        };
        ctx.advance(DeploymentEvent::Observed(status), reason, None).await?;
        Ok(())
    }
}
