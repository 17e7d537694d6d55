//! Team mode (issue 8), each scenario twice: on one SQLite file, and on a real PostgreSQL
//! server the test starts on a loopback port in a temp dir (skipped with a printed reason when
//! PostgreSQL is not installed, unless FLIGHTDECK_REQUIRE_SERVERS=1). The driver lease and
//! presence in the store, racing approvals and advances from two and from eight processes,
//! presence in the cockpits' headers, and a driver SIGKILLed mid-action handing the lease to
//! another cockpit, which leaves the action interrupted instead of running it again.
//!
//! The store tests use fixed timestamps, never the clock. Everything else runs the real
//! binary against a temp database with its own `HOME` and XDG dirs; every process a test
//! starts is stopped by it (CLI runs are bounded by `support::cli`, a `Pty` kills its cockpit
//! when dropped, and the action a SIGKILLed cockpit left behind is killed by its process
//! group). Waits are bounded polls with env-scaled timeouts; nothing asserts on how long
//! anything took, beyond the functional "another cockpit drives within about 10 seconds".

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use flightdeck::plan::{self, ReleaseType};
use flightdeck::release::{Actor, Command, Timestamp};
use flightdeck::store::{self, LEASE_TTL_MS, Location, PRESENCE_TTL_MS, Store};
use serde_json::Value;
use support::cli::{Deck, FIXTURE, Running, kinds};
use support::postgres::{PgServer, server_or_skip};
use support::pty::{POLL, Pty, now, timeout};

// ---------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------

/// Where a test's store lives: a SQLite file in a temp dir, or a fresh database on a private
/// PostgreSQL server this test started (and stops when this is dropped).
struct Backing {
    /// What `--db` / `FLIGHTDECK_DB` is given.
    db: String,
    _dir: tempfile::TempDir,
    _server: Option<PgServer>,
}

impl Backing {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("flightdeck.db").to_string_lossy().into_owned();
        Self { db, _dir: dir, _server: None }
    }

    fn postgres(test: &str) -> Option<Self> {
        let server = server_or_skip(test)?;
        let db = server.create_database("flightdeck");
        Some(Self { db, _dir: tempfile::tempdir().expect("temp dir"), _server: Some(server) })
    }

    async fn open(&self) -> Store {
        Store::open_at(&Location::parse(&self.db), false).await.expect("open the store")
    }

    /// A CLI deck (its own temp HOME) on this store.
    fn deck(&self) -> Deck {
        Deck::on(&self.db)
    }
}

/// Runs an async scenario on a runtime of its own (the servers are started outside it).
fn block_on<F: std::future::Future<Output = ()>>(scenario: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(scenario);
}

/// Declares `$name::sqlite` and `$name::postgres`, each running `$scenario(&Backing)`.
macro_rules! on_both_backends {
    ($name:ident, $scenario:ident) => {
        mod $name {
            #[test]
            fn sqlite() {
                super::$scenario(&super::Backing::sqlite());
            }

            #[test]
            fn postgres() {
                let test = concat!(stringify!($name), "::postgres");
                if let Some(backing) = super::Backing::postgres(test) {
                    super::$scenario(&backing);
                }
            }
        }
    };
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A fixed clock for the store tests.
fn at(ms: u64) -> Timestamp {
    Timestamp(1_795_344_000_000).plus_millis(ms)
}

/// A cockpit process: operator `name`, pid `pid`, on one host.
fn actor(name: &str, pid: u32) -> Actor {
    Actor {
        name: name.into(),
        account: "ops".into(),
        host: "bastion-1".into(),
        pid,
        automatic: false,
    }
}

/// Opens the store and starts a release of the fixture plan on it.
async fn started(backing: &Backing) -> (Store, i64) {
    let store = backing.open().await;
    let (plan, text) = plan::load_file(Path::new(FIXTURE)).expect("the fixture plan is valid");
    let start = Command::Start {
        version: "1.4.0".into(),
        previous_version: Some("1.3.2".into()),
        sha: None,
        image: None,
        release_type: ReleaseType::Regular,
    };
    let (id, _) = store::start(&store, &plan, FIXTURE, &text, &start, &actor("starter", 1), at(0))
        .await
        .expect("start");
    (store, id)
}

/// Unwraps a PTY wait, panicking with the harness's description (screen, raw output).
#[track_caller]
fn must(result: Result<(), String>) {
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn kind(event: &Value) -> &str {
    event["event"]["kind"].as_str().unwrap_or_default()
}

fn of_kind<'a>(events: &'a [Value], k: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| kind(e) == k).collect()
}

