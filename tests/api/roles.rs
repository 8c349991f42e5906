//! Every route, every role: who may and who may not. Pages are driven as a browser with a
//! valid CSRF token (so only the role decides); the API with Bearer tokens.
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, Api, Browser, Db, TestApp, password_of, spawn_app};
use crate::on_both_databases;

on_both_databases!(every_route_checks_the_role);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    Consumer,
    Manager,
    Admin,
}

const ALL: [Who; 4] = [Who::Anonymous, Who::Consumer, Who::Manager, Who::Admin];

/// What a route answers each role. `LOGIN` is the redirect to the login page.
const LOGIN: u16 = 303;

struct Route {
    method: Method,
    path: &'static str,
    /// Form fields (pages) or a JSON body (API), with `{who}` replaced by the role's name.
    body: Option<Value>,
    expect: [u16; 4],
}

fn r(method: Method, path: &'static str, body: Option<Value>, expect: [u16; 4]) -> Route {
    Route { method, path, body, expect }
}

fn pages() -> Vec<Route> {
    use Method as M;
    vec![
        r(M::GET, "/healthz", None, [200, 200, 200, 200]),
        r(M::GET, "/readyz", None, [200, 200, 200, 200]),
        r(M::GET, "/static/css/wharf.css", None, [200, 200, 200, 200]),
        r(M::GET, "/login", None, [200, LOGIN, LOGIN, LOGIN]),
        r(M::GET, "/", None, [LOGIN, 200, 200, 200]),
        r(M::GET, "/teams", None, [LOGIN, 403, 200, 403]),
        r(M::GET, "/admin/users", None, [LOGIN, 403, 403, 200]),
        r(M::POST, "/admin/users", Some(json!({"username": "new-{who}", "password": "new-user-password"})), [LOGIN, 403, 403, 303]),
        r(M::GET, "/admin/groups", None, [LOGIN, 403, 403, 200]),
        r(M::POST, "/admin/groups", Some(json!({"name": "group-{who}"})), [LOGIN, 403, 403, 303]),
        r(M::GET, "/admin/groups/team-a", None, [LOGIN, 403, 403, 200]),
        r(M::POST, "/admin/groups/team-a/members", Some(json!({"username": "victim", "role": "member"})), [LOGIN, 403, 403, 303]),
        r(M::POST, "/admin/groups/team-a/members/victim/remove", Some(json!({})), [LOGIN, 403, 403, 303]),
        r(M::GET, "/admin/audit", None, [LOGIN, 403, 403, 200]),
        r(M::GET, "/admin/hosts", None, [LOGIN, 403, 403, 200]),
        r(M::POST, "/admin/hosts", Some(json!({"name": "bad name", "endpoint": "nowhere"})), [LOGIN, 403, 403, 422]),
        r(M::POST, "/admin/hosts/no-such-host/remove", Some(json!({})), [LOGIN, 403, 403, 404]),
        r(M::GET, "/admin/blueprints", None, [LOGIN, 403, 403, 200]),
        r(M::POST, "/admin/blueprints", Some(json!({"source": "id: ["})), [LOGIN, 403, 403, 422]),
        r(M::POST, "/admin/blueprints/import-compose", Some(json!({"compose": "services: ["})), [LOGIN, 403, 403, 422]),
        r(M::GET, "/admin/blueprints/no-such", None, [LOGIN, 403, 403, 404]),
        r(M::POST, "/admin/blueprints/no-such/deploy", Some(json!({})), [LOGIN, 403, 403, 404]),
        r(M::GET, "/admin/deployments", None, [LOGIN, 403, 403, 200]),
        r(M::GET, "/admin/deployments/no-such", None, [LOGIN, 403, 403, 404]),
        r(M::POST, "/admin/deployments/no-such/actions", Some(json!({"action": "destroy"})), [LOGIN, 403, 403, 404]),
        r(M::POST, "/admin/deployments/no-such/owner", Some(json!({"owner": "victim"})), [LOGIN, 403, 403, 404]),
        r(M::GET, "/catalog", None, [LOGIN, 200, 200, 200]),
        r(M::GET, "/catalog/no-such", None, [LOGIN, 404, 404, 404]),
        r(M::POST, "/catalog/no-such", Some(json!({"group": "team-a"})), [LOGIN, 404, 404, 404]),
        r(M::GET, "/requests", None, [LOGIN, 200, 200, 200]),
        r(M::GET, "/requests/no-such", None, [LOGIN, 404, 404, 404]),
        r(M::GET, "/requests/no-such/events", None, [LOGIN, 404, 404, 404]),
        r(M::POST, "/requests/no-such/decide", Some(json!({"decision": "approve"})), [LOGIN, 404, 404, 404]),
        r(M::POST, "/requests/no-such/cancel", Some(json!({})), [LOGIN, 404, 404, 404]),
        r(M::GET, "/approvals", None, [LOGIN, 200, 200, 200]),
        r(M::GET, "/deployments", None, [LOGIN, 200, 200, 200]),
        r(M::GET, "/deployments/no-such", None, [LOGIN, 404, 404, 404]),
        r(M::POST, "/deployments/no-such/actions", Some(json!({"action": "destroy"})), [LOGIN, 404, 404, 404]),
        r(M::POST, "/deployments/actions", Some(json!({"action": "stop", "ids": "no-such"})), [LOGIN, 200, 200, 200]),
        r(M::GET, "/deployments/no-such/events", None, [LOGIN, 404, 404, 404]),
        r(M::GET, "/deployments/no-such/console", None, [LOGIN, 404, 404, 404]),
        r(M::GET, "/admin/console-sessions/no-such", None, [LOGIN, 403, 403, 404]),
        r(M::GET, "/static/vendor/xterm/xterm.js", None, [200, 200, 200, 200]),
        r(M::GET, "/notifications", None, [LOGIN, 200, 200, 200]),
        r(M::GET, "/admin/webhooks", None, [LOGIN, 403, 403, 200]),
        r(M::POST, "/admin/webhooks", Some(json!({"url": "nowhere", "events": "*", "secret": "s"})), [LOGIN, 403, 403, 422]),
        r(M::GET, "/admin/webhooks/999999", None, [LOGIN, 403, 403, 404]),
        r(M::POST, "/admin/webhooks/999999/remove", Some(json!({})), [LOGIN, 403, 403, 404]),
        r(M::POST, "/admin/webhooks/999999/deliveries/x/retry", Some(json!({})), [LOGIN, 403, 403, 404]),
        r(M::GET, "/admin/registries", None, [LOGIN, 403, 403, 200]),
        r(M::POST, "/admin/registries", Some(json!({"address": "http://nowhere"})), [LOGIN, 403, 403, 422]),
        r(M::POST, "/admin/registries/999999/check", Some(json!({})), [LOGIN, 403, 403, 404]),
        r(M::POST, "/admin/registries/999999/credentials", Some(json!({"username": "u"})), [LOGIN, 403, 403, 404]),
        r(M::POST, "/admin/registries/999999/remove", Some(json!({})), [LOGIN, 403, 403, 404]),
        r(M::GET, "/admin/catalog/entitlements/999999", None, [LOGIN, 403, 403, 404]),
        r(M::POST, "/admin/catalog/entitlements/999999", Some(json!({"group": "team-a"})), [LOGIN, 403, 403, 404]),
        r(M::GET, "/admin/catalog/policies/999999", None, [LOGIN, 403, 403, 404]),
        r(M::POST, "/admin/catalog/policies/999999", Some(json!({"name": "x"})), [LOGIN, 403, 403, 404]),
        r(M::POST, "/admin/catalog/entitlements/999999/remove", Some(json!({})), [LOGIN, 403, 403, 404]),
        r(M::POST, "/admin/catalog/policies/999999/remove", Some(json!({})), [LOGIN, 403, 403, 404]),
        r(M::POST, "/admin/catalog/items/no-such/retire", Some(json!({})), [LOGIN, 403, 403, 404]),
        r(M::POST, "/admin/catalog/items/no-such/restore", Some(json!({})), [LOGIN, 403, 403, 404]),
        r(M::POST, "/notifications/read", Some(json!({})), [LOGIN, 303, 303, 303]),
        r(M::GET, "/approvals/link/not-a-token", None, [LOGIN, 400, 400, 400]),
        r(M::POST, "/approvals/link/not-a-token", Some(json!({})), [LOGIN, 400, 400, 400]),
        r(M::POST, "/profile/mail", Some(json!({})), [LOGIN, 200, 200, 200]),
        r(M::GET, "/admin/mail", None, [LOGIN, 403, 403, 200]),
        r(M::POST, "/admin/mail/x/retry", Some(json!({})), [LOGIN, 403, 403, 404]),
        r(M::GET, "/admin/catalog", None, [LOGIN, 403, 403, 200]),
        r(M::POST, "/admin/catalog/items", Some(json!({"id": "x"})), [LOGIN, 403, 403, 422]),
        r(M::GET, "/admin/catalog/items/no-such", None, [LOGIN, 403, 403, 404]),
        r(M::POST, "/admin/catalog/items/no-such", Some(json!({"id": "no-such"})), [LOGIN, 403, 403, 404]),
        r(M::POST, "/admin/catalog/entitlements", Some(json!({"group": "team-a"})), [LOGIN, 403, 403, 422]),
        r(M::POST, "/admin/catalog/policies", Some(json!({"name": ""})), [LOGIN, 403, 403, 422]),
        r(M::POST, "/admin/groups/team-a/quota", Some(json!({"max_containers": "40"})), [LOGIN, 403, 403, 303]),
        r(M::GET, "/profile", None, [LOGIN, 200, 200, 200]),
        r(
            M::POST,
            "/profile/password",
            Some(json!({"current_password": "not-it", "password": "a-new-password-1"})),
            [LOGIN, 422, 422, 422],
        ),
        r(M::POST, "/profile/sign-out-everywhere", Some(json!({})), [LOGIN, 303, 303, 303]),
        r(M::POST, "/admin/users/victim", Some(json!({"action": "enable"})), [LOGIN, 403, 403, 303]),
        r(M::POST, "/profile/tokens", Some(json!({"name": "t", "days": "7"})), [LOGIN, 201, 201, 201]),
        r(M::POST, "/profile/tokens/999999/revoke", Some(json!({})), [LOGIN, 404, 404, 404]),
        r(M::GET, "/auth/oidc/login", None, [404, 404, 404, 404]),
        r(M::GET, "/auth/oidc/callback?code=x&state=y", None, [404, 404, 404, 404]),
        r(M::POST, "/admin/settings/local-login", Some(json!({"enabled": "true"})), [LOGIN, 403, 403, 303]),
        r(M::POST, "/logout", Some(json!({})), [LOGIN, 303, 303, 303]),
    ]
}

