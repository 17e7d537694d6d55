//! Signed approvals: with `[policy] signed_approvals = true`, a person's approval (and a
//! rollback they start) is signed with their SSH key through their ssh-agent
//! (`ssh-keygen -Y sign`, namespace `flightdeck`) before it is recorded, and
//! `flightdeck verify --allowed-signers FILE` checks every signature with `ssh-keygen -Y
//! verify`. Someone who can write the database can recompute every hash of the chain, but
//! cannot make a signature without the approver's private key.
//!
//! What is signed is a canonical text of the command ([`Statement`]): the release (its
//! origin id), the plan's sha256, the command, its step or reason, the actor and the time. It
//! holds no seq, so a signed approval that loses an append race to an unrelated event is
//! still valid when it lands one seq later. The private key never leaves the agent;
//! flightdeck only hands `ssh-keygen` the public key (from `ssh-add -L`, or the file named
//! by `FLIGHTDECK_SIGNING_KEY`).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::release::{Actor, Command, Event, EventRecord, Signature, State, Timestamp};
use crate::store::{Loaded, SignedCommand, Store, StoreError, plan_digest};

/// The `ssh-keygen -Y` namespace: a signature made for anything else does not verify here.
pub const NAMESPACE: &str = "flightdeck";

/// Names the public key file to sign with, instead of the agent's first key.
pub const KEY_ENV: &str = "FLIGHTDECK_SIGNING_KEY";

/// What a person signs: the command as it will be recorded, without its seq.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// The release's id in the store that recorded it (its chain's origin id).
    pub release: i64,
    /// SHA-256 of the plan text stored with the release.
    pub plan_sha256: String,
    /// `approve` or `rollback`.
    pub command: &'static str,
    /// The gate approved.
    pub step: Option<String>,
    /// Why (a rollback).
    pub reason: Option<String>,
    /// Who: the name approvals are counted by, and the principal in `allowed_signers`.
    pub actor: String,
    /// When it is recorded (milliseconds since the epoch).
    pub at: Timestamp,
}

impl Statement {
    /// The statement an event recorded by `actor` at `at` stands for, if it is one a person
    /// signs (an approval, a rollback a person started); `None` for every other event.
    pub fn of(
        release: i64,
        plan_sha256: &str,
        event: &Event,
        actor: &Actor,
        at: Timestamp,
    ) -> Option<Self> {
        if actor.automatic {
            return None;
        }
        let (command, step, reason) = match event {
            Event::ApprovalGiven { step, .. } => ("approve", Some(step.clone()), None),
            Event::RollbackStarted { reason, automatic: false, .. } => {
                ("rollback", None, Some(reason.clone()))
            }
            _ => return None,
        };
        Some(Self {
            release,
            plan_sha256: plan_sha256.to_owned(),
            command,
            step,
            reason,
            actor: actor.name.clone(),
            at,
        })
    }

    /// The exact bytes signed: one `field value` line each, free text JSON-quoted so a
    /// newline in a reason cannot forge a field.
    pub fn text(&self) -> String {
        let quote = |s: &Option<String>| {
            s.as_ref()
                .map_or_else(|| "-".to_owned(), |s| serde_json::Value::from(s.as_str()).to_string())
        };
        format!(
            "flightdeck signed command v1\nrelease {}\nplan {}\ncommand {}\nstep {}\nreason {}\nactor {}\nat {}\n",
            self.release,
            self.plan_sha256,
            self.command,
            quote(&self.step),
            quote(&self.reason),
            serde_json::Value::from(self.actor.as_str()),
            self.at.0
        )
    }
}

/// Why a command could not be signed.
#[derive(Debug)]
pub enum SigningError {
    /// No agent, or no key in it: the command is refused until the person adds one.
    Unavailable(String),
    /// `ssh-keygen` failed or is missing.
    Failed(String),
    /// The store could not be read.
    Store(StoreError),
}

impl fmt::Display for SigningError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(why) => write!(
                f,
                "this plan requires signed approvals ([policy] signed_approvals) and {why}; \
                 nothing was recorded. Start an agent and add your key: `eval \"$(ssh-agent)\"` \
                 then `ssh-add ~/.ssh/id_ed25519` (on a bastion, connect with `ssh -A` to \
                 forward yours); `ssh-add -L` lists the keys it holds. To pick one, set \
                 {KEY_ENV} to its public key file"
            ),
            Self::Failed(why) => write!(
                f,
                "this plan requires signed approvals and signing failed: {why}; nothing was \
                 recorded"
            ),
            Self::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SigningError {}

