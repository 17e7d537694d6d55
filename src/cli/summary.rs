//! Plain-text renderings for the terminal: a plan summary for `check`, a release status for
//! `status`, an event line for `events`.

use std::fmt::Write;

use crate::plan::{ActionKind, OnBreach, Plan, StepKind, Strategy, format_duration};
use crate::release::{
    EventRecord, State, Status, StepStatus, WatchState, format_date_time, format_elapsed,
    format_hour_minute,
};
use crate::store::ReleaseRow;

/// `s` unless there is exactly one: `1 approval`, `2 approvals`.
fn plural<N: TryInto<u64>>(n: N) -> &'static str {
    if n.try_into().ok() == Some(1) { "" } else { "s" }
}

/// One screen describing a valid plan.
pub fn plan_summary(plan: &Plan, file: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{file}: ok");
    let _ = writeln!(out, "service      {} → {}", plan.service.name, plan.service.environment);
    let types: Vec<String> = plan
        .release_types
        .iter()
        .map(|(t, p)| {
            let approvals = format!("{} approval{}", p.approvals, plural(p.approvals));
            if p.skip_stages.is_empty() {
                format!("{t} ({approvals})")
            } else {
                format!("{t} ({approvals}, skips {})", p.skip_stages.join(", "))
            }
        })
        .collect();
    let _ = writeln!(out, "release types {}", types.join("; "));
    let _ = writeln!(
        out,
        "policy       self-approval {}; declared operators {}",
        if plan.policy.forbid_self_approval { "forbidden" } else { "allowed" },
        if plan.policy.declared_operators { "allowed" } else { "off (OS accounts only)" }
    );
    let _ = match &plan.claims {
        Some(c) => writeln!(
            out,
            "claims       on: a claim lasts {} unless renewed; taking one over needs a reason",
            format_duration(c.ttl)
        ),
        None => writeln!(out, "claims       off (add [claims] to let people claim a step)"),
    };
    let health: Vec<&str> = plan.health.iter().map(|h| h.id.as_str()).collect();
    let metrics: Vec<&str> = plan.metrics.iter().map(|m| m.id.as_str()).collect();
    let _ = writeln!(out, "probes       health: {}; metrics: {}", list(&health), list(&metrics));
    match &plan.traffic {
        Some(t) if t.provider.is_some() => {
            let provider = t.provider.as_ref().map(crate::provider::connect);
            let _ = writeln!(
                out,
                "traffic      {} → {} set and read back by {}",
                t.stable_label,
                t.canary_label,
                provider.map_or_else(String::new, |p| p.describe())
            );
        }
        Some(t) => {
            let read =
                t.read_action.as_deref().map_or(String::new(), |r| format!(", read back by {r}"));
            let _ = writeln!(
                out,
                "traffic      {} → {} set by {}{read}",
                t.stable_label, t.canary_label, t.set_action
            );
        }
        None if plan.strategy() == crate::plan::Strategy::Traffic => {
            let _ = writeln!(out, "traffic      none");
        }
        None => {
            let _ = writeln!(out, "deploy       {}", deploy_summary(plan));
        }
    }
    if let Some(w) = &plan.watch {
        let _ = writeln!(
            out,
            "watch        {} after completion, watching {} (on breach: {})",
            format_duration(w.after_release),
            list(&w.probes.iter().map(String::as_str).collect::<Vec<_>>()),
            match w.on_breach {
                crate::plan::OnBreach::Rollback => "rollback",
                crate::plan::OnBreach::Pause => "pause",
            }
        );
    }
    let rollback: Vec<String> = plan
        .rollback
        .steps
        .iter()
        .map(|s| {
            if s.if_done.is_empty() {
                s.action.clone()
            } else {
                format!("{} (if {} done)", s.action, s.if_done.join(", "))
            }
        })
        .collect();
    let first = if plan.strategy() == crate::plan::Strategy::Traffic {
        "traffic to 0 then "
    } else {
        "runs "
    };
    let _ = writeln!(
        out,
        "rollback     {first}{} (on failure: {})",
        list(&rollback.iter().map(String::as_str).collect::<Vec<_>>()),
        match plan.rollback.on_failure {
            crate::plan::OnFailure::Halt => "halt",
            crate::plan::OnFailure::Continue => "continue",
        }
    );
    let _ = writeln!(out, "stages");
    for stage in &plan.stages {
        let _ = writeln!(out, "  {} [{}]", stage.name, stage.environment);
        for step in &stage.steps {
            let detail = match &step.kind {
                StepKind::Checklist { items } => format!("{} items", items.len()),
                StepKind::Gate { approvals, min_wait, requires, deadline, inputs } => {
                    let n = approvals.map_or_else(|| "per release type".into(), |n| n.to_string());
                    let mut text = format!("approvals: {n}");
                    if !requires.is_empty() {
                        let roles: Vec<String> =
                            requires.iter().map(|(role, n)| format!("{n} {role}")).collect();
                        text.push_str(&format!(", roles: {}", roles.join(" + ")));
                    }
                    if !min_wait.is_zero() {
                        text.push_str(&format!(", open at least {}", format_duration(*min_wait)));
                    }
                    if let Some(d) = deadline {
                        text.push_str(&format!(
                            ", times out after {} ({})",
                            format_duration(d.timeout),
                            d.on_timeout.as_str()
                        ));
                    }
                    if !inputs.is_empty() {
                        let ids: Vec<&str> = inputs.iter().map(|i| i.id.as_str()).collect();
                        text.push_str(&format!(", inputs: {}", ids.join(", ")));
                    }
                    text
                }
                StepKind::Action { action, .. } | StepKind::Deploy { action, .. } => match plan
                    .action(action)
                    .map(|a| &a.kind)
                {
                    Some(ActionKind::Command { argv, .. }) => format!("runs {}", argv.join(" ")),
                    Some(ActionKind::Http { method, url, .. }) => format!("{method} {url}"),
                    None => action.clone(),
                },
                StepKind::Traffic { weight } => format!("{weight}% to the new version"),
                StepKind::Bake { duration, probes, on_breach, .. } => format!(
                    "{} watching {} (on breach: {on_breach:?})",
                    format_duration(*duration),
                    probes.join(", ")
                ),
            };
            let detail = if step.environment == stage.environment {
                detail
            } else {
                format!("[{}] {detail}", step.environment)
            };
            let _ = writeln!(out, "    {:<10} {:<24} {detail}", step.kind.word(), step.id);
        }
    }
    out
}

