//! Analysis: a series' samples, its thresholds, its `for` duration and its no-data policy in;
//! a verdict with its explanation out (value, threshold, limit, baseline, samples, window).
//! PURE: no IO, no clock, no async — `now` arrives as data, like everything else.
//!
//! Rules, in order:
//! - A *probe error* (source unreachable, query failed) is not data and not a failure: it
//!   freezes the verdict on the last good samples, which the screen shows as stale.
//! - *No data* (an empty result, no traffic between two scrapes) follows the series'
//!   policy: `ignore` passes, `warn` warns, `breach` fails once data has been missing for
//!   the policy's duration. Until then the series is inconclusive.
//! - A level (warn or abort) is *breached* once every sample for at least `for` has been on
//!   its bad side: the newest samples form an unbroken bad streak whose first and last
//!   samples are `for` apart. With `for = 0` one bad sample is enough.
//! - A threshold relative to the baseline cannot be judged before the baseline is known:
//!   the series is inconclusive.

use std::fmt;

pub mod evidence;

pub use evidence::{SampleKind, SampleRow, bake_evidence, stable_series_id};

use crate::plan::{MetricProbe, NoDataPolicy, Threshold, Thresholds, format_duration};
use crate::release::{Breach, Level, Timestamp};

/// What analysis needs from a plan's `[[metrics]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Level that is shown and recorded.
    pub warn: Option<Thresholds>,
    /// Level that triggers the bake's `on_breach`.
    pub abort: Option<Thresholds>,
    /// How long a breach must persist, in milliseconds.
    pub for_ms: u64,
    /// What missing data means.
    pub no_data: NoDataPolicy,
}

impl Rules {
    /// The rules of `metric`; after the release has completed, its looser `after_release_*`
    /// levels replace the ones set (a level without an after-release variant stays).
    pub fn of(metric: &MetricProbe, released: bool) -> Self {
        let (warn, abort) = if released {
            (
                metric.after_release_warn.clone().or_else(|| metric.warn.clone()),
                metric.after_release_abort.clone().or_else(|| metric.abort.clone()),
            )
        } else {
            (metric.warn.clone(), metric.abort.clone())
        };
        Self { warn, abort, for_ms: millis(metric.for_duration), no_data: metric.no_data }
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What has been observed of a series.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// Good values, oldest first. Non-finite values are ignored.
    pub samples: &'a [(Timestamp, f64)],
    /// Since when every reading has said "no data" (`None` while the newest reading had a
    /// value, or nothing has been read).
    pub no_data_since: Option<Timestamp>,
}

/// The four verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Within thresholds (or no data, ignored).
    Pass,
    /// Past the warn level for its `for` duration, or data missing under `no_data = "warn"`.
    Warn,
    /// Past the abort level for its `for` duration, or data missing too long under
    /// `no_data = "breach"`.
    Fail,
    /// Not enough data to say: nothing read yet, data missing (not yet a breach), or a
    /// relative threshold without a baseline.
    Inconclusive,
}

impl Status {
    /// The word shown and written in reports.
    pub fn word(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
            Self::Inconclusive => "inconclusive",
        }
    }
}

/// Why a verdict is what it is, with every number a person needs to check it.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The newest good value.
    pub value: Option<f64>,
    /// The threshold the verdict is about (the breached one, else abort, else warn).
    pub threshold: Option<Threshold>,
    /// The threshold as a number (the baseline applied).
    pub limit: Option<f64>,
    /// The baseline, if captured.
    pub baseline: Option<f64>,
    /// Samples the verdict rests on.
    pub samples: u32,
    /// The span those samples cover, in milliseconds.
    pub window_ms: u64,
    /// Anything else: "no data for 40s", "no baseline yet", "above abort for 20s of 1m".
    pub note: Option<String>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(v) = self.value {
            parts.push(format!("value {}", number(v)));
        }
        if let Some(t) = self.threshold {
            match (self.limit, t.bound) {
                (
                    Some(limit),
                    crate::plan::Bound::Baseline(_) | crate::plan::Bound::BaselinePlus(_),
                ) => {
                    parts.push(format!("threshold {t} (= {})", number(limit)));
                }
                _ => parts.push(format!("threshold {t}")),
            }
        }
        if let Some(b) = self.baseline {
            parts.push(format!("baseline {}", number(b)));
        }
        parts.push(format!(
            "{} sample{} over {}",
            self.samples,
            if self.samples == 1 { "" } else { "s" },
            format_duration(std::time::Duration::from_millis(self.window_ms))
        ));
        if let Some(n) = &self.note {
            parts.push(n.clone());
        }
        f.write_str(&parts.join(", "))
    }
}

