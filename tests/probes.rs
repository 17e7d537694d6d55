//! Probes against fake servers on 127.0.0.1, and what automation makes of their readings:
//! health failure modes and body variants, both metric sources (a `/metrics` exporter and a
//! fake Prometheus HTTP API), counter resets, quantiles, `for` durations, every no-data
//! policy, baseline capture, relative thresholds, and bounded sample storage. Every server
//! is stopped when its test ends; nothing here asserts on timing.

#[path = "support/big_body.rs"]
mod big_body;
mod probe_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use flightdeck::plan::{HealthProbe, MetricProbe, Role};
use flightdeck::probe::metrics::{MetricReader, Versions};
use flightdeck::probe::{HealthReading, HealthState, ProbeBoard, Reading, Verdict, health};
use flightdeck::release::{Command, Event, Level, Status, Timestamp};
use flightdeck::store::{SAMPLES_KEPT_PER_SERIES, SampleKind, SampleRow, Store};
use probe_support::{Counters, Run, Server, alice, at, closed_port, exporter, plan};

fn client() -> reqwest::Client {
    flightdeck::action::http_client(Duration::from_secs(5))
}

fn health_probe(url: String) -> HealthProbe {
    HealthProbe {
        id: "green".into(),
        name: "green".into(),
        url,
        role: Role::Canary,
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(300),
        expect_status: 200,
        status_pointer: "/status".into(),
        healthy_values: vec!["healthy".into(), "ok".into()],
        version_pointer: "/version".into(),
        expect_version: true,
        down_after: 3,
        up_after: 2,
        headers: BTreeMap::new(),
        max_body: flightdeck::plan::DEFAULT_MAX_BODY,
        require: BTreeMap::new(),
    }
}

async fn check(url: String) -> HealthReading {
    health::check(&client(), &health_probe(url), || Timestamp(0)).await
}

#[tokio::test]
async fn health_bodies_and_failure_modes_keep_their_reason() {
    let router = Router::new()
        .route(
            "/ok",
            get(|| async {
                axum::Json(serde_json::json!({
                    "status": "healthy", "version": "1.4.0",
                    "checks": {"database": "ok", "redis": "degraded"}
                }))
            }),
        )
        .route("/unavailable", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "busy") }))
        .route("/text", get(|| async { "all good, honestly" }))
        .route("/degraded", get(|| async { axum::Json(serde_json::json!({"status": "degraded"})) }))
        .route(
            "/hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        );
    let server = Server::start(router).await;

    let ok = check(format!("{}/ok", server.url)).await;
    assert_eq!(ok.error, None);
    assert_eq!(ok.status_code, Some(200));
    assert_eq!(ok.version.as_deref(), Some("1.4.0"));
    assert!(ok.checks.contains(&("redis".to_owned(), "degraded".to_owned())), "{:?}", ok.checks);

    let unavailable = check(format!("{}/unavailable", server.url)).await;
    assert_eq!(unavailable.error.as_deref(), Some("status 503, expected 200"));

    let text = check(format!("{}/text", server.url)).await;
    assert_eq!(text.error.as_deref(), Some("body is not JSON"));

    let degraded = check(format!("{}/degraded", server.url)).await;
    assert_eq!(degraded.error.as_deref(), Some("status \"degraded\""));

    let hang = check(format!("{}/hang", server.url)).await;
    assert_eq!(hang.error.as_deref(), Some("timed out"));

    let refused = check(format!("http://127.0.0.1:{}/health", closed_port())).await;
    assert_eq!(refused.error.as_deref(), Some("connection refused"));
    drop(server);
}

fn reading(error: Option<&str>, version: &str) -> HealthReading {
    HealthReading {
        at: Timestamp(0),
        status_code: Some(if error.is_some() { 503 } else { 200 }),
        latency_ms: 3,
        version: Some(version.into()),
        checks: Vec::new(),
        error: error.map(str::to_owned),
    }
}

const PLAN: &str = r#"
[service]
name = "shop"
environment = "production"

[[health]]
id = "green"
url = "http://127.0.0.1:9/health"
role = "canary"
down_after = 3
up_after = 2

[[metrics]]
id = "error_rate"
unit = "%"
interval = "10s"
scrape = { url = "@URL@/metrics", ratio = { numerator = 'http_requests_total{code=~"5.."}', denominator = "http_requests_total" } }
warn = "> 0.01"
abort = "> 0.05"
for = "@FOR@"
no_data = "@NODATA@"
no_data_after = "30s"

[[metrics]]
id = "p95"
unit = "s"
interval = "10s"
scrape = { url = "@URL@/metrics", quantile = { histogram = "http_request_duration_seconds", q = 0.95 } }
abort = "> baseline * 1.5"
no_data = "ignore"
baseline_window = "1m"
baseline_from = "p95"

[actions.set_weight]
kind = "command"
argv = ["echo", "weight={weight}"]

[actions.page]
kind = "command"
argv = ["echo", "paging on-call"]

[traffic]
set = "set_weight"

[rollback]
steps = ["page"]

[[stages]]
id = "canary"

  [[stages.steps]]
  id = "shift-10"
  kind = "traffic"
  weight = 10

  [[stages.steps]]
  id = "bake-10"
  kind = "bake"
  duration = "2m"
  probes = [@PROBES@]
  on_breach = "@ON_BREACH@"

  [[stages.steps]]
  id = "shift-50"
  kind = "traffic"
  weight = 50
"#;

struct Opts<'a> {
    url: &'a str,
    for_: &'a str,
    no_data: &'a str,
    probes: &'a str,
    on_breach: &'a str,
}

impl Default for Opts<'_> {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:9",
            for_: "20s",
            no_data: "ignore",
            probes: "\"error_rate\"",
            on_breach: "rollback",
        }
    }
}

fn test_plan(o: &Opts<'_>) -> flightdeck::plan::Plan {
    plan(
        &PLAN
            .replace("@URL@", o.url)
            .replace("@FOR@", o.for_)
            .replace("@NODATA@", o.no_data)
            .replace("@PROBES@", o.probes)
            .replace("@ON_BREACH@", o.on_breach),
    )
}

