//! Running one job: the heartbeat that keeps its lease, the fence every write goes through,
//! deadlines, and what a failure leaves behind. The steps are in `provision` and `destroy`.
//!
//! A worker touches nothing once its claim may have passed to another: every database write is
//! fenced by the claim (`queue::fence`, in the write's own transaction), and before every Docker
//! call the worker checks its own estimate of the lease (renewed by the heartbeat, measured on
//! a monotonic clock, with a safety margin). A worker that cannot renew stops.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{DatabaseConnection, DatabaseTransaction, EntityTrait};
use tokio::time::Instant;

use super::Engine;
use super::queue::{self, Claim};
use crate::docker::DockerError;
use crate::domain::blueprint::{self, Blueprint, inputs};
use crate::domain::states::{DeploymentEvent, DeploymentStatus, JobKind};
use crate::signals::Signals;
use crate::store::deployments::Moved;
use crate::store::entities::{blueprint_version, deployment, job};
use crate::store::{self, StringMap};

/// Jobs are tried this many times (a crash in the middle counts as a try) before they fail.
const MAX_ATTEMPTS: i32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    /// Another worker may hold the job now; this one must stop without touching anything.
    #[error("the job's lease was lost")]
    LeaseLost,
}

impl From<DockerError> for StepError {
    fn from(e: DockerError) -> Self {
        StepError::Failed(e.to_string())
    }
}

impl From<String> for StepError {
    fn from(message: String) -> Self {
        StepError::Failed(message)
    }
}

pub(super) fn fail(msg: impl Into<String>) -> StepError {
    StepError::Failed(msg.into())
}

/// What this worker knows of its lease.
struct Lease {
    lost: AtomicBool,
    /// When the lease runs out, as of the last renewal (monotonic clock).
    until: Mutex<Instant>,
    /// When the last progress line was handed to the writer.
    progress_at: Mutex<Option<Instant>>,
    /// The latest progress line, written by the job's progress writer in the background so
    /// that saying what the job does never holds the job up.
    progress: tokio::sync::watch::Sender<Option<String>>,
}

/// What a running job needs at hand; cheap to clone (the steps run in their own task, so that a
/// panic in them is caught).
#[derive(Clone)]
pub(super) struct Ctx {
    pub engine: Engine,
    pub job: Arc<job::Model>,
    pub claim: Arc<Claim>,
    lease: Arc<Lease>,
}

impl Ctx {
    pub fn db(&self) -> &DatabaseConnection {
        &self.engine.inner.db
    }

    fn margin(&self) -> Duration {
        Duration::from_secs(u64::from(self.engine.inner.settings.lease_secs / 5).max(1))
    }

    /// `Err(LeaseLost)` once the lease may have run out: checked before every Docker call.
    pub fn still_ours(&self) -> Result<(), StepError> {
        let until = *self.lease.until.lock().unwrap_or_else(|p| p.into_inner());
        if self.lease.lost.load(Ordering::SeqCst) || Instant::now() + self.margin() >= until {
            self.lease.lost.store(true, Ordering::SeqCst);
            return Err(StepError::LeaseLost);
        }
        Ok(())
    }

    /// A transaction in which the claim is checked first: writes made in it land only while
    /// the job is still this worker's, and its deployment still in the state the job works on.
    pub async fn fenced(&self) -> Result<DatabaseTransaction, StepError> {
        self.still_ours()?;
        let txn = store::begin(self.db()).await?;
        if !queue::fence(&txn, &self.claim).await? {
            self.lease.lost.store(true, Ordering::SeqCst);
            txn.rollback().await.ok();
            return Err(StepError::LeaseLost);
        }
        // The deployment must still be the job's to work on: a forced host removal, say, has
        // made it orphaned, and nothing more is done for it.
        match deployment::Entity::find_by_id(self.job.deployment_id.clone()).one(&txn).await? {
            Some(d) if self.job.kind.works_on(d.status) => Ok(txn),
            Some(d) => {
                txn.rollback().await.ok();
                Err(fail(format!("the deployment is {} now; its {} job stops", d.status, self.job.kind)))
            }
            None => {
                txn.rollback().await.ok();
                Err(fail("the deployment is gone"))
            }
        }
    }

    /// Says what the job is doing (written in the background: the latest line wins); lines
    /// that are not `now` at most once a second (so that a pull's progress never crowds the
    /// heartbeat out of a small pool).
    pub async fn progress(&self, text: &str) {
        self.progress_at(text, true).await;
    }

