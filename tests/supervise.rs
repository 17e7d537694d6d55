//! Supervision with no screen (issue 11): `flightdeck supervise` rolls a failing canary back
//! by itself with no cockpit open, and restarted it does nothing twice; a rollback preempts a
//! long command action (its process group is gone, the provider hears 0 at once); the weight
//! is read back after every shift and between shifts, and a drift pauses the release,
//! whether the read-back is an HTTP call or a command.
//!
//! The fleet is a load balancer and a canary `/metrics` served in-process on 127.0.0.1:0.
//! Every process a test starts is stopped by it; waits are bounded polls, never timings.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use support::cli::{Deck, Running, kinds};
use support::postgres::{PgServer, server_or_skip};
use support::pty::now;

/// A deck on SQLite, or on a fresh database of a private PostgreSQL server (kept alive with it).
fn sqlite() -> (Deck, Option<PgServer>) {
    (Deck::new(), None)
}

fn postgres(test: &str) -> Option<(Deck, Option<PgServer>)> {
    let server = server_or_skip(test)?;
    let url = server.create_database("flightdeck");
    Some((Deck::on(&url), Some(server)))
}

/// Declares `$name::sqlite` and `$name::postgres`, each running `$scenario(&Deck)`.
macro_rules! on_both_backends {
    ($name:ident, $scenario:ident) => {
        mod $name {
            #[test]
            fn sqlite() {
                let (deck, _server) = super::sqlite();
                super::$scenario(&deck);
            }

            #[test]
            fn postgres() {
                if let Some((deck, _server)) =
                    super::postgres(concat!(stringify!($name), "::postgres"))
                {
                    super::$scenario(&deck);
                }
            }
        }
    };
}

on_both_backends!(supervise_alone_rolls_back_once, supervise_rolls_back_a_failing_canary);
on_both_backends!(rollback_preempts, a_rollback_cancels_a_long_command_action);

/// Weight sentinel meaning "report what was set".
const HONEST: u32 = u32::MAX;

/// A fake fleet: a load balancer that records every weight it is told, and a canary whose
/// error counter climbs while `failing` is set.
#[derive(Clone, Default)]
struct Fleet {
    weight: Arc<AtomicU32>,
    /// What `GET /weight` reports instead of the real weight (`HONEST`: the real one).
    reported: Arc<AtomicU32>,
    /// Every weight set, in order.
    sets: Arc<Mutex<Vec<u32>>>,
    /// Whether the set endpoint ignores what it is told (a provider that does not apply it).
    deaf: Arc<AtomicBool>,
    failing: Arc<AtomicBool>,
    requests: Arc<AtomicU32>,
    errors: Arc<AtomicU32>,
}

struct Served {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Fleet {
    fn new() -> Self {
        let fleet = Self::default();
        fleet.reported.store(HONEST, Ordering::SeqCst);
        fleet
    }

    /// Serves `/weight` (GET and POST) and `/metrics` on 127.0.0.1:0 until dropped; traffic
    /// is counted on each scrape (10 requests, 2 of them errors while failing).
    fn serve(&self) -> Served {
        use axum::routing::get;
        let fleet = self.clone();
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let f1 = fleet.clone();
                let f2 = fleet.clone();
                let f3 = fleet.clone();
                let app = axum::Router::new()
                    .route(
                        "/weight",
                        get(move || {
                            let f = f1.clone();
                            async move {
                                let reported = f.reported.load(Ordering::SeqCst);
                                let w = if reported == HONEST {
                                    f.weight.load(Ordering::SeqCst)
                                } else {
                                    reported
                                };
                                axum::Json(serde_json::json!({ "weight": w }))
                            }
                        })
                        .post(move |axum::Json(body): axum::Json<Value>| {
                            let f = f2.clone();
                            async move {
                                let w = body["weight"]
                                    .as_u64()
                                    .or_else(|| body["weight"].as_str()?.parse().ok())
                                    .unwrap_or(999);
                                let w = u32::try_from(w).unwrap_or(999);
                                f.sets.lock().expect("sets").push(w);
                                if !f.deaf.load(Ordering::SeqCst) {
                                    f.weight.store(w, Ordering::SeqCst);
                                }
                                "ok"
                            }
                        }),
                    )
                    .route(
                        "/metrics",
                        get(move || {
                            let f = f3.clone();
                            async move {
                                let total = f.requests.fetch_add(10, Ordering::SeqCst) + 10;
                                if f.failing.load(Ordering::SeqCst) {
                                    f.errors.fetch_add(2, Ordering::SeqCst);
                                }
                                let errors = f.errors.load(Ordering::SeqCst);
                                format!(
                                    "# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {}\nhttp_requests_total{{code=\"500\"}} {errors}\n",
                                    total - errors
                                )
                            }
                        }),
                    );
                let listener =
                    tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
                let addr = listener.local_addr().expect("addr");
                url_tx.send(format!("http://{addr}")).expect("send url");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        });
        let url = url_rx.recv_timeout(Duration::from_secs(30)).expect("fleet started");
        Served { url, stop: Some(stop_tx), thread: Some(thread) }
    }

    fn sets(&self) -> Vec<u32> {
        self.sets.lock().expect("sets").clone()
    }
}

