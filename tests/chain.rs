//! Tamper evidence: events recorded through the engine chain their hashes; editing the SQLite
//! file from another connection (dropping the append-only triggers first, as an attacker
//! would) — altering, inserting or deleting an event — is detected and the event named.
//! Events written before chain support still load and are reported as unchained.

mod recorded;

use flightdeck::release::{Command, Event};
use flightdeck::store::{self, PlanCheck, Store, StoredEvent, Tamper};
use recorded::Rec;
use sqlx::{Connection, Executor, SqliteConnection};

/// A second, raw connection to the database, with the append-only triggers dropped.
async fn attacker(r: &Rec) -> SqliteConnection {
    let url = format!("sqlite://{}", r.path.display());
    let mut conn = SqliteConnection::connect(&url).await.expect("raw connection");
    conn.execute("DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete;")
        .await
        .expect("drop triggers");
    conn
}

async fn stored(r: &Rec) -> Vec<StoredEvent> {
    r.store.stored_events(r.id).await.expect("stored events")
}

async fn problem(r: &Rec) -> (u64, Tamper, String) {
    let report = r.store.verify(r.id).await.expect("verify");
    let Some(p) = report.problem.clone() else { panic!("tampering went unnoticed: {report:?}") };
    (p.seq, p.tamper, p.detail)
}

/// Moves events `from..` of the release up (`by` > 0) or down, as an attacker renumbering
/// around an insertion or a deletion would.
async fn renumber(conn: &mut SqliteConnection, id: i64, from: u64, by: i64) {
    let from = i64::try_from(from).expect("seq");
    sqlx::query("UPDATE events SET seq = seq + 100000 WHERE release_id = ? AND seq >= ?")
        .bind(id)
        .bind(from)
        .execute(&mut *conn)
        .await
        .expect("move away");
    sqlx::query("UPDATE events SET seq = seq - 100000 + ? WHERE release_id = ? AND seq >= 100000")
        .bind(by)
        .bind(id)
        .execute(&mut *conn)
        .await
        .expect("move back");
}

