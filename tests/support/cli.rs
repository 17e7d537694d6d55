//! Runs the real `flightdeck` binary as a person would from a shell: a temp database per
//! test (`FLIGHTDECK_DB`), no inherited `FLIGHTDECK_*`, every child waited for with a bound
//! and killed if it overstays, so a hang fails the test instead of stalling the run.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");

/// The fixture plan: every step kind, harmless commands, a 1 s bake, declared operators.
pub const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/basic.toml");

/// How often a waiting helper looks again.
pub const POLL: Duration = Duration::from_millis(10);

/// How many polls a single invocation may take before it is killed (30 s).
const MAX_POLLS: u32 = 3000;

/// What a finished invocation left behind.
#[derive(Debug)]
pub struct Out {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// Asserts the exit code and returns self.
    #[track_caller]
    pub fn expect_code(self, code: i32, what: &str) -> Self {
        assert_eq!(
            self.code,
            Some(code),
            "{what}: expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A running child whose output is drained by threads (so it never blocks on a full pipe).
pub struct Running {
    child: Child,
    out: Option<JoinHandle<String>>,
    err: Option<JoinHandle<String>>,
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> Option<JoinHandle<String>> {
    pipe.map(|mut p| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = p.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    })
}

impl Running {
    /// Spawns `cmd` with piped output.
    pub fn spawn(mut cmd: Command) -> Self {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
        let out = drain(child.stdout.take());
        let err = drain(child.stderr.take());
        Self { child, out, err }
    }

    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGKILL (no-op if it already ended).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Waits for the end (killing the child after about 30 s) and collects its output.
    pub fn wait(mut self) -> Out {
        let mut status: Option<ExitStatus> = None;
        for _ in 0..MAX_POLLS {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                status = Some(s);
                break;
            }
            std::thread::sleep(POLL);
        }
        let status = match status {
            Some(s) => s,
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stdout = self.out.take().map(|h| h.join().unwrap_or_default());
                panic!("flightdeck did not finish in time; killed it. stdout so far: {stdout:?}");
            }
        };
        Out {
            code: status.code(),
            stdout: self.out.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default(),
            stderr: self.err.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One test's world: a temp dir holding the database (which does not exist until a verb
/// creates it) and any plans the test writes.
pub struct Deck {
    /// The temp dir; removed on drop.
    pub dir: TempDir,
    /// The SQLite database path (where a SQLite deck keeps its store).
    pub db: PathBuf,
    /// What every invocation gets as `FLIGHTDECK_DB`: `db`, or a PostgreSQL URL.
    pub store: String,
}

impl Default for Deck {
    fn default() -> Self {
        Self::new()
    }
}

impl Deck {
    /// Polls `events --json` until `pred` holds, up to `limit`; returns the events it held on.
    #[track_caller]
    pub fn wait_events(
        &self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = super::pty::now() + limit;
        loop {
            let events = self.events();
            if pred(&events) {
                return events;
            }
            if super::pty::now() >= deadline {
                panic!("gave up after {limit:?} waiting for {what}; events: {:?}", kinds(&events));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A fresh temp dir and database path.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("flightdeck.db");
        let store = db.to_string_lossy().into_owned();
        Self { dir, db, store }
    }

    /// A fresh temp dir whose invocations use the store at `url` (a PostgreSQL database).
    pub fn on(url: &str) -> Self {
        Self { store: url.to_owned(), ..Self::new() }
    }

    /// A command for the binary with this deck's database and a clean environment.
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("FLIGHTDECK_DB", &self.store)
            .env_remove("FLIGHTDECK_OPERATOR")
            .env("NO_COLOR", "1")
            .env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.dir.path().join("xdg-data"))
            .current_dir(self.dir.path());
        cmd
    }

    /// Spawns the binary without waiting.
    pub fn spawn<S: AsRef<OsStr>>(&self, args: &[S]) -> Running {
        Running::spawn(self.command(args))
    }

    /// Runs the binary to its end.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        self.spawn(args).wait()
    }

    /// Runs the binary and asserts exit 0.
    #[track_caller]
    pub fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        let what = args.iter().map(|a| a.as_ref().to_string_lossy()).collect::<Vec<_>>().join(" ");
        self.run(args).expect_code(0, &what)
    }

    /// Runs the binary and asserts the exit code and a fragment of stderr.
    #[track_caller]
    pub fn fails<S: AsRef<OsStr>>(&self, args: &[S], code: i32, stderr_has: &str) -> Out {
        let what = args.iter().map(|a| a.as_ref().to_string_lossy()).collect::<Vec<_>>().join(" ");
        let out = self.run(args).expect_code(code, &what);
        assert!(
            out.stderr.contains(stderr_has),
            "{what}: stderr should contain {stderr_has:?}\n--- stderr\n{}",
            out.stderr
        );
        out
    }

    /// Starts a release of the fixture plan as `starter`.
    #[track_caller]
    pub fn start_fixture(&self, version: &str) -> Out {
        self.ok(&[
            "start",
            FIXTURE,
            "--version",
            version,
            "--sha",
            "3f2a1c9",
            "--operator",
            "starter",
        ])
    }

    /// `status --json` of the default release.
    #[track_caller]
    pub fn status(&self) -> Value {
        let out = self.ok(&["status", "--json"]);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("status --json is not JSON ({e}):\n{}", out.stdout))
    }

    /// `events --json` of the default release, one value per line, seqs checked contiguous.
    #[track_caller]
    pub fn events(&self) -> Vec<Value> {
        let out = self.ok(&["events", "--json"]);
        let events: Vec<Value> = out
            .stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))
            })
            .collect();
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1), "seqs must be contiguous: {e}");
        }
        events
    }

    /// Writes a file in the temp dir and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// The database file's bytes and its WAL's: what "nothing was written" compares. A
    /// missing WAL counts as empty: SQLite's readers create an empty one (and the `-shm`
    /// index) beside a database whose last writer closed it, without writing any data.
    pub fn db_bytes(&self) -> (Vec<u8>, Vec<u8>) {
        (
            std::fs::read(&self.db).expect("read db"),
            std::fs::read(wal_of(&self.db)).unwrap_or_default(),
        )
    }
}

/// The WAL file beside a database.
pub fn wal_of(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}-wal", db.display()))
}

/// The `kind` of each event, in order.
pub fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["event"]["kind"].as_str().unwrap_or("?")).collect()
}
