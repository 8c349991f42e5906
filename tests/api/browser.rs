//! The portal in a real browser (issue 16): headless Chromium driven through Debian's
//! chromedriver, which `scripts/test` starts (`WHARF_TEST_WEBDRIVER`). One browser serves every
//! journey, one after the other (a browser is the heaviest thing the suite starts); JavaScript
//! is switched off for the journeys that must work without it (DevTools'
//! `Emulation.setScriptExecutionDisabled`, the same browser). A journey that fails leaves a
//! screenshot and the page's HTML in `WHARF_TEST_ARTIFACTS` (`target/test-artifacts/browser`,
//! kept after the run), and says where.
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use serde_json::json;
use thirtyfour::prelude::*;

use crate::helpers::{Db, TestApp, env, password_of, spawn_app};

/// The width the layout was judged at: a laptop.
const WIDTH: u32 = 1300;
const HEIGHT: u32 = 900;

/// How long a page may take to show what a step waits for (provisioning included).
const WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journeys_in_a_real_browser() {
    let chromium = Chromium::start().await;
    let app = spawn_app(Db::Sqlite).await;
    let world = crate::requests::world(&app).await;
    chromium.journey("developer", developer_journey(&chromium, &app, true)).await;
    chromium.journey("developer-without-javascript", developer_journey(&chromium, &app, false)).await;
    chromium.journey("manager", manager_journey(&chromium, &app, &world)).await;
    chromium.journey("layout", layout_journey(&chromium, &app, &world)).await;
    // The admin starts from an installation with people only.
    let bare = spawn_app(Db::Sqlite).await;
    let admin = bare.seed_team().await;
    chromium.journey("admin", admin_journey(&chromium, &bare, &admin)).await;
    let sso = crate::helpers::spawn_app_with(Db::Sqlite, crate::oidc::oidc_settings()).await;
    chromium.journey("single sign-on", sso_journey(&chromium, &sso)).await;
    chromium.quit().await;
}

