//! Types and rules, no I/O. Values are parsed once at the edge and carried as these types.
pub mod blueprint;
pub mod deployment;
pub mod events;
pub mod lifecycle;
mod names;
pub mod pairs;
pub mod placement;
pub mod policy;
#[cfg(test)]
mod properties;
pub mod quota;
pub mod registry;
pub mod secret;
pub mod states;

pub use names::{ComponentName, GroupName, InputKey, NameError, Role, Slug, Username};
pub use secret::Secret;

/// `text` with network addresses (IPs, `host:port`) replaced by `[address]`: what a requester
/// sees of an engine's error, which may name hosts of the platform's network. Admins see it whole.
pub fn redact_addresses(text: &str) -> String {
    static ADDRESS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"\[[0-9A-Fa-f:.]+\](?::\d{1,5})?|\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b|\b(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{1,4}\b|\b[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*:\d{1,5}\b|\blookup [A-Za-z0-9.-]+",
        )
        .expect("a valid expression")
    });
    ADDRESS.replace_all(text, "[address]").into_owned()
}

#[cfg(test)]
mod redact_tests {
    #[test]
    fn addresses_are_hidden_and_the_rest_kept() {
        let r = super::redact_addresses("pull from 10.1.2.3:5000/app failed: dial tcp 10.1.2.3:5000: connection refused");
        assert_eq!(r, "pull from [address]/app failed: dial tcp [address]: connection refused");
        assert_eq!(super::redact_addresses("registry.internal:443 said no"), "[address] said no");
        assert_eq!(super::redact_addresses("[fd00::1]:2376 timed out"), "[address] timed out");
        assert_eq!(super::redact_addresses("component `web` exited with code 1"), "component `web` exited with code 1");
        assert_eq!(super::redact_addresses("dial tcp fd00::1: refused"), "dial tcp [address]: refused");
        assert_eq!(super::redact_addresses("dial tcp: lookup registry.internal on x"), "dial tcp: [address] on x");
    }
}

/// Terminal output as plain text: colour and cursor sequences (CSI, OSC) and other control
/// characters taken out, line ends kept.
pub fn strip_terminal_codes(text: &str) -> String {
    static CODES: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]")
            .expect("a fixed pattern")
    });
    CODES.replace_all(&text.replace("\r\n", "\n"), "").into_owned()
}

#[cfg(test)]
mod terminal_tests {
    #[test]
    fn terminal_codes_are_taken_out() {
        let raw = "\x1b[1;32m/ #\x1b[0m echo hi\r\nhi\r\n\x1b]0;title\x07done\x08";
        assert_eq!(super::strip_terminal_codes(raw), "/ # echo hi\nhi\ndone");
    }
}

/// An error with its causes (for connection failures the useful part is in a source).
pub fn describe_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