#[test]
fn health_goes_down_after_n_failures_up_after_m_and_flags_the_version() {
    let plan = test_plan(&Opts::default());
    let mut run = Run::new(plan.clone());
    run.start(at(0.0));
    let mut board = ProbeBoard::for_plan(&plan);
    board.sync(&run.state);
    let row = &mut board.health[0];
    assert_eq!(row.expected_version.as_deref(), Some("1.4.0"));
    row.record(reading(None, "1.3.2"), 3, 2);
    assert_eq!(row.state, HealthState::Up);
    assert_eq!(row.version_mismatch.as_deref(), Some("1.3.2 ≠ 1.4.0"), "wrong version flagged");
    row.record(reading(None, "1.4.0"), 3, 2);
    assert_eq!(row.version_mismatch, None);
    // `v1.4.0` is the same version as `1.4.0`: no mismatch.
    row.record(reading(None, "v1.4.0"), 3, 2);
    assert_eq!(row.version_mismatch, None, "a leading v is not a different version");
    for (i, want) in
        [HealthState::Flapping, HealthState::Flapping, HealthState::Down].iter().enumerate()
    {
        row.record(reading(Some("status 503, expected 200"), "1.4.0"), 3, 2);
        assert_eq!(row.state, *want, "after {} failures", i + 1);
    }
    row.record(reading(None, "1.4.0"), 3, 2);
    assert_eq!(row.state, HealthState::Down, "one success is not enough to come back");
    row.record(reading(None, "1.4.0"), 3, 2);
    assert_eq!(row.state, HealthState::Up, "two successes bring it back");
}

fn metric(plan: &flightdeck::plan::Plan, id: &str) -> MetricProbe {
    plan.metrics.iter().find(|m| m.id == id).cloned().expect("metric in plan")
}

#[tokio::test]
async fn scraping_computes_gauges_rates_ratios_and_quantiles_between_scrapes() {
    let counters = Arc::new(Mutex::new(Counters::default()));
    let server = exporter(counters.clone()).await;
    let text = PLAN.replace("@URL@", &server.url);
    let extra = format!(
        r#"
[[metrics]]
id = "rps"
scrape = {{ url = "{url}/metrics", rate = "http_requests_total" }}

[[metrics]]
id = "pool"
scrape = {{ url = "{url}/metrics", gauge = 'db_pool{{state="in_use"}}' }}
"#,
        url = server.url
    );
    let text = text.replacen("[actions.set_weight]", &format!("{extra}\n[actions.set_weight]"), 1);
    let plan = test_plan_text(&text);
    let client = client();
    let mut ratio = MetricReader::new(metric(&plan, "error_rate"), Versions::default());
    let mut p95 = MetricReader::new(metric(&plan, "p95"), Versions::default());
    let mut rps = MetricReader::new(metric(&plan, "rps"), Versions::default());
    let mut pool = MetricReader::new(metric(&plan, "pool"), Versions::default());

    {
        let mut c = counters.lock().unwrap();
        c.ok = 100.0;
        c.observe(0.03, 100.0);
        c.in_use = 7.0;
    }
    assert_eq!(ratio.read(&client, at(0.0)).await, None, "a rate needs two scrapes");
    assert_eq!(p95.read(&client, at(0.0)).await, None);
    assert_eq!(rps.read(&client, at(0.0)).await, None);
    assert_eq!(pool.read(&client, at(0.0)).await, Some(Ok(Some(7.0))), "a gauge needs one");

    {
        let mut c = counters.lock().unwrap();
        c.ok = 190.0;
        c.errors = 10.0; // the 5xx series appears: it counts from zero
        c.observe(0.07, 80.0); // 80 in (0.05, 0.1]
        c.observe(0.3, 20.0); // 20 in (0.25, 0.5]
    }
    assert_eq!(ratio.read(&client, at(10.0)).await, Some(Ok(Some(0.1))));
    assert_eq!(rps.read(&client, at(10.0)).await, Some(Ok(Some(10.0))));
    // 100 observations in the interval; rank 95 falls 15/20 into (0.25, 0.5].
    let Some(Ok(Some(q))) = p95.read(&client, at(10.0)).await else { panic!("no p95") };
    assert!((q - 0.4375).abs() < 1e-9, "p95 {q}");

    // No requests in the next interval: the ratio and the quantile have no data.
    assert_eq!(ratio.read(&client, at(20.0)).await, Some(Ok(None)));
    assert_eq!(p95.read(&client, at(20.0)).await, Some(Ok(None)));
    assert_eq!(rps.read(&client, at(20.0)).await, Some(Ok(Some(0.0))));
    drop(server);
}

fn test_plan_text(text: &str) -> flightdeck::plan::Plan {
    plan(
        &text
            .replace("@FOR@", "0")
            .replace("@NODATA@", "ignore")
            .replace("@PROBES@", "\"error_rate\"")
            .replace("@ON_BREACH@", "rollback"),
    )
}

#[tokio::test]
async fn counter_resets_count_from_zero() {
    let counters = Arc::new(Mutex::new(Counters::default()));
    let server = exporter(counters.clone()).await;
    let plan = test_plan(&Opts { url: &server.url, ..Opts::default() });
    let client = client();
    let mut ratio = MetricReader::new(metric(&plan, "error_rate"), Versions::default());
    let mut p95 = MetricReader::new(metric(&plan, "p95"), Versions::default());
    {
        let mut c = counters.lock().unwrap();
        c.ok = 10_000.0;
        c.errors = 500.0;
        c.observe(2.0, 10_000.0);
    }
    let _ = ratio.read(&client, at(0.0)).await;
    let _ = p95.read(&client, at(0.0)).await;
    // The process restarted: every counter starts again from zero.
    *counters.lock().unwrap() = Counters::default();
    {
        let mut c = counters.lock().unwrap();
        c.ok = 95.0;
        c.errors = 5.0;
        c.observe(0.04, 100.0);
    }
    assert_eq!(ratio.read(&client, at(10.0)).await, Some(Ok(Some(0.05))));
    let Some(Ok(Some(q))) = p95.read(&client, at(10.0)).await else { panic!("no p95") };
    assert!(q <= 0.05, "after the reset only the new observations count: {q}");
    drop(server);
}

