//! Releases that are not traffic shifts (issue 16): deploy steps under a `rolling` or `swap`
//! strategy, the baseline captured before them, pacing, rollout progress, and the watch after
//! completion (rollback within it, breaches acting on it, closing it). Driven through plan
//! text, `decide`/`apply` (the harness) and `automation::due`.

mod support;

use std::time::Duration;

use flightdeck::automation;
use flightdeck::plan::AFTER_RELEASE_STEP;
use flightdeck::probe::{ProbeBoard, Reading};
use flightdeck::release::{
    Actor, Breach, Command, Event, Level, Phase, RejectionKind, Status, StepStatus, WatchState,
    baseline_wait, deployment, format_hour_minute, supervised, watch_state,
};
use support::engine::{
    Harness, abort, actor, failure, next, next_confirmed, pause, record, rollback, says, start,
    success,
};

fn alice() -> Actor {
    actor("alice")
}

fn flightdeck_itself() -> Actor {
    Actor::automation("alice", "bastion-1", 4242)
}

/// A rolling plan: one metric judged against its baseline (during the bakes and after
/// release), the deploy step as `DEPLOY` says, and `WATCH` lines under `[watch]`.
const ROLLING: &str = r#"
[service]
name = "shop"
environment = "production"

[deploy]
strategy = "STRATEGY"

[watch]
after_release = "24h"
WATCH

[actions.rollout]
kind = "command"
argv = ["echo", "rollout"]

[actions.rollout-continue]
kind = "command"
argv = ["echo", "continue"]

[actions.pods]
kind = "command"
argv = ["echo", "3/3"]

[actions.undo]
kind = "command"
argv = ["echo", "undo"]

[rollback]
steps = ["undo"]

[[metrics]]
id = "latency"
unit = "ms"
interval = "5s"
prometheus = { url = "http://127.0.0.1:9", query = "x" }
abort = "> baseline * 2"
after_release_abort = "> baseline * 3"
after_release_warn = "> baseline * 1.5"
baseline_window = "1m"
baseline_from = "latency"

[[stages]]
id = "ship"

  [[stages.steps]]
  id = "deploy"
  kind = "deploy"
  action = "rollout"
  DEPLOY
"#;

fn plan_text(strategy: &str, deploy: &str, watch: &str) -> String {
    ROLLING.replace("STRATEGY", strategy).replace("DEPLOY", deploy).replace("WATCH", watch)
}

/// An unpaced rolling deploy reading its progress from `pods`.
fn rolling(watch: &str) -> Harness {
    Harness::from_toml(&plan_text(
        "rolling",
        r#"progress = { action = "pods", every = "2s" }"#,
        watch,
    ))
}

/// A paced rolling deploy, as the task's example writes it.
fn paced() -> Harness {
    Harness::from_toml(&plan_text(
        "rolling",
        r#"progress = { action = "pods", every = "2s" }
  pace = ["33%", "67%"]
  pace_bake = "1m"
  probes = ["latency"]
  continue = "rollout-continue""#,
        "",
    ))
}

fn capture_latency(value: f64) -> Command {
    Command::CaptureBaseline {
        series: "latency".into(),
        value,
        samples: 12,
        window_ms: 60_000,
        from_series: Some("latency".into()),
        from_version: Some("1.4.1".into()),
    }
}

fn due(h: &Harness, board: &ProbeBoard) -> Option<Command> {
    automation::due(&h.plan, &h.state, h.now, &flightdeck_itself(), |_| true, board).map(|d| {
        assert_eq!(d.expect_seq, Some(h.state.seq), "automation pins what it decided on");
        d.command
    })
}

/// Latency readings every 5 s for `secs` seconds up to now, of `value` ms.
fn readings(h: &Harness, board: &mut ProbeBoard, value: f64, secs: u64) {
    for back in (0..=secs).rev().step_by(5) {
        let at = flightdeck::release::Timestamp(h.now.0 - i64::try_from(back * 1000).unwrap());
        board.apply(&h.plan, Reading::Metric { index: 0, at, result: Ok(Some(value)) });
    }
}

/// Started, baseline 100 ms captured, the unpaced deploy run and recorded: completed.
fn completed(watch: &str) -> Harness {
    let mut h = rolling(watch);
    h.ok(start(), &alice());
    h.ok(capture_latency(100.0), &flightdeck_itself());
    h.ok(next_confirmed(), &alice());
    h.advance_secs(30);
    h.ok(record("deploy", 1, success()), &alice());
    assert_eq!(h.state.status, Status::Completed);
    h
}

