//! Cockpit fixtures for view tests: every screen is a real event history, produced by running
//! commands through the engine (`decide` + `apply`) at fixed timestamps, then viewed at a fixed
//! `now`. Nothing is hand-built state, so a fixture cannot show something the engine would
//! never produce.

use flightdeck::plan::{self, Plan, ReleaseType};
use flightdeck::probe::HealthReading;
use flightdeck::release::{
    Actor, Command, EventRecord, Outcome, Resolution, State, Timestamp, apply, decide,
};
use flightdeck::tui::keymap::{Key, Keymap};
use flightdeck::tui::model::{Model, Pane, ReleaseView};
use flightdeck::tui::msg::Msg;
use flightdeck::tui::update::update;

/// When every fixture release starts: 2026-11-18 11:06:40 UTC.
pub const T0: Timestamp = Timestamp(1_795_000_000_000);

/// `T0` plus some seconds.
pub fn at(secs: u64) -> Timestamp {
    T0.plus_millis(secs * 1000)
}

/// Starts the releases.
pub fn alice() -> Actor {
    Actor::person("alice", "bastion-1", 100)
}

/// An approver on another bastion.
pub fn bob() -> Actor {
    Actor::person("bob", "bastion-2", 200)
}

/// A second approver.
pub fn carol() -> Actor {
    Actor::person("carol", "bastion-1", 300)
}

/// Someone watching read-only.
pub fn dave() -> Actor {
    Actor::person("dave", "laptop-7", 400)
}

/// flightdeck deciding by itself in alice's cockpit.
pub fn auto() -> Actor {
    Actor::automation("alice", "bastion-1", 100)
}

/// tests/fixtures/basic.toml: every step kind, one health endpoint, no metrics.
pub fn basic_plan() -> Plan {
    plan::parse(include_str!("../fixtures/basic.toml"), "basic.toml").expect("basic.toml is valid")
}

/// config.example.toml: the rich plan, with staging, health endpoints and metrics.
pub fn rich_plan() -> Plan {
    plan::parse(include_str!("../../config.example.toml"), "config.example.toml")
        .expect("config.example.toml is valid")
}

/// A release's history, built one engine command at a time.
pub struct History {
    /// The plan.
    pub plan: Plan,
    /// The fold of `records`.
    pub state: State,
    /// Every event, seq 1...
    pub records: Vec<EventRecord>,
    /// When the last command was decided.
    pub clock: Timestamp,
}

impl History {
    /// A release of `plan` started by alice at `T0`: version 1.4.0 replacing 1.3.2.
    pub fn started(plan: Plan) -> Self {
        let state = State::new(&plan);
        let mut h = Self { plan, state, records: Vec::new(), clock: T0 };
        h.run(
            0,
            &alice(),
            Command::Start {
                version: "1.4.0".into(),
                previous_version: Some("1.3.2".into()),
                sha: Some("3f2a1c9".into()),
                image: None,
                release_type: ReleaseType::Regular,
            },
        );
        h
    }

    /// Runs `command` by `actor`, `secs` seconds after the previous one; panics on a rejection
    /// (a fixture that the engine refuses is a broken fixture).
    pub fn run(&mut self, secs: u64, actor: &Actor, command: Command) -> &mut Self {
        self.clock = self.clock.plus_millis(secs * 1000);
        let events = decide(&self.plan, &self.state, &command, actor, self.clock, None)
            .unwrap_or_else(|e| panic!("fixture command {command:?} refused: {e}"));
        for event in events {
            let record = EventRecord {
                seq: self.state.seq + 1,
                at: self.clock,
                actor: actor.clone(),
                event,
            };
            apply(&mut self.state, &record);
            self.records.push(record);
        }
        self
    }

    /// Passes the running bake `secs` seconds on, on evidence that every series it watches
    /// passed (what the store hands the engine when the stored readings cover the bake).
    pub fn pass_bake(&mut self, secs: u64, actor: &Actor) -> &mut Self {
        let at = self.clock.plus_millis(secs * 1000);
        let step = self.plan.flat_steps()[self.state.cursor].step;
        let probes = match &step.kind {
            flightdeck::plan::StepKind::Bake { probes, .. } => probes.clone(),
            _ => Vec::new(),
        };
        let evidence = flightdeck::release::BakeEvidence {
            step: step.id.clone(),
            judged_at: at,
            series: probes
                .into_iter()
                .map(|series| flightdeck::release::SeriesEvidence {
                    series,
                    status: flightdeck::release::EvidenceStatus::Pass,
                    readings: 10,
                    detail: "fixture readings".into(),
                })
                .collect(),
        };
        self.run(
            secs,
            actor,
            Command::PassBake { evidence: Some(evidence), override_reason: None, confirmed: false },
        )
    }

    /// Ticks a checklist item.
    pub fn tick(&mut self, secs: u64, actor: &Actor, item: &str) -> &mut Self {
        self.run(secs, actor, Command::Tick { item: item.into() })
    }

    /// `next` (start or finish the current step).
    pub fn next(&mut self, secs: u64, actor: &Actor) -> &mut Self {
        self.run(secs, actor, Command::Next { confirmed: false })
    }

