//! Releases that are not traffic shifts, from the command line and `flightdeck supervise`
//! (issue 16): a rolling deploy's progress is read while its action runs and recorded as
//! `rollout_progress`; a deploy step's action gets `{target}`; `status` and `status --json`
//! say what the strategy did; `shift` is refused on a swap plan; a completed release is
//! watched after completion by `supervise` until its window closes (a failing health check
//! meanwhile rolls it back), and may be rolled back by a person within it.
//!
//! The only server is a healthy `/health` endpoint on 127.0.0.1:0, stopped by the test that starts
//! it; waits are bounded polls, never timings.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use support::cli::{Deck, Running, kinds};
use support::pty::now;

/// A `/health` on 127.0.0.1:0 until dropped: healthy, or 503 while `failing` is set.
struct Health {
    url: String,
    failing: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Health {
    fn serve() -> Self {
        let failing = Arc::new(AtomicBool::new(false));
        let answer = failing.clone();
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let app = axum::Router::new().route(
                    "/health",
                    axum::routing::get(move || {
                        let failing = answer.load(Ordering::SeqCst);
                        async move {
                            let code = if failing {
                                axum::http::StatusCode::SERVICE_UNAVAILABLE
                            } else {
                                axum::http::StatusCode::OK
                            };
                            (code, axum::Json(serde_json::json!({ "status": "ok" })))
                        }
                    }),
                );
                let listener =
                    tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
                let addr = listener.local_addr().expect("addr");
                url_tx.send(format!("http://{addr}/health")).expect("send url");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        });
        let url = url_rx.recv_timeout(Duration::from_secs(30)).expect("health server started");
        Self { url, failing, stop: Some(stop_tx), thread: Some(thread) }
    }
}

