//! Running one job: claim bookkeeping, the heartbeat that keeps its lease, and what a failure
//! leaves behind. The steps themselves are in `provision` and `destroy`.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::{DatabaseConnection, EntityTrait};

use super::Engine;
use super::queue;
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
    /// Another worker holds the job now; this one must stop without touching anything.
    #[error("the job's lease was lost")]
    LeaseLost,
}

impl From<DockerError> for StepError {
    fn from(e: DockerError) -> Self {
        StepError::Failed(e.to_string())
    }
}

pub(super) fn fail(msg: impl Into<String>) -> StepError {
    StepError::Failed(msg.into())
}

/// What a running job needs at hand.
pub(super) struct Ctx<'a> {
    pub engine: &'a Engine,
    pub job: &'a job::Model,
    lost: Arc<AtomicBool>,
}

impl Ctx<'_> {
    pub fn db(&self) -> &DatabaseConnection {
        &self.engine.inner.db
    }
    pub fn still_ours(&self) -> Result<(), StepError> {
        if self.lost.load(Ordering::SeqCst) { Err(StepError::LeaseLost) } else { Ok(()) }
    }
    pub async fn progress(&self, text: &str) {
        let _ = queue::progress(self.db(), self.job.id, &self.engine.inner.owner, text).await;
    }
}

/// Moves the deployment by `event`; a move its state refuses (the deployment moved on, a host
/// was removed under it) is logged and leaves it as it is.
pub(super) async fn advance(
    db: &DatabaseConnection,
    id: &str,
    event: DeploymentEvent,
    error: Option<String>,
    outputs: Option<StringMap>,
) -> Result<(), sea_orm::DbErr> {
    match store::deployments::advance(db, id, event, error, outputs).await? {
        Moved::To(_) => {}
        Moved::Refused(why) => tracing::warn!(deployment = %id, %why, "deployment left as it is"),
        Moved::Raced => tracing::warn!(deployment = %id, ?event, "deployment changed meanwhile; left as it is"),
    }
    Ok(())
}

/// The blueprint and validated inputs a deployment was made from.
pub async fn load_spec(db: &DatabaseConnection, d: &deployment::Model) -> Result<(Blueprint, inputs::InputValues), StepError> {
    let v = blueprint_version::Entity::find_by_id((d.blueprint_id.clone(), d.blueprint_version))
        .one(db)
        .await?
        .ok_or_else(|| fail(format!("blueprint {} version {} is gone", d.blueprint_id, d.blueprint_version)))?;
    let bp = blueprint::parse(&v.source).map_err(|e| fail(format!("the stored blueprint no longer parses: {}", e[0])))?;
    let values = inputs::validate(&bp, &d.inputs.to_json_map())
        .map_err(|e| fail(format!("the stored inputs no longer fit the blueprint: {}: {}", e[0].0, e[0].1)))?;
    Ok((bp, values))
}

impl Engine {
    pub(super) async fn run_job(&self, job: job::Model) {
        let db = &self.inner.db;
        let owner = self.inner.owner.clone();
        let lost = Arc::new(AtomicBool::new(false));
        // Heartbeat: renew the lease while the job runs.
        let beat = {
            let db = db.clone();
            let lost = lost.clone();
            let owner = owner.clone();
            let lease = self.inner.settings.lease_secs;
            let id = job.id;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(u64::from(lease / 3).max(1))).await;
                    match queue::heartbeat(&db, id, &owner, lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            lost.store(true, Ordering::SeqCst);
                            break;
                        }
                        Err(e) => tracing::warn!(job = id, error = %e, "heartbeat failed"),
                    }
                }
            })
        };
        let ctx = Ctx { engine: self, job: &job, lost };
        let result = if job.attempts > MAX_ATTEMPTS {
            Err(fail(format!("gave up after {} attempts", job.attempts - 1)))
        } else {
            match job.kind {
                JobKind::Provision => self.provision(&ctx).await,
                JobKind::Destroy => self.destroy(&ctx).await,
            }
        };
        beat.abort();
        // A request may be waiting on this deployment: let the request scheduler look now.
        let _wake_requests = WakeOnDrop(&self.inner.signals);
        let dep = &job.deployment_id;
        match result {
            Ok(()) => {
                let _ = queue::finish(db, job.id, &owner, None).await;
                tracing::info!(job = job.id, deployment = %dep, "job done");
            }
            Err(StepError::LeaseLost) => tracing::warn!(job = job.id, deployment = %dep, "lease lost; another worker goes on"),
            Err(e) => {
                let message = e.to_string();
                tracing::warn!(job = job.id, deployment = %dep, error = %message, "job failed");
                let still_provisioning = deployment::Entity::find_by_id(dep.clone())
                    .one(db)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|d| d.status == DeploymentStatus::Provisioning);
                match job.kind {
                    // A stale job for a deployment that moved on: leave the deployment alone.
                    JobKind::Provision if !still_provisioning => {}
                    JobKind::Provision => {
                        // Remove what the attempt made, then say why it failed.
                        if let Err(cleanup) = self.remove_everything(&ctx).await {
                            tracing::warn!(deployment = %dep, error = %cleanup, "cleanup after a failed provisioning was incomplete");
                        }
                        let _ = advance(db, dep, DeploymentEvent::JobFailed, Some(message.clone()), None).await;
                    }
                    JobKind::Destroy => {
                        let _ = advance(db, dep, DeploymentEvent::JobFailed, Some(format!("destroy failed: {message}")), None).await;
                    }
                }
                let _ = queue::finish(db, job.id, &owner, Some(&message)).await;
            }
        }
    }
}

/// Wakes the request scheduler when the job's outcome is recorded (at the end of `run_job`).
struct WakeOnDrop<'a>(&'a Signals);

impl Drop for WakeOnDrop<'_> {
    fn drop(&mut self) {
        self.0.request_moved();
    }
}
