//! Every status Wharf stores, as an enum: requests, deployments, jobs, hosts, resources and
//! decisions. Each has its wire word (the string in the database, the API and the pages), a
//! label and a badge tone for people, its legal transitions in one `next` function, and named
//! sets (`is_live`, `can_destroy`, …). Nothing else in `src/` spells a status word.
use std::fmt;
use std::str::FromStr;

/// How a status looks on a badge; one CSS class per tone (`status-ok`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Done and well: running, approved, up.
    Ok,
    /// Needs someone's attention: failed, rejected, down, drifted.
    Bad,
    /// Work under way: provisioning, destroying.
    Busy,
    /// Waiting on a person.
    Warn,
    /// At rest: stopped, destroyed, cancelled.
    Idle,
}

impl Tone {
    pub fn as_str(self) -> &'static str {
        match self {
            Tone::Ok => "ok",
            Tone::Bad => "bad",
            Tone::Busy => "busy",
            Tone::Warn => "warn",
            Tone::Idle => "idle",
        }
    }
}

impl fmt::Display for Tone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not one of a status enum's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{word}` is not a {what}; use one of: {expected}")]
pub struct UnknownWord {
    pub what: &'static str,
    pub word: String,
    pub expected: String,
}

/// A move a state machine does not allow, said for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TransitionError {
    pub message: String,
}

impl TransitionError {
    fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

/// An enum with one wire word, label and tone per variant, and what goes with them:
/// `as_str`, `label`, `tone`, `ALL`, `Display`, `FromStr` and serde as the wire word.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $word:literal, $label:literal, $tone:ident;)*
        }
    ) => {
        $(#[$meta])*
        // The wire word is the variant in snake_case (serde and the OpenAPI document agree);
        // a unit test checks that every `as_str` says the same.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)*
                }
            }

            /// The word people read on a badge.
            pub fn label(self) -> &'static str {
                match self {
                    $($name::$variant => $label,)*
                }
            }

            pub fn tone(self) -> Tone {
                match self {
                    $($name::$variant => Tone::$tone,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($word => Ok($name::$variant),)*
                    other => Err(UnknownWord {
                        what: $what,
                        word: other.to_string(),
                        expected: [$($word),*].join(", "),
                    }),
                }
            }
        }
    };
}

// ----- requests -----------------------------------------------------------------------------

wire_enum! {
    /// The request lifecycle of PRODUCT.md.
    pub enum RequestStatus ("request status") {
        PendingApproval = "pending_approval", "pending approval", Warn;
        Approved = "approved", "approved", Ok;
        Rejected = "rejected", "rejected", Bad;
        Provisioning = "provisioning", "provisioning", Busy;
        Succeeded = "succeeded", "succeeded", Ok;
        Failed = "failed", "failed", Bad;
        Cancelled = "cancelled", "cancelled", Idle;
    }
}

/// What moves a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestEvent {
    /// The last level of its policy approved it (or no policy applied).
    Approve,
    Reject,
    /// The requester withdrew it.
    Cancel,
    /// The scheduler made its deployment.
    StartProvisioning,
    /// Its deployment is running.
    Succeed,
    /// Its deployment failed, or it could not be started.
    Fail,
}

impl RequestStatus {
    /// Requests that may still be cancelled: nothing was provisioned yet.
    pub const CANCELLABLE: &'static [RequestStatus] = &[RequestStatus::PendingApproval, RequestStatus::Approved];
    /// Requests whose page follows them live.
    pub const OPEN: &'static [RequestStatus] = &[RequestStatus::PendingApproval, RequestStatus::Approved, RequestStatus::Provisioning];

    /// Whether a request in this state may have a deployment (its provisioning started).
    pub fn has_deployment(self) -> bool {
        matches!(self, RequestStatus::Provisioning | RequestStatus::Succeeded | RequestStatus::Failed)
    }

