//! The store on a real PostgreSQL server (started by the test on a loopback port in a temp
//! dir; skipped with a printed reason when PostgreSQL is not installed, unless
//! FLIGHTDECK_REQUIRE_SERVERS=1): the same guarantees as on SQLite — optimistic appends,
//! append-only events, idempotent migrations, changes seen through LISTEN — and a role
//! granted only SELECT can watch but is refused on every acting path with a clear message.

mod support;

use std::path::Path;
use std::time::Duration;

use flightdeck::plan::{self, ReleaseType};
use flightdeck::release::{Actor, Command, Event, EventRecord, Timestamp};
use flightdeck::store::{self, ExecuteError, Location, Store, StoreError};
use support::cli::{Deck, FIXTURE};
use support::postgres::{PgServer, server_or_skip};

fn at(ms: u64) -> Timestamp {
    Timestamp(1_795_344_000_000).plus_millis(ms)
}

fn person(name: &str) -> Actor {
    Actor {
        name: name.into(),
        account: name.into(),
        host: "bastion-1".into(),
        pid: 7,
        automatic: false,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn open(url: &str, read_only: bool) -> Result<Store, StoreError> {
    Store::open_at(&Location::parse(url), read_only).await
}

async fn started(url: &str) -> (Store, i64) {
    let store = open(url, false).await.expect("open");
    let (plan, text) = plan::load_file(Path::new(FIXTURE)).expect("fixture");
    let start = Command::Start {
        version: "1.4.0".into(),
        previous_version: Some("1.3.2".into()),
        sha: None,
        image: None,
        release_type: ReleaseType::Regular,
    };
    let (id, _) = store::start(&store, &plan, FIXTURE, &text, &start, &person("starter"), at(0))
        .await
        .expect("start");
    (store, id)
}

fn server(test: &str) -> Option<(PgServer, String)> {
    let server = server_or_skip(test)?;
    let url = server.create_database("flightdeck");
    Some((server, url))
}

#[test]
fn appends_are_sequence_checked_and_events_cannot_be_edited() {
    let Some((server, url)) = server("appends_are_sequence_checked_and_events_cannot_be_edited")
    else {
        return;
    };
    runtime().block_on(async {
        let (store, id) = started(&url).await;
        let loaded = store.load(id).await.expect("load");
        let seq = loaded.state.seq;
        let note = |text: &str, seq: u64| EventRecord {
            seq: seq + 1,
            at: at(1_000),
            actor: person("alice"),
            event: Event::NoteAdded { text: text.into() },
        };
        let mut next = loaded.state.clone();
        flightdeck::release::apply(&mut next, &note("first", seq));
        store.append(id, seq, &[note("first", seq)], &next).await.expect("the first append");
        let err = store.append(id, seq, &[note("second", seq)], &next).await.expect_err("stale");
        assert!(matches!(err, StoreError::Conflict), "{err:?}");
        assert_eq!(store.load(id).await.expect("load").state.notes, 1, "the loser wrote nothing");

        // Through execute, a command decided on a stale seq is re-decided, never doubled.
        let (records, _) = store::execute(
            &store,
            id,
            &Command::Note { text: "third".into() },
            &person("bob"),
            None,
            || at(2_000),
        )
        .await
        .expect("execute");
        assert_eq!(records.len(), 1);
        store.close().await;
    });
    // No role, not even the owner, can edit or delete an event.
    for sql in [
        "UPDATE events SET actor = 'mallory' WHERE seq = 1",
        "DELETE FROM events WHERE seq = 1",
        "TRUNCATE events CASCADE",
    ] {
        let out = std::panic::catch_unwind(|| server.psql("flightdeck", sql));
        assert!(out.is_err(), "{sql} must be refused");
    }
    let count = server.psql("flightdeck", "SELECT count(*) FROM events");
    assert_eq!(count.trim(), "3", "every event is still there");
}

#[test]
fn reopening_migrates_nothing_and_changes_are_heard_within_a_second() {
    let Some((server, url)) =
        server("reopening_migrates_nothing_and_changes_are_heard_within_a_second")
    else {
        return;
    };
    let migrations = || {
        server.psql("flightdeck", "SELECT version, checksum FROM _sqlx_migrations ORDER BY version")
    };
    runtime().block_on(async {
        let (store, _id) = started(&url).await;
        store.close().await;
    });
    let applied = migrations();
    assert_eq!(applied.lines().count(), 6, "{applied}");
    runtime().block_on(async {
        let store = open(&url, false).await.expect("reopen");
        let mut watch = store.change_watch().await.expect("listen");
        assert!(watch.changed().await.expect("first look"), "the first look reports a change");
        assert!(!watch.changed().await.expect("quiet"), "nothing happened since");

        // Another process (another pool) records a note: the watch hears of it.
        let other = open(&url, false).await.expect("another pool");
        let id = other.find(None).await.expect("find").id;
        store::execute(
            &other,
            id,
            &Command::Note { text: "hi".into() },
            &person("bob"),
            None,
            || at(5_000),
        )
        .await
        .expect("note");
        let mut heard = false;
        for _ in 0..50 {
            if watch.changed().await.expect("look") {
                heard = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(heard, "a commit by another pool is heard (bounded: 50 looks)");
        assert!(!watch.changed().await.expect("quiet again"));
        other.close().await;
        store.close().await;
    });
    assert_eq!(migrations(), applied, "a reopen applies nothing");
}

#[test]
fn a_select_only_role_watches_but_is_refused_on_every_acting_path() {
    let Some((server, url)) =
        server("a_select_only_role_watches_but_is_refused_on_every_acting_path")
    else {
        return;
    };
    let deck = Deck::on(&url);
    deck.start_fixture("1.4.0");
    deck.ok(&["tick", "tests", "--operator", "alice"]);
    deck.ok(&["tick", "oncall", "--operator", "bob"]);
    // The grants the README documents for a watcher.
    server.psql(
        "flightdeck",
        "CREATE ROLE watcher LOGIN; \
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO watcher;",
    );
    // Someone drives (until 2100), so a hand-over has something to offer.
    server.psql(
        "flightdeck",
        "INSERT INTO leases (release_id, holder, operator, host, pid, acquired_at, expires_at) \
         VALUES (1, 'bastion-1:4242', 'alice', 'bastion-1', 4242, 0, 4102444800000);",
    );
    let watcher = server.url("flightdeck", "watcher");
    let events_before = server.psql("flightdeck", "SELECT count(*) FROM events");

    let as_watcher = Deck::on(&watcher);
    let status = as_watcher.ok(&["status", "--json"]);
    assert!(status.stdout.contains("\"current_step\""), "a watcher reads: {status:?}");
    as_watcher.ok(&["events"]);
    for args in [
        &["note", "hi"][..],
        &["untick", "tests"],
        &["next"],
        &["rollback", "--reason", "x", "--confirm"],
        &["handover"],
    ] {
        let out = as_watcher.run(args);
        assert_ne!(out.code, Some(0), "{args:?} by a SELECT-only role: {out:?}");
        assert!(
            out.stderr.contains("may not write") || out.stderr.contains("permission denied"),
            "{args:?} names the cause: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("secret"),
            "{args:?}: no password in messages: {}",
            out.stderr
        );
    }
    assert_eq!(
        server.psql("flightdeck", "SELECT count(*) FROM events"),
        events_before,
        "nothing was recorded"
    );

    // The store layer says the same to a program.
    runtime().block_on(async {
        let store = open(&watcher, false).await.expect("a watcher opens a current schema");
        let id = store.find(None).await.expect("find").id;
        let err = store::execute(
            &store,
            id,
            &Command::Note { text: "x".into() },
            &person("w"),
            None,
            || at(9_000),
        )
        .await
        .expect_err("refused");
        match err {
            ExecuteError::Store(StoreError::ReadOnly { detail, .. }) => {
                assert!(detail.contains("may not write"), "{detail}");
            }
            other => panic!("expected a read-only refusal, got {other:?}"),
        }
        store.close().await;
    });
}

#[test]
fn a_password_never_appears_in_an_error() {
    let Some((server, _url)) = server("a_password_never_appears_in_an_error") else {
        return;
    };
    let bad =
        format!("postgres://nobody:hunter2secret@127.0.0.1:{}/no_such_database", server.port());
    let deck = Deck::on(&bad);
    let out = deck.run(&["list"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(!out.stderr.contains("hunter2secret"), "{}", out.stderr);
    assert!(out.stderr.contains("nobody:***@127.0.0.1"), "names where: {}", out.stderr);
}
