//! A harness for the pure release engine: a plan, the state folded from the records so far,
//! and a clock that only moves when a test moves it. Commands are decided with
//! `expect_seq = None`; accepted events are numbered after the last record, stamped with the
//! harness clock and the actor, applied and kept.

use std::fmt::Debug;
use std::time::Duration;

use flightdeck::plan::{self, Plan, ReleaseType};
use flightdeck::release::{
    Actor, Command, Event, EventRecord, Outcome, Rejection, Resolution, State, StepState,
    Timestamp, apply, decide,
};

/// The fixture plan with every step kind (`tests/fixtures/basic.toml`).
pub const BASIC: &str = include_str!("../fixtures/basic.toml");

/// 2026-11-22 10:42:11 UTC: the harness clock starts here.
pub const T0: Timestamp = Timestamp(1_795_344_131_000);

/// Parses plan text, panicking with the plan's problems.
pub fn plan_from(text: &str) -> Plan {
    plan::parse(text, "test.toml").unwrap_or_else(|e| panic!("the test plan does not parse:\n{e}"))
}

/// A person on the shared bastion.
pub fn actor(name: &str) -> Actor {
    Actor::person(name, "bastion-1", 4242)
}

/// One release of one plan, driven command by command.
pub struct Harness {
    /// The plan.
    pub plan: Plan,
    /// The state folded from `records`.
    pub state: State,
    /// Every event recorded so far.
    pub records: Vec<EventRecord>,
    /// The clock used for the next command.
    pub now: Timestamp,
}

impl Harness {
    /// A release of `plan` that has not started.
    pub fn new(plan: Plan) -> Self {
        let state = State::new(&plan);
        Self { plan, state, records: Vec::new(), now: T0 }
    }

    /// A release of the plan in `text`.
    pub fn from_toml(text: &str) -> Self {
        Self::new(plan_from(text))
    }

    /// A release of the fixture plan.
    pub fn basic() -> Self {
        Self::from_toml(BASIC)
    }

    /// Decides `command` by `by` now; on acceptance records and applies the events.
    pub fn run(&mut self, command: Command, by: &Actor) -> Result<Vec<Event>, Rejection> {
        self.run_expecting(command, by, None)
    }

    /// Like [`Harness::run`], with the sequence number the issuer saw.
    pub fn run_expecting(
        &mut self,
        command: Command,
        by: &Actor,
        expect_seq: Option<u64>,
    ) -> Result<Vec<Event>, Rejection> {
        let events = decide(&self.plan, &self.state, &command, by, self.now, expect_seq)?;
        for (event, seq) in events.iter().zip(self.state.seq + 1..) {
            let record = EventRecord { seq, at: self.now, actor: by.clone(), event: event.clone() };
            apply(&mut self.state, &record);
            self.records.push(record);
        }
        Ok(events)
    }

    /// Runs a command that must be accepted.
    #[track_caller]
    pub fn ok(&mut self, command: Command, by: &Actor) -> Vec<Event> {
        let shown = format!("{command:?}");
        self.run(command, by)
            .unwrap_or_else(|r| panic!("{shown} by {} was rejected: {}", by.name, r.message))
    }

    /// Runs a command that must be rejected, and checks that it changed nothing.
    #[track_caller]
    pub fn err(&mut self, command: Command, by: &Actor) -> Rejection {
        let before = self.state.clone();
        let shown = format!("{command:?}");
        match self.run(command, by) {
            Ok(events) => panic!("{shown} by {} was accepted: {events:#?}", by.name),
            Err(r) => {
                assert_eq!(self.state, before, "a rejection changed the state");
                assert!(!r.message.trim().is_empty(), "a rejection without words");
                r
            }
        }
    }

    /// Moves the clock on.
    pub fn advance(&mut self, by: Duration) {
        self.now = self.now.plus_millis(u64::try_from(by.as_millis()).unwrap_or(u64::MAX));
    }

    /// Moves the clock on by whole seconds.
    pub fn advance_secs(&mut self, secs: u64) {
        self.advance(Duration::from_secs(secs));
    }

    /// A step's state (rollout or rollback), panicking if there is none.
    #[track_caller]
    pub fn step(&self, id: &str) -> &StepState {
        self.state.step(id).unwrap_or_else(|| panic!("no step `{id}` in the state"))
    }

    /// The id of the current step.
    #[track_caller]
    pub fn current_id(&self) -> &str {
        &self.state.current().expect("every step is done").id
    }

    /// Passes the running bake on evidence that every series it watches passed, judged now
    /// (what `store::execute` hands `decide` when the stored readings cover the bake).
    pub fn pass_bake(&self) -> Command {
        Command::PassBake {
            evidence: Some(self.passing_evidence()),
            override_reason: None,
            confirmed: false,
        }
    }

