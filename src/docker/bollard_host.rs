use std::collections::HashMap;

use async_trait::async_trait;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSettings, EndpointSpec, EndpointSpecModeEnum, HealthConfig, HostConfig, Limit, Mount, MountType, MountVolumeOptions,
    NetworkAttachmentConfig, NetworkCreateRequest, NetworkingConfig, PortBinding as DockerPortBinding, ResourceObject, RestartPolicy,
    RestartPolicyNameEnum, ServiceSpec as BollardServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec,
    TaskSpecContainerSpecPrivileges, TaskSpecPlacement, TaskSpecResources, TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, EventsOptionsBuilder, ListContainersOptionsBuilder, ListImagesOptionsBuilder,
    ListNetworksOptionsBuilder, ListServicesOptionsBuilder, ListTasksOptionsBuilder, ListVolumesOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, ResizeExecOptionsBuilder, RestartContainerOptionsBuilder, StatsOptionsBuilder,
    StopContainerOptionsBuilder, UpdateServiceOptionsBuilder,
};
use bollard::{API_DEFAULT_VERSION, Docker};
use futures_util::StreamExt;

use super::{
    ContainerEvent, ContainerHost, ContainerInfo, ContainerSpec, DockerError, EngineInfo, EventStream, Exec, HostEndpoint, ImageInfo,
    Labelled, LogOptions, MountSpec, OutputChunk, OutputChunks, OutputStream, PublishedPort, RegistryAuth, ServiceInfo, ServiceSpec,
    StatsSample, SwarmState, TaskInfo, TlsMaterial, labels,
};
use crate::domain::describe_error as describe;

/// Seconds a call may take before the engine counts as unreachable. Pulls and waits are
/// streamed, so this bounds each answer, not a whole pull.
const TIMEOUT_SECS: u64 = 120;

pub struct BollardHost {
    endpoint: HostEndpoint,
    docker: Docker,
}

impl BollardHost {
    /// Connects and agrees on an API version with the engine (Debian's engine speaks 1.41).
    pub async fn connect(endpoint: HostEndpoint) -> Result<Self, DockerError> {
        Self::connect_with(endpoint, None).await
    }

    pub async fn connect_with(endpoint: HostEndpoint, tls: Option<&TlsMaterial>) -> Result<Self, DockerError> {
        let shown = endpoint.to_string();
        let unreachable = |m: String| DockerError::Unreachable { endpoint: shown.clone(), message: m };
        let docker = match (&endpoint, tls) {
            (HostEndpoint::Unix(path), None) => Docker::connect_with_unix(path, TIMEOUT_SECS, API_DEFAULT_VERSION),
            (HostEndpoint::Unix(_), Some(_)) => {
                return Err(DockerError::BadEndpoint { endpoint: shown, reason: "TLS applies to tcp:// endpoints only".into() });
            }
            (HostEndpoint::Tcp { host, port }, None) => {
                Docker::connect_with_http(&format!("tcp://{host}:{port}"), TIMEOUT_SECS, API_DEFAULT_VERSION)
            }
            (HostEndpoint::Tcp { host, port }, Some(material)) => Ok(super::tls::connect(host, *port, material, TIMEOUT_SECS)
                .map_err(|reason| DockerError::BadEndpoint { endpoint: shown.clone(), reason })?),
        }
        .map_err(|e| unreachable(e.to_string()))?;
        let docker = docker.negotiate_version().await.map_err(|e| unreachable(describe(&e)))?;
        Ok(Self { endpoint, docker })
    }

    fn map_err(&self, operation: &'static str, e: BollardError) -> DockerError {
        map_error(&self.endpoint.to_string(), operation, e)
    }

    /// The network of that name carrying every one of `labels` (the oldest, if the engine let
    /// two be made).
    async fn find_network(&self, name: &str, labels: &[(String, String)]) -> Result<Option<String>, DockerError> {
        let selector: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let options = ListNetworksOptionsBuilder::default().filters(&label_filters(&selector)).build();
        let mut found = self.docker.list_networks(Some(options)).await.map_err(|e| self.map_err("list networks", e))?;
        found.retain(|n| n.name.as_deref() == Some(name));
        found.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
        Ok(found.into_iter().find_map(|n| n.id))
    }
}

