//! What runbooks say, said in a plan (issue 14): roles at gates, conditional rollback steps,
//! per-step environments, literal braces in templates, threshold lists and `absent`, each
//! driven through the engine or the analysis the way a release uses them.

mod support;

use flightdeck::analysis::{self, Observed, Rules, Status as Verdict};
use flightdeck::plan::NoDataPolicy;
use flightdeck::release::{Command, Event, Phase, Status, StepStatus, Timestamp};
use support::engine::{Harness, actor, failure, next, record, rollback, says, start, success};

// ---------------------------------------------------------------------------------------------
// Roles at gates
// ---------------------------------------------------------------------------------------------

const ROLES: &str = r#"
[service]
name = "shop"
environment = "staging"

[roles]
release_manager = ["alice", "bob"]
engineer = ["alice", "carol", "dave"]

[[stages]]
id = "prep"

  [[stages.steps]]
  id = "go"
  kind = "gate"
  requires = { release_manager = 1, engineer = 1 }

  [[stages.steps]]
  id = "post"
  kind = "checklist"
  items = [{ id = "done", text = "Done" }]
"#;

fn at_role_gate() -> Harness {
    let mut h = Harness::from_toml(ROLES);
    h.ok(start(), &actor("erin"));
    assert_eq!(h.current_id(), "go");
    h
}

#[test]
fn gate_with_roles_names_the_missing_role() {
    let mut h = at_role_gate();
    h.ok(Command::Approve, &actor("carol"));
    // Two approvals counted is not enough alone: the second must be a release manager.
    h.ok(Command::Approve, &actor("dave"));
    let r = h.err(next(), &actor("erin"));
    says(&r, &["gate `go`", "needs 1 more release_manager", "one role per person"]);
    assert_eq!(h.step("go").status, StepStatus::Waiting);
}

#[test]
fn gate_with_roles_one_person_fills_one_role() {
    let mut h = at_role_gate();
    // alice is both a release manager and an engineer, but is one person.
    h.ok(Command::Approve, &actor("alice"));
    let r = h.err(next(), &actor("erin"));
    says(&r, &["needs 1 more"]);
    // carol, an engineer: alice moves to release manager and the gate passes.
    h.ok(Command::Approve, &actor("carol"));
    h.ok(next(), &actor("erin"));
    assert_eq!(h.step("go").status, StepStatus::Done);
    assert_eq!(h.current_id(), "post");
}

#[test]
fn gate_with_roles_needs_at_least_as_many_approvals_as_roles() {
    let h = at_role_gate();
    let go = h.plan.step("go").unwrap();
    // A regular release needs 2 by default, and the roles need 2 people.
    assert_eq!(h.plan.approvals_needed(go.step, flightdeck::plan::ReleaseType::Hotfix), 2);
    let missing = h.plan.roles_missing(go.step, ["bob"]);
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].to_string(), "needs 1 more engineer");
}

// ---------------------------------------------------------------------------------------------
// Conditional rollback steps
// ---------------------------------------------------------------------------------------------

const CONDITIONAL: &str = r#"
[service]
name = "shop"
environment = "staging"

[actions.migrate]
kind = "command"
argv = ["echo", "migrate"]

[actions.restore_db]
kind = "command"
argv = ["echo", "restore"]

[actions.notify]
kind = "command"
argv = ["echo", "notify"]

[rollback]
steps = ["notify", { action = "restore_db", if_done = ["migrate"] }]

[[stages]]
id = "deploy"

  [[stages.steps]]
  id = "migrate"
  kind = "action"
  action = "migrate"

  [[stages.steps]]
  id = "post"
  kind = "checklist"
  items = [{ id = "done", text = "Done" }]
"#;

#[test]
fn rollback_step_runs_when_its_if_done_step_completed() {
    let mut h = Harness::from_toml(CONDITIONAL);
    let alice = actor("alice");
    h.ok(start(), &alice);
    h.ok(next(), &alice);
    h.ok(record("migrate", 1, success()), &alice);
    assert_eq!(h.step("migrate").status, StepStatus::Done);
    h.ok(rollback("bad data"), &alice);
    let events = h.ok(record("rollback-1-notify", 1, success()), &alice);
    assert!(events.contains(&Event::ActionStarted {
        step: "rollback-2-restore_db".into(),
        attempt: 1,
        action: "restore_db".into(),
        phase: Phase::Rollback
    }));
    let restore = h.step("rollback-2-restore_db");
    assert_eq!(restore.status, StepStatus::Running, "{restore:#?}");
    assert_eq!(restore.runs.len(), 1);
}

