//! Settings: defaults -> `wharf.toml` (optional) -> `WHARF_*` environment (`__` nests) -> CLI flags.
//! Parsed once at start-up into typed values; a bad value stops start-up with a message naming the key.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::magic::RelativePathBuf;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::domain::Secret;

/// The environment variables the test harness uses; they are not configuration keys.
const ENV_IGNORED_PREFIX: &str = "test_";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration key `{key}`: {message}")]
    BadValue { key: &'static str, message: String },
}

/// Values given on the command line; they win over every other source.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(default = "default_bind")]
    bind: String,
    #[serde(default = "default_database_url")]
    database_url: String,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default = "default_catalog_dir")]
    catalog_dir: RelativePathBuf,
    #[serde(default)]
    workers: Option<usize>,
    #[serde(default = "default_log")]
    log: String,
    #[serde(default)]
    admin_password: Option<Secret>,
    #[serde(default)]
    session: SessionSettings,
    #[serde(default)]
    login: LoginSettings,
    #[serde(default = "default_api_token_days")]
    api_token_days: u32,
    #[serde(default)]
    engine: EngineSettings,
    #[serde(default)]
    lease: LeaseSettings,
    #[serde(default)]
    console: ConsoleSettings,
    #[serde(default)]
    notify: NotifySettings,
    #[serde(default)]
    smtp: RawSmtp,
    #[serde(default)]
    hosts: HostSettings,
    #[serde(default)]
    oidc: OidcSettings,
    #[serde(default)]
    trusted_proxies: OneOrMany,
    #[serde(default = "default_secret_key_file")]
    secret_key_file: RelativePathBuf,
    #[serde(default)]
    audit: AuditSettings,
    #[serde(default)]
    metrics: MetricsSettings,
    #[serde(default)]
    drain_secs: u32,
    #[serde(default)]
    limits: LimitSettings,
    #[serde(default)]
    default_quota: DefaultQuota,
}

/// What a component gets when its blueprint does not say.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    pub default_memory_mb: i64,
    pub default_cpus: f64,
    /// Processes per container.
    pub pids: i64,
    /// Capabilities every container keeps; all others are dropped (a trusted blueprint adds
    /// more with `cap_add`).
    pub capabilities: Vec<String>,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let d = crate::domain::blueprint::resolve::Defaults::default();
        Self { default_memory_mb: d.memory_mb, default_cpus: d.cpus, pids: d.pids, capabilities: d.capabilities }
    }
}

impl LimitSettings {
    pub fn defaults(&self) -> crate::domain::blueprint::resolve::Defaults {
        crate::domain::blueprint::resolve::Defaults {
            memory_mb: self.default_memory_mb,
            cpus: self.default_cpus,
            pids: self.pids,
            capabilities: self.capabilities.clone(),
        }
    }
}

/// The quota of a group that has none of its own (unset: unlimited).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefaultQuota {
    pub max_containers: Option<i64>,
    pub max_memory_mb: Option<i64>,
    pub max_cpus: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeaseSettings {
    /// Days before a lease ends at which its owner is warned, each once.
    pub warn_days: Vec<u32>,
    /// Seconds between two looks of the lease loop at every lease.
    pub check_interval_secs: u32,
    /// An expired deployment whose containers run again (or whose stop failed) is stopped
    /// again, at most this often (seconds after its last job).
    pub stop_again_secs: u32,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self { warn_days: vec![3, 1], check_interval_secs: 5, stop_again_secs: 30 }
    }
}

/// Notifications and their delivery.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// The pause after a delivery's first failed try; it doubles with each try (at most an hour).
    pub retry_base_secs: u32,
    /// Tries before a message is dead-lettered (kept for admins, who can retry it).
    pub max_attempts: u32,
    /// Lease warnings, expiries and destructions also notify the group's managers.
    pub lease_managers: bool,
    /// How long a sender holds a message it took: a sender that died leaves it to another after
    /// this. One delivery is given at most half of it (and 10 s for a webhook, 20 s for mail).
    pub lease_secs: u32,
    /// Delivered (or skipped) messages and read notifications are removed after this many days.
    pub keep_days: u32,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self { retry_base_secs: 10, max_attempts: 8, lease_managers: true, lease_secs: 60, keep_days: 30 }
    }
}

