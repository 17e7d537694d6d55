//! End-to-end tests of the cockpit: the real binary on a pseudo-terminal (`support::pty`),
//! driven by keys, next to CLI processes writing to the same database, checked on screen and
//! then in the record (`events --json`, `status --json`).
//!
//! Every test has its own temp dir holding the database, `HOME` and the XDG directories, so
//! no user config, data or `FLIGHTDECK_*` variable leaks in. Tests wait on the screen with
//! env-scaled timeouts and never sleep-then-assert; every process they start is stopped by
//! them (a `Pty` kills its child when dropped, CLI runs are bounded and killed if they hang).

mod support;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;

use serde_json::Value;
use support::pty::{Pty, now, timeout};
use tempfile::TempDir;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");

/// Service `shop`: checklist `pre` (tests, oncall), gate `go` (2 approvals), action `backup`,
/// traffic 10, bake 1 s, traffic 100, checklist `post`; declared operators allowed.
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/basic.toml");

const VERSION: &str = "1.4.0";

/// What a finished CLI run left behind.
#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// One test's world: a temp dir with the database, `HOME` and the XDG directories.
struct World {
    dir: TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::Builder::new().prefix("flightdeck-e2e-").tempdir().expect("temp dir");
        for sub in ["home", "config", "data"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("create dir");
        }
        World { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The environment every process of this world gets.
    fn env(&self) -> Vec<(&'static str, String)> {
        let s = |name: &str| self.path(name).to_string_lossy().into_owned();
        vec![
            ("FLIGHTDECK_DB", s("f.db")),
            ("HOME", s("home")),
            ("XDG_CONFIG_HOME", s("config")),
            ("XDG_DATA_HOME", s("data")),
        ]
    }

    /// Opens the cockpit (`flightdeck ARGS`) on a `cols`×`rows` terminal.
    fn cockpit(&self, args: &[&str], cols: u16, rows: u16) -> Pty {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Pty::spawn(args, cols, rows, &env)
    }

    /// Runs the CLI without a terminal, stdin closed and output piped; kills it if it hangs.
    fn run(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .current_dir(self.dir.path());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("FLIGHTDECK_") {
                cmd.env_remove(&key);
            }
        }
        cmd.envs(self.env());
        let mut child = cmd.spawn().expect("spawn flightdeck");
        let stdout = drain(child.stdout.take().expect("stdout"));
        let stderr = drain(child.stderr.take().expect("stderr"));
        let deadline = now() + timeout(30);
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("flightdeck {args:?} did not finish within {:?}", timeout(30));
            }
            std::thread::sleep(support::pty::POLL);
        };
        Out {
            code: status.code(),
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
        }
    }

    /// Runs the CLI and asserts it succeeded; returns its stdout.
    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.code,
            Some(0),
            "flightdeck {args:?} failed\n--- stdout\n{}\n--- stderr\n{}",
            out.stdout,
            out.stderr
        );
        out.stdout
    }

    /// Starts a release of the fixture plan.
    fn start(&self) {
        self.ok(&["start", FIXTURE, "--version", VERSION]);
    }

    /// Every recorded event (`events --json`), oldest first.
    fn events(&self) -> Vec<Value> {
        self.ok(&["events", "--json"])
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect()
    }

    /// `status --json`.
    fn status(&self) -> Value {
        let text = self.ok(&["status", "--json"]);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad status JSON: {e}\n{text}"))
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn kind(event: &Value) -> &str {
    event["event"]["kind"].as_str().unwrap_or_default()
}

fn actor(event: &Value) -> &str {
    event["actor"]["name"].as_str().unwrap_or_default()
}

fn of_kind<'a>(events: &'a [Value], k: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| kind(e) == k).collect()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(kind).collect()
}

