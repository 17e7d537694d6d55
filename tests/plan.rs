//! The plan file: the shipped plans parse, and every validation rule reports the right field,
//! line and message. Inline plans start with `[service]` on line 1 so lines can be counted.

use std::path::{Path, PathBuf};

use flightdeck::plan::{self, OnBreach, PlanError, PlanProblem, ReleaseType, StepKind};

const FILE: &str = "test.toml";

/// The problems of a plan that must not parse.
fn problems(text: &str) -> Vec<PlanProblem> {
    match plan::parse(text, FILE) {
        Ok(_) => panic!("the plan parsed, but problems were expected:\n{text}"),
        Err(e) => {
            assert_eq!(e.file, FILE);
            assert!(!e.problems.is_empty(), "an error without problems");
            e.problems
        }
    }
}

/// Asserts that `p` is at `line`, names `field` and says `fragment`.
fn check(p: &PlanProblem, field: &str, line: usize, fragment: &str) {
    assert_eq!(p.field, field, "field of {p:#?}");
    let location = p.location.as_ref().unwrap_or_else(|| panic!("no location in {p:#?}"));
    assert_eq!(location.line, line, "line of {p:#?}");
    assert!(location.column >= 1, "columns are 1-based: {p:#?}");
    assert!(p.message.contains(fragment), "message of {p:#?} lacks {fragment:?}");
    assert!(!p.hint.is_empty(), "every problem has a hint: {p:#?}");
}

/// Asserts that the plan has exactly one problem, and that it is this one.
fn only(text: &str, field: &str, line: usize, fragment: &str) -> PlanProblem {
    let mut found = problems(text);
    assert_eq!(found.len(), 1, "expected one problem, got {found:#?}");
    let p = found.remove(0);
    check(&p, field, line, fragment);
    p
}

/// Asserts that one of the plan's problems is this one (others may come with it).
fn among(text: &str, field: &str, line: usize, fragment: &str) -> PlanProblem {
    let found = problems(text);
    let p = found
        .iter()
        .find(|p| p.field == field && p.message.contains(fragment))
        .unwrap_or_else(|| panic!("no problem on {field} saying {fragment:?} in {found:#?}"))
        .clone();
    check(&p, field, line, fragment);
    p
}

/// A traffic provider and a rollback procedure, appended after a plan's stages so that the
/// stages' line numbers are unaffected.
fn with_traffic(stages: &str) -> String {
    format!(
        "{stages}{}",
        r#"
[actions.set_weight]
kind = "http"
method = "PUT"
url = "http://lb.internal/weight"
body = { weight = "{weight}" }

[traffic]
set = "set_weight"

[rollback]
steps = []
"#
    )
}

// ---------------------------------------------------------------------------------------
// The shipped plans
// ---------------------------------------------------------------------------------------

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn load(path: &Path) -> plan::Plan {
    match plan::load_file(path) {
        Ok((plan, _text)) => plan,
        Err(e) => panic!("{} does not validate:\n{e}", path.display()),
    }
}

#[test]
fn config_example_parses_without_problems() {
    load(&repo_path("config.example.toml"));
}

#[test]
fn every_shipped_plan_parses_without_problems() {
    let dir = repo_path("assets/plans");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("assets/plans exists") {
        let path = entry.expect("readable directory entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            load(&path);
            checked.push(path);
        }
    }
    assert!(
        checked.len() >= 2,
        "expected the shipped plans in {}, found {checked:?}",
        dir.display()
    );
}