    pub fn next(self, event: RequestEvent) -> Result<Self, TransitionError> {
        use RequestEvent as E;
        use RequestStatus as S;
        match (self, event) {
            (S::PendingApproval, E::Approve) => Ok(S::Approved),
            (S::PendingApproval, E::Reject) => Ok(S::Rejected),
            (S::PendingApproval | S::Approved, E::Cancel) => Ok(S::Cancelled),
            (S::Approved, E::StartProvisioning) => Ok(S::Provisioning),
            (S::Provisioning, E::Succeed) => Ok(S::Succeeded),
            (S::Approved | S::Provisioning, E::Fail) => Ok(S::Failed),
            (from, E::Cancel) => Err(TransitionError::new(format!("a {from} request cannot be cancelled"))),
            (from, E::Approve | E::Reject) => Err(TransitionError::new(format!("the request is {from}; there is nothing to decide"))),
            (from, event) => Err(TransitionError::new(format!("a {from} request cannot {event:?}"))),
        }
    }

    pub fn can_cancel(self) -> bool {
        Self::CANCELLABLE.contains(&self)
    }

    /// Still moving: waiting on approvers, on the scheduler or on its deployment.
    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }
}

wire_enum! {
    /// What a request asks for: a deployment from the catalog, or an action on one.
    pub enum RequestKind ("request kind") {
        Catalog = "catalog", "catalog", Idle;
        Day2 = "day2", "day-2 action", Idle;
    }
}

wire_enum! {
    /// An action on a deployment. `logs` and `console` are permissions, not requests.
    pub enum Day2Action ("day-2 action") {
        Start = "start", "start", Busy;
        Stop = "stop", "stop", Busy;
        Restart = "restart", "restart", Busy;
        Destroy = "destroy", "destroy", Busy;
        ExtendLease = "extend_lease", "extend the lease", Busy;
        Scale = "scale", "scale", Busy;
        Retry = "retry", "retry", Busy;
    }
}

impl Day2Action {
    /// Whether a deployment in `status` allows the action now; `Err` says why not.
    pub fn allowed_in(self, status: DeploymentStatus) -> Result<(), TransitionError> {
        use DeploymentStatus as D;
        let ok = match self {
            Day2Action::Start | Day2Action::Restart if status == D::Expired => {
                return Err(TransitionError::new("the lease has ended: extend it to start the deployment again"));
            }
            Day2Action::Start => matches!(status, D::Stopped | D::Drifted),
            Day2Action::Stop | Day2Action::Restart => matches!(status, D::Running | D::Drifted),
            // New replicas are started: a stopped deployment starts first.
            Day2Action::Scale => matches!(status, D::Running | D::Drifted),
            Day2Action::Destroy => status.can_destroy(),
            Day2Action::ExtendLease => status.is_settled() || status == D::Expired || status == D::Provisioning || status == D::Failed,
            Day2Action::Retry => status.can_retry(),
        };
        if ok { Ok(()) } else { Err(TransitionError::new(format!("a {status} deployment cannot {} now", self.label()))) }
    }

    /// The job that carries the action out; `None` when no engine work is needed.
    pub fn job(self) -> Option<JobKind> {
        match self {
            Day2Action::Start => Some(JobKind::Start),
            Day2Action::Stop => Some(JobKind::Stop),
            Day2Action::Restart => Some(JobKind::Restart),
            Day2Action::Destroy => Some(JobKind::Destroy),
            Day2Action::Scale => Some(JobKind::Scale),
            Day2Action::Retry => Some(JobKind::Provision),
            Day2Action::ExtendLease => None,
        }
    }
}

/// How a request that made a deployment follows it, whatever states the deployment goes
/// through (and in whatever order the scheduler sees them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Follow {
    pub to: RequestStatus,
    /// Whether the request still counts against its group's quota.
    pub holds_quota: bool,
    pub kind: TimelineKind,
}

