//! The one path from a command to recorded events, shared by keys, CLI verbs and automation:
//! take the write lock, load, decide, append; should a race still be lost, reload and decide
//! again (or report what changed).

use std::fmt;
use std::time::{Duration, Instant};

use super::connect::BUSY_TIMEOUT;
use super::{Created, Loaded, ReleaseRow, Store, StoreError};
use crate::plan::Plan;
use crate::release::{
    self, Actor, Command, EventRecord, Rejection, Signature, State, StepStatus, Timestamp,
};

/// At most how many times a command that does not commute is decided (after a lost race its
/// pinned seq turns it into a refusal saying what changed, so two is the most it takes).
const MAX_ATTEMPTS: usize = 8;

/// The first pause after a lost race, doubled each time up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(2);
/// The longest pause between two attempts of a commuting append.
const MAX_BACKOFF: Duration = Duration::from_millis(100);

/// Why a command did not result in events.
#[derive(Debug)]
pub enum ExecuteError {
    /// The rules said no.
    Rejected(Rejection),
    /// The store failed.
    Store(StoreError),
}

impl fmt::Display for ExecuteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(r) => write!(f, "{r}"),
            Self::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ExecuteError {}

impl From<StoreError> for ExecuteError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Numbers and stamps decided events after `state`.
pub fn records_after(
    state: &State,
    events: Vec<release::Event>,
    actor: &Actor,
    at: Timestamp,
) -> Vec<EventRecord> {
    events
        .into_iter()
        .zip(state.seq + 1..)
        .map(|(event, seq)| EventRecord { seq, at, actor: actor.clone(), event })
        .collect()
}

/// Decides `command` on the current state of a release and records the result.
///
/// `expect_seq` is the seq the issuer saw. Without one, commands that act on the current step
/// name the step current when this call first loads the release (see [`execute_on_step`]);
/// after a lost race they are decided again only while that step is current, so a retry is
/// never applied to a step nobody looked at; other commands that do not commute (pause,
/// rollback, ...) are pinned to the state loaded here, and commands that commute (note,
/// outcomes, ...) are decided again on the fresh state.
pub async fn execute(
    store: &Store,
    release_id: i64,
    command: &Command,
    actor: &Actor,
    expect_seq: Option<u64>,
    now: impl Fn() -> Timestamp,
) -> Result<(Vec<EventRecord>, Loaded), ExecuteError> {
    execute_on_step(store, release_id, command, actor, expect_seq, None, now).await
}

/// Commands that act on whichever step is current, and so name the step their issuer saw.
fn targets_current_step(command: &Command) -> bool {
    matches!(
        command,
        Command::Tick { .. }
            | Command::Untick { .. }
            | Command::Approve
            | Command::Revoke
            | Command::Decline { .. }
            | Command::Next { .. }
            | Command::Shift { .. }
            | Command::Skip { .. }
            | Command::Retry { .. }
            | Command::Resolve { .. }
    )
}

/// Retry and resolve during a rollback act on the rollback's step, not the current rollout
/// step: they stay pinned to the state their process loaded, as before.
fn acts_on_rollback(state: &State, command: &Command) -> bool {
    state.status == release::Status::RollingBack
        && matches!(command, Command::Retry { .. } | Command::Resolve { .. })
}

/// "already done by bob at 10:02:11": why the step the issuer saw is not the one to act on.
fn step_moved_on(state: &State, seen: &str, verb: &str) -> Rejection {
    let seen_state = state.steps.iter().find(|s| s.id == seen);
    let what = match seen_state {
        Some(s) if matches!(s.status, StepStatus::Done | StepStatus::Skipped) => {
            let word = if s.status == StepStatus::Done { "done" } else { "skipped" };
            let by =
                s.finished_by.as_ref().map_or_else(String::new, |a| format!(" by {}", a.short()));
            let at = s
                .finished_at
                .map_or_else(String::new, |t| format!(" at {}", release::format_clock(t)));
            format!(": it is already {word}{by}{at}")
        }
        _ => state.last.as_ref().map_or_else(String::new, |l| {
            format!(": {} {} at {}", l.actor.short(), l.sentence, release::format_clock(l.at))
        }),
    };
    let now = state
        .current()
        .map_or_else(|| " (no step is current)".to_owned(), |c| format!(" (`{}` is)", c.id));
    Rejection {
        kind: release::RejectionKind::Stale,
        message: format!(
            "`{seen}` is no longer the current step{what}{now}; look again before you {verb}"
        ),
    }
}

