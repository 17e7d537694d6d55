//! Decisions flightdeck takes by itself, as pure functions of the state: finishing a bake
//! whose time is up, and noticing that the process running an action is gone. They return
//! commands that go through the same `decide` as a person's keys.

use crate::plan::{Plan, StepKind};
use crate::release::{Actor, Command, State, Status, StepStatus, Timestamp};

/// A command automation wants to issue, and the seq it decided on.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// The command.
    pub command: Command,
    /// The state it was decided on.
    pub expect_seq: Option<u64>,
}

/// What automation should do now, if anything. `alive` tells whether a pid on this host runs.
pub fn due(
    plan: &Plan,
    state: &State,
    now: Timestamp,
    me: &Actor,
    alive: impl Fn(u32) -> bool,
) -> Option<Due> {
    for (step, run) in state.runs_in_flight() {
        let by = &run.started.by;
        if by.host == me.host && by.pid != me.pid && !alive(by.pid) {
            return Some(Due {
                command: Command::MarkInterrupted {
                    step: step.to_owned(),
                    attempt: run.attempt,
                    reason: format!(
                        "process {} on {} is gone (killed, crashed or its session dropped) before recording an outcome",
                        by.pid, by.host
                    ),
                },
                expect_seq: None,
            });
        }
    }
    if state.status != Status::Running {
        return None;
    }
    let current = plan.flat_steps().get(state.cursor).copied()?;
    let s = state.steps.get(state.cursor)?;
    if let StepKind::Bake { duration, .. } = &current.step.kind {
        let started = s.started_at?;
        let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        if s.status == StepStatus::Running && now.millis_since(started) >= duration_ms {
            return Some(Due {
                command: Command::Next { confirmed: false },
                expect_seq: Some(state.seq),
            });
        }
    }
    None
}