    /// Records that attempt `attempt` of `step` succeeded after `secs` seconds.
    pub fn succeed(&mut self, secs: u64, step: &str, attempt: u32, output: &str) -> &mut Self {
        let actor = self.runner(step);
        self.run(
            secs,
            &actor,
            Command::RecordOutcome {
                step: step.into(),
                attempt,
                outcome: Outcome::Succeeded {
                    exit_code: Some(0),
                    output_tail: Some(output.into()).filter(|o: &String| !o.is_empty()),
                    outputs: Default::default(),
                },
                duration_ms: secs * 1000,
            },
        )
    }

    /// Records that attempt `attempt` of `step` failed after `secs` seconds.
    pub fn fail(
        &mut self,
        secs: u64,
        step: &str,
        attempt: u32,
        error: &str,
        output: &str,
    ) -> &mut Self {
        let actor = self.runner(step);
        self.run(
            secs,
            &actor,
            Command::RecordOutcome {
                step: step.into(),
                attempt,
                outcome: Outcome::Failed {
                    error: error.into(),
                    exit_code: Some(1),
                    output_tail: Some(output.into()),
                },
                duration_ms: secs * 1000,
            },
        )
    }

    /// Whoever started the step's last run reports its outcome (as the action runner does).
    fn runner(&self, step: &str) -> Actor {
        self.state
            .step(step)
            .and_then(|s| s.last_run())
            .map_or_else(alice, |r| r.started.by.clone())
    }

    /// The cockpit on this history at `now`, for `me`.
    pub fn model(&self, me: Actor, read_only: bool, now: Timestamp) -> Model {
        let mut view = ReleaseView {
            id: 7,
            plan: self.plan.clone(),
            state: self.state.clone(),
            timeline: Default::default(),
        };
        view.extend_timeline(&self.records);
        let mut model = Model::new(Some(view), me, read_only, Keymap::default(), now);
        model.db_label = "/home/alice/.local/share/flightdeck/flightdeck.db".into();
        model
    }
}

/// Presses keys through `update`, as a person would.
pub fn press(model: &mut Model, keys: &[Key]) {
    for key in keys {
        update(model, Msg::KeyPressed(*key));
    }
}

/// Types text into an open prompt.
pub fn type_text(model: &mut Model, text: &str) {
    for c in text.chars() {
        update(model, Msg::KeyPressed(Key::Char(c)));
    }
}

// ---------------------------------------------------------------------------------------
// Histories.
// ---------------------------------------------------------------------------------------

/// basic.toml: the pre-deploy checklist ticked and the go/no-go gate open.
fn basic_at_gate() -> History {
    let mut h = History::started(basic_plan());
    h.tick(40, &alice(), "tests").tick(25, &alice(), "oncall").next(5, &alice());
    h
}

/// basic.toml with a 10-minute soak, a 30-minute deadline and a change ticket to type on its
/// gate, open for 4 minutes with bob's approval: the gate's detail counts both down.
pub fn gate_with_deadline() -> Model {
    let text = include_str!("../fixtures/basic.toml").replace(
        "  id = \"go\"\n  kind = \"gate\"\n",
        "  id = \"go\"\n  kind = \"gate\"\n  min_wait = \"10m\"\n  timeout = \"30m\"\n  on_timeout = \"pause\"\n  inputs = [{ id = \"ticket\", prompt = \"Change ticket\", pattern = \"^CHG-[0-9]+$\" }]\n",
    );
    let plan = plan::parse(&text, "basic.toml").expect("basic.toml with a deadline is valid");
    let mut h = History::started(plan);
    h.tick(40, &alice(), "tests").tick(25, &alice(), "oncall").next(5, &alice());
    h.run(60, &bob(), Command::Approve);
    let now = h.clock.plus_millis(180_000);
    h.model(alice(), false, now)
}

/// [`gate_with_deadline`] with the change ticket given by bob.
pub fn gate_with_ticket() -> Model {
    let text = include_str!("../fixtures/basic.toml").replace(
        "  id = \"go\"\n  kind = \"gate\"\n",
        "  id = \"go\"\n  kind = \"gate\"\n  inputs = [{ id = \"ticket\", prompt = \"Change ticket\", pattern = \"^CHG-[0-9]+$\" }]\n",
    );
    let plan = plan::parse(&text, "basic.toml").expect("basic.toml with an input is valid");
    let mut h = History::started(plan);
    h.tick(40, &alice(), "tests").tick(25, &alice(), "oncall").next(5, &alice());
    h.run(60, &bob(), Command::GiveInputs { values: vec![("ticket".into(), "CHG-42".into())] });
    let now = h.clock.plus_millis(30_000);
    h.model(alice(), false, now)
}

/// basic.toml with a daily deny window from 11:10 UTC: the release started before it and
/// runs on at 11:17, past the window's start (which never interrupts it).
pub fn outside_window() -> Model {
    let text = format!(
        "{}\n[[windows]]\nname = \"afternoon freeze\"\nkind = \"deny\"\nfrom = \"11:10\"\n",
        include_str!("../fixtures/basic.toml")
    );
    let plan = plan::parse(&text, "basic.toml").expect("basic.toml with a window is valid");
    let mut h = History::started(plan);
    h.tick(40, &alice(), "tests");
    let now = h.clock.plus_millis(9 * 60_000);
    h.model(alice(), false, now)
}

/// basic.toml: the gate passed, the backup action started by alice (attempt 1, no outcome).
fn basic_backup_started() -> History {
    let mut h = basic_at_gate();
    h.run(60, &bob(), Command::Approve).run(30, &carol(), Command::Approve).next(10, &alice());
    h.next(5, &alice());
    h
}

