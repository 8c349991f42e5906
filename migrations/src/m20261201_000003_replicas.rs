//! The Wharf processes serving this database, each seen at a heartbeat: operations that need
//! every replica stopped (rotating the secret key) can tell whether one still runs.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Replicas {
    Table,
    Id,
    Hostname,
    Pid,
    Version,
    StartedAt,
    SeenAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Replicas::Table)
                .if_not_exists()
                .col(string(Replicas::Id).primary_key())
                .col(string(Replicas::Hostname))
                .col(integer(Replicas::Pid))
                .col(string(Replicas::Version))
                .col(timestamp_with_time_zone(Replicas::StartedAt))
                .col(timestamp_with_time_zone(Replicas::SeenAt))
                .to_owned(),
        )
        .await
    }
}
