//! The part of the report a manager reads in a minute: the outcome, who approved, each watched
//! series before → after (baseline, each traffic level, final, with units and a verdict
//! against its thresholds), the issues encountered with their times, and how long it took
//! from the first breach to the rollback and to traffic back on the stable version. Pure.

use serde::Serialize;

use super::Time;
use crate::plan::{
    AFTER_RELEASE_STEP, Bound, MetricProbe, Plan, StepKind, Strategy, Threshold, Thresholds,
};
use crate::release::{
    Event, EventRecord, Level, State, Status, Timestamp, unconfirmed_checkpoints,
};
use crate::store::SampleRow;

/// The first page of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// The outcome in words: `completed`, `rolled back automatically`, ...
    pub outcome: String,
    /// Who approved each gate: `Go/no-go: bob, carol`.
    pub approved_by: Vec<String>,
    /// One row per watched series.
    pub series: Vec<SeriesChange>,
    /// Why `series` is empty, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readings_note: Option<String>,
    /// Breaches, failed or interrupted actions, overrides, drifts, missed reviews, no-gos, pauses.
    pub issues: Vec<Issue>,
    /// The first threshold breach.
    pub first_breach_at: Option<Time>,
    /// From the first breach to the rollback being requested.
    pub breach_to_rollback_ms: Option<u64>,
    /// From the first breach to traffic at 0% on the new version (for rolling and swap
    /// releases: to the rollback's end).
    pub breach_to_stable_ms: Option<u64>,
}

/// One watched series before → after.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesChange {
    /// Metric id.
    pub series: String,
    /// The plan's unit (`ratio`, `s`, `ms`, ...).
    pub unit: String,
    /// Baseline captured before the first change (or the mean before traffic moved, or
    /// before the deploy started).
    pub baseline: Option<f64>,
    /// Mean at each traffic level the new version held, in order; for a paced rolling
    /// deploy, at each fraction it held for a bake.
    pub levels: Vec<LevelValue>,
    /// Rolling and swap releases: the mean from the deploy's end to the release's end (or
    /// its rollback): the new version alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<f64>,
    /// The last reading.
    pub last: Option<f64>,
    /// The thresholds as written: `warn > 0.01, abort > 0.02`.
    pub thresholds: String,
    /// `ok`, `warn` (past its warn limit), `breach` (past abort, or a breach recorded) or
    /// `no data`.
    pub verdict: String,
    /// Every reading's value, oldest first, for sparklines.
    pub values: Vec<f64>,
}

/// A series' mean while the new version held one traffic weight (or one fraction of a
/// paced rollout).
#[derive(Debug, Clone, Serialize)]
pub struct LevelValue {
    /// Percent to the new version (of traffic, or of instances).
    pub weight: u8,
    /// Mean of the readings; `None` without any.
    pub mean: Option<f64>,
    /// Readings it is the mean of.
    pub samples: u32,
}

/// Something that went wrong or needed a person.
#[derive(Debug, Clone, Serialize)]
pub struct Issue {
    /// When.
    pub at: Time,
    /// `breach`, `warning`, `action failed`, `action interrupted`, `override`, `drift`,
    /// `missed review`, `no-go`, `paused`, `rollback`.
    pub kind: String,
    /// What, in words.
    pub text: String,
}

/// Builds the overview.
pub fn build(
    plan: &Plan,
    state: &State,
    records: &[EventRecord],
    samples: &[SampleRow],
) -> Overview {
    let first_breach = records.iter().find_map(|r| match &r.event {
        Event::ThresholdBreached { breach, .. } if breach.level == Level::Abort => Some(r.at),
        _ => None,
    });
    let rollback_at = records.iter().find_map(|r| match r.event {
        Event::RollbackStarted { .. } => Some(r.at),
        _ => None,
    });
    // Traffic is back on the stable version at 0%; a deploy is undone when the rollback ends.
    let traffic = plan.strategy() == Strategy::Traffic;
    let stable_at = rollback_at.and_then(|from| {
        records.iter().find_map(|r| match r.event {
            Event::WeightSet { weight: 0 } if traffic && r.at >= from => Some(r.at),
            Event::RollbackFinished if !traffic => Some(r.at),
            _ => None,
        })
    });
    let series = series_changes(plan, state, records, samples);
    Overview {
        outcome: outcome(state),
        approved_by: approvals(plan, state),
        readings_note: series.is_empty().then(|| readings_note(plan, samples)).flatten(),
        series,
        issues: issues(plan, state, records),
        first_breach_at: first_breach.map(Time),
        breach_to_rollback_ms: first_breach.zip(rollback_at).map(|(b, r)| r.millis_since(b)),
        breach_to_stable_ms: first_breach.zip(stable_at).map(|(b, s)| s.millis_since(b)),
    }
}