/// `[smtp]` as written; `SmtpSettings` once checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSmtp {
    url: Option<String>,
    from: Option<String>,
    username: Option<String>,
    password: Option<Secret>,
    ca_file: Option<RelativePathBuf>,
}

/// How an SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtp://`: no TLS (a relay on the same machine or network).
    None,
    /// `smtp://…?tls=starttls`: STARTTLS, required.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Tls,
}

/// E-mail over SMTP (`[smtp]`); e-mail is off without `url`. Printed without its password.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// The `From:` of every message, as checked (`Name <address>` or an address).
    pub from: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// A PEM file of CA certificates trusted for the server's TLS, beside the public roots (a
    /// relay with an internal CA).
    pub ca_file: Option<PathBuf>,
}

impl SmtpSettings {
    fn parse(raw: RawSmtp) -> Result<Option<Self>, ConfigError> {
        let bad = |key: &'static str, message: String| ConfigError::BadValue { key, message };
        let Some(text) = raw.url.filter(|u| !u.trim().is_empty()) else {
            if raw.from.is_some() || raw.username.is_some() || raw.password.is_some() || raw.ca_file.is_some() {
                return Err(bad(
                    "smtp.url",
                    "is needed when other [smtp] keys are set (for example \"smtp://mail.example:587?tls=starttls\")".into(),
                ));
            }
            return Ok(None);
        };
        // Repeated in errors without what may be a password (`smtp://user:secret@host`).
        let shown = match (text.find("://"), text.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => format!("{}://…{}", &text[..scheme], &text[at..]),
            _ => text.clone(),
        };
        let url = Url::parse(text.trim()).map_err(|e| bad("smtp.url", format!("`{shown}` is not a URL: {e}")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("smtp.url", "must not carry a user or password: use smtp.username and smtp.password".into()));
        }
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("smtp.url", format!("`{shown}` names no host")))?;
        let mut tls = match url.scheme() {
            "smtp" => SmtpTls::None,
            "smtps" => SmtpTls::Tls,
            other => return Err(bad("smtp.url", format!("`{other}://` is not an SMTP scheme: use smtp:// or smtps://"))),
        };
        for (k, v) in url.query_pairs() {
            match (k.as_ref(), v.as_ref(), tls) {
                ("tls", "starttls" | "required", SmtpTls::None) => tls = SmtpTls::StartTls,
                ("tls", "none", SmtpTls::None) => {}
                ("tls", _, SmtpTls::Tls) => return Err(bad("smtp.url", "smtps:// is TLS already; `tls=` goes with smtp://".into())),
                ("tls", other, _) => return Err(bad("smtp.url", format!("`tls={other}`: use tls=starttls or tls=none"))),
                (other, _, _) => return Err(bad("smtp.url", format!("`{other}` is not a setting of the URL; only `tls` is"))),
            }
        }
        let port = url.port().unwrap_or(match tls {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        });
        let from = raw.from.map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).ok_or_else(|| {
            bad("smtp.from", "is needed with smtp.url: the sender of Wharf's mail, for example \"Wharf <wharf@example.com>\"".into())
        })?;
        from.parse::<lettre::message::Mailbox>()
            .map_err(|e| bad("smtp.from", format!("`{from}` is not a mail address (`Name <user@host>` or `user@host`): {e}")))?;
        let username = raw.username.map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
        if raw.password.is_some() && username.is_none() {
            return Err(bad("smtp.password", "needs smtp.username".into()));
        }
        let loopback = host == "localhost" || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if username.is_some() && tls == SmtpTls::None && !loopback {
            return Err(bad(
                "smtp.url",
                format!("`{shown}` has no TLS, so the password would cross the network in clear: use ?tls=starttls or smtps://"),
            ));
        }
        let ca_file = raw.ca_file.map(|f| f.relative());
        if ca_file.is_some() && tls == SmtpTls::None {
            return Err(bad("smtp.ca_file", "goes with TLS: use ?tls=starttls or smtps:// in smtp.url".into()));
        }
        Ok(Some(Self { host: host.to_string(), port, tls, from, username, password: raw.password, ca_file }))
    }
}