impl From<StoreError> for SigningError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// The statement `command` by `actor` at `at` would be recorded under, if the release's plan
/// requires signed approvals and the command is one a person signs.
pub async fn statement_for(
    store: &Store,
    loaded: &Loaded,
    command: &Command,
    actor: &Actor,
    at: Timestamp,
) -> Result<Option<Statement>, StoreError> {
    if !loaded.plan.policy.signed_approvals {
        return Ok(None);
    }
    let Some(event) = prospective_event(&loaded.state, command) else { return Ok(None) };
    let origin = store.anchor(loaded.row.id).await?.origin_id;
    Ok(Statement::of(origin, &plan_digest(&loaded.plan_toml), &event, actor, at))
}

/// The signable event a command would record on `state`, for building its statement before
/// the engine decides it (the engine then refuses it, or records exactly this).
fn prospective_event(state: &State, command: &Command) -> Option<Event> {
    match command {
        Command::Approve => {
            state.current().map(|s| Event::ApprovalGiven { step: s.id.clone(), signature: None })
        }
        Command::Rollback { reason, automatic: false, .. } => Some(Event::RollbackStarted {
            reason: reason.clone(),
            automatic: false,
            steps: Vec::new(),
            signature: None,
        }),
        _ => None,
    }
}

/// Signs `command` through the person's ssh-agent when the release's plan requires it: the
/// one call the CLI and the cockpit make before `store::execute_signed`. `Ok(None)` when no
/// signature is needed (the plan does not ask for one, or the command is not an approval or
/// a rollback). Runs `ssh-keygen` on a blocking thread; `at` must be the time the command is
/// recorded with (`execute_signed` records it at the statement's time).
pub async fn sign_command(
    store: &Store,
    loaded: &Loaded,
    command: &Command,
    actor: &Actor,
    at: Timestamp,
) -> Result<Option<SignedCommand>, SigningError> {
    let Some(statement) = statement_for(store, loaded, command, actor, at).await? else {
        return Ok(None);
    };
    let text = statement.text();
    let signature = tokio::task::spawn_blocking(move || sign_text(&text))
        .await
        .map_err(|e| SigningError::Failed(format!("the signing task failed: {e}")))??;
    Ok(Some(SignedCommand { statement, signature }))
}

/// Signs `text` with the agent's key (or [`KEY_ENV`]'s): blocking, runs `ssh-keygen`.
pub fn sign_text(text: &str) -> Result<Signature, SigningError> {
    if std::env::var_os("SSH_AUTH_SOCK").is_none_or(|s| s.is_empty()) {
        return Err(SigningError::Unavailable(
            "no ssh-agent is running (SSH_AUTH_SOCK is not set)".into(),
        ));
    }
    let public_key = match std::env::var_os(KEY_ENV).filter(|v| !v.is_empty()) {
        Some(path) => std::fs::read_to_string(&path).map_err(|e| {
            SigningError::Unavailable(format!(
                "{KEY_ENV} names {}, which cannot be read ({e})",
                Path::new(&path).display()
            ))
        })?,
        None => agent_key()?,
    };
    let key_file = TempFile::with(public_key.trim_end().as_bytes(), "pub")
        .map_err(|e| SigningError::Failed(format!("cannot write a temporary key file: {e}")))?;
    let out = run(
        Process::new("ssh-keygen").args(["-Y", "sign", "-n", NAMESPACE, "-f"]).arg(&key_file.path),
        text.as_bytes(),
    )
    .map_err(SigningError::Failed)?;
    if !out.status.success() {
        let words = String::from_utf8_lossy(&out.stderr).trim().replace('\n', "; ");
        return Err(if words.contains("agent") || words.contains("ncorrect passphrase") {
            SigningError::Unavailable(format!("the agent would not sign with that key ({words})"))
        } else {
            SigningError::Failed(format!("ssh-keygen -Y sign: {words}"))
        });
    }
    let sig = String::from_utf8_lossy(&out.stdout).into_owned();
    Ok(Signature { key: fingerprint(&key_file.path).map_err(SigningError::Failed)?, sig })
}

