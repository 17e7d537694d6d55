//! The state of one release: the fold of its events over the plan's shape. Serializable so
//! the store can keep a snapshot instead of re-reading a long history.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::event::{EventRecord, RollbackStepRef};
use super::time::{Actor, Timestamp};
use crate::plan::{Plan, ReleaseType};

/// A read-back that disagreed with the recorded weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// The weight on record.
    pub desired: u8,
    /// The weight the provider reported.
    pub actual: u8,
    /// The read-back action.
    pub source: String,
    /// When it was recorded.
    pub at: Timestamp,
}

/// The rollout's progress as last recorded (`rollout_progress`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    /// Deploy step id.
    pub step: String,
    /// The updated share, 0 to 1.
    pub fraction: f64,
    /// Instances on the new version, when counted.
    pub updated: Option<u32>,
    /// Instances wanted, when counted.
    pub desired: Option<u32>,
    /// When it was recorded.
    pub at: Timestamp,
}

/// Where a release is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created but not started.
    Planned,
    /// Steps are advancing.
    Running,
    /// Held by a person or a breach; nothing advances.
    Paused,
    /// The rollback procedure is running.
    RollingBack,
    /// Every step done.
    Completed,
    /// The rollback procedure finished; traffic is on the stable version.
    RolledBack,
    /// Abandoned before traffic moved.
    Aborted,
}

impl Status {
    /// The word shown on screen and in `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::RollingBack => "rolling_back",
            Self::Completed => "completed",
            Self::RolledBack => "rolled_back",
            Self::Aborted => "aborted",
        }
    }

    /// Whether the release is over.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::RolledBack | Self::Aborted)
    }
}

/// Where one step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not reached yet.
    Pending,
    /// Current: waiting for people or for `next`.
    Waiting,
    /// An action or a bake is under way.
    Running,
    /// Done.
    Done,
    /// Its action failed; waiting for a person.
    Failed,
    /// Its action's process went away; waiting for a person.
    Interrupted,
    /// Passed over.
    Skipped,
    /// Ended unfinished because the release was rolled back or aborted (a bake that was
    /// under way): nothing runs and no clock ticks.
    Stopped,
}

impl StepStatus {
    /// The mark shown before the step: never colour alone.
    pub fn mark(self) -> &'static str {
        match self {
            Self::Pending => "·",
            Self::Waiting => "▶",
            Self::Running => "▶",
            Self::Done => "✓",
            Self::Failed => "✗",
            Self::Interrupted => "!",
            Self::Skipped => "↷",
            Self::Stopped => "■",
        }
    }

    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Waiting => "waiting",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
            Self::Skipped => "skipped",
            Self::Stopped => "stopped",
        }
    }
}

/// Who did something, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// Who.
    pub by: Actor,
    /// When.
    pub at: Timestamp,
}

/// A no-go at a gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decline {
    /// Who and when.
    pub mark: Mark,
    /// Why.
    pub reason: String,
}

/// Who is on a step, until when: shown to everyone, and in the way of anyone else advancing
/// the step until it lapses or is taken over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepClaim {
    /// Who claimed it (or renewed it last).
    pub by: Actor,
    /// When it was claimed or last renewed.
    pub at: Timestamp,
    /// When it lapses unless renewed.
    pub until: Timestamp,
    /// Why, if they said.
    pub reason: Option<String>,
}

impl StepClaim {
    /// Whether the claim still holds at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.until
    }
}

/// How one run of an action ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RunOutcome {
    /// It succeeded.
    Succeeded {
        /// When.
        at: Timestamp,
        /// Exit code of a command.
        exit_code: Option<i32>,
        /// How long it ran.
        duration_ms: u64,
    },
    /// It failed.
    Failed {
        /// When.
        at: Timestamp,
        /// Why.
        error: String,
        /// Exit code of a command.
        exit_code: Option<i32>,
    },
    /// Its process went away.
    Interrupted {
        /// When this was noticed.
        at: Timestamp,
        /// How.
        reason: String,
    },
}

