//! What Wharf tells people and other systems about: the event types of notifications and
//! webhooks (their wire words are API.md's), how a webhook delivery is signed, and how long a
//! failed delivery waits before its next try.
use std::fmt;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

macro_rules! event_types {
    ($($variant:ident = $wire:literal, $what:literal;)*) => {
        /// An event type, as webhooks subscribe to it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub enum EventType {
            $(#[serde(rename = $wire)] $variant,)*
        }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $wire,)* }
            }

            /// What it means, for people (the webhook form, the preferences).
            pub fn meaning(self) -> &'static str {
                match self { $(EventType::$variant => $what,)* }
            }

            pub fn parse(raw: &str) -> Result<Self, String> {
                match raw.trim() {
                    $($wire => Ok(EventType::$variant),)*
                    other => Err(format!(
                        "`{other}` is not an event type; use one of {} or \"*\"",
                        [$($wire),*].join(", ")
                    )),
                }
            }
        }
    };
}

event_types! {
    RequestSubmitted = "request.submitted", "a request was submitted";
    RequestPending = "request.pending", "a request waits on an approval level";
    RequestApproved = "request.approved", "a request was approved";
    RequestRejected = "request.rejected", "a request was rejected";
    RequestSucceeded = "request.succeeded", "a request was carried out";
    RequestFailed = "request.failed", "a request failed";
    RequestCancelled = "request.cancelled", "a request was cancelled";
    LeaseWarning = "lease.warning", "a lease ends soon";
    LeaseExpired = "lease.expired", "a lease ended: the deployment is stopped";
    DeploymentDestroyed = "deployment.destroyed", "a deployment was destroyed (at the end of its lease's grace, or by an action)";
    HostDown = "host.down", "a host stopped answering";
    HostUp = "host.up", "a host answers again";
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of notification a user chooses to get by e-mail (or not): a user's `mail_off`
/// lists the ones they turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// A request waits on my decision.
    Approvals,
    /// What became of my requests.
    Requests,
    /// My deployments' leases.
    Leases,
    /// Hosts down and back (admins).
    Hosts,
}

impl MailKind {
    pub const ALL: &'static [MailKind] = &[MailKind::Approvals, MailKind::Requests, MailKind::Leases, MailKind::Hosts];

    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Approvals => "approvals",
            MailKind::Requests => "requests",
            MailKind::Leases => "leases",
            MailKind::Hosts => "hosts",
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            MailKind::Approvals => "requests that wait on my approval",
            MailKind::Requests => "what became of my requests (approved, rejected, done, failed, cancelled, timed out)",
            MailKind::Leases => "my deployments' leases: warnings, ends and destruction",
            MailKind::Hosts => "hosts that stop answering or answer again (admins)",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == raw.trim())
    }

    pub fn of(kind: EventType) -> Self {
        match kind {
            EventType::RequestPending => MailKind::Approvals,
            EventType::RequestSubmitted
            | EventType::RequestApproved
            | EventType::RequestRejected
            | EventType::RequestSucceeded
            | EventType::RequestFailed
            | EventType::RequestCancelled => MailKind::Requests,
            EventType::LeaseWarning | EventType::LeaseExpired | EventType::DeploymentDestroyed => MailKind::Leases,
            EventType::HostDown | EventType::HostUp => MailKind::Hosts,
        }
    }

    /// Whether a user whose `mail_off` is `off` wants this kind by mail.
    pub fn wanted(self, off: &str) -> bool {
        !off.split(',').any(|k| k.trim() == self.as_str())
    }

    /// `mail_off` for the kinds that are not `on`.
    pub fn off_list(on: &[MailKind]) -> String {
        Self::ALL.iter().filter(|k| !on.contains(k)).map(|k| k.as_str()).collect::<Vec<_>>().join(",")
    }
}

/// A webhook's subscription: event types, or `*` for all.
pub fn subscribes(events: &[String], kind: EventType) -> bool {
    events.iter().any(|e| e == "*" || e == kind.as_str())
}

/// The hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`: what `X-Wharf-Signature`
/// carries after `sha256=`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// How long a delivery that failed `attempts` times waits before its next try: `base` doubled
/// each time, at most an hour.
pub fn backoff(base: Duration, attempts: u32) -> Duration {
    let factor = 1u32.checked_shl(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_read_back_and_say_what_they_are() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Ok(*t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        let e = EventType::parse("request.exploded").unwrap_err();
        assert!(e.contains("request.exploded") && e.contains("host.up"), "{e}");
        assert!(subscribes(&["*".into()], EventType::HostUp));
        assert!(subscribes(&["host.up".into()], EventType::HostUp));
        assert!(!subscribes(&["host.down".into()], EventType::HostUp));
    }

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 test case 2 ("Jefe" / "what do ya want for nothing?"), as "timestamp.body".
        let sig = sign(b"Jefe", 0, b"what do ya want for nothing?");
        assert_eq!(sig.len(), 64);
        assert_ne!(sig, sign(b"Jefe", 1, b"what do ya want for nothing?"), "the timestamp is signed");
        assert_ne!(sig, sign(b"jefe", 0, b"what do ya want for nothing?"), "the key matters");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"5.{}");
        assert_eq!(sign(b"key", 5, b"{}"), hex::encode(mac.finalize().into_bytes()));
    }

    #[test]
    fn mail_preferences_read_back() {
        assert!(MailKind::Leases.wanted(""));
        let off = MailKind::off_list(&[MailKind::Approvals, MailKind::Hosts]);
        assert_eq!(off, "requests,leases");
        assert!(!MailKind::of(EventType::LeaseWarning).wanted(&off));
        assert!(MailKind::of(EventType::RequestPending).wanted(&off));
        for k in MailKind::ALL {
            assert_eq!(MailKind::parse(k.as_str()), Some(*k));
        }
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::from_secs(2);
        assert_eq!(backoff(base, 1), Duration::from_secs(2));
        assert_eq!(backoff(base, 2), Duration::from_secs(4));
        assert_eq!(backoff(base, 4), Duration::from_secs(16));
        assert_eq!(backoff(base, 40), Duration::from_secs(3600));
    }
}
