//! Releases recorded through the real engine and store (`store::start` / `store::execute`) on
//! temp databases, with a clock that only moves when a test says so — so every report built
//! from them is the same bytes on every run. Shared by the report, chain and notify tests.
#![allow(dead_code)]

use std::path::PathBuf;

use flightdeck::plan::{self, Plan, ReleaseType};
use flightdeck::release::{Actor, Breach, Command, EventRecord, Level, Outcome, Timestamp};
use flightdeck::store::{self, SampleKind, SampleRow, Store};

/// The plan every recorded release follows.
pub const PLAN: &str = include_str!("../fixtures/record.toml");

/// 2026-11-22 10:42:11 UTC: every recorded release starts here.
pub const T0: Timestamp = Timestamp(1_795_344_131_000);

/// A person on the bastion.
pub fn person(name: &str) -> Actor {
    Actor::person(name, "bastion-1", 4242)
}

/// flightdeck deciding by itself, in alice's cockpit.
pub fn auto() -> Actor {
    Actor::automation("alice", "bastion-1", 4242)
}

/// One release being recorded.
pub struct Rec {
    /// Keeps the database's directory alive.
    pub dir: tempfile::TempDir,
    /// The database file.
    pub path: PathBuf,
    /// The open store.
    pub store: Store,
    /// The plan.
    pub plan: Plan,
    /// The release id.
    pub id: i64,
    /// Seconds after the release's start the next command is recorded at.
    pub secs: i64,
    /// Seconds after `T0` the release started (0 unless started with [`Rec::start_later`]).
    pub base: i64,
}

/// The time `secs` seconds after `T0`.
pub fn at(secs: i64) -> Timestamp {
    Timestamp(T0.0 + secs * 1000)
}

impl Rec {
    /// Starts a release of the fixture plan at `T0`, by alice.
    pub async fn start(release_type: ReleaseType) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("flightdeck.db");
        let store = Store::open(&path, false).await.expect("open store");
        Self::start_in(dir, path, store, release_type).await
    }

    /// Starts a release in an already open store.
    pub async fn start_in(
        dir: tempfile::TempDir,
        path: PathBuf,
        store: Store,
        release_type: ReleaseType,
    ) -> Self {
        Self::start_later(dir, path, store, release_type, 0).await
    }

    /// Starts a release in an already open store, `base` seconds after `T0`; every time
    /// given to its commands counts from there.
    pub async fn start_later(
        dir: tempfile::TempDir,
        path: PathBuf,
        store: Store,
        release_type: ReleaseType,
        base: i64,
    ) -> Self {
        let plan = plan::parse(PLAN, "record.toml").expect("fixture plan parses");
        let command = Command::Start {
            version: "1.4.0".into(),
            previous_version: Some("1.3.2".into()),
            sha: Some("3f2a1c9".into()),
            image: Some("registry.internal/checkout-api:1.4.0".into()),
            release_type,
        };
        let (id, _) = store::start(
            &store,
            &plan,
            "/srv/deploy/checkout-api/flightdeck.toml",
            PLAN,
            &command,
            &person("alice"),
            at(base),
        )
        .await
        .expect("start");
        Self { dir, path, store, plan, id, secs: 0, base }
    }

    /// Records `command` by `by` at `secs` after `T0`; panics if the engine rejects it.
    pub async fn run(&mut self, secs: i64, by: &Actor, command: Command) -> Vec<EventRecord> {
        self.secs = secs;
        let now = at(self.base + secs);
        let verb = command.verb();
        match store::execute(&self.store, self.id, &command, by, None, || now).await {
            Ok((records, _)) => records,
            Err(e) => panic!("{verb} at +{secs}s was rejected: {e}"),
        }
    }

    /// Records how an action run ended, by the process that ran it.
    pub async fn outcome(
        &mut self,
        secs: i64,
        by: &Actor,
        step: &str,
        exit_code: Option<i32>,
        tail: &str,
        duration_ms: u64,
    ) -> Vec<EventRecord> {
        let output_tail = Some(tail.to_owned()).filter(|t| !t.is_empty());
        let outcome = match exit_code {
            Some(0) | None => {
                Outcome::Succeeded { exit_code, output_tail, outputs: Default::default() }
            }
            Some(code) => Outcome::Failed {
                error: format!("exited with status {code}"),
                exit_code,
                output_tail,
            },
        };
        self.run(
            secs,
            by,
            Command::RecordOutcome { step: step.into(), attempt: 1, outcome, duration_ms },
        )
        .await
    }

    /// Stores one reading per series every `every` seconds from `from` to `until`.
    pub async fn readings(&self, from: i64, until: i64, every: i64, values: &[(&str, f64)]) {
        let mut rows = Vec::new();
        let mut t = from;
        while t < until {
            for (series, value) in values {
                rows.push(SampleRow {
                    series: (*series).into(),
                    kind: SampleKind::Metric,
                    at: at(self.base + t),
                    value: Some(*value),
                    error: None,
                });
            }
            t += every;
        }
        self.store.record_samples(self.id, &rows).await.expect("record samples");
    }

    /// Everything up to the end of the backup: baselines, checklist, gate, backup.
    pub async fn preflight(&mut self) {
        let alice = person("alice");
        for (series, value) in [("error_rate", 0.001), ("p95_latency", 0.18)] {
            self.run(
                5,
                &auto(),
                Command::CaptureBaseline {
                    series: series.into(),
                    value,
                    samples: 60,
                    window_ms: 600_000,
                    from_series: None,
                    from_version: None,
                },
            )
            .await;
        }
        self.run(30, &alice, Command::Tick { item: "ci".into() }).await;
        self.run(35, &alice, Command::Tick { item: "oncall".into() }).await;
        self.run(40, &alice, Command::Next { confirmed: false }).await;
        self.run(120, &person("bob"), Command::Approve).await;
        self.run(150, &person("carol"), Command::Approve).await;
        self.run(155, &alice, Command::Next { confirmed: false }).await;
        self.run(160, &alice, Command::Next { confirmed: false }).await;
        let tail: String =
            (1..=12).map(|i| format!("pg_dump: dumping table {i} of 12\n")).collect();
        self.outcome(294, &alice, "backup", Some(0), &format!("{tail}backup written"), 134_000)
            .await;
    }

    /// The 10% shift and the start of its bake.
    pub async fn canary(&mut self) {
        let alice = person("alice");
        self.run(300, &alice, Command::Next { confirmed: false }).await;
        self.outcome(301, &alice, "shift-10", Some(0), "weight=10", 800).await;
        self.run(305, &alice, Command::Next { confirmed: false }).await;
    }
}

