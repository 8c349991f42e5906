//! The self-service loop through the pages: the catalog, a generated request form, the live
//! timeline (server-sent events), the approvals inbox, and the developer's deployment.
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, Db, env, fresh_database, password_of, serve_logged, spawn_app};
use crate::on_both_databases;
use crate::requests::world;

on_both_databases!(request_approve_and_follow_live_from_the_pages);

/// A live view does not rest on the change feed alone: in a process whose feed drops every
/// request's change (a fail point), the view of a request that waits for approval still brings
/// the decision, each entry after it and the final status, by its own looks at the database,
/// and ends with the entry that closed the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_view_follows_what_the_feed_dropped() {
    let url = fresh_database(Db::Sqlite).await;
    let log = std::path::PathBuf::from(env("WHARF_TEST_TMP")).join(format!("feed-dropped-{}.log", std::process::id()));
    let served = tokio::task::spawn_blocking({
        let log = log.clone();
        move || {
            let envs = [
                ("WHARF_DATABASE_URL", url.as_str()),
                ("WHARF_ADMIN_PASSWORD", ADMIN_PASSWORD),
                ("WHARF_CATALOG_DIR", "/nonexistent/wharf-test-catalog"),
                ("WHARF_HOSTS__REGISTER_LOCAL", "false"),
                ("WHARF_ENGINE__NETWORK_POOL", "0"),
                ("WHARF_TEST_FAILPOINTS", "feed.request_change=error"),
            ];
            serve_logged(&["serve"], &envs, &log)
        }
    })
    .await
    .expect("wharf started");
    let app = served.app();
    let w = world_where_managers_approve(&app).await;
    let res = w.dev.submit_request(&json!({"catalog_item": "web", "group": "team-a", "inputs": {"replicas": 1}})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();

    let dev = app.browser();
    dev.login_ok("dev", &password_of("dev")).await;
    let mut stream = dev.get(&format!("/requests/{id}/events")).await;
    assert_eq!(stream.status(), StatusCode::OK);
    // The backlog first: the request waits.
    let mut body = String::new();
    while !body.contains("\"status\":\"pending_approval\"") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.chunk()).await;
        let chunk = chunk.expect("the backlog comes at once").expect("the stream reads").expect("the stream goes on");
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_eq!(w.lead.approve_with_comment(&id, "dropped by the feed").await.status(), StatusCode::OK);
    // Then what happens after: the stream ends once it told the request is closed.
    let rest = tokio::time::timeout(std::time::Duration::from_secs(120), async move {
        while let Ok(Some(chunk)) = stream.chunk().await {
            body.push_str(&String::from_utf8_lossy(&chunk));
        }
        body
    })
    .await
    .expect("the stream follows the request to its end");
    assert!(rest.contains("lead approved level 1: “dropped by the feed”"), "the decision: {rest}");
    assert!(rest.contains("\"kind\":\"provisioning\""), "provisioning: {rest}");
    // The entry that closed the request, then the status it closed with, last.
    let entry = rest.find("\"kind\":\"succeeded\"").unwrap_or_else(|| panic!("the entry that closed the request: {rest}"));
    let last = rest.rfind("event: ").expect("events");
    assert!(
        entry < last && rest[last..].starts_with("event: status") && rest[last..].contains("\"status\":\"succeeded\""),
        "the final status, last: {rest}"
    );
    assert_eq!(w.dev.get_request_ok(&id).await["status"], "succeeded");
    served.stop();
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(logged.contains("feed.request_change"), "the feed dropped the request's changes (the fail point was reached)");
    let _ = std::fs::remove_file(&log);
}

