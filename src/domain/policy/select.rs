//! Which approval policy a request falls under: the first, by id, whose action, scope and
//! condition all match. A pure function of the policies and the request's facts.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Policy, evaluate};

/// What the condition of a policy sees: `request`, `requester`, `item`, `action` (for a
/// catalog request, `{"name": "request"}`) and `deployment` (`null` for a catalog request).
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    pub request: RequestFacts,
    pub requester: RequesterFacts,
    pub item: ItemFacts,
    pub action: ActionFacts,
    pub deployment: Option<DeploymentFacts>,
}

/// The action a request asks for, with its parameters.
#[derive(Debug, Clone, Serialize)]
pub struct ActionFacts {
    /// `request` (a catalog request) or a day-2 action.
    pub name: String,
    pub days: Option<i64>,
    pub replicas: Option<i64>,
    pub component: Option<String>,
}

impl ActionFacts {
    pub fn catalog_request() -> Self {
        Self { name: "request".into(), days: None, replicas: None, component: None }
    }
}

/// The deployment a day-2 request acts on.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentFacts {
    pub id: String,
    pub name: String,
    pub item: Option<String>,
    pub group: Option<String>,
    pub owner: Option<String>,
    pub status: String,
    /// Whole days until its lease ends (negative once it ended); `null` without a lease.
    pub lease_days_left: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestFacts {
    /// The inputs, secrets masked.
    pub inputs: Value,
    pub lease_days: i32,
    pub group: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequesterFacts {
    pub username: String,
    pub is_admin: bool,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ItemFacts {
    pub id: String,
    pub name: String,
    pub category: String,
}

/// Why the chosen policy applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Match {
    pub condition: Option<String>,
    /// The condition's value; `None` when it could not be evaluated (the policy applies then).
    pub result: Option<bool>,
    pub why: String,
}

/// A policy passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Skipped {
    pub policy: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Selection<'p> {
    pub chosen: Option<(&'p Policy, Match)>,
    pub skipped: Vec<Skipped>,
    /// The context as the conditions saw it (kept in the explain record).
    pub values: Value,
}

/// The first policy (in the order given) that governs `action` and whose scope and condition
/// cover the request. A condition that cannot be evaluated applies: approval is the safe side.
pub fn select<'p>(policies: &'p [Policy], action: &str, context: &Context) -> Selection<'p> {
    // Plain strings, numbers and lists: serializing them cannot fail.
    let values = serde_json::to_value(context).unwrap_or(Value::Null);
    let mut skipped = Vec::new();
    for p in policies {
        if !p.governs(action) {
            continue;
        }
        if let Err(reason) = p.scope.covers(&context.item.id, &context.item.category, &context.request.group) {
            skipped.push(Skipped { policy: p.name.clone(), reason });
            continue;
        }
        let m = match &p.condition {
            None => Match { condition: None, result: Some(true), why: "no condition: it covers every request in its scope".into() },
            Some(c) => match evaluate(c, &values) {
                Ok(true) => Match { condition: Some(c.clone()), result: Some(true), why: "the condition is true for this request".into() },
                Ok(false) => {
                    skipped.push(Skipped { policy: p.name.clone(), reason: format!("its condition `{c}` is false for this request") });
                    continue;
                }
                Err(e) => Match { condition: Some(c.clone()), result: None, why: format!("{e}; the policy applies to be safe") },
            },
        };
        return Selection { chosen: Some((p, m)), skipped, values };
    }
    Selection { chosen: None, skipped, values }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::{Approvers, Level, Mode, Scope};
    use serde_json::json;

    fn policy(id: i64, name: &str, scope: Scope, condition: Option<&str>, actions: &[&str]) -> Policy {
        Policy {
            id,
            name: name.into(),
            scope,
            condition: condition.map(str::to_string),
            actions: actions.iter().map(|a| a.to_string()).collect(),
            levels: vec![Level {
                approvers: Approvers { group_managers: true, users: vec![], admins: false },
                mode: Mode::Any,
                timeout_hours: None,
                on_timeout: None,
            }],
        }
    }

    fn context(memory: i64) -> Context {
        Context {
            request: RequestFacts { inputs: json!({"memory_mb": memory}), lease_days: 3, group: "team-a".into() },
            requester: RequesterFacts { username: "dev".into(), is_admin: false, groups: vec!["team-a".into()] },
            item: ItemFacts { id: "web".into(), name: "Web".into(), category: "Web".into() },
            action: ActionFacts::catalog_request(),
            deployment: None,
        }
    }

    #[test]
    fn the_first_matching_policy_wins_and_the_others_say_why_not() {
        let policies = [
            policy(1, "day2-only", Scope::default(), None, &["destroy"]),
            policy(2, "team-b", Scope { groups: vec!["team-b".into()], ..Default::default() }, None, &["request"]),
            policy(3, "big", Scope::default(), Some("request.inputs.memory_mb > 512"), &["request"]),
            policy(4, "all", Scope::default(), None, &["request"]),
        ];
        let s = select(&policies, "request", &context(1024));
        let (p, m) = s.chosen.unwrap();
        assert_eq!((p.name.as_str(), m.result), ("big", Some(true)));
        assert_eq!(s.skipped, vec![Skipped { policy: "team-b".into(), reason: "group `team-a` is outside its scope".into() }]);

        let s = select(&policies, "request", &context(256));
        assert_eq!(s.chosen.unwrap().0.name, "all");
        assert!(s.skipped[1].reason.contains("is false for this request"), "{:?}", s.skipped);
    }

    #[test]
    fn no_policy_means_none_chosen_and_a_broken_condition_applies() {
        assert!(select(&[], "request", &context(1)).chosen.is_none());
        let policies = [policy(1, "odd", Scope::default(), Some("request.inputs.memory_mb"), &["request"])];
        let (_, m) = select(&policies, "request", &context(1)).chosen.unwrap();
        assert_eq!(m.result, None);
        assert!(m.why.contains("applies to be safe"), "{}", m.why);
    }
}