/// basic.toml: the backup done and 10% of traffic on green; the bake waits.
pub fn basic_at_ten_percent() -> History {
    let mut h = basic_backup_started();
    h.succeed(14, "backup", 1, "backing up 1.4.0\ndone");
    h.next(20, &alice()).succeed(2, "shift-10", 1, "weight=10");
    h
}

/// config.example.toml: staging rehearsed, checklist and gate passed, backup, migrations,
/// green deployed and smoke-tested, 10% shifted, and the first bake started.
fn rich_at_bake() -> History {
    let mut h = History::started(rich_plan());
    h.next(5, &alice()).succeed(
        95,
        "deploy-staging",
        1,
        "deployment.apps/checkout-api-green image updated",
    );
    h.next(10, &alice()).succeed(48, "smoke-staging", 1, "12 passed, 0 failed");
    for item in
        ["ci-green", "changelog", "staging-ok", "migrations-reviewed", "on-call", "no-freeze"]
    {
        h.tick(20, &alice(), item);
    }
    h.next(5, &alice());
    h.run(120, &bob(), Command::Approve).run(90, &carol(), Command::Approve).next(100, &alice());
    h.next(5, &alice()).succeed(212, "backup", 1, "pg_dump: dumped 41 tables");
    h.next(8, &alice()).succeed(37, "migrate", 1, "applied 2 migrations (0042, 0043)");
    h.next(6, &alice()).succeed(
        64,
        "deploy-green",
        1,
        "deployment.apps/checkout-api-green rolled out",
    );
    h.next(9, &alice()).succeed(51, "smoke-green", 1, "12 passed, 0 failed");
    h.next(12, &alice()).succeed(2, "traffic-10", 1, "{\"canary_weight\": 10}");
    h.next(3, &alice());
    h
}

/// Seconds into the first bake shown by the bake fixture: 4m12s.
pub const BAKE_ELAPSED_SECS: u64 = 4 * 60 + 12;

// ---------------------------------------------------------------------------------------
// Fixtures: one cockpit each.
// ---------------------------------------------------------------------------------------

/// Just started: the pre-deploy checklist is current, nothing ticked.
pub fn fresh() -> Model {
    let h = History::started(basic_plan());
    h.model(alice(), false, at(30))
}

/// The rich checklist with 3 of 6 items ticked, the detail pane focused and the fourth item
/// (which has help and a runbook) selected.
pub fn checklist_partial() -> Model {
    let mut h = History::started(rich_plan());
    h.next(5, &alice()).succeed(95, "deploy-staging", 1, "rolled out");
    h.next(10, &alice()).succeed(48, "smoke-staging", 1, "12 passed, 0 failed");
    h.tick(30, &alice(), "ci-green").tick(20, &bob(), "changelog").tick(40, &alice(), "staging-ok");
    let now = h.clock.plus_millis(25_000);
    let mut m = h.model(alice(), false, now);
    press(&mut m, &[Key::Enter, Key::Down, Key::Down, Key::Down]);
    m
}

/// The gate with bob's approval (1 of 2) and carol's NO-GO.
pub fn gate_no_go() -> Model {
    let mut h = basic_at_gate();
    h.run(60, &bob(), Command::Approve);
    h.run(45, &carol(), Command::Decline { reason: "payments team deploys at 14:00".into() });
    let now = h.clock.plus_millis(30_000);
    h.model(alice(), false, now)
}

/// basic.toml with roles at its gate: bob (an engineer) approved, a release manager is
/// still missing.
pub fn gate_with_roles() -> Model {
    let text = include_str!("../fixtures/basic.toml").replacen(
        "kind = \"gate\"",
        "kind = \"gate\"\n  requires = { release_manager = 1, engineer = 1 }",
        1,
    ) + "\n[roles]\nrelease_manager = [\"dave\", \"erin\"]\nengineer = [\"bob\", \"carol\"]\n";
    let plan = plan::parse(&text, "basic.toml").expect("basic.toml with roles is valid");
    let mut h = History::started(plan);
    h.tick(40, &alice(), "tests").tick(25, &alice(), "oncall").next(5, &alice());
    h.run(60, &bob(), Command::Approve);
    let now = h.clock.plus_millis(30_000);
    h.model(alice(), false, now)
}

/// The backup running in this cockpit, with live output; the output pane focused.
pub fn action_running() -> Model {
    let h = basic_backup_started();
    let now = h.clock.plus_millis(7_000);
    let mut m = h.model(alice(), false, now);
    for line in [
        "backing up 1.4.0",
        "pg_dump: reading schemas",
        "pg_dump: reading user-defined tables",
        "pg_dump: dumping contents of table \"public.orders\" (2,418,977 rows)",
    ] {
        m.push_output(line.into());
    }
    m.running_here = true;
    press(&mut m, &[Key::BackTab]);
    m
}

/// The backup failed; its output tail is recorded.
pub fn action_failed() -> Model {
    let mut h = basic_backup_started();
    h.fail(
        9,
        "backup",
        1,
        "exit status 1",
        "backing up 1.4.0\npg_dump: error: connection to server failed: FATAL: password authentication failed",
    );
    let now = h.clock.plus_millis(20_000);
    h.model(alice(), false, now)
}

