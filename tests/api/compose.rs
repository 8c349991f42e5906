//! Compose files as blueprints: each realistic file under tests/fixtures/compose/ converts
//! (through the API, the command line and the blueprints page), validates as a blueprint, and —
//! its images being the offline test image — deploys on the real test hosts and runs; what a
//! blueprint cannot hold is refused at its line and column.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::render;
use crate::helpers::{ADMIN_PASSWORD, Db, docker, spawn_app, test_image, wharf_command};

/// Every deployable fixture, with the inputs a deployment needs (required ones have no default).
const DEPLOYABLE: &[(&str, &str)] = &[
    ("web-db.yaml", r#"{"db_password": "s3cret-db-pass"}"#),
    ("queue-workers.yaml", r#"{"workers": 2}"#),
    ("three-tier.yaml", "{}"),
    ("healthcheck-conditions.yaml", "{}"),
    ("env-defaults.yaml", r#"{"owner_name": "ops", "api_token": "t0ken-value"}"#),
    ("named-volumes.yaml", "{}"),
    ("port-ranges.yaml", "{}"),
    ("tagged-image.yaml", "{}"),
];

fn compose_fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/compose/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).expect("fixture");
    if text.contains("{{image}}") { render(&text, &[("image", &test_image())]) } else { render(&text, &[]) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_files_become_blueprints_that_deploy() {
    let app = spawn_app(Db::Sqlite).await;
    let admin = app.admin().await;
    let hosts = app.register_test_hosts(&admin).await;

    // Each file: converted, published as it is, deployed (all at once).
    let mut deployments = Vec::new();
    for (file, inputs) in DEPLOYABLE {
        let res = admin.client_post_yaml(&format!("/api/v1/blueprints/import-compose?file={file}"), &compose_fixture(file)).await;
        assert_eq!(res.status(), StatusCode::OK, "{file}: {}", res.text().await.unwrap_or_default());
        let draft: Value = res.json().await.unwrap();
        let source = draft["source"].as_str().unwrap().to_string();
        let res = admin.publish_blueprint(&source).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{file}: {}\n{source}", res.text().await.unwrap_or_default());
        let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
        let inputs: Value = serde_json::from_str(inputs).unwrap();
        let res = admin.deploy_blueprint(&id, &json!({"inputs": inputs})).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "{file}: {}", res.text().await.unwrap_or_default());
        let dep = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
        deployments.push((file.to_string(), id, dep, draft));
    }
    let mut ids = Vec::new();
    for (file, blueprint, dep, draft) in &deployments {
        let d = app.wait_deployment(&admin, dep, &["running", "failed"], 120).await;
        assert_eq!(d["status"], "running", "{file} ({blueprint}): {d}\ndraft:\n{}", draft["source"].as_str().unwrap());
        ids.push(dep.clone());
        let containers = d["resources"].as_array().unwrap().iter().filter(|r| r["kind"] == "container").count();
        let expected = match file.as_str() {
            "web-db.yaml" => 2,
            "queue-workers.yaml" => 3, // the queue and two workers (the input said 2)
            "three-tier.yaml" | "healthcheck-conditions.yaml" => 3,
            "named-volumes.yaml" => 2,
            _ => 1,
        };
        assert_eq!(containers, expected, "{file}: {d}");
        match file.as_str() {
            "web-db.yaml" => {
                // The secret input reached the container, and is masked in the deployment's view.
                assert!(!d.to_string().contains("s3cret-db-pass"), "{d}");
                let endpoint = &hosts.iter().find(|(n, _)| d["host"] == n.as_str()).unwrap().1;
                let db = d["resources"].as_array().unwrap().iter().find(|r| r["component"] == "db").unwrap()["container_id"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let env = docker(endpoint, &["inspect", "-f", "{{json .Config.Env}}", &db]);
                assert!(env.contains("POSTGRES_PASSWORD=s3cret-db-pass"), "{env}");
                let notes = draft["notes"].to_string();
                assert!(notes.contains("db_data"), "{notes}");
            }
            "port-ranges.yaml" => {
                let ports: usize = d["resources"].as_array().unwrap().iter().map(|r| r["ports"].as_array().map_or(0, Vec::len)).sum();
                assert_eq!(ports, 5, "9000-9002, 5353/udp and 8443: {d}");
            }
            "env-defaults.yaml" => {
                let endpoint = &hosts.iter().find(|(n, _)| d["host"] == n.as_str()).unwrap().1;
                let app_id = d["resources"].as_array().unwrap().iter().find(|r| r["kind"] == "container").unwrap()["container_id"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let env = docker(endpoint, &["inspect", "-f", "{{json .Config.Env}}", &app_id]);
                for want in
                    ["GREETING=hello world", "DEBUG=false", "PORT=8080", "PRICE=$5", "OWNER=ops", "API_TOKEN=t0ken-value", "REGION=eu-west"]
                {
                    assert!(env.contains(want), "{want} in {env}");
                }
            }
            _ => {}
        }
    }
    app.destroy_all(&admin, &ids, &hosts).await;

    // What cannot be mapped: a 422 with each construct at its line and column, nothing stored.
    let res = admin.client_post_yaml("/api/v1/blueprints/import-compose", &compose_fixture("unsupported.yaml")).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = res.json().await.unwrap();
    let details = err["error"]["details"].as_array().unwrap();
    for (line, word) in [(4, "build"), (7, "network_mode: host"), (10, "privileged"), (14, "./data"), (16, "extends"), (22, "env_file")] {
        assert!(details.iter().any(|d| d["line"] == line && d["message"].as_str().unwrap().contains(word)), "line {line} `{word}`: {err}");
    }
    let res = admin.client_post_yaml("/api/v1/blueprints/import-compose", "services: [oops").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// `wharf blueprint import-compose`: the draft on standard output (or a file), notes and errors
/// on standard error as file:line:column.
#[test]
fn compose_files_convert_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("wharf-compose-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("three-tier.yaml");
    std::fs::write(&file, compose_fixture("three-tier.yaml")).unwrap();
    let out = wharf_command().args(["blueprint", "import-compose"]).arg(&file).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("\"id\": \"three-tier\"") && stdout.contains("\"front-end\":"), "{stdout}");
    assert!(stderr.contains(&format!("{}:10:5: note: `container_name`", file.display())), "{stderr}");
    let written = dir.join("draft.yaml");
    let out = wharf_command().args(["blueprint", "import-compose", "--id", "my-shop", "-o"]).arg(&written).arg(&file).output().unwrap();
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&written).unwrap().contains("\"id\": \"my-shop\""));

    // In one command: published and made a catalog item (nobody entitled yet); again, the same
    // version is found and the item left as it is.
    let url = tokio::runtime::Runtime::new().unwrap().block_on(crate::helpers::fresh_database(Db::Sqlite));
    for round in 0..2 {
        let out = wharf_command().args(["--database-url", &url, "blueprint", "import-compose", "--publish"]).arg(&file).output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{stderr}");
        assert!(stdout.contains("published blueprint three-tier version 1"), "{stdout}");
        if round == 0 {
            assert!(stdout.contains("made catalog item three-tier (no group is entitled to it yet"), "{stdout}");
        } else {
            assert!(stdout.contains("exists: left as it is"), "{stdout}");
        }
    }

    let bad = dir.join("unsupported.yaml");
    std::fs::write(&bad, compose_fixture("unsupported.yaml")).unwrap();
    let out = wharf_command().args(["blueprint", "import-compose"]).arg(&bad).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("{}:4:5: `build` cannot be imported", bad.display())), "{stderr}");
    assert!(stderr.contains(&format!("{}:10:17: `privileged` cannot be imported", bad.display())), "{stderr}");
    let out = wharf_command().args(["blueprint", "import-compose", "/nonexistent/compose.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The blueprints page: a Compose file converted into the publish form's draft, with what was
/// left out; one that cannot be converted lists each problem with its line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_files_convert_on_the_blueprints_page() {
    let app = spawn_app(Db::Sqlite).await;
    let browser = app.browser();
    browser.login_ok("admin", ADMIN_PASSWORD).await;
    let res = browser
        .submit(
            "/admin/blueprints",
            "/admin/blueprints/import-compose",
            &[("compose", &compose_fixture("web-db.yaml")), ("file", "web-db.yaml"), ("id", "")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("Converted: review the draft below"), "{html}");
    assert!(html.contains("Imported from a Compose file (web-db)"), "the draft is in the publish form");
    assert!(html.contains("db_data"), "what was changed is listed");
    let res =
        browser.submit("/admin/blueprints", "/admin/blueprints/import-compose", &[("compose", &compose_fixture("unsupported.yaml"))]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("cannot become a blueprint") && html.contains("line 10, column 17"), "{html}");
    let res = browser.post_form("/admin/blueprints/import-compose", &[("compose", "services: {}")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "no CSRF token, no conversion");
}
