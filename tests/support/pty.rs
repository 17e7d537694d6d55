//! PTY harness for end-to-end tests of the real binary (STYLE.md item 39).
//!
//! A child runs on the slave side of a pseudo-terminal made by `portable-pty`.
//! A reader thread always drains the master into a shared `vt100::Parser`,
//! counts the bytes it read and keeps the last [`RAW_LIMIT`] raw bytes for
//! debugging. Tests wait on the parsed screen with [`Pty::wait_until`] (never
//! `sleep`), send keys as bytes, and assert on the exit status and the final
//! terminal modes. The harness never queries the cursor position (`ESC[6n`):
//! vt100 would not answer it.
//!
//! Every process a test starts is stopped by the test: dropping a [`Pty`]
//! kills the child (and its process group) if it is still running and reaps it.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, ExitStatus, MasterPty, PtySize, native_pty_system};

/// How often `wait_*` helpers poll.
pub const POLL: Duration = Duration::from_millis(20);

/// How many raw output bytes are kept for debugging (the most recent ones).
pub const RAW_LIMIT: usize = 1 << 20;

/// How many trailing raw bytes a timeout error shows.
const RAW_TAIL_IN_ERRORS: usize = 2048;

/// Environment variables removed from the child's inherited environment
/// (besides every `FLIGHTDECK_*`), so the terminal the child sees is only
/// the one the harness describes.
const SCRUBBED_ENV: &[&str] = &["COLUMNS", "LINES", "COLORTERM", "LC_ALL", "LC_CTYPE"];

/// Key sequences, as the bytes a terminal sends.
pub mod keys {
    pub const ENTER: &[u8] = b"\r";
    pub const ESC: &[u8] = b"\x1b";
    pub const TAB: &[u8] = b"\t";
    pub const UP: &[u8] = b"\x1b[A";
    pub const DOWN: &[u8] = b"\x1b[B";
    pub const CTRL_C: &[u8] = b"\x03";
}

/// The factor applied to every test timeout: `FLIGHTDECK_TEST_TIMEOUT_SCALE`
/// if set to a positive number, else 3 when `CI` is set, else 1.
pub fn timeout_scale() -> f64 {
    let explicit = std::env::var("FLIGHTDECK_TEST_TIMEOUT_SCALE")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f > 0.0);
    match explicit {
        Some(scale) => scale,
        None => match std::env::var("CI") {
            Ok(v) if !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false") => 3.0,
            _ => 1.0,
        },
    }
}

/// `secs` seconds, scaled by [`timeout_scale`].
pub fn timeout(secs: u64) -> Duration {
    Duration::from_secs(secs).mul_f64(timeout_scale())
}

/// The wall clock. Waiting on a real process is the one place tests need it
/// (STYLE.md item 10 keeps `Instant::now` out of everything else).
#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}

/// State shared with the reader thread.
struct Shared {
    parser: Mutex<vt100::Parser>,
    raw: Mutex<Vec<u8>>,
    bytes: AtomicU64,
    eof: AtomicBool,
}

/// Locks a mutex, ignoring poisoning (a panicking test must still be able to
/// show the screen and clean up in `Drop`).
fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn nonzero(n: u16, what: &str) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap_or_else(|| panic!("pty {what} must be non-zero"))
}

/// A child process on a pseudo-terminal, with its output parsed by vt100.
pub struct Pty {
    shared: Arc<Shared>,
    master: Mutex<Box<dyn MasterPty + Send>>,
    writer: Mutex<Box<dyn Write + Send>>,
    child: Mutex<Box<dyn Child + Send + Sync>>,
    status: Mutex<Option<ExitStatus>>,
    pid: i32,
    reader: Option<JoinHandle<()>>,
}

impl Pty {
    /// Spawns the `flightdeck` binary under test (`CARGO_BIN_EXE_flightdeck`).
    pub fn spawn(args: &[&str], cols: u16, rows: u16, env: &[(&str, &str)]) -> Pty {
        // Cargo sets this for integration tests and benches, the only crates
        // that include `tests/support`.
        let program = Path::new(env!("CARGO_BIN_EXE_flightdeck"));
        Pty::spawn_program(program, args, cols, rows, env)
    }

