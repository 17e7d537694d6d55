//! The steps pane (every stage and step with a mark and progress) and the detail pane (the
//! selected step's items, approvals, action runs, bake timer).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::{format, pane_block, theme};
use crate::plan::{StepKind, format_duration};
use crate::release::{RunOutcome, Status, StepState, StepStatus, format_clock, format_hour_minute};
use crate::tui::model::{Model, Pane, ReleaseView};

/// Lines the steps pane wants: a header per stage, a line per step, and the rollback.
pub fn line_count(release: &ReleaseView) -> usize {
    let rollback = release.state.rollback.as_ref().map_or(0, |r| r.steps.len() + 1);
    release.plan.stages.len() + release.state.steps.len() + rollback
}

fn status_style(status: StepStatus) -> Style {
    match status {
        StepStatus::Done => theme::ok(),
        StepStatus::Running | StepStatus::Waiting => theme::accent(),
        StepStatus::Failed | StepStatus::Interrupted => theme::breach(),
        StepStatus::Skipped | StepStatus::Pending | StepStatus::Stopped => theme::dim(),
    }
}

/// Progress shown at the right of a step: `4/6`, `1/2 alice`, `04:12/10m`, `2m14s`.
fn progress(model: &Model, release: &ReleaseView, index: usize) -> String {
    let (Some(r), Some(s)) =
        (release.plan.flat_steps().get(index).copied(), release.state.steps.get(index))
    else {
        return String::new();
    };
    if let Some(left) = baseline_left(model, &r.step.id) {
        return format!("baseline {left}");
    }
    let release_type =
        release.state.info.as_ref().map_or(crate::plan::ReleaseType::Regular, |i| i.release_type);
    match &r.step.kind {
        StepKind::Checklist { items } => format!("{}/{}", s.ticks.len(), items.len()),
        StepKind::Gate { .. } => {
            if !s.declines.is_empty() {
                return "NO-GO".into();
            }
            let needed = release.plan.approvals_needed(r.step, release_type);
            let names: Vec<&str> = s.approvals.keys().map(String::as_str).collect();
            if names.is_empty() {
                format!("0/{needed}")
            } else {
                format!("{}/{needed} {}", names.len(), names.join(","))
            }
        }
        StepKind::Bake { duration, .. } => match (s.status, s.started_at) {
            (StepStatus::Running, Some(started)) => {
                format::bake_progress(model.display_now().millis_since(started), *duration)
            }
            // Where the bake was when the rollback or abort stopped it; the clock stands.
            (StepStatus::Stopped, Some(started)) => format!(
                "stopped {}",
                format::bake_progress(
                    s.finished_at.unwrap_or(started).millis_since(started),
                    *duration
                )
            ),
            _ => format_duration(*duration),
        },
        StepKind::Traffic { weight } => match s.status {
            StepStatus::Done => format!("{weight}% set"),
            _ => format!("→{weight}%"),
        },
        StepKind::Deploy { target, .. } => match s.status {
            // A swap is all at once: no share of anything to name.
            StepStatus::Waiting | StepStatus::Pending
                if release.plan.strategy() == crate::plan::Strategy::Swap =>
            {
                "swap".into()
            }
            StepStatus::Waiting | StepStatus::Pending => format!("→{target}%"),
            StepStatus::Running => {
                rollout_amount(release, &r.step.id).unwrap_or_else(|| run_summary(model, s))
            }
            _ => run_summary(model, s),
        },
        StepKind::Action { .. } => run_summary(model, s),
    }
}

/// The baseline countdown of `step` when it is the change waiting for its baseline:
/// `1m20s`, or `due` once its window has passed.
fn baseline_left(model: &Model, step: &str) -> Option<String> {
    let wait = model.baseline_wait().filter(|w| w.step == step)?;
    Some(if wait.left.is_zero() { "due".into() } else { format_duration(wait.left) })
}