/// Single sign-on: the login page's provider button, the real OpenID provider's own login and
/// consent pages, and back in the portal as the provider's user, in the group its claim maps to.
async fn sso_journey(b: &Chromium, app: &TestApp) {
    b.scripts(true).await;
    let user = format!("sso-browser-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    crate::oidc::provider_user(&user, &["devs"]);
    b.log_out(app).await;
    b.step("the provider's button");
    b.go("a[href^='/auth/oidc/login']").await;
    b.step("the provider's pages");
    let issuer = env("WHARF_TEST_OIDC_ISSUER");
    let portal = format!("{}/", app.address);
    let in_portal = || async { b.url().await.starts_with(&portal) && !b.url().await.contains("/login") };
    b.until("the provider's page", || async { b.url().await.starts_with(&issuer) }).await;
    for _ in 0..6 {
        b.until("a page of the provider or the portal", || async { b.find("form").await.is_some() || in_portal().await }).await;
        if in_portal().await {
            break;
        }
        assert!(b.url().await.starts_with(&issuer), "on the provider: {}", b.url().await);
        if b.find("input[name='login']").await.is_some() {
            b.fill("input[name='login']", &user).await;
            b.fill("input[name='password']", "any").await;
        }
        b.go("form button[type='submit'], form [type='submit']").await;
    }
    b.step("back in the portal, signed in");
    b.until("the portal's home", || async { in_portal().await && b.find(".who").await.is_some() }).await;
    let who = b.text(".who").await;
    assert!(who.contains(&format!("SSO {user}")), "signed in as the provider's user: {who}");
    b.goto(app, "/").await;
    assert!(b.source().await.contains("team-a"), "in the group the claim maps to");
    b.log_out(app).await;
}

/// An admin sets up a catalog through the pages only — a host, a blueprint, a catalog item, an
/// entitlement and an approval policy — and then sees a developer's request go through them:
/// the policy holds it for the group's manager, and once approved it runs on that host.
async fn admin_journey(b: &Chromium, app: &TestApp, admin: &crate::helpers::Api) {
    b.scripts(true).await;
    b.log_out(app).await;
    b.log_in(app, "admin").await;

    b.step("register a host");
    let endpoint = crate::helpers::docker_hosts()[0].clone();
    let publish = env("WHARF_TEST_PUBLISH_ADDRESSES").split(',').next().expect("a publish address").to_string();
    b.goto(app, "/admin/hosts").await;
    b.fill("#name", "from-pages").await;
    b.fill("#endpoint", &endpoint).await;
    b.fill("#labels", "made=by-hand").await;
    b.fill("#publish_address", &publish).await;
    b.go("form[action='/admin/hosts'] button[type='submit']").await;
    b.wait_for("td strong").await;
    assert!(b.source().await.contains("<strong>from-pages</strong>"), "the host is listed");
    b.until("the host to be up", || async {
        b.goto(app, "/admin/hosts").await;
        b.driver.find(By::XPath("//tr[td/strong='from-pages']//*[@data-status='up']")).await.is_ok()
    })
    .await;

    b.step("publish a blueprint");
    b.goto(app, "/admin/blueprints").await;
    let source = crate::fixtures::blueprint(crate::fixture!("blueprints/web.yaml"), &[("id", "by-hand")]);
    b.fill("#source", &source).await;
    b.go("form[action='/admin/blueprints'] button[type='submit']").await;
    b.until("the blueprint to be listed", || async { b.source().await.contains("by-hand") }).await;

    b.step("publish a catalog item");
    b.goto(app, "/admin/catalog").await;
    b.open_disclosure("Publish a catalog item").await;
    b.fill("#item-id", "by-hand").await;
    b.fill("#item-name", "Made by hand").await;
    b.fill("#item-category", "Handmade").await;
    b.select("#item-blueprint", "by-hand").await;
    b.fill("#item-hosts", "made=by-hand").await;
    b.go("form[action='/admin/catalog/items'] button[type='submit']").await;
    b.until("the item to be listed", || async { b.source().await.contains("Made by hand") }).await;

    b.step("entitle the group");
    b.goto(app, "/admin/catalog").await;
    b.open_disclosure("Entitle a group").await;
    b.select("#ent-group", "team-a").await;
    b.fill("#ent-categories", "Handmade").await;
    b.click("form[action='/admin/catalog/entitlements'] input[name='actions'][value='destroy']").await;
    b.go("form[action='/admin/catalog/entitlements'] button[type='submit']").await;
    b.until("the entitlement to be listed", || async { b.source().await.contains("Handmade") }).await;

    b.step("add an approval policy");
    b.goto(app, "/admin/catalog").await;
    b.open_disclosure("Add an approval policy").await;
    b.fill("#pol-name", "handmade needs the lead").await;
    b.fill("#pol-categories", "Handmade").await;
    b.go("form[action='/admin/catalog/policies'] button[type='submit']").await;
    b.until("the policy to be listed", || async { b.source().await.contains("handmade needs the lead") }).await;

    b.step("save the policy unchanged from its page, then give it a second level");
    let policies: serde_json::Value = admin.json("/api/v1/approval-policies").await;
    let made = policies.as_array().and_then(|p| p.iter().find(|p| p["name"] == "handmade needs the lead")).cloned().expect("the policy");
    b.go("a[aria-label='Edit the policy handmade needs the lead']").await;
    let save = "form[action^='/admin/catalog/policies/'] button[type='submit']";
    b.go(save).await;
    b.wait_for("h1").await;
    assert!(b.url().await.ends_with("/admin/catalog"), "saved: {}", b.url().await);
    let again: serde_json::Value = admin.json(&format!("/api/v1/approval-policies/{}", made["id"])).await;
    assert_eq!(again, made, "the form as drawn holds the policy as it is");
    b.go("a[aria-label='Edit the policy handmade needs the lead']").await;
    b.click("input[name='level2.approvers'][value='admins']").await;
    b.go(save).await;
    b.wait_for("h1").await;
    let two: serde_json::Value = admin.json(&format!("/api/v1/approval-policies/{}", made["id"])).await;
    assert_eq!(two["levels"][1]["approvers"], serde_json::json!({"admins": true}), "{two}");
    // Back to one level, for what follows.
    b.go("a[aria-label='Edit the policy handmade needs the lead']").await;
    b.click("input[name='level2.approvers'][value='admins']").await;
    b.go(save).await;
    b.wait_for("h1").await;
    let one: serde_json::Value = admin.json(&format!("/api/v1/approval-policies/{}", made["id"])).await;
    assert_eq!(one, made, "{one}");

    b.step("a developer's request goes through it");
    let dev = app.api_as("dev", &password_of("dev")).await;
    let res = dev.submit_request(&json!({"catalog_item": "by-hand", "group": "team-a", "inputs": {}})).await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED, "the developer's request");
    let request = res.json::<serde_json::Value>().await.expect("the request");
    assert_eq!(request["status"], "pending_approval", "held by the policy: {request}");
    let id = request["id"].as_str().expect("its id").to_string();
    b.goto(app, &format!("/requests/{id}")).await;
    let why = b.text(".explain").await;
    assert!(why.contains("handmade needs the lead"), "{why}");
    let lead = app.api_as("lead", &password_of("lead")).await;
    assert_eq!(lead.approve(&id).await.status(), reqwest::StatusCode::OK);
    b.wait_for("#request-status .status[data-status='succeeded']").await;
    b.go("#deployment-link").await;
    b.wait_for("h1 .status[data-status='running']").await;
    let host =
        b.run("return [...document.querySelectorAll('th')].find(th => th.textContent === 'Host').nextElementSibling.textContent").await;
    assert_eq!(host, json!("from-pages"), "placed on the host registered through the page");

    b.step("the deployment page follows its history without losing what is typed");
    b.run("window.wharfJourney = 'the deployment page'").await;
    b.fill("#extend-days", "30").await;
    let did = b.url().await.rsplit('/').next().expect("the deployment's id").to_string();
    let at = chrono::Utc::now() + chrono::Duration::days(20);
    let ends = at.format("%Y-%m-%d %H:%M UTC").to_string();
    let res = admin.put(&format!("/api/v1/deployments/{did}/lease"), &json!({"expires_at": at.to_rfc3339()})).await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    b.until("the history to show the new lease", || async { b.text("#history").await.contains(&ends) }).await;
    assert_eq!(b.value("#extend-days").await, "30", "a part with a value someone chose is not redrawn under them");
    // Once the value is back as drawn and the field left, the part is redrawn: the lease's new end.
    b.fill("#extend-days", "7").await;
    b.run("document.activeElement.blur()").await;
    b.until("the lease card to show the new end", || async { b.text("#deployment-cards").await.contains(&ends) }).await;
    assert_eq!(b.run("return window.wharfJourney || ''").await, json!("the deployment page"), "no reload");
    // Cleaned up through the API: what the journey made is not the point here.
    assert_eq!(admin.deployment_action(&did, "destroy").await.status(), reqwest::StatusCode::ACCEPTED);
}

