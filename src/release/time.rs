//! Time and identity as plain data: timestamps are milliseconds since the Unix epoch, shown
//! in UTC so operators on different bastions read the same clock.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Milliseconds from `earlier` to `self`, never negative.
    pub fn millis_since(self, earlier: Timestamp) -> u64 {
        u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0)
    }

    /// This time plus some milliseconds.
    pub fn plus_millis(self, ms: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)))
    }
}

/// `HH:MM:SS` in UTC.
pub fn format_clock(at: Timestamp) -> String {
    let secs = at.0.div_euclid(1000);
    let day_secs = secs.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", day_secs / 3600, day_secs / 60 % 60, day_secs % 60)
}

/// `HH:MM` in UTC, for times people plan around (a claim's end).
pub fn format_hour_minute(at: Timestamp) -> String {
    let clock = format_clock(at);
    clock[..5].to_owned()
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn format_date_time(at: Timestamp) -> String {
    let days = at.0.div_euclid(1000).div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {}", format_clock(at))
}

/// `hh:mm:ss` of an elapsed span (hours grow past 99 if they must).
pub fn format_elapsed(ms: u64) -> String {
    let secs = ms / 1000;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Howard Hinnant's days-to-civil algorithm: exact for the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Who did something: a person (or flightdeck itself) on an account, on a host, in a process.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// The name approvals are counted by: the declared operator name, else the OS account.
    pub name: String,
    /// The OS account of the real uid.
    pub account: String,
    /// The host name.
    pub host: String,
    /// The process id that acted (used to tell a live action from an interrupted one).
    #[serde(default)]
    pub pid: u32,
    /// True for decisions flightdeck took by itself (bakes, automatic rollback).
    #[serde(default)]
    pub automatic: bool,
}

impl Actor {
    /// A person acting under their own account.
    pub fn person(account: &str, host: &str, pid: u32) -> Self {
        Self {
            name: account.into(),
            account: account.into(),
            host: host.into(),
            pid,
            automatic: false,
        }
    }

    /// flightdeck deciding by itself on behalf of this process.
    pub fn automation(account: &str, host: &str, pid: u32) -> Self {
        Self {
            name: "flightdeck (auto)".into(),
            account: account.into(),
            host: host.into(),
            pid,
            automatic: true,
        }
    }

    /// The short name shown in the timeline.
    pub fn short(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.automatic || self.name != self.account {
            write!(f, "{} ({}@{})", self.name, self.account, self.host)
        } else {
            write!(f, "{}@{}", self.account, self.host)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_dates_and_clocks() {
        assert_eq!(format_date_time(Timestamp(0)), "1970-01-01 00:00:00");
        assert_eq!(format_date_time(Timestamp(1_795_344_131_000)), "2026-11-22 10:42:11");
        assert_eq!(format_clock(Timestamp(36_131_000)), "10:02:11");
        assert_eq!(format_elapsed(761_000), "00:12:41");
    }

    #[test]
    fn declared_operators_show_their_account() {
        let mut a = Actor::person("ops", "bastion-1", 1);
        assert_eq!(a.to_string(), "ops@bastion-1");
        a.name = "alice".into();
        assert_eq!(a.to_string(), "alice (ops@bastion-1)");
    }
}
