//! Numbers in a metric's own unit for the words flightdeck records and shows: a `ratio` as a
//! percentage, seconds below one as milliseconds, with enough digits that a value and the
//! limit it is judged against never print the same when they differ.

/// How a declared `unit` is written out.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scale {
    /// A fraction of one, shown as a percentage.
    Fraction,
    /// Already a percentage.
    Percent,
    /// Seconds: milliseconds below one.
    Seconds,
    /// Milliseconds.
    Millis,
    /// Anything else: the number and the unit as written.
    Other,
}

fn scale(unit: &str) -> Scale {
    match unit.trim().to_ascii_lowercase().as_str() {
        "ratio" | "fraction" => Scale::Fraction,
        "%" | "percent" | "pct" => Scale::Percent,
        "s" | "sec" | "secs" | "second" | "seconds" => Scale::Seconds,
        "ms" | "millisecond" | "milliseconds" => Scale::Millis,
        _ => Scale::Other,
    }
}

fn trimmed(v: f64, decimals: usize) -> String {
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// The number and suffix `value` is written with in `unit`, judged by the larger of the
/// numbers shown beside it (`reference`) so both share a suffix.
fn in_unit(value: f64, reference: f64, unit: &str, decimals: usize) -> String {
    match scale(unit) {
        Scale::Fraction => format!("{}%", trimmed(value * 100.0, decimals)),
        Scale::Percent => format!("{}%", trimmed(value, decimals)),
        Scale::Seconds if reference.abs() < 1.0 => {
            format!("{}ms", trimmed(value * 1000.0, decimals))
        }
        Scale::Seconds => format!("{}s", trimmed(value, decimals)),
        Scale::Millis => format!("{}ms", trimmed(value, decimals)),
        Scale::Other if unit.trim().is_empty() => trimmed(value, decimals.max(4)),
        Scale::Other => format!("{} {}", trimmed(value, decimals.max(2)), unit.trim()),
    }
}

/// One number in `unit`.
pub fn format_in_unit(value: f64, unit: &str) -> String {
    in_unit(value, value, unit, 2)
}

/// A value and the limit it is judged against, in `unit`, with as many digits as it takes
/// for them to print differently when they differ.
pub fn value_and_limit(value: f64, limit: f64, unit: &str) -> (String, String) {
    let reference = value.abs().max(limit.abs());
    let mut decimals = 2;
    loop {
        let (v, l) =
            (in_unit(value, reference, unit, decimals), in_unit(limit, reference, unit, decimals));
        if v != l || value == limit || decimals >= 9 {
            return (v, l);
        }
        decimals += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_is_a_percentage_and_never_rounds_onto_its_limit() {
        assert_eq!(value_and_limit(0.081, 0.02, "ratio"), ("8.1%".into(), "2%".into()));
        let (v, l) = value_and_limit(0.050_01, 0.05, "ratio");
        assert_ne!(v, l, "{v} vs {l}");
    }

    #[test]
    fn seconds_below_one_are_milliseconds() {
        assert_eq!(value_and_limit(0.004_75, 0.5, "s"), ("4.75ms".into(), "500ms".into()));
        let (v, l) = value_and_limit(0.4969, 0.5, "s");
        assert_eq!((v.as_str(), l.as_str()), ("496.9ms", "500ms"));
        assert_eq!(format_in_unit(1.5, "s"), "1.5s");
    }

    #[test]
    fn other_units_keep_their_name() {
        assert_eq!(format_in_unit(24.0, "conns"), "24 conns");
        assert_eq!(format_in_unit(0.081, ""), "0.081");
    }
}
