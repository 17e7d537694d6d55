//! Release windows (`[[windows]]`): when a release may start — allow windows (regular releases
//! on Tuesdays 10:00–12:00 Europe/Berlin) and deny windows (a freeze, maybe one-off with an
//! `until` date) — in IANA time zones with the tz database bundled. Pure: the caller says what
//! time it is.

use jiff::tz::TimeZone;

use super::ReleaseType;
use crate::release::Timestamp;

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// Releases may start inside it (and, when a type has allow windows, only inside one).
    Allow,
    /// No release may start inside it (a freeze).
    Deny,
}

/// One `[[windows]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Its name, shown when a start is refused.
    pub name: String,
    /// Allow or deny.
    pub kind: WindowKind,
    /// Weekdays it covers, Monday = 0 ... Sunday = 6 (all when the plan names none).
    pub days: Vec<u8>,
    /// Start of the daily range, minutes after local midnight.
    pub from_minute: u16,
    /// End of the daily range (exclusive), minutes after local midnight; 1440 = midnight.
    pub to_minute: u16,
    /// IANA name, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// The last local day it applies on (a one-off freeze), `(year, month, day)`.
    pub until: Option<(i16, i8, i8)>,
    /// The release types it applies to (all when empty).
    pub release_types: Vec<ReleaseType>,
}

/// The weekday names a plan may use, Monday first.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Window {
    /// Whether the window applies to a release of this type.
    pub fn applies_to(&self, release_type: ReleaseType) -> bool {
        self.release_types.is_empty() || self.release_types.contains(&release_type)
    }

    /// Whether `at` is inside the window.
    pub fn contains(&self, at: Timestamp) -> bool {
        let Ok(tz) = TimeZone::get(&self.timezone) else { return false };
        let Ok(ts) = jiff::Timestamp::from_millisecond(at.0) else { return false };
        let local = ts.to_zoned(tz);
        if let Some((y, m, d)) = self.until {
            if (local.year(), local.month(), local.day()) > (y, m, d) {
                return false;
            }
        }
        let day = u8::try_from(local.weekday().to_monday_zero_offset()).unwrap_or(0);
        if !self.days.is_empty() && !self.days.contains(&day) {
            return false;
        }
        let minute =
            u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).unwrap_or(0);
        minute >= self.from_minute && minute < self.to_minute
    }

    /// `tue 10:00–12:00 Europe/Berlin`, for messages.
    pub fn describe(&self) -> String {
        let days = if self.days.is_empty() {
            "every day".to_owned()
        } else {
            self.days.iter().map(|d| WEEKDAYS[usize::from(*d) % 7]).collect::<Vec<_>>().join(",")
        };
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        let mut s =
            format!("{days} {}–{} {}", hm(self.from_minute), hm(self.to_minute), self.timezone);
        if let Some((y, m, d)) = self.until {
            s.push_str(&format!(" until {y:04}-{m:02}-{d:02}"));
        }
        s
    }
}

/// Why a release may not start now.
#[derive(Debug, Clone, PartialEq)]
pub struct Closed {
    /// The deny window it is in, or the allow windows it is outside of, by name.
    pub windows: Vec<String>,
    /// In words: `inside deny window "year-end freeze" (every day 00:00–24:00 UTC until ...)`.
    pub reason: String,
    /// The next moment a release of this type may start, if one comes within 60 days.
    pub next_allowed: Option<Timestamp>,
}

/// Whether a release of `release_type` may start at `now` under `windows`; `Err` says which
/// window and when the next allowed moment is.
pub fn check(windows: &[Window], release_type: ReleaseType, now: Timestamp) -> Result<(), Closed> {
    let closed = |at: Timestamp| closed_at(windows, release_type, at);
    let Some((names, reason)) = closed(now) else { return Ok(()) };
    // Minute by minute in UTC: exact across DST changes, and quick enough for one `start`.
    const MINUTE: i64 = 60_000;
    let first = Timestamp((now.0.div_euclid(MINUTE) + 1) * MINUTE);
    let next_allowed =
        (0..60 * 24 * 60).map(|i| Timestamp(first.0 + i * MINUTE)).find(|at| closed(*at).is_none());
    Err(Closed { windows: names, reason, next_allowed })
}

/// The first moment in `[from, until)` (looked at minute by minute, up to 7 days) at which a
/// release of this type could not have started, with why: for a release that ran on after
/// its window closed (which never interrupts it) — the header and the report say so.
pub fn first_closed(
    windows: &[Window],
    release_type: ReleaseType,
    from: Timestamp,
    until: Timestamp,
) -> Option<(Timestamp, String)> {
    const MINUTE: i64 = 60_000;
    let last = until.0.min(from.0 + 7 * 24 * 60 * MINUTE);
    let mut at = from.0;
    while at < last {
        if let Some((_, reason)) = closed_at(windows, release_type, Timestamp(at)) {
            return Some((Timestamp(at), reason));
        }
        at = (at.div_euclid(MINUTE) + 1) * MINUTE;
    }
    None
}

/// For a release running at `now` when no release of its type could start: since when (the
/// window's close, looked for up to 12 hours back, not before `started`). `None` while a
/// release could start.
pub fn closed_since(
    windows: &[Window],
    release_type: ReleaseType,
    started: Timestamp,
    now: Timestamp,
) -> Option<Timestamp> {
    const MINUTE: i64 = 60_000;
    closed_at(windows, release_type, now)?;
    let floor = started.0.max(now.0 - 12 * 60 * MINUTE);
    let mut since = now.0.div_euclid(MINUTE) * MINUTE;
    while since - MINUTE >= floor
        && closed_at(windows, release_type, Timestamp(since - MINUTE)).is_some()
    {
        since -= MINUTE;
    }
    Some(Timestamp(since.max(started.0)))
}

