//! Wharf's benchmarks (run by bench/run, which starts the Docker hosts). Every figure is set
//! beside a baseline measured in the same run: the raw engine through bollard, or a static
//! file from the same server.
use std::collections::HashMap;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, EndpointSettings, NetworkCreateRequest, NetworkingConfig};
use bollard::query_parameters::{CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};
use serde_json::{Value, json};

const ADMIN_PASSWORD: &str = "bench-admin-password";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run bench/run"))
}

struct Server {
    child: Child,
    base: String,
    client: reqwest::Client,
    token: String,
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `wharf serve` on `db`; its log (warnings, and the inventory's full syncs) goes to a
/// file of its own in the bench's folder.
fn spawn(db: &str) -> (Child, String, Instant, std::path::PathBuf) {
    static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let log = std::path::PathBuf::from(format!("{}/server-{n}.log", env("WHARF_BENCH_TMP")));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    for (k, _) in std::env::vars() {
        if k.starts_with("WHARF_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.args(["--bind", "127.0.0.1:0", "--database-url", db, "serve"])
        .env("WHARF_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("WHARF_CATALOG_DIR", "/nonexistent")
        .env("WHARF_HOSTS__REGISTER_LOCAL", "false")
        .env("WHARF_LOG", std::env::var("WHARF_BENCH_LOG").unwrap_or_else(|_| "warn,wharf::engine::inventory=info".into()))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("the server's log file"));
    let started = Instant::now();
    let mut child = cmd.spawn().expect("start wharf");
    let stdout = child.stdout.take().expect("stdout");
    let mut base = String::new();
    for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("Wharf is ready at ") {
            base = rest.trim_end_matches('/').to_string();
            break;
        }
    }
    assert!(!base.is_empty(), "wharf did not start");
    (child, base, started, log)
}

fn fresh_db(name: &str) -> String {
    format!("sqlite://{}/{name}-{}.db?mode=rwc", env("WHARF_BENCH_TMP"), std::process::id())
}

async fn start_server_on(url: &str) -> Server {
    let (child, base, _, log) = spawn(url);
    let client = reqwest::Client::new();
    let token = token_for(&client, &base, "admin", ADMIN_PASSWORD).await;
    Server { child, base, client, token, log }
}

/// An API token of `username`.
async fn token_for(client: &reqwest::Client, base: &str, username: &str, password: &str) -> String {
    let res: Value = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    res["token"].as_str().unwrap_or_else(|| panic!("no token for {username}: {res}")).to_string()
}

impl Server {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }
    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert!(status < 300, "POST {path}: {status} {v}");
        v
    }
    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await.1
    }
    fn rss_mb(&self) -> f64 {
        rss_of(self.child.id())
    }
    /// The test hosts, labelled n=1 and n=2.
    async fn register_hosts(&self, hosts: &[String]) {
        for (i, endpoint) in hosts.iter().enumerate() {
            self.post("/api/v1/hosts", json!({"name": format!("h{}", i + 1), "endpoint": endpoint, "labels": {"n": (i + 1).to_string()}}))
                .await;
        }
    }
    /// Removes the hosts (their pools of networks go with them), for the next server.
    async fn forget_hosts(&self) {
        let hosts = self.get("/api/v1/hosts").await;
        for h in hosts.as_array().cloned().unwrap_or_default() {
            let (status, v) = self.call(reqwest::Method::DELETE, &format!("/api/v1/hosts/{}?force=true", h["id"]), None).await;
            assert!(status < 300, "removing host {}: {status} {v}", h["name"]);
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn docker(endpoint: &str) -> Docker {
    Docker::connect_with_unix(endpoint.trim_start_matches("unix://"), 120, bollard::API_DEFAULT_VERSION)
        .unwrap()
        .negotiate_version()
        .await
        .unwrap()
}

/// One raw create + start of `template` (the container Wharf made, see `same_container`), or of
/// a plain `sleep` when there is none: on `network` (a network of its own, as every Wharf
/// deployment has), or on the engine's default bridge.
async fn raw_create_start(d: &Docker, image: &str, name: &str, network: Option<&str>, template: Option<&ContainerCreateBody>) {
    let mut body = template.cloned().unwrap_or_else(|| ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec!["sleep".into(), "3600".into()]),
        labels: Some(HashMap::from([("io.wharf.bench".to_string(), "true".to_string())])),
        ..Default::default()
    });
    let mut host = body.host_config.take().unwrap_or_default();
    host.network_mode = Some(network.unwrap_or("bridge").to_string());
    body.host_config = Some(host);
    // The names Wharf gives a container on its network (its component's), on this one.
    let aliases = body.networking_config.take().and_then(|c| c.endpoints_config?.into_values().next()?.aliases);
    if let Some(n) = network {
        body.networking_config = Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(n.to_string(), EndpointSettings { aliases, ..Default::default() })])),
        });
    }
    let id = d.create_container(Some(CreateContainerOptionsBuilder::default().name(name).build()), body).await.unwrap().id;
    d.start_container(&id, None).await.unwrap();
}

/// The container Wharf made for `deployment`, as a body to create the same container with:
/// its image, command, environment, limits, capabilities, security options, restart policy and
/// network aliases; Wharf's labels swapped for the bench's (so that Wharf leaves it alone).
async fn same_container(d: &Docker, deployment: &str) -> ContainerCreateBody {
    let filters = HashMap::from([("label".to_string(), vec![format!("io.wharf.deployment={deployment}")])]);
    let list = d.list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&filters).build())).await.unwrap();
    let id = list.first().and_then(|c| c.id.clone()).expect("Wharf's container");
    let c = d.inspect_container(&id, None).await.unwrap();
    let config = c.config.unwrap_or_default();
    let aliases = c
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|n| n.into_values().next())
        .and_then(|e| e.aliases)
        .map(|a| a.into_iter().filter(|x| !id.starts_with(x.as_str())).collect::<Vec<_>>());
    ContainerCreateBody {
        image: config.image,
        cmd: config.cmd,
        entrypoint: config.entrypoint,
        env: config.env,
        labels: Some(HashMap::from([("io.wharf.bench".to_string(), "true".to_string())])),
        tty: config.tty,
        open_stdin: config.open_stdin,
        working_dir: config.working_dir,
        user: config.user,
        healthcheck: config.healthcheck,
        host_config: c.host_config,
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([("wharf".to_string(), EndpointSettings { aliases, ..Default::default() })])),
        }),
        ..Default::default()
    }
}

