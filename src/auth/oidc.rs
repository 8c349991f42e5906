//! OpenID Connect login: authorization code flow with PKCE, state and nonce. The ID token's
//! signature, issuer, audience, expiry and nonce are checked by openidconnect; the groups claim
//! is then read from the verified token.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};

use crate::config::OidcSettings;

type Client = CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("cannot reach the OpenID provider at {issuer}: {message}")]
    Discovery { issuer: String, message: String },
    #[error("OpenID Connect is misconfigured: {0}")]
    Config(String),
    #[error("the provider refused the login code: {0}")]
    Exchange(String),
    #[error("the provider's answer has no ID token")]
    NoIdToken,
    #[error("the ID token is not valid for Wharf: {0}")]
    InvalidToken(String),
}

/// What Wharf learns of a user from a verified ID token.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `issuer|sub`: stable across renames.
    pub subject: String,
    pub username: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub groups: Vec<String>,
}

/// What the browser keeps (in a signed cookie) between the redirect and the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub next: String,
}

pub struct Oidc {
    client: Client,
    http: openidconnect::reqwest::Client,
    issuer: String,
    settings: OidcSettings,
}

impl Oidc {
    /// Discovers the provider (its metadata and keys). Fails at start-up when it is unreachable.
    pub async fn discover(settings: &OidcSettings, redirect: &str) -> Result<Self, OidcError> {
        let issuer = settings.issuer.clone().ok_or_else(|| OidcError::Config("oidc.issuer is not set".into()))?;
        let http = openidconnect::reqwest::ClientBuilder::new()
            // Following redirects would open the door to SSRF through the provider's answers.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| OidcError::Config(e.to_string()))?;
        let issuer_url = IssuerUrl::new(issuer.clone()).map_err(|e| OidcError::Config(format!("oidc.issuer: {e}")))?;
        let metadata = CoreProviderMetadata::discover_async(issuer_url, &http)
            .await
            .map_err(|e| OidcError::Discovery { issuer: issuer.clone(), message: chain(&e) })?;
        let secret = settings.client_secret.as_ref().map(|s| ClientSecret::new(s.expose().to_string()));
        let redirect = RedirectUrl::new(redirect.to_string()).map_err(|e| OidcError::Config(format!("redirect URL: {e}")))?;
        let client =
            CoreClient::from_provider_metadata(metadata, ClientId::new(settings.client_id.clone()), secret).set_redirect_uri(redirect);
        Ok(Self { client, http, issuer, settings: settings.clone() })
    }

    pub fn button_label(&self) -> &str {
        &self.settings.button_label
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// The provider URL to send the browser to, and what to keep until it comes back.
    pub fn start(&self, next: &str) -> (String, Pending) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self.client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
        for scope in self.settings.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            next: next.to_string(),
        };
        (url.to_string(), pending)
    }

    /// Exchanges the code (with the PKCE verifier) and verifies the ID token.
    pub async fn finish(&self, code: &str, pending: &Pending) -> Result<Identity, OidcError> {
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::Config(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::Exchange(chain(&e)))?;
        let id_token = response.id_token().ok_or(OidcError::NoIdToken)?;
        self.verify(id_token, &pending.nonce)
    }

    /// Verifies a compact ID token (signature, issuer, audience, expiry, nonce).
    pub fn verify_compact(&self, token: &str, nonce: &str) -> Result<Identity, OidcError> {
        let parsed: CoreIdToken = token.parse().map_err(|e: serde_json::Error| OidcError::InvalidToken(e.to_string()))?;
        self.verify(&parsed, nonce)
    }

    fn verify(&self, id_token: &CoreIdToken, nonce: &str) -> Result<Identity, OidcError> {
        let verifier = self.client.id_token_verifier();
        let claims = id_token.claims(&verifier, &Nonce::new(nonce.to_string())).map_err(|e| OidcError::InvalidToken(chain(&e)))?;
        // The token is verified: its payload can be read for the groups claim.
        let payload = id_token
            .to_string()
            .split('.')
            .nth(1)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .unwrap_or_default();
        let groups = match &payload[&self.settings.groups_claim] {
            serde_json::Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            serde_json::Value::String(one) => vec![one.clone()],
            _ => Vec::new(),
        };
        let sub = claims.subject().as_str().to_string();
        let username = claims.preferred_username().map(|u| u.as_str().to_string()).unwrap_or_else(|| sub.clone());
        Ok(Identity {
            subject: format!("{}|{sub}", self.issuer),
            username,
            name: claims.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_string()),
            email: claims.email().map(|e| e.as_str().to_string()),
            groups,
        })
    }
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        source = s.source();
    }
    out
}
