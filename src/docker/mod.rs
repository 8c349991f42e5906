//! The Docker Engine behind a trait. Only this module talks to bollard; the rest of Wharf sees
//! `ContainerHost` and typed `DockerError`s.
mod bollard_host;
mod tls;

use std::fmt;

use async_trait::async_trait;
pub use bollard_host::BollardHost;
use serde::Serialize;

/// Where a Docker Engine listens: `unix:///path/docker.sock` or `tcp://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEndpoint {
    Unix(String),
    Tcp { host: String, port: u16 },
}

impl HostEndpoint {
    pub fn parse(raw: &str) -> Result<Self, DockerError> {
        let bad = |why: &str| DockerError::BadEndpoint { endpoint: raw.to_string(), reason: why.to_string() };
        if let Some(path) = raw.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(bad("a unix socket path must be absolute, as in unix:///var/run/docker.sock"));
            }
            return Ok(HostEndpoint::Unix(path.to_string()));
        }
        if let Some(rest) = raw.strip_prefix("tcp://") {
            let rest = rest.trim_end_matches('/');
            let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("a tcp endpoint needs a port, as in tcp://host:2376"))?;
            let port: u16 = port.parse().map_err(|_| bad("the port must be a number from 1 to 65535"))?;
            if host.is_empty() || port == 0 || host.contains('/') {
                return Err(bad("expected tcp://host:port"));
            }
            return Ok(HostEndpoint::Tcp { host: host.to_string(), port });
        }
        Err(bad("an endpoint starts with unix:// or tcp://"))
    }
}

impl fmt::Display for HostEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostEndpoint::Unix(p) => write!(f, "unix://{p}"),
            HostEndpoint::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("`{endpoint}` is not a Docker endpoint: {reason}")]
    BadEndpoint { endpoint: String, reason: String },
    #[error("cannot reach the Docker engine at {endpoint}: {message}")]
    Unreachable { endpoint: String, message: String },
    #[error("not found on {endpoint}: {message}")]
    NotFound { endpoint: String, message: String },
    #[error("conflict on {endpoint}: {message}")]
    Conflict { endpoint: String, message: String },
    #[error("the Docker engine at {endpoint} refused {operation}: {message}")]
    Engine { endpoint: String, operation: &'static str, message: String },
}

/// Credentials for a registry, sent to the engine with a pull (never logged: `Secret`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryAuth {
    /// `host[:port]`, as image names write it.
    pub server: String,
    pub username: String,
    pub password: crate::domain::Secret,
}

/// What `info` tells of an engine.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EngineInfo {
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub cpus: i64,
    pub memory_mb: i64,
    pub containers: i64,
    pub images: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: String,
    pub tags: Vec<String>,
    pub size_bytes: i64,
}

/// The labels every object Wharf makes carries; finding what Wharf owns is a label query.
pub mod labels {
    pub const MANAGED: &str = "io.wharf.managed";
    /// The installation that made it (`store::instance_id`): the collector takes only its own.
    pub const INSTANCE: &str = "io.wharf.instance";
    pub const DEPLOYMENT: &str = "io.wharf.deployment";
    pub const COMPONENT: &str = "io.wharf.component";
    pub const REPLICA: &str = "io.wharf.replica";
    /// On a container: the network it joined (a pool network carries no deployment label).
    pub const NETWORK: &str = "io.wharf.network";
    /// On a network made ahead of time for the pool (`engine::netpool`); whose it is, is in
    /// the database.
    pub const POOL: &str = "io.wharf.pool";
}

/// A TLS client identity for a `tcp://` endpoint, as PEM text.
#[derive(Clone)]
pub struct TlsMaterial {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsMaterial { .. }")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBinding {
    pub container_port: u16,
    pub protocol: String,
    /// `None`: the engine picks a free port on the host address.
    pub host_port: Option<u16>,
    /// The host address the port binds to; `None`: every interface.
    pub host_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSpec {
    Volume { name: String, target: String, read_only: bool },
    Bind { source: String, target: String, read_only: bool },
}

/// A container's health check, as the blueprint resolved it.
pub use crate::domain::blueprint::resolve::ResolvedHealth as HealthCheck;
/// What the engine does when a container exits, as the blueprint says.
pub use crate::domain::blueprint::types::RestartPolicy;

/// Everything needed to create one container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub ports: Vec<PortBinding>,
    /// The network to join, and the names others reach this container by on it.
    pub network: Option<(String, Vec<String>)>,
    pub host_network: bool,
    pub mounts: Vec<MountSpec>,
    pub memory_mb: Option<i64>,
    pub cpus: Option<f64>,
    pub tty: bool,
    pub stdin_open: bool,
    pub restart: RestartPolicy,
    pub health: Option<HealthCheck>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    /// `ALL`, unless privileged: only `cap_add` is kept.
    pub cap_drop: Vec<String>,
    /// `no-new-privileges:true`, unless privileged.
    pub security_opt: Vec<String>,
    pub pids_limit: Option<i64>,
    pub devices: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedPort {
    pub container_port: u16,
    pub protocol: String,
    pub host_ip: String,
    pub host_port: u16,
}

/// A network or a volume: how to name it to the engine (a network's id, a volume's name), its
/// name, and its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    pub id: String,
    pub name: String,
    pub labels: std::collections::HashMap<String, String>,
}