/// Every main page of each role fits a laptop (1300 px), a small laptop (1024 px) and a phone
/// (360 px): nothing wider than the window (no sideways scrolling); and axe-core (vendored from
/// npm, `tests/vendor/axe-core`) finds no serious or critical accessibility violation on it.
/// With `WHARF_TEST_KEEP_PAGES` set, every page is kept (PNG and HTML, in the artifacts'
/// folder) for a look by eye.
async fn layout_journey(b: &Chromium, app: &TestApp, world: &crate::requests::World) {
    let keep_all = std::env::var_os("WHARF_TEST_KEEP_PAGES").is_some();
    b.scripts(true).await;
    // A policy with two levels, for its page (scoped to an item no journey requests after this).
    let two = json!({"name": "layout check", "scope": {"catalog_items": ["other"]}, "levels": [
        {"approvers": {"group_managers": true, "admins": true}, "mode": "all", "timeout_hours": 4, "on_timeout": "reject"},
        {"approvers": {"users": ["lead"]}, "mode": "any"}]});
    let res = world.admin.create_approval_policy(&two).await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED, "the layout's policy");
    let policy = format!("/admin/catalog/policies/{}", res.json::<serde_json::Value>().await.expect("the policy")["id"]);
    let entitlement = format!("/admin/catalog/entitlements/{}", world.admin.json("/api/v1/entitlements").await[0]["id"]);
    let everyone = ["/", "/catalog", "/requests", "/deployments", "/notifications", "/profile"];
    let admin = [
        entitlement.as_str(),
        policy.as_str(),
        "/admin/groups/team-a",
        "/admin/blueprints/web",
        "/admin/deployments",
        "/admin/catalog",
        "/admin/catalog/items/web",
        "/admin/registries",
        "/admin/blueprints",
        "/admin/hosts",
        "/admin/users",
        "/admin/groups",
        "/admin/webhooks",
        "/admin/mail",
        "/admin/audit",
    ];
    let mut too_wide = Vec::new();
    let mut violations = Vec::new();
    for (user, extra) in [("dev", &["/catalog/web"][..]), ("lead", &["/approvals", "/teams"][..]), ("admin", &admin[..])] {
        b.log_out(app).await;
        b.log_in(app, user).await;
        for width in [WIDTH, 1024, 360] {
            b.driver.set_window_rect(0, 0, width, HEIGHT).await.expect("the window's size");
            for path in everyone.iter().chain(extra) {
                b.step(&format!("{user} {path} at {width} px"));
                b.goto(app, path).await;
                // The page's width against the window's less its scroll bar.
                let wide = b.run("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]").await;
                let (page, window) = (wide[0].as_i64().expect("the page's width"), wide[1].as_i64().expect("the window's width"));
                assert!(window <= i64::from(width) && window > i64::from(width) - 24, "the window is {width} px wide: {window} px inside");
                if width == WIDTH {
                    // A title of its own and one main heading.
                    let named = b.run("return [document.title, document.querySelectorAll('h1').length]").await;
                    let title = named[0].as_str().unwrap_or_default().to_string();
                    assert!(title.ends_with(" · Wharf") && title.len() > " · Wharf".len(), "{user} {path}: the title is `{title}`");
                    assert_eq!(named[1], json!(1), "{user} {path}: one h1");
                }
                if keep_all {
                    b.keep(&format!("page {user} {path} {width}")).await;
                }
                if page > window {
                    too_wide.push(format!("{user} {path} at {width} px: {page} px wide in {window}"));
                    b.keep(&format!("too-wide {user} {path} {width}")).await;
                }
                if width == WIDTH || width == 360 {
                    for v in b.axe().await {
                        violations.push(format!("{user} {path} at {width} px: {v}"));
                    }
                }
            }
        }
    }
    b.driver.set_window_rect(0, 0, WIDTH, HEIGHT).await.expect("the window's size");
    assert!(too_wide.is_empty(), "pages wider than the window:\n{}", too_wide.join("\n"));
    assert!(violations.is_empty(), "axe-core's serious and critical violations:\n{}", violations.join("\n"));
}

