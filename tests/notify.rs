//! Webhook notifications against a fake hook on 127.0.0.1 that fails (500), then hangs past
//! the timeout, then succeeds: the release goes on while the hook hangs, every attempt is
//! noted in the deliveries table (never as a release event), and each milestone reaches the
//! hook once. Every server is stopped by its test.

mod recorded;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use flightdeck::notify::Notifier;
use flightdeck::plan::{self, ReleaseType};
use flightdeck::release::{Breach, Command, Level};
use flightdeck::store::{self, Delivery, Store};
use recorded::{Rec, at, auto, person};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// The fake hook: request 1 gets a 500, request 2 hangs until released, the rest get 200.
struct Hook {
    hits: AtomicUsize,
    bodies: Mutex<Vec<Value>>,
    hanging: mpsc::UnboundedSender<()>,
    release: CancellationToken,
}

async fn hook(State(h): State<Arc<Hook>>, Json(body): Json<Value>) -> StatusCode {
    let n = h.hits.fetch_add(1, Ordering::SeqCst) + 1;
    h.bodies.lock().expect("bodies").push(body);
    match n {
        1 => StatusCode::INTERNAL_SERVER_ERROR,
        2 => {
            let _ = h.hanging.send(());
            // Far longer than the hook's timeout; released when the test is done with it.
            tokio::select! {
                () = h.release.cancelled() => {}
                () = tokio::time::sleep(Duration::from_secs(60)) => {}
            }
            StatusCode::OK
        }
        _ => StatusCode::OK,
    }
}

