//! Wharf's benchmarks (run by bench/run, which starts the Docker hosts). Every figure is set
//! beside a baseline measured in the same run: the raw engine through bollard, or a static
//! file from the same server.
use std::collections::HashMap;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
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
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(db: &str) -> (Child, String, Instant) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    for (k, _) in std::env::vars() {
        if k.starts_with("WHARF_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(["--bind", "127.0.0.1:0", "--database-url", db, "serve"])
        .env("WHARF_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("WHARF_CATALOG_DIR", "/nonexistent")
        .env("WHARF_HOSTS__REGISTER_LOCAL", "false")
        .env("WHARF_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
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
    (child, base, started)
}

fn fresh_db(name: &str) -> String {
    format!("sqlite://{}/{name}-{}.db?mode=rwc", env("WHARF_BENCH_TMP"), std::process::id())
}

async fn start_server() -> Server {
    let (child, base, _) = spawn(&fresh_db("bench"));
    let client = reqwest::Client::new();
    let res: Value = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Server { child, base, client, token: res["token"].as_str().unwrap().to_string() }
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
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok()).unwrap_or(0.0)
            / 1024.0
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

/// One raw create + start, as Wharf does it for a one-container deployment: on `network` (a
/// network of its own, as every Wharf deployment has), or on the engine's default bridge.
async fn raw_create_start(d: &Docker, image: &str, name: &str, network: Option<&str>) {
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec!["sleep".into(), "3600".into()]),
        labels: Some(HashMap::from([("io.wharf.bench".to_string(), "true".to_string())])),
        host_config: network.map(|n| HostConfig { network_mode: Some(n.to_string()), ..Default::default() }),
        ..Default::default()
    };
    let id = d.create_container(Some(CreateContainerOptionsBuilder::default().name(name).build()), body).await.unwrap().id;
    d.start_container(&id, None).await.unwrap();
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

/// Submits a request and waits (polling every 5 ms) until it succeeded; returns seconds and
/// the request as it was then (its timeline says where the time went).
async fn request_until_running(s: &Server, item: &str) -> (f64, Value) {
    let started = Instant::now();
    let r = s.post("/api/v1/requests", json!({"catalog_item": item, "group": "bench"})).await;
    let id = r["id"].as_str().unwrap().to_string();
    loop {
        let r = s.get(&format!("/api/v1/requests/{id}")).await;
        match r["status"].as_str() {
            Some("succeeded") => return (started.elapsed().as_secs_f64(), r),
            Some("failed" | "rejected") => panic!("request failed: {r}"),
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let started_all = Instant::now();
    // `bench/run --quick`: fewer samples and shorter loads, the table printed beside the last
    // full run's and not written.
    let quick = std::env::var("WHARF_BENCH_QUICK").is_ok_and(|v| v == "1");
    let (sequential, burst_n, wrk_secs, startups_n): (usize, usize, u32, usize) = if quick { (20, 60, 3, 3) } else { (50, 200, 10, 5) };
    let hosts: Vec<String> = env("WHARF_BENCH_HOSTS").split(',').map(str::to_string).collect();
    let image = env("WHARF_BENCH_IMAGE");
    let mut rows = Vec::new();

    // ---- start-up: process start to a ready /readyz on a fresh SQLite file (median of 5).
    let mut startups = Vec::new();
    for i in 0..startups_n {
        let (mut child, base, started) = spawn(&fresh_db(&format!("startup{i}")));
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
    rows.push(row(
        &format!("start-up to ready (fresh SQLite), median of {startups_n}"),
        format!("{:.0} ms", startup * 1000.0),
        "—".into(),
        None,
        "≤ 1 s",
        startup <= 1.0,
    ));

    // ---- the server for everything else.
    let s = start_server().await;
    for (i, endpoint) in hosts.iter().enumerate() {
        s.post("/api/v1/hosts", json!({"name": format!("h{}", i + 1), "endpoint": endpoint, "labels": {"n": (i + 1).to_string()}})).await;
    }
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
    rows.push(row("resident memory, idle", format!("{idle_rss:.1} MB"), "—".into(), None, "≤ 40 MB", idle_rss <= 40.0));

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
    for i in 0..sequential {
        settle().await;
        let (secs, r) = request_until_running(&s, "bench-h1").await;
        ours.push(secs);
        to_start.extend(between(&r, "submitted", "provisioning"));
        to_run.extend(between(&r, "provisioning", "succeeded"));
        let name = format!("bench-raw-{}-{i}", std::process::id());
        raw_network(&d1, &name).await;
        settle().await;
        let t = Instant::now();
        raw_create_start(&d1, &image, &name, Some(&name)).await;
        raw.push(t.elapsed().as_secs_f64());
        let bridged = format!("bench-bridge-{}-{i}", std::process::id());
        settle().await;
        let t = Instant::now();
        raw_create_start(&d1, &image, &bridged, None).await;
        raw_bridge.push(t.elapsed().as_secs_f64());
        names.push(name);
        names.push(bridged);
    }
    remove_raw(&d1, &names).await;
    destroy_all(&s).await;
    ours.sort_by(f64::total_cmp);
    raw.sort_by(f64::total_cmp);
    raw_bridge.sort_by(f64::total_cmp);
    to_start.sort_by(f64::total_cmp);
    to_run.sort_by(f64::total_cmp);
    println!(
        "provisioning, median: submitted → provisioning {:.1} ms, provisioning → succeeded {:.1} ms (of {:.1} ms end to end; raw {:.1} ms, on the default bridge {:.1} ms)",
        percentile(&to_start, 0.5),
        percentile(&to_run, 0.5),
        percentile(&ours, 0.5) * 1000.0,
        percentile(&raw, 0.5) * 1000.0,
        percentile(&raw_bridge, 0.5) * 1000.0
    );
    let (p50, p95, r50, r95) = (percentile(&ours, 0.5), percentile(&ours, 0.95), percentile(&raw, 0.5), percentile(&raw, 0.95));
    let b50 = percentile(&raw_bridge, 0.5);
    rows.push(row(
        &format!("provisioning latency p50 (request → running, n={sequential})"),
        format!("{:.0} ms", p50 * 1000.0),
        format!("{:.0} ms raw, on its own network", r50 * 1000.0),
        Some(p50 / r50),
        "ratio ≤ 1.15",
        p50 / r50 <= 1.15,
    ));
    rows.push(row(
        "provisioning latency p95",
        format!("{:.0} ms", p95 * 1000.0),
        format!("{:.0} ms", r95 * 1000.0),
        Some(p95 / r95),
        "—",
        true,
    ));
    rows.push(row(
        "provisioning latency p50 against the default bridge",
        format!("{:.0} ms", p50 * 1000.0),
        format!("{:.0} ms raw, on the default bridge", b50 * 1000.0),
        Some(p50 / b50),
        "—",
        true,
    ));

    // ---- burst: requests at once over both hosts, against as many raw create + start with the
    // engine's concurrency (4 workers), alternating hosts.
    let s = Arc::new(s);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..burst_n {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.post("/api/v1/requests", json!({"catalog_item": "bench", "group": "bench"})).await["id"].as_str().unwrap().to_string()
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    let (mut succeeded, mut failed) = (0, 0);
    while succeeded + failed < burst_n {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let list = s.get("/api/v1/requests?per_page=200").await;
        let statuses: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| ids.contains(&r["id"].as_str().unwrap_or_default().to_string()))
            .map(|r| r["status"].as_str().unwrap_or_default())
            .collect();
        succeeded = statuses.iter().filter(|s| **s == "succeeded").count();
        failed = statuses.iter().filter(|s| matches!(**s, "failed" | "rejected" | "cancelled")).count();
        assert!(t.elapsed() < Duration::from_secs(600), "the burst did not finish");
    }
    let burst = t.elapsed().as_secs_f64();
    let d2 = docker(&hosts[1]).await;
    let daemons = Arc::new([d1, d2]);
    let sem = Arc::new(tokio::sync::Semaphore::new(4));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..burst_n {
        let (daemons, sem, image) = (daemons.clone(), sem.clone(), image.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            // Its network made in the burst too: with hundreds of requests, most of Wharf's
            // are made then as well (the pool holds a few).
            let name = format!("bench-burst-{}-{i}", std::process::id());
            raw_network(&daemons[i % 2], &name).await;
            raw_create_start(&daemons[i % 2], &image, &name, Some(&name)).await;
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
        &format!("burst: {burst_n} requests over 2 hosts ({succeeded} ran, {failed} failed)"),
        format!("{burst:.1} s"),
        format!("{raw_burst:.1} s"),
        Some(burst / raw_burst),
        "ratio ≤ 1.25, none lost",
        burst / raw_burst <= 1.25 && succeeded == burst_n,
    ));
    destroy_all(&s).await;

    // ---- HTTP: 50 catalog items, 10,000 deployments, against a static file.
    for i in 0..48 {
        s.post("/api/v1/catalog-items", json!({"id": format!("item-{i}"), "name": format!("Item {i}"), "category": "Bench", "blueprint": "bench", "lease": {"default_days": 1, "max_days": 1}})).await;
    }
    insert_deployments(&s, 10_000).await;
    let mut peak = s.rss_mb();
    let sampler = {
        let pid = s.child.id();
        tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            loop {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let rss = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
                    .unwrap_or(0.0)
                    / 1024.0;
                peak = peak.max(rss);
                tokio::time::sleep(Duration::from_millis(100)).await;
                if rss == 0.0 {
                    return peak;
                }
                PEAK.store(peak.to_bits(), std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    let base = s.base.clone();
    let token = s.token.clone();
    let (static_w, catalog_w, page_w, list_w) = tokio::task::spawn_blocking(move || {
        let st = wrk(&format!("{base}/static/css/wharf.css"), None, wrk_secs);
        let cat = wrk(&format!("{base}/api/v1/catalog"), Some(&token), wrk_secs);
        let page = wrk(&format!("{base}/catalog"), Some(&token), wrk_secs);
        let list = wrk(&format!("{base}/api/v1/deployments"), Some(&token), wrk_secs);
        (st, cat, page, list)
    })
    .await
    .unwrap();
    sampler.abort();
    peak = peak.max(f64::from_bits(PEAK.load(std::sync::atomic::Ordering::Relaxed)));
    let cat_ratio = catalog_w.rps / static_w.rps;
    rows.push(row(
        "HTTP: GET /api/v1/catalog (50 items), requests/s",
        format!("{:.0}/s (p99 {:.1} ms)", catalog_w.rps, catalog_w.p99_ms),
        format!("{:.0}/s static file (p99 {:.1} ms)", static_w.rps, static_w.p99_ms),
        Some(cat_ratio),
        "≥ 0.50 of the static file",
        cat_ratio >= 0.5,
    ));
    rows.push(row(
        "HTTP: the catalog page, requests/s",
        format!("{:.0}/s (p99 {:.1} ms)", page_w.rps, page_w.p99_ms),
        format!("{:.0}/s static file", static_w.rps),
        Some(page_w.rps / static_w.rps),
        "—",
        true,
    ));
    rows.push(row(
        "HTTP: deployments list, 10,000 rows, p99",
        format!("{:.1} ms ({:.0}/s)", list_w.p99_ms, list_w.rps),
        format!("{:.1} ms static file", static_w.p99_ms),
        Some(list_w.p99_ms / static_w.p99_ms.max(0.001)),
        "p99 < 50 ms",
        list_w.p99_ms < 50.0,
    ));
    rows.push(row("resident memory, peak under the HTTP load", format!("{peak:.1} MB"), "—".into(), None, "≤ 150 MB", peak <= 150.0));

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
        "# Wharf benchmarks\n\nWritten by `bench/run` on {} in {:.0} s.\n\n{machine}\n\n{table}\nEach figure shows the previous full run's value as \"(was …)\" where it changed (the provisioning baseline changed on 2026-12-01: the same container on a network of its own, not on the default bridge, which is shown beside it). Baselines are measured in the same run: the raw Docker Engine through bollard (create + start of the same container on the same host, on a network of its own; for the burst, its network made too, with the engine's concurrency), or a static file served by the same Wharf process. HTTP figures are `wrk -t2 -c32 -d10s` on loopback, on the same two cores as the server.\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        started_all.elapsed().as_secs_f64()
    );
    std::fs::write(&results, doc).expect("write bench/RESULTS.md");
}

static PEAK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// 10,000 deployments straight into the database (the list's worst case is their number).
async fn insert_deployments(s: &Server, n: usize) {
    let _ = s;
    let url = wharf::config::DatabaseUrl::parse(&fresh_db("bench")).unwrap();
    let db = wharf::store::connect(&url).await.unwrap();
    use sea_orm::{EntityTrait, Set};
    use wharf::store::entities::deployment;
    let now = chrono::Utc::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let rows: Vec<deployment::ActiveModel> = chunk
            .iter()
            .map(|i| deployment::ActiveModel {
                id: Set(format!("bench{i:07}")),
                name: Set(format!("bench-{i}")),
                blueprint_id: Set("bench".into()),
                blueprint_version: Set(1),
                inputs: Set(Default::default()),
                host_id: Set(None),
                host_selector: Set(Default::default()),
                status: Set(wharf::domain::states::DeploymentStatus::Destroyed),
                error: Set(None),
                outputs: Set(Default::default()),
                owner_id: Set(Some(1)),
                group_id: Set(None),
                lease_expires_at: Set(None),
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
            .collect();
        deployment::Entity::insert_many(rows).exec(&db).await.unwrap();
    }
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
    format!("Machine: {cores} cores ({model}), {total:.0} GiB, Linux {}; {engine}; SQLite database.", kernel.trim())
}
