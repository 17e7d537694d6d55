//! `[deploy]`, `[watch]` and the deploy step: the strategy, a deploy's progress source, and
//! a `pace`d deploy written once and expanded into one deploy step per fraction, each
//! followed by a bake ("health watch after each pod").

use std::collections::BTreeSet;
use std::time::Duration;

use toml::Spanned;

use super::super::raw::{RawDeploy, RawProgress, RawStep, RawWatch};
use super::super::{
    AFTER_RELEASE_STEP, DEFAULT_PROGRESS_EVERY, Deploy, MetricProbe, Progress, ProgressSource,
    Step, StepKind, Strategy, Watch,
};
use super::{Checker, Known, known_probes, on_breach};

/// What a deploy step's `pace` asks for, taken off the raw step before it is checked.
pub(super) struct Pacing {
    pace: Option<Spanned<Vec<Spanned<String>>>>,
    pace_bake: Option<Spanned<String>>,
    probes: Option<Spanned<Vec<Spanned<String>>>>,
    on_breach: Option<Spanned<String>>,
    continue_action: Option<Spanned<String>>,
}

/// Takes the pacing fields off a deploy step (they describe the bakes between its segments,
/// not the step itself).
pub(super) fn take_pacing(step: &mut RawStep) -> Pacing {
    Pacing {
        pace: step.pace.take(),
        pace_bake: step.pace_bake.take(),
        probes: step.probes.take(),
        on_breach: step.on_breach.take(),
        continue_action: step.continue_action.take(),
    }
}

/// A deploy step's `progress`: a metric or an action, how often, counting what.
pub(super) fn check_progress(
    c: &mut Checker<'_>,
    path: &str,
    raw: Option<Spanned<RawProgress>>,
    known: &Known<'_>,
    metrics: &[MetricProbe],
) -> Option<Progress> {
    let raw = raw?;
    let span = raw.span();
    let raw = raw.into_inner();
    let field = format!("{path}.progress");
    let every = c.duration(raw.every.as_ref(), &format!("{field}.every"), DEFAULT_PROGRESS_EVERY);
    if every < Duration::from_secs(1) {
        if let Some(e) = &raw.every {
            c.problem(
                e.span(),
                &format!("{field}.every"),
                "shorter than 1s".into(),
                "read progress every few seconds, e.g. every = \"5s\"",
            );
        }
    }
    let source = match (raw.metric, raw.action) {
        (Some(m), None) => {
            match metrics.iter().find(|x| x.id == *m.get_ref()) {
                None => c.problem(
                    m.span(),
                    &format!("{field}.metric"),
                    format!("refers to unknown metric `{}`", m.get_ref()),
                    "name a [[metrics]] id whose value is the updated fraction (unit \"ratio\" or \"%\")",
                ),
                Some(x) if !matches!(x.unit.as_str(), "ratio" | "%") => c.problem(
                    m.span(),
                    &format!("{field}.metric"),
                    format!("metric `{}` has unit \"{}\"; progress is a fraction", x.id, x.unit),
                    "give the metric unit = \"ratio\" (0 to 1) or \"%\" (0 to 100): updated ÷ desired",
                ),
                Some(_) => {}
            }
            ProgressSource::Metric(m.into_inner())
        }
        (None, Some(a)) => {
            if !known.actions.contains_key(a.get_ref()) {
                c.problem(
                    a.span(),
                    &format!("{field}.action"),
                    format!("refers to unknown action `{}`", a.get_ref()),
                    "name an [actions] entry whose output is `N/M` (updated of desired)",
                );
            }
            ProgressSource::Action(a.into_inner())
        }
        _ => {
            c.problem(
                span,
                &field,
                "needs exactly one of `metric` or `action`".into(),
                "progress = { action = \"pods-updated\" } (prints N/M) or { metric = \"updated_ratio\" }",
            );
            return None;
        }
    };
    Some(Progress { source, every, unit: raw.unit.unwrap_or_else(|| "pods".into()) })
}

