//! Where the supervisor's log lines go: stderr for `flightdeck supervise` (systemd and tmux
//! keep it), a file for the cockpit (`--log FILE` or `FLIGHTDECK_LOG`; never the screen).
//! One line per decision and per probe-state change, with its time and its fields.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

/// Sends log lines to stderr. Returns false if a logger was already installed.
pub fn to_stderr() -> bool {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init()
        .is_ok()
}

/// Appends log lines to `path` (created with mode 0600: it names people and hosts).
pub fn to_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))?;
    tracing_subscriber::fmt()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_target(false)
        .try_init()
        .map_err(|e| format!("cannot start logging to {}: {e}", path.display()))
}