fn statuses(h: &Harness) -> Vec<(String, StepStatus)> {
    h.state.steps.iter().map(|s| (s.id.clone(), s.status)).collect()
}

// ---------------------------------------------------------------------------------------------
// The baseline before a deploy, and its confirmation
// ---------------------------------------------------------------------------------------------

#[test]
fn the_deploy_waits_for_its_baseline_captured_from_the_only_version_running() {
    let mut h = rolling("");
    h.ok(start(), &alice());
    h.advance_secs(20);
    let wait = baseline_wait(&h.plan, &h.state, h.now).expect("the deploy waits for a baseline");
    assert_eq!(wait.step, "deploy");
    assert_eq!(wait.series, vec![("latency".to_owned(), Duration::from_secs(60))]);
    assert_eq!(wait.left, Duration::from_secs(40));
    let r = h.err(next_confirmed(), &alice());
    says(
        &r,
        &[
            "the deploy `deploy` waits for the baseline of latency (1m of readings)",
            "about 40s left",
        ],
    );
    assert_eq!(r.message, wait.sentence(), "one wording for the refusal and the countdown");

    // A minute of readings of the metric itself, as it is before the deploy.
    let mut board = ProbeBoard::for_plan(&h.plan);
    board.sync(&h.state);
    h.advance_secs(45);
    readings(&h, &mut board, 100.0, 60);
    let Some(Command::CaptureBaseline { series, value, from_series, .. }) = due(&h, &board) else {
        panic!("expected a baseline, got {:?}", due(&h, &board));
    };
    assert_eq!(
        (series.as_str(), value, from_series.as_deref()),
        ("latency", 100.0, Some("latency"))
    );
    h.ok(capture_latency(value), &flightdeck_itself());
    assert_eq!(baseline_wait(&h.plan, &h.state, h.now), None);

    // Deploying to all of production needs confirmation, like a shift to 100%.
    let r = h.err(next(), &alice());
    assert_eq!(r.kind, RejectionKind::NeedsConfirmation);
    says(&r, &["deploying 1.4.2 to all of production needs confirmation"]);
    let events = h.ok(next_confirmed(), &alice());
    assert_eq!(
        events,
        vec![Event::ActionStarted {
            step: "deploy".into(),
            attempt: 1,
            action: "rollout".into(),
            phase: Phase::Rollout
        }]
    );
    // Production changed: no baseline is taken any more, and none is awaited.
    assert_eq!(baseline_wait(&h.plan, &h.state, h.now), None);
    let r = h.err(capture_latency(100.0), &flightdeck_itself());
    says(&r, &["already captured"]);
}

#[test]
fn a_baseline_after_the_deploy_started_is_refused() {
    let mut h = Harness::from_toml(&plan_text("swap", "", "").replace(
        "[[stages]]",
        "[[metrics]]\nid = \"errors\"\ninterval = \"5s\"\nprometheus = { url = \"http://127.0.0.1:9\", query = \"y\" }\nabort = \"> 5\"\n\n[[stages]]",
    ));
    h.ok(start(), &alice());
    h.ok(capture_latency(100.0), &flightdeck_itself());
    h.ok(next_confirmed(), &alice());
    let r = h.err(
        Command::CaptureBaseline {
            series: "errors".into(),
            value: 1.0,
            samples: 12,
            window_ms: 60_000,
            from_series: None,
            from_version: None,
        },
        &flightdeck_itself(),
    );
    says(&r, &["captured before the first traffic shift or deploy"]);
}

#[test]
fn retrying_or_resolving_the_full_deploy_needs_confirmation() {
    let mut h = rolling("");
    h.ok(start(), &alice());
    h.ok(capture_latency(100.0), &flightdeck_itself());
    h.ok(next_confirmed(), &alice());
    h.ok(record("deploy", 1, failure("exit status 1")), &alice());
    let r = h.err(Command::Retry { confirmed: false }, &alice());
    assert_eq!(r.kind, RejectionKind::NeedsConfirmation);
    says(&r, &["retrying `deploy` deploys 1.4.2 to all of production"]);
    let r = h.err(
        Command::Resolve {
            resolution: flightdeck::release::Resolution::Succeeded,
            reason: "checked the pods by hand".into(),
            confirmed: false,
        },
        &alice(),
    );
    assert_eq!(r.kind, RejectionKind::NeedsConfirmation);
    let events = h.ok(Command::Retry { confirmed: true }, &alice());
    assert!(matches!(&events[..], [Event::ActionStarted { attempt: 2, .. }]), "{events:?}");
}

