//! Probe readings as the cockpit shows them: one row per health endpoint and per metric
//! series. Until a probe has reported, its row says "not polled yet": no invented data.

use std::collections::VecDeque;

use crate::analysis;
use crate::plan::{Plan, Role, Thresholds};
use crate::release::{State, Status, Timestamp};

/// Where an endpoint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    /// No reading yet.
    NotPolled,
    /// Healthy.
    Up,
    /// Failing, but fewer times in a row than `down_after`.
    Flapping,
    /// Down: `down_after` failures in a row.
    Down,
}

impl HealthState {
    /// A mark and a word, never colour alone.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::NotPolled => ("○", "not polled yet"),
            Self::Up => ("●", "UP"),
            Self::Flapping => ("◐", "FLAKY"),
            Self::Down => ("✗", "DOWN"),
        }
    }
}

/// One health check's result.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReading {
    /// When it was taken.
    pub at: Timestamp,
    /// HTTP status, if a response came.
    pub status_code: Option<u16>,
    /// Round trip.
    pub latency_ms: u64,
    /// Version from the body.
    pub version: Option<String>,
    /// The `checks` map from the body.
    pub checks: Vec<(String, String)>,
    /// Why it counts as a failure.
    pub error: Option<String>,
}

/// One endpoint's row.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthRow {
    /// Probe id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Stable, canary or shared.
    pub role: Role,
    /// The URL as configured (secrets unresolved).
    pub url: String,
    /// Where it stands.
    pub state: HealthState,
    /// The last reading.
    pub last: Option<HealthReading>,
    /// Failures in a row.
    pub failures_in_row: u32,
    /// Successes in a row.
    pub successes_in_row: u32,
    /// When the current run of failures began.
    pub failing_since: Option<Timestamp>,
    /// Whether the plan asks for the running version to be checked.
    pub expect_version: bool,
    /// The version this endpoint should run (the new one on canary, the old one on stable).
    pub expected_version: Option<String>,
    /// Set when the last reading's version differs from the expected one: `1.3.2 ≠ 1.4.0`.
    pub version_mismatch: Option<String>,
}

/// A metric's verdict against its thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No reading yet.
    NotPolled,
    /// Within thresholds.
    Pass,
    /// Past the warn level.
    Warn,
    /// Past the abort level for its `for` duration.
    Fail,
    /// Not enough data to say.
    Inconclusive,
}

impl Verdict {
    /// A mark and a word, never colour alone.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::NotPolled => ("○", "not polled yet"),
            Self::Pass => ("✓", "ok"),
            Self::Warn => ("▲", "WARN"),
            Self::Fail => ("✗", "FAIL"),
            Self::Inconclusive => ("?", "inconclusive"),
        }
    }

    fn of(status: analysis::Status) -> Self {
        match status {
            analysis::Status::Pass => Self::Pass,
            analysis::Status::Warn => Self::Warn,
            analysis::Status::Fail => Self::Fail,
            analysis::Status::Inconclusive => Self::Inconclusive,
        }
    }
}

/// How many readings of a series are kept in memory at most (for the sparkline, `for`
/// durations and the baseline window).
pub const KEPT_SAMPLES: usize = 4096;

/// How far back readings are kept at least, whatever the series' windows.
const KEPT_MIN_MS: u64 = 10 * 60 * 1000;