/// How far a running deploy step's rollout is, as last read: `2/3 pods`, or `67%` when its
/// source gives only a fraction.
fn rollout_amount(release: &ReleaseView, step: &str) -> Option<String> {
    let rollout = release.state.rollout.as_ref().filter(|r| r.step == step)?;
    let unit = release.plan.step(step).and_then(|r| match &r.step.kind {
        StepKind::Deploy { progress: Some(p), .. } => Some(p.unit.clone()),
        _ => None,
    });
    Some(match (rollout.updated, rollout.desired) {
        (Some(n), Some(m)) => match unit {
            Some(unit) => format!("{n}/{m} {unit}"),
            None => format!("{n}/{m}"),
        },
        _ => format!("{}%", (rollout.fraction * 100.0).round()),
    })
}

/// The claim on a step as the steps pane shows it, `⚑alice 12m`: who and how long is left.
/// Lapsed claims, and claims on a finished release, are not shown. (`⚑` is a one-cell text
/// symbol; an emoji such as `✋` is two cells in most terminals and one in some, which would
/// shift the progress column.)
fn claim_tag(model: &Model, release: &ReleaseView, s: &StepState) -> Option<String> {
    if release.state.status.is_terminal() {
        return None;
    }
    let now = model.display_now();
    let c = s.live_claim(now)?;
    Some(format!(
        "⚑{} {}",
        format::fit(c.by.short(), 10),
        format::remaining(c.until.millis_since(now))
    ))
}

fn run_summary(model: &Model, s: &StepState) -> String {
    // A failed run that a person marked succeeded is done: `✓ … FAILED` would contradict.
    if let Some((_, true, _)) = s.last_run().and_then(|r| r.resolution.as_ref()) {
        return "marked ok".into();
    }
    match s.last_run().and_then(|r| r.outcome.as_ref().map(|o| (r, o))) {
        Some((_, RunOutcome::Succeeded { duration_ms, .. })) => {
            format_duration(std::time::Duration::from_millis(*duration_ms))
        }
        Some((_, RunOutcome::Failed { .. })) => "FAILED".into(),
        Some((_, RunOutcome::Interrupted { .. })) => "INTERRUPTED".into(),
        None => match s.running() {
            Some(run) => format::clock_span(model.display_now().millis_since(run.started.at)),
            None => String::new(),
        },
    }
}

fn row(
    mark: &str,
    name: &str,
    right: &str,
    width: usize,
    style: Style,
    selected: bool,
) -> Line<'static> {
    let name_width = width.saturating_sub(right.chars().count() + 5);
    let text = format!("  {mark} {:<name_width$} {right}", format::fit(name, name_width));
    let style = if selected { style.patch(theme::selected()) } else { style };
    Line::styled(format::fit(&text, width), style)
}

/// Whether no rollout step advances any more: the release ended, or it is rolling back.
fn rollout_over(release: &ReleaseView) -> bool {
    release.state.status.is_terminal() || release.state.status == Status::RollingBack
}