#[test]
fn config_example_describes_the_canary_release() {
    let plan = load(&repo_path("config.example.toml"));
    assert_eq!(plan.service.name, "checkout-api");
    assert_eq!(plan.service.environment, "production");
    let stage_ids: Vec<&str> = plan.stages.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        stage_ids,
        ["staging", "preflight", "prepare", "deploy", "canary-10", "canary-50", "full", "verify"]
    );
    assert_eq!(plan.stages[0].environment, "staging");
    assert_eq!(plan.stages[1].environment, "production");

    assert_eq!(plan.release_types[&ReleaseType::Regular].approvals, 2);
    assert_eq!(plan.release_types[&ReleaseType::Hotfix].approvals, 1);
    let emergency = &plan.release_types[&ReleaseType::Emergency];
    assert_eq!(emergency.approvals, 1);
    assert_eq!(emergency.skip_stages, ["canary-10", "canary-50"]);

    let kinds: Vec<&str> = plan.flat_steps().iter().map(|s| s.step.kind.word()).collect();
    assert_eq!(
        kinds,
        [
            "action",
            "action", // staging
            "checklist",
            "gate", // preflight
            "action",
            "action", // backup, migrations
            "action",
            "action", // deploy, smoke tests
            "traffic",
            "bake",
            "traffic",
            "bake",
            "traffic",
            "bake",      // 10, 50, 100
            "checklist", // post-deploy
        ]
    );
    let weights: Vec<u8> = plan
        .flat_steps()
        .iter()
        .filter_map(|s| match s.step.kind {
            StepKind::Traffic { weight } => Some(weight),
            _ => None,
        })
        .collect();
    assert_eq!(weights, [10, 50, 100]);
    match &plan.step("pre-deploy").expect("pre-deploy checklist").step.kind {
        StepKind::Checklist { items } => assert_eq!(items.len(), 6),
        other => panic!("pre-deploy is a {}", other.word()),
    }
    match &plan.step("bake-100").expect("bake at 100%").step.kind {
        StepKind::Bake { on_breach, .. } => assert_eq!(*on_breach, OnBreach::Pause),
        other => panic!("bake-100 is a {}", other.word()),
    }
    let traffic = plan.traffic.as_ref().expect("a traffic provider");
    assert_eq!(traffic.read_action.as_deref(), Some("get_weight"));
    assert!(!plan.rollback.steps.is_empty());
}

// ---------------------------------------------------------------------------------------
// TOML and serde errors
// ---------------------------------------------------------------------------------------

