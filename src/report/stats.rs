//! Figures across releases (`flightdeck stats`): releases per week, change failure rate,
//! lead time, time to restore, automatic against manual rollbacks and overrides — computed
//! from the recorded events alone. Pure: the caller loads the events and says what "now" is.

use serde::Serialize;

use crate::release::{Event, EventRecord, Level, Timestamp, format_date_time};

const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;

/// One release's identity and its events, oldest first.
#[derive(Debug, Clone)]
pub struct History {
    /// Store-wide id.
    pub id: i64,
    /// Service name.
    pub service: String,
    /// Target environment.
    pub environment: String,
    /// Version released.
    pub version: String,
    /// Every event, in seq order.
    pub events: Vec<EventRecord>,
}

/// How one release ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Every step done.
    Completed,
    /// The rollback procedure finished.
    RolledBack,
    /// Abandoned before traffic moved.
    Aborted,
    /// Still running, paused or rolling back.
    InProgress,
}

impl Ending {
    /// The word shown in tables.
    pub fn word(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::RolledBack => "rolled back",
            Self::Aborted => "aborted",
            Self::InProgress => "in progress",
        }
    }
}

/// What the figures say about one release.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseFigures {
    /// Store-wide id.
    pub id: i64,
    /// Service name.
    pub service: String,
    /// Target environment.
    pub environment: String,
    /// Version released.
    pub version: String,
    /// When it started (Unix ms).
    pub started_ms: i64,
    /// How it ended.
    pub ending: Ending,
    /// Start → completed, for completed releases.
    pub lead_time_ms: Option<u64>,
    /// First breach (or, with none, the rollback request) → traffic back on the stable
    /// version, for rolled-back releases.
    pub time_to_restore_ms: Option<u64>,
    /// Whether flightdeck started the rollback by itself (`None` without a rollback).
    pub automatic_rollback: Option<bool>,
    /// Bakes passed against their readings by a person, and starts that overrode the
    /// release windows.
    pub overrides: u32,
}

/// One week's bar.
#[derive(Debug, Clone, Serialize)]
pub struct Week {
    /// The Monday it starts on, `YYYY-MM-DD` (UTC).
    pub starts: String,
    /// Releases started that week.
    pub releases: u32,
    /// Of them, rolled back.
    pub rolled_back: u32,
}

/// Median and 90th percentile (nearest rank) of some durations.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Spread {
    /// How many durations.
    pub count: usize,
    /// Median (nearest rank).
    pub median_ms: u64,
    /// 90th percentile (nearest rank).
    pub p90_ms: u64,
}

/// Every figure `flightdeck stats` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Only this service, if asked.
    pub service: Option<String>,
    /// Only this environment, if asked.
    pub environment: Option<String>,
    /// Releases started from here (`YYYY-MM-DD HH:MM:SS UTC`) ...
    pub since: String,
    /// ... until here.
    pub until: String,
    /// Releases started in the span.
    pub releases: usize,
    /// Of them, completed.
    pub completed: usize,
    /// Rolled back.
    pub rolled_back: usize,
    /// Aborted before traffic moved.
    pub aborted: usize,
    /// Not finished yet.
    pub in_progress: usize,
    /// Rolled back ÷ finished (completed or rolled back); `None` with none finished.
    pub change_failure_rate: Option<f64>,
    /// Start → completed.
    pub lead_time: Option<Spread>,
    /// First breach → traffic at stable.
    pub time_to_restore: Option<Spread>,
    /// Rollbacks flightdeck started on a breach.
    pub automatic_rollbacks: usize,
    /// Rollbacks a person asked for.
    pub manual_rollbacks: usize,
    /// Bakes passed against their readings, and starts that overrode the release windows.
    pub overrides: u32,
    /// Mean releases per week over the span.
    pub releases_per_week: f64,
    /// One bar per week (Monday to Sunday, UTC), oldest first.
    pub weeks: Vec<Week>,
    /// Per release, oldest first.
    pub per_release: Vec<ReleaseFigures>,
}

/// Which releases count.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this service.
    pub service: Option<String>,
    /// Only this environment.
    pub environment: Option<String>,
}