/// A manager decides while the developer watches: the inbox lists the request, its page says
/// why it waits (the policy and its levels), the manager approves with a comment, and the
/// developer's page — open all along in another tab, on another host name so that the two
/// sessions keep apart — turns to provisioning and then succeeded by itself.
async fn manager_journey(b: &Chromium, app: &TestApp, world: &crate::requests::World) {
    let policy = json!({"name": "leads decide", "levels": [{"approvers": {"group_managers": true}, "mode": "any"}]});
    let res = world.admin.create_approval_policy(&policy).await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    b.scripts(true).await;
    // The developer, on `localhost`.
    let dev_tab = b.driver.window().await.expect("the developer's tab");
    b.step("the developer asks");
    b.log_in_at(&app.url("/login").replace("127.0.0.1", "localhost"), "dev").await;
    let base = b.url().await;
    let base = base.trim_end_matches('/').to_string();
    b.goto_url(&format!("{base}/catalog/web")).await;
    b.fill("#reason", "for the manager's journey").await;
    b.go("form[action='/catalog/web'] button[type='submit']").await;
    b.wait_for("#request-status .status[data-status='pending_approval']").await;
    assert!(b.find("#cancel-form").await.is_some(), "a waiting request may be cancelled by its requester");
    let request_path = b.url().await.replace(&base, "");
    b.run("window.wharfJourney = 'still the same page'").await;

    // The manager, on `127.0.0.1`, in another tab.
    b.step("the manager finds it in the inbox");
    let lead_tab = b.driver.new_tab().await.expect("a tab for the manager");
    b.driver.switch_to_window(lead_tab.clone()).await.expect("to the manager's tab");
    b.log_in(app, "lead").await;
    b.goto(app, "/approvals").await;
    b.go(&format!("a[href='{request_path}']")).await;
    b.step("the request says why it waits");
    let why = b.text(".explain").await;
    assert!(why.contains("leads decide"), "the policy that applies: {why}");
    let page = b.source().await;
    assert!(page.contains("Waiting on: <strong>lead</strong>"), "who level 1 waits on");
    b.step("the manager approves with a comment");
    b.fill("#comment", "go ahead, from the browser").await;
    b.go("button[name='decision'][value='approve']").await;
    b.wait_for("#request-status .status:not([data-status='pending_approval'])").await;

    b.step("the developer's page follows by itself");
    b.driver.switch_to_window(dev_tab.clone()).await.expect("back to the developer's tab");
    settled(app, "dev", request_path.rsplit('/').next().expect("the request's id")).await;
    b.wait_for("#request-status .status[data-status='succeeded']").await;
    assert_eq!(b.run("return window.wharfJourney || ''").await, json!("still the same page"), "no reload");
    let timeline = b.text("#timeline").await;
    assert!(timeline.contains("go ahead, from the browser"), "the manager's comment reached the developer's page: {timeline}");
    b.wait_for("#deployment-link").await;
    assert!(b.find("#cancel-form").await.is_none(), "the cancel button went with the status that allowed it");

    b.driver.switch_to_window(lead_tab).await.expect("the manager's tab");
    b.driver.close_window().await.expect("close the manager's tab");
    b.driver.switch_to_window(dev_tab).await.expect("the developer's tab");
}

