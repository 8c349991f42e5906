//! Image registries: which registry an image comes from, the allow-lists catalog items set on
//! images (`registry.local:5000/team-a/*`), and a failed pull told in words a developer can act
//! on. No I/O.
use std::fmt;

/// Docker Hub, where an image whose name has no registry part comes from.
pub const DOCKER_HUB: &str = "docker.io";

/// A registry's address as Docker writes it in an image name: `host[:port]`, lower case, with
/// no scheme and no path (`registry.local:5000`, `10.1.2.3:5000`, `docker.io`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegistryAddress(String);

impl RegistryAddress {
    /// Accepts what an admin may paste: `https://registry.local:5000/` becomes
    /// `registry.local:5000`; Docker Hub's other names become `docker.io`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut s = raw.trim();
        if let Some(rest) = s.strip_prefix("https://") {
            s = rest;
        } else if s.starts_with("http://") {
            return Err("a registry is reached over HTTPS: plain http:// is not accepted".into());
        } else if s.contains("://") {
            return Err("a registry address is `host` or `host:port` (optionally with https://)".into());
        }
        let s = s.trim_end_matches('/');
        if s.contains('/') {
            return Err("a registry address has no path: `host` or `host:port`".into());
        }
        if s.is_empty() || s.len() > 253 {
            return Err("a registry address is `host` or `host:port`".into());
        }
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        let host_ok = !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !host_ok {
            return Err(format!("`{host}` is not a host name or IPv4 address"));
        }
        if let Some(p) = port
            && !p.parse::<u16>().is_ok_and(|n| n > 0)
        {
            return Err(format!("`{p}` is not a port (1 to 65535)"));
        }
        let lower = s.to_ascii_lowercase();
        Ok(Self(match lower.as_str() {
            "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => DOCKER_HUB.to_string(),
            _ => lower,
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RegistryAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An image name taken apart as Docker reads it: the registry (Docker Hub when the first part
/// names none) and the repository (`library/` added for Docker Hub's official images), without
/// tag or digest. `image` is a reference already checked by `ImageRef::parse`.
pub fn split_image(image: &str) -> (RegistryAddress, String) {
    let name = image.split_once('@').map_or(image, |(n, _)| n);
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let name = match name[last_slash..].rfind(':') {
        Some(i) => &name[..last_slash + i],
        None => name,
    };
    let (registry, path) = match name.split_once('/') {
        Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => (first, rest),
        _ => (DOCKER_HUB, name),
    };
    let registry = RegistryAddress::parse(registry).unwrap_or_else(|_| RegistryAddress(registry.to_ascii_lowercase()));
    let path = if registry.as_str() == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path.to_string() };
    (registry, path)
}

/// One entry of an allow-list: a repository pattern, registry included (`registry.local:5000/
/// team-a/*`). `*` stands for any characters within one part of the path, `**` for any number
/// of parts; a pattern without a registry part is a Docker Hub one (`nginx` is
/// `docker.io/library/nginx`). Tags and digests are not part of a pattern: an allowed
/// repository is allowed at every tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePattern {
    raw: String,
    registry: String,
    path: String,
}

impl ImagePattern {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if s.is_empty() || s.len() > 255 {
            return Err("an image pattern is 1 to 255 characters".into());
        }
        if s.contains('@') {
            return Err(format!("`{s}`: a pattern names repositories, not digests"));
        }
        let last = s.rsplit('/').next().unwrap_or(s);
        if last.contains(':') {
            return Err(format!("`{s}`: a pattern names repositories, not tags (every tag of an allowed repository is allowed)"));
        }
        let (registry, path) = match s.split_once('/') {
            Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                let address = RegistryAddress::parse(first).map_err(|e| format!("`{s}`: {e}"))?;
                (address.0, rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), s.to_string()),
        };
        let path = if registry == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path };
        for part in path.split('/') {
            let ok = !part.is_empty()
                && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '*'));
            if !ok {
                return Err(format!("`{s}`: each part of a repository is lower-case letters, digits, '.', '_', '-' or a '*' wildcard"));
            }
        }
        Ok(Self { raw: s.to_string(), registry, path })
    }

    /// Whether the image (a checked reference) comes from a repository this pattern allows.
    pub fn allows(&self, image: &str) -> bool {
        let (registry, path) = split_image(image);
        registry.as_str() == self.registry && glob(self.path.as_bytes(), path.as_bytes())
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

/// `*` matches within a path part, `**` across parts. Linear in the product of the lengths
/// (both at most 255): a table of which suffixes match, never backtracking.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // `matches[i][j]`: pattern[i..] matches text[j..].
    let (n, m) = (pattern.len(), text.len());
    let mut matches = vec![vec![false; m + 1]; n + 1];
    matches[n][m] = true;
    for i in (0..n).rev() {
        let double = pattern[i] == b'*' && pattern.get(i + 1) == Some(&b'*');
        for j in (0..=m).rev() {
            matches[i][j] = if double {
                // Empty, or one more character of any kind.
                matches[i + 2][j] || (j < m && matches[i][j + 1])
            } else if pattern[i] == b'*' {
                if i > 0 && pattern[i - 1] == b'*' {
                    // The second star of a `**`, read with the first.
                    matches[i + 1][j]
                } else {
                    matches[i + 1][j] || (j < m && text[j] != b'/' && matches[i][j + 1])
                }
            } else {
                j < m && text[j] == pattern[i] && matches[i + 1][j + 1]
            };
        }
    }
    matches[0][0]
}

