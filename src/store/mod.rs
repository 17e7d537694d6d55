//! The event store: releases, their append-only events and folded snapshots, in SQLite.
//! Appends are optimistic (`UNIQUE(release_id, seq)`): of two writers racing for the same
//! seq exactly one wins, and the loser reloads and re-decides.

mod chain;
mod deliveries;
mod error;
mod execute;
mod import;
mod samples;
mod sqlite;
mod team;

use std::path::PathBuf;

pub use chain::{Anchor, ChainProblem, ChainReport, GENESIS, StoredEvent, Tamper, verify_events};
pub use deliveries::Delivery;
pub use error::StoreError;
pub use execute::{ExecuteError, execute, execute_on_step, records_after, start};
pub use import::{ExportedRelease, ExportedSample, Importing};
pub use samples::{SAMPLES_KEPT_PER_SERIES, SampleKind, SampleRow};
pub use sqlite::{ChangeWatch, Store};
pub use team::{LEASE_TTL_MS, Lease, PRESENCE_TTL_MS, Presence};

use crate::plan::Plan;
use crate::release::{State, Status, Timestamp};

/// One row of the release list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRow {
    /// Store-wide id.
    pub id: i64,
    /// Service name.
    pub service: String,
    /// Target environment.
    pub environment: String,
    /// Version released.
    pub version: String,
    /// Regular, hotfix or emergency.
    pub release_type: String,
    /// Where the plan was read from.
    pub plan_path: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its last event was recorded.
    pub updated_at: Timestamp,
    /// Its status after the last event.
    pub status: String,
    /// Its last event's seq.
    pub last_seq: u64,
}

/// A release loaded for work: its plan as started and its folded state.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The list row.
    pub row: ReleaseRow,
    /// The plan the release was started with (stored with it, not re-read from disk).
    pub plan: Plan,
    /// The plan's TOML text.
    pub plan_toml: String,
    /// The fold of every event.
    pub state: State,
}

/// Where the database lives: `--db`, else `FLIGHTDECK_DB`, else the platform data directory.
pub fn default_path() -> Result<PathBuf, StoreError> {
    let dirs =
        directories::ProjectDirs::from("dev", "flightdeck", "flightdeck").ok_or_else(|| {
            StoreError::Other(
            "cannot find a home directory for the database; pass --db PATH or set FLIGHTDECK_DB"
                .into(),
        )
        })?;
    Ok(dirs.data_dir().join("flightdeck.db"))
}

/// Statuses in which a release still needs people.
pub fn is_active(status: &str) -> bool {
    matches!(status, "running" | "paused" | "rolling_back")
}

/// The status word stored in the release row.
pub fn status_word(status: Status) -> &'static str {
    status.as_str()
}