/// The steps pane.
pub fn render_steps(frame: &mut Frame<'_>, area: Rect, model: &Model, release: &ReleaseView) {
    let inner_width = usize::from(area.width.saturating_sub(2));
    let height = usize::from(area.height.saturating_sub(2));
    let rollback_selected = model.selected_rollback_step();
    let selected = if rollback_selected.is_some() { usize::MAX } else { model.selected_step() };
    let shown = model.step_rows();
    let mut lines = Vec::new();
    let mut selected_line = 0;
    let mut index = 0;
    for stage in &release.plan.stages {
        // A filter hides the steps it does not match, and stages left empty.
        if !(index..index + stage.steps.len()).any(|i| shown.contains(&i)) {
            index += stage.steps.len();
            continue;
        }
        let env = if stage.environment == release.plan.service.environment {
            String::new()
        } else {
            format!(" [{}]", stage.environment)
        };
        lines.push(Line::styled(
            format::fit(&format!(" {}{env}", stage.name), inner_width),
            theme::bold(),
        ));
        for step in &stage.steps {
            if !shown.contains(&index) {
                index += 1;
                continue;
            }
            let s = &release.state.steps[index];
            let mark = if s.status == StepStatus::Waiting && rollout_over(release) {
                "·"
            } else {
                s.status.mark()
            };
            let is_selected = index == selected;
            if is_selected {
                selected_line = lines.len();
            }
            let highlight = is_selected && model.focus == Pane::Steps;
            let name = if index == release.state.cursor && !rollout_over(release) {
                format!("{} ◀", step.name)
            } else {
                step.name.clone()
            };
            let progress = progress(model, release, index);
            let right = match claim_tag(model, release, s) {
                Some(tag) if progress.is_empty() => tag,
                Some(tag) => format!("{tag} {progress}"),
                None => progress,
            };
            lines.push(row(mark, &name, &right, inner_width, status_style(s.status), highlight));
            index += 1;
        }
    }
    if let Some(rb) = &release.state.rollback {
        let who =
            if rb.automatic { "automatic".to_owned() } else { rb.started.by.short().to_owned() };
        lines.push(Line::styled(format!(" Rollback ({who}): {}", rb.reason), theme::breach()));
        for (i, s) in rb.steps.iter().enumerate() {
            let right = run_summary(model, s);
            // The rollback's steps are selectable too (j, G, PgDn), and the one under way
            // is kept in view while the release follows its current step.
            let is_selected = rollback_selected == Some(i);
            if is_selected {
                selected_line = lines.len();
            }
            lines.push(row(
                s.status.mark(),
                &s.id,
                &right,
                inner_width,
                status_style(s.status),
                is_selected && model.focus == Pane::Steps,
            ));
        }
    }
    // The selected step with two lines under it: the next step stays in view even below a
    // stage header.
    let offset = selected_line
        .saturating_sub(height.saturating_sub(3))
        .min(lines.len().saturating_sub(height));
    let below = lines.len().saturating_sub(offset + height);
    // Nothing is cut off silently: the title says how many lines are out of view.
    let mut extra = String::new();
    if release.state.status == Status::Paused {
        extra.push_str(" PAUSED");
    }
    if !model.ui.steps_filter.is_empty() {
        extra.push_str(&format!(" /{}", model.ui.steps_filter));
    }
    if offset > 0 {
        extra.push_str(&format!(" ↑{offset}"));
    }
    if below > 0 {
        extra.push_str(&format!(" ↓{below} more"));
    }
    let block = pane_block(model, Pane::Steps, &extra);
    let visible: Vec<Line<'static>> = lines.into_iter().skip(offset).take(height).collect();
    frame.render_widget(Paragraph::new(visible).block(block), area);
}

/// The width the steps pane wants: its longest row whole.
pub fn width_wanted(model: &Model, release: &ReleaseView) -> usize {
    let mut widest = 0;
    for (index, r) in release.plan.flat_steps().iter().enumerate() {
        let name = r.step.name.chars().count() + 2;
        let right = progress(model, release, index).chars().count();
        let claim = release
            .state
            .steps
            .get(index)
            .and_then(|s| claim_tag(model, release, s))
            .map_or(0, |t| t.chars().count() + 1);
        widest = widest.max(4 + name + 1 + right + claim + 1);
        widest = widest.max(r.stage.name.chars().count() + 14);
    }
    widest
}

/// The width the detail pane wants: its longest line whole (long help text wraps anyway).
pub fn detail_width_wanted(model: &Model, release: &ReleaseView) -> usize {
    detail_lines(model, release, usize::MAX).iter().map(Line::width).max().unwrap_or(0)
}

/// The detail pane for the selected step. Long lines wrap under their own indent.
pub fn render_detail(frame: &mut Frame<'_>, area: Rect, model: &Model, release: &ReleaseView) {
    if let Some(i) = model.selected_rollback_step() {
        render_rollback_detail(frame, area, model, release, i);
        return;
    }
    let wrapped = detail_wrapped(model, release, usize::from(area.width.saturating_sub(2)));
    let block = pane_block(model, Pane::Detail, "");
    frame.render_widget(Paragraph::new(wrapped).block(block), area);
}

/// How many rows the detail pane's lines take at `width` columns inside its border.
pub fn detail_height_wanted(model: &Model, release: &ReleaseView, width: usize) -> usize {
    detail_wrapped(model, release, width).len()
}