    /// Spawns `program` at `cols`×`rows`, in the current directory.
    ///
    /// The child inherits the environment minus every `FLIGHTDECK_*` variable
    /// (and `COLUMNS`, `LINES`, `COLORTERM`, `LC_ALL`, `LC_CTYPE`), gets
    /// `TERM=xterm-256color`, `NO_COLOR=1` and `LANG=C.UTF-8`, then `env`, which overrides
    /// all of those.
    pub fn spawn_program(
        program: &Path,
        args: &[&str],
        cols: u16,
        rows: u16,
        env: &[(&str, &str)],
    ) -> Pty {
        let cwd = std::env::current_dir().expect("current directory");
        Pty::spawn_program_in(program, args, cols, rows, env, &cwd)
    }

    /// Like [`Pty::spawn_program`], in the working directory `cwd`.
    pub fn spawn_program_in(
        program: &Path,
        args: &[&str],
        cols: u16,
        rows: u16,
        env: &[(&str, &str)],
        cwd: &Path,
    ) -> Pty {
        let (nz_rows, nz_cols) = (nonzero(rows, "rows"), nonzero(cols, "cols"));
        let pair = native_pty_system()
            .openpty(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 })
            .expect("open pty");

        let mut cmd = CommandBuilder::new(program);
        cmd.args(args);
        // Without an explicit cwd, portable-pty starts the child in $HOME.
        cmd.cwd(cwd);
        for (key, _) in std::env::vars_os() {
            let name = key.to_string_lossy();
            if name.starts_with("FLIGHTDECK_") || SCRUBBED_ENV.contains(&name.as_ref()) {
                cmd.env_remove(&key);
            }
        }
        cmd.env("TERM", "xterm-256color");
        cmd.env("NO_COLOR", "1");
        // A UTF-8 locale whatever the host's: without one the cockpit draws in ASCII.
        cmd.env("LANG", "C.UTF-8");
        for (key, value) in env {
            cmd.env(OsStr::new(key), OsStr::new(value));
        }

        let child = pair
            .slave
            .spawn_command(cmd)
            .unwrap_or_else(|e| panic!("spawn {} on a pty: {e:#}", program.display()));
        // Only the child keeps the slave open, so the reader sees EOF when it
        // (and anything it started on the terminal) is gone.
        drop(pair.slave);
        let pid = child.process_id().and_then(|pid| i32::try_from(pid).ok()).expect("child pid");

        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");

