//! The rules: given the plan, the state, a command, who asks and when, either the events
//! that follow or a rejection that says why. Pure; the only source of new events.

use std::time::Duration;

use super::command::{Command, Outcome, Rejection, RejectionKind, Resolution};
use super::event::{Event, Phase, RollbackStepRef};
use super::state::{State, Status, StepState, StepStatus};
use super::time::{Actor, Timestamp, format_clock, format_hour_minute};
use crate::plan::{Plan, StepKind, StepRef, format_duration};

type Decision = Result<Vec<Event>, Rejection>;

/// Decides what `command` by `actor` at `now` does to the release.
///
/// `expect_seq` is the sequence number of the state the issuer saw; if the release has moved
/// on since, the command is rejected saying what changed, so that pressing "next" twice, or
/// two people pressing it at once, never skips a step.
pub fn decide(
    plan: &Plan,
    state: &State,
    command: &Command,
    actor: &Actor,
    now: Timestamp,
    expect_seq: Option<u64>,
) -> Decision {
    if let Some(seen) = expect_seq {
        if seen != state.seq {
            let what = state.last.as_ref().map_or_else(String::new, |l| {
                format!(": {} {} at {}", l.actor.short(), l.sentence, format_clock(l.at))
            });
            return Err(Rejection {
                kind: RejectionKind::Stale,
                message: format!(
                    "the release moved on since you looked (you saw event {seen}, it is now at {}){what}; look again before you {}",
                    state.seq,
                    command.verb()
                ),
            });
        }
    }
    let ctx = Ctx { plan, state, actor, now };
    ctx.not_claimed_by_another(command)?;
    match command {
        Command::Start { .. } => ctx.start(command),
        Command::Note { text } => ctx.note(text),
        Command::Tick { item } => ctx.tick(item, true),
        Command::Untick { item } => ctx.tick(item, false),
        Command::Approve => ctx.approve(),
        Command::Revoke => ctx.revoke(),
        Command::Decline { reason } => ctx.decline(reason),
        Command::Next { confirmed } => ctx.next(*confirmed, false),
        Command::Shift { confirmed } => ctx.next(*confirmed, true),
        Command::PassBake { evidence, override_reason, confirmed } => {
            ctx.pass_bake(evidence.as_ref(), override_reason.as_deref(), *confirmed)
        }
        Command::Retry { confirmed } => ctx.retry(*confirmed),
        Command::Resolve { resolution, reason, confirmed } => {
            ctx.resolve(*resolution, reason, *confirmed)
        }
        Command::RecordOutcome { step, attempt, outcome, duration_ms } => {
            ctx.record_outcome(step, *attempt, outcome, *duration_ms)
        }
        Command::MarkInterrupted { step, attempt, reason } => {
            ctx.mark_interrupted(step, *attempt, reason)
        }
        Command::Skip { reason, confirmed } => ctx.skip(reason, *confirmed),
        Command::Pause { reason } => ctx.pause(reason),
        Command::Resume => ctx.resume(),
        Command::Rollback { reason, confirmed, automatic } => {
            ctx.rollback(reason, *confirmed, *automatic)
        }
        Command::Abort { reason } => ctx.abort(reason),
        Command::RecordBreach { step, breach } => ctx.record_breach(step, breach),
        Command::CaptureBaseline {
            series,
            value,
            samples,
            window_ms,
            from_series,
            from_version,
        } => ctx.capture_baseline(series, *value, *samples, *window_ms, from_series, from_version),
        Command::RecordDrift { desired, actual, source } => {
            ctx.record_drift(*desired, *actual, source)
        }
        Command::ConfirmCheckpoint => ctx.confirm_checkpoint(),
        Command::TimeOutGate { step } => ctx.time_out_gate(step),
        Command::GiveInputs { values } => ctx.give_inputs(values),
        Command::OverrideWindows { windows, reason } => ctx.override_windows(windows, reason),
        Command::Claim { step, reason } => ctx.claim(step, reason.as_deref()),
        Command::Unclaim { step } => ctx.unclaim(step),
        Command::RecordProgress { step, fraction, updated, desired } => {
            ctx.record_progress(step, *fraction, *updated, *desired)
        }
        Command::CloseWatch => ctx.close_watch(),
    }
}

struct Ctx<'a> {
    plan: &'a Plan,
    state: &'a State,
    actor: &'a Actor,
    now: Timestamp,
}

fn need_reason(reason: &str, verb: &str) -> Result<(), Rejection> {
    if reason.trim().is_empty() {
        Err(Rejection::rule(format!("{verb} needs a reason, so the record says why")))
    } else {
        Ok(())
    }
}

fn names(marks: impl Iterator<Item = String>) -> String {
    let names: Vec<String> = marks.collect();
    match names.len() {
        0 => "nobody yet".into(),
        1 => format!("{} has", names[0]),
        _ => format!("{} have", names.join(", ")),
    }
}

impl<'a> Ctx<'a> {
    fn status_word(&self) -> String {
        match self.state.status {
            Status::Planned => "has not started".into(),
            Status::Running => "is running".into(),
            Status::Paused => {
                let why = self.state.pause.as_ref().map_or_else(String::new, |p| {
                    format!(" by {} ({})", p.mark.by.short(), p.reason)
                });
                format!("is paused{why}; resume it first")
            }
            Status::RollingBack => "is rolling back".into(),
            Status::Completed => "is completed; nothing more runs".into(),
            Status::RolledBack => "was rolled back; nothing more runs".into(),
            Status::Aborted => "was aborted; nothing more runs".into(),
        }
    }

    fn require(&self, allowed: &[Status], verb: &str) -> Result<(), Rejection> {
        if allowed.contains(&self.state.status) {
            Ok(())
        } else {
            Err(Rejection::rule(format!("cannot {verb}: the release {}", self.status_word())))
        }
    }

    fn current(&self, verb: &str) -> Result<(StepRef<'a>, &'a StepState), Rejection> {
        let steps = self.plan.flat_steps();
        match (steps.get(self.state.cursor), self.state.steps.get(self.state.cursor)) {
            (Some(r), Some(s)) => Ok((*r, s)),
            _ => Err(Rejection::rule(format!("cannot {verb}: every step is done"))),
        }
    }

    /// Whether every step after the current one is done or skipped.
    fn rest_done(&self) -> bool {
        self.state
            .steps
            .iter()
            .skip(self.state.cursor + 1)
            .all(|s| matches!(s.status, StepStatus::Done | StepStatus::Skipped))
    }

    /// Appends `Completed` when `completing` closes the last step. Never while paused: a
    /// paused release completes no step (see `record_outcome` and `resume`).
    fn complete(&self, step: &str, mut events: Vec<Event>) -> Vec<Event> {
        events.push(Event::StepCompleted { step: step.to_owned() });
        let rest_done = self.rest_done();
        let is_current = self.state.steps.get(self.state.cursor).is_some_and(|s| s.id == step);
        if is_current && rest_done && self.state.status == Status::Running {
            events.push(Event::Completed);
        }
        // A paced deploy's bake starts with the hold it watches.
        let following = self.plan.flat_steps().get(self.state.cursor + 1).copied();
        if let Some(next) = following.filter(|n| {
            is_current
                && n.step.auto_start
                && self.state.status == Status::Running
                && matches!(n.step.kind, StepKind::Bake { .. })
        }) {
            events.push(Event::BakeStarted { step: next.step.id.clone() });
        }
        events
    }

