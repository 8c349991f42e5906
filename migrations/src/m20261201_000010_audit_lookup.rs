//! The audit log's usual question, one actor's actions of a kind since a time, answered from
//! one index (at a million rows, a look through the actor's index and then the rows took
//! seconds).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Actor,
    Action,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("idx_audit_actor_action_at")
                .table(AuditLog::Table)
                .if_not_exists()
                .col(AuditLog::Actor)
                .col(AuditLog::Action)
                .col(AuditLog::At)
                .to_owned(),
        )
        .await
    }
}
