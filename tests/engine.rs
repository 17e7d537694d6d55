//! The release engine's rules, one test per rule, named `<state>_<command>_<outcome>`. Each
//! asserts the whole event list, the state fields the rule is about, and for rejections the
//! words a tired operator reads. Driven through `support::engine::Harness`.

mod support;

use flightdeck::plan::ReleaseType;
use flightdeck::release::WeightChange;
use flightdeck::release::{
    Breach, Command, Event, Level, Phase, RejectionKind, Resolution, RunOutcome, State, Status,
    StepStatus, Timestamp,
};
use support::engine::{
    Harness, T0, abort, actor, decline, failure, interrupted, next, next_confirmed, note, pause,
    record, resolve, rollback, same, says, start, start_as, success, tick, untick,
};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// Gate policy variants over the same stages: self-approval forbidden, a minimum wait.
const STRICT: &str = r#"
[service]
name = "shop"
environment = "production"

[policy]
forbid_self_approval = true

[release_types.regular]
approvals = 1

[[stages]]
id = "prep"

  [[stages.steps]]
  id = "go"
  kind = "gate"
  min_wait = "10m"

  [[stages.steps]]
  id = "post"
  kind = "checklist"
  items = [{ id = "dashboards", text = "Dashboards look normal" }]
"#;

/// Emergency releases skip the preparation stage.
const EMERGENCY: &str = r#"
[service]
name = "shop"
environment = "staging"

[release_types.emergency]
approvals = 1
skip_stages = ["prep"]

[[stages]]
id = "prep"

  [[stages.steps]]
  id = "pre"
  kind = "checklist"
  items = [{ id = "tests", text = "CI is green" }]

  [[stages.steps]]
  id = "go"
  kind = "gate"

[[stages]]
id = "smoke"

  [[stages.steps]]
  id = "smoke"
  kind = "checklist"
  items = [{ id = "smoke", text = "Smoke tests pass" }]
"#;

/// A rollback procedure of two actions that goes on past a failed step.
const CONTINUE: &str = r#"
[service]
name = "shop"
environment = "staging"

[[health]]
id = "green"
url = "http://127.0.0.1:9/health"

[[metrics]]
id = "error_rate"
scrape = { url = "http://127.0.0.1:9/metrics", gauge = "errors" }
abort = "> 0.05"

[actions.set_weight]
kind = "command"
argv = ["echo", "weight={weight}"]

[actions.undeploy]
kind = "command"
argv = ["echo", "undeploy"]

[actions.notify]
kind = "command"
argv = ["echo", "notify"]

[traffic]
set = "set_weight"

[rollback]
steps = ["undeploy", "notify"]
on_failure = "continue"

[[stages]]
id = "canary"

  [[stages.steps]]
  id = "shift-50"
  kind = "traffic"
  weight = 50

  [[stages.steps]]
  id = "bake-50"
  kind = "bake"
  duration = "1m"
  probes = ["green", "error_rate"]
  on_breach = "pause"
"#;

fn alice() -> flightdeck::release::Actor {
    actor("alice")
}

fn bob() -> flightdeck::release::Actor {
    actor("bob")
}

fn carol() -> flightdeck::release::Actor {
    actor("carol")
}

/// The fixture release, started by alice: the `pre` checklist is current.
fn started() -> Harness {
    let mut h = Harness::basic();
    h.ok(start(), &alice());
    h
}

/// The `go` gate is current (needs 2 approvals for a regular release).
fn at_gate() -> Harness {
    let mut h = started();
    h.ok(tick("tests"), &alice());
    h.ok(tick("oncall"), &bob());
    h.ok(next(), &alice());
    assert_eq!(h.current_id(), "go");
    h
}

/// The `backup` action step is current and waiting.
fn at_backup() -> Harness {
    let mut h = at_gate();
    h.ok(Command::Approve, &alice());
    h.ok(Command::Approve, &bob());
    h.ok(next(), &alice());
    assert_eq!(h.current_id(), "backup");
    h
}

/// The `backup` action runs (attempt 1).
fn backup_running() -> Harness {
    let mut h = at_backup();
    h.ok(next(), &alice());
    h
}

/// The `shift-10` traffic step is current and waiting; weight 0.
fn at_shift_10() -> Harness {
    let mut h = backup_running();
    h.ok(record("backup", 1, success()), &alice());
    assert_eq!(h.current_id(), "shift-10");
    h
}

/// The `bake-10` bake is current and waiting; weight 10.
fn at_bake() -> Harness {
    let mut h = at_shift_10();
    h.ok(next(), &alice());
    h.ok(record("shift-10", 1, success()), &alice());
    assert_eq!(h.current_id(), "bake-10");
    h
}

/// The `shift-100` traffic step is current and waiting; weight 10.
fn at_shift_100() -> Harness {
    let mut h = at_bake();
    h.ok(next(), &alice());
    h.advance_secs(1);
    let pass = h.pass_bake();
    h.ok(pass, &alice());
    assert_eq!(h.current_id(), "shift-100");
    h
}

/// The whole fixture release, completed.
fn completed() -> Harness {
    let mut h = at_shift_100();
    h.ok(next_confirmed(), &alice());
    h.ok(record("shift-100", 1, success()), &alice());
    h.ok(tick("dashboards"), &bob());
    h.ok(next(), &bob());
    assert_eq!(h.state.status, Status::Completed);
    h
}

/// Rolling back from the bake at 10%: the traffic step of the rollback runs.
fn rolling_back() -> Harness {
    let mut h = at_bake();
    h.ok(rollback("error rate 3%"), &bob());
    h
}

/// The procedure a `RollbackStarted` fixes, as (id, action, sets weight zero, halts on failure).
fn procedure(event: &Event) -> Vec<(String, String, bool, bool)> {
    let Event::RollbackStarted { steps, .. } = event else {
        panic!("not a rollback start: {event:#?}");
    };
    steps
        .iter()
        .map(|s| (s.id.clone(), s.action.clone(), s.sets_weight_zero, s.halt_on_failure))
        .collect()
}

fn started_action(step: &str, attempt: u32, action: &str, phase: Phase) -> Event {
    Event::ActionStarted { step: step.into(), attempt, action: action.into(), phase }
}

fn finished(step: &str, attempt: u32) -> Event {
    Event::ActionFinished {
        step: step.into(),
        attempt,
        exit_code: Some(0),
        duration_ms: 1500,
        output_tail: Some("done".into()),
        outputs: Default::default(),
    }
}

fn failed(step: &str, attempt: u32, error: &str) -> Event {
    Event::ActionFailed {
        step: step.into(),
        attempt,
        error: error.into(),
        exit_code: Some(1),
        duration_ms: 1500,
        output_tail: None,
    }
}

fn completed_step(step: &str) -> Event {
    Event::StepCompleted { step: step.into() }
}

fn statuses(h: &Harness) -> Vec<(String, StepStatus)> {
    h.state.steps.iter().map(|s| (s.id.clone(), s.status)).collect()
}

fn weights(h: &Harness) -> Vec<u8> {
    h.state.weight_history.iter().map(|w| w.weight).collect()
}

/// Every command but `Note`, with reasons and confirmations given, for "nothing more runs".
fn every_command_but_note() -> Vec<Command> {
    vec![
        start(),
        tick("tests"),
        untick("tests"),
        Command::Approve,
        Command::Revoke,
        decline("no"),
        next_confirmed(),
        Command::Shift { confirmed: true },
        Command::Retry { confirmed: false },
        resolve(Resolution::Succeeded, "checked by hand"),
        resolve(Resolution::Failed, "checked by hand"),
        Command::Skip { reason: "not needed".into(), confirmed: true },
        pause("hold on"),
        Command::Resume,
        rollback("bad"),
        abort("bad"),
        record("backup", 1, success()),
        interrupted("backup", 1),
    ]
}

/// Asserts that only notes are accepted, and that a note changes nothing but the count.
fn only_notes_are_accepted(mut h: Harness) {
    let status = h.state.status;
    for command in every_command_but_note() {
        for who in [alice(), bob(), carol()] {
            h.err(command.clone(), &who);
        }
    }
    let before = h.state.clone();
    same(
        &h.ok(note("post-mortem on Monday"), &carol()),
        &vec![Event::NoteAdded { text: "post-mortem on Monday".into() }],
    );
    assert_eq!(h.state.notes, before.notes + 1);
    assert_eq!(h.state.status, status);
    assert_eq!(h.state.weight, before.weight);
    assert_eq!(h.state.steps, before.steps);
}

// ---------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------

#[test]
fn planned_start_opens_the_first_step() {
    let mut h = Harness::basic();
    assert_eq!(h.state.status, Status::Planned);
    let events = h.ok(start(), &alice());
    same(
        &events,
        &vec![Event::ReleaseStarted {
            service: "shop".into(),
            environment: "production".into(),
            version: "1.4.2".into(),
            previous_version: Some("1.4.1".into()),
            sha: Some("abc1234".into()),
            image: None,
            release_type: ReleaseType::Regular,
            plan_sha256: None,
        }],
    );
    assert_eq!(h.state.status, Status::Running);
    assert_eq!(h.state.cursor, 0);
    assert_eq!(h.state.seq, 1);
    let info = h.state.info.as_ref().expect("release info");
    assert_eq!(info.started_by, alice());
    assert_eq!(info.started_at, T0);
    assert_eq!(h.step("pre").status, StepStatus::Waiting);
    assert_eq!(h.step("pre").current_since, Some(T0));
    assert_eq!(h.step("go").status, StepStatus::Pending);
}

#[test]
fn running_start_is_rejected() {
    let mut h = started();
    let r = h.err(start(), &bob());
    assert_eq!(r.kind, RejectionKind::Rule);
    says(&r, &["already started"]);
}

#[test]
fn planned_start_without_version_is_rejected() {
    let mut h = Harness::basic();
    let r = h.err(start_as("  ", ReleaseType::Regular), &alice());
    says(&r, &["needs a version"]);
}

#[test]
fn planned_commands_other_than_start_are_rejected() {
    let mut h = Harness::basic();
    for command in every_command_but_note().into_iter().skip(1).chain([note("early")]) {
        h.err(command, &alice());
    }
    says(&h.err(next(), &alice()), &["has not started"]);
}

#[test]
fn planned_start_emergency_skips_the_plans_skip_stages() {
    let mut h = Harness::from_toml(EMERGENCY);
    let events = h.ok(start_as("1.4.3", ReleaseType::Emergency), &alice());
    same(
        &events,
        &vec![
            Event::ReleaseStarted {
                service: "shop".into(),
                environment: "staging".into(),
                version: "1.4.3".into(),
                previous_version: Some("1.4.1".into()),
                sha: Some("abc1234".into()),
                image: None,
                release_type: ReleaseType::Emergency,
                plan_sha256: None,
            },
            Event::StepSkipped {
                step: "pre".into(),
                reason: "emergency releases skip stage prep".into(),
            },
            Event::StepSkipped {
                step: "go".into(),
                reason: "emergency releases skip stage prep".into(),
            },
        ],
    );
    assert_eq!(h.state.status, Status::Running);
    same(
        &statuses(&h),
        &vec![
            ("pre".into(), StepStatus::Skipped),
            ("go".into(), StepStatus::Skipped),
            ("smoke".into(), StepStatus::Waiting),
        ],
    );
    assert_eq!(h.current_id(), "smoke");
    assert_eq!(h.step("go").skip_reason.as_deref(), Some("emergency releases skip stage prep"));
    h.ok(tick("smoke"), &alice());
    same(&h.ok(next(), &alice()), &vec![completed_step("smoke"), Event::Completed]);
    assert_eq!(h.state.status, Status::Completed);
}

#[test]
fn planned_start_regular_skips_nothing() {
    let mut h = Harness::from_toml(EMERGENCY);
    let events = h.ok(start(), &alice());
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(h.current_id(), "pre");
}

// ---------------------------------------------------------------------------------------------
// Checklists
// ---------------------------------------------------------------------------------------------

