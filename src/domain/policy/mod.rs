//! Approval policies: which requests they cover (scope and a CEL condition) and their levels;
//! choosing the policy for a request (`select`) and the record of why (`explain`).
mod cel;
pub mod explain;
pub mod select;

pub use cel::{ConditionError, check_condition, evaluate};
pub use explain::Explain;

use crate::domain::states::Decision;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default)]
    pub catalog_items: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

impl Scope {
    /// Empty lists match everything; otherwise the request must be in each non-empty list
    /// (an item listed by id, or by its category).
    pub fn covers(&self, item: &str, category: &str, group: &str) -> Result<(), String> {
        let item_ok = (self.catalog_items.is_empty() && self.categories.is_empty())
            || self.catalog_items.iter().any(|i| i == item)
            || self.categories.iter().any(|c| c == category);
        if !item_ok {
            return Err(format!("item `{item}` (category {category}) is outside its scope"));
        }
        if !self.groups.is_empty() && !self.groups.iter().any(|g| g == group) {
            return Err(format!("group `{group}` is outside its scope"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Approvers {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub group_managers: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admins: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Any,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Approve,
    Reject,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Level {
    pub approvers: Approvers,
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_hours: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<Outcome>,
}

impl Level {
    /// A level times out within a year at the latest.
    pub const MAX_TIMEOUT_HOURS: f64 = 8760.0;

    pub fn check(&self, n: usize) -> Result<(), String> {
        let a = &self.approvers;
        if !a.group_managers && a.users.is_empty() && !a.admins {
            return Err(format!("level {n}: name approvers: group_managers, users or admins"));
        }
        let in_range = |h: f64| h.is_finite() && h > 0.0 && h <= Self::MAX_TIMEOUT_HOURS;
        match (self.timeout_hours, self.on_timeout) {
            (Some(h), Some(_)) if in_range(h) => Ok(()),
            (Some(h), _) if !in_range(h) => {
                Err(format!("level {n}: timeout_hours must be above 0 and at most {} (a year)", Self::MAX_TIMEOUT_HOURS))
            }
            (Some(_), None) => Err(format!("level {n}: a timeout needs on_timeout: approve or reject")),
            (None, Some(_)) => Err(format!("level {n}: on_timeout needs timeout_hours")),
            _ => Ok(()),
        }
    }
}

/// An approval policy as the domain sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Policy {
    pub id: i64,
    pub name: String,
    pub scope: Scope,
    pub condition: Option<String>,
    /// What it governs: `request` (new requests) and day-2 actions.
    pub actions: Vec<String>,
    pub levels: Vec<Level>,
}

impl Policy {
    pub fn governs(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a == action)
    }
}

impl Mode {
    /// The word in a policy and on its page: `any` or `all`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Any => "any",
            Mode::All => "all",
        }
    }
}

impl Outcome {
    /// What a level's timeout does, said for people.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Approve => Decision::Approved.as_str(),
            Outcome::Reject => Decision::Rejected.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_levels() {
        let s = Scope { catalog_items: vec![], categories: vec!["Web".into()], groups: vec!["team-a".into()] };
        assert!(s.covers("x", "Web", "team-a").is_ok());
        assert!(s.covers("x", "Tools", "team-a").is_err());
        assert!(s.covers("x", "Web", "team-b").is_err());
        assert!(Scope::default().covers("x", "y", "z").is_ok());
        let l = Level {
            approvers: Approvers { group_managers: false, users: vec![], admins: false },
            mode: Mode::Any,
            timeout_hours: None,
            on_timeout: None,
        };
        assert!(l.check(1).is_err());
        let l = Level {
            approvers: Approvers { group_managers: true, users: vec![], admins: false },
            mode: Mode::All,
            timeout_hours: Some(1.0),
            on_timeout: None,
        };
        assert!(l.check(1).unwrap_err().contains("on_timeout"));
        let l = Level { on_timeout: Some(Outcome::Approve), timeout_hours: Some(1e12), ..l };
        assert!(l.check(1).unwrap_err().contains("at most 8760"), "a timeout past any date is refused at save");
    }
}