/// The detail pane's lines wrapped to `width`, each continuation under its line's text.
fn detail_wrapped(model: &Model, release: &ReleaseView, width: usize) -> Vec<Line<'static>> {
    let mut wrapped = Vec::new();
    for line in detail_lines(model, release, width) {
        let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
        if text.chars().count() <= width {
            wrapped.push(line);
            continue;
        }
        // A hanging indent: the continuation starts under the line's text (past `✓ `, `#2 `).
        let lead = text.len() - text.trim_start_matches(' ').len();
        let rest = &text[lead..];
        let mut chars = rest.chars();
        let marked =
            matches!((chars.next(), chars.next()), (Some(c), Some(' ')) if !c.is_alphanumeric());
        let indent = lead
            + match rest {
                _ if marked => 2,
                _ if rest.starts_with("runbook: ") => 9,
                _ if rest.starts_with("probes: ") => 8,
                _ => 0,
            };
        // What an action runs is shown whole: the filled-in version is often at its end.
        let command = ["$ ", "GET ", "POST ", "PUT ", "PATCH ", "DELETE "]
            .iter()
            .any(|p| rest.starts_with(p));
        let parts = if command {
            format::wrap_hanging_whole(&text, width, indent)
        } else {
            format::wrap_hanging(&text, width, indent)
        };
        for part in parts {
            wrapped.push(Line::styled(part, line.style));
        }
    }
    wrapped
}