    pub async fn progress_at(&self, text: &str, now: bool) {
        {
            let mut at = self.lease.progress_at.lock().unwrap_or_else(|p| p.into_inner());
            if !now && at.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
                return;
            }
            *at = Some(Instant::now());
        }
        self.lease.progress.send_replace(Some(text.to_string()));
    }

    /// A Docker call with the step deadline; the lease is checked first.
    pub async fn docker<T>(&self, what: &str, call: impl Future<Output = Result<T, DockerError>>) -> Result<T, StepError> {
        self.docker_answer(what, call).await?.map_err(StepError::from)
    }

    /// The same, with the engine's own answer kept apart (to tell "not found" from a failure).
    pub async fn docker_answer<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, DockerError>>,
    ) -> Result<Result<T, DockerError>, StepError> {
        self.still_ours()?;
        let limit = Duration::from_secs(u64::from(self.engine.inner.settings.step_timeout_secs));
        tokio::time::timeout(limit, call)
            .await
            .map_err(|_| fail(format!("{what}: the Docker engine did not answer within {} s", limit.as_secs())))
    }

    /// A call that only reads (an inspect), or one whose repetition is harmless (a create by a
    /// name that the next try finds), tried again while the engine does not answer (a daemon
    /// restarting, a dropped connection), with a growing pause, until the step's deadline.
    /// Other calls that change something are not repeated blindly: they fail the step.
    pub async fn docker_read<T, F, Fut>(&self, what: &str, call: F) -> Result<Result<T, DockerError>, StepError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, DockerError>>,
    {
        let limit = Duration::from_secs(u64::from(self.engine.inner.settings.step_timeout_secs));
        let deadline = Instant::now() + limit;
        let mut pause = Duration::from_millis(250);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.docker_answer(what, call()).await? {
                Err(DockerError::Unreachable { message, .. }) if left > pause => {
                    tracing::warn!(job = self.job.id, %what, error = %message, "the Docker engine did not answer; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                answer => return Ok(answer),
            }
        }
    }

    /// Moves the deployment by `event`, fenced. A move its state refuses (the deployment moved
    /// on: a host was removed under it, say) is logged and changes nothing.
    pub async fn advance(&self, event: DeploymentEvent, error: Option<String>, outputs: Option<StringMap>) -> Result<Moved, StepError> {
        let txn = self.fenced().await?;
        let moved = store::deployments::advance(&txn, &self.job.deployment_id, event, error, outputs).await?;
        txn.commit().await?;
        match &moved {
            Moved::To(_) => {}
            Moved::Refused(why) => tracing::warn!(deployment = %self.job.deployment_id, %why, "deployment left as it is"),
            Moved::Raced => tracing::warn!(deployment = %self.job.deployment_id, ?event, "deployment changed meanwhile; left as it is"),
        }
        Ok(moved)
    }
}

/// The blueprint and validated inputs a deployment was made from.
pub async fn load_spec(
    db: &DatabaseConnection,
    sealer: &crate::sealing::Sealer,
    d: &deployment::Model,
) -> Result<(Blueprint, inputs::InputValues), StepError> {
    let v = blueprint_version::Entity::find_by_id((d.blueprint_id.clone(), d.blueprint_version))
        .one(db)
        .await?
        .ok_or_else(|| fail(format!("blueprint {} version {} is gone", d.blueprint_id, d.blueprint_version)))?;
    let bp = blueprint::parse_stored(&v.source).map_err(|e| fail(format!("the stored blueprint no longer parses: {}", e[0])))?;
    let opened = sealer.open_inputs(&bp, &d.inputs).map_err(|e| fail(format!("the deployment's inputs: {e}")))?;
    let values = inputs::validate(&bp, &opened.to_json_map())
        .map_err(|e| fail(format!("the stored inputs no longer fit the blueprint: {}: {}", e[0].0, e[0].1)))?;
    Ok((bp, values))
}