/// Expands a checked deploy step by its `pace`: `pace = ["33%", "67%"]` gives
/// `ID-33` (to 33%), bake `ID-33-bake`, `ID-67`, `ID-67-bake`, then `ID` (to 100%), the
/// later segments running `continue` (else the same action). Unpaced: the step itself.
pub(super) fn expand(
    c: &mut Checker<'_>,
    path: &str,
    step: Step,
    pacing: Pacing,
    known: &Known<'_>,
    seen_step: &mut BTreeSet<String>,
) -> Vec<Step> {
    let StepKind::Deploy { action, on_failure, progress, .. } = step.kind.clone() else {
        return vec![step];
    };
    let Some(pace) = pacing.pace else {
        for (field, span) in [
            ("pace_bake", pacing.pace_bake.as_ref().map(Spanned::span)),
            ("probes", pacing.probes.as_ref().map(Spanned::span)),
            ("on_breach", pacing.on_breach.as_ref().map(Spanned::span)),
            ("continue", pacing.continue_action.as_ref().map(Spanned::span)),
        ] {
            if let Some(span) = span {
                c.problem(
                    span,
                    &format!("{path}.{field}"),
                    format!("`{field}` applies only to a paced deploy"),
                    "add pace = [\"33%\", \"67%\"] (the fractions to stop at for a bake), or remove it",
                );
            }
        }
        return vec![step];
    };
    let mut fractions = Vec::new();
    for (i, p) in pace.get_ref().iter().enumerate() {
        let text = p.get_ref().trim();
        let parsed = text.strip_suffix('%').unwrap_or(text).trim().parse::<u8>().ok();
        match parsed {
            Some(n) if (1..100).contains(&n) && fractions.last().is_none_or(|l| *l < n) => {
                fractions.push(n);
            }
            _ => c.problem(
                p.span(),
                &format!("{path}.pace[{i}]"),
                format!("`{text}` is not a percent between 1% and 99% above the one before"),
                "pace = [\"33%\", \"67%\"]: rising fractions of the rollout to stop at for a bake",
            ),
        }
    }
    if fractions.is_empty() {
        c.problem(
            pace.span(),
            &format!("{path}.pace"),
            "names no fraction to stop at".into(),
            "pace = [\"33%\", \"67%\"], or remove pace",
        );
        return vec![step];
    }
    let Some(bake_for) = pacing.pace_bake.as_ref() else {
        c.problem(
            pace.span(),
            &format!("{path}.pace_bake"),
            "a paced deploy needs `pace_bake`: how long to watch at each fraction".into(),
            "pace_bake = \"2m\"",
        );
        return vec![step];
    };
    let duration =
        c.duration(Some(bake_for), &format!("{path}.pace_bake"), Duration::from_secs(60));
    let probes: Vec<String> = match pacing.probes {
        Some(p) if !p.get_ref().is_empty() => {
            known_probes(c, p.get_ref(), &format!("{path}.probes"), known.probe_ids);
            p.into_inner().into_iter().map(Spanned::into_inner).collect()
        }
        _ => {
            c.problem(
                pace.span(),
                &format!("{path}.probes"),
                "a paced deploy needs `probes`: what its bakes watch".into(),
                "probes = [\"error_rate\", \"latency_p95\", \"app-health\"]",
            );
            Vec::new()
        }
    };
    let on_breach = on_breach(c, pacing.on_breach.as_ref(), &format!("{path}.on_breach"));
    let continue_action = match pacing.continue_action {
        Some(a) => {
            if !known.actions.contains_key(a.get_ref()) {
                c.problem(
                    a.span(),
                    &format!("{path}.continue"),
                    format!("refers to unknown action `{}`", a.get_ref()),
                    "name the [actions] entry that continues the rollout (it receives {target})",
                );
            }
            a.into_inner()
        }
        None => action.clone(),
    };
    let mut steps = Vec::new();
    for (i, n) in fractions.iter().copied().enumerate() {
        let segment = Step {
            id: format!("{}-{n}", step.id),
            name: format!("{} to {n}%", step.name),
            kind: StepKind::Deploy {
                action: if i == 0 { action.clone() } else { continue_action.clone() },
                on_failure,
                progress: progress.clone(),
                target: n,
            },
            ..step.clone()
        };
        let bake = Step {
            id: format!("{}-{n}-bake", step.id),
            name: format!("Watch at {n}%"),
            help: Some(format!("The rollout holds at {n}% while these are watched.")),
            kind: StepKind::Bake {
                duration,
                probes: probes.clone(),
                on_breach,
                checkpoints: Vec::new(),
            },
            auto_start: true,
            ..step.clone()
        };
        steps.push(segment);
        steps.push(bake);
    }
    let last = Step {
        kind: StepKind::Deploy { action: continue_action, on_failure, progress, target: 100 },
        ..step
    };
    steps.push(last);
    for s in &steps[..steps.len() - 1] {
        if !seen_step.insert(s.id.clone()) {
            c.problem(
                pace.span(),
                &format!("{path}.pace"),
                format!("the paced deploy's step `{}` has the id of another step", s.id),
                "rename that step, or this deploy step",
            );
        }
    }
    steps
}

