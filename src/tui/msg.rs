//! Everything that enters the cockpit's loop, as past facts.

use super::keymap::Key;
use crate::plan::Plan;
use crate::release::{EventRecord, State, Timestamp};

/// A message for `update`.
#[derive(Debug, Clone)]
pub enum Msg {
    /// A key was pressed.
    KeyPressed(Key),
    /// A mouse click on a pane (only with the mouse captured: `--mouse`).
    Clicked {
        /// The pane under the pointer.
        pane: super::model::Pane,
        /// The row inside its border, if not on the border.
        row: Option<usize>,
        /// How many rows the pane shows.
        height: usize,
    },
    /// The mouse wheel turned over a pane.
    Scrolled {
        /// The pane under the pointer.
        pane: super::model::Pane,
        /// Towards the top (older, earlier rows).
        up: bool,
    },
    /// The terminal was resized.
    Resized {
        /// Columns.
        width: u16,
        /// Rows.
        height: u16,
    },
    /// A second passed.
    Tick {
        /// The time now.
        now: Timestamp,
    },
    /// The store has newer events than the screen (another process, or ours).
    ReleaseChanged {
        /// Release id.
        id: i64,
        /// Its plan.
        plan: Box<Plan>,
        /// Its state now.
        state: Box<State>,
        /// Events the screen may not have yet.
        records: Vec<EventRecord>,
    },
    /// Our command was committed.
    Committed {
        /// The verb, for the status line.
        verb: String,
        /// What was recorded.
        records: Vec<EventRecord>,
        /// The state after it.
        state: Box<State>,
    },
    /// Our command was refused.
    Rejected {
        /// The verb.
        verb: String,
        /// Why.
        message: String,
    },
    /// This cockpit started running an action.
    RunStarted {
        /// Step id.
        step: String,
        /// Action id.
        action: String,
    },
    /// A line of output from an action this cockpit runs.
    ActionOutput(String),
    /// The actions this cockpit ran are done (or one failed to record its outcome).
    ActionsFinished {
        /// Why running them failed, if it did.
        error: Option<String>,
    },
    /// A health endpoint was checked.
    HealthChecked {
        /// Row index in the probe board.
        index: usize,
        /// The result.
        reading: crate::probe::HealthReading,
    },
    /// A metric series was read.
    MetricSampled {
        /// Row index in the probe board.
        index: usize,
        /// When.
        at: Timestamp,
        /// The value, or why there is none.
        result: Result<Option<f64>, String>,
    },
    /// The stable side of a `by_label` metric was read (the previous version's series).
    StableSampled {
        /// Row index in the probe board.
        index: usize,
        /// When.
        at: Timestamp,
        /// The previous version's value, if it has a series.
        value: Option<f64>,
    },
    /// Every event and sample of the release, for replay.
    ReplayLoaded {
        /// Release id.
        id: i64,
        /// Every event.
        records: Vec<EventRecord>,
        /// Every stored probe reading.
        samples: Vec<crate::store::SampleRow>,
    },
    /// The list of releases.
    ReleasesLoaded(Vec<crate::store::ReleaseRow>),
    /// Another release was opened.
    ReleaseOpened(Box<super::model::ReleaseView>),
    /// Something the loop did, for the status line.
    Noted {
        /// The text.
        text: String,
        /// Whether it failed.
        failed: bool,
    },
    /// Who else has a cockpit open on the release, and who drives it.
    TeamChanged {
        /// Other open cockpits (this one excluded).
        others: Vec<crate::store::Presence>,
        /// The driver lease, if any.
        lease: Option<crate::store::Lease>,
        /// The expired lease this cockpit just took over: its holder is presumed dead.
        took_expired: Option<crate::store::Lease>,
    },
    /// The supervisor reported something; the loop turns it into one of the messages above
    /// before `update` sees it.
    Supervised(Box<crate::supervisor::Report>),
    /// SIGHUP, SIGTERM or SIGQUIT arrived.
    SignalReceived(&'static str),
}
