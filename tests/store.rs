//! The event store on real SQLite files in temp dirs (DESIGN §6, STYLE 37): a reloaded
//! release is the fold of its events, snapshots are a cache that a stale engine version
//! cannot poison, two pools racing on one file never both advance a step, the schema refuses
//! edits of history, and damaged, read-only or newer files are reported without being written.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use flightdeck::plan::{self, Plan, ReleaseType};
use flightdeck::release::{
    Actor, Command, Event, EventRecord, Outcome, RejectionKind, State, Status, StepStatus,
    Timestamp,
};
use flightdeck::store::{self, ExecuteError, Store, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Row};
use tempfile::TempDir;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/basic.toml");

/// A fixed clock: the store never needs the real time, and fixed stamps keep states equal.
fn at(ms: i64) -> Timestamp {
    Timestamp(1_795_344_000_000 + ms)
}

fn now() -> Timestamp {
    at(0)
}

fn person(name: &str) -> Actor {
    Actor {
        name: name.into(),
        account: "ops".into(),
        host: "bastion-1".into(),
        pid: 4242,
        automatic: false,
    }
}

fn fixture() -> (Plan, String) {
    plan::load_file(Path::new(FIXTURE)).expect("the fixture plan is valid")
}

fn start_command(version: &str) -> Command {
    Command::Start {
        version: version.into(),
        previous_version: Some("1.3.2".into()),
        sha: Some("3f2a1c9".into()),
        image: None,
        release_type: ReleaseType::Regular,
    }
}

/// A temp dir with a database path in it (the file does not exist yet).
fn temp_db() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flightdeck.db");
    (dir, path)
}

/// Opens the file and starts a release of the fixture plan.
async fn started(path: &Path) -> (Store, Plan, i64) {
    let store = Store::open(path, false).await.expect("open a new store");
    let (plan, text) = fixture();
    let (id, records) = store::start(
        &store,
        &plan,
        FIXTURE,
        &text,
        &start_command("1.4.0"),
        &person("starter"),
        now(),
    )
    .await
    .expect("start");
    assert_eq!(records.first().map(|r| r.seq), Some(1));
    (store, plan, id)
}

/// Runs a command that must succeed.
async fn ok(store: &Store, id: i64, command: Command, who: &str) -> Vec<EventRecord> {
    match store::execute(store, id, &command, &person(who), None, now).await {
        Ok((records, _)) => records,
        Err(e) => panic!("{} by {who} failed: {e}", command.verb()),
    }
}

/// A second connection to the same file, outside the store, for poking at it.
async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path))
        .await
        .expect("raw connection")
}

/// Waits (bounded) until every connection to `path` has closed: SQLite removes the WAL file
/// when the last one goes, after checkpointing it into the main file.
async fn wait_closed(path: &Path) {
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    for _ in 0..500 {
        if !wal.exists() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{} still exists: a connection to the database was never closed", wal.display());
}

/// Checks that seqs are 1..=n with no gap or duplicate, and returns n.
fn assert_contiguous(records: &[EventRecord]) -> u64 {
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1, "event seqs must be contiguous from 1");
    }
    records.len() as u64
}

/// Loads a release and checks that its state is exactly the fold of its stored events.
async fn assert_load_is_replay(store: &Store, plan: &Plan, id: i64) -> State {
    let loaded = store.load(id).await.expect("load");
    let events = store.events_after(id, 0).await.expect("events");
    assert_contiguous(&events);
    let replayed = State::replay(plan, &events);
    assert_eq!(loaded.state, replayed, "a loaded release must equal the fold of its events");
    assert_eq!(loaded.row.last_seq, replayed.seq, "the row's last_seq cache");
    assert_eq!(loaded.row.status, replayed.status.as_str(), "the row's status cache");
    loaded.state
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read the database file")
}

fn mtime(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path).and_then(|m| m.modified()).expect("mtime")
}

