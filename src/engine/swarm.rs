//! Deployments on a Docker Swarm: each component becomes a service (replicas, resources as
//! reservations and limits, health check, `io.wharf.*` labels, placement constraints from the
//! host selector) on an attachable overlay network of the deployment's own, reached by name
//! (`dnsrr`) and published in host mode. Swarm places and reschedules the tasks; Wharf reads
//! back each service's running and wanted tasks. Stop and start set a service's replicas to 0
//! and back, a scale sets them to the new count, destroy removes services, network and
//! volumes. Like provisioning on an engine, every step looks before it acts, and every write
//! goes through the job's fence.
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::Engine;
use super::job::{Ctx, StepError, fail};
use super::provision::record_tasks;
use super::spec::Service;
use crate::docker::{ContainerHost, DockerError, ServiceSpec, TaskInfo, labels};
use crate::domain::blueprint::resolve::{ResolvedComponent, ResolvedVolume};
use crate::domain::deployment::{PublishedPort, names};
use crate::domain::states::{ResourceKind, ResourceStatus, ServiceTally};
use crate::store::entities::{deployment, host, resource};

/// How often a service's tasks are looked at while Wharf waits for them.
const TASK_POLL: Duration = Duration::from_millis(300);

/// What a service's tasks say: the tasks Swarm wants running, and those of them that run
/// (healthy, when the service has a health check: Swarm says `starting` until then).
fn running(tasks: &[TaskInfo]) -> Vec<&TaskInfo> {
    tasks.iter().filter(|t| t.desired == "running" && t.state == "running").collect()
}

/// The published ports of the lowest slot's running task: at the host's publish address when
/// the task runs on the manager Wharf talks to, else at its node's address (host-mode ports
/// are the node's).
async fn ports_of(conn: &dyn ContainerHost, tasks: &[TaskInfo], h: &host::Model) -> Result<Vec<PublishedPort>, DockerError> {
    let mut live = running(tasks);
    live.sort_by_key(|t| t.slot);
    let Some(t) = live.first().filter(|t| !t.ports.is_empty()) else { return Ok(Vec::new()) };
    let me = conn.swarm().await?.node_id;
    let address = match &t.node_id {
        Some(node) if !me.is_empty() && *node != me => conn.node_address(node).await?.unwrap_or_else(|| h.publish_address.clone()),
        _ => h.publish_address.clone(),
    };
    Ok(t.ports
        .iter()
        .map(|p| PublishedPort {
            container_port: p.container_port,
            protocol: p.protocol.clone(),
            host_port: p.host_port,
            address: address.clone(),
        })
        .collect())
}

