//! The real `flightdeck` binary driven from the command line, as an operator or a script
//! would: exit codes (0 ok, 1 error, 2 usage, 3 rejected), the words on stderr, the
//! `--json` shapes, a whole release from start to completed and one rolled back, two
//! processes racing for one gate, processes SIGKILLed mid-write, and databases that are
//! corrupt or not writable. Every child is waited for with a bound; loops are bounded.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use flightdeck::release::State;
use flightdeck::store::Store;
use serde_json::Value;
use support::cli::{Deck, FIXTURE, Running, kinds, wal_of};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn manifest(rel: &str) -> PathBuf {
    Path::new(MANIFEST_DIR).join(rel)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

/// The step at `index` of `status --json`.
fn step(status: &Value, index: usize) -> &Value {
    &status["steps"][index]
}

fn step_status(status: &Value, index: usize) -> &str {
    step(status, index)["status"].as_str().unwrap_or("?")
}

/// Ticks the checklist and approves the gate (alice, bob), leaving `go` current.
fn to_the_gate_with_approvals(deck: &Deck) {
    deck.ok(&["tick", "tests", "--operator", "alice"]);
    deck.ok(&["tick", "oncall", "--operator", "bob"]);
    deck.ok(&["next", "--operator", "alice"]);
    deck.ok(&["approve", "--operator", "alice"]);
    deck.ok(&["approve", "--operator", "bob"]);
}

/// From a fresh start to 10% of traffic on the new version (`bake-10` waiting).
fn to_the_canary(deck: &Deck) {
    to_the_gate_with_approvals(deck);
    deck.ok(&["next", "--operator", "alice"]);
    deck.ok(&["next", "--operator", "alice"]);
    deck.ok(&["next", "--operator", "alice"]);
    let status = deck.status();
    assert_eq!(status["release"]["weight"], 10);
    assert_eq!(status["release"]["current_step"], "bake-10");
}

/// `status --json` equals a fresh replay of the stored events, and `load` (snapshot + tail)
/// agrees with it.
fn assert_state_is_replay(db: &Path) -> State {
    block_on(async {
        let store = Store::open(db, true).await.expect("open read-only");
        let row = store.find(None).await.expect("a release");
        let loaded = store.load(row.id).await.expect("load");
        let events = store.events_after(row.id, 0).await.expect("events");
        let replayed = State::replay(&loaded.plan, &events);
        assert_eq!(loaded.state, replayed, "load must equal a fresh replay");
        assert_eq!(row.last_seq, replayed.seq, "the row's last_seq cache");
        replayed
    })
}

// ---------------------------------------------------------------------------------------
// check and init
// ---------------------------------------------------------------------------------------

#[test]
fn check_accepts_the_shipped_plans() {
    let deck = Deck::new();
    let mut plans = vec![PathBuf::from(FIXTURE), manifest("config.example.toml")];
    let mut assets: Vec<PathBuf> = std::fs::read_dir(manifest("assets/plans"))
        .expect("assets/plans")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    assets.sort();
    assert!(!assets.is_empty(), "assets/plans has plans");
    plans.extend(assets);
    for plan in &plans {
        let out = deck.ok(&[Path::new("check"), plan.as_path()]);
        assert!(out.stdout.contains(": ok"), "{}: {}", plan.display(), out.stdout);
    }
    assert!(!deck.db.exists(), "check never creates a database");
}

#[test]
fn check_reports_a_broken_plan_with_file_line_and_column() {
    let deck = Deck::new();
    let plan = deck.write(
        "broken.toml",
        "[service]\nname = \"shop\"\nenvironment = \"staging\"\n\n[[stages]]\nid = \"s\"\nname = \"S\"\n\n  [[stages.steps]]\n  id = \"wait\"\n  kind = \"bake\"\n  duration = \"soon\"\n",
    );
    let out = deck.run(&[Path::new("check"), plan.as_path()]).expect_code(1, "check broken");
    let prefix = format!("{}:", plan.display());
    let located = out.stderr.lines().any(|line| {
        line.strip_prefix(&prefix).is_some_and(|rest| {
            let mut parts = rest.splitn(3, ':');
            let line_no = parts.next().and_then(|n| n.parse::<usize>().ok());
            let col_no = parts.next().and_then(|n| n.parse::<usize>().ok());
            matches!((line_no, col_no), (Some(l), Some(c)) if l >= 1 && c >= 1)
        })
    });
    assert!(located, "stderr should name {prefix}LINE:COL:\n{}", out.stderr);

    let missing = deck.dir.path().join("missing.toml");
    deck.fails(&[Path::new("check"), missing.as_path()], 1, "cannot read the plan");
}

#[test]
fn init_writes_a_plan_check_accepts_and_never_overwrites() {
    let deck = Deck::new();
    let path = deck.dir.path().join("flightdeck.toml");
    let out = deck.ok(&[Path::new("init"), path.as_path()]);
    assert!(out.stdout.contains("wrote"), "{}", out.stdout);
    let written = std::fs::read_to_string(&path).expect("init wrote the plan");
    let example = std::fs::read_to_string(manifest("config.example.toml")).expect("example");
    assert_eq!(written, example, "init writes the documented example plan");
    deck.ok(&[Path::new("check"), path.as_path()]);

    // Refuses to overwrite, even its own output; the file keeps the operator's edits.
    let edited = format!("{written}\n# edited by the team\n");
    std::fs::write(&path, &edited).expect("edit");
    deck.fails(&[Path::new("init"), path.as_path()], 1, "already exists");
    assert_eq!(std::fs::read_to_string(&path).expect("plan"), edited);

    // The default path is ./flightdeck.toml (the deck's cwd), which exists now.
    deck.fails(&["init"], 1, "already exists");
}

// ---------------------------------------------------------------------------------------
// A whole release
// ---------------------------------------------------------------------------------------

#[test]
fn a_release_runs_from_start_to_completed_through_the_verbs() {
    let deck = Deck::new();
    let out = deck.start_fixture("1.4.0");
    assert!(out.stdout.contains("started release 1"), "{}", out.stdout);

    let status = deck.status();
    assert_eq!(status["schema"], 1);
    assert_eq!(status["release"]["status"], "running");
    assert_eq!(status["release"]["version"], "1.4.0");
    assert_eq!(status["release"]["weight"], 0);
    assert_eq!(status["release"]["current_step"], "pre");
    assert_eq!(status["steps"].as_array().map(Vec::len), Some(7));
    assert_eq!(step_status(&status, 0), "waiting");
    assert_eq!(step_status(&status, 1), "pending");

    // The checklist.
    let out = deck.fails(&["next", "--operator", "alice"], 3, "still open: tests, oncall");
    // Nobody drives the release (no cockpit, no `supervise`): `next` says so first.
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines[0].starts_with("flightdeck: warning: no driver holds release 1"),
        "{}",
        out.stderr
    );
    assert!(
        lines[1].starts_with("flightdeck: rejected: checklist `pre` has 0/2"),
        "{}",
        out.stderr
    );
    deck.ok(&["tick", "tests", "--operator", "alice"]);
    deck.ok(&["tick", "oncall", "--operator", "bob"]);
    let status = deck.status();
    assert_eq!(step(&status, 0)["items"][0]["by"], "alice");
    assert_eq!(step(&status, 0)["items"][1]["by"], "bob");
    deck.ok(&["next", "--operator", "alice"]);
    let status = deck.status();
    assert_eq!(step_status(&status, 0), "done");
    assert_eq!(step_status(&status, 1), "waiting");

    // The gate: two approvals from different people.
    deck.ok(&["approve", "--operator", "alice"]);
    deck.fails(&["approve", "--operator", "alice"], 3, "you (alice) already approved `go`");
    deck.fails(&["next", "--operator", "alice"], 3, "needs 2 approvals from different people");
    deck.ok(&["approve", "--operator", "bob"]);
    let status = deck.status();
    let gate = step(&status, 1);
    assert_eq!(gate["approvals_needed"], 2);
    let approvers: Vec<&str> = gate["approvals"]
        .as_array()
        .expect("approvals")
        .iter()
        .filter_map(|a| a["by"].as_str())
        .collect();
    assert_eq!(approvers, ["alice", "bob"]);
    deck.ok(&["next", "--operator", "bob"]);
    assert_eq!(step_status(&deck.status(), 1), "done");

    // The backup action runs here, in the foreground, and its output is shown.
    let out = deck.ok(&["next", "--operator", "alice"]);
    assert!(out.stdout.contains("backing up 1.4.0"), "{}", out.stdout);
    let status = deck.status();
    assert_eq!(step_status(&status, 2), "done");
    assert_eq!(step(&status, 2)["runs"][0]["outcome"]["state"], "succeeded");
    assert_eq!(step(&status, 2)["runs"][0]["outcome"]["exit_code"], 0);

    // 10% of traffic.
    let out = deck.ok(&["next", "--operator", "alice"]);
    assert!(out.stdout.contains("weight=10"), "{}", out.stdout);
    let status = deck.status();
    assert_eq!(status["release"]["weight"], 10);
    assert_eq!(step_status(&status, 3), "done");

    // The 1 s bake: started; once it has run its time, `next` judges its stored readings.
    // Nobody watched it (no cockpit, no `supervise`): refused until a person overrides.
    deck.ok(&["next", "--operator", "alice"]);
    assert_eq!(step_status(&deck.status(), 4), "running");
    let mut over = false;
    for _ in 0..100 {
        let out = deck.run(&["next", "--operator", "alice"]);
        match out.code {
            Some(3) if out.stderr.contains("to go") => {}
            Some(3) => {
                assert!(
                    out.stderr.contains(
                        "nobody watched this bake; run `flightdeck supervise` or open the cockpit"
                    ),
                    "{}",
                    out.stderr
                );
                over = true;
                break;
            }
            other => panic!("next during the bake exited {other:?}: {}", out.stderr),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(over, "the 1 s bake never ended");
    assert_eq!(step_status(&deck.status(), 4), "running", "refused: the bake still runs");
    deck.fails(
        &["next", "--override", "--reason", "watched grafana by hand", "--operator", "alice"],
        3,
        "needs confirmation",
    );
    let out = deck.ok(&[
        "next",
        "--override",
        "--reason",
        "watched grafana by hand",
        "--confirm",
        "--operator",
        "alice",
    ]);
    assert!(out.stdout.contains("MANUAL OVERRIDE: watched grafana by hand"), "{}", out.stdout);
    assert_eq!(step_status(&deck.status(), 4), "done");
    let report = deck.ok(&["report"]);
    assert!(
        report.stdout.contains("manual override by alice: watched grafana by hand"),
        "{}",
        report.stdout
    );

    // All traffic needs confirmation.
    deck.fails(
        &["next", "--operator", "alice"],
        3,
        "shifting all traffic to 1.4.0 needs confirmation",
    );
    deck.fails(&["shift", "--operator", "alice"], 3, "needs confirmation");
    assert_eq!(deck.status()["release"]["weight"], 10, "nothing moved without confirmation");
    let out = deck.ok(&["next", "--confirm", "--operator", "alice"]);
    assert!(out.stdout.contains("weight=100"), "{}", out.stdout);
    assert_eq!(deck.status()["release"]["weight"], 100);

    // Post-deploy checklist, and done.
    deck.ok(&["tick", "dashboards", "--operator", "bob"]);
    deck.ok(&["next", "--operator", "bob"]);
    let status = deck.status();
    assert_eq!(status["release"]["status"], "completed");
    assert_eq!(status["release"]["weight"], 100);
    assert!(status["release"]["current_step"].is_null());
    assert!(status["release"]["ended_at"]["ms"].is_i64());
    for i in 0..7 {
        assert_eq!(step_status(&status, i), "done", "step {i}");
    }
    let weights: Vec<i64> = status["weight_history"]
        .as_array()
        .expect("weight history")
        .iter()
        .filter_map(|w| w["weight"].as_i64())
        .collect();
    assert_eq!(weights, [10, 100]);
    deck.fails(&["next", "--operator", "bob"], 3, "completed");

    let events = deck.events();
    assert_eq!(kinds(&events).first(), Some(&"release_started"));
    assert_eq!(kinds(&events).last(), Some(&"completed"));
    assert_eq!(events[0]["actor"]["name"], "starter");
    assert_eq!(status["release"]["seq"].as_u64(), Some(events.len() as u64));
    assert_state_is_replay(&deck.db);

    // Once completed, another release of the service may start.
    deck.start_fixture("1.4.1");
    let list = deck.ok(&["list", "--json"]);
    let list: Value = serde_json::from_str(&list.stdout).expect("list --json");
    assert_eq!(list["schema"], 1);
    let rows = list["releases"].as_array().expect("releases");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["version"].as_str(), rows[0]["status"].as_str()),
        (Some("1.4.1"), Some("running"))
    );
    assert_eq!(
        (rows[1]["version"].as_str(), rows[1]["status"].as_str()),
        (Some("1.4.0"), Some("completed"))
    );
    assert_eq!(rows[1]["seq"].as_u64(), Some(events.len() as u64));
    assert_eq!(rows[1]["service"], "shop");
    let text = deck.ok(&["list"]);
    assert!(text.stdout.contains("1.4.0") && text.stdout.contains("completed"), "{}", text.stdout);
}

