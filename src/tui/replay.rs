//! Replay: the release as it stood after a number of its events — every pane, from the
//! same fold and the stored probe readings up to that moment. Pure.

use super::model::{ReleaseView, TIMELINE_KEPT_EVENTS};
use crate::plan::Plan;
use crate::probe::{HealthReading, ProbeBoard, Reading};
use crate::release::{EventRecord, State, Timestamp};
use crate::store::{SampleKind, SampleRow};

/// The view after the first `position` events.
pub fn view_at(live: &ReleaseView, records: &[EventRecord], position: usize) -> ReleaseView {
    let upto = &records[..position.min(records.len())];
    let state = State::replay(&live.plan, upto);
    let mut view =
        ReleaseView { id: live.id, plan: live.plan.clone(), state, timeline: Default::default() };
    view.extend_timeline(&upto[upto.len().saturating_sub(TIMELINE_KEPT_EVENTS)..]);
    view
}

/// The probe readings as they were at `at`.
pub fn board_at(plan: &Plan, state: &State, samples: &[SampleRow], at: Timestamp) -> ProbeBoard {
    let mut board = ProbeBoard::for_plan(plan);
    board.sync(state);
    for sample in samples.iter().filter(|s| s.at <= at) {
        let reading = match sample.kind {
            SampleKind::Metric => {
                let stable = plan
                    .metrics
                    .iter()
                    .position(|m| crate::analysis::stable_series_id(&m.id) == sample.series);
                if let Some(index) = stable {
                    board
                        .apply(plan, Reading::Stable { index, at: sample.at, value: sample.value });
                    continue;
                }
                let Some(index) = plan.metrics.iter().position(|m| m.id == sample.series) else {
                    continue;
                };
                let result = match &sample.error {
                    Some(e) => Err(e.clone()),
                    None => Ok(sample.value),
                };
                Reading::Metric { index, at: sample.at, result }
            }
            SampleKind::Health => {
                let Some(index) = plan.health.iter().position(|h| h.id == sample.series) else {
                    continue;
                };
                let latency_ms = sample.value.map_or(0, |v| v.max(0.0) as u64);
                let reading = HealthReading {
                    at: sample.at,
                    status_code: None,
                    latency_ms,
                    version: None,
                    checks: Vec::new(),
                    error: sample.error.clone(),
                };
                Reading::Health { index, reading }
            }
        };
        board.apply(plan, reading);
    }
    board
}
