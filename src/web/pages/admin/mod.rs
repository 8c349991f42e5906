//! `/admin/…`: the admins' pages, one module per resource. Every handler takes `Admin`.
//! The form readers the admin forms share are here.
mod audit;
mod blueprints;
mod catalog;
mod deployments;
mod groups;
mod hosts;
mod mail;
mod registries;
mod users;
mod webhooks;

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
        .configure(audit::routes)
        .configure(mail::routes)
        .configure(registries::routes)
        .configure(webhooks::routes);
}

/// A comma-separated list, trimmed, without empty entries.
fn list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect()
}

/// `KEY=VALUE` pairs (host labels, host selectors) of a form field; what is not a pair is an
/// error of `field`.
fn key_values(text: &str, field: &str, errors: &mut Vec<FieldError>) -> BTreeMap<String, String> {
    crate::domain::pairs::parse(text).unwrap_or_else(|e| {
        errors.push(FieldError::new(field, e));
        BTreeMap::new()
    })
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
    fn key_values_are_an_error_of_their_field() {
        let mut errors = Vec::new();
        let got = key_values(" zone = a ,, tier=gold\nx=y", "labels", &mut errors);
        assert_eq!(got.get("zone").map(String::as_str), Some("a"));
        assert_eq!(got.len(), 3);
        assert!(errors.is_empty());
        assert!(key_values("zone=a, bad", "labels", &mut errors).is_empty());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "labels");
        assert_eq!(errors[0].message, "`bad` is not KEY=VALUE");
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