/// The running bake's start, read from the store.
fn bake_started(db: &Path) -> (i64, flightdeck::release::Timestamp) {
    block_on(async {
        let store = Store::open(db, true).await.expect("open read-only");
        let row = store.find(None).await.expect("a release");
        let loaded = store.load(row.id).await.expect("load");
        (row.id, loaded.state.current().and_then(|s| s.started_at).expect("a running bake"))
    })
}

#[test]
fn next_refuses_a_bake_whose_stored_readings_fail_naming_the_series() {
    let deck = Deck::new();
    deck.start_fixture("1.4.0");
    to_the_canary(&deck);
    let out = deck.ok(&["next", "--operator", "alice"]);
    assert!(out.stderr.contains("no driver holds release"), "{}", out.stderr);
    let (id, started) = bake_started(&deck.db);
    // The canary's health endpoint failed every check during the bake.
    block_on(async {
        let store = Store::open(&deck.db, false).await.expect("open");
        let rows: Vec<flightdeck::store::SampleRow> = (0..=4)
            .map(|i| flightdeck::store::SampleRow {
                series: "green".into(),
                kind: flightdeck::store::SampleKind::Health,
                at: started.plus_millis(i * 250),
                value: None,
                error: Some("status 503".into()),
            })
            .collect();
        store.record_samples(id, &rows).await.expect("record");
    });
    let mut refused = None;
    for _ in 0..100 {
        let out = deck.run(&["next", "--operator", "alice"]);
        match out.code {
            Some(3) if out.stderr.contains("to go") => {}
            Some(3) => {
                refused = Some(out.stderr);
                break;
            }
            other => panic!("next exited {other:?}: {}", out.stderr),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let stderr = refused.expect("the bake never ended");
    assert!(stderr.contains("cannot pass on its readings"), "{stderr}");
    assert!(stderr.contains("green: fail (down: 3 failed checks in a row"), "{stderr}");
    assert!(stderr.contains("status 503"), "{stderr}");
    assert_eq!(step_status(&deck.status(), 4), "running", "refused: the bake still runs");
}

#[test]
fn rollback_runs_the_procedure_and_returns_traffic() {
    let deck = Deck::new();
    deck.start_fixture("1.4.0");
    to_the_canary(&deck);

    deck.fails(
        &["rollback", "--reason", "errors", "--operator", "alice"],
        3,
        "rolling back 1.4.0 needs confirmation",
    );
    assert_eq!(deck.status()["release"]["status"], "running");
    deck.fails(&["rollback", "--confirm", "--operator", "alice"], 2, "--reason");

    let out = deck.ok(&["rollback", "--reason", "x", "--confirm", "--operator", "alice"]);
    assert!(out.stdout.contains("weight=0"), "{}", out.stdout);
    assert!(out.stdout.contains("undeploying 1.4.0"), "{}", out.stdout);
    let status = deck.status();
    assert_eq!(status["release"]["status"], "rolled_back");
    assert_eq!(status["release"]["weight"], 0);
    assert_eq!(status["rollback"]["reason"], "x");
    assert_eq!(status["rollback"]["by"], "alice");
    let steps = status["rollback"]["steps"].as_array().expect("rollback steps");
    assert_eq!(steps.len(), 2);
    assert!(steps.iter().all(|s| s["status"] == "done"), "{steps:?}");
    let kinds_seen = kinds(&deck.events()).join(" ");
    assert!(kinds_seen.ends_with("rollback_finished"), "{kinds_seen}");
    deck.fails(
        &["rollback", "--reason", "again", "--confirm", "--operator", "alice"],
        3,
        "rolled back",
    );
    assert_state_is_replay(&deck.db);
}

// ---------------------------------------------------------------------------------------
// Rejections and usage errors
// ---------------------------------------------------------------------------------------

#[test]
fn usage_errors_exit_2() {
    let deck = Deck::new();
    deck.fails(&["frobnicate"], 2, "frobnicate");
    deck.fails(&["pause"], 2, "--reason");
    deck.fails(&["decline"], 2, "--reason");
    deck.fails(&["start", FIXTURE], 2, "--version");
    assert!(!deck.db.exists(), "a usage error touches nothing");
}

#[test]
fn a_second_release_of_an_active_service_is_refused_naming_the_active_one() {
    let deck = Deck::new();
    deck.start_fixture("1.4.0");
    deck.fails(
        &["start", FIXTURE, "--version", "2.0.0", "--operator", "x"],
        3,
        "already being released to production (release 1, version 1.4.0, running)",
    );
    let list: Value = serde_json::from_str(&deck.ok(&["list", "--json"]).stdout).expect("json");
    assert_eq!(list["releases"].as_array().map(Vec::len), Some(1));
}

#[test]
fn a_stale_expect_seq_is_refused_as_moved_on() {
    let deck = Deck::new();
    deck.start_fixture("1.4.0");
    deck.ok(&["note", "first", "--expect-seq", "1", "--operator", "alice"]);
    let out =
        deck.fails(&["note", "second", "--expect-seq", "1", "--operator", "bob"], 3, "moved on");
    assert!(out.stderr.contains("you saw event 1, it is now at 2"), "{}", out.stderr);
    assert!(out.stderr.contains("alice"), "names who moved it: {}", out.stderr);
    deck.fails(&["tick", "tests", "--expect-seq", "1", "--operator", "bob"], 3, "moved on");
    assert_eq!(deck.events().len(), 2);
}

#[test]
fn read_only_refuses_acting_verbs_and_writes_nothing() {
    let deck = Deck::new();
    deck.start_fixture("1.4.0");
    deck.ok(&["note", "before", "--operator", "alice"]);
    let before = deck.db_bytes();
    let modified = std::fs::metadata(&deck.db).and_then(|m| m.modified()).expect("mtime");

    for args in [
        &["--read-only", "note", "hi", "--operator", "alice"][..],
        &["--read-only", "tick", "tests", "--operator", "alice"],
        &["--read-only", "next", "--operator", "alice"],
        &["--read-only", "rollback", "--reason", "x", "--confirm", "--operator", "alice"],
        &["--read-only", "start", FIXTURE, "--version", "9.9.9"],
    ] {
        deck.fails(args, 3, "--read-only");
    }
    // Reading still works.
    let status: Value =
        serde_json::from_str(&deck.ok(&["--read-only", "status", "--json"]).stdout).expect("json");
    assert_eq!(status["release"]["seq"], 2);
    deck.ok(&["--read-only", "events"]);
    deck.ok(&["--read-only", "list"]);

    assert_eq!(deck.db_bytes(), before, "read-only verbs must not write the database");
    let after = std::fs::metadata(&deck.db).and_then(|m| m.modified()).expect("mtime");
    assert_eq!(after, modified);
    assert_eq!(deck.events().len(), 2);
}

#[test]
fn start_refuses_when_a_secret_is_not_set_and_records_nothing() {
    const NAME: &str = "FLIGHTDECK_TEST_DEPLOY_TOKEN";
    let deck = Deck::new();
    let plan = deck.write(
        "secret.toml",
        &format!(
            "[service]\nname = \"vault\"\nenvironment = \"staging\"\n\n\
             [actions.deploy]\nkind = \"command\"\nargv = [\"echo\", \"token=${{env:{NAME}}}\"]\n\n\
             [[stages]]\nid = \"s\"\nname = \"S\"\n\n  [[stages.steps]]\n  id = \"deploy\"\n  kind = \"action\"\n  action = \"deploy\"\n"
        ),
    );
    let start = |deck: &Deck, secret: Option<&str>| {
        let mut cmd = deck.command(&[
            Path::new("start"),
            plan.as_path(),
            Path::new("--version"),
            Path::new("1.0.0"),
        ]);
        match secret {
            Some(s) => cmd.env(NAME, s),
            None => cmd.env_remove(NAME),
        };
        Running::spawn(cmd).wait()
    };
    let out = start(&deck, None).expect_code(1, "start without the secret");
    assert!(out.stderr.contains(NAME), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was recorded"), "{}", out.stderr);
    assert!(!deck.db.exists(), "no database was created");

    // With it set, the release starts, and the secret's value never reaches the store.
    let secret = "s3cr3t-value-42";
    start(&deck, Some(secret)).expect_code(0, "start with the secret");
    let mut next = deck.command(&["next"]);
    next.env(NAME, secret);
    let out = Running::spawn(next).wait().expect_code(0, "next runs deploy");
    assert!(out.stdout.contains("token=***"), "the output is redacted: {}", out.stdout);
    assert!(!out.stdout.contains(secret));
    assert_eq!(deck.status()["release"]["status"], "completed");
    let events = deck.ok(&["events", "--json"]).stdout;
    assert!(!events.contains(secret), "the secret reached the events: {events}");
    let (db, wal) = deck.db_bytes();
    let found = |bytes: &[u8]| bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
    assert!(!found(&db) && !found(&wal), "the secret is in the database file");
}

// ---------------------------------------------------------------------------------------
// Concurrency and crashes
// ---------------------------------------------------------------------------------------

#[test]
fn two_processes_racing_for_one_gate_advance_it_once() {
    let deck = Deck::new();
    deck.start_fixture("1.4.0");
    to_the_gate_with_approvals(&deck);

    for (step, index) in [("go", 1), ("backup", 2)] {
        let seen = deck.status()["release"]["seq"].as_u64().expect("seq").to_string();
        // Both are running before either is waited for.
        let a = deck.spawn(&["next", "--expect-seq", &seen, "--operator", "alice"]);
        let b = deck.spawn(&["next", "--expect-seq", &seen, "--operator", "bob"]);
        let (out_a, out_b) = (a.wait(), b.wait());
        let (winner, loser, loser_out, winner_out) = match (out_a.code, out_b.code) {
            (Some(0), Some(3)) => ("alice", "bob", &out_b, &out_a),
            (Some(3), Some(0)) => ("bob", "alice", &out_a, &out_b),
            other => {
                panic!("{step}: expected one 0 and one 3, got {other:?}\n{out_a:?}\n{out_b:?}")
            }
        };
        assert!(loser_out.stderr.contains("moved on"), "{loser}: {}", loser_out.stderr);
        assert!(
            loser_out.stderr.contains(winner),
            "{loser}'s refusal names {winner}: {}",
            loser_out.stderr
        );
        assert_eq!(step_status(&deck.status(), index), "done", "{step}");
        if step == "backup" {
            assert!(
                winner_out.stdout.contains("backing up"),
                "the winner ran it: {}",
                winner_out.stdout
            );
        }
        let events = deck.events();
        let completed = events
            .iter()
            .filter(|e| e["event"]["kind"] == "step_completed" && e["event"]["step"] == step)
            .count();
        assert_eq!(completed, 1, "{step} completed once");
        let started = events
            .iter()
            .filter(|e| e["event"]["kind"] == "action_started" && e["event"]["step"] == step)
            .count();
        assert_eq!(started, usize::from(step == "backup"), "{step} ran at most once");
    }
    assert_state_is_replay(&deck.db);
}

/// A tiny deterministic generator for kill delays (xorshift32).
struct Delays(u32);

impl Delays {
    fn next_ms(&mut self, below: u32) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        u64::from(self.0 % below)
    }
}

#[test]
fn processes_killed_mid_write_lose_nothing_that_was_committed() {
    let deck = Deck::new();
    deck.start_fixture("1.4.0");
    // Bring the release near a snapshot boundary (every 256 events), so kills also land
    // around a snapshot write.
    block_on(async {
        let store = Store::open(&deck.db, false).await.expect("open");
        let actor = flightdeck::release::Actor::person("ops", "test-host", 1);
        for i in 0..240 {
            let note = flightdeck::release::Command::Note { text: format!("pre {i}") };
            flightdeck::store::execute(&store, 1, &note, &actor, None, flightdeck::clock::now)
                .await
                .expect("note");
        }
    });

    let mut delays = Delays(0x9e37_79b9);
    let (mut finished, mut killed) = (0, 0);
    for i in 0..200 {
        let mut child = deck.spawn(&["note", &format!("n{i}"), "--operator", "alice"]);
        std::thread::sleep(Duration::from_millis(delays.next_ms(31)));
        child.kill();
        let out = child.wait();
        match out.code {
            Some(0) => finished += 1,
            None => killed += 1,
            Some(code) => panic!("note {i} exited {code}: {}", out.stderr),
        }
    }
    eprintln!("{finished} notes finished, {killed} were killed");

    // Everything still opens, in order, and new writes go through.
    deck.ok(&["note", "after the storm", "--operator", "alice"]);
    let events = deck.events();
    let notes = events.iter().filter(|e| e["event"]["kind"] == "note_added").count();
    let committed_at_least = 240 + finished + 1;
    assert!(
        (committed_at_least..=240 + 200 + 1).contains(&notes),
        "{notes} notes, {finished} finished"
    );
    let status = deck.status();
    assert_eq!(status["release"]["status"], "running");
    assert_eq!(status["release"]["seq"].as_u64(), Some(events.len() as u64));
    let state = assert_state_is_replay(&deck.db);
    assert_eq!(state.notes as usize, notes);
    assert_eq!(state.seq, events.len() as u64);
}

// ---------------------------------------------------------------------------------------
// Damaged and unwritable databases
// ---------------------------------------------------------------------------------------

#[test]
fn a_database_the_user_cannot_write_is_refused_and_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;

    let deck = Deck::new();
    deck.start_fixture("1.4.0");
    // Fold the WAL into the file, so the file alone is the database.
    block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::sqlite::SqliteConnection::connect_with(
            &sqlx::sqlite::SqliteConnectOptions::new().filename(&deck.db),
        )
        .await
        .expect("raw connection");
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
            .expect("checkpoint");
        conn.close().await.expect("close");
    });
    let before = deck.db_bytes();

    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = deck.command(&["note", "hi", "--operator", "alice"]);
    if root {
        // Root writes anything: act as `nobody` on a root-owned 0644 file in a 0755 dir.
        std::fs::set_permissions(&deck.db, std::fs::Permissions::from_mode(0o644))
            .expect("chmod db");
        std::fs::set_permissions(deck.dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod dir");
        cmd.uid(65534).gid(65534);
    } else {
        std::fs::set_permissions(&deck.db, std::fs::Permissions::from_mode(0o444))
            .expect("chmod db");
    }
    let out = Running::spawn(cmd).wait().expect_code(1, "note on an unwritable database");
    assert!(out.stderr.contains("cannot write"), "{}", out.stderr);
    assert!(out.stderr.contains(&deck.db.display().to_string()), "names the file: {}", out.stderr);
    assert_eq!(deck.db_bytes(), before, "the file is unchanged");

    std::fs::set_permissions(&deck.db, std::fs::Permissions::from_mode(0o600)).expect("chmod back");
    assert_eq!(deck.events().len(), 1, "nothing was recorded");
}

