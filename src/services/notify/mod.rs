//! Notifications: who hears of what (`on_timeline` for requests, `deployment_event` for
//! leases), written to the outbox in the transaction of the change; webhooks that admins
//! register; each user's notification list. The sender loop (`sender.rs`) delivers.
pub mod links;
pub mod mail;
pub mod sender;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use serde_json::json;

use crate::domain::events::{EventType, MailKind};
use crate::domain::states::{OutboxStatus, TimelineKind};
use crate::sealing::Kind;
use crate::services::{Context, FieldError, ServiceError, ServiceResult, audit};
use crate::store::StringList;
use crate::store::entities::{catalog_item, group, notification, outbox, outbox_attempt, request, user, webhook};
use crate::store::outbox::{self as store_outbox, Event};

/// The event a request's timeline entry means, if it is one that notifies.
fn event_of(kind: TimelineKind) -> Option<EventType> {
    Some(match kind {
        TimelineKind::Submitted => EventType::RequestSubmitted,
        TimelineKind::Pending => EventType::RequestPending,
        TimelineKind::Approved => EventType::RequestApproved,
        TimelineKind::Rejected => EventType::RequestRejected,
        TimelineKind::Succeeded => EventType::RequestSucceeded,
        TimelineKind::Failed => EventType::RequestFailed,
        TimelineKind::Cancelled => EventType::RequestCancelled,
        TimelineKind::Decision | TimelineKind::Provisioning | TimelineKind::Released => return None,
    })
}

async fn ids_of(db: &impl ConnectionTrait, names: &[String]) -> Result<Vec<i64>, DbErr> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    Ok(user::Entity::find().filter(user::Column::Username.is_in(names.iter().cloned())).all(db).await?.into_iter().map(|u| u.id).collect())
}

/// In the caller's transaction, after the request's row says where it is now: a pending level
/// notifies its approvers who have not decided yet; an outcome notifies the requester.
/// Webhooks get every request event.
pub async fn on_timeline(db: &impl ConnectionTrait, request_id: &str, kind: TimelineKind, message: &str) -> Result<(), DbErr> {
    let Some(event_type) = event_of(kind) else { return Ok(()) };
    let Some(r) = request::Entity::find_by_id(request_id.to_string()).one(db).await? else { return Ok(()) };
    let item =
        catalog_item::Entity::find_by_id(r.catalog_item_id.clone()).one(db).await?.map(|i| i.name).unwrap_or(r.catalog_item_id.clone());
    let group = group::Entity::find_by_id(r.group_id).one(db).await?.map(|g| g.name).unwrap_or_default();
    let requester = user::Entity::find_by_id(r.requester_id).one(db).await?.map(|u| u.username).unwrap_or_default();
    let users: Vec<i64> = match kind {
        TimelineKind::Submitted => Vec::new(),
        TimelineKind::Pending => ids_of(db, &crate::services::requests::undecided(db, &r).await?).await?,
        _ => vec![r.requester_id],
    };
    let what = match (&r.action, r.kind) {
        (Some(a), crate::domain::states::RequestKind::Day2) => format!("{a} on a deployment of {item}"),
        _ => format!("{item} for {group}"),
    };
    let title = match event_type {
        EventType::RequestPending => format!("{requester}'s request ({what}) waits for your approval: {message}"),
        _ => format!("Request ({what}) {}: {message}", event_type.as_str().trim_start_matches("request.")),
    };
    let data = json!({
        "request_id": r.id, "kind": r.kind, "action": r.action, "catalog_item": r.catalog_item_id, "group": group,
        "requester": requester, "status": r.status, "level": r.level + 1, "deployment_id": r.deployment_id, "message": message,
    });
    let event = Event::new(event_type, title, Some(format!("/requests/{}", r.id)), data);
    store_outbox::emit(db, &event, &users).await
}

/// A level that timed out, decided by its policy: the requester and that level's approvers
/// are told in the portal (the outcome's own event goes to webhooks as usual).
pub async fn level_timed_out(
    db: &impl ConnectionTrait,
    request_id: &str,
    approved: bool,
    message: &str,
    approvers: &[i64],
) -> Result<(), DbErr> {
    let Some(r) = request::Entity::find_by_id(request_id.to_string()).one(db).await? else { return Ok(()) };
    let mut users = approvers.to_vec();
    users.push(r.requester_id);
    let kind = if approved { EventType::RequestApproved } else { EventType::RequestRejected };
    let title = format!("A request's approval level timed out: {message}");
    let event = Event::new(kind, title, Some(format!("/requests/{}", r.id)), json!({"request_id": r.id, "message": message}));
    store_outbox::tell(db, &event, &users).await
}