/// An allow-list: empty allows every image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedImages(Vec<ImagePattern>);

impl AllowedImages {
    /// Every pattern checked; the errors say which entry (`allowed_images[2]`).
    pub fn parse<S: AsRef<str>>(patterns: &[S]) -> Result<Self, Vec<(String, String)>> {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        if patterns.len() > 100 {
            errors.push(("allowed_images".to_string(), "at most 100 patterns".to_string()));
        }
        for (i, p) in patterns.iter().enumerate() {
            match ImagePattern::parse(p.as_ref()) {
                Ok(p) => out.push(p),
                Err(e) => errors.push((format!("allowed_images[{i}]"), e)),
            }
        }
        if errors.is_empty() { Ok(Self(out)) } else { Err(errors) }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn allows(&self, image: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|p| p.allows(image))
    }

    /// What a refusal shows: the patterns, as written.
    pub fn describe(&self) -> String {
        self.0.iter().map(|p| format!("`{}`", p.raw)).collect::<Vec<_>>().join(", ")
    }

    pub fn patterns(&self) -> Vec<String> {
        self.0.iter().map(|p| p.raw.clone()).collect()
    }

    /// The refusal of an image this list does not allow; `whose` is what set the list (`this
    /// blueprint`, `this catalog item`).
    pub fn refusal(&self, image: &str, whose: &str) -> String {
        format!("the image `{image}` is not allowed here: {whose} allows only images from {}", self.describe())
    }
}

/// Why a pull failed, read from the engine's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullProblem {
    /// The registry wants credentials, or refused the ones given.
    Authentication,
    /// No such repository or tag.
    NotFound,
    /// The host does not trust the registry's certificate.
    Untrusted,
    /// The registry could not be reached (refused, no route, no such name, timed out).
    Unreachable,
    Other,
}