/// The environment a cockpit of this deck gets: its database, and `HOME`/XDG in its dir.
fn cockpit_env(deck: &Deck) -> Vec<(&'static str, String)> {
    let dir = deck.dir.path();
    let s = |p: PathBuf| p.to_string_lossy().into_owned();
    vec![
        ("FLIGHTDECK_DB", deck.store.clone()),
        ("HOME", s(dir.to_path_buf())),
        ("XDG_CONFIG_HOME", s(dir.join("xdg-config"))),
        ("XDG_DATA_HOME", s(dir.join("xdg-data"))),
    ]
}

/// Wide enough that the header never drops "driven by" or "+N watching" for lack of room.
const COLS: u16 = 320;
const ROWS: u16 = 40;

/// Opens a cockpit as `operator` and waits for its first screen (`environment` in the header).
fn cockpit(deck: &Deck, operator: &str, environment: &str) -> Pty {
    let env = cockpit_env(deck);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let pty = Pty::spawn(&["--operator", operator], COLS, ROWS, &env);
    must(pty.wait_for_text(environment, timeout(10)));
    pty
}

/// The header line of a screen (the one naming who this cockpit is).
fn header_of(screen: &vt100::Screen) -> String {
    screen.contents().lines().find(|l| l.contains("you: ")).unwrap_or_default().to_owned()
}

fn header(pty: &Pty) -> String {
    pty.with_screen(header_of)
}

/// Polls every cockpit's header until `pred` holds for all of them together, up to `limit`.
#[track_caller]
fn wait_headers(cockpits: &[&Pty], what: &str, limit: Duration, pred: impl Fn(&[String]) -> bool) {
    let deadline = now() + limit;
    loop {
        let headers: Vec<String> = cockpits.iter().map(|p| header(p)).collect();
        if pred(&headers) {
            return;
        }
        if now() >= deadline {
            let screens: Vec<String> = cockpits.iter().map(|p| p.screen_text()).collect();
            panic!(
                "gave up after {limit:?} waiting for {what}\nheaders:\n{}\nscreens:\n{}",
                headers.join("\n"),
                screens.join("\n-----\n")
            );
        }
        std::thread::sleep(POLL);
    }
}

/// Which of `names` the header says drives, if it says so.
fn driven_by<'a>(header: &str, names: &[&'a str]) -> Option<&'a str> {
    names.iter().copied().find(|n| header.contains(&format!("driven by {n}@")))
}

/// Quits a cockpit with `q` and checks it exited cleanly.
fn quit(pty: &Pty) {
    pty.send_str("q");
    let status = pty.wait_exit(timeout(10)).expect("the cockpit exits after q");
    assert!(status.success(), "exit status after q: {status:?}\n{}", pty.screen_text());
}

/// Spawns every command before waiting for any, so they all run at once.
fn all_at_once(deck: &Deck, commands: &[Vec<String>]) -> Vec<support::cli::Out> {
    let running: Vec<Running> = commands.iter().map(|args| deck.spawn(args)).collect();
    running.into_iter().map(Running::wait).collect()
}

// ---------------------------------------------------------------------------------------
// 1. The store: the driver lease and presence
// ---------------------------------------------------------------------------------------

on_both_backends!(a_lease_has_one_holder_until_it_expires_or_is_handed_over, lease_holder);

fn lease_holder(backing: &Backing) {
    block_on(lease_holder_on(backing));
}

