//! The self-service loop: submit (entitlement, inputs, quota, policy), decide level by level,
//! cancel, and the scheduler that times levels out and turns approved requests into
//! deployments.
use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::Serialize;
use serde_json::{Value, json};

use super::catalog;
use super::deployments::{self, Origin};
use super::{FieldError, Page, PageRequest, ServiceError, ServiceResult, audit};
use crate::auth::Principal;
use crate::domain::Role;
use crate::domain::blueprint::inputs;
use crate::domain::policy::{self, Level, Mode, Outcome};
use crate::domain::quota::{self, Amount};
use crate::domain::request::RequestStatus;
use crate::engine::Engine;
use crate::store::entities::{
    approval_policy, catalog_item, deployment, group, membership, request, request_decision, request_event, user,
};

/// Quota checks and reservations happen one at a time in this process (SQLite); on
/// PostgreSQL the group's row is also locked, for several replicas.
static QUOTA_LOCK: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));

#[derive(Debug, Clone, Default)]
pub struct NewRequest {
    pub catalog_item: String,
    pub group: String,
    pub inputs: serde_json::Map<String, Value>,
    pub lease_days: Option<i32>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DecisionView {
    pub level: i32,
    pub approver: String,
    pub decision: String,
    pub comment: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestView {
    pub id: String,
    pub status: String,
    pub catalog_item: String,
    pub catalog_item_name: String,
    pub requester: String,
    pub group: String,
    pub inputs: Value,
    pub lease_days: i32,
    pub reason: String,
    pub approvals: Vec<DecisionView>,
    pub explain: Value,
    /// Who must decide now (for a pending request).
    pub waiting_on: Vec<String>,
    pub level: i32,
    pub deployment_id: Option<String>,
    pub error: Option<String>,
    pub events: Vec<EventView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

async fn event(db: &impl ConnectionTrait, request_id: &str, kind: &str, message: impl Into<String>) -> Result<(), sea_orm::DbErr> {
    request_event::ActiveModel {
        request_id: Set(request_id.into()),
        at: Set(Utc::now()),
        kind: Set(kind.into()),
        message: Set(message.into()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

async fn managers_of(db: &impl ConnectionTrait, group_id: i64) -> Result<Vec<String>, sea_orm::DbErr> {
    let mut names: Vec<String> = membership::Entity::find()
        .filter(membership::Column::GroupId.eq(group_id))
        .filter(membership::Column::Role.eq(Role::Manager.as_str()))
        .find_also_related(user::Entity)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(_, u)| u.filter(|u| u.is_active).map(|u| u.username))
        .collect();
    names.sort();
    Ok(names)
}

/// The people of a level, the requester left out: nobody approves their own request.
async fn approvers_of(db: &impl ConnectionTrait, level: &Level, group_id: i64, requester: &str) -> Result<Vec<String>, sea_orm::DbErr> {
    let mut out = Vec::new();
    if level.approvers.group_managers {
        out.extend(managers_of(db, group_id).await?);
    }
    out.extend(level.approvers.users.iter().map(|u| u.to_ascii_lowercase()));
    if level.approvers.admins {
        out.extend(catalog::admins(db).await?);
    }
    out.sort();
    out.dedup();
    out.retain(|u| u != requester);
    Ok(out)
}

async fn usage(db: &impl ConnectionTrait, group_id: i64) -> Result<Amount, sea_orm::DbErr> {
    let rows =
        request::Entity::find().filter(request::Column::GroupId.eq(group_id)).filter(request::Column::HoldsQuota.eq(true)).all(db).await?;
    Ok(rows.iter().fold(Amount::default(), |a, r| Amount {
        containers: a.containers + i64::from(r.containers),
        memory_mb: a.memory_mb + r.memory_mb,
        cpus: a.cpus + r.cpus,
    }))
}

/// Submits a request. Every check happens before anything is stored, and a refusal says
/// exactly why: not a member or not entitled (403), invalid inputs by field (422), over
/// quota with the numbers (409).
pub async fn submit(db: &DatabaseConnection, engine: &Engine, who: &Principal, input: NewRequest) -> ServiceResult<RequestView> {
    let item = catalog::find_item(db, &input.catalog_item).await?;
    let membership = who
        .groups
        .iter()
        .find(|g| g.name == input.group)
        .ok_or_else(|| ServiceError::Forbidden(format!("you are not a member of the group `{}`", input.group)))?;
    let group_id = membership.group_id;
    let (ent, via) = catalog::entitlement_for(db, group_id, &item)
        .await?
        .ok_or_else(|| ServiceError::Forbidden(format!("the group `{}` is not entitled to the catalog item `{}`", input.group, item.id)))?;
    let lease_days = input.lease_days.unwrap_or(item.lease_default_days);
    let mut errors = Vec::new();
    if lease_days < 1 || lease_days > item.lease_max_days {
        errors.push(FieldError::new("lease_days", format!("must be 1 to {} days for this item", item.lease_max_days)));
    }
    let reason = input.reason.unwrap_or_default().trim().to_string();
    if reason.chars().count() > 1000 {
        errors.push(FieldError::new("reason", "at most 1000 characters"));
    }
    let prepared = match deployments::prepare(db, &item.blueprint_id, item.blueprint_version, &input.inputs, None).await {
        Ok(p) if errors.is_empty() => p,
        Ok(_) => return Err(ServiceError::Invalid(errors)),
        Err(ServiceError::Invalid(mut e)) => {
            e.append(&mut errors);
            return Err(ServiceError::Invalid(e));
        }
        Err(e) => return Err(e),
    };

    // The policy: the first one whose scope and condition match.
    let group_name = input.group.clone();
    let context = json!({
        "request": {"inputs": inputs::to_json(&prepared.bp, &prepared.values, true), "lease_days": lease_days, "group": group_name},
        "requester": {"username": who.username, "is_admin": who.is_admin, "groups": who.groups.iter().map(|g| g.name.clone()).collect::<Vec<_>>()},
        "item": {"id": item.id, "name": item.name, "category": item.category},
    });
    let mut skipped = Vec::new();
    let mut matched: Option<(approval_policy::Model, Value)> = None;
    for p in approval_policy::Entity::find().order_by_asc(approval_policy::Column::Id).all(db).await? {
        let view = catalog::policy_view(p.clone());
        if !view.actions.iter().any(|a| a == "request") {
            continue;
        }
        if let Err(why) = view.scope.covers(&item.id, &item.category, &group_name) {
            skipped.push(json!({"policy": view.name, "reason": why}));
            continue;
        }
        let why = match &view.condition {
            None => json!({"condition": null, "result": true, "why": "no condition: it covers every request in its scope"}),
            Some(c) => match policy::evaluate(c, &context) {
                Ok(true) => json!({"condition": c, "result": true, "why": "the condition is true for this request"}),
                Ok(false) => {
                    skipped.push(json!({"policy": view.name, "reason": format!("its condition `{c}` is false for this request")}));
                    continue;
                }
                // A condition that cannot be evaluated applies: approval is the safe side.
                Err(e) => json!({"condition": c, "result": null, "why": format!("{e}; the policy applies to be safe")}),
            },
        };
        matched = Some((p, why));
        break;
    }

    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let mut levels_explain = Vec::new();
    let (status, policy_id, explain_policy) = match &matched {
        None => (RequestStatus::Approved, None, Value::Null),
        Some((p, why)) => {
            let view = catalog::policy_view(p.clone());
            for (n, level) in view.levels.iter().enumerate() {
                let people = approvers_of(db, level, group_id, &who.username).await?;
                let timeout = match (level.timeout_hours, level.on_timeout) {
                    (Some(h), Some(o)) => Some(format!(
                        "after {h} h without a decision, the level is {}",
                        if o == Outcome::Approve { "approved" } else { "rejected" }
                    )),
                    _ => None,
                };
                levels_explain.push(json!({
                    "level": n + 1,
                    "mode": level.mode,
                    "approvers": people,
                    "approver_rule": level.approvers,
                    "timeout_hours": level.timeout_hours,
                    "on_timeout": level.on_timeout,
                    "on_timeout_text": timeout,
                    "note": if people.is_empty() { Some("nobody can decide this level; it waits for its timeout") } else { None },
                }));
            }
            let mut why = why.clone();
            why["id"] = json!(view.id);
            why["name"] = json!(view.name);
            why["values"] = context.clone();
            (RequestStatus::PendingApproval, Some(view.id), why)
        }
    };

    // Quota: check and reserve in one critical section.
    let _guard = QUOTA_LOCK.lock().await;
    let txn = crate::store::begin(db).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        group::Entity::find_by_id(group_id).lock_exclusive().one(&txn).await?;
    }
    let limits = catalog::limits_of(&txn, group_id).await?;
    let used = usage(&txn, group_id).await?;
    quota::check(used, prepared.need, limits).map_err(ServiceError::OverQuota)?;
    let explain = json!({
        "entitlement": {"id": ent.id, "group": group_name, "via": via},
        "policy": explain_policy,
        "skipped_policies": skipped,
        "levels": levels_explain,
        "auto_approved": matched.is_none(),
        "quota": {"used": used, "requested": prepared.need, "limits": limits},
    });
    let now = Utc::now();
    request::ActiveModel {
        id: Set(id.clone()),
        catalog_item_id: Set(item.id.clone()),
        group_id: Set(group_id),
        requester_id: Set(who.user_id),
        inputs: Set(inputs::to_json(&prepared.bp, &prepared.values, false)),
        lease_days: Set(lease_days),
        reason: Set(reason.clone()),
        status: Set(status.as_str().into()),
        explain: Set(explain),
        policy_id: Set(policy_id),
        level: Set(0),
        level_started_at: Set(Some(now)),
        deployment_id: Set(None),
        error: Set(None),
        holds_quota: Set(true),
        containers: Set(i32::try_from(prepared.need.containers).unwrap_or(i32::MAX)),
        memory_mb: Set(prepared.need.memory_mb),
        cpus: Set(prepared.need.cpus),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    event(&txn, &id, "submitted", format!("{} requested {} for {group_name}", who.username, item.name)).await?;
    match &matched {
        None => event(&txn, &id, "approved", "no approval policy applies: approved at once").await?,
        Some((p, _)) => {
            let first = levels_explain.first().and_then(|l| l["approvers"].as_array().cloned()).unwrap_or_default();
            let names: Vec<&str> = first.iter().filter_map(|v| v.as_str()).collect();
            event(
                &txn,
                &id,
                "pending",
                format!(
                    "policy `{}` applies; level 1 waits on {}",
                    p.name,
                    if names.is_empty() { "nobody (timeout only)".into() } else { names.join(", ") }
                ),
            )
            .await?
        }
    }
    audit::record(
        &txn,
        &who.username,
        "request.submit",
        &format!("request:{id}"),
        json!({"catalog_item": item.id, "group": group_name, "inputs": inputs::to_json(&prepared.bp, &prepared.values, true), "lease_days": lease_days, "status": status.as_str()}),
    )
    .await?;
    txn.commit().await?;
    drop(_guard);
    if status == RequestStatus::Approved {
        engine.wake_requests();
    }
    get_unchecked(db, &id).await
}

/// The requester, the group's managers, admins, and anyone named as an approver of a level.
fn can_see(who: &Principal, r: &request::Model) -> bool {
    let approver = r.explain["levels"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|l| l["approvers"].as_array().into_iter().flatten().any(|a| a.as_str() == Some(who.username.as_str())));
    who.is_admin || r.requester_id == who.user_id || who.manages(r.group_id) || approver
}

async fn find(db: &DatabaseConnection, id: &str) -> ServiceResult<request::Model> {
    request::Entity::find_by_id(id.to_string()).one(db).await?.ok_or_else(|| ServiceError::NotFound(format!("no request `{id}`")))
}

/// A request the caller may see; others get 404, as if it did not exist.
pub async fn get(db: &DatabaseConnection, who: &Principal, id: &str) -> ServiceResult<RequestView> {
    let r = find(db, id).await?;
    if !can_see(who, &r) {
        return Err(ServiceError::NotFound(format!("no request `{id}`")));
    }
    view(db, r).await
}

async fn get_unchecked(db: &DatabaseConnection, id: &str) -> ServiceResult<RequestView> {
    view(db, find(db, id).await?).await
}

/// Who must still decide the current level.
fn waiting_on(r: &request::Model) -> Vec<String> {
    if r.status != "pending_approval" {
        return Vec::new();
    }
    r.explain["levels"][r.level as usize]["approvers"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

async fn view(db: &DatabaseConnection, r: request::Model) -> ServiceResult<RequestView> {
    let item = catalog_item::Entity::find_by_id(r.catalog_item_id.clone()).one(db).await?;
    let requester = user::Entity::find_by_id(r.requester_id).one(db).await?.map(|u| u.username).unwrap_or_default();
    let grp = group::Entity::find_by_id(r.group_id).one(db).await?.map(|g| g.name).unwrap_or_default();
    let decisions: Vec<DecisionView> = request_decision::Entity::find()
        .filter(request_decision::Column::RequestId.eq(&r.id))
        .order_by_asc(request_decision::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|d| DecisionView { level: d.level + 1, approver: d.approver, decision: d.decision, comment: d.comment, at: d.at })
        .collect();
    let decided: Vec<&str> = decisions.iter().filter(|d| d.level == r.level + 1).map(|d| d.approver.as_str()).collect();
    let waiting: Vec<String> = waiting_on(&r).into_iter().filter(|u| !decided.contains(&u.as_str())).collect();
    let events = events_after(db, &r.id, 0).await?;
    let masked = match item.as_ref() {
        Some(i) => match super::blueprints::load(db, &i.blueprint_id, i.blueprint_version).await {
            Ok((bp, _)) => {
                let mut m = r.inputs.clone();
                if let Some(obj) = m.as_object_mut() {
                    for (k, v) in obj.iter_mut() {
                        if bp.input(k).is_some_and(|s| s.secret) {
                            *v = Value::String("********".into());
                        }
                    }
                }
                m
            }
            Err(_) => json!({}),
        },
        None => json!({}),
    };
    Ok(RequestView {
        id: r.id,
        status: r.status,
        catalog_item: r.catalog_item_id,
        catalog_item_name: item.map(|i| i.name).unwrap_or_default(),
        requester,
        group: grp,
        inputs: masked,
        lease_days: r.lease_days,
        reason: r.reason,
        approvals: decisions,
        explain: r.explain,
        waiting_on: waiting,
        level: r.level + 1,
        deployment_id: r.deployment_id,
        error: r.error,
        events,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// A request's status, for the live page (visibility is checked by the caller).
pub async fn status_of(db: &DatabaseConnection, id: &str) -> Option<String> {
    request::Entity::find_by_id(id.to_string()).one(db).await.ok().flatten().map(|r| r.status)
}

pub async fn events_after(db: &DatabaseConnection, request_id: &str, after: i64) -> ServiceResult<Vec<EventView>> {
    Ok(request_event::Entity::find()
        .filter(request_event::Column::RequestId.eq(request_id))
        .filter(request_event::Column::Id.gt(after))
        .order_by_asc(request_event::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|e| EventView { id: e.id, at: e.at, kind: e.kind, message: e.message })
        .collect())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestSummary {
    pub id: String,
    pub status: String,
    pub catalog_item: String,
    pub group_id: i64,
    pub requester_id: i64,
    pub lease_days: i32,
    pub deployment_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Own requests; managers also see their groups'; admins see all.
pub async fn list(db: &DatabaseConnection, who: &Principal, page: PageRequest) -> ServiceResult<Page<RequestSummary>> {
    let mut q = request::Entity::find();
    if !who.is_admin {
        let managed: Vec<i64> = who.groups.iter().filter(|g| g.role == Role::Manager).map(|g| g.group_id).collect();
        q = q.filter(Condition::any().add(request::Column::RequesterId.eq(who.user_id)).add(request::Column::GroupId.is_in(managed)));
    }
    let (rows, total) = page.fetch(db, q.order_by_desc(request::Column::CreatedAt)).await?;
    let items = rows
        .into_iter()
        .map(|r| RequestSummary {
            id: r.id,
            status: r.status,
            catalog_item: r.catalog_item_id,
            group_id: r.group_id,
            requester_id: r.requester_id,
            lease_days: r.lease_days,
            deployment_id: r.deployment_id,
            created_at: r.created_at,
        })
        .collect();
    Ok(page.page_of(items, total))
}

/// Requests waiting on the caller's decision at their current level.
pub async fn inbox(db: &DatabaseConnection, who: &Principal) -> ServiceResult<Vec<RequestView>> {
    let pending = request::Entity::find()
        .filter(request::Column::Status.eq("pending_approval"))
        .order_by_asc(request::Column::CreatedAt)
        .limit(500)
        .all(db)
        .await?;
    let mut out = Vec::new();
    for r in pending {
        if waiting_on(&r).contains(&who.username) {
            let v = view(db, r).await?;
            if v.waiting_on.contains(&who.username) {
                out.push(v);
            }
        }
    }
    Ok(out)
}

/// An approver's decision on the current level.
pub async fn decide(
    db: &DatabaseConnection,
    engine: &Engine,
    who: &Principal,
    id: &str,
    approve: bool,
    comment: &str,
) -> ServiceResult<RequestView> {
    let r = find(db, id).await?;
    if !can_see(who, &r) {
        return Err(ServiceError::NotFound(format!("no request `{id}`")));
    }
    if r.requester_id == who.user_id {
        return Err(ServiceError::Forbidden("nobody approves or rejects their own request".into()));
    }
    let status = RequestStatus::parse(&r.status).unwrap_or(RequestStatus::Failed);
    if status != RequestStatus::PendingApproval {
        return Err(ServiceError::Conflict(format!("the request is {status}; there is nothing to decide")));
    }
    if !waiting_on(&r).contains(&who.username) {
        return Err(ServiceError::Forbidden(format!("you are not an approver of level {} of this request", r.level + 1)));
    }
    if comment.chars().count() > 1000 {
        return Err(ServiceError::invalid("comment", "at most 1000 characters"));
    }
    let already = request_decision::Entity::find()
        .filter(request_decision::Column::RequestId.eq(id))
        .filter(request_decision::Column::Level.eq(r.level))
        .filter(request_decision::Column::Approver.eq(&who.username))
        .one(db)
        .await?;
    if already.is_some() {
        return Err(ServiceError::Conflict(format!("you already decided level {} of this request", r.level + 1)));
    }
    record_decision(db, &r, Some(who.user_id), &who.username, approve, comment).await?;
    engine.wake_requests();
    get_unchecked(db, id).await
}

/// Records one decision and moves the request on: a rejection ends it; an approval ends the
/// level when its mode is satisfied, then the next level waits, or the request is approved.
async fn record_decision(
    db: &DatabaseConnection,
    r: &request::Model,
    approver_id: Option<i64>,
    approver: &str,
    approve: bool,
    comment: &str,
) -> ServiceResult<()> {
    let levels: Vec<Level> = match r.policy_id {
        Some(pid) => approval_policy::Entity::find_by_id(pid).one(db).await?.map(|p| catalog::policy_view(p).levels).unwrap_or_default(),
        None => Vec::new(),
    };
    let level = levels.get(r.level as usize).cloned();
    let txn = crate::store::begin(db).await?;
    // The request must still be where we saw it: a racing decision or timeout wins otherwise.
    let current = request::Entity::find_by_id(r.id.clone()).lock_exclusive_if_pg(&txn).await?;
    let Some(current) = current.filter(|c| c.status == "pending_approval" && c.level == r.level) else {
        return Err(ServiceError::Conflict("the request moved on while you decided".into()));
    };
    let now = Utc::now();
    request_decision::ActiveModel {
        request_id: Set(r.id.clone()),
        level: Set(r.level),
        approver_id: Set(approver_id),
        approver: Set(approver.into()),
        decision: Set(if approve { "approved" } else { "rejected" }.into()),
        comment: Set(comment.into()),
        at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let n = r.level + 1;
    let said = if comment.is_empty() { String::new() } else { format!(": “{comment}”") };
    let mut a: request::ActiveModel = current.clone().into();
    if !approve {
        a.status = Set("rejected".into());
        a.holds_quota = Set(false);
        event(&txn, &r.id, "rejected", format!("{approver} rejected level {n}{said}")).await?;
    } else {
        event(&txn, &r.id, "decision", format!("{approver} approved level {n}{said}")).await?;
        let approvers = waiting_on(&current);
        let approved_by: Vec<String> = request_decision::Entity::find()
            .filter(request_decision::Column::RequestId.eq(&r.id))
            .filter(request_decision::Column::Level.eq(r.level))
            .filter(request_decision::Column::Decision.eq("approved"))
            .all(&txn)
            .await?
            .into_iter()
            .map(|d| d.approver)
            .collect();
        let level_done = match level.as_ref().map(|l| l.mode) {
            Some(Mode::All) if approver != "system" => approvers.iter().all(|p| approved_by.contains(p)),
            _ => true,
        };
        if level_done {
            if (r.level as usize) + 1 < levels.len() {
                a.level = Set(r.level + 1);
                a.level_started_at = Set(Some(now));
                let next: Vec<String> = current.explain["levels"][(r.level + 1) as usize]["approvers"]
                    .as_array()
                    .map(|v| v.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                event(
                    &txn,
                    &r.id,
                    "pending",
                    format!(
                        "level {n} approved; level {} waits on {}",
                        n + 1,
                        if next.is_empty() { "nobody (timeout only)".into() } else { next.join(", ") }
                    ),
                )
                .await?;
            } else {
                a.status = Set("approved".into());
                event(&txn, &r.id, "approved", format!("level {n} approved: the request is approved")).await?;
            }
        } else {
            let missing: Vec<&String> = approvers.iter().filter(|p| !approved_by.contains(p)).collect();
            event(
                &txn,
                &r.id,
                "pending",
                format!(
                    "level {n} needs every approver; still waiting on {}",
                    missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )
            .await?;
        }
    }
    a.updated_at = Set(now);
    a.update(&txn).await?;
    audit::record(
        &txn,
        approver,
        if approve { "request.approve" } else { "request.reject" },
        &format!("request:{}", r.id),
        json!({"level": n, "comment": comment}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The requester cancels, until provisioning starts.
pub async fn cancel(db: &DatabaseConnection, who: &Principal, id: &str) -> ServiceResult<RequestView> {
    let r = find(db, id).await?;
    if !can_see(who, &r) {
        return Err(ServiceError::NotFound(format!("no request `{id}`")));
    }
    if r.requester_id != who.user_id && !who.is_admin {
        return Err(ServiceError::Forbidden("only the requester (or an admin) can cancel a request".into()));
    }
    let status = RequestStatus::parse(&r.status).unwrap_or(RequestStatus::Failed);
    status.cancel().map_err(|e| ServiceError::Conflict(e.to_string()))?;
    let txn = crate::store::begin(db).await?;
    let res = request::Entity::update_many()
        .col_expr(request::Column::Status, Expr::value("cancelled"))
        .col_expr(request::Column::HoldsQuota, Expr::value(false))
        .col_expr(request::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(request::Column::Id.eq(id))
        .filter(request::Column::Status.is_in(["pending_approval", "approved"]))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(ServiceError::Conflict("provisioning has started: the request can no longer be cancelled".into()));
    }
    event(&txn, id, "cancelled", format!("{} cancelled the request", who.username)).await?;
    audit::record(&txn, &who.username, "request.cancel", &format!("request:{id}"), json!({})).await?;
    txn.commit().await?;
    get_unchecked(db, id).await
}

// ----- the scheduler ------------------------------------------------------------------------

/// Runs forever: times levels out, starts approved requests, follows their deployments.
pub async fn run_scheduler(db: DatabaseConnection, engine: Engine) {
    loop {
        if let Err(e) = tick(&db, &engine).await {
            tracing::error!(error = %e, "request scheduler");
        }
        engine.requests_waited(Duration::from_secs(1)).await;
    }
}

pub async fn tick(db: &DatabaseConnection, engine: &Engine) -> ServiceResult<()> {
    let now = Utc::now();
    // Timeouts.
    for r in request::Entity::find().filter(request::Column::Status.eq("pending_approval")).all(db).await? {
        let Some(pid) = r.policy_id else { continue };
        let Some(p) = approval_policy::Entity::find_by_id(pid).one(db).await? else { continue };
        let Some(level) = catalog::policy_view(p).levels.get(r.level as usize).cloned() else { continue };
        let (Some(hours), Some(outcome), Some(started)) = (level.timeout_hours, level.on_timeout, r.level_started_at) else { continue };
        let due = started + chrono::Duration::milliseconds((hours * 3_600_000.0) as i64);
        if now >= due {
            let comment = format!(
                "no decision within {hours} h: {} by the policy",
                if outcome == Outcome::Approve { "approved" } else { "rejected" }
            );
            match record_decision(db, &r, None, "system", outcome == Outcome::Approve, &comment).await {
                Ok(()) | Err(ServiceError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    // Approved: becomes a deployment, once (the status changes in the same transaction).
    for r in request::Entity::find().filter(request::Column::Status.eq("approved")).all(db).await? {
        start(db, engine, r).await?;
    }
    // Provisioning and succeeded: follow the deployment.
    for r in request::Entity::find()
        .filter(
            Condition::any()
                .add(request::Column::Status.eq("provisioning"))
                .add(Condition::all().add(request::Column::Status.eq("succeeded")).add(request::Column::HoldsQuota.eq(true))),
        )
        .all(db)
        .await?
    {
        let Some(did) = &r.deployment_id else { continue };
        let Some(d) = deployment::Entity::find_by_id(did.clone()).one(db).await? else { continue };
        let (to, holds, kind, message) = match (r.status.as_str(), d.status.as_str()) {
            ("provisioning", "running") => ("succeeded", true, "succeeded", format!("deployment {} is running", d.name)),
            ("provisioning", "failed") => {
                ("failed", false, "failed", format!("provisioning failed: {}", d.error.clone().unwrap_or_default()))
            }
            ("succeeded", "destroyed") => {
                ("succeeded", false, "released", "the deployment was destroyed; its quota is released".to_string())
            }
            _ => continue,
        };
        let txn = crate::store::begin(db).await?;
        let res = request::Entity::update_many()
            .col_expr(request::Column::Status, Expr::value(to))
            .col_expr(request::Column::HoldsQuota, Expr::value(holds))
            .col_expr(request::Column::Error, Expr::value(if to == "failed" { d.error.clone() } else { None }))
            .col_expr(request::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(request::Column::Id.eq(&r.id))
            .filter(request::Column::Status.eq(&r.status))
            .filter(request::Column::HoldsQuota.eq(true))
            .exec(&txn)
            .await?;
        if res.rows_affected == 1 {
            event(&txn, &r.id, kind, message).await?;
        }
        txn.commit().await?;
    }
    // Failed deployments keep no quota either (status failed already set holds_quota false).
    Ok(())
}

async fn start(db: &DatabaseConnection, engine: &Engine, r: request::Model) -> ServiceResult<()> {
    let item = catalog::find_item(db, &r.catalog_item_id).await?;
    let given = r.inputs.as_object().cloned().unwrap_or_default();
    let p = match deployments::prepare(db, &item.blueprint_id, item.blueprint_version, &given, None).await {
        Ok(p) => p,
        Err(e) => {
            // Cannot happen for inputs checked at submission, unless the blueprint went away.
            let txn = crate::store::begin(db).await?;
            request::Entity::update_many()
                .col_expr(request::Column::Status, Expr::value("failed"))
                .col_expr(request::Column::HoldsQuota, Expr::value(false))
                .col_expr(request::Column::Error, Expr::value(Some(e.to_string())))
                .filter(request::Column::Id.eq(&r.id))
                .filter(request::Column::Status.eq("approved"))
                .exec(&txn)
                .await?;
            event(&txn, &r.id, "failed", format!("cannot start provisioning: {e}")).await?;
            txn.commit().await?;
            return Ok(());
        }
    };
    let host_selector: BTreeMap<String, String> = serde_json::from_value(item.host_selector.clone()).unwrap_or_default();
    let origin = Origin {
        host_selector,
        owner_id: Some(r.requester_id),
        group_id: Some(r.group_id),
        catalog_item: Some(item.id.clone()),
        request_id: Some(r.id.clone()),
        lease_days: Some(r.lease_days),
    };
    let txn = crate::store::begin(db).await?;
    let res = request::Entity::update_many()
        .col_expr(request::Column::Status, Expr::value("provisioning"))
        .col_expr(request::Column::DeploymentId, Expr::value(Some(p.id.clone())))
        .col_expr(request::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(request::Column::Id.eq(&r.id))
        .filter(request::Column::Status.eq("approved"))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Ok(()); // another replica started it, or it was cancelled
    }
    deployments::insert(&txn, &p, &origin).await?;
    event(&txn, &r.id, "provisioning", format!("provisioning deployment {}", p.name)).await?;
    audit::record(
        &txn,
        audit::SYSTEM,
        "deployment.create",
        &format!("deployment:{}", p.id),
        json!({"request": r.id, "catalog_item": item.id}),
    )
    .await?;
    txn.commit().await?;
    engine.wake();
    Ok(())
}

trait LockIfPg {
    async fn lock_exclusive_if_pg(self, txn: &sea_orm::DatabaseTransaction) -> Result<Option<request::Model>, sea_orm::DbErr>;
}

impl LockIfPg for sea_orm::Select<request::Entity> {
    async fn lock_exclusive_if_pg(self, txn: &sea_orm::DatabaseTransaction) -> Result<Option<request::Model>, sea_orm::DbErr> {
        if txn.get_database_backend() == DbBackend::Postgres { self.lock_exclusive().one(txn).await } else { self.one(txn).await }
    }
}
