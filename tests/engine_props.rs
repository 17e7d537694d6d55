//! Property tests of the release engine (DESIGN §6): random sequences of every command, by a
//! few people, with the clock moving, must keep the domain's invariants after every step.
//! Accepted commands are recorded and applied through `support::engine::Harness`.
//!
//! Each sequence mixes random commands (most of them rejected) with "helpful" ones that do
//! whatever moves the release along, so that sequences reach gates, traffic, bakes,
//! rollbacks and the end; `generated_sequences_reach_every_ending` checks that they do.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use flightdeck::plan::{Plan, ReleaseType, StepKind};
use flightdeck::release::{
    Actor, Breach, Command, Event, EventRecord, Level, Outcome, Phase, RejectionKind, Resolution,
    State, Status, StepStatus,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use support::engine::{BASIC, Harness, actor, plan_from};

/// Every step kind, self-approval forbidden, a gate with a minimum wait, a gate with its own
/// number of approvals, emergency releases skipping a stage, and a rollback procedure that
/// goes on past failures.
const FULL: &str = r#"
[service]
name = "checkout"
environment = "production"

[policy]
forbid_self_approval = true

[release_types.regular]
approvals = 2

[release_types.hotfix]
approvals = 1

[release_types.emergency]
approvals = 1
skip_stages = ["prep"]

[[health]]
id = "green"
url = "http://127.0.0.1:9/health"

[[metrics]]
id = "error_rate"
scrape = { url = "http://127.0.0.1:9/metrics", gauge = "errors" }
warn = "> 0.01"
abort = "> 0.05"

[actions.migrate]
kind = "command"
argv = ["echo", "migrate"]

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

[claims]
ttl = "1m"

[[stages]]
id = "prep"

  [[stages.steps]]
  id = "pre"
  kind = "checklist"
  items = [
    { id = "tests", text = "CI is green" },
    { id = "oncall", text = "On-call is aware" },
    { id = "backup", text = "Backup taken" },
  ]

  [[stages.steps]]
  id = "go"
  kind = "gate"
  min_wait = "2m"

[[stages]]
id = "deploy"

  [[stages.steps]]
  id = "migrate"
  kind = "action"
  action = "migrate"

  [[stages.steps]]
  id = "second-look"
  kind = "gate"
  approvals = 1

[[stages]]
id = "canary"

  [[stages.steps]]
  id = "shift-25"
  kind = "traffic"
  weight = 25

  [[stages.steps]]
  id = "bake-25"
  kind = "bake"
  duration = "30s"
  probes = ["green", "error_rate"]

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

  [[stages.steps]]
  id = "shift-100"
  kind = "traffic"
  weight = 100

[[stages]]
id = "post"

  [[stages.steps]]
  id = "post"
  kind = "checklist"
  items = [{ id = "dashboards", text = "Dashboards look normal" }]
"#;

/// No traffic and no rollback procedure: a rollback has nothing to run.
const NO_TRAFFIC: &str = r#"
[service]
name = "batch"
environment = "staging"

[actions.deploy]
kind = "command"
argv = ["echo", "deploy"]

[[stages]]
id = "all"

  [[stages.steps]]
  id = "pre"
  kind = "checklist"
  items = [{ id = "tests", text = "CI is green" }]

  [[stages.steps]]
  id = "go"
  kind = "gate"
  approvals = 1

  [[stages.steps]]
  id = "deploy"
  kind = "action"
  action = "deploy"
"#;

/// A paced rolling deploy (segments and bakes), watched after completion; a breach then
/// pauses. Its metric is absolute, so the deploy waits for no baseline.
const ROLLING: &str = r#"
[service]
name = "pods"
environment = "production"

[deploy]
strategy = "rolling"

[watch]
after_release = "2m"
on_breach = "pause"

[[metrics]]
id = "error_rate"
scrape = { url = "http://127.0.0.1:9/metrics", gauge = "errors" }
warn = "> 0.01"
abort = "> 0.05"
after_release_abort = "> 0.1"

[actions.rollout]
kind = "command"
argv = ["echo", "rollout"]

[actions.undo]
kind = "command"
argv = ["echo", "undo"]

[rollback]
steps = ["undo"]

[[stages]]
id = "ship"

  [[stages.steps]]
  id = "deploy"
  kind = "deploy"
  action = "rollout"
  pace = ["50%"]
  pace_bake = "30s"
  probes = ["error_rate"]

  [[stages.steps]]
  id = "smoke"
  kind = "action"
  action = "rollout"
"#;

/// A platform swap watched after completion; a breach then rolls back.
const SWAP: &str = r#"
[service]
name = "site"
environment = "production"

[deploy]
strategy = "swap"

[watch]
after_release = "1m"

[[metrics]]
id = "error_rate"
scrape = { url = "http://127.0.0.1:9/metrics", gauge = "errors" }
after_release_abort = "> 0.1"

[actions.swap]
kind = "command"
argv = ["echo", "swap"]

[actions.undo]
kind = "command"
argv = ["echo", "undo"]

[rollback]
steps = ["undo"]

[[stages]]
id = "ship"

  [[stages.steps]]
  id = "check"
  kind = "checklist"
  items = [{ id = "tests", text = "CI is green" }]

  [[stages.steps]]
  id = "swap"
  kind = "deploy"
  action = "swap"
"#;

const PLANS: [&str; 5] = [BASIC, FULL, NO_TRAFFIC, ROLLING, SWAP];
const NAMES: [&str; 4] = ["alice", "bob", "carol", "dave"];
const REASONS: [&str; 4] = ["", "  ", "p95 over budget", "ünïcödé — \"quoted\"\nnewline"];
const TYPES: [ReleaseType; 3] = [ReleaseType::Regular, ReleaseType::Hotfix, ReleaseType::Emergency];

// ---------------------------------------------------------------------------------------------
// What a sequence is made of
// ---------------------------------------------------------------------------------------------

/// A command, with its choices left as numbers until the state they apply to is known.
#[derive(Debug, Clone)]
enum Cmd {
    Start {
        release_type: usize,
        blank: bool,
    },
    Tick(usize),
    Untick(usize),
    Approve,
    Revoke,
    Decline(usize),
    Next(bool),
    Shift(bool),
    Retry(bool),
    Resolve {
        succeeded: bool,
        reason: usize,
        confirmed: bool,
    },
    /// The outcome of the run in flight (or of some other run when `stray`).
    Outcome {
        pick: usize,
        succeeded: bool,
        stray: bool,
    },
    /// An interruption of the run in flight (or of some other run when `stray`).
    Interrupt {
        pick: usize,
        stray: bool,
    },
    Skip {
        reason: usize,
        confirmed: bool,
    },
    Pause(usize),
    Resume,
    Rollback {
        reason: usize,
        confirmed: bool,
        automatic: bool,
    },
    Abort(usize),
    Note(usize),
    /// A threshold breach in the current bake (or in some other step when `stray`).
    Breach {
        pick: usize,
        abort: bool,
        value: f64,
        stray: bool,
    },
    /// A baseline of a plan metric (or of an unknown one).
    Baseline {
        known: bool,
        value: f64,
        samples: u32,
    },
    /// A claim of some step (mostly the current one), with or without a reason.
    Claim {
        pick: usize,
        reason: usize,
    },
    /// Letting go of a claim on some step.
    Unclaim(usize),
    /// Whatever moves the release along from here.
    Helpful(usize),
}

#[derive(Debug, Clone)]
enum Op {
    /// Someone issues a command.
    Act { who: usize, cmd: Cmd },
    /// The clock moves on by this many milliseconds.
    Wait(u64),
}

#[derive(Debug, Clone)]
struct Scenario {
    plan: usize,
    people: usize,
    ops: Vec<Op>,
}

fn cmd() -> impl Strategy<Value = Cmd> {
    let n = any::<usize>;
    let reason = || 0..REASONS.len();
    prop_oneof![
        1 => (0..TYPES.len(), prop::bool::weighted(0.1))
            .prop_map(|(release_type, blank)| Cmd::Start { release_type, blank }),
        3 => n().prop_map(Cmd::Tick),
        1 => n().prop_map(Cmd::Untick),
        4 => Just(Cmd::Approve),
        1 => Just(Cmd::Revoke),
        1 => reason().prop_map(Cmd::Decline),
        4 => any::<bool>().prop_map(Cmd::Next),
        1 => any::<bool>().prop_map(Cmd::Shift),
        2 => any::<bool>().prop_map(Cmd::Retry),
        1 => (any::<bool>(), reason(), any::<bool>()).prop_map(|(succeeded, reason, confirmed)| {
            Cmd::Resolve { succeeded, reason, confirmed }
        }),
        4 => (n(), prop::bool::weighted(0.7), prop::bool::weighted(0.1))
            .prop_map(|(pick, succeeded, stray)| Cmd::Outcome { pick, succeeded, stray }),
        1 => (n(), prop::bool::weighted(0.1))
            .prop_map(|(pick, stray)| Cmd::Interrupt { pick, stray }),
        1 => (reason(), any::<bool>())
            .prop_map(|(reason, confirmed)| Cmd::Skip { reason, confirmed }),
        1 => reason().prop_map(Cmd::Pause),
        1 => Just(Cmd::Resume),
        2 => (reason(), any::<bool>(), prop::bool::weighted(0.3)).prop_map(
            |(reason, confirmed, automatic)| Cmd::Rollback { reason, confirmed, automatic }
        ),
        1 => reason().prop_map(Cmd::Abort),
        1 => reason().prop_map(Cmd::Note),
        2 => (n(), any::<bool>(), value(), prop::bool::weighted(0.1))
            .prop_map(|(pick, abort, value, stray)| Cmd::Breach { pick, abort, value, stray }),
        1 => (prop::bool::weighted(0.8), value(), 0u32..50)
            .prop_map(|(known, value, samples)| Cmd::Baseline { known, value, samples }),
        2 => (n(), reason()).prop_map(|(pick, reason)| Cmd::Claim { pick, reason }),
        1 => n().prop_map(Cmd::Unclaim),
        20 => n().prop_map(Cmd::Helpful),
    ]
}

/// Mostly ordinary values; sometimes anything a float can be (NaN, infinities, subnormals).
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![8 => -1.0e3..1.0e3, 1 => any::<f64>()]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..NAMES.len(), cmd()).prop_map(|(who, cmd)| Op::Act { who, cmd }),
        2 => (0u64..5_000).prop_map(Op::Wait),
        1 => (0u64..200_000).prop_map(Op::Wait),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (0..PLANS.len(), 3..=NAMES.len(), prop::collection::vec(op(), 1..=60))
        .prop_map(|(plan, people, ops)| Scenario { plan, people, ops })
}

