//! The pty benchmark of the real binary (issue 7): `cargo bench --bench tty`.
//!
//! Runs the release build of `flightdeck demo` (and `flightdeck --db` on a store of 100,000
//! events) on a pseudo-terminal as a person over ssh would see it: `TERM=xterm-256color`,
//! `NO_COLOR` unset, every byte drained by a reader thread into a `vt100` screen. It reports,
//! as a table on stdout and as JSON in `target/flightdeck-tty-bench.json`: the time to the
//! first full frame (the footer's `q quit` on screen); bytes written, frames drawn and CPU %
//! of one core (utime + stime from `/proc/<pid>/stat`) over 20 s of steady demo with nothing
//! pressed; peak RSS (`VmHWM`); and key-to-screen latency (median and p95 over 20 presses of
//! `j`/`k` in the Steps pane, from the write to the chunk of output after which the
//! selection has moved on the parsed screen). At 120×40 and 80×24, with 200 more health
//! endpoints polled every second, and on a store of 100,000 events.
//!
//! It measures and asserts nothing: the budgets and the figures live in the README's
//! Performance section. `FLIGHTDECK_TTY_BENCH_IDLE_SECS` shortens the idle window for a
//! quick look. Linux only (it reads `/proc`). Everything it starts it stops: a `Term` kills
//! its child's process group when dropped.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flightdeck::clock::instant as now;
use flightdeck::plan;
use flightdeck::release::{Actor, Command, EventRecord, State, Timestamp, apply, decide};
use flightdeck::store::{self, Store};
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};
use serde_json::{Value, json};

/// The binary under test (cargo builds it with the bench profile).
const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");
/// The demo plan, for the 100,000-event store (its URLs pointed at a closed local port).
const DEMO_PLAN: &str = include_str!("../assets/plans/demo.toml");

/// Steady demo, nothing pressed, over which bytes, frames and CPU are measured.
const IDLE_WINDOW: Duration = Duration::from_secs(20);
/// After the first frame and before measuring: the pollers start and the first readings land.
const SETTLE: Duration = Duration::from_secs(3);
/// Navigation key presses timed per run.
const PRESSES: usize = 20;
/// Longest wait for one key's effect before it counts as missed.
const KEY_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for the first frame.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Extra health endpoints in the loaded mode.
const EXTRA_ENDPOINTS: usize = 200;
/// Events in the big store.
const STORE_EVENTS: usize = 100_000;
/// How many times the cockpit is opened on the big store.
const STORE_OPENS: usize = 5;
/// How often the waiting side looks at what the reader thread recorded.
const SPIN: Duration = Duration::from_micros(200);
/// What ratatui's loop writes before each frame (synchronized update begins).
const SYNC_BEGIN: &[u8] = b"\x1b[?2026h";

type Predicate = Box<dyn FnMut(&vt100::Screen) -> bool + Send>;

/// A predicate the reader thread checks after every chunk, and when it first held.
#[derive(Default)]
struct Watch {
    predicate: Option<Predicate>,
    hit: Option<Instant>,
}

