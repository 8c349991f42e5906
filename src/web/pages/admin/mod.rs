//! `/admin/…`: the admins' pages, one module per resource. Every handler takes `Admin`.
//! The form readers the admin forms share are here.
mod audit;
mod blueprints;
mod catalog;
mod deployments;
mod groups;
mod hosts;
mod users;

use std::collections::BTreeMap;

use actix_web::web;

use crate::services::FieldError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(hosts::routes)
        .configure(blueprints::routes)
        .configure(deployments::routes)
        .configure(catalog::routes)
        .configure(users::routes)
        .configure(groups::routes)
        .configure(audit::routes);
}

/// A comma-separated list, trimmed, without empty entries.
fn list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect()
}

/// `KEY=VALUE` pairs (host labels, host selectors) separated by any of `separators`; a part
/// without `=` is an error of `field`.
fn key_values(text: &str, separators: &[char], field: &str, errors: &mut Vec<FieldError>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for part in text.split(separators).map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((k, v)) => {
                out.insert(k.trim().to_string(), v.trim().to_string());
            }
            None => errors.push(FieldError::new(field, format!("`{part}` is not KEY=VALUE"))),
        }
    }
    out
}

/// An optional number field of a form: empty is `None`, anything else must parse.
fn number<T: std::str::FromStr>(values: &BTreeMap<String, String>, key: &str, errors: &mut Vec<FieldError>) -> Option<T> {
    match values.get(key).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match s.parse() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.push(FieldError::new(key, format!("`{s}` is not a number")));
                None
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_keep_order_of_errors_and_trim() {
        let mut errors = Vec::new();
        let got = key_values(" zone = a ,, bad, tier=gold\nx=y", &[','], "labels", &mut errors);
        assert_eq!(got.get("zone").map(String::as_str), Some("a"));
        assert_eq!(got.get("tier").map(String::as_str), Some("gold\nx=y"));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "labels");
        assert_eq!(errors[0].message, "`bad` is not KEY=VALUE");
        let mut errors = Vec::new();
        let got = key_values("a=1\nb=2", &[',', '\n'], "labels", &mut errors);
        assert_eq!(got.len(), 2);
        assert!(errors.is_empty());
    }

    #[test]
    fn numbers_are_optional_but_must_parse() {
        let values: BTreeMap<String, String> =
            [("a", " 7 "), ("b", ""), ("c", "x")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut errors = Vec::new();
        assert_eq!(number::<i32>(&values, "a", &mut errors), Some(7));
        assert_eq!(number::<i32>(&values, "b", &mut errors), None);
        assert_eq!(number::<i32>(&values, "missing", &mut errors), None);
        assert_eq!(number::<i32>(&values, "c", &mut errors), None);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "c");
    }
}
