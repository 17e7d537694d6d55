//! Reading the traffic weight back from the provider: a built-in provider asked directly,
//! or the `traffic.read` action (an HTTP call whose body is the weight, or a command whose
//! output is; either plain (`30`, `30%`) or JSON read with the action's `weight_pointer`).
//! Used after every shift, between shifts, and by `check --live`.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::action;
use crate::plan::provider::ProviderSpec;
use crate::plan::{ActionKind, ActionSpec, Plan};
use crate::release::{Outcome, ReleaseInfo};

/// Where the weight is read from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The `traffic.read` action.
    Action(ActionSpec),
    /// A built-in provider.
    Provider(ProviderSpec),
}

impl Source {
    /// How a plan reads its weight back, if it can.
    pub fn of(plan: &Plan) -> Option<Self> {
        let traffic = plan.traffic.as_ref()?;
        if let Some(provider) = &traffic.provider {
            return Some(Self::Provider(provider.clone()));
        }
        plan.action(traffic.read_action.as_deref()?).cloned().map(Self::Action)
    }

    /// Its name in messages: the action id or the provider's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Action(spec) => &spec.id,
            Self::Provider(spec) => spec.name(),
        }
    }
}

/// How long to wait between two read-backs while a shift has not shown up yet.
const CONFIRM_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Reads the weight the provider reports now.
pub async fn read(
    source: &Source,
    info: &ReleaseInfo,
    release_id: i64,
    client: &reqwest::Client,
) -> Result<u8, String> {
    read_cancellable(source, info, release_id, client, &CancellationToken::new()).await
}

async fn read_cancellable(
    source: &Source,
    info: &ReleaseInfo,
    release_id: i64,
    client: &reqwest::Client,
    cancel: &CancellationToken,
) -> Result<u8, String> {
    match source {
        Source::Action(spec) => read_by_action(spec, info, release_id, client, cancel).await,
        Source::Provider(spec) => {
            let provider = crate::provider::connect(spec);
            tokio::select! {
                read = provider.read_weight() => read,
                () = cancel.cancelled() => Err(format!("{}: reading the weight was cancelled", provider.describe())),
            }
        }
    }
}

async fn read_by_action(
    spec: &ActionSpec,
    info: &ReleaseInfo,
    release_id: i64,
    client: &reqwest::Client,
    cancel: &CancellationToken,
) -> Result<u8, String> {
    let (text, pointer) = action_output(spec, info, release_id, client, cancel).await?;
    parse_weight(&text, pointer.as_deref()).map_err(|e| format!("{}: {e}", spec.id))
}

/// Runs a reading action (the weight read-back, a rollout's progress) and returns what it
/// answered — an http action's body, a command's output — with the JSON pointer its plan
/// reads the answer at, if any. A failed run is its error.
pub(super) async fn action_output(
    spec: &ActionSpec,
    info: &ReleaseInfo,
    release_id: i64,
    client: &reqwest::Client,
    cancel: &CancellationToken,
) -> Result<(String, Option<String>), String> {
    let mut secrets = Vec::new();
    let prepared = action::prepare(spec, info, release_id, None, &mut secrets)?;
    // The output is parsed, not shown: nobody reads these lines.
    let (lines, _ignored) = mpsc::unbounded_channel();
    let report = action::run_prepared(&prepared, &secrets, client, &lines, cancel).await;
    match (&spec.kind, report.outcome) {
        (_, Outcome::Failed { error, .. }) => Err(error),
        (ActionKind::Http { weight_pointer, .. }, _) => Ok((report.body, weight_pointer.clone())),
        (ActionKind::Command { weight_pointer, .. }, Outcome::Succeeded { output_tail, .. }) => {
            Ok((output_tail.unwrap_or_default(), weight_pointer.clone()))
        }
    }
}

