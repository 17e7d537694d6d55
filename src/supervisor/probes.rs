//! The probes a supervised release is watched with: the health and metric pollers, the
//! sample writer that records their readings (so `next`, the report and other processes judge
//! the same numbers), the readings loaded back when a driver opens, and a board kept current
//! for drivers without a screen.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Reporter;
use crate::plan::Plan;
use crate::probe::{ProbeBoard, Reading};
use crate::release::{State, Timestamp};
use crate::store::{self, Store};

/// How many readings wait for the store at most; past that they are dropped (the screen
/// still gets them), so a slow disk never slows the pollers.
const SAMPLE_QUEUE_READINGS: usize = 1024;
/// How long readings gather before they are written together.
const SAMPLE_BATCH_WINDOW: Duration = Duration::from_secs(1);
/// How far back stored readings are loaded when a driver opens.
const PRELOAD_SAMPLES_MS: u64 = 30 * 60 * 1000;

/// Starts the health and metric pollers of `plan` and forwards each reading, mapped by
/// `map`, to `tx`; with a `sink`, also records them in the store (in batches, on their own
/// task). A failed write is reported on `failures` (once per run of failures), never dropped
/// silently.
pub fn spawn<M: Send + 'static>(
    plan: &Plan,
    state: &State,
    sink: Option<(Store, i64)>,
    tx: mpsc::Sender<M>,
    map: fn(Reading) -> M,
    failures: Option<Reporter>,
    cancel: CancellationToken,
) {
    let (readings_tx, mut readings_rx) = mpsc::channel(256);
    let versions = crate::probe::Versions {
        new: state.info.as_ref().map(|i| i.version.clone()),
        old: state.info.as_ref().and_then(|i| i.previous_version.clone()),
    };
    crate::probe::spawn_metric_pollers(plan, &versions, readings_tx.clone(), cancel.clone());
    crate::probe::spawn_health_pollers(plan, readings_tx, cancel.clone());
    let series: Vec<String> = plan.metrics.iter().map(|m| m.id.clone()).collect();
    let health: Vec<String> = plan.health.iter().map(|h| h.id.clone()).collect();
    let samples_tx = sink.map(|(store, id)| spawn_sample_writer(store, id, failures, cancel));
    tokio::spawn(async move {
        while let Some(reading) = readings_rx.recv().await {
            let row = match &reading {
                Reading::Health { index, reading } => {
                    health.get(*index).map(|id| store::SampleRow {
                        series: id.clone(),
                        kind: store::SampleKind::Health,
                        at: reading.at,
                        value: reading.error.is_none().then_some(reading.latency_ms as f64),
                        error: reading.error.clone(),
                    })
                }
                Reading::Metric { index, at, result } => {
                    series.get(*index).map(|id| store::SampleRow {
                        series: id.clone(),
                        kind: store::SampleKind::Metric,
                        at: *at,
                        value: result.as_ref().ok().copied().flatten(),
                        error: result.as_ref().err().cloned(),
                    })
                }
                // The stable side of a by_label metric is stored beside it, as `ID@stable`.
                Reading::Stable { index, at, value } => {
                    series.get(*index).map(|id| store::SampleRow {
                        series: crate::analysis::stable_series_id(id),
                        kind: store::SampleKind::Metric,
                        at: *at,
                        value: *value,
                        error: None,
                    })
                }
            };
            if let (Some(samples_tx), Some(row)) = (&samples_tx, row) {
                let _ = samples_tx.try_send(row);
            }
            if tx.send(map(reading)).await.is_err() {
                return;
            }
        }
    });
}

/// Writes readings to the store in batches: whatever arrived within [`SAMPLE_BATCH_WINDOW`]
/// of the first one, in one transaction (one fsync a second, however many probes).
fn spawn_sample_writer(
    store: Store,
    release_id: i64,
    failures: Option<Reporter>,
    cancel: CancellationToken,
) -> mpsc::Sender<store::SampleRow> {
    let (tx, mut rx) = mpsc::channel::<store::SampleRow>(SAMPLE_QUEUE_READINGS);
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            let first = tokio::select! {
                () = cancel.cancelled() => return,
                r = rx.recv() => r,
            };
            let Some(first) = first else { return };
            tokio::select! {
                () = cancel.cancelled() => {}
                () = tokio::time::sleep(SAMPLE_BATCH_WINDOW) => {}
            }
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            // A failed write loses readings, never the release: the screen has them anyway.
            match store.record_samples(release_id, &batch).await {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    if let Some(failures) = &failures {
                        failures.task_failed(
                            "sample writer",
                            format!(
                                "probe readings could not be recorded ({e}); bakes cannot pass on readings that are not stored"
                            ),
                        );
                    }
                }
                Err(_) => {}
            }
            if cancel.is_cancelled() {
                return;
            }
        }
    });
    tx
}