#[test]
fn shift_on_a_rolling_plan_says_to_use_next() {
    let mut h = rolling("");
    h.ok(start(), &alice());
    let r = h.err(Command::Shift { confirmed: true }, &alice());
    says(&r, &["strategy is rolling", "no traffic steps", "use next to start the deploy"]);
}

#[test]
fn abort_after_the_deploy_ran_says_to_roll_back() {
    let mut h = rolling("");
    h.ok(start(), &alice());
    h.ok(capture_latency(100.0), &flightdeck_itself());
    h.ok(next_confirmed(), &alice());
    h.ok(record("deploy", 1, failure("exit status 1")), &alice());
    says(&h.err(abort("give up"), &alice()), &["deploy `deploy` has run", "roll back instead"]);
}

// ---------------------------------------------------------------------------------------------
// on_failure on a deploy step
// ---------------------------------------------------------------------------------------------

fn failed_deploy(on_failure: &str) -> Harness {
    let mut h =
        Harness::from_toml(&plan_text("rolling", &format!("on_failure = \"{on_failure}\""), ""));
    h.ok(start(), &alice());
    h.ok(capture_latency(100.0), &flightdeck_itself());
    h.ok(next_confirmed(), &alice());
    h.ok(record("deploy", 1, failure("exit status 1")), &alice());
    h
}

#[test]
fn a_failed_deploy_with_on_failure_rollback_rolls_back_without_a_weight_step() {
    let mut h = failed_deploy("rollback");
    let board = ProbeBoard::for_plan(&h.plan);
    let Some(command @ Command::Rollback { automatic: true, .. }) = due(&h, &board) else {
        panic!("expected an automatic rollback, got {:?}", due(&h, &board));
    };
    let events = h.ok(command, &flightdeck_itself());
    let Event::RollbackStarted { reason, steps, .. } = &events[0] else {
        panic!("expected the rollback first: {events:?}");
    };
    assert!(reason.contains("`rollout`") && reason.contains("exit status 1"), "{reason}");
    let ids: Vec<(&str, bool)> =
        steps.iter().map(|s| (s.id.as_str(), s.sets_weight_zero)).collect();
    assert_eq!(ids, vec![("rollback-1-undo", false)], "no traffic to set to 0");
    h.ok(record("rollback-1-undo", 1, success()), &flightdeck_itself());
    assert_eq!(h.state.status, Status::RolledBack);
    assert_eq!(h.state.weight_history, Vec::new());
    assert_eq!(deployment(&h.plan, &h.state).line(), "rolled back from 1.4.2");
}

#[test]
fn a_failed_deploy_with_on_failure_pause_pauses_once() {
    let mut h = failed_deploy("pause");
    let board = ProbeBoard::for_plan(&h.plan);
    let Some(command @ Command::Pause { .. }) = due(&h, &board) else {
        panic!("expected a pause, got {:?}", due(&h, &board));
    };
    h.ok(command, &flightdeck_itself());
    h.ok(Command::Resume, &alice());
    assert_eq!(h.state.status, Status::Running);
    assert_eq!(due(&h, &board), None, "not paused again after a person resumed");
}

// ---------------------------------------------------------------------------------------------
// Pacing and progress
// ---------------------------------------------------------------------------------------------

