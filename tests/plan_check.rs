//! `flightdeck check` finds what it can without running anything (issue 14): threshold forms
//! and units, selectors and queries, URLs, bounded numbers, durations with a fraction, roles,
//! conditional rollback steps, plans that are not UTF-8, huge values, plain-language types.
//! Every bad input is asserted with its field and line. Inline plans start with `[service]`
//! on line 1 so lines can be counted.

use flightdeck::plan::{self, Bound, PlanProblem};

const FILE: &str = "test.toml";

fn problems(text: &str) -> Vec<PlanProblem> {
    match plan::parse(text, FILE) {
        Ok(_) => panic!("the plan parsed, but problems were expected:\n{text}"),
        Err(e) => e.problems,
    }
}

#[track_caller]
fn check(p: &PlanProblem, field: &str, line: usize, fragment: &str) {
    assert_eq!(p.field, field, "field of {p:#?}");
    let location = p.location.as_ref().unwrap_or_else(|| panic!("no location in {p:#?}"));
    assert_eq!(location.line, line, "line of {p:#?}");
    assert!(p.message.contains(fragment), "message of {p:#?} lacks {fragment:?}");
    assert!(!p.hint.is_empty(), "every problem has a hint: {p:#?}");
}

#[track_caller]
fn only(text: &str, field: &str, line: usize, fragment: &str) -> PlanProblem {
    let mut found = problems(text);
    assert_eq!(found.len(), 1, "expected one problem, got {found:#?}");
    let p = found.remove(0);
    check(&p, field, line, fragment);
    p
}

/// A plan with one metric whose lines 5.. are `metric` (the `[[metrics]]` header is line 4),
/// watched by a bake after a rolling deploy (before which a baseline is captured).
fn with_metric(metric: &str) -> String {
    format!(
        r#"[service]
name = "api"
environment = "production"
[[metrics]]
{metric}
[[stages]]
id = "s"
[[stages.steps]]
id = "ship"
kind = "deploy"
action = "ship"
[[stages.steps]]
id = "watch"
kind = "bake"
duration = "10m"
probes = ["m"]
[deploy]
strategy = "rolling"
[actions.ship]
kind = "command"
argv = ["true"]
"#
    )
}

fn metric(lines: &str) -> plan::MetricProbe {
    let text = with_metric(lines);
    let plan = plan::parse(&text, FILE).unwrap_or_else(|e| panic!("{e}"));
    plan.metrics.into_iter().next().unwrap()
}

const PROM: &str = "id = \"m\"\nprometheus = { url = \"http://prom:9090\", query = \"up\" }";

// ---------------------------------------------------------------------------------------
// Thresholds
// ---------------------------------------------------------------------------------------

#[test]
fn every_threshold_form_parses() {
    let m = metric(&format!("{PROM}\nunit = \"ratio\"\nwarn = \">= 0.02\"\nabort = \"> 2%\""));
    let warn = m.warn.unwrap();
    assert!(warn.first().inclusive);
    assert_eq!(warn.first().bound, Bound::Absolute(0.02));
    assert_eq!(m.abort.unwrap().first().bound, Bound::Absolute(0.02), "2% of a ratio is 0.02");

    let m = metric(&format!("{PROM}\nunit = \"s\"\nabort = \"< 500ms\"\nwarn = \"<= 1.5s\""));
    assert_eq!(m.abort.unwrap().first().bound, Bound::Absolute(0.5));
    assert_eq!(m.warn.unwrap().first().bound, Bound::Absolute(1.5));

    let m = metric(&format!(
        "{PROM}\nunit = \"ms\"\nbaseline_from = \"m\"\nwarn = \"> baseline + 50ms\"\nabort = [\"> 500 ms\", \"> baseline * 1.5\", \"< baseline - 1s\"]"
    ));
    assert_eq!(m.warn.unwrap().first().bound, Bound::BaselinePlus(50.0));
    let abort: Vec<Bound> = m.abort.unwrap().iter().map(|t| t.bound).collect();
    assert_eq!(abort, [Bound::Absolute(500.0), Bound::Baseline(1.5), Bound::BaselinePlus(-1000.0)]);
}