#[tokio::test]
async fn a_source_that_fails_is_a_probe_error_not_a_metric_failure() {
    let failing = Server::start(
        Router::new()
            .route("/metrics", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "oops") })),
    )
    .await;
    let plan = test_plan(&Opts { url: &failing.url, ..Opts::default() });
    let mut reader = MetricReader::new(metric(&plan, "error_rate"), Versions::default());
    let result = reader.read(&client(), at(0.0)).await;
    assert_eq!(result, Some(Err("status 500 from /metrics".into())));

    let down = format!("http://127.0.0.1:{}", closed_port());
    let plan = test_plan(&Opts { url: &down, ..Opts::default() });
    let mut reader = MetricReader::new(metric(&plan, "error_rate"), Versions::default());
    assert_eq!(reader.read(&client(), at(0.0)).await, Some(Err("connection refused".into())));

    // On the board: the last good value stays (stale), errors count, the verdict holds.
    let mut board = ProbeBoard::for_plan(&plan);
    let row = &mut board.metrics[0];
    row.record(at(0.0), Ok(Some(0.001)));
    assert_eq!(row.verdict, Verdict::Pass);
    for i in 1..=3 {
        row.record(at(f64::from(i) * 10.0), Err("connection refused".into()));
    }
    assert_eq!(row.verdict, Verdict::Pass);
    assert_eq!(row.errors_in_row, 3);
    assert_eq!(row.latest(), Some((at(0.0), 0.001)));
    assert_eq!(row.error.as_deref(), Some("connection refused"));
    drop(failing);
}

async fn fake_prometheus(RawQuery(raw): RawQuery) -> axum::response::Response {
    let url = reqwest::Url::parse(&format!("http://x/?{}", raw.unwrap_or_default())).unwrap();
    let query = url.query_pairs().find(|(k, _)| k == "query").map(|(_, v)| v.into_owned());
    let query = query.unwrap_or_default();
    let vector = |result: serde_json::Value| {
        axum::Json(serde_json::json!({
            "status": "success",
            "data": {"resultType": "vector", "result": result}
        }))
        .into_response()
    };
    match query.as_str() {
        "by_version" => vector(serde_json::json!([
            {"metric": {"version": "1.3.2"}, "value": [1.0, "0.001"]},
            {"metric": {"version": "1.4.0"}, "value": [1.0, "0.031"]},
        ])),
        "old_only" => {
            vector(serde_json::json!([{"metric": {"version": "1.3.2"}, "value": [1.0, "0.002"]}]))
        }
        "one" => vector(serde_json::json!([{"metric": {}, "value": [1.0, "42"]}])),
        "empty" => vector(serde_json::json!([])),
        "scalar" => axum::Json(serde_json::json!({
            "status": "success", "data": {"resultType": "scalar", "result": [1.0, "0.5"]}
        }))
        .into_response(),
        _ => (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({
                "status": "error", "errorType": "bad_data",
                "error": "1:5: parse error: unexpected end of input"
            })),
        )
            .into_response(),
    }
}

#[tokio::test]
async fn prometheus_queries_vectors_scalars_empty_results_and_errors() {
    let server = Server::start(Router::new().route("/api/v1/query", get(fake_prometheus))).await;
    let versions = Versions { new: Some("1.4.0".into()), old: Some("1.3.2".into()) };
    let read = |query: &str, by_label: Option<&str>| {
        let by = by_label.map_or(String::new(), |l| format!(", by_label = \"{l}\""));
        let text = format!(
            "[service]\nname = \"s\"\nenvironment = \"staging\"\n\n[[metrics]]\nid = \"m\"\n\
             prometheus = {{ url = \"{}\", query = \"{query}\"{by} }}\n\n\
             [[stages]]\nid = \"a\"\n  [[stages.steps]]\n  id = \"c\"\n  kind = \"checklist\"\n  \
             items = [{{ id = \"x\", text = \"x\" }}]\n",
            server.url
        );
        let m = plan(&text).metrics[0].clone();
        let versions = versions.clone();
        async move { MetricReader::new(m, versions).read(&client(), at(0.0)).await }
    };
    assert_eq!(read("by_version", Some("version")).await, Some(Ok(Some(0.031))), "the new one");
    assert_eq!(
        read("old_only", Some("version")).await,
        Some(Ok(Some(0.002))),
        "before the shift only the old version has traffic"
    );
    assert_eq!(read("one", None).await, Some(Ok(Some(42.0))));
    assert_eq!(read("scalar", None).await, Some(Ok(Some(0.5))));
    assert_eq!(read("empty", None).await, Some(Ok(None)), "an empty result is no data");
    assert_eq!(
        // A query `check` cannot fault (it checks brackets, strings and matchers, not what
        // Prometheus knows) that Prometheus refuses: its error is the probe error.
        read("no_such_function(up)", None).await,
        Some(Err("Prometheus bad_data: 1:5: parse error: unexpected end of input".into()))
    );
    let Some(Err(e)) = read("by_version", None).await else { panic!("two series, no by_label") };
    assert!(e.contains("2 series"), "{e}");
    drop(server);
}

#[tokio::test]
async fn absent_counts_for_a_series_missing_from_a_successful_read_only() {
    let server = Server::start(Router::new().route("/api/v1/query", get(fake_prometheus))).await;
    let read = |query: &str| {
        let text = format!(
            "[service]\nname = \"s\"\nenvironment = \"staging\"\n\n[[metrics]]\nid = \"m\"\n\
             unit = \"ratio\"\nabsent = 0\nabort = \">= 2%\"\n\
             prometheus = {{ url = \"{}\", query = \"{query}\" }}\n\n\
             [[stages]]\nid = \"a\"\n  [[stages.steps]]\n  id = \"c\"\n  kind = \"checklist\"\n  \
             items = [{{ id = \"x\", text = \"x\" }}]\n",
            server.url
        );
        let m = plan(&text).metrics[0].clone();
        async move { MetricReader::new(m, Versions::default()).read(&client(), at(0.0)).await }
    };
    assert_eq!(read("empty").await, Some(Ok(Some(0.0))), "no series in a good answer: absent");
    assert_eq!(read("one").await, Some(Ok(Some(42.0))), "a series present is its value");
    let Some(Err(e)) = read("no_such_function(up)").await else { panic!("a failed read") };
    assert!(e.contains("bad_data"), "a failed read stays a failed read: {e}");
    drop(server);
}

