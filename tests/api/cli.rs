//! The `wharf` binary itself: help, configuration errors, migrate, user add, serve --demo.
use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;

use crate::fixture;
use crate::helpers::{Db, fresh_database};

fn wharf() -> Command {
    crate::helpers::wharf_command()
}

fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("run wharf");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn help_lists_commands_and_examples() {
    let (code, stdout, _) = output(wharf().arg("--help"));
    assert_eq!(code, 0);
    for word in ["serve", "migrate", "user", "--config", "Examples:", "--demo"] {
        assert!(stdout.contains(word), "--help lacks {word}: {stdout}");
    }
}

#[test]
fn bad_configuration_stops_start_up_naming_the_key() {
    let (code, _, stderr) = output(wharf().arg("migrate").env("WHARF_BIND", "nowhere"));
    assert_eq!(code, 2);
    assert!(stderr.contains("`bind`") && stderr.contains("nowhere"), "{stderr}");

    let (code, _, stderr) = output(wharf().arg("migrate").env("WHARF_LOGIN__MAX_FAILURES", "lots"));
    assert_eq!(code, 2);
    assert!(stderr.to_lowercase().contains("login.max_failures") && stderr.contains("lots"), "{stderr}");

    let (code, _, stderr) = output(wharf().arg("migrate").env("WHARF_NO_SUCH_KEY", "1"));
    assert_eq!(code, 2);
    assert!(stderr.to_lowercase().contains("no_such_key"), "{stderr}");
    // The test harness's own variables are not configuration.
    let url = format!("sqlite://{}/wharf-env-{}.db?mode=rwc", std::env::temp_dir().display(), uuid::Uuid::new_v4());
    let (code, _, stderr) = output(wharf().args(["--database-url", &url, "migrate"]).env("WHARF_TEST_ANYTHING", "1"));
    assert_eq!(code, 0, "{stderr}");

    let dir = std::env::temp_dir().join(format!("wharf-cfg-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("wharf.toml");
    std::fs::write(&file, fixture!("config/misspelled-key.toml")).unwrap();
    let (code, _, stderr) = output(wharf().arg("--config").arg(&file).arg("migrate"));
    assert_eq!(code, 2);
    assert!(stderr.contains("databse_url"), "{stderr}");

    let (code, _, stderr) = output(wharf().arg("--config").arg(dir.join("missing.toml")).arg("migrate"));
    assert_eq!(code, 2);
    assert!(stderr.contains("missing.toml"), "{stderr}");

    let (code, _, stderr) = output(wharf().arg("--database-url").arg("mysql://db").arg("migrate"));
    assert_eq!(code, 2);
    assert!(stderr.contains("database_url"), "{stderr}");
    std::fs::remove_dir_all(dir).ok();
}

async fn migrate_and_add_users(db: Db) {
    let url = fresh_database(db).await;
    let (code, stdout, stderr) = output(wharf().args(["--database-url", &url, "migrate"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("up to date"));

    let mut child = wharf()
        .args(["--database-url", &url, "user", "add", "alice", "--admin", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"alice-password\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("created user alice (admin)") && !stdout.contains("alice-password"), "{stdout}");

    // A generated password is printed once.
    let (code, stdout, _) = output(wharf().args(["--database-url", &url, "user", "add", "bob"]));
    assert_eq!(code, 0);
    assert!(stdout.contains("password: "), "{stdout}");

    // Taken names and bad passwords are refused with a clear message and exit 2.
    let (code, _, stderr) = output(wharf().args(["--database-url", &url, "user", "add", "bob"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("taken"), "{stderr}");
    let mut child = wharf()
        .args(["--database-url", &url, "user", "add", "carol", "--password-stdin"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10 characters"));

    // `user set`: disable, promote; the last admin stays one; nothing to change is an error.
    let (code, stdout, stderr) = output(wharf().args(["--database-url", &url, "user", "set", "bob", "--disable"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("bob: disabled"), "{stdout}");
    let (code, stdout, _) = output(wharf().args(["--database-url", &url, "user", "set", "bob", "--enable", "--admin"]));
    assert_eq!(code, 0);
    assert!(stdout.contains("bob: active, admin"), "{stdout}");
    let (code, _, _) = output(wharf().args(["--database-url", &url, "user", "set", "bob", "--no-admin"]));
    assert_eq!(code, 0);
    let (code, _, stderr) = output(wharf().args(["--database-url", &url, "user", "set", "alice", "--no-admin"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("last active admin"), "{stderr}");
    let (code, _, stderr) = output(wharf().args(["--database-url", &url, "user", "set", "alice"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("nothing to change"), "{stderr}");
}

#[tokio::test]
async fn migrate_and_user_add_on_sqlite() {
    migrate_and_add_users(Db::Sqlite).await
}

#[tokio::test]
async fn migrate_and_user_add_on_postgres() {
    migrate_and_add_users(Db::Postgres).await
}

/// Replicas that start together on a fresh PostgreSQL database take turns to migrate (an
/// advisory lock): three `wharf migrate` at once all succeed, and the schema is there once.
#[tokio::test]
async fn migrations_started_together_take_turns() {
    let url = fresh_database(Db::Postgres).await;
    let children: Vec<_> = (0..3)
        .map(|_| wharf().args(["--database-url", &url, "migrate"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let (code, stdout, stderr) = output(wharf().args(["--database-url", &url, "migrate"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("up to date"), "{stdout}");
}

/// `wharf serve --demo`: the three demo users log in with the printed passwords and see the
/// navigation of their role.
#[tokio::test]
async fn serve_demo_prints_working_passwords() {
    let url = fresh_database(Db::Sqlite).await;
    let served = crate::helpers::serve(&["--database-url", &url, "serve", "--demo"], &[("WHARF_HOSTS__REGISTER_LOCAL", "false")]);
    let mut passwords = std::collections::HashMap::new();
    for line in &served.printed {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [user @ ("dev" | "lead" | "admin"), pw, ..] = words.as_slice() {
            passwords.insert(user.to_string(), pw.to_string());
        }
    }
    assert_eq!(passwords.len(), 3, "{:?}", served.printed);
    let base = served.base.clone();
    for (user, expect_admin) in [("dev", false), ("lead", false), ("admin", true)] {
        let client = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let html = client.get(format!("{base}/login")).send().await.unwrap().text().await.unwrap();
        let token = crate::helpers::csrf_in(&html).unwrap();
        let res = client
            .post(format!("{base}/login"))
            .form(&[("csrf_token", token.as_str()), ("username", user), ("password", passwords[user].as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{user} logs in");
        let html = client.get(format!("{base}/")).send().await.unwrap().text().await.unwrap();
        assert_eq!(html.contains("href=\"/admin/users\""), expect_admin, "{user}");
        assert_eq!(html.contains("href=\"/teams\""), user == "lead", "{user}");
    }
}

#[tokio::test]
async fn catalog_validate_lists_every_error() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog");
    let (code, stdout, stderr) = output(wharf().args(["catalog", "validate"]).arg(&repo));
    assert_eq!(code, 0, "the shipped catalog is valid: {stderr}");
    assert!(stdout.contains("4 blueprint file(s)"), "{stdout}");

    let dir = std::env::temp_dir().join(format!("wharf-bad-catalog-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.yaml"), fixture!("catalog-invalid/a.yaml")).unwrap();
    std::fs::write(dir.join("b.yml"), fixture!("catalog-invalid/b.yml")).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a blueprint").unwrap();
    let (code, _, stderr) = output(wharf().args(["catalog", "validate"]).arg(&dir));
    assert_eq!(code, 1);
    let a = dir.join("a.yaml").display().to_string();
    let b = dir.join("b.yml").display().to_string();
    assert!(stderr.contains(&format!("{a}:7:10: tty must be true or false")), "{stderr}");
    assert!(stderr.contains(&format!("{a}:8:13: container port 0 is out of range")), "{stderr}");
    assert!(stderr.contains(&format!("{b}:5:37:")), "{stderr}");
    assert!(stderr.contains("3 error(s) in 2 of 2 file(s)"), "{stderr}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn hosts_are_managed_from_the_command_line() {
    let url = fresh_database(Db::Sqlite).await;
    let endpoint = crate::helpers::docker_hosts()[1].clone();
    let (code, stdout, stderr) = output(wharf().args(["--database-url", &url, "host", "add", "edge", &endpoint, "--label", "zone=a"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("registered host edge"), "{stdout}");
    let (code, _, stderr) = output(wharf().args(["--database-url", &url, "host", "add", "bad", "tcp://127.0.0.1:1"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("could not talk to the engine") || stderr.contains("did not answer"), "{stderr}");
    let (code, _, stderr) = output(wharf().args(["--database-url", &url, "host", "add", "bad", &endpoint, "--label", "zone"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("KEY=VALUE"), "{stderr}");
    let (code, stdout, _) = output(wharf().args(["--database-url", &url, "host", "list"]));
    assert_eq!(code, 0);
    assert!(stdout.contains("edge") && stdout.contains("zone=a") && !stdout.contains("bad"), "{stdout}");
    let (code, stdout, _) = output(wharf().args(["--database-url", &url, "host", "remove", "edge"]));
    assert_eq!(code, 0, "{stdout}");
    let (code, _, stderr) = output(wharf().args(["--database-url", &url, "host", "remove", "edge"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("no host `edge`"), "{stderr}");
}

/// `wharf registry add|list|remove`: the password comes on standard input, and is never printed.
#[tokio::test]
async fn registries_are_managed_from_the_command_line() {
    let url = fresh_database(Db::Sqlite).await;
    let secret = "cli-registry-password-77";
    let mut child = wharf()
        .args(["--database-url", &url, "registry", "add", "https://registry.example:5000/", "--username", "puller", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{secret}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("registered registry registry.example:5000 (as puller)"), "{stdout}");
    let (code, stdout, stderr) = output(wharf().args(["--database-url", &url, "registry", "list"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("registry.example:5000") && stdout.contains("puller") && stdout.contains("held"), "{stdout}");
    assert!(!stdout.contains(secret) && !stderr.contains(secret));
    // Bad input says what, and exits 2; the same address twice is refused.
    let (code, _, stderr) = output(wharf().args(["--database-url", &url, "registry", "add", "http://plain.example"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("address") && stderr.contains("HTTPS"), "{stderr}");
    let (code, _, stderr) = output(wharf().args(["--database-url", &url, "registry", "add", "registry.example:5000"]));
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = output(wharf().args(["--database-url", &url, "registry", "add", "r.example", "--ca", "/nonexistent/ca.pem"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent/ca.pem"), "{stderr}");
    let (code, stdout, stderr) = output(wharf().args(["--database-url", &url, "registry", "remove", "registry.example:5000"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("removed registry registry.example:5000"), "{stdout}");
    let (code, stdout, _) = output(wharf().args(["--database-url", &url, "registry", "list"]));
    assert_eq!((code, stdout.trim()), (0, "no registry is registered"));
    let (code, _, stderr) = output(wharf().args(["--database-url", &url, "registry", "remove", "registry.example:5000"]));
    assert_eq!(code, 2, "{stderr}");
}
