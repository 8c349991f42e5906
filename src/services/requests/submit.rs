//! Submitting a request: every check happens before anything is stored, and a refusal says
//! exactly why — not a member or not entitled (403), invalid inputs by field (422), over quota
//! with the numbers (409). The quota is checked and reserved in one critical section.
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, QuerySelect, Set};
use serde_json::json;

use super::{RequestView, approvers, get_unchecked, timeline};
use crate::auth::Principal;
use crate::domain::blueprint::inputs;
use crate::domain::policy::explain::{EntitlementReason, Explain, LevelExplain, QuotaCheck};
use crate::domain::policy::select::{self, ActionFacts, Context as PolicyContext, ItemFacts, RequestFacts, RequesterFacts};
use crate::domain::quota;
use crate::domain::states::{RequestStatus, TimelineKind};
use crate::services::deployments::{self, Prepared};
use crate::services::{Context, FieldError, ServiceError, ServiceResult, audit, catalog};
use crate::store::entities::{group, request};

#[derive(Debug, Clone, Default)]
pub struct NewRequest {
    pub catalog_item: String,
    pub group: String,
    pub inputs: serde_json::Map<String, serde_json::Value>,
    pub lease_days: Option<i32>,
    pub reason: Option<String>,
}

pub async fn submit(ctx: &Context, who: &Principal, input: NewRequest) -> ServiceResult<RequestView> {
    let db = &ctx.db;
    let item = catalog::find_item(db, &input.catalog_item).await?;
    let group_id = who
        .groups
        .iter()
        .find(|g| g.name == input.group)
        .ok_or_else(|| ServiceError::Forbidden(format!("you are not a member of the group `{}`", input.group)))?
        .group_id;
    let (ent, via) = catalog::entitlement_for(db, group_id, &item)
        .await?
        .ok_or_else(|| ServiceError::Forbidden(format!("the group `{}` is not entitled to the catalog item `{}`", input.group, item.id)))?;
    catalog::not_retired(&item)?;
    let lease_days = input.lease_days.unwrap_or(item.lease_default_days);
    let mut errors = Vec::new();
    if lease_days < 1 || lease_days > item.lease_max_days {
        errors.push(FieldError::new("lease_days", format!("must be 1 to {} days for this item", item.lease_max_days)));
    }
    let reason = input.reason.unwrap_or_default().trim().to_string();
    if reason.chars().count() > 1000 {
        errors.push(FieldError::new("reason", "at most 1000 characters"));
    }
    // A version published before today's rules on inputs takes no new request.
    if let Ok((bp, version)) = crate::services::blueprints::load(ctx, &item.blueprint_id, item.blueprint_version).await
        && let Some(why) = crate::services::blueprints::outdated(&bp, version)
    {
        return Err(ServiceError::Conflict(format!("catalog item `{}` takes no new request for now: {why}", item.id)));
    }
    let prepared = match deployments::prepare(ctx, &item.blueprint_id, item.blueprint_version, &input.inputs, None).await {
        Ok(p) if errors.is_empty() => p,
        Ok(_) => return Err(ServiceError::Invalid(errors)),
        Err(ServiceError::Invalid(mut e)) => {
            e.append(&mut errors);
            return Err(ServiceError::Invalid(e));
        }
        Err(e) => return Err(e),
    };
    // Images the catalog item does not allow are refused here, before anything is stored or pulled.
    let allowed = catalog::allowed_images(&item)?;
    for (field, image) in &prepared.images {
        if !allowed.allows(image) {
            errors.push(FieldError::new(field.clone(), allowed.refusal(image, "this catalog item")));
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }

    // The policy: the first one whose scope and condition match.
    let masked = inputs::masked(&prepared.bp, &prepared.values);
    let context = PolicyContext {
        request: RequestFacts { inputs: masked.clone(), lease_days, group: input.group.clone() },
        requester: RequesterFacts {
            username: who.username.clone(),
            is_admin: who.is_admin,
            groups: who.groups.iter().map(|g| g.name.clone()).collect(),
        },
        item: ItemFacts { id: item.id.clone(), name: item.name.clone(), category: item.category.clone() },
        action: ActionFacts::catalog_request(),
        deployment: None,
    };
    let policies = catalog::policies(db).await?;
    let selection = select::select(&policies, "request", &context);
    let mut levels = Vec::new();
    if let Some((policy, _)) = &selection.chosen {
        for (n, level) in policy.levels.iter().enumerate() {
            levels.push(LevelExplain::new(n, level, approvers::resolve(db, &level.approvers, group_id, &who.username).await?));
        }
    }
    let status = if selection.chosen.is_some() { RequestStatus::PendingApproval } else { RequestStatus::Approved };
    let entitlement = EntitlementReason { id: ent.id, group: input.group.clone(), via };

    // (A test holds a submission here to change the catalog under it.)
    crate::failpoint!("submit.before_store");
    // Quota: check and reserve in one critical section.
    let _guard = ctx.quota_lock().await;
    let txn = crate::store::begin(db).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        group::Entity::find_by_id(group_id).lock_exclusive().one(&txn).await?;
    }
    // What was checked above, again in the transaction that stores the request: an item
    // retired, or an entitlement taken away, since then refuses it (their writers lock the rows
    // read here; SQLite writes one transaction at a time).
    let held = catalog::locked_item(&txn, &item.id, sea_orm::sea_query::LockType::Share).await?;
    catalog::not_retired(&held)?;
    if catalog::entitlement_held(&txn, group_id, &held).await?.is_none() {
        return Err(ServiceError::Forbidden(format!("the group `{}` is not entitled to the catalog item `{}`", input.group, item.id)));
    }
    let limits = catalog::limits_of(&txn, group_id, ctx.default_quota).await?;
    let used = catalog::usage(&txn, group_id).await?;
    quota::check(used, prepared.need, limits).map_err(ServiceError::OverQuota)?;
    let explain = Explain::new(entitlement, &selection, levels, QuotaCheck { used, requested: prepared.need, limits });
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let policy_id = selection.chosen.as_ref().map(|(p, _)| p.id);
    insert(&txn, &ctx.sealer, &id, &item.id, group_id, who.user_id, &prepared, lease_days, &reason, status, policy_id, explain.clone())
        .await?;
    timeline(&txn, &id, TimelineKind::Submitted, format!("{} requested {} for {}", who.username, item.name, input.group)).await?;
    super::policy_timeline(&txn, &id, &selection, &explain).await?;
    audit::record(
        &txn,
        &who.username,
        "request.submit",
        &format!("request:{id}"),
        json!({"catalog_item": item.id, "group": input.group, "inputs": masked, "lease_days": lease_days, "status": status}),
    )
    .await?;
    txn.commit().await?;
    drop(_guard);
    ctx.signals.timeline_written();
    if status == RequestStatus::Approved {
        super::scheduler::hand_off(ctx, id.clone());
    }
    // The request exists now: a database that goes away before it is read back must not turn
    // the answer into an error the caller would retry (and so request twice).
    Ok(super::for_viewer(crate::services::read_back(|| get_unchecked(ctx, &id)).await?, who))
}

#[allow(clippy::too_many_arguments)]
async fn insert(
    txn: &impl ConnectionTrait,
    sealer: &crate::sealing::Sealer,
    id: &str,
    item: &str,
    group_id: i64,
    requester_id: i64,
    prepared: &Prepared,
    lease_days: i32,
    reason: &str,
    status: RequestStatus,
    policy_id: Option<i64>,
    explain: Explain,
) -> Result<(), sea_orm::DbErr> {
    let now = chrono::Utc::now();
    request::ActiveModel {
        id: Set(id.to_string()),
        catalog_item_id: Set(item.to_string()),
        group_id: Set(group_id),
        requester_id: Set(requester_id),
        // Secret inputs are kept sealed (see `sealing`).
        inputs: Set(sealer.seal_inputs(&prepared.bp, &prepared.values)),
        lease_days: Set(lease_days),
        reason: Set(reason.to_string()),
        status: Set(status),
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
        blueprint_version: Set(Some(prepared.version)),
        kind: Set(crate::domain::states::RequestKind::Catalog),
        action: Set(None),
    }
    .insert(txn)
    .await?;
    Ok(())
}
