//! The cockpit's one model: the release as last committed, plus what the person is looking
//! at (focus, selections, scroll, prompts). Owned by the loop; views only read it.

use std::collections::VecDeque;

use super::keymap::{Action, Keymap};
use crate::plan::{Plan, StepKind};
// The data the views draw, re-exported so that views depend on the model and the engine
// alone, never on the store or the pollers themselves.
pub use crate::probe::{HealthRow, HealthState, MetricRow, ProbeBoard, Verdict};
pub use crate::release::BaselineWait;
use crate::release::{
    Actor, Command, EventRecord, Resolution, State, Status, StepStatus, Timestamp,
};
pub use crate::store::{Lease, Presence, ReleaseRow, SampleRow, is_active};
pub use rows::{health_text, matches_filter, metric_text};

mod rows;

/// The reason a dry run of a command is decided with: the real one is typed afterwards.
pub const DRY_RUN_REASON: &str = "(dry run)";

/// How many timeline entries are kept in memory; older ones are in `flightdeck events`.
pub const TIMELINE_KEPT_EVENTS: usize = 5000;

/// How many lines of live action output are kept.
pub const OUTPUT_KEPT_LINES: usize = 2000;

/// How long a prompt stays open without a key before it expires.
pub const PROMPT_EXPIRY_MS: u64 = 60_000;

/// The panes, in focus order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// Stages and steps.
    Steps,
    /// The selected step: checklist items, approvals, runs.
    Detail,
    /// Health endpoints.
    Health,
    /// Metric series.
    Metrics,
    /// Every event.
    Timeline,
    /// Live action output.
    Output,
}

impl Pane {
    /// Every pane, in focus order.
    pub const ALL: [Pane; 6] =
        [Pane::Steps, Pane::Detail, Pane::Health, Pane::Metrics, Pane::Timeline, Pane::Output];

    /// The pane's title.
    pub fn title(self) -> &'static str {
        match self {
            Pane::Steps => "Steps",
            Pane::Detail => "Detail",
            Pane::Health => "Health",
            Pane::Metrics => "Metrics",
            Pane::Timeline => "Timeline",
            Pane::Output => "Output",
        }
    }

    /// The next pane (wrapping), or the previous one.
    pub fn cycle(self, forward: bool) -> Pane {
        let i = Pane::ALL.iter().position(|p| *p == self).unwrap_or(0);
        let n = Pane::ALL.len();
        Pane::ALL[if forward { (i + 1) % n } else { (i + n - 1) % n }]
    }
}

/// One line of the timeline, formatted once when the event arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    /// Event seq.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// Who (short name).
    pub actor: String,
    /// Decided by flightdeck itself.
    pub automatic: bool,
    /// The sentence.
    pub text: String,
    /// Worth attention: failures, rollbacks, interruptions.
    pub alarming: bool,
    /// A decision flightdeck made by itself (an automatic rollback or pause, a traffic drift,
    /// a warning, an orphaned run marked interrupted): raised as a banner until acknowledged.
    pub decision: bool,
}

impl TimelineEntry {
    /// Formats a stored event.
    pub fn from_record(r: &EventRecord, plan: &Plan) -> Self {
        use crate::release::Event as E;
        let alarming = matches!(
            r.event,
            E::ActionFailed { .. }
                | E::ActionInterrupted { .. }
                | E::RollbackStarted { .. }
                | E::GateDeclined { .. }
                | E::Paused { .. }
                | E::Aborted { .. }
        );
        Self {
            seq: r.seq,
            at: r.at,
            actor: r.actor.short().to_owned(),
            automatic: r.actor.automatic,
            text: r.event.sentence_in(plan),
            alarming,
            decision: is_decision(r),
        }
    }
}

/// Whether a recorded event is a decision flightdeck made by itself that a person must see:
/// what it did on its own (rollback, pause, an orphaned run marked interrupted), what it
/// found (a traffic drift, a warn-level breach). An abort-level breach is not one of its own:
/// the pause or rollback recorded with it carries the same words.
pub fn is_decision(r: &EventRecord) -> bool {
    use crate::release::{Event as E, Level};
    match &r.event {
        E::TrafficDrift { desired, actual, .. } => desired != actual,
        E::ThresholdBreached { breach, .. } => r.actor.automatic && breach.level == Level::Warn,
        E::Paused { .. } | E::RollbackStarted { .. } | E::ActionInterrupted { .. } => {
            r.actor.automatic
        }
        _ => false,
    }
}

/// The release on screen.
#[derive(Debug, Clone)]
pub struct ReleaseView {
    /// Store id.
    pub id: i64,
    /// The plan it was started with.
    pub plan: Plan,
    /// The committed state.
    pub state: State,
    /// The newest events, oldest first.
    pub timeline: VecDeque<TimelineEntry>,
}

