//! Threshold expressions as written in plans: `> 0.02`, `>= 2%`, `< 500ms`,
//! `> baseline * 1.5`, `> baseline + 0.05`; numbers with a unit are converted to the metric's
//! own unit. A level (`warn`, `abort`) is one threshold or a list, any one breaching counts.

use std::fmt;

/// Which side of the bound is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// Values above the bound breach.
    Above,
    /// Values below the bound breach.
    Below,
}

/// What a value is compared with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// A fixed number.
    Absolute(f64),
    /// The series' baseline times a factor.
    Baseline(f64),
    /// The series' baseline plus an offset (negative for `baseline - X`).
    BaselinePlus(f64),
}

/// A breach condition on one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// Which side is bad.
    pub comparison: Comparison,
    /// Whether a value equal to the bound breaches too (`>=`, `<=`).
    pub inclusive: bool,
    /// The bound.
    pub bound: Bound,
}

/// Every form a threshold may take, for hints.
pub const THRESHOLD_FORMS: &str = "`> 0.02`, `>= 2%`, `< 500ms`, `> baseline`, \
`> baseline * 1.5`, `> baseline + 0.05`, `< baseline - 10`, or a list of these";

/// How a metric's declared `unit` takes numbers written with a unit.
#[derive(Debug, Clone, Copy, PartialEq)]
enum MetricScale {
    /// A fraction of one (`ratio`): `2%` is 0.02.
    Fraction,
    /// A percentage (`%`): `2%` is 2.
    Percent,
    /// A time, this many microseconds per unit (`s` = 1 000 000, `ms` = 1 000).
    Time(f64),
    /// Anything else (`req/s`, `conns`, none): only plain numbers.
    Other,
}

fn metric_scale(unit: &str) -> MetricScale {
    match unit.trim().to_ascii_lowercase().as_str() {
        "ratio" | "fraction" => MetricScale::Fraction,
        "%" | "percent" | "pct" => MetricScale::Percent,
        "s" | "sec" | "secs" | "second" | "seconds" => MetricScale::Time(1e6),
        "ms" | "millisecond" | "milliseconds" => MetricScale::Time(1e3),
        "us" | "µs" | "microsecond" | "microseconds" => MetricScale::Time(1.0),
        "min" | "minute" | "minutes" => MetricScale::Time(6e7),
        "h" | "hour" | "hours" => MetricScale::Time(3.6e9),
        _ => MetricScale::Other,
    }
}

/// Microseconds per unit of a time written in a threshold (whole numbers, so that
/// `800ms` on a seconds metric is exactly 0.8: one rounding, in the division).
fn written_time(unit: &str) -> Option<f64> {
    match unit {
        "us" | "µs" => Some(1.0),
        "ms" => Some(1e3),
        "s" => Some(1e6),
        "m" | "min" => Some(6e7),
        "h" => Some(3.6e9),
        _ => None,
    }
}

/// Splits `500ms` into `500` and `ms` (`2 %` and `1.5e3` work too).
fn split_number(text: &str) -> (&str, &str) {
    let bytes = text.as_bytes();
    let mut end = 0;
    while end < bytes.len() {
        let b = bytes[end];
        let exponent = (b == b'e' || b == b'E')
            && end > 0
            && bytes.get(end + 1).is_some_and(|n| n.is_ascii_digit() || *n == b'-' || *n == b'+');
        let sign = (b == b'-' || b == b'+') && (end == 0 || matches!(bytes[end - 1], b'e' | b'E'));
        if b.is_ascii_digit() || b == b'.' || exponent || sign {
            end += 1;
        } else {
            break;
        }
    }
    (&text[..end], text[end..].trim())
}

