//! The header (what, where, which state, how long, who) and the traffic bar.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{format, theme};
use crate::plan::{Plan, Strategy};
use crate::release::{self, Status, WatchState, format_elapsed};
use crate::tui::model::{Model, ReleaseView};

/// The status word and its style.
pub fn status_badge(status: Status) -> (&'static str, Style) {
    match status {
        Status::Planned => ("PLANNED", theme::dim()),
        Status::Running => ("RUNNING", theme::accent()),
        Status::Paused => ("PAUSED", theme::warn()),
        Status::RollingBack => ("ROLLING BACK", theme::breach()),
        Status::Completed => ("COMPLETED", theme::ok()),
        Status::RolledBack => ("ROLLED BACK", theme::warn()),
        Status::Aborted => ("ABORTED", theme::warn()),
    }
}

/// The top line.
pub fn render_header(frame: &mut Frame<'_>, area: Rect, model: &Model, release: &ReleaseView) {
    let state = &release.state;
    let Some(info) = &state.info else { return };
    let production = Plan::is_production(&info.environment);
    let (status, status_style) = status_badge(state.status);
    let status = match watch_text(model, release) {
        Some(watch) => format!("{status} · {watch}"),
        None => status.to_owned(),
    };
    let elapsed = state.ended_at.unwrap_or(model.display_now()).millis_since(info.started_at);
    let stage = release
        .plan
        .flat_steps()
        .get(state.cursor)
        .filter(|_| !state.status.is_terminal())
        .map(|s| s.stage.name.clone());
    // (drop order, span): 0 is never dropped; when the line is too wide, the highest number
    // goes first, so the environment, the status and READ-ONLY always stay in view.
    let mut spans = vec![
        (5, Span::styled(" flightdeck ", theme::accent())),
        (0, Span::styled(format!(" {} {} → ", info.service, info.version), theme::bold())),
        (
            0,
            Span::styled(
                format!(" {} ", info.environment.to_uppercase()),
                theme::environment(production),
            ),
        ),
        (0, Span::raw(" ")),
        (0, Span::styled(status, status_style)),
        (1, Span::raw(format!("  T+{}", format_elapsed(elapsed)))),
        (2, Span::styled(format!("  {}", release_type_text(release, info)), theme::dim())),
    ];
    if let Some(stage) = stage {
        spans.push((3, Span::raw(format!("  {stage}"))));
    }
    // Typed gate inputs given so far (a change ticket), when short enough to read at a glance.
    let given: Vec<String> = state
        .steps
        .iter()
        .flat_map(|s| s.inputs.iter())
        .filter(|(_, (value, _))| value.chars().count() <= 24)
        .map(|(id, (value, _))| format!("{id} {value}"))
        .collect();
    if !given.is_empty() {
        spans.push((3, Span::styled(format!("  {}", given.join(", ")), theme::dim())));
    }
    // A window that closed never interrupts the release; the header says it runs on past it.
    if !state.status.is_terminal() {
        let now = model.display_now();
        let rules = &release.plan.windows;
        if let Some(since) =
            crate::plan::windows::closed_since(rules, info.release_type, info.started_at, now)
        {
            let at = crate::release::format_hour_minute(since);
            spans.push((2, Span::styled(format!("  outside window since {at}"), theme::warn())));
        }
    }
    spans.push((4, Span::styled(format!("  you: {}", model.me.short()), theme::dim())));
    if model.read_only || model.viewing_past {
        spans.push((0, Span::styled("  READ-ONLY", theme::warn())));
    }
    if let Some(lease) = &model.lease {
        let handing = match lease.offered_to.as_deref() {
            None => "",
            Some(_) if lease.held_by(&model.me) => " handing over",
            Some(to) if to == model.me.name => " → you",
            Some(_) => " (handing over)",
        };
        // Never "driven by alice@vm" to alice@vm: this process, or another of hers.
        let text = if lease.held_by(&model.me) {
            if handing.is_empty() {
                "  you drive".to_owned()
            } else {
                format!("  you drive,{handing}")
            }
        } else if lease.operator == model.me.name && lease.host == model.me.host {
            format!("  driven by your pid {}{handing}", lease.pid)
        } else {
            format!("  driven by {}@{}{handing}", lease.operator, lease.host)
        };
        if lease.held_by(&model.me) && lease.offered_to.is_none() {
            // Driving yourself is the usual case: said quietly, given up first for room.
            spans.push((4, Span::styled(text, theme::dim())));
        } else {
            // Who drives matters more than the release type or the stage, even at 80 columns.
            spans.push((1, Span::styled(text, theme::warn())));
        }
    }
    if !model.others.is_empty() {
        let names: Vec<String> =
            model.others.iter().map(crate::tui::model::Presence::label).collect();
        // The count outlives the names when the line is short of room.
        spans.push((3, Span::styled(format!("  +{} watching", names.len()), theme::dim())));
        spans.push((6, Span::styled(format!(": {}", names.join(", ")), theme::dim())));
    }
    if let Some(replay) = &model.replay {
        // Replay replaces the clock and stage with where in the history the panes stand.
        let at = replay.records.get(replay.position.saturating_sub(1)).map(|r| r.at);
        let clock = at.map_or_else(String::new, crate::release::format_clock);
        spans.retain(|(p, _)| *p == 0);
        spans.insert(
            0,
            (
                0,
                Span::styled(
                    format!(" REPLAY {}/{} {clock} ", replay.position, replay.records.len()),
                    theme::environment(false),
                ),
            ),
        );
        spans.push((1, Span::styled("  ←/→ move · v live", theme::dim())));
    }
    let width = usize::from(area.width);
    while spans.iter().map(|(_, s)| s.width()).sum::<usize>() > width {
        let Some(drop) = spans.iter().map(|(p, _)| *p).max().filter(|p| *p > 0) else { break };
        spans.retain(|(p, _)| *p != drop);
    }
    let spans: Vec<Span<'_>> = spans.into_iter().map(|(_, s)| s).collect();
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// How the watch after completion stands: `watching 23h12m left`, `closed`; `None` without
/// a `[watch]` or before completion.
fn watch_text(model: &Model, release: &ReleaseView) -> Option<String> {
    match release::watch_state(&release.plan, &release.state, model.display_now()) {
        WatchState::None => None,
        WatchState::Watching { left } => {
            Some(format!("watching {} left", crate::plan::format_duration(round_to_minute(left))))
        }
        WatchState::Ended { .. } => Some("closed".into()),
    }
}

/// Hours and minutes are what a day-long window is read in: `23h12m`, never `23h12m07s`.
fn round_to_minute(left: std::time::Duration) -> std::time::Duration {
    let secs = left.as_secs();
    if secs < 60 { left } else { std::time::Duration::from_secs(secs - secs % 60) }
}

/// The line under the header: where production stands in the plan's strategy (the traffic
/// bar, a rollout's progress, a swap).
pub fn render_production(frame: &mut Frame<'_>, area: Rect, release: &ReleaseView) {
    match release.plan.strategy() {
        Strategy::Traffic => render_traffic(frame, area, release),
        Strategy::Rolling | Strategy::Swap => {
            super::production::render_deployment(frame, area, release);
        }
    }
}

/// The traffic bar: stable and new version with the weight set, and what the provider
/// reports instead when a read-back disagreed (desired vs actual).
fn render_traffic(frame: &mut Frame<'_>, area: Rect, release: &ReleaseView) {
    let state = &release.state;
    let Some(info) = &state.info else { return };
    let (stable, canary) = release
        .plan
        .traffic
        .as_ref()
        .map_or(("stable", "new"), |t| (t.stable_label.as_str(), t.canary_label.as_str()));
    let previous = info.previous_version.as_deref().unwrap_or("");
    let weight = state.weight;
    let left = format!(" traffic  {stable} {previous} ");
    let right = format!(" {} | {} {canary} {}", 100 - weight, weight, info.version);
    // The long form where it leaves the bar room, else what matters: what the provider says.
    let room = usize::from(area.width).saturating_sub(left.chars().count() + right.chars().count());
    let drift = state.drift.as_ref().map(|d| {
        let long = format!("  DRIFT: wanted {}%, {} reads {}%", d.desired, d.source, d.actual);
        if room.saturating_sub(long.chars().count()) >= 12 {
            long
        } else {
            format!("  DRIFT: reads {}%", d.actual)
        }
    });
    let drift_width = drift.as_ref().map_or(0, |d| d.chars().count());
    let bar_width = usize::from(area.width)
        .saturating_sub(left.chars().count() + right.chars().count() + drift_width + 1)
        .max(4);
    let (solid, light) = format::split_bar(weight, bar_width);
    let mut spans = vec![
        Span::raw(left),
        Span::styled(solid, theme::dim()),
        Span::styled(light, theme::accent()),
        Span::raw(right),
    ];
    if let Some(drift) = drift {
        spans.push(Span::styled(drift, theme::breach()));
    }
    let line = Line::from(spans);
    frame.render_widget(Paragraph::new(line), area);
}

/// The release type, with the stages it goes without (decided at start): the only way past a
/// gate without its approvals, so it is always on screen.
fn release_type_text(release: &ReleaseView, info: &crate::release::ReleaseInfo) -> String {
    match release.plan.release_types.get(&info.release_type) {
        Some(p) if !p.skip_stages.is_empty() => {
            format!("{} skips {}", info.release_type, p.skip_stages.join(","))
        }
        _ => info.release_type.to_string(),
    }
}