/// Walks a run to its running bake at `t`, with the board recording the canary as healthy.
fn to_bake(run: &mut Run, board: &mut ProbeBoard, t: f64) {
    run.exec(&Command::Next { confirmed: false }, &alice(), at(t), None).expect("shift");
    run.finish_actions(at(t));
    run.exec(&Command::Next { confirmed: false }, &alice(), at(t), None).expect("bake");
    board.sync(&run.state);
    assert_eq!(run.state.weight, 10);
}

/// Readings of `id` every 10 s from `from` to `to`, on the board and stored.
fn feed(run: &mut Run, board: &mut ProbeBoard, id: &str, from: f64, to: f64, value: Option<f64>) {
    let index = board.metrics.iter().position(|m| m.id == id).expect("row");
    let mut t = from;
    while t <= to {
        run.stored.push(SampleRow {
            series: id.into(),
            kind: SampleKind::Metric,
            at: at(t),
            value,
            error: None,
        });
        let reading = Reading::Metric { index, at: at(t), result: Ok(value) };
        match reading {
            Reading::Metric { index, at, result } => board.metrics[index].record(at, result),
            Reading::Health { .. } | Reading::Stable { .. } => {}
        }
        t += 10.0;
    }
}

#[test]
fn an_abort_breach_must_hold_for_its_duration_then_rolls_back_automatically() {
    let plan = test_plan(&Opts::default());
    let mut board = ProbeBoard::for_plan(&plan);
    let mut run = Run::new(plan);
    run.start(at(0.0));
    to_bake(&mut run, &mut board, 10.0);
    feed(&mut run, &mut board, "error_rate", 20.0, 40.0, Some(0.001));
    assert!(run.automate(&mut board, at(40.0)).is_empty());
    // Over the abort level for 10s of the 20s `for`: nothing yet.
    feed(&mut run, &mut board, "error_rate", 50.0, 60.0, Some(0.08));
    assert!(run.automate(&mut board, at(60.0)).is_empty());
    feed(&mut run, &mut board, "error_rate", 70.0, 70.0, Some(0.09));
    let events = run.automate(&mut board, at(70.0));
    let breached = events.iter().find_map(|e| match e {
        Event::ThresholdBreached { breach, .. } => Some(breach.clone()),
        _ => None,
    });
    let breach = breached.expect("a breach was recorded");
    assert_eq!(breach.level, Level::Abort);
    assert_eq!((breach.samples, breach.window_ms, breach.value), (3, 20_000, 0.09));
    let started = run.kinds("rollback_started");
    assert_eq!(started.len(), 1);
    let Event::RollbackStarted { reason, automatic, .. } = &started[0].event else { panic!() };
    assert!(*automatic && started[0].actor.automatic);
    assert!(reason.contains("error_rate") && reason.contains("> 0.05"), "{reason}");
    assert_eq!(run.state.status, Status::RolledBack);
    assert_eq!(run.state.weight, 0);
}

#[test]
fn a_warn_level_breach_is_recorded_once_and_the_bake_goes_on() {
    let plan = test_plan(&Opts { for_: "0", ..Opts::default() });
    let mut board = ProbeBoard::for_plan(&plan);
    let mut run = Run::new(plan);
    run.start(at(0.0));
    to_bake(&mut run, &mut board, 10.0);
    feed(&mut run, &mut board, "error_rate", 20.0, 50.0, Some(0.02));
    run.automate(&mut board, at(50.0));
    feed(&mut run, &mut board, "error_rate", 60.0, 80.0, Some(0.03));
    run.automate(&mut board, at(80.0));
    let warns = run.kinds("threshold_breached");
    assert_eq!(warns.len(), 1, "recorded once");
    assert_eq!(run.state.status, Status::Running);
    // The bake's time runs out with data in it: it passes.
    feed(&mut run, &mut board, "error_rate", 90.0, 130.0, Some(0.001));
    run.automate(&mut board, at(130.0));
    assert_eq!(run.state.cursor, 2, "bake completed");
}

#[test]
fn pause_on_breach_pauses_instead_of_rolling_back() {
    let plan = test_plan(&Opts { for_: "0", on_breach: "pause", ..Opts::default() });
    let mut board = ProbeBoard::for_plan(&plan);
    let mut run = Run::new(plan);
    run.start(at(0.0));
    to_bake(&mut run, &mut board, 10.0);
    feed(&mut run, &mut board, "error_rate", 20.0, 20.0, Some(0.5));
    run.automate(&mut board, at(20.0));
    assert_eq!(run.state.status, Status::Paused);
    assert!(run.kinds("rollback_started").is_empty());
    let reason = &run.state.pause.as_ref().expect("pause").reason;
    // In the metric's unit (`%`: the numbers are percentages already).
    assert!(reason.contains("error_rate 0.5% breached > 0.05%"), "{reason}");
}

