//! One container shape from blueprint to engine: a resolved component's replica becomes the
//! engine's `ContainerSpec` here, and nowhere else.
use crate::docker::{ContainerSpec, MountSpec, PortBinding, ServiceSpec, labels};
use crate::domain::blueprint::resolve::{ResolvedComponent, ResolvedVolume};
use crate::domain::deployment::names;

/// Replica `replica` of component `component` of deployment `deployment`, on `network` (the
/// deployment's private network, unless the component uses the host's).
pub struct Replica<'a> {
    /// The installation's id (`io.wharf.instance`).
    pub instance: &'a str,
    pub deployment: &'a str,
    pub component: &'a ResolvedComponent,
    pub replica: u32,
    pub network: Option<&'a str>,
    /// The host address published ports bind to (`None`: every interface).
    pub bind_ip: Option<&'a str>,
}

impl Replica<'_> {
    pub fn name(&self) -> String {
        names::container(self.deployment, &self.component.name, self.replica)
    }
}

impl From<&ResolvedVolume> for MountSpec {
    fn from(v: &ResolvedVolume) -> Self {
        match v {
            // Named volumes are the deployment's: see `Replica`, which names them.
            ResolvedVolume::Named { name, target, read_only } => {
                MountSpec::Volume { name: name.clone(), target: target.clone(), read_only: *read_only }
            }
            ResolvedVolume::Bind { source, target, read_only } => {
                MountSpec::Bind { source: source.clone(), target: target.clone(), read_only: *read_only }
            }
        }
    }
}

impl From<Replica<'_>> for ContainerSpec {
    fn from(r: Replica<'_>) -> Self {
        let c = r.component;
        let mounts = c
            .volumes
            .iter()
            .map(|v| match MountSpec::from(v) {
                MountSpec::Volume { name, target, read_only } => {
                    MountSpec::Volume { name: names::volume(r.deployment, &name), target, read_only }
                }
                bind => bind,
            })
            .collect();
        ContainerSpec {
            name: r.name(),
            image: c.image.with_default_tag(),
            cmd: c.command.clone(),
            entrypoint: c.entrypoint.clone(),
            env: c.env.clone(),
            labels: vec![
                (labels::MANAGED.to_string(), "true".to_string()),
                (labels::INSTANCE.to_string(), r.instance.to_string()),
                (labels::DEPLOYMENT.to_string(), r.deployment.to_string()),
                (labels::COMPONENT.to_string(), c.name.clone()),
                (labels::REPLICA.to_string(), r.replica.to_string()),
            ]
            .into_iter()
            .chain(r.network.filter(|_| !c.host_network).map(|n| (labels::NETWORK.to_string(), n.to_string())))
            .collect(),
            ports: c
                .ports
                .iter()
                .map(|p| PortBinding {
                    container_port: p.container,
                    protocol: p.protocol.as_str().to_string(),
                    // A fixed host port can only be taken once: further replicas get a free one.
                    host_port: p.host.filter(|_| r.replica == 0),
                    host_ip: r.bind_ip.map(str::to_string),
                })
                .collect(),
            network: if c.host_network { None } else { r.network.map(|n| (n.to_string(), vec![c.name.clone()])) },
            host_network: c.host_network,
            mounts,
            memory_mb: c.memory_mb,
            cpus: c.cpus,
            tty: c.tty,
            stdin_open: c.stdin_open,
            restart: c.restart,
            health: c.health.clone(),
            working_dir: c.working_dir.clone(),
            user: c.user.clone(),
            privileged: c.privileged,
            // Everything dropped but what every container keeps and what a trusted blueprint
            // adds; no gaining privileges through setuid binaries. A privileged container has
            // all of them anyway.
            cap_add: if c.privileged {
                c.cap_add.clone()
            } else {
                let mut caps = c.keep_caps.clone();
                caps.extend(c.cap_add.iter().filter(|a| !c.keep_caps.contains(a)).cloned());
                caps
            },
            cap_drop: if c.privileged { Vec::new() } else { vec!["ALL".to_string()] },
            security_opt: if c.privileged { Vec::new() } else { vec!["no-new-privileges:true".to_string()] },
            pids_limit: c.pids,
            devices: c.devices.clone(),
        }
    }
}

/// Component `component` of deployment `deployment` as a Swarm service on `network` (an
/// attachable overlay network), placed by `selector` (the catalog item's host selector, as
/// node label constraints).
pub struct Service<'a> {
    pub instance: &'a str,
    pub deployment: &'a str,
    pub component: &'a ResolvedComponent,
    pub network: &'a str,
    pub selector: &'a std::collections::BTreeMap<String, String>,
}

