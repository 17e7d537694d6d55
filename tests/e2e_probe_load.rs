//! Probes cannot hurt the cockpit (issue 12, item 10): the real binary on a pseudo-terminal
//! (`support::pty`) with three health probes whose endpoints answer 50 MB bodies. Each probe
//! shows the cap as its error, no endpoint gets to send its whole body, keys are on screen
//! within a bounded number of polls of the screen, and the process's resident memory stays
//! under 50 MB. Latency is counted in polls, memory read from `/proc/PID/status`; nothing
//! asserts on a measured duration.
//!
//! The server listens on 127.0.0.1:0 and is stopped (every connection shut, every thread
//! joined) when the test ends; the cockpit is killed by its `Pty` if it has not exited.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use support::big_body::{BigBodyServer, Framing};
use support::pty::{POLL, Pty, now, timeout, timeout_scale};
use tempfile::TempDir;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");

/// What the hostile tester's endpoints answered.
const FIFTY_MB: u64 = 50 * 1000 * 1000;

/// The most resident memory the cockpit may use meanwhile.
const RSS_LIMIT_KB: u64 = 50 * 1000;

/// Polls of the screen (every [`POLL`]) a key may take to show, before the CI scale: a few
/// frames' worth (it takes 1). Before the cap, a key took up to seconds to show with three
/// such probes.
const KEY_POLLS: f64 = 10.0;

/// Times `?` is pressed (it opens the help, and the next press closes it).
const KEY_PRESSES: usize = 12;

#[track_caller]
fn must(result: Result<(), String>) {
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A kB figure from `/proc/PID/status` (`VmRSS`, `VmHWM`).
fn proc_status_kb(pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status:\n{status}"))
}

fn plan_text(url: &str) -> String {
    let mut text = String::from(
        "[service]\nname = \"shop\"\nenvironment = \"production\"\n\n\
         [policy]\nforbid_self_approval = false\n\n",
    );
    for id in ["alpha", "bravo", "charlie"] {
        text.push_str(&format!(
            "[[health]]\nid = \"{id}\"\nurl = \"{url}/{id}/health\"\ninterval = \"1s\"\n\
             timeout = \"10s\"\ndown_after = 1\n\n"
        ));
    }
    text.push_str(
        r#"[[stages]]
id = "prep"
name = "Preparation"

  [[stages.steps]]
  id = "pre"
  kind = "checklist"
  name = "Pre-deploy checklist"
  items = [{ id = "tests", text = "CI is green" }]

  [[stages.steps]]
  id = "go"
  kind = "gate"
  name = "Go/no-go"
  approvals = 1
"#,
    );
    text
}

/// Runs the CLI to its end (bounded), asserting success.
fn cli_ok(dir: &TempDir, env: &[(&str, String)], args: &[&str]) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .current_dir(dir.path());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("FLIGHTDECK_") {
            cmd.env_remove(&key);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let out = support::cli::Running::spawn(cmd).wait();
    assert_eq!(out.code, Some(0), "flightdeck {args:?}: {out:?}");
}

#[test]
fn three_probes_answering_fifty_megabytes_leave_keys_and_memory_alone() {
    let server = BigBodyServer::start(FIFTY_MB, Framing::Chunked);
    let dir = tempfile::Builder::new().prefix("flightdeck-load-").tempdir().expect("temp dir");
    let path = |name: &str| -> String { dir.path().join(name).to_string_lossy().into_owned() };
    for sub in ["home", "config", "data"] {
        std::fs::create_dir_all(dir.path().join(sub)).expect("create dir");
    }
    let env = vec![
        ("FLIGHTDECK_DB", path("f.db")),
        ("HOME", path("home")),
        ("XDG_CONFIG_HOME", path("config")),
        ("XDG_DATA_HOME", path("data")),
    ];
    let plan = PathBuf::from(path("load.toml"));
    std::fs::write(&plan, plan_text(&server.url)).expect("write plan");
    let plan = plan.to_string_lossy().into_owned();
    cli_ok(&dir, &env, &["check", &plan]);
    cli_ok(&dir, &env, &["start", &plan, "--version", "1.4.0"]);

    let pty_env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let pty = Pty::spawn(&[], 200, 50, &pty_env);
    must(pty.wait_for_text("PRODUCTION", timeout(10)));
    // Every probe reports the cap.
    must(pty.wait_until(
        |s| s.contents().matches("response larger than 1 MiB (max_body)").count() == 3,
        timeout(30),
    ));

    // Keys, while the three probes go on polling: each press shows within a bounded count
    // of polls of the screen.
    let budget = (KEY_POLLS * timeout_scale()).ceil() as u64;
    let mut polls_per_key = Vec::new();
    let mut rss_kb = Vec::new();
    for press in 0..KEY_PRESSES {
        let opens = press % 2 == 0;
        pty.send_str("?");
        let mut polls = 0u64;
        loop {
            let help = pty.screen_text().contains("Help: every key");
            if help == opens {
                break;
            }
            polls += 1;
            assert!(
                polls <= budget,
                "press {press} of `?` not on screen after {polls} polls (help {}):\n{}",
                if opens { "still closed" } else { "still open" },
                pty.screen_text()
            );
            std::thread::sleep(POLL);
        }
        polls_per_key.push(polls);
        rss_kb.push(proc_status_kb(pty.pid(), "VmRSS"));
        // Let a few probe rounds go by between presses (counted on the server).
        let before = server.closed_early();
        let deadline = now() + timeout(10);
        while server.closed_early() < before + 3 && now() < deadline {
            std::thread::sleep(POLL);
        }
    }
    let peak_kb = proc_status_kb(pty.pid(), "VmHWM");
    eprintln!(
        "polls per key press: {polls_per_key:?} (budget {budget}); VmRSS kB: {rss_kb:?}; \
         VmHWM {peak_kb} kB; server: {} connections, {} closed early, {} completed, at most \
         {} body bytes sent on one",
        server.connections(),
        server.closed_early(),
        server.completed(),
        server.most_on_one_connection()
    );
    let most_rss = rss_kb.iter().copied().max().unwrap_or(0);
    assert!(most_rss < RSS_LIMIT_KB, "VmRSS reached {most_rss} kB: {rss_kb:?}");
    assert!(peak_kb < RSS_LIMIT_KB, "VmHWM (peak resident memory) is {peak_kb} kB");
    assert_eq!(server.completed(), 0, "an endpoint got to send its whole 50 MB body");
    assert!(
        server.closed_early() >= 3 * 3,
        "three probes each hung up on more than one body: {}",
        server.closed_early()
    );
    assert!(server.most_on_one_connection() < FIFTY_MB / 2);

    pty.send_str("q");
    let status = pty.wait_exit(timeout(10)).expect("the cockpit exits after q");
    assert!(status.success(), "exit status after q: {status:?}\n{}", pty.screen_text());
    assert!(!pty.alternate_screen(), "still on the alternate screen after q");
}
