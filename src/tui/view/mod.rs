//! The cockpit's view: a pure function of the model, drawn by ratatui. The layout is chosen
//! by size: side by side when there is room, one focused pane with a tab strip at 80×24, and a
//! plain message below the minimum.

mod banner;
mod chrome;
pub mod format;
mod header;
pub mod hit;
mod probes;
mod prompt;
mod row;
mod steps;
pub mod theme;
mod timeline;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::model::{Model, Pane};

/// Smallest usable terminal.
pub const MIN_WIDTH: u16 = 60;
/// Smallest usable terminal.
pub const MIN_HEIGHT: u16 = 16;

/// Draws the whole screen.
pub fn render(frame: &mut Frame<'_>, model: &Model) {
    hit::clear();
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "terminal too small ({}×{}); need {MIN_WIDTH}×{MIN_HEIGHT}. q quits.",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let Some(release) = &model.release else {
        render_welcome(frame, area, model);
        return;
    };
    let [header_area, traffic_area, banner_area, body, keys_area, status_area] =
        Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(banner::height(model, area.width)),
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
    header::render_header(frame, header_area, model, release);
    header::render_traffic(frame, traffic_area, release);
    banner::render_banner(frame, banner_area, model);
    if area.width >= 100 && area.height >= 30 {
        render_wide(frame, body, model);
    } else {
        render_compact(frame, body, model);
    }
    chrome::render_footer(frame, keys_area, status_area, model);
    prompt::render_line(frame, status_area, model);
    chrome::render_overlay(frame, area, model);
}

fn render_wide(frame: &mut Frame<'_>, body: Rect, model: &Model) {
    let step_lines = model.release.as_ref().map_or(0, steps::line_count);
    let top_height =
        u16::try_from(step_lines + 2).unwrap_or(u16::MAX).clamp(10, body.height * 11 / 20);
    let [top, bottom] =
        Layout::vertical([Constraint::Length(top_height), Constraint::Min(4)]).areas(body);
    let [steps_area, detail_area, probes_area] = Layout::horizontal([
        Constraint::Percentage(34),
        Constraint::Percentage(33),
        Constraint::Percentage(33),
    ])
    .areas(top);
    let health_height = u16::try_from(model.probes.health.len() + 2)
        .unwrap_or(u16::MAX)
        .clamp(3, probes_area.height / 2);
    let [health_area, metrics_area] =
        Layout::vertical([Constraint::Length(health_height), Constraint::Min(3)])
            .areas(probes_area);
    let [timeline_area, output_area] =
        Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(bottom);
    render_pane(frame, steps_area, model, Pane::Steps);
    render_pane(frame, detail_area, model, Pane::Detail);
    render_pane(frame, health_area, model, Pane::Health);
    render_pane(frame, metrics_area, model, Pane::Metrics);
    render_pane(frame, timeline_area, model, Pane::Timeline);
    render_pane(frame, output_area, model, Pane::Output);
}

fn render_compact(frame: &mut Frame<'_>, body: Rect, model: &Model) {
    let [tabs_area, main] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(body);
    let mut spans = Vec::new();
    for pane in Pane::ALL {
        let style = if pane == model.focus { theme::selected() } else { theme::dim() };
        spans.push(Span::styled(format!(" {} ", pane.title()), style));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled("Tab switches", theme::dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), tabs_area);
    match model.focus {
        Pane::Steps | Pane::Detail => {
            let [left, right] =
                Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(main);
            render_pane(frame, left, model, Pane::Steps);
            render_pane(frame, right, model, Pane::Detail);
        }
        other => render_pane(frame, main, model, other),
    }
}

/// A bordered block titled with the pane's name, highlighted when focused.
pub(super) fn pane_block(model: &Model, pane: Pane, extra: &str) -> Block<'static> {
    let focused = model.focus == pane;
    let marker = if focused { "▸ " } else { "" };
    let title = format!(" {marker}{}{extra} ", pane.title());
    let block = Block::bordered().title(Span::styled(title, theme::bold()));
    if focused {
        block.border_style(theme::focused_border())
    } else {
        block.border_style(theme::dim())
    }
}

fn render_pane(frame: &mut Frame<'_>, area: Rect, model: &Model, pane: Pane) {
    let Some(release) = &model.release else { return };
    hit::drawn(pane, area);
    match pane {
        Pane::Steps => steps::render_steps(frame, area, model, release),
        Pane::Detail => steps::render_detail(frame, area, model, release),
        Pane::Health => probes::render_health(frame, area, model),
        Pane::Metrics => probes::render_metrics(frame, area, model),
        Pane::Timeline => timeline::render_timeline(frame, area, model, release),
        Pane::Output => timeline::render_output(frame, area, model, release),
    }
}

fn render_welcome(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    let lines = vec![
        Line::styled(" flightdeck", theme::accent()),
        Line::raw(""),
        Line::raw(" No release in this database yet."),
        Line::styled(format!(" database: {}", model.db_label), theme::dim()),
        Line::raw(""),
        Line::raw(" To start one:"),
        Line::styled(
            "   flightdeck init flightdeck.toml        # write a starter plan",
            theme::bold(),
        ),
        Line::styled("   flightdeck check flightdeck.toml       # validate it", theme::bold()),
        Line::styled("   flightdeck start flightdeck.toml --version 1.4.0", theme::bold()),
        Line::raw(""),
        Line::raw(" Or see the whole cockpit on a simulated fleet:"),
        Line::styled("   flightdeck demo", theme::bold()),
        Line::raw(""),
        Line::styled(" q quits  ? help", theme::dim()),
    ];
    frame.render_widget(Paragraph::new(lines).block(Block::bordered()), area);
    chrome::render_overlay(frame, area, model);
}
