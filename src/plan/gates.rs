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

/// A value a gate needs before it passes, typed by a person: `{ id = "ticket", prompt =
/// "Change ticket", pattern = "^CHG-[0-9]+$" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateInput {
    /// Unique within the gate; what `approve --input ID=VALUE` names.
    pub id: String,
    /// What to ask for.
    pub prompt: String,
    /// A regular expression the whole value must match, if any.
    pub pattern: Option<String>,
}

impl GateInput {
    /// Checks a value against the input's pattern (and that it is not blank).
    pub fn check(&self, value: &str) -> Result<(), String> {
        if value.trim().is_empty() {
            return Err(format!("input `{}` ({}) cannot be empty", self.id, self.prompt));
        }
        let Some(pattern) = &self.pattern else { return Ok(()) };
        let re = regex::Regex::new(pattern)
            .map_err(|e| format!("input `{}` has a pattern that does not compile: {e}", self.id))?;
        if re.is_match(value) {
            Ok(())
        } else {
            Err(format!(
                "input `{}` ({}) must match `{pattern}`; `{value}` does not",
                self.id, self.prompt
            ))
        }
    }
}
