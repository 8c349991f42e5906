//! The engine under faults, proven by injecting them into real `wharf serve` processes (built
//! with the `failpoints` feature) on real databases and Docker engines:
//! - a SIGKILL at every fail point of provisioning and destroying, then a restart;
//! - a worker frozen (SIGSTOP) past its lease while a second process takes the job over;
//! - a host removed (with force) in the middle of a job;
//! - a panic in a step; SIGTERM while a job runs (the job is handed back at once);
//! - two replicas on PostgreSQL submitting 20 requests each against one quota, and placing
//!   6 deployments at once on a host that takes 3;
//! - the Docker daemon killed (SIGKILL) during a pull and during a health wait, then started
//!   again (the suite's own daemon); PostgreSQL restarted under load (the suite's own cluster);
//! - retry + retry and retry + destroy raced on one deployment;
//! - a container that exits 100 ms after it started, then destroy.
//!
//! After each: the deployment and its request reach a final state, no job is left running, no
//! object is duplicated, none is orphaned, and quota is held exactly by live deployments. The
//! matrix runs on SQLite, a sample on PostgreSQL; the table and the closing line go to the test
//! output and to `$WHARF_TEST_TMP/faults.md` (scripts/test prints it).
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::fixture;
use crate::fixtures::blueprint;
use crate::helpers::{
    ADMIN_PASSWORD, Api, Db, Served, TestApp, docker, docker_hosts, env, eventually, fresh_database, fresh_pg_database, password_of, serve,
    test_image,
};

/// Every fail point of the provision and destroy steps.
const PROVISION_POINTS: [&str; 8] = [
    "provision.start",
    "provision.placed",
    "provision.pulled",
    "provision.network",
    "provision.volume",
    "provision.container_created",
    "provision.container_started",
    "provision.before_running",
];
const DESTROY_POINTS: [&str; 5] =
    ["destroy.start", "destroy.containers_removed", "destroy.networks_removed", "destroy.volumes_removed", "destroy.before_destroyed"];
/// The sample run on PostgreSQL as well.
const PG_SAMPLE: [&str; 3] = ["provision.network", "provision.container_started", "destroy.containers_removed"];

/// What one injected fault came to.
#[derive(Debug, Clone, Default)]
struct Outcome {
    fault: String,
    db: &'static str,
    result: String,
    lost: usize,
    duplicated: usize,
    orphaned: usize,
    stuck: usize,
    notes: Vec<String>,
}

impl Outcome {
    fn new(fault: impl Into<String>, db: Db) -> Self {
        Self { fault: fault.into(), db: if db == Db::Sqlite { "sqlite" } else { "postgres" }, ..Default::default() }
    }
    fn clean(&self) -> bool {
        self.lost + self.duplicated + self.orphaned + self.stuck == 0
    }
}

fn envs(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("WHARF_DATABASE_URL", url.to_string()),
        ("WHARF_ADMIN_PASSWORD", ADMIN_PASSWORD.to_string()),
        ("WHARF_CATALOG_DIR", "/nonexistent/wharf-test-catalog".into()),
        ("WHARF_HOSTS__REGISTER_LOCAL", "false".into()),
        ("WHARF_HOSTS__HEALTH_INTERVAL_SECS", "1".into()),
        ("WHARF_ENGINE__LEASE_SECS", "3".into()),
        ("WHARF_ENGINE__RECONCILE_INTERVAL_SECS", "2".into()),
        ("WHARF_ENGINE__COLLECT_INTERVAL_SECS", "2".into()),
        ("WHARF_ENGINE__ORPHAN_GRACE_SECS", "4".into()),
        ("WHARF_ENGINE__SHUTDOWN_GRACE_SECS", "1".into()),
        ("WHARF_ENGINE__STOP_TIMEOUT_SECS", "1".into()),
        ("WHARF_ENGINE__PULL_RETRY_MS", "50".into()),
        ("WHARF_ENGINE__NETWORK_POOL", "1".into()),
    ]
}

/// Starts `wharf serve` on `url` (off the async threads: starting waits for the process).
async fn start(url: &str, failpoints: Option<&str>) -> Served {
    start_with(url, failpoints, &[]).await
}