/// The agent's first key (`ssh-add -L`).
fn agent_key() -> Result<String, SigningError> {
    let out = run(Process::new("ssh-add").arg("-L"), b"").map_err(SigningError::Unavailable)?;
    let listed = String::from_utf8_lossy(&out.stdout);
    match (
        out.status.code(),
        listed
            .lines()
            .find(|l| l.starts_with("ssh-") || l.starts_with("ecdsa-") || l.starts_with("sk-")),
    ) {
        (Some(0), Some(first)) => Ok(first.to_owned()),
        (Some(1), _) | (Some(0), None) => {
            Err(SigningError::Unavailable("the ssh-agent holds no key".into()))
        }
        _ => Err(SigningError::Unavailable(format!(
            "the ssh-agent at SSH_AUTH_SOCK does not answer ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

/// `SHA256:...` of a public key file.
fn fingerprint(public_key: &Path) -> Result<String, String> {
    let out =
        run(Process::new("ssh-keygen").args(["-l", "-E", "sha256", "-f"]).arg(public_key), b"")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().find(|w| w.starts_with("SHA256:")).map(str::to_owned).ok_or_else(|| {
        format!(
            "ssh-keygen -l printed no fingerprint: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

/// Whether `ssh-keygen` is on PATH (`check` refuses a plan requiring signatures without it).
pub fn ssh_keygen_installed() -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| dir.join("ssh-keygen").is_file())
    })
}

/// Runs a program with `input` on its standard input.
fn run(cmd: &mut Process, input: &[u8]) -> Result<std::process::Output, String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(
            |e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    format!("{program} is not installed (install openssh-client)")
                } else {
                    format!("cannot run {program}: {e}")
                }
            },
        )?;
    if let Some(mut stdin) = child.stdin.take() {
        // A program that exits without reading its input is judged by its exit status.
        let _ = stdin.write_all(input);
    }
    child.wait_with_output().map_err(|e| format!("{program} did not finish: {e}"))
}

/// A file in the temp dir, removed when dropped (ssh-keygen reads keys and signatures from
/// files only).
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    fn with(contents: &[u8], ext: &str) -> std::io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir();
        for _ in 0..100 {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("flightdeck-{}-{n}.{ext}", std::process::id()));
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    let file = Self { path };
                    f.write_all(contents)?;
                    f.write_all(b"\n")?;
                    return Ok(file);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("no free temporary file name"))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One event whose signature is missing or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureProblem {
    /// The event.
    pub seq: u64,
    /// What is wrong, in words.
    pub detail: String,
}

/// The signatures of one release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SignatureReport {
    /// Whether the release's plan requires signed approvals.
    pub required: bool,
    /// Events that must be (or are) signed.
    pub signable: u64,
    /// Signatures checked and good.
    pub verified: u64,
    /// Signatures present but not checked (no `--allowed-signers`).
    pub unchecked: u64,
    /// Missing or bad signatures.
    pub problems: Vec<SignatureProblem>,
}

impl SignatureReport {
    /// One line, or `None` when the release has nothing signed and needs nothing.
    pub fn summary(&self) -> Option<String> {
        if !self.required && self.signable == 0 {
            return None;
        }
        if let Some(p) = self.problems.first() {
            let more = self.problems.len() - 1;
            return Some(format!(
                "BAD SIGNATURE: event {}: {}{}",
                p.seq,
                p.detail,
                if more > 0 { format!(" (and {more} more)") } else { String::new() }
            ));
        }
        let mut s = format!("signatures: {} of {} verified", self.verified, self.signable);
        if self.unchecked > 0 {
            s.push_str(&format!(
                ", {} not checked (pass --allowed-signers FILE to check them)",
                self.unchecked
            ));
        }
        Some(s)
    }
}

/// Checks every signable event of a release: present when `required`, and (with an
/// `allowed_signers` file) made by the actor's key over the event's statement. Blocking: runs
/// `ssh-keygen -Y verify` once per signature.
pub fn check_release(
    origin_id: i64,
    plan_sha256: &str,
    required: bool,
    records: &[EventRecord],
    allowed_signers: Option<&Path>,
) -> SignatureReport {
    let mut report = SignatureReport { required, ..SignatureReport::default() };
    for r in records {
        let Some(statement) = Statement::of(origin_id, plan_sha256, &r.event, &r.actor, r.at)
        else {
            continue;
        };
        report.signable += 1;
        let what = format!("`{}` by {}", r.event.sentence(), r.actor.short());
        let Some(signature) = r.event.signature() else {
            if required {
                report.problems.push(SignatureProblem {
                    seq: r.seq,
                    detail: format!(
                        "{what} has no signature although the plan requires signed approvals"
                    ),
                });
            }
            continue;
        };
        let Some(allowed) = allowed_signers else {
            report.unchecked += 1;
            continue;
        };
        match verify_text(allowed, &statement.actor, &statement.text(), signature) {
            Ok(()) => report.verified += 1,
            Err(why) => report.problems.push(SignatureProblem {
                seq: r.seq,
                detail: format!("{what}: the signature does not verify: {why}"),
            }),
        }
    }
    report
}

