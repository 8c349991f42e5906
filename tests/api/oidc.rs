//! OpenID Connect against a real provider (panva's oidc-provider, started by scripts/test):
//! the whole flow without a browser, group mapping re-synced at every login, and the failures.
use std::sync::Mutex;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::render;
use crate::helpers::{ADMIN_PASSWORD, Browser, Db, TestApp, env, spawn_app_with};
use crate::{fixture, on_both_databases};

on_both_databases!(
    first_login_creates_the_user_and_groups_follow_the_claim,
    bad_callbacks_are_refused_and_create_nothing,
    local_login_can_be_turned_off_but_not_locking_out_admins
);

/// The provider's users file is shared by every test: one writer at a time.
static USERS: Mutex<()> = Mutex::new(());

/// Gives `user` these groups at the provider (read at each login).
pub(crate) fn provider_user(user: &str, groups: &[&str]) {
    let _guard = USERS.lock().unwrap_or_else(|e| e.into_inner());
    let path = env("WHARF_TEST_OIDC_USERS");
    let mut all: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|_| "{}".into())).unwrap_or(json!({}));
    all[user] = json!({"name": format!("SSO {user}"), "groups": groups});
    let tmp = format!("{path}.{}", uuid::Uuid::new_v4());
    std::fs::write(&tmp, all.to_string()).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

fn unique(name: &str) -> String {
    format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6])
}

pub(crate) fn oidc_settings() -> Value {
    let issuer = env("WHARF_TEST_OIDC_ISSUER");
    serde_json::from_str(&render(fixture!("config/oidc.json"), &[("issuer", &issuer)])).expect("the OpenID settings fixture")
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") { location.to_string() } else { format!("{}{location}", base.trim_end_matches('/')) }
}

fn form_action(html: &str) -> Option<String> {
    let start = html.find("action=\"")? + 8;
    Some(html[start..start + html[start..].find('"')?].replace("&amp;", "&"))
}

/// The hidden fields of the provider's form, and the login when it asks for one.
fn form_fields(html: &str, user: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in html.split("<input").skip(1) {
        let tag = &part[..part.find('>').unwrap_or(part.len())];
        let attr = |name: &str| tag.split(&format!("{name}=\"")).nth(1).and_then(|s| s.split('"').next()).map(str::to_string);
        if attr("type").as_deref() == Some("hidden")
            && let (Some(n), Some(v)) = (attr("name"), attr("value"))
        {
            out.push((n, v));
        }
    }
    if html.contains("name=\"login\"") {
        out.push(("login".into(), user.into()));
        out.push(("password".into(), "any".into()));
    }
    out
}

/// Drives the provider's login and consent pages as `user`; returns Wharf's callback URL.
async fn through_the_provider(app: &TestApp, b: &Browser, user: &str) -> String {
    let issuer = env("WHARF_TEST_OIDC_ISSUER");
    let res = b.get("/auth/oidc/login?next=/catalog").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let mut url = res.headers()["location"].to_str().unwrap().to_string();
    assert!(url.starts_with(&issuer) && url.contains("code_challenge=") && url.contains("nonce=") && url.contains("state="), "{url}");
    for _ in 0..20 {
        if url.starts_with(&app.address) {
            return url;
        }
        let res = b.client.get(&url).send().await.unwrap();
        if res.status().is_redirection() {
            url = absolute(&issuer, res.headers()["location"].to_str().unwrap());
            continue;
        }
        let html = res.text().await.unwrap();
        let action = absolute(&issuer, &form_action(&html).unwrap_or_else(|| panic!("a form at {url}: {html}")));
        let res = b.client.post(&action).form(&form_fields(&html, user)).send().await.unwrap();
        assert!(res.status().is_redirection(), "{action}: {}", res.status());
        url = absolute(&issuer, res.headers()["location"].to_str().unwrap());
    }
    panic!("the provider never sent the browser back");
}

pub(crate) async fn sso_login(app: &TestApp, user: &str) -> Browser {
    let b = app.browser();
    let callback = through_the_provider(app, &b, user).await;
    let res = b.client.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap_or_default());
    assert_eq!(res.headers()["location"], "/catalog");
    b
}

