//! Polling metric series: one task per `[[metrics]]` entry, each on its own interval with a
//! per-request timeout, never more than one read in flight (a slow source skips ticks: the
//! latest value wins, nothing queues). Readings go to the loop over a channel; errors are
//! data on that channel too.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Reading;
use super::prometheus;
use super::scrape::{self, Compiled, Computed, Scraped, Snapshot};
use crate::action::template;
use crate::plan::{MetricProbe, MetricSource, Plan};
use crate::release::Timestamp;

/// Shortest per-request timeout of a metric read.
const MIN_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest per-request timeout of a metric read.
const MAX_TIMEOUT: Duration = Duration::from_secs(10);

/// The per-request timeout of a series read every `interval`: the interval itself, kept
/// between 1 s and 10 s (the plan has no separate timeout for metrics).
pub fn timeout_for(interval: Duration) -> Duration {
    interval.clamp(MIN_TIMEOUT, MAX_TIMEOUT)
}

/// The versions a `by_label` series is picked by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versions {
    /// The version being released.
    pub new: Option<String>,
    /// The version it replaces.
    pub old: Option<String>,
}

/// One series' reader, with what it remembers between reads (the previous scrape).
#[derive(Debug)]
pub struct MetricReader {
    probe: MetricProbe,
    versions: Versions,
    compiled: Result<Option<Compiled>, String>,
    previous: Option<Scraped>,
    /// A `by_label` series' stable side as of the last successful read.
    stable: Option<Option<f64>>,
}

impl MetricReader {
    /// A reader for `probe`.
    pub fn new(probe: MetricProbe, versions: Versions) -> Self {
        let compiled = match &probe.source {
            MetricSource::Scrape { compute, .. } => Compiled::new(compute).map(Some),
            MetricSource::Prometheus { .. } | MetricSource::Json { .. } => Ok(None),
        };
        Self { probe, versions, compiled, previous: None, stable: None }
    }

    /// The stable side read by the last `read` of a `by_label` series (taken: read once).
    pub fn take_stable(&mut self) -> Option<Option<f64>> {
        self.stable.take()
    }

    /// Reads once at `at`. `None` when there is nothing to report yet (the first scrape of a
    /// rate); `Ok(None)` for no data; `Err` for a probe error.
    pub async fn read(
        &mut self,
        client: &reqwest::Client,
        at: Timestamp,
    ) -> Option<Result<Option<f64>, String>> {
        let timeout = timeout_for(self.probe.interval);
        let mut secrets = Vec::new();
        match &self.probe.source {
            MetricSource::Prometheus { url, query, by_label } => {
                let url = match template::resolve_secrets(url, &mut secrets) {
                    Ok(u) => u.secret,
                    Err(e) => return Some(Err(e)),
                };
                let max_body = self.probe.max_body;
                self.stable = None;
                let result =
                    prometheus::query(client, &url, query, timeout, max_body).await.and_then(|s| {
                        if let Some(label) = by_label.as_deref() {
                            let old = self.versions.old.as_deref();
                            self.stable = Some(
                                prometheus::stable_value(&s, label, old)
                                    .or(old.and(self.probe.absent)),
                            );
                        }
                        prometheus::pick(
                            &s,
                            by_label.as_deref(),
                            self.versions.new.as_deref(),
                            self.versions.old.as_deref(),
                        )
                    });
                // An error names the host, which a secret may be part of.
                Some(
                    result
                        .map(|p| present_or_absent(p.value, self.probe.absent))
                        .map_err(|e| template::redact(&e, &secrets)),
                )
            }
            MetricSource::Json { url, pointer } => {
                let url = match template::resolve_secrets(url, &mut secrets) {
                    Ok(u) => u.secret,
                    Err(e) => return Some(Err(e)),
                };
                let text = match fetch_json(client, &url, timeout, self.probe.max_body).await {
                    Ok(t) => t,
                    Err(e) => return Some(Err(template::redact(&e, &secrets))),
                };
                // Parsing up to `max_body` of JSON is kept off the thread that draws.
                let pointer = pointer.clone();
                let picked = tokio::task::spawn_blocking(move || json_value(&text, &pointer)).await;
                Some(picked.unwrap_or_else(|e| Err(format!("reading the JSON body failed: {e}"))))
            }
            MetricSource::Scrape { url, .. } => {
                let compiled = match &self.compiled {
                    Ok(Some(c)) => c,
                    Ok(None) => return Some(Err("nothing to compute".into())),
                    Err(e) => return Some(Err(e.clone())),
                };
                let url = match template::resolve_secrets(url, &mut secrets) {
                    Ok(u) => u.secret,
                    Err(e) => return Some(Err(e)),
                };
                let text = match scrape::fetch(client, &url, timeout, self.probe.max_body).await {
                    Ok(t) => t,
                    Err(e) => return Some(Err(template::redact(&e, &secrets))),
                };
                // Parsing a page of up to `max_body` and comparing it with the previous one
                // takes long enough to be felt on the thread that draws: a blocking thread
                // does it.
                let (compiled, previous) = (compiled.clone(), self.previous.take());
                let worked = tokio::task::spawn_blocking(move || match Snapshot::parse(&text) {
                    Ok(snapshot) => {
                        let current = Scraped { at, snapshot };
                        let computed = compiled.compute(previous.as_ref(), &current);
                        Ok((current, computed))
                    }
                    // A page that does not parse leaves the previous scrape to compare with.
                    Err(e) => Err((e, previous)),
                })
                .await;
                let (current, computed) = match worked {
                    Ok(Ok(done)) => done,
                    Ok(Err((e, previous))) => {
                        self.previous = previous;
                        return Some(Err(e));
                    }
                    Err(e) => return Some(Err(format!("reading the /metrics page failed: {e}"))),
                };
                self.previous = Some(current);
                match computed {
                    Computed::Value(v) => Some(Ok(Some(v))),
                    Computed::NoData(_) => Some(Ok(None)),
                    Computed::Absent(_) => Some(Ok(self.probe.absent)),
                    Computed::Warming => None,
                }
            }
        }
    }
}

