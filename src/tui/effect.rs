//! The IO that `update` asks the loop to do.

use crate::release::Command;

/// A request from `update` to the loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Decide and record a command through the supervisor.
    Execute {
        /// The command.
        command: Command,
        /// The seq the person saw, for commands that depend on the current step.
        expect_seq: Option<u64>,
        /// The step that was current on screen, for commands that act on it.
        seen_step: Option<String>,
        /// For the status line.
        verb: String,
    },
    /// Load every event and sample of the release, for replay.
    LoadReplay {
        /// Release id.
        id: i64,
    },
    /// Load the list of releases.
    LoadReleases,
    /// Open another release.
    OpenRelease {
        /// Release id.
        id: i64,
    },
    /// Write the release's report to a markdown file in the working directory.
    ExportReport {
        /// Release id.
        id: i64,
    },
    /// Offer the driver lease for hand-over: to anyone (`to` is `None`, from the driver) or
    /// to this operator (asked for by a watcher).
    HandOver {
        /// Release id.
        id: i64,
        /// Who may take it.
        to: Option<String>,
    },
    /// Let the supervisor look at the live release: start the actions this cockpit claimed,
    /// cancel those a rollback preempted.
    Observe,
    /// This cockpit drives the release: let the supervisor's automation decide (bake
    /// verdicts, breaches, baselines, reviews, read-back) on the live release and probes.
    Automate,
    /// This cockpit took the driver lease from a holder that stopped renewing it: that
    /// holder's runs in flight are orphans, to be marked interrupted.
    TakeOver {
        /// The old holder's host.
        host: String,
        /// Its pid.
        pid: u32,
    },
    /// Clear and redraw the whole screen.
    ClearScreen,
    /// Ring the terminal bell.
    Bell,
    /// Leave the cockpit.
    Quit,
}
