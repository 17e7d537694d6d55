//! Probe readings for code that has no screen (the headless demo): the same pollers the
//! cockpit uses, folded into a shared probe board that automation reads, and recorded to the
//! store like the cockpit's, so a bake passes on stored evidence.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::plan::Plan;
use crate::probe::{ProbeBoard, Reading};
use crate::store::{SampleKind, SampleRow, Store};

/// How long readings gather before they are written in one transaction.
const WRITE_EVERY: Duration = Duration::from_secs(1);

/// A probe board kept current by background pollers.
#[derive(Debug, Clone)]
pub struct Watch {
    board: Arc<Mutex<ProbeBoard>>,
}

/// The stored row of a reading.
fn row_of(plan: &Plan, reading: &Reading) -> Option<SampleRow> {
    match reading {
        Reading::Health { index, reading } => Some(SampleRow {
            series: plan.health.get(*index)?.id.clone(),
            kind: SampleKind::Health,
            at: reading.at,
            value: reading.error.is_none().then_some(reading.latency_ms as f64),
            error: reading.error.clone(),
        }),
        Reading::Metric { index, at, result } => Some(SampleRow {
            series: plan.metrics.get(*index)?.id.clone(),
            kind: SampleKind::Metric,
            at: *at,
            value: result.as_ref().ok().copied().flatten(),
            error: result.as_ref().err().cloned(),
        }),
        Reading::Stable { index, at, value } => Some(SampleRow {
            series: crate::analysis::stable_series_id(&plan.metrics.get(*index)?.id),
            kind: SampleKind::Metric,
            at: *at,
            value: *value,
            error: None,
        }),
    }
}

impl Watch {
    /// Starts the pollers for `plan` until `cancel`; with a `sink`, every reading is also
    /// recorded to that store's release.
    pub fn start(
        plan: &Plan,
        versions: crate::probe::Versions,
        sink: Option<(Store, i64)>,
        cancel: CancellationToken,
    ) -> Self {
        let board = Arc::new(Mutex::new(ProbeBoard::for_plan(plan)));
        let (tx, mut rx) = mpsc::channel::<Reading>(256);
        crate::probe::spawn_metric_pollers(plan, &versions, tx.clone(), cancel.clone());
        crate::probe::spawn_health_pollers(plan, tx, cancel);
        let shared = board.clone();
        let plan = plan.clone();
        tokio::spawn(async move {
            let mut pending: Vec<SampleRow> = Vec::new();
            let mut last_write = crate::clock::instant();
            while let Some(reading) = rx.recv().await {
                if sink.is_some() {
                    pending.extend(row_of(&plan, &reading));
                }
                {
                    let Ok(mut board) = shared.lock() else { return };
                    board.apply(&plan, reading);
                }
                if let Some((store, id)) = &sink {
                    if last_write.elapsed() >= WRITE_EVERY && !pending.is_empty() {
                        // A failed write loses readings, never the release.
                        let _ = store.record_samples(*id, &pending).await;
                        pending.clear();
                        last_write = crate::clock::instant();
                    }
                }
            }
        });
        Self { board }
    }

    /// A copy of the current readings.
    pub fn board(&self) -> ProbeBoard {
        self.board.lock().map(|b| b.clone()).unwrap_or_default()
    }
}