/// `[deploy]`: the strategy, which must fit the steps: traffic steps only under `traffic`,
/// deploy steps only under `rolling` or `swap` (which need exactly one written).
pub(super) fn check_strategy(
    c: &mut Checker<'_>,
    raw: Option<Spanned<RawDeploy>>,
    traffic_steps: &[(String, std::ops::Range<usize>)],
    deploy_steps: &[(String, std::ops::Range<usize>)],
    has_traffic_table: Option<std::ops::Range<usize>>,
) -> Deploy {
    let written = raw.and_then(|r| r.into_inner().strategy);
    let strategy = match &written {
        None => Strategy::Traffic,
        Some(w) => match Strategy::parse(w.get_ref()) {
            Some(s) => s,
            None => {
                c.problem(
                    w.span(),
                    "deploy.strategy",
                    format!("`{}` is not a strategy", w.get_ref()),
                    "use \"traffic\" (traffic steps shift a percentage), \"rolling\" (a deploy step rolls instances over) or \"swap\" (a deploy step swaps the whole service)",
                );
                Strategy::Traffic
            }
        },
    };
    match strategy {
        Strategy::Traffic => {
            for (id, span) in deploy_steps {
                c.problem(
                    span.clone(),
                    "deploy.strategy",
                    format!("deploy step `{id}` but the strategy is \"traffic\""),
                    "set [deploy] strategy = \"rolling\" or \"swap\", or make it an action step",
                );
            }
        }
        Strategy::Rolling | Strategy::Swap => {
            let word = strategy.word();
            for (id, span) in traffic_steps {
                c.problem(
                    span.clone(),
                    "deploy.strategy",
                    format!("traffic step `{id}` but the strategy is \"{word}\": no traffic percentage moves"),
                    "remove the traffic steps, or use strategy = \"traffic\"",
                );
            }
            if let Some(span) = has_traffic_table {
                c.problem(
                    span,
                    "traffic",
                    format!("[traffic] with strategy \"{word}\": nothing would set a weight"),
                    "remove [traffic], or use strategy = \"traffic\"",
                );
            }
            if deploy_steps.len() != 1 {
                let span = written.as_ref().map_or(0..0, Spanned::span);
                c.problem(
                    span,
                    "deploy.strategy",
                    format!(
                        "strategy \"{word}\" needs exactly one deploy step (kind = \"deploy\"), found {}",
                        deploy_steps.len()
                    ),
                    "mark the step that changes production with kind = \"deploy\" and action = \"...\"",
                );
            }
        }
    }
    Deploy { strategy }
}

