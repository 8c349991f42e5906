//! `spawn_app`: the real application on port 0 with a fresh database (SQLite file or a new
//! PostgreSQL database on the server that scripts/test starts), and clients to drive it.
use std::sync::LazyLock;

use figment::Figment;
use figment::providers::Serialized;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Client, Response, StatusCode, redirect};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use wharf::config::Settings;
use wharf::domain::Secret;
use wharf::services::bootstrap;
use wharf::startup::Application;

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Runs the named async test functions `fn(Db)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Db::Postgres).await
            }
        }
    )*};
}

static LOGGING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        wharf::telemetry::init("info");
    }
});

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the suite with scripts/test"))
}

/// A fresh, empty database of the kind asked for; returns its URL.
pub async fn fresh_database(db: Db) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    match db {
        Db::Sqlite => {
            // scripts/test gives a folder that it removes at the end.
            let dir = std::env::var_os("WHARF_TEST_TMP").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
            let path = dir.join(format!("wharf-test-{id}.db"));
            format!("sqlite://{}?mode=rwc", path.display())
        }
        Db::Postgres => fresh_pg_database(&env("WHARF_TEST_PG_URL")).await,
    }
}

/// A new, empty database on the PostgreSQL server at `admin_url`; returns its URL.
pub async fn fresh_pg_database(admin_url: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let conn = Database::connect(admin_url).await.expect("connect to the test PostgreSQL server");
    let name = format!("wharf_test_{id}");
    conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create a test database");
    conn.close().await.ok();
    let (base, _) = admin_url.rsplit_once('/').expect("a database URL with a path");
    format!("{base}/{name}")
}

/// Live views one user may hold open at once (`services::requests::feed`).
pub const MAX_STREAMS_PER_USER: usize = wharf::services::requests::feed::MAX_STREAMS_PER_USER;

/// The key every Wharf of the suite seals secrets with (replicas on one database need the same).
pub fn test_key_file() -> String {
    let dir = std::env::var_os("WHARF_TEST_TMP").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
    dir.join("wharf-test.key").display().to_string()
}

pub struct TestApp {
    pub address: String,
}

/// Options beyond the defaults, as configuration keys (`{"login": {"max_failures": 3}}`).
pub async fn spawn_app_with(db: Db, extra: Value) -> TestApp {
    LazyLock::force(&LOGGING);
    let database_url = fresh_database(db).await;
    let mut config = json!({
        "bind": "127.0.0.1:0",
        "database_url": database_url,
        "workers": 2,
        "log": "info",
        // Tests publish their own blueprints and register their own hosts.
        "catalog_dir": "/nonexistent/wharf-test-catalog",
        "secret_key_file": test_key_file(),
        "hosts": {"register_local": false, "health_interval_secs": 1},
        // One pool network per host: the pool is used by every test, and each test app leaves
        // little on the shared daemons. The test containers' first processes (sleep, httpd,
        // sh) do not exit on SIGTERM: a stop waits 1 s for them, not 10. A failed pull is tried
        // again after 50 ms, not 2 s.
        "engine": {"lease_secs": 5, "workers": 4, "health_timeout_secs": 60, "network_pool": 1, "stop_timeout_secs": 1, "pull_retry_ms": 50},
    });
    // `extra` wins, a section's keys one by one (`{"engine": {"network_pool": 2}}` keeps the
    // other engine settings above).
    if let (Some(base), Some(more)) = (config.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            match (base.get_mut(k).and_then(Value::as_object_mut), v.as_object()) {
                (Some(section), Some(keys)) => section.extend(keys.iter().map(|(k, v)| (k.clone(), v.clone()))),
                _ => {
                    base.insert(k.clone(), v.clone());
                }
            }
        }
    }
    let settings = Settings::from_figment(Figment::new().merge(Serialized::defaults(config))).expect("test settings");
    let app = Application::build(settings).await.expect("build the app");
    bootstrap::ensure_admin(app.db(), Some(&Secret::new(ADMIN_PASSWORD))).await.expect("first admin");
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    TestApp { address: format!("http://127.0.0.1:{port}") }
}

pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, json!({})).await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A client with no credentials that does not follow redirects.
    pub fn anonymous(&self) -> Api {
        Api { base: self.address.clone(), client: plain_client(HeaderMap::new()) }
    }

    /// An API token for `username` through `POST /api/v1/auth/token`.
    pub async fn token(&self, username: &str, password: &str) -> String {
        let res = self.anonymous().auth_token(username, password).await;
        assert_eq!(res.status(), StatusCode::CREATED, "token for {username}");
        let body: Value = res.json().await.expect("token body");
        body["token"].as_str().expect("token").to_string()
    }

    pub async fn api_as(&self, username: &str, password: &str) -> Api {
        let token = self.token(username, password).await;
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).expect("header"));
        Api { base: self.address.clone(), client: plain_client(headers) }
    }

    pub async fn admin(&self) -> Api {
        self.api_as("admin", ADMIN_PASSWORD).await
    }

    /// A browser: keeps cookies, does not follow redirects.
    pub fn browser(&self) -> Browser {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let client = Client::builder()
            .cookie_provider(jar.clone())
            .redirect(redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        Browser { base: self.address.clone(), client, jar }
    }

    /// The demo-style organisation used by many tests: `team-a` with `dev` (member) and
    /// `lead` (manager), created through the API. Passwords are `<name>-password-1`.
    pub async fn seed_team(&self) -> Api {
        let admin = self.admin().await;
        assert_eq!(admin.create_group(&json!({"name": "team-a"})).await.status(), StatusCode::CREATED);
        for (name, role) in [("dev", "member"), ("lead", "manager")] {
            let res = admin.create_user(&json!({"username": name, "password": password_of(name)})).await;
            assert_eq!(res.status(), StatusCode::CREATED);
            let res = admin.set_member("team-a", name, role).await;
            assert_eq!(res.status(), StatusCode::OK);
        }
        admin
    }
}

pub fn password_of(name: &str) -> String {
    format!("{name}-password-1")
}

fn plain_client(headers: HeaderMap) -> Client {
    Client::builder().redirect(redirect::Policy::none()).default_headers(headers).pool_max_idle_per_host(0).build().expect("client")
}

/// A JSON API client (anonymous or with a Bearer token).
pub struct Api {
    base: String,
    client: Client,
}

impl Api {
    /// The client itself, for requests the helpers do not make (other headers, streams).
    pub fn client(&self) -> &Client {
        &self.client
    }
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(format!("{}{path}", self.base)).send().await.expect("request")
    }
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client.post(format!("{}{path}", self.base)).json(body).send().await.expect("request")
    }
    /// A POST whose connection may break (the server killed while it answers).
    pub async fn try_post(&self, path: &str, body: &Value) -> Result<Response, reqwest::Error> {
        self.client.post(format!("{}{path}", self.base)).json(body).send().await
    }
    pub async fn post_raw(&self, path: &str, body: &str) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request")
    }
    pub async fn client_post_yaml(&self, path: &str, yaml: &str) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/yaml")
            .body(yaml.to_string())
            .send()
            .await
            .expect("request")
    }
    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.client.put(format!("{}{path}", self.base)).json(body).send().await.expect("request")
    }
    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.client.patch(format!("{}{path}", self.base)).json(body).send().await.expect("request")
    }
    pub async fn delete(&self, path: &str) -> Response {
        self.client.delete(format!("{}{path}", self.base)).send().await.expect("request")
    }
    pub async fn json(&self, path: &str) -> Value {
        let res = self.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.expect("json")
    }
}

// Test clients keep no idle connection (`pool_max_idle_per_host(0)`): a request never goes out
// on a connection the server is closing at that moment, or one to a server the fault suite has
// stopped (hyper fails those with `IncompleteMessage`; a 2 s idle limit still let one through).

/// A browser session: cookies kept, redirects not followed, CSRF tokens read from pages.
pub struct Browser {
    base: String,
    pub client: Client,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
}

impl Browser {
    /// The `Cookie` header this browser sends to Wharf (for a WebSocket opened beside it).
    pub fn cookie_header(&self) -> String {
        use reqwest::cookie::CookieStore;
        let url = self.base.parse().expect("the app's address");
        self.jar.cookies(&url).and_then(|v| v.to_str().ok().map(str::to_string)).unwrap_or_default()
    }
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(format!("{}{path}", self.base)).send().await.expect("request")
    }
    pub async fn page(&self, path: &str) -> (StatusCode, String) {
        let res = self.get(path).await;
        let status = res.status();
        (status, res.text().await.expect("body"))
    }
    /// The CSRF token that the forms of `path` carry.
    pub async fn csrf_token(&self, path: &str) -> String {
        let (_, html) = self.page(path).await;
        csrf_in(&html).unwrap_or_else(|| panic!("no csrf_token on {path}"))
    }
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client.post(format!("{}{path}", self.base)).form(fields).send().await.expect("request")
    }
    /// Posts a form with the CSRF token of the page `from`.
    pub async fn submit(&self, from: &str, path: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf_token(from).await;
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post_form(path, &all).await
    }
    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.submit("/login", "/login", &[("username", username), ("password", password)]).await
    }
    pub async fn login_ok(&self, username: &str, password: &str) {
        let res = self.login(username, password).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "login of {username}");
    }
}

pub fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

/// The `error.code` of an API error body.
pub async fn error_code(res: Response) -> String {
    let body: Value = res.json().await.expect("error body is JSON");
    body["error"]["code"].as_str().expect("error.code").to_string()
}

// ----- Docker test hosts --------------------------------------------------------------------

/// The endpoints of the test daemons that scripts/test starts: [unix socket, tcp].
pub fn docker_hosts() -> Vec<String> {
    env("WHARF_TEST_DOCKER_HOSTS").split(',').map(str::to_string).collect()
}

pub fn test_image() -> String {
    env("WHARF_TEST_IMAGE")
}

/// Runs the docker CLI against a test host; returns stdout, panics with stderr on failure.
pub fn docker(endpoint: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("docker").arg("-H").arg(endpoint).args(args).output().expect("run the docker CLI");
    assert!(out.status.success(), "docker {args:?} on {endpoint}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What Wharf left on a host for a deployment: containers, networks and volumes by label, and
/// the pool network its containers joined (`deployment_networks`).
pub fn leftovers(endpoint: &str, deployment: &str) -> Vec<String> {
    let filter = format!("label=io.wharf.deployment={deployment}");
    let mut out = Vec::new();
    for (kind, args) in [
        ("container", vec!["ps", "-a", "-q", "--filter", filter.as_str()]),
        ("volume", vec!["volume", "ls", "-q", "--filter", filter.as_str()]),
    ] {
        for line in docker(endpoint, &args).lines().filter(|l| !l.trim().is_empty()) {
            out.push(format!("{kind} {line}"));
        }
    }
    out.extend(deployment_networks(endpoint, deployment).into_iter().map(|n| format!("network {n}")));
    out
}

/// A deployment's networks on a host (ids): those labelled with it (made for it), and a pool
/// network (`io.wharf.pool`, no deployment label) that its containers name in `io.wharf.network`.
pub fn deployment_networks(endpoint: &str, deployment: &str) -> Vec<String> {
    let filter = format!("label=io.wharf.deployment={deployment}");
    let mut ids: Vec<String> = docker(endpoint, &["network", "ls", "-q", "--no-trunc", "--filter", &filter])
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let named = docker(endpoint, &["ps", "-a", "--filter", &filter, "--format", "{{.Label \"io.wharf.network\"}}"]);
    let named: std::collections::BTreeSet<&str> = named.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    for name in named {
        let out = std::process::Command::new("docker")
            .args(["-H", endpoint, "network", "inspect", "-f", "{{.Id}} {{index .Labels \"io.wharf.pool\"}}", name])
            .output()
            .expect("run the docker CLI");
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some((id, "true")) = text.trim().split_once(' ')
            && !ids.iter().any(|i| i == id)
        {
            ids.push(id.to_string());
        }
    }
    ids
}

/// Polls `check` until it returns Some, or panics with `what` after `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

