//! Catalog items that are retired: kept (their deployments and requests name them) but offered
//! no more and taking no new request.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CatalogItems {
    Table,
    RetiredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(CatalogItems::Table)
                .add_column(ColumnDef::new(CatalogItems::RetiredAt).timestamp_with_time_zone().null())
                .to_owned(),
        )
        .await
    }
}