async fn lease_holder_on(backing: &Backing) {
    let (store, id) = started(backing).await;
    let (alice, bob) = (actor("alice", 101), actor("bob", 202));
    assert_eq!(store.lease(id).await.expect("lease"), None, "nobody drives a new release");

    let lease = store.claim_lease(id, &alice, at(0)).await.expect("alice claims");
    assert!(lease.held_by(&alice), "{lease:?}");
    assert_eq!(
        (lease.operator.as_str(), lease.host.as_str(), lease.pid),
        ("alice", "bastion-1", 101)
    );
    assert_eq!(lease.expires_at, at(LEASE_TTL_MS));

    // Bob sees alice as the holder while her lease lives.
    let seen = store.claim_lease(id, &bob, at(1_000)).await.expect("bob claims");
    assert!(seen.held_by(&alice) && !seen.held_by(&bob), "{seen:?}");
    assert_eq!(seen, lease, "a lost claim changes nothing");
    // Exactly at the expiry it is still hers (it lapses after).
    let seen = store.claim_lease(id, &bob, at(LEASE_TTL_MS)).await.expect("bob claims");
    assert!(seen.held_by(&alice), "{seen:?}");

    // Alice renews: the lease lives on past its first expiry.
    let renewed = store.claim_lease(id, &alice, at(2_000)).await.expect("alice renews");
    assert!(renewed.held_by(&alice));
    assert_eq!(renewed.expires_at, at(2_000 + LEASE_TTL_MS));
    let seen = store.claim_lease(id, &bob, at(LEASE_TTL_MS + 1)).await.expect("bob claims");
    assert!(seen.held_by(&alice), "renewed, so not expired: {seen:?}");

    // Once alice stops renewing and the lease expires, bob takes it over.
    let past = 2_000 + LEASE_TTL_MS + 1;
    let taken = store.claim_lease(id, &bob, at(past)).await.expect("bob takes over");
    assert!(taken.held_by(&bob), "{taken:?}");
    assert_eq!(taken.expires_at, at(past + LEASE_TTL_MS));
    assert_eq!(store.lease(id).await.expect("lease"), Some(taken.clone()));
    let seen = store.claim_lease(id, &alice, at(past + 1)).await.expect("alice claims again");
    assert!(seen.held_by(&bob), "alice is back but bob drives now: {seen:?}");

    // Handing over: only the holder's release counts, and it frees the lease at once.
    store.release_lease(id, &alice).await.expect("alice releases what she does not hold");
    assert_eq!(store.lease(id).await.expect("lease"), Some(taken));
    store.release_lease(id, &bob).await.expect("bob hands over");
    assert_eq!(store.lease(id).await.expect("lease"), None);
    let handed = store.claim_lease(id, &alice, at(past + 2)).await.expect("alice claims");
    assert!(handed.held_by(&alice), "no wait for an expiry after a hand-over: {handed:?}");
    store.close().await;
}

on_both_backends!(an_offered_lease_passes_to_the_next_claimant_and_only_to_the_one_named, offers);

fn offers(backing: &Backing) {
    block_on(offers_on(backing));
}