/// A successful read's value; a series missing from it counts as the metric's `absent`
/// value when the plan gives one (a failed read never gets here: it stays an error).
pub fn present_or_absent(value: Option<f64>, absent: Option<f64>) -> Option<f64> {
    value.or(absent)
}

/// GETs a JSON document, no further than `max_body`; any status but 200 is an error.
async fn fetch_json(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    max_body: u64,
) -> Result<String, String> {
    use crate::action::http::{describe, read_capped_text};
    let response = client
        .get(url)
        .header("Accept", "application/json")
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(format!("status {status}, expected 200"));
    }
    read_capped_text(response, max_body, "max_body").await
}

/// The number at `pointer` in a JSON body: a number, or a string holding one; `null` is no
/// data; anything else (or nothing there) is an error saying what was found.
pub fn json_value(body: &str, pointer: &str) -> Result<Option<f64>, String> {
    let json: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    match json.pointer(pointer) {
        None => Err(format!("the JSON pointer {pointer} finds nothing in the body")),
        Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => Ok(n.as_f64()),
        Some(serde_json::Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .map(Some)
            .map_err(|_| format!("{pointer} is \"{s}\", not a number")),
        Some(other) => Err(format!("{pointer} is {other}, not a number")),
    }
}

/// Starts one task per metric series; each reads on its interval until `cancel`.
pub fn spawn_metric_pollers(
    plan: &Plan,
    versions: &Versions,
    tx: mpsc::Sender<Reading>,
    cancel: CancellationToken,
) {
    let client = crate::action::http_client(MAX_TIMEOUT);
    for (index, probe) in plan.metrics.iter().cloned().enumerate() {
        let client = client.clone();
        let tx = tx.clone();
        let cancel = cancel.clone();
        let interval = probe.interval.max(Duration::from_millis(100));
        let mut reader = MetricReader::new(probe, versions.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(super::health::stagger(index, interval)) => {}
            }
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let at = crate::clock::now();
                let result = tokio::select! {
                    () = cancel.cancelled() => return,
                    r = reader.read(&client, at) => r,
                };
                let Some(result) = result else { continue };
                let stable = reader.take_stable();
                let sent = tokio::select! {
                    () = cancel.cancelled() => return,
                    s = tx.send(Reading::Metric { index, at, result }) => s,
                };
                if sent.is_err() {
                    return;
                }
                if let Some(value) = stable {
                    let sent = tokio::select! {
                        () = cancel.cancelled() => return,
                        s = tx.send(Reading::Stable { index, at, value }) => s,
                    };
                    if sent.is_err() {
                        return;
                    }
                }
            }
        });
    }
}
