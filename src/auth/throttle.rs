//! Login throttling, kept in the database so that every replica sees the same counts.
//!
//! An attempt is *reserved* before its password is checked, in one statement that counts it and
//! refuses it when the limit is reached: however many attempts arrive at once, no more than the
//! limit are ever checked in a window, and a lock, once reached, holds until its window ends.
//! Three keys are reserved for each attempt:
//! - `pair:<user>|<address>`: a hard limit (`login.max_failures`) per user name and address;
//! - `addr:<address>`: a hard limit (`login.max_failures_per_address`) per address;
//! - `user:<user>`: past `login.max_failures` failures from anywhere, a growing pause between
//!   attempts (not a lock), so that nobody can keep someone else's account locked.
//!
//! A reservation that another key refuses is handed back; a successful login clears the user's keys.
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter};

use crate::store::entities::login_throttle::{self, Column};

/// The address a client is counted under: an IPv4 address as it is, an IPv6 one by its /64
/// (one machine commonly holds a whole /64, and would otherwise get endless fresh addresses).
pub fn address_of(addr: &str) -> String {
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(|v4| v4.to_string()).unwrap_or_default(),
        _ => addr.to_string(),
    }
}

/// Where a user logged in successfully before: such a (user, address) skips the user-wide
/// pause, so that failures from elsewhere cannot keep the owner out.
pub fn known_key(username: &str, addr: &str) -> String {
    format!("known:{}|{addr}", username.to_ascii_lowercase())
}

/// How long a successful login keeps its (user, address) known.
pub const KNOWN_DAYS: i64 = 90;

/// Whether `key` (a [`known_key`]) logged in successfully within [`KNOWN_DAYS`].
pub async fn is_known(db: &impl ConnectionTrait, key: &str) -> Result<bool, DbErr> {
    let since = Utc::now() - Duration::days(KNOWN_DAYS);
    Ok(login_throttle::Entity::find_by_id(key.to_string()).one(db).await?.is_some_and(|r| r.window_started_at > since))
}

/// Remembers a successful login from this (user, address).
pub async fn remember(db: &impl ConnectionTrait, key: &str) -> Result<(), DbErr> {
    let now = Utc::now();
    let insert = Query::insert()
        .into_table(login_throttle::Entity)
        .columns([Column::Key, Column::Failures, Column::WindowStartedAt])
        .values_panic([key.into(), 0.into(), now.into()])
        .on_conflict(OnConflict::column(Column::Key).update_column(Column::WindowStartedAt).to_owned())
        .to_owned();
    db.execute_raw(db.get_database_backend().build(&insert)).await?;
    Ok(())
}

pub fn user_key(username: &str) -> String {
    format!("user:{}", username.to_ascii_lowercase())
}

pub fn addr_key(addr: &str) -> String {
    format!("addr:{addr}")
}

pub fn pair_key(username: &str, addr: &str) -> String {
    format!("pair:{}|{addr}", username.to_ascii_lowercase())
}

/// The pause before the next attempt for a user name that has `over` failures past its limit:
/// 1, 2, 4, ... seconds, at most a minute.
pub fn slow_down(over: i32) -> Duration {
    Duration::seconds(1i64 << over.clamp(0, 6)).min(Duration::seconds(60))
}

/// Reserves one attempt against `key`, which allows `limit` in a window of `window`: `None` when
/// reserved, or when the key unlocks.
pub async fn reserve(db: &impl ConnectionTrait, key: &str, limit: u32, window: Duration) -> Result<Option<DateTime<Utc>>, DbErr> {
    let now = Utc::now();
    let expired = Expr::col((login_throttle::Entity, Column::WindowStartedAt)).lte(now - window);
    let count = Expr::col((login_throttle::Entity, Column::Failures));
    let insert = Query::insert()
        .into_table(login_throttle::Entity)
        .columns([Column::Key, Column::Failures, Column::WindowStartedAt])
        .values_panic([key.into(), 1.into(), now.into()])
        .on_conflict(
            OnConflict::column(Column::Key)
                .value(Column::Failures, Expr::case(expired.clone(), 1).finally(count.clone().add(1)))
                .value(
                    Column::WindowStartedAt,
                    Expr::case(expired.clone(), now).finally(Expr::col((login_throttle::Entity, Column::WindowStartedAt))),
                )
                .action_and_where(expired.or(count.lt(i64::from(limit))))
                .to_owned(),
        )
        .returning_col(Column::Failures)
        .to_owned();
    Ok(refused(db, &insert, key).await?.map(|row| row.map(|r| r.window_started_at + window).unwrap_or(now)))
}

/// Runs a reservation's upsert: `None` when it counted the attempt, else the key's row (the
/// upsert's condition refused it, and it returned nothing).
async fn refused(
    db: &impl ConnectionTrait,
    insert: &sea_orm::sea_query::InsertStatement,
    key: &str,
) -> Result<Option<Option<login_throttle::Model>>, DbErr> {
    if db.query_one_raw(db.get_database_backend().build(insert)).await?.is_some() {
        return Ok(None);
    }
    Ok(Some(login_throttle::Entity::find_by_id(key.to_string()).one(db).await?))
}