/// The requests' world, with a policy that holds every request for the group's managers.
async fn world_where_managers_approve(app: &crate::helpers::TestApp) -> crate::requests::World {
    let w = world(app).await;
    let res = w
        .admin
        .create_approval_policy(&json!({"name": "managers approve", "levels": [{"approvers": {"group_managers": true}, "mode": "any"}]}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    w
}

async fn request_approve_and_follow_live_from_the_pages(db: Db) {
    let app = spawn_app(db).await;
    let w = world_where_managers_approve(&app).await;

    let dev = app.browser();
    dev.login_ok("dev", &password_of("dev")).await;
    let (status, html) = dev.page("/catalog?q=web%20web").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("href=\"/catalog/web\"") && !html.contains("href=\"/catalog/other\""), "search filters: {html}");
    let (_, form) = dev.page("/catalog/web").await;
    assert!(form.contains("<select id=\"input-memory_mb\"") && form.contains("type=\"password\""), "{form}");
    assert!(form.contains("max=\"30\""), "the lease maximum is shown");

    // Errors come back beside their fields; nothing is requested.
    let res = dev
        .submit(
            "/catalog/web",
            "/catalog/web",
            &[("input.memory_mb", "64"), ("input.replicas", "9"), ("group", "team-a"), ("lease_days", "90")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("must be at most 3") && html.contains("must be 1 to 30 days"), "{html}");
    assert_eq!(w.admin.list_requests_ok("").await, json!([]));

    let res = dev
        .submit(
            "/catalog/web",
            "/catalog/web",
            &[("input.memory_mb", "64"), ("input.replicas", "1"), ("group", "team-a"), ("lease_days", "5"), ("reason", "try it")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let id = location.trim_start_matches("/requests/").to_string();
    let (_, html) = dev.page(&location).await;
    assert!(html.contains("pending_approval") && html.contains("Waiting on: <strong>lead</strong>"), "{html}");
    assert!(html.contains("managers approve") && html.contains("data-live=\"true\""), "{html}");

    // Follow it live: the event stream carries what happens next.
    let stream = dev.get(&format!("/requests/{id}/events?after=2")).await;
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let collector = tokio::spawn(async move {
        let mut stream = stream;
        let mut body = String::new();
        while let Ok(Some(chunk)) = stream.chunk().await {
            body.push_str(&String::from_utf8_lossy(&chunk));
            if body.contains("\"status\":\"succeeded\"") || body.contains("\"status\":\"failed\"") {
                break;
            }
        }
        body
    });

    let lead = app.browser();
    lead.login_ok("lead", &password_of("lead")).await;
    let (_, inbox) = lead.page("/approvals").await;
    assert!(inbox.contains(&format!("/requests/{id}")), "{inbox}");
    let res = lead.submit("/approvals", &format!("/requests/{id}/decide"), &[("decision", "approve"), ("comment", "go ahead")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let body = tokio::time::timeout(std::time::Duration::from_secs(90), collector).await.expect("the stream ends").unwrap();
    assert!(body.contains("event: timeline") && body.contains("lead approved level 1: “go ahead”"), "{body}");
    assert!(body.contains("\"kind\":\"provisioning\"") && body.contains("\"status\":\"succeeded\""), "{body}");

    // The developer's deployment, and its destruction from the page.
    let r = w.dev.get_request_ok(&id).await;
    let dep = r["deployment_id"].as_str().unwrap().to_string();
    let (_, html) = dev.page("/deployments").await;
    assert!(html.contains(&format!("/deployments/{dep}")), "{html}");
    let (_, html) = dev.page(&format!("/deployments/{dep}")).await;
    assert!(html.contains("data-status=\"running\"") && html.contains(&format!("/requests/{id}")), "{html}");
    let res = dev
        .submit(&format!("/deployments/{dep}"), &format!("/deployments/{dep}/actions"), &[("action", "destroy"), ("confirmed", "yes")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    app.wait_deployment(&w.admin, &dep, &["destroyed"], 60).await;

    // The admin's governance page lists what the loop used.
    let admin = app.browser();
    admin.login_ok("admin", ADMIN_PASSWORD).await;
    let (_, html) = admin.page("/admin/catalog").await;
    assert!(html.contains("managers approve") && html.contains("category Web"), "{html}");
    let res = admin
        .submit(
            "/admin/catalog",
            "/admin/catalog/policies",
            &[("name", "broken"), ("condition", "request.lease_days >"), ("level1.approvers", "admins")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("does not parse at line 1"));
}