fn map_error(endpoint: &str, operation: &'static str, e: BollardError) -> DockerError {
    let endpoint = endpoint.to_string();
    match e {
        BollardError::DockerResponseServerError { status_code: 404, message } => DockerError::NotFound { endpoint, message },
        BollardError::DockerResponseServerError { status_code: 409, message } => DockerError::Conflict { endpoint, message },
        BollardError::DockerResponseServerError { message, .. } => DockerError::Engine { endpoint, operation, message },
        other => DockerError::Unreachable { endpoint, message: describe(&other) },
    }
}

fn label_filters(labels: &[String]) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), labels.to_vec())])
}

const NANOS: i64 = 1_000_000_000;

/// A container's mounts; named volumes made by Swarm on a node carry `volume_labels`.
fn mounts_of(spec: &ContainerSpec, volume_labels: Option<&[(String, String)]>) -> Vec<Mount> {
    spec.mounts
        .iter()
        .map(|m| match m {
            MountSpec::Volume { name, target, read_only } => Mount {
                typ: Some(MountType::VOLUME),
                source: Some(name.clone()),
                target: Some(target.clone()),
                read_only: Some(*read_only),
                volume_options: volume_labels
                    .map(|l| MountVolumeOptions { labels: Some(l.iter().cloned().collect()), ..Default::default() }),
                ..Default::default()
            },
            MountSpec::Bind { source, target, read_only } => Mount {
                typ: Some(MountType::BIND),
                source: Some(source.clone()),
                target: Some(target.clone()),
                read_only: Some(*read_only),
                ..Default::default()
            },
        })
        .collect()
}

fn health_of(spec: &ContainerSpec) -> Option<HealthConfig> {
    spec.health.as_ref().map(|h| HealthConfig {
        test: Some([vec!["CMD".to_string()], h.cmd.clone()].concat()),
        interval: Some(i64::from(h.interval_s) * NANOS),
        timeout: Some(i64::from(h.timeout_s) * NANOS),
        retries: Some(i64::from(h.retries)),
        start_period: Some(i64::from(h.start_period_s) * NANOS),
        start_interval: None,
    })
}

/// The engine's service spec: the container as the task template, resources as both
/// reservations and limits, `dnsrr` (no virtual IP: it needs IPVS) and host-mode ports (no
/// ingress routing mesh, for the same reason).
fn service_spec(spec: &ServiceSpec) -> BollardServiceSpec {
    let c = &spec.container;
    let labels: HashMap<String, String> = c.labels.iter().cloned().collect();
    // Swarm keeps the replicas: a task that ends is replaced (`no`, the blueprint's default,
    // is a container's policy; a service without it would lose its tasks one by one), but for
    // `on-failure`, which replaces only those that fail.
    let condition = match c.restart {
        super::RestartPolicy::OnFailure => TaskSpecRestartPolicyConditionEnum::ON_FAILURE,
        super::RestartPolicy::No | super::RestartPolicy::Always | super::RestartPolicy::UnlessStopped => {
            TaskSpecRestartPolicyConditionEnum::ANY
        }
    };
    let memory = c.memory_mb.map(|m| m * 1024 * 1024);
    let nano_cpus = c.cpus.map(|x| (x * 1e9) as i64);
    let ports = c
        .ports
        .iter()
        .map(|p| EndpointPortConfig {
            protocol: Some(match p.protocol.as_str() {
                "udp" => EndpointPortConfigProtocolEnum::UDP,
                "sctp" => EndpointPortConfigProtocolEnum::SCTP,
                _ => EndpointPortConfigProtocolEnum::TCP,
            }),
            target_port: Some(i64::from(p.container_port)),
            published_port: p.host_port.map(i64::from),
            publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
            ..Default::default()
        })
        .collect::<Vec<_>>();
    let networks = spec.network.as_ref().map(|(n, aliases)| {
        vec![NetworkAttachmentConfig { target: Some(n.clone()), aliases: Some(aliases.clone()), ..Default::default() }]
    });
    BollardServiceSpec {
        name: Some(spec.name.clone()),
        labels: Some(labels.clone()),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(i64::from(spec.replicas)) }),
            ..Default::default()
        }),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(c.image.clone()),
                labels: Some(labels),
                // Swarm's Command replaces the image's ENTRYPOINT, and Args its CMD.
                command: c.entrypoint.clone(),
                args: c.cmd.clone(),
                // As on an engine: no gaining privileges through setuid binaries.
                privileges: (!c.privileged)
                    .then(|| TaskSpecContainerSpecPrivileges { no_new_privileges: Some(true), ..Default::default() }),
                env: Some(c.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
                dir: c.working_dir.clone(),
                user: c.user.clone(),
                tty: Some(c.tty),
                open_stdin: Some(c.stdin_open),
                mounts: Some(mounts_of(c, Some(&c.labels.iter().filter(|(k, _)| k != labels::COMPONENT).cloned().collect::<Vec<_>>()))),
                health_check: health_of(c),
                capability_add: (!c.cap_add.is_empty()).then(|| c.cap_add.clone()),
                capability_drop: (!c.cap_drop.is_empty()).then(|| c.cap_drop.clone()),
                ..Default::default()
            }),
            resources: Some(TaskSpecResources {
                limits: Some(Limit { nano_cpus, memory_bytes: memory, pids: c.pids_limit }),
                reservations: Some(ResourceObject { nano_cpus, memory_bytes: memory, ..Default::default() }),
                ..Default::default()
            }),
            restart_policy: Some(TaskSpecRestartPolicy { condition: Some(condition), delay: Some(NANOS), ..Default::default() }),
            placement: (!spec.constraints.is_empty())
                .then(|| TaskSpecPlacement { constraints: Some(spec.constraints.clone()), ..Default::default() }),
            networks,
            ..Default::default()
        }),
        endpoint_spec: Some(EndpointSpec { mode: Some(EndpointSpecModeEnum::DNSRR), ports: Some(ports) }),
        ..Default::default()
    }
}