async fn offers_on(backing: &Backing) {
    let (store, id) = started(backing).await;
    let (alice, bob, carol, dave) =
        (actor("alice", 101), actor("bob", 202), actor("carol", 303), actor("dave", 404));
    assert_eq!(store.offer_lease(id, None).await.expect("offer"), None, "nothing to offer");
    store.claim_lease(id, &alice, at(0)).await.expect("alice drives");

    // Offered to anyone: alice keeps driving (and renewing) until someone takes it.
    let offered = store.offer_lease(id, None).await.expect("offer").expect("a lease");
    assert_eq!(offered.offered_to.as_deref(), Some("*"));
    assert!(offered.offered_to(&bob) && !offered.offered_to(&alice), "{offered:?}");
    let renewed = store.claim_lease(id, &alice, at(1_000)).await.expect("alice renews");
    assert!(renewed.held_by(&alice) && renewed.offered_to.as_deref() == Some("*"), "{renewed:?}");
    // Bob takes it long before it would expire; the offer is used up, and nothing was
    // taken from a dead driver.
    let claimed = store.claim_lease_noting(id, &bob, at(2_000)).await.expect("bob takes it");
    assert!(claimed.lease.held_by(&bob), "{claimed:?}");
    assert_eq!(claimed.lease.offered_to, None);
    assert_eq!(claimed.took_expired, None, "a hand-over is not a takeover from the dead");
    let seen = store.claim_lease(id, &alice, at(2_500)).await.expect("alice claims");
    assert!(seen.held_by(&bob), "alice handed it over; she does not get it back: {seen:?}");

    // Offered to carol only: dave cannot take it, carol can.
    store.offer_lease(id, Some("carol")).await.expect("offer to carol");
    let seen = store.claim_lease(id, &dave, at(3_000)).await.expect("dave claims");
    assert!(seen.held_by(&bob), "{seen:?}");
    let seen = store.claim_lease(id, &carol, at(3_100)).await.expect("carol claims");
    assert!(seen.held_by(&carol) && seen.offered_to.is_none(), "{seen:?}");

    // Carol's cockpit dies; dave takes the expired lease and is told whose it was.
    let late = 3_100 + LEASE_TTL_MS + 1;
    let claimed = store.claim_lease_noting(id, &dave, at(late)).await.expect("dave takes over");
    assert!(claimed.lease.held_by(&dave), "{claimed:?}");
    let dead = claimed.took_expired.expect("the expired lease is reported");
    assert!(dead.held_by(&carol), "{dead:?}");
    // Renewing is not taking over.
    let again = store.claim_lease_noting(id, &dave, at(late + 10)).await.expect("renew");
    assert_eq!(again.took_expired, None);
    store.close().await;
}

on_both_backends!(eight_pools_claiming_at_once_agree_on_exactly_one_holder, eight_pools);

fn eight_pools(backing: &Backing) {
    block_on(eight_pools_on(backing));
}

async fn eight_pools_on(backing: &Backing) {
    let (first, id) = started(backing).await;
    let mut stores = vec![first];
    for _ in 1..8 {
        stores.push(backing.open().await);
    }
    let actors: Vec<Actor> = (0..8u32).map(|i| actor(&format!("user{i}"), 1_000 + i)).collect();

    // Several rounds, each after the previous holder's lease expired, so every round is a
    // free-for-all again.
    let mut holders = BTreeSet::new();
    for round in 0..6u64 {
        let when = at(round * (LEASE_TTL_MS + 1));
        let barrier = Arc::new(tokio::sync::Barrier::new(stores.len()));
        let tasks: Vec<_> = stores
            .iter()
            .zip(&actors)
            .map(|(store, me)| {
                let (store, me, barrier) = (store.clone(), me.clone(), Arc::clone(&barrier));
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.claim_lease(id, &me, when).await
                })
            })
            .collect();
        let mut seen = Vec::new();
        for task in tasks {
            seen.push(task.await.expect("task").expect("claim"));
        }
        let winners: Vec<&Actor> =
            actors.iter().filter(|a| seen.iter().any(|l| l.held_by(a))).collect();
        assert_eq!(winners.len(), 1, "round {round}: one holder, got {seen:#?}");
        assert!(seen.iter().all(|l| *l == seen[0]), "round {round}: all agree: {seen:#?}");
        assert_eq!(seen[0].expires_at, when.plus_millis(LEASE_TTL_MS), "round {round}");
        assert_eq!(stores[3].lease(id).await.expect("lease"), Some(seen[0].clone()));
        holders.insert(seen[0].pid);
    }
    assert!(!holders.is_empty());
    for store in &stores {
        store.close().await;
    }
}

on_both_backends!(presence_lists_every_heartbeating_cockpit_and_prunes_the_silent, presence);

fn presence(backing: &Backing) {
    block_on(presence_on(backing));
}

