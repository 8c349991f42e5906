//! E-mail preferences: the kinds of notification a user does not want by mail (a
//! comma-separated list of `approvals`, `requests`, `leases`, `hosts`; empty: all of them).
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    MailOff,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Users::Table).add_column(string(Users::MailOff).default("")).to_owned()).await
    }
}
