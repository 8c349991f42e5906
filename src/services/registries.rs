//! Private registries: admins register an address with credentials (the password sealed, never
//! shown again, never in the audit log) and an optional CA certificate; hosts pull images from
//! it with those credentials (`engine::provision`). A check asks the registry, from Wharf's own
//! network, whether it answers, is trusted and takes the credentials.
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use serde_json::json;

use crate::domain::Secret;
use crate::domain::registry::RegistryAddress;
use crate::sealing::Kind;
use crate::services::{Context, FieldError, ServiceError, ServiceResult, audit};
use crate::store::entities::registry;

/// How long a check waits for the registry.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Default)]
pub struct RegistryInput {
    pub address: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub ca_pem: Option<String>,
}

/// A registry as admins see it: never its password, only whether one is held.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegistryView {
    pub id: i64,
    /// `host[:port]`, as image names write it.
    pub address: String,
    pub username: Option<String>,
    /// Whether Wharf holds a password (or token) for it; the password itself is never shown.
    pub has_password: bool,
    /// The CA certificate (PEM) that signs its certificate, when it is not a public one.
    pub ca_pem: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn view(r: registry::Model) -> RegistryView {
    RegistryView {
        has_password: r.password.is_some(),
        id: r.id,
        address: r.address,
        username: r.username,
        ca_pem: r.ca_pem,
        created_by: r.created_by,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

struct Checked {
    address: RegistryAddress,
    username: Option<String>,
    password: Option<Secret>,
    ca_pem: Option<String>,
}

fn check_input(input: RegistryInput) -> ServiceResult<Checked> {
    let mut errors = Vec::new();
    let address = RegistryAddress::parse(&input.address).map_err(|e| errors.push(FieldError::new("address", e))).ok();
    let username = input.username.map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
    if let Some(u) = &username
        && (u.chars().count() > 200 || u.chars().any(char::is_control))
    {
        errors.push(FieldError::new("username", "a username is at most 200 characters, without control characters"));
    }
    let password = input.password.filter(|p| !p.expose().is_empty());
    if let Some(p) = &password
        && (p.expose().len() > 4096 || p.expose().chars().any(char::is_control))
    {
        errors.push(FieldError::new("password", "a password or token is at most 4096 characters, without control characters"));
    }
    match (&username, &password) {
        (Some(_), None) => errors.push(FieldError::new("password", "a username needs its password (or token)")),
        (None, Some(_)) => errors.push(FieldError::new("username", "a password needs the username it belongs to")),
        _ => {}
    }
    let ca_pem = input.ca_pem.map(|p| p.trim().to_string()).filter(|p| !p.is_empty());
    if let Some(pem) = &ca_pem
        && let Err(e) = certificates(pem)
    {
        errors.push(FieldError::new("ca_pem", e));
    }
    match address {
        Some(address) if errors.is_empty() => Ok(Checked { address, username, password, ca_pem }),
        _ => Err(ServiceError::Invalid(errors)),
    }
}

/// The certificates of a PEM text; an error says what is wrong with it.
fn certificates(pem: &str) -> Result<Vec<reqwest::Certificate>, String> {
    if pem.len() > 64 * 1024 {
        return Err("at most 64 KiB of PEM".into());
    }
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err("not a PEM certificate: it starts with -----BEGIN CERTIFICATE-----".into());
    }
    let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| format!("not a PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in it".into());
    }
    // reqwest reads the PEM armour only; the certificate inside must parse too.
    let client = certs.iter().cloned().fold(reqwest::Client::builder(), reqwest::ClientBuilder::add_root_certificate);
    client.build().map_err(|e| format!("the certificate does not parse: {}", crate::domain::describe_error(&e)))?;
    Ok(certs)
}

