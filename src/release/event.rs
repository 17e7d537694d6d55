//! Events: the facts the store persists. They are the contract between versions of
//! flightdeck: never rename a variant or a field, never change what one means; add new ones.

use serde::{Deserialize, Serialize};

use super::time::{Actor, Timestamp};
use crate::plan::ReleaseType;

/// The schema version written with every event; bump it only with an upcaster for the old.
pub const SCHEMA_VERSION: u32 = 1;

/// Whether an action belongs to the rollout or to the rollback procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// A step of the plan's stages.
    Rollout,
    /// A step of the rollback procedure.
    Rollback,
}

/// One step of the rollback procedure, fixed when the rollback starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackStepRef {
    /// Step id, e.g. `rollback-1-traffic`.
    pub id: String,
    /// Action run, from `[actions]`.
    pub action: String,
    /// True for the step that returns traffic to the stable version.
    pub sets_weight_zero: bool,
    /// Whether a failure of this step stops the procedure.
    pub halt_on_failure: bool,
    /// Rollout steps that must all have completed for it to run; else it is skipped.
    /// (Absent in events recorded before conditional rollback steps: always runs.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub if_done: Vec<String>,
}

/// How bad a threshold breach is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Shown and recorded; the release goes on.
    Warn,
    /// Triggers the bake's `on_breach`.
    Abort,
}

/// A series past its threshold, with everything needed to explain the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    /// Metric or health probe id.
    pub series: String,
    /// Warn or abort.
    pub level: Level,
    /// The value observed.
    pub value: f64,
    /// The threshold as written, e.g. `> 0.02` or `> baseline × 1.5`.
    pub threshold: String,
    /// The limit it came to (the baseline applied).
    pub limit: Option<f64>,
    /// The baseline, for relative thresholds.
    pub baseline: Option<f64>,
    /// Samples in the window.
    pub samples: u32,
    /// The window the breach persisted over.
    pub window_ms: u64,
}

/// A health probe's threshold as recorded in a [`Breach`]: the plan's rule.
pub fn health_threshold(down_after: u32) -> String {
    format!("{HEALTH_RULE}{down_after}")
}

/// Starts a health breach's threshold.
const HEALTH_RULE: &str = "down after ";

/// Separates a health breach's rule from the last check's error in its threshold.
pub const HEALTH_LAST: &str = "; last:";

impl Breach {
    /// A health probe's breach in plain words, if this is one:
    /// `green: 2 failed health checks in a row (down after 3)`. Breaches recorded before
    /// these words (`failing checks`, `down (3 failed checks in a row; last: …)`) read the same.
    fn explain_health(&self) -> Option<String> {
        let t = self.threshold.as_str();
        let (down_after, last) = if let Some(rest) = t.strip_prefix(HEALTH_RULE) {
            let (n, last) = rest.split_once(HEALTH_LAST).unwrap_or((rest, ""));
            (n.trim().parse::<u32>().ok()?, last.trim())
        } else if t == "failing checks" {
            (self.limit.and_then(|l| format!("{l}").parse::<u32>().ok())?, "")
        } else if let Some(rest) = t.strip_prefix("down (") {
            let (n, rest) = rest.split_once(" failed checks in a row")?;
            let last = rest.split_once("; last: ").map_or("", |(_, l)| l.trim_end_matches(')'));
            (n.parse::<u32>().ok()?, last.trim())
        } else {
            return None;
        };
        let failed = self.samples;
        let checks = if failed == 1 { "check" } else { "checks" };
        let down = if failed >= down_after { " is down" } else { "" };
        let mut s = format!(
            "{}{down}: {failed} failed health {checks} in a row (down after {down_after})",
            self.series
        );
        if self.window_ms > 0 {
            s.push_str(&format!(
                ", failing for {}",
                crate::plan::format_duration(std::time::Duration::from_millis(self.window_ms))
            ));
        }
        if !last.is_empty() {
            s.push_str(&format!("; last: {last}"));
        }
        Some(s)
    }

    /// `error_rate 0.081 breached > 0.02 [12 samples over 30s]`, numbers as recorded.
    pub fn explain(&self) -> String {
        self.explain_in("")
    }

