//! Probe readings for code that has no screen (the headless demo): the same pollers the
//! cockpit uses, folded into a shared probe board that automation reads.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::plan::Plan;
use crate::probe::{ProbeBoard, Reading};

/// A probe board kept current by background pollers.
#[derive(Debug, Clone)]
pub struct Watch {
    board: Arc<Mutex<ProbeBoard>>,
}

impl Watch {
    /// Starts the pollers for `plan` until `cancel`.
    pub fn start(plan: &Plan, cancel: CancellationToken) -> Self {
        let board = Arc::new(Mutex::new(ProbeBoard::for_plan(plan)));
        let (tx, mut rx) = mpsc::channel::<Reading>(256);
        let versions = crate::probe::Versions::default();
        crate::probe::spawn_metric_pollers(plan, &versions, tx.clone(), cancel.clone());
        crate::probe::spawn_health_pollers(plan, tx, cancel);
        let shared = board.clone();
        let health_rules: Vec<(u32, u32)> =
            plan.health.iter().map(|h| (h.down_after, h.up_after)).collect();
        tokio::spawn(async move {
            while let Some(reading) = rx.recv().await {
                let Ok(mut board) = shared.lock() else { return };
                match reading {
                    Reading::Health { index, reading } => {
                        if let (Some(row), Some((down, up))) =
                            (board.health.get_mut(index), health_rules.get(index))
                        {
                            row.record(reading, *down, *up);
                        }
                    }
                    Reading::Metric { index, at, result } => {
                        if let Some(row) = board.metrics.get_mut(index) {
                            row.record(at, result);
                        }
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