fn list(items: &[&str]) -> String {
    if items.is_empty() { "none".into() } else { items.join(", ") }
}

/// Progress of a step in words: `4/6`, `1/2 (alice)`, `attempt 2`.
pub fn step_progress(plan: &Plan, state: &State, index: usize) -> String {
    let (Some(r), Some(s)) = (plan.flat_steps().get(index).copied(), state.steps.get(index)) else {
        return String::new();
    };
    match &r.step.kind {
        StepKind::Checklist { items } => format!("{}/{}", s.ticks.len(), items.len()),
        StepKind::Gate { .. } => {
            let needed = plan.approvals_needed(
                r.step,
                state.info.as_ref().map_or(crate::plan::ReleaseType::Regular, |i| i.release_type),
            );
            let who: Vec<&str> = s.approvals.keys().map(String::as_str).collect();
            let mut text = format!("{}/{needed}", s.approvals.len());
            if !who.is_empty() {
                text.push_str(&format!(" ({})", who.join(", ")));
            }
            if let Some((name, d)) = s.declines.iter().next() {
                text.push_str(&format!(" NO-GO by {name}: {}", d.reason));
            }
            text
        }
        StepKind::Traffic { weight } => format!("{weight}%"),
        StepKind::Deploy { target, progress, .. } => {
            let read = state.rollout.as_ref().filter(|p| p.step == r.step.id);
            deploy_progress(*target, progress.as_ref(), read, s.runs.len())
        }
        _ if s.runs.len() > 1 => format!("attempt {}", s.runs.len()),
        _ => String::new(),
    }
}

