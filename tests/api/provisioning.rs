//! The provisioning engine against the real test daemons: placement, private networks,
//! published ports, failures that leave nothing behind, destroy, and drift.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::blueprint;
use crate::helpers::{Api, Db, TestApp, docker, docker_hosts, eventually, fresh_database, leftovers, spawn_app, spawn_app_with};
use crate::{fixture, on_both_databases};

on_both_databases!(
    a_two_tier_deployment_runs_on_its_private_network,
    placement_spreads_deployments_over_both_hosts,
    an_unknown_image_fails_cleanly,
    changes_behind_wharfs_back_show_within_seconds,
    admin_pages_publish_deploy_and_destroy,
    the_network_pool_hands_out_ready_networks,
);

/// Web and db: db is healthy before web starts; web serves a page on a published port.
fn two_tier() -> String {
    blueprint(fixture!("blueprints/two-tier.yaml"), &[])
}

async fn publish(admin: &Api, yaml: &str) {
    let res = admin.publish_blueprint(yaml).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
}

async fn deploy(admin: &Api, blueprint: &str, body: Value) -> String {
    let res = admin.deploy_blueprint(blueprint, &body).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{}", res.text().await.unwrap_or_default());
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

fn endpoint_of(hosts: &[(String, String)], name: &str) -> String {
    hosts.iter().find(|(n, _)| n == name).map(|(_, e)| e.clone()).expect("a known host")
}

async fn destroy_and_check(app: &TestApp, admin: &Api, id: &str, endpoint: &str) {
    let res = admin.deployment_action(id, "destroy").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    app.wait_deployment(admin, id, &["destroyed"], 60).await;
    assert_eq!(leftovers(endpoint, id), Vec::<String>::new(), "nothing of {id} is left on the host");
}

async fn a_two_tier_deployment_runs_on_its_private_network(db: Db) {
    let app = spawn_app(db).await;
    let admin = app.admin().await;
    let hosts = app.register_test_hosts(&admin).await;
    publish(&admin, &two_tier()).await;
    let id = deploy(&admin, "two-tier", json!({"inputs": {"greeting": "ahoy"}})).await;
    let d = app.wait_deployment(&admin, &id, &["running", "failed"], 90).await;
    assert_eq!(d["status"], "running", "{d}");
    let endpoint = endpoint_of(&hosts, d["host"].as_str().unwrap());

    // The published port answers on 127.0.0.1, and the output names it.
    let url = d["outputs"]["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0."), "published on the test host's loopback address: {url}");
    let web = d["resources"].as_array().unwrap().iter().find(|r| r["component"] == "web").unwrap().clone();
    let port = web["ports"][0]["host_port"].as_u64().unwrap();
    assert!(url.ends_with(&format!(":{port}/")), "{url}");
    let page = crate::helpers::fetch_published(&url).await;
    assert!(page.contains("wharf test image"), "{page}");
    assert_eq!(d["outputs"]["greeting"], "ahoy");

    // The secret is masked in the API but reached the container.
    assert_eq!(d["inputs"]["password"], "********");
    // web reaches db by its name on the deployment's network, from inside the container.
    let web_name = web["name"].as_str().unwrap();
    let body = docker(&endpoint, &["exec", web_name, "wget", "-q", "-O", "-", "http://db:5432/"]);
    assert!(body.starts_with("db-") && body.trim().len() > 10, "{body}");
    let text = admin.get_deployment(&id).await.text().await.unwrap();
    assert!(!text.contains(body.trim().trim_start_matches("db-")), "the generated password leaked into the API");

    // Labels name the deployment and the component.
    let labels = docker(
        &endpoint,
        &["inspect", "-f", "{{index .Config.Labels \"io.wharf.deployment\"}} {{index .Config.Labels \"io.wharf.component\"}}", web_name],
    );
    assert_eq!(labels.trim(), format!("{id} web"));
    assert!(leftovers(&endpoint, &id).iter().any(|l| l.starts_with("volume")), "the named volume exists");

    // Its host cannot be removed while it lives there; the refusal says what removal would do.
    let host = d["host"].as_str().unwrap();
    let res = admin.remove_host(host).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let err: Value = res.json().await.unwrap();
    assert!(err["error"]["message"].as_str().unwrap().contains("1 live deployment"), "{err}");

    destroy_and_check(&app, &admin, &id, &endpoint).await;
}

