//! Approval policies as stored and saved; matching them is `domain::policy::select`.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

use super::*;
use crate::domain::policy::{self, Level, Policy, Scope};
use crate::services::{FieldError, ServiceError, ServiceResult, accounts, audit};
use crate::store::entities::{approval_policy, catalog_item};
use crate::store::{Levels, StringList};

#[derive(Debug, Clone, Default)]
pub struct PolicyInput {
    pub name: String,
    pub scope: Scope,
    pub condition: Option<String>,
    pub actions: Vec<String>,
    pub levels: Vec<Level>,
}

/// A policy as the API shows it: the domain's `Policy`.
pub type PolicyView = Policy;

pub fn policy_view(p: approval_policy::Model) -> Policy {
    Policy { id: p.id, name: p.name, scope: p.scope, condition: p.condition, actions: p.actions.0, levels: p.levels.0 }
}

/// Every policy, in the order they are matched (oldest first).
pub async fn policies(db: &impl sea_orm::ConnectionTrait) -> Result<Vec<Policy>, sea_orm::DbErr> {
    Ok(approval_policy::Entity::find().order_by_asc(approval_policy::Column::Id).all(db).await?.into_iter().map(policy_view).collect())
}

pub async fn find_policy(db: &impl sea_orm::ConnectionTrait, id: i64) -> Result<Option<Policy>, sea_orm::DbErr> {
    Ok(approval_policy::Entity::find_by_id(id).one(db).await?.map(policy_view))
}

pub async fn create_policy(db: &DatabaseConnection, actor: &str, input: PolicyInput) -> ServiceResult<PolicyView> {
    let mut errors = Vec::new();
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new("name", "a name is 1 to 100 characters"));
    }
    let condition = input.condition.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(str::to_string);
    if let Some(c) = &condition
        && let Err(e) = policy::check_condition(c)
    {
        return Err(ServiceError::Condition(e));
    }
    let actions = if input.actions.is_empty() { vec!["request".to_string()] } else { input.actions.clone() };
    for a in &actions {
        if a != "request" && !ACTIONS.contains(&a.as_str()) {
            errors.push(FieldError::new("actions", format!("`{a}` is not an action a policy can govern")));
        }
    }
    if input.levels.is_empty() {
        errors.push(FieldError::new("levels", "a policy needs at least one level"));
    }
    for (i, l) in input.levels.iter().enumerate() {
        if let Err(m) = l.check(i + 1) {
            errors.push(FieldError::new("levels", m));
        }
        for u in &l.approvers.users {
            if accounts::find_user(db, u).await?.is_none() {
                errors.push(FieldError::new("levels", format!("level {}: no user `{u}`", i + 1)));
            }
        }
    }
    for g in &input.scope.groups {
        if accounts::find_group(db, g).await?.is_none() {
            errors.push(FieldError::new("scope.groups", format!("no group `{g}`")));
        }
    }
    for item in &input.scope.catalog_items {
        if catalog_item::Entity::find_by_id(item.clone()).one(db).await?.is_none() {
            errors.push(FieldError::new("scope.catalog_items", format!("no catalog item `{item}`")));
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let txn = crate::store::begin(db).await?;
    if approval_policy::Entity::find().filter(approval_policy::Column::Name.eq(&name)).one(&txn).await?.is_some() {
        return Err(ServiceError::Conflict(format!("a policy named `{name}` exists")));
    }
    let row = approval_policy::ActiveModel {
        name: Set(name),
        scope: Set(input.scope.clone()),
        condition: Set(condition),
        actions: Set(StringList(actions)),
        levels: Set(Levels(input.levels.clone())),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor,
        "policy.create",
        &format!("policy:{}", row.name),
        json!({"scope": row.scope, "condition": row.condition, "levels": row.levels}),
    )
    .await?;
    txn.commit().await?;
    Ok(policy_view(row))
}

pub async fn list_policies(db: &DatabaseConnection) -> ServiceResult<Vec<PolicyView>> {
    Ok(policies(db).await?)
}