impl TestApp {
    /// Registers both test hosts (as `h1`, unix socket, and `h2`, tcp) and waits until both are up.
    pub async fn register_test_hosts(&self, admin: &Api) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let publish: Vec<String> = env("WHARF_TEST_PUBLISH_ADDRESSES").split(',').map(str::to_string).collect();
        for (i, endpoint) in docker_hosts().into_iter().enumerate() {
            let name = format!("h{}", i + 1);
            let body = json!({"name": name, "endpoint": endpoint, "labels": {"n": (i + 1).to_string()}, "publish_address": publish[i]});
            let res = admin.register_host(&body).await;
            assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
            out.push((name, endpoint));
        }
        out
    }

    /// Destroys deployments (all at once, so the engine works on them together) and checks
    /// that nothing of them is left on any test host.
    pub async fn destroy_all(&self, admin: &Api, ids: &[String], hosts: &[(String, String)]) {
        for id in ids {
            let res = admin.deployment_action(id, "destroy").await;
            assert_eq!(res.status(), StatusCode::ACCEPTED, "destroy {id}");
        }
        for id in ids {
            self.wait_deployment(admin, id, &["destroyed"], 60).await;
            for (_, endpoint) in hosts {
                assert_eq!(leftovers(endpoint, id), Vec::<String>::new(), "{id} left things on {endpoint}");
            }
        }
    }

    /// Polls a deployment until its status is one of `states`.
    pub async fn wait_deployment(&self, admin: &Api, id: &str, states: &[&str], secs: u64) -> Value {
        eventually(secs, &format!("deployment {id} to be {states:?}"), || async {
            let d = admin.get_deployment_ok(id).await;
            states.contains(&d["status"].as_str().unwrap_or_default()).then_some(d)
        })
        .await
    }
}