/// A bridge network, as Wharf makes one for a deployment.
async fn raw_network(d: &Docker, name: &str) {
    let request = NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".into()),
        labels: Some(HashMap::from([("io.wharf.bench".to_string(), "true".to_string())])),
        ..Default::default()
    };
    d.create_network(request).await.unwrap();
}

/// Removes the containers and the networks of those names.
async fn remove_raw(d: &Docker, names: &[String]) {
    for n in names {
        let _ = d.remove_container(n, Some(RemoveContainerOptionsBuilder::default().force(true).build())).await;
        let _ = d.remove_network(n).await;
    }
}

/// Submits a request and waits until it succeeded, as the portal's request page learns it: on
/// the request's live timeline (server-sent events), not by polling (a client asking every few
/// milliseconds would take CPU from the engine it measures). Returns seconds and the request as
/// it was then (its timeline says where the time went).
async fn request_until_running(s: &Server, item: &str) -> (f64, Value) {
    let started = Instant::now();
    let r = s.post("/api/v1/requests", json!({"catalog_item": item, "group": "bench"})).await;
    let id = r["id"].as_str().unwrap().to_string();
    let mut res = s
        .client
        .get(format!("{}/requests/{id}/events", s.base))
        .bearer_auth(&s.token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the request's live timeline");
    let mut seen = String::new();
    let secs = loop {
        let Some(chunk) = res.chunk().await.unwrap() else {
            // Ended: the request was closed when the view opened (it says no change then).
            let secs = started.elapsed().as_secs_f64();
            let r = s.get(&format!("/api/v1/requests/{id}")).await;
            assert_eq!(r["status"], "succeeded", "the request's live timeline ended: {seen}");
            break secs;
        };
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if seen.contains("\"status\":\"succeeded\"") {
            break started.elapsed().as_secs_f64();
        }
        if seen.contains("\"status\":\"failed\"") || seen.contains("\"status\":\"rejected\"") {
            panic!("request failed: {seen}");
        }
    };
    drop(res);
    (secs, s.get(&format!("/api/v1/requests/{id}")).await)
}

/// Milliseconds between two kinds of entry on a request's timeline.
fn between(r: &Value, from: &str, to: &str) -> Option<f64> {
    let at = |kind: &str| {
        r["events"]
            .as_array()?
            .iter()
            .find(|e| e["kind"] == kind)
            .and_then(|e| e["at"].as_str()?.parse::<chrono::DateTime<chrono::Utc>>().ok())
    };
    Some((at(to)? - at(from)?).num_microseconds()? as f64 / 1000.0)
}

/// What the previous full run measured, by figure (the text before any parenthesis): its
/// Wharf column and its ratio.
fn previous_run(path: &str) -> HashMap<String, (String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| figure")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let strip = |c: &str| c.split(" (was ").next().unwrap_or(c).to_string();
        out.insert(figure_key(cells[0]), (strip(cells[1]), strip(cells[cells.len() - 3])));
    }
    out
}

fn figure_key(figure: &str) -> String {
    figure.split(" (").next().unwrap_or(figure).trim().to_string()
}

async fn destroy_all(s: &Server) {
    let list = s.get("/api/v1/deployments?per_page=200&status=running").await;
    let ids: Vec<String> = list.as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_string()).collect();
    for id in &ids {
        s.post(&format!("/api/v1/deployments/{id}/actions"), json!({"action": "destroy"})).await;
    }
    for id in &ids {
        while s.get(&format!("/api/v1/deployments/{id}")).await["status"] != "destroyed" {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    if ids.len() == 200 {
        Box::pin(destroy_all(s)).await;
    }
}

struct Wrk {
    rps: f64,
    p99_ms: f64,
}

fn wrk(url: &str, token: Option<&str>, seconds: u32) -> Wrk {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", "-c32", &format!("-d{seconds}s"), "--latency", url]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd.output().expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text.lines().find_map(|l| l.strip_prefix("Requests/sec:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0);
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| {
            let v = v.trim();
            let (num, unit) = v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
            let n: f64 = num.parse().unwrap_or(0.0);
            match unit {
                "us" => n / 1000.0,
                "s" => n * 1000.0,
                _ => n,
            }
        })
        .unwrap_or(0.0);
    let non2xx = text.lines().any(|l| l.contains("Non-2xx"));
    assert!(!non2xx, "{url} answered errors under load:\n{text}");
    Wrk { rps, p99_ms: p99 }
}

struct Row {
    figure: String,
    wharf: String,
    baseline: String,
    ratio: String,
    target: String,
    met: bool,
}

fn row(figure: &str, wharf: String, baseline: String, ratio: Option<f64>, target: &str, met: bool) -> Row {
    Row {
        figure: figure.into(),
        wharf,
        baseline,
        ratio: ratio.map(|r| format!("{r:.2}")).unwrap_or_else(|| "—".into()),
        target: target.into(),
        met,
    }
}

/// How much of each figure a run takes.
struct Opts {
    sequential: usize,
    burst_n: usize,
    wrk_secs: u32,
    startups_n: usize,
}

/// The database a server runs on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Db {
    Sqlite,
    Postgres,
}