/// A number in four decimals at most, trailing zeros dropped.
pub fn number(v: f64) -> String {
    let text = format!("{v:.4}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// A level that has been breached for its `for` duration.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    /// Warn or abort.
    pub level: Level,
    /// The threshold as written (`> 0.02`), or `no data for 2m`.
    pub threshold: String,
}

/// The verdict on one series at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Pass, warn, fail or inconclusive.
    pub status: Status,
    /// Whether the verdict is good enough to pass a bake on (false when inconclusive, and
    /// when data is missing under `no_data = "warn"`).
    pub conclusive: bool,
    /// The level breached for its `for` duration, if one is.
    pub held: Option<Held>,
    /// The numbers behind it.
    pub explanation: Explanation,
}

impl Verdict {
    /// The breach to record for a held level, for series `series`.
    pub fn breach(&self, series: &str) -> Option<Breach> {
        let held = self.held.as_ref()?;
        let e = &self.explanation;
        Some(Breach {
            series: series.to_owned(),
            level: held.level,
            // Events are JSON: a non-finite number would not survive a reload.
            value: e.value.filter(|v| v.is_finite()).unwrap_or(0.0),
            threshold: held.threshold.clone(),
            limit: e.limit.filter(|v| v.is_finite()),
            baseline: e.baseline.filter(|v| v.is_finite()),
            samples: e.samples,
            window_ms: e.window_ms,
        })
    }

    /// One line: `fail: value 0.031, threshold > 0.02, 7 samples over 1m`.
    pub fn explain(&self) -> String {
        format!("{}: {}", self.word(), self.explanation)
    }

    /// The verdict's word: `breaching` rather than `pass` while the newest value is past the
    /// threshold shown but not yet for its `for`, so the line never reads
    /// `pass: value 0.06, threshold > 0.05`.
    pub fn word(&self) -> &'static str {
        let e = &self.explanation;
        match (self.status, e.value, e.threshold) {
            (Status::Pass, Some(v), Some(t)) if t.breached_by(v, e.baseline) == Some(true) => {
                "breaching"
            }
            _ => self.status.word(),
        }
    }
}

/// The median of the samples taken in the `window_ms` up to `now`, and how many there were.
pub fn baseline(
    samples: &[(Timestamp, f64)],
    now: Timestamp,
    window_ms: u64,
) -> Option<(f64, u32)> {
    let mut values: Vec<f64> = samples
        .iter()
        .filter(|(at, v)| v.is_finite() && *at <= now && now.millis_since(*at) <= window_ms)
        .map(|(_, v)| *v)
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 };
    Some((median, u32::try_from(n).unwrap_or(u32::MAX)))
}

/// The bad streak at the end of `samples` for one threshold: (samples, first, last).
fn streak(
    samples: &[(Timestamp, f64)],
    threshold: &Thresholds,
    baseline: Option<f64>,
) -> Option<(u32, Timestamp, Timestamp)> {
    let mut count = 0u32;
    let mut first = None;
    let mut last = None;
    for (at, v) in samples.iter().rev() {
        if threshold.breached_by(*v, baseline) != Some(true) {
            break;
        }
        count += 1;
        first = Some(*at);
        last.get_or_insert(*at);
    }
    Some((count, first?, last?))
}

