//! One connection per registered host, made on first use and dropped when it fails, so the
//! next use connects again.
use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::RwLock;

use crate::docker::{BollardHost, ContainerHost, DockerError, HostEndpoint, TlsMaterial};
use crate::sealing::{Kind, Sealer};
use crate::store::entities::host;

/// A host's connection, with the fingerprint of what it was made from.
type Connection = (String, Arc<dyn ContainerHost>);

#[derive(Clone)]
pub struct HostPool {
    inner: Arc<RwLock<HashMap<i64, Connection>>>,
    /// Opens the hosts' sealed TLS keys (kept in memory only while connecting).
    sealer: Sealer,
}

/// What a connection depends on: a changed endpoint or certificate means a new connection.
fn fingerprint(h: &host::Model) -> String {
    format!(
        "{}|{}|{}|{}",
        h.endpoint,
        h.tls_ca.as_deref().unwrap_or(""),
        h.tls_cert.as_deref().unwrap_or(""),
        h.tls_key.as_deref().map(str::len).unwrap_or(0)
    )
}

/// A host's TLS material, its key opened.
pub fn tls_of(h: &host::Model, sealer: &Sealer) -> Result<Option<TlsMaterial>, DockerError> {
    match (&h.tls_ca, &h.tls_cert, &h.tls_key) {
        (Some(ca), Some(cert), Some(key)) => {
            let key_pem = sealer
                .open(Kind::TlsKey, key)
                .map_err(|e| DockerError::BadEndpoint { endpoint: h.endpoint.clone(), reason: format!("its TLS key: {e}") })?;
            Ok(Some(TlsMaterial { ca_pem: ca.clone(), cert_pem: cert.clone(), key_pem }))
        }
        _ => Ok(None),
    }
}

impl HostPool {
    pub fn new(sealer: Sealer) -> Self {
        Self { inner: Arc::default(), sealer }
    }

    pub async fn get(&self, h: &host::Model) -> Result<Arc<dyn ContainerHost>, DockerError> {
        let fp = fingerprint(h);
        if let Some((known, conn)) = self.inner.read().await.get(&h.id)
            && *known == fp
        {
            return Ok(conn.clone());
        }
        let endpoint = HostEndpoint::parse(&h.endpoint)?;
        let conn: Arc<dyn ContainerHost> = Arc::new(BollardHost::connect_with(endpoint, tls_of(h, &self.sealer)?.as_ref()).await?);
        self.inner.write().await.insert(h.id, (fp, conn.clone()));
        Ok(conn)
    }

    /// Forgets a host's connection (after an error that says it is gone, or its removal).
    pub async fn forget(&self, host_id: i64) {
        self.inner.write().await.remove(&host_id);
    }
}
