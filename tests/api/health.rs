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

/// SIGTERM with `drain_secs`: `/readyz` answers 503 (draining) at once, so that a load balancer
/// sends elsewhere, while the process still answers what it is sent; then it stops.
#[tokio::test]
async fn a_stopping_replica_drains() {
    let url = crate::helpers::fresh_database(Db::Sqlite).await;
    let served =
        crate::helpers::serve(&["--database-url", &url, "serve"], &[("WHARF_HOSTS__REGISTER_LOCAL", "false"), ("WHARF_DRAIN_SECS", "3")]);
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let ready = |c: reqwest::Client, base: String| async move { c.get(format!("{base}/readyz")).send().await.map(|r| r.status()) };
    assert_eq!(ready(client.clone(), served.base.clone()).await.unwrap(), StatusCode::OK);
    let pid = served.child.id().to_string();
    let started = std::time::Instant::now();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    crate::helpers::eventually(2, "/readyz to say draining", || async {
        (ready(client.clone(), served.base.clone()).await.ok() == Some(StatusCode::SERVICE_UNAVAILABLE)).then_some(())
    })
    .await;
    let res = client.get(format!("{}/healthz", served.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "it still answers while it drains");
    // It stops by itself once the drain is over (a second SIGTERM would stop it at once).
    let mut served = served;
    let status = loop {
        if let Some(status) = served.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "still running 30 s after SIGTERM");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status:?}");
    let took = started.elapsed();
    assert!(took >= std::time::Duration::from_secs(3), "stopped after {took:?}, before its drain was over");
}