/// State shared with the reader thread.
struct Shared {
    parser: Mutex<vt100::Parser>,
    bytes: AtomicU64,
    frames: AtomicU64,
    eof: AtomicBool,
    watch: Mutex<Watch>,
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The binary on a pseudo-terminal, drained always, its output timestamped by the reader.
struct Term {
    shared: Arc<Shared>,
    _master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    pid: i32,
    reader: Option<JoinHandle<()>>,
    exited: bool,
}

impl Term {
    /// Spawns `flightdeck ARGS` at `cols`×`rows` in `home` (also its HOME and XDG dirs), with
    /// `until` armed from just before the spawn; returns the terminal and that instant.
    fn spawn(
        args: &[&str],
        cols: u16,
        rows: u16,
        home: &Path,
        until: Predicate,
    ) -> (Term, Instant) {
        let size = |n: u16| NonZeroU16::new(n).expect("non-zero size");
        let pair = native_pty_system()
            .openpty(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 })
            .expect("open pty");
        let mut cmd = CommandBuilder::new(BIN);
        cmd.args(args);
        cmd.cwd(home);
        for (key, _) in std::env::vars_os() {
            let name = key.to_string_lossy();
            if name.starts_with("FLIGHTDECK_")
                || ["NO_COLOR", "COLUMNS", "LINES", "COLORTERM", "TMUX"].contains(&name.as_ref())
            {
                cmd.env_remove(&key);
            }
        }
        cmd.env("TERM", "xterm-256color");
        for (key, sub) in [
            ("HOME", ""),
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_STATE_HOME", "state"),
        ] {
            cmd.env(OsStr::new(key), home.join(sub).as_os_str());
        }
        let shared = Arc::new(Shared {
            parser: Mutex::new(vt100::Parser::new(size(rows), size(cols), 0)),
            bytes: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            eof: AtomicBool::new(false),
            watch: Mutex::new(Watch { predicate: Some(until), hit: None }),
        });
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let started = now();
        let child = pair.slave.spawn_command(cmd).expect("spawn flightdeck on a pty");
        drop(pair.slave);
        let pid = child.process_id().and_then(|p| i32::try_from(p).ok()).expect("child pid");
        let thread_shared = Arc::clone(&shared);
        let reader_thread = std::thread::Builder::new()
            .name("tty-bench-reader".into())
            .spawn(move || {
                let shared = thread_shared;
                let mut buf = vec![0u8; 64 * 1024];
                let mut carry: Vec<u8> = Vec::new();
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            let chunk = &buf[..n];
                            let mut parser = lock(&shared.parser);
                            parser.process(chunk);
                            let at = now();
                            {
                                let mut watch = lock(&shared.watch);
                                if watch.hit.is_none() {
                                    if let Some(pred) = watch.predicate.as_mut() {
                                        if pred(parser.screen()) {
                                            watch.hit = Some(at);
                                        }
                                    }
                                }
                            }
                            drop(parser);
                            carry.extend_from_slice(chunk);
                            let frames =
                                carry.windows(SYNC_BEGIN.len()).filter(|w| *w == SYNC_BEGIN);
                            shared.frames.fetch_add(frames.count() as u64, Ordering::SeqCst);
                            let keep = carry.len().saturating_sub(SYNC_BEGIN.len() - 1);
                            carry.drain(..keep);
                            shared.bytes.fetch_add(n as u64, Ordering::SeqCst);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                shared.eof.store(true, Ordering::SeqCst);
            })
            .expect("reader thread");
        let term = Term {
            shared,
            _master: pair.master,
            writer,
            child,
            pid,
            reader: Some(reader_thread),
            exited: false,
        };
        (term, started)
    }

    /// Arms `predicate` (replacing any other) and returns the instant it was armed.
    fn arm(&self, predicate: Predicate) -> Instant {
        let mut watch = lock(&self.shared.watch);
        *watch = Watch { predicate: Some(predicate), hit: None };
        now()
    }

    /// Waits until the armed predicate held (as of a chunk's arrival); how long after `from`.
    fn wait_hit(&self, from: Instant, timeout: Duration) -> Option<Duration> {
        let deadline = now() + timeout;
        loop {
            if let Some(at) = lock(&self.shared.watch).hit {
                return Some(at.saturating_duration_since(from));
            }
            if now() >= deadline || self.shared.eof.load(Ordering::SeqCst) {
                return None;
            }
            std::thread::sleep(SPIN);
        }
    }

