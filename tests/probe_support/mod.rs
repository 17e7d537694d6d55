//! Helpers for the probe, analysis and Prometheus tests: fake servers on 127.0.0.1 (stopped
//! when dropped), a test exporter in the Prometheus text format whose counters the test
//! sets, and an in-memory engine driver that applies automation's decisions.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::Router;
use flightdeck::automation;
use flightdeck::plan::Plan;
use flightdeck::probe::ProbeBoard;
use flightdeck::release::{
    self, Actor, Command, Event, EventRecord, Outcome, Rejection, State, Timestamp,
};

/// An HTTP server on 127.0.0.1 with an OS-chosen port; stopped when dropped.
pub struct Server {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Serves `router` until dropped.
    pub async fn start(router: Router) -> Self {
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url, task }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Buckets of the exporter's latency histogram, in seconds (as the demo fleet has them).
pub const BUCKETS: [f64; 6] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// What the test exporter reports: counters and a latency histogram, set by the test.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// `http_requests_total{code="200"}`
    pub ok: f64,
    /// `http_requests_total{code="500"}`; absent from the page while zero (as client
    /// libraries create a labelled series on its first increment).
    pub errors: f64,
    /// Cumulative bucket counts for `BUCKETS`, then `+Inf`.
    pub buckets: [f64; 7],
    /// `db_pool{state="in_use"}`
    pub in_use: f64,
}

impl Counters {
    /// Records `n` requests of `seconds` each into the histogram.
    pub fn observe(&mut self, seconds: f64, n: f64) {
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                self.buckets[i] += n;
            }
        }
        self.buckets[6] += n;
    }

    /// The page in the text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP http_requests_total Requests served, by status code.\n");
        out.push_str("# TYPE http_requests_total counter\n");
        out.push_str(&format!("http_requests_total{{code=\"200\"}} {}\n", self.ok));
        if self.errors > 0.0 {
            out.push_str(&format!("http_requests_total{{code=\"500\"}} {}\n", self.errors));
        }
        out.push_str("# HELP http_request_duration_seconds Request latency.\n");
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for (le, c) in BUCKETS.iter().zip(self.buckets.iter()) {
            out.push_str(&format!("http_request_duration_seconds_bucket{{le=\"{le}\"}} {c}\n"));
        }
        out.push_str(&format!(
            "http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n",
            self.buckets[6]
        ));
        out.push_str(&format!("http_request_duration_seconds_count {}\n", self.buckets[6]));
        out.push_str("# TYPE db_pool gauge\n");
        out.push_str(&format!("db_pool{{state=\"in_use\"}} {}\n", self.in_use));
        out.push_str("db_pool{state=\"idle\"} 4\n");
        out
    }
}

/// A `/metrics` endpoint serving `counters`.
pub async fn exporter(counters: Arc<Mutex<Counters>>) -> Server {
    let router = Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let counters = counters.clone();
            async move { counters.lock().map(|c| c.render()).unwrap_or_default() }
        }),
    );
    Server::start(router).await
}

/// Parses a plan or panics with its problems.
pub fn plan(text: &str) -> Plan {
    flightdeck::plan::parse(text, "test plan").unwrap_or_else(|e| panic!("{e}"))
}

/// A person.
pub fn alice() -> Actor {
    Actor::person("alice", "testhost", 4242)
}

/// flightdeck deciding by itself.
pub fn auto() -> Actor {
    Actor::automation("alice", "testhost", 4242)
}

/// Seconds since the epoch as a timestamp.
pub fn at(secs: f64) -> Timestamp {
    Timestamp((secs * 1000.0) as i64)
}

/// A release run in memory: the plan, its state and its events.
pub struct Run {
    /// The plan.
    pub plan: Plan,
    /// The fold of `events`.
    pub state: State,
    /// Everything recorded.
    pub events: Vec<EventRecord>,
    /// The readings a cockpit would have stored (what a bake's evidence is judged on).
    pub stored: Vec<flightdeck::store::SampleRow>,
}

impl Run {
    /// A planned release of `plan`.
    pub fn new(plan: Plan) -> Self {
        let state = State::new(&plan);
        Self { plan, state, events: Vec::new(), stored: Vec::new() }
    }

    /// Decides and applies `command`.
    pub fn exec(
        &mut self,
        command: &Command,
        actor: &Actor,
        now: Timestamp,
        expect_seq: Option<u64>,
    ) -> Result<Vec<Event>, Rejection> {
        let events = release::decide(&self.plan, &self.state, command, actor, now, expect_seq)?;
        for (event, seq) in events.iter().cloned().zip(self.state.seq + 1..) {
            let record = EventRecord { seq, at: now, actor: actor.clone(), event };
            release::apply(&mut self.state, &record);
            self.events.push(record);
        }
        Ok(events)
    }

    /// Starts the release of version `1.4.0` replacing `1.3.2`.
    pub fn start(&mut self, now: Timestamp) {
        let start = Command::Start {
            version: "1.4.0".into(),
            previous_version: Some("1.3.2".into()),
            sha: None,
            image: None,
            release_type: flightdeck::plan::ReleaseType::Hotfix,
        };
        self.exec(&start, &alice(), now, None).expect("start");
    }

    /// Reports every action in flight as succeeded (the runner's part, in memory).
    pub fn finish_actions(&mut self, now: Timestamp) {
        loop {
            let Some((step, attempt)) =
                self.state.runs_in_flight().first().map(|(s, r)| ((*s).to_owned(), r.attempt))
            else {
                return;
            };
            let outcome = Outcome::Succeeded {
                exit_code: Some(0),
                output_tail: None,
                outputs: Default::default(),
            };
            let command = Command::RecordOutcome { step, attempt, outcome, duration_ms: 1 };
            self.exec(&command, &auto(), now, None).expect("record outcome");
        }
    }

    /// Applies automation's decisions at `now` until it has none (bounded).
    pub fn automate(&mut self, board: &mut ProbeBoard, now: Timestamp) -> Vec<Event> {
        let mut all = Vec::new();
        for _ in 0..32 {
            board.sync(&self.state);
            let Some(due) = automation::due(&self.plan, &self.state, now, &auto(), |_| true, board)
            else {
                break;
            };
            // As `store::execute` does: a bake is passed on the evidence of the stored readings.
            let command = match due.command {
                Command::PassBake { evidence: None, override_reason, confirmed } => {
                    Command::PassBake {
                        evidence: flightdeck::analysis::bake_evidence(
                            &self.plan,
                            &self.state,
                            &self.stored,
                            now,
                        ),
                        override_reason,
                        confirmed,
                    }
                }
                other => other,
            };
            match self.exec(&command, &auto(), now, due.expect_seq) {
                Ok(events) => all.extend(events),
                Err(e) => panic!("automation's own command was refused: {e} ({command:?})"),
            }
            self.finish_actions(now);
        }
        all
    }

    /// Events of one kind.
    pub fn kinds(&self, kind: &str) -> Vec<&EventRecord> {
        self.events.iter().filter(|r| r.event.kind() == kind).collect()
    }
}
