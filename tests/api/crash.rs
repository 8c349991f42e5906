//! Crash safety: the wharf process is killed with SIGKILL while it provisions several
//! deployments, started again, and each deployment ends running or failed, with no duplicate
//! and no orphaned container, network or volume.
use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::blueprint;
use crate::helpers::{ADMIN_PASSWORD, Db, docker, eventually, fresh_database, leftovers, serve};
use crate::{fixture, on_both_databases};

on_both_databases!(a_killed_portal_resumes_without_duplicates_or_orphans);

fn slow_blueprint() -> String {
    // `a` takes a few seconds to become healthy; `b` (two replicas) waits for it.
    blueprint(fixture!("blueprints/slow.yaml"), &[])
}

async fn a_killed_portal_resumes_without_duplicates_or_orphans(db: Db) {
    let url = fresh_database(db).await;
    let envs = [
        ("WHARF_DATABASE_URL", url.as_str()),
        ("WHARF_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("WHARF_CATALOG_DIR", "/nonexistent/wharf-test-catalog"),
        ("WHARF_HOSTS__REGISTER_LOCAL", "false"),
        ("WHARF_HOSTS__HEALTH_INTERVAL_SECS", "1"),
        ("WHARF_ENGINE__LEASE_SECS", "3"),
        ("WHARF_ENGINE__STOP_TIMEOUT_SECS", "1"),
        ("WHARF_ENGINE__NETWORK_POOL", "1"),
    ];
    let first = serve(&["serve"], &envs);
    let app = first.app();
    let admin = app.admin().await;
    let hosts = app.register_test_hosts(&admin).await;
    let res = admin.publish_blueprint(&slow_blueprint()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let mut ids = Vec::new();
    for _ in 0..4 {
        let res = admin.deploy_blueprint("slow", &json!({})).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        ids.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
    }
    // Kill it in the middle: once containers exist, before all are running.
    eventually(30, "provisioning to be under way", || async {
        let mut started = 0;
        for id in &ids {
            let d = admin.get_deployment_ok(id).await;
            if !d["resources"].as_array().unwrap().is_empty() {
                started += 1;
            }
        }
        (started >= 1).then_some(())
    })
    .await;
    let mut first = first;
    let statuses: Vec<String> = {
        let mut v = Vec::new();
        for id in &ids {
            v.push(admin.get_deployment_ok(id).await["status"].as_str().unwrap().to_string());
        }
        v
    };
    first.child.kill().expect("SIGKILL");
    first.child.wait().ok();
    assert!(statuses.iter().any(|s| s == "provisioning"), "killed while provisioning: {statuses:?}");

    // Started again on the same database: the jobs are taken over once their leases run out.
    let second = serve(&["serve"], &envs);
    let app = second.app();
    let admin = app.admin().await;
    let mut finals = Vec::new();
    for id in &ids {
        let d = app.wait_deployment(&admin, id, &["running", "failed"], 120).await;
        finals.push(d);
    }
    for d in &finals {
        let id = d["id"].as_str().unwrap();
        let endpoint = hosts.iter().find(|(n, _)| Some(n.as_str()) == d["host"].as_str()).map(|(_, e)| e.clone());
        let left: Vec<String> = hosts.iter().flat_map(|(_, e)| leftovers(e, id)).collect();
        if d["status"] == "running" {
            let endpoint = endpoint.expect("a running deployment has a host");
            let filter = format!("label=io.wharf.deployment={id}");
            let names: Vec<String> =
                docker(&endpoint, &["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]).lines().map(str::to_string).collect();
            let unique: BTreeSet<&String> = names.iter().collect();
            assert_eq!(names.len(), 3, "{id}: exactly a, b-0, b-1: {names:?}");
            assert_eq!(unique.len(), 3);
            let running = docker(&endpoint, &["ps", "--filter", &filter, "-q"]).lines().count();
            assert_eq!(running, 3, "{id}: all running");
            assert_eq!(left.iter().filter(|l| l.starts_with("network")).count(), 1, "{id}: one network: {left:?}");
            assert_eq!(left.iter().filter(|l| l.starts_with("volume")).count(), 1, "{id}: one volume: {left:?}");
            assert_eq!(d["resources"].as_array().unwrap().len(), 3);
        } else {
            assert!(!d["error"].as_str().unwrap_or_default().is_empty(), "{d}");
            assert_eq!(left, Vec::<String>::new(), "{id} failed and left things behind");
        }
    }
    assert!(finals.iter().any(|d| d["status"] == "running"), "recovery provisions: {finals:?}");

    app.destroy_all(&admin, &ids, &hosts).await;
    drop(second);
}
