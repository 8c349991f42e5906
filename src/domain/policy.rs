//! Approval policies: which requests they cover (scope and a CEL condition) and their levels.
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    pub fn check(&self, n: usize) -> Result<(), String> {
        let a = &self.approvers;
        if !a.group_managers && a.users.is_empty() && !a.admins {
            return Err(format!("level {n}: name approvers: group_managers, users or admins"));
        }
        match (self.timeout_hours, self.on_timeout) {
            (Some(h), Some(_)) if h.is_finite() && h > 0.0 => Ok(()),
            (Some(h), _) if !(h.is_finite() && h > 0.0) => Err(format!("level {n}: timeout_hours must be above 0")),
            (Some(_), None) => Err(format!("level {n}: a timeout needs on_timeout: approve or reject")),
            (None, Some(_)) => Err(format!("level {n}: on_timeout needs timeout_hours")),
            _ => Ok(()),
        }
    }
}

/// A CEL condition that did not compile, with where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Compiles a condition, to refuse one that does not parse when the policy is saved.
pub fn check_condition(source: &str) -> Result<(), ConditionError> {
    match cel::Program::compile(source) {
        Ok(_) => Ok(()),
        Err(errs) => {
            let first = errs.errors.first();
            Err(ConditionError {
                line: first.map(|e| e.pos.0.max(1) as usize).unwrap_or(1),
                column: first.map(|e| e.pos.1.max(1) as usize).unwrap_or(1),
                message: first.map(|e| e.msg.clone()).unwrap_or_else(|| errs.to_string()),
            })
        }
    }
}

/// Evaluates a condition over the request's context (`request`, `requester`, `item`).
/// Anything but `true` or `false` is an error that says what came out.
pub fn evaluate(source: &str, context: &Value) -> Result<bool, String> {
    let program = cel::Program::compile(source).map_err(|e| format!("the condition does not parse: {e}"))?;
    let mut ctx = cel::Context::default();
    for name in ["request", "requester", "item"] {
        let v = context.get(name).cloned().unwrap_or(Value::Null);
        let v = cel::to_value(v).map_err(|e| format!("cannot pass `{name}` to the condition: {e}"))?;
        ctx.add_variable_from_value(name, v);
    }
    match program.execute(&ctx) {
        Ok(cel::Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("the condition gave {other:?}, not true or false")),
        Err(e) => Err(format!("the condition failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_compile_evaluate_and_say_where_they_are_wrong() {
        let ctx = json!({"request": {"inputs": {"memory_mb": 1024}, "lease_days": 3, "group": "team-a"}, "requester": {"username": "dev"}, "item": {"id": "web"}});
        assert_eq!(evaluate("request.inputs.memory_mb > 512", &ctx), Ok(true));
        assert_eq!(evaluate("request.lease_days > 14 || item.id == 'db'", &ctx), Ok(false));
        assert!(evaluate("request.inputs.memory_mb", &ctx).unwrap_err().contains("not true or false"));
        let err = check_condition("request.inputs.memory_mb >").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.column > 1, "{err:?}");
        assert!(check_condition("requester.username == 'dev'").is_ok());
    }

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
    }
}
