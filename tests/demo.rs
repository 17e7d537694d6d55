//! Every demo scenario runs headless, through the real binary, to its expected end state;
//! and the rolling/swap service behind the rolling and swap scenarios does what their plans
//! rely on.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use flightdeck::demo::rollout::{RolloutConfig, RolloutService};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn flightdeck(db: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_flightdeck"))
        .args(args)
        .env("FLIGHTDECK_DB", db)
        .env_remove("FLIGHTDECK_OPERATOR")
        .output()
        .expect("run flightdeck")
}

/// Runs a scenario headless; returns its stdout, `status --json` and `events --json`.
fn run_scenario(name: &str) -> (String, Value, Vec<Value>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("demo.db");
    let out = flightdeck(&db, &["demo", "--headless", "--scenario", name]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "demo {name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = flightdeck(&db, &["status", "--json"]);
    let status: Value = serde_json::from_slice(&status.stdout).expect("status json");
    let events = flightdeck(&db, &["events", "--json"]);
    let events = String::from_utf8_lossy(&events.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("event json"))
        .collect();
    (stdout, status, events)
}

fn kinds<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"]["kind"] == kind).collect()
}

#[test]
fn happy_completes_at_full_traffic() {
    let (stdout, status, events) = run_scenario("happy");
    assert_eq!(status["release"]["status"], "completed", "{stdout}");
    assert_eq!(status["release"]["weight"], 100);
    assert!(kinds(&events, "rollback_started").is_empty());
    assert_eq!(kinds(&events, "weight_set").len(), 3, "10, 50 and 100");
    assert!(stdout.contains("COMPLETED"));
}

#[test]
fn bad_canary_rolls_back_by_itself_once_naming_the_series() {
    let (stdout, status, events) = run_scenario("bad-canary");
    assert_eq!(status["release"]["status"], "rolled_back", "{stdout}");
    assert_eq!(status["release"]["weight"], 0);
    let rollbacks = kinds(&events, "rollback_started");
    assert_eq!(rollbacks.len(), 1, "exactly one rollback:\n{stdout}");
    let rollback = rollbacks[0];
    assert_eq!(rollback["event"]["automatic"], true);
    assert_eq!(rollback["actor"]["automatic"], true);
    let reason = rollback["event"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("error_rate"), "the reason names the series: {reason}");
    let breaches = kinds(&events, "threshold_breached");
    assert!(breaches.iter().any(|b| b["event"]["breach"]["series"] == "error_rate"
        && b["event"]["breach"]["level"] == "abort"));
    assert!(kinds(&events, "completed").is_empty(), "never both completes and rolls back");
}

#[test]
fn flaky_health_flaps_without_an_outage_and_completes() {
    let (stdout, status, events) = run_scenario("flaky-health");
    assert_eq!(status["release"]["status"], "completed", "{stdout}");
    assert!(kinds(&events, "rollback_started").is_empty(), "{stdout}");
}

#[test]
fn slow_migration_times_out_and_the_operator_rolls_back() {
    let (stdout, status, events) = run_scenario("slow-migration");
    let failed = kinds(&events, "action_failed");
    assert_eq!(failed.len(), 1, "{stdout}");
    assert_eq!(failed[0]["event"]["step"], "migrate");
    let error = failed[0]["event"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("timed out"), "{error}");
    assert_eq!(status["release"]["status"], "rolled_back", "{stdout}");
    assert_eq!(status["release"]["weight"], 0);
}

#[test]
fn unknown_scenario_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = flightdeck(&dir.path().join("d.db"), &["demo", "--headless", "--scenario", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(
        "happy, bad-canary, flaky-health, slow-migration, rolling, rolling-bad, swap, swap-bad"
    ));
}

/// For each rollback step that ran `action`: whether it finished (succeeded).
fn rollback_steps_of(events: &[Value], action: &str) -> Vec<bool> {
    kinds(events, "rollback_started")
        .iter()
        .flat_map(|r| r["event"]["steps"].as_array().cloned().unwrap_or_default())
        .filter(|s| s["action"] == action)
        .map(|s| s["id"].as_str().is_some_and(|id| finished(events, id)))
        .collect()
}

fn finished(events: &[Value], step: &str) -> bool {
    events.iter().any(|e| e["event"]["kind"] == "action_finished" && e["event"]["step"] == step)
}

