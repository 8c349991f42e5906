//! The self-service loop: catalog items, entitlements, approval policies, quotas, requests,
//! their decisions and their timelines.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CatalogItems {
    Table,
    Id,
    Name,
    Description,
    Category,
    Icon,
    BlueprintId,
    BlueprintVersion,
    HostSelector,
    LeaseDefaultDays,
    LeaseMaxDays,
    LeaseGraceDays,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Entitlements {
    Table,
    Id,
    GroupId,
    CatalogItems,
    Categories,
    Actions,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApprovalPolicies {
    Table,
    Id,
    Name,
    Scope,
    Condition,
    Actions,
    Levels,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Quotas {
    Table,
    GroupId,
    MaxContainers,
    MaxMemoryMb,
    MaxCpus,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Requests {
    Table,
    Id,
    CatalogItemId,
    GroupId,
    RequesterId,
    Inputs,
    LeaseDays,
    Reason,
    Status,
    Explain,
    PolicyId,
    Level,
    LevelStartedAt,
    DeploymentId,
    Error,
    HoldsQuota,
    Containers,
    MemoryMb,
    Cpus,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RequestDecisions {
    Table,
    Id,
    RequestId,
    Level,
    ApproverId,
    Approver,
    Decision,
    Comment,
    At,
}

#[derive(DeriveIden)]
enum RequestEvents {
    Table,
    Id,
    RequestId,
    At,
    Kind,
    Message,
}

#[derive(DeriveIden)]
enum Groups {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Deployments {
    Table,
    CatalogItemId,
    RequestId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(CatalogItems::Table)
                .col(string(CatalogItems::Id).primary_key())
                .col(string(CatalogItems::Name))
                .col(text(CatalogItems::Description))
                .col(string(CatalogItems::Category))
                .col(string(CatalogItems::Icon))
                .col(string(CatalogItems::BlueprintId))
                .col(integer_null(CatalogItems::BlueprintVersion))
                .col(json(CatalogItems::HostSelector))
                .col(integer(CatalogItems::LeaseDefaultDays))
                .col(integer(CatalogItems::LeaseMaxDays))
                .col(integer(CatalogItems::LeaseGraceDays))
                .col(timestamp_with_time_zone(CatalogItems::CreatedAt))
                .col(timestamp_with_time_zone(CatalogItems::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Entitlements::Table)
                .col(big_pk_auto(Entitlements::Id))
                .col(big_integer(Entitlements::GroupId))
                .col(json(Entitlements::CatalogItems))
                .col(json(Entitlements::Categories))
                .col(json(Entitlements::Actions))
                .col(timestamp_with_time_zone(Entitlements::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Entitlements::Table, Entitlements::GroupId)
                        .to(Groups::Table, Groups::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ApprovalPolicies::Table)
                .col(big_pk_auto(ApprovalPolicies::Id))
                .col(string_uniq(ApprovalPolicies::Name))
                .col(json(ApprovalPolicies::Scope))
                .col(text_null(ApprovalPolicies::Condition))
                .col(json(ApprovalPolicies::Actions))
                .col(json(ApprovalPolicies::Levels))
                .col(timestamp_with_time_zone(ApprovalPolicies::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Quotas::Table)
                .col(big_integer(Quotas::GroupId).primary_key())
                .col(integer_null(Quotas::MaxContainers))
                .col(big_integer_null(Quotas::MaxMemoryMb))
                .col(double_null(Quotas::MaxCpus))
                .col(timestamp_with_time_zone(Quotas::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Quotas::Table, Quotas::GroupId)
                        .to(Groups::Table, Groups::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Requests::Table)
                .col(string(Requests::Id).primary_key())
                .col(string(Requests::CatalogItemId))
                .col(big_integer(Requests::GroupId))
                .col(big_integer(Requests::RequesterId))
                .col(json(Requests::Inputs))
                .col(integer(Requests::LeaseDays))
                .col(text(Requests::Reason))
                .col(string(Requests::Status))
                .col(json(Requests::Explain))
                .col(big_integer_null(Requests::PolicyId))
                .col(integer(Requests::Level))
                .col(timestamp_with_time_zone_null(Requests::LevelStartedAt))
                .col(string_null(Requests::DeploymentId))
                .col(text_null(Requests::Error))
                .col(boolean(Requests::HoldsQuota))
                .col(integer(Requests::Containers))
                .col(big_integer(Requests::MemoryMb))
                .col(double(Requests::Cpus))
                .col(timestamp_with_time_zone(Requests::CreatedAt))
                .col(timestamp_with_time_zone(Requests::UpdatedAt))
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("idx_requests_status", Requests::Status),
            ("idx_requests_group", Requests::GroupId),
            ("idx_requests_requester", Requests::RequesterId),
        ] {
            m.create_index(Index::create().name(name).table(Requests::Table).col(col).to_owned()).await?;
        }
        m.create_table(
            Table::create()
                .table(RequestDecisions::Table)
                .col(big_pk_auto(RequestDecisions::Id))
                .col(string(RequestDecisions::RequestId))
                .col(integer(RequestDecisions::Level))
                .col(big_integer_null(RequestDecisions::ApproverId))
                .col(string(RequestDecisions::Approver))
                .col(string(RequestDecisions::Decision))
                .col(text(RequestDecisions::Comment))
                .col(timestamp_with_time_zone(RequestDecisions::At))
                .foreign_key(
                    ForeignKey::create()
                        .from(RequestDecisions::Table, RequestDecisions::RequestId)
                        .to(Requests::Table, Requests::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RequestEvents::Table)
                .col(big_pk_auto(RequestEvents::Id))
                .col(string(RequestEvents::RequestId))
                .col(timestamp_with_time_zone(RequestEvents::At))
                .col(string(RequestEvents::Kind))
                .col(text(RequestEvents::Message))
                .foreign_key(
                    ForeignKey::create()
                        .from(RequestEvents::Table, RequestEvents::RequestId)
                        .to(Requests::Table, Requests::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("idx_request_events").table(RequestEvents::Table).col(RequestEvents::RequestId).to_owned())
            .await?;
        // A deployment made by a request knows it, and its catalog item (for day-2 entitlements).
        m.alter_table(Table::alter().table(Deployments::Table).add_column(string_null(Deployments::CatalogItemId)).to_owned()).await?;
        m.alter_table(Table::alter().table(Deployments::Table).add_column(string_null(Deployments::RequestId)).to_owned()).await?;
        Ok(())
    }
}