fn service_info(s: bollard::models::Service) -> ServiceInfo {
    let spec = s.spec.unwrap_or_default();
    let replicas = spec.mode.and_then(|m| m.replicated).and_then(|r| r.replicas).unwrap_or(0);
    ServiceInfo {
        id: s.id.unwrap_or_default(),
        name: spec.name.unwrap_or_default(),
        replicas: u32::try_from(replicas).unwrap_or(0),
        labels: spec.labels.unwrap_or_default(),
    }
}

fn task_info(t: bollard::models::Task) -> TaskInfo {
    let status = t.status.unwrap_or_default();
    let mut ports: Vec<PublishedPort> = status
        .port_status
        .and_then(|p| p.ports)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            Some(PublishedPort {
                container_port: u16::try_from(p.target_port?).ok()?,
                protocol: p.protocol.map(|x| x.to_string()).filter(|x| !x.is_empty()).unwrap_or_else(|| "tcp".into()),
                host_ip: String::new(),
                host_port: u16::try_from(p.published_port?).ok()?,
            })
        })
        .collect();
    // An engine listening on IPv4 and IPv6 reports a port twice.
    ports.sort_by(|a, b| (a.container_port, a.host_port, &a.protocol).cmp(&(b.container_port, b.host_port, &b.protocol)));
    ports.dedup_by(|a, b| (a.container_port, a.host_port, &a.protocol) == (b.container_port, b.host_port, &b.protocol));
    let word = |s: Option<bollard::models::TaskState>| s.map(|s| s.to_string()).unwrap_or_default();
    TaskInfo {
        id: t.id.unwrap_or_default(),
        slot: t.slot.unwrap_or_default(),
        state: word(status.state),
        desired: word(t.desired_state),
        error: status.err.filter(|e| !e.is_empty()),
        container_id: status.container_status.and_then(|c| c.container_id).filter(|c| !c.is_empty()),
        node_id: t.node_id,
        ports,
    }
}

fn container_info(c: bollard::models::ContainerInspectResponse) -> ContainerInfo {
    let state = c.state.unwrap_or_default();
    let mut ports = Vec::new();
    if let Some(map) = c.network_settings.and_then(|n| n.ports) {
        for (key, bindings) in map {
            let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
            let Ok(container_port) = port.parse::<u16>() else { continue };
            for b in bindings.unwrap_or_default() {
                if let Some(host_port) = b.host_port.as_deref().and_then(|p| p.parse::<u16>().ok()) {
                    ports.push(PublishedPort {
                        container_port,
                        protocol: proto.to_string(),
                        host_ip: b.host_ip.unwrap_or_default(),
                        host_port,
                    });
                }
            }
        }
    }
    ports.sort_by_key(|p| (p.container_port, p.host_port));
    ports.dedup_by_key(|p| (p.container_port, p.host_port));
    ContainerInfo {
        id: c.id.unwrap_or_default(),
        name: c.name.unwrap_or_default().trim_start_matches('/').to_string(),
        running: state.running.unwrap_or(false),
        state: state.status.map(|s| s.to_string()).unwrap_or_default(),
        health: state.health.and_then(|h| h.status).map(|s| s.to_string()).filter(|s| !s.is_empty() && s != "none"),
        exit_code: state.exit_code,
        error: state.error.filter(|e| !e.is_empty()),
        ports,
        labels: c.config.and_then(|c| c.labels).unwrap_or_default(),
    }
}