/// The web console, log followers and live stats.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// A console session that neither side has used for this long is closed.
    pub idle_timeout_secs: u32,
    /// Console sessions one user may hold open at once (per replica).
    pub max_sessions_per_user: u32,
    /// Every console session keeps a transcript, whatever its catalog item says.
    pub record_all: bool,
    /// The most of a session's output a transcript keeps (the rest is counted, not kept).
    pub record_max_bytes: u32,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self { idle_timeout_secs: 900, max_sessions_per_user: 3, record_all: false, record_max_bytes: 1024 * 1024 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Audit entries older than this many days are removed (0 keeps them for ever).
    pub retention_days: u32,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self { retention_days: 365 }
    }
}

/// A list that may also be written as one comma-separated string (`WHARF_TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl Default for OneOrMany {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

impl OneOrMany {
    fn items(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// `/metrics`: besides an admin's API token, a scrape token for Prometheus (`None`: admins only).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    pub token: Option<Secret>,
}

/// An address or a network in CIDR form (`10.0.0.0/8`, `::1`), for `trusted_proxies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (a, p) = raw.trim().split_once('/').map_or((raw.trim(), None), |(a, p)| (a, Some(p)));
        let addr: std::net::IpAddr = a.parse().map_err(|_| format!("`{raw}` is not an IP address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("`{raw}`: the prefix must be 0 to {max}"))?,
        };
        Ok(Self { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        let (a, b, bits) = match (self.addr, ip) {
            (std::net::IpAddr::V4(a), std::net::IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
            (std::net::IpAddr::V6(a), std::net::IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || (a >> shift) == (b >> shift)
    }
}

fn default_bind() -> String {
    "127.0.0.1:8080".into()
}
fn default_database_url() -> String {
    "sqlite://wharf.db?mode=rwc".into()
}
fn default_catalog_dir() -> RelativePathBuf {
    RelativePathBuf::from(PathBuf::from("./catalog"))
}
fn default_secret_key_file() -> RelativePathBuf {
    RelativePathBuf::from(PathBuf::from("./wharf.key"))
}
fn default_log() -> String {
    "info".into()
}
fn default_api_token_days() -> u32 {
    30
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    /// How long a browser session lasts, in hours.
    pub hours: u32,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self { hours: 12 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginSettings {
    /// Failed logins for one user name before it is locked for `lockout_minutes`.
    pub max_failures: u32,
    /// Failed logins from one address before it is locked for `lockout_minutes`.
    pub max_failures_per_address: u32,
    pub lockout_minutes: u32,
    /// Password checks run at once by this process (each holds 19 MiB); more get 429 at once.
    pub max_concurrent_checks: u32,
}

impl Default for LoginSettings {
    fn default() -> Self {
        Self { max_failures: 5, max_failures_per_address: 20, lockout_minutes: 15, max_concurrent_checks: 8 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// Provisioning jobs run at once by this process.
    pub workers: usize,
    /// How long a claimed job stays claimed without a heartbeat; after that another worker
    /// (or another replica) takes it over.
    pub lease_secs: u32,
    /// How long to wait for a component's health check to pass.
    pub health_timeout_secs: u32,
    /// How long one call to a Docker engine may take before the step fails.
    pub step_timeout_secs: u32,
    /// How long one image pull may take.
    pub pull_timeout_secs: u32,
    /// The pause after a failed pull that may pass on another try (the engine or the registry
    /// did not answer); it doubles with each of the three retries.
    pub pull_retry_ms: u32,
    /// How long a container being stopped has to exit after SIGTERM before it is killed.
    pub stop_timeout_secs: u32,
    /// How long a whole job may take.
    pub job_timeout_secs: u32,
    /// How often the reconciler looks for deployments left without a job.
    pub reconcile_interval_secs: u32,
    /// How often the collector looks for orphaned containers, networks and volumes.
    pub collect_interval_secs: u32,
    /// How long an orphaned object is left before the collector removes it.
    pub orphan_grace_secs: u32,
    /// How long a stopping process lets its running jobs finish before it gives them back.
    pub shutdown_grace_secs: u32,
    /// Deployment networks kept ready on each host that is up (`engine::netpool`), so that a
    /// deployment's network is claimed, not created, while its requester waits; 0 turns the
    /// pool off.
    pub network_pool: u32,
    /// A finished destruction also tells the group's managers (`notify.lease_managers`; not
    /// a key of `[engine]`).
    #[serde(skip)]
    pub notify_managers: bool,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            workers: 4,
            lease_secs: 15,
            health_timeout_secs: 120,
            step_timeout_secs: 120,
            pull_timeout_secs: 900,
            pull_retry_ms: 2000,
            stop_timeout_secs: 10,
            job_timeout_secs: 1800,
            reconcile_interval_secs: 10,
            collect_interval_secs: 30,
            orphan_grace_secs: 120,
            shutdown_grace_secs: 10,
            network_pool: 2,
            notify_managers: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostSettings {
    /// Seconds between two health checks of each host.
    pub health_interval_secs: u32,
    /// Consecutive failed checks before a host is marked down (one slow answer is not enough).
    pub down_after: u32,
    /// Register the local Docker socket as host `local` at start-up when no host exists.
    pub register_local: bool,
    pub local_socket: PathBuf,
    /// Accept engines on plain `tcp://` without TLS (marked insecure wherever they show).
    pub allow_insecure_tcp: bool,
}

impl Default for HostSettings {
    fn default() -> Self {
        Self {
            health_interval_secs: 3,
            down_after: 3,
            register_local: true,
            local_socket: PathBuf::from("/var/run/docker.sock"),
            allow_insecure_tcp: true,
        }
    }
}

/// One rule of `[[oidc.group_map]]`: a value of the groups claim gives a role in a group.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GroupMapping {
    pub claim_value: String,
    pub group: String,
    pub role: crate::domain::Role,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcSettings {
    /// The provider's issuer URL; OpenID Connect is off without it.
    pub issuer: Option<String>,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub scopes: Vec<String>,
    /// The claim (in the ID token) that lists the user's groups.
    pub groups_claim: String,
    pub group_map: Vec<GroupMapping>,
    /// Values of the groups claim that make a user an admin.
    pub admin_values: Vec<String>,
    /// The text of the login page's button.
    pub button_label: String,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            issuer: None,
            client_id: "wharf".into(),
            client_secret: None,
            scopes: vec!["openid".into(), "profile".into(), "email".into(), "groups".into()],
            groups_claim: "groups".into(),
            group_map: Vec::new(),
            admin_values: Vec::new(),
            button_label: "Log in with single sign-on".into(),
        }
    }
}

/// Which database the URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

/// A database URL; printed (`Display`, `Debug`) with its password masked.
#[derive(Clone)]
pub struct DatabaseUrl {
    url: String,
    kind: DatabaseKind,
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let kind = if raw.starts_with("sqlite:") {
            DatabaseKind::Sqlite
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            DatabaseKind::Postgres
        } else {
            return Err(format!("`{}` is not a database URL Wharf can use: it must start with sqlite:// or postgres://", redact_url(raw)));
        };
        Ok(Self { url: raw.to_string(), kind })
    }
    pub fn kind(&self) -> DatabaseKind {
        self.kind
    }
    pub fn expose(&self) -> &str {
        &self.url
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseUrl").field("url", &redact_url(&self.url)).field("kind", &self.kind).finish()
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.url))
    }
}

/// Hides the password of a URL (`postgres://user:secret@host` -> `postgres://user:********@host`).
fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some(crate::domain::secret::MASK));
            u.to_string()
        }
        _ => raw.to_string(),
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub database_url: DatabaseUrl,
    pub base_url: Option<Url>,
    pub catalog_dir: PathBuf,
    pub workers: usize,
    pub log: String,
    pub admin_password: Option<Secret>,
    pub session: SessionSettings,
    pub login: LoginSettings,
    pub api_token_days: u32,
    pub engine: EngineSettings,
    pub lease: LeaseSettings,
    pub console: ConsoleSettings,
    pub notify: NotifySettings,
    /// E-mail; `None`: off.
    pub smtp: Option<SmtpSettings>,
    pub hosts: HostSettings,
    pub oidc: OidcSettings,
    /// Proxies whose `X-Forwarded-For` is believed (for the client address of throttling and
    /// the audit log); from anyone else the header is ignored.
    pub trusted_proxies: Vec<IpNet>,
    pub audit: AuditSettings,
    pub metrics: MetricsSettings,
    /// On SIGTERM, how long `/readyz` answers 503 (draining) before the server stops taking
    /// requests, so that a load balancer stops sending first.
    pub drain_secs: u32,
    /// The key that seals secrets at rest (created 0600 at the first start; the same on every replica).
    pub secret_key_file: PathBuf,
    pub limits: LimitSettings,
    pub default_quota: DefaultQuota,
}

impl Settings {
    /// Loads the layers. `file` is the `--config` flag: when given, it must exist; otherwise
    /// `wharf.toml` in the current directory is read if present.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        match file {
            Some(path) if !path.is_file() => return Err(ConfigError::MissingFile(path.into())),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("wharf.toml").is_file() => figment = figment.merge(Toml::file_exact("wharf.toml")),
            None => {}
        }
        figment = figment
            .merge(Env::prefixed("WHARF_").split("__").filter(|key| !key.as_str().to_ascii_lowercase().starts_with(ENV_IGNORED_PREFIX)))
            .merge(Serialized::defaults(overrides));
        Self::from_figment(figment)
    }

    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let raw: RawSettings = figment.extract().map_err(|e| ConfigError::Invalid(describe(e)))?;
        raw.try_into()
    }

    /// Session cookies get the `Secure` flag when Wharf is reached over https.
    pub fn secure_cookies(&self) -> bool {
        self.base_url.as_ref().is_some_and(|u| u.scheme() == "https")
    }
}