/// Reserves one attempt for a user name from anywhere: refused (with when to come back) while a
/// pause runs. Past `limit` failures in the window, each attempt starts a pause of a second at
/// once, which [`failed`] lengthens when the password was wrong.
pub async fn reserve_user(db: &impl ConnectionTrait, key: &str, limit: u32, window: Duration) -> Result<Option<DateTime<Utc>>, DbErr> {
    let now = Utc::now();
    let expired = Expr::col((login_throttle::Entity, Column::WindowStartedAt)).lte(now - window);
    let count = Expr::col((login_throttle::Entity, Column::Failures));
    let until = Expr::col((login_throttle::Entity, Column::LockedUntil));
    let over = count.clone().add(1).gte(i64::from(limit));
    let insert = Query::insert()
        .into_table(login_throttle::Entity)
        .columns([Column::Key, Column::Failures, Column::WindowStartedAt])
        .values_panic([key.into(), 1.into(), now.into()])
        .on_conflict(
            OnConflict::column(Column::Key)
                .value(Column::Failures, Expr::case(expired.clone(), 1).finally(count.add(1)))
                .value(
                    Column::WindowStartedAt,
                    Expr::case(expired.clone(), now).finally(Expr::col((login_throttle::Entity, Column::WindowStartedAt))),
                )
                .value(
                    Column::LockedUntil,
                    Expr::case(expired.clone(), Expr::val(Option::<DateTime<Utc>>::None))
                        .case(over, now + slow_down(0))
                        .finally(Expr::val(Option::<DateTime<Utc>>::None)),
                )
                .action_and_where(expired.or(until.clone().is_null()).or(until.lte(now)))
                .to_owned(),
        )
        .returning_col(Column::Failures)
        .to_owned();
    Ok(refused(db, &insert, key).await?.map(|row| row.and_then(|r| r.locked_until).unwrap_or(now)))
}

/// After a wrong password: the user name's pause grows with its failures past `limit`.
pub async fn failed(db: &impl ConnectionTrait, key: &str, limit: u32) -> Result<(), DbErr> {
    let Some(row) = login_throttle::Entity::find_by_id(key.to_string()).one(db).await? else {
        return Ok(());
    };
    let over = row.failures - i32::try_from(limit).unwrap_or(i32::MAX);
    if over >= 0 {
        let until = Utc::now() + slow_down(over);
        login_throttle::Entity::update_many()
            .col_expr(Column::LockedUntil, Expr::val(Some(until)))
            .filter(Column::Key.eq(key))
            .filter(Expr::col(Column::LockedUntil).is_null().or(Expr::col(Column::LockedUntil).lt(until)))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Hands back a reservation that was not used (another key refused the attempt).
pub async fn hand_back(db: &impl ConnectionTrait, key: &str) -> Result<(), DbErr> {
    login_throttle::Entity::update_many()
        .col_expr(Column::Failures, Expr::col(Column::Failures).sub(1))
        .filter(Column::Key.eq(key))
        .filter(Column::Failures.gt(0))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn clear(db: &impl ConnectionTrait, keys: &[String]) -> Result<(), DbErr> {
    login_throttle::Entity::delete_many().filter(Column::Key.is_in(keys.iter().cloned())).exec(db).await?;
    Ok(())
}

/// Removes the rows whose window ended and that hold no pause (they count nothing any more),
/// and the known (user, address) pairs not seen for [`KNOWN_DAYS`].
pub async fn prune(db: &impl ConnectionTrait, window: Duration) -> Result<u64, DbErr> {
    let now = Utc::now();
    let counters = login_throttle::Entity::delete_many()
        .filter(Column::Key.not_like("known:%"))
        .filter(Column::WindowStartedAt.lte(now - window))
        .filter(Expr::col(Column::LockedUntil).is_null().or(Expr::col(Column::LockedUntil).lte(now)))
        .exec(db)
        .await?;
    let known = login_throttle::Entity::delete_many()
        .filter(Column::Key.like("known:%"))
        .filter(Column::WindowStartedAt.lte(now - Duration::days(KNOWN_DAYS)))
        .exec(db)
        .await?;
    Ok(counters.rows_affected + known.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        assert_eq!(address_of("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_of("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::/64");
        assert_eq!(address_of("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(address_of("192.0.2.7"), "192.0.2.7");
        assert_eq!(address_of("no-peer-address"), "no-peer-address");
    }

    #[test]
    fn the_pause_grows_and_is_bounded() {
        assert_eq!(slow_down(0), Duration::seconds(1));
        assert_eq!(slow_down(3), Duration::seconds(8));
        assert_eq!(slow_down(50), Duration::seconds(60));
        assert_eq!(slow_down(-2), Duration::seconds(1));
    }
}
