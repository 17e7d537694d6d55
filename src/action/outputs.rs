//! Picking an action's declared `outputs` out of what it returned (a command's output, an
//! HTTP response body) once it succeeded, and the values a later action's
//! `{outputs.STEP.NAME}` placeholders are filled with.

use std::collections::BTreeMap;

use crate::plan::outputs::PREFIX;
use crate::release::{RunOutcome, State};

/// Longest output value kept: an id or a URL, not a document.
const VALUE_MAX_CHARS: usize = 2000;

/// The values of `declared` (name → JSON pointer) in `returned`: an HTTP body, or a
/// command's output — one JSON document, or else its last line that is one (a tool that logs
/// before printing its result). A pointer that finds nothing is an error naming it. Values
/// are redacted of `secrets` (an output is recorded and shown; a secret never is).
pub fn pick(
    declared: &BTreeMap<String, String>,
    returned: &str,
    what: &str,
    secrets: &[String],
) -> Result<BTreeMap<String, String>, String> {
    if declared.is_empty() {
        return Ok(BTreeMap::new());
    }
    let document = serde_json::from_str::<serde_json::Value>(returned.trim()).ok().or_else(|| {
        returned
            .lines()
            .rev()
            .map(str::trim)
            .filter(|l| l.starts_with('{') || l.starts_with('['))
            .find_map(|l| serde_json::from_str(l).ok())
    });
    let Some(document) = document else {
        return Err(format!(
            "its outputs ({}) are read from JSON, but {what} holds no JSON document",
            declared.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    };
    let mut values = BTreeMap::new();
    for (name, pointer) in declared {
        let Some(found) = document.pointer(pointer) else {
            return Err(format!(
                "output `{name}`: the JSON pointer `{pointer}` finds nothing in {what}"
            ));
        };
        let text = match found {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => {
                return Err(format!("output `{name}`: `{pointer}` is null in {what}"));
            }
            other => other.to_string(),
        };
        let text: String =
            super::template::redact(&text, secrets).chars().take(VALUE_MAX_CHARS).collect();
        values.insert(name.clone(), text);
    }
    Ok(values)
}

/// The `outputs.STEP.NAME` placeholder values recorded so far: each step's latest
/// successful run (rollout and rollback steps).
pub fn recorded(state: &State) -> BTreeMap<String, String> {
    let rollback = state.rollback.iter().flat_map(|r| r.steps.iter());
    let mut values = BTreeMap::new();
    for step in state.steps.iter().chain(rollback) {
        let succeeded = step
            .runs
            .iter()
            .rev()
            .find(|r| matches!(r.outcome, Some(RunOutcome::Succeeded { .. })));
        for (name, value) in succeeded.iter().flat_map(|r| &r.outputs) {
            values.insert(format!("{PREFIX}{}.{name}", step.id), value.clone());
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn outputs_are_picked_from_a_body_or_the_last_json_line() {
        let d = declared(&[("deploy_id", "/id"), ("n", "/pods/0/n")]);
        let body = r#"{"id": "dep-42", "pods": [{"n": 3}]}"#;
        let got = pick(&d, body, "the response body", &[]).expect("picked");
        assert_eq!(got, declared(&[("deploy_id", "dep-42"), ("n", "3")]));
        let output = format!("deploying...\nwaiting\n{body}\n");
        assert_eq!(pick(&d, &output, "its output", &[]).expect("picked"), got);
    }

    #[test]
    fn a_pointer_that_finds_nothing_fails_naming_it() {
        let d = declared(&[("deploy_id", "/deploy/id")]);
        let err = pick(&d, r#"{"id": 1}"#, "the response body", &[]).expect_err("missing");
        assert!(err.contains("`deploy_id`") && err.contains("`/deploy/id`"), "{err}");
        let err = pick(&d, "not json", "its output", &[]).expect_err("no json");
        assert!(err.contains("no JSON document"), "{err}");
    }

    #[test]
    fn a_secret_in_an_output_is_redacted() {
        let d = declared(&[("token", "/t")]);
        let got = pick(&d, r#"{"t": "s3cr3t-value"}"#, "body", &["s3cr3t-value".into()]);
        assert_eq!(got.expect("picked")["token"], "***");
    }
}