#[test]
fn checklist_tick_records_who_and_when() {
    let mut h = started();
    h.advance_secs(5);
    let events = h.ok(tick("tests"), &bob());
    same(&events, &vec![Event::ItemTicked { step: "pre".into(), item: "tests".into() }]);
    let mark = h.step("pre").ticks.get("tests").expect("ticked");
    assert_eq!(mark.by, bob());
    assert_eq!(mark.at, T0.plus_millis(5000));
    assert_eq!(h.step("pre").status, StepStatus::Waiting);
}

#[test]
fn checklist_tick_twice_names_who_ticked() {
    let mut h = started();
    h.ok(tick("tests"), &bob());
    let r = h.err(tick("tests"), &alice());
    says(&r, &["`tests` is already ticked by bob at 10:42:11"]);
}

#[test]
fn checklist_tick_unknown_item_lists_known_items() {
    let mut h = started();
    let r = h.err(tick("smoke"), &alice());
    says(&r, &["checklist `pre` has no item `smoke`", "its items are: tests, oncall"]);
    // An item of a later checklist is not an item of the current one.
    let r = h.err(tick("dashboards"), &alice());
    says(&r, &["no item `dashboards`", "tests, oncall"]);
}

#[test]
fn gate_tick_is_rejected_as_not_a_checklist() {
    let mut h = at_gate();
    let r = h.err(tick("tests"), &alice());
    says(&r, &["cannot tick `tests`", "the current step is gate `go`, not a checklist"]);
    let r = h.err(untick("tests"), &alice());
    says(&r, &["cannot untick `tests`", "gate `go`"]);
    // The finished checklist keeps its ticks.
    assert_eq!(h.step("pre").ticks.len(), 2);
}

#[test]
fn checklist_untick_takes_the_tick_back() {
    let mut h = started();
    h.ok(tick("tests"), &bob());
    let events = h.ok(untick("tests"), &alice());
    same(&events, &vec![Event::ItemUnticked { step: "pre".into(), item: "tests".into() }]);
    assert!(h.step("pre").ticks.is_empty());
}

#[test]
fn checklist_untick_of_an_open_item_is_rejected() {
    let mut h = started();
    says(&h.err(untick("oncall"), &alice()), &["`oncall` is not ticked"]);
}

#[test]
fn checklist_next_with_open_items_lists_them() {
    let mut h = started();
    let r = h.err(next(), &alice());
    says(&r, &["checklist `pre` has 0/2 items ticked; still open: tests, oncall"]);
    h.ok(tick("oncall"), &alice());
    let r = h.err(next(), &alice());
    says(&r, &["1/2 items ticked; still open: tests"]);
    assert_eq!(h.current_id(), "pre");
}

#[test]
fn checklist_next_with_every_item_ticked_completes_it() {
    let mut h = started();
    h.ok(tick("tests"), &alice());
    h.ok(tick("oncall"), &bob());
    h.advance_secs(3);
    same(&h.ok(next(), &carol()), &vec![completed_step("pre")]);
    assert_eq!(h.step("pre").status, StepStatus::Done);
    assert_eq!(h.step("pre").finished_at, Some(T0.plus_millis(3000)));
    assert_eq!(h.state.cursor, 1);
    assert_eq!(h.step("go").status, StepStatus::Waiting);
    assert_eq!(h.step("go").current_since, Some(T0.plus_millis(3000)));
}

// ---------------------------------------------------------------------------------------------
// Gates
// ---------------------------------------------------------------------------------------------

#[test]
fn gate_approve_by_two_people_lets_next_pass() {
    let mut h = at_gate();
    same(
        &h.ok(Command::Approve, &alice()),
        &vec![Event::ApprovalGiven { step: "go".into(), signature: None }],
    );
    same(
        &h.ok(Command::Approve, &bob()),
        &vec![Event::ApprovalGiven { step: "go".into(), signature: None }],
    );
    let approvers: Vec<&String> = h.step("go").approvals.keys().collect();
    assert_eq!(approvers, ["alice", "bob"]);
    same(&h.ok(next(), &carol()), &vec![completed_step("go")]);
    assert_eq!(h.step("go").status, StepStatus::Done);
    assert_eq!(h.current_id(), "backup");
}

#[test]
fn gate_next_with_too_few_approvals_names_who_approved() {
    let mut h = at_gate();
    let r = h.err(next(), &alice());
    says(&r, &["gate `go` needs 2 approvals from different people; nobody yet approved"]);
    h.ok(Command::Approve, &bob());
    let r = h.err(next(), &alice());
    says(&r, &["needs 2 approvals", "bob has approved"]);
}

#[test]
fn gate_approve_twice_by_one_person_is_rejected() {
    let mut h = at_gate();
    h.ok(Command::Approve, &bob());
    let r = h.err(Command::Approve, &bob());
    says(&r, &["you (bob) already approved `go` at 10:42:11", "distinct people"]);
    assert_eq!(h.step("go").approvals.len(), 1);
    // The same person on another host is still the same person.
    let mut elsewhere = bob();
    elsewhere.host = "laptop".into();
    h.err(Command::Approve, &elsewhere);
    says(&h.err(next(), &alice()), &["bob has approved"]);
}

#[test]
fn gate_revoke_removes_the_approval_and_the_count_drops() {
    let mut h = at_gate();
    h.ok(Command::Approve, &alice());
    h.ok(Command::Approve, &bob());
    same(&h.ok(Command::Revoke, &bob()), &vec![Event::ApprovalRevoked { step: "go".into() }]);
    let approvers: Vec<&String> = h.step("go").approvals.keys().collect();
    assert_eq!(approvers, ["alice"]);
    let r = h.err(next(), &carol());
    says(&r, &["needs 2 approvals", "alice has approved"]);
    assert!(!r.message.contains("bob"), "a revoked approver still counts: {}", r.message);
    h.ok(Command::Approve, &carol());
    same(&h.ok(next(), &carol()), &vec![completed_step("go")]);
}

#[test]
fn gate_revoke_without_approving_is_rejected() {
    let mut h = at_gate();
    says(&h.err(Command::Revoke, &carol()), &["you (carol) have not approved or declined `go`"]);
}

#[test]
fn checklist_approve_is_rejected_as_not_a_gate() {
    let mut h = started();
    says(&h.err(Command::Approve, &bob()), &["cannot approve", "checklist `pre`, not a gate"]);
}

#[test]
fn gate_approve_by_the_starter_is_rejected_when_the_plan_forbids_it() {
    let mut h = Harness::from_toml(STRICT);
    h.ok(start(), &alice());
    let r = h.err(Command::Approve, &alice());
    says(&r, &["you (alice) started this release", "someone else to approve `go`"]);
    same(
        &h.ok(Command::Approve, &bob()),
        &vec![Event::ApprovalGiven { step: "go".into(), signature: None }],
    );
}

#[test]
fn gate_approve_by_the_starter_is_allowed_when_the_plan_allows_it() {
    let mut h = at_gate();
    assert!(!h.plan.policy.forbid_self_approval);
    h.ok(Command::Approve, &alice());
}

#[test]
fn gate_decline_without_reason_is_rejected() {
    let mut h = at_gate();
    says(&h.err(decline(""), &bob()), &["a no-go needs a reason"]);
    says(&h.err(decline("   "), &bob()), &["needs a reason"]);
    assert!(h.step("go").declines.is_empty());
}

#[test]
fn gate_decline_blocks_next_until_the_decliner_revokes() {
    let mut h = at_gate();
    h.ok(Command::Approve, &alice());
    h.ok(Command::Approve, &bob());
    let events = h.ok(decline("the migration is not reviewed"), &carol());
    same(
        &events,
        &vec![Event::GateDeclined {
            step: "go".into(),
            reason: "the migration is not reviewed".into(),
        }],
    );
    assert_eq!(h.step("go").declines["carol"].reason, "the migration is not reviewed");
    let r = h.err(next(), &alice());
    says(&r, &["gate `go` was declined by carol", "\"the migration is not reviewed\"", "revoke"]);
    // Nobody else can take carol's no-go back.
    says(&h.err(Command::Revoke, &actor("dave")), &["you (dave) have not approved or declined"]);
    same(&h.ok(Command::Revoke, &carol()), &vec![Event::DeclineWithdrawn { step: "go".into() }]);
    assert!(h.step("go").declines.is_empty());
    same(&h.ok(next(), &alice()), &vec![completed_step("go")]);
}

#[test]
fn gate_decline_after_approving_takes_the_approval_back() {
    let mut h = at_gate();
    h.ok(Command::Approve, &bob());
    let events = h.ok(decline("p95 is up"), &bob());
    same(
        &events,
        &vec![
            Event::ApprovalRevoked { step: "go".into() },
            Event::GateDeclined { step: "go".into(), reason: "p95 is up".into() },
        ],
    );
    assert!(h.step("go").approvals.is_empty());
    says(&h.err(Command::Approve, &bob()), &["you (bob) said no-go on `go`; revoke that first"]);
    says(&h.err(decline("again"), &bob()), &["already said no-go"]);
}

#[test]
fn gate_next_before_min_wait_is_rejected_then_passes_after() {
    let mut h = Harness::from_toml(STRICT);
    h.ok(start(), &alice());
    h.ok(Command::Approve, &bob());
    let r = h.err(next(), &bob());
    says(&r, &["gate `go` must stay open for 10m; 10m to go"]);
    h.advance_secs(4 * 60 + 30);
    says(&h.err(next(), &bob()), &["must stay open for 10m; 5m30s to go"]);
    h.advance_secs(5 * 60 + 30);
    same(&h.ok(next(), &bob()), &vec![completed_step("go")]);
    assert_eq!(h.step("go").finished_at, Some(T0.plus_millis(600_000)));
}

// ---------------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------------

#[test]
fn action_next_starts_attempt_1() {
    let mut h = at_backup();
    h.advance_secs(2);
    let events = h.ok(next(), &bob());
    same(&events, &vec![started_action("backup", 1, "backup", Phase::Rollout)]);
    let step = h.step("backup");
    assert_eq!(step.status, StepStatus::Running);
    assert_eq!(step.started_at, Some(T0.plus_millis(2000)));
    assert_eq!(step.runs.len(), 1);
    assert_eq!(step.runs[0].started.by, bob());
    assert_eq!(step.runs[0].outcome, None);
    assert_eq!(h.state.runs_in_flight().len(), 1);
}

#[test]
fn action_running_next_is_rejected() {
    let mut h = backup_running();
    let r = h.err(next(), &carol());
    says(&r, &["`backup` is still running (started by alice@bastion-1 at 10:42:11)", "wait"]);
}

#[test]
fn action_running_skip_is_rejected() {
    let mut h = backup_running();
    let skip = Command::Skip { reason: "not needed".into(), confirmed: true };
    says(&h.err(skip, &carol()), &["`backup` is running; it cannot be skipped"]);
}

#[test]
fn action_running_record_success_completes_and_moves_on() {
    let mut h = backup_running();
    h.advance_secs(2);
    let events = h.ok(record("backup", 1, success()), &alice());
    same(&events, &vec![finished("backup", 1), completed_step("backup")]);
    let step = h.step("backup");
    assert_eq!(step.status, StepStatus::Done);
    assert_eq!(
        step.runs[0].outcome,
        Some(RunOutcome::Succeeded {
            at: T0.plus_millis(2000),
            exit_code: Some(0),
            duration_ms: 1500
        })
    );
    assert_eq!(h.current_id(), "shift-10");
    assert_eq!(h.step("shift-10").status, StepStatus::Waiting);
    assert!(h.state.runs_in_flight().is_empty());
}

#[test]
fn action_record_outcome_twice_is_rejected() {
    let mut h = backup_running();
    h.ok(record("backup", 1, success()), &alice());
    let r = h.err(record("backup", 1, success()), &alice());
    says(&r, &["the outcome of `backup` attempt 1 is already recorded"]);
    let r = h.err(record("backup", 1, failure("late")), &alice());
    says(&r, &["already recorded"]);
}

#[test]
fn action_record_outcome_of_unknown_run_is_rejected() {
    let mut h = backup_running();
    says(&h.err(record("backup", 2, success()), &alice()), &["`backup` has no attempt 2"]);
    says(&h.err(record("nope", 1, success()), &alice()), &["no step `nope` in this release"]);
}