/// The backup's process went away (bob's cockpit on bastion-2 was killed).
pub fn action_interrupted() -> Model {
    let mut h = basic_at_gate();
    h.run(60, &bob(), Command::Approve).run(30, &carol(), Command::Approve).next(10, &alice());
    h.next(5, &bob());
    h.run(
        40,
        &alice(),
        Command::MarkInterrupted {
            step: "backup".into(),
            attempt: 1,
            reason: "process 200 on bastion-2 is gone".into(),
        },
    );
    let now = h.clock.plus_millis(15_000);
    h.model(alice(), false, now)
}

/// The rich plan's first bake (15m), 4m12s in.
pub fn bake_in_progress() -> Model {
    let h = rich_at_bake();
    h.model(alice(), false, h.clock.plus_millis(BAKE_ELAPSED_SECS * 1000))
}

/// The first bake 4m12s in, as alice sees it: bob claimed the bake a minute in ("watching
/// p95 on green") and alice claimed the 50% shift that follows it.
pub fn claimed() -> Model {
    let mut h = rich_at_bake();
    h.run(
        60,
        &bob(),
        Command::Claim { step: "bake-10".into(), reason: Some("watching p95 on green".into()) },
    );
    h.run(60, &alice(), Command::Claim { step: "traffic-50".into(), reason: None });
    h.model(alice(), false, h.clock.plus_millis((BAKE_ELAPSED_SECS - 120) * 1000))
}

/// The first bake, paused by flightdeck because the load balancer reports 30% where the
/// record says 10% (someone changed it by hand).
pub fn drifted() -> Model {
    let mut h = rich_at_bake();
    h.run(
        90,
        &auto(),
        Command::RecordDrift { desired: 10, actual: 30, source: "get_weight".into() },
    );
    h.model(alice(), false, h.clock.plus_millis(30_000))
}

/// Traffic at 50%: weight history 10% then 50%, the second bake started.
pub fn traffic_50() -> Model {
    let mut h = rich_at_bake();
    // The bake's reviews at T+5m and T+15m are confirmed, so it may pass.
    h.run(5 * 60 + 1, &bob(), Command::ConfirmCheckpoint);
    h.run(10 * 60, &bob(), Command::ConfirmCheckpoint);
    h.pass_bake(3, &auto());
    h.next(30, &alice()).succeed(2, "traffic-50", 1, "{\"canary_weight\": 50}");
    h.next(4, &alice());
    let now = h.clock.plus_millis(95_000);
    h.model(alice(), false, now)
}

/// The traffic history overlay (h) on the 50% release.
pub fn traffic_history() -> Model {
    let mut m = traffic_50();
    press(&mut m, &[Key::Char('h')]);
    m
}

/// Paused by bob at 10% before the bake.
pub fn paused() -> Model {
    let mut h = basic_at_ten_percent();
    h.run(50, &bob(), Command::Pause { reason: "latency spike on green, investigating".into() });
    let now = h.clock.plus_millis(70_000);
    h.model(alice(), false, now)
}

fn basic_rollback_started() -> History {
    let mut h = basic_at_ten_percent();
    h.run(
        40,
        &alice(),
        Command::Rollback {
            reason: "5xx on green at 4%".into(),
            confirmed: true,
            automatic: false,
        },
    );
    h
}

/// Rolling back: traffic step running.
pub fn rolling_back() -> Model {
    let h = basic_rollback_started();
    let now = h.clock.plus_millis(3_000);
    h.model(alice(), false, now)
}

/// Rolled back: traffic on blue, green undeployed.
pub fn rolled_back() -> Model {
    let mut h = basic_rollback_started();
    h.succeed(2, "rollback-1-traffic", 1, "weight=0");
    h.succeed(4, "rollback-2-undeploy", 1, "undeploying 1.4.0");
    let now = h.clock.plus_millis(120_000);
    h.model(alice(), false, now)
}

fn basic_full_shift_failed() -> History {
    let mut h = basic_at_ten_percent();
    h.next(3, &alice()).pass_bake(60, &alice());
    h.run(20, &alice(), Command::Next { confirmed: true });
    h.fail(2, "shift-100", 1, "expected HTTP 200, got 503", "503 Service Unavailable");
    h
}

/// The shift to 100% failed (the balancer said 503); alice looks at it.
pub fn full_shift_failed() -> Model {
    let h = basic_full_shift_failed();
    let now = h.clock.plus_millis(5_000);
    h.model(alice(), false, now)
}

/// The shift to 100% failed and bob paused the release: nothing is retried until it resumes.
pub fn full_shift_failed_paused() -> Model {
    let mut h = basic_full_shift_failed();
    h.run(10, &bob(), Command::Pause { reason: "the balancer is being restarted".into() });
    let now = h.clock.plus_millis(5_000);
    h.model(alice(), false, now)
}

/// Rolled back while the canary bake was watching: the bake is stopped, its clock stands.
pub fn rolled_back_mid_bake() -> Model {
    let mut h = basic_at_ten_percent();
    h.next(3, &alice());
    h.run(
        0,
        &bob(),
        Command::Rollback {
            reason: "5xx on green at 4%".into(),
            confirmed: true,
            automatic: false,
        },
    );
    h.succeed(2, "rollback-1-traffic", 1, "weight=0");
    h.succeed(4, "rollback-2-undeploy", 1, "undeploying 1.4.0");
    let now = h.clock.plus_millis(120_000);
    h.model(alice(), false, now)
}

