//! TLS to Docker engines from material held in memory: the CA, the client certificate and its
//! key are parsed from their PEM text when a connection is made; nothing is written to disk
//! (bollard's own TLS reads files on every handshake).
use std::sync::Arc;

use bollard::{API_DEFAULT_VERSION, BollardRequest, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsMaterial;

/// A rustls client configuration that trusts only `m`'s CA and presents `m`'s certificate.
fn client_config(m: &TlsMaterial) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(m.ca_pem.as_bytes()) {
        roots.add(cert.map_err(|e| format!("the CA certificate: {e}"))?).map_err(|e| format!("the CA certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("the CA certificate: no certificate in it".into());
    }
    let certs = CertificateDer::pem_slice_iter(m.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the client certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(m.key_pem.as_bytes()).map_err(|e| format!("the client key: {e}"))?;
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| format!("the client certificate and key: {e}"))
}

/// A Docker client for `https://host:port` with `m`.
pub fn connect(host: &str, port: u16, m: &TlsMaterial, timeout_secs: u64) -> Result<Docker, String> {
    let config = client_config(m)?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnector::from((http, config));
    let client = Arc::new(Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build(https));
    Docker::connect_with_custom_transport(
        move |req: BollardRequest| {
            let client = Arc::clone(&client);
            async move { client.request(req).await.map_err(bollard::errors::Error::from) }
        },
        Some(format!("https://{host}:{port}")),
        timeout_secs,
        API_DEFAULT_VERSION,
    )
    .map_err(|e| e.to_string())
}