    /// The breach in the metric's `unit`: `error_rate 8.1% breached > 2% [12 samples over
    /// 30s]`; a relative threshold also says what it came to: `> baseline × 1.5 (= 600ms)`.
    pub fn explain_in(&self, unit: &str) -> String {
        if let Some(health) = self.explain_health() {
            return health;
        }
        let (value, limit) = match self.limit {
            Some(limit) if !unit.trim().is_empty() => {
                let (v, l) = super::units::value_and_limit(self.value, limit, unit);
                (v, Some(l))
            }
            Some(limit) => (trim_float(self.value), Some(trim_float(limit))),
            None if !unit.trim().is_empty() => {
                (super::units::format_in_unit(self.value, unit), None)
            }
            None => (trim_float(self.value), None),
        };
        let absolute = !self.threshold.contains("baseline");
        let threshold = match (&limit, absolute, unit.trim().is_empty()) {
            (Some(l), true, false) => {
                let op = self.threshold.split_whitespace().next().unwrap_or(">");
                format!("{op} {l}")
            }
            _ => self.threshold.clone(),
        };
        let mut s = format!("{} {value} breached {threshold}", self.series);
        if let (Some(l), Some(_), false) = (&limit, self.baseline, absolute) {
            s.push_str(&format!(" (= {l})"));
        }
        let mut extra = Vec::new();
        if let Some(b) = self.baseline {
            let b = if unit.trim().is_empty() {
                trim_float(b)
            } else {
                super::units::value_and_limit(b, self.limit.unwrap_or(b), unit).0
            };
            extra.push(format!("baseline {b}"));
        }
        extra.push(format!(
            "{} sample{} over {}",
            self.samples,
            if self.samples == 1 { "" } else { "s" },
            crate::plan::format_duration(std::time::Duration::from_millis(self.window_ms))
        ));
        s.push_str(&format!(" [{}]", extra.join(", ")));
        s
    }
}