impl RequestStatus {
    /// Where a request in `self` (holding quota or not) goes when its deployment is in
    /// `deployment`; `None` when it is where it belongs. A provisioned deployment (running,
    /// stopped, drifted, even destroyed since) makes the request succeed; a failed provisioning
    /// makes it fail; a failed deployment provisioned again makes it succeed. The request holds
    /// quota exactly while its deployment is live.
    pub fn follow(self, holds_quota: bool, deployment: DeploymentStatus) -> Option<Follow> {
        use DeploymentStatus as D;
        use RequestStatus as R;
        let to = match (self, deployment) {
            (R::Provisioning, D::Provisioning) => R::Provisioning,
            (R::Provisioning, D::Failed) => R::Failed,
            (R::Provisioning, _) => R::Succeeded,
            (R::Failed, d) if d.is_live() && d != D::Provisioning => R::Succeeded,
            (r @ (R::Succeeded | R::Failed), _) => r,
            // Requests before provisioning have no deployment to follow.
            _ => return None,
        };
        let holds = deployment.is_live();
        if (to, holds) == (self, holds_quota) {
            return None;
        }
        let kind = match to {
            _ if to == self && !holds => TimelineKind::Released,
            _ if to == self => TimelineKind::Provisioning,
            R::Succeeded => TimelineKind::Succeeded,
            _ => TimelineKind::Failed,
        };
        Some(Follow { to, holds_quota: holds, kind })
    }
}

wire_enum! {
    /// One approver's decision on one level.
    pub enum Decision ("decision") {
        Approved = "approved", "approved", Ok;
        Rejected = "rejected", "rejected", Bad;
    }
}

impl Decision {
    pub fn of(approve: bool) -> Self {
        if approve { Decision::Approved } else { Decision::Rejected }
    }
}

wire_enum! {
    /// The kinds of entry on a request's timeline.
    pub enum TimelineKind ("timeline entry") {
        Submitted = "submitted", "submitted", Idle;
        Pending = "pending", "pending", Warn;
        Decision = "decision", "decision", Ok;
        Approved = "approved", "approved", Ok;
        Rejected = "rejected", "rejected", Bad;
        Cancelled = "cancelled", "cancelled", Idle;
        Provisioning = "provisioning", "provisioning", Busy;
        Succeeded = "succeeded", "succeeded", Ok;
        Failed = "failed", "failed", Bad;
        Released = "released", "released", Idle;
    }
}

// ----- deployments --------------------------------------------------------------------------

wire_enum! {
    /// A deployment's state, as API.md lists them.
    pub enum DeploymentStatus ("deployment status") {
        Provisioning = "provisioning", "provisioning", Busy;
        Running = "running", "running", Ok;
        Stopped = "stopped", "stopped", Idle;
        Failed = "failed", "failed", Bad;
        Destroying = "destroying", "destroying", Busy;
        Destroyed = "destroyed", "destroyed", Idle;
        Expired = "expired", "expired", Idle;
        Drifted = "drifted", "drifted", Bad;
        Orphaned = "orphaned", "orphaned", Bad;
    }
}

/// What moves a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentEvent {
    /// Every component runs (and is healthy).
    Provisioned,
    /// A job failed: provisioning, or destroying.
    JobFailed,
    /// A user or an admin asked for it to be destroyed.
    Destroy,
    /// A failed deployment is provisioned again.
    Retry,
    /// Everything it had is gone from its host.
    Destroyed,
    /// Its host was removed with force: its containers are left there, unmanaged (orphaned).
    HostRemoved,
    /// What the inventory saw on the host (only `Running`, `Stopped` or `Drifted`).
    Observed(DeploymentStatus),
    /// Its lease ended: its containers are stopped, and it cannot start until it is extended.
    Expire,
    /// An ended lease was extended: it may start again.
    LeaseExtended,
}

