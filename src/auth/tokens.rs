//! API tokens: `wharf_` + 32 random bytes, shown once; the database keeps the SHA-256.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

use super::{random_token, token_hash};
use crate::domain::states::TokenStatus;
use crate::store::entities::api_token;

pub const TOKEN_PREFIX: &str = "wharf_";

pub struct IssuedToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

pub async fn issue(db: &impl ConnectionTrait, user_id: i64, name: &str, days: u32) -> Result<IssuedToken, DbErr> {
    issue_capped(db, user_id, name, days, None).await
}

/// The same, ending at `cap` at the latest.
pub async fn issue_capped(
    db: &impl ConnectionTrait,
    user_id: i64,
    name: &str,
    days: u32,
    cap: Option<DateTime<Utc>>,
) -> Result<IssuedToken, DbErr> {
    let token = format!("{TOKEN_PREFIX}{}", random_token());
    let now = Utc::now();
    let wanted = now + Duration::days(i64::from(days));
    let expires_at = cap.map_or(wanted, |c| wanted.min(c));
    api_token::ActiveModel {
        user_id: Set(user_id),
        name: Set(name.to_string()),
        token_hash: Set(token_hash(&token)),
        created_at: Set(now),
        expires_at: Set(expires_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(IssuedToken { token, expires_at })
}

/// Revokes every live token of a user (a disabled account, a new password).
pub async fn revoke_all(db: &impl ConnectionTrait, user_id: i64) -> Result<u64, DbErr> {
    let res = api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, sea_orm::sea_query::Expr::value(Some(Utc::now())))
        .filter(api_token::Column::UserId.eq(user_id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// The user a live token belongs to, and when the token ends; records its use.
pub async fn authenticate(db: &impl ConnectionTrait, token: &str) -> Result<Option<(i64, DateTime<Utc>)>, DbErr> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let now = Utc::now();
    let Some(row) = api_token::Entity::find().filter(api_token::Column::TokenHash.eq(token_hash(token))).one(db).await? else {
        return Ok(None);
    };
    if row.revoked_at.is_some() || row.expires_at <= now {
        return Ok(None);
    }
    let (user_id, expires_at) = (row.user_id, row.expires_at);
    // Recording the last use at most once a minute keeps the hot path free of writes.
    if row.last_used_at.is_none_or(|t| now - t > Duration::minutes(1)) {
        let mut active: api_token::ActiveModel = row.into();
        active.last_used_at = Set(Some(now));
        active.update(db).await?;
    }
    Ok(Some((user_id, expires_at)))
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Live: neither expired nor revoked.
    pub active: bool,
    pub status: TokenStatus,
}

pub fn view(t: api_token::Model, owner: String) -> TokenView {
    let status = TokenStatus::of(t.revoked_at.is_some(), t.expires_at <= Utc::now());
    let active = status == TokenStatus::Active;
    TokenView {
        id: t.id,
        name: t.name,
        owner,
        created_at: t.created_at,
        expires_at: t.expires_at,
        last_used_at: t.last_used_at,
        revoked_at: t.revoked_at,
        active,
        status,
    }
}