#[test]
fn toml_syntax_error_is_located() {
    let p = only(
        r#"[service]
name = "api"
environment = "production"

[[stages]
id = "s"
"#,
        "(syntax)",
        5,
        "expected",
    );
    assert_eq!(p.hint, "fix the TOML at this position");
}

#[test]
fn unknown_key_is_reported_on_its_line() {
    let p = only(
        r#"[service]
name = "api"
environment = "production"

[[stages]]
id = "s"

[[stages.steps]]
id = "check"
kind = "checklist"
items = [{ id = "a", text = "A" }]
wieght = 10
"#,
        "stages[0].steps[0].wieght",
        12,
        "unknown field `wieght`",
    );
    assert_eq!(p.location.as_ref().map(|l| l.column), Some(1));
    assert!(p.message.contains("`weight`"), "the message lists the known keys: {p:#?}");
}

#[test]
fn missing_required_field_points_at_its_table() {
    only(
        r#"[service]
name = "api"

[[stages]]
id = "s"

[[stages.steps]]
id = "g"
kind = "gate"
"#,
        "service",
        1,
        "missing field `environment`",
    );
    only(
        r#"[service]
name = "api"
environment = "production"

[[stages]]
id = "s"

[[stages.steps]]
id = "g"
"#,
        "stages[0].steps[0]",
        8,
        "missing field `kind`",
    );
}

// ---------------------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------------------

#[test]
fn duplicate_stage_id() {
    let p = only(
        r#"[service]
name = "api"
environment = "production"

[[stages]]
id = "s"

[[stages.steps]]
id = "one"
kind = "gate"

[[stages]]
id = "s"

[[stages.steps]]
id = "two"
kind = "gate"
"#,
        "stages[1].id",
        13,
        "duplicate stage id `s`",
    );
    assert_eq!(p.location.as_ref().map(|l| l.column), Some(6));
}

#[test]
fn duplicate_step_id_across_stages() {
    only(
        r#"[service]
name = "api"
environment = "production"

[[stages]]
id = "first"

[[stages.steps]]
id = "approve"
kind = "gate"

[[stages]]
id = "second"

[[stages.steps]]
id = "approve"
kind = "gate"
"#,
        "stages[1].steps[0].id",
        16,
        "duplicate step id `approve`",
    );
}

#[test]
fn duplicate_item_id() {
    let p = only(
        r#"[service]
name = "api"
environment = "production"

[[stages]]
id = "s"

[[stages.steps]]
id = "check"
kind = "checklist"
items = [
  { id = "tests", text = "CI is green" },
  { id = "tests", text = "CI is still green" },
]
"#,
        "stages[0].steps[0].items[1].id",
        13,
        "duplicate item id `tests`",
    );
    assert_eq!(p.location.as_ref().map(|l| l.column), Some(10));
}

#[test]
fn duplicate_probe_id_between_health_and_metric() {
    only(
        r#"[service]
name = "api"
environment = "production"

[[health]]
id = "api"
url = "http://api.internal/health"

[[metrics]]
id = "api"
scrape = { url = "http://api.internal/metrics", gauge = "up" }

[[stages]]
id = "s"

[[stages.steps]]
id = "g"
kind = "gate"
"#,
        "metrics[0].id",
        10,
        "duplicate probe id `api`",
    );
}

// ---------------------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------------------

#[test]
fn unknown_action_in_a_step() {
    let p = only(
        r#"[service]
name = "api"
environment = "production"

[actions.backup]
kind = "command"
argv = ["pg_dump", "orders"]

[[stages]]
id = "s"

[[stages.steps]]
id = "deploy"
kind = "action"
action = "deploy"
"#,
        "stages[0].steps[0].action",
        15,
        "unknown action `deploy`",
    );
    assert!(p.hint.contains("backup"), "the hint lists known actions: {p:#?}");
}

#[test]
fn unknown_action_in_traffic_set() {
    only(
        r#"[service]
name = "api"
environment = "production"

[traffic]
set = "set_weight"

[rollback]
steps = []

[[stages]]
id = "s"

[[stages.steps]]
id = "t"
kind = "traffic"
weight = 10
"#,
        "traffic.set",
        6,
        "unknown action `set_weight`",
    );
}

#[test]
fn unknown_action_in_rollback_steps() {
    only(
        r#"[service]
name = "api"
environment = "production"

[actions.scale_down]
kind = "command"
argv = ["kubectl", "scale", "deployment/api-green", "--replicas=0"]

[rollback]
steps = [
  "scale_down",
  "page_someone",
]

[[stages]]
id = "s"

[[stages.steps]]
id = "g"
kind = "gate"
"#,
        "rollback.steps[1]",
        12,
        "unknown action `page_someone`",
    );
}

#[test]
fn unknown_probe_in_a_bake() {
    only(
        r#"[service]
name = "api"
environment = "production"

[[health]]
id = "green"
url = "http://green.internal/health"

[[stages]]
id = "s"

[[stages.steps]]
id = "bake"
kind = "bake"
duration = "10m"
probes = [
  "green",
  "error_rate",
]
"#,
        "stages[0].steps[0].probes[1]",
        18,
        "unknown probe `error_rate`",
    );
}

#[test]
fn bake_without_probes() {
    // Missing: reported at the step's id.
    only(
        r#"[service]
name = "api"
environment = "production"

[[stages]]
id = "s"

[[stages.steps]]
id = "bake"
kind = "bake"
duration = "10m"
"#,
        "stages[0].steps[0].probes",
        9,
        "watches nothing",
    );
    // Empty: reported at the list.
    only(
        r#"[service]
name = "api"
environment = "production"

[[stages]]
id = "s"

[[stages.steps]]
id = "bake"
kind = "bake"
duration = "10m"
probes = []
"#,
        "stages[0].steps[0].probes",
        12,
        "watches nothing",
    );
}

// ---------------------------------------------------------------------------------------
// Traffic
// ---------------------------------------------------------------------------------------

#[test]
fn traffic_weight_above_100() {
    only(
        &with_traffic(
            r#"[service]
name = "api"
environment = "production"

[[stages]]
id = "s"

[[stages.steps]]
id = "t"
kind = "traffic"
weight = 101
"#,
        ),
        "stages[0].steps[0].weight",
        11,
        "101 is outside 0..=100",
    );
}

#[test]
fn traffic_weight_below_0() {
    only(
        &with_traffic(
            r#"[service]
name = "api"
environment = "production"

[[stages]]
id = "s"

[[stages.steps]]
id = "t"
kind = "traffic"
weight = -5
"#,
        ),
        "stages[0].steps[0].weight",
        11,
        "-5 is outside 0..=100",
    );
}

#[test]
fn traffic_weights_must_increase() {
    let decreasing = r#"[service]
name = "api"
environment = "production"

[[stages]]
id = "half"

[[stages.steps]]
id = "t50"
kind = "traffic"
weight = 50

[[stages]]
id = "back"

[[stages.steps]]
id = "t10"
kind = "traffic"
weight = 10
"#;
    only(
        &with_traffic(decreasing),
        "stages[1].steps[0].weight",
        19,
        "10% does not increase on `t50` (50%)",
    );

    let repeated = r#"[service]
name = "api"
environment = "production"

[[stages]]
id = "s"

[[stages.steps]]
id = "first"
kind = "traffic"
weight = 25

[[stages.steps]]
id = "again"
kind = "traffic"
weight = 25
"#;
    only(&with_traffic(repeated), "stages[0].steps[1].weight", 16, "25% does not increase");
}

#[test]
fn traffic_step_needs_a_traffic_provider() {
    only(
        r#"[service]
name = "api"
environment = "production"

[rollback]
steps = []

[[stages]]
id = "s"

[[stages.steps]]
id = "t"
kind = "traffic"
weight = 10
"#,
        "stages[0].steps[0].kind",
        13,
        "no [traffic] provider",
    );
}

#[test]
fn traffic_step_needs_a_rollback_procedure() {
    only(
        r#"[service]
name = "api"
environment = "production"

[actions.set_weight]
kind = "http"
url = "http://lb.internal/weight"
body = { weight = "{weight}" }

[traffic]
set = "set_weight"

[[stages]]
id = "s"

[[stages.steps]]
id = "t"
kind = "traffic"
weight = 10
"#,
        "stages[0].steps[0].kind",
        18,
        "no [rollback] procedure",
    );
}

#[test]
fn traffic_step_without_provider_or_rollback_reports_both() {
    let text = r#"[service]
name = "api"
environment = "production"

[[stages]]
id = "s"

[[stages.steps]]
id = "t"
kind = "traffic"
weight = 10
"#;
    assert_eq!(problems(text).len(), 2);
    among(text, "stages[0].steps[0].kind", 10, "no [traffic] provider");
    among(text, "stages[0].steps[0].kind", 10, "no [rollback] procedure");
}

// ---------------------------------------------------------------------------------------
// Approvals and release types
// ---------------------------------------------------------------------------------------

#[test]
fn gate_with_zero_approvals() {
    only(
        r#"[service]
name = "api"
environment = "production"

[[stages]]
id = "s"

[[stages.steps]]
id = "go"
kind = "gate"
approvals = 0
"#,
        "stages[0].steps[0].approvals",
        11,
        "a gate needing 0 approvers would pass by itself",
    );
}

#[test]
fn release_type_with_zero_approvals() {
    only(
        r#"[service]
name = "api"
environment = "production"

[release_types.regular]
approvals = 2

[release_types.hotfix]
approvals = 0

[[stages]]
id = "s"

[[stages.steps]]
id = "go"
kind = "gate"
"#,
        "release_types.hotfix.approvals",
        9,
        "would pass by itself",
    );
}

#[test]
fn release_type_skipping_an_unknown_stage() {
    only(
        r#"[service]
name = "api"
environment = "production"

[release_types.emergency]
approvals = 1
skip_stages = ["canary-10", "canary"]

[[stages]]
id = "canary-10"

[[stages.steps]]
id = "go"
kind = "gate"
"#,
        "release_types.emergency.skip_stages[1]",
        7,
        "unknown stage `canary`",
    );
}

// ---------------------------------------------------------------------------------------
// Step kinds and their fields
// ---------------------------------------------------------------------------------------

#[test]
fn field_that_does_not_apply_to_the_step_kind() {
    let p = only(
        r#"[service]
name = "api"
environment = "production"

[[stages]]
id = "s"

[[stages.steps]]
id = "check"
kind = "checklist"
items = [{ id = "a", text = "A" }]
weight = 10
"#,
        "stages[0].steps[0].weight",
        12,
        "`weight` does not apply to a checklist step",
    );
    assert_eq!(p.hint, "a checklist step takes: items");
}

#[test]
fn unknown_step_kind() {
    only(
        r#"[service]
name = "api"
environment = "production"

[[stages]]
id = "s"

[[stages.steps]]
id = "ship"
kind = "release"
"#,
        "stages[0].steps[0].kind",
        10,
        "`release` is not a step kind",
    );
}

#[test]
fn duration_without_a_unit() {
    only(
        r#"[service]
name = "api"
environment = "production"

[[health]]
id = "green"
url = "http://green.internal/health"

[[stages]]
id = "s"

[[stages.steps]]
id = "bake"
kind = "bake"
duration = "10"
probes = ["green"]
"#,
        "stages[0].steps[0].duration",
        15,
        "needs a unit",
    );
}

#[test]
fn duration_with_an_unknown_unit() {
    only(
        r#"[service]
name = "api"
environment = "production"

[[stages]]
id = "s"

[[stages.steps]]
id = "go"
kind = "gate"
min_wait = "10d"
"#,
        "stages[0].steps[0].min_wait",
        11,
        "`d` is not a unit",
    );
}

// ---------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------

#[test]
fn bad_thresholds() {
    let text = r#"[service]
name = "api"
environment = "production"

[[metrics]]
id = "error_rate"
scrape = { url = "http://api.internal/metrics", gauge = "error_ratio" }
warn = "0.01"
abort = "> lots"

[[stages]]
id = "s"

[[stages.steps]]
id = "go"
kind = "gate"
"#;
    let found = problems(text);
    assert_eq!(found.len(), 2, "{found:#?}");
    check(&found[0], "metrics[0].warn", 8, "must start with `>`");
    check(&found[1], "metrics[0].abort", 9, "`lots` is not a number");
}

#[test]
fn metric_with_both_sources() {
    only(
        r#"[service]
name = "api"
environment = "production"

[[metrics]]
id = "error_rate"
prometheus = { url = "http://prometheus.internal:9090", query = "sum(rate(errors[1m]))" }
scrape = { url = "http://api.internal/metrics", gauge = "error_ratio" }

[[stages]]
id = "s"

[[stages.steps]]
id = "go"
kind = "gate"
"#,
        "metrics[0]",
        5,
        "metric `error_rate` needs exactly one source",
    );
}

#[test]
fn metric_with_no_source() {
    only(
        r#"[service]
name = "api"
environment = "production"

[[metrics]]
id = "error_rate"
abort = "> 0.02"

[[stages]]
id = "s"

[[stages.steps]]
id = "go"
kind = "gate"
"#,
        "metrics[0]",
        5,
        "metric `error_rate` needs exactly one source",
    );
}

// ---------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------

#[test]
fn unknown_placeholder_in_argv_but_not_env_secrets() {
    let p = only(
        r#"[service]
name = "api"
environment = "production"

[actions.deploy]
kind = "command"
argv = ["./scripts/deploy.sh", "{foo}", "--token", "${env:TOKEN}", "{version}"]
env = { API_TOKEN = "${env:TOKEN}", TAG = "{image}" }

[[stages]]
id = "s"

[[stages.steps]]
id = "deploy"
kind = "action"
action = "deploy"
"#,
        "actions.deploy.argv[1]",
        7,
        "unknown placeholder `{foo}`",
    );
    assert!(p.hint.contains("{version}"), "the hint lists the placeholders: {p:#?}");
}

#[test]
fn secrets_and_known_placeholders_are_not_flagged() {
    let text = r#"[service]
name = "api"
environment = "production"

[actions.notify]
kind = "http"
url = "https://hooks.example.com/${env:HOOK_ID}/{service}"
headers = { Authorization = "Bearer ${env:TOKEN}" }
body = { text = "{service} {version} ({sha}) at {weight}% in {environment}", nested = { id = "{release_id}" } }

[actions.deploy]
kind = "command"
argv = ["deploy", "{version}", "{previous_version}", "{image}", "${env:TOKEN}"]
env = { TOKEN = "${env:TOKEN}" }

[[stages]]
id = "s"

[[stages.steps]]
id = "notify"
kind = "action"
action = "notify"
"#;
    if let Err(e) = plan::parse(text, FILE) {
        panic!("known placeholders and secrets were flagged:\n{e}");
    }
}

#[test]
fn unknown_placeholder_in_an_http_body() {
    only(
        r#"[service]
name = "api"
environment = "production"

[actions.set_weight]
kind = "http"
url = "http://lb.internal/weight"
body = { weight = "{weigth}" }

[[stages]]
id = "s"

[[stages.steps]]
id = "set"
kind = "action"
action = "set_weight"
"#,
        "actions.set_weight.body",
        5,
        "unknown placeholder `{weigth}`",
    );
}

#[test]
fn retries_on_a_call_not_marked_idempotent() {
    only(
        r#"[service]
name = "api"
environment = "production"

[actions.migrate]
kind = "http"
method = "POST"
url = "http://deployer.internal/migrate"
retries = 3

[[stages]]
id = "s"

[[stages.steps]]
id = "migrate"
kind = "action"
action = "migrate"
"#,
        "actions.migrate.retries",
        9,
        "not marked idempotent",
    );
}

// ---------------------------------------------------------------------------------------
// Many problems at once, and how they read
// ---------------------------------------------------------------------------------------

const MANY_PROBLEMS: &str = r#"[service]
name = "api"
environment = "production"

[[metrics]]
id = "latency"
scrape = { url = "http://api.internal/metrics", quantile = { histogram = "http_request_duration_seconds", q = 0.95 } }
abort = "> baseline times 2"

[[stages]]
id = "s"

[[stages.steps]]
id = "go"
kind = "gate"
approvals = 0
min_wait = "5 minutes"

[[stages.steps]]
id = "bake"
kind = "bake"
duration = "10m"
probes = ["latency", "errors"]
"#;

#[test]
fn every_problem_is_reported_in_file_order() {
    let found = problems(MANY_PROBLEMS);
    let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "metrics[0].abort",
            "stages[0].steps[0].approvals",
            "stages[0].steps[0].min_wait",
            "stages[0].steps[1].probes[1]",
        ]
    );
    check(&found[0], "metrics[0].abort", 8, "baseline * FACTOR");
    check(&found[1], "stages[0].steps[0].approvals", 16, "would pass by itself");
    check(&found[2], "stages[0].steps[0].min_wait", 17, "");
    check(&found[3], "stages[0].steps[1].probes[1]", 23, "unknown probe `errors`");
    let lines: Vec<usize> =
        found.iter().filter_map(|p| p.location.as_ref().map(|l| l.line)).collect();
    assert!(lines.is_sorted(), "problems out of file order: {lines:?}");
}

