//! Each role's home page answers "what needs me now" (issue 16): the numbers on the boards are
//! the ones the API gives, on SQLite and on PostgreSQL (the boards' grouped counts and sums are
//! SQL of their own). The pages are read as HTML here; `browser.rs` looks at them in Chromium.
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Db, password_of, spawn_app};

#[tokio::test]
async fn dashboards_sqlite() {
    dashboards_answer_what_needs_me_now(Db::Sqlite).await;
}

#[tokio::test]
async fn dashboards_postgres() {
    dashboards_answer_what_needs_me_now(Db::Postgres).await;
}

async fn dashboards_answer_what_needs_me_now(db: Db) {
    let app = spawn_app(db).await;
    let w = crate::requests::world(&app).await;
    assert_eq!(w.admin.set_quota("team-a", &json!({"max_containers": 10, "max_memory_mb": 4096})).await.status(), StatusCode::OK);

    // A fresh developer's home says what to do next.
    let dev = app.browser();
    dev.login_ok("dev", &password_of("dev")).await;
    let (status, home) = dev.page("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("You have no deployment.") && home.contains("You have made no request yet."), "{home}");
    assert!(!home.contains("board-platform") && !home.contains("board-teams"), "a member sees only their own board");

    // One deployment, its lease ending in two days; one request held for the lead.
    let r = w.dev.submit_request(&json!({"catalog_item": "web", "group": "team-a"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r: serde_json::Value = r.json().await.unwrap();
    let id = r["id"].as_str().unwrap().to_string();
    let done = crate::helpers::eventually(90, "the request to succeed", || async {
        let r = w.dev.get_request_ok(&id).await;
        (r["status"] == "succeeded" || r["status"] == "failed").then_some(r)
    })
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let deployment = done["deployment_id"].as_str().unwrap().to_string();
    let ends = (Utc::now() + Duration::days(2)).to_rfc3339();
    let res = w.admin.put(&format!("/api/v1/deployments/{deployment}/lease"), &json!({"expires_at": ends})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let policy = json!({"name": "leads decide", "scope": {"catalog_items": ["other"]}, "levels": [{"approvers": {"group_managers": true}, "mode": "any"}]});
    assert_eq!(w.admin.create_approval_policy(&policy).await.status(), StatusCode::CREATED);
    let held = w.dev.submit_request(&json!({"catalog_item": "other", "group": "team-a"})).await;
    assert_eq!(held.status(), StatusCode::CREATED);
    let held: serde_json::Value = held.json().await.unwrap();
    assert_eq!(held["status"], "pending_approval", "{held}");
    let name = w.dev.get_deployment_ok(&deployment).await["name"].as_str().unwrap().to_string();

    // The developer: the deployment with its lease left, both requests and what each waits on.
    let (_, home) = dev.page("/").await;
    let leases = section(&home, "my-leases");
    assert!(leases.contains(&name) && leases.contains("hours left") && leases.contains("status-warn"), "{leases}");
    let recent = section(&home, "my-recent-requests");
    assert!(recent.contains("Web other") && recent.contains("approval at level 1 by lead"), "{recent}");
    assert!(recent.contains("Web web") && recent.contains(&format!("/deployments/{deployment}")), "{recent}");

    // The lead: one request to decide, team-a's quota, the lease ending this week.
    let lead = app.browser();
    lead.login_ok("lead", &password_of("lead")).await;
    let (_, home) = lead.page("/").await;
    assert!(home.contains(r#"<span class="figure-big" id="waiting-on-you">1</span>"#), "{home}");
    assert!(section(&home, "leases-ending").contains(&name), "{home}");
    let quota = section(&home, "team-quotas");
    assert!(quota.contains("team-a") && quota.contains(" of 10</span>") && quota.contains(" of 4,096 MB"), "{quota}");
    assert!(!home.contains("board-platform"), "a manager sees no platform board");

    // The admin: the request waiting, both hosts up with the deployment's load, the deployments
    // by status, today's two requests in the chart (with its text alternative).
    let admin = app.browser();
    admin.login_ok("admin", crate::helpers::ADMIN_PASSWORD).await;
    let (_, home) = admin.page("/").await;
    assert!(home.contains(r#"<span class="figure-big" id="approvals-waiting">1</span>"#), "{home}");
    let hosts = section(&home, "host-load");
    for (host, _) in &w.hosts {
        assert!(hosts.contains(host.as_str()), "{host} in {hosts}");
    }
    assert_eq!(hosts.matches(r#"data-status="up""#).count(), w.hosts.len(), "{hosts}");
    assert!(hosts.contains(">1 of ") || hosts.contains(">1 (no limit)<"), "the deployment's container on its host: {hosts}");
    let statuses = section(&home, "deployment-statuses");
    assert!(statuses.contains(r#"data-status="running""#) && statuses.contains(r#"<td class="num">1</td>"#), "{statuses}");
    let chart = section(&home, "requests-per-day");
    assert!(chart.contains(r#"role="img""#) && chart.contains("<title id=\"per-day-title\">"), "{chart}");
    assert!(chart.contains("2 requests from"), "the summary counts today's two requests: {chart}");
    let last = chart.rsplit("<rect class=\"column\"").next().unwrap();
    assert!(last.contains(r#"data-value="2""#), "today's column is the last: {last}");
    let groups = section(&home, "group-quotas");
    assert!(groups.contains("team-a"), "{groups}");

    w.dev.post(&format!("/api/v1/requests/{}/cancel", held["id"].as_str().unwrap()), &json!({})).await;
    let hosts = w.hosts.clone();
    app.destroy_all(&w.admin, &[deployment], &hosts).await;
}

/// The element with `id`, up to its end tag (the tables, lists and SVGs here hold no element of
/// their own kind).
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no element `{id}` in the page:\n{html}"));
    let open = html[..at].rfind('<').expect("the element's tag");
    let tag: String = html[open + 1..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    let rest = &html[open..];
    let end = rest.find(&format!("</{tag}>")).unwrap_or_else(|| panic!("no end of `{id}`"));
    &rest[..end]
}
