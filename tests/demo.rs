//! Every demo scenario runs headless, through the real binary, to its expected end state.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

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
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("happy, bad-canary, flaky-health, slow-migration")
    );
}