/// One run of an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRun {
    /// 1, 2, ...
    pub attempt: u32,
    /// Action id.
    pub action: String,
    /// Who claimed it, and when.
    pub started: Mark,
    /// How it ended; `None` while it runs.
    pub outcome: Option<RunOutcome>,
    /// A person's decision after an interruption or failure.
    pub resolution: Option<(Mark, bool, String)>,
    /// The end of its output, as recorded with its outcome.
    #[serde(default)]
    pub output_tail: Option<String>,
    /// The values its action's `outputs` picked, by name, as recorded with its success.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
}

/// The state of one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepState {
    /// Step id.
    pub id: String,
    /// Where it is.
    pub status: StepStatus,
    /// When it became current.
    pub current_since: Option<Timestamp>,
    /// When its action or bake started.
    pub started_at: Option<Timestamp>,
    /// When it was completed or skipped.
    pub finished_at: Option<Timestamp>,
    /// Who completed or skipped it (for "already done by bob at 10:02:11"). Snapshots
    /// written before this field read as `None`; the events fold to the name again.
    #[serde(default)]
    pub finished_by: Option<Actor>,
    /// Ticked checklist items by item id.
    pub ticks: BTreeMap<String, Mark>,
    /// Approvals by approver name.
    pub approvals: BTreeMap<String, Mark>,
    /// No-go decisions by name.
    pub declines: BTreeMap<String, Decline>,
    /// Runs of its action.
    pub runs: Vec<ActionRun>,
    /// Why it was skipped.
    pub skip_reason: Option<String>,
    /// Review checkpoints of a bake confirmed so far (ms into the bake), with who and when.
    #[serde(default)]
    pub checkpoints: Vec<(u64, Mark)>,
    /// The latest claim on the step, live or lapsed; cleared when the step ends. Snapshots
    /// written before claims existed read as `None`, which is what their events fold to.
    #[serde(default)]
    pub claim: Option<StepClaim>,
    /// When the gate's `timeout` passed with no decision (flightdeck then rejected it or
    /// paused the release). Snapshots written before deadlines read as `None`.
    #[serde(default)]
    pub timed_out: Option<Timestamp>,
    /// A gate's typed inputs given so far, by input id: the value, who and when (the latest
    /// value of each counts).
    #[serde(default)]
    pub inputs: BTreeMap<String, (String, Mark)>,
}

impl StepState {
    pub(super) fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            status: StepStatus::Pending,
            current_since: None,
            started_at: None,
            finished_at: None,
            finished_by: None,
            ticks: BTreeMap::new(),
            approvals: BTreeMap::new(),
            declines: BTreeMap::new(),
            runs: Vec::new(),
            skip_reason: None,
            checkpoints: Vec::new(),
            claim: None,
            timed_out: None,
            inputs: BTreeMap::new(),
        }
    }

    /// The claim on the step if it holds at `now`.
    pub fn live_claim(&self, now: Timestamp) -> Option<&StepClaim> {
        self.claim.as_ref().filter(|c| c.is_live(now))
    }

    /// The last run, if any.
    pub fn last_run(&self) -> Option<&ActionRun> {
        self.runs.last()
    }

    /// The run in flight: started with no outcome yet.
    pub fn running(&self) -> Option<&ActionRun> {
        self.runs.last().filter(|r| r.outcome.is_none())
    }
}

/// Facts fixed when the release started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseInfo {
    /// Service name.
    pub service: String,
    /// Target environment.
    pub environment: String,
    /// Version being released.
    pub version: String,
    /// Version it replaces.
    pub previous_version: Option<String>,
    /// Git commit.
    pub sha: Option<String>,
    /// Container image.
    pub image: Option<String>,
    /// Release type.
    pub release_type: ReleaseType,
    /// When it started.
    pub started_at: Timestamp,
    /// Who started it.
    pub started_by: Actor,
}

/// A change of traffic weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightChange {
    /// When.
    pub at: Timestamp,
    /// New weight, percent to the new version.
    pub weight: u8,
    /// Who caused it.
    pub by: Actor,
}

/// The rollback procedure, once started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackState {
    /// Why.
    pub reason: String,
    /// Started by flightdeck on a breach.
    pub automatic: bool,
    /// Who and when.
    pub started: Mark,
    /// The steps, fixed at start.
    pub plan: Vec<RollbackStepRef>,
    /// State of each step, parallel to `plan`.
    pub steps: Vec<StepState>,
    /// When it finished.
    pub finished_at: Option<Timestamp>,
}

