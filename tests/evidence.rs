//! A bake passes only on evidence, and baselines come from the stable side over their
//! window: the pure judgement of stored readings (`analysis::bake_evidence`), the engine's
//! rule on it (`Command::PassBake`: refused, paused by automation, or a flagged override),
//! baseline capture from a `by_label` metric's previous-version series only, and the capture
//! waiting until readings cover `baseline_window`.

mod support;

use std::time::Duration;

use flightdeck::analysis::evidence::covered_baseline;
use flightdeck::analysis::{SampleKind, SampleRow, bake_evidence, stable_series_id};
use flightdeck::automation;
use flightdeck::probe::{ProbeBoard, Reading};
use flightdeck::release::{
    Actor, BakeEvidence, Command, Event, EvidenceStatus, RejectionKind, SeriesEvidence, Timestamp,
};
use proptest::prelude::*;
use support::engine::{Harness, actor, next, says, start};

/// A bake watching one health endpoint and one metric, 60 s long.
const PLAN: &str = r#"
[service]
name = "shop"
environment = "production"

[policy]
forbid_self_approval = false

[[health]]
id = "green"
url = "http://127.0.0.1:9/health"
interval = "5s"
down_after = 3

[[metrics]]
id = "error_rate"
interval = "5s"
prometheus = { url = "http://127.0.0.1:9", query = "x" }
abort = "> 0.05"
for = "10s"
no_data = "ignore"

[actions.set_weight]
kind = "command"
argv = ["echo", "weight={weight}"]

[traffic]
set = "set_weight"

[[stages]]
id = "canary"

  [[stages.steps]]
  id = "bake"
  kind = "bake"
  duration = "60s"
  probes = ["green", "error_rate"]

  [[stages.steps]]
  id = "done"
  kind = "checklist"
  items = [{ id = "ok", text = "looked" }]
"#;

fn alice() -> Actor {
    actor("alice")
}

/// A release whose bake started at `h.now` and whose time is up (`h.now` is 61 s later).
fn bake_over() -> (Harness, Timestamp) {
    let mut h = Harness::from_toml(PLAN);
    h.ok(start(), &alice());
    let started = h.now;
    h.ok(next(), &alice());
    h.advance_secs(61);
    (h, started)
}

fn metric(at: Timestamp, value: f64) -> SampleRow {
    SampleRow {
        series: "error_rate".into(),
        kind: SampleKind::Metric,
        at,
        value: Some(value),
        error: None,
    }
}

fn check(at: Timestamp, ok: bool) -> SampleRow {
    SampleRow {
        series: "green".into(),
        kind: SampleKind::Health,
        at,
        value: ok.then_some(3.0),
        error: (!ok).then(|| "connection refused".into()),
    }
}

/// Readings every 5 s from `started` to 60 s in, of both series, with `error_rate` given by
/// `value(second)` and the endpoint up.
fn readings(started: Timestamp, value: impl Fn(u64) -> f64) -> Vec<SampleRow> {
    (0..=12)
        .flat_map(|i| {
            let at = started.plus_millis(i * 5000);
            [metric(at, value(i * 5)), check(at, true)]
        })
        .collect()
}

fn status_of(e: &BakeEvidence, series: &str) -> EvidenceStatus {
    e.series.iter().find(|s| s.series == series).map(|s| s.status).expect("judged")
}

#[test]
fn readings_that_cover_the_bake_and_pass_are_evidence() {
    let (h, started) = bake_over();
    let e = bake_evidence(&h.plan, &h.state, &readings(started, |_| 0.01), h.now).expect("a bake");
    assert!(e.passes(), "{:?}", e.unmet());
    assert_eq!(e.series.len(), 2);
    let mut h = h;
    let events = h.ok(
        Command::PassBake { evidence: Some(e), override_reason: None, confirmed: false },
        &alice(),
    );
    assert_eq!(events, vec![Event::StepCompleted { step: "bake".into() }]);
}

#[test]
fn no_readings_means_nobody_watched_and_next_is_refused() {
    let (mut h, _) = bake_over();
    let e = bake_evidence(&h.plan, &h.state, &[], h.now).expect("a bake");
    assert!(e.unwatched());
    assert!(e.series.iter().all(|s| s.status == EvidenceStatus::Missing));
    let r = h.err(
        Command::PassBake { evidence: Some(e), override_reason: None, confirmed: false },
        &alice(),
    );
    assert_eq!(r.kind, RejectionKind::Rule);
    says(
        &r,
        &["nobody watched this bake; run `flightdeck supervise` or open the cockpit", "--override"],
    );
    // The plain `next` on a bake that is over does not pass it either.
    says(&h.err(next(), &alice()), &["passes only on the evidence of its stored readings"]);
}

