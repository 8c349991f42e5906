//! The network pool: deployment networks made ahead of time on each host, so that creating one
//! is off a request's critical path. A row is a network the pool made on a host; a claimed
//! one names the deployment it went to (claimed once, by a conditional update).
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PoolNetworks {
    Table,
    Id,
    HostId,
    Name,
    DockerId,
    DeploymentId,
    CreatedAt,
    ClaimedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PoolNetworks::Table)
                .if_not_exists()
                .col(big_pk_auto(PoolNetworks::Id))
                .col(big_integer(PoolNetworks::HostId))
                .col(string(PoolNetworks::Name).unique_key())
                .col(string(PoolNetworks::DockerId))
                .col(string_null(PoolNetworks::DeploymentId))
                .col(timestamp_with_time_zone(PoolNetworks::CreatedAt))
                .col(timestamp_with_time_zone_null(PoolNetworks::ClaimedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_pool_networks_host")
                .table(PoolNetworks::Table)
                .col(PoolNetworks::HostId)
                .col(PoolNetworks::DeploymentId)
                .to_owned(),
        )
        .await
    }
}