#[tokio::test]
async fn a_reloaded_release_equals_the_fold_of_its_events() {
    let (_dir, path) = temp_db();
    let (store, plan, id) = started(&path).await;
    ok(&store, id, Command::Tick { item: "tests".into() }, "alice").await;
    ok(&store, id, Command::Tick { item: "oncall".into() }, "bob").await;
    ok(&store, id, Command::Next { confirmed: false }, "alice").await;
    ok(&store, id, Command::Approve, "alice").await;
    ok(&store, id, Command::Approve, "bob").await;
    ok(&store, id, Command::Note { text: "looks good".into() }, "carol").await;
    ok(&store, id, Command::Next { confirmed: false }, "bob").await;
    // The backup action is claimed but its outcome is recorded by hand here.
    let claimed = ok(&store, id, Command::Next { confirmed: false }, "alice").await;
    assert!(matches!(claimed[0].event, Event::ActionStarted { .. }), "{claimed:?}");
    let outcome = Outcome::Succeeded {
        exit_code: Some(0),
        output_tail: Some("done".into()),
        outputs: Default::default(),
    };
    ok(
        &store,
        id,
        Command::RecordOutcome { step: "backup".into(), attempt: 1, outcome, duration_ms: 12 },
        "alice",
    )
    .await;

    let state = assert_load_is_replay(&store, &plan, id).await;
    assert_eq!(state.status, Status::Running);
    assert_eq!(state.steps[0].status, StepStatus::Done);
    assert_eq!(state.steps[1].approvals.keys().collect::<Vec<_>>(), ["alice", "bob"]);
    assert_eq!(state.steps[2].status, StepStatus::Done);
    assert_eq!(state.notes, 1);

    // A store opened afresh on the same file sees the same.
    drop(store);
    let again = Store::open(&path, false).await.expect("reopen");
    assert_eq!(assert_load_is_replay(&again, &plan, id).await, state);
    let rows = again.releases().await.expect("releases");
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].service.as_str(), rows[0].version.as_str()), ("shop", "1.4.0"));
}

#[tokio::test]
async fn snapshots_give_the_same_state_and_a_stale_engine_version_is_ignored() {
    let (_dir, path) = temp_db();
    let (store, plan, id) = started(&path).await;
    for i in 0..620 {
        ok(&store, id, Command::Note { text: format!("note {i}") }, "alice").await;
    }
    let state = assert_load_is_replay(&store, &plan, id).await;
    assert_eq!(state.notes, 620);

    let mut conn = raw(&path).await;
    let row = sqlx::query("SELECT seq, engine_version, state FROM snapshots WHERE release_id = ?")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .expect("a release of 621 events has a snapshot");
    let snapshot_seq: i64 = row.get("seq");
    let version: i64 = row.get("engine_version");
    assert!((512..=621).contains(&snapshot_seq), "snapshot at seq {snapshot_seq}");

    // The snapshot is what views load: one edited and resealed (as someone who read the
    // source could) shows through to them...
    let mut sealed: store::SealedSnapshot =
        serde_json::from_str(&row.get::<String, _>("state")).expect("a sealed snapshot");
    let mut inner: serde_json::Value = serde_json::from_str(&sealed.state).expect("state JSON");
    inner["notes"] = serde_json::json!(100_000);
    sealed.state = inner.to_string();
    sealed.digest = store::SealedSnapshot::digest_of(&sealed.hash, &sealed.state);
    let write = |sealed: &store::SealedSnapshot| {
        sqlx::query("UPDATE snapshots SET state = ? WHERE release_id = ?")
            .bind(serde_json::to_string(sealed).expect("json"))
            .bind(id)
    };
    write(&sealed).execute(&mut conn).await.expect("doctor the snapshot");
    let seen = store.load(id).await.expect("load").state;
    assert!(seen.notes >= 100_000, "load should start from the snapshot, got {} notes", seen.notes);
    // ...never to decisions, which fold the events...
    assert_eq!(store.load_from_events(id).await.expect("load").state.notes, 620);
    // ...and one edited without resealing is ignored.
    inner["notes"] = serde_json::json!(200_000);
    sealed.state = inner.to_string();
    write(&sealed).execute(&mut conn).await.expect("doctor the snapshot");
    assert_eq!(store.load(id).await.expect("load").state.notes, 620);
    sealed.digest = store::SealedSnapshot::digest_of(&sealed.hash, &sealed.state);
    write(&sealed).execute(&mut conn).await.expect("reseal");

    // ...but one written by another engine version is ignored and the state is rebuilt.
    sqlx::query("UPDATE snapshots SET engine_version = ? WHERE release_id = ?")
        .bind(version + 1)
        .bind(id)
        .execute(&mut conn)
        .await
        .expect("age the snapshot");
    conn.close().await.expect("close");
    let rebuilt = assert_load_is_replay(&store, &plan, id).await;
    assert_eq!(rebuilt, state);
    assert_eq!(rebuilt.notes, 620);

    // A fresh store on the same file agrees.
    let other = Store::open(&path, false).await.expect("second store");
    assert_eq!(assert_load_is_replay(&other, &plan, id).await, state);
}