/// Judges a series at `now`.
pub fn evaluate(
    rules: &Rules,
    observed: &Observed<'_>,
    baseline: Option<f64>,
    now: Timestamp,
) -> Verdict {
    let finite: Vec<(Timestamp, f64)> =
        observed.samples.iter().copied().filter(|(_, v)| v.is_finite()).collect();
    let main = rules.abort.as_ref().or(rules.warn.as_ref()).map(|level| *level.first());
    let mut explanation = Explanation {
        value: finite.last().map(|(_, v)| *v),
        threshold: main,
        limit: main.and_then(|t| t.limit(baseline)),
        baseline,
        samples: 0,
        window_ms: 0,
        note: None,
    };
    if let Some(since) = observed.no_data_since {
        return no_data(rules, explanation, now.millis_since(since));
    }
    let Some(&(last_at, _)) = finite.last() else {
        if matches!(rules.no_data, NoDataPolicy::Ignore) {
            explanation.note = Some("nothing read yet (no data is ignored)".into());
            return Verdict { status: Status::Pass, conclusive: true, held: None, explanation };
        }
        explanation.note = Some("nothing read yet".into());
        return Verdict {
            status: Status::Inconclusive,
            conclusive: false,
            held: None,
            explanation,
        };
    };
    // Samples within `for` of the newest: what a pass rests on.
    let recent = finite.iter().filter(|(at, _)| last_at.millis_since(*at) <= rules.for_ms);
    explanation.samples = u32::try_from(recent.clone().count()).unwrap_or(u32::MAX);
    explanation.window_ms = recent.map(|(at, _)| last_at.millis_since(*at)).max().unwrap_or(0);

    let abort_unjudged = rules.abort.as_ref().is_some_and(|a| !a.judgeable(baseline));
    let mut pending = None;
    let mut unjudged = None;
    for (level, threshold) in [(Level::Abort, &rules.abort), (Level::Warn, &rules.warn)] {
        let Some(t) = threshold else { continue };
        if !t.judgeable(baseline) {
            unjudged.get_or_insert(
                *t.iter().find(|t| t.limit(baseline).is_none()).unwrap_or(t.first()),
            );
        }
        // A threshold of the level that can be judged (an absolute one) may breach while
        // a relative one still waits for its baseline.
        let Some((count, first, last)) = streak(&finite, t, baseline) else { continue };
        let span = last.millis_since(first);
        if span >= rules.for_ms {
            let newest = finite.last().map_or(0.0, |(_, v)| *v);
            let hit = *t.first_breached(newest, baseline).unwrap_or(t.first());
            explanation.threshold = Some(hit);
            explanation.limit = hit.limit(baseline);
            explanation.samples = count;
            explanation.window_ms = span;
            let status = if level == Level::Abort { Status::Fail } else { Status::Warn };
            let held = Some(Held { level, threshold: hit.to_string() });
            // A held warning says nothing about an abort level that cannot be judged yet.
            let conclusive = level == Level::Abort || !abort_unjudged;
            if !conclusive {
                explanation.note = Some("the abort level waits for a baseline".into());
            }
            return Verdict { status, conclusive, held, explanation };
        }
        pending.get_or_insert((level, span));
    }
    if let Some(t) = unjudged {
        if abort_unjudged {
            explanation.note = Some(format!("no baseline yet for `{t}`"));
            return Verdict {
                status: Status::Inconclusive,
                conclusive: false,
                held: None,
                explanation,
            };
        }
        explanation.note = Some(format!("`{t}` waits for a baseline"));
    }
    if let Some((level, span)) = pending {
        let word = if level == Level::Abort { "abort" } else { "warn" };
        explanation.note = Some(format!(
            "past {word} for {} of {}",
            format_duration(std::time::Duration::from_millis(span)),
            format_duration(std::time::Duration::from_millis(rules.for_ms))
        ));
    }
    Verdict { status: Status::Pass, conclusive: true, held: None, explanation }
}

