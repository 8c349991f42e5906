use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Db, error_code, spawn_app};
use crate::on_both_databases;

on_both_databases!(health_and_readiness, unknown_routes_answer_in_their_shape);

async fn health_and_readiness(db: Db) {
    let app = spawn_app(db).await;
    let client = app.anonymous();
    let res = client.get("/healthz").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("x-request-id").is_some(), "every response carries its request id");
    let res = client.get("/readyz").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    let res = client.get("/static/css/wharf.css").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
}

async fn unknown_routes_answer_in_their_shape(db: Db) {
    let app = spawn_app(db).await;
    let client = app.anonymous();
    let res = client.get("/api/v1/no-such-thing").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(res).await, "not_found");
    // A known API path with a method it does not take still answers in JSON.
    let res = client.delete("/api/v1/me").await;
    assert!(res.status().is_client_error());
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));

    let res = client.get("/no-such-page").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains("there is no page at this address"), "{html}");
    let res = client.get("/static/nothing.css").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
