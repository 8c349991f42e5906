//! Private registries (their credentials sealed, an optional CA certificate) and the images a
//! catalog item allows (repository patterns; an empty list allows every image).
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Registries {
    Table,
    Id,
    Address,
    Username,
    Password,
    CaPem,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CatalogItems {
    Table,
    AllowedImages,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Registries::Table)
                .if_not_exists()
                .col(big_integer(Registries::Id).primary_key().auto_increment())
                .col(string_uniq(Registries::Address))
                .col(string_null(Registries::Username))
                .col(text_null(Registries::Password))
                .col(text_null(Registries::CaPem))
                .col(string(Registries::CreatedBy))
                .col(timestamp_with_time_zone(Registries::CreatedAt))
                .col(timestamp_with_time_zone(Registries::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(CatalogItems::Table)
                .add_column(ColumnDef::new(CatalogItems::AllowedImages).json().not_null().default("[]"))
                .to_owned(),
        )
        .await
    }
}
