//! Gate deadlines and soak (issue 15): a gate's `timeout` is decided by `flightdeck supervise`
//! with no cockpit open — `on_timeout = "reject"` (the default) rejects the gate, `"pause"`
//! pauses the release, once — and `min_wait` keeps a gate from passing before its soak is over.
//!
//! Every process a test starts is stopped by it; waits are bounded polls, never timings.

mod recorded;
mod support;

use std::time::Duration;

use flightdeck::release::{Command, Timestamp};
use flightdeck::store::{self, Store};
use serde_json::Value;
use support::cli::{Deck, Running, kinds};

fn gate_plan(extra: &str) -> String {
    format!(
        r#"[service]
name = "billing"
environment = "staging"

[[stages]]
id = "decide"
name = "Decide"

  [[stages.steps]]
  id = "go"
  kind = "gate"
  name = "Go/no-go"
  approvals = 1
  {extra}

  [[stages.steps]]
  id = "after"
  kind = "checklist"
  name = "After"
  items = [{{ id = "ok", text = "All good" }}]
"#
    )
}

/// Stops a supervisor with SIGTERM and returns its stderr.
fn terminate(supervisor: Running) -> String {
    // SAFETY: kill only sends a signal to the child we started.
    unsafe {
        libc::kill(i32::try_from(supervisor.id()).expect("pid"), libc::SIGTERM);
    }
    supervisor.wait().stderr
}

fn timed_out(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["event"]["kind"] == "gate_timed_out").collect()
}