#[test]
fn rollback_step_is_skipped_with_its_reason_when_the_step_did_not_complete() {
    let mut h = Harness::from_toml(CONDITIONAL);
    let alice = actor("alice");
    h.ok(start(), &alice);
    h.ok(next(), &alice);
    h.ok(record("migrate", 1, failure("lock timeout")), &alice);
    let started = h.ok(rollback("migration failed"), &alice);
    let Event::RollbackStarted { steps, .. } = &started[0] else { panic!("{started:#?}") };
    assert_eq!(steps[1].if_done, ["migrate"]);
    assert!(steps[0].if_done.is_empty());
    assert_eq!(
        started[1],
        Event::ActionStarted {
            step: "rollback-1-notify".into(),
            attempt: 1,
            action: "notify".into(),
            phase: Phase::Rollback
        }
    );
    let events = h.ok(record("rollback-1-notify", 1, success()), &alice);
    let skipped = events
        .iter()
        .find_map(|e| match e {
            Event::StepSkipped { step, reason } if step == "rollback-2-restore_db" => Some(reason),
            _ => None,
        })
        .unwrap_or_else(|| panic!("restore_db was not skipped: {events:#?}"));
    assert!(skipped.contains("`migrate` did not"), "{skipped}");
    assert_eq!(events.last(), Some(&Event::RollbackFinished));
    assert_eq!(h.state.status, Status::RolledBack);
    let restore = h.step("rollback-2-restore_db");
    assert_eq!(restore.status, StepStatus::Skipped);
    assert!(restore.runs.is_empty());
    // The rollout's own steps are untouched by the skip.
    assert_eq!(h.step("post").status, StepStatus::Pending);
}

#[test]
fn rollback_started_without_if_done_still_loads() {
    // A RollbackStarted recorded before conditional steps existed has no `if_done`.
    let old = r#"{"kind":"rollback_started","reason":"r","automatic":false,"steps":[{"id":"rollback-1-notify","action":"notify","sets_weight_zero":false,"halt_on_failure":true}]}"#;
    let event: Event = serde_json::from_str(old).expect("an old event loads");
    let Event::RollbackStarted { steps, .. } = event else { panic!() };
    assert!(steps[0].if_done.is_empty());
    let written = serde_json::to_string(&Event::RollbackStarted {
        reason: "r".into(),
        automatic: false,
        steps,
        signature: None,
    })
    .unwrap();
    assert!(!written.contains("if_done"), "unconditional steps are written as before: {written}");
}

// ---------------------------------------------------------------------------------------------
// Per-step environment and literal braces
// ---------------------------------------------------------------------------------------------

const ENVIRONMENTS: &str = r#"
[service]
name = "shop"
environment = "production"

[actions.deploy]
kind = "command"
argv = ["curl", "-w", "%{{http_code}}", "https://deploy.internal/{environment}/{version}"]

[[stages]]
id = "staging"
environment = "staging"

  [[stages.steps]]
  id = "deploy-staging"
  kind = "action"
  action = "deploy"

  [[stages.steps]]
  id = "deploy-eu"
  kind = "action"
  action = "deploy"
  environment = "staging-eu"

[[stages]]
id = "prod"

  [[stages.steps]]
  id = "deploy-prod"
  kind = "action"
  action = "deploy"
"#;

