//! Approval policies as stored and saved; matching them is `domain::policy::select`.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
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

/// A policy's name and row as they would be saved, once every field makes sense; every
/// field's error at once.
async fn check(db: &impl sea_orm::ConnectionTrait, input: &PolicyInput) -> ServiceResult<(String, approval_policy::ActiveModel)> {
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
    let row = approval_policy::ActiveModel {
        name: Set(name.clone()),
        scope: Set(input.scope.clone()),
        condition: Set(condition),
        actions: Set(StringList(actions)),
        levels: Set(Levels(input.levels.clone())),
        ..Default::default()
    };
    Ok((name, row))
}

/// Whether another policy than `id` has the name.
async fn name_taken(db: &impl sea_orm::ConnectionTrait, name: &str, id: Option<i64>) -> Result<bool, sea_orm::DbErr> {
    let mut q = approval_policy::Entity::find().filter(approval_policy::Column::Name.eq(name));
    if let Some(id) = id {
        q = q.filter(approval_policy::Column::Id.ne(id));
    }
    Ok(q.one(db).await?.is_some())
}

/// A write that another policy's name refused (two admins naming policies alike at the same
/// time, on PostgreSQL: the unique index decides) is the 409 the check before it gives.
fn name_clash(e: sea_orm::DbErr, name: &str) -> ServiceError {
    if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) {
        ServiceError::Conflict(format!("a policy named `{name}` exists"))
    } else {
        e.into()
    }
}

/// What a policy says, as its audit entries tell it.
fn says(p: &approval_policy::Model) -> serde_json::Value {
    json!({"name": p.name, "scope": p.scope, "condition": p.condition, "actions": p.actions, "levels": p.levels})
}

pub async fn create_policy(db: &DatabaseConnection, actor: &str, input: PolicyInput) -> ServiceResult<PolicyView> {
    let (name, mut row) = check(db, &input).await?;
    let txn = crate::store::begin(db).await?;
    if name_taken(&txn, &name, None).await? {
        return Err(ServiceError::Conflict(format!("a policy named `{name}` exists")));
    }
    row.created_at = Set(Utc::now());
    let row = row.insert(&txn).await.map_err(|e| name_clash(e, &name))?;
    audit::record(&txn, actor, "policy.create", &format!("policy:{}", row.name), says(&row)).await?;
    txn.commit().await?;
    Ok(policy_view(row))
}

fn no_policy(id: i64) -> ServiceError {
    ServiceError::NotFound(format!("no approval policy {id}"))
}

pub async fn get_policy(db: &DatabaseConnection, id: i64) -> ServiceResult<PolicyView> {
    find_policy(db, id).await?.ok_or_else(|| no_policy(id))
}

/// Replaces a policy (its id, and its place in the order policies are matched, stay). New
/// requests and day-2 actions are matched against it as it is now; a request already waiting
/// on approval keeps the levels it was submitted under (its explain record holds them).
pub async fn update_policy(db: &DatabaseConnection, actor: &str, id: i64, input: PolicyInput) -> ServiceResult<PolicyView> {
    get_policy(db, id).await?;
    let (name, mut row) = check(db, &input).await?;
    let txn = crate::store::begin(db).await?;
    let before = approval_policy::Entity::find_by_id(id).lock_exclusive().one(&txn).await?.ok_or_else(|| no_policy(id))?;
    if name_taken(&txn, &name, Some(id)).await? {
        return Err(ServiceError::Conflict(format!("a policy named `{name}` exists")));
    }
    row.id = Set(id);
    row.created_at = Set(before.created_at);
    let after = row.update(&txn).await.map_err(|e| name_clash(e, &name))?;
    audit::record(
        &txn,
        actor,
        "policy.update",
        &format!("policy:{}", after.name),
        json!({"id": id, "from": says(&before), "to": says(&after)}),
    )
    .await?;
    txn.commit().await?;
    Ok(policy_view(after))
}

/// Removes a policy: requests from now on are matched against the others (none left: approved
/// at once). Requests already waiting on it are decided under the levels they were submitted
/// under.
pub async fn delete_policy(db: &DatabaseConnection, actor: &str, id: i64) -> ServiceResult<()> {
    let txn = crate::store::begin(db).await?;
    let before = approval_policy::Entity::find_by_id(id).lock_exclusive().one(&txn).await?.ok_or_else(|| no_policy(id))?;
    if approval_policy::Entity::delete_by_id(id).exec(&txn).await?.rows_affected == 0 {
        return Err(no_policy(id));
    }
    audit::record(&txn, actor, "policy.delete", &format!("policy:{}", before.name), json!({"id": id, "said": says(&before)})).await?;
    txn.commit().await?;
    Ok(())
}

pub async fn list_policies(db: &DatabaseConnection) -> ServiceResult<Vec<PolicyView>> {
    Ok(policies(db).await?)
}
