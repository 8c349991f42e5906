//! What each role's home page shows first, read from what exists: for admins the hosts and
//! their load, deployments by status, requests per day, approvals waiting and groups by quota
//! use; for managers their groups' quota use, the requests waiting on them and the leases
//! ending within a week; for everyone their own deployments with the lease left and their
//! recent requests with what each waits on. Every board costs a bounded number of queries
//! (none per row of a large table); lists are cut to a few rows with their total.
use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{Context, ServiceResult, catalog, requests};
use crate::auth::Principal;
use crate::domain::Role;
use crate::domain::quota::{Amount, Limits};
use crate::domain::states::{DeploymentStatus, HostStatus, RequestKind, RequestStatus};
use crate::store::entities::{catalog_item, deployment, group, host, request, user};

/// Rows a list on a board shows at most.
pub const LIST: u64 = 6;
/// Days the admin's chart of requests covers, today included.
pub const DAYS: u64 = 30;
/// How far ahead a manager sees leases ending.
pub const LEASE_HORIZON_DAYS: u64 = 7;

/// A host, its health and what Wharf placed on it.
#[derive(Debug, Clone)]
pub struct HostLoad {
    pub name: String,
    pub status: HostStatus,
    pub last_error: Option<String>,
    /// Containers of live deployments placed there, as placement counts them.
    pub containers: i64,
    /// The host's cap on containers, when it has one.
    pub max_containers: Option<i64>,
    /// Memory reserved by live deployments placed there.
    pub memory_mb: i64,
    /// The engine's memory, from its last health check.
    pub memory_total_mb: Option<i64>,
}

/// A group, what it uses and what it may use.
#[derive(Debug, Clone)]
pub struct GroupUse {
    pub name: String,
    pub used: Amount,
    pub limits: Limits,
}

impl GroupUse {
    /// The largest share of a limit in use (0 when the group has no limit).
    pub fn fullest(&self) -> f64 {
        let share = |used: f64, max: Option<f64>| match max {
            Some(m) if m > 0.0 => used / m,
            Some(_) if used > 0.0 => 1.0,
            _ => 0.0,
        };
        share(self.used.containers as f64, self.limits.max_containers.map(|m| m as f64))
            .max(share(self.used.memory_mb as f64, self.limits.max_memory_mb.map(|m| m as f64)))
            .max(share(self.used.cpus, self.limits.max_cpus))
    }
}

/// A request waiting on approvers.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub id: String,
    pub item: String,
    pub requester: String,
    pub group: String,
    pub since: DateTime<Utc>,
    /// The level it waits at, from 1.
    pub level: i32,
    pub waiting_on: Vec<String>,
}

/// A deployment and its lease.
#[derive(Debug, Clone)]
pub struct LeaseRow {
    pub id: String,
    pub name: String,
    pub status: DeploymentStatus,
    pub owner: String,
    pub group: String,
    pub lease_expires_at: Option<DateTime<Utc>>,
}