#[test]
fn action_failure_then_retry_starts_attempt_2() {
    let mut h = backup_running();
    let events = h.ok(record("backup", 1, failure("pg_dump: connection refused")), &alice());
    same(&events, &vec![failed("backup", 1, "pg_dump: connection refused")]);
    assert_eq!(h.step("backup").status, StepStatus::Failed);
    assert_eq!(h.current_id(), "backup");
    says(&h.err(next(), &alice()), &["`backup` failed; retry it"]);
    h.advance_secs(30);
    same(
        &h.ok(Command::Retry { confirmed: false }, &bob()),
        &vec![started_action("backup", 2, "backup", Phase::Rollout)],
    );
    let step = h.step("backup");
    assert_eq!(step.status, StepStatus::Running);
    assert_eq!(step.runs.len(), 2);
    assert_eq!(step.runs[1].started.by, bob());
    assert_eq!(step.started_at, Some(T0), "started_at keeps the first run's time");
    same(
        &h.ok(record("backup", 2, success()), &bob()),
        &vec![finished("backup", 2), completed_step("backup")],
    );
}

#[test]
fn action_waiting_retry_is_rejected() {
    let mut h = at_backup();
    says(
        &h.err(Command::Retry { confirmed: false }, &alice()),
        &["cannot retry: `backup` is waiting"],
    );
    h.ok(next(), &alice());
    says(
        &h.err(Command::Retry { confirmed: false }, &alice()),
        &["`backup` is running, not failed or interrupted"],
    );
}

#[test]
fn action_interrupted_resolve_succeeded_completes_the_step() {
    let mut h = backup_running();
    let events = h.ok(interrupted("backup", 1), &carol());
    same(
        &events,
        &vec![Event::ActionInterrupted {
            step: "backup".into(),
            attempt: 1,
            reason: "process 4242 is gone".into(),
        }],
    );
    assert_eq!(h.step("backup").status, StepStatus::Interrupted);
    says(&h.err(next(), &alice()), &["was interrupted and may or may not have run"]);
    says(&h.err(record("backup", 1, success()), &alice()), &["already recorded"]);
    let events = h.ok(resolve(Resolution::Succeeded, "the dump is in the bucket"), &alice());
    same(
        &events,
        &vec![
            Event::ActionResolved {
                step: "backup".into(),
                attempt: 1,
                succeeded: true,
                reason: "the dump is in the bucket".into(),
            },
            completed_step("backup"),
        ],
    );
    let run = &h.step("backup").runs[0];
    let (mark, succeeded, reason) = run.resolution.as_ref().expect("resolved");
    assert_eq!(
        (mark.by.name.as_str(), *succeeded, reason.as_str()),
        ("alice", true, "the dump is in the bucket")
    );
    assert_eq!(h.step("backup").status, StepStatus::Done);
    assert_eq!(h.current_id(), "shift-10");
}

#[test]
fn action_interrupted_resolve_failed_then_retry() {
    let mut h = backup_running();
    h.ok(interrupted("backup", 1), &carol());
    let events = h.ok(resolve(Resolution::Failed, "no dump in the bucket"), &alice());
    same(
        &events,
        &vec![Event::ActionResolved {
            step: "backup".into(),
            attempt: 1,
            succeeded: false,
            reason: "no dump in the bucket".into(),
        }],
    );
    assert_eq!(h.step("backup").status, StepStatus::Failed);
    says(&h.err(resolve(Resolution::Failed, "still"), &alice()), &["already marked failed"]);
    same(
        &h.ok(Command::Retry { confirmed: false }, &alice()),
        &vec![started_action("backup", 2, "backup", Phase::Rollout)],
    );
}

#[test]
fn action_interrupted_resolve_without_reason_is_rejected() {
    let mut h = backup_running();
    h.ok(interrupted("backup", 1), &carol());
    let r = h.err(resolve(Resolution::Succeeded, " "), &alice());
    says(&r, &["marking an action's outcome needs a reason"]);
    assert_eq!(h.step("backup").status, StepStatus::Interrupted);
}

#[test]
fn action_interrupted_twice_is_rejected() {
    let mut h = backup_running();
    h.ok(interrupted("backup", 1), &carol());
    says(&h.err(interrupted("backup", 1), &carol()), &["attempt 1 already has an outcome"]);
}

// ---------------------------------------------------------------------------------------------
// Traffic
// ---------------------------------------------------------------------------------------------

#[test]
fn traffic_next_starts_the_provider_action_without_moving_the_weight() {
    let mut h = at_shift_10();
    let events = h.ok(next(), &alice());
    same(&events, &vec![started_action("shift-10", 1, "set_weight", Phase::Rollout)]);
    assert_eq!(h.state.weight, 0, "no WeightSet before the provider succeeded");
    assert!(h.state.weight_history.is_empty());
}

#[test]
fn traffic_record_success_sets_the_weight_and_completes() {
    let mut h = at_shift_10();
    h.ok(next(), &alice());
    h.advance_secs(1);
    let events = h.ok(record("shift-10", 1, success()), &alice());
    same(
        &events,
        &vec![finished("shift-10", 1), Event::WeightSet { weight: 10 }, completed_step("shift-10")],
    );
    assert_eq!(h.state.weight, 10);
    same(
        &h.state.weight_history,
        &vec![WeightChange { at: T0.plus_millis(1000), weight: 10, by: alice() }],
    );
    assert_eq!(h.current_id(), "bake-10");
}

#[test]
fn traffic_record_failure_leaves_the_weight() {
    let mut h = at_shift_10();
    h.ok(next(), &alice());
    same(
        &h.ok(record("shift-10", 1, failure("503 from the balancer")), &alice()),
        &vec![failed("shift-10", 1, "503 from the balancer")],
    );
    assert_eq!(h.state.weight, 0);
    same(
        &h.ok(Command::Retry { confirmed: false }, &alice()),
        &vec![started_action("shift-10", 2, "set_weight", Phase::Rollout)],
    );
}

#[test]
fn traffic_interrupted_resolve_succeeded_sets_the_weight() {
    let mut h = at_shift_10();
    h.ok(next(), &alice());
    h.ok(interrupted("shift-10", 1), &alice());
    let events = h.ok(resolve(Resolution::Succeeded, "the balancer shows 10%"), &alice());
    same(
        &events,
        &vec![
            Event::ActionResolved {
                step: "shift-10".into(),
                attempt: 1,
                succeeded: true,
                reason: "the balancer shows 10%".into(),
            },
            Event::WeightSet { weight: 10 },
            completed_step("shift-10"),
        ],
    );
    assert_eq!(h.state.weight, 10);
}

#[test]
fn traffic_shift_to_100_without_confirmation_needs_confirmation() {
    let mut h = at_shift_100();
    for command in [next(), Command::Shift { confirmed: false }] {
        let r = h.err(command, &alice());
        assert_eq!(r.kind, RejectionKind::NeedsConfirmation);
        says(&r, &["shifting all traffic to 1.4.2 needs confirmation"]);
    }
    assert_eq!(h.step("shift-100").status, StepStatus::Waiting);
}

#[test]
fn traffic_shift_to_100_with_confirmation_starts_the_provider_action() {
    let mut h = at_shift_100();
    let events = h.ok(Command::Shift { confirmed: true }, &alice());
    same(&events, &vec![started_action("shift-100", 1, "set_weight", Phase::Rollout)]);
    assert_eq!(h.state.weight, 10);
    same(
        &h.ok(record("shift-100", 1, success()), &alice()),
        &vec![
            finished("shift-100", 1),
            Event::WeightSet { weight: 100 },
            completed_step("shift-100"),
        ],
    );
    assert_eq!(h.state.weight, 100);
}

#[test]
fn traffic_shift_below_100_needs_no_confirmation() {
    let mut h = at_shift_10();
    h.ok(Command::Shift { confirmed: false }, &alice());
}

#[test]
fn checklist_shift_is_rejected_as_not_a_traffic_step() {
    let mut h = started();
    let r = h.err(Command::Shift { confirmed: true }, &alice());
    assert_eq!(r.kind, RejectionKind::Rule);
    says(&r, &["the current step is checklist `pre`, not a traffic shift"]);
    let mut h = at_bake();
    says(&h.err(Command::Shift { confirmed: true }, &alice()), &["bake `bake-10`, not a traffic"]);
}

// ---------------------------------------------------------------------------------------------
// Bakes
// ---------------------------------------------------------------------------------------------

#[test]
fn bake_next_starts_the_bake() {
    let mut h = at_bake();
    same(&h.ok(next(), &alice()), &vec![Event::BakeStarted { step: "bake-10".into() }]);
    assert_eq!(h.step("bake-10").status, StepStatus::Running);
    assert_eq!(h.step("bake-10").started_at, Some(T0));
}

#[test]
fn bake_running_next_before_duration_says_how_long_to_go() {
    let mut h = at_bake();
    h.ok(next(), &alice());
    let r = h.err(next(), &alice());
    says(&r, &["bake `bake-10` has 1s of 1s to go"]);
    h.advance(std::time::Duration::from_millis(400));
    says(&h.err(next(), &alice()), &["bake `bake-10` has 600ms of 1s to go"]);
}

#[test]
fn bake_running_next_after_duration_completes() {
    let mut h = at_bake();
    h.ok(next(), &alice());
    h.advance_secs(1);
    says(&h.err(next(), &alice()), &["passes only on the evidence of its stored readings"]);
    let pass = h.pass_bake();
    same(&h.ok(pass, &alice()), &vec![completed_step("bake-10")]);
    assert_eq!(h.step("bake-10").status, StepStatus::Done);
    assert_eq!(h.current_id(), "shift-100");
}

// ---------------------------------------------------------------------------------------------
// Breaches and baselines
// ---------------------------------------------------------------------------------------------

fn breach(level: Level, value: f64) -> Breach {
    Breach {
        series: "error_rate".into(),
        level,
        value,
        threshold: "> 0.05".into(),
        limit: Some(0.05),
        baseline: None,
        samples: 6,
        window_ms: 30_000,
    }
}

fn record_breach(step: &str, breach: Breach) -> Command {
    Command::RecordBreach { step: step.into(), breach }
}

/// The `CONTINUE` release with `bake-50` (on_breach = "pause") running at 50%.
fn continue_baking() -> Harness {
    let mut h = Harness::from_toml(CONTINUE);
    h.ok(start(), &alice());
    h.ok(next(), &alice());
    h.ok(record("shift-50", 1, success()), &alice());
    h.ok(next(), &alice());
    assert_eq!(h.step("bake-50").status, StepStatus::Running);
    h
}

#[test]
fn bake_running_warn_breach_is_recorded_once() {
    let mut h = at_bake();
    h.ok(next(), &alice());
    let warn = breach(Level::Warn, 0.02);
    same(
        &h.ok(record_breach("bake-10", warn.clone()), &alice()),
        &vec![Event::ThresholdBreached { step: "bake-10".into(), breach: warn.clone() }],
    );
    same(&h.state.breaches, &vec![("bake-10".to_owned(), warn.clone(), T0)]);
    assert_eq!(h.state.status, Status::Running);
    says(
        &h.err(record_breach("bake-10", warn), &alice()),
        &["a warning for error_rate is already recorded in `bake-10`"],
    );
}

#[test]
fn bake_running_abort_breach_rolls_back_automatically() {
    let mut h = at_bake();
    h.ok(next(), &alice());
    let bad = breach(Level::Abort, 0.081);
    let by = flightdeck::release::Actor::automation("ops", "bastion-1", 1);
    let events = h.ok(record_breach("bake-10", bad.clone()), &by);
    assert_eq!(events.len(), 3, "{events:#?}");
    same(&events[0], &Event::ThresholdBreached { step: "bake-10".into(), breach: bad });
    assert!(
        matches!(&events[1], Event::RollbackStarted { automatic: true, reason, .. }
            if reason.starts_with("bake `bake-10`: error_rate 0.081 breached > 0.05")),
        "{events:#?}"
    );
    same(&events[2], &started_action("rollback-1-traffic", 1, "set_weight", Phase::Rollback));
    assert_eq!(h.state.status, Status::RollingBack);
}

