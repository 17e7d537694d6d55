//! The application layer between the pure engine and its drivers (the cockpit, every CLI
//! verb, `demo --headless` and `flightdeck supervise`). It owns what happens around a commit
//! and over time: running the actions a command claimed (and cancelling them when a rollback
//! preempts them), webhooks, orphaned actions, automation (bake verdicts, breaches, baselines,
//! reviews), traffic read-back, and the reports its driver shows or prints. Drivers decide
//! nothing here themselves: they hand commands in and take reports out.

pub mod headless;
pub mod log;
pub mod probes;
pub mod progress;
pub mod readback;
mod runner;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::plan::Plan;
use crate::probe::ProbeBoard;
use crate::release::{Actor, Command, EventRecord, State, Status, Timestamp};
use crate::store::{self, ExecuteError, Loaded, Store};
use crate::{automation, clock, identity, notify};

pub use runner::RunKey;

/// What the supervisor tells its driver. A driver shows or prints these; the work around
/// them (webhooks, starting and cancelling runs) is already done when it sees them.
#[derive(Debug, Clone)]
pub enum Report {
    /// A command (a person's, automation's, or an action's outcome) was recorded.
    Committed {
        /// Release id.
        release_id: i64,
        /// What was asked, for the status line.
        verb: String,
        /// What was recorded.
        records: Vec<EventRecord>,
        /// The state after it.
        state: Box<State>,
        /// Whether automation issued it.
        automatic: bool,
    },
    /// A command was refused (or could not be recorded).
    Rejected {
        /// Release id.
        release_id: i64,
        /// What was asked.
        verb: String,
        /// Why.
        message: String,
        /// Whether automation issued it.
        automatic: bool,
    },
    /// This process started running an action.
    RunStarted {
        /// Release id.
        release_id: i64,
        /// Step id.
        step: String,
        /// Action id.
        action: String,
    },
    /// A line of an action's output (secrets redacted).
    Output {
        /// Release id.
        release_id: i64,
        /// The line.
        line: String,
    },
    /// An action this process ran has ended (its outcome is in a `Committed` before this).
    RunEnded {
        /// Which run.
        key: RunKey,
        /// Why it failed, if it did.
        failed: Option<String>,
        /// Why recording its outcome failed, if it did.
        error: Option<String>,
    },
    /// A background task of the supervisor failed; the driver must show it.
    TaskFailed {
        /// Which task.
        task: &'static str,
        /// What went wrong.
        error: String,
    },
}

/// A report on its way to the driver, with the plan of its release when the sender had it
/// (so the work around a commit never waits for a load).
#[derive(Debug)]
struct Envelope {
    report: Report,
    plan: Option<Box<Plan>>,
}

impl Envelope {
    /// What a command recorded, with the release as it then stood and its plan.
    fn committed(
        release_id: i64,
        verb: impl Into<String>,
        records: Vec<EventRecord>,
        loaded: store::Loaded,
        automatic: bool,
    ) -> Self {
        Self {
            report: Report::Committed {
                release_id,
                verb: verb.into(),
                records,
                state: Box::new(loaded.state),
                automatic,
            },
            plan: Some(Box::new(loaded.plan)),
        }
    }
}

impl From<Report> for Envelope {
    fn from(report: Report) -> Self {
        Self { report, plan: None }
    }
}

/// Lets a background task of a driver report its failure through the supervisor, so it is
/// shown and logged instead of vanishing.
#[derive(Debug, Clone)]
pub struct Reporter(mpsc::UnboundedSender<Envelope>);

impl Reporter {
    /// Reports that `task` failed.
    pub fn task_failed(&self, task: &'static str, error: String) {
        let _ = self.0.send(Report::TaskFailed { task, error }.into());
    }
}

/// A command a driver hands in.
#[derive(Debug, Clone)]
pub struct Submit {
    /// Release id.
    pub release_id: i64,
    /// The command.
    pub command: Command,
    /// Who issues it.
    pub actor: Actor,
    /// The seq the issuer saw, if the command depends on it.
    pub expect_seq: Option<u64>,
    /// The step the issuer saw current, if the command acts on it.
    pub seen_step: Option<String>,
    /// For the status line and the log.
    pub verb: String,
}