#[test]
fn a_paced_deploy_runs_segment_bake_segment_bake_then_the_rest() {
    let mut h = paced();
    let ids: Vec<&str> = h.plan.flat_steps().iter().map(|r| r.step.id.as_str()).collect();
    assert_eq!(ids, ["deploy-33", "deploy-33-bake", "deploy-67", "deploy-67-bake", "deploy"]);
    h.ok(start(), &alice());
    h.ok(capture_latency(100.0), &flightdeck_itself());
    for (segment, action) in [("deploy-33", "rollout"), ("deploy-67", "rollout-continue")] {
        assert_eq!(h.current_id(), segment);
        let events = h.ok(next(), &alice());
        assert_eq!(
            events,
            vec![Event::ActionStarted {
                step: segment.into(),
                attempt: 1,
                action: action.into(),
                phase: Phase::Rollout
            }],
            "a segment short of 100% needs no confirmation"
        );
        let bake = format!("{segment}-bake");
        let events = h.ok(record(segment, 1, success()), &alice());
        assert_eq!(
            events.last(),
            Some(&Event::BakeStarted { step: bake.clone() }),
            "the hold is watched from the moment the segment completes: {events:?}"
        );
        assert_eq!(h.current_id(), bake);
        assert_eq!(h.step(&bake).status, StepStatus::Running);
        h.advance_secs(60);
        h.ok(h.pass_bake(), &flightdeck_itself());
    }
    assert_eq!(h.current_id(), "deploy");
    says(&h.err(next(), &alice()), &["to all of production needs confirmation"]);
    h.ok(next_confirmed(), &alice());
    h.ok(record("deploy", 1, success()), &alice());
    assert_eq!(h.state.status, Status::Completed);
    assert!(statuses(&h).iter().all(|(_, s)| *s == StepStatus::Done), "{:?}", statuses(&h));
}

#[test]
fn a_breach_in_a_pace_bake_rolls_back() {
    let mut h = paced();
    h.ok(start(), &alice());
    h.ok(capture_latency(100.0), &flightdeck_itself());
    h.ok(next(), &alice());
    h.ok(record("deploy-33", 1, success()), &alice());
    let mut board = ProbeBoard::for_plan(&h.plan);
    board.sync(&h.state);
    h.advance_secs(30);
    readings(&h, &mut board, 450.0, 25);
    let Some(command @ Command::RecordBreach { .. }) = due(&h, &board) else {
        panic!("expected a breach, got {:?}", due(&h, &board));
    };
    let events = h.ok(command, &flightdeck_itself());
    assert!(matches!(events[1], Event::RollbackStarted { automatic: true, .. }), "{events:?}");
    assert_eq!(h.step("deploy-33-bake").status, StepStatus::Stopped);
}

#[test]
fn progress_is_recorded_when_it_changes_and_only_for_a_deploy_step() {
    let mut h = paced();
    h.ok(start(), &alice());
    h.ok(capture_latency(100.0), &flightdeck_itself());
    let progress = |fraction, updated| Command::RecordProgress {
        step: "deploy-33".into(),
        fraction,
        updated: Some(updated),
        desired: Some(3),
    };
    says(&h.err(progress(0.0, 0), &flightdeck_itself()), &["`deploy-33` has not started"]);
    h.ok(next(), &alice());
    let events = h.ok(progress(1.0 / 3.0, 1), &flightdeck_itself());
    assert_eq!(
        events,
        vec![Event::RolloutProgress {
            step: "deploy-33".into(),
            fraction: 1.0 / 3.0,
            updated: Some(1),
            desired: Some(3)
        }]
    );
    assert_eq!(deployment(&h.plan, &h.state).line(), "rolling 1/3 pods on 1.4.2");
    says(&h.err(progress(1.0 / 3.0, 1), &flightdeck_itself()), &["has not changed"]);
    says(
        &h.err(
            Command::RecordProgress {
                step: "deploy-33-bake".into(),
                fraction: 0.5,
                updated: None,
                desired: None,
            },
            &flightdeck_itself(),
        ),
        &["`deploy-33-bake` is not a deploy step"],
    );
    says(&h.err(progress(1.5, 4), &flightdeck_itself()), &["between 0 and 1"]);
    h.ok(record("deploy-33", 1, success()), &alice());
    assert_eq!(deployment(&h.plan, &h.state).line(), "rolling held at 1/3 pods on 1.4.2");
}

// ---------------------------------------------------------------------------------------------
// The watch after completion
// ---------------------------------------------------------------------------------------------

