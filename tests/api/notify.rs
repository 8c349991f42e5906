//! Notifications on real parts: a webhook receiver (an HTTP server on 127.0.0.1 in the test)
//! gets each event signed (HMAC-SHA256 of "timestamp.body" under its secret); a receiver that
//! answers 500 sees tries with growing gaps, then the delivery is dead-lettered, visible with
//! its last error, and an admin's retry sends it again; approvers and requesters find their
//! notifications in the portal and mark them read.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{Db, eventually, spawn_app_with};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    path: String,
    at: Instant,
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).unwrap_or("")
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// An HTTP receiver on 127.0.0.1: `/ok` answers 200, `/fail` 500; every request is kept.
pub(crate) async fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let kept = got.clone();
    let server = HttpServer::new(move || {
        let kept = kept.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let kept = kept.clone();
            async move {
                let headers =
                    req.headers().iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string())).collect();
                let path = req.path().to_string();
                kept.lock().unwrap().push(Received {
                    path: path.clone(),
                    at: Instant::now(),
                    headers,
                    body: String::from_utf8_lossy(&body).to_string(),
                });
                if path == "/fail" { HttpResponse::InternalServerError().body("no") } else { HttpResponse::Ok().body("ok") }
            }
        }))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (format!("http://127.0.0.1:{port}"), got)
}