/// Per-release memory of what automation has under way, so it never asks twice at once.
#[derive(Debug, Default)]
struct Watching {
    /// An automation command is being decided and recorded.
    automation_pending: bool,
    /// A read-back is under way (cleared by its task).
    readback_pending: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// When the weight was last read back between shifts.
    last_readback: Option<tokio::time::Instant>,
    /// The driver whose expired lease this process took: its runs in flight are orphans.
    taken_from: Option<(String, u32)>,
}

/// The supervisor of every release this process drives or acts on.
#[derive(Debug)]
pub struct Supervisor {
    store: Store,
    me: Actor,
    automation: Actor,
    client: reqwest::Client,
    notifier: notify::Notifier,
    tx: mpsc::UnboundedSender<Envelope>,
    rx: mpsc::UnboundedReceiver<Envelope>,
    runs: runner::Runs,
    watching: BTreeMap<i64, Watching>,
    cancel: CancellationToken,
}

/// How long an HTTP action may take when its plan says nothing shorter.
const ACTION_CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a webhook attempt may take at most.
const WEBHOOK_CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

impl Supervisor {
    /// A supervisor acting as `me` (actions it claims run in this process).
    pub fn new(store: Store, me: Actor) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let automation = Actor::automation(&me.account, &me.host, me.pid);
        Self {
            notifier: notify::Notifier::spawn(
                store.clone(),
                crate::action::http_client(WEBHOOK_CLIENT_TIMEOUT),
            ),
            client: crate::action::http_client(ACTION_CLIENT_TIMEOUT),
            store,
            me,
            automation,
            tx,
            rx,
            runs: runner::Runs::default(),
            watching: BTreeMap::new(),
            cancel: CancellationToken::new(),
        }
    }

    /// Who this supervisor acts as.
    pub fn me(&self) -> &Actor {
        &self.me
    }

    /// The actor automation records its decisions as.
    pub fn automation_actor(&self) -> &Actor {
        &self.automation
    }

    /// A handle background tasks report their failures through.
    pub fn reporter(&self) -> Reporter {
        Reporter(self.tx.clone())
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The next report, after the work around it is done. Cancel-safe: use it in `select!`.
    pub async fn next(&mut self) -> Option<Report> {
        let envelope = self.rx.recv().await?;
        Some(self.absorb(envelope))
    }

    /// A report already waiting, if any (after the work around it is done).
    pub fn try_next(&mut self) -> Option<Report> {
        let envelope = self.rx.try_recv().ok()?;
        Some(self.absorb(envelope))
    }

    fn absorb(&mut self, envelope: Envelope) -> Report {
        let Envelope { report, plan } = envelope;
        if let (Some(plan), Report::Committed { release_id, .. }) = (&plan, &report) {
            self.runs.remember_plan(*release_id, plan);
        }
        self.after(&report);
        report
    }

    fn after(&mut self, report: &Report) {
        match report {
            Report::Committed { release_id, records, state, automatic, .. } => {
                if *automatic {
                    if let Some(w) = self.watching.get_mut(release_id) {
                        w.automation_pending = false;
                    }
                }
                self.after_commit(*release_id, records, state);
            }
            Report::Rejected { release_id, verb, message, automatic } => {
                if *automatic {
                    if let Some(w) = self.watching.get_mut(release_id) {
                        w.automation_pending = false;
                    }
                    tracing::warn!(release = release_id, "automation ({verb}) refused: {message}");
                }
            }
            Report::RunEnded { key, .. } => self.runs.ended(key),
            Report::TaskFailed { task, error } => tracing::error!(task, "{error}"),
            Report::RunStarted { .. } | Report::Output { .. } => {}
        }
    }

    /// What happens after every commit made by this process, whichever driver made it:
    /// webhooks hear of it, and the actions it claimed start (or a rollback cancels those it
    /// preempts).
    fn after_commit(&mut self, release_id: i64, records: &[EventRecord], state: &State) {
        for r in records {
            tracing::info!(
                release = release_id,
                seq = r.seq,
                actor = %r.actor.short(),
                "{}",
                r.event.sentence()
            );
        }
        // Every sender of a commit passes its plan along, so it is known here.
        let Some(plan) = self.runs.plan(release_id) else { return };
        self.notifier.committed(release_id, &plan, state.info.as_ref(), records);
        self.reconcile(release_id, &plan, state);
    }

    /// Takes in what the store now holds for a release (after another process's write, or
    /// a driver's own load): starts runs this process claimed, and cancels those a rollback
    /// preempted, whoever started the rollback.
    pub fn observe(&mut self, release_id: i64, plan: &Plan, state: &State) {
        self.runs.remember_plan(release_id, plan);
        self.reconcile(release_id, plan, state);
    }

    fn reconcile(&mut self, release_id: i64, plan: &Plan, state: &State) {
        self.runs.cancel_preempted(release_id, state);
        // A driver that is quitting starts nothing new: what it claimed and did not start is
        // left in flight, and the next driver marks it interrupted for a person.
        if self.cancel.is_cancelled() {
            return;
        }
        for claim in crate::action::claims_of(plan, state, &self.me) {
            let key = RunKey { release_id, step: claim.step.clone(), attempt: claim.attempt };
            if self.runs.is_known(&key) {
                continue;
            }
            let token = self.runs.start(key.clone(), plan, self.cancel.child_token());
            runner::spawn(runner::Run {
                key,
                claim,
                store: self.store.clone(),
                client: self.client.clone(),
                tx: self.tx.clone(),
                cancel: token,
            });
        }
    }

    /// Whether actions of this process are running for `release_id`.
    pub fn running(&self, release_id: i64) -> bool {
        self.runs.active(release_id)
    }

    /// Decides and records a command in the background; the outcome comes back as a report.
    pub fn submit(&mut self, submit: Submit) {
        let (store, tx) = (self.store.clone(), self.tx.clone());
        let plan = self.runs.plan(submit.release_id);
        tokio::spawn(async move {
            let automatic = submit.actor.automatic;
            let report = match record(&store, &submit, plan.as_deref()).await {
                Ok((records, loaded)) => {
                    Envelope::committed(submit.release_id, submit.verb, records, loaded, automatic)
                }
                Err(e) => Report::Rejected {
                    release_id: submit.release_id,
                    verb: submit.verb,
                    message: e.to_string(),
                    automatic,
                }
                .into(),
            };
            let _ = tx.send(report);
        });
    }

    /// Decides and records a command now (the CLI's way): orphans on this host are marked
    /// first so the command is decided on the truth, and the work around the commit is done
    /// before this returns. Actions the command claimed start running; see [`Self::settle`].
    pub async fn execute(
        &mut self,
        submit: Submit,
    ) -> Result<(Vec<EventRecord>, Loaded), ExecuteError> {
        let id = submit.release_id;
        let mut recorded = self.mark_orphans(id).await;
        let plan = self.runs.plan(id);
        let (records, loaded) = record(&self.store, &submit, plan.as_deref()).await?;
        self.runs.remember_plan(id, &loaded.plan);
        self.after_commit(id, &records, &loaded.state);
        recorded.extend(records);
        Ok((recorded, loaded))
    }

    /// Records what the plan's `on_failure` says about a failed action step (pause or roll
    /// back), in flightdeck's name, pinned to the state it was decided on: the CLI's way
    /// after its own action failed, so a script's `next` needs no driver for it (a driver
    /// does the same through [`Self::automate`]). Rollback actions it claims start running;
    /// see [`Self::settle`]. Returns what was recorded (nothing when the plan says "ask").
    pub async fn follow_on_failure(
        &mut self,
        release_id: i64,
    ) -> Result<Vec<EventRecord>, ExecuteError> {
        let loaded = self.store.load(release_id).await?;
        let Some(command) = automation::failed_action_due(&loaded.plan, &loaded.state) else {
            return Ok(Vec::new());
        };
        let verb = format!("automation ({})", command.verb());
        let submit = Submit {
            release_id,
            command,
            actor: self.automation.clone(),
            expect_seq: Some(loaded.state.seq),
            seen_step: None,
            verb,
        };
        self.execute(submit).await.map(|(records, _)| records)
    }

    /// Takes in a release this process just started (the start is recorded by the store, not
    /// through `execute`): webhooks hear of it.
    pub fn started(&mut self, release_id: i64, plan: &Plan, records: &[EventRecord]) {
        self.runs.remember_plan(release_id, plan);
        let state = State::replay(plan, records);
        self.after_commit(release_id, records, &state);
    }

    /// Stops every action this process runs (each is recorded as failed, with `why`).
    pub fn stop_runs(&mut self, why: &str) {
        self.runs.stop_all(why);
    }

    /// Marks interrupted every action in flight that was started on this host by a process
    /// that is gone; returns what was recorded.
    pub async fn mark_orphans(&mut self, release_id: i64) -> Vec<EventRecord> {
        let Ok(loaded) = self.store.load(release_id).await else { return Vec::new() };
        self.runs.remember_plan(release_id, &loaded.plan);
        let mut all = Vec::new();
        for orphan in automation::orphans(&loaded.state, &self.me, identity::process_alive) {
            if let Ok((records, after)) =
                store::execute(&self.store, release_id, &orphan, &self.automation, None, clock::now)
                    .await
            {
                self.after_commit(release_id, &records, &after.state);
                all.extend(records);
            }
        }
        all
    }

    /// Waits until no action of this process runs for `release_id`, passing every report to
    /// `each`; meanwhile it looks at the store so a rollback recorded by another process
    /// cancels what it preempts. Returns every report seen.
    pub async fn settle(&mut self, release_id: i64, mut each: impl FnMut(&Report)) {
        let mut watch = self.store.change_watch().await.ok();
        let mut poll = tokio::time::interval(Duration::from_millis(250));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut interrupted = false;
        while self.running(release_id) {
            tokio::select! {
                _ = tokio::signal::ctrl_c(), if !interrupted => {
                    interrupted = true;
                    eprintln!("flightdeck: interrupted; stopping the action and recording it as failed");
                    self.stop_runs("interrupted (SIGINT) by the person who ran it");
                }
                report = self.next() => match report {
                    Some(report) => each(&report),
                    None => return,
                },
                _ = poll.tick() => {
                    let changed = match &mut watch {
                        Some(w) => w.changed().await.unwrap_or(true),
                        None => true,
                    };
                    if changed {
                        if let Ok(loaded) = self.store.load(release_id).await {
                            self.observe(release_id, &loaded.plan, &loaded.state);
                        }
                    }
                }
            }
        }
        while let Some(report) = self.try_next() {
            each(&report);
        }
    }

    /// Notes that this process took the driver lease from a holder whose lease expired: the
    /// runs it had in flight are interrupted (never re-run) at the next look.
    pub fn took_over_from(&mut self, release_id: i64, host: String, pid: u32) {
        self.watching.entry(release_id).or_default().taken_from = Some((host, pid));
    }

    /// What the driver of a release decides by itself, given the latest probe readings:
    /// orphaned runs, baselines, bake verdicts and breaches, reviews, and traffic read-back.
    /// Only the process that holds the driver lease calls this. Returns whether a command
    /// was handed in.
    pub fn automate(
        &mut self,
        release_id: i64,
        plan: &Plan,
        state: &State,
        board: &ProbeBoard,
        now: Timestamp,
    ) -> bool {
        self.runs.remember_plan(release_id, plan);
        let w = self.watching.entry(release_id).or_default();
        if w.automation_pending {
            return false;
        }
        if let Some((host, pid)) = w.taken_from.clone() {
            w.taken_from = None;
            let orphan = state
                .runs_in_flight()
                .into_iter()
                .find(|(_, run)| run.started.by.host == host && run.started.by.pid == pid);
            if let Some((step, run)) = orphan {
                let command = Command::MarkInterrupted {
                    step: step.to_owned(),
                    attempt: run.attempt,
                    reason: format!(
                        "the driver {}@{host} (pid {pid}) stopped heartbeating; {} took over",
                        run.started.by.short(),
                        self.me.short()
                    ),
                };
                self.hand_in_automation(release_id, command, None);
                return true;
            }
        }
        if let Some(due) =
            automation::due(plan, state, now, &self.me, identity::process_alive, board)
        {
            tracing::info!(
                release = release_id,
                step = state.current().map_or("-", |s| s.id.as_str()),
                "automation decides: {}",
                describe(&due.command)
            );
            self.hand_in_automation(release_id, due.command, due.expect_seq);
            return true;
        }
        self.maybe_read_back(release_id, plan, state);
        false
    }

    fn hand_in_automation(&mut self, release_id: i64, command: Command, expect_seq: Option<u64>) {
        self.watching.entry(release_id).or_default().automation_pending = true;
        let verb = format!("automation ({})", command.verb());
        self.submit(Submit {
            release_id,
            command,
            actor: self.automation.clone(),
            expect_seq,
            seen_step: None,
            verb,
        });
    }

    /// Reads the weight back every `traffic.check_every` while no shift is in flight; a
    /// difference is recorded as drift (and pauses or rolls back, as the plan says).
    fn maybe_read_back(&mut self, release_id: i64, plan: &Plan, state: &State) {
        let Some(traffic) = &plan.traffic else { return };
        let Some(source) = readback::Source::of(plan) else { return };
        let read = source.name().to_owned();
        if !matches!(state.status, Status::Running | Status::Paused) {
            return;
        }
        // A rollout shift and the rollback's shift to 0% both run the set action.
        let shifting =
            state.runs_in_flight().into_iter().any(|(_, run)| run.action == traffic.set_action);
        if shifting {
            return;
        }
        let Some(info) = state.info.clone() else { return };
        let w = self.watching.entry(release_id).or_default();
        let due = w.last_readback.is_none_or(|t| t.elapsed() >= traffic.check_every);
        let pending = w.readback_pending.clone();
        if pending.load(std::sync::atomic::Ordering::Acquire) || !due {
            return;
        }
        pending.store(true, std::sync::atomic::Ordering::Release);
        w.last_readback = Some(tokio::time::Instant::now());
        let desired = state.weight;
        let drifting = state.drift.is_some();
        let (store, tx, client) = (self.store.clone(), self.tx.clone(), self.client.clone());
        let actor = self.automation.clone();
        let seq = state.seq;
        tokio::spawn(async move {
            let result = readback::read(&source, &info, release_id, &client).await;
            let report = match result {
                Ok(actual) if actual == desired && !drifting => None,
                Ok(actual) => {
                    tracing::warn!(
                        release = release_id,
                        desired,
                        actual,
                        source = %read,
                        "traffic read-back"
                    );
                    let command = Command::RecordDrift { desired, actual, source: read.clone() };
                    let executed =
                        store::execute(&store, release_id, &command, &actor, Some(seq), clock::now)
                            .await;
                    Some(match executed {
                        Ok((records, loaded)) => {
                            Envelope::committed(release_id, "read-back", records, loaded, false)
                        }
                        // The release moved on while the weight was read: the next look
                        // judges the new state.
                        Err(ExecuteError::Rejected(_)) => return done(&pending),
                        Err(e) => Report::TaskFailed {
                            task: "traffic read-back",
                            error: format!("recording the read-back failed: {e}"),
                        }
                        .into(),
                    })
                }
                Err(e) => Some(
                    Report::TaskFailed {
                        task: "traffic read-back",
                        error: format!("reading the weight back with `{read}` failed: {e}"),
                    }
                    .into(),
                ),
            };
            if let Some(report) = report {
                let _ = tx.send(report);
            }
            done(&pending);
        });
    }

    /// Stops every run this process still has (each is recorded as cancelled, within about
    /// 10 s), starts no new one, and waits at most `within` for webhooks under way. Drivers
    /// that should let actions finish (`supervise` on SIGTERM, a CLI verb) wait for them
    /// before calling this.
    pub async fn finish(mut self, within: Duration) {
        self.cancel.cancel();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.runs.any_active() && tokio::time::Instant::now() < deadline {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(envelope)) => {
                    self.absorb(envelope);
                }
                _ => break,
            }
        }
        self.notifier.finish(within).await;
    }
}

