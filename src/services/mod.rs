//! Use cases that the web layer and the CLI share. Transactions and audit calls live here.
pub mod accounts;
pub mod blueprints;
pub mod bootstrap;
pub mod catalog;
pub mod dashboard;
pub mod deployments;
pub mod hosts;
pub mod housekeeping;
pub mod leases;
pub mod notify;
pub mod observe;
pub mod readings;
pub mod registries;
pub mod requests;
pub mod seats;
pub mod tokens;

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbErr};
use serde::Serialize;

use crate::auth::password::PasswordError;
use crate::signals::Signals;

/// What the use cases share, made once by `startup` (or the CLI) and handed to every call that
/// needs more than the database: the signals that wake the background loops, the lock that
/// makes quota check-and-reserve one critical section in this process, and the cache of parsed
/// blueprint versions.
#[derive(Clone)]
pub struct Context {
    pub db: DatabaseConnection,
    pub signals: Signals,
    quota: Arc<tokio::sync::Mutex<()>>,
    blueprints: blueprints::Cache,
    /// Password checks running at once in this process (see `accounts::check_password`).
    password_checks: Arc<std::sync::OnceLock<tokio::sync::Semaphore>>,
    /// Seals and opens secrets at rest.
    pub sealer: crate::sealing::Sealer,
    /// The change feed of live request views.
    pub feed: requests::feed::Feed,
    /// Console sessions open per user in this process (`console.max_sessions_per_user`).
    pub consoles: seats::Seats,
    /// Who tokens and sessions are, for a short while (`auth::cache`).
    pub principals: crate::auth::cache::Principals,
    /// What each set of groups may request (`catalog::Offers`).
    pub offers: catalog::Offers,
    /// What components get when their blueprint does not say (`limits.*`).
    pub defaults: crate::domain::blueprint::resolve::Defaults,
    /// The quota of groups without their own (`default_quota.*`).
    pub default_quota: crate::domain::quota::Limits,
}

impl Context {
    pub fn new(db: DatabaseConnection, signals: Signals, sealer: crate::sealing::Sealer) -> Self {
        Self {
            db,
            signals,
            quota: Arc::default(),
            blueprints: blueprints::Cache::default(),
            password_checks: Arc::default(),
            sealer,
            feed: Default::default(),
            consoles: Default::default(),
            principals: Default::default(),
            offers: catalog::offers(),
            defaults: Default::default(),
            default_quota: Default::default(),
        }
    }

    /// With the configured component defaults and default group quota.
    pub fn with_limits(
        mut self,
        defaults: crate::domain::blueprint::resolve::Defaults,
        default_quota: crate::domain::quota::Limits,
    ) -> Self {
        self.defaults = defaults;
        self.default_quota = default_quota;
        self
    }

    /// The permits for password checks: `limit` of them, fixed at the first use.
    pub(crate) fn password_checks(&self, limit: u32) -> &tokio::sync::Semaphore {
        self.password_checks.get_or_init(|| tokio::sync::Semaphore::new(limit as usize))
    }

    /// Quota checks and reservations happen one at a time in this process (SQLite); on
    /// PostgreSQL the group's row is also locked, for several replicas.
    pub async fn quota_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.quota.lock().await
    }

    pub(crate) fn blueprints(&self) -> &blueprints::Cache {
        &self.blueprints
    }
}

/// One problem with one field of an input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error("the blueprint is invalid: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Blueprint(Vec<crate::domain::blueprint::BlueprintError>),
    #[error("the condition does not parse at line {}, column {}: {}", .0.line, .0.column, .0.message)]
    Condition(crate::domain::policy::ConditionError),
    /// Over quota: each limit that the request would pass, with the numbers.
    #[error("over the group's quota: {}", .0.join("; "))]
    OverQuota(Vec<String>),
    #[error("too many failed attempts; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: i64 },
    /// More of something at once than this process takes (password checks); try again soon.
    #[error("{0}")]
    Busy(String),
    /// Something outside Wharf that this needs does not answer (a Docker host).
    #[error("{0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

impl ServiceError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ServiceError::Invalid(vec![FieldError::new(field, message)])
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Reads back what a committed change made, trying again for a while when the database does
/// not answer: the change happened, and the caller must hear so rather than an error.
pub(crate) async fn read_back<T, F, Fut>(read: F) -> ServiceResult<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ServiceResult<T>>,
{
    let mut tries = 0;
    loop {
        match read().await {
            Err(ServiceError::Db(e)) if crate::store::unreachable(&e) && tries < 40 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            other => return other,
        }
    }
}

pub use crate::store::audit;
pub use crate::store::{Page, PageRequest};
