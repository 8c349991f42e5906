//! One connection per registered host, made on first use and dropped when it fails, so the
//! next use connects again.
use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::RwLock;

use crate::docker::{BollardHost, ContainerHost, DockerError, HostEndpoint, TlsMaterial};
use crate::store::entities::host;

/// A host's connection, with the fingerprint of what it was made from.
type Connection = (String, Arc<dyn ContainerHost>);

#[derive(Default, Clone)]
pub struct HostPool {
    inner: Arc<RwLock<HashMap<i64, Connection>>>,
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

pub fn tls_of(h: &host::Model) -> Option<TlsMaterial> {
    match (&h.tls_ca, &h.tls_cert, &h.tls_key) {
        (Some(ca), Some(cert), Some(key)) => Some(TlsMaterial { ca_pem: ca.clone(), cert_pem: cert.clone(), key_pem: key.clone() }),
        _ => None,
    }
}

impl HostPool {
    pub async fn get(&self, h: &host::Model) -> Result<Arc<dyn ContainerHost>, DockerError> {
        let fp = fingerprint(h);
        if let Some((known, conn)) = self.inner.read().await.get(&h.id)
            && *known == fp
        {
            return Ok(conn.clone());
        }
        let endpoint = HostEndpoint::parse(&h.endpoint)?;
        let conn: Arc<dyn ContainerHost> = Arc::new(BollardHost::connect_with(endpoint, tls_of(h).as_ref()).await?);
        self.inner.write().await.insert(h.id, (fp, conn.clone()));
        Ok(conn)
    }

    /// Forgets a host's connection (after an error that says it is gone, or its removal).
    pub async fn forget(&self, host_id: i64) {
        self.inner.write().await.remove(&host_id);
    }
}