/// Decides and records a command; where the plan requires signed approvals, a person's
/// approval or rollback is first signed through their ssh-agent (refused, saying how to add a
/// key, without one).
/// `plan` is the release's plan when the supervisor knows it: a plan without signed
/// approvals then costs no extra load.
async fn record(
    store: &Store,
    submit: &Submit,
    plan: Option<&Plan>,
) -> Result<(Vec<EventRecord>, Loaded), ExecuteError> {
    let unsigned_plan = plan.is_some_and(|p| !p.policy.signed_approvals);
    let signed = if submit.actor.automatic || unsigned_plan {
        None
    } else {
        let loaded = store.load(submit.release_id).await?;
        if loaded.plan.policy.signed_approvals {
            crate::signing::sign_command(
                store,
                &loaded,
                &submit.command,
                &submit.actor,
                clock::now(),
            )
            .await
            .map_err(signing_refusal)?
        } else {
            None
        }
    };
    store::execute_signed(
        store,
        submit.release_id,
        &submit.command,
        &submit.actor,
        submit.expect_seq,
        submit.seen_step.as_deref(),
        signed.as_ref(),
        clock::now,
    )
    .await
}

fn signing_refusal(e: crate::signing::SigningError) -> ExecuteError {
    match e {
        crate::signing::SigningError::Unavailable(_) => {
            ExecuteError::Rejected(crate::release::Rejection {
                kind: crate::release::RejectionKind::Rule,
                message: e.to_string(),
            })
        }
        crate::signing::SigningError::Store(e) => ExecuteError::Store(e),
        crate::signing::SigningError::Failed(_) => {
            ExecuteError::Store(store::StoreError::Other(e.to_string()))
        }
    }
}