/// A lease event (warning, expiry) for the deployment's owner and, as configured, its group's
/// managers; in the caller's transaction. (A finished destruction is told by the engine.)
pub async fn lease_event(
    db: &impl ConnectionTrait,
    d: &crate::store::entities::deployment::Model,
    kind: EventType,
    text: &str,
    managers: bool,
) -> Result<(), DbErr> {
    let users = store_outbox::owner_and_managers(db, d.owner_id, d.group_id, managers).await?;
    let data = json!({"deployment_id": d.id, "name": d.name, "lease_expires_at": d.lease_expires_at, "message": text});
    let title = format!("Deployment {}: {text}", d.name);
    store_outbox::emit(db, &Event::new(kind, title, Some(format!("/deployments/{}", d.id)), data), &users).await
}

// ----- webhooks -----------------------------------------------------------------------------

/// A webhook as admins see it (never its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Messages waiting, delivered and dead-lettered.
    pub pending: u64,
    pub delivered: u64,
    pub dead: u64,
}

#[derive(Debug, Clone, Default)]
pub struct WebhookInput {
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
}

fn check_webhook(input: &WebhookInput) -> ServiceResult<(url::Url, Vec<String>)> {
    let mut errors = Vec::new();
    let url = match url::Url::parse(input.url.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && u.username().is_empty() && u.password().is_none() => {
            Some(u)
        }
        Ok(_) => {
            errors.push(FieldError::new("url", "an http:// or https:// URL with a host and no user or password in it"));
            None
        }
        Err(e) => {
            errors.push(FieldError::new("url", format!("not a URL: {e}")));
            None
        }
    };
    let mut events = Vec::new();
    if input.events.is_empty() {
        errors.push(FieldError::new("events", "at least one event type, or \"*\" for all"));
    }
    for e in &input.events {
        let e = e.trim();
        if e == "*" {
            events.push("*".to_string());
        } else {
            match EventType::parse(e) {
                Ok(t) => events.push(t.as_str().to_string()),
                Err(m) => errors.push(FieldError::new("events", m)),
            }
        }
    }
    events.sort();
    events.dedup();
    if input.secret.chars().count() < 16 || input.secret.chars().count() > 200 {
        errors.push(FieldError::new("secret", "16 to 200 characters: receivers check each delivery's signature with it"));
    }
    match (url, errors.is_empty()) {
        (Some(u), true) => Ok((u, events)),
        _ => Err(ServiceError::Invalid(errors)),
    }
}

pub async fn create_webhook(ctx: &Context, actor: &str, input: WebhookInput) -> ServiceResult<WebhookView> {
    let (url, events) = check_webhook(&input)?;
    let txn = crate::store::begin(&ctx.db).await?;
    let row = webhook::ActiveModel {
        url: Set(url.to_string()),
        events: Set(StringList(events.clone())),
        secret: Set(ctx.sealer.seal(Kind::WebhookSecret, &input.secret)),
        created_by: Set(actor.to_string()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, actor, "webhook.create", &format!("webhook:{}", row.id), json!({"url": row.url, "events": events})).await?;
    txn.commit().await?;
    webhook_view(&ctx.db, row).await
}

async fn webhook_view(db: &impl ConnectionTrait, w: webhook::Model) -> ServiceResult<WebhookView> {
    let count = |status: OutboxStatus| {
        outbox::Entity::find()
            .filter(outbox::Column::Channel.eq(store_outbox::WEBHOOK))
            .filter(outbox::Column::Target.eq(w.id.to_string()))
            .filter(outbox::Column::Status.eq(status))
            .count(db)
    };
    Ok(WebhookView {
        pending: count(OutboxStatus::Pending).await?,
        delivered: count(OutboxStatus::Delivered).await?,
        dead: count(OutboxStatus::Dead).await?,
        id: w.id,
        url: w.url,
        events: w.events.0,
        created_by: w.created_by,
        created_at: w.created_at,
    })
}

pub async fn list_webhooks(ctx: &Context) -> ServiceResult<Vec<WebhookView>> {
    let mut out = Vec::new();
    for w in webhook::Entity::find().order_by_asc(webhook::Column::Id).all(&ctx.db).await? {
        out.push(webhook_view(&ctx.db, w).await?);
    }
    Ok(out)
}

async fn find_webhook(ctx: &Context, id: i64) -> ServiceResult<webhook::Model> {
    webhook::Entity::find_by_id(id).one(&ctx.db).await?.ok_or_else(|| ServiceError::NotFound(format!("no webhook {id}")))
}

/// Removes a webhook; its messages not yet delivered are dropped with it.
pub async fn delete_webhook(ctx: &Context, actor: &str, id: i64) -> ServiceResult<()> {
    let w = find_webhook(ctx, id).await?;
    let txn = crate::store::begin(&ctx.db).await?;
    outbox::Entity::delete_many()
        .filter(outbox::Column::Channel.eq(store_outbox::WEBHOOK))
        .filter(outbox::Column::Target.eq(id.to_string()))
        .filter(outbox::Column::Status.ne(OutboxStatus::Delivered))
        .exec(&txn)
        .await?;
    webhook::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(&txn, actor, "webhook.delete", &format!("webhook:{id}"), json!({"url": w.url})).await?;
    txn.commit().await?;
    Ok(())
}

/// One delivery (a message to a webhook) with its tries.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub tries: Vec<TryView>,
    #[serde(skip)]
    pub target: String,
    /// An e-mail's recipient (a username); absent for webhooks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TryView {
    pub at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub millis: i64,
}

