//! A deployment's containers' use of their host: one sample per container now, or a sample
//! every few seconds for a live view (through a bounded queue, like the logs).
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use tokio::sync::mpsc;

use super::{Target, Targets};
use crate::docker::{DockerError, StatsSample};
use crate::domain::states::DeploymentStatus;
use crate::services::{ServiceError, ServiceResult, deployments};

/// Between two samples of a live view (each takes the engine about a second).
const EVERY: Duration = Duration::from_secs(2);
/// A live view ends after this long (the page's EventSource opens a new one).
const LIVE_FOR: Duration = Duration::from_secs(30 * 60);

/// One container's sample, as `GET /api/v1/deployments/{id}/stats` answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContainerStats {
    pub component: String,
    /// The container's name on its host.
    pub container: String,
    #[serde(flatten)]
    pub sample: StatsSample,
}

impl ContainerStats {
    fn of(t: &Target, sample: StatsSample) -> Self {
        Self { component: t.component.clone(), container: t.name.clone(), sample }
    }
}

/// One sample of every container (measured at once); what could not be measured is said.
async fn measure(t: &Targets, admin: bool) -> (Vec<ContainerStats>, Vec<String>) {
    let reads = t.containers.iter().map(|c| async move { (c, t.conn.stats(&c.docker_id).await) });
    let mut samples = Vec::new();
    let mut problems = Vec::new();
    for (c, read) in futures_util::future::join_all(reads).await {
        match read {
            Ok(s) => samples.push(ContainerStats::of(c, s)),
            Err(DockerError::NotFound { .. }) => problems.push(format!("{}: the container is gone from its host", c.label())),
            Err(e) => {
                let text = if admin { e.to_string() } else { crate::domain::redact_addresses(&e.to_string()) };
                problems.push(format!("{}: not measured: {text}", c.label()));
            }
        }
    }
    (samples, problems)
}

/// One sample per container; 409 when none could be measured because they are gone, 503 when
/// the host did not answer.
pub async fn now(t: &Targets, admin: bool) -> ServiceResult<Vec<ContainerStats>> {
    let (samples, problems) = measure(t, admin).await;
    if samples.is_empty()
        && let Some(first) = problems.first()
    {
        return Err(if problems.iter().all(|p| p.ends_with("gone from its host")) {
            ServiceError::Conflict(problems.join("; "))
        } else {
            ServiceError::Unavailable(first.clone())
        });
    }
    Ok(samples)
}

/// What a live view receives.
#[derive(Debug, Clone)]
pub enum StatsItem {
    Sample { at: chrono::DateTime<Utc>, samples: Vec<ContainerStats> },
    Problem(String),
    End(String),
}

/// A sample every [`EVERY`] until the reader leaves (or reads nothing for a while), the
/// deployment is gone, or [`LIVE_FOR`] has passed.
pub fn live(db: sea_orm::DatabaseConnection, t: Targets, admin: bool) -> mpsc::Receiver<StatsItem> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let until = tokio::time::Instant::now() + LIVE_FOR;
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tx.closed() => return,
                _ = tick.tick() => {}
            }
            let status = deployments::status_of(&db, &t.deployment.id).await;
            let end = match status {
                None | Some(DeploymentStatus::Destroyed | DeploymentStatus::Destroying | DeploymentStatus::Orphaned) => {
                    Some(format!("deployment `{}` is {}", t.deployment.name, status.map(|s| s.to_string()).unwrap_or("gone".into())))
                }
                _ if tokio::time::Instant::now() > until => Some("the live view ends after 30 minutes: reload the page".into()),
                _ => None,
            };
            if let Some(reason) = end {
                let _ = tokio::time::timeout(Duration::from_secs(20), tx.send(StatsItem::End(reason))).await;
                return;
            }
            let (samples, problems) = measure(&t, admin).await;
            let mut items = vec![StatsItem::Sample { at: Utc::now(), samples }];
            items.extend(problems.into_iter().map(StatsItem::Problem));
            for item in items {
                match tokio::time::timeout(Duration::from_secs(20), tx.send(item)).await {
                    Ok(Ok(())) => {}
                    _ => return,
                }
            }
        }
    });
    rx
}
