//! A gate's deadline: how long it may wait for a decision (`timeout`) and what flightdeck
//! decides when nobody answered in time (`on_timeout`: reject the gate, or pause the release).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What flightdeck decides when a gate's `timeout` passes with the gate still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// The gate is rejected: it can no longer pass; the release is aborted or rolled back.
    Reject,
    /// The release pauses for a person to decide; the gate stays open.
    Pause,
}

impl OnTimeout {
    /// The word in the plan.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reject => "reject",
            Self::Pause => "pause",
        }
    }

    /// Reads the plan's word.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "reject" => Some(Self::Reject),
            "pause" => Some(Self::Pause),
            _ => None,
        }
    }
}

/// A gate's `timeout` and `on_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateDeadline {
    /// From the gate becoming current.
    pub timeout: Duration,
    /// What flightdeck decides then.
    pub on_timeout: OnTimeout,
}
