//! The provisioning engine: durable jobs run by a pool of workers that wake as soon as work is
//! queued, host health checks, and the inventory that follows each host's events.
pub mod health;
pub mod inventory;
pub mod pool;
mod provision;
pub mod queue;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::{Mutex, Notify};

use crate::config::{EngineSettings, HostSettings};
use pool::HostPool;

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
}

struct Inner {
    db: DatabaseConnection,
    pool: HostPool,
    notify: Notify,
    /// Wakes the request scheduler (a decision, an approval).
    requests: Notify,
    /// This process's name in job leases.
    owner: String,
    settings: EngineSettings,
    hosts: HostSettings,
    /// Placement reads the load and writes the choice; one at a time in this process.
    placement: Mutex<()>,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    pub fn new(db: DatabaseConnection, settings: EngineSettings, hosts: HostSettings) -> Self {
        let owner = format!("{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        Self {
            inner: Arc::new(Inner {
                db,
                pool: HostPool::default(),
                notify: Notify::new(),
                requests: Notify::new(),
                owner,
                settings,
                hosts,
                placement: Mutex::new(()),
            }),
        }
    }

    pub fn pool(&self) -> &HostPool {
        &self.inner.pool
    }

    /// Tells a worker that a job is waiting.
    pub fn wake(&self) {
        self.inner.notify.notify_one();
    }

    /// Tells the request scheduler that a request moved.
    pub fn wake_requests(&self) {
        self.inner.requests.notify_one();
    }

    /// Waits until woken, or `most` at the longest.
    pub async fn requests_waited(&self, most: Duration) {
        let _ = tokio::time::timeout(most, self.inner.requests.notified()).await;
    }

    /// Starts the workers, the host health checks and the inventory.
    pub fn start(&self) {
        for n in 0..self.inner.settings.workers {
            let engine = self.clone();
            tokio::spawn(async move { engine.worker(n).await });
        }
        let engine = self.clone();
        tokio::spawn(async move { health::run(engine).await });
        let engine = self.clone();
        tokio::spawn(async move { inventory::run(engine).await });
    }

    async fn worker(&self, n: usize) {
        let inner = &self.inner;
        loop {
            match queue::claim(&inner.db, &inner.owner, inner.settings.lease_secs).await {
                Ok(Some(job)) => {
                    tracing::info!(worker = n, job = job.id, kind = %job.kind, deployment = %job.deployment_id, attempt = job.attempts, "job claimed");
                    self.run_job(job).await;
                }
                Ok(None) => {
                    // Woken at once by a new job; the timeout finds jobs of other replicas and
                    // jobs whose worker died.
                    let _ = tokio::time::timeout(Duration::from_secs(1), inner.notify.notified()).await;
                }
                Err(e) => {
                    tracing::error!(worker = n, error = %e, "cannot read the job queue");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}