/// A fixed host port is taken once per node: a component that publishes one cannot have more
/// tasks than the swarm has nodes (the extra tasks would wait for a node for ever).
fn fits_nodes(c: &ResolvedComponent, want: u32, nodes: i64) -> Result<(), StepError> {
    if let Some(port) = c.ports.iter().find_map(|p| p.host)
        && i64::from(want) > nodes
    {
        return Err(fail(format!(
            "`{}` publishes host port {port} from each of its {want} tasks, and the swarm has {nodes} node{}: a host port is taken once per node",
            c.name,
            if nodes == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

impl Engine {
    /// Provisions the deployment's components as services, in `depends_on` order, each waited
    /// for until its tasks run (healthy) before the next starts. Returns the ports published
    /// by each component's first task, for the outputs.
    pub(super) async fn provision_services(
        &self,
        ctx: &Ctx,
        d: &deployment::Model,
        h: &host::Model,
        conn: &dyn ContainerHost,
        spec: &[ResolvedComponent],
    ) -> Result<BTreeMap<(String, u16), u16>, StepError> {
        let network = names::network(&d.id);
        // Every component checked before anything is made: a blueprint Swarm cannot run fails
        // with nothing to clean.
        let services: Vec<ServiceSpec> =
            spec.iter().map(|c| self.service_of(d, c, &network).spec()).collect::<Result<_, _>>().map_err(fail)?;
        let nodes = ctx.docker_read("swarm", || conn.swarm()).await??.nodes.max(1);
        for c in spec {
            fits_nodes(c, c.replicas, nodes)?;
        }
        let base_labels = vec![
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::INSTANCE.to_string(), self.inner.instance.clone()),
            (labels::DEPLOYMENT.to_string(), d.id.clone()),
        ];
        ctx.progress("creating the overlay network").await;
        let net_id = ctx.docker("create network", conn.ensure_overlay_network(&network, &base_labels)).await?;
        record_tasks(ctx, ResourceKind::Network, "", &network, Some(net_id), h.id, ResourceStatus::Ready, vec![], None).await?;
        // Swarm makes a named volume on the node a task runs on, with the deployment's labels
        // (`docker::ServiceSpec`): recorded here, found by label when destroyed.
        for c in spec {
            for v in &c.volumes {
                if let ResolvedVolume::Named { name, .. } = v {
                    let vol = names::volume(&d.id, name);
                    record_tasks(ctx, ResourceKind::Volume, &c.name, &vol, None, h.id, ResourceStatus::Ready, vec![], None).await?;
                }
            }
        }
        let mut published = BTreeMap::new();
        for (c, s) in spec.iter().zip(&services) {
            ctx.progress(&format!("starting {} ({} task{})", c.name, c.replicas, if c.replicas == 1 { "" } else { "s" })).await;
            let known = self.task_ids(ctx, conn, &s.name).await?;
            let id = self.ensure_service(ctx, conn, s, &d.id).await?;
            let created = ResourceStatus::Created;
            record_tasks(ctx, ResourceKind::Service, &c.name, &s.name, Some(id.clone()), h.id, created, vec![], Some((c.replicas, 0)))
                .await?;
            let tasks = self.wait_tasks(ctx, conn, &id, c, c.replicas, &known).await?;
            let ports = ports_of(conn, &tasks, h).await.unwrap_or_default();
            for p in &ports {
                published.entry((c.name.clone(), p.container_port)).or_insert(p.host_port);
            }
            let tally = Some((c.replicas, running(&tasks).len() as u32));
            record_tasks(ctx, ResourceKind::Service, &c.name, &s.name, Some(id), h.id, ResourceStatus::Running, ports, tally).await?;
        }
        Ok(published)
    }

    fn service_of<'a>(&'a self, d: &'a deployment::Model, c: &'a ResolvedComponent, network: &'a str) -> Service<'a> {
        Service { instance: &self.inner.instance, deployment: &d.id, component: c, network, selector: &d.host_selector.0 }
    }

    /// Creates the service, or finds it by name when one exists (an attempt before this one
    /// made it); a service of that name that is not this deployment's is an error, never adopted.
    async fn ensure_service(&self, ctx: &Ctx, conn: &dyn ContainerHost, spec: &ServiceSpec, deployment: &str) -> Result<String, StepError> {
        let auth = self.registry_auth(ctx, &spec.container.image).await?;
        match ctx.docker_answer("create service", conn.create_service(spec, auth.as_ref())).await? {
            Ok(id) => Ok(id),
            Err(DockerError::Conflict { .. }) => match ctx.docker_read("inspect service", || conn.inspect_service(&spec.name)).await?? {
                Some(s) if s.labels.get(labels::DEPLOYMENT).map(String::as_str) == Some(deployment) => Ok(s.id),
                Some(_) => Err(fail(format!("a service named `{}` exists on the swarm and is not this deployment's", spec.name))),
                None => Err(fail(format!("service `{}` could not be created", spec.name))),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// The ids of a service's tasks now (none when it does not exist): a task Swarm rejects
    /// after this is news, one rejected before is history.
    async fn task_ids(&self, ctx: &Ctx, conn: &dyn ContainerHost, service: &str) -> Result<HashSet<String>, StepError> {
        match ctx.docker_read("inspect service", || conn.inspect_service(service)).await?? {
            Some(s) => Ok(ctx.docker_read("list tasks", || conn.service_tasks(&s.id)).await??.into_iter().map(|t| t.id).collect()),
            None => Ok(HashSet::new()),
        }
    }

    /// Waits until `want` tasks of the service run (and none else is wanted running), within
    /// the health timeout. A new task Swarm rejects (no such image, no node that fits the
    /// constraints or the reservations) fails the step at once, with Swarm's words; tasks that
    /// fail are retried by Swarm, and the last error is told if time runs out.
    async fn wait_tasks(
        &self,
        ctx: &Ctx,
        conn: &dyn ContainerHost,
        service_id: &str,
        c: &ResolvedComponent,
        want: u32,
        known: &HashSet<String>,
    ) -> Result<Vec<TaskInfo>, StepError> {
        let limit = self.inner.settings.health_timeout_secs;
        let started = tokio::time::Instant::now();
        let mut deadline = started + Duration::from_secs(u64::from(limit));
        // A node pulls the image it lacks first: the health timeout counts from the end of the
        // pull (within the pull timeout).
        let pull_deadline = started + Duration::from_secs(u64::from(self.inner.settings.pull_timeout_secs));
        let mut last_error: Option<String> = None;
        loop {
            ctx.still_ours()?;
            let tasks = ctx.docker_read("list tasks", || conn.service_tasks(service_id)).await??;
            let new = || tasks.iter().filter(|t| !known.contains(&t.id));
            if let Some(t) = new().find(|t| t.state == "rejected") {
                let why = t.error.clone().unwrap_or_else(|| "no reason given".into());
                return Err(fail(format!("Swarm rejected a task of `{}`: {why}", c.name)));
            }
            if let Some(e) = new().filter(|t| t.state == "failed").find_map(|t| t.error.clone()) {
                last_error = Some(e);
            }
            let now = tokio::time::Instant::now();
            if now < pull_deadline && new().any(|t| t.desired == "running" && t.state == "preparing") {
                deadline = deadline.max(now + Duration::from_secs(u64::from(limit)));
            }
            let wanted = tasks.iter().filter(|t| t.desired == "running").count();
            let up = running(&tasks).len();
            // Scaling down: the tasks Swarm stops are wanted `shutdown`, and must have stopped.
            let stopping = tasks.iter().filter(|t| t.desired != "running" && t.state == "running").count();
            if up == want as usize && wanted == want as usize && stopping == 0 {
                return Ok(tasks);
            }
            if tokio::time::Instant::now() >= deadline {
                let last = last_error.map(|e| format!(" (last task error: {e})")).unwrap_or_default();
                let pending = if new().any(|t| t.state == "pending") {
                    " — a task is still pending: no node fits its constraints or reservations, or the image is being pulled"
                } else {
                    ""
                };
                return Err(fail(format!(
                    "`{}` did not have {want} running task{} within {} s: {up} running{pending}{last}",
                    c.name,
                    if want == 1 { "" } else { "s" },
                    started.elapsed().as_secs()
                )));
            }
            tokio::time::sleep(TASK_POLL).await;
        }
    }

    /// The deployment's service rows.
    pub(super) async fn service_rows(&self, ctx: &Ctx, deployment_id: &str) -> Result<Vec<resource::Model>, StepError> {
        Ok(resource::Entity::find()
            .filter(resource::Column::DeploymentId.eq(deployment_id))
            .filter(resource::Column::Kind.eq(ResourceKind::Service))
            .all(ctx.db())
            .await?)
    }

    /// Brings a component's service to `want` tasks: the service made again if it was removed
    /// behind Wharf's back, its replicas set, its tasks waited for; recorded.
    pub(super) async fn set_tasks(
        &self,
        ctx: &Ctx,
        d: &deployment::Model,
        h: &host::Model,
        conn: &dyn ContainerHost,
        c: &ResolvedComponent,
        want: u32,
    ) -> Result<(), StepError> {
        let network = names::network(&d.id);
        let mut spec = self.service_of(d, c, &network).spec().map_err(fail)?;
        spec.replicas = want;
        fits_nodes(c, want, ctx.docker_read("swarm", || conn.swarm()).await??.nodes.max(1))?;
        let known = self.task_ids(ctx, conn, &spec.name).await?;
        let id = match ctx.docker_read("inspect service", || conn.inspect_service(&spec.name)).await?? {
            Some(s) if s.labels.get(labels::DEPLOYMENT) != Some(&d.id) => {
                return Err(fail(format!("a service named `{}` exists on the swarm and is not this deployment's", spec.name)));
            }
            Some(s) => {
                if s.replicas != want {
                    // Recorded as wanted before Swarm is asked: a scale that then fails is seen
                    // as not done (and undone), never as the old count.
                    let tally = Some((want, 0));
                    record_tasks(
                        ctx,
                        ResourceKind::Service,
                        &c.name,
                        &spec.name,
                        Some(s.id.clone()),
                        h.id,
                        ResourceStatus::Restarting,
                        vec![],
                        tally,
                    )
                    .await?;
                    ctx.docker("scale service", conn.set_service_replicas(&s.id, want)).await?;
                }
                s.id
            }
            None => {
                ctx.docker("create network", conn.ensure_overlay_network(&network, &self.deployment_labels(&d.id))).await?;
                self.ensure_service(ctx, conn, &spec, &d.id).await?
            }
        };
        let tasks = self.wait_tasks(ctx, conn, &id, c, want, &known).await?;
        let status = if want == 0 { ResourceStatus::Stopped } else { ResourceStatus::Running };
        let ports = ports_of(conn, &tasks, h).await.unwrap_or_default();
        let tally = Some((want, running(&tasks).len() as u32));
        record_tasks(ctx, ResourceKind::Service, &c.name, &spec.name, Some(id), h.id, status, ports, tally).await
    }

    fn deployment_labels(&self, deployment: &str) -> Vec<(String, String)> {
        vec![
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::INSTANCE.to_string(), self.inner.instance.clone()),
            (labels::DEPLOYMENT.to_string(), deployment.to_string()),
        ]
    }

    /// Removes the deployment's services (Swarm then stops their tasks), and waits until their
    /// containers on the manager are gone, so that the network and volumes can go after them.
    pub(super) async fn remove_services(&self, ctx: &Ctx, conn: &dyn ContainerHost, selector: &[String]) -> Result<(), StepError> {
        for s in ctx.docker("list services", conn.list_services(selector)).await? {
            ctx.docker("remove service", conn.remove_service(&s.id)).await?;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(self.inner.settings.stop_timeout_secs) + 30);
        while !ctx.docker("list containers", conn.list_containers(selector)).await?.is_empty() {
            if tokio::time::Instant::now() >= deadline {
                // The generic removal force-removes what is left.
                break;
            }
            ctx.still_ours()?;
            tokio::time::sleep(TASK_POLL).await;
        }
        Ok(())
    }
}

/// Reads a deployment's services on the swarm: each service's running and wanted tasks, and
/// its row brought up to date. `None` when the host does not answer.
pub async fn tally(conn: &dyn ContainerHost, rows: &[resource::Model]) -> Option<Vec<(resource::Model, ServiceTally, Vec<TaskInfo>)>> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let key = r.docker_id.as_deref().unwrap_or(&r.name);
        let (tally, tasks) = match conn.inspect_service(key).await {
            Ok(Some(s)) => {
                let tasks = conn.service_tasks(&s.id).await.ok()?;
                let up = running(&tasks).len() as u32;
                (ServiceTally { component: r.component.clone(), running: up, desired: Some(s.replicas) }, tasks)
            }
            Ok(None) => (ServiceTally { component: r.component.clone(), running: 0, desired: None }, Vec::new()),
            Err(_) => return None,
        };
        out.push((r.clone(), tally, tasks));
    }
    Some(out)
}

/// The published ports a service row should show, from its tasks now.
pub async fn shown_ports(conn: &dyn ContainerHost, tasks: &[TaskInfo], h: &host::Model) -> Result<Vec<PublishedPort>, DockerError> {
    ports_of(conn, tasks, h).await
}

/// A service row as last recorded: gone when recorded missing.
pub fn recorded(r: &resource::Model) -> ServiceTally {
    let count = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
    ServiceTally {
        component: r.component.clone(),
        running: count(r.running),
        desired: (r.status != ResourceStatus::Missing).then(|| count(r.desired)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::blueprint::resolve::{DeploymentRef, resolve};
    use crate::domain::blueprint::{inputs, parse};

    fn web(ports: &str) -> ResolvedComponent {
        let source = format!("id: www\nname: W\nversion: 1\ncomponents:\n  web:\n    image: busybox\n    ports: {ports}\n");
        let bp = parse(&source).unwrap();
        let values = inputs::validate(&bp, &serde_json::Map::new()).unwrap();
        resolve(&bp, &values, &DeploymentRef { id: "d".into(), name: "n".into() }).unwrap().remove(0)
    }

    #[test]
    fn a_fixed_host_port_takes_one_task_per_node() {
        assert!(fits_nodes(&web("[8080]"), 5, 1).is_ok(), "Swarm chooses the ports");
        let fixed = web("[ { container: 80, host: 30080 } ]");
        assert!(fits_nodes(&fixed, 2, 2).is_ok());
        let StepError::Failed(why) = fits_nodes(&fixed, 3, 2).unwrap_err() else { panic!("a failure") };
        assert!(why.contains("host port 30080 from each of its 3 tasks, and the swarm has 2 nodes"), "{why}");
    }

    #[test]
    fn running_tasks_are_those_wanted_and_running() {
        let task = |id: &str, desired: &str, state: &str| TaskInfo {
            id: id.into(),
            slot: 1,
            state: state.into(),
            desired: desired.into(),
            error: None,
            container_id: None,
            node_id: None,
            ports: vec![],
        };
        let tasks = [
            task("a", "running", "running"),
            task("b", "shutdown", "running"),
            task("c", "running", "starting"),
            task("d", "shutdown", "failed"),
        ];
        let ids: Vec<&str> = running(&tasks).iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["a"]);
    }
}
