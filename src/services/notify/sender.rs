//! The sender loop: claims due messages from the outbox (a lease each, so one replica sends a
//! message at a time and a dead sender's messages are taken over), delivers them, and records
//! each try. A webhook delivery is a POST of the event's JSON with `X-Wharf-Timestamp` and
//! `X-Wharf-Signature: sha256=<hex HMAC-SHA256 of "timestamp.body">`; any 2xx is delivered.
//! An e-mail goes through `mail::Mailer`; with no SMTP server configured, e-mail messages are
//! marked skipped (they are not sent later). Nothing here can hold back the change that caused a
//! message: it was committed before.
use std::time::{Duration, Instant};

use crate::config::NotifySettings;
use crate::domain::events;
use crate::sealing::Kind;
use crate::services::Context;
use sea_orm::EntityTrait;

use super::mail::Mailer;
use crate::store::entities::{outbox, webhook};
use crate::store::outbox::{self as store_outbox, Tried};

/// Messages taken at once, delivered side by side.
const BATCH: u64 = 16;
/// One webhook delivery's limit (at most half the lease).
const TIMEOUT: Duration = Duration::from_secs(10);

/// The limit of one delivery under a lease of `lease_secs`: `most`, or half the lease if less,
/// so that the outcome is recorded before another sender may take the message.
pub fn delivery_limit(lease_secs: u32, most: Duration) -> Duration {
    most.min(Duration::from_secs(u64::from(lease_secs / 2).max(1)))
}

pub async fn run(ctx: Context, settings: NotifySettings, mailer: Option<Mailer>) {
    let owner = format!("sender-{}", uuid::Uuid::new_v4().simple());
    let limit = delivery_limit(settings.lease_secs, TIMEOUT);
    let client = match reqwest::Client::builder()
        .timeout(limit)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Wharf/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "the notification sender cannot make an HTTP client; webhooks are not delivered");
            return std::future::pending().await;
        }
    };
    let base = Duration::from_secs(u64::from(settings.retry_base_secs));
    let channels: &[&str] = if mailer.is_some() { &[store_outbox::WEBHOOK, store_outbox::EMAIL] } else { &[store_outbox::WEBHOOK] };
    loop {
        // A read first: with e-mail off and no mail waiting (the usual case), no write each turn.
        if mailer.is_none()
            && store_outbox::has_pending(&ctx.db, store_outbox::EMAIL).await.unwrap_or(false)
            && let Err(e) = store_outbox::skip_channel(&ctx.db, store_outbox::EMAIL, "not sent: e-mail is off (no smtp.url)").await
        {
            tracing::warn!(error = %e, "the outbox could not be updated");
        }
        let batch = match store_outbox::claim(&ctx.db, &owner, settings.lease_secs, BATCH, channels).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "the outbox could not be read; trying again");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if batch.is_empty() {
            // Until the next message is due (a retry's pause is kept to the tenth of a second),
            // a second at most, or until one is queued.
            let wait = match store_outbox::next_due(&ctx.db, channels).await {
                Ok(Some(due)) => {
                    (due - chrono::Utc::now()).to_std().unwrap_or_default().clamp(Duration::from_millis(50), Duration::from_secs(1))
                }
                _ => Duration::from_secs(1),
            };
            ctx.signals.message_waited(wait).await;
            continue;
        }
        let deliveries = batch.iter().map(|m| async {
            crate::failpoint!("notify.before_send");
            let tried = deliver(&ctx, &client, mailer.as_ref(), m).await;
            crate::failpoint!("notify.after_send");
            match store_outbox::record(&ctx.db, m, &owner, &tried, base, settings.max_attempts).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!(message = %m.id, "a delivery's outcome came after its lease ran out; another sender has it"),
                Err(e) => tracing::warn!(message = %m.id, error = %e, "a delivery's outcome was not recorded; it is tried again"),
            }
            if let Some(e) = &tried.error {
                tracing::info!(message = %m.id, event = %m.event_type, attempt = m.attempts, error = %e, "delivery failed");
            }
        });
        futures_util::future::join_all(deliveries).await;
    }
}

async fn deliver(ctx: &Context, client: &reqwest::Client, mailer: Option<&Mailer>, m: &outbox::Model) -> Tried {
    let started = Instant::now();
    let (status_code, error, permanent) = match (m.channel.as_str(), mailer) {
        (store_outbox::WEBHOOK, _) => webhook_post(ctx, client, m).await,
        (store_outbox::EMAIL, Some(mailer)) => return mailer.send(ctx, m).await,
        (other, _) => (None, Some(format!("this server does not send `{other}` messages")), false),
    };
    Tried { status_code, error, permanent, millis: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX) }
}

async fn webhook_post(ctx: &Context, client: &reqwest::Client, m: &outbox::Model) -> (Option<u16>, Option<String>, bool) {
    let Ok(w) = m.target.parse::<i64>() else {
        return (None, Some(format!("`{}` is not a webhook id", m.target)), true);
    };
    let hook = match webhook::Entity::find_by_id(w).one(&ctx.db).await {
        Ok(Some(h)) => h,
        Ok(None) => return (None, Some("the webhook was removed".into()), true),
        Err(e) => return (None, Some(format!("the webhook could not be read: {e}")), false),
    };
    let secret = match ctx.sealer.open(Kind::WebhookSecret, &hook.secret) {
        Ok(s) => s,
        Err(e) => return (None, Some(format!("the webhook's secret cannot be opened with this key: {e}")), false),
    };
    let timestamp = chrono::Utc::now().timestamp();
    let signature = events::sign(secret.as_bytes(), timestamp, m.payload.as_bytes());
    let sent = client
        .post(&hook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Wharf-Event", &m.event_type)
        .header("X-Wharf-Event-Id", &m.event_id)
        .header("X-Wharf-Delivery", &m.id)
        .header("X-Wharf-Timestamp", timestamp.to_string())
        .header("X-Wharf-Signature", format!("sha256={signature}"))
        .body(m.payload.clone())
        .send()
        .await;
    match sent {
        Ok(res) if res.status().is_success() => (Some(res.status().as_u16()), None, false),
        Ok(res) => (Some(res.status().as_u16()), Some(format!("the receiver answered {}", res.status())), false),
        Err(e) if e.is_timeout() => (None, Some("no answer in time".to_string()), false),
        Err(e) => (None, Some(format!("could not reach the receiver: {}", crate::domain::describe_error(&e))), false),
    }
}
