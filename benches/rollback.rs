//! How fast a rollback reaches the traffic provider while a long action runs: the release
//! binary runs a 10-minute command action in the foreground (`next`), then `rollback` is
//! started; the figure is the time from starting `rollback` to the load balancer receiving
//! weight 0 (the action is cancelled, not waited for). Prints the median and the worst of
//! `FLIGHTDECK_ROLLBACK_BENCH_RUNS` runs (default 7). Run with `cargo bench --bench rollback`.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");

#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

/// A load balancer on 127.0.0.1:0 noting when each weight arrived.
fn serve_lb(sets: Arc<Mutex<Vec<(u64, Instant)>>>) -> (String, tokio::sync::oneshot::Sender<()>) {
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/weight",
                axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
                    let sets = sets.clone();
                    async move {
                        let at = now();
                        let w = body["weight"]
                            .as_u64()
                            .or_else(|| body["weight"].as_str()?.parse().ok())
                            .unwrap_or(999);
                        sets.lock().expect("sets").push((w, at));
                        "ok"
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            url_tx.send(format!("http://{}", listener.local_addr().expect("addr"))).expect("url");
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await;
        });
    });
    (url_rx.recv().expect("lb url"), stop_tx)
}

fn run(dir: &std::path::Path, args: &[&str]) -> std::process::Child {
    Command::new(BIN)
        .args(args)
        .env("FLIGHTDECK_DB", dir.join("fd.db"))
        .env("HOME", dir)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn flightdeck")
}

fn once() -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let sets = Arc::new(Mutex::new(Vec::new()));
    let (lb, stop) = serve_lb(sets.clone());
    let pidfile = dir.path().join("action.pid");
    let plan = format!(
        r#"[service]
name = "bench"
environment = "production"

[actions.set_weight]
kind = "http"
method = "POST"
url = "{lb}/weight"
body = {{ weight = "{{weight}}" }}
timeout = "5s"

[actions.long]
kind = "command"
argv = ["sh", "-c", "echo $$ > {pid}; sleep 600"]
timeout = "10m"

[traffic]
set = "set_weight"

[rollback]
steps = []

[[stages]]
id = "s"

  [[stages.steps]]
  id = "shift-10"
  kind = "traffic"
  weight = 10

  [[stages.steps]]
  id = "long"
  kind = "action"
  action = "long"
"#,
        pid = pidfile.display()
    );
    std::fs::write(dir.path().join("plan.toml"), plan).expect("plan");
    let wait = |mut c: std::process::Child| c.wait().expect("wait");
    wait(run(dir.path(), &["start", "plan.toml", "--version", "2.0.0"]));
    wait(run(dir.path(), &["next"]));
    let next = run(dir.path(), &["next"]);
    let deadline = now() + Duration::from_secs(30);
    while !pidfile.exists() && now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let asked = now();
    wait(run(dir.path(), &["rollback", "--reason", "bench", "--confirm"]));
    let reached = sets.lock().expect("sets").iter().find(|(w, _)| *w == 0).map(|(_, at)| *at);
    wait(next);
    let _ = stop.send(());
    reached.expect("weight 0 reached the load balancer").duration_since(asked)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing worth a run.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs: usize = std::env::var("FLIGHTDECK_ROLLBACK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let mut took: Vec<Duration> = (0..runs).map(|_| once()).collect();
    took.sort();
    let median = took[took.len() / 2];
    let worst = took[took.len() - 1];
    println!(
        "rollback requested -> provider called with weight 0, a 10-minute action running: median {:.0} ms, worst {:.0} ms ({runs} runs)",
        median.as_secs_f64() * 1000.0,
        worst.as_secs_f64() * 1000.0
    );
}
