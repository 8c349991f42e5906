//! Day-2 requests: an action on a deployment (start, stop, restart, destroy, extend_lease,
//! scale, retry) is a request like a catalog one — entitlement, approval policies (those whose
//! `actions` name it), inbox, timeline and audit — with `kind` = `day2`, its `action`, the
//! `deployment_id` it acts on and its parameters as `inputs`. Refusals are said before anything
//! is stored: not visible (404), not entitled (403), bad parameters (422), a state, a lease cap or
//! a quota that does not allow it (409). Once approved, the scheduler carries it out (`start`):
//! one action at a time per deployment, its state checked again; the engine's job for it is
//! followed to the end (`follow`).
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::json;

use super::{RequestView, approvers, get_unchecked, timeline};
use crate::auth::Principal;
use crate::domain::blueprint::InputValue;
use crate::domain::blueprint::inputs::StoredInputs;
use crate::domain::lifecycle;
use crate::domain::policy::explain::{EntitlementReason, Explain, LevelExplain, QuotaCheck};
use crate::domain::policy::select::{
    self, ActionFacts, Context as PolicyContext, DeploymentFacts, ItemFacts, RequestFacts, RequesterFacts,
};
use crate::domain::quota::{self, Amount};
use crate::domain::states::{
    Day2Action, DeploymentEvent, DeploymentEventKind, DeploymentStatus, JobStatus, RequestKind, RequestStatus, TimelineKind,
};
use crate::engine::queue;
use crate::services::deployments;
use crate::services::{Context, FieldError, ServiceError, ServiceResult, audit, catalog};
use crate::store::deployments::Moved;
use crate::store::entities::{deployment, group, job, request, user};

/// An action as asked for (the API body, a page's form).
#[derive(Debug, Clone, Default)]
pub struct ActionInput {
    pub action: String,
    pub component: Option<String>,
    pub days: Option<i64>,
    pub replicas: Option<i64>,
    pub reason: Option<String>,
}

/// The action parsed, with its parameters checked against the deployment.
struct Checked {
    component: Option<String>,
    days: Option<i64>,
    replicas: Option<i64>,
    /// For a scale: what the deployment will hold, and the change.
    scaled: Option<(Amount, Amount)>,
}

fn parse_action(raw: &str) -> ServiceResult<Day2Action> {
    match raw.trim() {
        "logs" | "console" => {
            Err(ServiceError::invalid("action", format!("`{}` is a permission, not an action: open it from the deployment", raw.trim())))
        }
        s => s.parse().map_err(|e: crate::domain::states::UnknownWord| ServiceError::invalid("action", e.to_string())),
    }
}

/// Whether `who` may ask for `action` on `d`: admins on any deployment; on a deployment of a
/// catalog item, its owner and its group's managers when the group's entitlement for the item
/// lists the action (a retry needs no entitlement: it finishes the first request). A deployment
/// an admin made from a blueprint takes actions from admins only.
async fn may_act(ctx: &Context, who: &Principal, d: &deployment::Model, action: Day2Action) -> ServiceResult<EntitlementReason> {
    entitled(ctx, who, d, action.as_str(), action == Day2Action::Retry).await
}

