//! Epochs: counters that a change bumps so that every replica drops what it cached of it
//! (`auth`: who a token or session is — tokens, sessions, users, memberships). Each replica
//! reads them at most once a second.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Epochs {
    Table,
    Name,
    Value,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Epochs::Table)
                .if_not_exists()
                .col(string(Epochs::Name).primary_key())
                .col(big_integer(Epochs::Value).default(0))
                .to_owned(),
        )
        .await?;
        let rows = Query::insert()
            .into_table(Epochs::Table)
            .columns([Epochs::Name, Epochs::Value])
            .values_panic(["auth".into(), 0.into()])
            .to_owned();
        m.exec_stmt(rows).await
    }
}
