//! Runs the actions this process claimed, each on a task of its own, and cancels those a
//! rollback preempts: a rollout action still running when the rollback starts is stopped
//! (its process group gets SIGTERM, then SIGKILL; an HTTP call is dropped) and recorded as
//! cancelled by the rollback, so the rollback's own shift to 0% goes out at once. A traffic
//! shift in flight is never cancelled: it is bounded by its own timeout.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Envelope, Report, progress, readback};
use crate::action::{self, Claim};
use crate::plan::{Plan, StepKind};
use crate::release::{Command, Outcome, State, Status};
use crate::store::{self, Store};
use crate::{clock, release};

/// How long a built-in provider's shift may take to show up in its read-back.
const PROVIDER_SHIFT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// One run of one action: which release, step and attempt.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RunKey {
    /// Release id.
    pub release_id: i64,
    /// Step id (a rollout step or a rollback procedure step).
    pub step: String,
    /// Attempt number.
    pub attempt: u32,
}

/// A run under way: how to stop it, and why it was stopped.
#[derive(Debug)]
struct Active {
    cancel: CancellationToken,
    why: Arc<Mutex<Option<String>>>,
    /// A rollout action other than a traffic shift: a rollback stops it.
    preemptible: bool,
}

/// Every run this process started, and the plans of their releases.
#[derive(Debug, Default)]
pub(super) struct Runs {
    active: BTreeMap<RunKey, Active>,
    /// Runs that ended here: never started again, even if recording their outcome failed
    /// (a person then decides, as for an interrupted run).
    ended: BTreeSet<RunKey>,
    plans: BTreeMap<i64, Arc<Plan>>,
}

/// How a run learns that it was stopped, and why.
#[derive(Debug, Clone)]
pub(super) struct Stop {
    token: CancellationToken,
    why: Arc<Mutex<Option<String>>>,
}

impl Runs {
    pub(super) fn remember_plan(&mut self, release_id: i64, plan: &Plan) {
        if self.plans.get(&release_id).is_none_or(|p| **p != *plan) {
            self.plans.insert(release_id, Arc::new(plan.clone()));
        }
    }

    pub(super) fn plan(&self, release_id: i64) -> Option<Arc<Plan>> {
        self.plans.get(&release_id).cloned()
    }

    pub(super) fn is_known(&self, key: &RunKey) -> bool {
        self.active.contains_key(key) || self.ended.contains(key)
    }

    pub(super) fn start(&mut self, key: RunKey, plan: &Plan, cancel: CancellationToken) -> Stop {
        let why = Arc::new(Mutex::new(None));
        let preemptible =
            plan.step(&key.step).is_some_and(|r| !matches!(r.step.kind, StepKind::Traffic { .. }));
        self.active.insert(key, Active { cancel: cancel.clone(), why: why.clone(), preemptible });
        Stop { token: cancel, why }
    }

    pub(super) fn ended(&mut self, key: &RunKey) {
        self.active.remove(key);
        self.ended.insert(key.clone());
    }

    pub(super) fn active(&self, release_id: i64) -> bool {
        self.active.keys().any(|k| k.release_id == release_id)
    }

    pub(super) fn any_active(&self) -> bool {
        !self.active.is_empty()
    }

    pub(super) fn stop_all(&mut self, why: &str) {
        for run in self.active.values() {
            if let Ok(mut slot) = run.why.lock() {
                slot.get_or_insert_with(|| why.to_owned());
            }
            run.cancel.cancel();
        }
    }

    /// Once a release rolls back (or ended), its rollout actions still running here stop.
    pub(super) fn cancel_preempted(&mut self, release_id: i64, state: &State) {
        let over = state.status == Status::RollingBack || state.status.is_terminal();
        if !over {
            return;
        }
        let why = match &state.rollback {
            Some(r) => format!(
                "cancelled by the rollback {} started at {}: {}",
                r.started.by.short(),
                release::format_clock(r.started.at),
                r.reason
            ),
            None => format!("cancelled: the release is {}", state.status.as_str()),
        };
        for (key, run) in &self.active {
            if key.release_id != release_id || !run.preemptible || run.cancel.is_cancelled() {
                continue;
            }
            if let Ok(mut slot) = run.why.lock() {
                slot.get_or_insert_with(|| why.clone());
            }
            tracing::warn!(release = release_id, step = %key.step, "{why}");
            run.cancel.cancel();
        }
    }
}

