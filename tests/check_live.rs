//! `flightdeck check --live` (issue 14) against a live HTTP server on 127.0.0.1 and a dead
//! port: every secret, health endpoint, metric and webhook host is tried once and shown in a
//! table, a dead one fails the check naming its host, a missing secret of a probe fails it
//! too, and `start` refuses a plan whose probe secret is not set. No action is run.

mod probe_support;
mod support;

use axum::Router;
use axum::routing::{get, post};
use probe_support::{Server, closed_port};
use support::cli::{Deck, Out, Running};

const TOKEN: &str = "FD_LIVE_TEST_TOKEN";

async fn live_server() -> Server {
    Server::start(
        Router::new()
            .route(
                "/health",
                get(|| async {
                    axum::Json(serde_json::json!({"status": "ok", "version": "1.4.0"}))
                }),
            )
            .route("/metrics", get(|| async { "# TYPE queue_depth gauge\nqueue_depth 7\n" }))
            .route("/hook", post(|| async { "ok" })),
    )
    .await
}

/// A plan with a health probe whose header needs the token, a gauge, a webhook, and
/// `extra` (more probes) appended.
fn plan(deck: &Deck, live: &str, extra: &str) -> std::path::PathBuf {
    deck.write(
        "plan.toml",
        &format!(
            r#"[service]
name = "api"
environment = "production"

[[health]]
id = "api"
url = "{live}/health"
headers = {{ Authorization = "Bearer ${{env:{TOKEN}}}" }}

[[metrics]]
id = "queue"
name = "queue depth"
scrape = {{ url = "{live}/metrics", gauge = "queue_depth" }}
warn = "> 500"

{extra}

[actions.deploy]
kind = "command"
argv = ["sh", "-c", "touch deployed"]

[[notify]]
url = "{live}/hook"

[[stages]]
id = "s"
name = "S"

  [[stages.steps]]
  id = "deploy"
  kind = "action"
  action = "deploy"
"#
        ),
    )
}

/// Runs the binary with `token` as the probe's secret (or without it), off the runtime.
async fn run(deck: &Deck, args: &[&str], token: Option<&str>) -> Out {
    let mut cmd = deck.command(args);
    match token {
        Some(t) => cmd.env(TOKEN, t),
        None => cmd.env_remove(TOKEN),
    };
    tokio::task::spawn_blocking(move || Running::spawn(cmd).wait()).await.expect("join")
}

fn row<'a>(out: &'a Out, what: &str) -> &'a str {
    out.stdout
        .lines()
        .find(|l| l.starts_with(what))
        .unwrap_or_else(|| panic!("no row {what}:\n{}", out.stdout))
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_answering_passes_and_runs_no_action() {
    let server = live_server().await;
    let deck = Deck::new();
    let plan = plan(&deck, &server.url, "");
    let out = run(&deck, &["check", "--live", &plan.display().to_string()], Some("s3cr3t")).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let secret = row(&out, &format!("secret {TOKEN}"));
    assert!(secret.contains("yes") && secret.contains("health probe api"), "{secret}");
    assert!(!out.stdout.contains("s3cr3t"), "a secret's value is never shown:\n{}", out.stdout);
    assert!(row(&out, "health api").contains("HTTP 200"), "{}", out.stdout);
    assert!(row(&out, "health api").contains("version 1.4.0"), "{}", out.stdout);
    let queue = row(&out, "metric queue");
    assert!(queue.contains("yes") && queue.split_whitespace().any(|w| w == "7"), "{queue}");
    assert!(row(&out, "webhook notify[0]").contains("reachable (not posted to)"), "{}", out.stdout);
    assert!(out.stdout.contains("everything the plan needs answered"), "{}", out.stdout);
    assert!(!deck.dir.path().join("deployed").exists(), "check --live ran an action");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_endpoint_fails_the_check_naming_its_host() {
    let server = live_server().await;
    let deck = Deck::new();
    let dead = closed_port();
    let extra = format!(
        r#"[[health]]
id = "dead"
url = "http://127.0.0.1:{dead}/health"

[[health]]
id = "nowhere"
url = "http://no-such-host.invalid/health"

[[metrics]]
id = "latency"
prometheus = {{ url = "http://127.0.0.1:{dead}", query = "up" }}
abort = "> 1"
"#
    );
    let plan = plan(&deck, &server.url, &extra);
    let out = run(&deck, &["check", "--live", &plan.display().to_string()], Some("s3cr3t")).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    let dead_row = row(&out, "health dead");
    assert!(dead_row.contains("NO") && dead_row.contains("connection refused"), "{dead_row}");
    assert!(dead_row.contains(&format!("127.0.0.1:{dead}")), "{dead_row}");
    let nowhere = row(&out, "health nowhere");
    assert!(nowhere.contains("NO"), "{nowhere}");
    let why = nowhere.rsplit("  ").next().unwrap_or_default();
    assert!(why.contains("no-such-host.invalid"), "the host is named in why: {nowhere}");
    let metric = row(&out, "metric latency");
    assert!(metric.contains("NO") && metric.contains(&format!("127.0.0.1:{dead}")), "{metric}");
    assert!(row(&out, "health api").contains("yes"), "{}", out.stdout);
    assert!(out.stderr.contains("3 of 7 did not answer"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_probe_secret_fails_the_check_and_start_refuses() {
    let server = live_server().await;
    let deck = Deck::new();
    let plan = plan(&deck, &server.url, "");
    let plan = plan.display().to_string();
    let out = run(&deck, &["check", "--live", &plan], None).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    let secret = row(&out, &format!("secret {TOKEN}"));
    assert!(secret.contains("NO") && secret.contains("not set in this environment"), "{secret}");
    let start = run(&deck, &["start", &plan, "--version", "1.4.0"], None).await;
    assert_eq!(start.code, Some(1), "{start:?}");
    assert!(
        start.stderr.contains(&format!("{TOKEN} (used by health probe api)")),
        "{}",
        start.stderr
    );
    assert!(start.stderr.contains("nothing was recorded"), "{}", start.stderr);
}
