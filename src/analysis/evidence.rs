//! Evidence for passing a bake, judged from stored probe readings, and the stable side a
//! relative threshold's baseline is read from. PURE: readings and `now` arrive as data.
//!
//! A bake passes on evidence only when, for every series it watches, readings cover its
//! whole duration (no gap longer than [`allowed_gap_ms`]) and none of them breached: a metric
//! never held its abort level (judged with the same [`super::evaluate`] as the live screen)
//! and its verdict at the end is conclusive; a health endpoint never reached `down_after`
//! failed checks in a row. A breach already recorded (and then resumed by a person) is not
//! judged again: the readings after it are.

use std::time::Duration;

use super::{Observed, Rules, Status, evaluate, number};
use crate::plan::{BaselineMode, MetricProbe, Plan, StepKind, format_duration};
use crate::release::{
    BakeEvidence, EvidenceStatus, Level, SeriesEvidence, State, StepStatus, Timestamp, format_clock,
};

/// Whether a stored row is a metric reading or a health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleKind {
    /// A `[[metrics]]` series: the value is the series' value.
    Metric,
    /// A `[[health]]` endpoint: the value is the round trip in milliseconds.
    Health,
}

impl SampleKind {
    /// The word stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Metric => "metric",
            Self::Health => "health",
        }
    }

    /// The kind of a stored word (anything but `health` is a metric).
    pub fn parse(text: &str) -> Self {
        if text == "health" { Self::Health } else { Self::Metric }
    }
}

/// One stored reading.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRow {
    /// The metric or health id (a `by_label` metric's stable side: [`stable_series_id`]).
    pub series: String,
    /// Metric or health.
    pub kind: SampleKind,
    /// When it was read.
    pub at: Timestamp,
    /// The value; `None` with no error means the source had no data.
    pub value: Option<f64>,
    /// Why the read failed.
    pub error: Option<String>,
}

/// The stored series id of a `by_label` metric's stable side: the previous version's series.
pub fn stable_series_id(metric: &str) -> String {
    format!("{metric}@stable")
}

/// The longest gap between two readings that still counts as watched: three intervals, and
/// at least five seconds (a scrape-computed rate skips its first read).
pub fn allowed_gap_ms(interval: Duration) -> u64 {
    let three = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX / 4).saturating_mul(3);
    three.max(5_000)
}

/// Where a metric's baseline is read from: the series id whose readings are the stable side,
/// and whether that is the metric itself (only valid before any traffic moved).
pub fn stable_source(metric: &MetricProbe) -> Option<String> {
    if metric.by_label().is_some() {
        return Some(stable_series_id(&metric.id));
    }
    metric.baseline_from.clone()
}

/// A baseline taken over a window that readings cover.
#[derive(Debug, Clone, PartialEq)]
pub struct Captured {
    /// The median.
    pub value: f64,
    /// Readings it rests on.
    pub samples: u32,
    /// The window.
    pub window_ms: u64,
}

/// The median of `samples` over the `window_ms` up to `now`, once readings (taken every
/// `interval`) cover that window: the oldest at most one interval after its start, no gap
/// inside longer than [`allowed_gap_ms`]. Otherwise how many milliseconds are left to wait
/// (`Err(0)`: readings have a gap, or stopped).
pub fn covered_baseline(
    samples: &[(Timestamp, f64)],
    now: Timestamp,
    window_ms: u64,
    interval: Duration,
) -> Result<Captured, u64> {
    let gap = i64::try_from(allowed_gap_ms(interval)).unwrap_or(i64::MAX);
    let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
    let from = now.0.saturating_sub(i64::try_from(window_ms).unwrap_or(i64::MAX));
    let inside: Vec<&(Timestamp, f64)> =
        samples.iter().filter(|(at, v)| v.is_finite() && at.0 >= from && *at <= now).collect();
    let Some(oldest) = inside.first() else { return Err(window_ms) };
    let late_start = oldest.0.0.saturating_sub(from);
    if late_start > interval_ms {
        return Err(u64::try_from(late_start).unwrap_or(0));
    }
    let holes = inside.windows(2).any(|w| w[1].0.0.saturating_sub(w[0].0.0) > gap);
    let newest = inside.last().map_or(from, |s| s.0.0);
    if holes || now.0.saturating_sub(newest) > gap {
        return Err(0);
    }
    let (value, count) = super::baseline(samples, now, window_ms).ok_or(window_ms)?;
    Ok(Captured { value, samples: count, window_ms })
}

