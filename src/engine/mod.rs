//! The provisioning engine: durable jobs run by a pool of workers that wake as soon as work is
//! queued, host health checks, the inventory that follows each host's events, the reconciler
//! that repairs deployments left without a job, the collector of orphaned objects, and the
//! pool of deployment networks made ahead of time.
mod actions;
mod collect;
mod destroy;
pub mod health;
pub mod inventory;
mod job;
pub mod netpool;
pub mod pool;
mod provision;
pub mod queue;
mod reconcile;
mod spec;
mod swarm;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::task::AbortHandle;

use crate::config::{EngineSettings, HostSettings};
use crate::signals::Signals;
use crate::tasks::supervise;
use pool::HostPool;
use queue::Claim;

struct Inner {
    db: DatabaseConnection,
    pool: HostPool,
    signals: Signals,
    /// This process's name in job leases.
    owner: String,
    /// The installation's id, on every object Wharf makes.
    instance: String,
    settings: EngineSettings,
    hosts: HostSettings,
    /// Set when the process is asked to stop: workers claim nothing more.
    stopping: AtomicBool,
    /// The jobs this process runs now, to release them when it stops.
    running: Mutex<HashMap<i64, (Claim, AbortHandle)>>,
    /// Failed health checks in a row, by host.
    failed_checks: Mutex<HashMap<i64, u32>>,
    /// Opens sealed secrets (inputs, TLS keys).
    sealer: crate::sealing::Sealer,
    /// What components get when their blueprint does not say.
    defaults: crate::domain::blueprint::resolve::Defaults,
    /// Wakes the network pool's filler (after a claim).
    refill: netpool::Refill,
    /// Each host's container events, as the inventory receives them (readiness waits on them).
    events: inventory::HostEvents,
    /// Where job durations are counted (`/metrics`).
    metrics: crate::metrics::Metrics,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    pub fn new(
        db: DatabaseConnection,
        instance: String,
        signals: Signals,
        settings: EngineSettings,
        hosts: HostSettings,
        sealer: crate::sealing::Sealer,
        defaults: crate::domain::blueprint::resolve::Defaults,
    ) -> Self {
        let owner = format!("{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        Self {
            inner: Arc::new(Inner {
                db,
                pool: HostPool::new(sealer.clone()),
                sealer,
                defaults,
                signals,
                owner,
                instance,
                settings,
                hosts,
                stopping: AtomicBool::new(false),
                running: Mutex::new(HashMap::new()),
                failed_checks: Mutex::new(HashMap::new()),
                refill: netpool::Refill::default(),
                events: inventory::HostEvents::default(),
                metrics: crate::metrics::Metrics::default(),
            }),
        }
    }

    /// Counts its jobs in `metrics` (the application's, which `/metrics` shows). Called right
    /// after `new`, before the engine is shared.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.metrics = metrics;
        }
        self
    }

    pub fn pool(&self) -> &HostPool {
        &self.inner.pool
    }

    /// Starts the workers, the host health checks, the inventory, the reconciler and the
    /// collector, each supervised (started again should it panic).
    pub fn start(&self) {
        for n in 0..self.inner.settings.workers {
            let engine = self.clone();
            supervise("worker", move || {
                let engine = engine.clone();
                async move { engine.worker(n).await }
            });
        }
        let engine = self.clone();
        supervise("host health", move || health::run(engine.clone()));
        let engine = self.clone();
        supervise("inventory", move || inventory::run(engine.clone()));
        let engine = self.clone();
        supervise("reconciler", move || reconcile::run(engine.clone()));
        let engine = self.clone();
        supervise("collector", move || collect::run(engine.clone()));
        let engine = self.clone();
        supervise("network pool", move || netpool::run(engine.clone()));
    }

    fn stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::SeqCst)
    }

    /// Stops claiming jobs, lets running ones finish within `grace`, and gives back (releases)
    /// the leases of those still running then, so that another replica takes them over at once
    /// rather than after their leases run out: a rolling restart is not a crash.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let left = self.inner.running.lock().map(|m| m.len()).unwrap_or(0);
            if left == 0 {
                tracing::info!("engine stopped: no job left running");
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let left: Vec<(i64, (Claim, AbortHandle))> = self.inner.running.lock().map(|mut m| m.drain().collect()).unwrap_or_default();
        for (id, (claim, abort)) in left {
            abort.abort();
            match queue::release(&self.inner.db, &claim).await {
                Ok(true) => tracing::info!(job = id, "job released for another worker"),
                Ok(false) => {}
                Err(e) => tracing::warn!(job = id, error = %e, "job not released; its lease runs out instead"),
            }
        }
    }

    async fn worker(&self, n: usize) {
        let inner = &self.inner;
        loop {
            if self.stopping() {
                return std::future::pending().await;
            }
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