/// The most recent change, for "the release moved on" messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastChange {
    /// Its sequence number.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// Who.
    pub actor: Actor,
    /// What, as a sentence.
    pub sentence: String,
}

/// The whole state of one release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The sequence number of the last event folded in (0 before any).
    pub seq: u64,
    /// Where the release is.
    pub status: Status,
    /// Facts fixed at start.
    pub info: Option<ReleaseInfo>,
    /// Every step of the plan, in order.
    pub steps: Vec<StepState>,
    /// Index of the current step; `steps.len()` once all are done.
    pub cursor: usize,
    /// Percent of traffic on the new version.
    pub weight: u8,
    /// Every weight change.
    pub weight_history: Vec<WeightChange>,
    /// The rollback, once started.
    pub rollback: Option<RollbackState>,
    /// Why it is paused, by whom.
    pub pause: Option<Decline>,
    /// When it ended.
    pub ended_at: Option<Timestamp>,
    /// Why it was aborted.
    pub abort_reason: Option<String>,
    /// The latest change.
    pub last: Option<LastChange>,
    /// Number of notes.
    pub notes: u32,
    /// Threshold breaches recorded, with their bake step and time.
    #[serde(default)]
    pub breaches: Vec<(String, super::event::Breach, Timestamp)>,
    /// Baselines by series.
    #[serde(default)]
    pub baselines: BTreeMap<String, f64>,
    /// The provider's weight when it last disagreed with the record, until a shift or a
    /// read-back that agrees.
    #[serde(default)]
    pub drift: Option<Drift>,
    /// When the release was last resumed: a failed action paused by its plan's
    /// `on_failure` is not paused again once someone resumed after it.
    #[serde(default)]
    pub resumed_at: Option<Timestamp>,
    /// The rollout's progress as last read, for a deploy with a `progress` source.
    #[serde(default)]
    pub rollout: Option<Rollout>,
    /// When the release first completed: its `[watch] after_release` window starts here
    /// (a release paused by a breach while watched and resumed completes again).
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    /// When the watch after completion ended (`watch_closed`): no rollback after it.
    #[serde(default)]
    pub watch_closed: Option<Timestamp>,
}

impl State {
    /// The state of a release of `plan` before anything happened.
    pub fn new(plan: &Plan) -> Self {
        Self {
            seq: 0,
            status: Status::Planned,
            info: None,
            steps: plan.flat_steps().iter().map(|s| StepState::new(&s.step.id)).collect(),
            cursor: 0,
            weight: 0,
            weight_history: Vec::new(),
            rollback: None,
            pause: None,
            ended_at: None,
            abort_reason: None,
            last: None,
            notes: 0,
            breaches: Vec::new(),
            baselines: BTreeMap::new(),
            drift: None,
            resumed_at: None,
            rollout: None,
            completed_at: None,
            watch_closed: None,
        }
    }

    /// Folds a whole history.
    pub fn replay<'a>(plan: &Plan, events: impl IntoIterator<Item = &'a EventRecord>) -> Self {
        let mut state = Self::new(plan);
        for record in events {
            super::apply(&mut state, record);
        }
        state
    }

    /// The current step's state.
    pub fn current(&self) -> Option<&StepState> {
        self.steps.get(self.cursor)
    }

    /// A step (rollout or rollback) by id.
    pub fn step(&self, id: &str) -> Option<&StepState> {
        self.steps
            .iter()
            .find(|s| s.id == id)
            .or_else(|| self.rollback.as_ref().and_then(|r| r.steps.iter().find(|s| s.id == id)))
    }

    pub(super) fn step_mut(&mut self, id: &str) -> Option<&mut StepState> {
        if let Some(i) = self.steps.iter().position(|s| s.id == id) {
            return self.steps.get_mut(i);
        }
        self.rollback.as_mut().and_then(|r| r.steps.iter_mut().find(|s| s.id == id))
    }

    /// Every action run with no outcome yet, with its step id.
    pub fn runs_in_flight(&self) -> Vec<(&str, &ActionRun)> {
        let rollback = self.rollback.iter().flat_map(|r| r.steps.iter());
        self.steps
            .iter()
            .chain(rollback)
            .filter_map(|s| s.running().map(|r| (s.id.as_str(), r)))
            .collect()
    }
}
