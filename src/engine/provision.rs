//! The steps of provisioning a deployment. Every step looks before it acts (inspect, find by
//! label), so running a job again after a crash neither duplicates nor orphans anything; every
//! write goes through the job's fence (`Ctx::fenced`), and every Docker call through its
//! lease check and step deadline (`Ctx::docker`).
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect};

use super::Engine;
use super::job::{Ctx, StepError, fail, load_spec};
use super::netpool;
use super::spec::Replica;
use crate::docker::{ContainerHost, ContainerSpec, DockerError, RegistryAuth, labels};
use crate::domain::Secret;
use crate::domain::blueprint::resolve::{self, DeploymentRef, OutputContext, ResolvedComponent, ResolvedVolume};
use crate::domain::deployment::{PublishedPort, names};
use crate::domain::placement::{self, Candidate};
use crate::domain::registry::{AllowedImages, PullProblem, split_image};
use crate::domain::states::{DeploymentEvent, DeploymentStatus, HostKind, HostStatus, ResourceKind, ResourceStatus};
use crate::failpoint;
use crate::sealing::Kind;
use crate::store::entities::{catalog_item, deployment, host, registry, resource};
use crate::store::{PublishedPorts, StringMap};

/// A pull that fails this many times in a row, transiently, fails the deployment.
const PULL_TRIES: u32 = 4;

/// How often a container that is not ready yet is looked at when no event of it comes.
const READY_POLL: Duration = Duration::from_millis(500);

/// A host's container events (`Engine::listen`).
pub(super) type ContainerEvents = tokio::sync::broadcast::Receiver<crate::docker::ContainerEvent>;

impl Engine {
    /// Chooses a host, once, in one fenced transaction that also reads every host's load: the
    /// choice is stored (a retry or a crash recovery stays there), and concurrent placements —
    /// of this process or another replica — see each other's planned containers, so a host's
    /// `max_containers` holds.
    async fn place(&self, ctx: &Ctx, d: &deployment::Model, needed: i64) -> Result<host::Model, StepError> {
        let db = ctx.db();
        if let Some(id) = d.host_id {
            return host::Entity::find_by_id(id).one(db).await?.ok_or_else(|| fail("the deployment's host was removed"));
        }
        let txn = ctx.fenced().await?;
        // One placement at a time across replicas: PostgreSQL locks the hosts' rows; SQLite's
        // write lock is already held.
        let hosts = if txn.get_database_backend() == DbBackend::Postgres {
            host::Entity::find().lock_exclusive().all(&txn).await?
        } else {
            host::Entity::find().all(&txn).await?
        };
        let live = deployment::Entity::find()
            .filter(deployment::Column::HostId.is_not_null())
            .filter(deployment::Column::Status.is_in(DeploymentStatus::LIVE.iter().copied()))
            .all(&txn)
            .await?;
        let made = crate::store::deployments::containers_made(&txn).await?;
        let mut candidates = Vec::new();
        for h in &hosts {
            let on_host: Vec<&deployment::Model> = live.iter().filter(|x| x.host_id == Some(h.id)).collect();
            let containers: i64 = on_host.iter().map(|x| crate::store::deployments::containers_held(x.containers, &made, &x.id)).sum();
            candidates.push(Candidate {
                id: h.id,
                name: h.name.clone(),
                up: h.status == HostStatus::Up,
                labels: h.labels.0.clone(),
                max_containers: h.max_containers.map(i64::from),
                containers,
                deployments: on_host.len() as i64,
            });
        }
        let chosen = placement::choose(&candidates, &d.host_selector.0, needed).map_err(fail)?;
        let h = hosts.into_iter().find(|h| h.id == chosen).ok_or_else(|| fail("the chosen host vanished"))?;
        let res = deployment::Entity::update_many()
            .col_expr(deployment::Column::HostId, Expr::value(Some(h.id)))
            .col_expr(deployment::Column::HostName, Expr::value(Some(h.name.clone())))
            .col_expr(deployment::Column::Containers, Expr::value(i32::try_from(needed).unwrap_or(i32::MAX)))
            .col_expr(deployment::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(deployment::Column::Id.eq(&d.id))
            .filter(deployment::Column::HostId.is_null())
            .filter(deployment::Column::Status.eq(DeploymentStatus::Provisioning))
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            return Err(fail("the deployment changed while a host was chosen for it"));
        }
        txn.commit().await?;
        Ok(h)
    }