#[test]
fn a_corrupt_database_is_reported_and_left_alone() {
    let deck = Deck::new();
    let garbage: Vec<u8> =
        (0..16_384u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&deck.db, &garbage).expect("write garbage");
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["note", "hi", "--operator", "alice"],
        &["start", FIXTURE, "--version", "1.0.0"],
        &["--read-only", "list"],
    ] {
        deck.fails(args, 1, "not a flightdeck database");
        assert_eq!(std::fs::read(&deck.db).expect("db"), garbage, "{args:?} wrote the file");
    }
    assert!(!wal_of(&deck.db).exists() || std::fs::read(wal_of(&deck.db)).expect("wal").is_empty());
}

// ---------------------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------------------

/// The fixture plan with `[claims] ttl = "20m"`, written into the deck.
fn claims_plan(deck: &Deck) -> PathBuf {
    let text = std::fs::read_to_string(FIXTURE).expect("fixture plan");
    deck.write("claims.toml", &format!("{text}\n[claims]\nttl = \"20m\"\n"))
}

fn as_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

#[test]
fn claims_are_refused_by_a_plan_without_them_naming_what_to_add() {
    let deck = Deck::new();
    deck.start_fixture("1.4.0");
    let out =
        deck.fails(&["claim", "--operator", "alice"], 3, "claims are off in the plan of shop");
    assert!(out.stderr.contains("[claims]"), "{}", out.stderr);
    deck.fails(&["unclaim", "--step", "go", "--operator", "alice"], 3, "claims are off");
    let out = deck.ok(&["check", FIXTURE]);
    assert!(out.stdout.contains("claims       off"), "{}", out.stdout);
}