fn outcome(state: &State) -> String {
    let automatic = state.rollback.as_ref().is_some_and(|r| r.automatic);
    // A rollback of a release that had completed (while it was watched) says so.
    let after = if state.completed_at.is_some() { " after completion" } else { "" };
    match state.status {
        Status::RolledBack if automatic => format!("rolled back automatically{after}"),
        Status::RolledBack => format!("rolled back by hand{after}"),
        Status::RollingBack => format!("rolling back{after}"),
        other => other.as_str().replace('_', " "),
    }
}

fn approvals(plan: &Plan, state: &State) -> Vec<String> {
    plan.flat_steps()
        .iter()
        .zip(&state.steps)
        .filter(|(r, _)| matches!(r.step.kind, StepKind::Gate { .. }))
        .map(|(r, s)| {
            let mut by: Vec<(&Timestamp, &String)> =
                s.approvals.iter().map(|(name, m)| (&m.at, name)).collect();
            by.sort();
            let names: Vec<&str> = by.iter().map(|(_, n)| n.as_str()).collect();
            let who = if names.is_empty() {
                s.skip_reason
                    .as_ref()
                    .map_or_else(|| "nobody".to_owned(), |why| format!("skipped ({why})"))
            } else {
                names.join(", ")
            };
            let given: Vec<String> =
                s.inputs.iter().map(|(id, (value, _))| format!("{id} {value}")).collect();
            if given.is_empty() {
                format!("{}: {who}", r.step.name)
            } else {
                format!("{}: {who} ({})", r.step.name, given.join(", "))
            }
        })
        .collect()
}

fn readings_note(plan: &Plan, samples: &[SampleRow]) -> Option<String> {
    Some(if plan.metrics.is_empty() {
        "The plan watches no metrics, so there is nothing to compare.".to_owned()
    } else if samples.is_empty() {
        "No readings were stored for this release: no cockpit, flightdeck supervise or \
         headless demo with its probes ran while it was live (or it was imported without them)."
            .to_owned()
    } else {
        "None of the plan's metrics has a stored reading (only health checks were recorded)."
            .to_owned()
    })
}

/// A threshold with its number in the metric's unit: `> 2%`, `> baseline × 1.5`.
fn threshold_text(t: &Threshold, unit: &str) -> String {
    match t.bound {
        Bound::Absolute(v) => format!("{} {}", t.operator(), with_unit(v, unit)),
        Bound::Baseline(_) | Bound::BaselinePlus(_) => t.to_string(),
    }
}

fn level_text(level: &Thresholds, unit: &str) -> String {
    level.iter().map(|t| threshold_text(t, unit)).collect::<Vec<_>>().join(" or ")
}

fn thresholds_text(metric: &MetricProbe) -> String {
    let mut parts = Vec::new();
    if let Some(w) = &metric.warn {
        parts.push(format!("warn {}", level_text(w, &metric.unit)));
    }
    if let Some(a) = &metric.abort {
        parts.push(format!("abort {}", level_text(a, &metric.unit)));
    }
    if parts.is_empty() { "—".to_owned() } else { parts.join(", ") }
}

fn past(level: Option<&Thresholds>, value: f64, baseline: Option<f64>) -> bool {
    level.is_some_and(|l| l.breached_by(value, baseline) == Some(true))
}

/// The spans the new version held one share of production: each traffic weight above 0%,
/// or each fraction a paced rollout stopped at for a bake (from the segment's end to the
/// next segment's start).
fn level_spans(plan: &Plan, state: &State) -> Vec<(u8, Timestamp, Option<Timestamp>)> {
    if plan.strategy() == Strategy::Traffic {
        let history = &state.weight_history;
        return history
            .iter()
            .enumerate()
            .filter(|(_, w)| w.weight > 0)
            .map(|(i, w)| (w.weight, w.at, history.get(i + 1).map(|n| n.at).or(state.ended_at)))
            .collect();
    }
    let deploys = plan.deploy_steps();
    deploys
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let StepKind::Deploy { target, .. } = r.step.kind else { return None };
            let from = state.steps[r.index].finished_at.filter(|_| target < 100)?;
            let next = deploys.get(i + 1).and_then(|n| state.steps[n.index].started_at);
            Some((target, from, next.or_else(|| super::production::after_change_until(state))))
        })
        .collect()
}

