//! The one path from a command to recorded events, shared by keys, CLI verbs and automation:
//! load, decide, append; on a lost race, reload and decide again (or report what changed).

use std::fmt;

use super::{Loaded, Store, StoreError};
use crate::plan::Plan;
use crate::release::{self, Actor, Command, EventRecord, Rejection, Signature, State, Timestamp};

/// How many times a writer that keeps losing races retries before giving up.
const MAX_ATTEMPTS: usize = 8;

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
/// `expect_seq` is the seq the issuer saw. Without one, commands that depend on which step is
/// current are pinned to the state loaded here, so a lost race is reported, never re-applied
/// to a step nobody looked at; commands that commute (tick, approve, note, ...) are decided
/// again on the fresh state — but only while the same step is current, so an approval that
/// loses a race to the gate passing never lands on the next gate.
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

/// Commands that act on whichever step is current.
fn targets_current_step(command: &Command) -> bool {
    matches!(
        command,
        Command::Tick { .. }
            | Command::Untick { .. }
            | Command::Approve
            | Command::Revoke
            | Command::Decline { .. }
    )
}

/// Like [`execute`], with the step the issuer was looking at: a step-targeting command is
/// refused if another step is current by the time it is decided.
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
    for _ in 0..MAX_ATTEMPTS {
        // Decided on the events themselves, never on the snapshot cache.
        let mut loaded = store.load_from_events(release_id).await?;
        if pinned.is_none() && !command.commutes() {
            pinned = Some(loaded.state.seq);
        }
        let current = loaded.state.current().map(|s| s.id.clone());
        if targets_current_step(command) {
            match &seen_step {
                None => seen_step.clone_from(&current),
                Some(seen) if current.as_ref() != Some(seen) => {
                    let what = loaded.state.last.as_ref().map_or_else(String::new, |l| {
                        format!(
                            ": {} {} at {}",
                            l.actor.short(),
                            l.sentence,
                            release::format_clock(l.at)
                        )
                    });
                    return Err(ExecuteError::Rejected(Rejection {
                        kind: release::RejectionKind::Stale,
                        message: format!(
                            "`{seen}` is no longer the current step{what}; look again before you {}",
                            command.verb()
                        ),
                    }));
                }
                Some(_) => {}
            }
        }
        let at = now();
        let events = release::decide(&loaded.plan, &loaded.state, command, actor, at, pinned)
            .map_err(ExecuteError::Rejected)?;
        let expected = loaded.state.seq;
        let mut records = records_after(&loaded.state, events, actor, at);
        attach_signature(store, &loaded, &mut records, signed).await?;
        for r in &records {
            release::apply(&mut loaded.state, r);
        }
        match store.append(release_id, expected, &records, &loaded.state).await {
            Ok(()) => {
                loaded.row.last_seq = loaded.state.seq;
                loaded.row.status = loaded.state.status.as_str().to_owned();
                return Ok((records, loaded));
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ExecuteError::Store(StoreError::Locked { path: store.path().to_path_buf() }))
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
    let active = store.releases().await?.into_iter().find(|r| {
        super::is_active(&r.status)
            && r.service == plan.service.name
            && r.environment == plan.service.environment
    });
    if let Some(r) = active {
        return Err(ExecuteError::Rejected(Rejection {
            kind: release::RejectionKind::Rule,
            message: format!(
                "{} is already being released to {} (release {}, version {}, {}); finish, roll back or abort it first",
                r.service, r.environment, r.id, r.version, r.status
            ),
        }));
    }
    let state = State::new(plan);
    let events =
        release::decide(plan, &state, command, actor, at, None).map_err(ExecuteError::Rejected)?;
    let mut records = records_after(&state, events, actor, at);
    super::log::stamp_plan(&mut records, plan_toml);
    let id = store.create_release(plan_path, plan_toml, &records).await?;
    Ok((id, records))
}
