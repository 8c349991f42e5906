//! The audit log: every change of state calls `record`, inside the change's own transaction.
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use serde_json::Value;

use super::entities::audit;
use super::{Page, PageRequest};
use crate::domain::secret::MASK;

/// Who did it: a user name, or `system` / `cli` for Wharf itself.
pub const SYSTEM: &str = "system";
pub const CLI: &str = "cli";

/// Keys whose values never reach the log, whatever a caller passes.
const SECRET_WORDS: [&str; 4] = ["password", "secret", "token", "key"];

/// The longest text kept of an actor, an action or a target, and of each string in the details.
const MAX_NAME: usize = 200;
const MAX_TEXT: usize = 1000;

pub async fn record(db: &impl ConnectionTrait, actor: &str, action: &str, target: &str, details: Value) -> Result<(), DbErr> {
    audit::ActiveModel {
        at: Set(Utc::now()),
        actor: Set(clip(actor, MAX_NAME)),
        action: Set(clip(action, MAX_NAME)),
        target: Set(clip(target, MAX_NAME)),
        details: Set(clip_all(redact(details))),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// `text`, cut to `max` characters (marked with `…`): what reaches the log is bounded whatever
/// a caller passes (a request body may hold a megabyte).
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

fn clip_all(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(clip(&s, MAX_TEXT)),
        Value::Array(items) => Value::Array(items.into_iter().take(100).map(clip_all).collect()),
        Value::Object(map) => Value::Object(map.into_iter().take(100).map(|(k, v)| (clip(&k, MAX_NAME), clip_all(v))).collect()),
        other => other,
    }
}

/// Removes entries older than `days` days; returns how many went.
pub async fn prune(db: &impl ConnectionTrait, days: u32) -> Result<u64, DbErr> {
    let cutoff = Utc::now() - chrono::Duration::days(i64::from(days));
    Ok(audit::Entity::delete_many().filter(audit::Column::At.lt(cutoff)).exec(db).await?.rows_affected)
}

fn redact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    if SECRET_WORDS.iter().any(|w| lower.contains(w)) { (k, Value::String(MASK.into())) } else { (k, redact(v)) }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: Value,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

/// Newest first. `action` matches a prefix, so `login` finds `login` and `login.failed`.
pub async fn list(db: &impl ConnectionTrait, filter: &AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>, DbErr> {
    let mut q = audit::Entity::find();
    if let Some(actor) = filter.actor.as_deref().filter(|s| !s.is_empty()) {
        q = q.filter(audit::Column::Actor.eq(actor));
    }
    if let Some(action) = filter.action.as_deref().filter(|s| !s.is_empty()) {
        // `action` or `action.…`: the prefix as a range (`action.` ≤ a < `action/`), which an
        // index answers, and in which `%` or `_` are only characters.
        q = q.filter(Condition::any().add(audit::Column::Action.eq(action)).add(
            Condition::all().add(audit::Column::Action.gte(format!("{action}."))).add(audit::Column::Action.lt(format!("{action}/"))),
        ));
    }
    if let Some(since) = filter.since {
        q = q.filter(audit::Column::At.gte(since));
    }
    let (rows, total) = page.fetch(db, q.order_by_desc(audit::Column::Id)).await?;
    let items =
        rows.into_iter().map(|r| AuditEntry { at: r.at, actor: r.actor, action: r.action, target: r.target, details: r.details }).collect();
    Ok(page.page_of(items, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let v = redact(json!({"username": "dev", "password": "p", "nested": [{"api_token": "t"}], "Secret": 1}));
        assert_eq!(v, json!({"username": "dev", "password": MASK, "nested": [{"api_token": MASK}], "Secret": MASK}));
    }
}