    fn screen<R>(&self, f: impl FnOnce(&vt100::Screen) -> R) -> R {
        f(lock(&self.shared.parser).screen())
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).and_then(|()| self.writer.flush()).expect("write to pty");
    }

    fn bytes(&self) -> u64 {
        self.shared.bytes.load(Ordering::SeqCst)
    }

    fn frames(&self) -> u64 {
        self.shared.frames.load(Ordering::SeqCst)
    }

    /// utime + stime of the whole process (every thread), in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).expect("stat");
        // Fields after the command name (which may hold spaces): state is field 3, utime 14.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields[n - 3].parse::<u64>().expect("tick count");
        field(14) + field(15)
    }

    /// CPU time of every live thread (`/proc/<pid>/task/*/schedstat`), ns: a finer cross-check.
    fn cpu_ns(&self) -> u64 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) else { return 0 };
        tasks
            .filter_map(Result::ok)
            .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
            .sum()
    }

    /// Peak resident set size, KiB.
    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }

    /// Presses `q` and waits for the process to end.
    fn quit(&mut self) {
        self.send(b"q");
        let deadline = now() + Duration::from_secs(10);
        while now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                self.exited = true;
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        if !self.exited && !matches!(self.child.try_wait(), Ok(Some(_))) {
            // SAFETY: kill(2) on our own unreaped child (a session leader) and its group.
            unsafe {
                libc::kill(-self.pid, libc::SIGKILL);
                libc::kill(self.pid, libc::SIGKILL);
            }
            let _ = self.child.wait();
        }
        if let Some(reader) = self.reader.take() {
            let until = now() + Duration::from_secs(1);
            while !reader.is_finished() && now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
    }
}

/// Rows holding a reversed (selected) cell: moves when the selection does, and only then.
fn selected_rows(screen: &vt100::Screen) -> Vec<u16> {
    let (rows, cols) = screen.size();
    let (rows, cols) = (rows.get(), cols.get());
    (0..rows)
        .filter(|&r| (0..cols).any(|c| screen.cell(r, c).is_some_and(vt100::Cell::inverse)))
        .collect()
}