/// A developer, from the catalog to a running deployment and back: a bad value is refused next
/// to its field and the form keeps the others; the request page follows the request live (with
/// JavaScript: no reload, no entry twice; without: each reload shows where it is); the output's
/// URL answers; destroy asks for a confirmation first.
async fn developer_journey(b: &Chromium, app: &TestApp, javascript: bool) {
    b.scripts(javascript).await;
    b.step("log in");
    b.log_in(app, "dev").await;

    b.step("the catalog lists the item");
    b.goto(app, "/catalog").await;
    b.go("a[href='/catalog/web']").await;
    b.wait_for("#input-replicas").await;

    b.step("a bad value is refused next to its field");
    let reason = if javascript { "a browser journey" } else { "a journey without JavaScript" };
    b.select("#input-memory_mb", "128").await;
    b.fill("#input-replicas", "9").await;
    b.fill("#reason", reason).await;
    b.go("form[action='/catalog/web'] button[type='submit']").await;
    let text = b.text("#input-replicas[aria-invalid='true'] ~ .field-error").await;
    assert!(text.contains("at most 3"), "the error next to the replicas field: {text}");
    assert_eq!(b.value("#reason").await, reason, "the reason is kept");
    assert_eq!(b.value("#input-memory_mb").await, "128", "the memory size is kept");
    assert_eq!(b.value("#input-replicas").await, "9", "the bad value is shown as it was typed");

    b.step("a good value is accepted");
    b.fill("#input-replicas", "1").await;
    b.go("form[action='/catalog/web'] button[type='submit']").await;
    b.wait_for("#request-status .status").await;
    let request_url = b.url().await;
    let link_rendered = b.find("#deployment-link").await.is_some();
    assert!(request_url.contains("/requests/"), "the request's page: {request_url}");

    b.step("the request page follows the request until it succeeded");
    if javascript {
        // A mark on the page: it is gone if the page reloads.
        b.run("window.wharfJourney = 'still the same page'").await;
        let id = request_url.rsplit('/').next().expect("the request's id").to_string();
        settled(app, "dev", &id).await;
        b.wait_for("#request-status .status[data-status='succeeded']").await;
        let kept = b.run("return window.wharfJourney || ''").await;
        assert_eq!(kept, json!("still the same page"), "the page followed the request without reloading");
        b.wait_for("#timeline li[data-kind='succeeded']").await;
        let ids = b.run("return Array.from(document.querySelectorAll('#timeline li')).map(li => li.dataset.id)").await;
        let ids: Vec<String> = serde_json::from_value(ids).expect("the entries' ids");
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "each entry once: {ids:?}");
        // The link to the deployment: with the page when provisioning had started, else
        // brought by the stream.
        assert!(link_rendered || b.find("#deployment-link").await.is_some(), "the link to the deployment");
    } else {
        // The page stays as it was rendered (no script runs) while the request succeeds...
        let rendered = b.attr("#request-status .status", "data-status").await;
        let id = request_url.rsplit('/').next().expect("the request's id").to_string();
        let dev = app.api_as("dev", &password_of("dev")).await;
        crate::helpers::eventually(WAIT.as_secs(), "the request to succeed", || async {
            (dev.get_request_ok(&id).await["status"] == "succeeded").then_some(())
        })
        .await;
        // (Unless the request ran before its page was drawn: then there is nothing to see change.)
        if rendered != "succeeded" {
            assert_eq!(b.attr("#request-status .status", "data-status").await, rendered, "without JavaScript nothing changes the page");
        }
        // ...and a reload shows where it is, with the link to its deployment.
        b.refresh().await;
        b.wait_for("#request-status .status[data-status='succeeded']").await;
    }

    // (axe-core runs where scripts do: the same pages are checked in the journey with them.)
    if javascript {
        let found = b.axe().await;
        assert!(found.is_empty(), "axe-core on the request's page: {found:?}");
    }

    b.step("the deployment's output answers");
    b.go("#deployment-link").await;
    b.wait_for("h1 .status[data-status='running']").await;
    // (axe-core runs where scripts do: the same pages are checked in the journey with them.)
    if javascript {
        let found = b.axe().await;
        assert!(found.is_empty(), "axe-core on the deployment's page: {found:?}");
    }
    let url = b.attr("table a[href^='http://127.0.0.']", "href").await;
    let deployment_url = b.url().await;
    b.until("the output's page", || async {
        // The server in the container may not listen yet: each try loads the page again.
        let _ = b.driver.goto(url.as_str()).await;
        b.source().await.contains("wharf test image")
    })
    .await;

    b.step("destroy asks first");
    b.goto_url(&deployment_url).await;
    b.go("form input[name='action'][value='destroy'] ~ button").await;
    b.wait_for("[role='alertdialog']").await;
    let question = b.text("[role='alertdialog']").await;
    assert!(question.contains("cannot be undone"), "{question}");
    // (axe-core runs where scripts do: the same pages are checked in the journey with them.)
    if javascript {
        let found = b.axe().await;
        assert!(found.is_empty(), "axe-core on the destroy question: {found:?}");
    }
    b.go("[role='alertdialog'] button[type='submit']").await;
    b.wait_for("h1 .status").await;
    if javascript {
        // The page follows the job: its badge, and its actions redrawn, without a reload.
        b.run("window.wharfJourney = 'the deployment page'").await;
        b.wait_for("h1 .status[data-status='destroyed']").await;
        b.until("the actions to be redrawn", || async { b.find("form input[name='action'][value='destroy']").await.is_none() }).await;
        assert_eq!(b.run("return window.wharfJourney || ''").await, json!("the deployment page"), "no reload");
    } else {
        // Without scripts the page shows where the deployment is when it is loaded (it loads
        // itself again only while a job works on it, and the destroy request may not have
        // started its job when the page was drawn): loaded by address until it says destroyed.
        b.until("the deployment to be destroyed", || async {
            b.goto_url(&deployment_url).await;
            b.find("h1 .status[data-status='destroyed']").await.is_some()
        })
        .await;
    }
    b.log_out(app).await;
}