async fn placement_spreads_deployments_over_both_hosts(db: Db) {
    let app = spawn_app(db).await;
    let admin = app.admin().await;
    let hosts = app.register_test_hosts(&admin).await;
    let bp = blueprint(fixture!("blueprints/sleep.yaml"), &[("id", "sleeper"), ("name", "Sleeper")]);
    publish(&admin, &bp).await;
    let first = deploy(&admin, "sleeper", json!({})).await;
    let a = app.wait_deployment(&admin, &first, &["running", "failed"], 60).await;
    let second = deploy(&admin, "sleeper", json!({})).await;
    let b = app.wait_deployment(&admin, &second, &["running", "failed"], 60).await;
    assert_eq!((a["status"].as_str(), b["status"].as_str()), (Some("running"), Some("running")));
    assert_ne!(a["host"], b["host"], "the second goes to the less loaded host");

    // A label selector pins a deployment.
    let third = deploy(&admin, "sleeper", json!({"host_selector": {"n": "2"}})).await;
    let c = app.wait_deployment(&admin, &third, &["running", "failed"], 60).await;
    assert_eq!(c["host"], "h2");
    // No host matches: a clear failure.
    let fourth = deploy(&admin, "sleeper", json!({"host_selector": {"zone": "mars"}})).await;
    let d = app.wait_deployment(&admin, &fourth, &["running", "failed"], 60).await;
    assert_eq!(d["status"], "failed");
    assert!(d["error"].as_str().unwrap().contains("lacks the label zone=mars"), "{d}");

    for (id, dep) in [(&first, &a), (&second, &b), (&third, &c)] {
        destroy_and_check(&app, &admin, id, &endpoint_of(&hosts, dep["host"].as_str().unwrap())).await;
    }
}

async fn an_unknown_image_fails_cleanly(db: Db) {
    let app = spawn_app(db).await;
    let admin = app.admin().await;
    let hosts = app.register_test_hosts(&admin).await;
    // The first component starts, the second cannot: what the attempt made is removed.
    let bp = blueprint(fixture!("blueprints/broken-image.yaml"), &[]);
    publish(&admin, &bp).await;
    let id = deploy(&admin, "broken-image", json!({})).await;
    let d = app.wait_deployment(&admin, &id, &["running", "failed"], 90).await;
    assert_eq!(d["status"], "failed");
    let error = d["error"].as_str().unwrap();
    assert!(error.contains("wharf-test/no-such-image:1") && error.contains("could not be pulled"), "{error}");
    let endpoint = endpoint_of(&hosts, d["host"].as_str().unwrap());
    assert_eq!(leftovers(&endpoint, &id), Vec::<String>::new());
    assert_eq!(d["resources"], json!([]));

    // Invalid inputs and blueprints that break guardrails once resolved are refused up front.
    let res = admin.deploy_blueprint("broken-image", &json!({"inputs": {"nope": 1}})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["details"][0]["field"], "inputs.nope");
    let res = admin.deploy_blueprint("no-such", &json!({})).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // A failed deployment can be retried (and fails the same way), or destroyed.
    // The retry is a day-2 request: it ends failed, with the engine's reason.
    let res = admin.deployment_action(&id, "retry").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let retry = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let r = crate::helpers::eventually(90, "the retry to end", || async {
        let r = admin.get_request_ok(&retry).await;
        ["succeeded", "failed"].contains(&r["status"].as_str().unwrap_or_default()).then_some(r)
    })
    .await;
    assert_eq!(r["status"], "failed", "{r}");
    assert!(r["error"].as_str().unwrap().contains("could not be pulled"), "{r}");
    let d = app.wait_deployment(&admin, &id, &["failed"], 90).await;
    assert!(d["error"].as_str().unwrap().contains("could not be pulled"));
    let res = admin.deployment_action(&id, "fly").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    destroy_and_check(&app, &admin, &id, &endpoint).await;
    let res = admin.deployment_action(&id, "destroy").await;
    assert_eq!(res.status(), StatusCode::CONFLICT, "a destroyed deployment cannot be destroyed again");
}