fn no_data(rules: &Rules, mut explanation: Explanation, missing_ms: u64) -> Verdict {
    let missing = format_duration(std::time::Duration::from_millis(missing_ms));
    explanation.samples = 0;
    explanation.window_ms = missing_ms;
    match rules.no_data {
        NoDataPolicy::Ignore => {
            explanation.note = Some(format!("no data for {missing} (ignored)"));
            Verdict { status: Status::Pass, conclusive: true, held: None, explanation }
        }
        NoDataPolicy::Warn => {
            explanation.note = Some(format!("no data for {missing}"));
            Verdict { status: Status::Warn, conclusive: false, held: None, explanation }
        }
        NoDataPolicy::BreachAfter(after) => {
            let after_ms = millis(after);
            if missing_ms >= after_ms {
                explanation.note = Some(format!("no data for {missing}"));
                let threshold = format!("no data ≥ {}", format_duration(after));
                Verdict {
                    status: Status::Fail,
                    conclusive: true,
                    held: Some(Held { level: Level::Abort, threshold }),
                    explanation,
                }
            } else {
                explanation.note =
                    Some(format!("no data for {missing} (a breach at {})", format_duration(after)));
                Verdict { status: Status::Inconclusive, conclusive: false, held: None, explanation }
            }
        }
    }
}