        let shared = Arc::new(Shared {
            parser: Mutex::new(vt100::Parser::new(nz_rows, nz_cols, 0)),
            raw: Mutex::new(Vec::new()),
            bytes: AtomicU64::new(0),
            eof: AtomicBool::new(false),
        });
        let thread_shared = Arc::clone(&shared);
        let reader_thread = std::thread::Builder::new()
            .name(format!("pty-reader-{pid}"))
            .spawn(move || {
                let shared = thread_shared;
                let mut buf = [0u8; 8192];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            let chunk = &buf[..n];
                            lock(&shared.parser).process(chunk);
                            {
                                let mut raw = lock(&shared.raw);
                                raw.extend_from_slice(chunk);
                                if raw.len() > 2 * RAW_LIMIT {
                                    let excess = raw.len() - RAW_LIMIT;
                                    raw.drain(..excess);
                                }
                            }
                            shared.bytes.fetch_add(n as u64, Ordering::SeqCst);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        // EIO once every slave fd is closed.
                        Err(_) => break,
                    }
                }
                shared.eof.store(true, Ordering::SeqCst);
            })
            .expect("spawn pty reader thread");

        Pty {
            shared,
            master: Mutex::new(pair.master),
            writer: Mutex::new(writer),
            child: Mutex::new(child),
            status: Mutex::new(None),
            pid,
            reader: Some(reader_thread),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    // ---- screen -------------------------------------------------------

    /// Runs `f` on the current screen.
    pub fn with_screen<R>(&self, f: impl FnOnce(&vt100::Screen) -> R) -> R {
        f(lock(&self.shared.parser).screen())
    }

    /// The visible screen as text (`vt100::Screen::contents`).
    pub fn screen_text(&self) -> String {
        self.with_screen(vt100::Screen::contents)
    }

    /// Whether the child has the alternate screen active.
    pub fn alternate_screen(&self) -> bool {
        self.with_screen(vt100::Screen::alternate_screen)
    }

    /// Whether the child has hidden the cursor.
    pub fn hide_cursor(&self) -> bool {
        self.with_screen(vt100::Screen::hide_cursor)
    }

    /// Total bytes read from the child so far.
    pub fn bytes_read(&self) -> u64 {
        self.shared.bytes.load(Ordering::SeqCst)
    }

    /// The most recent raw output (at most [`RAW_LIMIT`] bytes).
    pub fn raw_output(&self) -> Vec<u8> {
        let raw = lock(&self.shared.raw);
        raw[raw.len().saturating_sub(RAW_LIMIT)..].to_vec()
    }

    /// Whether the child's side of the terminal is closed (no more output).
    pub fn output_closed(&self) -> bool {
        self.shared.eof.load(Ordering::SeqCst)
    }

    // ---- waiting ------------------------------------------------------

    /// Polls every [`POLL`] until `pred` holds for the screen. On timeout (or
    /// when the child's output has closed and `pred` still fails) the error
    /// shows the child's state, the screen and the tail of the raw output.
    pub fn wait_until(
        &self,
        pred: impl FnMut(&vt100::Screen) -> bool,
        timeout: Duration,
    ) -> Result<(), String> {
        self.wait_until_described("condition", pred, timeout)
    }

    /// Waits until the screen contains `text`.
    pub fn wait_for_text(&self, text: &str, timeout: Duration) -> Result<(), String> {
        self.wait_until_described(
            &format!("text {text:?}"),
            |s| s.contents().contains(text),
            timeout,
        )
    }

    /// Waits until no output has arrived for `quiet` (e.g. a redraw settled).
    pub fn wait_quiet(&self, quiet: Duration, timeout: Duration) -> Result<(), String> {
        let deadline = now() + timeout;
        let mut last = self.bytes_read();
        let mut since = now();
        loop {
            let now = now();
            let bytes = self.bytes_read();
            if bytes != last {
                last = bytes;
                since = now;
            } else if now.duration_since(since) >= quiet || self.output_closed() {
                return Ok(());
            }
            if now >= deadline {
                return Err(self.failure(&format!("{quiet:?} without output"), timeout));
            }
            std::thread::sleep(POLL);
        }
    }

    fn wait_until_described(
        &self,
        what: &str,
        mut pred: impl FnMut(&vt100::Screen) -> bool,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = now() + timeout;
        loop {
            // Read EOF before checking, so a final check after EOF has seen
            // all the output there will ever be.
            let closed = self.output_closed();
            if self.with_screen(&mut pred) {
                return Ok(());
            }
            if closed {
                return Err(self.failure(&format!("{what} (output closed)"), timeout));
            }
            if now() >= deadline {
                return Err(self.failure(what, timeout));
            }
            std::thread::sleep(POLL);
        }
    }

    /// A failure message with everything needed to see what went wrong.
    fn failure(&self, what: &str, timeout: Duration) -> String {
        let (rows, cols, contents) = self.with_screen(|s| {
            let (rows, cols) = s.size();
            (rows, cols, s.contents())
        });
        let raw = lock(&self.shared.raw);
        let tail = &raw[raw.len().saturating_sub(RAW_TAIL_IN_ERRORS)..];
        format!(
            "gave up after {timeout:?} waiting for {what}\n\
             child {pid}: {state}; {bytes} bytes read\n\
             --- screen {cols}x{rows} ---\n{contents}\n--- end of screen ---\n\
             --- last {n} raw bytes ---\n{escaped}\n--- end of raw bytes ---",
            pid = self.pid,
            state = self.state(),
            bytes = self.bytes_read(),
            n = tail.len(),
            escaped = tail.escape_ascii(),
        )
    }

    /// The child's state, without reaping it.
    fn state(&self) -> String {
        if let Some(status) = lock(&self.status).as_ref() {
            return format!("exited ({status})");
        }
        if self.exited_without_reaping() {
            "exited (not yet reaped)".to_string()
        } else {
            "running".to_string()
        }
    }

    /// Whether the (unreaped) child has exited, leaving it waitable.
    fn exited_without_reaping(&self) -> bool {
        // SAFETY: waitid writes into a zeroed siginfo_t we own; WNOWAIT leaves
        // the child waitable, so `Child::wait` still reaps it later.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let rc = libc::waitid(
                libc::P_PID,
                self.pid.unsigned_abs(),
                &raw mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            rc == 0 && info.si_pid() == self.pid
        }
    }

    // ---- input --------------------------------------------------------

    /// Writes `bytes` to the terminal, as if typed.
    pub fn send(&self, bytes: &[u8]) {
        let mut writer = lock(&self.writer);
        let result = writer.write_all(bytes).and_then(|()| writer.flush());
        drop(writer);
        if let Err(e) = result {
            panic!(
                "{}",
                self.failure(
                    &format!("to send {:?}: {e}", bytes.escape_ascii().to_string()),
                    Duration::ZERO
                )
            );
        }
    }

    /// Writes `s` to the terminal, as if typed.
    pub fn send_str(&self, s: &str) {
        self.send(s.as_bytes());
    }

    pub fn enter(&self) {
        self.send(keys::ENTER);
    }

    pub fn esc(&self) {
        self.send(keys::ESC);
    }

    pub fn tab(&self) {
        self.send(keys::TAB);
    }

    pub fn up(&self) {
        self.send(keys::UP);
    }

    pub fn down(&self) {
        self.send(keys::DOWN);
    }

    pub fn ctrl_c(&self) {
        self.send(keys::CTRL_C);
    }

    // ---- terminal and process control ---------------------------------

    /// Resizes the terminal (the child gets SIGWINCH) and the parsed screen.
    pub fn resize(&self, cols: u16, rows: u16) {
        lock(&self.shared.parser).set_size(nonzero(rows, "rows"), nonzero(cols, "cols"));
        lock(&self.master)
            .resize(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 })
            .expect("resize pty");
    }

    /// Sends the Unix signal `sig` (e.g. `libc::SIGTERM`) to the child.
    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on the pid of our own, not yet reaped child.
        let rc = unsafe { libc::kill(self.pid, sig) };
        assert_eq!(rc, 0, "kill({}, {sig}): {}", self.pid, std::io::Error::last_os_error());
    }

    /// The exit status if the child has exited (reaping it), else `None`.
    pub fn try_status(&self) -> Option<ExitStatus> {
        let mut status = lock(&self.status);
        if status.is_none() {
            *status = lock(&self.child).try_wait().expect("try_wait");
        }
        status.clone()
    }

    /// Polls every [`POLL`] for the child to exit, up to `timeout`. Once it
    /// has, waits (briefly) for its last output to be parsed, so the final
    /// screen state (alternate screen, cursor) can be asserted.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = now() + timeout;
        loop {
            if let Some(status) = self.try_status() {
                let drain_deadline = now() + self::timeout(2);
                while !self.output_closed() && now() < drain_deadline {
                    std::thread::sleep(POLL);
                }
                return Some(status);
            }
            if now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let reaped = lock(&self.status).is_some();
        if !reaped {
            let pid = self.pid;
            if !self.exited_without_reaping() {
                // Ask politely first, as a closing terminal would.
                // SAFETY: kill(2) on our own, unreaped child.
                unsafe { libc::kill(pid, libc::SIGHUP) };
                let grace = now() + Duration::from_millis(300);
                while !self.exited_without_reaping() && now() < grace {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            // The child is a session and process-group leader (setsid), and
            // until it is reaped its pid cannot name anyone else's group: kill
            // whatever it left running on the terminal, then the child itself.
            // SAFETY: kill(2) on our own child and its process group.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
            let _ = lock(&self.child).wait();
        }
        // The reader ends at EOF once the slave side is closed; don't hang a
        // test on it if something else still holds the terminal open.
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
