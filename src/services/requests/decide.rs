//! Decisions on a request, level by level, and its cancellation by the requester. A decision
//! is recorded only while the request is still where the approver saw it.
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QuerySelect, Set};
use serde_json::json;

use super::{RequestView, approvers, can_see, find, get_unchecked, timeline};
use crate::auth::Principal;
use crate::domain::policy::Mode;
use crate::domain::states::{Decision, RequestEvent, RequestKind, RequestStatus, TimelineKind};
use crate::services::{Context, ServiceError, ServiceResult, audit};
use crate::store::entities::{request, request_decision, user};

/// An approver's decision on the current level.
pub async fn decide(ctx: &Context, who: &Principal, id: &str, approve: bool, comment: &str) -> ServiceResult<RequestView> {
    decide_level(ctx, who, id, None, approve, comment).await
}

/// `decide`, refused unless the current level is `level` (from 0) when one is given: an
/// approve link decides the level it was sent for, never the next one.
pub async fn decide_level(
    ctx: &Context,
    who: &Principal,
    id: &str,
    level: Option<i32>,
    approve: bool,
    comment: &str,
) -> ServiceResult<RequestView> {
    let db = &ctx.db;
    let r = find(db, id).await?;
    if !can_see(who, &r) {
        return Err(ServiceError::NotFound(format!("no request `{id}`")));
    }
    if let Some(l) = level
        && (r.level != l || r.status != RequestStatus::PendingApproval)
    {
        return Err(ServiceError::Conflict(format!("level {} of this request is over: it is {} now", l + 1, r.status.label())));
    }
    if r.requester_id == who.user_id {
        return Err(ServiceError::Forbidden("nobody approves or rejects their own request".into()));
    }
    r.status.next(if approve { RequestEvent::Approve } else { RequestEvent::Reject }).map_err(|e| ServiceError::Conflict(e.to_string()))?;
    if !approvers::waiting_on(db, &r).await?.contains(&who.username) {
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
    ctx.signals.timeline_written();
    let view = get_unchecked(ctx, id).await?;
    if view.status == RequestStatus::Approved && r.kind == RequestKind::Catalog {
        super::scheduler::hand_off(ctx, id.to_string());
    } else {
        ctx.signals.request_moved();
    }
    Ok(super::for_viewer(view, who))
}

/// Records one decision and moves the request on: a rejection ends it; an approval ends the
/// level when its mode is satisfied, then the next level waits, or the request is approved.
pub(super) async fn record_decision(
    db: &DatabaseConnection,
    r: &request::Model,
    approver_id: Option<i64>,
    approver: &str,
    approve: bool,
    comment: &str,
) -> ServiceResult<()> {
    // The levels the request was submitted under (its policy may have changed or gone since).
    let levels: Vec<_> = r.explain.levels.iter().map(|l| l.rule()).collect();
    let level = levels.get(r.level as usize).cloned();
    let txn = crate::store::begin(db).await?;
    // The request must still be where we saw it: a racing decision or timeout wins otherwise.
    let current = lock_if_pg(request::Entity::find_by_id(r.id.clone()), &txn).await?;
    let Some(current) = current.filter(|c| c.status == RequestStatus::PendingApproval && c.level == r.level) else {
        return Err(ServiceError::Conflict("the request moved on while you decided".into()));
    };
    // Once per approver and level, checked again under the lock (two tabs, a link and the page):
    // the unique index is the last word.
    let already = ServiceError::Conflict(format!("you already decided level {} of this request", r.level + 1));
    let decided = request_decision::Entity::find()
        .filter(request_decision::Column::RequestId.eq(&r.id))
        .filter(request_decision::Column::Level.eq(r.level))
        .filter(request_decision::Column::Approver.eq(approver))
        .one(&txn)
        .await?;
    if decided.is_some() {
        return Err(already);
    }
    let now = Utc::now();
    let inserted = request_decision::ActiveModel {
        request_id: Set(r.id.clone()),
        level: Set(r.level),
        approver_id: Set(approver_id),
        approver: Set(approver.into()),
        decision: Set(Decision::of(approve)),
        comment: Set(comment.into()),
        at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => return Err(already),
        Err(e) => return Err(e.into()),
    }
    let n = r.level + 1;
    let said = if comment.is_empty() { String::new() } else { format!(": “{comment}”") };
    let mut a: request::ActiveModel = current.clone().into();
    // The timeline's entries are written once the row says where the request is now: the
    // notifications they mean read it. A level that timed out tells its approvers too.
    let mut entries: Vec<(TimelineKind, String, bool)> = Vec::new();
    let timed_out_level = if approver_id.is_none() {
        let names = approvers::waiting_on(&txn, &current).await?;
        user::Entity::find().filter(user::Column::Username.is_in(names)).all(&txn).await?.into_iter().map(|u| u.id).collect()
    } else {
        Vec::new()
    };
    if !approve {
        a.status = Set(current.status.next(RequestEvent::Reject).map_err(|e| ServiceError::Conflict(e.to_string()))?);
        a.holds_quota = Set(false);
        entries.push((TimelineKind::Rejected, format!("{approver} rejected level {n}{said}"), true));
    } else {
        entries.push((TimelineKind::Decision, format!("{approver} approved level {n}{said}"), true));
        let approvers = approvers::waiting_on(&txn, &current).await?;
        let approved_by: Vec<String> = request_decision::Entity::find()
            .filter(request_decision::Column::RequestId.eq(&r.id))
            .filter(request_decision::Column::Level.eq(r.level))
            .filter(request_decision::Column::Decision.eq(Decision::Approved))
            .all(&txn)
            .await?
            .into_iter()
            .map(|d| d.approver)
            .collect();
        let level_done = match level.as_ref().map(|l| l.mode) {
            // A level's timeout decides it alone (no user does); the decider is told by its
            // id, not by a name, which an account could take.
            Some(Mode::All) if approver_id.is_some() => approvers.iter().all(|p| approved_by.contains(p)),
            _ => true,
        };
        if !level_done {
            let missing: Vec<&str> = approvers.iter().filter(|p| !approved_by.contains(p)).map(String::as_str).collect();
            entries.push((
                TimelineKind::Pending,
                format!("level {n} needs every approver; still waiting on {}", missing.join(", ")),
                false,
            ));
        } else if (r.level as usize) + 1 < levels.len() {
            a.level = Set(r.level + 1);
            a.level_started_at = Set(Some(now));
            let next = current.explain.levels.get((r.level + 1) as usize).map(|l| l.who()).unwrap_or_default();
            entries.push((TimelineKind::Pending, format!("level {n} approved; level {} waits on {next}", n + 1), true));
        } else {
            a.status = Set(current.status.next(RequestEvent::Approve).map_err(|e| ServiceError::Conflict(e.to_string()))?);
            entries.push((TimelineKind::Approved, format!("level {n} approved: the request is approved"), true));
        }
    }
    a.updated_at = Set(now);
    a.update(&txn).await?;
    for (kind, message, notifies) in entries {
        if notifies {
            timeline(&txn, &r.id, kind, message).await?;
        } else {
            super::timeline_quiet(&txn, &r.id, kind, &message).await?;
        }
    }
    if approver_id.is_none() {
        crate::services::notify::level_timed_out(&txn, &r.id, approve, &format!("level {n}: {comment}"), &timed_out_level).await?;
    }
    let action = if approve { "request.approve" } else { "request.reject" };
    audit::record(&txn, approver, action, &format!("request:{}", r.id), json!({"level": n, "comment": comment})).await?;
    txn.commit().await?;
    Ok(())
}

/// The requester (or an admin) cancels, until provisioning starts.
pub async fn cancel(ctx: &Context, who: &Principal, id: &str) -> ServiceResult<RequestView> {
    let db = &ctx.db;
    let r = find(db, id).await?;
    if !can_see(who, &r) {
        return Err(ServiceError::NotFound(format!("no request `{id}`")));
    }
    if r.requester_id != who.user_id && !who.is_admin {
        return Err(ServiceError::Forbidden("only the requester (or an admin) can cancel a request".into()));
    }
    let to = r.status.next(RequestEvent::Cancel).map_err(|e| ServiceError::Conflict(e.to_string()))?;
    let txn = crate::store::begin(db).await?;
    let res = request::Entity::update_many()
        .col_expr(request::Column::Status, Expr::value(to))
        .col_expr(request::Column::HoldsQuota, Expr::value(false))
        .col_expr(request::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(request::Column::Id.eq(id))
        .filter(request::Column::Status.is_in(RequestStatus::CANCELLABLE.iter().copied()))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(ServiceError::Conflict("provisioning has started: the request can no longer be cancelled".into()));
    }
    timeline(&txn, id, TimelineKind::Cancelled, format!("{} cancelled the request", who.username)).await?;
    audit::record(&txn, &who.username, "request.cancel", &format!("request:{id}"), json!({})).await?;
    txn.commit().await?;
    ctx.signals.timeline_written();
    Ok(super::for_viewer(get_unchecked(ctx, id).await?, who))
}

/// On PostgreSQL the row is locked until the transaction ends; SQLite's write lock is taken
/// by `store::begin` already.
async fn lock_if_pg(
    q: sea_orm::Select<request::Entity>,
    txn: &sea_orm::DatabaseTransaction,
) -> Result<Option<request::Model>, sea_orm::DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres { q.lock_exclusive().one(txn).await } else { q.one(txn).await }
}
