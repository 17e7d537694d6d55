//! Scraping a `/metrics` endpoint (Prometheus text exposition format, parsed by the
//! `prometheus-parse` crate) and computing values between two scrapes, client-side:
//! gauges (sum of the matching samples), counter rates, ratios of counter increases, and
//! histogram quantiles over the bucket increases (interpolated as `histogram_quantile`
//! does). Counter resets are handled: a counter that went down counts from zero again, and
//! a series that appeared between two scrapes counts from zero.
//!
//! Only `fetch` does IO; parsing and computing are pure and tested without a server.

use std::collections::BTreeMap;
use std::time::Duration;

use super::selector::Selector;
use crate::action::http::{describe, read_capped_text};
use crate::plan::ScrapeCompute;
use crate::release::Timestamp;

type Labels = BTreeMap<String, String>;

/// Buckets of one histogram by (base name, labels without `le`).
type LooseBuckets = BTreeMap<(String, Vec<(String, String)>), Vec<(f64, f64)>>;

/// One scalar sample: counter, gauge or untyped.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Metric name.
    pub name: String,
    /// Its labels.
    pub labels: Labels,
    /// Its value.
    pub value: f64,
}

/// One histogram: cumulative bucket counts by upper bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Base name (without `_bucket`).
    pub name: String,
    /// Its labels, without `le`.
    pub labels: Labels,
    /// `(le, cumulative count)`, sorted by `le`.
    pub buckets: Vec<(f64, f64)>,
}

/// Everything one scrape returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Scalar samples.
    pub points: Vec<Point>,
    /// Histograms.
    pub histograms: Vec<Histogram>,
}

fn labels_of(labels: &prometheus_parse::Labels) -> Labels {
    // The parser keeps whatever surrounds `=`; exporters that write `a="1", b="2"` would
    // leave a space in front of `b`.
    labels.iter().map(|(k, v)| (k.trim().to_owned(), v.clone())).collect()
}

impl Snapshot {
    /// Parses text exposition format. Lines the parser does not understand are skipped.
    pub fn parse(text: &str) -> Result<Self, String> {
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scrape = prometheus_parse::Scrape::parse(lines)
            .map_err(|e| format!("unreadable /metrics: {e}"))?;
        let mut snapshot = Snapshot::default();
        // Buckets of histograms without a `# TYPE x histogram` line arrive as plain samples.
        let mut loose: LooseBuckets = BTreeMap::new();
        for sample in scrape.samples {
            let labels = labels_of(&sample.labels);
            match sample.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => {
                    if let (Some(base), Some(le)) =
                        (sample.metric.strip_suffix("_bucket"), labels.get("le"))
                    {
                        if let Ok(le) = parse_float(le) {
                            let mut rest = labels.clone();
                            rest.remove("le");
                            loose
                                .entry((base.to_owned(), rest.into_iter().collect()))
                                .or_default()
                                .push((le, v));
                            continue;
                        }
                    }
                    snapshot.points.push(Point { name: sample.metric, labels, value: v });
                }
                prometheus_parse::Value::Histogram(counts) => {
                    let buckets = counts.iter().map(|c| (c.less_than, c.count)).collect();
                    snapshot.histograms.push(Histogram { name: sample.metric, labels, buckets });
                }
                prometheus_parse::Value::Summary(_) => {}
            }
        }
        for ((name, labels), buckets) in loose {
            snapshot.histograms.push(Histogram {
                name,
                labels: labels.into_iter().collect(),
                buckets,
            });
        }
        for h in &mut snapshot.histograms {
            h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        Ok(snapshot)
    }

    fn selected<'a>(&'a self, sel: &'a Selector) -> impl Iterator<Item = &'a Point> + 'a {
        self.points
            .iter()
            .filter(move |p| sel.matches(&p.name, |k| p.labels.get(k).map(String::as_str)))
    }
}

fn parse_float(text: &str) -> Result<f64, std::num::ParseFloatError> {
    match text.to_ascii_lowercase().as_str() {
        "nan" => Ok(f64::NAN),
        other => other.parse(),
    }
}

/// A scrape and when it was taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Scraped {
    /// When.
    pub at: Timestamp,
    /// What.
    pub snapshot: Snapshot,
}

