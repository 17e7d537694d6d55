//! The bottom line while a `/` filter or a `:` command is typed: what was typed, a cursor,
//! and what Enter, Tab and Esc do. Drawn over the status line.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{format, theme};
use crate::tui::model::{LineKind, Model};

/// Draws the line being typed, if one is.
pub fn render_line(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    let Some(line) = &model.line else { return };
    let choices = format!("  {}", line.choices.join(" "));
    let (lead, help) = match line.kind {
        LineKind::Filter(pane) => (format!(" {} /", pane.title()), "  Enter keeps · Esc clears"),
        // After a Tab that left several verbs, the line lists them instead of the help.
        LineKind::Command if !line.choices.is_empty() => (" :".to_owned(), choices.as_str()),
        LineKind::Command => (" :".to_owned(), "  Tab completes · Enter runs · Esc closes"),
    };
    let room =
        usize::from(area.width).saturating_sub(lead.chars().count() + help.chars().count() + 1);
    // The end of a long text stays in view: that is where the typing is.
    let chars: Vec<char> = line.text.chars().collect();
    let typed: String = chars[chars.len().saturating_sub(room.max(1))..].iter().collect();
    let spans = vec![
        Span::styled(lead, theme::accent()),
        Span::styled(typed, theme::bold()),
        Span::styled("▏", theme::accent()),
        Span::styled(format::fit(help, usize::from(area.width)), theme::dim()),
    ];
    // The status line under it may be longer than what is typed: none of it may show through.
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