/// The same, with more settings.
async fn start_with(url: &str, failpoints: Option<&str>, more: &[(&'static str, &str)]) -> Served {
    let mut e = envs(url);
    if let Some(f) = failpoints {
        e.push(("WHARF_TEST_FAILPOINTS", f.to_string()));
    }
    e.extend(more.iter().map(|(k, v)| (*k, v.to_string())));
    tokio::task::spawn_blocking(move || {
        let borrowed: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        serve(&["serve"], &borrowed)
    })
    .await
    .expect("wharf started")
}

/// The `faults` blueprint: `a` (a volume, a health check that passes `ready_after` seconds
/// after it started; its image `a_image`, the test image by default), and `b` twice, on one network.
fn faults_blueprint(a_image: Option<&str>, ready_after: u32) -> String {
    let image = test_image();
    let ready_after = ready_after.to_string();
    blueprint(fixture!("blueprints/faults.yaml"), &[("a_image", a_image.unwrap_or(&image)), ("ready_after", &ready_after)])
}

/// One organisation: test host h1 only, the `faults` blueprint as a catalog item, `team-f`
/// with a quota and `dev` entitled to it (with destroy and retry). Returns (admin, dev, host endpoint).
async fn organise(app: &TestApp, bp: &str, quota_containers: i64) -> (Api, Api, String) {
    organise_on(app, bp, quota_containers, json!({"endpoint": docker_hosts()[0]})).await
}

/// The same with the host `host` (its registration body, less the name).
async fn organise_on(app: &TestApp, bp: &str, quota_containers: i64, mut host: Value) -> (Api, Api, String) {
    let admin = app.admin().await;
    host["name"] = json!("h1");
    let endpoint = host["endpoint"].as_str().expect("an endpoint").to_string();
    let res = admin.register_host(&host).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = serde_yaml_id(bp);
    assert_eq!(admin.publish_blueprint(bp).await.status(), StatusCode::CREATED);
    let res = admin
        .create_catalog_item(
            &json!({"id": id, "name": id, "category": "Tests", "blueprint": id, "lease": {"default_days": 1, "max_days": 3}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    assert_eq!(admin.create_group(&json!({"name": "team-f"})).await.status(), StatusCode::CREATED);
    assert_eq!(admin.create_user(&json!({"username": "dev", "password": password_of("dev")})).await.status(), StatusCode::CREATED);
    assert_eq!(admin.set_member("team-f", "dev", "member").await.status(), StatusCode::OK);
    let res = admin.create_entitlement(&json!({"group": "team-f", "catalog_items": [id], "actions": ["destroy"]})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(admin.set_quota("team-f", &json!({"max_containers": quota_containers})).await.status(), StatusCode::OK);
    eventually(20, "h1 to be up", || async { (admin.get_host_ok("h1").await["status"] == "up").then_some(()) }).await;
    let dev = app.api_as("dev", &password_of("dev")).await;
    (admin, dev, endpoint)
}

fn serde_yaml_id(bp: &str) -> String {
    bp.lines().find_map(|l| l.strip_prefix("id: ")).expect("an id line").trim().to_string()
}

async fn submit(dev: &Api, item: &str) -> String {
    let res = dev.submit_request(&json!({"catalog_item": item, "group": "team-f", "inputs": {}})).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

/// Waits for the process to die (the fail point killed it); `false` if it did not within `secs`.
async fn died(s: &mut Served, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = s.child.try_wait() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn wait_request(api: &Api, id: &str, secs: u64) -> Option<Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        let r = api.get_request_ok(id).await;
        if matches!(r["status"].as_str(), Some("succeeded" | "failed")) {
            return Some(r);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

async fn wait_deployment(api: &Api, id: &str, states: &[&str], secs: u64) -> Option<Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        let d = api.get_deployment_ok(id).await;
        if states.contains(&d["status"].as_str().unwrap_or_default()) {
            return Some(d);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Objects on the host labelled with `deployment` (and the pool network its containers joined):
/// (containers by component-replica, networks, volumes).
fn objects(endpoint: &str, deployment: &str) -> (BTreeMap<String, usize>, usize, usize) {
    let filter = format!("label=io.wharf.deployment={deployment}");
    let mut containers = BTreeMap::new();
    let fmt = "{{.Label \"io.wharf.component\"}}-{{.Label \"io.wharf.replica\"}}";
    for line in docker(endpoint, &["ps", "-a", "--filter", &filter, "--format", fmt]).lines().filter(|l| !l.is_empty()) {
        *containers.entry(line.to_string()).or_insert(0) += 1;
    }
    let networks = crate::helpers::deployment_networks(endpoint, deployment).len();
    let volumes = docker(endpoint, &["volume", "ls", "-q", "--filter", &filter]).lines().filter(|l| !l.is_empty()).count();
    (containers, networks, volumes)
}

/// Checks the invariants for one deployment (of the `faults` blueprint: a, b-0, b-1, one
/// network, one volume) and its request, and counts what breaks them.
async fn check(out: &mut Outcome, url: &str, api: &Api, endpoint: &str, request: &str, deployment: &str, expect_live: bool) {
    let db = Database::connect(url).await.unwrap();
    let d = api.get_deployment_ok(deployment).await;
    let status = d["status"].as_str().unwrap_or_default().to_string();
    let (containers, networks, volumes) = objects(endpoint, deployment);
    let live = matches!(status.as_str(), "running" | "stopped" | "drifted");
    if expect_live != live {
        out.notes.push(format!("deployment is {status}: {}", d["error"]));
    }
    if live {
        let dup = containers.values().filter(|n| **n > 1).count() + networks.saturating_sub(1) + volumes.saturating_sub(1);
        out.duplicated += dup;
        if containers.len() != 3 || networks != 1 || volumes != 1 {
            out.lost += 1;
            out.notes.push(format!("a running deployment has {containers:?}, {networks} network(s), {volumes} volume(s)"));
        }
    } else {
        // Failed or destroyed: nothing of it may be left (the collector takes what cleanup missed).
        let left = eventually_count(endpoint, deployment, 20).await;
        out.orphaned += left;
    }
    // The pool's networks: each waits in the pool or is a live deployment's; any other is
    // orphaned (a claim lost, a destruction that left it behind).
    out.orphaned += eventually_no_stray_pool_networks(&db, endpoint, 20).await;
    // No job left running or queued for it.
    let stuck =
        scalar(&db, &format!("SELECT COUNT(*) FROM jobs WHERE deployment_id = '{deployment}' AND status IN ('running', 'queued')")).await;
    out.stuck += stuck as usize;
    // Its request: final, and holding quota exactly while the deployment is live.
    let r = api.get_request_ok(request).await;
    let holds = scalar(
        &db,
        &format!("SELECT COUNT(*) FROM requests WHERE id = '{request}' AND holds_quota = {}", if live { "true" } else { "false" }),
    )
    .await;
    if !matches!(r["status"].as_str(), Some("succeeded" | "failed")) || holds != 1 {
        out.lost += 1;
        out.notes.push(format!("request is {}, and does not hold quota exactly while its deployment is live (live: {live})", r["status"]));
    }
    out.result = status;
    db.close().await.ok();
}

/// Objects of a deployment still on the host after `secs` (0 when all went).
async fn eventually_count(endpoint: &str, deployment: &str, secs: u64) -> usize {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (c, n, v) = objects(endpoint, deployment);
        let left = c.values().sum::<usize>() + n + v;
        if left == 0 || Instant::now() > deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Pool networks of this installation on the host that neither wait in the pool (an unclaimed
/// row) nor belong to a deployment that still owns them (not destroyed; failed only while a
/// job may retry it), once they stop changing (or after `secs`).
async fn eventually_no_stray_pool_networks(db: &DatabaseConnection, endpoint: &str, secs: u64) -> usize {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), "SELECT value FROM settings WHERE key = 'instance_id'"))
        .await
        .unwrap()
        .expect("the installation's id");
    let instance: String = row.try_get_by_index(0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let mine = format!("label=io.wharf.instance={instance}");
        let listed =
            docker(endpoint, &["network", "ls", "--filter", "label=io.wharf.pool=true", "--filter", &mine, "--format", "{{.Name}}"]);
        let mut stray = 0;
        for name in listed.lines().filter(|l| !l.is_empty()) {
            let kept = scalar(
                db,
                &format!(
                    "SELECT COUNT(*) FROM pool_networks p LEFT JOIN deployments d ON d.id = p.deployment_id \
                     WHERE p.name = '{name}' AND (p.deployment_id IS NULL OR (d.status <> 'destroyed' AND (d.status <> 'failed' \
                     OR EXISTS (SELECT 1 FROM jobs j WHERE j.deployment_id = d.id AND j.status IN ('queued', 'running')))))"
                ),
            )
            .await;
            if kept == 0 {
                stray += 1;
            }
        }
        if stray == 0 || Instant::now() > deadline {
            return stray;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// SIGKILL at `point`, then a restart on the same database.
async fn crash_at(db: Db, point: &'static str) -> Outcome {
    let mut out = Outcome::new(format!("kill at {point}"), db);
    let url = fresh_database(db).await;
    let bp = faults_blueprint(None, 0);
    let mut first = start(&url, Some(&format!("{point}=kill"))).await;
    let app = first.app();
    let (admin, dev, endpoint) = organise(&app, &bp, 20).await;
    let destroying = point.starts_with("destroy.");
    // A provisioning fail point may kill the process before it has answered the submission
    // (the job can start within milliseconds): then the request is found after the restart.
    let request = if destroying {
        Some(submit(&dev, "faults").await)
    } else {
        let body = json!({"catalog_item": "faults", "group": "team-f", "inputs": {}});
        match dev.try_post("/api/v1/requests", &body).await {
            Ok(res) if res.status() == StatusCode::CREATED => {
                res.json::<Value>().await.ok().and_then(|v| v["id"].as_str().map(str::to_string))
            }
            _ => None,
        }
    };
    let deployment = if destroying {
        let request = request.clone().expect("submitted");
        let Some(r) = wait_request(&dev, &request, 120).await else {
            out.lost += 1;
            return out;
        };
        let id = r["deployment_id"].as_str().unwrap().to_string();
        wait_deployment(&admin, &id, &["running"], 60).await;
        // The process may die before it answers: the call runs in a task of its own, whose
        // failure is expected.
        let caller = app.api_as("dev", &password_of("dev")).await;
        let target = id.clone();
        let _ = tokio::spawn(async move { caller.deployment_action(&target, "destroy").await.status() }).await;
        Some(id)
    } else {
        // The process may die before the test sees the deployment: it is read after the restart.
        None
    };
    if !died(&mut first, 60).await {
        out.notes.push("the fail point was not reached".into());
        out.lost += 1;
        return out;
    }
    drop(first);
    let second = start(&url, None).await;
    let app = second.app();
    let admin = app.admin().await;
    let dev = app.api_as("dev", &password_of("dev")).await;
    let request = match request {
        Some(id) => id,
        None => {
            eventually(30, "the submitted request", || async {
                dev.list_requests_ok("").await.as_array().and_then(|a| a.first()).and_then(|r| r["id"].as_str().map(str::to_string))
            })
            .await
        }
    };
    let deployment = match deployment {
        Some(id) => id,
        None => {
            eventually(60, "the request's deployment", || async {
                dev.get_request_ok(&request).await["deployment_id"].as_str().map(str::to_string)
            })
            .await
        }
    };
    let finals: &[&str] = if destroying { &["destroyed", "failed"] } else { &["running", "failed"] };
    if wait_deployment(&admin, &deployment, finals, 120).await.is_none() {
        out.lost += 1;
        out.notes.push("no final state".into());
    }
    if wait_request(&dev, &request, 30).await.is_none() {
        out.lost += 1;
    }
    // Let the request scheduler settle the quota.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    check(&mut out, &url, &admin, &endpoint, &request, &deployment, !destroying).await;
    if !destroying && out.result == "running" {
        // Leave the host clean for the other tests.
        dev.deployment_action(&deployment, "destroy").await;
        wait_deployment(&admin, &deployment, &["destroyed"], 60).await;
    }
    drop(second);
    out
}

/// A panic in a step: the job fails with a clear error, what it made is removed, nothing is
/// left running, and the request fails and frees its quota.
async fn panic_at(db: Db, point: &'static str) -> Outcome {
    let mut out = Outcome::new(format!("panic at {point}"), db);
    let url = fresh_database(db).await;
    let bp = faults_blueprint(None, 0);
    let server = start(&url, Some(&format!("{point}=panic"))).await;
    let app = server.app();
    let (admin, dev, endpoint) = organise(&app, &bp, 20).await;
    let request = submit(&dev, "faults").await;
    let Some(r) = wait_request(&dev, &request, 60).await else {
        out.lost += 1;
        return out;
    };
    let deployment = r["deployment_id"].as_str().unwrap_or_default().to_string();
    if !r["error"].as_str().unwrap_or_default().contains("stopped unexpectedly") {
        out.notes.push(format!("the error does not say what happened: {}", r["error"]));
        out.lost += 1;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    check(&mut out, &url, &admin, &endpoint, &request, &deployment, false).await;
    drop(server);
    out
}

/// SIGTERM while a job runs (a rolling restart): the process hands the job back at once and
/// exits; a second process finishes it.
async fn graceful_stop(db: Db) -> Outcome {
    let mut out = Outcome::new("SIGTERM during a job", db);
    let url = fresh_database(db).await;
    let bp = faults_blueprint(None, 0);
    let mut first = start(&url, Some("provision.container_started=sleep:30000")).await;
    let app = first.app();
    let (_, dev, endpoint) = organise(&app, &bp, 20).await;
    let request = submit(&dev, "faults").await;
    let db_conn = Database::connect(url.as_str()).await.unwrap();
    eventually(60, "a container to start", || async {
        let n = scalar(&db_conn, "SELECT COUNT(*) FROM deployment_resources WHERE kind = 'container'").await;
        (n > 0).then_some(())
    })
    .await;
    std::process::Command::new("kill").args(["-TERM", &first.child.id().to_string()]).status().unwrap();
    if !died(&mut first, 20).await {
        out.notes.push("the process did not stop within 20 s".into());
        out.stuck += 1;
    }
    // Handed back: queued, no owner, before any lease ran out.
    let queued = scalar(&db_conn, "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND lease_owner IS NULL").await;
    if queued != 1 {
        out.notes.push(format!("{queued} job(s) handed back"));
        out.stuck += 1;
    }
    drop(first);
    let second = start(&url, None).await;
    let app = second.app();
    let admin = app.admin().await;
    let dev = app.api_as("dev", &password_of("dev")).await;
    let deployment = eventually(30, "the request's deployment", || async {
        dev.get_request_ok(&request).await["deployment_id"].as_str().map(str::to_string)
    })
    .await;
    if wait_deployment(&admin, &deployment, &["running"], 60).await.is_none() {
        out.lost += 1;
    }
    wait_request(&dev, &request, 30).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    check(&mut out, &url, &admin, &endpoint, &request, &deployment, true).await;
    dev.deployment_action(&deployment, "destroy").await;
    wait_deployment(&admin, &deployment, &["destroyed"], 60).await;
    drop(second);
    out
}

/// The worker is frozen (SIGSTOP) past its lease after placing the deployment; a second process
/// takes the job over and provisions; the first, woken, writes nothing and removes nothing.
async fn frozen_worker(db: Db) -> Outcome {
    let mut out = Outcome::new("worker frozen past its lease", db);
    let url = fresh_database(db).await;
    let bp = faults_blueprint(None, 0);
    let first = start(&url, Some("provision.placed=stop")).await;
    let app = first.app();
    let (_, dev, endpoint) = organise(&app, &bp, 20).await;
    let request = submit(&dev, "faults").await;
    // From here on the first process may be frozen: nothing asks it anything.
    let pid = first.child.id().to_string();
    eventually(60, "the first process to freeze", || async {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        state.split_whitespace().nth(2).filter(|s| *s == "T").map(|_| ())
    })
    .await;
    let second = start(&url, None).await;
    let app2 = second.app();
    let admin2 = app2.admin().await;
    let dev = app2.api_as("dev", &password_of("dev")).await;
    let deployment = eventually(60, "the request's deployment", || async {
        dev.get_request_ok(&request).await["deployment_id"].as_str().map(str::to_string)
    })
    .await;
    if wait_deployment(&admin2, &deployment, &["running"], 120).await.is_none() {
        out.lost += 1;
    }
    let before = admin2.get_deployment_ok(&deployment).await;
    // Wake the first process: it must see its lease is gone and touch nothing.
    std::process::Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = admin2.get_deployment_ok(&deployment).await;
    if before["status"] != after["status"] || before["updated_at"] != after["updated_at"] || before["resources"] != after["resources"] {
        out.duplicated += 1;
        out.notes.push(format!("the woken worker changed the deployment: {} -> {}", before["status"], after["status"]));
    }
    wait_request(&dev, &request, 30).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    check(&mut out, &url, &admin2, &endpoint, &request, &deployment, true).await;
    admin2.deployment_action(&deployment, "destroy").await;
    wait_deployment(&admin2, &deployment, &["destroyed"], 60).await;
    drop(first);
    drop(second);
    out
}

/// The host is removed (with force) while a job provisions on it: the deployment is orphaned,
/// its containers are named, the job stops, and the request releases its quota.
async fn host_removed_mid_job(db: Db) -> Outcome {
    let mut out = Outcome::new("host removed mid-job", db);
    let url = fresh_database(db).await;
    let bp = faults_blueprint(None, 0);
    let server = start(&url, Some("provision.container_started=sleep:3000")).await;
    let app = server.app();
    let (admin, dev, endpoint) = organise(&app, &bp, 20).await;
    let request = submit(&dev, "faults").await;
    let deployment = eventually(60, "a container to exist", || async {
        let r = dev.get_request_ok(&request).await;
        let id = r["deployment_id"].as_str()?.to_string();
        let d = admin.get_deployment_ok(&id).await;
        (!d["resources"].as_array()?.is_empty()).then_some(id)
    })
    .await;
    let res = admin.delete("/api/v1/hosts/h1?force=true").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let d = wait_deployment(&admin, &deployment, &["orphaned"], 10).await;
    // The job wakes from its pause, finds the deployment orphaned at its next fenced write and
    // stops; on a loaded machine that may take a few seconds. A job still open after 30 s is stuck.
    let db_conn = Database::connect(url.as_str()).await.unwrap();
    let open_jobs = format!("SELECT COUNT(*) FROM jobs WHERE deployment_id = '{deployment}' AND status IN ('running', 'queued')");
    let deadline = Instant::now() + Duration::from_secs(30);
    while scalar(&db_conn, &open_jobs).await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    out.stuck += scalar(&db_conn, &open_jobs).await as usize;
    let d2 = admin.get_deployment_ok(&deployment).await;
    match d {
        Some(d) if d2["status"] == "orphaned" => {
            if !d["error"].as_str().unwrap_or_default().contains("wharf-") {
                out.notes.push(format!("the orphaned deployment does not name its containers: {}", d["error"]));
                out.lost += 1;
            }
        }
        _ => {
            out.lost += 1;
            out.notes.push(format!("deployment is {}", d2["status"]));
        }
    }
    eventually(20, "the request to release its quota", || async {
        let held = scalar(&db_conn, &format!("SELECT COUNT(*) FROM requests WHERE id = '{request}' AND holds_quota = true")).await;
        (held == 0).then_some(())
    })
    .await;
    out.result = d2["status"].as_str().unwrap_or_default().to_string();
    // The containers left on the (no longer registered) host are the test's to remove.
    let filter = format!("label=io.wharf.deployment={deployment}");
    for id in docker(&endpoint, &["ps", "-aq", "--filter", &filter]).lines().filter(|l| !l.is_empty()) {
        docker(&endpoint, &["rm", "-f", id]);
    }
    for id in docker(&endpoint, &["network", "ls", "-q", "--filter", &filter]).lines().filter(|l| !l.is_empty()) {
        docker(&endpoint, &["network", "rm", id]);
    }
    for id in docker(&endpoint, &["volume", "ls", "-q", "--filter", &filter]).lines().filter(|l| !l.is_empty()) {
        docker(&endpoint, &["volume", "rm", id]);
    }
    drop(server);
    out
}

/// Retry + retry, then retry + destroy, each pair sent at once to a failed deployment: one of
/// each pair is accepted (a day-2 request), the other refused (one action at a time), and one
/// job runs.
async fn raced_actions(db: Db) -> Outcome {
    let mut out = Outcome::new("retry+retry, retry+destroy raced", db);
    let url = fresh_database(db).await;
    // An image that is nowhere: provisioning fails quickly (the refused pull is tried again
    // after 50, 100 and 200 ms here).
    let bp = blueprint(fixture!("blueprints/broken-image.yaml"), &[]);
    let server = start(&url, None).await;
    let app = server.app();
    let (admin, dev, endpoint) = organise(&app, &bp, 20).await;
    let item = serde_yaml_id(&bp);
    let request = submit(&dev, &item).await;
    let deployment = eventually(60, "the request's deployment", || async {
        dev.get_request_ok(&request).await["deployment_id"].as_str().map(str::to_string)
    })
    .await;
    wait_deployment(&admin, &deployment, &["failed"], 60).await.expect("failed");
    let db_conn = Database::connect(url.as_str()).await.unwrap();
    for pair in [["retry", "retry"], ["retry", "destroy"]] {
        wait_deployment(&admin, &deployment, &["failed"], 60).await;
        let jobs_before = scalar(&db_conn, &format!("SELECT COUNT(*) FROM jobs WHERE deployment_id = '{deployment}'")).await;
        let (a, b) = tokio::join!(admin.deployment_action(&deployment, pair[0]), admin.deployment_action(&deployment, pair[1]));
        let codes = [a.status(), b.status()];
        let accepted = codes.iter().filter(|c| **c == StatusCode::ACCEPTED).count();
        // The accepted one is a day-2 request: its job is queued when the scheduler starts it.
        let mut ids = Vec::new();
        for res in [a, b] {
            if res.status() == StatusCode::ACCEPTED {
                ids.extend(res.json::<Value>().await.ok().and_then(|r| r["id"].as_str().map(str::to_string)));
            }
        }
        for id in &ids {
            eventually(90, "the accepted action to end", || async {
                ["succeeded", "failed"].contains(&admin.get_request_ok(id).await["status"].as_str().unwrap_or_default()).then_some(())
            })
            .await;
        }
        let jobs_after = scalar(&db_conn, &format!("SELECT COUNT(*) FROM jobs WHERE deployment_id = '{deployment}'")).await;
        if accepted != 1 || jobs_after - jobs_before != 1 {
            out.duplicated += 1;
            out.notes.push(format!("{pair:?}: answers {codes:?}, {} new job(s)", jobs_after - jobs_before));
        }
    }
    let d = wait_deployment(&admin, &deployment, &["failed", "destroyed"], 60).await;
    if d.is_none() {
        out.lost += 1;
    }
    if let Some(d) = wait_deployment(&admin, &deployment, &["failed"], 1).await {
        let _ = d;
        admin.deployment_action(&deployment, "destroy").await;
    }
    wait_deployment(&admin, &deployment, &["destroyed"], 60).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    check(&mut out, &url, &admin, &endpoint, &request, &deployment, false).await;
    drop(server);
    out
}

/// A container that exits 100 ms after it started: the request follows its deployment to
/// the end (succeeded, then released when destroyed) whatever the scheduler saw first.
async fn exits_right_after_start(db: Db) -> Outcome {
    let mut out = Outcome::new("container exits 100 ms after start, then destroy", db);
    let url = fresh_database(db).await;
    let bp = blueprint(fixture!("blueprints/blink.yaml"), &[]);
    let server = start(&url, None).await;
    let app = server.app();
    let (admin, dev, endpoint) = organise(&app, &bp, 20).await;
    let request = submit(&dev, "blink").await;
    let deployment = eventually(60, "the request's deployment", || async {
        dev.get_request_ok(&request).await["deployment_id"].as_str().map(str::to_string)
    })
    .await;
    let d = wait_deployment(&admin, &deployment, &["running", "stopped", "drifted", "failed"], 60).await;
    if let Some(d) = d.filter(|d| d["status"] != "failed") {
        let _ = d;
        assert_eq!(dev.deployment_action(&deployment, "destroy").await.status(), StatusCode::ACCEPTED);
    }
    wait_deployment(&admin, &deployment, &["destroyed", "failed"], 60).await;
    let db_conn = Database::connect(url.as_str()).await.unwrap();
    let released = eventually(20, "the request to settle", || async {
        let r = dev.get_request_ok(&request).await;
        let held = scalar(&db_conn, &format!("SELECT COUNT(*) FROM requests WHERE id = '{request}' AND holds_quota = true")).await;
        (matches!(r["status"].as_str(), Some("succeeded" | "failed")) && held == 0).then_some(r)
    })
    .await;
    out.result = format!("request {}", released["status"]);
    out.stuck +=
        scalar(&db_conn, &format!("SELECT COUNT(*) FROM jobs WHERE deployment_id = '{deployment}' AND status IN ('running', 'queued')"))
            .await as usize;
    out.orphaned += eventually_count(&endpoint, &deployment, 10).await;
    drop(server);
    out
}

/// Two replicas on PostgreSQL, 20 requests each at once against one quota of 7 containers:
/// exactly 7 pass, whichever replica took them (the cross-replica path, not an in-process lock).
async fn two_replicas_one_quota() -> Outcome {
    let mut out = Outcome::new("2 replicas x 20 requests, one quota", Db::Postgres);
    let url = fresh_database(Db::Postgres).await;
    let bp = blueprint(fixture!("blueprints/sleep.yaml"), &[("id", "one-box"), ("name", "One box")]);
    let a = start(&url, None).await;
    let app_a = a.app();
    let (admin, _, _) = organise(&app_a, &bp, 7).await;
    // Held requests are enough to test the quota: nothing needs to run.
    let res = admin.create_approval_policy(&json!({"name": "hold", "levels": [{"approvers": {"admins": true}, "mode": "any"}]})).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    let b = start(&url, None).await;
    let app_b = b.app();
    let dev_a = app_a.api_as("dev", &password_of("dev")).await;
    let dev_b = app_b.api_as("dev", &password_of("dev")).await;
    let body = json!({"catalog_item": "one-box", "group": "team-f", "inputs": {}});
    let (dev_a, dev_b, body) = (&dev_a, &dev_b, &body);
    let calls = (0..40).map(|i| async move {
        let api = if i % 2 == 0 { dev_a } else { dev_b };
        api.submit_request(body).await.status()
    });
    let codes: Vec<StatusCode> = futures_util::stream::iter(calls).buffer_unordered(40).collect().await;
    let created = codes.iter().filter(|c| **c == StatusCode::CREATED).count();
    let refused = codes.iter().filter(|c| **c == StatusCode::CONFLICT).count();
    if created != 7 || refused != 33 {
        out.duplicated += created.saturating_sub(7);
        out.lost += 7usize.saturating_sub(created);
        out.notes.push(format!("{created} created, {refused} refused: {codes:?}"));
    }
    out.result = format!("{created} of 40 accepted");
    drop(a);
    drop(b);
    out
}

/// After a fault: the request's deployment reaches a final state (within `secs`), the
/// invariants are checked, and a running deployment is destroyed to leave the host clean.
async fn settle(out: &mut Outcome, url: &str, app: &TestApp, endpoint: &str, request: &str, secs: u64, expect: &str) {
    let admin = app.admin().await;
    let dev = app.api_as("dev", &password_of("dev")).await;
    let deployment = eventually(60, "the request's deployment", || async {
        dev.get_request_ok(request).await["deployment_id"].as_str().map(str::to_string)
    })
    .await;
    let Some(d) = wait_deployment(&admin, &deployment, &["running", "failed"], secs).await else {
        out.lost += 1;
        out.notes.push("no final state".into());
        return;
    };
    if d["status"] == "failed" {
        out.notes.push(format!("failed: {}", d["error"]));
    }
    if d["status"] != expect {
        out.lost += 1;
        out.notes.push(format!("expected {expect}"));
    }
    if wait_request(&dev, request, 30).await.is_none() {
        out.lost += 1;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    check(out, url, &admin, endpoint, request, &deployment, d["status"] == "running").await;
    if d["status"] == "running" {
        dev.deployment_action(&deployment, "destroy").await;
        if wait_deployment(&admin, &deployment, &["destroyed"], 60).await.is_none() {
            out.stuck += 1;
            out.notes.push("the destroy did not finish".into());
        }
        out.orphaned += eventually_count(endpoint, &deployment, 10).await;
    }
}

/// The fault suite's own Docker daemon (scripts/test starts it: `WHARF_TEST_FAULT_DOCKER`),
/// which scenarios kill and start again, one scenario at a time.
struct FaultDaemon {
    endpoint: String,
    dir: std::path::PathBuf,
}

static FAULT_DAEMON: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl FaultDaemon {
    fn new() -> Self {
        Self { endpoint: env("WHARF_TEST_FAULT_DOCKER"), dir: env("WHARF_TEST_FAULT_DOCKER_DIR").into() }
    }

    fn host(&self) -> Value {
        json!({"endpoint": self.endpoint, "publish_address": "127.0.0.3"})
    }

    /// SIGKILL, as a crash or the OOM killer would: no clean-up of any kind.
    /// Its containerd goes with it (dockerd started it, with a death signal).
    async fn kill(&self) {
        let pid_file = self.dir.join("pid");
        let pid = std::fs::read_to_string(&pid_file).expect("the daemon's pid file").trim().to_string();
        std::process::Command::new("kill").args(["-KILL", &pid]).status().expect("kill");
        // Their pid files would stop the next start: a dead process may stay a zombie here
        // (nothing reaps orphans), and a zombie still looks alive to dockerd.
        let containerd_pid_file = self.dir.join("exec/containerd/containerd.pid");
        let containerd = std::fs::read_to_string(&containerd_pid_file).unwrap_or_default().trim().to_string();
        for (what, pid, file) in [("dockerd", pid, pid_file), ("containerd", containerd, containerd_pid_file)] {
            if pid.is_empty() {
                continue;
            }
            eventually(20, &format!("{what} to die"), || async {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                matches!(stat.split_whitespace().nth(2), None | Some("Z")).then_some(())
            })
            .await;
            std::fs::remove_file(file).ok();
        }
    }

    /// Starts it again, as it was (the script scripts/test wrote), and waits until it answers.
    async fn start(&self) {
        let script = self.dir.join("start");
        let ok = tokio::task::spawn_blocking(move || std::process::Command::new("bash").arg(script).status())
            .await
            .expect("the start script ran")
            .expect("bash");
        assert!(ok.success(), "the fault daemon did not start again");
    }
}

/// dockerd killed (SIGKILL) while it pulls an image for a job, then started again. The pull
/// goes to a registry that takes the connection and never answers; by the time the engine is
/// back the image is there (as if the pull had finished): the job's next try finds it and the
/// deployment runs.
async fn daemon_killed_during_pull() -> Outcome {
    let _one = FAULT_DAEMON.lock().await;
    let mut out = Outcome::new("dockerd killed during a pull, then started", Db::Sqlite);
    let daemon = FaultDaemon::new();
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let port = hole.local_addr().expect("its address").port();
    let (tx, mut pulling) = tokio::sync::mpsc::unbounded_channel();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hole.accept().await {
            held.push(socket);
            let _ = tx.send(());
        }
    });
    let image = format!("127.0.0.1:{port}/wharf-test/pulled:1");
    let url = fresh_database(Db::Sqlite).await;
    let server = start_with(&url, None, &[("WHARF_ENGINE__PULL_TIMEOUT_SECS", "10")]).await;
    let app = server.app();
    let (_, dev, endpoint) = organise_on(&app, &faults_blueprint(Some(&image), 0), 20, daemon.host()).await;
    let request = submit(&dev, "faults").await;
    if tokio::time::timeout(Duration::from_secs(60), pulling.recv()).await.is_err() {
        out.lost += 1;
        out.notes.push("the engine never pulled".into());
        return out;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    daemon.kill().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    daemon.start().await;
    docker(&endpoint, &["tag", &test_image(), &image]);
    settle(&mut out, &url, &app, &endpoint, &request, 120, "running").await;
    docker(&endpoint, &["rmi", &image]);
    holder.abort();
    out
}

/// dockerd killed while the job waits for a health check, then started again: the job's
/// reads are retried while the engine is away; the restarted engine reports the containers it
/// lost as exited, so the deployment fails, and its cleanup (or the collector) leaves nothing.
async fn daemon_killed_during_health_wait() -> Outcome {
    let _one = FAULT_DAEMON.lock().await;
    let mut out = Outcome::new("dockerd killed during a health wait, then started", Db::Sqlite);
    let daemon = FaultDaemon::new();
    let url = fresh_database(Db::Sqlite).await;
    let server = start(&url, None).await;
    let app = server.app();
    let (_, dev, endpoint) = organise_on(&app, &faults_blueprint(None, 8), 20, daemon.host()).await;
    let request = submit(&dev, "faults").await;
    let deployment = eventually(60, "the request's deployment", || async {
        dev.get_request_ok(&request).await["deployment_id"].as_str().map(str::to_string)
    })
    .await;
    let filter = format!("label=io.wharf.deployment={deployment}");
    eventually(60, "component a to run (and wait for its health check)", || async {
        let ids = docker(&endpoint, &["ps", "-q", "--filter", &filter, "--filter", "label=io.wharf.component=a"]);
        (!ids.trim().is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    daemon.kill().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    daemon.start().await;
    // The engine stops the containers it loses (exit 137); the health wait sees `a` gone.
    settle(&mut out, &url, &app, &endpoint, &request, 180, "failed").await;
    out
}

/// PostgreSQL restarted while two replicas take and provision requests: every request that
/// was accepted runs (a job that lost the database is handed back, not failed), none is stuck
/// or doubled, every answer during the restart is a 201 or a 503 (never a 500), and both
/// replicas carry on.
async fn postgres_restarted_under_load() -> Outcome {
    let mut out = Outcome::new("PostgreSQL restarted under load (2 replicas)", Db::Postgres);
    let url = fresh_pg_database(&env("WHARF_TEST_FAULT_PG_URL")).await;
    let bp = blueprint(fixture!("blueprints/sleep.yaml"), &[("id", "one-box"), ("name", "One box")]);
    let a = start(&url, None).await;
    let b = start(&url, None).await;
    let (app_a, app_b) = (a.app(), b.app());
    let (admin, dev_a, endpoint) = organise(&app_a, &bp, 100).await;
    let dev_b = app_b.api_as("dev", &password_of("dev")).await;
    let body = json!({"catalog_item": "one-box", "group": "team-f", "inputs": {}});
    let submitting = async {
        let mut answers = Vec::new();
        for i in 0..24 {
            let api = if i % 2 == 0 { &dev_a } else { &dev_b };
            let res = api.submit_request(&body).await;
            let status = res.status();
            let id = res.json::<Value>().await.ok().and_then(|v| v["id"].as_str().map(str::to_string));
            answers.push((status, id));
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        answers
    };
    let restarting = async {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let script = env("WHARF_TEST_FAULT_PG_RESTART");
        tokio::task::spawn_blocking(move || std::process::Command::new("bash").arg(script).status())
            .await
            .expect("the restart script ran")
            .expect("bash")
            .success()
    };
    let (answers, restarted) = tokio::join!(submitting, restarting);
    assert!(restarted, "PostgreSQL did not restart");
    let refused = answers.iter().filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE).count();
    for (status, _) in answers.iter().filter(|(s, _)| ![StatusCode::CREATED, StatusCode::SERVICE_UNAVAILABLE].contains(s)) {
        out.lost += 1;
        out.notes.push(format!("a submission was answered {status}"));
    }
    let accepted: Vec<String> = answers.into_iter().filter_map(|(s, id)| (s == StatusCode::CREATED).then_some(id).flatten()).collect();
    let mut running = Vec::new();
    for request in &accepted {
        let Some(r) = wait_request(&admin, request, 120).await else {
            out.lost += 1;
            out.notes.push(format!("request {request} never ended"));
            continue;
        };
        let deployment = r["deployment_id"].as_str().unwrap_or_default().to_string();
        let d = admin.get_deployment_ok(&deployment).await;
        let (containers, _, _) = objects(&endpoint, &deployment);
        let live = d["status"] == "running";
        if live {
            running.push(deployment.clone());
            out.duplicated += containers.values().sum::<usize>().saturating_sub(1);
        } else {
            // A database that went away is no reason for a deployment to fail.
            out.lost += 1;
            out.notes.push(format!("{request}: {} ({})", d["status"], d["error"]));
            out.orphaned += eventually_count(&endpoint, &deployment, 20).await;
        }
    }
    let db = Database::connect(url.as_str()).await.unwrap();
    out.stuck += scalar(&db, "SELECT COUNT(*) FROM jobs WHERE status IN ('running', 'queued')").await as usize;
    let holding = scalar(&db, "SELECT COUNT(*) FROM requests WHERE holds_quota = true").await as usize;
    let made = scalar(&db, "SELECT COUNT(*) FROM requests").await as usize;
    if made != accepted.len() {
        // A submission answered with an error that nevertheless made a request: the caller
        // would submit again.
        out.lost += made.abs_diff(accepted.len());
        out.notes.push(format!("{made} request(s) made, {} answered 201", accepted.len()));
    }
    if holding != running.len() {
        out.lost += 1;
        out.notes.push(format!("{holding} request(s) hold quota, {} deployment(s) run", running.len()));
    }
    // Whatever runs goes, known to the client or not (the host is shared with other tests).
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), "SELECT id FROM deployments WHERE status = 'running'"))
        .await
        .unwrap();
    for row in rows {
        let id: String = row.try_get_by_index(0).unwrap();
        if !running.contains(&id) {
            running.push(id);
        }
    }
    for app in [&app_a, &app_b] {
        if app.api_as("dev", &password_of("dev")).await.get_request_ok(&accepted[0]).await["id"].is_null() {
            out.lost += 1;
            out.notes.push("a replica stopped answering".into());
        }
    }
    for deployment in &running {
        dev_a.deployment_action(deployment, "destroy").await;
    }
    for deployment in &running {
        wait_deployment(&admin, deployment, &["destroyed"], 60).await;
        out.orphaned += eventually_count(&endpoint, deployment, 10).await;
    }
    db.close().await.ok();
    out.result = format!("{} accepted, {refused} answered 503, {} running", accepted.len(), running.len());
    out
}

/// A host that takes at most 3 containers, and two replicas on PostgreSQL placing 6 one-container
/// deployments at once: exactly 3 run, 3 fail saying the host is full, and the host never holds more.
async fn host_capacity_two_replicas() -> Outcome {
    let mut out = Outcome::new("2 replicas x 3 placements, a host for 3", Db::Postgres);
    let url = fresh_database(Db::Postgres).await;
    let bp = blueprint(fixture!("blueprints/sleep.yaml"), &[("id", "one-box"), ("name", "One box")]);
    let a = start(&url, None).await;
    let b = start(&url, None).await;
    let (app_a, app_b) = (a.app(), b.app());
    let (admin, dev_a, endpoint) = organise_on(&app_a, &bp, 100, json!({"endpoint": docker_hosts()[0], "max_containers": 3})).await;
    let dev_b = app_b.api_as("dev", &password_of("dev")).await;
    let (dev_a, dev_b) = (&dev_a, &dev_b);
    let calls = (0..6).map(|i| async move { submit(if i % 2 == 0 { dev_a } else { dev_b }, "one-box").await });
    let requests: Vec<String> = futures_util::future::join_all(calls).await;
    let (mut running, mut full) = (Vec::new(), 0);
    for request in &requests {
        let Some(r) = wait_request(&admin, request, 120).await else {
            out.lost += 1;
            continue;
        };
        let deployment = r["deployment_id"].as_str().unwrap_or_default().to_string();
        let d = admin.get_deployment_ok(&deployment).await;
        if d["status"] == "running" {
            running.push(deployment);
        } else if d["error"].as_str().unwrap_or_default().contains("is full") {
            full += 1;
        } else {
            out.notes.push(format!("{}: {}", d["status"], d["error"]));
        }
    }
    let on_host: usize = running.iter().map(|d| objects(&endpoint, d).0.values().sum::<usize>()).sum();
    if running.len() != 3 || full != 3 || on_host != 3 {
        out.duplicated += running.len().saturating_sub(3);
        out.lost += 3usize.saturating_sub(running.len());
        out.notes.push(format!("{} running, {full} refused for room, {on_host} container(s) on the host", running.len()));
    }
    for deployment in &running {
        dev_a.deployment_action(deployment, "destroy").await;
    }
    for deployment in &running {
        wait_deployment(&admin, deployment, &["destroyed"], 60).await;
        out.orphaned += eventually_count(&endpoint, deployment, 10).await;
    }
    out.result = format!("{} of 6 placed", running.len());
    out
}

fn table(rows: &[Outcome]) -> String {
    let mut t =
        String::from("| fault | db | outcome | lost | duplicated | orphaned | stuck | notes |\n|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.fault,
            r.db,
            r.result,
            r.lost,
            r.duplicated,
            r.orphaned,
            r.stuck,
            r.notes.join("; ")
        ));
    }
    let sum = |f: fn(&Outcome) -> usize| rows.iter().map(f).sum::<usize>();
    t.push_str(&format!(
        "\n{} faults injected: {} lost, {} duplicated, {} orphaned, {} stuck\n",
        rows.len(),
        sum(|r| r.lost),
        sum(|r| r.duplicated),
        sum(|r| r.orphaned),
        sum(|r| r.stuck)
    ));
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fault_injection_matrix() {
    type Scenario = std::pin::Pin<Box<dyn std::future::Future<Output = Outcome> + Send>>;
    let mut scenarios: Vec<Scenario> = Vec::new();
    // WHARF_TEST_FAULTS=word,word runs only the scenarios whose label has one of the words
    // (while working on one; scripts/test runs them all).
    let only = std::env::var("WHARF_TEST_FAULTS").unwrap_or_default();
    let mut add = |label: &str, scenario: Scenario| {
        if only.is_empty() || only.split(',').any(|w| label.contains(w)) {
            scenarios.push(scenario);
        }
    };
    // The longest first, so that the short ones fill the slots at the end; the two that
    // restart the shared daemon apart, so that one seldom holds a slot waiting for the other.
    add("pg-restart", Box::pin(postgres_restarted_under_load()));
    add("daemon pull", Box::pin(daemon_killed_during_pull()));
    add("raced", Box::pin(raced_actions(Db::Sqlite)));
    add("raced postgres", Box::pin(raced_actions(Db::Postgres)));
    // PostgreSQL only: on SQLite a frozen process may hold the file's write lock, which stops
    // every other process on that file (SQLite serves one machine; replicas use PostgreSQL).
    add("frozen", Box::pin(frozen_worker(Db::Postgres)));
    for p in PROVISION_POINTS.iter().chain(DESTROY_POINTS.iter()) {
        add(&format!("kill {p}"), Box::pin(crash_at(Db::Sqlite, p)));
    }
    add("daemon health", Box::pin(daemon_killed_during_health_wait()));
    for p in PG_SAMPLE {
        add(&format!("kill {p} postgres"), Box::pin(crash_at(Db::Postgres, p)));
    }
    add("host-removed", Box::pin(host_removed_mid_job(Db::Sqlite)));
    add("panic", Box::pin(panic_at(Db::Sqlite, "provision.volume")));
    add("sigterm", Box::pin(graceful_stop(Db::Sqlite)));
    add("exits", Box::pin(exits_right_after_start(Db::Sqlite)));
    add("quota", Box::pin(two_replicas_one_quota()));
    add("capacity", Box::pin(host_capacity_two_replicas()));
    // Each scenario is a task of its own (its own database and processes); three at a time keep
    // the 2 cores busy without starving the timings of the leases.
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(3));
    let tasks: Vec<_> = scenarios
        .into_iter()
        .enumerate()
        .map(|(n, scenario)| {
            let slots = slots.clone();
            tokio::spawn(async move {
                let _slot = slots.acquire_owned().await.expect("semaphore");
                let started = Instant::now();
                let out = match tokio::time::timeout(Duration::from_secs(300), scenario).await {
                    Ok(out) => out,
                    Err(_) => {
                        Outcome { fault: format!("scenario {n}"), result: "timed out after 300 s".into(), stuck: 1, ..Default::default() }
                    }
                };
                eprintln!("fault {:?} on {}: {} in {:.0?}", out.fault, out.db, out.result, started.elapsed());
                out
            })
        })
        .collect();
    let mut rows = Vec::new();
    for (n, t) in tasks.into_iter().enumerate() {
        rows.push(t.await.unwrap_or_else(|e| Outcome {
            fault: format!("scenario {n}"),
            result: format!("the scenario panicked: {e}"),
            lost: 1,
            ..Default::default()
        }));
    }
    let text = table(&rows);
    println!("{text}");
    if let Some(dir) = std::env::var_os("WHARF_TEST_TMP") {
        std::fs::write(std::path::Path::new(&dir).join("faults.md"), &text).ok();
    }
    assert!(rows.iter().all(Outcome::clean), "faults broke an invariant:\n{text}");
}