/// Whether `who` may use `action` (a day-2 action, or the `logs` and `console` permissions) on
/// `d`, by the same rule as [`may_act`]; `free` actions need no entitlement (a retry).
pub(crate) async fn entitled(
    ctx: &Context,
    who: &Principal,
    d: &deployment::Model,
    action: &str,
    free: bool,
) -> ServiceResult<EntitlementReason> {
    let group_name = match d.group_id {
        Some(g) => group::Entity::find_by_id(g).one(&ctx.db).await?.map(|g| g.name).unwrap_or_default(),
        None => String::new(),
    };
    if who.is_admin {
        return Ok(EntitlementReason { id: 0, group: group_name, via: "an admin may act on any deployment".into() });
    }
    let (Some(item_id), Some(g)) = (&d.catalog_item_id, d.group_id) else {
        return Err(ServiceError::Forbidden("this deployment was made from a blueprint by an admin: only admins act on it".into()));
    };
    let owner_in_group = d.owner_id == Some(who.user_id) && who.groups.iter().any(|m| m.group_id == g);
    if !owner_in_group && !who.manages(g) {
        return Err(ServiceError::Forbidden(
            "only the deployment's owner (while a member of its group), its group's managers and admins act on it".into(),
        ));
    }
    let item = catalog::find_item(&ctx.db, item_id).await?;
    if free {
        return Ok(EntitlementReason {
            id: 0,
            group: group_name,
            via: format!("the owner or a manager retries a failed deployment of {}", item.id),
        });
    }
    let Some((ent, via)) = catalog::entitlement_for(&ctx.db, g, &item).await? else {
        return Err(ServiceError::Forbidden(format!("the group `{group_name}` is no longer entitled to `{}`", item.id)));
    };
    if !catalog::action_allowed(&ctx.db, g, &item, action).await? {
        return Err(ServiceError::Forbidden(format!("your group's entitlement does not allow `{action}` on deployments of `{}`", item.id)));
    }
    Ok(EntitlementReason { id: ent.id, group: group_name, via: format!("action {action} on {via}") })
}