/// What Wharf reads back of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub running: bool,
    /// created, running, exited, ...
    pub state: String,
    /// starting, healthy, unhealthy, when the container has a health check.
    pub health: Option<String>,
    pub exit_code: Option<i64>,
    pub error: Option<String>,
    pub ports: Vec<PublishedPort>,
    pub labels: std::collections::HashMap<String, String>,
}

/// A Swarm service to create: its tasks' container (`ContainerSpec`, whose `name`,
/// `restart` and per-replica port rules do not apply), how many, where, and how reached.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    pub container: ContainerSpec,
    pub replicas: u32,
    /// Swarm placement constraints, as `node.labels.zone==a`.
    pub constraints: Vec<String>,
    /// The overlay network its tasks join, and the names others reach it by there.
    pub network: Option<(String, Vec<String>)>,
}

/// What the engine says of its part in a Swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmState {
    /// The engine is a manager of an active swarm: services can be made through it.
    pub manager: bool,
    pub nodes: i64,
    /// The engine's own word for its state (`inactive`, `active`, `pending`, `error`, `locked`).
    pub local_state: String,
    /// This engine's node in the swarm.
    pub node_id: String,
}

/// What Wharf reads back of a Swarm service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub id: String,
    pub name: String,
    /// Replicas wanted.
    pub replicas: u32,
    pub labels: std::collections::HashMap<String, String>,
}

/// One task of a Swarm service: a replica in a slot, as Swarm last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    pub id: String,
    pub slot: i64,
    /// new, pending, assigned, preparing, starting, running, complete, shutdown, failed, rejected, ...
    pub state: String,
    /// What Swarm wants of it: running, or shutdown once replaced or scaled away.
    pub desired: String,
    /// Why it failed or was rejected, as Swarm words it.
    pub error: Option<String>,
    pub container_id: Option<String>,
    pub node_id: Option<String>,
    /// Host-mode published ports, on the node it runs on.
    pub ports: Vec<PublishedPort>,
}

/// A change the engine reports about a Wharf container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    pub container_id: String,
    /// start, die, stop, kill, destroy, health_status, ...
    pub action: String,
    pub deployment: Option<String>,
}

pub type EventStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<ContainerEvent, DockerError>> + Send>>;

/// Which of a container's streams some output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// Some output of a container or an exec, as the engine framed it (not split into lines; a
/// container with a TTY has one stream, reported as stdout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    pub stream: OutputStream,
    pub bytes: bytes::Bytes,
}

pub type OutputChunks = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<OutputChunk, DockerError>> + Send>>;

/// Which of a container's logs to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// The last lines only; `None`: all of them.
    pub tail: Option<u32>,
    /// Lines written at or after this Unix time only.
    pub since: Option<i64>,
    /// Each line starts with its RFC 3339 time and a space.
    pub timestamps: bool,
    /// Keeps the stream open for lines written from now on.
    pub follow: bool,
}

/// One sample of a container's use of the host, as `docker stats` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StatsSample {
    /// Of one CPU: 200 is two CPUs busy.
    pub cpu_percent: f64,
    /// In use, less the page cache (as `docker stats` counts it).
    pub memory_bytes: u64,
    /// The container's limit, or the host's memory when it has none.
    pub memory_limit_bytes: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
    pub pids: u64,
}

/// A command running in a container with a TTY, attached: what it prints, and its stdin.
pub struct Exec {
    pub id: String,
    pub output: OutputChunks,
    pub input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}