/// A regular release that went all the way, with readings stored along the way.
pub async fn completed() -> Rec {
    let mut r = Rec::start(ReleaseType::Regular).await;
    play_completed(&mut r).await;
    r
}

/// Plays [`completed`]'s release on `r`.
pub async fn play_completed(r: &mut Rec) {
    let alice = person("alice");
    r.readings(0, 300, 60, &[("error_rate", 0.001), ("p95_latency", 0.18)]).await;
    r.preflight().await;
    r.canary().await;
    r.readings(305, 905, 60, &[("error_rate", 0.002), ("p95_latency", 0.21)]).await;
    r.run(
        600,
        &person("carol"),
        Command::Note { text: "dashboards | error budget look fine at 10%".into() },
    )
    .await;
    // The bake passes on the readings stored above (the store judges them).
    r.run(
        905,
        &alice,
        Command::PassBake { evidence: None, override_reason: None, confirmed: false },
    )
    .await;
    r.run(910, &alice, Command::Next { confirmed: true }).await;
    r.outcome(911, &alice, "shift-100", Some(0), "weight=100", 900).await;
    r.readings(911, 1100, 60, &[("error_rate", 0.0015), ("p95_latency", 0.19)]).await;
    r.run(920, &alice, Command::Next { confirmed: false }).await;
    r.outcome(965, &alice, "smoke", Some(0), "checkout ok\ncart ok\n3 passed", 45_000).await;
    r.run(1000, &alice, Command::Tick { item: "dashboards".into() }).await;
    r.run(1005, &alice, Command::Next { confirmed: false }).await;
}

/// A release whose 10% bake breached the error-rate abort threshold: flightdeck rolled it
/// back by itself.
pub async fn rolled_back() -> Rec {
    let mut r = Rec::start(ReleaseType::Regular).await;
    play_rolled_back(&mut r).await;
    r
}

/// Plays [`rolled_back`]'s release on `r`.
pub async fn play_rolled_back(r: &mut Rec) {
    r.readings(0, 300, 60, &[("error_rate", 0.001), ("p95_latency", 0.18)]).await;
    r.preflight().await;
    r.canary().await;
    r.readings(305, 400, 15, &[("error_rate", 0.081), ("p95_latency", 0.2)]).await;
    let breach = Breach {
        series: "error_rate".into(),
        level: Level::Abort,
        value: 0.081,
        threshold: "> 0.02".into(),
        limit: Some(0.02),
        baseline: Some(0.001),
        samples: 6,
        window_ms: 90_000,
    };
    r.run(400, &auto(), Command::RecordBreach { step: "bake-10".into(), breach }).await;
    r.outcome(402, &auto(), "rollback-1-traffic", Some(0), "weight=0", 700).await;
    r.outcome(
        430,
        &auto(),
        "rollback-2-scale_down_green",
        Some(0),
        "deployment.apps/checkout-green scaled",
        27_500,
    )
    .await;
    r.readings(430, 600, 60, &[("error_rate", 0.001), ("p95_latency", 0.18)]).await;
}

/// A hotfix that was abandoned at its go/no-go after a no-go.
pub async fn aborted() -> Rec {
    let mut r = Rec::start(ReleaseType::Hotfix).await;
    let alice = person("alice");
    r.run(30, &alice, Command::Tick { item: "ci".into() }).await;
    r.run(35, &alice, Command::Tick { item: "oncall".into() }).await;
    r.run(40, &alice, Command::Next { confirmed: false }).await;
    r.run(
        100,
        &person("bob"),
        Command::Decline { reason: "the load test is still running".into() },
    )
    .await;
    r.run(200, &alice, Command::Abort { reason: "postponed to Monday: load test failed".into() })
        .await;
    r
}
