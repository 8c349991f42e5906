//! Registering hosts (unix, tcp, tcp + TLS), their health, and removal rules.
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};

use crate::fixtures::blueprint;
use crate::helpers::{Db, docker_hosts, env, eventually, spawn_app};
use crate::{fixture, on_both_databases};

on_both_databases!(
    hosts_register_and_report_their_engine,
    tls_hosts_need_the_right_certificate,
    a_host_that_stops_answering_is_marked_down_and_up_again
);

async fn hosts_register_and_report_their_engine(db: Db) {
    let app = spawn_app(db).await;
    let admin = app.admin().await;
    app.register_test_hosts(&admin).await;
    let hosts: Value = admin.list_hosts_ok().await;
    let list = hosts.as_array().unwrap();
    assert_eq!(list.len(), 2);
    for h in list {
        assert_eq!(h["status"], "up", "{h}");
        assert!(!h["engine"]["version"].as_str().unwrap().is_empty(), "{h}");
        assert!(h["engine"]["cpus"].as_i64().unwrap() >= 1);
        assert!(h.get("tls_key").is_none());
    }
    // The address given at registration is kept (the second test host publishes on 127.0.0.2).
    let given = crate::helpers::env("WHARF_TEST_PUBLISH_ADDRESSES");
    assert_eq!(list[1]["publish_address"], given.split(',').nth(1).unwrap());
    let one = admin.get_host_ok(&list[0]["id"].to_string()).await;
    assert_eq!(one["name"], "h1");

    // Bad input: clear errors, nothing registered.
    let cases = [
        (json!({"name": "h1", "endpoint": docker_hosts()[0]}), StatusCode::CONFLICT),
        (json!({"name": "bad name", "endpoint": "unix:///x.sock"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "h3", "endpoint": "http://127.0.0.1:1"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "h3", "endpoint": "unix:///nonexistent/docker.sock"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "h3", "endpoint": "tcp://127.0.0.1:1"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "h3", "endpoint": "unix:///x.sock", "max_containers": 0}), StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (body, status) in cases {
        let res = admin.register_host(&body).await;
        assert_eq!(res.status(), status, "{body}");
        let err: Value = res.json().await.unwrap();
        assert!(!err["error"]["message"].as_str().unwrap().is_empty());
    }
    let res = admin.register_host(&json!({"name": "h3", "endpoint": "unix:///nonexistent/docker.sock"})).await;
    let err: Value = res.json().await.unwrap();
    assert!(err["error"]["message"].as_str().unwrap().contains("/nonexistent/docker.sock"), "{err}");
    assert_eq!(admin.list_hosts_ok().await.as_array().unwrap().len(), 2);

    // Removal: nothing lives there, so it goes.
    let res = admin.remove_host("h2").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(admin.get_host("h2").await.status(), StatusCode::NOT_FOUND);
}

fn pem(name: &str) -> String {
    std::fs::read_to_string(format!("{}/{name}", env("WHARF_TEST_TLS_DIR"))).expect("a test certificate")
}

async fn tls_hosts_need_the_right_certificate(db: Db) {
    let app = spawn_app(db).await;
    let admin = app.admin().await;
    let endpoint = env("WHARF_TEST_TLS_ENDPOINT");
    // Without TLS, a TLS daemon does not answer as Docker.
    let res = admin.register_host(&json!({"name": "tls", "endpoint": endpoint})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A client certificate from another CA is refused by the daemon, and so by Wharf.
    let res = admin
        .register_host(&json!({"name": "tls", "endpoint": endpoint, "tls": {"ca_pem": pem("ca.pem"), "cert_pem": pem("bad-cert.pem"), "key_pem": pem("bad-key.pem")}}))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = res.json().await.unwrap();
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("could not talk to the engine"), "{message}");
    // Not PEM at all.
    let res =
        admin.register_host(&json!({"name": "tls", "endpoint": endpoint, "tls": {"ca_pem": "x", "cert_pem": "y", "key_pem": "z"}})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(admin.list_hosts_ok().await, json!([]), "nothing was registered");

    // The right certificate works, and the key is never shown back.
    let key = pem("key.pem");
    let res = admin
        .register_host(
            &json!({"name": "tls", "endpoint": endpoint, "tls": {"ca_pem": pem("ca.pem"), "cert_pem": pem("cert.pem"), "key_pem": key}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let host: Value = res.json().await.unwrap();
    assert_eq!(host["tls"], true);
    assert_eq!(host["status"], "up");
    let all = admin.list_hosts().await.text().await.unwrap();
    assert!(!all.contains("PRIVATE KEY"), "the key leaked: {all}");
    let audit = admin.get_audit("action=host").await.text().await.unwrap();
    assert!(!audit.contains("PRIVATE KEY"));
}

/// A TCP relay to the tcp test daemon that the test can cut and restore.
pub(crate) async fn relay(target: String) -> (u16, tokio::sync::watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::watch::channel(true);
    tokio::spawn(async move {
        let mut conns: Vec<tokio::task::JoinHandle<()>> = Vec::new();
        loop {
            let mut rx2 = rx.clone();
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((mut inbound, _)) = accepted else { continue };
                    if !*rx.borrow() {
                        drop(inbound);
                        continue;
                    }
                    let target = target.clone();
                    conns.push(tokio::spawn(async move {
                        if let Ok(mut out) = TcpStream::connect(&target).await {
                            let _ = copy_bidirectional(&mut inbound, &mut out).await;
                        }
                    }));
                }
                _ = rx2.changed() => {
                    if !*rx2.borrow() {
                        for c in conns.drain(..) { c.abort(); }
                    }
                }
            }
        }
    });
    (port, tx)
}

async fn a_host_that_stops_answering_is_marked_down_and_up_again(db: Db) {
    let app = crate::helpers::spawn_app_with(db, crate::mail::mail_config()).await;
    let admin = app.admin().await;
    // Admins hear of it in the portal and by mail.
    let admin_mail = crate::mail::address("admin");
    crate::mail::set_email(&admin, "admin", &admin_mail).await;
    let target = docker_hosts()[1].trim_start_matches("tcp://").to_string();
    let (port, switch) = relay(target).await;
    let res = admin.register_host(&json!({"name": "flaky", "endpoint": format!("tcp://127.0.0.1:{port}")})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Without a publish address, a tcp host publishes on its endpoint's address.
    assert_eq!(res.json::<Value>().await.unwrap()["publish_address"], "127.0.0.1");

    switch.send(false).unwrap();
    let started = std::time::Instant::now();
    let host = eventually(10, "the host to be marked down", || async {
        let h = admin.get_host_ok("flaky").await;
        (h["status"] == "down").then_some(h)
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(host["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{host}");

    // A deployment on a host that is down fails with a clear error; the host stays down.
    let bp = blueprint(fixture!("blueprints/sleep.yaml"), &[("id", "one-box"), ("name", "One box")]);
    assert_eq!(admin.publish_blueprint(&bp).await.status(), StatusCode::CREATED);
    let res = admin.deploy_blueprint("one-box", &json!({})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let d: Value = res.json().await.unwrap();
    let d = app.wait_deployment(&admin, d["id"].as_str().unwrap(), &["failed", "running"], 30).await;
    assert_eq!(d["status"], "failed");
    assert!(d["error"].as_str().unwrap().contains("flaky is not up"), "{d}");

    switch.send(true).unwrap();
    let started = std::time::Instant::now();
    eventually(10, "the host to be up again", || async { (admin.get_host_ok("flaky").await["status"] == "up").then_some(()) }).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    let audit: Value = admin.get_audit_ok("action=host").await;
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"host.down") && actions.contains(&"host.up"), "{actions:?}");
    let told = admin.json("/api/v1/notifications").await;
    let kinds: Vec<&str> = told.as_array().unwrap().iter().filter_map(|n| n["type"].as_str().filter(|t| t.starts_with("host."))).collect();
    assert_eq!(kinds, ["host.up", "host.down"], "each change once, newest first: {told}");
    assert!(told[0]["title"].as_str().unwrap().contains("flaky"), "{told}");
    crate::mail::mail_to(&admin_mail, "flaky").await;
    eventually(30, "both host mails", || async { (crate::mail::mailbox(&admin_mail).len() == 2).then_some(()) }).await;
}

/// With no host registered, a Docker socket at `hosts.local_socket` becomes host `local`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_socket_is_registered_at_start_up() {
    let socket = docker_hosts()[0].trim_start_matches("unix://").to_string();
    let app = crate::helpers::spawn_app_with(
        Db::Sqlite,
        json!({"hosts": {"register_local": true, "local_socket": socket, "health_interval_secs": 1}}),
    )
    .await;
    let admin = app.admin().await;
    let hosts: Value = admin.list_hosts_ok().await;
    assert_eq!(hosts[0]["name"], "local");
    assert_eq!(hosts[0]["endpoint"], format!("unix://{socket}"));
    eventually(10, "the local host to be checked", || async { (admin.get_host_ok("local").await["status"] == "up").then_some(()) }).await;
}