/// Waits until the API says the request succeeded (up to three minutes: the engine may be slow
/// when the whole suite runs), so that a page that then does not follow is the page's fault,
/// and a request that failed says why.
async fn settled(app: &TestApp, user: &str, id: &str) {
    let api = app.api_as(user, &password_of(user)).await;
    let r = crate::helpers::eventually(180, &format!("request {id} to settle"), || async {
        let r = api.get_request_ok(id).await;
        (r["status"] != "pending_approval" && r["status"] != "approved" && r["status"] != "provisioning").then_some(r)
    })
    .await;
    assert_eq!(r["status"], "succeeded", "the request, as the API says: {r}");
}

/// The one browser of the suite, with what the current journey is doing (named in the
/// artifacts of a failure).
struct Chromium {
    driver: WebDriver,
    doing: Mutex<(String, String)>,
}

impl Chromium {
    async fn start() -> Chromium {
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary("/usr/bin/chromium").expect("binary");
        for arg in [
            "--headless=new",
            // Tests run as root, in a container without user namespaces.
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            &format!("--window-size={WIDTH},{HEIGHT}"),
            // Nothing but loopback: no name resolves but localhost, and none of the browser's
            // own calls home.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.*",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-domain-reliability",
            "--disable-client-side-phishing-detection",
            "--no-first-run",
            "--no-pings",
            "--metrics-recording-only",
        ] {
            caps.add_arg(arg).expect("argument");
        }
        let driver = WebDriver::new(env("WHARF_TEST_WEBDRIVER"), caps).await.expect("a Chromium session through chromedriver");
        Chromium { driver, doing: Mutex::new((String::new(), String::new())) }
    }