#[test]
fn display_shows_file_line_column_and_hint() {
    let err: PlanError = plan::parse(MANY_PROBLEMS, FILE).expect_err("the plan has problems");
    let shown = err.to_string();
    assert!(shown.starts_with("test.toml: 4 problems in the plan\n"), "{shown}");
    // `approvals = 0` on line 16: the value starts at column 13.
    assert!(
        shown.contains("test.toml:16:13: stages[0].steps[0].approvals: a gate needing 0 approvers"),
        "{shown}"
    );
    assert!(
        shown.contains(
            "    hint: require at least 1, or leave it out to use the release type's number"
        ),
        "{shown}"
    );
    assert!(shown.contains("test.toml:23:22: stages[0].steps[1].probes[1]: "), "{shown}");
    assert!(shown.contains("    hint: name an id from [[health]] or [[metrics]]"), "{shown}");
}

/// A plan with one checklist, then `[[notify]]` tables from line 12 on.
fn with_notify(notify: &str) -> String {
    format!(
        r#"[service]
name = "shop"
environment = "staging"

[[stages]]
id = "s"
  [[stages.steps]]
  id = "c"
  kind = "checklist"
  items = [{{ id = "a", text = "A" }}]

{notify}"#
    )
}

#[test]
fn notify_hooks_take_defaults_and_secrets_in_the_url() {
    let text = with_notify(
        "[[notify]]\nurl = \"https://hooks.slack.com/services/${env:SLACK_HOOK}\"\nformat = \"slack\"\n\n[[notify]]\nurl = \"${env:WEBHOOK_URL}\"\nevents = [\"rollback_started\", \"completed\"]\ntimeout = \"500ms\"\nretries = 0\n",
    );
    let plan = plan::parse(&text, FILE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.notify.len(), 2);
    let slack = &plan.notify[0];
    assert_eq!(slack.format, plan::NotifyFormat::Slack);
    assert_eq!(slack.events, plan::NotifyEvent::ALL.to_vec(), "default: every milestone");
    assert_eq!(slack.timeout, std::time::Duration::from_secs(5));
    assert_eq!(slack.retries, 3);
    let json = &plan.notify[1];
    assert_eq!(json.format, plan::NotifyFormat::Json);
    assert_eq!(json.events, [plan::NotifyEvent::RollbackStarted, plan::NotifyEvent::Completed]);
    assert_eq!((json.timeout.as_millis(), json.retries), (500, 0));
}