/// The one automatic rollback, started on a breach of p95's baseline level.
fn assert_rolled_back_on_the_latency_baseline(stdout: &str, status: &Value, events: &[Value]) {
    assert_eq!(status["release"]["status"], "rolled_back", "{stdout}");
    let rollbacks = kinds(events, "rollback_started");
    assert_eq!(rollbacks.len(), 1, "exactly one rollback:\n{stdout}");
    assert_eq!(rollbacks[0]["event"]["automatic"], true, "{stdout}");
    let reason = rollbacks[0]["event"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("p95") && reason.contains("baseline"),
        "the reason names the latency baseline: {reason}"
    );
    let breaches = kinds(events, "threshold_breached");
    assert!(
        breaches.iter().any(|b| b["event"]["breach"]["series"] == "p95"
            && b["event"]["breach"]["level"] == "abort"
            && b["event"]["breach"]["baseline"].is_number()),
        "a p95 abort breach against a captured baseline:\n{stdout}"
    );
    assert!(kinds(events, "completed").is_empty(), "never both completes and rolls back");
    assert_eq!(kinds(events, "rollback_finished").len(), 1, "{stdout}");
}

#[test]
fn rolling_completes_pod_by_pod_and_its_watch_closes() {
    let (stdout, status, events) = run_scenario("rolling");
    assert_eq!(status["release"]["status"], "completed", "{stdout}");
    assert!(kinds(&events, "rollback_started").is_empty(), "{stdout}");
    for step in ["roll-33", "roll-67", "roll"] {
        assert!(finished(&events, step), "deploy segment `{step}` finished:\n{stdout}");
    }
    let progress = kinds(&events, "rollout_progress");
    let counts: Vec<(u64, u64)> = progress
        .iter()
        .filter_map(|p| Some((p["event"]["updated"].as_u64()?, p["event"]["desired"].as_u64()?)))
        .collect();
    assert!(
        counts.contains(&(1, 3)) && counts.contains(&(3, 3)),
        "pods counted: {counts:?}\n{stdout}"
    );
    assert!(counts.iter().all(|(_, desired)| *desired == 3), "{counts:?}");
    assert_eq!(
        kinds(&events, "watch_closed").len(),
        1,
        "the watch after release closed:\n{stdout}"
    );
}

#[test]
fn rolling_bad_rolls_back_by_itself_against_the_latency_baseline() {
    let (stdout, status, events) = run_scenario("rolling-bad");
    assert_rolled_back_on_the_latency_baseline(&stdout, &status, &events);
    let breach = kinds(&events, "threshold_breached")
        .into_iter()
        .find(|b| b["event"]["breach"]["level"] == "abort")
        .cloned()
        .unwrap_or_default();
    assert_eq!(breach["event"]["step"], "roll-33-bake", "caught at the first pod:\n{stdout}");
    assert!(!finished(&events, "roll-67"), "the rollout went no further:\n{stdout}");
    assert_eq!(rollback_steps_of(&events, "rollout_undo"), [true], "pods rolled back:\n{stdout}");
}

#[test]
fn swap_completes_and_records_the_deploy_ids() {
    let (stdout, status, events) = run_scenario("swap");
    assert_eq!(status["release"]["status"], "completed", "{stdout}");
    assert_eq!(kinds(&events, "approval_given").len(), 1, "the one sign-off it needs:\n{stdout}");
    assert!(kinds(&events, "rollback_started").is_empty(), "{stdout}");
    let deploy = events
        .iter()
        .find(|e| e["event"]["kind"] == "action_finished" && e["event"]["step"] == "deploy")
        .unwrap_or_else(|| panic!("the deploy step finished:\n{stdout}"));
    assert_eq!(deploy["event"]["outputs"], json!({"deploy_id": "dep-2", "previous_id": "dep-1"}));
    let noted = events
        .iter()
        .find(|e| e["event"]["kind"] == "action_finished" && e["event"]["step"] == "live-deploy")
        .unwrap_or_else(|| panic!("the live deploy was noted:\n{stdout}"));
    assert_eq!(noted["event"]["outputs"], json!({"deploy_id": "dep-1", "version": "1.3.2"}));
    assert_eq!(
        kinds(&events, "watch_closed").len(),
        1,
        "the watch after release closed:\n{stdout}"
    );
}

#[test]
fn swap_bad_rolls_back_to_the_previous_deploy_by_itself() {
    let (stdout, status, events) = run_scenario("swap-bad");
    assert_rolled_back_on_the_latency_baseline(&stdout, &status, &events);
    // The fleet answers 404 to a deploy id it does not know: the rollback finished only if
    // `{outputs.live-deploy.deploy_id}` was filled with the id noted before the swap.
    assert_eq!(
        rollback_steps_of(&events, "platform_rollback"),
        [true],
        "the platform rollback succeeded:\n{stdout}"
    );
}

/// The service with pods replaced quickly, so its tests take well under a second each.
async fn quick_service(cancel: &CancellationToken) -> RolloutService {
    let config = RolloutConfig {
        old_version: "1.3.2".into(),
        new_version: "1.4.0".into(),
        slow_new_version: false,
        pod_every: Duration::from_millis(20),
        swap_after: Duration::from_millis(20),
    };
    RolloutService::start(config, cancel).await.expect("start the service")
}