/// The figures of one release.
pub fn figures(history: &History) -> Option<ReleaseFigures> {
    let first = history.events.first()?;
    let started = first.at;
    let mut ending = Ending::InProgress;
    let mut lead_time_ms = None;
    let mut first_abort_breach = None;
    let mut first_breach = None;
    let mut rollback_requested = None;
    let mut automatic_rollback = None;
    let mut restored_at = None;
    let mut overrides = 0;
    for record in &history.events {
        match &record.event {
            Event::Completed => {
                ending = Ending::Completed;
                lead_time_ms = Some(record.at.millis_since(started));
            }
            Event::Aborted { .. } => ending = Ending::Aborted,
            Event::RollbackFinished => {
                ending = Ending::RolledBack;
                restored_at.get_or_insert(record.at);
            }
            Event::ThresholdBreached { breach, .. } => {
                first_breach.get_or_insert(record.at);
                if breach.level == Level::Abort {
                    first_abort_breach.get_or_insert(record.at);
                }
            }
            Event::RollbackStarted { automatic, .. } => {
                // Rolling back (a completed release too, while watched) is not an ending yet.
                ending = Ending::InProgress;
                rollback_requested.get_or_insert(record.at);
                automatic_rollback.get_or_insert(*automatic);
            }
            Event::WeightSet { weight: 0 } if rollback_requested.is_some() => {
                restored_at.get_or_insert(record.at);
            }
            Event::BakeOverridden { .. } | Event::WindowsOverridden { .. } => overrides += 1,
            _ => {}
        }
    }
    // A release rolled back while watched after completing did not, in the end, complete.
    if ending != Ending::Completed {
        lead_time_ms = None;
    }
    let time_to_restore_ms = match (ending, restored_at) {
        (Ending::RolledBack, Some(restored)) => {
            let from = first_abort_breach.or(first_breach).or(rollback_requested)?;
            Some(restored.millis_since(from))
        }
        _ => None,
    };
    Some(ReleaseFigures {
        id: history.id,
        service: history.service.clone(),
        environment: history.environment.clone(),
        version: history.version.clone(),
        started_ms: started.0,
        ending,
        lead_time_ms,
        time_to_restore_ms,
        automatic_rollback,
        overrides,
    })
}

/// The figures over the releases that match `filter` and started in `[since, until)`.
pub fn compute(
    histories: &[History],
    filter: &Filter,
    since: Timestamp,
    until: Timestamp,
) -> Stats {
    let mut per_release: Vec<ReleaseFigures> = histories
        .iter()
        .filter(|h| filter.service.as_ref().is_none_or(|s| *s == h.service))
        .filter(|h| filter.environment.as_ref().is_none_or(|e| *e == h.environment))
        .filter_map(figures)
        .filter(|f| f.started_ms >= since.0 && f.started_ms < until.0)
        .collect();
    per_release.sort_by_key(|f| (f.started_ms, f.id));
    let count = |e: Ending| per_release.iter().filter(|f| f.ending == e).count();
    let (completed, rolled_back) = (count(Ending::Completed), count(Ending::RolledBack));
    let finished = completed + rolled_back;
    let change_failure_rate = (finished > 0).then(|| rolled_back as f64 / finished as f64);
    let lead_time = spread(per_release.iter().filter_map(|f| f.lead_time_ms).collect());
    let time_to_restore = spread(per_release.iter().filter_map(|f| f.time_to_restore_ms).collect());
    let automatic_rollbacks =
        per_release.iter().filter(|f| f.automatic_rollback == Some(true)).count();
    let manual_rollbacks =
        per_release.iter().filter(|f| f.automatic_rollback == Some(false)).count();
    let weeks = weeks(&per_release, since, until);
    let span_weeks = (until.0 - since.0).max(1) as f64 / WEEK_MS as f64;
    Stats {
        service: filter.service.clone(),
        environment: filter.environment.clone(),
        since: format_date_time(since),
        until: format_date_time(until),
        releases: per_release.len(),
        completed,
        rolled_back,
        aborted: count(Ending::Aborted),
        in_progress: count(Ending::InProgress),
        change_failure_rate,
        lead_time,
        time_to_restore,
        automatic_rollbacks,
        manual_rollbacks,
        overrides: per_release.iter().map(|f| f.overrides).sum(),
        releases_per_week: per_release.len() as f64 / span_weeks,
        weeks,
        per_release,
    }
}