/// Runs `command` at the same time from each (store, actor) pair, all having seen `seen`.
async fn race(
    stores: &[Store; 2],
    id: i64,
    command: &Command,
    names: &[&str],
    seen: Option<u64>,
) -> Vec<(String, Result<Vec<EventRecord>, ExecuteError>)> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(names.len()));
    let tasks: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let store = stores[i % 2].clone();
            let command = command.clone();
            let actor = person(name);
            let barrier = barrier.clone();
            let name = (*name).to_owned();
            tokio::spawn(async move {
                barrier.wait().await;
                let result = store::execute(&store, id, &command, &actor, seen, now)
                    .await
                    .map(|(records, _)| records);
                (name, result)
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("racer task"));
    }
    results
}

/// Exactly one racer won; every other one was told, as Stale, that the winner moved the
/// release on, by name.
fn one_winner(
    results: &[(String, Result<Vec<EventRecord>, ExecuteError>)],
) -> (String, Vec<EventRecord>) {
    let mut winners = results.iter().filter_map(|(name, r)| r.as_ref().ok().map(|r| (name, r)));
    let (winner, records) = winners.next().expect("somebody must win the race");
    if let Some((other, _)) = winners.next() {
        panic!("two racers advanced the same step: {winner} and {other}");
    }
    for (name, result) in results {
        match result {
            Ok(_) => {}
            Err(ExecuteError::Rejected(r)) => {
                assert_eq!(r.kind, RejectionKind::Stale, "{name} lost with {r:?}");
                assert!(r.message.contains("moved on"), "{name}: {}", r.message);
                assert!(
                    r.message.contains(winner.as_str()),
                    "{name}'s rejection should name {winner}: {}",
                    r.message
                );
            }
            Err(e) => panic!("{name} failed in the store: {e}"),
        }
    }
    (winner.clone(), records.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_racing_advance_each_step_exactly_once() {
    let (_dir, path) = temp_db();
    let (first, plan, id) = started(&path).await;
    let stores = [first, Store::open(&path, false).await.expect("second pool")];
    let names = ["alice", "bob", "carol", "dave", "erin", "frank"];

    ok(&stores[0], id, Command::Tick { item: "tests".into() }, "alice").await;
    ok(&stores[1], id, Command::Tick { item: "oncall".into() }, "bob").await;

    // Every step the racers can advance by themselves: the checklist, the gate (after
    // everyone approved at once), the backup action's claim and the traffic shift's claim.
    for step in ["pre", "go", "backup", "shift-10"] {
        if step == "go" {
            let approvals = race(&stores, id, &Command::Approve, &names, None).await;
            for (name, result) in &approvals {
                if let Err(e) = result {
                    panic!("{name}'s approval of a still-open gate was refused: {e}");
                }
            }
        }
        let seen = stores[0].last_seq(id).await.expect("last seq");
        let results =
            race(&stores, id, &Command::Next { confirmed: false }, &names, Some(seen)).await;
        let (winner, records) = one_winner(&results);
        assert_eq!(records[0].seq, seen + 1, "{step}: the winner appended right after {seen}");
        if let Event::ActionStarted { step: claimed, attempt, .. } = &records[0].event {
            assert_eq!(claimed, step);
            let outcome = Outcome::Succeeded {
                exit_code: Some(0),
                output_tail: None,
                outputs: Default::default(),
            };
            let record = Command::RecordOutcome {
                step: step.into(),
                attempt: *attempt,
                outcome,
                duration_ms: 1,
            };
            ok(&stores[1], id, record, &winner).await;
        }
    }

    let state = assert_load_is_replay(&stores[1], &plan, id).await;
    assert_eq!(state.steps[1].approvals.len(), names.len(), "every distinct approver counts once");
    for (i, step) in ["pre", "go", "backup", "shift-10"].iter().enumerate() {
        assert_eq!(state.steps[i].status, StepStatus::Done, "{step}");
        assert_eq!(state.steps[i].runs.len(), usize::from(i >= 2), "{step} ran at most once");
    }
    assert_eq!(state.weight, 10);

    let events = stores[0].events_after(id, 0).await.expect("events");
    for step in ["pre", "go", "backup", "shift-10"] {
        let completed = events
            .iter()
            .filter(|r| matches!(&r.event, Event::StepCompleted { step: s } if s == step))
            .count();
        assert_eq!(completed, 1, "{step} must be completed exactly once");
    }
    let approvals =
        events.iter().filter(|r| matches!(r.event, Event::ApprovalGiven { .. })).count();
    assert_eq!(approvals, names.len());

    let mut conn = raw(&path).await;
    let duplicates: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT release_id, seq FROM events GROUP BY release_id, seq \
         HAVING count(*) > 1)",
    )
    .fetch_one(&mut conn)
    .await
    .expect("count duplicates");
    assert_eq!(duplicates, 0);
    conn.close().await.expect("close");
}