#[test]
fn a_completed_release_may_be_rolled_back_while_watched() {
    let mut h = completed("");
    let completed_at = h.state.completed_at.expect("completed");
    h.advance(Duration::from_secs(3600));
    assert_eq!(
        watch_state(&h.plan, &h.state, h.now),
        WatchState::Watching { left: Duration::from_secs(23 * 3600) }
    );
    let r = h.err(
        Command::Rollback { reason: "pods crash".into(), confirmed: false, automatic: false },
        &alice(),
    );
    assert_eq!(r.kind, RejectionKind::NeedsConfirmation);
    says(&h.err(rollback(" "), &alice()), &["needs a reason"]);
    let events = h.ok(rollback("pods crash after an hour"), &alice());
    assert!(matches!(events[0], Event::RollbackStarted { automatic: false, .. }), "{events:?}");
    assert_eq!(h.state.status, Status::RollingBack);
    assert_eq!(h.state.ended_at, None, "not over until its rollback is");
    // Progress read while the rollback runs is what production runs.
    h.ok(
        Command::RecordProgress {
            step: "deploy".into(),
            fraction: 1.0 / 3.0,
            updated: Some(1),
            desired: Some(3),
        },
        &flightdeck_itself(),
    );
    assert_eq!(
        deployment(&h.plan, &h.state).line(),
        "rolled back from 1.4.2 (1/3 pods on it when last read)"
    );
    h.ok(
        Command::RecordProgress {
            step: "deploy".into(),
            fraction: 0.0,
            updated: Some(0),
            desired: Some(3),
        },
        &flightdeck_itself(),
    );
    h.advance_secs(10);
    h.ok(record("rollback-1-undo", 1, success()), &alice());
    assert_eq!(h.state.status, Status::RolledBack);
    assert_eq!(h.state.ended_at, Some(h.now));
    assert_eq!(h.state.completed_at, Some(completed_at), "the first completion stays on record");
    assert_eq!(watch_state(&h.plan, &h.state, h.now), WatchState::None);
    assert_eq!(
        deployment(&h.plan, &h.state).line(),
        "rolled back from 1.4.2 (0/3 pods on it when last read)"
    );
    assert!(deployment(&h.plan, &h.state).fraction().abs() < 1e-9, "the previous version runs");
}

#[test]
fn a_completed_release_is_not_rolled_back_after_its_watch() {
    let mut h = completed("");
    let completed_at = h.state.completed_at.expect("completed");
    h.advance(Duration::from_secs(25 * 3600));
    let r = h.err(rollback("too late"), &alice());
    says(
        &r,
        &[
            &format!("completed at {}", format_hour_minute(completed_at)),
            &format!(
                "its 24h watch ended at {}",
                format_hour_minute(completed_at.plus_millis(24 * 3600 * 1000))
            ),
        ],
    );
}

#[test]
fn a_completed_release_without_a_watch_is_not_rolled_back() {
    let mut h = Harness::from_toml(
        &plan_text("rolling", "", "").replace("[watch]\nafter_release = \"24h\"\n", ""),
    );
    assert!(h.plan.watch.is_none());
    h.ok(start(), &alice());
    h.ok(next_confirmed(), &alice());
    h.ok(record("deploy", 1, success()), &alice());
    assert_eq!(h.state.status, Status::Completed);
    assert!(!supervised(&h.plan, &h.state), "completed without a watch is over");
    says(&h.err(rollback("now"), &alice()), &["cannot roll back", "is completed"]);
}

#[test]
fn an_abort_breach_after_release_rolls_back_by_itself() {
    let mut h = completed("");
    let mut board = ProbeBoard::for_plan(&h.plan);
    board.sync(&h.state);
    h.advance(Duration::from_secs(3600));
    // Twice the baseline: past the bake's abort level, below the looser after-release one.
    readings(&h, &mut board, 250.0, 30);
    assert_eq!(due(&h, &board), Some(warn_after_release(&h, &board)));
    h.ok(due(&h, &board).expect("a warning"), &flightdeck_itself());
    assert_eq!(due(&h, &board), None, "a warning is recorded once per series");
    h.advance_secs(30);
    readings(&h, &mut board, 400.0, 30);
    let Some(command @ Command::RecordBreach { .. }) = due(&h, &board) else {
        panic!("expected a breach after release, got {:?}", due(&h, &board));
    };
    let events = h.ok(command, &flightdeck_itself());
    let [
        Event::ThresholdBreached { step, breach },
        Event::RollbackStarted { reason, automatic: true, .. },
        Event::ActionStarted { .. },
    ] = &events[..]
    else {
        panic!("expected breach, rollback, its first step: {events:?}");
    };
    assert_eq!((step.as_str(), breach.level), (AFTER_RELEASE_STEP, Level::Abort));
    assert!(reason.contains("watched after release") && reason.contains("latency"), "{reason}");
    assert_eq!(h.state.status, Status::RollingBack);
}

