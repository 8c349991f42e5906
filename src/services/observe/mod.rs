//! Looking into a deployment's containers: logs (the `logs` permission), live stats (whoever
//! sees the deployment) and the web console (the `console` permission, audited). Each starts
//! here: the deployment must be visible (404), the permission granted (403), the deployment in
//! a state with containers (409), its host reachable (503), the component and replica named
//! right (422).
pub mod console;
pub mod logs;
pub mod stats;

use std::sync::Arc;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::auth::Principal;
use crate::docker::ContainerHost;
use crate::domain::states::{DeploymentStatus, ResourceKind};
use crate::engine::pool::HostPool;
use crate::services::{Context, FieldError, ServiceError, ServiceResult, deployments};
use crate::store::entities::{deployment, host, resource};

/// What the caller wants to do with the containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    Logs,
    Stats,
    Console,
}

/// One container of the deployment, as Wharf recorded it.
#[derive(Debug, Clone)]
pub struct Target {
    pub component: String,
    pub replica: i32,
    /// The container's name on its host.
    pub name: String,
    pub docker_id: String,
    /// A Swarm service (its logs are every task's), not a container.
    pub service: bool,
}

impl Target {
    /// `component-N`, as merged logs prefix its lines; a Swarm service's component alone.
    pub fn label(&self) -> String {
        if self.service { self.component.clone() } else { format!("{}-{}", self.component, self.replica) }
    }
}

/// The containers to look at, with their host's connection.
pub struct Targets {
    pub deployment: deployment::Model,
    pub host: host::Model,
    pub conn: Arc<dyn ContainerHost>,
    pub containers: Vec<Target>,
}

/// Which containers a look names: all (`component` unset), a component's, or one replica.
#[derive(Debug, Clone, Default)]
pub struct Pick {
    pub component: Option<String>,
    pub replica: Option<i32>,
}

/// The deployment's containers that `pick` names, checked as the module says.
pub async fn targets(ctx: &Context, pool: &HostPool, who: &Principal, id: &str, look: Look, pick: &Pick) -> ServiceResult<Targets> {
    let d = deployments::find(&ctx.db, id).await?;
    if !deployments::visible(who, d.owner_id, d.group_id) {
        return Err(ServiceError::NotFound(format!("no deployment `{id}`")));
    }
    match look {
        Look::Logs => crate::services::requests::day2::entitled(ctx, who, &d, "logs", false).await.map(|_| ())?,
        Look::Console => crate::services::requests::day2::entitled(ctx, who, &d, "console", false).await.map(|_| ())?,
        Look::Stats => {}
    }
    match d.status {
        DeploymentStatus::Destroyed => {
            return Err(ServiceError::Conflict(format!("deployment `{}` is destroyed: its containers are gone", d.name)));
        }
        DeploymentStatus::Orphaned => {
            return Err(ServiceError::Conflict(format!(
                "deployment `{}` is orphaned: its host was removed from Wharf, which no longer reaches its containers",
                d.name
            )));
        }
        _ => {}
    }
    let all: Vec<resource::Model> = resource::Entity::find()
        .filter(resource::Column::DeploymentId.eq(&d.id))
        .filter(resource::Column::Kind.is_in([ResourceKind::Container, ResourceKind::Service]))
        .order_by_asc(resource::Column::Component)
        .order_by_asc(resource::Column::Replica)
        .all(&ctx.db)
        .await?;
    let swarm = all.iter().any(|r| r.kind == ResourceKind::Service);
    if !swarm {
        let containers = pick_containers(&all, pick, look)?;
        if containers.is_empty() {
            return Err(ServiceError::Conflict(format!("deployment `{}` has no container yet (it is {})", d.name, d.status)));
        }
        let (h, conn) = host_of(ctx, pool, who, &d).await?;
        return Ok(Targets { deployment: d, host: h, conn, containers });
    }
    let (h, conn) = host_of(ctx, pool, who, &d).await?;
    let containers = if look == Look::Logs {
        // A service's logs are every task's: a replica is not chosen.
        pick_containers(&all, &Pick { component: pick.component.clone(), replica: None }, look)?
    } else {
        // Stats and the console reach a task's container through the engine Wharf talks to:
        // the tasks running on the manager's node, numbered by their slot from 0.
        let tasks = manager_tasks(conn.as_ref(), &all).await.map_err(|e| unavailable(who, &h, &e))?;
        if tasks.is_empty() {
            return Err(ServiceError::Conflict(format!(
                "no task of deployment `{}` runs on the swarm's manager node (it is {}): stats and the console reach tasks there only",
                d.name, d.status
            )));
        }
        pick_containers(&tasks, pick, look)?
    };
    Ok(Targets { deployment: d, host: h, conn, containers })
}