/// Whether enough was seen during a bake to pass it: at least one good sample since the
/// bake started, unless missing data is ignored for this series.
pub fn enough_for_bake(
    rules: &Rules,
    observed: &Observed<'_>,
    bake_started: Timestamp,
) -> Result<(), String> {
    if matches!(rules.no_data, NoDataPolicy::Ignore) {
        return Ok(());
    }
    let during = observed.samples.iter().filter(|(at, v)| *at >= bake_started && v.is_finite());
    if during.count() == 0 {
        return Err("no samples during the bake".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp(secs * 1000)
    }

    fn rules(abort: &str, for_secs: u64, no_data: NoDataPolicy) -> Rules {
        Rules {
            warn: None,
            abort: Some(Thresholds::parse(abort).unwrap()),
            for_ms: for_secs * 1000,
            no_data,
        }
    }

    fn series(values: &[f64]) -> Vec<(Timestamp, f64)> {
        values.iter().enumerate().map(|(i, v)| (t(i64::try_from(i).unwrap() * 10), *v)).collect()
    }

    #[test]
    fn breach_must_persist_for_its_duration() {
        let r = rules("> 0.02", 30, NoDataPolicy::Ignore);
        let s = series(&[0.01, 0.03, 0.04, 0.05]);
        let v = evaluate(&r, &Observed { samples: &s[..3], no_data_since: None }, None, t(20));
        assert_eq!(v.status, Status::Pass);
        assert!(v.explanation.note.as_deref().unwrap().contains("past abort for 10s of 30s"));
        let v = evaluate(&r, &Observed { samples: &s, no_data_since: None }, None, t(30));
        assert_eq!(v.status, Status::Pass, "20s of 30s");
        // Not yet a breach, but never `pass` beside a value past its threshold.
        assert!(
            v.explain().starts_with("breaching: value 0.05, threshold > 0.02"),
            "{}",
            v.explain()
        );
        let mut s = s;
        s.push((t(40), 0.06));
        let v = evaluate(&r, &Observed { samples: &s, no_data_since: None }, None, t(40));
        assert_eq!(v.status, Status::Fail);
        let b = v.breach("error_rate").unwrap();
        assert_eq!((b.samples, b.window_ms, b.value), (4, 30_000, 0.06));
        assert_eq!(b.threshold, "> 0.02");
    }

    #[test]
    fn a_good_sample_breaks_the_streak() {
        let r = rules("> 0.02", 10, NoDataPolicy::Ignore);
        let s = series(&[0.05, 0.05, 0.01, 0.05]);
        let v = evaluate(&r, &Observed { samples: &s, no_data_since: None }, None, t(30));
        assert_eq!(v.status, Status::Pass);
        let s = series(&[0.05, 0.01]);
        let v = evaluate(&r, &Observed { samples: &s, no_data_since: None }, None, t(10));
        assert!(v.explain().starts_with("pass: value 0.01"), "{}", v.explain());
    }

    #[test]
    fn relative_thresholds_need_a_baseline() {
        let r = rules("> baseline * 1.5", 0, NoDataPolicy::Ignore);
        let s = series(&[0.2, 0.35]);
        let v = evaluate(&r, &Observed { samples: &s, no_data_since: None }, None, t(10));
        assert_eq!(v.status, Status::Inconclusive);
        assert!(!v.conclusive);
        let v = evaluate(&r, &Observed { samples: &s, no_data_since: None }, Some(0.2), t(10));
        assert_eq!(v.status, Status::Fail);
        assert!((v.explanation.limit.unwrap() - 0.3).abs() < 1e-9);
        assert!(v.explain().contains("baseline 0.2"), "{}", v.explain());
    }

    #[test]
    fn no_data_policies() {
        let s = series(&[0.01]);
        let obs = Observed { samples: &s, no_data_since: Some(t(10)) };
        let ignore = evaluate(&rules("> 1", 0, NoDataPolicy::Ignore), &obs, None, t(100));
        assert_eq!((ignore.status, ignore.conclusive), (Status::Pass, true));
        let warn = evaluate(&rules("> 1", 0, NoDataPolicy::Warn), &obs, None, t(100));
        assert_eq!((warn.status, warn.conclusive), (Status::Warn, false));
        let policy = NoDataPolicy::BreachAfter(Duration::from_secs(60));
        let early = evaluate(&rules("> 1", 0, policy), &obs, None, t(50));
        assert_eq!(early.status, Status::Inconclusive);
        let late = evaluate(&rules("> 1", 0, policy), &obs, None, t(70));
        assert_eq!(late.status, Status::Fail);
        assert_eq!(late.breach("x").unwrap().threshold, "no data ≥ 1m");
    }

    #[test]
    fn baseline_is_the_median_of_the_window() {
        let s = series(&[100.0, 1.0, 3.0, 2.0, 50.0]);
        assert_eq!(baseline(&s, t(40), 30_000), Some((2.5, 4)));
        assert_eq!(baseline(&s, t(40), 0), Some((50.0, 1)));
        assert_eq!(baseline(&[], t(40), 30_000), None);
        assert_eq!(baseline(&series(&[1.0, 2.0]), t(10), 60_000), Some((1.5, 2)));
    }

    #[test]
    fn a_held_warning_is_not_conclusive_while_the_abort_level_waits_for_a_baseline() {
        let r = Rules {
            warn: Some(Thresholds::parse("> 0.5").unwrap()),
            abort: Some(Thresholds::parse("> baseline * 2").unwrap()),
            for_ms: 0,
            no_data: NoDataPolicy::Ignore,
        };
        let s = series(&[0.9]);
        let v = evaluate(&r, &Observed { samples: &s, no_data_since: None }, None, t(0));
        assert_eq!((v.status, v.conclusive), (Status::Warn, false));
        let v = evaluate(&r, &Observed { samples: &s, no_data_since: None }, Some(1.0), t(0));
        assert_eq!((v.status, v.conclusive), (Status::Warn, true));
    }

    #[test]
    fn warn_level_is_judged_after_abort() {
        let r = Rules {
            warn: Some(Thresholds::parse("> 0.01").unwrap()),
            abort: Some(Thresholds::parse("> 0.05").unwrap()),
            for_ms: 0,
            no_data: NoDataPolicy::Warn,
        };
        let s = series(&[0.02]);
        let v = evaluate(&r, &Observed { samples: &s, no_data_since: None }, None, t(0));
        assert_eq!(v.status, Status::Warn);
        assert_eq!(v.held.unwrap().level, Level::Warn);
    }
}
