//! Epochs: a counter per kind of cached fact (`AUTH`: who a token or a session is). A change
//! bumps it in its transaction; every replica reads it at most once a second and drops its cache
//! when it moved. This process also keeps a local count, bumped at once, so that its own caches
//! never wait for the next read.
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{ConnectionTrait, DbErr, Statement};

/// Tokens, sessions, users and memberships.
pub const AUTH: &str = "auth";

static LOCAL_AUTH: AtomicU64 = AtomicU64::new(0);

/// In the caller's transaction: the facts of `name` changed.
pub async fn bump(db: &impl ConnectionTrait, name: &str) -> Result<(), DbErr> {
    if name == AUTH {
        LOCAL_AUTH.fetch_add(1, Ordering::SeqCst);
    }
    let backend = db.get_database_backend();
    let res = db.execute_raw(Statement::from_sql_and_values(backend, update_sql(backend), [name.into()])).await?;
    if res.rows_affected() == 0 {
        db.execute_raw(Statement::from_sql_and_values(backend, insert_sql(backend), [name.into()])).await?;
    }
    Ok(())
}

fn update_sql(backend: sea_orm::DbBackend) -> &'static str {
    match backend {
        sea_orm::DbBackend::Postgres => "UPDATE epochs SET value = value + 1 WHERE name = $1",
        _ => "UPDATE epochs SET value = value + 1 WHERE name = ?",
    }
}

fn insert_sql(backend: sea_orm::DbBackend) -> &'static str {
    match backend {
        sea_orm::DbBackend::Postgres => "INSERT INTO epochs (name, value) VALUES ($1, 1) ON CONFLICT (name) DO NOTHING",
        _ => "INSERT INTO epochs (name, value) VALUES (?, 1) ON CONFLICT (name) DO NOTHING",
    }
}

/// The stored count of `name` (0 before the first change).
pub async fn read(db: &impl ConnectionTrait, name: &str) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "SELECT value FROM epochs WHERE name = $1",
        _ => "SELECT value FROM epochs WHERE name = ?",
    };
    let row = db.query_one_raw(Statement::from_sql_and_values(backend, sql, [name.into()])).await?;
    Ok(row.map(|r| r.try_get::<i64>("", "value")).transpose()?.unwrap_or(0))
}

/// This process's count of `AUTH` changes.
pub fn local_auth() -> u64 {
    LOCAL_AUTH.load(Ordering::SeqCst)
}
