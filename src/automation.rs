//! Decisions flightdeck takes by itself, as pure functions of the state and the probe
//! board: noticing that the process running an action is gone, following a failed action
//! step's `on_failure`, capturing baselines before the first traffic shift or deploy, acting
//! on a watched series that breaches during a bake or while a completed release is watched,
//! finishing (or pausing) a bake whose time is up, and closing the watch after release when
//! its window has passed. They return commands that go through the same `decide` as a
//! person's keys, pinned to the seq they were decided on, so several cockpits deciding the
//! same thing record it once.

use crate::analysis;
use crate::plan::{BaselineMode, OnActionFailure, Plan, StepKind, StepRef};
use crate::probe::{HealthState, ProbeBoard};
use crate::release::{
    Actor, Breach, Command, Event, HEALTH_LAST, Level, RunOutcome, State, Status, StepState,
    StepStatus, Timestamp, WatchState, health_threshold,
};

/// A command automation wants to issue, and the seq it decided on.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// The command.
    pub command: Command,
    /// The state it was decided on.
    pub expect_seq: Option<u64>,
}

/// Runs in flight that were started on this host by a process that is gone: each becomes
/// `MarkInterrupted`, so a person decides; nothing is re-run.
pub fn orphans(state: &State, me: &Actor, alive: impl Fn(u32) -> bool) -> Vec<Command> {
    state
        .runs_in_flight()
        .into_iter()
        .filter(|(_, run)| {
            let by = &run.started.by;
            by.host == me.host && by.pid != me.pid && !alive(by.pid)
        })
        .map(|(step, run)| Command::MarkInterrupted {
            step: step.to_owned(),
            attempt: run.attempt,
            reason: format!(
                "process {} on {} is gone (killed, crashed or its session dropped) before recording an outcome",
                run.started.by.pid, run.started.by.host
            ),
        })
        .collect()
}

/// What automation should do now, if anything. `alive` tells whether a pid on this host
/// runs; `board` holds the latest probe readings (an empty board watches nothing, and a
/// bake watching probes then ends inconclusive).
///
/// In order: interrupted actions; what a failed action step's `on_failure` says (pause or
/// roll back, see [`failed_action_due`]); a baseline for each metric with data while the first
/// traffic or deploy step has not changed production yet; during a running bake, an
/// abort-level breach (recorded, then the bake's `on_breach`), then — once its time is up — a pause when a
/// watched series is inconclusive (unless a person resumed after the time was up: resuming
/// accepts the bake) or else the step's completion; and a warn-level breach, once per
/// series and bake, while the bake runs. A completed release is judged by `[watch]` (see
/// `watch_due`).
pub fn due(
    plan: &Plan,
    state: &State,
    now: Timestamp,
    me: &Actor,
    alive: impl Fn(u32) -> bool,
    board: &ProbeBoard,
) -> Option<Due> {
    if let Some(command) = orphans(state, me, alive).into_iter().next() {
        return Some(Due { command, expect_seq: None });
    }
    let pinned = |command| Some(Due { command, expect_seq: Some(state.seq) });
    if state.status == Status::Completed {
        return watch_due(plan, state, now, board).and_then(pinned);
    }
    if state.status != Status::Running {
        return None;
    }
    if let Some(command) = failed_action_due(plan, state) {
        return pinned(command);
    }
    let current = plan.flat_steps().get(state.cursor).copied()?;
    let s = state.steps.get(state.cursor)?;
    if let Some(command) = baseline_due(plan, state, current, s, now, board) {
        return pinned(command);
    }
    if let Some(command) = gate_timeout_due(current, s, now) {
        return pinned(command);
    }
    let StepKind::Bake { duration, probes, .. } = &current.step.kind else { return None };
    if s.status != StepStatus::Running {
        return None;
    }
    let started = s.started_at?;
    let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let time_up_at = started.plus_millis(duration_ms);
    let watched: Vec<Watched> =
        probes.iter().map(|id| watch(plan, board, id, now, started)).collect();
    let step = current.step.id.clone();
    if let Some(breach) =
        watched.iter().filter_map(|w| w.held.clone()).find(|b| b.level == Level::Abort)
    {
        return pinned(Command::RecordBreach { step, breach });
    }
    if now >= time_up_at {
        let unsure: Vec<String> = watched
            .iter()
            .filter_map(|w| w.inconclusive.as_ref().map(|why| format!("{} ({why})", w.id)))
            .collect();
        if !unsure.is_empty() && !resumed_by_person_since(state, time_up_at) {
            let (list, verb) = (unsure.join(", "), if unsure.len() == 1 { "is" } else { "are" });
            return pinned(Command::Pause {
                reason: format!(
                    "bake `{step}` is over but {list} {verb} inconclusive; resume to accept the bake, or roll back"
                ),
            });
        }
        if let StepKind::Bake { checkpoints, .. } = &current.step.kind {
            if let Some(missed) = crate::release::unconfirmed_checkpoints(checkpoints, s).first() {
                // A missed review is never passed silently: hold the release for a person.
                if resumed_by_person_since(state, time_up_at) {
                    return None;
                }
                return pinned(Command::Pause {
                    reason: format!(
                        "bake `{step}` is over but its review at T+{} was never confirmed; confirm it (c), then resume",
                        crate::plan::format_duration(*missed)
                    ),
                });
            }
        }
        // A person resumed after the time was up: the readings did not pass the bake (or
        // were inconclusive); passing it now is theirs to do, with an override on record.
        if resumed_by_person_since(state, time_up_at) {
            return None;
        }
        // The store judges the bake's stored readings (the same rule as `flightdeck next`):
        // passing evidence completes the bake, anything else pauses it for a person.
        return pinned(Command::PassBake {
            evidence: None,
            override_reason: None,
            confirmed: false,
        });
    }
    let recorded = |b: &Breach| {
        state
            .breaches
            .iter()
            .any(|(st, r, _)| *st == step && r.series == b.series && r.level == Level::Warn)
    };
    let warn = watched
        .iter()
        .filter_map(|w| w.held.clone())
        .find(|b| b.level == Level::Warn && !recorded(b))?;
    pinned(Command::RecordBreach { step, breach: warn })
}

