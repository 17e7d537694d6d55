//! Running a command action: argv without a shell (unless the plan says so), in its own
//! process group so a timeout or cancel kills it and all its children, with output streamed
//! line by line and a bounded tail kept for the record.

use std::collections::VecDeque;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Bytes of output kept for the record per run.
pub const OUTPUT_TAIL_BYTES: usize = 64 * 1024;

/// How long output is still read after the command exited, while its pipes stay open.
const OUTPUT_DRAIN_GRACE: Duration = Duration::from_secs(1);

/// How long a cancelled command's process group has between SIGTERM and SIGKILL: long enough
/// for a deploy tool to let go of a lock, short enough that a rollback is not held up.
pub const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandResult {
    /// Its exit code, if it exited.
    pub exit_code: Option<i32>,
    /// Why it counts as failed, if it does.
    pub error: Option<String>,
    /// The end of its output (stdout and stderr interleaved).
    pub tail: String,
}

/// The last lines of output, bounded in bytes.
#[derive(Debug, Default)]
pub struct Tail {
    lines: VecDeque<String>,
    bytes: usize,
}

impl Tail {
    /// Adds a line, dropping the oldest past the bound.
    pub fn push(&mut self, line: String) {
        self.bytes += line.len() + 1;
        self.lines.push_back(line);
        while self.bytes > OUTPUT_TAIL_BYTES {
            match self.lines.pop_front() {
                Some(old) => self.bytes -= old.len() + 1,
                None => break,
            }
        }
    }

