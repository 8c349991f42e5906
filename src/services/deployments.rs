//! The provisioning service: make a deployment of a blueprint version, act on it, read it.
//! The work itself is a durable job that the engine runs.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Context, FieldError, Page, PageRequest, ServiceError, ServiceResult, audit, blueprints};
use crate::domain::blueprint::inputs;
use crate::domain::blueprint::resolve::{self, DeploymentRef};
use crate::domain::deployment::PublishedPort;
use crate::domain::quota::Amount;
use crate::domain::states::{DeploymentEvent, DeploymentStatus, JobKind, ResourceKind, ResourceStatus};
use crate::engine::queue;
use crate::store::entities::{deployment, group, host, job, resource, user};
use crate::store::{self, StringMap};

#[derive(Debug, Clone, Default)]
pub struct DeployInput {
    pub blueprint: String,
    pub version: Option<i32>,
    pub name: Option<String>,
    pub inputs: serde_json::Map<String, Value>,
    pub host_selector: BTreeMap<String, String>,
    pub owner_id: Option<i64>,
    pub group_id: Option<i64>,
}

/// A published port as the API shows it.
pub type PortView = PublishedPort;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResourceView {
    /// `container`, or `service` on a Docker Swarm host (its tasks are the replicas).
    pub kind: ResourceKind,
    pub component: String,
    pub replica: i32,
    pub name: String,
    /// The container's id, or the Swarm service's.
    pub container_id: Option<String>,
    pub host: Option<String>,
    pub status: ResourceStatus,
    pub ports: Vec<PortView>,
    /// A Swarm service's tasks: running, and the replicas wanted.
    pub tasks: Option<TasksView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TasksView {
    pub running: i32,
    pub desired: i32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeploymentView {
    pub id: String,
    pub name: String,
    pub status: DeploymentStatus,
    pub error: Option<String>,
    /// What the running job is doing now.
    pub progress: Option<String>,
    pub blueprint: String,
    pub blueprint_version: i32,
    pub catalog_item: Option<String>,
    pub request_id: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub host: Option<String>,
    /// The inputs, secrets masked.
    #[schema(value_type = Object)]
    pub inputs: Value,
    pub outputs: BTreeMap<String, String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// When it is destroyed if its lease is not extended (the lease's end plus the item's grace).
    pub lease_grace_ends_at: Option<DateTime<Utc>>,
    /// The latest its lease may be extended to, except by an admin.
    pub lease_max_expires_at: Option<DateTime<Utc>>,
    pub resources: Vec<ResourceView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeploymentSummary {
    pub id: String,
    pub name: String,
    pub status: DeploymentStatus,
    pub catalog_item: Option<String>,
    pub request_id: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub blueprint: String,
    pub blueprint_version: i32,
    pub host_id: Option<i64>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The columns a summary shows: the list reads these only, not the inputs, outputs and
/// selector (JSON that would be decoded for nothing).
#[derive(Debug, sea_orm::DerivePartialModel)]
#[sea_orm(entity = "deployment::Entity")]
struct SummaryRow {
    id: String,
    name: String,
    status: DeploymentStatus,
    catalog_item_id: Option<String>,
    request_id: Option<String>,
    lease_expires_at: Option<DateTime<Utc>>,
    blueprint_id: String,
    blueprint_version: i32,
    host_id: Option<i64>,
    error: Option<String>,
    created_at: DateTime<Utc>,
}

/// A deployment that passed every check, ready to be stored.
pub struct Prepared {
    pub bp: crate::domain::blueprint::Blueprint,
    pub version: i32,
    pub values: inputs::InputValues,
    pub id: String,
    pub name: String,
    /// What it will run: containers, memory and CPUs, replicas counted.
    pub need: Amount,
    /// Each component's image as the inputs make it, with the field a refusal of it names
    /// (`inputs.NAME` when an input gives the image, else `components.NAME.image`).
    pub images: Vec<(String, String)>,
}

/// Checks everything that can be checked before anything is stored: the blueprint version,
/// the inputs (errors by field, as `inputs.NAME`), and the spec resolved with them
/// (guardrails included).
pub async fn prepare(
    ctx: &Context,
    blueprint: &str,
    version: Option<i32>,
    given: &serde_json::Map<String, Value>,
    name: Option<&str>,
) -> ServiceResult<Prepared> {
    let (bp, version) = blueprints::load(ctx, blueprint, version).await?;
    let values = inputs::validate(&bp, given)
        .map_err(|errs| ServiceError::Invalid(errs.into_iter().map(|(f, m)| FieldError::new(format!("inputs.{f}"), m)).collect()))?;
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let name = match name.map(str::trim).filter(|s| !s.is_empty()) {
        Some(n) => crate::domain::Slug::parse(n).map_err(|e| ServiceError::invalid("name", e.0))?.to_string(),
        None => format!("{}-{}", bp.id, &id[..6]),
    };
    let mut spec =
        resolve::resolve(&bp, &values, &DeploymentRef { id: id.clone(), name: name.clone() }).map_err(ServiceError::Blueprint)?;
    // What runs is what is counted: the limits of components that set none are the defaults.
    resolve::apply_defaults(&mut spec, &ctx.defaults);
    let mut need = Amount::default();
    let mut images = Vec::new();
    let mut refused = Vec::new();
    for c in &spec {
        let from_input = bp.component(&c.name).and_then(|b| {
            b.image.refs().find_map(|r| match r {
                crate::domain::blueprint::template::Ref::Input(name) => Some(format!("inputs.{name}")),
                _ => None,
            })
        });
        let field = from_input.unwrap_or_else(|| format!("components.{}.image", c.name));
        if !bp.allowed_images.allows(c.image.as_ref()) {
            refused.push(FieldError::new(field.clone(), bp.allowed_images.refusal(c.image.as_ref(), "this blueprint")));
        }
        images.push((field, c.image.to_string()));
        let n = i64::from(c.replicas);
        need.containers += n;
        need.memory_mb += n * c.memory_mb.unwrap_or(0);
        need.cpus += n as f64 * c.cpus.unwrap_or(0.0);
    }
    if !refused.is_empty() {
        return Err(ServiceError::Invalid(refused));
    }
    Ok(Prepared { bp, version, values, id, name, need, images })
}

/// Where a deployment comes from, besides its blueprint.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub host_selector: BTreeMap<String, String>,
    pub owner_id: Option<i64>,
    pub group_id: Option<i64>,
    pub catalog_item: Option<String>,
    pub request_id: Option<String>,
    pub lease_days: Option<i32>,
    /// The catalog item's grace and longest lease (days).
    pub grace_days: Option<i32>,
    pub max_days: Option<i32>,
}

/// Stores a prepared deployment and queues its provisioning, in the caller's transaction.
pub async fn insert(
    txn: &impl sea_orm::ConnectionTrait,
    sealer: &crate::sealing::Sealer,
    p: &Prepared,
    origin: &Origin,
) -> Result<(), sea_orm::DbErr> {
    let now = Utc::now();
    deployment::ActiveModel {
        id: Set(p.id.clone()),
        name: Set(p.name.clone()),
        blueprint_id: Set(p.bp.id.clone()),
        blueprint_version: Set(p.version),
        // Secret inputs are kept sealed (see `sealing`).
        inputs: Set(sealer.seal_inputs(&p.bp, &p.values)),
        host_id: Set(None),
        host_selector: Set(StringMap(origin.host_selector.clone())),
        status: Set(DeploymentStatus::Provisioning),
        error: Set(None),
        outputs: Set(StringMap::default()),
        owner_id: Set(origin.owner_id),
        group_id: Set(origin.group_id),
        lease_expires_at: Set(origin.lease_days.map(|d| now + chrono::Duration::days(i64::from(d)))),
        created_at: Set(now),
        updated_at: Set(now),
        catalog_item_id: Set(origin.catalog_item.clone()),
        request_id: Set(origin.request_id.clone()),
        containers: Set(i32::try_from(p.need.containers).unwrap_or(i32::MAX)),
        host_name: Set(None),
        memory_mb: Set(p.need.memory_mb),
        cpus: Set(p.need.cpus),
        lease_grace_days: Set(origin.grace_days),
        lease_max_expires_at: Set(origin.max_days.map(|d| now + chrono::Duration::days(i64::from(d)))),
    }
    .insert(txn)
    .await?;
    queue::enqueue(txn, JobKind::Provision, &p.id).await?;
    Ok(())
}

/// An admin tries a blueprint: checked, stored and queued in one go.
pub async fn deploy(ctx: &Context, actor: &str, input: DeployInput) -> ServiceResult<DeploymentView> {
    let p = prepare(ctx, &input.blueprint, input.version, &input.inputs, input.name.as_deref()).await?;
    let origin = Origin { host_selector: input.host_selector, owner_id: input.owner_id, group_id: input.group_id, ..Default::default() };
    let txn = crate::store::begin(&ctx.db).await?;
    insert(&txn, &ctx.sealer, &p, &origin).await?;
    audit::record(
        &txn,
        actor,
        "deployment.create",
        &format!("deployment:{}", p.id),
        json!({"blueprint": p.bp.id, "version": p.version, "name": p.name, "inputs": inputs::masked(&p.bp, &p.values)}),
    )
    .await?;
    txn.commit().await?;
    ctx.signals.job_queued();
    get(ctx, &p.id).await
}

pub(crate) async fn find(db: &DatabaseConnection, id: &str) -> ServiceResult<deployment::Model> {
    deployment::Entity::find_by_id(id.to_string()).one(db).await?.ok_or_else(|| ServiceError::NotFound(format!("no deployment `{id}`")))
}

/// A deployment's status, for its live page (visibility is checked by the caller).
pub async fn status_of(db: &DatabaseConnection, id: &str) -> Option<DeploymentStatus> {
    deployment::Entity::find_by_id(id.to_string()).one(db).await.ok().flatten().map(|d| d.status)
}

pub async fn get(ctx: &Context, id: &str) -> ServiceResult<DeploymentView> {
    let db = &ctx.db;
    let d = find(db, id).await?;
    let h = match d.host_id {
        Some(hid) => host::Entity::find_by_id(hid).one(db).await?,
        None => None,
    };
    let owner = match d.owner_id {
        Some(uid) => user::Entity::find_by_id(uid).one(db).await?.map(|u| u.username),
        None => None,
    };
    let grp = match d.group_id {
        Some(gid) => group::Entity::find_by_id(gid).one(db).await?.map(|g| g.name),
        None => None,
    };
    // What a job at work on it (provisioning, destroying, a day-2 action) is doing.
    let progress = job::Entity::find()
        .filter(job::Column::DeploymentId.eq(&d.id))
        .filter(job::Column::Status.is_in([crate::domain::states::JobStatus::Queued, crate::domain::states::JobStatus::Running]))
        .order_by_desc(job::Column::Id)
        .one(db)
        .await?
        .map(|j| j.progress.unwrap_or_else(|| format!("{} queued", j.kind)));
    let mut resources: Vec<ResourceView> = resource::Entity::find()
        .filter(resource::Column::DeploymentId.eq(&d.id))
        .filter(resource::Column::Kind.is_in([ResourceKind::Container, ResourceKind::Service]))
        .all(db)
        .await?
        .into_iter()
        .map(|r| ResourceView {
            tasks: (r.kind == ResourceKind::Service)
                .then(|| TasksView { running: r.running.unwrap_or(0), desired: r.desired.unwrap_or(0) }),
            kind: r.kind,
            component: r.component,
            replica: r.replica,
            name: r.name,
            container_id: r.docker_id,
            host: h.as_ref().map(|h| h.name.clone()),
            status: r.status,
            ports: r.ports.0,
        })
        .collect();
    resources.sort_by(|a, b| (&a.component, a.replica).cmp(&(&b.component, b.replica)));
    // Secrets are masked for display: the blueprint says which inputs are secret.
    let masked = match blueprints::load(ctx, &d.blueprint_id, Some(d.blueprint_version)).await {
        Ok((bp, _)) => inputs::masked(&bp, &d.inputs.0),
        Err(_) => json!({}),
    };
    Ok(DeploymentView {
        id: d.id,
        name: d.name,
        status: d.status,
        error: d.error,
        progress,
        blueprint: d.blueprint_id,
        blueprint_version: d.blueprint_version,
        catalog_item: d.catalog_item_id,
        request_id: d.request_id,
        owner,
        group: grp,
        host: h.map(|h| h.name),
        inputs: masked,
        outputs: d.outputs.0,
        lease_expires_at: d.lease_expires_at,
        lease_grace_ends_at: d.lease_expires_at.map(|e| crate::domain::lifecycle::grace_ends(e, d.lease_grace_days)),
        lease_max_expires_at: d.lease_max_expires_at,
        resources,
        created_at: d.created_at,
        updated_at: d.updated_at,
    })
}

#[derive(Debug, Clone, Default)]
pub struct DeploymentFilter {
    pub status: Option<DeploymentStatus>,
    pub blueprint: Option<String>,
    pub group: Option<String>,
    pub owner: Option<String>,
}

impl DeploymentFilter {
    /// Reads a `status` parameter: empty means any; an unknown word is an error that lists the
    /// known ones.
    pub fn parse_status(raw: Option<&str>) -> ServiceResult<Option<DeploymentStatus>> {
        match raw.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => s.parse().map(Some).map_err(|e: crate::domain::states::UnknownWord| ServiceError::invalid("status", e.to_string())),
        }
    }
}

/// Owners see their deployments, managers their groups', admins all.
pub fn visible(who: &crate::auth::Principal, owner_id: Option<i64>, group_id: Option<i64>) -> bool {
    who.is_admin || owner_id == Some(who.user_id) || group_id.is_some_and(|g| who.manages(g))
}

/// A deployment the caller may see; 404 otherwise, as if it did not exist.
pub async fn get_for(ctx: &Context, who: &crate::auth::Principal, id: &str) -> ServiceResult<DeploymentView> {
    let d = find(&ctx.db, id).await?;
    if !visible(who, d.owner_id, d.group_id) {
        return Err(ServiceError::NotFound(format!("no deployment `{id}`")));
    }
    let mut v = get(ctx, id).await?;
    if !who.is_admin {
        v.error = v.error.map(|e| crate::domain::redact_addresses(&e));
        v.progress = v.progress.map(|p| crate::domain::redact_addresses(&p));
    }
    Ok(v)
}

/// Newest first, paginated in SQL.
pub async fn list(
    db: &DatabaseConnection,
    who: &crate::auth::Principal,
    filter: &DeploymentFilter,
    page: PageRequest,
) -> ServiceResult<Page<DeploymentSummary>> {
    let mut q = deployment::Entity::find();
    if !who.is_admin {
        let managed: Vec<i64> = who.groups.iter().filter(|g| g.role == crate::domain::Role::Manager).map(|g| g.group_id).collect();
        q = q.filter(
            sea_orm::Condition::any().add(deployment::Column::OwnerId.eq(who.user_id)).add(deployment::Column::GroupId.is_in(managed)),
        );
    }
    if let Some(g) = filter.group.as_deref().filter(|s| !s.is_empty()) {
        let gid = group::Entity::find().filter(group::Column::Name.eq(g)).one(db).await?.map(|g| g.id).unwrap_or(-1);
        q = q.filter(deployment::Column::GroupId.eq(gid));
    }
    if let Some(o) = filter.owner.as_deref().filter(|s| !s.is_empty()) {
        let uid = user::Entity::find().filter(user::Column::Username.eq(o.to_ascii_lowercase())).one(db).await?.map(|u| u.id).unwrap_or(-1);
        q = q.filter(deployment::Column::OwnerId.eq(uid));
    }
    if let Some(s) = filter.status {
        q = q.filter(deployment::Column::Status.eq(s));
    }
    if let Some(b) = filter.blueprint.as_deref().filter(|s| !s.is_empty()) {
        q = q.filter(deployment::Column::BlueprintId.eq(b));
    }
    let (rows, total) = page.fetch_as::<_, SummaryRow>(db, q.order_by_desc(deployment::Column::CreatedAt)).await?;
    let items = rows
        .into_iter()
        .map(|d| DeploymentSummary {
            id: d.id,
            name: d.name,
            status: d.status,
            catalog_item: d.catalog_item_id,
            request_id: d.request_id,
            lease_expires_at: d.lease_expires_at,
            blueprint: d.blueprint_id,
            blueprint_version: d.blueprint_version,
            host_id: d.host_id,
            error: if who.is_admin { d.error } else { d.error.map(|e| crate::domain::redact_addresses(&e)) },
            created_at: d.created_at,
        })
        .collect();
    Ok(page.page_of(items, total))
}

/// Gives a deployment to another owner (admins): an account that is active and, when the
/// deployment belongs to a group, a member of it. For the deployments of a user who left.
pub async fn give_to(ctx: &Context, who: &crate::auth::Principal, id: &str, owner: &str) -> ServiceResult<DeploymentView> {
    if !who.is_admin {
        return Err(ServiceError::Forbidden("only an admin may give a deployment to another owner".into()));
    }
    let db = &ctx.db;
    let d = find(db, id).await?;
    let new = crate::services::accounts::find_user(db, owner)
        .await?
        .filter(|u| u.is_active)
        .ok_or_else(|| ServiceError::invalid("owner", format!("no active account `{owner}`")))?;
    if let Some(g) = d.group_id {
        let member = crate::store::entities::membership::Entity::find()
            .filter(crate::store::entities::membership::Column::GroupId.eq(g))
            .filter(crate::store::entities::membership::Column::UserId.eq(new.id))
            .one(db)
            .await?;
        if member.is_none() {
            return Err(ServiceError::invalid("owner", format!("`{}` is not a member of the deployment's group", new.username)));
        }
    }
    let txn = crate::store::begin(db).await?;
    let before = d.owner_id;
    let mut a: deployment::ActiveModel = d.into();
    a.owner_id = Set(Some(new.id));
    a.updated_at = Set(Utc::now());
    a.update(&txn).await?;
    let previous = match before {
        Some(uid) => crate::store::entities::user::Entity::find_by_id(uid).one(&txn).await?.map(|u| u.username),
        None => None,
    };
    audit::record(&txn, &who.username, "deployment.owner", &format!("deployment:{id}"), json!({"from": previous, "to": new.username}))
        .await?;
    txn.commit().await?;
    get(ctx, id).await
}

/// Sets a deployment's lease end (admins; also beyond the cap, or in the past to end it now).
/// An expired deployment given a future end may start again.
pub async fn set_lease(ctx: &Context, who: &crate::auth::Principal, id: &str, expires_at: DateTime<Utc>) -> ServiceResult<DeploymentView> {
    if !who.is_admin {
        return Err(ServiceError::Forbidden("only an admin sets a lease's end".into()));
    }
    let limit = chrono::Duration::days(crate::domain::lifecycle::LEASE_SET_LIMIT_DAYS);
    let now = Utc::now();
    if expires_at > now + limit || expires_at < now - limit {
        return Err(ServiceError::invalid(
            "expires_at",
            format!("must be within {} days of now", crate::domain::lifecycle::LEASE_SET_LIMIT_DAYS),
        ));
    }
    let db = &ctx.db;
    let d = find(db, id).await?;
    if !(d.status.is_live() || d.status == DeploymentStatus::Failed) || d.status == DeploymentStatus::Destroying {
        return Err(ServiceError::Conflict(format!("a {} deployment has no lease to set", d.status)));
    }
    let txn = crate::store::begin(db).await?;
    let res = deployment::Entity::update_many()
        .col_expr(deployment::Column::LeaseExpiresAt, sea_orm::sea_query::Expr::value(Some(expires_at)))
        .col_expr(deployment::Column::UpdatedAt, sea_orm::sea_query::Expr::value(now))
        .filter(deployment::Column::Id.eq(id))
        .filter(deployment::Column::Status.eq(d.status))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(ServiceError::Conflict("the deployment changed meanwhile; look again".into()));
    }
    if d.status == DeploymentStatus::Expired && expires_at > now {
        store::deployments::advance(&txn, id, DeploymentEvent::LeaseExtended, None, None).await?;
    }
    let text = format!("{} set the lease to end on {}", who.username, expires_at.format("%Y-%m-%d %H:%M UTC"));
    store::deployments::record_event(&txn, id, crate::domain::states::DeploymentEventKind::LeaseSet, &text, None).await?;
    audit::record(
        &txn,
        &who.username,
        "deployment.lease",
        &format!("deployment:{id}"),
        json!({"from": d.lease_expires_at, "to": expires_at}),
    )
    .await?;
    txn.commit().await?;
    ctx.signals.timeline_written();
    get(ctx, id).await
}

/// One entry of a deployment's history: its own events and those of every request about it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    /// The entry's kind (a request timeline kind or a deployment event kind).
    pub kind: String,
    pub label: String,
    pub tone: String,
    pub message: String,
    /// The request the entry belongs to, if any.
    pub request_id: Option<String>,
}

