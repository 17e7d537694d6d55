//! Byte sizes as people write them in plans (`"4MiB"`, `"512KiB"`, `"1MB"`, or a bare number
//! of bytes) and as the screen shows them (`1 MiB`). Pure.

/// The largest response body a probe reads unless its plan says otherwise.
pub const DEFAULT_MAX_BODY: u64 = 1024 * 1024;

/// The largest `max_body` a plan may ask for: a probe reading more than this at every
/// interval would cost the cockpit more memory and time than any health or metric answer
/// is worth.
pub const MAX_MAX_BODY: u64 = 64 * 1024 * 1024;

/// Parses `4MiB`, `512 KiB`, `1MB`, `2GiB`, `1000B` or `1000` (bytes). Units are
/// case-insensitive; `KiB`/`MiB`/`GiB` are powers of 1024, `KB`/`MB`/`GB` of 1000.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let digits = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    if digits == 0 {
        return Err(format!("`{text}` is not a size"));
    }
    let number: u64 = trimmed[..digits].parse().map_err(|_| format!("`{text}` is too large"))?;
    let unit = trimmed[digits..].trim().to_ascii_lowercase();
    let factor: u64 = match unit.as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "`{other}` is not a size unit (use B, KiB, MiB, GiB, KB, MB or GB)"
            ));
        }
    };
    number.checked_mul(factor).ok_or_else(|| format!("`{text}` is too large"))
}

/// Formats a size the way it reads best: `1 MiB`, `512 KiB`, `1500 bytes`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (factor, unit) in UNITS {
        if bytes >= factor && bytes % factor == 0 {
            return format!("{} {unit}", bytes / factor);
        }
    }
    if bytes >= 1 << 20 {
        // Not a whole number of MiB: one decimal is enough to recognise it.
        #[allow(clippy::cast_precision_loss)]
        let mib = bytes as f64 / (1u64 << 20) as f64;
        return format!("{mib:.1} MiB");
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_and_decimal_units() {
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1mb"), Ok(1_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("1000B"), Ok(1000));
        assert!(parse_size("").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("4 parsecs").unwrap_err().contains("parsecs"));
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999999999GiB").unwrap_err().contains("too large"));
        assert!(parse_size("18446744073709551615GiB").unwrap_err().contains("too large"));
    }

    #[test]
    fn formats_whole_units_and_bytes() {
        assert_eq!(format_size(DEFAULT_MAX_BODY), "1 MiB");
        assert_eq!(format_size(4 << 20), "4 MiB");
        assert_eq!(format_size(512 << 10), "512 KiB");
        assert_eq!(format_size(1500), "1500 bytes");
        assert_eq!(format_size(1_500_000), "1.4 MiB");
    }
}