#[test]
fn notify_hooks_reject_bad_values() {
    let text = with_notify(
        r#"[[notify]]
url = "ftp://hooks.example.com/{version}"
format = "teams"
events = ["started", "deployed"]
timeout = "2m"
retries = 50
"#,
    );
    among(&text, "notify[0].url", 13, "not http or https");
    among(&text, "notify[0].url", 13, "no placeholders");
    among(&text, "notify[0].format", 14, "`teams` is not a format");
    among(&text, "notify[0].events[1]", 15, "`deployed` is not a milestone");
    among(&text, "notify[0].timeout", 16, "outside");
    among(&text, "notify[0].retries", 17, "outside 0..=10");
    assert_eq!(problems(&text).len(), 6);
    // Unknown keys are refused like everywhere else in a plan.
    among(
        &with_notify("[[notify]]\nurl = \"https://x.example\"\nchannel = \"#releases\"\n"),
        "notify[0].channel",
        14,
        "unknown field",
    );
}

#[test]
fn step_ids_reserved_for_the_rollback_procedure() {
    only(
        r#"[service]
name = "api"
environment = "production"

[[stages]]
id = "first"

[[stages.steps]]
id = "rollback-1-traffic"
kind = "gate"
"#,
        "stages[0].steps[0].id",
        9,
        "step id `rollback-1-traffic` is reserved",
    );
}