/// The parameters an action takes, checked (422), then the state, lease and scaling rules (409).
async fn check(ctx: &Context, d: &deployment::Model, input: &ActionInput, action: Day2Action) -> ServiceResult<Checked> {
    let mut errors = Vec::new();
    let takes = |name: &str| match action {
        Day2Action::Start | Day2Action::Stop | Day2Action::Restart => name == "component",
        Day2Action::Scale => name == "component" || name == "replicas",
        Day2Action::ExtendLease => name == "days",
        Day2Action::Destroy | Day2Action::Retry => false,
    };
    for (name, given) in [("component", input.component.is_some()), ("days", input.days.is_some()), ("replicas", input.replicas.is_some())]
    {
        if given && !takes(name) {
            errors.push(FieldError::new(name, format!("`{action}` takes no `{name}`")));
        }
    }
    if action == Day2Action::ExtendLease && !input.days.is_some_and(|d| (1..=3650).contains(&d)) {
        errors.push(FieldError::new("days", "the number of days to extend by, 1 to 3650"));
    }
    if action == Day2Action::Scale {
        if input.component.is_none() {
            errors.push(FieldError::new("component", "the component to scale"));
        }
        if input.replicas.is_none_or(|r| r < 0) {
            errors.push(FieldError::new("replicas", "the number of replicas wanted"));
        }
    }
    if input.reason.as_deref().is_some_and(|r| r.chars().count() > 1000) {
        errors.push(FieldError::new("reason", "at most 1000 characters"));
    }
    let component = input.component.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(str::to_string);
    let (bp, _) = crate::services::blueprints::load(ctx, &d.blueprint_id, Some(d.blueprint_version)).await?;
    if let Some(c) = &component
        && bp.component(c).is_none()
    {
        let names: Vec<&str> = bp.components.iter().map(|c| c.name.as_str()).collect();
        errors.push(FieldError::new("component", format!("the deployment has no component `{c}`; it has {}", names.join(", "))));
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    action.allowed_in(d.status).map_err(|e| ServiceError::Conflict(e.to_string()))?;
    if action == Day2Action::ExtendLease {
        if d.lease_expires_at.is_none() {
            return Err(ServiceError::Conflict("this deployment has no lease to extend (an admin can set one)".into()));
        }
        lifecycle::extended(d.lease_expires_at, input.days.unwrap_or(0), d.lease_max_expires_at, Utc::now())
            .map_err(ServiceError::Conflict)?;
    }
    let mut scaled = None;
    if action == Day2Action::Scale {
        let c = component.clone().unwrap_or_default();
        let wanted = input.replicas.unwrap_or(0);
        let spec = lifecycle::scaling_input(&bp, &c).map_err(ServiceError::Conflict)?;
        let (min, max) = (spec.min.unwrap_or(1).max(0), spec.max.unwrap_or(i64::MAX));
        if wanted < min || wanted > max {
            return Err(ServiceError::invalid("replicas", format!("`{c}` runs {min} to {max} replicas")));
        }
        let opened = ctx.sealer.open_inputs(&bp, &d.inputs).map_err(|e| ServiceError::Conflict(format!("the deployment's inputs: {e}")))?;
        if opened.0.get(&spec.name) == Some(&InputValue::Integer(wanted)) {
            return Err(ServiceError::Conflict(format!("`{c}` already runs {wanted} replicas")));
        }
        let mut given = opened.to_json_map();
        given.insert(spec.name.clone(), json!(wanted));
        let p =
            deployments::prepare(ctx, &d.blueprint_id, Some(d.blueprint_version), &given, Some(&d.name)).await.map_err(|e| match e {
                ServiceError::Invalid(_) => ServiceError::invalid("replicas", format!("{wanted} replicas do not fit the blueprint: {e}")),
                e => e,
            })?;
        let now = Amount { containers: i64::from(d.containers), memory_mb: d.memory_mb, cpus: d.cpus };
        let change = Amount {
            containers: p.need.containers - now.containers,
            memory_mb: p.need.memory_mb - now.memory_mb,
            cpus: p.need.cpus - now.cpus,
        };
        scaled = Some((p.need, change));
    }
    Ok(Checked { component, days: input.days, replicas: input.replicas, scaled })
}

/// Asks for an action on a deployment: checked, then stored as a day-2 request that waits on
/// its policy's approvers or is approved at once.
pub async fn submit_action(ctx: &Context, who: &Principal, deployment_id: &str, input: ActionInput) -> ServiceResult<RequestView> {
    let db = &ctx.db;
    let action = parse_action(&input.action)?;
    let d = deployment::Entity::find_by_id(deployment_id.to_string())
        .one(db)
        .await?
        .filter(|d| deployments::visible(who, d.owner_id, d.group_id))
        .ok_or_else(|| ServiceError::NotFound(format!("no deployment `{deployment_id}`")))?;
    let entitlement = may_act(ctx, who, &d, action).await?;
    let checked = check(ctx, &d, &input, action).await?;
    let item = match &d.catalog_item_id {
        Some(i) => catalog::find_item(db, i).await.ok(),
        None => None,
    };
    let owner = match d.owner_id {
        Some(u) => user::Entity::find_by_id(u).one(db).await?.map(|u| u.username),
        None => None,
    };
    let context = PolicyContext {
        request: RequestFacts { inputs: json!({}), lease_days: checked.days.unwrap_or(0) as i32, group: entitlement.group.clone() },
        requester: RequesterFacts {
            username: who.username.clone(),
            is_admin: who.is_admin,
            groups: who.groups.iter().map(|g| g.name.clone()).collect(),
        },
        item: item
            .as_ref()
            .map(|i| ItemFacts { id: i.id.clone(), name: i.name.clone(), category: i.category.clone() })
            .unwrap_or(ItemFacts { id: String::new(), name: String::new(), category: String::new() }),
        action: ActionFacts {
            name: action.as_str().into(),
            days: checked.days,
            replicas: checked.replicas,
            component: checked.component.clone(),
        },
        deployment: Some(DeploymentFacts {
            id: d.id.clone(),
            name: d.name.clone(),
            item: d.catalog_item_id.clone(),
            group: (!entitlement.group.is_empty()).then(|| entitlement.group.clone()),
            owner,
            status: d.status.as_str().into(),
            lease_days_left: d.lease_expires_at.map(|e| (e - Utc::now()).num_days()),
        }),
    };
    let policies = catalog::policies(db).await?;
    let selection = select::select(&policies, action.as_str(), &context);
    let group_id = d.group_id.unwrap_or(0);
    let mut levels = Vec::new();
    if let Some((policy, _)) = &selection.chosen {
        for (n, level) in policy.levels.iter().enumerate() {
            levels.push(LevelExplain::new(n, level, approvers::resolve(db, &level.approvers, group_id, &who.username).await?));
        }
    }
    let status = if selection.chosen.is_some() { RequestStatus::PendingApproval } else { RequestStatus::Approved };
    // What the action adds to the group's usage: a scale its change; a retry brings a failed
    // deployment (which holds nothing) back whole.
    let change = match (action, checked.scaled) {
        (_, Some((_, c))) => c,
        (Day2Action::Retry, None) => Amount { containers: i64::from(d.containers), memory_mb: d.memory_mb, cpus: d.cpus },
        _ => Amount::default(),
    };

    // (A test holds an action here to change its entitlement under it.)
    crate::failpoint!("day2.before_store");
    // A scale that grows is checked and reserved against the group's quota, like a request.
    let _guard = ctx.quota_lock().await;
    let txn = crate::store::begin(db).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        deployment::Entity::find_by_id(d.id.clone()).lock_exclusive().one(&txn).await?;
    }
    refuse_if_busy(&txn, &d.id, action).await?;
    // The entitlement checked above, again under its rows' locks: one taken away or narrowed
    // since refuses the action.
    if entitlement.id != 0
        && let (Some(g), Some(item)) = (d.group_id, &item)
        && !catalog::action_held(&txn, g, item, action.as_str()).await?
    {
        return Err(ServiceError::Forbidden(format!(
            "your group's entitlement does not allow `{}` on deployments of `{}`",
            action.as_str(),
            item.id
        )));
    }
    let (used, limits) = match d.group_id {
        Some(g) => {
            if txn.get_database_backend() == DbBackend::Postgres {
                group::Entity::find_by_id(g).lock_exclusive().one(&txn).await?;
            }
            (catalog::usage(&txn, g).await?, catalog::limits_of(&txn, g, ctx.default_quota).await?)
        }
        None => (Amount::default(), Default::default()),
    };
    let growth = Amount { containers: change.containers.max(0), memory_mb: change.memory_mb.max(0), cpus: change.cpus.max(0.0) };
    if d.group_id.is_some() {
        quota::check(used, growth, limits).map_err(ServiceError::OverQuota)?;
    }
    let explain = Explain::new(entitlement, &selection, levels, QuotaCheck { used, requested: growth, limits });
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let mut params = crate::domain::blueprint::inputs::InputValues::new();
    if let Some(c) = &checked.component {
        params.insert("component".into(), InputValue::String(c.clone()));
    }
    if let Some(n) = checked.days {
        params.insert("days".into(), InputValue::Integer(n));
    }
    if let Some(n) = checked.replicas {
        params.insert("replicas".into(), InputValue::Integer(n));
    }
    let now = Utc::now();
    let reason = input.reason.unwrap_or_default().trim().to_string();
    request::ActiveModel {
        id: Set(id.clone()),
        catalog_item_id: Set(d.catalog_item_id.clone().unwrap_or_default()),
        group_id: Set(group_id),
        requester_id: Set(who.user_id),
        inputs: Set(StoredInputs(params.clone())),
        lease_days: Set(checked.days.map_or(0, |n| i32::try_from(n).unwrap_or(i32::MAX))),
        reason: Set(reason),
        status: Set(status),
        explain: Set(explain.clone()),
        policy_id: Set(selection.chosen.as_ref().map(|(p, _)| p.id)),
        level: Set(0),
        level_started_at: Set(Some(now)),
        deployment_id: Set(Some(d.id.clone())),
        error: Set(None),
        holds_quota: Set(false),
        containers: Set(i32::try_from(change.containers).unwrap_or(0)),
        memory_mb: Set(change.memory_mb),
        cpus: Set(change.cpus),
        created_at: Set(now),
        updated_at: Set(now),
        blueprint_version: Set(Some(d.blueprint_version)),
        kind: Set(RequestKind::Day2),
        action: Set(Some(action)),
    }
    .insert(&txn)
    .await?;
    let what = describe(action, &params);
    timeline(&txn, &id, TimelineKind::Submitted, format!("{} asked to {what} deployment {}", who.username, d.name)).await?;
    super::policy_timeline(&txn, &id, &selection, &explain).await?;
    crate::store::deployments::record_event(
        &txn,
        &d.id,
        DeploymentEventKind::Action,
        &format!(
            "{} asked to {what} (request {id}){}",
            who.username,
            if status == RequestStatus::PendingApproval { ", waiting for approval" } else { "" }
        ),
        None,
    )
    .await?;
    audit::record(
        &txn,
        &who.username,
        "request.submit",
        &format!("request:{id}"),
        json!({"kind": "day2", "action": action, "deployment": d.id, "inputs": serde_json::to_value(StoredInputs(params)).unwrap_or_default(), "status": status}),
    )
    .await?;
    txn.commit().await?;
    drop(_guard);
    ctx.signals.timeline_written();
    if status == RequestStatus::Approved {
        ctx.signals.request_moved();
    }
    Ok(super::for_viewer(crate::services::read_back(|| get_unchecked(ctx, &id)).await?, who))
}

