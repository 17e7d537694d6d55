//! The release engine: every rule of the domain, as pure functions. `decide` turns a command
//! into events or a rejection; `apply` folds an event into the state. No IO, no clock, no
//! async: time arrives as data.

mod apply;
mod baseline;
mod command;
mod decide;
mod deployment;
mod event;
mod evidence;
mod state;
mod time;
mod units;
mod version;

pub use apply::apply;
pub use baseline::{BaselineWait, baseline_wait, production_changed};
pub use command::{Command, Outcome, Rejection, RejectionKind, Resolution};
pub use decide::{decide, unconfirmed_checkpoints};
pub use deployment::{Deployment, WatchState, deploy_span, deployment, supervised, watch_state};
pub use event::{
    Breach, Event, EventRecord, HEALTH_LAST, Level, Phase, RollbackStepRef, SCHEMA_VERSION,
    Signature, health_threshold,
};
pub use evidence::{BakeEvidence, EvidenceStatus, NOBODY_WATCHED, SeriesEvidence};
pub use state::{
    ActionRun, Decline, Drift, Mark, ReleaseInfo, RollbackState, Rollout, RunOutcome, State,
    Status, StepClaim, StepState, StepStatus, WeightChange,
};
pub use time::{
    Actor, Timestamp, format_clock, format_date_time, format_elapsed, format_hour_minute,
};
pub use units::{format_in_unit, value_and_limit};
pub use version::{bare_version, same_version};
