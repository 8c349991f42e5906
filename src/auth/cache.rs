//! Who a token or a session is, kept for a short while so that an API call or a page does not
//! read the token, the user and the memberships each time. An entry lives at most `TTL` and
//! never past the token's or the session's end. Any change to tokens, sessions, users or
//! memberships bumps the `auth` epoch (`store::epochs`) in its transaction: this process drops
//! its entries at once (the local count), every other replica within a second (it reads the
//! stored count at most once a second). An entry filled while an epoch moved is not kept.
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};

use super::Principal;
use crate::store::epochs::{self, Mark, Watched};

/// How long an entry is used at most.
const TTL: Duration = Duration::from_secs(30);
/// Entries kept at most (the cache is emptied when it is full).
const MAX: usize = 20_000;

/// What a caller is, as cached.
#[derive(Debug, Clone)]
pub struct Cached {
    pub principal: Principal,
    /// The session's CSRF token (none for an API token).
    pub csrf: Option<String>,
}

#[derive(Clone)]
struct Entry {
    cached: Cached,
    until: DateTime<Utc>,
    filled: Instant,
}

#[derive(Clone)]
pub struct Principals {
    watched: Watched<Entry>,
}

impl Default for Principals {
    fn default() -> Self {
        Self { watched: Watched::new(epochs::AUTH, MAX) }
    }
}

impl Principals {
    /// Drops every entry when the auth epoch moved; returns the mark to fill entries under.
    pub async fn refresh(&self, db: &impl ConnectionTrait) -> Result<Mark, DbErr> {
        self.watched.refresh(db).await
    }

    /// The entry of `key`, while it is young and its token or session lives.
    pub fn get(&self, key: &str) -> Option<Cached> {
        let e = self.watched.get(key)?;
        (e.filled.elapsed() < TTL && e.until > Utc::now()).then_some(e.cached)
    }

    /// Keeps `cached` for `key` until `until` (at most `TTL`), unless the epoch moved since `mark`.
    pub fn put(&self, key: String, cached: Cached, until: DateTime<Utc>, mark: Mark) {
        self.watched.put(key, Entry { cached, until, filled: Instant::now() }, mark);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthVia;

    fn cached(name: &str) -> Cached {
        let principal = Principal {
            user_id: 1,
            username: name.into(),
            display_name: name.into(),
            is_admin: false,
            groups: Vec::new(),
            via: AuthVia::Session,
        };
        Cached { principal, csrf: Some("c".into()) }
    }

    #[tokio::test]
    async fn entries_go_when_an_epoch_moves_or_their_session_ends() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        crate::store::migrate(&db).await.unwrap();
        let cache = Principals::default();
        let soon = Utc::now() + chrono::Duration::hours(1);
        let mark = cache.refresh(&db).await.unwrap();
        cache.put("s:a".into(), cached("ann"), soon, mark);
        assert_eq!(cache.get("s:a").unwrap().principal.username, "ann");
        cache.put("s:old".into(), cached("old"), Utc::now() - chrono::Duration::seconds(1), mark);
        assert!(cache.get("s:old").is_none(), "never past the session's end");

        // A change in this process: gone at once, and nothing is kept while it settles.
        epochs::bump(&db, epochs::AUTH).await.unwrap();
        cache.put("s:b".into(), cached("bob"), soon, mark);
        let fresh = cache.refresh(&db).await.unwrap();
        assert!(cache.get("s:a").is_none() && cache.get("s:b").is_none());
        assert_ne!(fresh, mark);
        cache.put("s:a".into(), cached("ann"), soon, fresh);
        assert!(cache.get("s:a").is_none(), "read while the change may not have committed");
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let fresh = cache.refresh(&db).await.unwrap();
        cache.put("s:a".into(), cached("ann"), soon, fresh);
        assert!(cache.get("s:a").is_some());

        // A change by another replica (the stored count only): gone once it is read.
        db.execute_unprepared("UPDATE epochs SET value = value + 1 WHERE name = 'auth'").await.unwrap();
        tokio::time::sleep(epochs::CHECK).await;
        cache.refresh(&db).await.unwrap();
        assert!(cache.get("s:a").is_none());
    }
}
