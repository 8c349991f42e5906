//! What this process counts for `/metrics`: HTTP requests by route, method and status with
//! their latency, and job durations by kind and outcome. Made once per application by
//! `startup` and handed to the web layer and the engine (tests run many applications in one
//! process: there is no global registry). What the database holds (requests, deployments, jobs,
//! hosts and the outbox by status) is read at scrape time and added by `render` as gauges.
//! The format is OpenMetrics text, which Prometheus reads.
use std::sync::Arc;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

/// Seconds an HTTP request may take, from a millisecond to ten seconds.
const HTTP_BUCKETS: [f64; 13] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Seconds a job may take, from a tenth of a second to ten minutes.
const JOB_BUCKETS: [f64; 12] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

fn job_histogram() -> Histogram {
    Histogram::new(JOB_BUCKETS)
}

#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    http_requests: Family<Labels, Counter>,
    http_seconds: Histograms,
    job_seconds: Histograms,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                http_requests: Family::default(),
                http_seconds: Family::new_with_constructor(http_histogram),
                job_seconds: Family::new_with_constructor(job_histogram),
            }),
        }
    }
}

/// A reading of the database at scrape time: a gauge family, its help, and a value per label set.
pub struct Reading {
    pub name: &'static str,
    pub help: &'static str,
    pub values: Vec<(Labels, i64)>,
}

impl Metrics {
    /// One HTTP request answered: its route pattern (`/api/v1/requests/{id}`, never the path
    /// itself, so that the labels stay few), method, status and time to the response's head.
    pub fn http(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let labels: Labels = vec![("route", route.to_string()), ("method", method.to_string()), ("status", status.to_string())];
        self.inner.http_requests.get_or_create(&labels).inc();
        let labels: Labels = vec![("route", route.to_string()), ("method", method.to_string())];
        self.inner.http_seconds.get_or_create(&labels).observe(seconds);
    }

    /// One job run to an outcome (`done`, `failed`, `released`, `lease_lost`).
    pub fn job(&self, kind: &str, outcome: &str, seconds: f64) {
        let labels: Labels = vec![("kind", kind.to_string()), ("outcome", outcome.to_string())];
        self.inner.job_seconds.get_or_create(&labels).observe(seconds);
    }

    /// The exposition: this process's counters and histograms, then the readings as gauges.
    pub fn render(&self, readings: Vec<Reading>) -> String {
        let mut registry = Registry::with_prefix("wharf");
        registry.register("http_requests", "HTTP requests answered, by route pattern, method and status", self.inner.http_requests.clone());
        registry.register_with_unit(
            "http_request_duration",
            "Time to the response's head, by route pattern and method (a stream's length is not counted)",
            prometheus_client::registry::Unit::Seconds,
            self.inner.http_seconds.clone(),
        );
        registry.register_with_unit(
            "job_duration",
            "Time a job of this process ran, by kind and outcome",
            prometheus_client::registry::Unit::Seconds,
            self.inner.job_seconds.clone(),
        );
        for r in readings {
            let family: Family<Labels, Gauge> = Family::default();
            for (labels, value) in &r.values {
                family.get_or_create(labels).set(*value);
            }
            registry.register(r.name, r.help, family);
        }
        let mut out = String::new();
        // Writing into a String does not fail.
        let _ = encode_registry(&mut out, &registry).and_then(|()| encode_eof(&mut out));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_as_openmetrics() {
        let m = Metrics::default();
        m.http("/api/v1/requests/{id}", "GET", 200, 0.003);
        m.http("/api/v1/requests/{id}", "GET", 200, 0.2);
        m.job("provision", "done", 1.5);
        let text = m.render(vec![Reading {
            name: "hosts",
            help: "Hosts by status",
            values: vec![(vec![("status", "up".into())], 2), (vec![("status", "down".into())], 0)],
        }]);
        assert!(text.contains(r#"wharf_http_requests_total{route="/api/v1/requests/{id}",method="GET",status="200"} 2"#), "{text}");
        assert!(
            text.contains(r#"wharf_http_request_duration_seconds_bucket{le="0.005",route="/api/v1/requests/{id}",method="GET"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"wharf_job_duration_seconds_count{kind="provision",outcome="done"} 1"#), "{text}");
        assert!(text.contains("# TYPE wharf_hosts gauge") && text.contains(r#"wharf_hosts{status="up"} 2"#), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
