//! Judging a series against its thresholds: `analysis::evaluate` over 10,000 samples, and
//! the cockpit's per-reading cost (`MetricRow::record`, which re-judges the row it updates).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use flightdeck::analysis::{Observed, Rules, evaluate};
use flightdeck::plan;
use flightdeck::probe::ProbeBoard;
use flightdeck::release::Timestamp;

const PLAN: &str = include_str!("../config.example.toml");
const SAMPLES: usize = 10_000;

fn bench_analysis(c: &mut Criterion) {
    let plan = plan::parse(PLAN, "config.example.toml").expect("example plan");
    let metric = plan.metrics.first().expect("a metric");
    let rules = Rules::of(metric, false);
    let t0 = 1_795_000_000_000_i64;
    let samples: Vec<(Timestamp, f64)> = (0..SAMPLES)
        .map(|i| {
            let i = i64::try_from(i).unwrap_or(0);
            (Timestamp(t0 + i * 1000), 0.002 + f64::from(u32::try_from(i % 7).unwrap_or(0)) * 1e-4)
        })
        .collect();
    let now = Timestamp(t0 + i64::try_from(SAMPLES).unwrap_or(0) * 1000);
    c.bench_function("evaluate/10k samples", |b| {
        b.iter(|| {
            let observed = Observed { samples: black_box(&samples), no_data_since: None };
            evaluate(&rules, &observed, Some(0.002), now)
        });
    });

    let mut board = ProbeBoard::for_plan(&plan);
    for (at, v) in &samples {
        board.metrics[0].record(*at, Ok(Some(*v)));
    }
    let mut at = now;
    c.bench_function("record/one reading into a full row", |b| {
        b.iter(|| {
            at = Timestamp(at.0 + 1000);
            board.metrics[0].record(at, Ok(Some(black_box(0.0021))));
        });
    });
}

criterion_group!(benches, bench_analysis);
criterion_main!(benches);
