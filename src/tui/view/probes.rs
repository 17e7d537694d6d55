//! The health pane (one row per endpoint) and the metrics pane (one row per series), from
//! the probe board. Rows that have not reported say so; nothing is invented.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::{format, pane_block, theme};
use crate::analysis::number;
use crate::plan::{Bound, Comparison};
use crate::tui::model::{HealthState, MetricRow, Verdict};
use crate::tui::model::{Model, Pane};

fn health_style(state: HealthState) -> Style {
    match state {
        HealthState::NotPolled => theme::nodata(),
        HealthState::Up => theme::ok(),
        HealthState::Flapping => theme::warn(),
        HealthState::Down => theme::breach(),
    }
}

fn verdict_style(v: Verdict) -> Style {
    match v {
        Verdict::NotPolled | Verdict::Inconclusive => theme::nodata(),
        Verdict::Pass => theme::ok(),
        Verdict::Warn => theme::warn(),
        Verdict::Fail => theme::breach(),
    }
}

/// A row's label: its display name when that fits in `width`, else its probe id (short and
/// unique), so two long names sharing a prefix never both show as `checkou…`.
fn label(name: &str, id: &str, width: usize) -> String {
    if name.chars().count() <= width { name.to_owned() } else { format::fit(id, width) }
}

/// The label column: as wide as the longest name, leaving `reserve` columns for the rest.
fn label_width(longest: usize, pane: usize, reserve: usize, min: usize) -> usize {
    longest.min(pane.saturating_sub(reserve)).max(min)
}

/// The level a row is judged by, as written; a relative one also as the number it comes
/// to with the baseline: `abort > 0.315 (baseline 0.21 × 1.5)`.
fn limit_text(row: &MetricRow) -> String {
    let Some(t) = row.abort.or(row.warn) else {
        return String::new();
    };
    let word = if row.abort.is_some() { "abort" } else { "warn" };
    let op = match t.comparison {
        Comparison::Above => '>',
        Comparison::Below => '<',
    };
    match (t.bound, row.baseline) {
        (Bound::Absolute(_), _) => format!("{word} {t}"),
        (Bound::Baseline(f), Some(b)) => {
            format!("{word} {op} {} (baseline {} × {f})", number(b * f), number(b))
        }
        (Bound::Baseline(_), None) => format!("{word} {t} (no baseline yet)"),
    }
}

/// `   why: fail: value 0.038, threshold > 0.02, ...`, broken after commas to fit `width`.
fn explanation_lines(explain: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::from("   why:");
    for part in explain.split(", ") {
        let sep = if line.ends_with(':') { " " } else { ", " };
        if line.chars().count() + sep.len() + part.chars().count() > width && line.len() > 7 {
            out.push(format::fit(&format!("{line},"), width));
            line = format!("        {part}");
        } else {
            line.push_str(sep);
            line.push_str(part);
        }
    }
    out.push(format::fit(&line, width));
    out
}

/// A failed read: the value shown is the last good one, this old; errors in a row count.
fn stale_text(row: &MetricRow, error: &str, model: &Model) -> String {
    let age = row.latest().map_or_else(String::new, |(at, _)| {
        format!(" {}", format::age(model.display_now().millis_since(at)))
    });
    let times =
        if row.errors_in_row > 1 { format!(" ×{}", row.errors_in_row) } else { String::new() };
    format!(" STALE{age}: {error}{times}")
}

/// The health pane.
pub fn render_health(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    let width = usize::from(area.width.saturating_sub(2));
    let longest = model.probes.health.iter().map(|r| r.name.chars().count()).max().unwrap_or(0);
    let name_width = label_width(longest, width, 36, 8);
    let mut lines = Vec::new();
    for (i, row) in model.probes.health.iter().enumerate() {
        let (mark, word) = row.state.label();
        let detail = match &row.last {
            None => row.url.clone(),
            Some(r) => {
                let mut text = match (&r.error, r.status_code) {
                    (Some(e), _) => e.clone(),
                    (None, Some(code)) => format!("{code} {}ms", r.latency_ms),
                    (None, None) => format!("{}ms", r.latency_ms),
                };
                match (&row.version_mismatch, &r.version) {
                    (Some(m), _) => text.push_str(&format!(" VERSION {m}")),
                    (None, Some(v)) => {
                        text.push_str(&format!(" v{}", crate::release::bare_version(v)));
                    }
                    (None, None) => {}
                }
                text.push_str(&format!(
                    " · {}",
                    format::age(model.display_now().millis_since(r.at))
                ));
                let bad: Vec<String> = r
                    .checks
                    .iter()
                    .filter(|(_, v)| !matches!(v.as_str(), "ok" | "healthy" | "up" | "pass"))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                if !bad.is_empty() {
                    text.push_str(&format!(" [{}]", bad.join(" ")));
                }
                text
            }
        };
        let name = label(&row.name, &row.id, name_width);
        let text = format!(" {mark} {name:<name_width$} {word:<6} {detail}");
        let mut style = health_style(row.state);
        if model.focus == Pane::Health && i == model.ui.health {
            style = style.patch(theme::selected());
        }
        lines.push(Line::styled(format::fit(&text, width), style));
    }
    if lines.is_empty() {
        lines.push(Line::styled(" no health endpoints in the plan", theme::dim()));
    }
    frame.render_widget(Paragraph::new(lines).block(pane_block(model, Pane::Health, "")), area);
}

/// The metrics pane.
pub fn render_metrics(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    let width = usize::from(area.width.saturating_sub(2));
    let longest = model.probes.metrics.iter().map(|r| r.name.chars().count()).max().unwrap_or(0);
    let name_width = label_width(longest, width, 44, 12);
    let mut lines = Vec::new();
    for (i, row) in model.probes.metrics.iter().enumerate() {
        let (mark, word) = row.verdict.label();
        // Read, but never a value: say so rather than "ok" (missing data may be ignored).
        let word =
            if row.samples.is_empty() && row.no_data_since.is_some() { "no data" } else { word };
        let values: Vec<f64> = row.samples.iter().map(|(_, v)| *v).collect();
        let current =
            values.last().map_or_else(|| "—".to_owned(), |v| format::value(*v, &row.unit));
        let limit = limit_text(row);
        let spark = format::sparkline(&values, 8);
        let name = label(&row.name, &row.id, name_width);
        // The verdict word comes right after the name, so a narrow pane cuts the numbers,
        // never the word.
        let text = match (values.is_empty(), &row.error) {
            (true, None) => format!(" {mark} {name:<name_width$} {word}  {limit}"),
            (true, Some(e)) => format!(" {mark} {name:<name_width$} read failed: {e}"),
            (false, error) => {
                let err = error.as_ref().map_or(String::new(), |e| stale_text(row, e, model));
                format!(
                    " {mark} {name:<name_width$} {word:<4} {current:>8} {spark:<8} {limit}{err}"
                )
            }
        };
        let mut style = verdict_style(row.verdict);
        let selected = model.focus == Pane::Metrics && i == model.ui.metric;
        if selected {
            style = style.patch(theme::selected());
        }
        lines.push(Line::styled(format::fit(&text, width), style));
        // The selected series says why its verdict is what it is.
        if let (true, Some(verdict)) = (selected, &row.analysis) {
            for line in explanation_lines(&verdict.explain(), width) {
                lines.push(Line::styled(line, theme::dim()));
            }
        }
    }
    if lines.is_empty() {
        lines.push(Line::styled(" no metrics in the plan", theme::dim()));
    }
    frame.render_widget(Paragraph::new(lines).block(pane_block(model, Pane::Metrics, "")), area);
}
