//! The provisioning engine: durable jobs run by a pool of workers that wake as soon as work is
//! queued, host health checks, and the inventory that follows each host's events.
mod destroy;
pub mod health;
pub mod inventory;
mod job;
pub mod pool;
mod provision;
pub mod queue;
mod spec;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::config::{EngineSettings, HostSettings};
use crate::signals::Signals;
use pool::HostPool;

struct Inner {
    db: DatabaseConnection,
    pool: HostPool,
    signals: Signals,
    /// This process's name in job leases.
    owner: String,
    settings: EngineSettings,
    hosts: HostSettings,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    pub fn new(db: DatabaseConnection, signals: Signals, settings: EngineSettings, hosts: HostSettings) -> Self {
        let owner = format!("{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        Self { inner: Arc::new(Inner { db, pool: HostPool::default(), signals, owner, settings, hosts }) }
    }

    pub fn pool(&self) -> &HostPool {
        &self.inner.pool
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
                Ok(Some((job, claim))) => {
                    tracing::info!(worker = n, job = job.id, kind = %job.kind, deployment = %job.deployment_id, attempt = job.attempts, "job claimed");
                    self.run_job(job, claim).await;
                }
                Ok(None) => {
                    // Woken at once by a new job; the timeout finds jobs of other replicas and
                    // jobs whose worker died.
                    inner.signals.job_waited(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    tracing::error!(worker = n, error = %e, "cannot read the job queue");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}