/// One series' row.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    /// Probe id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Unit.
    pub unit: String,
    /// Warn level.
    pub warn: Option<Thresholds>,
    /// Abort level.
    pub abort: Option<Thresholds>,
    /// Baseline captured before the first shift.
    pub baseline: Option<f64>,
    /// Recent good readings, oldest first.
    pub samples: VecDeque<(Timestamp, f64)>,
    /// The last error from the source, if the last read failed.
    pub error: Option<String>,
    /// Verdict.
    pub verdict: Verdict,
    /// Rules while the release runs.
    pub rules: analysis::Rules,
    /// Rules once the release has completed (the looser `after_release_*` levels).
    pub rules_after_release: analysis::Rules,
    /// Whether the release has completed.
    pub released: bool,
    /// Window of the baseline median, in milliseconds.
    pub baseline_window_ms: u64,
    /// Failed reads in a row (probe errors, not metric failures).
    pub errors_in_row: u32,
    /// Since when every reading said "no data".
    pub no_data_since: Option<Timestamp>,
    /// When the source was last read, whatever the outcome.
    pub last_read_at: Option<Timestamp>,
    /// The latest verdict with its explanation.
    pub analysis: Option<analysis::Verdict>,
    /// A `by_label` series' stable side: the previous version's readings, oldest first (the
    /// baseline is taken from these, never from the new version's series).
    pub stable: VecDeque<(Timestamp, f64)>,
    /// The version `stable` is read for.
    pub stable_version: Option<String>,
    /// With `baseline_mode = "live"`: the series whose moving median is the baseline (the
    /// `@stable` side of this row, or another metric's id).
    pub live_from: Option<String>,
}

/// Every probe row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeBoard {
    /// Health endpoints.
    pub health: Vec<HealthRow>,
    /// Metric series.
    pub metrics: Vec<MetricRow>,
}

impl ProbeBoard {
    /// Rows for every probe of a plan, none polled yet.
    pub fn for_plan(plan: &Plan) -> Self {
        Self {
            health: plan
                .health
                .iter()
                .map(|h| HealthRow {
                    id: h.id.clone(),
                    name: h.name.clone(),
                    role: h.role,
                    url: h.url.clone(),
                    state: HealthState::NotPolled,
                    last: None,
                    failures_in_row: 0,
                    successes_in_row: 0,
                    failing_since: None,
                    expect_version: h.expect_version,
                    expected_version: None,
                    version_mismatch: None,
                })
                .collect(),
            metrics: plan
                .metrics
                .iter()
                .map(|m| {
                    let window = u64::try_from(m.baseline_window.as_millis()).unwrap_or(u64::MAX);
                    MetricRow {
                        id: m.id.clone(),
                        name: m.name.clone(),
                        unit: m.unit.clone(),
                        warn: m.warn.clone(),
                        abort: m.abort.clone(),
                        baseline: None,
                        samples: VecDeque::new(),
                        error: None,
                        verdict: Verdict::NotPolled,
                        rules: analysis::Rules::of(m, false),
                        rules_after_release: analysis::Rules::of(m, true),
                        released: false,
                        baseline_window_ms: window,
                        errors_in_row: 0,
                        no_data_since: None,
                        last_read_at: None,
                        analysis: None,
                        stable: VecDeque::new(),
                        stable_version: None,
                        live_from: (m.baseline_mode == crate::plan::BaselineMode::Live)
                            .then(|| analysis::evidence::stable_source(m))
                            .flatten(),
                    }
                })
                .collect(),
        }
    }

    /// Takes what the release knows into the rows: captured baselines, the versions each
    /// endpoint should run, and whether the after-release thresholds apply.
    pub fn sync(&mut self, state: &State) {
        let (new, old) = state
            .info
            .as_ref()
            .map_or((None, None), |i| (Some(i.version.clone()), i.previous_version.clone()));
        for row in &mut self.health {
            row.expected_version = match row.role {
                Role::Canary => new.clone(),
                Role::Stable => old.clone(),
                Role::Shared => None,
            };
        }
        // Paused by a breach while watched after completion, it is still judged as released.
        let released = matches!(state.status, Status::Completed | Status::Paused)
            && state.completed_at.is_some();
        for row in &mut self.metrics {
            row.stable_version.clone_from(&old);
            if row.live_from.is_some() {
                // A live baseline follows the stable side's readings, not a captured value.
                if row.released != released {
                    row.released = released;
                    if let Some(at) = row.last_read_at {
                        row.reassess(at);
                    }
                }
                continue;
            }
            let baseline = state.baselines.get(&row.id).copied();
            if row.baseline != baseline || row.released != released {
                row.baseline = baseline;
                row.released = released;
                let rules = row.current_rules();
                row.warn = rules.warn;
                row.abort = rules.abort;
                if let Some(at) = row.last_read_at {
                    row.reassess(at);
                }
            }
        }
    }