#[test]
fn no_data_policies_in_a_bake() {
    // ignore: a bake with no data at all passes.
    let plan = test_plan(&Opts::default());
    let mut board = ProbeBoard::for_plan(&plan);
    let mut run = Run::new(plan);
    run.start(at(0.0));
    to_bake(&mut run, &mut board, 10.0);
    feed(&mut run, &mut board, "error_rate", 20.0, 130.0, None);
    run.automate(&mut board, at(130.0));
    assert_eq!(run.state.cursor, 2, "no data ignored: the bake passed");

    // warn: shown as a warning; the bake cannot pass on it and pauses when its time is up.
    let plan = test_plan(&Opts { no_data: "warn", ..Opts::default() });
    let mut board = ProbeBoard::for_plan(&plan);
    let mut run = Run::new(plan);
    run.start(at(0.0));
    to_bake(&mut run, &mut board, 10.0);
    feed(&mut run, &mut board, "error_rate", 20.0, 100.0, None);
    assert_eq!(board.metrics[0].verdict, Verdict::Warn);
    assert!(run.automate(&mut board, at(100.0)).is_empty());
    run.automate(&mut board, at(130.0));
    assert_eq!(run.state.status, Status::Paused);
    assert!(run.state.pause.as_ref().unwrap().reason.contains("inconclusive"));
    // A person resuming after the time is up takes it on: automation leaves the bake alone,
    // and the person passes it with an override on record.
    run.exec(&Command::Resume, &alice(), at(140.0), None).expect("resume");
    assert!(run.automate(&mut board, at(141.0)).is_empty());
    assert_eq!(run.state.cursor, 1, "not passed by itself");
    let evidence =
        flightdeck::analysis::bake_evidence(&run.plan, &run.state, &run.stored, at(142.0));
    let pass = Command::PassBake {
        evidence,
        override_reason: Some("no data is expected at night".into()),
        confirmed: true,
    };
    run.exec(&pass, &alice(), at(142.0), None).expect("override");
    assert_eq!(run.state.cursor, 2, "passed by a person's override");
    assert_eq!(run.kinds("bake_overridden").len(), 1);

    // breach: missing for `no_data_after` (30s) is an abort-level breach.
    let plan = test_plan(&Opts { no_data: "breach", ..Opts::default() });
    let mut board = ProbeBoard::for_plan(&plan);
    let mut run = Run::new(plan);
    run.start(at(0.0));
    to_bake(&mut run, &mut board, 10.0);
    feed(&mut run, &mut board, "error_rate", 20.0, 40.0, None);
    assert!(run.automate(&mut board, at(40.0)).is_empty(), "20s missing: not yet");
    feed(&mut run, &mut board, "error_rate", 50.0, 50.0, None);
    run.automate(&mut board, at(50.0));
    assert_eq!(run.kinds("rollback_started").len(), 1);
    let Event::ThresholdBreached { breach, .. } = &run.kinds("threshold_breached")[0].event else {
        panic!()
    };
    assert_eq!(breach.threshold, "no data ≥ 30s");
}

#[test]
fn baselines_are_captured_before_the_first_shift_and_relative_thresholds_use_them() {
    let plan = test_plan(&Opts { probes: "\"p95\"", ..Opts::default() });
    let mut board = ProbeBoard::for_plan(&plan);
    let mut run = Run::new(plan);
    run.start(at(0.0));
    // The first shift waits for p95's baseline (a bake watches it).
    let refused = run.exec(&Command::Next { confirmed: false }, &alice(), at(20.0), None);
    let refusal = refused.expect_err("the first shift waits for the baseline").to_string();
    assert!(refusal.contains("waits for the baseline of p95"), "{refusal}");
    for (i, v) in [0.21, 0.21, 0.20, 0.22, 0.90, 0.21, 0.19].iter().enumerate() {
        let t = 80.0 + 10.0 * i as f64;
        feed(&mut run, &mut board, "p95", t, t, Some(*v));
        if t <= 120.0 {
            // Readings do not cover the 1m window yet: nothing is captured.
            assert!(
                run.automate(&mut board, at(t)).is_empty(),
                "captured at {t}s, before its window"
            );
        }
    }
    // error_rate has no data: no baseline for it; p95's is the median of the last minute,
    // taken from p95 itself before any traffic moved (`baseline_from = "p95"`).
    let events = run.automate(&mut board, at(140.0));
    assert_eq!(events.len(), 1, "{events:?}");
    let Event::BaselineCaptured { series, value, samples, window_ms, from_series, .. } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!((series.as_str(), *value, *samples, *window_ms), ("p95", 0.21, 7, 60_000));
    assert_eq!(from_series.as_deref(), Some("p95"));
    assert!(run.automate(&mut board, at(141.0)).is_empty(), "captured once");

    to_bake(&mut run, &mut board, 150.0);
    assert_eq!(board.metrics[1].baseline, Some(0.21));
    feed(&mut run, &mut board, "p95", 160.0, 160.0, Some(0.30));
    assert!(run.automate(&mut board, at(160.0)).is_empty(), "0.30 < 0.315");
    feed(&mut run, &mut board, "p95", 170.0, 170.0, Some(0.40));
    run.automate(&mut board, at(170.0));
    let Event::ThresholdBreached { breach, .. } = &run.kinds("threshold_breached")[0].event else {
        panic!()
    };
    assert_eq!(breach.baseline, Some(0.21));
    assert!((breach.limit.unwrap() - 0.315).abs() < 1e-9);
    let explained = breach.explain();
    assert!(explained.contains("baseline 0.21") && explained.contains("0.4"), "{explained}");
    assert_eq!(run.state.status, Status::RolledBack);
}

#[test]
fn a_relative_threshold_without_a_baseline_holds_the_first_shift() {
    let plan = test_plan(&Opts { probes: "\"p95\"", ..Opts::default() });
    let mut board = ProbeBoard::for_plan(&plan);
    let mut run = Run::new(plan);
    run.start(at(0.0));
    feed(&mut run, &mut board, "p95", 20.0, 30.0, Some(5.0));
    let refused = run.exec(&Command::Next { confirmed: false }, &alice(), at(30.0), None);
    let refusal = refused.expect_err("no baseline, no shift").to_string();
    assert!(refusal.contains("waits for the baseline of p95 (1m of readings)"), "{refusal}");
    assert!(refusal.contains("about 30s left"), "{refusal}");
    assert_eq!(run.state.weight, 0);
    assert_eq!(board.metrics[1].verdict, Verdict::Inconclusive, "no baseline yet");
}

#[test]
fn a_down_canary_endpoint_watched_by_the_bake_rolls_back() {
    let plan = test_plan(&Opts { probes: "\"green\"", ..Opts::default() });
    let mut board = ProbeBoard::for_plan(&plan);
    let mut run = Run::new(plan.clone());
    run.start(at(0.0));
    to_bake(&mut run, &mut board, 10.0);
    for t in [20, 21, 22] {
        let mut r = reading(Some("connection refused"), "1.4.0");
        r.at = Timestamp(t * 1000);
        board.apply(&plan, Reading::Health { index: 0, reading: r });
    }
    run.automate(&mut board, at(23.0));
    let warn_then_abort: Vec<Level> = run
        .kinds("threshold_breached")
        .iter()
        .filter_map(|r| match &r.event {
            Event::ThresholdBreached { breach, .. } => Some(breach.level),
            _ => None,
        })
        .collect();
    assert_eq!(warn_then_abort, vec![Level::Abort]);
    assert_eq!(run.state.status, Status::RolledBack);
}

