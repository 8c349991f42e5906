//! Several portal processes on one PostgreSQL: each job runs once, on one of them.
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

use crate::fixture;
use crate::fixtures::blueprint;
use crate::helpers::{ADMIN_PASSWORD, Db, fresh_database, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_run_the_same_job_twice() {
    let url = fresh_database(Db::Postgres).await;
    let envs = [
        ("WHARF_DATABASE_URL", url.as_str()),
        ("WHARF_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("WHARF_CATALOG_DIR", "/nonexistent/wharf-test-catalog"),
        ("WHARF_HOSTS__REGISTER_LOCAL", "false"),
        ("WHARF_HOSTS__HEALTH_INTERVAL_SECS", "1"),
    ];
    let one = serve(&["serve"], &envs);
    let two = serve(&["serve"], &envs);
    let (a, b) = (one.app(), two.app());
    let admin_a = a.admin().await;
    let admin_b = b.admin().await;
    let hosts = a.register_test_hosts(&admin_a).await;
    let bp = blueprint(fixture!("blueprints/sleep.yaml"), &[("id", "tiny"), ("name", "Tiny")]);
    assert_eq!(admin_a.publish_blueprint(&bp).await.status(), StatusCode::CREATED);
    // Requests arrive at both replicas; both have workers polling the same queue.
    let mut ids = Vec::new();
    for i in 0..8 {
        let admin = if i % 2 == 0 { &admin_a } else { &admin_b };
        let res = admin.deploy_blueprint("tiny", &json!({})).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        ids.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let d = a.wait_deployment(&admin_a, id, &["running", "failed"], 90).await;
        assert_eq!(d["status"], "running", "{d}");
        assert_eq!(d["resources"].as_array().unwrap().len(), 1);
    }
    // Each job was claimed once: one attempt each, and both replicas did some of the work.
    let conn = Database::connect(url.as_str()).await.unwrap();
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT attempts, lease_owner FROM jobs WHERE kind = 'provision'",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 8);
    let mut owners = std::collections::BTreeSet::new();
    for row in &rows {
        let attempts: i32 = row.try_get("", "attempts").unwrap();
        let owner: String = row.try_get("", "lease_owner").unwrap();
        assert_eq!(attempts, 1, "a job ran more than once");
        owners.insert(owner);
    }
    assert_eq!(owners.len(), 2, "both replicas took jobs: {owners:?}");
    b.destroy_all(&admin_b, &ids, &hosts).await;
}
