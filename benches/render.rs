//! Rendering the full cockpit into a TestBackend at 120×40 and 250×80 with 100, 10,000 and
//! 100,000 events in the history: the cost must stay flat as history grows.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use flightdeck::plan;
use flightdeck::release::{Actor, Command, EventRecord, State, Timestamp, apply, decide};
use flightdeck::tui::keymap::Keymap;
use flightdeck::tui::model::{Model, ReleaseView};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const PLAN: &str = include_str!("../config.example.toml");

/// A release of the example plan with `n` events: started, then notes.
fn release_with(n: usize) -> ReleaseView {
    let plan = plan::parse(PLAN, "config.example.toml").expect("example plan");
    let alice = Actor::person("alice", "bastion-1", 100);
    let mut state = State::new(&plan);
    let mut records = Vec::with_capacity(n);
    let start = Command::Start {
        version: "1.4.0".into(),
        previous_version: Some("1.3.2".into()),
        sha: Some("3f2a1c9".into()),
        image: None,
        release_type: plan::ReleaseType::Regular,
    };
    let mut at = Timestamp(1_795_000_000_000);
    let mut command = start;
    while records.len() < n {
        let events = decide(&plan, &state, &command, &alice, at, None).expect("decide");
        for event in events {
            let record = EventRecord { seq: state.seq + 1, at, actor: alice.clone(), event };
            apply(&mut state, &record);
            records.push(record);
        }
        at = Timestamp(at.0 + 1000);
        command = Command::Note { text: format!("note {} about the canary", records.len()) };
    }
    let mut view = ReleaseView { id: 1, plan, state, timeline: Default::default() };
    view.extend_timeline(&records);
    view
}

fn bench_render(c: &mut Criterion) {
    let mut group = c.benchmark_group("render");
    for events in [100, 10_000, 100_000] {
        let view = release_with(events);
        let now = Timestamp(view.state.last.as_ref().map_or(0, |l| l.at.0) + 5000);
        let model = Model::new(
            Some(view),
            Actor::person("alice", "bastion-1", 100),
            false,
            Keymap::default(),
            now,
        );
        for (w, h) in [(120u16, 40u16), (250, 80)] {
            let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
            group.bench_with_input(
                BenchmarkId::new(format!("{w}x{h}"), events),
                &model,
                |b, model| {
                    b.iter(|| {
                        terminal
                            .draw(|f| flightdeck::tui::view::render(f, black_box(model)))
                            .expect("draw");
                    });
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
