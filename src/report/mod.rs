//! The deployment report: what happened to one release, who approved it, whether it rolled
//! back and how the numbers moved — built from its recorded events (and stored probe
//! readings), rendered as Markdown or JSON. Deterministic: the same store gives the same
//! bytes, so nothing here reads the clock, and every list has a fixed order.
//!
//! `build` is pure; `load` only reads the store. Neither writes anything.

pub mod html;
pub mod json;
pub mod markdown;
pub mod overview;
pub mod production;
pub mod stats;

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::plan::{Comparison, Plan, StepKind, Thresholds};
use crate::release::{Actor, Event, EventRecord, Level, Phase, State, Timestamp, format_date_time};
use crate::store::{ChainReport, ReleaseRow, SampleKind, SampleRow, Store, StoreError};

/// Version of the report's JSON shape; fields are only ever added.
pub const REPORT_SCHEMA: u32 = 1;

/// How many lines of an action's output the report quotes.
pub const OUTPUT_EXCERPT_LINES: usize = 10;

/// A point in time: Unix milliseconds and the same in UTC words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(pub Timestamp);

impl Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Time", 2)?;
        st.serialize_field("ms", &self.0.0)?;
        st.serialize_field("utc", &format_date_time(self.0))?;
        st.end()
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`REPORT_SCHEMA`].
    pub schema: u32,
    /// Service, version, times and outcome.
    pub release: Summary,
    /// The first page: outcome, approvals, before → after per series, issues encountered.
    pub overview: overview::Overview,
    /// Every event, oldest first.
    pub timeline: Vec<TimelineRow>,
    /// Every gate of the plan.
    pub gates: Vec<Gate>,
    /// Every checklist of the plan.
    pub checklists: Vec<Checklist>,
    /// Every action run (rollout and rollback), in the order they started.
    pub actions: Vec<ActionRunReport>,
    /// The runs whose step or action id or name contains "smoke".
    pub smoke_tests: Vec<ActionRunReport>,
    /// Each traffic weight with its time span.
    pub traffic: Vec<TrafficSpan>,
    /// Baselines, breaches and readings per step.
    pub metrics: Metrics,
    /// Whether and how the release was rolled back.
    pub rollback: RollbackReport,
    /// The watch after completion, when the plan has `[watch]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<production::WatchReport>,
    /// SHA, image, plan, events, chain, people.
    pub audit: Audit,
}

/// The summary block.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The release's id in the store that recorded it (kept through export and import).
    pub id: i64,
    /// Service name.
    pub service: String,
    /// Version released.
    pub version: String,
    /// Version it replaced.
    pub previous_version: Option<String>,
    /// Target environment.
    pub environment: String,
    /// Regular, hotfix or emergency.
    pub release_type: String,
    /// Stages this release type went without (its `skip_stages`, decided at start): the
    /// only way a release passes a gate without its approvals. Absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_stages: Vec<String>,
    /// Final (or current) status word.
    pub status: String,
    /// When it started.
    pub started_at: Option<Time>,
    /// Who started it.
    pub started_by: Option<String>,
    /// When it ended (completed, rolled back or aborted).
    pub ended_at: Option<Time>,
    /// From start to end.
    pub duration_ms: Option<u64>,
    /// Percent of traffic on the new version at the end (always 0 for rolling and swap
    /// releases, which move no traffic: read `production`).
    pub final_weight: u8,
    /// Where production stands, in the words of the plan's strategy.
    pub production: production::Production,
    /// Why it was aborted.
    pub abort_reason: Option<String>,
    /// The chain head this report was written at, `SEQ:HASH`: keep it with the report, and
    /// `flightdeck verify --head SEQ:HASH` later tells whether the record still reaches it.
    pub chain_head: Option<String>,
}

/// One row of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineRow {
    /// Event seq.
    pub seq: u64,
    /// When.
    pub at: Time,
    /// The event kind as stored.
    pub kind: String,
    /// What happened, in words.
    pub event: String,
    /// Who (the name approvals count by).
    pub actor: String,
    /// The outcome in one word where there is one (`ok`, `failed`, `passed`, `abort`, ...).
    pub result: String,
}

/// One approval or no-go.
#[derive(Debug, Clone, Serialize)]
pub struct Approval {
    /// Who.
    pub by: String,
    /// When.
    pub at: Time,
    /// Why (no-gos only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A gate.
#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    /// Step id.
    pub step: String,
    /// Step name.
    pub name: String,
    /// Step status word.
    pub status: String,
    /// Approvals it needed for this release type.
    pub approvals_needed: u32,
    /// Standing approvals, oldest first.
    pub approvals: Vec<Approval>,
    /// Standing no-gos, oldest first.
    pub no_gos: Vec<Approval>,
    /// When it passed (or was skipped).
    pub finished_at: Option<Time>,
    /// Its typed inputs as given, in plan order (absent when it asks for none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputValue>,
}