/// A number as written (`0.02`, `2%`, `500ms`), in the metric's unit `unit`.
pub fn number_in_unit(text: &str, unit: &str) -> Result<f64, String> {
    let text = text.trim();
    let (number, written) = split_number(text);
    let value = number
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("`{}` is not a number", cut(text)))?;
    if written.is_empty() {
        return Ok(value);
    }
    let declared = unit.trim();
    let scale = metric_scale(declared);
    let unit_words = if declared.is_empty() {
        "the metric declares no `unit`".to_owned()
    } else {
        format!("the metric's unit is `{declared}`")
    };
    if written == "%" {
        return match scale {
            MetricScale::Fraction => Ok(value / 100.0),
            MetricScale::Percent => Ok(value),
            _ => Err(format!(
                "`{}` is a percentage but {unit_words}: set unit = \"ratio\" (2% = 0.02) or \
                 unit = \"%\" on the metric, or write a plain number",
                cut(text)
            )),
        };
    }
    if let Some(micros) = written_time(written) {
        return match scale {
            MetricScale::Time(per_unit) => Ok(value * micros / per_unit),
            _ => Err(format!(
                "`{}` is a time but {unit_words}: set unit = \"s\" or \"ms\" on the metric, \
                 or write a plain number",
                cut(text)
            )),
        };
    }
    Err(format!("`{}` is not a unit a threshold takes (use %, us, ms, s, m or h)", cut(written)))
}

/// `text`, cut to 80 characters for a message.
fn cut(text: &str) -> String {
    crate::plan::shorten(text, 80)
}

impl Threshold {
    /// Parses a threshold whose numbers carry no unit (see [`Threshold::parse_in`]).
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_in(text, "")
    }

    /// Parses `> 0.02`, `>= 2%`, `< 10`, `> baseline * 1.5`, `> baseline + 50ms` or
    /// `> baseline`, converting numbers with a unit to the metric's `unit`.
    pub fn parse_in(text: &str, unit: &str) -> Result<Self, String> {
        let text = text.trim();
        let (comparison, inclusive, rest) = if let Some(rest) = text.strip_prefix(">=") {
            (Comparison::Above, true, rest)
        } else if let Some(rest) = text.strip_prefix("<=") {
            (Comparison::Below, true, rest)
        } else if let Some(rest) = text.strip_prefix('>') {
            (Comparison::Above, false, rest)
        } else if let Some(rest) = text.strip_prefix('<') {
            (Comparison::Below, false, rest)
        } else {
            return Err(format!(
                "`{}` must start with `>`, `>=` (breach above) or `<`, `<=` (breach below)",
                cut(text)
            ));
        };
        let rest = rest.trim();
        let bound = if let Some(after) = rest.strip_prefix("baseline") {
            let after = after.trim();
            if after.is_empty() {
                Bound::Baseline(1.0)
            } else if let Some(factor) = after.strip_prefix('*') {
                let factor = factor.trim();
                let value =
                    factor.parse::<f64>().ok().filter(|f| f.is_finite() && *f > 0.0).ok_or_else(
                        || {
                            format!(
                                "`{}`: the factor after `baseline *` must be a positive plain \
                             number, e.g. `baseline * 1.5`",
                                cut(text)
                            )
                        },
                    )?;
                Bound::Baseline(value)
            } else if let Some(offset) = after.strip_prefix('+') {
                Bound::BaselinePlus(number_in_unit(offset, unit)?)
            } else if let Some(offset) = after.strip_prefix('-') {
                Bound::BaselinePlus(-number_in_unit(offset, unit)?)
            } else {
                return Err(format!(
                    "`{}`: write `baseline * FACTOR`, `baseline + X` or `baseline - X`",
                    cut(text)
                ));
            }
        } else {
            Bound::Absolute(number_in_unit(rest, unit)?)
        };
        Ok(Self { comparison, inclusive, bound })
    }

    /// The bound as a number, given the baseline when it is relative.
    pub fn limit(&self, baseline: Option<f64>) -> Option<f64> {
        match self.bound {
            Bound::Absolute(v) => Some(v),
            Bound::Baseline(factor) => baseline.map(|b| b * factor),
            Bound::BaselinePlus(offset) => baseline.map(|b| b + offset),
        }
    }

    /// Whether it is relative to the baseline.
    pub fn relative(&self) -> bool {
        !matches!(self.bound, Bound::Absolute(_))
    }

    /// Whether `value` is on the bad side of the bound.
    pub fn breached_by(&self, value: f64, baseline: Option<f64>) -> Option<bool> {
        let limit = self.limit(baseline)?;
        Some(match (self.comparison, self.inclusive) {
            (Comparison::Above, false) => value > limit,
            (Comparison::Above, true) => value >= limit,
            (Comparison::Below, false) => value < limit,
            (Comparison::Below, true) => value <= limit,
        })
    }

    /// The operator as written: `>`, `>=`, `<` or `<=`.
    pub fn operator(&self) -> &'static str {
        match (self.comparison, self.inclusive) {
            (Comparison::Above, false) => ">",
            (Comparison::Above, true) => ">=",
            (Comparison::Below, false) => "<",
            (Comparison::Below, true) => "<=",
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.operator();
        match self.bound {
            Bound::Absolute(v) => write!(f, "{op} {v}"),
            Bound::Baseline(1.0) => write!(f, "{op} baseline"),
            Bound::Baseline(factor) => write!(f, "{op} baseline × {factor}"),
            Bound::BaselinePlus(offset) if offset < 0.0 => {
                write!(f, "{op} baseline - {}", -offset)
            }
            Bound::BaselinePlus(offset) => write!(f, "{op} baseline + {offset}"),
        }
    }
}