/// A registry's credentials as the engine takes them (the `X-Registry-Auth` header).
fn credentials(auth: &RegistryAuth) -> bollard::auth::DockerCredentials {
    bollard::auth::DockerCredentials {
        username: Some(auth.username.clone()),
        password: Some(auth.password.expose().to_string()),
        serveraddress: Some(auth.server.clone()),
        ..Default::default()
    }
}

#[async_trait]
impl ContainerHost for BollardHost {
    fn endpoint(&self) -> &HostEndpoint {
        &self.endpoint
    }

    async fn ping(&self) -> Result<(), DockerError> {
        self.docker.ping().await.map(|_| ()).map_err(|e| self.map_err("ping", e))
    }

    async fn info(&self) -> Result<EngineInfo, DockerError> {
        let info = self.docker.info().await.map_err(|e| self.map_err("info", e))?;
        let version = self.docker.version().await.map_err(|e| self.map_err("version", e))?;
        Ok(EngineInfo {
            version: info.server_version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
            os: info.operating_system.unwrap_or_default(),
            cpus: info.ncpu.unwrap_or_default(),
            memory_mb: info.mem_total.unwrap_or_default() / (1024 * 1024),
            containers: info.containers.unwrap_or_default(),
            images: info.images.unwrap_or_default(),
        })
    }

    async fn list_images(&self) -> Result<Vec<ImageInfo>, DockerError> {
        let images =
            self.docker.list_images(Some(ListImagesOptionsBuilder::default().build())).await.map_err(|e| self.map_err("list images", e))?;
        Ok(images.into_iter().map(|i| ImageInfo { id: i.id, tags: i.repo_tags, size_bytes: i.size }).collect())
    }

    async fn inspect_image(&self, reference: &str) -> Result<ImageInfo, DockerError> {
        let image = self.docker.inspect_image(reference).await.map_err(|e| self.map_err("inspect image", e))?;
        Ok(ImageInfo {
            id: image.id.unwrap_or_default(),
            tags: image.repo_tags.unwrap_or_default(),
            size_bytes: image.size.unwrap_or_default(),
        })
    }