fn unavailable(who: &Principal, h: &host::Model, e: &crate::docker::DockerError) -> ServiceError {
    let shown = if who.is_admin { e.to_string() } else { crate::domain::redact_addresses(&e.to_string()) };
    ServiceError::Unavailable(format!("host `{}` does not answer: {shown}", h.name))
}

/// The deployment's host and a connection to it.
async fn host_of(
    ctx: &Context,
    pool: &HostPool,
    who: &Principal,
    d: &deployment::Model,
) -> ServiceResult<(host::Model, Arc<dyn ContainerHost>)> {
    let host_id = d.host_id.ok_or_else(|| ServiceError::Conflict(format!("deployment `{}` was not placed on a host", d.name)))?;
    let h = host::Entity::find_by_id(host_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| ServiceError::Conflict(format!("the host of deployment `{}` was removed", d.name)))?;
    let conn = pool.get(&h).await.map_err(|e| unavailable(who, &h, &e))?;
    Ok((h, conn))
}

/// The running tasks of a deployment's services that run on the manager's own node, as
/// container rows (replica = slot - 1), by component and slot.
async fn manager_tasks(conn: &dyn ContainerHost, services: &[resource::Model]) -> Result<Vec<resource::Model>, crate::docker::DockerError> {
    let me = conn.swarm().await?.node_id;
    let mut out = Vec::new();
    for s in services.iter().filter(|r| r.kind == ResourceKind::Service) {
        let Some(info) = conn.inspect_service(s.docker_id.as_deref().unwrap_or(&s.name)).await? else { continue };
        // Only the deployment's own service: never one that took its name outside Wharf.
        if info.labels.get(crate::docker::labels::DEPLOYMENT) != Some(&s.deployment_id) {
            continue;
        }
        for t in conn.service_tasks(&info.id).await? {
            if t.desired != "running" || t.state != "running" || t.node_id.as_deref() != Some(me.as_str()) {
                continue;
            }
            let Some(container) = t.container_id else { continue };
            let replica = i32::try_from(t.slot.max(1) - 1).unwrap_or(0);
            out.push(resource::Model {
                kind: ResourceKind::Container,
                replica,
                name: format!("{}.{}", s.name, t.slot),
                docker_id: Some(container),
                ..s.clone()
            });
        }
    }
    out.sort_by(|a, b| (&a.component, a.replica).cmp(&(&b.component, b.replica)));
    Ok(out)
}