/// The plan: shift to 10%, a smoke test (`smoke` argv), a long bake watching the canary's
/// error ratio (abort above 5% for 2 s, then roll back), then 100%. `read` picks the
/// read-back action (`get_weight` over HTTP, `read_file` a command).
fn plan(deck: &Deck, lb: &str, smoke: &str, read: &str, extra_traffic: &str) -> PathBuf {
    let weight_file = deck.dir.path().join("weight");
    deck.write(
        "plan.toml",
        &format!(
            r#"[service]
name = "checkout-api"
environment = "production"

[[metrics]]
id = "error_rate"
name = "canary 5xx"
interval = "1s"
scrape = {{ url = "{lb}/metrics", ratio = {{ numerator = 'http_requests_total{{code=~"5.."}}', denominator = "http_requests_total" }} }}
abort = "> 0.05"
for = "2s"
no_data = "ignore"

[actions.set_weight]
kind = "http"
method = "POST"
url = "{lb}/weight"
body = {{ weight = "{{weight}}" }}
timeout = "3s"

[actions.get_weight]
kind = "http"
method = "GET"
url = "{lb}/weight"
weight_pointer = "/weight"
idempotent = true
timeout = "2s"

[actions.read_file]
kind = "command"
argv = ["cat", "{weight_file}"]
timeout = "2s"

[actions.smoke]
kind = "command"
argv = ["sh", "-c", "{smoke}"]
timeout = "10m"

[traffic]
set = "set_weight"
read = "{read}"
check_every = "1s"
{extra_traffic}

[rollback]
steps = []

[[stages]]
id = "canary"
name = "Canary"

  [[stages.steps]]
  id = "shift-10"
  kind = "traffic"
  weight = 10

  [[stages.steps]]
  id = "smoke"
  kind = "action"
  action = "smoke"

  [[stages.steps]]
  id = "bake-10"
  kind = "bake"
  duration = "10m"
  probes = ["error_rate"]
  on_breach = "rollback"

  [[stages.steps]]
  id = "shift-100"
  kind = "traffic"
  weight = 100
"#,
            weight_file = weight_file.display()
        ),
    )
}

fn start(deck: &Deck, plan: &Path) {
    deck.ok(&[
        "start",
        &plan.display().to_string(),
        "--version",
        "1.4.0",
        "--previous-version",
        "1.3.2",
    ]);
}

/// Polls `f` until it gives a value, up to 30 s.
#[track_caller]
fn wait_until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn count(events: &[Value], kind: &str) -> usize {
    kinds(events).iter().filter(|k| **k == kind).count()
}

fn has(events: &[Value], kind: &str) -> bool {
    count(events, kind) > 0
}

/// Stops a supervisor with SIGTERM (the way systemd does) and returns its stderr.
fn terminate(supervisor: Running) -> String {
    // SAFETY: kill only sends a signal to the child we started.
    unsafe {
        libc::kill(i32::try_from(supervisor.id()).expect("pid"), libc::SIGTERM);
    }
    let out = supervisor.wait();
    assert_eq!(out.code, Some(0), "SIGTERM hands over and exits 0:\n{}", out.stderr);
    out.stderr
}

