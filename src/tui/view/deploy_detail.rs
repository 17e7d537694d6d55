//! The detail pane of a `deploy` step: what it changes (a rollout to a share of the pods, or
//! the swap), the command with `{target}` filled, where its progress is read and how far it
//! is, the baseline it waits for, and where a paced deploy's segment stops for its watch.

use ratatui::text::Line;

use super::theme;
use crate::plan::{Progress, ProgressSource, StepKind, StepRef, Strategy, format_duration};
use crate::release::{StepState, StepStatus};
use crate::tui::model::{Model, ReleaseView};

/// Adds the deploy step's lines (its runs follow, as for an action).
pub fn push_deploy(
    lines: &mut Vec<Line<'static>>,
    model: &Model,
    release: &ReleaseView,
    (r, s): (StepRef<'_>, &StepState),
    (action, progress, target): (&str, Option<&Progress>, u8),
) {
    let version = release.state.info.as_ref().map_or("", |i| i.version.as_str());
    let unit = progress.map_or("pods", |p| p.unit.as_str());
    let segments: Vec<String> =
        release.plan.deploy_steps().iter().map(|d| d.step.id.clone()).collect();
    let what = match release.plan.strategy() {
        Strategy::Swap => format!(" deploy: swap production to {version}"),
        _ if target == 100 => format!(" deploy: roll {version} out to all {unit}"),
        _ => format!(" deploy: roll {version} out to {target}% of {unit}"),
    };
    lines.push(Line::raw(what));
    if segments.len() > 1 {
        let position = segments.iter().position(|id| *id == r.step.id).map_or(0, |i| i + 1);
        lines.push(Line::styled(
            format!(" paced: segment {position} of {}", segments.len()),
            theme::dim(),
        ));
    }
    if let Some(spec) = release.plan.action(action) {
        let text = super::action_text::describe_action(
            &spec.kind,
            release,
            &r.step.environment,
            Some(target),
        );
        lines.push(Line::styled(format!(" {text}"), theme::dim()));
        lines.push(Line::styled(
            format!(" timeout {}", format_duration(spec.timeout)),
            theme::dim(),
        ));
    }
    if let Some(p) = progress {
        let source = match &p.source {
            ProgressSource::Action(id) => format!("action `{id}`"),
            ProgressSource::Metric(id) => format!("metric `{id}`"),
        };
        lines.push(Line::styled(
            format!(" progress: {source} every {}", format_duration(p.every)),
            theme::dim(),
        ));
    }
    if let Some(rollout) = release.state.rollout.as_ref().filter(|o| o.step == r.step.id) {
        let percent = (rollout.fraction * 100.0).round();
        let amount = match (rollout.updated, rollout.desired) {
            (Some(n), Some(m)) => format!("{n}/{m} {unit} ({percent}%)"),
            _ => format!("{percent}% of {unit}"),
        };
        let style = if s.status == StepStatus::Running { theme::accent() } else { theme::dim() };
        lines.push(Line::styled(format!(" now {amount} on {version}"), style));
    }
    push_baseline(lines, model, &r.step.id);
    if let Some(hold) = hold_after(release, r.index, target) {
        lines.push(Line::styled(hold, theme::dim()));
    }
    if target == 100 && !matches!(s.status, StepStatus::Done | StepStatus::Skipped) {
        lines.push(Line::styled(
            " all of production: asks you to type the service name",
            theme::warn(),
        ));
    }
}

/// `baseline: latency, errors — 1m20s to go` while `step` (a deploy or the first traffic
/// shift) waits for the baselines it is judged against.
pub fn push_baseline(lines: &mut Vec<Line<'static>>, model: &Model, step: &str) {
    let Some(wait) = model.baseline_wait().filter(|w| w.step == step) else { return };
    let when = if wait.left.is_zero() {
        "its window has passed, due now".to_owned()
    } else {
        format!("{} to go", format_duration(wait.left))
    };
    let series: Vec<&str> = wait.series.iter().map(|(id, _)| id.as_str()).collect();
    lines.push(Line::styled(format!(" baseline: {} — {when}", series.join(", ")), theme::warn()));
}

/// `then holds at 33% for a 2m watch`, when a paced segment is followed by its bake.
fn hold_after(release: &ReleaseView, index: usize, target: u8) -> Option<String> {
    let steps = release.plan.flat_steps();
    let next = steps.get(index + 1)?;
    match &next.step.kind {
        StepKind::Bake { duration, .. } if target < 100 => {
            Some(format!(" then holds at {target}% for a {} watch", format_duration(*duration)))
        }
        _ => None,
    }
}
