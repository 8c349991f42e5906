//! `KEY=VALUE` lists (host labels, host selectors), as people type them in a form field or on
//! the command line: pairs separated by commas or new lines, spaces around them ignored.
use std::collections::BTreeMap;

/// One `KEY=VALUE` pair (a command-line flag: the value may hold commas); `None` when there is
/// no `=` or no key.
pub fn parse_one(part: &str) -> Option<(String, String)> {
    match part.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Some((k.trim().to_string(), v.trim().to_string())),
        _ => None,
    }
}

/// Every pair of `text`; the error names each part that is not `KEY=VALUE` (or has no key).
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut bad = Vec::new();
    for part in text.split([',', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
        match parse_one(part) {
            Some((k, v)) => {
                out.insert(k, v);
            }
            None => bad.push(format!("`{part}`")),
        }
    }
    if bad.is_empty() { Ok(out) } else { Err(format!("{} is not KEY=VALUE", bad.join(", "))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_by_comma_or_line() {
        let m = parse(" zone = a, tier=web\nssd=\n").unwrap();
        assert_eq!(m.get("zone").map(String::as_str), Some("a"));
        assert_eq!(m.get("ssd").map(String::as_str), Some(""));
        assert_eq!(m.len(), 3);
        assert!(parse("").unwrap().is_empty());
        assert_eq!(parse("a=1, oops, =x").unwrap_err(), "`oops`, `=x` is not KEY=VALUE");
        assert_eq!(parse_one("note=a,b"), Some(("note".into(), "a,b".into())));
        assert_eq!(parse_one("zone"), None);
    }
}
