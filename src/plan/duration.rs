//! Durations as people write them in plans (`90s`, `10m`, `1h30m`, `500ms`) and as the
//! screen shows them.

use std::time::Duration;

/// Parses `500ms`, `30s`, `10m`, `2h`, `1h30m`; a bare `0` is zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if text.contains('.') {
        return Err(fraction_hint(text));
    }
    let mut total_ms: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("`{text}` is not a duration"));
        }
        let number: u64 = rest[..digits].parse().map_err(|_| format!("`{text}` is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit_ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "" => return Err(format!("`{text}` needs a unit (ms, s, m or h)")),
            other => return Err(format!("`{other}` is not a unit (use ms, s, m or h)")),
        };
        rest = &rest[unit_len..];
        total_ms = number
            .checked_mul(unit_ms)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| format!("`{text}` is too large"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// What to write instead of a duration with a fraction (`0.5m` → `30s`).
fn fraction_hint(text: &str) -> String {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let unit_ms = match &text[split..] {
        "ms" => Some(1.0),
        "s" => Some(1_000.0),
        "m" => Some(60_000.0),
        "h" => Some(3_600_000.0),
        _ => None,
    };
    let ms = text[..split].parse::<f64>().ok().zip(unit_ms).map(|(v, u)| v * u);
    let shown = crate::plan::shorten(text, 80);
    match ms {
        Some(ms) if ms.is_finite() && ms >= 1.0 && ms.fract() == 0.0 && ms < 1e15 => {
            // Checked above: a whole, non-negative number of milliseconds that fits.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let whole = ms as u64;
            let exact = if whole % 1000 == 0 {
                format_duration(Duration::from_millis(whole))
            } else {
                format!("{whole}ms")
            };
            format!("`{shown}` has a fraction: use {exact}")
        }
        _ => format!("`{shown}` has a fraction: use whole numbers of a smaller unit (ms, s, m, h)"),
    }
}

/// Formats a duration compactly: `45s`, `10m`, `1h30m`, `2m14s`.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs == 0 && duration.as_millis() > 0 {
        return format!("{}ms", duration.as_millis());
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_compound() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_missing_or_unknown_units() {
        assert!(parse_duration("10").unwrap_err().contains("needs a unit"));
        assert!(parse_duration("10d").unwrap_err().contains("not a unit"));
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn fractions_say_what_to_write_instead() {
        assert_eq!(parse_duration("0.5m").unwrap_err(), "`0.5m` has a fraction: use 30s");
        assert_eq!(parse_duration("1.5h").unwrap_err(), "`1.5h` has a fraction: use 1h30m");
        assert_eq!(parse_duration("1.5s").unwrap_err(), "`1.5s` has a fraction: use 1500ms");
        assert!(parse_duration("0.0001ms").unwrap_err().contains("smaller unit"));
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_secs(600)), "10m");
        assert_eq!(format_duration(Duration::from_secs(134)), "2m14s");
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
    }
}
