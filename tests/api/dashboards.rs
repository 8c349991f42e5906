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
    let day = Utc::now().date_naive();
    let w = crate::requests::world(&app).await;
    assert_eq!(w.admin.set_quota("team-a", &json!({"max_containers": 10, "max_memory_mb": 4096})).await.status(), StatusCode::OK);
    // Another team, whose deployment nobody of team-a may see on a board.
    assert_eq!(w.admin.create_group(&json!({"name": "team-b"})).await.status(), StatusCode::CREATED);
    assert_eq!(w.admin.create_user(&json!({"username": "bob", "password": password_of("bob")})).await.status(), StatusCode::CREATED);
    assert_eq!(w.admin.set_member("team-b", "bob", "member").await.status(), StatusCode::OK);
    let res = w.admin.create_entitlement(&json!({"group": "team-b", "categories": ["Web"], "actions": ["destroy"]})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let bob = app.api_as("bob", &password_of("bob")).await;

    // A fresh developer's home says what to do next.
    let dev = app.browser();
    dev.login_ok("dev", &password_of("dev")).await;
    let (status, home) = dev.page("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("You have no deployment.") && home.contains("You have made no request yet."), "{home}");
    assert!(!home.contains("board-platform") && !home.contains("board-teams"), "a member sees only their own board");

    // One deployment each for dev and bob, their leases ending in two days; one request of dev's
    // held for the lead.
    let mine = deploy(&w.dev, "team-a").await;
    let theirs = deploy(&bob, "team-b").await;
    let ends = (Utc::now() + Duration::days(2)).to_rfc3339();
    for d in [&mine, &theirs] {
        let res = w.admin.put(&format!("/api/v1/deployments/{d}/lease"), &json!({"expires_at": ends})).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let policy = json!({"name": "leads decide", "scope": {"catalog_items": ["other"]}, "levels": [{"approvers": {"group_managers": true}, "mode": "any"}]});
    assert_eq!(w.admin.create_approval_policy(&policy).await.status(), StatusCode::CREATED);
    let held = w.dev.submit_request(&json!({"catalog_item": "other", "group": "team-a"})).await;
    assert_eq!(held.status(), StatusCode::CREATED);
    let held: serde_json::Value = held.json().await.unwrap();
    assert_eq!(held["status"], "pending_approval", "{held}");
    let name = w.dev.get_deployment_ok(&mine).await["name"].as_str().unwrap().to_string();
    let bobs = bob.get_deployment_ok(&theirs).await["name"].as_str().unwrap().to_string();

    // The developer: the deployment with its lease left, both requests and what each waits on.
    let (_, home) = dev.page("/").await;
    let leases = section(&home, "my-leases");
    assert!(leases.contains(&name) && leases.contains("hours left") && leases.contains("status-warn"), "{leases}");
    assert!(!home.contains(&bobs), "another team's deployment is not on a member's board");
    let recent = section(&home, "my-recent-requests");
    assert!(recent.contains("Web other") && recent.contains("waits for approval at level 1 by lead"), "{recent}");
    assert!(recent.contains("Web web") && recent.contains(&format!("/deployments/{mine}")), "{recent}");

    // The lead: one request to decide, team-a's quota (the deployment and the request held),
    // the lease of team-a's deployment ending this week, not team-b's.
    let lead = app.browser();
    lead.login_ok("lead", &password_of("lead")).await;
    let (_, home) = lead.page("/").await;
    assert!(home.contains(r#"<span class="figure-big" id="waiting-on-you">1</span>"#), "{home}");
    let ending = section(&home, "leases-ending");
    assert!(ending.contains(&name) && !ending.contains(&bobs), "only the lead's groups' leases: {ending}");
    let team = meters(section(&home, "team-quotas"));
    assert_eq!(team.first().map(String::as_str), Some("2 of 10"), "a running container and one held by the waiting request: {team:?}");
    assert!(team[1].ends_with(" of 4,096 MB"), "{team:?}");
    assert!(!home.contains("board-platform"), "a manager sees no platform board");

    // The admin: the request waiting, both hosts up carrying the two containers, the deployments
    // by status, today's three requests in the chart, and team-a's use as its manager sees it.
    let admin = app.browser();
    admin.login_ok("admin", crate::helpers::ADMIN_PASSWORD).await;
    let (_, home) = admin.page("/").await;
    assert!(home.contains(r#"<span class="figure-big" id="approvals-waiting">1</span>"#), "{home}");
    let hosts = section(&home, "host-load");
    for (host, _) in &w.hosts {
        assert!(hosts.contains(host.as_str()), "{host} in {hosts}");
    }
    assert_eq!(hosts.matches(r#"data-status="up""#).count(), w.hosts.len(), "{hosts}");
    let placed: i64 = meters(hosts).iter().step_by(2).map(|m| m.split([' ', '(']).next().unwrap().parse::<i64>().unwrap()).sum();
    assert_eq!(placed, 2, "the two containers on their hosts: {hosts}");
    let statuses = section(&home, "deployment-statuses");
    let running = &statuses[statuses.find(r#"data-status="running""#).expect("a running row")..];
    let running = &running[..running.find("</tr>").unwrap()];
    assert!(running.contains(r#"<td class="num">2</td>"#), "{running}");
    let chart = section(&home, "requests-per-day");
    assert!(chart.contains(r#"role="img""#) && chart.contains("<title id=\"per-day-title\">"), "{chart}");
    let last = chart.rsplit("<rect class=\"column\"").next().unwrap();
    if Utc::now().date_naive() == day {
        assert!(home.contains("3 requests from"), "the summary counts today's three requests: {home}");
        assert!(last.contains(r#"data-value="3""#), "today's column is the last: {last}");
    }
    let groups = section(&home, "group-quotas");
    let of_a = &groups[groups.find("team-a").expect("team-a")..];
    assert_eq!(meters(of_a)[..3], team[..], "the admin's board counts team-a as its manager's does");

    w.dev.post(&format!("/api/v1/requests/{}/cancel", held["id"].as_str().unwrap()), &json!({})).await;
    let hosts = w.hosts.clone();
    app.destroy_all(&w.admin, &[mine, theirs], &hosts).await;
}

/// A request for `web` in `group`, provisioned: its deployment's id.
async fn deploy(api: &crate::helpers::Api, group: &str) -> String {
    let r = api.submit_request(&json!({"catalog_item": "web", "group": group})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r: serde_json::Value = r.json().await.unwrap();
    let id = r["id"].as_str().unwrap().to_string();
    let done = crate::helpers::eventually(90, "the request to succeed", || async {
        let r = api.get_request_ok(&id).await;
        (r["status"] == "succeeded" || r["status"] == "failed").then_some(r)
    })
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    done["deployment_id"].as_str().unwrap().to_string()
}

/// The numbers of the meters in a piece of the page, in order.
fn meters(html: &str) -> Vec<String> {
    html.split(r#"<span class="meter-text">"#).skip(1).map(|m| m[..m.find("</span>").unwrap()].to_string()).collect()
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
