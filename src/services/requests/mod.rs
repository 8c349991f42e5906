//! The self-service loop: `submit` (entitlement, inputs, quota, policy), `decide` (level by
//! level, and cancel), the `scheduler` that turns approved requests into deployments, and the
//! views of requests shared by the pages and the API.
mod approvers;
pub mod day2;
mod decide;
pub mod feed;
pub mod scheduler;
mod submit;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use serde_json::Value;

pub use day2::{ActionInput, submit_action};
pub use decide::{cancel, decide, decide_level};
pub use submit::{NewRequest, submit};

use super::{Context, Page, PageRequest, ServiceError, ServiceResult, blueprints};
use crate::auth::Principal;
use crate::domain::Role;
use crate::domain::blueprint::inputs;
use crate::domain::policy::Explain;
use crate::domain::states::{Day2Action, Decision, RequestKind, RequestStatus, TimelineKind};
use crate::store::entities::{catalog_item, group, request, request_decision, request_event, user};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DecisionView {
    pub level: i32,
    pub approver: String,
    pub decision: Decision,
    pub comment: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: TimelineKind,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestView {
    pub id: String,
    pub status: RequestStatus,
    /// `catalog`, or `day2` for an action on a deployment.
    pub kind: RequestKind,
    /// A day-2 request's action (its parameters are `inputs`; its deployment `deployment_id`).
    pub action: Option<Day2Action>,
    pub catalog_item: String,
    pub catalog_item_name: String,
    pub requester: String,
    pub group: String,
    /// The inputs, secrets masked.
    #[schema(value_type = Object)]
    pub inputs: Value,
    pub lease_days: i32,
    pub reason: String,
    pub approvals: Vec<DecisionView>,
    pub explain: Explain,
    /// Who must decide now (for a pending request).
    pub waiting_on: Vec<String>,
    pub level: i32,
    pub deployment_id: Option<String>,
    pub error: Option<String>,
    pub events: Vec<EventView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestSummary {
    pub id: String,
    pub status: RequestStatus,
    pub catalog_item: String,
    pub group_id: i64,
    pub requester_id: i64,
    pub lease_days: i32,
    pub deployment_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Adds an entry to a request's timeline, in the caller's transaction, with the notifications
/// it means (`notify::on_timeline`): write the request's row first, so that they see where it
/// is now.
async fn timeline(
    db: &impl ConnectionTrait,
    request_id: &str,
    kind: TimelineKind,
    message: impl Into<String>,
) -> Result<(), sea_orm::DbErr> {
    let message = message.into();
    timeline_quiet(db, request_id, kind, &message).await?;
    crate::services::notify::on_timeline(db, request_id, kind, &message).await
}

/// An entry that notifies nobody (an approver of an every-approver level approved: the others
/// were told when the level began).
async fn timeline_quiet(db: &impl ConnectionTrait, request_id: &str, kind: TimelineKind, message: &str) -> Result<(), sea_orm::DbErr> {
    request_event::ActiveModel {
        request_id: Set(request_id.into()),
        at: Set(Utc::now()),
        kind: Set(kind),
        message: Set(message.to_string()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Who may decide the current level of `r` now, by name (see `approvers::waiting_on`).
pub(crate) async fn approvers_now(db: &impl ConnectionTrait, r: &request::Model) -> Result<Vec<String>, sea_orm::DbErr> {
    approvers::waiting_on(db, r).await
}

/// Who the current level of `r` still waits on: its approvers now, less those who decided it.
pub(crate) async fn undecided(db: &impl ConnectionTrait, r: &request::Model) -> Result<Vec<String>, sea_orm::DbErr> {
    let decided: Vec<String> = request_decision::Entity::find()
        .filter(request_decision::Column::RequestId.eq(&r.id))
        .filter(request_decision::Column::Level.eq(r.level))
        .all(db)
        .await?
        .into_iter()
        .map(|d| d.approver)
        .collect();
    Ok(approvers::waiting_on(db, r).await?.into_iter().filter(|u| !decided.contains(u)).collect())
}

/// What a new request's timeline says of its policy: approved at once when none applies, else
/// whom level 1 waits on. Shared by catalog and day-2 submissions.
async fn policy_timeline(
    db: &impl ConnectionTrait,
    id: &str,
    selection: &crate::domain::policy::select::Selection<'_>,
    explain: &Explain,
) -> Result<(), sea_orm::DbErr> {
    match &selection.chosen {
        None => timeline(db, id, TimelineKind::Approved, "no approval policy applies: approved at once").await,
        Some((p, _)) => {
            let first = explain.levels.first().map(crate::domain::policy::explain::LevelExplain::who).unwrap_or_default();
            timeline(db, id, TimelineKind::Pending, format!("policy `{}` applies; level 1 waits on {first}", p.name)).await
        }
    }
}

/// The requester, the group's managers and admins (today's), and anyone a level's rule names.
pub(crate) fn can_see(who: &Principal, r: &request::Model) -> bool {
    who.is_admin
        || r.requester_id == who.user_id
        || who.manages(r.group_id)
        || r.explain.levels.iter().any(|l| l.approver_rule.users.iter().any(|u| u.eq_ignore_ascii_case(&who.username)))
}

async fn find(db: &DatabaseConnection, id: &str) -> ServiceResult<request::Model> {
    request::Entity::find_by_id(id.to_string()).one(db).await?.ok_or_else(|| ServiceError::NotFound(format!("no request `{id}`")))
}

/// A request the caller may see; others get 404, as if it did not exist.
pub async fn get(ctx: &Context, who: &Principal, id: &str) -> ServiceResult<RequestView> {
    let r = find(&ctx.db, id).await?;
    if !can_see(who, &r) {
        return Err(ServiceError::NotFound(format!("no request `{id}`")));
    }
    Ok(for_viewer(view(ctx, r).await?, who))
}

/// What a viewer sees: the engine's network details (addresses in errors and timeline
/// messages) are for admins only.
pub fn for_viewer(mut v: RequestView, who: &Principal) -> RequestView {
    if !who.is_admin {
        v.error = v.error.map(|e| crate::domain::redact_addresses(&e));
        for e in &mut v.events {
            e.message = crate::domain::redact_addresses(&e.message);
        }
    }
    v
}

async fn get_unchecked(ctx: &Context, id: &str) -> ServiceResult<RequestView> {
    view(ctx, find(&ctx.db, id).await?).await
}

async fn view(ctx: &Context, r: request::Model) -> ServiceResult<RequestView> {
    let db = &ctx.db;
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
    let waiting: Vec<String> = approvers::waiting_on(db, &r).await?.into_iter().filter(|u| !decided.contains(&u.as_str())).collect();
    let events = events_after(db, &r.id, 0).await?;
    // Secrets are masked for display: the blueprint says which inputs are secret.
    let masked = match item.as_ref() {
        // A day-2 request's inputs are its parameters (component, days, replicas): no secret.
        _ if r.kind == RequestKind::Day2 => Value::Object(r.inputs.to_json_map()),
        // The version the request was checked with (older requests: the item's).
        Some(i) => match blueprints::load(ctx, &i.blueprint_id, r.blueprint_version.or(i.blueprint_version)).await {
            Ok((bp, _)) => inputs::masked(&bp, &r.inputs.0),
            Err(_) => Value::Object(Default::default()),
        },
        None => Value::Object(Default::default()),
    };
    Ok(RequestView {
        id: r.id,
        status: r.status,
        kind: r.kind,
        action: r.action,
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

/// Whether request `id` is about deployment `deployment_id` and `who` may see it (for the
/// deployment's live history).
pub async fn is_about(db: &DatabaseConnection, who: &Principal, id: &str, deployment_id: &str) -> ServiceResult<bool> {
    Ok(request::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .is_some_and(|r| r.deployment_id.as_deref() == Some(deployment_id) && can_see(who, &r)))
}

/// A request's status now, and its deployment once it has one, for the live page (visibility
/// is checked by the caller); `None` if there is no such request.
pub async fn status_of(db: &DatabaseConnection, id: &str) -> ServiceResult<Option<(RequestStatus, Option<String>)>> {
    Ok(request::Entity::find_by_id(id.to_string()).one(db).await?.map(|r| (r.status, r.deployment_id)))
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

/// Requests waiting on the caller's decision at their current level, oldest first, a page at
/// a time (the views, which cost several reads each, are built for the page only).
pub async fn inbox(ctx: &Context, who: &Principal, page: PageRequest) -> ServiceResult<Page<RequestView>> {
    let pending = request::Entity::find()
        .filter(request::Column::Status.eq(RequestStatus::PendingApproval))
        .order_by_asc(request::Column::CreatedAt)
        .all(&ctx.db)
        .await?;
    let mut mine = Vec::new();
    for r in pending {
        if approvers::waiting_on(&ctx.db, &r).await?.contains(&who.username) {
            let decided = request_decision::Entity::find()
                .filter(request_decision::Column::RequestId.eq(&r.id))
                .filter(request_decision::Column::Level.eq(r.level))
                .filter(request_decision::Column::Approver.eq(&who.username))
                .one(&ctx.db)
                .await?
                .is_some();
            if !decided {
                mine.push(r);
            }
        }
    }
    let total = mine.len() as u64;
    let skip = usize::try_from((page.page - 1).saturating_mul(page.per_page)).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    for r in mine.into_iter().skip(skip).take(page.per_page as usize) {
        out.push(for_viewer(view(ctx, r).await?, who));
    }
    Ok(page.page_of(out, total))
}