fn api() -> Vec<Route> {
    use Method as M;
    vec![
        r(M::GET, "/api/v1/me", None, [401, 200, 200, 200]),
        r(M::GET, "/metrics", None, [401, 403, 403, 200]),
        r(M::GET, "/api/v1/users", None, [401, 403, 403, 200]),
        r(M::POST, "/api/v1/users", Some(json!({"username": "api-{who}", "password": "new-user-password"})), [401, 403, 403, 201]),
        r(M::PATCH, "/api/v1/users/victim", Some(json!({"display_name": "Victim of {who}"})), [401, 403, 403, 200]),
        r(M::PATCH, "/api/v1/users/{who}", Some(json!({"display_name": "Me, {who}"})), [401, 200, 200, 200]),
        r(M::GET, "/api/v1/groups", None, [401, 403, 403, 200]),
        r(M::POST, "/api/v1/groups", Some(json!({"name": "api-group-{who}"})), [401, 403, 403, 201]),
        r(M::GET, "/api/v1/groups/team-a", None, [401, 200, 200, 200]),
        r(M::PUT, "/api/v1/groups/team-a/members/victim", Some(json!({"role": "member"})), [401, 403, 403, 200]),
        r(M::DELETE, "/api/v1/groups/team-a/members/victim", None, [401, 403, 403, 204]),
        r(M::GET, "/api/v1/audit", None, [401, 403, 403, 200]),
        r(M::GET, "/api/v1/hosts", None, [401, 403, 403, 200]),
        r(M::POST, "/api/v1/hosts", Some(json!({"name": "bad name", "endpoint": "nowhere"})), [401, 403, 403, 422]),
        r(M::GET, "/api/v1/hosts/no-such-host", None, [401, 403, 403, 404]),
        r(M::DELETE, "/api/v1/hosts/no-such-host", None, [401, 403, 403, 404]),
        r(M::GET, "/api/v1/blueprints", None, [401, 403, 403, 200]),
        r(M::POST, "/api/v1/blueprints", Some(json!({"source": "id: ["})), [401, 403, 403, 422]),
        r(M::POST, "/api/v1/blueprints/import-compose", Some(json!({"services": "oops"})), [401, 403, 403, 422]),
        r(M::GET, "/api/v1/blueprints/no-such", None, [401, 403, 403, 404]),
        r(M::POST, "/api/v1/blueprints/no-such/deploy", Some(json!({})), [401, 403, 403, 404]),
        r(M::GET, "/api/v1/blueprints/no-such/versions/1/compose", None, [401, 403, 403, 404]),
        r(M::GET, "/api/v1/deployments", None, [401, 200, 200, 200]),
        r(M::GET, "/api/v1/deployments/no-such", None, [401, 404, 404, 404]),
        r(M::POST, "/api/v1/deployments/no-such/actions", Some(json!({"action": "destroy"})), [401, 404, 404, 404]),
        r(M::POST, "/api/v1/deployments/actions", Some(json!({"ids": ["no-such"], "action": "stop"})), [401, 200, 200, 200]),
        r(M::PUT, "/api/v1/deployments/no-such/lease", Some(json!({"expires_at": "2030-01-01T00:00:00Z"})), [401, 403, 403, 404]),
        r(M::GET, "/api/v1/deployments/no-such/history", None, [401, 404, 404, 404]),
        r(M::GET, "/api/v1/deployments/no-such/logs", None, [401, 404, 404, 404]),
        r(M::GET, "/api/v1/deployments/no-such/stats", None, [401, 404, 404, 404]),
        // Not a WebSocket upgrade: refused before the deployment is looked up.
        r(M::GET, "/api/v1/deployments/no-such/console", None, [401, 400, 400, 400]),
        r(M::GET, "/api/v1/deployments/no-such/console-sessions", None, [401, 403, 403, 404]),
        r(M::GET, "/api/v1/console-sessions/no-such", None, [401, 403, 403, 404]),
        r(M::GET, "/api/v1/notifications", None, [401, 200, 200, 200]),
        r(M::POST, "/api/v1/notifications/read", Some(json!({})), [401, 200, 200, 200]),
        r(M::GET, "/api/v1/notifications/preferences", None, [401, 200, 200, 200]),
        r(M::PUT, "/api/v1/notifications/preferences", Some(json!({"mail": {}})), [401, 200, 200, 200]),
        r(M::GET, "/api/v1/mail/deliveries", None, [401, 403, 403, 200]),
        r(M::POST, "/api/v1/mail/deliveries/x/retry", Some(json!({})), [401, 403, 403, 404]),
        r(M::GET, "/api/v1/webhooks", None, [401, 403, 403, 200]),
        r(M::POST, "/api/v1/webhooks", Some(json!({"url": "nowhere", "events": ["*"], "secret": "s"})), [401, 403, 403, 422]),
        r(M::DELETE, "/api/v1/webhooks/999999", None, [401, 403, 403, 404]),
        r(M::GET, "/api/v1/webhooks/999999/deliveries", None, [401, 403, 403, 404]),
        r(M::POST, "/api/v1/webhooks/999999/deliveries/x/retry", Some(json!({})), [401, 403, 403, 404]),
        r(M::GET, "/api/v1/registries", None, [401, 403, 403, 200]),
        r(M::POST, "/api/v1/registries", Some(json!({"address": "http://nowhere"})), [401, 403, 403, 422]),
        r(M::GET, "/api/v1/registries/999999", None, [401, 403, 403, 404]),
        r(M::PUT, "/api/v1/registries/999999", Some(json!({"username": "u"})), [401, 403, 403, 404]),
        r(M::DELETE, "/api/v1/registries/999999", None, [401, 403, 403, 404]),
        r(M::POST, "/api/v1/registries/999999/check", Some(json!({})), [401, 403, 403, 404]),
        r(M::PATCH, "/api/v1/deployments/no-such", Some(json!({"owner": "victim"})), [401, 403, 403, 404]),
        r(M::GET, "/api/v1/catalog-items", None, [401, 403, 403, 200]),
        r(
            M::POST,
            "/api/v1/catalog-items",
            Some(json!({"id": "x", "name": "X", "category": "C", "blueprint": "nope", "lease": {"default_days": 1, "max_days": 1}})),
            [401, 403, 403, 422],
        ),
        r(M::GET, "/api/v1/catalog-items/no-such", None, [401, 403, 403, 404]),
        r(
            M::PUT,
            "/api/v1/catalog-items/no-such",
            Some(json!({"name": "X", "category": "C", "blueprint": "nope", "lease": {"default_days": 1, "max_days": 1}})),
            [401, 403, 403, 404],
        ),
        r(M::GET, "/api/v1/entitlements", None, [401, 403, 403, 200]),
        r(M::POST, "/api/v1/entitlements", Some(json!({"group": "team-a"})), [401, 403, 403, 422]),
        r(M::GET, "/api/v1/entitlements/999999", None, [401, 403, 403, 404]),
        r(M::PUT, "/api/v1/entitlements/999999", Some(json!({"group": "team-a", "categories": ["Web"]})), [401, 403, 403, 404]),
        r(M::DELETE, "/api/v1/entitlements/999999", None, [401, 403, 403, 404]),
        r(M::DELETE, "/api/v1/catalog-items/no-such", None, [401, 403, 403, 404]),
        r(M::GET, "/api/v1/approval-policies/999999", None, [401, 403, 403, 404]),
        r(
            M::PUT,
            "/api/v1/approval-policies/999999",
            Some(json!({"name": "p", "levels": [{"approvers": {"admins": true}, "mode": "any"}]})),
            [401, 403, 403, 404],
        ),
        r(M::DELETE, "/api/v1/approval-policies/999999", None, [401, 403, 403, 404]),
        r(M::GET, "/api/v1/approval-policies", None, [401, 403, 403, 200]),
        r(M::POST, "/api/v1/approval-policies", Some(json!({"name": "p", "levels": []})), [401, 403, 403, 422]),
        r(M::PUT, "/api/v1/groups/team-a/quota", Some(json!({"max_containers": 40})), [401, 403, 403, 200]),
        r(M::GET, "/api/v1/catalog", None, [401, 200, 200, 200]),
        r(M::GET, "/api/v1/requests", None, [401, 200, 200, 200]),
        r(M::POST, "/api/v1/requests", Some(json!({"catalog_item": "no-such", "group": "team-a"})), [401, 404, 404, 404]),
        r(M::GET, "/api/v1/requests/no-such", None, [401, 404, 404, 404]),
        r(M::POST, "/api/v1/requests/no-such/approve", Some(json!({})), [401, 404, 404, 404]),
        r(M::POST, "/api/v1/requests/no-such/reject", Some(json!({})), [401, 404, 404, 404]),
        r(M::POST, "/api/v1/requests/no-such/cancel", Some(json!({})), [401, 404, 404, 404]),
        r(M::GET, "/api/v1/approvals", None, [401, 200, 200, 200]),
        r(M::GET, "/api/v1/settings/local-login", None, [401, 403, 403, 200]),
        r(M::PUT, "/api/v1/settings/local-login", Some(json!({"enabled": false})), [401, 403, 403, 409]),
        r(M::GET, "/api/v1/tokens", None, [401, 200, 200, 200]),
        r(M::GET, "/api/v1/tokens?all=true", None, [401, 403, 403, 200]),
        r(M::POST, "/api/v1/tokens", Some(json!({"name": "t"})), [401, 201, 201, 201]),
        r(M::DELETE, "/api/v1/tokens/999999", None, [401, 404, 404, 404]),
        r(M::POST, "/api/v1/auth/token", Some(json!({"username": "victim", "password": "victim-password-1"})), [201, 201, 201, 201]),
    ]
}