fn closed_at(
    windows: &[Window],
    release_type: ReleaseType,
    at: Timestamp,
) -> Option<(Vec<String>, String)> {
    let applying: Vec<&Window> = windows.iter().filter(|w| w.applies_to(release_type)).collect();
    if let Some(deny) = applying.iter().find(|w| w.kind == WindowKind::Deny && w.contains(at)) {
        return Some((
            vec![deny.name.clone()],
            format!("inside deny window \"{}\" ({})", deny.name, deny.describe()),
        ));
    }
    let allows: Vec<&&Window> = applying.iter().filter(|w| w.kind == WindowKind::Allow).collect();
    if allows.is_empty() || allows.iter().any(|w| w.contains(at)) {
        return None;
    }
    let names: Vec<String> = allows.iter().map(|w| w.name.clone()).collect();
    let described: Vec<String> =
        allows.iter().map(|w| format!("\"{}\" ({})", w.name, w.describe())).collect();
    Some((names, format!("outside every allow window: {}", described.join(", "))))
}

/// Parses `HH:MM` (or `24:00` for the end of the day) into minutes after midnight.
pub fn parse_clock(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let minutes = h.checked_mul(60)?.checked_add(m)?;
    (m < 60 && minutes <= 24 * 60).then_some(minutes)
}

/// Whether `name` is a time zone the bundled database knows.
pub fn known_timezone(name: &str) -> bool {
    TimeZone::get(name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> Timestamp {
        let ts = jiff::civil::date(y, mo, d).at(h, mi, 0, 0).to_zoned(TimeZone::UTC).expect("utc");
        Timestamp(ts.timestamp().as_millisecond())
    }

    fn tuesday_10_berlin() -> Window {
        Window {
            name: "regular slot".into(),
            kind: WindowKind::Allow,
            days: vec![1],
            from_minute: 600,
            to_minute: 720,
            timezone: "Europe/Berlin".into(),
            until: None,
            release_types: vec![ReleaseType::Regular],
        }
    }

    #[test]
    fn an_allow_window_follows_its_time_zone_across_a_dst_change() {
        let w = [tuesday_10_berlin()];
        // Tuesday 2026-10-20, summer time (UTC+2): 10:00 Berlin is 08:00 UTC.
        assert!(check(&w, ReleaseType::Regular, utc(2026, 10, 20, 8, 0)).is_ok());
        assert!(check(&w, ReleaseType::Regular, utc(2026, 10, 20, 7, 59)).is_err());
        // Tuesday 2026-10-27, after the change back (UTC+1): 10:00 Berlin is 09:00 UTC.
        assert!(check(&w, ReleaseType::Regular, utc(2026, 10, 27, 8, 30)).is_err());
        assert!(check(&w, ReleaseType::Regular, utc(2026, 10, 27, 9, 0)).is_ok());
        // Refused on the Monday before the change; the next allowed moment is after it.
        let closed = check(&w, ReleaseType::Regular, utc(2026, 10, 26, 12, 0)).expect_err("mon");
        assert_eq!(closed.next_allowed, Some(utc(2026, 10, 27, 9, 0)));
        assert!(closed.reason.contains("outside every allow window"), "{}", closed.reason);
        // Hotfixes are not bound by it.
        assert!(check(&w, ReleaseType::Hotfix, utc(2026, 10, 26, 12, 0)).is_ok());
    }

    #[test]
    fn a_one_off_freeze_denies_until_its_date_and_names_itself() {
        let freeze = Window {
            name: "year-end freeze".into(),
            kind: WindowKind::Deny,
            days: vec![],
            from_minute: 0,
            to_minute: 1440,
            timezone: "UTC".into(),
            until: Some((2026, 12, 31)),
            release_types: vec![],
        };
        let w = [freeze];
        let closed = check(&w, ReleaseType::Hotfix, utc(2026, 12, 30, 15, 0)).expect_err("frozen");
        assert_eq!(closed.windows, ["year-end freeze"]);
        assert_eq!(closed.next_allowed, Some(utc(2027, 1, 1, 0, 0)));
        assert!(check(&w, ReleaseType::Hotfix, utc(2027, 1, 1, 0, 0)).is_ok());
    }

    #[test]
    fn a_window_closing_during_a_release_is_found_with_its_time() {
        let w = [tuesday_10_berlin()];
        let start = utc(2026, 10, 27, 10, 30); // 11:30 Berlin
        let closed = first_closed(&w, ReleaseType::Regular, start, utc(2026, 10, 27, 12, 0));
        assert_eq!(closed.map(|(at, _)| at), Some(utc(2026, 10, 27, 11, 0)));
        assert_eq!(first_closed(&w, ReleaseType::Regular, start, utc(2026, 10, 27, 10, 59)), None);
        let now = utc(2026, 10, 27, 11, 42);
        assert_eq!(
            closed_since(&w, ReleaseType::Regular, start, now),
            Some(utc(2026, 10, 27, 11, 0))
        );
        assert_eq!(closed_since(&w, ReleaseType::Regular, start, utc(2026, 10, 27, 10, 45)), None);
    }

    #[test]
    fn clocks_parse() {
        assert_eq!(parse_clock("10:00"), Some(600));
        assert_eq!(parse_clock("24:00"), Some(1440));
        assert_eq!(parse_clock("24:01"), None);
        assert_eq!(parse_clock("9:75"), None);
        assert!(known_timezone("America/New_York"));
        assert!(!known_timezone("Mars/Olympus"));
    }
}
