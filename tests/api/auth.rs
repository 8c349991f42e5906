//! Login, sessions, CSRF, throttling and API tokens.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, Db, error_code, password_of, spawn_app, spawn_app_with};
use crate::on_both_databases;

on_both_databases!(
    login_sets_a_safe_session_cookie_and_logout_ends_it,
    a_wrong_password_is_refused_and_audited,
    forms_without_a_valid_csrf_token_change_nothing,
    session_api_calls_need_the_csrf_header,
    repeated_failures_lock_the_user_name,
    api_tokens_authenticate_and_bad_ones_are_refused,
    https_base_url_makes_cookies_secure,
);

async fn login_sets_a_safe_session_cookie_and_logout_ends_it(db: Db) {
    let app = spawn_app(db).await;
    app.seed_team().await;
    let browser = app.browser();
    // Not logged in: pages send you to the login page, and back afterwards.
    let res = browser.get("/admin/users?page=1").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login?next=%2Fadmin%2Fusers%3Fpage%3D1");

    let token = browser.csrf_token("/login").await;
    let res = browser
        .post_form("/login", &[("csrf_token", &token), ("username", "Dev"), ("password", &password_of("dev")), ("next", "/teams")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/teams");
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("wharf_session="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http base: {cookie}");

    let (status, html) = browser.page("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Dana") || html.contains("dev"), "{html}");

    // A tampered cookie is no session.
    let value = cookie.split(';').next().unwrap().trim_start_matches("wharf_session=").to_string();
    let forged = app.anonymous();
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/"))
        .header("cookie", format!("wharf_session={}x", value))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "a forged cookie is not a session");
    drop(forged);

    // Logout ends the session on the server: the old cookie no longer works.
    let res = browser.submit("/", "/logout", &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login");
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/"))
        .header("cookie", format!("wharf_session={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::SEE_OTHER, "the old cookie is dead after logout");

    let admin = app.admin().await;
    let audit: Value = admin.get_audit_ok("actor=dev").await;
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"login") && actions.contains(&"logout"), "{actions:?}");
}

async fn a_wrong_password_is_refused_and_audited(db: Db) {
    let app = spawn_app(db).await;
    let browser = app.browser();
    let res = browser.login("admin", "not-the-password").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(!res.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("wharf_session=")));
    let html = res.text().await.unwrap();
    assert!(html.contains("wrong user name or password"), "{html}");
    assert!(!html.contains("not-the-password"), "the password is never shown back");
    // Unknown users get the same answer.
    let res = browser.login("nobody", "not-the-password").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(browser.get("/").await.status(), StatusCode::SEE_OTHER, "still not logged in");

    let admin = app.admin().await;
    let audit: Value = admin.get_audit_ok("action=login.failed").await;
    let entries = audit.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{audit}");
    let text = audit.to_string();
    assert!(!text.contains("not-the-password"), "no password in the audit log: {text}");
    assert!(entries.iter().any(|e| e["details"]["reason"] == "unknown user"));
}

async fn forms_without_a_valid_csrf_token_change_nothing(db: Db) {
    let app = spawn_app(db).await;
    // Login form without a token.
    let browser = app.browser();
    browser.get("/login").await;
    let res = browser.post_form("/login", &[("username", "admin"), ("password", ADMIN_PASSWORD)]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let html = res.text().await.unwrap();
    assert!(html.contains("CSRF"), "{html}");
    assert_eq!(browser.get("/").await.status(), StatusCode::SEE_OTHER, "no session was made");

    // A logged-in admin: a form without the token, or with another session's, is refused.
    browser.login_ok("admin", ADMIN_PASSWORD).await;
    let res = browser.post_form("/admin/groups", &[("name", "sneaky")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let other = app.browser();
    other.login_ok("admin", ADMIN_PASSWORD).await;
    let foreign = other.csrf_token("/admin/groups").await;
    let res = browser.post_form("/admin/groups", &[("csrf_token", &foreign), ("name", "sneaky")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let groups: Value = app.admin().await.list_groups_ok().await;
    assert_eq!(groups, json!([]), "nothing was created");

    // With its own token the same form works.
    let res = browser.submit("/admin/groups", "/admin/groups", &[("name", "fine"), ("description", "")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/admin/groups/fine");
}

async fn session_api_calls_need_the_csrf_header(db: Db) {
    let app = spawn_app(db).await;
    let browser = app.browser();
    browser.login_ok("admin", ADMIN_PASSWORD).await;
    let res = browser.client.post(app.url("/api/v1/groups")).json(&json!({"name": "via-cookie"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "csrf_failed");
    let token = browser.csrf_token("/").await;
    let res = browser
        .client
        .post(app.url("/api/v1/groups"))
        .header("x-csrf-token", token)
        .json(&json!({"name": "via-cookie"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // Reads need no token.
    let res = browser.client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

async fn repeated_failures_lock_the_user_name(db: Db) {
    let app = spawn_app_with(db, json!({"login": {"max_failures": 3, "lockout_minutes": 5}})).await;
    app.seed_team().await;
    let client = app.anonymous();
    for _ in 0..3 {
        let res = client.auth_token("dev", "wrong-password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Locked now, even with the right password; the answer says so and when to retry.
    let res = client.auth_token("dev", &password_of("dev")).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().get("retry-after").is_some());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_attempts");
    assert!(body["error"]["message"].as_str().unwrap().contains("try again in"), "{body}");
    // The login page says the same.
    let res = app.browser().login("dev", &password_of("dev")).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another user from the same address is not locked out.
    let res = client.auth_token("lead", &password_of("lead")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

async fn api_tokens_authenticate_and_bad_ones_are_refused(db: Db) {
    let app = spawn_app(db).await;
    app.seed_team().await;
    let anon = app.anonymous();
    let res = anon.auth_token("dev", &password_of("dev")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert!(body["token"].as_str().unwrap().starts_with("wharf_"));
    assert!(body["expires_at"].is_string());

    let dev = app.api_as("dev", &password_of("dev")).await;
    let me = dev.get_me_ok().await;
    assert_eq!(me, json!({"username": "dev", "display_name": "dev", "is_admin": false, "groups": [{"name": "team-a", "role": "member"}]}));

    let res = anon.auth_token("dev", "wrong-password").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "unauthorized");
    let res = anon.auth_token_raw("{\"username\": \"dev\"").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "bad_request");

    for header in ["Bearer wharf_not-a-token", "Bearer ", "Basic ZGV2OmRldg=="] {
        let res = reqwest::Client::new().get(app.url("/api/v1/me")).header("authorization", header).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{header}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let res = anon.get_me().await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn https_base_url_makes_cookies_secure(db: Db) {
    let app = spawn_app_with(db, json!({"base_url": "https://wharf.example.test"})).await;
    // A cookie jar would not send Secure cookies over plain http, so carry it by hand.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = client.get(app.url("/login")).send().await.unwrap();
    let set = |res: &reqwest::Response, name: &str| {
        res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).find(|c| c.starts_with(&format!("{name}=")))
    };
    // Under https the names carry `__Host-`: Secure, this host only, every path.
    let csrf_cookie = set(&res, "__Host-wharf_csrf").expect("a csrf cookie");
    assert!(csrf_cookie.contains("Secure"), "{csrf_cookie}");
    let pair = csrf_cookie.split(';').next().unwrap().to_string();
    let token = crate::helpers::csrf_in(&res.text().await.unwrap()).unwrap();
    let res = client
        .post(app.url("/login"))
        .header("cookie", pair)
        .form(&[("csrf_token", token.as_str()), ("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = set(&res, "__Host-wharf_session").expect("a session cookie");
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly"), "{cookie}");
}
