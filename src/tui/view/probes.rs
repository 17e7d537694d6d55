//! The health pane (one row per endpoint) and the metrics pane (one row per series), from
//! the probe board. Rows that have not reported say so; nothing is invented.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{format, pane_block, theme};
use crate::plan::{Bound, Thresholds, format_duration};
use crate::release::Timestamp;
use crate::tui::model::{HealthRow, HealthState, MetricRow, Verdict};
use crate::tui::model::{Model, Pane};

fn health_style(state: HealthState) -> Style {
    match state {
        HealthState::NotPolled => theme::nodata(),
        HealthState::Up => theme::ok(),
        HealthState::Flapping => theme::warn(),
        HealthState::Down => theme::breach(),
    }
}

/// How bad a row is now, worst last: what the compact strip and the tab marks summarise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The latest fresh value passes.
    Fine,
    /// Nothing read yet.
    NotPolled,
    /// No data, a failed read, a stale value, or no baseline to judge by: `?`.
    Unknown,
    /// Past the warn level (or counting toward it).
    Warn,
    /// Past the abort level, counting toward its `for`: `▲ breaching 12s/30s`.
    Breaching,
    /// Past the abort level for its `for`: `✗`.
    Breached,
}

impl Severity {
    fn style(self) -> Style {
        match self {
            Self::Fine => theme::ok(),
            Self::NotPolled | Self::Unknown => theme::nodata(),
            Self::Warn | Self::Breaching => theme::warn(),
            Self::Breached => theme::breach(),
        }
    }
}

/// What a metric row says now: its mark, the words after its name, how bad it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowState {
    /// `✓ ▲ ✗ ? ○`.
    pub mark: &'static str,
    /// `ok`, `breaching 12s/30s`, `BREACHED`, `no data 2m`, `read failed`.
    pub word: String,
    /// `STALE 40s` when the value shown is not a fresh reading.
    pub stale: Option<String>,
    /// For colour and the summaries.
    pub severity: Severity,
}

/// A reading older than this many probe intervals (and 30 s) is stale.
const STALE_AFTER_INTERVALS: u64 = 3;

/// How long the newest bad streak against `threshold` lasts, and its `for`: `(span, for)`,
/// when the newest value is past it (the engine's rule: first to last bad sample).
fn counting(row: &MetricRow, threshold: Option<&Thresholds>) -> Option<(u64, u64)> {
    let threshold = threshold?;
    let (last_at, _) = row.latest()?;
    let mut first = None;
    for (at, v) in row.samples.iter().rev() {
        if threshold.breached_by(*v, row.baseline) != Some(true) {
            break;
        }
        first = Some(*at);
    }
    Some((last_at.millis_since(first?), row.current_rules().for_ms))
}

fn span(ms: u64) -> String {
    format_duration(Duration::from_millis(ms))
}

/// A metric row's verdict now: `✓` only when the newest value is fresh and passes; `▲` the
/// moment it passes a level (counting toward its `for`); `✗` once breached; `?` when there
/// is nothing fresh to judge.
pub fn metric_state(row: &MetricRow, now: Timestamp, interval: Duration) -> RowState {
    let state = |mark, word: String, severity| RowState { mark, word, stale: None, severity };
    if let Some(since) = row.no_data_since {
        let word = format!("no data {}", format::short_age(now.millis_since(since)));
        return match row.verdict {
            Verdict::Fail => state("✗", word, Severity::Breached),
            Verdict::Warn => state("▲", word, Severity::Warn),
            _ => state("?", word, Severity::Unknown),
        };
    }
    let Some((latest_at, _)) = row.latest() else {
        return match (&row.error, row.last_read_at) {
            (Some(_), _) => state("?", "read failed".into(), Severity::Unknown),
            (None, None) => state("○", "not polled yet".into(), Severity::NotPolled),
            (None, Some(_)) => state("?", "inconclusive".into(), Severity::Unknown),
        };
    };
    let age = now.millis_since(latest_at);
    let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
    let stale_after = interval_ms.saturating_mul(STALE_AFTER_INTERVALS).max(30_000);
    let stale = (row.error.is_some() || age > stale_after)
        .then(|| format!("STALE {}", format::short_age(age)));
    let rules = row.current_rules();
    let mut out = match row.verdict {
        Verdict::Fail => state("✗", "BREACHED".into(), Severity::Breached),
        _ if counting(row, rules.abort.as_ref()).is_some() => {
            let (so_far, needed) = counting(row, rules.abort.as_ref()).unwrap_or_default();
            state("▲", format!("breaching {}/{}", span(so_far), span(needed)), Severity::Breaching)
        }
        Verdict::Warn => state("▲", "WARN".into(), Severity::Warn),
        _ if counting(row, rules.warn.as_ref()).is_some() => {
            let (so_far, needed) = counting(row, rules.warn.as_ref()).unwrap_or_default();
            state("▲", format!("warn {}/{}", span(so_far), span(needed)), Severity::Warn)
        }
        Verdict::Inconclusive | Verdict::NotPolled => {
            // A relative level with no baseline to apply it to says so in a word.
            let unjudged = rules
                .abort
                .as_ref()
                .or(rules.warn.as_ref())
                .is_some_and(|t| !t.judgeable(row.baseline));
            let word = if unjudged { "no baseline" } else { "inconclusive" };
            state("?", word.into(), Severity::Unknown)
        }
        Verdict::Pass if stale.is_some() => state("?", String::new(), Severity::Unknown),
        Verdict::Pass => state("✓", "ok".into(), Severity::Fine),
    };
    out.stale = stale;
    out
}

