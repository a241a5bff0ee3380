use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often histogram samples are drained into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Upkeeps run so far (for the test that they run at all).
static UPKEEPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Install the process-wide Prometheus recorder (idempotent). Roles started
/// in one process (the demo) share it and are told apart by labels.
pub fn install_metrics() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .expect("static bucket list is non-empty")
                .install_recorder()
                .inspect(|handle| start_upkeep(handle.clone()))
                .unwrap_or_else(|e| {
                    // Another recorder is installed (an embedding program
                    // chose its own); render an empty registry rather than fail.
                    tracing::warn!(error = %e, "metrics recorder already installed elsewhere");
                    PrometheusBuilder::new().build_recorder().handle()
                })
        })
        .clone()
}

/// The recorder keeps every histogram sample until something drains it:
/// a scrape, or this upkeep. Without it a role nobody scrapes grows by
/// every request's latency for as long as it runs (the soak found memory
/// rising linearly). A thread, so it runs whatever runtime the roles use.
fn start_upkeep(handle: PrometheusHandle) {
    let started = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
                UPKEEPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
    if let Err(e) = started {
        tracing::error!(error = %e, "cannot start the metrics upkeep; histograms grow until scraped");
    }
}

pub async fn render_metrics() -> String {
    install_metrics().render()
}

/// The method as a label: one of the methods the roles serve, or `other`
/// (a label from the request itself would grow the registry without bound).
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The status codes the roles answer with, each its own label.
const STATUS_LABELS: [&str; 31] = [
    "200", "201", "202", "204", "301", "302", "303", "304", "307", "308", "400", "401", "403", "404", "405",
    "406", "408", "409", "410", "411", "413", "414", "415", "422", "429", "431", "500", "501", "502", "503",
    "504",
];

/// The status as a label: one of [`STATUS_LABELS`], otherwise its class
/// (`1xx` … `5xx`, `other`).
fn status_label(s: StatusCode) -> &'static str {
    if let Some(l) = STATUS_LABELS.iter().find(|l| **l == s.as_str()) {
        return l;
    }
    match s.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

/// Count and time every request by role, route, method and status. Every
/// label is one of a fixed set: the role is the code's, the route the
/// router's pattern (`unmatched` when none), the method and status as
/// above — so no request, however made up, adds a series.
pub async fn track(role: &'static str, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method());
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = status_label(resp.status());
    metrics::counter!("renkei_http_requests_total", "role" => role, "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("renkei_http_request_seconds", "role" => role, "route" => route)
        .record(start.elapsed().as_secs_f64());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_drained_without_a_scrape_and_still_counted() {
        let handle = install_metrics();
        let before = UPKEEPS.load(std::sync::atomic::Ordering::Relaxed);
        for i in 0..1000 {
            metrics::histogram!("renkei_test_upkeep_seconds").record(f64::from(i) / 1000.0);
        }
        std::thread::sleep(UPKEEP_EVERY * 3);
        let after = UPKEEPS.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            after >= before + 2,
            "the upkeep ran {} times in 3 s",
            after - before
        );
        // Drained samples are in the buckets a scrape reports.
        let text = handle.render();
        assert!(text.contains("renkei_test_upkeep_seconds_count 1000"), "{text}");
        assert!(
            text.contains("renkei_test_upkeep_seconds_bucket{le=\"0.1\"} 101"),
            "{text}"
        );
    }

    #[test]
    fn labels_come_from_fixed_sets() {
        let made_up = Method::from_bytes(b"ZQX123").expect("a valid extension method");
        assert_eq!(method_label(&made_up), "other");
        assert_eq!(method_label(&Method::CONNECT), "other");
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(status_label(StatusCode::NOT_FOUND), "404");
        let odd = StatusCode::from_u16(599).expect("a valid status");
        assert_eq!(status_label(odd), "5xx");
        let odd = StatusCode::from_u16(999).expect("a valid status");
        assert_eq!(status_label(odd), "other");
        let odd = StatusCode::from_u16(299).expect("a valid status");
        assert_eq!(status_label(odd), "2xx");
        let mut all = std::collections::HashSet::new();
        for code in 100..1000u16 {
            all.insert(status_label(
                StatusCode::from_u16(code).expect("100..999 are valid"),
            ));
        }
        assert!(all.len() <= 37, "{}", all.len());
    }
}
