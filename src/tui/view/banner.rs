//! The decision banner under the header: flightdeck's own newest decision not acknowledged on
//! this screen (an automatic rollback or pause, a traffic drift, a warning), with its whole
//! reason, until someone presses the acknowledge key; stacked banners show their count.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{format, theme};
use crate::release::format_clock;
use crate::tui::keymap::Action;
use crate::tui::model::Model;

/// Lines a banner may take at most, by terminal height: the panes keep the rest.
fn max_lines(height: u16) -> usize {
    if height >= 40 { 4 } else { 3 }
}

/// The banner's lines at `width` (none without a banner to show).
fn lines(model: &Model, width: u16) -> Vec<Line<'static>> {
    let banners = model.banners();
    let Some(newest) = banners.first() else { return Vec::new() };
    let key = model.keymap.key_for(Action::Acknowledge);
    let count = if banners.len() > 1 {
        format!(" [1 of {}: {key} acknowledges, then the next]", banners.len())
    } else {
        format!(" [{key} acknowledges]")
    };
    let text = format!("{} {}{count}", format_clock(newest.at), newest.text);
    let width = usize::from(width).saturating_sub(3).max(10);
    let mut wrapped = format::wrap(&text, width);
    let most = max_lines(model.size.1);
    if wrapped.len() > most {
        // Never cut silently: the rest is one Enter away on the timeline row.
        wrapped.truncate(most);
        if let Some(last) = wrapped.last_mut() {
            *last = format::fit(&format!("{last} … (Enter on its timeline row shows all)"), width);
        }
    }
    wrapped
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let mark = if i == 0 { "▲ " } else { "  " };
            Line::from(vec![
                Span::styled(format!(" {mark}"), theme::breach()),
                Span::styled(text, theme::breach().patch(theme::bold())),
            ])
        })
        .collect()
}

/// Rows the banner takes at `width` (0 when there is none).
pub fn height(model: &Model, width: u16) -> u16 {
    u16::try_from(lines(model, width).len()).unwrap_or(0)
}

/// Draws the banner.
pub fn render_banner(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    frame.render_widget(Paragraph::new(lines(model, area.width)), area);
}
