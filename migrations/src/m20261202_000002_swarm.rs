//! Swarm hosts: a host's kind (`engine` or `swarm`), and a Swarm service's replicas wanted and
//! tasks running on its resource row.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Hosts {
    Table,
    Kind,
}

#[derive(DeriveIden)]
enum DeploymentResources {
    Table,
    Desired,
    Running,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Hosts::Table).add_column(ColumnDef::new(Hosts::Kind).string().not_null().default("engine")).to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(DeploymentResources::Table)
                .add_column(ColumnDef::new(DeploymentResources::Desired).integer().null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(DeploymentResources::Table)
                .add_column(ColumnDef::new(DeploymentResources::Running).integer().null())
                .to_owned(),
        )
        .await
    }
}
