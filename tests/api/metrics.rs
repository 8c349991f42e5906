//! `/metrics` (issue 17): who may scrape (an admin's API token or the configured scrape token;
//! nobody else), and what a scrape says, parsed as the exposition format it claims to be:
//! HTTP requests by route, the job that provisioned a request, and the database's counts by
//! status — on SQLite and on PostgreSQL (the counts are grouped queries of their own).
use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Db, spawn_app_with};
use crate::on_both_databases;

on_both_databases!(metrics_are_scraped_by_admins_and_prometheus);

const SCRAPE: &str = "a-scrape-token-for-tests";

/// A sample of the exposition: metric name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

async fn metrics_are_scraped_by_admins_and_prometheus(db: Db) {
    let app = spawn_app_with(db, json!({"metrics": {"token": SCRAPE}})).await;
    let w = crate::requests::world(&app).await;
    let scrape = |token: Option<&'static str>| {
        let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
        let mut req = client.get(app.url("/metrics"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.expect("a scrape") }
    };

    // Who may.
    assert_eq!(scrape(None).await.status(), StatusCode::UNAUTHORIZED, "nobody without a token");
    assert_eq!(scrape(Some("not-the-scrape-token")).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(w.dev.get("/metrics").await.status(), StatusCode::FORBIDDEN, "a member's token");
    assert_eq!(w.lead.get("/metrics").await.status(), StatusCode::FORBIDDEN, "a manager's token");
    let browser = app.browser();
    browser.login_ok("admin", crate::helpers::ADMIN_PASSWORD).await;
    assert_eq!(browser.get("/metrics").await.status(), StatusCode::UNAUTHORIZED, "a browser session is not a scrape");
    assert_eq!(w.admin.get("/metrics").await.status(), StatusCode::OK, "an admin's token");
    let elsewhere = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let res = elsewhere.get(app.url("/api/v1/me")).bearer_auth(SCRAPE).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "the scrape token opens /metrics only");

    // Some traffic, and a request provisioned.
    for _ in 0..3 {
        assert_eq!(w.dev.get("/api/v1/me").await.status(), StatusCode::OK);
    }
    assert_eq!(w.dev.get("/api/v1/requests/no-such-request").await.status(), StatusCode::NOT_FOUND);
    let r = w.dev.submit_request(&json!({"catalog_item": "web", "group": "team-a"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let done = crate::helpers::eventually(90, "the request to succeed", || async {
        let r = w.dev.get_request_ok(&id).await;
        (r["status"] == "succeeded" || r["status"] == "failed").then_some(r)
    })
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");

    let res = scrape(Some(SCRAPE)).await;
    assert_eq!(res.status(), StatusCode::OK, "the scrape token");
    let kind = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let text = res.text().await.unwrap();
    let samples = parse(&text);
    let at = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let want: Vec<(String, String)> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        samples
            .iter()
            .find(|(n, l, _)| n == name && want.iter().all(|w| l.contains(w)))
            .map(|(_, _, v)| *v)
            .unwrap_or_else(|| panic!("no sample {name} {labels:?} in\n{text}"))
    };
    assert!(at("wharf_http_requests_total", &[("route", "/api/v1/me"), ("method", "GET"), ("status", "200")]) >= 3.0);
    assert_eq!(at("wharf_http_requests_total", &[("route", "/api/v1/requests/{id}"), ("method", "GET"), ("status", "404")]), 1.0);
    assert!(
        samples
            .iter()
            .all(|(n, l, _)| !n.starts_with("wharf_http") || l.iter().all(|(_, v)| !v.contains(&id) && !v.contains("no-such-request"))),
        "routes are labelled by their pattern, never by the path"
    );
    assert!(at("wharf_http_request_duration_seconds_count", &[("route", "/api/v1/me"), ("method", "GET")]) >= 3.0);
    assert!(at("wharf_job_duration_seconds_count", &[("kind", "provision"), ("outcome", "done")]) >= 1.0);
    assert_eq!(at("wharf_requests", &[("status", "succeeded")]), 1.0);
    assert_eq!(at("wharf_requests", &[("status", "pending_approval")]), 0.0, "every status, zeros included");
    assert_eq!(at("wharf_deployments", &[("status", "running")]), 1.0);
    assert_eq!(at("wharf_hosts", &[("status", "up")]), w.hosts.len() as f64);
    assert_eq!(at("wharf_jobs", &[("status", "queued")]), 0.0);
    assert!(at("wharf_jobs", &[("status", "done")]) >= 1.0);
    assert_eq!(at("wharf_job_oldest_age_seconds", &[("status", "queued")]), 0.0);

    let deployment = done["deployment_id"].as_str().unwrap().to_string();
    let hosts = w.hosts.clone();
    app.destroy_all(&w.admin, &[deployment], &hosts).await;
}

/// The OpenMetrics text format, checked line by line: every sample belongs to a family its
/// `# TYPE` declared, its labels are `key="value"` pairs, its value a number; `# EOF` ends it.
/// Returns the samples (name, labels, value).
fn parse(text: &str) -> Vec<Sample> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "the exposition ends with # EOF");
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("a TYPE line without a type: {line}"));
            assert!(["counter", "gauge", "histogram", "summary", "info", "stateset", "unknown"].contains(&kind), "{line}");
            types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        assert!(!line.starts_with('#'), "an unknown comment line: {line}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("a sample without a value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("not a number in: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"))),
            None => (series, ""),
        };
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "a bad metric name: {line}");
        let family = ["_total", "_bucket", "_count", "_sum", "_created"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.contains_key(*f)))
            .unwrap_or(name);
        assert!(types.contains_key(family), "a sample of an undeclared family: {line}");
        let mut pairs = Vec::new();
        let mut rest = labels;
        while !rest.is_empty() {
            let (key, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("a label without a quoted value: {line}"));
            assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "a bad label name `{key}`: {line}");
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => value.push(chars.next().map(|(_, c)| c).unwrap_or_else(|| panic!("a dangling escape: {line}"))),
                    Some((i, '"')) => break i,
                    Some((_, c)) => value.push(c),
                    None => panic!("an unclosed label value: {line}"),
                }
            };
            pairs.push((key.to_string(), value));
            rest = after[end + 1..].strip_prefix(',').unwrap_or(&after[end + 1..]);
        }
        samples.push((name.to_string(), pairs, value));
    }
    samples
}

#[test]
fn the_parser_refuses_what_is_not_the_format() {
    let good = "# TYPE a counter\n# HELP a An a.\na_total{x=\"1\",y=\"q\\\"uote\"} 2\n# EOF\n";
    let s = parse(good);
    assert_eq!(s, vec![("a_total".to_string(), vec![("x".into(), "1".into()), ("y".into(), "q\"uote".into())], 2.0)]);
    for bad in [
        "a 1\n# EOF\n",
        "# TYPE a counter\na_total 1\n",
        "# TYPE a counter\na_total{x=1} 1\n# EOF\n",
        "# TYPE a counter\na_total x\n# EOF\n",
    ] {
        assert!(std::panic::catch_unwind(|| parse(bad)).is_err(), "accepted: {bad:?}");
    }
}