/// The warning `due` should give: the series' after-release warn level held.
fn warn_after_release(h: &Harness, board: &ProbeBoard) -> Command {
    match due(h, board) {
        Some(Command::RecordBreach { step, breach })
            if step == AFTER_RELEASE_STEP && breach.level == Level::Warn =>
        {
            Command::RecordBreach { step, breach }
        }
        other => panic!("expected a warning after release, got {other:?}"),
    }
}

#[test]
fn an_abort_breach_after_release_pauses_when_the_watch_says_so_and_resume_completes_again() {
    let mut h = completed("on_breach = \"pause\"");
    let completed_at = h.state.completed_at.expect("completed");
    let mut board = ProbeBoard::for_plan(&h.plan);
    board.sync(&h.state);
    h.advance(Duration::from_secs(600));
    readings(&h, &mut board, 400.0, 30);
    let Some(command) = due(&h, &board) else { panic!("expected a breach") };
    let events = h.ok(command, &flightdeck_itself());
    assert!(
        matches!(&events[..], [Event::ThresholdBreached { .. }, Event::Paused { .. }]),
        "{events:?}"
    );
    assert_eq!(h.state.status, Status::Paused);
    assert!(matches!(watch_state(&h.plan, &h.state, h.now), WatchState::Watching { .. }));
    assert_eq!(due(&h, &board), None, "a paused release is a person's");
    board.sync(&h.state);
    let row = board.metric("latency").expect("a latency row");
    assert!(row.released, "paused after completion, its after-release levels still show");
    h.advance_secs(60);
    assert_eq!(h.ok(Command::Resume, &alice()), vec![Event::Resumed]);
    assert_eq!(h.state.status, Status::Completed);
    assert_eq!(h.state.completed_at, Some(completed_at));
    assert_eq!(h.state.ended_at, Some(completed_at));
    // The abort was acted on once: the person who resumed has seen it.
    assert_eq!(due(&h, &board), None, "the same abort again after a person resumed");
    says(
        &h.err(
            Command::RecordBreach { step: AFTER_RELEASE_STEP.into(), breach: abort_breach() },
            &flightdeck_itself(),
        ),
        &["an abort of latency after release is already recorded"],
    );
}

fn abort_breach() -> Breach {
    Breach {
        series: "latency".into(),
        level: Level::Abort,
        value: 400.0,
        threshold: "> baseline * 3".into(),
        limit: Some(300.0),
        baseline: Some(100.0),
        samples: 6,
        window_ms: 30_000,
    }
}

#[test]
fn a_breach_after_release_is_refused_outside_the_watch() {
    let breach = abort_breach();
    let command =
        || Command::RecordBreach { step: AFTER_RELEASE_STEP.into(), breach: breach.clone() };
    let mut running = rolling("");
    running.ok(start(), &alice());
    says(&running.err(command(), &flightdeck_itself()), &["not completed and watched"]);
    let mut h = completed("");
    h.advance(Duration::from_secs(24 * 3600));
    says(&h.err(command(), &flightdeck_itself()), &["not completed and watched"]);
}

#[test]
fn the_watch_closes_only_after_its_window() {
    let mut h = completed("");
    assert!(supervised(&h.plan, &h.state), "completed and watched");
    let board = ProbeBoard::for_plan(&h.plan);
    h.advance(Duration::from_secs(23 * 3600));
    assert_eq!(due(&h, &board), None);
    says(&h.err(Command::CloseWatch, &flightdeck_itself()), &["has 1h to go"]);
    h.advance(Duration::from_secs(3600));
    assert_eq!(due(&h, &board), Some(Command::CloseWatch));
    assert!(supervised(&h.plan, &h.state), "the watch is still to be closed");
    let events = h.ok(Command::CloseWatch, &flightdeck_itself());
    assert_eq!(events, vec![Event::WatchClosed { after_release_ms: 24 * 3600 * 1000 }]);
    assert_eq!(watch_state(&h.plan, &h.state, h.now), WatchState::Ended { at: h.now });
    assert!(!supervised(&h.plan, &h.state), "nothing more to do for it");
    assert_eq!(due(&h, &board), None);
    says(&h.err(Command::CloseWatch, &flightdeck_itself()), &["already closed"]);
    says(&h.err(rollback("late"), &alice()), &["its 24h watch ended at"]);
}

// ---------------------------------------------------------------------------------------------
// What production runs, per strategy
// ---------------------------------------------------------------------------------------------