impl ReleaseView {
    /// Adds records not yet in the timeline, keeping it bounded.
    pub fn extend_timeline(&mut self, records: &[EventRecord]) {
        let last = self.timeline.back().map_or(0, |e| e.seq);
        for r in records.iter().filter(|r| r.seq > last) {
            self.timeline.push_back(TimelineEntry::from_record(r, &self.plan));
        }
        while self.timeline.len() > TIMELINE_KEPT_EVENTS {
            self.timeline.pop_front();
        }
    }
}

/// What a prompt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Pause: reason.
    Pause,
    /// No-go: reason.
    Decline,
    /// A note: text.
    Note,
    /// Rollback: reason, then the service name.
    Rollback,
    /// Skip: reason, then the service name.
    Skip,
    /// Pass a bake on a person's word: reason, then the service name.
    OverrideBake,
    /// Shift to 100%: the service name.
    FullShift,
    /// Next step is a 100% shift: the service name.
    FullNext,
    /// Retry of a failed or interrupted shift to 100%: the service name, like the first try.
    FullRetry,
    /// Mark succeeded: reason.
    MarkSucceeded,
    /// Mark failed: reason.
    MarkFailed,
    /// Take over someone else's live claim on a step: reason.
    TakeOver,
    /// The current gate's typed inputs not given yet: one field each.
    GateInputs,
}

/// One text field of a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// What to type.
    pub label: String,
    /// What was typed.
    pub value: String,
    /// For confirmation fields: the exact text required.
    pub must_equal: Option<String>,
}

/// A small form: a reason and/or a typed confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// What it is for.
    pub purpose: Purpose,
    /// The title line.
    pub title: String,
    /// The fields, filled in order.
    pub fields: Vec<Field>,
    /// The field being typed in.
    pub active: usize,
    /// The step it acts on: the one current when it opened, or a claim's step.
    pub step: Option<String>,
    /// The release seq when it opened: the state the person decided on.
    pub seen_seq: u64,
    /// The last key, for expiry.
    pub touched_at: Timestamp,
    /// Why the last Enter was refused.
    pub error: Option<String>,
    /// For gate inputs: the input id of each field, in order.
    pub input_ids: Vec<String>,
}

/// The list of releases, to open one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseList {
    /// Every release, newest first.
    pub rows: Vec<ReleaseRow>,
    /// The highlighted row.
    pub selected: usize,
}

/// Replay: every pane shows the release as it stood after `position` events.
#[derive(Debug, Clone)]
pub struct Replay {
    /// Every event of the release.
    pub records: Vec<EventRecord>,
    /// Every stored probe reading of the release.
    pub samples: Vec<SampleRow>,
    /// How many events are applied (1..=records.len()).
    pub position: usize,
    /// The live view, restored when replay ends (and kept current meanwhile).
    pub live: ReleaseView,
    /// The live probe readings.
    pub live_probes: ProbeBoard,
}

/// A popup over the panes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    /// Every key.
    Help,
    /// Every release, to open one.
    Releases(ReleaseList),
    /// Weight changes.
    TrafficHistory,
    /// A form.
    Prompt(Prompt),
    /// A row of Timeline, Health, Metrics or Output in full.
    Row(RowOverlay),
}

/// How the status line is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Plain information.
    Info,
    /// Done.
    Ok,
    /// Refused or failed.
    Error,
}

/// The result of the last key, shown under the panes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    /// The text.
    pub text: String,
    /// Its colour role.
    pub tone: Tone,
}

/// Selections and scroll positions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ui {
    /// Selected step; `None` follows the current step.
    pub step: Option<usize>,
    /// Selected checklist item in the detail pane.
    pub item: usize,
    /// Timeline lines scrolled up from the newest (0 = pinned to the newest).
    pub timeline_back: usize,
    /// Output lines scrolled up from the newest.
    pub output_back: usize,
    /// Selected health row.
    pub health: usize,
    /// Selected metric row.
    pub metric: usize,
    /// Timeline filter.
    pub filter: String,
    /// Lines the help overlay is scrolled down by (it scrolls where it does not fit).
    pub help_scroll: usize,
    /// Steps filter (step names and ids).
    pub steps_filter: String,
    /// Health filter.
    pub health_filter: String,
    /// Metrics filter.
    pub metrics_filter: String,
    /// Output filter.
    pub output_filter: String,
    /// The decision banners this screen acknowledged (their event seqs): per screen, so
    /// another operator's cockpit still shows them.
    pub acked: Vec<u64>,
}

