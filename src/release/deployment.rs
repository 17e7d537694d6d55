//! What a release has done to production, in the words of its plan's strategy: a traffic
//! percentage, a rollout's progress (`rolling 2/3 pods on 1.4.0`) or a swap (`swapped to
//! 1.4.0 at 10:12`) — never a percentage that did not move — and how long a completed release
//! is still watched. One wording for the header, the report and `status --json`.

use std::time::Duration;

use super::state::{State, Status, StepStatus};
use super::time::{Timestamp, format_hour_minute};
use crate::plan::{Plan, StepKind, Strategy};

/// Where production stands, by strategy.
#[derive(Debug, Clone, PartialEq)]
pub enum Deployment {
    /// Traffic steps: the percent of requests on the new version.
    Traffic {
        /// Percent to the new version.
        weight: u8,
    },
    /// A rolling deploy.
    Rolling {
        /// The version rolled out.
        version: String,
        /// What is counted (`pods`).
        unit: String,
        /// The updated share, 0 to 1: as last read from the progress source, else what the
        /// finished deploy steps reached.
        fraction: f64,
        /// `updated/desired` when the source counts them.
        counts: Option<(u32, u32)>,
        /// A deploy step's action is running.
        running: bool,
        /// When the last deploy step finished (the rollout is complete).
        finished_at: Option<Timestamp>,
        /// The rollback procedure ran or runs.
        rolled_back: bool,
    },
    /// A platform swap.
    Swap {
        /// The version swapped to.
        version: String,
        /// When the deploy step's action started, while it runs.
        swapping_since: Option<Timestamp>,
        /// When the deploy step finished: the swap happened.
        swapped_at: Option<Timestamp>,
        /// The rollback procedure ran or runs.
        rolled_back: bool,
    },
}

