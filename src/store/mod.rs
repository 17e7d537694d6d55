//! The event store: releases, their append-only events and folded snapshots, in a SQLite
//! file or a PostgreSQL database (the engine and the cockpit do not know which). Commands are
//! decided under the write lock, so writers take turns; appends are still seq-checked
//! (`UNIQUE(release_id, seq)`): of two writers racing for the same seq exactly one wins, and
//! the loser reloads and re-decides.

mod chain;
mod connect;
mod deliveries;
mod error;
mod execute;
mod import;
mod log;
mod samples;
mod team;

use std::fmt;
use std::path::{Path, PathBuf};

pub use chain::{
    Anchor, AnchoredHead, ChainProblem, ChainReport, GENESIS, Head, PlanCheck, StoredEvent, Tamper,
    plan_digest, verify_events,
};
pub use connect::{Backend, ChangeWatch, SqliteReading, Store};
pub use deliveries::Delivery;
pub use error::StoreError;
pub use execute::{
    ExecuteError, SignedCommand, execute, execute_on_step, execute_signed, records_after, start,
};
pub use import::{ExportedRelease, ExportedSample, Importing};
pub use log::{AppendLock, Created, SealedSnapshot, SnapshotCheck};
pub use samples::{SAMPLES_KEPT_PER_SERIES, SampleKind, SampleRow};
pub use team::{Claimed, LEASE_TTL_MS, Lease, OFFERED_TO_ANYONE, PRESENCE_TTL_MS, Presence};

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

/// Where a store is: a SQLite file, or a PostgreSQL database named by its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A `postgres://` (or `postgresql://`) URL.
    Postgres(String),
}

impl Location {
    /// Reads `--db` / `FLIGHTDECK_DB`: a PostgreSQL URL, else a file path (a `sqlite://`
    /// prefix is allowed).
    pub fn parse(text: &str) -> Self {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Self::Postgres(text.to_owned());
        }
        let path = text.strip_prefix("sqlite://").unwrap_or(text);
        Self::Sqlite(PathBuf::from(path))
    }

    /// `--db`, else `FLIGHTDECK_DB`, else the platform data directory's `flightdeck.db`.
    pub fn from_flag(flag: Option<&str>) -> Result<Self, StoreError> {
        match flag {
            Some(text) => Ok(Self::parse(text)),
            None => default_path().map(Self::Sqlite),
        }
    }

    /// Whether there is something to open: a SQLite file must exist; a server is asked.
    pub fn may_exist(&self) -> bool {
        match self {
            Self::Sqlite(path) => path.exists(),
            Self::Postgres(_) => true,
        }
    }

    /// Whether this process may write the store without leaving files another user would
    /// own beside it: always on a server (the role decides); for a SQLite file, when we can
    /// write the file and its directory, and either own the file or its `-wal` and `-shm`
    /// already exist (SQLite creates them, owned by whoever opens to write first).
    pub fn writable_here(&self) -> bool {
        match self {
            Self::Postgres(_) => true,
            Self::Sqlite(path) => sqlite_writable_here(path),
        }
    }

    /// The location as named in messages: the file, or the URL without its password.
    pub fn shown(&self) -> PathBuf {
        PathBuf::from(self.to_string())
    }

    /// Classifies a database error at this location.
    pub fn error(&self, e: sqlx::Error) -> StoreError {
        match self {
            Self::Sqlite(path) => StoreError::from_sqlx(path, e),
            Self::Postgres(_) => StoreError::from_postgres(&self.shown(), e),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => f.write_str(&without_password(url)),
        }
    }
}

fn sqlite_writable_here(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let may = |p: &Path, mode: libc::c_int| {
        let Ok(text) = std::ffi::CString::new(p.as_os_str().as_bytes()) else { return false };
        // SAFETY: `text` is a NUL-terminated path that outlives the call; access only reads it.
        unsafe { libc::access(text.as_ptr(), mode) == 0 }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Ok(meta) = std::fs::metadata(path) else { return false };
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let sidecars_exist = ["-wal", "-shm"].iter().all(|suffix| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let sidecar = PathBuf::from(name);
        sidecar.exists() && may(&sidecar, libc::W_OK)
    });
    may(path, libc::W_OK)
        && may(&dir, libc::W_OK | libc::X_OK)
        && (meta.uid() == me || sidecars_exist)
}

/// `postgres://alice:secret@db/x` → `postgres://alice:***@db/x`; also hides `password=`.
fn without_password(url: &str) -> String {
    let mut shown = url.to_owned();
    if let Some(scheme_end) = shown.find("://") {
        let rest = &shown[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                let start = scheme_end + 3 + colon + 1;
                let end = scheme_end + 3 + at;
                shown.replace_range(start..end, "***");
            }
        }
    }
    if let Some(pos) = shown.find("password=") {
        let start = pos + "password=".len();
        let end = shown[start..].find('&').map_or(shown.len(), |e| start + e);
        shown.replace_range(start..end, "***");
    }
    shown
}

/// The SQLite file used when neither `--db` nor `FLIGHTDECK_DB` names a store.
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

/// The stored statuses in which a release still needs people.
pub const ACTIVE_STATUSES: [&str; 3] = ["running", "paused", "rolling_back"];

/// Statuses in which a release still needs people.
pub fn is_active(status: &str) -> bool {
    ACTIVE_STATUSES.contains(&status)
}

/// The status word stored in the release row.
pub fn status_word(status: Status) -> &'static str {
    status.as_str()
}
