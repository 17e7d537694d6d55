//! `check` on deploy strategies (issue 16): `[deploy] strategy` must fit the steps, a deploy
//! step's progress and pace are checked and a paced deploy expands into segments and bakes,
//! `[watch]` is bounded, and a relative threshold that could never get a baseline is refused.
//! Inline plans start with `[service]` on line 1 so lines can be counted.

use std::time::Duration;

use flightdeck::plan::{self, OnBreach, PlanProblem, ProgressSource, StepKind, Strategy};

const FILE: &str = "test.toml";

fn problems(text: &str) -> Vec<PlanProblem> {
    match plan::parse(text, FILE) {
        Ok(_) => panic!("the plan parsed, but problems were expected:\n{text}"),
        Err(e) => e.problems,
    }
}

#[track_caller]
fn has(text: &str, field: &str, line: usize, fragment: &str) {
    let found = problems(text);
    let hit = found.iter().any(|p| {
        p.field == field
            && p.location.as_ref().is_some_and(|l| l.line == line)
            && p.message.contains(fragment)
            && !p.hint.is_empty()
    });
    assert!(hit, "no problem at {field} line {line} saying {fragment:?} in {found:#?}");
}

/// A rolling plan: metric `latency` (lines 4–9), the deploy step `ship` (lines 12–15, its
/// extra fields from `deploy`), a bake (lines 16–20), then `extra` at the end.
fn rolling(deploy: &str, extra: &str) -> String {
    format!(
        r#"[service]
name = "api"
environment = "production"
[[metrics]]
id = "latency"
unit = "ms"
scrape = {{ url = "http://127.0.0.1:1/metrics", gauge = "latency_ms" }}
abort = "> baseline * 1.5"
baseline_window = "1m"
[[stages]]
id = "s"
[[stages.steps]]
id = "ship"
kind = "deploy"
action = "ship"
{deploy}
[[stages.steps]]
id = "watch"
kind = "bake"
duration = "10m"
probes = ["latency"]
[deploy]
strategy = "rolling"
[actions.ship]
kind = "command"
argv = ["deploy", "--to", "{{target}}"]
[actions.more]
kind = "command"
argv = ["continue", "--to", "{{target}}"]
[actions.pods]
kind = "command"
argv = ["echo", "1/3"]
{extra}"#
    )
}

#[test]
fn a_rolling_plan_parses_with_its_deploy_step_and_its_progress() {
    let text = rolling("progress = { action = \"pods\", every = \"2s\" }", "");
    let plan = plan::parse(&text, FILE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.strategy(), Strategy::Rolling);
    let deploy = plan.first_change_step().expect("the deploy changes production");
    assert_eq!(deploy.step.id, "ship");
    let StepKind::Deploy { action, progress: Some(progress), target, .. } = &deploy.step.kind
    else {
        panic!("a deploy step with progress: {:?}", deploy.step.kind);
    };
    assert_eq!((action.as_str(), *target), ("ship", 100));
    assert_eq!(progress.source, ProgressSource::Action("pods".into()));
    assert_eq!((progress.every, progress.unit.as_str()), (Duration::from_secs(2), "pods"));
}