    async fn quit(self) {
        self.driver.quit().await.expect("quit the browser");
    }

    /// Runs one journey; should it fail, the page as it was is kept (a PNG and its HTML).
    async fn journey(&self, name: &str, journey: impl Future<Output = ()>) {
        self.doing.lock().unwrap().0 = name.to_string();
        let outcome = AssertUnwindSafe(journey).catch_unwind().await;
        if let Err(panic) = outcome {
            let step = self.doing.lock().unwrap().1.clone();
            let url = self.driver.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            let (png, html) = self.keep(&format!("{name}-{step}")).await;
            eprintln!("browser journey `{name}` failed at step `{step}` on {url}: the page is in {} and {}", png.display(), html.display());
            std::panic::resume_unwind(panic);
        }
    }

    /// Keeps the page as it is now (a PNG and its HTML) under `name`; returns where.
    async fn keep(&self, name: &str) -> (PathBuf, PathBuf) {
        let dir = PathBuf::from(env("WHARF_TEST_ARTIFACTS")).join("browser");
        std::fs::create_dir_all(&dir).expect("the artifacts' folder");
        let stem: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let (png, html) = (dir.join(format!("{stem}.png")), dir.join(format!("{stem}.html")));
        if let Ok(shot) = self.driver.screenshot_as_png().await {
            let _ = std::fs::write(&png, shot);
        }
        let _ = std::fs::write(&html, self.driver.source().await.unwrap_or_default());
        (png, html)
    }

    fn step(&self, what: &str) {
        self.doing.lock().unwrap().1 = what.to_string();
    }

    /// JavaScript on or off, for the pages loaded from now on.
    async fn scripts(&self, on: bool) {
        self.driver
            .cdp()
            .send_raw("Emulation.setScriptExecutionDisabled", json!({"value": !on}))
            .await
            .expect("switch JavaScript through DevTools");
    }

    async fn log_in(&self, app: &TestApp, user: &str) {
        self.log_in_at(&app.url("/login"), user).await;
    }

    /// Logs in on the login page at `url` (the app under another of its names, say).
    async fn log_in_at(&self, url: &str, user: &str) {
        self.goto_url(url).await;
        self.fill("#username", user).await;
        let password = if user == "admin" { crate::helpers::ADMIN_PASSWORD.to_string() } else { password_of(user) };
        self.fill("#password", &password).await;
        self.go("form[action='/login'] button[type='submit']").await;
        self.until("the login to land", || async { !self.url().await.contains("/login") }).await;
    }

    /// Forgets the session on the app's own address (cookies go by host name).
    async fn log_out(&self, app: &TestApp) {
        self.goto(app, "/login").await;
        self.driver.delete_all_cookies().await.expect("forget the session");
        self.goto(app, "/login").await;
    }

    async fn goto(&self, app: &TestApp, path: &str) {
        self.goto_url(&app.url(path)).await;
    }

