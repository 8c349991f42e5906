//! Publishing blueprints through the API and from the catalog folder.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Db, spawn_app, spawn_app_with};
use crate::{fixture, on_both_databases};

on_both_databases!(blueprints_publish_once_and_stay_immutable, the_catalog_folder_is_imported_at_start_up);

const BP: &str = fixture!("blueprints/hello.yaml");

async fn blueprints_publish_once_and_stay_immutable(db: Db) {
    let app = spawn_app(db).await;
    let admin = app.admin().await;
    let res = admin.publish_blueprint(BP).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"id": "hello", "version": 1, "created": true}));
    // The same text again changes nothing.
    let res = admin.publish_blueprint_source(BP).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Other text under the same version is refused: published versions never change.
    let changed = BP.replace("3600", "60");
    let res = admin.publish_blueprint(&changed).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let err: Value = res.json().await.unwrap();
    assert!(err["error"]["message"].as_str().unwrap().contains("version 2"), "{err}");
    let res = admin.publish_blueprint(&changed.replace("version: 1", "version: 2")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let detail = admin.get_blueprint_ok("hello").await;
    assert_eq!(detail["latest_version"], 2);
    assert_eq!(detail["versions"].as_array().unwrap().len(), 2);
    assert!(detail["source"].as_str().unwrap().contains("\"60\""));

    // Invalid: 422 with every error's line and column; nothing stored.
    let bad = fixture!("blueprints/broken.yaml");
    let res = admin.publish_blueprint(bad).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "invalid_input");
    let details = err["error"]["details"].as_array().unwrap();
    assert!(
        details.iter().any(|d| d["line"] == 8 && d["column"] == 13 && d["message"].as_str().unwrap().contains("out of range")),
        "{err}"
    );
    assert_eq!(admin.get_blueprint("broken").await.status(), StatusCode::NOT_FOUND);
    let res = admin.publish_blueprint("id: [\n").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = admin.publish_blueprint_raw("{\"src\": 1}").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    let list: Value = admin.list_blueprints_ok().await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let audit: Value = admin.get_audit_ok("action=blueprint.publish").await;
    assert_eq!(audit.as_array().unwrap().len(), 2);
}

async fn the_catalog_folder_is_imported_at_start_up(db: Db) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog");
    let app = spawn_app_with(db, json!({"catalog_dir": dir})).await;
    let admin = app.admin().await;
    let list: Value = admin.list_blueprints_ok().await;
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap()).collect();
    for id in ["busybox-shell", "static-web", "two-tier-web", "worker-pool"] {
        assert!(ids.contains(&id), "{id} not imported: {ids:?}");
    }
    let audit: Value = admin.get_audit_ok("actor=catalog").await;
    assert_eq!(audit.as_array().unwrap().len(), ids.len());
}

/// A blueprint version as a Compose file: each component a service, each input a variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blueprint_version_exports_as_compose() {
    let app = spawn_app(Db::Sqlite).await;
    let admin = app.admin().await;
    let source = crate::fixtures::blueprint(fixture!("blueprints/two-tier.yaml"), &[]);
    assert_eq!(admin.publish_blueprint(&source).await.status(), StatusCode::CREATED);
    let res = admin.get("/api/v1/blueprints/two-tier/versions/1/compose").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/yaml"));
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("two-tier-v1.compose.yaml"));
    let text = res.text().await.unwrap();
    for needle in [
        "\"services\":\n  \"db\":",
        "\"DB_PASSWORD\": \"${PASSWORD:?set PASSWORD}\"",
        "\"GREETING\": \"${GREETING:-hello}\"",
        "\"db\":\n        \"condition\": \"service_healthy\"",
        "\"volumes\":\n  \"data\": {}",
        "- \"8080/tcp\"",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(!text.contains("db-$DB_PASSWORD") && text.contains("db-$$DB_PASSWORD"), "a literal $ is escaped for Compose:\n{text}");
    for (path, status) in [
        ("/api/v1/blueprints/two-tier/versions/9/compose", StatusCode::NOT_FOUND),
        ("/api/v1/blueprints/two-tier/versions/x/compose", StatusCode::NOT_FOUND),
        ("/api/v1/blueprints/two-tier/versions/0/compose", StatusCode::NOT_FOUND),
        ("/api/v1/blueprints/nope/versions/1/compose", StatusCode::NOT_FOUND),
    ] {
        let res = admin.get(path).await;
        assert_eq!(res.status(), status, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }
}
