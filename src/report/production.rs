//! What the release did to production, in its strategy's words, for the report: a traffic
//! weight, a rollout's progress (`Rolled out 3/3 pods to 1.0.0 at ...`) or a swap, read from
//! `release::deployment`; the span in which production changed (the deploy steps), which
//! the before → after comparison is taken around; and the watch after completion. Pure.

use serde::Serialize;

use super::Time;
use crate::plan::{AFTER_RELEASE_STEP, OnBreach, Plan, StepKind, Strategy, format_duration};
use crate::release::{
    Deployment, Event, EventRecord, Level, State, Timestamp, deploy_span, deployment,
    format_date_time,
};

/// Where production stands at the end of the record.
#[derive(Debug, Clone, Serialize)]
pub struct Production {
    /// `traffic`, `rolling` or `swap`: the plan's `[deploy] strategy`.
    pub strategy: String,
    /// In words: `10% on 1.4.0`, `Rolled out 3/3 pods to 1.0.0 at 2026-11-22 10:19:00 UTC`,
    /// `Swapped to 1.4.0 at ...`, with the rollback when there was one.
    pub text: String,
    /// The share of production on the new version, 0 to 1, as last known.
    pub fraction: f64,
    /// Instances on the new version, when the progress source counts them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<u32>,
    /// Instances wanted, when the progress source counts them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<u32>,
    /// What a rollout counts (`pods`), for rolling releases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// When the first deploy step started: production began to change (rolling and swap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_started_at: Option<Time>,
    /// When the last deploy step finished: the rollout or the swap was complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_finished_at: Option<Time>,
}

impl Production {
    /// Whether production changed by traffic weight (the before → after columns are weights).
    pub fn is_traffic(&self) -> bool {
        self.strategy == Strategy::Traffic.word()
    }
}

fn at(t: Timestamp) -> String {
    format!("{} UTC", format_date_time(t))
}

/// When the rollback ended, or since when it runs, for a sentence.
fn rolled_back_words(state: &State) -> String {
    match &state.rollback {
        Some(rb) => match rb.finished_at {
            Some(done) => format!("rolled back at {}", at(done)),
            None => format!("rolling back since {}", at(rb.started.at)),
        },
        None => String::new(),
    }
}

