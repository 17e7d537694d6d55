//! A rolling deploy's progress, read while its deploy step's action runs: every
//! `progress.every`, and once more right after the action ends (so the final count is on
//! record), by the process that runs the action. The source is an action whose output is
//! `N/M` (updated of desired), a fraction (`0.5`) or a percent (`50%`), or a metric whose
//! latest stored reading is the updated share. Each change is recorded as
//! `Command::RecordProgress`; a failed read is logged and reported like a failed read-back,
//! and never fails the step.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::readback::{self, last_line, shorten};
use super::{Envelope, Report};
use crate::plan::{ActionSpec, Plan, ProgressSource, StepKind};
use crate::release::{Actor, Command, ReleaseInfo, State, Timestamp};
use crate::store::{self, ExecuteError, Store};
use crate::{action, clock};

/// What one read of a progress source found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The updated share, 0 to 1.
    pub fraction: f64,
    /// How many are updated, when the source counts.
    pub updated: Option<u32>,
    /// How many there should be, when the source counts.
    pub desired: Option<u32>,
}

/// The rollout progress in an action's output: `N/M` (`2/3`, counts kept), a percent
/// (`67%`) or a fraction from 0 to 1 (`0.67`), on the last non-empty line, or at `pointer`
/// in its JSON (a string in one of those forms, or a number).
pub fn parse_progress(text: &str, pointer: Option<&str>) -> Result<Reading, String> {
    let answer = match pointer {
        Some(pointer) => match readback::at_pointer(text, pointer)? {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            other => return Err(format!("`{pointer}` is {other}, not a progress")),
        },
        None => match counts_in_json(last_line(text)) {
            Some(reading) => return reading,
            None => last_line(text).to_owned(),
        },
    };
    parse_answer(answer.trim())
}

/// `{"updated": 2, "desired": 3, ...}`, as a platform's or the demo's rollout API answers:
/// counts without a pointer. `None` when the line is not such an object.
fn counts_in_json(line: &str) -> Option<Result<Reading, String>> {
    let json: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    let count = |key: &str| json.get(key).and_then(serde_json::Value::as_u64);
    let (updated, desired) = (count("updated")?, count("desired")?);
    Some(parse_answer(&format!("{updated}/{desired}")))
}

fn parse_answer(answer: &str) -> Result<Reading, String> {
    let not_progress = || {
        format!(
            "`{}` is not a progress (expected N/M such as 2/3, a percent, or a fraction from 0 to 1)",
            shorten(answer)
        )
    };
    if let Some((n, m)) = answer.split_once('/') {
        let (updated, desired) = (
            n.trim().parse::<u32>().map_err(|_| not_progress())?,
            m.trim().parse::<u32>().map_err(|_| not_progress())?,
        );
        if desired == 0 {
            return Err(format!("`{answer}`: nothing is desired (M is 0)"));
        }
        // A surge may briefly count more updated than desired: the rollout is then whole.
        let fraction = (f64::from(updated) / f64::from(desired)).min(1.0);
        return Ok(Reading { fraction, updated: Some(updated), desired: Some(desired) });
    }
    let (number, percent) = match answer.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (answer, false),
    };
    let value = number.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(not_progress)?;
    let fraction = if percent { value / 100.0 } else { value };
    if !(0.0..=1.0).contains(&fraction) {
        return Err(if percent {
            format!("{value}% is not between 0% and 100%")
        } else {
            format!("{value} is not a fraction from 0 to 1 (write a percent as {value}%)")
        });
    }
    Ok(Reading { fraction, updated: None, desired: None })
}

/// The updated share in a metric reading, by the metric's unit (`ratio`: 0–1, `%`: 0–100).
pub fn metric_fraction(metric: &str, unit: &str, value: f64) -> Result<f64, String> {
    let fraction = match unit {
        "ratio" => value,
        "%" => value / 100.0,
        other => {
            return Err(format!(
                "metric `{metric}` has unit \"{other}\"; a rollout's progress is a ratio or a %"
            ));
        }
    };
    if fraction.is_finite() && (0.0..=1.0).contains(&fraction) {
        Ok(fraction)
    } else {
        Err(format!("metric `{metric}` reads {value} {unit}, which is not a share of the rollout"))
    }
}

/// Where one deploy step's progress is read.
#[derive(Debug, Clone)]
enum Source {
    Action(ActionSpec),
    Metric { id: String, unit: String },
}