/// One action at a time: the same action asked for again while it is open (waiting for
/// approval, approved or under way) is refused, and so is any action while another one is
/// approved or under way (two quick clicks make one request).
async fn refuse_if_busy(txn: &impl ConnectionTrait, deployment_id: &str, action: Day2Action) -> ServiceResult<()> {
    let open = request::Entity::find()
        .filter(request::Column::Kind.eq(RequestKind::Day2))
        .filter(request::Column::DeploymentId.eq(deployment_id))
        .filter(request::Column::Status.is_in(RequestStatus::OPEN.iter().copied()))
        .all(txn)
        .await?;
    for r in open {
        let Some(other) = r.action else { continue };
        if other == action {
            return Err(ServiceError::Conflict(format!(
                "`{action}` is already asked for on this deployment (request {}, {})",
                r.id, r.status
            )));
        }
        if r.status != RequestStatus::PendingApproval {
            return Err(ServiceError::Conflict(format!(
                "`{other}` is under way on this deployment (request {}); try again when it ends",
                r.id
            )));
        }
    }
    Ok(())
}

/// `stop`, `scale web to 3`, `extend the lease by 7 days`, … for timelines.
pub fn describe(action: Day2Action, params: &crate::domain::blueprint::inputs::InputValues) -> String {
    let component = match params.get("component") {
        Some(InputValue::String(c)) => format!(" `{c}` of"),
        _ => String::new(),
    };
    match (action, params.get("days"), params.get("replicas")) {
        (Day2Action::ExtendLease, Some(InputValue::Integer(n)), _) => format!("extend the lease by {n} days of"),
        (Day2Action::Scale, _, Some(InputValue::Integer(n))) => format!("scale{component} to {n} replicas:"),
        (a, _, _) => format!("{}{component}", a.as_str()),
    }
    .trim_end_matches(':')
    .to_string()
}