    /// A shift to 100% needs a typed confirmation on every attempt: its first, a retry, and
    /// marking it succeeded by hand.
    fn confirm_full_shift(&self, step: &str, confirmed: bool, what: &str) -> Result<(), Rejection> {
        let kind = self.plan.step(step).map(|r| &r.step.kind);
        let version = self.version();
        let does = match kind {
            Some(StepKind::Traffic { weight: 100 }) => format!("sends all traffic to {version}"),
            Some(StepKind::Deploy { target: 100, .. }) => {
                format!("deploys {version} to all of production")
            }
            _ => return Ok(()),
        };
        if !confirmed {
            return Err(Rejection::confirm(format!(
                "{what} `{step}` {does}; it needs confirmation like the first attempt"
            )));
        }
        Ok(())
    }

    fn start(&self, command: &Command) -> Decision {
        let Command::Start { version, previous_version, sha, image, release_type } = command else {
            return Err(Rejection::rule("not a start command"));
        };
        if self.state.status != Status::Planned {
            return Err(Rejection::rule("this release has already started"));
        }
        if version.trim().is_empty() {
            return Err(Rejection::rule("a release needs a version"));
        }
        let mut events = vec![Event::ReleaseStarted {
            service: self.plan.service.name.clone(),
            environment: self.plan.service.environment.clone(),
            version: version.clone(),
            previous_version: previous_version.clone(),
            sha: sha.clone(),
            image: image.clone(),
            release_type: *release_type,
            plan_sha256: None,
        }];
        let skip: &[String] =
            self.plan.release_types.get(release_type).map_or(&[], |p| &p.skip_stages);
        for stage in self.plan.stages.iter().filter(|s| skip.contains(&s.id)) {
            for step in &stage.steps {
                events.push(Event::StepSkipped {
                    step: step.id.clone(),
                    reason: format!("{release_type} releases skip stage {}", stage.id),
                });
            }
        }
        if self.plan.flat_steps().len() == events.len() - 1 {
            events.push(Event::Completed);
        }
        Ok(events)
    }

    fn note(&self, text: &str) -> Decision {
        if self.state.status == Status::Planned {
            return Err(Rejection::rule("cannot add a note: the release has not started"));
        }
        if text.trim().is_empty() {
            return Err(Rejection::rule("a note needs some text"));
        }
        Ok(vec![Event::NoteAdded { text: text.to_owned() }])
    }

    fn tick(&self, item: &str, tick: bool) -> Decision {
        let verb = if tick { "tick" } else { "untick" };
        self.require(&[Status::Running, Status::Paused], verb)?;
        let (r, s) = self.current(verb)?;
        let StepKind::Checklist { items } = &r.step.kind else {
            return Err(Rejection::rule(format!(
                "cannot {verb} `{item}`: the current step is {} `{}`, not a checklist",
                r.step.kind.word(),
                r.step.id
            )));
        };
        if !items.iter().any(|i| i.id == item) {
            let known: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
            return Err(Rejection::rule(format!(
                "checklist `{}` has no item `{item}`; its items are: {}",
                r.step.id,
                known.join(", ")
            )));
        }
        match (tick, s.ticks.get(item)) {
            (true, Some(m)) => Err(Rejection::rule(format!(
                "`{item}` is already ticked by {} at {}",
                m.by.short(),
                format_clock(m.at)
            ))),
            (false, None) => Err(Rejection::rule(format!("`{item}` is not ticked"))),
            (true, None) => {
                Ok(vec![Event::ItemTicked { step: r.step.id.clone(), item: item.to_owned() }])
            }
            (false, Some(_)) => {
                Ok(vec![Event::ItemUnticked { step: r.step.id.clone(), item: item.to_owned() }])
            }
        }
    }

    fn gate(&self, verb: &str) -> Result<(StepRef<'a>, &'a StepState), Rejection> {
        self.require(&[Status::Running, Status::Paused], verb)?;
        let (r, s) = self.current(verb)?;
        if !matches!(r.step.kind, StepKind::Gate { .. }) {
            return Err(Rejection::rule(format!(
                "cannot {verb}: the current step is {} `{}`, not a gate",
                r.step.kind.word(),
                r.step.id
            )));
        }
        Ok((r, s))
    }

    /// A gate rejected on its timeout can no longer pass: say so to whoever tries.
    fn refuse_rejected(&self, r: StepRef<'_>, s: &StepState) -> Result<(), Rejection> {
        let StepKind::Gate { deadline: Some(d), .. } = &r.step.kind else { return Ok(()) };
        match s.timed_out {
            Some(at) if d.on_timeout == crate::plan::OnTimeout::Reject => {
                Err(Rejection::rule(format!(
                    "gate `{}` was rejected by flightdeck at {}: no decision within {} \
                     (on_timeout = reject); abort or roll back the release",
                    r.step.id,
                    format_clock(at),
                    format_duration(d.timeout)
                )))
            }
            _ => Ok(()),
        }
    }

    fn time_out_gate(&self, step: &str) -> Decision {
        self.require(&[Status::Running], "time out a gate")?;
        let (r, s) = self.current("time out a gate")?;
        if r.step.id != step {
            return Err(Rejection::rule(format!(
                "`{step}` is not the current step (`{}` is)",
                r.step.id
            )));
        }
        let StepKind::Gate { deadline: Some(d), .. } = &r.step.kind else {
            return Err(Rejection::rule(format!("gate `{step}` has no timeout")));
        };
        if s.timed_out.is_some() || s.finished_at.is_some() {
            return Err(Rejection::rule(format!("gate `{step}` already timed out or passed")));
        }
        let since = s.current_since.unwrap_or(self.now);
        let waited = Duration::from_millis(self.now.millis_since(since));
        if waited < d.timeout {
            return Err(Rejection::rule(format!(
                "gate `{step}` times out in {}",
                format_duration(d.timeout - waited)
            )));
        }
        Ok(vec![Event::GateTimedOut {
            step: step.to_owned(),
            timeout_ms: u64::try_from(d.timeout.as_millis()).unwrap_or(u64::MAX),
            on_timeout: d.on_timeout,
        }])
    }

    fn override_windows(&self, windows: &[String], reason: &str) -> Decision {
        need_reason(reason, "a window override")?;
        self.require(&[Status::Running], "override the release windows")?;
        let release_type = self.release_type();
        let allowed =
            self.plan.release_types.get(&release_type).is_some_and(|p| p.override_windows);
        if !allowed {
            return Err(Rejection::rule(format!(
                "a {release_type} release may not start outside its windows; set \
                 `override_windows = true` under [release_types.{release_type}] for one that may"
            )));
        }
        Ok(vec![Event::WindowsOverridden { windows: windows.to_vec(), reason: reason.to_owned() }])
    }

    fn give_inputs(&self, values: &[(String, String)]) -> Decision {
        let (r, s) = self.gate("give inputs")?;
        self.refuse_rejected(r, s)?;
        let StepKind::Gate { inputs, .. } = &r.step.kind else { return Ok(Vec::new()) };
        if values.is_empty() {
            return Err(Rejection::rule("give at least one input, as ID=VALUE"));
        }
        let mut events = Vec::new();
        for (id, value) in values {
            let Some(input) = inputs.iter().find(|i| i.id == *id) else {
                let known: Vec<&str> = inputs.iter().map(|i| i.id.as_str()).collect();
                return Err(Rejection::rule(if known.is_empty() {
                    format!("gate `{}` asks for no inputs", r.step.id)
                } else {
                    format!(
                        "gate `{}` has no input `{id}`; it asks for {}",
                        r.step.id,
                        known.join(", ")
                    )
                }));
            };
            input.check(value).map_err(Rejection::rule)?;
            events.push(Event::GateInputGiven {
                step: r.step.id.clone(),
                input: id.clone(),
                value: value.clone(),
            });
        }
        Ok(events)
    }

