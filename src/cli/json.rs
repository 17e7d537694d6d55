//! The `--json` output of `status`, `list` and `events`. Stable: fields are only ever added;
//! the README documents every one. `schema` says which version of this shape it is.

use serde_json::{Value, json};

use crate::plan::{Plan, StepKind};
use crate::release::{
    self, Deployment, Event, EventRecord, RunOutcome, State, Timestamp, WatchState,
    format_date_time,
};
use crate::store::ReleaseRow;

/// Version of the JSON shapes below.
pub const JSON_SCHEMA: u32 = 1;

fn time(at: Timestamp) -> Value {
    json!({ "ms": at.0, "utc": format_date_time(at) })
}

/// `flightdeck list --json`
pub fn releases(rows: &[ReleaseRow]) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "service": r.service,
                "environment": r.environment,
                "version": r.version,
                "release_type": r.release_type,
                "status": r.status,
                "seq": r.last_seq,
                "created_at": time(r.created_at),
                "updated_at": time(r.updated_at),
            })
        })
        .collect();
    json!({ "schema": JSON_SCHEMA, "releases": rows })
}

/// `flightdeck status --json`; `now` says whether a step's claim still holds.
pub fn status(plan: &Plan, state: &State, row: &ReleaseRow, now: Timestamp) -> Value {
    let info = state.info.as_ref();
    let release_type = info.map_or(crate::plan::ReleaseType::Regular, |i| i.release_type);
    let steps: Vec<Value> = plan
        .flat_steps()
        .iter()
        .zip(&state.steps)
        .map(|(r, s)| {
            let mut v = json!({
                "id": r.step.id,
                "name": r.step.name,
                "stage": r.stage.id,
                "environment": r.stage.environment,
                "kind": r.step.kind.word(),
                "status": s.status.as_str(),
                "current": r.index == state.cursor && !state.status.is_terminal(),
                "started_at": s.started_at.map(time),
                "finished_at": s.finished_at.map(time),
            });
            match &r.step.kind {
                StepKind::Checklist { items } => {
                    v["items"] = items
                        .iter()
                        .map(|i| {
                            let tick = s.ticks.get(&i.id);
                            json!({
                                "id": i.id,
                                "text": i.text,
                                "ticked": tick.is_some(),
                                "by": tick.map(|t| t.by.name.clone()),
                                "at": tick.map(|t| time(t.at)),
                            })
                        })
                        .collect();
                }
                StepKind::Gate { inputs, deadline, .. } => {
                    if !inputs.is_empty() {
                        v["inputs"] = inputs
                            .iter()
                            .map(|i| {
                                let given = s.inputs.get(&i.id);
                                json!({
                                    "id": i.id,
                                    "prompt": i.prompt,
                                    "pattern": i.pattern,
                                    "value": given.map(|(value, _)| value),
                                    "by": given.map(|(_, m)| m.by.name.clone()),
                                    "at": given.map(|(_, m)| time(m.at)),
                                })
                            })
                            .collect();
                    }
                    if let Some(d) = deadline {
                        v["timeout_ms"] = json!(u64::try_from(d.timeout.as_millis()).unwrap_or(u64::MAX));
                        v["on_timeout"] = json!(d.on_timeout.as_str());
                        v["timed_out_at"] = json!(s.timed_out.map(time));
                    }
                    v["approvals_needed"] = json!(plan.approvals_needed(r.step, release_type));
                    v["approvals"] = s
                        .approvals
                        .iter()
                        .map(|(name, m)| json!({ "by": name, "at": time(m.at) }))
                        .collect();
                    v["declines"] = s
                        .declines
                        .iter()
                        .map(|(name, d)| json!({ "by": name, "at": time(d.mark.at), "reason": d.reason }))
                        .collect();
                }
                StepKind::Traffic { weight } => v["weight"] = json!(weight),
                StepKind::Action { action, .. } => v["action"] = json!(action),
                StepKind::Deploy { action, target, .. } => {
                    v["action"] = json!(action);
                    v["target"] = json!(target);
                }
                StepKind::Bake { duration, .. } => {
                    v["duration_ms"] = json!(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
                }
            }
            if !s.runs.is_empty() {
                v["runs"] = s.runs.iter().map(run_json).collect();
            }
            if let Some(reason) = &s.skip_reason {
                v["skip_reason"] = json!(reason);
            }
            if let Some(c) = &s.claim {
                v["claim"] = json!({
                    "by": c.by.name,
                    "at": time(c.at),
                    "until": time(c.until),
                    "live": c.is_live(now),
                    "reason": c.reason,
                });
            }
            v
        })
        .collect();
    let rollback = state.rollback.as_ref().map(|rb| {
        json!({
            "reason": rb.reason,
            "automatic": rb.automatic,
            "by": rb.started.by.name,
            "started_at": time(rb.started.at),
            "finished_at": rb.finished_at.map(time),
            "steps": rb.steps.iter().map(|s| json!({
                "id": s.id,
                "status": s.status.as_str(),
                "runs": s.runs.iter().map(run_json).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    });
    json!({
        "schema": JSON_SCHEMA,
        "release": {
            "id": row.id,
            "service": info.map(|i| i.service.clone()),
            "environment": info.map(|i| i.environment.clone()),
            "version": info.map(|i| i.version.clone()),
            "previous_version": info.and_then(|i| i.previous_version.clone()),
            "sha": info.and_then(|i| i.sha.clone()),
            "image": info.and_then(|i| i.image.clone()),
            "release_type": release_type.as_str(),
            "status": state.status.as_str(),
            "seq": state.seq,
            "weight": state.weight,
            "strategy": plan.strategy().word(),
            "deployment": deployment(plan, state),
            "completed_at": state.completed_at.map(time),
            "watch": watch(plan, state, now),
            "drift": state.drift.as_ref().map(|d| json!({
                "desired": d.desired, "actual": d.actual, "source": d.source, "at": time(d.at),
            })),
            "started_at": info.map(|i| time(i.started_at)),
            "started_by": info.map(|i| i.started_by.to_string()),
            "ended_at": state.ended_at.map(time),
            "current_step": state.current().filter(|_| !state.status.is_terminal()).map(|s| s.id.clone()),
            "paused": state.pause.as_ref().map(|p| json!({ "by": p.mark.by.name, "reason": p.reason })),
            "abort_reason": state.abort_reason,
        },
        "steps": steps,
        "rollback": rollback,
        "weight_history": state.weight_history.iter().map(|w| json!({
            "at": time(w.at), "weight": w.weight, "by": w.by.name,
        })).collect::<Vec<_>>(),
    })
}

/// Where production stands, in the plan's strategy: `line` is the sentence the header and
/// `status` show; `fraction` the share on the new version (0 to 1) for every strategy.
fn deployment(plan: &Plan, state: &State) -> Value {
    let d = release::deployment(plan, state);
    let mut v = match &d {
        Deployment::Traffic { weight } => json!({ "kind": "traffic", "weight": weight }),
        Deployment::Rolling {
            version, unit, counts, running, finished_at, rolled_back, ..
        } => {
            json!({
                "kind": "rolling",
                "version": version,
                "unit": unit,
                "updated": counts.map(|(n, _)| n),
                "desired": counts.map(|(_, m)| m),
                "running": running,
                "finished_at": finished_at.map(time),
                "rolled_back": rolled_back,
                "progress_at": state.rollout.as_ref().map(|r| time(r.at)),
            })
        }
        Deployment::Swap { version, swapping_since, swapped_at, rolled_back } => json!({
            "kind": "swap",
            "version": version,
            "swapping_since": swapping_since.map(time),
            "swapped_at": swapped_at.map(time),
            "rolled_back": rolled_back,
        }),
    };
    v["fraction"] = json!(d.fraction());
    v["line"] = json!(d.line());
    v
}

/// The watch after completion: `{"left_s", "ends_at"}` while watched, `{"ended_at",
/// "closed"}` once over, null when the plan has none or the release did not complete.
fn watch(plan: &Plan, state: &State, now: Timestamp) -> Value {
    match release::watch_state(plan, state, now) {
        WatchState::None => Value::Null,
        WatchState::Watching { left } => {
            let left_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
            json!({ "left_s": left.as_secs(), "ends_at": time(now.plus_millis(left_ms)) })
        }
        WatchState::Ended { at } => {
            json!({ "ended_at": time(at), "closed": state.watch_closed.is_some() })
        }
    }
}

fn run_json(run: &crate::release::ActionRun) -> Value {
    let outcome = match &run.outcome {
        None => json!({ "state": "running" }),
        Some(RunOutcome::Succeeded { at, exit_code, duration_ms }) => {
            json!({ "state": "succeeded", "at": time(*at), "exit_code": exit_code, "duration_ms": duration_ms })
        }
        Some(RunOutcome::Failed { at, error, exit_code }) => {
            json!({ "state": "failed", "at": time(*at), "error": error, "exit_code": exit_code })
        }
        Some(RunOutcome::Interrupted { at, reason }) => {
            json!({ "state": "interrupted", "at": time(*at), "reason": reason })
        }
    };
    json!({
        "attempt": run.attempt,
        "action": run.action,
        "started_by": run.started.by.to_string(),
        "started_at": time(run.started.at),
        "outcome": outcome,
        "resolution": run.resolution.as_ref().map(|(m, ok, reason)| json!({
            "by": m.by.name, "at": time(m.at), "succeeded": ok, "reason": reason,
        })),
    })
}

/// `--json` of an acting verb: what it recorded (events and the seq they end at) and how
/// each action it ran ended.
pub fn acted(
    release_id: i64,
    verb: &str,
    seq: u64,
    recorded: &[EventRecord],
    ran: &[EventRecord],
) -> Value {
    let actions: Vec<Value> = ran
        .iter()
        .filter_map(|r| match &r.event {
            Event::ActionFinished { step, attempt, exit_code, duration_ms, .. } => Some(json!({
                "step": step, "attempt": attempt, "outcome": "succeeded",
                "exit_code": exit_code, "duration_ms": duration_ms,
            })),
            Event::ActionFailed { step, attempt, error, exit_code, duration_ms, .. } => {
                Some(json!({
                    "step": step, "attempt": attempt, "outcome": "failed", "error": error,
                    "exit_code": exit_code, "duration_ms": duration_ms,
                }))
            }
            Event::ActionInterrupted { step, attempt, reason } => Some(json!({
                "step": step, "attempt": attempt, "outcome": "interrupted", "error": reason,
            })),
            _ => None,
        })
        .collect();
    json!({
        "schema": JSON_SCHEMA,
        "release": release_id,
        "verb": verb,
        "seq": seq,
        "events": recorded.iter().map(event).collect::<Vec<_>>(),
        "actions": actions,
    })
}

/// One line of `flightdeck events --json` (JSON lines).
pub fn event(record: &EventRecord) -> Value {
    json!({
        "seq": record.seq,
        "at": time(record.at),
        "actor": record.actor,
        "event": record.event,
        "sentence": record.event.sentence(),
    })
}