struct Server {
    url: String,
    state: Arc<Hook>,
    hanging: mpsc::UnboundedReceiver<()>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn serve() -> Server {
    let (hanging_tx, hanging) = mpsc::unbounded_channel();
    let state = Arc::new(Hook {
        hits: AtomicUsize::new(0),
        bodies: Mutex::default(),
        hanging: hanging_tx,
        release: CancellationToken::new(),
    });
    let app =
        axum::Router::new().route("/hook", axum::routing::post(hook)).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Server { url, state, hanging, stop, task }
}

impl Server {
    fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    async fn stop(self) {
        self.state.release.cancel();
        let _ = self.stop.send(());
        self.task.await.expect("server task");
    }
}

/// The record plan with one webhook.
fn plan_text(url: &str, timeout: &str, events: &str) -> String {
    format!(
        "{}\n[[notify]]\nurl = \"{url}\"\nformat = \"json\"\nevents = {events}\ntimeout = \"{timeout}\"\nretries = 3\n",
        recorded::PLAN
    )
}

async fn start_with(text: &str) -> Rec {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flightdeck.db");
    let store = Store::open(&path, false).await.expect("open");
    let plan = plan::parse(text, "notify.toml").expect("plan");
    let command = Command::Start {
        version: "1.4.0".into(),
        previous_version: Some("1.3.2".into()),
        sha: None,
        image: None,
        release_type: ReleaseType::Regular,
    };
    let (id, _) =
        store::start(&store, &plan, "notify.toml", text, &command, &person("alice"), at(0))
            .await
            .expect("start");
    Rec { dir, path, store, plan, id, secs: 0, base: 0 }
}

fn for_seq(deliveries: &[Delivery], seq: u64) -> Vec<&Delivery> {
    deliveries.iter().filter(|d| d.seq == seq).collect()
}

#[tokio::test]
async fn a_failing_then_hanging_hook_never_holds_up_the_release() {
    let mut server = serve().await;
    let events = r#"["started", "threshold_breached", "rollback_started", "rollback_finished"]"#;
    let mut r = start_with(&plan_text(&server.url, "300ms", events)).await;
    let client = flightdeck::action::http_client(Duration::from_secs(30));
    let mut notifier = Notifier::spawn(r.store.clone(), client);

    // The cockpit hands over what it committed: here, the release's first event.
    let first = r.store.events_after(r.id, 0).await.expect("events");
    let loaded = r.store.load(r.id).await.expect("load");
    notifier.committed(r.id, &loaded.plan, loaded.state.info.as_ref(), &first);

    // Attempt 1 got a 500; attempt 2 is now hanging at the hook.
    server.hanging.recv().await.expect("the hook saw a second attempt");
    assert_eq!(server.hits(), 2);

    // While it hangs, the release goes on: baselines, checklist, gate, backup, 10% and its
    // bake, then a breach and the automatic rollback all commit.
    r.preflight().await;
    r.canary().await;
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
    let mut later =
        r.run(400, &auto(), Command::RecordBreach { step: "bake-10".into(), breach }).await;
    later.extend(r.outcome(402, &auto(), "rollback-1-traffic", Some(0), "weight=0", 700).await);
    later.extend(
        r.outcome(430, &auto(), "rollback-2-scale_down_green", Some(0), "scaled", 27_500).await,
    );
    let loaded = r.store.load(r.id).await.expect("load");
    assert_eq!(loaded.state.status.as_str(), "rolled_back");
    // ...and the hook is still holding its second request: the release never waited for it.
    assert!(!server.state.release.is_cancelled());
    notifier.committed(r.id, &loaded.plan, loaded.state.info.as_ref(), &later);

    let abandoned = notifier.finish(Duration::from_secs(30)).await;
    assert_eq!(abandoned, 0, "every delivery ended within its bounded retries");
    let deliveries = r.store.deliveries(r.id).await.expect("deliveries");

    // The start: a 500, a timeout, then accepted on the third attempt.
    let started = for_seq(&deliveries, 1);
    let attempts: Vec<(u32, bool, Option<u16>)> =
        started.iter().map(|d| (d.attempt, d.ok, d.status)).collect();
    assert_eq!(attempts, [(1, false, Some(500)), (2, false, None), (3, true, Some(200))]);
    assert!(started[1].error.as_deref().is_some_and(|e| e.contains("no answer within 300ms")));
    assert!(started.iter().all(|d| d.event == "started" && d.target == server.url));

    // Each later milestone asked for was delivered once, at the first attempt.
    let mut ok: Vec<(&str, u64)> =
        deliveries.iter().filter(|d| d.ok).map(|d| (d.event.as_str(), d.seq)).collect();
    ok.sort_by_key(|(_, seq)| *seq);
    let kinds: Vec<&str> = ok.iter().map(|(e, _)| *e).collect();
    assert_eq!(kinds, ["started", "threshold_breached", "rollback_started", "rollback_finished"]);
    assert!(deliveries.iter().filter(|d| d.seq != 1).all(|d| d.ok && d.attempt == 1));
    // gate_passed, completed, ... were not asked for, so nothing else was sent.
    assert_eq!(server.hits(), 3 + 3);

    // The hook got the generic JSON body.
    let bodies = server.state.bodies.lock().expect("bodies").clone();
    let rollback =
        bodies.iter().find(|b| b["event"] == "rollback_started").expect("rollback_started body");
    assert_eq!(rollback["release"]["service"], "checkout-api");
    assert_eq!(rollback["release"]["version"], "1.4.0");
    assert_eq!(rollback["kind"], "rollback_started");
    assert!(
        rollback["sentence"].as_str().is_some_and(|s| s.contains("ROLLBACK started automatically"))
    );
    // It carries the chain head after its event, a copy of the record's head kept elsewhere.
    let seq = rollback["seq"].as_u64().expect("seq");
    let hash = r.store.event_hash(r.id, seq).await.expect("hash").expect("chained");
    assert_eq!(rollback["head"]["anchor"], format!("{seq}:{hash}"));

    // Deliveries are not events: the record holds only what the engine decided.
    let events = r.store.events_after(r.id, 0).await.expect("events");
    assert_eq!(events.len(), 25);
    assert!(r.store.verify(r.id).await.expect("verify").intact());

    server.stop().await;
}

#[tokio::test]
async fn a_secret_in_the_url_is_resolved_for_sending_and_never_stored() {
    let server = serve().await;
    let hook_path = server.url.trim_start_matches("http://");
    // SAFETY: std serializes environment access with process spawning; no other test reads
    // or writes this variable.
    unsafe { std::env::set_var("FLIGHTDECK_TEST_HOOK_HOST", hook_path) };
    let text = plan_text("http://${env:FLIGHTDECK_TEST_HOOK_HOST}", "2s", r#"["started"]"#);
    let r = start_with(&text).await;
    let mut notifier =
        Notifier::spawn(r.store.clone(), flightdeck::action::http_client(Duration::from_secs(30)));
    let first = r.store.events_after(r.id, 0).await.expect("events");
    notifier.committed(r.id, &r.plan, None, &first);
    notifier.finish(Duration::from_secs(30)).await;
    let deliveries = r.store.deliveries(r.id).await.expect("deliveries");
    assert!(!deliveries.is_empty());
    assert!(deliveries.iter().all(|d| d.target == "http://***"), "{deliveries:?}");
    assert!(server.hits() >= 1);
    server.stop().await;
}

/// Runs the binary without blocking the test's runtime (the fake hook runs on it).
async fn flightdeck(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_flightdeck"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("FLIGHTDECK_OPERATOR")
        .output()
        .await
        .expect("run flightdeck")
}

#[tokio::test]
async fn cli_verbs_return_while_a_hook_hangs_and_note_every_attempt() {
    let server = serve().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let plan_path = dir.path().join("plan.toml");
    std::fs::write(&plan_path, plan_text(&server.url, "2s", r#"["started", "aborted"]"#))
        .expect("write plan");
    let db = dir.path().join("flightdeck.db");

    // `start` returns although its delivery got a 500 and then hung: it waited at most the
    // hook's timeout, and noted what it could not finish.
    let started =
        flightdeck(&db, &["start", &plan_path.display().to_string(), "--version", "1.4.0"]).await;
    assert!(started.status.success(), "{started:?}");
    // `abort` is decided and recorded whatever the hook does.
    let aborted = flightdeck(&db, &["abort", "--reason", "testing webhooks"]).await;
    assert!(aborted.status.success(), "{aborted:?}");

    let store = Store::open(&db, true).await.expect("open");
    let row = store.find(None).await.expect("release");
    assert_eq!(row.status, "aborted");
    let deliveries = store.deliveries(row.id).await.expect("deliveries");
    let first = for_seq(&deliveries, 1);
    assert_eq!((first[0].attempt, first[0].ok, first[0].status), (1, false, Some(500)));
    assert!(
        first.last().is_some_and(|d| !d.ok),
        "the start's delivery never succeeded while its verb ran: {first:?}"
    );
    let abort = for_seq(&deliveries, row.last_seq);
    assert!(abort.iter().all(|d| d.event == "aborted"), "{abort:?}");
    assert!(!abort.is_empty(), "the abort's delivery was noted");
    // Only the two milestones were sent; the hook's third request onwards answers 200.
    assert!(server.hits() >= 3, "500, hang, then the abort");
    assert!(store.events_after(row.id, 0).await.expect("events").len() == 2);
    server.stop().await;
}