impl DeploymentStatus {
    /// On a host, or about to be: they count for placement and against their group's quota,
    /// and block a host's removal.
    pub const LIVE: &'static [DeploymentStatus] = &[
        DeploymentStatus::Provisioning,
        DeploymentStatus::Running,
        DeploymentStatus::Stopped,
        DeploymentStatus::Drifted,
        DeploymentStatus::Expired,
        DeploymentStatus::Destroying,
    ];
    /// States no job is changing: the inventory keeps them in step with the host.
    pub const SETTLED: &'static [DeploymentStatus] = &[DeploymentStatus::Running, DeploymentStatus::Stopped, DeploymentStatus::Drifted];
    /// States that can be destroyed.
    pub const DESTROYABLE: &'static [DeploymentStatus] = &[
        DeploymentStatus::Running,
        DeploymentStatus::Stopped,
        DeploymentStatus::Drifted,
        DeploymentStatus::Failed,
        DeploymentStatus::Expired,
    ];

    pub fn next(self, event: DeploymentEvent) -> Result<Self, TransitionError> {
        use DeploymentEvent as E;
        use DeploymentStatus as S;
        match (self, event) {
            (S::Provisioning, E::Provisioned) => Ok(S::Running),
            (S::Provisioning | S::Destroying, E::JobFailed) => Ok(S::Failed),
            (s, E::Destroy) if s.can_destroy() => Ok(S::Destroying),
            (from, E::Destroy) => Err(TransitionError::new(format!("a {from} deployment cannot be destroyed now"))),
            (S::Failed, E::Retry) => Ok(S::Provisioning),
            (from, E::Retry) => Err(TransitionError::new(format!("only a failed deployment can be retried; this one is {from}"))),
            (S::Destroying, E::Destroyed) => Ok(S::Destroyed),
            (s, E::HostRemoved) if s.is_live() => Ok(S::Orphaned),
            (s, E::Observed(seen)) if s.is_settled() && seen.is_settled() => Ok(seen),
            (s, E::Expire) if s.is_settled() => Ok(S::Expired),
            (S::Expired, E::LeaseExtended) => Ok(S::Stopped),
            (from, event) => Err(TransitionError::new(format!("a {from} deployment cannot move on {event:?}"))),
        }
    }

    pub fn is_live(self) -> bool {
        Self::LIVE.contains(&self)
    }

    pub fn is_settled(self) -> bool {
        Self::SETTLED.contains(&self)
    }

    pub fn can_destroy(self) -> bool {
        Self::DESTROYABLE.contains(&self)
    }

    pub fn can_retry(self) -> bool {
        self == DeploymentStatus::Failed
    }

    /// A job is working on it: its progress is worth showing.
    pub fn has_job(self) -> bool {
        matches!(self, DeploymentStatus::Provisioning | DeploymentStatus::Destroying)
    }
}

wire_enum! {
    /// What a deployment's resource row stands for.
    pub enum ResourceKind ("resource kind") {
        Container = "container", "container", Idle;
        Network = "network", "network", Idle;
        Volume = "volume", "volume", Idle;
        /// A Swarm service: one per component on a Swarm host, its tasks the replicas.
        Service = "service", "service", Idle;
    }
}

wire_enum! {
    /// A resource's state on its host: for containers, the engine's state; networks and
    /// volumes are `ready` once made.
    pub enum ResourceStatus ("resource status") {
        Ready = "ready", "ready", Ok;
        Created = "created", "created", Busy;
        Running = "running", "running", Ok;
        Stopped = "stopped", "stopped", Idle;
        Paused = "paused", "paused", Idle;
        Restarting = "restarting", "restarting", Busy;
        Removing = "removing", "removing", Busy;
        Missing = "missing", "missing", Bad;
        Unknown = "unknown", "unknown", Busy;
    }
}

impl ResourceStatus {
    /// The engine's word for a container's state (`docker inspect`'s `State.Status`).
    pub fn of_engine_state(state: &str, running: bool) -> Self {
        if running {
            return ResourceStatus::Running;
        }
        match state {
            "exited" | "dead" => ResourceStatus::Stopped,
            "created" => ResourceStatus::Created,
            "paused" => ResourceStatus::Paused,
            "restarting" => ResourceStatus::Restarting,
            "removing" => ResourceStatus::Removing,
            _ => ResourceStatus::Unknown,
        }
    }

    /// The engine may still bring it to running on its own.
    pub fn is_starting(self) -> bool {
        matches!(self, ResourceStatus::Created | ResourceStatus::Restarting)
    }
}