fn series_changes(
    plan: &Plan,
    state: &State,
    records: &[EventRecord],
    samples: &[SampleRow],
) -> Vec<SeriesChange> {
    let end = state.ended_at;
    let traffic = plan.strategy() == Strategy::Traffic;
    let (deploy_from, deploy_until) = crate::release::deploy_span(plan, state);
    // When production first changed: traffic first moved, or the deploy started.
    let first_change = if traffic {
        state.weight_history.iter().find(|w| w.weight > 0).map(|w| w.at)
    } else {
        deploy_from
    };
    let spans = level_spans(plan, state);
    plan.metrics
        .iter()
        .filter_map(|metric| {
            let rows: Vec<(Timestamp, f64)> = samples
                .iter()
                .filter(|s| s.series == metric.id)
                .filter_map(|s| s.value.filter(|v| v.is_finite()).map(|v| (s.at, v)))
                .collect();
            if rows.is_empty() {
                return None;
            }
            let mean_in = |from: Timestamp, until: Option<Timestamp>| {
                let inside: Vec<f64> = rows
                    .iter()
                    .filter(|(at, _)| *at >= from && until.is_none_or(|u| *at < u))
                    .map(|(_, v)| *v)
                    .collect();
                let n = inside.len();
                ((n > 0).then(|| inside.iter().sum::<f64>() / n as f64), n)
            };
            let baseline = state.baselines.get(&metric.id).copied().or_else(|| {
                let before = first_change.or(end).unwrap_or(Timestamp(i64::MAX));
                mean_in(Timestamp(i64::MIN), Some(before)).0
            });
            // One column per share the new version held, in the order it first held it.
            let mut levels: Vec<LevelValue> = Vec::new();
            for (weight, from, until) in &spans {
                let (mean, n) = mean_in(*from, *until);
                match levels.iter_mut().find(|l| l.weight == *weight) {
                    Some(level) => {
                        let total = level.samples as usize + n;
                        if total > 0 {
                            let sum = level.mean.unwrap_or(0.0) * f64::from(level.samples)
                                + mean.unwrap_or(0.0) * n as f64;
                            level.mean = Some(sum / total as f64);
                        }
                        level.samples = u32::try_from(total).unwrap_or(u32::MAX);
                    }
                    None => levels.push(LevelValue {
                        weight: *weight,
                        mean,
                        samples: u32::try_from(n).unwrap_or(u32::MAX),
                    }),
                }
            }
            let after = deploy_until
                .filter(|_| !traffic)
                .and_then(|from| mean_in(from, super::production::after_change_until(state)).0);
            let exposed: Vec<f64> = rows
                .iter()
                .filter(|(at, _)| first_change.is_some_and(|f| *at >= f))
                .map(|(_, v)| *v)
                .collect();
            let breached = records.iter().any(|r| {
                matches!(&r.event, Event::ThresholdBreached { breach, .. }
                    if breach.series == metric.id && breach.level == Level::Abort)
            });
            let verdict =
                if breached || exposed.iter().any(|v| past(metric.abort.as_ref(), *v, baseline)) {
                    "breach"
                } else if exposed.iter().any(|v| past(metric.warn.as_ref(), *v, baseline)) {
                    "warn"
                } else if exposed.is_empty() {
                    "no data"
                } else {
                    "ok"
                };
            Some(SeriesChange {
                series: metric.id.clone(),
                unit: metric.unit.clone(),
                baseline,
                levels,
                after,
                last: rows.last().map(|(_, v)| *v),
                thresholds: thresholds_text(metric),
                verdict: verdict.to_owned(),
                values: rows.iter().map(|(_, v)| *v).collect(),
            })
        })
        .collect()
}