    pub(super) async fn provision(&self, ctx: &Ctx) -> Result<(), StepError> {
        let db = ctx.db();
        let d =
            deployment::Entity::find_by_id(ctx.job.deployment_id.clone()).one(db).await?.ok_or_else(|| fail("the deployment is gone"))?;
        if d.status != DeploymentStatus::Provisioning {
            return Err(fail(format!("the deployment is {}, not provisioning", d.status)));
        }
        let (bp, values) = load_spec(db, &self.inner.sealer, &d).await?;
        let dep = DeploymentRef { id: d.id.clone(), name: d.name.clone() };
        let mut spec = resolve::resolve(&bp, &values, &dep).map_err(|e| fail(format!("the blueprint does not resolve: {}", e[0])))?;
        resolve::apply_defaults(&mut spec, &self.inner.defaults);
        self.images_allowed(ctx, &d, &bp, &spec).await?;
        let needed: i64 = spec.iter().map(|c| i64::from(c.replicas)).sum();
        failpoint!("provision.start", StepError::from);

        ctx.progress("choosing a host").await;
        let h = self.place(ctx, &d, needed).await?;
        failpoint!("provision.placed", StepError::from);
        ctx.still_ours()?;
        check_host_ports(&spec, &h)?;
        let conn = self.pool().get(&h).await.map_err(|e| fail(format!("host `{}`: {e}", h.name)))?;
        if h.kind == HostKind::Swarm {
            let published = self.provision_services(ctx, &d, &h, conn.as_ref(), &spec).await?;
            return self.provisioned(ctx, &bp, &values, &dep, &h, &published).await;
        }
        let bind_ip = h.bind_ip().map(|ip| ip.to_string());

        let base_labels = vec![
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::INSTANCE.to_string(), self.inner.instance.clone()),
            (labels::DEPLOYMENT.to_string(), d.id.clone()),
        ];
        let needs_network = spec.iter().any(|c| !c.host_network);
        // Images (present, or pulled), the private network (unless every component uses the
        // host's) and the named volumes at once: none needs another.
        let images = async {
            let images: HashSet<String> = spec.iter().map(|c| c.image.with_default_tag()).collect();
            for image in &images {
                match ctx.docker_read("inspect image", || conn.inspect_image(image)).await? {
                    Ok(_) => {}
                    Err(DockerError::NotFound { .. }) => self.pull(ctx, conn.as_ref(), image, &h.name).await?,
                    Err(e) => return Err(e.into()),
                }
            }
            Ok::<(), StepError>(())
        };
        let network =
            async { if needs_network { self.network(ctx, &d, &h, conn.as_ref(), &base_labels).await.map(Some) } else { Ok(None) } };
        let volumes = async {
            for c in &spec {
                for v in &c.volumes {
                    if let ResolvedVolume::Named { name, .. } = v {
                        let vol = names::volume(&d.id, name);
                        ctx.docker("create volume", conn.ensure_volume(&vol, &base_labels)).await?;
                        record(ctx, ResourceKind::Volume, &c.name, 0, &vol, None, h.id, ResourceStatus::Ready, vec![]).await?;
                    }
                }
            }
            Ok::<(), StepError>(())
        };
        let (images, network, volumes) = tokio::join!(images, network, volumes);
        images?;
        failpoint!("provision.pulled", StepError::from);
        let network = network?;
        if network.is_some() {
            failpoint!("provision.network", StepError::from);
        }
        volumes?;
        if spec.iter().any(|c| c.volumes.iter().any(|v| matches!(v, ResolvedVolume::Named { .. }))) {
            failpoint!("provision.volume", StepError::from);
        }