/// Folds the readings recorded for the release (by any process) into `board`, so a driver
/// that just opened shows the same numbers and can judge a bake at once.
pub async fn preload(
    store: &Store,
    release_id: i64,
    plan: &Plan,
    board: &mut ProbeBoard,
    now: Timestamp,
) {
    let since =
        Timestamp(now.0.saturating_sub(i64::try_from(PRELOAD_SAMPLES_MS).unwrap_or(i64::MAX)));
    let Ok(rows) = store.samples_since(release_id, since).await else { return };
    for row in rows.into_iter().filter(|r| r.kind == store::SampleKind::Metric) {
        let stable = plan
            .metrics
            .iter()
            .position(|m| crate::analysis::stable_series_id(&m.id) == row.series);
        if let Some(index) = stable {
            board.apply(plan, Reading::Stable { index, at: row.at, value: row.value });
            continue;
        }
        let Some(index) = plan.metrics.iter().position(|m| m.id == row.series) else { continue };
        let result = match (row.value, row.error) {
            (_, Some(e)) => Err(e),
            (v, None) => Ok(v),
        };
        board.apply(plan, Reading::Metric { index, at: row.at, result });
    }
}

/// A probe board kept current by background pollers, for drivers without a screen. Each
/// change of a series' verdict is logged.
#[derive(Debug, Clone)]
pub struct LiveBoard {
    board: Arc<Mutex<ProbeBoard>>,
}

impl LiveBoard {
    /// Starts the pollers of `plan` (recording readings through `sink`) until `cancel`.
    pub async fn start(
        plan: &Plan,
        state: &State,
        sink: Option<(Store, i64)>,
        failures: Option<Reporter>,
        cancel: CancellationToken,
    ) -> Self {
        let mut board = ProbeBoard::for_plan(plan);
        if let Some((store, id)) = &sink {
            preload(store, *id, plan, &mut board, crate::clock::now()).await;
        }
        board.sync(state);
        let board = Arc::new(Mutex::new(board));
        let (tx, mut rx) = mpsc::channel::<Reading>(256);
        let release = sink.as_ref().map_or(0, |(_, id)| *id);
        spawn(plan, state, sink, tx, std::convert::identity, failures, cancel);
        let shared = board.clone();
        let plan = plan.clone();
        tokio::spawn(async move {
            while let Some(reading) = rx.recv().await {
                let Ok(mut board) = shared.lock() else { return };
                let before = words(&board);
                board.apply(&plan, reading);
                log_changes(release, &before, &board);
            }
        });
        Self { board }
    }

    /// A copy of the current readings, with what the release knows (baselines, versions).
    pub fn board(&self, state: &State) -> ProbeBoard {
        let mut board = self.board.lock().map(|b| b.clone()).unwrap_or_default();
        board.sync(state);
        board
    }
}

/// Each series' verdict in words, to notice changes.
fn words(board: &ProbeBoard) -> Vec<String> {
    board
        .health
        .iter()
        .map(|h| h.state.label().1.to_owned())
        .chain(board.metrics.iter().map(|m| m.verdict.label().1.to_owned()))
        .collect()
}

fn log_changes(release: i64, before: &[String], board: &ProbeBoard) {
    let after = words(board);
    let names = board
        .health
        .iter()
        .map(|h| h.id.as_str())
        .chain(board.metrics.iter().map(|m| m.id.as_str()));
    for ((name, was), now) in names.zip(before).zip(&after) {
        if was == now {
            continue;
        }
        if let Some(m) = board.metric(name) {
            let value = m.latest().map_or_else(|| "none".to_owned(), |(_, v)| v.to_string());
            let threshold = m.abort.as_ref().map_or_else(|| "none".to_owned(), ToString::to_string);
            tracing::info!(
                release,
                series = name,
                value,
                threshold,
                "probe {was} -> {now}{}",
                m.error.as_ref().map_or_else(String::new, |e| format!(": {e}"))
            );
        } else {
            let last = board
                .health_row(name)
                .and_then(|h| h.last.as_ref())
                .and_then(|r| r.error.clone())
                .unwrap_or_default();
            tracing::info!(release, series = name, "health {was} -> {now} {last}");
        }
    }
}
