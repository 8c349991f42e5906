//! The explain record of a request: which entitlement allowed it, which policy applies and
//! why, who decides each level, and the quota numbers it was checked against. Stored with the
//! request, shown on its page and in the API.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::select::{Match, Selection, Skipped};
use super::{Approvers, Level, Mode, Outcome};
use crate::domain::quota::{Amount, Limits};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Explain {
    pub entitlement: EntitlementReason,
    /// The policy that applies; `null` when none does (the request is approved at once).
    pub policy: Option<PolicyReason>,
    pub skipped_policies: Vec<Skipped>,
    pub levels: Vec<LevelExplain>,
    pub auto_approved: bool,
    pub quota: QuotaCheck,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntitlementReason {
    pub id: i64,
    pub group: String,
    /// `catalog item X` or `category Y`.
    pub via: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyReason {
    pub id: i64,
    pub name: String,
    #[serde(flatten)]
    pub matched: Match,
    /// What the condition saw: `request`, `requester` and `item`.
    #[schema(value_type = Object)]
    pub values: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LevelExplain {
    /// 1-based.
    pub level: usize,
    pub mode: Mode,
    /// The people who may decide, the requester left out.
    pub approvers: Vec<String>,
    pub approver_rule: Approvers,
    pub timeout_hours: Option<f64>,
    pub on_timeout: Option<Outcome>,
    pub on_timeout_text: Option<String>,
    pub note: Option<String>,
}

impl LevelExplain {
    /// Level `index` (0-based) of a policy, decided by `people`.
    pub fn new(index: usize, level: &Level, people: Vec<String>) -> Self {
        let on_timeout_text = match (level.timeout_hours, level.on_timeout) {
            (Some(h), Some(o)) => Some(format!("after {h} h without a decision, the level is {}", o.word())),
            _ => None,
        };
        Self {
            level: index + 1,
            mode: level.mode,
            note: people.is_empty().then(|| "nobody can decide this level; it waits for its timeout".to_string()),
            approvers: people,
            approver_rule: level.approvers.clone(),
            timeout_hours: level.timeout_hours,
            on_timeout: level.on_timeout,
            on_timeout_text,
        }
    }

    /// The level as its policy said it when the request was submitted: what decides the
    /// request, whatever became of the policy since.
    pub fn rule(&self) -> Level {
        Level { approvers: self.approver_rule.clone(), mode: self.mode, timeout_hours: self.timeout_hours, on_timeout: self.on_timeout }
    }

    /// The approvers as a sentence: `lead, ops` or `nobody (timeout only)`.
    pub fn who(&self) -> String {
        if self.approvers.is_empty() { "nobody (timeout only)".to_string() } else { self.approvers.join(", ") }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuotaCheck {
    pub used: Amount,
    pub requested: Amount,
    pub limits: Limits,
}

impl Explain {
    pub fn new(entitlement: EntitlementReason, selection: &Selection<'_>, levels: Vec<LevelExplain>, quota: QuotaCheck) -> Self {
        let policy = selection.chosen.as_ref().map(|(p, m)| PolicyReason {
            id: p.id,
            name: p.name.clone(),
            matched: m.clone(),
            values: selection.values.clone(),
        });
        Self { entitlement, auto_approved: policy.is_none(), policy, skipped_policies: selection.skipped.clone(), levels, quota }
    }

    /// Who may decide level `index` (0-based); nobody past the last level.
    pub fn approvers_of(&self, index: usize) -> &[String] {
        self.levels.get(index).map(|l| l.approvers.as_slice()).unwrap_or_default()
    }

    /// Whether `username` is named as an approver of any level.
    pub fn names_approver(&self, username: &str) -> bool {
        self.levels.iter().any(|l| l.approvers.iter().any(|a| a == username))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::Policy;
    use serde_json::json;

    #[test]
    fn stored_records_read_back_and_keep_their_shape() {
        let level = Level {
            approvers: Approvers { group_managers: true, users: vec![], admins: false },
            mode: Mode::All,
            timeout_hours: Some(2.0),
            on_timeout: Some(Outcome::Reject),
        };
        let policy = Policy {
            id: 7,
            name: "big".into(),
            scope: Default::default(),
            condition: None,
            actions: vec!["request".into()],
            levels: vec![level.clone()],
        };
        let m = Match { condition: None, result: Some(true), why: "no condition".into() };
        let selection = Selection { chosen: Some((&policy, m)), skipped: vec![], values: json!({"request": {"lease_days": 3}}) };
        let e = Explain::new(
            EntitlementReason { id: 1, group: "team-a".into(), via: "category Web".into() },
            &selection,
            vec![LevelExplain::new(0, &level, vec!["lead".into()])],
            QuotaCheck {
                used: Amount::default(),
                requested: Amount { containers: 1, memory_mb: 64, cpus: 0.5 },
                limits: Limits::default(),
            },
        );
        let stored = serde_json::to_value(&e).unwrap();
        assert_eq!(stored["policy"]["name"], "big");
        assert_eq!(stored["policy"]["why"], "no condition", "the match is flattened into the policy, as stored before");
        assert_eq!(stored["levels"][0]["on_timeout_text"], "after 2 h without a decision, the level is rejected");
        assert_eq!(serde_json::from_value::<Explain>(stored).unwrap(), e);
        assert_eq!(e.approvers_of(0), ["lead".to_string()]);
        assert!(e.approvers_of(1).is_empty() && e.names_approver("lead") && !e.names_approver("dev"));
    }

    #[test]
    fn records_written_before_the_types_still_read() {
        // As the earlier code built them with json!(..): a policy that applies, and none.
        let old = json!({
            "entitlement": {"id": 1, "group": "team-a", "via": "category Web"},
            "policy": {"condition": null, "result": true, "why": "no condition: it covers every request in its scope",
                       "id": 3, "name": "lead approves", "values": {"request": {"lease_days": 3}}},
            "skipped_policies": [{"policy": "x", "reason": "group `team-a` is outside its scope"}],
            "levels": [{"level": 1, "mode": "any", "approvers": ["lead"], "approver_rule": {"group_managers": true},
                        "timeout_hours": null, "on_timeout": null, "on_timeout_text": null, "note": null}],
            "auto_approved": false,
            "quota": {"used": {"containers": 0, "memory_mb": 0, "cpus": 0.0}, "requested": {"containers": 1, "memory_mb": 64, "cpus": 0.5},
                      "limits": {"max_containers": null, "max_memory_mb": null, "max_cpus": null}},
        });
        let e: Explain = serde_json::from_value(old).unwrap();
        assert_eq!(e.policy.as_ref().map(|p| p.name.as_str()), Some("lead approves"));
        assert_eq!(e.approvers_of(0), ["lead".to_string()]);
        let auto = json!({
            "entitlement": {"id": 1, "group": "team-a", "via": "catalog item web"}, "policy": null, "skipped_policies": [],
            "levels": [], "auto_approved": true,
            "quota": {"used": {"containers": 0, "memory_mb": 0, "cpus": 0.0}, "requested": {"containers": 1, "memory_mb": 0, "cpus": 0.0},
                      "limits": {"max_containers": 5, "max_memory_mb": null, "max_cpus": null}},
        });
        assert!(serde_json::from_value::<Explain>(auto).unwrap().auto_approved);
    }

    #[test]
    fn a_malformed_record_is_an_error() {
        assert!(serde_json::from_value::<Explain>(json!({"entitlement": {"id": 1}})).is_err());
    }
}
