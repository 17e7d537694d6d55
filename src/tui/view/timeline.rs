//! The timeline (every event, newest at the bottom, scrollable and filterable) and the
//! output pane (live output of actions run here, else the selected step's recorded tail).
//! Only the visible rows are formatted, so drawing cost does not grow with history.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{format, pane_block, theme};
use crate::release::format_clock;
use crate::tui::model::{Model, Pane, ReleaseView};

/// The timeline pane. Focused, its bottom row is the selected one: Enter opens it in full.
pub fn render_timeline(frame: &mut Frame<'_>, area: Rect, model: &Model, _release: &ReleaseView) {
    let height = usize::from(area.height.saturating_sub(2));
    let width = usize::from(area.width.saturating_sub(2));
    let matching = model.timeline_rows();
    let end = matching.len().saturating_sub(model.ui.timeline_back);
    let start = end.saturating_sub(height);
    let focused = model.focus == Pane::Timeline;
    let mut rows: Vec<Line<'static>> = matching[start..end]
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let who = if e.automatic { "auto".to_owned() } else { format::fit(&e.actor, 8) };
            let mut style = if e.alarming { theme::breach() } else { ratatui::style::Style::new() };
            if focused && start + i + 1 == end {
                style = style.patch(theme::selected());
            }
            let text = format::fit(&e.text, width.saturating_sub(19));
            Line::from(vec![
                Span::styled(format!(" {} ", format_clock(e.at)), theme::dim()),
                Span::styled(format!("{who:<8} "), theme::bold()),
                Span::styled(text, style),
            ])
        })
        .collect();
    let mut extra = String::new();
    if !model.ui.filter.is_empty() {
        extra.push_str(&format!(" /{}", model.ui.filter));
    }
    if model.ui.timeline_back > 0 {
        extra.push_str(&format!(" ↑{} (G newest)", model.ui.timeline_back));
    }
    if focused && !rows.is_empty() {
        extra.push_str(" · Enter opens");
    }
    if rows.is_empty() {
        rows.push(Line::styled(" no events match", theme::dim()));
    }
    frame
        .render_widget(Paragraph::new(rows).block(pane_block(model, Pane::Timeline, &extra)), area);
}

/// The output pane. Focused, its bottom row is the selected one: Enter opens the output
/// from there, in full.
pub fn render_output(frame: &mut Frame<'_>, area: Rect, model: &Model, _release: &ReleaseView) {
    let height = usize::from(area.height.saturating_sub(2));
    let width = usize::from(area.width.saturating_sub(2));
    let (mut title, _) = model.output_lines();
    let lines = model.output_rows();
    let end = lines.len().saturating_sub(model.ui.output_back);
    let start = end.saturating_sub(height);
    let focused = model.focus == Pane::Output;
    let mut rows: Vec<Line<'static>> = lines[start..end]
        .iter()
        .enumerate()
        .map(|(i, (_, l))| {
            let line = Line::raw(format!(" {}", format::fit(l, width.saturating_sub(1))));
            if focused && start + i + 1 == end { line.style(theme::selected()) } else { line }
        })
        .collect();
    if !model.ui.output_filter.is_empty() {
        title.push_str(&format!(" /{}", model.ui.output_filter));
    }
    if rows.is_empty() {
        let empty = if model.ui.output_filter.is_empty() {
            " no output yet: actions print here as they run"
        } else {
            " no output lines match"
        };
        for line in format::wrap_hanging(empty, width, 1) {
            rows.push(Line::styled(line, theme::dim()));
        }
    }
    // Output rows are cut to the width already; the empty-pane hint is wrapped above.
    frame.render_widget(Paragraph::new(rows).block(pane_block(model, Pane::Output, &title)), area);
}

/// The width the output pane wants: its longest line (or its hint when empty), whole.
pub fn output_width_wanted(model: &Model, release: &ReleaseView) -> usize {
    let _ = release;
    let lines = model.output_lines().1;
    lines.iter().map(|l| l.chars().count() + 1).max().unwrap_or(0)
}