/// `supervise` with no cockpit open rolls back a failing canary by itself, and a restarted
/// supervisor does nothing twice.
fn supervise_rolls_back_a_failing_canary(deck: &Deck) {
    let fleet = Fleet::new();
    let served = fleet.serve();
    let plan = plan(deck, &served.url, "echo smoke ok", "get_weight", "");
    start(deck, &plan);
    deck.ok(&["next"]); // shift to 10%, read back
    deck.ok(&["next"]); // the smoke test
    deck.ok(&["next"]); // the bake starts
    assert_eq!(fleet.weight.load(Ordering::SeqCst), 10);

    // A first supervisor drives, records readings, and is killed outright.
    let mut first = deck.spawn(&["supervise"]);
    let team = wait_until("the first supervisor to take the lease", || {
        let team = deck.ok(&["team"]).stdout;
        team.contains("supervise@").then_some(team)
    });
    assert!(team.contains("driv"), "`team` shows who drives:\n{team}");
    first.kill();
    let _ = first.wait();
    let before = deck.events();

    // A second one takes the lapsed lease and supervises on; the canary fails meanwhile.
    let second = deck.spawn(&["supervise"]);
    fleet.failing.store(true, Ordering::SeqCst);
    let events = deck.wait_events("an automatic rollback", Duration::from_secs(60), |e| {
        has(e, "rollback_finished")
    });
    let stderr = terminate(second);
    assert_eq!(count(&events, "rollback_started"), 1, "{:?}", kinds(&events));
    assert_eq!(count(&events, "threshold_breached"), 1, "{:?}", kinds(&events));
    assert_eq!(count(&events, "baseline_captured"), count(&before, "baseline_captured"));
    let rollback =
        events.iter().find(|e| e["event"]["kind"] == "rollback_started").expect("rollback");
    assert_eq!(rollback["event"]["automatic"], true, "{rollback}");
    assert_eq!(fleet.weight.load(Ordering::SeqCst), 0, "traffic is back on the stable version");
    assert!(stderr.contains("automation decides"), "one log line per decision:\n{stderr}");
    assert!(stderr.contains("error_rate"), "probe-state changes are logged:\n{stderr}");
    let status = deck.status();
    assert_eq!(status["release"]["status"], "rolled_back", "{status:#}");

    // A third, started on a release that ended, has nothing to do and records nothing.
    let third = deck.run(&["supervise"]).expect_code(0, "supervise on an ended release");
    assert!(third.stderr.contains("nothing left to supervise"), "{}", third.stderr);
    assert_eq!(deck.events().len(), events.len(), "a restarted supervisor does nothing twice");
}

/// A rollback cancels a long command action (its process group gone) and sends 0 at once.
fn a_rollback_cancels_a_long_command_action(deck: &Deck) {
    let fleet = Fleet::new();
    let served = fleet.serve();
    let pidfile = deck.dir.path().join("smoke.pid");
    let smoke = format!("echo $$ > {}; echo smoke running; sleep 600", pidfile.display());
    let plan = plan(deck, &served.url, &smoke, "get_weight", "");
    start(deck, &plan);
    deck.ok(&["next"]);
    assert_eq!(fleet.sets(), vec![10]);

    // `next` runs the 10-minute smoke test in the foreground.
    let next = deck.spawn(&["next"]);
    // The shell creates the file before it writes its pid into it: wait for a whole pid.
    let read_pid = || std::fs::read_to_string(&pidfile).ok()?.trim().parse::<i32>().ok();
    let deadline = now() + Duration::from_secs(30);
    while read_pid().is_none() && now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = read_pid().expect("the smoke test started and wrote its pid");

    let rollback = deck.run(&["rollback", "--reason", "bad smoke", "--confirm"]);
    assert_eq!(rollback.code, Some(0), "{}\n{}", rollback.stdout, rollback.stderr);
    // The rollback's shift went out while the smoke test was still running: it is the last
    // weight the provider heard, and the rollback finished.
    assert_eq!(fleet.sets(), vec![10, 0]);
    let next = next.wait();
    let events = deck.events();
    assert!(has(&events, "rollback_finished"), "{:?}", kinds(&events));
    let smoke_failed = events
        .iter()
        .find(|e| e["event"]["kind"] == "action_failed" && e["event"]["step"] == "smoke")
        .unwrap_or_else(|| panic!("the smoke test is recorded as failed: {:?}", kinds(&events)));
    let error = smoke_failed["event"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("cancelled by the rollback"), "{error}\n{}", next.stdout);
    // Its whole process group is gone (sh and its sleep).
    let gone = (0..250).any(|_| {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')));
        if alive {
            std::thread::sleep(Duration::from_millis(40));
        }
        !alive
    });
    assert!(gone, "the smoke test's process {pid} outlived the rollback");
    let status = deck.status();
    assert_eq!(status["release"]["weight"], 0, "{status:#}");
}

#[test]
fn a_weight_changed_behind_flightdecks_back_is_drift_and_pauses_http_read_back() {
    drift_pauses("get_weight", |fleet, _| fleet.reported.store(30, Ordering::SeqCst));
}

#[test]
fn a_weight_changed_behind_flightdecks_back_is_drift_and_pauses_command_read_back() {
    drift_pauses("read_file", |_, deck| {
        deck.write("weight", "30\n");
    });
}

fn drift_pauses(read: &str, change: impl Fn(&Fleet, &Deck)) {
    let fleet = Fleet::new();
    let served = fleet.serve();
    let deck = Deck::new();
    deck.write("weight", "10\n");
    let plan = plan(&deck, &served.url, "echo ok", read, "");
    start(&deck, &plan);
    deck.ok(&["next"]);
    deck.ok(&["next"]);
    deck.ok(&["next"]); // the bake
    let supervisor = deck.spawn(&["supervise"]);
    change(&fleet, &deck);
    let events = deck.wait_events("a drift", Duration::from_secs(60), |e| has(e, "paused"));
    let stderr = terminate(supervisor);
    let drift = events
        .iter()
        .find(|e| e["event"]["kind"] == "traffic_drift")
        .unwrap_or_else(|| panic!("no traffic_drift: {:?}\n{stderr}", kinds(&events)));
    assert_eq!(drift["event"]["desired"], 10, "{drift}");
    assert_eq!(drift["event"]["actual"], 30, "{drift}");
    assert_eq!(drift["event"]["source"], read, "{drift}");
    let status = deck.status();
    assert_eq!(status["release"]["status"], "paused", "{status:#}");
    assert_eq!(status["release"]["drift"]["actual"], 30, "{status:#}");
    let text = deck.ok(&["status"]).stdout;
    assert!(text.contains("TRAFFIC DRIFT"), "{text}");
}