impl Service<'_> {
    pub fn name(&self) -> String {
        names::service(self.deployment, &self.component.name)
    }

    /// The service spec, or why Swarm cannot run the component: privileged containers, host
    /// devices and the host's network are not offered by Swarm services (a blueprint that
    /// needs them targets an engine host).
    pub fn spec(&self) -> Result<ServiceSpec, String> {
        let c = self.component;
        let refuse =
            |what: &str| Err(format!("component `{}` {what}, which Swarm services cannot do: deploy it on an engine host", c.name));
        if c.privileged {
            return refuse("is privileged");
        }
        if !c.devices.is_empty() {
            return refuse("uses host devices");
        }
        if c.host_network {
            return refuse("uses the host's network");
        }
        let replica = Replica {
            instance: self.instance,
            deployment: self.deployment,
            component: c,
            replica: 0,
            network: Some(self.network),
            bind_ip: None,
        };
        let mut container = ContainerSpec::from(replica);
        // Tasks are Swarm's to number: no replica label, and every task may publish the fixed
        // host port (on its own node).
        container.labels.retain(|(k, _)| k != labels::REPLICA);
        for (p, rp) in container.ports.iter_mut().zip(&c.ports) {
            p.host_port = rp.host;
        }
        Ok(ServiceSpec {
            name: self.name(),
            container,
            replicas: c.replicas,
            constraints: self.selector.iter().map(|(k, v)| format!("node.labels.{k}=={v}")).collect(),
            network: Some((self.network.to_string(), vec![c.name.clone()])),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::blueprint::resolve::{DeploymentRef, resolve};
    use crate::domain::blueprint::{inputs, parse};

    const SHOP: &str = r#"
id: shop
name: Shop
version: 1
components:
  db:
    image: busybox
    volumes: [ { name: data, target: /data } ]
    resources: { memory_mb: 64, cpus: 0.5 }
  web:
    image: busybox
    ports: [ { container: 8080 }, { container: 9090, host: 30090 } ]
    replicas: 2
    depends_on: [db]
"#;

    fn components(source: &str) -> Vec<ResolvedComponent> {
        let bp = parse(source).unwrap();
        let values = inputs::validate(&bp, &serde_json::Map::new()).unwrap();
        resolve(&bp, &values, &DeploymentRef { id: "d1".into(), name: "n".into() }).unwrap()
    }

    #[test]
    fn a_component_becomes_a_service() {
        let spec = components(SHOP);
        let selector = std::collections::BTreeMap::from([("zone".to_string(), "a".to_string())]);
        let web = spec.iter().find(|c| c.name == "web").unwrap();
        let s = Service { instance: "i", deployment: "d1", component: web, network: "wharf-d1", selector: &selector }.spec().unwrap();
        assert_eq!(s.name, "wharf-d1-web");
        assert_eq!(s.replicas, 2);
        assert_eq!(s.constraints, ["node.labels.zone==a"]);
        assert_eq!(s.network, Some(("wharf-d1".to_string(), vec!["web".to_string()])));
        // Tasks are Swarm's to number; each may publish the fixed port on its node; no bind address.
        assert!(!s.container.labels.iter().any(|(k, _)| k == labels::REPLICA));
        assert!(s.container.labels.contains(&(labels::COMPONENT.to_string(), "web".to_string())));
        let ports: Vec<(u16, Option<u16>, Option<String>)> =
            s.container.ports.iter().map(|p| (p.container_port, p.host_port, p.host_ip.clone())).collect();
        assert_eq!(ports, [(8080, None, None), (9090, Some(30090), None)]);
        let db = spec.iter().find(|c| c.name == "db").unwrap();
        let s = Service { instance: "i", deployment: "d1", component: db, network: "wharf-d1", selector: &selector }.spec().unwrap();
        assert_eq!((s.container.memory_mb, s.container.cpus), (Some(64), Some(0.5)));
        assert!(matches!(&s.container.mounts[..], [MountSpec::Volume { name, .. }] if name == "wharf-d1-data"), "{:?}", s.container.mounts);
    }

    #[test]
    fn what_swarm_cannot_run_is_refused_by_name() {
        let mut spec = components(SHOP);
        let selector = std::collections::BTreeMap::new();
        let web = &mut spec[1];
        web.privileged = true;
        let why = Service { instance: "i", deployment: "d1", component: web, network: "n", selector: &selector }.spec().unwrap_err();
        assert!(why.contains("`web` is privileged") && why.contains("engine host"), "{why}");
        web.privileged = false;
        web.host_network = true;
        let why = Service { instance: "i", deployment: "d1", component: web, network: "n", selector: &selector }.spec().unwrap_err();
        assert!(why.contains("host's network"), "{why}");
    }
}
