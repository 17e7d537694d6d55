//! The store's rules under races, crowds and permissions (issue 12, items 1, 7 and 9), with
//! the real binary: eight racing `start`s on an existing and on a new store (exactly one runs,
//! the others are refused naming it, no migration error), sixteen writers appending notes at
//! once (none fails), and read verbs on a store they may not write — a read-only file in a
//! read-only directory, as another user — creating nothing beside it and never locking its
//! owner out. Race and crowd scenarios run on SQLite and on a private PostgreSQL server
//! (skipped with a printed reason when PostgreSQL is absent, unless
//! FLIGHTDECK_REQUIRE_SERVERS=1).
//!
//! Every process a test starts is waited for with a bound (`support::cli`); nothing asserts
//! on how long anything took: the tests count outcomes.

mod support;

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use flightdeck::store::{Location, Store};
use serde_json::Value;
use support::cli::{BIN, Deck, FIXTURE, Out, Running};
use support::postgres::{PgServer, server_or_skip};

// ---------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------

/// Where a scenario's stores live: SQLite files in temp dirs, or fresh databases on one
/// private PostgreSQL server (stopped when this is dropped).
struct Backing {
    server: Option<PgServer>,
}

impl Backing {
    fn sqlite() -> Self {
        Self { server: None }
    }

    fn postgres(test: &str) -> Option<Self> {
        server_or_skip(test).map(|server| Self { server: Some(server) })
    }

    /// A deck on a store nothing has opened yet: a SQLite path with no file, or a new, empty
    /// database named `name`.
    fn new_deck(&self, name: &str) -> Deck {
        match &self.server {
            None => Deck::new(),
            Some(server) => Deck::on(&server.create_database(name)),
        }
    }
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

/// Spawns every command before waiting for any, so they all run at once.
fn all_at_once(deck: &Deck, commands: &[Vec<String>]) -> Vec<Out> {
    let running: Vec<Running> = commands.iter().map(|args| deck.spawn(args)).collect();
    running.into_iter().map(Running::wait).collect()
}

/// The `releases` of `list --json`.
fn list(deck: &Deck) -> Vec<Value> {
    let out = deck.ok(&["list", "--json"]);
    releases_of(&out)
}

fn releases_of(out: &Out) -> Vec<Value> {
    let value: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("list --json is not JSON ({e}):\n{}", out.stdout));
    match &value["releases"] {
        Value::Array(rows) => rows.clone(),
        _ => panic!("list --json has no list of releases:\n{}", out.stdout),
    }
}

// ---------------------------------------------------------------------------------------
// 1. One active release per service and environment
// ---------------------------------------------------------------------------------------

/// How many rounds of racers each scenario runs (the race was lost in 27 of 30 trials).
const ROUNDS: usize = 3;
/// How many `start`s race in a round.
const RACERS: usize = 8;

/// Races `RACERS` starts of the fixture's service on `deck` and checks that exactly one ran
/// and every other was refused (exit 3) naming it; returns the winner's release id.
fn race_starts(deck: &Deck, round: usize) -> String {
    let versions: Vec<String> = (0..RACERS).map(|i| format!("{round}.0.{i}")).collect();
    let commands: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            ["start", FIXTURE, "--version", v.as_str(), "--operator", "starter"]
                .map(String::from)
                .to_vec()
        })
        .collect();
    let outs = all_at_once(deck, &commands);
    let winners: Vec<usize> = (0..RACERS).filter(|&i| outs[i].code == Some(0)).collect();
    assert_eq!(winners.len(), 1, "round {round}: exactly one start runs: {outs:#?}");
    let winner = &outs[winners[0]];
    let id = winner
        .stdout
        .strip_prefix("started release ")
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("round {round}: the winner says which release: {winner:?}"))
        .to_owned();
    let named = format!("release {id}, version {}", versions[winners[0]]);
    for (i, out) in outs.iter().enumerate().filter(|(i, _)| *i != winners[0]) {
        assert_eq!(out.code, Some(3), "round {round}: racer {i} is refused by the rules: {out:?}");
        assert!(
            out.stderr.contains("already being released") && out.stderr.contains(&named),
            "round {round}: racer {i} names the release that won ({named}): {out:?}"
        );
        assert!(
            !out.stderr.contains("already exists") && !out.stderr.contains("migrat"),
            "round {round}: racer {i} shows no migration error: {out:?}"
        );
    }
    let running: Vec<Value> = list(deck)
        .into_iter()
        .filter(|r| r["service"] == "shop" && r["environment"] == "production")
        .filter(|r| matches!(r["status"].as_str(), Some("running" | "paused" | "rolling_back")))
        .collect();
    assert_eq!(running.len(), 1, "round {round}: one active release of shop: {running:#?}");
    assert_eq!(running[0]["id"].to_string(), id, "round {round}: the active one is the winner");
    id
}

