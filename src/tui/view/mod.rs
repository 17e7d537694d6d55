//! The cockpit's view: a pure function of the model, drawn by ratatui. The layout is chosen
//! by size: side by side when there is room, one focused pane with a tab strip at 80×24, and a
//! plain message below the minimum.

mod action_text;
mod banner;
mod chrome;
mod deploy_detail;
pub mod format;
pub mod glyphs;
mod header;
pub mod hit;
mod probes;
mod production;
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

/// Draws the whole screen; in ASCII when the model asks for it.
pub fn render(frame: &mut Frame<'_>, model: &Model) {
    render_screen(frame, model);
    if model.ascii {
        glyphs::to_ascii(frame.buffer_mut());
    }
}

fn render_screen(frame: &mut Frame<'_>, model: &Model) {
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
    header::render_production(frame, traffic_area, release);
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

/// The widths of the steps and detail panes: each asks for its content's width; when the
/// probes are short of what they ask for, the detail pane gives back first, then the steps,
/// each down to its minimum. The probes take the rest.
fn top_widths(
    total: usize,
    steps: (usize, usize),
    detail: (usize, usize),
    probes: usize,
) -> (u16, u16) {
    let (mut steps_w, mut detail_w) = (steps.0.max(steps.1), detail.0.max(detail.1));
    let mut over = (steps_w + detail_w + probes).saturating_sub(total);
    for (width, min) in [(&mut detail_w, detail.1), (&mut steps_w, steps.1)] {
        let give = over.min(width.saturating_sub(min));
        *width -= give;
        over -= give;
    }
    let cell = |w: usize| u16::try_from(w).unwrap_or(u16::MAX);
    (cell(steps_w), cell(detail_w))
}

fn render_wide(frame: &mut Frame<'_>, body: Rect, model: &Model) {
    let Some(release) = &model.release else { return };
    // Widths follow content: steps as wide as their rows (up to a third), detail as wide as
    // its lines (an empty one shrinks), and the probes as wide as their rows plus a sparkline
    // (30% to 55%) and whatever is left.
    let w = usize::from(body.width);
    let metrics_want =
        if model.probes.metrics.is_empty() { 0 } else { probes::metrics_width(model) + 10 };
    let probes_want =
        (probes::health_width(model) + 4).max(metrics_want).clamp(w * 30 / 100, w * 55 / 100);
    // The detail pane keeps up to 28 columns of its content; longer lines wrap under their indent.
    let detail_want = steps::detail_width_wanted(model, release).min(w * 33 / 100) + 2;
    let (steps_width, detail_width) = top_widths(
        w,
        (steps::width_wanted(model, release).min(w * 34 / 100) + 2, 30),
        (detail_want, detail_want.clamp(20, 30)),
        probes_want,
    );
    // As tall as the steps, or as the selected step's detail where a short plan has a long
    // one (a deploy step), within the share the timeline leaves.
    let step_lines = steps::line_count(release);
    let detail_rows =
        steps::detail_height_wanted(model, release, usize::from(detail_width.saturating_sub(2)));
    let top_height = u16::try_from(step_lines.max(detail_rows) + 2)
        .unwrap_or(u16::MAX)
        .clamp(10, body.height * 11 / 20);
    let [top, bottom] =
        Layout::vertical([Constraint::Length(top_height), Constraint::Min(4)]).areas(body);
    let [steps_area, detail_area, probes_area] = Layout::horizontal([
        Constraint::Length(steps_width),
        Constraint::Length(detail_width),
        Constraint::Fill(1),
    ])
    .areas(top);
    let health_height = u16::try_from(model.probes.health.len() + 2)
        .unwrap_or(u16::MAX)
        .clamp(3, probes_area.height / 2);
    let [health_area, metrics_area] =
        Layout::vertical([Constraint::Length(health_height), Constraint::Min(3)])
            .areas(probes_area);
    // The output pane is as wide as its longest line, between 32 columns and 38%.
    let output_width =
        u16::try_from((timeline::output_width_wanted(model, release) + 2).clamp(32, w * 38 / 100))
            .unwrap_or(u16::MAX);
    let [timeline_area, output_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(output_width)]).areas(bottom);
    render_pane(frame, steps_area, model, Pane::Steps);
    render_pane(frame, detail_area, model, Pane::Detail);
    render_pane(frame, health_area, model, Pane::Health);
    render_pane(frame, metrics_area, model, Pane::Metrics);
    render_pane(frame, timeline_area, model, Pane::Timeline);
    render_pane(frame, output_area, model, Pane::Output);
}

/// A tab's mark when it holds a failure: a failed step, an endpoint down, a breach.
fn tab_mark(model: &Model, pane: Pane, states: &[probes::RowState]) -> &'static str {
    use crate::release::StepStatus;
    let Some(release) = &model.release else { return "" };
    let worst = states.iter().map(|s| s.severity).max();
    match pane {
        Pane::Steps
            if release
                .state
                .steps
                .iter()
                .any(|s| matches!(s.status, StepStatus::Failed | StepStatus::Interrupted)) =>
        {
            "✗"
        }
        Pane::Health
            if model
                .probes
                .health
                .iter()
                .any(|h| h.state == crate::tui::model::HealthState::Down) =>
        {
            "✗"
        }
        Pane::Metrics if worst == Some(probes::Severity::Breached) => "✗",
        Pane::Metrics if worst == Some(probes::Severity::Breaching) => "▲",
        _ => "",
    }
}

fn render_compact(frame: &mut Frame<'_>, body: Rect, model: &Model) {
    let states = probes::metric_states(model);
    let has_probes = !model.probes.health.is_empty() || !model.probes.metrics.is_empty();
    let [tabs_area, strip_area, main] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(has_probes)),
        Constraint::Min(1),
    ])
    .areas(body);
    let mut spans = Vec::new();
    for pane in Pane::ALL {
        let style = if pane == model.focus { theme::selected() } else { theme::dim() };
        let mark = tab_mark(model, pane, &states);
        spans.push(Span::styled(format!(" {}", pane.title()), style));
        if !mark.is_empty() {
            spans.push(Span::styled(
                mark,
                if mark == "✗" { theme::breach() } else { theme::warn() },
            ));
        }
        spans.push(Span::styled(" ", style));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled("Tab switches", theme::dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), tabs_area);
    if has_probes {
        probes::render_strip(frame, strip_area, model, &states);
    }
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