    async fn goto_url(&self, url: &str) {
        self.driver.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    async fn refresh(&self) {
        self.driver.refresh().await.expect("reload");
    }

    async fn url(&self) -> String {
        self.driver.current_url().await.expect("the page's address").to_string()
    }

    async fn source(&self) -> String {
        self.driver.source().await.unwrap_or_default()
    }

    async fn run(&self, script: &str) -> serde_json::Value {
        self.driver.execute(script, Vec::new()).await.expect("run a script").json().clone()
    }

    /// The element, if the page has it now.
    async fn find(&self, css: &str) -> Option<WebElement> {
        self.driver.find(By::Css(css)).await.ok()
    }

    /// The element, once the page has it (within `WAIT`).
    async fn wait_for(&self, css: &str) -> WebElement {
        let started = Instant::now();
        loop {
            if let Some(e) = self.find(css).await {
                return e;
            }
            assert!(started.elapsed() < WAIT, "no `{css}` on {} within {} s", self.url().await, WAIT.as_secs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (within `WAIT`) until `check` holds.
    async fn until<F, Fut>(&self, what: &str, check: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = bool>,
    {
        let started = Instant::now();
        while !check().await {
            assert!(started.elapsed() < WAIT, "waited {} s for {what} on {}", WAIT.as_secs(), self.url().await);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// axe-core's serious and critical violations on the page as it is: rule, what it asks,
    /// and the first few elements at fault.
    async fn axe(&self) -> Vec<String> {
        const AXE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vendor/axe-core/axe.min.js"));
        self.driver.execute(AXE, Vec::new()).await.expect("load axe-core into the page");
        let found = self
            .driver
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations
                   .filter(v => v.impact === 'serious' || v.impact === 'critical')
                   .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' — ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))
                   .catch(e => done(['axe-core failed: ' + e]));",
                Vec::new(),
            )
            .await
            .expect("run axe-core");
        serde_json::from_value(found.json().clone()).expect("axe-core's findings")
    }

    /// Opens the `<details>` whose summary says `text` (a click on it, unless it is open).
    async fn open_disclosure(&self, text: &str) {
        let xpath = format!("//details[not(@open)]/summary[contains(normalize-space(.), '{text}')]");
        if let Ok(summary) = self.driver.find(By::XPath(xpath)).await {
            summary.click().await.unwrap_or_else(|e| panic!("open `{text}`: {e}"));
        }
    }

    /// Clicks what leads to another page (a link, a form's button) and waits until the browser
    /// left the page it was on: nothing after it acts on the old page, nor cuts the navigation
    /// short (a reload while a form is being posted would post it again, or not at all).
    async fn go(&self, css: &str) {
        let page = self.driver.find(By::Css("html")).await.expect("the page");
        self.click(css).await;
        let started = Instant::now();
        while page.tag_name().await.is_ok() {
            assert!(started.elapsed() < WAIT, "`{css}` led nowhere within {} s (still on {})", WAIT.as_secs(), self.url().await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn click(&self, css: &str) {
        self.act(css, "click", |e| async move { e.click().await }).await;
    }

    async fn fill(&self, css: &str, text: &str) {
        self.act(css, "type into", |e| async move {
            e.clear().await?;
            e.send_keys(text).await
        })
        .await;
    }

    /// Does `what` to the element once the page has it; a part of the page redrawn between
    /// the find and the act (the live views redraw theirs) is found again, within `WAIT`.
    async fn act<F, Fut>(&self, css: &str, what: &str, act: F)
    where
        F: Fn(WebElement) -> Fut,
        Fut: Future<Output = WebDriverResult<()>>,
    {
        let started = Instant::now();
        loop {
            match act(self.wait_for(css).await).await {
                Ok(()) => return,
                Err(e)
                    if matches!(e.as_inner(), thirtyfour::error::WebDriverErrorInner::StaleElementReference(_))
                        && started.elapsed() < WAIT => {}
                Err(e) => panic!("{what} `{css}`: {e}"),
            }
        }
    }

    async fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value='{value}']")).await;
    }

    async fn value(&self, css: &str) -> String {
        self.read(css, "e.value", "").await.as_str().unwrap_or_default().to_string()
    }

    async fn attr(&self, css: &str, name: &str) -> String {
        let got = self.read(css, "e.getAttribute(arguments[1])", name).await;
        got.as_str().unwrap_or_else(|| panic!("`{css}` has no {name}")).to_string()
    }

    async fn text(&self, css: &str) -> String {
        self.read(css, "e.innerText", "").await.as_str().unwrap_or_default().to_string()
    }

    /// `what` of the element (once the page has it, within `WAIT`), found and read in one
    /// script: a part of the page redrawn between a find and a read cannot go stale under it.
    async fn read(&self, css: &str, what: &str, arg: &str) -> serde_json::Value {
        let script = format!("const e = document.querySelector(arguments[0]); return e ? [{what}] : null;");
        let started = Instant::now();
        loop {
            let got = self.driver.execute(&script, vec![json!(css), json!(arg)]).await.expect("run a script").json().clone();
            if let Some(value) = got.get(0) {
                return value.clone();
            }
            assert!(started.elapsed() < WAIT, "no `{css}` on {} within {} s", self.url().await, WAIT.as_secs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