fn racing_starts_on_an_existing_store(backing: &Backing) {
    let deck = backing.new_deck("existing");
    deck.start_fixture("0.9.0");
    deck.ok(&["abort", "--reason", "make room", "--operator", "starter"]);
    for round in 1..=ROUNDS {
        let id = race_starts(&deck, round);
        deck.ok(&["abort", "-R", id.as_str(), "--reason", "next round", "--operator", "starter"]);
    }
    let all = list(&deck);
    assert_eq!(all.len(), ROUNDS + 1, "one release per round and the first: {all:#?}");
}

fn racing_starts_on_a_new_store(backing: &Backing) {
    for round in 1..=ROUNDS {
        let deck = backing.new_deck(&format!("new{round}"));
        race_starts(&deck, round);
        assert_eq!(list(&deck).len(), 1, "round {round}: nothing else was created");
    }
}

on_both_backends!(
    eight_racing_starts_on_an_existing_store_run_exactly_one,
    racing_starts_on_an_existing_store
);
on_both_backends!(
    eight_racing_first_starts_of_a_new_store_run_exactly_one,
    racing_starts_on_a_new_store
);

/// `list --json` on a store that does not exist yet (or holds nothing) is an empty list.
fn empty_list(backing: &Backing) {
    let deck = backing.new_deck("empty");
    let out = deck.ok(&["--read-only", "list", "--json"]);
    assert!(releases_of(&out).is_empty(), "{out:?}");
    if let Some(server) = &backing.server {
        let tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'";
        assert_eq!(server.psql("empty", tables).trim(), "0", "--read-only created nothing");
    }
    let out = deck.ok(&["list", "--json"]);
    assert!(releases_of(&out).is_empty(), "{out:?}");
    let out = deck.ok(&["list"]);
    assert!(out.stdout.contains("no releases yet"), "{out:?}");
    match &backing.server {
        Some(server) => {
            // The first opener that may write creates the schema (README: open it once as
            // the owner, e.g. with `list`).
            let migrations = "SELECT count(*) > 0 FROM _sqlx_migrations";
            assert_eq!(server.psql("empty", migrations).trim(), "t", "list made the schema");
        }
        None => {
            assert!(!deck.db.exists(), "listing created no database file");
            std::fs::write(&deck.db, b"").expect("an empty file");
            let out = deck.ok(&["list", "--json"]);
            assert!(releases_of(&out).is_empty(), "{out:?}");
        }
    }
}

on_both_backends!(list_json_on_a_new_store_prints_an_empty_list, empty_list);

// ---------------------------------------------------------------------------------------
// 7. Contention is waited out
// ---------------------------------------------------------------------------------------

/// Writer processes appending at once, and notes each appends one after another.
const WRITERS: usize = 16;
const NOTES_EACH: usize = 25;

