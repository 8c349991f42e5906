use async_trait::async_trait;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::ListImagesOptionsBuilder;
use bollard::{API_DEFAULT_VERSION, Docker};

use super::{ContainerHost, DockerError, EngineInfo, HostEndpoint, ImageInfo};

/// Seconds a call may take before the engine counts as unreachable.
const TIMEOUT_SECS: u64 = 30;

pub struct BollardHost {
    endpoint: HostEndpoint,
    docker: Docker,
}

impl BollardHost {
    /// Connects and agrees on an API version with the engine (Debian's engine speaks 1.41).
    pub async fn connect(endpoint: HostEndpoint) -> Result<Self, DockerError> {
        let shown = endpoint.to_string();
        let docker = match &endpoint {
            HostEndpoint::Unix(path) => Docker::connect_with_unix(path, TIMEOUT_SECS, API_DEFAULT_VERSION),
            HostEndpoint::Tcp { host, port } => {
                Docker::connect_with_http(&format!("tcp://{host}:{port}"), TIMEOUT_SECS, API_DEFAULT_VERSION)
            }
        }
        .map_err(|e| DockerError::Unreachable { endpoint: shown.clone(), message: e.to_string() })?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| DockerError::Unreachable { endpoint: shown, message: e.to_string() })?;
        Ok(Self { endpoint, docker })
    }

    fn map_err(&self, operation: &'static str, e: BollardError) -> DockerError {
        let endpoint = self.endpoint.to_string();
        match e {
            BollardError::DockerResponseServerError { status_code: 404, message } => DockerError::NotFound { endpoint, message },
            BollardError::DockerResponseServerError { status_code: 409, message } => DockerError::Conflict { endpoint, message },
            BollardError::DockerResponseServerError { message, .. } => DockerError::Engine { endpoint, operation, message },
            other => DockerError::Unreachable { endpoint, message: other.to_string() },
        }
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
        let images = self
            .docker
            .list_images(Some(ListImagesOptionsBuilder::default().build()))
            .await
            .map_err(|e| self.map_err("list images", e))?;
        Ok(images
            .into_iter()
            .map(|i| ImageInfo { id: i.id, tags: i.repo_tags, size_bytes: i.size })
            .collect())
    }

    async fn inspect_image(&self, reference: &str) -> Result<ImageInfo, DockerError> {
        let image = self.docker.inspect_image(reference).await.map_err(|e| self.map_err("inspect image", e))?;
        Ok(ImageInfo {
            id: image.id.unwrap_or_default(),
            tags: image.repo_tags.unwrap_or_default(),
            size_bytes: image.size.unwrap_or_default(),
        })
    }
}
