//! Whether production has changed yet, and which baselines the first step that changes it
//! (a traffic shift or a deploy) still waits for: one rule for `decide`, automation and the
//! cockpit's countdown.

use std::time::Duration;

use super::state::{State, Status};
use super::time::Timestamp;
use crate::plan::{Plan, StepKind, format_duration};

/// The baselines the next step that changes production waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineWait {
    /// The waiting step (the first traffic or deploy step still to run).
    pub step: String,
    /// Whether that step is a deploy (else a traffic shift), for the wording.
    pub deploy: bool,
    /// The series still without a baseline, with their `baseline_window`, in plan order.
    pub series: Vec<(String, Duration)>,
    /// The longest of their windows.
    pub window: Duration,
    /// Time left until that window has passed since the release started; zero when it has
    /// (then nobody is capturing: no cockpit or supervisor is reading the metrics).
    pub left: Duration,
}

impl BaselineWait {
    /// `p95 (1m of readings), error_rate (5m of readings)`.
    pub fn series_list(&self) -> String {
        self.series
            .iter()
            .map(|(id, window)| format!("{id} ({} of readings)", format_duration(*window)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `about 40s left`, or what to check once the window has passed.
    pub fn left_words(&self) -> String {
        if self.left.is_zero() {
            "its window has passed since the release started: is anyone watching (the cockpit or `flightdeck supervise`)?".to_owned()
        } else {
            format!("about {} left", format_duration(self.left))
        }
    }

    /// The whole sentence, as `next` refuses with it.
    pub fn sentence(&self) -> String {
        let (what, from) = if self.deploy {
            (format!("the deploy `{}`", self.step), "as production runs before it")
        } else {
            ("the first traffic shift".to_owned(), "from the stable side")
        };
        format!(
            "{what} waits for the baseline of {} {from}; {}",
            self.series_list(),
            self.left_words()
        )
    }
}

/// Whether the release has changed production: traffic moved, or a deploy step's action
/// started. Baselines are taken only before, from the only version running.
pub fn production_changed(plan: &Plan, state: &State) -> bool {
    if state.weight > 0 || !state.weight_history.is_empty() {
        return true;
    }
    plan.deploy_steps().iter().any(|r| state.steps.get(r.index).is_some_and(|s| !s.runs.is_empty()))
}

/// What the next step that changes production waits for at `now`: every `before`-mode
/// relative baseline of a series a bake or the watch after release judges, not captured
/// yet. `None` when nothing waits (production already changed, no such step is left, or
/// every baseline is in).
pub fn baseline_wait(plan: &Plan, state: &State, now: Timestamp) -> Option<BaselineWait> {
    if !matches!(state.status, Status::Running | Status::Paused) || production_changed(plan, state)
    {
        return None;
    }
    let step = plan
        .flat_steps()
        .into_iter()
        .skip(state.cursor)
        .find(|r| r.step.kind.changes_production())?;
    let judged = |id: &str| {
        let baked = plan.flat_steps().iter().any(|r| {
            matches!(&r.step.kind, StepKind::Bake { probes, .. } if probes.iter().any(|p| p == id))
        });
        baked || plan.watch.as_ref().is_some_and(|w| w.probes.iter().any(|p| p == id))
    };
    let series: Vec<(String, Duration)> = plan
        .metrics
        .iter()
        .filter(|m| {
            m.needs_captured_baseline() && judged(&m.id) && !state.baselines.contains_key(&m.id)
        })
        .map(|m| (m.id.clone(), m.baseline_window))
        .collect();
    let window = series.iter().map(|(_, w)| *w).max()?;
    let since = state.info.as_ref().map_or(now, |i| i.started_at);
    let waited = Duration::from_millis(now.millis_since(since));
    Some(BaselineWait {
        step: step.step.id.clone(),
        deploy: matches!(step.step.kind, StepKind::Deploy { .. }),
        series,
        window,
        left: window.saturating_sub(waited),
    })
}