    fn approve(&self) -> Decision {
        let (r, s) = self.gate("approve")?;
        self.refuse_rejected(r, s)?;
        let me = &self.actor.name;
        if let Some(m) = s.approvals.get(me) {
            return Err(Rejection::rule(format!(
                "you ({me}) already approved `{}` at {}; approvals count distinct people",
                r.step.id,
                format_clock(m.at)
            )));
        }
        if s.declines.contains_key(me) {
            return Err(Rejection::rule(format!(
                "you ({me}) said no-go on `{}`; revoke that first (r) if you now approve",
                r.step.id
            )));
        }
        if self.plan.policy.forbid_self_approval {
            if let Some(info) = &self.state.info {
                if info.started_by.name == *me {
                    return Err(Rejection::rule(format!(
                        "you ({me}) started this release; this plan needs someone else to approve `{}`",
                        r.step.id
                    )));
                }
            }
        }
        Ok(vec![Event::ApprovalGiven { step: r.step.id.clone(), signature: None }])
    }

    fn revoke(&self) -> Decision {
        let (r, s) = self.gate("revoke")?;
        let me = &self.actor.name;
        if s.approvals.contains_key(me) {
            Ok(vec![Event::ApprovalRevoked { step: r.step.id.clone() }])
        } else if s.declines.contains_key(me) {
            Ok(vec![Event::DeclineWithdrawn { step: r.step.id.clone() }])
        } else {
            Err(Rejection::rule(format!(
                "you ({me}) have not approved or declined `{}`",
                r.step.id
            )))
        }
    }

    fn decline(&self, reason: &str) -> Decision {
        need_reason(reason, "a no-go")?;
        let (r, s) = self.gate("decline")?;
        let me = &self.actor.name;
        if s.declines.contains_key(me) {
            return Err(Rejection::rule(format!(
                "you ({me}) already said no-go on `{}`",
                r.step.id
            )));
        }
        let mut events = Vec::new();
        if s.approvals.contains_key(me) {
            events.push(Event::ApprovalRevoked { step: r.step.id.clone() });
        }
        events.push(Event::GateDeclined { step: r.step.id.clone(), reason: reason.to_owned() });
        Ok(events)
    }

    fn next(&self, confirmed: bool, shift_only: bool) -> Decision {
        let verb = if shift_only { "shift traffic" } else { "start the next step" };
        self.require(&[Status::Running], verb)?;
        let (r, s) = self.current(verb)?;
        let id = r.step.id.clone();
        if shift_only && self.plan.strategy() != crate::plan::Strategy::Traffic {
            return Err(Rejection::rule(format!(
                "this plan's strategy is {}: it has no traffic steps to shift; use next to start the deploy",
                self.plan.strategy().word()
            )));
        }
        if shift_only && !matches!(r.step.kind, StepKind::Traffic { .. }) {
            return Err(Rejection::rule(format!(
                "the current step is {} `{id}`, not a traffic shift; finish it first",
                r.step.kind.word()
            )));
        }
        match (&r.step.kind, s.status) {
            (StepKind::Checklist { items }, _) => {
                let open: Vec<&str> = items
                    .iter()
                    .filter(|i| !s.ticks.contains_key(&i.id))
                    .map(|i| i.id.as_str())
                    .collect();
                if open.is_empty() {
                    Ok(self.complete(&id, Vec::new()))
                } else {
                    Err(Rejection::rule(format!(
                        "checklist `{id}` has {}/{} items ticked; still open: {}",
                        items.len() - open.len(),
                        items.len(),
                        open.join(", ")
                    )))
                }
            }
            (StepKind::Gate { min_wait, inputs, .. }, _) => {
                self.refuse_rejected(r, s)?;
                let missing: Vec<String> = inputs
                    .iter()
                    .filter(|i| !s.inputs.contains_key(&i.id))
                    .map(|i| format!("{} ({})", i.id, i.prompt))
                    .collect();
                if !missing.is_empty() {
                    return Err(Rejection::rule(format!(
                        "gate `{id}` needs its inputs first: {}; give them with \
                         `approve --input ID=VALUE` (or `a` in the cockpit)",
                        missing.join(", ")
                    )));
                }
                let needed = self.plan.approvals_needed(r.step, self.release_type());
                if let Some((who, d)) = s.declines.iter().next() {
                    return Err(Rejection::rule(format!(
                        "gate `{id}` was declined by {who}: \"{}\"; they must revoke it, or abort/roll back the release",
                        d.reason
                    )));
                }
                let missing =
                    self.plan.roles_missing(r.step, s.approvals.keys().map(String::as_str));
                if !missing.is_empty() {
                    return Err(Rejection::rule(format!(
                        "gate `{id}` {} (one role per person); {} approved",
                        missing.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                        names(s.approvals.keys().cloned())
                    )));
                }
                let have = u32::try_from(s.approvals.len()).unwrap_or(u32::MAX);
                if have < needed {
                    return Err(Rejection::rule(format!(
                        "gate `{id}` needs {needed} approval{} from different people; {} approved",
                        if needed == 1 { "" } else { "s" },
                        names(s.approvals.keys().cloned())
                    )));
                }
                let since = s.current_since.unwrap_or(self.now);
                let waited = Duration::from_millis(self.now.millis_since(since));
                if waited < *min_wait {
                    return Err(Rejection::rule(format!(
                        "gate `{id}` must stay open for {}; {} to go",
                        format_duration(*min_wait),
                        format_duration(*min_wait - waited)
                    )));
                }
                Ok(self.complete(&id, Vec::new()))
            }
            (StepKind::Action { action, .. }, StepStatus::Waiting) => {
                Ok(vec![self.action_started(&id, action, 1, Phase::Rollout)])
            }
            (StepKind::Deploy { action, target, .. }, StepStatus::Waiting) => {
                self.baselines_ready()?;
                if *target == 100 && !confirmed {
                    return Err(Rejection::confirm(format!(
                        "deploying {} to all of production needs confirmation",
                        self.version()
                    )));
                }
                Ok(vec![self.action_started(&id, action, 1, Phase::Rollout)])
            }
            (StepKind::Traffic { weight }, StepStatus::Waiting) => {
                let Some(traffic) = &self.plan.traffic else {
                    return Err(Rejection::rule("the plan has no traffic provider"));
                };
                self.baselines_ready()?;
                if *weight == 100 && !confirmed {
                    return Err(Rejection::confirm(format!(
                        "shifting all traffic to {} needs confirmation",
                        self.version()
                    )));
                }
                Ok(vec![self.action_started(&id, &traffic.set_action, 1, Phase::Rollout)])
            }
            (StepKind::Bake { .. }, StepStatus::Waiting) => {
                Ok(vec![Event::BakeStarted { step: id }])
            }
            (StepKind::Bake { duration, checkpoints, .. }, StepStatus::Running) => {
                let started = s.started_at.unwrap_or(self.now);
                let elapsed = Duration::from_millis(self.now.millis_since(started));
                if let Some(missed) = unconfirmed_checkpoints(checkpoints, s).first() {
                    if elapsed >= *duration {
                        return Err(Rejection::rule(format!(
                            "bake `{id}`: the review at T+{} was never confirmed; confirm it (c) or roll back",
                            format_duration(*missed)
                        )));
                    }
                }
                if elapsed >= *duration {
                    Err(Rejection::rule(format!(
                        "bake `{id}` is over and passes only on the evidence of its stored readings: `flightdeck next` judges them (so does automation in the cockpit or `flightdeck supervise`)"
                    )))
                } else {
                    Err(Rejection::rule(format!(
                        "bake `{id}` has {} of {} to go",
                        format_duration(*duration - elapsed),
                        format_duration(*duration)
                    )))
                }
            }
            (_, StepStatus::Running) => {
                let by = s.running().map_or_else(String::new, |run| {
                    format!(" (started by {} at {})", run.started.by, format_clock(run.started.at))
                });
                Err(Rejection::rule(format!("`{id}` is still running{by}; wait for it to finish")))
            }
            (_, StepStatus::Failed) => Err(Rejection::rule(format!(
                "`{id}` failed; retry it, mark it done after checking by hand, or roll back"
            ))),
            (_, StepStatus::Interrupted) => Err(Rejection::rule(format!(
                "`{id}` was interrupted and may or may not have run; decide: retry, mark succeeded, mark failed, or roll back"
            ))),
            (_, other) => Err(Rejection::rule(format!("`{id}` is {}", other.as_str()))),
        }
    }

