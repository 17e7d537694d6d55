//! The baseline the first production change waits for, as the screen counts it down
//! (`baseline: latency, errors — 1m20s to go`): read from the plan and the committed state
//! with the same rule `decide` refuses the change by, so the countdown and the refusal agree.
//! The same shape as the engine's `release::baseline_wait`; once that is on this branch the
//! model calls it and this file goes.

use std::time::Duration;

use crate::plan::{Plan, StepKind};
use crate::release::{State, Status, StepStatus, Timestamp};

/// What the first step that changes production waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineWait {
    /// The step waiting (the first traffic or deploy step).
    pub step: String,
    /// Whether that step is a deploy (else a traffic shift).
    pub deploy: bool,
    /// The series whose baseline is not captured yet, with their `baseline_window`, in plan
    /// order.
    pub series: Vec<(String, Duration)>,
    /// The longest of their windows.
    pub window: Duration,
    /// Time left of the longest baseline window since the release started; zero once the
    /// window has passed and the capture is due.
    pub left: Duration,
}

/// The wait, while the current step is the first change step, nothing has changed in
/// production yet and some relative threshold still lacks its captured baseline.
pub fn baseline_wait(plan: &Plan, state: &State, now: Timestamp) -> Option<BaselineWait> {
    if !matches!(state.status, Status::Running | Status::Paused) {
        return None;
    }
    let first = plan.first_change_step()?;
    let current = state.steps.get(state.cursor)?;
    if first.index != state.cursor || current.status != StepStatus::Waiting {
        return None;
    }
    if state.weight > 0 || !state.weight_history.is_empty() {
        return None;
    }
    let watched_after_release =
        |id: &str| plan.watch.as_ref().is_some_and(|w| w.probes.iter().any(|p| p == id));
    let baked = |id: &str| {
        plan.flat_steps().iter().any(|r| {
            matches!(&r.step.kind, StepKind::Bake { probes, .. } if probes.iter().any(|p| p == id))
        })
    };
    let missing: Vec<&crate::plan::MetricProbe> = plan
        .metrics
        .iter()
        .filter(|m| {
            m.needs_captured_baseline()
                && (baked(&m.id) || watched_after_release(&m.id))
                && !state.baselines.contains_key(&m.id)
        })
        .collect();
    let longest = missing.iter().map(|m| m.baseline_window).max()?;
    let since = state.info.as_ref().map_or(now, |i| i.started_at);
    let waited = Duration::from_millis(now.millis_since(since));
    Some(BaselineWait {
        step: first.step.id.clone(),
        deploy: matches!(first.step.kind, StepKind::Deploy { .. }),
        series: missing.iter().map(|m| (m.id.clone(), m.baseline_window)).collect(),
        window: longest,
        left: longest.saturating_sub(waited),
    })
}