#[tokio::test]
async fn an_append_at_a_used_seq_is_a_conflict_and_writes_nothing() {
    let (_dir, path) = temp_db();
    let (store, plan, id) = started(&path).await;
    ok(&store, id, Command::Note { text: "one".into() }, "alice").await;
    let loaded = store.load(id).await.expect("load");
    assert_eq!(loaded.state.seq, 2);

    let record = |seq| EventRecord {
        seq,
        at: now(),
        actor: person("mallory"),
        event: Event::NoteAdded { text: "rewritten".into() },
    };
    // The row's last_seq matches, but seq 2 is taken: the UNIQUE(release_id, seq) key refuses.
    let err = store.append(id, 2, &[record(2)], &loaded.state).await.expect_err("seq 2 is used");
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    // A writer that saw an older seq loses too.
    let err = store.append(id, 1, &[record(2)], &loaded.state).await.expect_err("stale writer");
    assert!(matches!(err, StoreError::Conflict), "{err:?}");

    let state = assert_load_is_replay(&store, &plan, id).await;
    assert_eq!(state.seq, 2, "a failed append leaves nothing behind");
    let events = store.events_after(id, 0).await.expect("events");
    assert!(!events.iter().any(|r| r.actor.name == "mallory"));
}

#[tokio::test]
async fn events_cannot_be_updated_or_deleted() {
    let (_dir, path) = temp_db();
    let (store, _plan, id) = started(&path).await;
    ok(&store, id, Command::Note { text: "keep me".into() }, "alice").await;
    let mut conn = raw(&path).await;
    let update = sqlx::query("UPDATE events SET actor = 'mallory' WHERE release_id = ?")
        .bind(id)
        .execute(&mut conn)
        .await
        .expect_err("events are append-only");
    assert!(update.to_string().contains("append-only"), "{update}");
    let delete = sqlx::query("DELETE FROM events WHERE release_id = ?")
        .bind(id)
        .execute(&mut conn)
        .await
        .expect_err("events are append-only");
    assert!(delete.to_string().contains("append-only"), "{delete}");
    conn.close().await.expect("close");
    let events = store.events_after(id, 0).await.expect("events");
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|r| r.actor.name != "mallory"));
}

#[tokio::test]
async fn a_new_database_is_private() {
    let (_dir, path) = temp_db();
    let store = Store::open(&path, false).await.expect("open");
    let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    drop(store);

    // Its directory too, when flightdeck creates it.
    let (_dir2, parent) = temp_db();
    let nested = parent.with_file_name("nested").join("deeper").join("flightdeck.db");
    let _store = Store::open(&nested, false).await.expect("open in a new directory");
    let dir_mode =
        std::fs::metadata(nested.parent().expect("parent")).expect("metadata").permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o700, "mode {dir_mode:o}");
    let mode = std::fs::metadata(&nested).expect("metadata").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
}