pub(crate) async fn me(b: &Browser) -> Value {
    b.get("/api/v1/me").await.json().await.unwrap()
}

async fn first_login_creates_the_user_and_groups_follow_the_claim(db: Db) {
    let app = spawn_app_with(db, oidc_settings()).await;
    let (status, page) = app.browser().page("/login").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("href=\"/auth/oidc/login?next=%2F\"") && page.contains("Log in with single sign-on"), "{page}");

    let alice = unique("alice");
    provider_user(&alice, &["devs", "leads", "unrelated"]);
    let b = sso_login(&app, &alice).await;
    let who = me(&b).await;
    assert_eq!(who["username"], alice.as_str());
    assert_eq!(who["display_name"], format!("SSO {alice}"));
    assert_eq!(who["is_admin"], false);
    assert_eq!(who["groups"], json!([{"name": "team-a", "role": "manager"}]), "the mapped group was made, with the highest role");

    // Next login: the claim changed; memberships follow, and a group gone from it is left.
    provider_user(&alice, &["devs", "ops", "wharf-admins"]);
    let b = sso_login(&app, &alice).await;
    let who = me(&b).await;
    assert_eq!(who["username"], alice.as_str(), "the same account, found by subject");
    assert_eq!(who["is_admin"], true);
    assert_eq!(who["groups"], json!([{"name": "ops", "role": "member"}, {"name": "team-a", "role": "member"}]));
    provider_user(&alice, &["ops"]);
    let who = me(&sso_login(&app, &alice).await).await;
    assert_eq!((who["is_admin"].as_bool(), who["groups"].clone()), (Some(false), json!([{"name": "ops", "role": "member"}])));

    // Local accounts keep working beside it.
    app.browser().login_ok("admin", ADMIN_PASSWORD).await;
    let admin = app.admin().await;
    let audit: Value = admin.get_audit_ok(&format!("actor={alice}&action=login")).await;
    assert_eq!(audit.as_array().unwrap().len(), 3);
    assert_eq!(audit[0]["details"]["via"], "oidc");
    let removed: Value = admin.get_audit_ok("action=membership.remove&actor=oidc").await;
    assert_eq!(removed[0]["details"]["user"], alice.as_str());
}

async fn bad_callbacks_are_refused_and_create_nothing(db: Db) {
    let app = spawn_app_with(db, oidc_settings()).await;
    let admin = app.admin().await;
    let users_before = admin.list_users_ok("").await.as_array().unwrap().len();
    let bob = unique("bob");
    provider_user(&bob, &["devs"]);

    // A wrong state: refused, nothing created.
    let b = app.browser();
    let callback = through_the_provider(&app, &b, &bob).await;
    let forged = callback.split("state=").next().unwrap().to_string() + "state=forged";
    let res = b.client.get(&forged).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("the login state does not match"));
    // No login in progress in this browser (another browser's callback).
    let res = app.browser().client.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("no single sign-on login is in progress"));
    assert_eq!(admin.list_users_ok("").await.as_array().unwrap().len(), users_before);

    // A code used once: the second use (same browser, same state) is refused by the provider.
    let b = app.browser();
    let callback = through_the_provider(&app, &b, &bob).await;
    let pending = b.client.get(&callback).send().await.unwrap();
    assert_eq!(pending.status(), StatusCode::SEE_OTHER);
    let users_after_first = admin.list_users_ok("").await.as_array().unwrap().len();
    assert_eq!(users_after_first, users_before + 1);
    let replay = app.browser();
    // Replay with the pending cookie of a fresh start in another browser: still refused.
    let again = through_the_provider(&app, &replay, &bob).await;
    let stolen = format!("{}?{}", again.split('?').next().unwrap(), callback.split('?').nth(1).unwrap());
    let res = replay.client.get(&stolen).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{stolen}");
    assert_eq!(admin.list_users_ok("").await.as_array().unwrap().len(), users_after_first);
    let failures: Value = admin.get_audit_ok("action=login.failed").await;
    // Callbacks that no login of this browser started are refused without a trace (anyone can
    // send them); the two state mismatches above are audited.
    assert!(failures.as_array().unwrap().len() >= 2, "{failures}");

    // An ID token minted for another client is not valid for Wharf.
    let other = token_for_other_client(&bob).await;
    let settings =
        wharf::config::Settings::from_figment(figment::Figment::new().merge(figment::providers::Serialized::defaults(oidc_settings())))
            .unwrap();
    let oidc = wharf::auth::oidc::Oidc::discover(&settings.oidc, "http://127.0.0.1:1/auth/oidc/callback").await.unwrap();
    let err = oidc.verify_compact(&other.0, &other.1).unwrap_err().to_string();
    assert!(err.contains("not valid for Wharf") && err.to_lowercase().contains("audience"), "{err}");
}