async fn presence_on(backing: &Backing) {
    let (store, id) = started(backing).await;
    let actors: Vec<Actor> = (0..8u32).map(|i| actor(&format!("user{i}"), 2_000 + i)).collect();
    for (i, me) in actors.iter().enumerate() {
        let tty = format!("/dev/pts/{i}");
        store.heartbeat(me, Some(id), &tty, i == 7, at(0)).await.expect("heartbeat");
    }
    // A cockpit with no release open is present, but not on this release.
    let elsewhere = actor("zed", 2_100);
    store.heartbeat(&elsewhere, None, "-", false, at(0)).await.expect("heartbeat");

    let present = store.present(id, at(1_000)).await.expect("present");
    assert_eq!(present.len(), 8, "{present:#?}");
    let pids: BTreeSet<u32> = present.iter().map(|p| p.pid).collect();
    assert_eq!(pids, actors.iter().map(|a| a.pid).collect(), "each one once");
    let last = present.iter().find(|p| p.pid == 2_007).expect("user7");
    assert_eq!(last.label(), "user7@bastion-1");
    assert_eq!((last.tty.as_str(), last.read_only, last.last_seen), ("/dev/pts/7", true, at(0)));
    assert!(present.iter().filter(|p| p.pid != 2_007).all(|p| !p.read_only));

    // Heartbeats renew, they do not add.
    for me in &actors[..3] {
        store.heartbeat(me, Some(id), "-", false, at(5_000)).await.expect("heartbeat");
    }
    assert_eq!(store.present(id, at(5_000)).await.expect("present").len(), 8);

    // Past the TTL only those that heartbeated recently are left; the rest are pruned.
    let later = at(PRESENCE_TTL_MS + 1_000);
    let present = store.present(id, later).await.expect("present");
    let names: Vec<&str> = present.iter().map(|p| p.operator.as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(["user0", "user1", "user2"].iter().all(|n| names.contains(n)), "{names:?}");
    // Pruned for good: asking again with an earlier time brings nobody back.
    assert_eq!(store.present(id, at(5_000)).await.expect("present").len(), 3);

    // Leaving removes one at once.
    store.leave(&actors[0]).await.expect("leave");
    let present = store.present(id, later).await.expect("present");
    assert_eq!(present.len(), 2, "{present:#?}");
    assert!(present.iter().all(|p| p.pid != actors[0].pid));
    store.close().await;
}

// ---------------------------------------------------------------------------------------
// 2. Processes racing on one store
// ---------------------------------------------------------------------------------------

/// `n` processes approve the gate at once (every approval counts, once), then `n` processes
/// advance it at once with the same `--expect-seq` (exactly one does), then `n` processes
/// start the backup action at once (exactly one runs it).
fn racing_processes(backing: &Backing, n: usize) {
    let deck = backing.deck();
    deck.start_fixture("1.4.0");
    deck.ok(&["tick", "tests", "--operator", "alice"]);
    deck.ok(&["tick", "oncall", "--operator", "bob"]);
    deck.ok(&["next", "--operator", "alice"]);
    assert_eq!(deck.status()["release"]["current_step"], "go");

    let users: Vec<String> = (1..=n).map(|i| format!("user{i}")).collect();
    let approve: Vec<Vec<String>> = users
        .iter()
        .map(|u| ["approve", "--operator", u.as_str()].map(String::from).to_vec())
        .collect();
    for (user, out) in users.iter().zip(all_at_once(&deck, &approve)) {
        assert_eq!(out.code, Some(0), "{n} racers: {user}'s approval was refused: {out:?}");
    }
    let events = deck.events();
    let approvals: Vec<&str> = of_kind(&events, "approval_given")
        .iter()
        .filter(|e| e["event"]["step"] == "go")
        .filter_map(|e| e["actor"]["name"].as_str())
        .collect();
    let distinct: BTreeSet<&str> = approvals.iter().copied().collect();
    assert_eq!(approvals.len(), n, "{n} racers: one approval each: {:?}", kinds(&events));
    assert_eq!(distinct, users.iter().map(String::as_str).collect(), "{n} racers");
    let status = deck.status();
    let recorded: BTreeSet<&str> = status["steps"][1]["approvals"]
        .as_array()
        .expect("approvals")
        .iter()
        .filter_map(|a| a["by"].as_str())
        .collect();
    assert_eq!(recorded, distinct, "{n} racers: the gate counts each approver");

    for (step, index) in [("go", 1), ("backup", 2)] {
        let seen = deck.status()["release"]["seq"].as_u64().expect("seq").to_string();
        let next: Vec<Vec<String>> = users
            .iter()
            .map(|u| {
                ["next", "--expect-seq", seen.as_str(), "--operator", u.as_str()]
                    .map(String::from)
                    .to_vec()
            })
            .collect();
        let outs = all_at_once(&deck, &next);
        let winners: Vec<usize> = (0..n).filter(|&i| outs[i].code == Some(0)).collect();
        assert_eq!(winners.len(), 1, "{n} racers, {step}: one advances: {outs:#?}");
        let winner = &users[winners[0]];
        for (i, out) in outs.iter().enumerate().filter(|(i, _)| *i != winners[0]) {
            assert_eq!(out.code, Some(3), "{n} racers, {step}: {} lost: {out:?}", users[i]);
            assert!(out.stderr.contains("moved on"), "{n} racers, {step}: {out:?}");
        }
        if step == "backup" {
            let out = &outs[winners[0]];
            assert!(out.stdout.contains("backing up 1.4.0"), "{winner} ran it: {out:?}");
        }
        let events = deck.events();
        let completed = of_kind(&events, "step_completed")
            .iter()
            .filter(|e| e["event"]["step"] == step)
            .count();
        assert_eq!(completed, 1, "{n} racers: {step} completed once: {:?}", kinds(&events));
        let started = of_kind(&events, "action_started")
            .iter()
            .filter(|e| e["event"]["step"] == step)
            .count();
        assert_eq!(started, usize::from(step == "backup"), "{n} racers: {step} ran at most once");
        assert_eq!(deck.status()["steps"][index]["status"], "done", "{n} racers: {step}");
    }
    assert_eq!(deck.status()["release"]["current_step"], "shift-10");
}

fn two_racing(backing: &Backing) {
    racing_processes(backing, 2);
}

fn eight_racing(backing: &Backing) {
    racing_processes(backing, 8);
}

on_both_backends!(two_processes_racing_approve_once_each_and_advance_once, two_racing);
on_both_backends!(eight_processes_racing_approve_once_each_and_advance_once, eight_racing);

// ---------------------------------------------------------------------------------------
// 3. Presence in the cockpit
// ---------------------------------------------------------------------------------------

on_both_backends!(driving_is_handed_over_by_key_and_by_verb_and_watchers_are_listed, hand_over);

fn hand_over(backing: &Backing) {
    let deck = backing.deck();
    deck.start_fixture("1.4.0");
    let names = ["alice", "bob"];
    let cockpits: Vec<Pty> = names.iter().map(|n| cockpit(&deck, n, "PRODUCTION")).collect();
    // A read-only watcher is listed, but never drives.
    let watcher = {
        let env = cockpit_env(&deck);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let pty = Pty::spawn(&["--read-only", "--operator", "carol"], COLS, ROWS, &env);
        must(pty.wait_for_text("PRODUCTION", timeout(10)));
        pty
    };
    let all: Vec<&Pty> = cockpits.iter().chain([&watcher]).collect();
    wait_headers(&all, "three listed, one of the two drivers driving", timeout(15), |headers| {
        headers.iter().all(|h| h.contains("+2 watching: "))
            && headers[..2].iter().filter(|h| h.contains("driven by ")).count() == 1
            && driven_by(&headers[2], &names).is_some()
    });
    let d = (0..2).find(|&i| !header(&cockpits[i]).contains("driven by ")).expect("a driver");
    let (driver, other) = (names[d], names[1 - d]);
    let before = deck.events().len();

    // The driver presses D: the other cockpit drives within a heartbeat or two.
    cockpits[d].send_str("D");
    wait_headers(&all, "the other cockpit driving after D", timeout(15), |headers| {
        !headers[1 - d].contains("driven by ")
            && driven_by(&headers[d], &names) == Some(other)
            && driven_by(&headers[2], &names) == Some(other)
    });

    // The verb gives it back, to the one operator named.
    let out = deck.ok(&["handover", "--to", driver, "--operator", other]);
    assert!(out.stdout.contains(&format!("until {driver}'s cockpit takes over")), "{out:?}");
    wait_headers(&all, "the first driver driving again", timeout(15), |headers| {
        !headers[d].contains("driven by ") && driven_by(&headers[1 - d], &names) == Some(driver)
    });
    let team: Value =
        serde_json::from_str(&deck.ok(&["team", "--json"]).stdout).expect("team --json");
    assert_eq!(team["driver"]["operator"], driver, "{team:#}");
    let present = team["present"].as_array().expect("present");
    assert_eq!(present.len(), 3, "{team:#}");
    let carol = present.iter().find(|p| p["operator"] == "carol").expect("carol listed");
    assert_eq!(carol["read_only"], true, "{team:#}");

    // A watcher cannot hand over, and hand-overs record nothing in the release.
    deck.fails(&["--read-only", "handover"], 3, "--read-only");
    watcher.send_str("D");
    must(watcher.wait_for_text("read-only cockpit", timeout(10)));
    assert_eq!(deck.events().len(), before, "{:?}", kinds(&deck.events()));
    for pty in cockpits.iter().chain([&watcher]) {
        quit(pty);
    }
}

on_both_backends!(three_cockpits_see_each_other_and_agree_on_one_driver, three_cockpits);

fn three_cockpits(backing: &Backing) {
    let deck = backing.deck();
    deck.start_fixture("1.4.0");
    let names = ["alice", "bob", "carol"];
    let cockpits: Vec<Pty> = names.iter().map(|n| cockpit(&deck, n, "PRODUCTION")).collect();
    let all: Vec<&Pty> = cockpits.iter().collect();

    // Every cockpit lists the two others, and exactly one (the driver) is not "driven by".
    wait_headers(&all, "everyone watching and one driver", timeout(15), |headers| {
        let watching = headers.iter().all(|h| h.contains("+2 watching: "));
        let driven = headers.iter().filter(|h| h.contains("driven by ")).count();
        watching && driven == 2
    });
    let headers: Vec<String> = all.iter().map(|p| header(p)).collect();
    let drivers: Vec<usize> = (0..3).filter(|&i| !headers[i].contains("driven by ")).collect();
    assert_eq!(drivers.len(), 1, "{headers:#?}");
    let driver = names[drivers[0]];
    for (i, h) in headers.iter().enumerate() {
        let watching = h.split_once("watching: ").map_or("", |(_, list)| list);
        for other in names.iter().filter(|n| **n != names[i]) {
            assert!(watching.contains(&format!("{other}@")), "{} sees {other}: {h}", names[i]);
        }
        assert!(!watching.contains(&format!("{}@", names[i])), "not itself: {h}");
        assert!(h.contains(&format!("you: {}", names[i])), "{h}");
        if i != drivers[0] {
            assert_eq!(driven_by(h, &names), Some(driver), "{} names the driver: {h}", names[i]);
        }
    }

    // One leaves cleanly: the others see two cockpits, and still one driver among them.
    let leaver = (drivers[0] + 1) % 3;
    quit(&cockpits[leaver]);
    let rest: Vec<&Pty> = (0..3).filter(|&i| i != leaver).map(|i| &cockpits[i]).collect();
    wait_headers(&rest, "the one who left is gone", timeout(15), |headers| {
        headers
            .iter()
            .all(|h| h.contains("+1 watching: ") && !h.contains(&format!("{}@", names[leaver])))
            && headers.iter().filter(|h| h.contains(&format!("driven by {driver}@"))).count() == 1
    });
    for pty in rest {
        quit(pty);
    }
}

// ---------------------------------------------------------------------------------------
// 4. The driver SIGKILLed mid-action
// ---------------------------------------------------------------------------------------

on_both_backends!(
    a_driver_killed_mid_action_hands_over_and_leaves_the_action_interrupted,
    driver_killed
);

fn driver_killed(backing: &Backing) {
    let deck = backing.deck();
    let pid_file = deck.dir.path().join("action.pid");
    // The output words are built by printf, so the argv the detail pane shows never matches.
    let plan = deck.write(
        "slow.toml",
        &format!(
            r#"[service]
name = "shop"
environment = "staging"

[policy]
declared_operators = true

[actions.slow]
kind = "command"
argv = ["sh", "-c", "echo $$ > '{pid}'; printf 'slow %s\\n' started; sleep 5; printf 'slow %s\\n' done"]
timeout = "60s"

[[stages]]
id = "s"
name = "S"

  [[stages.steps]]
  id = "work"
  kind = "action"
  action = "slow"

  [[stages.steps]]
  id = "go"
  kind = "gate"
"#,
            pid = pid_file.display()
        ),
    );
    deck.ok(&[Path::new("start"), &plan, Path::new("--version"), Path::new("1.4.0")]);

    let names = ["alice", "bob"];
    let cockpits: Vec<Pty> = names.iter().map(|n| cockpit(&deck, n, "STAGING")).collect();
    let all: Vec<&Pty> = cockpits.iter().collect();
    wait_headers(&all, "one of two driving", timeout(15), |headers| {
        headers.iter().all(|h| h.contains("+1 watching: "))
            && headers.iter().filter(|h| h.contains("driven by ")).count() == 1
    });
    let d = (0..2).find(|&i| !header(&cockpits[i]).contains("driven by ")).expect("a driver");
    let (driver, other) = (&cockpits[d], &cockpits[1 - d]);
    assert_eq!(driven_by(&header(other), &names), Some(names[d]), "{}", header(other));

    // The driver starts the action and dies in the middle of it.
    driver.send_str("n");
    must(driver.wait_for_text("slow started", timeout(20)));
    let events = deck.events();
    assert_eq!(kinds(&events), ["release_started", "action_started"], "before the kill");
    assert_eq!(events[1]["actor"]["pid"].as_i64(), Some(i64::from(driver.pid())));
    driver.signal(libc::SIGKILL);
    let status = driver.wait_exit(timeout(10)).expect("the driver dies on SIGKILL");
    assert!(!status.success(), "{status:?}");

    // The other cockpit takes over (the lease lapses 8 s after the last renewal, claimed
    // every 2 s) and marks the action interrupted.
    must(other.wait_until(|s| !header_of(s).contains("driven by "), timeout(12)));
    assert!(header(other).contains("you: "), "{}", other.screen_text());
    let events = deck.wait_events("the interruption", timeout(10), |e| {
        !of_kind(e, "action_interrupted").is_empty()
    });
    let interrupted = of_kind(&events, "action_interrupted");
    assert_eq!(interrupted.len(), 1, "{:?}", kinds(&events));
    assert_eq!(interrupted[0]["event"]["step"], "work");
    assert_eq!(interrupted[0]["event"]["attempt"], 1);
    assert_eq!(interrupted[0]["actor"]["automatic"], true, "{:#}", interrupted[0]);
    assert_eq!(
        interrupted[0]["actor"]["pid"].as_i64(),
        Some(i64::from(other.pid())),
        "the new driver recorded it: {:#}",
        interrupted[0]
    );
    must(other.wait_for_text("INTERRUPTED", timeout(10)));
    // The dead driver stopped heartbeating, so it is no longer listed as watching.
    let gone = format!("{}@", names[d]);
    must(other.wait_until(
        |s| {
            let h = header_of(s);
            !h.contains("watching") && !h.contains(&gone)
        },
        timeout(12),
    ));

    // Never re-run: the action waits for a person.
    quit(other);
    let events = deck.events();
    assert_eq!(of_kind(&events, "action_started").len(), 1, "{:?}", kinds(&events));
    assert!(of_kind(&events, "action_finished").is_empty(), "{:?}", kinds(&events));
    assert_eq!(deck.status()["steps"][0]["status"], "interrupted");
    let out = deck.run(&["next"]).expect_code(3, "next on an interrupted action");
    assert!(out.stderr.contains("interrupted"), "{out:?}");

    // The action ran in its own process group, which the driver's death did not reach.
    let pgid: i32 = std::fs::read_to_string(&pid_file)
        .expect("the action wrote its pid")
        .trim()
        .parse()
        .expect("a pid");
    // SAFETY: killpg only sends a signal, to the group this test's action created.
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
}