impl Db {
    /// What a figure measured on it starts with (nothing for SQLite, the default).
    fn prefix(self) -> &'static str {
        match self {
            Db::Sqlite => "",
            Db::Postgres => "PostgreSQL: ",
        }
    }
}

/// A fresh, empty database of that kind.
async fn fresh_url(db: Db, name: &str) -> String {
    match db {
        Db::Sqlite => fresh_db(name),
        Db::Postgres => {
            use sea_orm::ConnectionTrait;
            let admin = env("WHARF_BENCH_PG_URL");
            let conn = sea_orm::Database::connect(&admin).await.expect("connect to the bench's PostgreSQL");
            let database = format!("wharf_bench_{name}_{}", std::process::id()).replace('-', "_");
            conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {database}")).await.unwrap();
            conn.execute_unprepared(&format!("CREATE DATABASE {database}")).await.unwrap();
            let _ = conn.close().await;
            format!("{}/{database}", admin.rsplit_once('/').expect("a database URL").0)
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let started_all = Instant::now();
    // `bench/run --quick`: fewer samples and shorter loads, SQLite only, the table printed
    // beside the last full run's and not written.
    let mode = std::env::var("WHARF_BENCH_QUICK").unwrap_or_default();
    let quick = mode == "1" || mode == "all";
    // `--quick-all`: every section at the quick sizes (to try the whole bench while changing it).
    let every = !quick || mode == "all";
    let opts = if quick {
        Opts { sequential: 20, burst_n: 60, wrk_secs: 3, startups_n: 3 }
    } else {
        Opts { sequential: 50, burst_n: 200, wrk_secs: 10, startups_n: 5 }
    };
    let hosts: Vec<String> = env("WHARF_BENCH_HOSTS").split(',').map(str::to_string).collect();
    let image = env("WHARF_BENCH_IMAGE");
    let mut rows = Vec::new();

    let databases: &[Db] = if every { &[Db::Sqlite, Db::Postgres] } else { &[Db::Sqlite] };
    for &db in databases {
        startup_figures(&opts, db, &mut rows).await;
    }
    for &db in databases {
        let url = fresh_url(db, "bench").await;
        let run = figures(&opts, db, &url, &hosts, &image, &mut rows).await;
        if every {
            audit_figures(&opts, db, &run, &url, &mut rows).await;
        }
        if every && db == Db::Sqlite {
            live_view_figures(&run.server, &url, &mut rows).await;
            resync_figures(if quick { 100 } else { 500 }, &run.server, &url, &hosts[0], &image, &mut rows).await;
        }
        if every && db == Db::Postgres {
            replica_figures(&opts, &run, &url, &mut rows).await;
        }
        run.server.forget_hosts().await;
    }

    // ---- the table, each figure beside the previous full run's.
    let results = env("WHARF_BENCH_RESULTS");
    let before = previous_run(&results);
    let was = |now: &str, then: Option<&String>| match then {
        Some(t) if t != "—" && t != now => format!("{now} (was {t})"),
        _ => now.to_string(),
    };
    let mut table = String::from("| figure | Wharf | baseline | ratio | target | met |\n|---|---|---|---|---|---|\n");
    for r in &rows {
        let prev = before.get(&figure_key(&r.figure));
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.figure,
            was(&r.wharf, prev.map(|p| &p.0)),
            r.baseline,
            was(&r.ratio, prev.map(|p| &p.1)),
            r.target,
            if r.met { "yes" } else { "**no**" }
        ));
    }
    println!("\n{table}");
    if quick {
        println!("(quick run: {} is left as it was)", results);
        return;
    }
    let machine = machine();
    let doc = format!(
        "# Wharf benchmarks\n\nWritten by `bench/run` on {} in {:.0} s.\n\n{machine}\n\n{table}\n{NOTES}\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        started_all.elapsed().as_secs_f64()
    );
    std::fs::write(&results, doc).expect("write bench/RESULTS.md");
}

/// What RESULTS.md says under the table.
const NOTES: &str = "Each figure shows the previous full run's value as \"(was …)\" where it changed. Baselines are measured in the same run: the raw Docker Engine through bollard (create + start of the same container on the same host — the configuration Wharf gave its own, copied from the engine: limits, capabilities, security options, restart policy, network aliases — on a network of its own; for the burst, its network made too, with the engine's concurrency), a static file served by the same Wharf process, or Wharf itself in a simpler state (one replica, no live views open). HTTP figures are `wrk -t2 -c32 -d10s` on loopback, on the same two cores as the server. Figures headed \"PostgreSQL:\" ran against a local PostgreSQL server (fsync off, as in the tests) on the same machine; the others on SQLite. Memory is the server's resident set (VmRSS).";

/// Start-up: process start to a ready /readyz on a fresh database (median of a few).
async fn startup_figures(opts: &Opts, db: Db, rows: &mut Vec<Row>) {
    let mut startups = Vec::new();
    for i in 0..opts.startups_n {
        let url = fresh_url(db, &format!("startup{i}")).await;
        let (mut child, base, started, _) = spawn(&url);
        let client = reqwest::Client::new();
        while !client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        startups.push(started.elapsed().as_secs_f64());
        let _ = child.kill();
        let _ = child.wait();
    }
    startups.sort_by(f64::total_cmp);
    let startup = percentile(&startups, 0.5);
    let what = match db {
        Db::Sqlite => "fresh SQLite",
        Db::Postgres => "fresh database",
    };
    rows.push(row(
        &format!("{}start-up to ready ({what}), median of {}", db.prefix(), opts.startups_n),
        format!("{:.0} ms", startup * 1000.0),
        "—".into(),
        None,
        "≤ 1 s",
        startup <= 1.0,
    ));
}

/// What the core figures leave for the others: the server (hosts, catalog and 10,000
/// deployment rows in place), the static file's figures and the single-replica burst.
struct Run {
    server: Arc<Server>,
    static_w: Wrk,
    burst_secs: f64,
}