/// `STALE 40s` when a health row's last check is older than a few intervals (at least 30 s).
pub fn health_stale(row: &HealthRow, now: Timestamp, interval: Duration) -> Option<String> {
    let at = row.last.as_ref()?.at;
    let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
    let age = now.millis_since(at);
    (age > interval_ms.saturating_mul(STALE_AFTER_INTERVALS).max(30_000))
        .then(|| format!("STALE {}", format::short_age(age)))
}

/// The interval of the plan's metric `id` (probe rows and plan entries share ids).
fn metric_interval(model: &Model, id: &str) -> Duration {
    model
        .release
        .as_ref()
        .and_then(|r| r.plan.metrics.iter().find(|m| m.id == id))
        .map_or(Duration::from_secs(15), |m| m.interval)
}

fn health_interval(model: &Model, id: &str) -> Duration {
    model
        .release
        .as_ref()
        .and_then(|r| r.plan.health.iter().find(|h| h.id == id))
        .map_or(Duration::from_secs(10), |h| h.interval)
}

/// Every metric row's state now, in board order.
pub fn metric_states(model: &Model) -> Vec<RowState> {
    let now = model.display_now();
    model
        .probes
        .metrics
        .iter()
        .map(|row| metric_state(row, now, metric_interval(model, &row.id)))
        .collect()
}

/// A row's label: its display name when that fits in `width`, else its probe id (short and
/// unique), so two long names sharing a prefix never both show as `checkou…`.
fn label(name: &str, id: &str, width: usize) -> String {
    if name.chars().count() <= width { name.to_owned() } else { format::fit(id, width) }
}

/// The level a row is judged by and the value, in one unit; a relative threshold also as
/// the number it comes to with the baseline: `abort > 31.5% (baseline 21% × 1.5)`. A level
/// of several thresholds reads `abort > 500ms or > 31.5% (baseline 21% × 1.5)`.
fn value_and_limit(row: &MetricRow) -> (String, String) {
    let value = row.latest().map(|(_, v)| v);
    let level = row.abort.as_ref().map(|t| ("abort", t)).or(row.warn.as_ref().map(|t| ("warn", t)));
    let limits: Vec<Option<f64>> =
        level.map_or_else(Vec::new, |(_, l)| l.iter().map(|t| t.limit(row.baseline)).collect());
    let largest = limits.iter().flatten().fold(value.unwrap_or(0.0).abs(), |m, l| m.max(l.abs()));
    let units = format::Units::of(&row.unit, largest);
    let mut value_text = value.map_or_else(|| "—".to_owned(), |v| units.value(v));
    let Some((word, level)) = level else { return (value_text, String::new()) };
    let mut each = Vec::new();
    for (t, limit) in level.iter().zip(&limits) {
        let op = t.operator();
        let limit_text = match (value, limit) {
            (Some(v), Some(l)) => {
                // The value keeps the most digits any of its levels needs to tell them apart.
                let (v, l) = units.value_and_level(v, *l);
                if v.chars().count() > value_text.chars().count() {
                    value_text = v;
                }
                Some(l)
            }
            (None, Some(l)) => Some(units.level(*l)),
            (_, None) => None,
        };
        each.push(match (t.bound, row.baseline, limit_text) {
            (Bound::Baseline(f), Some(b), Some(l)) => {
                format!("{op} {l} (baseline {} × {f})", units.measured(b))
            }
            (Bound::BaselinePlus(x), Some(b), Some(l)) => {
                let sign = if x < 0.0 { '-' } else { '+' };
                format!("{op} {l} (baseline {} {sign} {})", units.measured(b), units.level(x.abs()))
            }
            (_, _, Some(l)) => format!("{op} {l}"),
            (_, _, None) => t.to_string(),
        });
    }
    (value_text, format!("{word} {}", each.join(" or ")))
}

