//! Epochs: a counter per kind of cached fact (`AUTH`: who a token or a session is; `CATALOG`:
//! what a group may request). A change bumps it in its transaction; every replica reads it at
//! most once a second and drops its cache when it moved (`Watched`). This process also keeps a
//! local count, bumped at once, so that its own caches never wait for the next read.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbErr, Statement};

/// Tokens, sessions, users and memberships.
pub const AUTH: &str = "auth";
/// Catalog items, entitlements and blueprint versions.
pub const CATALOG: &str = "catalog";

/// A local count, and when it last moved (milliseconds since `START`).
struct Local {
    count: AtomicU64,
    at: AtomicU64,
}

static LOCAL_AUTH: Local = Local { count: AtomicU64::new(0), at: AtomicU64::new(0) };
static LOCAL_CATALOG: Local = Local { count: AtomicU64::new(0), at: AtomicU64::new(0) };
static START: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

/// After a change of this process, entries are not kept for this long: one read before the
/// change's commit (its transaction was still open) cannot outlive it. The bump is the last
/// statement before each commit, so the window is short.
const SETTLE: Duration = Duration::from_secs(2);

fn local_counter(name: &str) -> Option<&'static Local> {
    match name {
        AUTH => Some(&LOCAL_AUTH),
        CATALOG => Some(&LOCAL_CATALOG),
        _ => None,
    }
}

fn millis() -> u64 {
    u64::try_from(START.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// In the caller's transaction, as its last statement before the commit (the epoch's row stays
/// locked until then): the facts of `name` changed.
pub async fn bump(db: &impl ConnectionTrait, name: &str) -> Result<(), DbErr> {
    if let Some(c) = local_counter(name) {
        c.count.fetch_add(1, Ordering::SeqCst);
        c.at.store(millis().max(1), Ordering::SeqCst);
    }
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            "INSERT INTO epochs (name, value) VALUES ($1, 1) ON CONFLICT (name) DO UPDATE SET value = epochs.value + 1"
        }
        _ => "INSERT INTO epochs (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = epochs.value + 1",
    };
    db.execute_raw(Statement::from_sql_and_values(backend, sql, [name.into()])).await?;
    Ok(())
}

/// Whether this process changed `name` within `SETTLE`.
fn settling(name: &str) -> bool {
    local_counter(name).is_some_and(|c| {
        let at = c.at.load(Ordering::SeqCst);
        at != 0 && millis().saturating_sub(at) < u64::try_from(SETTLE.as_millis()).unwrap_or(u64::MAX)
    })
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

/// This process's count of changes of `name`.
pub fn local(name: &str) -> u64 {
    local_counter(name).map_or(0, |c| c.count.load(Ordering::SeqCst))
}

/// How often a replica reads the stored counts.
pub const CHECK: Duration = Duration::from_secs(1);

/// A cache that is emptied whenever the epoch `name` moves: at once for a change made by this
/// process, within `CHECK` for one made by another replica. An entry read while the epoch moved
/// is not kept (`Mark`).
pub struct Watched<V> {
    name: &'static str,
    max: usize,
    state: Arc<Mutex<WatchState<V>>>,
}

impl<V> Clone for Watched<V> {
    fn clone(&self) -> Self {
        Self { name: self.name, max: self.max, state: self.state.clone() }
    }
}

struct WatchState<V> {
    map: HashMap<String, V>,
    stored: Option<i64>,
    local: u64,
    checked: Option<Instant>,
}

/// The epochs an entry was read under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    stored: Option<i64>,
    local: u64,
}

impl<V: Clone> Watched<V> {
    /// At most `max` entries (the cache is emptied when it is full).
    pub fn new(name: &'static str, max: usize) -> Self {
        Self { name, max, state: Arc::new(Mutex::new(WatchState { map: HashMap::new(), stored: None, local: 0, checked: None })) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WatchState<V>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Empties the cache when the epoch moved (the stored count is read at most once per
    /// `CHECK`); returns the mark to fill entries under.
    pub async fn refresh(&self, db: &impl ConnectionTrait) -> Result<Mark, DbErr> {
        let due = {
            let mut s = self.lock();
            let due = s.checked.is_none_or(|c| c.elapsed() >= CHECK);
            if due {
                // One reader at a time: the others use what is known.
                s.checked = Some(Instant::now());
            }
            due
        };
        let stored = if due { Some(read(db, self.name).await?) } else { None };
        let local = local(self.name);
        let mut s = self.lock();
        if s.local != local {
            s.map.clear();
            s.local = local;
        }
        if let Some(v) = stored
            && s.stored != Some(v)
        {
            s.map.clear();
            s.stored = Some(v);
        }
        Ok(Mark { stored: s.stored, local: s.local })
    }

    pub fn get(&self, key: &str) -> Option<V> {
        self.lock().map.get(key).cloned()
    }

    /// Keeps `value` for `key`, unless the epoch moved since `mark` or this process changed
    /// its facts a moment ago (`SETTLE`).
    pub fn put(&self, key: String, value: V, mark: Mark) {
        let mut s = self.lock();
        if (Mark { stored: s.stored, local: s.local }) != mark || local(self.name) != mark.local || settling(self.name) {
            return;
        }
        if s.map.len() >= self.max {
            s.map.clear();
        }
        s.map.insert(key, value);
    }
}