// ---------------------------------------------------------------------------------------
// [claims]
// ---------------------------------------------------------------------------------------

/// `with_notify`'s plan with a `[claims]` table from line 12 on.
fn with_claims(claims: &str) -> String {
    with_notify(claims)
}

#[test]
fn claims_are_off_without_a_table_and_default_to_20m_with_one() {
    let off = plan::parse(&with_claims(""), FILE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(off.claims, None, "no [claims] table: claims are off");
    let default = plan::parse(&with_claims("[claims]\n"), FILE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(default.claims.map(|c| c.ttl), Some(std::time::Duration::from_secs(20 * 60)));
    for (ttl, secs) in [("1m", 60), ("1h30m", 5400), ("24h", 86_400)] {
        let text = with_claims(&format!("[claims]\nttl = \"{ttl}\"\n"));
        let plan = plan::parse(&text, FILE).unwrap_or_else(|e| panic!("{ttl}: {e}"));
        assert_eq!(plan.claims.map(|c| c.ttl.as_secs()), Some(secs), "{ttl}");
    }
    let example = load(&repo_path("config.example.toml"));
    assert!(example.claims.is_some(), "the example plan shows [claims]");
}

#[test]
fn claims_reject_bad_ttls_and_unknown_keys() {
    let p = only(&with_claims("[claims]\nttl = \"30s\"\n"), "claims.ttl", 13, "outside 1m..=24h");
    assert!(p.message.contains("30s"), "{p:#?}");
    assert!(p.hint.contains("claiming again"), "{p:#?}");
    only(&with_claims("[claims]\nttl = \"25h\"\n"), "claims.ttl", 13, "outside 1m..=24h");
    only(&with_claims("[claims]\nttl = \"0\"\n"), "claims.ttl", 13, "outside 1m..=24h");
    only(&with_claims("[claims]\nttl = \"soon\"\n"), "claims.ttl", 13, "`soon`");
    among(&with_claims("[claims]\nttl = \"20m\"\nmax = 3\n"), "claims.max", 14, "unknown field");
}

/// A plan whose `[traffic]` table ends with `extra` (line 12 onwards).
fn traffic_with(extra: &str) -> String {
    format!(
        r#"[service]
name = "api"
environment = "production"

[actions.set_weight]
kind = "command"
argv = ["echo", "{{weight}}"]

[traffic]
set = "set_weight"
{extra}
[rollback]
steps = []

[[stages]]
id = "s"

[[stages.steps]]
id = "t"
kind = "traffic"
weight = 10
"#
    )
}

#[test]
fn read_back_settings_without_a_read_action_are_refused() {
    only(
        &traffic_with("check_every = \"5s\"\n"),
        "traffic.check_every",
        11,
        "`traffic.read` is not set",
    );
    only(
        &traffic_with("on_drift = \"rollback\"\n"),
        "traffic.on_drift",
        11,
        "`traffic.read` is not set",
    );
}

#[test]
fn read_back_settings_are_checked() {
    let read = "read = \"set_weight\"\n";
    only(
        &traffic_with(&format!("{read}on_drift = \"ignore\"\n")),
        "traffic.on_drift",
        12,
        "not a drift policy",
    );
    only(
        &traffic_with(&format!("{read}check_every = \"100ms\"\n")),
        "traffic.check_every",
        12,
        "at least 1s",
    );
    let plan = plan::parse(
        &traffic_with(&format!("{read}check_every = \"3s\"\non_drift = \"rollback\"\n")),
        FILE,
    )
    .expect("a valid read-back");
    let traffic = plan.traffic.expect("traffic");
    assert_eq!(traffic.check_every, std::time::Duration::from_secs(3));
    assert_eq!(traffic.on_drift, plan::OnDrift::Rollback);
}