#[test]
fn bake_running_abort_breach_pauses_when_the_plan_says_so() {
    let mut h = continue_baking();
    let events = h.ok(record_breach("bake-50", breach(Level::Abort, 0.2)), &alice());
    assert_eq!(events.len(), 2, "{events:#?}");
    let why = "bake `bake-50`: error_rate 0.2 breached > 0.05";
    assert!(
        matches!(&events[1], Event::Paused { reason } if reason.starts_with(why)),
        "{events:#?}"
    );
    assert_eq!(h.state.status, Status::Paused);
    says(&h.err(next(), &alice()), &["paused by alice (bake `bake-50`: error_rate 0.2"]);
}

#[test]
fn bake_waiting_breach_is_rejected() {
    let mut h = at_bake();
    let r = h.err(record_breach("bake-10", breach(Level::Abort, 0.2)), &alice());
    says(&r, &["`bake-10` is not the running bake"]);
    h.ok(next(), &alice());
    says(
        &h.err(record_breach("bake-99", breach(Level::Abort, 0.2)), &alice()),
        &["`bake-99` is not the running bake"],
    );
}

/// Regression (found by `engine_props`): a breach whose value (or limit, or baseline) was NaN
/// or infinite was accepted. serde_json writes those as `null`, which does not read back as a
/// number, so the store would hold an event it cannot load; and a NaN state is not equal to
/// itself, so replay never matches.
#[test]
fn bake_running_breach_that_is_not_a_number_is_rejected() {
    let mut h = at_bake();
    h.ok(next(), &alice());
    let r = h.err(record_breach("bake-10", breach(Level::Abort, f64::NAN)), &alice());
    says(&r, &["the breach of error_rate in `bake-10` has value NaN", "not a number"]);
    h.err(record_breach("bake-10", breach(Level::Warn, f64::INFINITY)), &alice());
    let mut odd = breach(Level::Warn, 0.2);
    odd.baseline = Some(f64::NEG_INFINITY);
    says(&h.err(record_breach("bake-10", odd), &alice()), &["has baseline -inf"]);
    assert!(h.state.breaches.is_empty());
}

#[test]
fn running_capture_baseline_before_traffic_moves_only() {
    let mut h = Harness::from_toml(CONTINUE);
    h.ok(start(), &alice());
    let capture = |value: f64| Command::CaptureBaseline {
        series: "error_rate".into(),
        value,
        samples: 30,
        window_ms: 300_000,
        from_series: None,
        from_version: None,
    };
    says(&h.err(capture(f64::NAN), &alice()), &["baseline of error_rate is not a number"]);
    same(
        &h.ok(capture(0.0012), &alice()),
        &vec![Event::BaselineCaptured {
            series: "error_rate".into(),
            value: 0.0012,
            samples: 30,
            window_ms: 300_000,
            from_series: None,
            from_version: None,
        }],
    );
    assert_eq!(h.state.baselines.get("error_rate"), Some(&0.0012));
    says(&h.err(capture(0.002), &alice()), &["the baseline of error_rate is already captured"]);
    let unknown = Command::CaptureBaseline {
        series: "p99".into(),
        value: 1.0,
        samples: 1,
        window_ms: 1,
        from_series: None,
        from_version: None,
    };
    says(&h.err(unknown, &alice()), &["no metric `p99` in the plan"]);

    let mut h = continue_baking();
    says(&h.err(capture(0.001), &alice()), &["captured before the first traffic shift"]);
}

// ---------------------------------------------------------------------------------------------
// Pause and resume
// ---------------------------------------------------------------------------------------------

#[test]
fn running_pause_holds_next_with_the_reason() {
    let mut h = started();
    h.ok(tick("tests"), &alice());
    h.ok(tick("oncall"), &alice());
    same(
        &h.ok(pause("waiting for the DBA"), &bob()),
        &vec![Event::Paused { reason: "waiting for the DBA".into() }],
    );
    assert_eq!(h.state.status, Status::Paused);
    let held = h.state.pause.as_ref().expect("paused");
    assert_eq!((held.mark.by.name.as_str(), held.reason.as_str()), ("bob", "waiting for the DBA"));
    let r = h.err(next(), &alice());
    says(&r, &["the release is paused by bob (waiting for the DBA); resume it first"]);
    says(&h.err(Command::Shift { confirmed: true }, &alice()), &["paused by bob"]);
    says(&h.err(pause("again"), &alice()), &["cannot pause"]);
    // People can still tick and approve while paused.
    h.ok(untick("tests"), &alice());
    h.ok(tick("tests"), &alice());
}

#[test]
fn running_pause_without_reason_is_rejected() {
    let mut h = started();
    says(&h.err(pause(""), &bob()), &["pausing needs a reason"]);
}

#[test]
fn paused_resume_lets_next_pass() {
    let mut h = started();
    h.ok(tick("tests"), &alice());
    h.ok(tick("oncall"), &alice());
    h.ok(pause("waiting for the DBA"), &bob());
    same(&h.ok(Command::Resume, &alice()), &vec![Event::Resumed]);
    assert_eq!(h.state.status, Status::Running);
    assert_eq!(h.state.pause, None);
    same(&h.ok(next(), &alice()), &vec![completed_step("pre")]);
    says(&h.err(Command::Resume, &alice()), &["cannot resume: the release is running"]);
}

// ---------------------------------------------------------------------------------------------
// Rollback
// ---------------------------------------------------------------------------------------------

#[test]
fn running_rollback_without_reason_is_rejected() {
    let mut h = at_bake();
    let r =
        h.err(Command::Rollback { reason: "".into(), confirmed: true, automatic: false }, &bob());
    says(&r, &["a rollback needs a reason"]);
}

#[test]
fn running_rollback_without_confirmation_needs_confirmation() {
    let mut h = at_bake();
    let r = h.err(
        Command::Rollback { reason: "error rate 3%".into(), confirmed: false, automatic: false },
        &bob(),
    );
    assert_eq!(r.kind, RejectionKind::NeedsConfirmation);
    says(&r, &["rolling back 1.4.2 needs confirmation"]);
}

#[test]
fn running_automatic_rollback_needs_no_confirmation() {
    let mut h = at_bake();
    let events = h.ok(
        Command::Rollback { reason: "error rate 3%".into(), confirmed: false, automatic: true },
        &flightdeck::release::Actor::automation("ops", "bastion-1", 1),
    );
    assert!(matches!(events[0], Event::RollbackStarted { automatic: true, .. }), "{events:#?}");
    assert!(h.state.rollback.as_ref().is_some_and(|r| r.automatic));
}

#[test]
fn running_rollback_runs_traffic_zero_then_the_plan_steps() {
    let mut h = at_bake();
    h.advance_secs(10);
    let events = h.ok(rollback("error rate 3%"), &bob());
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(
        matches!(&events[0], Event::RollbackStarted { reason, automatic: false, .. }
            if reason == "error rate 3%"),
        "{events:#?}"
    );
    same(
        &procedure(&events[0]),
        &vec![
            ("rollback-1-traffic".into(), "set_weight".into(), true, true),
            ("rollback-2-undeploy".into(), "undeploy".into(), false, true),
        ],
    );
    same(&events[1], &started_action("rollback-1-traffic", 1, "set_weight", Phase::Rollback));
    assert_eq!(h.state.status, Status::RollingBack);
    assert_eq!(h.state.weight, 10, "the weight moves when the provider says so");
    let rb = h.state.rollback.as_ref().expect("rollback");
    assert_eq!(rb.started.by, bob());
    assert_eq!(rb.steps[0].status, StepStatus::Running);
    assert_eq!(rb.steps[1].status, StepStatus::Pending);
    says(&h.err(next(), &alice()), &["the release is rolling back"]);

    h.advance_secs(1);
    same(
        &h.ok(record("rollback-1-traffic", 1, success()), &bob()),
        &vec![
            finished("rollback-1-traffic", 1),
            Event::WeightSet { weight: 0 },
            started_action("rollback-2-undeploy", 1, "undeploy", Phase::Rollback),
        ],
    );
    assert_eq!(h.state.weight, 0);
    assert_eq!(h.state.status, Status::RollingBack);

    h.advance_secs(1);
    same(
        &h.ok(record("rollback-2-undeploy", 1, success()), &bob()),
        &vec![finished("rollback-2-undeploy", 1), Event::RollbackFinished],
    );
    assert_eq!(h.state.status, Status::RolledBack);
    assert_eq!(h.state.weight, 0);
    assert_eq!(weights(&h), [10, 0]);
    let end = T0.plus_millis(12_000);
    assert_eq!(h.state.ended_at, Some(end));
    assert_eq!(h.state.rollback.as_ref().and_then(|r| r.finished_at), Some(end));
    let rb = h.state.rollback.as_ref().expect("rollback");
    assert!(rb.steps.iter().all(|s| s.status == StepStatus::Done));
}

#[test]
fn paused_rollback_clears_the_pause() {
    let mut h = at_bake();
    h.ok(pause("p95 creeping up"), &alice());
    h.ok(rollback("p95 over budget"), &alice());
    assert_eq!(h.state.status, Status::RollingBack);
    assert_eq!(h.state.pause, None);
}

#[test]
fn rolling_back_second_rollback_is_rejected() {
    let mut h = rolling_back();
    let r = h.err(rollback("again"), &alice());
    says(&r, &["a rollback is already in progress (started by bob at 10:42:11)"]);
    let automatic =
        Command::Rollback { reason: "breach".into(), confirmed: false, automatic: true };
    says(&h.err(automatic, &alice()), &["already in progress"]);
}

#[test]
fn rolling_back_step_failure_with_halt_stops_and_retry_continues() {
    let mut h = rolling_back();
    let events = h.ok(record("rollback-1-traffic", 1, failure("503 from the balancer")), &bob());
    same(&events, &vec![failed("rollback-1-traffic", 1, "503 from the balancer")]);
    assert_eq!(h.state.status, Status::RollingBack);
    assert_eq!(h.state.weight, 10);
    let rb = h.state.rollback.as_ref().expect("rollback");
    assert_eq!(rb.steps[0].status, StepStatus::Failed);
    assert_eq!(rb.steps[1].status, StepStatus::Pending, "halted: nothing after it runs");
    assert!(h.state.runs_in_flight().is_empty());

    same(
        &h.ok(Command::Retry { confirmed: false }, &bob()),
        &vec![started_action("rollback-1-traffic", 2, "set_weight", Phase::Rollback)],
    );
    same(
        &h.ok(record("rollback-1-traffic", 2, success()), &bob()),
        &vec![
            finished("rollback-1-traffic", 2),
            Event::WeightSet { weight: 0 },
            started_action("rollback-2-undeploy", 1, "undeploy", Phase::Rollback),
        ],
    );
    same(
        &h.ok(record("rollback-2-undeploy", 1, success()), &bob()),
        &vec![finished("rollback-2-undeploy", 1), Event::RollbackFinished],
    );
    assert_eq!(h.state.status, Status::RolledBack);
}

#[test]
fn rolling_back_interrupted_step_resolved_succeeded_continues() {
    let mut h = rolling_back();
    h.ok(interrupted("rollback-1-traffic", 1), &bob());
    says(&h.err(resolve(Resolution::Succeeded, ""), &bob()), &["needs a reason"]);
    let events = h.ok(resolve(Resolution::Succeeded, "the balancer shows 0%"), &bob());
    same(
        &events,
        &vec![
            Event::ActionResolved {
                step: "rollback-1-traffic".into(),
                attempt: 1,
                succeeded: true,
                reason: "the balancer shows 0%".into(),
            },
            Event::WeightSet { weight: 0 },
            started_action("rollback-2-undeploy", 1, "undeploy", Phase::Rollback),
        ],
    );
    assert_eq!(h.state.weight, 0);
}

#[test]
fn rolling_back_retry_with_nothing_failed_is_rejected() {
    let mut h = rolling_back();
    let r = h.err(Command::Retry { confirmed: false }, &bob());
    says(&r, &["cannot retry: the rollback is at `rollback-1-traffic`, which is running"]);
}

