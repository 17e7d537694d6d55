//! Probe readings as the cockpit shows them: one row per health endpoint and per metric
//! series. Until a probe has reported, its row says "not polled yet": no invented data.

use std::collections::VecDeque;

use crate::plan::{Plan, Role, Threshold};
use crate::release::Timestamp;

/// How many readings of a series are kept for the sparkline.
pub const SPARK_KEPT_SAMPLES: usize = 120;

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
            Self::Inconclusive => ("?", "no data"),
        }
    }
}

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
    pub warn: Option<Threshold>,
    /// Abort level.
    pub abort: Option<Threshold>,
    /// Baseline captured before the first shift.
    pub baseline: Option<f64>,
    /// Recent readings, oldest first.
    pub samples: VecDeque<(Timestamp, f64)>,
    /// The last error from the source, if the last read failed.
    pub error: Option<String>,
    /// Verdict.
    pub verdict: Verdict,
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
                })
                .collect(),
            metrics: plan
                .metrics
                .iter()
                .map(|m| MetricRow {
                    id: m.id.clone(),
                    name: m.name.clone(),
                    unit: m.unit.clone(),
                    warn: m.warn,
                    abort: m.abort,
                    baseline: None,
                    samples: VecDeque::new(),
                    error: None,
                    verdict: Verdict::NotPolled,
                })
                .collect(),
        }
    }
}

impl HealthRow {
    /// Folds in a check: `down_after` failures in a row make it down, `up_after` successes
    /// in a row bring a down endpoint back up.
    pub fn record(&mut self, reading: HealthReading, down_after: u32, up_after: u32) {
        let ok = reading.error.is_none();
        if ok {
            self.failures_in_row = 0;
            self.successes_in_row = self.successes_in_row.saturating_add(1);
            self.state = match self.state {
                HealthState::Down if self.successes_in_row < up_after => HealthState::Down,
                _ => HealthState::Up,
            };
        } else {
            self.successes_in_row = 0;
            self.failures_in_row = self.failures_in_row.saturating_add(1);
            self.state = if self.failures_in_row >= down_after {
                HealthState::Down
            } else {
                HealthState::Flapping
            };
        }
        self.last = Some(reading);
    }
}

impl MetricRow {
    /// Folds in a reading; an error keeps the last good values (shown stale).
    pub fn record(&mut self, at: Timestamp, result: Result<Option<f64>, String>) {
        match result {
            Ok(Some(v)) => {
                self.error = None;
                self.samples.push_back((at, v));
                while self.samples.len() > SPARK_KEPT_SAMPLES {
                    self.samples.pop_front();
                }
                self.verdict = self.judge(v);
            }
            Ok(None) => {
                self.error = None;
                self.verdict = Verdict::Inconclusive;
            }
            Err(e) => self.error = Some(e),
        }
    }

    fn judge(&self, v: f64) -> Verdict {
        let breached = |t: &Option<Threshold>| {
            t.and_then(|t| t.breached_by(v, self.baseline)).unwrap_or(false)
        };
        if breached(&self.abort) {
            Verdict::Fail
        } else if breached(&self.warn) {
            Verdict::Warn
        } else {
            Verdict::Pass
        }
    }
}

pub mod health;

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
                    r = health::check(&client, &probe, crate::clock::now) => r,
                };
                if tx.send(Reading::Health { index, reading }).await.is_err() {
                    return;
                }
            }
        });
    }
}
