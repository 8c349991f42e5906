//! The web console's record: one row per shell session (who, where, when, bytes each way), with
//! its transcript when the catalog item asks for one (`catalog_items.console_record`). The
//! transcript is sealed like the other secrets at rest.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CatalogItems {
    Table,
    ConsoleRecord,
}

#[derive(DeriveIden)]
enum ConsoleSessions {
    Table,
    Id,
    DeploymentId,
    Component,
    Replica,
    Container,
    UserId,
    Username,
    ClientAddress,
    StartedAt,
    EndedAt,
    BytesIn,
    BytesOut,
    Recorded,
    Transcript,
    TranscriptTruncated,
    CloseReason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(CatalogItems::Table).add_column(boolean(CatalogItems::ConsoleRecord).default(false)).to_owned())
            .await?;
        m.create_table(
            Table::create()
                .table(ConsoleSessions::Table)
                .if_not_exists()
                .col(string(ConsoleSessions::Id).primary_key())
                .col(string(ConsoleSessions::DeploymentId))
                .col(string(ConsoleSessions::Component))
                .col(integer(ConsoleSessions::Replica))
                .col(string(ConsoleSessions::Container))
                .col(big_integer(ConsoleSessions::UserId))
                .col(string(ConsoleSessions::Username))
                .col(string(ConsoleSessions::ClientAddress))
                .col(timestamp_with_time_zone(ConsoleSessions::StartedAt))
                .col(timestamp_with_time_zone_null(ConsoleSessions::EndedAt))
                .col(big_integer(ConsoleSessions::BytesIn).default(0))
                .col(big_integer(ConsoleSessions::BytesOut).default(0))
                .col(boolean(ConsoleSessions::Recorded).default(false))
                .col(text_null(ConsoleSessions::Transcript))
                .col(boolean(ConsoleSessions::TranscriptTruncated).default(false))
                .col(string_null(ConsoleSessions::CloseReason))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_console_sessions_deployment")
                .table(ConsoleSessions::Table)
                .col(ConsoleSessions::DeploymentId)
                .col(ConsoleSessions::StartedAt)
                .to_owned(),
        )
        .await
    }
}