/// Aborts a task when dropped (a heartbeat must not outlive its job, whatever happens to it).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Engine {
    pub(super) async fn run_job(&self, job: job::Model, claim: Claim) {
        let lease_secs = self.inner.settings.lease_secs;
        let started = Instant::now();
        let (progress, mut said) = tokio::sync::watch::channel(None);
        let lease = Arc::new(Lease {
            lost: AtomicBool::new(false),
            until: Mutex::new(started + Duration::from_secs(u64::from(lease_secs))),
            progress_at: Mutex::new(None),
            progress,
        });
        let ctx = Ctx { engine: self.clone(), job: Arc::new(job), claim: Arc::new(claim), lease: lease.clone() };
        let _progress_writer = AbortOnDrop(tokio::spawn({
            let ctx = ctx.clone();
            async move {
                while said.changed().await.is_ok() {
                    let Some(line) = said.borrow_and_update().clone() else { continue };
                    if let Err(e) = queue::progress(ctx.db(), &ctx.claim, &line).await {
                        tracing::debug!(job = ctx.job.id, error = %e, "progress not recorded");
                    }
                }
            }
        }));
        // The heartbeat renews the lease until the job's outcome is written, failure path
        // included. A renewal that fails leaves the estimate to run out; one refused means the
        // job is another's now.
        let _beat = AbortOnDrop(tokio::spawn({
            let ctx = ctx.clone();
            async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(u64::from(lease_secs / 3).max(1))).await;
                    let asked = Instant::now();
                    match queue::heartbeat(ctx.db(), &ctx.claim, lease_secs).await {
                        Ok(true) => {
                            *ctx.lease.until.lock().unwrap_or_else(|p| p.into_inner()) = asked + Duration::from_secs(u64::from(lease_secs))
                        }
                        Ok(false) => {
                            tracing::warn!(job = ctx.job.id, "the job's lease was taken over; this worker stops");
                            ctx.lease.lost.store(true, Ordering::SeqCst);
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(job = ctx.job.id, error = %e, "heartbeat failed; the lease runs out unless the next one succeeds")
                        }
                    }
                }
            }
        }));
        // A request may be waiting on this deployment: let the request scheduler look when done.
        let _wake_requests = WakeOnDrop(&self.inner.signals);
        // A provisioning may have taken a pool network: the pool is filled again once the job
        // is over, so that making a network never slows the start of its containers.
        let _refill = (ctx.job.kind == JobKind::Provision).then(|| RefillOnDrop(&self.inner.refill));
        let result = if ctx.job.attempts > MAX_ATTEMPTS {
            Err(fail(format!("gave up after {} attempts", ctx.job.attempts - 1)))
        } else {
            self.run_steps(&ctx).await
        };
        let dep = ctx.job.deployment_id.clone();
        let job_id = ctx.job.id;
        let outcome = match &result {
            Ok(()) => "done",
            Err(StepError::LeaseLost) => "lease_lost",
            Err(StepError::Db(e)) if crate::store::unreachable(e) => "released",
            Err(_) => "failed",
        };
        self.inner.metrics.job(ctx.job.kind.as_str(), outcome, started.elapsed().as_secs_f64());
        match result {
            Ok(()) => match queue::finish(ctx.db(), &ctx.claim, None).await {
                Ok(true) => tracing::info!(job = job_id, deployment = %dep, "job done"),
                Ok(false) => tracing::warn!(job = job_id, deployment = %dep, "job done, but it was no longer ours"),
                Err(e) => tracing::warn!(job = job_id, error = %e, "job done but not recorded; its lease will run out and it runs again"),
            },
            Err(StepError::LeaseLost) => tracing::warn!(job = job_id, deployment = %dep, "lease lost; another worker goes on"),
            // The database went away under a step (a restart, a dropped connection): that says
            // nothing of the deployment. The job is handed back and runs again (its steps look
            // before they act); if even that cannot be written, its lease runs out.
            Err(StepError::Db(e)) if crate::store::unreachable(&e) => {
                tracing::warn!(job = job_id, deployment = %dep, error = %e, "the database did not answer; the job runs again");
                tokio::time::sleep(Duration::from_secs(1)).await;
                if let Err(e) = queue::release(ctx.db(), &ctx.claim).await {
                    tracing::warn!(job = job_id, error = %e, "the job could not be handed back; its lease runs out");
                }
            }
            Err(e) => {
                let message = e.to_string();
                tracing::warn!(job = job_id, deployment = %dep, error = %message, "job failed");
                match self.record_failure(&ctx, &message).await {
                    Ok(()) => {
                        if let Err(e) = queue::finish(ctx.db(), &ctx.claim, Some(&message)).await {
                            tracing::warn!(job = job_id, error = %e, "job failure not recorded; it runs again when its lease runs out");
                        }
                    }
                    // The outcome is not written: the job is left running, its lease runs out,
                    // and another worker takes it over, rather than a deployment left without one.
                    Err(StepError::LeaseLost) => tracing::warn!(job = job_id, deployment = %dep, "lease lost during cleanup"),
                    Err(e) => {
                        tracing::warn!(job = job_id, deployment = %dep, error = %e, "the failure could not be recorded; the job runs again")
                    }
                }
            }
        }
    }

    /// The job's steps, in a task of their own (a panic is caught and becomes the job's
    /// error) and within the job's deadline.
    async fn run_steps(&self, ctx: &Ctx) -> Result<(), StepError> {
        let limit = Duration::from_secs(u64::from(self.inner.settings.job_timeout_secs));
        let task = tokio::spawn({
            let ctx = ctx.clone();
            async move {
                match ctx.job.kind {
                    JobKind::Provision => ctx.engine.provision(&ctx).await,
                    JobKind::Destroy => ctx.engine.destroy(&ctx).await,
                    JobKind::Start | JobKind::Stop | JobKind::Restart => ctx.engine.power(&ctx).await,
                    JobKind::Scale => ctx.engine.scale(&ctx).await,
                }
            }
        });
        let abort = task.abort_handle();
        if let Ok(mut running) = self.inner.running.lock() {
            running.insert(ctx.job.id, ((*ctx.claim).clone(), abort.clone()));
        }
        let outcome = tokio::time::timeout(limit, task).await;
        if let Ok(mut running) = self.inner.running.lock() {
            running.remove(&ctx.job.id);
        }
        match outcome {
            Ok(Ok(r)) => r,
            Ok(Err(e)) if e.is_panic() => Err(fail("the job stopped unexpectedly (a panic in Wharf; see the log)")),
            // Stopped by a shutdown, which gives the job back: nothing more to write.
            Ok(Err(_)) => Err(StepError::LeaseLost),
            Err(_) => {
                abort.abort();
                Err(fail(format!("the job did not finish within {} s", limit.as_secs())))
            }
        }
    }

    /// After a failed step: a provisioning attempt removes what it made and leaves the deployment
    /// failed with the reason; a failed destroy says why. Every write is fenced.
    async fn record_failure(&self, ctx: &Ctx, message: &str) -> Result<(), StepError> {
        let still_provisioning = deployment::Entity::find_by_id(ctx.job.deployment_id.clone())
            .one(ctx.db())
            .await?
            .is_some_and(|d| d.status == DeploymentStatus::Provisioning);
        match ctx.job.kind {
            // A stale job for a deployment that moved on: leave the deployment alone.
            JobKind::Provision if !still_provisioning => Ok(()),
            JobKind::Provision => {
                let error = match self.remove_everything(ctx).await {
                    Ok(()) => message.to_string(),
                    Err(StepError::LeaseLost) => return Err(StepError::LeaseLost),
                    Err(cleanup) => {
                        tracing::warn!(deployment = %ctx.job.deployment_id, error = %cleanup, "cleanup after a failed provisioning was incomplete");
                        format!("{message} (cleaning up failed too: {cleanup}; Wharf removes what is left later)")
                    }
                };
                ctx.advance(DeploymentEvent::JobFailed, Some(error), None).await.map(|_| ())
            }
            JobKind::Destroy => ctx.advance(DeploymentEvent::JobFailed, Some(format!("destroy failed: {message}")), None).await.map(|_| ()),
            // A day-2 action that failed leaves the deployment as the host has it: the request
            // says what failed, and the inventory the state the containers are in.
            JobKind::Start | JobKind::Stop | JobKind::Restart => Ok(()),
            // A scale that failed half-way goes back to the replicas the deployment had (its
            // inputs and what it holds were not changed).
            JobKind::Scale => match self.scale_back(ctx).await {
                Err(StepError::LeaseLost) => Err(StepError::LeaseLost),
                Err(e) => {
                    tracing::warn!(deployment = %ctx.job.deployment_id, error = %e, "a failed scale could not go back; the inventory shows what is there");
                    Ok(())
                }
                Ok(()) => Ok(()),
            },
        }
    }
}

/// Wakes the network pool's filler at the end of a provisioning job.
struct RefillOnDrop<'a>(&'a super::netpool::Refill);

impl Drop for RefillOnDrop<'_> {
    fn drop(&mut self) {
        self.0.wake();
    }
}

/// Wakes the request scheduler when the job's outcome is recorded (at the end of `run_job`),
/// and the change feed (the job may have written the deployment's timeline).
struct WakeOnDrop<'a>(&'a Signals);

impl Drop for WakeOnDrop<'_> {
    fn drop(&mut self) {
        self.0.request_moved();
        self.0.timeline_written();
    }
}