#[test]
fn failing_readings_are_refused_naming_the_series() {
    let (mut h, started) = bake_over();
    // error_rate above 0.05 for 20 s in the middle of the bake (its `for` is 10 s).
    let rows = readings(started, |s| if (20..=40).contains(&s) { 0.2 } else { 0.01 });
    let e = bake_evidence(&h.plan, &h.state, &rows, h.now).expect("a bake");
    assert_eq!(status_of(&e, "error_rate"), EvidenceStatus::Fail);
    assert_eq!(status_of(&e, "green"), EvidenceStatus::Pass);
    let r = h.err(
        Command::PassBake { evidence: Some(e), override_reason: None, confirmed: false },
        &alice(),
    );
    says(&r, &["cannot pass on its readings", "error_rate: fail", "> 0.05"]);
    assert!(!r.message.contains("green:"), "only failing series are named: {}", r.message);
}

#[test]
fn a_gap_in_the_readings_is_missing_evidence() {
    let (h, started) = bake_over();
    let rows: Vec<SampleRow> = readings(started, |_| 0.01)
        .into_iter()
        .filter(|r| {
            !(r.series == "green"
                && r.at > started.plus_millis(10_000)
                && r.at < started.plus_millis(50_000))
        })
        .collect();
    let e = bake_evidence(&h.plan, &h.state, &rows, h.now).expect("a bake");
    assert_eq!(status_of(&e, "green"), EvidenceStatus::Missing);
    assert!(e.unmet()[0].contains("no readings from"), "{:?}", e.unmet());
    assert_eq!(status_of(&e, "error_rate"), EvidenceStatus::Pass);
}

#[test]
fn a_health_endpoint_down_during_the_bake_fails_it() {
    let (h, started) = bake_over();
    let rows: Vec<SampleRow> = readings(started, |_| 0.01)
        .into_iter()
        .map(|r| {
            let bad = r.series == "green"
                && r.at >= started.plus_millis(20_000)
                && r.at <= started.plus_millis(30_000);
            if bad { check(r.at, false) } else { r }
        })
        .collect();
    let e = bake_evidence(&h.plan, &h.state, &rows, h.now).expect("a bake");
    assert_eq!(status_of(&e, "green"), EvidenceStatus::Fail);
    assert!(e.unmet()[0].contains("down: 3 failed checks in a row"), "{:?}", e.unmet());
}

#[test]
fn evidence_judged_before_the_end_does_not_cover_the_bake() {
    let (mut h, started) = bake_over();
    let early = started.plus_millis(30_000);
    let mut e =
        bake_evidence(&h.plan, &h.state, &readings(started, |_| 0.01), early).expect("a bake");
    e.judged_at = early;
    let r = h.err(
        Command::PassBake { evidence: Some(e), override_reason: None, confirmed: false },
        &alice(),
    );
    says(&r, &["before the bake's end"]);
}

#[test]
fn an_override_passes_with_a_reason_and_a_confirmation_and_is_recorded() {
    let (mut h, _) = bake_over();
    let e = bake_evidence(&h.plan, &h.state, &[], h.now).expect("a bake");
    let over = |reason: &str, confirmed| Command::PassBake {
        evidence: Some(e.clone()),
        override_reason: Some(reason.into()),
        confirmed,
    };
    says(&h.err(over("  ", true), &alice()), &["needs a reason"]);
    let r = h.err(over("watched grafana by hand", false), &alice());
    assert_eq!(r.kind, RejectionKind::NeedsConfirmation);
    let auto = Actor::automation("alice", "bastion-1", 4242);
    says(&h.err(over("automation may not", true), &auto), &["only a person"]);
    let events = h.ok(over("watched grafana by hand", true), &alice());
    match &events[0] {
        Event::BakeOverridden { step, reason, unmet } => {
            assert_eq!((step.as_str(), reason.as_str()), ("bake", "watched grafana by hand"));
            assert_eq!(unmet.len(), 2, "{unmet:?}");
        }
        other => panic!("expected the override first, got {other:?}"),
    }
    assert_eq!(events[1], Event::StepCompleted { step: "bake".into() });
    assert!(events[0].sentence().contains("MANUAL OVERRIDE: watched grafana by hand"));
}