    /// Folds a poller's reading into its row.
    pub fn apply(&mut self, plan: &Plan, reading: Reading) {
        match reading {
            Reading::Health { index, reading } => {
                if let (Some(row), Some(spec)) =
                    (self.health.get_mut(index), plan.health.get(index))
                {
                    row.record(reading, spec.down_after, spec.up_after);
                }
            }
            Reading::Metric { index, at, result } => {
                if let Some(row) = self.metrics.get_mut(index) {
                    row.record(at, result);
                }
                self.refresh_live_baselines(at);
            }
            Reading::Stable { index, at, value } => {
                if let Some(row) = self.metrics.get_mut(index) {
                    row.record_stable(at, value);
                }
                self.refresh_live_baselines(at);
            }
        }
    }

    /// Sets each live-mode row's baseline to its stable side's median over its window at
    /// `now`, and judges it again.
    pub fn refresh_live_baselines(&mut self, now: Timestamp) {
        let updates: Vec<(usize, Option<f64>)> = self
            .metrics
            .iter()
            .enumerate()
            .filter_map(|(i, row)| {
                let source = row.live_from.as_deref()?;
                let samples: Vec<(Timestamp, f64)> =
                    if source == analysis::stable_series_id(&row.id) {
                        row.stable.iter().copied().collect()
                    } else {
                        self.metric(source)?.samples.iter().copied().collect()
                    };
                let value =
                    analysis::baseline(&samples, now, row.baseline_window_ms).map(|(v, _)| v);
                (value != row.baseline).then_some((i, value))
            })
            .collect();
        for (i, value) in updates {
            if let Some(row) = self.metrics.get_mut(i) {
                row.baseline = value;
                if let Some(at) = row.last_read_at {
                    row.reassess(at);
                }
            }
        }
    }

    /// The metric row with this id.
    pub fn metric(&self, id: &str) -> Option<&MetricRow> {
        self.metrics.iter().find(|m| m.id == id)
    }

    /// The health row with this id.
    pub fn health_row(&self, id: &str) -> Option<&HealthRow> {
        self.health.iter().find(|h| h.id == id)
    }
}

impl HealthRow {
    /// Folds in a check: `down_after` failures in a row make it down, `up_after` successes
    /// in a row bring a down endpoint back up. A version other than the expected one is
    /// flagged, not counted as a failure.
    pub fn record(&mut self, reading: HealthReading, down_after: u32, up_after: u32) {
        let ok = reading.error.is_none();
        if ok {
            self.failures_in_row = 0;
            self.failing_since = None;
            self.successes_in_row = self.successes_in_row.saturating_add(1);
            self.state = match self.state {
                HealthState::Down if self.successes_in_row < up_after => HealthState::Down,
                _ => HealthState::Up,
            };
        } else {
            self.successes_in_row = 0;
            self.failures_in_row = self.failures_in_row.saturating_add(1);
            self.failing_since.get_or_insert(reading.at);
            self.state = if self.failures_in_row >= down_after {
                HealthState::Down
            } else {
                HealthState::Flapping
            };
        }
        self.version_mismatch = match (&reading.version, &self.expected_version) {
            (Some(running), Some(expected))
                if self.expect_version && !crate::release::same_version(running, expected) =>
            {
                Some(format!("{running} ≠ {expected}"))
            }
            _ => None,
        };
        self.last = Some(reading);
    }
}

impl MetricRow {
    /// The rules in force: the after-release ones once the release has completed.
    pub fn current_rules(&self) -> analysis::Rules {
        if self.released { self.rules_after_release.clone() } else { self.rules.clone() }
    }

