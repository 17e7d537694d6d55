//! Folding one event into the state. Never rejects: an event is a fact that already
//! happened; `decide` is where rules live.

use std::collections::BTreeMap;

use super::event::{Event, EventRecord};
use super::state::{
    ActionRun, Decline, LastChange, Mark, ReleaseInfo, RollbackState, RunOutcome, State, Status,
    StepClaim, StepState, StepStatus, WeightChange,
};

/// Folds `record` into `state`.
pub fn apply(state: &mut State, record: &EventRecord) {
    let at = record.at;
    let mark = || Mark { by: record.actor.clone(), at };
    state.seq = record.seq;
    state.last = Some(LastChange {
        seq: record.seq,
        at,
        actor: record.actor.clone(),
        sentence: record.event.sentence(),
    });
    match &record.event {
        Event::ReleaseStarted {
            service,
            environment,
            version,
            previous_version,
            sha,
            image,
            release_type,
            ..
        } => {
            state.info = Some(ReleaseInfo {
                service: service.clone(),
                environment: environment.clone(),
                version: version.clone(),
                previous_version: previous_version.clone(),
                sha: sha.clone(),
                image: image.clone(),
                release_type: *release_type,
                started_at: at,
                started_by: record.actor.clone(),
            });
            state.status = Status::Running;
            advance_cursor(state, at);
        }
        Event::ItemTicked { step, item } => {
            if let Some(s) = state.step_mut(step) {
                s.ticks.insert(item.clone(), mark());
            }
        }
        Event::ItemUnticked { step, item } => {
            if let Some(s) = state.step_mut(step) {
                s.ticks.remove(item);
            }
        }
        Event::ApprovalGiven { step, .. } => {
            if let Some(s) = state.step_mut(step) {
                s.approvals.insert(record.actor.name.clone(), mark());
            }
        }
        Event::ApprovalRevoked { step } => {
            if let Some(s) = state.step_mut(step) {
                s.approvals.remove(&record.actor.name);
            }
        }
        Event::GateDeclined { step, reason } => {
            if let Some(s) = state.step_mut(step) {
                s.declines.insert(
                    record.actor.name.clone(),
                    Decline { mark: mark(), reason: reason.clone() },
                );
            }
        }
        Event::DeclineWithdrawn { step } => {
            if let Some(s) = state.step_mut(step) {
                s.declines.remove(&record.actor.name);
            }
        }
        Event::StepCompleted { step } => {
            if let Some(s) = state.step_mut(step) {
                s.status = StepStatus::Done;
                s.finished_at = Some(at);
                s.finished_by = Some(record.actor.clone());
                s.claim = None;
            }
            advance_cursor(state, at);
        }
        Event::StepSkipped { step, reason } => {
            if let Some(s) = state.step_mut(step) {
                s.status = StepStatus::Skipped;
                s.finished_at = Some(at);
                s.finished_by = Some(record.actor.clone());
                s.skip_reason = Some(reason.clone());
                s.claim = None;
            }
            // A skipped rollback step (its `if_done` unmet) moves no rollout step.
            if state.steps.iter().any(|s| s.id == *step) {
                advance_cursor(state, at);
            }
        }
        Event::BakeStarted { step } => {
            if let Some(s) = state.step_mut(step) {
                s.status = StepStatus::Running;
                s.started_at = Some(at);
            }
        }
        Event::ActionStarted { step, attempt, action, .. } => {
            if let Some(s) = state.step_mut(step) {
                s.status = StepStatus::Running;
                s.started_at.get_or_insert(at);
                s.current_since.get_or_insert(at);
                s.runs.push(ActionRun {
                    attempt: *attempt,
                    action: action.clone(),
                    started: mark(),
                    outcome: None,
                    resolution: None,
                    output_tail: None,
                    outputs: BTreeMap::new(),
                });
            }
        }
        Event::ActionFinished { step, attempt, exit_code, duration_ms, output_tail, outputs } => {
            if let Some(s) = state.step_mut(step) {
                if let Some(run) = s.runs.iter_mut().find(|r| r.attempt == *attempt) {
                    run.output_tail.clone_from(output_tail);
                    run.outputs.clone_from(outputs);
                    run.outcome = Some(RunOutcome::Succeeded {
                        at,
                        exit_code: *exit_code,
                        duration_ms: *duration_ms,
                    });
                }
                if s.status == StepStatus::Running {
                    s.status = StepStatus::Done;
                    s.finished_at = Some(at);
                    s.finished_by = Some(record.actor.clone());
                    // Its work is done (while paused, its completion waits for `resume`): a
                    // claim on it has nothing left to guard.
                    s.claim = None;
                }
            }
        }
        Event::ActionFailed { step, attempt, error, exit_code, output_tail, .. } => {
            if let Some(s) = state.step_mut(step) {
                if let Some(run) = s.runs.iter_mut().find(|r| r.attempt == *attempt) {
                    run.output_tail.clone_from(output_tail);
                    run.outcome = Some(RunOutcome::Failed {
                        at,
                        error: error.clone(),
                        exit_code: *exit_code,
                    });
                }
                s.status = StepStatus::Failed;
            }
        }
        Event::ActionInterrupted { step, attempt, reason } => {
            if let Some(s) = state.step_mut(step) {
                if let Some(run) = s.runs.iter_mut().find(|r| r.attempt == *attempt) {
                    run.outcome = Some(RunOutcome::Interrupted { at, reason: reason.clone() });
                }
                s.status = StepStatus::Interrupted;
            }
        }
        Event::ActionResolved { step, attempt, succeeded, reason } => {
            if let Some(s) = state.step_mut(step) {
                if let Some(run) = s.runs.iter_mut().find(|r| r.attempt == *attempt) {
                    run.resolution = Some((mark(), *succeeded, reason.clone()));
                }
                if *succeeded {
                    s.status = StepStatus::Done;
                    s.finished_at = Some(at);
                    s.finished_by = Some(record.actor.clone());
                    s.claim = None;
                } else {
                    s.status = StepStatus::Failed;
                }
            }
        }
        Event::WeightSet { weight } => {
            // A new weight is a new thing to compare against: the next read-back judges it.
            state.drift = None;
            state.weight = *weight;
            state.weight_history.push(WeightChange {
                at,
                weight: *weight,
                by: record.actor.clone(),
            });
        }
        Event::Paused { reason } => {
            // Paused by a breach while watched after completion: not over until resumed.
            state.ended_at = None;
            state.status = Status::Paused;
            state.pause = Some(Decline { mark: mark(), reason: reason.clone() });
        }
        Event::Resumed => {
            state.pause = None;
            state.resumed_at = Some(at);
            // A release paused while watched after completion has no step left to run: it is
            // completed again, as of its first completion (the watch window counts from there).
            match state.completed_at {
                Some(completed) => {
                    state.status = Status::Completed;
                    state.ended_at = Some(completed);
                }
                None => state.status = Status::Running,
            }
        }
        Event::RollbackStarted { reason, automatic, steps, .. } => {
            state.status = Status::RollingBack;
            // A completed release rolled back while watched is not over until its rollback is.
            state.ended_at = None;
            state.pause = None;
            // No rollout step advances any more: a claim on one would only mislead, and a
            // bake under way stops watching (rollback has its own steps).
            release_every_claim(state);
            stop_bakes(state, at);
            state.rollback = Some(RollbackState {
                reason: reason.clone(),
                automatic: *automatic,
                started: mark(),
                plan: steps.clone(),
                steps: steps.iter().map(|s| StepState::new(&s.id)).collect(),
                finished_at: None,
            });
        }
        Event::RollbackFinished => {
            state.status = Status::RolledBack;
            state.ended_at = Some(at);
            if let Some(r) = &mut state.rollback {
                r.finished_at = Some(at);
            }
        }
        Event::Aborted { reason } => {
            release_every_claim(state);
            stop_bakes(state, at);
            state.status = Status::Aborted;
            state.ended_at = Some(at);
            state.abort_reason = Some(reason.clone());
        }
        Event::Completed => {
            release_every_claim(state);
            state.status = Status::Completed;
            state.ended_at = Some(at);
            state.completed_at.get_or_insert(at);
        }
        Event::RolloutProgress { step, fraction, updated, desired } => {
            state.rollout = Some(super::state::Rollout {
                step: step.clone(),
                fraction: *fraction,
                updated: *updated,
                desired: *desired,
                at,
            });
        }
        Event::WatchClosed { .. } => state.watch_closed = Some(at),
        Event::NoteAdded { .. } => state.notes += 1,
        Event::ThresholdBreached { step, breach } => {
            state.breaches.push((step.clone(), breach.clone(), at));
        }
        // A fact for the record and the report; it changes nothing in the release.
        Event::WindowsOverridden { .. } => {}
        Event::GateInputGiven { step, input, value } => {
            if let Some(s) = state.step_mut(step) {
                s.inputs.insert(input.clone(), (value.clone(), mark()));
            }
        }
        Event::GateTimedOut { step, timeout_ms, on_timeout } => {
            if let Some(s) = state.step_mut(step) {
                s.timed_out = Some(at);
            }
            if *on_timeout == crate::plan::OnTimeout::Pause {
                state.status = Status::Paused;
                state.pause = Some(Decline {
                    mark: mark(),
                    reason: format!(
                        "gate {step} had no decision within {}",
                        crate::plan::format_duration(std::time::Duration::from_millis(*timeout_ms))
                    ),
                });
            }
        }
        Event::CheckpointConfirmed { step, at_ms } => {
            if let Some(s) = state.step_mut(step) {
                s.checkpoints.push((*at_ms, mark()));
            }
        }
        Event::TrafficDrift { desired, actual, source } => {
            state.drift = (desired != actual).then(|| super::state::Drift {
                desired: *desired,
                actual: *actual,
                source: source.clone(),
                at,
            });
        }
        Event::BaselineCaptured { series, value, .. } => {
            state.baselines.insert(series.clone(), *value);
        }
        // The `StepCompleted` that follows ends the bake; the override itself is the record.
        Event::BakeOverridden { .. } => {}
        Event::StepClaimed { step, until, reason, .. } => {
            if let Some(s) = state.step_mut(step) {
                s.claim = Some(StepClaim {
                    by: record.actor.clone(),
                    at,
                    until: *until,
                    reason: reason.clone(),
                });
            }
        }
        Event::ClaimReleased { step } => {
            if let Some(s) = state.step_mut(step) {
                s.claim = None;
            }
        }
    }
}

/// Ends every claim: the release no longer advances step by step.
fn release_every_claim(state: &mut State) {
    for s in &mut state.steps {
        s.claim = None;
    }
}

/// Ends every rollout bake under way as stopped: a bake has no process whose outcome could
/// end it later, so without this it would show running, clock ticking, forever.
fn stop_bakes(state: &mut State, at: super::Timestamp) {
    for s in &mut state.steps {
        let is_bake =
            s.status == StepStatus::Running && s.runs.is_empty() && s.started_at.is_some();
        if is_bake {
            s.status = StepStatus::Stopped;
            s.finished_at = Some(at);
        }
    }
}

/// Moves the cursor past finished steps and marks the new current step as waiting.
fn advance_cursor(state: &mut State, at: super::Timestamp) {
    while state
        .steps
        .get(state.cursor)
        .is_some_and(|s| matches!(s.status, StepStatus::Done | StepStatus::Skipped))
    {
        state.cursor += 1;
    }
    if let Some(s) = state.steps.get_mut(state.cursor) {
        if s.status == StepStatus::Pending {
            s.status = StepStatus::Waiting;
            s.current_since = Some(at);
        }
    }
}