    /// The first step that changes production (a traffic shift or a deploy) waits for every
    /// baseline a `before`-mode relative threshold of a judged series needs: once production
    /// changes, the only version's "before" is gone for good.
    fn baselines_ready(&self) -> Result<(), Rejection> {
        match super::baseline::baseline_wait(self.plan, self.state, self.now) {
            Some(wait) => Err(Rejection::rule(wait.sentence())),
            None => Ok(()),
        }
    }

    /// Passes the running bake on its evidence, or by a person's override.
    fn pass_bake(
        &self,
        evidence: Option<&super::evidence::BakeEvidence>,
        override_reason: Option<&str>,
        confirmed: bool,
    ) -> Decision {
        let verb = "pass the bake";
        self.require(&[Status::Running], verb)?;
        let (r, s) = self.current(verb)?;
        let id = r.step.id.clone();
        let StepKind::Bake { duration, checkpoints, probes, .. } = &r.step.kind else {
            return Err(Rejection::rule(format!(
                "the current step is {} `{id}`, not a bake",
                r.step.kind.word()
            )));
        };
        if s.status != StepStatus::Running {
            return Err(Rejection::rule(format!("bake `{id}` has not started; `next` starts it")));
        }
        let started = s.started_at.unwrap_or(self.now);
        let elapsed = Duration::from_millis(self.now.millis_since(started));
        if elapsed < *duration {
            return Err(Rejection::rule(format!(
                "bake `{id}` has {} of {} to go",
                format_duration(*duration - elapsed),
                format_duration(*duration)
            )));
        }
        if let Some(missed) = unconfirmed_checkpoints(checkpoints, s).first() {
            return Err(Rejection::rule(format!(
                "bake `{id}`: the review at T+{} was never confirmed; confirm it (c) or roll back",
                format_duration(*missed)
            )));
        }
        let time_up_at =
            started.plus_millis(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
        let unmet = match evidence {
            None => vec![format!("the readings of bake `{id}` were not judged")],
            Some(e) if e.step != id => {
                vec![format!("the evidence judged is about `{}`, not bake `{id}`", e.step)]
            }
            Some(e) if e.judged_at < time_up_at => vec![format!(
                "the evidence was judged at {}, before the bake's end at {}",
                format_clock(e.judged_at),
                format_clock(time_up_at)
            )],
            Some(e) => {
                let mut unmet = e.unmet();
                for probe in probes {
                    if !e.series.iter().any(|x| x.series == *probe) {
                        unmet.push(format!("{probe}: missing (not judged)"));
                    }
                }
                unmet
            }
        };
        if unmet.is_empty() {
            return Ok(self.complete(&id, Vec::new()));
        }
        let unwatched = evidence.is_some_and(super::evidence::BakeEvidence::unwatched);
        let Some(reason) = override_reason else {
            let how = "pass it anyway with `flightdeck next --override --reason WHY --confirm`, or roll back";
            if self.actor.automatic {
                // Automation does not override: it holds the release for a person.
                let why = if unwatched {
                    super::evidence::NOBODY_WATCHED.to_owned()
                } else {
                    unmet.join("; ")
                };
                return Ok(vec![Event::Paused {
                    reason: format!(
                        "bake `{id}` is over but its readings do not pass it: {why}; {how}"
                    ),
                }]);
            }
            if unwatched {
                return Err(Rejection::rule(format!(
                    "bake `{id}`: {}; {how}",
                    super::evidence::NOBODY_WATCHED
                )));
            }
            return Err(Rejection::rule(format!(
                "bake `{id}` cannot pass on its readings: {}; {how}",
                unmet.join("; ")
            )));
        };
        if self.actor.automatic {
            return Err(Rejection::rule("only a person can override a bake's readings"));
        }
        need_reason(reason, "overriding a bake's readings")?;
        if !confirmed {
            return Err(Rejection::confirm(format!(
                "passing bake `{id}` against its readings needs confirmation ({})",
                unmet.join("; ")
            )));
        }
        let overridden =
            Event::BakeOverridden { step: id.clone(), reason: reason.trim().to_owned(), unmet };
        Ok(self.complete(&id, vec![overridden]))
    }

    fn release_type(&self) -> crate::plan::ReleaseType {
        self.state.info.as_ref().map_or(crate::plan::ReleaseType::Regular, |i| i.release_type)
    }

    fn version(&self) -> String {
        self.state.info.as_ref().map_or_else(|| "the new version".into(), |i| i.version.clone())
    }

    fn action_started(&self, step: &str, action: &str, attempt: u32, phase: Phase) -> Event {
        Event::ActionStarted { step: step.to_owned(), attempt, action: action.to_owned(), phase }
    }

    /// The step whose action failed or was interrupted and awaits a decision.
    fn stuck_step(&self, verb: &str) -> Result<(String, &'a StepState, Phase, String), Rejection> {
        if self.state.status == Status::RollingBack {
            let r = self
                .state
                .rollback
                .as_ref()
                .ok_or_else(|| Rejection::rule("no rollback in progress"))?;
            // Only the step the procedure stopped at can be retried or resolved. A failure it
            // went on past (`on_failure = "continue"`) is history: running or resolving it again
            // would start its successor a second time, beside the run already under way.
            let frontier = r.steps.iter().zip(&r.plan).rev().find(|(s, _)| !s.runs.is_empty());
            return match frontier {
                Some((s, p))
                    if matches!(s.status, StepStatus::Failed | StepStatus::Interrupted) =>
                {
                    Ok((s.id.clone(), s, Phase::Rollback, p.action.clone()))
                }
                Some((s, _)) => Err(Rejection::rule(format!(
                    "cannot {verb}: the rollback is at `{}`, which is {}, not failed or interrupted",
                    s.id,
                    s.status.as_str()
                ))),
                None => Err(Rejection::rule(format!("cannot {verb}: no rollback step has run"))),
            };
        }
        self.require(&[Status::Running, Status::Paused], verb)?;
        let (r, s) = self.current(verb)?;
        if !matches!(s.status, StepStatus::Failed | StepStatus::Interrupted) {
            return Err(Rejection::rule(format!(
                "cannot {verb}: `{}` is {}, not failed or interrupted",
                r.step.id,
                s.status.as_str()
            )));
        }
        let action = match &r.step.kind {
            StepKind::Action { action, .. } | StepKind::Deploy { action, .. } => action.clone(),
            StepKind::Traffic { .. } => {
                self.plan.traffic.as_ref().map(|t| t.set_action.clone()).unwrap_or_default()
            }
            _ => return Err(Rejection::rule(format!("`{}` has no action", r.step.id))),
        };
        Ok((r.step.id.clone(), s, Phase::Rollout, action))
    }

    fn retry(&self, confirmed: bool) -> Decision {
        let (id, s, phase, action) = self.stuck_step("retry")?;
        if phase == Phase::Rollout && self.state.status == Status::Paused {
            return Err(Rejection::rule(format!(
                "cannot retry: the release {}",
                self.status_word()
            )));
        }
        if phase == Phase::Rollout {
            self.confirm_full_shift(&id, confirmed, "retrying")?;
        }
        let attempt = u32::try_from(s.runs.len()).unwrap_or(0) + 1;
        Ok(vec![self.action_started(&id, &action, attempt, phase)])
    }

    fn resolve(&self, resolution: Resolution, reason: &str, confirmed: bool) -> Decision {
        need_reason(reason, "marking an action's outcome")?;
        let (id, s, phase, _) = self.stuck_step("resolve")?;
        // Like retry: a paused release decides nothing about its steps until it resumes.
        if phase == Phase::Rollout && self.state.status == Status::Paused {
            return Err(Rejection::rule(format!(
                "cannot resolve: the release {}",
                self.status_word()
            )));
        }
        let attempt = s.last_run().map_or(0, |r| r.attempt);
        let succeeded = resolution == Resolution::Succeeded;
        if succeeded && phase == Phase::Rollout {
            self.confirm_full_shift(&id, confirmed, "marking succeeded")?;
        }
        if !succeeded && s.status == StepStatus::Failed {
            return Err(Rejection::rule(format!("`{id}` is already marked failed")));
        }
        let resolved = Event::ActionResolved {
            step: id.clone(),
            attempt,
            succeeded,
            reason: reason.to_owned(),
        };
        if !succeeded {
            return Ok(vec![resolved]);
        }
        match phase {
            Phase::Rollout => {
                let mut events = vec![resolved];
                if let Some(StepKind::Traffic { weight }) =
                    self.plan.step(&id).map(|r| r.step.kind.clone())
                {
                    events.push(Event::WeightSet { weight });
                }
                Ok(self.complete(&id, events))
            }
            Phase::Rollback => Ok(self.after_rollback_step(&id, vec![resolved], true)),
        }
    }

    fn record_outcome(
        &self,
        step: &str,
        attempt: u32,
        outcome: &Outcome,
        duration_ms: u64,
    ) -> Decision {
        let s = self
            .state
            .step(step)
            .ok_or_else(|| Rejection::rule(format!("no step `{step}` in this release")))?;
        let run = s
            .runs
            .iter()
            .find(|r| r.attempt == attempt)
            .ok_or_else(|| Rejection::rule(format!("`{step}` has no attempt {attempt}")))?;
        if run.outcome.is_some() {
            return Err(Rejection::rule(format!(
                "the outcome of `{step}` attempt {attempt} is already recorded"
            )));
        }
        let in_rollback =
            self.state.rollback.as_ref().is_some_and(|r| r.plan.iter().any(|p| p.id == step));
        match outcome {
            Outcome::Succeeded { exit_code, output_tail, outputs } => {
                let finished = Event::ActionFinished {
                    step: step.to_owned(),
                    attempt,
                    exit_code: *exit_code,
                    duration_ms,
                    output_tail: output_tail.clone(),
                    outputs: outputs.clone(),
                };
                if in_rollback {
                    return Ok(self.after_rollback_step(step, vec![finished], true));
                }
                if let Some(events) = self.shift_ended_under_rollback(step, finished.clone(), true)
                {
                    return Ok(events);
                }
                let is_current = self.state.current().is_some_and(|c| c.id == step);
                if !is_current || !matches!(self.state.status, Status::Running | Status::Paused) {
                    return Ok(vec![finished]);
                }
                let mut events = vec![finished];
                // The weight is a fact about the load balancer: recorded even while paused.
                if let Some(StepKind::Traffic { weight }) =
                    self.plan.step(step).map(|r| r.step.kind.clone())
                {
                    events.push(Event::WeightSet { weight });
                }
                // Paused means paused: the step completes when the release resumes.
                if self.state.status == Status::Paused {
                    return Ok(events);
                }
                Ok(self.complete(step, events))
            }
            Outcome::Failed { error, exit_code, output_tail } => {
                let failed = Event::ActionFailed {
                    step: step.to_owned(),
                    attempt,
                    error: error.clone(),
                    exit_code: *exit_code,
                    duration_ms,
                    output_tail: output_tail.clone(),
                };
                if in_rollback {
                    return Ok(self.after_rollback_step(step, vec![failed], false));
                }
                if let Some(events) = self.shift_ended_under_rollback(step, failed.clone(), false) {
                    return Ok(events);
                }
                Ok(vec![failed])
            }
        }
    }

    /// A rollout shift that ends while a rollback waits for it: its weight is recorded if it
    /// took, then the rollback's first step starts (so its shift to 0% is the last word).
    fn shift_ended_under_rollback(
        &self,
        step: &str,
        ended: Event,
        took: bool,
    ) -> Option<Vec<Event>> {
        let r = self.state.rollback.as_ref()?;
        let Some(StepKind::Traffic { weight }) = self.plan.step(step).map(|r| r.step.kind.clone())
        else {
            return None;
        };
        let begun = r.steps.iter().any(|s| !s.runs.is_empty() || s.status == StepStatus::Skipped);
        if self.state.status != Status::RollingBack || begun {
            return None;
        }
        let mut events = vec![ended];
        if took {
            events.push(Event::WeightSet { weight });
        }
        self.rollback_from(&r.plan, 0, &mut events);
        Some(events)
    }

    /// After a rollback step ends: the next step starts, or the procedure finishes, or it halts.
    fn after_rollback_step(
        &self,
        step: &str,
        mut events: Vec<Event>,
        succeeded: bool,
    ) -> Vec<Event> {
        let Some(r) = &self.state.rollback else { return events };
        let Some(index) = r.plan.iter().position(|p| p.id == step) else { return events };
        let this = &r.plan[index];
        if succeeded && this.sets_weight_zero {
            events.push(Event::WeightSet { weight: 0 });
        }
        if !succeeded && (this.halt_on_failure) {
            return events;
        }
        self.rollback_from(&r.plan, index + 1, &mut events);
        events
    }

    /// Starts the rollback procedure's step `index`: one whose `if_done` names a rollout step
    /// that did not complete is recorded as skipped and the next one is considered; past the
    /// last step the procedure finishes.
    fn rollback_from(&self, plan: &[RollbackStepRef], index: usize, events: &mut Vec<Event>) {
        for next in plan.iter().skip(index) {
            let unmet = next.if_done.iter().find(|id| {
                self.state
                    .steps
                    .iter()
                    .find(|s| s.id == **id)
                    .is_none_or(|s| s.status != StepStatus::Done)
            });
            match unmet {
                Some(missing) => events.push(Event::StepSkipped {
                    step: next.id.clone(),
                    reason: format!(
                        "{} runs only if {} completed in this release; `{missing}` did not",
                        next.action,
                        next.if_done
                            .iter()
                            .map(|s| format!("`{s}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
                None => {
                    events.push(self.action_started(&next.id, &next.action, 1, Phase::Rollback));
                    return;
                }
            }
        }
        events.push(Event::RollbackFinished);
    }

    fn mark_interrupted(&self, step: &str, attempt: u32, reason: &str) -> Decision {
        let s = self
            .state
            .step(step)
            .ok_or_else(|| Rejection::rule(format!("no step `{step}` in this release")))?;
        match s.runs.iter().find(|r| r.attempt == attempt) {
            Some(run) if run.outcome.is_none() => {
                let interrupted = Event::ActionInterrupted {
                    step: step.to_owned(),
                    attempt,
                    reason: reason.to_owned(),
                };
                // Whether an interrupted shift took is unknown: the rollback sets 0 anyway.
                Ok(self
                    .shift_ended_under_rollback(step, interrupted.clone(), false)
                    .unwrap_or_else(|| vec![interrupted]))
            }
            Some(_) => {
                Err(Rejection::rule(format!("`{step}` attempt {attempt} already has an outcome")))
            }
            None => Err(Rejection::rule(format!("`{step}` has no attempt {attempt}"))),
        }
    }

    fn skip(&self, reason: &str, confirmed: bool) -> Decision {
        need_reason(reason, "skipping a step")?;
        self.require(&[Status::Running], "skip")?;
        let (r, s) = self.current("skip")?;
        if let StepKind::Gate { .. } = r.step.kind {
            let needed = self.plan.approvals_needed(r.step, self.release_type());
            let stage = &r.stage.id;
            return Err(Rejection::rule(format!(
                "`{}` is a gate and cannot be skipped: it passes with {needed} approval{} from different people ({} approved), or not at all; only a release type whose skip_stages names stage `{stage}` goes without it, decided at start",
                r.step.id,
                if needed == 1 { "" } else { "s" },
                names(s.approvals.keys().cloned())
            )));
        }
        if s.status == StepStatus::Running {
            return Err(Rejection::rule(format!(
                "`{}` is running; it cannot be skipped until it ends",
                r.step.id
            )));
        }
        if !confirmed {
            return Err(Rejection::confirm(format!("skipping `{}` needs confirmation", r.step.id)));
        }
        let mut events =
            vec![Event::StepSkipped { step: r.step.id.clone(), reason: reason.to_owned() }];
        let rest_done = self.rest_done();
        if rest_done {
            events.push(Event::Completed);
        }
        Ok(events)
    }

    fn pause(&self, reason: &str) -> Decision {
        need_reason(reason, "pausing")?;
        self.require(&[Status::Running], "pause")?;
        Ok(vec![Event::Paused { reason: reason.to_owned() }])
    }

    fn resume(&self) -> Decision {
        self.require(&[Status::Paused], "resume")?;
        let mut events = vec![Event::Resumed];
        // A step whose action succeeded while paused completes now (and the release with it,
        // if that was the last step).
        if let Some(s) = self.state.current().filter(|s| s.status == StepStatus::Done) {
            events.push(Event::StepCompleted { step: s.id.clone() });
            if self.rest_done() {
                events.push(Event::Completed);
            }
        }
        Ok(events)
    }

    fn rollback(&self, reason: &str, confirmed: bool, automatic: bool) -> Decision {
        need_reason(reason, "a rollback")?;
        if self.state.status == Status::RollingBack {
            let by = self.state.rollback.as_ref().map_or_else(String::new, |r| {
                format!(" (started by {} at {})", r.started.by.short(), format_clock(r.started.at))
            });
            return Err(Rejection::rule(format!("a rollback is already in progress{by}")));
        }
        if self.state.status == Status::Completed {
            self.still_watched()?;
        } else {
            self.require(&[Status::Running, Status::Paused], "roll back")?;
        }
        // A shift still in flight could land after the rollback's own weight-to-zero and leave
        // real traffic on the new version while the record says 0: the rollback's first step
        // waits for it (it is bounded by its own timeout) and starts when its outcome is in.
        let shifting = self.state.runs_in_flight().into_iter().any(|(step, _)| {
            self.plan.step(step).is_some_and(|r| matches!(r.step.kind, StepKind::Traffic { .. }))
        });
        if !confirmed && !automatic {
            return Err(Rejection::confirm(format!(
                "rolling back {} needs confirmation",
                self.version()
            )));
        }
        let mut steps = Vec::new();
        let traffic = self.plan.traffic.as_ref().filter(|_| {
            // Only traffic moved to the new version is sent back by setting its weight to 0.
            self.plan.strategy() == crate::plan::Strategy::Traffic
        });
        if let Some(traffic) = traffic {
            steps.push(RollbackStepRef {
                id: "rollback-1-traffic".into(),
                action: traffic.set_action.clone(),
                sets_weight_zero: true,
                halt_on_failure: true,
                if_done: Vec::new(),
            });
        }
        let halt = self.plan.rollback.on_failure == crate::plan::OnFailure::Halt;
        for step in &self.plan.rollback.steps {
            steps.push(RollbackStepRef {
                id: format!("rollback-{}-{}", steps.len() + 1, step.action),
                action: step.action.clone(),
                sets_weight_zero: false,
                halt_on_failure: halt,
                if_done: step.if_done.clone(),
            });
        }
        let mut events = vec![Event::RollbackStarted {
            reason: reason.to_owned(),
            automatic,
            steps: steps.clone(),
            signature: None,
        }];
        if !shifting {
            self.rollback_from(&steps, 0, &mut events);
        }
        Ok(events)
    }

    fn abort(&self, reason: &str) -> Decision {
        need_reason(reason, "aborting")?;
        self.require(&[Status::Running, Status::Paused], "abort")?;
        if self.state.weight > 0 {
            return Err(Rejection::rule(format!(
                "{}% of traffic is on {}; roll back instead, so traffic returns to the stable version",
                self.state.weight,
                self.version()
            )));
        }
        if let Some((step, _)) = self.state.runs_in_flight().first() {
            return Err(Rejection::rule(format!(
                "`{step}` is still running; wait for it to end before aborting"
            )));
        }
        if let Some(r) = self
            .plan
            .deploy_steps()
            .into_iter()
            .find(|r| self.state.steps.get(r.index).is_some_and(|s| !s.runs.is_empty()))
        {
            return Err(Rejection::rule(format!(
                "the deploy `{}` has run: production may run {}; roll back instead, so production returns to the previous version",
                r.step.id,
                self.version()
            )));
        }
        Ok(vec![Event::Aborted { reason: reason.to_owned() }])
    }

    /// A completed release may be rolled back while its `[watch] after_release` window is
    /// open; after it (or without a watch) it is over.
    fn still_watched(&self) -> Result<(), Rejection> {
        let completed = self.state.completed_at.map(format_hour_minute).unwrap_or_default();
        match (&self.plan.watch, super::deployment::watch_state(self.plan, self.state, self.now)) {
            (_, super::deployment::WatchState::Watching { .. }) => Ok(()),
            (Some(watch), super::deployment::WatchState::Ended { at }) => {
                Err(Rejection::rule(format!(
                    "cannot roll back: the release completed at {completed}; its {} watch ended at {}; release the previous version as a new release instead",
                    format_duration(watch.after_release),
                    format_hour_minute(at)
                )))
            }
            _ => Err(Rejection::rule(format!(
                "cannot roll back: the release {}; release the previous version as a new release instead (a plan with `[watch] after_release` may be rolled back while watched)",
                self.status_word()
            ))),
        }
    }

    /// NaN and infinities have no JSON form (serde_json writes `null`, which does not read
    /// back as a number): recording one would leave an event the store cannot load.
    fn recordable(&self, step: &str, breach: &super::event::Breach) -> Result<(), Rejection> {
        let numbers =
            [("value", Some(breach.value)), ("limit", breach.limit), ("baseline", breach.baseline)];
        match numbers
            .into_iter()
            .find_map(|(what, v)| v.filter(|v| !v.is_finite()).map(|v| (what, v)))
        {
            Some((what, v)) => Err(Rejection::rule(format!(
                "the breach of {} in `{step}` has {what} {v}, which is not a number that can be recorded",
                breach.series
            ))),
            None => Ok(()),
        }
    }

    /// Whether this warning or abort of `breach.series` is already recorded under `step`.
    fn already_recorded(&self, step: &str, breach: &super::event::Breach) -> bool {
        self.state
            .breaches
            .iter()
            .any(|(st, b, _)| st == step && b.series == breach.series && b.level == breach.level)
    }

    /// A breach seen while a completed release is watched: a warning is recorded (once per
    /// series); an abort-level one (once per series) does what `[watch] on_breach` says.
    fn record_after_release_breach(&self, breach: &super::event::Breach) -> Decision {
        let step = crate::plan::AFTER_RELEASE_STEP;
        let Some(watch) = &self.plan.watch else {
            return Err(Rejection::rule(
                "the plan has no [watch] after release; breaches after completion are not acted on",
            ));
        };
        let watching = matches!(
            super::deployment::watch_state(self.plan, self.state, self.now),
            super::deployment::WatchState::Watching { .. }
        );
        if self.state.status != Status::Completed || !watching {
            return Err(Rejection::rule(format!(
                "cannot act on a breach after release: the release {}, not completed and watched",
                self.status_word()
            )));
        }
        self.recordable(step, breach)?;
        if self.already_recorded(step, breach) {
            return Err(Rejection::rule(format!(
                "{} of {} after release is already recorded",
                if breach.level == super::event::Level::Warn { "a warning" } else { "an abort" },
                breach.series
            )));
        }
        let recorded = Event::ThresholdBreached { step: step.to_owned(), breach: breach.clone() };
        if breach.level == super::event::Level::Warn {
            return Ok(vec![recorded]);
        }
        let unit =
            self.plan.metrics.iter().find(|m| m.id == breach.series).map(|m| m.unit.as_str());
        let reason = format!(
            "watched after release ({} left of {}): {}",
            self.watch_left_words(),
            format_duration(watch.after_release),
            breach.explain_in(unit.unwrap_or(""))
        );
        match watch.on_breach {
            crate::plan::OnBreach::Pause => Ok(vec![recorded, Event::Paused { reason }]),
            crate::plan::OnBreach::Rollback => {
                let mut events = vec![recorded];
                events.extend(self.rollback(&reason, true, true)?);
                Ok(events)
            }
        }
    }

    fn watch_left_words(&self) -> String {
        match super::deployment::watch_state(self.plan, self.state, self.now) {
            super::deployment::WatchState::Watching { left } => format_duration(left),
            _ => "nothing".into(),
        }
    }

    fn record_breach(&self, step: &str, breach: &super::event::Breach) -> Decision {
        if step == crate::plan::AFTER_RELEASE_STEP {
            return self.record_after_release_breach(breach);
        }
        self.require(&[Status::Running], "act on a breach")?;
        let (r, s) = self.current("act on a breach")?;
        let StepKind::Bake { on_breach, .. } = &r.step.kind else {
            return Err(Rejection::rule(format!("`{step}` is not the running bake")));
        };
        if r.step.id != step || s.status != StepStatus::Running {
            return Err(Rejection::rule(format!("`{step}` is not the running bake")));
        }
        self.recordable(step, breach)?;
        let recorded = Event::ThresholdBreached { step: step.to_owned(), breach: breach.clone() };
        if breach.level == super::event::Level::Warn {
            if self.already_recorded(step, breach) {
                return Err(Rejection::rule(format!(
                    "a warning for {} is already recorded in `{step}`",
                    breach.series
                )));
            }
            return Ok(vec![recorded]);
        }
        // Recorded in the metric's own unit (8.1% rather than 0.081), as the screen shows it.
        let unit =
            self.plan.metrics.iter().find(|m| m.id == breach.series).map(|m| m.unit.as_str());
        let reason = format!("bake `{step}`: {}", breach.explain_in(unit.unwrap_or("")));
        match on_breach {
            crate::plan::OnBreach::Pause => Ok(vec![recorded, Event::Paused { reason }]),
            crate::plan::OnBreach::Rollback => {
                let mut events = vec![recorded];
                events.extend(self.rollback(&reason, true, true)?);
                Ok(events)
            }
        }
    }

    fn confirm_checkpoint(&self) -> Decision {
        self.require(&[Status::Running, Status::Paused], "confirm a review")?;
        let (r, s) = self.current("confirm a review")?;
        let StepKind::Bake { checkpoints, .. } = &r.step.kind else {
            return Err(Rejection::rule(format!(
                "`{}` is not a bake; no review is due",
                r.step.id
            )));
        };
        let Some(started) = s.started_at.filter(|_| s.status == StepStatus::Running) else {
            return Err(Rejection::rule(format!("bake `{}` has not started", r.step.id)));
        };
        let elapsed = Duration::from_millis(self.now.millis_since(started));
        let due = unconfirmed_checkpoints(checkpoints, s).into_iter().find(|cp| *cp <= elapsed);
        match due {
            Some(cp) => Ok(vec![Event::CheckpointConfirmed {
                step: r.step.id.clone(),
                at_ms: u64::try_from(cp.as_millis()).unwrap_or(u64::MAX),
            }]),
            None => {
                let next = unconfirmed_checkpoints(checkpoints, s).into_iter().next();
                Err(Rejection::rule(match next {
                    Some(cp) => format!(
                        "the next review of `{}` is due at T+{}",
                        r.step.id,
                        format_duration(cp)
                    ),
                    None => format!("every review of `{}` is confirmed", r.step.id),
                }))
            }
        }
    }

    /// Someone else's live claim on the current step holds back the commands that advance it
    /// (next, shift, skip, retry, resolve) for everyone but its holder. Approvals, ticks,
    /// notes and reviews stay open to all (a gate needs several people); flightdeck's own
    /// decisions, rollback and abort are never held back (safety first); and a rollback's
    /// steps cannot be claimed.
    fn not_claimed_by_another(&self, command: &Command) -> Result<(), Rejection> {
        let advances = matches!(
            command,
            Command::Next { .. }
                | Command::PassBake { .. }
                | Command::Shift { .. }
                | Command::Skip { .. }
                | Command::Retry { .. }
                | Command::Resolve { .. }
        );
        if !advances
            || self.actor.automatic
            || !matches!(self.state.status, Status::Running | Status::Paused)
        {
            return Ok(());
        }
        let Some(s) = self.state.current() else { return Ok(()) };
        match s.live_claim(self.now) {
            Some(claim) if claim.by.name != self.actor.name => Err(Rejection::rule(format!(
                "{} has claimed `{}` until {} UTC; take over the claim with a reason first",
                claim.by.short(),
                s.id,
                format_hour_minute(claim.until)
            ))),
            _ => Ok(()),
        }
    }

    fn claims_ttl(&self, verb: &str) -> Result<Duration, Rejection> {
        self.plan.claims.map(|c| c.ttl).ok_or_else(|| {
            Rejection::rule(format!(
                "cannot {verb}: claims are off in the plan of {} (it has no [claims] table); add `[claims]` with `ttl = \"20m\"` to the plan for the releases started after",
                self.plan.service.name
            ))
        })
    }

    /// A step of the plan that has not ended, by id.
    fn claimable(&self, step: &str, verb: &str) -> Result<&'a StepState, Rejection> {
        self.require(&[Status::Running, Status::Paused], verb)?;
        let Some(s) = self.state.steps.iter().find(|s| s.id == step) else {
            let known: Vec<&str> = self
                .state
                .steps
                .iter()
                .filter(|s| !matches!(s.status, StepStatus::Done | StepStatus::Skipped))
                .map(|s| s.id.as_str())
                .collect();
            return Err(Rejection::rule(format!(
                "cannot {verb}: no step `{step}` in this release's plan; steps not done yet: {}",
                known.join(", ")
            )));
        };
        match s.status {
            StepStatus::Done | StepStatus::Skipped => Err(Rejection::rule(format!(
                "cannot {verb}: `{step}` is {} already",
                s.status.as_str()
            ))),
            _ => Ok(s),
        }
    }

    fn claim(&self, step: &str, reason: Option<&str>) -> Decision {
        let ttl = self.claims_ttl("claim")?;
        let s = self.claimable(step, "claim")?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        let me = &self.actor.name;
        let took_over_from = match s.live_claim(self.now) {
            Some(c) if c.by.name != *me => {
                if reason.is_none() {
                    return Err(Rejection::rule(format!(
                        "{} has claimed `{step}` until {} UTC (since {}); to take it over, give a reason (w in the cockpit, `claim --take-over REASON`): it is recorded, and {} sees it",
                        c.by.short(),
                        format_hour_minute(c.until),
                        format_clock(c.at),
                        c.by.short()
                    )));
                }
                Some(c.by.name.clone())
            }
            // Your own live claim is renewed; a lapsed one (anyone's) is free.
            _ => None,
        };
        Ok(vec![Event::StepClaimed {
            step: step.to_owned(),
            until: self.now.plus_millis(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
            took_over_from,
            reason: reason.map(str::to_owned),
        }])
    }

    fn unclaim(&self, step: &str) -> Decision {
        self.claims_ttl("unclaim")?;
        let s = self.claimable(step, "unclaim")?;
        match (&s.claim, s.live_claim(self.now)) {
            (None, _) => Err(Rejection::rule(format!("nobody has claimed `{step}`"))),
            (Some(_), Some(c)) if c.by.name != self.actor.name => Err(Rejection::rule(format!(
                "{} has claimed `{step}` until {} UTC; only they can release it before then (or take it over with a reason)",
                c.by.short(),
                format_hour_minute(c.until)
            ))),
            (Some(_), _) => Ok(vec![Event::ClaimReleased { step: step.to_owned() }]),
        }
    }

    /// A read-back that disagrees with the record: recorded once per difference, then the
    /// plan's `on_drift` (pause, or roll back); a read-back that agrees again ends the drift.
    fn record_drift(&self, desired: u8, actual: u8, source: &str) -> Decision {
        self.require(&[Status::Running, Status::Paused], "record a traffic drift")?;
        if desired != self.state.weight {
            return Err(Rejection {
                kind: super::RejectionKind::Stale,
                message: format!(
                    "the recorded weight moved from {desired}% to {}% since the read-back",
                    self.state.weight
                ),
            });
        }
        let drift = Event::TrafficDrift { desired, actual, source: source.to_owned() };
        let known = self.state.drift.as_ref().map(|d| d.actual);
        if desired == actual {
            return match known {
                Some(_) => Ok(vec![drift]),
                None => Err(Rejection::rule("the provider agrees with the record; no drift")),
            };
        }
        if known == Some(actual) {
            return Err(Rejection::rule(format!("the drift to {actual}% is already recorded")));
        }
        let reason = format!(
            "traffic drift: {source} reports {actual}% on {}, the record says {desired}%",
            self.version()
        );
        let on_drift =
            self.plan.traffic.as_ref().map_or(crate::plan::OnDrift::Pause, |t| t.on_drift);
        match (on_drift, self.state.status) {
            (crate::plan::OnDrift::Rollback, _) => {
                let mut events = vec![drift];
                events.extend(self.rollback(&reason, true, true)?);
                Ok(events)
            }
            (crate::plan::OnDrift::Pause, Status::Running) => {
                Ok(vec![drift, Event::Paused { reason }])
            }
            (crate::plan::OnDrift::Pause, _) => Ok(vec![drift]),
        }
    }

    /// Records the rollout's progress when it changed, while a deploy step has started and
    /// the release is not over.
    fn record_progress(
        &self,
        step: &str,
        fraction: f64,
        updated: Option<u32>,
        desired: Option<u32>,
    ) -> Decision {
        if self.state.status.is_terminal() {
            return Err(Rejection::rule(format!(
                "the release {}; its rollout progress is no longer recorded",
                self.status_word()
            )));
        }
        let Some(r) = self.plan.step(step) else {
            return Err(Rejection::rule(format!("no step `{step}` in the plan")));
        };
        if !matches!(r.step.kind, StepKind::Deploy { .. }) {
            return Err(Rejection::rule(format!("`{step}` is not a deploy step")));
        }
        // A reading taken before the deploy ran says nothing of this release's rollout.
        if self.state.step(step).is_none_or(|s| s.runs.is_empty()) {
            return Err(Rejection::rule(format!(
                "deploy step `{step}` has not started; its progress is recorded once it runs"
            )));
        }
        if !fraction.is_finite() || !(0.0..=1.0).contains(&fraction) {
            return Err(Rejection::rule(format!(
                "rollout progress must be between 0 and 1, not {fraction}"
            )));
        }
        let same = self.state.rollout.as_ref().is_some_and(|p| {
            p.step == step
                && (p.fraction - fraction).abs() < 1e-9
                && p.updated == updated
                && p.desired == desired
        });
        if same {
            return Err(Rejection::rule("the rollout's progress has not changed"));
        }
        Ok(vec![Event::RolloutProgress { step: step.to_owned(), fraction, updated, desired }])
    }

    /// Closes the watch after completion once its window has passed.
    fn close_watch(&self) -> Decision {
        let Some(watch) = &self.plan.watch else {
            return Err(Rejection::rule("the plan has no [watch] after release"));
        };
        match super::deployment::watch_state(self.plan, self.state, self.now) {
            super::deployment::WatchState::Ended { .. } if self.state.watch_closed.is_none() => {
                Ok(vec![Event::WatchClosed {
                    after_release_ms: u64::try_from(watch.after_release.as_millis())
                        .unwrap_or(u64::MAX),
                }])
            }
            super::deployment::WatchState::Watching { left } => Err(Rejection::rule(format!(
                "the watch after release has {} to go",
                format_duration(left)
            ))),
            super::deployment::WatchState::Ended { at } => Err(Rejection::rule(format!(
                "the watch after release is already closed (at {})",
                format_clock(at)
            ))),
            super::deployment::WatchState::None => Err(Rejection::rule(format!(
                "there is no watch after release to close: the release {}",
                self.status_word()
            ))),
        }
    }

    fn capture_baseline(
        &self,
        series: &str,
        value: f64,
        samples: u32,
        window_ms: u64,
        from_series: &Option<String>,
        from_version: &Option<String>,
    ) -> Decision {
        self.require(&[Status::Running, Status::Paused], "capture a baseline")?;
        if !self.plan.metrics.iter().any(|m| m.id == series) {
            return Err(Rejection::rule(format!("no metric `{series}` in the plan")));
        }
        if self.state.baselines.contains_key(series) {
            return Err(Rejection::rule(format!("the baseline of {series} is already captured")));
        }
        if super::baseline::production_changed(self.plan, self.state) {
            return Err(Rejection::rule(
                "baselines are captured before the first traffic shift or deploy, from the only version running",
            ));
        }
        if !value.is_finite() {
            return Err(Rejection::rule(format!("baseline of {series} is not a number")));
        }
        Ok(vec![Event::BaselineCaptured {
            series: series.to_owned(),
            value,
            samples,
            window_ms,
            from_series: from_series.clone(),
            from_version: from_version.clone(),
        }])
    }
}

/// Review checkpoints of a bake not confirmed yet, earliest first.
pub fn unconfirmed_checkpoints(checkpoints: &[Duration], s: &StepState) -> Vec<Duration> {
    let mut open: Vec<Duration> = checkpoints
        .iter()
        .copied()
        .filter(|cp| {
            let ms = u64::try_from(cp.as_millis()).unwrap_or(u64::MAX);
            !s.checkpoints.iter().any(|(at, _)| *at == ms)
        })
        .collect();
    open.sort();
    open
}