async fn insert_raw(conn: &mut SqliteConnection, id: i64, e: &StoredEvent) {
    sqlx::query(
        "INSERT INTO events (release_id, seq, at, actor, account, host, pid, automatic, kind, \
         schema, payload, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(i64::try_from(e.seq).expect("seq"))
    .bind(e.at.0)
    .bind(&e.actor.name)
    .bind(&e.actor.account)
    .bind(&e.actor.host)
    .bind(i64::from(e.actor.pid))
    .bind(i64::from(e.actor.automatic))
    .bind(&e.kind)
    .bind(e.schema)
    .bind(&e.payload)
    .bind(e.hash.as_deref())
    .execute(&mut *conn)
    .await
    .expect("insert forged event");
}

/// An approval nobody gave, stamped like event 10.
fn forged(like: &StoredEvent, seq: u64) -> StoredEvent {
    let event = Event::ApprovalGiven { step: "go".into(), signature: None };
    StoredEvent {
        seq,
        at: like.at,
        actor: recorded::person("mallory"),
        kind: event.kind().into(),
        schema: like.schema,
        payload: serde_json::to_string(&event).expect("payload"),
        hash: Some("0".repeat(64)),
    }
}

#[tokio::test]
async fn an_untouched_release_verifies_and_every_event_is_chained() {
    let r = recorded::completed().await;
    let report = r.store.verify(r.id).await.expect("verify");
    assert!(report.intact(), "{report:?}");
    let events = stored(&r).await;
    assert_eq!(report.events, 29);
    assert_eq!(report.unchained, 0);
    assert!(events.iter().all(|e| e.hash.as_ref().is_some_and(|h| h.len() == 64)));
    assert_eq!(report.head, events.last().and_then(|e| e.hash.clone()));
    // The start event carries the stored plan's sha256, and the head is the last event's.
    let (plan_toml, _) = r.store.stored_plan(r.id).await.expect("plan");
    assert_eq!(
        r.store.check_plan(r.id).await.expect("check"),
        PlanCheck::Matches { sha256: store::plan_digest(&plan_toml) }
    );
    let head = r.store.head(r.id).await.expect("head");
    assert_eq!((head.seq, head.hash.clone()), (29, report.head.clone()));
    assert_eq!(head.shown(), format!("29:{}", report.head.clone().expect("hash")));
    // Each hash depends on the one before: recompute the chain by hand.
    let anchor = r.store.anchor(r.id).await.expect("anchor");
    let mut prev = store::GENESIS.to_owned();
    for e in &events {
        let h = e.compute_hash(&prev, anchor.origin_id);
        assert_eq!(Some(&h), e.hash.as_ref(), "event {}", e.seq);
        prev = h;
    }
}

#[tokio::test]
async fn an_altered_payload_is_named() {
    let r = recorded::completed().await;
    let mut conn = attacker(&r).await;
    // Event 11 is the backup's outcome: make it say the backup took one second.
    sqlx::query("UPDATE events SET payload = ? WHERE release_id = ? AND seq = 11")
        .bind(r#"{"kind":"action_finished","step":"backup","attempt":1,"exit_code":0,"duration_ms":1000,"output_tail":null}"#)
        .bind(r.id)
        .execute(&mut conn)
        .await
        .expect("alter");
    let (seq, tamper, detail) = problem(&r).await;
    assert_eq!((seq, tamper), (11, Tamper::Altered), "{detail}");
    assert!(detail.contains("event 11 was altered"), "{detail}");
}

#[tokio::test]
async fn an_altered_actor_is_named() {
    let r = recorded::completed().await;
    let mut conn = attacker(&r).await;
    // Event 7 is bob's approval: pin it on someone else.
    sqlx::query("UPDATE events SET actor = 'mallory' WHERE release_id = ? AND seq = 7")
        .bind(r.id)
        .execute(&mut conn)
        .await
        .expect("alter");
    let (seq, tamper, detail) = problem(&r).await;
    assert_eq!((seq, tamper), (7, Tamper::Altered), "{detail}");
}

#[tokio::test]
async fn an_inserted_event_is_named() {
    let r = recorded::completed().await;
    let events = stored(&r).await;
    let mut conn = attacker(&r).await;
    renumber(&mut conn, r.id, 10, 1).await;
    insert_raw(&mut conn, r.id, &forged(&events[9], 10)).await;
    let (seq, tamper, detail) = problem(&r).await;
    assert_eq!((seq, tamper), (10, Tamper::Inserted), "{detail}");
}

#[tokio::test]
async fn an_inserted_event_with_a_well_formed_hash_is_named() {
    let r = recorded::completed().await;
    let events = stored(&r).await;
    let anchor = r.store.anchor(r.id).await.expect("anchor");
    let mut conn = attacker(&r).await;
    renumber(&mut conn, r.id, 10, 1).await;
    // The attacker knows the algorithm and chains the forgery to event 9.
    let mut fake = forged(&events[9], 10);
    fake.hash =
        Some(fake.compute_hash(events[8].hash.as_deref().unwrap_or_default(), anchor.origin_id));
    insert_raw(&mut conn, r.id, &fake).await;
    let (seq, tamper, detail) = problem(&r).await;
    assert_eq!((seq, tamper), (10, Tamper::Inserted), "{detail}");
}

#[tokio::test]
async fn an_event_appended_by_hand_is_named() {
    let r = recorded::completed().await;
    let events = stored(&r).await;
    let mut conn = attacker(&r).await;
    let mut fake = forged(&events[28], 30);
    fake.hash = None;
    insert_raw(&mut conn, r.id, &fake).await;
    let (seq, tamper, detail) = problem(&r).await;
    assert_eq!((seq, tamper), (30, Tamper::Inserted), "{detail}");
}

#[tokio::test]
async fn a_deleted_event_is_named() {
    let r = recorded::completed().await;
    let mut conn = attacker(&r).await;
    sqlx::query("DELETE FROM events WHERE release_id = ? AND seq = 8")
        .bind(r.id)
        .execute(&mut conn)
        .await
        .expect("delete");
    let (seq, tamper, detail) = problem(&r).await;
    assert_eq!((seq, tamper), (8, Tamper::Removed), "{detail}");
    assert!(detail.contains("event 8 is missing"), "{detail}");
}

#[tokio::test]
async fn a_deleted_event_with_the_rest_renumbered_is_named() {
    let r = recorded::completed().await;
    let mut conn = attacker(&r).await;
    sqlx::query("DELETE FROM events WHERE release_id = ? AND seq = 8")
        .bind(r.id)
        .execute(&mut conn)
        .await
        .expect("delete");
    renumber(&mut conn, r.id, 9, -1).await;
    sqlx::query("UPDATE releases SET last_seq = last_seq - 1 WHERE id = ?")
        .bind(r.id)
        .execute(&mut conn)
        .await
        .expect("fix last_seq");
    let (seq, tamper, detail) = problem(&r).await;
    assert_eq!((seq, tamper), (8, Tamper::Removed), "{detail}");
}

#[tokio::test]
async fn deleting_the_newest_events_is_named() {
    let r = recorded::completed().await;
    let mut conn = attacker(&r).await;
    sqlx::query("DELETE FROM events WHERE release_id = ? AND seq >= 28")
        .bind(r.id)
        .execute(&mut conn)
        .await
        .expect("delete");
    let (seq, tamper, detail) = problem(&r).await;
    assert_eq!((seq, tamper), (28, Tamper::Removed), "{detail}");
}

#[tokio::test]
async fn no_verb_can_edit_or_delete_an_event() {
    // Without dropping the triggers, the store refuses both.
    let r = recorded::aborted().await;
    let url = format!("sqlite://{}", r.path.display());
    let mut conn = SqliteConnection::connect(&url).await.expect("raw connection");
    let update = conn.execute("UPDATE events SET actor = 'mallory' WHERE seq = 1").await;
    assert!(update.is_err_and(|e| e.to_string().contains("append-only")));
    let delete = conn.execute("DELETE FROM events WHERE seq = 1").await;
    assert!(delete.is_err_and(|e| e.to_string().contains("append-only")));
}

/// A store as flightdeck wrote it before chain support: the first two migrations only, and
/// events without a hash column.
async fn pre_chain_store(dir: &tempfile::TempDir) -> (std::path::PathBuf, i64, usize) {
    // Record the events with today's engine, then write them into an old-schema file.
    let source = recorded::aborted().await;
    let events = stored(&source).await;
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = SqliteConnection::connect(&url).await.expect("create old store");
    let mut old = sqlx::migrate!("src/store/migrations/sqlite");
    old.migrations = old.migrations.iter().filter(|m| m.version <= 2).cloned().collect();
    old.run(&mut conn).await.expect("old migrations");
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO releases (service, environment, version, release_type, plan_path, \
         plan_toml, created_at, status, last_seq, updated_at) \
         VALUES ('checkout-api', 'production', '1.4.0', 'hotfix', 'p.toml', ?, ?, 'running', ?, ?) \
         RETURNING id",
    )
    .bind(recorded::PLAN)
    .bind(recorded::T0.0)
    .bind(i64::try_from(events.len() - 1).expect("count"))
    .bind(recorded::T0.0)
    .fetch_one(&mut conn)
    .await
    .expect("old release");
    // Everything but the abort, so the release is still running when the new version opens it.
    for e in &events[..events.len() - 1] {
        // Start events did not carry the plan's hash then.
        let mut payload: serde_json::Value = serde_json::from_str(&e.payload).expect("payload");
        if let Some(fields) = payload.as_object_mut() {
            fields.remove("plan_sha256");
        }
        sqlx::query(
            "INSERT INTO events (release_id, seq, at, actor, account, host, pid, automatic, \
             kind, schema, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(i64::try_from(e.seq).expect("seq"))
        .bind(e.at.0)
        .bind(&e.actor.name)
        .bind(&e.actor.account)
        .bind(&e.actor.host)
        .bind(i64::from(e.actor.pid))
        .bind(i64::from(e.actor.automatic))
        .bind(&e.kind)
        .bind(e.schema)
        .bind(payload.to_string())
        .execute(&mut conn)
        .await
        .expect("old event");
    }
    conn.close().await.expect("close");
    (path, id, events.len() - 1)
}

#[tokio::test]
async fn events_written_before_chain_support_load_and_are_reported_unchained() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, id, old_events) = pre_chain_store(&dir).await;
    let store = Store::open(&path, false).await.expect("a newer flightdeck opens an older store");
    let loaded = store.load(id).await.expect("old events still load");
    assert_eq!(loaded.state.seq, u64::try_from(old_events).expect("count"));

    let report = store.verify(id).await.expect("verify");
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.unchained, u64::try_from(old_events).expect("count"));
    // Its start event carries no plan hash: still valid, and said so.
    let plan = store.check_plan(id).await.expect("check plan");
    assert_eq!(plan, PlanCheck::NotHashed);
    assert!(plan.summary().starts_with("plan not hashed (recorded before"), "{}", plan.summary());
    assert!(
        report.summary().contains("unchained (written before chain support)"),
        "{}",
        report.summary()
    );

    // New events chain on from there.
    let now = recorded::at(300);
    store::execute(
        &store,
        id,
        &Command::Note { text: "upgraded flightdeck".into() },
        &recorded::person("alice"),
        None,
        || now,
    )
    .await
    .expect("append after upgrade");
    let report = store.verify(id).await.expect("verify");
    assert!(report.intact(), "{report:?}");
    assert!(report.head.is_some());

    // Stripping the hash of an event written after the upgrade is not "unchained".
    let url = format!("sqlite://{}", path.display());
    let mut conn = SqliteConnection::connect(&url).await.expect("raw");
    conn.execute("DROP TRIGGER events_no_update").await.expect("drop trigger");
    sqlx::query("UPDATE events SET hash = NULL WHERE release_id = ? AND seq = ?")
        .bind(id)
        .bind(i64::try_from(old_events + 1).expect("seq"))
        .execute(&mut conn)
        .await
        .expect("strip");
    let p = store.verify(id).await.expect("verify").problem.expect("a stripped hash is noticed");
    assert_eq!(p.seq, u64::try_from(old_events + 1).expect("seq"));
}