#[test]
fn health_breaches_are_recorded_in_plain_words() {
    let plan = test_plan(&Opts { probes: "\"green\"", ..Opts::default() });
    let mut board = ProbeBoard::for_plan(&plan);
    let mut run = Run::new(plan.clone());
    run.start(at(0.0));
    to_bake(&mut run, &mut board, 10.0);
    let explained = |run: &Run| -> Vec<String> {
        run.kinds("threshold_breached")
            .iter()
            .filter_map(|r| match &r.event {
                Event::ThresholdBreached { breach, .. } => Some(breach.explain()),
                _ => None,
            })
            .collect()
    };
    for t in [20_u8, 21, 22] {
        let mut r = reading(Some("connection refused"), "1.4.0");
        r.at = Timestamp(i64::from(t) * 1000);
        board.apply(&plan, Reading::Health { index: 0, reading: r });
        run.automate(&mut board, at(f64::from(t) + 0.5));
    }
    // The warning is recorded once, at the first failed check; the abort when it is down.
    let said = explained(&run);
    assert!(
        said.iter().any(|s| s.starts_with("green: 1 failed health check in a row (down after 3)")),
        "{said:?}"
    );
    assert!(
        said.iter().any(|s| s
            .starts_with("green is down: 3 failed health checks in a row (down after 3)")
            && s.ends_with("; last: connection refused")),
        "{said:?}"
    );
    assert!(!said.iter().any(|s| s.contains("breached")), "{said:?}");
}

#[tokio::test]
async fn samples_are_stored_with_bounded_retention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("fd.db"), false).await.expect("open");
    let plan_text = PLAN
        .replace("@URL@", "http://127.0.0.1:9")
        .replace("@FOR@", "0")
        .replace("@NODATA@", "ignore")
        .replace("@PROBES@", "\"error_rate\"")
        .replace("@ON_BREACH@", "rollback");
    let plan = plan(&plan_text);
    let start = Command::Start {
        version: "1.4.0".into(),
        previous_version: None,
        sha: None,
        image: None,
        release_type: flightdeck::plan::ReleaseType::Hotfix,
    };
    let (id, _) =
        flightdeck::store::start(&store, &plan, "p.toml", &plan_text, &start, &alice(), at(0.0))
            .await
            .expect("start");
    let kept = usize::try_from(SAMPLES_KEPT_PER_SERIES).unwrap();
    let rows: Vec<SampleRow> = (0..kept + 100)
        .map(|i| SampleRow {
            series: "error_rate".into(),
            kind: SampleKind::Metric,
            at: Timestamp(i64::try_from(i).unwrap()),
            value: (i % 7 != 0).then_some(0.01),
            error: (i % 7 == 0).then(|| "connection refused".to_owned()),
        })
        .collect();
    for chunk in rows.chunks(300) {
        store.record_samples(id, chunk).await.expect("record");
    }
    store
        .record_samples(
            id,
            &[SampleRow {
                series: "green".into(),
                kind: SampleKind::Health,
                at: Timestamp(5),
                value: Some(12.0),
                error: None,
            }],
        )
        .await
        .expect("record health");
    let stored = store.samples(id, "error_rate", 10_000).await.expect("read");
    assert_eq!(stored.len(), kept, "pruned to the newest");
    assert_eq!(stored.first().map(|r| r.at), Some(Timestamp(100)));
    assert_eq!(stored.last(), rows.last());
    let all = store.samples_since(id, Timestamp(0)).await.expect("read all");
    assert_eq!(all.len(), kept + 1);
    assert!(all.iter().any(|r| r.kind == SampleKind::Health));
    // A second cockpit folds them into its own board and sees the same numbers.
    let mut board = ProbeBoard::for_plan(&plan);
    for r in all.iter().filter(|r| r.kind == SampleKind::Metric) {
        let result = match (&r.error, r.value) {
            (Some(e), _) => Err(e.clone()),
            (None, v) => Ok(v),
        };
        board.apply(&plan, Reading::Metric { index: 0, at: r.at, result });
    }
    assert_eq!(board.metrics[0].latest().map(|(_, v)| v), Some(0.01));
}

#[test]
fn a_source_that_stopped_answering_cannot_pass_a_bake_even_when_no_data_is_ignored() {
    let plan = test_plan(&Opts::default());
    let mut board = ProbeBoard::for_plan(&plan);
    let mut run = Run::new(plan);
    run.start(at(0.0));
    to_bake(&mut run, &mut board, 10.0);
    feed(&mut run, &mut board, "error_rate", 20.0, 60.0, Some(0.001));
    for t in [70.0, 80.0, 90.0, 100.0, 110.0, 120.0] {
        board.metrics[0].record(at(t), Err("connection refused".into()));
    }
    run.automate(&mut board, at(130.0));
    assert_eq!(run.state.status, Status::Paused);
    let reason = &run.state.pause.as_ref().unwrap().reason;
    assert!(reason.contains("6 failed reads in a row: connection refused"), "{reason}");
    assert!(run.kinds("threshold_breached").is_empty(), "an error is not a breach");
}

// ---- response bodies are capped (issue 12, item 10) --------------------------------------

/// What the hostile tester's endpoints answered: 50 MB.
const FIFTY_MB: u64 = 50 * 1000 * 1000;

/// Polls (bounded) until the server has seen `n` connections end, one way or the other.
async fn wait_connections_done(server: &big_body::BigBodyServer, n: u64) {
    for _ in 0..500 {
        if server.closed_early() + server.completed() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "the server saw {} connections end of {n} expected ({} accepted)",
        server.closed_early() + server.completed(),
        server.connections()
    );
}