/// The core figures on one database: idle memory, provisioning against the raw engine, the
/// burst, memory per running deployment, and the HTTP figures.
async fn figures(opts: &Opts, db: Db, url: &str, hosts: &[String], image: &str, rows: &mut Vec<Row>) -> Run {
    let p = db.prefix();
    let s = start_server_on(url).await;
    s.register_hosts(hosts).await;
    let bp = format!(
        "id: bench\nname: Bench\nversion: 1\ncategory: Bench\ncomponents:\n  app:\n    image: {image}\n    command: [\"sleep\", \"3600\"]\n"
    );
    let res = s
        .client
        .post(format!("{}/api/v1/blueprints", s.base))
        .bearer_auth(&s.token)
        .header("content-type", "application/yaml")
        .body(bp)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    s.post("/api/v1/groups", json!({"name": "bench"})).await;
    s.call(reqwest::Method::PUT, "/api/v1/groups/bench/members/admin", Some(json!({"role": "member"}))).await;
    s.post("/api/v1/catalog-items", json!({"id": "bench-h1", "name": "Bench on h1", "category": "Bench", "blueprint": "bench", "host_selector": {"n": "1"}, "lease": {"default_days": 1, "max_days": 1}})).await;
    s.post(
        "/api/v1/catalog-items",
        json!({"id": "bench", "name": "Bench", "category": "Bench", "blueprint": "bench", "lease": {"default_days": 1, "max_days": 1}}),
    )
    .await;
    s.post("/api/v1/entitlements", json!({"group": "bench", "categories": ["Bench"], "actions": ["destroy"]})).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = s.rss_mb();
    rows.push(row(&format!("{p}resident memory, idle"), format!("{idle_rss:.1} MB"), "—".into(), None, "≤ 40 MB", idle_rss <= 40.0));

    // ---- provisioning latency: in sequence, each Wharf request followed by a raw create +
    // start of the same container on the same host (so both see the same number of containers
    // there): on a network of its own made beforehand — the same container, isolated as
    // Wharf's are, whose network Wharf's pool made beforehand too — and, for comparison, on
    // the engine's default bridge, where containers of different deployments would reach each
    // other.
    let d1 = docker(&hosts[0]).await;
    let mut ours = Vec::new();
    let (mut raw, mut raw_bridge) = (Vec::new(), Vec::new());
    let mut names = Vec::new();
    let (mut to_start, mut to_run) = (Vec::new(), Vec::new());
    // A pause before each measurement: what one left in its wake (the pool's filler, the
    // inventory's look at new containers) does not land on the next.
    let settle = || tokio::time::sleep(Duration::from_millis(300));
    let mut template = None;
    for i in 0..opts.sequential {
        settle().await;
        let (secs, r) = request_until_running(&s, "bench-h1").await;
        ours.push(secs);
        if template.is_none() {
            template = Some(same_container(&d1, r["deployment_id"].as_str().unwrap()).await);
        }
        to_start.extend(between(&r, "submitted", "provisioning"));
        to_run.extend(between(&r, "provisioning", "succeeded"));
        let name = format!("bench-raw-{}-{i}", std::process::id());
        raw_network(&d1, &name).await;
        settle().await;
        let t = Instant::now();
        raw_create_start(&d1, image, &name, Some(&name), template.as_ref()).await;
        raw.push(t.elapsed().as_secs_f64());
        let bridged = format!("bench-bridge-{}-{i}", std::process::id());
        settle().await;
        let t = Instant::now();
        raw_create_start(&d1, image, &bridged, None, None).await;
        raw_bridge.push(t.elapsed().as_secs_f64());
        names.push(name);
        names.push(bridged);
    }
    remove_raw(&d1, &names).await;
    destroy_all(&s).await;
    for v in [&mut ours, &mut raw, &mut raw_bridge, &mut to_start, &mut to_run] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "{p}provisioning, median: submitted → provisioning {:.1} ms, provisioning → succeeded {:.1} ms (of {:.1} ms end to end; raw {:.1} ms, on the default bridge {:.1} ms)",
        percentile(&to_start, 0.5),
        percentile(&to_run, 0.5),
        percentile(&ours, 0.5) * 1000.0,
        percentile(&raw, 0.5) * 1000.0,
        percentile(&raw_bridge, 0.5) * 1000.0
    );
    let (p50, p95, r50, r95) = (percentile(&ours, 0.5), percentile(&ours, 0.95), percentile(&raw, 0.5), percentile(&raw, 0.95));
    let b50 = percentile(&raw_bridge, 0.5);
    rows.push(row(
        &format!("{p}provisioning latency p50 (request → running, n={})", opts.sequential),
        format!("{:.0} ms", p50 * 1000.0),
        format!("{:.0} ms raw, on its own network", r50 * 1000.0),
        Some(p50 / r50),
        "ratio ≤ 1.15",
        p50 / r50 <= 1.15,
    ));
    rows.push(row(
        &format!("{p}provisioning latency p95"),
        format!("{:.0} ms", p95 * 1000.0),
        format!("{:.0} ms", r95 * 1000.0),
        Some(p95 / r95),
        "—",
        true,
    ));
    rows.push(row(
        &format!("{p}provisioning latency p50 against the default bridge"),
        format!("{:.0} ms", p50 * 1000.0),
        format!("{:.0} ms raw, a plain container on the default bridge", b50 * 1000.0),
        Some(p50 / b50),
        "—",
        true,
    ));

    // ---- burst: requests at once over both hosts, against as many raw create + start with the
    // engine's concurrency (4 workers), alternating hosts. The server's memory before and with
    // every deployment of the burst running gives its memory per running deployment.
    let s = Arc::new(s);
    let before_burst = s.rss_mb();
    let (burst, succeeded, failed) = burst_over(std::slice::from_ref(&s), opts.burst_n, &s).await;
    let during_burst = s.rss_mb();
    let d2 = docker(&hosts[1]).await;
    let daemons = Arc::new([d1, d2]);
    let sem = Arc::new(tokio::sync::Semaphore::new(4));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..opts.burst_n {
        let (daemons, sem, image, template) = (daemons.clone(), sem.clone(), image.to_string(), template.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            // Its network made in the burst too: with hundreds of requests, most of Wharf's
            // are made then as well (the pool holds a few).
            let name = format!("bench-burst-{}-{i}", std::process::id());
            raw_network(&daemons[i % 2], &name).await;
            raw_create_start(&daemons[i % 2], &image, &name, Some(&name), template.as_ref()).await;
            (i % 2, name)
        }));
    }
    let mut made: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    for task in tasks {
        let (h, n) = task.await.unwrap();
        made[h].push(n);
    }
    let raw_burst = t.elapsed().as_secs_f64();
    remove_raw(&daemons[0], &made[0]).await;
    remove_raw(&daemons[1], &made[1]).await;
    rows.push(row(
        &format!("{p}burst: {} requests over 2 hosts ({succeeded} ran, {failed} failed)", opts.burst_n),
        format!("{burst:.1} s"),
        format!("{raw_burst:.1} s"),
        Some(burst / raw_burst),
        "ratio ≤ 1.25, none lost",
        burst / raw_burst <= 1.25 && succeeded == opts.burst_n,
    ));
    let per_1000 = (during_burst - before_burst).max(0.0) / succeeded.max(1) as f64 * 1000.0;
    rows.push(row(
        &format!("{p}resident memory per 1,000 running deployments (the burst's, one container each)"),
        format!("{per_1000:.1} MB"),
        format!("{before_burst:.1} MB before the burst, {during_burst:.1} MB with its {succeeded} running"),
        None,
        "—",
        true,
    ));
    destroy_all(&s).await;

    // ---- HTTP: 50 catalog items, 10,000 deployments, against a static file.
    for i in 0..48 {
        s.post("/api/v1/catalog-items", json!({"id": format!("item-{i}"), "name": format!("Item {i}"), "category": "Bench", "blueprint": "bench", "lease": {"default_days": 1, "max_days": 1}})).await;
    }
    insert_deployments(url, 0, 10_000, "destroyed", None, &[1], None).await;
    let sampler = Peak::sample(s.child.id());
    let base = s.base.clone();
    let token = s.token.clone();
    let secs = opts.wrk_secs;
    let (static_w, catalog_w, page_w, list_w) = tokio::task::spawn_blocking(move || {
        let st = wrk(&format!("{base}/static/css/wharf.css"), None, secs);
        let cat = wrk(&format!("{base}/api/v1/catalog"), Some(&token), secs);
        let page = wrk(&format!("{base}/catalog"), Some(&token), secs);
        let list = wrk(&format!("{base}/api/v1/deployments"), Some(&token), secs);
        (st, cat, page, list)
    })
    .await
    .unwrap();
    let peak = sampler.stop().max(s.rss_mb());
    let cat_ratio = catalog_w.rps / static_w.rps;
    rows.push(row(
        &format!("{p}HTTP: GET /api/v1/catalog (50 items), requests/s"),
        format!("{:.0}/s (p99 {:.1} ms)", catalog_w.rps, catalog_w.p99_ms),
        format!("{:.0}/s static file (p99 {:.1} ms)", static_w.rps, static_w.p99_ms),
        Some(cat_ratio),
        "≥ 0.50 of the static file",
        cat_ratio >= 0.5,
    ));
    rows.push(row(
        &format!("{p}HTTP: the catalog page, requests/s"),
        format!("{:.0}/s (p99 {:.1} ms)", page_w.rps, page_w.p99_ms),
        format!("{:.0}/s static file", static_w.rps),
        Some(page_w.rps / static_w.rps),
        "—",
        true,
    ));
    rows.push(p99_row(&format!("{p}HTTP: deployments list, 10,000 rows, p99"), &list_w, &static_w, "p99 < 50 ms", list_w.p99_ms < 50.0));
    rows.push(row(
        &format!("{p}resident memory, peak under the HTTP load"),
        format!("{peak:.1} MB"),
        "—".into(),
        None,
        "≤ 150 MB",
        peak <= 150.0,
    ));
    Run { server: s, static_w, burst_secs: burst }
}

