use std::fmt;

/// A Docker image reference: `[registry[:port]/]path[:tag][@sha256:digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef(String);

impl ImageRef {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("`{raw}` is not an image reference: {why}");
        if raw.is_empty() || raw.len() > 255 {
            return Err(bad("it must be 1 to 255 characters"));
        }
        let (name_tag, digest) = match raw.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (raw, None),
        };
        if let Some(d) = digest {
            let hex = d.strip_prefix("sha256:").ok_or_else(|| bad("a digest starts with sha256:"))?;
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad("a sha256 digest has 64 hex digits"));
            }
        }
        // A tag follows the last ':' after the last '/'.
        let last_slash = name_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => (&name_tag[..last_slash + i], Some(&name_tag[last_slash + i + 1..])),
            None => (name_tag, None),
        };
        if let Some(t) = tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                && t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !ok {
                return Err(bad("a tag is letters, digits, '_', '.' and '-'"));
            }
        }
        let mut parts: Vec<&str> = name.split('/').collect();
        // A first part with a '.' or ':' (or `localhost`) is a registry host.
        if parts.len() > 1 && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost") {
            let host = parts.remove(0);
            let (h, port) = host.split_once(':').map(|(h, p)| (h, Some(p))).unwrap_or((host, None));
            if h.is_empty() || !h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')) {
                return Err(bad("the registry host is not valid"));
            }
            if port.is_some_and(|p| p.parse::<u16>().is_err()) {
                return Err(bad("the registry port is not a number"));
            }
        }
        for part in &parts {
            let ok = !part.is_empty()
                && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
                && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && part.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
            if !ok {
                return Err(bad("each path part is lower-case letters, digits and '.', '_' or '-' between them"));
            }
        }
        Ok(Self(raw.to_string()))
    }

    /// The reference with `:latest` when it names neither tag nor digest, as Docker does.
    pub fn with_default_tag(&self) -> String {
        let last = self.0.rsplit('/').next().unwrap_or(&self.0);
        if self.0.contains('@') || last.contains(':') { self.0.clone() } else { format!("{}:latest", self.0) }
    }
}

impl AsRef<str> for ImageRef {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_and_bad_references() {
        for ok in [
            "busybox",
            "busybox:1.36",
            "library/nginx:1.25-alpine",
            "registry.example.com:5000/team/app:v2",
            "localhost/x",
            "wharf-test/busybox:latest",
        ] {
            assert!(ImageRef::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Busybox", "busybox:", "bad image", "a//b", "-x", "x@sha256:abc", "reg:port/x"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(ImageRef::parse("busybox").unwrap().with_default_tag(), "busybox:latest");
        assert_eq!(ImageRef::parse("r.io:5000/busybox").unwrap().with_default_tag(), "r.io:5000/busybox:latest");
        assert_eq!(ImageRef::parse("busybox:1").unwrap().with_default_tag(), "busybox:1");
    }
}