impl Source {
    fn name(&self) -> &str {
        match self {
            Self::Action(spec) => &spec.id,
            Self::Metric { id, .. } => id,
        }
    }
}

/// Reads one deploy step's progress and records each change.
#[derive(Debug)]
pub(super) struct Poller {
    store: Store,
    client: reqwest::Client,
    tx: mpsc::UnboundedSender<Envelope>,
    release_id: i64,
    step: String,
    source: Source,
    every: std::time::Duration,
    info: ReleaseInfo,
    actor: Actor,
    /// Readings older than this are not this run's.
    since: Timestamp,
    /// What the record says now (as far as this poller knows).
    recorded: Option<Reading>,
    /// The last failure reported, so a source that keeps failing the same way is told once.
    failing: Option<String>,
}

impl Poller {
    /// A poller for `step`'s run by `by`, when the step is a deploy step with a progress
    /// source; its changes are recorded in flightdeck's name on `by`'s process.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn for_step(
        plan: &Plan,
        state: &State,
        release_id: i64,
        step: &str,
        by: &Actor,
        store: &Store,
        client: &reqwest::Client,
        tx: &mpsc::UnboundedSender<Envelope>,
    ) -> Option<Self> {
        let StepKind::Deploy { progress: Some(progress), .. } = &plan.step(step)?.step.kind else {
            return None;
        };
        let source = match &progress.source {
            ProgressSource::Action(id) => Source::Action(plan.action(id)?.clone()),
            ProgressSource::Metric(id) => {
                Source::Metric { id: id.clone(), unit: plan.unit_of(id).to_owned() }
            }
        };
        let info = action::info_for_step(plan, step, state.info.as_ref()?);
        let recorded = state.rollout.as_ref().filter(|r| r.step == step).map(|r| Reading {
            fraction: r.fraction,
            updated: r.updated,
            desired: r.desired,
        });
        Some(Self {
            store: store.clone(),
            client: client.clone(),
            tx: tx.clone(),
            release_id,
            step: step.to_owned(),
            source,
            every: progress.every,
            info,
            actor: Actor::automation(&by.account, &by.host, by.pid),
            since: clock::now(),
            recorded,
            failing: None,
        })
    }

    /// Runs `action` to its end, reading the progress every `every` meanwhile and once
    /// right after it ends (unless `stopped`: a rollback is under way and waits for nobody).
    pub(super) async fn around<T>(
        self,
        action: impl std::future::Future<Output = T>,
        stopped: &CancellationToken,
    ) -> T {
        let ended = CancellationToken::new();
        // On a task of its own, so a slow source never holds the action's output up.
        let polling = tokio::spawn(self.poll_until(ended.clone()));
        let result = action.await;
        ended.cancel();
        if let Ok(mut poller) = polling.await {
            if !stopped.is_cancelled() {
                let reading = poller.read().await;
                poller.record(reading).await;
            }
        }
        result
    }

    async fn poll_until(mut self, ended: CancellationToken) -> Self {
        let first = tokio::time::Instant::now() + self.every;
        let mut tick = tokio::time::interval_at(first, self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = ended.cancelled() => return self,
                _ = tick.tick() => {
                    // A read under way is finished, not dropped: its command ends cleanly.
                    let reading = self.read().await;
                    self.record(reading).await;
                }
            }
        }
    }

    async fn read(&self) -> Result<Reading, String> {
        match &self.source {
            Source::Action(spec) => {
                let cancel = CancellationToken::new();
                let (text, pointer) = readback::action_output(
                    spec,
                    &self.info,
                    self.release_id,
                    &self.client,
                    &cancel,
                )
                .await?;
                parse_progress(&text, pointer.as_deref())
            }
            Source::Metric { id, unit } => {
                let rows = self
                    .store
                    .samples(self.release_id, id, 1)
                    .await
                    .map_err(|e| format!("reading the stored readings of `{id}`: {e}"))?;
                let latest = rows.last().filter(|r| r.at >= self.since).ok_or_else(|| {
                    format!(
                        "no reading of `{id}` since the deploy started (the release's driver records them: is a cockpit or `flightdeck supervise` running?)"
                    )
                })?;
                let value = latest.value.ok_or_else(|| {
                    latest.error.clone().unwrap_or_else(|| format!("`{id}` has no data"))
                })?;
                let fraction = metric_fraction(id, unit, value)?;
                Ok(Reading { fraction, updated: None, desired: None })
            }
        }
    }

    async fn record(&mut self, reading: Result<Reading, String>) {
        let reading = match reading {
            Ok(reading) => {
                self.failing = None;
                reading
            }
            Err(e) => {
                let error = format!(
                    "reading the progress of `{}` with `{}` failed: {e}",
                    self.step,
                    self.source.name()
                );
                if self.failing.as_ref() != Some(&error) {
                    tracing::warn!(release = self.release_id, step = %self.step, "{error}");
                    let report =
                        Report::TaskFailed { task: "rollout progress", error: error.clone() };
                    let _ = self.tx.send(report.into());
                    self.failing = Some(error);
                }
                return;
            }
        };
        if self.recorded == Some(reading) {
            return;
        }
        let command = Command::RecordProgress {
            step: self.step.clone(),
            fraction: reading.fraction,
            updated: reading.updated,
            desired: reading.desired,
        };
        let executed =
            store::execute(&self.store, self.release_id, &command, &self.actor, None, clock::now)
                .await;
        match executed {
            Ok((records, loaded)) => {
                self.recorded = Some(reading);
                let envelope = Envelope::committed(
                    self.release_id,
                    "rollout progress",
                    records,
                    loaded,
                    false,
                );
                let _ = self.tx.send(envelope);
            }
            // Unchanged after all (another process recorded it), or the release moved on:
            // the next read judges the new state.
            Err(ExecuteError::Rejected(r)) => {
                tracing::debug!(release = self.release_id, step = %self.step, "progress not recorded: {}", r.message);
                self.recorded = Some(reading);
            }
            Err(e) => {
                let _ = self.tx.send(
                    Report::TaskFailed {
                        task: "rollout progress",
                        error: format!("recording the progress of `{}` failed: {e}", self.step),
                    }
                    .into(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Reading, metric_fraction, parse_progress};

    fn counts(updated: u32, desired: u32) -> Reading {
        Reading {
            fraction: f64::from(updated) / f64::from(desired),
            updated: Some(updated),
            desired: Some(desired),
        }
    }

    #[test]
    fn counts_percents_and_fractions_are_progress() {
        assert_eq!(parse_progress("rolling...\n2/3\n", None), Ok(counts(2, 3)));
        assert_eq!(parse_progress(" 3 / 3 ", None), Ok(counts(3, 3)));
        let half = Reading { fraction: 0.5, updated: None, desired: None };
        assert_eq!(parse_progress("50%", None), Ok(half));
        assert_eq!(parse_progress("0.5", None), Ok(half));
        assert_eq!(
            parse_progress(r#"{"rollout":{"done":"1/4"}}"#, Some("/rollout/done")),
            Ok(counts(1, 4))
        );
        assert_eq!(parse_progress(r#"{"share":0.5}"#, Some("/share")), Ok(half));
        let surge = parse_progress("4/3", None).expect("a surge is a whole rollout");
        assert!((surge.fraction - 1.0).abs() < f64::EPSILON && surge.updated == Some(4));
    }

    #[test]
    fn anything_else_is_refused_saying_what_was_expected() {
        assert!(parse_progress("", None).unwrap_err().contains("expected N/M"));
        assert!(parse_progress("two/3", None).unwrap_err().contains("expected N/M"));
        let answer = r#"{"desired":3,"updated":2,"version":"1.4.0"}"#;
        assert_eq!(parse_progress(answer, None).unwrap(), counts(2, 3));
        assert!(
            parse_progress(r#"{"desired":0,"updated":0}"#, None).unwrap_err().contains("M is 0")
        );
        assert!(parse_progress("2/0", None).unwrap_err().contains("M is 0"));
        assert!(parse_progress("40", None).unwrap_err().contains("write a percent as 40%"));
        assert!(parse_progress("140%", None).unwrap_err().contains("between 0% and 100%"));
        assert!(parse_progress("{}", Some("/x")).unwrap_err().contains("nothing at `/x`"));
    }

    #[test]
    fn a_metric_reads_by_its_unit() {
        assert_eq!(metric_fraction("m", "ratio", 0.25), Ok(0.25));
        assert_eq!(metric_fraction("m", "%", 25.0), Ok(0.25));
        assert!(metric_fraction("m", "ms", 0.5).unwrap_err().contains("ratio or a %"));
        assert!(metric_fraction("m", "%", 250.0).is_err());
    }
}
