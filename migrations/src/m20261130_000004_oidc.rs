//! Users who log in through OpenID Connect carry their subject (issuer + sub).
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    OidcSubject,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Users::Table).add_column(string_null(Users::OidcSubject)).to_owned()).await?;
        m.create_index(Index::create().name("idx_users_oidc_subject").table(Users::Table).col(Users::OidcSubject).unique().to_owned())
            .await?;
        Ok(())
    }
}