/// A webhook's latest deliveries (at most `limit`), newest first, with their tries.
pub async fn deliveries(ctx: &Context, id: i64, limit: u64) -> ServiceResult<Vec<DeliveryView>> {
    find_webhook(ctx, id).await?;
    delivery_views(ctx, store_outbox::WEBHOOK, Some(id.to_string()), limit).await
}

/// The latest e-mails (at most `limit`), newest first, with their tries; `to` is the user.
pub async fn mail_deliveries(ctx: &Context, limit: u64) -> ServiceResult<Vec<DeliveryView>> {
    let mut out = delivery_views(ctx, store_outbox::EMAIL, None, limit).await?;
    let ids: Vec<i64> = out.iter().filter_map(|d| d.target.parse().ok()).collect();
    let names: std::collections::HashMap<i64, String> =
        user::Entity::find().filter(user::Column::Id.is_in(ids)).all(&ctx.db).await?.into_iter().map(|u| (u.id, u.username)).collect();
    for d in &mut out {
        d.to = d.target.parse().ok().and_then(|id: i64| names.get(&id).cloned());
    }
    Ok(out)
}

async fn delivery_views(ctx: &Context, channel: &str, target: Option<String>, limit: u64) -> ServiceResult<Vec<DeliveryView>> {
    let mut q = outbox::Entity::find().filter(outbox::Column::Channel.eq(channel));
    if let Some(t) = target {
        q = q.filter(outbox::Column::Target.eq(t));
    }
    let rows = q.order_by_desc(outbox::Column::CreatedAt).limit(limit).all(&ctx.db).await?;
    let mut out = Vec::new();
    for m in rows {
        let tries = outbox_attempt::Entity::find()
            .filter(outbox_attempt::Column::OutboxId.eq(&m.id))
            .order_by_asc(outbox_attempt::Column::Id)
            .all(&ctx.db)
            .await?
            .into_iter()
            .map(|t| TryView { at: t.at, status_code: t.status_code, error: t.error, millis: t.millis })
            .collect();
        out.push(DeliveryView {
            id: m.id,
            event_id: m.event_id,
            event_type: m.event_type,
            status: m.status,
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            last_status: m.last_status,
            last_error: m.last_error,
            created_at: m.created_at,
            delivered_at: m.delivered_at,
            tries,
            target: m.target,
            to: None,
        });
    }
    Ok(out)
}

/// Sends a dead-lettered delivery of a webhook again.
pub async fn retry_delivery(ctx: &Context, actor: &str, webhook_id: i64, delivery: &str) -> ServiceResult<()> {
    find_webhook(ctx, webhook_id).await?;
    retry_message(ctx, actor, store_outbox::WEBHOOK, Some(webhook_id.to_string()), delivery).await
}

/// Sends a dead-lettered (or skipped) e-mail again.
pub async fn retry_mail(ctx: &Context, actor: &str, delivery: &str) -> ServiceResult<()> {
    retry_message(ctx, actor, store_outbox::EMAIL, None, delivery).await
}

async fn retry_message(ctx: &Context, actor: &str, channel: &str, target: Option<String>, delivery: &str) -> ServiceResult<()> {
    let mut q = outbox::Entity::find_by_id(delivery.to_string()).filter(outbox::Column::Channel.eq(channel));
    if let Some(t) = &target {
        q = q.filter(outbox::Column::Target.eq(t));
    }
    let m = q.one(&ctx.db).await?.ok_or_else(|| ServiceError::NotFound(format!("no {channel} delivery `{delivery}`")))?;
    let txn = crate::store::begin(&ctx.db).await?;
    if !store_outbox::retry(&txn, &m.id).await? {
        return Err(ServiceError::Conflict(format!(
            "delivery `{delivery}` is {}: only a dead-lettered or skipped one is sent again",
            m.status
        )));
    }
    let what = match target {
        Some(t) => format!("{channel}:{t}"),
        None => channel.to_string(),
    };
    audit::record(&txn, actor, &format!("{channel}.retry"), &what, json!({"delivery": delivery})).await?;
    txn.commit().await?;
    ctx.signals.message_queued();
    Ok(())
}