// ---------------------------------------------------------------------------------------------
// Turning a generated command into a real one
// ---------------------------------------------------------------------------------------------

fn pick<T: Clone>(items: &[T], n: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[n % items.len()].clone())
}

fn item_ids(plan: &Plan) -> Vec<String> {
    let mut ids: Vec<String> = plan
        .flat_steps()
        .iter()
        .filter_map(|r| match &r.step.kind {
            StepKind::Checklist { items } => Some(items.iter().map(|i| i.id.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    ids.push("no-such-item".into());
    ids
}

/// Checklist items of the current step, with the open ones first.
fn current_items(h: &Harness) -> (Vec<String>, Vec<String>) {
    let Some(r) = h.plan.flat_steps().get(h.state.cursor).copied() else {
        return (Vec::new(), Vec::new());
    };
    let StepKind::Checklist { items } = &r.step.kind else { return (Vec::new(), Vec::new()) };
    let ticks = &h.state.steps[h.state.cursor].ticks;
    items.iter().map(|i| i.id.clone()).partition(|id| !ticks.contains_key(id))
}

/// Every (step, attempt) a stray report could name: real steps, rollback steps, made-up ones.
fn any_run(h: &Harness, n: usize) -> (String, u32) {
    let mut ids: Vec<String> = h.state.steps.iter().map(|s| s.id.clone()).collect();
    if let Some(r) = &h.state.rollback {
        ids.extend(r.steps.iter().map(|s| s.id.clone()));
    }
    ids.push("no-such-step".into());
    let step = pick(&ids, n).unwrap_or_default();
    let attempt = u32::try_from(n / ids.len() % 3).unwrap_or(0) + 1;
    (step, attempt)
}

fn outcome(succeeded: bool) -> Outcome {
    if succeeded {
        Outcome::Succeeded {
            exit_code: Some(0),
            output_tail: Some("ok\n".into()),
            outputs: Default::default(),
        }
    } else {
        Outcome::Failed {
            error: "exit status 1".into(),
            exit_code: Some(1),
            output_tail: Some("boom".into()),
        }
    }
}

fn reason(i: usize) -> String {
    REASONS[i % REASONS.len()].to_owned()
}

/// The actual command, and who issues it (helpful commands may pick someone else).
fn resolve_cmd(h: &Harness, cmd: &Cmd, who: &Actor, people: &[Actor]) -> (Command, Actor) {
    let me = who.clone();
    let command = match cmd {
        Cmd::Start { release_type, blank } => Command::Start {
            version: if *blank { " ".into() } else { "2.0.0".into() },
            previous_version: Some("1.9.9".into()),
            sha: Some("0123abc".into()),
            image: Some("registry/checkout:2.0.0".into()),
            release_type: TYPES[*release_type % TYPES.len()],
        },
        Cmd::Tick(n) | Cmd::Untick(n) => {
            let (open, ticked) = current_items(h);
            let wanted = if matches!(cmd, Cmd::Tick(_)) { open } else { ticked };
            let item = if n % 4 != 0 {
                pick(&wanted, n / 4).unwrap_or_else(|| "no-such-item".into())
            } else {
                pick(&item_ids(&h.plan), n / 4).unwrap_or_default()
            };
            if matches!(cmd, Cmd::Tick(_)) {
                Command::Tick { item }
            } else {
                Command::Untick { item }
            }
        }
        Cmd::Approve => Command::Approve,
        Cmd::Revoke => Command::Revoke,
        Cmd::Decline(r) => Command::Decline { reason: reason(*r) },
        Cmd::Next(confirmed) => Command::Next { confirmed: *confirmed },
        Cmd::Shift(confirmed) => Command::Shift { confirmed: *confirmed },
        Cmd::Retry(confirmed) => Command::Retry { confirmed: *confirmed },
        Cmd::Resolve { succeeded, reason: r, confirmed } => Command::Resolve {
            resolution: if *succeeded { Resolution::Succeeded } else { Resolution::Failed },
            reason: reason(*r),
            confirmed: *confirmed,
        },
        Cmd::Outcome { pick: n, succeeded, stray } => {
            let in_flight: Vec<(String, u32)> = h
                .state
                .runs_in_flight()
                .iter()
                .map(|(s, r)| ((*s).to_owned(), r.attempt))
                .collect();
            let (step, attempt) = match pick(&in_flight, *n) {
                Some(run) if !stray => run,
                _ => any_run(h, *n),
            };
            Command::RecordOutcome {
                step,
                attempt,
                outcome: outcome(*succeeded),
                duration_ms: (*n % 100_000) as u64,
            }
        }
        Cmd::Interrupt { pick: n, stray } => {
            let in_flight: Vec<(String, u32)> = h
                .state
                .runs_in_flight()
                .iter()
                .map(|(s, r)| ((*s).to_owned(), r.attempt))
                .collect();
            let (step, attempt) = match pick(&in_flight, *n) {
                Some(run) if !stray => run,
                _ => any_run(h, *n),
            };
            Command::MarkInterrupted { step, attempt, reason: "process went away".into() }
        }
        Cmd::Skip { reason: r, confirmed } => {
            Command::Skip { reason: reason(*r), confirmed: *confirmed }
        }
        Cmd::Pause(r) => Command::Pause { reason: reason(*r) },
        Cmd::Resume => Command::Resume,
        Cmd::Rollback { reason: r, confirmed, automatic } => {
            Command::Rollback { reason: reason(*r), confirmed: *confirmed, automatic: *automatic }
        }
        Cmd::Abort(r) => Command::Abort { reason: reason(*r) },
        Cmd::Note(r) => Command::Note { text: reason(*r) },
        Cmd::Breach { pick: n, abort, value, stray } => {
            let step = match h.state.current() {
                Some(s) if !stray => s.id.clone(),
                _ => any_run(h, *n).0,
            };
            Command::RecordBreach {
                step,
                breach: Breach {
                    series: pick(&["error_rate", "green"], *n).unwrap_or_default().to_owned(),
                    level: if *abort { Level::Abort } else { Level::Warn },
                    value: *value,
                    threshold: if *abort { "> 0.05".into() } else { "> 0.01".into() },
                    limit: (n % 2 == 0).then_some(0.05),
                    baseline: (n % 3 == 0).then_some(*value / 2.0),
                    samples: u32::try_from(n % 20).unwrap_or(0),
                    window_ms: (n % 60_000) as u64,
                },
            }
        }
        Cmd::Baseline { known, value, samples } => Command::CaptureBaseline {
            series: if *known { "error_rate".into() } else { "no-such-metric".into() },
            value: *value,
            samples: *samples,
            window_ms: 300_000,
            from_series: None,
            from_version: None,
        },
        Cmd::Claim { pick: n, reason: r } => {
            Command::Claim { step: claim_target(h, *n), reason: (r % 3 != 0).then(|| reason(*r)) }
        }
        Cmd::Unclaim(n) => Command::Unclaim { step: claim_target(h, *n) },
        Cmd::Helpful(n) => return helpful(h, *n, who, people),
    };
    (command, me)
}

/// The step a claim names: mostly the current one, else any step or a made-up one.
fn claim_target(h: &Harness, n: usize) -> String {
    match h.state.current() {
        Some(s) if n % 3 != 0 => s.id.clone(),
        _ => {
            let mut ids: Vec<String> = h.state.steps.iter().map(|s| s.id.clone()).collect();
            ids.push("no-such-step".into());
            pick(&ids, n / 3).unwrap_or_default()
        }
    }
}

/// The command (and the person) that moves the release along from here.
fn helpful(h: &Harness, n: usize, who: &Actor, people: &[Actor]) -> (Command, Actor) {
    let me = who.clone();
    let next = (Command::Next { confirmed: true }, me.clone());
    let in_flight = h.state.runs_in_flight();
    if let Some((step, run)) = pick(&in_flight, n) {
        let command = if n % 10 == 0 {
            Command::MarkInterrupted {
                step: step.to_owned(),
                attempt: run.attempt,
                reason: "gone".into(),
            }
        } else {
            Command::RecordOutcome {
                step: step.to_owned(),
                attempt: run.attempt,
                outcome: outcome(n % 5 != 0),
                duration_ms: 1200,
            }
        };
        return (command, me);
    }
    match h.state.status {
        Status::Planned => {
            let release_type = TYPES[n % TYPES.len()];
            return (
                Command::Start {
                    version: "2.0.0".into(),
                    previous_version: None,
                    sha: None,
                    image: None,
                    release_type,
                },
                me,
            );
        }
        Status::Paused => return (Command::Resume, me),
        // Watched after completion: a breach, the watch's end, or a person's rollback.
        Status::Completed if h.plan.watch.is_some() => {
            let command = match n % 3 {
                0 => Command::RecordBreach {
                    step: flightdeck::plan::AFTER_RELEASE_STEP.into(),
                    breach: Breach {
                        series: "error_rate".into(),
                        level: if n % 2 == 0 { Level::Abort } else { Level::Warn },
                        value: 0.5,
                        threshold: "> 0.1".into(),
                        limit: Some(0.1),
                        baseline: None,
                        samples: 6,
                        window_ms: 30_000,
                    },
                },
                1 => Command::CloseWatch,
                _ => Command::Rollback {
                    reason: "after release".into(),
                    confirmed: true,
                    automatic: false,
                },
            };
            return (command, me);
        }
        Status::RollingBack => return (Command::Retry { confirmed: true }, me),
        _ => {}
    }
    let (Some(r), Some(s)) = (h.plan.flat_steps().get(h.state.cursor).copied(), h.state.current())
    else {
        return next;
    };
    // Someone else is on this step: take it over with a reason, let the holder act or let go,
    // or try to advance it anyway (which the claim must refuse).
    let holder = s.live_claim(h.now).filter(|c| c.by.name != me.name).map(|c| c.by.name.clone());
    let me = match holder {
        Some(_) if n % 4 == 2 => return next,
        Some(_) if n % 4 == 0 => {
            let reason = Some("they are off shift".to_owned());
            return (Command::Claim { step: s.id.clone(), reason }, me);
        }
        Some(_) if n % 4 == 1 => {
            let by = people.iter().find(|p| Some(&p.name) == holder.as_ref()).cloned();
            return (Command::Unclaim { step: s.id.clone() }, by.unwrap_or(me));
        }
        Some(name) => people.iter().find(|p| p.name == name).cloned().unwrap_or(me),
        None => me,
    };
    let next = (Command::Next { confirmed: true }, me.clone());
    if matches!(s.status, StepStatus::Failed | StepStatus::Interrupted) {
        return if n % 3 == 0 {
            let reason = "checked".into();
            (Command::Resolve { resolution: Resolution::Succeeded, reason, confirmed: true }, me)
        } else {
            (Command::Retry { confirmed: true }, me)
        };
    }
    match &r.step.kind {
        StepKind::Bake { .. } if s.status == StepStatus::Running && n % 4 == 0 => {
            let values = [0.02, 0.9, f64::NAN, f64::INFINITY, 5e-324];
            let value = values[n / 4 % values.len()];
            let breach = Breach {
                series: "error_rate".into(),
                level: if n % 8 == 0 { Level::Abort } else { Level::Warn },
                value,
                threshold: "> 0.01".into(),
                limit: Some(0.01),
                baseline: None,
                samples: 6,
                window_ms: 30_000,
            };
            (Command::RecordBreach { step: s.id.clone(), breach }, me)
        }
        // A running bake passes on evidence: that its watched series passed (mostly), that
        // nobody watched it, or by a person's override.
        StepKind::Bake { .. } if s.status == StepStatus::Running => {
            let mut evidence = h.passing_evidence();
            if n % 5 == 1 || n % 5 == 2 {
                for series in &mut evidence.series {
                    series.status = flightdeck::release::EvidenceStatus::Missing;
                    series.readings = 0;
                }
            }
            let override_reason = (n % 5 == 2).then(|| "watched by hand".to_owned());
            (Command::PassBake { evidence: Some(evidence), override_reason, confirmed: true }, me)
        }
        StepKind::Checklist { .. } => match current_items(h).0.first() {
            Some(item) => (Command::Tick { item: item.clone() }, me),
            None => next,
        },
        StepKind::Gate { .. } => {
            if let Some(decliner) = s.declines.keys().next() {
                let by = people.iter().find(|p| &p.name == decliner).cloned().unwrap_or(me);
                return (Command::Revoke, by);
            }
            let release_type =
                h.state.info.as_ref().map_or(ReleaseType::Regular, |i| i.release_type);
            let needed = h.plan.approvals_needed(r.step, release_type) as usize;
            if s.approvals.len() >= needed {
                return next;
            }
            let starter = h.state.info.as_ref().map(|i| i.started_by.name.clone());
            let forbid = h.plan.policy.forbid_self_approval;
            let may_approve = |p: &&Actor| {
                let is_starter = starter.as_ref() == Some(&p.name);
                let barred = forbid && is_starter;
                !s.approvals.contains_key(&p.name) && !barred
            };
            let approver = people.iter().find(may_approve);
            (Command::Approve, approver.cloned().unwrap_or(me))
        }
        _ => next,
    }
}

// ---------------------------------------------------------------------------------------------
// The invariants
// ---------------------------------------------------------------------------------------------

/// What the checker remembers across a release.
#[derive(Default)]
struct Memory {
    /// Every (step, attempt) ever started.
    started: BTreeSet<(String, u32)>,
    /// Rollout steps completed, by plan index.
    completed: Vec<usize>,
    /// Terminal events seen: completed, rollback finished, aborted.
    endings: Vec<&'static str>,
}

fn plan_index(plan: &Plan, step: &str) -> Option<usize> {
    plan.flat_steps().iter().position(|r| r.step.id == step)
}

/// The step whose action just succeeded, if `event` says one did.
fn succeeded_step(event: Option<&Event>) -> Option<&str> {
    match event {
        Some(
            Event::ActionFinished { step, .. }
            | Event::ActionResolved { step, succeeded: true, .. },
        ) => Some(step),
        _ => None,
    }
}

/// Checks one accepted decision event by event against the state just before each event.
fn check_decision(
    plan: &Plan,
    before: &State,
    events: &[Event],
    by: &Actor,
    now: flightdeck::release::Timestamp,
    memory: &mut Memory,
) -> Result<(), TestCaseError> {
    prop_assert!(!events.is_empty(), "an accepted command decided nothing");
    // A completed release still watched after completion may be rolled back, paused by a
    // breach, or have its watch closed; nothing else changes it.
    let watched = before.status == Status::Completed
        && matches!(
            flightdeck::release::watch_state(plan, before, now),
            flightdeck::release::WatchState::Watching { .. }
        );
    if watched {
        let after_release = |e: &Event| match e {
            Event::RollbackStarted { .. } | Event::Paused { .. } | Event::NoteAdded { .. } => true,
            Event::ThresholdBreached { step, .. } => step == flightdeck::plan::AFTER_RELEASE_STEP,
            Event::ActionStarted { phase, .. } => *phase == Phase::Rollback,
            Event::StepSkipped { step, .. } => step.starts_with("rollback-"),
            Event::RollbackFinished => true,
            _ => false,
        };
        prop_assert!(
            events.iter().all(after_release),
            "a watched completed release changed otherwise: {events:#?}"
        );
    } else if before.status == Status::Completed
        && plan.watch.is_some()
        && before.watch_closed.is_none()
        && events.iter().any(|e| matches!(e, Event::WatchClosed { .. }))
    {
        prop_assert!(events.len() == 1, "closing the watch decided more: {events:#?}");
    } else if before.status.is_terminal() {
        // Only notes, and the outcome of a run that was already in flight when the release
        // ended (a rollout action still running when a rollback started and finished): the
        // process that ran it reports a fact, and the record keeps it.
        let in_flight: Vec<(&str, u32)> =
            before.runs_in_flight().iter().map(|(s, r)| (*s, r.attempt)).collect();
        let late_outcome = |e: &Event| match e {
            Event::ActionFinished { step, attempt, .. }
            | Event::ActionFailed { step, attempt, .. }
            | Event::ActionInterrupted { step, attempt, .. } => {
                events.len() == 1 && in_flight.contains(&(step.as_str(), *attempt))
            }
            _ => false,
        };
        prop_assert!(
            events.iter().all(|e| matches!(e, Event::NoteAdded { .. }) || late_outcome(e)),
            "after the release ended ({}) only notes are accepted, got {events:#?}",
            before.status.as_str()
        );
    }
    check_claims(plan, before, events, by, now)?;
    let steps = plan.flat_steps();
    let mut s = before.clone();
    for (i, event) in events.iter().enumerate() {
        let previous = i.checked_sub(1).map(|j| &events[j]);
        // Paused means paused: nothing completes a step or the release until it resumes.
        if matches!(event, Event::StepCompleted { .. } | Event::Completed) {
            prop_assert_eq!(
                s.status,
                Status::Running,
                "{:?} decided while the release was not running: {:#?}",
                event,
                events
            );
        }
        match event {
            Event::StepCompleted { step } => {
                let index = plan_index(plan, step);
                prop_assert!(index.is_some(), "completed `{step}`, which is not a plan step");
                let index = index.unwrap_or_default();
                prop_assert_eq!(index, s.cursor, "completed `{}`, which is not current", step);
                prop_assert!(
                    !memory.completed.contains(&index),
                    "`{step}` completed twice: {:?}",
                    memory.completed
                );
                prop_assert!(
                    memory.completed.last().is_none_or(|&last| last < index),
                    "`{step}` completed out of plan order after {:?}",
                    memory.completed
                );
                memory.completed.push(index);
                let state = &s.steps[index];
                let r = steps[index];
                match &r.step.kind {
                    StepKind::Gate { min_wait, .. } => {
                        let release_type =
                            s.info.as_ref().map_or(ReleaseType::Regular, |i| i.release_type);
                        let needed = plan.approvals_needed(r.step, release_type);
                        let approvers: BTreeSet<&String> = state.approvals.keys().collect();
                        prop_assert!(
                            approvers.len() >= needed as usize,
                            "gate `{step}` completed with {approvers:?}, needing {needed}"
                        );
                        prop_assert!(state.declines.is_empty(), "gate `{step}` passed a no-go");
                        if plan.policy.forbid_self_approval {
                            let starter = s.info.as_ref().map(|i| &i.started_by.name);
                            prop_assert!(
                                starter.is_none_or(|n| !state.approvals.contains_key(n)),
                                "the starter approved `{step}` though the plan forbids it"
                            );
                        }
                        let since = state.current_since.unwrap_or(now);
                        prop_assert!(
                            Duration::from_millis(now.millis_since(since)) >= *min_wait,
                            "gate `{step}` passed before its minimum wait"
                        );
                    }
                    StepKind::Checklist { items } => {
                        prop_assert!(
                            items.iter().all(|it| state.ticks.contains_key(&it.id)),
                            "checklist `{step}` completed with open items"
                        );
                    }
                    StepKind::Action { .. }
                    | StepKind::Deploy { .. }
                    | StepKind::Traffic { .. } => {
                        prop_assert_eq!(
                            state.status,
                            StepStatus::Done,
                            "`{}` completed before its action succeeded",
                            step
                        );
                    }
                    StepKind::Bake { duration, .. } => {
                        prop_assert_eq!(state.status, StepStatus::Running);
                        let started = state.started_at.unwrap_or(now);
                        prop_assert!(
                            Duration::from_millis(now.millis_since(started)) >= *duration,
                            "bake `{step}` completed early"
                        );
                    }
                }
            }
            Event::WeightSet { weight } => {
                let after = succeeded_step(previous);
                let zeroing = |id: &str| {
                    let r = s.rollback.as_ref();
                    r.is_some_and(|r| r.plan.iter().any(|p| p.id == id && p.sets_weight_zero))
                };
                let shifting = |id: &str| {
                    let kind = plan.step(id).map(|r| &r.step.kind);
                    matches!(kind, Some(StepKind::Traffic { weight: w }) if w == weight)
                };
                let rollback_zero =
                    *weight == 0 && s.status == Status::RollingBack && after.is_some_and(zeroing);
                let rollout = after.is_some_and(shifting);
                prop_assert!(
                    rollback_zero || rollout,
                    "WeightSet({weight}) not right after a traffic action succeeded: {events:#?}"
                );
                prop_assert!(
                    *weight >= s.weight || rollback_zero,
                    "the weight went down from {} to {weight} outside a rollback",
                    s.weight
                );
            }
            Event::ActionStarted { step, attempt, phase, .. } => {
                prop_assert!(
                    memory.started.insert((step.clone(), *attempt)),
                    "`{step}` attempt {attempt} started twice: {events:#?}"
                );
                let runs = s.step(step).map(|st| st.runs.len());
                prop_assert_eq!(
                    runs.map(|n| n + 1),
                    Some(*attempt as usize),
                    "attempt {} of `{}` does not follow its runs",
                    attempt,
                    step
                );
                let in_rollback =
                    s.rollback.as_ref().is_some_and(|r| r.plan.iter().any(|p| &p.id == step));
                prop_assert_eq!(*phase == Phase::Rollback, in_rollback);
            }
            Event::ThresholdBreached { step, .. }
                if step == flightdeck::plan::AFTER_RELEASE_STEP =>
            {
                prop_assert!(watched, "a breach after release recorded while not watched");
            }
            Event::ThresholdBreached { step, breach } => {
                prop_assert_eq!(
                    s.status,
                    Status::Running,
                    "a breach recorded outside a running release"
                );
                let current = s.current();
                prop_assert!(
                    current.is_some_and(|c| &c.id == step && c.status == StepStatus::Running),
                    "a breach recorded for `{step}`, which is not the running bake"
                );
                if breach.level == Level::Abort {
                    prop_assert!(
                        matches!(
                            events.get(i + 1),
                            Some(
                                Event::Paused { .. }
                                    | Event::RollbackStarted { automatic: true, .. }
                            )
                        ),
                        "an abort-level breach neither paused nor rolled back: {events:#?}"
                    );
                }
            }
            Event::StepSkipped { step, .. } => {
                let gate =
                    plan.step(step).is_some_and(|r| matches!(r.step.kind, StepKind::Gate { .. }));
                prop_assert!(
                    !gate || matches!(events.first(), Some(Event::ReleaseStarted { .. })),
                    "gate `{step}` skipped after the start (only a release type's skip_stages may): {events:#?}"
                );
            }
            Event::BaselineCaptured { .. } => {
                prop_assert!(
                    !flightdeck::release::production_changed(plan, &s),
                    "a baseline captured after production changed"
                );
            }
            Event::Completed => memory.endings.push("completed"),
            Event::RollbackFinished => memory.endings.push("rollback finished"),
            Event::Aborted { .. } => memory.endings.push("aborted"),
            _ => {}
        }
        let record =
            EventRecord { seq: s.seq + 1, at: now, actor: by.clone(), event: event.clone() };
        flightdeck::release::apply(&mut s, &record);
        match event {
            Event::RollbackFinished => {
                prop_assert_eq!(s.weight, 0, "a finished rollback left traffic on the new version");
                prop_assert_eq!(s.status, Status::RolledBack);
            }
            Event::Completed => {
                prop_assert_eq!(s.status, Status::Completed);
                prop_assert_eq!(s.cursor, s.steps.len(), "completed with steps left");
                prop_assert!(
                    s.steps
                        .iter()
                        .all(|st| matches!(st.status, StepStatus::Done | StepStatus::Skipped))
                );
            }
            _ => {}
        }
    }
    // A watched release may complete, then roll back; nothing else ends twice.
    let ended_twice = match memory.endings.as_slice() {
        [] | [_] => false,
        ["completed", "rollback finished"] => plan.watch.is_none(),
        _ => true,
    };
    prop_assert!(!ended_twice, "the release ended twice: {:?}", memory.endings);
    Ok(())
}

/// Claims: someone else's live claim on the current step holds a person back from advancing
/// it; a claim is recorded only where claims are on, on a step that has not ended, for the
/// plan's TTL, and takes a live claim of someone else over only with a reason.
fn check_claims(
    plan: &Plan,
    before: &State,
    events: &[Event],
    by: &Actor,
    now: flightdeck::release::Timestamp,
) -> Result<(), TestCaseError> {
    let held = before.current().and_then(|c| c.live_claim(now).map(|claim| (c, claim)));
    if let Some((current, claim)) = held {
        let other = claim.by.name != by.name && !by.automatic;
        let active = matches!(before.status, Status::Running | Status::Paused);
        if other && active {
            let step = current.id.as_str();
            let advanced = events.iter().enumerate().any(|(i, e)| match e {
                Event::StepSkipped { step: s, .. } | Event::BakeStarted { step: s } => s == step,
                Event::ActionStarted { step: s, phase: Phase::Rollout, .. } => s == step,
                Event::ActionResolved { step: s, .. } => s == step,
                // A step completes by a decision (first event) or after its action's outcome
                // was reported, which is a fact nobody holds back.
                Event::StepCompleted { step: s } => s == step && i == 0,
                _ => false,
            });
            prop_assert!(
                !advanced,
                "{} advanced `{step}` while {} held it: {events:#?}",
                by.name,
                claim.by.name
            );
        }
    }
    for event in events {
        if let Event::StepClaimed { step, until, took_over_from, reason } = event {
            let ttl = plan.claims.map(|c| c.ttl);
            prop_assert!(ttl.is_some(), "a claim recorded where claims are off");
            let ttl_ms = ttl.map_or(0, |t| t.as_millis() as u64);
            prop_assert_eq!(*until, now.plus_millis(ttl_ms), "a claim not for the plan's TTL");
            let s = before.steps.iter().find(|s| &s.id == step);
            prop_assert!(
                s.is_some_and(|s| !matches!(s.status, StepStatus::Done | StepStatus::Skipped)),
                "claimed `{step}`, which is not a step that has not ended"
            );
            let live_other = s
                .and_then(|s| s.live_claim(now))
                .filter(|c| c.by.name != by.name)
                .map(|c| c.by.name.clone());
            prop_assert_eq!(took_over_from, &live_other, "took_over_from is the live holder");
            if live_other.is_some() {
                prop_assert!(
                    reason.as_ref().is_some_and(|r| !r.trim().is_empty()),
                    "a takeover without a reason"
                );
            }
        }
    }
    Ok(())
}

/// Checks that hold after every command, accepted or not.
fn check_state(h: &Harness) -> Result<(), TestCaseError> {
    for (i, r) in h.records.iter().enumerate() {
        prop_assert_eq!(r.seq, i as u64 + 1, "seq numbers are not contiguous");
    }
    prop_assert_eq!(h.state.seq, h.records.len() as u64);
    let replayed = State::replay(&h.plan, &h.records);
    prop_assert!(replayed == h.state, "replay differs from the live state");
    let rollout_in_flight = h.state.steps.iter().filter(|s| s.running().is_some()).count();
    prop_assert!(rollout_in_flight <= 1, "{rollout_in_flight} rollout actions in flight");
    for s in &h.state.steps {
        let ended = matches!(s.status, StepStatus::Done | StepStatus::Skipped);
        prop_assert!(!(ended && s.claim.is_some()), "`{}` ended but keeps a claim", s.id);
        let over = h.state.status.is_terminal() || h.state.status == Status::RollingBack;
        prop_assert!(!(over && s.claim.is_some()), "a claim outlived the rollout on `{}`", s.id);
        // A rolled-back or aborted release has nothing running but the action processes that
        // have not reported yet: a bake (no process) is stopped, its clock with it.
        let bake_running = s.status == StepStatus::Running && s.runs.is_empty();
        prop_assert!(!(over && bake_running), "bake `{}` still runs after the rollout ended", s.id);
        let stopped = s.status == StepStatus::Stopped;
        prop_assert!(!stopped || over, "`{}` stopped while the rollout goes on", s.id);
    }
    Ok(())
}

/// Whether a rejected command asked for confirmation though it carried one.
fn confirmation_was_given(command: &Command) -> bool {
    match command {
        Command::Next { confirmed } | Command::Shift { confirmed } => *confirmed,
        Command::Skip { confirmed, .. } => *confirmed,
        Command::Retry { confirmed } | Command::Resolve { confirmed, .. } => *confirmed,
        Command::Rollback { confirmed, automatic, .. } => *confirmed || *automatic,
        _ => true,
    }
}

/// Plays a scenario, checking every invariant after every step; returns the harness.
fn play(scenario: &Scenario, plans: &[Plan]) -> Result<Harness, TestCaseError> {
    let mut h = Harness::new(plans[scenario.plan].clone());
    let people: Vec<Actor> = NAMES[..scenario.people].iter().map(|n| actor(n)).collect();
    let mut memory = Memory::default();
    for op in &scenario.ops {
        match op {
            Op::Wait(ms) => h.now = h.now.plus_millis(*ms),
            Op::Act { who, cmd } => {
                let who = &people[who % people.len()];
                let (command, by) = resolve_cmd(&h, cmd, who, &people);
                let before = h.state.clone();
                let len = h.records.len();
                match h.run(command.clone(), &by) {
                    Ok(events) => {
                        prop_assert_eq!(&h.events_since(len), &events);
                        check_decision(&h.plan, &before, &events, &by, h.now, &mut memory)?;
                    }
                    Err(r) => {
                        prop_assert_eq!(&h.state, &before, "a rejection changed the state");
                        prop_assert!(r.kind != RejectionKind::Stale, "stale without expect_seq");
                        prop_assert!(
                            !(r.kind == RejectionKind::NeedsConfirmation
                                && confirmation_was_given(&command)),
                            "asked to confirm {command:?}: {}",
                            r.message
                        );
                        prop_assert!(!r.message.trim().is_empty(), "a rejection without words");
                    }
                }
                check_state(&h)?;
            }
        }
    }
    Ok(h)
}

fn fail(e: serde_json::Error) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

fn plans() -> Vec<Plan> {
    PLANS.iter().map(|t| plan_from(t)).collect()
}

proptest! {
    // Failures are kept as named tests in tests/engine.rs, not in a persistence file.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(256)
    })]

    #[test]
    fn random_sequences_keep_the_invariants(scenario in scenario()) {
        thread_local! {
            static PLANS_CACHE: Vec<Plan> = plans();
        }
        PLANS_CACHE.with(|plans| play(&scenario, plans).map(|_| ()))?;
    }

    #[test]
    fn records_and_states_survive_json(scenario in scenario()) {
        thread_local! {
            static PLANS_CACHE: Vec<Plan> = plans();
        }
        let h = PLANS_CACHE.with(|plans| play(&scenario, plans))?;
        for record in &h.records {
            let json = serde_json::to_string(record).map_err(fail)?;
            let back: EventRecord = serde_json::from_str(&json)
                .map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
            prop_assert_eq!(&back, record, "{}", json);
        }
        // Every intermediate state, as the store would snapshot it.
        let mut state = State::new(&h.plan);
        for record in &h.records {
            flightdeck::release::apply(&mut state, record);
            let json = serde_json::to_string(&state).map_err(fail)?;
            let back: State = serde_json::from_str(&json)
                .map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
            prop_assert!(back == state, "the state changed through JSON: {}", json);
        }
    }
}

/// The seq of the event that ended the release (`u64::MAX` while it runs).
fn end_seq(h: &Harness) -> u64 {
    h.records
        .iter()
        .find(|r| {
            matches!(r.event, Event::Completed | Event::RollbackFinished | Event::Aborted { .. })
        })
        .map_or(u64::MAX, |r| r.seq)
}

/// The generator is only as good as the states it reaches: a fixed sample of scenarios must
/// complete releases, roll them back, abort them, and halt a rollback on a failure.
#[test]
fn generated_sequences_reach_every_ending() {
    let plans = plans();
    let mut runner = TestRunner::deterministic();
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    for _ in 0..256 {
        let scenario = scenario().new_tree(&mut runner).expect("a scenario").current();
        let h = play(&scenario, &plans).expect("invariants hold");
        *seen.entry(h.state.status.as_str()).or_default() += 1;
        let any = |f: &dyn Fn(&Event) -> bool| h.records.iter().any(|r| f(&r.event));
        let has = |kind: &str| any(&|e| e.kind() == kind);
        let rollback_failed = |e: &Event| {
            let Event::ActionFailed { step, .. } = e else { return false };
            step.starts_with("rollback-")
        };
        let went_on = h.records.windows(2).any(|w| {
            let next_started = matches!(w[1].event, Event::ActionStarted { .. });
            rollback_failed(&w[0].event) && next_started
        });
        let late = h.records.iter().any(|r| r.seq > end_seq(&h) && r.event.kind() != "note_added");
        for (label, hit) in [
            ("gate passed", any(&|e| matches!(e, Event::StepCompleted { step } if step == "go"))),
            ("weight 100", h.state.weight_history.iter().any(|w| w.weight == 100)),
            ("rollback step failed", any(&rollback_failed)),
            ("rollback went on past a failure", went_on),
            (
                "rollback step retried",
                any(&|e| {
                    matches!(e, Event::ActionStarted { attempt: 2.., phase: Phase::Rollback, .. })
                }),
            ),
            ("retried", any(&|e| matches!(e, Event::ActionStarted { attempt: 2.., .. }))),
            ("declined", has("gate_declined")),
            ("breach", has("threshold_breached")),
            ("baseline", has("baseline_captured")),
            ("interrupted", has("action_interrupted")),
            ("skipped", has("step_skipped")),
            ("claimed", has("step_claimed")),
            (
                "taken over",
                any(&|e| matches!(e, Event::StepClaimed { took_over_from: Some(_), .. })),
            ),
            ("claim released", has("claim_released")),
            ("bake overridden", has("bake_overridden")),
            ("late outcome", late),
            (
                "rolled back after completion",
                h.records
                    .iter()
                    .skip_while(|r| !matches!(r.event, Event::Completed))
                    .any(|r| matches!(r.event, Event::RollbackStarted { .. })),
            ),
            (
                "breach after release",
                any(
                    &|e| matches!(e, Event::ThresholdBreached { step, .. } if step == flightdeck::plan::AFTER_RELEASE_STEP),
                ),
            ),
            ("watch closed", has("watch_closed")),
        ] {
            if hit {
                *seen.entry(label).or_default() += 1;
            }
        }
    }
    for wanted in [
        "rolled back after completion",
        "breach after release",
        "watch closed",
        "completed",
        "rolled_back",
        "aborted",
        "rolling_back",
        "paused",
        "running",
        "gate passed",
        "weight 100",
        "rollback step failed",
        "rollback went on past a failure",
        "rollback step retried",
        "retried",
        "declined",
        "breach",
        "baseline",
        "interrupted",
        "skipped",
        "claimed",
        "taken over",
        "claim released",
        "bake overridden",
    ] {
        assert!(
            seen.get(wanted).copied().unwrap_or(0) > 0,
            "no scenario reached {wanted}: {seen:#?}"
        );
    }
    println!("{seen:#?}");
}