/// Like [`execute`], with the step the issuer was looking at (the cockpit's screen, the CLI's
/// read or `--step`): a command that acts on the current step is refused if another step is
/// current by the time it is decided. Without `expect_seq`, a command that moves a step on
/// (next, shift, skip, retry, resolve) that loses an append race is decided again only while
/// the step it named is current and where this call first found it — so a retry never lands
/// on a step its issuer did not see, and two people pressing `next` move one step.
pub async fn execute_on_step(
    store: &Store,
    release_id: i64,
    command: &Command,
    actor: &Actor,
    expect_seq: Option<u64>,
    seen_step: Option<&str>,
    now: impl Fn() -> Timestamp,
) -> Result<(Vec<EventRecord>, Loaded), ExecuteError> {
    execute_inner(store, release_id, command, actor, expect_seq, seen_step, None, now).await
}

/// A person's command with the signature `signing::sign_command` made for it.
#[derive(Debug, Clone)]
pub struct SignedCommand {
    /// What was signed: the event it must record, without its seq.
    pub statement: crate::signing::Statement,
    /// The signature.
    pub signature: Signature,
}

/// Like [`execute_on_step`], for a command signed with `signing::sign_command` (`None`: not
/// signed). The events are recorded at the statement's time, and the signature goes into the
/// event it was made for; if the command would record anything else by now (another step
/// became current), it is refused and nothing is recorded. Without a signature, a plan with
/// `signed_approvals` refuses approvals and rollbacks by a person, whichever path they come by.
#[allow(clippy::too_many_arguments)]
pub async fn execute_signed(
    store: &Store,
    release_id: i64,
    command: &Command,
    actor: &Actor,
    expect_seq: Option<u64>,
    seen_step: Option<&str>,
    signed: Option<&SignedCommand>,
    now: impl Fn() -> Timestamp,
) -> Result<(Vec<EventRecord>, Loaded), ExecuteError> {
    match signed {
        Some(s) => {
            let at = s.statement.at;
            execute_inner(store, release_id, command, actor, expect_seq, seen_step, signed, || at)
                .await
        }
        None => {
            execute_inner(store, release_id, command, actor, expect_seq, seen_step, None, now).await
        }
    }
}

