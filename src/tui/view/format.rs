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

/// How a row's numbers are shown: its value, thresholds and baseline in one unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Units {
    /// What a stored value is multiplied by for display (100 for a ratio shown as %).
    factor: f64,
    /// Written after the number: `%`, `ms`, `s`, ` req/s`.
    suffix: String,
}

impl Units {
    /// The display units of a series with plan unit `unit` whose numbers on screen are about
    /// `largest` (the larger of value and threshold): ratios as %, seconds below 1 s as ms.
    pub fn of(unit: &str, largest: f64) -> Self {
        let (factor, suffix) = match unit {
            // A `ratio` holds fractions (0.02 is 2%); a `%` series holds percentages already,
            // as the threshold language reads it (`> 2%` on a `%` metric is 2).
            "ratio" | "fraction" => (100.0, "%".to_owned()),
            "%" | "percent" | "pct" => (1.0, "%".to_owned()),
            "s" if largest.abs() < 1.0 => (1000.0, "ms".to_owned()),
            "ms" | "s" | "" => (1.0, unit.to_owned()),
            other => (1.0, format!(" {other}")),
        };
        Self { factor, suffix }
    }

    /// A measured value, to the usual precision.
    pub fn value(&self, v: f64) -> String {
        let x = v * self.factor;
        format!("{}{}", fixed(x, decimals(x)), self.suffix)
    }

    /// A measured level such as a baseline: the usual precision, trailing zeros dropped
    /// (`248ms`, never `247.973ms`).
    pub fn measured(&self, v: f64) -> String {
        let x = v * self.factor;
        format!("{}{}", trimmed(x, decimals(x)), self.suffix)
    }

    /// A threshold or baseline: trailing zeros dropped (`5%`, `500ms`).
    pub fn level(&self, v: f64) -> String {
        let x = v * self.factor;
        format!("{}{}", trimmed(x, decimals(x).max(4)), self.suffix)
    }

    /// A value beside the level it is judged by, with enough decimals that the two never
    /// print alike when they differ (0.4969 next to 0.5 is `496.9ms`/`500ms`, never both
    /// `0.50s`): rounding can then never carry a value across its threshold.
    pub fn value_and_level(&self, v: f64, level: f64) -> (String, String) {
        let (x, l) = (v * self.factor, level * self.factor);
        let mut d = decimals(x);
        while x != l && d < 9 && round_to(x, d) == round_to(l, d) {
            d += 1;
        }
        (
            format!("{}{}", fixed(x, d), self.suffix),
            format!("{}{}", trimmed(l, d.max(decimals(l))), self.suffix),
        )
    }
}

/// Decimals that show three significant digits (at least two, so 8.5% reads `8.50%`).
fn decimals(x: f64) -> usize {
    let a = x.abs();
    if a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else if !(1e-6..1.0).contains(&a) {
        2
    } else {
        (2.0 - a.log10().floor()).clamp(2.0, 8.0) as usize
    }
}

fn round_to(x: f64, decimals: usize) -> f64 {
    let scale = 10f64.powi(i32::try_from(decimals).unwrap_or(9));
    (x * scale).round() / scale
}

fn fixed(x: f64, decimals: usize) -> String {
    format!("{x:.decimals$}")
}

