//! Registering Docker hosts, listing them, removing them.
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use serde_json::json;

use super::{FieldError, ServiceError, ServiceResult, audit};
use crate::docker::{BollardHost, ContainerHost, HostEndpoint, TlsMaterial};
use crate::domain::Slug;
use crate::domain::states::{DeploymentEvent, DeploymentStatus, HostKind, HostStatus, ResourceKind};
use crate::engine::pool::HostPool;
use crate::store::StringMap;
use crate::store::entities::{deployment, host, resource};

/// How long registration waits for the engine to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Default)]
pub struct HostInput {
    pub name: String,
    pub endpoint: String,
    pub tls: Option<TlsMaterial>,
    pub labels: BTreeMap<String, String>,
    pub max_containers: Option<i32>,
    pub publish_address: Option<String>,
    /// A local IP of the engine's machine that published ports bind to.
    pub bind_address: Option<String>,
    /// `MIN-MAX`: the range host ports taken from inputs must stay within.
    pub host_ports: Option<String>,
    /// `engine` (the default) or `swarm`: a Swarm manager's endpoint.
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EngineView {
    pub version: Option<String>,
    pub cpus: Option<i32>,
    pub memory_mb: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HostView {
    pub id: i64,
    pub name: String,
    pub endpoint: String,
    /// `engine`, or `swarm` (a Swarm manager: deployments become services there).
    pub kind: HostKind,
    pub tls: bool,
    /// A plain `tcp://` endpoint without TLS: anyone on the network path can drive the engine.
    pub insecure: bool,
    pub labels: BTreeMap<String, String>,
    pub status: HostStatus,
    pub last_error: Option<String>,
    pub engine: EngineView,
    pub containers: i32,
    pub max_containers: Option<i32>,
    pub publish_address: String,
    pub bind_address: Option<String>,
    /// Where published ports bind: an IP, or `all interfaces` when neither `bind_address`
    /// nor `publish_address` is an IP.
    pub binds: String,
    /// `MIN-MAX`, when set: the range host ports taken from inputs must stay within.
    pub host_ports: Option<String>,
    pub checked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub fn view(h: host::Model) -> HostView {
    let binds = match h.kind {
        HostKind::Swarm => "all interfaces".to_string(),
        HostKind::Engine => h.bind_ip().map_or_else(|| "all interfaces".to_string(), |ip| ip.to_string()),
    };
    let host_ports = h.host_ports().map(|r| format!("{}-{}", r.start(), r.end()));
    HostView {
        id: h.id,
        kind: h.kind,
        tls: h.tls_key.is_some(),
        insecure: h.endpoint.starts_with("tcp://") && h.tls_key.is_none(),
        labels: h.labels.0,
        name: h.name,
        endpoint: h.endpoint,
        status: h.status,
        last_error: h.last_error,
        engine: EngineView { version: h.engine_version, cpus: h.cpus, memory_mb: h.memory_mb },
        containers: h.containers,
        max_containers: h.max_containers,
        binds,
        host_ports,
        bind_address: h.bind_address,
        publish_address: h.publish_address,
        checked_at: h.checked_at,
        created_at: h.created_at,
    }
}

/// `MIN-MAX` within the unprivileged ports, MIN <= MAX.
fn parse_port_range(r: &str) -> Option<(u16, u16)> {
    let (a, b) = r.split_once('-')?;
    let (a, b) = (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?);
    (1024 <= a && a <= b).then_some((a, b))
}

/// A host label's key (also what a catalog item's host selector names).
pub fn is_label_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= 63 && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
}

/// What registration allows and checks.
#[derive(Debug, Clone, Copy)]
pub struct Registration<'a> {
    /// Connect to the engine first (off only for the local socket found at start-up), so that
    /// a wrong endpoint or certificate is refused at once.
    pub check_connection: bool,
    /// Accept `tcp://` endpoints without TLS (`hosts.allow_insecure_tcp`).
    pub allow_insecure_tcp: bool,
    /// Seals the TLS client key before it is stored.
    pub sealer: &'a crate::sealing::Sealer,
}

/// Checks the input and registers the host.
pub async fn register(db: &DatabaseConnection, actor: &str, input: HostInput, how: Registration<'_>) -> ServiceResult<HostView> {
    let check_connection = how.check_connection;
    let mut errors = Vec::new();
    let name = match Slug::parse(&input.name) {
        Ok(n) => n.to_string(),
        Err(e) => {
            errors.push(FieldError::new("name", e.0));
            input.name.clone()
        }
    };
    let endpoint = HostEndpoint::parse(input.endpoint.trim()).map_err(|e| errors.push(FieldError::new("endpoint", e.to_string()))).ok();
    if let (Some(HostEndpoint::Unix(_)), Some(_)) = (&endpoint, &input.tls) {
        errors.push(FieldError::new("tls", "TLS applies to tcp:// endpoints only"));
    }
    if let (Some(HostEndpoint::Tcp { .. }), None, false) = (&endpoint, &input.tls, how.allow_insecure_tcp) {
        errors.push(FieldError::new(
            "endpoint",
            "plain tcp:// endpoints without TLS are refused here (hosts.allow_insecure_tcp = false): give a TLS client certificate",
        ));
    }
    if let Some(tls) = &input.tls {
        for (field, pem, marker) in [
            ("tls.ca_pem", &tls.ca_pem, "CERTIFICATE"),
            ("tls.cert_pem", &tls.cert_pem, "CERTIFICATE"),
            ("tls.key_pem", &tls.key_pem, "PRIVATE KEY"),
        ] {
            if !pem.contains("-----BEGIN") || !pem.contains(marker) {
                errors.push(FieldError::new(field, format!("must be PEM text with a {marker}")));
            }
        }
    }
    for k in input.labels.keys() {
        if !is_label_key(k) {
            errors.push(FieldError::new("labels", format!("`{k}` is not a label key (a-z, 0-9, '.', '_', '-', '/')")));
        }
    }
    if input.max_containers.is_some_and(|m| m < 1) {
        errors.push(FieldError::new("max_containers", "must be at least 1"));
    }
    let publish_address = match (&input.publish_address, &endpoint) {
        (Some(a), _) if !a.trim().is_empty() => {
            let a = a.trim().to_string();
            if a.contains(['/', ' ', '@']) {
                errors.push(FieldError::new("publish_address", format!("`{a}` is not a host name or address")));
            }
            a
        }
        (_, Some(HostEndpoint::Tcp { host, .. })) => host.clone(),
        _ => "127.0.0.1".to_string(),
    };
    let bind_address = match input.bind_address.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => match a.parse::<std::net::IpAddr>() {
            Ok(ip) if !ip.is_unspecified() => Some(ip.to_string()),
            _ => {
                errors.push(FieldError::new("bind_address", format!("`{a}` is not an IP address of the engine's machine")));
                None
            }
        },
        None => None,
    };
    let host_ports = match input.host_ports.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        Some(r) => match parse_port_range(r) {
            Some(range) => Some(range),
            None => {
                errors.push(FieldError::new("host_ports", format!("`{r}` is not a port range like 30000-32767 (1024 to 65535)")));
                None
            }
        },
        None => None,
    };
    let kind = match input.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        None => HostKind::Engine,
        Some(k) => k.parse::<HostKind>().unwrap_or_else(|_| {
            errors
                .push(FieldError::new("kind", format!("`{k}` is not a host kind: engine (one Docker Engine) or swarm (a Swarm manager)")));
            HostKind::Engine
        }),
    };
    if kind == HostKind::Swarm && bind_address.is_some() {
        errors.push(FieldError::new(
            "bind_address",
            "a Swarm publishes host-mode ports on every interface of the node a task runs on: leave the bind address empty for a swarm host",
        ));
    }
    let Some(endpoint) = endpoint.filter(|_| errors.is_empty()) else {
        return Err(ServiceError::Invalid(errors));
    };
    if host::Entity::find().filter(host::Column::Name.eq(&name)).one(db).await?.is_some() {
        return Err(ServiceError::Conflict(format!("the host name `{name}` is taken")));
    }
    let mut info = None;
    if check_connection {
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let conn = BollardHost::connect_with(endpoint.clone(), input.tls.as_ref()).await?;
            let swarm = if kind == HostKind::Swarm { Some(conn.swarm().await?) } else { None };
            conn.info().await.map(|i| (i, swarm))
        })
        .await;
        match connected {
            Ok(Ok((_, Some(swarm)))) if !swarm.manager => {
                return Err(ServiceError::invalid(
                    "kind",
                    format!(
                        "the engine at {endpoint} is not a Swarm manager (its swarm state: {}): run `docker swarm init` there, or give a manager's endpoint",
                        if swarm.local_state.is_empty() { "unknown" } else { &swarm.local_state }
                    ),
                ));
            }
            Ok(Ok((i, _))) => info = Some(i),
            Ok(Err(e)) => return Err(ServiceError::invalid("endpoint", format!("Wharf could not talk to the engine: {e}"))),
            Err(_) => {
                return Err(ServiceError::invalid(
                    "endpoint",
                    format!("the engine at {endpoint} did not answer within {} s", CONNECT_TIMEOUT.as_secs()),
                ));
            }
        }
    }
    let txn = crate::store::begin(db).await?;
    let now = Utc::now();
    let row = host::ActiveModel {
        name: Set(name),
        endpoint: Set(endpoint.to_string()),
        tls_ca: Set(input.tls.as_ref().map(|t| t.ca_pem.clone())),
        tls_cert: Set(input.tls.as_ref().map(|t| t.cert_pem.clone())),
        tls_key: Set(input.tls.as_ref().map(|t| how.sealer.seal(crate::sealing::Kind::TlsKey, &t.key_pem))),
        labels: Set(StringMap(input.labels.clone())),
        max_containers: Set(input.max_containers),
        publish_address: Set(publish_address),
        bind_address: Set(bind_address),
        host_port_min: Set(host_ports.map(|(a, _)| i32::from(a))),
        host_port_max: Set(host_ports.map(|(_, b)| i32::from(b))),
        status: Set(if info.is_some() { HostStatus::Up } else { HostStatus::Unknown }),
        last_error: Set(None),
        engine_version: Set(info.as_ref().map(|i| i.version.clone())),
        cpus: Set(info.as_ref().map(|i| i.cpus as i32)),
        memory_mb: Set(info.as_ref().map(|i| i.memory_mb)),
        containers: Set(0),
        checked_at: Set(info.as_ref().map(|_| now)),
        created_at: Set(now),
        kind: Set(kind),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor,
        "host.create",
        &format!("host:{}", row.name),
        json!({"endpoint": row.endpoint, "kind": row.kind.as_str(), "tls": row.tls_key.is_some(), "labels": row.labels, "max_containers": row.max_containers}),
    )
    .await?;
    txn.commit().await?;
    Ok(view(row))
}