/// Median and p90 by nearest rank; `None` for no durations.
pub fn spread(mut durations: Vec<u64>) -> Option<Spread> {
    if durations.is_empty() {
        return None;
    }
    durations.sort_unstable();
    let rank = |p: f64| {
        let n = durations.len();
        let index = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
        durations[index]
    };
    Some(Spread { count: durations.len(), median_ms: rank(0.5), p90_ms: rank(0.9) })
}

/// The Monday 00:00 UTC on or before `at`.
fn week_start(at: i64) -> i64 {
    let day = at.div_euclid(DAY_MS);
    // 1970-01-01 was a Thursday: three days after a Monday.
    (day - (day + 3).rem_euclid(7)) * DAY_MS
}

fn weeks(releases: &[ReleaseFigures], since: Timestamp, until: Timestamp) -> Vec<Week> {
    let last = week_start(until.0.saturating_sub(1).max(since.0));
    let mut start = week_start(since.0);
    let mut out = Vec::new();
    while start <= last {
        let in_week = releases.iter().filter(|f| week_start(f.started_ms) == start);
        let (mut releases_in, mut rolled_back) = (0, 0);
        for f in in_week {
            releases_in += 1;
            if f.ending == Ending::RolledBack {
                rolled_back += 1;
            }
        }
        let date = format_date_time(Timestamp(start));
        out.push(Week { starts: date[..10].to_owned(), releases: releases_in, rolled_back });
        start += WEEK_MS;
    }
    out
}

/// Parses `--since`: `90d`, `12w`, or anything a plan's durations accept (`36h`).
pub fn parse_span(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let unit = |suffix: char, ms: u64| -> Option<Result<u64, String>> {
        let number = text.strip_suffix(suffix)?;
        Some(
            number
                .parse::<u64>()
                .map_err(|_| format!("`{text}` is not a span: write e.g. 90d, 12w or 36h"))
                .and_then(|n| n.checked_mul(ms).ok_or_else(|| format!("`{text}` is too long"))),
        )
    };
    if let Some(days) = unit('d', DAY_MS as u64) {
        return days;
    }
    if let Some(weeks) = unit('w', WEEK_MS as u64) {
        return weeks;
    }
    crate::plan::parse_duration(text)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .map_err(|e| format!("{e}; write e.g. 90d, 12w or 36h"))
}

/// Parses `--until`: a date `YYYY-MM-DD`, meaning the end of that day (UTC).
pub fn parse_day_end(text: &str) -> Result<Timestamp, String> {
    let bad = || format!("`{text}` is not a date: write YYYY-MM-DD");
    let mut parts = text.trim().split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let y: i64 = y.parse().map_err(|_| bad())?;
    let m: i64 = m.parse().map_err(|_| bad())?;
    let d: i64 = d.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let days = days_from_civil(y, m, d);
    let end = Timestamp((days + 1) * DAY_MS);
    // A day past the month's end (2026-02-30) comes back as another date: refuse it.
    if format_date_time(Timestamp(days * DAY_MS))[..10] != format!("{y:04}-{m:02}-{d:02}") {
        return Err(bad());
    }
    Ok(end)
}