/// One of the caller's requests and what it waits on now.
#[derive(Debug, Clone)]
pub struct RecentRequest {
    pub id: String,
    pub item: String,
    pub status: RequestStatus,
    pub created_at: DateTime<Utc>,
    pub deployment_id: Option<String>,
    pub waits_on: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AdminBoard {
    pub hosts: Vec<HostLoad>,
    /// Every status but destroyed, with how many deployments are in it (zeros included).
    pub deployments: Vec<(DeploymentStatus, u64)>,
    pub destroyed: u64,
    /// Requests made per day (UTC), the oldest first, today last.
    pub per_day: Vec<(NaiveDate, u64)>,
    pub waiting_total: u64,
    /// The oldest requests waiting on approvers.
    pub waiting: Vec<Waiting>,
    /// Every group, the fullest first.
    pub groups: Vec<GroupUse>,
}

#[derive(Debug, Clone)]
pub struct ManagerBoard {
    pub groups: Vec<GroupUse>,
    pub waiting_total: u64,
    pub waiting: Vec<Waiting>,
    /// Live deployments of their groups whose lease ends within `LEASE_HORIZON_DAYS`, soonest first.
    pub leases: Vec<LeaseRow>,
}

#[derive(Debug, Clone)]
pub struct DeveloperBoard {
    /// Their deployments not destroyed, the lease ending soonest first.
    pub deployments: Vec<LeaseRow>,
    pub deployments_total: u64,
    pub requests: Vec<RecentRequest>,
    pub requests_total: u64,
}

pub async fn admin(ctx: &Context, now: DateTime<Utc>) -> ServiceResult<AdminBoard> {
    let db = &ctx.db;
    let hosts = host::Entity::find().order_by_asc(host::Column::Name).all(db).await?;
    let live: Vec<(String, Option<i64>, i32, i64)> = deployment::Entity::find()
        .select_only()
        .column(deployment::Column::Id)
        .column(deployment::Column::HostId)
        .column(deployment::Column::Containers)
        .column(deployment::Column::MemoryMb)
        .filter(deployment::Column::HostId.is_not_null())
        .filter(deployment::Column::Status.is_in(DeploymentStatus::LIVE.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    // Containers as placement counts them (`store::deployments::containers_held`).
    let made = crate::store::deployments::containers_made(db).await?;
    let mut placed: HashMap<i64, (i64, i64)> = HashMap::new();
    for (id, h, containers, memory) in live {
        if let Some(h) = h {
            let e = placed.entry(h).or_default();
            e.0 += crate::store::deployments::containers_held(containers, &made, &id);
            e.1 += memory.max(0);
        }
    }
    let hosts = hosts
        .into_iter()
        .map(|h| {
            let (containers, memory_mb) = placed.get(&h.id).copied().unwrap_or_default();
            HostLoad {
                name: h.name,
                status: h.status,
                last_error: h.last_error,
                containers,
                max_containers: h.max_containers.map(i64::from),
                memory_mb,
                memory_total_mb: h.memory_mb,
            }
        })
        .collect();

    let counted = crate::store::deployments::count_by_status(db).await?;
    let count_of = |s: DeploymentStatus| counted.iter().find(|(c, _)| *c == s).map(|(_, n)| (*n).max(0) as u64).unwrap_or(0);
    let deployments = DeploymentStatus::ALL.iter().filter(|s| **s != DeploymentStatus::Destroyed).map(|s| (*s, count_of(*s))).collect();

    let first = first_day(now);
    let since = first.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(now);
    let made: Vec<DateTime<Utc>> = request::Entity::find()
        .select_only()
        .column(request::Column::CreatedAt)
        .filter(request::Column::CreatedAt.gte(since))
        .into_tuple()
        .all(db)
        .await?;
    let per_day = per_day(first, &made);

    let pending = request::Entity::find().filter(request::Column::Status.eq(RequestStatus::PendingApproval));
    let waiting_total = pending.clone().count(db).await?;
    let oldest = pending.order_by_asc(request::Column::CreatedAt).limit(LIST).all(db).await?;
    let waiting = waiting_rows(ctx, oldest).await?;

    let used = catalog::usage_by_group(db).await?;
    let limits = catalog::limits_by_group(db).await?;
    let mut groups: Vec<GroupUse> = group::Entity::find()
        .order_by_asc(group::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(|g| GroupUse {
            used: used.get(&g.id).copied().unwrap_or_default(),
            limits: limits.get(&g.id).copied().unwrap_or(ctx.default_quota),
            name: g.name,
        })
        .collect();
    groups.sort_by(|a, b| b.fullest().total_cmp(&a.fullest()));

    Ok(AdminBoard { hosts, deployments, destroyed: count_of(DeploymentStatus::Destroyed), per_day, waiting_total, waiting, groups })
}

/// The board of a group manager (`None` for a caller who manages no group).
pub async fn manager(ctx: &Context, who: &Principal, now: DateTime<Utc>) -> ServiceResult<Option<ManagerBoard>> {
    let db = &ctx.db;
    let managed: Vec<(i64, String)> = who.groups.iter().filter(|g| g.role == Role::Manager).map(|g| (g.group_id, g.name.clone())).collect();
    if managed.is_empty() {
        return Ok(None);
    }
    let mut groups = Vec::new();
    for (id, name) in &managed {
        let limits = catalog::limits_of(db, *id, ctx.default_quota).await?;
        groups.push(GroupUse { name: name.clone(), used: catalog::usage(db, *id).await?, limits });
    }
    let inbox = requests::inbox(ctx, who, super::PageRequest::new(Some(1), Some(LIST))).await?;
    let waiting = inbox
        .items
        .into_iter()
        .map(|r| Waiting {
            id: r.id,
            item: r.catalog_item_name,
            requester: r.requester,
            group: r.group,
            since: r.created_at,
            level: r.level,
            waiting_on: r.waiting_on,
        })
        .collect();
    let horizon = now.checked_add_days(Days::new(LEASE_HORIZON_DAYS)).unwrap_or(now);
    let ending = deployment::Entity::find()
        .filter(deployment::Column::GroupId.is_in(managed.iter().map(|(id, _)| *id)))
        .filter(deployment::Column::Status.is_in(LEASED.iter().copied()))
        .filter(deployment::Column::LeaseExpiresAt.lte(horizon))
        .order_by_asc(deployment::Column::LeaseExpiresAt)
        .limit(LIST * 3)
        .all(db)
        .await?;
    let leases = lease_rows(ctx, ending).await?;
    Ok(Some(ManagerBoard { groups, waiting_total: inbox.total, waiting, leases }))
}

/// What everyone sees: their own deployments and requests.
pub async fn developer(ctx: &Context, who: &Principal) -> ServiceResult<DeveloperBoard> {
    let db = &ctx.db;
    let mine = deployment::Entity::find()
        .filter(deployment::Column::OwnerId.eq(who.user_id))
        .filter(deployment::Column::Status.ne(DeploymentStatus::Destroyed));
    let deployments_total = mine.clone().count(db).await?;
    // The lease ending soonest first; deployments without a lease after them.
    let mut rows = mine
        .clone()
        .filter(deployment::Column::LeaseExpiresAt.is_not_null())
        .order_by_asc(deployment::Column::LeaseExpiresAt)
        .limit(LIST)
        .all(db)
        .await?;
    if (rows.len() as u64) < LIST {
        let more = mine
            .filter(deployment::Column::LeaseExpiresAt.is_null())
            .order_by_desc(deployment::Column::CreatedAt)
            .limit(LIST - rows.len() as u64)
            .all(db)
            .await?;
        rows.extend(more);
    }
    let deployments = lease_rows(ctx, rows).await?;

    let theirs = request::Entity::find().filter(request::Column::RequesterId.eq(who.user_id));
    let requests_total = theirs.clone().count(db).await?;
    let recent = theirs.order_by_desc(request::Column::CreatedAt).limit(LIST).all(db).await?;
    let items = item_names(ctx, recent.iter().map(|r| r.catalog_item_id.clone()).collect()).await?;
    let mut requests = Vec::new();
    for r in recent {
        let waits_on = waits_on(&r, &requests::undecided(db, &r).await?);
        requests.push(RecentRequest {
            item: items.get(&r.catalog_item_id).cloned().unwrap_or_else(|| r.catalog_item_id.clone()),
            id: r.id,
            status: r.status,
            created_at: r.created_at,
            deployment_id: r.deployment_id,
            waits_on,
        });
    }
    Ok(DeveloperBoard { deployments, deployments_total, requests, requests_total })
}

/// States in which a deployment's lease is running out (an expired one already ran out).
const LEASED: &[DeploymentStatus] =
    &[DeploymentStatus::Provisioning, DeploymentStatus::Running, DeploymentStatus::Stopped, DeploymentStatus::Drifted];

/// The first day of the chart: `DAYS - 1` days before today.
fn first_day(now: DateTime<Utc>) -> NaiveDate {
    let today = now.date_naive();
    today.checked_sub_days(Days::new(DAYS - 1)).unwrap_or(today)
}

/// How many of `made` fall on each day from `first`, `DAYS` days (later ones are left out).
fn per_day(first: NaiveDate, made: &[DateTime<Utc>]) -> Vec<(NaiveDate, u64)> {
    let mut counts = vec![0u64; DAYS as usize];
    for t in made {
        let offset = (t.date_naive() - first).num_days();
        if let Some(c) = usize::try_from(offset).ok().and_then(|i| counts.get_mut(i)) {
            *c += 1;
        }
    }
    counts.into_iter().enumerate().filter_map(|(i, n)| first.checked_add_days(Days::new(i as u64)).map(|d| (d, n))).collect()
}

/// What an open request waits on now, said for its requester (`None` once it is closed: its
/// status says all).
fn waits_on(r: &request::Model, undecided: &[String]) -> Option<String> {
    Some(match r.status {
        RequestStatus::PendingApproval if undecided.is_empty() => format!("waits for approval at level {}", r.level + 1),
        RequestStatus::PendingApproval => format!("waits for approval at level {} by {}", r.level + 1, undecided.join(", ")),
        RequestStatus::Approved if r.kind == RequestKind::Day2 => "waits for its turn on the deployment".into(),
        RequestStatus::Approved => "waits for a host: queued for provisioning".into(),
        RequestStatus::Provisioning if r.kind == RequestKind::Day2 => "waits for its job on the deployment".into(),
        RequestStatus::Provisioning => "waits for its containers to start".into(),
        RequestStatus::Succeeded | RequestStatus::Failed | RequestStatus::Rejected | RequestStatus::Cancelled => return None,
    })
}

async fn waiting_rows(ctx: &Context, rows: Vec<request::Model>) -> ServiceResult<Vec<Waiting>> {
    let db = &ctx.db;
    let items = item_names(ctx, rows.iter().map(|r| r.catalog_item_id.clone()).collect()).await?;
    let users = user_names(ctx, rows.iter().map(|r| r.requester_id).collect()).await?;
    let groups = group_names(ctx, rows.iter().map(|r| r.group_id).collect()).await?;
    let mut out = Vec::new();
    for r in rows {
        out.push(Waiting {
            waiting_on: requests::undecided(db, &r).await?,
            item: items.get(&r.catalog_item_id).cloned().unwrap_or_else(|| r.catalog_item_id.clone()),
            requester: users.get(&r.requester_id).cloned().unwrap_or_default(),
            group: groups.get(&r.group_id).cloned().unwrap_or_default(),
            since: r.created_at,
            level: r.level + 1,
            id: r.id,
        });
    }
    Ok(out)
}

async fn lease_rows(ctx: &Context, rows: Vec<deployment::Model>) -> ServiceResult<Vec<LeaseRow>> {
    let users = user_names(ctx, rows.iter().filter_map(|d| d.owner_id).collect()).await?;
    let groups = group_names(ctx, rows.iter().filter_map(|d| d.group_id).collect()).await?;
    Ok(rows
        .into_iter()
        .map(|d| LeaseRow {
            owner: d.owner_id.and_then(|o| users.get(&o).cloned()).unwrap_or_default(),
            group: d.group_id.and_then(|g| groups.get(&g).cloned()).unwrap_or_default(),
            id: d.id,
            name: d.name,
            status: d.status,
            lease_expires_at: d.lease_expires_at,
        })
        .collect())
}

async fn item_names(ctx: &Context, ids: Vec<String>) -> ServiceResult<HashMap<String, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String)> = catalog_item::Entity::find()
        .select_only()
        .column(catalog_item::Column::Id)
        .column(catalog_item::Column::Name)
        .filter(catalog_item::Column::Id.is_in(ids))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    Ok(rows.into_iter().collect())
}

async fn user_names(ctx: &Context, ids: Vec<i64>) -> ServiceResult<HashMap<i64, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String)> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::Username)
        .filter(user::Column::Id.is_in(ids))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    Ok(rows.into_iter().collect())
}

