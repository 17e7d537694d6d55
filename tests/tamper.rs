//! A record nobody can quietly rewrite: tamper cases on a real store written by the real
//! binary, edited afterwards through a raw SQLite connection as someone with write access to
//! the file would. An edited stored plan is refused and named; approvals injected into the
//! snapshot cache pass no gate and `verify` names the snapshot; deleting the newest events
//! (and lowering `last_seq`) is caught by a head written down earlier; with signed approvals,
//! approvals signed through a test ssh-agent verify and a forged one is named.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};

use flightdeck::release::{Actor, Event, Mark, Signature, State, Timestamp};
use flightdeck::store::{SealedSnapshot, Store, StoredEvent};
use serde_json::Value;
use sqlx::{Connection, Executor, Row, SqliteConnection};
use support::cli::{Deck, FIXTURE};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

/// The fixture plan with two approvals at its gate, and `policy` lines added.
fn plan(deck: &Deck, policy: &str) -> PathBuf {
    let text = std::fs::read_to_string(FIXTURE).expect("fixture");
    let gate = "  id = \"go\"\n  kind = \"gate\"\n";
    assert!(text.contains(gate), "the fixture has the go gate");
    let text = text
        .replace(gate, &format!("{gate}  approvals = 2\n"))
        .replace("declared_operators = true\n", &format!("declared_operators = true\n{policy}"));
    deck.write("plan.toml", &text)
}

/// Starts a release of `plan` and brings it to the go gate (checklist ticked and done).
fn to_the_gate(deck: &Deck, plan: &Path) {
    deck.ok(&[
        Path::new("start"),
        plan,
        Path::new("--version"),
        Path::new("1.0.0"),
        Path::new("--operator"),
        Path::new("starter"),
    ]);
    deck.ok(&["tick", "tests", "--operator", "alice"]);
    deck.ok(&["tick", "oncall", "--operator", "alice"]);
    deck.ok(&["next", "--operator", "alice"]);
    assert_eq!(deck.status()["release"]["current_step"], "go");
}

/// A raw connection to the deck's database, with the append-only triggers dropped.
async fn attacker(deck: &Deck) -> SqliteConnection {
    let url = format!("sqlite://{}", deck.db.display());
    let mut conn = SqliteConnection::connect(&url).await.expect("raw connection");
    conn.execute(
        "DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete;",
    )
    .await
    .expect("drop triggers");
    conn
}

fn sql(deck: &Deck, statement: &str) {
    block_on(async {
        let mut conn = attacker(deck).await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
        conn.close().await.expect("close");
    });
}

#[test]
fn an_edited_stored_plan_is_refused_and_verify_names_it() {
    let deck = Deck::new();
    let plan = plan(&deck, "");
    to_the_gate(&deck, &plan);
    deck.ok(&["approve", "--operator", "alice"]);
    deck.fails(&["next", "--operator", "alice"], 3, "needs 2 approvals");
    deck.ok(&["verify"]);

    // approvals = 2 → 1 in the stored plan text.
    sql(
        &deck,
        "UPDATE releases SET plan_toml = replace(plan_toml, 'approvals = 2', 'approvals = 1')",
    );
    let before = deck.events().len();
    let refused = deck.fails(&["next", "--operator", "alice"], 1, "release 1 was tampered with");
    assert!(refused.stderr.contains("releases.plan_toml"), "{}", refused.stderr);
    assert!(refused.stderr.contains("flightdeck verify 1"), "{}", refused.stderr);
    assert_eq!(deck.events().len(), before, "nothing was recorded");

    let out = deck.run(&["verify"]).expect_code(1, "verify");
    assert!(
        out.stdout.contains("the stored plan (releases.plan_toml) was changed"),
        "{}",
        out.stdout
    );
    let json = deck.run(&["verify", "--json"]).expect_code(1, "verify --json");
    let v: Value = serde_json::from_str(&json.stdout).expect("verify --json is JSON");
    assert_eq!(v["intact"], false);
    assert_eq!(v["releases"][0]["plan"]["status"], "mismatch");
    assert_eq!(v["releases"][0]["chain"]["problem"], Value::Null, "the events are intact");
}