/// A gate's typed input and the value given.
#[derive(Debug, Clone, Serialize)]
pub struct InputValue {
    /// Input id.
    pub id: String,
    /// What was asked.
    pub prompt: String,
    /// The value, if given.
    pub value: Option<String>,
    /// Who gave it.
    pub by: Option<String>,
    /// When.
    pub at: Option<Time>,
}

/// A checklist item.
#[derive(Debug, Clone, Serialize)]
pub struct ChecklistItem {
    /// Item id.
    pub id: String,
    /// What to check.
    pub text: String,
    /// Whether it is ticked.
    pub ticked: bool,
    /// Who ticked it.
    pub by: Option<String>,
    /// When.
    pub at: Option<Time>,
}

/// A checklist.
#[derive(Debug, Clone, Serialize)]
pub struct Checklist {
    /// Step id.
    pub step: String,
    /// Step name.
    pub name: String,
    /// Step status word.
    pub status: String,
    /// Its items, in plan order.
    pub items: Vec<ChecklistItem>,
}

/// One run of an action.
#[derive(Debug, Clone, Serialize)]
pub struct ActionRunReport {
    /// Step id (a rollback step's id for rollback runs).
    pub step: String,
    /// Step name.
    pub name: String,
    /// Action id.
    pub action: String,
    /// `rollout` or `rollback`.
    pub phase: String,
    /// 1, 2, ...
    pub attempt: u32,
    /// Who claimed it.
    pub started_by: String,
    /// When it started.
    pub started_at: Time,
    /// When its outcome was recorded.
    pub ended_at: Option<Time>,
    /// `running`, `succeeded`, `failed` or `interrupted`.
    pub outcome: String,
    /// How long it ran, as it reported.
    pub duration_ms: Option<u64>,
    /// Exit status of a command.
    pub exit_code: Option<i32>,
    /// What went wrong.
    pub error: Option<String>,
    /// The last lines of its output.
    pub output_excerpt: Option<String>,
    /// A person's decision after a failure or interruption.
    pub resolution: Option<Resolution>,
}

/// A person's decision on a failed or interrupted run.
#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    /// Who.
    pub by: String,
    /// When.
    pub at: Time,
    /// Marked succeeded (true) or failed.
    pub succeeded: bool,
    /// Why.
    pub reason: String,
}

/// One traffic weight and how long it held.
#[derive(Debug, Clone, Serialize)]
pub struct TrafficSpan {
    /// Percent to the new version.
    pub weight: u8,
    /// Set when.
    pub from: Time,
    /// Until the next change or the end of the release; `None` while it still holds.
    pub until: Option<Time>,
    /// How long it held.
    pub duration_ms: Option<u64>,
    /// Who set it.
    pub by: String,
}

/// The metrics section.
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    /// Baselines captured before the first shift.
    pub baselines: Vec<Baseline>,
    /// Threshold breaches recorded during bakes.
    pub breaches: Vec<BreachRow>,
    /// Stored readings summarised per window (before traffic moved, each step, rollback,
    /// after); empty when no readings were stored.
    pub windows: Vec<Window>,
}

/// A captured baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    /// Metric id.
    pub series: String,
    /// Median over the window.
    pub value: f64,
    /// Samples it was taken from.
    pub samples: u32,
    /// The window.
    pub window_ms: u64,
    /// When it was captured.
    pub at: Time,
}

/// A recorded breach.
#[derive(Debug, Clone, Serialize)]
pub struct BreachRow {
    /// When.
    pub at: Time,
    /// The bake it happened in.
    pub step: String,
    /// Metric or health id.
    pub series: String,
    /// `warn` or `abort`.
    pub level: String,
    /// The value observed.
    pub value: f64,
    /// The threshold as written.
    pub threshold: String,
    /// The limit it came to.
    pub limit: Option<f64>,
    /// The baseline, for relative thresholds.
    pub baseline: Option<f64>,
    /// The explanation, as the engine worded it.
    pub explanation: String,
}

/// Readings in one span of the release.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    /// What the span is: `before traffic moved` (`before the deploy`), `step bake-10`,
    /// `after the deploy`, `rollback`, `after the release`.
    pub label: String,
    /// The step id, for step windows.
    pub step: Option<String>,
    /// The step's kind (`bake`, `action`, ...), for step windows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_kind: Option<String>,
    /// Start.
    pub from: Time,
    /// End; `None` for an open span.
    pub until: Option<Time>,
    /// One row per series with readings in the span, by series id.
    pub series: Vec<SeriesStats>,
}