/// Where production stands for this release.
pub fn deployment(plan: &Plan, state: &State) -> Deployment {
    let version = state.info.as_ref().map_or_else(String::new, |i| i.version.clone());
    let rolled_back = state.rollback.is_some();
    let deploys: Vec<(u8, &super::state::StepState)> = plan
        .flat_steps()
        .iter()
        .filter_map(|r| match &r.step.kind {
            StepKind::Deploy { target, .. } => Some((*target, &state.steps[r.index])),
            _ => None,
        })
        .collect();
    let running = deploys.iter().any(|(_, s)| s.status == StepStatus::Running);
    let last_done = deploys.iter().rev().find(|(_, s)| s.status == StepStatus::Done);
    let (_, finished_at) = deploy_span(plan, state);
    match plan.strategy() {
        Strategy::Traffic => Deployment::Traffic { weight: state.weight },
        Strategy::Rolling => {
            let unit = plan
                .deploy_steps()
                .iter()
                .find_map(|r| match &r.step.kind {
                    StepKind::Deploy { progress: Some(p), .. } => Some(p.unit.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "pods".into());
            let reached = last_done.map_or(0.0, |(t, _)| f64::from(*t) / 100.0);
            // A reading can lag the deploy step that finished a segment; after a rollback
            // only a reading tells (none: the procedure put the previous version back).
            let (fraction, counts) = match (&state.rollout, rolled_back) {
                (Some(r), true) => (r.fraction, r.updated.zip(r.desired)),
                (Some(r), false) => (r.fraction.max(reached), r.updated.zip(r.desired)),
                (None, true) if state.status == Status::RolledBack => (0.0, None),
                (None, _) => (reached, None),
            };
            Deployment::Rolling {
                version,
                unit,
                fraction,
                counts,
                running,
                finished_at,
                rolled_back,
            }
        }
        Strategy::Swap => {
            let swapping_since = deploys
                .iter()
                .find(|(_, s)| s.status == StepStatus::Running)
                .and_then(|(_, s)| s.started_at);
            Deployment::Swap { version, swapping_since, swapped_at: finished_at, rolled_back }
        }
    }
}

/// When production began to change by deploy (the first deploy step started) and when the
/// change was whole (every deploy step done or skipped: the last one's finish); `None` for
/// what has not happened, and both for a plan without deploy steps.
pub fn deploy_span(plan: &Plan, state: &State) -> (Option<Timestamp>, Option<Timestamp>) {
    let deploys: Vec<_> =
        plan.deploy_steps().iter().filter_map(|r| state.steps.get(r.index)).collect();
    let started = deploys.iter().find_map(|s| s.started_at);
    let all_done = !deploys.is_empty()
        && deploys.iter().all(|s| matches!(s.status, StepStatus::Done | StepStatus::Skipped));
    let finished = if all_done { deploys.last().and_then(|s| s.finished_at) } else { None };
    (started, finished)
}

impl Deployment {
    /// One line: `10% of traffic on the new version`, `rolling 2/3 pods on 1.4.0`, `swapped to
    /// 1.4.0 at 10:12`.
    pub fn line(&self) -> String {
        match self {
            Self::Traffic { weight } => format!("{weight}% of traffic on the new version"),
            Self::Rolling {
                version,
                unit,
                fraction,
                counts,
                running,
                finished_at,
                rolled_back,
            } => {
                // Without a progress source nothing was read: say what the finished deploy
                // steps reached, or nothing, rather than a made-up 0%.
                let amount = match counts {
                    Some((n, m)) => Some(format!("{n}/{m} {unit}")),
                    None if *fraction > 0.0 => {
                        Some(format!("{}% of {unit}", (fraction * 100.0).round()))
                    }
                    None => None,
                };
                match (rolled_back, finished_at, running, amount) {
                    (true, _, _, Some(amount)) => {
                        format!("rolled back from {version} ({amount} on it when last read)")
                    }
                    (true, _, _, None) => format!("rolled back from {version}"),
                    (false, Some(at), _, _) => {
                        // The deploy succeeded: a count read before its end is out of date.
                        let all = match counts {
                            Some((n, m)) if n == m => format!("{n}/{m} {unit}"),
                            _ => format!("all {unit}"),
                        };
                        format!("rolled out {version} to {all} at {}", format_hour_minute(*at))
                    }
                    (false, None, true, Some(amount)) => format!("rolling {amount} on {version}"),
                    (false, None, true, None) => format!("rolling out {version}"),
                    (false, None, false, Some(amount)) => {
                        format!("rolling held at {amount} on {version}")
                    }
                    (false, None, false, None) => {
                        format!("not rolled out yet: 0 {unit} on {version}")
                    }
                }
            }
            Self::Swap { version, swapping_since, swapped_at, rolled_back } => {
                match (rolled_back, swapped_at, swapping_since) {
                    (true, Some(at), _) => {
                        format!("rolled back (swapped to {version} at {})", format_hour_minute(*at))
                    }
                    (true, None, _) => format!("rolled back before the swap to {version}"),
                    (false, Some(at), _) => {
                        format!("swapped to {version} at {}", format_hour_minute(*at))
                    }
                    (false, None, Some(since)) => {
                        format!("swapping to {version} since {}", format_hour_minute(*since))
                    }
                    (false, None, None) => format!("not swapped yet to {version}"),
                }
            }
        }
    }

    /// The share of production on the new version, 0 to 1, for a bar.
    pub fn fraction(&self) -> f64 {
        match self {
            Self::Traffic { weight } => f64::from(*weight) / 100.0,
            Self::Rolling { fraction, .. } => *fraction,
            Self::Swap { swapped_at, rolled_back, .. } => {
                if swapped_at.is_some() && !rolled_back {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

/// The watch after completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchState {
    /// The plan has no `[watch]`, or the release did not complete.
    None,
    /// Completed and still watched: a breach acts, a person may roll back.
    Watching {
        /// Time left in the window.
        left: Duration,
    },
    /// The window has passed (closed on record, or due to be).
    Ended {
        /// When it ended.
        at: Timestamp,
    },
}

/// How the watch after completion stands at `now`.
pub fn watch_state(plan: &Plan, state: &State, now: Timestamp) -> WatchState {
    let (Some(watch), Some(completed)) = (&plan.watch, state.completed_at) else {
        return WatchState::None;
    };
    if !matches!(state.status, Status::Completed | Status::Paused) {
        return WatchState::None;
    }
    let window_ms = u64::try_from(watch.after_release.as_millis()).unwrap_or(u64::MAX);
    let end = completed.plus_millis(window_ms);
    if let Some(at) = state.watch_closed {
        return WatchState::Ended { at };
    }
    if now >= end {
        return WatchState::Ended { at: end };
    }
    WatchState::Watching { left: Duration::from_millis(end.millis_since(now)) }
}

/// Whether flightdeck still has something to do for this release: it is not over, or it
/// completed with a `[watch]` that is not closed on record yet (breaches are judged until the
/// window ends, then the watch is closed). Supervisors and cockpits keep driving it while
/// this holds.
pub fn supervised(plan: &Plan, state: &State) -> bool {
    !state.status.is_terminal()
        || (state.status == Status::Completed
            && plan.watch.is_some()
            && state.watch_closed.is_none())
}
