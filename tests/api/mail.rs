//! E-mail on real parts: the SMTP server that scripts/test starts (aiosmtpd) writes each message
//! it accepts to a folder as JSON (tests/smtp/server.py), which these tests read. An approver
//! gets a mail with approve and reject links that lead through login to a confirmation page and
//! decide the request once; preferences keep kinds out of the mail; a refused recipient is
//! dead-lettered at once; a process killed before a mail is sent sends it once after restart, one
//! killed after sending and before recording sends it again with the same `Message-ID`; two
//! replicas on PostgreSQL deliver each message once.
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, Db, TestApp, env, eventually, fresh_database, password_of, serve, spawn_app_with};

/// The configuration keys that send mail to the test SMTP server.
pub(crate) fn mail_config() -> Value {
    json!({
        "smtp": {"url": format!("smtp://{}", env("WHARF_TEST_SMTP")), "from": "Wharf <wharf@test.invalid>"},
        "notify": {"retry_base_secs": 1, "max_attempts": 3, "lease_secs": 6},
    })
}

/// The environment of a `wharf serve` on `url` that sends mail to the test SMTP server.
fn serve_envs(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("WHARF_DATABASE_URL", url.to_string()),
        ("WHARF_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
        ("WHARF_CATALOG_DIR", "/nonexistent/wharf-test-catalog".into()),
        ("WHARF_HOSTS__REGISTER_LOCAL", "false".into()),
        ("WHARF_SMTP__URL", format!("smtp://{}", env("WHARF_TEST_SMTP"))),
        ("WHARF_SMTP__FROM", "Wharf <wharf@test.invalid>".into()),
        ("WHARF_NOTIFY__RETRY_BASE_SECS", "1".into()),
        ("WHARF_NOTIFY__LEASE_SECS", "6".into()),
    ]
}

/// An address no other test uses.
pub(crate) fn address(who: &str) -> String {
    format!("{who}-{}@example.test", uuid::Uuid::new_v4().simple())
}

/// The messages the test SMTP server accepted for `to`, oldest first.
pub(crate) fn mailbox(to: &str) -> Vec<Value> {
    let dir = env("WHARF_TEST_MAIL_DIR");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the mail folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
        .collect();
    names.sort();
    names
        .iter()
        .filter_map(|n| serde_json::from_str::<Value>(&std::fs::read_to_string(format!("{dir}/{n}")).ok()?).ok())
        .filter(|m| m["rcpt_tos"].as_array().is_some_and(|r| r.iter().any(|a| a == to)))
        .collect()
}

pub(crate) async fn mail_to(to: &str, subject_has: &str) -> Value {
    eventually(30, &format!("a mail to {to} about “{subject_has}”"), || async {
        mailbox(to).into_iter().find(|m| m["subject"].as_str().unwrap_or_default().contains(subject_has))
    })
    .await
}

/// The path of the link after `label` (`Approve:`) in a mail's text, checked to start with `base`.
fn link_after(text: &str, label: &str, base: &str) -> String {
    let line = text.lines().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("no `{label}` in {text}"));
    let url = line.trim_start().trim_start_matches(label).trim();
    url.strip_prefix(base).unwrap_or_else(|| panic!("{url} does not start with {base}")).to_string()
}

pub(crate) async fn set_email(admin: &crate::helpers::Api, user: &str, email: &str) {
    let res = admin.patch(&format!("/api/v1/users/{user}"), &json!({"email": email})).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());
}

