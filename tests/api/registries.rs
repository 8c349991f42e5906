//! Private registries, against a real one: Debian's docker-registry with htpasswd and TLS from
//! a CA of its own, in a network namespace of its own (scripts/lib/hosts.sh `start_registry`:
//! :5000 trusted by the test daemons, :5001 with the same certificate but not trusted). An image
//! from it deploys with credentials nobody sees again; a wrong password, a missing tag, an
//! untrusted certificate and an unreachable registry each fail saying which registry and why; an
//! image a catalog item does not allow is refused at submission, never pulled.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, Db, docker_hosts, env, eventually, fresh_database, password_of, serve_logged};

/// `private-hello` takes its image from an input, which its own list bounds (the test
/// registry, the same one untrusted, and a port where nothing listens); `team-b-app` names its
/// image itself.
fn blueprints(registry: &str, untrusted: &str) -> (String, String) {
    let private = format!(
        r#"id: private-hello
name: Private hello
category: Demo
version: 1
allowed_images: ["{registry}/team-a/*", "{untrusted}/team-a/*", "10.249.0.2:5009/team-a/*"]
inputs:
  image:
    type: string
    default: "{registry}/team-a/hello:1"
components:
  app:
    image: "${{inputs.image}}"
    command: ["sleep", "3600"]
"#
    );
    let other = format!(
        r#"id: team-b-app
name: Team B app
category: Demo
version: 1
components:
  app:
    image: "{registry}/team-b/other:1"
    command: ["sleep", "3600"]
"#
    );
    (private, other)
}

/// Takes the image off the host, so that the next deployment must pull it.
fn forget_image(endpoint: &str, image: &str) {
    let _ = std::process::Command::new("docker").args(["-H", endpoint, "rmi", "-f", image]).output();
}

fn image_on(endpoint: &str, image: &str) -> bool {
    std::process::Command::new("docker").args(["-H", endpoint, "image", "inspect", image]).output().is_ok_and(|o| o.status.success())
}

