//! Persistence: sea-orm entities (persistence shapes) with typed columns, paginated queries, and
//! the audit log, which every layer above writes to.
pub mod audit;
mod columns;
pub mod deployments;
mod instance;

pub use instance::instance_id;
pub mod entities;
mod page;

pub use columns::{Levels, PublishedPorts, StringList, StringMap};
pub use page::{Page, PageRequest};

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::{DatabaseKind, DatabaseUrl};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to the database {url}: {source}")]
    Connect { url: String, source: DbErr },
    #[error("database migration failed: {0}")]
    Migrate(DbErr),
}

/// Opens the pool. SQLite connections get WAL, foreign keys and a busy timeout, each one.
pub async fn connect(url: &DatabaseUrl) -> Result<DatabaseConnection, StoreError> {
    let mut opts = ConnectOptions::new(url.expose().to_string());
    opts.sqlx_logging(false).acquire_timeout(Duration::from_secs(10));
    match url.kind() {
        DatabaseKind::Sqlite => {
            let in_memory = url.expose().contains(":memory:") || url.expose().contains("mode=memory");
            opts.max_connections(if in_memory { 1 } else { 4 }).map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
            });
        }
        DatabaseKind::Postgres => {
            opts.max_connections(16);
        }
    }
    Database::connect(opts).await.map_err(|source| StoreError::Connect { url: url.to_string(), source })
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), StoreError> {
    Migrator::up(db, None).await.map_err(StoreError::Migrate)
}

/// Starts a write transaction. On SQLite it takes the write lock at once (BEGIN IMMEDIATE),
/// waiting up to the busy timeout for it: a deferred transaction that reads and then writes
/// fails at once with "database is locked" when another connection wrote in between.
pub async fn begin(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    db.begin_with_options(TransactionOptions { sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate), ..Default::default() })
        .await
}