/// Runs the flow as the provider's other client, `other-app`; returns its ID token and nonce.
async fn token_for_other_client(user: &str) -> (String, String) {
    let issuer = env("WHARF_TEST_OIDC_ISSUER");
    let client = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let verifier = "a".repeat(64);
    use base64::Engine;
    use sha2::Digest;
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let redirect = "http://127.0.0.1:1/other/callback";
    let mut url = format!(
        "{issuer}/auth?client_id=other-app&response_type=code&scope=openid&redirect_uri={}&state=s&nonce=n-other&code_challenge={challenge}&code_challenge_method=S256",
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
    );
    for _ in 0..20 {
        if url.starts_with(redirect) {
            let code = url::Url::parse(&url).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.to_string();
            let res = client
                .post(format!("{issuer}/token"))
                .basic_auth("other-app", Some("other-app-secret"))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", redirect),
                    ("code_verifier", verifier.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let body: Value = res.json().await.unwrap();
            return (body["id_token"].as_str().unwrap_or_else(|| panic!("{body}")).to_string(), "n-other".to_string());
        }
        let res = client.get(&url).send().await.unwrap();
        if res.status().is_redirection() {
            url = absolute(&issuer, res.headers()["location"].to_str().unwrap());
            continue;
        }
        let html = res.text().await.unwrap();
        let action = absolute(&issuer, &form_action(&html).unwrap());
        let res = client.post(&action).form(&form_fields(&html, user)).send().await.unwrap();
        url = absolute(&issuer, res.headers()["location"].to_str().unwrap());
    }
    panic!("no code for the other client");
}

async fn local_login_can_be_turned_off_but_not_locking_out_admins(db: Db) {
    let app = spawn_app_with(db, oidc_settings()).await;
    let admin = app.admin().await;
    let res = admin.set_local_login(false).await;
    assert_eq!(res.status(), StatusCode::CONFLICT, "no admin can use single sign-on yet");
    let boss = unique("boss");
    provider_user(&boss, &["wharf-admins"]);
    sso_login(&app, &boss).await;
    // A browser that opened the login page while password logins were still on.
    let late = app.browser();
    let token = late.csrf_token("/login").await;
    let res = admin.set_local_login(false).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Password logins are refused, on the page and the API; the page offers only the button.
    let res = late.post_form("/login", &[("csrf_token", &token), ("username", "admin"), ("password", ADMIN_PASSWORD)]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("local login is turned off"));
    let res = app.anonymous().auth_token("admin", ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (_, page) = app.browser().page("/login").await;
    assert!(!page.contains("name=\"password\"") && page.contains("single sign-on"), "{page}");
    // Tokens made before still work: the SSO admin turns password logins back on.
    let res = admin.set_local_login(true).await;
    assert_eq!(res.status(), StatusCode::OK);
    app.browser().login_ok("admin", ADMIN_PASSWORD).await;
}

/// Start-up refuses an issuer it cannot reach, with a message that names it.
#[tokio::test]
async fn an_unreachable_issuer_stops_start_up() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = crate::helpers::fresh_database(Db::Sqlite).await;
    let config = json!({"bind": "127.0.0.1:0", "database_url": url, "catalog_dir": "/nonexistent", "hosts": {"register_local": false},
        "oidc": {"issuer": format!("http://127.0.0.1:{port}"), "client_id": "wharf"}});
    let settings =
        wharf::config::Settings::from_figment(figment::Figment::new().merge(figment::providers::Serialized::defaults(config))).unwrap();
    let err = wharf::startup::Application::build(settings).await.err().expect("start-up fails").to_string();
    assert!(err.contains(&format!("cannot reach the OpenID provider at http://127.0.0.1:{port}")), "{err}");
}