fn crowd_of_writers(backing: &Backing) {
    let deck = backing.new_deck("crowd");
    deck.start_fixture("1.0.0");
    let failures: Vec<String> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let deck = &deck;
                scope.spawn(move || {
                    let mut failed = Vec::new();
                    for n in 0..NOTES_EACH {
                        let text = format!("writer {w} note {n}");
                        let out = deck.run(&["note", text.as_str(), "--operator", "crowd"]);
                        if out.code != Some(0) {
                            failed.push(format!("{text}: exit {:?}: {}", out.code, out.stderr));
                        }
                    }
                    failed
                })
            })
            .collect();
        writers.into_iter().flat_map(|w| w.join().expect("writer thread")).collect()
    });
    assert!(failures.is_empty(), "{} of 400 notes failed: {failures:#?}", failures.len());
    let notes: BTreeSet<String> = deck
        .events()
        .iter()
        .filter(|e| e["event"]["kind"] == "note_added")
        .filter_map(|e| e["event"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(notes.len(), WRITERS * NOTES_EACH, "every note recorded once");
}

on_both_backends!(sixteen_writers_appending_notes_all_succeed, crowd_of_writers);

// ---------------------------------------------------------------------------------------
// 9. Read-only that works
// ---------------------------------------------------------------------------------------

/// The read verbs, each as a person would type it.
const READ_VERBS: &[&[&str]] = &[
    &["status"],
    &["status", "--json"],
    &["events"],
    &["report"],
    &["verify"],
    &["list", "--json"],
    &["team"],
    &["--read-only", "status"],
    &["--read-only", "events", "--json"],
];

fn sidecars(db: &Path) -> [PathBuf; 2] {
    ["-wal", "-shm"].map(|s| PathBuf::from(format!("{}{s}", db.display())))
}

/// A deck whose store (in `store/` under the deck's dir) holds a release with a few events.
fn deck_with_a_release() -> Deck {
    let mut deck = Deck::new();
    let dir = deck.dir.path().join("store");
    std::fs::create_dir(&dir).expect("store dir");
    deck.db = dir.join("flightdeck.db");
    deck.store = deck.db.to_string_lossy().into_owned();
    deck.start_fixture("2.0.0");
    deck.ok(&["tick", "tests", "--operator", "alice"]);
    deck.ok(&["note", "watch this one", "--operator", "alice"]);
    deck
}

/// Closes the store cleanly, as a last writer leaves it: SQLite checkpoints and removes its
/// `-wal` and `-shm`.
fn close_cleanly(db: &Path) {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(
        async {
            let store = Store::open_at(&Location::Sqlite(db.to_path_buf()), false)
                .await
                .expect("open the store");
            store.close().await;
        },
    );
    for s in sidecars(db) {
        assert!(!s.exists(), "a clean close removes {}", s.display());
    }
}

/// Keeps a writer's connection open for the rest of this test process, as a running cockpit
/// would: its `-wal` and `-shm` stay beside the store, and may hold commits not yet copied
/// into the file.
fn hold_open(db: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let store = runtime.block_on(async {
        let store = Store::open_at(&Location::Sqlite(db.to_path_buf()), false).await.expect("open");
        store.releases().await.expect("read through the writer's connection");
        store
    });
    // Leaked on purpose: closing it would checkpoint and remove the files under test.
    std::mem::forget(store);
    std::mem::forget(runtime);
    for s in sidecars(db) {
        assert!(s.exists(), "an open writer keeps {}", s.display());
    }
}

fn effective_uid() -> u32 {
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}

/// When the tests run as root, read verbs run as these other users (root reads and writes
/// anything, so permissions would test nothing): the store's owner and a watcher.
const OWNER_UID: u32 = 65534;
const WATCHER_UID: u32 = 65533;

/// Why processes cannot be run as other users here, if they cannot.
fn cannot_switch_users() -> Option<String> {
    if effective_uid() != 0 {
        return Some("not running as root, so other users cannot be impersonated".into());
    }
    // The binary must be reachable by an unprivileged user.
    let ok = Command::new(BIN).arg("--version").uid(WATCHER_UID).gid(WATCHER_UID).output();
    match ok {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "{BIN} does not run as uid {WATCHER_UID}: {}",
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) => Some(format!("{BIN} cannot be run as uid {WATCHER_UID}: {e}")),
    }
}

/// Runs the binary on `deck` as `uid` (when root) or as ourselves.
fn run_as(deck: &Deck, uid: Option<u32>, args: &[&str]) -> Out {
    let mut cmd = deck.command(args);
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid).env("HOME", "/nonexistent").env("XDG_DATA_HOME", "/nonexistent");
    }
    Running::spawn(cmd).wait()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid))
        .unwrap_or_else(|e| panic!("chown {uid} {}: {e}", path.display()));
}

/// What a directory holds: names and owners.
fn entries(dir: &Path) -> Vec<(String, u32)> {
    let mut all: Vec<(String, u32)> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            let e = e.expect("dir entry");
            (e.file_name().to_string_lossy().into_owned(), e.metadata().expect("metadata").uid())
        })
        .collect();
    all.sort();
    all
}

