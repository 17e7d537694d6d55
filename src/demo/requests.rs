//! Simulated requests for the demo's services: counters and a latency histogram served as a
//! Prometheus `/metrics` page, and the deterministic generator that draws each request.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::response::IntoResponse;

/// Latency histogram bucket bounds, seconds.
pub const BUCKETS_S: [f64; 6] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// Request counters and a latency histogram: one colour of the blue/green fleet, or the
/// whole of the rolling/swap service.
#[derive(Debug, Default)]
pub(super) struct RequestStats {
    ok: AtomicU64,
    errors: AtomicU64,
    buckets: [AtomicU64; 6],
    count: AtomicU64,
    sum_micros: AtomicU64,
    /// Health checks answered, for the flaky scenario's rhythm.
    pub(super) health_checks: AtomicU64,
}

impl RequestStats {
    /// Records one simulated request with error probability `error_p`, its latency scaled
    /// by `slow`.
    pub(super) fn record(&self, rng: &mut Lcg, error_p: f64, slow: f64) {
        if rng.next_unit() < error_p {
            self.errors.fetch_add(1, Ordering::Relaxed);
        } else {
            self.ok.fetch_add(1, Ordering::Relaxed);
        }
        // Mostly fast, with a tail: 30–150 ms, 1 in 20 up to 700 ms.
        let base = 0.03 + rng.next_unit() * 0.12;
        let tail = if rng.next_unit() < 0.05 { rng.next_unit() * 0.55 } else { 0.0 };
        let latency = (base + tail) * slow;
        for (bound, bucket) in BUCKETS_S.iter().zip(&self.buckets) {
            if latency <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((latency * 1e6) as u64, Ordering::Relaxed);
    }

    /// The counters in the Prometheus text format, as a `/metrics` page.
    pub(super) fn exposition(&self) -> impl IntoResponse + use<> {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP http_requests_total Requests served, by status code.");
        let _ = writeln!(out, "# TYPE http_requests_total counter");
        let _ = writeln!(
            out,
            "http_requests_total{{code=\"200\"}} {}",
            self.ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "http_requests_total{{code=\"500\"}} {}",
            self.errors.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP http_request_duration_seconds Request latency.");
        let _ = writeln!(out, "# TYPE http_request_duration_seconds histogram");
        for (bound, bucket) in BUCKETS_S.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "http_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "http_request_duration_seconds_count {count}");
        ([("content-type", "text/plain; version=0.0.4")], out)
    }
}

/// A tiny deterministic generator: the demo behaves the same every run.
pub(super) struct Lcg(pub(super) u64);

impl Lcg {
    pub(super) fn next_unit(&mut self) -> f64 {
        self.0 =
            self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        f64::from(u32::try_from(self.0 >> 40).unwrap_or(0)) / f64::from(1u32 << 24)
    }
}