#[tokio::test]
async fn a_fifty_megabyte_health_body_is_an_error_naming_the_cap_and_is_not_read_whole() {
    for framing in [big_body::Framing::Chunked, big_body::Framing::ContentLength] {
        let server = big_body::BigBodyServer::start(FIFTY_MB, framing);
        let reading = check(format!("{}/health", server.url)).await;
        assert_eq!(
            reading.error.as_deref(),
            Some("response larger than 1 MiB (max_body)"),
            "{framing:?}: {reading:?}"
        );
        assert_eq!(reading.status_code, Some(200), "{framing:?}");
        wait_connections_done(&server, 1).await;
        assert_eq!(server.connections(), 1, "{framing:?}");
        assert_eq!(server.closed_early(), 1, "{framing:?}: the client hung up before the end");
        assert_eq!(server.completed(), 0, "{framing:?}");
        // What went out is the cap plus what the kernel's socket buffers took (up to ~10 MB on
        // loopback): far from all of it.
        let sent = server.most_on_one_connection();
        assert!(sent < FIFTY_MB / 2, "{framing:?}: {sent} of {FIFTY_MB} bytes were sent");
    }
}

/// A server answering `/health` with a valid JSON body of exactly `size` bytes.
async fn sized_health(size: usize) -> Server {
    let head = r#"{"status":"healthy","version":"1.4.0","pad":""#;
    let tail = r#""}"#;
    let pad = size.checked_sub(head.len() + tail.len()).expect("size too small");
    let body = format!("{head}{}{tail}", "x".repeat(pad));
    assert_eq!(body.len(), size);
    Server::start(Router::new().route(
        "/health",
        get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    ))
    .await
}

#[tokio::test]
async fn max_body_sets_the_cap_to_the_byte() {
    let mib = 1024 * 1024;
    let exact = sized_health(mib).await;
    let reading = check(format!("{}/health", exact.url)).await;
    assert_eq!(reading.error, None, "a body of exactly 1 MiB passes: {reading:?}");
    assert_eq!(reading.version.as_deref(), Some("1.4.0"));

    let over = sized_health(mib + 1).await;
    let reading = check(format!("{}/health", over.url)).await;
    assert_eq!(reading.error.as_deref(), Some("response larger than 1 MiB (max_body)"));

    let big = sized_health(3 * mib).await;
    let mut probe = health_probe(format!("{}/health", big.url));
    probe.max_body = 4 * 1024 * 1024;
    let reading = health::check(&client(), &probe, || Timestamp(0)).await;
    assert_eq!(reading.error, None, "max_body = 4MiB lets 3 MiB through: {reading:?}");
    probe.max_body = 2 * 1024 * 1024;
    let reading = health::check(&client(), &probe, || Timestamp(0)).await;
    assert_eq!(reading.error.as_deref(), Some("response larger than 2 MiB (max_body)"));
}

#[tokio::test]
async fn fifty_megabyte_metric_answers_are_errors_naming_the_cap() {
    let server = big_body::BigBodyServer::start(FIFTY_MB, big_body::Framing::Chunked);
    let extra = format!(
        r#"
[[metrics]]
id = "prom"
prometheus = {{ url = "{url}", query = "sum(rate(errors[1m]))" }}
max_body = "2MiB"
"#,
        url = server.url
    );
    let text = PLAN.replace("@URL@", &server.url);
    let text = text.replacen("[actions.set_weight]", &format!("{extra}\n[actions.set_weight]"), 1);
    let plan = test_plan_text(&text);
    assert_eq!(metric(&plan, "prom").max_body, 2 * 1024 * 1024);
    assert_eq!(metric(&plan, "error_rate").max_body, 1024 * 1024, "the default");
    let client = client();
    let mut scrape = MetricReader::new(metric(&plan, "error_rate"), Versions::default());
    let mut prom = MetricReader::new(metric(&plan, "prom"), Versions::default());
    assert_eq!(
        scrape.read(&client, at(0.0)).await,
        Some(Err("response larger than 1 MiB (max_body)".into()))
    );
    assert_eq!(
        prom.read(&client, at(0.0)).await,
        Some(Err("response larger than 2 MiB (max_body)".into()))
    );
    drop(client);
    wait_connections_done(&server, 2).await;
    assert_eq!(server.closed_early(), 2);
    assert!(server.most_on_one_connection() < FIFTY_MB / 2);
}

/// A plan with one health endpoint and one metric, each with `max_body = VALUE` (TOML).
fn plan_with_max_body(health: &str, metric: &str) -> Result<flightdeck::plan::Plan, String> {
    let text = format!(
        r#"[service]
name = "shop"
environment = "staging"

[[health]]
id = "green"
url = "http://127.0.0.1:9/health"
max_body = {health}

[[metrics]]
id = "errors"
prometheus = {{ url = "http://127.0.0.1:9", query = "up" }}
max_body = {metric}

[[stages]]
id = "s"
name = "S"

  [[stages.steps]]
  id = "go"
  kind = "gate"
"#
    );
    flightdeck::plan::parse(&text, "t.toml").map_err(|e| e.to_string())
}

#[test]
fn max_body_is_a_size_or_bytes_and_check_refuses_what_it_cannot_honour() {
    let plan = plan_with_max_body("\"4MiB\"", "2048").expect("a valid plan");
    assert_eq!(plan.health[0].max_body, 4 * 1024 * 1024);
    assert_eq!(plan.metrics[0].max_body, 2048);
    let plan = plan_with_max_body("\"512 KiB\"", "\"1MB\"").expect("a valid plan");
    assert_eq!(plan.health[0].max_body, 512 * 1024);
    assert_eq!(plan.metrics[0].max_body, 1_000_000);

    for (value, says) in [
        ("\"4 parsecs\"", "`parsecs` is not a size unit"),
        ("\"lots\"", "`lots` is not a size"),
        ("-5", "-5 is negative"),
        ("100", "100 bytes is too small"),
        ("\"1GiB\"", "1 GiB is more than the 64 MiB a probe may read"),
    ] {
        let error = plan_with_max_body(value, "\"1MiB\"").expect_err(value);
        assert!(error.contains("health[0].max_body"), "{value}: {error}");
        assert!(error.contains(says), "{value}: {error}");
        let error = plan_with_max_body("\"1MiB\"", value).expect_err(value);
        assert!(error.contains("metrics[0].max_body"), "{value}: {error}");
        assert!(error.contains(says), "{value}: {error}");
    }
}