/// A deploy step's progress: the counts last read while it ran (`2/3 pods`), else the
/// share it rolls out to when it is a segment of a paced rollout (`to 33%`), and the attempt.
fn deploy_progress(
    target: u8,
    progress: Option<&crate::plan::Progress>,
    read: Option<&crate::release::Rollout>,
    attempts: usize,
) -> String {
    let mut parts = Vec::new();
    match (read, progress) {
        (Some(r), Some(p)) => parts.push(match r.updated.zip(r.desired) {
            Some((n, m)) => format!("{n}/{m} {}", p.unit),
            None => format!("{}% of {}", (r.fraction * 100.0).round(), p.unit),
        }),
        _ if target < 100 => parts.push(format!("to {target}%")),
        _ => {}
    }
    if attempts > 1 {
        parts.push(format!("attempt {attempts}"));
    }
    parts.join("  ")
}

/// `flightdeck status` as text.
pub fn status_text(
    plan: &Plan,
    state: &State,
    row: &ReleaseRow,
    now: crate::release::Timestamp,
) -> String {
    let mut out = String::new();
    let Some(info) = &state.info else { return "release not started\n".into() };
    let elapsed = state.ended_at.unwrap_or(now).millis_since(info.started_at);
    let _ = writeln!(
        out,
        "release {}  {} {} → {}  [{}]  {}  T+{}",
        row.id,
        info.service,
        info.version,
        info.environment.to_uppercase(),
        info.release_type,
        state.status.as_str().replace('_', " ").to_uppercase(),
        format_elapsed(elapsed)
    );
    let _ = writeln!(
        out,
        "started {} UTC by {}{}{}",
        format_date_time(info.started_at),
        info.started_by,
        info.sha.as_ref().map_or(String::new(), |s| format!("  sha {s}")),
        info.image.as_ref().map_or(String::new(), |s| format!("  image {s}"))
    );
    if let Some(p) =
        plan.release_types.get(&info.release_type).filter(|p| !p.skip_stages.is_empty())
    {
        let _ = writeln!(
            out,
            "{} releases skip stages {} (decided at start)",
            info.release_type,
            p.skip_stages.join(", ")
        );
    }
    match plan.strategy() {
        Strategy::Traffic => {
            let _ = writeln!(
                out,
                "traffic {}% on {}   event seq {}",
                state.weight, info.version, state.seq
            );
        }
        // A rolling deploy or a swap moves no traffic: say what it did to production.
        Strategy::Rolling | Strategy::Swap => {
            let line = crate::release::deployment(plan, state).line();
            let _ = writeln!(out, "{line}   event seq {}", state.seq);
        }
    }
    if let Some(line) = watch_line(plan, state, now) {
        let _ = writeln!(out, "{line}");
    }
    if let Some(d) = &state.drift {
        let _ = writeln!(
            out,
            "TRAFFIC DRIFT: {} reads {}% where the record says {}%",
            d.source, d.actual, d.desired
        );
    }
    if let Some(p) = &state.pause {
        let _ = writeln!(out, "PAUSED by {}: {}", p.mark.by.short(), p.reason);
    }
    for (i, r) in plan.flat_steps().iter().enumerate() {
        let s = &state.steps[i];
        let cursor = if i == state.cursor && !state.status.is_terminal() { ">" } else { " " };
        let claim = match &s.claim {
            Some(c) if c.is_live(now) => format!(
                "  claimed by {} until {} UTC ({} left){}",
                c.by.short(),
                format_hour_minute(c.until),
                format_duration(std::time::Duration::from_millis(c.until.millis_since(now))),
                c.reason.as_ref().map_or(String::new(), |r| format!(": {r}"))
            ),
            Some(c) => {
                format!(
                    "  ({}'s claim lapsed at {} UTC)",
                    c.by.short(),
                    format_hour_minute(c.until)
                )
            }
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "{cursor} {} {:<12} {:<24} {:<10} {}{claim}",
            s.status.mark(),
            r.stage.id,
            r.step.id,
            s.status.as_str(),
            step_progress(plan, state, i)
        );
    }
    if let Some(rb) = &state.rollback {
        let _ = writeln!(
            out,
            "rollback{} by {}: {}",
            if rb.automatic { " (automatic)" } else { "" },
            rb.started.by.short(),
            rb.reason
        );
        for s in &rb.steps {
            let _ = writeln!(out, "  {} {:<30} {}", s.status.mark(), s.id, s.status.as_str());
        }
    }
    match state.status {
        Status::Completed | Status::RolledBack | Status::Aborted => {}
        _ => {
            if let Some(cur) = state.current() {
                if matches!(cur.status, StepStatus::Failed | StepStatus::Interrupted) {
                    let _ =
                        writeln!(out, "needs a decision: `{}` is {}", cur.id, cur.status.as_str());
                }
            }
        }
    }
    out
}

