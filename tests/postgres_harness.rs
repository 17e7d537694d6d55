//! The PostgreSQL test harness itself (`support::postgres`): a started server runs SQL through
//! psql, a SELECT-only role really cannot write, dropping the server leaves no process and no
//! directory behind, and two servers run side by side without seeing each other.
//!
//! Without PostgreSQL these tests say why and pass, unless FLIGHTDECK_REQUIRE_SERVERS=1 (CI).

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::net::TcpStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread;
use std::time::Instant;

use support::postgres::server_or_skip;

#[test]
fn a_server_runs_sql_and_a_select_only_role_cannot_write() {
    let started = now();
    let Some(server) = server_or_skip("a_server_runs_sql_and_a_select_only_role_cannot_write")
    else {
        return;
    };
    eprintln!("PgServer::start took {:?}", started.elapsed());

    let url = server.create_database("harness");
    assert_eq!(url, format!("postgres://postgres@127.0.0.1:{}/harness", server.port()));
    assert_eq!(
        server.url("harness", "watcher"),
        format!("postgres://watcher@127.0.0.1:{}/harness", server.port())
    );
    TcpStream::connect(("127.0.0.1", server.port())).expect("the server listens on 127.0.0.1");

    assert_eq!(server.psql("harness", "SELECT 1;"), "1\n");
    assert_eq!(
        server.psql("harness", "SELECT current_database(), current_user;"),
        "harness|postgres\n"
    );
    assert_eq!(
        server.psql("postgres", "SHOW listen_addresses; SHOW fsync; SHOW max_connections;"),
        "127.0.0.1\noff\n100\n"
    );

    server.psql(
        "harness",
        "CREATE TABLE steps (id integer PRIMARY KEY, name text NOT NULL);
         INSERT INTO steps VALUES (1, 'backup');
         CREATE ROLE watcher LOGIN;
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO watcher;",
    );
    assert_eq!(server.psql("harness", "SET ROLE watcher; SELECT name FROM steps;"), "backup\n");
    let insert = catch_unwind(AssertUnwindSafe(|| {
        server.psql("harness", "SET ROLE watcher; INSERT INTO steps VALUES (2, 'deploy');")
    }));
    let message = *insert
        .expect_err("an INSERT by a SELECT-only role must fail")
        .downcast::<String>()
        .expect("a formatted panic message");
    assert!(message.contains("permission denied"), "unexpected failure: {message}");
    assert_eq!(server.psql("harness", "SELECT count(*) FROM steps;"), "1\n");

    // A failing statement stops the script (ON_ERROR_STOP): nothing after it runs.
    let script = catch_unwind(AssertUnwindSafe(|| {
        server.psql(
            "harness",
            "SELECT no_such_column FROM steps; INSERT INTO steps VALUES (3, 'never');",
        )
    }));
    assert!(script.is_err());
    assert_eq!(server.psql("harness", "SELECT count(*) FROM steps;"), "1\n");

    // Dropping the server ends the postmaster and all its children, and removes its files.
    let pid = server.pid();
    let dir = server.dir().to_path_buf();
    let children = children_of(pid);
    assert!(!children.is_empty(), "a postmaster has helper processes");
    assert!(alive(pid));
    let stopping = now();
    drop(server);
    eprintln!("dropping the PgServer took {:?}", stopping.elapsed());
    assert!(!alive(pid), "postmaster {pid} survived the drop");
    for child in children {
        assert!(!alive(child), "server process {child} survived the drop");
    }
    assert!(!dir.exists(), "{} survived the drop", dir.display());
}

#[test]
fn two_servers_run_side_by_side() {
    let started = now();
    let servers: Vec<_> = (0..2)
        .map(|_| thread::spawn(|| server_or_skip("two_servers_run_side_by_side")))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|handle| handle.join().expect("start thread"))
        .collect();
    let Some(servers) = servers.into_iter().collect::<Option<Vec<_>>>() else {
        return;
    };
    eprintln!("two PgServers in parallel took {:?}", started.elapsed());
    let (a, b) = (&servers[0], &servers[1]);
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());

    a.psql("postgres", "CREATE TABLE only_in_a (x int);");
    assert_eq!(
        a.psql("postgres", "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a';"),
        "1\n"
    );
    assert_eq!(
        b.psql("postgres", "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a';"),
        "0\n"
    );
    let pids: Vec<u32> = servers.iter().map(|s| s.pid()).collect();
    drop(servers);
    for pid in pids {
        assert!(!alive(pid), "postmaster {pid} survived the drop");
    }
}

/// Whether process `pid` is running: present in /proc and not a zombie.
fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| state(&stat) != Some('Z'))
        .unwrap_or(false)
}

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> BTreeSet<u32> {
    let mut children = BTreeSet::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After "pid (comm)": state, then the parent's pid.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse::<u32>().ok());
        if parent == Some(pid) {
            children.insert(child);
        }
    }
    children
}

fn state(stat: &str) -> Option<char> {
    stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next())
}

/// The wall clock, only to report how long starting and stopping took (clippy.toml keeps
/// `Instant::now` out of everything else).
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}
