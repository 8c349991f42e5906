//! The outbox: messages written in the transaction of the change that causes them (`emit`), and
//! claimed by one sender at a time with a lease and an epoch (`claim`, like jobs: a sender that
//! died leaves a lease that runs out; its late write is refused). A failed try waits
//! `events::backoff` and is tried again; after the last one the message is dead (kept, with its
//! last error, until an admin retries it).
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
};
use serde_json::{Value, json};

use crate::domain::events::{self, EventType};
use crate::domain::states::OutboxStatus;
use crate::store::db_now;
use crate::store::entities::{deployment, membership, notification, outbox, outbox_attempt, user, webhook};

pub const WEBHOOK: &str = "webhook";
/// An e-mail to a user (`target`: the user's id); the sender writes it from the payload
/// `{"event": <the webhook body>, "title", "link"}` when it sends.
pub const EMAIL: &str = "email";

/// Something that happened, for the people it concerns and the webhooks that want it.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub kind: EventType,
    pub at: DateTime<Utc>,
    /// What a webhook receives under `data` (ids and names; never a secret).
    pub data: Value,
    /// One line for people: the notification's text.
    pub title: String,
    /// The page it is about (a path of Wharf's).
    pub link: Option<String>,
}

impl Event {
    pub fn new(kind: EventType, title: impl Into<String>, link: Option<String>, data: Value) -> Self {
        Self { id: uuid::Uuid::new_v4().to_string(), kind, at: Utc::now(), data, title: title.into(), link }
    }

    /// The JSON body a webhook receives: `{"id", "type", "at", "data"}`.
    pub fn body(&self) -> Value {
        json!({"id": self.id, "type": self.kind, "at": self.at, "data": self.data})
    }
}

/// In the caller's transaction: a notification for each of `users` (once each, active
/// accounts only; network addresses hidden from those who are not admins, as on the pages; an
/// e-mail too for those with an address who want its kind), and a message for each webhook that
/// subscribes to the event's type.
pub async fn emit(db: &impl ConnectionTrait, event: &Event, users: &[i64]) -> Result<(), DbErr> {
    tell(db, event, users).await?;
    let body = event.body().to_string();
    // Only the ids and subscriptions are read, and a row that does not read is skipped: a
    // webhook never holds back the change that caused the event.
    let hooks: Vec<(i64, Value)> =
        webhook::Entity::find().select_only().column(webhook::Column::Id).column(webhook::Column::Events).into_tuple().all(db).await?;
    for (id, subscribed) in hooks {
        let Ok(subscribed) = serde_json::from_value::<Vec<String>>(subscribed) else {
            tracing::warn!(webhook = id, "a webhook's event types do not read; it is skipped");
            continue;
        };
        if events::subscribes(&subscribed, event.kind) {
            enqueue(db, event, WEBHOOK, &id.to_string(), &body).await?;
        }
    }
    Ok(())
}

/// The people's part of `emit` (no webhook): a notification for each of `users`, and an e-mail
/// for those with an address who want the event's kind by mail.
pub async fn tell(db: &impl ConnectionTrait, event: &Event, users: &[i64]) -> Result<(), DbErr> {
    if users.is_empty() {
        return Ok(());
    }
    let mut ids = users.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let people = user::Entity::find().filter(user::Column::Id.is_in(ids)).filter(user::Column::IsActive.eq(true)).all(db).await?;
    let body = event.body();
    for u in people {
        let title = if u.is_admin { event.title.clone() } else { crate::domain::redact_addresses(&event.title) };
        notification::ActiveModel {
            user_id: Set(u.id),
            event_id: Set(event.id.clone()),
            event_type: Set(event.kind.as_str().to_string()),
            title: Set(title.clone()),
            link: Set(event.link.clone()),
            created_at: Set(event.at),
            read_at: Set(None),
            ..Default::default()
        }
        .insert(db)
        .await?;
        let has_address = u.email.as_deref().is_some_and(|e| !e.trim().is_empty());
        if has_address && events::MailKind::of(event.kind).wanted(&u.mail_off) {
            let payload = json!({"event": body, "title": title, "link": event.link}).to_string();
            enqueue(db, event, EMAIL, &u.id.to_string(), &payload).await?;
        }
    }
    Ok(())
}

/// When the next pending message is due (the sender sleeps until then, a second at most).
pub async fn next_due(db: &impl ConnectionTrait, channels: &[&str]) -> Result<Option<DateTime<Utc>>, DbErr> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::Status.eq(OutboxStatus::Pending))
        .filter(outbox::Column::Channel.is_in(channels.iter().copied()))
        .order_by_asc(outbox::Column::NextAttemptAt)
        .one(db)
        .await?
        .map(|m| m.lease_until.map_or(m.next_attempt_at, |l| std::cmp::max(l, m.next_attempt_at))))
}