/// Unwraps a wait, panicking with the harness's description (screen, raw output).
#[track_caller]
fn must(result: Result<(), String>) {
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Waits for the first screen of a release.
fn wait_for_cockpit(pty: &Pty) {
    must(pty.wait_for_text("PRODUCTION", timeout(10)));
    must(pty.wait_until(
        |s| {
            let text = s.contents();
            text.contains("Pre-deploy checklist") && text.contains("Go/no-go")
        },
        timeout(10),
    ));
}

/// Quits with `q` and checks the terminal was handed back.
fn quit_cleanly(pty: &Pty) {
    pty.send_str("q");
    let status = pty.wait_exit(timeout(10)).expect("the cockpit exits after q");
    assert!(status.success(), "exit status after q: {status:?}\n{}", pty.screen_text());
    assert!(!pty.alternate_screen(), "still on the alternate screen after q");
    assert!(!pty.hide_cursor(), "cursor still hidden after q");
}

// ---- 1. a whole release through the keys ------------------------------------------

fn drive_a_release(cols: u16, rows: u16) {
    let world = World::new();
    world.start();
    let me = flightdeck::identity::os_account();
    assert_ne!(me, "bob", "the test needs an OS account other than the declared operator");

    let pty = world.cockpit(&[], cols, rows);
    wait_for_cockpit(&pty);
    for step in ["backup", "shift-10", "bake-10", "shift-100"] {
        must(pty.wait_for_text(step, timeout(10)));
    }

    // Tick both items of `pre` from the Detail pane.
    pty.enter();
    must(pty.wait_for_text("▸ Detail", timeout(10)));
    pty.send_str(" ");
    must(pty.wait_for_text("[x] CI is green", timeout(10)));
    pty.send_str("j");
    pty.send_str(" ");
    must(pty.wait_for_text("[x] On-call is aware", timeout(10)));

    // Complete the checklist: the gate becomes current.
    pty.send_str("n");
    must(pty.wait_for_text("Go/no-go (waiting)", timeout(10)));

    // Approve here, then a second time from another process as bob.
    pty.send_str("a");
    must(pty.wait_for_text(&format!("✓ {me} approved"), timeout(10)));
    world.ok(&["approve", "--operator", "bob"]);
    must(pty.wait_until(|s| s.contents().contains("✓ bob approved"), timeout(2)));

    // Pass the gate, then run the backup action here.
    pty.send_str("n");
    must(pty.wait_for_text("backup (waiting)", timeout(10)));
    pty.send_str("n");
    if cols < 100 {
        // One pane at a time: Detail → Health → Metrics → Timeline → Output.
        for _ in 0..4 {
            pty.tab();
        }
        must(pty.wait_for_text("▸ Output", timeout(10)));
    }
    must(pty.wait_for_text(&format!("backing up {VERSION}"), timeout(10)));
    must(pty.wait_for_text("completed backup", timeout(10)));
    let before_prompt = world.events();
    assert_eq!(kinds(&before_prompt).last(), Some(&"step_completed"), "{before_prompt:#?}");

    // The rollback prompt, cancelled: nothing is recorded.
    pty.send_str("R");
    must(pty.wait_for_text(&format!("ROLL BACK shop {VERSION}"), timeout(10)));
    must(pty.wait_for_text("type `shop` to confirm", timeout(10)));
    pty.esc();
    must(pty.wait_until(
        |s| {
            let text = s.contents();
            !text.contains("ROLL BACK") && text.contains("cancelled; nothing was done")
        },
        timeout(10),
    ));
    assert_eq!(world.events(), before_prompt, "Esc on the rollback prompt recorded something");
    assert_eq!(world.status()["release"]["status"], "running");

    // The rollback prompt, confirmed: a reason, then the service name typed exactly.
    let reason = "error rate doubled on the canary";
    pty.send_str("R");
    must(pty.wait_for_text(&format!("ROLL BACK shop {VERSION}"), timeout(10)));
    pty.send_str(reason);
    pty.enter();
    pty.send_str("shop");
    pty.enter();
    must(pty.wait_for_text("ROLLED BACK", timeout(10)));

    quit_cleanly(&pty);

    // The record.
    let events = world.events();
    let all = kinds(&events);
    let ticks = of_kind(&events, "item_ticked");
    assert_eq!(ticks.len(), 2, "{all:?}");
    let items: Vec<&str> = ticks.iter().map(|e| e["event"]["item"].as_str().unwrap()).collect();
    assert_eq!(items, ["tests", "oncall"]);
    assert!(ticks.iter().all(|e| e["event"]["step"] == "pre" && actor(e) == me), "{ticks:#?}");

    let approvals = of_kind(&events, "approval_given");
    assert_eq!(approvals.len(), 2, "{all:?}");
    let mut approvers: Vec<&str> = approvals.iter().map(|e| actor(e)).collect();
    approvers.sort_unstable();
    let mut expected = vec![me.as_str(), "bob"];
    expected.sort_unstable();
    assert_eq!(approvers, expected);
    assert!(approvals.iter().all(|e| e["event"]["step"] == "go"));
    let bob = approvals.iter().find(|e| actor(e) == "bob").unwrap();
    assert_eq!(bob["actor"]["account"], me.as_str(), "bob is declared on the OS account");

    let completed: Vec<&str> = of_kind(&events, "step_completed")
        .iter()
        .map(|e| e["event"]["step"].as_str().unwrap())
        .collect();
    assert!(completed.starts_with(&["pre", "go", "backup"]), "completed: {completed:?}");

    let started = of_kind(&events, "action_started");
    assert!(
        started.iter().any(|e| e["event"]["step"] == "backup" && e["event"]["action"] == "backup"),
        "{started:#?}"
    );
    let finished = of_kind(&events, "action_finished");
    let backup = finished.iter().find(|e| e["event"]["step"] == "backup").expect("backup finished");
    assert_eq!(backup["event"]["exit_code"], 0);
    assert!(
        backup["event"]["output_tail"].as_str().unwrap_or_default().contains("backing up 1.4.0"),
        "{backup:#}"
    );

    let rollbacks = of_kind(&events, "rollback_started");
    assert_eq!(rollbacks.len(), 1, "{all:?}");
    assert_eq!(rollbacks[0]["event"]["reason"], reason);
    assert_eq!(rollbacks[0]["event"]["automatic"], false);
    assert_eq!(actor(rollbacks[0]), me);
    assert_eq!(all.last(), Some(&"rollback_finished"), "{all:?}");

    let status = world.status();
    assert_eq!(status["release"]["status"], "rolled_back");
    assert_eq!(status["release"]["weight"], 0);
}

#[test]
fn a_release_driven_through_the_keys_at_120x40() {
    drive_a_release(120, 40);
}

#[test]
fn a_release_driven_through_the_keys_at_80x24() {
    drive_a_release(80, 24);
}

// ---- 2. signals ---------------------------------------------------------------------

fn a_signal_leaves_the_terminal_and_the_release_intact(sig: i32, name: &str) {
    let world = World::new();
    world.start();
    let pty = world.cockpit(&[], 120, 40);
    wait_for_cockpit(&pty);
    pty.enter();
    pty.send_str(" ");
    must(pty.wait_for_text("[x] CI is green", timeout(10)));
    let before = world.events();
    assert_eq!(kinds(&before), ["release_started", "item_ticked"]);

    pty.signal(sig);
    let status = pty
        .wait_exit(timeout(10))
        .unwrap_or_else(|| panic!("the cockpit did not exit on {name}\n{}", pty.screen_text()));
    assert!(status.success(), "exit status on {name}: {status:?}");
    assert!(!pty.alternate_screen(), "still on the alternate screen after {name}");
    assert!(!pty.hide_cursor(), "cursor still hidden after {name}");
    must(pty.wait_for_text(&format!("{name} received"), timeout(10)));

    assert_eq!(world.events(), before, "{name} changed the record");
    let status = world.status();
    assert_eq!(status["release"]["status"], "running");
    assert_eq!(status["release"]["seq"], 2);
}

#[test]
fn sighup_leaves_the_terminal_and_the_release_intact() {
    a_signal_leaves_the_terminal_and_the_release_intact(libc::SIGHUP, "SIGHUP");
}

#[test]
fn sigterm_leaves_the_terminal_and_the_release_intact() {
    a_signal_leaves_the_terminal_and_the_release_intact(libc::SIGTERM, "SIGTERM");
}

/// Raw mode makes Ctrl-C a key, so SIGINT only comes from outside (`kill -INT`): it must
/// hand the terminal back like TERM and HUP do.
#[test]
fn sigint_from_outside_leaves_the_terminal_and_the_release_intact() {
    a_signal_leaves_the_terminal_and_the_release_intact(libc::SIGINT, "SIGINT");
}

// ---- 3. typed confirmations ---------------------------------------------------------

#[test]
fn a_held_key_cannot_confirm_a_rollback() {
    let world = World::new();
    world.start();
    let pty = world.cockpit(&[], 120, 40);
    wait_for_cockpit(&pty);
    let before = world.events();

    // A held R opens the prompt and fills the reason; held Enter cannot fill the service name.
    pty.send_str("RRRRRRRR\r");
    pty.send_str("\r\r\r\r\r\r\r\r");
    must(pty.wait_for_text("type `shop` to confirm is required", timeout(10)));
    // Nor can the name in the wrong case.
    pty.send_str("SHOP\r");
    must(pty.wait_for_text("type `shop` exactly to confirm", timeout(10)));
    // Every key so far has been handled once this one shows.
    pty.send_str("x");
    must(pty.wait_for_text("SHOPx▏", timeout(10)));
    assert!(pty.screen_text().contains("RRRRRRR"), "the reason field: {}", pty.screen_text());
    assert_eq!(world.events(), before, "the prompt recorded something");

    pty.esc();
    must(pty.wait_until(
        |s| {
            let text = s.contents();
            !text.contains("ROLL BACK") && text.contains("cancelled; nothing was done")
        },
        timeout(10),
    ));
    assert_eq!(world.events(), before, "the cancelled prompt recorded something");
    assert_eq!(world.status()["release"]["status"], "running");
    quit_cleanly(&pty);
}

// ---- 4. read-only -------------------------------------------------------------------

#[test]
fn a_read_only_cockpit_refuses_every_acting_key() {
    let world = World::new();
    world.start();
    let before = world.events();
    let pty = world.cockpit(&["--read-only"], 120, 40);
    wait_for_cockpit(&pty);
    must(pty.wait_until(
        |s| s.contents().lines().next().unwrap_or("").contains("READ-ONLY"),
        timeout(10),
    ));

    pty.send_str("a");
    must(pty.wait_for_text("read-only cockpit: `a` (approve) is disabled", timeout(10)));
    pty.send_str("n");
    must(pty.wait_for_text("read-only cockpit: `n` (next) is disabled", timeout(10)));
    let footer = pty.with_screen(|s| s.rows(0, 120).nth(38).unwrap_or_default());
    assert!(footer.contains("read-only"), "footer: {footer:?}");
    assert!(!footer.contains("approve"), "acting keys offered read-only: {footer:?}");

    assert_eq!(world.events(), before, "a read-only cockpit recorded something");
    quit_cleanly(&pty);
}

// ---- 4b. refuse before asking, and a footer that fits the moment (issue 13.4, 13.5) ----

#[test]
fn a_refused_key_says_why_at_once_and_the_footer_offers_what_is_accepted_at_80x24() {
    let world = World::new();
    world.start();
    let before = world.events();
    let pty = world.cockpit(&[], 80, 24);
    wait_for_cockpit(&pty);
    // At the checklist: no approve, no shift; a rollback is possible and stays on the line.
    must(pty.wait_until(
        |s| {
            let footer = s.rows(0, 80).nth(22).unwrap_or_default();
            footer.contains("R rollback") && !footer.contains("a approve")
        },
        timeout(10),
    ));
    let footer = pty.with_screen(|s| s.rows(0, 80).nth(22).unwrap_or_default());
    assert!(!footer.contains("s shift"), "shift offered at a checklist: {footer:?}");

    // `d` at a checklist: refused at once, no dialog asks why first.
    pty.send_str("d");
    must(pty.wait_for_text("decline refused: cannot decline", timeout(10)));
    assert!(!pty.screen_text().contains("No-go at the current gate"), "{}", pty.screen_text());
    // `m` with nothing failed: the same.
    pty.send_str("m");
    must(pty.wait_for_text("resolve refused: cannot resolve", timeout(10)));
    assert!(!pty.screen_text().contains("Mark the action"), "{}", pty.screen_text());

    assert_eq!(world.events(), before, "a refused key recorded something");
    quit_cleanly(&pty);
}

// ---- 4c. decisions stay in view (issue 13.2) -----------------------------------------

/// A canary bake watching a health endpoint nobody answers (port 9), down after one failed
/// check: the cockpit driving it rolls back by itself within seconds.
const BREACHING_PLAN: &str = r#"
[service]
name = "shop"
environment = "production"

[[health]]
id = "green"
url = "http://127.0.0.1:9/health"
interval = "1s"
timeout = "1s"
down_after = 1

[actions.set_weight]
kind = "command"
argv = ["echo", "weight={weight}"]
timeout = "10s"

[actions.undeploy]
kind = "command"
argv = ["echo", "undeploying {version}"]

[traffic]
set = "set_weight"
stable_label = "blue"
canary_label = "green"

[rollback]
steps = ["undeploy"]

[[stages]]
id = "canary"
name = "Canary"

  [[stages.steps]]
  id = "shift-10"
  kind = "traffic"
  weight = 10

  [[stages.steps]]
  id = "bake-10"
  kind = "bake"
  duration = "10m"
  probes = ["green"]
  on_breach = "rollback"

  [[stages.steps]]
  id = "shift-100"
  kind = "traffic"
  weight = 100
"#;

/// The banner row(s) under the header: rows 2 and 3.
fn banner_rows(pty: &Pty, cols: u16) -> String {
    pty.with_screen(|s| s.rows(0, cols).skip(2).take(2).collect::<Vec<_>>().join("\n"))
}

#[test]
fn an_automatic_rollback_keeps_its_banner_until_acknowledged() {
    let world = World::new();
    let plan = world.path("breaching.toml");
    std::fs::write(&plan, BREACHING_PLAN).expect("write the plan");
    let plan = plan.to_string_lossy().into_owned();
    world.ok(&["start", &plan, "--version", VERSION]);
    world.ok(&["next"]);
    world.ok(&["next"]);
    assert_eq!(world.status()["release"]["status"], "running");

    // This cockpit drives: it sees green down and rolls back by itself.
    let pty = world.cockpit(&[], 120, 40);
    must(pty.wait_for_text("ROLLED BACK", timeout(30)));
    must(pty.wait_for_text("rollback finished", timeout(10)));
    // The procedure is over and its status line gone; the reason is still in view, whole.
    let banner = banner_rows(&pty, 120);
    assert!(banner.contains("ROLLBACK started automatically"), "banner: {banner}");
    assert!(banner.contains("green is down"), "banner: {banner}");
    assert!(banner.contains("connection refused"), "banner: {banner}");
    assert!(banner.contains("x acknowledges"), "banner: {banner}");
    let footer = pty.with_screen(|s| s.rows(0, 120).nth(38).unwrap_or_default());
    assert!(footer.contains("x ack"), "footer: {footer:?}");

    // Refused before asking: a pause after the rollback says why at once, no dialog.
    pty.send_str("p");
    must(pty.wait_for_text("pause refused", timeout(10)));
    assert!(!pty.screen_text().contains("Pause the release"), "{}", pty.screen_text());

    // Another operator's screen, opened after the fact, shows the same banner at 80×24.
    let other = world.cockpit(&["--read-only"], 80, 24);
    must(other.wait_for_text("ROLLBACK started automatically", timeout(10)));

    // Acknowledged here: gone from this screen only.
    pty.send_str("x");
    must(pty.wait_for_text("acknowledged on this screen", timeout(10)));
    let banner = banner_rows(&pty, 120);
    assert!(!banner.contains("ROLLBACK started automatically"), "banner: {banner}");
    assert!(other.screen_text().contains("ROLLBACK started automatically"));
    // Still in the timeline.
    assert!(pty.screen_text().contains("ROLLBACK started automatically"), "{}", pty.screen_text());
    quit_cleanly(&pty);
    quit_cleanly(&other);

    let events = world.events();
    let rollbacks = of_kind(&events, "rollback_started");
    assert_eq!(rollbacks.len(), 1, "{:?}", kinds(&events));
    assert_eq!(rollbacks[0]["event"]["automatic"], true);
}

// ---- 4d. the command line and the live filter (issue 13.7) ---------------------------

#[test]
fn the_command_line_and_the_filter_work_on_several_panes_at_80x24() {
    let world = World::new();
    world.start();
    let pty = world.cockpit(&[], 80, 24);
    wait_for_cockpit(&pty);

    // `:` with Tab completion: a note is recorded.
    pty.send_str(":no");
    pty.tab();
    must(pty.wait_for_text(":note ▏", timeout(10)));
    pty.send_str("checked the dashboards");
    pty.enter();
    must(pty.wait_for_text("note: checked the dashboards", timeout(10)));
    // An unknown verb is a clear error; nothing is recorded.
    pty.send_str(":launch");
    pty.enter();
    must(pty.wait_for_text("unknown command `launch`", timeout(10)));
    // `:pause why` pauses through the pause dialog's rule: the reason is recorded.
    pty.send_str(":pause waiting for the db team");
    pty.enter();
    must(pty.wait_for_text("PAUSED", timeout(10)));
    // The footer fits the moment: resume offered, no pause; a rollback is possible.
    must(pty.wait_until(
        |s| {
            let footer = s.rows(0, 80).nth(22).unwrap_or_default();
            footer.contains("p resume") && footer.contains("R rollback")
        },
        timeout(10),
    ));
    let footer = pty.with_screen(|s| s.rows(0, 80).nth(22).unwrap_or_default());
    assert!(!footer.contains("p pause"), "footer: {footer:?}");
    // `:rollback why` asks for the service name like R: Esc cancels, nothing recorded.
    pty.send_str(":rollback testing the dialog");
    pty.enter();
    must(pty.wait_for_text("type `shop` to confirm", timeout(10)));
    pty.esc();
    must(pty.wait_for_text("cancelled; nothing was done", timeout(10)));

    // `/` on the steps pane filters as it is typed; Esc clears it.
    pty.send_str("/back");
    must(pty.wait_for_text("Steps /back", timeout(10)));
    must(pty.wait_until(|s| !s.contents().contains("Go/no-go"), timeout(10)));
    pty.esc();
    must(pty.wait_for_text("Go/no-go", timeout(10)));
    // `/` on the timeline (Steps → Detail → Health → Metrics → Timeline); Enter keeps it.
    for _ in 0..4 {
        pty.tab();
    }
    must(pty.wait_for_text("▸ Timeline", timeout(10)));
    pty.send_str("/note");
    pty.enter();
    must(pty.wait_for_text("Timeline /note", timeout(10)));
    must(pty.wait_until(
        |s| {
            let text = s.contents();
            text.contains("note: checked the dashboards") && !text.contains("started regular")
        },
        timeout(10),
    ));
    // Enter opens the row in full; Esc closes it.
    pty.enter();
    must(pty.wait_for_text("Esc closes", timeout(10)));
    pty.esc();
    must(pty.wait_until(|s| !s.contents().contains("Esc closes"), timeout(10)));
    quit_cleanly(&pty);

    let events = world.events();
    let notes = of_kind(&events, "note_added");
    assert_eq!(notes.len(), 1, "{:?}", kinds(&events));
    assert_eq!(notes[0]["event"]["text"], "checked the dashboards");
    let pauses = of_kind(&events, "paused");
    assert_eq!(pauses.len(), 1, "{:?}", kinds(&events));
    assert_eq!(pauses[0]["event"]["reason"], "waiting for the db team");
    assert!(of_kind(&events, "rollback_started").is_empty(), "{:?}", kinds(&events));
}

// ---- 4f. the mouse, opt-in (issue 13.7) ---------------------------------------------------

#[test]
fn the_mouse_is_taken_only_with_mouse_and_given_back_on_quit() {
    let world = World::new();
    world.start();
    // Without --mouse the terminal keeps its mouse (text selection).
    let pty = world.cockpit(&[], 120, 40);
    wait_for_cockpit(&pty);
    let mode = pty.with_screen(vt100::Screen::mouse_protocol_mode);
    assert_eq!(mode, vt100::MouseProtocolMode::None);
    quit_cleanly(&pty);

    let pty = world.cockpit(&["--mouse"], 120, 40);
    wait_for_cockpit(&pty);
    assert_ne!(pty.with_screen(vt100::Screen::mouse_protocol_mode), vt100::MouseProtocolMode::None);
    // A left click (SGR encoding, 1-based) on the health pane, top right at 120×40, focuses it.
    pty.send(b"\x1b[<0;101;4M\x1b[<0;101;4m");
    must(pty.wait_for_text("▸ Health", timeout(10)));
    // A click on the timeline, bottom left, focuses it.
    pty.send(b"\x1b[<0;20;30M\x1b[<0;20;30m");
    must(pty.wait_for_text("▸ Timeline", timeout(10)));
    quit_cleanly(&pty);
    assert_eq!(pty.with_screen(vt100::Screen::mouse_protocol_mode), vt100::MouseProtocolMode::None);
}

// ---- 4e. replay never acts (issue 13.6) -----------------------------------------------

#[test]
fn replay_refuses_keys_and_commands_and_records_nothing() {
    let world = World::new();
    world.start();
    world.ok(&["note", "something to replay"]);
    let before = world.events();
    let pty = world.cockpit(&[], 120, 40);
    wait_for_cockpit(&pty);
    pty.send_str("v");
    must(pty.wait_for_text("REPLAY", timeout(10)));
    pty.send_str("<<");
    pty.send_str("p");
    must(pty.wait_for_text("replay shows the past", timeout(10)));
    pty.send_str(":launch");
    pty.enter();
    must(pty.wait_for_text("unknown command `launch`", timeout(10)));
    pty.send_str(":note from the past");
    pty.enter();
    must(pty.wait_for_text("replay shows the past", timeout(10)));
    pty.send_str("v");
    must(pty.wait_for_text("back to live", timeout(10)));
    quit_cleanly(&pty);
    assert_eq!(world.events(), before, "replay recorded something");
}

// ---- 5. too small -------------------------------------------------------------------

#[test]
fn a_terminal_too_small_says_so_until_it_grows() {
    let world = World::new();
    world.start();
    let pty = world.cockpit(&[], 50, 12);
    must(pty.wait_for_text("terminal too small", timeout(10)));
    assert!(!pty.screen_text().contains("PRODUCTION"));
    pty.resize(80, 24);
    wait_for_cockpit(&pty);
    assert!(!pty.screen_text().contains("terminal too small"));
    quit_cleanly(&pty);
}

// ---- 6. no release yet --------------------------------------------------------------

#[test]
fn an_empty_database_shows_the_welcome_then_follows_a_new_release() {
    let world = World::new();
    let pty = world.cockpit(&[], 120, 40);
    must(pty.wait_for_text("No release in this database yet", timeout(10)));
    world.start();
    must(pty.wait_until(
        |s| {
            let text = s.contents();
            text.contains(&format!("shop {VERSION}")) && text.contains("PRODUCTION")
        },
        timeout(2),
    ));
    wait_for_cockpit(&pty);
    assert!(!pty.screen_text().contains("No release in this database yet"));
    quit_cleanly(&pty);
}

// ---- 7. not a terminal --------------------------------------------------------------

#[test]
fn without_a_terminal_the_cockpit_points_to_status_json() {
    let world = World::new();
    world.start();
    let out = world.run(&[]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("needs a terminal"), "{out:?}");
    assert!(out.stderr.contains("status --json"), "{out:?}");
    assert!(!out.stdout.contains('\x1b'), "escape sequences on a pipe: {out:?}");
}
