//! A real, private PostgreSQL server for one test: `PgServer::start()` runs `initdb` into a
//! fresh temporary directory and starts `postgres` on 127.0.0.1 only, on a port chosen at run
//! time, tuned for speed over durability (fsync, synchronous_commit and full_page_writes off);
//! dropping the `PgServer` stops the server (immediate shutdown, then SIGKILL if need be) and
//! removes the directory. Every wait is bounded. Each `start()` is an independent server, so
//! tests may start them from parallel threads and from several test binaries at once.
//!
//! The binaries come from `/usr/lib/postgresql/<highest version>/bin` (Debian's layout) or,
//! failing that, from PATH. PostgreSQL refuses to run as root: when the effective uid is 0 the
//! server (and `initdb`, `pg_ctl`) run as the `postgres` OS user, which owns the temporary
//! directory; otherwise they run as the current user. `psql` always runs as the current user
//! and connects over TCP as the `postgres` superuser (`trust` authentication on loopback).
//!
//! Tests call [`server_or_skip`]: without PostgreSQL the test prints why and passes, unless
//! `FLIGHTDECK_REQUIRE_SERVERS=1` (CI), where a missing server is a failure.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long `initdb` may take.
const INITDB_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one attempt to start the server may take before it is called failed.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Start attempts, each on a fresh port (a port found free can be taken before the server
/// binds it).
const START_ATTEMPTS: usize = 4;
/// How long one `psql` run may take.
const PSQL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long stopping the server may take, per step (`pg_ctl stop`, then SIGKILL).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Environment variables of libpq and the server that could point a command elsewhere than
/// this server; removed from every command the harness runs.
const PG_ENV: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGSSLMODE",
    "PGDATA",
    "PGCLUSTER",
    "PSQLRC",
];

/// A running PostgreSQL server private to one test. Stopped, and its files removed, on drop.
pub struct PgServer {
    /// The postmaster, a child of this process.
    postmaster: Child,
    port: u16,
    bin: PathBuf,
    /// Who the server runs as: `Some((uid, gid))` of `postgres` when this process is root.
    run_as: Option<(u32, u32)>,
    /// `data/` (the cluster) and `server.log` live here; removed after the server stopped.
    dir: tempfile::TempDir,
}

/// Starts a server for `test`, or says why not: on failure, with `FLIGHTDECK_REQUIRE_SERVERS=1`
/// it panics with the reason; otherwise it prints `skipping {test}: {reason}` to stderr and
/// returns `None`, and the test should return (and so pass).
pub fn server_or_skip(test: &str) -> Option<PgServer> {
    match PgServer::start() {
        Ok(server) => Some(server),
        Err(reason) => {
            if std::env::var("FLIGHTDECK_REQUIRE_SERVERS").as_deref() == Ok("1") {
                panic!("FLIGHTDECK_REQUIRE_SERVERS=1 but {test} has no PostgreSQL: {reason}");
            }
            eprintln!("skipping {test}: {reason}");
            None
        }
    }
}

impl PgServer {
    /// Creates a cluster in a fresh temporary directory and starts a server on it, listening on
    /// 127.0.0.1 only. `Err` is a human reason why no server could be started (no binaries,
    /// no `postgres` user to run as, or `initdb`/the server failed, with the tail of its log).
    pub fn start() -> Result<PgServer, String> {
        let bin = find_bin_dir()?;
        let run_as = if effective_uid()? == 0 { Some(postgres_user()?) } else { None };
        let dir = temp_dir(run_as.is_some())?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(|e| format!("cannot chown {} to postgres: {e}", dir.path().display()))?;
        }
        let data = dir.path().join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb.arg("-D").arg(&data);
        initdb.args(["--auth=trust", "-U", "postgres", "--encoding=UTF8", "--no-locale"]);
        // No fsync of the new cluster: it lives as long as the test.
        initdb.arg("--no-sync");
        let out = run(&mut as_server_user(initdb, run_as, dir.path()), "", INITDB_TIMEOUT)
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.ok {
            return Err(format!("initdb failed: {}", tail(&out.stderr, 20)));
        }