/// figment reports one error per problem; join them into one readable line each.
fn describe(e: figment::Error) -> String {
    e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
}

impl TryFrom<RawSettings> for Settings {
    type Error = ConfigError;

    fn try_from(raw: RawSettings) -> Result<Self, Self::Error> {
        let bind = raw.bind.parse::<SocketAddr>().map_err(|_| ConfigError::BadValue {
            key: "bind",
            message: format!("`{}` is not an address:port such as 127.0.0.1:8080", raw.bind),
        })?;
        let database_url =
            DatabaseUrl::parse(&raw.database_url).map_err(|message| ConfigError::BadValue { key: "database_url", message })?;
        let base_url = match raw.base_url.as_deref() {
            None | Some("") => None,
            Some(s) => {
                let url =
                    Url::parse(s).map_err(|e| ConfigError::BadValue { key: "base_url", message: format!("`{s}` is not a URL: {e}") })?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(ConfigError::BadValue { key: "base_url", message: format!("`{s}` must be an http:// or https:// URL") });
                }
                Some(url)
            }
        };
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&raw.log) {
            return Err(ConfigError::BadValue { key: "log", message: format!("`{}` is not a log filter: {e}", raw.log) });
        }
        let workers = match raw.workers {
            Some(0) => {
                return Err(ConfigError::BadValue { key: "workers", message: "must be at least 1".into() });
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        };
        if raw.session.hours == 0 {
            return Err(ConfigError::BadValue { key: "session.hours", message: "must be at least 1".into() });
        }
        if raw.login.max_failures == 0 || raw.login.max_failures_per_address == 0 || raw.login.max_concurrent_checks == 0 {
            return Err(ConfigError::BadValue { key: "login.max_failures", message: "login limits must be at least 1".into() });
        }
        if raw.engine.workers > 64 {
            return Err(ConfigError::BadValue { key: "engine.workers", message: "must be 0 to 64 (0: this replica runs no job)".into() });
        }
        if raw.engine.workers == 0 && database_url.kind() != DatabaseKind::Postgres {
            return Err(ConfigError::BadValue {
                key: "engine.workers",
                message: "0 (no job runs here) only makes sense beside other replicas, on PostgreSQL: on SQLite no job would ever run"
                    .into(),
            });
        }
        if raw.engine.network_pool > 64 {
            return Err(ConfigError::BadValue { key: "engine.network_pool", message: "must be 0 to 64 (networks per host)".into() });
        }
        // A stop is one call to the engine, which must answer within the step's time (and the
        // client's two minutes) even when it had to kill the container.
        if raw.engine.stop_timeout_secs > 100 || raw.engine.stop_timeout_secs >= raw.engine.step_timeout_secs {
            return Err(ConfigError::BadValue {
                key: "engine.stop_timeout_secs",
                message: "must be 0 to 100, and less than engine.step_timeout_secs".into(),
            });
        }
        if raw.engine.pull_retry_ms > 60_000 {
            return Err(ConfigError::BadValue { key: "engine.pull_retry_ms", message: "must be 0 to 60000".into() });
        }
        if raw.lease.stop_again_secs == 0 {
            return Err(ConfigError::BadValue { key: "lease.stop_again_secs", message: "must be at least 1".into() });
        }
        if raw.engine.lease_secs < 3 {
            return Err(ConfigError::BadValue { key: "engine.lease_secs", message: "must be at least 3".into() });
        }
        let e = &raw.engine;
        for (key, value) in [
            ("engine.health_timeout_secs", e.health_timeout_secs),
            ("engine.step_timeout_secs", e.step_timeout_secs),
            ("engine.pull_timeout_secs", e.pull_timeout_secs),
            ("engine.job_timeout_secs", e.job_timeout_secs),
            ("engine.reconcile_interval_secs", e.reconcile_interval_secs),
            ("engine.collect_interval_secs", e.collect_interval_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::BadValue { key, message: "must be at least 1".into() });
            }
        }
        if raw.hosts.down_after == 0 {
            return Err(ConfigError::BadValue { key: "hosts.down_after", message: "must be at least 1".into() });
        }
        if raw.hosts.health_interval_secs == 0 {
            return Err(ConfigError::BadValue { key: "hosts.health_interval_secs", message: "must be at least 1".into() });
        }
        if let Some(issuer) = raw.oidc.issuer.as_deref() {
            let ok = Url::parse(issuer).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok {
                return Err(ConfigError::BadValue { key: "oidc.issuer", message: format!("`{issuer}` is not an http(s) URL") });
            }
            if raw.oidc.client_id.trim().is_empty() {
                return Err(ConfigError::BadValue { key: "oidc.client_id", message: "must not be empty".into() });
            }
            if !raw.oidc.scopes.iter().any(|s| s == "openid") {
                return Err(ConfigError::BadValue { key: "oidc.scopes", message: "must include openid".into() });
            }
        }
        for m in &raw.oidc.group_map {
            if crate::domain::GroupName::parse(&m.group).is_err() {
                return Err(ConfigError::BadValue { key: "oidc.group_map", message: format!("`{}` is not a group name", m.group) });
            }
        }
        let l = &raw.limits;
        if l.default_memory_mb < 6 || l.default_cpus <= 0.0 || !l.default_cpus.is_finite() || l.pids < 16 {
            return Err(ConfigError::BadValue {
                key: "limits",
                message: "default_memory_mb must be at least 6, default_cpus above 0, pids at least 16".into(),
            });
        }
        if let Some(bad) = l.capabilities.iter().find(|c| c.is_empty() || !c.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_')) {
            return Err(ConfigError::BadValue {
                key: "limits.capabilities",
                message: format!("`{bad}` is not a capability name like NET_BIND_SERVICE"),
            });
        }
        if raw.api_token_days == 0 {
            return Err(ConfigError::BadValue { key: "api_token_days", message: "must be at least 1".into() });
        }
        if !(1..=3600).contains(&raw.lease.check_interval_secs) {
            return Err(ConfigError::BadValue { key: "lease.check_interval_secs", message: "must be 1 to 3600".into() });
        }
        if let Some(bad) = raw.lease.warn_days.iter().find(|d| **d == 0 || **d > 365) {
            return Err(ConfigError::BadValue { key: "lease.warn_days", message: format!("{bad}: each must be 1 to 365 days") });
        }
        if !(5..=86_400).contains(&raw.console.idle_timeout_secs) {
            return Err(ConfigError::BadValue { key: "console.idle_timeout_secs", message: "must be 5 to 86400".into() });
        }
        if !(1..=100).contains(&raw.console.max_sessions_per_user) {
            return Err(ConfigError::BadValue { key: "console.max_sessions_per_user", message: "must be 1 to 100".into() });
        }
        if !(1024..=64 * 1024 * 1024).contains(&raw.console.record_max_bytes) {
            return Err(ConfigError::BadValue { key: "console.record_max_bytes", message: "must be 1024 to 67108864".into() });
        }
        if !(1..=3600).contains(&raw.notify.retry_base_secs) {
            return Err(ConfigError::BadValue { key: "notify.retry_base_secs", message: "must be 1 to 3600".into() });
        }
        if !(1..=3650).contains(&raw.notify.keep_days) {
            return Err(ConfigError::BadValue { key: "notify.keep_days", message: "must be 1 to 3650".into() });
        }
        if !(4..=3600).contains(&raw.notify.lease_secs) {
            return Err(ConfigError::BadValue { key: "notify.lease_secs", message: "must be 4 to 3600".into() });
        }
        if !(1..=50).contains(&raw.notify.max_attempts) {
            return Err(ConfigError::BadValue { key: "notify.max_attempts", message: "must be 1 to 50".into() });
        }
        if raw.drain_secs > 300 {
            return Err(ConfigError::BadValue { key: "drain_secs", message: "must be 0 to 300".into() });
        }
        if raw.metrics.token.as_ref().is_some_and(|t| t.expose().trim().len() < 16) {
            return Err(ConfigError::BadValue {
                key: "metrics.token",
                message: "must be at least 16 characters (it guards the metrics)".into(),
            });
        }
        let smtp = SmtpSettings::parse(raw.smtp)?;
        let trusted_proxies = raw
            .trusted_proxies
            .items()
            .into_iter()
            .flat_map(|s| s.split(','))
            .filter(|s| !s.trim().is_empty())
            .map(IpNet::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| ConfigError::BadValue { key: "trusted_proxies", message })?;
        Ok(Settings {
            bind,
            database_url,
            base_url,
            catalog_dir: raw.catalog_dir.relative(),
            workers,
            log: raw.log,
            admin_password: raw.admin_password,
            session: raw.session,
            login: raw.login,
            api_token_days: raw.api_token_days,
            engine: raw.engine,
            hosts: raw.hosts,
            oidc: raw.oidc,
            trusted_proxies,
            audit: raw.audit,
            metrics: raw.metrics,
            drain_secs: raw.drain_secs,
            lease: raw.lease,
            console: raw.console,
            notify: raw.notify,
            smtp,
            secret_key_file: raw.secret_key_file.relative(),
            limits: raw.limits,
            default_quota: raw.default_quota,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    fn from_toml(toml: &str) -> Result<Settings, ConfigError> {
        Settings::from_figment(Figment::new().merge(Toml::string(toml)))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, failure_persistence: None, ..Default::default() })]

        /// Any configuration text is read or refused with a message (naming the key when one is
        /// at fault); nothing panics.
        #[test]
        fn any_configuration_is_read_or_refused(
            lines in proptest::collection::vec((
                proptest::sample::select(vec!["bind", "database_url", "base_url", "workers", "log", "api_token_days",
                    "secret_key_file", "trusted_proxies", "[login]", "[engine]", "[limits]", "[hosts]", "[oidc]", "[default_quota]",
                    "max_failures", "lease_secs", "default_cpus", "pids", "capabilities", "issuer", "scopes", "down_after"]),
                proptest::sample::select(vec!["0", "1", "-1", "3.5", "\"x\"", "\"127.0.0.1:0\"", "\"sqlite://x?mode=memory\"",
                    "[\"openid\"]", "[\"10.0.0.0/8\", \"nope\"]", "true", "\"https://id.example\"", "[]", "1e309"]),
            ), 0..10)
        ) {
            let text: String = lines.iter().map(|(k, v)| if k.starts_with('[') { format!("{k}\n") } else { format!("{k} = {v}\n") }).collect();
            if let Err(e) = from_toml(&text) {
                proptest::prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn printed_settings_hold_no_secret() {
        let s = from_toml(
            "database_url = \"postgres://wharf:hunter2-db@db/wharf\"\nadmin_password = \"hunter2-admin\"\n[oidc]\nissuer = \"https://id.example\"\nclient_secret = \"hunter2-oidc\"\n",
        )
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://wharf:"), "{shown}");
    }

    #[test]
    fn smtp_settings_are_checked() {
        let s = from_toml("[smtp]\nurl = \"smtp://mail.example:2525?tls=starttls\"\nfrom = \"Wharf <w@example.com>\"\nusername = \"u\"\npassword = \"hunter2-smtp\"\n").unwrap();
        let m = s.smtp.as_ref().unwrap();
        assert_eq!((m.host.as_str(), m.port, m.tls), ("mail.example", 2525, SmtpTls::StartTls));
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(from_toml("[smtp]\nurl = \"smtps://m.example\"\nfrom = \"w@example.com\"").unwrap().smtp.unwrap().port, 465);
        assert!(from_toml("").unwrap().smtp.is_none());
        let err = from_toml("[smtp]\nurl = \"smtp://u:hunter2-url@\"\nfrom = \"w@example.com\"").unwrap_err().to_string();
        assert!(err.contains("smtp.url") && !err.contains("hunter2"), "{err}");
        for (toml, key) in [
            ("[smtp]\nurl = \"http://m\"\nfrom = \"w@example.com\"", "smtp.url"),
            ("[smtp]\nurl = \"smtp://u:p@m\"\nfrom = \"w@example.com\"", "smtp.url"),
            ("[smtp]\nurl = \"smtp://m?tls=maybe\"\nfrom = \"w@example.com\"", "smtp.url"),
            ("[smtp]\nurl = \"smtp://m\"", "smtp.from"),
            ("[smtp]\nurl = \"smtp://m\"\nfrom = \"not an address\"", "smtp.from"),
            ("[smtp]\nurl = \"smtp://m\"\nfrom = \"w@example.com\"\npassword = \"x\"", "smtp.password"),
            ("[smtp]\nfrom = \"w@example.com\"", "smtp.url"),
            ("[smtp]\nurl = \"smtp://m.example\"\nfrom = \"w@example.com\"\nusername = \"u\"\npassword = \"p\"", "smtp.url"),
        ] {
            let err = from_toml(toml).unwrap_err().to_string();
            assert!(err.contains(key), "{toml}: {err}");
        }
    }

    #[test]
    fn defaults_are_sane() {
        let s = from_toml("").unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url.kind(), DatabaseKind::Sqlite);
        assert_eq!(s.catalog_dir, PathBuf::from("./catalog"));
        assert!(!s.secure_cookies());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = from_toml("bnd = \"127.0.0.1:1\"").unwrap_err().to_string();
        assert!(err.contains("bnd"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let err = from_toml("bind = \"nowhere\"").unwrap_err().to_string();
        assert!(err.contains("`bind`") && err.contains("nowhere"), "{err}");
        let err = from_toml("database_url = \"mysql://x\"").unwrap_err().to_string();
        assert!(err.contains("database_url"), "{err}");
        let err = from_toml("[login]\nmax_failures = \"many\"").unwrap_err().to_string();
        assert!(err.contains("max_failures"), "{err}");
        let err = from_toml("base_url = \"ftp://x\"").unwrap_err().to_string();
        assert!(err.contains("base_url"), "{err}");
        for (toml, key) in [
            ("[engine]\nstop_timeout_secs = 101", "engine.stop_timeout_secs"),
            ("[engine]\nstop_timeout_secs = 30\nstep_timeout_secs = 30", "engine.stop_timeout_secs"),
            ("[engine]\npull_retry_ms = 60001", "engine.pull_retry_ms"),
            ("[lease]\nstop_again_secs = 0", "lease.stop_again_secs"),
            ("[metrics]\ntoken = \"short\"", "metrics.token"),
            ("[engine]\nworkers = 0", "engine.workers"),
        ] {
            let err = from_toml(toml).unwrap_err().to_string();
            assert!(err.contains(key), "{toml}: {err}");
        }
        let s = from_toml("[engine]\nstop_timeout_secs = 0\npull_retry_ms = 0").unwrap();
        let one = from_toml("trusted_proxies = \"10.0.0.0/8, 127.0.0.1\"").unwrap();
        assert_eq!(one.trusted_proxies.len(), 2, "one comma-separated string, as an environment variable gives it");
        let m = from_toml("[metrics]\ntoken = \"sixteen-or-more-chars\"").unwrap();
        assert_eq!(m.metrics.token.map(|t| t.expose().to_string()).as_deref(), Some("sixteen-or-more-chars"));
        assert_eq!((s.engine.stop_timeout_secs, s.engine.pull_retry_ms), (0, 0));
    }

    #[test]
    fn later_layers_win_and_https_means_secure_cookies() {
        let fig = Figment::new()
            .merge(Toml::string("bind = \"127.0.0.1:1\"\nbase_url = \"https://wharf.example\""))
            .merge(Serialized::defaults(Overrides { bind: Some("127.0.0.1:2".into()), database_url: None }));
        let s = Settings::from_figment(fig).unwrap();
        assert_eq!(s.bind.port(), 2);
        assert!(s.secure_cookies());
    }

    #[test]
    fn database_password_is_not_displayed() {
        let url = DatabaseUrl::parse("postgres://wharf:hunter2@db:5432/wharf").unwrap();
        assert!(!url.to_string().contains("hunter2"));
    }
}