pub async fn list(db: &DatabaseConnection) -> ServiceResult<Vec<HostView>> {
    Ok(host::Entity::find().order_by_asc(host::Column::Name).all(db).await?.into_iter().map(view).collect())
}

/// By id, or by name.
pub async fn find(db: &DatabaseConnection, key: &str) -> ServiceResult<host::Model> {
    let found = match key.parse::<i64>() {
        Ok(id) => host::Entity::find_by_id(id).one(db).await?,
        Err(_) => host::Entity::find().filter(host::Column::Name.eq(key)).one(db).await?,
    };
    found.ok_or_else(|| ServiceError::NotFound(format!("no host `{key}`")))
}

/// Refuses while live deployments depend on the host, unless `force`, which leaves their
/// containers running on it, unmanaged: each such deployment becomes `orphaned`, keeps its
/// resources, and its error names the host and the containers left there — never forgotten.
/// The check and the change are one transaction, so a placement or a job cannot slip between.
pub async fn remove(db: &DatabaseConnection, pool: &HostPool, actor: &str, key: &str, force: bool) -> ServiceResult<()> {
    let h = find(db, key).await?;
    let txn = crate::store::begin(db).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        // Placement locks the hosts' rows too: none can choose this host meanwhile.
        host::Entity::find_by_id(h.id).lock_exclusive().one(&txn).await?;
    }
    let live = deployment::Entity::find()
        .filter(deployment::Column::HostId.eq(h.id))
        .filter(deployment::Column::Status.is_in(DeploymentStatus::LIVE.iter().copied()))
        .all(&txn)
        .await?;
    if !live.is_empty() && !force {
        return Err(ServiceError::Conflict(format!(
            "{} live deployment(s) run on host `{}`: destroy them first, or remove with force=true, which leaves their containers running on the host, no longer managed by Wharf",
            live.len(),
            h.name
        )));
    }
    let mut orphaned = Vec::new();
    for d in &live {
        let to = d.status.next(DeploymentEvent::HostRemoved).map_err(|e| ServiceError::Conflict(e.to_string()))?;
        let containers: Vec<String> = resource::Entity::find()
            .filter(resource::Column::DeploymentId.eq(&d.id))
            .filter(resource::Column::Kind.is_in([ResourceKind::Container, ResourceKind::Service]))
            .all(&txn)
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect();
        let left = if containers.is_empty() {
            "no container was made yet".to_string()
        } else {
            format!("containers left there: {}", containers.join(", "))
        };
        deployment::Entity::update_many()
            .col_expr(deployment::Column::Status, Expr::value(to))
            .col_expr(deployment::Column::HostName, Expr::value(Some(h.name.clone())))
            .col_expr(deployment::Column::Error, Expr::value(format!("host `{}` was removed from Wharf; {left}", h.name)))
            .col_expr(deployment::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(deployment::Column::Id.eq(&d.id))
            .filter(deployment::Column::Status.eq(d.status))
            .exec(&txn)
            .await?;
        orphaned.push(json!({"deployment": d.id, "containers": containers}));
    }
    let pool_networks = crate::engine::netpool::unclaimed(&txn, h.id).await?;
    host::Entity::delete_by_id(h.id).exec(&txn).await?;
    audit::record(&txn, actor, "host.remove", &format!("host:{}", h.name), json!({"force": force, "orphaned": orphaned})).await?;
    txn.commit().await?;
    // The networks its pool kept ready are litter on a host Wharf no longer manages: removed in
    // the background while the host answers within 30 s (their rows go either way).
    let (db, pool) = (db.clone(), pool.clone());
    tokio::spawn(async move {
        let drained = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            let conn = pool.get(&h).await.ok();
            crate::engine::netpool::drain(&db, conn.as_deref(), h.id, &pool_networks).await
        })
        .await;
        if !matches!(drained, Ok(Ok(()))) {
            tracing::warn!(host = %h.name, "the removed host's pool networks were not all removed");
        }
        pool.forget(h.id).await;
    });
    Ok(())
}