fn done(pending: &std::sync::atomic::AtomicBool) {
    pending.store(false, std::sync::atomic::Ordering::Release);
}

/// A command in the words of the log.
fn describe(command: &Command) -> String {
    match command {
        Command::RecordBreach { step, breach } => format!(
            "{} breach of {} in {step}: value {}, threshold {}",
            if breach.level == crate::release::Level::Abort { "abort" } else { "warn" },
            breach.series,
            breach.value,
            breach.threshold
        ),
        Command::Pause { reason } => format!("pause: {reason}"),
        Command::CaptureBaseline { series, value, samples, window_ms, from_series, .. } => {
            format!(
                "baseline of {series}: {value} from {samples} samples of {} over {}",
                from_series.as_deref().unwrap_or(series),
                crate::plan::format_duration(Duration::from_millis(*window_ms))
            )
        }
        Command::MarkInterrupted { step, reason, .. } => {
            format!("mark {step} interrupted: {reason}")
        }
        other => other.verb().to_owned(),
    }
}

/// Releases `supervise --all` looks at: every active one, and every completed one still
/// [`crate::release::supervised`]. `known` says which are supervised already (taken without a load);
/// `settled` remembers the completed ones found unwatched at their last seq, so each is
/// loaded once, not at every look.
pub async fn releases_to_supervise(
    store: &Store,
    known: impl Fn(i64) -> bool,
    settled: &mut BTreeMap<i64, u64>,
) -> Result<BTreeSet<i64>, store::StoreError> {
    let mut ids = BTreeSet::new();
    for row in store.releases().await? {
        if store::is_active(&row.status) || known(row.id) {
            ids.insert(row.id);
            continue;
        }
        let completed = row.status == Status::Completed.as_str();
        if !completed || settled.get(&row.id) == Some(&row.last_seq) {
            continue;
        }
        let loaded = store.load(row.id).await?;
        if crate::release::supervised(&loaded.plan, &loaded.state) {
            ids.insert(row.id);
        } else {
            settled.insert(row.id, row.last_seq);
        }
    }
    Ok(ids)
}