fn name(who: Who) -> &'static str {
    match who {
        Who::Anonymous => "anon",
        Who::Consumer => "dev",
        Who::Manager => "lead",
        Who::Admin => "admin",
    }
}

fn fill(body: &Value, who: Who) -> Value {
    serde_json::from_str(&body.to_string().replace("{who}", name(who))).unwrap()
}

async fn browser_for(app: &TestApp, who: Who) -> Browser {
    let b = app.browser();
    match who {
        Who::Anonymous => {}
        Who::Admin => b.login_ok("admin", ADMIN_PASSWORD).await,
        other => b.login_ok(name(other), &password_of(name(other))).await,
    }
    b
}

async fn api_for(app: &TestApp, who: Who) -> Api {
    match who {
        Who::Anonymous => app.anonymous(),
        Who::Admin => app.admin().await,
        other => app.api_as(name(other), &password_of(name(other))).await,
    }
}

async fn every_route_checks_the_role(db: Db) {
    let app = spawn_app(db).await;
    let admin = app.seed_team().await;
    let res = admin.create_user(&json!({"username": "victim", "password": password_of("victim")})).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let mut failures = Vec::new();
    for (i, who) in ALL.into_iter().enumerate() {
        // Pages: one browser per role, signed in again whenever a route ended its session
        // (/logout, sign out everywhere), so that each route is tried signed in.
        let mut b = browser_for(&app, who).await;
        for route in pages() {
            if who != Who::Anonymous && b.client.get(app.url("/profile")).send().await.unwrap().status() != StatusCode::OK {
                b = browser_for(&app, who).await;
            }
            let url = app.url(route.path);
            let res = match &route.body {
                None => b.client.request(route.method.clone(), url).send().await.unwrap(),
                Some(body) => {
                    let token = b.csrf_token(if who == Who::Anonymous { "/login" } else { "/" }).await;
                    let mut fields: Vec<(String, String)> =
                        fill(body, who).as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect();
                    fields.push(("csrf_token".into(), token));
                    b.client.request(route.method.clone(), url).form(&fields).send().await.unwrap()
                }
            };
            if res.status().as_u16() != route.expect[i] {
                failures.push(format!("{who:?} {} {} -> {} (expected {})", route.method, route.path, res.status(), route.expect[i]));
            }
        }
        let client = api_for(&app, who).await;
        for route in api() {
            let path = &route.path.replace("{who}", name(who));
            let path = path.as_str();
            let res = match (&route.method, &route.body) {
                (&Method::GET, _) => client.get(path).await,
                (&Method::DELETE, _) => client.delete(path).await,
                (&Method::PUT, Some(b)) => client.put(path, &fill(b, who)).await,
                (&Method::PATCH, Some(b)) => client.patch(path, &fill(b, who)).await,
                (_, Some(b)) => client.post(path, &fill(b, who)).await,
                (m, None) => panic!("{m} {path} needs a body"),
            };
            let status = res.status();
            if status.as_u16() != route.expect[i] {
                failures.push(format!("{who:?} {} {path} -> {status} (expected {})", route.method, route.expect[i]));
            }
            if status.is_client_error() {
                let body: Value = res.json().await.unwrap_or(Value::Null);
                if body["error"]["code"].as_str().is_none() {
                    failures.push(format!("{who:?} {} {path}: error without the JSON shape: {body}", route.method));
                }
            }
        }
    }
    assert!(failures.is_empty(), "role checks that do not hold:\n{}", failures.join("\n"));

    // A member of no group does not see another group's details: 404, as if it did not exist.
    let outsider = app.api_as("victim", &password_of("victim")).await;
    assert_eq!(outsider.get_group("team-a").await.status(), StatusCode::NOT_FOUND);
}
