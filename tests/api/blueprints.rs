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
    let res = admin.client_post_yaml("/api/v1/blueprints", BP).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"id": "hello", "version": 1, "created": true}));
    // The same text again changes nothing.
    let res = admin.post("/api/v1/blueprints", &json!({"source": BP})).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Other text under the same version is refused: published versions never change.
    let changed = BP.replace("3600", "60");
    let res = admin.client_post_yaml("/api/v1/blueprints", &changed).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let err: Value = res.json().await.unwrap();
    assert!(err["error"]["message"].as_str().unwrap().contains("version 2"), "{err}");
    let res = admin.client_post_yaml("/api/v1/blueprints", &changed.replace("version: 1", "version: 2")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let detail = admin.json("/api/v1/blueprints/hello").await;
    assert_eq!(detail["latest_version"], 2);
    assert_eq!(detail["versions"].as_array().unwrap().len(), 2);
    assert!(detail["source"].as_str().unwrap().contains("\"60\""));

    // Invalid: 422 with every error's line and column; nothing stored.
    let bad = fixture!("blueprints/broken.yaml");
    let res = admin.client_post_yaml("/api/v1/blueprints", bad).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "invalid_input");
    let details = err["error"]["details"].as_array().unwrap();
    assert!(details.iter().any(|d| d["line"] == 8 && d["column"] == 13 && d["message"].as_str().unwrap().contains("out of range")), "{err}");
    assert_eq!(admin.get("/api/v1/blueprints/broken").await.status(), StatusCode::NOT_FOUND);
    let res = admin.client_post_yaml("/api/v1/blueprints", "id: [\n").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = admin.post_raw("/api/v1/blueprints", "{\"src\": 1}").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    let list: Value = admin.json("/api/v1/blueprints").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let audit: Value = admin.json("/api/v1/audit?action=blueprint.publish").await;
    assert_eq!(audit.as_array().unwrap().len(), 2);
}

async fn the_catalog_folder_is_imported_at_start_up(db: Db) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog");
    let app = spawn_app_with(db, json!({"catalog_dir": dir})).await;
    let admin = app.admin().await;
    let list: Value = admin.json("/api/v1/blueprints").await;
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap()).collect();
    for id in ["busybox-shell", "static-web", "two-tier-web", "worker-pool"] {
        assert!(ids.contains(&id), "{id} not imported: {ids:?}");
    }
    let audit: Value = admin.json("/api/v1/audit?actor=catalog").await;
    assert_eq!(audit.as_array().unwrap().len(), ids.len());
}