fn trimmed(x: f64, decimals: usize) -> String {
    let text = fixed(x, decimals);
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// A value with its unit, as [`Units`] shows it.
pub fn value(v: f64, unit: &str) -> String {
    Units::of(unit, v).value(v)
}

/// An age without `ago`, for columns: `3s`, `2m`, `1h`.
pub fn short_age(ms: u64) -> String {
    remaining(ms)
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

/// Splits `text` into lines of at most `width` characters at spaces, keeping its leading
/// spaces on the first line and starting every further line `indent` spaces in (a hanging
/// indent), so a wrapped line stays under the text it continues.
pub fn wrap_hanging(text: &str, width: usize, indent: usize) -> Vec<String> {
    wrap_words(text, width, indent, false)
}

/// [`wrap_hanging`], but a word longer than a whole line (a command's URL with the version at
/// its end) is broken across lines rather than cut: its end is often what matters.
pub fn wrap_hanging_whole(text: &str, width: usize, indent: usize) -> Vec<String> {
    wrap_words(text, width, indent, true)
}

fn wrap_words(text: &str, width: usize, indent: usize, break_long: bool) -> Vec<String> {
    let indent = indent.min(width / 2);
    let lead = text.len() - text.trim_start_matches(' ').len();
    let mut lines = Vec::new();
    let mut line = text[..lead].to_owned();
    let mut has_word = false;
    for word in text[lead..].split(' ') {
        let needed = line.chars().count() + usize::from(has_word) + word.chars().count();
        if has_word && needed > width {
            lines.push(std::mem::take(&mut line));
            line = " ".repeat(indent);
            has_word = false;
        }
        if has_word {
            line.push(' ');
        }
        let mut rest: Vec<char> = word.chars().collect();
        loop {
            let room = width.saturating_sub(line.chars().count()).max(1);
            if !break_long || rest.len() <= room || width <= indent + 1 {
                line.push_str(&fit(&rest.iter().collect::<String>(), room));
                break;
            }
            line.extend(rest.drain(..room));
            lines.push(std::mem::take(&mut line));
            line = " ".repeat(indent);
        }
        has_word = true;
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
    fn a_value_and_its_threshold_share_a_unit_and_never_round_alike() {
        let ratio = Units::of("ratio", 0.085);
        assert_eq!(ratio.value_and_level(0.085, 0.05), ("8.50%".into(), "5%".into()));
        let secs = Units::of("s", 0.5);
        assert_eq!(secs.value_and_level(0.4969, 0.5), ("497ms".into(), "500ms".into()));
        assert_eq!(secs.value_and_level(0.49996, 0.5), ("499.96ms".into(), "500ms".into()));
        let plain = Units::of("", 0.5);
        assert_eq!(plain.value_and_level(0.4969, 0.5), ("0.497".into(), "0.5".into()));
        assert_eq!(plain.value_and_level(0.5, 0.5), ("0.500".into(), "0.5".into()));
        assert_eq!(Units::of("s", 2.0).value_and_level(2.4, 2.0), ("2.40s".into(), "2s".into()));
        assert_eq!(ratio.level(0.315), "31.5%");
    }

    #[test]
    fn values_ages_and_sparklines() {
        assert_eq!(value(0.3, "%"), "0.300%");
        assert_eq!(value(182.4, "ms"), "182ms");
        assert_eq!(value(45.0, "req/s"), "45.0 req/s");
        assert_eq!(value(0.085, "ratio"), "8.50%");
        assert_eq!(value(0.00475, "s"), "4.75ms");
        assert_eq!(value(1.25, "s"), "1.25s");
        assert_eq!(value(0.5, ""), "0.500");
        assert_eq!(value(0.0, ""), "0.00");
        assert_eq!(age(3_000), "3s ago");
        assert_eq!(age(125_000), "2m ago");
        assert_eq!(sparkline(&[1.0, 2.0, 3.0], 10), "▁▅█");
        assert_eq!(sparkline(&[2.0, 2.0], 10), "▁▁");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(wrap("say no-go at the gate", 10), ["say no-go", "at the", "gate"]);
        assert_eq!(wrap("", 10), [""]);
        assert_eq!(
            wrap_hanging(" probes: green, lb, error_rate", 20, 9),
            [" probes: green, lb,", "         error_rate"]
        );
        assert_eq!(wrap_hanging("   a b", 10, 3), ["   a b"]);
        // A command's long URL is cut by the plain wrap and kept whole by the other.
        assert_eq!(wrap_hanging(" POST https://x/y?v=1.4.0", 12, 3), [" POST", "   https://…"]);
        assert_eq!(
            wrap_hanging_whole(" POST https://x/y?v=1.4.0", 12, 3),
            [" POST", "   https://x", "   /y?v=1.4.", "   0"]
        );
    }
}