async fn managers_approve(admin: &crate::helpers::Api) {
    let res = admin
        .create_approval_policy(&json!({"name": "managers", "levels": [{"approvers": {"group_managers": true}, "mode": "any"}]}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

async fn submit(api: &crate::helpers::Api) -> String {
    let res = api.submit_request(&json!({"catalog_item": "web", "group": "team-a"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_mails_decide_once_through_their_links() {
    let app = spawn_app_with(Db::Sqlite, mail_config()).await;
    let w = crate::requests::world(&app).await;
    let (lead_mail, dev_mail) = (address("lead"), address("dev"));
    set_email(&w.admin, "lead", &lead_mail).await;
    set_email(&w.admin, "dev", &dev_mail).await;
    managers_approve(&w.admin).await;
    let request = submit(&w.dev).await;

    // The manager's mail: who, what, and the two links (to this server: no base_url is set).
    let mail = mail_to(&lead_mail, "waits for your approval").await;
    assert_eq!(mail["from"], "Wharf <wharf@test.invalid>");
    assert_eq!(mail["rcpt_tos"], json!([lead_mail]));
    assert!(mail["message_id"].as_str().unwrap().ends_with("@127.0.0.1>"), "{mail}");
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains("Requested by: dev") && text.contains("Group: team-a"), "{text}");
    assert!(text.contains(&format!("{}/requests/{request}", app.address)), "{text}");
    let approve = link_after(text, "Approve:", &app.address);
    let reject = link_after(text, "Reject:", &app.address);
    assert!(approve.starts_with("/approvals/link/") && reject.starts_with("/approvals/link/") && approve != reject);
    let html = mail["html"].as_str().unwrap();
    assert!(html.contains(&format!("href=\"{}{approve}\"", app.address)), "{html}");

    // Opening the link asks for a login first, then shows the confirmation page; nothing is
    // decided by opening it.
    let browser = app.browser();
    let res = browser.get(&approve).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let login = res.headers()["location"].to_str().unwrap().to_string();
    assert!(login.starts_with("/login?next="), "{login}");
    let next: String = url::form_urlencoded::parse(login.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert_eq!(next, approve);
    let res = browser.submit("/login", "/login", &[("username", "lead"), ("password", &password_of("lead")), ("next", &next)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], approve.as_str());
    let res = browser.get(&approve).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let page = res.text().await.unwrap();
    assert!(page.contains(&request) && page.contains("Why this path") && page.contains("Approve level 1"), "{page}");
    assert_eq!(w.dev.get_request_ok(&request).await["status"], "pending_approval", "a GET decides nothing");

    // Someone else's session cannot use it; a damaged token says so.
    let other = app.browser();
    other.login_ok("dev", &password_of("dev")).await;
    let (status, page) = other.page(&approve).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("sent to another account"), "{page}");
    let (status, page) = browser.page("/approvals/link/AAAA-not-a-token").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("damaged"), "{page}");

    // Confirming decides, once.
    let token = crate::helpers::csrf_in(&browser.page(&approve).await.1).unwrap();
    let res = browser.post_form(&approve, &[("csrf_token", &token), ("comment", "by mail")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], format!("/requests/{request}").as_str());
    let r = w.dev.get_request_ok(&request).await;
    assert_ne!(r["status"], "pending_approval", "{r}");
    assert_eq!(r["approvals"][0]["approver"], "lead");
    assert_eq!(r["approvals"][0]["comment"], "by mail");
    let res = browser.post_form(&approve, &[("csrf_token", &token), ("comment", "again")]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT, "a second use is refused");
    let (status, page) = browser.page(&reject).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("already decided"), "{page}");
    let res = browser.post_form(&reject, &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(w.dev.get_request_ok(&request).await["approvals"].as_array().unwrap().len(), 1);

    // The requester hears by mail.
    let approved = mail_to(&dev_mail, "approved").await;
    assert!(approved["text"].as_str().unwrap().contains(&request), "{approved}");
    assert!(!approved["text"].as_str().unwrap().contains("/approvals/link/"), "links only for approvers");

    // A recipient the server refuses (550): dead at once, with the server's answer.
    let refused = format!("refuse-{}", address("dev"));
    set_email(&w.admin, "dev", &refused).await;
    let second = submit(&w.dev).await;
    assert_eq!(w.dev.cancel_request(&second).await.status(), StatusCode::OK);
    let dead = eventually(30, "the refused mail to be dead-lettered", || async {
        let list = w.admin.json("/api/v1/mail/deliveries").await;
        list.as_array().unwrap().iter().find(|d| d["to"] == "dev" && d["status"] == "dead").cloned()
    })
    .await;
    assert_eq!(dead["attempts"], 1, "a permanent refusal is not tried again: {dead}");
    assert_eq!(dead["last_status"], 550);
    assert!(dead["last_error"].as_str().unwrap().contains("no such mailbox"), "{dead}");
    let delivered = w.admin.json("/api/v1/mail/deliveries").await;
    assert!(delivered.as_array().unwrap().iter().any(|d| d["to"] == "lead" && d["status"] == "delivered" && d["last_status"] == 250));
    assert_eq!(w.dev.get("/api/v1/mail/deliveries").await.status(), StatusCode::FORBIDDEN);

    // Preferences: the requester turns off mail about requests; the portal still tells them.
    let prefs = w.dev.json("/api/v1/notifications/preferences").await;
    assert_eq!(prefs["email"], refused.as_str());
    assert_eq!(prefs["mail"], json!({"approvals": true, "leases": true, "requests": true}), "no `hosts` for non-admins");
    let res = w.dev.put("/api/v1/notifications/preferences", &json!({"mail": {"bogus": true, "hosts": true}})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["details"][0]["field"], "mail.bogus", "{body}");
    let res = w.dev.put("/api/v1/notifications/preferences", &json!({"mail": {"requests": false}})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["mail"]["requests"], false);
    set_email(&w.admin, "dev", &dev_mail).await;
    let third = submit(&w.dev).await;
    assert_eq!(w.dev.cancel_request(&third).await.status(), StatusCode::OK);
    eventually(10, "the cancelled notification in the portal", || async {
        let list = w.dev.json("/api/v1/notifications").await;
        list.as_array().unwrap().iter().any(|n| n["type"] == "request.cancelled" && n["link"] == format!("/requests/{third}")).then_some(())
    })
    .await;
    // Mail is queued with the notification, in the same transaction: none was.
    let list = w.admin.json("/api/v1/mail/deliveries").await;
    assert_eq!(list.as_array().unwrap().iter().filter(|d| d["to"] == "dev" && d["event_type"] == "request.cancelled").count(), 1, "{list}");

    // The pages: the profile's preferences form, the admin's mail log.
    let (status, profile) = other.page("/profile").await;
    assert_eq!(status, StatusCode::OK);
    assert!(profile.contains("E-mail notifications") && profile.contains(&dev_mail), "{profile}");
    let csrf = crate::helpers::csrf_in(&profile).unwrap();
    let res = other.post_form("/profile/mail", &[("csrf_token", &csrf), ("requests", "on"), ("approvals", "on")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        w.dev.json("/api/v1/notifications/preferences").await["mail"],
        json!({"approvals": true, "leases": false, "requests": true})
    );
    let admin_browser = app.browser();
    admin_browser.login_ok("admin", ADMIN_PASSWORD).await;
    let (status, page) = admin_browser.page("/admin/mail").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("no such mailbox") && page.contains("Send again"), "{page}");
    let deployments = w.admin.json("/api/v1/deployments").await;
    let ids: Vec<String> = deployments.as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_string()).collect();
    for id in &ids {
        app.wait_deployment(&w.admin, id, &["running", "failed"], 60).await;
    }
    app.destroy_all(&w.admin, &ids, &w.hosts).await;
}

/// A process killed after a message is committed and before it is sent sends it once after a
/// restart; one killed after sending and before recording sends it again, with the same
/// `Message-ID`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sender_sends_once_or_again_with_the_same_id() {
    let url = fresh_database(Db::Sqlite).await;
    let envs = serve_envs(&url);
    let start = |failpoint: Option<&str>| {
        let mut all: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if let Some(f) = failpoint {
            all.push(("WHARF_TEST_FAILPOINTS", f));
        }
        serve(&["serve"], &all)
    };
    let mut first = start(Some("notify.before_send=kill"));
    let w = crate::requests::world(&first.app()).await;
    let (lead_mail, dev_mail) = (address("lead"), address("dev"));
    set_email(&w.admin, "lead", &lead_mail).await;
    set_email(&w.admin, "dev", &dev_mail).await;
    managers_approve(&w.admin).await;
    // The request and its mails are stored in one transaction; the sender may take a mail and
    // kill the process before the answer is written, so the answer may be cut off.
    let submitted = w.dev.try_post("/api/v1/requests", &json!({"catalog_item": "web", "group": "team-a"})).await;
    let answered = match submitted {
        Ok(res) if res.status() == StatusCode::CREATED => res.json::<Value>().await.ok().and_then(|v| v["id"].as_str().map(str::to_string)),
        Ok(res) => panic!("the request was refused: {}", res.status()),
        Err(_) => None,
    };
    // The sender takes the manager's mail and the process dies before sending it.
    wait_exit(&mut first.child).await;
    assert!(mailbox(&lead_mail).is_empty());

    let mut second = start(Some("notify.after_send=kill"));
    // The lease of the dead sender runs out (6 s), the mail is sent, and this process dies
    // after sending it, before recording it.
    let sent = mail_to(&lead_mail, "waits for your approval").await;
    wait_exit(&mut second.child).await;

    let third = start(None);
    let app3 = third.app();
    let request = match answered {
        Some(id) => id,
        None => {
            let dev = app3.api_as("dev", &password_of("dev")).await;
            dev.list_requests_ok("").await[0]["id"].as_str().expect("the request was stored").to_string()
        }
    };
    let again = eventually(30, "the mail sent again", || async {
        let all = mailbox(&lead_mail);
        (all.len() >= 2).then_some(all)
    })
    .await;
    assert_eq!(again[0]["message_id"], sent["message_id"]);
    assert_eq!(again[1]["message_id"], sent["message_id"], "a duplicate after a crash carries the same Message-ID");
    // Recorded now: no third copy.
    eventually(30, "the delivery to be recorded", || async {
        let list = app3.admin().await.json("/api/v1/mail/deliveries").await;
        list.as_array().unwrap().iter().any(|d| d["to"] == "lead" && d["status"] == "delivered").then_some(())
    })
    .await;
    // Longer than a lease (6 s): a message left held would be sent a third time by now.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(mailbox(&lead_mail).len(), 2);
    let dev = app3.api_as("dev", &password_of("dev")).await;
    assert_eq!(dev.cancel_request(&request).await.status(), StatusCode::OK);
    mail_to(&dev_mail, "cancelled").await;
    drop(third);
}

async fn wait_exit(child: &mut std::process::Child) {
    for _ in 0..600 {
        if child.try_wait().expect("wait").is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the process did not die at its fail point");
}

/// Two replicas on one PostgreSQL database: every message is delivered once, by one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_each_message_once() {
    let url = fresh_database(Db::Postgres).await;
    let envs = serve_envs(&url);
    let all: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let one = serve(&["serve"], &all);
    let two = serve(&["serve"], &all);
    let (a, b): (TestApp, TestApp) = (one.app(), two.app());
    let w = crate::requests::world(&a).await;
    let (base, got) = crate::notify::receiver().await;
    let res =
        w.admin.post("/api/v1/webhooks", &json!({"url": format!("{base}/ok"), "events": ["*"], "secret": crate::notify::SECRET})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let (lead_mail, dev_mail) = (address("lead"), address("dev"));
    set_email(&w.admin, "lead", &lead_mail).await;
    set_email(&w.admin, "dev", &dev_mail).await;
    managers_approve(&w.admin).await;
    // Ten requests through both replicas, each cancelled: submitted, pending (mail to lead),
    // cancelled (mail to dev).
    let dev_b = b.api_as("dev", &password_of("dev")).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let dev = if i % 2 == 0 { &w.dev } else { &dev_b };
        let id = submit(dev).await;
        assert_eq!(dev.cancel_request(&id).await.status(), StatusCode::OK);
        ids.push(id);
    }
    eventually(60, "30 webhook deliveries and 20 mails", || async {
        let hooks = got.lock().unwrap().len();
        (hooks >= 30 && mailbox(&lead_mail).len() >= 10 && mailbox(&dev_mail).len() >= 10).then_some(())
    })
    .await;
    // Both senders had time to take anything twice, a lease (6 s) included: they did not.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let received = got.lock().unwrap().clone();
    let mut events: Vec<String> = received.iter().map(|r| r.header("x-wharf-event-id").to_string()).collect();
    assert_eq!(events.len(), 30, "one delivery per event");
    events.sort();
    events.dedup();
    assert_eq!(events.len(), 30);
    for to in [&lead_mail, &dev_mail] {
        let mut ids: Vec<String> = mailbox(to).iter().map(|m| m["message_id"].as_str().unwrap().to_string()).collect();
        assert_eq!(ids.len(), 10, "{to}");
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 10, "{to}: each mail once");
    }
    for id in &ids {
        let r = w.dev.get_request_ok(id).await;
        assert_eq!(r["status"], "cancelled");
    }
    drop((one, two));
}

/// STARTTLS against a server whose certificate comes from a private CA (`smtp.ca_file`), and a
/// login: the mail arrives encrypted and authenticated. A wrong password (535) is the server's
/// setup, not the recipient's: tried again, then dead-lettered with the server's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_login_reach_a_private_relay() {
    let smtp = |password: &str| {
        json!({
            "smtp": {
                "url": format!("smtp://{}?tls=starttls", env("WHARF_TEST_SMTP")),
                "from": "Wharf <wharf@test.invalid>",
                "username": "wharf",
                "password": password,
                "ca_file": format!("{}/ca.pem", env("WHARF_TEST_TLS_DIR")),
            },
            "notify": {"retry_base_secs": 1, "max_attempts": 2, "lease_secs": 6},
        })
    };
    for (password, works) in [("smtp-test-password", true), ("not-the-password", false)] {
        let app = spawn_app_with(Db::Sqlite, smtp(password)).await;
        let admin = app.admin().await;
        let to = address("admin");
        set_email(&admin, "admin", &to).await;
        // A host that is registered, then stops answering: admins are told.
        let target = crate::helpers::docker_hosts()[1].trim_start_matches("tcp://").to_string();
        let (port, switch) = crate::hosts::relay(target).await;
        let res = admin.register_host(&json!({"name": "gone", "endpoint": format!("tcp://127.0.0.1:{port}")})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        switch.send(false).unwrap();
        if works {
            let mail = mail_to(&to, "gone").await;
            assert_eq!(mail["tls"], true, "STARTTLS: {mail}");
            assert_eq!(mail["login"], "wharf", "{mail}");
        } else {
            let dead = eventually(30, "the mail to be dead-lettered", || async {
                let list = admin.json("/api/v1/mail/deliveries").await;
                list.as_array().unwrap().iter().find(|d| d["status"] == "dead").cloned()
            })
            .await;
            assert_eq!(dead["attempts"], 2, "a refused login is tried again: {dead}");
            assert_eq!(dead["last_status"], 535, "{dead}");
            assert!(mailbox(&to).is_empty());
        }
    }
}
