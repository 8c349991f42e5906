//! What the home boards ask, answered from indexes: a user's deployments (by owner), a group's
//! leases ending soon (by group and lease end), and the requests of the last 30 days (by
//! creation time).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Deployments {
    Table,
    OwnerId,
    GroupId,
    LeaseExpiresAt,
}

#[derive(DeriveIden)]
enum Requests {
    Table,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create().name("idx_deployments_owner").table(Deployments::Table).if_not_exists().col(Deployments::OwnerId).to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_deployments_group_lease")
                .table(Deployments::Table)
                .if_not_exists()
                .col(Deployments::GroupId)
                .col(Deployments::LeaseExpiresAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("idx_requests_created").table(Requests::Table).if_not_exists().col(Requests::CreatedAt).to_owned(),
        )
        .await
    }
}