// ----- the wharf binary as a process ----------------------------------------------------------

/// A `wharf` command with a clean environment: no WHARF_* from the caller, run from a folder
/// without wharf.toml.
pub fn wharf_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wharf"));
    for (k, _) in std::env::vars() {
        if k.starts_with("WHARF_") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(std::env::temp_dir()).env("RUST_LOG", "warn").env("WHARF_SECRET_KEY_FILE", test_key_file());
    cmd
}

/// A running `wharf serve`, killed when dropped.
pub struct Served {
    pub child: std::process::Child,
    pub base: String,
    /// Every line it printed on stdout before it was ready.
    pub printed: Vec<String>,
}

impl Served {
    /// Stops it as an operator would (SIGTERM), and waits for it to exit (killed after 30 s).
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        self.child.wait().expect("wait")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `wharf serve` with `args` and `envs`, and waits for "Wharf is ready at".
pub fn serve(args: &[&str], envs: &[(&str, &str)]) -> Served {
    serve_to(args, envs, std::process::Stdio::null())
}

/// `serve`, with what the process logs (standard error) written to `log`.
pub fn serve_logged(args: &[&str], envs: &[(&str, &str)], log: &std::path::Path) -> Served {
    serve_to(args, envs, std::fs::File::create(log).expect("create the log file").into())
}

fn serve_to(args: &[&str], envs: &[(&str, &str)], stderr: std::process::Stdio) -> Served {
    use std::io::BufRead;
    let mut cmd = wharf_command();
    cmd.args(["--bind", "127.0.0.1:0"]).args(args).stdout(std::process::Stdio::piped()).stderr(stderr);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start wharf");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut printed = Vec::new();
    while std::time::Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) else {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("wharf exited with {status}: {printed:?}");
            }
            continue;
        };
        if let Some(rest) = line.strip_prefix("Wharf is ready at ") {
            let base = rest.trim_end_matches('/').to_string();
            return Served { child, base, printed };
        }
        printed.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("wharf did not become ready: {printed:?}");
}

impl Served {
    /// The app behind this process, as a TestApp, to use the same clients.
    pub fn app(&self) -> TestApp {
        TestApp { address: self.base.clone() }
    }
}

/// The body of a published port's page. A port may take a moment to accept connections after
/// the container reports running (on a loaded 2-core machine, seconds: one full run saw 5 s
/// pass), so this retries for up to 20 seconds before it fails.
pub async fn fetch_published(url: &str) -> String {
    let mut last = String::new();
    for _ in 0..200 {
        match reqwest::get(url).await {
            Ok(res) => return res.text().await.expect("a body"),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{url} did not answer: {last}");
}