impl PullProblem {
    pub fn of(message: &str) -> Self {
        let m = message.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| m.contains(w));
        if has(&[
            "x509:",
            "certificate signed by unknown authority",
            "tls: failed to verify",
            "certificate is not valid",
            "certificate has expired",
        ]) {
            Self::Untrusted
        } else if has(&[
            "no basic auth credentials",
            "unauthorized",
            "authentication required",
            "access denied",
            "denied:",
            "incorrect username or password",
        ]) {
            Self::Authentication
        } else if has(&["manifest unknown", "not found", "name unknown", "repository does not exist"]) {
            Self::NotFound
        } else if has(&[
            "connection refused",
            "no such host",
            "network is unreachable",
            "no route to host",
            "i/o timeout",
            "tls handshake timeout",
            "server misbehaving",
            "connection reset",
            "dial tcp",
        ]) {
            Self::Unreachable
        } else {
            Self::Other
        }
    }

    /// Whether another try may pass (a registry that did not answer may answer later).
    pub fn transient(self) -> bool {
        matches!(self, Self::Unreachable | Self::Other)
    }

    /// A failed pull in words a developer can act on: which registry, what went wrong and what
    /// to do, followed by the engine's own words. `credentials` says whether Wharf holds
    /// credentials for that registry.
    pub fn explain(self, image: &str, host: &str, credentials: bool, engine: &str) -> String {
        let (registry, _) = split_image(image);
        let what = match self {
            Self::Authentication if credentials => format!(
                "the registry {registry} refused the credentials Wharf holds for it (authentication failed): an admin should check the registry's username and password in Wharf"
            ),
            Self::Authentication => format!(
                "the registry {registry} wants credentials (authentication required) and none are registered for it in Wharf: an admin should register the registry with a username and password"
            ),
            Self::NotFound => {
                format!(
                    "the registry {registry} has no image `{image}` (the repository or tag was not found): check the image name and tag"
                )
            }
            Self::Untrusted if engine.contains("is valid for") || engine.contains("doesn't contain any IP SANs") => format!(
                "host `{host}` does not trust the certificate of the registry {registry} (certificate not trusted): the certificate does not name {registry}; it must list that name or address"
            ),
            Self::Untrusted => format!(
                "host `{host}` does not trust the certificate of the registry {registry} (certificate not trusted): the host needs the registry's CA certificate in /etc/docker/certs.d/{registry}/ca.crt"
            ),
            Self::Unreachable => {
                format!(
                    "host `{host}` could not reach the registry {registry} (unreachable): check the registry's address and that it runs"
                )
            }
            Self::Other => format!("host `{host}` could not pull `{image}` from the registry {registry}"),
        };
        format!("{what}. The engine said: {engine}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised_and_checked() {
        assert_eq!(RegistryAddress::parse("https://Registry.Local:5000/").unwrap().as_str(), "registry.local:5000");
        assert_eq!(RegistryAddress::parse("10.249.0.2:5000").unwrap().as_str(), "10.249.0.2:5000");
        assert_eq!(RegistryAddress::parse("index.docker.io").unwrap().as_str(), "docker.io");
        assert!(RegistryAddress::parse("http://registry.local").unwrap_err().contains("HTTPS"));
        assert!(RegistryAddress::parse("registry.local/team").unwrap_err().contains("no path"));
        assert!(RegistryAddress::parse("registry.local:99999").unwrap_err().contains("port"));
        assert!(RegistryAddress::parse("bad host").is_err());
        assert!(RegistryAddress::parse("").is_err());
        assert!(RegistryAddress::parse("-bad.example").is_err());
    }

    #[test]
    fn images_split_as_docker_reads_them() {
        let s = |i: &str| {
            let (r, p) = split_image(i);
            format!("{r} {p}")
        };
        assert_eq!(s("nginx"), "docker.io library/nginx");
        assert_eq!(s("nginx:1.27"), "docker.io library/nginx");
        assert_eq!(s("team/app:1"), "docker.io team/app");
        assert_eq!(s("registry.local:5000/team-a/app:2"), "registry.local:5000 team-a/app");
        assert_eq!(s("localhost/app"), "localhost app");
        let digest = format!("ghcr.io/org/app@sha256:{}", "a".repeat(64));
        assert_eq!(s(&digest), "ghcr.io org/app");
        assert_eq!(s("registry.local:5000/app"), "registry.local:5000 app");
    }

    #[test]
    fn patterns_allow_what_they_name() {
        let p = ImagePattern::parse("registry.local:5000/team-a/*").unwrap();
        assert!(p.allows("registry.local:5000/team-a/app:1"));
        assert!(p.allows("registry.local:5000/team-a/app"));
        assert!(!p.allows("registry.local:5000/team-a/sub/app:1"), "* stays within one part");
        assert!(!p.allows("registry.local:5000/team-b/app:1"));
        assert!(!p.allows("registry.local:5001/team-a/app:1"));
        assert!(!p.allows("evil.example/registry.local:5000/team-a/app"));
        assert!(!p.allows("team-a/app"));
        let deep = ImagePattern::parse("registry.local:5000/team-a/**").unwrap();
        assert!(deep.allows("registry.local:5000/team-a/sub/app:1"));
        assert!(!deep.allows("registry.local:5000/team-ab/app"));
        let hub = ImagePattern::parse("nginx").unwrap();
        assert!(hub.allows("nginx:1.27"));
        assert!(hub.allows("docker.io/library/nginx"));
        assert!(!hub.allows("nginx-evil"));
        let hub_deep = ImagePattern::parse("nginx**").unwrap();
        assert!(hub_deep.allows("nginx") && hub_deep.allows("nginx-extra:1"));
        assert!(!hub_deep.allows("nginx-evil/x"), "a Hub pattern of one part stays among the official images");
        let prefix = ImagePattern::parse("registry.local:5000/team-a/web-*").unwrap();
        assert!(prefix.allows("registry.local:5000/team-a/web-front:3"));
        assert!(!prefix.allows("registry.local:5000/team-a/api:3"));
    }

    #[test]
    fn many_stars_match_in_linear_time() {
        let p = ImagePattern::parse("registry.local:5000/team-a/*a*a*a*a*a*a*a*a*a*a*b").unwrap();
        let image = format!("registry.local:5000/team-a/{}", "a".repeat(200));
        let started = std::time::Instant::now();
        assert!(!p.allows(&image));
        assert!(p.allows(&format!("{image}b")));
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "took {:?}", started.elapsed());
        let deep = ImagePattern::parse("registry.local:5000/**a**a**a**a**a**b").unwrap();
        assert!(!deep.allows(&format!("registry.local:5000/{}", "a/".repeat(100) + "a")));
    }

    #[test]
    fn bad_patterns_say_why_and_where() {
        assert!(ImagePattern::parse("registry.local:5000/team-a/app:1").unwrap_err().contains("not tags"));
        assert!(ImagePattern::parse("app@sha256:abc").unwrap_err().contains("digests"));
        assert!(ImagePattern::parse("Registry/Team").unwrap_err().contains("lower-case"));
        assert!(ImagePattern::parse("").is_err());
        let errors = AllowedImages::parse(&["nginx", "BAD PATTERN", "ok/*"]).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, "allowed_images[1]");
    }

    #[test]
    fn an_empty_list_allows_everything() {
        let none = AllowedImages::parse::<&str>(&[]).unwrap();
        assert!(none.allows("anything:1"));
        let some = AllowedImages::parse(&["registry.local:5000/team-a/*", "busybox"]).unwrap();
        assert!(some.allows("busybox:latest"));
        assert!(!some.allows("alpine"));
        assert!(some.refusal("alpine", "this catalog item").contains("`registry.local:5000/team-a/*`, `busybox`"));
    }

    #[test]
    fn pull_errors_are_read_as_the_engine_words_them() {
        // What Docker 28 said to the test registry (scripts/lib/hosts.sh start_registry).
        assert_eq!(PullProblem::of("unauthorized: authentication required"), PullProblem::Authentication);
        assert_eq!(
            PullProblem::of("Head \"https://10.249.0.2:5000/v2/team-a/hello/manifests/1\": no basic auth credentials"),
            PullProblem::Authentication
        );
        assert_eq!(
            PullProblem::of("manifest for 10.249.0.2:5000/team-a/hello:2 not found: manifest unknown: manifest unknown"),
            PullProblem::NotFound
        );
        assert_eq!(
            PullProblem::of("Get \"https://10.249.0.2:5001/v2/\": x509: certificate signed by unknown authority"),
            PullProblem::Untrusted
        );
        assert_eq!(
            PullProblem::of("Get \"https://10.249.0.2:5009/v2/\": dial tcp 10.249.0.2:5009: connect: connection refused"),
            PullProblem::Unreachable
        );
        assert_eq!(PullProblem::of("pull access denied for app, repository does not exist"), PullProblem::Authentication);
        assert_eq!(PullProblem::of("something else"), PullProblem::Other);
        assert!(PullProblem::Unreachable.transient());
        assert!(!PullProblem::Authentication.transient());
    }

    #[test]
    fn explanations_name_the_registry_and_what_to_do() {
        let m = PullProblem::Authentication.explain("10.249.0.2:5000/team-a/hello:1", "h1", true, "unauthorized");
        assert!(m.starts_with("the registry 10.249.0.2:5000 refused the credentials"), "{m}");
        assert!(m.ends_with("The engine said: unauthorized"), "{m}");
        let m = PullProblem::Authentication.explain("10.249.0.2:5000/team-a/hello:1", "h1", false, "no basic auth credentials");
        assert!(m.contains("none are registered"), "{m}");
        let m = PullProblem::Untrusted.explain("10.249.0.2:5001/team-a/hello:1", "h1", true, "x509");
        assert!(m.contains("/etc/docker/certs.d/10.249.0.2:5001/ca.crt"), "{m}");
        let m = PullProblem::NotFound.explain("nginx:nope", "h1", false, "manifest unknown");
        assert!(m.contains("registry docker.io has no image `nginx:nope`"), "{m}");
    }
}