#[test]
fn rolling_back_with_continue_goes_on_past_a_failed_step() {
    let mut h = Harness::from_toml(CONTINUE);
    h.ok(start(), &alice());
    h.ok(next(), &alice());
    h.ok(record("shift-50", 1, success()), &alice());
    h.ok(rollback("error rate 3%"), &alice());
    h.ok(record("rollback-1-traffic", 1, success()), &alice());
    let events = h.ok(record("rollback-2-undeploy", 1, failure("timeout")), &alice());
    same(
        &events,
        &vec![
            failed("rollback-2-undeploy", 1, "timeout"),
            started_action("rollback-3-notify", 1, "notify", Phase::Rollback),
        ],
    );
    same(
        &h.ok(record("rollback-3-notify", 1, success()), &alice()),
        &vec![finished("rollback-3-notify", 1), Event::RollbackFinished],
    );
    assert_eq!(h.state.status, Status::RolledBack);
    assert_eq!(h.state.weight, 0);
}

/// The `CONTINUE` release, rolling back, with `rollback-2-undeploy` failed and the procedure
/// gone on to `rollback-3-notify`.
fn rollback_gone_past_a_failure() -> Harness {
    let mut h = Harness::from_toml(CONTINUE);
    h.ok(start(), &alice());
    h.ok(next(), &alice());
    h.ok(record("shift-50", 1, success()), &alice());
    h.ok(rollback("error rate 3%"), &alice());
    h.ok(record("rollback-1-traffic", 1, success()), &alice());
    h.ok(record("rollback-2-undeploy", 1, failure("timeout")), &alice());
    assert!(h.step("rollback-3-notify").running().is_some());
    h
}

/// Regression (found by `engine_props`): `Retry` during a rollback picked the *first* failed
/// rollback step, even one the procedure had gone on past under `on_failure = "continue"`.
/// Its retry ran beside the next step, and when it succeeded the engine started that next
/// step again: a second `ActionStarted` for `rollback-3-notify` attempt 1, and a second
/// `RollbackFinished` if the procedure had already ended.
#[test]
fn rolling_back_retry_of_a_failure_gone_past_is_rejected() {
    let mut h = rollback_gone_past_a_failure();
    let r = h.err(Command::Retry { confirmed: false }, &alice());
    says(&r, &["cannot retry: the rollback is at `rollback-3-notify`, which is running"]);
    let r = h.err(resolve(Resolution::Succeeded, "undeployed by hand"), &alice());
    says(&r, &["cannot resolve: the rollback is at `rollback-3-notify`"]);
    same(
        &h.ok(record("rollback-3-notify", 1, success()), &alice()),
        &vec![finished("rollback-3-notify", 1), Event::RollbackFinished],
    );
    let started: Vec<(String, u32)> = h
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::ActionStarted { step, attempt, .. } => Some((step.clone(), *attempt)),
            _ => None,
        })
        .collect();
    same(
        &started,
        &vec![
            ("shift-50".into(), 1),
            ("rollback-1-traffic".into(), 1),
            ("rollback-2-undeploy".into(), 1),
            ("rollback-3-notify".into(), 1),
        ],
    );
}

/// The step the procedure stopped at can still be retried under `on_failure = "continue"`.
#[test]
fn rolling_back_interrupted_step_with_continue_is_retried() {
    let mut h = rollback_gone_past_a_failure();
    h.ok(interrupted("rollback-3-notify", 1), &alice());
    same(
        &h.ok(Command::Retry { confirmed: false }, &alice()),
        &vec![started_action("rollback-3-notify", 2, "notify", Phase::Rollback)],
    );
    same(
        &h.ok(record("rollback-3-notify", 2, success()), &alice()),
        &vec![finished("rollback-3-notify", 2), Event::RollbackFinished],
    );
    assert_eq!(h.state.status, Status::RolledBack);
}

// ---------------------------------------------------------------------------------------------
// Abort
// ---------------------------------------------------------------------------------------------

#[test]
fn traffic_moved_abort_is_rejected_telling_to_roll_back() {
    let mut h = at_bake();
    let r = h.err(abort("changed my mind"), &alice());
    says(&r, &["10% of traffic is on 1.4.2; roll back instead"]);
    assert_eq!(h.state.status, Status::Running);
}

#[test]
fn gate_abort_before_traffic_ends_the_release() {
    let mut h = at_gate();
    h.advance_secs(60);
    same(
        &h.ok(abort("release train cancelled"), &carol()),
        &vec![Event::Aborted { reason: "release train cancelled".into() }],
    );
    assert_eq!(h.state.status, Status::Aborted);
    assert_eq!(h.state.abort_reason.as_deref(), Some("release train cancelled"));
    assert_eq!(h.state.ended_at, Some(T0.plus_millis(60_000)));
}

#[test]
fn gate_abort_without_reason_is_rejected() {
    let mut h = at_gate();
    says(&h.err(abort(""), &carol()), &["aborting needs a reason"]);
}

#[test]
fn action_running_abort_is_rejected() {
    let mut h = backup_running();
    says(&h.err(abort("stop"), &carol()), &["`backup` is still running; wait for it to end"]);
}

// ---------------------------------------------------------------------------------------------
// Skip
// ---------------------------------------------------------------------------------------------

#[test]
fn checklist_skip_needs_reason_and_confirmation() {
    let mut h = started();
    let r = h.err(Command::Skip { reason: "".into(), confirmed: true }, &alice());
    says(&r, &["skipping a step needs a reason"]);
    let r = h.err(Command::Skip { reason: "done by hand".into(), confirmed: false }, &alice());
    assert_eq!(r.kind, RejectionKind::NeedsConfirmation);
    says(&r, &["skipping `pre` needs confirmation"]);
    let events = h.ok(Command::Skip { reason: "done by hand".into(), confirmed: true }, &alice());
    same(&events, &vec![Event::StepSkipped { step: "pre".into(), reason: "done by hand".into() }]);
    assert_eq!(h.step("pre").status, StepStatus::Skipped);
    assert_eq!(h.current_id(), "go");
}

// ---------------------------------------------------------------------------------------------
// Terminal states
// ---------------------------------------------------------------------------------------------

#[test]
fn completed_anything_but_a_note_is_rejected() {
    let mut h = completed();
    says(&h.err(next(), &alice()), &["the release is completed; nothing more runs"]);
    only_notes_are_accepted(h);
}

#[test]
fn rolled_back_anything_but_a_note_is_rejected() {
    let mut h = rolling_back();
    h.ok(record("rollback-1-traffic", 1, success()), &bob());
    h.ok(record("rollback-2-undeploy", 1, success()), &bob());
    says(&h.err(next(), &alice()), &["the release was rolled back; nothing more runs"]);
    only_notes_are_accepted(h);
}

#[test]
fn aborted_anything_but_a_note_is_rejected() {
    let mut h = at_gate();
    h.ok(abort("cancelled"), &alice());
    says(&h.err(Command::Approve, &alice()), &["the release was aborted; nothing more runs"]);
    only_notes_are_accepted(h);
}

/// A rollout action still running when a rollback started keeps its outcome after the
/// release ended: the process that ran it reports a fact, and the record keeps it. It changes
/// nothing else: no weight, no step completed, the status stays rolled back.
#[test]
fn rolled_back_late_outcome_of_a_rollout_action_is_recorded_without_effect() {
    let mut h = backup_running();
    h.ok(rollback("the backup hangs"), &bob());
    h.ok(record("rollback-1-traffic", 1, success()), &bob());
    h.ok(record("rollback-2-undeploy", 1, success()), &bob());
    assert_eq!(h.state.status, Status::RolledBack);
    assert_eq!(h.state.runs_in_flight().len(), 1, "backup is still in flight");
    same(&h.ok(record("backup", 1, success()), &alice()), &vec![finished("backup", 1)]);
    assert_eq!(h.state.status, Status::RolledBack);
    assert_eq!(h.state.weight, 0);
    assert_eq!(h.current_id(), "backup");
    assert!(h.state.runs_in_flight().is_empty());
    h.err(record("backup", 1, success()), &alice());
}

#[test]
fn running_blank_note_is_rejected() {
    let mut h = started();
    says(&h.err(note(" "), &alice()), &["a note needs some text"]);
}

// ---------------------------------------------------------------------------------------------
// Concurrency: expect_seq
// ---------------------------------------------------------------------------------------------

#[test]
fn gate_stale_expect_seq_is_rejected_naming_the_last_change() {
    let mut h = at_gate();
    let seen = h.state.seq;
    h.ok(Command::Approve, &alice());
    h.ok(Command::Approve, &carol());
    let r = h.run_expecting(next(), &bob(), Some(seen)).expect_err("stale next was accepted");
    assert_eq!(r.kind, RejectionKind::Stale);
    says(
        &r,
        &[
            &format!("you saw event {seen}, it is now at {}", seen + 2),
            "carol approved go at 10:42:11",
            "look again before you next",
        ],
    );
    let events = h.run_expecting(next(), &bob(), Some(h.state.seq)).expect("fresh next");
    same(&events, &vec![completed_step("go")]);
}

#[test]
fn running_stale_check_comes_before_the_rules() {
    let mut h = started();
    // Even a command the rules would accept is stale when the issuer saw an older state.
    let r = h.run_expecting(note("hi"), &bob(), Some(0)).expect_err("stale note was accepted");
    assert_eq!(r.kind, RejectionKind::Stale);
    says(&r, &["alice started regular release 1.4.2 to production"]);
}

// ---------------------------------------------------------------------------------------------
// The whole release
// ---------------------------------------------------------------------------------------------

#[test]
fn planned_full_happy_path_completes_with_weight_100() {
    let mut h = completed();
    assert_eq!(h.state.status, Status::Completed);
    assert_eq!(h.state.weight, 100);
    assert_eq!(weights(&h), [10, 100]);
    assert_eq!(h.state.cursor, h.state.steps.len());
    assert!(h.state.steps.iter().all(|s| s.status == StepStatus::Done), "{:#?}", statuses(&h));
    assert_eq!(h.state.ended_at, Some(T0.plus_millis(1000)));
    assert!(h.state.runs_in_flight().is_empty());
    let kinds: Vec<&str> = h.records.iter().map(|r| r.event.kind()).collect();
    same(
        &kinds,
        &vec![
            "release_started",
            "item_ticked",
            "item_ticked",
            "step_completed",
            "approval_given",
            "approval_given",
            "step_completed",
            "action_started",
            "action_finished",
            "step_completed",
            "action_started",
            "action_finished",
            "weight_set",
            "step_completed",
            "bake_started",
            "step_completed",
            "action_started",
            "action_finished",
            "weight_set",
            "step_completed",
            "item_ticked",
            "step_completed",
            "completed",
        ],
    );
    let seqs: Vec<u64> = h.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=23).collect::<Vec<u64>>());
    same(&flightdeck::release::State::replay(&h.plan, &h.records), &h.state);
    // The last two events came from one decision, recorded at one time by one actor.
    let last_two = &h.records[21..];
    assert!(last_two.iter().all(|r| r.actor == bob() && r.at == Timestamp(T0.0 + 1000)));
    h.ok(note("shipped"), &alice());
}

#[test]
fn a_rollback_during_a_shift_waits_for_it_then_its_shift_to_zero_goes_last() {
    let mut h = at_shift_10();
    h.ok(next(), &alice());
    let rollback = Command::Rollback { reason: "errors".into(), confirmed: true, automatic: false };
    let events = h.ok(rollback, &alice());
    assert_eq!(h.state.status, Status::RollingBack);
    assert!(
        !events.iter().any(|e| matches!(e, Event::ActionStarted { .. })),
        "nothing starts while the shift is in flight: {events:?}"
    );
    // The shift lands: its weight is recorded, then the rollback's traffic step starts.
    let events = h.ok(record("shift-10", 1, success()), &bob());
    let kinds: Vec<&str> = events.iter().map(Event::kind).collect();
    assert_eq!(kinds, ["action_finished", "weight_set", "action_started"], "{events:?}");
    assert!(
        matches!(&events[2], Event::ActionStarted { step, .. } if step == "rollback-1-traffic")
    );
    h.ok(record("rollback-1-traffic", 1, success()), &bob());
    assert_eq!(h.state.weight, 0);
}