#[async_trait]
pub trait ContainerHost: Send + Sync {
    fn endpoint(&self) -> &HostEndpoint;
    async fn ping(&self) -> Result<(), DockerError>;
    async fn info(&self) -> Result<EngineInfo, DockerError>;
    async fn list_images(&self) -> Result<Vec<ImageInfo>, DockerError>;
    /// One image by reference; `DockerError::NotFound` when the engine does not have it.
    async fn inspect_image(&self, reference: &str) -> Result<ImageInfo, DockerError>;
    /// Pulls an image with the registry's credentials when there are any, telling `progress`
    /// what the engine reports as it goes.
    async fn pull_image(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
        progress: &(dyn Fn(String) + Send + Sync),
    ) -> Result<(), DockerError>;
    /// Creates a bridge network unless one of that name carrying every one of `labels`
    /// exists (the oldest, if the engine let two be made); returns its id.
    async fn ensure_network(&self, name: &str, labels: &[(String, String)]) -> Result<String, DockerError>;
    /// Creates a bridge network, without looking for one first; returns its id.
    async fn create_network(&self, name: &str, labels: &[(String, String)]) -> Result<String, DockerError>;
    /// Whether a network of that id (or name) exists.
    async fn network_exists(&self, id: &str) -> Result<bool, DockerError>;
    /// By id (or name); a missing one is not an error.
    async fn remove_network(&self, id: &str) -> Result<(), DockerError>;
    async fn ensure_volume(&self, name: &str, labels: &[(String, String)]) -> Result<(), DockerError>;
    async fn remove_volume(&self, name: &str) -> Result<(), DockerError>;
    /// `None` when there is no such container.
    async fn inspect_container(&self, name_or_id: &str) -> Result<Option<ContainerInfo>, DockerError>;
    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, DockerError>;
    /// Starting a running container is not an error.
    async fn start_container(&self, id: &str) -> Result<(), DockerError>;
    async fn stop_container(&self, id: &str, timeout_s: i32) -> Result<(), DockerError>;
    async fn restart_container(&self, id: &str, timeout_s: i32) -> Result<(), DockerError>;
    /// Force-removes a container and its anonymous volumes; a missing one is not an error.
    async fn remove_container(&self, id: &str) -> Result<(), DockerError>;
    /// Containers (running or not) carrying every one of `labels` (`key=value`).
    async fn list_containers(&self, labels: &[String]) -> Result<Vec<ContainerInfo>, DockerError>;
    /// Networks (by id) and volumes (by name) carrying every one of `labels`, with their labels.
    async fn list_networks(&self, labels: &[String]) -> Result<Vec<Labelled>, DockerError>;
    async fn list_volumes(&self, labels: &[String]) -> Result<Vec<Labelled>, DockerError>;
    /// Container events of Wharf-managed containers, from now on.
    fn container_events(&self) -> EventStream;
    /// A container's logs (running or not), as the engine frames them.
    fn logs(&self, id: &str, options: &LogOptions) -> OutputChunks;
    /// One sample of a running container's use (the engine takes about a second to measure
    /// CPU); a stopped container answers zeros.
    async fn stats(&self, id: &str) -> Result<StatsSample, DockerError>;
    /// Starts `cmd` in a running container with a TTY, stdin attached; `env` as `KEY=VALUE`.
    async fn exec_tty(&self, id: &str, cmd: &[String], env: &[String]) -> Result<Exec, DockerError>;
    /// Resizes an exec's TTY.
    async fn resize_exec(&self, exec_id: &str, cols: u16, rows: u16) -> Result<(), DockerError>;
    /// The exit code of a finished exec; `None` while it runs.
    async fn exec_exit_code(&self, exec_id: &str) -> Result<Option<i64>, DockerError>;

    // ----- Swarm (a host of kind `swarm` is a manager's endpoint) -----
    /// Whether the engine is a Swarm manager, and the cluster's size.
    async fn swarm(&self) -> Result<SwarmState, DockerError>;
    /// Creates an attachable overlay network unless one of that name carrying every one of
    /// `labels` exists; returns its id.
    async fn ensure_overlay_network(&self, name: &str, labels: &[(String, String)]) -> Result<String, DockerError>;
    /// Creates a service; `DockerError::Conflict` when one of that name exists. With `auth`,
    /// the manager hands the registry's credentials to the nodes that pull its image.
    async fn create_service(&self, spec: &ServiceSpec, auth: Option<&RegistryAuth>) -> Result<String, DockerError>;
    /// `None` when there is no such service.
    async fn inspect_service(&self, name_or_id: &str) -> Result<Option<ServiceInfo>, DockerError>;
    /// Services carrying every one of `labels` (`key=value`).
    async fn list_services(&self, labels: &[String]) -> Result<Vec<ServiceInfo>, DockerError>;
    /// Sets the replicas a service wants (Swarm starts or stops tasks to match).
    async fn set_service_replicas(&self, id: &str, replicas: u32) -> Result<(), DockerError>;
    /// A missing one is not an error.
    async fn remove_service(&self, id: &str) -> Result<(), DockerError>;
    /// The address a swarm node is reached at (`Status.Addr`); `None` when it has none.
    async fn node_address(&self, node_id: &str) -> Result<Option<String>, DockerError>;
    /// The tasks of a service, Swarm's history of them included (newest first per slot).
    async fn service_tasks(&self, service_id: &str) -> Result<Vec<TaskInfo>, DockerError>;
    /// A service's logs, every task's, as the engine frames them.
    fn service_logs(&self, id: &str, options: &LogOptions) -> OutputChunks;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(HostEndpoint::parse("unix:///var/run/docker.sock").unwrap(), HostEndpoint::Unix("/var/run/docker.sock".into()));
        assert_eq!(HostEndpoint::parse("tcp://127.0.0.1:2375").unwrap(), HostEndpoint::Tcp { host: "127.0.0.1".into(), port: 2375 });
        for bad in ["unix://relative.sock", "tcp://host", "tcp://host:http", "tcp://:1", "http://h:1", "tcp://h:0"] {
            let e = HostEndpoint::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }
}
