//! A real Prometheus (the Debian `prometheus` binary) on a loopback port with its own
//! config (1 s scrapes) and temporary storage, scraping a test exporter this test controls.
//! A release is started through the store; its bake watches the exporter's error ratio as a
//! PromQL query with `on_breach = "rollback"`. Two automation drivers (two cockpits, each
//! polling on its own) watch it. Raising the exporter's error count past the threshold
//! during the bake leads to exactly one automatic rollback, naming the series, value and
//! threshold, and traffic back at 0 once the rollback procedure ran.
//!
//! Without the binary the test says why and passes, unless FLIGHTDECK_REQUIRE_SERVERS=1
//! (CI), where a missing server is a failure. Prometheus is killed when the test ends, on
//! panic too. Bounded: every wait has a deadline well under a minute.

mod probe_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flightdeck::probe::{ProbeBoard, Reading, Versions, spawn_metric_pollers};
use flightdeck::release::{Actor, Command, Event, Status};
use flightdeck::store::{self, Store};
use flightdeck::supervisor::{Submit, Supervisor};
use probe_support::{Counters, exporter};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Kills Prometheus when dropped, whatever ends the test.
struct Prometheus {
    child: Child,
    log: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

fn find_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("prometheus")).find(|p| p.is_file())
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn start_prometheus(binary: &Path, dir: &Path, target: &str) -> (Prometheus, String) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: exporter\n    scrape_interval: 1s\n    \
             static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("write config");
    let port = free_port();
    let log = dir.join("prometheus.log");
    let out = std::fs::File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Process::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=1h")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("start prometheus");
    (Prometheus { child, log }, format!("http://127.0.0.1:{port}"))
}

const PLAN: &str = r#"
[service]
name = "checkout"
environment = "production"

[[metrics]]
id = "error_rate"
name = "5xx ratio"
unit = "ratio"
interval = "1s"
prometheus = { url = "@PROM@", query = '(sum(rate(http_requests_total{code=~"5.."}[5s])) or vector(0)) / sum(rate(http_requests_total[5s]))' }
warn = "> 0.01"
abort = "> 0.05"
for = "2s"
no_data = "ignore"

[actions.set_weight]
kind = "command"
argv = ["echo", "weight set to {weight}"]
timeout = "10s"

[actions.page]
kind = "command"
argv = ["echo", "paging on-call"]
timeout = "10s"

[traffic]
set = "set_weight"

[rollback]
steps = ["page"]

[[stages]]
id = "canary"

  [[stages.steps]]
  id = "shift-10"
  kind = "traffic"
  weight = 10

  [[stages.steps]]
  id = "bake-10"
  kind = "bake"
  duration = "5m"
  probes = ["error_rate"]
  on_breach = "rollback"

  [[stages.steps]]
  id = "shift-100"
  kind = "traffic"
  weight = 100
"#;