async fn changes_behind_wharfs_back_show_within_seconds(db: Db) {
    let app = spawn_app(db).await;
    let admin = app.admin().await;
    let hosts = app.register_test_hosts(&admin).await;
    let bp = blueprint(fixture!("blueprints/pair.yaml"), &[]);
    publish(&admin, &bp).await;
    let id = deploy(&admin, "pair", json!({})).await;
    let d = app.wait_deployment(&admin, &id, &["running", "failed"], 60).await;
    assert_eq!(d["status"], "running");
    let endpoint = endpoint_of(&hosts, d["host"].as_str().unwrap());
    let names: Vec<String> = d["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names.len(), 2);

    // Stopped from the CLI: both stopped -> stopped, within 5 s.
    docker(&endpoint, &["stop", "-t", "0", &names[0], &names[1]]);
    let started = std::time::Instant::now();
    app.wait_deployment(&admin, &id, &["stopped"], 5).await;
    assert!(started.elapsed().as_secs() <= 5);
    docker(&endpoint, &["start", &names[0], &names[1]]);
    app.wait_deployment(&admin, &id, &["running"], 5).await;

    // Removed from the CLI: drifted, with the reason.
    // (While the engine removes it, the container is first seen stopped: drifted "not
    // running"; once it is gone the reason says so.)
    docker(&endpoint, &["rm", "-f", &names[1]]);
    let d = crate::helpers::eventually(5, "the deployment to be drifted with a removed container", || async {
        let d = admin.get_deployment_ok(&id).await;
        (d["status"] == "drifted" && d["error"].as_str().is_some_and(|e| e.contains("removed outside Wharf"))).then_some(d)
    })
    .await;
    let gone = d["resources"].as_array().unwrap().iter().find(|r| r["name"] == names[1].as_str()).unwrap().clone();
    assert_eq!(gone["status"], "missing");

    destroy_and_check(&app, &admin, &id, &endpoint).await;
}

/// An admin publishes, deploys and destroys from the pages, as a person would.
async fn admin_pages_publish_deploy_and_destroy(db: Db) {
    let app = spawn_app(db).await;
    let admin = app.admin().await;
    app.register_test_hosts(&admin).await;
    let browser = app.browser();
    browser.login_ok("admin", crate::helpers::ADMIN_PASSWORD).await;
    let (status, html) = browser.page("/admin/hosts").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-status=\"up\"") && html.contains("h1") && html.contains("h2"), "{html}");

    // A broken blueprint: the page lists each error with line and column.
    let res = browser.submit("/admin/blueprints", "/admin/blueprints", &[("source", fixture!("blueprints/bad-tty.yaml"))]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("5:31: tty must be true or false"), "{html}");

    let yaml = blueprint(fixture!("blueprints/page-web.yaml"), &[]);
    let res = browser.submit("/admin/blueprints", "/admin/blueprints", &[("source", &yaml)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/admin/blueprints/page-web");
    let (_, html) = browser.page("/admin/blueprints/page-web").await;
    assert!(html.contains("type=\"number\"") && html.contains("min=\"1\"") && html.contains("max=\"3\""), "{html}");
    assert!(html.contains("type=\"password\"") && html.contains("type=\"checkbox\""), "{html}");

    // A value out of range comes back beside its field, and nothing is deployed.
    let res = browser
        .submit(
            "/admin/blueprints/page-web",
            "/admin/blueprints/page-web/deploy",
            &[("input.size", "9"), ("input.loud", "false"), ("name", "")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("must be at most 3"), "{html}");
    assert!(html.contains("value=\"9\""), "the typed value is kept");
    assert_eq!(admin.list_deployments_ok().await, json!([]));

    let res = browser
        .submit(
            "/admin/blueprints/page-web",
            "/admin/blueprints/page-web/deploy",
            &[("input.size", "3"), ("input.loud", "false"), ("name", "from-the-page")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let id = location.rsplit('/').next().unwrap().to_string();
    let d = app.wait_deployment(&admin, &id, &["running", "failed"], 60).await;
    assert_eq!(d["status"], "running", "{d}");
    assert_eq!(d["name"], "from-the-page");
    assert_eq!(d["inputs"]["loud"], false, "the unchecked box is false");
    assert_eq!(d["inputs"]["token"], "********");
    let (_, html) = browser.page(&location).await;
    assert!(html.contains("data-status=\"running\"") && html.contains(d["outputs"]["url"].as_str().unwrap()), "{html}");
    assert!(html.contains("wharf-") && html.contains("→ 80/tcp"), "{html}");

    // Destroy asks to confirm first.
    let res = browser.submit(&location, &format!("{location}/actions"), &[("action", "destroy")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Yes, destroy it"));
    assert_eq!(app.wait_deployment(&admin, &id, &["running"], 5).await["status"], "running", "nothing happens before the confirmation");
    let res = browser.submit(&location, &format!("{location}/actions"), &[("action", "destroy"), ("confirmed", "yes")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    app.wait_deployment(&admin, &id, &["destroyed"], 60).await;
    let (_, html) = browser.page("/admin/deployments?status=destroyed").await;
    assert!(html.contains("from-the-page"), "{html}");
}

/// A scalar from the app's database.
async fn scalar_text(db: &sea_orm::DatabaseConnection, sql: &str) -> Option<String> {
    use sea_orm::ConnectionTrait;
    let row = db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await.unwrap()?;
    row.try_get_by_index::<Option<String>>(0).unwrap()
}

async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let row = db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// The pool networks of `instance` on a host, by name.
fn pool_on(endpoint: &str, instance: &str) -> Vec<String> {
    let mine = format!("label=io.wharf.instance={instance}");
    let out = docker(endpoint, &["network", "ls", "--filter", "label=io.wharf.pool=true", "--filter", &mine, "--format", "{{.Name}}"]);
    out.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

async fn the_network_pool_hands_out_ready_networks(db: Db) {
    let url = fresh_database(db).await;
    let engine = json!({"network_pool": 2, "collect_interval_secs": 1, "orphan_grace_secs": 2});
    let app = spawn_app_with(db, json!({"database_url": url, "engine": engine})).await;
    let conn = sea_orm::Database::connect(&url).await.unwrap();
    let admin = app.admin().await;
    let endpoint = docker_hosts()[0].clone();
    let res = admin.register_host(&json!({"name": "h1", "endpoint": endpoint})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let instance = scalar_text(&conn, "SELECT value FROM settings WHERE key = 'instance_id'").await.unwrap();
    let unclaimed = "SELECT COUNT(*) FROM pool_networks WHERE deployment_id IS NULL";

    // Filled ahead of time: two networks, recorded, labelled as the pool's and no deployment's.
    eventually(30, "two pool networks", || async {
        (pool_on(&endpoint, &instance).len() == 2 && count(&conn, unclaimed).await == 2).then_some(())
    })
    .await;
    let ready = pool_on(&endpoint, &instance);
    let labels = docker(&endpoint, &["network", "inspect", "-f", "{{json .Labels}}", &ready[0]]);
    assert!(!labels.contains("io.wharf.deployment"), "{labels}");

    // A deployment claims one: its containers join it and name it; the claim is recorded; the
    // pool is filled again.
    let bp = blueprint(fixture!("blueprints/sleep.yaml"), &[("id", "sleeper"), ("name", "Sleeper")]);
    publish(&admin, &bp).await;
    let id = deploy(&admin, "sleeper", json!({})).await;
    let d = app.wait_deployment(&admin, &id, &["running", "failed"], 60).await;
    assert_eq!(d["status"], "running", "{d}");
    let container = d["resources"][0]["name"].as_str().unwrap().to_string();
    let joined = docker(
        &endpoint,
        &[
            "inspect",
            "-f",
            "{{index .Config.Labels \"io.wharf.network\"}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}",
            &container,
        ],
    );
    let (named, attached) = joined.trim().split_once(' ').unwrap();
    assert_eq!(named, attached, "the label names the network the container is on");
    assert!(ready.iter().any(|n| n == named), "{named} was made before the request: {ready:?}");
    let owner = scalar_text(&conn, &format!("SELECT deployment_id FROM pool_networks WHERE name = '{named}'")).await;
    assert_eq!(owner.as_deref(), Some(id.as_str()));
    assert_eq!(leftovers(&endpoint, &id).iter().filter(|l| l.starts_with("network")).count(), 1);
    eventually(30, "the pool filled again", || async {
        (count(&conn, unclaimed).await == 2 && pool_on(&endpoint, &instance).len() == 3).then_some(())
    })
    .await;

    // Destroyed: the claimed network goes with it, and so does its record.
    destroy_and_check(&app, &admin, &id, &endpoint).await;
    assert!(!pool_on(&endpoint, &instance).contains(&named.to_string()), "{named} was removed");
    assert_eq!(count(&conn, &format!("SELECT COUNT(*) FROM pool_networks WHERE deployment_id = '{id}'")).await, 0);

    // The pool's networks removed behind Wharf's back: the next deployment still gets one (a
    // gone network is forgotten, not handed out), and the pool is whole again.
    eventually(30, "the pool whole", || async { (count(&conn, unclaimed).await == 2).then_some(()) }).await;
    let pruned = pool_on(&endpoint, &instance);
    for n in &pruned {
        docker(&endpoint, &["network", "rm", n]);
    }
    let id = deploy(&admin, "sleeper", json!({})).await;
    let d = app.wait_deployment(&admin, &id, &["running", "failed"], 60).await;
    assert_eq!(d["status"], "running", "{d}");
    destroy_and_check(&app, &admin, &id, &endpoint).await;
    eventually(30, "the pool whole again, without the pruned", || async {
        let on_host = pool_on(&endpoint, &instance);
        let forgotten = !pruned.iter().any(|n| on_host.contains(n));
        let rows = count(&conn, "SELECT COUNT(*) FROM pool_networks").await;
        (forgotten && on_host.len() == 2 && count(&conn, unclaimed).await == 2 && rows == 2).then_some(())
    })
    .await;

    // A pool network nobody recorded (rows lost, a host registered again) is removed after
    // the grace.
    let stray = format!("wharf-pool-stray-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let instance_label = format!("io.wharf.instance={instance}");
    docker(
        &endpoint,
        &["network", "create", "--label", "io.wharf.managed=true", "--label", &instance_label, "--label", "io.wharf.pool=true", &stray],
    );
    eventually(30, "the stray removed", || async { (!pool_on(&endpoint, &instance).contains(&stray)).then_some(()) }).await;
    assert_eq!(pool_on(&endpoint, &instance).len(), 2, "the pool's own are kept");

    // A removed host takes its pool with it.
    assert_eq!(admin.remove_host("h1").await.status(), StatusCode::NO_CONTENT);
    eventually(30, "the removed host's pool gone from it", || async {
        (pool_on(&endpoint, &instance).is_empty() && count(&conn, "SELECT COUNT(*) FROM pool_networks").await == 0).then_some(())
    })
    .await;
    conn.close().await.ok();
}
