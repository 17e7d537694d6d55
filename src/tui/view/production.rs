//! The line under the header for plans that do not shift traffic: a rolling deploy's
//! progress as a bar of the updated share (`rolling 2/3 pods on 1.4.0`), or where a platform
//! swap stands (`swapped to 1.4.0 at 10:12`). Never a percentage nothing measured: the words
//! are `release::deployment`'s, the bar is the rollout's own fraction.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{format, theme};
use crate::release::{self, Deployment, StepStatus, format_clock};
use crate::tui::model::ReleaseView;

/// Fewer cells than this and the bar says nothing: the words carry it alone.
const MIN_BAR: usize = 8;

/// The rolling or swap line.
pub fn render_deployment(frame: &mut Frame<'_>, area: Rect, release: &ReleaseView) {
    let Some(info) = &release.state.info else { return };
    let previous = info.previous_version.as_deref().unwrap_or("");
    let deployment = release::deployment(&release.plan, &release.state);
    let width = usize::from(area.width);
    let line = match &deployment {
        Deployment::Rolling { rolled_back, running, finished_at, counts, fraction, .. } => {
            let style = if *rolled_back {
                theme::warn()
            } else if finished_at.is_some() {
                theme::ok()
            } else if *running {
                theme::accent()
            } else {
                Style::new()
            };
            // After a rollback the last reading no longer says where the pods are, and a
            // deploy running with nothing read yet is somewhere unknown: no bar for either.
            let unknown = *running && counts.is_none() && *fraction == 0.0;
            let bar = (!rolled_back && !unknown).then(|| deployment.fraction());
            rollout_line(previous, bar, &deployment.line(), style, width)
        }
        Deployment::Swap { swapped_at, swapping_since, rolled_back, .. } => {
            let said = deployment.line();
            let (text, style) = match (rolled_back, swapped_at, swapping_since) {
                (true, _, _) => (said, theme::warn()),
                (false, Some(_), _) if previous.is_empty() => (said, theme::ok()),
                (false, Some(_), _) => (format!("{said} (from {previous})"), theme::ok()),
                (false, None, since) if !previous.is_empty() => (
                    format!("{previous} serving · {said}"),
                    if since.is_some() { theme::accent() } else { Style::new() },
                ),
                (false, None, _) => (said, Style::new()),
            };
            Line::from(vec![Span::raw(" swap  "), Span::styled(text, style)])
        }
        // A traffic plan draws the traffic bar instead.
        Deployment::Traffic { .. } => Line::default(),
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// ` rollout  1.3.2 ███████░░░░ rolling 2/3 pods on 1.4.0`: the old version's share solid,
/// the new one's light, as the traffic bar draws them. Where the line is short of room the
/// previous version goes first, then the bar.
fn rollout_line(
    previous: &str,
    bar: Option<f64>,
    said: &str,
    style: Style,
    width: usize,
) -> Line<'static> {
    let right = format!(" {said}");
    let mut left = if previous.is_empty() {
        " rollout  ".to_owned()
    } else {
        format!(" rollout  {previous} ")
    };
    let room = |left: &str| width.saturating_sub(left.chars().count() + right.chars().count() + 1);
    if room(&left) < MIN_BAR {
        left = " rollout ".to_owned();
    }
    let bar_width = room(&left);
    let mut spans = vec![Span::raw(left)];
    if let Some(fraction) = bar.filter(|_| bar_width >= MIN_BAR) {
        let percent = (fraction.clamp(0.0, 1.0) * 100.0).round() as u8;
        let (solid, light) = format::split_bar(percent, bar_width);
        spans.push(Span::styled(solid, theme::dim()));
        spans.push(Span::styled(light, theme::accent()));
    }
    spans.push(Span::styled(right, style));
    Line::from(spans)
}

/// The `h` overlay of a rolling or swap plan: where production stands, then each deploy
/// step (one, or a paced deploy's segments) with its target and when it ran.
pub fn deploy_history(release: &ReleaseView) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::styled(" Deploy (any key closes)", theme::bold()),
        Line::raw(format!(" {}", release::deployment(&release.plan, &release.state).line())),
    ];
    let deploys = release.plan.deploy_steps();
    let name_width = deploys.iter().map(|d| d.step.name.chars().count()).max().unwrap_or(0);
    for d in deploys {
        let Some(s) = release.state.steps.get(d.index) else { continue };
        let target = match &d.step.kind {
            crate::plan::StepKind::Deploy { target, .. } => *target,
            _ => 100,
        };
        let when = match (s.status, s.started_at, s.finished_at) {
            (StepStatus::Done, Some(from), Some(to)) => {
                format!("{}–{}", format_clock(from), format_clock(to))
            }
            (StepStatus::Running, Some(from), _) => format!("since {}", format_clock(from)),
            (StepStatus::Pending | StepStatus::Waiting, _, _) => "not started".to_owned(),
            (status, _, _) => status.as_str().to_owned(),
        };
        lines.push(Line::raw(format!(
            " {} {:<name_width$}  to {target:>3}%  {when}",
            s.status.mark(),
            d.step.name
        )));
    }
    lines
}