/// Submits `n` requests at once, spread over `servers` in turn, and waits until every one
/// ended (asking `watch`); returns seconds, how many succeeded and how many failed.
async fn burst_over(servers: &[Arc<Server>], n: usize, watch: &Server) -> (f64, usize, usize) {
    let t = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let s = servers[i % servers.len()].clone();
        tasks.push(tokio::spawn(async move {
            s.post("/api/v1/requests", json!({"catalog_item": "bench", "group": "bench"})).await["id"].as_str().unwrap().to_string()
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap());
    }
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut ended = (0, 0);
        let mut page = 1;
        loop {
            let list = watch.get(&format!("/api/v1/requests?per_page=200&page={page}")).await;
            let list = list.as_array().cloned().unwrap_or_default();
            for r in list.iter().filter(|r| ids.contains(r["id"].as_str().unwrap_or_default())) {
                match r["status"].as_str().unwrap_or_default() {
                    "succeeded" => ended.0 += 1,
                    "failed" | "rejected" | "cancelled" => ended.1 += 1,
                    _ => {}
                }
            }
            if list.len() < 200 || page * 200 >= n + 200 {
                break;
            }
            page += 1;
        }
        if ended.0 + ended.1 >= n {
            return (t.elapsed().as_secs_f64(), ended.0, ended.1);
        }
        assert!(t.elapsed() < Duration::from_secs(900), "the burst did not finish");
    }
}