impl Drop for Health {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The progress source: each run counts one more pod updated, up to 3 of 3.
const PODS_SCRIPT: &str = r#"n=$(cat "$1" 2>/dev/null || echo 0)
n=$((n + 1))
if [ "$n" -gt 3 ]; then n=3; fi
echo "$n" > "$1"
echo "checking pods..."
echo "$n/3"
"#;

/// The deploy: writes the `{target}` it was given, then waits (bounded) until every pod is
/// counted as updated, so the rollout lasts exactly as long as three progress reads.
const ROLL_SCRIPT: &str = r#"echo "$1" > "$2"
i=0
while [ "$(cat "$3" 2>/dev/null)" != 3 ] && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
echo "rolled out"
"#;

/// A plan of one deploy step with the strategy `strategy` (rolling: progress read from the
/// pods script every second), watched for 10 s after completion through `health`.
fn plan(deck: &Deck, strategy: &str, health: &str) -> PathBuf {
    let dir = deck.dir.path();
    let pods = deck.write("pods.sh", PODS_SCRIPT);
    let roll = deck.write("roll.sh", ROLL_SCRIPT);
    let counter = dir.join("pods-updated");
    let progress =
        if strategy == "rolling" { r#"progress = { action = "pods", every = "1s" }"# } else { "" };
    deck.write(
        "plan.toml",
        &format!(
            r#"[service]
name = "user-management"
environment = "production"

[deploy]
strategy = "{strategy}"

[watch]
after_release = "10s"
probes = ["app"]

[[health]]
id = "app"
url = "{health}"
interval = "1s"

[actions.roll]
kind = "command"
argv = ["sh", "{roll}", "{{target}}", "{target_file}", "{counter}"]
timeout = "1m"

[actions.pods]
kind = "command"
argv = ["sh", "{pods}", "{counter}"]
timeout = "10s"

[actions.undo]
kind = "command"
argv = ["sh", "-c", "echo undone > {undone}"]
timeout = "10s"

[rollback]
steps = ["undo"]

[[stages]]
id = "deploy"
name = "Deploy"

  [[stages.steps]]
  id = "rollout"
  kind = "deploy"
  action = "roll"
  {progress}
"#,
            roll = roll.display(),
            pods = pods.display(),
            counter = counter.display(),
            target_file = dir.join("target").display(),
            undone = dir.join("undone").display(),
        ),
    )
}

fn start(deck: &Deck, plan: &Path) {
    deck.ok(&["check", &plan.display().to_string()]);
    deck.ok(&[
        "start",
        &plan.display().to_string(),
        "--version",
        "1.4.0",
        "--previous-version",
        "1.3.2",
    ]);
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"]["kind"] == kind).collect()
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

#[test]
fn a_rolling_deploy_records_its_progress_and_gets_its_target() {
    let health = Health::serve();
    let deck = Deck::new();
    let plan = plan(&deck, "rolling", &health.url);
    start(&deck, &plan);

    // `next` runs the deploy in the foreground; its progress is read meanwhile.
    deck.ok(&["next", "--confirm"]);

    let target = std::fs::read_to_string(deck.dir.path().join("target")).expect("target written");
    assert_eq!(target.trim(), "100", "the unpaced deploy step's {{target}} is 100");
    let events = deck.events();
    let progress = of_kind(&events, "rollout_progress");
    let counts: Vec<(u64, u64)> = progress
        .iter()
        .map(|e| {
            let (n, m) = (&e["event"]["updated"], &e["event"]["desired"]);
            (n.as_u64().expect("updated"), m.as_u64().expect("desired"))
        })
        .collect();
    assert_eq!(counts, vec![(1, 3), (2, 3), (3, 3)], "one event per change: {:?}", kinds(&events));
    for e in &progress {
        assert_eq!(e["event"]["step"], "rollout", "{e}");
        assert_eq!(e["actor"]["automatic"], true, "recorded in flightdeck's name: {e}");
    }
    let last = progress.last().expect("progress");
    assert_eq!(last["event"]["fraction"], 1.0, "{last}");
    // Every read was recorded while the step ran: its outcome comes after them.
    let finished = events
        .iter()
        .position(|e| e["event"]["kind"] == "action_finished")
        .expect("the deploy finished");
    let last_progress = events.iter().rposition(|e| e["event"]["kind"] == "rollout_progress");
    assert!(last_progress < Some(finished), "{:?}", kinds(&events));

    let status = deck.status();
    let release = &status["release"];
    assert_eq!(release["status"], "completed", "{status:#}");
    assert_eq!(release["strategy"], "rolling", "{status:#}");
    let deployment = &release["deployment"];
    assert_eq!(deployment["kind"], "rolling", "{deployment:#}");
    assert_eq!(deployment["updated"], 3, "{deployment:#}");
    assert_eq!(deployment["desired"], 3, "{deployment:#}");
    assert_eq!(deployment["fraction"], 1.0, "{deployment:#}");
    assert_eq!(deployment["unit"], "pods", "{deployment:#}");
    assert!(deployment["finished_at"]["ms"].is_i64(), "{deployment:#}");
    let line = deployment["line"].as_str().unwrap_or_default();
    assert!(line.contains("3/3 pods") && line.contains("1.4.0"), "{line}");
    assert!(release["completed_at"]["ms"].is_i64(), "{status:#}");
    let left = release["watch"]["left_s"].as_u64().expect("watched for 10 s after completion");
    assert!(left <= 10, "{status:#}");
    assert_eq!(status["steps"][0]["target"], 100, "{status:#}");

    let text = deck.ok(&["status"]).stdout;
    assert!(text.contains(line), "the rollout, not a traffic percentage:\n{text}");
    assert!(!text.contains("traffic 0%"), "{text}");
    assert!(text.contains("watching after release"), "{text}");
}

#[test]
fn a_swap_says_when_it_swapped_and_shift_is_refused() {
    let health = Health::serve();
    let deck = Deck::new();
    let plan = plan(&deck, "swap", &health.url);
    start(&deck, &plan);
    let before = deck.status();
    assert_eq!(before["release"]["strategy"], "swap", "{before:#}");
    assert_eq!(before["release"]["deployment"]["swapped_at"], Value::Null, "{before:#}");
    assert_eq!(before["release"]["watch"], Value::Null, "not completed: not watched yet");

    let shift = deck.run(&["shift", "--confirm"]).expect_code(3, "shift on a swap plan");
    assert!(shift.stderr.contains("rejected"), "{}", shift.stderr);
    assert!(!kinds(&deck.events()).contains(&"weight_set"), "nothing moved");

    // The swap needs no counter: let its wait end at once.
    deck.write("pods-updated", "3\n");
    deck.ok(&["next", "--confirm"]);
    let status = deck.status();
    let deployment = &status["release"]["deployment"];
    assert_eq!(deployment["kind"], "swap", "{deployment:#}");
    assert!(deployment["swapped_at"]["ms"].is_i64(), "{deployment:#}");
    assert_eq!(deployment["fraction"], 1.0, "{deployment:#}");
    let line = deployment["line"].as_str().unwrap_or_default();
    assert!(line.starts_with("swapped to 1.4.0 at "), "{line}");
    assert!(
        of_kind(&deck.events(), "rollout_progress").is_empty(),
        "a swap with no progress source reads none"
    );
    let text = deck.ok(&["status"]).stdout;
    assert!(text.contains("swapped to 1.4.0 at "), "{text}");
}

#[test]
fn a_traffic_plan_keeps_its_weight_and_says_traffic() {
    let deck = Deck::new();
    deck.start_fixture("2.0.0");
    let status = deck.status();
    let release = &status["release"];
    assert_eq!(release["strategy"], "traffic", "{status:#}");
    assert_eq!(release["weight"], 0, "{status:#}");
    assert_eq!(release["deployment"]["kind"], "traffic", "{status:#}");
    assert_eq!(release["deployment"]["weight"], 0, "{status:#}");
    assert_eq!(release["watch"], Value::Null, "{status:#}");
    let text = deck.ok(&["status"]).stdout;
    assert!(text.contains("traffic 0% on 2.0.0"), "{text}");
}

#[test]
fn a_completed_release_is_rolled_back_within_its_watch() {
    let health = Health::serve();
    let deck = Deck::new();
    let plan = plan(&deck, "rolling", &health.url);
    start(&deck, &plan);
    deck.ok(&["next", "--confirm"]);
    assert_eq!(deck.status()["release"]["status"], "completed");

    deck.fails(&["rollback", "--reason", "p95 up after the rollout"], 3, "confirm");
    deck.ok(&["rollback", "--reason", "p95 up after the rollout", "--confirm"]);
    let status = deck.status();
    assert_eq!(status["release"]["status"], "rolled_back", "{status:#}");
    let undone = std::fs::read_to_string(deck.dir.path().join("undone")).expect("undo ran");
    assert_eq!(undone.trim(), "undone");
    assert_eq!(status["release"]["watch"], Value::Null, "rolled back: no longer watched");
    let line = status["release"]["deployment"]["line"].as_str().unwrap_or_default();
    assert!(line.starts_with("rolled back"), "{line}");
}

/// Stops a supervisor with SIGTERM if it is still running, and returns how it ended.
fn stop(supervisor: Running) -> support::cli::Out {
    // SAFETY: kill only sends a signal to the child we started.
    unsafe {
        libc::kill(i32::try_from(supervisor.id()).expect("pid"), libc::SIGTERM);
    }
    supervisor.wait()
}

#[test]
fn supervise_watches_a_completed_release_until_its_window_closes() {
    let health = Health::serve();
    let deck = Deck::new();
    let plan = plan(&deck, "rolling", &health.url);
    start(&deck, &plan);
    deck.ok(&["next", "--confirm"]);
    assert_eq!(deck.status()["release"]["status"], "completed");

    let supervisor = deck.spawn(&["supervise", "--all"]);
    wait_until("supervise to drive the completed release", || {
        let team = deck.ok(&["team"]).stdout;
        team.contains("supervise@").then_some(team)
    });
    let events = deck.wait_events("the watch to close", Duration::from_secs(40), |e| {
        kinds(e).contains(&"watch_closed")
    });
    let closed = of_kind(&events, "watch_closed");
    assert_eq!(closed.len(), 1, "{:?}", kinds(&events));
    assert_eq!(closed[0]["event"]["after_release_ms"], 10_000, "{}", closed[0]);
    let status = deck.status();
    assert_eq!(status["release"]["status"], "completed", "{status:#}");
    assert_eq!(status["release"]["watch"]["closed"], true, "{status:#}");
    let ended = stop(supervisor);
    assert!(
        ended.stderr.contains("watching user-management 1.4.0"),
        "supervise picked up the completed release:\n{}",
        ended.stderr
    );
    // A supervisor started on the closed release has nothing left to do.
    let after = deck.run(&["supervise"]).expect_code(0, "supervise on a closed release");
    assert!(after.stderr.contains("nothing left to supervise"), "{}", after.stderr);

    // Once closed, rollback is refused as for any completed release.
    deck.fails(&["rollback", "--reason", "too late", "--confirm"], 3, "rejected");
}

#[test]
fn supervise_rolls_back_a_completed_release_whose_health_fails_while_watched() {
    let health = Health::serve();
    let deck = Deck::new();
    let plan = plan(&deck, "rolling", &health.url);
    start(&deck, &plan);
    deck.ok(&["next", "--confirm"]);
    assert_eq!(deck.status()["release"]["status"], "completed");

    let supervisor = deck.spawn(&["supervise"]);
    wait_until("supervise to drive the completed release", || {
        deck.ok(&["team"]).stdout.contains("supervise@").then_some(())
    });
    health.failing.store(true, Ordering::SeqCst);
    // The release rolled back is over: the supervisor ends by itself.
    let ended = supervisor.wait().expect_code(0, "supervise after the rollback");
    assert!(ended.stderr.contains("nothing left to supervise"), "{}", ended.stderr);
    let events = deck.events();
    let breach = of_kind(&events, "threshold_breached")
        .into_iter()
        .find(|e| e["event"]["breach"]["level"] == "abort")
        .unwrap_or_else(|| panic!("an abort breach: {:?}", kinds(&events)));
    assert_eq!(breach["event"]["step"], "after-release", "{breach}");
    assert_eq!(breach["event"]["breach"]["series"], "app", "{breach}");
    let rollback = of_kind(&events, "rollback_started");
    assert_eq!(rollback.len(), 1, "{:?}", kinds(&events));
    assert_eq!(rollback[0]["event"]["automatic"], true, "{}", rollback[0]);
    assert_eq!(deck.status()["release"]["status"], "rolled_back");
    let undone = std::fs::read_to_string(deck.dir.path().join("undone")).expect("undo ran");
    assert_eq!(undone.trim(), "undone");
}

/// A deploy step whose progress is a metric (unit `ratio`): its latest stored reading is
/// recorded as the rollout's fraction while the deploy runs, with no counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metric_progress_source_records_its_latest_reading() {
    use flightdeck::release::{Actor, Command, Event};
    use flightdeck::store::{self, SampleKind, SampleRow, Store};
    use flightdeck::supervisor::Supervisor;

    let dir = tempfile::tempdir().expect("tempdir");
    let done = dir.path().join("done");
    let text = format!(
        r#"[service]
name = "user-management"
environment = "production"

[deploy]
strategy = "rolling"

[[metrics]]
id = "updated_ratio"
name = "pods on the new version"
unit = "ratio"
interval = "1s"
prometheus = {{ url = "http://127.0.0.1:9", query = "updated_ratio" }}

[actions.roll]
kind = "command"
argv = ["sh", "-c", "i=0; while [ ! -e '{done}' ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done"]
timeout = "1m"

[rollback]
steps = []

[[stages]]
id = "deploy"

  [[stages.steps]]
  id = "rollout"
  kind = "deploy"
  action = "roll"
  progress = {{ metric = "updated_ratio", every = "1s" }}
"#,
        done = done.display()
    );
    let plan = flightdeck::plan::parse(&text, "plan.toml").expect("plan");
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
    let (id, _) = store::start(&store, &plan, "plan.toml", &text, &start, &alice, now())
        .await
        .expect("start");
    let next = Command::Next { confirmed: true };
    store::execute(&store, id, &next, &alice, None, now).await.expect("start the deploy");
    let mut supervisor = Supervisor::new(store.clone(), alice.clone());
    let loaded = store.load(id).await.expect("load");
    supervisor.observe(id, &loaded.plan, &loaded.state);
    assert!(supervisor.running(id), "this process runs the deploy it claimed");

    let fractions = |history: &[flightdeck::release::EventRecord]| -> Vec<(f64, bool)> {
        history
            .iter()
            .filter_map(|r| match &r.event {
                Event::RolloutProgress { fraction, updated, desired, .. } => {
                    Some((*fraction, updated.is_none() && desired.is_none()))
                }
                _ => None,
            })
            .collect()
    };
    // The driver's sample writer stands in here: a fresh reading at every turn. Bounded.
    let mut history = Vec::new();
    for share in [0.5, 1.0] {
        for _ in 0..150 {
            let sample = SampleRow {
                series: "updated_ratio".into(),
                kind: SampleKind::Metric,
                at: now(),
                value: Some(share),
                error: None,
            };
            store.record_samples(id, &[sample]).await.expect("record a reading");
            tokio::select! {
                _ = supervisor.next() => {}
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            history = store.events_after(id, 0).await.expect("history");
            if fractions(&history).last().is_some_and(|(f, _)| (*f - share).abs() < 1e-9) {
                break;
            }
        }
    }
    std::fs::write(&done, "").expect("let the deploy end");
    for _ in 0..100 {
        if !supervisor.running(id) {
            break;
        }
        tokio::select! {
            _ = supervisor.next() => {}
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    supervisor.finish(Duration::from_secs(1)).await;
    assert_eq!(fractions(&history), vec![(0.5, true), (1.0, true)], "{history:#?}");
    let state = store.load(id).await.expect("load").state;
    assert_eq!(state.status, flightdeck::release::Status::Completed);
}

#[test]
fn a_progress_source_that_answers_nonsense_is_reported_and_never_fails_the_deploy() {
    let health = Health::serve();
    let deck = Deck::new();
    let plan = plan(&deck, "rolling", &health.url);
    deck.write("pods.sh", "echo 'pods: lots'\n");
    // Every pod counted already: the deploy ends at once, and its one last read fails.
    deck.write("pods-updated", "3\n");
    start(&deck, &plan);
    let next = deck.ok(&["next", "--confirm"]);
    let told =
        "reading the progress of `rollout` with `pods` failed: `pods: lots` is not a progress";
    assert_eq!(next.stderr.matches(told).count(), 1, "told once:\n{}", next.stderr);
    let events = deck.events();
    assert!(of_kind(&events, "rollout_progress").is_empty(), "{:?}", kinds(&events));
    assert_eq!(deck.status()["release"]["status"], "completed");
}

#[test]
fn each_segment_of_a_paced_deploy_gets_its_own_target() {
    let health = Health::serve();
    let deck = Deck::new();
    let record = deck.dir.path().join("targets");
    let plan = deck.write(
        "plan.toml",
        &format!(
            r#"[service]
name = "user-management"
environment = "production"

[deploy]
strategy = "rolling"

[[health]]
id = "app"
url = "{health}"
interval = "1s"

[actions.roll]
kind = "command"
argv = ["sh", "-c", "echo {{target}} >> {record}"]
timeout = "10s"

[rollback]
steps = []

[[stages]]
id = "deploy"

  [[stages.steps]]
  id = "rollout"
  kind = "deploy"
  action = "roll"
  pace = ["50%"]
  pace_bake = "10s"
  probes = ["app"]
  continue = "roll"
"#,
            health = health.url,
            record = record.display()
        ),
    );
    start(&deck, &plan);
    deck.ok(&["next"]);
    let targets = std::fs::read_to_string(&record).expect("the first segment ran");
    assert_eq!(targets, "50\n", "the first segment rolls out to 50%");
    let status = deck.status();
    assert_eq!(status["steps"][0]["id"], "rollout-50", "{status:#}");
    assert_eq!(status["steps"][0]["target"], 50, "{status:#}");
    let text = deck.ok(&["status"]).stdout;
    let segment = text.lines().find(|l| l.contains("rollout-50 ")).unwrap_or_default();
    assert!(segment.ends_with("to 50%"), "a segment shows the share it rolls out to:\n{text}");
}