#[tokio::test]
async fn a_corrupt_file_is_reported_and_left_alone() {
    let (_dir, path) = temp_db();
    // Deterministic garbage, 8 KiB: no SQLite header anywhere.
    let mut x: u32 = 0x2545_f491;
    let garbage: Vec<u8> = (0..8192)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect();
    std::fs::write(&path, &garbage).expect("write garbage");
    let err = Store::open(&path, false).await.expect_err("garbage is not a database");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("not a flightdeck database"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert_eq!(file_bytes(&path), garbage, "the damaged file must not be written");

    let err = Store::open(&path, true).await.expect_err("read-only too");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert_eq!(file_bytes(&path), garbage);
}

#[tokio::test]
async fn a_read_only_store_refuses_appends_and_writes_nothing() {
    let (_dir, path) = temp_db();
    let (store, plan, id) = started(&path).await;
    ok(&store, id, Command::Note { text: "before".into() }, "alice").await;
    store.close().await;
    drop(store);
    wait_closed(&path).await;
    let bytes = file_bytes(&path);
    let modified = mtime(&path);

    let ro = Store::open(&path, true).await.expect("open read-only");
    assert!(ro.is_read_only());
    let loaded = ro.load(id).await.expect("a read-only store still reads");
    assert_eq!(loaded.state.notes, 1);
    let err = store::execute(
        &ro,
        id,
        &Command::Note { text: "after".into() },
        &person("alice"),
        None,
        now,
    )
    .await
    .expect_err("read-only");
    assert!(matches!(err, ExecuteError::Store(StoreError::ReadOnly { .. })), "{err:?}");
    let mut next = loaded.state.clone();
    let record = EventRecord {
        seq: next.seq + 1,
        at: now(),
        actor: person("alice"),
        event: Event::NoteAdded { text: "raw".into() },
    };
    flightdeck::release::apply(&mut next, &record);
    let err = ro.append(id, loaded.state.seq, &[record], &next).await.expect_err("read-only");
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
    let err = ro.save_snapshot(id, &next).await.expect_err("read-only");
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
    let (plan2, text) = fixture();
    let err =
        store::start(&ro, &plan2, FIXTURE, &text, &start_command("9.9.9"), &person("x"), now())
            .await
            .expect_err("read-only");
    assert!(
        matches!(err, ExecuteError::Rejected(_) | ExecuteError::Store(StoreError::ReadOnly { .. })),
        "{err:?}"
    );
    ro.close().await;
    drop(ro);

    assert_eq!(file_bytes(&path), bytes, "a read-only store must not write the file");
    assert_eq!(mtime(&path), modified);
    let again = Store::open(&path, false).await.expect("reopen");
    assert_eq!(assert_load_is_replay(&again, &plan, id).await.notes, 1);

    // A missing file is not created by a read-only open.
    let missing = path.with_file_name("missing.db");
    let err = Store::open(&missing, true).await.expect_err("no file");
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(!missing.exists());
}

#[tokio::test]
async fn reopening_a_database_of_this_version_migrates_nothing() {
    let (_dir, path) = temp_db();
    let (store, plan, id) = started(&path).await;
    ok(&store, id, Command::Note { text: "n".into() }, "alice").await;
    let state = assert_load_is_replay(&store, &plan, id).await;
    drop(store);
    let applied = migrations_applied(&path).await;
    assert!(!applied.is_empty(), "the schema's migrations are recorded");
    for _ in 0..3 {
        let store = Store::open(&path, false).await.expect("reopen");
        assert_eq!(assert_load_is_replay(&store, &plan, id).await, state);
        drop(store);
        assert_eq!(migrations_applied(&path).await, applied, "a reopen applies nothing new");
    }
}

/// Every recorded migration: version, success, checksum.
async fn migrations_applied(path: &Path) -> Vec<(i64, bool, Vec<u8>)> {
    let mut conn = raw(path).await;
    let rows =
        sqlx::query("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .expect("migrations table");
    conn.close().await.expect("close");
    rows.iter().map(|r| (r.get("version"), r.get("success"), r.get("checksum"))).collect()
}

#[tokio::test]
async fn a_database_from_a_newer_flightdeck_is_refused() {
    let (_dir, path) = temp_db();
    let (store, _plan, _id) = started(&path).await;
    store.close().await;
    drop(store);
    let mut conn = raw(&path).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99991231000000, 'from the future', 1, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .expect("record a migration this build does not know");
    conn.close().await.expect("close");
    wait_closed(&path).await;
    let bytes = file_bytes(&path);

    let err = Store::open(&path, false).await.expect_err("a newer schema");
    assert!(matches!(err, StoreError::TooNew { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("newer flightdeck"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    wait_closed(&path).await;
    assert_eq!(file_bytes(&path), bytes, "nothing is written to a newer database");
}