/// Why the selected series' verdict is what it is, in the row's unit:
/// `why: breaching: value 8.50%, threshold > 5%, 3 samples over 20s, past abort for 20s of 1m`.
fn why_text(row: &MetricRow, state: &RowState) -> Option<String> {
    let verdict = row.analysis.as_ref()?;
    let e = &verdict.explanation;
    let largest = e.value.unwrap_or(0.0).abs().max(e.limit.unwrap_or(0.0).abs());
    let units = format::Units::of(&row.unit, largest);
    let word = match state.severity {
        Severity::Breaching => "breaching",
        _ => verdict.word(),
    };
    let mut parts = Vec::new();
    let (value, limit) = match (e.value, e.limit) {
        (Some(v), Some(l)) => {
            let (v, l) = units.value_and_level(v, l);
            (Some(v), Some(l))
        }
        (v, l) => (v.map(|v| units.value(v)), l.map(|l| units.level(l))),
    };
    if let Some(v) = value {
        parts.push(format!("value {v}"));
    }
    if let Some(t) = e.threshold {
        let op = t.operator();
        parts.push(match limit {
            Some(l) => format!("threshold {op} {l}"),
            None => format!("threshold {t}"),
        });
    }
    if let Some(b) = e.baseline {
        parts.push(format!("baseline {}", units.level(b)));
    }
    parts.push(format!(
        "{} sample{} over {}",
        e.samples,
        if e.samples == 1 { "" } else { "s" },
        span(e.window_ms)
    ));
    if let Some(note) = &e.note {
        parts.push(note.clone());
    }
    Some(format!("{word}: {}", parts.join(", ")))
}

/// `   why: fail: value 3.8%, threshold > 2%, ...`, broken after commas to fit `width`, each
/// continuation under the first word.
fn explanation_lines(explain: &str, width: usize) -> Vec<String> {
    format::wrap_hanging(&format!("   why: {explain}"), width, 8)
}

/// A pane title's note of its filter: ` /text`, or nothing.
fn filter_title(filter: &str) -> String {
    if filter.is_empty() { String::new() } else { format!(" /{filter}") }
}

/// The health pane.
pub fn render_health(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    let width = usize::from(area.width.saturating_sub(2));
    let now = model.display_now();
    let longest = model.probes.health.iter().map(|r| r.name.chars().count()).max().unwrap_or(0);
    let longest_id = model.probes.health.iter().map(|r| r.id.chars().count()).max().unwrap_or(0);
    // Names while the state, age and reason still fit; else ids (short and unique).
    let name_width = longest.min(width.saturating_sub(48)).max(longest_id.min(16)).max(4);
    let mut lines = Vec::new();
    let shown = model.health_rows();
    for (i, row) in model.probes.health.iter().enumerate().filter(|(i, _)| shown.contains(i)) {
        let (mark, word) = row.state.label();
        let stale = health_stale(row, now, health_interval(model, &row.id));
        // The age comes right after the state, before the details that may be cut.
        let (age, detail) = match &row.last {
            None => (String::new(), row.url.clone()),
            Some(r) => {
                let mut text = match (&r.error, r.status_code) {
                    (Some(e), _) => e.clone(),
                    (None, Some(code)) => format!("{code} {}ms", r.latency_ms),
                    (None, None) => format!("{}ms", r.latency_ms),
                };
                match (&row.version_mismatch, &r.version) {
                    (Some(m), _) => text.push_str(&format!(" VERSION {m}")),
                    (None, Some(v)) => {
                        text.push_str(&format!(" v{}", crate::release::bare_version(v)));
                    }
                    (None, None) => {}
                }
                let bad: Vec<String> = r
                    .checks
                    .iter()
                    .filter(|(_, v)| !matches!(v.as_str(), "ok" | "healthy" | "up" | "pass"))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                if !bad.is_empty() {
                    text.push_str(&format!(" [{}]", bad.join(" ")));
                }
                let age = stale
                    .clone()
                    .unwrap_or_else(|| format!("{:>3}", format::short_age(now.millis_since(r.at))));
                (age, text)
            }
        };
        let name = label(&row.name, &row.id, name_width);
        let word = if row.last.is_none() { word.to_owned() } else { format!("{word:<5} {age}") };
        let text = format!(" {mark} {name:<name_width$} {word} {detail}");
        let highlight = model.focus == Pane::Health && i == model.ui.health;
        let style = if highlight {
            health_style(row.state).patch(theme::selected())
        } else {
            health_style(row.state)
        };
        if highlight && text.chars().count() > width {
            // The selected row is shown whole, wrapped under its name.
            for line in format::wrap_hanging(&text, width, 3 + name_width + 1) {
                lines.push(Line::styled(line, style));
            }
        } else {
            lines.push(Line::styled(format::fit(&text, width), style));
        }
    }
    if lines.is_empty() {
        lines.push(Line::styled(" no health endpoints in the plan", theme::dim()));
    }
    let filter = filter_title(&model.ui.health_filter);
    frame
        .render_widget(Paragraph::new(lines).block(pane_block(model, Pane::Health, &filter)), area);
}

