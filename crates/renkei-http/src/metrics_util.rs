use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

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
                .unwrap_or_else(|e| {
                    // Another recorder is installed (an embedding program
                    // chose its own); render an empty registry rather than fail.
                    tracing::warn!(error = %e, "metrics recorder already installed elsewhere");
                    PrometheusBuilder::new().build_recorder().handle()
                })
        })
        .clone()
}

pub(crate) async fn render() -> String {
    install_metrics().render()
}

/// Count and time every request by role, route and status.
pub async fn track(role: &'static str, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("renkei_http_requests_total", "role" => role, "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("renkei_http_request_seconds", "role" => role, "route" => route)
        .record(start.elapsed().as_secs_f64());
    resp
}
