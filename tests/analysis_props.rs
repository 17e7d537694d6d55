//! Property: whatever the sample stream (values, no data, probe errors, in any order), a
//! release in a bake — the engine driven by `automation::due`'s decisions — ends that bake in
//! exactly one way the plan allows: it passes, it pauses (on an abort breach with
//! `on_breach = "pause"`, or inconclusive when its time is up), or it rolls back (on an abort
//! breach with `on_breach = "rollback"`, automatically, ending with weight 0). It never both
//! completes and rolls back, and it never passes while the abort level has been breached for
//! its `for` duration.

mod probe_support;

use flightdeck::probe::{ProbeBoard, Reading};
use flightdeck::release::{Command, Event, Level, Status};
use probe_support::{Run, alice, at, plan};
use proptest::prelude::*;

const BAKE_SECS: f64 = 60.0;
const TICK_SECS: f64 = 5.0;
const ABORT: f64 = 0.05;

fn plan_text(on_breach: &str, no_data: &str, for_secs: u32) -> String {
    format!(
        r#"
[service]
name = "shop"
environment = "production"

[[metrics]]
id = "error_rate"
unit = "%"
interval = "5s"
scrape = {{ url = "http://127.0.0.1:9/metrics", ratio = {{ numerator = 'e', denominator = 't' }} }}
warn = "> 0.01"
abort = "> {ABORT}"
for = "{for_secs}s"
no_data = "{no_data}"
no_data_after = "20s"

[actions.set_weight]
kind = "command"
argv = ["echo", "{{weight}}"]

[traffic]
set = "set_weight"

[rollback]
steps = []

[[stages]]
id = "canary"

  [[stages.steps]]
  id = "shift"
  kind = "traffic"
  weight = 10

  [[stages.steps]]
  id = "bake"
  kind = "bake"
  duration = "{BAKE_SECS}s"
  probes = ["error_rate"]
  on_breach = "{on_breach}"

  [[stages.steps]]
  id = "full"
  kind = "traffic"
  weight = 100
"#
    )
}

/// One poll's outcome.
#[derive(Debug, Clone)]
enum Poll {
    Value(f64),
    NoData,
    Error,
    Silent,
}

fn poll() -> impl Strategy<Value = Poll> {
    prop_oneof![
        4 => (0.0f64..0.03).prop_map(Poll::Value),
        3 => (0.03f64..0.2).prop_map(Poll::Value),
        1 => Just(Poll::NoData),
        1 => Just(Poll::Error),
        1 => Just(Poll::Silent),
    ]
}