/// What a compute gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Computed {
    /// A value.
    Value(f64),
    /// Nothing to report, and why (no traffic, no observations).
    NoData(String),
    /// No series matches the selector on a page that was read: the metric's `absent`
    /// value applies when it has one.
    Absent(String),
    /// The first scrape: rates need two.
    Warming,
}

/// A plan's `scrape` compute with its selectors parsed.
#[derive(Debug, Clone)]
pub enum Compiled {
    /// Sum of the matching samples.
    Gauge(Selector),
    /// Per-second increase of the matching counters.
    Rate(Selector),
    /// Increase of the numerator counters over increase of the denominator counters.
    Ratio(Selector, Selector),
    /// Sum of the numerator gauges over sum of the denominator gauges, in this scrape.
    GaugeRatio(Selector, Selector),
    /// Quantile `q` of the matching histograms' increases.
    Quantile(Selector, f64),
}

impl Compiled {
    /// Parses the selectors of a compute.
    pub fn new(compute: &ScrapeCompute) -> Result<Self, String> {
        Ok(match compute {
            ScrapeCompute::Gauge(s) => Self::Gauge(Selector::parse(s)?),
            ScrapeCompute::Rate(s) => Self::Rate(Selector::parse(s)?),
            ScrapeCompute::Ratio { numerator, denominator } => {
                Self::Ratio(Selector::parse(numerator)?, Selector::parse(denominator)?)
            }
            ScrapeCompute::GaugeRatio { numerator, denominator } => {
                Self::GaugeRatio(Selector::parse(numerator)?, Selector::parse(denominator)?)
            }
            ScrapeCompute::Quantile { histogram, q } => {
                Self::Quantile(Selector::parse(histogram)?, *q)
            }
        })
    }

    /// The value between the previous scrape (if any) and this one.
    pub fn compute(&self, prev: Option<&Scraped>, cur: &Scraped) -> Computed {
        if let Self::Gauge(sel) = self {
            let values: Vec<f64> = cur.snapshot.selected(sel).map(|p| p.value).collect();
            if values.is_empty() {
                return Computed::Absent(format!("no series matches `{sel}`"));
            }
            return finite(values.iter().sum());
        }
        if let Self::GaugeRatio(num, den) = self {
            let sum = |sel: &Selector| {
                let values: Vec<f64> = cur.snapshot.selected(sel).map(|p| p.value).collect();
                (!values.is_empty()).then(|| values.iter().sum::<f64>())
            };
            let Some(d) = sum(den) else {
                return Computed::NoData(format!("no series matches `{den}`"));
            };
            let Some(n) = sum(num) else {
                return Computed::NoData(format!("no series matches `{num}`"));
            };
            if d == 0.0 {
                return Computed::NoData(format!("`{den}` is 0"));
            }
            return finite(n / d);
        }
        let Some(prev) = prev else { return Computed::Warming };
        let secs = cur.at.0.saturating_sub(prev.at.0) as f64 / 1000.0;
        if secs <= 0.0 {
            return Computed::Warming;
        }
        match self {
            Self::Gauge(_) | Self::GaugeRatio(..) => Computed::Warming,
            Self::Rate(sel) => match increase(sel, &prev.snapshot, &cur.snapshot) {
                None => Computed::Absent(format!("no series matches `{sel}`")),
                Some(d) => finite(d / secs),
            },
            Self::Ratio(num, den) => {
                let Some(d) = increase(den, &prev.snapshot, &cur.snapshot) else {
                    return Computed::Absent(format!("no series matches `{den}`"));
                };
                if d <= 0.0 {
                    return Computed::NoData(format!("no traffic: `{den}` did not increase"));
                }
                let n = increase(num, &prev.snapshot, &cur.snapshot).unwrap_or(0.0);
                finite(n / d)
            }
            Self::Quantile(sel, q) => {
                let Some(buckets) = bucket_increase(sel, &prev.snapshot, &cur.snapshot) else {
                    return Computed::Absent(format!("no histogram matches `{sel}`"));
                };
                match histogram_quantile(*q, &buckets) {
                    Ok(Some(v)) => finite(v),
                    Ok(None) => Computed::NoData("no observations in the interval".into()),
                    Err(e) => Computed::NoData(e),
                }
            }
        }
    }
}