#[test]
fn automation_pauses_a_bake_its_readings_do_not_pass_and_then_leaves_it_to_a_person() {
    let (mut h, _) = bake_over();
    let me = Actor::automation("alice", "bastion-1", 4242);
    let board = ProbeBoard::for_plan(&h.plan);
    // Automation asks the store to judge: an empty board is inconclusive, so it pauses on that
    // first; after a person resumes it does nothing by itself any more.
    let e = bake_evidence(&h.plan, &h.state, &[], h.now).expect("a bake");
    let events =
        h.ok(Command::PassBake { evidence: Some(e), override_reason: None, confirmed: false }, &me);
    match &events[..] {
        [Event::Paused { reason }] => {
            assert!(reason.contains("nobody watched this bake"), "{reason}")
        }
        other => panic!("expected a pause, got {other:?}"),
    }
    h.ok(Command::Resume, &alice());
    assert_eq!(automation::due(&h.plan, &h.state, h.now, &me, |_| true, &board), None);
}

#[test]
fn automation_asks_the_store_to_judge_when_the_board_passes() {
    let (mut h, started) = bake_over();
    let me = Actor::automation("alice", "bastion-1", 4242);
    let mut board = ProbeBoard::for_plan(&h.plan);
    board.sync(&h.state);
    for i in 0..=12u64 {
        let at = started.plus_millis(i * 5000);
        board.apply(&h.plan, Reading::Metric { index: 0, at, result: Ok(Some(0.01)) });
        board.apply(
            &h.plan,
            Reading::Health {
                index: 0,
                reading: flightdeck::probe::HealthReading {
                    at,
                    status_code: Some(200),
                    latency_ms: 3,
                    version: None,
                    checks: Vec::new(),
                    error: None,
                },
            },
        );
    }
    let due = automation::due(&h.plan, &h.state, h.now, &me, |_| true, &board).expect("due");
    assert_eq!(
        due.command,
        Command::PassBake { evidence: None, override_reason: None, confirmed: false },
        "the board alone is not evidence: the stored readings are judged"
    );
    // Without a judgement, the engine does not pass it.
    let r = h.err(due.command, &alice());
    says(&r, &["were not judged"]);
}

/// A plan whose latency is split by version, with a relative abort level.
const BY_LABEL: &str = r#"
[service]
name = "shop"
environment = "production"

[[metrics]]
id = "p95"
interval = "5s"
prometheus = { url = "http://127.0.0.1:9", query = "x", by_label = "version" }
abort = "> baseline * 2"
baseline_window = "1m"

[actions.set_weight]
kind = "command"
argv = ["echo", "weight={weight}"]

[traffic]
set = "set_weight"

[rollback]
steps = []

[[stages]]
id = "canary"

  [[stages.steps]]
  id = "shift-10"
  kind = "traffic"
  weight = 10

  [[stages.steps]]
  id = "bake"
  kind = "bake"
  duration = "1m"
  probes = ["p95"]
"#;

#[test]
fn a_by_label_baseline_comes_from_the_stable_version_never_from_new_leftovers() {
    let mut h = Harness::from_toml(BY_LABEL);
    h.ok(
        Command::Start {
            version: "1.4.0".into(),
            previous_version: Some("1.3.2".into()),
            sha: None,
            image: None,
            release_type: flightdeck::plan::ReleaseType::Regular,
        },
        &alice(),
    );
    let me = Actor::automation("alice", "bastion-1", 4242);
    let mut board = ProbeBoard::for_plan(&h.plan);
    board.sync(&h.state);
    // The new version's series holds 0.497 s leftovers of a release rolled back earlier; the
    // stable version answers in 0.005 s. Readings every 5 s.
    let t0 = h.now;
    let mut at = t0;
    let mut due = None;
    for i in 0..40u64 {
        at = t0.plus_millis(i * 5000);
        board.apply(&h.plan, Reading::Metric { index: 0, at, result: Ok(Some(0.497)) });
        board.apply(&h.plan, Reading::Stable { index: 0, at, value: Some(0.005) });
        due = automation::due(&h.plan, &h.state, at, &me, |_| true, &board);
        if due.is_some() {
            break;
        }
    }
    let due = due.expect("a baseline is captured once a minute of readings is there");
    assert!(
        at.millis_since(t0) >= 55_000,
        "captured after {} ms, before its window",
        at.millis_since(t0)
    );
    match &due.command {
        Command::CaptureBaseline {
            series,
            value,
            from_series,
            from_version,
            window_ms,
            samples,
        } => {
            assert_eq!(series, "p95");
            assert!((*value - 0.005).abs() < 1e-12, "baseline {value}: not the stable value");
            assert_eq!(from_series.as_deref(), Some("p95{version=1.3.2}"));
            assert_eq!(from_version.as_deref(), Some("1.3.2"));
            assert_eq!(*window_ms, 60_000);
            assert!(*samples >= 12, "{samples}");
        }
        other => panic!("expected a baseline, got {other:?}"),
    }
    h.now = at;
    let events = h.ok(due.command, &me);
    assert!(
        events[0].sentence().contains("of p95{version=1.3.2}, version 1.3.2"),
        "{}",
        events[0].sentence()
    );
}