#[test]
fn a_unit_that_does_not_fit_the_metric_names_the_field() {
    only(
        &with_metric(&format!("{PROM}\nabort = \"> 2%\"")),
        "metrics[0].abort",
        7,
        "declares no `unit`",
    );
    only(
        &with_metric(&format!("{PROM}\nunit = \"ratio\"\nabort = \"> 500ms\"")),
        "metrics[0].abort",
        8,
        "is a time but the metric's unit is `ratio`",
    );
    only(
        &with_metric(&format!("{PROM}\nunit = \"req/s\"\nwarn = \"> 5%\"")),
        "metrics[0].warn",
        8,
        "is a percentage",
    );
}

#[test]
fn garbage_thresholds_get_a_hint_listing_the_forms() {
    let p = only(
        &with_metric(&format!("{PROM}\nabort = \"above 3\"")),
        "metrics[0].abort",
        7,
        "must start with `>`",
    );
    for form in ["`>= 2%`", "`< 500ms`", "`> baseline * 1.5`", "`> baseline + 0.05`", "a list"] {
        assert!(p.hint.contains(form), "the hint lacks {form}: {p:#?}");
    }
    only(
        &with_metric(&format!("{PROM}\nabort = \"> baseline ^ 2\"")),
        "metrics[0].abort",
        7,
        "`baseline + X`",
    );
}

#[test]
fn a_bad_threshold_in_a_list_is_named_by_its_index() {
    let found = problems(&with_metric(&format!(
        "{PROM}\nunit = \"s\"\nabort = [\n  \"> 1s\",\n  \"> lots\",\n]"
    )));
    assert_eq!(found.len(), 1, "{found:#?}");
    check(&found[0], "metrics[0].abort[1]", 10, "`lots` is not a number");
    only(&with_metric(&format!("{PROM}\nabort = []")), "metrics[0].abort", 7, "empty list");
}

#[test]
fn absent_must_be_a_number() {
    assert_eq!(metric(&format!("{PROM}\nabsent = 0")).absent, Some(0.0));
    assert_eq!(metric(&format!("{PROM}\nabsent = 0.5")).absent, Some(0.5));
    assert_eq!(metric(PROM).absent, None);
    only(&with_metric(&format!("{PROM}\nabsent = nan")), "metrics[0].absent", 7, "finite number");
    only(
        &with_metric(&format!("{PROM}\nabsent = \"zero\"")),
        "metrics[0].absent",
        7,
        "expected a number",
    );
}

// ---------------------------------------------------------------------------------------
// Selectors, queries and URLs
// ---------------------------------------------------------------------------------------

fn with_query(query: &str) -> String {
    with_metric(&format!(
        "id = \"m\"\nprometheus = {{ url = \"http://prom:9090\", query = '{query}' }}"
    ))
}

