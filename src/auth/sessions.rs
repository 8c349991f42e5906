//! Browser sessions: a random token in a signed, HttpOnly, SameSite=Lax cookie; the database keeps
//! its hash, the user and the session's CSRF token, so logging out really ends the session.
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite, time::Duration as CookieDuration};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{Duration, Utc};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

use super::{random_token, token_hash};
use crate::sealing::{Kind, Sealer};
use crate::store::entities::{session, setting};

pub const SESSION_COOKIE: &str = "wharf_session";
pub const CSRF_COOKIE: &str = "wharf_csrf";
const KEY_SETTING: &str = "session_signing_key";

/// The key that signs cookies. Made once and kept in the database, so that restarts and
/// several replicas on one PostgreSQL accept each other's cookies.
pub async fn signing_key(db: &impl ConnectionTrait, sealer: &Sealer) -> Result<Key, DbErr> {
    let bad = || DbErr::Custom(format!("setting `{KEY_SETTING}` is not a valid key"));
    let read = |stored: &str| -> Result<Key, DbErr> {
        let text = sealer.open(Kind::CookieKey, stored).map_err(|e| DbErr::Custom(format!("setting `{KEY_SETTING}`: {e}")))?;
        STANDARD.decode(text).ok().and_then(|b| Key::try_from(b.as_slice()).ok()).ok_or_else(bad)
    };
    if let Some(row) = setting::Entity::find_by_id(KEY_SETTING).one(db).await? {
        let key = read(&row.value)?;
        if !Sealer::is_sealed(&row.value) {
            // Kept in clear by an older Wharf: sealed now.
            let mut a: setting::ActiveModel = row.clone().into();
            a.value = Set(sealer.seal(Kind::CookieKey, &row.value));
            a.update(db).await?;
        }
        return Ok(key);
    }
    let mut bytes = [0u8; 64];
    rand::rng().fill_bytes(&mut bytes);
    let row = setting::ActiveModel { key: Set(KEY_SETTING.into()), value: Set(sealer.seal(Kind::CookieKey, &STANDARD.encode(bytes))) };
    if let Err(insert_err) = row.insert(db).await {
        // Another replica made it first: use theirs.
        return match setting::Entity::find_by_id(KEY_SETTING).one(db).await? {
            Some(row) => read(&row.value),
            None => Err(insert_err),
        };
    }
    Ok(Key::from(&bytes))
}

pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
}

pub async fn create(db: &impl ConnectionTrait, user_id: i64, hours: u32) -> Result<NewSession, DbErr> {
    let token = random_token();
    let csrf_token = random_token();
    let now = Utc::now();
    session::ActiveModel {
        id_hash: Set(token_hash(&token)),
        user_id: Set(user_id),
        csrf_token: Set(csrf_token.clone()),
        created_at: Set(now),
        expires_at: Set(now + Duration::hours(i64::from(hours))),
    }
    .insert(db)
    .await?;
    Ok(NewSession { token, csrf_token })
}

/// The live session of a token, if any; an expired one is deleted on sight.
pub async fn find(db: &impl ConnectionTrait, token: &str) -> Result<Option<session::Model>, DbErr> {
    let Some(row) = session::Entity::find_by_id(token_hash(token)).one(db).await? else {
        return Ok(None);
    };
    if row.expires_at <= Utc::now() {
        session::Entity::delete_by_id(row.id_hash).exec(db).await?;
        return Ok(None);
    }
    Ok(Some(row))
}

pub async fn delete(db: &impl ConnectionTrait, token: &str) -> Result<(), DbErr> {
    session::Entity::delete_by_id(token_hash(token)).exec(db).await?;
    Ok(())
}

pub async fn delete_for_user(db: &impl ConnectionTrait, user_id: i64) -> Result<(), DbErr> {
    session::Entity::delete_many().filter(session::Column::UserId.eq(user_id)).exec(db).await?;
    Ok(())
}

/// Ends every session of a user but the one of `keep` (the caller's own, when it changed its
/// password from a browser).
pub async fn delete_others(db: &impl ConnectionTrait, user_id: i64, keep: &str) -> Result<(), DbErr> {
    session::Entity::delete_many()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::IdHash.ne(token_hash(keep)))
        .exec(db)
        .await?;
    Ok(())
}

/// A cookie's name on the wire: under https, `__Host-` first, so that the browser keeps it
/// only if it is Secure, for this host alone, on every path (no sibling domain can plant one).
pub fn cookie_name(name: &str, secure: bool) -> String {
    if secure { format!("__Host-{name}") } else { name.to_string() }
}

/// Builds a signed cookie and returns it as it goes on the wire.
pub fn signed_cookie(key: &Key, name: &'static str, value: String, secure: bool, max_age_hours: Option<u32>) -> Cookie<'static> {
    let name = cookie_name(name, secure);
    let mut cookie = Cookie::build(name.clone(), value).path("/").http_only(true).secure(secure).same_site(SameSite::Lax).finish();
    if let Some(h) = max_age_hours {
        cookie.set_max_age(CookieDuration::hours(i64::from(h)));
    }
    let mut jar = CookieJar::new();
    jar.signed_mut(key).add(cookie);
    jar.get(&name).cloned().unwrap_or_else(|| Cookie::new(name, ""))
}

/// Reads a signed cookie's value; a forged or altered one reads as absent.
pub fn read_signed(key: &Key, cookie: Cookie<'static>) -> Option<String> {
    let name = cookie.name().to_string();
    let mut jar = CookieJar::new();
    jar.add_original(cookie);
    jar.signed(key).get(&name).map(|c| c.value().to_string())
}

/// A cookie that tells the browser to forget `name`.
pub fn removal(name: &'static str, secure: bool) -> Cookie<'static> {
    let mut c = Cookie::build(cookie_name(name, secure), "").path("/").http_only(true).secure(secure).same_site(SameSite::Lax).finish();
    c.make_removal();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_cookies_round_trip_and_reject_tampering() {
        let key = Key::generate();
        let c = signed_cookie(&key, SESSION_COOKIE, "abc".into(), true, Some(1));
        assert!(c.http_only().unwrap_or(false) && c.secure().unwrap_or(false));
        assert_eq!(c.same_site(), Some(SameSite::Lax));
        assert_eq!(read_signed(&key, c.clone()).as_deref(), Some("abc"));
        let forged = Cookie::new(SESSION_COOKIE, c.value().replace("abc", "abd"));
        assert_eq!(read_signed(&key, forged), None);
        assert_eq!(read_signed(&Key::generate(), c), None);
    }
}