/// Howard Hinnant's days-from-civil: days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The figures as text: a table, then a bar per week.
pub fn render_text(stats: &Stats) -> String {
    use crate::plan::format_duration;
    use std::fmt::Write;
    let dur = |ms: u64| format_duration(std::time::Duration::from_millis(ms));
    let spread_text = |s: Option<Spread>| match s {
        None => "—".to_owned(),
        Some(s) => format!("median {}, p90 {} (of {})", dur(s.median_ms), dur(s.p90_ms), s.count),
    };
    let mut out = String::new();
    let scope = match (&stats.service, &stats.environment) {
        (Some(s), Some(e)) => format!("{s} in {e}"),
        (Some(s), None) => s.clone(),
        (None, Some(e)) => format!("every service in {e}"),
        (None, None) => "every service".to_owned(),
    };
    let _ = writeln!(out, "{scope}: releases started {} – {}", stats.since, stats.until);
    let _ = writeln!(out);
    let rows = [
        ("releases", stats.releases.to_string()),
        ("releases per week", format!("{:.1}", stats.releases_per_week)),
        ("completed", stats.completed.to_string()),
        ("rolled back", stats.rolled_back.to_string()),
        ("aborted", stats.aborted.to_string()),
        ("in progress", stats.in_progress.to_string()),
        (
            "change failure rate",
            stats.change_failure_rate.map_or_else(
                || "— (nothing finished)".to_owned(),
                |r| {
                    format!(
                        "{:.0}% ({} of {} finished)",
                        r * 100.0,
                        stats.rolled_back,
                        stats.completed + stats.rolled_back
                    )
                },
            ),
        ),
        ("lead time", spread_text(stats.lead_time)),
        ("time to restore", spread_text(stats.time_to_restore)),
        (
            "rollbacks",
            format!("{} automatic, {} manual", stats.automatic_rollbacks, stats.manual_rollbacks),
        ),
        ("overrides used", stats.overrides.to_string()),
    ];
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:<20} {value}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "releases per week (week starting, UTC; ✗ = rolled back)");
    let most = stats.weeks.iter().map(|w| w.releases).max().unwrap_or(0).max(1);
    const WIDTH: u32 = 30;
    for week in &stats.weeks {
        let len = (week.releases * WIDTH).div_ceil(most);
        let bad = (week.rolled_back * WIDTH).div_ceil(most).min(len);
        let bar = format!("{}{}", "█".repeat((len - bad) as usize), "✗".repeat(bad as usize));
        let line = format!("  {}  {:>3} {bar}", week.starts, week.releases);
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::{Actor, Breach};

    fn record(seq: u64, at: i64, event: Event) -> EventRecord {
        EventRecord { seq, at: Timestamp(at), actor: Actor::person("a", "h", 1), event }
    }

    fn started() -> Event {
        Event::ReleaseStarted {
            service: "api".into(),
            environment: "production".into(),
            version: "1".into(),
            previous_version: None,
            sha: None,
            image: None,
            release_type: crate::plan::ReleaseType::Regular,
            plan_sha256: None,
        }
    }

    fn history(id: i64, events: Vec<(i64, Event)>) -> History {
        History {
            id,
            service: "api".into(),
            environment: "production".into(),
            version: id.to_string(),
            events: events
                .into_iter()
                .enumerate()
                .map(|(i, (at, e))| record(i as u64 + 1, at, e))
                .collect(),
        }
    }

    fn breach(level: Level) -> Event {
        Event::ThresholdBreached {
            step: "bake".into(),
            breach: Breach {
                series: "error_rate".into(),
                level,
                value: 0.1,
                threshold: "> 0.02".into(),
                limit: Some(0.02),
                baseline: None,
                samples: 3,
                window_ms: 1000,
            },
        }
    }

    #[test]
    fn spread_takes_nearest_ranks() {
        assert_eq!(spread(vec![]), None);
        let s = spread(vec![50, 10, 40, 20, 30, 60, 70, 80, 90, 100]).expect("spread");
        assert_eq!((s.count, s.median_ms, s.p90_ms), (10, 50, 90));
        let one = spread(vec![7]).expect("one");
        assert_eq!((one.median_ms, one.p90_ms), (7, 7));
    }

    #[test]
    fn restore_is_timed_from_the_first_abort_breach_to_traffic_at_zero() {
        let h = history(
            1,
            vec![
                (0, started()),
                (1_000, breach(Level::Warn)),
                (5_000, breach(Level::Abort)),
                (
                    6_000,
                    Event::RollbackStarted {
                        reason: "breach".into(),
                        automatic: true,
                        steps: vec![],
                        signature: None,
                    },
                ),
                (9_000, Event::WeightSet { weight: 0 }),
                (20_000, Event::RollbackFinished),
            ],
        );
        let f = figures(&h).expect("figures");
        assert_eq!(f.ending, Ending::RolledBack);
        assert_eq!(f.time_to_restore_ms, Some(4_000));
        assert_eq!(f.automatic_rollback, Some(true));
        assert_eq!(f.lead_time_ms, None);
    }

    /// Issue 16: a release rolled back while watched after completion is a failed change,
    /// restored from the breach seen after completion to the rollback's end.
    #[test]
    fn a_release_rolled_back_after_completion_counts_as_rolled_back() {
        let after_release = |level| match breach(level) {
            Event::ThresholdBreached { breach, .. } => {
                Event::ThresholdBreached { step: crate::plan::AFTER_RELEASE_STEP.into(), breach }
            }
            other => other,
        };
        let h = history(
            1,
            vec![
                (0, started()),
                (60_000, Event::Completed),
                (3_600_000, after_release(Level::Abort)),
                (
                    3_600_000,
                    Event::RollbackStarted {
                        reason: "breach after completion".into(),
                        automatic: true,
                        steps: vec![],
                        signature: None,
                    },
                ),
                (3_630_000, Event::RollbackFinished),
            ],
        );
        let f = figures(&h).expect("figures");
        assert_eq!(f.ending, Ending::RolledBack);
        assert_eq!(f.lead_time_ms, None);
        assert_eq!(f.time_to_restore_ms, Some(30_000));
    }

    #[test]
    fn weeks_start_on_monday_and_count_releases_in_the_span_only() {
        // 2026-11-23 is a Monday.
        let monday = (days_from_civil(2026, 11, 23)) * DAY_MS;
        let done =
            |id, at: i64| history(id, vec![(at, started()), (at + 60_000, Event::Completed)]);
        let all = [
            done(1, monday - DAY_MS), // Sunday before: the week of 11-16
            done(2, monday),
            done(3, monday + 3 * DAY_MS),
            done(4, monday + 30 * DAY_MS), // after `until`
        ];
        let since = Timestamp(monday - 8 * DAY_MS);
        let until = Timestamp(monday + 7 * DAY_MS);
        let stats = compute(&all, &Filter::default(), since, until);
        assert_eq!(stats.releases, 3);
        let weeks: Vec<(&str, u32)> =
            stats.weeks.iter().map(|w| (w.starts.as_str(), w.releases)).collect();
        assert_eq!(weeks, [("2026-11-09", 0), ("2026-11-16", 1), ("2026-11-23", 2)]);
        assert_eq!(stats.change_failure_rate, Some(0.0));
        assert_eq!(stats.lead_time.map(|s| s.median_ms), Some(60_000));
    }

    #[test]
    fn bake_and_window_overrides_both_count() {
        let h = history(
            1,
            vec![
                (0, started()),
                (
                    10,
                    Event::WindowsOverridden {
                        windows: vec!["freeze".into()],
                        reason: "incident".into(),
                    },
                ),
                (
                    20,
                    Event::BakeOverridden {
                        step: "bake".into(),
                        reason: "watched by hand".into(),
                        unmet: vec![],
                    },
                ),
            ],
        );
        assert_eq!(figures(&h).map(|f| f.overrides), Some(2));
    }

    #[test]
    fn spans_and_dates_parse_or_say_what_to_write() {
        assert_eq!(parse_span("90d"), Ok(90 * DAY_MS as u64));
        assert_eq!(parse_span("2w"), Ok(14 * DAY_MS as u64));
        assert_eq!(parse_span("36h"), Ok(36 * 3_600_000));
        assert!(parse_span("soon").unwrap_err().contains("90d"));
        assert_eq!(
            parse_day_end("2026-11-22"),
            Ok(Timestamp((days_from_civil(2026, 11, 23)) * DAY_MS))
        );
        assert!(parse_day_end("2026-02-30").is_err());
        assert!(parse_day_end("yesterday").unwrap_err().contains("YYYY-MM-DD"));
    }
}
