//! Semantic colour roles in the 16 ANSI colours only; every role also has a mark or a word
//! on screen, so NO_COLOR loses nothing.

use ratatui::style::{Color, Modifier, Style};

/// Within limits, done.
pub fn ok() -> Style {
    Style::new().fg(Color::Green)
}

/// Needs attention.
pub fn warn() -> Style {
    Style::new().fg(Color::Yellow)
}

/// Failed, breached, rolling back.
pub fn breach() -> Style {
    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
}

/// No data yet.
pub fn nodata() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// What is happening now.
pub fn accent() -> Style {
    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
}

/// Secondary text.
pub fn dim() -> Style {
    Style::new().add_modifier(Modifier::DIM)
}

/// The selected row.
pub fn selected() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

/// Titles and labels.
pub fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// The environment badge: production is loud.
pub fn environment(production: bool) -> Style {
    if production {
        Style::new().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Black).bg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
}

/// A focused pane's border.
pub fn focused_border() -> Style {
    Style::new().fg(Color::Cyan)
}