#[test]
fn the_deployment_line_follows_the_strategy() {
    let mut t = Harness::basic();
    t.ok(start(), &alice());
    assert_eq!(deployment(&t.plan, &t.state).line(), "0% of traffic on the new version");

    let mut r = rolling("");
    r.ok(start(), &alice());
    assert_eq!(deployment(&r.plan, &r.state).line(), "not rolled out yet: 0 pods on 1.4.2");
    r.ok(capture_latency(100.0), &flightdeck_itself());
    r.ok(next_confirmed(), &alice());
    assert_eq!(deployment(&r.plan, &r.state).line(), "rolling out 1.4.2", "no reading yet");
    r.ok(
        Command::RecordProgress {
            step: "deploy".into(),
            fraction: 2.0 / 3.0,
            updated: Some(2),
            desired: Some(3),
        },
        &flightdeck_itself(),
    );
    assert_eq!(deployment(&r.plan, &r.state).line(), "rolling 2/3 pods on 1.4.2");
    r.ok(record("deploy", 1, success()), &alice());
    let at = format_hour_minute(r.now);
    assert_eq!(
        deployment(&r.plan, &r.state).line(),
        format!("rolled out 1.4.2 to all pods at {at}")
    );
    assert!((deployment(&r.plan, &r.state).fraction() - 1.0).abs() < 1e-9);

    let mut s = Harness::from_toml(&plan_text("swap", "", ""));
    s.ok(start(), &alice());
    assert_eq!(deployment(&s.plan, &s.state).line(), "not swapped yet to 1.4.2");
    s.ok(capture_latency(100.0), &flightdeck_itself());
    s.ok(next_confirmed(), &alice());
    let since = format_hour_minute(s.now);
    assert_eq!(deployment(&s.plan, &s.state).line(), format!("swapping to 1.4.2 since {since}"));
    s.advance_secs(90);
    s.ok(record("deploy", 1, success()), &alice());
    let at = format_hour_minute(s.now);
    assert_eq!(deployment(&s.plan, &s.state).line(), format!("swapped to 1.4.2 at {at}"));
    assert!((deployment(&s.plan, &s.state).fraction() - 1.0).abs() < 1e-9);
    s.ok(rollback("bad swap"), &alice());
    s.ok(record("rollback-1-undo", 1, success()), &alice());
    assert_eq!(
        deployment(&s.plan, &s.state).line(),
        format!("rolled back (swapped to 1.4.2 at {at})")
    );
    assert_eq!(deployment(&s.plan, &s.state).fraction(), 0.0);
}

#[test]
fn pause_reason_is_kept_on_a_running_deploy() {
    // A deploy step is an action step for pause and resume: its success while paused
    // completes it on resume.
    let mut h = rolling("");
    h.ok(start(), &alice());
    h.ok(capture_latency(100.0), &flightdeck_itself());
    h.ok(next_confirmed(), &alice());
    h.ok(pause("look at the pods"), &alice());
    h.ok(record("deploy", 1, success()), &alice());
    assert_eq!(h.state.status, Status::Paused);
    h.ok(Command::Resume, &alice());
    assert_eq!(h.state.status, Status::Completed);
}

#[test]
fn an_interrupted_deploy_is_decided_like_an_interrupted_action() {
    let mut h = rolling("");
    h.ok(start(), &alice());
    h.ok(capture_latency(100.0), &flightdeck_itself());
    h.ok(next_confirmed(), &alice());
    h.ok(support::engine::interrupted("deploy", 1), &flightdeck_itself());
    assert_eq!(h.step("deploy").status, StepStatus::Interrupted);
    says(&h.err(next_confirmed(), &alice()), &["`deploy` was interrupted", "decide"]);
    let board = ProbeBoard::for_plan(&h.plan);
    assert_eq!(due(&h, &board), None, "an interruption waits for a person");
    let resolve = |confirmed| Command::Resolve {
        resolution: flightdeck::release::Resolution::Succeeded,
        reason: "kubectl rollout status says complete".into(),
        confirmed,
    };
    assert_eq!(h.err(resolve(false), &alice()).kind, RejectionKind::NeedsConfirmation);
    let events = h.ok(resolve(true), &alice());
    assert!(
        matches!(
            &events[..],
            [
                Event::ActionResolved { succeeded: true, .. },
                Event::StepCompleted { .. },
                Event::Completed
            ]
        ),
        "{events:?}"
    );
}
