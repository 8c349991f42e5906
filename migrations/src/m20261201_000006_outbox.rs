//! Notifications: the outbox of messages to deliver (written in the transaction of the change
//! that causes them, delivered by a sender loop with a lease like jobs, retried with a growing
//! pause, dead-lettered after the last try), each try's outcome, the webhooks admins register,
//! and the notifications each user sees in the portal.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    EventId,
    EventType,
    Channel,
    Target,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseOwner,
    LeaseUntil,
    LastError,
    LastStatus,
    CreatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum OutboxAttempts {
    Table,
    Id,
    OutboxId,
    At,
    StatusCode,
    Error,
    Millis,
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    Url,
    Events,
    Secret,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    UserId,
    EventId,
    EventType,
    Title,
    Link,
    CreatedAt,
    ReadAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Outbox::Table)
                .if_not_exists()
                .col(string(Outbox::Id).primary_key())
                .col(string(Outbox::EventId))
                .col(string(Outbox::EventType))
                .col(string(Outbox::Channel))
                .col(string(Outbox::Target))
                .col(text(Outbox::Payload))
                .col(string(Outbox::Status))
                .col(integer(Outbox::Attempts).default(0))
                .col(timestamp_with_time_zone(Outbox::NextAttemptAt))
                .col(string_null(Outbox::LeaseOwner))
                .col(timestamp_with_time_zone_null(Outbox::LeaseUntil))
                .col(text_null(Outbox::LastError))
                .col(integer_null(Outbox::LastStatus))
                .col(timestamp_with_time_zone(Outbox::CreatedAt))
                .col(timestamp_with_time_zone_null(Outbox::DeliveredAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("idx_outbox_due").table(Outbox::Table).col(Outbox::Status).col(Outbox::NextAttemptAt).to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("idx_outbox_target").table(Outbox::Table).col(Outbox::Channel).col(Outbox::Target).to_owned())
            .await?;
        m.create_table(
            Table::create()
                .table(OutboxAttempts::Table)
                .if_not_exists()
                .col(big_integer(OutboxAttempts::Id).primary_key().auto_increment())
                .col(string(OutboxAttempts::OutboxId))
                .col(timestamp_with_time_zone(OutboxAttempts::At))
                .col(integer_null(OutboxAttempts::StatusCode))
                .col(text_null(OutboxAttempts::Error))
                .col(big_integer(OutboxAttempts::Millis))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("idx_outbox_attempts_outbox").table(OutboxAttempts::Table).col(OutboxAttempts::OutboxId).to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Webhooks::Table)
                .if_not_exists()
                .col(big_integer(Webhooks::Id).primary_key().auto_increment())
                .col(string(Webhooks::Url))
                .col(json(Webhooks::Events))
                .col(text(Webhooks::Secret))
                .col(string(Webhooks::CreatedBy))
                .col(timestamp_with_time_zone(Webhooks::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Notifications::Table)
                .if_not_exists()
                .col(big_integer(Notifications::Id).primary_key().auto_increment())
                .col(big_integer(Notifications::UserId))
                .col(string(Notifications::EventId))
                .col(string(Notifications::EventType))
                .col(text(Notifications::Title))
                .col(string_null(Notifications::Link))
                .col(timestamp_with_time_zone(Notifications::CreatedAt))
                .col(timestamp_with_time_zone_null(Notifications::ReadAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_notifications_user")
                .table(Notifications::Table)
                .col(Notifications::UserId)
                .col(Notifications::ReadAt)
                .to_owned(),
        )
        .await
    }
}