// ----- the portal's notifications -----------------------------------------------------------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NotificationView {
    pub id: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub title: String,
    pub link: Option<String>,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

/// The caller's notifications, newest first (at most 200), unread ones only if asked.
pub async fn list(ctx: &Context, user_id: i64, unread_only: bool) -> ServiceResult<Vec<NotificationView>> {
    let mut q = notification::Entity::find().filter(notification::Column::UserId.eq(user_id));
    if unread_only {
        q = q.filter(notification::Column::ReadAt.is_null());
    }
    Ok(q.order_by_desc(notification::Column::Id)
        .limit(200)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|n| NotificationView {
            id: n.id,
            event_type: n.event_type,
            title: n.title,
            link: n.link,
            created_at: n.created_at,
            read: n.read_at.is_some(),
        })
        .collect())
}

pub async fn unread(db: &impl ConnectionTrait, user_id: i64) -> Result<u64, DbErr> {
    notification::Entity::find()
        .filter(notification::Column::UserId.eq(user_id))
        .filter(notification::Column::ReadAt.is_null())
        .count(db)
        .await
}

/// Marks the caller's notifications read: `ids`, or all. Returns how many changed.
pub async fn mark_read(ctx: &Context, user_id: i64, ids: Option<&[i64]>) -> ServiceResult<u64> {
    let mut q = notification::Entity::update_many()
        .col_expr(notification::Column::ReadAt, Expr::value(Some(Utc::now())))
        .filter(notification::Column::UserId.eq(user_id))
        .filter(notification::Column::ReadAt.is_null());
    if let Some(ids) = ids {
        if ids.len() > 1000 {
            return Err(ServiceError::invalid("ids", "at most 1000 ids at once"));
        }
        q = q.filter(notification::Column::Id.is_in(ids.iter().copied()));
    }
    Ok(q.exec(&ctx.db).await?.rows_affected)
}

// ----- e-mail preferences -------------------------------------------------------------------

/// A user's e-mail preferences: their address and, for each kind they may get, whether it
/// comes by mail.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MailPreferences {
    /// Where mail goes (set by an admin, or by the single sign-on provider); none: no mail.
    pub email: Option<String>,
    /// Kind → by mail. `hosts` only for admins.
    #[schema(value_type = Object)]
    pub mail: std::collections::BTreeMap<String, bool>,
}

fn kinds_for(is_admin: bool) -> impl Iterator<Item = MailKind> {
    MailKind::ALL.iter().copied().filter(move |k| is_admin || *k != MailKind::Hosts)
}

pub async fn mail_preferences(ctx: &Context, who: &crate::auth::Principal) -> ServiceResult<MailPreferences> {
    let u = user::Entity::find_by_id(who.user_id).one(&ctx.db).await?.ok_or_else(|| ServiceError::NotFound("no such user".into()))?;
    let mail = kinds_for(u.is_admin).map(|k| (k.as_str().to_string(), k.wanted(&u.mail_off))).collect();
    Ok(MailPreferences { email: u.email.filter(|e| !e.trim().is_empty()), mail })
}

/// Sets which kinds come by mail: each of `mail`'s keys must be a kind (`approvals`,
/// `requests`, `leases`, `hosts`); kinds left out keep their setting.
pub async fn set_mail_preferences(
    ctx: &Context,
    who: &crate::auth::Principal,
    mail: &std::collections::BTreeMap<String, bool>,
) -> ServiceResult<MailPreferences> {
    let u = user::Entity::find_by_id(who.user_id).one(&ctx.db).await?.ok_or_else(|| ServiceError::NotFound("no such user".into()))?;
    let mut on: Vec<MailKind> = kinds_for(u.is_admin).filter(|k| k.wanted(&u.mail_off)).collect();
    let mut errors = Vec::new();
    for (key, wanted) in mail {
        match MailKind::parse(key).filter(|k| u.is_admin || *k != MailKind::Hosts) {
            None => errors.push(FieldError::new(
                format!("mail.{key}"),
                format!("is not a kind of notification; use {}", kinds_for(u.is_admin).map(|k| k.as_str()).collect::<Vec<_>>().join(", ")),
            )),
            Some(k) => {
                on.retain(|x| *x != k);
                if *wanted {
                    on.push(k);
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let off = MailKind::off_list(&on);
    let txn = crate::store::begin(&ctx.db).await?;
    user::Entity::update_many()
        .col_expr(user::Column::MailOff, Expr::value(off.clone()))
        .filter(user::Column::Id.eq(u.id))
        .exec(&txn)
        .await?;
    audit::record(&txn, &who.username, "user.mail_preferences", &format!("user:{}", u.username), json!({"off": off})).await?;
    txn.commit().await?;
    mail_preferences(ctx, who).await
}
