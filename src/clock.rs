//! The only place that reads the wall clock: everything else receives time as data.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::release::Timestamp;

/// Now, in milliseconds since the Unix epoch.
#[allow(clippy::disallowed_methods)]
pub fn now() -> Timestamp {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// A monotonic instant, for measuring how long something took.
#[allow(clippy::disallowed_methods)]
pub fn instant() -> std::time::Instant {
    std::time::Instant::now()
}
