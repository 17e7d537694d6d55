//! The footer (keys that apply here, from the one bindings table, and the status line) and the
//! overlays: help (the whole table), traffic history and prompts.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::{format, theme};
use crate::plan::Strategy;
use crate::release::{Status, format_clock};
use crate::tui::keymap::{Action, Context};
use crate::tui::model::{Model, Overlay, Pane, Tone};

/// The keys line and the status line.
pub fn render_footer(frame: &mut Frame<'_>, keys_area: Rect, status_area: Rect, model: &Model) {
    // Always shown last, so the way out and the way to every key never fall off.
    let pinned = [Action::Help, Action::Quit];
    let strategy = model.release.as_ref().map_or(Strategy::Traffic, |r| r.plan.strategy());
    let paused = model.live().is_some_and(|(r, _)| r.state.status == Status::Paused);
    let checklist_selected = model.release.as_ref().is_some_and(|r| {
        r.plan
            .flat_steps()
            .get(model.selected_step())
            .is_some_and(|s| matches!(s.step.kind, crate::plan::StepKind::Checklist { .. }))
    });
    // (rank, key, label, kept whatever the width): rank orders the line, most likely first.
    let mut entries: Vec<(u8, String, String, bool)> = Vec::new();
    for b in &model.keymap.bindings {
        let applies = match b.context {
            Context::Global => true,
            Context::Checklist => model.focus == Pane::Detail,
            Context::Timeline => model.focus == Pane::Timeline,
        };
        if b.footer.is_empty() || !applies || (model.read_only && b.action.acts()) {
            continue;
        }
        // Space ticks only the items of a checklist; `s` only where traffic shifts.
        if (b.action == Action::ToggleTick && !checklist_selected)
            || (b.action == Action::Shift && strategy != Strategy::Traffic)
        {
            continue;
        }
        // The acknowledge key only while a banner shows; `/` on the panes below the steps
        // (the steps pane's line is for the release's own keys; `?` lists `/` everywhere).
        let banner = !model.banners().is_empty();
        if (b.action == Action::Acknowledge && !banner)
            || (b.action == Action::Filter && matches!(model.focus, Pane::Steps | Pane::Detail))
        {
            continue;
        }
        // Only keys the engine would accept now: no approve at a checklist, no pause while
        // paused, nothing after the release ended.
        let command = model.key_command(b.action);
        if command.as_ref().is_some_and(|c| model.refusal_of(c).is_some()) {
            continue;
        }
        let mut label = b.footer.split_once(' ').map_or(b.footer, |(_, word)| word).to_owned();
        if b.action == Action::PauseResume && paused {
            label = "resume".into();
        }
        let key = b.keys.first().map_or_else(String::new, ToString::to_string);
        // The moment's commands first, then pause, then moving around; a possible rollback
        // is always on the line, just before help and quit.
        let rank = match b.action {
            a if pinned.contains(&a) => 4,
            Action::Rollback | Action::Acknowledge => 3,
            Action::Filter | Action::CommandLine => 2,
            Action::PauseResume if !paused => 1,
            _ if command.is_some() || b.action == Action::ToggleTick => 0,
            _ => 2,
        };
        entries.push((rank, key, label, rank >= 3));
    }
    entries.sort_by_key(|e| e.0);
    let width = usize::from(keys_area.width);
    let cost = |e: &(u8, String, String, bool)| e.1.chars().count() + e.2.chars().count() + 3;
    let mut budget = width.saturating_sub(entries.iter().filter(|e| e.3).map(cost).sum::<usize>());
    if model.read_only {
        budget = budget.saturating_sub(10);
    }
    let mut spans = Vec::new();
    for e in &entries {
        if !e.3 {
            if cost(e) > budget {
                continue;
            }
            budget -= cost(e);
        }
        spans.push(Span::styled(format!(" {}", e.1), theme::accent()));
        spans.push(Span::raw(format!(" {} ", e.2)));
    }
    if model.read_only {
        spans.push(Span::styled(" read-only", theme::warn()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), keys_area);
    let status = match (&model.pending, &model.status) {
        (Some(verb), _) => Line::styled(format!(" {verb}… (recording)"), theme::accent()),
        (None, Some(s)) => {
            let style = match s.tone {
                Tone::Info => theme::dim(),
                Tone::Ok => theme::ok(),
                Tone::Error => theme::breach(),
            };
            Line::styled(
                format!(
                    " {}",
                    format::fit(&s.text, usize::from(status_area.width).saturating_sub(2))
                ),
                style,
            )
        }
        (None, None) => Line::styled(" ready", theme::dim()),
    };
    frame.render_widget(Paragraph::new(status), status_area);
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    let [_, row, _] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(height), Constraint::Fill(1)])
            .areas(area);
    let [_, cell, _] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(width), Constraint::Fill(1)])
            .areas(row);
    cell
}