#[test]
fn a_rollback_waiting_for_a_shift_that_fails_or_is_interrupted_still_sends_zero() {
    for interrupted in [false, true] {
        let mut h = at_shift_10();
        h.ok(next(), &alice());
        let rollback =
            Command::Rollback { reason: "errors".into(), confirmed: true, automatic: false };
        h.ok(rollback, &alice());
        let ended = if interrupted {
            Command::MarkInterrupted { step: "shift-10".into(), attempt: 1, reason: "gone".into() }
        } else {
            record("shift-10", 1, failure("500"))
        };
        let events = h.ok(ended, &bob());
        assert!(
            events.iter().any(
                |e| matches!(e, Event::ActionStarted { step, .. } if step == "rollback-1-traffic")
            ),
            "{events:?}"
        );
        assert!(!events.iter().any(|e| matches!(e, Event::WeightSet { .. })), "{events:?}");
    }
}

/// The basic plan with review checkpoints at 2 s and 4 s on a 6 s bake.
fn at_reviewed_bake() -> Harness {
    let text = support::engine::BASIC
        .replace("duration = \"1s\"", "duration = \"6s\"\n  checkpoints = [\"2s\", \"4s\"]");
    let mut h = Harness::from_toml(&text);
    h.ok(
        Command::Start {
            version: "1.4.0".into(),
            previous_version: None,
            sha: None,
            image: None,
            release_type: ReleaseType::Hotfix,
        },
        &alice(),
    );
    for item in ["tests", "oncall"] {
        h.ok(Command::Tick { item: item.into() }, &alice());
    }
    h.ok(next(), &alice());
    h.ok(Command::Approve, &bob());
    h.ok(next(), &alice());
    h.ok(next(), &alice());
    h.ok(record("backup", 1, success()), &alice());
    h.ok(next(), &alice());
    h.ok(record("shift-10", 1, success()), &alice());
    h.ok(next(), &alice());
    assert_eq!(h.current_id(), "bake-10");
    h
}

#[test]
fn bake_running_confirm_review_before_it_is_due_says_when() {
    let mut h = at_reviewed_bake();
    says(&h.err(Command::ConfirmCheckpoint, &alice()), &["next review", "T+2s"]);
}

#[test]
fn bake_running_confirm_review_records_the_earliest_due_one() {
    let mut h = at_reviewed_bake();
    h.advance_secs(5);
    same(
        &h.ok(Command::ConfirmCheckpoint, &bob()),
        &vec![Event::CheckpointConfirmed { step: "bake-10".into(), at_ms: 2000 }],
    );
    same(
        &h.ok(Command::ConfirmCheckpoint, &bob()),
        &vec![Event::CheckpointConfirmed { step: "bake-10".into(), at_ms: 4000 }],
    );
    says(&h.err(Command::ConfirmCheckpoint, &bob()), &["every review"]);
}

#[test]
fn bake_running_next_with_a_missed_review_is_rejected_until_confirmed() {
    let mut h = at_reviewed_bake();
    h.advance_secs(3);
    h.ok(Command::ConfirmCheckpoint, &bob());
    h.advance_secs(4);
    let pass = h.pass_bake();
    says(&h.err(pass, &alice()), &["review at T+4s was never confirmed"]);
    h.ok(Command::ConfirmCheckpoint, &bob());
    let pass = h.pass_bake();
    h.ok(pass, &alice());
    assert_eq!(h.current_id(), "shift-100");
}

// ---------------------------------------------------------------------------------------------
// Claims: who is on a step
// ---------------------------------------------------------------------------------------------

/// The fixture plan with `[claims] ttl = "20m"`.
fn claims_plan() -> flightdeck::plan::Plan {
    support::engine::plan_from(&format!("{}\n[claims]\nttl = \"20m\"\n", support::engine::BASIC))
}

/// The same release on the same plan with claims on: the plan's shape, and so the state, is
/// unchanged.
fn claiming(mut h: Harness) -> Harness {
    h.plan = claims_plan();
    h
}

fn claim(step: &str) -> Command {
    Command::Claim { step: step.into(), reason: None }
}

fn take_over(step: &str, reason: &str) -> Command {
    Command::Claim { step: step.into(), reason: Some(reason.into()) }
}

fn unclaim(step: &str) -> Command {
    Command::Unclaim { step: step.into() }
}

fn claimed(step: &str, until: Timestamp, from: Option<&str>, reason: Option<&str>) -> Event {
    Event::StepClaimed {
        step: step.into(),
        until,
        took_over_from: from.map(Into::into),
        reason: reason.map(Into::into),
    }
}

/// Twenty minutes after `T0` (10:42:11): claims made at `T0` lapse at 11:02:11.
const UNTIL: Timestamp = Timestamp(T0.0 + 20 * 60 * 1000);

/// The `go` gate current, with two approvals, and claimed by alice at `T0`.
fn gate_claimed_by_alice() -> Harness {
    let mut h = claiming(at_gate());
    h.ok(Command::Approve, &alice());
    h.ok(Command::Approve, &bob());
    h.ok(claim("go"), &alice());
    h
}

#[test]
fn running_claim_without_claims_in_the_plan_is_rejected_saying_what_to_add() {
    let mut h = started();
    let r = h.err(claim("pre"), &alice());
    says(&r, &["cannot claim: claims are off in the plan of shop", "[claims]", "ttl = \"20m\""]);
    says(&h.err(unclaim("pre"), &alice()), &["cannot unclaim: claims are off"]);
}

#[test]
fn checklist_claim_records_who_and_until_when() {
    let mut h = claiming(started());
    same(&h.ok(claim("pre"), &alice()), &vec![claimed("pre", UNTIL, None, None)]);
    let c = h.step("pre").claim.clone().expect("claimed");
    assert_eq!((c.by, c.at, c.until, c.reason), (alice(), T0, UNTIL, None));
    assert!(h.step("pre").live_claim(UNTIL.plus_millis(0)).is_none(), "lapses at `until`");
    assert!(h.step("pre").live_claim(Timestamp(UNTIL.0 - 1)).is_some());
}

#[test]
fn running_claim_of_a_later_step_is_allowed_and_a_blank_reason_is_none() {
    let mut h = claiming(started());
    same(
        &h.ok(Command::Claim { step: "bake-10".into(), reason: Some("  ".into()) }, &bob()),
        &vec![claimed("bake-10", UNTIL, None, None)],
    );
    same(
        &h.ok(take_over("backup", "I own the database"), &carol()),
        &vec![claimed("backup", UNTIL, None, Some("I own the database"))],
    );
}

#[test]
fn claimed_claim_by_the_holder_renews_it() {
    let mut h = claiming(started());
    h.ok(claim("pre"), &alice());
    h.advance(std::time::Duration::from_secs(5 * 60));
    let renewed = UNTIL.plus_millis(5 * 60 * 1000);
    same(&h.ok(claim("pre"), &alice()), &vec![claimed("pre", renewed, None, None)]);
    assert_eq!(h.step("pre").claim.as_ref().map(|c| c.until), Some(renewed));
}

#[test]
fn claimed_claim_by_another_without_reason_is_rejected_naming_the_holder() {
    let mut h = claiming(started());
    h.ok(claim("pre"), &alice());
    h.advance_secs(60);
    let r = h.err(claim("pre"), &bob());
    says(&r, &["alice has claimed `pre` until 11:02 UTC (since 10:42:11)", "give a reason"]);
    says(&h.err(take_over("pre", " \n"), &bob()), &["alice has claimed `pre`"]);
}

#[test]
fn claimed_claim_by_another_with_reason_takes_it_over() {
    let mut h = claiming(started());
    h.ok(claim("pre"), &alice());
    h.advance_secs(60);
    let until = UNTIL.plus_millis(60_000);
    same(
        &h.ok(take_over("pre", "alice is off shift"), &bob()),
        &vec![claimed("pre", until, Some("alice"), Some("alice is off shift"))],
    );
    let c = h.step("pre").claim.clone().expect("claimed");
    assert_eq!((c.by, c.until, c.reason.as_deref()), (bob(), until, Some("alice is off shift")));
    // Now alice is the other one.
    says(&h.err(claim("pre"), &alice()), &["bob has claimed `pre` until 11:03 UTC"]);
}

#[test]
fn claimed_lapsed_claim_is_free_to_claim() {
    let mut h = claiming(started());
    h.ok(claim("pre"), &alice());
    h.advance(std::time::Duration::from_secs(20 * 60));
    let until = UNTIL.plus_millis(20 * 60 * 1000);
    same(&h.ok(claim("pre"), &bob()), &vec![claimed("pre", until, None, None)]);
}

#[test]
fn done_or_skipped_step_claim_is_rejected() {
    let mut h = claiming(at_gate());
    says(&h.err(claim("pre"), &alice()), &["cannot claim: `pre` is done already"]);
    h.ok(Command::Approve, &alice());
    h.ok(Command::Approve, &bob());
    h.ok(next(), &alice());
    h.ok(Command::Skip { reason: "backed up by hand".into(), confirmed: true }, &alice());
    says(&h.err(claim("backup"), &alice()), &["`backup` is skipped already"]);
    let r = h.err(claim("deploy"), &alice());
    says(&r, &["no step `deploy` in this release's plan", "shift-10, bake-10"]);
}

#[test]
fn ended_release_claim_is_rejected() {
    let mut h = claiming(at_gate());
    h.ok(abort("release train cancelled"), &alice());
    says(&h.err(claim("go"), &alice()), &["cannot claim: the release was aborted"]);
}

#[test]
fn claimed_unclaim_by_the_holder_releases_it() {
    let mut h = claiming(started());
    h.ok(claim("pre"), &alice());
    same(&h.ok(unclaim("pre"), &alice()), &vec![Event::ClaimReleased { step: "pre".into() }]);
    assert_eq!(h.step("pre").claim, None);
    says(&h.err(unclaim("pre"), &alice()), &["nobody has claimed `pre`"]);
}

#[test]
fn claimed_unclaim_by_another_is_rejected_until_the_claim_lapses() {
    let mut h = claiming(started());
    h.ok(claim("pre"), &alice());
    let r = h.err(unclaim("pre"), &bob());
    says(&r, &["alice has claimed `pre` until 11:02 UTC; only they can release it"]);
    h.advance(std::time::Duration::from_secs(20 * 60));
    same(&h.ok(unclaim("pre"), &bob()), &vec![Event::ClaimReleased { step: "pre".into() }]);
}

#[test]
fn claimed_gate_next_by_another_is_rejected_until_the_holder_moves_or_it_is_taken_over() {
    let mut h = gate_claimed_by_alice();
    let r = h.err(next(), &bob());
    same(
        &r.message,
        &"alice has claimed `go` until 11:02 UTC; take over the claim with a reason first".into(),
    );
    assert_eq!(r.kind, RejectionKind::Rule);
    says(&h.err(next_confirmed(), &carol()), &["alice has claimed `go`"]);
    says(
        &h.err(Command::Skip { reason: "not needed".into(), confirmed: true }, &bob()),
        &["alice has claimed `go`"],
    );
    h.ok(take_over("go", "alice is in a meeting"), &bob());
    says(&h.err(next(), &alice()), &["bob has claimed `go`"]);
    same(&h.ok(next(), &bob()), &vec![completed_step("go")]);
}

#[test]
fn claimed_gate_next_by_the_holder_passes_and_ends_the_claim() {
    let mut h = gate_claimed_by_alice();
    h.ok(claim("bake-10"), &carol());
    same(&h.ok(next(), &alice()), &vec![completed_step("go")]);
    assert_eq!(h.step("go").claim, None, "a claim ends when its step completes");
    assert!(h.step("bake-10").claim.is_some(), "claims on other steps stay");
    // The next step is free for anyone.
    h.ok(next(), &bob());
}