/// The abort-level breach flightdeck found in the canary bake: everything the banner names.
pub fn canary_breach() -> flightdeck::release::Breach {
    flightdeck::release::Breach {
        series: "error_rate".into(),
        level: flightdeck::release::Level::Abort,
        value: 0.081,
        threshold: "> baseline × 1.5".into(),
        limit: Some(0.006),
        baseline: Some(0.004),
        samples: 12,
        window_ms: 30_000,
    }
}

/// flightdeck rolled back by itself on a breach in the canary bake, and the procedure has
/// finished: the banner still says why, two minutes later, until someone acknowledges it.
pub fn automatic_rollback() -> Model {
    let mut h = basic_at_ten_percent();
    h.next(3, &alice());
    h.run(40, &auto(), Command::RecordBreach { step: "bake-10".into(), breach: canary_breach() });
    h.succeed(2, "rollback-1-traffic", 1, "weight=0");
    h.succeed(4, "rollback-2-undeploy", 1, "undeploying 1.4.0");
    let now = h.clock.plus_millis(120_000);
    h.model(alice(), false, now)
}

/// Every step done.
pub fn completed() -> Model {
    let mut h = basic_at_ten_percent();
    h.next(3, &alice()).pass_bake(60, &alice());
    h.run(20, &alice(), Command::Next { confirmed: true }).succeed(2, "shift-100", 1, "weight=100");
    h.tick(300, &bob(), "dashboards").next(10, &alice());
    let now = h.clock.plus_millis(600_000);
    h.model(alice(), false, now)
}

/// The gate as dave sees it from a read-only cockpit.
pub fn read_only() -> Model {
    let mut h = basic_at_gate();
    h.run(60, &bob(), Command::Approve);
    let now = h.clock.plus_millis(30_000);
    h.model(dave(), true, now)
}

/// The help overlay over a fresh release.
pub fn help() -> Model {
    let mut m = fresh();
    press(&mut m, &[Key::Char('?')]);
    m
}

/// The rollback prompt (R) after the backup failed, with a reason typed.
pub fn rollback_prompt() -> Model {
    let mut m = action_failed();
    press(&mut m, &[Key::Char('R')]);
    type_text(&mut m, "backup cannot reach the database");
    m
}

/// The timeline focused and filtered on "traffic".
pub fn timeline_filtered() -> Model {
    let mut m = traffic_50();
    press(&mut m, &[Key::Tab, Key::Tab, Key::Tab, Key::Tab, Key::Char('/')]);
    type_text(&mut m, "traffic");
    press(&mut m, &[Key::Enter]);
    m
}

/// The bake with probe readings: green up, lb down with a reason, blue not polled; the error
/// rate failing, p95 latency without a baseline, requests unreadable, DB connections passing.
fn with_probes(focus: Pane) -> Model {
    let mut m = bake_in_progress();
    let now = m.now;
    let ago = |secs: u64| Timestamp(now.0 - i64::try_from(secs * 1000).unwrap_or(0));
    update(
        &mut m,
        Msg::HealthChecked {
            index: 1,
            reading: HealthReading {
                at: ago(3),
                status_code: Some(200),
                latency_ms: 38,
                // Written with a `v`, as many services do: the same version as 1.4.0.
                version: Some("v1.4.0".into()),
                checks: vec![("db".into(), "ok".into())],
                error: None,
            },
        },
    );
    for secs in [14, 4] {
        update(
            &mut m,
            Msg::HealthChecked {
                index: 2,
                reading: HealthReading {
                    at: ago(secs),
                    status_code: None,
                    latency_ms: 3000,
                    version: None,
                    checks: Vec::new(),
                    error: Some("connect timeout after 3s".into()),
                },
            },
        );
    }
    // The 5xx ratio climbs past its abort level (> 0.02) for 70s, longer than its `for` (1m).
    let error_rate = [
        0.0011, 0.0012, 0.0010, 0.0013, 0.0012, 0.0011, 0.021, 0.024, 0.026, 0.029, 0.031, 0.034,
        0.036, 0.038,
    ];
    for (i, v) in error_rate.iter().enumerate() {
        let t = ago(10 * (14 - i as u64));
        update(&mut m, Msg::MetricSampled { index: 0, at: t, result: Ok(Some(*v)) });
    }
    // p95 latency has values but an abort level relative to a baseline never captured.
    for (i, v) in [0.212, 0.208, 0.221, 0.219, 0.214, 0.230, 0.226, 0.218].iter().enumerate() {
        let t = ago(10 * (8 - i as u64));
        update(&mut m, Msg::MetricSampled { index: 1, at: t, result: Ok(Some(*v)) });
    }
    // DB connections stay well under their warn level (> 80).
    for (i, v) in [21.0, 22.0, 24.0, 23.0, 26.0, 25.0].iter().enumerate() {
        let t = ago(30 * (6 - i as u64));
        update(&mut m, Msg::MetricSampled { index: 3, at: t, result: Ok(Some(*v)) });
    }
    update(
        &mut m,
        Msg::MetricSampled {
            index: 2,
            at: ago(15),
            result: Err("prometheus.monitoring.internal:9090: connection refused".into()),
        },
    );
    while m.focus != focus {
        press(&mut m, &[Key::Tab]);
    }
    m
}

/// The health pane focused, with readings.
pub fn health() -> Model {
    with_probes(Pane::Health)
}

/// The metrics pane focused, with samples and sparklines.
pub fn metrics() -> Model {
    with_probes(Pane::Metrics)
}