        let log = dir.path().join("server.log");
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            let log_file =
                File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
            let log_err = log_file
                .try_clone()
                .map_err(|e| format!("cannot reopen {}: {e}", log.display()))?;
            let mut postgres = Command::new(bin.join("postgres"));
            postgres
                .arg("-D")
                .arg(&data)
                .args(["-p", &port.to_string()])
                .args(SETTINGS.iter().flat_map(|setting| ["-c", setting]))
                .stdin(Stdio::null())
                .stdout(log_file)
                .stderr(log_err);
            let mut postmaster = as_server_user(postgres, run_as, dir.path())
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", bin.join("postgres").display()))?;
            match wait_ready(&mut postmaster, &data) {
                Ok(()) => {
                    return Ok(PgServer { postmaster, port, bin, run_as, dir });
                }
                Err(e) => {
                    // Stopped before reading the log, so that the log is complete.
                    stop(&mut postmaster, &bin, &data, run_as);
                    last_error = format!(
                        "the server on port {port} did not start: {e}; its log ends:\n{}",
                        tail(&fs::read_to_string(&log).unwrap_or_default(), 20)
                    );
                }
            }
        }
        Err(last_error)
    }

    /// `postgres://ROLE@127.0.0.1:PORT/DATABASE` (no password: loopback is `trust`). `database`
    /// and `role` are expected to be plain identifiers (no URL escaping is done).
    pub fn url(&self, database: &str, role: &str) -> String {
        format!("postgres://{role}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a fresh database `name` owned by the superuser `postgres` and returns its URL as
    /// `postgres`. Panics if it cannot (for example if it already exists).
    pub fn create_database(&self, name: &str) -> String {
        self.psql(
            "postgres",
            &format!("CREATE DATABASE \"{}\" OWNER postgres;", name.replace('"', "\"\"")),
        );
        self.url(name, "postgres")
    }

    /// Runs `sql` (any number of statements) in `database` as the superuser `postgres` with
    /// `psql -v ON_ERROR_STOP=1 -X -q -At`, and returns its stdout (unaligned, tuples only:
    /// `SELECT 1, 2` gives `"1|2\n"`). Panics with psql's stderr if any statement fails.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let mut psql = Command::new(self.bin.join("psql"));
        psql.args(["-v", "ON_ERROR_STOP=1", "-X", "-q", "-At"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", database, "-f", "-"])
            .env("PGCONNECT_TIMEOUT", "10");
        for var in PG_ENV {
            psql.env_remove(var);
        }
        match run(&mut psql, sql, PSQL_TIMEOUT) {
            Ok(out) if out.ok => out.stdout,
            Ok(out) => panic!("psql on {database} failed: {}\nSQL:\n{sql}", out.stderr.trim_end()),
            Err(e) => panic!("psql on {database}: {e}\nSQL:\n{sql}"),
        }
    }

    /// The TCP port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> u32 {
        self.postmaster.id()
    }

    /// The temporary directory holding the cluster (`data/`) and the server log
    /// (`server.log`); removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        stop(&mut self.postmaster, &self.bin, &self.dir.path().join("data"), self.run_as);
        // `self.dir` (a TempDir) is removed after this, when the fields drop.
    }
}