/// Carries out an approved day-2 request, once whatever the number of replicas: one action at a
/// time per deployment (it waits while another runs), its state checked again (a deployment that
/// moved on fails the request, saying why).
pub(super) async fn start(ctx: &Context, r: request::Model) -> ServiceResult<()> {
    let db = &ctx.db;
    let (Some(action), Some(did)) = (r.action, r.deployment_id.clone()) else {
        return fail(ctx, &r, "the request names no action or deployment".into()).await;
    };
    // The same order as a submission takes them: the quota lock, then the transaction.
    let _guard = ctx.quota_lock().await;
    let txn = crate::store::begin(db).await?;
    let q = deployment::Entity::find_by_id(did.clone());
    let d = if txn.get_database_backend() == DbBackend::Postgres { q.lock_exclusive().one(&txn).await? } else { q.one(&txn).await? };
    let Some(d) = d else {
        txn.rollback().await.ok();
        return fail(ctx, &r, "the deployment is gone".into()).await;
    };
    // Another action (or the lease loop's stop, or provisioning) at work: wait for it.
    if queue::has_open_job(&txn, &d.id).await? {
        return Ok(());
    }
    if let Err(e) = action.allowed_in(d.status) {
        txn.rollback().await.ok();
        return fail(ctx, &r, e.to_string()).await;
    }
    let params = &r.inputs.0;
    let int = |k: &str| match params.get(k) {
        Some(InputValue::Integer(n)) => Some(*n),
        _ => None,
    };
    let now = Utc::now();
    let what = describe(action, params);
    let mut done = None;
    match action {
        Day2Action::ExtendLease => {
            let to = match lifecycle::extended(d.lease_expires_at, int("days").unwrap_or(0), d.lease_max_expires_at, now) {
                Ok(to) => to,
                Err(e) => {
                    txn.rollback().await.ok();
                    return fail(ctx, &r, e).await;
                }
            };
            deployment::Entity::update_many()
                .col_expr(deployment::Column::LeaseExpiresAt, Expr::value(Some(to)))
                .col_expr(deployment::Column::UpdatedAt, Expr::value(now))
                .filter(deployment::Column::Id.eq(&d.id))
                .exec(&txn)
                .await?;
            if d.status == DeploymentStatus::Expired {
                crate::store::deployments::advance(&txn, &d.id, DeploymentEvent::LeaseExtended, None, None).await?;
            }
            let text = format!(
                "lease extended to {}{}",
                to.format("%Y-%m-%d %H:%M UTC"),
                if d.status == DeploymentStatus::Expired { "; the deployment can start again" } else { "" }
            );
            crate::store::deployments::record_event(&txn, &d.id, DeploymentEventKind::LeaseExtended, &text, None).await?;
            done = Some(text);
        }
        Day2Action::Destroy | Day2Action::Retry => {
            let event = if action == Day2Action::Destroy { DeploymentEvent::Destroy } else { DeploymentEvent::Retry };
            match crate::store::deployments::advance(&txn, &d.id, event, None, None).await? {
                Moved::To(_) => {}
                Moved::Refused(why) => {
                    txn.rollback().await.ok();
                    return fail(ctx, &r, why.to_string()).await;
                }
                Moved::Raced => return Ok(()),
            }
        }
        Day2Action::Scale => {
            // The quota again, against the deployment as it is now (another action may have
            // changed it since the request was checked); the engine's job changes it.
            let target = match scale_target(ctx, &d, params).await {
                Ok(t) => t,
                Err(e) => {
                    txn.rollback().await.ok();
                    return fail(ctx, &r, e).await;
                }
            };
            if let Some(g) = d.group_id {
                if txn.get_database_backend() == DbBackend::Postgres {
                    group::Entity::find_by_id(g).lock_exclusive().one(&txn).await?;
                }
                let mut used = catalog::usage(&txn, g).await?;
                // This request is counted as waiting: take its own share out.
                used.containers -= i64::from(r.containers.max(0));
                used.memory_mb -= r.memory_mb.max(0);
                used.cpus -= r.cpus.max(0.0);
                let growth = Amount {
                    containers: (target.containers - i64::from(d.containers)).max(0),
                    memory_mb: (target.memory_mb - d.memory_mb).max(0),
                    cpus: (target.cpus - d.cpus).max(0.0),
                };
                let limits = catalog::limits_of(&txn, g, ctx.default_quota).await?;
                if let Err(over) = quota::check(used, growth, limits) {
                    txn.rollback().await.ok();
                    return fail(ctx, &r, format!("over the group's quota now: {}", over.join("; "))).await;
                }
            }
        }
        Day2Action::Start | Day2Action::Stop | Day2Action::Restart => {}
    }
    let (to, kind, message) = match &done {
        Some(text) => (RequestStatus::Succeeded, TimelineKind::Succeeded, text.clone()),
        None => (RequestStatus::Provisioning, TimelineKind::Provisioning, format!("{what} deployment {}: under way", d.name)),
    };
    let res = request::Entity::update_many()
        .col_expr(request::Column::Status, Expr::value(to))
        .col_expr(request::Column::UpdatedAt, Expr::value(now))
        .filter(request::Column::Id.eq(&r.id))
        .filter(request::Column::Status.eq(RequestStatus::Approved))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        txn.rollback().await.ok();
        return Ok(()); // another replica started it, or it was cancelled
    }
    if done.is_none()
        && let Some(kind) = action.job()
    {
        queue::enqueue_for(&txn, kind, &d.id, Some(&r.id)).await?;
    }
    timeline(&txn, &r.id, kind, message).await?;
    audit::record(&txn, audit::SYSTEM, &format!("deployment.{action}"), &format!("deployment:{}", d.id), json!({"request": r.id})).await?;
    txn.commit().await?;
    ctx.signals.job_queued();
    ctx.signals.timeline_written();
    Ok(())
}