/// No release in the database.
pub fn welcome() -> Model {
    let mut m = Model::new(None, alice(), false, Keymap::default(), T0);
    m.db_label = "/home/alice/.local/share/flightdeck/flightdeck.db".into();
    m
}

/// The marked-succeeded path: the failed backup resolved by hand, then the shift to 10%.
pub fn resolved_by_hand() -> Model {
    let mut h = basic_backup_started();
    h.fail(9, "backup", 1, "exit status 1", "pg_dump: error: timeout");
    h.run(
        60,
        &alice(),
        Command::Resolve {
            resolution: Resolution::Succeeded,
            reason: "dump file present and restorable (checked by hand)".into(),
            confirmed: false,
        },
    );
    let now = h.clock.plus_millis(10_000);
    let mut m = h.model(alice(), false, now);
    press(&mut m, &[Key::Up]);
    m
}

/// Feeds metric `index` one reading per value, `step` seconds apart, the last `last_ago`
/// seconds before the model's `now`.
fn sample(m: &mut Model, index: usize, values: &[f64], step: u64, last_ago: u64) {
    let now = m.now;
    let n = values.len() as u64;
    for (i, v) in values.iter().enumerate() {
        let ago = last_ago + step * (n - 1 - i as u64);
        let at = Timestamp(now.0 - i64::try_from(ago * 1000).unwrap_or(0));
        update(m, Msg::MetricSampled { index, at, result: Ok(Some(*v)) });
    }
}

/// A health check of endpoint `index` `ago` seconds before `now`: a 200, or `error`.
fn check(m: &mut Model, index: usize, ago: u64, error: Option<&str>) {
    let at = Timestamp(m.now.0 - i64::try_from(ago * 1000).unwrap_or(0));
    let reading = HealthReading {
        at,
        status_code: Some(if error.is_some() { 503 } else { 200 }),
        latency_ms: 41,
        version: Some(if index == 0 { "1.3.2" } else { "1.4.0" }.into()),
        checks: Vec::new(),
        error: error.map(str::to_owned),
    };
    update(m, Msg::HealthChecked { index, reading });
}

/// The first bake with the 5xx ratio past its abort level (> 0.02) for 20s of its 1m `for`:
/// counting toward a rollback, not yet one. p95 latency sits just under 0.5 s; green is FLAKY.
pub fn breaching() -> Model {
    let mut m = bake_in_progress();
    check(&mut m, 0, 4, None);
    check(&mut m, 1, 3, Some("status 503, expected 200"));
    check(&mut m, 2, 2, None);
    sample(&mut m, 0, &[0.0011, 0.0012, 0.0010, 0.0013, 0.021, 0.034, 0.085], 10, 0);
    sample(&mut m, 1, &[0.212, 0.3, 0.41, 0.4969], 10, 2);
    sample(&mut m, 2, &[41.0, 43.5, 42.2], 10, 1);
    sample(&mut m, 3, &[21.0, 22.0, 24.0], 10, 5);
    sample(&mut m, 4, &[0.0], 10, 6);
    while m.focus != Pane::Metrics {
        press(&mut m, &[Key::Tab]);
    }
    m
}

/// The first bake with the metrics source gone: the 5xx ratio's last good value is 40s old and
/// the reads since have failed, so it shows STALE, never ✓.
pub fn stale_source() -> Model {
    let mut m = bake_in_progress();
    check(&mut m, 0, 4, None);
    check(&mut m, 1, 3, None);
    check(&mut m, 2, 2, None);
    sample(&mut m, 0, &[0.0011, 0.0012, 0.0010], 10, 40);
    for ago in [30, 20, 10] {
        let at = Timestamp(m.now.0 - ago * 1000);
        let result = Err("prometheus.monitoring.internal:9090: connection refused".to_owned());
        update(&mut m, Msg::MetricSampled { index: 0, at, result });
    }
    sample(&mut m, 3, &[21.0, 22.0, 24.0], 10, 5);
    m
}

/// The first bake breached: flightdeck recorded the 5xx ratio past its abort level for its 1m
/// and rolled back by itself; every rollback step ran (migrations had run, so the restore did too). The ratio has come down since.
pub fn rolled_back_automatically() -> Model {
    let mut h = rich_at_bake();
    let breach = flightdeck::release::Breach {
        series: "error_rate".into(),
        level: flightdeck::release::Level::Abort,
        value: 0.085,
        threshold: "> 0.02".into(),
        limit: Some(0.02),
        baseline: None,
        samples: 7,
        window_ms: 60_000,
    };
    h.run(150, &auto(), Command::RecordBreach { step: "bake-10".into(), breach });
    h.succeed(2, "rollback-1-traffic", 1, "{\"canary_weight\": 0}");
    h.succeed(20, "rollback-2-scale_down_green", 1, "deployment scaled to 0");
    h.succeed(8, "rollback-3-restore_orders_db", 1, "restored orders from the pre-release backup");
    h.succeed(1, "rollback-4-notify_rollback", 1, "");
    let now = h.clock.plus_millis(90_000);
    let mut m = h.model(alice(), false, now);
    sample(&mut m, 0, &[0.085, 0.06, 0.031, 0.004, 0.0012], 10, 3);
    check(&mut m, 0, 4, None);
    check(&mut m, 1, 3, Some("connection refused"));
    m
}