async fn finished(api: &crate::helpers::Api, id: &str) -> Value {
    eventually(120, "the request to finish", || async {
        let r = api.get_request_ok(id).await;
        ["succeeded", "failed", "rejected"].contains(&r["status"].as_str().unwrap_or_default()).then_some(r)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_images_deploy_with_credentials_nobody_sees() {
    let registry = env("WHARF_TEST_REGISTRY");
    let untrusted = env("WHARF_TEST_REGISTRY_UNTRUSTED");
    let user = env("WHARF_TEST_REGISTRY_USER");
    let password = env("WHARF_TEST_REGISTRY_PASSWORD");
    let ca = std::fs::read_to_string(env("WHARF_TEST_REGISTRY_CA")).unwrap();
    let wrong = "not-the-password-9f3c1";
    let host = docker_hosts()[0].clone();
    let hello = format!("{registry}/team-a/hello:1");
    let other = format!("{registry}/team-b/other:1");
    forget_image(&host, &hello);
    forget_image(&host, &other);

    // A real process, logging at debug level, to read what it logged afterwards.
    let url = fresh_database(Db::Sqlite).await;
    let log = std::path::PathBuf::from(env("WHARF_TEST_TMP")).join(format!("registries-{}.log", std::process::id()));
    let envs = [
        ("WHARF_DATABASE_URL", url.as_str()),
        ("WHARF_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("WHARF_CATALOG_DIR", "/nonexistent/wharf-test-catalog"),
        ("WHARF_HOSTS__REGISTER_LOCAL", "false"),
        ("WHARF_ENGINE__PULL_RETRY_MS", "50"),
        ("WHARF_ENGINE__NETWORK_POOL", "0"),
        ("WHARF_LOG", "debug"),
        ("RUST_LOG", "debug"),
    ];
    let served = serve_logged(&["serve"], &envs, &log);
    let app = served.app();
    let admin = app.seed_team().await;
    let res = admin.register_host(&json!({"name": "h1", "endpoint": host})).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());

    // Registered with a wrong password first. The answer never holds a password.
    let res = admin
        .post("/api/v1/registries", &json!({"address": format!("https://{registry}/"), "username": user, "password": wrong, "ca_pem": ca}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let text = res.text().await.unwrap();
    assert!(!text.contains(wrong) && !text.contains("\"password\""), "{text}");
    let reg: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((reg["address"].as_str(), reg["has_password"].as_bool()), (Some(registry.as_str()), Some(true)), "{reg}");
    let id = reg["id"].as_i64().unwrap();
    let res = admin.post("/api/v1/registries", &json!({"address": registry})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    for (body, field) in [
        (json!({"address": "http://registry.example"}), "address"),
        (json!({"address": "registry.example/team"}), "address"),
        (json!({"address": "registry.example", "username": "u"}), "password"),
        (json!({"address": "registry.example", "password": "p"}), "username"),
        (json!({"address": "registry.example", "ca_pem": "not a certificate"}), "ca_pem"),
    ] {
        let res = admin.post("/api/v1/registries", &body).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["details"][0]["field"], field, "{body}: {err}");
    }
    // Wharf's own check: reachable and trusted (the CA held), the credentials refused.
    let check: Value = admin.post(&format!("/api/v1/registries/{id}/check"), &json!({})).await.json().await.unwrap();
    assert_eq!((check["ok"].as_bool(), check["problem"].as_str()), (Some(false), Some("authentication")), "{check}");
    assert!(check["message"].as_str().unwrap().contains("refused the credentials"), "{check}");

    // A free image input without a list of allowed images is refused, as before.
    let unbounded = blueprints(&registry, &untrusted).0.lines().filter(|l| !l.starts_with("allowed_images")).collect::<Vec<_>>().join("\n");
    let res = admin.publish_blueprint(&unbounded).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("only when `image` is an enum"));
    let (private_bp, other_bp) = blueprints(&registry, &untrusted);
    for bp in [&private_bp, &other_bp] {
        let res = admin.publish_blueprint(bp).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    }
    let allowed = format!("{registry}/team-a/*");
    let item = |id: &str, blueprint: &str, allowed: Value| json!({"id": id, "name": id, "category": "Demo", "blueprint": blueprint, "lease": {"default_days": 7, "max_days": 30}, "allowed_images": allowed});
    // A pattern that is not one, and an item whose own blueprint names an image it does not allow.
    let res = admin.create_catalog_item(&item("bad-pattern", "private-hello", json!([format!("{registry}/team-a/hello:1")]))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["details"][0]["field"], "allowed_images[0]", "{err}");
    let res = admin.create_catalog_item(&item("team-b", "team-b-app", json!([allowed]))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["details"][0]["field"], "allowed_images", "{err}");
    assert!(err.to_string().contains("team-b/other:1"), "{err}");
    let res = admin.create_catalog_item(&item("private", "private-hello", json!([allowed]))).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    assert_eq!(res.json::<Value>().await.unwrap()["allowed_images"], json!([allowed]));
    let res = admin.create_entitlement(&json!({"group": "team-a", "catalog_items": ["private"], "actions": ["destroy"]})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let dev = app.api_as("dev", &password_of("dev")).await;

    // An image the item does not allow, given by an input: refused by field, never pulled.
    let res = dev.submit_request(&json!({"catalog_item": "private", "group": "team-a", "inputs": {"image": other}})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["details"][0]["field"], "inputs.image", "{err}");
    assert!(err["error"]["details"][0]["message"].as_str().unwrap().contains("is not allowed here"), "{err}");
    assert_eq!(dev.list_requests_ok("").await.as_array().map(Vec::len), Some(0), "nothing was stored, so nothing will pull");
    // The blueprint's own list holds for admins deploying it directly.
    let res = admin.deploy_blueprint("private-hello", &json!({"inputs": {"image": other}})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["details"][0]["field"], "inputs.image", "{err}");
    assert!(err.to_string().contains("this blueprint allows only images from"), "{err}");

    // The wrong password: the request fails saying which registry refused what.
    let res = dev.submit_request(&json!({"catalog_item": "private", "group": "team-a"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let r = finished(&dev, res.json::<Value>().await.unwrap()["id"].as_str().unwrap()).await;
    assert_eq!(r["status"], "failed", "{r}");
    let error = r["error"].as_str().unwrap_or_default();
    assert!(error.contains("refused the credentials Wharf holds for it (authentication failed)"), "{r}");

    // The right password (the username kept): Wharf's check passes, and the image deploys.
    let res = admin.put(&format!("/api/v1/registries/{id}"), &json!({"password": password})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(!text.contains(&password), "{text}");
    let check: Value = admin.post(&format!("/api/v1/registries/{id}/check"), &json!({})).await.json().await.unwrap();
    assert_eq!(check["ok"], true, "{check}");
    let res = dev.submit_request(&json!({"catalog_item": "private", "group": "team-a"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let r = finished(&dev, res.json::<Value>().await.unwrap()["id"].as_str().unwrap()).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let dep = r["deployment_id"].as_str().unwrap().to_string();
    let d = app.wait_deployment(&admin, &dep, &["running"], 30).await;
    assert_eq!(d["host"], "h1");
    assert!(image_on(&host, &hello), "pulled from the registry");

    // What fails says which registry and why, in words to act on (admins deploy directly).
    let untrusted_res =
        admin.post("/api/v1/registries", &json!({"address": untrusted, "username": user, "password": password, "ca_pem": ca})).await;
    assert_eq!(untrusted_res.status(), StatusCode::CREATED);
    for (image, words) in [
        (
            format!("{untrusted}/team-a/hello:1"),
            format!("does not trust the certificate of the registry {untrusted} (certificate not trusted)"),
        ),
        (format!("{untrusted}/team-a/hello:1"), format!("/etc/docker/certs.d/{untrusted}/ca.crt")),
        (format!("{registry}/team-a/hello:404"), format!("the registry {registry} has no image")),
        ("10.249.0.2:5009/team-a/hello:1".to_string(), "could not reach the registry 10.249.0.2:5009 (unreachable)".to_string()),
    ] {
        let res = admin.deploy_blueprint("private-hello", &json!({"inputs": {"image": image}})).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "{image}");
        let failed = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
        let d = app.wait_deployment(&admin, &failed, &["running", "failed"], 90).await;
        assert_eq!(d["status"], "failed", "{image}: {d}");
        assert!(d["error"].as_str().unwrap_or_default().contains(&words), "{image}: expected «{words}» in {d}");
        assert_eq!(admin.deployment_action(&failed, "destroy").await.status(), StatusCode::ACCEPTED);
    }

    // The passwords are nowhere: not in the list, the audit log, or what the process logged.
    let list = admin.get("/api/v1/registries").await.text().await.unwrap();
    assert!(list.contains(&registry) && list.contains(&untrusted), "{list}");
    let audit = admin.get("/api/v1/audit?per_page=100").await.text().await.unwrap();
    assert!(audit.contains("registry.create") && audit.contains("registry.update"), "{audit}");
    for secret in [password.as_str(), wrong] {
        assert!(!list.contains(secret) && !audit.contains(secret), "a password was shown back");
    }
    let res = admin.delete(&format!("/api/v1/registries/{}", untrusted_res.json::<Value>().await.unwrap()["id"])).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(!admin.get("/api/v1/registries").await.text().await.unwrap().contains(&untrusted));

    assert_eq!(dev.deployment_action(&dep, "destroy").await.status(), StatusCode::ACCEPTED);
    app.wait_deployment(&admin, &dep, &["destroyed"], 60).await;
    drop(served);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("registry checked"), "the log holds the process's lines");
    // Nor in the forms an HTTP header would carry it (Basic, or Docker's auth JSON).
    use base64::Engine as _;
    for secret in [password.as_str(), wrong] {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
        let bare = base64::engine::general_purpose::STANDARD.encode(secret);
        for form in [secret, basic.as_str(), bare.trim_end_matches('=')] {
            assert!(!logged.contains(form), "a registry password was logged");
        }
    }
    let _ = std::fs::remove_file(&log);
    forget_image(&host, &hello);
}

/// The admin page: registering through the form (CSRF-protected; the password never sent back,
/// even when the form is refused), changing the credentials, removing; and the catalog form's
/// allowed images, whose bad entry shows under the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registries_are_managed_in_the_admin_pages() {
    let app = crate::helpers::spawn_app(Db::Sqlite).await;
    let browser = app.browser();
    browser.login_ok("admin", ADMIN_PASSWORD).await;
    let secret = "page-registry-password-31";
    let (status, html) = browser.page("/admin/registries").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No registry yet"), "{html}");
    let res = browser.post_form("/admin/registries", &[("address", "registry.example")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "no CSRF token, no change");
    let res = browser
        .submit(
            "/admin/registries",
            "/admin/registries",
            &[("address", "registry.example:5000"), ("username", "puller"), ("password", secret), ("ca_pem", "junk")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("not a PEM certificate") && html.contains("registry.example:5000"), "the error, and the address kept");
    assert!(!html.contains(secret), "the password is never sent back");
    let res = browser
        .submit(
            "/admin/registries",
            "/admin/registries",
            &[("address", "registry.example:5000"), ("username", "puller"), ("password", secret), ("ca_pem", "")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, html) = browser.page("/admin/registries").await;
    assert!(html.contains("registry.example:5000") && html.contains("password held") && !html.contains(secret), "{html}");
    let admin = app.admin().await;
    let list: Value = admin.json("/api/v1/registries").await;
    let id = list[0]["id"].as_i64().unwrap();
    // A new username without its password is refused; with it, taken.
    let res = browser
        .submit("/admin/registries", &format!("/admin/registries/{id}/credentials"), &[("username", "other"), ("password", "")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("a username needs its password"));
    let res = browser
        .submit("/admin/registries", &format!("/admin/registries/{id}/credentials"), &[("username", "other"), ("password", "new-one-55")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let r: Value = admin.json(&format!("/api/v1/registries/{id}")).await;
    assert_eq!((r["username"].as_str(), r["has_password"].as_bool()), (Some("other"), Some(true)), "{r}");
    // An empty username takes the credentials away.
    let res = admin.put(&format!("/api/v1/registries/{id}"), &json!({"username": ""})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.unwrap();
    assert_eq!((r["username"].clone(), r["has_password"].as_bool()), (Value::Null, Some(false)), "{r}");
    let res = browser.submit("/admin/registries", &format!("/admin/registries/{id}/remove"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(admin.json("/api/v1/registries").await, json!([]));

    // The catalog form: a bad pattern shows under the allowed images field.
    let res = admin.publish_blueprint(crate::fixture!("blueprints/hello.yaml")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let fields = [
        ("id", "hello"),
        ("name", "Hello"),
        ("category", "Demo"),
        ("blueprint", "hello"),
        ("lease.default_days", "7"),
        ("lease.max_days", "30"),
        ("lease.grace_days", "3"),
        ("allowed_images", "busybox, Bad Pattern"),
    ];
    let res = browser.submit("/admin/catalog", "/admin/catalog/items", &fields).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("each part of a repository is lower-case"), "{html}");
    let mut fields = fields.to_vec();
    fields[7] = ("allowed_images", "busybox, registry.example:5000/team-a/**");
    let res = browser.submit("/admin/catalog", "/admin/catalog/items", &fields).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let items: Value = admin.json("/api/v1/catalog-items").await;
    assert_eq!(items[0]["allowed_images"], json!(["busybox", "registry.example:5000/team-a/**"]));
}
