//! Polling one health endpoint: GET with a timeout, the expected status, and a JSON body of
//! the common shape `{"status": "healthy", "version": "1.4.0", "checks": {...}}`. Every
//! failure keeps its reason. The body is read no further than the probe's `max_body`, and
//! parsed off the thread that draws.

use std::time::Duration;

use serde_json::Value;

use super::HealthReading;
use crate::action::http::{describe, read_capped_text};
use crate::action::template;
use crate::plan::HealthProbe;
use crate::release::Timestamp;

/// Checks an endpoint once; `now` stamps the reading.
pub async fn check(
    client: &reqwest::Client,
    probe: &HealthProbe,
    now: impl Fn() -> Timestamp,
) -> HealthReading {
    let at = now();
    let started = crate::clock::instant();
    let mut secrets = Vec::new();
    let mut reading = HealthReading {
        at,
        status_code: None,
        latency_ms: 0,
        version: None,
        checks: Vec::new(),
        error: None,
    };
    let url = match template::resolve_secrets(&probe.url, &mut secrets) {
        Ok(u) => u.secret,
        Err(e) => {
            reading.error = Some(e);
            return reading;
        }
    };
    let mut request = client.get(&url).timeout(probe.timeout);
    for (k, v) in &probe.headers {
        match template::resolve_secrets(v, &mut secrets) {
            Ok(v) => request = request.header(k, v.secret),
            Err(e) => {
                reading.error = Some(e);
                return reading;
            }
        }
    }
    let response = request.send().await;
    reading.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            // The error names the host, which a secret may be part of.
            reading.error = Some(template::redact(&describe(&e), &secrets));
            return reading;
        }
    };
    let status = response.status().as_u16();
    reading.status_code = Some(status);
    let body = match read_capped_text(response, probe.max_body, "max_body").await {
        Ok(b) => b,
        Err(e) => {
            reading.error = Some(e);
            return reading;
        }
    };
    reading.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // Parsing up to `max_body` of JSON takes long enough to be felt on the one thread
    // that also draws the cockpit: it runs on a blocking thread.
    let (probe, latency_ms) = (probe.clone(), reading.latency_ms);
    let parsed = tokio::task::spawn_blocking(move || {
        interpret(&probe, status, &body, &mut reading);
        reading
    })
    .await;
    parsed.unwrap_or_else(|e| HealthReading {
        at,
        status_code: Some(status),
        latency_ms,
        version: None,
        checks: Vec::new(),
        error: Some(format!("reading the body failed: {e}")),
    })
}

/// Reads the status code and body into the reading's verdict, version and checks.
pub fn interpret(probe: &HealthProbe, status: u16, body: &str, reading: &mut HealthReading) {
    let json: Option<Value> = serde_json::from_str(body).ok();
    if let Some(json) = &json {
        reading.version =
            json.pointer(&probe.version_pointer).and_then(Value::as_str).map(str::to_owned);
        if let Some(Value::Object(checks)) = json.pointer("/checks") {
            reading.checks = checks
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect();
        }
    }
    if status != probe.expect_status {
        reading.error = Some(format!("status {status}, expected {}", probe.expect_status));
        return;
    }
    if body.trim().is_empty() {
        if let Some(pointer) = probe.require.keys().next() {
            reading.error = Some(format!("the body is empty; {pointer} is required"));
        }
        return;
    }
    let Some(json) = json else {
        // A plain-text body with the expected status is a pass unless a status field is asked for.
        if probe.status_pointer.is_empty() && probe.require.is_empty() {
            return;
        }
        reading.error = Some("body is not JSON".into());
        return;
    };
    if let Some(word) = json.pointer(&probe.status_pointer) {
        let word = word.as_str().map_or_else(|| word.to_string(), str::to_owned);
        if !probe.healthy_values.iter().any(|h| h.eq_ignore_ascii_case(&word)) {
            reading.error = Some(format!("status \"{word}\""));
            return;
        }
    }
    reading.error = unmet_requirement(probe, &json);
}

/// The first `require` the body does not meet, in words: which pointer, what was expected
/// and what was found (a text value as itself, anything else as JSON, or nothing).
fn unmet_requirement(probe: &HealthProbe, json: &Value) -> Option<String> {
    probe.require.iter().find_map(|(pointer, expected)| {
        let found = match json.pointer(pointer) {
            None => return Some(format!("{pointer} is missing, expected \"{expected}\"")),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        (found != *expected).then(|| format!("{pointer} is \"{found}\", expected \"{expected}\""))
    })
}

/// How long to wait before the first check of endpoint `index`, so many endpoints spread out.
pub fn stagger(index: usize, interval: Duration) -> Duration {
    let slots = 16u32;
    let slot = u32::try_from(index % 16).unwrap_or(0);
    interval / slots * slot
}