    async fn pull_image(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
        progress: &(dyn Fn(String) + Send + Sync),
    ) -> Result<(), DockerError> {
        let options = CreateImageOptionsBuilder::default().from_image(reference).build();
        let mut stream = self.docker.create_image(Some(options), None, auth.map(credentials));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| self.map_err("pull image", e))?;
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                return Err(DockerError::Engine { endpoint: self.endpoint.to_string(), operation: "pull image", message: err });
            }
            if let Some(status) = info.status {
                let line = match (info.id, info.progress_detail.and_then(|d| d.current.zip(d.total))) {
                    (Some(id), Some((cur, total))) if total > 0 => format!("{id}: {status} {}%", cur * 100 / total),
                    (Some(id), _) => format!("{id}: {status}"),
                    (None, _) => status,
                };
                progress(line);
            }
        }
        Ok(())
    }

    async fn ensure_network(&self, name: &str, labels: &[(String, String)]) -> Result<String, DockerError> {
        // Looked up by its labels, not its name: engines below API 1.44 allow two networks of
        // one name, and a name lookup could then pick either.
        if let Some(id) = self.find_network(name, labels).await? {
            return Ok(id);
        }
        self.create_network(name, labels).await
    }

    async fn create_network(&self, name: &str, labels: &[(String, String)]) -> Result<String, DockerError> {
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            labels: Some(labels.iter().cloned().collect()),
            ..Default::default()
        };
        let created = self.docker.create_network(request).await.map_err(|e| self.map_err("create network", e))?;
        Ok(created.id)
    }

    async fn network_exists(&self, id: &str) -> Result<bool, DockerError> {
        match self.docker.inspect_network(id, None::<bollard::query_parameters::InspectNetworkOptions>).await {
            Ok(_) => Ok(true),
            Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(e) => Err(self.map_err("inspect network", e)),
        }
    }

    async fn remove_network(&self, name: &str) -> Result<(), DockerError> {
        match self.docker.remove_network(name).await {
            Ok(()) | Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(self.map_err("remove network", e)),
        }
    }

    async fn ensure_volume(&self, name: &str, labels: &[(String, String)]) -> Result<(), DockerError> {
        // Creating a volume that exists returns it: the call is idempotent by name.
        let request =
            VolumeCreateRequest { name: Some(name.to_string()), labels: Some(labels.iter().cloned().collect()), ..Default::default() };
        self.docker.create_volume(request).await.map(|_| ()).map_err(|e| self.map_err("create volume", e))
    }

    async fn remove_volume(&self, name: &str) -> Result<(), DockerError> {
        match self.docker.remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>).await {
            Ok(()) | Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(self.map_err("remove volume", e)),
        }
    }

    async fn inspect_container(&self, name_or_id: &str) -> Result<Option<ContainerInfo>, DockerError> {
        match self.docker.inspect_container(name_or_id, None).await {
            Ok(c) => Ok(Some(container_info(c))),
            Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(self.map_err("inspect container", e)),
        }
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, DockerError> {
        let mut exposed = Vec::new();
        let mut bindings: HashMap<String, Option<Vec<DockerPortBinding>>> = HashMap::new();
        for p in &spec.ports {
            let key = format!("{}/{}", p.container_port, p.protocol);
            exposed.push(key.clone());
            bindings.entry(key).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(DockerPortBinding {
                host_ip: p.host_ip.clone(),
                host_port: Some(p.host_port.map(|h| h.to_string()).unwrap_or_default()),
            });
        }
        let mounts = mounts_of(spec, None);
        let restart = match spec.restart {
            super::RestartPolicy::Always => RestartPolicyNameEnum::ALWAYS,
            super::RestartPolicy::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
            super::RestartPolicy::OnFailure => RestartPolicyNameEnum::ON_FAILURE,
            super::RestartPolicy::No => RestartPolicyNameEnum::NO,
        };
        let host_config = HostConfig {
            port_bindings: Some(bindings),
            mounts: Some(mounts),
            memory: spec.memory_mb.map(|m| m * 1024 * 1024),
            nano_cpus: spec.cpus.map(|c| (c * 1e9) as i64),
            restart_policy: Some(RestartPolicy { name: Some(restart), maximum_retry_count: None }),
            privileged: Some(spec.privileged),
            cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
            cap_drop: (!spec.cap_drop.is_empty()).then(|| spec.cap_drop.clone()),
            security_opt: (!spec.security_opt.is_empty()).then(|| spec.security_opt.clone()),
            pids_limit: spec.pids_limit,
            devices: (!spec.devices.is_empty()).then(|| {
                spec.devices
                    .iter()
                    .map(|d| DeviceMapping {
                        path_on_host: Some(d.clone()),
                        path_in_container: Some(d.clone()),
                        cgroup_permissions: Some("rwm".into()),
                    })
                    .collect()
            }),
            network_mode: Some(if spec.host_network {
                "host".to_string()
            } else {
                spec.network.as_ref().map(|(n, _)| n.clone()).unwrap_or_else(|| "bridge".into())
            }),
            ..Default::default()
        };
        let networking_config = match (&spec.network, spec.host_network) {
            (Some((name, aliases)), false) => Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    name.clone(),
                    EndpointSettings { aliases: Some(aliases.clone()), ..Default::default() },
                )])),
            }),
            _ => None,
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: spec.cmd.clone(),
            entrypoint: spec.entrypoint.clone(),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(spec.labels.iter().cloned().collect()),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            tty: Some(spec.tty),
            open_stdin: Some(spec.stdin_open),
            attach_stdin: Some(spec.stdin_open),
            working_dir: spec.working_dir.clone(),
            user: spec.user.clone(),
            healthcheck: health_of(spec),
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&spec.name).build();
        let created = self.docker.create_container(Some(options), body).await.map_err(|e| self.map_err("create container", e))?;
        Ok(created.id)
    }

    async fn start_container(&self, id: &str) -> Result<(), DockerError> {
        match self.docker.start_container(id, None).await {
            Ok(()) | Err(BollardError::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
            Err(e) => Err(self.map_err("start container", e)),
        }
    }

    async fn stop_container(&self, id: &str, timeout_s: i32) -> Result<(), DockerError> {
        let options = StopContainerOptionsBuilder::default().t(timeout_s).build();
        match self.docker.stop_container(id, Some(options)).await {
            Ok(()) | Err(BollardError::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
            Err(e) => Err(self.map_err("stop container", e)),
        }
    }

    async fn restart_container(&self, id: &str, timeout_s: i32) -> Result<(), DockerError> {
        let options = RestartContainerOptionsBuilder::default().t(timeout_s).build();
        self.docker.restart_container(id, Some(options)).await.map_err(|e| self.map_err("restart container", e))
    }

    async fn remove_container(&self, id: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) | Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            // Already being removed: the engine finishes it.
            Err(BollardError::DockerResponseServerError { status_code: 409, message }) if message.contains("already in progress") => Ok(()),
            Err(e) => Err(self.map_err("remove container", e)),
        }
    }

    async fn list_containers(&self, labels: &[String]) -> Result<Vec<ContainerInfo>, DockerError> {
        let options = ListContainersOptionsBuilder::default().all(true).filters(&label_filters(labels)).build();
        let list = self.docker.list_containers(Some(options)).await.map_err(|e| self.map_err("list containers", e))?;
        let mut out = Vec::new();
        for c in list {
            let Some(id) = c.id else { continue };
            if let Some(info) = self.inspect_container(&id).await? {
                out.push(info);
            }
        }
        Ok(out)
    }

    async fn list_networks(&self, labels: &[String]) -> Result<Vec<Labelled>, DockerError> {
        let options = ListNetworksOptionsBuilder::default().filters(&label_filters(labels)).build();
        let list = self.docker.list_networks(Some(options)).await.map_err(|e| self.map_err("list networks", e))?;
        Ok(list
            .into_iter()
            .filter_map(|n| Some(Labelled { id: n.id?, name: n.name.unwrap_or_default(), labels: n.labels.unwrap_or_default() }))
            .collect())
    }

    async fn list_volumes(&self, labels: &[String]) -> Result<Vec<Labelled>, DockerError> {
        let options = ListVolumesOptionsBuilder::default().filters(&label_filters(labels)).build();
        let list = self.docker.list_volumes(Some(options)).await.map_err(|e| self.map_err("list volumes", e))?;
        Ok(list.volumes.unwrap_or_default().into_iter().map(|v| Labelled { id: v.name.clone(), name: v.name, labels: v.labels }).collect())
    }

    fn container_events(&self) -> EventStream {
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("label".to_string(), vec![format!("{}=true", labels::MANAGED)]),
        ]);
        let options = EventsOptionsBuilder::default().filters(&filters).build();
        let endpoint = self.endpoint.to_string();
        let stream = self.docker.events(Some(options)).map(move |item| match item {
            Ok(ev) => {
                let actor = ev.actor.unwrap_or_default();
                let attributes = actor.attributes.unwrap_or_default();
                Ok(ContainerEvent {
                    container_id: actor.id.unwrap_or_default(),
                    action: ev.action.unwrap_or_default(),
                    deployment: attributes.get(labels::DEPLOYMENT).cloned(),
                })
            }
            Err(e) => Err(DockerError::Unreachable { endpoint: endpoint.clone(), message: describe(&e) }),
        });
        Box::pin(stream)
    }

    fn logs(&self, id: &str, options: &LogOptions) -> OutputChunks {
        let host = self.clone_for_errors();
        Box::pin(self.docker.logs(id, Some(log_query(options))).map(move |item| item.map(chunk).map_err(|e| host.map_err("logs", e))))
    }

    async fn stats(&self, id: &str) -> Result<StatsSample, DockerError> {
        // Not one-shot: the engine waits for a second reading, so CPU use can be worked out.
        let query = StatsOptionsBuilder::default().stream(false).one_shot(false).build();
        let mut samples = self.docker.stats(id, Some(query));
        match samples.next().await {
            Some(Ok(s)) => Ok(sample(&s)),
            Some(Err(e)) => Err(self.map_err("stats", e)),
            None => Err(DockerError::Engine {
                endpoint: self.endpoint.to_string(),
                operation: "stats",
                message: "the engine sent no sample".into(),
            }),
        }
    }

    async fn exec_tty(&self, id: &str, cmd: &[String], env: &[String]) -> Result<Exec, DockerError> {
        let config = bollard::models::ExecConfig {
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(true),
            cmd: Some(cmd.to_vec()),
            env: Some(env.to_vec()),
            ..Default::default()
        };
        let created = self.docker.create_exec(id, config).await.map_err(|e| self.map_err("exec", e))?;
        let start = bollard::exec::StartExecOptions { detach: false, tty: true, output_capacity: None };
        match self.docker.start_exec(&created.id, Some(start)).await.map_err(|e| self.map_err("exec", e))? {
            bollard::exec::StartExecResults::Attached { output, input } => {
                let host = self.clone_for_errors();
                let output = output.map(move |item| item.map(chunk).map_err(|e| host.map_err("exec", e)));
                Ok(Exec { id: created.id, output: Box::pin(output), input })
            }
            bollard::exec::StartExecResults::Detached => Err(DockerError::Engine {
                endpoint: self.endpoint.to_string(),
                operation: "exec",
                message: "the engine started the command detached".into(),
            }),
        }
    }

    async fn resize_exec(&self, exec_id: &str, cols: u16, rows: u16) -> Result<(), DockerError> {
        let query = ResizeExecOptionsBuilder::default().w(i32::from(cols)).h(i32::from(rows)).build();
        self.docker.resize_exec(exec_id, query).await.map_err(|e| self.map_err("resize exec", e))
    }

    async fn exec_exit_code(&self, exec_id: &str) -> Result<Option<i64>, DockerError> {
        let info = self.docker.inspect_exec(exec_id).await.map_err(|e| self.map_err("inspect exec", e))?;
        Ok(if info.running.unwrap_or(false) { None } else { info.exit_code })
    }

    async fn swarm(&self) -> Result<SwarmState, DockerError> {
        let info = self.docker.info().await.map_err(|e| self.map_err("info", e))?;
        let swarm = info.swarm.unwrap_or_default();
        let local_state = swarm.local_node_state.map(|s| s.to_string()).unwrap_or_default();
        Ok(SwarmState {
            manager: swarm.control_available.unwrap_or(false) && local_state == "active",
            nodes: swarm.nodes.unwrap_or(0),
            node_id: swarm.node_id.unwrap_or_default(),
            local_state,
        })
    }

    async fn ensure_overlay_network(&self, name: &str, labels: &[(String, String)]) -> Result<String, DockerError> {
        if let Some(id) = self.find_network(name, labels).await? {
            return Ok(id);
        }
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("overlay".into()),
            attachable: Some(true),
            labels: Some(labels.iter().cloned().collect()),
            ..Default::default()
        };
        let created = self.docker.create_network(request).await.map_err(|e| self.map_err("create network", e))?;
        Ok(created.id)
    }

    async fn create_service(&self, spec: &ServiceSpec, auth: Option<&RegistryAuth>) -> Result<String, DockerError> {
        let created =
            self.docker.create_service(service_spec(spec), auth.map(credentials)).await.map_err(|e| self.map_err("create service", e))?;
        Ok(created.id.unwrap_or_default())
    }

    async fn inspect_service(&self, name_or_id: &str) -> Result<Option<ServiceInfo>, DockerError> {
        match self.docker.inspect_service(name_or_id, None).await {
            Ok(s) => Ok(Some(service_info(s))),
            Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(self.map_err("inspect service", e)),
        }
    }

    async fn list_services(&self, labels: &[String]) -> Result<Vec<ServiceInfo>, DockerError> {
        let options = ListServicesOptionsBuilder::default().filters(&label_filters(labels)).build();
        let list = self.docker.list_services(Some(options)).await.map_err(|e| self.map_err("list services", e))?;
        Ok(list.into_iter().map(service_info).collect())
    }

    async fn set_service_replicas(&self, id: &str, replicas: u32) -> Result<(), DockerError> {
        // The update names the version it read: a service changed in between is read again.
        for _ in 0..5 {
            let current = self.docker.inspect_service(id, None).await.map_err(|e| self.map_err("inspect service", e))?;
            let version = current.version.and_then(|v| v.index).unwrap_or(0);
            let mut spec = current.spec.unwrap_or_default();
            spec.mode = Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(i64::from(replicas)) }),
                ..Default::default()
            });
            let options = UpdateServiceOptionsBuilder::default().version(i32::try_from(version).unwrap_or(i32::MAX)).build();
            match self.docker.update_service(id, spec, options, None).await {
                Ok(_) => return Ok(()),
                Err(BollardError::DockerResponseServerError { message, .. }) if message.contains("out of sequence") => continue,
                Err(e) => return Err(self.map_err("update service", e)),
            }
        }
        Err(DockerError::Conflict {
            endpoint: self.endpoint.to_string(),
            message: format!("service {id} kept changing while it was scaled"),
        })
    }

    async fn remove_service(&self, id: &str) -> Result<(), DockerError> {
        match self.docker.delete_service(id).await {
            Ok(()) | Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(self.map_err("remove service", e)),
        }
    }

    async fn node_address(&self, node_id: &str) -> Result<Option<String>, DockerError> {
        let node = self.docker.inspect_node(node_id).await.map_err(|e| self.map_err("inspect node", e))?;
        Ok(node.status.and_then(|s| s.addr).filter(|a| !a.is_empty() && a != "0.0.0.0"))
    }

    async fn service_tasks(&self, service_id: &str) -> Result<Vec<TaskInfo>, DockerError> {
        let filters = HashMap::from([("service".to_string(), vec![service_id.to_string()])]);
        let options = ListTasksOptionsBuilder::default().filters(&filters).build();
        let list = self.docker.list_tasks(Some(options)).await.map_err(|e| self.map_err("list tasks", e))?;
        Ok(list.into_iter().map(task_info).collect())
    }

    fn service_logs(&self, id: &str, options: &LogOptions) -> OutputChunks {
        let host = self.clone_for_errors();
        Box::pin(
            self.docker
                .service_logs(id, Some(log_query(options)))
                .map(move |item| item.map(chunk).map_err(|e| host.map_err("service logs", e))),
        )
    }
}