#[test]
fn the_first_shift_waits_for_a_needed_baseline() {
    let mut h = Harness::from_toml(BY_LABEL);
    h.ok(start(), &alice());
    h.advance_secs(20);
    let r = h.err(next(), &alice());
    says(&r, &["waits for the baseline of p95", "about 40s left"]);
    h.ok(
        Command::CaptureBaseline {
            series: "p95".into(),
            value: 0.005,
            samples: 12,
            window_ms: 60_000,
            from_series: Some(stable_series_id("p95")),
            from_version: None,
        },
        &alice(),
    );
    h.ok(next(), &alice());
}

#[test]
fn check_refuses_a_relative_threshold_without_a_stable_side() {
    let text = BY_LABEL.replace(", by_label = \"version\"", "");
    let problems = flightdeck::plan::parse(&text, "p.toml").expect_err("refused").to_string();
    assert!(problems.contains("no stable side"), "{problems}");
    let fixed = text
        .replace("baseline_window = \"1m\"", "baseline_window = \"1m\"\nbaseline_from = \"p95\"");
    flightdeck::plan::parse(&fixed, "p.toml").expect("its own readings before traffic moved");
    let live = fixed
        .replace("baseline_window = \"1m\"", "baseline_window = \"1m\"\nbaseline_mode = \"live\"");
    let problems = flightdeck::plan::parse(&live, "p.toml").expect_err("refused").to_string();
    assert!(problems.contains("cannot be its own stable side in live mode"), "{problems}");
}

#[test]
fn live_mode_compares_with_the_stable_side_over_the_moving_window() {
    let text = BY_LABEL
        .replace("baseline_window = \"1m\"", "baseline_window = \"1m\"\nbaseline_mode = \"live\"");
    let mut h = Harness::from_toml(&text);
    h.ok(start(), &alice());
    h.ok(next(), &alice()); // no captured baseline needed in live mode
    h.ok(
        Command::RecordOutcome {
            step: "shift-10".into(),
            attempt: 1,
            outcome: support::engine::success(),
            duration_ms: 1,
        },
        &alice(),
    );
    let started = h.now;
    h.ok(next(), &alice());
    h.advance_secs(61);
    // The stable side doubles with the daily pattern; the new version follows it: it passes.
    let rows: Vec<SampleRow> = (0..=13u64)
        .flat_map(|i| {
            let at = started.plus_millis(i * 5000);
            let stable = 0.1 + 0.01 * i as f64;
            [
                SampleRow {
                    series: "p95".into(),
                    kind: SampleKind::Metric,
                    at,
                    value: Some(stable * 1.2),
                    error: None,
                },
                SampleRow {
                    series: stable_series_id("p95"),
                    kind: SampleKind::Metric,
                    at,
                    value: Some(stable),
                    error: None,
                },
            ]
        })
        .collect();
    let e = bake_evidence(&h.plan, &h.state, &rows, h.now).expect("a bake");
    assert!(e.passes(), "{:?}", e.unmet());
    // The same new-version values against a flat stable side breach `> baseline * 2`.
    let flat: Vec<SampleRow> = rows
        .iter()
        .map(|r| {
            if r.series == "p95" { r.clone() } else { SampleRow { value: Some(0.05), ..r.clone() } }
        })
        .collect();
    let e = bake_evidence(&h.plan, &h.state, &flat, h.now).expect("a bake");
    assert_eq!(e.series[0].status, EvidenceStatus::Fail, "{:?}", e.unmet());
}