/// One series within a window.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesStats {
    /// Metric or health id.
    pub series: String,
    /// `metric` or `health` (health values are round trips in milliseconds).
    pub kind: String,
    /// Readings with a value.
    pub samples: u32,
    /// Readings that failed or had no data.
    pub gaps: u32,
    /// Smallest value.
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Mean value.
    pub mean: Option<f64>,
    /// The last value.
    pub last: Option<f64>,
    /// The series' baseline.
    pub baseline: Option<f64>,
    /// Mean against baseline, in percent.
    pub vs_baseline_pct: Option<f64>,
    /// The warn threshold as written.
    pub warn: Option<String>,
    /// The abort threshold as written.
    pub abort: Option<String>,
    /// Distance from the worst value to the warn limit; negative means past it.
    pub warn_margin: Option<f64>,
    /// Distance from the worst value to the abort limit; negative means past it.
    pub abort_margin: Option<f64>,
}

/// The rollback section.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    /// Whether a rollback was started.
    pub needed: bool,
    /// Started by flightdeck on a breach.
    pub automatic: bool,
    /// Who started it.
    pub by: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// The breach that triggered an automatic rollback, explained.
    pub trigger: Option<String>,
    /// When it started.
    pub started_at: Option<Time>,
    /// When it finished.
    pub finished_at: Option<Time>,
    /// How long it took.
    pub duration_ms: Option<u64>,
    /// Its steps in order, with their outcome.
    pub steps: Vec<RollbackStepReport>,
}

/// One step of the rollback procedure.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackStepReport {
    /// Step id.
    pub id: String,
    /// Action run.
    pub action: String,
    /// Step status word.
    pub status: String,
    /// The last run's outcome.
    pub outcome: Option<String>,
    /// The last run's duration.
    pub duration_ms: Option<u64>,
}

/// The audit block.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    /// Git commit.
    pub sha: Option<String>,
    /// Container image.
    pub image: Option<String>,
    /// Where the plan was read from when the release started.
    pub plan_path: String,
    /// SHA-256 of the plan text stored with the release.
    pub plan_sha256: String,
    /// Events recorded.
    pub events: u64,
    /// The hash chain.
    pub chain: ChainSummary,
    /// Every person (and flightdeck itself) who acted, in order of first appearance.
    pub actors: Vec<ActorSummary>,
    /// Bakes passed against (or without) their readings: `manual override by X: R (bake b)`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
}

/// The chain, as verified while building the report.
#[derive(Debug, Clone, Serialize)]
pub struct ChainSummary {
    /// `intact` or `tampered`.
    pub status: String,
    /// The last event's hash: write it down to pin this record.
    pub head: Option<String>,
    /// Events written before chain support.
    pub unchained: u64,
    /// The first break, in words.
    pub problem: Option<String>,
}

/// One actor and what they did.
#[derive(Debug, Clone, Serialize)]
pub struct ActorSummary {
    /// Name (declared operator or account).
    pub name: String,
    /// `account@host`.
    pub account: String,
    /// Whether this is flightdeck deciding by itself.
    pub automatic: bool,
    /// Events recorded.
    pub events: u32,
    /// What they did, in order of first occurrence.
    pub did: Vec<String>,
}

/// Everything a report is built from.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The release row.
    pub row: &'a ReleaseRow,
    /// The id the release was recorded with (its origin id).
    pub origin_id: i64,
    /// The plan it was started with.
    pub plan: &'a Plan,
    /// The plan's text.
    pub plan_toml: &'a str,
    /// Every event, in seq order.
    pub records: &'a [EventRecord],
    /// The chain as verified.
    pub chain: &'a ChainReport,
    /// Stored probe readings, oldest first.
    pub samples: &'a [SampleRow],
}

/// Reads everything a report needs from the store.
pub async fn load(store: &Store, release_id: i64) -> Result<Report, StoreError> {
    let loaded = store.load(release_id).await?;
    let records = store.events_after(release_id, 0).await?;
    let chain = store.verify(release_id).await?;
    let anchor = store.anchor(release_id).await?;
    let samples = store.samples_since(release_id, Timestamp(i64::MIN)).await?;
    Ok(build(&Input {
        row: &loaded.row,
        origin_id: anchor.origin_id,
        plan: &loaded.plan,
        plan_toml: &loaded.plan_toml,
        records: &records,
        chain: &chain,
        samples: &samples,
    }))
}

/// Builds the report. Pure.
pub fn build(input: &Input<'_>) -> Report {
    let plan = input.plan;
    let state = State::replay(plan, input.records);
    let release = summary(input, &state);
    let previous = release.previous_version.as_deref();
    let timeline =
        input.records.iter().map(|r| timeline_row(plan, &release.version, previous, r)).collect();
    let end = state.ended_at;
    let actions = action_runs(plan, input.records);
    let smoke_tests = actions.iter().filter(|r| is_smoke(plan, r)).cloned().collect();
    Report {
        schema: REPORT_SCHEMA,
        release,
        overview: overview::build(plan, &state, input.records, input.samples),
        timeline,
        gates: gates(plan, &state),
        checklists: checklists(plan, &state),
        actions,
        smoke_tests,
        traffic: traffic(&state, end),
        metrics: metrics(plan, &state, input.records, input.samples),
        rollback: rollback(plan, &state, input.records),
        watch: production::watch(plan, &state, input.records),
        audit: audit(input, &state),
    }
}