fn trim_float(v: f64) -> String {
    let text = format!("{v:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Something that happened to a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The release began.
    ReleaseStarted {
        /// Service name.
        service: String,
        /// Target environment.
        environment: String,
        /// Version being released.
        version: String,
        /// Version it replaces, if known.
        previous_version: Option<String>,
        /// Git commit.
        sha: Option<String>,
        /// Container image.
        image: Option<String>,
        /// Regular, hotfix or emergency.
        release_type: ReleaseType,
        /// SHA-256 (hex) of the plan text stored with the release, so an edit of the stored
        /// plan is caught on load. `None` in releases recorded before flightdeck hashed it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plan_sha256: Option<String>,
    },
    /// A checklist item was ticked.
    ItemTicked {
        /// Checklist step id.
        step: String,
        /// Item id.
        item: String,
    },
    /// A tick was taken back.
    ItemUnticked {
        /// Checklist step id.
        step: String,
        /// Item id.
        item: String,
    },
    /// Someone approved a gate.
    ApprovalGiven {
        /// Gate step id.
        step: String,
        /// The approver's SSH signature, where the plan requires signed approvals.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<Signature>,
    },
    /// Someone took their approval back.
    ApprovalRevoked {
        /// Gate step id.
        step: String,
    },
    /// Someone said no-go at a gate.
    GateDeclined {
        /// Gate step id.
        step: String,
        /// Why.
        reason: String,
    },
    /// Someone took their no-go back.
    DeclineWithdrawn {
        /// Gate step id.
        step: String,
    },
    /// A step is done and the next one is current.
    StepCompleted {
        /// Step id.
        step: String,
    },
    /// A step was passed over.
    StepSkipped {
        /// Step id.
        step: String,
        /// Why.
        reason: String,
    },
    /// A bake began watching its probes.
    BakeStarted {
        /// Bake step id.
        step: String,
    },
    /// An action was claimed and is about to run (the append is the lock).
    ActionStarted {
        /// Step id.
        step: String,
        /// 1 for the first run, then 2, 3 on retries.
        attempt: u32,
        /// Action id from `[actions]`.
        action: String,
        /// Rollout or rollback.
        phase: Phase,
    },
    /// An action succeeded.
    ActionFinished {
        /// Step id.
        step: String,
        /// Which run.
        attempt: u32,
        /// Exit code of a command.
        exit_code: Option<i32>,
        /// How long it ran.
        duration_ms: u64,
        /// The end of its output, bounded.
        output_tail: Option<String>,
        /// The values its action's `outputs` picked from its stdout or HTTP body, by name
        /// (never secrets: redacted like the output). Older events have none.
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        outputs: std::collections::BTreeMap<String, String>,
    },
    /// An action failed.
    ActionFailed {
        /// Step id.
        step: String,
        /// Which run.
        attempt: u32,
        /// What went wrong, in words.
        error: String,
        /// Exit code of a command.
        exit_code: Option<i32>,
        /// How long it ran.
        duration_ms: u64,
        /// The end of its output, bounded.
        output_tail: Option<String>,
    },
    /// The process running an action went away before recording its outcome.
    ActionInterrupted {
        /// Step id.
        step: String,
        /// Which run.
        attempt: u32,
        /// How this was found out.
        reason: String,
    },
    /// A person decided the outcome of an interrupted or failed action.
    ActionResolved {
        /// Step id.
        step: String,
        /// Which run.
        attempt: u32,
        /// Succeeded or failed.
        succeeded: bool,
        /// Why.
        reason: String,
    },
    /// The traffic provider set the new version's weight.
    WeightSet {
        /// Percent to the new version.
        weight: u8,
    },
    /// The release was paused.
    Paused {
        /// Why.
        reason: String,
    },
    /// The release was resumed.
    Resumed,
    /// The rollback procedure began.
    RollbackStarted {
        /// Why.
        reason: String,
        /// True when flightdeck started it on a breach.
        automatic: bool,
        /// The steps it will run, in order.
        steps: Vec<RollbackStepRef>,
        /// The person's SSH signature, where the plan requires signed approvals.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<Signature>,
    },
    /// The rollback procedure ended; traffic is on the stable version.
    RollbackFinished,
    /// The release was abandoned before traffic moved.
    Aborted {
        /// Why.
        reason: String,
    },
    /// Every step is done.
    Completed,
    /// A free-text note.
    NoteAdded {
        /// The note.
        text: String,
    },
    /// A watched series crossed a threshold during a bake.
    ThresholdBreached {
        /// Bake step id.
        step: String,
        /// What, how far, over what window.
        breach: Breach,
    },
    /// A person confirmed a timed review during a long bake.
    CheckpointConfirmed {
        /// Bake step id.
        step: String,
        /// The checkpoint, as milliseconds into the bake.
        at_ms: u64,
    },
    /// The baseline of a series, captured before the first traffic shift.
    BaselineCaptured {
        /// Metric id.
        series: String,
        /// Median over the window.
        value: f64,
        /// Samples it was taken from.
        samples: u32,
        /// The window.
        window_ms: u64,
        /// The series the value was read from: the metric itself (before any traffic moved),
        /// its stable counterpart (`baseline_from`), or `METRIC{LABEL=VERSION}` for a
        /// `by_label` metric. Absent in events recorded before flightdeck said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_series: Option<String>,
        /// The version whose readings were used (the stable one), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_version: Option<String>,
    },
    /// A person passed a bake whose stored readings did not pass it (or did not cover it).
    /// `StepCompleted` follows; the report flags it as a manual override.
    BakeOverridden {
        /// Bake step id.
        step: String,
        /// Why, as the person gave it.
        reason: String,
        /// The series that did not pass, one line each, as judged when it was overridden.
        unmet: Vec<String>,
    },
    /// Someone claimed a step (or renewed their claim) so others see who is on it.
    StepClaimed {
        /// Step id.
        step: String,
        /// When the claim lapses unless renewed: the decision's time plus the plan's TTL.
        until: Timestamp,
        /// Whose live claim this one took over, if any.
        took_over_from: Option<String>,
        /// Why: required to take over someone else's live claim, optional otherwise.
        reason: Option<String>,
    },
    /// The holder (or anyone, once it lapsed) let go of a claim.
    ClaimReleased {
        /// Step id.
        step: String,
    },
    /// The release started outside its release windows (or inside a deny window), as its
    /// release type allows, for this reason: flagged in the report.
    WindowsOverridden {
        /// The windows, by name.
        windows: Vec<String>,
        /// Why, as the person gave it.
        reason: String,
    },
    /// Someone gave the value of one of a gate's typed inputs (it matched the pattern).
    GateInputGiven {
        /// Gate step id.
        step: String,
        /// Input id.
        input: String,
        /// The value.
        value: String,
    },
    /// A gate's `timeout` passed with no decision; flightdeck did what its `on_timeout` says:
    /// rejected the gate (it can no longer pass) or paused the release.
    GateTimedOut {
        /// Gate step id.
        step: String,
        /// The plan's timeout.
        timeout_ms: u64,
        /// What was decided.
        on_timeout: crate::plan::OnTimeout,
    },
    /// The rollout's progress, read from the deploy step's `progress` source, changed.
    RolloutProgress {
        /// Deploy step id.
        step: String,
        /// The updated share of instances, 0 to 1.
        fraction: f64,
        /// Instances on the new version, when the source counts them (`2` of `2/3`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        updated: Option<u32>,
        /// Instances wanted, when the source counts them (`3` of `2/3`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        desired: Option<u32>,
    },
    /// The watch after completion (`[watch] after_release`) ended with nothing rolled back:
    /// the release is closed and can no longer be rolled back.
    WatchClosed {
        /// The window, as the plan gave it.
        after_release_ms: u64,
    },
    /// The weight read back from the traffic provider differs from the recorded one (or,
    /// with `desired == actual`, is back in line after a drift).
    TrafficDrift {
        /// The weight the record says the new version has.
        desired: u8,
        /// The weight the provider reported.
        actual: u8,
        /// The read-back action that reported it.
        source: String,
    },
}

/// An SSH signature (`ssh-keygen -Y sign`, namespace `flightdeck`) over the canonical text
/// of a person's command (see `signing.rs`): it cannot be made without their private key, so
/// someone who can write the database cannot forge it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The signing key's fingerprint, e.g. `SHA256:3q2+7w...`.
    pub key: String,
    /// The armored signature (`-----BEGIN SSH SIGNATURE-----` ...).
    pub sig: String,
}