/// Two operators: alice claims the checklist, bob may tick but not finish it, takes the claim
/// over with a reason, and finishes it himself; the claim ends with the step.
#[test]
fn a_claim_holds_others_back_until_taken_over_with_a_reason() {
    let deck = Deck::new();
    let plan = claims_plan(&deck);
    let out = deck.ok(&["check", as_str(&plan)]);
    assert!(out.stdout.contains("claims       on: a claim lasts 20m"), "{}", out.stdout);
    deck.ok(&["start", as_str(&plan), "--version", "1.4.0", "--operator", "starter"]);

    let out = deck.ok(&["claim", "--operator", "alice"]);
    assert!(out.stdout.contains("alice") && out.stdout.contains("claimed pre until"), "{out:?}");
    let status = deck.status();
    let claim = &step(&status, 0)["claim"];
    assert_eq!((claim["by"].as_str(), claim["live"].as_bool()), (Some("alice"), Some(true)));
    assert!(claim["until"]["ms"].as_i64() > claim["at"]["ms"].as_i64(), "{claim}");
    let text = deck.ok(&["status"]).stdout;
    assert!(text.contains("claimed by alice until"), "{text}");

    // Ticks stay open to everyone; finishing the step is alice's.
    deck.ok(&["tick", "tests", "--operator", "bob"]);
    deck.ok(&["tick", "oncall", "--operator", "bob"]);
    let out = deck.fails(&["next", "--operator", "bob"], 3, "alice has claimed `pre` until ");
    assert!(out.stderr.contains("UTC; take over the claim with a reason first"), "{out:?}");
    deck.fails(&["claim", "--operator", "bob"], 3, "to take it over, give a reason");
    deck.fails(&["unclaim", "--operator", "bob"], 3, "only they can release it");
    deck.fails(&["claim", "--read-only", "--operator", "bob"], 3, "--read-only: cannot claim");
    assert_eq!(step(&deck.status(), 0)["claim"]["by"], "alice", "refusals changed nothing");

    let out = deck.ok(&["claim", "--take-over", "alice is on a call", "--operator", "bob"]);
    assert!(out.stdout.contains("took over pre from alice"), "{}", out.stdout);
    deck.fails(&["next", "--operator", "alice"], 3, "bob has claimed `pre`");
    deck.ok(&["next", "--operator", "bob"]);
    let status = deck.status();
    assert_eq!(step_status(&status, 0), "done");
    assert!(step(&status, 0).get("claim").is_none(), "the claim ended with the step: {status}");

    // A later step can be claimed by name, and released by its holder only.
    deck.ok(&["claim", "--step", "backup", "--operator", "carol"]);
    deck.fails(&["unclaim", "--step", "backup", "--operator", "bob"], 3, "carol has claimed");
    deck.ok(&["unclaim", "--step", "backup", "--operator", "carol"]);
    deck.fails(&["unclaim", "--step", "backup", "--operator", "carol"], 3, "nobody has claimed");

    let events = deck.events();
    let claims: Vec<&Value> = events
        .iter()
        .filter(|e| matches!(e["event"]["kind"].as_str(), Some("step_claimed" | "claim_released")))
        .collect();
    assert_eq!(claims.len(), 4, "{:?}", kinds(&events));
    assert_eq!(claims[1]["event"]["took_over_from"], "alice");
    assert_eq!(claims[1]["event"]["reason"], "alice is on a call");
    assert_eq!(claims[1]["actor"]["name"], "bob");
    assert_state_is_replay(&deck.db);
}

