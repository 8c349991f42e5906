//! The OpenAPI document describes every `/api/v1` route the app serves, and only those.
use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{Db, spawn_app};

/// (method, path) of every route registered in src/web/api, read from the source itself.
fn registered_routes() -> BTreeSet<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/api");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for part in text.split(".route(\"").skip(1) {
            let path = part.split('"').next().unwrap();
            let method = part.split("web::").nth(1).and_then(|m| m.split("()").next()).unwrap();
            out.insert((method.to_string(), format!("/api/v1{path}")));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_is_in_the_openapi_document() {
    let app = spawn_app(Db::Sqlite).await;
    let doc: Value = app.anonymous().get_openapi_ok().await;
    assert_eq!(doc["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete", "patch"] {
            if let Some(op) = item.get(method) {
                documented.insert((method.to_string(), path.clone()));
                // Success is a 2xx, or for the console's WebSocket, 101.
                assert!(
                    op["responses"].as_object().is_some_and(|r| r.keys().any(|k| k.starts_with('2') || k == "101")),
                    "{method} {path} documents no success"
                );
                assert!(
                    op["responses"].get("422").is_some() && op["responses"].get("401").is_some(),
                    "{method} {path} documents no errors"
                );
            }
        }
    }
    let served = registered_routes();
    assert!(served.len() >= 40, "the routes were read: {served:?}");
    let missing: Vec<_> = served.difference(&documented).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(extra.is_empty(), "documented but not served: {extra:?}");
    // And each documented path is routed: never the API's "no such endpoint" answer.
    let client = reqwest::Client::new();
    for (method, path) in &documented {
        let url = app.url(&path.replace("{id}", "1").replace("{group}", "g").replace("{username}", "u"));
        let res = client.request(method.to_uppercase().parse().unwrap(), url).send().await.unwrap();
        let body = res.text().await.unwrap();
        assert!(!body.contains("no such API endpoint"), "{method} {path} is not routed");
    }
    // The docs page is served, from the binary.
    let res = client.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert!(res.text().await.unwrap().contains("swagger"));
}