proptest! {
    /// The baseline is captured only once readings cover its window: never while the oldest
    /// reading is younger than the window less one interval, always once readings every
    /// `step` seconds have covered it.
    #[test]
    fn capture_waits_for_the_window(window_s in 10u64..600, step_s in 1u64..10, watched_s in 0u64..900) {
        let t0 = Timestamp(1_000_000_000);
        let samples: Vec<(Timestamp, f64)> =
            (0..=watched_s / step_s).map(|i| (t0.plus_millis(i * step_s * 1000), 1.0)).collect();
        let now = t0.plus_millis(watched_s * 1000);
        let got = covered_baseline(&samples, now, window_s * 1000, Duration::from_secs(step_s));
        if watched_s + step_s < window_s {
            prop_assert!(got.is_err(), "captured after {watched_s}s of a {window_s}s window");
        }
        if watched_s >= window_s {
            let c = got.expect("covered");
            prop_assert!(u64::from(c.samples) >= window_s / step_s);
            prop_assert_eq!(c.window_ms, window_s * 1000);
        }
    }
}

#[test]
fn series_evidence_lines_name_the_series() {
    let s = SeriesEvidence {
        series: "x".into(),
        status: EvidenceStatus::Missing,
        readings: 0,
        detail: "no readings during the bake".into(),
    };
    assert_eq!(s.line(), "x: missing (no readings during the bake)");
}

// ---------------------------------------------------------------------------------------
// The store judges: `store::execute` with `PassBake { evidence: None }`, on both backends.
// ---------------------------------------------------------------------------------------

/// Walks the plan's release to its bake through the store, then: nothing stored → refused as
/// unwatched; failing readings stored → refused naming the series; automation → paused; a
/// person's override → passed and recorded.
async fn the_store_judges_the_stored_readings(url: &str) {
    use flightdeck::store::{self, Location, Store};
    let store = Store::open_at(&Location::parse(url), false).await.expect("open");
    let plan = support::engine::plan_from(PLAN);
    let alice = alice();
    let t0 = Timestamp(1_795_344_000_000);
    let (id, _) =
        store::start(&store, &plan, "plan.toml", PLAN, &start(), &alice, t0).await.expect("start");
    store::execute(&store, id, &next(), &alice, None, || t0).await.expect("start the bake");
    let pass = Command::PassBake { evidence: None, override_reason: None, confirmed: false };
    let end = t0.plus_millis(61_000);
    let refused = store::execute(&store, id, &pass, &alice, None, || end).await;
    let Err(store::ExecuteError::Rejected(r)) = refused else { panic!("{refused:?}") };
    says(&r, &["nobody watched this bake"]);

    // The error rate breached for 20 s in the middle of the bake.
    let rows = readings(t0, |s| if (20..=40).contains(&s) { 0.2 } else { 0.01 });
    store.record_samples(id, &rows).await.expect("record");
    let refused = store::execute(&store, id, &pass, &alice, None, || end).await;
    let Err(store::ExecuteError::Rejected(r)) = refused else { panic!("{refused:?}") };
    says(&r, &["error_rate: fail", "> 0.05"]);

    let auto = Actor::automation("alice", "bastion-1", 4242);
    let (records, loaded) =
        store::execute(&store, id, &pass, &auto, None, || end).await.expect("automation");
    assert!(matches!(records[0].event, Event::Paused { .. }), "{records:?}");
    assert_eq!(loaded.state.status, flightdeck::release::Status::Paused);
    store::execute(&store, id, &Command::Resume, &alice, None, || end).await.expect("resume");

    let over = Command::PassBake {
        evidence: None,
        override_reason: Some("the breach was a load test".into()),
        confirmed: true,
    };
    let (records, loaded) =
        store::execute(&store, id, &over, &alice, None, || end).await.expect("override");
    match &records[0].event {
        Event::BakeOverridden { unmet, .. } => {
            assert!(unmet.iter().any(|u| u.starts_with("error_rate: fail")), "{unmet:?}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(loaded.state.current().map(|s| s.id.as_str()), Some("done"));
    store.close().await;
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn the_store_judges_a_bake_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("flightdeck.db");
    runtime().block_on(the_store_judges_the_stored_readings(&db.to_string_lossy()));
}

#[test]
fn the_store_judges_a_bake_on_postgresql() {
    let Some(server) = support::postgres::server_or_skip("the_store_judges_a_bake_on_postgresql")
    else {
        return;
    };
    let url = server.create_database("flightdeck");
    runtime().block_on(the_store_judges_the_stored_readings(&url));
}