async fn enqueue(db: &impl ConnectionTrait, event: &Event, channel: &str, target: &str, payload: &str) -> Result<(), DbErr> {
    let now = Utc::now();
    outbox::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        event_id: Set(event.id.clone()),
        event_type: Set(event.kind.as_str().to_string()),
        channel: Set(channel.to_string()),
        target: Set(target.to_string()),
        payload: Set(payload.to_string()),
        status: Set(OutboxStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(now),
        lease_owner: Set(None),
        lease_until: Set(None),
        last_error: Set(None),
        last_status: Set(None),
        created_at: Set(now),
        delivered_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The owner of a deployment and, when `managers`, its group's managers.
pub async fn owner_and_managers(
    db: &impl ConnectionTrait,
    owner: Option<i64>,
    group_id: Option<i64>,
    managers: bool,
) -> Result<Vec<i64>, DbErr> {
    let mut users: Vec<i64> = owner.into_iter().collect();
    if let (true, Some(g)) = (managers, group_id) {
        let rows = membership::Entity::find()
            .filter(membership::Column::GroupId.eq(g))
            .filter(membership::Column::Role.eq(crate::domain::Role::Manager))
            .all(db)
            .await?;
        users.extend(rows.into_iter().map(|m| m.user_id));
    }
    Ok(users)
}

/// A deployment that was destroyed (at the end of its lease's grace, or by an action): its
/// owner and, when `managers`, its group's managers are told; in the caller's transaction.
pub async fn deployment_destroyed(db: &impl ConnectionTrait, deployment_id: &str, managers: bool) -> Result<(), DbErr> {
    let Some(d) = deployment::Entity::find_by_id(deployment_id.to_string()).one(db).await? else { return Ok(()) };
    let users = owner_and_managers(db, d.owner_id, d.group_id, managers).await?;
    let text = "destroyed: everything it had on its host is removed";
    let data = json!({"deployment_id": d.id, "name": d.name, "lease_expires_at": d.lease_expires_at, "message": text});
    let title = format!("Deployment {}: {text}", d.name);
    emit(db, &Event::new(EventType::DeploymentDestroyed, title, Some(format!("/deployments/{}", d.id)), data), &users).await
}

/// The ids of the active admins (host events go to them).
pub async fn admins(db: &impl ConnectionTrait) -> Result<Vec<i64>, DbErr> {
    Ok(user::Entity::find()
        .filter(user::Column::IsAdmin.eq(true))
        .filter(user::Column::IsActive.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect())
}

fn due(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(outbox::Column::Status.eq(OutboxStatus::Pending))
        .add(outbox::Column::NextAttemptAt.lte(now))
        .add(Condition::any().add(outbox::Column::LeaseUntil.is_null()).add(outbox::Column::LeaseUntil.lt(now)))
}

/// Takes up to `limit` messages of `channels` that are due, each with a lease of `lease_secs`
/// and the next epoch (its `attempts`); one conditional UPDATE each, so two senders never both
/// take one.
pub async fn claim(
    db: &impl ConnectionTrait,
    owner: &str,
    lease_secs: u32,
    limit: u64,
    channels: &[&str],
) -> Result<Vec<outbox::Model>, DbErr> {
    let now = db_now(db).await?;
    let candidates = outbox::Entity::find()
        .filter(due(now))
        .filter(outbox::Column::Channel.is_in(channels.iter().copied()))
        .order_by_asc(outbox::Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await?;
    let mut claimed = Vec::new();
    for c in candidates {
        let res = outbox::Entity::update_many()
            .col_expr(outbox::Column::LeaseOwner, Expr::value(owner))
            .col_expr(outbox::Column::LeaseUntil, Expr::value(now + Duration::seconds(i64::from(lease_secs))))
            .col_expr(outbox::Column::Attempts, Expr::col(outbox::Column::Attempts).add(1))
            .filter(outbox::Column::Id.eq(&c.id))
            .filter(outbox::Column::Attempts.eq(c.attempts))
            .filter(due(now))
            .exec(db)
            .await?;
        if res.rows_affected == 1
            && let Some(m) = outbox::Entity::find_by_id(c.id).one(db).await?
        {
            claimed.push(m);
        }
    }
    Ok(claimed)
}

/// What one try came to.
#[derive(Debug, Clone)]
pub struct Tried {
    pub status_code: Option<u16>,
    /// `None`: delivered.
    pub error: Option<String>,
    /// The error will not go away by trying again (the webhook or the recipient is gone): dead now.
    pub permanent: bool,
    pub millis: i64,
}

/// Records a try of a message this sender holds (`m` as claimed): delivered, or pending again
/// after the backoff, or dead after `max_attempts`. `false` when the claim no longer holds.
pub async fn record(
    db: &impl ConnectionTrait,
    m: &outbox::Model,
    owner: &str,
    tried: &Tried,
    base: std::time::Duration,
    max_attempts: u32,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    outbox_attempt::ActiveModel {
        outbox_id: Set(m.id.clone()),
        at: Set(now),
        status_code: Set(tried.status_code.map(i32::from)),
        error: Set(tried.error.clone()),
        millis: Set(tried.millis),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let attempts = u32::try_from(m.attempts).unwrap_or(0);
    let (status, next) = match &tried.error {
        None => (OutboxStatus::Delivered, now),
        Some(_) if attempts >= max_attempts || tried.permanent => (OutboxStatus::Dead, now),
        Some(_) => (OutboxStatus::Pending, now + Duration::from_std(events::backoff(base, attempts)).unwrap_or(Duration::hours(1))),
    };
    let res = outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(status))
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(next))
        .col_expr(outbox::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(outbox::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(outbox::Column::LastError, Expr::value(tried.error.clone()))
        .col_expr(outbox::Column::LastStatus, Expr::value(tried.status_code.map(i32::from)))
        .col_expr(outbox::Column::DeliveredAt, Expr::value(tried.error.is_none().then_some(now)))
        .filter(outbox::Column::Id.eq(&m.id))
        .filter(outbox::Column::LeaseOwner.eq(owner))
        .filter(outbox::Column::Attempts.eq(m.attempts))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Whether a message of `channel` is pending.
pub async fn has_pending(db: &impl ConnectionTrait, channel: &str) -> Result<bool, DbErr> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::Channel.eq(channel))
        .filter(outbox::Column::Status.eq(OutboxStatus::Pending))
        .one(db)
        .await?
        .is_some())
}

/// The new messages of a channel this server does not send (e-mail with no SMTP server) are
/// marked `skipped`, with why: they are not held until someone turns the channel on. Only
/// messages never tried and not held by a sender: one that a replica with the channel on has
/// taken or tried is left to it (every replica should have the same `[smtp]`).
pub async fn skip_channel(db: &impl ConnectionTrait, channel: &str, why: &str) -> Result<u64, DbErr> {
    let now = db_now(db).await?;
    let res = outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Skipped))
        .col_expr(outbox::Column::LastError, Expr::value(why))
        .filter(outbox::Column::Channel.eq(channel))
        .filter(outbox::Column::Status.eq(OutboxStatus::Pending))
        .filter(outbox::Column::Attempts.eq(0))
        .filter(Condition::any().add(outbox::Column::LeaseUntil.is_null()).add(outbox::Column::LeaseUntil.lt(now)))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// A dead (or skipped) message goes back to the queue, with its tries counted from zero.
pub async fn retry(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    let res = outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Pending))
        .col_expr(outbox::Column::Attempts, Expr::value(0))
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(Utc::now()))
        .filter(outbox::Column::Id.eq(id))
        .filter(outbox::Column::Status.is_in([OutboxStatus::Dead, OutboxStatus::Skipped]))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Removes what was settled more than `days` ago: delivered and skipped messages with their