/// The breach fixture drawn in ASCII (as `--ascii` or a non-UTF-8 locale does).
pub fn ascii() -> Model {
    let mut m = breaching();
    m.ascii = true;
    m
}

/// The help overlay over the breach fixture, scrolled down three lines.
pub fn help_scrolled() -> Model {
    let mut m = breaching();
    press(&mut m, &[Key::Char('?'), Key::Char('j'), Key::Char('j'), Key::Char('j')]);
    m
}

/// The backup succeeded and recorded an output (`outputs = { backup_id = "/backup_id" }`), shown in
/// its step's Detail with the step selected.
pub fn action_with_outputs() -> Model {
    let mut h = basic_backup_started();
    let actor = h.runner("backup");
    h.run(
        42,
        &actor,
        Command::RecordOutcome {
            step: "backup".into(),
            attempt: 1,
            outcome: Outcome::Succeeded {
                exit_code: Some(0),
                output_tail: Some(r#"{"backup_id": "bk-7f3a"}"#.into()),
                outputs: [("backup_id".to_owned(), "bk-7f3a".to_owned())].into_iter().collect(),
            },
            duration_ms: 42_000,
        },
    );
    let now = h.clock.plus_millis(10_000);
    let mut m = h.model(alice(), false, now);
    press(&mut m, &[Key::Up]);
    m
}

// ---------------------------------------------------------------------------------------
// Rolling deploys and platform swaps (issue 16).
// ---------------------------------------------------------------------------------------

/// tests/fixtures/cockpit_rolling.toml: a rolling deploy paced at 33% and 67%, progress read
/// as pods, latency and errors judged against their baselines, watched for 24h after.
pub fn rolling_plan() -> Plan {
    plan::parse(include_str!("../fixtures/cockpit_rolling.toml"), "cockpit_rolling.toml")
        .expect("cockpit_rolling.toml is valid")
}

/// tests/fixtures/cockpit_swap.toml: one HTTP call swaps the whole service, then a smoke test
/// and a watch; watched for 24h after.
pub fn swap_plan() -> Plan {
    plan::parse(include_str!("../fixtures/cockpit_swap.toml"), "cockpit_swap.toml")
        .expect("cockpit_swap.toml is valid")
}

/// The go/no-go gate passed (bob and carol approved), 1m40s into the release: the first step
/// that changes production is current.
fn at_first_change(plan: Plan) -> History {
    let mut h = History::started(plan);
    h.run(60, &bob(), Command::Approve).run(30, &carol(), Command::Approve).next(10, &alice());
    h
}

/// flightdeck captures the baseline of every metric the plan judges against one.
fn capture_baselines(h: &mut History, secs: u64) {
    let metrics: Vec<(String, u64)> = h
        .plan
        .metrics
        .iter()
        .filter(|m| m.needs_captured_baseline())
        .map(|m| (m.id.clone(), u64::try_from(m.baseline_window.as_millis()).unwrap_or(0)))
        .collect();
    for (i, (series, window_ms)) in metrics.into_iter().enumerate() {
        let value = if series == "latency" { 182.0 } else { 0.003 };
        h.run(
            if i == 0 { secs } else { 0 },
            &auto(),
            Command::CaptureBaseline {
                series: series.clone(),
                value,
                samples: 30,
                window_ms,
                from_series: Some(series),
                from_version: Some("1.3.2".into()),
            },
        );
    }
}

/// flightdeck records what the deploy step's progress source read.
fn progress(h: &mut History, secs: u64, step: &str, updated: u32, desired: u32) {
    h.run(
        secs,
        &auto(),
        Command::RecordProgress {
            step: step.into(),
            fraction: f64::from(updated) / f64::from(desired),
            updated: Some(updated),
            desired: Some(desired),
        },
    );
}

/// The rolling plan at its first segment, 3m40s into the release: the errors and latency
/// baselines (3m and 5m windows) are not captured yet, 1m20s to go.
pub fn rolling_baseline_wait() -> Model {
    let h = at_first_change(rolling_plan());
    h.model(alice(), false, at(220))
}

/// The rolling plan mid-rollout: the 33% segment rolled 1 of 3 pods and its watch passed;
/// the 67% segment runs with 2 of 3 pods updated.
pub fn rolling_mid_rollout() -> Model {
    let mut h = at_first_change(rolling_plan());
    capture_baselines(&mut h, 200);
    h.run(5, &alice(), Command::Next { confirmed: true });
    progress(&mut h, 20, "roll-33", 1, 3);
    h.succeed(15, "roll-33", 1, "deployment.apps/shop image updated");
    h.pass_bake(125, &auto());
    h.run(10, &alice(), Command::Next { confirmed: true });
    progress(&mut h, 25, "roll-67", 2, 3);
    let now = h.clock.plus_millis(8_000);
    h.model(alice(), false, now)
}

/// The rolling plan with both paced segments and their watches done: the last segment (to
/// 100%) is current.
pub fn rolling_at_last_segment() -> Model {
    let mut h = at_first_change(rolling_plan());
    capture_baselines(&mut h, 200);
    h.run(5, &alice(), Command::Next { confirmed: true });
    h.succeed(35, "roll-33", 1, "deployment.apps/shop image updated");
    h.pass_bake(125, &auto());
    h.run(10, &alice(), Command::Next { confirmed: true });
    h.succeed(30, "roll-67", 1, "deployment.apps/shop resumed");
    h.pass_bake(125, &auto());
    let now = h.clock.plus_millis(6_000);
    h.model(alice(), false, now)
}

/// The rolling plan at its first segment (to 33%), its baselines captured.
pub fn rolling_at_first_segment() -> Model {
    let mut h = at_first_change(rolling_plan());
    capture_baselines(&mut h, 200);
    let now = h.clock.plus_millis(5_000);
    h.model(alice(), false, now)
}

/// The rolling plan's first segment started 4s ago, before its progress source said anything.
pub fn rolling_started() -> Model {
    let mut h = at_first_change(rolling_plan());
    capture_baselines(&mut h, 200);
    h.run(5, &alice(), Command::Next { confirmed: true });
    let now = h.clock.plus_millis(4_000);
    h.model(alice(), false, now)
}

/// The swap plan at its deploy step, its baseline captured: 1.3.2 serves.
pub fn swap_at_deploy() -> Model {
    let mut h = at_first_change(swap_plan());
    capture_baselines(&mut h, 200);
    let now = h.clock.plus_millis(5_000);
    h.model(alice(), false, now)
}

/// The swap plan whose swap call failed (the platform answered 502): it waits for a person.
pub fn swap_failed() -> Model {
    let mut h = at_first_change(swap_plan());
    capture_baselines(&mut h, 200);
    h.run(5, &alice(), Command::Next { confirmed: true });
    h.fail(30, "swap", 1, "HTTP 502 Bad Gateway", "upstream unavailable");
    let now = h.clock.plus_millis(10_000);
    h.model(alice(), false, now)
}

/// The rolling plan mid-rollout (2 of 3 pods updated), rolled back by alice 30s ago.
pub fn rolling_rolled_back() -> Model {
    let mut h = at_first_change(rolling_plan());
    capture_baselines(&mut h, 200);
    h.run(5, &alice(), Command::Next { confirmed: true });
    h.succeed(35, "roll-33", 1, "deployment.apps/shop image updated");
    h.pass_bake(125, &auto());
    h.run(10, &alice(), Command::Next { confirmed: true });
    progress(&mut h, 25, "roll-67", 2, 3);
    h.run(
        20,
        &alice(),
        Command::Rollback {
            reason: "p95 doubled on the new pods".into(),
            confirmed: true,
            automatic: false,
        },
    );
    let now = h.clock.plus_millis(30_000);
    h.model(alice(), false, now)
}

/// The swap plan with the swap's HTTP call under way for 40s.
pub fn swapping() -> Model {
    let mut h = at_first_change(swap_plan());
    capture_baselines(&mut h, 200);
    h.run(5, &alice(), Command::Next { confirmed: true });
    let now = h.clock.plus_millis(40_000);
    h.model(alice(), false, now)
}

/// The swap plan after the swap: the deploy returned after 95s, the smoke test passed, the
/// watch is 3m in.
pub fn swap_done() -> Model {
    let mut h = at_first_change(swap_plan());
    capture_baselines(&mut h, 200);
    h.run(5, &alice(), Command::Next { confirmed: true });
    h.succeed(95, "swap", 1, "{\"id\": \"dep-7f3a\", \"status\": \"live\"}");
    h.next(10, &alice()).succeed(6, "smoke", 1, "ok");
    h.next(4, &alice());
    let now = h.clock.plus_millis(180_000);
    h.model(alice(), false, now)
}

/// The swap plan completed (its watch passed) 48 minutes ago: watched 23h12m more.
pub fn completed_watching() -> Model {
    let mut h = at_first_change(swap_plan());
    capture_baselines(&mut h, 200);
    h.run(5, &alice(), Command::Next { confirmed: true });
    h.succeed(95, "swap", 1, "{\"id\": \"dep-7f3a\", \"status\": \"live\"}");
    h.next(10, &alice()).succeed(6, "smoke", 1, "ok");
    h.next(4, &alice()).pass_bake(600, &auto());
    let now = h.clock.plus_millis(48 * 60_000);
    h.model(alice(), false, now)
}

/// Every fixture with a release or without, by snapshot name.
pub fn all() -> Vec<(&'static str, Model)> {
    vec![
        ("fresh", fresh()),
        ("checklist_partial", checklist_partial()),
        ("gate_no_go", gate_no_go()),
        ("action_running", action_running()),
        ("action_failed", action_failed()),
        ("action_interrupted", action_interrupted()),
        ("bake_in_progress", bake_in_progress()),
        ("traffic_50", traffic_50()),
        ("traffic_history", traffic_history()),
        ("paused", paused()),
        ("rolling_back", rolling_back()),
        ("rolled_back", rolled_back()),
        ("automatic_rollback", automatic_rollback()),
        ("completed", completed()),
        ("read_only", read_only()),
        ("help", help()),
        ("rollback_prompt", rollback_prompt()),
        ("timeline_filtered", timeline_filtered()),
        ("health", health()),
        ("metrics", metrics()),
        ("resolved_by_hand", resolved_by_hand()),
        ("claimed", claimed()),
        ("breaching", breaching()),
        ("stale_source", stale_source()),
        ("rolled_back_automatically", rolled_back_automatically()),
        ("ascii", ascii()),
        ("welcome", welcome()),
        ("rolling_baseline_wait", rolling_baseline_wait()),
        ("rolling_mid_rollout", rolling_mid_rollout()),
        ("swapping", swapping()),
        ("swap_done", swap_done()),
        ("completed_watching", completed_watching()),
    ]
}