/// The widest a metrics row wants to be without its sparkline: the pane asks for this.
pub fn metrics_width(model: &Model) -> usize {
    metric_texts(model).iter().map(|t| t.chars().count()).max().unwrap_or(0)
}

/// The widest a health row wants to be.
pub fn health_width(model: &Model) -> usize {
    model
        .probes
        .health
        .iter()
        .map(|r| {
            let detail = r.last.as_ref().map_or(r.url.chars().count(), |l| {
                l.error.as_ref().map_or(20, |e| e.chars().count() + 4)
            });
            r.name.chars().count() + 16 + detail
        })
        .max()
        .unwrap_or(0)
}

/// Each metric row's text up to its sparkline, columns aligned.
fn metric_texts(model: &Model) -> Vec<String> {
    metric_texts_within(model, usize::MAX)
}

fn metric_texts_within(model: &Model, width: usize) -> Vec<String> {
    let states = metric_states(model);
    let rows = &model.probes.metrics;
    let words: Vec<String> = states
        .iter()
        .map(|s| match (&s.stale, s.word.is_empty()) {
            (Some(stale), true) => stale.clone(),
            (Some(stale), false) => format!("{} {stale}", s.word),
            (None, _) => s.word.clone(),
        })
        .collect();
    let numbers: Vec<(String, String)> = rows.iter().map(value_and_limit).collect();
    let word_width = words.iter().map(|w| w.chars().count()).max().unwrap_or(0);
    let value_width = numbers.iter().map(|(v, _)| v.chars().count()).max().unwrap_or(0);
    let limit_width = numbers.iter().map(|(_, l)| l.chars().count()).max().unwrap_or(0);
    // Names as long as the longest while the numbers still fit, else ids (short, unique).
    let longest = rows.iter().map(|r| r.name.chars().count()).max().unwrap_or(0);
    let longest_id = rows.iter().map(|r| r.id.chars().count()).max().unwrap_or(0);
    let name_width = longest
        .min(width.saturating_sub(word_width + value_width + limit_width + 8))
        .max(longest_id.min(16))
        .max(4);
    rows.iter()
        .zip(&states)
        .zip(words.iter().zip(&numbers))
        .map(|((row, state), (word, (value, limit)))| {
            let name = label(&row.name, &row.id, name_width);
            let mark = state.mark;
            // The verdict and STALE come right after the name, so a narrow pane cuts the
            // numbers, never the verdict.
            if row.samples.is_empty() {
                let error = row.error.as_ref().map_or(String::new(), |e| format!(": {e}"));
                return format!(" {mark} {name:<name_width$} {word}{error}  {limit}");
            }
            let error =
                row.error.as_ref().map_or(String::new(), |e| format!("  read failed: {e}"));
            let row = |limit: &str| {
                format!(
                    " {mark} {name:<name_width$} {word:<word_width$} {value:>value_width$}  {limit}{error}"
                )
            };
            // Short of room, a level drops its `abort`/`warn` word, then the row its column
            // padding, before anything is cut (a read error at the end may be cut).
            let fits = |text: &String| text.chars().count() - error.chars().count() <= width;
            let text = row(limit);
            if fits(&text) {
                return text;
            }
            let short = limit.split_once(' ').map_or(limit.as_str(), |(_, rest)| rest);
            let text = row(short);
            if fits(&text) {
                return text;
            }
            format!(" {mark} {name} {word} {value}  {short}{error}")
        })
        .collect()
}