#[derive(Debug, PartialEq)]
enum Ending {
    Passed,
    Paused,
    RolledBack,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_bake_passes_pauses_or_rolls_back_per_the_plan(
        rollback in any::<bool>(),
        no_data in prop_oneof![Just("ignore"), Just("warn"), Just("breach")],
        for_secs in prop_oneof![Just(0u32), Just(5), Just(10), Just(20)],
        stream in proptest::collection::vec(poll(), 0..16),
    ) {
        let on_breach = if rollback { "rollback" } else { "pause" };
        let plan = plan(&plan_text(on_breach, no_data, for_secs));
        let mut board = ProbeBoard::for_plan(&plan);
        let mut run = Run::new(plan.clone());
        run.start(at(0.0));
        run.exec(&Command::Next { confirmed: false }, &alice(), at(1.0), None).unwrap();
        run.finish_actions(at(1.0));
        run.exec(&Command::Next { confirmed: false }, &alice(), at(2.0), None).unwrap();
        let bake_start = 2.0;
        let bake_index = run.state.cursor;

        // An independent reading of the stream: a run of values above the abort level that
        // spans `for` before the bake's time is up means the bake must not pass.
        let mut values: Vec<(f64, f64)> = Vec::new();
        let mut must_not_pass = false;
        let mut t = bake_start;
        let mut ending = None;
        for step in 0..40 {
            t += TICK_SECS;
            let p = stream.get(step).cloned().unwrap_or(Poll::Silent);
            let result = match p {
                Poll::Value(v) => Some(Ok(Some(v))),
                Poll::NoData => Some(Ok(None)),
                Poll::Error => Some(Err("connection refused".to_owned())),
                Poll::Silent => None,
            };
            if let Some(result) = result {
                if let Ok(Some(v)) = &result {
                    values.push((t, *v));
                }
                // Stored as a cockpit's sample writer would: the bake's evidence.
                run.stored.push(flightdeck::store::SampleRow {
                    series: "error_rate".into(),
                    kind: flightdeck::store::SampleKind::Metric,
                    at: at(t),
                    value: result.as_ref().ok().copied().flatten(),
                    error: result.as_ref().err().cloned(),
                });
                board.apply(&plan, Reading::Metric { index: 0, at: at(t), result });
            }
            if t < bake_start + BAKE_SECS {
                let streak: Vec<&(f64, f64)> =
                    values.iter().rev().take_while(|(_, v)| *v > ABORT).collect();
                if let (Some(last), Some(first)) = (streak.first(), streak.last()) {
                    if last.0 - first.0 >= f64::from(for_secs) {
                        must_not_pass = true;
                    }
                }
            }
            run.automate(&mut board, at(t));
            let bake_done = run.state.steps[bake_index].status
                == flightdeck::release::StepStatus::Done;
            ending = match run.state.status {
                Status::RolledBack => Some(Ending::RolledBack),
                Status::Paused => Some(Ending::Paused),
                Status::RollingBack => panic!("a rollback without steps finishes at once"),
                _ if bake_done => Some(Ending::Passed),
                _ => None,
            };
            if ending.is_some() {
                break;
            }
        }
        let ending = ending.expect("the bake ended one way or another");

        let rollbacks = run.kinds("rollback_started");
        let completed_bake = run.events.iter().any(
            |r| matches!(&r.event, Event::StepCompleted { step } if step == "bake"),
        );
        prop_assert!(!completed_bake || rollbacks.is_empty(), "completed and rolled back");
        prop_assert!(run.kinds("completed").is_empty() || rollbacks.is_empty());
        let aborts: Vec<_> = run
            .events
            .iter()
            .filter_map(|r| match &r.event {
                Event::ThresholdBreached { breach, .. } if breach.level == Level::Abort => {
                    Some(breach.clone())
                }
                _ => None,
            })
            .collect();
        match ending {
            Ending::Passed => {
                prop_assert!(aborts.is_empty());
                prop_assert!(!must_not_pass, "passed over a held abort breach");
                let done_at = run.state.steps[bake_index].finished_at.unwrap();
                prop_assert!(done_at >= at(bake_start + BAKE_SECS), "passed before its time");
            }
            Ending::RolledBack => {
                prop_assert!(rollback, "rolled back though the plan says pause");
                prop_assert_eq!(rollbacks.len(), 1);
                let Event::RollbackStarted { automatic, reason, .. } = &rollbacks[0].event
                else { unreachable!() };
                prop_assert!(*automatic && rollbacks[0].actor.automatic);
                prop_assert!(reason.contains("error_rate"));
                prop_assert_eq!(aborts.len(), 1);
                prop_assert_eq!(run.state.weight, 0);
            }
            Ending::Paused => {
                prop_assert!(rollbacks.is_empty());
                let reason = &run.state.pause.as_ref().unwrap().reason;
                let by_breach = !aborts.is_empty();
                if by_breach {
                    prop_assert!(!rollback, "paused on a breach though the plan says roll back");
                    prop_assert_eq!(aborts.len(), 1);
                } else {
                    // Inconclusive on the board, or stored readings that do not cover the
                    // bake (silent polls) or do not pass it.
                    prop_assert!(
                        reason.contains("inconclusive") || reason.contains("readings do not pass"),
                        "{}",
                        reason
                    );
                    prop_assert!(t >= bake_start + BAKE_SECS, "paused inconclusive early");
                }
            }
        }
    }
}