    /// Evidence that every series the current bake watches passed, judged now.
    pub fn passing_evidence(&self) -> flightdeck::release::BakeEvidence {
        let step = self.plan.flat_steps()[self.state.cursor].step;
        let probes = match &step.kind {
            plan::StepKind::Bake { probes, .. } => probes.clone(),
            _ => Vec::new(),
        };
        flightdeck::release::BakeEvidence {
            step: step.id.clone(),
            judged_at: self.now,
            series: probes
                .into_iter()
                .map(|series| flightdeck::release::SeriesEvidence {
                    series,
                    status: flightdeck::release::EvidenceStatus::Pass,
                    readings: 10,
                    detail: "test readings".into(),
                })
                .collect(),
        }
    }

    /// The events recorded since record number `len` (an earlier `records.len()`).
    pub fn events_since(&self, len: usize) -> Vec<Event> {
        self.records[len..].iter().map(|r| r.event.clone()).collect()
    }
}

/// Asserts equality, showing both sides pretty-printed and the first differing line.
#[track_caller]
pub fn same<T: PartialEq + Debug>(got: &T, want: &T) {
    if got == want {
        return;
    }
    let got_text = format!("{got:#?}");
    let want_text = format!("{want:#?}");
    let first = got_text
        .lines()
        .zip(want_text.lines())
        .position(|(g, w)| g != w)
        .unwrap_or_else(|| got_text.lines().count().min(want_text.lines().count()));
    panic!(
        "values differ (first at line {}):\n--- got\n{got_text}\n--- want\n{want_text}",
        first + 1
    );
}

/// Asserts that a rejection's message contains every fragment.
#[track_caller]
pub fn says(rejection: &Rejection, fragments: &[&str]) {
    for f in fragments {
        assert!(
            rejection.message.contains(f),
            "the rejection {:?} does not say {f:?}",
            rejection.message
        );
    }
}

/// `Start` of `version` as a release of `release_type`.
pub fn start_as(version: &str, release_type: ReleaseType) -> Command {
    Command::Start {
        version: version.into(),
        previous_version: Some("1.4.1".into()),
        sha: Some("abc1234".into()),
        image: None,
        release_type,
    }
}

/// `Start` of 1.4.2 as a regular release.
pub fn start() -> Command {
    start_as("1.4.2", ReleaseType::Regular)
}

/// `Next` without confirmation.
pub fn next() -> Command {
    Command::Next { confirmed: false }
}

/// `Next`, confirmed.
pub fn next_confirmed() -> Command {
    Command::Next { confirmed: true }
}

/// `Tick` of an item.
pub fn tick(item: &str) -> Command {
    Command::Tick { item: item.into() }
}

/// `Untick` of an item.
pub fn untick(item: &str) -> Command {
    Command::Untick { item: item.into() }
}

/// `Decline` with a reason.
pub fn decline(reason: &str) -> Command {
    Command::Decline { reason: reason.into() }
}

/// `Pause` with a reason.
pub fn pause(reason: &str) -> Command {
    Command::Pause { reason: reason.into() }
}

/// A confirmed, manual `Rollback`.
pub fn rollback(reason: &str) -> Command {
    Command::Rollback { reason: reason.into(), confirmed: true, automatic: false }
}

/// `Abort` with a reason.
pub fn abort(reason: &str) -> Command {
    Command::Abort { reason: reason.into() }
}

/// `Note` with text.
pub fn note(text: &str) -> Command {
    Command::Note { text: text.into() }
}

/// `Resolve` with a reason (no typed confirmation).
pub fn resolve(resolution: Resolution, reason: &str) -> Command {
    Command::Resolve { resolution, reason: reason.into(), confirmed: false }
}

/// A successful outcome with exit code 0.
pub fn success() -> Outcome {
    Outcome::Succeeded {
        exit_code: Some(0),
        output_tail: Some("done".into()),
        outputs: Default::default(),
    }
}

/// A failed outcome with exit code 1.
pub fn failure(error: &str) -> Outcome {
    Outcome::Failed { error: error.into(), exit_code: Some(1), output_tail: None }
}

/// `RecordOutcome` of a run, taking 1.5 s.
pub fn record(step: &str, attempt: u32, outcome: Outcome) -> Command {
    Command::RecordOutcome { step: step.into(), attempt, outcome, duration_ms: 1500 }
}

/// `MarkInterrupted` of a run.
pub fn interrupted(step: &str, attempt: u32) -> Command {
    Command::MarkInterrupted { step: step.into(), attempt, reason: "process 4242 is gone".into() }
}
