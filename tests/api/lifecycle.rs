//! A deployment's life after day 1, on real daemons: day-2 actions as requests (each action and
//! each refusal), a day-2 approval policy, scaling within the quota, leases that warn, end,
//! extend and destroy, bulk actions, and the group's usage back to zero at the end.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Api, Db, TestApp, eventually, password_of, spawn_app_with};
use crate::on_both_databases;
use crate::requests::World;

on_both_databases!(
    day_two_actions_and_their_refusals,
    a_day_two_policy_needs_the_manager,
    leases_warn_end_extend_and_destroy,
    bulk_actions_make_one_request_each,
    pages_act_in_bulk_and_follow_the_history_live,
    quota_follows_a_deployment_through_its_life,
);

const ALL_ACTIONS: [&str; 6] = ["start", "stop", "restart", "destroy", "extend_lease", "scale"];

/// `world`, with a lease loop that looks every second and an entitlement to every action.
async fn lively(db: Db) -> (TestApp, World) {
    let mut config = crate::mail::mail_config();
    config["lease"] = json!({"check_interval_secs": 1, "warn_days": [3, 1], "stop_again_secs": 2});
    let app = spawn_app_with(db, config).await;
    let w = crate::requests::world(&app).await;
    let res = w.admin.create_entitlement(&json!({"group": "team-a", "catalog_items": ["web"], "actions": ALL_ACTIONS})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    (app, w)
}

/// A running deployment of `web` for `api` in team-a.
async fn running(app: &TestApp, w: &World, api: &Api, inputs: Value) -> String {
    let res = api.submit_request(&json!({"catalog_item": "web", "group": "team-a", "inputs": inputs})).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let r = eventually(90, "the request to finish", || async {
        let r = api.get_request_ok(&id).await;
        ["succeeded", "failed"].contains(&r["status"].as_str().unwrap_or_default()).then_some(r)
    })
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let dep = r["deployment_id"].as_str().unwrap().to_string();
    app.wait_deployment(&w.admin, &dep, &["running"], 30).await;
    dep
}

async fn act(api: &Api, dep: &str, body: Value) -> (StatusCode, Value) {
    let res = api.post(&format!("/api/v1/deployments/{dep}/actions"), &body).await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Asks for an action and waits for its request to end; returns the request.
async fn done(api: &Api, dep: &str, body: Value) -> Value {
    let (s, r) = act(api, dep, body.clone()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}: {r}");
    assert_eq!((r["kind"].as_str(), r["action"].as_str()), (Some("day2"), body["action"].as_str()), "{r}");
    assert_eq!(r["deployment_id"], dep);
    let id = r["id"].as_str().unwrap().to_string();
    eventually(90, &format!("{body} to finish"), || async {
        let r = api.get_request_ok(&id).await;
        ["succeeded", "failed", "rejected"].contains(&r["status"].as_str().unwrap_or_default()).then_some(r)
    })
    .await
}

fn containers(d: &Value) -> Vec<(String, String)> {
    d["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_string(), r["status"].as_str().unwrap().to_string()))
        .collect()
}

/// What the group's quota says is in use, read from a refusal (max 0 containers).
async fn used_containers(w: &World) -> String {
    assert_eq!(w.admin.set_quota("team-a", &json!({"max_containers": 0})).await.status(), StatusCode::OK);
    let res = w.dev.submit_request(&json!({"catalog_item": "web", "group": "team-a"})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let body: Value = res.json().await.unwrap();
    assert_eq!(w.admin.set_quota("team-a", &json!({})).await.status(), StatusCode::OK);
    body["error"]["message"].as_str().unwrap().to_string()
}

async fn day_two_actions_and_their_refusals(db: Db) {
    let (app, w) = lively(db).await;
    let dep = running(&app, &w, &w.dev, json!({"replicas": 1})).await;

    // Refusals first: they change nothing.
    for (body, status, says) in [
        (json!({"action": "fly"}), StatusCode::UNPROCESSABLE_ENTITY, "not a day-2 action"),
        (json!({"action": "logs"}), StatusCode::UNPROCESSABLE_ENTITY, "permission"),
        (json!({"action": "stop", "days": 3}), StatusCode::UNPROCESSABLE_ENTITY, "takes no `days`"),
        (json!({"action": "stop", "component": "nope"}), StatusCode::UNPROCESSABLE_ENTITY, "no component `nope`"),
        (json!({"action": "extend_lease"}), StatusCode::UNPROCESSABLE_ENTITY, "days"),
        (json!({"action": "scale", "component": "web", "replicas": 9}), StatusCode::UNPROCESSABLE_ENTITY, "1 to 3"),
        (json!({"action": "scale", "component": "web", "replicas": 1}), StatusCode::CONFLICT, "already runs 1"),
        (json!({"action": "start"}), StatusCode::CONFLICT, "a running deployment cannot start"),
        (json!({"action": "retry"}), StatusCode::CONFLICT, "cannot retry"),
        (json!({"action": "extend_lease", "days": 60}), StatusCode::CONFLICT, "cannot end after"),
    ] {
        let (s, r) = act(&w.dev, &dep, body.clone()).await;
        assert_eq!(s, status, "{body}: {r}");
        assert!(r["error"]["message"].as_str().unwrap_or_default().contains(says), "{body}: {r}");
    }
    // Someone else: a member of the group who does not own it cannot see it; an outsider neither.
    let res = w.admin.create_user(&json!({"username": "eve", "password": password_of("eve")})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(w.admin.set_member("team-a", "eve", "member").await.status(), StatusCode::OK);
    let eve = app.api_as("eve", &password_of("eve")).await;
    assert_eq!(act(&eve, &dep, json!({"action": "stop"})).await.0, StatusCode::NOT_FOUND);

    // stop → stopped, containers exited (asked twice at once: one request); start → running;
    // a manager restarts one component.
    let (first, second) = tokio::join!(act(&w.dev, &dep, json!({"action": "stop"})), act(&w.dev, &dep, json!({"action": "stop"})));
    let mut codes = [first.0, second.0];
    codes.sort();
    assert_eq!(codes, [StatusCode::ACCEPTED, StatusCode::CONFLICT], "{first:?} {second:?}");
    let stop = if first.0 == StatusCode::ACCEPTED { first.1 } else { second.1 };
    let id = stop["id"].as_str().unwrap().to_string();
    let r = eventually(90, "the stop", || async {
        let r = w.dev.get_request_ok(&id).await;
        ["succeeded", "failed"].contains(&r["status"].as_str().unwrap_or_default()).then_some(r)
    })
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let d = app.wait_deployment(&w.admin, &dep, &["stopped"], 30).await;
    assert!(containers(&d).iter().all(|(_, s)| s == "stopped"), "{d}");
    assert_eq!(act(&w.dev, &dep, json!({"action": "stop"})).await.0, StatusCode::CONFLICT, "stopped already");
    let (s, r) = act(&w.dev, &dep, json!({"action": "scale", "component": "web", "replicas": 2})).await;
    assert_eq!(s, StatusCode::CONFLICT, "a stopped deployment starts before it scales: {r}");
    let r = done(&w.dev, &dep, json!({"action": "start"})).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    app.wait_deployment(&w.admin, &dep, &["running"], 30).await;
    let r = done(&w.lead, &dep, json!({"action": "restart", "component": "web"})).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["requester"], "lead");

    // scale up to 3 (deterministic names), over the quota refused with the numbers, down to 1.
    let r = done(&w.dev, &dep, json!({"action": "scale", "component": "web", "replicas": 3})).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let d = app.wait_deployment(&w.admin, &dep, &["running"], 30).await;
    let names: Vec<String> = containers(&d).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, (0..3).map(|i| format!("wharf-{dep}-web-{i}")).collect::<Vec<_>>(), "{d}");
    assert!(containers(&d).iter().all(|(_, s)| s == "running"), "{d}");
    assert!(used_containers(&w).await.contains("containers: 3 in use"), "scaled deployments count what they run");
    assert_eq!(w.admin.set_quota("team-a", &json!({"max_containers": 3})).await.status(), StatusCode::OK);
    let (s, body) = act(&w.dev, &dep, json!({"action": "scale", "component": "web", "replicas": 1})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "scaling down is never over quota: {body}");
    let id = body["id"].as_str().unwrap().to_string();
    eventually(90, "the scale down", || async { (w.dev.get_request_ok(&id).await["status"] == "succeeded").then_some(()) }).await;
    let d = app.wait_deployment(&w.admin, &dep, &["running"], 30).await;
    assert_eq!(containers(&d).len(), 1, "{d}");
    assert_eq!(containers(&d)[0].0, format!("wharf-{dep}-web-0"), "the highest-numbered go first");
    assert_eq!(w.admin.set_quota("team-a", &json!({"max_containers": 2})).await.status(), StatusCode::OK);
    let (s, body) = act(&w.dev, &dep, json!({"action": "scale", "component": "web", "replicas": 3})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("1 in use + 2 requested > 2"), "{body}");
    assert_eq!(w.admin.set_quota("team-a", &json!({})).await.status(), StatusCode::OK);

    // extend within the cap.
    let before =
        w.dev.get_deployment_ok(&dep).await["lease_expires_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    let r = done(&w.dev, &dep, json!({"action": "extend_lease", "days": 2})).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let d = w.dev.get_deployment_ok(&dep).await;
    let after = d["lease_expires_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert_eq!((after - before).num_days(), 2, "{d}");
    assert!(d["lease_max_expires_at"].is_string() && d["lease_grace_ends_at"].is_string(), "{d}");

    // An owner who left the group no longer acts on what they left behind; an admin's lease
    // end stays within bounds.
    assert_eq!(w.admin.remove_member("team-a", "dev").await.status(), StatusCode::NO_CONTENT);
    let dev = app.api_as("dev", &password_of("dev")).await;
    assert_eq!(act(&dev, &dep, json!({"action": "stop"})).await.0, StatusCode::FORBIDDEN);
    assert_eq!(w.admin.set_member("team-a", "dev", "member").await.status(), StatusCode::OK);
    let far = w.admin.put(&format!("/api/v1/deployments/{dep}/lease"), &json!({"expires_at": "2999-01-01T00:00:00Z"})).await;
    assert_eq!(far.status(), StatusCode::UNPROCESSABLE_ENTITY, "a lease end more than 3650 days away is refused");

    // destroy: nothing left, the group's usage back to zero; the history tells the whole story.
    let r = done(&w.dev, &dep, json!({"action": "destroy"})).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let d = app.wait_deployment(&w.admin, &dep, &["destroyed"], 30).await;
    assert!(containers(&d).is_empty(), "{d}");
    assert_eq!(nothing_left(&w, &dep), 0);
    assert!(used_containers(&w).await.contains("containers: 0 in use"));
    let history: Value = w.dev.get(&format!("/api/v1/deployments/{dep}/history")).await.json().await.unwrap();
    let said: Vec<&str> = history.as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap()).collect();
    for needle in ["asked to stop", "stop: done", "asked to scale `web` of to 3 replicas", "lease extended to", "destroy: done", "removed"]
    {
        assert!(said.iter().any(|m| m.contains(needle)), "`{needle}` in {said:#?}");
    }
}

async fn a_day_two_policy_needs_the_manager(db: Db) {
    let (app, w) = lively(db).await;
    let policy = json!({"name": "long extensions", "actions": ["extend_lease"], "condition": "action.name == 'extend_lease' && action.days > 3",
        "levels": [{"approvers": {"group_managers": true}, "mode": "any"}]});
    let res = w.admin.create_approval_policy(&policy).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    let dep = running(&app, &w, &w.dev, json!({})).await;
    // A short extension is approved at once; a catalog request is not governed by the policy.
    assert_eq!(done(&w.dev, &dep, json!({"action": "extend_lease", "days": 1})).await["status"], "succeeded");
    let (s, r) = act(&w.dev, &dep, json!({"action": "extend_lease", "days": 5, "reason": "demo next week"})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    assert_eq!(r["status"], "pending_approval", "{r}");
    assert_eq!(r["explain"]["policy"]["name"], "long extensions", "{r}");
    assert_eq!(r["explain"]["policy"]["values"]["action"]["days"], 5, "{r}");
    assert_eq!(r["waiting_on"], json!(["lead"]));
    let id = r["id"].as_str().unwrap().to_string();
    let inbox = w.lead.get("/api/v1/approvals").await.json::<Value>().await.unwrap();
    assert!(inbox.as_array().unwrap().iter().any(|x| x["id"] == id.as_str()), "{inbox}");
    assert_eq!(w.dev.approve(&id).await.status(), StatusCode::FORBIDDEN, "nobody approves their own");
    assert_eq!(w.lead.approve(&id).await.status(), StatusCode::OK);
    let r = eventually(30, "the extension", || async {
        let r = w.dev.get_request_ok(&id).await;
        (r["status"] == "succeeded").then_some(r)
    })
    .await;
    assert!(r["events"].as_array().unwrap().iter().any(|e| e["message"].as_str().unwrap().contains("lease extended to")), "{r}");
    app.destroy_all(&w.admin, &[dep], &w.hosts).await;
}

async fn history(api: &Api, dep: &str) -> Value {
    api.get(&format!("/api/v1/deployments/{dep}/history")).await.json::<Value>().await.unwrap()
}

/// Containers, networks and volumes of `dep` left on any test host.
fn nothing_left(w: &World, dep: &str) -> usize {
    w.hosts.iter().map(|(_, endpoint)| crate::helpers::leftovers(endpoint, dep).len()).sum()
}

async fn put_lease(api: &Api, dep: &str, at: chrono::DateTime<chrono::Utc>) -> StatusCode {
    api.put(&format!("/api/v1/deployments/{dep}/lease"), &json!({"expires_at": at.to_rfc3339()})).await.status()
}

async fn leases_warn_end_extend_and_destroy(db: Db) {
    let (app, w) = lively(db).await;
    let dev_mail = crate::mail::address("dev");
    crate::mail::set_email(&w.admin, "dev", &dev_mail).await;
    let dep = running(&app, &w, &w.dev, json!({})).await;
    let now = chrono::Utc::now();
    // A lease two days from its end: the three-day warning, once, however many looks pass.
    assert_eq!(put_lease(&w.dev, &dep, now).await, StatusCode::FORBIDDEN, "only admins set a lease");
    assert_eq!(put_lease(&w.admin, &dep, now + chrono::Duration::days(2)).await, StatusCode::OK);
    eventually(10, "a lease warning", || async {
        let h = history(&w.dev, &dep).await;
        h.as_array().unwrap().iter().any(|e| e["kind"] == "lease_warning").then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let h = history(&w.dev, &dep).await;
    assert_eq!(h.as_array().unwrap().iter().filter(|e| e["kind"] == "lease_warning").count(), 1, "{h}");

    // The end: stopped, not removed; start refused until extended; extend, start again.
    assert_eq!(put_lease(&w.admin, &dep, chrono::Utc::now()).await, StatusCode::OK);
    app.wait_deployment(&w.admin, &dep, &["expired"], 20).await;
    let d = eventually(30, "the containers to stop", || async {
        let d = w.admin.get_deployment_ok(&dep).await;
        (d["status"] == "expired" && containers(&d).iter().all(|(_, s)| s == "stopped")).then_some(d)
    })
    .await;
    assert_eq!(containers(&d).len(), 1, "stopped, not removed: {d}");
    // Started behind Wharf's back: the lease loop stops it again.
    let endpoint = w.hosts.iter().find(|(n, _)| d["host"] == n.as_str()).map(|(_, e)| e.clone()).unwrap();
    crate::helpers::docker(&endpoint, &["start", &containers(&d)[0].0]);
    eventually(90, "the container to be stopped again", || async {
        let h = history(&w.dev, &dep).await;
        let again = h.as_array().unwrap().iter().any(|e| e["message"].as_str().unwrap_or_default().contains("stopped again"));
        let d = w.admin.get_deployment_ok(&dep).await;
        (again && containers(&d).iter().all(|(_, s)| s == "stopped")).then_some(())
    })
    .await;
    let state = crate::helpers::docker(&endpoint, &["inspect", "-f", "{{.State.Running}}", &containers(&d)[0].0]);
    assert_eq!(state.trim(), "false");
    let (s, r) = act(&w.dev, &dep, json!({"action": "start"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(r["error"]["message"].as_str().unwrap().contains("extend it to start"), "{r}");
    assert!(used_containers(&w).await.contains("containers: 1 in use"), "an expired deployment keeps its quota");
    assert_eq!(done(&w.dev, &dep, json!({"action": "extend_lease", "days": 1})).await["status"], "succeeded");
    app.wait_deployment(&w.admin, &dep, &["stopped"], 10).await;
    assert_eq!(done(&w.dev, &dep, json!({"action": "start"})).await["status"], "succeeded");
    app.wait_deployment(&w.admin, &dep, &["running"], 30).await;

    // Grace over: destroyed by the system, audited as such.
    assert_eq!(put_lease(&w.admin, &dep, chrono::Utc::now() - chrono::Duration::days(4)).await, StatusCode::OK);
    app.wait_deployment(&w.admin, &dep, &["destroyed"], 60).await;
    assert_eq!(nothing_left(&w, &dep), 0);
    let audit = w.admin.get_audit_ok("action=deployment.destroy").await;
    assert!(audit.as_array().unwrap().iter().any(|e| e["actor"] == "system" && e["target"] == format!("deployment:{dep}")), "{audit}");
    assert!(used_containers(&w).await.contains("containers: 0 in use"));
    // The owner and the group's manager were told of each: once each (a lease set again warns
    // again, as the history shows).
    let h = history(&w.dev, &dep).await;
    let warnings = h.as_array().unwrap().iter().filter(|e| e["kind"] == "lease_warning").count();
    assert!(warnings >= 1, "{h}");
    for who in [&w.dev, &w.lead] {
        let told = eventually(10, "the lease notifications", || async {
            let list = who.json("/api/v1/notifications").await;
            let kinds: Vec<String> = list
                .as_array()
                .unwrap()
                .iter()
                .filter(|n| n["link"] == format!("/deployments/{dep}"))
                .map(|n| n["type"].as_str().unwrap().to_string())
                .collect();
            kinds.contains(&"deployment.destroyed".to_string()).then_some(kinds)
        })
        .await;
        assert_eq!(told.iter().filter(|k| *k == "lease.warning").count(), warnings, "{told:?} against {h}");
        for kind in ["lease.expired", "deployment.destroyed"] {
            assert_eq!(told.iter().filter(|k| *k == kind).count(), 1, "{kind} in {told:?}");
        }
    }
    // The owner (who has an address) was warned by mail too, with a link to the deployment.
    let mails = eventually(30, "the lease mails", || async {
        let all: Vec<Value> = crate::mail::mailbox(&dev_mail)
            .into_iter()
            .filter(|m| m["subject"].as_str().unwrap_or_default().contains("Deployment "))
            .collect();
        (all.len() == warnings + 2).then_some(all)
    })
    .await;
    assert!(mails[0]["text"].as_str().unwrap().contains(&format!("/deployments/{dep}")), "{}", mails[0]);
}

/// Twelve deployments stopped, then destroyed, each by a bulk call: one request each, and
/// nothing left on the hosts.
async fn bulk_actions_make_one_request_each(db: Db) {
    let (app, w) = lively(db).await;
    // Enough deployments that the engine works on several at once (4 workers), few enough to
    // keep the suite short: each is provisioned, stopped and destroyed.
    let n = 12;
    let mut requests = Vec::new();
    for _ in 0..n {
        let res = w.dev.submit_request(&json!({"catalog_item": "web", "group": "team-a", "inputs": {"memory_mb": 32}})).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
        requests.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
    }
    let mut deps = Vec::new();
    for id in &requests {
        let r = eventually(240, "the request to finish", || async {
            let r = w.dev.get_request_ok(id).await;
            ["succeeded", "failed"].contains(&r["status"].as_str().unwrap_or_default()).then_some(r)
        })
        .await;
        assert_eq!(r["status"], "succeeded", "{r}");
        deps.push(r["deployment_id"].as_str().unwrap().to_string());
    }
    let mut ids: Vec<Value> = deps.iter().map(|d| json!(d)).collect();
    ids.push(json!("no-such"));
    let res = w.dev.post("/api/v1/deployments/actions", &json!({"ids": ids, "action": "stop"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let out: Value = res.json().await.unwrap();
    let out = out.as_array().unwrap();
    assert_eq!(out.len(), n + 1);
    assert!(out[..n].iter().all(|o| o["request_id"].is_string()), "{out:?}");
    assert_eq!(out[n]["error"]["status"], 404, "{out:?}");
    for d in &deps {
        app.wait_deployment(&w.admin, d, &["stopped"], 120).await;
    }
    let res = w.dev.post("/api/v1/deployments/actions", &json!({"ids": deps, "action": "destroy"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let out: Value = res.json().await.unwrap();
    assert!(out.as_array().unwrap().iter().all(|o| o["request_id"].is_string()), "{out}");
    for d in &deps {
        app.wait_deployment(&w.admin, d, &["destroyed"], 180).await;
        assert_eq!(nothing_left(&w, d), 0);
    }
    assert!(used_containers(&w).await.contains("containers: 0 in use"));
}

/// Two replicas on one PostgreSQL database: each lease event happens once (one expiry, one stop
/// job, one audit entry per deployment, one warning); a lease that ends while every replica is
/// stopped is handled when one starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_once_across_replicas_and_restarts() {
    use crate::helpers::{ADMIN_PASSWORD, Served, fresh_database, serve};
    let url = fresh_database(Db::Postgres).await;
    let start = |url: String| {
        tokio::task::spawn_blocking(move || {
            let envs = [
                ("WHARF_DATABASE_URL", url.as_str()),
                ("WHARF_ADMIN_PASSWORD", ADMIN_PASSWORD),
                ("WHARF_CATALOG_DIR", "/nonexistent/wharf-test-catalog"),
                ("WHARF_HOSTS__REGISTER_LOCAL", "false"),
                ("WHARF_LEASE__CHECK_INTERVAL_SECS", "1"),
                ("WHARF_ENGINE__STOP_TIMEOUT_SECS", "1"),
            ];
            serve(&["serve"], &envs)
        })
    };
    let a: Served = start(url.clone()).await.unwrap();
    let b: Served = start(url.clone()).await.unwrap();
    let app = a.app();
    let w = crate::requests::world(&app).await;
    let res = w.admin.create_entitlement(&json!({"group": "team-a", "catalog_items": ["web"], "actions": ALL_ACTIONS})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let mut deps = Vec::new();
    for _ in 0..3 {
        deps.push(running(&app, &w, &w.dev, json!({"memory_mb": 32})).await);
    }
    // A warning due now, seen by both replicas' loops: written once.
    assert_eq!(put_lease(&w.admin, &deps[0], chrono::Utc::now() + chrono::Duration::hours(20)).await, StatusCode::OK);
    // Three leases ended at once, seen by both replicas' loops.
    for d in &deps[1..] {
        assert_eq!(put_lease(&w.admin, d, chrono::Utc::now() - chrono::Duration::minutes(1)).await, StatusCode::OK);
    }
    for d in &deps[1..] {
        eventually(60, "the containers to stop", || async {
            let d = w.admin.get_deployment_ok(d).await;
            (d["status"] == "expired" && containers(&d).iter().all(|(_, s)| s == "stopped")).then_some(())
        })
        .await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let h = history(&w.admin, &deps[0]).await;
    assert_eq!(
        h.as_array().unwrap().iter().filter(|e| e["kind"] == "lease_warning").count(),
        2,
        "warned for 3 days and 1 day, once each: {h}"
    );
    let audit = w.admin.get_audit_ok("action=deployment.expire&per_page=200").await;
    for d in &deps[1..] {
        let h = history(&w.admin, d).await;
        assert_eq!(h.as_array().unwrap().iter().filter(|e| e["kind"] == "expired").count(), 1, "{h}");
        let n = audit.as_array().unwrap().iter().filter(|e| e["target"] == format!("deployment:{d}")).count();
        assert_eq!(n, 1, "audited once: {audit}");
    }

    // Every replica stopped; a lease ends meanwhile; one replica starts again and handles it.
    assert_eq!(put_lease(&w.admin, &deps[0], chrono::Utc::now() + chrono::Duration::seconds(8)).await, StatusCode::OK);
    assert!(a.stop().success() && b.stop().success());
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    let c: Served = start(url.clone()).await.unwrap();
    let admin = c.app().admin().await;
    eventually(30, "the lease that ended while Wharf was down to be handled", || async {
        (admin.get_deployment_ok(&deps[0]).await["status"] == "expired").then_some(())
    })
    .await;
    for d in &deps {
        assert_eq!(admin.deployment_action(d, "destroy").await.status(), StatusCode::ACCEPTED);
    }
    for d in &deps {
        c.app().wait_deployment(&admin, d, &["destroyed"], 60).await;
        assert_eq!(nothing_left(&w, d), 0);
    }
}

/// The pages: the list's bulk form (destroy only once confirmed), and the deployment's history
/// followed live (server-sent events) while an action runs.
async fn pages_act_in_bulk_and_follow_the_history_live(db: Db) {
    let (app, w) = lively(db).await;
    let a = running(&app, &w, &w.dev, json!({})).await;
    let b = running(&app, &w, &w.dev, json!({})).await;
    let dev = app.browser();
    dev.login_ok("dev", &password_of("dev")).await;
    let (_, html) = dev.page("/deployments").await;
    assert!(html.contains(&format!("name=\"ids\" value=\"{a}\"")) && html.contains(&format!("value=\"{b}\"")), "{html}");
    let (_, html) = dev.page(&format!("/deployments/{a}")).await;
    assert!(html.contains("id=\"history\"") && html.contains("/static/js/history.js") && html.contains(">Stop<"), "{html}");

    // Follow a's history live, then stop both from the list.
    let stream = dev.get(&format!("/deployments/{a}/events")).await;
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let collector = tokio::spawn(async move {
        let mut stream = stream;
        let mut body = String::new();
        while let Ok(Some(chunk)) = stream.chunk().await {
            body.push_str(&String::from_utf8_lossy(&chunk));
            if body.contains("event: changed") && body.contains("stop: done") {
                break;
            }
        }
        body
    });
    let res = dev.submit("/deployments", "/deployments/actions", &[("ids", &a), ("ids", &b), ("action", "stop")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert_eq!(html.matches("requested (<a href=\"/requests/").count(), 2, "{html}");
    let body = tokio::time::timeout(std::time::Duration::from_secs(90), collector).await.expect("the live history").unwrap();
    assert!(body.contains("event: history") && body.contains("asked to stop"), "{body}");
    assert!(body.contains("event: changed") && body.contains("\"status\":\"stopped\""), "{body}");
    app.wait_deployment(&w.admin, &b, &["stopped"], 60).await;
    let (_, html) = dev.page(&format!("/deployments/{a}")).await;
    assert!(html.contains(">Start<") && !html.contains(">Stop<"), "only what the state allows: {html}");

    // Destroy asks for the confirmation box first; then both go.
    let res = dev.submit("/deployments", "/deployments/actions", &[("ids", &a), ("ids", &b), ("action", "destroy")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("tick the confirmation box"));
    assert_eq!(w.admin.get_deployment_ok(&a).await["status"], "stopped");
    let res =
        dev.submit("/deployments", "/deployments/actions", &[("ids", &a), ("ids", &b), ("action", "destroy"), ("confirmed", "yes")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    for d in [&a, &b] {
        app.wait_deployment(&w.admin, d, &["destroyed"], 60).await;
        assert_eq!(nothing_left(&w, d), 0);
    }
}

/// The group's usage through a deployment's life: submit, scale up, scale down, stop, expire,
/// destroy — back to zero at the end, with nothing that could drift in between.
async fn quota_follows_a_deployment_through_its_life(db: Db) {
    let (app, w) = lively(db).await;
    assert!(used_containers(&w).await.contains("containers: 0 in use"));
    let dep = running(&app, &w, &w.dev, json!({"replicas": 1})).await;
    assert!(used_containers(&w).await.contains("containers: 1 in use"));
    assert_eq!(done(&w.dev, &dep, json!({"action": "scale", "component": "web", "replicas": 3})).await["status"], "succeeded");
    assert!(used_containers(&w).await.contains("containers: 3 in use"));
    assert_eq!(done(&w.dev, &dep, json!({"action": "scale", "component": "web", "replicas": 2})).await["status"], "succeeded");
    assert!(used_containers(&w).await.contains("containers: 2 in use"));
    assert_eq!(done(&w.dev, &dep, json!({"action": "stop"})).await["status"], "succeeded");
    assert!(used_containers(&w).await.contains("containers: 2 in use"), "stopped keeps its quota");
    assert_eq!(put_lease(&w.admin, &dep, chrono::Utc::now()).await, StatusCode::OK);
    app.wait_deployment(&w.admin, &dep, &["expired"], 20).await;
    assert!(used_containers(&w).await.contains("containers: 2 in use"), "expired keeps its quota");
    assert_eq!(done(&w.dev, &dep, json!({"action": "destroy"})).await["status"], "succeeded");
    app.wait_deployment(&w.admin, &dep, &["destroyed"], 60).await;
    assert!(used_containers(&w).await.contains("containers: 0 in use"));
    assert_eq!(nothing_left(&w, &dep), 0);

    // An item with no grace: destroyed when its lease ends, not expired.
    let res = w
        .admin
        .create_catalog_item(&json!({"id": "brief", "name": "Brief", "category": "Web", "blueprint": "web", "lease": {"default_days": 1, "max_days": 2, "grace_days": 0}}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    let res = w.dev.submit_request(&json!({"catalog_item": "brief", "group": "team-a"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let brief = eventually(90, "the brief deployment", || async {
        let r = w.dev.get_request_ok(&id).await;
        (r["status"] == "succeeded").then(|| r["deployment_id"].as_str().unwrap().to_string())
    })
    .await;
    assert_eq!(put_lease(&w.admin, &brief, chrono::Utc::now()).await, StatusCode::OK);
    let d = app.wait_deployment(&w.admin, &brief, &["destroyed", "expired"], 60).await;
    assert_eq!(d["status"], "destroyed", "grace 0: destroyed at the end, never expired: {d}");
    let h = history(&w.admin, &brief).await;
    assert!(h.as_array().unwrap().iter().all(|e| e["kind"] != "expired"), "{h}");
    assert_eq!(nothing_left(&w, &brief), 0);
}