/// The detail pane's lines, unwrapped; `width` only decides how much of an unselected
/// checklist item is shown.
fn detail_lines(model: &Model, release: &ReleaseView, width: usize) -> Vec<Line<'static>> {
    let index = model.selected_step();
    let steps = release.plan.flat_steps();
    let (Some(r), Some(s)) = (steps.get(index), release.state.steps.get(index)) else {
        return Vec::new();
    };
    // The step current when the release ended was never reached, as the steps pane shows.
    let (mark, word, step_style) = if s.status == StepStatus::Waiting && rollout_over(release) {
        ("·", "not reached", status_style(StepStatus::Pending))
    } else {
        (s.status.mark(), s.status.as_str(), status_style(s.status))
    };
    let mut lines: Vec<Line<'static>> = vec![Line::styled(
        format!(" {mark} {} ({word})", r.step.name),
        step_style.patch(theme::bold()),
    )];
    push_claim(&mut lines, model, release, s);
    let release_type =
        release.state.info.as_ref().map_or(crate::plan::ReleaseType::Regular, |i| i.release_type);
    match &r.step.kind {
        StepKind::Checklist { items } => {
            for (i, item) in items.iter().enumerate() {
                let tick = s.ticks.get(&item.id);
                let mark = if tick.is_some() { "[x]" } else { "[ ]" };
                let who = tick.map_or(String::new(), |t| {
                    format!("  {} {}", t.by.short(), format_clock(t.at))
                });
                let highlight = model.focus == Pane::Detail && i == model.ui.item;
                let style = if tick.is_some() { theme::ok() } else { Style::new() };
                let style = if highlight { style.patch(theme::selected()) } else { style };
                // The selected item is shown in full (wrapped): it is the one being ticked.
                let text = if highlight {
                    item.text.clone()
                } else {
                    format::fit(&item.text, width.saturating_sub(6 + who.chars().count()))
                };
                lines.push(Line::styled(format!(" {mark} {text}{who}"), style));
                if highlight {
                    if let Some(help) = &item.help {
                        lines.push(Line::styled(format!("     {help}"), theme::dim()));
                    }
                    if let Some(link) = &item.runbook {
                        lines.push(Line::styled(format!("     runbook: {link}"), theme::dim()));
                    }
                }
            }
            if model.focus != Pane::Detail && s.status == StepStatus::Waiting && !model.read_only {
                lines.push(Line::styled(" Enter, then ↑↓ and Space to tick", theme::dim()));
            }
        }
        StepKind::Gate { min_wait, deadline, inputs, .. } => {
            let needed = release.plan.approvals_needed(r.step, release_type);
            lines.push(Line::raw(format!(
                " needs {needed} approval{} from different people",
                if needed == 1 { "" } else { "s" }
            )));
            if let StepKind::Gate { requires, .. } = &r.step.kind {
                if !requires.is_empty() {
                    let missing =
                        release.plan.roles_missing(r.step, s.approvals.keys().map(String::as_str));
                    let wanted: Vec<String> =
                        requires.iter().map(|(role, n)| format!("{n} {role}")).collect();
                    lines.push(Line::raw(format!(" roles: {}", wanted.join(" + "))));
                    for m in missing {
                        let who = release
                            .plan
                            .roles
                            .get(&m.role)
                            .map_or_else(String::new, |p| p.join(", "));
                        lines.push(Line::styled(format!(" {m} ({who})"), theme::warn()));
                    }
                }
            }
            if release.plan.policy.forbid_self_approval {
                let starter = release.state.info.as_ref().map_or("", |i| i.started_by.short());
                lines.push(Line::styled(
                    format!(" {starter} started the release and may not approve"),
                    theme::dim(),
                ));
            }
            if !min_wait.is_zero() {
                // The clock stops when the gate passes or the release ends.
                let until = s
                    .finished_at
                    .or(release.state.ended_at)
                    .or(release.state.rollback.as_ref().map(|r| r.started.at))
                    .unwrap_or_else(|| model.display_now());
                let open_for = s.current_since.map_or(0, |t| until.millis_since(t));
                let soak_ms = u64::try_from(min_wait.as_millis()).unwrap_or(u64::MAX);
                lines.push(Line::raw(if open_for < soak_ms && s.finished_at.is_none() {
                    format!(
                        " soak: may pass in {} (open at least {})",
                        format::clock_span(soak_ms - open_for),
                        format_duration(*min_wait)
                    )
                } else {
                    format!(
                        " open at least {} (open {})",
                        format_duration(*min_wait),
                        format::clock_span(open_for)
                    )
                }));
            }
            if let Some(d) = deadline {
                let decision = d.on_timeout.as_str();
                if let Some(at) = s.timed_out {
                    lines.push(Line::styled(
                        format!(
                            " ✗ no decision within {}: flightdeck decided {decision} at {}",
                            format_duration(d.timeout),
                            format_clock(at)
                        ),
                        theme::breach(),
                    ));
                } else if s.finished_at.is_none() {
                    let open_for =
                        s.current_since.map_or(0, |t| model.display_now().millis_since(t));
                    let timeout_ms = u64::try_from(d.timeout.as_millis()).unwrap_or(u64::MAX);
                    lines.push(Line::raw(format!(
                        " decide within {}, or flightdeck will {decision} (timeout {})",
                        format::clock_span(timeout_ms.saturating_sub(open_for)),
                        format_duration(d.timeout)
                    )));
                }
            }
            for input in inputs {
                lines.push(match s.inputs.get(&input.id) {
                    Some((value, m)) => Line::styled(
                        format!(
                            " ✓ {}: {value} ({}, {})",
                            input.prompt,
                            m.by.short(),
                            format_clock(m.at)
                        ),
                        theme::ok(),
                    ),
                    None => Line::raw(format!(" · {}: needed (a asks for it)", input.prompt)),
                });
            }
            for (name, m) in &s.approvals {
                lines.push(Line::styled(
                    format!(" ✓ {name} approved at {}", format_clock(m.at)),
                    theme::ok(),
                ));
            }
            for (name, d) in &s.declines {
                lines.push(Line::styled(
                    format!(" ✗ {name} said NO-GO at {}: {}", format_clock(d.mark.at), d.reason),
                    theme::breach(),
                ));
            }
            if s.status == StepStatus::Waiting && !model.read_only {
                lines.push(Line::styled(
                    " a approve · r revoke · d no-go · n pass the gate",
                    theme::dim(),
                ));
            }
        }
        StepKind::Action { action, .. } => {
            if let Some(spec) = release.plan.action(action) {
                let text = super::action_text::describe_action(
                    &spec.kind,
                    release,
                    &r.step.environment,
                    None,
                );
                lines.push(Line::styled(format!(" {text}"), theme::dim()));
                lines.push(Line::styled(
                    format!(" timeout {}", format_duration(spec.timeout)),
                    theme::dim(),
                ));
            }
            push_runs(&mut lines, model, s);
        }
        StepKind::Deploy { action, progress, target, .. } => {
            super::deploy_detail::push_deploy(
                &mut lines,
                model,
                release,
                (*r, s),
                (action, progress.as_ref(), *target),
            );
            push_runs(&mut lines, model, s);
        }
        StepKind::Traffic { weight } => {
            let provider = release.plan.traffic.as_ref().map_or("none", |t| t.set_action.as_str());
            lines.push(Line::raw(format!(" set {weight}% to the new version via {provider}")));
            lines.push(Line::styled(format!(" now {}%", release.state.weight), theme::dim()));
            super::deploy_detail::push_baseline(&mut lines, model, &r.step.id);
            if *weight == 100 {
                lines.push(Line::styled(" 100% asks you to type the service name", theme::warn()));
            }
            push_runs(&mut lines, model, s);
        }
        StepKind::Bake { duration, probes, on_breach, checkpoints } => {
            // A finished or stopped bake's clock stands where it ended.
            let until = s.finished_at.unwrap_or_else(|| model.display_now());
            let elapsed = s.started_at.map_or(0, |t| until.millis_since(t));
            lines.push(Line::raw(format!(
                " watch for {} ({})",
                format_duration(*duration),
                format::bake_progress(elapsed, *duration)
            )));
            // A bake cut short says what cut it, with the breach that did.
            if s.status == StepStatus::Stopped {
                let why = match &release.state.rollback {
                    Some(rb) => format!(" stopped by rollback: {}", rb.reason),
                    None => " stopped: the release ended before the bake did".to_owned(),
                };
                lines.push(Line::styled(why, theme::breach()));
            }
            lines.push(Line::raw(format!(" probes: {}", probes.join(", "))));
            lines.push(Line::styled(
                format!(" on an abort-level breach: {on_breach:?}").to_lowercase(),
                theme::dim(),
            ));
            let bake_over = elapsed >= u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
            for cp in checkpoints {
                let cp_ms = u64::try_from(cp.as_millis()).unwrap_or(u64::MAX);
                let confirmed = s.checkpoints.iter().find(|(at, _)| *at == cp_ms);
                let reached = s.started_at.is_some() && elapsed >= cp_ms;
                let (text, style) = match (confirmed, reached) {
                    (Some((_, m)), _) => (
                        format!(
                            " ✓ review at T+{} confirmed by {}",
                            format_duration(*cp),
                            m.by.short()
                        ),
                        theme::ok(),
                    ),
                    (None, true) if bake_over => (
                        format!(" ✗ review at T+{} MISSED: press c", format_duration(*cp)),
                        theme::breach(),
                    ),
                    (None, true) => (
                        format!(" ▲ review at T+{} DUE: press c", format_duration(*cp)),
                        theme::warn(),
                    ),
                    (None, false) => {
                        (format!(" ○ review at T+{}", format_duration(*cp)), theme::dim())
                    }
                };
                lines.push(Line::styled(text, style));
            }
        }
    }
    if let Some(help) = &r.step.help {
        lines.push(Line::styled(format!(" {help}"), theme::dim()));
    }
    if let Some(link) = &r.step.runbook {
        lines.push(Line::styled(format!(" runbook: {link}"), theme::dim()));
    }
    if let Some(reason) = &s.skip_reason {
        lines.push(Line::styled(format!(" skipped: {reason}"), theme::warn()));
    }
    lines
}