fn finite(v: f64) -> Computed {
    if v.is_finite() { Computed::Value(v) } else { Computed::NoData("not a number".into()) }
}

/// The summed increase of the selected counters, resets handled; `None` when no series
/// matches in the newer scrape.
fn increase(sel: &Selector, prev: &Snapshot, cur: &Snapshot) -> Option<f64> {
    let before: BTreeMap<(&str, &Labels), f64> =
        prev.selected(sel).map(|p| ((p.name.as_str(), &p.labels), p.value)).collect();
    let mut any = false;
    let mut total = 0.0;
    for p in cur.selected(sel) {
        any = true;
        total += match before.get(&(p.name.as_str(), &p.labels)) {
            Some(old) if p.value >= *old => p.value - old,
            // A reset (the process restarted) or a new series: it counted from zero.
            _ => p.value,
        };
    }
    any.then_some(total)
}

/// The summed bucket increases of the selected histograms, by upper bound.
fn bucket_increase(sel: &Selector, prev: &Snapshot, cur: &Snapshot) -> Option<Vec<(f64, f64)>> {
    let pick = |s: &'_ Snapshot| -> Vec<Histogram> {
        s.histograms
            .iter()
            .filter(|h| sel.matches(&h.name, |k| h.labels.get(k).map(String::as_str)))
            .cloned()
            .collect()
    };
    let (old, new) = (pick(prev), pick(cur));
    if new.is_empty() {
        return None;
    }
    let mut sums: Vec<(f64, f64)> = Vec::new();
    for h in &new {
        let before = old.iter().find(|o| o.name == h.name && o.labels == h.labels);
        let reset = before.is_none_or(|b| {
            h.buckets.iter().any(|(le, c)| {
                b.buckets.iter().find(|(ble, _)| ble == le).is_some_and(|(_, bc)| c < bc)
            })
        });
        for (le, c) in &h.buckets {
            let was = if reset {
                0.0
            } else {
                before
                    .and_then(|b| b.buckets.iter().find(|(ble, _)| ble == le))
                    .map_or(0.0, |(_, bc)| *bc)
            };
            match sums.iter_mut().find(|(sle, _)| sle == le) {
                Some(slot) => slot.1 += c - was,
                None => sums.push((*le, c - was)),
            }
        }
    }
    sums.sort_by(|a, b| a.0.total_cmp(&b.0));
    Some(sums)
}

/// Prometheus' `histogram_quantile` over cumulative `(le, count)` buckets sorted by `le`:
/// linear interpolation within the bucket the rank falls in; the lowest bucket starts at 0;
/// a rank in the `+Inf` bucket gives the highest finite bound. `Ok(None)` when the buckets
/// are empty.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Result<Option<f64>, String> {
    if !(0.0..=1.0).contains(&q) {
        return Err(format!("quantile {q} is not between 0 and 1"));
    }
    let Some(&(last_le, _)) = buckets.last() else {
        return Err("the histogram has no buckets".into());
    };
    if last_le != f64::INFINITY {
        return Err("the histogram has no +Inf bucket".into());
    }
    if buckets.len() < 2 {
        return Err("the histogram has only a +Inf bucket".into());
    }
    // Cumulative counts must not decrease; scrapes taken mid-update can break that.
    let mut fixed: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    let mut max = 0.0f64;
    for &(le, c) in buckets {
        max = max.max(c);
        fixed.push((le, max));
    }
    let total = fixed[fixed.len() - 1].1;
    if total <= 0.0 {
        return Ok(None);
    }
    let mut rank = q * total;
    let b = fixed.iter().position(|(_, c)| *c >= rank).unwrap_or(fixed.len() - 1);
    if b == fixed.len() - 1 {
        return Ok(Some(fixed[fixed.len() - 2].0));
    }
    if b == 0 && fixed[0].0 <= 0.0 {
        return Ok(Some(fixed[0].0));
    }
    let mut start = 0.0;
    let end = fixed[b].0;
    let mut count = fixed[b].1;
    if b > 0 {
        start = fixed[b - 1].0;
        count -= fixed[b - 1].1;
        rank -= fixed[b - 1].1;
    }
    Ok(Some(start + (end - start) * (rank / count)))
}