/// An event as stored: with its place in the release, its time and who caused it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// 1-based position in the release; unique per release.
    pub seq: u64,
    /// When it was recorded.
    pub at: Timestamp,
    /// Who caused it.
    pub actor: Actor,
    /// What happened.
    pub event: Event,
}

impl Event {
    /// The signature slot of an event a person may be asked to sign (an approval, a
    /// rollback), `None` for every other event.
    pub fn signature_slot(&mut self) -> Option<&mut Option<Signature>> {
        match self {
            Self::ApprovalGiven { signature, .. } | Self::RollbackStarted { signature, .. } => {
                Some(signature)
            }
            _ => None,
        }
    }

    /// The signature it carries, if any.
    pub fn signature(&self) -> Option<&Signature> {
        match self {
            Self::ApprovalGiven { signature, .. } | Self::RollbackStarted { signature, .. } => {
                signature.as_ref()
            }
            _ => None,
        }
    }

    /// The `kind` tag as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ReleaseStarted { .. } => "release_started",
            Self::ItemTicked { .. } => "item_ticked",
            Self::ItemUnticked { .. } => "item_unticked",
            Self::ApprovalGiven { .. } => "approval_given",
            Self::ApprovalRevoked { .. } => "approval_revoked",
            Self::GateDeclined { .. } => "gate_declined",
            Self::DeclineWithdrawn { .. } => "decline_withdrawn",
            Self::StepCompleted { .. } => "step_completed",
            Self::StepSkipped { .. } => "step_skipped",
            Self::BakeStarted { .. } => "bake_started",
            Self::ActionStarted { .. } => "action_started",
            Self::ActionFinished { .. } => "action_finished",
            Self::ActionFailed { .. } => "action_failed",
            Self::ActionInterrupted { .. } => "action_interrupted",
            Self::ActionResolved { .. } => "action_resolved",
            Self::RolloutProgress { .. } => "rollout_progress",
            Self::WatchClosed { .. } => "watch_closed",
            Self::WeightSet { .. } => "weight_set",
            Self::Paused { .. } => "paused",
            Self::Resumed => "resumed",
            Self::RollbackStarted { .. } => "rollback_started",
            Self::RollbackFinished => "rollback_finished",
            Self::Aborted { .. } => "aborted",
            Self::Completed => "completed",
            Self::NoteAdded { .. } => "note_added",
            Self::ThresholdBreached { .. } => "threshold_breached",
            Self::BaselineCaptured { .. } => "baseline_captured",
            Self::BakeOverridden { .. } => "bake_overridden",
            Self::CheckpointConfirmed { .. } => "checkpoint_confirmed",
            Self::StepClaimed { .. } => "step_claimed",
            Self::ClaimReleased { .. } => "claim_released",
            Self::TrafficDrift { .. } => "traffic_drift",
            Self::GateTimedOut { .. } => "gate_timed_out",
            Self::GateInputGiven { .. } => "gate_input_given",
            Self::WindowsOverridden { .. } => "windows_overridden",
        }
    }

    /// The sentence, with a breach's numbers in its metric's unit from `plan` (`8.5% breached
    /// > 2%`, as the screen shows them); the stored event is unchanged.
    pub fn sentence_in(&self, plan: &crate::plan::Plan) -> String {
        match self {
            Self::ThresholdBreached { step, breach } => {
                let level = if breach.level == Level::Abort { "ABORT" } else { "warn" };
                format!(
                    "{level} {}: {}",
                    during(step),
                    breach.explain_in(plan.unit_of(&breach.series))
                )
            }
            // No traffic moved under a rolling deploy or a swap: the rollback steps put the
            // previous version back.
            Self::RollbackFinished if plan.strategy() != crate::plan::Strategy::Traffic => {
                "rollback finished; its steps put the previous version back".into()
            }
            // What is counted (`pods`) is the plan's word: `deploy: 2/3 pods on the new version`.
            Self::RolloutProgress { step, fraction, updated: Some(n), desired: Some(m) } => {
                let unit = plan.step(step).and_then(|r| match &r.step.kind {
                    crate::plan::StepKind::Deploy { progress: Some(p), .. } => Some(p.unit.clone()),
                    _ => None,
                });
                let percent = (fraction * 100.0).round();
                match unit {
                    Some(unit) => {
                        format!("{step}: {n}/{m} {unit} on the new version ({percent}%)")
                    }
                    None => self.sentence(),
                }
            }
            _ => self.sentence(),
        }
    }

    /// One human sentence for the timeline, e.g. `approved go-no-go`.
    pub fn sentence(&self) -> String {
        fn secs(ms: u64) -> String {
            crate::plan::format_duration(std::time::Duration::from_millis(ms))
        }
        match self {
            Self::ReleaseStarted { version, environment, sha, image, release_type, .. } => {
                let mut s = format!("started {release_type} release {version} to {environment}");
                let extra: Vec<String> = [
                    sha.as_ref().map(|s| format!("sha {s}")),
                    image.as_ref().map(|i| format!("image {i}")),
                ]
                .into_iter()
                .flatten()
                .collect();
                if !extra.is_empty() {
                    s.push_str(&format!(" ({})", extra.join(", ")));
                }
                s
            }
            Self::ItemTicked { step, item } => format!("ticked {step}/{item}"),
            Self::ItemUnticked { step, item } => format!("unticked {step}/{item}"),
            Self::ApprovalGiven { step, .. } => format!("approved {step}"),
            Self::ApprovalRevoked { step } => format!("revoked approval of {step}"),
            Self::GateDeclined { step, reason } => format!("declined {step} (no-go): {reason}"),
            Self::DeclineWithdrawn { step } => format!("withdrew no-go on {step}"),
            Self::StepCompleted { step } => format!("completed {step}"),
            Self::StepSkipped { step, reason } => format!("skipped {step}: {reason}"),
            Self::BakeStarted { step } => format!("started bake {step}"),
            Self::ActionStarted { step, attempt, action, phase } => {
                let what = if *phase == Phase::Rollback { "rollback step" } else { "action" };
                if *attempt > 1 {
                    format!("started {what} {step} ({action}), attempt {attempt}")
                } else {
                    format!("started {what} {step} ({action})")
                }
            }
            Self::ActionFinished { step, duration_ms, exit_code, .. } => match exit_code {
                Some(code) => format!("{step} finished in {} (exit {code})", secs(*duration_ms)),
                None => format!("{step} finished in {}", secs(*duration_ms)),
            },
            Self::ActionFailed { step, error, duration_ms, .. } => {
                format!("{step} FAILED after {}: {error}", secs(*duration_ms))
            }
            Self::ActionInterrupted { step, reason, .. } => format!("{step} INTERRUPTED: {reason}"),
            Self::ActionResolved { step, succeeded, reason, .. } => {
                let verdict = if *succeeded { "succeeded" } else { "failed" };
                format!("marked {step} as {verdict}: {reason}")
            }
            Self::WeightSet { weight } => format!("traffic to new version set to {weight}%"),
            Self::RolloutProgress { step, fraction, updated, desired } => {
                let percent = (fraction * 100.0).round();
                match (updated, desired) {
                    (Some(n), Some(m)) => {
                        format!("{step}: {n}/{m} on the new version ({percent}%)")
                    }
                    _ => format!("{step}: {percent}% on the new version"),
                }
            }
            Self::WatchClosed { after_release_ms } => format!(
                "watch after release ended ({}) with no rollback; the release is closed",
                secs(*after_release_ms)
            ),
            Self::Paused { reason } => format!("paused: {reason}"),
            Self::Resumed => "resumed".into(),
            Self::RollbackStarted { reason, automatic, .. } => {
                if *automatic {
                    format!("ROLLBACK started automatically: {reason}")
                } else {
                    format!("ROLLBACK started: {reason}")
                }
            }
            Self::RollbackFinished => {
                "rollback finished; traffic back on the stable version".into()
            }
            Self::Aborted { reason } => format!("aborted: {reason}"),
            Self::Completed => "release completed".into(),
            Self::NoteAdded { text } => format!("note: {text}"),
            Self::ThresholdBreached { step, breach } => {
                let level = if breach.level == Level::Abort { "ABORT" } else { "warn" };
                format!("{level} {}: {}", during(step), breach.explain())
            }
            Self::WindowsOverridden { windows, reason } => {
                format!("WINDOW OVERRIDE: started despite {}: {reason}", windows.join(", "))
            }
            Self::GateInputGiven { step, input, value } => {
                format!("gave {input} = {value} at {step}")
            }
            Self::GateTimedOut { step, timeout_ms, on_timeout } => format!(
                "gate {step} had no decision within {}: {}",
                crate::plan::format_duration(std::time::Duration::from_millis(*timeout_ms)),
                match on_timeout {
                    crate::plan::OnTimeout::Reject =>
                        "REJECTED by flightdeck (on_timeout = reject)",
                    crate::plan::OnTimeout::Pause =>
                        "release PAUSED by flightdeck (on_timeout = pause)",
                }
            ),
            Self::CheckpointConfirmed { step, at_ms } => format!(
                "confirmed the T+{} review of {step}",
                crate::plan::format_duration(std::time::Duration::from_millis(*at_ms))
            ),
            Self::BaselineCaptured {
                series,
                value,
                samples,
                window_ms,
                from_series,
                from_version,
            } => {
                let mut s = format!(
                    "baseline of {series} captured: {} ({samples} sample{}",
                    trim_float(*value),
                    if *samples == 1 { "" } else { "s" }
                );
                // Events recorded before the source was named keep their sentence.
                if from_series.is_some() || from_version.is_some() {
                    s.push_str(&format!(" over {}", secs(*window_ms)));
                }
                match (from_series, from_version) {
                    (Some(f), Some(v)) => s.push_str(&format!(" of {f}, version {v}")),
                    (Some(f), None) => s.push_str(&format!(" of {f}")),
                    (None, Some(v)) => s.push_str(&format!(", version {v}")),
                    (None, None) => {}
                }
                s.push(')');
                s
            }
            Self::BakeOverridden { step, reason, unmet } => {
                let mut s = format!("passed bake {step} by MANUAL OVERRIDE: {reason}");
                if !unmet.is_empty() {
                    s.push_str(&format!(" (readings: {})", unmet.join("; ")));
                }
                s
            }
            Self::StepClaimed { step, until, took_over_from, reason } => {
                let until = super::time::format_hour_minute(*until);
                let mut s = match took_over_from {
                    Some(from) => format!("took over {step} from {from}, until {until} UTC"),
                    None => format!("claimed {step} until {until} UTC"),
                };
                if let Some(reason) = reason {
                    s.push_str(&format!(": {reason}"));
                }
                s
            }
            Self::ClaimReleased { step } => format!("released the claim on {step}"),
            Self::TrafficDrift { desired, actual, source } if desired == actual => {
                format!("traffic back in line: {source} reports {actual}% on the new version")
            }
            Self::TrafficDrift { desired, actual, source } => format!(
                "TRAFFIC DRIFT: {source} reports {actual}% on the new version, the record says {desired}%"
            ),
        }
    }
}