/// The detail pane for a step of the rollback procedure: why the rollback, what it runs,
/// its runs.
fn render_rollback_detail(
    frame: &mut Frame<'_>,
    area: Rect,
    model: &Model,
    release: &ReleaseView,
    i: usize,
) {
    let Some(rb) = &release.state.rollback else { return };
    let Some(s) = rb.steps.get(i) else { return };
    let who = if rb.automatic { "flightdeck, automatically" } else { rb.started.by.short() };
    let mut lines: Vec<Line<'static>> = vec![
        Line::styled(
            format!(" {} {} ({})", s.status.mark(), s.id, s.status.as_str()),
            status_style(s.status).patch(theme::bold()),
        ),
        Line::styled(format!(" rollback by {who}: {}", rb.reason), theme::breach()),
    ];
    push_runs(&mut lines, model, s);
    let block = pane_block(model, Pane::Detail, "");
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), area);
}

/// Who is on the selected step, until when, and what the keys do about it.
fn push_claim(lines: &mut Vec<Line<'static>>, model: &Model, release: &ReleaseView, s: &StepState) {
    let Some(c) = &s.claim else { return };
    if release.state.status.is_terminal() {
        return;
    }
    let now = model.display_now();
    let until = format_hour_minute(c.until);
    let why = c.reason.as_ref().map_or(String::new(), |r| format!(" · {r}"));
    if !c.is_live(now) {
        lines.push(Line::styled(
            format!(" {}'s claim lapsed at {until} UTC", c.by.short()),
            theme::dim(),
        ));
        return;
    }
    let mine = c.by.name == model.me.name;
    let who = if mine { "you".to_owned() } else { c.by.short().to_owned() };
    // Short lines: the detail pane is 38 columns wide at 120×40 and at 80×24.
    lines.push(Line::styled(
        format!(" ⚑ claimed by {who} until {until} UTC"),
        if mine { theme::accent() } else { theme::warn() },
    ));
    lines.push(Line::styled(
        format!("   {} left{}", format::remaining(c.until.millis_since(now)), why),
        theme::dim(),
    ));
    if model.read_only || model.replay.is_some() {
        return;
    }
    let keys = if mine {
        " w renews · W releases".to_owned()
    } else {
        format!(" only {who} advances it · w takes over")
    };
    lines.push(Line::styled(keys, theme::dim()));
}

