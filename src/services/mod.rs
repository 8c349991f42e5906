//! Use cases that the web layer and the CLI share. Transactions and audit calls live here.
pub mod accounts;
pub mod audit;
pub mod blueprints;
pub mod bootstrap;
pub mod catalog;
pub mod deployments;
pub mod hosts;
pub mod requests;
pub mod tokens;

use sea_orm::DbErr;
use serde::Serialize;

use crate::auth::password::PasswordError;

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

/// A page of a list, paginated in SQL.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

impl<T> Page<T> {
    pub fn pages(&self) -> u64 {
        self.total.div_ceil(self.per_page).max(1)
    }
    pub fn has_next(&self) -> bool {
        self.page < self.pages()
    }
}

/// Page numbers start at 1; `per_page` is kept within 1..=200.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub page: u64,
    pub per_page: u64,
}

impl PageRequest {
    /// Pages beyond a billion are clamped, so that no offset overflows.
    pub fn new(page: Option<u64>, per_page: Option<u64>) -> Self {
        Self { page: page.unwrap_or(1).clamp(1, 1_000_000_000), per_page: per_page.unwrap_or(50).clamp(1, 200) }
    }

    /// One page of an ordered query, with the total count: both in SQL.
    pub async fn fetch<E>(self, db: &impl sea_orm::ConnectionTrait, query: sea_orm::Select<E>) -> Result<(Vec<E::Model>, u64), DbErr>
    where
        E: sea_orm::EntityTrait,
        E::Model: Sync,
    {
        use sea_orm::{PaginatorTrait, QuerySelect};
        let total = query.clone().count(db).await?;
        let rows = query.offset((self.page - 1).saturating_mul(self.per_page)).limit(self.per_page).all(db).await?;
        Ok((rows, total))
    }

    pub fn page_of<T>(self, items: Vec<T>, total: u64) -> Page<T> {
        Page { items, page: self.page, per_page: self.per_page, total }
    }
}

#[cfg(test)]
mod tests {
    use super::PageRequest;

    #[test]
    fn pages_are_clamped() {
        let p = PageRequest::new(Some(u64::MAX), Some(0));
        assert_eq!((p.page, p.per_page), (1_000_000_000, 1));
        assert_eq!(PageRequest::new(Some(0), Some(9999)).per_page, 200);
    }
}