pub async fn create(ctx: &Context, actor: &str, input: RegistryInput) -> ServiceResult<RegistryView> {
    let c = check_input(input)?;
    let txn = crate::store::begin(&ctx.db).await?;
    if registry::Entity::find().filter(registry::Column::Address.eq(c.address.as_str())).one(&txn).await?.is_some() {
        return Err(ServiceError::Conflict(format!("the registry {} is registered", c.address)));
    }
    let now = Utc::now();
    let row = registry::ActiveModel {
        address: Set(c.address.to_string()),
        username: Set(c.username.clone()),
        password: Set(c.password.as_ref().map(|p| ctx.sealer.seal(Kind::RegistryPassword, p.expose()))),
        ca_pem: Set(c.ca_pem.clone()),
        created_by: Set(actor.to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    let row = match row {
        Ok(row) => row,
        // Registered at the same moment by someone else.
        Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {
            return Err(ServiceError::Conflict(format!("the registry {} is registered", c.address)));
        }
        Err(e) => return Err(e.into()),
    };
    // What was registered, never the password.
    audit::record(
        &txn,
        actor,
        "registry.create",
        &format!("registry:{}", row.id),
        json!({"address": row.address, "username": row.username, "password": row.password.is_some(), "ca": row.ca_pem.is_some()}),
    )
    .await?;
    txn.commit().await?;
    Ok(view(row))
}

/// Replaces a registry's credentials and CA certificate (what is given; `None` keeps it). An
/// empty username takes the credentials away.
#[derive(Debug, Clone, Default)]
pub struct RegistryUpdate {
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub ca_pem: Option<String>,
}

pub async fn update(ctx: &Context, actor: &str, id: i64, input: RegistryUpdate) -> ServiceResult<RegistryView> {
    let current = find(ctx, id).await?;
    let given = input.username.map(|u| u.trim().to_string());
    let clearing = given.as_deref().is_some_and(str::is_empty);
    let username = if clearing { None } else { given.or_else(|| current.username.clone()) };
    // An empty password is no password given (a form's empty field).
    let new_password = input.password.filter(|p| !p.expose().is_empty());
    // A new username without a new password: the password held is kept only for the same user.
    let keeps_password = !clearing && new_password.is_none() && username == current.username && current.password.is_some();
    let c = check_input(RegistryInput {
        address: current.address.clone(),
        username: username.clone(),
        password: if keeps_password { Some(Secret::new("(held)")) } else { new_password },
        ca_pem: input.ca_pem.clone().or_else(|| current.ca_pem.clone()),
    })?;
    let txn = crate::store::begin(&ctx.db).await?;
    let mut a: registry::ActiveModel = current.clone().into();
    a.username = Set(c.username.clone());
    if !keeps_password {
        a.password = Set(c.password.as_ref().map(|p| ctx.sealer.seal(Kind::RegistryPassword, p.expose())));
    }
    a.ca_pem = Set(c.ca_pem.clone());
    a.updated_at = Set(Utc::now());
    let row = a.update(&txn).await?;
    audit::record(
        &txn,
        actor,
        "registry.update",
        &format!("registry:{}", row.id),
        json!({"address": row.address, "username": row.username, "password_changed": row.password != current.password, "ca": row.ca_pem.is_some()}),
    )
    .await?;
    txn.commit().await?;
    Ok(view(row))
}

pub async fn list(ctx: &Context) -> ServiceResult<Vec<RegistryView>> {
    Ok(registry::Entity::find().order_by_asc(registry::Column::Address).all(&ctx.db).await?.into_iter().map(view).collect())
}

async fn find(ctx: &Context, id: i64) -> ServiceResult<registry::Model> {
    registry::Entity::find_by_id(id).one(&ctx.db).await?.ok_or_else(|| ServiceError::NotFound(format!("no registry {id}")))
}

pub async fn get(ctx: &Context, id: i64) -> ServiceResult<RegistryView> {
    find(ctx, id).await.map(view)
}

/// Forgets a registry: later pulls from it go without credentials.
pub async fn remove(ctx: &Context, actor: &str, id: i64) -> ServiceResult<()> {
    let r = find(ctx, id).await?;
    let txn = crate::store::begin(&ctx.db).await?;
    registry::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(&txn, actor, "registry.delete", &format!("registry:{id}"), json!({"address": r.address})).await?;
    txn.commit().await?;
    Ok(())
}

/// What a check found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckView {
    /// The registry answered, its certificate is trusted and it took the credentials (or
    /// wants none).
    pub ok: bool,
    /// `authentication`, `untrusted`, `unreachable` or `other` when not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<&'static str>,
    pub message: String,
}

impl CheckView {
    fn ok(message: impl Into<String>) -> Self {
        Self { ok: true, problem: None, message: message.into() }
    }
    fn problem(problem: &'static str, message: impl Into<String>) -> Self {
        Self { ok: false, problem: Some(problem), message: message.into() }
    }
}

/// Asks the registry's API (`/v2/`) over HTTPS, trusting its CA certificate when one is held,
/// with its credentials: Basic, or a token from the realm a Bearer challenge names. Seen from
/// Wharf's network: a host may see the registry differently (its own trust store, routes).
pub async fn check(ctx: &Context, actor: &str, id: i64) -> ServiceResult<CheckView> {
    let r = find(ctx, id).await?;
    let found = match r.password.as_ref().map(|sealed| ctx.sealer.open(Kind::RegistryPassword, sealed)).transpose() {
        Ok(password) => probe(&r, password.map(Secret::new).as_ref()).await,
        Err(e) => CheckView::problem("other", format!("the password held for it cannot be opened: {e}")),
    };
    tracing::info!(registry = %r.address, ok = found.ok, problem = found.problem.unwrap_or(""), "registry checked");
    let txn = crate::store::begin(&ctx.db).await?;
    audit::record(
        &txn,
        actor,
        "registry.check",
        &format!("registry:{id}"),
        json!({"address": r.address, "ok": found.ok, "problem": found.problem}),
    )
    .await?;
    txn.commit().await?;
    Ok(found)
}

async fn probe(r: &registry::Model, password: Option<&Secret>) -> CheckView {
    // No redirects: the check asks the registry it names, nothing it points elsewhere.
    let mut builder = reqwest::Client::builder().timeout(CHECK_TIMEOUT).no_proxy().redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = &r.ca_pem {
        match certificates(pem) {
            Ok(certs) => {
                for c in certs {
                    builder = builder.add_root_certificate(c);
                }
            }
            Err(e) => return CheckView::problem("other", format!("the CA certificate held for it: {e}")),
        }
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => return CheckView::problem("other", crate::domain::describe_error(&e)),
    };
    let base = format!("https://{}/v2/", r.address);
    let first = match client.get(&base).send().await {
        Ok(a) => a,
        Err(e) => return failed_request(&r.address, r.ca_pem.is_some(), &e),
    };
    let status = first.status();
    if status.is_success() {
        return CheckView::ok(match &r.username {
            Some(_) => format!("the registry {} answers and asks for no credentials", r.address),
            None => format!("the registry {} answers, trusted, and asks for no credentials", r.address),
        });
    }
    if status != reqwest::StatusCode::UNAUTHORIZED {
        return CheckView::problem("other", format!("the registry {} answered {status} to /v2/ (is it a Docker registry?)", r.address));
    }
    let (Some(username), Some(password)) = (&r.username, password) else {
        return CheckView::problem(
            "authentication",
            format!(
                "the registry {} wants credentials (authentication required) and none are registered: add a username and password",
                r.address
            ),
        );
    };
    let challenge = first.headers().get(reqwest::header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let answer = if challenge.to_ascii_lowercase().starts_with("bearer") {
        let params = challenge_params(&challenge);
        let Some(realm) = params.iter().find(|(k, _)| k == "realm").map(|(_, v)| v.clone()) else {
            return CheckView::problem("other", format!("the registry {} asked for a token without saying where to get one", r.address));
        };
        let mut url = match url::Url::parse(&realm) {
            Ok(u) if u.scheme() == "https" => u,
            _ => return CheckView::problem("other", format!("the registry {}'s token service is not an https:// URL", r.address)),
        };
        {
            let mut q = url.query_pairs_mut();
            if let Some((_, service)) = params.iter().find(|(k, _)| k == "service") {
                q.append_pair("service", service);
            }
            q.append_pair("account", username);
        }
        client.get(url).basic_auth(username, Some(password.expose())).send().await
    } else {
        client.get(&base).basic_auth(username, Some(password.expose())).send().await
    };
    match answer {
        Ok(a) if a.status().is_success() => {
            CheckView::ok(format!("the registry {} answers, is trusted and takes the credentials of `{username}`", r.address))
        }
        Ok(a) if matches!(a.status().as_u16(), 401 | 403) => CheckView::problem(
            "authentication",
            format!(
                "the registry {} refused the credentials of `{username}` (authentication failed): check the username and password",
                r.address
            ),
        ),
        Ok(a) => CheckView::problem("other", format!("the registry {} answered {} to the credentials", r.address, a.status())),
        Err(e) => failed_request(&r.address, r.ca_pem.is_some(), &e),
    }
}

/// `key="value"` pairs of a `WWW-Authenticate` challenge.
fn challenge_params(challenge: &str) -> Vec<(String, String)> {
    let rest = challenge.split_once(' ').map_or("", |(_, r)| r);
    let mut out = Vec::new();
    for part in rest.split(',') {
        if let Some((k, v)) = part.split_once('=') {
            out.push((k.trim().to_ascii_lowercase(), v.trim().trim_matches('"').to_string()));
        }
    }
    out
}

fn failed_request(address: &str, has_ca: bool, e: &reqwest::Error) -> CheckView {
    let told = crate::domain::describe_error(e);
    let lower = told.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") || lower.contains("invalid peer") {
        let hint = if has_ca { "the CA certificate held for it does not sign its certificate" } else { "add its CA certificate" };
        CheckView::problem("untrusted", format!("the certificate of the registry {address} is not trusted ({hint}): {told}"))
    } else if e.is_timeout() {
        CheckView::problem(
            "unreachable",
            format!("the registry {address} did not answer within {} s (unreachable)", CHECK_TIMEOUT.as_secs()),
        )
    } else if e.is_connect() {
        CheckView::problem("unreachable", format!("the registry {address} could not be reached (unreachable): {told}"))
    } else {
        CheckView::problem("other", format!("the registry {address}: {told}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_checked_field_by_field() {
        let bad = |input: RegistryInput| match check_input(input) {
            Err(ServiceError::Invalid(e)) => e.into_iter().map(|f| f.field).collect::<Vec<_>>(),
            _ => panic!("accepted"),
        };
        assert_eq!(bad(RegistryInput { address: "http://r.local".into(), ..Default::default() }), vec!["address"]);
        assert_eq!(bad(RegistryInput { address: "r.local".into(), username: Some("u".into()), ..Default::default() }), vec!["password"]);
        assert_eq!(
            bad(RegistryInput { address: "r.local".into(), password: Some(Secret::new("p")), ..Default::default() }),
            vec!["username"]
        );
        assert_eq!(bad(RegistryInput { address: "r.local".into(), ca_pem: Some("hello".into()), ..Default::default() }), vec!["ca_pem"]);
        let ok = check_input(RegistryInput { address: "https://R.local:5000/".into(), ..Default::default() }).ok().unwrap();
        assert_eq!(ok.address.as_str(), "r.local:5000");
    }

    #[test]
    fn bearer_challenges_are_read() {
        let p = challenge_params(r#"Bearer realm="https://auth.example/token",service="registry.example",scope="x""#);
        assert_eq!(p[0], ("realm".to_string(), "https://auth.example/token".to_string()));
        assert_eq!(p[1], ("service".to_string(), "registry.example".to_string()));
    }
}