/// GETs a `/metrics` page, reading no more than `max_body` bytes: `Err` with the reason when
/// it cannot be had.
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    max_body: u64,
) -> Result<String, String> {
    let response = client
        .get(url)
        .header("Accept", "text/plain;version=0.0.4")
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(format!("status {status} from /metrics"));
    }
    read_capped_text(response, max_body, "max_body").await
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",color="green"} 100
http_requests_total{code="500",color="green"} 5
http_requests_total{code="200",color="blue"} 1000
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 10
http_request_duration_seconds_bucket{le="0.1"} 20
http_request_duration_seconds_bucket{le="0.25"} 30
http_request_duration_seconds_bucket{le="+Inf"} 40
http_request_duration_seconds_sum 9.5
http_request_duration_seconds_count 40
# TYPE pool gauge
pool{state="in_use"} 7
pool{state="idle"} 3
"#;

    #[test]
    fn parses_counters_gauges_and_histograms() {
        let s = Snapshot::parse(TEXT).unwrap();
        assert_eq!(s.histograms.len(), 1);
        let h = &s.histograms[0];
        assert_eq!(h.name, "http_request_duration_seconds");
        assert_eq!(h.buckets, vec![(0.05, 10.0), (0.1, 20.0), (0.25, 30.0), (f64::INFINITY, 40.0)]);
        let gauge = Compiled::new(&ScrapeCompute::Gauge("pool".into())).unwrap();
        let cur = Scraped { at: Timestamp(0), snapshot: s };
        assert_eq!(gauge.compute(None, &cur), Computed::Value(10.0));
    }

    #[test]
    fn a_gauge_ratio_divides_current_values_in_one_scrape() {
        let text = "mem_used{pod=\"a\"} 300\nmem_used{pod=\"b\"} 100\nmem_limit{pod=\"a\"} 500\nmem_limit{pod=\"b\"} 500\nzero 0\n";
        let cur = Scraped { at: Timestamp(0), snapshot: Snapshot::parse(text).unwrap() };
        let ratio = |n: &str, d: &str| {
            Compiled::new(&ScrapeCompute::GaugeRatio { numerator: n.into(), denominator: d.into() })
                .unwrap()
        };
        // No previous scrape needed: gauges are read as they are.
        assert_eq!(ratio("mem_used", "mem_limit").compute(None, &cur), Computed::Value(0.4));
        assert_eq!(
            ratio("mem_used{pod=\"a\"}", "mem_limit{pod=\"a\"}").compute(None, &cur),
            Computed::Value(0.6)
        );
        assert_eq!(
            ratio("mem_used", "zero").compute(None, &cur),
            Computed::NoData("`zero` is 0".into())
        );
        assert!(
            matches!(ratio("nope", "mem_limit").compute(None, &cur), Computed::NoData(m) if m.contains("nope"))
        );
    }

    #[test]
    fn untyped_buckets_are_histograms_too() {
        let s = Snapshot::parse("lat_bucket{le=\"1\"} 1\nlat_bucket{le=\"+Inf\"} 2\n").unwrap();
        assert_eq!(s.histograms.len(), 1);
        assert_eq!(s.histograms[0].name, "lat");
    }

    #[test]
    fn quantile_interpolates_like_prometheus() {
        let b = [(0.05, 10.0), (0.1, 20.0), (0.25, 30.0), (f64::INFINITY, 40.0)];
        // rank 20 of 40 falls at the top of the 0.1 bucket.
        assert_eq!(histogram_quantile(0.5, &b).unwrap(), Some(0.1));
        // rank 25: halfway through 0.1..0.25.
        assert!((histogram_quantile(0.625, &b).unwrap().unwrap() - 0.175).abs() < 1e-9);
        // rank 38 is in +Inf: the highest finite bound.
        assert_eq!(histogram_quantile(0.95, &b).unwrap(), Some(0.25));
        // rank 5 in the first bucket interpolates from 0.
        assert!((histogram_quantile(0.125, &b).unwrap().unwrap() - 0.025).abs() < 1e-9);
        assert_eq!(histogram_quantile(0.5, &[(1.0, 0.0), (f64::INFINITY, 0.0)]).unwrap(), None);
        assert!(histogram_quantile(0.5, &[(1.0, 3.0)]).is_err());
    }
}