/// `[watch]`: the window after completion, what a breach does, what is watched.
pub(super) fn check_watch(
    c: &mut Checker<'_>,
    raw: Option<Spanned<RawWatch>>,
    metrics: &[MetricProbe],
    probe_ids: &BTreeSet<String>,
) -> Option<Watch> {
    let raw = raw?;
    let span = raw.span();
    let raw = raw.into_inner();
    let after_release =
        c.duration(Some(&raw.after_release), "watch.after_release", Duration::from_secs(3600));
    if after_release < Duration::from_secs(10) || after_release > Duration::from_secs(7 * 86_400) {
        c.problem(
            raw.after_release.span(),
            "watch.after_release",
            "must be between 10s and 7d".into(),
            "the runbooks watch for a day: after_release = \"24h\"",
        );
    }
    let on_breach = on_breach(c, raw.on_breach.as_ref(), "watch.on_breach");
    let probes: Vec<String> = match raw.probes {
        Some(p) => {
            known_probes(c, p.get_ref(), "watch.probes", probe_ids);
            p.into_inner().into_iter().map(Spanned::into_inner).collect()
        }
        None => metrics
            .iter()
            .filter(|m| m.after_release_warn.is_some() || m.after_release_abort.is_some())
            .map(|m| m.id.clone())
            .collect(),
    };
    if probes.is_empty() {
        c.problem(
            span,
            "watch",
            "watches nothing: no metric has after_release_warn or after_release_abort".into(),
            "give the metrics to watch after_release_abort levels, or list probes = [...]",
        );
    }
    Some(Watch { after_release, on_breach, probes })
}

/// No plan step may take the id breaches after completion are recorded under.
pub(super) fn reserved_step_id(id: &str) -> bool {
    id == AFTER_RELEASE_STEP
}

/// A relative threshold needs a baseline, and a baseline is captured only while the first
/// step that changes production (a traffic shift or a deploy) waits: refuse a relative
/// threshold in a plan with no such step, and a bake that watches one before that step.
pub(super) fn check_baselines_possible(
    c: &mut Checker<'_>,
    stages: &[super::super::Stage],
    metrics: &[MetricProbe],
    metric_spans: &std::collections::BTreeMap<String, std::ops::Range<usize>>,
) {
    let steps: Vec<&Step> = stages.iter().flat_map(|s| s.steps.iter()).collect();
    let first_change = steps.iter().position(|s| s.kind.changes_production());
    for (i, m) in metrics.iter().enumerate() {
        // A baseline taken from another metric (`baseline_from`) reads a side that never
        // changes, so it does not wait for the first change step.
        let own = m.baseline_from.as_deref().is_none_or(|from| from == m.id);
        if !m.needs_captured_baseline() || (!own && first_change.is_some()) {
            continue;
        }
        let span = metric_spans.get(&m.id).cloned().unwrap_or(0..0);
        let Some(first) = first_change else {
            c.problem(
                span,
                &format!("metrics[{i}]"),
                format!(
                    "`{}` has a threshold relative to the baseline, but no step changes production (no traffic or deploy step), so no baseline is ever captured",
                    m.id
                ),
                "mark the step that deploys with kind = \"deploy\" (and [deploy] strategy = \"rolling\" or \"swap\"), or use absolute thresholds",
            );
            continue;
        };
        let early: Vec<&str> = steps[..first]
            .iter()
            .filter(|s| matches!(&s.kind, StepKind::Bake { probes, .. } if probes.contains(&m.id)))
            .map(|s| s.id.as_str())
            .collect();
        if !early.is_empty() {
            c.problem(
                span,
                &format!("metrics[{i}]"),
                format!(
                    "bake {} watches `{}`, whose baseline is captured only while `{}` waits, later in the plan",
                    early.join(", "),
                    m.id,
                    steps[first].id
                ),
                "watch it with absolute thresholds before that step, or move the bake after it",
            );
        }
    }
}