/// Whatever popup is open.
pub fn render_overlay(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    match &model.overlay {
        None => {}
        Some(Overlay::Help) => render_help(frame, area, model),
        Some(Overlay::TrafficHistory) => render_history(frame, area, model),
        Some(Overlay::Releases(list)) => render_releases(frame, area, list, model),
        Some(Overlay::Row(open)) => super::row::render_row(frame, area, model, open),
        Some(Overlay::Prompt(p)) => {
            let popup = centered(area, 72, u16::try_from(p.fields.len() * 2 + 5).unwrap_or(9));
            let mut lines =
                vec![Line::styled(format!(" {}", p.title), theme::breach()), Line::raw("")];
            for (i, f) in p.fields.iter().enumerate() {
                let active = i == p.active;
                let cursor = if active { "▏" } else { "" };
                lines.push(Line::styled(
                    format!(" {}:", f.label),
                    if active { theme::bold() } else { theme::dim() },
                ));
                lines.push(Line::raw(format!("   {}{cursor}", f.value)));
            }
            match &p.error {
                Some(e) => lines.push(Line::styled(format!(" {e}"), theme::breach())),
                None => lines.push(Line::styled(
                    " Enter confirms · Tab next field · Esc cancels",
                    theme::dim(),
                )),
            }
            frame.render_widget(Clear, popup);
            frame.render_widget(
                Paragraph::new(lines).block(Block::bordered().border_style(theme::warn())),
                popup,
            );
        }
    }
}

fn render_help(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    // The header and traffic bar (which environment, where traffic stands) and the footer
    // (the way out) stay visible around it.
    let top = if model.release.is_some() { 2 } else { 1 };
    let area = Rect { y: area.y + top, height: area.height.saturating_sub(top + 2), ..area };
    let strategy = model.release.as_ref().map_or(Strategy::Traffic, |r| r.plan.strategy());
    let mut entries = Vec::new();
    for b in &model.keymap.bindings {
        let Some(desc) = help_text(b.action, b.desc, strategy) else { continue };
        let mut keys: Vec<String> = b.keys.iter().map(ToString::to_string).collect();
        if keys.is_empty() {
            // Its key was given to another action under [keys].
            keys.push("(none)".into());
        }
        let context = match b.context {
            Context::Global => "",
            Context::Checklist => " (detail pane)",
            Context::Timeline => " (timeline)",
        };
        let disabled = if model.read_only && b.action.acts() { "  [read-only]" } else { "" };
        let style = if b.destructive { theme::warn() } else { Style::new() };
        entries.push((keys.join(" "), format!("{desc}{context}{disabled}"), style));
    }
    let one_column = u16::try_from(entries.len() + 2).unwrap_or(u16::MAX);
    if one_column > area.height && area.width >= 100 {
        render_help_two_columns(frame, area, &entries);
        return;
    }
    // One column, each description wrapped under itself; where it does not fit (80×24) it
    // scrolls.
    let popup_width = area.width.min(84);
    let inner_width = usize::from(popup_width.saturating_sub(2));
    let key_width = entries.iter().map(|e| e.0.chars().count()).max().unwrap_or(0).min(14);
    let desc_width = inner_width.saturating_sub(key_width + 2).max(8);
    let mut lines: Vec<Line<'static>> = Vec::new();
    for (keys, desc, style) in entries {
        for (i, text) in format::wrap(&desc, desc_width).into_iter().enumerate() {
            let keys = if i == 0 { format::fit(&keys, key_width) } else { String::new() };
            lines.push(Line::from(vec![
                Span::styled(format!(" {keys:<key_width$} "), theme::accent()),
                Span::styled(text, style),
            ]));
        }
    }
    let visible = usize::from(area.height.saturating_sub(2));
    let last_offset = lines.len().saturating_sub(visible);
    let offset = model.ui.help_scroll.min(last_offset);
    let scrolls = last_offset > 0;
    let title = if scrolls {
        format!(
            " Help: every key, {}-{} of {} (j/k scroll, any other key closes) ",
            offset + 1,
            (offset + visible).min(lines.len()),
            lines.len()
        )
    } else {
        " Help: every key (any key closes this) ".to_owned()
    };
    let block = Block::bordered().title(title).title_bottom(Line::styled(
        " keys can be remapped under [keys] in the config ",
        theme::dim(),
    ));
    let height = u16::try_from(lines.len().min(visible) + 2).unwrap_or(u16::MAX);
    let popup = centered(area, popup_width, height);
    let shown: Vec<Line<'static>> = lines.into_iter().skip(offset).take(visible).collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(shown).block(block), popup);
}