/// `ssh-keygen -Y verify -f ALLOWED -I PRINCIPAL -n flightdeck -s SIG < TEXT`, and the key
/// it names must be the fingerprint recorded with the signature.
pub fn verify_text(
    allowed_signers: &Path,
    principal: &str,
    text: &str,
    signature: &Signature,
) -> Result<(), String> {
    let sig_file = TempFile::with(signature.sig.trim_end().as_bytes(), "sig")
        .map_err(|e| format!("cannot write a temporary signature file: {e}"))?;
    let out = run(
        Process::new("ssh-keygen")
            .args(["-Y", "verify", "-n", NAMESPACE, "-f"])
            .arg(allowed_signers)
            .arg("-I")
            .arg(principal)
            .arg("-s")
            .arg(&sig_file.path),
        text.as_bytes(),
    )?;
    let said = format!(
        "{} {}",
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    if !out.status.success() {
        return Err(format!(
            "ssh-keygen: {} (principal {principal}, key {})",
            said.trim().replace('\n', "; "),
            signature.key
        ));
    }
    if !said.contains(&signature.key) {
        return Err(format!(
            "it was made with another key than the {} recorded with it ({})",
            signature.key,
            said.trim()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval(step: &str, by: &str) -> (Event, Actor) {
        (
            Event::ApprovalGiven { step: step.into(), signature: None },
            Actor::person(by, "bastion", 7),
        )
    }

    #[test]
    fn a_statement_names_release_plan_command_step_actor_and_time_but_no_seq() {
        let (event, actor) = approval("go", "alice");
        let s = Statement::of(3, "ab12", &event, &actor, Timestamp(42)).expect("signable");
        assert_eq!(
            s.text(),
            "flightdeck signed command v1\nrelease 3\nplan ab12\ncommand approve\nstep \"go\"\n\
             reason -\nactor \"alice\"\nat 42\n"
        );
        // Another gate, person, time or release is another statement.
        for other in [
            Statement::of(3, "ab12", &approval("go2", "alice").0, &actor, Timestamp(42)),
            Statement::of(3, "ab12", &event, &approval("go", "mallory").1, Timestamp(42)),
            Statement::of(3, "ab12", &event, &actor, Timestamp(43)),
            Statement::of(4, "ab12", &event, &actor, Timestamp(42)),
            Statement::of(3, "cd34", &event, &actor, Timestamp(42)),
        ] {
            assert_ne!(other.expect("signable").text(), s.text());
        }
    }

    #[test]
    fn a_newline_in_a_reason_cannot_forge_a_field() {
        let event = Event::RollbackStarted {
            reason: "bad\nactor \"bob\"".into(),
            automatic: false,
            steps: Vec::new(),
            signature: None,
        };
        let s = Statement::of(1, "p", &event, &Actor::person("eve", "h", 1), Timestamp(1))
            .expect("a person's rollback is signed");
        assert_eq!(s.text().lines().filter(|l| l.starts_with("actor ")).count(), 1);
        assert!(s.text().contains("reason \"bad\\nactor \\\"bob\\\"\""), "{}", s.text());
    }

    #[test]
    fn flightdecks_own_decisions_and_other_events_are_not_signed() {
        let auto = Actor::automation("svc", "h", 1);
        let (approve, _) = approval("go", "x");
        assert!(Statement::of(1, "p", &approve, &auto, Timestamp(1)).is_none());
        let automatic = Event::RollbackStarted {
            reason: "breach".into(),
            automatic: true,
            steps: Vec::new(),
            signature: None,
        };
        let person = Actor::person("alice", "h", 1);
        assert!(Statement::of(1, "p", &automatic, &person, Timestamp(1)).is_none());
        let note = Event::NoteAdded { text: "hi".into() };
        assert!(Statement::of(1, "p", &note, &person, Timestamp(1)).is_none());
    }
}