fn push_runs(lines: &mut Vec<Line<'static>>, model: &Model, s: &StepState) {
    for run in &s.runs {
        let (text, style) = match &run.outcome {
            None => (
                format!(
                    "running for {}",
                    format::clock_span(model.display_now().millis_since(run.started.at))
                ),
                theme::accent(),
            ),
            Some(RunOutcome::Succeeded { duration_ms, exit_code, .. }) => (
                format!(
                    "succeeded in {}{}",
                    format_duration(std::time::Duration::from_millis(*duration_ms)),
                    exit_code.map_or(String::new(), |c| format!(" (exit {c})"))
                ),
                theme::ok(),
            ),
            Some(RunOutcome::Failed { error, .. }) => (format!("FAILED: {error}"), theme::breach()),
            Some(RunOutcome::Interrupted { reason, .. }) => {
                (format!("INTERRUPTED: {reason}"), theme::breach())
            }
        };
        lines.push(Line::styled(
            format!(
                " #{} by {} at {}: {text}",
                run.attempt,
                run.started.by.short(),
                format_clock(run.started.at)
            ),
            style,
        ));
        // What it passes on to later steps (`{outputs.STEP.NAME}`), as recorded.
        for (name, value) in &run.outputs {
            lines.push(Line::styled(format!("    output {name} = {value}"), theme::dim()));
        }
        if let Some((m, ok, reason)) = &run.resolution {
            let verdict = if *ok { "succeeded" } else { "failed" };
            lines.push(Line::styled(
                format!("    marked {verdict} by {}: {reason}", m.by.short()),
                theme::warn(),
            ));
        }
    }
    if model.read_only {
        return;
    }
    match s.status {
        StepStatus::Failed => {
            lines.push(Line::styled(" t retry · m mark succeeded · R roll back", theme::warn()))
        }
        StepStatus::Interrupted => lines.push(Line::styled(
            " may or may not have run: t retry · m succeeded · f failed · R roll back",
            theme::warn(),
        )),
        // The first change step cannot start before its baseline is in (said just above).
        StepStatus::Waiting if model.baseline_wait().is_some_and(|w| w.step == s.id) => {
            lines.push(Line::styled(" n runs it once the baseline is in", theme::dim()));
        }
        StepStatus::Waiting => lines.push(Line::styled(" n runs it", theme::dim())),
        _ => {}
    }
}