/// A deployment's history as `who` may read it, oldest first: the deployment's own events, and
/// the timelines of the requests about it that `who` may see (a new owner does not read the
/// previous owner's requests). Visibility of the deployment is checked by the caller.
pub async fn history(db: &DatabaseConnection, who: &crate::auth::Principal, id: &str) -> ServiceResult<Vec<HistoryEntry>> {
    use crate::store::entities::{deployment_event, request, request_event};
    let admin = who.is_admin;
    let clean = |m: String| if admin { m } else { crate::domain::redact_addresses(&m) };
    let mut out: Vec<HistoryEntry> = deployment_event::Entity::find()
        .filter(deployment_event::Column::DeploymentId.eq(id))
        .all(db)
        .await?
        .into_iter()
        .map(|e| HistoryEntry {
            at: e.at,
            kind: e.kind.as_str().into(),
            label: e.kind.label().into(),
            tone: e.kind.tone().as_str().into(),
            message: clean(e.message),
            request_id: None,
        })
        .collect();
    let requests: Vec<String> =
        request::Entity::find().filter(request::Column::DeploymentId.eq(id)).all(db).await?.into_iter().map(|r| r.id).collect();
    for e in request_event::Entity::find().filter(request_event::Column::RequestId.is_in(requests)).all(db).await? {
        out.push(HistoryEntry {
            at: e.at,
            kind: e.kind.as_str().into(),
            label: e.kind.label().into(),
            tone: e.kind.tone().as_str().into(),
            message: clean(e.message),
            request_id: Some(e.request_id),
        });
    }
    out.sort_by_key(|e| e.at);
    Ok(out)
}