fn footer_shown(screen: &vt100::Screen) -> bool {
    screen.contents().contains("q quit")
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What one run of the demo measured.
struct DemoRun {
    name: String,
    cols: u16,
    rows: u16,
    first_frame_ms: f64,
    idle_secs: f64,
    bytes_per_s: f64,
    frames_per_s: f64,
    cpu_percent: f64,
    cpu_percent_schedstat: f64,
    peak_rss_mib: f64,
    key_ms: Vec<f64>,
    keys_missed: usize,
}

impl DemoRun {
    fn key(&self, p: f64) -> f64 {
        percentile(&self.key_ms, p)
    }

    fn json(&self) -> Value {
        json!({
            "mode": self.name,
            "size": format!("{}x{}", self.cols, self.rows),
            "first_frame_ms": self.first_frame_ms,
            "idle_window_s": self.idle_secs,
            "idle_bytes_per_s": self.bytes_per_s,
            "idle_frames_per_s": self.frames_per_s,
            "idle_cpu_percent_of_one_core": self.cpu_percent,
            "idle_cpu_percent_schedstat": self.cpu_percent_schedstat,
            "peak_rss_mib": self.peak_rss_mib,
            "key_to_screen_ms": {
                "presses": self.key_ms.len() + self.keys_missed,
                "missed": self.keys_missed,
                "median": self.key(50.0),
                "p95": self.key(95.0),
                "max": self.key(100.0),
                "all": self.key_ms,
            },
        })
    }
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

fn idle_window() -> Duration {
    std::env::var("FLIGHTDECK_TTY_BENCH_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(IDLE_WINDOW, Duration::from_secs)
}

/// A tiny deterministic generator for the gaps between presses.
fn gap(i: usize) -> Duration {
    let x = (i as u64).wrapping_mul(2_654_435_761) % 200;
    Duration::from_millis(150 + x)
}

/// Bytes, frames and CPU of one terminal over a window, as counted at its start.
struct Window {
    bytes: u64,
    frames: u64,
    ticks: u64,
    cpu_ns: u64,
}

impl Window {
    fn start(term: &Term) -> Window {
        Window {
            bytes: term.bytes(),
            frames: term.frames(),
            ticks: term.cpu_ticks(),
            cpu_ns: term.cpu_ns(),
        }
    }
}

/// A terminal being measured and what it is called in the report.
struct Measured {
    name: String,
    cols: u16,
    rows: u16,
    term: Term,
    first_frame: Duration,
    window: Option<Window>,
}

impl Measured {
    fn finish(mut self, secs: f64) -> DemoRun {
        let w = self.window.take().expect("window started");
        let (b, f, t, ns) =
            (self.term.bytes(), self.term.frames(), self.term.cpu_ticks(), self.term.cpu_ns());
        let (key_ms, keys_missed) = press_keys(&mut self.term);
        let peak_rss_mib = self.term.peak_rss_kib() as f64 / 1024.0;
        self.term.quit();
        DemoRun {
            name: self.name,
            cols: self.cols,
            rows: self.rows,
            first_frame_ms: ms(self.first_frame),
            idle_secs: secs,
            bytes_per_s: (b - w.bytes) as f64 / secs,
            frames_per_s: (f - w.frames) as f64 / secs,
            cpu_percent: (t - w.ticks) as f64 / clock_ticks_per_second() / secs * 100.0,
            cpu_percent_schedstat: (ns - w.cpu_ns) as f64 / 1e9 / secs * 100.0,
            peak_rss_mib,
            key_ms,
            keys_missed,
        }
    }
}

/// Times `PRESSES` alternate presses of `j` and `k`; returns the sorted latencies and how
/// many presses never showed.
fn press_keys(term: &mut Term) -> (Vec<f64>, usize) {
    let mut key_ms = Vec::new();
    let mut missed = 0;
    for i in 0..PRESSES {
        let key: &[u8] = if i % 2 == 0 { b"j" } else { b"k" };
        let before = term.screen(selected_rows);
        let from = term.arm(Box::new(move |s| selected_rows(s) != before));
        term.send(key);
        match term.wait_hit(from, KEY_TIMEOUT) {
            Some(d) => key_ms.push(ms(d)),
            None => missed += 1,
        }
        std::thread::sleep(gap(i));
    }
    key_ms.sort_by(f64::total_cmp);
    (key_ms, missed)
}

/// Opens `flightdeck ARGS` and waits for its first full frame.
fn open(name: &str, args: &[&str], cols: u16, rows: u16, home: &Path) -> Measured {
    eprintln!("tty bench: {name} at {cols}x{rows}…");
    let (term, started) = Term::spawn(args, cols, rows, home, Box::new(footer_shown));
    let first_frame = term
        .wait_hit(started, START_TIMEOUT)
        .unwrap_or_else(|| panic!("no first frame: {}", term.screen(vt100::Screen::contents)));
    Measured { name: name.to_owned(), cols, rows, term, first_frame, window: None }
}

/// `flightdeck demo` (with `extra_endpoints` more health endpoints) at `cols`×`rows`; with
/// `second`, also a plain cockpit on the demo's database, which polls the same fleet but does
/// not serve it: the cockpit's own cost, without the simulated servers in its process.
fn run_demo(
    name: &str,
    cols: u16,
    rows: u16,
    extra_endpoints: usize,
    second: bool,
) -> Vec<DemoRun> {
    let dir = tempfile::Builder::new().prefix("flightdeck-tty-bench-").tempdir().expect("tmp");
    let db = dir.path().join("demo.db");
    let db = db.to_string_lossy().into_owned();
    let extra = extra_endpoints.to_string();
    let mut args = vec!["--db", db.as_str(), "demo"];
    if extra_endpoints > 0 {
        args.extend(["--extra-endpoints", extra.as_str()]);
    }
    let mut runs = vec![measure(open(name, &args, cols, rows, dir.path()), None)];
    if second {
        // Opened while the demo still runs (its fleet is the one polled), measured alone.
        let home = dir.path().join("second");
        std::fs::create_dir_all(&home).expect("second home");
        let db2 = home.join("demo.db").to_string_lossy().into_owned();
        let demo = open(name, &["--db", &db2, "demo"], cols, rows, &home);
        let plain = open("2nd cockpit, fleet elsewhere", &["--db", &db2], cols, rows, &home);
        runs.push(measure(plain, Some(demo)));
    }
    runs
}

/// Lets `m` settle, measures it over the idle window, then times its keys. `beside` keeps
/// running meanwhile and is quit afterwards.
fn measure(mut m: Measured, beside: Option<Measured>) -> DemoRun {
    std::thread::sleep(SETTLE);
    let t0 = now();
    m.window = Some(Window::start(&m.term));
    std::thread::sleep(idle_window());
    let run = m.finish(t0.elapsed().as_secs_f64());
    if let Some(mut other) = beside {
        other.term.quit();
    }
    run
}

/// A store holding one running release of the demo plan with `n` events (a start, then
/// notes), appended in chunks of 1000 the way `benches/store.rs` builds its store.
fn big_store(path: &Path, n: usize) -> Duration {
    let text = DEMO_PLAN
        .replace("@BLUE@", "http://127.0.0.1:9")
        .replace("@GREEN@", "http://127.0.0.1:9")
        .replace("@LB@", "http://127.0.0.1:9")
        .replace("@MIGRATION_SECONDS@", "3");
    let plan = plan::parse(&text, "demo.toml").expect("demo plan");
    let alice = Actor::person("alice", "bastion-1", 100);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let started = now();
    rt.block_on(async {
        let store = Store::open(path, false).await.expect("open store");
        let at0 = flightdeck::clock::now().0 - i64::try_from(n).unwrap_or(0) * 10;
        let start = Command::Start {
            version: "1.4.0".into(),
            previous_version: Some("1.3.2".into()),
            sha: Some("3f2a1c9".into()),
            image: None,
            release_type: plan::ReleaseType::Regular,
        };
        let (id, first) =
            store::start(&store, &plan, "demo.toml", &text, &start, &alice, Timestamp(at0))
                .await
                .expect("start");
        let mut state = State::replay(&plan, &first);
        let mut expected = state.seq;
        let mut chunk: Vec<EventRecord> = Vec::with_capacity(1000);
        let mut at = at0;
        while usize::try_from(state.seq).unwrap_or(usize::MAX) < n {
            at += 10;
            let command = Command::Note { text: format!("note {} about the canary", state.seq) };
            for event in decide(&plan, &state, &command, &alice, Timestamp(at), None).expect("note")
            {
                let seq = state.seq + 1;
                let record = EventRecord { seq, at: Timestamp(at), actor: alice.clone(), event };
                apply(&mut state, &record);
                chunk.push(record);
            }
            if chunk.len() >= 1000 || usize::try_from(state.seq).unwrap_or(usize::MAX) >= n {
                store.append(id, expected, &chunk, &state).await.expect("append");
                expected = state.seq;
                chunk.clear();
            }
        }
        store.close().await;
    });
    started.elapsed()
}

/// First full frame of `flightdeck --db PATH` on the big store, `STORE_OPENS` times.
fn run_store() -> Value {
    let dir = tempfile::Builder::new().prefix("flightdeck-tty-bench-").tempdir().expect("tmp");
    let db = dir.path().join("big.db");
    eprintln!("tty bench: writing a store of {STORE_EVENTS} events…");
    let built = big_store(&db, STORE_EVENTS);
    let db = db.to_string_lossy().into_owned();
    let mut first = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..STORE_OPENS {
        let (mut term, started) =
            Term::spawn(&["--db", &db], 120, 40, dir.path(), Box::new(footer_shown));
        let d = term
            .wait_hit(started, START_TIMEOUT)
            .unwrap_or_else(|| panic!("no first frame: {}", term.screen(vt100::Screen::contents)));
        first.push(ms(d));
        std::thread::sleep(Duration::from_millis(500));
        rss.push(term.peak_rss_kib() as f64 / 1024.0);
        term.quit();
    }
    let mut sorted = first.clone();
    sorted.sort_by(f64::total_cmp);
    rss.sort_by(f64::total_cmp);
    json!({
        "mode": "store-100k",
        "size": "120x40",
        "events": STORE_EVENTS,
        "store_written_s": built.as_secs_f64(),
        "first_frame_ms": {
            "median": percentile(&sorted, 50.0),
            "min": sorted.first(),
            "max": sorted.last(),
            "all": first,
        },
        "peak_rss_mib": percentile(&rss, 50.0),
    })
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"), PathBuf::from)
}

fn main() {
    // `cargo test --benches` runs bench targets too; the measurements belong to `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("tty bench: run it with `cargo bench --bench tty`");
        return;
    }
    let began = now();
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut runs = run_demo("demo", 120, 40, 0, true);
    runs.extend(run_demo("demo", 80, 24, 0, false));
    runs.extend(run_demo("demo + 200 endpoints @1s", 120, 40, EXTRA_ENDPOINTS, false));
    let store = run_store();

    println!();
    println!(
        "{:<29} {:>6} {:>9} {:>8} {:>7} {:>6} {:>6} {:>8} {:>8} {:>8}",
        "mode",
        "size",
        "first ms",
        "bytes/s",
        "frame/s",
        "CPU %",
        "(ns)",
        "RSS MiB",
        "key p50",
        "key p95"
    );
    for r in &runs {
        println!(
            "{:<29} {:>6} {:>9.1} {:>8.1} {:>7.2} {:>6.2} {:>6.2} {:>8.1} {:>8.2} {:>8.2}{}",
            r.name,
            format!("{}x{}", r.cols, r.rows),
            r.first_frame_ms,
            r.bytes_per_s,
            r.frames_per_s,
            r.cpu_percent,
            r.cpu_percent_schedstat,
            r.peak_rss_mib,
            r.key(50.0),
            r.key(95.0),
            if r.keys_missed > 0 {
                format!("  ({} keys missed)", r.keys_missed)
            } else {
                String::new()
            },
        );
    }
    println!(
        "{:<29} {:>6} {:>9.1} {:>31} {:>8.1}   (median of {STORE_OPENS} opens; store written in {:.1} s)",
        "store, 100,000 events",
        "120x40",
        store["first_frame_ms"]["median"].as_f64().unwrap_or(f64::NAN),
        "",
        store["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
        store["store_written_s"].as_f64().unwrap_or(f64::NAN),
    );
    println!(
        "(CPU % from /proc/<pid>/stat utime+stime at {} ticks/s; (ns) from task schedstat; key \
         latencies in ms, nearest-rank over {PRESSES} presses)",
        clock_ticks_per_second()
    );

    let report = json!({
        "bench": "tty",
        "command": "cargo bench --bench tty",
        "measured_at_unix_ms": flightdeck::clock::now().0,
        "loadavg_at_start": loadavg.trim(),
        "cpus": std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        "clock_ticks_per_s": clock_ticks_per_second(),
        "took_s": began.elapsed().as_secs_f64(),
        "runs": runs.iter().map(DemoRun::json).chain([store]).collect::<Vec<_>>(),
    });
    let path = target_dir().join("flightdeck-tty-bench.json");
    let text = serde_json::to_string_pretty(&report).expect("json");
    match std::fs::create_dir_all(target_dir()).and_then(|()| std::fs::write(&path, text)) {
        Ok(()) => {
            println!("\nwritten: {} (took {:.0} s)", path.display(), began.elapsed().as_secs_f64())
        }
        Err(e) => eprintln!("tty bench: cannot write {}: {e}", path.display()),
    }
}