/// The metrics pane.
pub fn render_metrics(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    let width = usize::from(area.width.saturating_sub(2));
    let states = metric_states(model);
    let texts = metric_texts_within(model, width);
    let mut lines = Vec::new();
    let shown = model.metric_rows();
    for (i, ((row, state), text)) in model
        .probes
        .metrics
        .iter()
        .zip(&states)
        .zip(texts)
        .enumerate()
        .filter(|(i, _)| shown.contains(i))
    {
        let values: Vec<f64> = row.samples.iter().map(|(_, v)| *v).collect();
        // The sparkline takes the room left at the end: it grows with the pane and never
        // pushes the threshold out of view.
        let room = width.saturating_sub(text.chars().count() + 2);
        let text = if room >= 4 && !values.is_empty() {
            format!("{text}  {}", format::sparkline(&values, room.min(60)))
        } else {
            text
        };
        let mut style = state.severity.style();
        let selected = model.focus == Pane::Metrics && i == model.ui.metric;
        if selected {
            style = style.patch(theme::selected());
        }
        lines.push(Line::styled(format::fit(&text, width), style));
        // The selected series says why its verdict is what it is.
        if let (true, Some(why)) = (selected, why_text(row, state)) {
            for line in explanation_lines(&why, width) {
                lines.push(Line::styled(line, theme::dim()));
            }
        }
    }
    if lines.is_empty() {
        lines.push(Line::styled(" no metrics in the plan", theme::dim()));
    }
    let filter = filter_title(&model.ui.metrics_filter);
    frame.render_widget(
        Paragraph::new(lines).block(pane_block(model, Pane::Metrics, &filter)),
        area,
    );
}

/// The compact layout's one-line summary, shown on every tab: the worst series first (its
/// verdict, value and level), then endpoints by state and series by mark.
pub fn render_strip(frame: &mut Frame<'_>, area: Rect, model: &Model, states: &[RowState]) {
    let mut spans = Vec::new();
    let worst = model
        .probes
        .metrics
        .iter()
        .zip(states)
        .filter(|(_, s)| s.severity >= Severity::Unknown || s.stale.is_some())
        .max_by_key(|(_, s)| (s.severity, s.stale.is_some()));
    if let Some((row, state)) = worst {
        let (value, limit) = value_and_limit(row);
        let limit = limit.split_once(' ').map_or(limit.clone(), |(_, l)| l.to_owned());
        let stale = state.stale.as_ref().map_or(String::new(), |s| format!(" {s}"));
        let word = if state.word.is_empty() { String::new() } else { format!(" {}", state.word) };
        spans.push(Span::styled(
            format!(" {} {}{word}{stale} {value} {limit} ·", state.mark, row.id),
            state.severity.style().patch(theme::bold()),
        ));
    }
    if !model.probes.health.is_empty() {
        spans.push(Span::styled(" health", theme::dim()));
        for (state, word) in [
            (HealthState::Down, "DOWN"),
            (HealthState::Flapping, "FLAKY"),
            (HealthState::Up, "UP"),
            (HealthState::NotPolled, "not polled"),
        ] {
            let n = model.probes.health.iter().filter(|h| h.state == state).count();
            if n > 0 {
                spans.push(Span::styled(format!(" {n} {word}"), health_style(state)));
            }
        }
    }
    if !states.is_empty() {
        spans.push(Span::styled(" · metrics", theme::dim()));
        for (severity, mark) in [
            (Severity::Breached, "✗"),
            (Severity::Breaching, "▲"),
            (Severity::Warn, "▲"),
            (Severity::Unknown, "?"),
            (Severity::NotPolled, "○"),
            (Severity::Fine, "✓"),
        ] {
            let n = states.iter().filter(|s| s.severity == severity).count();
            if n > 0 {
                spans.push(Span::styled(format!(" {n}{mark}"), severity.style()));
            }
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