#[test]
fn malformed_queries_are_refused_at_check() {
    only(&with_query(r#"x{code=~"("}"#), "metrics[0].prometheus.query", 6, "is not a regex");
    only(&with_query(r#"sum(x{code="5"}"#), "metrics[0].prometheus.query", 6, "not closed");
    only(&with_query(r#"x{code="5""#), "metrics[0].prometheus.query", 6, "not closed");
    only(&with_query("a b c"), "metrics[0].prometheus.query", 6, "side by side");
    only(&with_query(""), "metrics[0].prometheus.query", 6, "empty");
    only(&with_query("{}"), "metrics[0].prometheus.query", 6, "empty selector");
}

#[test]
fn malformed_scrape_selectors_are_refused_at_check() {
    only(
        &with_metric(
            "id = \"m\"\nscrape = { url = \"http://api:8080/metrics\", gauge = 'x{code=~\"(\"}' }",
        ),
        "metrics[0].scrape.gauge",
        6,
        "is not a regex",
    );
    only(
        &with_metric(
            "id = \"m\"\nscrape = { url = \"http://api:8080/metrics\", ratio = { numerator = 'a{b=\"c\"', denominator = \"t\" } }",
        ),
        "metrics[0].scrape.ratio.numerator",
        6,
        "must end with `}`",
    );
}

fn with_health_url(url: &str) -> String {
    format!(
        r#"[service]
name = "api"
environment = "production"
[[health]]
id = "h"
url = "{url}"
[[stages]]
id = "s"
[[stages.steps]]
id = "watch"
kind = "bake"
duration = "10m"
probes = ["h"]
"#
    )
}

#[test]
fn urls_are_parsed_http_and_https_only() {
    only(&with_health_url("not a url"), "health[0].url", 6, "is not a URL");
    only(&with_health_url("http://"), "health[0].url", 6, "has no host");
    only(&with_health_url("ftp://x"), "health[0].url", 6, "not http or https");
    only(&with_health_url("http://api:99999/health"), "health[0].url", 6, "not a port");
    plan::parse(&with_health_url("https://api.internal/health?token=${env:TOKEN}"), FILE)
        .expect("a URL with a secret is fine");
    only(
        &with_metric("id = \"m\"\nprometheus = { url = \"prom:9090\", query = \"up\" }"),
        "metrics[0].prometheus.url",
        6,
        "is not a URL",
    );
}

// ---------------------------------------------------------------------------------------
// Numbers, durations, types, sizes
// ---------------------------------------------------------------------------------------

fn with_gate(lines: &str) -> String {
    format!(
        r#"[service]
name = "api"
environment = "production"
[[stages]]
id = "s"
[[stages.steps]]
id = "go"
kind = "gate"
{lines}
"#
    )
}

#[test]
fn integers_are_bounded_and_say_so() {
    only(
        &with_gate("approvals = 9223372036854775807"),
        "stages[0].steps[0].approvals",
        9,
        "must be 1 to 100, found 9223372036854775807",
    );
    let text = format!(
        "{}[actions.call]\nkind = \"http\"\nurl = \"http://api:8080/x\"\nidempotent = true\nretries = 11\n",
        with_gate("")
    );
    only(&text, "actions.call.retries", 14, "must be 0 to 10");
    let text = format!("{}[release_types.regular]\napprovals = 101\n", with_gate(""));
    only(&text, "release_types.regular.approvals", 11, "must be 1 to 100");
}

#[test]
fn types_are_named_in_plain_words_and_the_field_not_the_value() {
    let p = only(
        &with_gate("approvals = \"two\""),
        "stages[0].steps[0].approvals",
        9,
        "expected a whole number",
    );
    assert!(!p.message.contains("i64") && !p.message.contains("i128"), "{p:#?}");
    let p = only(
        &with_gate("approvals = 99999999999999999999999"),
        "stages[0].steps[0].approvals",
        9,
        "",
    );
    assert!(!p.message.contains("i64") && !p.message.contains("i128"), "{p:#?}");
    assert!(p.message.contains("`99999999999999999999999` is too large a number"), "{p:#?}");
}

#[test]
fn durations_with_a_fraction_say_what_to_write() {
    only(&with_gate("min_wait = \"0.5m\""), "stages[0].steps[0].min_wait", 9, "use 30s");
}

#[test]
fn long_values_are_cut_in_messages() {
    let huge = "x".repeat(5 * 1024 * 1024);
    let text = format!(
        "[service]\nname = \"api\"\nenvironment = \"production\"\n[[stages]]\nid = \"s\"\n[[stages.steps]]\nid = \"go\"\nkind = \"{huge}\"\n"
    );
    let p = only(&text, "stages[0].steps[0].kind", 8, "is not a step kind");
    assert!(p.message.len() < 200, "the message is {} bytes long", p.message.len());
    assert!(p.message.contains('…'), "{}", &p.message);
    let text = format!("{}[roles]\nlead = [\"{huge}\", \"{huge}\"]\n", with_gate(""));
    let p = only(&text, "roles.lead[1]", 11, "listed twice");
    assert!(p.message.len() < 200);
    // A value TOML itself refuses is cut too, and the field is named, not the value.
    let p = only(
        &with_gate(&format!("approvals = \"{huge}\"")),
        "stages[0].steps[0].approvals",
        9,
        "expected a whole number",
    );
    assert!(p.message.len() < 500, "the message is {} bytes long", p.message.len());
}

#[test]
fn a_plan_that_is_not_utf8_is_located() {
    let dir = std::env::temp_dir().join(format!("flightdeck-plan-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("latin1.toml");
    let mut bytes = b"[service]\nname = \"caf".to_vec();
    bytes.push(0xE9);
    bytes.extend_from_slice(b"\"\nenvironment = \"production\"\n");
    std::fs::write(&path, bytes).unwrap();
    let e = plan::load_file(&path).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(e.problems.len(), 1);
    let p = &e.problems[0];
    let location = p.location.as_ref().expect("a location");
    assert_eq!((location.line, location.column), (2, 12));
    assert!(p.message.contains("not UTF-8"), "{p:#?}");
    assert!(p.message.contains("0xE9") && p.message.contains("byte 22"), "{p:#?}");
}

// ---------------------------------------------------------------------------------------
// Roles, per-step environment, conditional rollback steps, braces
// ---------------------------------------------------------------------------------------

#[test]
fn roles_must_exist_and_be_big_enough() {
    let roles = "[roles]\nrelease_manager = [\"alice\", \"bob\"]\n";
    let text = format!("{}{roles}", with_gate("requires = { release_manager = 3 }"));
    only(
        &text,
        "stages[0].steps[0].requires.release_manager",
        9,
        "needs 3 release_managers but [roles] lists 2",
    );
    let text = format!("{}{roles}", with_gate("requires = { team_lead = 1 }"));
    let p = only(&text, "stages[0].steps[0].requires.team_lead", 9, "no role `team_lead`");
    assert!(p.hint.contains("release_manager"), "the hint lists the roles: {p:#?}");
    let text = format!("{}{roles}", with_gate("requires = { release_manager = 0 }"));
    only(&text, "stages[0].steps[0].requires.release_manager", 9, "at least 1");
    let text = with_gate("items = []\nrequires = { x = 1 }");
    assert!(problems(&text).iter().any(|p| p.field == "stages[0].steps[0].requires.x"));
    let ok = format!("{}{roles}", with_gate("requires = { release_manager = 2 }"));
    let plan = plan::parse(&ok, FILE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.roles["release_manager"], ["alice", "bob"]);
}

#[test]
fn environment_applies_to_steps_that_act() {
    only(
        &with_gate("environment = \"staging\""),
        "stages[0].steps[0].environment",
        9,
        "does not apply to a gate",
    );
}

const ROLLBACK: &str = r#"[service]
name = "api"
environment = "production"
[actions.restore]
kind = "command"
argv = ["./restore.sh"]
[rollback]
steps = [
  "restore",
  { action = "restore", if_done = ["migrate"] },
  { action = "nope", if_done = ["go"] },
  { action = "restore", if_done = [] },
]
[[stages]]
id = "s"
[[stages.steps]]
id = "go"
kind = "gate"
"#;

#[test]
fn conditional_rollback_steps_are_checked() {
    let found = problems(ROLLBACK);
    let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["rollback.steps[1].if_done[0]", "rollback.steps[2].action", "rollback.steps[3].if_done"],
        "{found:#?}"
    );
    check(&found[0], "rollback.steps[1].if_done[0]", 10, "no rollout step `migrate`");
    check(&found[1], "rollback.steps[2].action", 11, "unknown action `nope`");
    check(&found[2], "rollback.steps[3].if_done", 12, "empty `if_done`");
}

#[test]
fn doubled_braces_are_not_placeholders() {
    let text = format!(
        "{}[actions.probe]\nkind = \"command\"\nargv = [\"curl\", \"-w\", \"%{{{{http_code}}}}\", \"{{nope}}\"]\n",
        with_gate("")
    );
    let p = only(&text, "actions.probe.argv[3]", 12, "unknown placeholder `{nope}`");
    assert!(!p.message.contains("http_code"));
}