/// alice claimed `pre` 25 minutes ago for 20 (recorded at that time through the same
/// `store::execute` the verbs use): at the engine's now the claim has lapsed, so it holds
/// nobody back and anyone may claim the step without a reason.
#[test]
fn a_lapsed_claim_holds_nobody_back_and_is_free_to_claim() {
    use flightdeck::plan::ReleaseType;
    use flightdeck::release::{Command, Timestamp};
    let deck = Deck::new();
    let plan_path = claims_plan(&deck);
    block_on(async {
        let (plan, text) = flightdeck::plan::load_file(&plan_path).expect("plan");
        let store = Store::open(&deck.db, false).await.expect("open");
        let now = flightdeck::clock::now();
        let ago = move |minutes: i64| Timestamp(now.0 - minutes * 60_000);
        let start = Command::Start {
            version: "1.4.0".into(),
            previous_version: None,
            sha: None,
            image: None,
            release_type: ReleaseType::Regular,
        };
        let starter = flightdeck::identity::current_actor(Some("starter"));
        let (id, _) = flightdeck::store::start(
            &store,
            &plan,
            as_str(&plan_path),
            &text,
            &start,
            &starter,
            ago(30),
        )
        .await
        .expect("start");
        let alice = flightdeck::identity::current_actor(Some("alice"));
        let claim = Command::Claim { step: "pre".into(), reason: None };
        flightdeck::store::execute(&store, id, &claim, &alice, None, || ago(25))
            .await
            .expect("alice's claim, 25 minutes ago");
        store.close().await;
    });
    let status = deck.status();
    let claim = &step(&status, 0)["claim"];
    assert_eq!((claim["by"].as_str(), claim["live"].as_bool()), (Some("alice"), Some(false)));
    let text = deck.ok(&["status"]).stdout;
    assert!(text.contains("alice's claim lapsed at"), "{text}");

    deck.ok(&["tick", "tests", "--operator", "bob"]);
    deck.ok(&["tick", "oncall", "--operator", "bob"]);
    let out = deck.ok(&["claim", "--operator", "bob"]);
    assert!(out.stdout.contains("claimed pre until"), "{}", out.stdout);
    assert!(!out.stdout.contains("took over"), "a lapsed claim is not taken over: {}", out.stdout);
    deck.fails(&["next", "--operator", "alice"], 3, "bob has claimed `pre`");
    deck.ok(&["next", "--operator", "bob"]);
    assert_eq!(step_status(&deck.status(), 0), "done");
}