/// The watch after completion in words, while it runs or once it is over.
fn watch_line(plan: &Plan, state: &State, now: crate::release::Timestamp) -> Option<String> {
    let on_breach = plan.watch.as_ref().map(|w| w.on_breach)?;
    match crate::release::watch_state(plan, state, now) {
        WatchState::None => None,
        WatchState::Watching { left } => {
            let ends = now.plus_millis(u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
            let act = match on_breach {
                OnBreach::Rollback => "rolls it back",
                OnBreach::Pause => "pauses it",
            };
            Some(format!(
                "watching after release: {} left (until {} UTC); an after_release abort breach {act}, and `flightdeck rollback` is allowed until then",
                format_duration(left),
                format_hour_minute(ends)
            ))
        }
        WatchState::Ended { at } => Some(format!(
            "the watch after release ended at {} UTC{}",
            format_hour_minute(at),
            if state.watch_closed.is_some() { "" } else { " (not closed on record yet)" }
        )),
    }
}

/// One line of `flightdeck events`.
pub fn event_line(record: &EventRecord) -> String {
    line_with(record, record.event.sentence())
}

/// One line of `flightdeck events`, in the plan's words (breaches in their metric's unit, a
/// rollout counted in the plan's unit, a rollback without traffic under rolling or swap).
pub fn event_line_in(record: &EventRecord, plan: &Plan) -> String {
    line_with(record, record.event.sentence_in(plan))
}

fn line_with(record: &EventRecord, sentence: String) -> String {
    format!(
        "{:>5}  {} UTC  {:<20} {sentence}",
        record.seq,
        format_date_time(record.at),
        record.actor.short(),
    )
}

/// `rolling: deploy step deploy (3 segments paced at 33%, 67%), progress from pods_updated
/// every 5s`.
fn deploy_summary(plan: &Plan) -> String {
    let deploys = plan.deploy_steps();
    let mut text = format!("{}:", plan.strategy().word());
    let Some(last) = deploys.last() else { return format!("{text} no deploy step") };
    text.push_str(&format!(" deploy step {}", last.step.id));
    let paced: Vec<String> = deploys
        .iter()
        .filter_map(|r| match &r.step.kind {
            StepKind::Deploy { target, .. } if *target < 100 => Some(format!("{target}%")),
            _ => None,
        })
        .collect();
    if !paced.is_empty() {
        text.push_str(&format!(" (paced: a bake at {})", paced.join(", ")));
    }
    if let StepKind::Deploy { progress: Some(p), .. } = &last.step.kind {
        let source = match &p.source {
            crate::plan::ProgressSource::Action(a) => format!("action {a}"),
            crate::plan::ProgressSource::Metric(m) => format!("metric {m}"),
        };
        text.push_str(&format!(
            ", progress in {} from {source} every {}",
            p.unit,
            format_duration(p.every)
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_approval_is_singular() {
        let text = include_str!("../../config.example.toml");
        let plan = crate::plan::parse(text, "config.example.toml").expect("the example is valid");
        let summary = super::plan_summary(&plan, "config.example.toml");
        assert!(summary.contains("hotfix (1 approval)"), "{summary}");
        assert!(summary.contains("regular (2 approvals)"), "{summary}");
        assert!(!summary.contains("(1 approvals"), "{summary}");
    }
}
