//! For the engine under faults: the containers a deployment plans (placement counts them
//! before they exist, so a host's `max_containers` holds across concurrent placements), the
//! blueprint version a request was approved with (and deploys), and the host a deployment was
//! on (kept when the host is removed, so orphaned containers can still be found).
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Deployments {
    Table,
    Containers,
    HostName,
}

#[derive(DeriveIden)]
enum Requests {
    Table,
    BlueprintVersion,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Deployments::Table).add_column(integer(Deployments::Containers).default(0)).to_owned()).await?;
        m.alter_table(Table::alter().table(Deployments::Table).add_column(string_null(Deployments::HostName)).to_owned()).await?;
        m.alter_table(Table::alter().table(Requests::Table).add_column(integer_null(Requests::BlueprintVersion)).to_owned()).await?;
        Ok(())
    }
}