fn argv_for(h: &Harness, step: &str) -> Vec<String> {
    let info = h.state.info.as_ref().expect("started");
    let info = flightdeck::action::info_for_step(&h.plan, step, info);
    let spec = h.plan.action("deploy").unwrap();
    match flightdeck::action::prepare(spec, &info, 1, None, &mut Vec::new()).unwrap() {
        flightdeck::action::Prepared::Command(c) => c.argv,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_steps_environment_overrides_its_stages_and_braces_escape() {
    let mut h = Harness::from_toml(ENVIRONMENTS);
    h.ok(start(), &actor("alice"));
    let staging = argv_for(&h, "deploy-staging");
    assert_eq!(staging[2], "%{http_code}", "{{ }} are literal braces");
    assert!(staging[3].ends_with("/staging/1.4.2"), "{staging:?}");
    assert!(argv_for(&h, "deploy-eu")[3].contains("/staging-eu/"));
    assert!(argv_for(&h, "deploy-prod")[3].contains("/production/"));
}

// ---------------------------------------------------------------------------------------------
// Threshold lists and `absent`
// ---------------------------------------------------------------------------------------------

const LATENCY: &str = r#"
[service]
name = "shop"
environment = "staging"

[[metrics]]
id = "p99"
unit = "s"
prometheus = { url = "http://127.0.0.1:9", query = "p99", by_label = "version" }
abort = ["> 500ms", "> baseline * 1.5"]

[[metrics]]
id = "errors"
unit = "ratio"
prometheus = { url = "http://127.0.0.1:9", query = "errors" }
abort = ">= 2%"
absent = 0

[deploy]
strategy = "rolling"

[actions.ship]
kind = "command"
argv = ["true"]

[[stages]]
id = "s"

  [[stages.steps]]
  id = "ship"
  kind = "deploy"
  action = "ship"

  [[stages.steps]]
  id = "watch"
  kind = "bake"
  duration = "1m"
  probes = ["p99", "errors"]
"#;

fn verdict(rules: &Rules, values: &[f64], baseline: Option<f64>) -> analysis::Verdict {
    let samples: Vec<(Timestamp, f64)> =
        values.iter().enumerate().map(|(i, v)| (Timestamp(i as i64 * 1000), *v)).collect();
    let now = samples.last().map_or(Timestamp(0), |s| s.0);
    analysis::evaluate(rules, &Observed { samples: &samples, no_data_since: None }, baseline, now)
}

#[test]
fn a_level_of_two_thresholds_fails_on_either() {
    let plan = support::engine::plan_from(LATENCY);
    let rules = Rules::of(&plan.metrics[0], false);
    // 600 ms is above 500 ms, whatever the baseline.
    let v = verdict(&rules, &[0.6], None);
    assert_eq!(v.status, Verdict::Fail);
    assert_eq!(v.held.as_ref().unwrap().threshold, "> 0.5");
    // 300 ms with a 180 ms baseline is above baseline × 1.5 (270 ms).
    let v = verdict(&rules, &[0.3], Some(0.18));
    assert_eq!(v.status, Verdict::Fail);
    assert_eq!(v.held.as_ref().unwrap().threshold, "> baseline × 1.5");
    // 300 ms without a baseline: not a breach of 500 ms, the relative one cannot say yet.
    let v = verdict(&rules, &[0.3], None);
    assert_eq!(v.status, Verdict::Inconclusive);
    assert!(!v.conclusive);
    assert_eq!(verdict(&rules, &[0.25], Some(0.2)).status, Verdict::Pass);
}

#[test]
fn percent_thresholds_compare_in_the_metrics_unit() {
    let plan = support::engine::plan_from(LATENCY);
    let errors = &plan.metrics[1];
    assert_eq!(errors.absent, Some(0.0));
    assert_eq!(errors.no_data, NoDataPolicy::Warn);
    let rules = Rules::of(errors, false);
    assert_eq!(verdict(&rules, &[0.02], None).status, Verdict::Fail, ">= includes the bound");
    assert_eq!(verdict(&rules, &[0.019], None).status, Verdict::Pass);
}

#[test]
fn absent_counts_for_a_missing_series_only_after_a_successful_read() {
    use flightdeck::probe::metrics::present_or_absent;
    assert_eq!(present_or_absent(None, Some(0.0)), Some(0.0));
    assert_eq!(present_or_absent(Some(0.3), Some(0.0)), Some(0.3));
    assert_eq!(present_or_absent(None, None), None);
    // On the board: a read that found no series is a 0 sample, a failed read stays an error.
    let plan = support::engine::plan_from(LATENCY);
    let mut board = flightdeck::probe::ProbeBoard::for_plan(&plan);
    let row = &mut board.metrics[1];
    row.record(Timestamp(1000), Ok(present_or_absent(None, plan.metrics[1].absent)));
    assert_eq!(row.latest(), Some((Timestamp(1000), 0.0)));
    assert_eq!(row.no_data_since, None);
    row.record(Timestamp(2000), Err("connection refused".into()));
    assert_eq!(row.error.as_deref(), Some("connection refused"));
    assert_eq!(row.latest(), Some((Timestamp(1000), 0.0)), "a failed read adds no sample");
}
