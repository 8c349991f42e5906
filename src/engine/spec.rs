//! One container shape from blueprint to engine: a resolved component's replica becomes the
//! engine's `ContainerSpec` here, and nowhere else.
use crate::docker::{ContainerSpec, MountSpec, PortBinding, labels};
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