/// Approvals by mallory and eve at the go gate, put into a snapshot's state text.
fn inject_approvals(state_text: &str) -> String {
    let mut state: State = serde_json::from_str(state_text).expect("snapshot state");
    let go = state.steps.iter_mut().find(|s| s.id == "go").expect("go");
    for name in ["mallory", "eve"] {
        let by = Actor::person(name, "bastion", 1);
        go.approvals.insert(name.into(), Mark { by, at: Timestamp(1) });
    }
    serde_json::to_string(&state).expect("state json")
}

fn write_snapshot(deck: &Deck, sealed: &SealedSnapshot) {
    block_on(async {
        let mut conn = attacker(deck).await;
        sqlx::query("UPDATE snapshots SET state = ?")
            .bind(serde_json::to_string(sealed).expect("json"))
            .execute(&mut conn)
            .await
            .expect("write snapshot");
        conn.close().await.expect("close");
    });
}

fn gate_approvals(deck: &Deck) -> usize {
    block_on(async {
        let store = Store::open(&deck.db, true).await.expect("open");
        let loaded = store.load(1).await.expect("load");
        let go = loaded.state.steps.iter().find(|s| s.id == "go").expect("go");
        go.approvals.len()
    })
}

#[test]
fn approvals_injected_into_the_snapshot_pass_no_gate_and_verify_says_so() {
    let deck = Deck::new();
    let plan = plan(&deck, "");
    to_the_gate(&deck, &plan);
    // A snapshot of the release at the gate, as flightdeck writes every 256 events.
    let original = block_on(async {
        let store = Store::open(&deck.db, false).await.expect("open");
        let loaded = store.load(1).await.expect("load");
        store.save_snapshot(1, &loaded.state).await.expect("snapshot");
        store.close().await;
        let mut conn = store_conn(&deck).await;
        let text: String = sqlx::query("SELECT state FROM snapshots")
            .fetch_one(&mut conn)
            .await
            .expect("snapshot row")
            .get(0);
        conn.close().await.expect("close");
        serde_json::from_str::<SealedSnapshot>(&text).expect("a sealed snapshot")
    });
    deck.ok(&["verify"]);

    // Edited in place: the seal no longer matches, so even views ignore it.
    let mut edited = original.clone();
    edited.state = inject_approvals(&original.state);
    write_snapshot(&deck, &edited);
    assert_eq!(gate_approvals(&deck), 0, "the edited snapshot is discarded on load");
    deck.fails(&["next", "--operator", "alice"], 3, "needs 2 approvals");
    let out = deck.run(&["verify"]).expect_code(1, "verify");
    assert!(out.stdout.contains("SNAPSHOT: the snapshot at event"), "{}", out.stdout);
    assert!(
        out.stdout.contains("discarded and the state rebuilt from the events"),
        "{}",
        out.stdout
    );

    // Edited and resealed by someone who read the source: decisions still fold the events,
    // and verify refolds them and names the snapshot.
    let mut resealed = edited.clone();
    resealed.digest = SealedSnapshot::digest_of(&resealed.hash, &resealed.state);
    write_snapshot(&deck, &resealed);
    deck.fails(&["next", "--operator", "alice"], 3, "needs 2 approvals");
    let out = deck.run(&["verify"]).expect_code(1, "verify");
    assert!(out.stdout.contains("is not the fold of events"), "{}", out.stdout);
    assert_eq!(deck.status()["release"]["current_step"], "go");
}

async fn store_conn(deck: &Deck) -> SqliteConnection {
    SqliteConnection::connect(&format!("sqlite://{}", deck.db.display())).await.expect("connect")
}