async fn post(url: &str, body: Option<Value>) -> (u16, Value) {
    let client = flightdeck::action::http_client(Duration::from_secs(10));
    let mut request = client.post(url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json answer"))
}

async fn get_text(url: &str) -> String {
    let client = flightdeck::action::http_client(Duration::from_secs(10));
    let response = client.get(url).send().await.expect("get");
    assert_eq!(response.status(), 200, "{url}");
    response.text().await.expect("body")
}

#[tokio::test]
async fn a_rolling_deploy_answers_once_its_share_of_pods_runs_the_new_version() {
    let cancel = CancellationToken::new();
    let app = quick_service(&cancel).await;
    assert_eq!(get_text(&format!("{}/rollout", app.url)).await, "3/3", "all on the old version");
    for (target, updated) in [(33, 1), (67, 2), (100, 3)] {
        let (code, answer) = post(
            &format!("{}/deploy", app.url),
            Some(json!({"version": "1.4.0", "target": target.to_string()})),
        )
        .await;
        assert_eq!(code, 200, "{answer}");
        assert_eq!(answer["updated"], updated, "{answer}");
        assert_eq!(get_text(&format!("{}/rollout", app.url)).await, format!("{updated}/3"));
        let on_new = app.pod_versions().iter().filter(|v| *v == "1.4.0").count();
        assert_eq!(on_new, updated);
    }
    let health: Value =
        serde_json::from_str(&get_text(&format!("{}/health", app.url)).await).expect("health json");
    assert_eq!(health["pods"], json!({"1.4.0": 3}));
    assert_eq!(health["version"], "1.4.0");
    let (code, answer) = post(&format!("{}/rollback", app.url), None).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(app.pod_versions(), vec!["1.3.2"; 3]);
    assert_eq!(get_text(&format!("{}/rollout", app.url)).await, "3/3");
    let (code, _) =
        post(&format!("{}/deploy", app.url), Some(json!({"version": "1.4.0", "target": 0}))).await;
    assert_eq!(code, 400, "a target outside 1..=100 is refused");
    cancel.cancel();
}

#[tokio::test]
async fn a_swap_returns_its_id_and_the_previous_one_which_the_rollback_goes_back_to() {
    let cancel = CancellationToken::new();
    let app = quick_service(&cancel).await;
    let (code, deploy) =
        post(&format!("{}/deploys", app.url), Some(json!({"version": "1.4.0"}))).await;
    assert_eq!(code, 200, "{deploy}");
    assert_eq!(deploy["id"], "dep-2");
    assert_eq!(deploy["previous_id"], "dep-1");
    assert_eq!(deploy["status"], "live");
    assert_eq!(app.pod_versions(), vec!["1.4.0"; 3], "swapped whole");
    let list: Value =
        serde_json::from_str(&get_text(&format!("{}/deploys", app.url)).await).expect("list json");
    assert_eq!(list[0]["id"], "dep-2", "newest first: {list}");
    assert_eq!(list[0]["status"], "live");
    assert_eq!(list[1]["id"], "dep-1");
    let status: Value =
        serde_json::from_str(&get_text(&format!("{}/deploys/dep-1", app.url)).await)
            .expect("status json");
    assert_eq!(status["status"], "superseded");
    let (code, _) =
        post(&format!("{}/rollback", app.url), Some(json!({"deploy_id": "dep-9"}))).await;
    assert_eq!(code, 404, "an unknown deploy id is refused");
    assert_eq!(app.pod_versions(), vec!["1.4.0"; 3], "and changes nothing");
    let (code, back) =
        post(&format!("{}/rollback", app.url), Some(json!({"deploy_id": "dep-1"}))).await;
    assert_eq!(code, 200, "{back}");
    assert_eq!(back["rolled_back_to"], "dep-1");
    assert_eq!(back["version"], "1.3.2");
    assert_eq!(app.pod_versions(), vec!["1.3.2"; 3]);
    cancel.cancel();
}

#[tokio::test]
async fn every_simulated_request_is_served_and_counted() {
    let cancel = CancellationToken::new();
    let app = quick_service(&cancel).await;
    let url = format!("{}/metrics", app.url);
    let mut count = 0;
    // The first second's traffic is generated at once; a few reads suffice.
    for _ in 0..50 {
        let page = get_text(&url).await;
        count = page
            .lines()
            .find_map(|l| l.strip_prefix("http_request_duration_seconds_count "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if count > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(count > 0, "requests were counted");
    cancel.cancel();
}
