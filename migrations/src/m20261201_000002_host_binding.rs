//! Where a host's published ports bind (a local IP of the engine's machine, apart from the
//! address users are shown), and the range input-driven host ports must stay within.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Hosts {
    Table,
    BindAddress,
    HostPortMin,
    HostPortMax,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Hosts::Table).add_column(string_null(Hosts::BindAddress)).to_owned()).await?;
        m.alter_table(Table::alter().table(Hosts::Table).add_column(integer_null(Hosts::HostPortMin)).to_owned()).await?;
        m.alter_table(Table::alter().table(Hosts::Table).add_column(integer_null(Hosts::HostPortMax)).to_owned()).await?;
        Ok(())
    }
}
