//! Hosts, blueprints and their versions, deployments with their resources, and durable jobs.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Hosts {
    Table,
    Id,
    Name,
    Endpoint,
    TlsCa,
    TlsCert,
    TlsKey,
    Labels,
    MaxContainers,
    PublishAddress,
    Status,
    LastError,
    EngineVersion,
    Cpus,
    MemoryMb,
    Containers,
    CheckedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Blueprints {
    Table,
    Id,
    Name,
    Description,
    Category,
    LatestVersion,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BlueprintVersions {
    Table,
    BlueprintId,
    Version,
    Source,
    Sha256,
    Trusted,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Deployments {
    Table,
    Id,
    Name,
    BlueprintId,
    BlueprintVersion,
    Inputs,
    HostId,
    HostSelector,
    Status,
    Error,
    Outputs,
    OwnerId,
    GroupId,
    LeaseExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DeploymentResources {
    Table,
    Id,
    DeploymentId,
    Kind,
    Component,
    Replica,
    Name,
    DockerId,
    HostId,
    Status,
    Ports,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    Kind,
    DeploymentId,
    Status,
    Attempts,
    LeaseOwner,
    LeaseUntil,
    LastError,
    Progress,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Hosts::Table)
                .col(big_pk_auto(Hosts::Id))
                .col(string_uniq(Hosts::Name))
                .col(string(Hosts::Endpoint))
                .col(text_null(Hosts::TlsCa))
                .col(text_null(Hosts::TlsCert))
                .col(text_null(Hosts::TlsKey))
                .col(json(Hosts::Labels))
                .col(integer_null(Hosts::MaxContainers))
                .col(string(Hosts::PublishAddress))
                .col(string(Hosts::Status))
                .col(text_null(Hosts::LastError))
                .col(string_null(Hosts::EngineVersion))
                .col(integer_null(Hosts::Cpus))
                .col(big_integer_null(Hosts::MemoryMb))
                .col(integer(Hosts::Containers).default(0))
                .col(timestamp_with_time_zone_null(Hosts::CheckedAt))
                .col(timestamp_with_time_zone(Hosts::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Blueprints::Table)
                .col(string(Blueprints::Id).primary_key())
                .col(string(Blueprints::Name))
                .col(text(Blueprints::Description))
                .col(string(Blueprints::Category))
                .col(integer(Blueprints::LatestVersion))
                .col(timestamp_with_time_zone(Blueprints::CreatedAt))
                .col(timestamp_with_time_zone(Blueprints::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(BlueprintVersions::Table)
                .col(string(BlueprintVersions::BlueprintId))
                .col(integer(BlueprintVersions::Version))
                .col(text(BlueprintVersions::Source))
                .col(string(BlueprintVersions::Sha256))
                .col(boolean(BlueprintVersions::Trusted))
                .col(string(BlueprintVersions::CreatedBy))
                .col(timestamp_with_time_zone(BlueprintVersions::CreatedAt))
                .primary_key(Index::create().col(BlueprintVersions::BlueprintId).col(BlueprintVersions::Version))
                .foreign_key(
                    ForeignKey::create()
                        .from(BlueprintVersions::Table, BlueprintVersions::BlueprintId)
                        .to(Blueprints::Table, Blueprints::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Deployments::Table)
                .col(string(Deployments::Id).primary_key())
                .col(string(Deployments::Name))
                .col(string(Deployments::BlueprintId))
                .col(integer(Deployments::BlueprintVersion))
                .col(json(Deployments::Inputs))
                .col(big_integer_null(Deployments::HostId))
                .col(json(Deployments::HostSelector))
                .col(string(Deployments::Status))
                .col(text_null(Deployments::Error))
                .col(json(Deployments::Outputs))
                .col(big_integer_null(Deployments::OwnerId))
                .col(big_integer_null(Deployments::GroupId))
                .col(timestamp_with_time_zone_null(Deployments::LeaseExpiresAt))
                .col(timestamp_with_time_zone(Deployments::CreatedAt))
                .col(timestamp_with_time_zone(Deployments::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Deployments::Table, (Deployments::BlueprintId, Deployments::BlueprintVersion))
                        .to(BlueprintVersions::Table, (BlueprintVersions::BlueprintId, BlueprintVersions::Version)),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Deployments::Table, Deployments::HostId)
                        .to(Hosts::Table, Hosts::Id)
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("idx_deployments_status", Deployments::Status),
            ("idx_deployments_host", Deployments::HostId),
            ("idx_deployments_created", Deployments::CreatedAt),
        ] {
            m.create_index(Index::create().name(name).table(Deployments::Table).col(col).to_owned()).await?;
        }
        m.create_table(
            Table::create()
                .table(DeploymentResources::Table)
                .col(big_pk_auto(DeploymentResources::Id))
                .col(string(DeploymentResources::DeploymentId))
                .col(string(DeploymentResources::Kind))
                .col(string(DeploymentResources::Component))
                .col(integer(DeploymentResources::Replica))
                .col(string(DeploymentResources::Name))
                .col(string_null(DeploymentResources::DockerId))
                .col(big_integer(DeploymentResources::HostId))
                .col(string(DeploymentResources::Status))
                .col(json(DeploymentResources::Ports))
                .col(timestamp_with_time_zone(DeploymentResources::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(DeploymentResources::Table, DeploymentResources::DeploymentId)
                        .to(Deployments::Table, Deployments::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_resources_unique")
                .table(DeploymentResources::Table)
                .col(DeploymentResources::DeploymentId)
                .col(DeploymentResources::Kind)
                .col(DeploymentResources::Name)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("idx_resources_host").table(DeploymentResources::Table).col(DeploymentResources::HostId).to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Jobs::Table)
                .col(big_pk_auto(Jobs::Id))
                .col(string(Jobs::Kind))
                .col(string(Jobs::DeploymentId))
                .col(string(Jobs::Status))
                .col(integer(Jobs::Attempts).default(0))
                .col(string_null(Jobs::LeaseOwner))
                .col(timestamp_with_time_zone_null(Jobs::LeaseUntil))
                .col(text_null(Jobs::LastError))
                .col(text_null(Jobs::Progress))
                .col(timestamp_with_time_zone(Jobs::CreatedAt))
                .col(timestamp_with_time_zone(Jobs::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Jobs::Table, Jobs::DeploymentId)
                        .to(Deployments::Table, Deployments::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("idx_jobs_status").table(Jobs::Table).col(Jobs::Status).to_owned()).await?;
        Ok(())
    }
}
