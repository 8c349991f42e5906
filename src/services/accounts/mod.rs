//! Users, groups and memberships, and proving who you are: the inputs and views shared by
//! `users`, `groups`, `login` (passwords, sessions, API tokens) and `sso` (OpenID Connect and
//! the local-login switch).
mod groups;
mod login;
mod sso;
mod users;

pub use groups::*;
pub use login::*;
pub use sso::*;
pub use users::*;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{FieldError, ServiceError};
use crate::auth::password;
use crate::domain::{Role, Secret, Username};

/// A new account as a form or an API body gives it, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct NewUserInput {
    pub username: String,
    pub password: Option<Secret>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub is_admin: bool,
}

/// A new account that passed every rule.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub password: Option<Secret>,
    pub display_name: String,
    pub email: Option<String>,
    pub is_admin: bool,
}

impl TryFrom<NewUserInput> for NewUser {
    type Error = ServiceError;

    fn try_from(input: NewUserInput) -> Result<Self, Self::Error> {
        let mut errors = Vec::new();
        let username = Username::parse_new(&input.username).map_err(|e| errors.push(FieldError::new("username", e.0)));
        if let Some(pw) = &input.password
            && let Err(e) = password::check_policy(pw)
        {
            errors.push(FieldError::new("password", e));
        }
        let display_name = input.display_name.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        if display_name.as_ref().is_some_and(|d| d.chars().count() > 100) {
            errors.push(FieldError::new("display_name", "a display name must be at most 100 characters"));
        }
        let email = input.email.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        if let Some(e) = &email
            && (e.len() > 254 || !e.contains('@') || e.starts_with('@') || e.ends_with('@') || e.contains(char::is_whitespace))
        {
            errors.push(FieldError::new("email", format!("`{e}` is not an e-mail address")));
        }
        match username {
            Ok(username) if errors.is_empty() => Ok(NewUser {
                display_name: display_name.unwrap_or_else(|| username.to_string()),
                username,
                password: input.password,
                email,
                is_admin: input.is_admin,
            }),
            _ => Err(ServiceError::Invalid(errors)),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct NewGroupInput {
    pub name: String,
    pub description: Option<String>,
}

// ----- views --------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupMembershipView {
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub is_admin: bool,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub groups: Vec<GroupMembershipView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupSummary {
    pub name: String,
    pub description: String,
    pub members: u64,
    pub managers: u64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupDetail {
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub members: Vec<MemberView>,
}