    /// Folds in a reading: a value is a sample; `Ok(None)` is "no data"; an error is a probe
    /// error that keeps the last good values (shown stale) and the verdict as it was.
    pub fn record(&mut self, at: Timestamp, result: Result<Option<f64>, String>) {
        self.last_read_at = Some(at);
        match result {
            Ok(Some(v)) if v.is_finite() => {
                self.error = None;
                self.errors_in_row = 0;
                self.no_data_since = None;
                self.samples.push_back((at, v));
                let keep_ms = self
                    .baseline_window_ms
                    .max(self.rules.for_ms)
                    .max(self.rules_after_release.for_ms)
                    .max(KEPT_MIN_MS);
                while self.samples.len() > KEPT_SAMPLES
                    || self.samples.front().is_some_and(|(t, _)| at.millis_since(*t) > keep_ms)
                {
                    self.samples.pop_front();
                }
                self.reassess(at);
            }
            Ok(_) => {
                self.error = None;
                self.errors_in_row = 0;
                self.no_data_since.get_or_insert(at);
                self.reassess(at);
            }
            Err(e) => {
                self.error = Some(e);
                self.errors_in_row = self.errors_in_row.saturating_add(1);
            }
        }
    }

    /// Folds in a reading of the stable side (a `by_label` series' previous version).
    pub fn record_stable(&mut self, at: Timestamp, value: Option<f64>) {
        let Some(v) = value.filter(|v| v.is_finite()) else { return };
        self.stable.push_back((at, v));
        let keep_ms = self.baseline_window_ms.max(KEPT_MIN_MS);
        while self.stable.len() > KEPT_SAMPLES
            || self.stable.front().is_some_and(|(t, _)| at.millis_since(*t) > keep_ms)
        {
            self.stable.pop_front();
        }
    }

    /// The verdict at `now`, with its explanation.
    pub fn assess(&self, now: Timestamp) -> analysis::Verdict {
        let samples: Vec<(Timestamp, f64)> = self.samples.iter().copied().collect();
        let observed = analysis::Observed { samples: &samples, no_data_since: self.no_data_since };
        analysis::evaluate(&self.current_rules(), &observed, self.baseline, now)
    }

    /// Recomputes the verdict shown at `now`.
    pub fn reassess(&mut self, now: Timestamp) {
        let verdict = self.assess(now);
        self.verdict = Verdict::of(verdict.status);
        self.analysis = Some(verdict);
    }

    /// The newest good value and when it was read.
    pub fn latest(&self) -> Option<(Timestamp, f64)> {
        self.samples.back().copied()
    }
}

pub mod health;
pub mod metrics;
pub mod prometheus;
pub mod scrape;
pub use crate::plan::selector;

pub use metrics::{Versions, spawn_metric_pollers};

/// A reading from a poller task.
#[derive(Debug, Clone)]
pub enum Reading {
    /// A health check result for row `index`.
    Health {
        /// Row index.
        index: usize,
        /// The result.
        reading: HealthReading,
    },
    /// A metric value for row `index`.
    Metric {
        /// Row index.
        index: usize,
        /// When.
        at: Timestamp,
        /// The value, none, or why it could not be read.
        result: Result<Option<f64>, String>,
    },
    /// The stable side of a `by_label` metric for row `index`: the previous version's
    /// series, read beside the new one (its baseline comes from here).
    Stable {
        /// Row index.
        index: usize,
        /// When.
        at: Timestamp,
        /// The previous version's value (none: it has no series).
        value: Option<f64>,
    },
}

/// Starts one task per health endpoint; each polls on its interval until `cancel`, never
/// queueing more than one check (a slow endpoint just skips ticks).
pub fn spawn_health_pollers(
    plan: &Plan,
    tx: tokio::sync::mpsc::Sender<Reading>,
    cancel: tokio_util::sync::CancellationToken,
) {
    let client = crate::action::http_client(std::time::Duration::from_secs(30));
    for (index, probe) in plan.health.iter().cloned().enumerate() {
        // A traffic provider's server is asked of the provider, not over HTTP.
        let server = crate::provider::server_probe(plan, &probe);
        let client = client.clone();
        let tx = tx.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(health::stagger(index, probe.interval)) => {}
            }
            let mut tick = tokio::time::interval(probe.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let reading = tokio::select! {
                    () = cancel.cancelled() => return,
                    r = async {
                        match &server {
                            Some((provider, server)) => {
                                crate::provider::check_server(provider.as_ref(), server, crate::clock::now).await
                            }
                            None => health::check(&client, &probe, crate::clock::now).await,
                        }
                    } => r,
                };
                if tx.send(Reading::Health { index, reading }).await.is_err() {
                    return;
                }
            }
        });
    }
}
