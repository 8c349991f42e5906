//! What a deployment is made of on its host, as the domain names it: the deterministic names
//! of its network, volumes and containers, and the ports its containers publish.
use serde::{Deserialize, Serialize};

/// Names of what Wharf creates for a deployment: deterministic, so every step can look first.
pub mod names {
    pub fn network(deployment: &str) -> String {
        format!("wharf-{deployment}")
    }
    pub fn volume(deployment: &str, volume: &str) -> String {
        format!("wharf-{deployment}-{volume}")
    }
    pub fn container(deployment: &str, component: &str, replica: u32) -> String {
        format!("wharf-{deployment}-{component}-{replica}")
    }
    /// A component's Swarm service (its tasks' containers are named by Swarm).
    pub fn service(deployment: &str, component: &str) -> String {
        format!("wharf-{deployment}-{component}")
    }
}

/// A container port published on its host, and the address users reach it at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublishedPort {
    pub container_port: u16,
    pub protocol: String,
    pub host_port: u16,
    pub address: String,
}