fn name_of(actor: &Actor) -> String {
    actor.short().to_owned()
}

fn summary(input: &Input<'_>, state: &State) -> Summary {
    let info = state.info.as_ref();
    Summary {
        id: input.origin_id,
        service: info.map_or_else(|| input.row.service.clone(), |i| i.service.clone()),
        version: info.map_or_else(|| input.row.version.clone(), |i| i.version.clone()),
        previous_version: info.and_then(|i| i.previous_version.clone()),
        environment: info.map_or_else(|| input.row.environment.clone(), |i| i.environment.clone()),
        release_type: info
            .map_or_else(|| input.row.release_type.clone(), |i| i.release_type.to_string()),
        skipped_stages: info
            .and_then(|i| input.plan.release_types.get(&i.release_type))
            .map(|p| p.skip_stages.clone())
            .unwrap_or_default(),
        status: state.status.as_str().to_owned(),
        started_at: info.map(|i| Time(i.started_at)),
        started_by: info.map(|i| i.started_by.to_string()),
        ended_at: state.ended_at.map(Time),
        duration_ms: info.zip(state.ended_at).map(|(i, end)| end.millis_since(i.started_at)),
        final_weight: state.weight,
        production: production::build(input.plan, state),
        abort_reason: state.abort_reason.clone(),
        chain_head: input
            .records
            .last()
            .zip(input.chain.head.as_ref())
            .map(|(last, hash)| format!("{}:{hash}", last.seq)),
    }
}

fn is_gate(plan: &Plan, step: &str) -> bool {
    plan.step(step).is_some_and(|r| matches!(r.step.kind, StepKind::Gate { .. }))
}

fn is_bake(plan: &Plan, step: &str) -> bool {
    plan.step(step).is_some_and(|r| matches!(r.step.kind, StepKind::Bake { .. }))
}

fn timeline_row(
    plan: &Plan,
    version: &str,
    previous: Option<&str>,
    r: &EventRecord,
) -> TimelineRow {
    let (event, result) = match production::timeline_words(plan, version, previous, &r.event) {
        Some(words) => words,
        None => (event_sentence(plan, &r.event), event_result(plan, &r.event)),
    };
    TimelineRow {
        seq: r.seq,
        at: Time(r.at),
        kind: r.event.kind().to_owned(),
        event,
        actor: name_of(&r.actor),
        result,
    }
}

/// The engine's sentence for an event, but a breach seen while a completed release was
/// watched says so rather than naming its pseudo step.
fn event_sentence(plan: &Plan, event: &Event) -> String {
    match event {
        Event::ThresholdBreached { step, breach } if step == crate::plan::AFTER_RELEASE_STEP => {
            let level = if breach.level == Level::Abort { "ABORT" } else { "warn" };
            format!(
                "{level} after completion (watch): {}",
                breach.explain_in(plan.unit_of(&breach.series))
            )
        }
        _ => event.sentence_in(plan),
    }
}

fn event_result(plan: &Plan, event: &Event) -> String {
    match event {
        Event::ActionFinished { exit_code: Some(code), .. } => format!("ok (exit {code})"),
        Event::ActionFinished { .. } => "ok".into(),
        Event::ActionFailed { exit_code: Some(code), .. } => format!("failed (exit {code})"),
        Event::ActionFailed { .. } => "failed".into(),
        Event::ActionInterrupted { .. } => "interrupted".into(),
        Event::ActionResolved { succeeded: true, .. } => "succeeded (by hand)".into(),
        Event::ActionResolved { succeeded: false, .. } => "failed (by hand)".into(),
        Event::StepCompleted { step } if is_gate(plan, step) => "passed".into(),
        Event::StepCompleted { .. } => "done".into(),
        Event::StepSkipped { .. } => "skipped".into(),
        Event::GateDeclined { .. } => "no-go".into(),
        Event::ThresholdBreached { breach, .. } => match breach.level {
            Level::Warn => "warn".into(),
            Level::Abort => "abort".into(),
        },
        Event::WeightSet { weight } => format!("{weight}%"),
        Event::RollbackStarted { automatic: true, .. } => "rollback (automatic)".into(),
        Event::RollbackStarted { .. } => "rollback".into(),
        Event::RollbackFinished => "rolled back".into(),
        Event::Aborted { .. } => "aborted".into(),
        Event::Completed => "completed".into(),
        Event::Paused { .. } => "paused".into(),
        Event::GateTimedOut { on_timeout, .. } => format!("timed out ({})", on_timeout.as_str()),
        Event::StepClaimed { took_over_from: Some(from), .. } => format!("taken over from {from}"),
        _ => String::new(),
    }
}

