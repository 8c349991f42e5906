//! Personal API tokens: named, with an expiry, shown once, stored hashed, listed with their
//! last use, revocable by their owner and by admins.
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

use super::{ServiceError, ServiceResult, audit};
use crate::auth::Principal;
use crate::auth::tokens::{self, IssuedToken, TokenView};
use crate::store::entities::{api_token, user};

pub const MAX_DAYS: u32 = 366;

pub async fn create(db: &DatabaseConnection, who: &Principal, name: &str, days: u32) -> ServiceResult<(TokenView, IssuedToken)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ServiceError::invalid("name", "a token name is 1 to 100 characters"));
    }
    if days == 0 || days > MAX_DAYS {
        return Err(ServiceError::invalid("expires_in_days", format!("must be 1 to {MAX_DAYS} days")));
    }
    // A token's holder cannot make one that outlives it (a stolen token would be renewed for
    // ever): the new one ends when the one that made it does, at the latest.
    let cap = match who.via {
        crate::auth::AuthVia::Token { expires_at } => Some(expires_at),
        crate::auth::AuthVia::Session => None,
    };
    let txn = crate::store::begin(db).await?;
    let issued = tokens::issue_capped(&txn, who.user_id, name, days, cap).await?;
    let row = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(crate::auth::token_hash(&issued.token)))
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::NotFound("the new token vanished".into()))?;
    audit::record(
        &txn,
        &who.username,
        "token.create",
        &format!("user:{}", who.username),
        json!({"name": name, "expires_at": issued.expires_at}),
    )
    .await?;
    txn.commit().await?;
    Ok((tokens::view(row, who.username.clone()), issued))
}

/// The caller's tokens, or with `all` (admins only) everyone's; newest first.
pub async fn list(db: &DatabaseConnection, who: &Principal, all: bool) -> ServiceResult<Vec<TokenView>> {
    if all && !who.is_admin {
        return Err(ServiceError::Forbidden("only an admin may list everyone's tokens".into()));
    }
    let mut q = api_token::Entity::find().find_also_related(user::Entity);
    if !all {
        q = q.filter(api_token::Column::UserId.eq(who.user_id));
    }
    let rows = q.order_by_desc(api_token::Column::Id).all(db).await?;
    Ok(rows.into_iter().map(|(t, u)| tokens::view(t, u.map(|u| u.username).unwrap_or_default())).collect())
}

/// Revokes a token of the caller's, or (admins) anyone's. Others' tokens read as absent.
pub async fn revoke(db: &DatabaseConnection, who: &Principal, id: i64) -> ServiceResult<TokenView> {
    let t = api_token::Entity::find_by_id(id).one(db).await?.filter(|t| who.is_admin || t.user_id == who.user_id);
    let t = t.ok_or_else(|| ServiceError::NotFound(format!("no token {id}")))?;
    let owner = user::Entity::find_by_id(t.user_id).one(db).await?.map(|u| u.username).unwrap_or_default();
    if t.revoked_at.is_some() {
        return Ok(tokens::view(t, owner));
    }
    let txn = crate::store::begin(db).await?;
    let mut a: api_token::ActiveModel = t.into();
    a.revoked_at = Set(Some(Utc::now()));
    let t = a.update(&txn).await?;
    audit::record(&txn, &who.username, "token.revoke", &format!("user:{owner}"), json!({"token": id, "name": t.name})).await?;
    crate::store::epochs::bump(&txn, crate::store::epochs::AUTH).await?;
    txn.commit().await?;
    Ok(tokens::view(t, owner))
}
