//! Threshold expressions as written in plans: `> 0.02`, `< 500`, `> baseline * 1.5`.

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
}

/// A breach condition on one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// Which side is bad.
    pub comparison: Comparison,
    /// The bound.
    pub bound: Bound,
}

impl Threshold {
    /// Parses `> 0.02`, `< 10`, `> baseline * 1.5` or `> baseline`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (comparison, rest) = if let Some(rest) = text.strip_prefix('>') {
            (Comparison::Above, rest)
        } else if let Some(rest) = text.strip_prefix('<') {
            (Comparison::Below, rest)
        } else {
            return Err(format!(
                "`{text}` must start with `>` (breach above) or `<` (breach below)"
            ));
        };
        let rest = rest.trim();
        let bound = if let Some(after) = rest.strip_prefix("baseline") {
            let after = after.trim();
            if after.is_empty() {
                Bound::Baseline(1.0)
            } else {
                let factor = after
                    .strip_prefix('*')
                    .map(str::trim)
                    .and_then(|f| f.parse::<f64>().ok())
                    .filter(|f| f.is_finite() && *f > 0.0)
                    .ok_or_else(|| {
                        format!("`{text}`: write `baseline * FACTOR`, e.g. `baseline * 1.5`")
                    })?;
                Bound::Baseline(factor)
            }
        } else {
            let value = rest
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("`{rest}` is not a number"))?;
            Bound::Absolute(value)
        };
        Ok(Self { comparison, bound })
    }

    /// The bound as a number, given the baseline when it is relative.
    pub fn limit(&self, baseline: Option<f64>) -> Option<f64> {
        match self.bound {
            Bound::Absolute(v) => Some(v),
            Bound::Baseline(factor) => baseline.map(|b| b * factor),
        }
    }

    /// Whether `value` is on the bad side of the bound.
    pub fn breached_by(&self, value: f64, baseline: Option<f64>) -> Option<bool> {
        let limit = self.limit(baseline)?;
        Some(match self.comparison {
            Comparison::Above => value > limit,
            Comparison::Below => value < limit,
        })
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.comparison {
            Comparison::Above => '>',
            Comparison::Below => '<',
        };
        match self.bound {
            Bound::Absolute(v) => write!(f, "{op} {v}"),
            Bound::Baseline(1.0) => write!(f, "{op} baseline"),
            Bound::Baseline(factor) => write!(f, "{op} baseline × {factor}"),
        }
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
    fn rejects_nonsense() {
        assert!(Threshold::parse("0.02").is_err());
        assert!(Threshold::parse("> lots").is_err());
        assert!(Threshold::parse("> baseline + 3").is_err());
    }
}
