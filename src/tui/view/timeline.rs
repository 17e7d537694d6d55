//! The timeline (every event, newest at the bottom, scrollable and filterable) and the
//! output pane (live output of actions run here, else the selected step's recorded tail).
//! Only the visible rows are formatted, so drawing cost does not grow with history.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{format, pane_block, theme};
use crate::release::{RunOutcome, format_clock};
use crate::tui::model::{Model, Pane, ReleaseView};

/// The timeline pane.
pub fn render_timeline(frame: &mut Frame<'_>, area: Rect, model: &Model, release: &ReleaseView) {
    let height = usize::from(area.height.saturating_sub(2));
    let width = usize::from(area.width.saturating_sub(2));
    let filter = model.ui.filter.to_lowercase();
    // Walk from the newest backwards, skipping `timeline_back` matches, taking `height`.
    let mut rows: Vec<Line<'static>> = release
        .timeline
        .iter()
        .rev()
        .filter(|e| {
            filter.is_empty()
                || e.text.to_lowercase().contains(&filter)
                || e.actor.to_lowercase().contains(&filter)
        })
        .skip(model.ui.timeline_back)
        .take(height)
        .map(|e| {
            let who = if e.automatic { "auto".to_owned() } else { format::fit(&e.actor, 8) };
            let style = if e.alarming { theme::breach() } else { ratatui::style::Style::new() };
            let text = format::fit(&e.text, width.saturating_sub(19));
            Line::from(vec![
                Span::styled(format!(" {} ", format_clock(e.at)), theme::dim()),
                Span::styled(format!("{who:<8} "), theme::bold()),
                Span::styled(text, style),
            ])
        })
        .collect();
    rows.reverse();
    let mut extra = String::new();
    if !model.ui.filter.is_empty() {
        extra.push_str(&format!(" /{}", model.ui.filter));
    }
    if model.ui.timeline_back > 0 {
        extra.push_str(&format!(" ↑{} (G newest)", model.ui.timeline_back));
    }
    if rows.is_empty() {
        rows.push(Line::styled(" no events match", theme::dim()));
    }
    frame
        .render_widget(Paragraph::new(rows).block(pane_block(model, Pane::Timeline, &extra)), area);
}

/// The output pane.
pub fn render_output(frame: &mut Frame<'_>, area: Rect, model: &Model, release: &ReleaseView) {
    let height = usize::from(area.height.saturating_sub(2));
    let width = usize::from(area.width.saturating_sub(2));
    let (title, lines): (String, Vec<String>) = if model.output.is_empty() {
        recorded_tail(model, release)
    } else {
        let title = if model.running_here { " live".into() } else { " last run here".into() };
        (title, model.output.iter().cloned().collect())
    };
    let end = lines.len().saturating_sub(model.ui.output_back);
    let start = end.saturating_sub(height);
    let mut rows: Vec<Line<'static>> = lines[start..end]
        .iter()
        .map(|l| Line::raw(format!(" {}", format::fit(l, width.saturating_sub(1)))))
        .collect();
    if rows.is_empty() {
        for line in format::wrap_hanging(" no output yet: actions print here as they run", width, 1)
        {
            rows.push(Line::styled(line, theme::dim()));
        }
    }
    // Output rows are cut to the width already; the empty-pane hint is wrapped above.
    frame.render_widget(Paragraph::new(rows).block(pane_block(model, Pane::Output, &title)), area);
}

/// The width the output pane wants: its longest line (or its hint when empty), whole.
pub fn output_width_wanted(model: &Model, release: &ReleaseView) -> usize {
    let lines = if model.output.is_empty() {
        recorded_tail(model, release).1
    } else {
        model.output.iter().cloned().collect()
    };
    lines.iter().map(|l| l.chars().count() + 1).max().unwrap_or(0)
}

/// The stored output tail of the selected step's last run (from whichever process ran it).
fn recorded_tail(model: &Model, release: &ReleaseView) -> (String, Vec<String>) {
    let index = model.selected_step();
    let Some(step) = release.state.steps.get(index) else { return (String::new(), Vec::new()) };
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