fn log_query(options: &LogOptions) -> bollard::query_parameters::LogsOptions {
    let tail = options.tail.map(|t| t.to_string()).unwrap_or_else(|| "all".into());
    let since = options.since.unwrap_or(0).clamp(0, i64::from(i32::MAX)) as i32;
    LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .follow(options.follow)
        .timestamps(options.timestamps)
        .tail(&tail)
        .since(since)
        .build()
}

/// What error mapping needs of a host, for streams that outlive the borrow of `self`.
struct ErrorSource {
    endpoint: String,
}

impl ErrorSource {
    fn map_err(&self, operation: &'static str, e: BollardError) -> DockerError {
        map_error(&self.endpoint, operation, e)
    }
}

impl BollardHost {
    fn clone_for_errors(&self) -> ErrorSource {
        ErrorSource { endpoint: self.endpoint.to_string() }
    }
}

fn chunk(out: bollard::container::LogOutput) -> OutputChunk {
    use bollard::container::LogOutput;
    match out {
        LogOutput::StdErr { message } => OutputChunk { stream: OutputStream::Stderr, bytes: message },
        LogOutput::StdOut { message } | LogOutput::Console { message } | LogOutput::StdIn { message } => {
            OutputChunk { stream: OutputStream::Stdout, bytes: message }
        }
    }
}