/// One level (`warn` or `abort`): thresholds of which any one breaching counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    any: Vec<Threshold>,
}

impl Thresholds {
    /// A level of these thresholds; `None` when the list is empty.
    pub fn new(any: Vec<Threshold>) -> Option<Self> {
        (!any.is_empty()).then_some(Self { any })
    }

    /// A level of one threshold.
    pub fn one(threshold: Threshold) -> Self {
        Self { any: vec![threshold] }
    }

    /// Parses one threshold without units as a level (for tests and simple callers).
    pub fn parse(text: &str) -> Result<Self, String> {
        Threshold::parse(text).map(Self::one)
    }

    /// The thresholds, in the order written.
    pub fn iter(&self) -> impl Iterator<Item = &Threshold> {
        self.any.iter()
    }

    /// The first threshold written.
    pub fn first(&self) -> &Threshold {
        &self.any[0]
    }

    /// Whether any threshold is relative to the baseline.
    pub fn relative(&self) -> bool {
        self.any.iter().any(Threshold::relative)
    }

    /// Whether every threshold can be judged with this baseline.
    pub fn judgeable(&self, baseline: Option<f64>) -> bool {
        self.any.iter().all(|t| t.limit(baseline).is_some())
    }

    /// `Some(true)` when any threshold is breached by `value`; `None` when none is but one
    /// cannot be judged yet (no baseline); else `Some(false)`.
    pub fn breached_by(&self, value: f64, baseline: Option<f64>) -> Option<bool> {
        let mut unjudged = false;
        for t in &self.any {
            match t.breached_by(value, baseline) {
                Some(true) => return Some(true),
                Some(false) => {}
                None => unjudged = true,
            }
        }
        (!unjudged).then_some(false)
    }

    /// The first threshold `value` breaches.
    pub fn first_breached(&self, value: f64, baseline: Option<f64>) -> Option<&Threshold> {
        self.any.iter().find(|t| t.breached_by(value, baseline) == Some(true))
    }
}