#[test]
fn deleting_the_newest_events_is_caught_by_the_anchored_head() {
    let deck = Deck::new();
    deck.start_fixture("1.0.0");
    deck.ok(&["tick", "tests", "--operator", "alice"]);
    deck.ok(&["note", "looks good", "--operator", "alice"]);
    // The head as a script would keep it (a ticket, a chat message).
    let head = deck.status()["head"].clone();
    let anchor = head["anchor"].as_str().expect("status --json has the head").to_owned();
    let hash = head["hash"].as_str().expect("hash").to_owned();
    let seq = head["seq"].as_u64().expect("seq");
    assert_eq!(anchor, format!("{seq}:{hash}"));
    // The record grows after it: still fine.
    deck.ok(&["tick", "oncall", "--operator", "bob"]);
    deck.ok(&["verify", "--head", &anchor]);
    deck.ok(&["verify", "--head", &hash]);
    let json = deck.ok(&["verify", "--json"]);
    let v: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(v["releases"][0]["head"]["seq"], seq + 1);

    // Delete the anchored event and everything after it, and lower last_seq to match.
    sql(
        &deck,
        &format!(
            "DELETE FROM events WHERE seq >= {seq}; UPDATE releases SET last_seq = {};",
            seq - 1
        ),
    );
    // The chain alone cannot tell: what is left is a well-formed, shorter record.
    deck.ok(&["verify"]);
    let out = deck.run(&["verify", "1", "--head", &anchor]).expect_code(1, "verify --head");
    assert!(out.stdout.contains("ANCHORED HEAD NOT REACHED"), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("the events end at {}", seq - 1)), "{}", out.stdout);
    assert!(out.stderr.contains("the record was tampered with"), "{}", out.stderr);
    let out = deck.run(&["verify", "--head", &hash]).expect_code(1, "verify --head HASH");
    assert!(out.stdout.contains("no event has the anchored head hash"), "{}", out.stdout);
    deck.fails(&["verify", "--head", "12:nothex"], 2, "a head is SEQ:HASH");
}

// ---------------------------------------------------------------------------------------
// Signed approvals
// ---------------------------------------------------------------------------------------

/// Whether `program` is on PATH.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|dir| dir.join(program).is_file()))
}

/// `ssh-keygen`/`ssh-agent`, or why the test is skipped (a failure under
/// FLIGHTDECK_REQUIRE_SERVERS=1, where CI installs openssh-client).
fn have_ssh(test: &str) -> bool {
    if ["ssh-keygen", "ssh-agent", "ssh-add"].iter().all(|p| on_path(p)) {
        return true;
    }
    if std::env::var("FLIGHTDECK_REQUIRE_SERVERS").as_deref() == Ok("1") {
        panic!(
            "FLIGHTDECK_REQUIRE_SERVERS=1 but {test} has no ssh-keygen (install openssh-client)"
        );
    }
    eprintln!(
        "skipping {test}: ssh-keygen, ssh-agent or ssh-add is not installed (openssh-client)"
    );
    false
}

