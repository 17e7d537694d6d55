//! Pure formatting for the screen: bars, timers, ages, values, sparklines. Tested without a
//! terminal.

use std::time::Duration;

use crate::plan::format_duration;

/// `mm:ss` of a span (hours folded into minutes past 99 would overflow, so `h:mm:ss` then).
pub fn clock_span(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

/// `04:12/10m` for a bake.
pub fn bake_progress(elapsed_ms: u64, total: Duration) -> String {
    let total_ms = u64::try_from(total.as_millis()).unwrap_or(u64::MAX);
    format!("{}/{}", clock_span(elapsed_ms.min(total_ms)), format_duration(total))
}

/// A two-colour bar: `width` cells, `weight` percent filled from the right side's share.
pub fn split_bar(weight: u8, width: usize) -> (String, String) {
    let canary = (usize::from(weight.min(100)) * width + 50) / 100;
    let canary = if weight > 0 { canary.max(1) } else { 0 };
    let canary = if weight < 100 { canary.min(width.saturating_sub(1)) } else { width };
    ("█".repeat(width - canary), "░".repeat(canary))
}

/// Time left, compactly: `45s`, `12m`, `3h`.
pub fn remaining(ms: u64) -> String {
    let s = ms / 1000;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else {
        format!("{}h", s / 3600)
    }
}

/// `3s ago`, `2m ago`, `1h ago`.
pub fn age(ms: u64) -> String {
    let s = ms / 1000;
    if s < 60 {
        format!("{s}s ago")
    } else if s < 3600 {
        format!("{}m ago", s / 60)
    } else {
        format!("{}h ago", s / 3600)
    }
}

/// A value with its unit: ratios as percent, milliseconds whole, others to 3 significant digits.
pub fn value(v: f64, unit: &str) -> String {
    match unit {
        "%" | "percent" => format!("{:.2}%", v * 100.0),
        "ms" => format!("{v:.0}ms"),
        "s" => format!("{v:.2}s"),
        "" => compact(v),
        other => format!("{} {other}", compact(v)),
    }
}

fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if !(1e-6..1.0).contains(&a) {
        format!("{v:.2}")
    } else {
        // Three significant digits below 1 too, so 0.0012 does not read as 0.00.
        let decimals = (2.0 - a.log10().floor()).clamp(2.0, 8.0) as usize;
        format!("{v:.decimals$}")
    }
}

/// A sparkline of the last `width` values, scaled between their min and max.
pub fn sparkline(values: &[f64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &values[values.len().saturating_sub(width)..];
    if tail.is_empty() {
        return String::new();
    }
    let (lo, hi) = tail.iter().fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let span = hi - lo;
    tail.iter()
        .map(|v| {
            if span <= f64::EPSILON {
                BARS[0]
            } else {
                let i = ((v - lo) / span * 7.0).round();
                BARS[i.clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

/// Splits `text` into lines of at most `width` characters at spaces (a longer word is cut).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let needed = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if !line.is_empty() && needed > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&fit(word, width));
    }
    lines.push(line);
    lines
}

/// Cuts `text` to `width` characters, ending with `…` when cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_time_left() {
        assert_eq!(remaining(59_999), "59s");
        assert_eq!(remaining(12 * 60_000 + 59_000), "12m");
        assert_eq!(remaining(3 * 3_600_000 + 1), "3h");
    }

    #[test]
    fn formats_spans_and_bakes() {
        assert_eq!(clock_span(252_000), "04:12");
        assert_eq!(bake_progress(252_000, Duration::from_secs(600)), "04:12/10m");
        assert_eq!(bake_progress(900_000, Duration::from_secs(600)), "10:00/10m");
        assert_eq!(clock_span(3_723_000), "1:02:03");
    }

    #[test]
    fn bars_show_every_nonzero_weight() {
        assert_eq!(split_bar(0, 10), ("█".repeat(10), String::new()));
        assert_eq!(split_bar(100, 10), (String::new(), "░".repeat(10)));
        assert_eq!(split_bar(1, 10).1.chars().count(), 1);
        assert_eq!(split_bar(99, 10).0.chars().count(), 1);
        assert_eq!(split_bar(50, 10).1.chars().count(), 5);
    }

    #[test]
    fn values_ages_and_sparklines() {
        assert_eq!(value(0.003, "%"), "0.30%");
        assert_eq!(value(182.4, "ms"), "182ms");
        assert_eq!(value(45.0, "req/s"), "45.0 req/s");
        assert_eq!(value(0.0012, "ratio"), "0.00120 ratio");
        assert_eq!(value(0.031, "ratio"), "0.0310 ratio");
        assert_eq!(value(0.5, ""), "0.500");
        assert_eq!(value(0.0, ""), "0.00");
        assert_eq!(age(3_000), "3s ago");
        assert_eq!(age(125_000), "2m ago");
        assert_eq!(sparkline(&[1.0, 2.0, 3.0], 10), "▁▅█");
        assert_eq!(sparkline(&[2.0, 2.0], 10), "▁▁");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(wrap("say no-go at the gate", 10), ["say no-go", "at the", "gate"]);
        assert_eq!(wrap("", 10), [""]);
    }
}
