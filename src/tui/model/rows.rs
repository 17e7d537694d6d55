//! What the panes list, as the model answers it: decision banners, each pane's rows with its
//! filter applied, the rollback step selected, the output shown. Views and `update` ask the
//! same questions, so what is drawn is what keys and clicks select.

use super::{HealthRow, MetricRow, Model, TimelineEntry};
use crate::release::{Status, StepStatus};

impl Model {
    /// The decision banners not acknowledged on this screen, newest first.
    pub fn banners(&self) -> Vec<&TimelineEntry> {
        let Some(r) = &self.release else { return Vec::new() };
        let mut banners: Vec<&TimelineEntry> = Vec::new();
        let mut later: Option<&TimelineEntry> = None;
        for e in r.timeline.iter().rev().filter(|e| e.decision) {
            // One decision recorded as two events (a drift and the pause it caused) is one
            // banner: the later event, whose reason names the first.
            let same_decision = later.is_some_and(|l| l.seq == e.seq + 1 && l.at == e.at);
            later = Some(e);
            if !same_decision && !self.ui.acked.contains(&e.seq) {
                banners.push(e);
            }
        }
        banners
    }

    /// The timeline entries the timeline pane lists (its filter applied), oldest first.
    pub fn timeline_rows(&self) -> Vec<&TimelineEntry> {
        let Some(r) = &self.release else { return Vec::new() };
        let filter = &self.ui.filter;
        r.timeline
            .iter()
            .filter(|e| matches_filter(filter, &e.text) || matches_filter(filter, &e.actor))
            .collect()
    }

    /// The entry at the bottom of the timeline pane: the one `Enter` opens.
    pub fn selected_event(&self) -> Option<&TimelineEntry> {
        let rows = self.timeline_rows();
        rows.len().checked_sub(1 + self.ui.timeline_back).and_then(|i| rows.get(i).copied())
    }

    /// What the output pane shows: its title, and every line (live output of actions run
    /// here, else the stored tail of the selected step's last run).
    pub fn output_lines(&self) -> (String, Vec<String>) {
        if self.output.is_empty() {
            return self.recorded_tail();
        }
        let title = if self.running_here { " live" } else { " last run here" };
        (title.into(), self.output.iter().cloned().collect())
    }

    /// The output lines its filter keeps, with their index among every line.
    pub fn output_rows(&self) -> Vec<(usize, String)> {
        let filter = &self.ui.output_filter;
        self.output_lines()
            .1
            .into_iter()
            .enumerate()
            .filter(|(_, l)| matches_filter(filter, l))
            .collect()
    }

    /// The stored output tail of the selected step's last run (from whichever process ran it).
    fn recorded_tail(&self) -> (String, Vec<String>) {
        use crate::release::RunOutcome;
        let Some(release) = &self.release else { return (String::new(), Vec::new()) };
        // A rollback step selected (or followed while it runs) shows its own output.
        let rollback_step = self
            .selected_rollback_step()
            .and_then(|i| release.state.rollback.as_ref().and_then(|rb| rb.steps.get(i)));
        let rollout_step = release.state.steps.get(self.selected_step());
        let Some(step) = rollback_step.or(rollout_step) else {
            return (String::new(), Vec::new());
        };
        let Some(run) = step.last_run() else { return (String::new(), Vec::new()) };
        let text = match &run.outcome {
            Some(RunOutcome::Failed { error, .. }) => format!("{} failed: {error}", step.id),
            Some(RunOutcome::Interrupted { reason, .. }) => {
                format!("{} interrupted: {reason}", step.id)
            }
            Some(RunOutcome::Succeeded { .. }) => format!("{} succeeded", step.id),
            None => format!("{} running on {}", step.id, run.started.by.host),
        };
        let mut lines = vec![text];
        if let Some(output) = &run.output_tail {
            lines.extend(output.lines().map(str::to_owned));
        }
        (format!(" {} #{}", step.id, run.attempt), lines)
    }

    /// The rollout steps the steps pane lists (its filter applied, by name or id), by index.
    pub fn step_rows(&self) -> Vec<usize> {
        let Some(r) = &self.release else { return Vec::new() };
        let filter = &self.ui.steps_filter;
        r.plan
            .flat_steps()
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                matches_filter(filter, &s.step.name) || matches_filter(filter, &s.step.id)
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The steps pane's lines as it draws them: `None` for a stage's or the rollback's
    /// heading, else the step (rollback steps numbered after the rollout's).
    pub fn step_lines(&self) -> Vec<Option<usize>> {
        let Some(r) = &self.release else { return Vec::new() };
        let shown = self.step_rows();
        let mut lines = Vec::new();
        let mut index = 0;
        for stage in &r.plan.stages {
            let steps: Vec<usize> =
                (index..index + stage.steps.len()).filter(|i| shown.contains(i)).collect();
            index += stage.steps.len();
            if !steps.is_empty() {
                lines.push(None);
                lines.extend(steps.into_iter().map(Some));
            }
        }
        if let Some(rb) = &r.state.rollback {
            lines.push(None);
            lines.extend((0..rb.steps.len()).map(|i| Some(r.state.steps.len() + i)));
        }
        lines
    }

    /// The health rows the health pane lists (its filter applied), by index.
    pub fn health_rows(&self) -> Vec<usize> {
        let filter = &self.ui.health_filter;
        self.probes
            .health
            .iter()
            .enumerate()
            .filter(|(_, h)| matches_filter(filter, &health_text(h)))
            .map(|(i, _)| i)
            .collect()
    }

    /// The metric rows the metrics pane lists (its filter applied), by index.
    pub fn metric_rows(&self) -> Vec<usize> {
        let filter = &self.ui.metrics_filter;
        self.probes
            .metrics
            .iter()
            .enumerate()
            .filter(|(_, m)| matches_filter(filter, &metric_text(m)))
            .map(|(i, _)| i)
            .collect()
    }

    /// The rollback procedure's step selected in the steps pane, if one is (selections past
    /// the last rollout step move through the rollback's steps).
    pub fn selected_rollback_step(&self) -> Option<usize> {
        let r = self.release.as_ref()?;
        let rb = r.state.rollback.as_ref()?;
        let first = r.state.steps.len();
        match self.ui.step {
            Some(i) if i >= first => Some((i - first).min(rb.steps.len().saturating_sub(1))),
            // Following the release: while it rolls back, the rollback step under way (or
            // the last one) is in view.
            None if r.state.status == Status::RollingBack => Some(
                rb.steps
                    .iter()
                    .position(|s| s.status != StepStatus::Done && s.status != StepStatus::Skipped)
                    .unwrap_or(rb.steps.len().saturating_sub(1)),
            ),
            _ => None,
        }
    }
}

/// Whether `text` matches a pane filter: a case-insensitive substring; an empty filter
/// matches everything.
pub fn matches_filter(filter: &str, text: &str) -> bool {
    filter.is_empty() || text.to_lowercase().contains(&filter.to_lowercase())
}

/// What a health row's filter looks through: its id, URL and state.
pub fn health_text(h: &HealthRow) -> String {
    format!("{} {} {} {:?}", h.id, h.name, h.url, h.state)
}

/// What a metric row's filter looks through: its id and verdict.
pub fn metric_text(m: &MetricRow) -> String {
    format!("{} {} {:?}", m.id, m.name, m.verdict)
}