/// Where "after the change" ends: the release's completion (readings while it is watched
/// after are not the release's), else the rollback's start (the old version comes back), else
/// its end; `None` while it runs.
pub fn after_change_until(state: &State) -> Option<Timestamp> {
    if let Some(completed) = state.completed_at {
        return Some(completed);
    }
    let rollback = state.rollback.as_ref().map(|rb| rb.started.at);
    match (rollback, state.ended_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Where production stands, from the strategy's own description of it.
pub fn build(plan: &Plan, state: &State) -> Production {
    let strategy = plan.strategy().word().to_owned();
    let (started, finished) = deploy_span(plan, state);
    let version = state.info.as_ref().map_or("", |i| i.version.as_str());
    let rolled_back = rolled_back_words(state);
    let d = deployment(plan, state);
    let fraction = d.fraction();
    let (text, updated, desired, unit) = match &d {
        Deployment::Traffic { weight } => (format!("{weight}% on {version}"), None, None, None),
        Deployment::Rolling { version, unit, fraction, counts, running, finished_at, .. } => {
            let amount = match counts {
                Some((n, m)) => format!("{n}/{m} {unit}"),
                None => format!("{}% of {unit}", (fraction * 100.0).round()),
            };
            let text = match (state.rollback.is_some(), finished_at, running) {
                (true, Some(done), _) => {
                    format!("Rolled out {amount} to {version} at {}, {rolled_back}", at(*done))
                }
                (true, None, _) if counts.is_none_or(|(n, _)| n == 0) && *fraction <= 0.0 => {
                    format!("{} before any of the {unit} ran {version}", capitalised(&rolled_back))
                }
                (true, None, _) => {
                    format!("{} after {amount} reached {version}", capitalised(&rolled_back))
                }
                (false, Some(done), _) => {
                    format!("Rolled out {amount} to {version} at {}", at(*done))
                }
                (false, None, true) => format!("Rolling out: {amount} on {version}"),
                (false, None, false) if *fraction > 0.0 => {
                    format!("Rollout held at {amount} on {version}")
                }
                (false, None, false) => format!("Not rolled out: no {unit} on {version}"),
            };
            let (updated, desired) = counts.map_or((None, None), |(n, m)| (Some(n), Some(m)));
            (text, updated, desired, Some(unit.clone()))
        }
        Deployment::Swap { version, swapping_since, swapped_at, .. } => {
            let text = match (state.rollback.is_some(), swapped_at, swapping_since) {
                (true, Some(done), _) => {
                    format!("Swapped to {version} at {}, {rolled_back}", at(*done))
                }
                (true, None, _) => {
                    format!("{} before the swap to {version} finished", capitalised(&rolled_back))
                }
                (false, Some(done), _) => format!("Swapped to {version} at {}", at(*done)),
                (false, None, Some(since)) => format!("Swapping to {version} since {}", at(*since)),
                (false, None, None) => format!("Not swapped to {version}"),
            };
            (text, None, None, None)
        }
    };
    let traffic = matches!(d, Deployment::Traffic { .. });
    Production {
        strategy,
        text,
        fraction,
        updated,
        desired,
        unit,
        change_started_at: started.filter(|_| !traffic).map(Time),
        change_finished_at: finished.filter(|_| !traffic).map(Time),
    }
}

/// The first letter in upper case.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// The watch after completion (`[watch] after_release`), as the record tells it.
#[derive(Debug, Clone, Serialize)]
pub struct WatchReport {
    /// The plan's window.
    pub after_release_ms: u64,
    /// When the release completed: the watch started.
    pub from: Option<Time>,
    /// When the window ends (completion + the window).
    pub until: Option<Time>,
    /// When it was closed on record (`watch_closed`).
    pub closed_at: Option<Time>,
    /// The first abort-level breach after completion, explained.
    pub breach: Option<String>,
    /// When it was recorded.
    pub breach_at: Option<Time>,
    /// Warn-level breaches after completion.
    pub warnings: u32,
    /// When the completed release was rolled back (by a breach or a person).
    pub rolled_back_at: Option<Time>,
    /// The whole story in one line.
    pub text: String,
}

/// The watch after completion, when the plan has one.
pub fn watch(plan: &Plan, state: &State, records: &[EventRecord]) -> Option<WatchReport> {
    let w = plan.watch.as_ref()?;
    let window_ms = u64::try_from(w.after_release.as_millis()).unwrap_or(u64::MAX);
    let window = format_duration(w.after_release);
    let completed = state.completed_at;
    let after = |r: &&EventRecord| completed.is_some_and(|c| r.at >= c);
    let mut breach = None;
    let mut warnings = 0;
    for r in records.iter().filter(after) {
        if let Event::ThresholdBreached { step, breach: b } = &r.event {
            if step != AFTER_RELEASE_STEP {
                continue;
            }
            match b.level {
                Level::Abort if breach.is_none() => {
                    breach = Some((r.at, b.explain_in(plan.unit_of(&b.series))));
                }
                Level::Abort => {}
                Level::Warn => warnings += 1,
            }
        }
    }
    let rollback = records.iter().filter(after).find_map(|r| match &r.event {
        Event::RollbackStarted { automatic, .. } => Some((r.at, *automatic, r.actor.short())),
        _ => None,
    });
    let paused = breach.as_ref().and_then(|(b, _)| {
        records.iter().find_map(|r| match r.event {
            Event::Paused { .. } if r.at >= *b => Some(r.at),
            _ => None,
        })
    });
    let warned = match warnings {
        0 => String::new(),
        1 => " (1 warning)".to_owned(),
        n => format!(" ({n} warnings)"),
    };
    let text = match (completed, &breach, rollback) {
        (None, _, _) => "not started: the release did not complete".to_owned(),
        (Some(_), Some((b, why)), Some((rb, true, _))) => {
            format!("breach after completion at {}: {why} → rolled back at {}", at(*b), at(rb))
        }
        (Some(_), Some((b, why)), _) if paused.is_some() || w.on_breach == OnBreach::Pause => {
            let then = paused.map_or_else(String::new, |p| format!(" → paused at {}", at(p)));
            format!("breach after completion at {}: {why}{then}", at(*b))
        }
        (Some(_), _, Some((rb, _, who))) => {
            format!("rolled back by {who} at {}, within the {window} watch", at(rb))
        }
        (Some(_), Some((b, why)), None) => format!("breach after completion at {}: {why}", at(*b)),
        (Some(_), None, None) => match state.watch_closed {
            Some(closed) => {
                format!(
                    "watched {window} after completion: no breach{warned}; closed at {}",
                    at(closed)
                )
            }
            None => format!(
                "watching {window} after completion, until {}: no breach so far{warned}",
                at(completed.map_or(Timestamp(0), |c| c.plus_millis(window_ms)))
            ),
        },
    };
    Some(WatchReport {
        after_release_ms: window_ms,
        from: completed.map(Time),
        until: completed.map(|c| Time(c.plus_millis(window_ms))),
        closed_at: state.watch_closed.map(Time),
        breach_at: breach.as_ref().map(|(b, _)| Time(*b)),
        breach: breach.map(|(_, why)| why),
        warnings,
        rolled_back_at: rollback.map(|(rb, _, _)| Time(rb)),
        text,
    })
}

/// A paced deploy's bake (`ID-33-bake` after deploy segment `ID-33`): the target it holds at.
pub fn paced_bake_target(plan: &Plan, step: &str) -> Option<u8> {
    let steps = plan.flat_steps();
    let i = steps.iter().position(|r| r.step.id == step)?;
    let before = steps.get(i.checked_sub(1)?)?;
    match (&steps[i].step.kind, &before.step.kind) {
        (StepKind::Bake { .. }, StepKind::Deploy { target, .. })
            if step == format!("{}-bake", before.step.id) =>
        {
            Some(*target)
        }
        _ => None,
    }
}

/// A deploy step's target percent, for steps of kind `deploy`.
pub fn deploy_target(plan: &Plan, step: &str) -> Option<u8> {
    match plan.step(step)?.step.kind {
        StepKind::Deploy { target, .. } => Some(target),
        _ => None,
    }
}

/// What a rollout counts (`pods`), from the deploy steps' progress source.
pub fn rollout_unit(plan: &Plan) -> String {
    plan.deploy_steps()
        .iter()
        .find_map(|r| match &r.step.kind {
            StepKind::Deploy { progress: Some(p), .. } => Some(p.unit.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "pods".into())
}

/// How a rollout's own events read in the timeline (event text, result), in the runbook's
/// words: a row per progress reading (`deploy-33: 1/3 pods on 1.0.0`), paced bakes as health
/// watches, what each finished deploy step did to production, and the end of a rollback
/// without a traffic weight. `None` for other events.
pub fn timeline_words(
    plan: &Plan,
    version: &str,
    previous: Option<&str>,
    event: &Event,
) -> Option<(String, String)> {
    let strategy = plan.strategy();
    if strategy == Strategy::Traffic {
        return None;
    }
    Some(match event {
        Event::RolloutProgress { step, fraction, updated, desired } => {
            let unit = rollout_unit(plan);
            let percent = format!("{}%", (fraction * 100.0).round());
            let amount = match (updated, desired) {
                (Some(n), Some(m)) => format!("{n}/{m} {unit}"),
                _ => format!("{percent} of {unit}"),
            };
            (format!("{step}: {amount} on {version}"), percent)
        }
        Event::BakeStarted { step } => {
            let n = paced_bake_target(plan, step)?;
            (format!("{step}: health watch at {n}% started"), String::new())
        }
        Event::StepCompleted { step } => {
            let n = paced_bake_target(plan, step)?;
            (format!("{step}: health watch at {n}% passed"), "passed".into())
        }
        Event::ActionFinished { step, exit_code, .. } => {
            let target = deploy_target(plan, step)?;
            let did = match (strategy, target) {
                (Strategy::Swap, _) => format!("swapped to {version}"),
                (_, 100) => format!("all {} on {version}", rollout_unit(plan)),
                (_, n) => format!("rolled out to {n}% on {version}"),
            };
            let result =
                exit_code.map_or_else(|| "ok".to_owned(), |code| format!("ok (exit {code})"));
            (format!("{}: {did}", event.sentence()), result)
        }
        // No traffic moved back: the previous deploy is what runs again.
        Event::RollbackFinished => {
            let back = previous.map_or_else(|| "the previous version".to_owned(), str::to_owned);
            (format!("rollback finished; {back} is back in production"), "rolled back".into())
        }
        _ => return None,
    })
}
