//! The self-service loop through the API: entitlements, inputs, quotas, approval policies with
//! levels, conditions and timeouts, cancellation, and the whole way to running containers.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::blueprint;
use crate::helpers::{Api, Db, TestApp, error_code, leftovers, password_of, spawn_app};
use crate::{fixture, on_both_databases};

on_both_databases!(
    catalog_items_change_in_place,
    governance_changes_apply_at_once,
    a_version_published_before_a_rule_takes_no_new_work,
    what_changes_during_a_submission_wins,
    refusals_create_nothing,
    a_two_level_policy_then_running_containers_then_destroy,
    a_condition_only_fires_above_a_memory_size,
    timeouts_approve_and_reject,
    fifty_simultaneous_requests_never_pass_the_quota,
    cancelling_and_day_two_entitlements,
    the_approved_blueprint_version_is_the_one_deployed,
);

fn web_blueprint(id: &str) -> String {
    blueprint(fixture!("blueprints/web.yaml"), &[("id", id)])
}

pub(crate) struct World {
    pub admin: Api,
    pub dev: Api,
    pub lead: Api,
    pub hosts: Vec<(String, String)>,
}

/// team-a (dev member, lead manager), both test hosts, and catalog items `web` (and `other`)
/// that team-a is entitled to, with `destroy` as day-2 action.
pub(crate) async fn world(app: &TestApp) -> World {
    let admin = app.seed_team().await;
    let hosts = app.register_test_hosts(&admin).await;
    for id in ["web", "other"] {
        assert_eq!(admin.publish_blueprint(&web_blueprint(id)).await.status(), StatusCode::CREATED);
        let res = admin
            .create_catalog_item(
                &json!({"id": id, "name": format!("Web {id}"), "category": "Web", "blueprint": id, "lease": {"default_days": 7, "max_days": 30, "grace_days": 3}}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    }
    let res = admin.create_entitlement(&json!({"group": "team-a", "categories": ["Web"], "actions": ["destroy"]})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let dev = app.api_as("dev", &password_of("dev")).await;
    let lead = app.api_as("lead", &password_of("lead")).await;
    World { admin, dev, lead, hosts }
}

async fn add_user(app: &TestApp, admin: &Api, name: &str) -> Api {
    let res = admin.create_user(&json!({"username": name, "password": password_of(name)})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    app.api_as(name, &password_of(name)).await
}

async fn request(api: &Api, body: Value) -> (StatusCode, Value) {
    let res = api.submit_request(&body).await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn wait_request(_app: &TestApp, api: &Api, id: &str, states: &[&str], secs: u64) -> Value {
    crate::helpers::eventually(secs, &format!("request {id} to be {states:?}"), || async {
        let r = api.get_request_ok(id).await;
        states.contains(&r["status"].as_str().unwrap_or_default()).then_some(r)
    })
    .await
}

/// An admin changes a catalog item (API and page): what is wrong is refused by field and
/// changes nothing; what is right applies to the next request, and the audit log says what
/// changed from what.
async fn catalog_items_change_in_place(db: Db) {
    let app = spawn_app(db).await;
    let w = world(&app).await;
    let before: Value = w.admin.json("/api/v1/catalog-items/web").await;
    assert_eq!((before["id"].as_str(), before["lease"]["max_days"].as_i64()), (Some("web"), Some(30)), "{before}");

    // The body `GET` gives, changed: the lease shorter, the images bounded to the test image's.
    let repository = crate::helpers::test_image().rsplit_once(':').map(|(r, _)| r.to_string()).unwrap();
    let mut changed = before.clone();
    changed["name"] = json!("Web, shorter");
    changed["lease"] = json!({"default_days": 2, "max_days": 10, "grace_days": 1});
    changed["allowed_images"] = json!([repository]);
    // Wrong: another id, a lease upside down, a pattern that is none, an unknown item.
    let mut other_id = changed.clone();
    other_id["id"] = json!("other");
    let res = w.admin.put("/api/v1/catalog-items/web", &other_id).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["details"][0]["field"], "id");
    let mut upside_down = changed.clone();
    upside_down["lease"] = json!({"default_days": 20, "max_days": 10});
    upside_down["allowed_images"] = json!(["Not A Pattern"]);
    let res = w.admin.put("/api/v1/catalog-items/web", &upside_down).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = res.json().await.unwrap();
    let fields: Vec<&str> = err["error"]["details"].as_array().unwrap().iter().filter_map(|d| d["field"].as_str()).collect();
    assert!(fields.contains(&"lease.default_days") && fields.contains(&"allowed_images[0]"), "{err}");
    assert_eq!(w.admin.put("/api/v1/catalog-items/nope", &changed).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(w.admin.json("/api/v1/catalog-items/web").await, before, "nothing changed");

    // Right: the next request follows the item as it is now.
    let res = w.admin.put("/api/v1/catalog-items/web", &changed).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());
    assert_eq!(res.json::<Value>().await.unwrap(), changed);
    let (s, body) = request(&w.dev, json!({"catalog_item": "web", "group": "team-a", "lease_days": 20})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"][0]["field"], "lease_days", "{body}");
    let catalog: Value = w.dev.json("/api/v1/catalog").await;
    let offered = catalog.as_array().unwrap().iter().find(|i| i["id"] == "web").cloned().unwrap_or_default();
    assert_eq!(offered["name"], "Web, shorter", "{catalog}");
    let audit: Value = w.admin.json("/api/v1/audit?action=catalog_item.update").await;
    let entry = &audit.as_array().unwrap()[0];
    assert_eq!(entry["details"]["changed"]["lease"]["from"]["max_days"], 30, "{entry}");
    assert_eq!(entry["details"]["changed"]["allowed_images"]["to"], json!([repository]), "{entry}");
    assert!(entry["details"]["changed"].get("blueprint").is_none(), "only what changed: {entry}");

    // What a change leaves out stays as it is.
    let res = w.admin.put("/api/v1/catalog-items/web", &json!({"description": "only this"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let now: Value = res.json().await.unwrap();
    assert_eq!((now["description"].as_str(), now["allowed_images"].clone()), (Some("only this"), json!([repository])), "{now}");
    // Once requested, an item keeps its blueprint (requests name the item and a version).
    let res = w.admin.create_approval_policy(&json!({"name": "hold", "levels": [{"approvers": {"admins": true}, "mode": "any"}]})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let (s, held) = request(&w.dev, json!({"catalog_item": "web", "group": "team-a", "lease_days": 5})).await;
    assert_eq!(s, StatusCode::CREATED, "{held}");
    let res = w.admin.put("/api/v1/catalog-items/web", &json!({"blueprint": "other"})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("keeps that blueprint"));
    assert_eq!(w.dev.cancel_request(held["id"].as_str().unwrap()).await.status(), StatusCode::OK);

    // The page: the form filled in; an error next to its field, the item unchanged; then saved.
    let admin = app.browser();
    admin.login_ok("admin", crate::helpers::ADMIN_PASSWORD).await;
    let (status, html) = admin.page("/admin/catalog/items/web").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("value=\"Web, shorter\"") && html.contains("readonly") && html.contains(&format!("value=\"{repository}\"")),
        "{html}"
    );
    let (_, list) = admin.page("/admin/catalog").await;
    assert!(list.contains("href=\"/admin/catalog/items/web\""), "the list links to the item's page");
    let mut fields = vec![
        ("id", "web"),
        ("name", "Web again"),
        ("category", "Web"),
        ("blueprint", "web"),
        ("lease.default_days", "3"),
        ("lease.max_days", "x"),
        ("lease.grace_days", "1"),
        ("allowed_images", ""),
    ];
    let res = admin.submit("/admin/catalog/items/web", "/admin/catalog/items/web", &fields).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("value=\"Web again\"") && html.contains("`x` is not a number"), "{html}");
    assert_eq!(w.admin.json("/api/v1/catalog-items/web").await["name"], "Web, shorter", "nothing changed");
    fields[5] = ("lease.max_days", "12");
    let res = admin.submit("/admin/catalog/items/web", "/admin/catalog/items/web", &fields).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let now: Value = w.admin.json("/api/v1/catalog-items/web").await;
    assert_eq!(
        (now["name"].as_str(), now["lease"]["max_days"].as_i64(), now["allowed_images"].clone()),
        (Some("Web again"), Some(12), json!([]))
    );
}

/// Admins change and take back what governs requests: an entitlement narrowed and taken
/// away, a policy replaced and removed, an item retired and brought back. Each change applies
/// to what comes next, at once; what was asked before goes on as it was submitted (a request
/// waiting on a policy that changed is decided under the levels it was submitted under; a
/// deployment of a retired item keeps its day-2 actions); bad changes are refused by field and
/// change nothing; the audit log says who changed what.
async fn governance_changes_apply_at_once(db: Db) {
    let app = spawn_app(db).await;
    let w = world(&app).await;
    let offered = |catalog: Value| -> Vec<String> {
        catalog.as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap_or_default().to_string()).collect()
    };
    let mut deployments = Vec::new();
    let (_, r) = request(&w.dev, json!({"catalog_item": "web", "group": "team-a"})).await;
    let r = wait_request(&app, &w.dev, r["id"].as_str().unwrap(), &["succeeded", "failed"], 90).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let running = r["deployment_id"].as_str().unwrap().to_string();
    deployments.push(running.clone());

    // Entitlements: read one, narrow it, take it away.
    let ent = w.admin.json("/api/v1/entitlements").await[0].clone();
    let eid = ent["id"].as_i64().unwrap();
    assert_eq!(w.admin.json(&format!("/api/v1/entitlements/{eid}")).await, ent);
    let path = format!("/api/v1/entitlements/{eid}");
    let res = w.admin.put(&path, &json!({"group": "nobody", "catalog_items": ["nope"], "actions": ["fly"]})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = res.json().await.unwrap();
    let fields: Vec<&str> = err["error"]["details"].as_array().unwrap().iter().filter_map(|d| d["field"].as_str()).collect();
    assert_eq!(fields, ["group", "catalog_items", "actions"], "{err}");
    assert_eq!(w.admin.put("/api/v1/entitlements/999999", &ent).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(w.admin.json(&path).await, ent, "nothing changed");
    let res = w.admin.put(&path, &ent).await;
    assert_eq!(res.status(), StatusCode::OK, "the body GET gives is taken back");
    assert_eq!(res.json::<Value>().await.unwrap(), ent);
    let mut moved = ent.clone();
    moved["id"] = json!(eid + 1);
    assert_eq!(w.admin.put(&path, &moved).await.status(), StatusCode::UNPROCESSABLE_ENTITY, "an entitlement keeps its id");
    let narrow = json!({"group": "team-a", "catalog_items": ["web"], "categories": [], "actions": []});
    let res = w.admin.put(&path, &narrow).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["catalog_items"], json!(["web"]));
    assert_eq!(offered(w.dev.json("/api/v1/catalog").await), ["web"], "the catalog follows at once");
    let (s, body) = request(&w.dev, json!({"catalog_item": "other", "group": "team-a"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(w.dev.deployment_action(&running, "destroy").await.status(), StatusCode::FORBIDDEN, "the action it no longer grants");
    assert_eq!(w.admin.delete(&path).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(w.admin.get(&path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(w.admin.delete(&path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(offered(w.dev.json("/api/v1/catalog").await), Vec::<String>::new());
    let (s, _) = request(&w.dev, json!({"catalog_item": "web", "group": "team-a"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(w.dev.get_deployment(&running).await.status(), StatusCode::OK, "the deployment stays its owner's");
    let res = w.admin.create_entitlement(&json!({"group": "team-a", "categories": ["Web"], "actions": ["destroy"]})).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // Policies: one level of managers; a request waits on it; the policy becomes two levels.
    let one = json!({"name": "lead approves", "scope": {"catalog_items": ["other"]}, "levels": [{"approvers": {"group_managers": true}, "mode": "any"}]});
    let res = w.admin.create_approval_policy(&one).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let pid = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let res = w.admin.create_approval_policy(&json!({"name": "taken", "scope": {"catalog_items": ["nope-not-this"]}, "levels": []})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = w
        .admin
        .create_approval_policy(
            &json!({"name": "taken", "scope": {"catalog_items": ["web"]}, "levels": [{"approvers": {"admins": true}, "mode": "any"}]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    let (s, first) = request(&w.dev, json!({"catalog_item": "other", "group": "team-a"})).await;
    assert_eq!((s, first["status"].as_str()), (StatusCode::CREATED, Some("pending_approval")), "{first}");
    let path = format!("/api/v1/approval-policies/{pid}");
    let two = json!({"name": "admins then lead", "scope": {"catalog_items": ["other"]}, "levels": [
        {"approvers": {"admins": true}, "mode": "any"}, {"approvers": {"group_managers": true}, "mode": "any"}]});
    let mut bad = two.clone();
    bad["levels"] = json!([]);
    assert_eq!(w.admin.put(&path, &bad).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let mut taken = two.clone();
    taken["name"] = json!("taken");
    assert_eq!(w.admin.put(&path, &taken).await.status(), StatusCode::CONFLICT);
    assert_eq!(w.admin.put("/api/v1/approval-policies/999999", &two).await.status(), StatusCode::NOT_FOUND);
    let as_is: Value = w.admin.json(&path).await;
    assert_eq!(as_is["name"], "lead approves", "nothing changed");
    assert_eq!(w.admin.put(&path, &as_is).await.status(), StatusCode::OK, "the body GET gives is taken back");
    assert_eq!(w.admin.create_approval_policy(&as_is).await.status(), StatusCode::UNPROCESSABLE_ENTITY, "Wharf gives the id");
    let res = w.admin.put(&path, &two).await;
    assert_eq!(res.status(), StatusCode::OK);
    let now: Value = res.json().await.unwrap();
    assert_eq!((now["id"].as_i64(), now["levels"].as_array().map(Vec::len)), (Some(pid), Some(2)), "{now}");
    let (_, second) = request(&w.dev, json!({"catalog_item": "other", "group": "team-a"})).await;
    assert_eq!(second["explain"]["levels"].as_array().map(Vec::len), Some(2), "new requests follow the policy as it is: {second}");
    // The first request is decided under the one level it was submitted under.
    let first_id = first["id"].as_str().unwrap();
    assert_eq!(w.lead.approve(first_id).await.status(), StatusCode::OK);
    let done = wait_request(&app, &w.dev, first_id, &["succeeded", "failed"], 90).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    deployments.push(done["deployment_id"].as_str().unwrap().to_string());
    // Removed: the second still waits on its two levels; the next is approved at once.
    assert_eq!(w.admin.delete(&path).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(w.admin.get(&path).await.status(), StatusCode::NOT_FOUND);
    let second_id = second["id"].as_str().unwrap();
    assert_eq!(w.admin.approve(second_id).await.status(), StatusCode::OK);
    assert_eq!(w.dev.get_request_ok(second_id).await["status"], "pending_approval", "its second level still waits");
    assert_eq!(w.lead.approve(second_id).await.status(), StatusCode::OK);
    let done = wait_request(&app, &w.dev, second_id, &["succeeded", "failed"], 90).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    deployments.push(done["deployment_id"].as_str().unwrap().to_string());

    // Items: `web` retired leaves the catalog and takes no new request; its deployment keeps
    // its day-2 actions; brought back, it is offered again.
    let as_read: Value = w.admin.json("/api/v1/catalog-items/web").await;
    assert_eq!(w.admin.delete("/api/v1/catalog-items/web").await.status(), StatusCode::NO_CONTENT);
    let item: Value = w.admin.json("/api/v1/catalog-items/web").await;
    assert_eq!(item["retired"], true, "{item}");
    // Another admin's change sent back as read before the retirement does not undo it.
    let res = w.admin.put("/api/v1/catalog-items/web", &as_read).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("was retired since it was read"));
    // Bringing back and a bad field at once: all or nothing.
    let res = w.admin.put("/api/v1/catalog-items/web", &json!({"retired": false, "lease": {"max_days": 0}})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(w.admin.json("/api/v1/catalog-items/web").await["retired"], true, "still retired");
    assert!(!offered(w.dev.json("/api/v1/catalog").await).contains(&"web".to_string()));
    let (s, body) = request(&w.dev, json!({"catalog_item": "web", "group": "team-a"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("retired"), "{body}");
    let res = w
        .admin
        .create_catalog_item(
            &json!({"id": "web", "name": "Again", "category": "Web", "blueprint": "web", "lease": {"default_days": 1, "max_days": 2}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("retired"));
    let res = w.dev.deployment_action(&running, "destroy").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "a retired item's deployment keeps its day-2 actions");
    app.wait_deployment(&w.admin, &running, &["destroyed"], 60).await;
    deployments.retain(|d| *d != running);
    let res = w.admin.put("/api/v1/catalog-items/web", &json!({"retired": false})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["retired"], false);
    assert!(offered(w.dev.json("/api/v1/catalog").await).contains(&"web".to_string()));

    // The pages: retire and bring back an item; take an entitlement away; remove a policy.
    let admin = app.browser();
    admin.login_ok("admin", crate::helpers::ADMIN_PASSWORD).await;
    let page = "/admin/catalog/items/web";
    assert!(admin.page(page).await.1.contains("Retire Web web"));
    assert_eq!(admin.submit(page, "/admin/catalog/items/web/retire", &[]).await.status(), StatusCode::SEE_OTHER);
    assert!(admin.page(page).await.1.contains("Bring it back"));
    assert!(admin.page("/admin/catalog").await.1.contains(">retired<"));
    assert_eq!(admin.submit(page, "/admin/catalog/items/web/restore", &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(w.admin.json("/api/v1/catalog-items/web").await["retired"], false);
    let ent = w.admin.json("/api/v1/entitlements").await[0]["id"].as_i64().unwrap();
    let taken = w.admin.json("/api/v1/approval-policies").await[0]["id"].as_i64().unwrap();
    let res = admin.submit("/admin/catalog", &format!("/admin/catalog/entitlements/{ent}/remove"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = admin.submit("/admin/catalog", &format!("/admin/catalog/policies/{taken}/remove"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(w.admin.json("/api/v1/entitlements").await, json!([]));
    assert_eq!(w.admin.json("/api/v1/approval-policies").await, json!([]));

    // Who changed what.
    for action in
        ["entitlement.update", "entitlement.delete", "policy.update", "policy.delete", "catalog_item.retire", "catalog_item.restore"]
    {
        let found: Value = w.admin.json(&format!("/api/v1/audit?action={action}")).await;
        let entry = &found
            .as_array()
            .unwrap_or_else(|| panic!("{found}"))
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("no {action} in the audit log"));
        assert_eq!(entry["actor"], "admin", "{entry}");
    }
    let updated: Value = w.admin.json("/api/v1/audit?action=policy.update").await;
    assert_eq!(updated[0]["details"]["from"]["name"], "lead approves", "{updated}");
    app.destroy_all(&w.admin, &deployments, &w.hosts).await;
}

/// Entitlements and approval policies change on their own pages (linked from the catalog
/// page): each form is filled in as the thing is (a policy made through the API, with two
/// levels, named users, a timeout and a day-2 action); a bad change shows its error on the
/// page and changes nothing; a good one applies and is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entitlements_and_policies_change_on_their_pages() {
    let app = spawn_app(Db::Sqlite).await;
    let w = world(&app).await;
    let admin = app.browser();
    admin.login_ok("admin", crate::helpers::ADMIN_PASSWORD).await;

    // The entitlement: the form as it is; a change that grants nothing refused; narrowed.
    let eid = w.admin.json("/api/v1/entitlements").await[0]["id"].as_i64().unwrap();
    let page = format!("/admin/catalog/entitlements/{eid}");
    assert!(admin.page("/admin/catalog").await.1.contains(&format!("href=\"{page}\"")), "the list links to its page");
    let (status, html) = admin.page(&page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<option value=\"team-a\" selected>") && html.contains("value=\"Web\""), "{html}");
    assert!(html.contains("value=\"destroy\" checked") && !html.contains("value=\"stop\" checked"), "{html}");
    let res = admin.submit(&page, &page, &[("group", "team-a"), ("catalog_items", ""), ("categories", ""), ("actions", "stop")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("name catalog items or categories") && html.contains("value=\"stop\" checked"), "{html}");
    assert_eq!(w.admin.json(&format!("/api/v1/entitlements/{eid}")).await["actions"], json!(["destroy"]), "nothing changed");
    let fields = [("group", "team-a"), ("catalog_items", "web"), ("categories", ""), ("actions", "stop"), ("actions", "destroy")];
    assert_eq!(admin.submit(&page, &page, &fields).await.status(), StatusCode::SEE_OTHER);
    let now: Value = w.admin.json(&format!("/api/v1/entitlements/{eid}")).await;
    assert_eq!(
        (now["catalog_items"].clone(), now["categories"].clone(), now["actions"].clone()),
        (json!(["web"]), json!([]), json!(["stop", "destroy"]))
    );
    let (s, _) = request(&w.dev, json!({"catalog_item": "other", "group": "team-a"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "the group's catalog follows at once");
    assert_eq!(admin.get("/admin/catalog/entitlements/999999").await.status(), StatusCode::NOT_FOUND);

    // The policy: made through the API with what the form must show back.
    let made = json!({"name": "two steps", "scope": {"catalog_items": ["web"], "groups": ["team-a"]}, "condition": "request.lease_days > 3",
        "actions": ["request", "destroy"], "levels": [
            {"approvers": {"group_managers": true, "admins": true}, "mode": "all", "timeout_hours": 1.5, "on_timeout": "reject"},
            {"approvers": {"users": ["lead", "dev"]}, "mode": "any"}]});
    let res = w.admin.create_approval_policy(&made).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let pid = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let page = format!("/admin/catalog/policies/{pid}");
    assert!(admin.page("/admin/catalog").await.1.contains(&format!("href=\"{page}\"")), "the list links to its page");
    let (status, html) = admin.page(&page).await;
    assert_eq!(status, StatusCode::OK);
    for shown in [
        "value=\"two steps\"",
        "value=\"request.lease_days ",
        "name=\"actions\" value=\"request\" checked",
        "name=\"actions\" value=\"destroy\" checked",
        "name=\"level1.approvers\" value=\"group_managers\" checked",
        "name=\"level1.approvers\" value=\"admins\" checked",
        "<option value=\"all\" selected>",
        "name=\"level1.timeout_hours\" placeholder=\"timeout (hours)\" inputmode=\"decimal\" value=\"1.5\"",
        "<option value=\"reject\" selected>",
        "name=\"level2.users\" placeholder=\"named users\" value=\"lead, dev\"",
    ] {
        assert!(html.contains(shown), "{shown} in {html}");
    }
    assert!(!html.contains("name=\"level2.approvers\" value=\"admins\" checked") && html.contains("Level 3"), "{html}");
    let mut fields = vec![
        ("name", "two steps"),
        ("condition", "request.lease_days > 3"),
        ("scope.catalog_items", "web"),
        ("scope.categories", ""),
        ("scope.groups", "team-a"),
        ("actions", "request"),
        ("level1.approvers", "admins"),
        ("level1.users", ""),
        ("level1.mode", "any"),
        ("level1.timeout_hours", "soon"),
        ("level1.on_timeout", "approve"),
        ("level2.users", "lead"),
        ("level2.mode", "any"),
        ("level3.users", ""),
        ("level3.mode", "any"),
    ];
    let res = admin.submit(&page, &page, &fields).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("level 1: timeout hours: `soon` is not a number") && html.contains("value=\"soon\""), "{html}");
    let as_is: Value = w.admin.json(&format!("/api/v1/approval-policies/{pid}")).await;
    assert_eq!(as_is["levels"].as_array().map(Vec::len), Some(2), "nothing changed: {as_is}");
    assert_eq!(as_is["actions"], json!(["request", "destroy"]), "nothing changed: {as_is}");
    fields[9] = ("level1.timeout_hours", "2");
    assert_eq!(admin.submit(&page, &page, &fields).await.status(), StatusCode::SEE_OTHER);
    let now: Value = w.admin.json(&format!("/api/v1/approval-policies/{pid}")).await;
    assert_eq!(now["actions"], json!(["request"]), "{now}");
    assert_eq!(
        now["levels"],
        json!([{"approvers": {"admins": true}, "mode": "any", "timeout_hours": 2.0, "on_timeout": "approve"}, {"approvers": {"users": ["lead"]}, "mode": "any"}]),
        "{now}"
    );
    let (s, held) = request(&w.dev, json!({"catalog_item": "web", "group": "team-a", "lease_days": 5})).await;
    assert_eq!((s, held["status"].as_str()), (StatusCode::CREATED, Some("pending_approval")), "{held}");
    assert_eq!(held["explain"]["levels"][1]["approvers"], json!(["lead"]), "new requests follow the page's change: {held}");
    assert_eq!(w.dev.cancel_request(held["id"].as_str().unwrap()).await.status(), StatusCode::OK);
    // A name another policy has is said on the page; an unknown policy's page is a 404.
    let res = w.admin.create_approval_policy(&json!({"name": "other", "levels": [{"approvers": {"admins": true}, "mode": "any"}]})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    fields[0] = ("name", "other");
    let res = admin.submit(&page, &page, &fields).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("a policy named `other` exists"));
    assert_eq!(admin.get("/admin/catalog/policies/999999").await.status(), StatusCode::NOT_FOUND);
    for action in ["entitlement.update", "policy.update"] {
        let found: Value = w.admin.json(&format!("/api/v1/audit?action={action}")).await;
        assert_eq!(found.as_array().map(Vec::len), Some(1), "{action}: {found}");
    }
}

/// A version stored before today's rules on inputs (written here straight into the database,
/// as an older Wharf would have published it) still loads, but takes no new request and serves
/// no item: both say which rule, where, and what to do.
async fn a_version_published_before_a_rule_takes_no_new_work(db: Db) {
    use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
    let url = crate::helpers::fresh_database(db).await;
    let app = crate::helpers::spawn_app_with(db, json!({"database_url": url})).await;
    let w = world(&app).await;
    let source = format!(
        "id: web\nname: Web web\nversion: 2\ninputs:\n  prog: {{ type: string, default: sleep }}\ncomponents:\n  app:\n    image: {}\n    command: [\"${{inputs.prog}}\", \"600\"]\n",
        crate::helpers::test_image()
    );
    let conn = sea_orm::Database::connect(&url).await.expect("the test's database");
    wharf::store::entities::blueprint_version::ActiveModel {
        blueprint_id: Set("web".into()),
        version: Set(2),
        source: Set(source),
        sha256: Set("0".repeat(64)),
        trusted: Set(false),
        created_by: Set("an older wharf".into()),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(&conn)
    .await
    .expect("the old version");
    conn.execute_unprepared("UPDATE blueprints SET latest_version = 2 WHERE id = 'web'").await.expect("latest");
    conn.close().await.ok();

    // `web` follows the latest version: no new request, with the rule and its place.
    let (s, body) = request(&w.dev, json!({"catalog_item": "web", "group": "team-a"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("version 2 was published before a rule it breaks (line 9, column 16") && message.contains("the program to run"),
        "{message}"
    );
    // No item takes it; `other` stays on version 1 of its own blueprint and is requested as ever.
    let res = w.admin.put("/api/v1/catalog-items/other", &json!({"blueprint": "web", "blueprint_version": 2})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["details"][0]["field"], "blueprint_version");
    // The version still loads (what was deployed from it keeps its day-2 actions).
    assert_eq!(w.admin.get("/api/v1/blueprints/web/versions/2/compose").await.status(), StatusCode::OK);
    // The blueprint's page tells the admin why, and what to do.
    let admin = app.browser();
    admin.login_ok("admin", crate::helpers::ADMIN_PASSWORD).await;
    let (status, html) = admin.page("/admin/blueprints/web").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No new request or catalog item") && html.contains("publishes a version that follows it"), "{html}");
}

async fn refusals_create_nothing(db: Db) {
    let app = spawn_app(db).await;
    let w = world(&app).await;
    // team-b: dev is a member, but the group is entitled to nothing.
    assert_eq!(w.admin.create_group(&json!({"name": "team-b"})).await.status(), StatusCode::CREATED);
    assert_eq!(w.admin.set_member("team-b", "dev", "member").await.status(), StatusCode::OK);
    let dev = app.api_as("dev", &password_of("dev")).await;

    let (s, body) = request(&dev, json!({"catalog_item": "web", "group": "team-b"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(body["error"]["message"].as_str().unwrap().contains("not entitled"), "{body}");
    let (s, body) = request(&dev, json!({"catalog_item": "web", "group": "ops"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(body["error"]["message"].as_str().unwrap().contains("not a member"), "{body}");
    let (s, _) = request(&dev, json!({"catalog_item": "nope", "group": "team-a"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Invalid inputs: 422, per field.
    let (s, body) = request(
        &dev,
        json!({"catalog_item": "web", "group": "team-a", "inputs": {"memory_mb": 999, "replicas": "x", "colour": 1}, "lease_days": 99}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = body["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    for f in ["inputs.memory_mb", "inputs.replicas", "inputs.colour", "lease_days"] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }

    // Over quota: 409 with the numbers.
    let res = w.admin.set_quota("team-a", &json!({"max_containers": 2, "max_memory_mb": 100})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (s, body) = request(&w.dev, json!({"catalog_item": "web", "group": "team-a", "inputs": {"replicas": 3, "memory_mb": 32}})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("containers: 0 in use + 3 requested > 2 allowed"), "{message}");

    assert_eq!(w.admin.list_requests_ok("").await, json!([]), "nothing was created");
    assert_eq!(w.admin.list_deployments_ok().await, json!([]));
    assert_eq!(w.admin.get_audit_ok("action=request").await, json!([]));
    let _ = w.hosts;
}

async fn a_two_level_policy_then_running_containers_then_destroy(db: Db) {
    let app = spawn_app(db).await;
    let w = world(&app).await;
    let ops1 = add_user(&app, &w.admin, "ops1").await;
    let ops2 = add_user(&app, &w.admin, "ops2").await;
    let policy: Value = serde_json::from_str(fixture!("policies/two-levels.json")).unwrap();
    let res = w.admin.create_approval_policy(&policy).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());

    let (s, r) = request(&w.dev, json!({"catalog_item": "web", "group": "team-a", "inputs": {"memory_mb": 64}, "reason": "demo"})).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_str().unwrap().to_string();
    assert_eq!(r["status"], "pending_approval");
    assert_eq!(r["waiting_on"], json!(["lead"]));
    assert_eq!(r["explain"]["policy"]["name"], "two levels");
    assert_eq!(r["explain"]["entitlement"]["via"], "category Web");
    assert_eq!(r["explain"]["levels"][1]["approvers"], json!(["ops1", "ops2"]));
    assert_eq!(r["inputs"]["password"], "********");

    // Nobody approves their own; level 2 cannot jump the queue.
    let res = w.dev.approve(&id).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = ops1.approve(&id).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "forbidden");
    let inbox: Value = w.lead.list_approvals_ok().await;
    assert_eq!(inbox[0]["id"], id.as_str());

    let res = w.lead.approve_with_comment(&id, "fine by me").await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.unwrap();
    assert_eq!((r["status"].as_str(), r["level"].as_i64()), (Some("pending_approval"), Some(2)));
    let res = ops1.approve(&id).await;
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["status"], "pending_approval", "`all` waits for every approver");
    assert_eq!(r["waiting_on"], json!(["ops2"]));
    let res = ops1.approve(&id).await;
    assert_eq!(res.status(), StatusCode::CONFLICT, "one decision per approver and level");
    let res = ops2.approve_raw(&id, "").await;
    assert_eq!(res.status(), StatusCode::OK);

    let r = wait_request(&app, &w.dev, &id, &["succeeded", "failed"], 90).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let approvals: Vec<(i64, &str)> =
        r["approvals"].as_array().unwrap().iter().map(|a| (a["level"].as_i64().unwrap(), a["approver"].as_str().unwrap())).collect();
    assert_eq!(approvals, [(1, "lead"), (2, "ops1"), (2, "ops2")]);
    let kinds: Vec<&str> = r["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"submitted"));
    assert!(kinds.contains(&"approved") && kinds.contains(&"provisioning") && kinds.last() == Some(&"succeeded"), "{kinds:?}");

    // The developer's deployment: running, reachable on its published port.
    let dep_id = r["deployment_id"].as_str().unwrap().to_string();
    let d = w.dev.get_deployment_ok(&dep_id).await;
    assert_eq!(d["status"], "running");
    assert_eq!((d["owner"].as_str(), d["group"].as_str(), d["catalog_item"].as_str()), (Some("dev"), Some("team-a"), Some("web")));
    assert!(d["lease_expires_at"].is_string());
    let page = crate::helpers::fetch_published(d["outputs"]["url"].as_str().unwrap()).await;
    assert!(page.contains("wharf test image"));
    // Managers see their group's deployment; someone else does not.
    assert_eq!(w.lead.get_deployment(&dep_id).await.status(), StatusCode::OK);
    assert_eq!(ops1.get_deployment(&dep_id).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(ops1.list_deployments_ok().await, json!([]));

    // The generated secret reached the container, and nowhere else.
    let endpoint = w.hosts.iter().find(|(n, _)| Some(n.as_str()) == d["host"].as_str()).unwrap().1.clone();
    let container = d["resources"][0]["name"].as_str().unwrap();
    let env = crate::helpers::docker(&endpoint, &["inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", container]);
    let secret = env.lines().find_map(|l| l.strip_prefix("PASSWORD=")).expect("the secret input").to_string();
    assert_eq!(secret.len(), 24);
    let seen = format!(
        "{}{}{}",
        w.admin.get_audit("per_page=200").await.text().await.unwrap(),
        w.dev.get_request(&id).await.text().await.unwrap(),
        w.dev.get_deployment(&dep_id).await.text().await.unwrap()
    );
    assert!(!seen.contains(&secret), "the secret leaked");

    // The developer destroys it; nothing is left on the host.
    let res = w.dev.deployment_action(&dep_id, "destroy").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    app.wait_deployment(&w.admin, &dep_id, &["destroyed"], 60).await;
    assert_eq!(leftovers(&endpoint, &dep_id), Vec::<String>::new());

    let audit: Value = w.admin.get_audit_ok("action=request").await;
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "request.approve").count(), 3);
    assert!(actions.contains(&"request.submit"));
}

async fn a_condition_only_fires_above_a_memory_size(db: Db) {
    let app = spawn_app(db).await;
    let w = world(&app).await;
    // A condition that does not parse is refused, with where.
    let res = w
        .admin
        .create_approval_policy(
            &json!({"name": "bad", "condition": "request.inputs.memory_mb >", "levels": [{"approvers": {"admins": true}, "mode": "any"}]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["details"][0]["field"], "condition");
    assert!(err["error"]["details"][0]["column"].as_u64().unwrap() > 1, "{err}");
    assert_eq!(w.admin.list_approval_policies_ok().await, json!([]));

    let res = w
        .admin
        .create_approval_policy(
            &json!({"name": "big memory", "condition": "request.inputs.memory_mb > 128", "levels": [{"approvers": {"group_managers": true}, "mode": "any"}]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // No quota pressure and no provisioning needed for this test: a tiny quota of memory.
    let (s, small) = request(&w.dev, json!({"catalog_item": "other", "group": "team-a", "inputs": {"memory_mb": 64}})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(small["explain"]["auto_approved"], true, "{small}");
    assert!(small["explain"]["skipped_policies"][0]["reason"].as_str().unwrap().contains("is false"), "{small}");
    let (s, big) = request(&w.dev, json!({"catalog_item": "other", "group": "team-a", "inputs": {"memory_mb": 256}})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(big["status"], "pending_approval");
    assert_eq!(big["explain"]["policy"]["condition"], "request.inputs.memory_mb > 128");
    assert_eq!(big["explain"]["policy"]["values"]["request"]["inputs"]["memory_mb"], 256);
    // Clean up the auto-approved one once it runs.
    let r = wait_request(&app, &w.dev, small["id"].as_str().unwrap(), &["succeeded", "failed"], 90).await;
    assert_eq!(r["status"], "succeeded");
    app.destroy_all(&w.admin, &[r["deployment_id"].as_str().unwrap().to_string()], &w.hosts).await;
}

async fn timeouts_approve_and_reject(db: Db) {
    let app = spawn_app(db).await;
    let w = world(&app).await;
    let mut policies = Vec::new();
    for (name, item, outcome) in [("approve on timeout", "web", "approve"), ("reject on timeout", "other", "reject")] {
        let res = w
            .admin
            .create_approval_policy(
                &json!({"name": name, "scope": {"catalog_items": [item]}, "levels": [{"approvers": {"group_managers": true}, "mode": "any", "timeout_hours": 0.002, "on_timeout": outcome}]}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        policies.push(res.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    let (_, a) = request(&w.dev, json!({"catalog_item": "web", "group": "team-a"})).await;
    let (_, b) = request(&w.dev, json!({"catalog_item": "other", "group": "team-a"})).await;
    assert_eq!((a["status"].as_str(), b["status"].as_str()), (Some("pending_approval"), Some("pending_approval")));
    // The policies change before the timeouts (7 s): the first loses its timeout, the second
    // goes. Each request still times out as its level said when it was submitted.
    let res = w
        .admin
        .put(
            &format!("/api/v1/approval-policies/{}", policies[0]),
            &json!({"name": "approve on timeout", "scope": {"catalog_items": ["web"]}, "levels": [{"approvers": {"group_managers": true}, "mode": "any"}]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(w.admin.delete(&format!("/api/v1/approval-policies/{}", policies[1])).await.status(), StatusCode::NO_CONTENT);
    assert!(a["explain"]["levels"][0]["on_timeout_text"].as_str().unwrap().contains("approved"));
    let b = wait_request(&app, &w.dev, b["id"].as_str().unwrap(), &["rejected"], 40).await;
    assert_eq!(b["approvals"][0]["approver"], "system");
    assert!(b["approvals"][0]["comment"].as_str().unwrap().contains("rejected by the policy"));
    let a = wait_request(&app, &w.dev, a["id"].as_str().unwrap(), &["succeeded", "failed"], 90).await;
    assert_eq!(a["status"], "succeeded", "{a}");
    assert_eq!(a["approvals"][0]["decision"], "approved");
    // The requester and the level's approver (lead) were told of each timeout in the portal.
    for who in [&w.dev, &w.lead] {
        let list = who.json("/api/v1/notifications").await;
        let timed_out: Vec<&Value> =
            list.as_array().unwrap().iter().filter(|n| n["title"].as_str().unwrap_or_default().contains("timed out")).collect();
        assert_eq!(timed_out.len(), 2, "{list}");
    }
    app.destroy_all(&w.admin, &[a["deployment_id"].as_str().unwrap().to_string()], &w.hosts).await;
}

async fn fifty_simultaneous_requests_never_pass_the_quota(db: Db) {
    let app = spawn_app(db).await;
    let w = world(&app).await;
    // Pending requests count: nothing needs to run for the quota to fill up.
    let res = w.admin.create_approval_policy(&json!({"name": "hold", "levels": [{"approvers": {"admins": true}, "mode": "any"}]})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(w.admin.set_quota("team-a", &json!({"max_containers": 7})).await.status(), StatusCode::OK);
    let (s, _) = request(&w.dev, json!({"catalog_item": "web", "group": "team-a", "inputs": {"replicas": 2}})).await;
    assert_eq!(s, StatusCode::CREATED, "2 of 7 in use");
    let dev = std::sync::Arc::new(w.dev);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let dev = dev.clone();
        tasks.push(tokio::spawn(async move { request(&dev, json!({"catalog_item": "web", "group": "team-a"})).await.0 }));
    }
    let mut created = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((created, refused), (5, 45), "exactly the 5 containers left");
    let all: Value = w.admin.list_requests_ok("per_page=200").await;
    assert_eq!(all.as_array().unwrap().len(), 6);
}

async fn cancelling_and_day_two_entitlements(db: Db) {
    let app = spawn_app(db).await;
    let w = world(&app).await;
    let res = w
        .admin
        .create_approval_policy(&json!({"name": "managers", "scope": {"catalog_items": ["other"]}, "levels": [{"approvers": {"group_managers": true}, "mode": "any"}]}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let (_, r) = request(&w.dev, json!({"catalog_item": "other", "group": "team-a"})).await;
    let id = r["id"].as_str().unwrap();
    assert_eq!(w.lead.cancel_request(id).await.status(), StatusCode::FORBIDDEN);
    let res = w.dev.cancel_request(id).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "cancelled");
    assert_eq!(w.lead.approve(id).await.status(), StatusCode::CONFLICT);

    // Auto-approved and running: cancel is too late; stop is not in the entitlement; destroy is.
    let (_, r) = request(&w.dev, json!({"catalog_item": "web", "group": "team-a"})).await;
    let r = wait_request(&app, &w.dev, r["id"].as_str().unwrap(), &["succeeded", "failed"], 90).await;
    assert_eq!(r["status"], "succeeded");
    let id = r["id"].as_str().unwrap();
    assert_eq!(w.dev.cancel_request(id).await.status(), StatusCode::CONFLICT);
    let dep = r["deployment_id"].as_str().unwrap().to_string();
    let res = w.dev.deployment_action(&dep, "stop").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    app.destroy_all(&w.dev, &[dep], &w.hosts).await;
    // The destroyed deployment gives its quota back.
    crate::helpers::eventually(10, "the quota to be released", || async {
        let r = w.dev.get_request_ok(id).await;
        r["events"].as_array().unwrap().iter().any(|e| e["kind"] == "released").then_some(())
    })
    .await;
}

/// A request is checked and approved with one blueprint version; a version published while it
/// waits for approval changes nothing: the version approved is the one that runs.
async fn the_approved_blueprint_version_is_the_one_deployed(db: Db) {
    let app = spawn_app(db).await;
    let w = world(&app).await;
    let policy = json!({"name": "lead approves", "scope": {"catalog_items": ["web"]},
        "levels": [{"approvers": {"group_managers": true}, "mode": "any"}]});
    assert_eq!(w.admin.create_approval_policy(&policy).await.status(), StatusCode::CREATED);
    let (s, r) = request(&w.dev, json!({"catalog_item": "web", "group": "team-a"})).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_str().unwrap().to_string();
    assert_eq!(r["status"], "pending_approval");
    // Version 2, published while the request waits: it would fail (its image is nowhere).
    let v2 = web_blueprint("web").replace("version: 1", "version: 2").replace("command:", "# v2\n    command:");
    let v2 = v2.replace(&crate::helpers::test_image(), "127.0.0.1:9/wharf-test/not-approved:2");
    assert_eq!(w.admin.publish_blueprint(&v2).await.status(), StatusCode::CREATED);
    assert_eq!(w.lead.approve(&id).await.status(), StatusCode::OK);
    let r = wait_request(&app, &w.dev, &id, &["succeeded", "failed"], 90).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let d = w.admin.get_deployment_ok(r["deployment_id"].as_str().unwrap()).await;
    assert_eq!(d["blueprint_version"], 1, "{d}");
    app.destroy_all(&w.admin, &[d["id"].as_str().unwrap().to_string()], &w.hosts).await;
}

/// An item retired, or an entitlement taken away or narrowed, while a request or a day-2
/// action is being checked wins: it is refused and nothing is stored (fail points hold each
/// submission 2.5 s between its first checks and the transaction that stores it, where they
/// are made again under the rows' locks).
async fn what_changes_during_a_submission_wins(db: Db) {
    let url = crate::helpers::fresh_database(db).await;
    let served = tokio::task::spawn_blocking(move || {
        let envs = [
            ("WHARF_DATABASE_URL", url.as_str()),
            ("WHARF_ADMIN_PASSWORD", crate::helpers::ADMIN_PASSWORD),
            ("WHARF_CATALOG_DIR", "/nonexistent/wharf-test-catalog"),
            ("WHARF_HOSTS__REGISTER_LOCAL", "false"),
            ("WHARF_ENGINE__NETWORK_POOL", "0"),
            ("WHARF_TEST_FAILPOINTS", "submit.before_store=sleep:2500;day2.before_store=sleep:2500"),
        ];
        crate::helpers::serve(&["serve"], &envs)
    })
    .await
    .expect("wharf started");
    let app = served.app();
    let w = world(&app).await;
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(1000));
    let body = json!({"catalog_item": "web", "group": "team-a"});

    // A destroy whose entitlement loses `destroy` while it is being checked.
    let (s, r) = request(&w.dev, body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let r = wait_request(&app, &w.dev, r["id"].as_str().unwrap(), &["succeeded", "failed"], 90).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let dep = r["deployment_id"].as_str().unwrap().to_string();
    let eid = w.admin.json("/api/v1/entitlements").await[0]["id"].as_i64().unwrap();
    let path = format!("/api/v1/entitlements/{eid}");
    let (refused, narrowed) = tokio::join!(w.dev.deployment_action(&dep, "destroy"), async {
        pause().await;
        w.admin.put(&path, &json!({"group": "team-a", "categories": ["Web"], "actions": []})).await.status()
    });
    assert_eq!(narrowed, StatusCode::OK);
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{}", refused.text().await.unwrap_or_default());
    assert_eq!(w.dev.get_deployment_ok(&dep).await["status"], "running", "not destroyed");
    let res = w.admin.put(&path, &json!({"group": "team-a", "categories": ["Web"], "actions": ["destroy"]})).await;
    assert_eq!(res.status(), StatusCode::OK);
    app.destroy_all(&w.admin, std::slice::from_ref(&dep), &w.hosts).await;

    let ((s, refused), retired) = tokio::join!(request(&w.dev, body.clone()), async {
        pause().await;
        w.admin.delete("/api/v1/catalog-items/web").await.status()
    });
    assert_eq!(retired, StatusCode::NO_CONTENT);
    assert_eq!(s, StatusCode::CONFLICT, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap_or_default().contains("retired"), "{refused}");
    assert_eq!(w.admin.put("/api/v1/catalog-items/web", &json!({"retired": false})).await.status(), StatusCode::OK);

    let ((s, refused), taken) = tokio::join!(request(&w.dev, body.clone()), async {
        pause().await;
        w.admin.delete(&path).await.status()
    });
    assert_eq!(taken, StatusCode::NO_CONTENT);
    assert_eq!(s, StatusCode::FORBIDDEN, "{refused}");
    let requests = w.dev.list_requests_ok("").await;
    assert_eq!(requests.as_array().map(Vec::len), Some(1), "nothing was stored but the first request: {requests}");
    served.stop();
}
