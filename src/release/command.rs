//! Commands (what someone asks for) and rejections (why the rules say no, in words a tired
//! person understands).

use std::fmt;

use crate::plan::ReleaseType;

/// How an action run ended, as reported by whoever ran it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded.
    Succeeded {
        /// Exit code of a command.
        exit_code: Option<i32>,
        /// The end of its output.
        output_tail: Option<String>,
        /// The values its action's `outputs` picked from its output, by name.
        outputs: std::collections::BTreeMap<String, String>,
    },
    /// It failed.
    Failed {
        /// What went wrong.
        error: String,
        /// Exit code of a command.
        exit_code: Option<i32>,
        /// The end of its output.
        output_tail: Option<String>,
    },
}

/// A person's decision about an interrupted or failed action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// It did its job (checked by hand).
    Succeeded,
    /// It did not.
    Failed,
}

/// Something someone (or flightdeck itself) asks the engine to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Begin the release.
    Start {
        /// Version being released.
        version: String,
        /// Version it replaces.
        previous_version: Option<String>,
        /// Git commit.
        sha: Option<String>,
        /// Container image.
        image: Option<String>,
        /// Regular, hotfix or emergency.
        release_type: ReleaseType,
    },
    /// Tick a checklist item of the current step.
    Tick {
        /// Item id.
        item: String,
    },
    /// Take a tick back.
    Untick {
        /// Item id.
        item: String,
    },
    /// Approve the current gate.
    Approve,
    /// Take back your approval or your no-go at the current gate.
    Revoke,
    /// Say no-go at the current gate.
    Decline {
        /// Why.
        reason: String,
    },
    /// Finish the current step if it may finish, or start it if it must be started.
    Next {
        /// A shift to 100% needs this.
        confirmed: bool,
    },
    /// Pass the running bake whose time is up: on `evidence` (its stored readings, judged
    /// by `analysis::bake_evidence`), or — a person only, confirmed, with a reason — by a
    /// manual override that the record flags. `evidence: None` asks the store to judge the
    /// readings it holds (`store::execute` does, before deciding).
    PassBake {
        /// The judged readings; `None` until the store has judged them.
        evidence: Option<super::evidence::BakeEvidence>,
        /// Set to pass the bake whatever the readings say; the reason is recorded.
        override_reason: Option<String>,
        /// An override needs this.
        confirmed: bool,
    },
    /// Like `Next`, but only when the current step is a traffic shift.
    Shift {
        /// A shift to 100% needs this.
        confirmed: bool,
    },
    /// Run the failed or interrupted action of the current step again.
    Retry {
        /// Retrying a shift to 100% needs this, like its first attempt.
        confirmed: bool,
    },
    /// Decide the outcome of an interrupted or failed action.
    Resolve {
        /// Succeeded or failed.
        resolution: Resolution,
        /// Why.
        reason: String,
        /// Marking a shift to 100% succeeded needs this, like shifting it.
        confirmed: bool,
    },
    /// Report how an action run ended (from the process that ran it).
    RecordOutcome {
        /// Step id.
        step: String,
        /// Which run.
        attempt: u32,
        /// How it ended.
        outcome: Outcome,
        /// How long it ran.
        duration_ms: u64,
    },
    /// Report that an action's process went away.
    MarkInterrupted {
        /// Step id.
        step: String,
        /// Which run.
        attempt: u32,
        /// How this was found out.
        reason: String,
    },
    /// Pass over the current step.
    Skip {
        /// Why.
        reason: String,
        /// Skipping needs this.
        confirmed: bool,
    },
    /// Hold the release.
    Pause {
        /// Why.
        reason: String,
    },
    /// Let it advance again.
    Resume,
    /// Start the rollback procedure.
    Rollback {
        /// Why.
        reason: String,
        /// Rolling back needs this.
        confirmed: bool,
        /// Started by flightdeck itself on a breach.
        automatic: bool,
    },
    /// Abandon the release (only before traffic moved).
    Abort {
        /// Why.
        reason: String,
    },
    /// Add a note to the record.
    Note {
        /// The note.
        text: String,
    },
    /// Report a threshold breach observed during the current bake (from analysis).
    RecordBreach {
        /// Bake step id.
        step: String,
        /// The breach.
        breach: super::event::Breach,
    },
    /// Confirm the earliest due review checkpoint of the running bake.
    ConfirmCheckpoint,
    /// Record that this release started outside its release windows, as its release type
    /// allows (`override_windows`), with the reason given.
    OverrideWindows {
        /// The windows it started outside (or inside, for a deny window), by name.
        windows: Vec<String>,
        /// Why.
        reason: String,
    },
    /// Give values of the current gate's typed `inputs` (a change ticket, ...), each checked
    /// against its pattern.
    GiveInputs {
        /// `(input id, value)` pairs.
        values: Vec<(String, String)>,
    },
    /// The current gate's `timeout` passed with no decision: do what its `on_timeout` says
    /// (flightdeck's decision, taken by the supervisor's automation).
    TimeOutGate {
        /// Gate step id.
        step: String,
    },
    /// Record the rollout's progress as the deploy step's `progress` source read it (from
    /// the supervisor); recorded only when it changed.
    RecordProgress {
        /// Deploy step id.
        step: String,
        /// The updated share, 0 to 1.
        fraction: f64,
        /// Instances on the new version, when counted.
        updated: Option<u32>,
        /// Instances wanted, when counted.
        desired: Option<u32>,
    },
    /// The completed release's `[watch] after_release` window has ended: close it
    /// (flightdeck's decision, taken by the supervisor).
    CloseWatch,
    /// Claim a step (or renew your claim) so others see who is on it.
    Claim {
        /// Step id (the cockpit's selected step; the CLI's `--step`, else the current one).
        step: String,
        /// Why; required to take over someone else's live claim.
        reason: Option<String>,
    },
    /// Let go of your claim on a step (anyone's, once it lapsed).
    Unclaim {
        /// Step id.
        step: String,
    },
    /// Record what the traffic provider reported when its weight was read back.
    RecordDrift {
        /// The weight the issuer saw recorded.
        desired: u8,
        /// The weight the provider reported.
        actual: u8,
        /// The read-back action.
        source: String,
    },
    /// Record a series' baseline before the first traffic shift.
    CaptureBaseline {
        /// Metric id.
        series: String,
        /// Median value.
        value: f64,
        /// Samples used.
        samples: u32,
        /// Window.
        window_ms: u64,
        /// The series the samples came from (the stable side), for the record.
        from_series: Option<String>,
        /// The version whose samples they were.
        from_version: Option<String>,
    },
}

