//! E-mail: the SMTP transport (`[smtp]`), and each message written when it is sent from the
//! outbox row (`{"event", "title", "link"}` for one user): a plain-text and an HTML body from
//! the `templates/mail/` templates, links built from the public base URL, and, for a request that
//! waits on the recipient, approve and reject links (`links.rs`). Its `Message-ID` is the outbox
//! row's id, the same on every try, so a copy sent twice (a crash between sending and
//! recording) is known as one by mail clients and by receivers that drop duplicates.
use std::time::Duration;

use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;
use url::Url;

use super::links::ApproveLink;
use crate::config::{SmtpSettings, SmtpTls};
use crate::domain::events::EventType;
use crate::services::Context;
use crate::store::entities::{outbox, request, request_decision, user};
use crate::store::outbox::Tried;

/// One SMTP exchange's limit (at most half the sender's lease).
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Sends Wharf's mail through the configured server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Where links point: `base_url`, or the address Wharf listens on.
    base: Url,
    /// The right-hand side of `Message-ID`s.
    domain: String,
    timeout: Duration,
}

impl Mailer {
    pub fn new(settings: &SmtpSettings, base: Url, timeout: Duration) -> Result<Self, String> {
        let from: Mailbox = settings.from.parse().map_err(|e| format!("smtp.from: {e}"))?;
        let extra = match &settings.ca_file {
            None => None,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| format!("smtp.ca_file {}: {e}", path.display()))?;
                Some(Certificate::from_pem(&pem).map_err(|e| format!("smtp.ca_file {}: not PEM certificates: {e}", path.display()))?)
            }
        };
        let tls = |host: &str| {
            let mut b = TlsParameters::builder(host.to_string());
            if let Some(ca) = extra.clone() {
                b = b.add_root_certificate(ca);
            }
            b.build().map_err(|e| format!("smtp TLS for `{host}`: {e}"))
        };
        let builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone()).port(settings.port).tls(match settings.tls {
                SmtpTls::None => Tls::None,
                SmtpTls::StartTls => Tls::Required(tls(&settings.host)?),
                SmtpTls::Tls => Tls::Wrapper(tls(&settings.host)?),
            });
        let domain = base.host_str().unwrap_or("wharf").trim_start_matches('[').trim_end_matches(']').to_string();
        // EHLO names this host: a bare IP address goes as an address literal (`[127.0.0.1]`).
        let hello = match domain.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(a)) => ClientId::Ipv4(a),
            Ok(std::net::IpAddr::V6(a)) => ClientId::Ipv6(a),
            Err(_) => ClientId::Domain(domain.clone()),
        };
        let mut builder = builder.timeout(Some(timeout)).hello_name(hello);
        if let Some(user) = &settings.username {
            let password = settings.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Self { transport: builder.build(), from, base, domain, timeout })
    }

    fn absolute(&self, path: &str) -> String {
        format!("{}{}", self.base.as_str().trim_end_matches('/'), path)
    }

    /// Writes and sends the message of one outbox row, within the time limit as a whole (lettre's
    /// own limit covers the connection only).
    pub async fn send(&self, ctx: &Context, m: &outbox::Model) -> Tried {
        let started = std::time::Instant::now();
        let late = || (None, Some(format!("the SMTP server did not finish within {} s", self.timeout.as_secs())), false);
        let (status_code, error, permanent) = match self.compose(ctx, m).await {
            Err((error, permanent)) => (None, Some(error), permanent),
            Ok(message) => match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
                Err(_) => late(),
                Ok(Ok(res)) => (res.code().to_string().parse().ok(), None, false),
                Ok(Err(e)) if e.is_timeout() => late(),
                Ok(Err(e)) => {
                    let code: Option<u16> = e.status().and_then(|c| c.to_string().parse().ok());
                    let what = format!("the SMTP server refused or could not be reached: {}", crate::domain::describe_error(&e));
                    // Only a refused recipient is final; other refusals (authentication, relaying,
                    // TLS required) are the server's setup, tried again.
                    (code, Some(what), matches!(code, Some(550 | 551 | 553)))
                }
            },
        };
        Tried { status_code, error, permanent, millis: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX) }
    }

    /// The message for the row's user; `Err((why, permanent))` when there is none to send.
    async fn compose(&self, ctx: &Context, m: &outbox::Model) -> Result<Message, (String, bool)> {
        let gone = |why: &str| (why.to_string(), true);
        let user_id: i64 = m.target.parse().map_err(|_| gone("the message names no user"))?;
        let u = user::Entity::find_by_id(user_id)
            .one(&ctx.db)
            .await
            .map_err(|e| (format!("the user could not be read: {e}"), false))?
            .ok_or_else(|| gone("the user was removed"))?;
        if !u.is_active {
            return Err(gone("the user is deactivated"));
        }
        let address =
            u.email.as_deref().map(str::trim).filter(|e| !e.is_empty()).ok_or_else(|| gone("the user has no e-mail address now"))?;
        let to = address.parse().map_err(|e| gone(&format!("`{address}` is not a mail address: {e}")))?;
        let payload: Value = serde_json::from_str(&m.payload).map_err(|_| gone("the message's content does not read"))?;
        let event = &payload["event"];
        let kind = event["type"].as_str().and_then(|t| EventType::parse(t).ok()).ok_or_else(|| gone("the message names no event type"))?;
        // One line each: a comment with line breaks cannot forge lines of the mail.
        let title = one_line(payload["title"].as_str().unwrap_or_default());
        let data = &event["data"];
        let mut decide = None;
        if kind == EventType::RequestPending
            && let (Some(id), Some(level)) = (data["request_id"].as_str(), data["level"].as_i64())
        {
            decide = self
                .decide_links(ctx, &u, id, i32::try_from(level - 1).unwrap_or(-1))
                .await
                .map_err(|e| (format!("the request could not be read: {e}"), false))?;
        }
        let facts: Vec<(&'static str, String)> = [
            ("Catalog item", "catalog_item"),
            ("Group", "group"),
            ("Requested by", "requester"),
            ("Level", "level"),
            ("Deployment", "name"),
            ("Lease ends", "lease_expires_at"),
            ("Host", "host"),
        ]
        .into_iter()
        .filter_map(|(label, key)| match &data[key] {
            Value::String(s) if !s.is_empty() => Some((label, one_line(s))),
            Value::Number(n) => Some((label, n.to_string())),
            _ => None,
        })
        .collect();
        let body = MailBody {
            name: if u.display_name.trim().is_empty() { u.username.clone() } else { u.display_name.clone() },
            title: title.clone(),
            meaning: kind.meaning(),
            open: payload["link"].as_str().map(|l| self.absolute(l)),
            facts,
            decide,
            profile: self.absolute("/profile"),
        };
        let text = MailText { b: &body }.render().map_err(|e| (format!("the mail could not be written: {e}"), true))?;
        let html = MailHtml { b: &body }.render().map_err(|e| (format!("the mail could not be written: {e}"), true))?;
        let subject: String = format!("[Wharf] {title}").chars().take(160).collect();
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{}@{}>", m.id, self.domain)))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| gone(&format!("the mail could not be written: {e}")))
    }

    /// Approve and reject links for `level` (from 0), when the request still waits there on `u`
    /// (at send time): a mail that went out late never carries links for a later level.
    async fn decide_links(&self, ctx: &Context, u: &user::Model, request_id: &str, level: i32) -> Result<Option<Decide>, sea_orm::DbErr> {
        let Some(r) = request::Entity::find_by_id(request_id.to_string()).one(&ctx.db).await? else { return Ok(None) };
        if r.level != level || !crate::services::requests::approvers_now(&ctx.db, &r).await?.contains(&u.username) {
            return Ok(None);
        }
        let decided = request_decision::Entity::find()
            .filter(request_decision::Column::RequestId.eq(&r.id))
            .filter(request_decision::Column::Level.eq(r.level))
            .filter(request_decision::Column::Approver.eq(&u.username))
            .one(&ctx.db)
            .await?;
        if decided.is_some() {
            return Ok(None);
        }
        let link =
            |approve| self.absolute(&format!("/approvals/link/{}", ApproveLink::new(&r.id, r.level, u.id, approve).token(&ctx.sealer)));
        Ok(Some(Decide { approve: link(true), reject: link(false), level: r.level + 1 }))
    }
}

/// `text` with its control characters (line breaks included) as spaces.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// What both bodies say.
struct MailBody {
    name: String,
    title: String,
    meaning: &'static str,
    open: Option<String>,
    facts: Vec<(&'static str, String)>,
    decide: Option<Decide>,
    profile: String,
}

struct Decide {
    approve: String,
    reject: String,
    level: i32,
}

#[derive(Template)]
#[template(path = "mail/event.txt")]
struct MailText<'a> {
    b: &'a MailBody,
}

#[derive(Template)]
#[template(path = "mail/event.html")]
struct MailHtml<'a> {
    b: &'a MailBody,
}
