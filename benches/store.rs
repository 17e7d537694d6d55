//! The store's costs: folding 100,000 events in memory, opening a release of 100,000 events
//! from SQLite (snapshot plus tail), and appending one event through `execute`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use flightdeck::plan;
use flightdeck::release::{Actor, Command, EventRecord, State, Timestamp, apply, decide};
use flightdeck::store::{self, Store};

const PLAN: &str = include_str!("../config.example.toml");
const EVENTS: usize = 100_000;

fn history(plan: &plan::Plan, n: usize) -> (State, Vec<EventRecord>) {
    let alice = Actor::person("alice", "bastion-1", 100);
    let mut state = State::new(plan);
    let mut records = Vec::with_capacity(n);
    let mut command = Command::Start {
        version: "1.4.0".into(),
        previous_version: None,
        sha: None,
        image: None,
        release_type: plan::ReleaseType::Regular,
    };
    let mut at = Timestamp(1_795_000_000_000);
    while records.len() < n {
        for event in decide(plan, &state, &command, &alice, at, None).expect("decide") {
            let record = EventRecord { seq: state.seq + 1, at, actor: alice.clone(), event };
            apply(&mut state, &record);
            records.push(record);
        }
        at = Timestamp(at.0 + 1000);
        command = Command::Note { text: format!("note {}", records.len()) };
    }
    (state, records)
}

fn bench_store(c: &mut Criterion) {
    let plan = plan::parse(PLAN, "config.example.toml").expect("example plan");
    let (_, records) = history(&plan, EVENTS);
    c.bench_function("fold/100k events in memory", |b| {
        b.iter(|| State::replay(&plan, black_box(&records)));
    });

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let (store, id) = rt.block_on(async {
        let store = Store::open(&path, false).await.expect("open");
        let id = store.create_release("bench", PLAN, &records[..1]).await.expect("create");
        let mut state = State::replay(&plan, &records[..1]);
        for chunk in records[1..].chunks(1000) {
            let expected = state.seq;
            for r in chunk {
                apply(&mut state, r);
            }
            store.append(id, expected, chunk, &state).await.expect("append");
        }
        (store, id)
    });
    c.bench_function("open/100k-event release from SQLite", |b| {
        b.iter(|| rt.block_on(store.load(black_box(id))).expect("load"));
    });
    c.bench_function("open/cockpit view of a 100k-event release", |b| {
        b.iter(|| {
            rt.block_on(flightdeck::tui::app::load_view(&store, black_box(id))).expect("view")
        });
    });
    let bob = Actor::person("bob", "bastion-2", 200);
    let mut n = 0u64;
    c.bench_function("append/one note through execute", |b| {
        b.iter(|| {
            n += 1;
            let command = Command::Note { text: format!("bench note {n}") };
            rt.block_on(store::execute(&store, id, &command, &bob, None, || {
                Timestamp(1_796_000_000_000)
            }))
            .expect("execute");
        });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench_store
}
criterion_main!(benches);