fn signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub(crate) const SECRET: &str = "a-webhook-secret-of-some-length";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_retried_and_dead_lettered() {
    // Retries after 2 s, then 4 s: apart enough that the sender's own pace and a busy machine
    // (gaps of 1 and 2 s came out as 1.6 and 2.1 s) cannot hide the growth.
    let app = spawn_app_with(Db::Sqlite, json!({"notify": {"retry_base_secs": 2, "max_attempts": 3}})).await;
    let w = crate::requests::world(&app).await;
    // This app sends no mail (no smtp.url): mail meant for the requester is marked not sent.
    crate::mail::set_email(&w.admin, "dev", &crate::mail::address("dev")).await;
    let (base, got) = receiver().await;

    // Bad registrations say what is wrong; only admins register.
    for (body, field) in [
        (json!({"url": "ftp://x", "events": ["*"], "secret": SECRET}), "url"),
        (json!({"url": format!("{base}/ok"), "events": ["request.exploded"], "secret": SECRET}), "events"),
        (json!({"url": format!("{base}/ok"), "events": [], "secret": SECRET}), "events"),
        (json!({"url": format!("{base}/ok"), "events": ["*"], "secret": "short"}), "secret"),
    ] {
        let res = w.admin.post("/api/v1/webhooks", &body).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["error"]["details"][0]["field"], field, "{answer}");
    }
    let res = w.dev.post("/api/v1/webhooks", &json!({"url": format!("{base}/ok"), "events": ["*"], "secret": SECRET})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = w.admin.post("/api/v1/webhooks", &json!({"url": format!("{base}/ok"), "events": ["*"], "secret": SECRET})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let ok: Value = res.json().await.unwrap();
    assert!(ok.get("secret").is_none(), "the secret is never shown back: {ok}");
    let res =
        w.admin.post("/api/v1/webhooks", &json!({"url": format!("{base}/fail"), "events": ["request.submitted"], "secret": SECRET})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let failing: Value = res.json().await.unwrap();

    // A request that the group's manager, then an admin, must approve.
    let res = w
        .admin
        .create_approval_policy(&json!({"name": "managers", "levels": [
            {"approvers": {"group_managers": true}, "mode": "any"}, {"approvers": {"admins": true}, "mode": "any"}]}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = w.dev.submit_request(&json!({"catalog_item": "web", "group": "team-a"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let request = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();

    // The manager hears of it in the portal, and approves.
    let pending = eventually(10, "the manager's notification", || async {
        let list = w.lead.json("/api/v1/notifications?unread=true").await;
        list.as_array().unwrap().iter().find(|n| n["type"] == "request.pending").cloned()
    })
    .await;
    assert_eq!(pending["link"], format!("/requests/{request}"));
    assert!(pending["title"].as_str().unwrap().contains("dev"), "{pending}");
    assert_eq!(w.lead.approve(&request).await.status(), StatusCode::OK);
    // Level 2 waits on the admins: they are told, the manager is not told again.
    eventually(10, "the admin's notification", || async {
        let list = w.admin.json("/api/v1/notifications?unread=true").await;
        list.as_array().unwrap().iter().any(|n| n["type"] == "request.pending" && n["link"] == format!("/requests/{request}")).then_some(())
    })
    .await;
    let lead_pending = w.lead.json("/api/v1/notifications").await;
    assert_eq!(lead_pending.as_array().unwrap().iter().filter(|n| n["type"] == "request.pending").count(), 1, "{lead_pending}");
    assert_eq!(w.admin.approve(&request).await.status(), StatusCode::OK);
    let approved = eventually(10, "the requester's notification", || async {
        let list = w.dev.json("/api/v1/notifications").await;
        list.as_array().unwrap().iter().find(|n| n["type"] == "request.approved").cloned()
    })
    .await;
    assert_eq!(approved["read"], false);
    let skipped = eventually(10, "the requester's mail to be marked not sent", || async {
        let list = w.admin.json("/api/v1/mail/deliveries").await;
        list.as_array()
            .unwrap()
            .iter()
            .find(|d| d["to"] == "dev" && d["event_type"] == "request.approved" && d["status"] != "pending")
            .cloned()
    })
    .await;
    assert_eq!(skipped["status"], "skipped", "{skipped}");
    assert_eq!(skipped["attempts"], 0);
    assert!(skipped["last_error"].as_str().unwrap().contains("e-mail is off"), "{skipped}");
    let res = w.dev.post("/api/v1/notifications/read", &json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.json::<Value>().await.unwrap()["marked"].as_u64().unwrap() >= 1);
    // Read now (the request may have succeeded meanwhile: that news is new, and unread).
    let unread = w.dev.json("/api/v1/notifications?unread=true").await;
    assert!(unread.as_array().unwrap().iter().all(|n| n["id"] != approved["id"] && n["type"] == "request.succeeded"), "{unread}");

    // The receiver got each event once, signed; the id and type agree with the headers.
    // Two pending events (one per level), each once.
    let delivered = eventually(60, "submitted, pending, approved and succeeded at /ok", || async {
        let seen: Vec<Received> = got.lock().unwrap().iter().filter(|r| r.path == "/ok").cloned().collect();
        let types: Vec<String> = seen.iter().map(|r| r.json()["type"].as_str().unwrap().to_string()).collect();
        ["request.submitted", "request.pending", "request.approved", "request.succeeded"]
            .iter()
            .all(|t| types.iter().any(|s| s == t))
            .then_some(seen)
    })
    .await;
    for r in &delivered {
        let body = r.json();
        assert_eq!(r.header("x-wharf-signature"), signature(SECRET, r.header("x-wharf-timestamp"), &r.body), "{}", r.body);
        assert_ne!(r.header("x-wharf-signature"), signature("another-secret-entirely", r.header("x-wharf-timestamp"), &r.body));
        assert_eq!(r.header("x-wharf-event-id"), body["id"]);
        assert_eq!(r.header("x-wharf-event"), body["type"]);
        assert_eq!(body["data"]["request_id"], request.as_str(), "{body}");
    }
    let mut ids: Vec<&str> = delivered.iter().map(|r| r.header("x-wharf-event-id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), delivered.len(), "each event once");

    // The failing receiver: three tries with growing gaps, then dead-lettered with its error.
    let fails = eventually(30, "three tries at /fail", || async {
        let seen: Vec<Received> = got.lock().unwrap().iter().filter(|r| r.path == "/fail").cloned().collect();
        (seen.len() >= 3).then_some(seen)
    })
    .await;
    let gaps: Vec<Duration> = fails.windows(2).map(|p| p[1].at - p[0].at).collect();
    assert!(gaps[1] > gaps[0] + Duration::from_millis(1000), "growing gaps: {gaps:?}");
    assert!(fails.iter().all(|r| r.header("x-wharf-event-id") == fails[0].header("x-wharf-event-id")), "one event, tried again");
    let hook = failing["id"].as_i64().unwrap();
    let dead = eventually(10, "the delivery to be dead-lettered", || async {
        let list = w.admin.json(&format!("/api/v1/webhooks/{hook}/deliveries")).await;
        list.as_array().unwrap().iter().find(|d| d["status"] == "dead").cloned()
    })
    .await;
    assert_eq!(dead["attempts"], 3);
    assert_eq!(dead["last_status"], 500);
    assert!(dead["last_error"].as_str().unwrap().contains("500"), "{dead}");
    assert_eq!(dead["tries"].as_array().unwrap().len(), 3);
    let hooks = w.admin.json("/api/v1/webhooks").await;
    assert!(hooks.as_array().unwrap().iter().any(|h| h["id"] == hook && h["dead"] == 1), "{hooks}");
    // An admin retries it: it is sent again.
    let delivery = dead["id"].as_str().unwrap();
    let res = w.admin.post(&format!("/api/v1/webhooks/{hook}/deliveries/{delivery}/retry"), &json!({})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let res = w.admin.post(&format!("/api/v1/webhooks/{hook}/deliveries/{delivery}/retry"), &json!({})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT, "only a dead delivery is retried");
    eventually(10, "a fourth try", || async { (got.lock().unwrap().iter().filter(|r| r.path == "/fail").count() >= 4).then_some(()) })
        .await;
    assert_eq!(w.dev.get(&format!("/api/v1/webhooks/{hook}/deliveries")).await.status(), StatusCode::FORBIDDEN);
    // The admin pages: the list, one webhook's deliveries with their tries, and the form.
    let browser = app.browser();
    browser.login_ok("admin", crate::helpers::ADMIN_PASSWORD).await;
    let (status, list) = browser.page("/admin/webhooks").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains(&format!("{base}/fail")) && list.contains("request.submitted"), "{list}");
    let (status, page) = browser.page(&format!("/admin/webhooks/{hook}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("the receiver answered 500"), "the tries' errors are shown: {page}");
    let res = browser.submit("/admin/webhooks", "/admin/webhooks", &[("url", "not a url"), ("events", "*"), ("secret", SECRET)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("not a URL") && !body.contains(SECRET), "the error is said, the secret not sent back");
    let ok = format!("{base}/ok-too");
    let res = browser
        .submit("/admin/webhooks", "/admin/webhooks", &[("url", &ok), ("events", "host.down"), ("events", "host.up"), ("secret", SECRET)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let hooks = w.admin.json("/api/v1/webhooks").await;
    assert!(hooks.as_array().unwrap().iter().any(|h| h["url"] == ok && h["events"] == json!(["host.down", "host.up"])), "{hooks}");
    assert_eq!(w.admin.delete(&format!("/api/v1/webhooks/{hook}")).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(w.admin.get(&format!("/api/v1/webhooks/{hook}/deliveries")).await.status(), StatusCode::NOT_FOUND);
}
