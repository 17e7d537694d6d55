//! The guarantees of side effects (DESIGN.md §3, issue 5): an action that hangs is killed at
//! its timeout with its children; a secret appears nowhere it could be read back; a cockpit
//! SIGKILLed during an action leaves an interrupted action that waits for a person; two
//! cockpits (or two CLI processes) on one database never both run the same action; and the
//! rollback procedure records each step, halts or continues as the plan says, and never
//! starts twice.
//!
//! Every plan is written to the test's own temp dir, servers listen on 127.0.0.1:0 only, and
//! every process a test starts is stopped by it: CLI runs are bounded (`support::cli`), a
//! `Pty` kills its cockpit when dropped, and an action a SIGKILLed cockpit left behind is
//! killed by its process group. Waits are bounded polls with env-scaled timeouts; nothing
//! asserts on how long anything took.

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use support::cli::{Deck, Out, kinds};
use support::pty::{POLL, Pty, now, timeout};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Unwraps a PTY wait, panicking with the harness's description (screen, raw output).
#[track_caller]
fn must(result: Result<(), String>) {
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Whether `pid` names a live process. A zombie counts as gone: an orphaned child is
/// reparented to pid 1, which in a container may never reap it.
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let exists = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !exists {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat.rsplit_once(") ").is_none_or(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => !Path::new("/proc/self").exists(),
    }
}

/// Polls until `pid` is gone, up to `limit`; returns whether it is.
fn wait_gone(pid: i32, limit: Duration) -> bool {
    let deadline = now() + limit;
    loop {
        if !alive(pid) {
            return true;
        }
        if now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Kills a process group left behind (no-op if it is gone) and waits for its leader.
fn kill_group(pgid: i32) {
    // SAFETY: killpg only sends a signal, to a group this test's action created.
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
    assert!(wait_gone(pgid, timeout(10)), "process group {pgid} survived SIGKILL");
}

/// The number after `prefix` in `text` (e.g. `child=1234`).
fn number_after(text: &str, prefix: &str) -> Option<i32> {
    let start = text.find(prefix)? + prefix.len();
    let digits: String = text[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Where the test actions append a line each time they run.
fn runs_log(deck: &Deck) -> PathBuf {
    deck.dir.path().join("runs.log")
}

/// How many times a test action ran (whatever the store says).
fn runs(deck: &Deck) -> usize {
    std::fs::read_to_string(runs_log(deck)).map_or(0, |t| t.lines().count())
}

fn kind(event: &Value) -> &str {
    event["event"]["kind"].as_str().unwrap_or_default()
}

fn of_kind<'a>(events: &'a [Value], k: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| kind(e) == k).collect()
}

/// A plan: `[service]` (shop, production) followed by `body`, written to the deck's dir.
fn write_plan(deck: &Deck, name: &str, body: &str) -> PathBuf {
    let text = format!("[service]\nname = \"shop\"\nenvironment = \"production\"\n\n{body}");
    deck.write(name, &text)
}

/// Starts a release of `plan`, asserting it started.
#[track_caller]
fn start(deck: &Deck, plan: &Path) {
    let out = deck.ok(&[Path::new("start"), plan, Path::new("--version"), Path::new("1.4.0")]);
    assert!(out.stdout.contains("started release 1"), "{}", out.stdout);
}

/// The environment a cockpit of this deck gets: its database, and `HOME`/XDG in its dir.
fn cockpit_env(deck: &Deck) -> Vec<(&'static str, String)> {
    let dir = deck.dir.path();
    let s = |p: PathBuf| p.to_string_lossy().into_owned();
    vec![
        ("FLIGHTDECK_DB", s(deck.db.clone())),
        ("HOME", s(dir.to_path_buf())),
        ("XDG_CONFIG_HOME", s(dir.join("xdg-config"))),
        ("XDG_DATA_HOME", s(dir.join("xdg-data"))),
    ]
}

/// Opens the cockpit on the deck's database at 120×40, with `extra` environment, and waits
/// for `step` to show.
fn cockpit(deck: &Deck, extra: &[(&'static str, String)], step: &str) -> Pty {
    let mut env = cockpit_env(deck);
    env.extend(extra.iter().cloned());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let pty = Pty::spawn(&[], 120, 40, &env);
    must(pty.wait_for_text("PRODUCTION", timeout(10)));
    must(pty.wait_for_text(step, timeout(10)));
    pty
}

// ---------------------------------------------------------------------------------------
// 1. An action that hangs is killed at its timeout, with its children
// ---------------------------------------------------------------------------------------

const HANG: &str = "sleep 300 & echo child=$!; echo group=$$; sleep 300";

#[tokio::test]
async fn a_hanging_command_is_killed_at_its_timeout_with_its_children() {
    use flightdeck::action::command::{CommandSpec, run};
    let spec = CommandSpec {
        argv: vec!["sh".into(), "-c".into(), HANG.into()],
        shell: false,
        cwd: None,
        env: Vec::new(),
        timeout: Duration::from_secs(1),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = tokio_util::sync::CancellationToken::new();
    let result = tokio::time::timeout(timeout(30), run(&spec, &tx, &cancel))
        .await
        .expect("run returns once the timeout kills the command");
    drop(tx);
    let mut lines = Vec::new();
    while let Some(line) = rx.recv().await {
        lines.push(line);
    }
    let output = lines.join("\n");
    let error = result.error.clone().unwrap_or_default();
    assert!(error.contains("timed out"), "error: {error:?} ({result:?})");
    assert!(result.tail.contains("child="), "{result:?}");
    let child = number_after(&output, "child=").expect("the command printed its child's pid");
    let group = number_after(&output, "group=").expect("the command printed its own pid");
    let (child_gone, group_gone) = tokio::task::spawn_blocking(move || {
        (wait_gone(child, timeout(5)), wait_gone(group, timeout(5)))
    })
    .await
    .expect("poll");
    // Whatever happens, leave nothing running behind this test.
    if !child_gone || !group_gone {
        // SAFETY: signals to the processes this test's command started.
        unsafe {
            libc::kill(child, libc::SIGKILL);
            libc::killpg(group, libc::SIGKILL);
        }
    }
    assert!(group_gone, "the shell {group} outlived its timeout");
    assert!(child_gone, "the background child {child} outlived the timeout of its parent");
}

#[test]
fn a_hanging_action_run_by_next_is_killed_at_its_timeout_with_its_children() {
    let deck = Deck::new();
    let plan = write_plan(
        &deck,
        "hang.toml",
        &format!(
            r#"[actions.hang]
kind = "command"
argv = ["sh", "-c", "{HANG}"]
timeout = "1s"

[[stages]]
id = "s"
name = "S"

  [[stages.steps]]
  id = "hang"
  kind = "action"
  action = "hang"

  [[stages.steps]]
  id = "go"
  kind = "gate"
"#
        ),
    );
    start(&deck, &plan);
    // `run` kills it after about 30 s: a `next` that waited for the sleep would fail here.
    let out = deck.run(&["next"]);
    assert!(out.code.is_some(), "next was killed: {out:?}");
    let child = number_after(&out.stdout, "child=")
        .unwrap_or_else(|| panic!("next printed the action's output: {out:?}"));
    let group = number_after(&out.stdout, "group=").expect("the action printed its own pid");
    let (child_gone, group_gone) = (wait_gone(child, timeout(5)), wait_gone(group, timeout(5)));
    if !child_gone || !group_gone {
        // SAFETY: signals to the processes this test's action started.
        unsafe {
            libc::kill(child, libc::SIGKILL);
            libc::killpg(group, libc::SIGKILL);
        }
    }
    assert!(group_gone, "the action's shell {group} outlived its timeout");
    assert!(child_gone, "the action's background child {child} outlived its timeout");

    let events = deck.events();
    assert_eq!(of_kind(&events, "action_started").len(), 1, "{:?}", kinds(&events));
    let failed = of_kind(&events, "action_failed");
    assert_eq!(failed.len(), 1, "{:?}", kinds(&events));
    let error = failed[0]["event"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("timed out"), "{:#}", failed[0]);
    assert_eq!(failed[0]["event"]["step"], "hang");
    assert_eq!(deck.status()["steps"][0]["status"], "failed");
}

// ---------------------------------------------------------------------------------------
// 2. A secret appears nowhere
// ---------------------------------------------------------------------------------------

const SECRET: &str = "s3cr3t-0f-the-day";

/// An axum server on 127.0.0.1:0 that answers `/echo` with the Authorization header it got,
/// and remembers every value it got. Stops when dropped.
struct EchoServer {
    runtime: Option<tokio::runtime::Runtime>,
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl EchoServer {
    fn start() -> Self {
        use axum::http::HeaderMap;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let app = axum::Router::new().route(
            "/echo",
            axum::routing::any({
                let seen = Arc::clone(&seen);
                move |headers: HeaderMap| {
                    let seen = Arc::clone(&seen);
                    async move {
                        let auth = headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        seen.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(auth.clone());
                        format!("you sent authorization: {auth}")
                    }
                }
            }),
        );
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        EchoServer { runtime: Some(runtime), url: format!("http://{addr}/echo"), seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// A plan whose first step is a command action with the secret in its environment (printing
/// it on stdout and stderr, and its length), then an http action sending it in a header to
/// `url`, then a gate.
fn secret_plan(deck: &Deck, url: &str) -> PathBuf {
    write_plan(
        deck,
        "secret.toml",
        &format!(
            r#"[actions.use_token]
kind = "command"
argv = ["sh", "-c", "echo token=$TOKEN; echo $TOKEN >&2; echo token-length=${{#TOKEN}}"]
env = {{ TOKEN = "${{env:FD_TEST_SECRET}}" }}
timeout = "20s"

[actions.call]
kind = "http"
method = "POST"
url = "{url}"
headers = {{ Authorization = "Bearer ${{env:FD_TEST_SECRET}}" }}
timeout = "10s"

[[stages]]
id = "s"
name = "S"

  [[stages.steps]]
  id = "use-token"
  kind = "action"
  action = "use_token"

  [[stages.steps]]
  id = "call"
  kind = "action"
  action = "call"

  [[stages.steps]]
  id = "go"
  kind = "gate"
"#
        ),
    )
}

/// Runs the deck's binary with the secret in its environment.
fn run_with_secret(deck: &Deck, args: &[&str]) -> Out {
    let mut cmd = deck.command(args);
    cmd.env("FD_TEST_SECRET", SECRET);
    support::cli::Running::spawn(cmd).wait()
}

#[track_caller]
fn assert_no_secret(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "the secret appears in {what}:\n{text}");
}

/// The database, its WAL and its shared-memory index, as bytes.
fn assert_no_secret_in_db_files(db: &Path) {
    let mut checked = 0;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = PathBuf::from(format!("{}{suffix}", db.display()));
        let Ok(bytes) = std::fs::read(&path) else { continue };
        checked += 1;
        let found = bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
        assert!(!found, "the secret appears in {}", path.display());
    }
    assert!(checked >= 1, "no database file at {}", db.display());
}

#[test]
fn a_secret_appears_nowhere_the_cli_writes() {
    let server = EchoServer::start();
    let deck = Deck::new();
    let plan = secret_plan(&deck, &server.url);
    let mut outputs: Vec<(String, Out)> = Vec::new();

    let out = run_with_secret(&deck, &["check", &plan.to_string_lossy()]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!out.stdout.contains("not set"), "{out:?}");
    outputs.push(("check".into(), out));
    let out = run_with_secret(&deck, &["start", &plan.to_string_lossy(), "--version", "1.4.0"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    outputs.push(("start".into(), out));

    // The command: its output is shown redacted, and the secret did reach it.
    let out = run_with_secret(&deck, &["next"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("  | token=***"), "stdout line redacted: {out:?}");
    assert!(out.stdout.contains("  | ***"), "stderr line redacted: {out:?}");
    assert!(
        out.stdout.contains(&format!("token-length={}", SECRET.len())),
        "the process got the secret: {out:?}"
    );
    outputs.push(("next (command)".into(), out));

    // The http call: the server got the secret, and its echo of it is shown redacted.
    let out = run_with_secret(&deck, &["next"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(server.seen(), [format!("Bearer {SECRET}")], "the header the server got");
    assert!(out.stdout.contains("you sent authorization: Bearer ***"), "{out:?}");
    outputs.push(("next (http)".into(), out));

    let events = deck.events();
    assert_eq!(
        of_kind(&events, "action_finished").len(),
        2,
        "both actions succeeded: {:?}",
        kinds(&events)
    );
    let tails: Vec<&str> = of_kind(&events, "action_finished")
        .iter()
        .map(|e| e["event"]["output_tail"].as_str().unwrap_or_default())
        .collect();
    assert!(tails[0].contains("token=***"), "{tails:?}");
    assert!(tails[1].contains("Bearer ***"), "{tails:?}");

    for args in [
        &["events", "--json"][..],
        &["events"],
        &["status", "--json"],
        &["status"],
        &["list", "--json"],
        &["export"],
    ] {
        let out = run_with_secret(&deck, args);
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
        outputs.push((args.join(" "), out));
    }
    let help = deck.ok(&["--help"]);
    if help.stdout.contains("report") {
        for format in ["md", "json"] {
            let out = run_with_secret(&deck, &["report", "--format", format]);
            assert_eq!(out.code, Some(0), "report --format {format}: {out:?}");
            assert!(
                out.stdout.contains("use_token") || out.stdout.contains("use-token"),
                "{out:?}"
            );
            outputs.push((format!("report --format {format}"), out));
        }
    }
    for (what, out) in &outputs {
        assert_no_secret(&format!("the stdout of `{what}`"), &out.stdout);
        assert_no_secret(&format!("the stderr of `{what}`"), &out.stderr);
    }
    assert_no_secret_in_db_files(&deck.db);
}

#[test]
fn a_secret_appears_nowhere_on_the_cockpit_screen() {
    let server = EchoServer::start();
    let deck = Deck::new();
    let plan = secret_plan(&deck, &server.url);
    let out = run_with_secret(&deck, &["start", &plan.to_string_lossy(), "--version", "1.4.0"]);
    assert_eq!(out.code, Some(0), "{out:?}");

    let pty = cockpit(&deck, &[("FD_TEST_SECRET", SECRET.to_owned())], "use-token");
    pty.send_str("n");
    must(pty.wait_for_text("token=***", timeout(20)));
    must(pty.wait_for_text(&format!("token-length={}", SECRET.len()), timeout(20)));
    deck.wait_events("the command to finish", timeout(20), |e| {
        of_kind(e, "action_finished").len() == 1
    });
    must(pty.wait_for_text("call (waiting)", timeout(10)));
    pty.send_str("n");
    must(pty.wait_for_text("you sent authorization: Bearer ***", timeout(20)));
    deck.wait_events("the call to finish", timeout(20), |e| {
        of_kind(e, "action_finished").len() == 2
    });
    assert_eq!(server.seen(), [format!("Bearer {SECRET}")], "the header the server got");
    pty.send_str("q");
    assert!(pty.wait_exit(timeout(10)).is_some(), "the cockpit quits on q");

    let raw = pty.raw_output();
    let found = raw.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
    assert!(!found, "the secret was written to the terminal:\n{}", String::from_utf8_lossy(&raw));
    assert_no_secret("the last screen", &pty.screen_text());
    assert_no_secret_in_db_files(&deck.db);
}

#[test]
fn a_secret_stays_hidden_when_its_command_cannot_start() {
    // A shell action quoting a secret, with a working directory that does not exist: the
    // failure to start names the command, which must be shown (and stored) redacted.
    let deck = Deck::new();
    let plan = write_plan(
        &deck,
        "nostart.toml",
        r#"[actions.deploy]
kind = "command"
shell = true
argv = ["curl -sf -H 'Authorization: Bearer ${env:FD_TEST_SECRET}' http://127.0.0.1:9/deploy"]
cwd = "/nonexistent/flightdeck-test-checkout"

[[stages]]
id = "s"
name = "S"

  [[stages.steps]]
  id = "deploy"
  kind = "action"
  action = "deploy"

  [[stages.steps]]
  id = "go"
  kind = "gate"
"#,
    );
    let out = run_with_secret(&deck, &["start", &plan.to_string_lossy(), "--version", "1.4.0"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let next = run_with_secret(&deck, &["next"]);
    assert!(next.code.is_some(), "{next:?}");
    let events = deck.events();
    let failed = of_kind(&events, "action_failed");
    assert_eq!(failed.len(), 1, "{:?}", kinds(&events));
    let error = failed[0]["event"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("cannot start") && error.contains("Bearer ***"), "{error}");
    assert_no_secret("the stdout of `next`", &next.stdout);
    assert_no_secret("the stderr of `next`", &next.stderr);
    for args in [&["events", "--json"][..], &["status", "--json"], &["report", "--format", "json"]]
    {
        let out = run_with_secret(&deck, args);
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
        assert_no_secret(&args.join(" "), &out.stdout);
    }
    assert_no_secret_in_db_files(&deck.db);
}

#[test]
fn a_missing_secret_is_reported_by_check_and_refused_by_start() {
    let deck = Deck::new();
    let plan = secret_plan(&deck, "http://127.0.0.1:9/echo");
    let plan_arg = plan.to_string_lossy().into_owned();

    // `command` never passes FD_TEST_SECRET on unless asked; make sure it is not inherited.
    let run_without = |args: &[&str]| {
        let mut cmd = deck.command(args);
        cmd.env_remove("FD_TEST_SECRET");
        support::cli::Running::spawn(cmd).wait()
    };
    let out = run_without(&["check", &plan_arg]);
    assert_eq!(out.code, Some(0), "check still accepts the plan: {out:?}");
    let note = out.stdout.lines().find(|l| l.contains("not set")).unwrap_or_else(|| {
        panic!("check says the variable is not set: {out:?}");
    });
    assert!(note.contains("FD_TEST_SECRET"), "{note}");

    let out = run_without(&["start", &plan_arg, "--version", "1.4.0"]);
    assert_eq!(out.code, Some(1), "start refuses: {out:?}");
    assert!(out.stderr.contains("FD_TEST_SECRET"), "names the variable: {out:?}");
    assert!(out.stderr.contains("not set"), "{out:?}");
    // Nothing was recorded: no database, or one without a release.
    if deck.db.exists() {
        let list = deck.ok(&["list", "--json"]);
        let list: Value = serde_json::from_str(&list.stdout).expect("list --json");
        assert_eq!(list["releases"].as_array().map(Vec::len), Some(0), "{list:#}");
    }
}

// ---------------------------------------------------------------------------------------
// 3. A cockpit SIGKILLed during an action leaves an interrupted action
// ---------------------------------------------------------------------------------------

/// A deck whose release's current step (`work`) was started by a cockpit that was then
/// SIGKILLed mid-action; the action's own process group is gone too.
fn killed_mid_action() -> Deck {
    let deck = Deck::new();
    let pid_file = deck.dir.path().join("action.pid");
    let plan = write_plan(
        &deck,
        "work.toml",
        &format!(
            r#"[actions.work]
kind = "command"
argv = ["sh", "-c", "echo run >> '{runs}'; echo $$ > '{pid}'; printf 'work %s\\n' began; sleep 4; printf 'work %s\\n' done"]
timeout = "30s"

[[stages]]
id = "s"
name = "S"

  [[stages.steps]]
  id = "work"
  kind = "action"
  action = "work"

  [[stages.steps]]
  id = "go"
  kind = "gate"
"#,
            pid = pid_file.display(),
            runs = runs_log(&deck).display()
        ),
    );
    start(&deck, &plan);
    let pty = cockpit(&deck, &[], "work (waiting)");
    pty.send_str("n");
    // Output, not the argv the detail pane shows: that reads `work %s`.
    must(pty.wait_for_text("work began", timeout(20)));
    pty.signal(libc::SIGKILL);
    let status = pty.wait_exit(timeout(10)).expect("the cockpit dies on SIGKILL");
    assert!(!status.success(), "{status:?}");
    drop(pty);
    // The action runs in its own process group, which the cockpit's death does not reach.
    let pgid: i32 = std::fs::read_to_string(&pid_file)
        .expect("the action wrote its pid")
        .trim()
        .parse()
        .expect("a pid");
    kill_group(pgid);

    let events = deck.events();
    assert_eq!(kinds(&events), ["release_started", "action_started"], "before any decision");
    assert_eq!(runs(&deck), 1);
    deck
}

#[track_caller]
fn assert_interrupted_and_waiting(deck: &Deck) -> Vec<Value> {
    let out = deck.run(&["next"]).expect_code(3, "next on an interrupted action");
    assert!(out.stderr.contains("interrupted"), "{out:?}");
    assert!(out.stderr.contains("decide"), "{out:?}");
    let events = deck.events();
    let interrupted = of_kind(&events, "action_interrupted");
    assert_eq!(interrupted.len(), 1, "{:?}", kinds(&events));
    assert_eq!(interrupted[0]["actor"]["name"], "flightdeck (auto)", "{:#}", interrupted[0]);
    assert_eq!(interrupted[0]["event"]["step"], "work");
    assert_eq!(interrupted[0]["event"]["attempt"], 1);
    assert_eq!(of_kind(&events, "action_started").len(), 1, "nothing re-ran by itself");
    assert_eq!(runs(deck), 1, "nothing re-ran by itself");
    assert_eq!(deck.status()["steps"][0]["status"], "interrupted");
    events
}

#[test]
fn after_a_sigkill_mid_action_retry_runs_attempt_2() {
    let deck = killed_mid_action();
    assert_interrupted_and_waiting(&deck);
    let out = deck.ok(&["retry"]);
    assert!(
        out.stdout.contains("  | work began") && out.stdout.contains("  | work done"),
        "{out:?}"
    );
    let events = deck.events();
    let started = of_kind(&events, "action_started");
    assert_eq!(started.len(), 2, "{:?}", kinds(&events));
    assert_eq!(started[1]["event"]["attempt"], 2);
    let finished = of_kind(&events, "action_finished");
    assert_eq!(finished.len(), 1, "{:?}", kinds(&events));
    assert_eq!(finished[0]["event"]["attempt"], 2);
    assert_eq!(runs(&deck), 2, "the retry ran it once more");
    let status = deck.status();
    assert_eq!(status["steps"][0]["status"], "done", "{status:#}");
    assert_eq!(status["release"]["current_step"], "go");
}

#[test]
fn after_a_sigkill_mid_action_resolve_succeeded_completes_the_step() {
    let deck = killed_mid_action();
    assert_interrupted_and_waiting(&deck);
    deck.ok(&["resolve", "--succeeded", "--reason", "checked by hand"]);
    let events = deck.events();
    let resolved = of_kind(&events, "action_resolved");
    assert_eq!(resolved.len(), 1, "{:?}", kinds(&events));
    assert_eq!(resolved[0]["event"]["reason"], "checked by hand");
    assert_eq!(resolved[0]["event"]["succeeded"], true);
    assert_eq!(of_kind(&events, "action_started").len(), 1, "resolving runs nothing");
    assert_eq!(runs(&deck), 1, "resolving runs nothing");
    let status = deck.status();
    assert_eq!(status["steps"][0]["status"], "done", "{status:#}");
    assert_eq!(status["release"]["current_step"], "go");
}

#[test]
fn after_a_sigkill_mid_action_a_new_cockpit_shows_it_interrupted_and_runs_nothing() {
    let deck = killed_mid_action();
    let pty = cockpit(&deck, &[], "work");
    must(pty.wait_for_text("INTERRUPTED", timeout(10)));
    let events = deck.wait_events("the interruption to be recorded", timeout(10), |e| {
        !of_kind(e, "action_interrupted").is_empty()
    });
    assert_eq!(of_kind(&events, "action_interrupted")[0]["actor"]["name"], "flightdeck (auto)");
    // With the cockpit open, nothing starts the action again by itself.
    let until = now() + Duration::from_secs(2);
    while now() < until {
        let events = deck.events();
        assert_eq!(of_kind(&events, "action_started").len(), 1, "{:?}", kinds(&events));
        assert_eq!(runs(&deck), 1, "the action ran again");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(pty.screen_text().contains("INTERRUPTED"), "{}", pty.screen_text());
    pty.send_str("q");
    assert!(pty.wait_exit(timeout(10)).is_some(), "the cockpit quits on q");
    assert_eq!(deck.status()["steps"][0]["status"], "interrupted");
}

// ---------------------------------------------------------------------------------------
// 4. Two cockpits (or two CLI processes) never both run the same action
// ---------------------------------------------------------------------------------------

/// A plan whose first step runs `once`, which logs each run to [`runs`] and takes a second.
fn once_plan(deck: &Deck) -> PathBuf {
    write_plan(
        deck,
        "once.toml",
        &format!(
            r#"[actions.once]
kind = "command"
argv = ["sh", "-c", "echo run >> '{runs}'; printf 'ran %s\\n' once; sleep 1"]
timeout = "30s"

[[stages]]
id = "s"
name = "S"

  [[stages.steps]]
  id = "once"
  kind = "action"
  action = "once"

  [[stages.steps]]
  id = "go"
  kind = "gate"
"#,
            runs = runs_log(deck).display()
        ),
    )
}

/// Asserts the record says the action ran once, and so does its own log of runs: a second
/// run whose outcome the store refused would not show in the events.
#[track_caller]
fn assert_ran_once(deck: &Deck, events: &[Value]) {
    assert_eq!(runs(deck), 1, "the action's own log of runs");
    let started = of_kind(events, "action_started");
    assert_eq!(started.len(), 1, "{:?}", kinds(events));
    assert_eq!(started[0]["event"]["attempt"], 1);
    assert_eq!(of_kind(events, "action_finished").len(), 1, "{:?}", kinds(events));
    assert!(of_kind(events, "action_failed").is_empty(), "{:?}", kinds(events));
}

#[test]
fn two_cockpits_pressing_next_at_once_run_the_action_once() {
    for round in 1..=3 {
        let deck = Deck::new();
        let plan = once_plan(&deck);
        start(&deck, &plan);
        let a = cockpit(&deck, &[], "once (waiting)");
        let b = cockpit(&deck, &[], "once (waiting)");
        a.send_str("n");
        b.send_str("n");
        let events = deck.wait_events("the action to finish", timeout(20), |e| {
            !of_kind(e, "action_finished").is_empty() || !of_kind(e, "action_failed").is_empty()
        });
        assert_ran_once(&deck, &events);
        // The cockpit whose append won ran it and shows its output; the other one refused.
        let by = of_kind(&events, "action_started")[0]["actor"]["pid"].as_i64();
        let (winner, loser) = match by {
            Some(pid) if pid == i64::from(a.pid()) => (&a, &b),
            Some(pid) if pid == i64::from(b.pid()) => (&b, &a),
            _ => panic!("round {round}: started by neither cockpit: {:#}", events[1]),
        };
        must(winner.wait_for_text("ran once", timeout(10)));
        must(loser.wait_for_text("next refused", timeout(10)));
        let screen = loser.screen_text();
        let refusal = screen.lines().find(|l| l.contains("next refused")).unwrap_or_default();
        assert!(
            refusal.contains("moved on") || refusal.contains("running"),
            "round {round}: {refusal}"
        );
        assert!(!winner.screen_text().contains("refused"), "{}", winner.screen_text());
        for pty in [&a, &b] {
            pty.send_str("q");
            assert!(pty.wait_exit(timeout(10)).is_some(), "round {round}: a cockpit quits on q");
        }
        assert_ran_once(&deck, &deck.events());
    }
}

#[test]
fn two_cli_nexts_at_once_run_the_action_once() {
    for round in 1..=3 {
        let deck = Deck::new();
        let plan = once_plan(&deck);
        start(&deck, &plan);
        let first = deck.spawn(&["next"]);
        let second = deck.spawn(&["next"]);
        let outs = [first.wait(), second.wait()];
        let codes: Vec<Option<i32>> = outs.iter().map(|o| o.code).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [Some(0), Some(3)], "round {round}: {outs:#?}");
        let winner = outs.iter().find(|o| o.code == Some(0)).expect("one ran it");
        let loser = outs.iter().find(|o| o.code == Some(3)).expect("one was refused");
        assert!(winner.stdout.contains("  | ran once"), "round {round}: {winner:?}");
        assert!(!loser.stdout.contains("ran once"), "round {round}: {loser:?}");
        assert!(loser.stderr.contains("rejected"), "round {round}: {loser:?}");
        assert_ran_once(&deck, &deck.events());
    }
}

// ---------------------------------------------------------------------------------------
// 5. The rollback procedure
// ---------------------------------------------------------------------------------------

/// A plan with a traffic provider (so the rollback first sets the weight to 0), rollback
/// steps [ok_step, failing_step, ok_step2] and `on_failure`; `failing_step` fails until the
/// marker file exists. Steps: shift to 10%, then a gate.
fn rollback_plan(deck: &Deck, on_failure: &str, marker: &Path) -> PathBuf {
    write_plan(
        deck,
        "rollback.toml",
        &format!(
            r#"[actions.set_weight]
kind = "command"
argv = ["echo", "weight={{weight}}"]

[actions.ok_step]
kind = "command"
argv = ["echo", "ok one"]

[actions.failing_step]
kind = "command"
argv = ["sh", "-c", "if [ -e '{marker}' ]; then echo marker found; else echo no marker; exit 1; fi"]

[actions.ok_step2]
kind = "command"
argv = ["echo", "ok two"]

[traffic]
set = "set_weight"

[rollback]
steps = ["ok_step", "failing_step", "ok_step2"]
on_failure = "{on_failure}"

[[stages]]
id = "s"
name = "S"

  [[stages.steps]]
  id = "shift-10"
  kind = "traffic"
  weight = 10

  [[stages.steps]]
  id = "go"
  kind = "gate"
"#,
            marker = marker.display()
        ),
    )
}

/// Starts the release and shifts to 10%.
fn started_at_10(deck: &Deck, plan: &Path) {
    start(deck, plan);
    deck.ok(&["next"]);
    let status = deck.status();
    assert_eq!(status["release"]["weight"], 10, "{status:#}");
    assert_eq!(status["release"]["current_step"], "go");
}

/// `(kind, step, attempt)` of each action event of the rollback, in order.
fn rollback_actions(events: &[Value]) -> Vec<(String, String, u64)> {
    events
        .iter()
        .filter(|e| kind(e).starts_with("action_"))
        .filter(|e| e["event"]["step"].as_str().is_some_and(|s| s.starts_with("rollback-")))
        .map(|e| {
            (
                kind(e).to_owned(),
                e["event"]["step"].as_str().unwrap_or_default().to_owned(),
                e["event"]["attempt"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn row(kind: &str, step: &str, attempt: u64) -> (String, String, u64) {
    (kind.to_owned(), step.to_owned(), attempt)
}

#[test]
fn a_rollback_that_continues_past_a_failure_records_every_step_and_ends_rolled_back() {
    let deck = Deck::new();
    let marker = deck.dir.path().join("marker");
    let plan = rollback_plan(&deck, "continue", &marker);
    started_at_10(&deck, &plan);

    // A step of the procedure failed: exit 4, though the procedure went on to its end.
    let out = deck
        .run(&["rollback", "--reason", "error rate doubled", "--confirm"])
        .expect_code(4, "a rollback whose procedure had a failure");
    assert!(out.stderr.contains("`rollback-3-failing_step` attempt 1 failed"), "{out:?}");
    assert!(out.stdout.contains("  | ok one") && out.stdout.contains("  | ok two"), "{out:?}");
    assert!(out.stdout.contains("  | no marker"), "{out:?}");

    let events = deck.events();
    assert_eq!(
        rollback_actions(&events),
        [
            row("action_started", "rollback-1-traffic", 1),
            row("action_finished", "rollback-1-traffic", 1),
            row("action_started", "rollback-2-ok_step", 1),
            row("action_finished", "rollback-2-ok_step", 1),
            row("action_started", "rollback-3-failing_step", 1),
            row("action_failed", "rollback-3-failing_step", 1),
            row("action_started", "rollback-4-ok_step2", 1),
            row("action_finished", "rollback-4-ok_step2", 1),
        ],
        "{:?}",
        kinds(&events)
    );
    assert_eq!(of_kind(&events, "rollback_started").len(), 1);
    assert_eq!(kinds(&events).last(), Some(&"rollback_finished"), "{:?}", kinds(&events));
    let status = deck.status();
    assert_eq!(status["release"]["status"], "rolled_back", "{status:#}");
    assert_eq!(status["release"]["weight"], 0, "{status:#}");

    // A rolled-back release cannot be rolled back again; nothing is recorded.
    let out = deck.run(&["rollback", "--reason", "again", "--confirm"]).expect_code(3, "again");
    assert!(out.stderr.contains("rolled back"), "{out:?}");
    assert_eq!(deck.events(), events);
}

#[test]
fn a_rollback_that_halts_on_a_failure_waits_for_retry_then_finishes() {
    let deck = Deck::new();
    let marker = deck.dir.path().join("marker");
    let plan = rollback_plan(&deck, "halt", &marker);
    started_at_10(&deck, &plan);

    let out = deck
        .run(&["rollback", "--reason", "error rate doubled", "--confirm"])
        .expect_code(4, "a rollback halted by a failed step");
    assert!(out.stdout.contains("  | no marker"), "{out:?}");
    assert!(!out.stdout.contains("ok two"), "it went on past the failure: {out:?}");
    let events = deck.events();
    assert_eq!(
        rollback_actions(&events),
        [
            row("action_started", "rollback-1-traffic", 1),
            row("action_finished", "rollback-1-traffic", 1),
            row("action_started", "rollback-2-ok_step", 1),
            row("action_finished", "rollback-2-ok_step", 1),
            row("action_started", "rollback-3-failing_step", 1),
            row("action_failed", "rollback-3-failing_step", 1),
        ],
        "{:?}",
        kinds(&events)
    );
    let status = deck.status();
    assert_eq!(status["release"]["status"], "rolling_back", "{status:#}");
    assert_eq!(status["release"]["weight"], 0, "the traffic step ran first: {status:#}");

    // Starting it again does nothing: refused, nothing recorded.
    let out = deck.run(&["rollback", "--reason", "again", "--confirm"]).expect_code(3, "twice");
    assert!(out.stderr.contains("already in progress"), "{out:?}");
    assert_eq!(deck.events(), events, "the second rollback recorded something");

    // Fixed by hand; retry re-runs the step the procedure stopped at, and it goes on.
    std::fs::write(&marker, "fixed").expect("marker");
    let out = deck.ok(&["retry"]);
    assert!(out.stdout.contains("  | marker found"), "{out:?}");
    assert!(out.stdout.contains("  | ok two"), "{out:?}");
    let events = deck.events();
    let actions = rollback_actions(&events);
    assert_eq!(
        actions[6..],
        [
            row("action_started", "rollback-3-failing_step", 2),
            row("action_finished", "rollback-3-failing_step", 2),
            row("action_started", "rollback-4-ok_step2", 1),
            row("action_finished", "rollback-4-ok_step2", 1),
        ],
        "{actions:?}"
    );
    assert_eq!(of_kind(&events, "rollback_started").len(), 1);
    assert_eq!(kinds(&events).last(), Some(&"rollback_finished"), "{:?}", kinds(&events));
    let status = deck.status();
    assert_eq!(status["release"]["status"], "rolled_back", "{status:#}");
    assert_eq!(status["release"]["weight"], 0);
}

// ---------------------------------------------------------------------------------------
// A failed action follows its step's on_failure
// ---------------------------------------------------------------------------------------

/// Shift to 10%, then a smoke test that exits 1 and says `on_failure`.
fn smoke_plan(deck: &Deck, on_failure: &str) -> PathBuf {
    write_plan(
        deck,
        "smoke.toml",
        &format!(
            r#"[actions.set_weight]
kind = "command"
argv = ["echo", "weight={{weight}}"]

[actions.smoke]
kind = "command"
argv = ["sh", "-c", "echo smoke says no; exit 1"]

[actions.undeploy]
kind = "command"
argv = ["echo", "undeploying"]

[traffic]
set = "set_weight"

[rollback]
steps = ["undeploy"]

[[stages]]
id = "s"

  [[stages.steps]]
  id = "shift-10"
  kind = "traffic"
  weight = 10

  [[stages.steps]]
  id = "smoke-test"
  kind = "action"
  action = "smoke"
  on_failure = "{on_failure}"

  [[stages.steps]]
  id = "go"
  kind = "gate"
"#
        ),
    )
}

#[test]
fn next_whose_action_fails_with_on_failure_rollback_rolls_back_and_exits_4() {
    let deck = Deck::new();
    let plan = smoke_plan(&deck, "rollback");
    start(&deck, &plan);
    deck.ok(&["next"]);
    let out = deck.run(&["next"]).expect_code(4, "a smoke test that failed");
    assert!(out.stdout.contains("  | smoke says no"), "{out:?}");
    assert!(out.stderr.contains("`smoke-test` attempt 1 failed"), "{out:?}");
    assert!(out.stderr.contains("on_failure") && out.stderr.contains("rolled back"), "{out:?}");
    assert!(out.stdout.contains("  | undeploying"), "the rollback ran here: {out:?}");

    let events = deck.events();
    let started = of_kind(&events, "rollback_started");
    assert_eq!(started.len(), 1, "{:?}", kinds(&events));
    let rollback = started[0];
    assert_eq!(rollback["event"]["automatic"], true, "{rollback:#}");
    assert_eq!(rollback["actor"]["automatic"], true, "flightdeck decided it: {rollback:#}");
    let reason = rollback["event"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("smoke-test") && reason.contains("exit"), "{reason}");
    assert_eq!(kinds(&events).last(), Some(&"rollback_finished"), "{:?}", kinds(&events));
    let status = deck.status();
    assert_eq!(status["release"]["status"], "rolled_back", "{status:#}");
    assert_eq!(status["release"]["weight"], 0, "{status:#}");
}

#[test]
fn next_whose_action_fails_with_on_failure_pause_pauses_and_exits_4() {
    let deck = Deck::new();
    let plan = smoke_plan(&deck, "pause");
    start(&deck, &plan);
    deck.ok(&["next"]);
    let out = deck.run(&["next"]).expect_code(4, "a smoke test that failed");
    assert!(out.stderr.contains("paused"), "{out:?}");
    let status = deck.status();
    assert_eq!(status["release"]["status"], "paused", "{status:#}");
    let events = deck.events();
    assert_eq!(of_kind(&events, "paused").len(), 1, "{:?}", kinds(&events));
    assert!(of_kind(&events, "rollback_started").is_empty(), "{:?}", kinds(&events));
}

#[test]
fn next_whose_action_fails_with_on_failure_ask_waits_and_exits_4() {
    let deck = Deck::new();
    let plan = smoke_plan(&deck, "ask");
    start(&deck, &plan);
    deck.ok(&["next"]);
    let out = deck.run(&["next"]).expect_code(4, "a smoke test that failed");
    assert!(out.stderr.contains("the release waits"), "{out:?}");
    let status = deck.status();
    assert_eq!(status["release"]["status"], "running", "{status:#}");
    let events = deck.events();
    assert!(
        of_kind(&events, "paused").is_empty() && of_kind(&events, "rollback_started").is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// Outputs between steps
// ---------------------------------------------------------------------------------------

/// A deploy printing JSON (`outputs = { deploy_id = "/id" }`), a smoke test that echoes the
/// id and the date, then a gate; the rollback procedure reverts the deploy by its id.
fn outputs_plan(deck: &Deck, deploy_prints: &str) -> PathBuf {
    write_plan(
        deck,
        "outputs.toml",
        &format!(
            r#"[actions.set_weight]
kind = "command"
argv = ["echo", "weight={{weight}}"]

[actions.deploy]
kind = "command"
argv = ["sh", "-c", '''echo deploying; echo '{deploy_prints}' ''']
outputs = {{ deploy_id = "/id" }}

[actions.smoke]
kind = "command"
argv = ["echo", "smoke of {{outputs.deploy-app.deploy_id}} on {{date}} at {{timestamp}}"]

[actions.revert]
kind = "command"
argv = ["echo", "reverting {{outputs.deploy-app.deploy_id}}"]

[traffic]
set = "set_weight"

[rollback]
steps = ["revert"]

[[stages]]
id = "s"

  [[stages.steps]]
  id = "deploy-app"
  kind = "action"
  action = "deploy"

  [[stages.steps]]
  id = "smoke-test"
  kind = "action"
  action = "smoke"

  [[stages.steps]]
  id = "shift-10"
  kind = "traffic"
  weight = 10

  [[stages.steps]]
  id = "go"
  kind = "gate"
"#
        ),
    )
}

#[test]
fn an_output_of_one_action_fills_a_later_action_and_a_rollback_step() {
    let deck = Deck::new();
    let plan = outputs_plan(&deck, r#"{"id": "dep-4711", "status": "live"}"#);
    start(&deck, &plan);
    let out = deck.ok(&["next"]);
    assert!(out.stdout.contains("output deploy_id = dep-4711"), "{out:?}");
    let out = deck.ok(&["next"]);
    let line = out.stdout.lines().find(|l| l.contains("| smoke of")).unwrap_or_default();
    assert!(line.contains("smoke of dep-4711 on 20"), "{out:?}");
    // {timestamp} is ISO 8601 basic, fit for a file name: 20261202T101500Z.
    let stamp = line.rsplit(' ').next().unwrap_or_default();
    assert!(
        stamp.len() == 16
            && stamp.ends_with('Z')
            && stamp.as_bytes()[8] == b'T'
            && !stamp.contains(':'),
        "{line}"
    );

    let events = deck.events();
    let finished = of_kind(&events, "action_finished");
    assert_eq!(finished[0]["event"]["outputs"]["deploy_id"], "dep-4711", "{:#}", finished[0]);
    assert!(finished[1]["event"].get("outputs").is_none(), "no outputs declared: none recorded");

    deck.ok(&["next"]); // shift to 10%
    let out = deck.ok(&["rollback", "--reason", "smoke looked wrong", "--confirm"]);
    assert!(out.stdout.contains("  | reverting dep-4711"), "{out:?}");
}

#[test]
fn an_output_whose_pointer_finds_nothing_fails_the_action() {
    let deck = Deck::new();
    let plan = outputs_plan(&deck, r#"{"deployment": "dep-4711"}"#);
    start(&deck, &plan);
    let out = deck.run(&["next"]).expect_code(4, "a deploy without its id");
    assert!(out.stderr.contains("output `deploy_id`") && out.stderr.contains("`/id`"), "{out:?}");
    let events = deck.events();
    assert_eq!(of_kind(&events, "action_failed").len(), 1, "{:?}", kinds(&events));
}

#[test]
fn check_refuses_an_output_of_a_later_step_or_an_undeclared_name() {
    let deck = Deck::new();
    let plan = outputs_plan(&deck, "{}");
    let text = std::fs::read_to_string(&plan).expect("plan");
    // The smoke test also runs before the deploy whose id it reads.
    let later = text.replace(
        "[[stages.steps]]\n  id = \"deploy-app\"",
        "[[stages.steps]]\n  id = \"early\"\n  kind = \"action\"\n  action = \"smoke\"\n\n  [[stages.steps]]\n  id = \"deploy-app\"",
    );
    let path = deck.write("later.toml", &later);
    let out = deck.run(&[Path::new("check"), &path]).expect_code(1, "an output read too early");
    assert!(
        out.stderr.contains("{outputs.deploy-app.deploy_id} cannot be filled")
            && out.stderr.contains("step `early` runs this action before"),
        "{out:?}"
    );

    let undeclared = text.replace(
        "{outputs.deploy-app.deploy_id}\"]\n\n[traffic]",
        "{outputs.deploy-app.url}\"]\n\n[traffic]",
    );
    assert_ne!(undeclared, text);
    let path = deck.write("undeclared.toml", &undeclared);
    let out = deck.run(&[Path::new("check"), &path]).expect_code(1, "an undeclared output");
    assert!(out.stderr.contains("declares no output `url` (it declares: deploy_id)"), "{out:?}");

    let unknown =
        text.replace("{outputs.deploy-app.deploy_id} on", "{outputs.deploy.deploy_id} on");
    let path = deck.write("unknown.toml", &unknown);
    let out = deck.run(&[Path::new("check"), &path]).expect_code(1, "an unknown step");
    assert!(out.stderr.contains("there is no step `deploy`"), "{out:?}");

    deck.ok(&[Path::new("check"), &plan]);
}