        // Containers, in depends_on order; a component waits until those it depends on are healthy.
        let mut published: BTreeMap<(String, u16), u16> = BTreeMap::new();
        for c in &spec {
            ctx.progress(&format!("starting {}", c.name)).await;
            let mut ids = Vec::new();
            for r in 0..c.replicas {
                let replica = Replica {
                    instance: &self.inner.instance,
                    deployment: &d.id,
                    component: c,
                    replica: r,
                    network: network.as_deref(),
                    bind_ip: bind_ip.as_deref(),
                };
                let name = replica.name();
                let id = ensure_container(ctx, conn.as_ref(), &ContainerSpec::from(replica)).await?;
                failpoint!("provision.container_created", StepError::from);
                // Listening before the start, so that no change of the container is missed.
                let events = self.listen(h.id);
                // Recorded while the engine starts it (a job run again finds it by name either way).
                let created =
                    record(ctx, ResourceKind::Container, &c.name, r as i32, &name, Some(id.clone()), h.id, ResourceStatus::Created, vec![]);
                let (created, started) = tokio::join!(created, ctx.docker("start container", conn.start_container(&id)));
                created?;
                started?;
                failpoint!("provision.container_started", StepError::from);
                ids.push((r, name, id, events));
            }
            for (r, name, id, events) in ids {
                let info = self.wait_ready(ctx, conn.as_ref(), events, &id, c).await?;
                for p in &info.ports {
                    if r == 0 {
                        published.entry((c.name.clone(), p.container_port)).or_insert(p.host_port);
                    }
                }
                let ports = published_ports(&info, &h);
                failpoint!("provision.ready", StepError::from);
                record(ctx, ResourceKind::Container, &c.name, r as i32, &name, Some(id), h.id, ResourceStatus::Running, ports).await?;
            }
        }

