//! Host health: every host is asked for its engine info at a fixed interval; one that does
//! not answer in time is marked down, and up again when it answers.
use std::time::Duration;

use chrono::Utc;
use futures_util::future::join_all;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::json;

use super::Engine;
use crate::domain::states::{HostKind, HostStatus, ResourceKind};
use crate::store::audit;
use crate::store::entities::{host, resource};

pub const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn run(engine: Engine) {
    let interval = Duration::from_secs(u64::from(engine.inner.hosts.health_interval_secs));
    loop {
        match host::Entity::find().all(&engine.inner.db).await {
            Ok(hosts) => {
                join_all(hosts.into_iter().map(|h| check(&engine, h))).await;
            }
            Err(e) => tracing::error!(error = %e, "cannot list hosts for health checks"),
        }
        tokio::time::sleep(interval).await;
    }
}

pub async fn check(engine: &Engine, h: host::Model) {
    let db = &engine.inner.db;
    let result = tokio::time::timeout(CHECK_TIMEOUT, async {
        let conn = engine.pool().get(&h).await?;
        let info = conn.info().await?;
        // A swarm host must still be a manager: a demoted node or a swarm left cannot take
        // services.
        if h.kind == HostKind::Swarm {
            let swarm = conn.swarm().await?;
            if !swarm.manager {
                return Err(crate::docker::DockerError::Engine {
                    endpoint: h.endpoint.clone(),
                    operation: "swarm",
                    message: format!("the engine is no longer a Swarm manager (its swarm state: {})", swarm.local_state),
                });
            }
        }
        Ok(info)
    })
    .await;
    let containers = resource::Entity::find()
        .filter(resource::Column::HostId.eq(h.id))
        .filter(resource::Column::Kind.eq(ResourceKind::Container))
        .count(db)
        .await
        .unwrap_or(0);
    // On a swarm, the tasks its services run.
    let tasks: u64 = resource::Entity::find()
        .filter(resource::Column::HostId.eq(h.id))
        .filter(resource::Column::Kind.eq(ResourceKind::Service))
        .all(db)
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| u64::try_from(r.running.unwrap_or(0)).unwrap_or(0))
        .sum();
    let containers = containers + tasks;
    let previous = h.status;
    let name = h.name.clone();
    let id = h.id;
    let mut active: host::ActiveModel = h.into();
    active.checked_at = Set(Some(Utc::now()));
    active.containers = Set(i32::try_from(containers).unwrap_or(i32::MAX));
    let answered = match result {
        Ok(Ok(info)) => {
            active.last_error = Set(None);
            active.engine_version = Set(Some(info.version));
            active.cpus = Set(Some(info.cpus as i32));
            active.memory_mb = Set(Some(info.memory_mb));
            true
        }
        Ok(Err(e)) => {
            active.last_error = Set(Some(e.to_string()));
            false
        }
        Err(_) => {
            active.last_error = Set(Some(format!("the engine did not answer within {} s", CHECK_TIMEOUT.as_secs())));
            false
        }
    };
    // Down only after `down_after` failed checks in a row: one slow answer keeps it up.
    let failures = {
        let mut counts = engine.inner.failed_checks.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(id).or_insert(0);
        *n = if answered { 0 } else { n.saturating_add(1) };
        *n
    };
    let status = HostStatus::after_check(previous, answered, failures, engine.inner.hosts.down_after);
    if status == HostStatus::Down {
        engine.pool().forget(id).await;
    }
    // The check's findings, and (when the status changes) the change, its audit entry and the
    // admins' notification in one transaction, on the condition that the row still has the
    // status this check read: when several replicas check a host, one of them records a change.
    // No transaction when nothing changes: a process stopped mid-check holds no lock on the row.
    if previous == status {
        if let Err(e) = active.update(db).await {
            tracing::error!(host = %name, error = %e, "cannot record the host's health");
        }
        return;
    }
    let recorded = async {
        let txn = crate::store::begin(db).await?;
        active.update(&txn).await?;
        {
            let moved = host::Entity::update_many()
                .col_expr(host::Column::Status, sea_orm::sea_query::Expr::value(status))
                .filter(host::Column::Id.eq(id))
                .filter(host::Column::Status.eq(previous))
                .exec(&txn)
                .await?;
            if moved.rows_affected == 1 {
                tracing::info!(host = %name, from = %previous, to = %status, "host status changed");
                audit::record(&txn, audit::SYSTEM, &format!("host.{status}"), &format!("host:{name}"), json!({"from": previous.as_str()}))
                    .await?;
                // Admins hear of a host that went down, and of one back up after being down.
                let told = match (previous, status) {
                    (_, HostStatus::Down) => Some(crate::domain::events::EventType::HostDown),
                    (HostStatus::Down, HostStatus::Up) => Some(crate::domain::events::EventType::HostUp),
                    _ => None,
                };
                if let Some(kind) = told {
                    let title = format!("Host {name} is {status}");
                    let data = json!({"host": name, "from": previous.as_str()});
                    let event = crate::store::outbox::Event::new(kind, title, Some("/admin/hosts".into()), data);
                    let admins = crate::store::outbox::admins(&txn).await?;
                    crate::store::outbox::emit(&txn, &event, &admins).await?;
                }
            }
        }
        txn.commit().await
    };
    if let Err(e) = recorded.await {
        tracing::error!(host = %name, error = %e, "cannot record the host's health");
    }
}