/// What a run task needs.
pub(super) struct Run {
    pub(super) key: RunKey,
    pub(super) claim: Claim,
    pub(super) store: Store,
    pub(super) client: reqwest::Client,
    pub(super) tx: mpsc::UnboundedSender<Envelope>,
    pub(super) cancel: Stop,
}

/// Runs one claimed action to its end on a task of its own and records its outcome in the
/// claimant's name.
pub(super) fn spawn(run: Run) {
    tokio::spawn(async move {
        let Run { key, claim, store, client, tx, cancel } = run;
        let release_id = key.release_id;
        let _ = tx.send(
            Report::RunStarted {
                release_id,
                step: claim.step.clone(),
                action: claim.action.clone(),
            }
            .into(),
        );
        let (lines_tx, mut lines_rx) = mpsc::unbounded_channel::<String>();
        let forward = {
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(line) = lines_rx.recv().await {
                    if tx.send(Report::Output { release_id, line }.into()).is_err() {
                        break;
                    }
                }
            })
        };
        let _ = lines_tx.send(format!("── running {} ({}) ──", claim.step, claim.action));
        let ended = run_and_record(&store, &key, &claim, &client, (&lines_tx, &tx), &cancel).await;
        drop(lines_tx);
        let _ = forward.await;
        let (failed, error) = match ended {
            Ok((failed, envelope)) => {
                let _ = tx.send(envelope);
                (failed, None)
            }
            Err(e) => (None, Some(e)),
        };
        let _ = tx.send(Report::RunEnded { key, failed, error }.into());
    });
}

async fn run_and_record(
    store: &Store,
    key: &RunKey,
    claim: &Claim,
    client: &reqwest::Client,
    (lines, tx): (&mpsc::UnboundedSender<String>, &mpsc::UnboundedSender<Envelope>),
    stop: &Stop,
) -> Result<(Option<String>, Envelope), String> {
    let loaded = store.load(key.release_id).await.map_err(|e| e.to_string())?;
    let (plan, state) = (&loaded.plan, &loaded.state);
    let started = clock::instant();
    let spec = plan.action(&claim.action);
    // A built-in provider stands for the set action: it moves the traffic itself.
    let provider = plan
        .traffic
        .as_ref()
        .filter(|t| t.set_action == claim.action)
        .and_then(|t| t.provider.as_ref());
    let mut outcome = match (provider, claim.weight) {
        (Some(provider), Some(weight)) => {
            shift_by_provider(provider, weight, lines, &stop.token).await
        }
        _ => {
            let run = run_action(plan, state, key, claim, client, lines, stop);
            let (id, step, by) = (key.release_id, &claim.step, &claim.by);
            match progress::Poller::for_step(plan, state, id, step, by, store, client, tx) {
                Some(poller) => poller.around(run, &stop.token).await,
                None => run.await,
            }
        }
    };
    // A shift counts only once the provider says it took: read the weight back until it
    // matches or the shift's own timeout is over.
    let shift_timeout = spec.map_or(PROVIDER_SHIFT_TIMEOUT, |s| s.timeout);
    if let (Some(weight), Outcome::Succeeded { .. }, Some(info), Some(source)) =
        (claim.weight, &outcome, &state.info, readback::Source::of(plan))
    {
        let deadline = started + shift_timeout;
        let confirmed =
            readback::confirm(&source, info, key.release_id, weight, client, deadline, &stop.token)
                .await;
        match confirmed {
            Ok(line) => {
                let _ = lines.send(line);
            }
            Err(error) => {
                let _ = lines.send(error.clone());
                outcome = Outcome::Failed { error, exit_code: None, output_tail: None };
            }
        }
    }
    if stop.token.is_cancelled() {
        let why = stop.why.lock().ok().and_then(|w| w.clone());
        if let (Some(why), Outcome::Failed { error, .. }) = (why, &mut outcome) {
            *error = why;
        }
    }
    let failed = match &outcome {
        Outcome::Failed { error, .. } => Some(error.clone()),
        Outcome::Succeeded { .. } => None,
    };
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let command = Command::RecordOutcome {
        step: claim.step.clone(),
        attempt: claim.attempt,
        outcome,
        duration_ms,
    };
    let (records, after) =
        store::execute(store, key.release_id, &command, &claim.by, None, clock::now)
            .await
            .map_err(|e| format!("cannot record the outcome of {}: {e}", claim.step))?;
    Ok((failed, Envelope::committed(key.release_id, "action", records, after, false)))
}