/// What the plan says to do about the current action step's failure, if it says anything
/// but "ask": `on_failure = "rollback"` starts the rollback, `"pause"` pauses the release
/// (once: not again after someone resumed it). The reason is the failure itself. Nothing
/// once the failed run is resolved, retried or the release is no longer running; an
/// interrupted run always waits for a person (nobody knows whether it ran).
pub fn failed_action_due(plan: &Plan, state: &State) -> Option<Command> {
    if state.status != Status::Running {
        return None;
    }
    let current = plan.flat_steps().get(state.cursor).copied()?;
    let (action, on_failure) = current.step.kind.own_action()?;
    let s = state.steps.get(state.cursor)?;
    let run = s.last_run().filter(|r| s.status == StepStatus::Failed && r.resolution.is_none())?;
    let Some(RunOutcome::Failed { at, error, .. }) = &run.outcome else { return None };
    let reason = format!(
        "action `{action}` of step `{}` failed (attempt {}): {error}; the plan says on_failure = \"{}\"",
        current.step.id,
        run.attempt,
        on_failure.word()
    );
    match on_failure {
        OnActionFailure::Ask => None,
        OnActionFailure::Pause if state.resumed_at.is_some_and(|r| r >= *at) => None,
        OnActionFailure::Pause => Some(Command::Pause { reason }),
        OnActionFailure::Rollback => {
            Some(Command::Rollback { reason, confirmed: true, automatic: true })
        }
    }
}

/// Failed reads in a row after which a series cannot pass a bake.
pub const SOURCE_ERRORS_LIMIT: u32 = 3;

/// What a bake sees of one watched probe.
struct Watched {
    id: String,
    /// A level held for its `for` duration.
    held: Option<Breach>,
    /// Why it cannot pass the bake yet.
    inconclusive: Option<String>,
}