impl Ui {
    /// The filter typed for `pane` (the detail pane has none).
    pub fn filter_for(&self, pane: Pane) -> &str {
        match pane {
            Pane::Steps => &self.steps_filter,
            Pane::Detail => "",
            Pane::Health => &self.health_filter,
            Pane::Metrics => &self.metrics_filter,
            Pane::Timeline => &self.filter,
            Pane::Output => &self.output_filter,
        }
    }

    /// The filter of `pane`, to edit; `None` for the detail pane, which has no rows to filter.
    pub fn filter_mut(&mut self, pane: Pane) -> Option<&mut String> {
        match pane {
            Pane::Steps => Some(&mut self.steps_filter),
            Pane::Detail => None,
            Pane::Health => Some(&mut self.health_filter),
            Pane::Metrics => Some(&mut self.metrics_filter),
            Pane::Timeline => Some(&mut self.filter),
            Pane::Output => Some(&mut self.output_filter),
        }
    }
}

/// What the bottom line is being typed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// `/`: the focused pane's filter, applied as it is typed.
    Filter(Pane),
    /// `:`: a command (`note text`, `pause reason`, `rollback reason`, `report`, …).
    Command,
}

/// A line typed at the bottom of the screen, vi- and k9s-style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineEdit {
    /// What for.
    pub kind: LineKind,
    /// What was typed.
    pub text: String,
    /// The verbs a Tab left to choose from, shown after the text until the next key.
    pub choices: Vec<&'static str>,
}

/// The row an `Enter` opened in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowRef {
    /// A timeline entry, by event seq.
    Event(u64),
    /// A health row, by index.
    Health(usize),
    /// A metric row, by index.
    Metric(usize),
    /// The output, from this line (an index into the lines the output pane shows).
    Output(usize),
}

/// One row shown in full: wrapped, scrollable, Esc closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowOverlay {
    /// Which row.
    pub row: RowRef,
    /// Lines scrolled down.
    pub scroll: usize,
}

/// Everything the cockpit shows.
#[derive(Debug, Clone)]
pub struct Model {
    /// The release, if there is one.
    pub release: Option<ReleaseView>,
    /// Who is at the keyboard.
    pub me: Actor,
    /// Watching only.
    pub read_only: bool,
    /// Bindings in force.
    pub keymap: Keymap,
    /// The latest tick.
    pub now: Timestamp,
    /// Terminal size.
    pub size: (u16, u16),
    /// Focused pane.
    pub focus: Pane,
    /// Selections.
    pub ui: Ui,
    /// Popup.
    pub overlay: Option<Overlay>,
    /// Result of the last key.
    pub status: Option<StatusLine>,
    /// A filter or a command being typed on the bottom line.
    pub line: Option<LineEdit>,
    /// A command being committed.
    pub pending: Option<String>,
    /// Live output of actions run by this cockpit.
    pub output: VecDeque<String>,
    /// An action is running in this process.
    pub running_here: bool,
    /// Latest probe readings.
    pub probes: ProbeBoard,
    /// Scrubbing through the release's history, if active.
    pub replay: Option<Box<Replay>>,
    /// A past (finished) release opened from the list: watched, never acted on.
    pub viewing_past: bool,
    /// Other cockpits open on this release.
    pub others: Vec<Presence>,
    /// Who drives the release (runs actions and automated decisions).
    pub lease: Option<Lease>,
    /// Database path shown on the welcome screen.
    pub db_label: String,
    /// Draw in ASCII only (`--ascii`, or a locale that is not UTF-8).
    pub ascii: bool,
    /// The mouse is captured (`--mouse` or `mouse = true`): clicks and the wheel are read.
    pub mouse: bool,
    /// The terminal bell rings on failures, a probe going down and flightdeck's own
    /// decisions (`bell = false` in the user config silences it).
    pub bell: bool,
    /// Something visible changed since the last draw.
    pub dirty: bool,
    /// Probe readings moved numbers on screen; drawn with the next tick's frame.
    pub probes_changed: bool,
    /// The loop should end.
    pub quit: bool,
}

impl Model {
    /// A model for `release` (or the welcome screen) at `now`.
    pub fn new(
        release: Option<ReleaseView>,
        me: Actor,
        read_only: bool,
        keymap: Keymap,
        now: Timestamp,
    ) -> Self {
        let status = (!keymap.warnings.is_empty())
            .then(|| StatusLine { text: keymap.warnings.join("; "), tone: Tone::Error });
        let probes = release.as_ref().map_or_else(ProbeBoard::default, |r| {
            let mut board = ProbeBoard::for_plan(&r.plan);
            board.sync(&r.state);
            board
        });
        Self {
            release,
            me,
            read_only,
            keymap,
            now,
            size: (120, 40),
            focus: Pane::Steps,
            ui: Ui::default(),
            overlay: None,
            status,
            line: None,
            pending: None,
            output: VecDeque::new(),
            running_here: false,
            probes,
            replay: None,
            viewing_past: false,
            others: Vec::new(),
            lease: None,
            db_label: String::new(),
            ascii: false,
            mouse: false,
            bell: true,
            dirty: true,
            probes_changed: false,
            quit: false,
        }
    }

