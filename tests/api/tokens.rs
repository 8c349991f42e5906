//! Personal API tokens: shown once, stored hashed, listed with last use, revocable.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Db, password_of, spawn_app};
use crate::on_both_databases;

on_both_databases!(personal_tokens_work_until_revoked);

async fn personal_tokens_work_until_revoked(db: Db) {
    let app = spawn_app(db).await;
    let admin = app.seed_team().await;
    let dev = app.api_as("dev", &password_of("dev")).await;
    let res = dev.create_token(&json!({"name": "ci", "expires_in_days": 7})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let made: Value = res.json().await.unwrap();
    let token = made["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("wharf_"));
    for bad in [
        json!({"name": "", "expires_in_days": 7}),
        json!({"name": "x", "expires_in_days": 0}),
        json!({"name": "x", "expires_in_days": 9999}),
    ] {
        assert_eq!(dev.create_token(&bad).await.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }

    // The token works as Bearer, and its use is recorded; the list never shows it again.
    let client = reqwest::Client::new();
    let me = client.get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let list: Value = dev.list_tokens_ok("").await;
    let ci = list.as_array().unwrap().iter().find(|t| t["name"] == "ci").unwrap().clone();
    assert!(ci["last_used_at"].is_string(), "{ci}");
    assert!(!list.to_string().contains(&token));

    // Others cannot see or revoke it; an admin can.
    let lead = app.api_as("lead", &password_of("lead")).await;
    let id = made["id"].as_i64().unwrap();
    assert_eq!(lead.revoke_token(id).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(lead.list_tokens("all=true").await.status(), StatusCode::FORBIDDEN);
    let all: Value = admin.list_tokens_ok("all=true").await;
    assert!(all.as_array().unwrap().iter().any(|t| t["id"] == id && t["owner"] == "dev"));
    let res = admin.revoke_token(id).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["active"], false);
    let me = client.get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    let audit: Value = admin.get_audit_ok("action=token.revoke").await;
    assert_eq!(audit[0]["actor"], "admin");
    assert!(!admin.get_audit("per_page=200").await.text().await.unwrap().contains(&token));

    // The profile page shows a new token once.
    let browser = app.browser();
    browser.login_ok("dev", &password_of("dev")).await;
    let res = browser.submit("/profile", "/profile/tokens", &[("name", "laptop"), ("days", "30")]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let html = res.text().await.unwrap();
    let shown = html.split("id=\"new-token\">").nth(1).and_then(|s| s.split('<').next()).unwrap().to_string();
    assert!(shown.starts_with("wharf_"));
    let (_, again) = browser.page("/profile").await;
    assert!(again.contains("laptop") && !again.contains(&shown), "shown once");
    let me = client.get(app.url("/api/v1/me")).bearer_auth(&shown).send().await.unwrap();
    assert_eq!(me.json::<Value>().await.unwrap()["username"], "dev");
}