#[test]
fn claimed_step_is_still_open_to_approvals_ticks_notes_and_pause_by_others() {
    let mut h = claiming(at_gate());
    h.ok(claim("go"), &alice());
    h.ok(Command::Approve, &bob());
    h.ok(Command::Revoke, &bob());
    h.ok(decline("wait for payments"), &carol());
    h.ok(Command::Revoke, &carol());
    h.ok(note("bob is watching the dashboards"), &bob());
    h.ok(pause("hold on"), &bob());
    h.ok(Command::Resume, &bob());
    let mut h = claiming(started());
    h.ok(claim("pre"), &alice());
    h.ok(tick("tests"), &bob());
    h.ok(untick("tests"), &bob());
}

#[test]
fn claimed_lapsed_claim_holds_nobody_back() {
    let mut h = gate_claimed_by_alice();
    h.advance(std::time::Duration::from_secs(20 * 60));
    same(&h.ok(next(), &bob()), &vec![completed_step("go")]);
}

#[test]
fn claimed_failed_action_retry_and_resolve_by_another_are_rejected() {
    let mut h = claiming(backup_running());
    h.ok(record("backup", 1, failure("exit status 1")), &alice());
    h.ok(claim("backup"), &alice());
    says(&h.err(Command::Retry { confirmed: false }, &bob()), &["alice has claimed `backup`"]);
    says(
        &h.err(resolve(Resolution::Succeeded, "dump is there"), &bob()),
        &["alice has claimed `backup`"],
    );
    same(
        &h.ok(Command::Retry { confirmed: false }, &alice()),
        &vec![started_action("backup", 2, "backup", Phase::Rollout)],
    );
    // The outcome of a run is a fact reported by whoever ran it, never held back.
    h.ok(record("backup", 2, success()), &bob());
    assert_eq!(h.step("backup").claim, None);
}

#[test]
fn claimed_traffic_shift_by_another_is_rejected() {
    let mut h = claiming(at_shift_10());
    h.ok(claim("shift-10"), &alice());
    says(&h.err(Command::Shift { confirmed: false }, &bob()), &["alice has claimed `shift-10`"]);
    h.ok(Command::Shift { confirmed: false }, &alice());
}

#[test]
fn claimed_bake_is_ended_by_automation_whoever_holds_it() {
    let mut h = claiming(at_bake());
    h.ok(next(), &alice());
    h.ok(claim("bake-10"), &bob());
    h.advance_secs(2);
    says(&h.err(h.pass_bake(), &alice()), &["bob has claimed `bake-10`"]);
    let auto = flightdeck::release::Actor::automation("alice", "bastion-1", 4242);
    let pass = h.pass_bake();
    same(&h.ok(pass, &auto), &vec![completed_step("bake-10")]);
}

#[test]
fn claimed_rollback_and_abort_by_another_are_never_held_back() {
    let mut h = claiming(at_bake());
    h.ok(claim("bake-10"), &alice());
    h.ok(claim("shift-100"), &alice());
    h.ok(rollback("error rate 3%"), &bob());
    assert_eq!(h.state.status, Status::RollingBack);
    assert!(h.state.steps.iter().all(|s| s.claim.is_none()), "a rollback ends every claim");
    says(&h.err(claim("shift-100"), &alice()), &["cannot claim: the release is rolling back"]);

    let mut h = gate_claimed_by_alice();
    h.ok(abort("release train cancelled"), &bob());
    assert!(h.state.steps.iter().all(|s| s.claim.is_none()));
}

#[test]
fn claim_events_keep_their_stored_shape_and_old_states_still_load() {
    let event = claimed("go", UNTIL, Some("alice"), Some("alice is off shift"));
    same(
        &serde_json::to_value(&event).expect("json"),
        &serde_json::json!({
            "kind": "step_claimed",
            "step": "go",
            "until": UNTIL.0,
            "took_over_from": "alice",
            "reason": "alice is off shift",
        }),
    );
    same(
        &serde_json::to_value(Event::ClaimReleased { step: "go".into() }).expect("json"),
        &serde_json::json!({ "kind": "claim_released", "step": "go" }),
    );
    assert_eq!(event.kind(), "step_claimed");
    assert_eq!(event.sentence(), "took over go from alice, until 11:02 UTC: alice is off shift",);
    same(&claimed("go", UNTIL, None, None).sentence(), &"claimed go until 11:02 UTC".to_owned());
    // A snapshot written before claims existed has no `claim` on its steps: it reads as none.
    let h = gate_claimed_by_alice();
    let mut old = serde_json::to_value(State::replay(&h.plan, &h.records[..h.records.len() - 1]))
        .expect("json");
    for step in old["steps"].as_array_mut().expect("steps") {
        step.as_object_mut().expect("object").remove("claim");
    }
    let read: State = serde_json::from_value(old).expect("an old snapshot still reads");
    same(&read, &State::replay(&h.plan, &h.records[..h.records.len() - 1]));
}

// ---------------------------------------------------------------------------------------------
// No way past a gate's people (issue 12.3)
// ---------------------------------------------------------------------------------------------

/// `skip` on a production gate that needs 2 approvals is refused at 0/2, at 1/2 and after a
/// no-go; only the approvals pass it.
#[test]
fn gate_skip_is_refused_with_and_without_a_no_go() {
    let mut h = at_gate();
    let skip = || Command::Skip { reason: "ship it".into(), confirmed: true };
    let r = h.err(skip(), &alice());
    assert_eq!(r.kind, RejectionKind::Rule);
    says(
        &r,
        &[
            "`go` is a gate and cannot be skipped",
            "2 approvals from different people (nobody yet approved)",
            "skip_stages names stage `prep`",
        ],
    );
    h.ok(Command::Approve, &alice());
    says(&h.err(skip(), &alice()), &["cannot be skipped", "(alice has approved)"]);
    h.ok(decline("the DBA is not here"), &bob());
    says(&h.err(skip(), &alice()), &["`go` is a gate and cannot be skipped"]);
    assert_eq!(h.current_id(), "go");
    assert_eq!(h.step("go").status, StepStatus::Waiting);
    // Unconfirmed, it is still the gate rule that answers (no confirmation would help).
    let r = h.err(Command::Skip { reason: "ship it".into(), confirmed: false }, &alice());
    assert_eq!(r.kind, RejectionKind::Rule);
}

// ---------------------------------------------------------------------------------------------
// Paused means paused (issue 12.4)
// ---------------------------------------------------------------------------------------------

#[test]
fn paused_action_success_is_recorded_and_completes_on_resume() {
    let mut h = backup_running();
    h.ok(pause("look at the graphs"), &bob());
    same(&h.ok(record("backup", 1, success()), &alice()), &vec![finished("backup", 1)]);
    assert_eq!(h.state.status, Status::Paused);
    assert_eq!(h.current_id(), "backup", "a paused release moves to no other step");
    assert_eq!(h.step("backup").status, StepStatus::Done);
    says(&h.err(next(), &alice()), &["paused by bob"]);
    same(&h.ok(Command::Resume, &carol()), &vec![Event::Resumed, completed_step("backup")]);
    assert_eq!(h.state.status, Status::Running);
    assert_eq!(h.current_id(), "shift-10");
}

#[test]
fn paused_traffic_success_records_the_weight_and_completes_nothing() {
    let mut h = at_shift_10();
    h.ok(next(), &alice());
    h.ok(pause("hold"), &bob());
    same(
        &h.ok(record("shift-10", 1, success()), &alice()),
        &vec![finished("shift-10", 1), Event::WeightSet { weight: 10 }],
    );
    assert_eq!(h.state.weight, 10, "the load balancer moved: the record says so");
    assert_eq!(h.current_id(), "shift-10");
    same(&h.ok(Command::Resume, &bob()), &vec![Event::Resumed, completed_step("shift-10")]);
    assert_eq!(h.current_id(), "bake-10");
}

/// A plan whose last step is an action: its success while paused must not end the release.
const LAST_ACTION: &str = r#"
[service]
name = "shop"
environment = "staging"

[actions.migrate]
kind = "command"
argv = ["echo", "migrate"]

[[stages]]
id = "db"

  [[stages.steps]]
  id = "migrate"
  kind = "action"
  action = "migrate"
"#;

#[test]
fn paused_last_step_success_never_completes_the_release_until_resume() {
    let mut h = Harness::from_toml(LAST_ACTION);
    h.ok(start(), &alice());
    h.ok(next(), &alice());
    h.ok(pause("wait"), &bob());
    same(&h.ok(record("migrate", 1, success()), &alice()), &vec![finished("migrate", 1)]);
    assert_eq!(h.state.status, Status::Paused);
    assert_eq!(h.state.ended_at, None);
    same(
        &h.ok(Command::Resume, &bob()),
        &vec![Event::Resumed, completed_step("migrate"), Event::Completed],
    );
    assert_eq!(h.state.status, Status::Completed);
}

#[test]
fn paused_resolve_is_refused_like_retry() {
    let mut h = backup_running();
    h.ok(interrupted("backup", 1), &alice());
    h.ok(pause("hold"), &bob());
    for resolution in [Resolution::Succeeded, Resolution::Failed] {
        let r = h.err(resolve(resolution, "checked by hand"), &alice());
        says(&r, &["cannot resolve: the release is paused by bob (hold); resume it first"]);
    }
    says(
        &h.err(Command::Retry { confirmed: true }, &alice()),
        &["cannot retry: the release is paused"],
    );
    assert_eq!(h.step("backup").status, StepStatus::Interrupted);
    h.ok(Command::Resume, &bob());
    h.ok(resolve(Resolution::Succeeded, "checked by hand"), &alice());
    assert_eq!(h.current_id(), "shift-10");
}

// ---------------------------------------------------------------------------------------------
// Confirmation is per attempt (issue 12.5)
// ---------------------------------------------------------------------------------------------

#[test]
fn traffic_100_failed_retry_needs_the_confirmation_again() {
    let mut h = at_shift_100();
    h.ok(next_confirmed(), &alice());
    h.ok(record("shift-100", 1, failure("503 from the balancer")), &alice());
    let r = h.err(Command::Retry { confirmed: false }, &alice());
    assert_eq!(r.kind, RejectionKind::NeedsConfirmation);
    says(&r, &["retrying `shift-100` sends all traffic to 1.4.2; it needs confirmation"]);
    same(
        &h.ok(Command::Retry { confirmed: true }, &alice()),
        &vec![started_action("shift-100", 2, "set_weight", Phase::Rollout)],
    );
}

#[test]
fn traffic_100_resolve_succeeded_needs_the_confirmation_again() {
    let mut h = at_shift_100();
    h.ok(next_confirmed(), &alice());
    h.ok(interrupted("shift-100", 1), &alice());
    let r = h.err(resolve(Resolution::Succeeded, "the balancer shows 100%"), &alice());
    assert_eq!(r.kind, RejectionKind::NeedsConfirmation);
    says(&r, &["marking succeeded `shift-100` sends all traffic to 1.4.2"]);
    assert_eq!(h.state.weight, 10);
    // Marking it failed moves no traffic: no typing needed.
    h.ok(resolve(Resolution::Failed, "the balancer shows 10%"), &alice());
    h.ok(Command::Retry { confirmed: true }, &alice());
    h.ok(interrupted("shift-100", 2), &alice());
    let confirmed = Command::Resolve {
        resolution: Resolution::Succeeded,
        reason: "the balancer shows 100%".into(),
        confirmed: true,
    };
    h.ok(confirmed, &alice());
    assert_eq!(h.state.weight, 100);
    assert_eq!(h.current_id(), "post");
}

#[test]
fn traffic_10_retry_and_resolve_need_no_typing() {
    let mut h = at_shift_10();
    h.ok(next(), &alice());
    h.ok(record("shift-10", 1, failure("503")), &alice());
    h.ok(Command::Retry { confirmed: false }, &alice());
    h.ok(interrupted("shift-10", 2), &alice());
    h.ok(resolve(Resolution::Succeeded, "the balancer shows 10%"), &alice());
    assert_eq!(h.state.weight, 10);
}

// ---------------------------------------------------------------------------------------------
// A rolled-back or aborted release has nothing running (issue 11.7)
// ---------------------------------------------------------------------------------------------