/// tries, and notifications read. Dead letters stay until an admin sends them again.
pub async fn prune(db: &impl ConnectionTrait, days: u32) -> Result<u64, DbErr> {
    let before = Utc::now() - Duration::days(i64::from(days));
    let settled = Condition::all()
        .add(outbox::Column::Status.is_in([OutboxStatus::Delivered, OutboxStatus::Skipped]))
        .add(outbox::Column::CreatedAt.lt(before));
    let old = outbox::Entity::find().select_only().column(outbox::Column::Id).filter(settled.clone()).into_query();
    outbox_attempt::Entity::delete_many().filter(outbox_attempt::Column::OutboxId.in_subquery(old)).exec(db).await?;
    let messages = outbox::Entity::delete_many().filter(settled).exec(db).await?.rows_affected;
    let read = notification::Entity::delete_many().filter(notification::Column::ReadAt.lt(before)).exec(db).await?.rows_affected;
    Ok(messages + read)
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Database, EntityTrait, PaginatorTrait};

    use super::*;

    async fn db_with_user(email: &str, mail_off: &str) -> sea_orm::DatabaseConnection {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        crate::store::migrate(&db).await.unwrap();
        db.execute_unprepared(&format!(
            "INSERT INTO users (id, username, display_name, email, is_admin, is_active, created_at, updated_at, mail_off) \
             VALUES (1, 'ann', 'Ann', '{email}', false, true, '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z', '{mail_off}')"
        ))
        .await
        .unwrap();
        db
    }

    fn event(kind: EventType) -> Event {
        Event::new(kind, "Something about 10.1.2.3", Some("/requests/r".into()), json!({"request_id": "r"}))
    }

    #[tokio::test]
    async fn mail_follows_preferences_and_channels_are_claimed_apart() {
        let db = db_with_user("ann@example.test", "leases").await;
        tell(&db, &event(EventType::RequestApproved), &[1, 1]).await.unwrap();
        tell(&db, &event(EventType::LeaseWarning), &[1]).await.unwrap();
        assert_eq!(notification::Entity::find().count(&db).await.unwrap(), 2, "one notification per event and user");
        let mails = outbox::Entity::find().all(&db).await.unwrap();
        assert_eq!(mails.len(), 1, "leases are off by mail");
        assert_eq!((mails[0].channel.as_str(), mails[0].target.as_str()), (EMAIL, "1"));
        let payload: Value = serde_json::from_str(&mails[0].payload).unwrap();
        assert_eq!(payload["event"]["type"], "request.approved");
        assert!(!payload["title"].as_str().unwrap().contains("10.1.2.3"), "addresses hidden from non-admins: {payload}");

        assert!(claim(&db, "s1", 60, 10, &[WEBHOOK]).await.unwrap().is_empty(), "a webhook sender leaves mail alone");
        let taken = claim(&db, "s1", 60, 10, &[WEBHOOK, EMAIL]).await.unwrap();
        assert_eq!(taken.len(), 1);
        assert!(claim(&db, "s2", 60, 10, &[WEBHOOK, EMAIL]).await.unwrap().is_empty(), "held by its lease");
        let tried = Tried { status_code: Some(550), error: Some("refused".into()), permanent: true, millis: 3 };
        assert!(record(&db, &taken[0], "s1", &tried, std::time::Duration::from_secs(1), 8).await.unwrap());
        let dead = outbox::Entity::find_by_id(taken[0].id.clone()).one(&db).await.unwrap().unwrap();
        assert_eq!((dead.status, dead.attempts), (OutboxStatus::Dead, 1), "a permanent error is dead at once");
        assert!(retry(&db, &dead.id).await.unwrap());

        // With mail off, pending mail is skipped, not held.
        assert!(has_pending(&db, EMAIL).await.unwrap() && !has_pending(&db, WEBHOOK).await.unwrap());
        assert_eq!(skip_channel(&db, EMAIL, "off").await.unwrap(), 1);
        assert!(!has_pending(&db, EMAIL).await.unwrap());
        assert!(claim(&db, "s1", 60, 10, &[WEBHOOK, EMAIL]).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn settled_messages_and_read_notifications_are_pruned() {
        let db = db_with_user("ann@example.test", "").await;
        for kind in [EventType::RequestApproved, EventType::RequestRejected, EventType::RequestFailed] {
            tell(&db, &event(kind), &[1]).await.unwrap();
        }
        let ids: Vec<String> = outbox::Entity::find().all(&db).await.unwrap().into_iter().map(|m| m.id).collect();
        db.execute_unprepared(&format!(
            "UPDATE outbox SET created_at = '2020-01-01T00:00:00Z', status = CASE id WHEN '{}' THEN 'delivered' WHEN '{}' THEN 'dead' ELSE 'skipped' END",
            ids[0], ids[1]
        ))
        .await
        .unwrap();
        db.execute_unprepared(&format!(
            "INSERT INTO outbox_attempts (outbox_id, at, status_code, error, millis) VALUES ('{}', '2020-01-01T00:00:00Z', 250, NULL, 1)",
            ids[0]
        ))
        .await
        .unwrap();
        db.execute_unprepared("UPDATE notifications SET read_at = '2020-01-01T00:00:00Z' WHERE id = (SELECT MIN(id) FROM notifications)")
            .await
            .unwrap();
        assert_eq!(prune(&db, 30).await.unwrap(), 3, "the delivered and the skipped message, one read notification");
        let left: Vec<OutboxStatus> = outbox::Entity::find().all(&db).await.unwrap().into_iter().map(|m| m.status).collect();
        assert_eq!(left, [OutboxStatus::Dead], "dead letters stay");
        assert_eq!(outbox_attempt::Entity::find().count(&db).await.unwrap(), 0);
        assert_eq!(notification::Entity::find().count(&db).await.unwrap(), 2, "unread notifications stay");
    }
}
