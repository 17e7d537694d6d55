//! One row of Timeline, Health, Metrics or Output opened in full with Enter: every word of
//! it, wrapped to the screen, scrollable (↑↓ PgUp PgDn), closed by Esc. Nothing here is cut.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};

use super::{format, theme};
use crate::release::{format_clock, format_date_time};
use crate::tui::model::{Model, RowOverlay, RowRef};

/// The row's title and its text, paragraph by paragraph (each wrapped on its own).
fn content(model: &Model, row: RowRef) -> (String, Vec<String>) {
    match row {
        RowRef::Event(seq) => {
            let entry =
                model.release.as_ref().and_then(|r| r.timeline.iter().find(|e| e.seq == seq));
            let Some(e) = entry else {
                return (
                    "Event".into(),
                    vec!["no longer in memory; see `flightdeck events`".into()],
                );
            };
            // An automatic actor's short name already says it is flightdeck.
            let who = &e.actor;
            (
                format!("Event #{}", e.seq),
                vec![
                    format!("{} UTC by {who}", format_date_time(e.at)),
                    String::new(),
                    e.text.clone(),
                ],
            )
        }
        RowRef::Health(i) => {
            let Some(h) = model.probes.health.get(i) else { return ("Health".into(), Vec::new()) };
            let (mark, word) = h.state.label();
            let mut text = vec![
                format!("{mark} {word}"),
                format!("url: {}", h.url),
                format!(
                    "{} failed and {} passed checks in a row",
                    h.failures_in_row, h.successes_in_row
                ),
            ];
            if let Some(since) = h.failing_since {
                text.push(format!("failing since {} UTC", format_clock(since)));
            }
            if let Some(m) = &h.version_mismatch {
                text.push(format!("VERSION {m}"));
            }
            match &h.last {
                None => text.push("not polled yet".into()),
                Some(r) => {
                    text.push(format!(
                        "last check at {} UTC ({} ago): {}{} in {}ms",
                        format_clock(r.at),
                        format::age(model.display_now().millis_since(r.at)),
                        r.status_code
                            .map_or_else(|| "no answer".to_owned(), |c| format!("status {c}")),
                        r.version.as_ref().map_or_else(String::new, |v| format!(", version {v}")),
                        r.latency_ms
                    ));
                    if let Some(e) = &r.error {
                        text.push(format!("error: {e}"));
                    }
                    for (check, value) in &r.checks {
                        text.push(format!("check {check}: {value}"));
                    }
                }
            }
            (format!("Health: {} ({})", h.name, h.id), text)
        }
        RowRef::Metric(i) => {
            let Some(m) = model.probes.metrics.get(i) else { return ("Metric".into(), Vec::new()) };
            let (mark, word) = m.verdict.label();
            let mut text = vec![format!("{mark} {word}")];
            if let Some((at, v)) = m.samples.back() {
                text.push(format!(
                    "latest {} ({v}) at {} UTC, {} readings kept",
                    format::value(*v, &m.unit),
                    format_clock(*at),
                    m.samples.len()
                ));
            }
            if let Some(t) = &m.warn {
                text.push(format!("warn when {t}"));
            }
            if let Some(t) = &m.abort {
                text.push(format!("abort when {t}"));
            }
            if let Some(b) = m.baseline {
                text.push(format!("baseline {} ({b})", format::value(b, &m.unit)));
            }
            if let Some(e) = &m.error {
                text.push(format!("last read failed: {e}"));
            }
            if let Some(verdict) = &m.analysis {
                text.push(String::new());
                text.extend(verdict.explain().lines().map(str::to_owned));
            }
            (format!("Metric: {} ({})", m.name, m.id), text)
        }
        RowRef::Output(from) => {
            let (title, lines) = model.output_lines();
            (format!("Output{title}"), lines.into_iter().skip(from).collect())
        }
    }
}

/// Draws the open row over the panes (the header and the footer stay in view).
pub fn render_row(frame: &mut Frame<'_>, area: Rect, model: &Model, open: &RowOverlay) {
    let area = Rect { y: area.y + 1, height: area.height.saturating_sub(3), ..area };
    let (title, paragraphs) = content(model, open.row);
    let width = area.width.saturating_sub(4).min(120);
    let text_width = usize::from(width.saturating_sub(4)).max(10);
    let mut lines: Vec<String> = Vec::new();
    for p in &paragraphs {
        // Wrapped lines keep the paragraph's indent.
        let indent: String = p.chars().take_while(|c| *c == ' ').collect();
        for l in format::wrap(p.trim_start(), text_width.saturating_sub(indent.len())) {
            lines.push(format!("{indent}{l}"));
        }
    }
    let inner_height = usize::from(area.height.saturating_sub(2)).max(1);
    let scroll = open.scroll.min(lines.len().saturating_sub(inner_height));
    let more = lines.len().saturating_sub(scroll + inner_height);
    let height = u16::try_from(lines.len().min(inner_height) + 2).unwrap_or(u16::MAX);
    let [_, row, _] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(height), Constraint::Fill(1)])
            .areas(area);
    let [_, popup, _] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(width), Constraint::Fill(1)])
            .areas(row);
    let position = if more > 0 || scroll > 0 { format!(" ↓{more} more ") } else { String::new() };
    let block = Block::bordered()
        .border_style(theme::focused_border())
        .title(format!(" {title} "))
        .title_bottom(Line::styled(
            format!("{position} ↑↓ PgUp PgDn scroll · Esc closes "),
            theme::dim(),
        ));
    let visible: Vec<Line<'static>> = lines
        .into_iter()
        .skip(scroll)
        .take(inner_height)
        .map(|l| Line::raw(format!(" {l}")))
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(visible).block(block), popup);
}