#[test]
fn bake_running_rollback_stops_the_bake_and_its_clock() {
    let mut h = at_bake();
    h.ok(next(), &alice());
    assert_eq!(h.step("bake-10").status, StepStatus::Running);
    h.advance_secs(20);
    h.ok(rollback("error rate 3%"), &bob());
    let stopped_at = h.now;
    assert_eq!(h.step("bake-10").status, StepStatus::Stopped);
    assert_eq!(h.step("bake-10").finished_at, Some(stopped_at));
    h.advance_secs(5);
    h.ok(record("rollback-1-traffic", 1, success()), &bob());
    h.ok(record("rollback-2-undeploy", 1, success()), &bob());
    assert_eq!(h.state.status, Status::RolledBack);
    assert!(
        h.state.steps.iter().all(|s| s.status != StepStatus::Running),
        "no rollout step runs after a rollback: {:?}",
        statuses(&h)
    );
    assert_eq!(h.step("bake-10").finished_at, Some(stopped_at), "the clock stood still");
    // The fold says the same as a replay, and the state serializes as `stopped`.
    assert_eq!(State::replay(&h.plan, &h.records), h.state);
    let json = serde_json::to_value(h.step("bake-10").status).expect("json");
    assert_eq!(json, "stopped");
}

/// A bake before any traffic moves (so the release can be aborted during it).
const BAKE_FIRST: &str = r#"
[service]
name = "shop"
environment = "staging"

[[health]]
id = "green"
url = "http://127.0.0.1:9/health"

[[stages]]
id = "watch"

  [[stages.steps]]
  id = "soak"
  kind = "bake"
  duration = "10m"
  probes = ["green"]

  [[stages.steps]]
  id = "post"
  kind = "checklist"
  items = [{ id = "ok", text = "ok" }]
"#;

#[test]
fn bake_running_abort_stops_the_bake() {
    let mut h = Harness::from_toml(BAKE_FIRST);
    h.ok(start(), &alice());
    h.ok(next(), &alice());
    h.advance_secs(30);
    h.ok(abort("wrong build"), &alice());
    assert_eq!(h.state.status, Status::Aborted);
    assert_eq!(h.step("soak").status, StepStatus::Stopped);
    assert_eq!(h.step("soak").finished_at, h.state.ended_at);
}

// ---------------------------------------------------------------------------------------------
// Who finished a step, for "already done by bob at 10:02:11" (issue 12.2)
// ---------------------------------------------------------------------------------------------

#[test]
fn completed_and_skipped_steps_record_who_finished_them() {
    let mut h = at_backup();
    assert_eq!(h.step("go").finished_by.as_ref().map(|a| a.name.as_str()), Some("alice"));
    h.ok(Command::Skip { reason: "backed up by hand".into(), confirmed: true }, &bob());
    assert_eq!(h.step("backup").finished_by.as_ref().map(|a| a.name.as_str()), Some("bob"));
}

/// Found by engine_props: an action that finishes while the release is paused leaves its
/// step done (completed on `resume`), and a claim on it has nothing left to guard.
#[test]
fn paused_action_finishing_releases_the_claim_on_its_step() {
    let mut h = claiming(backup_running());
    h.ok(claim("backup"), &bob());
    h.ok(Command::Pause { reason: "look at the graphs".into() }, &alice());
    h.ok(record("backup", 1, success()), &alice());
    assert_eq!(h.step("backup").status, StepStatus::Done);
    assert!(h.step("backup").claim.is_none(), "{:?}", h.step("backup").claim);
    h.ok(Command::Resume, &alice());
    assert_eq!(h.current_id(), "shift-10");
}

// ---------------------------------------------------------------------------------------------
// A failed action follows its step's `on_failure` (decided by automation, as flightdeck)
// ---------------------------------------------------------------------------------------------

/// A plan whose `smoke` action step (after a 10% shift) says `on_failure`, if given.
fn smoke_plan(on_failure: Option<&str>) -> Harness {
    let line = on_failure.map_or_else(String::new, |w| format!("on_failure = \"{w}\""));
    Harness::from_toml(&format!(
        r#"
[service]
name = "shop"
environment = "staging"

[actions.set_weight]
kind = "command"
argv = ["echo", "weight={{weight}}"]

[actions.smoke]
kind = "command"
argv = ["false"]

[actions.undeploy]
kind = "command"
argv = ["echo", "undeploy"]

[traffic]
set = "set_weight"

[rollback]
steps = ["undeploy"]

[[stages]]
id = "canary"

  [[stages.steps]]
  id = "shift-10"
  kind = "traffic"
  weight = 10

  [[stages.steps]]
  id = "smoke-test"
  kind = "action"
  action = "smoke"
  {line}

  [[stages.steps]]
  id = "done"
  kind = "checklist"
  items = [{{ id = "ok", text = "ok" }}]
"#
    ))
}

/// The smoke test ran once and failed with `exit status 1`.
fn smoke_failed(on_failure: Option<&str>) -> Harness {
    let mut h = smoke_plan(on_failure);
    h.ok(start(), &alice());
    h.ok(next(), &alice());
    h.ok(record("shift-10", 1, success()), &alice());
    h.ok(next(), &alice());
    h.advance_secs(2);
    let events = h.ok(record("smoke-test", 1, failure("exit status 1")), &alice());
    // Recording the failure decides nothing more by itself: the plan's word comes from
    // automation, in flightdeck's name.
    same(&events, &vec![failed("smoke-test", 1, "exit status 1")]);
    h
}

fn flightdeck_itself() -> flightdeck::release::Actor {
    flightdeck::release::Actor::automation("alice", "bastion-1", 4242)
}

fn due_now(h: &Harness) -> Option<Command> {
    let board = flightdeck::probe::ProbeBoard::for_plan(&h.plan);
    flightdeck::automation::due(&h.plan, &h.state, h.now, &flightdeck_itself(), |_| true, &board)
        .map(|d| {
            assert_eq!(d.expect_seq, Some(h.state.seq), "automation pins what it decided on");
            d.command
        })
}

#[test]
fn failed_action_with_on_failure_rollback_rolls_back_as_flightdeck() {
    let mut h = smoke_failed(Some("rollback"));
    let Some(Command::Rollback { reason, confirmed: true, automatic: true }) = due_now(&h) else {
        panic!("expected an automatic rollback, got {:?}", due_now(&h));
    };
    for words in
        ["`smoke`", "`smoke-test`", "attempt 1", "exit status 1", "on_failure = \"rollback\""]
    {
        assert!(reason.contains(words), "{words} missing from: {reason}");
    }
    let events = h.ok(due_now(&h).expect("due"), &flightdeck_itself());
    match &events[0] {
        Event::RollbackStarted { reason: r, automatic: true, .. } => assert_eq!(r, &reason),
        other => panic!("expected the rollback to start, got {other:?}"),
    }
    assert_eq!(h.state.status, Status::RollingBack);
    assert_eq!(due_now(&h), None, "a rollback under way is not started again");
}

#[test]
fn failed_action_with_on_failure_pause_pauses_once() {
    let mut h = smoke_failed(Some("pause"));
    let Some(Command::Pause { reason }) = due_now(&h) else {
        panic!("expected a pause, got {:?}", due_now(&h));
    };
    assert!(
        reason.contains("exit status 1") && reason.contains("on_failure = \"pause\""),
        "{reason}"
    );
    h.ok(Command::Pause { reason }, &flightdeck_itself());
    assert_eq!(h.state.status, Status::Paused);
    assert_eq!(due_now(&h), None, "paused: nothing more");
    // A person resumed: the failure is theirs now; it waits as with "ask".
    h.advance_secs(5);
    h.ok(Command::Resume, &bob());
    h.advance_secs(5);
    h.ok(note("looking at the smoke test"), &bob());
    assert_eq!(due_now(&h), None, "a resumed release is not paused again for the same failure");
    // A retry that fails again is a new failure: paused again.
    h.ok(Command::Retry { confirmed: false }, &bob());
    h.advance_secs(1);
    h.ok(record("smoke-test", 2, failure("exit status 1")), &bob());
    assert!(matches!(due_now(&h), Some(Command::Pause { .. })), "{:?}", due_now(&h));
}

#[test]
fn failed_action_with_on_failure_ask_or_unset_waits_for_a_person() {
    for word in [None, Some("ask")] {
        let h = smoke_failed(word);
        assert_eq!(due_now(&h), None, "on_failure {word:?}");
        assert_eq!(h.state.status, Status::Running);
        assert_eq!(h.step("smoke-test").status, StepStatus::Failed);
    }
}

#[test]
fn interrupted_action_waits_for_a_person_whatever_on_failure_says() {
    let mut h = smoke_plan(Some("rollback"));
    h.ok(start(), &alice());
    h.ok(next(), &alice());
    h.ok(record("shift-10", 1, success()), &alice());
    h.ok(next(), &alice());
    h.ok(interrupted("smoke-test", 1), &alice());
    assert_eq!(h.step("smoke-test").status, StepStatus::Interrupted);
    assert_eq!(due_now(&h), None);
}

#[test]
fn on_failure_is_checked() {
    let bad = flightdeck::plan::parse(
        &BASIC_ON_FAILURE.replace("ON_FAILURE", "on_failure = \"retry\""),
        "p.toml",
    )
    .expect_err("an unknown on_failure");
    let shown = bad.to_string();
    assert!(shown.contains("on_failure") && shown.contains("`retry` is not a choice"), "{shown}");
    assert!(shown.contains("\"ask\""), "{shown}");
    let bad = flightdeck::plan::parse(
        &BASIC_ON_FAILURE.replace("ON_FAILURE", "").replace(
            "kind = \"traffic\"\n  weight = 10",
            "kind = \"traffic\"\n  weight = 10\n  on_failure = \"pause\"",
        ),
        "p.toml",
    )
    .expect_err("on_failure on a traffic step");
    assert!(bad.to_string().contains("`on_failure` does not apply to a traffic step"), "{bad}");
}

const BASIC_ON_FAILURE: &str = r#"
[service]
name = "shop"
environment = "staging"

[actions.set_weight]
kind = "command"
argv = ["echo", "weight={weight}"]

[actions.smoke]
kind = "command"
argv = ["false"]

[traffic]
set = "set_weight"

[[stages]]
id = "canary"

  [[stages.steps]]
  id = "shift-10"
  kind = "traffic"
  weight = 10

  [[stages.steps]]
  id = "smoke-test"
  kind = "action"
  action = "smoke"
  ON_FAILURE
"#;

// ---------------------------------------------------------------------------------------------
// A completed traffic release watched after completion (`[watch]`, issue 16)
// ---------------------------------------------------------------------------------------------

/// The completed fixture release, its records replayed under the same plan with a one-hour
/// `[watch]` on the `green` health check.
fn completed_watched() -> Harness {
    let h = completed();
    let plan = support::engine::plan_from(&format!(
        "{}\n[watch]\nafter_release = \"1h\"\nprobes = [\"green\"]\n",
        support::engine::BASIC
    ));
    let state = State::replay(&plan, &h.records);
    Harness { plan, state, records: h.records, now: h.now }
}

#[test]
fn completed_watched_rollback_sends_traffic_back_to_zero_first() {
    let mut h = completed_watched();
    h.advance_secs(600);
    let events = h.ok(rollback("errors after the release"), &alice());
    let Event::RollbackStarted { steps, .. } = &events[0] else { panic!("{events:?}") };
    let ids: Vec<(&str, bool)> =
        steps.iter().map(|s| (s.id.as_str(), s.sets_weight_zero)).collect();
    assert_eq!(ids, vec![("rollback-1-traffic", true), ("rollback-2-undeploy", false)]);
    h.ok(record("rollback-1-traffic", 1, success()), &bob());
    assert_eq!(h.state.weight, 0);
    h.ok(record("rollback-2-undeploy", 1, success()), &bob());
    assert_eq!(h.state.status, Status::RolledBack);
}

#[test]
fn completed_watched_anything_but_a_note_or_rollback_is_rejected() {
    let mut h = completed_watched();
    for command in every_command_but_note() {
        if matches!(command, Command::Rollback { .. }) {
            continue;
        }
        h.err(command, &alice());
    }
    h.advance_secs(3600);
    says(&h.err(rollback("too late"), &alice()), &["its 1h watch ended at"]);
    h.ok(Command::CloseWatch, &alice());
    only_notes_are_accepted(h);
}
