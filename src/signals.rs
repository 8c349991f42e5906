//! Wake-up signals between the layers, made once by `startup` and handed down: a service that
//! queues a job wakes the engine's workers; a finished job or a decision wakes the request
//! scheduler. Neither layer knows who listens.
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct Signals {
    jobs: Arc<Notify>,
    requests: Arc<Notify>,
    messages: Arc<Notify>,
    timeline: Arc<Notify>,
}

impl Signals {
    /// A job is waiting: one worker wakes.
    pub fn job_queued(&self) {
        self.jobs.notify_one();
    }

    /// Waits until a job is queued, or `most` at the longest.
    pub async fn job_waited(&self, most: Duration) {
        let _ = tokio::time::timeout(most, self.jobs.notified()).await;
    }

    /// A request or its deployment moved: the request scheduler looks now.
    pub fn request_moved(&self) {
        self.requests.notify_one();
    }

    /// Waits until a request moves, or `most` at the longest.
    pub async fn request_waited(&self, most: Duration) {
        let _ = tokio::time::timeout(most, self.requests.notified()).await;
    }

    /// A timeline entry (a request's, or a deployment's) was committed: the change feed reads
    /// it now rather than at its next tick, so live views show it at once.
    pub fn timeline_written(&self) {
        self.timeline.notify_one();
    }

    /// Waits until a timeline entry is written, or `most` at the longest; `true` when woken.
    pub async fn timeline_waited(&self, most: Duration) -> bool {
        tokio::time::timeout(most, self.timeline.notified()).await.is_ok()
    }

    /// A message is in the outbox: the sender looks now.
    pub fn message_queued(&self) {
        self.messages.notify_one();
    }

    /// Waits until a message is queued, or `most` at the longest.
    pub async fn message_waited(&self, most: Duration) {
        let _ = tokio::time::timeout(most, self.messages.notified()).await;
    }
}