/// What the inventory concludes from a deployment's containers: running when all run,
/// stopped when none does, drifted when one is missing or only some run; with the reason.
pub fn observed(containers: &[ResourceStatus]) -> (DeploymentStatus, Option<String>) {
    let total = containers.len();
    let running = containers.iter().filter(|s| **s == ResourceStatus::Running).count();
    let missing = containers.iter().filter(|s| **s == ResourceStatus::Missing).count();
    if missing > 0 {
        (DeploymentStatus::Drifted, Some(format!("{missing} of {total} containers were removed outside Wharf")))
    } else if running > 0 && running < total {
        (DeploymentStatus::Drifted, Some(format!("{} of {total} containers are not running", total - running)))
    } else if running == total {
        (DeploymentStatus::Running, None)
    } else {
        (DeploymentStatus::Stopped, None)
    }
}

/// A Swarm service as the inventory saw it: its component, the tasks running and the replicas
/// wanted (`None` when the service is gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTally {
    pub component: String,
    pub running: u32,
    pub desired: Option<u32>,
}

impl ServiceTally {
    /// The service's row status: running when every wanted task runs, stopped when none is
    /// wanted, missing when the service is gone, restarting while Swarm brings tasks back.
    pub fn status(&self) -> ResourceStatus {
        match self.desired {
            None => ResourceStatus::Missing,
            Some(0) => ResourceStatus::Stopped,
            Some(d) if self.running >= d => ResourceStatus::Running,
            Some(_) => ResourceStatus::Restarting,
        }
    }
}

/// What the inventory concludes from a deployment's Swarm services: running when each runs
/// all its wanted tasks, stopped when none wants any, drifted otherwise — a service removed
/// outside Wharf, or tasks Swarm is (re)starting — with the reason, service by service.
pub fn observed_services(services: &[ServiceTally]) -> (DeploymentStatus, Option<String>) {
    let mut why = Vec::new();
    for s in services {
        match s.desired {
            None => why.push(format!("service `{}` was removed outside Wharf", s.component)),
            Some(d) if s.running < d => why.push(format!("`{}` runs {} of {d} tasks", s.component, s.running)),
            Some(_) => {}
        }
    }
    if !why.is_empty() {
        return (DeploymentStatus::Drifted, Some(why.join("; ")));
    }
    if !services.is_empty() && services.iter().all(|s| s.desired == Some(0)) {
        (DeploymentStatus::Stopped, None)
    } else {
        (DeploymentStatus::Running, None)
    }
}

// ----- jobs and hosts -----------------------------------------------------------------------

wire_enum! {
    /// What a durable job does to its deployment.
    pub enum JobKind ("job kind") {
        Provision = "provision", "provision", Busy;
        Destroy = "destroy", "destroy", Busy;
        Start = "start", "start", Busy;
        Stop = "stop", "stop", Busy;
        Restart = "restart", "restart", Busy;
        Scale = "scale", "scale", Busy;
    }
}

impl JobKind {
    /// The deployment states a job of this kind works on: provisioning and destroying have their
    /// own; a day-2 job works on a settled deployment (a stop also on an expired one).
    pub fn works_on(self, status: DeploymentStatus) -> bool {
        match self {
            JobKind::Provision => status == DeploymentStatus::Provisioning,
            JobKind::Destroy => status == DeploymentStatus::Destroying,
            JobKind::Stop => status.is_settled() || status == DeploymentStatus::Expired,
            JobKind::Start | JobKind::Restart | JobKind::Scale => status.is_settled(),
        }
    }
}

wire_enum! {
    /// The kinds of entry on a deployment's own timeline (besides its requests').
    pub enum DeploymentEventKind ("deployment event") {
        LeaseWarning = "lease_warning", "lease ends soon", Warn;
        Expired = "expired", "lease ended", Bad;
        LeaseExtended = "lease_extended", "lease extended", Ok;
        LeaseSet = "lease_set", "lease set", Ok;
        Destroyed = "destroyed", "destroyed", Idle;
        Drifted = "drifted", "drifted", Bad;
        Settled = "settled", "back in step", Ok;
        Action = "action", "action", Busy;
        ActionDone = "action_done", "action done", Ok;
        ActionFailed = "action_failed", "action failed", Bad;
    }
}