#[test]
fn health_require_names_the_pointer_and_what_it_found() {
    use flightdeck::probe::health::interpret;
    let mut probe = health_probe("http://127.0.0.1:9/health".into());
    probe.require = [("/checks/database".to_owned(), "ok".to_owned())].into_iter().collect();
    let judge = |body: &str| {
        let mut r = reading(None, "1.4.0");
        r.error = None;
        interpret(&probe, 200, body, &mut r);
        r.error
    };
    assert_eq!(judge(r#"{"status": "ok", "checks": {"database": "ok"}}"#), None);
    assert_eq!(
        judge(r#"{"status": "ok", "checks": {"database": "degraded"}}"#).as_deref(),
        Some(r#"/checks/database is "degraded", expected "ok""#)
    );
    assert_eq!(
        judge(r#"{"status": "ok", "checks": {}}"#).as_deref(),
        Some(r#"/checks/database is missing, expected "ok""#)
    );
    assert_eq!(
        judge(r#"{"status": "ok", "checks": {"database": false}}"#).as_deref(),
        Some(r#"/checks/database is "false", expected "ok""#)
    );
    assert!(judge("OK").is_some_and(|e| e.contains("not JSON")), "plain text cannot meet it");
    assert!(judge("").is_some_and(|e| e.contains("/checks/database")), "nor can no body");
}

#[test]
fn health_require_must_be_json_pointers() {
    let text = |require: &str| {
        format!(
            "[service]\nname = \"shop\"\nenvironment = \"staging\"\n\n[[health]]\nid = \"api\"\nurl = \"http://127.0.0.1:9/health\"\nrequire = {require}\n\n[[stages]]\nid = \"s\"\n  [[stages.steps]]\n  id = \"c\"\n  kind = \"checklist\"\n  items = [{{ id = \"a\", text = \"a\" }}]\n"
        )
    };
    let plan = flightdeck::plan::parse(&text(r#"{ "/checks/database" = "ok" }"#), "p.toml")
        .expect("a valid require");
    assert_eq!(plan.health[0].require["/checks/database"], "ok");
    let err = flightdeck::plan::parse(&text(r#"{ "checks.database" = "ok" }"#), "p.toml")
        .expect_err("not a pointer");
    assert!(err.to_string().contains("`checks.database` is not a JSON pointer"), "{err}");
}

#[test]
fn a_ratio_of_gauges_is_written_with_kind_gauge() {
    let text = |kind: &str| {
        format!(
            "[service]\nname = \"shop\"\nenvironment = \"staging\"\n\n[[metrics]]\nid = \"memory\"\nscrape = {{ url = \"http://127.0.0.1:9/metrics\", ratio = {{ numerator = \"mem_used\", denominator = \"mem_limit\"{kind} }} }}\nabort = \"> 0.9\"\n\n[[stages]]\nid = \"s\"\n  [[stages.steps]]\n  id = \"c\"\n  kind = \"checklist\"\n  items = [{{ id = \"a\", text = \"a\" }}]\n"
        )
    };
    let compute =
        |kind: &str| match flightdeck::plan::parse(&text(kind), "p.toml").expect("plan").metrics[0]
            .source
            .clone()
        {
            flightdeck::plan::MetricSource::Scrape { compute, .. } => compute,
            other => panic!("not a scrape: {other:?}"),
        };
    use flightdeck::plan::ScrapeCompute;
    assert!(matches!(compute(", kind = \"gauge\""), ScrapeCompute::GaugeRatio { .. }));
    assert!(matches!(compute(""), ScrapeCompute::Ratio { .. }), "counters by default");
    assert!(matches!(compute(", kind = \"counter\""), ScrapeCompute::Ratio { .. }));
    let err = flightdeck::plan::parse(&text(", kind = \"level\""), "p.toml").expect_err("bad kind");
    assert!(err.to_string().contains("`level` is not a kind of ratio"), "{err}");
}

#[tokio::test]
async fn a_json_source_reads_the_number_at_its_pointer() {
    let server = Server::start(Router::new().route(
        "/status",
        get(|| async {
            r#"{"memory": {"used_ratio": 0.42, "as_text": "0.5", "none": null, "word": "high"}}"#
        }),
    ))
    .await;
    let plan_for = |pointer: &str| {
        flightdeck::plan::parse(
            &format!(
                "[service]\nname = \"shop\"\nenvironment = \"staging\"\n\n[[metrics]]\nid = \"memory\"\njson = {{ url = \"{}/status\", pointer = \"{pointer}\" }}\nabort = \"> 0.9\"\n\n[[stages]]\nid = \"s\"\n  [[stages.steps]]\n  id = \"c\"\n  kind = \"checklist\"\n  items = [{{ id = \"a\", text = \"a\" }}]\n",
                server.url
            ),
            "p.toml",
        )
        .expect("plan")
    };
    let read = |pointer: &'static str| {
        let plan = plan_for(pointer);
        async move {
            let mut reader = MetricReader::new(plan.metrics[0].clone(), Versions::default());
            reader.read(&client(), Timestamp(0)).await.expect("a json source reads at once")
        }
    };
    assert_eq!(read("/memory/used_ratio").await, Ok(Some(0.42)));
    assert_eq!(read("/memory/as_text").await, Ok(Some(0.5)));
    assert_eq!(read("/memory/none").await, Ok(None), "null is no data");
    let err = read("/memory/free").await.expect_err("nothing there");
    assert!(err.contains("/memory/free finds nothing"), "{err}");
    let err = read("/memory/word").await.expect_err("not a number");
    assert!(err.contains("\"high\", not a number"), "{err}");
    let bad = flightdeck::plan::parse(
        "[service]\nname = \"shop\"\nenvironment = \"staging\"\n\n[[metrics]]\nid = \"m\"\njson = { url = \"http://127.0.0.1:9/\", pointer = \"memory.used\" }\n\n[[stages]]\nid = \"s\"\n  [[stages.steps]]\n  id = \"c\"\n  kind = \"checklist\"\n  items = [{ id = \"a\", text = \"a\" }]\n",
        "p.toml",
    )
    .expect_err("not a pointer");
    assert!(bad.to_string().contains("`memory.used` is not a JSON pointer"), "{bad}");
}
