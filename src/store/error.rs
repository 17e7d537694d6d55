//! Store errors in words an operator can act on: which file, what is wrong with it, what to do.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the store could not do what was asked.
#[derive(Debug)]
pub enum StoreError {
    /// The file is not a SQLite database, or is damaged.
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// SQLite's words.
        detail: String,
    },
    /// The file or its directory cannot be written.
    ReadOnly {
        /// The database file.
        path: PathBuf,
        /// SQLite's or the OS's words.
        detail: String,
    },
    /// Another process holds a lock for longer than the busy timeout.
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// Other writers kept the store busy for the whole busy timeout: a command waited that
    /// long (retrying after each lost race, or queued on the write lock) and gave up.
    Busy {
        /// The store.
        path: PathBuf,
        /// How long it waited.
        waited: Duration,
        /// Who is known to be working on the release (its driver), if anyone.
        holder: Option<String>,
    },
    /// Another writer appended first.
    Conflict,
    /// No release matches.
    NotFound(String),
    /// The schema is newer than this flightdeck.
    TooNew {
        /// The database file.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// The record of a release was changed behind flightdeck's back (e.g. its stored plan no
    /// longer matches the hash its start event recorded): nothing may act on it.
    Tampered {
        /// The release.
        release_id: i64,
        /// What disagrees.
        detail: String,
    },
    /// Anything else, with context.
    Other(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Corrupt { path, detail } => write!(
                f,
                "{} is not a flightdeck database or is damaged ({detail}); nothing was written. \
                 Move it aside and restore it from a backup, or pass --db to use another file",
                path.display()
            ),
            Self::ReadOnly { path, detail } if is_url(path) => write!(
                f,
                "cannot write to {} ({detail}); nothing was written. Connect as a role granted \
                 INSERT and UPDATE on flightdeck's tables (README: Team mode), or open the \
                 cockpit with --read-only to watch",
                path.display()
            ),
            Self::ReadOnly { path, detail } => write!(
                f,
                "cannot write to {} ({detail}); nothing was written. Check the file's and its \
                 directory's permissions, or open the cockpit with --read-only to watch",
                path.display()
            ),
            Self::Locked { path } => write!(
                f,
                "{} is locked by another process for too long; nothing was written. Try again, \
                 or find the process holding it (fuser {})",
                path.display(),
                path.display()
            ),
            Self::Busy { path, waited, holder } => {
                write!(
                    f,
                    "{} was kept busy by other writers for {:.1} s; nothing was written. ",
                    path.display(),
                    waited.as_secs_f64()
                )?;
                match holder {
                    Some(who) => write!(f, "The release is driven by {who}; try again"),
                    None if is_url(path) => f.write_str("Try again"),
                    None => write!(
                        f,
                        "Try again, or find the process holding it (fuser {})",
                        path.display()
                    ),
                }
            }
            Self::Conflict => f.write_str("another writer recorded an event first"),
            Self::NotFound(what) => f.write_str(what),
            Self::TooNew { path, detail } => write!(
                f,
                "{} was written by a newer flightdeck ({detail}); upgrade flightdeck to open it",
                path.display()
            ),
            Self::Tampered { release_id, detail } => write!(
                f,
                "release {release_id} was tampered with: {detail}; nothing was done. Someone \
                 with write access to the database changed it: `flightdeck verify \
                 {release_id}` shows what else changed; restore the database from a backup \
                 before acting on this release"
            ),
            Self::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    /// Classifies a sqlx error for `path`.
    pub fn from_sqlx(path: &Path, error: sqlx::Error) -> Self {
        let path = path.to_path_buf();
        if let sqlx::Error::Database(db) = &error {
            let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
            let detail = db.message().to_owned();
            return match code & 0xff {
                26 | 11 => Self::Corrupt { path, detail },
                8 => Self::ReadOnly { path, detail },
                5 | 6 => Self::Locked { path },
                14 => Self::ReadOnly { path, detail: format!("cannot open: {detail}") },
                19 => Self::Conflict,
                _ => Self::Other(format!("{}: {detail}", path.display())),
            };
        }
        if let sqlx::Error::Migrate(m) = &error {
            let text = m.to_string();
            if text.contains("was previously applied but is missing") {
                return Self::TooNew { path, detail: text };
            }
            return Self::from_message(path, text);
        }
        Self::from_message(path, error.to_string())
    }

    /// Classifies a PostgreSQL error for the database shown as `url` (password hidden), by
    /// its SQLSTATE.
    pub fn from_postgres(url: &Path, error: sqlx::Error) -> Self {
        let path = url.to_path_buf();
        match &error {
            sqlx::Error::Database(db) => {
                let detail = db.message().to_owned();
                match db.code().as_deref().unwrap_or_default() {
                    "23505" | "40001" | "40P01" => Self::Conflict,
                    "42501" => Self::ReadOnly {
                        path,
                        detail: format!("the database role may not write: {detail}"),
                    },
                    "25006" => Self::ReadOnly { path, detail },
                    "55P03" => Self::Locked { path },
                    "3D000" => Self::NotFound(format!(
                        "{}: {detail}; create it first (README: Team mode has a recipe)",
                        path.display()
                    )),
                    "28000" | "28P01" => Self::Other(format!(
                        "{}: {detail}; check the user and password in the URL (or PGPASSWORD)",
                        path.display()
                    )),
                    code => Self::Other(format!("{}: {detail} (SQLSTATE {code})", path.display())),
                }
            }
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => {
                Self::Other(format!(
                    "cannot reach PostgreSQL at {} ({error}); nothing was written. Check the host \
                     and port, that the server is running, and that this host may connect",
                    path.display()
                ))
            }
            sqlx::Error::Migrate(m) => {
                let text = m.to_string();
                if text.contains("was previously applied but is missing") {
                    Self::TooNew { path, detail: text }
                } else {
                    Self::Other(format!("{}: {text}", path.display()))
                }
            }
            _ => Self::Other(format!("{}: {error}", path.display())),
        }
    }

    fn from_message(path: PathBuf, text: String) -> Self {
        let lower = text.to_lowercase();
        if lower.contains("not a database") || lower.contains("malformed") {
            Self::Corrupt { path, detail: text }
        } else if lower.contains("readonly") || lower.contains("read-only") {
            Self::ReadOnly { path, detail: text }
        } else if lower.contains("locked") || lower.contains("busy") {
            Self::Locked { path }
        } else {
            Self::Other(format!("{}: {text}", path.display()))
        }
    }
}

/// Whether a store location is a server URL rather than a file.
fn is_url(path: &Path) -> bool {
    path.to_str().is_some_and(|p| p.starts_with("postgres://") || p.starts_with("postgresql://"))
}
