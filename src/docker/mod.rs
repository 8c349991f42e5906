//! The Docker Engine behind a trait. Only this module talks to bollard; the rest of Wharf sees
//! `ContainerHost` and typed `DockerError`s.
mod bollard_host;

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

#[async_trait]
pub trait ContainerHost: Send + Sync {
    fn endpoint(&self) -> &HostEndpoint;
    async fn ping(&self) -> Result<(), DockerError>;
    async fn info(&self) -> Result<EngineInfo, DockerError>;
    async fn list_images(&self) -> Result<Vec<ImageInfo>, DockerError>;
    /// One image by reference; `DockerError::NotFound` when the engine does not have it.
    async fn inspect_image(&self, reference: &str) -> Result<ImageInfo, DockerError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(HostEndpoint::parse("unix:///var/run/docker.sock").unwrap(), HostEndpoint::Unix("/var/run/docker.sock".into()));
        assert_eq!(
            HostEndpoint::parse("tcp://127.0.0.1:2375").unwrap(),
            HostEndpoint::Tcp { host: "127.0.0.1".into(), port: 2375 }
        );
        for bad in ["unix://relative.sock", "tcp://host", "tcp://host:http", "tcp://:1", "http://h:1", "tcp://h:0"] {
            let e = HostEndpoint::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }
}