/// A test ssh-agent on a socket in the deck's dir, killed when dropped.
struct Agent {
    child: Child,
    sock: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Self {
        let sock = dir.join("agent.sock");
        let child = Process::new("ssh-agent")
            .arg("-a")
            .arg(&sock)
            .arg("-D")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent");
        let agent = Self { child, sock };
        for _ in 0..500 {
            if agent.sock.exists() {
                return agent;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("ssh-agent did not create {}", agent.sock.display());
    }

    fn add(&self, key: &Path) {
        let out = Process::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.sock)
            .output()
            .expect("ssh-add");
        assert!(out.status.success(), "ssh-add: {out:?}");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throwaway key pair `dir/name` (+ `.pub`); returns the public key line.
fn keygen(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    let out = Process::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {out:?}");
    std::fs::read_to_string(dir.join(format!("{name}.pub"))).expect("public key").trim().to_owned()
}

/// `flightdeck ARGS` as `who`, signing through `agent` with `who`'s key.
fn as_signer(deck: &Deck, agent: &Agent, who: &str, args: &[&str]) -> support::cli::Out {
    let mut cmd = deck.command(args);
    cmd.args(["--operator", who])
        .env("SSH_AUTH_SOCK", &agent.sock)
        .env("FLIGHTDECK_SIGNING_KEY", deck.dir.path().join(format!("{who}.pub")));
    support::cli::Running::spawn(cmd).wait()
}

#[test]
fn signed_approvals_verify_and_a_forged_or_unsigned_one_is_named() {
    if !have_ssh("signed_approvals_verify_and_a_forged_or_unsigned_one_is_named") {
        return;
    }
    let deck = Deck::new();
    let dir = deck.dir.path().to_path_buf();
    let alice = keygen(&dir, "alice");
    let bob = keygen(&dir, "bob");
    let agent = Agent::start(&dir);
    agent.add(&dir.join("alice"));
    agent.add(&dir.join("bob"));
    let allowed = deck.write("allowed_signers", &format!("alice {alice}\nbob {bob}\n"));
    let allowed = allowed.to_string_lossy().into_owned();

    let plan = plan(&deck, "signed_approvals = true\n");
    to_the_gate(&deck, &plan);

    // Without an agent the approval is refused, saying how to get one.
    let mut cmd = deck.command(&["approve", "--operator", "carol"]);
    cmd.env_remove("SSH_AUTH_SOCK");
    let out = support::cli::Running::spawn(cmd).wait().expect_code(3, "approve without agent");
    assert!(out.stderr.contains("requires signed approvals"), "{}", out.stderr);
    assert!(out.stderr.contains("ssh-add"), "{}", out.stderr);

    as_signer(&deck, &agent, "alice", &["approve"]).expect_code(0, "alice approves");
    as_signer(&deck, &agent, "bob", &["approve"]).expect_code(0, "bob approves");
    deck.ok(&["next", "--operator", "alice"]);
    assert_eq!(deck.status()["release"]["current_step"], "backup");

    let events = deck.events();
    let approvals: Vec<&Value> =
        events.iter().filter(|e| e["event"]["kind"] == "approval_given").collect();
    assert_eq!(approvals.len(), 2);
    assert!(approvals.iter().all(|e| {
        e["event"]["signature"]["sig"].as_str().is_some_and(|s| s.contains("BEGIN SSH SIGNATURE"))
            && e["event"]["signature"]["key"].as_str().is_some_and(|k| k.starts_with("SHA256:"))
    }));
    // A rollback a person starts is signed too.
    as_signer(&deck, &agent, "bob", &["rollback", "--reason", "backup looks wrong", "--confirm"])
        .expect_code(0, "bob rolls back");
    assert!(
        deck.events().iter().any(|e| e["event"]["kind"] == "rollback_started"
            && e["event"]["signature"]["sig"].is_string())
    );
    let out = deck.ok(&["verify", "--allowed-signers", &allowed]);
    assert!(out.stdout.contains("signatures: 3 of 3 verified"), "{}", out.stdout);
    let out = deck.ok(&["verify"]);
    assert!(out.stdout.contains("3 not checked"), "{}", out.stdout);

    // Someone with write access appends approvals by mallory: one carrying bob's signature,
    // one with none, each hashed into the chain as flightdeck would.
    let (copied, unsigned) = block_on(forge_approvals(&deck));
    let out = deck.run(&["verify", "--allowed-signers", &allowed]).expect_code(1, "verify");
    assert!(out.stdout.contains("intact"), "the chain itself holds: {}", out.stdout);
    assert!(out.stdout.contains(&format!("BAD SIGNATURE: event {copied}")), "{}", out.stdout);
    assert!(out.stdout.contains("does not verify"), "{}", out.stdout);
    let json =
        deck.run(&["verify", "--json", "--allowed-signers", &allowed]).expect_code(1, "json");
    let v: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let problems: Vec<u64> = v["releases"][0]["signatures"]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(problems, [copied, unsigned]);
    let text = v["releases"][0]["problems"].to_string();
    assert!(text.contains("has no signature although the plan requires"), "{text}");
}

/// Appends two approvals by mallory, chained like flightdeck's own; returns their seqs.
async fn forge_approvals(deck: &Deck) -> (u64, u64) {
    let store = Store::open(&deck.db, true).await.expect("open");
    let stored = store.stored_events(1).await.expect("events");
    let origin = store.anchor(1).await.expect("anchor").origin_id;
    store.close().await;
    let signature: Option<Signature> = stored
        .iter()
        .rev()
        .find_map(|e| e.record().ok().and_then(|r| r.event.signature().cloned()));
    assert!(signature.is_some(), "bob's signature to copy");
    let last = stored.last().expect("events").clone();
    let mut prev = last.hash.clone().expect("chained");
    let mut conn = attacker(deck).await;
    let mut seqs = Vec::new();
    for (i, sig) in [signature, None].into_iter().enumerate() {
        let event = Event::ApprovalGiven { step: "go".into(), signature: sig };
        let seq = last.seq + 1 + u64::try_from(i).expect("i");
        let mut forged = StoredEvent {
            seq,
            at: last.at,
            actor: Actor::person("mallory", "bastion", 1),
            kind: event.kind().into(),
            schema: last.schema,
            payload: serde_json::to_string(&event).expect("payload"),
            hash: None,
        };
        let hash = forged.compute_hash(&prev, origin);
        forged.hash = Some(hash.clone());
        sqlx::query(
            "INSERT INTO events (release_id, seq, at, actor, account, host, pid, automatic, \
             kind, schema, payload, hash) VALUES (1, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
        )
        .bind(i64::try_from(seq).expect("seq"))
        .bind(forged.at.0)
        .bind(&forged.actor.name)
        .bind(&forged.actor.account)
        .bind(&forged.actor.host)
        .bind(i64::from(forged.actor.pid))
        .bind(&forged.kind)
        .bind(forged.schema)
        .bind(&forged.payload)
        .bind(&hash)
        .execute(&mut conn)
        .await
        .expect("insert forged approval");
        prev = hash;
        seqs.push(seq);
    }
    sqlx::query("UPDATE releases SET last_seq = ?")
        .bind(i64::try_from(seqs[1]).expect("seq"))
        .execute(&mut conn)
        .await
        .expect("last_seq");
    conn.close().await.expect("close");
    (seqs[0], seqs[1])
}

/// The cockpit and any other caller of `store::execute` cannot record an unsigned approval
/// on a plan that requires signatures: the store path refuses it, not only the CLI.
#[test]
fn an_unsigned_approval_is_refused_by_the_store_path_itself() {
    let deck = Deck::new();
    let plan = plan(&deck, "signed_approvals = true\n");
    to_the_gate(&deck, &plan);
    block_on(async {
        let store = Store::open(&deck.db, false).await.expect("open");
        let at = flightdeck::clock::now();
        let alice = Actor::person("alice", "bastion", 1);
        let approve = flightdeck::release::Command::Approve;
        let err = flightdeck::store::execute(&store, 1, &approve, &alice, None, || at)
            .await
            .expect_err("an unsigned approval is refused");
        assert!(err.to_string().contains("requires signed approvals"), "{err}");
        // A note needs no signature.
        let note = flightdeck::release::Command::Note { text: "waiting for bob".into() };
        flightdeck::store::execute(&store, 1, &note, &alice, None, || at).await.expect("note");
        store.close().await;
    });
    assert!(!deck.events().iter().any(|e| e["event"]["kind"] == "approval_given"));
}