/// Puts the signature into the event it was made for; refuses a signable event without one
/// where the plan requires signatures, and a signature made for another event.
async fn attach_signature(
    store: &Store,
    loaded: &Loaded,
    records: &mut [EventRecord],
    signed: Option<&SignedCommand>,
) -> Result<(), ExecuteError> {
    let needed = loaded.plan.policy.signed_approvals;
    if !needed && signed.is_none() {
        return Ok(());
    }
    let plan_sha = super::plan_digest(&loaded.plan_toml);
    let mut origin = None;
    for r in records.iter_mut() {
        let origin_id = match origin {
            Some(id) => id,
            None => *origin.insert(store.anchor(loaded.row.id).await?.origin_id),
        };
        let Some(statement) =
            crate::signing::Statement::of(origin_id, &plan_sha, &r.event, &r.actor, r.at)
        else {
            continue;
        };
        let refuse =
            |kind, message: String| Err(ExecuteError::Rejected(Rejection { kind, message }));
        match signed {
            Some(s) if s.statement == statement => {
                if let Some(slot) = r.event.signature_slot() {
                    *slot = Some(s.signature.clone());
                }
            }
            Some(_) => {
                return refuse(
                    release::RejectionKind::Stale,
                    format!(
                        "the signed command no longer matches what it would record now ({}); \
                         nothing was recorded: look again and sign again",
                        r.event.sentence()
                    ),
                );
            }
            None => {
                return refuse(
                    release::RejectionKind::Rule,
                    format!(
                        "this plan requires signed approvals: `{}` must be signed with your SSH \
                         key (the CLI and the cockpit sign through your ssh-agent); nothing was \
                         recorded",
                        r.event.sentence()
                    ),
                );
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn execute_inner(
    store: &Store,
    release_id: i64,
    command: &Command,
    actor: &Actor,
    expect_seq: Option<u64>,
    seen_step: Option<&str>,
    signed: Option<&SignedCommand>,
    now: impl Fn() -> Timestamp,
) -> Result<(Vec<EventRecord>, Loaded), ExecuteError> {
    let mut pinned = expect_seq;
    let mut seen_step = seen_step.map(str::to_owned);
    let mut seen_status: Option<StepStatus> = None;
    // Contention is waited out, not reported: each attempt queues on the write lock (up to
    // the busy timeout) and decides under it, so racing writers take turns. Should an append
    // still lose a race (a writer that took no lock), one that commutes retries with a
    // growing, jittered pause for the rest of the busy timeout; the others are decided again
    // on their pinned seq, which turns the lost race into a refusal saying what changed.
    let started = crate::clock::instant();
    let give_up_at = started + BUSY_TIMEOUT;
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 0;
    loop {
        attempts += 1;
        if attempts > 1 {
            let out_of_time = crate::clock::instant() >= give_up_at;
            if out_of_time || (!command.commutes() && attempts > MAX_ATTEMPTS) {
                return Err(busy(store, release_id, started).await);
            }
            tokio::time::sleep(jittered(backoff, attempts)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        // Writers queue on the lock, then decide on the state as it is: no lost races, and the
        // lock's own wait is the busy timeout. (A read-only store takes none: the append
        // refuses, after the rules had their say.)
        let lock = if store.is_read_only() {
            None
        } else {
            match store.lock_for_append(release_id).await {
                Ok(lock) => Some(lock),
                Err(StoreError::Locked { .. }) => {
                    return Err(busy(store, release_id, started).await);
                }
                Err(e) => return Err(e.into()),
            }
        };
        // Decided on the events themselves, never on the snapshot cache.
        let mut loaded = store.load_from_events(release_id).await?;
        // An explicit `expect_seq` that is stale is answered by `decide` in its own words.
        let seq_is_stale = expect_seq.is_some_and(|seen| seen != loaded.state.seq);
        let names_step = targets_current_step(command)
            && !acts_on_rollback(&loaded.state, command)
            && !seq_is_stale;
        if pinned.is_none() && !command.commutes() && !names_step {
            pinned = Some(loaded.state.seq);
        }
        if names_step {
            let current = loaded.state.current();
            match &seen_step {
                None => seen_step = current.map(|s| s.id.clone()),
                Some(seen) if current.map(|s| &s.id) != Some(seen) => {
                    return Err(ExecuteError::Rejected(step_moved_on(
                        &loaded.state,
                        seen,
                        command.verb(),
                    )));
                }
                Some(_) => {}
            }
            if !command.commutes() {
                let status = current.map(|s| s.status);
                match (seen_status, status) {
                    (None, Some(status)) => seen_status = Some(status),
                    (Some(before), now) if Some(before) != now => {
                        let what = loaded.state.last.as_ref().map_or_else(String::new, |l| {
                            format!(
                                ": {} {} at {}",
                                l.actor.short(),
                                l.sentence,
                                release::format_clock(l.at)
                            )
                        });
                        let id = seen_step.as_deref().unwrap_or("the current step");
                        return Err(ExecuteError::Rejected(Rejection {
                            kind: release::RejectionKind::Stale,
                            message: format!(
                                "`{id}` moved on while you acted{what}; look again before you {}",
                                command.verb()
                            ),
                        }));
                    }
                    _ => {}
                }
            }
        }
        let at = now();
        let judged = judge_bake(store, release_id, &loaded, command, at).await?;
        let command = judged.as_ref().unwrap_or(command);
        let events = release::decide(&loaded.plan, &loaded.state, command, actor, at, pinned)
            .map_err(ExecuteError::Rejected)?;
        let expected = loaded.state.seq;
        let mut records = records_after(&loaded.state, events, actor, at);
        attach_signature(store, &loaded, &mut records, signed).await?;
        for r in &records {
            release::apply(&mut loaded.state, r);
        }
        let appended = match lock {
            Some(lock) => {
                store.append_locked(lock, release_id, expected, &records, &loaded.state).await
            }
            None => store.append(release_id, expected, &records, &loaded.state).await,
        };
        match appended {
            Ok(()) => {
                loaded.row.last_seq = loaded.state.seq;
                loaded.row.status = loaded.state.status.as_str().to_owned();
                return Ok((records, loaded));
            }
            Err(StoreError::Conflict) => continue,
            // SQLite's write lock stayed taken for the whole busy timeout.
            Err(StoreError::Locked { .. }) => return Err(busy(store, release_id, started).await),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The give-up after waiting since `started`, naming who drives the release when known.
async fn busy(store: &Store, release_id: i64, started: Instant) -> ExecuteError {
    let now = crate::clock::now();
    let holder = store
        .lease(release_id)
        .await
        .ok()
        .flatten()
        .filter(|l| !l.expired(now))
        .map(|l| format!("{}@{} (pid {})", l.operator, l.host, l.pid));
    ExecuteError::Store(StoreError::Busy {
        path: store.path().to_path_buf(),
        waited: started.elapsed(),
        holder,
    })
}

/// A pause between `base / 2` and `base`, different per process and attempt, so writers
/// that lost the same race do not all come back at the same instant.
fn jittered(base: Duration, attempt: usize) -> Duration {
    let seed = u64::from(std::process::id())
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(u64::try_from(attempt).unwrap_or(0).wrapping_mul(0xbf58_476d_1ce4_e5b9))
        .wrapping_add(u64::try_from(crate::clock::now().0).unwrap_or(0));
    let fraction = (seed >> 11) % 1024;
    let half = base / 2;
    half + half * u32::try_from(fraction).unwrap_or(0) / 1024
}

/// How far before a bake's start its readings are loaded: a `for` streak or a live baseline
/// window may begin before the bake.
const EVIDENCE_LEAD_MS: i64 = 60 * 60 * 1000;

/// A `PassBake` without evidence, with the evidence of the readings this store holds, judged
/// at `at` on the state it is decided on; `None` for every other command.
async fn judge_bake(
    store: &Store,
    release_id: i64,
    loaded: &Loaded,
    command: &Command,
    at: Timestamp,
) -> Result<Option<Command>, StoreError> {
    let Command::PassBake { evidence: None, override_reason, confirmed } = command else {
        return Ok(None);
    };
    let Some(started) = loaded.state.current().and_then(|s| s.started_at) else {
        return Ok(None);
    };
    let samples = store
        .samples_since(release_id, Timestamp(started.0.saturating_sub(EVIDENCE_LEAD_MS)))
        .await?;
    Ok(Some(Command::PassBake {
        evidence: crate::analysis::bake_evidence(&loaded.plan, &loaded.state, &samples, at),
        override_reason: override_reason.clone(),
        confirmed: *confirmed,
    }))
}

/// Starts a release of `plan`, unless one of the same service and environment is active.
pub async fn start(
    store: &Store,
    plan: &Plan,
    plan_path: &str,
    plan_toml: &str,
    command: &Command,
    actor: &Actor,
    at: Timestamp,
) -> Result<(i64, Vec<EventRecord>), ExecuteError> {
    // A quick look first, so an obvious refusal costs no write lock; the decision that
    // counts is taken again inside the transaction that creates the release.
    let active = store.releases().await?.into_iter().find(|r| {
        super::is_active(&r.status)
            && r.service == plan.service.name
            && r.environment == plan.service.environment
    });
    if let Some(r) = active {
        return Err(already_active(&r));
    }
    let state = State::new(plan);
    let events =
        release::decide(plan, &state, command, actor, at, None).map_err(ExecuteError::Rejected)?;
    let mut records = records_after(&state, events, actor, at);
    super::log::stamp_plan(&mut records, plan_toml);
    match store.create_release_unless_active(plan_path, plan_toml, &records).await? {
        Created::Release(id) => Ok((id, records)),
        Created::AlreadyActive(r) => Err(already_active(&r)),
    }
}

/// The refusal of a start while `active` is being released.
fn already_active(active: &ReleaseRow) -> ExecuteError {
    ExecuteError::Rejected(Rejection {
        kind: release::RejectionKind::Rule,
        message: format!(
            "{} is already being released to {} (release {}, version {}, {}); finish, roll back or abort it first",
            active.service, active.environment, active.id, active.version, active.status
        ),
    })
}