wire_enum! {
    /// A message in the outbox: waiting (or being sent, under a sender's lease), delivered, or
    /// given up on after its last try (dead-lettered, retried from the admin's page).
    pub enum OutboxStatus ("message status") {
        Pending = "pending", "pending", Busy;
        Delivered = "delivered", "delivered", Ok;
        Dead = "dead", "dead-lettered", Bad;
        /// Not sent: its channel is off (e-mail with no `smtp.url`).
        Skipped = "skipped", "not sent", Idle;
    }
}

wire_enum! {
    /// A job's place in the queue; `queue` moves it (claim, finish) with conditional updates.
    pub enum JobStatus ("job status") {
        Queued = "queued", "queued", Idle;
        Running = "running", "running", Busy;
        Done = "done", "done", Ok;
        Failed = "failed", "failed", Bad;
    }
}

wire_enum! {
    /// What a registered host is: one Docker Engine, where Wharf makes containers itself, or a
    /// Docker Swarm cluster's manager, where each component becomes a service that Swarm places
    /// and reschedules.
    pub enum HostKind ("host kind") {
        Engine = "engine", "Docker Engine", Idle;
        Swarm = "swarm", "Docker Swarm", Idle;
    }
}

wire_enum! {
    /// A host's health, from its last check.
    pub enum HostStatus ("host status") {
        Up = "up", "up", Ok;
        Down = "down", "down", Bad;
        Unknown = "unknown", "unknown", Busy;
    }
}

impl HostStatus {
    /// After a health check: up when it answered; down once `failures` checks in a row did
    /// not (`down_after` of them); until then, what it was.
    pub fn after_check(self, answered: bool, failures: u32, down_after: u32) -> Self {
        match (answered, self) {
            (true, _) => HostStatus::Up,
            (false, _) if failures >= down_after => HostStatus::Down,
            (false, s) => s,
        }
    }
}

wire_enum! {
    /// A personal API token's state: live until it expires or is revoked.
    pub enum TokenStatus ("token status") {
        Active = "active", "active", Ok;
        Revoked = "revoked", "revoked", Bad;
        Expired = "expired", "expired", Idle;
    }
}