/// The running bake at the cursor: its id, when it started and when its time is up.
fn running_bake<'a>(
    plan: &'a Plan,
    state: &State,
) -> Option<(&'a crate::plan::Step, Timestamp, Timestamp)> {
    let r = plan.flat_steps().get(state.cursor).copied()?;
    let s = state.steps.get(state.cursor)?;
    let StepKind::Bake { duration, .. } = &r.step.kind else { return None };
    if s.status != StepStatus::Running {
        return None;
    }
    let started = s.started_at?;
    let time_up = started.plus_millis(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
    Some((r.step, started, time_up))
}

/// Judges the stored readings of the running bake at `now`; `None` when no bake is running.
pub fn bake_evidence(
    plan: &Plan,
    state: &State,
    samples: &[SampleRow],
    now: Timestamp,
) -> Option<BakeEvidence> {
    let (step, started, time_up) = running_bake(plan, state)?;
    let StepKind::Bake { probes, .. } = &step.kind else { return None };
    let until = if now < time_up { now } else { time_up };
    let series = probes
        .iter()
        .map(|id| {
            // A breach recorded during this bake was seen and acted on (paused, then resumed
            // by a person): the readings after it are what is judged.
            let accepted_from = state
                .breaches
                .iter()
                .filter(|(st, b, _)| *st == step.id && b.series == *id && b.level == Level::Abort)
                .map(|(_, _, at)| *at)
                .max()
                .map_or(started, |at| if at > started { at } else { started });
            let rows: Vec<&SampleRow> = samples.iter().filter(|r| r.series == *id).collect();
            if let Some(m) = plan.metrics.iter().find(|m| m.id == *id) {
                metric_evidence(m, state, samples, &rows, started, accepted_from, until)
            } else if let Some(h) = plan.health.iter().find(|h| h.id == *id) {
                health_evidence(h, &rows, started, accepted_from, until)
            } else {
                SeriesEvidence {
                    series: id.clone(),
                    status: EvidenceStatus::Missing,
                    readings: 0,
                    detail: "not a probe of this plan".into(),
                }
            }
        })
        .collect();
    Some(BakeEvidence { step: step.id.clone(), judged_at: now, series })
}

/// Whether readings at `times` cover `from..=until` with no gap over `gap_ms`: `Err` says
/// where they do not.
fn coverage(
    times: &[Timestamp],
    from: Timestamp,
    until: Timestamp,
    gap_ms: u64,
) -> Result<(), String> {
    let Some(first) = times.first() else { return Err("no readings during the bake".into()) };
    if first.millis_since(from) > gap_ms && *first > from {
        return Err(format!("no readings from {} to {}", format_clock(from), format_clock(*first)));
    }
    for w in times.windows(2) {
        if w[1].millis_since(w[0]) > gap_ms {
            return Err(format!(
                "no readings from {} to {}",
                format_clock(w[0]),
                format_clock(w[1])
            ));
        }
    }
    let last = times.last().copied().unwrap_or(*first);
    if until.millis_since(last) > gap_ms && until > last {
        return Err(format!(
            "no readings after {} (the bake ran to {})",
            format_clock(last),
            format_clock(until)
        ));
    }
    Ok(())
}

fn span_words(from: Timestamp, until: Timestamp) -> String {
    format_duration(Duration::from_millis(until.millis_since(from)))
}

#[allow(clippy::too_many_arguments)]
fn metric_evidence(
    m: &MetricProbe,
    state: &State,
    all: &[SampleRow],
    rows: &[&SampleRow],
    started: Timestamp,
    accepted_from: Timestamp,
    until: Timestamp,
) -> SeriesEvidence {
    let gap = allowed_gap_ms(m.interval);
    let rules = Rules::of(m, false);
    // Readings from a little before the bake (a streak may have begun before it) to its end.
    let lead_ms = rules.for_ms.max(gap);
    let from = Timestamp(started.0.saturating_sub(i64::try_from(lead_ms).unwrap_or(i64::MAX)));
    let window: Vec<&&SampleRow> = rows.iter().filter(|r| r.at >= from && r.at <= until).collect();
    let good: Vec<Timestamp> = window
        .iter()
        .filter(|r| {
            r.error.is_none()
                && r.at >= Timestamp(started.0.saturating_sub(i64::try_from(gap).unwrap_or(0)))
        })
        .map(|r| r.at)
        .collect();
    let readings =
        u32::try_from(good.iter().filter(|at| **at >= started).count()).unwrap_or(u32::MAX);
    let evidence =
        |status, detail: String| SeriesEvidence { series: m.id.clone(), status, readings, detail };
    if let Err(why) = coverage(&good, started, until, gap) {
        return evidence(EvidenceStatus::Missing, why);
    }
    let stable: Vec<(Timestamp, f64)> = match (m.baseline_mode, stable_source(m)) {
        (BaselineMode::Live, Some(source)) => all
            .iter()
            .filter(|r| r.series == source && r.error.is_none())
            .filter_map(|r| r.value.map(|v| (r.at, v)))
            .collect(),
        _ => Vec::new(),
    };
    let window_ms = u64::try_from(m.baseline_window.as_millis()).unwrap_or(u64::MAX);
    let baseline_at = |at: Timestamp| match m.baseline_mode {
        BaselineMode::Before => state.baselines.get(&m.id).copied(),
        BaselineMode::Live => super::baseline(&stable, at, window_ms).map(|(v, _)| v),
    };
    let mut values: Vec<(Timestamp, f64)> = Vec::new();
    let mut no_data_since: Option<Timestamp> = None;
    let mut last_verdict = None;
    for r in &window {
        match (&r.error, r.value) {
            (Some(_), _) => continue,
            (None, Some(v)) if v.is_finite() => {
                values.push((r.at, v));
                no_data_since = None;
            }
            (None, _) => {
                no_data_since.get_or_insert(r.at);
            }
        }
        let observed = Observed { samples: &values, no_data_since };
        let verdict = evaluate(&rules, &observed, baseline_at(r.at), r.at);
        if r.at >= accepted_from {
            if let Some(held) = verdict.held.as_ref().filter(|h| h.level == Level::Abort) {
                return evidence(
                    EvidenceStatus::Fail,
                    format!(
                        "breached {} at {}: {}",
                        held.threshold,
                        format_clock(r.at),
                        verdict.explanation
                    ),
                );
            }
        }
        last_verdict = Some(verdict);
    }
    match last_verdict {
        Some(v) if !v.conclusive || v.status == Status::Inconclusive => evidence(
            EvidenceStatus::Fail,
            format!("{} at the end: {}", v.status.word(), v.explanation),
        ),
        Some(v) => {
            let newest = values.last().map_or_else(|| "no data".to_owned(), |(_, v)| number(*v));
            evidence(
                EvidenceStatus::Pass,
                format!(
                    "{readings} readings over {}, never past abort; newest {newest}{}",
                    span_words(started, until),
                    if v.status == Status::Warn { " (warn)" } else { "" }
                ),
            )
        }
        None => evidence(EvidenceStatus::Missing, "no readings during the bake".into()),
    }
}

fn health_evidence(
    h: &crate::plan::HealthProbe,
    rows: &[&SampleRow],
    started: Timestamp,
    accepted_from: Timestamp,
    until: Timestamp,
) -> SeriesEvidence {
    let gap = allowed_gap_ms(h.interval);
    let from = Timestamp(started.0.saturating_sub(i64::try_from(gap).unwrap_or(0)));
    let window: Vec<&&SampleRow> = rows.iter().filter(|r| r.at >= from && r.at <= until).collect();
    let times: Vec<Timestamp> = window.iter().map(|r| r.at).collect();
    let readings =
        u32::try_from(times.iter().filter(|at| **at >= started).count()).unwrap_or(u32::MAX);
    let evidence =
        |status, detail: String| SeriesEvidence { series: h.id.clone(), status, readings, detail };
    if let Err(why) = coverage(&times, started, until, gap) {
        return evidence(EvidenceStatus::Missing, why);
    }
    let mut in_row = 0u32;
    let mut failed = 0u32;
    let mut since = None;
    for r in window.iter().filter(|r| r.at >= accepted_from) {
        if r.error.is_some() {
            in_row += 1;
            failed += 1;
            since.get_or_insert(r.at);
            if in_row >= h.down_after {
                return evidence(
                    EvidenceStatus::Fail,
                    format!(
                        "down: {in_row} failed checks in a row from {} (last: {})",
                        since.map_or_else(String::new, format_clock),
                        r.error.clone().unwrap_or_default()
                    ),
                );
            }
        } else {
            in_row = 0;
            since = None;
        }
    }
    evidence(
        EvidenceStatus::Pass,
        format!(
            "{readings} checks over {}, {failed} failed, never down",
            span_words(started, until)
        ),
    )
}