/// The audit log with 1,000,000 rows (a year of a busy installation: 100 actors, a dozen kinds
/// of action, spread over 300 days): one actor's deployment events of the last week, and the
/// newest page unfiltered, against the static file.
async fn audit_figures(opts: &Opts, db: Db, run: &Run, url: &str, rows: &mut Vec<Row>) {
    use sea_orm::ConnectionTrait;
    let p = db.prefix();
    let conn = wharf::store::connect(&wharf::config::DatabaseUrl::parse(url).unwrap()).await.unwrap();
    let t = Instant::now();
    let actions = "'deployment.running','deployment.stopped','deployment.destroy','deployment.lease','request.submit','request.approve','login','login.failed','token.create','deployment.create','deployment.drifted','user.create'";
    let sql = match db {
        Db::Sqlite => format!(
            "INSERT INTO audit_log (at, actor, action, target, details) \
             WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) \
             SELECT strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-' || ((1000000 - x) * 26) || ' seconds'), \
                    'user-' || (x % 100), json_extract(json_array({actions}), '$[' || ((x / 100) % 12) || ']'), \
                    'deployment:bench' || (x % 20000), '{{}}' FROM c"
        ),
        Db::Postgres => format!(
            "INSERT INTO audit_log (at, actor, action, target, details) \
             SELECT now() - ((1000000 - x) * 26) * interval '1 second', 'user-' || (x % 100), \
                    (ARRAY[{actions}])[((x / 100) % 12) + 1], 'deployment:bench' || (x % 20000), '{{}}' \
             FROM generate_series(1, 1000000) AS x"
        ),
    };
    conn.execute_unprepared(&sql).await.expect("fill the audit log");
    if db == Db::Postgres {
        conn.execute_unprepared("ANALYZE audit_log").await.unwrap();
    }
    println!("{p}audit log: 1,000,000 rows written in {:.1} s", t.elapsed().as_secs_f64());
    let _ = conn.close().await;
    let since = (chrono::Utc::now() - chrono::Duration::days(7)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let base = run.server.base.clone();
    let token = run.server.token.clone();
    let secs = opts.wrk_secs;
    let (filtered, newest) = tokio::task::spawn_blocking(move || {
        let filtered = wrk(&format!("{base}/api/v1/audit?actor=user-7&action=deployment&since={since}"), Some(&token), secs);
        let newest = wrk(&format!("{base}/api/v1/audit"), Some(&token), secs);
        (filtered, newest)
    })
    .await
    .unwrap();
    let st = &run.static_w;
    rows.push(p99_row(
        &format!("{p}HTTP: audit log, 1,000,000 rows, one actor's deployment events of a week, p99"),
        &filtered,
        st,
        "—",
        true,
    ));
    rows.push(p99_row(&format!("{p}HTTP: audit log, 1,000,000 rows, newest page, p99"), &newest, st, "—", true));
}

/// A p99 (with the rate) beside the static file's p99.
fn p99_row(figure: &str, w: &Wrk, st: &Wrk, target: &str, met: bool) -> Row {
    row(
        figure,
        format!("{:.1} ms ({:.0}/s)", w.p99_ms, w.rps),
        format!("{:.1} ms static file", st.p99_ms),
        Some(w.p99_ms / st.p99_ms.max(0.001)),
        target,
        met,
    )
}

/// 500 live views of deployments (server-sent events) over 63 users (8 each, the per-user cap),
/// then a lease change on each deployment (one event per view): the server's CPU and memory
/// with the views open and while the events flow, against the same server with none open.
async fn live_view_figures(s: &Server, url: &str, rows: &mut Vec<Row>) {
    const VIEWS: usize = 500;
    const PER_USER: usize = 8;
    let users = VIEWS.div_ceil(PER_USER);
    let mut tokens = Vec::new();
    for u in 0..users {
        let name = format!("viewer-{u}");
        let password = format!("{name}-password-1");
        s.post("/api/v1/users", json!({"username": name, "password": password})).await;
        tokens.push(token_for(&s.client, &s.base, &name, &password).await);
    }
    // The viewers' deployments, straight into the database (running, on no host: the
    // inventory leaves them alone).
    let conn = wharf::store::connect(&wharf::config::DatabaseUrl::parse(url).unwrap()).await.unwrap();
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use wharf::store::entities::user;
    let mut owners = Vec::new();
    for u in 0..users {
        let found = user::Entity::find().filter(user::Column::Username.eq(format!("viewer-{u}"))).one(&conn).await.unwrap().unwrap();
        owners.push(found.id);
    }
    let _ = conn.close().await;
    let owner_of: Vec<i64> = (0..VIEWS).map(|i| owners[i / PER_USER]).collect();
    // Leases far from their end: no warning is due while the figure is taken.
    insert_deployments(url, 100_000, VIEWS, "running", Some(chrono::Utc::now() + chrono::Duration::days(30)), &owner_of, None).await;
    let pid = s.child.id();
    let quiet = cpu_use(pid, Duration::from_secs(5)).await;
    let rss_none = s.rss_mb();
    let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut views = Vec::new();
    for i in 0..VIEWS {
        let (client, base, token, received, opened) =
            (s.client.clone(), s.base.clone(), tokens[i / PER_USER].clone(), received.clone(), opened.clone());
        let id = format!("bench{:07}", 100_000 + i);
        views.push(tokio::spawn(async move {
            let mut res = client
                .get(format!("{base}/deployments/{id}/events"))
                .bearer_auth(token)
                .header("accept", "text/event-stream")
                .send()
                .await
                .unwrap();
            if res.status() != 200 {
                eprintln!("a live view of {id}: {}", res.status());
                return;
            }
            opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // Each view sees its deployment's lease set once (and nothing else happens to it).
            while let Ok(Some(chunk)) = res.chunk().await {
                let text = String::from_utf8_lossy(&chunk);
                received.fetch_add(text.matches("set the lease to end on").count(), std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let open_views = opened.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(open_views, VIEWS, "every live view opened");
    let open = cpu_use(pid, Duration::from_secs(5)).await;
    let rss_open = s.rss_mb();
    // One lease change per deployment, 50 a second, as the admin.
    let t = Instant::now();
    let cpu_before = cpu_ticks(pid);
    let sampler = Peak::sample(pid);
    let until = (chrono::Utc::now() + chrono::Duration::days(25)).to_rfc3339();
    for i in 0..VIEWS {
        let id = format!("bench{:07}", 100_000 + i);
        let (status, v) =
            s.call(reqwest::Method::PUT, &format!("/api/v1/deployments/{id}/lease"), Some(json!({"expires_at": until}))).await;
        assert!(status < 300, "lease of {id}: {status} {v}");
        let due = Duration::from_millis(20 * (i as u64 + 1));
        if let Some(wait) = due.checked_sub(t.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    let flowing = Instant::now();
    while received.load(std::sync::atomic::Ordering::Relaxed) < VIEWS && flowing.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    let flow_cpu = (cpu_ticks(pid) - cpu_before) as f64 / ticks_per_sec() / secs * 100.0;
    let peak = sampler.stop();
    let got = received.load(std::sync::atomic::Ordering::Relaxed);
    for v in views {
        v.abort();
    }
    rows.push(row(
        &format!("{VIEWS} live views (SSE) open, over {users} users: CPU, memory"),
        format!("{open:.1} % of a core, {rss_open:.1} MB"),
        format!("{quiet:.1} % of a core, {rss_none:.1} MB with none open"),
        None,
        "—",
        true,
    ));
    rows.push(row(
        &format!("{VIEWS} live views while {VIEWS} events flow (50/s): CPU, peak memory, events seen"),
        format!("{flow_cpu:.1} % of a core, {peak:.1} MB, {got} of {VIEWS} seen"),
        format!("{quiet:.1} % of a core, {rss_none:.1} MB with none open"),
        None,
        "every event seen",
        got == VIEWS,
    ));
}

/// The inventory's full resync of a host with `n` running containers (each a one-container
/// deployment, recorded straight into the database; on no network, so that the test daemon's
/// addresses do not limit their number), against as many inspections of those containers
/// through bollard, one after another (the least a resync must ask the engine).
async fn resync_figures(n: usize, s: &Server, url: &str, endpoint: &str, image: &str, rows: &mut Vec<Row>) {
    use sea_orm::{EntityTrait, Set};
    let hosts = s.get("/api/v1/hosts").await;
    let host = hosts.as_array().unwrap().iter().find(|h| h["name"] == "h1").and_then(|h| h["id"].as_i64()).expect("h1");
    let d = Arc::new(docker(endpoint).await);
    let sem = Arc::new(tokio::sync::Semaphore::new(4));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (d, sem, image) = (d.clone(), sem.clone(), image.to_string());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            let name = format!("bench-sync-{}-{i}", std::process::id());
            let body = ContainerCreateBody {
                image: Some(image),
                cmd: Some(vec!["sleep".into(), "3600".into()]),
                labels: Some(HashMap::from([("io.wharf.bench".to_string(), "true".to_string())])),
                host_config: Some(bollard::models::HostConfig { network_mode: Some("none".into()), ..Default::default() }),
                ..Default::default()
            };
            let id = d.create_container(Some(CreateContainerOptionsBuilder::default().name(&name).build()), body).await.unwrap().id;
            d.start_container(&id, None).await.unwrap();
            (name, id)
        }));
    }
    let mut made = Vec::new();
    for t in tasks {
        made.push(t.await.unwrap());
    }
    // The deployments and their containers in one transaction: a sync sees all or none.
    let conn = wharf::store::connect(&wharf::config::DatabaseUrl::parse(url).unwrap()).await.unwrap();
    let txn = sea_orm::TransactionTrait::begin(&conn).await.unwrap();
    for chunk in deployment_rows(200_000, n, "running", None, &[1], Some(host)).chunks(500) {
        wharf::store::entities::deployment::Entity::insert_many(chunk.to_vec()).exec(&txn).await.unwrap();
    }
    use wharf::store::entities::resource;
    let now = chrono::Utc::now();
    for (k, chunk) in made.chunks(500).enumerate() {
        let rows: Vec<resource::ActiveModel> = chunk
            .iter()
            .enumerate()
            .map(|(j, (name, id))| resource::ActiveModel {
                deployment_id: Set(format!("bench{:07}", 200_000 + k * 500 + j)),
                kind: Set(wharf::domain::states::ResourceKind::Container),
                component: Set("app".into()),
                replica: Set(0),
                name: Set(name.clone()),
                docker_id: Set(Some(id.clone())),
                host_id: Set(host),
                status: Set(wharf::domain::states::ResourceStatus::Running),
                ports: Set(Default::default()),
                updated_at: Set(now),
                ..Default::default()
            })
            .collect();
        resource::Entity::insert_many(rows).exec(&txn).await.unwrap();
    }
    txn.commit().await.unwrap();
    let _ = conn.close().await;
    // The next full sync that saw them all (one every 30 s or so).
    let wanted = format!("host={host} deployments={n} ");
    let t = Instant::now();
    let millis = loop {
        let log = std::fs::read_to_string(&s.log).unwrap_or_default();
        if let Some(m) = log
            .lines()
            .filter(|l| l.contains("inventory: full sync") && l.contains(&wanted))
            .find_map(|l| l.split("millis=").nth(1)?.split_whitespace().next()?.parse::<f64>().ok())
        {
            break m;
        }
        assert!(t.elapsed() < Duration::from_secs(90), "no full sync of {n} deployments within 90 s (see {})", s.log.display());
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let t = Instant::now();
    for (_, id) in &made {
        d.inspect_container(id, None).await.unwrap();
    }
    let raw = t.elapsed().as_secs_f64() * 1000.0;
    rows.push(row(
        &format!("inventory: full resync of a host with {n} running containers"),
        format!("{millis:.0} ms"),
        format!("{raw:.0} ms: {n} inspections through bollard, one after another"),
        Some(millis / raw),
        "—",
        true,
    ));
    let names: Vec<String> = made.into_iter().map(|(name, _)| name).collect();
    remove_raw(&d, &names).await;
}

/// Two and three replicas on one PostgreSQL database, the burst's requests spread over them,
/// against the burst on one replica (measured by `figures`).
async fn replica_figures(opts: &Opts, run: &Run, url: &str, rows: &mut Vec<Row>) {
    let mut servers = vec![run.server.clone()];
    for n in 2..=3 {
        servers.push(Arc::new(start_server_on(url).await));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (secs, succeeded, failed) = burst_over(&servers, opts.burst_n, &run.server).await;
        destroy_all(&run.server).await;
        rows.push(row(
            &format!("PostgreSQL: burst of {} over {n} replicas ({succeeded} ran, {failed} failed)", opts.burst_n),
            format!("{secs:.1} s"),
            format!("{:.1} s on one replica", run.burst_secs),
            Some(secs / run.burst_secs),
            "none lost",
            succeeded == opts.burst_n,
        ));
    }
}

/// The server's CPU time (user + system, in clock ticks).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces), from the state on.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

fn ticks_per_sec() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    out.ok().and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(100.0)
}

/// The server's CPU use over `over`, in percent of one core.
async fn cpu_use(pid: u32, over: Duration) -> f64 {
    let before = cpu_ticks(pid);
    tokio::time::sleep(over).await;
    (cpu_ticks(pid) - before) as f64 / ticks_per_sec() / over.as_secs_f64() * 100.0
}

/// The peak resident memory of a process, sampled every 100 ms.
struct Peak {
    task: tokio::task::JoinHandle<()>,
    peak: Arc<std::sync::atomic::AtomicU64>,
}

impl Peak {
    fn sample(pid: u32) -> Self {
        let peak = Arc::new(std::sync::atomic::AtomicU64::new(0f64.to_bits()));
        let shared = peak.clone();
        let task = tokio::spawn(async move {
            loop {
                let rss = rss_of(pid);
                let now = f64::from_bits(shared.load(std::sync::atomic::Ordering::Relaxed));
                shared.store(now.max(rss).to_bits(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { task, peak }
    }

    fn stop(self) -> f64 {
        self.task.abort();
        f64::from_bits(self.peak.load(std::sync::atomic::Ordering::Relaxed))
    }
}

fn rss_of(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok()).unwrap_or(0.0)
        / 1024.0
}

/// `n` deployments straight into the database, from id `bench<first>` on, the k-th owned by
/// `owners[k % owners.len()]` (the list's worst case is their number; the live views' need no
/// host).
async fn insert_deployments(
    url: &str,
    first: usize,
    n: usize,
    status: &str,
    lease: Option<chrono::DateTime<chrono::Utc>>,
    owners: &[i64],
    host: Option<i64>,
) {
    use sea_orm::EntityTrait;
    let db = wharf::store::connect(&wharf::config::DatabaseUrl::parse(url).unwrap()).await.unwrap();
    for chunk in deployment_rows(first, n, status, lease, owners, host).chunks(500) {
        wharf::store::entities::deployment::Entity::insert_many(chunk.to_vec()).exec(&db).await.unwrap();
    }
    let _ = db.close().await;
}

/// The rows of `insert_deployments`.
fn deployment_rows(
    first: usize,
    n: usize,
    status: &str,
    lease: Option<chrono::DateTime<chrono::Utc>>,
    owners: &[i64],
    host: Option<i64>,
) -> Vec<wharf::store::entities::deployment::ActiveModel> {
    use sea_orm::Set;
    use wharf::store::entities::deployment;
    let status: wharf::domain::states::DeploymentStatus = serde_json::from_value(json!(status)).unwrap();
    let now = chrono::Utc::now();
    (first..first + n)
        .map(|i| deployment::ActiveModel {
            id: Set(format!("bench{i:07}")),
            name: Set(format!("bench-{i}")),
            blueprint_id: Set("bench".into()),
            blueprint_version: Set(1),
            inputs: Set(Default::default()),
            host_id: Set(host),
            host_selector: Set(Default::default()),
            status: Set(status),
            error: Set(None),
            outputs: Set(Default::default()),
            owner_id: Set(Some(owners[(i - first) % owners.len()])),
            group_id: Set(None),
            lease_expires_at: Set(lease),
            created_at: Set(now),
            updated_at: Set(now),
            catalog_item_id: Set(Some("bench".into())),
            request_id: Set(None),
            containers: Set(1),
            host_name: Set(None),
            memory_mb: Set(0),
            cpus: Set(0.0),
            lease_grace_days: Set(None),
            lease_max_expires_at: Set(None),
        })
        .collect()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let total =
        mem.lines().find_map(|l| l.strip_prefix("MemTotal:")).and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok()).unwrap_or(0.0)
            / 1024.0
            / 1024.0;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let engine = Command::new("dockerd")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("Machine: {cores} cores ({model}), {total:.0} GiB, Linux {}; {engine}; {}.", kernel.trim(), postgres_version())
}

fn postgres_version() -> String {
    let out = Command::new("sh").args(["-c", "ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1"]).output();
    let bin = out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
    let version = Command::new(format!("{bin}/postgres")).arg("--version").output();
    let version = version.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
    format!("SQLite (bundled) and {}", if version.is_empty() { "no PostgreSQL".to_string() } else { version })
}