impl TokenStatus {
    pub fn of(revoked: bool, expired: bool) -> Self {
        match (revoked, expired) {
            (true, _) => TokenStatus::Revoked,
            (false, true) => TokenStatus::Expired,
            (false, false) => TokenStatus::Active,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn swarm_services_observed() {
        let t = |component: &str, running: u32, desired: Option<u32>| ServiceTally { component: component.into(), running, desired };
        assert_eq!(observed_services(&[t("db", 1, Some(1)), t("web", 3, Some(3))]), (DeploymentStatus::Running, None));
        assert_eq!(observed_services(&[t("db", 0, Some(0)), t("web", 0, Some(0))]), (DeploymentStatus::Stopped, None));
        // A task Swarm is replacing, and a service removed outside Wharf: drifted, with both reasons.
        let (status, why) = observed_services(&[t("db", 0, None), t("web", 1, Some(3))]);
        assert_eq!(status, DeploymentStatus::Drifted);
        assert_eq!(why.as_deref(), Some("service `db` was removed outside Wharf; `web` runs 1 of 3 tasks"));
        // One component stopped on purpose (a stop of one component) is not drift.
        assert_eq!(observed_services(&[t("db", 1, Some(1)), t("web", 0, Some(0))]), (DeploymentStatus::Running, None));
        assert_eq!(t("web", 1, Some(3)).status(), ResourceStatus::Restarting);
        assert_eq!(t("web", 0, None).status(), ResourceStatus::Missing);
        assert_eq!(t("web", 0, Some(0)).status(), ResourceStatus::Stopped);
        assert_eq!(t("web", 2, Some(2)).status(), ResourceStatus::Running);
        assert_eq!("swarm".parse::<HostKind>().ok(), Some(HostKind::Swarm));
        assert!("kubernetes".parse::<HostKind>().is_err());
    }

    use super::*;

    #[test]
    fn wire_words_round_trip_and_unknown_words_say_what_they_are() {
        for s in RequestStatus::ALL {
            assert_eq!(s.as_str().parse::<RequestStatus>(), Ok(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        fn agree<T: serde::Serialize + Copy + std::fmt::Display>(all: &[T]) {
            for s in all {
                assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.to_string()));
            }
        }
        agree(RequestStatus::ALL);
        agree(Decision::ALL);
        agree(TimelineKind::ALL);
        agree(DeploymentStatus::ALL);
        agree(ResourceKind::ALL);
        agree(ResourceStatus::ALL);
        agree(JobKind::ALL);
        agree(RequestKind::ALL);
        agree(Day2Action::ALL);
        agree(DeploymentEventKind::ALL);
        agree(JobStatus::ALL);
        agree(OutboxStatus::ALL);
        agree(HostStatus::ALL);
        agree(TokenStatus::ALL);
        for s in DeploymentStatus::ALL {
            assert_eq!(s.as_str().parse::<DeploymentStatus>(), Ok(*s));
        }
        let err = "runing".parse::<DeploymentStatus>().unwrap_err();
        assert!(err.to_string().contains("`runing` is not a deployment status") && err.to_string().contains("running"), "{err}");
    }

    #[test]
    fn request_transitions() {
        use RequestEvent as E;
        use RequestStatus as S;
        assert_eq!(S::PendingApproval.next(E::Approve), Ok(S::Approved));
        assert!(S::Approved.next(E::Approve).is_err());
        assert_eq!(S::Approved.next(E::Cancel), Ok(S::Cancelled));
        assert!(S::Provisioning.next(E::Cancel).unwrap_err().to_string().contains("cannot be cancelled"));
        assert_eq!(S::Provisioning.next(E::Fail), Ok(S::Failed));
        assert_eq!(S::Approved.next(E::Fail), Ok(S::Failed));
        assert_eq!(S::Approved.next(E::StartProvisioning), Ok(S::Provisioning));
        assert!(S::Rejected.next(E::StartProvisioning).is_err());
        assert!(S::Succeeded.next(E::Reject).unwrap_err().to_string().contains("nothing to decide"));
        assert!(S::PendingApproval.can_cancel() && !S::Provisioning.can_cancel());
        assert!(S::Provisioning.is_open() && !S::Failed.is_open());
    }

    #[test]
    fn requests_follow_their_deployment_through_any_sequence() {
        use DeploymentStatus as D;
        use RequestStatus as R;
        // The container exited right after it started: the scheduler first sees `stopped`.
        let f = R::Provisioning.follow(true, D::Stopped).unwrap();
        assert_eq!((f.to, f.holds_quota, f.kind), (R::Succeeded, true, TimelineKind::Succeeded));
        // ... and then only `destroyed`: succeeded, quota released, in one step.
        let f = R::Provisioning.follow(true, D::Destroyed).unwrap();
        assert_eq!((f.to, f.holds_quota), (R::Succeeded, false));
        let f = R::Succeeded.follow(true, D::Destroyed).unwrap();
        assert_eq!((f.to, f.holds_quota, f.kind), (R::Succeeded, false, TimelineKind::Released));
        assert_eq!(R::Succeeded.follow(false, D::Destroyed), None, "released once");
        let f = R::Provisioning.follow(true, D::Failed).unwrap();
        assert_eq!((f.to, f.holds_quota, f.kind), (R::Failed, false, TimelineKind::Failed));
        // Retried and running again.
        let f = R::Failed.follow(false, D::Running).unwrap();
        assert_eq!((f.to, f.holds_quota), (R::Succeeded, true));
        assert_eq!(R::Failed.follow(false, D::Provisioning).map(|f| f.holds_quota), Some(true), "a retry holds quota again");
        let f = R::Succeeded.follow(true, D::Orphaned).unwrap();
        assert_eq!((f.to, f.holds_quota, f.kind), (R::Succeeded, false, TimelineKind::Released));
        assert_eq!(R::Provisioning.follow(true, D::Provisioning), None);
        assert_eq!(R::Succeeded.follow(true, D::Drifted), None);
        assert_eq!(R::PendingApproval.follow(true, D::Running), None);
    }

    #[test]
    fn deployment_transitions() {
        use DeploymentEvent as E;
        use DeploymentStatus as S;
        assert_eq!(S::Provisioning.next(E::Provisioned), Ok(S::Running));
        assert_eq!(S::Running.next(E::Destroy), Ok(S::Destroying));
        assert_eq!(S::Failed.next(E::Destroy), Ok(S::Destroying));
        assert!(S::Provisioning.next(E::Destroy).unwrap_err().to_string().contains("cannot be destroyed now"));
        assert_eq!(S::Failed.next(E::Retry), Ok(S::Provisioning));
        assert!(S::Running.next(E::Retry).unwrap_err().to_string().contains("only a failed deployment"));
        assert_eq!(S::Destroying.next(E::Destroyed), Ok(S::Destroyed));
        assert_eq!(S::Destroying.next(E::JobFailed), Ok(S::Failed));
        assert_eq!(S::Running.next(E::Observed(S::Drifted)), Ok(S::Drifted));
        assert!(S::Provisioning.next(E::Observed(S::Stopped)).is_err(), "a job owns a provisioning deployment");
        assert!(S::Running.next(E::Observed(S::Failed)).is_err());
        assert_eq!(S::Stopped.next(E::HostRemoved), Ok(S::Orphaned));
        assert!(S::Orphaned.next(E::Provisioned).is_err(), "a job still running there cannot revive it");
        assert!(S::Destroyed.next(E::HostRemoved).is_err());
        assert_eq!(S::Running.next(E::Expire), Ok(S::Expired));
        assert_eq!(S::Drifted.next(E::Expire), Ok(S::Expired));
        assert!(S::Provisioning.next(E::Expire).is_err(), "a job owns it; the lease loop comes back");
        assert_eq!(S::Expired.next(E::LeaseExtended), Ok(S::Stopped));
        assert!(S::Expired.next(E::Observed(S::Running)).is_err(), "the inventory leaves an expired deployment alone");
        assert_eq!(S::Expired.next(E::Destroy), Ok(S::Destroying));
    }

    #[test]
    fn day2_actions_by_state() {
        use DeploymentStatus as D;
        assert!(Day2Action::Start.allowed_in(D::Stopped).is_ok());
        assert!(Day2Action::Start.allowed_in(D::Running).unwrap_err().to_string().contains("a running deployment cannot start"));
        assert!(Day2Action::Stop.allowed_in(D::Stopped).is_err());
        assert!(Day2Action::Start.allowed_in(D::Expired).unwrap_err().to_string().contains("extend it"));
        assert!(Day2Action::Stop.allowed_in(D::Destroying).unwrap_err().to_string().contains("a destroying deployment cannot stop"));
        assert!(Day2Action::ExtendLease.allowed_in(D::Expired).is_ok());
        assert!(Day2Action::Retry.allowed_in(D::Running).is_err());
        assert!(Day2Action::Destroy.allowed_in(D::Expired).is_ok());
        assert!(JobKind::Stop.works_on(D::Expired) && !JobKind::Start.works_on(D::Expired));
    }

    #[test]
    fn a_host_goes_down_after_consecutive_failures_only() {
        use HostStatus as H;
        assert_eq!(H::Up.after_check(false, 1, 3), H::Up, "one slow answer");
        assert_eq!(H::Up.after_check(false, 3, 3), H::Down);
        assert_eq!(H::Down.after_check(true, 0, 3), H::Up);
        assert_eq!(H::Unknown.after_check(false, 2, 3), H::Unknown);
    }

    #[test]
    fn what_the_inventory_concludes() {
        use ResourceStatus as R;
        assert_eq!(observed(&[R::Running, R::Running]).0, DeploymentStatus::Running);
        assert_eq!(observed(&[R::Stopped, R::Stopped]).0, DeploymentStatus::Stopped);
        let (s, why) = observed(&[R::Running, R::Stopped]);
        assert_eq!((s, why.as_deref()), (DeploymentStatus::Drifted, Some("1 of 2 containers are not running")));
        let (s, why) = observed(&[R::Running, R::Missing]);
        assert_eq!((s, why.as_deref()), (DeploymentStatus::Drifted, Some("1 of 2 containers were removed outside Wharf")));
        assert_eq!(R::of_engine_state("exited", false), R::Stopped);
        assert_eq!(R::of_engine_state("whatever", true), R::Running);
    }
}
