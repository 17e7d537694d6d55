//! The command line: clap definitions and dispatch. Every acting verb goes through
//! the supervisor, the same path the cockpit's keys use.

mod json;
mod live;
mod record;
mod stats;
pub mod summary;
mod team;
mod verbs;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use verbs::{db_location, run};

/// Exit code for success.
pub const EXIT_OK: u8 = 0;
/// Exit code for an error (bad file, store failure).
pub const EXIT_ERROR: u8 = 1;
/// Exit code for bad usage.
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the release's rules rejected the command.
pub const EXIT_REJECTED: u8 = 3;
/// Exit code when the action this verb ran (next, shift, retry, a rollback's procedure)
/// failed: the failure is recorded and the release waits for a person.
pub const EXIT_ACTION_FAILED: u8 = 4;

/// flightdeck: a terminal cockpit for supervising a live production release.
#[derive(Debug, Parser)]
#[command(name = "flightdeck", version, about, long_about = None)]
pub struct Cli {
    /// The store: a SQLite file, or a postgres:// URL for team mode across hosts (default: a
    /// file in the platform data directory).
    #[arg(long, global = true, env = "FLIGHTDECK_DB", value_name = "PATH|URL")]
    pub db: Option<String>,
    /// Act as this declared operator (only where the plan allows declared operators).
    #[arg(long, global = true, env = "FLIGHTDECK_OPERATOR", value_name = "NAME")]
    pub operator: Option<String>,
    /// Watch only: every acting key and verb is refused.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Append log lines (decisions, probe-state changes, failures) to this file; the cockpit
    /// never prints them on screen. `supervise` logs to stderr.
    #[arg(long, global = true, env = "FLIGHTDECK_LOG", value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Colour: auto (respects NO_COLOR), always or never.
    #[arg(long, global = true, default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
    /// Draw the cockpit in ASCII only (marks, traffic bar, sparklines, borders); on by
    /// itself when the locale (LC_ALL, LC_CTYPE, LANG) is not UTF-8.
    #[arg(long, global = true)]
    pub ascii: bool,
    /// The cockpit takes the mouse: a click focuses a pane and selects a row, the wheel
    /// scrolls (also `mouse = true` in the user config). Off by default: the terminal keeps
    /// text selection.
    #[arg(long, global = true)]
    pub mouse: bool,
    /// What to do; without one, the cockpit opens.
    #[command(subcommand)]
    pub verb: Option<Verb>,
}