fn issues(plan: &Plan, state: &State, records: &[EventRecord]) -> Vec<Issue> {
    let mut out = Vec::new();
    let mut push = |at: Timestamp, kind: &str, text: String| {
        out.push(Issue { at: Time(at), kind: kind.to_owned(), text });
    };
    for r in records {
        let who = r.actor.short();
        match &r.event {
            Event::ThresholdBreached { step, breach } => {
                let kind = if breach.level == Level::Abort { "breach" } else { "warning" };
                let when = if step == AFTER_RELEASE_STEP {
                    "after completion".to_owned()
                } else {
                    format!("during {step}")
                };
                push(
                    r.at,
                    kind,
                    format!("{} ({when})", breach.explain_in(plan.unit_of(&breach.series))),
                );
            }
            Event::ActionFailed { step, attempt, error, .. } => {
                push(r.at, "action failed", format!("{step} (run {attempt}): {error}"));
            }
            Event::ActionInterrupted { step, attempt, reason } => {
                push(r.at, "action interrupted", format!("{step} (run {attempt}): {reason}"));
            }
            Event::ActionResolved { step, succeeded, reason, .. } => {
                let how = if *succeeded { "succeeded" } else { "failed" };
                push(r.at, "resolved by hand", format!("{who} marked {step} {how}: {reason}"));
            }
            Event::BakeOverridden { step, reason, .. } => {
                push(
                    r.at,
                    "override",
                    format!("{who} passed {step} against its readings: {reason}"),
                );
            }
            Event::TrafficDrift { desired, actual, .. } if desired != actual => {
                push(
                    r.at,
                    "drift",
                    format!("traffic read back {actual}% where the record says {desired}%"),
                );
            }
            Event::GateDeclined { step, reason } => {
                push(r.at, "no-go", format!("{who} at {step}: {reason}"));
            }
            Event::Paused { reason } => push(r.at, "paused", format!("{who}: {reason}")),
            Event::GateTimedOut { .. } => push(r.at, "gate timed out", r.event.sentence()),
            Event::WindowsOverridden { windows, reason } => push(
                r.at,
                "window override",
                format!("{who} started despite {}: {reason}", windows.join(", ")),
            ),
            Event::RollbackStarted { reason, automatic, .. } => {
                let by = if *automatic { "flightdeck".to_owned() } else { who.to_owned() };
                push(r.at, "rollback", format!("requested by {by}: {reason}"));
            }
            Event::Aborted { reason } => push(r.at, "aborted", format!("{who}: {reason}")),
            _ => {}
        }
    }
    // A window that closed while the release ran (it never interrupts one): noted with when.
    if let (Some(info), false) = (&state.info, plan.windows.is_empty()) {
        let end = state.ended_at.or(records.last().map(|r| r.at)).unwrap_or(info.started_at);
        let overridden = records.iter().any(|r| matches!(r.event, Event::WindowsOverridden { .. }));
        if !overridden {
            if let Some((at, why)) = crate::plan::windows::first_closed(
                &plan.windows,
                info.release_type,
                info.started_at,
                end,
            ) {
                push(
                    at,
                    "outside window",
                    format!("still running when no release could start: {why}"),
                );
            }
        }
    }
    // A review checkpoint that came due while its bake ran and was never confirmed.
    for (r, s) in plan.flat_steps().iter().zip(&state.steps) {
        let StepKind::Bake { checkpoints, .. } = &r.step.kind else { continue };
        let (Some(started), Some(finished)) = (s.started_at, s.finished_at) else { continue };
        for cp in unconfirmed_checkpoints(checkpoints, s) {
            let due = started.plus_millis(u64::try_from(cp.as_millis()).unwrap_or(u64::MAX));
            if due < finished {
                push(
                    due,
                    "missed review",
                    format!(
                        "the review at {} into {} was never confirmed",
                        crate::plan::format_duration(cp),
                        r.step.id
                    ),
                );
            }
        }
    }
    out.sort_by_key(|i| i.at);
    out
}

/// A value in its unit, for people: ratios (and `%` series, fractions as in the cockpit) as
/// percentages, seconds below 1 s as
/// milliseconds: `0.12%`, `180 ms`, `1.2 s`, `45 req/s`.
pub fn with_unit(value: f64, unit: &str) -> String {
    let n = super::number;
    match unit {
        // As the cockpit and the threshold language read them: a `ratio` holds fractions
        // (0.003 is 0.3%), a `%` series percentages already.
        "ratio" | "fraction" => format!("{}%", short(value * 100.0)),
        "%" | "percent" | "pct" => format!("{}%", short(value)),
        "s" | "seconds" if value.abs() < 1.0 => format!("{} ms", short(value * 1000.0)),
        "s" | "seconds" => format!("{} s", short(value)),
        "ms" => format!("{} ms", short(value)),
        "" => n(value),
        other => format!("{} {other}", short(value)),
    }
}

/// Three significant digits, no trailing zeros.
fn short(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let digits = if v == 0.0 { 0 } else { (2 - v.abs().log10().floor() as i32).clamp(0, 4) };
    let text = format!("{v:.*}", digits as usize);
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    if text == "-0" { "0".into() } else { text }
}

/// `✓`, `!` or `✗` for a verdict.
pub fn mark(verdict: &str) -> &'static str {
    match verdict {
        "ok" => "✓",
        "warn" => "! warn",
        "breach" => "✗",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_in_their_units() {
        assert_eq!(with_unit(0.001, "ratio"), "0.1%");
        assert_eq!(with_unit(0.0015, "ratio"), "0.15%");
        assert_eq!(with_unit(0.18, "s"), "180 ms");
        assert_eq!(with_unit(0.172, "s"), "172 ms");
        assert_eq!(with_unit(1.234, "s"), "1.23 s");
        assert_eq!(with_unit(45.0, "req/s"), "45 req/s");
        assert_eq!(with_unit(182.0, "ms"), "182 ms");
        assert_eq!(with_unit(0.0, "ratio"), "0%");
        assert_eq!(with_unit(0.3, "%"), "0.3%");
    }
}