    /// The kept lines joined.
    pub fn text(&self) -> String {
        self.lines.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// Program and arguments, secrets resolved.
    pub argv: Vec<String>,
    /// Run `argv[0]` with `sh -c`.
    pub shell: bool,
    /// Working directory.
    pub cwd: Option<String>,
    /// Extra environment, secrets resolved.
    pub env: Vec<(String, String)>,
    /// Killed after this long.
    pub timeout: Duration,
}

/// Runs a command to its end, its timeout, or `cancel`; each output line goes to `lines`.
pub async fn run(
    spec: &CommandSpec,
    lines: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> CommandResult {
    let Some(program) = spec.argv.first() else {
        return CommandResult {
            exit_code: None,
            error: Some("empty argv".into()),
            tail: String::new(),
        };
    };
    let mut command = if spec.shell {
        let mut c = Command::new("sh");
        c.arg("-c").arg(program).args(&spec.argv[1..]);
        c
    } else {
        let mut c = Command::new(program);
        c.args(&spec.argv[1..]);
        c
    };
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    command
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return CommandResult {
                exit_code: None,
                error: Some(format!("cannot start `{program}`: {e}")),
                tail: String::new(),
            };
        }
    };
    let pgid = child.id();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    if let Some(out) = child.stdout.take() {
        tokio::spawn(forward(out, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(forward(err, tx.clone()));
    }
    drop(tx);
    let mut tail = Tail::default();
    let deadline = tokio::time::sleep(spec.timeout);
    tokio::pin!(deadline);
    let mut stopped: Option<String> = None;
    // After a cancel the group gets SIGTERM, then SIGKILL once this grace is over.
    let kill_at = tokio::time::sleep(Duration::from_secs(u64::from(u32::MAX)));
    tokio::pin!(kill_at);
    let mut terminating = false;
    let status = loop {
        tokio::select! {
            Some(line) = rx.recv() => {
                let _ = lines.send(line.clone());
                tail.push(line);
            }
            status = child.wait() => break status.ok(),
            () = &mut deadline, if stopped.is_none() => {
                signal_group(pgid, libc::SIGKILL);
                stopped = Some(format!("timed out after {}", crate::plan::format_duration(spec.timeout)));
            }
            () = cancel.cancelled(), if stopped.is_none() => {
                signal_group(pgid, libc::SIGTERM);
                kill_at.as_mut().reset(tokio::time::Instant::now() + CANCEL_GRACE);
                terminating = true;
                stopped = Some("cancelled".into());
            }
            () = &mut kill_at, if terminating => {
                signal_group(pgid, libc::SIGKILL);
                terminating = false;
            }
        }
    };
    // The child has exited, but its last lines may still be in the pipes, not yet read by
    // `forward`: read until both pipes close. Something it left running in the background may
    // hold them open, so give up after a short grace.
    let drain = async {
        while let Some(line) = rx.recv().await {
            let _ = lines.send(line.clone());
            tail.push(line);
        }
    };
    let _ = tokio::time::timeout(OUTPUT_DRAIN_GRACE, drain).await;
    // Whatever the command left behind in its group goes with it.
    if stopped.is_some() {
        signal_group(pgid, libc::SIGKILL);
    }
    let exit_code = status.and_then(|s| s.code());
    let error = stopped.or_else(|| match exit_code {
        Some(0) => None,
        Some(code) => Some(format!("exited with code {code}")),
        None => Some("killed by a signal".into()),
    });
    CommandResult { exit_code, error, tail: tail.text() }
}

async fn forward(stream: impl AsyncRead + Unpin, tx: mpsc::UnboundedSender<String>) {
    let mut reader = BufReader::new(stream).lines();
    while let Ok(Some(line)) = reader.next_line().await {
        if tx.send(line).is_err() {
            break;
        }
    }
}

fn signal_group(pgid: Option<u32>, signal: libc::c_int) {
    if let Some(pgid) = pgid.and_then(|p| libc::pid_t::try_from(p).ok()) {
        // SAFETY: killpg only sends a signal; the group is the one we created for the child.
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(script: &str) -> CommandSpec {
        CommandSpec {
            argv: vec![script.into()],
            shell: true,
            cwd: None,
            env: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn keeps_every_line_printed_just_before_exit() {
        // The child often exits before its last lines are read from the pipe.
        for _ in 0..20 {
            let (tx, _rx) = mpsc::unbounded_channel();
            let r = run(&spec("echo one; echo two"), &tx, &CancellationToken::new()).await;
            assert_eq!(r.tail, "one\ntwo");
            assert_eq!(r.error, None);
        }
    }

    #[tokio::test]
    async fn a_cancel_terminates_the_whole_group_and_kills_what_ignores_sigterm() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pids = dir.path().join("pids");
        // A child that traps SIGTERM, and a grandchild: both must be gone after the cancel.
        let script = format!(
            "trap '' TERM; sleep 600 & echo $! > {p}; echo $$ >> {p}; echo ready; wait",
            p = pids.display()
        );
        let (tx, mut rx) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let spec = spec(&script);
        let run = tokio::spawn({
            let cancel = cancel.clone();
            async move { run(&spec, &tx, &cancel).await }
        });
        assert_eq!(rx.recv().await.as_deref(), Some("ready"));
        cancel.cancel();
        let r = run.await.expect("join");
        assert_eq!(r.error.as_deref(), Some("cancelled"));
        let listed = std::fs::read_to_string(&pids).expect("pids");
        for pid in listed.split_whitespace() {
            // A killed process may linger as a zombie until its new parent reaps it: that is
            // not running.
            let running = || {
                let status =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                status.lines().any(|l| l.starts_with("State:") && !l.contains('Z'))
            };
            // SIGKILL is delivered at once but the exit is the kernel's to finish: look a few
            // times (a bound on tries, not a timing assertion).
            let mut tries = 0;
            while running() && tries < 50 {
                tries += 1;
                std::thread::sleep(Duration::from_millis(40));
            }
            assert!(!running(), "process {pid} of the cancelled group is still running");
        }
    }

    #[tokio::test]
    async fn a_background_child_holding_the_pipe_does_not_hold_the_result() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let r = run(&spec("echo started; sleep 3 &"), &tx, &CancellationToken::new()).await;
        assert_eq!(r.tail, "started");
        assert_eq!(r.exit_code, Some(0));
    }
}