impl Command {
    /// Commands whose effect does not depend on which step is current may be re-decided on a
    /// fresh state after losing a race; the others must be looked at again by a person. A
    /// claim names its step and is decided again on who holds it now; a takeover is not
    /// re-decided: it was meant for the holder its issuer saw.
    pub fn commutes(&self) -> bool {
        matches!(
            self,
            Self::Tick { .. }
                | Self::Untick { .. }
                | Self::Approve
                | Self::Revoke
                | Self::Decline { .. }
                | Self::Note { .. }
                | Self::Pause { .. }
                | Self::RecordOutcome { .. }
                | Self::MarkInterrupted { .. }
                | Self::Unclaim { .. }
        ) || matches!(self, Self::Claim { reason: None, .. })
    }

    /// The verb, for messages.
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Start { .. } => "start",
            Self::Tick { .. } => "tick",
            Self::Untick { .. } => "untick",
            Self::Approve => "approve",
            Self::Revoke => "revoke",
            Self::Decline { .. } => "decline",
            Self::Next { .. } => "next",
            Self::PassBake { .. } => "pass the bake",
            Self::Shift { .. } => "shift",
            Self::Retry { .. } => "retry",
            Self::Resolve { .. } => "resolve",
            Self::RecordOutcome { .. } => "record outcome",
            Self::MarkInterrupted { .. } => "mark interrupted",
            Self::Skip { .. } => "skip",
            Self::Pause { .. } => "pause",
            Self::Resume => "resume",
            Self::Rollback { .. } => "rollback",
            Self::Abort { .. } => "abort",
            Self::Note { .. } => "note",
            Self::RecordBreach { .. } => "record breach",
            Self::CaptureBaseline { .. } => "capture baseline",
            Self::RecordDrift { .. } => "record traffic drift",
            Self::ConfirmCheckpoint => "confirm review",
            Self::TimeOutGate { .. } => "time out gate",
            Self::GiveInputs { .. } => "give inputs",
            Self::OverrideWindows { .. } => "override release windows",
            Self::Claim { .. } => "claim",
            Self::Unclaim { .. } => "unclaim",
            Self::RecordProgress { .. } => "record rollout progress",
            Self::CloseWatch => "close the watch",
        }
    }
}

/// Why a rejection happened, for exit codes and colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// The rules forbid it now.
    Rule,
    /// The release moved on since the issuer looked.
    Stale,
    /// It needs a confirmation that was not given.
    NeedsConfirmation,
}

/// Why the engine said no.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Which sort of no.
    pub kind: RejectionKind,
    /// The reason, as a sentence.
    pub message: String,
}

impl Rejection {
    pub(super) fn rule(message: impl Into<String>) -> Self {
        Self { kind: RejectionKind::Rule, message: message.into() }
    }

    pub(super) fn confirm(message: impl Into<String>) -> Self {
        Self { kind: RejectionKind::NeedsConfirmation, message: message.into() }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Rejection {}
