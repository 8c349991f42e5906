//! Several portal processes on one PostgreSQL: each job runs once, on one of them.
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

use crate::fixture;
use crate::fixtures::blueprint;
use crate::helpers::{ADMIN_PASSWORD, Db, fresh_database, serve};

/// Two `wharf serve` processes on the PostgreSQL database `url`.
fn two_replicas(url: &str) -> (crate::helpers::Served, crate::helpers::Served) {
    let envs = [
        ("WHARF_DATABASE_URL", url),
        ("WHARF_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("WHARF_CATALOG_DIR", "/nonexistent/wharf-test-catalog"),
        ("WHARF_HOSTS__REGISTER_LOCAL", "false"),
        ("WHARF_HOSTS__HEALTH_INTERVAL_SECS", "1"),
    ];
    (serve(&["serve"], &envs), serve(&["serve"], &envs))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_run_the_same_job_twice() {
    let url = fresh_database(Db::Postgres).await;
    let (one, two) = two_replicas(&url);
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

/// A job queued through a replica that runs none (`engine.workers = 0`) is claimed by another
/// replica's worker at once: the other replica hears of it through PostgreSQL's LISTEN/NOTIFY
/// rather than at its next poll of the queue (once a second). The time from submission to the
/// claim is printed (p50 and the largest); the bound held is generous, below the poll's period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_submitted_on_one_replica_is_picked_up_by_another_at_once() {
    let url = fresh_database(Db::Postgres).await;
    let base = [
        ("WHARF_DATABASE_URL", url.as_str()),
        ("WHARF_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("WHARF_CATALOG_DIR", "/nonexistent/wharf-test-catalog"),
        ("WHARF_HOSTS__REGISTER_LOCAL", "false"),
        ("WHARF_HOSTS__HEALTH_INTERVAL_SECS", "1"),
    ];
    // One worker on the replica that runs the jobs: without a wake-up it would find each job at
    // its next poll of the queue, up to a second later.
    let mut front = base.to_vec();
    front.push(("WHARF_ENGINE__WORKERS", "0"));
    let mut back = base.to_vec();
    back.push(("WHARF_ENGINE__WORKERS", "1"));
    let (one, two) = (serve(&["serve"], &front), serve(&["serve"], &back));
    let (a, b) = (one.app(), two.app());
    let admin_a = a.admin().await;
    let admin_b = b.admin().await;
    let hosts = a.register_test_hosts(&admin_a).await;
    let bp = blueprint(fixture!("blueprints/sleep.yaml"), &[("id", "tiny"), ("name", "Tiny")]);
    assert_eq!(admin_a.publish_blueprint(&bp).await.status(), StatusCode::CREATED);
    let conn = Database::connect(url.as_str()).await.unwrap();
    // Both replicas listen before the clock starts (a first deployment, not measured).
    let mut ids = Vec::new();
    let mut took = Vec::new();
    for i in 0..11 {
        let started = std::time::Instant::now();
        let res = admin_a.deploy_blueprint("tiny", &json!({})).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
        loop {
            if provision_status(&conn, &id).await.is_some_and(|s| s != "queued") {
                break;
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(10), "job of {id} still queued after 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        if i > 0 {
            took.push(started.elapsed());
        }
        a.wait_deployment(&admin_a, &id, &["running", "failed"], 90).await;
        // The worker back in its wait (its job recorded done), some way into its poll period.
        loop {
            if provision_status(&conn, &id).await.is_some_and(|s| s == "done" || s == "failed") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        ids.push(id);
    }
    took.sort();
    let p50 = took[took.len() / 2];
    println!("picked up by the other replica: p50 {:?}, largest {:?} ({} jobs)", p50, took.last().unwrap(), took.len());
    // A pickup by the poll comes about 800 ms after submission here (a poll a second, the worker
    // 200 ms into its wait). Under the full suite's load the wake-up itself has been seen at a
    // p50 of 435–467 ms; the bound stays well below the poll's 800 ms.
    assert!(p50 < std::time::Duration::from_millis(600), "p50 {p50:?}: the other replica waited for its poll (about 800 ms here)");
    // Only the replica with workers ran them.
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT DISTINCT lease_owner FROM jobs WHERE kind = 'provision'",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one replica ran the jobs");
    let owner: String = rows[0].try_get("", "lease_owner").unwrap();
    assert!(owner.starts_with(&format!("{}-", two.child.id())), "the replica with workers ran them, not {owner}");
    b.destroy_all(&admin_b, &ids, &hosts).await;
}

/// The status of a deployment's provisioning job, read from the database.
async fn provision_status(conn: &sea_orm::DatabaseConnection, id: &str) -> Option<String> {
    let row = conn
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            conn.get_database_backend(),
            "SELECT status FROM jobs WHERE deployment_id = $1 AND kind = 'provision'",
            [id.into()],
        ))
        .await
        .unwrap();
    row.map(|r| r.try_get("", "status").unwrap())
}

/// Who a token is, cached by each replica: a change made through one replica reaches the
/// other within about a second (it reads the `auth` epoch once a second), and the one that made
/// it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_changes_reach_every_replica_within_a_second() {
    use crate::helpers::{eventually, password_of};
    let url = fresh_database(Db::Postgres).await;
    let (one, two) = two_replicas(&url);
    let (a, b) = (one.app(), two.app());
    let admin = a.admin().await;
    assert_eq!(admin.create_user(&json!({"username": "dev", "password": password_of("dev")})).await.status(), StatusCode::CREATED);
    assert_eq!(admin.create_group(&json!({"name": "team-a"})).await.status(), StatusCode::CREATED);
    let dev_b = b.api_as("dev", &password_of("dev")).await;
    // Read twice on each replica: the second answer comes from the cache.
    for _ in 0..2 {
        assert_eq!(dev_b.json("/api/v1/me").await["groups"], json!([]));
        assert_eq!(a.admin().await.get("/api/v1/me").await.status(), StatusCode::OK);
    }

    // A membership set through A: B's answer follows within about a second.
    assert_eq!(admin.set_member("team-a", "dev", "member").await.status(), StatusCode::OK);
    let started = std::time::Instant::now();
    eventually(5, "B to see the membership", || async {
        let me = dev_b.json("/api/v1/me").await;
        (me["groups"].as_array().is_some_and(|g| g.len() == 1)).then_some(())
    })
    .await;
    assert!(started.elapsed() < std::time::Duration::from_millis(1600), "{:?}", started.elapsed());

    // A token revoked through A: refused by A at once and by B within about a second.
    let token = format!("Bearer {}", b.token("dev", &password_of("dev")).await);
    let mine = dev_b.json("/api/v1/tokens").await;
    let id = mine.as_array().unwrap().iter().filter_map(|t| t["id"].as_i64()).max().unwrap();
    let client = reqwest::Client::new();
    let me = |app: &crate::helpers::TestApp| client.get(app.url("/api/v1/me")).header("authorization", token.clone()).send();
    for app in [&a, &b, &a, &b] {
        assert_eq!(me(app).await.unwrap().status(), StatusCode::OK);
    }
    let res = admin.delete(&format!("/api/v1/tokens/{id}")).await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(me(&a).await.unwrap().status(), StatusCode::UNAUTHORIZED, "at once on the replica that revoked it");
    let started = std::time::Instant::now();
    eventually(5, "B to refuse the revoked token", || async { (me(&b).await.unwrap().status() == StatusCode::UNAUTHORIZED).then_some(()) })
        .await;
    assert!(started.elapsed() < std::time::Duration::from_millis(1600), "{:?}", started.elapsed());
    assert_eq!(dev_b.get("/api/v1/me").await.status(), StatusCode::OK, "the other token lives");

    // The catalog a group sees, cached by B: an item and an entitlement made through A show on
    // B within about a second.
    assert_eq!(dev_b.json("/api/v1/catalog").await, json!([]));
    assert_eq!(dev_b.json("/api/v1/catalog").await, json!([]));
    let bp = blueprint(fixture!("blueprints/sleep.yaml"), &[("id", "tiny"), ("name", "Tiny")]);
    assert_eq!(admin.publish_blueprint(&bp).await.status(), StatusCode::CREATED);
    let res = admin.create_catalog_item(&json!({"id": "tiny", "name": "Tiny", "category": "Misc", "blueprint": "tiny", "lease": {"default_days": 7, "max_days": 30, "grace_days": 3}})).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    assert_eq!(admin.create_entitlement(&json!({"group": "team-a", "categories": ["Misc"]})).await.status(), StatusCode::CREATED);
    let started = std::time::Instant::now();
    eventually(5, "B's catalog to show the item", || async {
        let list = dev_b.json("/api/v1/catalog").await;
        (list.as_array().is_some_and(|l| l.len() == 1)).then_some(())
    })
    .await;
    assert!(started.elapsed() < std::time::Duration::from_millis(1600), "{:?}", started.elapsed());
    drop((one, two));
}

/// nginx in front of the replicas, with the example's own configuration (`deploy/nginx.conf`):
/// its upstream names the replicas' addresses, and it listens on a free loopback port.
struct Proxy {
    child: std::process::Child,
    base: String,
    dir: std::path::PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn proxy(replicas: &[String]) -> Proxy {
    let example = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf"));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut conf = example.replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
    for (i, base) in replicas.iter().enumerate() {
        let from = format!("server wharf-{}:8080", i + 1);
        assert!(conf.contains(&from), "deploy/nginx.conf names {from}");
        conf = conf.replace(&from, &format!("server {}", base.trim_start_matches("http://")));
    }
    let tmp = std::env::var_os("WHARF_TEST_TMP").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let dir = tmp.join(format!("nginx-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display();
    let main = format!(
        "daemon off;\n# One process, which the test stops: a killed master would leave its workers behind.\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\naccess_log off;\nclient_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\nfastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n{conf}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let mut child = std::process::Command::new("nginx")
        .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start nginx (scripts/test installs nginx-light)");
    let base = format!("http://127.0.0.1:{port}");
    // Ready when a replica's /readyz answers through it (not merely something on the port).
    for _ in 0..100 {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("nginx exited with {status}: {}", std::fs::read_to_string(dir.join("error.log")).unwrap_or_default());
        }
        let out = std::process::Command::new("curl").args(["-fsS", "-m", "2", &format!("{base}/readyz")]).output();
        if out.is_ok_and(|o| o.status.success()) {
            return Proxy { child, base, dir };
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("nginx did not listen on {port}: {}", std::fs::read_to_string(dir.join("error.log")).unwrap_or_default());
}

/// Three portal processes on one PostgreSQL behind nginx (the example's configuration), one of
/// them SIGKILLed in the middle of a burst of 60 requests sent through the proxy one after the
/// other (between two of them: a POST cut off in flight would be the client's to retry, and
/// the API has no idempotency key to make that safe), while jobs are at work: every request
/// ends once, in its final state (each job the killed process held is taken over when its lease
/// runs out), with one deployment each and one container each on the hosts — nothing run
/// twice, nothing left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_survive_losing_one_mid_burst() {
    let url = fresh_database(Db::Postgres).await;
    let envs = [
        ("WHARF_DATABASE_URL", url.as_str()),
        ("WHARF_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("WHARF_CATALOG_DIR", "/nonexistent/wharf-test-catalog"),
        ("WHARF_HOSTS__REGISTER_LOCAL", "false"),
        ("WHARF_HOSTS__HEALTH_INTERVAL_SECS", "1"),
        // A killed replica's jobs are taken over once their lease runs out.
        ("WHARF_ENGINE__LEASE_SECS", "5"),
    ];
    let mut replicas: Vec<Option<crate::helpers::Served>> = (0..3).map(|_| Some(serve(&["serve"], &envs))).collect();
    let apps: Vec<crate::helpers::TestApp> = replicas.iter().map(|r| r.as_ref().unwrap().app()).collect();
    let admin = apps[0].seed_team().await;
    let hosts = apps[0].register_test_hosts(&admin).await;
    let bp = blueprint(fixture!("blueprints/sleep.yaml"), &[("id", "tiny"), ("name", "Tiny")]);
    assert_eq!(admin.publish_blueprint(&bp).await.status(), StatusCode::CREATED);
    let item = json!({"id": "tiny", "name": "Tiny", "category": "Tools", "blueprint": "tiny", "lease": {"default_days": 1, "max_days": 2, "grace_days": 1}});
    assert_eq!(admin.create_catalog_item(&item).await.status(), StatusCode::CREATED);
    let res = admin.create_entitlement(&json!({"group": "team-a", "catalog_items": ["tiny"], "actions": ["destroy"]})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let front = proxy(&apps.iter().map(|a| a.address.clone()).collect::<Vec<_>>());
    let through = crate::helpers::TestApp { address: front.base.clone() };
    let dev = through.api_as("dev", &crate::helpers::password_of("dev")).await;

    let body = json!({"catalog_item": "tiny", "group": "team-a"});
    let mut ids = Vec::new();
    for i in 0..60 {
        if i == 30 {
            // SIGKILL (`Child::kill`): no draining, its claimed jobs stay claimed until their
            // leases run out; nginx finds it refuses connections and passes requests on.
            drop(replicas[2].take());
        }
        let res = dev.post("/api/v1/requests", &body).await;
        assert_eq!(res.status(), StatusCode::CREATED, "request {i} through the proxy");
        ids.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
    }

    // Every request ends, succeeded, with exactly one final entry on its timeline.
    let api = &dev;
    let mut deployments = std::collections::BTreeSet::new();
    for id in &ids {
        let r = crate::helpers::eventually(240, &format!("request {id} to end"), || async {
            let r = api.get_request_ok(id).await;
            ["succeeded", "failed", "rejected", "cancelled"].contains(&r["status"].as_str().unwrap_or_default()).then_some(r)
        })
        .await;
        assert_eq!(r["status"], "succeeded", "{r}");
        let finals = r["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| ["succeeded", "failed"].contains(&e["kind"].as_str().unwrap_or_default()))
            .count();
        assert_eq!(finals, 1, "one final entry: {r}");
        assert!(deployments.insert(r["deployment_id"].as_str().unwrap().to_string()), "a deployment shared by two requests: {r}");
    }
    // One deployment per request in the database, each with its one container on the hosts.
    let conn = Database::connect(url.as_str()).await.unwrap();
    let count = |sql: &'static str| {
        let conn = &conn;
        async move {
            let row = conn.query_one_raw(sea_orm::Statement::from_string(conn.get_database_backend(), sql)).await.unwrap().unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM deployments").await, 60);
    assert_eq!(count("SELECT COUNT(*) FROM deployments WHERE status = 'running'").await, 60);
    assert_eq!(count("SELECT COUNT(*) FROM jobs WHERE status <> 'done'").await, 0, "every job done, none failed");
    let taken_over = count("SELECT COUNT(*) FROM jobs WHERE attempts > 1").await;
    println!("three replicas, one killed at request 30 of 60: {taken_over} job(s) taken over from the killed replica");
    for dep in &deployments {
        let filter = format!("label=io.wharf.deployment={dep}");
        let made: usize = hosts
            .iter()
            .map(|(_, endpoint)| {
                crate::helpers::docker(endpoint, &["ps", "-a", "-q", "--filter", &filter]).lines().filter(|l| !l.is_empty()).count()
            })
            .sum();
        assert_eq!(made, 1, "deployment {dep} has {made} containers on the hosts");
    }
    let ids: Vec<String> = deployments.into_iter().collect();
    apps[1].destroy_all(&admin, &ids, &hosts).await;
}
