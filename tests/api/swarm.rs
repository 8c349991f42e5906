//! A Docker Swarm as a host: the private test daemon made a single-node swarm by scripts/test
//! (`docker swarm init`, in a network namespace of its own, so that host-mode ports published
//! on every interface stay there). The two-tier blueprint becomes two services on an overlay
//! network of the deployment's own; a task killed behind Wharf's back is rescheduled by Swarm
//! and Wharf shows it; scale 1 → 3 → 1 (stats and a console in a task on the way), stop and
//! start, logs; destroy leaves nothing.
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::fixtures::blueprint;
use crate::helpers::{Api, Db, TestApp, docker, env, eventually, password_of, spawn_app};

fn swarm() -> String {
    env("WHARF_TEST_SWARM")
}

/// GETs a URL from inside the swarm's network namespace (where its published ports are).
fn fetch_in_swarm(url: &str) -> Option<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &env("WHARF_TEST_SWARM_NETNS"), "curl", "-fsS", "-m", "3", url])
        .output()
        .expect("run ip netns exec");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The deployment's services on the swarm (ids), by label.
fn services(deployment: &str) -> Vec<String> {
    let filter = format!("label=io.wharf.deployment={deployment}");
    docker(&swarm(), &["service", "ls", "-q", "--filter", &filter]).lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// What a deployment left on the swarm: services, containers, networks and volumes by label.
fn left_on_swarm(deployment: &str) -> Vec<String> {
    let filter = format!("label=io.wharf.deployment={deployment}");
    let mut out: Vec<String> = services(deployment).into_iter().map(|s| format!("service {s}")).collect();
    for (kind, args) in [
        ("container", vec!["ps", "-a", "-q", "--filter", filter.as_str()]),
        ("network", vec!["network", "ls", "-q", "--filter", filter.as_str()]),
        ("volume", vec!["volume", "ls", "-q", "--filter", filter.as_str()]),
    ] {
        out.extend(docker(&swarm(), &args).lines().filter(|l| !l.trim().is_empty()).map(|l| format!("{kind} {l}")));
    }
    out
}

fn service(d: &Value, component: &str) -> Value {
    d["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["component"] == component && r["kind"] == "service")
        .cloned()
        .unwrap_or(Value::Null)
}

async fn act(api: &Api, dep: &str, body: Value) -> Value {
    let res = api.post(&format!("/api/v1/deployments/{dep}/actions"), &body).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{body}");
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let r = eventually(120, &format!("{body} to finish"), || async {
        let r = api.get_request_ok(&id).await;
        ["succeeded", "failed", "rejected"].contains(&r["status"].as_str().unwrap_or_default()).then_some(r)
    })
    .await;
    assert_eq!(r["status"], "succeeded", "{body}: {r}");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_runs_the_catalog_as_services() {
    let app: TestApp = spawn_app(Db::Sqlite).await;
    let admin = app.seed_team().await;
    // The node carries the label the catalog item selects: placement constraints come from it.
    let node = docker(&swarm(), &["info", "-f", "{{.Swarm.NodeID}}"]).trim().to_string();
    docker(&swarm(), &["node", "update", "--label-add", "tier=swarm", &node]);

    // A swarm host must be a manager: an engine that is not in a swarm is refused, and says so.
    let plain = crate::helpers::docker_hosts()[0].clone();
    let res = admin.register_host(&json!({"name": "not-a-swarm", "endpoint": plain, "kind": "swarm"})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert!(body.to_string().contains("not a Swarm manager"), "{body}");
    let res = admin.register_host(&json!({"name": "bad-kind", "endpoint": swarm(), "kind": "kubernetes"})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Swarm publishes host-mode ports on every interface of a node: no bind address to promise.
    let res = admin.register_host(&json!({"name": "bound", "endpoint": swarm(), "kind": "swarm", "bind_address": "127.0.0.1"})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("bind_address"));
    let res = admin
        .register_host(
            &json!({"name": "swarm", "endpoint": swarm(), "kind": "swarm", "labels": {"tier": "swarm"}, "publish_address": "127.0.0.1"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    let host: Value = admin.json("/api/v1/hosts/swarm").await;
    assert_eq!((host["kind"].as_str(), host["status"].as_str()), (Some("swarm"), Some("up")), "{host}");

    let res = admin.publish_blueprint(&blueprint(crate::fixture!("blueprints/swarm-shop.yaml"), &[])).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    let res = admin
        .create_catalog_item(&json!({"id": "shop", "name": "Shop", "category": "Web", "blueprint": "shop", "host_selector": {"tier": "swarm"}, "lease": {"default_days": 7, "max_days": 30, "grace_days": 3}}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    let res = admin
        .create_entitlement(
            &json!({"group": "team-a", "catalog_items": ["shop"], "actions": ["destroy", "scale", "stop", "start", "logs", "console"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let dev = app.api_as("dev", &password_of("dev")).await;

    // Requested like any item, with the same governance: quota counts its tasks.
    let res = dev.submit_request(&json!({"catalog_item": "shop", "group": "team-a"})).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    let rid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let r = eventually(180, "the swarm request to finish", || async {
        let r = dev.get_request_ok(&rid).await;
        ["succeeded", "failed"].contains(&r["status"].as_str().unwrap_or_default()).then_some(r)
    })
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let dep = r["deployment_id"].as_str().unwrap().to_string();
    let d = app.wait_deployment(&admin, &dep, &["running"], 30).await;
    assert_eq!(d["host"], "swarm", "{d}");

    // Two services, as the blueprint says, with dnsrr, host-mode ports, limits and
    // reservations, the health check, Wharf's labels and the selector's constraint.
    let ids = services(&dep);
    assert_eq!(ids.len(), 2, "{ids:?}");
    let db_name = format!("wharf-{dep}-db");
    let web_name = format!("wharf-{dep}-web");
    let inspect = |name: &str, format: &str| docker(&swarm(), &["service", "inspect", "-f", format, name]).trim().to_string();
    assert_eq!(inspect(&web_name, "{{.Spec.EndpointSpec.Mode}}"), "dnsrr");
    assert_eq!(inspect(&web_name, "{{range .Spec.EndpointSpec.Ports}}{{.PublishMode}}{{end}}"), "host");
    assert_eq!(inspect(&db_name, "{{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}}"), (64 * 1024 * 1024).to_string());
    assert_eq!(inspect(&db_name, "{{.Spec.TaskTemplate.Resources.Reservations.NanoCPUs}}"), "250000000");
    assert!(inspect(&db_name, "{{json .Spec.TaskTemplate.ContainerSpec.Healthcheck.Test}}").contains("/tmp/ready"));
    assert_eq!(inspect(&db_name, "{{index .Spec.Labels \"io.wharf.component\"}}"), "db");
    assert_eq!(
        inspect(&web_name, "{{json .Spec.TaskTemplate.ContainerSpec.Args}}"),
        r#"["/bin/sh","-c","echo web up; until wget -qO /www/db.html http://db:5432/; do sleep 1; done & exec httpd -f -p 8080 -h /www"]"#,
        "the blueprint's command is the CMD, the image's entrypoint stays"
    );
    assert_eq!(inspect(&db_name, "{{json .Spec.TaskTemplate.Placement.Constraints}}"), r#"["node.labels.tier==swarm"]"#);
    let network = format!("wharf-{dep}");
    assert_eq!(docker(&swarm(), &["network", "inspect", "-f", "{{.Driver}} {{.Attachable}}", &network]).trim(), "overlay true");

    // The web tier reached the db tier by name over the overlay network; its port is published
    // on the node, as the output says.
    let url = d["outputs"]["url"].as_str().unwrap().to_string();
    let mut db_said = None;
    for _ in 0..120 {
        db_said = fetch_in_swarm(&format!("{url}db.html"));
        if db_said.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let Some(db_said) = db_said else {
        let logs = std::process::Command::new("docker").args(["-H", &swarm(), "service", "logs", &web_name]).output().unwrap();
        let tasks = docker(&swarm(), &["service", "ps", "--no-trunc", &web_name]);
        panic!(
            "web did not serve db's page at {url}db.html within 60 s; its logs: {}{}\ntasks: {tasks}\nthe page itself: {:?}",
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&logs.stderr),
            fetch_in_swarm(&url)
        );
    };
    assert!(db_said.starts_with("db-"), "{db_said}");
    let web = service(&d, "web");
    assert_eq!((web["tasks"]["running"].as_i64(), web["tasks"]["desired"].as_i64()), (Some(1), Some(1)), "{d}");

    // A task killed behind Wharf's back: Swarm starts another, and Wharf shows the drift and
    // the recovery on the deployment's timeline.
    let filter = format!("label=com.docker.swarm.service.name={web_name}");
    let before = docker(&swarm(), &["ps", "-q", "--filter", &filter]).trim().to_string();
    assert!(!before.is_empty());
    docker(&swarm(), &["kill", &before]);
    let d = eventually(60, "Swarm to replace the killed task and Wharf to show it", || async {
        let now = docker(&swarm(), &["ps", "-q", "--filter", &filter]).trim().to_string();
        let d = admin.get_deployment_ok(&dep).await;
        (!now.is_empty() && now != before && d["status"] == "running" && service(&d, "web")["tasks"]["running"] == 1).then_some(d)
    })
    .await;
    let history = admin.json(&format!("/api/v1/deployments/{dep}/history")).await;
    assert!(history.to_string().contains("runs 0 of 1 tasks"), "the drift is on the timeline: {history}");
    assert_eq!(d["status"], "running");

    // Scale 1 → 3 → 1: a service update each time.
    act(&dev, &dep, json!({"action": "scale", "component": "web", "replicas": 3})).await;
    let d = admin.get_deployment_ok(&dep).await;
    assert_eq!(service(&d, "web")["tasks"], json!({"running": 3, "desired": 3}), "{d}");
    assert_eq!(inspect(&web_name, "{{.Spec.Mode.Replicated.Replicas}}"), "3");
    assert_eq!(docker(&swarm(), &["ps", "-q", "--filter", &filter]).lines().count(), 3);

    // Stats and the console reach the tasks on the manager's node (all of them, on one node).
    let res = dev.get(&format!("/api/v1/deployments/{dep}/stats")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let samples: Vec<Value> = res.json().await.unwrap();
    let web: Vec<&Value> = samples.iter().filter(|x| x["component"] == "web").collect();
    assert_eq!((samples.len(), web.len()), (4, 3), "one sample per task: {samples:?}");
    assert!(web.iter().all(|x| x["memory_limit_bytes"] == 32 * 1024 * 1024), "{samples:?}");
    let token = app.token("dev", &password_of("dev")).await;
    let url = format!("{}/api/v1/deployments/{dep}/console?component=web&replica=2", app.address.replacen("http://", "ws://", 1));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("a console on a task");
    let hello = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
    assert!(hello.to_text().unwrap().contains("\"open\""), "{hello}");
    ws.send(Message::Binary(b"until [ -s /www/db.html ]; do sleep 0.2; done; echo task-$((6*7)) $(cat /www/db.html)\n".to_vec().into()))
        .await
        .unwrap();
    let mut output = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !output.contains("task-42 db-") && std::time::Instant::now() < deadline {
        if let Ok(Some(Ok(Message::Binary(b)))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            output.push_str(&String::from_utf8_lossy(&b));
        }
    }
    assert!(output.contains("task-42 db-"), "a shell in the third task, which reached db: {output}");
    ws.send(Message::Binary(b"exit\n".to_vec().into())).await.unwrap();
    drop(ws);
    act(&dev, &dep, json!({"action": "scale", "component": "web", "replicas": 1})).await;
    let d = admin.get_deployment_ok(&dep).await;
    assert_eq!(service(&d, "web")["tasks"], json!({"running": 1, "desired": 1}), "{d}");
    eventually(30, "the scaled-away tasks' containers to go", || async {
        (docker(&swarm(), &["ps", "-q", "--filter", &filter]).lines().count() == 1).then_some(())
    })
    .await;

    // Stop and start: replicas to 0 and back.
    act(&dev, &dep, json!({"action": "stop"})).await;
    let d = app.wait_deployment(&admin, &dep, &["stopped"], 30).await;
    assert_eq!(service(&d, "db")["tasks"], json!({"running": 0, "desired": 0}), "{d}");
    assert_eq!(inspect(&db_name, "{{.Spec.Mode.Replicated.Replicas}}"), "0");
    act(&dev, &dep, json!({"action": "start"})).await;
    let d = app.wait_deployment(&admin, &dep, &["running"], 30).await;
    assert_eq!(service(&d, "web")["tasks"], json!({"running": 1, "desired": 1}), "{d}");

    // Logs come from the service's logs.
    let logs = eventually(30, "the web service's logs", || async {
        let res = dev.get(&format!("/api/v1/deployments/{dep}/logs?component=web&tail=50")).await;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let text = if status == StatusCode::OK { text } else { String::new() };
        text.contains("web up").then_some(text)
    })
    .await;
    assert!(logs.lines().filter(|l| l.contains("web up")).count() >= 2, "every task's lines (the first and the one started again): {logs}");

    // Destroy leaves no service, container, network or volume.
    let res = dev.deployment_action(&dep, "destroy").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{}", res.text().await.unwrap_or_default());
    app.wait_deployment(&admin, &dep, &["destroyed"], 120).await;
    assert_eq!(left_on_swarm(&dep), Vec::<String>::new());
}
