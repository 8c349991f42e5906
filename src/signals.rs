//! Wake-up signals between the layers, made once by `startup` and handed down: a service that
//! queues a job wakes the engine's workers; a finished job or a decision wakes the request
//! scheduler. Neither layer knows who listens. With several replicas on PostgreSQL each signal
//! is also handed to `wakeups` (`forward_to`), which tells the other replicas; what they are
//! told wakes the same loops there (`wake_here`).
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedSender;

/// Which loop a signal wakes: the word other replicas receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Wake {
    Jobs,
    Requests,
    Timeline,
    Messages,
}

impl Wake {
    pub fn as_str(self) -> &'static str {
        match self {
            Wake::Jobs => "jobs",
            Wake::Requests => "requests",
            Wake::Timeline => "timeline",
            Wake::Messages => "messages",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        [Wake::Jobs, Wake::Requests, Wake::Timeline, Wake::Messages].into_iter().find(|w| w.as_str() == word)
    }
}

#[derive(Clone, Default)]
pub struct Signals {
    jobs: Arc<Notify>,
    requests: Arc<Notify>,
    messages: Arc<Notify>,
    timeline: Arc<Notify>,
    /// Where signals go to reach the other replicas (set once, on PostgreSQL).
    remote: Arc<OnceLock<UnboundedSender<Wake>>>,
}

impl Signals {
    /// Hands every signal sent from now on to `tx` as well (the other replicas' wake-ups).
    pub fn forward_to(&self, tx: UnboundedSender<Wake>) {
        let _ = self.remote.set(tx);
    }

    /// A signal from another replica: wakes the loop here, and goes no further. Jobs wake every
    /// idle worker (a burst there is told here once): those that find nothing wait again.
    pub fn wake_here(&self, wake: Wake) {
        match wake {
            Wake::Jobs => self.jobs.notify_waiters(),
            Wake::Requests => self.requests.notify_one(),
            Wake::Timeline => self.timeline.notify_one(),
            Wake::Messages => self.messages.notify_one(),
        }
    }

    fn send(&self, wake: Wake) {
        match wake {
            Wake::Jobs => self.jobs.notify_one(),
            Wake::Requests => self.requests.notify_one(),
            Wake::Timeline => self.timeline.notify_one(),
            Wake::Messages => self.messages.notify_one(),
        }
        if let Some(tx) = self.remote.get() {
            let _ = tx.send(wake);
        }
    }

    /// A job is waiting: one worker wakes.
    pub fn job_queued(&self) {
        self.send(Wake::Jobs);
    }

    /// Waits until a job is queued, or `most` at the longest.
    pub async fn job_waited(&self, most: Duration) {
        let _ = tokio::time::timeout(most, self.jobs.notified()).await;
    }

    /// A request or its deployment moved: the request scheduler looks now.
    pub fn request_moved(&self) {
        self.send(Wake::Requests);
    }

    /// Waits until a request moves, or `most` at the longest.
    pub async fn request_waited(&self, most: Duration) {
        let _ = tokio::time::timeout(most, self.requests.notified()).await;
    }

    /// A timeline entry (a request's, or a deployment's) was committed: the change feed reads
    /// it now rather than at its next tick, so live views show it at once.
    pub fn timeline_written(&self) {
        self.send(Wake::Timeline);
    }

    /// Waits until a timeline entry is written, or `most` at the longest; `true` when woken.
    pub async fn timeline_waited(&self, most: Duration) -> bool {
        tokio::time::timeout(most, self.timeline.notified()).await.is_ok()
    }

    /// A message is in the outbox: the sender looks now.
    pub fn message_queued(&self) {
        self.send(Wake::Messages);
    }

    /// Waits until a message is queued, or `most` at the longest.
    pub async fn message_waited(&self, most: Duration) {
        let _ = tokio::time::timeout(most, self.messages.notified()).await;
    }
}