/// Waits, bounded, until `postmaster` says it accepts connections (status `ready` in
/// `postmaster.pid`); fails if it exits first (a port taken meanwhile, say).
fn wait_ready(postmaster: &mut Child, data: &Path) -> Result<(), String> {
    let pid_file = data.join("postmaster.pid");
    let pid = postmaster.id().to_string();
    let deadline = now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = postmaster.try_wait() {
            return Err(format!("the postmaster exited ({status})"));
        }
        if let Ok(text) = fs::read_to_string(&pid_file) {
            // Line 1: the postmaster's pid; line 8: its status.
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            if lines.first() == Some(&pid.as_str()) && lines.get(7) == Some(&"ready") {
                return Ok(());
            }
        }
        if now() >= deadline {
            return Err(format!("not ready after {}s", START_TIMEOUT.as_secs()));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Stops `postmaster` with an immediate shutdown (`pg_ctl stop -m immediate`, which also ends
/// its backends) and, if it is still there after that, SIGKILL. Reaps it either way. Bounded;
/// a no-op once it exited.
fn stop(postmaster: &mut Child, bin: &Path, data: &Path, run_as: Option<(u32, u32)>) {
    if let Ok(Some(_)) = postmaster.try_wait() {
        return;
    }
    let mut pg_ctl = Command::new(bin.join("pg_ctl"));
    pg_ctl
        .arg("-D")
        .arg(data)
        .args(["stop", "-m", "immediate", "-w", "-t"])
        .arg(STOP_TIMEOUT.as_secs().to_string());
    let cwd = data.parent().unwrap_or(data);
    let stopped =
        run(&mut as_server_user(pg_ctl, run_as, cwd), "", STOP_TIMEOUT + Duration::from_secs(5))
            .is_ok_and(|out| out.ok);
    // After a successful `pg_ctl stop -w` the postmaster is gone: this only reaps it.
    let grace = if stopped { STOP_TIMEOUT } else { Duration::from_secs(1) };
    if wait_child(postmaster, grace) {
        return;
    }
    let _ = postmaster.kill();
    wait_child(postmaster, STOP_TIMEOUT);
}

/// Server settings, passed as `-c` options: loopback TCP only, no unix socket, and speed over
/// durability. 100 connections: several test binaries at once, each with a pool and listeners.
const SETTINGS: &[&str] = &[
    "listen_addresses=127.0.0.1",
    "unix_socket_directories=",
    "max_connections=100",
    "shared_buffers=16MB",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_wal_senders=0",
    "wal_level=minimal",
];

/// The directory holding `initdb`, `postgres`, `pg_ctl` and `psql`.
fn find_bin_dir() -> Result<PathBuf, String> {
    const TOOLS: [&str; 4] = ["initdb", "postgres", "pg_ctl", "psql"];
    let complete = |dir: &Path| TOOLS.iter().all(|tool| dir.join(tool).is_file());
    // Debian: /usr/lib/postgresql/<major>/bin, the highest major first.
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.into_iter().rev().find(|(_, dir)| complete(dir)) {
        return Ok(dir);
    }
    // Elsewhere: the directory of `initdb` on PATH (following a symlink to the real one).
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let initdb = dir.join("initdb");
        if !initdb.is_file() {
            continue;
        }
        let real = fs::canonicalize(&initdb).ok().and_then(|p| p.parent().map(Path::to_path_buf));
        for candidate in real.into_iter().chain([dir.clone()]) {
            if complete(&candidate) {
                return Ok(candidate);
            }
        }
        return Err(format!(
            "found {} but not all of {} beside it (apt-get install postgresql)",
            initdb.display(),
            TOOLS.join(", ")
        ));
    }
    Err("no initdb under /usr/lib/postgresql/*/bin or on PATH (apt-get install postgresql)".into())
}

/// This process's effective uid, from /proc/self/status (Linux) or `id -u`.
fn effective_uid() -> Result<u32, String> {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        let euid = status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .and_then(|euid| euid.parse().ok());
        if let Some(euid) = euid {
            return Ok(euid);
        }
    }
    id(&["-u"])
}

/// The uid and gid of the `postgres` OS user (to run the server as when we are root).
fn postgres_user() -> Result<(u32, u32), String> {
    let why = |e: String| {
        format!("running as root, and PostgreSQL refuses to: no `postgres` user to run it as ({e})")
    };
    Ok((id(&["-u", "postgres"]).map_err(why)?, id(&["-g", "postgres"]).map_err(why)?))
}

fn id(args: &[&str]) -> Result<u32, String> {
    let out = run(Command::new("id").args(args), "", Duration::from_secs(10))
        .map_err(|e| format!("id {}: {e}", args.join(" ")))?;
    if !out.ok {
        return Err(format!("id {}: {}", args.join(" "), out.stderr.trim()));
    }
    out.stdout
        .trim()
        .parse()
        .map_err(|_| format!("id {}: unexpected output {:?}", args.join(" "), out.stdout))
}

/// A fresh temporary directory. When the server will run as another user, its parent must
/// be searchable by everyone: the usual temp dir if it is, else /tmp.
fn temp_dir(for_other_user: bool) -> Result<tempfile::TempDir, String> {
    let mut parent = std::env::temp_dir();
    if for_other_user && !searchable_by_all(&parent) {
        parent = PathBuf::from("/tmp");
    }
    tempfile::Builder::new()
        .prefix("flightdeck-pg-")
        .tempdir_in(&parent)
        .map_err(|e| format!("cannot create a temporary directory in {}: {e}", parent.display()))
}

fn searchable_by_all(dir: &Path) -> bool {
    let Ok(dir) = fs::canonicalize(dir) else {
        return false;
    };
    dir.ancestors()
        .all(|d| fs::metadata(d).map(|m| m.permissions().mode() & 0o001 != 0).unwrap_or(false))
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot bind 127.0.0.1:0: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("no local address: {e}"))
}

/// `command` set up to run as the server's user (when we are root), in `dir`, with no libpq
/// or server environment variables.
fn as_server_user(mut command: Command, run_as: Option<(u32, u32)>, dir: &Path) -> Command {
    if let Some((uid, gid)) = run_as {
        // std drops the supplementary groups when it switches uid as root.
        command.uid(uid).gid(gid);
    }
    for var in PG_ENV {
        command.env_remove(var);
    }
    command.current_dir(dir);
    command
}

/// Waits up to `timeout` for `child` to exit (and reaps it); whether it did.
fn wait_child(child: &mut Child, timeout: Duration) -> bool {
    let deadline = now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) if now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) => return false,
            Err(_) => return false,
        }
    }
}

/// What a finished command said.
struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `command` with `stdin` as its input, collecting its output, for at most `timeout`
/// (then it is killed and this is an `Err`).
fn run(command: &mut Command, stdin: &str, timeout: Duration) -> Result<Output, String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_owned();
    thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let collect = |mut pipe: Box<dyn Read + Send>| {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            let _ = tx.send(String::from_utf8_lossy(&text).into_owned());
        });
        rx
    };
    let stdout = collect(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = collect(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = now() + timeout;
    if !wait_child(&mut child, timeout) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("{program} timed out after {}s", timeout.as_secs()));
    }
    let status = child.wait().map_err(|e| format!("{program}: {e}"))?;
    // A grandchild could hold a pipe open: do not wait for it past the deadline.
    let rest = deadline.saturating_duration_since(now()).max(Duration::from_secs(1));
    Ok(Output {
        ok: status.success(),
        stdout: stdout.recv_timeout(rest).unwrap_or_default(),
        stderr: stderr.recv_timeout(rest).unwrap_or_default(),
    })
}

/// The wall clock, for the deadlines of waits on real processes (clippy.toml keeps
/// `Instant::now` out of everything else).
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