/// Every read verb on a store, with or without its `-wal`/`-shm` present, exits 0 and
/// creates nothing beside the file; the owner can still write afterwards.
#[test]
fn read_verbs_create_no_wal_or_shm_files() {
    for leave_sidecars in [false, true] {
        let deck = deck_with_a_release();
        if leave_sidecars {
            hold_open(&deck.db);
        } else {
            close_cleanly(&deck.db);
        }
        let dir = deck.db.parent().expect("store dir").to_path_buf();
        let before = entries(&dir);
        for args in READ_VERBS {
            let out = run_as(&deck, None, args);
            assert_eq!(out.code, Some(0), "{args:?} (sidecars left: {leave_sidecars}): {out:?}");
            assert_eq!(
                entries(&dir),
                before,
                "{args:?} created or removed files beside the store (sidecars left: {leave_sidecars})"
            );
        }
        let out = deck.run(&["status", "--json"]);
        assert!(out.stdout.contains("\"current_step\""), "status reads the release: {out:?}");
        deck.ok(&["note", "still writable", "--operator", "alice"]);
    }
}

/// A `chmod 0444` store in a `chmod 0555` directory, read by a user who may not write
/// either (another user when the tests run as root): every read verb works and shows the
/// release as it is.
#[test]
fn read_verbs_work_on_a_read_only_file_in_a_read_only_directory() {
    let other = match cannot_switch_users() {
        None => Some(WATCHER_UID),
        Some(reason) if effective_uid() != 0 => {
            eprintln!("read_verbs_work_on_a_read_only_file…: as ourselves ({reason})");
            None
        }
        Some(reason) => {
            eprintln!(
                "skipping read_verbs_work_on_a_read_only_file_in_a_read_only_directory: {reason}"
            );
            return;
        }
    };
    for leave_sidecars in [false, true] {
        let deck = deck_with_a_release();
        let expected = deck.status();
        if leave_sidecars {
            hold_open(&deck.db);
        } else {
            close_cleanly(&deck.db);
        }
        let dir = deck.db.parent().expect("store dir").to_path_buf();
        chmod(deck.dir.path(), 0o755);
        for file in std::iter::once(deck.db.clone()).chain(sidecars(&deck.db)) {
            if file.exists() {
                chmod(&file, 0o444);
            }
        }
        chmod(&dir, 0o555);
        let before = entries(&dir);
        for args in READ_VERBS {
            let out = run_as(&deck, other, args);
            assert_eq!(out.code, Some(0), "{args:?} (sidecars left: {leave_sidecars}): {out:?}");
            assert_eq!(entries(&dir), before, "{args:?} created files beside the store");
        }
        let out = run_as(&deck, other, &["status", "--json"]);
        let status: Value = serde_json::from_str(&out.stdout).expect("status --json");
        assert_eq!(status["release"]["seq"], expected["release"]["seq"], "reads the newest events");
        let out = run_as(&deck, other, &["note", "may I?", "--operator", "mallory"]);
        assert_eq!(out.code, Some(1), "a writing verb fails there, saying why: {out:?}");
        assert!(out.stderr.contains("cannot write"), "{out:?}");
        chmod(&dir, 0o755);
    }
}

/// A watcher running as another user next to a store in a directory both may write (the
/// setup where a watcher used to leave `-wal`/`-shm` files owned by itself) creates nothing
/// there, and the owner's next write succeeds.
#[test]
fn a_watcher_as_another_user_never_locks_out_the_owner() {
    if let Some(reason) = cannot_switch_users() {
        eprintln!("skipping a_watcher_as_another_user_never_locks_out_the_owner: {reason}");
        return;
    }
    let deck = deck_with_a_release();
    close_cleanly(&deck.db);
    let dir = deck.db.parent().expect("store dir").to_path_buf();
    chmod(deck.dir.path(), 0o755);
    chmod(&dir, 0o777);
    chown(&deck.db, OWNER_UID);
    chmod(&deck.db, 0o644);
    for args in READ_VERBS {
        let out = run_as(&deck, Some(WATCHER_UID), args);
        assert_eq!(out.code, Some(0), "the watcher's {args:?}: {out:?}");
        let strangers: Vec<(String, u32)> =
            entries(&dir).into_iter().filter(|(_, uid)| *uid != OWNER_UID).collect();
        assert!(strangers.is_empty(), "{args:?} left files the owner does not own: {strangers:?}");
    }
    let out = run_as(&deck, Some(OWNER_UID), &["note", "mine", "--operator", "alice"]);
    assert_eq!(out.code, Some(0), "the owner still writes: {out:?}");
    // And the other way round: while the owner's store has its sidecars, the watcher reads
    // through them and still creates nothing.
    let out = run_as(&deck, Some(WATCHER_UID), &["events", "--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("\"mine\""), "the watcher sees the owner's note: {out:?}");
    let strangers: Vec<(String, u32)> =
        entries(&dir).into_iter().filter(|(_, uid)| *uid != OWNER_UID).collect();
    assert!(strangers.is_empty(), "files the owner does not own: {strangers:?}");
}

