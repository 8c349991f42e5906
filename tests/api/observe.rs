//! Logs, live stats and the web console on real daemons: tail, since and follow return the
//! right lines, merged output is prefixed, downloads have a file name; the stats show the
//! blueprint's memory limit; a WebSocket client runs a command in a shell, resizes it, and the
//! session is audited with byte counts and a transcript; a foreign Origin, a missing CSRF
//! token, a missing permission and someone else's deployment are refused; a follower that reads
//! nothing does not make Wharf's memory grow.
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::fixture;
use crate::fixtures::blueprint;
use crate::helpers::{Api, Db, TestApp, docker_hosts, eventually, password_of, spawn_app_with};

/// team-a (dev, lead), one host, the `talk` item (recorded consoles) with `logs`, `console`
/// and `stop`, and `mute` (the same blueprint) with `logs` only; and team-b with `bob`.
struct Setup {
    admin: Api,
    dev: Api,
    bob: Api,
}

async fn setup(app: &TestApp) -> Setup {
    let admin = app.seed_team().await;
    let res = admin.register_host(&json!({"name": "h1", "endpoint": docker_hosts()[0], "publish_address": "127.0.0.1"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    for (id, record) in [("talk", true), ("mute", false)] {
        let bp = blueprint(fixture!("blueprints/talk.yaml"), &[("id", id)]);
        assert_eq!(admin.publish_blueprint(&bp).await.status(), StatusCode::CREATED);
        let res = admin
            .create_catalog_item(&json!({"id": id, "name": id, "category": "Tools", "blueprint": id, "console_record": record,
                "lease": {"default_days": 1, "max_days": 3}}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    }
    for (items, actions) in [(["talk"], json!(["logs", "console", "stop", "start"])), (["mute"], json!(["logs"]))] {
        let res = admin.create_entitlement(&json!({"group": "team-a", "catalog_items": items, "actions": actions})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    assert_eq!(admin.create_group(&json!({"name": "team-b"})).await.status(), StatusCode::CREATED);
    assert_eq!(admin.create_user(&json!({"username": "bob", "password": password_of("bob")})).await.status(), StatusCode::CREATED);
    assert_eq!(admin.set_member("team-b", "bob", "member").await.status(), StatusCode::OK);
    let dev = app.api_as("dev", &password_of("dev")).await;
    let bob = app.api_as("bob", &password_of("bob")).await;
    Setup { admin, dev, bob }
}

/// A running deployment of `item` for `api`.
async fn running(api: &Api, admin: &Api, item: &str) -> String {
    let res = api.submit_request(&json!({"catalog_item": item, "group": "team-a"})).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let r = eventually(90, "the request to finish", || async {
        let r = api.get_request_ok(&id).await;
        ["succeeded", "failed"].contains(&r["status"].as_str().unwrap_or_default()).then_some(r)
    })
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let dep = r["deployment_id"].as_str().unwrap().to_string();
    eventually(30, "the deployment to run", || async { (admin.get_deployment_ok(&dep).await["status"] == "running").then_some(()) }).await;
    dep
}

async fn text(api: &Api, path: &str) -> (StatusCode, String) {
    let res = api.get(path).await;
    (res.status(), res.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_tail_since_follow_merge_and_download() {
    let app = spawn_app_with(Db::Sqlite, json!({})).await;
    let s = setup(&app).await;
    let dep = running(&s.dev, &s.admin, "talk").await;
    let logs = format!("/api/v1/deployments/{dep}/logs");

    // One container: no prefix, stderr marked, stdout in order (the engine keeps no order
    // between a container's stdout and its stderr).
    let lines = eventually(20, "the first lines", || async {
        let (status, body) = text(&s.dev, &format!("{logs}?component=web")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.contains("second").then_some(body)
    })
    .await;
    let first: Vec<&str> = lines.lines().take(3).filter(|l| !l.starts_with("[stderr]")).collect();
    assert_eq!(first[..2], ["first", "second"], "{lines}");
    assert!(lines.lines().any(|l| l == "[stderr] oops"), "{lines}");
    // tail: the last line of one replica; since in the future: nothing; since 1h: everything.
    let (_, one) = text(&s.dev, &format!("{logs}?component=side&replica=1&tail=1")).await;
    assert_eq!(one, "side-hello\n");
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, none) = text(&s.dev, &format!("{logs}?component=side&since={later}")).await;
    assert_eq!(none, "");
    let (_, hour) = text(&s.dev, &format!("{logs}?component=side&since=1h&timestamps=true")).await;
    assert_eq!(hour.lines().count(), 2, "{hour}");
    assert!(hour.lines().all(|l| l.starts_with("side-") && l.contains(" | 20") && l.ends_with("side-hello")), "{hour}");
    // Merged: every container, each line prefixed with its component and replica.
    let (_, all) = text(&s.dev, &logs).await;
    for expected in ["web-0 | first", "web-0 | [stderr] oops", "side-0 | side-hello", "side-1 | side-hello"] {
        assert!(all.lines().any(|l| l == expected), "{expected} in {all}");
    }
    // A download names its file.
    let res = s.dev.get(&format!("{logs}?download=true")).await;
    let disposition = res.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(disposition.starts_with("attachment; filename=\"") && disposition.ends_with(".log\""), "{disposition}");
    // Follow, from now (tail=0): a tick written after it started.
    let res = s.dev.get(&format!("{logs}?component=web&tail=0&follow=true")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = res;
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !seen.contains("tick-") && Instant::now() < deadline {
        if let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_secs(5), body.chunk()).await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    assert!(seen.lines().next().is_some_and(|l| l.starts_with("tick-")), "followed: {seen}");
    drop(body);
    // As server-sent events.
    let res = s
        .dev
        .client()
        .get(app.url(&format!("{logs}?component=web&tail=3&follow=true")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res;
    let chunk = tokio::time::timeout(Duration::from_secs(10), body.chunk()).await.unwrap().unwrap().unwrap();
    let chunk = String::from_utf8_lossy(&chunk).to_string();
    let data: Value = serde_json::from_str(chunk.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
    assert!(chunk.starts_with("event: line\n") && data.get("c").is_none() && data["l"].is_string(), "one container: no `c`: {chunk}");
    assert!(data["s"] == "stdout" || data["s"] == "stderr", "{chunk}");
    drop(body);

    // Bad queries say what and where.
    for (query, field) in
        [("tail=10001", "tail"), ("since=yesterday", "since"), ("component=nope", "component"), ("component=side&replica=7", "replica")]
    {
        let res = s.dev.get(&format!("{logs}?{query}")).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["details"][0]["field"], field, "{query}: {body}");
    }
    // Someone else's deployment: not there; a manager of the group reads it.
    assert_eq!(s.bob.get(&logs).await.status(), StatusCode::NOT_FOUND);
    let lead = app.api_as("lead", &password_of("lead")).await;
    assert_eq!(lead.get(&format!("{logs}?component=web&tail=1")).await.status(), StatusCode::OK);

    // A stopped deployment's logs are still there.
    let res = s.dev.post(&format!("/api/v1/deployments/{dep}/actions"), &json!({"action": "stop"})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    eventually(60, "the deployment to stop", || async { (s.admin.get_deployment_ok(&dep).await["status"] == "stopped").then_some(()) })
        .await;
    let (status, stopped) = text(&s.dev, &format!("{logs}?component=web&tail=100000")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{stopped}");
    let (status, stopped) = text(&s.dev, &format!("{logs}?component=web&tail=10000")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(stopped.lines().any(|l| l == "first") && stopped.lines().any(|l| l.starts_with("tick-")), "{stopped}");
    // Following a stopped container gives its lines and ends.
    let (status, ended) = tokio::time::timeout(Duration::from_secs(20), text(&s.dev, &format!("{logs}?component=side&follow=true")))
        .await
        .expect("a follow of stopped containers ends");
    assert_eq!(status, StatusCode::OK);
    assert!(ended.contains("side-0 | side-hello") && ended.ends_with("[wharf] the containers stopped\n"), "{ended}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_show_the_blueprints_memory_limit() {
    let app = spawn_app_with(Db::Sqlite, json!({"console": {"idle_timeout_secs": 5}})).await;
    let s = setup(&app).await;
    let dep = running(&s.dev, &s.admin, "talk").await;
    let res = s.dev.get(&format!("/api/v1/deployments/{dep}/stats")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let samples: Vec<Value> = res.json().await.unwrap();
    assert_eq!(samples.len(), 3, "{samples:?}");
    for s in &samples {
        let mb = if s["component"] == "web" { 64 } else { 32 };
        assert_eq!(s["memory_limit_bytes"], mb * 1024 * 1024, "{s}");
        assert!(s["memory_bytes"].as_u64().unwrap() > 0 && s["pids"].as_u64().unwrap() >= 1, "{s}");
        assert!(s["container"].as_str().unwrap().starts_with("wharf-"), "{s}");
    }
    // Live: a sample event.
    let res = s
        .dev
        .client()
        .get(app.url(&format!("/api/v1/deployments/{dep}/stats")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut body = res;
    let mut seen = String::new();
    while !seen.contains("event: sample") {
        let chunk = tokio::time::timeout(Duration::from_secs(20), body.chunk()).await.expect("a sample").unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let data: Value =
        serde_json::from_str(seen.lines().find_map(|l| l.strip_prefix("data: {\"at\"").map(|r| format!("{{\"at\"{r}"))).unwrap().as_str())
            .unwrap();
    assert_eq!(data["samples"].as_array().unwrap().len(), 3, "{data}");
    assert_eq!(s.bob.get(&format!("/api/v1/deployments/{dep}/stats")).await.status(), StatusCode::NOT_FOUND);
    drop(body);

    // A console where nothing is typed or printed closes after console.idle_timeout_secs.
    let token = app.token("dev", &password_of("dev")).await;
    let bearer = ("authorization", format!("Bearer {token}"));
    let (mut ws, _) = tokio_tungstenite::connect_async(console_request(&app, &dep, "component=web", std::slice::from_ref(&bearer)))
        .await
        .expect("a console");
    let opened = Instant::now();
    let mut closed = Value::Null;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(15), ws.next()).await {
        if let Message::Text(t) = m
            && let Ok(v) = serde_json::from_str::<Value>(&t)
            && v.get("closed").is_some()
        {
            closed = v;
        }
    }
    assert!(closed["closed"].as_str().unwrap_or_default().contains("nothing was typed or printed for 5 s"), "{closed}");
    assert!(opened.elapsed() >= Duration::from_secs(5));

    // Containers removed behind Wharf's back: each view says so, none waits.
    let endpoint = &docker_hosts()[0];
    for id in crate::helpers::docker(endpoint, &["ps", "-aq", "--filter", &format!("label=io.wharf.deployment={dep}")]).lines() {
        crate::helpers::docker(endpoint, &["rm", "-f", id]);
    }
    let res = s.dev.get(&format!("/api/v1/deployments/{dep}/stats")).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("gone from its host"), "{body}");
    let (status, logs) = text(&s.dev, &format!("/api/v1/deployments/{dep}/logs")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(logs.contains("[wharf] web-0: the container is gone from its host"), "{logs}");
    let req = console_request(&app, &dep, "component=web", std::slice::from_ref(&bearer));
    assert_eq!(refused(req).await, 409);
}

/// A WebSocket request to the console of `dep`, with extra headers.
fn console_request(
    app: &TestApp,
    dep: &str,
    query: &str,
    headers: &[(&str, String)],
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let url = format!("{}/api/v1/deployments/{dep}/console?{query}", app.address.replacen("http://", "ws://", 1));
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
    }
    req
}

/// The HTTP status a refused handshake answered.
async fn refused(req: tokio_tungstenite::tungstenite::handshake::client::Request) -> u16 {
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => res.status().as_u16(),
        Err(e) => panic!("not an HTTP refusal: {e}"),
        Ok(_) => panic!("the console opened"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_runs_commands_and_is_audited() {
    let app = spawn_app_with(Db::Sqlite, json!({"console": {"max_sessions_per_user": 1}})).await;
    let s = setup(&app).await;
    let dep = running(&s.dev, &s.admin, "talk").await;
    let token = app.token("dev", &password_of("dev")).await;
    let bearer = ("authorization", format!("Bearer {token}"));

    // Refusals, before anything runs.
    let evil = ("origin", "http://evil.example".to_string());
    assert_eq!(refused(console_request(&app, &dep, "component=web", &[bearer.clone(), evil.clone()])).await, 403);
    assert_eq!(refused(console_request(&app, &dep, "", std::slice::from_ref(&bearer))).await, 422, "two components: which one");
    let bob = app.token("bob", &password_of("bob")).await;
    assert_eq!(refused(console_request(&app, &dep, "component=web", &[("authorization", format!("Bearer {bob}"))])).await, 404);
    let mute = running(&s.dev, &s.admin, "mute").await;
    assert_eq!(refused(console_request(&app, &mute, "component=web", std::slice::from_ref(&bearer))).await, 403, "no console permission");
    // A browser session: its Origin and its CSRF token (a sub-protocol) are needed.
    let browser = app.browser();
    browser.login_ok("dev", &password_of("dev")).await;
    // The deployment page offers logs, live use and the console where the entitlement says so.
    let (_, show) = browser.page(&format!("/deployments/{dep}")).await;
    for part in ["id=\"logs\"", "id=\"stats\"", &format!("action=\"/deployments/{dep}/console\""), "/static/js/logs.js"] {
        assert!(show.contains(part), "{part} on the deployment page");
    }
    let (_, quiet) = browser.page(&format!("/deployments/{mute}")).await;
    assert!(quiet.contains("id=\"logs\"") && !quiet.contains("/console\""), "mute: logs, no console");
    let res = browser.get(&format!("/deployments/{dep}/console?component=web")).await;
    assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("style-src 'self' 'unsafe-inline'"));
    let status = res.status();
    let page = res.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("/static/vendor/xterm/xterm.js") && page.contains("data-ws=\"/api/v1/deployments/"), "{page}");
    let (status, _) = browser.page(&format!("/deployments/{mute}/console?component=web")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let csrf = page.split("data-csrf=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_string();
    let cookie = ("cookie", browser.cookie_header());
    let own = ("origin", app.address.clone());
    assert_eq!(refused(console_request(&app, &dep, "component=web", &[cookie.clone(), own.clone()])).await, 403, "no CSRF token");
    assert_eq!(
        refused(console_request(
            &app,
            &dep,
            "component=web",
            &[cookie.clone(), evil.clone(), ("sec-websocket-protocol", format!("wharf.console, wharf.csrf.{csrf}"))]
        ))
        .await,
        403
    );
    let (ws, res) = tokio_tungstenite::connect_async(console_request(
        &app,
        &dep,
        "component=web",
        &[cookie.clone(), own.clone(), ("sec-websocket-protocol", format!("wharf.console, wharf.csrf.{csrf}"))],
    ))
    .await
    .expect("a browser session opens the console");
    assert_eq!(res.headers()["sec-websocket-protocol"], "wharf.console");
    // One session at a time for this user (console.max_sessions_per_user = 1).
    assert_eq!(refused(console_request(&app, &dep, "component=web", std::slice::from_ref(&bearer))).await, 429);
    drop(ws);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // With a token: a command, a resize, and the audit.
    let (mut ws, _) = eventually(10, "a place for another session", || async {
        tokio_tungstenite::connect_async(console_request(&app, &dep, "component=web", std::slice::from_ref(&bearer))).await.ok()
    })
    .await;
    let hello = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
    let hello: Value = serde_json::from_str(hello.to_text().unwrap()).unwrap();
    assert_eq!(hello["status"], "open", "{hello}");
    assert_eq!(hello["recorded"], true);
    let session = hello["session"].as_str().unwrap().to_string();
    ws.send(Message::Text(r#"{"resize":[100,30]}"#.into())).await.unwrap();
    ws.send(Message::Binary(b"echo wharf-$((6*7)); stty size\n".to_vec().into())).await.unwrap();
    let mut output = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(output.contains("wharf-42") && output.contains("30 100")) && Instant::now() < deadline {
        if let Ok(Some(Ok(Message::Binary(b)))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            output.push_str(&String::from_utf8_lossy(&b));
        }
    }
    assert!(output.contains("wharf-42"), "{output}");
    assert!(output.contains("30 100"), "the resize reached the TTY: {output}");
    ws.send(Message::Binary(b"exit\n".to_vec().into())).await.unwrap();
    let mut closed = Value::Null;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        if let Message::Text(t) = m
            && let Ok(v) = serde_json::from_str::<Value>(&t)
            && v.get("closed").is_some()
        {
            closed = v;
        }
    }
    assert!(closed["closed"].as_str().unwrap_or_default().contains("exited with code 0"), "{closed}");

    let read = eventually(10, "the session's end to be recorded", || async {
        let v = s.admin.json(&format!("/api/v1/console-sessions/{session}")).await;
        v["ended_at"].is_string().then_some(v)
    })
    .await;
    assert_eq!(read["user"], "dev");
    assert!(read["bytes_in"].as_i64().unwrap() >= 30 && read["bytes_out"].as_i64().unwrap() > 10, "{read}");
    assert!(read["transcript"].as_str().unwrap().contains("echo wharf-$((6*7))"), "{read}");
    let audit = s.admin.get_audit_ok("action=console.close").await;
    let entry =
        audit.as_array().unwrap().iter().find(|e| e["details"]["session"] == session.as_str()).expect("console.close audited").clone();
    assert_eq!(entry["actor"], "dev");
    assert!(entry["details"]["bytes_in"].as_u64().unwrap() > 0 && entry["details"]["bytes_out"].as_u64().unwrap() > 0, "{entry}");
    let opened = s.admin.get_audit_ok("action=console.open").await;
    assert!(opened.as_array().unwrap().iter().any(|e| e["details"]["session"] == session.as_str()), "{opened}");
    // Only admins read sessions; the deployment page lists them for admins.
    assert_eq!(s.dev.get(&format!("/api/v1/console-sessions/{session}")).await.status(), StatusCode::FORBIDDEN);
    let list = s.admin.json(&format!("/api/v1/deployments/{dep}/console-sessions")).await;
    assert!(list.as_array().unwrap().iter().all(|v| v["transcript"].is_null()), "{list}");
    assert!(list.as_array().unwrap().len() >= 2, "{list}");

    // A browser that leaves without `exit`: its shell is hung up, not left running.
    let (mut ws, _) = tokio_tungstenite::connect_async(console_request(&app, &dep, "component=web", std::slice::from_ref(&bearer)))
        .await
        .expect("another session");
    let hello = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
    let container = serde_json::from_str::<Value>(hello.to_text().unwrap()).unwrap()["container"].as_str().unwrap().to_string();
    ws.send(Message::Binary(b"sleep 300\n".to_vec().into())).await.unwrap();
    let shells = || crate::helpers::docker(&docker_hosts()[0], &["exec", &container, "ps", "-o", "args"]);
    eventually(10, "the console's sleep to run", || async { shells().contains("sleep 300").then_some(()) }).await;
    drop(ws);
    eventually(20, "the shell and its job to end", || async {
        let ps = shells();
        (!ps.contains("sleep 300") && !ps.lines().any(|l| l.trim() == "/bin/sh -l")).then_some(())
    })
    .await;

    let admin_browser = app.browser();
    admin_browser.login_ok("admin", crate::helpers::ADMIN_PASSWORD).await;
    let (status, page) = admin_browser.page(&format!("/admin/console-sessions/{session}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("echo wharf-$((6*7))") && !page.contains("\u{1b}["), "the transcript, without terminal codes");
    let (_, show) = admin_browser.page(&format!("/admin/deployments/{dep}")).await;
    assert!(show.contains(&format!("/admin/console-sessions/{session}")), "the deployment page lists the session");
}

/// The resident memory of a process, in kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_log_follower_keeps_memory_bounded() {
    use crate::helpers::{ADMIN_PASSWORD, fresh_database, serve};
    let url = fresh_database(Db::Sqlite).await;
    let served = tokio::task::spawn_blocking(move || {
        let envs = [
            ("WHARF_DATABASE_URL", url.as_str()),
            ("WHARF_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("WHARF_CATALOG_DIR", "/nonexistent/wharf-test-catalog"),
            ("WHARF_HOSTS__REGISTER_LOCAL", "false"),
        ];
        serve(&["serve"], &envs)
    })
    .await
    .unwrap();
    let app = served.app();
    let admin = app.admin().await;
    let res = admin.register_host(&json!({"name": "h1", "endpoint": docker_hosts()[0], "publish_address": "127.0.0.1"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // About 1,000 lines a second.
    let bp = blueprint(
        "id: chatty\nname: Chatty\nversion: 1\ncomponents:\n  app:\n    image: {{image}}\n    command: [\"/bin/sh\", \"-c\", \"while true; do i=0; while [ $i -lt 100 ]; do echo chatty-line-$i-padding-padding-padding-padding-padding; i=$((i+1)); done; usleep 100000; done\"]\n",
        &[],
    );
    assert_eq!(admin.publish_blueprint(&bp).await.status(), StatusCode::CREATED);
    let res = admin.deploy_blueprint("chatty", &json!({"name": "chatty"})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{}", res.text().await.unwrap_or_default());
    let dep: Value = res.json().await.unwrap();
    let dep = dep["id"].as_str().unwrap().to_string();
    eventually(60, "chatty to run", || async { (admin.get_deployment_ok(&dep).await["status"] == "running").then_some(()) }).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let pid = served.child.id();
    // One follower that reads a little, then nothing for 15 s, while the container writes
    // about 15,000 lines.
    let res = admin.get(&format!("/api/v1/deployments/{dep}/logs?follow=true&tail=10")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = res;
    let first = tokio::time::timeout(Duration::from_secs(10), body.chunk()).await.unwrap().unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("chatty-line-"));
    let before = rss_kb(pid);
    tokio::time::sleep(Duration::from_secs(15)).await;
    let after = rss_kb(pid);
    eprintln!("wharf's memory with a stalled follower: {before} kB, 15 s later {after} kB");
    assert!(after < before + 8 * 1024, "a stalled follower raised Wharf's memory from {before} kB to {after} kB");
    // It still reads (what waited, then newer lines), and Wharf answers others meanwhile.
    let more = tokio::time::timeout(Duration::from_secs(10), body.chunk()).await.unwrap().unwrap().unwrap();
    assert!(String::from_utf8_lossy(&more).contains("chatty-line-"));
    assert_eq!(admin.get("/healthz").await.status(), StatusCode::OK);
    drop(body);
    let res = admin.deployment_action(&dep, "destroy").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    eventually(60, "chatty to go", || async { (admin.get_deployment_ok(&dep).await["status"] == "destroyed").then_some(()) }).await;
    served.stop();
}