fn watch(plan: &Plan, board: &ProbeBoard, id: &str, now: Timestamp, started: Timestamp) -> Watched {
    let mut w = Watched { id: id.to_owned(), held: None, inconclusive: None };
    if let (Some(spec), Some(row)) = (plan.metrics.iter().find(|m| m.id == id), board.metric(id)) {
        let verdict = row.assess(now);
        w.held = verdict.breach(id);
        let rules = analysis::Rules::of(spec, false);
        let samples: Vec<(Timestamp, f64)> = row.samples.iter().copied().collect();
        let observed = analysis::Observed { samples: &samples, no_data_since: row.no_data_since };
        if row.errors_in_row >= SOURCE_ERRORS_LIMIT {
            // A probe error is not a metric failure, but nor is it evidence: a bake cannot
            // pass on a source that stopped answering, whatever the no-data policy.
            let why = row.error.clone().unwrap_or_default();
            w.inconclusive = Some(format!("{} failed reads in a row: {why}", row.errors_in_row));
        } else if !verdict.conclusive {
            w.inconclusive = Some(
                verdict.explanation.note.clone().unwrap_or_else(|| verdict.status.word().into()),
            );
        } else if let Err(why) = analysis::enough_for_bake(&rules, &observed, started) {
            w.inconclusive = Some(why);
        }
        return w;
    }
    if let (Some(spec), Some(row)) = (plan.health.iter().find(|h| h.id == id), board.health_row(id))
    {
        let failing_ms = row.failing_since.map_or(0, |t| now.millis_since(t));
        let breach = |level, threshold: String| Breach {
            series: id.to_owned(),
            level,
            value: f64::from(row.failures_in_row),
            threshold,
            limit: Some(f64::from(spec.down_after)),
            baseline: None,
            samples: row.failures_in_row,
            window_ms: failing_ms,
        };
        match row.state {
            // The threshold is the plan's own rule, `down after N` (Breach::explain words it:
            // "green: 2 failed health checks in a row (down after 3)"), plus the last error.
            HealthState::Down => {
                let why = row.last.as_ref().and_then(|r| r.error.clone());
                let threshold = match why {
                    Some(why) if !why.is_empty() => {
                        format!("{}{} {why}", health_threshold(spec.down_after), HEALTH_LAST)
                    }
                    _ => health_threshold(spec.down_after),
                };
                w.held = Some(breach(Level::Abort, threshold));
            }
            HealthState::Flapping => {
                w.held = Some(breach(Level::Warn, health_threshold(spec.down_after)));
            }
            HealthState::Up | HealthState::NotPolled => {}
        }
        if row.last.as_ref().is_none_or(|r| r.at < started) {
            w.inconclusive = Some("not checked during the bake".into());
        }
        return w;
    }
    w.inconclusive = Some("no readings in this process".into());
    w
}

/// Whether the last event is a person resuming the release at or after `since`.
fn resumed_by_person_since(state: &State, since: Timestamp) -> bool {
    state.last.as_ref().is_some_and(|l| {
        !l.actor.automatic && l.at >= since && l.sentence == Event::Resumed.sentence()
    })
}

/// While a completed release is watched (`[watch] after_release`): the first abort-level
/// breach of a watched series not recorded yet (`RecordBreach` under the after-release
/// step, which then rolls back or pauses), else the first warning not recorded yet; once the
/// window has passed, closing the watch.
fn watch_due(plan: &Plan, state: &State, now: Timestamp, board: &ProbeBoard) -> Option<Command> {
    let watch = plan.watch.as_ref()?;
    let completed = state.completed_at?;
    match crate::release::watch_state(plan, state, now) {
        WatchState::Ended { .. } if state.watch_closed.is_none() => Some(Command::CloseWatch),
        WatchState::Watching { .. } => {
            let step = crate::plan::AFTER_RELEASE_STEP;
            let held: Vec<Breach> = watch
                .probes
                .iter()
                .filter_map(|id| after_release_breach(plan, state, board, id, now, completed))
                .filter(|b| {
                    !state
                        .breaches
                        .iter()
                        .any(|(st, r, _)| st == step && r.series == b.series && r.level == b.level)
                })
                .collect();
            let breach = held
                .iter()
                .find(|b| b.level == Level::Abort)
                .or_else(|| held.iter().find(|b| b.level == Level::Warn))?;
            Some(Command::RecordBreach { step: step.to_owned(), breach: breach.clone() })
        }
        _ => None,
    }
}