/// A read-only store opened when no writer had it open (read as a snapshot, creating
/// nothing) still follows the release: commits by writers that closed the store, and, once a
/// writer keeps it open, commits still in its `-wal`, are seen and reported as changes.
#[test]
fn a_read_only_snapshot_follows_later_commits() {
    let deck = deck_with_a_release();
    close_cleanly(&deck.db);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    runtime.block_on(async {
        let ro = Store::open_at(&Location::Sqlite(deck.db.clone()), true).await.expect("open");
        let id = ro.releases().await.expect("releases")[0].id;
        let mut watch = ro.change_watch().await.expect("watch");
        assert!(watch.changed().await.expect("first look"), "the first look is a change");
        assert!(!watch.changed().await.expect("look"), "nothing happened yet");
        let first = ro.last_seq(id).await.expect("seq");
        for s in sidecars(&deck.db) {
            assert!(!s.exists(), "the reader created {}", s.display());
        }

        deck.ok(&["note", "after the watcher opened", "--operator", "alice"]);
        assert!(watch.changed().await.expect("look"), "a closed writer's commit is a change");
        assert_eq!(ro.last_seq(id).await.expect("seq"), first + 1, "and is read");

        let db = deck.db.clone();
        std::thread::spawn(move || hold_open(&db)).join().expect("a writer holds the store");
        deck.ok(&["note", "while a writer keeps it open", "--operator", "alice"]);
        assert!(watch.changed().await.expect("look"), "a commit in the -wal is a change");
        assert_eq!(ro.last_seq(id).await.expect("seq"), first + 2, "and is read through it");
        ro.close().await;
    });
}

/// A writer that finds the store's write lock taken waits for the whole busy timeout, then
/// says the store was kept busy and names who drives the release; nothing is written, and
/// once the lock is free the same command succeeds.
#[test]
fn a_writer_waits_out_the_lock_and_then_names_the_driver() {
    use sqlx::Connection;
    let deck = deck_with_a_release();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let (mut holder, before) = runtime.block_on(async {
        let store = Store::open_at(&Location::Sqlite(deck.db.clone()), false).await.expect("open");
        let id = store.releases().await.expect("releases")[0].id;
        // Alice's cockpit drives the release (its lease outlives the wait below).
        let alice = flightdeck::release::Actor {
            name: "alice".into(),
            account: "ops".into(),
            host: "bastion-1".into(),
            pid: 4242,
            automatic: false,
        };
        let later = flightdeck::clock::now().plus_millis(60_000);
        store.claim_lease(id, &alice, later).await.expect("lease");
        let before = store.last_seq(id).await.expect("seq");
        store.close().await;
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&deck.db);
        let mut holder = sqlx::sqlite::SqliteConnection::connect_with(&options).await.expect("c");
        sqlx::query("BEGIN IMMEDIATE").execute(&mut holder).await.expect("take the write lock");
        (holder, before)
    });
    let out = deck.run(&["note", "blocked", "--operator", "bob"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("kept busy"), "says the store was busy: {out:?}");
    assert!(out.stderr.contains("driven by alice@bastion-1"), "names the driver: {out:?}");
    assert!(out.stderr.contains("nothing was written"), "{out:?}");
    runtime.block_on(async {
        sqlx::query("ROLLBACK").execute(&mut holder).await.expect("free the write lock");
        holder.close().await.expect("close");
    });
    let events = deck.events();
    assert_eq!(events.len() as u64, before, "nothing was written while it waited");
    deck.ok(&["note", "unblocked", "--operator", "bob"]);
}