/// One cockpit's automation: its own pollers and board, deciding and recording through the
/// store, and running the actions it claimed. Returns when the release is over or `cancel`.
async fn drive(
    store: Store,
    id: i64,
    plan: flightdeck::plan::Plan,
    me: Actor,
    cancel: CancellationToken,
    seen: Arc<Mutex<Vec<usize>>>,
    slot: usize,
) {
    let (tx, mut rx) = mpsc::channel::<Reading>(64);
    let versions = Versions { new: Some("1.4.0".into()), old: Some("1.3.2".into()) };
    spawn_metric_pollers(&plan, &versions, tx, cancel.clone());
    let mut board = ProbeBoard::for_plan(&plan);
    // The same supervisor a cockpit drives through: automation, and the actions it claims.
    let mut supervisor = Supervisor::new(store.clone(), me.clone());
    while !cancel.is_cancelled() {
        while supervisor.try_next().is_some() {}
        while let Ok(reading) = rx.try_recv() {
            board.apply(&plan, reading);
        }
        if let Ok(mut s) = seen.lock() {
            s[slot] = board.metrics[0].samples.len();
        }
        let Ok(loaded) = store.load(id).await else { break };
        if loaded.state.status.is_terminal() {
            break;
        }
        board.sync(&loaded.state);
        let now = flightdeck::clock::now();
        // Losing a race to the other cockpit is expected: it is refused as stale.
        supervisor.observe(id, &plan, &loaded.state);
        supervisor.automate(id, &plan, &loaded.state, &board, now);
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = supervisor.next() => {}
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breach_seen_through_real_prometheus_rolls_back_once() {
    let Some(binary) = find_binary() else {
        if std::env::var("FLIGHTDECK_REQUIRE_SERVERS").as_deref() == Ok("1") {
            panic!(
                "FLIGHTDECK_REQUIRE_SERVERS=1 but no `prometheus` on PATH (apt-get install prometheus)"
            );
        }
        eprintln!("skipped: no `prometheus` binary on PATH (Debian package `prometheus`)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let cancel = CancellationToken::new();
    let _stop = cancel.clone().drop_guard();

    // The exporter: steady traffic, errors only when the test says so.
    let counters = Arc::new(Mutex::new(Counters::default()));
    let failing = Arc::new(AtomicBool::new(false));
    let server = exporter(counters.clone()).await;
    {
        let (counters, failing, cancel) = (counters.clone(), failing.clone(), cancel.clone());
        tokio::spawn(async move {
            while !cancel.is_cancelled() {
                if let Ok(mut c) = counters.lock() {
                    c.ok += 20.0;
                    c.observe(0.04, 20.0);
                    if failing.load(Ordering::Relaxed) {
                        c.errors += 5.0;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    let target = server.url.trim_start_matches("http://").to_owned();
    let (prometheus, prom_url) = start_prometheus(&binary, dir.path(), &target);

    let client = flightdeck::action::http_client(Duration::from_secs(2));
    let mut ready = false;
    for _ in 0..150 {
        if let Ok(r) = client.get(format!("{prom_url}/-/ready")).send().await {
            if r.status().is_success() {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ready, "Prometheus did not become ready:\n{}", prometheus.log_tail());

    // A release through the store, up to its running bake.
    let store = Store::open(&dir.path().join("flightdeck.db"), false).await.expect("store");
    let text = PLAN.replace("@PROM@", &prom_url);
    let plan = flightdeck::plan::parse(&text, "prometheus test plan").expect("plan");
    let pid = std::process::id();
    let alice = Actor::person("alice", "testhost", pid);
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
    let next = Command::Next { confirmed: false };
    let mut supervisor = Supervisor::new(store.clone(), alice.clone());
    let shift = Submit {
        release_id: id,
        command: next.clone(),
        actor: alice.clone(),
        expect_seq: None,
        seen_step: None,
        verb: "next".into(),
    };
    supervisor.execute(shift).await.expect("shift");
    supervisor.settle(id, |_| {}).await;
    store::execute(&store, id, &next, &alice, None, now).await.expect("start the bake");
    assert_eq!(store.load(id).await.expect("load").state.weight, 10);

    // Two cockpits watch the bake, each polling Prometheus itself.
    let seen = Arc::new(Mutex::new(vec![0usize; 2]));
    let drivers: Vec<_> = (0..2)
        .map(|i| {
            // Each cockpit on a host of its own: a cockpit takes another's runs on its own host
            // for orphans when their pid is not alive, and these pids are made up.
            let host = format!("testhost-{i}");
            let me = Actor::automation("alice", &host, 1000 + u32::try_from(i).unwrap());
            tokio::spawn(drive(
                store.clone(),
                id,
                plan.clone(),
                me,
                cancel.clone(),
                seen.clone(),
                i,
            ))
        })
        .collect();

    // Healthy first: both have read values from Prometheus and nothing happened.
    let mut healthy = false;
    for _ in 0..150 {
        if seen.lock().map(|s| s.iter().all(|n| *n >= 3)).unwrap_or(false) {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(healthy, "no values from Prometheus:\n{}", prometheus.log_tail());
    let state = store.load(id).await.expect("load").state;
    assert_eq!(state.status, Status::Running, "nothing breached yet");

    // Then the errors: 5 of every 25 requests (20%) against an abort level of 5%.
    failing.store(true, Ordering::Relaxed);
    let mut state = state;
    for _ in 0..200 {
        state = store.load(id).await.expect("load").state;
        if state.status.is_terminal() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cancel.cancel();
    for d in drivers {
        let _ = d.await;
    }
    assert_eq!(state.status, Status::RolledBack, "not rolled back:\n{}", prometheus.log_tail());
    assert_eq!(state.weight, 0, "traffic back on the stable version");

    let events = store.events_after(id, 0).await.expect("events");
    let started: Vec<_> =
        events.iter().filter(|r| matches!(r.event, Event::RollbackStarted { .. })).collect();
    assert_eq!(started.len(), 1, "exactly one rollback, whatever the number of cockpits");
    let Event::RollbackStarted { reason, automatic, .. } = &started[0].event else {
        unreachable!()
    };
    assert!(*automatic && started[0].actor.automatic, "recorded as automatic");
    assert_eq!(started[0].actor.name, "flightdeck (auto)");
    assert!(reason.contains("error_rate") && reason.contains("> 5%"), "{reason}");
    let breach = events
        .iter()
        .find_map(|r| match &r.event {
            Event::ThresholdBreached { breach, .. }
                if breach.level == flightdeck::release::Level::Abort =>
            {
                Some(breach.clone())
            }
            _ => None,
        })
        .expect("the breach is recorded");
    assert_eq!(breach.series, "error_rate");
    assert!(breach.value > 0.05, "{breach:?}");
    // The reason tells the breach in the metric's unit (a ratio, as a percentage).
    let told = breach.explain_in("ratio");
    assert!(told.contains('%'), "{told}");
    assert!(reason.contains(&told), "the reason explains the breach: {reason}");
    let last_weight = events.iter().rev().find_map(|r| match r.event {
        Event::WeightSet { weight } => Some(weight),
        _ => None,
    });
    assert_eq!(last_weight, Some(0));
    drop(prometheus);
    drop(server);
}