/// `during bake-10`, or `after release` for a breach seen while a completed release is
/// watched.
fn during(step: &str) -> String {
    if step == crate::plan::AFTER_RELEASE_STEP {
        "after release".to_owned()
    } else {
        format!("during {step}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_breach_reads_in_its_metrics_unit() {
        let b = Breach {
            series: "error_rate".into(),
            level: Level::Abort,
            value: 0.081,
            threshold: "> 0.02".into(),
            limit: Some(0.02),
            baseline: None,
            samples: 12,
            window_ms: 30_000,
        };
        assert_eq!(b.explain_in("ratio"), "error_rate 8.1% breached > 2% [12 samples over 30s]");
        assert_eq!(b.explain_in(""), b.explain(), "no unit: the numbers as recorded");
        let relative = Breach {
            series: "p95".into(),
            value: 0.9,
            threshold: "> baseline × 1.5".into(),
            limit: Some(0.6),
            baseline: Some(0.4),
            ..b
        };
        assert_eq!(
            relative.explain_in("s"),
            "p95 900ms breached > baseline × 1.5 (= 600ms) [baseline 400ms, 12 samples over 30s]"
        );
    }

    fn health(level: Level, failed: u32, threshold: &str) -> Breach {
        Breach {
            series: "green".into(),
            level,
            value: f64::from(failed),
            threshold: threshold.into(),
            limit: Some(3.0),
            baseline: None,
            samples: failed,
            window_ms: 0,
        }
    }

    #[test]
    fn health_breaches_are_said_in_plain_words() {
        let flapping = health(Level::Warn, 2, &health_threshold(3));
        assert_eq!(flapping.explain(), "green: 2 failed health checks in a row (down after 3)");
        let down = Breach {
            window_ms: 30_000,
            ..health(Level::Abort, 3, &format!("{}{HEALTH_LAST} status 503", health_threshold(3)))
        };
        assert_eq!(
            down.explain(),
            "green is down: 3 failed health checks in a row (down after 3), failing for 30s; last: status 503"
        );
        let one = health(Level::Warn, 1, &health_threshold(3));
        assert_eq!(one.explain(), "green: 1 failed health check in a row (down after 3)");
    }

    #[test]
    fn health_breaches_recorded_in_the_old_words_read_the_same() {
        let old = health(Level::Warn, 2, "failing checks");
        assert_eq!(old.explain(), "green: 2 failed health checks in a row (down after 3)");
        let old = health(Level::Abort, 3, "down (3 failed checks in a row; last: refused)");
        assert_eq!(
            old.explain(),
            "green is down: 3 failed health checks in a row (down after 3); last: refused"
        );
    }

    #[test]
    fn metric_breaches_keep_their_numbers() {
        let metric = Breach {
            series: "error_rate".into(),
            level: Level::Abort,
            value: 0.081,
            threshold: "> 0.02".into(),
            limit: None,
            baseline: None,
            samples: 12,
            window_ms: 30_000,
        };
        assert_eq!(metric.explain(), "error_rate 0.081 breached > 0.02 [12 samples over 30s]");
    }

    #[test]
    fn one_sample_or_approval_is_singular() {
        let e = Event::BaselineCaptured {
            series: "p95".into(),
            value: 0.2,
            samples: 1,
            window_ms: 60_000,
            from_series: Some("p95".into()),
            from_version: None,
        };
        assert!(e.sentence().contains("(1 sample over"), "{}", e.sentence());
        assert_eq!(Event::NoteAdded { text: "hi".into() }.sentence(), "note: hi");
    }
}