impl fmt::Display for Thresholds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.any.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_absolute_and_relative() {
        let t = Threshold::parse("> 0.02").unwrap();
        assert_eq!(t.comparison, Comparison::Above);
        assert_eq!(t.bound, Bound::Absolute(0.02));
        let r = Threshold::parse("> baseline * 1.5").unwrap();
        assert_eq!(r.bound, Bound::Baseline(1.5));
        assert_eq!(r.breached_by(160.0, Some(100.0)), Some(true));
        assert_eq!(r.breached_by(140.0, Some(100.0)), Some(false));
        assert_eq!(r.breached_by(140.0, None), None);
        assert_eq!(Threshold::parse("< 10").unwrap().breached_by(5.0, None), Some(true));
    }

    #[test]
    fn inclusive_operators_breach_at_the_bound() {
        let at_least = Threshold::parse(">= 0.02").unwrap();
        assert!(at_least.inclusive);
        assert_eq!(at_least.breached_by(0.02, None), Some(true));
        assert_eq!(Threshold::parse("> 0.02").unwrap().breached_by(0.02, None), Some(false));
        let at_most = Threshold::parse("<= 5").unwrap();
        assert_eq!(at_most.breached_by(5.0, None), Some(true));
        assert_eq!(at_most.breached_by(5.1, None), Some(false));
        assert_eq!(at_least.to_string(), ">= 0.02");
        assert_eq!(at_most.to_string(), "<= 5");
    }

    #[test]
    fn baseline_offsets() {
        let plus = Threshold::parse("> baseline + 0.05").unwrap();
        assert_eq!(plus.bound, Bound::BaselinePlus(0.05));
        assert_eq!(plus.limit(Some(0.1)), Some(0.1 + 0.05));
        assert_eq!(plus.to_string(), "> baseline + 0.05");
        let minus = Threshold::parse("< baseline - 10").unwrap();
        assert_eq!(minus.bound, Bound::BaselinePlus(-10.0));
        assert_eq!(minus.breached_by(85.0, Some(100.0)), Some(true));
        assert_eq!(minus.breached_by(95.0, Some(100.0)), Some(false));
        assert_eq!(minus.to_string(), "< baseline - 10");
    }

    #[test]
    fn units_convert_to_the_metric_unit() {
        let on = |text: &str, unit: &str| Threshold::parse_in(text, unit).map(|t| t.bound);
        assert_eq!(on("> 2%", "ratio"), Ok(Bound::Absolute(0.02)));
        assert_eq!(on("> 2%", "%"), Ok(Bound::Absolute(2.0)));
        assert_eq!(on("< 500ms", "s"), Ok(Bound::Absolute(0.5)));
        assert_eq!(on("< 500 ms", "ms"), Ok(Bound::Absolute(500.0)));
        assert_eq!(on("< 1.5s", "ms"), Ok(Bound::Absolute(1500.0)));
        assert_eq!(on("< 2m", "seconds"), Ok(Bound::Absolute(120.0)));
        assert_eq!(on("> baseline + 50ms", "s"), Ok(Bound::BaselinePlus(0.05)));
        assert_eq!(on("> 1e3", "req/s"), Ok(Bound::Absolute(1000.0)));
        assert_eq!(on("> 800ms", "s"), Ok(Bound::Absolute(0.8)), "exactly the 0.8 written");
        assert_eq!(on("> 300ms", "s"), Ok(Bound::Absolute(0.3)));
        assert_eq!(on("> -3", ""), Ok(Bound::Absolute(-3.0)));
    }

    #[test]
    fn units_that_do_not_fit_are_refused() {
        let err = |text: &str, unit: &str| Threshold::parse_in(text, unit).unwrap_err();
        assert!(err("> 500ms", "ratio").contains("is a time but the metric's unit is `ratio`"));
        assert!(err("> 2%", "s").contains("is a percentage"));
        assert!(err("> 2%", "").contains("declares no `unit`"));
        assert!(err("> 2 parsecs", "s").contains("not a unit"));
    }

    #[test]
    fn rejects_nonsense() {
        assert!(Threshold::parse("0.02").is_err());
        assert!(Threshold::parse("> lots").unwrap_err().contains("`lots` is not a number"));
        assert!(Threshold::parse("> baseline ^ 3").unwrap_err().contains("`baseline + X`"));
        assert!(Threshold::parse("> baseline * 2%").is_err());
        assert!(Threshold::parse("=> 3").unwrap_err().contains("must start with"));
    }

    #[test]
    fn a_level_breaches_when_any_threshold_does() {
        let level = Thresholds::new(vec![
            Threshold::parse_in("> 500ms", "s").unwrap(),
            Threshold::parse("> baseline * 1.5").unwrap(),
        ])
        .unwrap();
        assert_eq!(level.breached_by(0.6, None), Some(true));
        assert_eq!(level.breached_by(0.2, None), None, "the relative one waits for a baseline");
        assert_eq!(level.breached_by(0.2, Some(0.1)), Some(true));
        assert_eq!(level.breached_by(0.2, Some(0.2)), Some(false));
        assert_eq!(
            level.first_breached(0.2, Some(0.1)),
            Some(&level.iter().copied().nth(1).unwrap())
        );
        assert!(level.relative());
        assert!(!level.judgeable(None));
        assert_eq!(level.to_string(), "> 0.5 or > baseline × 1.5");
        assert!(Thresholds::new(Vec::new()).is_none());
    }
}