fn gates(plan: &Plan, state: &State) -> Vec<Gate> {
    let release_type =
        state.info.as_ref().map_or(crate::plan::ReleaseType::Regular, |i| i.release_type);
    plan.flat_steps()
        .iter()
        .zip(&state.steps)
        .filter(|(r, _)| matches!(r.step.kind, StepKind::Gate { .. }))
        .map(|(r, s)| {
            let mut approvals: Vec<Approval> = s
                .approvals
                .iter()
                .map(|(name, m)| Approval { by: name.clone(), at: Time(m.at), reason: None })
                .collect();
            approvals.sort_by(|a, b| (a.at, &a.by).cmp(&(b.at, &b.by)));
            let mut no_gos: Vec<Approval> = s
                .declines
                .iter()
                .map(|(name, d)| Approval {
                    by: name.clone(),
                    at: Time(d.mark.at),
                    reason: Some(d.reason.clone()),
                })
                .collect();
            no_gos.sort_by(|a, b| (a.at, &a.by).cmp(&(b.at, &b.by)));
            Gate {
                step: r.step.id.clone(),
                name: r.step.name.clone(),
                status: s.status.as_str().to_owned(),
                approvals_needed: plan.approvals_needed(r.step, release_type),
                approvals,
                no_gos,
                finished_at: s.finished_at.map(Time),
                inputs: match &r.step.kind {
                    StepKind::Gate { inputs, .. } => inputs
                        .iter()
                        .map(|i| {
                            let given = s.inputs.get(&i.id);
                            InputValue {
                                id: i.id.clone(),
                                prompt: i.prompt.clone(),
                                value: given.map(|(v, _)| v.clone()),
                                by: given.map(|(_, m)| name_of(&m.by)),
                                at: given.map(|(_, m)| Time(m.at)),
                            }
                        })
                        .collect(),
                    _ => Vec::new(),
                },
            }
        })
        .collect()
}

fn checklists(plan: &Plan, state: &State) -> Vec<Checklist> {
    plan.flat_steps()
        .iter()
        .zip(&state.steps)
        .filter_map(|(r, s)| {
            let StepKind::Checklist { items } = &r.step.kind else { return None };
            Some(Checklist {
                step: r.step.id.clone(),
                name: r.step.name.clone(),
                status: s.status.as_str().to_owned(),
                items: items
                    .iter()
                    .map(|i| {
                        let tick = s.ticks.get(&i.id);
                        ChecklistItem {
                            id: i.id.clone(),
                            text: i.text.clone(),
                            ticked: tick.is_some(),
                            by: tick.map(|t| name_of(&t.by)),
                            at: tick.map(|t| Time(t.at)),
                        }
                    })
                    .collect(),
            })
        })
        .collect()
}

/// The last `OUTPUT_EXCERPT_LINES` lines of an output tail.
pub fn excerpt(tail: &str) -> String {
    let lines: Vec<&str> = tail.trim_end_matches('\n').lines().collect();
    let start = lines.len().saturating_sub(OUTPUT_EXCERPT_LINES);
    lines[start..].join("\n")
}