/// Runs the claimed action itself (anything but a built-in provider's shift).
async fn run_action(
    plan: &Plan,
    state: &State,
    key: &RunKey,
    claim: &Claim,
    client: &reqwest::Client,
    lines: &mpsc::UnboundedSender<String>,
    stop: &Stop,
) -> Outcome {
    let mut secrets = Vec::new();
    let spec = plan.action(&claim.action);
    let prepared = match (spec, &state.info) {
        (Some(spec), Some(info)) => {
            let info = action::info_for_step(plan, &claim.step, info);
            let recorded = action::outputs::recorded(state);
            let shares = action::Shares { weight: claim.weight, target: claim.target };
            action::prepare_with(spec, &info, key.release_id, shares, &recorded, &mut secrets)
        }
        (None, _) => Err(format!("the plan has no action `{}`", claim.action)),
        (_, None) => Err("the release has not started".into()),
    };
    match prepared {
        Ok(prepared) => {
            let report =
                action::run_prepared(&prepared, &secrets, client, lines, &stop.token).await;
            with_outputs(spec, &prepared, report, &secrets, lines)
        }
        Err(error) => {
            let _ = lines.send(format!("cannot run {}: {error}", claim.action));
            Outcome::Failed { error, exit_code: None, output_tail: None }
        }
    }
}

/// A succeeded run with the values its action's `outputs` declares; a run whose declared
/// output cannot be found failed (a later step would run with a hole in it).
fn with_outputs(
    spec: Option<&crate::plan::ActionSpec>,
    prepared: &action::Prepared,
    report: action::Report,
    secrets: &[String],
    lines: &mpsc::UnboundedSender<String>,
) -> Outcome {
    let Some(spec) = spec.filter(|s| !s.outputs.is_empty()) else { return report.outcome };
    let Outcome::Succeeded { exit_code, output_tail, .. } = report.outcome else {
        return report.outcome;
    };
    let what = match prepared {
        action::Prepared::Command(_) => "its output",
        action::Prepared::Http(_) => "the response body",
    };
    match action::outputs::pick(&spec.outputs, &report.body, what, secrets) {
        Ok(outputs) => {
            for (name, value) in &outputs {
                let _ = lines.send(format!("output {name} = {value}"));
            }
            Outcome::Succeeded { exit_code, output_tail, outputs }
        }
        Err(error) => {
            let _ = lines.send(error.clone());
            Outcome::Failed { error, exit_code, output_tail }
        }
    }
}

/// Sets the weight through the plan's built-in provider; the read-back then confirms it.
async fn shift_by_provider(
    spec: &crate::plan::provider::ProviderSpec,
    weight: u8,
    lines: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Outcome {
    let provider = crate::provider::connect(spec);
    let set = tokio::select! {
        set = provider.set_weight(weight) => set,
        () = cancel.cancelled() => Err(format!("{}: the shift to {weight}% was cancelled", provider.describe())),
    };
    match set {
        Ok(done) => {
            let _ = lines.send(done.clone());
            Outcome::Succeeded {
                exit_code: None,
                output_tail: Some(done),
                outputs: BTreeMap::new(),
            }
        }
        Err(error) => {
            let _ = lines.send(error.clone());
            Outcome::Failed { error, exit_code: None, output_tail: None }
        }
    }
}