/// A key's line in the help for a plan of `strategy`: a rolling or swap plan has no traffic
/// to shift (its `s` is left out) and its `n` and `h` concern the deploy step.
fn help_text(action: Action, desc: &'static str, strategy: Strategy) -> Option<String> {
    let deploy = match strategy {
        Strategy::Traffic => return Some(desc.to_owned()),
        Strategy::Rolling => "rolling deploy",
        Strategy::Swap => "swap",
    };
    match action {
        Action::Shift => None,
        Action::Next => Some(format!(
            "{desc}; at the deploy step, start the {deploy} (all of production asks for the \
             service name)"
        )),
        Action::TrafficHistory => {
            Some(format!("show the deploy steps and where the {deploy} stands"))
        }
        _ => Some(desc.to_owned()),
    }
}

fn render_help_two_columns(frame: &mut Frame<'_>, area: Rect, entries: &[(String, String, Style)]) {
    let block = Block::bordered().title(" Help: every key (any key closes this) ").title_bottom(
        Line::styled(" keys can be remapped under [keys] in the config ", theme::dim()),
    );
    // Too short for one column but wide (120×40): two columns, descriptions wrapped under
    // themselves.
    let columns_in = |popup: Rect| {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(block.inner(popup));
        (left, right)
    };
    let (left, right) = columns_in(centered(area, 120, area.height));
    // Descriptions wrap under themselves while that fits; with more bindings than that
    // (the table grows), one line each, cut with `…`, so every key stays on screen.
    let column = |entries: &[(String, String, Style)], width: u16, wrap: bool| {
        let key_width = entries.iter().map(|e| e.0.chars().count()).max().unwrap_or(0);
        let desc_width = usize::from(width).saturating_sub(key_width + 2).max(8);
        let mut lines: Vec<Line<'static>> = Vec::new();
        for (keys, desc, style) in entries {
            let texts = if wrap {
                format::wrap(desc, desc_width)
            } else {
                vec![format::fit(desc, desc_width)]
            };
            for (i, text) in texts.into_iter().enumerate() {
                let keys = if i == 0 { keys.as_str() } else { "" };
                lines.push(Line::from(vec![
                    Span::styled(format!(" {keys:<key_width$} "), theme::accent()),
                    Span::styled(text, *style),
                ]));
            }
        }
        lines
    };
    // The split point that makes the taller column shortest.
    let split = |wrap: bool| {
        (0..=entries.len())
            .map(|k| {
                (column(&entries[..k], left.width, wrap), column(&entries[k..], right.width, wrap))
            })
            .min_by_key(|(a, b)| a.len().max(b.len()))
            .unwrap_or_default()
    };
    let (mut first, mut second) = split(true);
    if first.len().max(second.len()) > usize::from(left.height) {
        (first, second) = split(false);
    }
    // Still one row short (80×24): the title joins the note in the bottom border and the
    // top border goes, so every key stays on screen.
    let block = if first.len().max(second.len()) > usize::from(left.height) {
        Block::new().borders(Borders::LEFT | Borders::RIGHT | Borders::BOTTOM).title_bottom(
            Line::styled(" Help: every key (any key closes) · remap under [keys] ", theme::dim()),
        )
    } else {
        block
    };
    let columns_in = |popup: Rect| {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(block.inner(popup));
        (left, right)
    };
    // As tall as the longer column, no taller: the panes stay visible above and below.
    let rows = u16::try_from(first.len().max(second.len())).unwrap_or(u16::MAX);
    let popup = centered(area, 120, rows.saturating_add(2).min(area.height));
    let (left, right) = columns_in(popup);
    frame.render_widget(Clear, popup);
    frame.render_widget(block, popup);
    frame.render_widget(Paragraph::new(first), left);
    frame.render_widget(Paragraph::new(second), right);
}

