//! bollard reads TLS client material from files, on every handshake. Wharf keeps it in the
//! database, so each TLS host gets a private folder (0700, files 0600) for the life of its
//! connection, removed when the connection is dropped.
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use super::TlsMaterial;

pub struct TlsFiles {
    dir: PathBuf,
}

impl TlsFiles {
    pub fn write(material: &TlsMaterial) -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("wharf-tls-{}", uuid::Uuid::new_v4().simple()));
        fs::DirBuilder::new().mode(0o700).create(&dir)?;
        let files = TlsFiles { dir };
        for (name, pem) in [("ca.pem", &material.ca_pem), ("cert.pem", &material.cert_pem), ("key.pem", &material.key_pem)] {
            let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(files.dir.join(name))?;
            f.write_all(pem.as_bytes())?;
        }
        Ok(files)
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}