/// Reads back until the provider reports `weight`, `deadline` passes, or `cancel`. Returns
/// the line to show on success, or why the shift did not take.
pub async fn confirm(
    source: &Source,
    info: &ReleaseInfo,
    release_id: i64,
    weight: u8,
    client: &reqwest::Client,
    deadline: Instant,
    cancel: &CancellationToken,
) -> Result<String, String> {
    let mut last;
    loop {
        last = read_cancellable(source, info, release_id, client, cancel).await;
        if last == Ok(weight) {
            return Ok(format!("read back {weight}% from {}", source.name()));
        }
        let left = deadline.saturating_duration_since(crate::clock::instant());
        if left.is_zero() || cancel.is_cancelled() {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(CONFIRM_RETRY_INTERVAL.min(left)) => {}
            () = cancel.cancelled() => break,
        }
    }
    Err(match last {
        Ok(actual) => format!(
            "the provider reports {actual}% after the shift to {weight}% (read back by {} until the shift's timeout)",
            source.name()
        ),
        Err(e) => {
            format!("the shift to {weight}% could not be read back by {}: {e}", source.name())
        }
    })
}

/// The weight in a read-back's output: a number 0–100 (an optional `%`), or the number at
/// `pointer` in its JSON.
pub fn parse_weight(text: &str, pointer: Option<&str>) -> Result<u8, String> {
    let number = match pointer {
        Some(pointer) => {
            let found = at_pointer(text, pointer)?;
            match &found {
                serde_json::Value::Number(n) => n.as_f64(),
                serde_json::Value::String(s) => parse_number(s),
                _ => None,
            }
            .ok_or_else(|| format!("`{pointer}` is {found}, not a number"))?
        }
        None => parse_number(last_line(text))
            .ok_or_else(|| format!("`{}` is not a weight", shorten(last_line(text))))?,
    };
    if !(0.0..=100.0).contains(&number) {
        return Err(format!("{number} is not a weight between 0 and 100"));
    }
    // Weights are whole percents; a provider that reports 9.999 means 10.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(number.round() as u8)
}

/// The value at `pointer` in an action's JSON output (the whole output, or its last line).
pub(super) fn at_pointer(text: &str, pointer: &str) -> Result<serde_json::Value, String> {
    let json: serde_json::Value = serde_json::from_str(text.trim())
        .or_else(|_| serde_json::from_str(last_line(text)))
        .map_err(|e| format!("the output is not JSON ({e})"))?;
    json.pointer(pointer).cloned().ok_or_else(|| format!("nothing at `{pointer}` in the output"))
}

pub(super) fn last_line(text: &str) -> &str {
    text.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("")
}

fn parse_number(s: &str) -> Option<f64> {
    s.trim().trim_end_matches('%').trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

pub(super) fn shorten(s: &str) -> String {
    const SHOWN_CHARS: usize = 40;
    if s.chars().count() > SHOWN_CHARS {
        format!("{}…", s.chars().take(SHOWN_CHARS).collect::<String>())
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::parse_weight;

    #[test]
    fn plain_numbers_and_percents_are_weights() {
        assert_eq!(parse_weight("30\n", None), Ok(30));
        assert_eq!(parse_weight("setting...\n 30% \n", None), Ok(30));
        assert_eq!(parse_weight("9.999", None), Ok(10));
    }

    #[test]
    fn json_is_read_with_the_pointer() {
        let body = r#"{"pools":{"green":{"weight":50}}}"#;
        assert_eq!(parse_weight(body, Some("/pools/green/weight")), Ok(50));
        assert_eq!(parse_weight(r#"{"w":"25"}"#, Some("/w")), Ok(25));
    }

    #[test]
    fn garbage_is_refused_with_what_was_wrong() {
        assert!(parse_weight("", None).is_err());
        assert!(parse_weight("<html>", None).unwrap_err().contains("not a weight"));
        assert!(parse_weight("101", None).unwrap_err().contains("between 0 and 100"));
        assert!(parse_weight("-1", None).is_err());
        assert!(parse_weight("{}", Some("/w")).unwrap_err().contains("nothing at `/w`"));
        assert!(parse_weight("nope", Some("/w")).unwrap_err().contains("not JSON"));
        assert!(parse_weight(r#"{"w":true}"#, Some("/w")).unwrap_err().contains("not a number"));
    }
}