#[tokio::test]
async fn the_verify_verb_exits_1_naming_the_event() {
    let r = recorded::completed().await;
    let bin = env!("CARGO_BIN_EXE_flightdeck");
    let ok = std::process::Command::new(bin)
        .args(["--db", &r.path.display().to_string(), "verify"])
        .output()
        .expect("run verify");
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("intact: 29 events"), "{ok:?}");

    let mut conn = attacker(&r).await;
    sqlx::query("DELETE FROM events WHERE release_id = ? AND seq = 12")
        .bind(r.id)
        .execute(&mut conn)
        .await
        .expect("delete");
    let bad = std::process::Command::new(bin)
        .args(["--db", &r.path.display().to_string(), "verify", "1"])
        .output()
        .expect("run verify");
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(out.contains("TAMPERED: event 12 removed"), "{out}");
}

#[tokio::test]
async fn import_refuses_an_edited_export_and_an_unfinished_release_writing_nothing() {
    let r = recorded::completed().await;
    let exported = r.store.export(r.id).await.expect("export");
    let text = flightdeck::transfer::write(std::slice::from_ref(&exported)).expect("encode");
    let other_dir = tempfile::tempdir().expect("temp dir");
    let other = Store::open(&other_dir.path().join("laptop.db"), false).await.expect("open");

    // Bob's approval (event 7, line 8) pinned on someone else in the file.
    let edited: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| if i == 7 { l.replace("\"bob\"", "\"mallory\"") } else { l.to_owned() })
        .map(|l| l + "\n")
        .collect();
    assert_ne!(edited, text);
    let read = flightdeck::transfer::read(&edited).expect("still well-formed");
    let err = other.import(&read).await.expect_err("a broken chain is refused");
    assert!(err.to_string().contains("broken at event 7 (altered)"), "{err}");

    // A line taken out of the file.
    let cut: String =
        text.lines().enumerate().filter(|(i, _)| *i != 3).map(|(_, l)| format!("{l}\n")).collect();
    let err =
        other.import(&flightdeck::transfer::read(&cut).expect("read")).await.expect_err("refused");
    assert!(err.to_string().contains("incomplete"), "{err}");

    // A release still running is not history yet.
    let running = recorded::Rec::start(flightdeck::plan::ReleaseType::Regular).await;
    let export = running.store.export(running.id).await.expect("export");
    let err = other.import(&[export]).await.expect_err("refused");
    assert!(err.to_string().contains("is still running"), "{err}");

    assert!(other.releases().await.expect("list").is_empty(), "nothing was written");
}