    /// The time panes show: now, or during replay the moment being replayed.
    pub fn display_now(&self) -> Timestamp {
        self.replay
            .as_ref()
            .and_then(|r| r.records.get(r.position.saturating_sub(1)))
            .map_or(self.now, |r| r.at)
    }

    /// The release as it is now, and its probes: during replay the live view kept aside, so
    /// nothing that acts ever looks at the past.
    pub fn live(&self) -> Option<(&ReleaseView, &ProbeBoard)> {
        match &self.replay {
            Some(replay) => Some((&replay.live, &replay.live_probes)),
            None => self.release.as_ref().map(|r| (r, &self.probes)),
        }
    }

    /// Why the engine would refuse `command` on the live release now (`None`: it would be
    /// accepted, or there is no release). Pure: a dry run of `decide`, nothing is recorded.
    pub fn refusal_of(
        &self,
        command: &crate::release::Command,
    ) -> Option<crate::release::Rejection> {
        let (live, _) = self.live()?;
        crate::release::decide(
            &live.plan,
            &live.state,
            command,
            &self.me,
            self.now,
            Some(live.state.seq),
        )
        .err()
    }

    /// The command `action`'s key would ask the engine for now, given a reason and the service
    /// name where it asks for them; `None` for keys that command nothing (or whose command
    /// depends on a selection: ticks and claims). The footer offers a key only if the engine
    /// would accept this command.
    pub fn key_command(&self, action: Action) -> Option<Command> {
        let (live, _) = self.live()?;
        let reason = || DRY_RUN_REASON.to_owned();
        let current_kind =
            live.plan.flat_steps().get(live.state.cursor).map(|s| s.step.kind.clone());
        Some(match action {
            Action::Approve => Command::Approve,
            Action::Revoke => Command::Revoke,
            Action::Decline => Command::Decline { reason: reason() },
            Action::Next | Action::Shift => {
                let running_bake = matches!(current_kind, Some(StepKind::Bake { .. }))
                    && live.state.current().is_some_and(|c| c.status == StepStatus::Running);
                if action == Action::Next && running_bake {
                    // The store judges the bake's readings; whether they pass is not known here,
                    // so `n` is offered once the bake's time is up and its reviews confirmed.
                    Command::PassBake {
                        evidence: None,
                        override_reason: Some(reason()),
                        confirmed: true,
                    }
                } else if action == Action::Shift {
                    Command::Shift { confirmed: true }
                } else {
                    Command::Next { confirmed: true }
                }
            }
            Action::PauseResume if live.state.status == Status::Paused => Command::Resume,
            Action::PauseResume => Command::Pause { reason: reason() },
            Action::Rollback => {
                Command::Rollback { reason: reason(), confirmed: true, automatic: false }
            }
            Action::Skip => Command::Skip { reason: reason(), confirmed: true },
            Action::OverrideBake => Command::PassBake {
                evidence: None,
                override_reason: Some(reason()),
                confirmed: true,
            },
            Action::Retry => Command::Retry { confirmed: true },
            Action::MarkSucceeded => Command::Resolve {
                resolution: Resolution::Succeeded,
                reason: reason(),
                confirmed: true,
            },
            Action::MarkFailed => Command::Resolve {
                resolution: Resolution::Failed,
                reason: reason(),
                confirmed: false,
            },
            Action::ConfirmReview => Command::ConfirmCheckpoint,
            Action::Note => Command::Note { text: reason() },
            _ => return None,
        })
    }

    /// What the first production change waits for on the live release, counted down at
    /// the time panes show.
    pub fn baseline_wait(&self) -> Option<BaselineWait> {
        let release = self.release.as_ref()?;
        let current = release.plan.flat_steps().get(release.state.cursor)?.step.id.clone();
        crate::release::baseline_wait(&release.plan, &release.state, self.display_now())
            .filter(|w| w.step == current)
    }

    /// The selected step index (following the current step unless moved).
    pub fn selected_step(&self) -> usize {
        let Some(r) = &self.release else { return 0 };
        let last = r.state.steps.len().saturating_sub(1);
        if self.selected_rollback_step().is_some() {
            return last;
        }
        self.ui.step.unwrap_or(r.state.cursor).min(last)
    }

    /// Adds a line of live output, bounded.
    pub fn push_output(&mut self, line: String) {
        self.output.push_back(line);
        while self.output.len() > OUTPUT_KEPT_LINES {
            self.output.pop_front();
        }
    }
}