#[test]
fn an_unanswered_gate_is_rejected_by_supervise_with_no_cockpit_open() {
    let deck = Deck::new();
    let plan = deck.write("plan.toml", &gate_plan(r#"timeout = "1s""#));
    let plan = plan.display().to_string();
    deck.ok(&["check", &plan]);
    deck.ok(&["start", &plan, "--version", "2.0.0"]);
    let supervisor = deck.spawn(&["supervise"]);
    let events = deck
        .wait_events("the gate to time out", Duration::from_secs(30), |e| !timed_out(e).is_empty());
    let stderr = terminate(supervisor);
    let decided = timed_out(&events);
    assert_eq!(decided.len(), 1, "{:?}\n{stderr}", kinds(&events));
    assert_eq!(decided[0]["event"]["on_timeout"], "reject", "{}", decided[0]);
    assert_eq!(decided[0]["actor"]["automatic"], true, "flightdeck's decision: {}", decided[0]);

    // The gate can no longer pass: approving or passing it is refused, naming why.
    deck.fails(&["approve"], 3, "rejected by flightdeck");
    deck.fails(&["next"], 3, "no decision within 1s (on_timeout = reject)");
    let status = deck.status();
    assert_eq!(status["release"]["status"], "running", "{status:#}");
    deck.ok(&["abort", "--reason", "nobody decided in time"]);
    let report = deck.ok(&["report"]).stdout;
    assert!(report.contains("| gate timed out | gate go had no decision within 1s"), "{report}");
}

#[test]
fn an_unanswered_gate_pauses_the_release_once_with_on_timeout_pause() {
    let deck = Deck::new();
    let plan = deck.write("plan.toml", &gate_plan("timeout = \"1s\"\n  on_timeout = \"pause\""));
    let plan = plan.display().to_string();
    deck.ok(&["start", &plan, "--version", "2.0.0"]);
    let supervisor = deck.spawn(&["supervise"]);
    deck.wait_events("the gate to time out", Duration::from_secs(30), |e| !timed_out(e).is_empty());
    let status = deck.status();
    assert_eq!(status["release"]["status"], "paused", "{status:#}");

    // A person takes over: approves, resumes and passes the gate; flightdeck does not
    // time it out a second time.
    deck.ok(&["approve"]);
    deck.ok(&["resume"]);
    deck.ok(&["next"]);
    let events = deck.events();
    let stderr = terminate(supervisor);
    assert_eq!(timed_out(&events).len(), 1, "{:?}\n{stderr}", kinds(&events));
    assert!(kinds(&events).contains(&"step_completed"), "{:?}", kinds(&events));
}

#[tokio::test]
async fn a_gate_with_min_wait_passes_only_after_its_soak() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Store::open(&dir.path().join("f.db"), false).await.expect("open");
    let text = gate_plan(r#"min_wait = "10m""#);
    let plan = flightdeck::plan::parse(&text, "soak.toml").expect("plan");
    let start = Command::Start {
        version: "2.0.0".into(),
        previous_version: None,
        sha: None,
        image: None,
        release_type: flightdeck::plan::ReleaseType::Regular,
    };
    let alice = recorded::person("alice");
    let (id, _) = store::start(&db, &plan, "soak.toml", &text, &start, &alice, recorded::T0)
        .await
        .expect("start");
    let at = |secs: i64| Timestamp(recorded::T0.0 + secs * 1000);
    let bob = recorded::person("bob");
    store::execute(&db, id, &Command::Approve, &bob, None, || at(60)).await.expect("approve");
    let next = Command::Next { confirmed: false };
    let early = store::execute(&db, id, &next, &alice, None, || at(120)).await;
    let refused = early.expect_err("the soak is not over").to_string();
    assert!(refused.contains("must stay open for 10m; 8m to go"), "{refused}");
    store::execute(&db, id, &next, &alice, None, || at(600)).await.expect("passes after 10m");
}

#[test]
fn bad_deadlines_are_refused_with_where_and_what_to_do() {
    for (extra, says) in [
        (
            "timeout = \"30m\"\n  on_timeout = \"shrug\"",
            "use \"reject\" (the default) or \"pause\"",
        ),
        ("on_timeout = \"pause\"", "`on_timeout` without a `timeout` never applies"),
        ("timeout = \"5m\"\n  min_wait = \"10m\"", "may not pass before 10m (min_wait)"),
        ("timeout = \"soon\"", "stages[0].steps[0].timeout"),
        (
            "inputs = [{ id = \"ticket\", prompt = \"Change ticket\", pattern = \"^CHG-[\" }]",
            "stages[0].steps[0].inputs[0].pattern",
        ),
        (
            "inputs = [{ id = \"a\", prompt = \"A\" }, { id = \"a\", prompt = \"B\" }]",
            "input `a` is declared twice",
        ),
        ("inputs = [{ id = \"change ticket\", prompt = \"A\" }]", "is not an input id"),
    ] {
        let err =
            flightdeck::plan::parse(&gate_plan(extra), "gate.toml").expect_err(extra).to_string();
        assert!(err.contains(says), "{extra}: {err}");
        assert!(err.contains("gate.toml"), "{err}");
    }
    let plan = flightdeck::plan::parse(&gate_plan("timeout = \"30m\""), "gate.toml").expect("ok");
    let flightdeck::plan::StepKind::Gate { deadline: Some(d), .. } = &plan.stages[0].steps[0].kind
    else {
        panic!("no deadline")
    };
    assert_eq!(d.on_timeout, flightdeck::plan::OnTimeout::Reject, "reject is the default");
}

/// Typed inputs from the CLI: a value that does not match is refused naming the pattern, the
/// gate does not pass without them, and the value is in the status, the record and the report.
#[test]
fn a_change_ticket_is_typed_at_the_gate_and_kept_in_the_record() {
    let deck = Deck::new();
    let inputs =
        r#"inputs = [{ id = "ticket", prompt = "Change ticket", pattern = "^CHG-[0-9]+$" }]"#;
    let plan = deck.write("plan.toml", &gate_plan(inputs));
    let plan = plan.display().to_string();
    deck.ok(&["start", &plan, "--version", "2.0.0"]);
    deck.fails(&["approve", "--input", "ticket=42"], 3, "must match `^CHG-[0-9]+$`");
    deck.fails(&["approve", "--input", "ticket"], 2, "write ID=VALUE");
    deck.fails(&["approve", "--input", "owner=bob"], 3, "has no input `owner`; it asks for ticket");
    deck.ok(&["approve"]);
    deck.fails(&["next"], 3, "needs its inputs first: ticket (Change ticket)");
    deck.ok(&["approve", "--input", "ticket=CHG-42"]).expect_code(0, "approve with the ticket");
    let status = deck.status();
    let text = status.to_string();
    assert!(text.contains(r#""value":"CHG-42""#), "{status:#}");
    deck.ok(&["next"]);
    let events = deck.events();
    assert!(kinds(&events).contains(&"gate_input_given"), "{:?}", kinds(&events));
    let report = deck.ok(&["report"]).stdout;
    assert!(report.contains("| Approved | Go/no-go: "), "{report}");
    assert!(report.contains("(ticket CHG-42)"), "{report}");
    assert!(report.contains("Change ticket (`ticket`) = `CHG-42`"), "{report}");
}