/// The containers `pick` names among `all`; a console takes exactly one (the only component's,
/// or the named one's, replica 0 unless named).
fn pick_containers(all: &[resource::Model], pick: &Pick, look: Look) -> ServiceResult<Vec<Target>> {
    let mut components: Vec<&str> = all.iter().map(|r| r.component.as_str()).collect();
    components.dedup();
    let component = pick.component.as_deref().map(str::trim).filter(|c| !c.is_empty());
    if let Some(c) = component
        && !components.contains(&c)
    {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "component",
            format!("the deployment has no container of a component `{c}`; it has {}", list(&components)),
        )]));
    }
    if pick.replica.is_some() && component.is_none() && components.len() > 1 {
        return Err(ServiceError::invalid("replica", "a replica is one of a component's: name the component too"));
    }
    let component = match (component, look) {
        (Some(c), _) => Some(c),
        (None, Look::Console) if components.len() > 1 => {
            return Err(ServiceError::invalid("component", format!("choose the component to open a shell in: {}", list(&components))));
        }
        (None, Look::Console) => components.first().copied(),
        (None, _) => None,
    };
    let replica = match (pick.replica, look) {
        (Some(r), _) => Some(r),
        (None, Look::Console) => Some(0),
        (None, _) => None,
    };
    let chosen: Vec<Target> = all
        .iter()
        .filter(|r| component.is_none_or(|c| r.component == c) && replica.is_none_or(|n| r.replica == n))
        .filter_map(|r| {
            Some(Target {
                component: r.component.clone(),
                replica: r.replica,
                name: r.name.clone(),
                docker_id: r.docker_id.clone()?,
                service: r.kind == ResourceKind::Service,
            })
        })
        .collect();
    if chosen.is_empty()
        && let (Some(c), Some(n)) = (component, replica)
    {
        let have: Vec<String> = all.iter().filter(|r| r.component == c).map(|r| r.replica.to_string()).collect();
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "replica",
            format!("component `{c}` has no replica {n}; it has {}", if have.is_empty() { "none".into() } else { have.join(", ") }),
        )]));
    }
    Ok(chosen)
}

fn list(names: &[&str]) -> String {
    if names.is_empty() { "none".to_string() } else { names.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::states::ResourceStatus;

    fn container(component: &str, replica: i32) -> resource::Model {
        resource::Model {
            id: 0,
            deployment_id: "d".into(),
            kind: ResourceKind::Container,
            component: component.into(),
            replica,
            name: format!("wharf-x-{component}-{replica}"),
            docker_id: Some(format!("{component}{replica}")),
            host_id: 1,
            status: ResourceStatus::Running,
            ports: Default::default(),
            updated_at: chrono::Utc::now(),
            desired: None,
            running: None,
        }
    }

    fn pick(component: Option<&str>, replica: Option<i32>) -> Pick {
        Pick { component: component.map(str::to_string), replica }
    }

    #[test]
    fn picks_name_containers_or_say_what_is_there() {
        let all = [container("db", 0), container("web", 0), container("web", 1)];
        let labels = |p: Pick, look| pick_containers(&all, &p, look).map(|t| t.iter().map(Target::label).collect::<Vec<_>>());
        assert_eq!(labels(pick(None, None), Look::Logs).unwrap(), ["db-0", "web-0", "web-1"]);
        assert_eq!(labels(pick(Some("web"), None), Look::Logs).unwrap(), ["web-0", "web-1"]);
        assert_eq!(labels(pick(Some("web"), Some(1)), Look::Logs).unwrap(), ["web-1"]);
        assert_eq!(labels(pick(Some("web"), None), Look::Console).unwrap(), ["web-0"]);
        let e = labels(pick(Some("cache"), None), Look::Logs).unwrap_err().to_string();
        assert!(e.contains("component") && e.contains("db, web"), "{e}");
        let e = labels(pick(Some("web"), Some(5)), Look::Logs).unwrap_err().to_string();
        assert!(e.contains("no replica 5") && e.contains("0, 1"), "{e}");
        let e = labels(pick(None, None), Look::Console).unwrap_err().to_string();
        assert!(e.contains("choose the component"), "{e}");
        let e = labels(pick(None, Some(0)), Look::Logs).unwrap_err().to_string();
        assert!(e.contains("name the component"), "{e}");
        let one = [container("web", 0)];
        assert_eq!(pick_containers(&one, &pick(None, None), Look::Console).unwrap()[0].label(), "web-0");
    }
}
