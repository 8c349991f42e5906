//! The deployment lifecycle: day-2 requests (a kind and an action beside catalog requests), the
//! request a day-2 job carries out, what a deployment holds against its group's quota (memory and
//! CPUs besides its containers, so that usage is read from live deployments), its lease's grace
//! and cap, and its own timeline (lease warnings, expiry, drift), where an event that must happen
//! once carries a key that is unique per deployment.
//!
//! Leases were recorded before they were enforced: a lease that has ended (or ends within
//! [`NOTICE_DAYS`]) is moved to [`NOTICE_DAYS`] from now, so that nothing is stopped or destroyed
//! without warning at the first start after the upgrade; the cap is the item's `max_days` from
//! creation, and never before the (moved) end.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Requests {
    Table,
    Kind,
    Action,
}

#[derive(DeriveIden)]
enum Deployments {
    Table,
    MemoryMb,
    Cpus,
    LeaseGraceDays,
    LeaseMaxExpiresAt,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    RequestId,
}

#[derive(DeriveIden)]
enum DeploymentEvents {
    Table,
    Id,
    DeploymentId,
    At,
    Kind,
    Message,
    OnceKey,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Requests::Table).add_column(string(Requests::Kind).default("catalog")).to_owned()).await?;
        m.alter_table(Table::alter().table(Requests::Table).add_column(string_null(Requests::Action)).to_owned()).await?;
        m.alter_table(Table::alter().table(Deployments::Table).add_column(big_integer(Deployments::MemoryMb).default(0)).to_owned())
            .await?;
        m.alter_table(Table::alter().table(Deployments::Table).add_column(double(Deployments::Cpus).default(0.0)).to_owned()).await?;
        m.alter_table(Table::alter().table(Deployments::Table).add_column(integer_null(Deployments::LeaseGraceDays)).to_owned()).await?;
        m.alter_table(
            Table::alter().table(Deployments::Table).add_column(timestamp_with_time_zone_null(Deployments::LeaseMaxExpiresAt)).to_owned(),
        )
        .await?;
        m.alter_table(Table::alter().table(Jobs::Table).add_column(string_null(Jobs::RequestId)).to_owned()).await?;
        // Deployments made before: what their request reserved, and their item's grace.
        let db = m.get_connection();
        give_old_leases_time(m).await?;
        db.execute_unprepared(
            "UPDATE deployments SET \
               memory_mb = COALESCE((SELECT r.memory_mb FROM requests r WHERE r.id = deployments.request_id), 0), \
               cpus = COALESCE((SELECT r.cpus FROM requests r WHERE r.id = deployments.request_id), 0), \
               lease_grace_days = (SELECT c.lease_grace_days FROM catalog_items c WHERE c.id = deployments.catalog_item_id)",
        )
        .await?;
        m.create_table(
            Table::create()
                .table(DeploymentEvents::Table)
                .if_not_exists()
                .col(big_pk_auto(DeploymentEvents::Id))
                .col(string(DeploymentEvents::DeploymentId))
                .col(timestamp_with_time_zone(DeploymentEvents::At))
                .col(string(DeploymentEvents::Kind))
                .col(text(DeploymentEvents::Message))
                .col(string_null(DeploymentEvents::OnceKey))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_deployment_events_once")
                .table(DeploymentEvents::Table)
                .col(DeploymentEvents::DeploymentId)
                .col(DeploymentEvents::OnceKey)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("idx_jobs_request").table(Jobs::Table).col(Jobs::RequestId).to_owned()).await?;
        Ok(())
    }
}

/// How long leases that had already ended get, from the upgrade, before they are enforced.
const NOTICE_DAYS: i64 = 3;

async fn give_old_leases_time(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::prelude::DateTimeUtc;
    let days = |n: i64| std::time::Duration::from_secs(n.unsigned_abs() * 86_400);
    use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};
    let db = m.get_connection();
    let backend = m.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT d.id, d.lease_expires_at, d.created_at, c.lease_max_days FROM deployments d \
             LEFT JOIN catalog_items c ON c.id = d.catalog_item_id WHERE d.lease_expires_at IS NOT NULL",
        ))
        .await?;
    let now: DateTimeUtc = sea_orm_migration::sea_orm::prelude::ChronoUtc::now();
    let earliest = now + days(NOTICE_DAYS);
    for row in rows {
        let id: String = row.try_get("", "id")?;
        let expires: DateTimeUtc = row.try_get("", "lease_expires_at")?;
        let created: DateTimeUtc = row.try_get("", "created_at")?;
        let max_days: Option<i32> = row.try_get("", "lease_max_days")?;
        let end = Ord::max(expires, earliest);
        let cap = max_days.map(|d| Ord::max(created + days(i64::from(d)), end));
        let sql = match backend {
            sea_orm_migration::sea_orm::DbBackend::Postgres => {
                "UPDATE deployments SET lease_expires_at = $1, lease_max_expires_at = $2 WHERE id = $3"
            }
            _ => "UPDATE deployments SET lease_expires_at = ?, lease_max_expires_at = ? WHERE id = ?",
        };
        db.execute_raw(Statement::from_sql_and_values(backend, sql, [end.into(), cap.into(), id.into()])).await?;
    }
    Ok(())
}
