//! Store errors in words an operator can act on: which file, what is wrong with it, what to do.

use std::fmt;
use std::path::{Path, PathBuf};

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
            Self::Conflict => f.write_str("another writer recorded an event first"),
            Self::NotFound(what) => f.write_str(what),
            Self::TooNew { path, detail } => write!(
                f,
                "{} was written by a newer flightdeck ({detail}); upgrade flightdeck to open it",
                path.display()
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