#[test]
fn a_shift_the_provider_does_not_apply_fails_after_its_timeout() {
    let fleet = Fleet::new();
    fleet.deaf.store(true, Ordering::SeqCst);
    let served = fleet.serve();
    let deck = Deck::new();
    let plan = plan(&deck, &served.url, "echo ok", "get_weight", "");
    start(&deck, &plan);
    let _ = deck.run(&["next"]);
    let events = deck.events();
    let failed = events
        .iter()
        .find(|e| e["event"]["kind"] == "action_failed" && e["event"]["step"] == "shift-10")
        .unwrap_or_else(|| panic!("the shift failed: {:?}", kinds(&events)));
    let error = failed["event"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("reports 0% after the shift to 10%"), "{error}");
    assert!(
        !has(&events, "weight_set"),
        "the record never says 10% went out: {:?}",
        kinds(&events)
    );
}

/// A failed action whose step says `on_failure = "rollback"`, recorded by a process that did
/// not follow it up (a cockpit that quit, an older flightdeck): the driver decides it by
/// itself, as flightdeck, and runs the rollback procedure it claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_rolls_back_a_failed_action_whose_step_says_so() {
    use flightdeck::release::{Actor, Command, Event, Outcome, Status};
    use flightdeck::store::{self, Store};
    use flightdeck::supervisor::Supervisor;

    let dir = tempfile::tempdir().expect("tempdir");
    let text = r#"[service]
name = "checkout-api"
environment = "production"

[actions.smoke]
kind = "command"
argv = ["false"]

[actions.undeploy]
kind = "command"
argv = ["echo", "undeploying"]

[rollback]
steps = ["undeploy"]

[[stages]]
id = "s"

  [[stages.steps]]
  id = "smoke-test"
  kind = "action"
  action = "smoke"
  on_failure = "rollback"
"#;
    let plan = flightdeck::plan::parse(text, "plan.toml").expect("plan");
    let store = Store::open(&dir.path().join("flightdeck.db"), false).await.expect("store");
    let alice = Actor::person("alice", "testhost", std::process::id());
    let start = Command::Start {
        version: "1.4.0".into(),
        previous_version: Some("1.3.2".into()),
        sha: None,
        image: None,
        release_type: flightdeck::plan::ReleaseType::Hotfix,
    };
    let now = flightdeck::clock::now;
    let (id, _) =
        store::start(&store, &plan, "plan.toml", text, &start, &alice, now()).await.expect("start");
    let next = Command::Next { confirmed: false };
    store::execute(&store, id, &next, &alice, None, now).await.expect("claim the smoke test");
    let failed = Command::RecordOutcome {
        step: "smoke-test".into(),
        attempt: 1,
        outcome: Outcome::Failed {
            error: "exit status 1".into(),
            exit_code: Some(1),
            output_tail: None,
        },
        duration_ms: 10,
    };
    store::execute(&store, id, &failed, &alice, None, now).await.expect("record the failure");

    let mut supervisor = Supervisor::new(store.clone(), alice.clone());
    let loaded = store.load(id).await.expect("load");
    let board = flightdeck::probe::ProbeBoard::for_plan(&loaded.plan);
    assert!(supervisor.automate(id, &loaded.plan, &loaded.state, &board, now()), "decided");
    // Bounded: the decision, then the rollback's own action, then the end.
    for _ in 0..50 {
        let state = store.load(id).await.expect("load").state;
        if state.status.is_terminal() {
            break;
        }
        tokio::select! {
            _ = supervisor.next() => {}
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    supervisor.finish(Duration::from_secs(1)).await;
    let history = store.events_after(id, 0).await.expect("history");
    let rollback = history
        .iter()
        .find(|r| matches!(r.event, Event::RollbackStarted { .. }))
        .expect("a rollback was recorded");
    assert!(rollback.actor.automatic, "flightdeck decided it: {rollback:?}");
    let Event::RollbackStarted { reason, automatic, .. } = &rollback.event else { unreachable!() };
    assert!(*automatic && reason.contains("exit status 1"), "{reason}");
    assert_eq!(store.load(id).await.expect("load").state.status, Status::RolledBack);
}