        self.provisioned(ctx, &bp, &values, &dep, &h, &published).await
    }

    /// The outputs rendered, and the deployment running.
    async fn provisioned(
        &self,
        ctx: &Ctx,
        bp: &crate::domain::blueprint::Blueprint,
        values: &crate::domain::blueprint::inputs::InputValues,
        dep: &DeploymentRef,
        h: &host::Model,
        published: &BTreeMap<(String, u16), u16>,
    ) -> Result<(), StepError> {
        let outputs =
            resolve::render_outputs(bp, values, &OutputContext { host_address: &h.publish_address, deployment: dep, ports: published });
        failpoint!("provision.before_running", StepError::from);
        ctx.advance(DeploymentEvent::Provisioned, None, Some(StringMap(outputs))).await?;
        Ok(())
    }

    /// The deployment's private network: the one it has (a job run again), one claimed from the
    /// host's pool — the claim and its record in one fenced transaction —, or, with the pool
    /// empty or off, one made for it now. A pool network that turns out to be gone (pruned by
    /// hand, say) is forgotten, and another taken.
    async fn network(
        &self,
        ctx: &Ctx,
        d: &deployment::Model,
        h: &host::Model,
        conn: &dyn ContainerHost,
        labels: &[(String, String)],
    ) -> Result<String, StepError> {
        let own = names::network(&d.id);
        let recorded = resource::Entity::find()
            .filter(resource::Column::DeploymentId.eq(&d.id))
            .filter(resource::Column::Kind.eq(ResourceKind::Network))
            .one(ctx.db())
            .await?;
        let mut claim = match recorded {
            Some(r) if r.name != own => {
                if self.pool_network_there(ctx, conn, &r.name).await? {
                    return Ok(r.name);
                }
                self.inner.settings.network_pool > 0
            }
            Some(_) => false,
            // The deployment's own network, made by an attempt that died before recording it
            // (the pool was empty then): used, not left beside a pool network.
            None if ctx.docker_read("inspect network", || conn.network_exists(&own)).await?? => false,
            None => self.inner.settings.network_pool > 0,
        };
        // A few tries: each gone network is forgotten before the next claim.
        let mut tries = 3;
        while claim && tries > 0 {
            tries -= 1;
            let txn = ctx.fenced().await?;
            let Some(n) = netpool::claim(&txn, h.id, &d.id).await? else {
                txn.rollback().await.ok();
                break;
            };
            let ready = ResourceStatus::Ready;
            record_in(&txn, &d.id, ResourceKind::Network, "", 0, &n.name, Some(n.docker_id.clone()), h.id, ready, vec![], None).await?;
            txn.commit().await?;
            if self.pool_network_there(ctx, conn, &n.name).await? {
                return Ok(n.name);
            }
            claim = self.inner.settings.network_pool > 0;
        }
        ctx.progress("creating the network").await;
        let net_id = ctx.docker("create network", conn.ensure_network(&own, labels)).await?;
        record(ctx, ResourceKind::Network, "", 0, &own, Some(net_id), h.id, ResourceStatus::Ready, vec![]).await?;
        Ok(own)
    }

    /// Whether a pool network the deployment holds is on the host; one that is not is
    /// forgotten (its row, and the deployment's record of it), fenced.
    async fn pool_network_there(&self, ctx: &Ctx, conn: &dyn ContainerHost, name: &str) -> Result<bool, StepError> {
        if ctx.docker_read("inspect network", || conn.network_exists(name)).await?? {
            return Ok(true);
        }
        tracing::warn!(deployment = %ctx.job.deployment_id, network = %name, "a pool network is gone from its host; another is taken");
        let txn = ctx.fenced().await?;
        resource::Entity::delete_many()
            .filter(resource::Column::DeploymentId.eq(&ctx.job.deployment_id))
            .filter(resource::Column::Kind.eq(ResourceKind::Network))
            .filter(resource::Column::Name.eq(name))
            .exec(&txn)
            .await?;
        netpool::forget_gone(&txn, name).await?;
        txn.commit().await?;
        Ok(false)
    }

    /// The images the blueprint and the catalog item allow, checked again before anything is
    /// pulled, wherever provisioning starts (a request checked at submission, a retry, a
    /// recovery): the rule holds at the pull, not only at the form.
    async fn images_allowed(
        &self,
        ctx: &Ctx,
        d: &deployment::Model,
        bp: &crate::domain::blueprint::Blueprint,
        spec: &[ResolvedComponent],
    ) -> Result<(), StepError> {
        for c in spec {
            if !bp.allowed_images.allows(c.image.as_ref()) {
                let refusal = bp.allowed_images.refusal(c.image.as_ref(), "this blueprint");
                return Err(fail(format!("component `{}`: {refusal} (nothing was pulled)", c.name)));
            }
        }
        let Some(item_id) = &d.catalog_item_id else { return Ok(()) };
        let Some(item) = catalog_item::Entity::find_by_id(item_id.clone()).one(ctx.db()).await? else {
            return Err(fail(format!("the catalog item `{item_id}` is gone: its allowed images cannot be checked (nothing was pulled)")));
        };
        let allowed = AllowedImages::parse(&item.allowed_images.0).map_err(|e| {
            fail(format!("the catalog item's allowed images: {}", e.into_iter().map(|(_, m)| m).collect::<Vec<_>>().join("; ")))
        })?;
        for c in spec {
            if !allowed.allows(c.image.as_ref()) {
                return Err(fail(format!(
                    "component `{}`: {} (nothing was pulled)",
                    c.name,
                    allowed.refusal(c.image.as_ref(), "this catalog item")
                )));
            }
        }
        Ok(())
    }

    /// The credentials Wharf holds for the registry an image comes from, if any.
    pub(super) async fn registry_auth(&self, ctx: &Ctx, image: &str) -> Result<Option<RegistryAuth>, StepError> {
        let (address, _) = split_image(image);
        let Some(r) = registry::Entity::find().filter(registry::Column::Address.eq(address.as_str())).one(ctx.db()).await? else {
            return Ok(None);
        };
        let (Some(username), Some(sealed)) = (r.username, r.password) else { return Ok(None) };
        let password = self
            .inner
            .sealer
            .open(Kind::RegistryPassword, &sealed)
            .map_err(|e| fail(format!("the password Wharf holds for the registry {address}: {e}")))?;
        Ok(Some(RegistryAuth { server: address.to_string(), username, password: Secret::new(password) }))
    }

    /// Pulls an image, retrying (with a growing pause) what may pass: an engine that does not
    /// answer, a registry that does not. What the registry refuses (no such image, no access,
    /// a certificate the host does not trust) fails at once, saying which registry and why.
    async fn pull(&self, ctx: &Ctx, conn: &dyn ContainerHost, image: &str, host: &str) -> Result<(), StepError> {
        ctx.progress(&format!("pulling {image}")).await;
        let auth = self.registry_auth(ctx, image).await?;
        let limit = Duration::from_secs(u64::from(self.inner.settings.pull_timeout_secs));
        let mut last = String::new();
        for attempt in 1..=PULL_TRIES {
            ctx.still_ours()?;
            // Before another try: the image may be there now (pulled by another job, or by an
            // engine that finished the pull it was restarted in).
            if attempt > 1 && ctx.docker_read("inspect image", || conn.inspect_image(image)).await?.is_ok() {
                return Ok(());
            }
            // Pull progress is written at most once a second, by this task's caller.
            let (tx, mut rx) = tokio::sync::watch::channel(String::new());
            let writer = {
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    while rx.changed().await.is_ok() {
                        let line = rx.borrow_and_update().clone();
                        ctx.progress_at(&line, false).await;
                    }
                })
            };
            let pulled = tokio::time::timeout(
                limit,
                conn.pull_image(image, auth.as_ref(), &move |line| {
                    let _ = tx.send(line);
                }),
            )
            .await;
            let _ = writer.await;
            match pulled {
                Ok(Ok(())) => return Ok(()),
                // What the registry said, through the engine (a 404 for a missing image).
                Ok(Err(DockerError::Engine { message, .. } | DockerError::NotFound { message, .. })) => {
                    let problem = PullProblem::of(&message);
                    let told = problem.explain(image, host, auth.is_some(), &message);
                    // A registry that could not be reached may be reached later ("no such
                    // host" included); what it refused, it will refuse again.
                    if !problem.transient() || (problem != PullProblem::Unreachable && !transient_message(&message)) {
                        return Err(fail(format!("image `{image}` could not be pulled: {told}")));
                    }
                    last = told;
                }
                Ok(Err(e)) if !transient(&e) => {
                    return Err(fail(format!("image `{image}` is not on host `{host}` and could not be pulled: {e}")));
                }
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = format!("the pull did not finish within {} s", limit.as_secs()),
            }
            failpoint!("provision.pull_failed", StepError::from);
            if attempt < PULL_TRIES {
                tracing::warn!(job = ctx.job.id, %image, attempt, error = %last, "pull failed; trying again");
                let base = u64::from(self.inner.settings.pull_retry_ms);
                tokio::time::sleep(Duration::from_millis(base << (attempt - 1))).await;
            }
        }
        Err(fail(format!("image `{image}` is not on host `{host}` and could not be pulled after {PULL_TRIES} tries: {last}")))
    }

    /// Events of `host_id`'s containers from now on: taken before a container is started, so
    /// that `wait_ready` misses none of its changes.
    pub(super) fn listen(&self, host_id: i64) -> ContainerEvents {
        self.inner.events.subscribe(host_id)
    }

    /// Waits until the container runs and, when it has a health check, is healthy. It looks
    /// when the engine reports a change of the container (its events, through the inventory),
    /// and at least every `READY_POLL` should an event be lost.
    pub(super) async fn wait_ready(
        &self,
        ctx: &Ctx,
        conn: &dyn ContainerHost,
        mut events: ContainerEvents,
        id: &str,
        c: &ResolvedComponent,
    ) -> Result<crate::docker::ContainerInfo, StepError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(self.inner.settings.health_timeout_secs));
        loop {
            let info = ctx
                .docker_read("inspect container", || conn.inspect_container(id))
                .await??
                .ok_or_else(|| fail(format!("container of `{}` vanished while starting", c.name)))?;
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
            let now = tokio::time::Instant::now();
            if now > deadline {
                return Err(fail(format!("component `{}` was not healthy within {} s", c.name, self.inner.settings.health_timeout_secs)));
            }
            // Until this container's next event, or the next look.
            let next_look = (now + READY_POLL).min(deadline + Duration::from_millis(1));
            loop {
                match tokio::time::timeout_at(next_look, events.recv()).await {
                    Ok(Ok(ev)) if ev.container_id == info.id || id == ev.container_id => break,
                    Ok(Ok(_)) => {}
                    // Missed some: look now. Closed: only the periodic looks are left.
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => break,
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => {
                        tokio::time::sleep_until(next_look).await;
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
    }
}

/// Host ports a requester chose (through an input) must fall in the host's range for them;
/// a host without a range takes none. Ports the blueprint itself fixes are the admin's choice.
fn check_host_ports(spec: &[resolve::ResolvedComponent], h: &host::Model) -> Result<(), StepError> {
    for c in spec {
        for p in c.ports.iter().filter(|p| p.host_from_input) {
            let Some(port) = p.host else { continue };
            match h.host_ports() {
                Some(range) if range.contains(&port) => {}
                Some(range) => {
                    return Err(fail(format!(
                        "host port {port} of `{}` (from an input) is outside the range host `{}` allows for input ports ({}-{})",
                        c.name,
                        h.name,
                        range.start(),
                        range.end()
                    )));
                }
                None => {
                    return Err(fail(format!(
                        "host port {port} of `{}` comes from an input, and host `{}` allows none (an admin sets its range for input ports)",
                        c.name, h.name
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Whether a failed pull may succeed if tried again: the engine or the registry did not
/// answer, or answered with a server error. A missing image or a refused login will not.
fn transient(e: &DockerError) -> bool {
    match e {
        DockerError::Unreachable { .. } => true,
        DockerError::NotFound { .. } | DockerError::BadEndpoint { .. } | DockerError::Conflict { .. } => false,
        DockerError::Engine { message, .. } => transient_message(message),
    }
}

fn transient_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    !["not found", "manifest unknown", "unauthorized", "denied", "invalid reference", "no such"].iter().any(|w| m.contains(w))
}

/// Creates the container, or finds it by its name when one exists (an attempt before this one
/// made it): the name is the deployment's, so the engine's conflict says it is there, and
/// creating first spares a lookup on the usual path. A container of that name that belongs to
/// something else is an error, never adopted.
pub(super) async fn ensure_container(ctx: &Ctx, conn: &dyn ContainerHost, spec: &ContainerSpec) -> Result<String, StepError> {
    let expected = spec.labels.iter().find(|(k, _)| k == labels::DEPLOYMENT).map(|(_, v)| v.clone());
    let check = |info: crate::docker::ContainerInfo| -> Result<String, StepError> {
        if info.labels.get(labels::DEPLOYMENT) == expected.as_ref() {
            Ok(info.id)
        } else {
            Err(fail(format!("a container named `{}` exists on the host and is not this deployment's", spec.name)))
        }
    };
    // Tried again while the engine does not answer, like a read: a create whose answer was
    // lost is found by its name on the next try.
    match ctx.docker_read("create container", || conn.create_container(spec)).await? {
        Ok(id) => Ok(id),
        Err(DockerError::Conflict { .. }) => match ctx.docker_read("inspect container", || conn.inspect_container(&spec.name)).await?? {
            Some(info) => check(info),
            None => Err(fail(format!("container `{}` could not be created", spec.name))),
        },
        Err(e) => Err(e.into()),
    }
}

/// A container's published ports as users are shown them: at the host's publish address.
pub(super) fn published_ports(info: &crate::docker::ContainerInfo, h: &host::Model) -> Vec<PublishedPort> {
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

/// Remembers a resource (insert or update by deployment, kind and name), fenced.
#[allow(clippy::too_many_arguments)]
pub(super) async fn record(
    ctx: &Ctx,
    kind: ResourceKind,
    component: &str,
    replica: i32,
    name: &str,
    docker_id: Option<String>,
    host_id: i64,
    status: ResourceStatus,
    ports: Vec<PublishedPort>,
) -> Result<(), StepError> {
    let txn = ctx.fenced().await?;
    record_in(&txn, &ctx.job.deployment_id, kind, component, replica, name, docker_id, host_id, status, ports, None).await?;
    txn.commit().await?;
    Ok(())
}

/// Remembers a resource of a Swarm deployment (a service, with its wanted and running tasks;
/// its network and volumes), fenced.
#[allow(clippy::too_many_arguments)]
pub(super) async fn record_tasks(
    ctx: &Ctx,
    kind: ResourceKind,
    component: &str,
    name: &str,
    docker_id: Option<String>,
    host_id: i64,
    status: ResourceStatus,
    ports: Vec<PublishedPort>,
    tasks: Option<(u32, u32)>,
) -> Result<(), StepError> {
    let txn = ctx.fenced().await?;
    record_in(&txn, &ctx.job.deployment_id, kind, component, 0, name, docker_id, host_id, status, ports, tasks).await?;
    txn.commit().await?;
    Ok(())
}

/// The same, in the caller's (fenced) transaction.
#[allow(clippy::too_many_arguments)]
async fn record_in(
    txn: &impl ConnectionTrait,
    deployment_id: &str,
    kind: ResourceKind,
    component: &str,
    replica: i32,
    name: &str,
    docker_id: Option<String>,
    host_id: i64,
    status: ResourceStatus,
    ports: Vec<PublishedPort>,
    tasks: Option<(u32, u32)>,
) -> Result<(), sea_orm::DbErr> {
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let row = resource::ActiveModel {
        desired: sea_orm::Set(tasks.map(|(d, _)| count(d))),
        running: sea_orm::Set(tasks.map(|(_, r)| count(r))),
        deployment_id: sea_orm::Set(deployment_id.to_string()),
        kind: sea_orm::Set(kind),
        component: sea_orm::Set(component.into()),
        replica: sea_orm::Set(replica),
        name: sea_orm::Set(name.into()),
        docker_id: sea_orm::Set(docker_id),
        host_id: sea_orm::Set(host_id),
        status: sea_orm::Set(status),
        ports: sea_orm::Set(PublishedPorts(ports)),
        updated_at: sea_orm::Set(Utc::now()),
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
                    resource::Column::Desired,
                    resource::Column::Running,
                ])
                .to_owned(),
        )
        .exec(txn)
        .await?;
    Ok(())
}