#[test]
fn a_paced_deploy_becomes_segments_with_a_bake_at_each_fraction() {
    let pace = "pace = [\"33%\", \"67%\"]\npace_bake = \"2m\"\nprobes = [\"latency\"]\ncontinue = \"more\"\non_breach = \"pause\"";
    let plan = plan::parse(&rolling(pace, ""), FILE).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = plan.flat_steps().iter().map(|r| r.step.id.as_str()).collect();
    assert_eq!(ids, ["ship-33", "ship-33-bake", "ship-67", "ship-67-bake", "ship", "watch"]);
    let deploys: Vec<(String, u8)> = plan
        .deploy_steps()
        .iter()
        .map(|r| match &r.step.kind {
            StepKind::Deploy { action, target, .. } => (action.clone(), *target),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(deploys, [("ship".into(), 33), ("more".into(), 67), ("more".into(), 100)]);
    let bake = plan.step("ship-33-bake").expect("bake");
    let StepKind::Bake { duration, probes, on_breach, .. } = &bake.step.kind else {
        panic!("{:?}", bake.step.kind)
    };
    assert_eq!(*duration, Duration::from_secs(120));
    assert_eq!(probes, &["latency".to_owned()]);
    assert_eq!(*on_breach, OnBreach::Pause);
}

#[test]
fn pace_is_checked_value_by_value() {
    let bad = "pace = [\"50%\", \"40%\", \"100%\"]\npace_bake = \"1m\"\nprobes = [\"latency\"]";
    let text = rolling(bad, "");
    has(&text, "stages[0].steps[0].pace[1]", 16, "`40%` is not a percent between 1% and 99%");
    has(&text, "stages[0].steps[0].pace[2]", 16, "`100%`");
    let no_bake = rolling("pace = [\"50%\"]\nprobes = [\"latency\"]", "");
    has(&no_bake, "stages[0].steps[0].pace_bake", 16, "needs `pace_bake`");
    let no_probes = rolling("pace = [\"50%\"]\npace_bake = \"1m\"", "");
    has(&no_probes, "stages[0].steps[0].probes", 16, "needs `probes`");
    let unpaced = rolling("pace_bake = \"1m\"", "");
    has(&unpaced, "stages[0].steps[0].pace_bake", 16, "applies only to a paced deploy");
}

#[test]
fn progress_names_one_known_source_that_is_a_fraction() {
    let text = rolling("progress = { action = \"nope\" }", "");
    has(&text, "stages[0].steps[0].progress.action", 16, "unknown action `nope`");
    let text = rolling("progress = { metric = \"latency\" }", "");
    has(&text, "stages[0].steps[0].progress.metric", 16, "unit \"ms\"; progress is a fraction");
    let text = rolling("progress = { metric = \"latency\", action = \"pods\" }", "");
    has(&text, "stages[0].steps[0].progress", 16, "exactly one of `metric` or `action`");
}

#[test]
fn the_strategy_must_fit_the_steps() {
    let text = rolling("", "").replace("strategy = \"rolling\"", "strategy = \"canary\"");
    has(&text, "deploy.strategy", 23, "`canary` is not a strategy");
    let text = rolling("", "").replace("strategy = \"rolling\"", "strategy = \"traffic\"");
    has(&text, "deploy.strategy", 14, "deploy step `ship` but the strategy is \"traffic\"");
    let two = rolling("", "").replace(
        "[[stages.steps]]\nid = \"watch\"",
        "[[stages.steps]]\nid = \"again\"\nkind = \"deploy\"\naction = \"ship\"\n[[stages.steps]]\nid = \"watch\"",
    );
    has(&two, "deploy.strategy", 27, "needs exactly one deploy step (kind = \"deploy\"), found 2");
    let traffic = rolling("", "[traffic]\nset = \"ship\"\n");
    has(&traffic, "traffic", 33, "[traffic] with strategy \"rolling\"");
}

#[test]
fn a_relative_threshold_needs_a_step_that_changes_production() {
    let none = rolling("", "")
        .replace("kind = \"deploy\"\naction = \"ship\"", "kind = \"action\"\naction = \"ship\"")
        .replace("[deploy]\nstrategy = \"rolling\"\n", "");
    has(&none, "metrics[0]", 4, "no step changes production");
    let early = rolling("", "").replace(
        "[[stages.steps]]\nid = \"ship\"",
        "[[stages.steps]]\nid = \"early\"\nkind = \"bake\"\nduration = \"1m\"\nprobes = [\"latency\"]\n[[stages.steps]]\nid = \"ship\"",
    );
    has(
        &early,
        "metrics[0]",
        4,
        "bake early watches `latency`, whose baseline is captured only while `ship` waits",
    );
}

#[test]
fn a_live_baseline_needs_a_stable_side_running_beside_the_new_version() {
    let text = rolling("", "")
        .replace("baseline_window = \"1m\"", "baseline_window = \"1m\"\nbaseline_mode = \"live\"");
    has(&text, "metrics[0].baseline_mode", 10, "no stable side runs beside the new version");
}

#[test]
fn watch_after_release_is_bounded_and_watches_something() {
    let ok = rolling("", "[watch]\nafter_release = \"24h\"\nprobes = [\"latency\"]\n");
    let plan = plan::parse(&ok, FILE).unwrap_or_else(|e| panic!("{e}"));
    let watch = plan.watch.expect("watch");
    assert_eq!(watch.after_release, Duration::from_secs(86_400));
    assert_eq!(watch.on_breach, OnBreach::Rollback);
    let long = rolling("", "[watch]\nafter_release = \"200h\"\nprobes = [\"latency\"]\n");
    has(&long, "watch.after_release", 34, "between 10s and 7d");
    let bad = rolling(
        "",
        "[watch]\nafter_release = \"1h\"\non_breach = \"panic\"\nprobes = [\"nope\"]\n",
    );
    has(&bad, "watch.on_breach", 35, "`panic` is not a choice");
    has(&bad, "watch.probes[0]", 36, "unknown probe `nope`");
    let nothing = rolling("", "[watch]\nafter_release = \"1h\"\n");
    has(&nothing, "watch", 33, "watches nothing");
}

#[test]
fn the_after_release_step_id_is_reserved() {
    let text = rolling("", "").replace("id = \"watch\"", "id = \"after-release\"");
    has(&text, "stages[0].steps[1].id", 18, "step id `after-release` is reserved");
}