/// A watched series' breach after completion, judged by its `after_release_*` levels (the
/// board's rows may not know yet that the release completed), or a health probe that is
/// down (abort) or flapping (warn).
fn after_release_breach(
    plan: &Plan,
    state: &State,
    board: &ProbeBoard,
    id: &str,
    now: Timestamp,
    completed: Timestamp,
) -> Option<Breach> {
    if let (Some(spec), Some(row)) = (plan.metrics.iter().find(|m| m.id == id), board.metric(id)) {
        let rules = analysis::Rules::of(spec, true);
        let samples: Vec<(Timestamp, f64)> = row.samples.iter().copied().collect();
        let observed = analysis::Observed { samples: &samples, no_data_since: row.no_data_since };
        let baseline = row.baseline.or_else(|| state.baselines.get(id).copied());
        return analysis::evaluate(&rules, &observed, baseline, now).breach(id);
    }
    watch(plan, board, id, now, completed).held
}

/// A baseline to capture: while the first step that changes production (a traffic shift or
/// a deploy) is current and waiting (its action has not started) and production has not
/// changed (no traffic moved, no deploy ran), for each `before`-mode
/// metric with no baseline yet whose stable side's readings cover its `baseline_window`:
/// a `by_label` metric's previous-version series (never the new version's, which may hold
/// leftovers of an earlier release), the metric named by `baseline_from`, or — for a metric
/// with neither, which has no relative threshold — the metric itself before traffic moved.
fn baseline_due(
    plan: &Plan,
    state: &State,
    current: StepRef<'_>,
    s: &StepState,
    now: Timestamp,
    board: &ProbeBoard,
) -> Option<Command> {
    if !current.step.kind.changes_production()
        || s.status != StepStatus::Waiting
        || crate::release::production_changed(plan, state)
    {
        return None;
    }
    let old = state.info.as_ref().and_then(|i| i.previous_version.clone());
    plan.metrics
        .iter()
        .filter(|m| m.baseline_mode == BaselineMode::Before && !state.baselines.contains_key(&m.id))
        .find_map(|m| {
            let window_ms = u64::try_from(m.baseline_window.as_millis()).unwrap_or(u64::MAX);
            let (samples, from_series, interval) = stable_side(plan, board, m)?;
            let captured =
                analysis::evidence::covered_baseline(&samples, now, window_ms, interval).ok()?;
            Some(Command::CaptureBaseline {
                series: m.id.clone(),
                value: captured.value,
                samples: captured.samples,
                window_ms: captured.window_ms,
                from_series: Some(from_series),
                from_version: old.clone(),
            })
        })
}

/// The readings a baseline is taken from: the samples, the series they are, how often read.
type StableSide = (Vec<(Timestamp, f64)>, String, std::time::Duration);

/// The readings a metric's baseline is taken from, the series they are, and how often they
/// are read.
fn stable_side(
    plan: &Plan,
    board: &ProbeBoard,
    m: &crate::plan::MetricProbe,
) -> Option<StableSide> {
    if let Some(label) = m.by_label() {
        let row = board.metric(&m.id)?;
        let version = row.stable_version.clone().unwrap_or_else(|| "previous".into());
        let name = format!("{}{{{label}={version}}}", m.id);
        return Some((row.stable.iter().copied().collect(), name, m.interval));
    }
    let source = m.baseline_from.as_deref().unwrap_or(&m.id);
    let spec = plan.metrics.iter().find(|x| x.id == source)?;
    let row = board.metric(source)?;
    Some((row.samples.iter().copied().collect(), source.to_owned(), spec.interval))
}

/// The current gate's `timeout` has passed with no decision: flightdeck does what its
/// `on_timeout` says, once.
fn gate_timeout_due(current: StepRef<'_>, s: &StepState, now: Timestamp) -> Option<Command> {
    let StepKind::Gate { deadline: Some(d), .. } = &current.step.kind else { return None };
    if s.timed_out.is_some() || s.finished_at.is_some() {
        return None;
    }
    let since = s.current_since?;
    let timeout_ms = u64::try_from(d.timeout.as_millis()).unwrap_or(u64::MAX);
    (now.millis_since(since) >= timeout_ms)
        .then(|| Command::TimeOutGate { step: current.step.id.clone() })
}
