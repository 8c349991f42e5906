//! Users, groups, memberships and the audit log, through the API and the admin pages.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, Db, error_code, password_of, spawn_app};
use crate::on_both_databases;

on_both_databases!(
    users_are_created_and_bad_input_changes_nothing,
    groups_and_memberships,
    the_audit_log_records_changes_without_secrets,
    admin_pages_create_users_and_manage_members,
    each_role_sees_its_navigation,
);

async fn users_are_created_and_bad_input_changes_nothing(db: Db) {
    let app = spawn_app(db).await;
    let admin = app.admin().await;
    let res = admin
        .create_user(&json!({"username": "Alice", "password": "alice-password", "display_name": "Alice A.", "email": "alice@example.test"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["username"], "alice");
    assert!(body.get("password").is_none() && body.get("password_hash").is_none(), "{body}");

    // Each bad input: a clear error, and nothing created.
    let cases = [
        (json!({"username": "alice", "password": "another-password"}), StatusCode::CONFLICT, "conflict", None),
        (
            json!({"username": "bad name", "password": "long-enough-pw"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            Some("username"),
        ),
        (json!({"username": "bob", "password": "short"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", Some("password")),
        (
            json!({"username": "bob", "password": "long-enough-pw", "email": "nope"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            Some("email"),
        ),
        (json!({"username": "bob", "password": "long-enough-pw", "role": "god"}), StatusCode::BAD_REQUEST, "bad_request", None),
        (json!({"username": "bob"}), StatusCode::BAD_REQUEST, "bad_request", None),
    ];
    for (body, status, code, field) in cases {
        let res = admin.create_user(&body).await;
        assert_eq!(res.status(), status, "{body}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["code"], code, "{err}");
        assert!(!err["error"]["message"].as_str().unwrap().is_empty());
        if let Some(field) = field {
            assert_eq!(err["error"]["details"][0]["field"], field, "{err}");
        }
    }
    let res = admin.create_user_raw("not json").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let users: Value = admin.list_users_ok("").await;
    let names: Vec<&str> = users.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "alice"]);

    // Paging: X-Total-Count and a Link to the next page.
    let res = admin.list_users("per_page=1").await;
    assert_eq!(res.headers()["x-total-count"], "2");
    let link = res.headers()["link"].to_str().unwrap().to_string();
    assert!(link.contains("page=2") && link.contains("rel=\"next\""), "{link}");
    let page: Value = res.json().await.unwrap();
    assert_eq!(page.as_array().unwrap().len(), 1);

    // The new user can log in.
    app.token("alice", "alice-password").await;
}

async fn groups_and_memberships(db: Db) {
    let app = spawn_app(db).await;
    let admin = app.seed_team().await;
    let res = admin.create_group(&json!({"name": "team-a"})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = admin.create_group(&json!({"name": "Team B"})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(res).await, "invalid_input");

    let res = admin.set_member("team-a", "dev", "owner").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = admin.set_member("team-a", "ghost", "member").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = admin.set_member("no-group", "dev", "member").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let group: Value = admin.get_group_ok("team-a").await;
    let members: Vec<(String, String)> = group["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["username"].as_str().unwrap().into(), m["role"].as_str().unwrap().into()))
        .collect();
    assert_eq!(members, [("lead".to_string(), "manager".to_string()), ("dev".to_string(), "member".to_string())]);

    // Promote dev, then remove: /me follows.
    let res = admin.set_member("team-a", "dev", "manager").await;
    assert_eq!(res.status(), StatusCode::OK);
    let dev = app.api_as("dev", &password_of("dev")).await;
    assert_eq!(dev.get_me_ok().await["groups"], json!([{"name": "team-a", "role": "manager"}]));
    assert_eq!(admin.remove_member("team-a", "dev").await.status(), StatusCode::NO_CONTENT);
    assert_eq!(admin.remove_member("team-a", "dev").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(dev.get_me_ok().await["groups"], json!([]));

    let groups: Value = admin.list_groups_ok().await;
    assert_eq!(groups[0]["name"], "team-a");
    assert_eq!(groups[0]["members"], 1);
    assert_eq!(groups[0]["managers"], 1);
}

async fn the_audit_log_records_changes_without_secrets(db: Db) {
    let app = spawn_app(db).await;
    let admin = app.seed_team().await;
    let all: Value = admin.get_audit_ok("per_page=200").await;
    let text = all.to_string();
    for secret in [password_of("dev"), password_of("lead"), ADMIN_PASSWORD.to_string()] {
        assert!(!text.contains(&secret), "a password leaked into the audit log");
    }
    let created: Value = admin.get_audit_ok("action=user.create&actor=admin").await;
    let targets: Vec<&str> = created.as_array().unwrap().iter().map(|e| e["target"].as_str().unwrap()).collect();
    assert_eq!(targets, ["user:lead", "user:dev"], "newest first");
    let memberships: Value = admin.get_audit_ok("action=membership").await;
    assert_eq!(memberships.as_array().unwrap().len(), 2);
    assert_eq!(memberships[0]["details"]["role"], "manager");
    let res = admin.get_audit("since=not-a-date").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let future: Value = admin.get_audit_ok("since=2999-01-01T00:00:00Z").await;
    assert_eq!(future, json!([]));
}

async fn admin_pages_create_users_and_manage_members(db: Db) {
    let app = spawn_app(db).await;
    let browser = app.browser();
    browser.login_ok("admin", ADMIN_PASSWORD).await;

    // Bad input: the page comes back with the error beside the field, and nothing is created.
    let res =
        browser.submit("/admin/users", "/admin/users", &[("username", "carol"), ("password", "short"), ("display_name", "Carol")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("class=\"field-error\">a password must be at least 10 characters"), "{html}");
    assert!(html.contains("value=\"carol\""), "the form keeps what was typed");
    assert!(!html.contains("value=\"short\""), "but never the password");

    let res = browser
        .submit("/admin/users", "/admin/users", &[("username", "carol"), ("password", "carol-password"), ("display_name", "Carol")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, html) = browser.page("/admin/users?created=carol").await;
    assert!(html.contains("<code>carol</code>") && html.contains("was created"), "{html}");

    let res = browser.submit("/admin/groups", "/admin/groups", &[("name", "ops"), ("description", "Operations")]).await;
    assert_eq!(res.headers()["location"], "/admin/groups/ops");
    let res = browser.submit("/admin/groups/ops", "/admin/groups/ops/members", &[("username", "carol"), ("role", "manager")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = browser.submit("/admin/groups/ops", "/admin/groups/ops/members", &[("username", "nobody"), ("role", "member")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("no user `nobody`"));
    let (_, html) = browser.page("/admin/groups/ops").await;
    assert!(html.contains("<code>carol</code>") && html.contains("badge-manager"), "{html}");

    // carol now manages ops and sees it under My teams.
    let carol = app.browser();
    carol.login_ok("carol", "carol-password").await;
    let (status, html) = carol.page("/teams").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h2>ops</h2>"), "{html}");

    let res = browser.submit("/admin/groups/ops", "/admin/groups/ops/members/carol/remove", &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (status, _) = carol.page("/teams").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no longer a manager");

    let (status, html) = browser.page("/admin/audit?action=membership").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("membership.set") && html.contains("membership.remove"), "{html}");
}

/// Each demo role logs in and sees the navigation of its role, and only that.
async fn each_role_sees_its_navigation(db: Db) {
    let app = spawn_app(db).await;
    app.seed_team().await;
    let nav = |html: &str| -> Vec<&'static str> {
        ["href=\"/teams\"", "href=\"/admin/users\"", "href=\"/admin/groups\"", "href=\"/admin/audit\""]
            .into_iter()
            .filter(|l| html.contains(l))
            .collect()
    };
    for (user, password, expected) in [
        ("dev", password_of("dev"), vec![]),
        ("lead", password_of("lead"), vec!["href=\"/teams\""]),
        ("admin", ADMIN_PASSWORD.to_string(), vec!["href=\"/admin/users\"", "href=\"/admin/groups\"", "href=\"/admin/audit\""]),
    ] {
        let b = app.browser();
        b.login_ok(user, &password).await;
        let (status, html) = b.page("/").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(nav(&html), expected, "navigation of {user}");
        assert!(html.contains("Log out"));
    }
}
