//! E-mail preferences: the kinds of notification a user does not want by mail (a
//! comma-separated list of `approvals`, `requests`, `leases`, `hosts`; empty: all of them). And
//! one decision per approver and level of a request (a mail's link and the page raced before).
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    MailOff,
}

#[derive(DeriveIden)]
enum RequestDecisions {
    Table,
    RequestId,
    Level,
    Approver,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Users::Table).add_column(string(Users::MailOff).default("")).to_owned()).await?;
        m.create_index(
            Index::create()
                .name("idx_request_decisions_once")
                .table(RequestDecisions::Table)
                .col(RequestDecisions::RequestId)
                .col(RequestDecisions::Level)
                .col(RequestDecisions::Approver)
                .unique()
                .to_owned(),
        )
        .await
    }
}