async fn group_names(ctx: &Context, ids: Vec<i64>) -> ServiceResult<HashMap<i64, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String)> = group::Entity::find()
        .select_only()
        .column(group::Column::Id)
        .column(group::Column::Name)
        .filter(group::Column::Id.is_in(ids))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_fall_on_their_day_and_old_or_future_ones_are_left_out() {
        let now = "2026-12-02T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let first = first_day(now);
        assert_eq!(first.to_string(), "2026-11-03");
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let made = [
            at("2026-11-02T23:59:59Z"),
            at("2026-11-03T00:00:00Z"),
            at("2026-12-02T09:00:00Z"),
            at("2026-12-02T00:00:01Z"),
            at("2026-12-03T00:00:00Z"),
        ];
        let days = per_day(first, &made);
        assert_eq!(days.len(), DAYS as usize);
        assert_eq!(days[0], (first, 1));
        assert_eq!(days[29].0.to_string(), "2026-12-02");
        assert_eq!(days[29].1, 2);
        assert_eq!(days.iter().map(|(_, n)| n).sum::<u64>(), 3);
    }

    #[test]
    fn the_fullest_limit_ranks_a_group() {
        let g = |containers, max_containers, memory_mb, max_memory_mb| GroupUse {
            name: "g".into(),
            used: Amount { containers, memory_mb, cpus: 0.0 },
            limits: Limits { max_containers, max_memory_mb, max_cpus: None },
        };
        assert_eq!(g(5, None, 100, None).fullest(), 0.0);
        assert_eq!(g(5, Some(10), 900, Some(1000)).fullest(), 0.9);
        assert_eq!(g(1, Some(0), 0, None).fullest(), 1.0);
        assert_eq!(g(0, Some(0), 0, None).fullest(), 0.0, "a limit of 0 with nothing used is not full");
    }
}