fn render_history(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    if let Some(r) = model.release.as_ref().filter(|r| r.plan.strategy() != Strategy::Traffic) {
        let lines = super::production::deploy_history(r);
        let width = lines.iter().map(Line::width).max().unwrap_or(0) + 2;
        let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
        let popup = centered(area, u16::try_from(width).unwrap_or(u16::MAX), height);
        frame.render_widget(Clear, popup);
        frame
            .render_widget(Paragraph::new(lines).block(Block::bordered().title(" Deploy ")), popup);
        return;
    }
    let mut lines = vec![Line::styled(" Traffic history (any key closes)", theme::bold())];
    if let Some(r) = &model.release {
        if r.state.weight_history.is_empty() {
            lines.push(Line::styled(" no traffic shift yet: 0% on the new version", theme::dim()));
        }
        for w in &r.state.weight_history {
            lines.push(Line::raw(format!(
                " {}  {:>3}%  by {}",
                format_clock(w.at),
                w.weight,
                w.by.short()
            )));
        }
    }
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let popup = centered(area, 50, height);
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(" Traffic ")), popup);
}

fn render_releases(
    frame: &mut Frame<'_>,
    area: Rect,
    list: &crate::tui::model::ReleaseList,
    model: &Model,
) {
    let width = area.width.saturating_sub(4).min(110);
    let mut lines = vec![Line::styled(
        " Releases: ↑↓ choose · Enter opens (finished ones read-only) · Esc closes",
        theme::bold(),
    )];
    let height = usize::from(area.height.saturating_sub(6)).max(1);
    let offset = list.selected.saturating_sub(height.saturating_sub(1));
    for (i, r) in list.rows.iter().enumerate().skip(offset).take(height) {
        let duration = crate::release::format_elapsed(r.updated_at.millis_since(r.created_at));
        let text = format!(
            " #{:<4} {:<18} {:<10} {:<11} {} UTC  {}  {}",
            r.id,
            format::fit(&r.service, 18),
            format::fit(&r.version, 10),
            format::fit(&r.environment, 11),
            crate::release::format_date_time(r.created_at),
            duration,
            r.status.replace('_', " ")
        );
        let current = model.release.as_ref().is_some_and(|v| v.id == r.id);
        let mut style = if crate::tui::model::is_active(&r.status) {
            theme::accent()
        } else {
            ratatui::style::Style::new()
        };
        if i == list.selected {
            style = style.patch(theme::selected());
        }
        let marker = if current { "▸" } else { " " };
        lines.push(Line::styled(
            format!("{marker}{}", format::fit(&text, usize::from(width).saturating_sub(3))),
            style,
        ));
    }
    if list.rows.is_empty() {
        lines.push(Line::styled(" no releases", theme::dim()));
    }
    let popup_height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let popup = centered(area, width, popup_height);
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(" History ")), popup);
}
