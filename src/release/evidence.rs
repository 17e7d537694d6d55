//! Bake evidence: what the stored readings of a bake's watched series say, judged outside the
//! engine (by `analysis::bake_evidence`) and handed to `decide`, which passes a bake only on
//! evidence that covers it and passes, or on a person's recorded override.

/// How one watched series stands over a bake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceStatus {
    /// Readings cover the bake and every one of them passes.
    Pass,
    /// Readings cover the bake (or part of it) and a level was breached, or the verdict at the
    /// end is not good enough to pass on.
    Fail,
    /// Readings do not cover the bake: none at all, or gaps.
    Missing,
}

impl EvidenceStatus {
    /// The word shown and recorded.
    pub fn word(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Missing => "missing",
        }
    }
}

/// What the stored readings say about one watched series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesEvidence {
    /// Metric or health probe id.
    pub series: String,
    /// Pass, fail or missing.
    pub status: EvidenceStatus,
    /// Readings taken during the bake (errors excluded for metrics).
    pub readings: u32,
    /// Why, with the numbers: `58 readings over 5m, newest 0.003`, `no readings after 12:03:10`.
    pub detail: String,
}

impl SeriesEvidence {
    /// `error_rate: fail (value 0.2 > 0.05 at 12:03:10)`.
    pub fn line(&self) -> String {
        format!("{}: {} ({})", self.series, self.status.word(), self.detail)
    }
}

/// The judgement of a bake's stored readings at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct BakeEvidence {
    /// The bake step judged.
    pub step: String,
    /// When it was judged: evidence judged before the bake's time was up does not cover it.
    pub judged_at: crate::release::Timestamp,
    /// One entry per series the bake watches, in the plan's order.
    pub series: Vec<SeriesEvidence>,
}

impl BakeEvidence {
    /// Whether every watched series passes.
    pub fn passes(&self) -> bool {
        self.series.iter().all(|s| s.status == EvidenceStatus::Pass)
    }

    /// Whether no watched series has a single reading: nobody watched the bake.
    pub fn unwatched(&self) -> bool {
        !self.series.is_empty() && self.series.iter().all(|s| s.readings == 0)
    }

    /// The series that do not pass, one line each.
    pub fn unmet(&self) -> Vec<String> {
        self.series
            .iter()
            .filter(|s| s.status != EvidenceStatus::Pass)
            .map(SeriesEvidence::line)
            .collect()
    }
}

/// What a person is told when a bake has no readings at all.
pub const NOBODY_WATCHED: &str =
    "nobody watched this bake; run `flightdeck supervise` or open the cockpit";