/// What a deployment will hold once scaled as `params` says (a component and its replicas).
async fn scale_target(
    ctx: &Context,
    d: &deployment::Model,
    params: &crate::domain::blueprint::inputs::InputValues,
) -> Result<Amount, String> {
    let (bp, _) = crate::services::blueprints::load(ctx, &d.blueprint_id, Some(d.blueprint_version)).await.map_err(|e| e.to_string())?;
    let (Some(InputValue::String(component)), Some(InputValue::Integer(n))) = (params.get("component"), params.get("replicas")) else {
        return Err("the request names no component or replica count".into());
    };
    let spec = lifecycle::scaling_input(&bp, component)?;
    let mut values = ctx.sealer.open_inputs(&bp, &d.inputs).map_err(|e| format!("the deployment's inputs: {e}"))?;
    values.0.insert(spec.name.clone(), InputValue::Integer(*n));
    let p = deployments::prepare(ctx, &d.blueprint_id, Some(d.blueprint_version), &values.to_json_map(), Some(&d.name))
        .await
        .map_err(|e| e.to_string())?;
    Ok(p.need)
}

/// Day-2 requests under way follow their job: done → succeeded, failed → failed with its error.
pub(super) async fn follow(ctx: &Context) -> ServiceResult<()> {
    let db = &ctx.db;
    // Requests still waiting on a deployment that is gone can never be carried out.
    let gone = sea_orm::sea_query::Query::select()
        .column(deployment::Column::Id)
        .from(deployment::Entity)
        .and_where(deployment::Column::Status.is_in([DeploymentStatus::Destroyed, DeploymentStatus::Orphaned]))
        .to_owned();
    let stranded = request::Entity::find()
        .filter(request::Column::Kind.eq(RequestKind::Day2))
        .filter(request::Column::Status.eq(RequestStatus::PendingApproval))
        .filter(request::Column::DeploymentId.in_subquery(gone))
        .all(db)
        .await?;
    for r in stranded {
        fail(ctx, &r, "the deployment is gone".into()).await?;
    }
    let running = request::Entity::find()
        .filter(request::Column::Kind.eq(RequestKind::Day2))
        .filter(request::Column::Status.eq(RequestStatus::Provisioning))
        .all(db)
        .await?;
    for r in running {
        let last = job::Entity::find().filter(job::Column::RequestId.eq(&r.id)).order_by_desc(job::Column::Id).one(db).await?;
        let (ok, error) = match last {
            Some(j) if j.status == JobStatus::Done => (true, None),
            Some(j) if j.status == JobStatus::Failed => (false, Some(j.last_error.unwrap_or_else(|| "the job failed".into()))),
            Some(_) => continue,
            None => (false, Some("its job is gone".to_string())),
        };
        let to = if ok { RequestStatus::Succeeded } else { RequestStatus::Failed };
        let txn = crate::store::begin(db).await?;
        let res = request::Entity::update_many()
            .col_expr(request::Column::Status, Expr::value(to))
            .col_expr(request::Column::Error, Expr::value(error.clone()))
            .col_expr(request::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(request::Column::Id.eq(&r.id))
            .filter(request::Column::Status.eq(RequestStatus::Provisioning))
            .exec(&txn)
            .await?;
        if res.rows_affected == 1 {
            let what = r.action.map(|a| describe(a, &r.inputs.0)).unwrap_or_default();
            let (kind, dkind, text) = match &error {
                None => (TimelineKind::Succeeded, DeploymentEventKind::ActionDone, format!("{what}: done")),
                Some(e) => (TimelineKind::Failed, DeploymentEventKind::ActionFailed, format!("{what}: failed: {e}")),
            };
            timeline(&txn, &r.id, kind, text.clone()).await?;
            if let Some(did) = &r.deployment_id {
                crate::store::deployments::record_event(&txn, did, dkind, &format!("{text} (request {})", r.id), None).await?;
            }
        }
        txn.commit().await?;
        ctx.signals.timeline_written();
    }
    Ok(())
}

/// Fails a request that cannot be carried out (approved, then found impossible).
async fn fail(ctx: &Context, r: &request::Model, why: String) -> ServiceResult<()> {
    let txn = crate::store::begin(&ctx.db).await?;
    let res = request::Entity::update_many()
        .col_expr(request::Column::Status, Expr::value(RequestStatus::Failed))
        .col_expr(request::Column::Error, Expr::value(Some(why.clone())))
        .col_expr(request::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(request::Column::Id.eq(&r.id))
        .filter(request::Column::Status.eq(r.status))
        .exec(&txn)
        .await?;
    if res.rows_affected == 1 {
        timeline(&txn, &r.id, TimelineKind::Failed, format!("cannot be carried out: {why}")).await?;
    }
    txn.commit().await?;
    ctx.signals.timeline_written();
    Ok(())
}

/// What `who` may ask for on a deployment now: entitled to, and allowed by its state (the page
/// shows a button for each).
#[derive(Debug, Clone, Default)]
pub struct Allowed {
    pub start: bool,
    pub stop: bool,
    pub restart: bool,
    pub destroy: bool,
    pub retry: bool,
    pub extend_lease: bool,
    /// The components that can scale, with their input's bounds and current count.
    pub scale: Vec<Scalable>,
    /// The components, for start/stop/restart of one of them.
    pub components: Vec<String>,
    /// Its logs may be read (the `logs` permission; it has containers).
    pub logs: bool,
    /// A shell may be opened (the `console` permission; it runs).
    pub console: bool,
    /// Its containers' use may be watched (it has containers).
    pub stats: bool,
}

#[derive(Debug, Clone)]
pub struct Scalable {
    pub component: String,
    pub min: i64,
    pub max: i64,
    pub now: i64,
}

pub async fn allowed(ctx: &Context, who: &Principal, id: &str) -> ServiceResult<Allowed> {
    let Some(d) = deployment::Entity::find_by_id(id.to_string()).one(&ctx.db).await? else { return Ok(Allowed::default()) };
    let mut out = Allowed::default();
    let may = |a: Day2Action| {
        let d = &d;
        async move { a.allowed_in(d.status).is_ok() && may_act(ctx, who, d, a).await.is_ok() }
    };
    out.start = may(Day2Action::Start).await;
    out.stop = may(Day2Action::Stop).await;
    out.restart = may(Day2Action::Restart).await;
    out.destroy = may(Day2Action::Destroy).await;
    out.retry = may(Day2Action::Retry).await;
    out.extend_lease = d.lease_expires_at.is_some() && may(Day2Action::ExtendLease).await;
    let has_containers =
        d.containers > 0 && !matches!(d.status, DeploymentStatus::Destroyed | DeploymentStatus::Destroying | DeploymentStatus::Orphaned);
    let runs = matches!(d.status, DeploymentStatus::Running | DeploymentStatus::Drifted);
    out.stats = has_containers;
    out.logs = has_containers && entitled(ctx, who, &d, "logs", false).await.is_ok();
    out.console = has_containers && runs && entitled(ctx, who, &d, "console", false).await.is_ok();
    if let Ok((bp, _)) = crate::services::blueprints::load(ctx, &d.blueprint_id, Some(d.blueprint_version)).await {
        out.components = bp.components.iter().map(|c| c.name.clone()).collect();
        if may(Day2Action::Scale).await {
            let opened = ctx.sealer.open_inputs(&bp, &d.inputs).unwrap_or_default();
            for c in &bp.components {
                if let Ok(input) = lifecycle::scaling_input(&bp, &c.name) {
                    let now = match opened.0.get(&input.name) {
                        Some(InputValue::Integer(n)) => *n,
                        _ => 1,
                    };
                    out.scale.push(Scalable {
                        component: c.name.clone(),
                        min: input.min.unwrap_or(1).max(0),
                        max: input.max.unwrap_or(64),
                        now,
                    });
                }
            }
        }
    }
    Ok(out)
}