/// Which release a verb acts on, and the state its issuer saw.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Release id or version (default: the running one).
    #[arg(long = "release", short = 'R', value_name = "RELEASE")]
    pub release: Option<String>,
    /// Reject the command if the release has moved past this event seq.
    #[arg(long, value_name = "N")]
    pub expect_seq: Option<u64>,
    /// The step you act on (default: the one current when this command read the release);
    /// refused if another step is current by the time it is decided. For claim and unclaim:
    /// the step to claim.
    #[arg(long, value_name = "ID")]
    pub step: Option<String>,
    /// Print what was recorded as JSON: the events, the seq, and the outcome of any action
    /// this command ran (its output goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Open the cockpit on a release (default: the running one, else the newest).
    Open {
        /// Release id or version.
        release: Option<String>,
    },
    /// Run the whole cockpit on a simulated fleet (nothing else needed).
    Demo {
        /// happy, bad-canary, flaky-health, slow-migration, rolling, rolling-bad, swap or swap-bad.
        #[arg(long, default_value = "happy")]
        scenario: String,
        /// Play the release to its end without a screen and print the final status.
        #[arg(long)]
        headless: bool,
        /// Serve and poll this many more health endpoints, each every second (for
        /// `cargo bench --bench tty`).
        #[arg(long, hide = true, default_value_t = 0, value_name = "N")]
        extra_endpoints: usize,
    },
    /// Write a starter plan.
    Init {
        /// Where to write it.
        #[arg(default_value = "flightdeck.toml")]
        path: PathBuf,
    },
    /// Validate a plan and print a summary, or every problem with file, line and field.
    Check {
        /// The plan file.
        plan: PathBuf,
        /// Also try what the plan needs once: resolve every secret, poll each health
        /// endpoint, read each metric, read the traffic weight back, reach each webhook's
        /// host. Fails when something does not answer. Runs no action.
        #[arg(long)]
        live: bool,
    },
    /// Start a release of a plan.
    Start {
        /// The plan file.
        plan: PathBuf,
        /// Version being released.
        #[arg(long)]
        version: String,
        /// Version it replaces.
        #[arg(long)]
        previous_version: Option<String>,
        /// Git commit SHA.
        #[arg(long)]
        sha: Option<String>,
        /// Container image.
        #[arg(long)]
        image: Option<String>,
        /// Release type.
        #[arg(long = "type", default_value = "regular", value_parser = ["regular", "hotfix", "emergency"])]
        release_type: String,
        /// Start outside the plan's release windows, for this reason (only a release type
        /// with `override_windows = true`); recorded and flagged in the report.
        #[arg(long, value_name = "REASON")]
        override_windows: Option<String>,
        /// Print what was recorded as JSON (the release id, events and seq).
        #[arg(long)]
        json: bool,
    },
    /// List releases.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a release's status.
    Status {
        /// Release id or version.
        release: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a release's events.
    Events {
        /// Release id or version.
        release: Option<String>,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Tick an item of the current checklist.
    Tick {
        /// Item id.
        item: String,
        #[command(flatten)]
        target: Target,
    },
    /// Untick an item of the current checklist.
    Untick {
        /// Item id.
        item: String,
        #[command(flatten)]
        target: Target,
    },
    /// Approve the current gate (giving its typed inputs first, if it asks for any).
    Approve {
        /// A value of the gate's typed inputs, as ID=VALUE (e.g. `ticket=CHG-42`); repeat
        /// for several.
        #[arg(long = "input", value_name = "ID=VALUE")]
        inputs: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Take back your approval (or your no-go) at the current gate.
    Revoke {
        #[command(flatten)]
        target: Target,
    },
    /// Say no-go at the current gate.
    Decline {
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        target: Target,
    },
    /// Finish the current step, or start it (running its action here). A bake whose time is
    /// up passes only on its stored readings (judged here), or with --override.
    Next {
        /// Confirm a shift to 100%, or an override.
        #[arg(long)]
        confirm: bool,
        /// Pass the bake whatever its readings say (recorded and flagged as a manual
        /// override); needs --reason and --confirm.
        #[arg(long = "override", requires = "reason")]
        override_readings: bool,
        /// Why the bake is passed against its readings.
        #[arg(long, requires = "override_readings")]
        reason: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Shift traffic to the current traffic step's weight.
    Shift {
        /// Confirm a shift to 100%.
        #[arg(long)]
        confirm: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Skip the current step.
    Skip {
        /// Why.
        #[arg(long)]
        reason: String,
        /// Confirm the skip.
        #[arg(long)]
        confirm: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Confirm the review checkpoint that is due in a long bake.
    ConfirmReview {
        #[command(flatten)]
        target: Target,
    },
    /// Run the failed or interrupted action again.
    Retry {
        /// Confirm retrying a shift to 100%.
        #[arg(long)]
        confirm: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Decide the outcome of an interrupted or failed action.
    Resolve {
        /// It did its job (checked by hand).
        #[arg(long, conflicts_with = "failed", required_unless_present = "failed")]
        succeeded: bool,
        /// It did not.
        #[arg(long)]
        failed: bool,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Confirm marking a shift to 100% succeeded.
        #[arg(long)]
        confirm: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Pause the release.
    Pause {
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        target: Target,
    },
    /// Resume a paused release.
    Resume {
        #[command(flatten)]
        target: Target,
    },
    /// Roll the release back (runs the rollback procedure here).
    Rollback {
        /// Why.
        #[arg(long)]
        reason: String,
        /// Confirm the rollback.
        #[arg(long)]
        confirm: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Abandon a release before traffic moved.
    Abort {
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        target: Target,
    },
    /// Claim a step so others see you are on it (or renew your claim); plans with [claims].
    Claim {
        /// Take over someone else's live claim, saying why (recorded; they see it).
        #[arg(long = "take-over", value_name = "REASON")]
        take_over: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Let go of your claim on a step (anyone's, once it lapsed).
    Unclaim {
        #[command(flatten)]
        target: Target,
    },
    /// Add a note to the record.
    Note {
        /// The note.
        text: String,
        #[command(flatten)]
        target: Target,
    },
    /// Write a release's deployment report (Markdown, JSON or a self-contained HTML file).
    Report {
        /// Release id or version (default: the running one, else the newest).
        release: Option<String>,
        /// md, json or html.
        #[arg(long, default_value = "md", value_parser = ["md", "json", "html"])]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Figures across releases: releases per week, change failure rate, lead time, time to
    /// restore, automatic and manual rollbacks, overrides.
    Stats {
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
        /// Only this environment.
        #[arg(long)]
        environment: Option<String>,
        /// How far back: releases started in this span (90d, 12w, 36h).
        #[arg(long, default_value = "90d")]
        since: String,
        /// End the span at the end of this day, YYYY-MM-DD UTC (default: now).
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show who has a cockpit open on a release and which one drives it.
    Team {
        /// Release id or version (default: the running one, else the newest).
        release: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Supervise with no screen (systemd, a tmux window, beside a CI job): take the driver
    /// lease when free, watch the probes and record their readings, decide bakes, breaches,
    /// rollbacks and read-back, run the actions it claims; hand over on SIGTERM. Logs one line
    /// per decision and per probe-state change to stderr.
    Supervise {
        /// Release id or version (default: the running one). Ends when the release ends.
        release: Option<String>,
        /// Every active release in the store, picking up new ones, until a signal.
        #[arg(long, conflicts_with = "release")]
        all: bool,
    },
    /// Offer driving (running actions and automation) to another open cockpit; the driver
    /// keeps driving until one takes over.
    Handover {
        /// Release id or version (default: the running one, else the newest).
        release: Option<String>,
        /// Only this operator's cockpit may take it (default: any other cockpit).
        #[arg(long, value_name = "OPERATOR")]
        to: Option<String>,
    },
    /// Recompute a release's hash chain and name the first altered, inserted or removed event;
    /// check its stored plan, its snapshot, a head written down earlier and its signatures.
    Verify {
        /// Release id or version (default: every release; with --head, the release that head
        /// belongs to).
        release: Option<String>,
        /// A chain head written down earlier (`SEQ:HASH` or `HASH`, from `status --json`, an
        /// acting verb's `--json`, a webhook or the report): fail if the events end before it
        /// or differ from it.
        #[arg(long, value_name = "SEQ:HASH")]
        head: Option<String>,
        /// Check every signed approval against this `ssh-keygen` allowed_signers file
        /// (principal = operator name).
        #[arg(long, value_name = "FILE")]
        allowed_signers: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a release as JSON lines (row, plan, events with hashes, readings).
    Export {
        /// Release id or version (default: the running one, else the newest).
        release: Option<String>,
        /// Write to this file instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Import releases exported with `export`, after verifying their chains.
    Import {
        /// The export file (JSON lines).
        file: PathBuf,
    },
}
