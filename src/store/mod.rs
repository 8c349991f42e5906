//! Persistence: sea-orm entities (persistence shapes) with typed columns, paginated queries, and
//! the audit log, which every layer above writes to.
pub mod audit;
mod columns;
pub mod deployments;
pub mod epochs;
mod instance;
pub mod outbox;
pub mod replicas;
pub mod sealed;

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
            // A replica that stops in the middle of a transaction (frozen, paused, cut off)
            // must not hold its row locks for ever: the server ends such a session, and a
            // statement waits for a lock a bounded time, then fails (and is retried).
            opts.max_connections(16)
                .map_sqlx_postgres_opts(|o| o.options([("idle_in_transaction_session_timeout", "15s"), ("lock_timeout", "30s")]));
        }
    }
    Database::connect(opts).await.map_err(|source| StoreError::Connect { url: url.to_string(), source })
}

/// The advisory lock replicas take to migrate one at a time (any fixed number: Wharf's own).
const MIGRATION_LOCK: i64 = 0x5748_4152_465f_4d47; // "WHARF_MG"

/// Brings the schema up to date. On PostgreSQL, replicas starting together take turns: each
/// holds an advisory lock (on one connection of its pool) while it migrates, so that the
/// second waits for the first and then finds nothing left to do.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), StoreError> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Migrator::up(db, None).await.map_err(StoreError::Migrate);
    }
    let lock_err = |e: sea_orm::sqlx::Error| StoreError::Migrate(DbErr::Custom(format!("the migration lock: {e}")));
    let mut conn = db.get_postgres_connection_pool().acquire().await.map_err(lock_err)?;
    // The pool's `lock_timeout` (30 s) would make a replica give up while another migrates
    // longer: this connection waits as long as the migration takes.
    sea_orm::sqlx::query("SET lock_timeout = 0").execute(&mut *conn).await.map_err(lock_err)?;
    if let Err(e) = sea_orm::sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await {
        let _ = conn.detach();
        return Err(lock_err(e));
    }
    let result = Migrator::up(db, None).await.map_err(StoreError::Migrate);
    let released = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await.is_ok()
        && sea_orm::sqlx::query("RESET lock_timeout").execute(&mut *conn).await.is_ok();
    if !released {
        // The lock and the setting go with the connection: closing it is enough.
        tracing::warn!("the migration lock was not released; closing its connection");
        let _ = conn.detach();
    }
    result
}

/// Starts a write transaction. On SQLite it takes the write lock at once (BEGIN IMMEDIATE),
/// waiting up to the busy timeout for it: a deferred transaction that reads and then writes
/// fails at once with "database is locked" when another connection wrote in between.
pub async fn begin(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    db.begin_with_options(TransactionOptions { sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate), ..Default::default() })
        .await
}

/// Whether `e` says the database could not be reached (a restart, a dropped connection, an
/// exhausted pool) rather than that the statement was wrong: worth a 503 and a retry, not a 500.
pub fn unreachable(e: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as Sqlx;
    let sqlx = match e {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(RuntimeErr::SqlxError(s)) | DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => s,
        DbErr::Conn(_) => return true,
        _ => return false,
    };
    match sqlx.as_ref() {
        Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed | Sqlx::Protocol(_) => true,
        // PostgreSQL's classes 08 (connection exception) and 57P (operator intervention: the
        // server shutting down or starting).
        Sqlx::Database(d) => d.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// The database's time: PostgreSQL's `now()` (one clock for every replica); SQLite is one
/// file on one machine, whose clock all its processes share.
pub async fn db_now(db: &impl sea_orm::ConnectionTrait) -> Result<chrono::DateTime<chrono::Utc>, DbErr> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(chrono::Utc::now());
    }
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, "SELECT now() AS now"))
        .await?
        .ok_or_else(|| DbErr::Custom("SELECT now() returned no row".into()))?;
    row.try_get::<chrono::DateTime<chrono::Utc>>("", "now")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};

    use super::unreachable;

    #[test]
    fn a_database_that_is_away_is_told_from_a_wrong_statement() {
        let sqlx = |e: Sqlx| RuntimeErr::SqlxError(Arc::new(e));
        assert!(unreachable(&DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)));
        assert!(unreachable(&DbErr::Exec(sqlx(Sqlx::PoolTimedOut))));
        assert!(unreachable(&DbErr::Query(sqlx(Sqlx::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset))))));
        assert!(unreachable(&DbErr::Conn(sqlx(Sqlx::PoolClosed))));
        assert!(!unreachable(&DbErr::RecordNotFound("x".into())));
        assert!(!unreachable(&DbErr::Exec(sqlx(Sqlx::RowNotFound))));
        assert!(!unreachable(&DbErr::Custom("no".into())));
    }
}