fn action_runs(plan: &Plan, records: &[EventRecord]) -> Vec<ActionRunReport> {
    let mut runs: Vec<ActionRunReport> = Vec::new();
    let find = |runs: &mut Vec<ActionRunReport>, step: &str, attempt: u32| {
        runs.iter().rposition(|r| r.step == step && r.attempt == attempt)
    };
    for r in records {
        match &r.event {
            Event::ActionStarted { step, attempt, action, phase } => {
                let name = plan.step(step).map_or_else(|| step.clone(), |s| s.step.name.clone());
                runs.push(ActionRunReport {
                    step: step.clone(),
                    name,
                    action: action.clone(),
                    phase: match phase {
                        Phase::Rollout => "rollout".into(),
                        Phase::Rollback => "rollback".into(),
                    },
                    attempt: *attempt,
                    started_by: name_of(&r.actor),
                    started_at: Time(r.at),
                    ended_at: None,
                    outcome: "running".into(),
                    duration_ms: None,
                    exit_code: None,
                    error: None,
                    output_excerpt: None,
                    resolution: None,
                });
            }
            Event::ActionFinished {
                step, attempt, exit_code, duration_ms, output_tail, ..
            } => {
                if let Some(i) = find(&mut runs, step, *attempt) {
                    let run = &mut runs[i];
                    run.outcome = "succeeded".into();
                    run.ended_at = Some(Time(r.at));
                    run.exit_code = *exit_code;
                    run.duration_ms = Some(*duration_ms);
                    run.output_excerpt = output_tail.as_deref().map(excerpt);
                }
            }
            Event::ActionFailed { step, attempt, error, exit_code, duration_ms, output_tail } => {
                if let Some(i) = find(&mut runs, step, *attempt) {
                    let run = &mut runs[i];
                    run.outcome = "failed".into();
                    run.ended_at = Some(Time(r.at));
                    run.exit_code = *exit_code;
                    run.error = Some(error.clone());
                    run.duration_ms = Some(*duration_ms);
                    run.output_excerpt = output_tail.as_deref().map(excerpt);
                }
            }
            Event::ActionInterrupted { step, attempt, reason } => {
                if let Some(i) = find(&mut runs, step, *attempt) {
                    let run = &mut runs[i];
                    run.outcome = "interrupted".into();
                    run.ended_at = Some(Time(r.at));
                    run.error = Some(reason.clone());
                }
            }
            Event::ActionResolved { step, attempt, succeeded, reason } => {
                if let Some(i) = find(&mut runs, step, *attempt) {
                    runs[i].resolution = Some(Resolution {
                        by: name_of(&r.actor),
                        at: Time(r.at),
                        succeeded: *succeeded,
                        reason: reason.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    runs
}

fn is_smoke(plan: &Plan, run: &ActionRunReport) -> bool {
    let action_name = plan.action(&run.action).map_or("", |a| a.name.as_str());
    [run.step.as_str(), run.name.as_str(), run.action.as_str(), action_name]
        .iter()
        .any(|t| t.to_ascii_lowercase().contains("smoke"))
}

fn traffic(state: &State, end: Option<Timestamp>) -> Vec<TrafficSpan> {
    let h = &state.weight_history;
    h.iter()
        .enumerate()
        .map(|(i, w)| {
            let until = h.get(i + 1).map(|n| n.at).or(end);
            TrafficSpan {
                weight: w.weight,
                from: Time(w.at),
                until: until.map(Time),
                duration_ms: until.map(|u| u.millis_since(w.at)),
                by: name_of(&w.by),
            }
        })
        .collect()
}

fn metrics(plan: &Plan, state: &State, records: &[EventRecord], samples: &[SampleRow]) -> Metrics {
    let mut baselines = Vec::new();
    let mut breaches = Vec::new();
    for r in records {
        match &r.event {
            Event::BaselineCaptured { series, value, samples, window_ms, .. } => {
                baselines.push(Baseline {
                    series: series.clone(),
                    value: *value,
                    samples: *samples,
                    window_ms: *window_ms,
                    at: Time(r.at),
                });
            }
            Event::ThresholdBreached { step, breach } => breaches.push(BreachRow {
                at: Time(r.at),
                step: step.clone(),
                series: breach.series.clone(),
                level: match breach.level {
                    Level::Warn => "warn".into(),
                    Level::Abort => "abort".into(),
                },
                value: breach.value,
                threshold: breach.threshold.clone(),
                limit: breach.limit,
                baseline: breach.baseline,
                explanation: breach.explain_in(plan.unit_of(&breach.series)),
            }),
            _ => {}
        }
    }
    Metrics { baselines, breaches, windows: windows(plan, state, samples) }
}

/// The spans readings are summarised over: before traffic moved (or the deploy started),
/// each step while it was current, after the deploy (to the release's end), the rollback,
/// and after the end.
fn windows(plan: &Plan, state: &State, samples: &[SampleRow]) -> Vec<Window> {
    if samples.is_empty() {
        return Vec::new();
    }
    let Some(info) = &state.info else { return Vec::new() };
    type Span = (String, Option<(String, &'static str)>, Timestamp, Option<Timestamp>);
    let mut spans: Vec<Span> = Vec::new();
    let traffic = plan.strategy() == crate::plan::Strategy::Traffic;
    let (deploy_from, deploy_until) = crate::release::deploy_span(plan, state);
    // Production first changed when traffic first moved, or when the deploy started.
    let first_change = if traffic {
        state.weight_history.iter().find(|w| w.weight > 0).map(|w| w.at)
    } else {
        deploy_from
    };
    let first = samples.iter().map(|s| s.at).min().unwrap_or(info.started_at);
    spans.push((
        if traffic { "before traffic moved" } else { "before the deploy" }.into(),
        None,
        first.min(info.started_at),
        Some(first_change.or(state.ended_at).unwrap_or(Timestamp(i64::MAX))),
    ));
    for (r, s) in plan.flat_steps().iter().zip(&state.steps) {
        let Some(from) = s.current_since.or(s.started_at) else { continue };
        let until =
            s.finished_at.or(state.rollback.as_ref().map(|rb| rb.started.at)).or(state.ended_at);
        let step = (r.step.id.clone(), r.step.kind.word());
        spans.push((format!("step {}", r.step.id), Some(step), from, until));
    }
    if let Some(done) = deploy_until.filter(|_| !traffic) {
        spans.push(("after the deploy".into(), None, done, production::after_change_until(state)));
    }
    if let Some(rb) = &state.rollback {
        spans.push(("rollback".into(), None, rb.started.at, rb.finished_at));
    }
    if let Some(end) = state.ended_at {
        spans.push(("after the release".into(), None, end, None));
    }
    spans
        .into_iter()
        .filter_map(|(label, step, from, until)| {
            let inside: Vec<&SampleRow> =
                samples.iter().filter(|s| s.at >= from && until.is_none_or(|u| s.at < u)).collect();
            if inside.is_empty() {
                return None;
            }
            let until = until.filter(|u| u.0 != i64::MAX);
            Some(Window {
                label,
                step_kind: step.as_ref().map(|(_, kind)| (*kind).to_owned()),
                step: step.map(|(id, _)| id),
                from: Time(from),
                until: until.map(Time),
                series: series_stats(plan, state, &inside),
            })
        })
        .collect()
}

fn series_stats(plan: &Plan, state: &State, rows: &[&SampleRow]) -> Vec<SeriesStats> {
    let mut by_series: BTreeMap<&str, Vec<&SampleRow>> = BTreeMap::new();
    for r in rows {
        by_series.entry(r.series.as_str()).or_default().push(r);
    }
    by_series
        .into_iter()
        .map(|(series, rows)| {
            let values: Vec<f64> =
                rows.iter().filter_map(|r| r.value).filter(|v| v.is_finite()).collect();
            let n = values.len();
            let min = values.iter().copied().reduce(f64::min);
            let max = values.iter().copied().reduce(f64::max);
            let mean = (n > 0).then(|| values.iter().sum::<f64>() / n as f64);
            let last = values.last().copied();
            let metric = plan.metrics.iter().find(|m| m.id == series);
            let baseline = state.baselines.get(series).copied();
            // The closest any threshold of the level came to breaching.
            let margin = |level: Option<&Thresholds>| {
                level?
                    .iter()
                    .filter_map(|t| {
                        let limit = t.limit(baseline)?;
                        match t.comparison {
                            Comparison::Above => max.map(|m| limit - m),
                            Comparison::Below => min.map(|m| m - limit),
                        }
                    })
                    .reduce(f64::min)
            };
            let kind = match rows.first().map(|r| r.kind) {
                Some(SampleKind::Health) => "health",
                _ => "metric",
            };
            SeriesStats {
                series: series.to_owned(),
                kind: kind.into(),
                samples: u32::try_from(n).unwrap_or(u32::MAX),
                gaps: u32::try_from(rows.len() - n).unwrap_or(u32::MAX),
                min,
                max,
                mean,
                last,
                baseline,
                vs_baseline_pct: mean
                    .zip(baseline)
                    .filter(|(_, b)| *b != 0.0)
                    .map(|(m, b)| (m - b) / b * 100.0),
                warn: metric.and_then(|m| m.warn.as_ref()).map(ToString::to_string),
                abort: metric.and_then(|m| m.abort.as_ref()).map(ToString::to_string),
                warn_margin: margin(metric.and_then(|m| m.warn.as_ref())),
                abort_margin: margin(metric.and_then(|m| m.abort.as_ref())),
            }
        })
        .collect()
}

/// A number with at most 4 decimals and no trailing zeros: `0.0123`, `182`, `-3.5`.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let text = format!("{v:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".into() } else { text.to_owned() }
}

fn rollback(plan: &Plan, state: &State, records: &[EventRecord]) -> RollbackReport {
    let Some(rb) = &state.rollback else {
        return RollbackReport {
            needed: false,
            automatic: false,
            by: None,
            reason: None,
            trigger: None,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            steps: Vec::new(),
        };
    };
    // The breach recorded just before an automatic rollback, in the same decision.
    let started_seq =
        records.iter().find(|r| matches!(r.event, Event::RollbackStarted { .. })).map(|r| r.seq);
    let trigger = started_seq.and_then(|seq| {
        records.iter().rev().find_map(|r| match &r.event {
            Event::ThresholdBreached { breach, .. } if r.seq < seq && rb.automatic => {
                Some(breach.explain_in(plan.unit_of(&breach.series)))
            }
            _ => None,
        })
    });
    let steps = rb
        .plan
        .iter()
        .zip(&rb.steps)
        .map(|(p, s)| {
            let last = s.last_run();
            let (outcome, duration_ms) = match last.and_then(|r| r.outcome.as_ref()) {
                None if last.is_some() => (Some("running".to_owned()), None),
                None => (None, None),
                Some(crate::release::RunOutcome::Succeeded { duration_ms, .. }) => {
                    (Some("succeeded".to_owned()), Some(*duration_ms))
                }
                Some(crate::release::RunOutcome::Failed { .. }) => {
                    (Some("failed".to_owned()), None)
                }
                Some(crate::release::RunOutcome::Interrupted { .. }) => {
                    (Some("interrupted".to_owned()), None)
                }
            };
            RollbackStepReport {
                id: p.id.clone(),
                action: p.action.clone(),
                status: s.status.as_str().to_owned(),
                outcome,
                duration_ms,
            }
        })
        .collect();
    RollbackReport {
        needed: true,
        automatic: rb.automatic,
        by: Some(rb.started.by.to_string()),
        reason: Some(rb.reason.clone()),
        trigger,
        started_at: Some(Time(rb.started.at)),
        finished_at: rb.finished_at.map(Time),
        duration_ms: rb.finished_at.map(|f| f.millis_since(rb.started.at)),
        steps,
    }
}

fn audit(input: &Input<'_>, state: &State) -> Audit {
    let info = state.info.as_ref();
    let digest = Sha256::digest(input.plan_toml.as_bytes());
    let plan_sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut actors: Vec<ActorSummary> = Vec::new();
    for r in input.records {
        let account = format!("{}@{}", r.actor.account, r.actor.host);
        let i = match actors.iter().position(|a| {
            a.name == r.actor.name && a.account == account && a.automatic == r.actor.automatic
        }) {
            Some(i) => i,
            None => {
                actors.push(ActorSummary {
                    name: r.actor.name.clone(),
                    account,
                    automatic: r.actor.automatic,
                    events: 0,
                    did: Vec::new(),
                });
                actors.len() - 1
            }
        };
        let a = &mut actors[i];
        a.events += 1;
        if let Some(what) = deed(input.plan, &r.event) {
            if !a.did.contains(&what) {
                a.did.push(what);
            }
        }
    }
    let overrides = input
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::BakeOverridden { step, reason, unmet } => Some(format!(
                "manual override by {}: {reason} (bake {step}, at {}; readings: {})",
                r.actor.short(),
                crate::release::format_date_time(r.at),
                if unmet.is_empty() { "none".to_owned() } else { unmet.join("; ") }
            )),
            _ => None,
        })
        .collect();
    let chain = input.chain;
    Audit {
        overrides,
        sha: info.and_then(|i| i.sha.clone()),
        image: info.and_then(|i| i.image.clone()),
        plan_path: input.row.plan_path.clone(),
        plan_sha256,
        events: u64::try_from(input.records.len()).unwrap_or(u64::MAX),
        chain: ChainSummary {
            status: if chain.intact() { "intact".into() } else { "tampered".into() },
            head: chain.head.clone(),
            unchained: chain.unchained,
            problem: chain
                .problem
                .as_ref()
                .map(|p| format!("event {} {}: {}", p.seq, p.tamper.as_str(), p.detail)),
        },
        actors,
    }
}

/// What an event says its actor did, for the "who did what" list.
fn deed(plan: &Plan, event: &Event) -> Option<String> {
    Some(match event {
        Event::ReleaseStarted { .. } => "started the release".into(),
        Event::ItemTicked { step, .. } => format!("ticked {step}"),
        Event::ItemUnticked { step, .. } => format!("unticked {step}"),
        Event::ApprovalGiven { step, .. } => format!("approved {step}"),
        Event::ApprovalRevoked { step } => format!("revoked approval of {step}"),
        Event::GateDeclined { step, .. } => format!("no-go at {step}"),
        Event::DeclineWithdrawn { step } => format!("withdrew no-go at {step}"),
        // Finishing a bake is a decision; other steps end with their work or their approvals.
        Event::StepCompleted { step } if is_bake(plan, step) => format!("ended {step}"),
        Event::StepCompleted { .. } => return None,
        Event::StepSkipped { step, .. } => format!("skipped {step}"),
        Event::BakeStarted { step } => format!("started {step}"),
        Event::CheckpointConfirmed { step, .. } => format!("confirmed a review of {step}"),
        Event::ActionStarted { step, .. } => format!("ran {step}"),
        Event::ActionResolved { step, .. } => format!("resolved {step}"),
        Event::ActionInterrupted { step, .. } => format!("marked {step} interrupted"),
        Event::Paused { .. } => "paused".into(),
        Event::Resumed => "resumed".into(),
        Event::RollbackStarted { automatic: true, .. } => "rolled back automatically".into(),
        Event::RollbackStarted { .. } => "rolled back".into(),
        Event::Aborted { .. } => "aborted".into(),
        Event::NoteAdded { .. } => "added notes".into(),
        Event::ThresholdBreached { .. } => "recorded breaches".into(),
        Event::BaselineCaptured { .. } => "captured baselines".into(),
        Event::BakeOverridden { step, .. } => format!("passed {step} by manual override"),
        Event::StepClaimed { step, took_over_from: Some(_), .. } => format!("took over {step}"),
        Event::StepClaimed { step, .. } => format!("claimed {step}"),
        Event::ClaimReleased { step } => format!("released {step}"),
        Event::TrafficDrift { .. } => "recorded traffic drift".into(),
        Event::RolloutProgress { .. } => "recorded rollout progress".into(),
        Event::WatchClosed { .. } => "closed the watch after release".into(),
        Event::GateTimedOut { step, .. } => format!("timed out {step}"),
        Event::GateInputGiven { input, step, .. } => format!("gave {input} at {step}"),
        Event::WindowsOverridden { .. } => "overrode the release windows".into(),
        Event::ActionFinished { .. }
        | Event::ActionFailed { .. }
        | Event::WeightSet { .. }
        | Event::RollbackFinished
        | Event::Completed => return None,
    })
}