/// A `docker stats` sample worked out as the Docker CLI does: CPU from the two readings the
/// engine sends, memory less the inactive page cache, network and block I/O summed.
fn sample(s: &bollard::models::ContainerStatsResponse) -> StatsSample {
    let cpu = s.cpu_stats.clone().unwrap_or_default();
    let pre = s.precpu_stats.clone().unwrap_or_default();
    let total = |c: &bollard::models::ContainerCpuStats| c.cpu_usage.as_ref().and_then(|u| u.total_usage).unwrap_or(0);
    let cpu_delta = total(&cpu).saturating_sub(total(&pre));
    let system_delta = cpu.system_cpu_usage.unwrap_or(0).saturating_sub(pre.system_cpu_usage.unwrap_or(0));
    let cpus = cpu
        .online_cpus
        .map(u64::from)
        .or_else(|| cpu.cpu_usage.as_ref().and_then(|u| u.percpu_usage.as_ref()).map(|p| p.len() as u64))
        .unwrap_or(1)
        .max(1);
    let cpu_percent = if system_delta > 0 { cpu_delta as f64 / system_delta as f64 * cpus as f64 * 100.0 } else { 0.0 };
    let memory = s.memory_stats.clone().unwrap_or_default();
    let cache = memory.stats.as_ref().and_then(|m| m.get("inactive_file").or_else(|| m.get("total_inactive_file")).copied()).unwrap_or(0);
    let (mut rx, mut tx) = (0, 0);
    for n in s.networks.iter().flat_map(|n| n.values()) {
        rx += n.rx_bytes.unwrap_or(0);
        tx += n.tx_bytes.unwrap_or(0);
    }
    let (mut read, mut write) = (0, 0);
    let entries = s.blkio_stats.as_ref().and_then(|b| b.io_service_bytes_recursive.clone()).unwrap_or_default();
    for e in entries {
        match e.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => read += e.value.unwrap_or(0),
            Some("write") => write += e.value.unwrap_or(0),
            _ => {}
        }
    }
    StatsSample {
        cpu_percent: (cpu_percent * 100.0).round() / 100.0,
        memory_bytes: memory.usage.unwrap_or(0).saturating_sub(cache),
        memory_limit_bytes: memory.limit.unwrap_or(0),
        net_rx_bytes: rx,
        net_tx_bytes: tx,
        block_read_bytes: read,
        block_write_bytes: write,
        pids: s.pids_stats.as_ref().and_then(|p| p.current).unwrap_or(0),
    }
}
